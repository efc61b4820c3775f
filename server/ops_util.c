/*
 * server/ops_util.c — what every operator API handler shares: bearer-token
 * authentication, bounded JSON bodies, JSON replies, and wiping bodies that
 * held secrets. Declared in server/srv.h. A refusal always replies before
 * returning, so a handler only has to stop.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "srv.h"
#include "store_ops.h"
#include "ward/buf.h"
#include "ward/json.h"

/* Reply with a JSON document (encoded compactly); o is consumed. */
void srv_reply_json(struct evhttp_request *req, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(o);
	if (!text) {
		srv_error(req, 500, "Internal Server Error", "cannot encode the reply");
		return;
	}
	srv_reply(req, 200, "OK", "application/json", text, strlen(text));
	free(text);
}

/* Is the request's Content-Type application/json (parameters such as charset allowed)? */
bool srv_is_json(struct evhttp_request *req)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	static const char want[] = "application/json";

	if (!ct || strncasecmp(ct, want, sizeof(want) - 1))
		return false;
	ct += sizeof(want) - 1;
	return *ct == '\0' || *ct == ';' || *ct == ' ';
}

/* Overwrite the request body where evhttp keeps it (it held a password). */
void srv_wipe_input(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer_iovec one[8], *v = one;
	int n = in ? evbuffer_peek(in, -1, NULL, NULL, 0) : 0;

	/* in place, chain by chain: a pullup would copy the body and free the old chains unwiped */
	if (n <= 0)
		return;
	if ((size_t)n > sizeof(one) / sizeof(one[0]) && !(v = calloc((size_t)n, sizeof(*v))))
		return;
	n = evbuffer_peek(in, -1, NULL, v, n);
	for (int i = 0; i < n; i++)
		ward_wipe(v[i].iov_base, v[i].iov_len);
	if (v != one)
		free(v);
}

static void wipe_free(const void *data, size_t len, void *arg)
{
	(void)arg;
	ward_wipe((void *)data, len);
	free((void *)data);
}

void srv_reply_secret(struct evhttp_request *req, const char *ctype, char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (!b || evbuffer_add_reference(b, body, len, wipe_free, NULL) != 0) {
		wipe_free(body, len, NULL);
		if (b)
			evbuffer_free(b);
		srv_error(req, 500, "Internal Server Error", "cannot send the reply");
		return;
	}
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, 200, "OK", b); /* moves the reference: wiped once libevent has sent it */
	evbuffer_free(b);
}

void srv_unauthorized(struct evhttp_request *req, const char *why)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
			  "Bearer realm=\"ward\"");
	srv_error(req, 401, "Unauthorized", "%s", why);
}

/*
 * The operator behind the request's bearer token. On refusal replies (401,
 * or 503 when the database fails) and returns false.
 */
bool srv_ops_auth(struct evhttp_request *req, struct srv *s, struct srv_operator *op)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	struct ward_msg m = {{0}};
	ward_err e;

	if (!h || strncasecmp(h, "Bearer ", 7)) {
		srv_unauthorized(req, "this API needs 'Authorization: Bearer TOKEN' (POST /api/v1/login "
				  "or `ward operator token` gives one)");
		return false;
	}
	h += 7;
	while (*h == ' ')
		h++;
	e = srv_op_token_check(s->store, h, time(NULL), op, &m);
	if (e == WARD_E_DENIED) {
		srv_unauthorized(req, "the token is not valid (unknown, expired or revoked); log in again");
		return false;
	}
	if (e) {
		fprintf(stderr, "ward-server: checking an API token: %s\n", m.text);
		srv_error(req, 503, "Service Unavailable", "cannot check the token now; retry");
		return false;
	}
	return true;
}

/* Read a bounded JSON object body; replies (400/413/415) and returns NULL on refusal. */
json_t *srv_json_body(struct evhttp_request *req, bool secret)
{
	struct ward_buf body;
	struct ward_msg m = {{0}};
	json_t *j = NULL;

	if (!srv_is_json(req)) {
		srv_error(req, 415, "Unsupported Media Type", "send the body as Content-Type: application/json");
		return NULL;
	}
	if (srv_body(req, SRV_OPS_BODY_MAX, &body)) {
		srv_error(req, 413, "Payload Too Large", "request bodies are limited to %d bytes", SRV_OPS_BODY_MAX);
		return NULL;
	}
	if (ward_json_parse(body.p, body.len, SRV_OPS_BODY_MAX, &j, &m))
		srv_error(req, 400, "Bad Request", "the body is not valid JSON: %s",
			  secret ? "malformed" : m.text);
	else if (!json_is_object(j)) {
		srv_error(req, 400, "Bad Request", "the body must be a JSON object");
		json_decref(j);
		j = NULL;
	}
	if (secret && body.p)
		ward_wipe(body.p, body.len);
	ward_buf_free(&body);
	return j;
}

