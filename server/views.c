/*
 * server/views.c — the operator API's documents (server/views.h), shared by
 * ward-server and the `ward` commands that read a deployment directly.
 *
 * Risk: the registry is read once (at most SRV_VIEW_RISK_MAX devices, by
 * serial); the newest firmware per model is the newest valid version any
 * active device of that model reports; each device is scored by
 * srv_risk_score (server/risk.c) with its model's settings from risk.ini.
 *
 * risk.ini: edited as text, line by line, so comments and every key this
 * file does not set survive; the edited text must parse (srv_risk_models_parse)
 * before it replaces the file (ward_file_write_atomic), and the read-modify-
 * write holds an exclusive flock on DIR/risk.ini.lock, so concurrent writers
 * (the workers of one server) serialise. Servers on other hosts with their
 * own copy of DIR do not see the change: see docs/api.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "director.h"
#include "risk.h"
#include "store_ops.h"
#include "views.h"
#include "ward/buf.h"
#include "ward/tuf.h"

static const char *status_name(enum srv_device_status st)
{
	return st == SRV_DEVICE_ACTIVE ? "active" : st == SRV_DEVICE_REVOKED ? "revoked" : "decommissioned";
}

/* ---- risk ---------------------------------------------------------------------- */

struct scored {
	const struct srv_device *d; /* borrowed from the device array */
	struct srv_risk r;
};

/* One model and the newest firmware its active devices report. */
struct newest {
	const char *model;                  /* borrowed from the device array */
	char version[WARD_VERSION_MAX + 1]; /* "" when none */
};

static int by_risk(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;

	if (x->r.score != y->r.score)
		return x->r.score < y->r.score ? 1 : -1;
	if (x->r.raw != y->r.raw)
		return x->r.raw < y->r.raw ? 1 : -1;
	return strcmp(x->d->serial, y->d->serial);
}

/* nw[] for every model in devs (at most n distinct). Returns how many. */
static size_t fleet_newest(const struct srv_device *devs, size_t n, struct newest *nw)
{
	char v[WARD_VERSION_MAX + 1];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < k; j++)
			if (!strcmp(nw[j].model, devs[i].model))
				break;
		if (j == k) {
			nw[k].model = devs[i].model;
			nw[k].version[0] = '\0';
			k++;
		}
		if (devs[i].status == SRV_DEVICE_ACTIVE && srv_risk_firmware(&devs[i], v) &&
		    (!nw[j].version[0] || ward_version_cmp(v, nw[j].version) > 0))
			memcpy(nw[j].version, v, sizeof(v));
	}
	return k;
}

static json_t *risk_json(const struct scored *row)
{
	json_t *rs = json_array(), *o;

	if (!rs)
		return NULL;
	for (size_t j = 0; j < row->r.n; j++) {
		json_t *x = json_pack("{s:i,s:s}", "points", row->r.reasons[j].points, "text", row->r.reasons[j].text);

		if (!x || json_array_append_new(rs, x)) {
			json_decref(rs);
			return NULL;
		}
	}
	o = json_pack("{s:s,s:s,s:s,s:i,s:o}", "serial", row->d->serial, "model", row->d->model, "status",
		      status_name(row->d->status), "score", row->r.score, "reasons", rs);
	return o;
}

ward_err srv_view_risk(struct srv_store *s, const struct srv_conf *c, size_t max, time_t now, json_t **out,
		       bool *truncated, struct ward_msg *m)
{
	struct srv_risk_models *models = malloc(sizeof(*models));
	struct srv_device *devs = NULL;
	struct newest *nw = NULL;
	struct scored *rows = NULL;
	char ini[SRV_PATH_MAX + 16];
	json_t *arr = NULL;
	size_t n = 0, k;
	ward_err e = WARD_E_NOMEM;

	if (!models) {
		ward_msg_set(m, e, "out of memory");
		goto out;
	}
	if (max < 1 || max > SRV_VIEW_RISK_MAX) {
		e = ward_msg_set(m, WARD_E_INVAL, "the risk view reads 1 to %d devices", SRV_VIEW_RISK_MAX);
		goto out;
	}
	if ((e = ward_snprintf(ini, sizeof(ini), "%s/risk.ini", c->dir)) != WARD_OK) {
		ward_msg_set(m, e, "deployment path too long");
		goto out;
	}
	/* one more than max tells whether the registry holds more */
	if ((e = srv_risk_models_load(ini, models, m)) != WARD_OK ||
	    (e = srv_model_harm_apply(s, models, m)) != WARD_OK ||
	    (e = srv_devices(s, &devs, &n, max + 1, m)) != WARD_OK)
		goto out;
	*truncated = n > max;
	if (n > max)
		n = max;
	if (n && (!(nw = calloc(n, sizeof(*nw))) || !(rows = calloc(n, sizeof(*rows))))) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory for %zu devices", n);
		goto out;
	}
	k = fleet_newest(devs, n, nw);
	for (size_t i = 0; i < n; i++) {
		struct srv_risk_fleet f = {NULL, c->checkin_interval, c->renew_before};

		for (size_t j = 0; j < k; j++)
			if (!strcmp(nw[j].model, devs[i].model))
				f.newest = nw[j].version;
		rows[i].d = &devs[i];
		if ((e = srv_risk_score(&devs[i], srv_risk_model_for(models, devs[i].model), &f, now, &rows[i].r))) {
			ward_msg_set(m, e, "cannot score device %s", devs[i].serial);
			goto out;
		}
	}
	if (n)
		qsort(rows, n, sizeof(*rows), by_risk);
	if (!(arr = json_array())) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = risk_json(&rows[i]);

		if (!o || json_array_append_new(arr, o)) {
			e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*out = arr;
	arr = NULL;
	e = WARD_OK;
out:
	json_decref(arr);
	free(rows);
	free(nw);
	free(devs);
	free(models);
	return e;
}

/* ---- operators ----------------------------------------------------------------- */

ward_err srv_view_operators(struct srv_store *s, json_t **out, struct ward_msg *m)
{
	struct srv_operator *ops = NULL;
	json_t *arr;
	size_t n = 0;
	ward_err e = srv_operators(s, &ops, &n, m);

	if (e)
		return e;
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		json_t *o = json_pack("{s:s,s:s,s:I}", "name", ops[i].name, "role", srv_op_role_name(ops[i].role),
				      "created", (json_int_t)ops[i].created);

		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(ops);
	*out = arr ? json_pack("{s:o}", "operators", arr) : NULL;
	return *out ? WARD_OK : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
}

/* ---- models -------------------------------------------------------------------- */

static json_t *model_json(const struct srv_risk_model *md, bool configured)
{
	json_t *ports = json_null();

	if (md->ports_judged) {
		ports = json_array();
		for (size_t i = 0; ports && i < md->n_ports; i++)
			if (json_array_append_new(ports, json_integer(md->allowed_ports[i]))) {
				json_decref(ports);
				ports = NULL;
			}
	}
	if (!ports)
		return NULL;
	return json_pack("{s:i,s:i,s:i,s:i,s:o,s:o,s:b}", "safety", (int)md->safety, "revenue", (int)md->revenue,
			 "brand", (int)md->brand, "harm",
			 (int)(md->safety * SRV_RISK_W_SAFETY + md->revenue * SRV_RISK_W_REVENUE +
			       md->brand * SRV_RISK_W_BRAND),
			 "allowed_ports", ports, "checkin_interval",
			 md->checkin_interval ? json_integer(md->checkin_interval) : json_null(), "configured",
			 configured);
}

static ward_err ini_path(const struct srv_conf *c, const char *name, char *out, size_t n, struct ward_msg *m)
{
	if (ward_snprintf(out, n, "%s/%s", c->dir, name) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "deployment path too long");
	return WARD_OK;
}

/* The models document from parsed settings and the enrolled model names (borrowed). */
static json_t *models_doc(const struct srv_risk_models *rm, const json_t *enrolled)
{
	json_t *o = json_object(), *x;
	size_t i;

	if (!o || !(x = model_json(&rm->deflt, true)) || json_object_set_new(o, "*", x))
		goto fail;
	for (i = 0; i < rm->n; i++)
		if (!(x = model_json(&rm->model[i], true)) || json_object_set_new(o, rm->model[i].model, x))
			goto fail;
	json_array_foreach(enrolled, i, x) {
		const char *name = json_string_value(x);
		json_t *y;

		if (!name || json_object_get(o, name))
			continue;
		if (!(y = model_json(&rm->deflt, false)) || json_object_set_new(o, name, y))
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

ward_err srv_view_models(struct srv_store *s, const struct srv_conf *c, json_t **out, struct ward_msg *m)
{
	struct srv_risk_models *rm = malloc(sizeof(*rm));
	char ini[SRV_PATH_MAX + 16];
	json_t *enrolled = NULL, *doc;
	bool more = false;
	ward_err e = WARD_E_NOMEM;

	if (!rm)
		return ward_msg_set(m, e, "out of memory");
	if ((e = ini_path(c, "risk.ini", ini, sizeof(ini), m)) || (e = srv_risk_models_load(ini, rm, m)) ||
	    (e = srv_model_harm_apply(s, rm, m)) ||
	    (e = srv_models_enrolled(s, SRV_MODELS_MAX, &enrolled, &more, m)))
		goto out;
	doc = models_doc(rm, enrolled);
	*out = doc ? json_pack("{s:o,s:b}", "models", doc, "truncated", more) : NULL;
	e = *out ? WARD_OK : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
out:
	json_decref(enrolled);
	free(rm);
	return e;
}

ward_err srv_view_model_harm_set(struct srv_store *s, const struct srv_conf *c, const char *model,
				 const struct srv_harm *h, const char *actor, json_t **entry, struct ward_msg *m)
{
	struct srv_risk_models *rm = malloc(sizeof(*rm));
	char ini[SRV_PATH_MAX + 16];
	const struct srv_risk_model *md;
	unsigned lv[3];
	ward_err e = WARD_E_NOMEM;

	if (!rm)
		return ward_msg_set(m, e, "out of memory");
	/* the levels in force now (risk.ini, then the database), for those the request keeps */
	if ((e = ini_path(c, "risk.ini", ini, sizeof(ini), m)) || (e = srv_risk_models_load(ini, rm, m)) ||
	    (e = srv_model_harm_apply(s, rm, m)))
		goto out;
	md = strcmp(model, "*") ? srv_risk_model_for(rm, model) : &rm->deflt;
	lv[0] = h->safety >= 0 ? (unsigned)h->safety : md->safety;
	lv[1] = h->revenue >= 0 ? (unsigned)h->revenue : md->revenue;
	lv[2] = h->brand >= 0 ? (unsigned)h->brand : md->brand;
	if ((e = srv_model_harm_set(s, model, lv[0], lv[1], lv[2], actor, time(NULL), m)) ||
	    (e = srv_risk_models_load(ini, rm, m)) || (e = srv_model_harm_apply(s, rm, m)))
		goto out;
	md = strcmp(model, "*") ? srv_risk_model_for(rm, model) : &rm->deflt;
	*entry = model_json(md, true);
	e = *entry ? WARD_OK : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
out:
	free(rm);
	return e;
}

/* ---- images -------------------------------------------------------------------- */

static ward_err list_images(void *arg, struct ward_tuf_client *cl, struct ward_msg *m)
{
	const struct ward_tuf_meta *t = ward_tuf_trusted(cl, WARD_TUF_TARGETS);
	json_t *arr = arg;

	if (!t)
		return ward_msg_set(m, WARD_E_VERIFY, "the image repository has no trusted targets");
	for (size_t i = 0; i < t->ntargets; i++) {
		const struct ward_tuf_target *x = &t->targets[i];
		json_t *v = x->custom ? json_object_get(x->custom, "version") : NULL;
		json_t *hw = x->custom ? json_object_get(x->custom, "hardware_id") : NULL;
		json_t *o = json_pack("{s:s,s:I,s:O,s:O}", "name", x->path, "length", (json_int_t)x->info.length,
				      "version", json_is_string(v) ? v : json_null(), "hardware_id",
				      json_is_string(hw) ? hw : json_null());

		if (!o || json_array_append_new(arr, o))
			return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	return WARD_OK;
}

static int by_name(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;

	return strcmp(json_string_value(json_object_get(x, "name")), json_string_value(json_object_get(y, "name")));
}

ward_err srv_view_images(const struct srv_conf *c, json_t **out, struct ward_msg *m)
{
	json_t *arr = json_array(), *sorted = NULL, **v = NULL;
	size_t n, i;
	ward_err e;

	if (!arr)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	e = srv_director_image_with(c, list_images, arr, m);
	n = json_array_size(arr);
	if (!e && (!(sorted = json_array()) || (n && !(v = calloc(n, sizeof(*v))))))
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if (!e) {
		for (i = 0; i < n; i++)
			v[i] = json_array_get(arr, i);
		if (n)
			qsort(v, n, sizeof(*v), by_name);
		for (i = 0; i < n && !e; i++)
			if (json_array_append(sorted, v[i]))
				e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	if (!e) {
		*out = json_pack("{s:O}", "images", sorted);
		if (!*out)
			e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	free(v);
	json_decref(sorted);
	json_decref(arr);
	return e;
}
