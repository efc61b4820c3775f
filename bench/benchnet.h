/*
 * bench/benchnet.h — what bench/loadgen.c and bench/fleetsim.c share: a
 * non-blocking mutual-TLS HTTP/1.1 client connection driven by an epoll loop
 * (connect, handshake, send one request, read one reply with Content-Length),
 * device identities as `loadgen enroll --save` writes them, argument parsing
 * and a few clocks. Bench tools only: this talks OpenSSL directly, outside
 * libward's crypto boundary (STYLE.md rule 2 is about libward and ward's
 * programs), like the peers the tools are measured against.
 *
 * A struct bn_conn is one connection slot. Typical use from an epoll loop:
 *
 *	bn_conn_init(&c, 64 * 1024);
 *	bn_conn_open(&c, ep, &addr, ctx, cert, key, &c);   // epoll data.ptr = &c
 *	bn_conn_send(&c, req, len);                          // may be called at once
 *	... on every epoll event for c:
 *	switch (bn_conn_step(&c, &reply, why, sizeof(why))) {
 *	case BN_WAIT: break;                 // wants more I/O
 *	case BN_UP: ...                      // handshake done, nothing queued to send
 *	case BN_REPLY: ... reply.code, reply.body, reply.blen ...
 *	case BN_CLOSED: ...                  // after bn_conn_shutdown: the peer closed
 *	case BN_FAIL: bn_conn_close(&c); ... // why says what went wrong
 *	}
 *
 * Every read is bounded: the reply buffer grows (doubling from 4 KiB) to at
 * most the maximum given to bn_conn_init or bn_conn_set_max, and a longer
 * reply is a failure. The request buffer is the caller's and stays borrowed
 * until the reply arrives.
 */
#ifndef WARD_BENCH_BENCHNET_H
#define WARD_BENCH_BENCHNET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define BN_ERR_TEXT 256

/* The program name for bn_die's messages ("loadgen", "fleetsim"). */
extern const char *bn_prog;

void bn_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The first queued OpenSSL reason (and clears the queue). */
const char *bn_ossl_reason(void);
uint64_t bn_now_ns(void);     /* CLOCK_MONOTONIC */
double bn_wall_s(void);       /* CLOCK_REALTIME, seconds since the epoch */
double bn_cpu_seconds(void);  /* this process's user + system time */

bool bn_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
bool bn_parse_secs(const char *s, double lo, double hi, double *out);
/* "HOST:PORT[,HOST:PORT...]" (IPv4 literals) into out[max]; dies on a bad one. */
size_t bn_parse_targets(const char *s, struct sockaddr_in *out, size_t max);

/* One device identity: a key and its certificate. */
struct bn_ident {
	char name[72];  /* NAME of DIR/NAME.pem (the device serial) */
	EVP_PKEY *key;  /* owned */
	X509 *cert;     /* owned */
};
/* Up to max identities DIR/NAME.pem + DIR/NAME.key, in name order; dies on error. Free with bn_idents_free. */
struct bn_ident *bn_load_identities(const char *dir, size_t max, size_t *n);
void bn_idents_free(struct bn_ident *ids, size_t n);

/*
 * A TLS client context: TLS 1.2+, no session cache (every handshake is a
 * full one), partial writes; verifies the server against ca when given
 * (partial chain allowed), otherwise not at all.
 */
SSL_CTX *bn_client_ctx(const char *ca);

enum bn_state {
	BN_S_IDLE,       /* no connection */
	BN_S_CONNECTING, /* non-blocking connect() in progress */
	BN_S_HANDSHAKE,  /* SSL_do_handshake */
	BN_S_READY,      /* up, nothing to send */
	BN_S_WRITE,      /* sending the request */
	BN_S_READ,       /* reading the reply */
	BN_S_CLOSING,    /* close_notify sent, waiting for the peer's close */
};

enum bn_event {
	BN_WAIT,   /* nothing to do until the socket is ready again */
	BN_UP,     /* the handshake completed and no request is queued */
	BN_REPLY,  /* a whole reply is in (see struct bn_reply); the slot is BN_S_READY */
	BN_CLOSED, /* after bn_conn_shutdown: the peer closed; the slot is closed */
	BN_FAIL,   /* failed; why says what; the caller closes the slot */
};

struct bn_reply {
	int code;         /* HTTP status */
	const char *body; /* borrowed from the connection until its next request */
	size_t blen;
	bool close;       /* the server said "Connection: close" */
};

struct bn_conn {
	int fd;              /* socket, -1 when none */
	SSL *ssl;            /* TLS state, NULL when none */
	enum bn_state st;    /* where the state machine is */
	const char *out;     /* the request being sent (borrowed) */
	size_t out_len, out_off;
	char *in;            /* the reply so far (owned, grows to in_max) */
	size_t in_len, in_cap, in_max;
	bool handshaken;     /* the session is (or was) up */
	uint64_t t_sent;     /* when the current request's first byte went out, ns */
};

void bn_conn_init(struct bn_conn *c, size_t in_max);
/* A different reply limit for the next request (the buffer grows lazily). */
void bn_conn_set_max(struct bn_conn *c, size_t in_max);
/*
 * Connect (non-blocking) to `to` and start a TLS client session with the
 * given identity (both NULL: no client certificate), registered in epoll ep
 * with data.ptr = tag. False (why set) when the socket could not even be
 * started; the slot is then idle.
 */
bool bn_conn_open(struct bn_conn *c, int ep, const struct sockaddr_in *to, SSL_CTX *ctx, X509 *cert,
		  EVP_PKEY *key, void *tag, char *why, size_t whylen);
/* Queue a request (borrowed until BN_REPLY); sent as soon as the session is up. */
void bn_conn_send(struct bn_conn *c, const char *req, size_t len);
/* Send close_notify; bn_conn_step then reports BN_CLOSED when the peer closes (or BN_FAIL). */
enum bn_event bn_conn_shutdown(struct bn_conn *c, char *why, size_t whylen);
/* Drive c as far as it goes without blocking. */
enum bn_event bn_conn_step(struct bn_conn *c, struct bn_reply *r, char *why, size_t whylen);
/* Close the socket and the session; the reply buffer is shrunk back when it grew past 16 KiB. */
void bn_conn_close(struct bn_conn *c);
/* bn_conn_close and free the reply buffer. */
void bn_conn_free(struct bn_conn *c);

/* The first line of a body, at most 160 bytes, for error messages ("%.*s"). */
int bn_first_line(const char *b, size_t n);

/* Sort samples (microseconds) and return the p-th percentile (0..100) in ms. */
double bn_percentile_ms(uint32_t *lat, size_t n, double p);

#endif
