/*
 * server/http.c — the transport: TLS connections through libevent's
 * bufferevent_openssl, HTTP/1.1 through evhttp, routing by path, and the
 * helpers handlers use to read bodies and reply.
 *
 * Limits that protect everyone else from one client: request headers at
 * most 8 KiB, bodies at most conf.max_body, a request must arrive within
 * conf.request_timeout seconds (a client sending a byte a second is cut
 * off), only GET and POST. Unknown paths get 404, wrong methods 405.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
};

static void dispatch(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	bool known = false;

	if (!path) {
		srv_error(req, 400, "Bad Request", "malformed request URI");
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path))
			continue;
		known = true;
		if ((int)evhttp_request_get_command(req) == routes[i].method) {
			routes[i].fn(req, s);
			return;
		}
	}
	if (known)
		srv_error(req, 405, "Method Not Allowed", "%s does not accept this method", path);
	else
		srv_error(req, 404, "Not Found", "no such resource");
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct srv *s = arg;
	struct ssl_st *ssl = ward_tls_server_ssl(s->tls);

	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
}

/* Run one worker's event loop on the listening socket fd until it is stopped. */
int srv_worker_run(struct srv *s, int fd);

int srv_worker_run(struct srv *s, int fd)
{
	struct event_base *base = event_base_new();
	struct evhttp *http = base ? evhttp_new(base) : NULL;
	int rc = 1;

	if (!http) {
		fprintf(stderr, "ward-server: cannot create the event loop\n");
		goto out;
	}
	evhttp_set_bevcb(http, make_bev, s);
	evhttp_set_gencb(http, dispatch, s);
	evhttp_set_timeout(http, (int)s->conf.request_timeout);
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_max_body_size(http, (ev_ssize_t)s->conf.max_body);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	if (!evhttp_accept_socket_with_handle(http, fd)) {
		fprintf(stderr, "ward-server: cannot accept on the listening socket\n");
		goto out;
	}
	rc = event_base_dispatch(base) < 0;
out:
	if (http)
		evhttp_free(http);
	if (base)
		event_base_free(base);
	return rc;
}
