/*
 * lib/crypto/tls.c — the TLS server context of ward-server (OpenSSL 3).
 *
 * One SSL_CTX per struct ward_tls_server, fixed once built: TLS 1.2 (ECDHE +
 * AEAD only) and 1.3; no compression, renegotiation or resumption (no tickets,
 * no cache: each connection verifies its client certificate afresh). The trust
 * store holds exactly the client CA file, never the system's. A client
 * certificate is requested, not required; one that is sent must verify
 * (strict, depth 2) or the handshake fails. Files are read with fixed limits;
 * the key's text lives only in a wiped secret buffer and goes through
 * crypto.h's strict PKCS#8 reader (P-256 or ed25519).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/tls.h"
#include "ward/x509.h"

#include "internal.h"

#define KEY_FILE_MAX  16384u /* a PKCS#8 PEM of a P-256 or ed25519 key is ~250 bytes */
#define CHAIN_MAX     4      /* server certificate, issuing CA, and a little room */
#define CLIENT_CA_MAX 16     /* CA certificates trusted for client certificates */
#define VERIFY_DEPTH  2      /* device certificate, issuing CA, root */

/* TLS 1.2: forward-secret ECDHE with AEAD only. TLS 1.3: its three common AEAD suites. */
static const char TLS12_CIPHERS[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
static const char TLS13_SUITES[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char GROUPS[] = "X25519:P-256:P-384";

struct ward_tls_server {
	SSL_CTX *ctx; /* owned; read-only once ward_tls_server_new returns */
};

/* Record "what (openssl: reason)" and clear OpenSSL's error queue. */
static ward_err ossl_fail(struct ward_msg *m, ward_err e, const char *what)
{
	unsigned long code = ERR_peek_last_error();
	const char *reason = code != 0 ? ERR_reason_error_string(code) : NULL;

	ERR_clear_error();
	if (reason == NULL)
		return ward_msg_set(m, e, "%s", what);
	return ward_msg_set(m, e, "%s (openssl: %s)", what, reason);
}

/*
 * Read a secret file of at most max bytes into out (initialised here as a
 * secret buffer). Every intermediate copy is wiped.
 */
static ward_err read_secret_file(const char *path, size_t max, struct ward_buf *out,
                                 struct ward_msg *m)
{
	ward_err err = WARD_E_IO;
	struct ward_buf b;
	uint8_t chunk[1024];
	int fd;

	ward_buf_init_secret(&b, max);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = ward_msg_set(m, errno == ENOENT ? WARD_E_NOTFOUND : WARD_E_IO, "%s: %s", path,
		                   strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = ward_msg_set(m, WARD_E_IO, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		err = ward_buf_append(&b, chunk, (size_t)r);
		if (err != WARD_OK) {
			err = ward_msg_set(m, err, "%s: larger than %zu bytes; not a key file",
			                   path, max);
			goto out;
		}
	}
	*out = b;
	ward_buf_init_secret(&b, max);
	err = WARD_OK;
out:
	ward_wipe(chunk, sizeof(chunk));
	if (fd >= 0)
		close(fd);
	ward_buf_free(&b);
	return err;
}

static void free_certs(struct ward_cert **certs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ward_x509_cert_free(certs[i]);
	free(certs);
}

/* The server certificate (first) and its chain (the rest) from a PEM file. */
static ward_err load_chain(SSL_CTX *ctx, const char *path, struct ward_msg *m)
{
	ward_err err;
	struct ward_cert **certs = NULL;
	size_t n = 0;

	err = ward_x509_certs_from_pem_file(path, CHAIN_MAX, &certs, &n, m);
	if (err != WARD_OK)
		return err;
	if (SSL_CTX_use_certificate(ctx, ward_x509_cert_x509(certs[0])) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "cannot use the server certificate");
		err = ward_msg_prefix(m, err, "%s: ", path);
		goto out;
	}
	for (size_t i = 1; i < n; i++) {
		if (SSL_CTX_add1_chain_cert(ctx, ward_x509_cert_x509(certs[i])) != 1) {
			err = ossl_fail(m, WARD_E_CRYPTO, "cannot add a chain certificate");
			err = ward_msg_prefix(m, err, "%s: ", path);
			goto out;
		}
	}
	err = WARD_OK;
out:
	free_certs(certs, n);
	return err;
}

/* The server's private key (PKCS#8 PEM, P-256 or ed25519), checked against its certificate. */
static ward_err load_key(SSL_CTX *ctx, const char *path, struct ward_msg *m)
{
	ward_err err;
	struct ward_buf text;
	struct ward_key *key = NULL;

	err = read_secret_file(path, KEY_FILE_MAX, &text, m);
	if (err != WARD_OK)
		return err;
	err = ward_crypto_key_from_private_pem((const char *)text.p, text.len, &key, m);
	ward_buf_free(&text);
	if (err != WARD_OK) {
		err = ward_msg_prefix(m, err, "%s: ", path);
		goto out;
	}
	if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), ward_crypto_key_evp(key)) != 1) {
		ERR_clear_error();
		err =
		    ward_msg_set(m, WARD_E_INVAL,
		                 "%s: the private key does not match the server certificate", path);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, ward_crypto_key_evp(key)) != 1 || /* takes a reference */
	    SSL_CTX_check_private_key(ctx) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "cannot use the private key");
		err = ward_msg_prefix(m, err, "%s: ", path);
		goto out;
	}
	err = WARD_OK;
out:
	ward_crypto_key_free(key);
	return err;
}

/* Trust exactly the client CA file for client certificates, and advertise their names. */
static ward_err load_client_ca(SSL_CTX *ctx, const char *path, struct ward_msg *m)
{
	ward_err err;
	struct ward_cert **certs = NULL;
	size_t n = 0;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);

	err = ward_x509_certs_from_pem_file(path, CLIENT_CA_MAX, &certs, &n, m);
	if (err != WARD_OK)
		return err;
	for (size_t i = 0; i < n; i++) {
		X509 *x = ward_x509_cert_x509(certs[i]);

		if (X509_STORE_add_cert(store, x) != 1 || SSL_CTX_add_client_CA(ctx, x) != 1) {
			err = ossl_fail(m, WARD_E_CRYPTO, "cannot trust a client CA certificate");
			err = ward_msg_prefix(m, err, "%s: ", path);
			goto out;
		}
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL); /* requested, not required */
	SSL_CTX_set_verify_depth(ctx, VERIFY_DEPTH);
	if (X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx),
	                                X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "cannot set strict verification");
		goto out;
	}
	err = WARD_OK;
out:
	free_certs(certs, n);
	return err;
}

ward_err ward_tls_server_new(const struct ward_tls_server_opts *o, struct ward_tls_server **out,
                             struct ward_msg *m)
{
	static const unsigned char sid_ctx[] = "ward-server";
	ward_err err = WARD_E_CRYPTO;
	SSL_CTX *ctx = NULL;
	struct ward_tls_server *s = NULL;

	if (o == NULL || o->cert_chain == NULL || o->key == NULL || o->client_ca == NULL ||
	    out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL,
		                   "TLS: the server needs a certificate chain, a key and a client "
		                   "CA file");
		goto out;
	}
	ctx = SSL_CTX_new_ex(NULL, NULL, TLS_server_method());
	if (ctx == NULL) {
		err = ossl_fail(m, WARD_E_CRYPTO, "TLS: cannot create a context");
		goto out;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, 0) != 1 || /* 0: the highest, TLS 1.3 */
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, GROUPS) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "TLS: cannot set versions, ciphers or groups");
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_num_tickets(ctx, 0) != 1 ||
	    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "TLS: cannot turn session resumption off");
		goto out;
	}
	err = load_chain(ctx, o->cert_chain, m);
	if (err != WARD_OK)
		goto out;
	err = load_key(ctx, o->key, m);
	if (err != WARD_OK)
		goto out;
	err = load_client_ca(ctx, o->client_ca, m);
	if (err != WARD_OK)
		goto out;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	s->ctx = ctx;
	ctx = NULL;
	*out = s;
	err = WARD_OK;
out:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return err;
}

void ward_tls_server_free(struct ward_tls_server *s)
{
	if (s == NULL)
		return;
	SSL_CTX_free(s->ctx); /* OpenSSL frees the key (cleansed) and certificates with it */
	free(s);
}

struct ssl_st *ward_tls_server_ssl(struct ward_tls_server *s)
{
	SSL *ssl;

	if (s == NULL)
		return NULL;
	ssl = SSL_new(s->ctx);
	if (ssl == NULL)
		ERR_clear_error();
	return ssl;
}

ward_err ward_tls_peer_cert(struct ssl_st *ssl, struct ward_cert **out)
{
	ward_err result = WARD_E_VERIFY;
	X509 *x = NULL;
	struct ward_cert *c = NULL;

	if (ssl == NULL || out == NULL) {
		result = WARD_E_INVAL;
		goto out;
	}
	/* Before the handshake ends the verify result still reads X509_V_OK: ask afterwards. */
	if (!SSL_is_init_finished(ssl)) {
		result = WARD_E_INVAL;
		goto out;
	}
	x = SSL_get1_peer_certificate(ssl);
	if (x == NULL) {
		result = WARD_E_NOTFOUND;
		goto out;
	}
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;
	result = ward_x509_cert_from_x509(x, &c, NULL);
	if (result != WARD_OK)
		goto out;
	*out = c;
	result = WARD_OK;
out:
	ERR_clear_error();
	X509_free(x);
	return result;
}
