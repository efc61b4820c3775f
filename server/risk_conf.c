/*
 * server/risk_conf.c — a deployment's DIR/risk.ini: per model, the harm if a
 * device is compromised, its expected listening ports and its check-in
 * interval (format in server/risk.h). Parsed with libinih from a bounded
 * buffer; unknown keys, repeated keys and out-of-range values are errors
 * naming the line. A missing file means the built-in defaults. Kept apart
 * from server/risk.c so that the score itself stays pure (and fuzzable
 * without libinih).
 */
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk.h"
#include "ward/buf.h"

/* Bits of the keys already set in the current section (a key twice is an error). */
enum { K_SAFETY = 1, K_REVENUE = 2, K_BRAND = 4, K_PORTS = 8, K_INTERVAL = 16 };

struct ctx {
	struct srv_risk_models *out;  /* being filled (heap, caller's) */
	struct srv_risk_model *cur;   /* the section's settings */
	unsigned set;                 /* K_* seen in cur */
	char section[64];             /* the current section's name */
	int line;                     /* ini line of the failure */
	struct ward_msg *m;
	ward_err e;
};

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!strcmp(s, "*"))
		return true;
	if (n == 0 || n >= sizeof(((struct srv_risk_model *)0)->model))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool small_u(const char *v, uint64_t lo, uint64_t hi, unsigned *dst)
{
	uint64_t n;

	if (ward_parse_u64(v, &n) != WARD_OK || n < lo || n > hi)
		return false;
	*dst = (unsigned)n;
	return true;
}

/* "22, 443,8080" (or empty) into model->allowed_ports. */
static bool parse_ports(const char *v, struct srv_risk_model *model)
{
	size_t n = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	while (*v) {
		char num[8];
		size_t l = 0;
		uint64_t p;

		while (*v == ' ' || *v == '\t')
			v++;
		while (v[l] >= '0' && v[l] <= '9')
			l++;
		if (l == 0 || l >= sizeof(num) || n >= SRV_RISK_ALLOWED_PORTS_MAX)
			return false;
		memcpy(num, v, l);
		num[l] = '\0';
		if (ward_parse_u64(num, &p) != WARD_OK || p > 65535)
			return false;
		model->allowed_ports[n++] = (uint16_t)p;
		v += l;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == ',') {
			v++;
			if (!*v)
				return false; /* "22," */
		} else if (*v) {
			return false;
		}
	}
	model->n_ports = n;
	model->ports_judged = true;
	return true;
}

/* Start (or return to) section `name`. */
static bool enter(struct ctx *x, const char *name)
{
	struct srv_risk_models *o = x->out;

	if (!strcmp(x->section, name) && x->cur)
		return true;
	if (!name_ok(name)) {
		x->e = ward_msg_set(x->m, WARD_E_PARSE, "risk.ini: [%.80s] is not a model name (1-63 of "
				    "A-Z a-z 0-9 . _ -) or *", name);
		return false;
	}
	snprintf(x->section, sizeof(x->section), "%s", name); /* fits: checked by name_ok */
	x->set = 0;
	if (!strcmp(name, "*")) {
		x->cur = &o->deflt;
		return true;
	}
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->model[i].model, name)) {
			x->e = ward_msg_set(x->m, WARD_E_PARSE, "risk.ini: section [%s] appears twice", name);
			return false;
		}
	if (o->n >= SRV_RISK_MODELS_MAX) {
		x->e = ward_msg_set(x->m, WARD_E_TOOBIG, "risk.ini: more than %d model sections",
				    SRV_RISK_MODELS_MAX);
		return false;
	}
	x->cur = &o->model[o->n++];
	*x->cur = o->deflt;
	snprintf(x->cur->model, sizeof(x->cur->model), "%s", name);
	return true;
}

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
	struct ctx *x = user;
	unsigned bit;
	bool ok;

	if (x->e)
		return 0;
	if (!section[0]) {
		x->e = ward_msg_set(x->m, WARD_E_PARSE, "risk.ini: key %.80s outside a [model] section", name);
		return 0;
	}
	if (!enter(x, section))
		return 0;
	if (!strcmp(name, "safety")) {
		bit = K_SAFETY;
		ok = small_u(value, 0, SRV_RISK_HARM_MAX, &x->cur->safety);
	} else if (!strcmp(name, "revenue")) {
		bit = K_REVENUE;
		ok = small_u(value, 0, SRV_RISK_HARM_MAX, &x->cur->revenue);
	} else if (!strcmp(name, "brand")) {
		bit = K_BRAND;
		ok = small_u(value, 0, SRV_RISK_HARM_MAX, &x->cur->brand);
	} else if (!strcmp(name, "allowed_ports")) {
		bit = K_PORTS;
		ok = parse_ports(value, x->cur);
	} else if (!strcmp(name, "checkin_interval")) {
		bit = K_INTERVAL;
		ok = small_u(value, 5, 86400, &x->cur->checkin_interval);
	} else {
		x->e = ward_msg_set(x->m, WARD_E_PARSE, "risk.ini: unknown key [%s] %.80s", section, name);
		return 0;
	}
	if (x->set & bit) {
		x->e = ward_msg_set(x->m, WARD_E_PARSE, "risk.ini: [%s] %s is given twice", section, name);
		return 0;
	}
	x->set |= bit;
	if (!ok) {
		x->e = ward_msg_set(x->m, WARD_E_PARSE, "risk.ini: invalid value for [%s] %s: \"%.100s\"%s",
				    section, name, value,
				    !strcmp(name, "allowed_ports") ? " (up to 32 ports 0-65535, comma-separated)"
				    : !strcmp(name, "checkin_interval") ? " (seconds, 5-86400)"
									: " (0-3)");
		return 0;
	}
	return 1;
}

ward_err srv_risk_models_parse(const char *text, struct srv_risk_models *out, struct ward_msg *m)
{
	struct srv_risk_models *tmp;
	struct ctx x = {0};
	int rc;

	if (!text || !out)
		return ward_msg_set(m, WARD_E_INVAL, "risk.ini: no input");
	if (strlen(text) > SRV_RISK_INI_MAX)
		return ward_msg_set(m, WARD_E_TOOBIG, "risk.ini: more than %d bytes", SRV_RISK_INI_MAX);
	if (!(tmp = calloc(1, sizeof(*tmp))))
		return ward_msg_set(m, WARD_E_NOMEM, "risk.ini: out of memory");
	srv_risk_model_default(&tmp->deflt, "*");
	x.out = tmp;
	x.m = m;
	rc = ini_parse_string(text, on_kv, &x);
	if (!x.e && rc < 0)
		x.e = ward_msg_set(m, WARD_E_NOMEM, "risk.ini: out of memory");
	else if (!x.e && rc != 0)
		x.e = ward_msg_set(m, WARD_E_PARSE, "risk.ini: line %d is not \"key = value\" or [section] "
				   "(lines are at most 200 bytes)", rc);
	else if (x.e && rc > 0)
		ward_msg_prefix(m, x.e, "line %d: ", rc);
	if (x.e == WARD_OK)
		*out = *tmp;
	free(tmp);
	return x.e;
}

ward_err srv_risk_models_load(const char *path, struct srv_risk_models *out, struct ward_msg *m)
{
	struct ward_buf b;
	ward_err e;

	if (!out)
		return ward_msg_set(m, WARD_E_INVAL, "risk.ini: no output");
	e = ward_file_read(path, SRV_RISK_INI_MAX, &b, m);
	if (e == WARD_E_NOTFOUND) {
		memset(out, 0, sizeof(*out));
		srv_risk_model_default(&out->deflt, "*");
		if (m)
			m->text[0] = '\0';
		return WARD_OK;
	}
	if (e != WARD_OK)
		return e;
	if (memchr(b.p ? (const void *)b.p : "", '\0', b.len)) {
		ward_buf_free(&b);
		return ward_msg_set(m, WARD_E_PARSE, "%s: holds a NUL byte", path);
	}
	e = srv_risk_models_parse(b.p ? (const char *)b.p : "", out, m);
	if (e != WARD_OK)
		ward_msg_prefix(m, e, "%s: ", path);
	ward_buf_free(&b);
	return e;
}

const struct srv_risk_model *srv_risk_model_for(const struct srv_risk_models *models, const char *name)
{
	for (size_t i = 0; i < models->n; i++)
		if (!strcmp(models->model[i].model, name))
			return &models->model[i];
	return &models->deflt;
}
