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
 *
 * The client side (lib/net/'s HTTPS) shares the versions, ciphers and groups
 * and adds: trust anchors from a CA file read with a fixed limit (any key
 * type: a mirror's public CA may be RSA) or the system's store; host name or
 * IP address checked by OpenSSL during the handshake; SNI for names. The
 * socket sits under a small BIO of our own that reads with recv() and writes
 * with send(MSG_NOSIGNAL), so a vanished peer is an error and not a SIGPIPE,
 * and that never blocks: each call tells its caller what to wait for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/tls.h"
#include "ward/x509.h"

#include "internal.h"

#define KEY_FILE_MAX     16384u         /* a PKCS#8 PEM of a P-256 or ed25519 key is ~250 bytes */
#define CHAIN_MAX        4              /* server certificate, issuing CA, and a little room */
#define CLIENT_CA_MAX    16             /* CA certificates trusted for client certificates */
#define VERIFY_DEPTH     2              /* device certificate, issuing CA, root */
#define CA_FILE_MAX      (1024u * 1024) /* a client's trust anchors (Debian's bundle: ~220 KiB) */
#define CLIENT_CHAIN_MAX 4              /* client certificate and its issuing CAs */
#define HOST_MAX         255            /* a DNS name (253) or an IP literal */

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

/* ---- client side ------------------------------------------------------ */

struct ward_tls_client {
	SSL_CTX *ctx;       /* owned; read-only once ward_tls_client_new returns */
	BIO_METHOD *method; /* the socket BIO below, one per context */
};

struct ward_tls_conn {
	SSL *ssl;                /* owns its BIO */
	int fd;                  /* borrowed socket */
	bool eof;                /* recv() returned 0: the peer closed its side */
	char host[HOST_MAX + 1]; /* what the certificate must name, for messages */
};

/*
 * The socket BIO: recv/send on the borrowed fd, never blocking (the fd is
 * non-blocking), MSG_NOSIGNAL on send. BIO_CTRL_EOF reports recv()'s 0 so
 * that OpenSSL can tell an unexpected EOF from a close_notify.
 */
static int sock_write(BIO *b, const char *p, int n)
{
	struct ward_tls_conn *t = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	if (t == NULL || n < 0)
		return -1;
	do
		r = send(t->fd, p, (size_t)n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)r;
}

static int sock_read(BIO *b, char *p, int n)
{
	struct ward_tls_conn *t = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	if (t == NULL || n < 0)
		return -1;
	do
		r = recv(t->fd, p, (size_t)n, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	if (r == 0)
		t->eof = true;
	return (int)r;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct ward_tls_conn *t = BIO_get_data(b);

	(void)num;
	(void)ptr;
	if (cmd == BIO_CTRL_FLUSH)
		return 1;
	if (cmd == BIO_CTRL_EOF)
		return t != NULL && t->eof;
	return 0;
}

static int sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int sock_destroy(BIO *b)
{
	BIO_set_data(b, NULL);
	return 1;
}

/*
 * A method per client context, freed with it. Its type carries no index from
 * BIO_get_new_index(): OpenSSL 3.0 hands those out from a process-wide
 * counter that, past 127 calls, spills into the type's flag bits (0x100 is
 * BIO_TYPE_DESCRIPTOR), and a process may make any number of contexts. No
 * descriptor flag either: SSL_get_fd() must not mistake this BIO for a socket
 * BIO and ask it for an fd.
 */
static BIO_METHOD *sock_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "ward socket");

	if (m == NULL)
		return NULL;
	if (BIO_meth_set_write(m, sock_write) != 1 || BIO_meth_set_read(m, sock_read) != 1 ||
	    BIO_meth_set_ctrl(m, sock_ctrl) != 1 || BIO_meth_set_create(m, sock_create) != 1 ||
	    BIO_meth_set_destroy(m, sock_destroy) != 1) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

/* Every certificate of a PEM file (at most CA_FILE_MAX bytes) becomes a trust anchor. */
static ward_err load_trust(SSL_CTX *ctx, const char *path, struct ward_msg *m)
{
	ward_err err;
	struct ward_buf text;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	BIO *bio = NULL;
	X509 *x = NULL;
	size_t n = 0;

	err = ward_file_read(path, CA_FILE_MAX, &text, m);
	if (err != WARD_OK)
		return ward_msg_prefix(m, err, "TLS CA file: ");
	if (text.len == 0 || (bio = BIO_new_mem_buf(text.p, (int)text.len)) == NULL) {
		err = ward_msg_set(m, WARD_E_PARSE, "%s: no certificate in the TLS CA file", path);
		goto out;
	}
	for (;;) {
		unsigned long code;

		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (x == NULL) {
			code = ERR_peek_last_error();
			if (ERR_GET_LIB(code) == ERR_LIB_PEM &&
			    ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			err = ossl_fail(m, WARD_E_PARSE, "malformed certificate");
			err = ward_msg_prefix(m, err, "%s: ", path);
			goto out;
		}
		if (X509_STORE_add_cert(store, x) != 1) {
			code = ERR_peek_last_error();
			/* The same certificate twice in a bundle is harmless. */
			if (ERR_GET_REASON(code) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
				err = ossl_fail(m, WARD_E_CRYPTO, "cannot trust a CA certificate");
				err = ward_msg_prefix(m, err, "%s: ", path);
				goto out;
			}
			ERR_clear_error();
		}
		X509_free(x);
		x = NULL;
		n++;
	}
	if (n == 0) {
		err = ward_msg_set(m, WARD_E_PARSE, "%s: no certificate in the TLS CA file", path);
		goto out;
	}
	err = WARD_OK;
out:
	X509_free(x);
	BIO_free(bio);
	ward_buf_free(&text);
	return err;
}

/* The client certificate, its chain and its key (PKCS#8 through crypto.h). */
static ward_err load_client_identity(SSL_CTX *ctx, const char *cert, const char *keypath,
                                     struct ward_msg *m)
{
	ward_err err;
	struct ward_cert **certs = NULL;
	struct ward_buf text;
	struct ward_key *key = NULL;
	size_t n = 0;

	err = ward_x509_certs_from_pem_file(cert, CLIENT_CHAIN_MAX, &certs, &n, m);
	if (err != WARD_OK)
		return ward_msg_prefix(m, err, "TLS client certificate: ");
	if (n == 0) {
		err = ward_msg_set(m, WARD_E_PARSE, "%s: no certificate in the file", cert);
		goto out;
	}
	if (SSL_CTX_use_certificate(ctx, ward_x509_cert_x509(certs[0])) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "cannot use the client certificate");
		err = ward_msg_prefix(m, err, "%s: ", cert);
		goto out;
	}
	for (size_t i = 1; i < n; i++) {
		if (SSL_CTX_add1_chain_cert(ctx, ward_x509_cert_x509(certs[i])) != 1) {
			err = ossl_fail(m, WARD_E_CRYPTO, "cannot add a chain certificate");
			err = ward_msg_prefix(m, err, "%s: ", cert);
			goto out;
		}
	}
	err = read_secret_file(keypath, KEY_FILE_MAX, &text, m);
	if (err != WARD_OK)
		goto out;
	err = ward_crypto_key_from_private_pem((const char *)text.p, text.len, &key, m);
	ward_buf_free(&text);
	if (err != WARD_OK) {
		err = ward_msg_prefix(m, err, "%s: ", keypath);
		goto out;
	}
	if (X509_check_private_key(ward_x509_cert_x509(certs[0]), ward_crypto_key_evp(key)) != 1) {
		ERR_clear_error();
		err = ward_msg_set(m, WARD_E_INVAL,
		                   "%s: the private key does not match the client certificate %s",
		                   keypath, cert);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, ward_crypto_key_evp(key)) != 1 || /* takes a reference */
	    SSL_CTX_check_private_key(ctx) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "cannot use the private key");
		err = ward_msg_prefix(m, err, "%s: ", keypath);
		goto out;
	}
	err = WARD_OK;
out:
	ward_crypto_key_free(key);
	free_certs(certs, n);
	return err;
}

ward_err ward_tls_client_new(const struct ward_tls_client_opts *o, struct ward_tls_client **out,
                             struct ward_msg *m)
{
	ward_err err = WARD_E_CRYPTO;
	SSL_CTX *ctx = NULL;
	BIO_METHOD *method = NULL;
	struct ward_tls_client *c = NULL;

	if (o == NULL || out == NULL || (o->client_cert == NULL) != (o->client_key == NULL)) {
		err = ward_msg_set(m, WARD_E_INVAL,
		                   "TLS: a client certificate needs its key, and a key its "
		                   "certificate");
		goto out;
	}
	ctx = SSL_CTX_new_ex(NULL, NULL, TLS_client_method());
	method = sock_method();
	if (ctx == NULL || method == NULL) {
		err = ossl_fail(m, WARD_E_NOMEM, "TLS: cannot create a client context");
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
	SSL_CTX_set_options(ctx,
	                    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (o->ca_file != NULL) {
		err = load_trust(ctx, o->ca_file, m);
		if (err != WARD_OK)
			goto out;
		/* The file's certificates are anchors in their own right (as curl does). */
		if (X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx),
		                                X509_V_FLAG_PARTIAL_CHAIN) != 1) {
			err = ossl_fail(m, WARD_E_CRYPTO, "TLS: cannot set verification flags");
			goto out;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "TLS: cannot load the system's CA certificates");
		goto out;
	}
	if (o->client_cert != NULL) {
		err = load_client_identity(ctx, o->client_cert, o->client_key, m);
		if (err != WARD_OK)
			goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	c->ctx = ctx;
	c->method = method;
	ctx = NULL;
	method = NULL;
	*out = c;
	err = WARD_OK;
out:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	BIO_meth_free(method);
	return err;
}

void ward_tls_client_free(struct ward_tls_client *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->ctx); /* the key goes with it, cleansed by OpenSSL */
	BIO_meth_free(c->method);
	free(c);
}

/* An IPv4 or IPv6 literal (IPv6 without brackets). */
static bool is_ip_literal(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

ward_err ward_tls_conn_new(struct ward_tls_client *c, int fd, const char *host,
                           struct ward_tls_conn **out, struct ward_msg *m)
{
	ward_err err = WARD_E_CRYPTO;
	struct ward_tls_conn *t = NULL;
	X509_VERIFY_PARAM *param;
	BIO *bio = NULL;
	size_t hlen;

	if (c == NULL || fd < 0 || host == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "TLS: missing context, socket or host name");
		goto out;
	}
	hlen = strlen(host);
	if (hlen == 0 || hlen > HOST_MAX) {
		err = ward_msg_set(m, WARD_E_INVAL, "TLS: host name empty or longer than %d bytes",
		                   HOST_MAX);
		goto out;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(t->host, host, hlen + 1);
	t->fd = fd;
	t->ssl = SSL_new(c->ctx);
	bio = BIO_new(c->method);
	if (t->ssl == NULL || bio == NULL) {
		err = ossl_fail(m, WARD_E_NOMEM, "TLS: cannot create a connection");
		goto out;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio); /* the SSL owns the BIO from here */
	bio = NULL;
	param = SSL_get0_param(t->ssl);
	if (is_ip_literal(host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1) {
			err =
			    ossl_fail(m, WARD_E_CRYPTO, "TLS: cannot set the IP address to verify");
			goto out;
		}
	} else {
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (X509_VERIFY_PARAM_set1_host(param, host, hlen) != 1 ||
		    SSL_set_tlsext_host_name(t->ssl, host) != 1) {
			err =
			    ossl_fail(m, WARD_E_CRYPTO, "TLS: cannot set the host name to verify");
			goto out;
		}
	}
	SSL_set_connect_state(t->ssl);
	*out = t;
	t = NULL;
	err = WARD_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	ward_tls_conn_free(t);
	return err;
}

void ward_tls_conn_free(struct ward_tls_conn *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t);
}

/*
 * Turn the result r of a failed or unfinished SSL call into a wait or an
 * error; what names the step ("handshake", "read", "write"). errno is read
 * first: OpenSSL's own calls below may change it.
 */
static ward_err io_result(struct ward_tls_conn *t, int r, const char *what, enum ward_tls_wait *w,
                          struct ward_msg *m)
{
	int saved = errno;
	int e = SSL_get_error(t->ssl, r);
	unsigned long code;
	long vr;
	ward_err err;

	*w = WARD_TLS_DONE;
	if (e == SSL_ERROR_WANT_READ) {
		*w = WARD_TLS_WANT_READ;
		return WARD_OK;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		*w = WARD_TLS_WANT_WRITE;
		return WARD_OK;
	}
	if (e == SSL_ERROR_SYSCALL) {
		ERR_clear_error();
		if (t->eof || saved == 0)
			return ward_msg_set(m, WARD_E_NET, "TLS %s: %s closed the connection", what,
			                    t->host);
		return ward_msg_set(m, WARD_E_NET, "TLS %s with %s: %s", what, t->host,
		                    strerror(saved));
	}
	if (e == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return ward_msg_set(m, WARD_E_NET, "TLS %s: %s closed the connection", what,
		                    t->host);
	}
	if (e != SSL_ERROR_SSL) {
		ERR_clear_error();
		return ward_msg_set(m, WARD_E_NET, "TLS %s with %s: unexpected OpenSSL state %d",
		                    what, t->host, e);
	}
	vr = SSL_get_verify_result(t->ssl);
	if (vr != X509_V_OK) {
		ERR_clear_error();
		return ward_msg_set(m, WARD_E_VERIFY, "certificate verify failed: %s (server %s)",
		                    X509_verify_cert_error_string(vr), t->host);
	}
	code = ERR_peek_last_error();
	if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return ward_msg_set(m, WARD_E_NET,
		                    "TLS %s: %s closed the connection without close_notify "
		                    "(truncated?)",
		                    what, t->host);
	}
	err = ossl_fail(m, WARD_E_NET, "failed");
	return ward_msg_prefix(m, err, "TLS %s with %s: ", what, t->host);
}

ward_err ward_tls_conn_handshake(struct ward_tls_conn *t, enum ward_tls_wait *w, struct ward_msg *m)
{
	int r;

	*w = WARD_TLS_DONE;
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(t->ssl);
	if (r == 1)
		return WARD_OK;
	return io_result(t, r, "handshake", w, m);
}

ward_err ward_tls_conn_read(struct ward_tls_conn *t, void *buf, size_t len, size_t *got,
                            enum ward_tls_wait *w, struct ward_msg *m)
{
	size_t n = 0;
	int r;

	*got = 0;
	*w = WARD_TLS_DONE;
	ERR_clear_error();
	errno = 0;
	r = SSL_read_ex(t->ssl, buf, len, &n);
	if (r == 1) {
		*got = n;
		return WARD_OK;
	}
	if (SSL_get_error(t->ssl, r) == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return WARD_OK; /* close_notify: a clean end */
	}
	return io_result(t, r, "read", w, m);
}

ward_err ward_tls_conn_write(struct ward_tls_conn *t, const void *buf, size_t len, size_t *put,
                             enum ward_tls_wait *w, struct ward_msg *m)
{
	size_t n = 0;
	int r;

	*put = 0;
	*w = WARD_TLS_DONE;
	ERR_clear_error();
	errno = 0;
	r = SSL_write_ex(t->ssl, buf, len, &n);
	if (r == 1) {
		*put = n;
		return WARD_OK;
	}
	return io_result(t, r, "write", w, m);
}

bool ward_tls_conn_pending(const struct ward_tls_conn *t)
{
	return t != NULL && (SSL_pending(t->ssl) > 0 || SSL_has_pending(t->ssl) == 1);
}

void ward_tls_conn_shutdown(struct ward_tls_conn *t)
{
	if (t == NULL)
		return;
	/* After a finished handshake only, and one attempt: a full socket buffer loses it. */
	if (SSL_is_init_finished(t->ssl))
		(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
}
