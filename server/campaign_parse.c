/*
 * server/campaign_parse.c — the parsers of what operators and devices send
 * about campaigns: a campaign request's body, its selector, phases and
 * percentages, and a device's stage-report body (server/campaign.h).
 *
 * Pure functions of their input (no database, no clock), so that the fuzz
 * targets fuzz/campaign_spec.c and fuzz/reports.c run exactly this code.
 * Every field is type- and size-checked, unknown fields are refused, and a
 * refusal says which field and why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

#define NPARAM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the request ------------------------------------------------------- */

ward_err srv_campaign_percent_parse(const char *text, unsigned *out, struct ward_msg *m)
{
	unsigned whole = 0, frac = 0, digits = 0;
	const char *p = text;

	if (!p || !*p)
		return ward_msg_set(m, WARD_E_INVAL, "a percentage is a number from 0 to 100, e.g. 5 or 0.5%%");
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (unsigned)(*p - '0');
		if (whole > 100)
			break;
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
			frac = frac * 10 + (unsigned)(*p - '0');
	if (*p == '%')
		p++;
	/* a digit before or after the point: "%", "." and ".%" are no numbers */
	if (*p || (!(*text >= '0' && *text <= '9') && !digits) || whole > 100 || digits > 2 ||
	    (whole == 100 && frac))
		return ward_msg_set(m, WARD_E_INVAL,
				    "\"%.20s\" is not a percentage from 0 to 100 with at most two decimals", text);
	if (digits == 1)
		frac *= 10;
	*out = whole * 100 + frac;
	return WARD_OK;
}

json_t *srv_campaign_phases_parse(const char *text, struct ward_msg *m)
{
	json_t *a = json_array();
	const char *p = text;
	long prev = 0;

	if (!a) {
		ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		return NULL;
	}
	while (p && *p) {
		char one[16];
		size_t n = strcspn(p, ",");
		unsigned v;

		if (n == 0 || n >= sizeof(one)) {
			ward_msg_set(m, WARD_E_INVAL, "phases: give cumulative percentages like 1%%,10%%,50%%,100%%");
			goto bad;
		}
		memcpy(one, p, n);
		one[n] = '\0';
		if (srv_campaign_percent_parse(one, &v, m))
			goto bad;
		if (v % 100 || v == 0) {
			ward_msg_set(m, WARD_E_INVAL, "phases: \"%s\" is not a whole percentage from 1 to 100", one);
			goto bad;
		}
		if ((long)v / 100 <= prev) {
			ward_msg_set(m, WARD_E_INVAL, "phases must increase (%s after %ld%%)", one, prev);
			goto bad;
		}
		prev = (long)v / 100;
		json_array_append_new(a, json_integer(prev));
		p += n;
		if (*p == ',')
			p++;
	}
	return a;
bad:
	json_decref(a);
	return NULL;
}

ward_err srv_selector_parse(const char *text, struct srv_selector *out, struct ward_msg *m)
{
	static const char *const keys[] = {[SRV_SEL_MODEL] = "model", [SRV_SEL_TAG] = "tag", [SRV_SEL_BATCH] = "batch",
					   [SRV_SEL_SERIAL] = "serial"};
	const char *p = text;

	memset(out, 0, sizeof(*out));
	if (!text || strlen(text) > SRV_SELECT_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "a selector has at most %d characters", SRV_SELECT_MAX);
	while (*p) {
		size_t n, k;
		const char *eq;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (!n)
			break;
		if (n == 3 && !strncmp(p, "all", 3)) {
			out->all = true;
			p += n;
			continue;
		}
		eq = memchr(p, '=', n);
		for (k = 0; eq && k < NPARAM(keys); k++)
			if ((size_t)(eq - p) == strlen(keys[k]) && !strncmp(p, keys[k], strlen(keys[k])))
				break;
		if (!eq || k == NPARAM(keys))
			return ward_msg_set(m, WARD_E_INVAL,
					    "selector term \"%.*s\": use model=M, tag=T, batch=B, serial=S (or S*), or all",
					    (int)(n > 60 ? 60 : n), p);
		if (out->n == SRV_SELECT_TERMS)
			return ward_msg_set(m, WARD_E_INVAL, "a selector has at most %d terms", SRV_SELECT_TERMS);
		if (n - (size_t)(eq - p) - 1 == 0 || n - (size_t)(eq - p) - 1 >= sizeof(out->t[0].value))
			return ward_msg_set(m, WARD_E_INVAL, "selector term \"%.*s\": the value must have 1 to 128 characters",
					    (int)(n > 60 ? 60 : n), p);
		out->t[out->n].key = (enum srv_sel_key)k;
		memcpy(out->t[out->n].value, eq + 1, n - (size_t)(eq - p) - 1);
		out->t[out->n].value[n - (size_t)(eq - p) - 1] = '\0';
		for (const char *c = out->t[out->n].value; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return ward_msg_set(m, WARD_E_INVAL, "selector: control characters are not allowed");
		out->n++;
		p += n;
	}
	if (!out->all && out->n == 0)
		return ward_msg_set(m, WARD_E_INVAL, "an empty selector: say which devices (e.g. model=M), or all");
	if (out->all && out->n)
		return ward_msg_set(m, WARD_E_INVAL, "\"all\" cannot be combined with other terms");
	return WARD_OK;
}

/* Terms with the same key are alternatives; different keys must all hold. */
bool srv_selector_match(const struct srv_selector *s, const char *serial, const char *model, const char *batch,
			   const char *tags)
{
	for (int key = SRV_SEL_MODEL; key <= SRV_SEL_SERIAL; key++) {
		bool seen = false, ok = false;

		for (size_t i = 0; i < s->n; i++) {
			const char *v = s->t[i].value;
			size_t n = strlen(v);

			if ((int)s->t[i].key != key)
				continue;
			seen = true;
			switch (s->t[i].key) {
			case SRV_SEL_MODEL:
				ok = ok || !strcmp(model, v);
				break;
			case SRV_SEL_BATCH:
				ok = ok || !strcmp(batch, v);
				break;
			case SRV_SEL_SERIAL:
				ok = ok || (v[n - 1] == '*' ? !strncmp(serial, v, n - 1) : !strcmp(serial, v));
				break;
			case SRV_SEL_TAG: {
				const char *t = tags;

				while (!ok && (t = strstr(t, v)) != NULL) {
					ok = t > tags && t[-1] == ' ' && t[n] == ' ';
					t += n;
				}
				break;
			}
			}
		}
		if (seen && !ok)
			return false;
	}
	return s->all || s->n > 0;
}

ward_err srv_campaign_spec_parse(const json_t *body, struct srv_campaign_spec *out, struct ward_msg *m)
{
	const json_t *name = json_object_get(body, "name"), *image = json_object_get(body, "image");
	const json_t *sel = json_object_get(body, "select"), *phases = json_object_get(body, "phases");
	const json_t *mf = json_object_get(body, "max_failure"), *ra = json_object_get(body, "require_approval");
	const json_t *rt = json_object_get(body, "report_timeout");
	struct srv_selector parsed;
	const char *key;
	const json_t *v;
	long prev = 0;
	ward_err e;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(body))
		return ward_msg_set(m, WARD_E_INVAL, "a campaign is a JSON object");
	json_object_foreach((json_t *)body, key, v) {
		if (strcmp(key, "name") && strcmp(key, "image") && strcmp(key, "select") && strcmp(key, "phases") &&
		    strcmp(key, "max_failure") && strcmp(key, "require_approval") && strcmp(key, "report_timeout"))
			return ward_msg_set(m, WARD_E_INVAL, "unknown field \"%.40s\" in a campaign", key);
	}
	if (name && (!json_is_string(name) || json_string_length(name) >= sizeof(out->name)))
		return ward_msg_set(m, WARD_E_INVAL, "name: a string of at most %zu bytes", sizeof(out->name) - 1);
	if (!json_is_string(image) || json_string_length(image) == 0 ||
	    json_string_length(image) >= sizeof(out->image))
		return ward_msg_set(m, WARD_E_INVAL, "image: the image repository's target path (a string)");
	if (!json_is_string(sel) || json_string_length(sel) > SRV_SELECT_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "select: a selector string such as \"model=M tag=T\"");
	e = srv_selector_parse(json_string_value(sel), &parsed, m);
	if (e)
		return e;
	if (!json_is_array(phases) || json_array_size(phases) == 0 || json_array_size(phases) > SRV_PHASES_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "phases: an array of 1 to %d cumulative percentages ending at 100",
				    SRV_PHASES_MAX);
	for (size_t i = 0; i < json_array_size(phases); i++) {
		const json_t *p = json_array_get(phases, i);
		json_int_t x = json_is_integer(p) ? json_integer_value(p) : -1;

		if (x <= prev || x > 100)
			return ward_msg_set(m, WARD_E_INVAL,
					    "phases: whole percentages from 1 to 100, strictly increasing (phase %zu)", i + 1);
		out->phases[i] = (unsigned)x;
		prev = (long)x;
	}
	out->nphases = json_array_size(phases);
	if (prev != 100)
		return ward_msg_set(m, WARD_E_INVAL, "phases: the last phase must be 100 (the whole selection)");
	if (!json_is_number(mf))
		return ward_msg_set(m, WARD_E_INVAL, "max_failure: a percentage from 0 to 100 (number)");
	{
		double f = json_number_value(mf) * 100.0;
		/* rounds (f >= 0); converts only what fits a long (out of range is undefined) */
		double r = f >= 0 && f <= 10000 ? (double)(long)(f + 0.5) : -1;

		if (!(f >= 0 && f <= 10000) || f - r > 1e-6 || r - f > 1e-6)
			return ward_msg_set(m, WARD_E_INVAL,
					    "max_failure: a percentage from 0 to 100 with at most two decimals");
		out->max_failure = (unsigned)r;
	}
	if (ra && !json_is_boolean(ra))
		return ward_msg_set(m, WARD_E_INVAL, "require_approval: true or false");
	out->require_approval = json_is_true(ra);
	if (rt && (!json_is_integer(rt) || json_integer_value(rt) < 0 ||
		   json_integer_value(rt) > (json_int_t)SRV_REPORT_TIMEOUT_MAX))
		return ward_msg_set(m, WARD_E_INVAL, "report_timeout: whole seconds from 0 (no limit) to %u",
				    SRV_REPORT_TIMEOUT_MAX);
	out->report_timeout = rt ? (unsigned)json_integer_value(rt) : 0;
	memcpy(out->image, json_string_value(image), json_string_length(image) + 1);
	memcpy(out->select, json_string_value(sel), json_string_length(sel) + 1);
	if (name) {
		memcpy(out->name, json_string_value(name), json_string_length(name) + 1);
	} else {
		/* the image's path, cut to the field at a UTF-8 character boundary when longer */
		size_t n = strlen(out->image);

		if (n >= sizeof(out->name))
			for (n = sizeof(out->name) - 1; n && ((unsigned char)out->image[n] & 0xc0) == 0x80; n--)
				;
		memcpy(out->name, out->image, n);
		out->name[n] = '\0';
	}
	return WARD_OK;
}

/* ---- stage reports ----------------------------------------------------- */

static const char *const stages[] = {
	"downloading", "installed", "awaiting-local-approval", "booted", "healthy", "rolled-back", "failed",
};

bool srv_stage_valid(const char *stage)
{
	for (size_t i = 0; stage && i < NPARAM(stages); i++)
		if (!strcmp(stage, stages[i]))
			return true;
	return false;
}

/* Copy a JSON string member into dst (size bytes, NUL included); "" when absent and optional. */
static ward_err str_field(const json_t *o, const char *key, bool required, char *dst, size_t size, size_t i,
			  struct ward_msg *m)
{
	const json_t *v = json_object_get(o, key);

	dst[0] = '\0';
	if (!v && !required)
		return WARD_OK;
	if (!json_is_string(v) || json_string_length(v) >= size)
		return ward_msg_set(m, WARD_E_INVAL, "report %zu: \"%s\" must be a string of at most %zu bytes", i + 1,
				    key, size - 1);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return ward_msg_set(m, WARD_E_INVAL, "report %zu: \"%s\" holds a NUL", i + 1, key);
	for (const char *c = json_string_value(v); *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return ward_msg_set(m, WARD_E_INVAL, "report %zu: \"%s\" holds a control character", i + 1,
					    key);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return WARD_OK;
}

ward_err srv_reports_parse(const json_t *body, struct srv_report *r, size_t *n, struct ward_msg *m)
{
	const json_t *arr = json_is_object(body) ? json_object_get(body, "reports") : NULL;
	const char *key;
	const json_t *v;

	*n = 0;
	if (!json_is_array(arr) || json_object_size(body) != 1)
		return ward_msg_set(m, WARD_E_INVAL, "a report request is {\"reports\": [...]}");
	if (json_array_size(arr) > SRV_REPORTS_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "at most %d reports per request", SRV_REPORTS_MAX);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i), *seq = json_object_get(o, "seq");
		const json_t *t = json_object_get(o, "time");
		ward_err e;

		if (!json_is_object(o))
			return ward_msg_set(m, WARD_E_INVAL, "report %zu is not an object", i + 1);
		json_object_foreach((json_t *)o, key, v) {
			if (strcmp(key, "seq") && strcmp(key, "stage") && strcmp(key, "target") && strcmp(key, "version") &&
			    strcmp(key, "reason") && strcmp(key, "time"))
				return ward_msg_set(m, WARD_E_INVAL, "report %zu: unknown field \"%.40s\"", i + 1, key);
		}
		memset(&r[i], 0, sizeof(r[i]));
		if (!json_is_integer(seq) || json_integer_value(seq) < 1)
			return ward_msg_set(m, WARD_E_INVAL, "report %zu: \"seq\" must be an integer from 1", i + 1);
		if (t && !json_is_integer(t))
			return ward_msg_set(m, WARD_E_INVAL, "report %zu: \"time\" must be an integer", i + 1);
		r[i].seq = (int64_t)json_integer_value(seq);
		if (i && r[i].seq <= r[i - 1].seq)
			return ward_msg_set(m, WARD_E_INVAL, "reports must come in increasing seq order");
		e = str_field(o, "stage", true, r[i].stage, sizeof(r[i].stage), i, m);
		if (!e && !srv_stage_valid(r[i].stage))
			e = ward_msg_set(m, WARD_E_INVAL, "report %zu: unknown stage \"%.40s\"", i + 1, r[i].stage);
		if (!e)
			e = str_field(o, "target", true, r[i].target, sizeof(r[i].target), i, m);
		if (!e && !r[i].target[0])
			e = ward_msg_set(m, WARD_E_INVAL, "report %zu: \"target\" is empty", i + 1);
		if (!e)
			e = str_field(o, "version", false, r[i].version, sizeof(r[i].version), i, m);
		if (!e)
			e = str_field(o, "reason", false, r[i].reason, sizeof(r[i].reason), i, m);
		if (e)
			return e;
		*n = i + 1;
	}
	return WARD_OK;
}

