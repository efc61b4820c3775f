/*
 * cli/init.c — `ward init DIR`: lay out one fleet's deployment directory;
 * and the pieces the other deployment commands share (open a deployment,
 * publish the CRL), declared in cli.h.
 *
 * What init creates (docs/ward-init.md):
 *   DIR/ward.conf         INI, every key of server/conf.h with a comment
 *   DIR/keys/ca-root.key  the CA root's P-256 key, ward key file, passphrase-encrypted
 *   DIR/ca/root.pem       self-signed root CA, 10 years
 *   DIR/ca/issuing.pem    issuing CA (pathlen 0), 2 years; issuing.key: its key,
 *                         unencrypted PKCS#8 PEM, because ward-server signs with it online
 *   DIR/ca/server.pem     ward-server's TLS certificate, then issuing.pem; server.key
 *   DIR/ca/crl.der        an empty CRL signed by the issuing CA
 *   DIR/keys/director-root.key the director's root key (ed25519, ward key file,
 *                         passphrase-encrypted like the CA root's): offline
 *   DIR/keys/director.key the director's online ed25519 key (PKCS#8 PEM, 0600)
 *   DIR/ca/director-root.json  the director's TUF root, which devices pin
 *   DIR/ward.db           the registry (migrations applied), audit record "init"
 *   with --user NAME: DIR/director/image-tuf/ (0700), and `user = NAME` in
 *                         ward.conf; DIR, ca/, director/, the database, the CRL
 *                         and its lock then belong to NAME (what ward-server's
 *                         workers write once they run as NAME); keys stay root's
 *
 * Invariants: init only creates. It refuses a non-empty DIR; every file is
 * created with O_EXCL (never replacing anything), secret files 0600 and the
 * key directory 0700. Everything that can fail on input (options, the
 * passphrase) fails before anything is written; keys are generated and
 * certificates signed in memory before the first file is created; and a
 * failure part-way removes what this run created, so DIR is left as it was
 * and init can simply be run again. Private keys live only in ward_key
 * objects and secret buffers, wiped on every path.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "crl.h"
#include "director.h"
#include "store.h"
#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/keyfile.h"
#include "ward/x509.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define DAY (24L * 3600)
#define ROOT_LIFETIME (3650 * DAY)   /* the offline root: 10 years */
#define ISSUING_LIFETIME (730 * DAY) /* the online issuing CA: 2 years */
#define BACKDATE (5 * 60)            /* not_before this far back: clocks disagree a little */
#define PASS_MAX 1024                /* bytes of the root key's passphrase */
#define PEM_MAX (64u * 1024)         /* a PEM file ward reads or writes here */
#define MAX_CREATED 24               /* paths one init creates */

/* ---- shared by the deployment commands -------------------------------- */

ward_err cli_deploy_open(const char *conf_path, struct srv_conf *c, struct srv_store **s,
                         struct ward_msg *m)
{
	ward_err e;

	if ((e = srv_conf_load(conf_path, c, m)) != WARD_OK)
		return e;
	if ((e = srv_store_open(c->db_uri, s, m)) != WARD_OK)
		return ward_msg_prefix(m, e, "opening the database of %s: ", conf_path);
	return WARD_OK;
}

/* The first certificate of a PEM file (caller frees). */
static WARD_MUST_USE ward_err load_cert(const char *path, struct ward_cert **out,
                                        struct ward_msg *m)
{
	struct ward_cert **certs = NULL;
	size_t n = 0;
	ward_err e;

	if ((e = ward_x509_certs_from_pem_file(path, 8, &certs, &n, m)) != WARD_OK)
		return e;
	if (n == 0) {
		free(certs);
		return ward_msg_set(m, WARD_E_PARSE, "%s: no certificate in the file", path);
	}
	*out = certs[0];
	for (size_t i = 1; i < n; i++)
		ward_x509_cert_free(certs[i]);
	free(certs);
	return WARD_OK;
}

/* A PKCS#8 PEM private key file (caller frees the key). */
static WARD_MUST_USE ward_err load_key(const char *path, struct ward_key **out, struct ward_msg *m)
{
	struct ward_buf b;
	ward_err e;

	if ((e = ward_file_read(path, PEM_MAX, &b, m)) != WARD_OK)
		return e;
	e = ward_crypto_key_from_private_pem((const char *)b.p, b.len, out, m);
	ward_wipe(b.p, b.len);
	ward_buf_free(&b);
	if (e != WARD_OK)
		return ward_msg_prefix(m, e, "%s: ", path);
	return WARD_OK;
}

ward_err cli_crl_publish(const struct srv_conf *c, struct srv_store *s, struct ward_msg *m)
{
	struct ward_cert *issuer = NULL;
	struct ward_key *key = NULL;
	ward_err e;

	if ((e = load_cert(c->issuing_cert, &issuer, m)) == WARD_OK &&
	    (e = load_key(c->issuing_key, &key, m)) == WARD_OK)
		e = srv_crl_publish(c, s, issuer, key, time(NULL), m);
	ward_crypto_key_free(key);
	ward_x509_cert_free(issuer);
	return e;
}

/* ---- ward init ---------------------------------------------------------- */

static const char init_help[] =
    "usage: ward init DIR [--listen ADDR:PORT] [--server-name DNS]\n"
    "                     [--passphrase-file F | --unencrypted-keys] [--user NAME]\n"
    "\n"
    "Create a fleet's deployment directory: the CA (offline root, online issuing CA),\n"
    "ward-server's TLS certificate, an empty CRL, ward.conf and the registry database.\n"
    "DIR must not exist or be empty. See docs/ward-init.md.\n"
    "\n"
    "  --listen ADDR:PORT      where ward-server listens (default 127.0.0.1:8443)\n"
    "  --server-name DNS       the DNS name in ward-server's certificate (default localhost);\n"
    "                          127.0.0.1 is always in it too\n"
    "  --passphrase-file F     the CA root key's passphrase: first line of F (default: ask\n"
    "                          twice on the terminal, or WARD_PASSPHRASE_FILE)\n"
    "  --unencrypted-keys      store the CA root key unencrypted (tests and demos only)\n"
    "  --user NAME             ward-server's workers run as NAME ([server] user); DIR, ca/,\n"
    "                          director/, the database and the CRL become NAME's (needs root)\n";

/* What this run created, to remove on failure (reverse order). */
struct created {
	char path[MAX_CREATED][PATH_MAX]; /* files and directories */
	bool dir[MAX_CREATED];            /* path[i] is a directory */
	size_t n;                         /* entries used */
};

static void track(struct created *cr, const char *path, bool dir)
{
	if (cr->n < MAX_CREATED && ward_snprintf(cr->path[cr->n], PATH_MAX, "%s", path) == WARD_OK)
		cr->dir[cr->n++] = dir;
}

static void undo(const struct created *cr)
{
	for (size_t i = cr->n; i-- > 0;) {
		if (cr->dir[i])
			rmdir(cr->path[i]);
		else
			unlink(cr->path[i]);
	}
}

/* Everything one init works with; released by init_free. */
struct init {
	const char *dir;                /* DIR as given */
	const char *listen;             /* ADDR:PORT */
	const char *server_name;        /* DNS name */
	const char *passfile;           /* --passphrase-file or NULL */
	bool unencrypted;               /* --unencrypted-keys */
	const char *user;               /* --user or NULL */
	uid_t uid;                      /* its uid and primary group, when user is set */
	gid_t gid;
	char pass[PASS_MAX];            /* the root key's passphrase (secret) */
	size_t passlen;                 /* its length */
	char id[9];                     /* 8 hex digits naming this deployment's CAs */
	struct ward_key *root_key;      /* CA root (goes to keys/, offline) */
	struct ward_key *issuing_key;   /* issuing CA (ca/issuing.key, online) */
	struct ward_key *server_key;    /* ward-server's TLS key */
	struct ward_cert *root;         /* self-signed root certificate */
	struct ward_cert *issuing;      /* issuing CA certificate */
	struct ward_cert *server;       /* TLS server certificate */
	struct srv_store *store;        /* the new database */
	struct created created;         /* what to remove on failure */
};

static void init_free(struct init *in)
{
	ward_wipe(in->pass, sizeof(in->pass));
	srv_store_close(in->store);
	ward_x509_cert_free(in->server);
	ward_x509_cert_free(in->issuing);
	ward_x509_cert_free(in->root);
	ward_crypto_key_free(in->server_key);
	ward_crypto_key_free(in->issuing_key);
	ward_crypto_key_free(in->root_key);
}

/* A DNS name: labels of [A-Za-z0-9-], 1-63 bytes, not starting or ending with '-'; <= 253. */
static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253 || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	/* All digits and dots would be an IPv4 address, which is no DNS name. */
	return strspn(s, "0123456789.") != n;
}

/* Is DIR absent or an empty directory? */
static WARD_MUST_USE ward_err check_empty_dir(const char *dir, bool *exists, struct ward_msg *m)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	*exists = false;
	if (!d) {
		if (errno == ENOENT)
			return WARD_OK;
		return ward_msg_set(m, errno == ENOTDIR ? WARD_E_EXISTS : WARD_E_IO,
		                    "cannot use %s: %s", dir, strerror(errno));
	}
	*exists = true;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		closedir(d);
		return ward_msg_set(m, WARD_E_EXISTS,
		                    "%s is not empty; init only creates new deployments (give a new "
		                    "or empty directory)",
		                    dir);
	}
	closedir(d);
	return WARD_OK;
}

static WARD_MUST_USE ward_err join(char *out, const char *dir, const char *rel, struct ward_msg *m)
{
	if (ward_snprintf(out, PATH_MAX, "%s/%s", dir, rel) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "path too long: %s/%s", dir, rel);
	return WARD_OK;
}

/* Generate the three keys and sign the three certificates, all in memory. */
static WARD_MUST_USE ward_err make_pki(struct init *in, time_t now, struct ward_msg *m)
{
	char root_cn[64], issuing_cn[64];
	uint8_t rnd[4];
	struct ward_issue p;
	ward_err e;

	if ((e = ward_crypto_random(rnd, sizeof(rnd))) != WARD_OK)
		return ward_msg_set(m, e, "no randomness from the operating system");
	ward_hex_encode(rnd, sizeof(rnd), in->id);
	if ((e = ward_snprintf(root_cn, sizeof(root_cn), "ward root CA %s", in->id)) != WARD_OK ||
	    (e = ward_snprintf(issuing_cn, sizeof(issuing_cn), "ward issuing CA %s", in->id)) !=
	        WARD_OK)
		return ward_msg_set(m, e, "CA name too long");
	if ((e = ward_crypto_key_generate(WARD_KEY_ECDSA_P256, &in->root_key, m)) != WARD_OK ||
	    (e = ward_crypto_key_generate(WARD_KEY_ECDSA_P256, &in->issuing_key, m)) != WARD_OK ||
	    (e = ward_crypto_key_generate(WARD_KEY_ECDSA_P256, &in->server_key, m)) != WARD_OK)
		return e;

	memset(&p, 0, sizeof(p));
	p.profile = WARD_CERT_ROOT_CA;
	p.subject.cn = root_cn;
	p.subject.o = "ward";
	p.subject_key = in->root_key;
	p.not_before = now - BACKDATE;
	p.not_after = now + ROOT_LIFETIME;
	if ((e = ward_x509_issue(NULL, in->root_key, &p, &in->root, m)) != WARD_OK)
		return ward_msg_prefix(m, e, "signing the root CA certificate: ");

	memset(&p, 0, sizeof(p));
	p.profile = WARD_CERT_ISSUING_CA;
	p.subject.cn = issuing_cn;
	p.subject.o = "ward";
	p.subject_key = in->issuing_key;
	p.not_before = now - BACKDATE;
	p.not_after = now + ISSUING_LIFETIME;
	if ((e = ward_x509_issue(in->root, in->root_key, &p, &in->issuing, m)) != WARD_OK)
		return ward_msg_prefix(m, e, "signing the issuing CA certificate: ");

	/* ward-server's certificate ends with its issuer: no renewal command exists yet. */
	memset(&p, 0, sizeof(p));
	p.profile = WARD_CERT_SERVER;
	p.subject.cn = in->server_name;
	p.subject.o = "ward";
	p.subject_key = in->server_key;
	p.not_before = now - BACKDATE;
	p.not_after = now + ISSUING_LIFETIME;
	p.san_dns = in->server_name;
	p.san_ip = "127.0.0.1";
	if ((e = ward_x509_issue(in->issuing, in->issuing_key, &p, &in->server, m)) != WARD_OK)
		return ward_msg_prefix(m, e, "signing the server certificate: ");
	return WARD_OK;
}

/* Create path exclusively with data, remembering it for undo. */
static WARD_MUST_USE ward_err create_file(struct init *in, const char *rel, const void *data,
                                          size_t len, mode_t mode, struct ward_msg *m)
{
	char path[PATH_MAX];
	ward_err e;

	if ((e = join(path, in->dir, rel, m)) != WARD_OK)
		return e;
	if ((e = ward_file_create_excl(path, data, len, mode, m)) != WARD_OK)
		return e;
	track(&in->created, path, false);
	return WARD_OK;
}

static WARD_MUST_USE ward_err create_dir(struct init *in, const char *rel, mode_t mode,
                                         struct ward_msg *m)
{
	char path[PATH_MAX];
	ward_err e;

	if ((e = join(path, in->dir, rel, m)) != WARD_OK)
		return e;
	if (mkdir(path, mode) != 0)
		return ward_msg_set(m, errno == EEXIST ? WARD_E_EXISTS : WARD_E_IO,
		                    "cannot create %s: %s", path, strerror(errno));
	track(&in->created, path, true);
	if (chmod(path, mode) != 0) /* exactly mode, whatever the umask */
		return ward_msg_set(m, WARD_E_IO, "cannot set the mode of %s: %s", path,
		                    strerror(errno));
	return WARD_OK;
}

/* PEM of each certificate, in order, into one new file. */
static WARD_MUST_USE ward_err write_certs(struct init *in, const char *rel,
                                          const struct ward_cert *a, const struct ward_cert *b,
                                          struct ward_msg *m)
{
	struct ward_buf pem;
	ward_err e;

	ward_buf_init(&pem, PEM_MAX);
	if ((e = ward_x509_cert_to_pem(a, &pem)) != WARD_OK ||
	    (b && (e = ward_x509_cert_to_pem(b, &pem)) != WARD_OK)) {
		e = ward_msg_set(m, e, "cannot encode the certificates of %s", rel);
		goto out;
	}
	e = create_file(in, rel, pem.p, pem.len, 0644, m);
out:
	ward_buf_free(&pem);
	return e;
}

/* A private key as unencrypted PKCS#8 PEM, 0600. */
static WARD_MUST_USE ward_err write_pem_key(struct init *in, const char *rel,
                                            const struct ward_key *k, struct ward_msg *m)
{
	struct ward_buf pem;
	ward_err e;

	if ((e = ward_crypto_key_private_pem(k, &pem)) != WARD_OK)
		return ward_msg_set(m, e, "cannot encode the key for %s", rel);
	pem.secret = true; /* freed with a wipe whatever the encoder set */
	e = create_file(in, rel, pem.p, pem.len, 0600, m);
	ward_buf_free(&pem);
	return e;
}

/*
 * The director (server/director.h): its root key (offline, like the CA
 * root's: a ward key file, passphrase-encrypted), its online key, and the
 * root devices pin — the root role is the offline key's, the other roles the
 * online key's, so a stolen server can sign director metadata but never a
 * new director root.
 */
static WARD_MUST_USE ward_err write_director(struct init *in, time_t now, struct ward_msg *m)
{
	struct ward_key *k = NULL, *rk = NULL;
	struct ward_buf root;
	char path[PATH_MAX], comment[128];
	ward_err e;

	ward_buf_init(&root, 0);
	if ((e = ward_crypto_key_generate(WARD_KEY_ED25519, &rk, m)) != WARD_OK ||
	    (e = ward_crypto_key_generate(WARD_KEY_ED25519, &k, m)) != WARD_OK ||
	    (e = srv_director_root_create(rk, k, now, &root, m)) != WARD_OK ||
	    (e = join(path, in->dir, SRV_DIRECTOR_ROOT_KEY, m)) != WARD_OK)
		goto out;
	if (ward_snprintf(comment, sizeof(comment), "ward director root key of deployment %s", in->id) != WARD_OK) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "key file comment too long");
		goto out;
	}
	if ((e = ward_keyfile_write(path, rk, in->unencrypted ? NULL : in->pass, in->passlen, comment, m)) !=
	    WARD_OK)
		goto out;
	track(&in->created, path, false);
	if ((e = write_pem_key(in, SRV_DIRECTOR_KEY, k, m)) != WARD_OK ||
	    (e = create_file(in, SRV_DIRECTOR_ROOT, root.p, root.len, 0644, m)) != WARD_OK)
		goto out;
out:
	if (e)
		ward_msg_prefix(m, e, "director: ");
	ward_buf_free(&root);
	ward_crypto_key_free(rk);
	ward_crypto_key_free(k);
	return e;
}

static WARD_MUST_USE ward_err write_conf(struct init *in, time_t now, struct ward_msg *m)
{
	struct ward_buf b;
	char when[21];
	ward_err e;

	cli_utc(now, when);
	ward_buf_init(&b, 16u * 1024);
	e = ward_buf_printf(
	    &b,
	    "; ward.conf: one fleet's deployment, written by `ward init` on %s.\n"
	    "; Every key is documented in docs/ward-init.md and server/conf.h. Relative paths\n"
	    "; are relative to this file's directory, so the directory can move as a whole.\n"
	    "; Serve it with: ward-server -c ward.conf\n"
	    "\n"
	    "[server]\n"
	    "; ADDR:PORT to listen on (IPv4, or [IPv6]:PORT)\n"
	    "listen = %s\n"
	    "; worker processes, each with its own event loop; 0 = one per CPU core\n"
	    "workers = 0\n"
	    "; open connections per worker\n"
	    "max_connections = 10000\n"
	    "; seconds a client has to send a whole request (slow clients are cut off)\n"
	    "request_timeout = 10\n"
	    "; largest request body in bytes\n"
	    "max_body = 65536\n"
	    "; the unprivileged user the workers become when ward-server starts as root\n"
	    "; (docs/ward-server.md, Privileges); without it they stay root\n"
	    "%s%s\n"
	    "\n"
	    "[database]\n"
	    "; sqlite:PATH (embedded, WAL) or postgresql://user@host:port/db\n"
	    "uri = sqlite:ward.db\n"
	    "\n"
	    "[ca]\n"
	    "; the fleet's trust anchor (deployment %s); its key is keys/ca-root.key: keep it offline\n"
	    "root = ca/root.pem\n"
	    "; the online issuing CA that signs device certificates, and its key (0600,\n"
	    "; unencrypted because ward-server signs with it unattended)\n"
	    "issuing_cert = ca/issuing.pem\n"
	    "issuing_key = ca/issuing.key\n"
	    "; ward-server's TLS certificate chain (server, then issuing CA) and key (0600)\n"
	    "server_cert = ca/server.pem\n"
	    "server_key = ca/server.key\n"
	    "; the CRL ward-server publishes at /crl; `ward device revoke` rewrites it\n"
	    "crl = ca/crl.der\n"
	    "\n"
	    "[devices]\n"
	    "; validity of a device certificate (s, m, h, d suffixes)\n"
	    "cert_lifetime = 30d\n"
	    "; devices renew when less than this is left\n"
	    "renew_before = 10d\n"
	    "; seconds between check-ins (the server adds +-10%% jitter)\n"
	    "checkin_interval = 300\n",
	    when, in->listen, in->user ? "user = " : "; user = ward", in->user ? in->user : "", in->id);
	if (e != WARD_OK) {
		ward_buf_free(&b);
		return ward_msg_set(m, e, "ward.conf too long");
	}
	e = create_file(in, "ward.conf", b.p, b.len, 0640, m);
	ward_buf_free(&b);
	return e;
}

/* The "init" audit record: what this deployment's trust rests on. */
static WARD_MUST_USE ward_err audit_init(struct init *in, struct ward_msg *m)
{
	struct ward_cert_info ri, ii, si;
	json_t *o = NULL;
	char *text = NULL;
	ward_err e;

	if ((e = ward_x509_cert_info(in->root, &ri)) != WARD_OK ||
	    (e = ward_x509_cert_info(in->issuing, &ii)) != WARD_OK ||
	    (e = ward_x509_cert_info(in->server, &si)) != WARD_OK)
		return ward_msg_set(m, e, "cannot read back the new certificates");
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "root_ca", ri.cn, "root_serial",
	              ri.serial_hex, "issuing_ca", ii.cn, "issuing_serial", ii.serial_hex,
	              "server_name", in->server_name, "listen", in->listen);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!text)
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	else
		e = srv_audit(in->store, "init", in->id, text, m);
	free(text);
	json_decref(o);
	return e;
}

/*
 * --user: what ward-server's workers write becomes the user's (docs/ward-init.md,
 * "Who owns what"): DIR (the database's -wal and -shm are created
 * there), ca/ (the CRL is renamed into it), director/image-tuf/ (the image
 * repository's trusted copy), the database, the CRL and its lock. The keys,
 * keys/, the certificates and ward.conf stay root's.
 */
static WARD_MUST_USE ward_err give_to_user(struct init *in, struct ward_msg *m)
{
	static const char *const owned[] = {".", "ca", "director", SRV_DIRECTOR_IMAGE_TRUST, "ward.db",
	                                    "ward.db-wal", "ward.db-shm", "ca/crl.der", "ca/crl.der.lock"};
	char path[PATH_MAX];
	ward_err e;

	if ((e = join(path, in->dir, "ca/crl.der.lock", m)) != WARD_OK)
		return e;
	track(&in->created, path, false); /* made by the CRL's publisher; removed on failure too */
	if ((e = create_dir(in, "director", 0700, m)) != WARD_OK ||
	    (e = create_dir(in, SRV_DIRECTOR_IMAGE_TRUST, 0700, m)) != WARD_OK)
		return e;
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		if ((e = join(path, in->dir, owned[i], m)) != WARD_OK)
			return e;
		/* -wal and -shm exist only while a connection is open: absent is fine */
		if (lchown(path, in->uid, in->gid) != 0 && !(errno == ENOENT && strchr(owned[i], '-')))
			return ward_msg_set(m, WARD_E_IO, "cannot give %s to %s: %s", path, in->user,
			                    strerror(errno));
	}
	return WARD_OK;
}

static WARD_MUST_USE ward_err init_run(struct init *in, struct ward_msg *m)
{
	struct srv_conf check, *conf = NULL;
	char path[PATH_MAX], comment[128], until[21], iuntil[21];
	time_t now = time(NULL);
	bool exists = false;
	ward_err e;

	/* Input first: nothing is created until all of it is good. */
	memset(&check, 0, sizeof(check));
	if ((e = srv_conf_listen(&check, in->listen, m)) != WARD_OK)
		return ward_msg_prefix(m, WARD_E_INVAL, "--listen: ");
	{
		unsigned char addr[16];
		if (inet_pton(AF_INET, check.listen_addr, addr) != 1 &&
		    inet_pton(AF_INET6, check.listen_addr, addr) != 1)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "--listen: '%s' is not an IP address (ward-server binds an "
			                    "address, not a name)",
			                    check.listen_addr);
	}
	if (!dns_name_ok(in->server_name))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "--server-name: '%s' is not a DNS name (letters, digits, '-' "
		                    "and dots; 127.0.0.1 is always in the certificate)",
		                    in->server_name);
	if (in->user) {
		struct passwd *pw;

		size_t l = strlen(in->user);

		/* it goes into ward.conf as is: the characters [server] user accepts */
		if (l == 0 || l > 32 || in->user[0] == '-' ||
		    strspn(in->user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != l)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "--user: '%.64s' is not a user name (1-32 of A-Z a-z 0-9 . _ -)",
			                    in->user);
		errno = 0;
		pw = getpwnam(in->user);
		if (!pw)
			return ward_msg_set(m, WARD_E_INVAL, "--user: %s: %s", in->user,
			                    errno ? strerror(errno) : "no such user (create it first)");
		if (pw->pw_uid == 0 || pw->pw_gid == 0)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "--user: %s has uid or gid 0; name an unprivileged user", in->user);
		if (geteuid() != 0 && geteuid() != pw->pw_uid)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "--user: giving files to %s needs root (run ward init as root)",
			                    in->user);
		in->uid = pw->pw_uid;
		in->gid = pw->pw_gid;
	}
	if ((e = check_empty_dir(in->dir, &exists, m)) != WARD_OK)
		return e;
	if (!in->unencrypted) {
		char prompt[PATH_MAX + 64];
		if (ward_snprintf(prompt, sizeof(prompt), "New passphrase for the CA root key of %s: ",
		                  in->dir) != WARD_OK)
			return ward_msg_set(m, WARD_E_TOOBIG, "path too long: %s", in->dir);
		if ((e = cli_passphrase(in->passfile, prompt, 1, in->pass, sizeof(in->pass),
		                        &in->passlen, m)) != WARD_OK)
			return ward_msg_prefix(m, e, "reading the passphrase: ");
	}
	if ((e = make_pki(in, now, m)) != WARD_OK)
		return e;

	/* Now write; from here on a failure undoes what was created. */
	umask(027);
	if (!exists) {
		if (mkdir(in->dir, 0750) != 0)
			return ward_msg_set(m, WARD_E_IO, "cannot create %s: %s", in->dir,
			                    strerror(errno));
		track(&in->created, in->dir, true);
	}
	if ((e = create_dir(in, "keys", 0700, m)) != WARD_OK ||
	    (e = create_dir(in, "ca", 0755, m)) != WARD_OK)
		return e;
	if ((e = join(path, in->dir, "keys/ca-root.key", m)) != WARD_OK)
		return e;
	if (ward_snprintf(comment, sizeof(comment), "ward CA root key of deployment %s", in->id) !=
	    WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "key file comment too long");
	if ((e = ward_keyfile_write(path, in->root_key, in->unencrypted ? NULL : in->pass,
	                            in->passlen, comment, m)) != WARD_OK)
		return e;
	track(&in->created, path, false);
	if ((e = write_certs(in, "ca/root.pem", in->root, NULL, m)) != WARD_OK ||
	    (e = write_certs(in, "ca/issuing.pem", in->issuing, NULL, m)) != WARD_OK ||
	    (e = write_pem_key(in, "ca/issuing.key", in->issuing_key, m)) != WARD_OK ||
	    (e = write_certs(in, "ca/server.pem", in->server, in->issuing, m)) != WARD_OK ||
	    (e = write_pem_key(in, "ca/server.key", in->server_key, m)) != WARD_OK ||
	    (e = write_conf(in, now, m)) != WARD_OK ||
	    (e = write_director(in, now, m)) != WARD_OK)
		return e;

	/* Read back the configuration just written: what ward-server will load. */
	if (!(conf = malloc(sizeof(*conf))))
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if ((e = join(path, in->dir, "ward.conf", m)) != WARD_OK)
		goto out;
	{
		static const char *const db_files[] = {"ward.db", "ward.db-wal", "ward.db-shm",
		                                       "ward.db-journal"};
		char dbpath[PATH_MAX];
		for (size_t i = 0; i < sizeof(db_files) / sizeof(db_files[0]); i++)
			if (join(dbpath, in->dir, db_files[i], NULL) == WARD_OK)
				track(&in->created, dbpath, false); /* removing what is absent is harmless */
	}
	if ((e = cli_deploy_open(path, conf, &in->store, m)) != WARD_OK ||
	    (e = audit_init(in, m)) != WARD_OK)
		goto out;
	if ((e = join(path, in->dir, "ca/crl.der", m)) != WARD_OK)
		goto out;
	track(&in->created, path, false);
	if ((e = cli_crl_publish(conf, in->store, m)) != WARD_OK)
		goto out;
	if (in->user && (e = give_to_user(in, m)) != WARD_OK)
		goto out;

	{
		struct ward_cert_info ri, ii;
		if (ward_x509_cert_info(in->root, &ri) != WARD_OK ||
		    ward_x509_cert_info(in->issuing, &ii) != WARD_OK) {
			e = ward_msg_set(m, WARD_E_CRYPTO, "cannot read back the new certificates");
			goto out;
		}
		cli_utc(ri.not_after, until);
		cli_utc(ii.not_after, iuntil);
		printf("created deployment %s (id %s)\n", in->dir, in->id);
		printf("  ward.conf          listen %s, database sqlite:ward.db\n", in->listen);
		printf("  keys/ca-root.key   CA root key, %s: move it offline\n",
		       in->unencrypted ? "UNENCRYPTED" : "passphrase-protected");
		printf("  ca/root.pem        \"%s\", valid until %s: the fleet's trust anchor\n",
		       ri.cn, until);
		printf("  ca/issuing.pem     \"%s\", valid until %s\n", ii.cn, iuntil);
		printf("  ca/issuing.key     its key, unencrypted (ward-server signs with it online)\n");
		printf("  ca/server.pem      TLS certificate for %s and 127.0.0.1, then issuing.pem\n",
		       in->server_name);
		printf("  ca/crl.der         empty CRL\n");
		printf("  keys/director-root.key  the director's root key, %s: move it offline\n",
		       in->unencrypted ? "UNENCRYPTED" : "passphrase-encrypted");
		printf("  keys/director.key  the director's online key (ed25519, 0600)\n");
		printf("  ca/director-root.json  the director's TUF root: devices pin it ([server] director_root)\n");
		printf("  ward.db            the registry; audit log started\n");
		if (in->user)
			printf("  [server] user      %s: the workers run as it; it owns DIR, ca/, director/,\n"
			       "                     ward.db and the CRL; keys/ and the keys stay root's\n",
			       in->user);
		printf("serve it: ward-server -c %s/ward.conf\n", in->dir);
	}
	e = WARD_OK;
out:
	free(conf);
	return e;
}

int cli_init(int argc, char **argv)
{
	enum { O_LISTEN = 256, O_NAME, O_PASSFILE, O_UNENCRYPTED, O_USER };
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"server-name", required_argument, NULL, O_NAME},
	    {"passphrase-file", required_argument, NULL, O_PASSFILE},
	    {"unencrypted-keys", no_argument, NULL, O_UNENCRYPTED},
	    {"user", required_argument, NULL, O_USER},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct init *in = calloc(1, sizeof(*in));
	struct ward_msg m = {0};
	int rc = EX_USAGE, c;
	ward_err e;

	if (!in) {
		cli_error("init: out of memory");
		return EX_FAIL;
	}
	in->listen = "127.0.0.1:8443";
	in->server_name = "localhost";
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN:
			in->listen = optarg;
			break;
		case O_NAME:
			in->server_name = optarg;
			break;
		case O_PASSFILE:
			in->passfile = optarg;
			break;
		case O_UNENCRYPTED:
			in->unencrypted = true;
			break;
		case O_USER:
			in->user = optarg;
			break;
		case 'h':
			fputs(init_help, stdout);
			rc = EX_SUCCESS;
			goto out;
		case ':':
			cli_error("init: %s needs a value", argv[optind - 1]);
			goto out;
		default:
			cli_error("init: unknown option '%s'; `ward init --help` lists them",
			          argv[optind - 1]);
			goto out;
		}
	}
	if (optind + 1 != argc) {
		cli_error("init: %s; `ward init --help` shows the usage",
		          optind == argc ? "missing DIR" : "exactly one DIR");
		goto out;
	}
	if (in->passfile && in->unencrypted) {
		cli_error("init: --passphrase-file and --unencrypted-keys exclude each other");
		goto out;
	}
	in->dir = argv[optind];
	e = init_run(in, &m);
	if (e != WARD_OK) {
		srv_store_close(in->store); /* before its files go */
		in->store = NULL;
		undo(&in->created);
		cli_error("init %s: %s", in->dir, m.text[0] ? m.text : ward_err_name(e));
		rc = e == WARD_E_INVAL ? EX_USAGE : EX_FAIL;
		goto out;
	}
	rc = EX_SUCCESS;
out:
	init_free(in);
	free(in);
	return rc;
}
