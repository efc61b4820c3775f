/*
 * cli/provision.c — `ward provision`: give one device its identity, on the
 * device or on the factory station that programs it.
 *
 *   1. generate the device's P-256 key into DIR/device.key (PKCS#8 PEM, 0600, O_EXCL);
 *   2. derive the device's own local admin password's scrypt hash (ETSI EN 303 645
 *      provision 5.1-1: no universal default password) — in memory for now;
 *   3. GET {server}/.well-known/est/cacerts over TLS verified against ROOT.pem, and
 *      keep the CA certificates that chain to ROOT.pem;
 *   4. POST a CSR (CN=S, serialNumber=S, OU=M; base64 DER, application/pkcs10) to
 *      {server}/.well-known/est/simpleenroll with the batch's HTTP Basic credentials;
 *   5. check the certificate that comes back: the device's key, serialNumber S, and a
 *      chain through the CA certificates to ROOT.pem;
 *   6. write DIR/device.pem, DIR/ca.pem (issuing CA(s), then the root), and
 *      DIR/local-credentials; print the local password once.
 *
 * EST encodings (RFC 7030 as corrected by RFC 8951): bodies are base64 of
 * DER; a Content-Transfer-Encoding header is tolerated and ignored, and so
 * are line breaks and other whitespace inside the base64.
 *
 * Failure handling: every enrolment consumes a unit of the batch's quota and
 * registers the serial, so everything that can fail locally (arguments,
 * existing files, the password file, ROOT.pem, key generation, scrypt) fails
 * before step 4, and a run that fails before the server accepted the CSR
 * removes the files it created, so it can be run again. After the server
 * accepted it, nothing is removed: the message says what was written and
 * that the serial is now registered.
 *
 * Secrets: the batch password, the device key and the local password are
 * wiped on every path; the password never reaches argv, a log or an error
 * message.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/net.h"
#include "ward/x509.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define SERIAL_MAX 64             /* what ward-server accepts */
#define MODEL_MAX 63              /* a batch's model */
#define URL_MAX 1024              /* --server, and the URLs built from it */
#define MUD_URL_MAX 255           /* RFC 8520 MUD URL in a certificate */
#define BATCH_PASS_MAX 255        /* bytes of the batch password (ward-server reads 255) */
#define EST_BODY_MAX (256u * 1024) /* an EST response body */
#define EST_MAX_CERTS 16          /* certificates in one certs-only response */
#define SHOW_MAX 300              /* bytes of a server's error text shown to the user */
#define PEM_MAX (64u * 1024)      /* a PEM file written here */

/* The device's local admin password: Crockford's base32 alphabet (no i, l, o, u). */
#define LOCAL_ALPHABET "0123456789abcdefghjkmnpqrstvwxyz"
#define LOCAL_GROUPS 5            /* groups of 4 characters: 20 x 5 = 100 random bits */
#define LOCAL_PASS_LEN (LOCAL_GROUPS * 5 - 1)
#define LOCAL_USER "admin"
#define SCRYPT_LOG2N 15           /* 2^15: 32 MiB with r = 8, affordable on the device */
#define SCRYPT_R 8
#define SCRYPT_P 1
#define SCRYPT_SALT 16
#define SCRYPT_OUT 32

#define MAX_CREATED 4             /* files one run creates */

static const char provision_help[] =
    "usage: ward provision --server https://HOST:PORT --ca ROOT.pem --user U\n"
    "                      --password-file F --serial S --model M --out DIR [--mud-url URL]\n"
    "\n"
    "Give a device its identity: a new P-256 key, a certificate from ward-server's EST\n"
    "enrollment under a production batch, the CA chain, and the device's own local admin\n"
    "password (printed once, for the label; stored only as an scrypt hash).\n"
    "\n"
    "  --server URL            ward-server's base URL (https:// only)\n"
    "  --ca ROOT.pem           the fleet's root CA certificate: TLS and the chain are checked\n"
    "                          against it\n"
    "  --user U                the production batch's user name (batch-xxxxxxxx)\n"
    "  --password-file F       the batch password: first line of F\n"
    "  --serial S              the device's serial (1-64 of A-Z a-z 0-9 . _ -)\n"
    "  --model M               the device model; must be the batch's model\n"
    "  --out DIR               where device.key, device.pem, ca.pem and local-credentials\n"
    "                          go (created 0700 if absent; none of them may exist yet)\n"
    "  --mud-url URL           the device's MUD URL (RFC 8520, https://); checked against\n"
    "                          the issued certificate\n";

struct prov {
	/* arguments */
	const char *server;              /* base URL, trailing '/' removed into base[] */
	const char *ca;                  /* ROOT.pem */
	const char *user;                /* batch user name */
	const char *password_file;       /* batch password file */
	const char *serial;              /* device serial */
	const char *model;               /* device model */
	const char *out;                 /* output directory */
	const char *mud_url;             /* or NULL */
	char base[URL_MAX];              /* server URL without trailing '/' */
	/* secrets */
	char pass[BATCH_PASS_MAX + 2];   /* the batch password (wiped) */
	size_t passlen;
	char local_pass[LOCAL_PASS_LEN + 1]; /* the device's local admin password (wiped) */
	char local_line[256];            /* its hash line for local-credentials (wiped) */
	struct ward_key *key;            /* the device key (wiped by ward_crypto_key_free) */
	/* PKI */
	struct ward_cert *root;          /* trust anchor from --ca */
	struct ward_cert **cacerts;      /* CA certificates from /cacerts that chain to root */
	size_t ncacerts;
	struct ward_cert *cert;          /* the issued device certificate */
	struct ward_net *net;            /* HTTPS client */
	/* files created by this run */
	char created[MAX_CREATED][PATH_MAX];
	size_t ncreated;
	bool enrolled;                   /* the server accepted the CSR: undo nothing */
};

static void prov_free(struct prov *p)
{
	ward_wipe(p->pass, sizeof(p->pass));
	ward_wipe(p->local_pass, sizeof(p->local_pass));
	ward_wipe(p->local_line, sizeof(p->local_line));
	ward_crypto_key_free(p->key);
	ward_x509_cert_free(p->root);
	for (size_t i = 0; i < p->ncacerts; i++)
		ward_x509_cert_free(p->cacerts[i]);
	free(p->cacerts);
	ward_x509_cert_free(p->cert);
	ward_net_free(p->net);
}

static WARD_MUST_USE ward_err out_path(const struct prov *p, const char *name, char out[PATH_MAX],
                                       struct ward_msg *m)
{
	if (ward_snprintf(out, PATH_MAX, "%s/%s", p->out, name) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "path too long: %s/%s", p->out, name);
	return WARD_OK;
}

/* Create DIR/name exclusively; remembered so a failure before enrolment removes it. */
static WARD_MUST_USE ward_err create_out(struct prov *p, const char *name, const void *data,
                                         size_t len, mode_t mode, struct ward_msg *m)
{
	char path[PATH_MAX];
	ward_err e;

	if ((e = out_path(p, name, path, m)) != WARD_OK ||
	    (e = ward_file_create_excl(path, data, len, mode, m)) != WARD_OK)
		return e;
	if (p->ncreated < MAX_CREATED)
		memcpy(p->created[p->ncreated++], path, PATH_MAX);
	return WARD_OK;
}

/* ---- arguments ---------------------------------------------------------- */

static bool printable_url(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static WARD_MUST_USE ward_err check_args(struct prov *p, struct ward_msg *m)
{
	size_t n;

	if (strncmp(p->server, "https://", 8) != 0 || !p->server[8] || !printable_url(p->server) ||
	    strpbrk(p->server, "?#"))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "--server '%s' must be an https:// URL such as "
		                    "https://ward.example:8443 (the batch password is never sent "
		                    "in clear)",
		                    p->server);
	if (ward_snprintf(p->base, sizeof(p->base), "%s", p->server) != WARD_OK)
		return ward_msg_set(m, WARD_E_INVAL, "--server: URL longer than %d bytes", URL_MAX);
	n = strlen(p->base);
	while (n > 8 && p->base[n - 1] == '/')
		p->base[--n] = '\0';
	if (!p->password_file[0])
		return ward_msg_set(m, WARD_E_INVAL, "--password-file: empty file name");
	if (!cli_ident_ok(p->serial, SERIAL_MAX))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "--serial '%s' must be 1-%d of A-Z a-z 0-9 . _ -", p->serial,
		                    SERIAL_MAX);
	if (!cli_ident_ok(p->model, MODEL_MAX))
		return ward_msg_set(m, WARD_E_INVAL, "--model '%s' must be 1-%d of A-Z a-z 0-9 . _ -",
		                    p->model, MODEL_MAX);
	if (!p->user[0] || strlen(p->user) > 63 || strchr(p->user, ':') || !printable_url(p->user))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "--user '%s' is not a batch user name (batch-xxxxxxxx)", p->user);
	if (p->mud_url && (strncmp(p->mud_url, "https://", 8) != 0 || !p->mud_url[8] ||
	                   strlen(p->mud_url) > MUD_URL_MAX || !printable_url(p->mud_url)))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "--mud-url must be an https:// URL of at most %d characters "
		                    "(RFC 8520)",
		                    MUD_URL_MAX);
	return WARD_OK;
}

/* DIR exists (created 0700 if not), and holds none of the files this run writes. */
static WARD_MUST_USE ward_err check_out_dir(struct prov *p, struct ward_msg *m)
{
	static const char *const names[] = {"device.key", "device.pem", "ca.pem",
	                                    "local-credentials"};
	char path[PATH_MAX];
	struct stat st;
	ward_err e;

	if ((e = ward_mkdir_p(p->out, 0700, m)) != WARD_OK)
		return ward_msg_prefix(m, e, "--out: ");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((e = out_path(p, names[i], path, m)) != WARD_OK)
			return e;
		if (lstat(path, &st) == 0)
			return ward_msg_set(m, WARD_E_EXISTS,
			                    "%s already exists: this device looks provisioned already "
			                    "(ward never overwrites an identity; use a new --out DIR)",
			                    path);
		if (errno != ENOENT)
			return ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
	}
	return WARD_OK;
}

/* The trust anchor: exactly one CA certificate. */
static WARD_MUST_USE ward_err load_root(struct prov *p, struct ward_msg *m)
{
	struct ward_cert **certs = NULL;
	struct ward_cert_info info;
	size_t n = 0;
	ward_err e;

	if ((e = ward_x509_certs_from_pem_file(p->ca, 2, &certs, &n, m)) != WARD_OK)
		return ward_msg_prefix(m, e, "--ca: ");
	if (n != 1) {
		for (size_t i = 0; i < n; i++)
			ward_x509_cert_free(certs[i]);
		free(certs);
		return ward_msg_set(m, WARD_E_INVAL,
		                    "--ca %s must hold exactly one certificate, the fleet's root CA "
		                    "(DIR/ca/root.pem of the deployment)",
		                    p->ca);
	}
	p->root = certs[0];
	free(certs);
	if ((e = ward_x509_cert_info(p->root, &info)) != WARD_OK)
		return ward_msg_set(m, e, "--ca %s: cannot read the certificate", p->ca);
	if (!info.is_ca)
		return ward_msg_set(m, WARD_E_INVAL, "--ca %s: \"%s\" is not a CA certificate", p->ca,
		                    info.cn);
	return WARD_OK;
}

/* ---- secrets made on this machine ---------------------------------------- */

/*
 * The device key. This is the one place that creates it: a TPM or secure
 * element backend replaces this function (the key is generated inside and
 * only a handle and the public half come out; ward_x509_csr_create signs
 * through the ward_key either way). Software keys go to DIR/device.key as
 * PKCS#8 PEM, 0600, created exclusively.
 */
static WARD_MUST_USE ward_err device_key_create(struct prov *p, struct ward_msg *m)
{
	struct ward_buf pem;
	ward_err e;

	if ((e = ward_crypto_key_generate(WARD_KEY_ECDSA_P256, &p->key, m)) != WARD_OK)
		return ward_msg_prefix(m, e, "generating the device key: ");
	if ((e = ward_crypto_key_private_pem(p->key, &pem)) != WARD_OK)
		return ward_msg_set(m, e, "cannot encode the device key");
	pem.secret = true; /* wiped when freed */
	e = create_out(p, "device.key", pem.p, pem.len, 0600, m);
	ward_buf_free(&pem);
	return e;
}

/*
 * The device's own local admin password: 20 characters of Crockford's
 * base32 in groups of four (100 random bits; read aloud and typed from a
 * label without confusing 0/o or 1/l), and its hash line
 *	admin:scrypt$<log2 N>$<r>$<p>$<salt hex>$<32-byte key hex>
 * A person types this password, so unlike the batch password it goes
 * through a slow, memory-hard KDF.
 */
static WARD_MUST_USE ward_err local_credentials(struct prov *p, struct ward_msg *m)
{
	static const char alphabet[] = LOCAL_ALPHABET;
	uint8_t rnd[LOCAL_GROUPS * 4], salt[SCRYPT_SALT], dk[SCRYPT_OUT];
	char salthex[2 * SCRYPT_SALT + 1], dkhex[2 * SCRYPT_OUT + 1];
	size_t k = 0;
	ward_err e;

	if ((e = ward_crypto_random(rnd, sizeof(rnd))) != WARD_OK ||
	    (e = ward_crypto_random(salt, sizeof(salt))) != WARD_OK) {
		e = ward_msg_set(m, e, "no randomness from the operating system");
		goto out;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		if (i > 0 && i % 4 == 0)
			p->local_pass[k++] = '-';
		p->local_pass[k++] = alphabet[rnd[i] & 31]; /* 256 = 8 x 32: uniform */
	}
	p->local_pass[k] = '\0';
	if ((e = ward_crypto_scrypt(p->local_pass, k, salt, sizeof(salt), SCRYPT_LOG2N, SCRYPT_R,
	                            SCRYPT_P, dk, sizeof(dk))) != WARD_OK) {
		e = ward_msg_set(m, e, "scrypt of the local password failed (it needs %u MiB)",
		                 (unsigned)((128u * SCRYPT_R << SCRYPT_LOG2N) >> 20));
		goto out;
	}
	ward_hex_encode(salt, sizeof(salt), salthex);
	ward_hex_encode(dk, sizeof(dk), dkhex);
	if (ward_snprintf(p->local_line, sizeof(p->local_line), "%s:scrypt$%d$%d$%d$%s$%s\n",
	                  LOCAL_USER, SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P, salthex, dkhex) != WARD_OK)
		e = ward_msg_set(m, WARD_E_TOOBIG, "local credentials line too long");
out:
	ward_wipe(rnd, sizeof(rnd));
	ward_wipe(dk, sizeof(dk));
	ward_wipe(dkhex, sizeof(dkhex));
	return e;
}

/* ---- EST ------------------------------------------------------------------ */

static ward_err to_buf(void *ctx, const void *data, size_t n)
{
	return ward_buf_append(ctx, data, n);
}

/* The server's text of an error reply, made safe to print: one line, at most SHOW_MAX bytes. */
static void server_text(const struct ward_buf *body, char out[SHOW_MAX + 1])
{
	size_t k = 0;

	for (size_t i = 0; i < body->len && k < SHOW_MAX; i++) {
		unsigned char c = body->p[i];
		out[k++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	while (k > 0 && out[k - 1] == ' ')
		k--;
	out[k] = '\0';
	if (k == 0)
		memcpy(out, "(no reason given)", sizeof("(no reason given)"));
}

/*
 * RFC 8951: a certs-only response is base64 of DER, with or without line
 * breaks and whatever Content-Transfer-Encoding says. Whitespace goes, then
 * strict base64, then the PKCS#7.
 */
static WARD_MUST_USE ward_err p7_from_body(const struct ward_buf *body, const char *url,
                                           struct ward_cert ***certs, size_t *n,
                                           struct ward_msg *m)
{
	struct ward_buf clean, der;
	ward_err e;

	ward_buf_init(&clean, body->len);
	ward_buf_init(&der, 0);
	for (size_t i = 0; i < body->len; i++) {
		uint8_t c = body->p[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if ((e = ward_buf_append(&clean, &c, 1)) != WARD_OK)
			goto out;
	}
	if (clean.len == 0 ||
	    (e = ward_crypto_base64_decode((const char *)clean.p, clean.len, EST_BODY_MAX, &der)) !=
	        WARD_OK) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: the response is not base64 (RFC 8951)", url);
		goto out;
	}
	if ((e = ward_x509_p7_parse(der.p, der.len, EST_MAX_CERTS, certs, n, m)) != WARD_OK) {
		ward_msg_prefix(m, e, "%s: not a PKCS#7 certs-only response: ", url);
		goto out;
	}
	if (*n == 0) {
		free(*certs);
		*certs = NULL;
		e = ward_msg_set(m, WARD_E_PARSE, "%s: the response holds no certificate", url);
	}
out:
	ward_buf_free(&clean);
	ward_buf_free(&der);
	return e;
}

/* One EST exchange; *body receives the response (initialised here, caller frees). */
static WARD_MUST_USE ward_err est(struct prov *p, const char *op, const char *ctype,
                                  const void *req, size_t reqlen, bool auth, char url[URL_MAX],
                                  struct ward_net_resp *resp, struct ward_buf *body,
                                  struct ward_msg *m)
{
	struct ward_net_req r;

	ward_buf_init(body, EST_BODY_MAX);
	if (ward_snprintf(url, URL_MAX, "%s/.well-known/est/%s", p->base, op) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "--server URL too long");
	memset(&r, 0, sizeof(r));
	r.method = req ? "POST" : "GET";
	r.url = url;
	r.content_type = ctype;
	r.body = req;
	r.body_len = reqlen;
	r.user = auth ? p->user : NULL;
	r.password = auth ? p->pass : NULL;
	r.max = EST_BODY_MAX;
	r.sink = to_buf;
	r.sink_ctx = body;
	return ward_net_request(p->net, &r, resp, m);
}

static bool is_p7_type(const char *ct)
{
	/* "application/pkcs7-mime; smime-type=certs-only", or no type at all (lenient). */
	return !ct[0] || !strncmp(ct, "application/pkcs7-mime", 22);
}

static bool same_cert(const struct ward_cert *a, const struct ward_cert *b)
{
	struct ward_buf da, db;
	bool same = false;

	ward_buf_init(&da, WARD_X509_MAX_DER);
	ward_buf_init(&db, WARD_X509_MAX_DER);
	if (ward_x509_cert_to_der(a, &da) == WARD_OK && ward_x509_cert_to_der(b, &db) == WARD_OK)
		same = da.len == db.len && !memcmp(da.p, db.p, da.len);
	ward_buf_free(&da);
	ward_buf_free(&db);
	return same;
}

/*
 * GET /cacerts and keep the CA certificates that chain to the root from
 * --ca (the root itself is kept as the file's copy, not the server's).
 */
static WARD_MUST_USE ward_err fetch_cacerts(struct prov *p, struct ward_msg *m)
{
	struct ward_cert **got = NULL;
	struct ward_net_resp resp;
	struct ward_buf body;
	char url[URL_MAX], text[SHOW_MAX + 1];
	size_t n = 0;
	ward_err e;

	if ((e = est(p, "cacerts", NULL, NULL, 0, false, url, &resp, &body, m)) != WARD_OK)
		goto out;
	if (resp.status != 200) {
		server_text(&body, text);
		e = ward_msg_set(m, WARD_E_NET, "%s: HTTP %ld: %s", url, resp.status, text);
		goto out;
	}
	if (!is_p7_type(resp.content_type)) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: content type '%s', not application/pkcs7-mime",
		                 url, resp.content_type);
		goto out;
	}
	if ((e = p7_from_body(&body, url, &got, &n, m)) != WARD_OK)
		goto out;
	if (!(p->cacerts = calloc(n, sizeof(*p->cacerts)))) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct ward_cert_info info;
		struct ward_msg ignored = {0};
		if (same_cert(got[i], p->root))
			continue;
		if (ward_x509_cert_info(got[i], &info) != WARD_OK || !info.is_ca)
			continue;
		if (ward_x509_verify(got[i], got, n, p->root, 0, &ignored) != WARD_OK)
			continue; /* e.g. a rollover certificate of another root */
		p->cacerts[p->ncacerts++] = got[i];
		got[i] = NULL;
	}
	if (p->ncacerts == 0) {
		e = ward_msg_set(m, WARD_E_VERIFY,
		                 "%s: no CA certificate in the response chains to %s: is this the "
		                 "right server, and the right root?",
		                 url, p->ca);
		goto out;
	}
	e = WARD_OK;
out:
	for (size_t i = 0; i < n; i++)
		ward_x509_cert_free(got[i]);
	free(got);
	ward_buf_free(&body);
	return e;
}

/* POST /simpleenroll; on 200 the issued certificate is in p->cert. */
static WARD_MUST_USE ward_err enroll(struct prov *p, struct ward_msg *m)
{
	struct ward_name subject = {.cn = p->serial, .serial = p->serial, .ou = p->model};
	struct ward_cert **got = NULL;
	struct ward_net_resp resp;
	struct ward_buf csr, b64, body;
	char url[URL_MAX], text[SHOW_MAX + 1];
	size_t n = 0;
	ward_err e;

	ward_buf_init(&csr, WARD_X509_MAX_DER);
	ward_buf_init(&b64, 0);
	ward_buf_init(&body, 0);
	if ((e = ward_x509_csr_create(p->key, &subject, &csr, m)) != WARD_OK) {
		ward_msg_prefix(m, e, "building the CSR: ");
		goto out;
	}
	if ((e = ward_crypto_base64_encode(csr.p, csr.len, &b64)) != WARD_OK) {
		e = ward_msg_set(m, e, "cannot encode the CSR");
		goto out;
	}
	if ((e = est(p, "simpleenroll", "application/pkcs10", b64.p, b64.len, true, url, &resp,
	             &body, m)) != WARD_OK)
		goto out;
	server_text(&body, text);
	switch (resp.status) {
	case 200:
		break;
	case 401:
		e = ward_msg_set(m, WARD_E_DENIED,
		                 "the server refused batch user '%s': wrong user name or password "
		                 "(HTTP 401: %s)",
		                 p->user, text);
		goto out;
	case 403:
		e = ward_msg_set(m, WARD_E_DENIED, "the server refused to enrol %s (HTTP 403): %s",
		                 p->serial, text);
		goto out;
	case 409:
		e = ward_msg_set(m, WARD_E_EXISTS,
		                 "serial %s is already enrolled (HTTP 409): %s; a serial is enrolled "
		                 "once",
		                 p->serial, text);
		goto out;
	case 202:
		e = ward_msg_set(m, WARD_E_UNSUPPORTED,
		                 "the server deferred the request (HTTP 202, manual approval), which "
		                 "ward provision does not wait for: %s",
		                 text);
		goto out;
	default:
		e = ward_msg_set(m, WARD_E_NET, "%s: HTTP %ld: %s", url, resp.status, text);
		goto out;
	}
	/* From here the server has counted the unit and registered the serial. */
	p->enrolled = true;
	if (!is_p7_type(resp.content_type)) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: content type '%s', not application/pkcs7-mime",
		                 url, resp.content_type);
		goto out;
	}
	if ((e = p7_from_body(&body, url, &got, &n, m)) != WARD_OK)
		goto out;
	/* The certificate for our key; anything else in the response is ignored. */
	for (size_t i = 0; i < n && !p->cert; i++) {
		struct ward_key *k = NULL;
		if (ward_x509_cert_key(got[i], &k) == WARD_OK && ward_crypto_key_equal(k, p->key)) {
			p->cert = got[i];
			got[i] = NULL;
		}
		ward_crypto_key_free(k);
	}
	if (!p->cert)
		e = ward_msg_set(m, WARD_E_VERIFY,
		                 "%s: no certificate in the response is for this device's key", url);
out:
	for (size_t i = 0; i < n; i++)
		ward_x509_cert_free(got[i]);
	free(got);
	ward_buf_free(&csr);
	ward_buf_free(&b64);
	ward_buf_free(&body);
	return e;
}

/* The issued certificate names this device and chains to the root. */
static WARD_MUST_USE ward_err check_cert(struct prov *p, struct ward_cert_info *info,
                                         struct ward_msg *m)
{
	ward_err e;

	if ((e = ward_x509_cert_info(p->cert, info)) != WARD_OK)
		return ward_msg_set(m, e, "cannot read the issued certificate");
	if (strcmp(info->serial_number, p->serial) != 0)
		return ward_msg_set(m, WARD_E_VERIFY,
		                    "the issued certificate is for serialNumber '%.64s', not '%s'",
		                    info->serial_number, p->serial);
	if (info->is_ca)
		return ward_msg_set(m, WARD_E_VERIFY, "the issued certificate is a CA certificate");
	if ((e = ward_x509_verify(p->cert, p->cacerts, p->ncacerts, p->root, 0, m)) != WARD_OK)
		return ward_msg_prefix(m, e, "the issued certificate does not chain to %s: ", p->ca);
	return WARD_OK;
}

/* device.pem, ca.pem (CA certificates, then the root), local-credentials. */
static WARD_MUST_USE ward_err write_identity(struct prov *p, struct ward_msg *m)
{
	struct ward_buf pem;
	ward_err e;

	ward_buf_init(&pem, PEM_MAX);
	if ((e = ward_x509_cert_to_pem(p->cert, &pem)) != WARD_OK) {
		e = ward_msg_set(m, e, "cannot encode the device certificate");
		goto out;
	}
	if ((e = create_out(p, "device.pem", pem.p, pem.len, 0644, m)) != WARD_OK)
		goto out;
	ward_buf_reset(&pem);
	for (size_t i = 0; i < p->ncacerts; i++)
		if ((e = ward_x509_cert_to_pem(p->cacerts[i], &pem)) != WARD_OK) {
			e = ward_msg_set(m, e, "cannot encode the CA chain");
			goto out;
		}
	if ((e = ward_x509_cert_to_pem(p->root, &pem)) != WARD_OK) {
		e = ward_msg_set(m, e, "cannot encode the root certificate");
		goto out;
	}
	if ((e = create_out(p, "ca.pem", pem.p, pem.len, 0644, m)) != WARD_OK ||
	    (e = create_out(p, "local-credentials", p->local_line, strlen(p->local_line), 0600,
	                    m)) != WARD_OK)
		goto out;
out:
	ward_buf_free(&pem);
	return e;
}

static WARD_MUST_USE ward_err provision(struct prov *p, struct ward_msg *m)
{
	struct ward_net_opts no;
	struct ward_cert_info info;
	char until[21];
	ward_err e;

	/* Everything local first: nothing here spends a unit of the batch's quota. */
	if ((e = check_args(p, m)) != WARD_OK)
		return e;
	if ((e = cli_passphrase(p->password_file, "", 0, p->pass, sizeof(p->pass), &p->passlen,
	                        m)) != WARD_OK)
		return ward_msg_prefix(m, e, "--password-file: ");
	if (p->passlen > BATCH_PASS_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "--password-file: longer than %d bytes",
		                    BATCH_PASS_MAX);
	if ((e = load_root(p, m)) != WARD_OK || (e = check_out_dir(p, m)) != WARD_OK ||
	    (e = local_credentials(p, m)) != WARD_OK || (e = device_key_create(p, m)) != WARD_OK)
		return e;
	memset(&no, 0, sizeof(no));
	no.ca_file = p->ca;
	no.connect_timeout_s = 10;
	no.total_timeout_s = 60;
	if ((e = ward_net_new(&no, &p->net, m)) != WARD_OK)
		return e;
	if ((e = fetch_cacerts(p, m)) != WARD_OK)
		return e;

	/* The enrolment: from a 200 on, the serial is registered and the unit spent. */
	if ((e = enroll(p, m)) != WARD_OK || (e = check_cert(p, &info, m)) != WARD_OK ||
	    (e = write_identity(p, m)) != WARD_OK)
		return e;

	cli_utc(info.not_after, until);
	printf("provisioned %s (model %s) in %s\n", p->serial, p->model, p->out);
	printf("  device.key          P-256 private key (0600)\n");
	printf("  device.pem          certificate %s from \"%s\", valid until %s\n",
	       info.serial_hex, info.issuer_cn, until);
	printf("  ca.pem              CA chain to the fleet root\n");
	printf("  local-credentials   scrypt hash of the local admin password (0600)\n");
	if (p->mud_url && strcmp(info.mud_url, p->mud_url) != 0)
		fprintf(stderr,
		        "ward: provision: warning: the certificate carries MUD URL '%s', not '%s' "
		        "(the server decides; the device can announce its MUD URL in DHCP "
		        "option 161)\n",
		        info.mud_url[0] ? info.mud_url : "(none)", p->mud_url);
	printf("local admin password: %s\n", p->local_pass);
	if (fflush(stdout) != 0)
		return ward_msg_set(m, WARD_E_IO, "cannot write the local password to standard output");
	return WARD_OK;
}

int cli_provision(int argc, char **argv)
{
	enum { O_SERVER = 256, O_CA, O_USER, O_PASSFILE, O_SERIAL, O_MODEL, O_OUT, O_MUD };
	static const struct option opts[] = {
	    {"server", required_argument, NULL, O_SERVER},
	    {"ca", required_argument, NULL, O_CA},
	    {"user", required_argument, NULL, O_USER},
	    {"password-file", required_argument, NULL, O_PASSFILE},
	    {"serial", required_argument, NULL, O_SERIAL},
	    {"model", required_argument, NULL, O_MODEL},
	    {"out", required_argument, NULL, O_OUT},
	    {"mud-url", required_argument, NULL, O_MUD},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct prov *p = calloc(1, sizeof(*p));
	struct ward_msg m = {0};
	int rc = EX_USAGE, c;
	ward_err e;

	if (!p) {
		cli_error("provision: out of memory");
		return EX_FAIL;
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_SERVER:
			p->server = optarg;
			break;
		case O_CA:
			p->ca = optarg;
			break;
		case O_USER:
			p->user = optarg;
			break;
		case O_PASSFILE:
			p->password_file = optarg;
			break;
		case O_SERIAL:
			p->serial = optarg;
			break;
		case O_MODEL:
			p->model = optarg;
			break;
		case O_OUT:
			p->out = optarg;
			break;
		case O_MUD:
			p->mud_url = optarg;
			break;
		case 'h':
			fputs(provision_help, stdout);
			rc = EX_SUCCESS;
			goto out;
		case ':':
			cli_error("provision: %s needs a value", argv[optind - 1]);
			goto out;
		default:
			cli_error("provision: unknown option '%s'; `ward provision --help` lists them",
			          argv[optind - 1]);
			goto out;
		}
	}
	if (optind != argc) {
		cli_error("provision: unexpected argument '%s'", argv[optind]);
		goto out;
	}
	{
		const char *missing = !p->server          ? "--server"
		                      : !p->ca            ? "--ca"
		                      : !p->user          ? "--user"
		                      : !p->password_file ? "--password-file"
		                      : !p->serial        ? "--serial"
		                      : !p->model         ? "--model"
		                      : !p->out           ? "--out"
		                                          : NULL;
		if (missing) {
			cli_error("provision: %s is required; `ward provision --help` shows the usage",
			          missing);
			goto out;
		}
	}
	e = provision(p, &m);
	if (e != WARD_OK) {
		if (!p->enrolled) {
			for (size_t i = p->ncreated; i-- > 0;)
				unlink(p->created[i]);
			cli_error("provision %s: %s", p->serial, m.text[0] ? m.text : ward_err_name(e));
		} else {
			cli_error("provision %s: %s", p->serial, m.text[0] ? m.text : ward_err_name(e));
			cli_error("provision %s: ward-server has registered this serial and counted "
			          "it against the batch, so it cannot be enrolled again; the files "
			          "written so far in %s are kept for the operator to inspect",
			          p->serial, p->out);
		}
		rc = e == WARD_E_INVAL ? EX_USAGE : EX_FAIL;
		goto out;
	}
	rc = EX_SUCCESS;
out:
	prov_free(p);
	free(p);
	return rc;
}
