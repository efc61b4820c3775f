/*
 * server/ops_api.c — the operator API (JSON over HTTPS, /api/v1/...), for
 * people and tools, not devices: no client certificate, a bearer token.
 * The contract is docs/api.md; what each document holds is built in
 * server/views.c and server/views_device.c, shared with the `ward` CLI.
 *
 *   POST /api/v1/login                          {"name","password"} -> {"token","expires","role"}
 *   GET  /api/v1/whoami                         any role
 *   GET  /api/v1/devices[?model,tag,status,q,after,limit]   any role
 *   GET  /api/v1/devices/SERIAL                 any role
 *   POST /api/v1/devices/SERIAL/revoke|decommission|labels  admin, operator
 *   GET  /api/v1/audit[?after,limit,subject]    any role
 *   GET  /api/v1/audit/verify                   any role
 *   POST /api/v1/devices/SERIAL/assign          admin, release-manager
 *   GET  /api/v1/fleet/risk[?limit]             any role
 *   GET  /api/v1/models                         any role
 *   POST /api/v1/models/MODEL/harm              admin, release-manager
 *   GET  /api/v1/images                         any role
 *   GET, POST /api/v1/operators                 admin
 *
 * Every request but login carries "Authorization: Bearer TOKEN"; the token
 * is checked against the database on every request (a revoked or expired
 * one stops working at once), and any failure is 401 whatever the reason, so
 * a client learns nothing about other people's tokens. The token is checked
 * before anything about the path is said (an unauthenticated client gets 401
 * for every path under the API). Authorization starts as "denied" and
 * becomes "allowed" on one line (role_allows); each refusal is 403 and an
 * "api-denied" audit record, each change is audited with the operator's name
 * and role. Bodies are at most SRV_OPS_BODY_MAX bytes of application/json;
 * query strings at most OPS_QUERY_MAX bytes, each parameter known, given
 * once, non-empty and at most its own size, else 400. Passwords and tokens
 * are wiped from every buffer that held them and never reach a log or audit
 * record.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "campaign.h"
#include "risk.h"
#include "crl.h"
#include "director.h"
#include "srv.h"
#include "store_ops.h"
#include "views.h"
#include "ward/buf.h"
#include "ward/json.h"

#define OPS_LOGIN_TTL (12LL * 3600)  /* a login's token lasts 12 hours */
#define OPS_SERIAL_MAX 64            /* what ward-server enrols */
#define OPS_MODEL_MAX 63             /* a model name (risk.ini's sections) */
#define OPS_QUERY_MAX 2048           /* bytes of a query string */
#define OPS_PAGE_DEFAULT 200         /* devices and audit records in a page unless limit says */
#define OPS_RISK_MAX 10000           /* devices GET /api/v1/fleet/risk scores (~8.5 KB each meanwhile) */

/* Roles as bits, for the table of docs/api.md. */
#define R_ADMIN (1u << SRV_ROLE_ADMIN)
#define R_RELEASE (1u << SRV_ROLE_RELEASE_MANAGER)
#define R_OPERATOR (1u << SRV_ROLE_OPERATOR)
#define R_AUDITOR (1u << SRV_ROLE_AUDITOR)
#define R_ANY (R_ADMIN | R_RELEASE | R_OPERATOR | R_AUDITOR)

/* ---- login --------------------------------------------------------------------- */

/*
 * Login. The Argon2id check (tens of milliseconds and 19 MiB) runs right
 * here, on the worker's event loop, and holds up every other connection of
 * this worker meanwhile. Acceptable for login only: it is rare, the other
 * workers keep serving, and every other request checks its token with one
 * SHA-256. A busy deployment would move it to a thread pool.
 */
void srv_ops_login(struct evhttp_request *req, struct srv *s)
{
	char token[SRV_OP_TOKEN_CHARS + 1] = "";
	struct srv_operator op;
	struct ward_msg m = {{0}};
	json_t *j = srv_json_body(req, true), *name, *pass;
	time_t expires = 0;
	ward_err e;

	srv_wipe_input(req);
	if (!j)
		return;
	name = json_object_get(j, "name");
	pass = json_object_get(j, "password");
	if (!json_is_string(name) || !json_is_string(pass)) {
		srv_error(req, 400, "Bad Request", "login needs {\"name\": string, \"password\": string}");
		goto out;
	}
	{
		bool throttled = false;

		e = srv_op_login_throttled(s->store, json_string_value(name), time(NULL), &throttled, &m);
		if (e) {
			fprintf(stderr, "ward-server: login throttle: %s\n", m.text);
			srv_error(req, 503, "Service Unavailable", "cannot log in now; retry");
			goto out;
		}
		if (throttled) {
			char after[16];

			snprintf(after, sizeof(after), "%d", SRV_OP_LOGIN_WINDOW / 10);
			evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", after);
			srv_error(req, 429, "Too Many Requests",
				  "too many failed logins for this name in the last %d minutes; try again later",
				  SRV_OP_LOGIN_WINDOW / 60);
			goto out;
		}
	}
	e = srv_op_login(s->store, json_string_value(name), json_string_value(pass), OPS_LOGIN_TTL, token,
			 &expires, &m);
	if (e == WARD_E_DENIED) {
		srv_unauthorized(req, "wrong operator name or password");
		goto out;
	}
	/* the role, as the new token will present it */
	if (!e)
		e = srv_op_token_check(s->store, token, time(NULL), &op, &m);
	if (e) {
		fprintf(stderr, "ward-server: login: %s\n", m.text);
		srv_error(req, 503, "Service Unavailable", "cannot log in now; retry");
		goto out;
	}
	{
		json_t *o = json_pack("{s:s,s:I,s:s}", "token", token, "expires", (json_int_t)expires, "role",
				      srv_op_role_name(op.role));
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		if (o) /* jansson's copy of the token */
			ward_wipe((char *)json_string_value(json_object_get(o, "token")), SRV_OP_TOKEN_CHARS);
		json_decref(o);
		if (text) {
			srv_reply_secret(req, "application/json", text, strlen(text)); /* consumes text */
		} else {
			srv_error(req, 500, "Internal Server Error", "cannot encode the reply");
		}
	}
out:
	ward_wipe(token, sizeof(token));
	if (json_is_string(pass)) /* jansson's copy of the password */
		ward_wipe((char *)json_string_value(pass), json_string_length(pass));
	json_decref(j);
}

/* ---- shared checks ------------------------------------------------------------- */

static bool ident_ok(const char *p, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      p[i] == '-' || p[i] == '.' || p[i] == '_'))
			return false;
	return true;
}

/* {"operator", "role", "action"}: who asked, for audit records (consumed by the caller). */
static json_t *who(const struct srv_operator *op, const char *action)
{
	return json_pack("{s:s,s:s,s:s}", "operator", op->name, "role", srv_op_role_name(op->role), "action", action);
}

/* Audit event/subject with detail (consumed), logging when the database refuses. */
static void audit_json(struct srv *s, const char *event, const char *subject, json_t *detail)
{
	char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	if (text)
		srv_audit_note(s, event, subject, text);
	else
		fprintf(stderr, "ward-server: audit %s %s: out of memory\n", event, subject);
	free(text);
	json_decref(detail);
}

/*
 * May op do `action` (on subject)? roles: R_* bits. On refusal replies 403,
 * audits "api-denied" and returns false.
 */
static bool role_allows(struct evhttp_request *req, struct srv *s, const struct srv_operator *op, unsigned roles,
			const char *action, const char *subject)
{
	bool allowed = false;

	if ((unsigned)op->role < 4 && (roles & (1u << op->role)))
		allowed = true; /* the one line that says yes */
	if (!allowed) {
		audit_json(s, "api-denied", subject, who(op, action));
		srv_error(req, 403, "Forbidden", "role %s may not %s", srv_op_role_name(op->role), action);
	}
	return allowed;
}

/* The store failed: 503 (database) or 500, logged with the reason. */
static void store_failed(struct evhttp_request *req, const char *what, const struct ward_msg *m)
{
	fprintf(stderr, "ward-server: %s: %s\n", what, m->text);
	srv_error(req, 503, "Service Unavailable", "%s: the registry is unavailable; retry", what);
}

/* A request that has no body to give: refuse one over the limit, ignore the rest. */
static bool no_body(struct evhttp_request *req)
{
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > SRV_OPS_BODY_MAX) {
		srv_error(req, 413, "Payload Too Large", "request bodies are limited to %d bytes", SRV_OPS_BODY_MAX);
		return false;
	}
	return true;
}

/* ---- query strings ------------------------------------------------------------- */

/* One parameter an endpoint accepts. */
struct qparam {
	const char *name;  /* as in the URL */
	size_t max;        /* bytes of its value */
	bool digits;       /* a decimal number */
	const char *value; /* out: borrowed from the parsed query, or NULL when absent */
	uint64_t num;      /* out: the number, when digits and present */
};

/*
 * Parse the request's query into p[0..n) (kv must be freed with
 * evhttp_clear_headers afterwards, whatever the result). Unknown, repeated,
 * empty, oversized or (for numbers) non-decimal parameters, a NUL escape and
 * an unparsable query are 400; returns false after replying.
 */
static bool query_parse(struct evhttp_request *req, struct evkeyvalq *kv, struct qparam *p, size_t n)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyval *x;

	TAILQ_INIT(kv);
	if (!q || !*q)
		return true;
	if (strlen(q) > OPS_QUERY_MAX) {
		srv_error(req, 400, "Bad Request", "the query string is longer than %d bytes", OPS_QUERY_MAX);
		return false;
	}
	if (strstr(q, "%00")) {
		srv_error(req, 400, "Bad Request", "the query string holds an encoded NUL");
		return false;
	}
	if (evhttp_parse_query_str(q, kv) != 0) {
		srv_error(req, 400, "Bad Request", "the query string is malformed");
		return false;
	}
	TAILQ_FOREACH(x, kv, next) {
		size_t i;

		for (i = 0; i < n && strcmp(x->key, p[i].name); i++)
			;
		if (i == n) {
			srv_error(req, 400, "Bad Request", "unknown query parameter '%.64s'", x->key);
			return false;
		}
		if (p[i].value) {
			srv_error(req, 400, "Bad Request", "query parameter '%s' is given twice", p[i].name);
			return false;
		}
		if (!x->value[0] || strlen(x->value) > p[i].max) {
			srv_error(req, 400, "Bad Request", "query parameter '%s' must be 1 to %zu bytes", p[i].name,
				  p[i].max);
			return false;
		}
		if (p[i].digits && ward_parse_u64(x->value, &p[i].num) != WARD_OK) {
			srv_error(req, 400, "Bad Request", "query parameter '%s' must be a decimal number", p[i].name);
			return false;
		}
		p[i].value = x->value;
	}
	return true;
}

/* limit (p, when given) within 1..max, else dflt; replies 400 and returns 0 when out of range. */
static size_t page_limit(struct evhttp_request *req, const struct qparam *p, size_t dflt, size_t max)
{
	if (!p->value)
		return dflt;
	if (p->num < 1 || p->num > max) {
		srv_error(req, 400, "Bad Request", "limit must be 1 to %zu", max);
		return 0;
	}
	return (size_t)p->num;
}

/* ---- whoami, audit, risk, images, models, operators ------------------------------- */

static void whoami(struct evhttp_request *req, const struct srv_operator *op)
{
	srv_reply_json(req, json_pack("{s:s,s:s,s:I}", "name", op->name, "role", srv_op_role_name(op->role),
				      "expires", (json_int_t)op->token_expires));
}

/*
 * GET /api/v1/audit/verify: walk the whole hash chain (server/store.h,
 * srv_audit_verify) as `ward audit verify` does. It runs on the worker's event
 * loop: for very long logs, run `ward audit verify -c` on the deployment.
 */
static void audit_verify(struct evhttp_request *req, struct srv *s)
{
	struct ward_msg m = {{0}};
	uint64_t records = 0;
	ward_err e = srv_audit_verify(s->store, &records, &m);

	if (e == WARD_E_VERIFY)
		srv_reply_json(req, json_pack("{s:b,s:s}", "intact", false, "problem", m.text));
	else if (e)
		store_failed(req, "verifying the audit log", &m);
	else
		srv_reply_json(req, json_pack("{s:b,s:I}", "intact", true, "records", (json_int_t)records));
}

static void audit_list(struct evhttp_request *req, struct srv *s)
{
	struct qparam p[] = {{"after", 20, true, NULL, 0}, {"limit", 5, true, NULL, 0},
			     {"subject", SRV_AUDIT_SUBJECT_MAX, false, NULL, 0}};
	struct srv_audit_query q = {0, NULL, 0, false};
	struct evkeyvalq kv;
	struct ward_msg m = {{0}};
	json_t *recs = NULL;
	int64_t next = 0;
	ward_err e;

	if (!query_parse(req, &kv, p, 3))
		goto out;
	if (p[0].value && p[0].num > INT64_MAX) {
		srv_error(req, 400, "Bad Request", "after must be an audit record's seq");
		goto out;
	}
	q.after = (int64_t)p[0].num;
	q.subject = p[2].value;
	if (!(q.limit = page_limit(req, &p[1], OPS_PAGE_DEFAULT, SRV_AUDIT_PAGE_MAX)))
		goto out;
	e = srv_audit_page(s->store, &q, &recs, &next, &m);
	if (e == WARD_E_INVAL || e == WARD_E_TOOBIG) {
		srv_error(req, 400, "Bad Request", "%s", m.text);
		goto out;
	}
	if (e) {
		store_failed(req, "reading the audit log", &m);
		goto out;
	}
	srv_reply_json(req, json_pack("{s:o,s:o}", "records", recs, "next",
				      next ? json_integer((json_int_t)next) : json_null()));
out:
	evhttp_clear_headers(&kv);
}

static void fleet_risk(struct evhttp_request *req, struct srv *s)
{
	struct qparam p[] = {{"limit", 6, true, NULL, 0}};
	struct evkeyvalq kv;
	struct ward_msg m = {{0}};
	json_t *arr = NULL;
	bool truncated = false;
	size_t max;

	if (!query_parse(req, &kv, p, 1) || !(max = page_limit(req, &p[0], OPS_RISK_MAX, OPS_RISK_MAX)))
		goto out;
	if (srv_view_risk(s->store, &s->conf, OPS_RISK_MAX, time(NULL), &arr, &truncated, &m)) {
		store_failed(req, "scoring the fleet", &m);
		goto out;
	}
	/* the riskiest max of the devices read */
	while (json_array_size(arr) > max)
		json_array_remove(arr, json_array_size(arr) - 1);
	srv_reply_json(req, json_pack("{s:o,s:b}", "devices", arr, "truncated", truncated));
out:
	evhttp_clear_headers(&kv);
}

static void images(struct evhttp_request *req, struct srv *s)
{
	struct ward_msg m = {{0}};
	json_t *o = NULL;

	if (srv_view_images(&s->conf, &o, &m)) {
		fprintf(stderr, "ward-server: listing images: %s\n", m.text);
		srv_error(req, 503, "Service Unavailable", "the image repository cannot be verified now: %s", m.text);
		return;
	}
	srv_reply_json(req, o);
}

static void models_get(struct evhttp_request *req, struct srv *s)
{
	struct ward_msg m = {{0}};
	json_t *o = NULL;

	if (srv_view_models(s->store, &s->conf, &o, &m)) {
		fprintf(stderr, "ward-server: listing models: %s\n", m.text);
		srv_error(req, 503, "Service Unavailable", "cannot read the model settings: %s", m.text);
		return;
	}
	srv_reply_json(req, o);
}

/* One harm level of the body: absent (-1 kept), or an integer 0..3. */
static bool harm_field(struct evhttp_request *req, json_t *j, const char *key, int *out)
{
	json_t *v = json_object_get(j, key);

	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > SRV_RISK_HARM_MAX) {
		srv_error(req, 400, "Bad Request", "%s must be an integer from 0 to %d", key, SRV_RISK_HARM_MAX);
		return false;
	}
	*out = (int)json_integer_value(v);
	return true;
}

/* POST /api/v1/models/MODEL/harm */
static void model_harm(struct evhttp_request *req, struct srv *s, const struct srv_operator *op, const char *model)
{
	struct srv_harm h = {-1, -1, -1};
	struct ward_msg m = {{0}};
	json_t *j, *entry = NULL, *d;
	const char *key;
	json_t *v;
	ward_err e;

	if (!role_allows(req, s, op, R_ADMIN | R_RELEASE, "set the harm of a model", model))
		return;
	if (!(j = srv_json_body(req, false)))
		return;
	json_object_foreach(j, key, v) {
		if (strcmp(key, "safety") && strcmp(key, "revenue") && strcmp(key, "brand")) {
			srv_error(req, 400, "Bad Request", "unknown field '%.64s' (safety, revenue, brand)", key);
			goto out;
		}
	}
	if (!harm_field(req, j, "safety", &h.safety) || !harm_field(req, j, "revenue", &h.revenue) ||
	    !harm_field(req, j, "brand", &h.brand))
		goto out;
	if (h.safety < 0 && h.revenue < 0 && h.brand < 0) {
		srv_error(req, 400, "Bad Request", "give at least one of safety, revenue, brand (0-%d)", SRV_RISK_HARM_MAX);
		goto out;
	}
	e = srv_view_model_harm_set(s->store, &s->conf, model, &h, op->name, &entry, &m);
	if (e == WARD_E_PARSE || e == WARD_E_TOOBIG) {
		srv_error(req, 409, "Conflict", "%s", m.text);
		goto out;
	}
	if (e) {
		fprintf(stderr, "ward-server: setting the harm of %s: %s\n", model, m.text);
		srv_error(req, 503, "Service Unavailable", "cannot store the model settings now; retry");
		goto out;
	}
	/* the record follows the change (the row also says who set it) */
	d = who(op, "model-harm");
	if (d) {
		if (h.safety >= 0)
			json_object_set_new(d, "safety", json_integer(h.safety));
		if (h.revenue >= 0)
			json_object_set_new(d, "revenue", json_integer(h.revenue));
		if (h.brand >= 0)
			json_object_set_new(d, "brand", json_integer(h.brand));
	}
	audit_json(s, "model-harm", model, d);
	srv_reply_json(req, json_pack("{s:s,s:o}", "model", model, "settings", entry));
out:
	json_decref(j);
}

static void models(struct evhttp_request *req, struct srv *s, const struct srv_operator *op, const char *rest)
{
	const char *slash;

	if (!*rest) {
		if (!srv_is_get(req))
			srv_not_allowed(req, "GET, HEAD");
		else
			models_get(req, s);
		return;
	}
	slash = strchr(rest, '/');
	if (!slash || strcmp(slash, "/harm") ||
	    !((slash - rest == 1 && *rest == '*') || ident_ok(rest, (size_t)(slash - rest), OPS_MODEL_MAX))) {
		srv_error(req, 404, "Not Found", "no such resource (POST /api/v1/models/MODEL/harm)");
		return;
	}
	if (!srv_is_post(req)) {
		srv_not_allowed(req, "POST");
		return;
	}
	{
		char model[OPS_MODEL_MAX + 1];

		memcpy(model, rest, (size_t)(slash - rest));
		model[slash - rest] = '\0';
		model_harm(req, s, op, model);
	}
}

static void operators_add(struct evhttp_request *req, struct srv *s, const struct srv_operator *op)
{
	struct ward_msg m = {{0}};
	enum srv_op_role role;
	char via[SRV_OP_NAME_MAX + 8];
	json_t *j = srv_json_body(req, true), *name, *pass, *r;
	ward_err e;

	srv_wipe_input(req);
	if (!j)
		return;
	name = json_object_get(j, "name");
	pass = json_object_get(j, "password");
	r = json_object_get(j, "role");
	if (json_object_size(j) != 3 || !json_is_string(name) || !json_is_string(pass) || !json_is_string(r)) {
		srv_error(req, 400, "Bad Request", "an operator is {\"name\": string, \"password\": string, \"role\": string}");
		goto out;
	}
	if (!srv_op_name_ok(json_string_value(name))) {
		srv_error(req, 400, "Bad Request", "an operator name is 1-%d of A-Z a-z 0-9 . _ -", SRV_OP_NAME_MAX);
		goto out;
	}
	if (srv_op_role_parse(json_string_value(r), &role) != WARD_OK) {
		srv_error(req, 400, "Bad Request", "role must be admin, release-manager, operator or auditor");
		goto out;
	}
	if (json_string_length(pass) != strlen(json_string_value(pass))) {
		srv_error(req, 400, "Bad Request", "the password holds a NUL character");
		goto out;
	}
	if (ward_snprintf(via, sizeof(via), "api:%s", op->name) != WARD_OK) {
		srv_error(req, 500, "Internal Server Error", "operator name too long");
		goto out;
	}
	/* the account and its "operator-add" record (via api:NAME) are one transaction */
	e = srv_operator_add(s->store, json_string_value(name), json_string_value(pass), role, via, &m);
	if (e == WARD_E_EXISTS) {
		srv_error(req, 409, "Conflict", "%s", m.text);
		goto out;
	}
	if (e == WARD_E_INVAL || e == WARD_E_TOOBIG) {
		srv_error(req, 400, "Bad Request", "%s", m.text);
		goto out;
	}
	if (e) {
		store_failed(req, "adding an operator", &m);
		goto out;
	}
	srv_reply_json(req, json_pack("{s:s,s:s}", "name", json_string_value(name), "role", srv_op_role_name(role)));
out:
	if (json_is_string(pass)) /* jansson's copy of the password */
		ward_wipe((char *)json_string_value(pass), json_string_length(pass));
	json_decref(j);
}

static void operators(struct evhttp_request *req, struct srv *s, const struct srv_operator *op)
{
	struct ward_msg m = {{0}};
	json_t *o = NULL;

	if (srv_is_post(req)) {
		if (role_allows(req, s, op, R_ADMIN, "add operators", ""))
			operators_add(req, s, op);
		else
			srv_wipe_input(req);
		return;
	}
	if (!srv_is_get(req)) {
		srv_not_allowed(req, "GET, HEAD, POST");
		return;
	}
	if (!no_body(req) || !role_allows(req, s, op, R_ADMIN, "list operators", ""))
		return;
	if (srv_view_operators(s->store, &o, &m)) {
		store_failed(req, "listing operators", &m);
		return;
	}
	srv_reply_json(req, o);
}

/* ---- devices ------------------------------------------------------------------- */

static void devices_list(struct evhttp_request *req, struct srv *s)
{
	struct qparam p[] = {{"model", OPS_MODEL_MAX, false, NULL, 0},  {"tag", SRV_TAG_MAX, false, NULL, 0},
			     {"status", 16, false, NULL, 0},            {"q", OPS_SERIAL_MAX, false, NULL, 0},
			     {"after", OPS_SERIAL_MAX, false, NULL, 0}, {"limit", 5, true, NULL, 0}};
	struct srv_fleet_filter f = {0};
	struct evkeyvalq kv;
	struct ward_msg m = {{0}};
	json_t *o = NULL;
	ward_err e;

	if (!query_parse(req, &kv, p, 6))
		goto out;
	for (size_t i = 0; i < 5; i++) /* every text filter is made of serial/model/tag characters */
		if (p[i].value && !ident_ok(p[i].value, strlen(p[i].value), p[i].max)) {
			srv_error(req, 400, "Bad Request", "%s may only hold A-Z a-z 0-9 . _ -", p[i].name);
			goto out;
		}
	if (p[2].value && strcmp(p[2].value, "active") && strcmp(p[2].value, "revoked") &&
	    strcmp(p[2].value, "decommissioned")) {
		srv_error(req, 400, "Bad Request", "status must be active, revoked or decommissioned");
		goto out;
	}
	f.model = p[0].value;
	f.tag = p[1].value;
	f.status = p[2].value;
	f.q = p[3].value;
	f.after = p[4].value;
	if (!(f.limit = page_limit(req, &p[5], OPS_PAGE_DEFAULT, SRV_VIEW_DEVICES_MAX)))
		goto out;
	e = srv_view_devices(s->store, &f, &o, &m);
	if (e == WARD_E_INVAL || e == WARD_E_TOOBIG) {
		srv_error(req, 400, "Bad Request", "%s", m.text);
		goto out;
	}
	if (e) {
		store_failed(req, "listing devices", &m);
		goto out;
	}
	srv_reply_json(req, o);
out:
	evhttp_clear_headers(&kv);
}

static void device_get(struct evhttp_request *req, struct srv *s, const char *serial)
{
	struct ward_msg m = {{0}};
	json_t *o = NULL;
	ward_err e = srv_view_device(s->store, serial, &o, &m);

	if (e == WARD_E_NOTFOUND) {
		srv_error(req, 404, "Not Found", "no device with serial '%s'", serial);
		return;
	}
	if (e) {
		store_failed(req, "reading a device", &m);
		return;
	}
	srv_reply_json(req, o);
}

/* The device as the listing shows it (after a change). */
static void reply_row(struct evhttp_request *req, struct srv *s, const char *serial)
{
	struct srv_fleet_row *row = malloc(sizeof(*row));
	struct ward_msg m = {{0}};

	if (!row || srv_fleet_get(s->store, serial, row, &m)) {
		free(row);
		store_failed(req, "reading a device", &m);
		return;
	}
	srv_reply_json(req, srv_view_device_row(row));
	free(row);
}

/* POST .../assign {"image": TARGETPATH}: the director names it for this device. */
static void device_assign(struct evhttp_request *req, struct srv *s, const struct srv_operator *op,
			  const char *serial)
{
	struct ward_msg m = {{0}};
	json_t *j, *image, *out = NULL;
	ward_err e;

	if (!role_allows(req, s, op, R_ADMIN | R_RELEASE, "assign images to devices", serial))
		return;
	j = srv_json_body(req, false);
	if (!j)
		return;
	image = json_object_get(j, "image");
	if (json_object_size(j) != 1 || !json_is_string(image) || json_string_length(image) == 0 ||
	    json_string_length(image) > 255) {
		srv_error(req, 400, "Bad Request", "assign takes {\"image\": \"TARGETPATH\"} (at most 255 bytes)");
		json_decref(j);
		return;
	}
	e = srv_director_assign(s->store, &s->conf, serial, json_string_value(image), op->name, &out, &m);
	json_decref(j);
	if (e == WARD_E_NOTFOUND)
		srv_error(req, 404, "Not Found", "%s", m.text);
	else if (e == WARD_E_DENIED)
		srv_error(req, 409, "Conflict", "%s", m.text);
	else if (e == WARD_E_INVAL || e == WARD_E_TOOBIG || e == WARD_E_PARSE)
		srv_error(req, 400, "Bad Request", "%s", m.text);
	else if (e)
		store_failed(req, "assigning an image", &m);
	else
		srv_reply_json(req, out);
}

/* POST .../revoke, .../decommission */
static void device_status(struct evhttp_request *req, struct srv *s, const struct srv_operator *op,
			  const char *serial, bool decommission)
{
	const char *action = decommission ? "decommission" : "revoke";
	struct ward_msg m = {{0}};
	char event[40];
	ward_err e;

	if (!no_body(req))
		return; /* the body, if any, says nothing we use */
	if (!role_allows(req, s, op, R_ADMIN | R_OPERATOR, decommission ? "decommission devices" : "revoke devices",
			 serial))
		return;
	/* the status change and its "device-revoke" record are one transaction; who asked follows */
	e = srv_device_set_status(s->store, serial, decommission ? SRV_DEVICE_DECOMMISSIONED : SRV_DEVICE_REVOKED, &m);
	if (e == WARD_E_NOTFOUND) {
		srv_error(req, 404, "Not Found", "no device with serial '%s'", serial);
		return;
	}
	if (e == WARD_E_DENIED) {
		srv_error(req, 409, "Conflict", "%s", m.text);
		return;
	}
	if (e) {
		store_failed(req, decommission ? "decommissioning a device" : "revoking a device", &m);
		return;
	}
	snprintf(event, sizeof(event), "api-device-%s", action);
	audit_json(s, event, serial, who(op, action));
	/* the CRL follows at once, as after `ward device revoke` (the refusal at ward-server already has) */
	if (srv_crl_publish(&s->conf, s->store, s->issuing, s->issuing_key, time(NULL), &m))
		fprintf(stderr, "ward-server: re-publishing the CRL after %s %s: %s\n", action, serial, m.text);
	srv_reply_json(req, json_pack("{s:s,s:s}", "serial", serial, "status", decommission ? "decommissioned" : "revoked"));
}

/* POST .../labels {"tags": [...], "critical": bool} */
static void device_labels(struct evhttp_request *req, struct srv *s, const struct srv_operator *op,
			  const char *serial)
{
	struct srv_labels l;
	struct ward_msg m = {{0}};
	char actor[SRV_OP_NAME_MAX + 8];
	json_t *j, *tags, *crit, *v;
	const char *key;
	size_t i;
	ward_err e;

	if (!role_allows(req, s, op, R_ADMIN | R_OPERATOR, "label devices", serial))
		return;
	if (!(j = srv_json_body(req, false)))
		return;
	memset(&l, 0, sizeof(l));
	json_object_foreach(j, key, v) {
		if (strcmp(key, "tags") && strcmp(key, "critical")) {
			srv_error(req, 400, "Bad Request", "unknown field '%.64s' (tags, critical)", key);
			goto out;
		}
	}
	tags = json_object_get(j, "tags");
	crit = json_object_get(j, "critical");
	if (!tags && !crit) {
		srv_error(req, 400, "Bad Request", "give tags (an array of strings) and/or critical (a boolean)");
		goto out;
	}
	if (crit && !json_is_boolean(crit)) {
		srv_error(req, 400, "Bad Request", "critical must be true or false");
		goto out;
	}
	if (tags && (!json_is_array(tags) || json_array_size(tags) > SRV_TAGS_MAX)) {
		srv_error(req, 400, "Bad Request", "tags must be an array of at most %d strings", SRV_TAGS_MAX);
		goto out;
	}
	json_array_foreach(tags, i, v) {
		if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)) ||
		    srv_tag_check(json_string_value(v), &m) != WARD_OK) {
			srv_error(req, 400, "Bad Request", "tag %zu: %s", i + 1,
				  json_is_string(v) && m.text[0] ? m.text : "tags are [a-z0-9._-]{1,32}");
			goto out;
		}
		memcpy(l.tags[l.ntags++], json_string_value(v), json_string_length(v) + 1);
	}
	l.critical = json_is_true(crit);
	if (ward_snprintf(actor, sizeof(actor), "api:%s", op->name) != WARD_OK) {
		srv_error(req, 500, "Internal Server Error", "operator name too long");
		goto out;
	}
	/* the change and its "device-labels" record (by api:NAME) are one transaction */
	e = srv_labels_set(s->store, serial, &l, tags != NULL, crit != NULL, actor, time(NULL), &m);
	if (e == WARD_E_NOTFOUND) {
		srv_error(req, 404, "Not Found", "no device with serial '%s'", serial);
		goto out;
	}
	if (e == WARD_E_INVAL || e == WARD_E_TOOBIG) {
		srv_error(req, 400, "Bad Request", "%s", m.text);
		goto out;
	}
	if (e) {
		store_failed(req, "labelling a device", &m);
		goto out;
	}
	reply_row(req, s, serial);
out:
	json_decref(j);
}

/* Everything under /api/v1/devices (rest: what follows it). */
static void devices(struct evhttp_request *req, struct srv *s, const struct srv_operator *op, const char *rest)
{
	char serial[OPS_SERIAL_MAX + 1];
	const char *slash, *action;
	size_t n;

	if (!*rest) {
		if (!srv_is_get(req))
			srv_not_allowed(req, "GET, HEAD");
		else if (no_body(req))
			devices_list(req, s);
		return;
	}
	if (*rest != '/')
		goto notfound;
	rest++;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (!ident_ok(rest, n, OPS_SERIAL_MAX))
		goto notfound;
	memcpy(serial, rest, n);
	serial[n] = '\0';
	if (!slash) {
		if (!srv_is_get(req))
			srv_not_allowed(req, "GET, HEAD");
		else if (no_body(req))
			device_get(req, s, serial);
		return;
	}
	action = slash + 1;
	if (strcmp(action, "revoke") && strcmp(action, "decommission") && strcmp(action, "labels") &&
	    strcmp(action, "assign"))
		goto notfound;
	if (!srv_is_post(req)) {
		srv_not_allowed(req, "POST");
		return;
	}
	if (!strcmp(action, "labels"))
		device_labels(req, s, op, serial);
	else if (!strcmp(action, "assign"))
		device_assign(req, s, op, serial);
	else
		device_status(req, s, op, serial, !strcmp(action, "decommission"));
	return;
notfound:
	srv_error(req, 404, "Not Found", "no such resource (GET /api/v1/devices/SERIAL, POST "
		  ".../SERIAL/revoke, .../decommission, .../labels or .../assign)");
}

/* ---- routing ------------------------------------------------------------------- */

/* A read-only resource of exactly this path: GET or HEAD, no query, no body. */
static bool plain_get(struct evhttp_request *req)
{
	struct evkeyvalq kv;
	bool ok;

	if (!srv_is_get(req)) {
		srv_not_allowed(req, "GET, HEAD");
		return false;
	}
	ok = no_body(req) && query_parse(req, &kv, NULL, 0);
	evhttp_clear_headers(&kv);
	return ok;
}

/* Everything under /api/v1/devices, audit, fleet, models, operators, whoami, images. */
void srv_ops_api(struct evhttp_request *req, struct srv *s, const char *path)
{
	static const char api[] = "/api/v1/";
	struct srv_operator op;
	const char *p = path + sizeof(api) - 1;

	/* authenticate before saying anything about the path */
	if (!srv_ops_auth(req, s, &op)) {
		srv_wipe_input(req);
		return;
	}
	if (strncmp(path, api, sizeof(api) - 1))
		goto notfound;
	if (!strncmp(p, "devices", 7) && (p[7] == '\0' || p[7] == '/')) {
		devices(req, s, &op, p + 7);
		return;
	}
	if (!strncmp(p, "models", 6) && (p[6] == '\0' || p[6] == '/')) {
		models(req, s, &op, p[6] ? p + 7 : p + 6);
		return;
	}
	if (!strcmp(p, "operators")) {
		operators(req, s, &op);
		return;
	}
	if (!strcmp(p, "audit")) {
		if (!srv_is_get(req))
			srv_not_allowed(req, "GET, HEAD");
		else if (no_body(req))
			audit_list(req, s);
		return;
	}
	if (!strcmp(p, "audit/verify")) {
		if (plain_get(req))
			audit_verify(req, s);
		return;
	}
	if (!strcmp(p, "fleet/risk")) {
		if (!srv_is_get(req))
			srv_not_allowed(req, "GET, HEAD");
		else if (no_body(req))
			fleet_risk(req, s);
		return;
	}
	if (!strcmp(p, "whoami")) {
		if (plain_get(req))
			whoami(req, &op);
		return;
	}
	if (!strcmp(p, "images")) {
		if (plain_get(req))
			images(req, s);
		return;
	}
notfound:
	srv_error(req, 404, "Not Found", "no such resource");
}
