/*
 * lib/net/http.c — ward_net (include/ward/net.h): a small HTTP/1.1 client
 * over TCP or TLS (lib/crypto/tls.c), the fetcher of `ward tuf`, EST and wardd.
 *
 * One request at a time on at most one connection, kept alive for the next
 * request to the same scheme, host and port when the response was read to
 * its end and the server allowed it. A kept connection that the server has
 * closed is noticed before use (poll) or, if the request then fails before
 * any byte of response, the request is sent once more on a new connection.
 * Redirects are never followed; only http and https; no proxies.
 *
 * Bounds: every buffer is allocated with its final size when the handle is
 * made (a 64 KiB receive buffer, the parser's 8 KiB line) or has a fixed
 * maximum (the request head); the response is parsed by http_response.c
 * (16 KiB of head, 8 KiB a line) and its body goes to the caller's sink in
 * spans of the receive buffer, refused up front when Content-Length exceeds
 * the cap and cut off the moment the bytes pass it. Every wait is a poll()
 * with a deadline: connect_timeout for connecting and the TLS handshake,
 * total_timeout for the whole request when set, and the speed floor (fewer
 * than low_speed_bytes/s on average over low_speed_window_s, measured in 16
 * slots of the window, like curl's LOW_SPEED_LIMIT/TIME) for everything after
 * the connection is up, a server that stalls in the middle of its headers
 * included. Name resolution (getaddrinfo) is bounded by the resolver's own
 * timeout and attempts (resolv.conf), not by connect_timeout.
 *
 * Secrets: the request head is a secret buffer (it may hold an Authorization
 * header) and is wiped after the request, as are the credentials' encoding.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/net.h"
#include "ward/tls.h"

#include "http_response.h"

_Static_assert(sizeof(((struct ward_net_resp *)0)->content_type) ==
                   sizeof(((struct ward_http_response *)0)->content_type),
               "net.h's content_type and the parser's must have the same size");

#define NET_BUF_MAX       (64u * 1024)         /* receive buffer, allocated once per handle */
#define NET_URL_MAX       8192                 /* bytes of a URL */
#define NET_HOST_MAX      253                  /* a DNS name; IP literals are shorter */
#define NET_AUTHORITY_MAX (NET_HOST_MAX + 8)   /* "[host]:65535" */
#define NET_HEAD_MAX      (NET_URL_MAX + 4096) /* request line and headers */
#define NET_CRED_MAX      1024                 /* bytes of "user:password" */
#define NET_METHOD_MAX    16                   /* bytes of a method name */
#define NET_CTYPE_MAX     256                  /* bytes of a request Content-Type */
#define METER_SLOTS       16                   /* slots of the speed window */
#define POLL_MAX_MS       1000                 /* longest single poll() */

#define LIMIT_S_MAX         86400L     /* no time limit is longer than a day */
#define LOW_SPEED_MAX       (1L << 30) /* bytes/s */
#define DEFAULT_CONNECT_S   10
#define DEFAULT_LOW_SPEED   1024
#define DEFAULT_LOW_SPEED_S 10

struct url {
	bool tls;                              /* https */
	char host[NET_HOST_MAX + 1];           /* name or IP literal (no brackets) */
	char port[6];                          /* decimal */
	char authority[NET_AUTHORITY_MAX + 1]; /* Host header: [v6], :port unless default */
	const char *target;                    /* path and query, borrowed from the URL */
	size_t target_len;                     /* 0: send "/" */
	bool target_slash;                     /* target starts with '?': send "/" first */
};

struct conn {
	int fd;                      /* -1: no connection */
	struct ward_tls_conn *tls;   /* with https */
	bool tls_scheme;             /* what it is connected to: scheme, */
	char host[NET_HOST_MAX + 1]; /* host */
	char port[6];                /* and port */
	bool idle; /* the last response ended cleanly and allows another request */
};

/* Bytes moved in the last window, in METER_SLOTS + 1 slots of window / METER_SLOTS each. */
struct meter {
	uint64_t start;                  /* ms: when measuring began */
	uint64_t slot_ms;                /* width of a slot */
	uint64_t slot_start;             /* ms: when the current slot began */
	unsigned cur;                    /* current slot */
	uint64_t bytes[METER_SLOTS + 1]; /* bytes moved (sent or received) in each slot */
	uint64_t window_ms;              /* low_speed_window_s in ms */
	uint64_t floor;           /* bytes the window must carry: low_speed_bytes * window_s */
	long low_speed, window_s; /* for messages */
};

struct ward_net {
	struct ward_net_opts opts;      /* copied options (strings borrowed from the caller) */
	struct ward_tls_client *tls;    /* created at the first https:// request */
	struct conn c;                  /* the one connection */
	uint8_t *buf;                   /* NET_BUF_MAX bytes received */
	size_t off, have;               /* buf[off..have) is received and not yet parsed */
	struct ward_http_response resp; /* the response being read */
};

/* One request in progress. */
struct xfer {
	const char *url;    /* for messages */
	uint64_t deadline;  /* ms, total_timeout; 0 = none */
	struct meter meter; /* the speed floor */
	uint64_t received;  /* bytes of response (head and body) so far */
	uint64_t got;       /* body bytes handed to the sink */
	bool timed_out;     /* failed on a time limit: never retried */
};

/* ---- time and the speed floor ------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void meter_start(struct meter *mt, long low_speed, long window_s, uint64_t now)
{
	memset(mt, 0, sizeof(*mt));
	mt->low_speed = low_speed;
	mt->window_s = window_s;
	mt->window_ms = (uint64_t)window_s * 1000;
	mt->slot_ms = mt->window_ms / METER_SLOTS;
	if (mt->slot_ms == 0)
		mt->slot_ms = 1;
	mt->floor = (uint64_t)low_speed * (uint64_t)window_s;
	mt->start = now;
	mt->slot_start = now;
}

/* Move the current slot up to now, emptying the slots passed. */
static void meter_advance(struct meter *mt, uint64_t now)
{
	uint64_t passed = (now - mt->slot_start) / mt->slot_ms;

	if (passed == 0)
		return;
	if (passed > METER_SLOTS) {
		memset(mt->bytes, 0, sizeof(mt->bytes));
		mt->slot_start += passed * mt->slot_ms;
		return;
	}
	for (uint64_t i = 0; i < passed; i++) {
		mt->cur = (mt->cur + 1) % (METER_SLOTS + 1);
		mt->bytes[mt->cur] = 0;
	}
	mt->slot_start += passed * mt->slot_ms;
}

static void meter_add(struct meter *mt, uint64_t now, size_t n)
{
	meter_advance(mt, now);
	mt->bytes[mt->cur] += n;
}

/* Too slow: a whole window has passed and the last window (+ one slot) carried less than the floor.
 */
static bool meter_slow(struct meter *mt, uint64_t now)
{
	uint64_t sum = 0;

	meter_advance(mt, now);
	if (now - mt->start < mt->window_ms)
		return false;
	for (unsigned i = 0; i <= METER_SLOTS; i++)
		sum += mt->bytes[i];
	return sum < mt->floor;
}

/* ---- waiting ------------------------------------------------------------ */

/*
 * Wait until fd is ready for events, the deadline (ms, 0 = none) passes, or
 * (with meter) the transfer falls under the speed floor. what names the
 * phase for the timeout message.
 */
static ward_err wait_fd(struct xfer *x, int fd, short events, uint64_t deadline, bool meter,
                        const char *what, struct ward_msg *m)
{
	for (;;) {
		uint64_t now = now_ms(), t = POLL_MAX_MS;
		struct pollfd p = {.fd = fd, .events = events};
		int r;

		if (deadline != 0 && now >= deadline) {
			x->timed_out = true;
			return ward_msg_set(m, WARD_E_NET, "%s: timed out %s (time limit)", x->url,
			                    what);
		}
		if (meter && meter_slow(&x->meter, now)) {
			x->timed_out = true;
			return ward_msg_set(
			    m, WARD_E_NET,
			    "%s: too slow (slow retrieval?): under %ld bytes/s over "
			    "%ld s, %llu bytes received",
			    x->url, x->meter.low_speed, x->meter.window_s,
			    (unsigned long long)x->received);
		}
		if (meter && x->meter.slot_ms < t)
			t = x->meter.slot_ms;
		if (deadline != 0 && deadline - now < t)
			t = deadline - now;
		r = poll(&p, 1, (int)t);
		if (r > 0)
			return WARD_OK; /* ready, or an error the next read or write reports */
		if (r < 0 && errno != EINTR)
			return ward_msg_set(m, WARD_E_NET, "%s: poll: %s", x->url, strerror(errno));
	}
}

/* The deadline of everything after connecting: the total time limit, if any. */
static ward_err wait_io(struct xfer *x, int fd, short events, const char *what, struct ward_msg *m)
{
	return wait_fd(x, fd, events, x->deadline, true, what, m);
}

/* ---- URLs ---------------------------------------------------------------- */

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/*
 * http[s]://host[:port][/path][?query], host a name, an IPv4 address or an
 * [IPv6] literal. No user information, no fragment, no spaces, control or
 * non-ASCII bytes. u->target points into url.
 */
static ward_err url_parse(const char *url, struct url *u, ward_err bad, struct ward_msg *m)
{
	size_t len = strnlen(url, NET_URL_MAX + 1), alen, hlen, plen = 0;
	const char *p, *host, *port = NULL;
	bool v6 = false;
	unsigned long pv;

	memset(u, 0, sizeof(*u));
	if (len > NET_URL_MAX)
		return ward_msg_set(m, bad, "URL longer than %d bytes", NET_URL_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return ward_msg_set(m, bad,
			                    "%.200s: a URL cannot hold spaces, control characters "
			                    "or non-ASCII bytes (percent-encode them)",
			                    url);
	if (strncasecmp(url, "https://", 8) == 0) {
		u->tls = true;
		p = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else {
		return ward_msg_set(m, bad, "%.200s: only http:// and https:// URLs", url);
	}
	alen = strcspn(p, "/?#");
	if (memchr(p, '@', alen) != NULL)
		return ward_msg_set(m, bad,
		                    "%.200s: user name or password in the URL refused (credentials "
		                    "are passed separately)",
		                    url);
	if (p[0] == '[') {
		const char *close = memchr(p, ']', alen);

		if (close == NULL)
			return ward_msg_set(m, bad, "%.200s: unterminated [IPv6 address]", url);
		host = p + 1;
		hlen = (size_t)(close - host);
		v6 = true;
		if (close + 1 < p + alen) {
			if (close[1] != ':')
				return ward_msg_set(m, bad, "%.200s: junk after ]", url);
			port = close + 2;
			plen = (size_t)(p + alen - port);
		}
	} else {
		const char *colon = memchr(p, ':', alen);

		host = p;
		hlen = colon != NULL ? (size_t)(colon - p) : alen;
		if (colon != NULL) {
			port = colon + 1;
			plen = (size_t)(p + alen - port);
		}
		for (size_t i = 0; i < hlen; i++)
			if (!host_char(host[i]))
				return ward_msg_set(m, bad, "%.200s: malformed host name", url);
	}
	if (hlen == 0 || hlen > NET_HOST_MAX)
		return ward_msg_set(m, bad, "%.200s: no host, or a host name over %d bytes", url,
		                    NET_HOST_MAX);
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';
	if (v6) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return ward_msg_set(m, bad, "%.200s: malformed IPv6 address", url);
	}
	if (port != NULL) {
		pv = 0;
		if (plen == 0 || plen > 5)
			return ward_msg_set(m, bad, "%.200s: malformed port", url);
		for (size_t i = 0; i < plen; i++) {
			if (port[i] < '0' || port[i] > '9')
				return ward_msg_set(m, bad, "%.200s: malformed port", url);
			pv = pv * 10 + (unsigned long)(port[i] - '0');
		}
		if (pv == 0 || pv > 65535)
			return ward_msg_set(m, bad, "%.200s: port out of range", url);
	} else {
		pv = u->tls ? 443 : 80;
	}
	if (ward_snprintf(u->port, sizeof(u->port), "%lu", pv) != WARD_OK)
		return ward_msg_set(m, bad, "%.200s: malformed port", url);
	if (ward_snprintf(u->authority, sizeof(u->authority), "%s%s%s%s%s", v6 ? "[" : "", u->host,
	                  v6 ? "]" : "", pv == (u->tls ? 443u : 80u) ? "" : ":",
	                  pv == (u->tls ? 443u : 80u) ? "" : u->port) != WARD_OK)
		return ward_msg_set(m, bad, "%.200s: host too long", url);
	u->target = p + alen;
	u->target_len = strlen(u->target);
	if (memchr(u->target, '#', u->target_len) != NULL)
		return ward_msg_set(
		    m, bad, "%.200s: a fragment (#...) is never sent to a server; remove it", url);
	u->target_slash = u->target_len > 0 && u->target[0] == '?';
	return WARD_OK;
}

/* ---- the request head ------------------------------------------------------ */

static bool is_token(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c) != NULL))
			return false;
	}
	return true;
}

/* A header value we send: 1..max-1 bytes of HTAB, SP and visible characters. */
static bool is_field_value(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == 0 || n == max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c != '\t' && (c < 0x20 || c == 0x7f))
			return false;
	}
	return true;
}

/* "Authorization: Basic base64(user:password)\r\n" appended to head (a secret buffer). */
static ward_err basic_auth(const char *user, const char *password, struct ward_buf *head,
                           struct ward_msg *m)
{
	static const char prefix[] = "Authorization: Basic ";
	struct ward_buf cred, b64;
	ward_err e;

	ward_buf_init_secret(&cred, NET_CRED_MAX);
	ward_buf_init(&b64, 0);
	if (strchr(user, ':') || strpbrk(user, "\r\n") || strpbrk(password, "\r\n")) {
		e = ward_msg_set(m, WARD_E_INVAL,
		                 "HTTP Basic: the user name cannot hold ':' and neither may hold a "
		                 "line break");
		goto out;
	}
	if ((e = ward_buf_append(&cred, user, strlen(user))) != WARD_OK ||
	    (e = ward_buf_append(&cred, ":", 1)) != WARD_OK ||
	    (e = ward_buf_append(&cred, password, strlen(password))) != WARD_OK) {
		e = ward_msg_set(m, e, "HTTP Basic: user name and password longer than %d bytes",
		                 NET_CRED_MAX);
		goto out;
	}
	if ((e = ward_crypto_base64_encode(cred.p, cred.len, &b64)) != WARD_OK ||
	    (e = ward_buf_append(head, prefix, sizeof(prefix) - 1)) != WARD_OK ||
	    (e = ward_buf_append(head, b64.p, b64.len)) != WARD_OK ||
	    (e = ward_buf_append(head, "\r\n", 2)) != WARD_OK) {
		e = ward_msg_set(m, e, "HTTP Basic: cannot encode the credentials");
		goto out;
	}
out:
	if (b64.p)
		ward_wipe(b64.p, b64.len); /* the encoding is as secret as the password */
	ward_buf_free(&b64);
	ward_buf_free(&cred);
	return e;
}

/* What goes into a request besides the URL. */
struct req_head {
	const char *method;       /* a token */
	uint64_t offset;          /* > 0: Range: bytes=offset- */
	const char *content_type; /* or NULL */
	bool body;                /* send Content-Length */
	size_t body_len;
	const char *user; /* or NULL */
	const char *password;
	const char *bearer; /* or NULL: "Authorization: Bearer <bearer>" (a secret) */
};

/* The request line and headers into head (initialised here as a secret buffer). */
static ward_err build_head(const struct url *u, const struct req_head *h, struct ward_buf *head,
                           struct ward_msg *m)
{
	ward_err e;

	ward_buf_init_secret(head, NET_HEAD_MAX);
	if ((e = ward_buf_printf(head,
	                         "%s %s%.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ward\r\n"
	                         "Accept: */*\r\nConnection: keep-alive\r\n",
	                         h->method, u->target_len == 0 || u->target_slash ? "/" : "",
	                         (int)u->target_len, u->target, u->authority)) != WARD_OK)
		return ward_msg_set(m, e, "request head longer than %d bytes", NET_HEAD_MAX);
	if (h->offset > 0 && (e = ward_buf_printf(head, "Range: bytes=%llu-\r\n",
	                                          (unsigned long long)h->offset)) != WARD_OK)
		return ward_msg_set(m, e, "request head longer than %d bytes", NET_HEAD_MAX);
	if (h->content_type != NULL &&
	    (e = ward_buf_printf(head, "Content-Type: %s\r\n", h->content_type)) != WARD_OK)
		return ward_msg_set(m, e, "request head longer than %d bytes", NET_HEAD_MAX);
	if (h->body &&
	    (e = ward_buf_printf(head, "Content-Length: %zu\r\n", h->body_len)) != WARD_OK)
		return ward_msg_set(m, e, "request head longer than %d bytes", NET_HEAD_MAX);
	if (h->user != NULL &&
	    (e = basic_auth(h->user, h->password ? h->password : "", head, m)) != WARD_OK)
		return e;
	if (h->bearer != NULL && (!is_field_value(h->bearer, NET_CRED_MAX) || h->user != NULL))
		return ward_msg_set(m, WARD_E_INVAL, "bearer token: malformed, or given with a user name");
	if (h->bearer != NULL &&
	    (e = ward_buf_printf(head, "Authorization: Bearer %s\r\n", h->bearer)) != WARD_OK)
		return ward_msg_set(m, e, "request head longer than %d bytes", NET_HEAD_MAX);
	if ((e = ward_buf_append(head, "\r\n", 2)) != WARD_OK)
		return ward_msg_set(m, e, "request head longer than %d bytes", NET_HEAD_MAX);
	return WARD_OK;
}

/* ---- connections ------------------------------------------------------------ */

/* Drop the connection; clean: it is healthy, say goodbye (TLS close_notify) first. */
static void conn_close(struct ward_net *n, bool clean)
{
	struct conn *c = &n->c;

	if (c->tls != NULL) {
		if (clean)
			ward_tls_conn_shutdown(c->tls);
		ward_tls_conn_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->idle = false;
	n->off = n->have = 0;
}

/* The kept connection, when it goes where u goes and the server has not closed it. */
static bool can_reuse(struct ward_net *n, const struct url *u)
{
	struct conn *c = &n->c;
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	if (c->fd < 0 || !c->idle || c->tls_scheme != u->tls || strcmp(c->host, u->host) != 0 ||
	    strcmp(c->port, u->port) != 0)
		return false;
	/* Readable while idle: the server closed it (or sent junk). Either way, not reusable. */
	return poll(&p, 1, 0) == 0;
}

/* Connect one address before deadline; the socket in *fd (non-blocking). errno-style result. */
static int connect_addr(struct xfer *x, const struct addrinfo *ai, uint64_t deadline, int *fd,
                        struct ward_msg *m)
{
	int s =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	int err = 0, one = 1;
	socklen_t len = sizeof(err);

	if (s < 0)
		return errno;
	if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			close(s);
			return err;
		}
		if (wait_fd(x, s, POLLOUT, deadline, false, "connecting", m) != WARD_OK) {
			close(s);
			return ETIMEDOUT;
		}
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			close(s);
			return err;
		}
	}
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd = s;
	return 0;
}

/* A new connection to u (TCP, then TLS for https) within connect_timeout. */
static ward_err conn_open(struct ward_net *n, struct xfer *x, const struct url *u,
                          struct ward_msg *m)
{
	struct addrinfo hints, *res = NULL;
	long cto = n->opts.connect_timeout_s > 0 ? n->opts.connect_timeout_s : DEFAULT_CONNECT_S;
	uint64_t deadline = now_ms() + (uint64_t)cto * 1000;
	enum ward_tls_wait w = WARD_TLS_DONE;
	int rc, err = 0, fd = -1;
	ward_err e;

	if (x->deadline != 0 && x->deadline < deadline)
		deadline = x->deadline;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0)
		return ward_msg_set(m, WARD_E_NET, "%s: cannot resolve %s: %s", x->url, u->host,
		                    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		if (now_ms() >= deadline) {
			err = ETIMEDOUT;
			break;
		}
		err = connect_addr(x, ai, deadline, &fd, m);
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (err == ETIMEDOUT)
			return ward_msg_set(m, WARD_E_NET,
			                    "%s: connecting to %s port %s timed out after %ld s",
			                    x->url, u->host, u->port, cto);
		return ward_msg_set(m, WARD_E_NET, "%s: cannot connect to %s port %s: %s", x->url,
		                    u->host, u->port, strerror(err ? err : ECONNREFUSED));
	}
	n->c.fd = fd;
	n->c.tls_scheme = u->tls;
	memcpy(n->c.host, u->host, sizeof(n->c.host));
	memcpy(n->c.port, u->port, sizeof(n->c.port));
	if (!u->tls)
		return WARD_OK;
	if (n->tls == NULL) {
		struct ward_tls_client_opts to = {.ca_file = n->opts.ca_file,
		                                  .client_cert = n->opts.client_cert,
		                                  .client_key = n->opts.client_key};

		if ((e = ward_tls_client_new(&to, &n->tls, m)) != WARD_OK)
			goto fail;
	}
	if ((e = ward_tls_conn_new(n->tls, fd, u->host, &n->c.tls, m)) != WARD_OK)
		goto fail;
	while ((e = ward_tls_conn_handshake(n->c.tls, &w, m)) == WARD_OK && w != WARD_TLS_DONE) {
		if ((e = wait_fd(x, fd, w == WARD_TLS_WANT_READ ? POLLIN : POLLOUT, deadline, false,
		                 "in the TLS handshake", m)) != WARD_OK) {
			conn_close(n, false);
			return e; /* the message names the URL */
		}
	}
	if (e == WARD_OK)
		return WARD_OK;
fail:
	conn_close(n, false);
	if (e == WARD_E_VERIFY)
		return ward_msg_prefix(m, e,
		                       "%s: TLS: the server's certificate does not verify against "
		                       "%s: ",
		                       x->url,
		                       n->opts.ca_file ? n->opts.ca_file : "the system's CAs");
	return ward_msg_prefix(m, e, "%s: ", x->url);
}

/* ---- moving bytes ---------------------------------------------------------- */

static ward_err send_all(struct ward_net *n, struct xfer *x, const void *data, size_t len,
                         struct ward_msg *m)
{
	const uint8_t *p = data;
	ward_err e;

	while (len > 0) {
		size_t put = 0;

		if (n->c.tls != NULL) {
			enum ward_tls_wait w;

			e = ward_tls_conn_write(n->c.tls, p, len, &put, &w, m);
			if (e != WARD_OK)
				return ward_msg_prefix(m, e, "%s: ", x->url);
			if (w != WARD_TLS_DONE) {
				e = wait_io(x, n->c.fd, w == WARD_TLS_WANT_READ ? POLLIN : POLLOUT,
				            "sending the request", m);
				if (e != WARD_OK)
					return e;
				continue;
			}
		} else {
			ssize_t r = send(n->c.fd, p, len, MSG_NOSIGNAL);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				e = wait_io(x, n->c.fd, POLLOUT, "sending the request", m);
				if (e != WARD_OK)
					return e;
				continue;
			}
			if (r <= 0)
				return ward_msg_set(m, WARD_E_NET, "%s: sending the request: %s",
				                    x->url,
				                    r < 0 ? strerror(errno) : "no progress");
			put = (size_t)r;
		}
		meter_add(&x->meter, now_ms(), put);
		p += put;
		len -= put;
	}
	return WARD_OK;
}

/*
 * Receive into the empty buffer: at least one byte, or *eof when the
 * server closed the connection.
 */
static ward_err fill(struct ward_net *n, struct xfer *x, bool *eof, struct ward_msg *m)
{
	uint64_t now;
	size_t got = 0;
	ward_err e;

	*eof = false;
	n->off = n->have = 0;
	for (;;) {
		if (n->c.tls != NULL) {
			enum ward_tls_wait w;

			e = ward_tls_conn_read(n->c.tls, n->buf, NET_BUF_MAX, &got, &w, m);
			if (e != WARD_OK)
				return ward_msg_prefix(m, e, "%s: ", x->url);
			if (w != WARD_TLS_DONE) {
				e = wait_io(x, n->c.fd, w == WARD_TLS_WANT_READ ? POLLIN : POLLOUT,
				            x->received ? "receiving the response"
				                        : "waiting for the response",
				            m);
				if (e != WARD_OK)
					return e;
				continue;
			}
		} else {
			ssize_t r = recv(n->c.fd, n->buf, NET_BUF_MAX, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				e = wait_io(x, n->c.fd, POLLIN,
				            x->received ? "receiving the response"
				                        : "waiting for the response",
				            m);
				if (e != WARD_OK)
					return e;
				continue;
			}
			if (r < 0)
				return ward_msg_set(m, WARD_E_NET, "%s: receiving: %s", x->url,
				                    strerror(errno));
			got = (size_t)r;
		}
		break;
	}
	if (got == 0) {
		*eof = true;
		return WARD_OK;
	}
	n->have = got;
	x->received += got;
	now = now_ms();
	meter_add(&x->meter, now, got);
	/* A steady stream never waits in poll(): check the time limit on arrival too. */
	if (x->deadline != 0 && now >= x->deadline) {
		x->timed_out = true;
		return ward_msg_set(m, WARD_E_NET,
		                    "%s: timed out receiving the response (time limit)", x->url);
	}
	/* A trickle wakes poll() with every byte: check the floor on arrival too. */
	if (meter_slow(&x->meter, now)) {
		x->timed_out = true;
		return ward_msg_set(m, WARD_E_NET,
		                    "%s: too slow (slow retrieval?): under %ld bytes/s over %ld s, "
		                    "%llu bytes received",
		                    x->url, x->meter.low_speed, x->meter.window_s,
		                    (unsigned long long)x->received);
	}
	return WARD_OK;
}

/* A parser failure as the transfer's failure. */
static ward_err bad_response(struct xfer *x, ward_err e, struct ward_msg *m)
{
	(void)e;
	return ward_msg_prefix(m, WARD_E_NET, "%s: bad HTTP response: ", x->url);
}

/* Read and parse until the head of the final response is complete. */
static ward_err read_head(struct ward_net *n, struct xfer *x, struct ward_msg *m)
{
	for (;;) {
		enum ward_http_event ev;
		const uint8_t *b;
		size_t used, bl;
		bool eof;
		ward_err e;

		if (n->off == n->have) {
			if ((e = fill(n, x, &eof, m)) != WARD_OK)
				return e;
			if (eof) {
				e = ward_http_response_eof(&n->resp, &ev, m);
				return x->received == 0
				           ? ward_msg_prefix(m, WARD_E_NET, "%s: ", x->url)
				           : bad_response(x, e, m);
			}
		}
		e = ward_http_response_feed(&n->resp, n->buf + n->off, n->have - n->off, &used, &ev,
		                            &b, &bl, m);
		n->off += used;
		if (e != WARD_OK)
			return bad_response(x, e, m);
		if (ev == WARD_HTTP_HEAD)
			return WARD_OK;
	}
}

/* After the end of a response: keep the connection for the next request, or drop it. */
static void finish(struct ward_net *n)
{
	if (n->resp.keep_alive && n->off == n->have && n->c.fd >= 0 &&
	    !ward_tls_conn_pending(n->c.tls))
		n->c.idle = true;
	else
		conn_close(n, n->c.fd >= 0);
}

/*
 * Read the body to its end: each span goes to sink (NULL discards), and more
 * than cap bytes fails with WARD_E_TOOBIG the moment they arrive. The
 * connection is kept or dropped by finish(); on failure it is dropped.
 */
static ward_err read_body(struct ward_net *n, struct xfer *x, uint64_t cap, ward_sink_fn sink,
                          void *sink_ctx, const char *toobig, struct ward_msg *m)
{
	ward_err e;

	for (;;) {
		enum ward_http_event ev;
		const uint8_t *b;
		size_t used, bl;
		bool eof = false;

		e = ward_http_response_feed(&n->resp, n->buf + n->off, n->have - n->off, &used, &ev,
		                            &b, &bl, m);
		n->off += used;
		if (e != WARD_OK) {
			e = bad_response(x, e, m);
			goto fail;
		}
		if (ev == WARD_HTTP_END) {
			finish(n);
			return WARD_OK;
		}
		if (ev == WARD_HTTP_BODY) {
			if (bl > cap - x->got) {
				e = ward_msg_set(m, WARD_E_TOOBIG, "%s: %s %llu bytes", x->url,
				                 toobig, (unsigned long long)cap);
				goto fail;
			}
			x->got += bl;
			if (sink != NULL && (e = sink(sink_ctx, b, bl)) != WARD_OK) {
				e = ward_msg_set(m, e, "%s: storing the data failed: %s", x->url,
				                 ward_err_name(e));
				goto fail;
			}
			continue;
		}
		if ((e = fill(n, x, &eof, m)) != WARD_OK)
			goto fail;
		if (eof) {
			if ((e = ward_http_response_eof(&n->resp, &ev, m)) != WARD_OK) {
				e = bad_response(x, e, m);
				goto fail;
			}
			conn_close(n, false);
			return WARD_OK;
		}
	}
fail:
	conn_close(n, false);
	return e;
}

/*
 * Skip the body of a response whose body nobody wants (an error page),
 * keeping the connection only when the whole body has already arrived: never
 * wait for a body that will be thrown away.
 */
static void skip_body(struct ward_net *n)
{
	for (;;) {
		enum ward_http_event ev;
		const uint8_t *b;
		size_t used, bl;

		if (ward_http_response_feed(&n->resp, n->buf + n->off, n->have - n->off, &used, &ev,
		                            &b, &bl, NULL) != WARD_OK) {
			conn_close(n, false);
			return;
		}
		n->off += used;
		if (ev == WARD_HTTP_END) {
			finish(n);
			return;
		}
		if (ev == WARD_HTTP_MORE) {
			conn_close(n, false);
			return;
		}
	}
}

/*
 * Send head and body on a kept or new connection and read the response's
 * head into n->resp. A kept connection that fails before any byte of the
 * response arrived is dropped and the request sent once more on a new one.
 */
static ward_err begin(struct ward_net *n, struct xfer *x, const struct url *u,
                      const struct ward_buf *head, const void *body, size_t body_len, bool head_req,
                      struct ward_msg *m)
{
	long speed = n->opts.low_speed_bytes > 0 ? n->opts.low_speed_bytes : DEFAULT_LOW_SPEED;
	long window =
	    n->opts.low_speed_window_s > 0 ? n->opts.low_speed_window_s : DEFAULT_LOW_SPEED_S;
	ward_err e;

	for (int attempt = 0;; attempt++) {
		bool reused = attempt == 0 && can_reuse(n, u);

		if (!reused) {
			conn_close(n, n->c.fd >= 0 && n->c.idle);
			if ((e = conn_open(n, x, u, m)) != WARD_OK)
				return e;
		}
		n->c.idle = false;
		n->off = n->have = 0;
		x->received = 0;
		x->timed_out = false;
		meter_start(&x->meter, speed, window, now_ms());
		ward_http_response_init(&n->resp, head_req);
		e = send_all(n, x, head->p, head->len, m);
		if (e == WARD_OK && body_len > 0)
			e = send_all(n, x, body, body_len, m);
		if (e == WARD_OK)
			e = read_head(n, x, m);
		if (e == WARD_OK)
			return WARD_OK;
		conn_close(n, false);
		if (!reused || x->received > 0 || x->timed_out)
			return e;
	}
}

static void xfer_init(struct ward_net *n, struct xfer *x, const char *url)
{
	memset(x, 0, sizeof(*x));
	x->url = url;
	if (n->opts.total_timeout_s > 0)
		x->deadline = now_ms() + (uint64_t)n->opts.total_timeout_s * 1000;
}

/* ---- the handle, the fetcher and the request ----------------------------- */

ward_err ward_net_new(const struct ward_net_opts *opts, struct ward_net **out, struct ward_msg *m)
{
	struct ward_net *n;

	if (out == NULL)
		return ward_msg_set(m, WARD_E_INVAL, "ward_net_new: no output");
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	n->buf = malloc(NET_BUF_MAX);
	if (n->buf == NULL) {
		free(n);
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	if (opts != NULL)
		n->opts = *opts;
	/* Out-of-range limits fall back to the defaults, or are clamped to a day / 1 GiB/s. */
	if (n->opts.connect_timeout_s < 0 || n->opts.connect_timeout_s > LIMIT_S_MAX)
		n->opts.connect_timeout_s = n->opts.connect_timeout_s < 0 ? 0 : LIMIT_S_MAX;
	if (n->opts.total_timeout_s < 0 || n->opts.total_timeout_s > LIMIT_S_MAX)
		n->opts.total_timeout_s = n->opts.total_timeout_s < 0 ? 0 : LIMIT_S_MAX;
	if (n->opts.low_speed_window_s < 0 || n->opts.low_speed_window_s > LIMIT_S_MAX)
		n->opts.low_speed_window_s = n->opts.low_speed_window_s < 0 ? 0 : LIMIT_S_MAX;
	if (n->opts.low_speed_bytes < 0 || n->opts.low_speed_bytes > LOW_SPEED_MAX)
		n->opts.low_speed_bytes = n->opts.low_speed_bytes < 0 ? 0 : LOW_SPEED_MAX;
	if ((n->opts.client_cert == NULL) != (n->opts.client_key == NULL)) {
		free(n->buf);
		free(n);
		return ward_msg_set(m, WARD_E_INVAL,
		                    "a TLS client certificate needs its key, and a key its "
		                    "certificate");
	}
	n->c.fd = -1;
	*out = n;
	return WARD_OK;
}

void ward_net_free(struct ward_net *n)
{
	if (n == NULL)
		return;
	conn_close(n, n->c.fd >= 0 && n->c.idle);
	ward_tls_client_free(n->tls);
	free(n->buf);
	free(n);
}

static ward_err fetch(void *ctx, const char *url, uint64_t offset, uint64_t max, ward_sink_fn sink,
                      void *sink_ctx, struct ward_msg *m)
{
	struct ward_net *n = ctx;
	struct req_head h = {.method = "GET", .offset = offset};
	const struct ward_http_response *r = &n->resp;
	struct ward_buf head;
	struct xfer x;
	struct url u;
	ward_err e;

	ward_buf_init_secret(&head, NET_HEAD_MAX);
	if ((e = url_parse(url, &u, WARD_E_NET, m)) != WARD_OK)
		goto out;
	if ((e = build_head(&u, &h, &head, m)) != WARD_OK) {
		e = ward_msg_prefix(m, WARD_E_NET, "%s: ", url);
		goto out;
	}
	xfer_init(n, &x, url);
	/*
	 * Whatever stopped the request before a response (a certificate that does not
	 * verify, a CA file that is missing, ...) is a failed transfer to the fetcher's
	 * caller: WARD_E_NOTFOUND, say, would read as "the server has no such file".
	 */
	if ((e = begin(n, &x, &u, &head, NULL, 0, false, m)) != WARD_OK) {
		e = WARD_E_NET;
		goto out;
	}
	if (r->status >= 300) {
		int status = r->status;

		skip_body(n);
		if (status < 400)
			e = ward_msg_set(m, WARD_E_NET, "%s: HTTP %d: redirect refused", url,
			                 status);
		else if (status == 404 || status == 403 || status == 410)
			e = ward_msg_set(m, WARD_E_NOTFOUND, "%s: HTTP %d", url, status);
		else
			e = ward_msg_set(m, WARD_E_NET, "%s: HTTP %d", url, status);
		goto out;
	}
	if (offset > 0 && r->status != 206) {
		conn_close(n, false);
		e = ward_msg_set(m, WARD_E_UNSUPPORTED,
		                 "%s: server ignored the range request (HTTP %d to bytes=%llu-)",
		                 url, r->status, (unsigned long long)offset);
		goto out;
	}
	if (offset > 0 && (!r->has_range || r->range_first != offset)) {
		conn_close(n, false);
		e = ward_msg_set(m, WARD_E_UNSUPPORTED,
		                 "%s: server cannot resume at byte %llu (Content-Range %s)", url,
		                 (unsigned long long)offset,
		                 r->has_range ? "starts elsewhere" : "missing or malformed");
		goto out;
	}
	if (offset == 0 && r->status == 206) {
		conn_close(n, false);
		e = ward_msg_set(m, WARD_E_NET, "%s: partial content (HTTP 206) to a plain GET",
		                 url);
		goto out;
	}
	if (r->framing == WARD_HTTP_LENGTH && r->content_length > max) {
		conn_close(n, false);
		e = ward_msg_set(m, WARD_E_TOOBIG, "%s: announced %llu bytes, more than %llu bytes",
		                 url, (unsigned long long)r->content_length,
		                 (unsigned long long)max);
		goto out;
	}
	e = read_body(n, &x, max, sink, sink_ctx, "more than", m);
out:
	ward_buf_free(&head);
	return e;
}

void ward_net_fetcher(struct ward_net *n, struct ward_fetcher *f)
{
	f->fetch = fetch;
	f->ctx = n;
}

ward_err ward_net_request(struct ward_net *n, const struct ward_net_req *r,
                          struct ward_net_resp *resp, struct ward_msg *m)
{
	struct req_head h;
	struct ward_buf head;
	struct xfer x;
	struct url u;
	ward_err e;

	if (!n || !r || !r->url || !resp)
		return ward_msg_set(m, WARD_E_INVAL,
		                    "HTTP request: missing handle, request or URL");
	memset(&h, 0, sizeof(h));
	h.method = r->method ? r->method : "GET";
	ward_buf_init_secret(&head, NET_HEAD_MAX);
	if ((e = url_parse(r->url, &u, WARD_E_INVAL, m)) != WARD_OK)
		goto out;
	if (!is_token(h.method, NET_METHOD_MAX)) {
		e = ward_msg_set(m, WARD_E_INVAL, "%s: malformed HTTP method", r->url);
		goto out;
	}
	if ((r->user || r->bearer) && !u.tls) {
		e = ward_msg_set(m, WARD_E_INVAL,
		                 "%s: refusing to send credentials without TLS; use https://",
		                 r->url);
		goto out;
	}
	if (r->body_len > 0 && !r->body) {
		e = ward_msg_set(m, WARD_E_INVAL, "%s: request body missing", r->url);
		goto out;
	}
	if (r->content_type && !is_field_value(r->content_type, NET_CTYPE_MAX)) {
		e = ward_msg_set(m, WARD_E_INVAL, "%s: bad content type", r->url);
		goto out;
	}
	h.content_type = r->content_type;
	/* A body, or a method that carries one, states its length (0 too). */
	h.body = r->body != NULL || !strcmp(h.method, "POST") || !strcmp(h.method, "PUT") ||
	         !strcmp(h.method, "PATCH");
	h.body_len = r->body_len;
	h.user = r->user;
	h.password = r->password;
	h.bearer = r->bearer;
	if ((e = build_head(&u, &h, &head, m)) != WARD_OK)
		goto out;
	xfer_init(n, &x, r->url);
	e = begin(n, &x, &u, &head, r->body, r->body_len, !strcmp(h.method, "HEAD"), m);
	ward_buf_free(&head); /* wiped: it may hold the credentials */
	if (e != WARD_OK) {
		/* net.h's failures: the transfer (NET), the server's certificate (VERIFY), the
		 * caller's options (INVAL). */
		if (e != WARD_E_VERIFY && e != WARD_E_INVAL && e != WARD_E_NOMEM)
			e = WARD_E_NET;
		goto out;
	}
	if (n->resp.framing == WARD_HTTP_LENGTH && n->resp.content_length > r->max) {
		conn_close(n, false);
		e = ward_msg_set(m, WARD_E_TOOBIG,
		                 "%s: response announced as larger than %llu bytes", r->url,
		                 (unsigned long long)r->max);
		goto out;
	}
	if ((e = read_body(n, &x, r->max, r->sink, r->sink_ctx, "response larger than", m)) !=
	    WARD_OK)
		goto out;
	resp->status = n->resp.status;
	memcpy(resp->content_type, n->resp.content_type, sizeof(resp->content_type));
	e = WARD_OK;
out:
	ward_buf_free(&head);
	return e;
}
