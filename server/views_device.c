/*
 * server/views_device.c — the device documents of the operator API
 * (docs/api.md, "Devices"), shared by ward-server and `ward device list|show`
 * on a deployment directory: the listing's row, a page of the listing, and
 * one device in detail (record, labels, last check-in facts, director
 * assignment, campaigns, stage-report history, audit records).
 *
 * Facts are untrusted device input: they are shown as the stored object
 * (normalised by the check-in), or null when they do not parse; the firmware
 * version is the one srv_risk_firmware accepts, else null.
 */
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "director.h"
#include "risk.h"
#include "store_ops.h"
#include "views.h"
#include "ward/json.h"

#define HISTORY_MAX 50 /* stage reports and audit records in a device's detail */

static const char *status_name(enum srv_device_status st)
{
	return st == SRV_DEVICE_ACTIVE ? "active" : st == SRV_DEVICE_REVOKED ? "revoked" : "decommissioned";
}

static json_t *opt_time(time_t t)
{
	return t ? json_integer((json_int_t)t) : json_null();
}

static json_t *report_json(const struct srv_report *r)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s}", "time", (json_int_t)r->time, "stage", r->stage, "target",
			 r->target, "version", r->version, "reason", r->reason);
}

json_t *srv_view_device_row(const struct srv_fleet_row *r)
{
	char fw[WARD_VERSION_MAX + 1];
	json_t *tags = json_array(), *o;

	for (size_t i = 0; tags && i < r->labels.ntags; i++)
		if (json_array_append_new(tags, json_string(r->labels.tags[i]))) {
			json_decref(tags);
			tags = NULL;
		}
	if (!tags)
		return NULL;
	o = json_pack("{s:s,s:s,s:s,s:o,s:b,s:o,s:o,s:o,s:s,s:s,s:o,s:o}", "serial", r->d.serial, "model",
		      r->d.model, "status", status_name(r->d.status), "tags", tags, "critical", r->labels.critical,
		      "firmware_version", srv_risk_firmware(&r->d, fw) ? json_string(fw) : json_null(), "last_seen",
		      opt_time(r->d.last_seen), "cert_not_after", opt_time(r->d.cert_not_after), "batch",
		      r->d.batch_id, "cert_serial", r->d.cert_serial, "enrolled", opt_time(r->d.enrolled),
		      "update", r->has_report ? report_json(&r->last) : json_null());
	return o;
}

ward_err srv_view_devices(struct srv_store *s, const struct srv_fleet_filter *f, json_t **out,
			  struct ward_msg *m)
{
	struct srv_fleet_filter g = *f;
	struct srv_fleet_row *rows = NULL;
	json_t *arr;
	size_t n = 0, show;
	ward_err e;

	if (f->limit < 1 || f->limit > SRV_VIEW_DEVICES_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "a page holds 1 to %d devices", SRV_VIEW_DEVICES_MAX);
	g.limit = f->limit + 1; /* one more says whether another page follows */
	if ((e = srv_fleet_list(s, &g, &rows, &n, m)) != WARD_OK)
		return e;
	show = n > f->limit ? f->limit : n;
	arr = json_array();
	for (size_t i = 0; arr && i < show; i++) {
		json_t *o = srv_view_device_row(&rows[i]);

		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	*out = arr ? json_pack("{s:o,s:o}", "devices", arr, "next",
			       n > f->limit ? json_string(rows[show - 1].d.serial) : json_null())
		   : NULL;
	free(rows);
	return *out ? WARD_OK : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
}

ward_err srv_view_device(struct srv_store *s, const char *serial, json_t **out, struct ward_msg *m)
{
	struct srv_fleet_row *row = malloc(sizeof(*row));
	struct srv_assignment *a = malloc(sizeof(*a));
	struct srv_report *hist = NULL;
	struct srv_audit_query q = {0, serial, HISTORY_MAX, true};
	json_t *o = NULL, *x = NULL;
	int64_t next = 0;
	size_t nh = 0;
	ward_err e = WARD_E_NOMEM;

	/* every part goes into o as soon as it exists (json_object_set_new consumes it, even on
	 * failure), so o is the only thing to release */
	if (!row || !a)
		goto nomem;
	if ((e = srv_fleet_get(s, serial, row, m)) != WARD_OK)
		goto out;
	if (!(o = srv_view_device_row(row)))
		goto nomem;
	if (!row->d.facts[0] || ward_json_parse(row->d.facts, strlen(row->d.facts), sizeof(row->d.facts), &x, NULL))
		x = json_null();
	if (json_object_set_new(o, "facts", x))
		goto nomem;
	e = srv_assignment_get(s, serial, a, m);
	if (e == WARD_E_NOTFOUND) {
		x = json_null();
	} else if (e) {
		goto out;
	} else {
		/* the version the image repository signed for the target, from the copied entry */
		json_t *fi = NULL, *v = NULL;

		if (!ward_json_parse(a->fileinfo, strlen(a->fileinfo), sizeof(a->fileinfo), &fi, NULL))
			v = json_object_get(json_object_get(fi, "custom"), "version");
		x = json_pack("{s:s,s:O,s:I}", "target", a->target, "version", json_is_string(v) ? v : json_null(),
			      "assigned", (json_int_t)a->assigned);
		json_decref(fi);
	}
	if (json_object_set_new(o, "assignment", x))
		goto nomem;
	if ((e = srv_campaign_device_json(s, serial, &x, m)) != WARD_OK)
		goto out;
	if (json_object_set_new(o, "campaigns", x))
		goto nomem;
	if ((e = srv_reports_history(s, serial, HISTORY_MAX, &hist, &nh, m)) != WARD_OK)
		goto out;
	x = json_array();
	for (size_t i = 0; x && i < nh; i++)
		if (json_array_append_new(x, report_json(&hist[i]))) {
			json_decref(x);
			x = NULL;
		}
	if (json_object_set_new(o, "history", x))
		goto nomem;
	if ((e = srv_audit_page(s, &q, &x, &next, m)) != WARD_OK)
		goto out;
	if (json_object_set_new(o, "audit", x))
		goto nomem;
	*out = o;
	o = NULL;
	e = WARD_OK;
	goto out;
nomem:
	e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
out:
	json_decref(o);
	free(hist);
	free(a);
	free(row);
	return e;
}
