/*
 * bench/benchnet.c — the client side that bench/loadgen.c and
 * bench/fleetsim.c share (see benchnet.h): one non-blocking mutual-TLS
 * HTTP/1.1 connection per struct bn_conn, edge-triggered epoll, one request
 * at a time (no pipelining), replies framed by Content-Length only (what
 * ward-server sends; chunked replies are refused). The reply buffer of a
 * connection starts at 4 KiB and doubles up to its maximum, so ten thousand
 * idle connections cost little memory; anything longer fails the request.
 */
#include "benchnet.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#define IN_START 4096
#define IN_KEEP (16 * 1024)

const char *bn_prog = "bench";

void bn_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bn_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

const char *bn_ossl_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "no OpenSSL reason";
}

uint64_t bn_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bn_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bn_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

bool bn_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

bool bn_parse_secs(const char *s, double lo, double hi, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

size_t bn_parse_targets(const char *s, struct sockaddr_in *out, size_t max)
{
	char buf[512], *p, *next;
	size_t n = strlen(s), got = 0;

	if (n >= sizeof(buf))
		bn_die("--target too long");
	memcpy(buf, s, n + 1);
	for (p = buf; p; p = next) {
		char *colon;
		uint64_t port;
		struct sockaddr_in *a;

		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		colon = strrchr(p, ':');
		if (got == max)
			bn_die("at most %zu targets", max);
		if (!colon || !bn_parse_u64(colon + 1, 1, 65535, &port))
			bn_die("target \"%s\" is not HOST:PORT", p);
		*colon = '\0';
		a = &out[got++];
		memset(a, 0, sizeof(*a));
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, p, &a->sin_addr) != 1)
			bn_die("target host \"%s\" is not an IPv4 address", p);
	}
	if (!got)
		bn_die("no target");
	return got;
}

/* ---- identities ------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct bn_ident *bn_load_identities(const char *dir, size_t max, size_t *nout)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, total;
	struct bn_ident *ids;

	if (!d)
		bn_die("--identities %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 5 || strcmp(e->d_name + len - 4, ".pem"))
			continue;
		if (len - 4 >= sizeof(ids->name))
			bn_die("%s/%s: name too long for a device serial", dir, e->d_name);
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				bn_die("out of memory");
		}
		names[n] = strndup(e->d_name, len - 4);
		if (!names[n])
			bn_die("out of memory");
		n++;
	}
	closedir(d);
	if (!n)
		bn_die("--identities %s: no NAME.pem files (make them with loadgen enroll --save)", dir);
	qsort(names, n, sizeof(*names), cmp_str);
	total = n;
	if (n > max)
		n = max;
	ids = calloc(n, sizeof(*ids));
	if (!ids)
		bn_die("out of memory");
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		FILE *f;

		snprintf(ids[i].name, sizeof(ids[i].name), "%s", names[i]);
		if (snprintf(path, sizeof(path), "%s/%s.pem", dir, names[i]) >= (int)sizeof(path))
			bn_die("path too long in %s", dir);
		f = fopen(path, "r");
		if (!f || !(ids[i].cert = PEM_read_X509(f, NULL, NULL, NULL)))
			bn_die("%s: not a PEM certificate", path);
		fclose(f);
		if (snprintf(path, sizeof(path), "%s/%s.key", dir, names[i]) >= (int)sizeof(path))
			bn_die("path too long in %s", dir);
		f = fopen(path, "r");
		if (!f || !(ids[i].key = PEM_read_PrivateKey(f, NULL, NULL, NULL)))
			bn_die("%s: not a PEM private key (unencrypted)", path);
		fclose(f);
		if (X509_check_private_key(ids[i].cert, ids[i].key) != 1)
			bn_die("%s/%s: key and certificate do not match", dir, names[i]);
	}
	for (size_t i = 0; i < total; i++)
		free(names[i]);
	free(names);
	*nout = n;
	return ids;
}

void bn_idents_free(struct bn_ident *ids, size_t n)
{
	for (size_t i = 0; ids && i < n; i++) {
		EVP_PKEY_free(ids[i].key);
		X509_free(ids[i].cert);
	}
	free(ids);
}

SSL_CTX *bn_client_ctx(const char *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		bn_die("SSL_CTX_new: %s", bn_ossl_reason());
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* every handshake is a full one */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* a peer that closes TCP without close_notify (ward-server does) ends with EOF, not an error */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (ca) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
			bn_die("--ca %s: %s", ca, bn_ossl_reason());
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

/* ---- one connection --------------------------------------------------------- */

static void say(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(why, n, fmt, ap) < 0 && n)
		why[0] = '\0';
	va_end(ap);
}

void bn_conn_init(struct bn_conn *c, size_t in_max)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->st = BN_S_IDLE;
	c->in_max = in_max;
}

void bn_conn_set_max(struct bn_conn *c, size_t in_max)
{
	c->in_max = in_max;
}

void bn_conn_close(struct bn_conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd); /* also removes it from the epoll set */
		c->fd = -1;
	}
	c->st = BN_S_IDLE;
	c->in_len = 0;
	c->out = NULL;
	c->handshaken = false;
	if (c->in_cap > IN_KEEP) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
	ERR_clear_error();
}

void bn_conn_free(struct bn_conn *c)
{
	bn_conn_close(c);
	free(c->in);
	c->in = NULL;
	c->in_cap = 0;
}

bool bn_conn_open(struct bn_conn *c, int ep, const struct sockaddr_in *to, SSL_CTX *ctx, X509 *cert,
		  EVP_PKEY *key, void *tag, char *why, size_t whylen)
{
	struct epoll_event ev;
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		say(why, whylen, "socket: %s", strerror(errno));
		return false;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->in_len = 0;
	c->out_off = 0;
	c->st = BN_S_CONNECTING;
	c->handshaken = false;
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) != 0 && errno != EINPROGRESS) {
		say(why, whylen, "connect: %s", strerror(errno));
		bn_conn_close(c);
		return false;
	}
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
		bn_die("SSL_new: %s", bn_ossl_reason());
	SSL_set_connect_state(c->ssl);
	if (cert && (SSL_use_certificate(c->ssl, cert) != 1 || SSL_use_PrivateKey(c->ssl, key) != 1))
		bn_die("cannot use the device identity: %s", bn_ossl_reason());
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
	ev.data.ptr = tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		bn_die("epoll_ctl: %s", strerror(errno));
	return true;
}

void bn_conn_send(struct bn_conn *c, const char *req, size_t len)
{
	c->out = req;
	c->out_len = len;
	c->out_off = 0;
	c->in_len = 0;
	if (c->st == BN_S_READY) {
		c->st = BN_S_WRITE;
		c->t_sent = bn_now_ns();
	}
}

/* SSL call result r: BN_WAIT when it must wait, BN_FAIL (why set) when it failed. */
static enum bn_event ssl_result(struct bn_conn *c, int r, const char *what, char *why, size_t whylen)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return BN_WAIT;
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
		say(why, whylen, "%s: %s", what,
		    errno && e == SSL_ERROR_SYSCALL ? strerror(errno) : "connection closed by the server");
	else
		say(why, whylen, "%s: %s", what, bn_ossl_reason());
	return BN_FAIL;
}

enum bn_event bn_conn_shutdown(struct bn_conn *c, char *why, size_t whylen)
{
	int r;

	errno = 0;
	r = SSL_shutdown(c->ssl); /* sends close_notify */
	if (r < 0 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_WRITE && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
		/* the server refused us (an alert) or closed first */
		say(why, whylen, "sending close_notify: %s",
		    ERR_peek_error() ? bn_ossl_reason() : errno ? strerror(errno) : "the server closed the connection");
		return BN_FAIL;
	}
	c->st = BN_S_CLOSING;
	return BN_WAIT;
}

/*
 * Is the reply in c->in complete? 1 yes (r set), 0 not yet, -1 it is not a
 * reply we can read (why set).
 */
static int reply_complete(struct bn_conn *c, struct bn_reply *r, char *why, size_t whylen)
{
	const char *end = NULL, *p, *line;
	size_t hlen, clen = 0;
	bool have_len = false;

	if (c->in_len < 12)
		return 0;
	for (size_t i = 0; i + 4 <= c->in_len; i++)
		if (!memcmp(c->in + i, "\r\n\r\n", 4)) {
			end = c->in + i;
			break;
		}
	if (!end) {
		if (c->in_len < c->in_max)
			return 0;
		say(why, whylen, "reply: headers longer than %zu bytes", c->in_max);
		return -1;
	}
	hlen = (size_t)(end - c->in) + 4;
	if (strncmp(c->in, "HTTP/1.", 7) || c->in[8] != ' ') {
		say(why, whylen, "reply: not HTTP/1.x");
		return -1;
	}
	r->code = (c->in[9] - '0') * 100 + (c->in[10] - '0') * 10 + (c->in[11] - '0');
	r->close = false;
	for (line = memchr(c->in, '\n', hlen); line && line < end; line = memchr(line, '\n', (size_t)(end - line))) {
		line++;
		if ((size_t)(end - line) > 15 && !strncasecmp(line, "Content-Length:", 15)) {
			uint64_t v = 0;

			for (p = line + 15; *p == ' '; p++)
				;
			for (; *p >= '0' && *p <= '9' && v <= c->in_max; p++)
				v = v * 10 + (uint64_t)(*p - '0');
			clen = (size_t)v;
			have_len = true;
		} else if ((size_t)(end - line) > 18 && !strncasecmp(line, "Transfer-Encoding:", 18)) {
			say(why, whylen, "reply: Transfer-Encoding (ward-server always sends Content-Length)");
			return -1;
		} else if ((size_t)(end - line) > 17 && !strncasecmp(line, "Connection: close", 17)) {
			r->close = true;
		}
	}
	if (!have_len) {
		say(why, whylen, "reply: no Content-Length");
		return -1;
	}
	if (hlen + clen > c->in_max) {
		say(why, whylen, "reply: %zu bytes, more than the %zu allowed", hlen + clen, c->in_max);
		return -1;
	}
	if (c->in_len < hlen + clen)
		return 0;
	r->body = c->in + hlen;
	r->blen = clen;
	return 1;
}

enum bn_event bn_conn_step(struct bn_conn *c, struct bn_reply *r, char *why, size_t whylen)
{
	for (;;) {
		switch (c->st) {
		case BN_S_IDLE:
		case BN_S_READY:
			return BN_WAIT;
		case BN_S_CONNECTING: {
			int err = 0;
			socklen_t len = sizeof(err);

			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno;
			if (err == EINPROGRESS || err == EALREADY)
				return BN_WAIT;
			if (err) {
				say(why, whylen, "connect: %s", strerror(err));
				return BN_FAIL;
			}
			c->st = BN_S_HANDSHAKE;
			continue;
		}
		case BN_S_HANDSHAKE: {
			int rv;

			errno = 0;
			rv = SSL_do_handshake(c->ssl);
			if (rv != 1)
				return ssl_result(c, rv, "TLS handshake", why, whylen);
			c->handshaken = true;
			if (!c->out) {
				c->st = BN_S_READY;
				return BN_UP;
			}
			c->st = BN_S_WRITE;
			c->t_sent = bn_now_ns();
			continue;
		}
		case BN_S_WRITE: {
			int rv;

			errno = 0;
			rv = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
			if (rv <= 0)
				return ssl_result(c, rv, "sending the request", why, whylen);
			c->out_off += (size_t)rv;
			if (c->out_off == c->out_len)
				c->st = BN_S_READ;
			continue;
		}
		case BN_S_READ: {
			int rv, done;

			if (c->in_len == c->in_cap) {
				size_t cap = c->in_cap ? c->in_cap * 2 : IN_START;
				char *p;

				if (c->in_cap >= c->in_max) {
					say(why, whylen, "reply: longer than %zu bytes", c->in_max);
					return BN_FAIL;
				}
				if (cap > c->in_max)
					cap = c->in_max;
				p = realloc(c->in, cap);
				if (!p)
					bn_die("out of memory");
				c->in = p;
				c->in_cap = cap;
			}
			errno = 0;
			rv = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
			if (rv <= 0)
				return ssl_result(c, rv, "reading the reply", why, whylen);
			c->in_len += (size_t)rv;
			done = reply_complete(c, r, why, whylen);
			if (done == 0)
				continue;
			if (done < 0)
				return BN_FAIL;
			c->st = BN_S_READY;
			c->out = NULL;
			return BN_REPLY;
		}
		case BN_S_CLOSING: {
			char buf[256];
			int rv, e;

			errno = 0;
			rv = SSL_read(c->ssl, buf, sizeof(buf));
			if (rv > 0)
				continue; /* e.g. a session ticket's record: ignore */
			e = SSL_get_error(c->ssl, rv);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return BN_WAIT;
			if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
				/* the peer's close_notify or EOF: the handshake was accepted */
				bn_conn_close(c);
				return BN_CLOSED;
			}
			say(why, whylen, "TLS (after the handshake): %s", bn_ossl_reason());
			return BN_FAIL;
		}
		}
	}
}

int bn_first_line(const char *b, size_t n)
{
	const char *nl = memchr(b, '\n', n);
	size_t len = nl ? (size_t)(nl - b) : n;

	return (int)(len > 160 ? 160 : len);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

double bn_percentile_ms(uint32_t *lat, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	qsort(lat, n, sizeof(*lat), cmp_u32);
	i = (size_t)((double)n * p / 100);
	if (i >= n)
		i = n - 1;
	return lat[i] / 1000.0;
}
