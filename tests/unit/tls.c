/*
 * tests/unit/tls.c — ward-server's TLS policy, checked by handshakes.
 *
 * A PKI is built here with ward_x509_issue (root -> issuing CA -> server
 * certificate for "localhost" and device certificates; plus an unrelated CA
 * whose issuing CA has the same name as ours). The server side is an SSL from
 * ward_tls_server_ssl; the client side is plain OpenSSL written in this file
 * (an independent peer), and the two talk over a non-blocking socketpair in
 * one thread. The client always verifies the server's chain and host name.
 * What must hold: TLS 1.3 and 1.2 with ECDHE AEAD work; TLS 1.1 and non-AEAD
 * ciphers are refused by the server; no client certificate is fine and leaves
 * no peer certificate; a good client certificate comes back with its
 * serialNumber; a client certificate from another CA, an expired one, or a
 * server certificate used as a client certificate fails the handshake;
 * sessions are never resumed.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/err.h"
#include "ward/tls.h"
#include "ward/x509.h"

#define DAY       86400
#define OUT_MAX   (256u * 1024)
#define HS_ROUNDS 200

struct env {
	time_t now;
	char dir[64];
	struct ward_key *root_key, *iss_key, *srv_key, *dev_key, *oroot_key, *oiss_key, *odev_key;
	struct ward_cert *root, *iss, *srv, *dev, *expired, *oroot, *oiss, *odev;
	char chain[256], key[256], client_ca[256];
	struct ward_tls_server *server;
	struct ward_tls_server *target; /* the server handshake() talks to (E.server by default) */
};

static struct env E;

/* What one handshake did, seen from both sides. */
struct hs {
	SSL *s, *c; /* kept for inspection; freed by hs_free */
	int fds[2];
	int cdone, sdone; /* handshake completed */
	int cfail, sfail; /* handshake failed */
	int sreason;      /* OpenSSL reason code of the server's failure */
	long sverify;     /* server's verify result for the client certificate */
};

static void must(ward_err e, const struct ward_msg *m, const char *what)
{
	if (e != WARD_OK)
		fail_msg("%s: %s: %s", what, ward_err_name(e), m != NULL ? m->text : "");
}

static struct ward_key *keygen(void)
{
	struct ward_msg m = {{0}};
	struct ward_key *k = NULL;

	must(ward_crypto_key_generate(WARD_KEY_ECDSA_P256, &k, &m), &m, "keygen");
	return k;
}

static struct ward_cert *issue(const struct ward_cert *issuer, const struct ward_key *ikey,
                               enum ward_cert_profile prof, const char *cn,
                               const struct ward_key *k, time_t nb, time_t na)
{
	struct ward_issue p;
	struct ward_msg m = {{0}};
	struct ward_cert *c = NULL;

	memset(&p, 0, sizeof(p));
	p.profile = prof;
	p.subject.cn = cn;
	p.subject.serial = prof == WARD_CERT_DEVICE ? cn : NULL;
	p.subject.ou = prof == WARD_CERT_DEVICE ? "model-x" : NULL;
	p.subject_key = k;
	p.not_before = nb;
	p.not_after = na;
	if (prof == WARD_CERT_SERVER) {
		p.san_dns = "localhost";
		p.san_ip = "127.0.0.1";
	}
	must(ward_x509_issue(issuer, ikey, &p, &c, &m), &m, cn);
	return c;
}

static X509 *x509_of(const struct ward_cert *c)
{
	struct ward_buf b;
	const unsigned char *p;
	X509 *x;

	ward_buf_init(&b, OUT_MAX);
	assert_int_equal(ward_x509_cert_to_der(c, &b), WARD_OK);
	p = b.p;
	x = d2i_X509(NULL, &p, (long)b.len);
	assert_non_null(x);
	ward_buf_free(&b);
	return x;
}

static EVP_PKEY *evp_private(const struct ward_key *k)
{
	struct ward_buf pem;
	BIO *bio;
	EVP_PKEY *pkey;

	assert_int_equal(ward_crypto_key_private_pem(k, &pem), WARD_OK);
	bio = BIO_new_mem_buf(pem.p, (int)pem.len);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	assert_non_null(pkey);
	BIO_free(bio);
	ward_buf_free(&pem);
	return pkey;
}

/* Write the PEM of certs into E.dir/name; its path into path. */
static void write_pem(const char *name, struct ward_cert *const *certs, size_t n, char *path,
                      size_t pathlen)
{
	struct ward_buf b;
	struct ward_msg m = {{0}};

	ward_buf_init(&b, OUT_MAX);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ward_x509_cert_to_pem(certs[i], &b), WARD_OK);
	assert_int_equal(ward_snprintf(path, pathlen, "%s/%s", E.dir, name), WARD_OK);
	must(ward_file_write_atomic(path, b.p, b.len, 0644, &m), &m, path);
	ward_buf_free(&b);
}

static void write_key(const char *name, const struct ward_key *k, char *path, size_t pathlen)
{
	struct ward_buf b;
	struct ward_msg m = {{0}};

	assert_int_equal(ward_crypto_key_private_pem(k, &b), WARD_OK);
	assert_int_equal(ward_snprintf(path, pathlen, "%s/%s", E.dir, name), WARD_OK);
	must(ward_file_create_excl(path, b.p, b.len, 0600, &m), &m, path);
	ward_buf_free(&b);
}

/* nftw callback: remove one entry of the scratch directory (children first). */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct ward_msg m = {{0}};
	struct ward_tls_server_opts o;
	struct ward_cert *chain[2], *cas[2];
	time_t now = time(NULL);

	(void)state;
	memset(&E, 0, sizeof(E));
	E.now = now;
	memcpy(E.dir, "/tmp/ward-tls-XXXXXX", sizeof("/tmp/ward-tls-XXXXXX"));
	if (mkdtemp(E.dir) == NULL)
		return -1;
	E.root_key = keygen();
	E.iss_key = keygen();
	E.srv_key = keygen();
	E.dev_key = keygen();
	E.oroot_key = keygen();
	E.oiss_key = keygen();
	E.odev_key = keygen();
	E.root = issue(NULL, E.root_key, WARD_CERT_ROOT_CA, "ward root CA", E.root_key, now - DAY,
	               now + 3650 * DAY);
	E.iss = issue(E.root, E.root_key, WARD_CERT_ISSUING_CA, "ward issuing CA", E.iss_key,
	              now - DAY, now + 1000 * DAY);
	E.srv = issue(E.iss, E.iss_key, WARD_CERT_SERVER, "localhost", E.srv_key, now - 60,
	              now + 90 * DAY);
	E.dev = issue(E.iss, E.iss_key, WARD_CERT_DEVICE, "DEV-0001", E.dev_key, now - 60,
	              now + 30 * DAY);
	E.expired = issue(E.iss, E.iss_key, WARD_CERT_DEVICE, "DEV-0002", E.dev_key,
	                  now - 20 * 3600, now - 3600);
	E.oroot = issue(NULL, E.oroot_key, WARD_CERT_ROOT_CA, "other root CA", E.oroot_key,
	                now - DAY, now + 3650 * DAY);
	E.oiss = issue(E.oroot, E.oroot_key, WARD_CERT_ISSUING_CA, "ward issuing CA", E.oiss_key,
	               now - DAY, now + 1000 * DAY);
	E.odev = issue(E.oiss, E.oiss_key, WARD_CERT_DEVICE, "DEV-0001", E.odev_key, now - 60,
	               now + 30 * DAY);

	chain[0] = E.srv;
	chain[1] = E.iss;
	write_pem("chain.pem", chain, 2, E.chain, sizeof(E.chain));
	cas[0] = E.iss;
	cas[1] = E.root;
	write_pem("client-ca.pem", cas, 2, E.client_ca, sizeof(E.client_ca));
	write_key("server.key", E.srv_key, E.key, sizeof(E.key));
	o.cert_chain = E.chain;
	o.key = E.key;
	o.client_ca = E.client_ca;
	must(ward_tls_server_new(&o, &E.server, &m), &m, "ward_tls_server_new");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ward_tls_server_free(E.server);
	ward_x509_cert_free(E.root);
	ward_x509_cert_free(E.iss);
	ward_x509_cert_free(E.srv);
	ward_x509_cert_free(E.dev);
	ward_x509_cert_free(E.expired);
	ward_x509_cert_free(E.oroot);
	ward_x509_cert_free(E.oiss);
	ward_x509_cert_free(E.odev);
	ward_crypto_key_free(E.root_key);
	ward_crypto_key_free(E.iss_key);
	ward_crypto_key_free(E.srv_key);
	ward_crypto_key_free(E.dev_key);
	ward_crypto_key_free(E.oroot_key);
	ward_crypto_key_free(E.oiss_key);
	ward_crypto_key_free(E.odev_key);
	if (strncmp(E.dir, "/tmp/ward-tls-", 14) == 0)
		(void)nftw(E.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/*
 * An OpenSSL client trusting our root, checking the host name "localhost",
 * limited to [min, max] versions and (for TLS 1.2) ciphers when given, and
 * presenting cert/key when given.
 */
static SSL_CTX *client_ctx(int min, int max, const char *ciphers, const struct ward_cert *cert,
                           const struct ward_key *key)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	X509 *root = x509_of(E.root);

	assert_non_null(c);
	assert_int_equal(SSL_CTX_set_min_proto_version(c, min), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(c, max), 1);
	if (ciphers != NULL)
		assert_int_equal(SSL_CTX_set_cipher_list(c, ciphers), 1);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(c), root), 1);
	X509_free(root);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (cert != NULL) {
		X509 *x = x509_of(cert);
		EVP_PKEY *k = evp_private(key);

		assert_int_equal(SSL_CTX_use_certificate(c, x), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(c, k), 1);
		X509_free(x);
		EVP_PKEY_free(k);
	}
	return c;
}

/* One step of one side; returns 1 done, -1 failed, 0 wants more. */
static int step(SSL *ssl, int *reason)
{
	int rc = SSL_do_handshake(ssl), e;

	if (rc == 1)
		return 1;
	e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (reason != NULL)
		*reason = ERR_GET_REASON(ERR_peek_last_error());
	ERR_clear_error();
	return -1;
}

/* Run a handshake between cctx (optionally resuming session) and the ward server. */
static void handshake(SSL_CTX *cctx, SSL_SESSION *session, struct hs *h)
{
	memset(h, 0, sizeof(*h));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, h->fds), 0);
	assert_int_equal(fcntl(h->fds[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(h->fds[1], F_SETFL, O_NONBLOCK), 0);
	h->s = ward_tls_server_ssl(E.target != NULL ? E.target : E.server);
	h->c = SSL_new(cctx);
	assert_non_null(h->s);
	assert_non_null(h->c);
	assert_int_equal(SSL_set_fd(h->s, h->fds[0]), 1);
	assert_int_equal(SSL_set_fd(h->c, h->fds[1]), 1);
	SSL_set_accept_state(h->s);
	SSL_set_connect_state(h->c);
	assert_int_equal(SSL_set1_host(h->c, "localhost"), 1);
	if (session != NULL)
		assert_int_equal(SSL_set_session(h->c, session), 1);
	/* Before the handshake there is nothing to hand out. */
	{
		struct ward_cert *none = NULL;

		assert_int_equal(ward_tls_peer_cert(h->s, &none), WARD_E_INVAL);
		assert_null(none);
	}
	for (int i = 0; i < HS_ROUNDS; i++) {
		int r;

		if (!h->cdone && !h->cfail) {
			r = step(h->c, NULL);
			h->cdone = r == 1;
			h->cfail = r == -1;
		}
		if (!h->sdone && !h->sfail) {
			r = step(h->s, &h->sreason);
			h->sdone = r == 1;
			h->sfail = r == -1;
		}
		if ((h->cdone || h->cfail) && (h->sdone || h->sfail))
			break;
	}
	h->sverify = SSL_get_verify_result(h->s);
	ERR_clear_error();
}

static void hs_free(struct hs *h)
{
	SSL_free(h->s);
	SSL_free(h->c);
	close(h->fds[0]);
	close(h->fds[1]);
}

/* A handshake that both sides finished; returns the verified client's info when cert given. */
static void expect_ok(SSL_CTX *cctx, int version, const char *want_serial)
{
	struct hs h;
	struct ward_cert *peer = NULL;
	struct ward_cert_info info;

	handshake(cctx, NULL, &h);
	if (!h.sdone || !h.cdone)
		fail_msg("handshake did not complete: server %s (reason %d), client %s",
		         h.sfail ? "failed" : "stalled", h.sreason, h.cfail ? "failed" : "ok");
	assert_int_equal(SSL_version(h.s), version);
	if (want_serial == NULL) {
		assert_int_equal(ward_tls_peer_cert(h.s, &peer), WARD_E_NOTFOUND);
		assert_null(peer);
	} else {
		assert_int_equal(ward_tls_peer_cert(h.s, &peer), WARD_OK);
		assert_int_equal(ward_x509_cert_info(peer, &info), WARD_OK);
		assert_string_equal(info.serial_number, want_serial);
		assert_string_equal(info.issuer_cn, "ward issuing CA");
		ward_x509_cert_free(peer);
	}
	/* Whatever was negotiated: ECDHE (or TLS 1.3's own key exchange) and AEAD. */
	{
		const SSL_CIPHER *ciph = SSL_get_current_cipher(h.s);
		int kx = SSL_CIPHER_get_kx_nid(ciph);

		assert_int_equal(SSL_CIPHER_is_aead(ciph), 1);
		assert_true(kx == NID_kx_ecdhe || kx == NID_kx_any);
		if (version == TLS1_2_VERSION)
			assert_int_equal(kx, NID_kx_ecdhe);
	}
	assert_null(SSL_get_current_compression(h.s));
	hs_free(&h);
}

/* A handshake the server refused; returns the server's verify result for inspection. */
static long expect_server_refuses(SSL_CTX *cctx, int want_reason)
{
	struct hs h;
	struct ward_cert *peer = NULL;
	long v;

	handshake(cctx, NULL, &h);
	if (!h.sfail)
		fail_msg("server did not refuse the handshake (server %s, client %s)",
		         h.sdone ? "done" : "stalled",
		         h.cdone   ? "done"
		         : h.cfail ? "failed"
		                   : "stalled");
	if (want_reason != 0 && h.sreason != want_reason)
		fail_msg("server refused with reason %d (%s), expected %d", h.sreason,
		         ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, h.sreason)), want_reason);
	assert_int_not_equal(ward_tls_peer_cert(h.s, &peer), WARD_OK);
	assert_null(peer);
	v = h.sverify;
	hs_free(&h);
	return v;
}

/* ---- tests --------------------------------------------------------------- */

static void test_no_client_cert(void **state)
{
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, 0, NULL, NULL, NULL);

	(void)state;
	expect_ok(c, TLS1_3_VERSION, NULL);
	SSL_CTX_free(c);
	c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL, NULL);
	expect_ok(c, TLS1_2_VERSION, NULL);
	SSL_CTX_free(c);
}

static void test_client_cert_tls13(void **state)
{
	SSL_CTX *c = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION, NULL, E.dev, E.dev_key);

	(void)state;
	expect_ok(c, TLS1_3_VERSION, "DEV-0001");
	SSL_CTX_free(c);
}

static void test_client_cert_tls12(void **state)
{
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL, E.dev, E.dev_key);

	(void)state;
	expect_ok(c, TLS1_2_VERSION, "DEV-0001");
	SSL_CTX_free(c);
	/* Each of the AEAD suites the server offers for a P-256 certificate. */
	c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", E.dev,
	               E.dev_key);
	expect_ok(c, TLS1_2_VERSION, "DEV-0001");
	SSL_CTX_free(c);
	c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", NULL, NULL);
	expect_ok(c, TLS1_2_VERSION, NULL);
	SSL_CTX_free(c);
}

static void test_tls11_refused(void **state)
{
	/* OpenSSL 3 needs security level 0 to even offer TLS 1.1. */
	SSL_CTX *c = client_ctx(TLS1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0", NULL, NULL);

	(void)state;
	(void)expect_server_refuses(c, SSL_R_UNSUPPORTED_PROTOCOL);
	SSL_CTX_free(c);
}

static void test_non_aead_refused(void **state)
{
	SSL_CTX *c = client_ctx(
	    TLS1_2_VERSION, TLS1_2_VERSION,
	    "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:AES128-GCM-SHA256", NULL, NULL);

	(void)state;
	(void)expect_server_refuses(c, SSL_R_NO_SHARED_CIPHER);
	SSL_CTX_free(c);
}

static void test_client_cert_other_ca(void **state)
{
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, 0, NULL, E.odev, E.odev_key);
	long v;

	(void)state;
	v = expect_server_refuses(c, 0);
	assert_int_not_equal(v, X509_V_OK);
	SSL_CTX_free(c);
	c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL, E.odev, E.odev_key);
	v = expect_server_refuses(c, 0);
	assert_int_not_equal(v, X509_V_OK);
	SSL_CTX_free(c);
}

static void test_client_cert_expired(void **state)
{
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, 0, NULL, E.expired, E.dev_key);

	(void)state;
	assert_int_equal(expect_server_refuses(c, 0), X509_V_ERR_CERT_HAS_EXPIRED);
	SSL_CTX_free(c);
	c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL, E.expired, E.dev_key);
	assert_int_equal(expect_server_refuses(c, 0), X509_V_ERR_CERT_HAS_EXPIRED);
	SSL_CTX_free(c);
}

static void test_server_cert_as_client_cert(void **state)
{
	/* Chains to our CA, but serverAuth only: not a client certificate. */
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, 0, NULL, E.srv, E.srv_key);

	(void)state;
	assert_int_equal(expect_server_refuses(c, 0), X509_V_ERR_INVALID_PURPOSE);
	SSL_CTX_free(c);
}

/* Send close_notify both ways, so OpenSSL would keep the session if it could (no free). */
static void hs_close(struct hs *h)
{
	char byte;

	/* Let the client take in whatever followed the handshake (TLS 1.3 tickets). */
	(void)SSL_read(h->c, &byte, 1);
	(void)SSL_shutdown(h->c);
	(void)SSL_shutdown(h->s);
	ERR_clear_error();
}

static void no_resumption(int version)
{
	SSL_CTX *c = client_ctx(version, version, NULL, E.dev, E.dev_key);
	struct hs h;
	SSL_SESSION *sess;
	uint64_t opts;

	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT);
	handshake(c, NULL, &h);
	assert_true(h.sdone && h.cdone);
	opts = SSL_get_options(h.s);
	assert_true((opts & SSL_OP_NO_TICKET) != 0);
	assert_true((opts & SSL_OP_NO_RENEGOTIATION) != 0);
	assert_true((opts & SSL_OP_NO_COMPRESSION) != 0);
	hs_close(&h);
	sess = SSL_get1_session(h.c);
	assert_non_null(sess);
	hs_free(&h);
	handshake(c, sess, &h);
	assert_true(h.sdone && h.cdone);
	assert_int_equal(SSL_session_reused(h.c), 0);
	assert_int_equal(SSL_session_reused(h.s), 0);
	hs_close(&h);
	hs_free(&h);
	SSL_SESSION_free(sess);
	SSL_CTX_free(c);
}

static void test_no_resumption(void **state)
{
	(void)state;
	no_resumption(TLS1_2_VERSION);
	no_resumption(TLS1_3_VERSION);
}

/*
 * ward-server passes only its issuing CA as the client CA: a certificate
 * that chains to the same root through anything else (here: straight from
 * the root) is refused, and the fleet's device certificates still verify.
 */
static void test_client_ca_issuing_only(void **state)
{
	struct ward_tls_server_opts o;
	struct ward_tls_server *s = NULL;
	struct ward_msg m = {{0}};
	struct ward_cert *only[1] = {E.iss}, *direct;
	char path[256];
	SSL_CTX *c;

	(void)state;
	write_pem("issuing-only.pem", only, 1, path, sizeof(path));
	o.cert_chain = E.chain;
	o.key = E.key;
	o.client_ca = path;
	must(ward_tls_server_new(&o, &s, &m), &m, "server with the issuing CA only");
	E.target = s;
	c = client_ctx(TLS1_2_VERSION, 0, NULL, E.dev, E.dev_key);
	expect_ok(c, TLS1_3_VERSION, "DEV-0001");
	SSL_CTX_free(c);
	direct = issue(E.root, E.root_key, WARD_CERT_DEVICE, "DEV-ROOT", E.dev_key, E.now - 60,
	               E.now + DAY);
	c = client_ctx(TLS1_2_VERSION, 0, NULL, direct, E.dev_key);
	assert_int_not_equal(expect_server_refuses(c, 0), X509_V_OK);
	SSL_CTX_free(c);
	E.target = NULL;
	ward_x509_cert_free(direct);
	ward_tls_server_free(s);
}

static void test_server_new_errors(void **state)
{
	struct ward_tls_server_opts o;
	struct ward_tls_server *s = NULL;
	struct ward_msg m = {{0}};
	char missing[256], devkey[256], empty[256], garbage[256], big[256];
	uint8_t *junk;

	(void)state;
	assert_int_equal(ward_snprintf(missing, sizeof(missing), "%s/nope.pem", E.dir), WARD_OK);
	write_key("device.key", E.dev_key, devkey, sizeof(devkey));
	assert_int_equal(ward_snprintf(empty, sizeof(empty), "%s/empty.pem", E.dir), WARD_OK);
	must(ward_file_write_atomic(empty, "", 0, 0644, &m), &m, empty);
	assert_int_equal(ward_snprintf(garbage, sizeof(garbage), "%s/garbage.key", E.dir), WARD_OK);
	must(ward_file_write_atomic(garbage, "not a key\n", 10, 0600, &m), &m, garbage);
	assert_int_equal(ward_snprintf(big, sizeof(big), "%s/big.key", E.dir), WARD_OK);
	junk = calloc(1, 20000);
	assert_non_null(junk);
	must(ward_file_write_atomic(big, junk, 20000, 0600, &m), &m, big);
	free(junk);

	o.cert_chain = E.chain;
	o.key = E.key;
	o.client_ca = E.client_ca;
#define REFUSED(want)                                                                              \
	do {                                                                                       \
		m.text[0] = '\0';                                                                  \
		assert_int_equal(ward_tls_server_new(&o, &s, &m), (want));                         \
		assert_null(s);                                                                    \
		assert_true(m.text[0] != '\0');                                                    \
	} while (0)
	o.cert_chain = missing;
	REFUSED(WARD_E_NOTFOUND);
	o.cert_chain = E.chain;
	o.key = devkey; /* a good key, but not the certificate's */
	REFUSED(WARD_E_INVAL);
	o.key = garbage;
	REFUSED(WARD_E_PARSE);
	o.key = big;
	REFUSED(WARD_E_TOOBIG);
	o.key = E.key;
	o.client_ca = empty;
	REFUSED(WARD_E_PARSE);
	o.client_ca = E.key; /* a key is not a CA certificate */
	REFUSED(WARD_E_PARSE);
	o.client_ca = NULL;
	REFUSED(WARD_E_INVAL);
#undef REFUSED
	assert_int_equal(ward_tls_server_new(NULL, &s, &m), WARD_E_INVAL);
	assert_null(ward_tls_server_ssl(NULL));
	ward_tls_server_free(NULL);
	assert_int_equal(ward_tls_peer_cert(NULL, NULL), WARD_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_client_cert),
	    cmocka_unit_test(test_client_cert_tls13),
	    cmocka_unit_test(test_client_cert_tls12),
	    cmocka_unit_test(test_tls11_refused),
	    cmocka_unit_test(test_non_aead_refused),
	    cmocka_unit_test(test_client_cert_other_ca),
	    cmocka_unit_test(test_client_cert_expired),
	    cmocka_unit_test(test_server_cert_as_client_cert),
	    cmocka_unit_test(test_no_resumption),
	    cmocka_unit_test(test_client_ca_issuing_only),
	    cmocka_unit_test(test_server_new_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
