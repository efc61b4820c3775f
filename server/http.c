/*
 * server/http.c — the transport: TLS connections through libevent's
 * bufferevent_openssl, HTTP/1.1 through evhttp, routing by path, and the
 * helpers handlers use to read bodies and reply.
 *
 * Limits that protect everyone else from one client: request headers at
 * most 8 KiB, bodies at most conf.max_body (handlers refuse larger ones with
 * 413 and audit it; past twice max_body the transport refuses them before any
 * handler runs, unaudited, so a flood of huge bodies cannot fill the audit
 * log or the memory), and every connection
 * must complete a request within conf.request_timeout seconds of being
 * accepted or of its previous request — evhttp's own timeout only measures
 * inactivity, so a client sending a byte a second would never trip it. The
 * connection registry below enforces that deadline with a sweep every 100 ms,
 * and conf.max_connections per worker by pausing the listener (the other
 * workers keep accepting); running out of file descriptors pauses accepting
 * for a second instead of spinning. Unknown paths get 404, a known path with
 * the wrong method 405 with an Allow header.
 *
 * The registry holds a reference on each connection's bufferevent, so an
 * entry stays valid after evhttp frees the connection (its callbacks are
 * then cleared, which is how the sweep notices and lets go).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>

#include "campaign.h"
#include "crl.h"
#include "srv.h"

void srv_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
	       const void *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (b && body && len)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	if (b)
		evbuffer_free(b);
}

void srv_error(struct evhttp_request *req, int code, const char *reason, const char *fmt, ...)
{
	char text[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(text) - 1)
		n = (int)sizeof(text) - 2;
	text[n++] = '\n';
	srv_reply(req, code, reason, "text/plain; charset=utf-8", text, (size_t)n);
}

ward_err srv_body(struct evhttp_request *req, size_t max, struct ward_buf *out)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	ward_err e;

	ward_buf_init(out, max);
	if (len > max)
		return WARD_E_TOOBIG;
	e = ward_buf_append(out, "", 0);
	if (!e && len) {
		uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)len);

		e = p ? ward_buf_append(out, p, len) : WARD_E_NOMEM;
	}
	if (e)
		ward_buf_free(out);
	return e;
}

void srv_audit_note(struct srv *s, const char *event, const char *subject, const char *detail)
{
	struct ward_msg m = {{0}};

	if (srv_audit(s->store, event, subject, detail, &m) != WARD_OK)
		fprintf(stderr, "ward-server: audit %s: %s\n", event, m.text);
}

void srv_peer(struct evhttp_request *req, struct srv_peer *out)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	struct ssl_st *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

	memset(out, 0, sizeof(*out));
	if (!ssl || ward_tls_peer_cert(ssl, &out->cert) != WARD_OK)
		return;
	if (ward_x509_cert_info(out->cert, &out->info) != WARD_OK) {
		ward_x509_cert_free(out->cert);
		out->cert = NULL;
		return;
	}
	out->present = true;
}

void srv_peer_free(struct srv_peer *p)
{
	ward_x509_cert_free(p->cert);
	p->cert = NULL;
	p->present = false;
}

struct conn {
	struct bufferevent *bev; /* referenced; NULL = free slot, (void *)1 = deleted */
	time_t since;            /* accepted, or the last request began */
	bool hooked;             /* evhttp tells us when it closes the connection */
};

/* One worker's connections (open addressing on the bufferevent pointer). */
struct registry {
	struct conn *slot;
	size_t cap;                    /* power of two >= 2 * max_connections */
	size_t used;                   /* live entries */
	size_t max;                    /* conf.max_connections */
	unsigned timeout;              /* conf.request_timeout */
	struct evconnlistener *lev;    /* to pause accepting */
	bool paused;                   /* for max_connections */
	struct event *resume;          /* after an accept error (EMFILE) */
	struct event *sweep;           /* every second */
};

#define TOMB ((struct bufferevent *)1)

static size_t hash_ptr(const void *p, size_t cap)
{
	uintptr_t x = (uintptr_t)p;

	x ^= x >> 17;
	x *= (uintptr_t)0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return (size_t)x & (cap - 1);
}

static struct conn *reg_find(struct registry *r, const struct bufferevent *bev)
{
	for (size_t i = hash_ptr(bev, r->cap), n = 0; n < r->cap; i = (i + 1) & (r->cap - 1), n++) {
		if (r->slot[i].bev == NULL)
			return NULL;
		if (r->slot[i].bev == bev)
			return &r->slot[i];
	}
	return NULL;
}

static bool reg_add(struct registry *r, struct bufferevent *bev)
{
	if (r->used + 1 >= r->cap)
		return false;
	for (size_t i = hash_ptr(bev, r->cap);; i = (i + 1) & (r->cap - 1))
		if (r->slot[i].bev == NULL || r->slot[i].bev == TOMB) {
			r->slot[i].bev = bev;
			r->slot[i].since = time(NULL);
			r->slot[i].hooked = false;
			r->used++;
			bufferevent_incref(bev);
			return true;
		}
}

static void reg_drop(struct registry *r, struct conn *c)
{
	bufferevent_decref(c->bev);
	c->bev = TOMB;
	r->used--;
}

/*
 * Once a second: the campaign engine; once a minute: re-publish the CRL when
 * it is older than SRV_CRL_REFRESH, so its nextUpdate never passes while a
 * server runs. A failure is logged and retried at the next tick.
 */
static void campaign_cb(evutil_socket_t fd, short what, void *arg)
{
	static time_t crl_checked;
	struct srv *s = arg;
	struct ward_msg m = {{0}};
	time_t now = time(NULL);
	struct stat st;

	(void)fd;
	(void)what;
	if (srv_campaign_step_all(s->store, now, &m))
		fprintf(stderr, "ward-server: campaign engine: %s\n", m.text);
	if (now - crl_checked < 60)
		return;
	crl_checked = now;
	if (stat(s->conf.crl, &st) == 0 && now - st.st_mtime < SRV_CRL_REFRESH)
		return;
	if (srv_crl_publish(&s->conf, s->store, s->issuing, s->issuing_key, now, &m))
		fprintf(stderr, "ward-server: re-publishing the CRL: %s\n", m.text);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct registry *r = arg;
	time_t now = time(NULL);

	(void)fd;
	(void)what;
	for (size_t i = 0; i < r->cap; i++) {
		struct conn *c = &r->slot[i];
		bufferevent_data_cb rd = NULL;

		if (c->bev == NULL || c->bev == TOMB)
			continue;
		bufferevent_getcb(c->bev, &rd, NULL, NULL, NULL);
		if (!rd) { /* evhttp let go of it */
			reg_drop(r, c);
			continue;
		}
		if (now - c->since > (time_t)r->timeout) {
			evutil_socket_t s = bufferevent_getfd(c->bev);

			/* evhttp sees the end of the stream and frees the connection */
			if (s >= 0)
				shutdown(s, SHUT_RDWR);
			c->since = now; /* give it a moment to notice */
		}
	}
	if (r->paused && r->used < r->max - r->max / 10) {
		r->paused = false;
		evconnlistener_enable(r->lev);
	}
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct registry *r = arg;

	(void)fd;
	(void)what;
	if (!r->paused)
		evconnlistener_enable(r->lev);
}

/*
 * The listener passes its error callback evhttp's argument, not ours; each
 * worker is its own process with one registry, so it lives here.
 */
static struct registry *worker_registry;

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct registry *r = worker_registry;
	struct timeval one = {1, 0};
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;

	/* out of descriptors or memory: stop accepting for a second rather than spin */
	fprintf(stderr, "ward-server: accept: %s; pausing for a second\n", evutil_socket_error_to_string(err));
	evconnlistener_disable(lev);
	evtimer_add(r->resume, &one);
}

struct worker {
	struct srv *s;
	struct registry reg;
};

/* evhttp is freeing a connection we know: let go of its bufferevent at once
 * (rather than at the next sweep), so a closed connection's TLS buffers do
 * not linger under a stream of short connections. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct registry *r = arg;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct conn *c = bev ? reg_find(r, bev) : NULL;

	if (c)
		reg_drop(r, c);
}

struct route {
	const char *path;     /* exact path */
	int method;           /* EVHTTP_REQ_GET or EVHTTP_REQ_POST */
	void (*fn)(struct evhttp_request *, struct srv *);
};

static const struct route routes[] = {
	{"/.well-known/est/cacerts", EVHTTP_REQ_GET, srv_est_cacerts},
	{"/.well-known/est/simpleenroll", EVHTTP_REQ_POST, srv_est_simpleenroll},
	{"/.well-known/est/simplereenroll", EVHTTP_REQ_POST, srv_est_simplereenroll},
	{"/.well-known/est/csrattrs", EVHTTP_REQ_GET, srv_est_csrattrs},
	{"/crl", EVHTTP_REQ_GET, srv_crl},
	{"/api/v1/device/checkin", EVHTTP_REQ_POST, srv_api_checkin},
	{"/api/v1/device/self", EVHTTP_REQ_GET, srv_api_self},
	{"/api/v1/login", EVHTTP_REQ_POST, srv_ops_login},     /* server/ops_api.c */
};

/* Routes by path prefix; the handler gets the path as requested. */
struct prefix_route {
	const char *prefix;   /* path prefix */
	void (*fn)(struct evhttp_request *, struct srv *, const char *path);
};

static const struct prefix_route prefix_routes[] = {
	{"/api/v1/device/director/", srv_director_get}, /* server/director_api.c */
	{"/repo/", srv_repo_get},
};

/* Routes whose handler takes any method and checks it (srv_not_allowed). A
 * route matches its path exactly, or any path below it ("PATH/..."). */
static const struct prefix_route api_routes[] = {
	{"/api/v1/device/report", srv_api_report},  /* server/api.c */
	{"/api/v1/campaigns", srv_campaign_api},    /* server/campaign_api.c */
	{"/api/v1/devices", srv_ops_api},           /* server/ops_api.c */
	{"/api/v1/audit", srv_ops_api},
	{"/api/v1/fleet", srv_ops_api},
	{"/api/v1/models", srv_ops_api},
	{"/api/v1/operators", srv_ops_api},
	{"/api/v1/whoami", srv_ops_api},
	{"/api/v1/images", srv_ops_api},
};

void srv_not_allowed(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	srv_error(req, 405, "Method Not Allowed", "this resource accepts %s", allow);
}

bool srv_is_get(struct evhttp_request *req)
{
	enum evhttp_cmd_type c = evhttp_request_get_command(req);

	return c == EVHTTP_REQ_GET || c == EVHTTP_REQ_HEAD;
}

bool srv_is_post(struct evhttp_request *req)
{
	return evhttp_request_get_command(req) == EVHTTP_REQ_POST;
}

static void dispatch(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct conn *c = bev ? reg_find(&w->reg, bev) : NULL;
	int method = (int)evhttp_request_get_command(req);
	bool known = false;

	if (c) {
		c->since = time(NULL); /* a complete request arrived: the next deadline starts now */
		if (!c->hooked) {
			evhttp_connection_set_closecb(evcon, on_close, &w->reg);
			c->hooked = true;
		}
	}
	if (!path) {
		srv_error(req, 400, "Bad Request", "malformed request URI");
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path))
			continue;
		known = true;
		if (method == routes[i].method ||
		    (method == EVHTTP_REQ_HEAD && routes[i].method == EVHTTP_REQ_GET)) {
			routes[i].fn(req, w->s);
			return;
		}
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
				  routes[i].method == EVHTTP_REQ_GET ? "GET, HEAD" : "POST");
	}
	/* prefix routes (GET, HEAD): the director and the image repository's static files */
	for (size_t i = 0; !known && i < sizeof(prefix_routes) / sizeof(prefix_routes[0]); i++) {
		if (strncmp(path, prefix_routes[i].prefix, strlen(prefix_routes[i].prefix)))
			continue;
		known = true;
		if (method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD) {
			prefix_routes[i].fn(req, w->s, path);
			return;
		}
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
	}
	for (size_t i = 0; !known && i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		size_t n = strlen(api_routes[i].prefix);

		if (strncmp(path, api_routes[i].prefix, n) || (path[n] != '\0' && path[n] != '/'))
			continue;
		api_routes[i].fn(req, w->s, path);
		return;
	}
	/* everything outside the API, EST, the CRL and the repository: the dashboard's files */
	if (!known && strncmp(path, "/api/", 5) && strncmp(path, "/.well-known/", 13)) {
		srv_web_get(req, w->s, path);
		return;
	}
	if (known)
		srv_error(req, 405, "Method Not Allowed", "%s does not accept this method", path);
	else
		srv_error(req, 404, "Not Found", "no such resource");
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct worker *w = arg;
	struct ssl_st *ssl = ward_tls_server_ssl(w->s->tls);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev && !reg_add(&w->reg, bev))
		fprintf(stderr, "ward-server: connection registry full\n");
	if (w->reg.used >= w->reg.max && !w->reg.paused) {
		w->reg.paused = true; /* max_connections: let the other workers take new ones */
		evconnlistener_disable(w->reg.lev);
	}
	return bev;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	srv_checkin_flush(arg);
	srv_report_flush(arg);
}

/* Run one worker's event loop on the listening socket fd until it is stopped. */
int srv_worker_run(struct srv *s, int fd);

int srv_worker_run(struct srv *s, int fd)
{
	struct event_base *base = event_base_new();
	struct evhttp *http = base ? evhttp_new(base) : NULL;
	struct evhttp_bound_socket *bound;
	struct worker w;
	struct event *campaign_timer = NULL;
	int rc = 1;

	memset(&w, 0, sizeof(w));
	w.s = s;
	w.reg.max = s->conf.max_connections;
	w.reg.timeout = s->conf.request_timeout;
	for (w.reg.cap = 64; w.reg.cap < 2 * (size_t)w.reg.max + 64; w.reg.cap *= 2)
		;
	w.reg.slot = calloc(w.reg.cap, sizeof(*w.reg.slot));
	s->pending = calloc(SRV_BATCH_MAX, sizeof(*s->pending));
	s->rpending = calloc(SRV_BATCH_MAX, sizeof(*s->rpending));
	s->nrpending = 0;
	s->npending = 0;
	s->flush = base ? evtimer_new(base, flush_cb, s) : NULL;
	if (!http || !w.reg.slot || !s->pending || !s->rpending || !s->flush) {
		fprintf(stderr, "ward-server: cannot create the event loop\n");
		goto out;
	}
	evhttp_set_bevcb(http, make_bev, &w);
	evhttp_set_gencb(http, dispatch, &w);
	evhttp_set_timeout(http, (int)s->conf.request_timeout);
	evhttp_set_max_headers_size(http, 8192);
	/* Handlers refuse (and audit) bodies over max_body themselves; the transport
	 * stops at twice that, with its own 413 and no audit record. */
	evhttp_set_max_body_size(http, (ev_ssize_t)(2 * s->conf.max_body));
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
						 EVHTTP_REQ_PATCH);
	bound = evhttp_accept_socket_with_handle(http, fd);
	if (!bound) {
		fprintf(stderr, "ward-server: cannot accept on the listening socket\n");
		goto out;
	}
	w.reg.lev = evhttp_bound_socket_get_listener(bound);
	w.reg.resume = evtimer_new(base, resume_cb, &w.reg);
	w.reg.sweep = event_new(base, -1, EV_PERSIST, sweep_cb, &w.reg);
	if (!w.reg.lev || !w.reg.resume || !w.reg.sweep) {
		fprintf(stderr, "ward-server: cannot set up connection limits\n");
		goto out;
	}
	worker_registry = &w.reg;
	evconnlistener_set_error_cb(w.reg.lev, accept_error_cb);
	/* every 100 ms: connections that close before completing a request (a
	 * handshake, then nothing) are only let go of by the sweep */
	{
		struct timeval tenth = {0, 100000};

		evtimer_add(w.reg.sweep, &tenth);
	}
	/* every second: the campaign engine (server/campaign.c), in every worker of
	 * every server; each step is one transaction and idempotent */
	campaign_timer = event_new(base, -1, EV_PERSIST, campaign_cb, s);
	if (campaign_timer) {
		struct timeval one = {1, 0};

		evtimer_add(campaign_timer, &one);
	} else {
		fprintf(stderr, "ward-server: cannot start the campaign engine's timer\n");
		goto out;
	}
	rc = event_base_dispatch(base) < 0;
out:
	if (campaign_timer)
		event_free(campaign_timer);
	if (s->flush) {
		srv_checkin_flush(s);
		srv_report_flush(s);
		event_free(s->flush);
		s->flush = NULL;
	}
	free(s->pending);
	s->pending = NULL;
	free(s->rpending);
	s->rpending = NULL;
	if (w.reg.sweep)
		event_free(w.reg.sweep);
	if (w.reg.resume)
		event_free(w.reg.resume);
	if (http)
		evhttp_free(http);
	if (base)
		event_base_free(base);
	free(w.reg.slot);
	return rc;
}
