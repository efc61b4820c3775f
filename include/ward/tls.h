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
 *
 * The client side (struct ward_tls_client, struct ward_tls_conn) is what
 * lib/net/ speaks HTTPS with. Policy: TLS 1.2 minimum with the same ECDHE
 * AEAD ciphers and groups as the server; the peer must verify against the CA
 * file (its certificates are trust anchors, X509_V_FLAG_PARTIAL_CHAIN, as
 * curl does) or the system's default store; the host name (or IP address,
 * for an IP literal) must match the certificate; SNI is sent for names; an
 * optional client certificate and its PKCS#8 key (read through crypto.h, so
 * P-256 or ed25519) are presented when asked. No compression, no
 * renegotiation, no session resumption. Connections are non-blocking: every
 * step says whether it needs the socket readable or writable, and the
 * caller waits with its own deadline, so no wait here is unbounded. The
 * socket is written with MSG_NOSIGNAL: a peer that goes away is an error,
 * never a SIGPIPE.
 */
#ifndef WARD_TLS_H
#define WARD_TLS_H

#include <stdbool.h>

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

/* ---- client side ------------------------------------------------------ */

struct ward_tls_client; /* an SSL_CTX configured once, shared by connections */
struct ward_tls_conn;   /* one client connection over a connected socket */

struct ward_tls_client_opts {
	const char *ca_file;     /* PEM trust anchors (at most 1 MiB); NULL = the system's store */
	const char *client_cert; /* PEM: client certificate, then its chain; NULL = none */
	const char *client_key;  /* PEM (PKCS#8) private key of client_cert; with it only */
};

/*
 * A client context with the policy above. The files are read now: a missing
 * or malformed CA file, certificate or key fails here with a message naming
 * the file. Caller frees *out with ward_tls_client_free.
 */
ward_err ward_tls_client_new(const struct ward_tls_client_opts *o, struct ward_tls_client **out,
                             struct ward_msg *m) WARD_MUST_USE;
void ward_tls_client_free(struct ward_tls_client *c); /* accepts NULL */

/* What a non-blocking step needs before it can go on. */
enum ward_tls_wait {
	WARD_TLS_DONE = 0,   /* the step finished (or failed: see its ward_err) */
	WARD_TLS_WANT_READ,  /* call again when the socket is readable */
	WARD_TLS_WANT_WRITE, /* call again when the socket is writable */
};

/*
 * A connection over fd, a connected non-blocking stream socket that stays
 * the caller's (it is neither closed nor shut down here; close it after
 * ward_tls_conn_free). host is what the server's certificate must name: a
 * DNS name (also sent as SNI) or an IPv4/IPv6 literal without brackets
 * (matched against the iPAddress names; no SNI). Caller frees *out.
 */
ward_err ward_tls_conn_new(struct ward_tls_client *c, int fd, const char *host,
                           struct ward_tls_conn **out, struct ward_msg *m) WARD_MUST_USE;
void ward_tls_conn_free(struct ward_tls_conn *t); /* accepts NULL; sends no alert */

/*
 * Drive the handshake. WARD_OK with *w == WARD_TLS_DONE: established; WARD_OK
 * with WANT_READ/WANT_WRITE: wait for the socket and call again. A server
 * certificate that does not verify or does not match host fails with
 * WARD_E_VERIFY and "certificate verify failed: <reason>"; anything else
 * with WARD_E_NET and OpenSSL's reason (e.g. the server refused our client
 * certificate). Example:
 *
 *	enum ward_tls_wait w;
 *	while ((e = ward_tls_conn_handshake(t, &w, m)) == WARD_OK && w != WARD_TLS_DONE)
 *		if ((e = wait_for(fd, w == WARD_TLS_WANT_READ ? POLLIN : POLLOUT, deadline)))
 *			break;
 */
ward_err ward_tls_conn_handshake(struct ward_tls_conn *t, enum ward_tls_wait *w,
                                 struct ward_msg *m) WARD_MUST_USE;

/*
 * Read up to len bytes. WARD_OK and *w == DONE: *got bytes arrived, or
 * *got == 0 when the server closed the connection with a TLS close_notify.
 * WARD_OK and WANT_*: nothing yet, wait and call again. A connection closed
 * without close_notify (possibly truncated) is WARD_E_NET, as is any TLS or
 * socket failure. Data OpenSSL already holds is returned without touching
 * the socket, so call this before waiting, never only after poll().
 */
ward_err ward_tls_conn_read(struct ward_tls_conn *t, void *buf, size_t len, size_t *got,
                            enum ward_tls_wait *w, struct ward_msg *m) WARD_MUST_USE;

/*
 * Write up to len (> 0) bytes. WARD_OK and DONE: *put (> 0) bytes were taken;
 * WANT_*: wait and call again with the same buffer and length (OpenSSL's
 * rule for a retried write). Failures are WARD_E_NET.
 */
ward_err ward_tls_conn_write(struct ward_tls_conn *t, const void *buf, size_t len, size_t *put,
                             enum ward_tls_wait *w, struct ward_msg *m) WARD_MUST_USE;

/* True when OpenSSL holds received bytes not yet read (a kept connection is then not clean). */
bool ward_tls_conn_pending(const struct ward_tls_conn *t);

/* One non-blocking attempt to send close_notify (never waits); before closing the socket. */
void ward_tls_conn_shutdown(struct ward_tls_conn *t);

#endif
