/*
 * server/store_models.c — the harm per model that operators set through the
 * API (table model_harm, migration 4; server/risk.h): read over the settings
 * of DIR/risk.ini, so that every server sharing the database scores a model
 * alike, whatever copy of the deployment directory it has.
 *
 * Invariants: levels are 0..3 (the table's CHECK and the callers' checks);
 * a row for "*" sets the defaults' harm (models without a risk.ini section
 * and without a row of their own); a row for a model without a risk.ini
 * section becomes a section: the defaults with that row's harm.
 */
#include <stdlib.h>
#include <string.h>

#include "risk.h"
#include "store_internal.h"
#include "views.h"

#define NPARAM(a) (sizeof(a) / sizeof((a)[0]))

struct apply_ctx {
	struct srv_risk_models *rm;
	bool full;      /* a model could not get a section of its own */
	char skipped[64];
};

static ward_err apply_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct apply_ctx *c = arg;
	struct srv_risk_model *md = NULL;
	int64_t lv[3];
	char name[sizeof(c->rm->deflt.model)];
	ward_err e = srv_store_col_text(r, 0, name, sizeof(name), "model name", m);

	for (size_t i = 0; !e && i < 3; i++) {
		e = srv_store_col_i64(r, 1 + i, &lv[i], "harm level", m);
		if (!e && (lv[i] < 0 || lv[i] > 3))
			e = ward_msg_set(m, WARD_E_PARSE, "stored harm of %s is out of range", name);
	}
	if (e)
		return e;
	if (!strcmp(name, "*")) {
		md = &c->rm->deflt;
	} else {
		for (size_t i = 0; !md && i < c->rm->n; i++)
			if (!strcmp(c->rm->model[i].model, name))
				md = &c->rm->model[i];
		if (!md && c->rm->n < SRV_RISK_MODELS_MAX) {
			md = &c->rm->model[c->rm->n++];
			*md = c->rm->deflt;
			memcpy(md->model, name, strlen(name) + 1);
		}
	}
	if (!md) {
		c->full = true;
		memcpy(c->skipped, name, strnlen(name, sizeof(c->skipped) - 1));
		return WARD_OK;
	}
	md->safety = (unsigned)lv[0];
	md->revenue = (unsigned)lv[1];
	md->brand = (unsigned)lv[2];
	return WARD_OK;
}

ward_err srv_model_harm_apply(struct srv_store *s, struct srv_risk_models *rm, struct ward_msg *m)
{
	struct apply_ctx c = {rm, false, ""};
	ward_err e;

	/* "*" first: the defaults, then models that take a section from them */
	e = srv_store_exec(s,
			   "SELECT model, safety, revenue, brand FROM model_harm ORDER BY model <> '*', model",
			   NULL, 0, apply_row, &c, NULL, m);
	if (!e && c.full)
		e = ward_msg_set(m, WARD_E_TOOBIG, "more than %d models have settings; %s is left out",
				 SRV_RISK_MODELS_MAX, c.skipped);
	return e;
}

ward_err srv_model_harm_set(struct srv_store *s, const char *model, unsigned safety, unsigned revenue,
			    unsigned brand, const char *actor, time_t now, struct ward_msg *m)
{
	const struct srv_param p[] = {SRV_TEXT(model),  SRV_I64(safety),   SRV_I64(revenue),
				      SRV_I64(brand),   SRV_I64(now),      SRV_TEXT(actor)};
	ward_err e;

	if (safety > 3 || revenue > 3 || brand > 3)
		return ward_msg_set(m, WARD_E_INVAL, "harm levels are 0 to 3");
	e = srv_store_check_str("model", model, sizeof(((struct srv_risk_model *)0)->model), false, m);
	if (!e)
		e = srv_store_check_str("actor", actor, SRV_AUDIT_SUBJECT_MAX + 1, false, m);
	if (!e)
		e = srv_store_exec(s,
				   "INSERT INTO model_harm (model, safety, revenue, brand, updated, updated_by) "
				   "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (model) DO UPDATE SET "
				   "safety = excluded.safety, revenue = excluded.revenue, brand = excluded.brand, "
				   "updated = excluded.updated, updated_by = excluded.updated_by",
				   p, NPARAM(p), NULL, NULL, NULL, m);
	return e;
}
