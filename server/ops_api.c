/*
 * server/ops_api.c — the operator API (JSON over HTTPS, /api/v1/...), for
 * people and tools, not devices: no client certificate, a bearer token.
 *
 *   POST /api/v1/login                 {"name","password"} -> {"token","expires"}
 *   GET  /api/v1/devices               the registry, any role
 *   POST /api/v1/devices/SERIAL/revoke admin or operator
 *
 * Every request but login carries "Authorization: Bearer TOKEN"; the token
 * is checked against the database on every request (a revoked or expired
 * one stops working at once), and any failure is 401 whatever the reason, so
 * a client learns nothing about other people's tokens. Authorization starts
 * as "denied" and becomes "allowed" on one line. Bodies are at most
 * SRV_OPS_BODY_MAX bytes of application/json. Passwords and tokens are wiped
 * from every buffer that held them and never reach a log or audit record.
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

#define OPS_LOGIN_TTL (12LL * 3600)  /* a login's token lasts 12 hours */
#define OPS_DEVICES_MAX 1000         /* devices in one listing */
#define OPS_SERIAL_MAX 64            /* what ward-server enrols */

static const char devices_prefix[] = "/api/v1/devices/";

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
	e = srv_op_login(s->store, json_string_value(name), json_string_value(pass), OPS_LOGIN_TTL, token,
			 &expires, &m);
	if (e == WARD_E_DENIED) {
		srv_unauthorized(req, "wrong operator name or password");
		goto out;
	}
	if (e) {
		fprintf(stderr, "ward-server: login: %s\n", m.text);
		srv_error(req, 503, "Service Unavailable", "cannot log in now; retry");
		goto out;
	}
	{
		json_t *o = json_pack("{s:s,s:I}", "token", token, "expires", (json_int_t)expires);
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		if (o) /* jansson's copy of the token */
			ward_wipe((char *)json_string_value(json_object_get(o, "token")), SRV_OP_TOKEN_CHARS);
		json_decref(o);
		if (text) {
			srv_reply(req, 200, "OK", "application/json", text, strlen(text));
			ward_wipe(text, strlen(text));
			free(text);
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

void srv_ops_devices(struct evhttp_request *req, struct srv *s)
{
	static const char *const st[] = {"active", "revoked", "decommissioned"};
	struct srv_operator op;
	struct srv_device *devs = NULL;
	struct ward_msg m = {{0}};
	json_t *arr, *o;
	size_t n = 0;

	if (!srv_ops_auth(req, s, &op))
		return;
	if (srv_devices(s->store, &devs, &n, OPS_DEVICES_MAX + 1, &m)) {
		fprintf(stderr, "ward-server: listing devices: %s\n", m.text);
		srv_error(req, 503, "Service Unavailable", "registry unavailable; retry");
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr && i < n && i < OPS_DEVICES_MAX; i++) {
		const struct srv_device *d = &devs[i];
		json_t *e = json_pack("{s:s,s:s,s:s,s:I,s:o}", "serial", d->serial, "model", d->model,
				      "status", (unsigned)d->status < 3 ? st[d->status] : "unknown",
				      "cert_not_after", (json_int_t)d->cert_not_after, "last_seen",
				      d->last_seen ? json_integer((json_int_t)d->last_seen) : json_null());

		if (!e || json_array_append_new(arr, e)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(devs);
	o = arr ? json_pack("{s:o,s:b}", "devices", arr, "truncated", n > OPS_DEVICES_MAX) : NULL;
	srv_reply_json(req, o);
}

static bool serial_ok(const char *p, size_t n)
{
	if (n == 0 || n > OPS_SERIAL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '-' || p[i] == '.' || p[i] == '_'))
			return false;
	return true;
}

/* POST /api/v1/devices/SERIAL/ACTION: only "revoke" so far. */
void srv_ops_device_post(struct evhttp_request *req, struct srv *s, const char *path)
{
	const char *rest = path + strlen(devices_prefix), *slash = strchr(rest, '/');
	char serial[OPS_SERIAL_MAX + 1], detail[256];
	struct srv_operator op;
	struct ward_buf body;
	struct ward_msg m = {{0}};
	bool allowed = false;
	ward_err e;

	/* authenticate before saying anything about the path */
	if (!srv_ops_auth(req, s, &op))
		return;
	if (!slash || strcmp(slash, "/revoke") || !serial_ok(rest, (size_t)(slash - rest))) {
		srv_error(req, 404, "Not Found", "no such resource (POST /api/v1/devices/SERIAL/revoke)");
		return;
	}
	memcpy(serial, rest, (size_t)(slash - rest));
	serial[slash - rest] = '\0';
	if (srv_body(req, SRV_OPS_BODY_MAX, &body)) {
		srv_error(req, 413, "Payload Too Large", "request bodies are limited to %d bytes", SRV_OPS_BODY_MAX);
		return;
	}
	ward_buf_free(&body); /* the body, if any, says nothing we use */
	if (ward_snprintf(detail, sizeof(detail), "{\"operator\":\"%s\",\"role\":\"%s\",\"action\":\"revoke\"}",
			  op.name, srv_op_role_name(op.role)) != WARD_OK) {
		srv_error(req, 500, "Internal Server Error", "cannot record the request");
		return;
	}
	if (op.role == SRV_ROLE_ADMIN || op.role == SRV_ROLE_OPERATOR)
		allowed = true; /* the one line that says yes */
	if (!allowed) {
		srv_audit_note(s, "api-denied", serial, detail);
		srv_error(req, 403, "Forbidden", "role %s may not revoke devices (admin or operator may)",
			  srv_op_role_name(op.role));
		return;
	}
	/* the status change and its "device-revoke" record are one transaction; who asked follows */
	e = srv_device_set_status(s->store, serial, SRV_DEVICE_REVOKED, &m);
	if (e == WARD_E_NOTFOUND) {
		srv_error(req, 404, "Not Found", "no device with serial '%s'", serial);
		return;
	}
	if (e == WARD_E_DENIED) {
		srv_error(req, 409, "Conflict", "%s", m.text);
		return;
	}
	if (e) {
		fprintf(stderr, "ward-server: revoking %s: %s\n", serial, m.text);
		srv_error(req, 503, "Service Unavailable", "registry unavailable; retry");
		return;
	}
	srv_audit_note(s, "api-device-revoke", serial, detail);
	srv_reply_json(req, json_pack("{s:s,s:s}", "serial", serial, "status", "revoked"));
}

/* The rest of the operator API (audit, fleet, models, operators, whoami, images). */
void srv_ops_api(struct evhttp_request *req, struct srv *s, const char *path)
{
	(void)s;
	(void)path;
	srv_error(req, 501, "Not Implemented", "not built yet");
}
