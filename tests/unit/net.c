/*
 * tests/unit/net.c — lib/net/: the HTTP/1.1 client and fetcher of net.h,
 * and the response parser behind it (lib/net/http_response.h).
 *
 * The parser is fed from memory, whole and one byte at a time. The client
 * talks to an in-process loopback server (one thread, one connection at a
 * time) that answers each request with a scripted step: raw bytes written
 * exactly as given, then keep the connection, close it, hang, trickle, or
 * drop the request unanswered. The server counts connections and requests
 * and keeps the last request, so keep-alive, retries, Range and credentials
 * are checked on the wire. For TLS the server side is ward_tls_server (the
 * server API of lib/crypto/tls.c) over a PKI made here with ward_x509_issue;
 * it records the client certificate it verified.
 * What must hold: every framing (Content-Length, chunked with extensions and
 * trailers, read-to-close) delivers exactly the body; malformed or oversized
 * responses fail with WARD_E_NET; statuses map as include/ward/tuf.h says;
 * the cap, the speed floor and the time limits stop hostile servers within
 * their bounds; TLS verifies the chain and the host name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/err.h"
#include "ward/net.h"
#include "ward/tls.h"
#include "ward/x509.h"

#include "http_response.h"

#define DAY      86400
#define BODY_MAX (4u * 1024 * 1024)
#define REQ_MAX  16384

/* ---- the PKI -------------------------------------------------------------- */

struct pki {
	char dir[64];
	struct ward_key *root_key, *iss_key, *srv_key, *dev_key, *oroot_key;
	struct ward_cert *root, *iss, *srv, *wrong, *dev, *oroot;
	char root_pem[256], oroot_pem[256], chain[256], wrong_chain[256], key[256], client_ca[256];
	char dev_pem[256], dev_key_pem[256];
	struct ward_tls_server *server, *wrong_server;
};

static struct pki P;

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
                               enum ward_cert_profile prof, const char *cn, const char *dns,
                               const char *ip, const struct ward_key *k)
{
	struct ward_issue p;
	struct ward_msg m = {{0}};
	struct ward_cert *c = NULL;
	time_t now = time(NULL);

	memset(&p, 0, sizeof(p));
	p.profile = prof;
	p.subject.cn = cn;
	p.subject.serial = prof == WARD_CERT_DEVICE ? cn : NULL;
	p.subject.ou = prof == WARD_CERT_DEVICE ? "model-x" : NULL;
	p.subject_key = k;
	p.not_before = now - DAY;
	p.not_after = now + 30 * DAY;
	p.san_dns = dns;
	p.san_ip = ip;
	must(ward_x509_issue(issuer, ikey, &p, &c, &m), &m, cn);
	return c;
}

static void write_pem(const char *name, struct ward_cert *const *certs, size_t n, char *path,
                      size_t pathlen)
{
	struct ward_buf b;
	struct ward_msg m = {{0}};

	ward_buf_init(&b, 256 * 1024);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ward_x509_cert_to_pem(certs[i], &b), WARD_OK);
	assert_int_equal(ward_snprintf(path, pathlen, "%s/%s", P.dir, name), WARD_OK);
	must(ward_file_write_atomic(path, b.p, b.len, 0644, &m), &m, path);
	ward_buf_free(&b);
}

static void write_key(const char *name, const struct ward_key *k, char *path, size_t pathlen)
{
	struct ward_buf b;
	struct ward_msg m = {{0}};

	assert_int_equal(ward_crypto_key_private_pem(k, &b), WARD_OK);
	assert_int_equal(ward_snprintf(path, pathlen, "%s/%s", P.dir, name), WARD_OK);
	must(ward_file_create_excl(path, b.p, b.len, 0600, &m), &m, path);
	ward_buf_free(&b);
}

static struct ward_tls_server *tls_server(const char *chain)
{
	struct ward_tls_server_opts o = {
	    .cert_chain = chain, .key = P.key, .client_ca = P.client_ca};
	struct ward_tls_server *s = NULL;
	struct ward_msg m = {{0}};

	must(ward_tls_server_new(&o, &s, &m), &m, "ward_tls_server_new");
	return s;
}

static int pki_setup(void **state)
{
	struct ward_cert *two[2];

	(void)state;
	memset(&P, 0, sizeof(P));
	memcpy(P.dir, "/tmp/ward-net-XXXXXX", sizeof("/tmp/ward-net-XXXXXX"));
	if (mkdtemp(P.dir) == NULL)
		return -1;
	P.root_key = keygen();
	P.iss_key = keygen();
	P.srv_key = keygen();
	P.dev_key = keygen();
	P.oroot_key = keygen();
	P.root = issue(NULL, P.root_key, WARD_CERT_ROOT_CA, "ward root CA", NULL, NULL, P.root_key);
	P.iss = issue(P.root, P.root_key, WARD_CERT_ISSUING_CA, "ward issuing CA", NULL, NULL,
	              P.iss_key);
	P.srv = issue(P.iss, P.iss_key, WARD_CERT_SERVER, "localhost", "localhost", "127.0.0.1",
	              P.srv_key);
	P.wrong = issue(P.iss, P.iss_key, WARD_CERT_SERVER, "wrong.example", "wrong.example", NULL,
	                P.srv_key);
	P.dev = issue(P.iss, P.iss_key, WARD_CERT_DEVICE, "DEV-0042", NULL, NULL, P.dev_key);
	P.oroot =
	    issue(NULL, P.oroot_key, WARD_CERT_ROOT_CA, "other root CA", NULL, NULL, P.oroot_key);
	write_pem("root.pem", &P.root, 1, P.root_pem, sizeof(P.root_pem));
	write_pem("other-root.pem", &P.oroot, 1, P.oroot_pem, sizeof(P.oroot_pem));
	two[0] = P.srv;
	two[1] = P.iss;
	write_pem("chain.pem", two, 2, P.chain, sizeof(P.chain));
	two[0] = P.wrong;
	write_pem("wrong-chain.pem", two, 2, P.wrong_chain, sizeof(P.wrong_chain));
	two[0] = P.iss;
	two[1] = P.root;
	write_pem("client-ca.pem", two, 2, P.client_ca, sizeof(P.client_ca));
	write_pem("device.pem", &P.dev, 1, P.dev_pem, sizeof(P.dev_pem));
	write_key("server.key", P.srv_key, P.key, sizeof(P.key));
	write_key("device.key", P.dev_key, P.dev_key_pem, sizeof(P.dev_key_pem));
	P.server = tls_server(P.chain);
	P.wrong_server = tls_server(P.wrong_chain);
	return 0;
}

static int pki_teardown(void **state)
{
	char cmd[128];

	(void)state;
	ward_tls_server_free(P.server);
	ward_tls_server_free(P.wrong_server);
	ward_x509_cert_free(P.root);
	ward_x509_cert_free(P.iss);
	ward_x509_cert_free(P.srv);
	ward_x509_cert_free(P.wrong);
	ward_x509_cert_free(P.dev);
	ward_x509_cert_free(P.oroot);
	ward_crypto_key_free(P.root_key);
	ward_crypto_key_free(P.iss_key);
	ward_crypto_key_free(P.srv_key);
	ward_crypto_key_free(P.dev_key);
	ward_crypto_key_free(P.oroot_key);
	if (strncmp(P.dir, "/tmp/ward-net-", 14) == 0 &&
	    ward_snprintf(cmd, sizeof(cmd), "rm -rf '%s'", P.dir) == WARD_OK)
		(void)!system(cmd);
	return 0;
}

/* ---- the scripted server -------------------------------------------------- */

enum after {
	KEEP,        /* keep the connection for the next request */
	CLOSE,       /* close it */
	HANG,        /* say nothing more until the client leaves */
	TRICKLE,     /* then one byte every trickle_ms until the client leaves */
	TRICKLE_RAW, /* send raw itself one byte every trickle_ms, then hang */
	DROP,        /* send nothing and close (raw is ignored) */
};

struct step {
	const char *raw; /* sent first, byte for byte (NULL: nothing) */
	size_t len;      /* of raw; 0: strlen */
	size_t fill;     /* then this many bytes of 'x' */
	enum after then;
};

struct srv {
	int lfd, port;
	pthread_t th;
	struct ward_tls_server *tls; /* NULL: plain TCP */
	const struct step *steps;
	size_t nsteps;
	int trickle_ms;
	atomic_int accepted; /* connections */
	atomic_int requests; /* requests read */
	atomic_bool stop;
	pthread_mutex_t mu;    /* guards what follows */
	char req[REQ_MAX + 1]; /* the last request, head and body */
	size_t reqlen;
	char peer_cn[128]; /* CN of the last verified client certificate, "" for none */
};

struct peer {
	int fd;
	SSL *ssl;
};

static bool peer_gone_or_stop(struct srv *s, struct peer *p, int ms)
{
	struct pollfd pf = {.fd = p->fd, .events = POLLIN};

	if (atomic_load(&s->stop))
		return true;
	if (poll(&pf, 1, ms) > 0) {
		char c;

		/* Readable while we wait: the client closed (or sent an alert). */
		if (recv(p->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
			return true;
		if (p->ssl != NULL)
			return true;
	}
	return false;
}

static bool peer_write(struct peer *p, const void *d, size_t n)
{
	const char *c = d;

	while (n > 0) {
		ssize_t r;

		if (p->ssl != NULL) {
			size_t w = 0;

			if (SSL_write_ex(p->ssl, c, n, &w) != 1)
				return false;
			r = (ssize_t)w;
		} else {
			r = send(p->fd, c, n, MSG_NOSIGNAL);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return false;
		}
		c += r;
		n -= (size_t)r;
	}
	return true;
}

/* Read one request (head, then a Content-Length body) into buf; false at EOF or stop. */
static bool peer_read_request(struct srv *s, struct peer *p, char *buf, size_t *len)
{
	size_t n = 0, need = 0;

	for (;;) {
		ssize_t r;
		char *end;

		if (n >= REQ_MAX)
			return false;
		if (p->ssl == NULL || SSL_pending(p->ssl) == 0) {
			struct pollfd pf = {.fd = p->fd, .events = POLLIN};

			if (atomic_load(&s->stop))
				return false;
			if (poll(&pf, 1, 50) <= 0)
				continue;
		}
		if (p->ssl != NULL) {
			size_t got = 0;

			if (SSL_read_ex(p->ssl, buf + n, REQ_MAX - n, &got) != 1)
				return false;
			r = (ssize_t)got;
		} else {
			r = recv(p->fd, buf + n, REQ_MAX - n, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return false;
		}
		n += (size_t)r;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end == NULL)
			continue;
		if (need == 0) {
			const char *cl = strstr(buf, "Content-Length: ");

			need = (size_t)(end + 4 - buf);
			if (cl != NULL && cl < end)
				need += (size_t)strtoul(cl + 16, NULL, 10);
		}
		if (n >= need) {
			*len = n;
			return true;
		}
	}
}

static void serve_connection(struct srv *s, struct peer *p)
{
	static char buf[REQ_MAX + 1];
	static char filler[16384];

	memset(filler, 'x', sizeof(filler));

	for (;;) {
		const struct step *st;
		size_t len = 0, raw;
		int i;

		if (!peer_read_request(s, p, buf, &len))
			return;
		i = atomic_fetch_add(&s->requests, 1);
		st = &s->steps[(size_t)i < s->nsteps ? (size_t)i : s->nsteps - 1];
		pthread_mutex_lock(&s->mu);
		memcpy(s->req, buf, len + 1);
		s->reqlen = len;
		pthread_mutex_unlock(&s->mu);
		if (st->then == DROP)
			return;
		raw = st->raw == NULL ? 0 : st->len ? st->len : strlen(st->raw);
		if (st->then == TRICKLE_RAW) {
			for (size_t k = 0; k < raw; k++)
				if (!peer_write(p, st->raw + k, 1) ||
				    peer_gone_or_stop(s, p, s->trickle_ms))
					return;
		} else if (raw > 0 && !peer_write(p, st->raw, raw)) {
			return;
		}
		for (size_t left = st->fill; left > 0;) {
			size_t k = left < sizeof(filler) ? left : sizeof(filler);

			if (!peer_write(p, filler, k) || atomic_load(&s->stop))
				return;
			left -= k;
		}
		switch (st->then) {
		case KEEP:
			continue;
		case CLOSE:
		case DROP:
			return;
		case HANG:
		case TRICKLE_RAW:
			while (!peer_gone_or_stop(s, p, 50))
				;
			return;
		case TRICKLE:
			while (!peer_gone_or_stop(s, p, s->trickle_ms))
				if (!peer_write(p, "x", 1))
					return;
			return;
		}
	}
}

static void *serve(void *arg)
{
	struct srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pf = {.fd = s->lfd, .events = POLLIN};
		struct peer p = {.fd = -1, .ssl = NULL};
		struct timeval tv = {.tv_sec = 5};

		if (poll(&pf, 1, 50) <= 0)
			continue;
		p.fd = accept(s->lfd, NULL, NULL);
		if (p.fd < 0)
			continue;
		atomic_fetch_add(&s->accepted, 1);
		(void)setsockopt(p.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(p.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (s->tls != NULL) {
			struct ward_cert *peer = NULL;
			struct ward_cert_info info;

			p.ssl = ward_tls_server_ssl(s->tls);
			if (p.ssl == NULL || SSL_set_fd(p.ssl, p.fd) != 1 ||
			    SSL_accept(p.ssl) != 1) {
				ERR_clear_error();
				SSL_free(p.ssl);
				close(p.fd);
				continue;
			}
			pthread_mutex_lock(&s->mu);
			s->peer_cn[0] = '\0';
			if (ward_tls_peer_cert(p.ssl, &peer) == WARD_OK &&
			    ward_x509_cert_info(peer, &info) == WARD_OK)
				memcpy(s->peer_cn, info.cn, sizeof(s->peer_cn));
			pthread_mutex_unlock(&s->mu);
			ward_x509_cert_free(peer);
		}
		serve_connection(s, &p);
		if (p.ssl != NULL) {
			(void)SSL_shutdown(p.ssl);
			SSL_free(p.ssl);
			ERR_clear_error();
		}
		close(p.fd);
	}
	return NULL;
}

/* Listen on the loopback address of family (AF_INET or AF_INET6); false when there is none. */
static bool srv_start_family(struct srv *s, int family, struct ward_tls_server *tls,
                             const struct step *steps, size_t nsteps)
{
	struct sockaddr_storage a;
	socklen_t alen;
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->tls = tls;
	s->steps = steps;
	s->nsteps = nsteps;
	s->trickle_ms = 500;
	s->lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return false;
	(void)setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a;

		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_loopback;
		alen = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&a;

		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		alen = sizeof(*a4);
	}
	if (bind(s->lfd, (struct sockaddr *)&a, alen) != 0) {
		close(s->lfd);
		return false;
	}
	assert_int_equal(listen(s->lfd, 16), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
	                                   : ((struct sockaddr_in *)&a)->sin_port);
	pthread_mutex_init(&s->mu, NULL);
	assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
	return true;
}

static void srv_start(struct srv *s, struct ward_tls_server *tls, const struct step *steps,
                      size_t nsteps)
{
	assert_true(srv_start_family(s, AF_INET, tls, steps, nsteps));
}

static void srv_stop(struct srv *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
}

static void url_of(const struct srv *s, const char *scheme, const char *host, const char *path,
                   char *out, size_t n)
{
	assert_int_equal(ward_snprintf(out, n, "%s://%s:%d%s", scheme, host, s->port, path),
	                 WARD_OK);
}

/* ---- the client side ---------------------------------------------------------- */

static ward_err to_buf(void *ctx, const void *d, size_t n)
{
	return ward_buf_append(ctx, d, n);
}

static struct ward_net *net_new(const struct ward_net_opts *o)
{
	struct ward_net *n = NULL;
	struct ward_msg m = {{0}};

	must(ward_net_new(o, &n, &m), &m, "ward_net_new");
	return n;
}

/* Fetch url through n's fetcher into body (initialised here); the error and message come back. */
static ward_err fetch(struct ward_net *n, const char *url, uint64_t offset, uint64_t max,
                      struct ward_buf *body, struct ward_msg *m)
{
	struct ward_fetcher f;

	ward_buf_init(body, BODY_MAX);
	memset(m, 0, sizeof(*m));
	ward_net_fetcher(n, &f);
	return f.fetch(f.ctx, url, offset, max, to_buf, body, m);
}

/* One plain fetch against a one-step server: its error, body and message. */
static ward_err fetch_one(const struct step *st, uint64_t max, struct ward_buf *body,
                          struct ward_msg *m)
{
	struct srv s;
	struct ward_net *n = net_new(NULL);
	char url[128];
	ward_err e;

	srv_start(&s, NULL, st, 1);
	url_of(&s, "http", "127.0.0.1", "/f", url, sizeof(url));
	e = fetch(n, url, 0, max, body, m);
	ward_net_free(n);
	srv_stop(&s);
	return e;
}

static void assert_body(const struct ward_buf *b, const char *want)
{
	assert_int_equal(b->len, strlen(want));
	assert_memory_equal(b->p, want, b->len);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the parser, from memory ------------------------------------------------------ */

/* Parse all of in, one call or `step` bytes at a time, ending with EOF when eof. */
static ward_err parse(const char *in, size_t len, size_t step, bool eof, bool head_req,
                      struct ward_http_response *r, struct ward_buf *body, struct ward_msg *m)
{
	size_t off = 0;
	bool ended = false;

	ward_http_response_init(r, head_req);
	ward_buf_init(body, BODY_MAX);
	while (!ended) {
		size_t avail = len - off, used;
		enum ward_http_event ev;
		const uint8_t *b;
		size_t bl;
		ward_err e;

		if (step && avail > step)
			avail = step;
		e = ward_http_response_feed(r, (const uint8_t *)in + off, avail, &used, &ev, &b,
		                            &bl, m);
		if (e != WARD_OK)
			return e;
		off += used;
		if (ev == WARD_HTTP_MORE && off == len) {
			if (!eof)
				return WARD_E_NOTFOUND; /* "wants more" */
			e = ward_http_response_eof(r, &ev, m);
			if (e == WARD_OK)
				assert_int_equal(ev, WARD_HTTP_END);
			return e;
		}
		if (ev == WARD_HTTP_BODY)
			assert_int_equal(ward_buf_append(body, b, bl), WARD_OK);
		ended = ev == WARD_HTTP_END;
	}
	return off == len ? WARD_OK : WARD_E_EXISTS; /* EXISTS: bytes left after the end */
}

static void test_parser_framings(void **state)
{
	static const struct {
		const char *in;
		bool eof;
		const char *body;
		bool keep;
		int status;
	} ok[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, "hello", true, 200},
	    {"HTTP/1.1 200 OK\r\ncontent-length:5 \r\n\r\nhello", false, "hello", true, 200},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello", false,
	     "hello", true, 200},
	    {"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, "", true, 200},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "5;name=val;q=\"a \\\"b\\\"\"\r\nhello\r\n6 ; x\r\n world\r\n0;last\r\n"
	     "X-Trailer: 1\r\nX-Other: two\r\n\r\n",
	     false, "hello world", true, 200},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	     "Chunked\r\n\r\n00000A\r\n0123456789\r\n0\r\n\r\n",
	     false, "0123456789", true, 200},
	    {"HTTP/1.1 200 OK\r\n\r\nuntil the end", true, "until the end", false, 200},
	    {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi", false, "hi",
	     false, 200},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", false, "hi", false, 200},
	    {"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi", false,
	     "hi", true, 200},
	    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
	     "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
	     false, "ok", true, 201},
	    {"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", false, "", true, 204},
	    {"HTTP/1.1 304 Not Modified\r\n\r\n", false, "", true, 304},
	    {"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nno\n",
	     false, "no\n", true, 404},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		for (size_t step = 0; step <= 7; step += 1) {
			struct ward_http_response *r = malloc(sizeof(*r));
			struct ward_buf body;
			struct ward_msg m = {{0}};
			ward_err e;

			assert_non_null(r);
			e = parse(ok[i].in, strlen(ok[i].in), step, ok[i].eof, false, r, &body, &m);
			if (e != WARD_OK)
				fail_msg("case %zu step %zu: %s: %s", i, step, ward_err_name(e),
				         m.text);
			assert_int_equal(r->status, ok[i].status);
			assert_body(&body, ok[i].body);
			assert_int_equal(r->keep_alive, ok[i].keep);
			ward_buf_free(&body);
			free(r);
		}
	}
}

static void test_parser_details(void **state)
{
	struct ward_http_response *r = malloc(sizeof(*r));
	struct ward_buf body;
	struct ward_msg m = {{0}};
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	const char *range = "HTTP/1.1 206 Partial Content\r\nContent-Type: application/x-thing\r\n"
	                    "Content-Range: bytes 10-19/20\r\nContent-Length: 10\r\n\r\n0123456789";
	const char *extra = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab";
	const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel";
	const char *cut_chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";

	(void)state;
	assert_non_null(r);
	/* A response to HEAD has no body, whatever Content-Length says. */
	assert_int_equal(parse(head, strlen(head), 0, false, true, r, &body, &m), WARD_OK);
	assert_int_equal(r->framing, WARD_HTTP_NOBODY);
	ward_buf_free(&body);
	/* Content-Range and Content-Type. */
	assert_int_equal(parse(range, strlen(range), 0, false, false, r, &body, &m), WARD_OK);
	assert_true(r->has_range);
	assert_int_equal(r->range_first, 10);
	assert_int_equal(r->range_last, 19);
	assert_string_equal(r->content_type, "application/x-thing");
	ward_buf_free(&body);
	/* Bytes after the end are not consumed (they are not this response's). */
	assert_int_equal(parse(extra, strlen(extra), 0, false, false, r, &body, &m), WARD_E_EXISTS);
	ward_buf_free(&body);
	/* A truncated body is an error at EOF, not a short success. */
	assert_int_equal(parse(cut, strlen(cut), 0, true, false, r, &body, &m), WARD_E_PARSE);
	assert_non_null(strstr(m.text, "3 of 5"));
	ward_buf_free(&body);
	assert_int_equal(parse(cut_chunk, strlen(cut_chunk), 0, true, false, r, &body, &m),
	                 WARD_E_PARSE);
	ward_buf_free(&body);
	assert_int_equal(parse("", 0, 0, true, false, r, &body, &m), WARD_E_PARSE);
	assert_non_null(strstr(m.text, "without a response"));
	ward_buf_free(&body);
	/* A content type of 128 bytes or more is dropped, not cut. */
	{
		static const char start[] =
		    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: ";
		char big[512];

		memset(big, 0, sizeof(big));
		memcpy(big, start, sizeof(start) - 1);
		memset(big + sizeof(start) - 1, 'a', 130);
		memcpy(big + sizeof(start) - 1 + 130, "\r\n\r\n", 4);
		assert_int_equal(parse(big, strlen(big), 0, false, false, r, &body, &m), WARD_OK);
		assert_string_equal(r->content_type, "");
		ward_buf_free(&body);
	}
	free(r);
}

/* Malformed responses: each refused by the parser, and by the client as WARD_E_NET. */
static const char *const malformed[] = {
    "HTTP/1.1 2000 OK\r\n\r\n",
    "HTTP/2 200 OK\r\n\r\n",
    "HTTP/1.2 200 OK\r\n\r\n",
    "ICY 200 OK\r\n\r\n",
    "HTTP/1.1 099 Low\r\n\r\n",
    "HTTP/1.1 200 OK\n\n",
    "HTTP/1.1 200 OK\r\nX: bare\rcr\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\n X-Folded: a\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
    "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
    "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX: a\001b\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1,2\r\n\r\nx",
    "HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nx\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"open\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
};

static void test_parser_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		for (size_t step = 0; step <= 1; step++) {
			struct ward_http_response *r = malloc(sizeof(*r));
			struct ward_buf body;
			struct ward_msg m = {{0}};
			ward_err e;

			assert_non_null(r);
			e = parse(malformed[i], strlen(malformed[i]), step, true, false, r, &body,
			          &m);
			if (e == WARD_OK || e == WARD_E_EXISTS || e == WARD_E_NOTFOUND)
				fail_msg("malformed case %zu accepted: %s", i, malformed[i]);
			assert_true(m.text[0] != '\0');
			assert_null(strchr(m.text, '\n'));
			/* Dead after a failure. */
			{
				size_t used;
				enum ward_http_event ev;
				const uint8_t *b;
				size_t bl;

				assert_int_not_equal(
				    ward_http_response_feed(r, (const uint8_t *)"x", 1, &used, &ev,
				                            &b, &bl, NULL),
				    WARD_OK);
			}
			ward_buf_free(&body);
			free(r);
		}
	}
}

static void test_parser_limits(void **state)
{
	struct ward_http_response *r = malloc(sizeof(*r));
	struct ward_buf body, in;
	struct ward_msg m = {{0}};

	(void)state;
	assert_non_null(r);
	/* A head over 16 KiB, in lines that are each fine. */
	ward_buf_init(&in, 1 << 20);
	assert_int_equal(ward_buf_printf(&in, "HTTP/1.1 200 OK\r\n"), WARD_OK);
	for (int i = 0; i < 200; i++)
		assert_int_equal(ward_buf_printf(&in, "X-Flood-%03d: %090d\r\n", i, 0), WARD_OK);
	assert_int_equal(ward_buf_printf(&in, "\r\n"), WARD_OK);
	assert_int_equal(parse((const char *)in.p, in.len, 0, true, false, r, &body, &m),
	                 WARD_E_TOOBIG);
	assert_non_null(strstr(m.text, "16384"));
	ward_buf_free(&body);
	ward_buf_reset(&in);
	/* One line over 8 KiB. */
	assert_int_equal(ward_buf_printf(&in, "HTTP/1.1 200 OK\r\nX-Long: "), WARD_OK);
	for (int i = 0; i < 9000; i++)
		assert_int_equal(ward_buf_append(&in, "a", 1), WARD_OK);
	assert_int_equal(ward_buf_printf(&in, "\r\n\r\n"), WARD_OK);
	assert_int_equal(parse((const char *)in.p, in.len, 0, true, false, r, &body, &m),
	                 WARD_E_TOOBIG);
	assert_non_null(strstr(m.text, "8192"));
	ward_buf_free(&body);
	ward_buf_reset(&in);
	/* More than 8 interim responses. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(ward_buf_printf(&in, "HTTP/1.1 100 Continue\r\n\r\n"), WARD_OK);
	assert_int_equal(parse((const char *)in.p, in.len, 0, true, false, r, &body, &m),
	                 WARD_E_PARSE);
	ward_buf_free(&body);
	ward_buf_reset(&in);
	/* Chunk framing dwarfing the body: one byte per chunk, 1000 bytes of extension each. */
	assert_int_equal(
	    ward_buf_printf(&in, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), WARD_OK);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(ward_buf_printf(&in, "1;x="), WARD_OK);
		for (int k = 0; k < 990; k++)
			assert_int_equal(ward_buf_append(&in, "y", 1), WARD_OK);
		assert_int_equal(ward_buf_printf(&in, "\r\nz\r\n"), WARD_OK);
	}
	assert_int_equal(parse((const char *)in.p, in.len, 0, true, false, r, &body, &m),
	                 WARD_E_TOOBIG);
	assert_non_null(strstr(m.text, "framing"));
	ward_buf_free(&body);
	ward_buf_reset(&in);
	/* A chunk-size line over 1 KiB. */
	assert_int_equal(ward_buf_printf(&in,
	                                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                                 "1;x="),
	                 WARD_OK);
	for (int k = 0; k < 1100; k++)
		assert_int_equal(ward_buf_append(&in, "y", 1), WARD_OK);
	assert_int_equal(ward_buf_printf(&in, "\r\nz\r\n0\r\n\r\n"), WARD_OK);
	assert_int_equal(parse((const char *)in.p, in.len, 0, true, false, r, &body, &m),
	                 WARD_E_TOOBIG);
	ward_buf_free(&body);
	ward_buf_free(&in);
	free(r);
}

/* ---- the client over loopback ------------------------------------------------------ */

static void test_content_length_and_keepalive(void **state)
{
	static const struct step st[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 0, KEEP},
	    {"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n", 0, 0, KEEP},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye", 0, 0, KEEP},
	};
	struct srv s;
	struct ward_net *n = net_new(NULL);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];

	(void)state;
	srv_start(&s, NULL, st, 3);
	url_of(&s, "http", "127.0.0.1", "/a?x=1", url, sizeof(url));
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	assert_body(&body, "hello");
	ward_buf_free(&body);
	/* The request as sent. */
	assert_non_null(strstr(s.req, "GET /a?x=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(s.req, "\r\nUser-Agent: ward\r\n"));
	assert_non_null(strstr(s.req, "\r\nConnection: keep-alive\r\n"));
	{
		char host[64];

		assert_int_equal(
		    ward_snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", s.port),
		    WARD_OK);
		assert_non_null(strstr(s.req, host));
	}
	assert_null(strstr(s.req, "Range:"));
	/* A 404 whose body came with it keeps the connection. */
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_E_NOTFOUND);
	assert_non_null(strstr(m.text, "HTTP 404"));
	assert_non_null(strstr(m.text, url));
	ward_buf_free(&body);
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	assert_body(&body, "bye");
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.accepted), 1);
	assert_int_equal(atomic_load(&s.requests), 3);
	ward_net_free(n);
	srv_stop(&s);
}

static void test_chunked_and_reuse(void **state)
{
	static const struct step st[] = {
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "5;name=val;q=\"a b\"\r\nhello\r\n6\r\n world\r\n0;last\r\nX-Trailer: 1\r\n\r\n",
	     0, 0, KEEP},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, 0, KEEP},
	};
	struct srv s;
	struct ward_net *n = net_new(NULL);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];

	(void)state;
	srv_start(&s, NULL, st, 2);
	url_of(&s, "http", "localhost", "/c", url, sizeof(url));
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	assert_body(&body, "hello world");
	ward_buf_free(&body);
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	assert_body(&body, "ok");
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.accepted), 1);
	ward_net_free(n);
	srv_stop(&s);
}

static void test_read_to_close(void **state)
{
	static const struct step st[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", 0, 0, CLOSE},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\n1.0!", 0, 0, KEEP},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, 0, KEEP},
	};
	struct srv s;
	struct ward_net *n = net_new(NULL);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];

	(void)state;
	srv_start(&s, NULL, st, 3);
	url_of(&s, "http", "127.0.0.1", "/r", url, sizeof(url));
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	assert_body(&body, "until the end");
	ward_buf_free(&body);
	/* HTTP/1.0 without keep-alive: not reused either. */
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	assert_body(&body, "1.0!");
	ward_buf_free(&body);
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.accepted), 3);
	ward_net_free(n);
	srv_stop(&s);
}

static void test_idle_connection_closed(void **state)
{
	/* The server closes a connection it let the client keep. */
	static const struct step st[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", 0, 0, CLOSE},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo", 0, 0, KEEP},
	};
	struct srv s;
	struct ward_net *n = net_new(NULL);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];

	(void)state;
	srv_start(&s, NULL, st, 2);
	url_of(&s, "http", "127.0.0.1", "/i", url, sizeof(url));
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	ward_buf_free(&body);
	usleep(100 * 1000); /* let the FIN arrive */
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	assert_body(&body, "two");
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.accepted), 2);
	ward_net_free(n);
	srv_stop(&s);
}

static void test_stale_connection_retried(void **state)
{
	/* The kept connection dies with the request on it, before any byte of response. */
	static const struct step st[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", 0, 0, KEEP},
	    {NULL, 0, 0, DROP},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo", 0, 0, KEEP},
	};
	static const struct step half[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", 0, 0, KEEP},
	    {"HTTP/1.1 200 OK\r\nContent-Le", 0, 0, CLOSE},
	};
	struct srv s;
	struct ward_net *n = net_new(NULL);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];

	(void)state;
	srv_start(&s, NULL, st, 3);
	url_of(&s, "http", "127.0.0.1", "/s", url, sizeof(url));
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	ward_buf_free(&body);
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	assert_body(&body, "two");
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.accepted), 2);
	assert_int_equal(atomic_load(&s.requests), 3);
	srv_stop(&s);

	/* Part of a response arrived: never sent again. */
	srv_start(&s, NULL, half, 2);
	url_of(&s, "http", "127.0.0.1", "/s", url, sizeof(url));
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	ward_buf_free(&body);
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_E_NET);
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.requests), 2);
	srv_stop(&s);

	/* A fresh connection that dies is not retried either. */
	{
		static const struct step drop[] = {{NULL, 0, 0, DROP}};

		srv_start(&s, NULL, drop, 1);
		url_of(&s, "http", "127.0.0.1", "/s", url, sizeof(url));
		assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_E_NET);
		assert_non_null(strstr(m.text, "without a response"));
		ward_buf_free(&body);
		assert_int_equal(atomic_load(&s.requests), 1);
		srv_stop(&s);
	}
	ward_net_free(n);
}

static void test_statuses(void **state)
{
	static const struct {
		const char *raw;
		ward_err want;
		const char *text;
	} cases[] = {
	    {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", WARD_E_NOTFOUND, "HTTP 404"},
	    {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", WARD_E_NOTFOUND, "HTTP 403"},
	    {"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n", WARD_E_NOTFOUND, "HTTP 410"},
	    {"HTTP/1.1 500 Oops\r\nContent-Length: 6\r\n\r\nerror\n", WARD_E_NET, "HTTP 500"},
	    {"HTTP/1.1 401 Who\r\nContent-Length: 0\r\n\r\n", WARD_E_NET, "HTTP 401"},
	    {"HTTP/1.1 301 Moved\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n",
	     WARD_E_NET, "redirect refused"},
	    {"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n", WARD_E_NET, "redirect refused"},
	    {"HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-1/2\r\nContent-Length: 2\r\n\r\nab",
	     WARD_E_NET, "206"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct step st = {cases[i].raw, 0, 0, KEEP};
		struct ward_buf body;
		struct ward_msg m;

		assert_int_equal(fetch_one(&st, 100, &body, &m), cases[i].want);
		if (strstr(m.text, cases[i].text) == NULL)
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, m.text, cases[i].text);
		assert_int_equal(body.len, 0); /* an error page never reaches the sink */
		ward_buf_free(&body);
	}
}

static void test_range(void **state)
{
	static const struct step ok[] = {
	    {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/20\r\n"
	     "Content-Length: 10\r\n\r\n0123456789",
	     0, 0, KEEP}};
	static const struct step ignored[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789", 0, 0, KEEP}};
	static const struct step elsewhere[] = {
	    {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-19/20\r\n"
	     "Content-Length: 20\r\n\r\n01234567890123456789",
	     0, 0, KEEP}};
	static const struct step norange[] = {
	    {"HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\n\r\n0123456789", 0, 0, KEEP}};
	struct srv s;
	struct ward_net *n = net_new(NULL);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];

	(void)state;
	srv_start(&s, NULL, ok, 1);
	url_of(&s, "http", "127.0.0.1", "/range", url, sizeof(url));
	assert_int_equal(fetch(n, url, 10, 100, &body, &m), WARD_OK);
	assert_body(&body, "0123456789");
	assert_non_null(strstr(s.req, "\r\nRange: bytes=10-\r\n"));
	ward_buf_free(&body);
	srv_stop(&s);

	srv_start(&s, NULL, ignored, 1);
	url_of(&s, "http", "127.0.0.1", "/range", url, sizeof(url));
	assert_int_equal(fetch(n, url, 10, 100, &body, &m), WARD_E_UNSUPPORTED);
	assert_int_equal(body.len, 0);
	ward_buf_free(&body);
	srv_stop(&s);

	srv_start(&s, NULL, elsewhere, 1);
	url_of(&s, "http", "127.0.0.1", "/range", url, sizeof(url));
	assert_int_equal(fetch(n, url, 10, 100, &body, &m), WARD_E_UNSUPPORTED);
	ward_buf_free(&body);
	srv_stop(&s);

	srv_start(&s, NULL, norange, 1);
	url_of(&s, "http", "127.0.0.1", "/range", url, sizeof(url));
	assert_int_equal(fetch(n, url, 10, 100, &body, &m), WARD_E_UNSUPPORTED);
	ward_buf_free(&body);
	srv_stop(&s);
	ward_net_free(n);
}

static void test_cap(void **state)
{
	static const struct step by_length[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 0, 1000, KEEP}};
	static const struct step by_bytes[] = {{"HTTP/1.1 200 OK\r\n\r\n", 0, 8u << 20, CLOSE}};
	static const struct step chunked[] = {
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n", 0, 1u << 20,
	     CLOSE}};
	static const struct step lying[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", 0, 200, CLOSE}};
	static const struct step exact[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 0, 100, KEEP}};
	struct ward_buf body;
	struct ward_msg m;

	(void)state;
	/* Announced too large: refused before a byte of body reaches the sink. */
	assert_int_equal(fetch_one(by_length, 100, &body, &m), WARD_E_TOOBIG);
	assert_int_equal(body.len, 0);
	assert_non_null(strstr(m.text, "1000"));
	ward_buf_free(&body);
	/* No length: cut off the moment the cap is passed; never more than the cap delivered. */
	assert_int_equal(fetch_one(by_bytes, 100000, &body, &m), WARD_E_TOOBIG);
	assert_true(body.len <= 100000);
	ward_buf_free(&body);
	assert_int_equal(fetch_one(chunked, 100000, &body, &m), WARD_E_TOOBIG);
	assert_true(body.len <= 100000);
	ward_buf_free(&body);
	/* More bytes than Content-Length said: the extra bytes are not body. */
	assert_int_equal(fetch_one(lying, 100, &body, &m), WARD_OK);
	assert_int_equal(body.len, 50);
	ward_buf_free(&body);
	/* Exactly the cap is fine. */
	assert_int_equal(fetch_one(exact, 100, &body, &m), WARD_OK);
	assert_int_equal(body.len, 100);
	ward_buf_free(&body);
}

static void test_malformed_over_the_wire(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		struct step st = {malformed[i], 0, 0, CLOSE};
		struct ward_buf body;
		struct ward_msg m;
		ward_err e = fetch_one(&st, 100, &body, &m);

		if (e != WARD_E_NET)
			fail_msg("malformed case %zu: %s (%s)", i, ward_err_name(e), m.text);
		ward_buf_free(&body);
	}
}

static void test_header_flood(void **state)
{
	struct ward_buf raw, body;
	struct ward_msg m;
	struct step st;

	(void)state;
	ward_buf_init(&raw, 1 << 20);
	assert_int_equal(ward_buf_printf(&raw, "HTTP/1.1 200 OK\r\n"), WARD_OK);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(ward_buf_printf(&raw, "X-Flood-%04d: %090d\r\n", i, i), WARD_OK);
	assert_int_equal(ward_buf_printf(&raw, "Content-Length: 2\r\n\r\nok"), WARD_OK);
	st.raw = (const char *)raw.p;
	st.len = raw.len;
	st.fill = 0;
	st.then = CLOSE;
	assert_int_equal(fetch_one(&st, 100, &body, &m), WARD_E_NET);
	assert_non_null(strstr(m.text, "larger than 16384"));
	ward_buf_free(&body);
	ward_buf_free(&raw);
}

static void test_slow_servers(void **state)
{
	static const struct step trickle[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", 0, 0, TRICKLE}};
	static const struct step trickle_head[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\nok",
	     0, 0, TRICKLE_RAW}};
	static const struct step silent[] = {{NULL, 0, 0, HANG}};
	const struct step *scripts[] = {trickle, trickle_head, silent};
	struct ward_net_opts o = {.low_speed_window_s = 2};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct srv s;
		struct ward_net *n = net_new(&o);
		struct ward_buf body;
		struct ward_msg m;
		char url[128];
		double t0, dt;

		srv_start(&s, NULL, scripts[i], 1);
		s.trickle_ms = 200; /* 5 bytes/s against a floor of 1024 */
		url_of(&s, "http", "127.0.0.1", "/slow", url, sizeof(url));
		t0 = now_s();
		assert_int_equal(fetch(n, url, 0, 1u << 20, &body, &m), WARD_E_NET);
		dt = now_s() - t0;
		if (strstr(m.text, "too slow (slow retrieval?)") == NULL)
			fail_msg("script %zu: %s", i, m.text);
		if (dt < 1.9 || dt > 3.5)
			fail_msg("script %zu: gave up after %.2f s, window 2 s", i, dt);
		ward_buf_free(&body);
		ward_net_free(n);
		srv_stop(&s);
	}
	/* The total time limit, below the speed window. */
	{
		struct ward_net_opts t = {.total_timeout_s = 1};
		struct srv s;
		struct ward_net *n = net_new(&t);
		struct ward_buf body;
		struct ward_msg m;
		char url[128];
		double t0, dt;

		srv_start(&s, NULL, silent, 1);
		url_of(&s, "http", "127.0.0.1", "/slow", url, sizeof(url));
		t0 = now_s();
		assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_E_NET);
		dt = now_s() - t0;
		assert_non_null(strstr(m.text, "timed out"));
		assert_true(dt >= 0.9 && dt < 2.0);
		ward_buf_free(&body);
		ward_net_free(n);
		srv_stop(&s);
	}
}

static void test_request(void **state)
{
	static const struct step st[] = {
	    {"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
	     "Content-Length: 9\r\n\r\nbad thing",
	     0, 0, KEEP},
	    {"HTTP/1.1 301 Moved\r\nLocation: https://elsewhere/\r\nContent-Length: 0\r\n\r\n", 0,
	     0, KEEP},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 0, 1000, KEEP},
	};
	struct srv s;
	struct ward_net *n = net_new(NULL);
	struct ward_net_resp resp;
	struct ward_buf body;
	struct ward_msg m = {{0}};
	char url[128];
	struct ward_net_req r;

	(void)state;
	srv_start(&s, NULL, st, 3);
	url_of(&s, "http", "127.0.0.1", "/api/v1/thing", url, sizeof(url));
	ward_buf_init(&body, BODY_MAX);
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url = url;
	r.content_type = "application/json";
	r.body = "{\"a\":1}";
	r.body_len = 7;
	r.max = 100;
	r.sink = to_buf;
	r.sink_ctx = &body;
	/* Any status is a response: the caller judges it and sees the body. */
	must(ward_net_request(n, &r, &resp, &m), &m, "POST");
	assert_int_equal(resp.status, 500);
	assert_string_equal(resp.content_type, "text/plain; charset=utf-8");
	assert_body(&body, "bad thing");
	assert_non_null(strstr(s.req, "POST /api/v1/thing HTTP/1.1\r\n"));
	assert_non_null(strstr(s.req, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(s.req, "\r\nContent-Length: 7\r\n"));
	assert_non_null(strstr(s.req, "\r\n\r\n{\"a\":1}"));
	assert_null(strstr(s.req, "Authorization"));
	ward_buf_reset(&body);
	/* A redirect is a status, never followed. */
	r.method = "DELETE";
	r.body = NULL;
	r.body_len = 0;
	r.content_type = NULL;
	must(ward_net_request(n, &r, &resp, &m), &m, "DELETE");
	assert_int_equal(resp.status, 301);
	assert_string_equal(resp.content_type, "");
	assert_non_null(strstr(s.req, "DELETE /api/v1/thing HTTP/1.1\r\n"));
	assert_null(strstr(s.req, "Content-Length"));
	/* The cap holds for requests too. */
	r.method = NULL;
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_TOOBIG);
	assert_int_equal(atomic_load(&s.accepted), 1);
	ward_buf_free(&body);
	ward_net_free(n);
	srv_stop(&s);
}

static void test_bad_arguments(void **state)
{
	static const char *const bad[] = {
	    "ftp://example.com/x",
	    "http//example.com/",
	    "http://user@example.com/",
	    "http://user:pw@example.com/",
	    "http://example.com/#frag",
	    "http://example.com/a b",
	    "http://example.com/\x7f",
	    "http://[::1/",
	    "http://[::1]x/",
	    "http://[not-v6]/",
	    "http://example.com:0/",
	    "http://example.com:65536/",
	    "http://example.com:/",
	    "http://example.com:12a/",
	    "http:///path",
	    "http://exa%6dple.com/",
	    "http://::1/",
	};
	struct ward_net *n = net_new(NULL);
	struct ward_net_resp resp;
	struct ward_net_req r;
	struct ward_msg m = {{0}};
	struct ward_buf body;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.max = 100;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.url = bad[i];
		if (ward_net_request(n, &r, &resp, &m) != WARD_E_INVAL)
			fail_msg("URL accepted: %s", bad[i]);
		/* Through the fetcher a bad URL is a failed transfer. */
		assert_int_equal(fetch(n, bad[i], 0, 100, &body, &m), WARD_E_NET);
		ward_buf_free(&body);
	}
	/* Credentials only over https. */
	r.url = "http://127.0.0.1:1/";
	r.user = "factory";
	r.password = "secret";
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_INVAL);
	assert_non_null(strstr(m.text, "https"));
	assert_null(strstr(m.text, "secret"));
	r.url = "https://127.0.0.1:1/";
	r.user = "fac:tory";
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_INVAL);
	r.user = NULL;
	r.method = "GE T";
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_INVAL);
	r.method = "POST";
	r.body_len = 3;
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_INVAL);
	r.body_len = 0;
	r.content_type = "text/plain\r\nX-Injected: 1";
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_INVAL);
	/* Nobody listening. */
	memset(&r, 0, sizeof(r));
	r.url = "http://127.0.0.1:1/";
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_NET);
	assert_non_null(strstr(m.text, "connect"));
	ward_net_free(n);
	{
		struct ward_net_opts o = {.client_cert = P.dev_pem};
		struct ward_net *x = NULL;

		assert_int_equal(ward_net_new(&o, &x, &m), WARD_E_INVAL);
		assert_null(x);
	}
	ward_net_free(NULL);
}

static ward_err slow_sink(void *ctx, const void *d, size_t n)
{
	(void)d;
	*(uint64_t *)ctx += n;
	usleep(20 * 1000);
	return WARD_OK;
}

static void test_total_timeout_steady_stream(void **state)
{
	/* Fast enough for the speed floor, endless enough to pass the total time limit. */
	static const struct step endless[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", 0, 1000000000, CLOSE}};
	struct ward_net_opts o = {.total_timeout_s = 1};
	struct srv s;
	struct ward_net *n = net_new(&o);
	struct ward_fetcher f;
	struct ward_msg m = {{0}};
	uint64_t got = 0;
	char url[128];
	double t0, dt;

	(void)state;
	srv_start(&s, NULL, endless, 1);
	url_of(&s, "http", "127.0.0.1", "/endless", url, sizeof(url));
	ward_net_fetcher(n, &f);
	t0 = now_s();
	assert_int_equal(f.fetch(f.ctx, url, 0, UINT64_MAX, slow_sink, &got, &m), WARD_E_NET);
	dt = now_s() - t0;
	assert_non_null(strstr(m.text, "timed out"));
	assert_true(got > 0);
	if (dt < 0.9 || dt > 2.0)
		fail_msg("stopped after %.2f s, limit 1 s", dt);
	ward_net_free(n);
	srv_stop(&s);
}

static void test_ipv6_literal(void **state)
{
	static const struct step st[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6", 0, 0, KEEP}};
	struct srv s;
	struct ward_net *n;
	struct ward_buf body;
	struct ward_msg m;
	char url[128], host[64];

	(void)state;
	if (!srv_start_family(&s, AF_INET6, NULL, st, 1))
		skip();
	n = net_new(NULL);
	url_of(&s, "http", "[::1]", "/six", url, sizeof(url));
	if (fetch(n, url, 0, 100, &body, &m) != WARD_OK)
		fail_msg("%s", m.text);
	assert_body(&body, "v6");
	assert_int_equal(ward_snprintf(host, sizeof(host), "\r\nHost: [::1]:%d\r\n", s.port),
	                 WARD_OK);
	assert_non_null(strstr(s.req, host));
	ward_buf_free(&body);
	ward_net_free(n);
	srv_stop(&s);
}

/* ---- TLS ------------------------------------------------------------------------------ */

static const struct step tls_ok[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret", 0, 0, KEEP}};

static void test_tls_verify_ok(void **state)
{
	struct ward_net_opts o = {.ca_file = P.root_pem};
	struct srv s;
	struct ward_net *n = net_new(&o);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];

	(void)state;
	srv_start(&s, P.server, tls_ok, 1);
	/* By name (SNI and DNS SAN) and by IP address (IP SAN); kept alive across both. */
	url_of(&s, "https", "localhost", "/t", url, sizeof(url));
	if (fetch(n, url, 0, 100, &body, &m) != WARD_OK)
		fail_msg("%s", m.text);
	assert_body(&body, "secret");
	ward_buf_free(&body);
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.accepted), 1);
	url_of(&s, "https", "127.0.0.1", "/t", url, sizeof(url));
	if (fetch(n, url, 0, 100, &body, &m) != WARD_OK)
		fail_msg("%s", m.text);
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.accepted), 2);
	/* No client certificate configured: none presented. */
	assert_string_equal(s.peer_cn, "");
	ward_net_free(n);
	srv_stop(&s);
}

static void test_tls_many_handles(void **state)
{
	/* Each handle makes its own TLS context: far more than OpenSSL's 127 BIO type indices. */
	struct ward_net_opts o = {.ca_file = P.root_pem};
	struct srv s;
	char url[128];

	(void)state;
	srv_start(&s, P.server, tls_ok, 1);
	url_of(&s, "https", "localhost", "/t", url, sizeof(url));
	for (int i = 0; i < 160; i++) {
		struct ward_net *n = net_new(&o);
		struct ward_buf body;
		struct ward_msg m;

		if (fetch(n, url, 0, 100, &body, &m) != WARD_OK)
			fail_msg("handle %d: %s", i, m.text);
		assert_body(&body, "secret");
		ward_buf_free(&body);
		ward_net_free(n);
	}
	assert_int_equal(atomic_load(&s.accepted), 160);
	srv_stop(&s);
}

static void test_tls_wrong_ca(void **state)
{
	struct ward_net_opts o = {.ca_file = P.oroot_pem};
	struct srv s;
	struct ward_net *n = net_new(&o);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];

	struct ward_net_resp resp;
	struct ward_net_req r;

	(void)state;
	srv_start(&s, P.server, tls_ok, 1);
	url_of(&s, "https", "localhost", "/t", url, sizeof(url));
	/* To a request, the certificate's failure is WARD_E_VERIFY ... */
	memset(&r, 0, sizeof(r));
	r.url = url;
	r.max = 100;
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_VERIFY);
	assert_non_null(strstr(m.text, "certificate verify failed: "));
	assert_non_null(strstr(m.text, P.oroot_pem));
	/* ... and to the fetcher's caller a failed transfer (tuf.h), with the same reason. */
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_E_NET);
	assert_non_null(strstr(m.text, "certificate verify failed: "));
	assert_int_equal(body.len, 0);
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.requests), 0);
	ward_net_free(n);
	srv_stop(&s);
}

static void test_tls_hostname_mismatch(void **state)
{
	struct ward_net_opts o = {.ca_file = P.root_pem};
	struct srv s;
	struct ward_net *n = net_new(&o);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];

	(void)state;
	struct ward_net_resp resp;
	struct ward_net_req r;

	srv_start(&s, P.wrong_server, tls_ok, 1);
	memset(&r, 0, sizeof(r));
	r.url = url;
	r.max = 100;
	url_of(&s, "https", "localhost", "/t", url, sizeof(url));
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_VERIFY);
	assert_non_null(strstr(m.text, "certificate verify failed: "));
	assert_non_null(strstr(m.text, "mismatch"));
	url_of(&s, "https", "127.0.0.1", "/t", url, sizeof(url));
	assert_int_equal(ward_net_request(n, &r, &resp, &m), WARD_E_VERIFY);
	assert_non_null(strstr(m.text, "mismatch"));
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_E_NET);
	ward_buf_free(&body);
	assert_int_equal(atomic_load(&s.requests), 0);
	ward_net_free(n);
	srv_stop(&s);
}

static void test_tls_client_cert(void **state)
{
	struct ward_net_opts o = {
	    .ca_file = P.root_pem, .client_cert = P.dev_pem, .client_key = P.dev_key_pem};
	struct srv s;
	struct ward_net *n = net_new(&o);
	struct ward_net_resp resp;
	struct ward_net_req r;
	struct ward_buf body;
	struct ward_msg m = {{0}};
	char url[128];

	(void)state;
	srv_start(&s, P.server, tls_ok, 1);
	url_of(&s, "https", "localhost", "/.well-known/est/simplereenroll", url, sizeof(url));
	ward_buf_init(&body, 100);
	memset(&r, 0, sizeof(r));
	r.url = url;
	r.method = "POST";
	r.content_type = "application/pkcs10";
	r.body = "csr";
	r.body_len = 3;
	r.user = "factory-1";
	r.password = "s3cret pass";
	r.max = 100;
	r.sink = to_buf;
	r.sink_ctx = &body;
	must(ward_net_request(n, &r, &resp, &m), &m, "mutual TLS request");
	assert_int_equal(resp.status, 200);
	assert_body(&body, "secret");
	assert_string_equal(s.peer_cn, "DEV-0042");
	/* base64("factory-1:s3cret pass") */
	assert_non_null(strstr(s.req, "\r\nAuthorization: Basic ZmFjdG9yeS0xOnMzY3JldCBwYXNz\r\n"));
	ward_buf_free(&body);
	ward_net_free(n);
	srv_stop(&s);

	/* A key that does not belong to the certificate is refused at the first https request. */
	{
		struct ward_net_opts bad = {
		    .ca_file = P.root_pem, .client_cert = P.dev_pem, .client_key = P.key};

		srv_start(&s, P.server, tls_ok, 1);
		url_of(&s, "https", "localhost", "/t", url, sizeof(url));
		n = net_new(&bad);
		assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_E_NET);
		assert_non_null(strstr(m.text, "does not match"));
		ward_buf_free(&body);
		ward_net_free(n);
		srv_stop(&s);
	}
}

static void test_tls_handshake_stall(void **state)
{
	/* A plain server that never speaks TLS: the handshake is bounded by connect_timeout. */
	static const struct step silent[] = {{NULL, 0, 0, HANG}};
	struct ward_net_opts o = {.ca_file = P.root_pem, .connect_timeout_s = 1};
	struct srv s;
	struct ward_net *n = net_new(&o);
	struct ward_buf body;
	struct ward_msg m;
	char url[128];
	double t0, dt;

	(void)state;
	srv_start(&s, NULL, silent, 1);
	url_of(&s, "https", "localhost", "/t", url, sizeof(url));
	t0 = now_s();
	assert_int_equal(fetch(n, url, 0, 100, &body, &m), WARD_E_NET);
	dt = now_s() - t0;
	assert_non_null(strstr(m.text, "TLS handshake"));
	assert_true(dt >= 0.9 && dt < 2.0);
	ward_buf_free(&body);
	ward_net_free(n);
	srv_stop(&s);
}

static void test_tls_bad_ca_file(void **state)
{
	struct ward_net_opts o = {.ca_file = P.dev_key_pem};
	struct ward_net *n = net_new(&o);
	struct ward_buf body;
	struct ward_msg m;
	struct srv s;
	char url[128];

	(void)state;
	srv_start(&s, P.server, tls_ok, 1);
	url_of(&s, "https", "localhost", "/t", url, sizeof(url));
	assert_int_not_equal(fetch(n, url, 0, 100, &body, &m), WARD_OK);
	assert_non_null(strstr(m.text, P.dev_key_pem));
	ward_buf_free(&body);
	ward_net_free(n);
	srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parser_framings),
	    cmocka_unit_test(test_parser_details),
	    cmocka_unit_test(test_parser_malformed),
	    cmocka_unit_test(test_parser_limits),
	    cmocka_unit_test(test_content_length_and_keepalive),
	    cmocka_unit_test(test_chunked_and_reuse),
	    cmocka_unit_test(test_read_to_close),
	    cmocka_unit_test(test_idle_connection_closed),
	    cmocka_unit_test(test_stale_connection_retried),
	    cmocka_unit_test(test_statuses),
	    cmocka_unit_test(test_range),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_malformed_over_the_wire),
	    cmocka_unit_test(test_header_flood),
	    cmocka_unit_test(test_slow_servers),
	    cmocka_unit_test(test_request),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_total_timeout_steady_stream),
	    cmocka_unit_test(test_ipv6_literal),
	    cmocka_unit_test(test_tls_verify_ok),
	    cmocka_unit_test(test_tls_many_handles),
	    cmocka_unit_test(test_tls_wrong_ca),
	    cmocka_unit_test(test_tls_hostname_mismatch),
	    cmocka_unit_test(test_tls_client_cert),
	    cmocka_unit_test(test_tls_handshake_stall),
	    cmocka_unit_test(test_tls_bad_ca_file),
	};

	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
