/*
 * server/campaign_api.c — the campaign endpoints of the operator API
 * (docs/api.md, "Campaigns"):
 *
 *   GET  /api/v1/campaigns               any role
 *   POST /api/v1/campaigns               admin, release-manager
 *   GET  /api/v1/campaigns/ID[?devices=0] any role
 *   POST /api/v1/campaigns/ID/start|resume|cancel   admin, release-manager
 *   POST /api/v1/campaigns/ID/pause      admin, release-manager, operator
 *   POST /api/v1/campaigns/ID/approve    admin, release-manager, operator
 *
 * The token is checked before the path says anything. Authorization starts
 * as denied and becomes allowed on one line; a refusal is 403 and audited
 * (api-denied). Every change goes through server/campaign.c, which audits it
 * in the same transaction; the reply is the campaign as GET shows it.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign.h"
#include "srv.h"
#include "store_ops.h"

static const char prefix[] = "/api/v1/campaigns";

/* Map a store error onto an HTTP reply. */
static void reply_err(struct evhttp_request *req, ward_err e, const struct ward_msg *m)
{
	if (e == WARD_E_NOTFOUND)
		srv_error(req, 404, "Not Found", "%s", m->text);
	else if (e == WARD_E_DENIED)
		srv_error(req, 409, "Conflict", "%s", m->text);
	else if (e == WARD_E_INVAL || e == WARD_E_TOOBIG || e == WARD_E_PARSE)
		srv_error(req, 400, "Bad Request", "%s", m->text);
	else {
		fprintf(stderr, "ward-server: campaigns: %s\n", m->text);
		srv_error(req, 503, "Service Unavailable", "the registry is unavailable; retry");
	}
}

/* May op do this? Replies 403 (audited) when not. */
static bool may(struct evhttp_request *req, struct srv *s, const struct srv_operator *op, const char *what,
		bool operators_too, const char *subject)
{
	bool allowed = false;
	char detail[256];

	if (op->role == SRV_ROLE_ADMIN || op->role == SRV_ROLE_RELEASE_MANAGER ||
	    (operators_too && op->role == SRV_ROLE_OPERATOR))
		allowed = true; /* the one line that says yes */
	if (allowed)
		return true;
	if (ward_snprintf(detail, sizeof(detail), "{\"operator\":\"%s\",\"role\":\"%s\",\"action\":\"campaign-%s\"}",
			  op->name, srv_op_role_name(op->role), what) == WARD_OK)
		srv_audit_note(s, "api-denied", subject, detail);
	srv_error(req, 403, "Forbidden", "role %s may not %s campaigns (%s)", srv_op_role_name(op->role), what,
		  operators_too ? "admin, release-manager or operator may" : "admin or release-manager may");
	return false;
}

static void reply_campaign(struct evhttp_request *req, struct srv *s, const char *id, bool devices)
{
	struct ward_msg m = {{0}};
	json_t *o = NULL;
	ward_err e = srv_campaign_json(s->store, id, devices, &o, &m);

	if (e)
		reply_err(req, e, &m);
	else
		srv_reply_json(req, o);
}

/* ?devices=0 or 1 (nothing else accepted); *ok false after a 400 reply. */
static bool devices_param(struct evhttp_request *req, bool *ok)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq kv;
	bool devices = true;

	*ok = true;
	if (!q || !*q)
		return true;
	TAILQ_INIT(&kv);
	if (strlen(q) > 64 || evhttp_parse_query_str(q, &kv)) {
		*ok = false;
	} else {
		for (struct evkeyval *p = kv.tqh_first; p; p = p->next.tqe_next) {
			if (strcmp(p->key, "devices") || (strcmp(p->value, "0") && strcmp(p->value, "1")))
				*ok = false;
			else
				devices = p->value[0] == '1';
		}
	}
	evhttp_clear_headers(&kv);
	if (!*ok)
		srv_error(req, 400, "Bad Request", "the only query parameter is devices=0 or devices=1");
	return devices;
}

static void create(struct evhttp_request *req, struct srv *s, const struct srv_operator *op)
{
	struct srv_campaign_spec spec;
	struct ward_msg m = {{0}};
	char id[SRV_CAMPAIGN_ID + 1];
	json_t *body;
	ward_err e;

	if (!may(req, s, op, "create", false, ""))
		return;
	body = srv_json_body(req, false);
	if (!body)
		return;
	e = srv_campaign_spec_parse(body, &spec, &m);
	json_decref(body);
	if (!e)
		e = srv_campaign_create(s->store, &s->conf, &spec, op->name, time(NULL), id, &m);
	if (e) {
		reply_err(req, e, &m);
		return;
	}
	reply_campaign(req, s, id, true);
}

/* The optional body of pause/resume/cancel: {} or {"reason": "..."}; NULL reply already sent on error. */
static bool reason_body(struct evhttp_request *req, char *reason, size_t n)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	json_t *body, *r;

	reason[0] = '\0';
	if (!in || evbuffer_get_length(in) == 0)
		return true;
	body = srv_json_body(req, false);
	if (!body)
		return false;
	r = json_object_get(body, "reason");
	if (json_object_size(body) > (r ? 1u : 0u) || (r && (!json_is_string(r) || json_string_length(r) >= n))) {
		srv_error(req, 400, "Bad Request", "the body is {} or {\"reason\": \"...\"} (at most %zu bytes)", n - 1);
		json_decref(body);
		return false;
	}
	if (r)
		memcpy(reason, json_string_value(r), json_string_length(r) + 1);
	json_decref(body);
	return true;
}

static void approve(struct evhttp_request *req, struct srv *s, const struct srv_operator *op, const char *id)
{
	const char *serials[SRV_REPORTS_MAX];
	struct ward_msg m = {{0}};
	json_t *body, *devs, *phase;
	size_t n = 0;
	ward_err e;

	if (!may(req, s, op, "approve", true, id))
		return;
	body = srv_json_body(req, false);
	if (!body)
		return;
	devs = json_object_get(body, "devices");
	phase = json_object_get(body, "phase");
	if (json_object_size(body) != (devs ? 1u : 0u) + (phase ? 1u : 0u) || (phase && !json_is_boolean(phase)) ||
	    (devs && (!json_is_array(devs) || json_array_size(devs) > SRV_REPORTS_MAX))) {
		srv_error(req, 400, "Bad Request",
			  "approve takes {\"devices\": [serials, at most %d]} and/or {\"phase\": true}", SRV_REPORTS_MAX);
		json_decref(body);
		return;
	}
	for (size_t i = 0; devs && i < json_array_size(devs); i++) {
		json_t *d = json_array_get(devs, i);

		if (!json_is_string(d)) {
			srv_error(req, 400, "Bad Request", "devices: an array of serials (strings)");
			json_decref(body);
			return;
		}
		serials[n++] = json_string_value(d);
	}
	e = srv_campaign_approve(s->store, id, serials, n, json_is_true(phase), op->name, time(NULL), &m);
	json_decref(body);
	if (e) {
		reply_err(req, e, &m);
		return;
	}
	reply_campaign(req, s, id, true);
}

void srv_campaign_api(struct evhttp_request *req, struct srv *s, const char *path)
{
	static const struct {
		const char *name;
		enum srv_campaign_action a;
		bool operators_too;
	} actions[] = {
		{"start", SRV_CAMPAIGN_START, false},
		{"pause", SRV_CAMPAIGN_PAUSE, true},
		{"resume", SRV_CAMPAIGN_RESUME, false},
		{"cancel", SRV_CAMPAIGN_CANCEL, false},
	};
	struct srv_operator op;
	const char *rest = path + sizeof(prefix) - 1, *slash;
	char id[SRV_CAMPAIGN_ID + 1], reason[201];
	struct ward_msg m = {{0}};
	size_t idlen;
	bool ok;

	if (!srv_ops_auth(req, s, &op))
		return;
	if (!*rest || !strcmp(rest, "/")) {
		if (srv_is_get(req)) {
			json_t *o = NULL;
			ward_err e = srv_campaign_list_json(s->store, &o, &m);

			if (e)
				reply_err(req, e, &m);
			else
				srv_reply_json(req, o);
		} else if (srv_is_post(req)) {
			create(req, s, &op);
		} else {
			srv_not_allowed(req, "GET, HEAD, POST");
		}
		return;
	}
	rest++; /* past "/" */
	slash = strchr(rest, '/');
	idlen = slash ? (size_t)(slash - rest) : strlen(rest);
	if (idlen != SRV_CAMPAIGN_ID || strspn(rest, "0123456789abcdef") < idlen) {
		srv_error(req, 404, "Not Found", "no such campaign (ids are %d hex digits)", SRV_CAMPAIGN_ID);
		return;
	}
	memcpy(id, rest, idlen);
	id[idlen] = '\0';
	if (!slash) {
		bool devices = devices_param(req, &ok);

		if (!ok)
			return;
		if (!srv_is_get(req))
			srv_not_allowed(req, "GET, HEAD");
		else
			reply_campaign(req, s, id, devices);
		return;
	}
	if (!srv_is_post(req)) {
		srv_not_allowed(req, "POST");
		return;
	}
	if (!strcmp(slash, "/approve")) {
		approve(req, s, &op, id);
		return;
	}
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		ward_err e;

		if (strcmp(slash + 1, actions[i].name))
			continue;
		if (!may(req, s, &op, actions[i].name, actions[i].operators_too, id))
			return;
		if (!reason_body(req, reason, sizeof(reason)))
			return;
		e = srv_campaign_act(s->store, id, actions[i].a, op.name, reason, time(NULL), &m);
		if (e)
			reply_err(req, e, &m);
		else
			reply_campaign(req, s, id, true);
		return;
	}
	srv_error(req, 404, "Not Found", "no such campaign action (start, pause, resume, cancel, approve)");
}
