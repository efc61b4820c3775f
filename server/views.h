/*
 * server/views.h — what the operator API shows, built once for ward-server
 * (server/ops_api.c) and for the `ward` commands that read a deployment
 * directly (cli/risk.c, cli/operator.c, cli/device.c, cli/audit.c): the JSON
 * documents of docs/api.md. The CLI prints the same document whether it came
 * from here or over the API (`ward --server`), so the local and the remote
 * forms of a command cannot drift apart.
 *
 * Everything returns a new JSON value the caller decrefs; nothing here keeps
 * state between calls. The model settings live in DIR/risk.ini
 * (server/risk.h); srv_view_model_harm_set rewrites it atomically under an
 * advisory lock (DIR/risk.ini.lock) so that two workers never lose each
 * other's change.
 */
#ifndef WARD_SRV_VIEWS_H
#define WARD_SRV_VIEWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "store.h"
#include "ward/err.h"

#define SRV_VIEW_RISK_MAX 50000 /* devices `ward fleet risk` reads (~8.5 KB each while scoring) */

/*
 * The fleet's risk (`ward fleet risk --json`, GET /api/v1/fleet/risk): every
 * device of the registry, at most max (1..SRV_VIEW_RISK_MAX, by serial),
 * scored with DIR/risk.ini, riskiest first (score, raw score, descending;
 * then serial), as an array of {"serial", "model", "status", "score",
 * "reasons": [{"points", "text"}]}; *truncated when the registry holds more
 * than max.
 */
ward_err srv_view_risk(struct srv_store *s, const struct srv_conf *c, size_t max, time_t now, json_t **out,
		       bool *truncated, struct ward_msg *m) WARD_MUST_USE;

/* {"operators": [{"name", "role", "created"}]}, by name. */
ward_err srv_view_operators(struct srv_store *s, json_t **out, struct ward_msg *m) WARD_MUST_USE;

/*
 * {"models": {NAME: {"safety", "revenue", "brand", "harm", "allowed_ports",
 * "checkin_interval", "configured"}}}: "*" (the defaults), every section of
 * DIR/risk.ini and every model enrolled (at most SRV_MODELS_MAX). harm is the
 * points the model's harm adds to a score; allowed_ports null when ports are
 * not judged; checkin_interval null for ward.conf's; configured: risk.ini
 * has a section for it.
 */
ward_err srv_view_models(struct srv_store *s, const struct srv_conf *c, json_t **out,
			 struct ward_msg *m) WARD_MUST_USE;

/* Harm levels to set (each 0..SRV_RISK_HARM_MAX, or -1 to leave alone). */
struct srv_harm {
	int safety, revenue, brand;
};
/*
 * Set model's harm levels (-1 keeps a level) in the database (table
 * model_harm, server/store_models.c), over DIR/risk.ini's settings, which
 * stay as they are; "*" names the defaults. *entry gets the model's settings
 * as GET /api/v1/models shows them. The caller audits the change.
 */
ward_err srv_view_model_harm_set(struct srv_store *s, const struct srv_conf *c, const char *model,
				 const struct srv_harm *h, const char *actor, json_t **entry,
				 struct ward_msg *m) WARD_MUST_USE;

/* ---- server/store_models.c: harm per model in the database ---- */
struct srv_risk_models;
/* Read the model_harm rows over rm (loaded from risk.ini): "*" sets the defaults; a model
 * without a section gets one (the defaults with its harm). WARD_E_TOOBIG past
 * SRV_RISK_MODELS_MAX models. */
ward_err srv_model_harm_apply(struct srv_store *s, struct srv_risk_models *rm, struct ward_msg *m) WARD_MUST_USE;
/* Store model's harm levels (each 0..3), set by actor (an operator's name) at now. */
ward_err srv_model_harm_set(struct srv_store *s, const char *model, unsigned safety, unsigned revenue,
			    unsigned brand, const char *actor, time_t now, struct ward_msg *m) WARD_MUST_USE;

/* {"images": [{"name", "length", "version", "hardware_id"}]}: the top-level targets of the verified
 * image repository (DIR/repo/), by name; version and hardware_id null when the entry lacks them. */
ward_err srv_view_images(const struct srv_conf *c, json_t **out, struct ward_msg *m) WARD_MUST_USE;

/* ---- devices (server/views_device.c) ---- */
#define SRV_VIEW_DEVICES_MAX 1000 /* devices in one page of the listing */
struct srv_fleet_row;
struct srv_fleet_filter;
/* A device as the listing shows it: {"serial", "model", "status", "tags", "critical",
 * "firmware_version", "last_seen", "cert_not_after", "batch", "cert_serial", "enrolled", "update"}
 * (times: integers, or null when never). NULL when out of memory. */
json_t *srv_view_device_row(const struct srv_fleet_row *r);
/* {"devices": [row...], "next": SERIAL or null}: f->limit (1..SRV_VIEW_DEVICES_MAX) devices matching f,
 * by serial; next is the serial to pass as f->after for the next page. */
ward_err srv_view_devices(struct srv_store *s, const struct srv_fleet_filter *f, json_t **out,
			  struct ward_msg *m) WARD_MUST_USE;
/* One device in detail: the row plus "facts", "assignment", "campaigns", "history" (the last 50 stage
 * reports, newest first) and "audit" (the last 50 audit records whose subject is the serial, newest
 * first). WARD_E_NOTFOUND. */
ward_err srv_view_device(struct srv_store *s, const char *serial, json_t **out, struct ward_msg *m) WARD_MUST_USE;

#endif
