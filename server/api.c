/*
 * server/api.c — the device API (mutual TLS, JSON, /api/v1/device/...).
 *
 * A device is identified only by its verified client certificate; the
 * endpoints take no device id, so a device can read and write nothing but
 * its own record. Check-in facts are a bounded JSON object whose known
 * fields are type-checked; unknown fields are kept (a newer agent may send
 * more) but the whole is capped at 4 KiB.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign.h"
#include "srv.h"
#include "ward/json.h"

#define FACTS_MAX 4096
#define REPORT_BODY_MAX (16 * 1024) /* bytes of a report request */

static const char *check_facts(const json_t *f)
{
	static const struct {
		const char *key;
		json_type type;
	} known[] = {
		{"firmware_version", JSON_STRING}, {"hardware_id", JSON_STRING}, {"slots", JSON_OBJECT},
		{"uptime", JSON_INTEGER},          {"listening_ports", JSON_ARRAY}, {"booted_slot", JSON_STRING},
	};
	json_t *ports, *v;
	size_t i;

	if (!json_is_object(f))
		return "check-in body must be a JSON object";
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		v = json_object_get(f, known[i].key);
		if (v && json_typeof(v) != known[i].type)
			return "a known check-in field has the wrong type";
	}
	ports = json_object_get(f, "listening_ports");
	json_array_foreach(ports, i, v)
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
			return "listening_ports must hold port numbers";
	if (json_is_integer(json_object_get(f, "uptime")) && json_integer_value(json_object_get(f, "uptime")) < 0)
		return "uptime must not be negative";
	return NULL;
}

/*
 * Compact, sorted JSON of the facts with DEL written as \u007f (jansson
 * writes it raw, and the registry keeps no control characters). Caller frees.
 */
static char *normalise(const json_t *facts)
{
	char *t = json_dumps(facts, JSON_COMPACT | JSON_SORT_KEYS), *out;
	size_t n = 0, dels = 0, o = 0;

	if (!t)
		return NULL;
	for (; t[n]; n++)
		dels += t[n] == 0x7f;
	if (!dels)
		return t;
	out = malloc(n + 5 * dels + 1);
	if (out) {
		for (size_t i = 0; i < n; i++) {
			if (t[i] == 0x7f) {
				memcpy(out + o, "\\u007f", 6);
				o += 6;
			} else {
				out[o++] = t[i];
			}
		}
		out[o] = '\0';
	}
	free(t);
	return out;
}

static void answer(struct srv *s, struct srv_pending *q, ward_err result, const char *why)
{
	json_t *reply;
	char *rtext;
	uint32_t r = 0;
	unsigned interval = s->conf.checkin_interval, jitter = interval / 10;

	if (result == WARD_E_DENIED || result == WARD_E_NOTFOUND) {
		srv_error(q->req, 403, "Forbidden", "device %s may not check in (%s)", q->serial,
			  ward_err_name(result));
		return;
	}
	if (result == WARD_E_TOOBIG || result == WARD_E_PARSE || result == WARD_E_INVAL) {
		srv_error(q->req, 400, "Bad Request", "check-in facts refused: %s", why);
		return;
	}
	if (result) {
		srv_error(q->req, 503, "Service Unavailable", "registry unavailable; retry");
		return;
	}
	if (ward_crypto_random(&r, sizeof(r)) == WARD_OK && jitter)
		interval = interval - jitter + r % (2 * jitter + 1);
	reply = json_pack("{s:i,s:b,s:[]}", "next_checkin", (int)interval, "renew", q->renew, "work");
	rtext = reply ? json_dumps(reply, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(reply);
	if (!rtext) {
		srv_error(q->req, 500, "Internal Server Error", "cannot encode the reply");
		return;
	}
	srv_reply(q->req, 200, "OK", "application/json", rtext, strlen(rtext));
	free(rtext);
}

void srv_checkin_flush(struct srv *s)
{
	struct srv_checkin_rec recs[SRV_BATCH_MAX];
	struct ward_msg m = {{0}};
	size_t n = s->npending;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		recs[i].serial = s->pending[i].serial;
		recs[i].facts = s->pending[i].facts;
		recs[i].now = s->pending[i].now;
		recs[i].result = WARD_OK;
	}
	if (srv_checkin_many(s->store, recs, n, &m) != WARD_OK)
		fprintf(stderr, "ward-server: writing %zu check-ins: %s\n", n, m.text);
	s->npending = 0; /* before answering: nothing below adds to the queue */
	for (size_t i = 0; i < n; i++) {
		answer(s, &s->pending[i], recs[i].result, m.text);
		free(s->pending[i].facts);
		s->pending[i].facts = NULL;
	}
	if (!s->nrpending)
		event_del(s->flush);
}

static void report_answer(struct srv_rpending *q, const struct srv_report_batch *b)
{
	json_t *o;
	char *text;

	if (b->result == WARD_E_DENIED || b->result == WARD_E_NOTFOUND) {
		srv_error(q->req, 403, "Forbidden", "device %s may not report (%s)", q->serial, ward_err_name(b->result));
		return;
	}
	if (b->result == WARD_E_INVAL || b->result == WARD_E_TOOBIG) {
		srv_error(q->req, 400, "Bad Request", "report body refused");
		return;
	}
	if (b->result) {
		srv_error(q->req, 503, "Service Unavailable", "registry unavailable; retry");
		return;
	}
	o = json_pack("{s:I,s:I}", "accepted", (json_int_t)b->accepted, "last_seq", (json_int_t)b->last_seq);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (text)
		srv_reply(q->req, 200, "OK", "application/json", text, strlen(text));
	else
		srv_error(q->req, 500, "Internal Server Error", "cannot encode the reply");
	free(text);
}

void srv_report_flush(struct srv *s)
{
	struct srv_report_batch b[SRV_BATCH_MAX];
	struct ward_msg m = {{0}};
	size_t n = s->nrpending;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct srv_rpending *q = &s->rpending[i];

		b[i] = (struct srv_report_batch){q->serial, q->r, q->n, q->now, WARD_OK, 0, 0};
	}
	if (srv_reports_add_many(s->store, b, n, &m) != WARD_OK)
		fprintf(stderr, "ward-server: writing the reports of %zu devices: %s\n", n, m.text);
	s->nrpending = 0; /* before answering: nothing below adds to the queue */
	for (size_t i = 0; i < n; i++) {
		report_answer(&s->rpending[i], &b[i]);
		free(s->rpending[i].r);
		s->rpending[i].r = NULL;
	}
	if (!s->npending)
		event_del(s->flush);
}

void srv_api_checkin(struct evhttp_request *req, struct srv *s)
{
	struct srv_peer p;
	struct srv_device dev;
	struct ward_buf body;
	struct ward_msg m = {{0}};
	json_t *facts = NULL;
	const char *bad;
	char *ftext = NULL;

	if (!srv_device_auth(req, s, &p, &dev, false))
		goto out;
	if (srv_body(req, FACTS_MAX, &body)) {
		srv_error(req, 413, "Payload Too Large", "check-in facts are limited to %d bytes", FACTS_MAX);
		goto out;
	}
	if (ward_json_parse(body.p, body.len, FACTS_MAX, &facts, &m)) {
		ward_buf_free(&body);
		srv_error(req, 400, "Bad Request", "check-in body: %s", m.text);
		goto out;
	}
	ward_buf_free(&body);
	bad = check_facts(facts);
	if (bad) {
		srv_error(req, 400, "Bad Request", "%s", bad);
		goto out;
	}
	ftext = normalise(facts);
	if (!ftext) {
		srv_error(req, 500, "Internal Server Error", "cannot encode the facts");
		goto out;
	}
	/* what is stored must fit the registry (4 KiB in, under 8 KiB once normalised) */
	if (strlen(ftext) >= sizeof(dev.facts)) {
		srv_error(req, 413, "Payload Too Large", "check-in facts exceed %zu bytes once normalised",
			  sizeof(dev.facts) - 1);
		goto out;
	}
	{
		/* queue it: written with the others that arrived together, then answered */
		struct srv_pending *q;

		if (s->npending == SRV_BATCH_MAX)
			srv_checkin_flush(s);
		q = &s->pending[s->npending++];
		q->req = req;
		snprintf(q->serial, sizeof(q->serial), "%s", dev.serial);
		q->facts = ftext;
		ftext = NULL;
		q->now = time(NULL);
		q->renew = dev.cert_not_after - q->now < (time_t)s->conf.renew_before;
		if (s->npending == 1) {
			struct timeval zero = {0, 0};

			event_add(s->flush, &zero); /* the next turn of the loop */
		}
	}
out:
	free(ftext);
	json_decref(facts);
	srv_peer_free(&p);
}

void srv_api_self(struct evhttp_request *req, struct srv *s)
{
	struct srv_peer p;
	struct srv_device dev;
	static const char *const st[] = {"active", "revoked", "decommissioned"};
	json_t *o;
	char *text;

	if (!srv_device_auth(req, s, &p, &dev, true))
		goto out;
	o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "serial", dev.serial, "model", dev.model, "status",
		      st[dev.status], "cert_serial", dev.cert_serial, "cert_not_after",
		      (json_int_t)dev.cert_not_after, "enrolled", (json_int_t)dev.enrolled, "last_seen",
		      (json_int_t)dev.last_seen);
	if (o && dev.facts[0]) {
		json_t *f = json_loads(dev.facts, 0, NULL);

		if (f)
			json_object_set_new(o, "facts", f);
	}
	text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text) {
		srv_error(req, 500, "Internal Server Error", "cannot encode the reply");
		goto out;
	}
	srv_reply(req, 200, "OK", "application/json", text, strlen(text));
	free(text);
out:
	srv_peer_free(&p);
}

/*
 * POST /api/v1/device/report: the device's stage reports (docs/api.md). The
 * reply's last_seq lets the device empty its outbox; a replay changes
 * nothing and still gets 200 (the device may have missed our last reply).
 * Campaigns see the new states at the engine's next step (every second).
 */
void srv_api_report(struct evhttp_request *req, struct srv *s, const char *path)
{
	struct srv_peer p = {0};
	struct srv_device dev;
	struct srv_report *r = NULL;
	struct ward_buf body;
	struct ward_msg m = {{0}};
	json_t *j = NULL;
	size_t n = 0;
	ward_err e;

	if (strcmp(path, "/api/v1/device/report")) {
		srv_error(req, 404, "Not Found", "no such resource");
		return;
	}
	if (!srv_is_post(req)) {
		srv_not_allowed(req, "POST");
		return;
	}
	if (!srv_device_auth(req, s, &p, &dev, false))
		goto out;
	if (srv_body(req, REPORT_BODY_MAX, &body)) {
		srv_error(req, 413, "Payload Too Large", "report requests are limited to %d bytes", REPORT_BODY_MAX);
		goto out;
	}
	e = ward_json_parse(body.p, body.len, REPORT_BODY_MAX, &j, &m);
	ward_buf_free(&body);
	r = calloc(SRV_REPORTS_MAX, sizeof(*r));
	if (!e && !r)
		e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
	if (!e)
		e = srv_reports_parse(j, r, &n, &m);
	if (e) {
		srv_error(req, e == WARD_E_NOMEM ? 503 : 400, e == WARD_E_NOMEM ? "Service Unavailable" : "Bad Request",
			  "report body: %s", m.text);
		goto out;
	}
	{
		/* queue it: written with the others that arrived together, then answered */
		struct srv_rpending *q;

		if (s->nrpending == SRV_BATCH_MAX)
			srv_report_flush(s);
		q = &s->rpending[s->nrpending++];
		q->req = req;
		snprintf(q->serial, sizeof(q->serial), "%s", dev.serial);
		q->r = r;
		q->n = n;
		q->now = time(NULL);
		r = NULL;
		if (s->nrpending == 1) {
			struct timeval zero = {0, 0};

			event_add(s->flush, &zero); /* the next turn of the loop */
		}
	}
out:
	free(r);
	json_decref(j);
	srv_peer_free(&p);
}
