/*
 * ward/tls.h — TLS for ward-server and its peers, behind the crypto
 * boundary (lib/crypto/tls.c). The server side hands out OpenSSL SSL objects
 * as opaque `struct ssl_st *` for libevent's bufferevent_openssl, so code
 * outside lib/crypto never includes OpenSSL headers.
 *
 * Policy: TLS 1.2 and 1.3 only; ECDHE key exchange with AEAD ciphers; the
 * server's certificate chain and key from files; client certificates are
 * requested (not required at the TLS layer: EST enrollment authenticates with
 * HTTP Basic instead) and, when sent, verified against the client CA with
 * validity checked; a client certificate that does not verify fails the
 * handshake. The client CA file's certificates are trust anchors in their
 * own right (X509_V_FLAG_PARTIAL_CHAIN): ward-server passes its issuing CA,
 * so only certificates of this fleet's online issuing CA are accepted, not
 * anything else that chains to the same root. Authorization (which endpoint needs which identity, revocation)
 * is the server's job, on the verified certificate.
 */
#ifndef WARD_TLS_H
#define WARD_TLS_H

#include "ward/err.h"
#include "ward/x509.h"

struct ssl_st;
struct ward_tls_server;

struct ward_tls_server_opts {
	const char *cert_chain; /* PEM: server certificate, then its issuing CA */
	const char *key;        /* PEM (PKCS#8) private key of the server certificate */
	const char *client_ca;  /* PEM: CA certificates that client certificates must chain to */
};

ward_err ward_tls_server_new(const struct ward_tls_server_opts *o, struct ward_tls_server **out,
			     struct ward_msg *m) WARD_MUST_USE;
void ward_tls_server_free(struct ward_tls_server *s); /* accepts NULL */
/* A new server-side SSL object for one connection (owned by the caller / libevent). */
struct ssl_st *ward_tls_server_ssl(struct ward_tls_server *s);
/* The client's verified certificate on an established connection; WARD_E_NOTFOUND when none. */
ward_err ward_tls_peer_cert(struct ssl_st *ssl, struct ward_cert **out) WARD_MUST_USE;

#endif
