/*
 * server/risk.c — the risk score of one device (weights and questions in
 * server/risk.h). Pure: reads the device record and the model's settings,
 * writes a struct srv_risk, does no I/O.
 *
 * Invariants: out->raw is exactly the sum of out->reasons[].points (each
 * reason is added through add(), the only place that touches raw); the
 * score is raw clamped to 0..100; the device's facts are untrusted and
 * every malformed part of them is scored as "unknown", never an error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h> /* abort */
#include <string.h>

#include <jansson.h>

#include "risk.h"
#include "ward/json.h"

#define DAY 86400

void srv_risk_model_default(struct srv_risk_model *model, const char *name)
{
	memset(model, 0, sizeof(*model));
	if (name)
		snprintf(model->model, sizeof(model->model), "%s", name); /* cut is harmless: a label */
	model->safety = model->revenue = model->brand = 1;
}

/* Append a reason (text cut to fit: it is a label, never parsed). */
static void add(struct srv_risk *r, int points, const char *fmt, ...) WARD_PRINTF(3, 4);
static void add(struct srv_risk *r, int points, const char *fmt, ...)
{
	struct srv_risk_reason *x;
	va_list ap;

	if (r->n >= SRV_RISK_REASONS_MAX)
		abort(); /* the questions produce at most 9 reasons; more is a bug here */
	x = &r->reasons[r->n++];
	x->points = points;
	va_start(ap, fmt);
	vsnprintf(x->text, sizeof(x->text), fmt, ap);
	va_end(ap);
	/* device-supplied text may hold control characters: a reason is one line */
	for (char *p = x->text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	r->raw += points;
}

/* The device's facts as a JSON object, or NULL when absent or malformed. */
static json_t *facts_of(const struct srv_device *d)
{
	size_t len = strnlen(d->facts, sizeof(d->facts));
	json_t *f = NULL;

	if (len == 0 || len == sizeof(d->facts)) /* not NUL-terminated: unknown */
		return NULL;
	if (ward_json_parse(d->facts, len, sizeof(d->facts), &f, NULL) != WARD_OK)
		return NULL;
	if (!json_is_object(f)) {
		json_decref(f);
		return NULL;
	}
	return f;
}

static bool firmware_of(const json_t *f, char out[WARD_VERSION_MAX + 1])
{
	const json_t *v = f ? json_object_get(f, "firmware_version") : NULL;
	const char *s;

	out[0] = '\0';
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	if (json_string_length(v) > WARD_VERSION_MAX || strlen(s) != json_string_length(v) ||
	    !ward_version_valid(s))
		return false;
	memcpy(out, s, json_string_length(v) + 1);
	return true;
}

bool srv_risk_firmware(const struct srv_device *d, char out[WARD_VERSION_MAX + 1])
{
	json_t *f = facts_of(d);
	bool ok = firmware_of(f, out);

	json_decref(f);
	return ok;
}

void srv_risk_newest(const struct srv_device *devs, size_t n, const char *model,
		     char out[WARD_VERSION_MAX + 1])
{
	char v[WARD_VERSION_MAX + 1];

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (devs[i].status != SRV_DEVICE_ACTIVE || strcmp(devs[i].model, model) != 0)
			continue;
		if (srv_risk_firmware(&devs[i], v) && (!out[0] || ward_version_cmp(v, out) > 0))
			memcpy(out, v, sizeof(v));
	}
}

static bool port_allowed(const struct srv_risk_model *model, json_int_t p)
{
	for (size_t i = 0; i < model->n_ports && i < SRV_RISK_ALLOWED_PORTS_MAX; i++)
		if (model->allowed_ports[i] == p)
			return true;
	return false;
}

/* Unexpected listening ports, when the model judges them. */
static void score_ports(struct srv_risk *r, const json_t *f, const struct srv_risk_model *model)
{
	const json_t *ports = f ? json_object_get(f, "listening_ports") : NULL;
	char list[64] = "";
	size_t used = 0, bad = 0, i;
	const json_t *v;

	if (!model->ports_judged)
		return;
	if (!json_is_array(ports) || json_array_size(ports) > SRV_RISK_FACT_PORTS_MAX) {
		add(r, SRV_RISK_W_PORTS_UNKNOWN, "listening ports not reported (or not a list of ports)");
		return;
	}
	json_array_foreach(ports, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535) {
			add(r, SRV_RISK_W_PORTS_UNKNOWN, "listening ports not reported (or not a list of ports)");
			return;
		}
	}
	json_array_foreach(ports, i, v) {
		json_int_t p = json_integer_value(v);
		bool seen = false;

		if (port_allowed(model, p))
			continue;
		for (size_t j = 0; j < i; j++) /* a port listed twice counts once */
			if (json_integer_value(json_array_get(ports, j)) == p)
				seen = true;
		if (seen)
			continue;
		if (bad < SRV_RISK_PORTS_COUNTED) {
			int w = snprintf(list + used, sizeof(list) - used, "%s%d", bad ? ", " : "", (int)p);
			if (w > 0 && (size_t)w < sizeof(list) - used)
				used += (size_t)w;
		}
		bad++;
	}
	if (bad == 0)
		return;
	add(r, SRV_RISK_W_PORT * (int)(bad < SRV_RISK_PORTS_COUNTED ? bad : SRV_RISK_PORTS_COUNTED),
	    "%zu unexpected listening port%s: %s%s", bad, bad == 1 ? "" : "s", list,
	    bad > SRV_RISK_PORTS_COUNTED ? ", ..." : "");
}

/* Slots whose install failed ("bad"), at most SRV_RISK_FAILED_SLOTS_MAX counted. */
static void score_slots(struct srv_risk *r, const json_t *f)
{
	const json_t *slots = f ? json_object_get(f, "slots") : NULL;
	const char *name;
	json_t *v;
	size_t bad = 0;

	if (!json_is_object(slots))
		return;
	json_object_foreach((json_t *)slots, name, v) {
		const json_t *st = json_is_object(v) ? json_object_get(v, "state") : NULL;

		if (!json_is_string(st) || strcmp(json_string_value(st), "bad") != 0)
			continue;
		if (++bad > SRV_RISK_FAILED_SLOTS_MAX)
			break;
		add(r, SRV_RISK_W_FAILED_INSTALL, "failed install: slot %.16s is marked bad", name);
	}
}

static void score_checkin(struct srv_risk *r, const struct srv_device *d,
			  const struct srv_risk_model *model, const struct srv_risk_fleet *fleet, time_t now)
{
	unsigned interval = model->checkin_interval ? model->checkin_interval : fleet->checkin_interval;

	/* the registry sets last_seen at enrolment: no check-in yet is no facts and no later time */
	if (d->last_seen <= 0 || (!d->facts[0] && d->last_seen <= d->enrolled)) {
		add(r, SRV_RISK_W_NEVER_SEEN, "never checked in");
		return;
	}
	if (interval == 0)
		return;
	if (now > d->last_seen &&
	    (uint64_t)(now - d->last_seen) > (uint64_t)SRV_RISK_MISSED_FACTOR * interval) {
		uint64_t ago = (uint64_t)(now - d->last_seen);

		add(r, SRV_RISK_W_MISSED_CHECKIN, "missed check-ins: last seen %llu min ago (expected every %u s)",
		    (unsigned long long)(ago / 60), interval);
	}
}

static void score_cert(struct srv_risk *r, const struct srv_device *d, const struct srv_risk_fleet *fleet,
		       time_t now)
{
	if (d->cert_not_after <= 0) {
		add(r, SRV_RISK_W_CERT_UNKNOWN, "certificate expiry unknown");
		return;
	}
	if (d->cert_not_after <= now) {
		add(r, SRV_RISK_W_CERT_EXPIRED, "certificate expired %lld days ago",
		    (long long)((now - d->cert_not_after) / DAY));
		return;
	}
	if ((uint64_t)(d->cert_not_after - now) < fleet->renew_before)
		add(r, SRV_RISK_W_CERT_RENEW, "certificate expires in %lld days (renewal is due)",
		    (long long)((d->cert_not_after - now) / DAY));
}

static void score_firmware(struct srv_risk *r, const json_t *f, const struct srv_device *d,
			   const struct srv_risk_fleet *fleet)
{
	char v[WARD_VERSION_MAX + 1];

	if (!firmware_of(f, v)) {
		add(r, SRV_RISK_W_FIRMWARE_UNKNOWN, "firmware version not reported");
		return;
	}
	if (fleet->newest && fleet->newest[0] && ward_version_valid(fleet->newest) &&
	    ward_version_cmp(v, fleet->newest) < 0)
		add(r, SRV_RISK_W_FIRMWARE_BEHIND, "firmware %s is behind the fleet's newest %.64s for %.63s",
		    v, fleet->newest, d->model);
}

static void score_secure_boot(struct srv_risk *r, const json_t *f)
{
	const json_t *sb = f ? json_object_get(f, "secure_boot") : NULL;

	if (json_is_false(sb))
		add(r, SRV_RISK_W_SECURE_BOOT_OFF, "secure boot reported off");
	else if (!json_is_true(sb))
		add(r, SRV_RISK_W_SECURE_BOOT_UNKNOWN, "secure boot not reported");
}

static unsigned harm_level(unsigned v)
{
	return v > SRV_RISK_HARM_MAX ? SRV_RISK_HARM_MAX : v;
}

/* Largest points first; stable (insertion sort), so ties keep the order of the questions. */
static void sort_reasons(struct srv_risk *r)
{
	for (size_t i = 1; i < r->n; i++) {
		struct srv_risk_reason x = r->reasons[i];
		size_t j = i;

		for (; j > 0 && r->reasons[j - 1].points < x.points; j--)
			r->reasons[j] = r->reasons[j - 1];
		r->reasons[j] = x;
	}
}

ward_err srv_risk_score(const struct srv_device *d, const struct srv_risk_model *model,
			const struct srv_risk_fleet *fleet, time_t now, struct srv_risk *out)
{
	struct srv_risk_model dflt;
	unsigned s, rv, b;
	json_t *f;
	int harm;

	if (!d || !fleet || !out)
		return WARD_E_INVAL;
	memset(out, 0, sizeof(*out));
	if (!model) {
		srv_risk_model_default(&dflt, d->model);
		model = &dflt;
	}
	if (d->status != SRV_DEVICE_ACTIVE) {
		out->excluded = true;
		add(out, 0, "not scored: device %s (refused by ward-server, certificates on the CRL)",
		    d->status == SRV_DEVICE_REVOKED ? "revoked" : "decommissioned");
		return WARD_OK;
	}
	s = harm_level(model->safety);
	rv = harm_level(model->revenue);
	b = harm_level(model->brand);
	harm = (int)(s * SRV_RISK_W_SAFETY + rv * SRV_RISK_W_REVENUE + b * SRV_RISK_W_BRAND);
	if (harm)
		add(out, harm, "harm if compromised: safety %u, revenue %u, brand %u", s, rv, b);

	f = facts_of(d);
	score_checkin(out, d, model, fleet, now);
	score_secure_boot(out, f);
	score_firmware(out, f, d, fleet);
	score_ports(out, f, model);
	score_slots(out, f);
	score_cert(out, d, fleet, now);
	json_decref(f);

	sort_reasons(out);
	out->score = out->raw < 0 ? 0 : out->raw > 100 ? 100 : out->raw;
	return WARD_OK;
}
