/*
 * server/store_campaign.c — device labels, stage reports and the fleet
 * listing (migration 4; declared in server/campaign.h).
 *
 * Invariants: devices.tags is always " " or " t1 t2 ... " with tags sorted,
 * unique and valid (srv_tag_check), so a tag filter is one LIKE; a device's
 * report_seq only grows, and a report is stored only with a seq above it, in
 * the same transaction that raises it, so a replayed report never counts
 * twice. A report moves the device's state only in campaigns that are
 * running or paused and whose image is the report's target; "failed" and
 * "rolled-back" also withdraw the device's director assignment of that
 * target (the director then names nothing), so the device does not try the
 * same image again while the campaign is looked at.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "store_internal.h"
#include "ward/buf.h"
#include "ward/json.h"

#define NPARAM(a) (sizeof(a) / sizeof((a)[0]))
#define TAGS_TEXT_MAX (SRV_TAGS_MAX * (SRV_TAG_MAX + 1) + 2) /* " t1 t2 " */

/* ---- labels ------------------------------------------------------------ */

ward_err srv_tag_check(const char *tag, struct ward_msg *m)
{
	size_t n = tag ? strlen(tag) : 0;

	if (n == 0 || n > SRV_TAG_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "a tag has 1 to %d characters", SRV_TAG_MAX);
	for (size_t i = 0; i < n; i++)
		if (!((tag[i] >= 'a' && tag[i] <= 'z') || (tag[i] >= '0' && tag[i] <= '9') || tag[i] == '.' ||
		      tag[i] == '_' || tag[i] == '-'))
			return ward_msg_set(m, WARD_E_INVAL, "tag \"%.40s\": only a-z, 0-9, '.', '_' and '-'", tag);
	return WARD_OK;
}

static int tag_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* " t1 t2 " from l's tags (checked, sorted, deduplicated into *l). */
static ward_err tags_text(struct srv_labels *l, char *out, size_t n, struct ward_msg *m)
{
	size_t k = 0, len = 1;

	if (l->ntags > SRV_TAGS_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "at most %d tags per device", SRV_TAGS_MAX);
	for (size_t i = 0; i < l->ntags; i++) {
		ward_err e = srv_tag_check(l->tags[i], m);

		if (e)
			return e;
	}
	qsort(l->tags, l->ntags, sizeof(l->tags[0]), tag_cmp);
	for (size_t i = 0; i < l->ntags; i++)
		if (k == 0 || strcmp(l->tags[k - 1], l->tags[i]))
			memmove(l->tags[k++], l->tags[i], sizeof(l->tags[0]));
	l->ntags = k;
	out[0] = ' ';
	out[1] = '\0';
	for (size_t i = 0; i < k; i++) {
		size_t t = strlen(l->tags[i]);

		if (len + t + 2 > n)
			return ward_msg_set(m, WARD_E_TOOBIG, "tags too long");
		memcpy(out + len, l->tags[i], t);
		len += t;
		out[len++] = ' ';
		out[len] = '\0';
	}
	return WARD_OK;
}

/* " t1 t2 " back into l. */
static ward_err tags_parse(const char *text, struct srv_labels *l, struct ward_msg *m)
{
	const char *p = text;

	l->ntags = 0;
	while (*p) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (!n)
			break;
		if (n > SRV_TAG_MAX || l->ntags == SRV_TAGS_MAX)
			return ward_msg_set(m, WARD_E_PARSE, "stored tags are unreadable");
		memcpy(l->tags[l->ntags], p, n);
		l->tags[l->ntags++][n] = '\0';
		p += n;
	}
	return WARD_OK;
}

struct labels_ctx {
	const char *serial, *actor;     /* checked */
	char tags[TAGS_TEXT_MAX];       /* new tags text, when set_tags */
	bool set_tags, set_critical;    /* what changes */
	bool critical;                  /* the new flag */
	int64_t now;
	json_t *detail;                 /* audit detail (borrowed) */
	uint64_t changed;               /* rows updated */
};

static ward_err labels_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct labels_ctx *c = arg;
	ward_err e = WARD_OK;

	c->changed = 0;
	if (c->set_tags) {
		const struct srv_param p[] = {SRV_TEXT(c->tags), SRV_TEXT(c->serial)};

		e = srv_store_exec(s, "UPDATE devices SET tags = $1 WHERE serial = $2", p, NPARAM(p), NULL, NULL,
				   &c->changed, m);
	}
	if (!e && c->set_critical) {
		const struct srv_param p[] = {SRV_I64(c->critical ? 1 : 0), SRV_TEXT(c->serial)};

		e = srv_store_exec(s, "UPDATE devices SET critical = $1 WHERE serial = $2", p, NPARAM(p), NULL,
				   NULL, &c->changed, m);
	}
	if (!e && !c->changed)
		return ward_msg_set(m, WARD_E_NOTFOUND, "no device with serial %s", c->serial);
	if (!e)
		e = srv_store_audit_append(s, "device-labels", c->serial, c->detail, c->now, m);
	return e;
}

ward_err srv_labels_set(struct srv_store *s, const char *serial, const struct srv_labels *l, bool set_tags,
			bool set_critical, const char *actor, time_t now, struct ward_msg *m)
{
	struct labels_ctx c = {0};
	struct srv_labels copy = *l;
	json_t *tags = NULL;
	ward_err e;

	if (!set_tags && !set_critical)
		return ward_msg_set(m, WARD_E_INVAL, "nothing to change: give tags or the critical flag");
	e = srv_store_check_str("device serial", serial, sizeof(((struct srv_device *)0)->serial), false, m);
	if (!e)
		e = srv_store_check_str("actor", actor, SRV_AUDIT_SUBJECT_MAX + 1, false, m);
	if (!e && set_tags)
		e = tags_text(&copy, c.tags, sizeof(c.tags), m);
	if (e)
		return e;
	c.serial = serial;
	c.actor = actor;
	c.set_tags = set_tags;
	c.set_critical = set_critical;
	c.critical = l->critical;
	c.now = (int64_t)now;
	c.detail = json_pack("{s:s}", "by", actor);
	if (c.detail && set_tags) {
		tags = json_array();
		for (size_t i = 0; tags && i < copy.ntags; i++)
			json_array_append_new(tags, json_string(copy.tags[i]));
		json_object_set_new(c.detail, "tags", tags ? tags : json_null());
	}
	if (c.detail && set_critical)
		json_object_set_new(c.detail, "critical", json_boolean(l->critical));
	if (!c.detail)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	e = srv_store_tx(s, true, labels_tx, &c, m);
	json_decref(c.detail);
	return e;
}

/* ---- stage reports (parsing: server/campaign_parse.c) ---- */

struct report_ctx {
	struct srv_report_batch *b; /* checked; result, accepted, last_seq written */
	int64_t last;               /* the device's last seq */
	bool found;
	char status[32];
};

static ward_err seq_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct report_ctx *c = arg;
	ward_err e = srv_store_col_i64(r, 0, &c->last, "report seq", m);

	if (!e)
		e = srv_store_col_text(r, 1, c->status, sizeof(c->status), "device status", m);
	if (!e)
		c->found = true;
	return e;
}

/*
 * One device's reports, inside the caller's write transaction. A device that
 * is not enrolled or not active gets its own result (nothing written for it)
 * and WARD_OK is returned, so one refused device does not undo the others of a
 * batch; the return value is a database failure, which undoes everything.
 */
static ward_err report_one(struct srv_store *s, struct srv_report_batch *b, struct ward_msg *m)
{
	struct report_ctx c = {b, 0, false, ""};
	const struct srv_param ps[] = {SRV_TEXT(b->serial)};
	ward_err e;

	b->result = WARD_OK;
	b->accepted = 0;
	b->last_seq = 0;
	e = srv_store_exec(s,
			   srv_store_row_locks(s) ? "SELECT report_seq, status FROM devices WHERE serial = $1 FOR UPDATE"
						  : "SELECT report_seq, status FROM devices WHERE serial = $1",
			   ps, 1, seq_row, &c, NULL, m);
	if (e)
		return e;
	if (!c.found || strcmp(c.status, "active")) {
		b->result = c.found ? WARD_E_DENIED : WARD_E_NOTFOUND;
		return WARD_OK;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct srv_report *r = &b->r[i];
		const struct srv_param p[] = {SRV_TEXT(b->serial), SRV_I64(r->seq),    SRV_I64(b->now),
					      SRV_TEXT(r->stage),  SRV_TEXT(r->target), SRV_TEXT(r->version),
					      SRV_TEXT(r->reason)};
		const struct srv_param pc[] = {SRV_TEXT(r->stage), SRV_TEXT(r->reason), SRV_I64(b->now),
					       SRV_TEXT(b->serial), SRV_TEXT(r->target)};
		bool bad = !strcmp(r->stage, "failed") || !strcmp(r->stage, "rolled-back");
		uint64_t moved = 0;

		if (r->seq <= c.last)
			continue; /* a replay, or out of order: the device resends from its outbox */
		e = srv_store_exec(s,
				   "INSERT INTO device_reports (serial, seq, time, stage, target, version, reason) "
				   "VALUES ($1, $2, $3, $4, $5, $6, $7)",
				   p, NPARAM(p), NULL, NULL, NULL, m);
		if (e)
			return e;
		c.last = r->seq;
		b->accepted++;
		/* the device's state in the campaigns that offered it this image: only a device
		 * the campaign has offered it to moves (not one never offered, such as a critical
		 * device waiting for approval; but one whose offer a pause withdrew while it was
		 * already downloading does), and a healthy one only to rolled-back or failed */
		e = srv_store_exec(s,
				   "UPDATE campaign_devices SET state = $1, reason = $2, updated = $3 "
				   "WHERE serial = $4 AND offered = 1 AND (state IN ('pending', 'offered', "
				   "'downloading', 'installed', 'awaiting-local-approval', 'booted') OR "
				   "(state = 'healthy' AND "
				   "$1 IN ('rolled-back', 'failed'))) AND campaign IN "
				   "(SELECT id FROM campaigns WHERE target = $5 AND state IN ('running', 'paused'))",
				   pc, NPARAM(pc), NULL, NULL, &moved, m);
		if (!e && bad) {
			const struct srv_param pw[] = {SRV_TEXT(b->serial), SRV_I64(b->now), SRV_TEXT(r->target)};
			uint64_t withdrawn = 0;

			e = srv_store_exec(s,
					   "UPDATE device_assignments SET target = '', fileinfo = '{}', "
					   "version = version + 1, assigned = $2 WHERE serial = $1 AND target = $3",
					   pw, NPARAM(pw), NULL, NULL, &withdrawn, m);
			/* audited when it changed something: a device repeating itself does not
			 * fill the audit log */
			if (!e && (moved || withdrawn)) {
				json_t *d = json_pack("{s:s,s:s,s:s,s:s}", "stage", r->stage, "target", r->target,
						      "version", r->version, "reason", r->reason);

				e = d ? srv_store_audit_append(s, "device-update-failed", b->serial, d, b->now, m)
				      : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
				json_decref(d);
			}
		}
		if (e)
			return e;
	}
	if (b->accepted) {
		const struct srv_param p[] = {SRV_I64(c.last), SRV_TEXT(b->serial)};
		const struct srv_param pk[] = {SRV_TEXT(b->serial), SRV_I64(c.last - SRV_REPORTS_KEPT)};

		e = srv_store_exec(s, "UPDATE devices SET report_seq = $1 WHERE serial = $2", p, NPARAM(p), NULL,
				   NULL, NULL, m);
		/* each device's history is bounded: the reports of its last SRV_REPORTS_KEPT seq */
		if (!e && c.last > SRV_REPORTS_KEPT)
			e = srv_store_exec(s, "DELETE FROM device_reports WHERE serial = $1 AND seq <= $2", pk,
					   NPARAM(pk), NULL, NULL, NULL, m);
	}
	b->last_seq = c.last;
	return e;
}

struct many_ctx {
	struct srv_report_batch *b;
	size_t n;
};

static ward_err reports_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct many_ctx *c = arg;
	ward_err e = WARD_OK;

	for (size_t i = 0; !e && i < c->n; i++)
		if (c->b[i].result == WARD_OK) /* refused before the transaction: skipped */
			e = report_one(s, &c->b[i], m);
	return e;
}

/* Check one device's reports before any database work; the reason goes to m. */
static ward_err reports_check(const struct srv_report_batch *b, struct ward_msg *m)
{
	ward_err e;

	if (b->n > SRV_REPORTS_MAX)
		return ward_msg_set(m, WARD_E_TOOBIG, "at most %d reports at once", SRV_REPORTS_MAX);
	e = srv_store_check_str("device serial", b->serial, sizeof(((struct srv_device *)0)->serial), false, m);
	for (size_t i = 0; !e && i < b->n; i++) {
		const struct srv_report *r = b->r;

		if (r[i].seq < 1)
			e = ward_msg_set(m, WARD_E_INVAL, "report %zu: seq must be 1 or more", i + 1);
		else if (i && r[i].seq <= r[i - 1].seq)
			e = ward_msg_set(m, WARD_E_INVAL, "reports must come in increasing seq order");
		else if (!srv_stage_valid(r[i].stage))
			e = ward_msg_set(m, WARD_E_INVAL, "report %zu: unknown stage \"%.40s\"", i + 1, r[i].stage);
		if (!e)
			e = srv_store_check_str("report target", r[i].target, sizeof(r[i].target), false, m);
		if (!e)
			e = srv_store_check_str("report version", r[i].version, sizeof(r[i].version), true, m);
		if (!e)
			e = srv_store_check_str("report reason", r[i].reason, sizeof(r[i].reason), true, m);
	}
	return e;
}

ward_err srv_reports_add_many(struct srv_store *s, struct srv_report_batch *b, size_t n, struct ward_msg *m)
{
	struct many_ctx c = {b, n};
	struct ward_msg one;
	ward_err e;

	for (size_t i = 0; i < n; i++) {
		b[i].accepted = 0;
		b[i].last_seq = 0;
		b[i].result = reports_check(&b[i], &one);
	}
	e = srv_store_tx(s, true, reports_tx, &c, m);
	if (e)
		for (size_t i = 0; i < n; i++)
			if (b[i].result == WARD_OK)
				b[i].result = e;
	return e;
}

ward_err srv_reports_add(struct srv_store *s, const char *serial, const struct srv_report *r, size_t n,
			 time_t now, size_t *accepted, int64_t *last_seq, struct ward_msg *m)
{
	struct srv_report_batch b = {serial, r, n, now, WARD_OK, 0, 0};
	struct many_ctx c = {&b, 1};
	ward_err e = reports_check(&b, m);

	if (!e)
		e = srv_store_tx(s, true, reports_tx, &c, m);
	if (!e && b.result == WARD_E_NOTFOUND)
		e = ward_msg_set(m, WARD_E_NOTFOUND, "device %s is not enrolled", serial);
	else if (!e && b.result == WARD_E_DENIED)
		e = ward_msg_set(m, WARD_E_DENIED, "device %s is not active", serial);
	if (!e) {
		*accepted = b.accepted;
		*last_seq = b.last_seq;
	}
	return e;
}

struct hist_ctx {
	struct srv_report *v;
	size_t n, cap;
};

/* seq, time, stage, target, version, reason */
static ward_err report_from_row(const struct srv_row *r, size_t at, struct srv_report *out, struct ward_msg *m)
{
	int64_t t = 0;
	ward_err e;

	memset(out, 0, sizeof(*out));
	e = srv_store_col_i64(r, at, &out->seq, "report seq", m);
	if (!e)
		e = srv_store_col_i64(r, at + 1, &t, "report time", m);
	if (!e)
		e = srv_store_col_text(r, at + 2, out->stage, sizeof(out->stage), "report stage", m);
	if (!e)
		e = srv_store_col_text(r, at + 3, out->target, sizeof(out->target), "report target", m);
	if (!e)
		e = srv_store_col_text(r, at + 4, out->version, sizeof(out->version), "report version", m);
	if (!e)
		e = srv_store_col_text(r, at + 5, out->reason, sizeof(out->reason), "report reason", m);
	out->time = (time_t)t;
	return e;
}

static ward_err hist_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct hist_ctx *c = arg;

	if (c->n == c->cap)
		return ward_msg_set(m, WARD_E_TOOBIG, "more reports than asked for");
	return report_from_row(r, 0, &c->v[c->n++], m);
}

ward_err srv_reports_history(struct srv_store *s, const char *serial, size_t limit, struct srv_report **out,
			     size_t *n, struct ward_msg *m)
{
	struct hist_ctx c = {0};
	ward_err e;

	*out = NULL;
	*n = 0;
	if (limit == 0 || limit > 10000)
		return ward_msg_set(m, WARD_E_INVAL, "history limit must be 1 to 10000");
	e = srv_store_check_str("device serial", serial, sizeof(((struct srv_device *)0)->serial), false, m);
	if (e)
		return e;
	c.cap = limit;
	c.v = calloc(limit, sizeof(*c.v));
	if (!c.v)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	{
		const struct srv_param p[] = {SRV_TEXT(serial), SRV_I64(limit)};

		e = srv_store_exec(s,
				   "SELECT seq, time, stage, target, version, reason FROM device_reports "
				   "WHERE serial = $1 ORDER BY seq DESC LIMIT $2",
				   p, NPARAM(p), hist_row, &c, NULL, m);
	}
	if (e || c.n == 0) {
		free(c.v);
		return e;
	}
	*out = c.v;
	*n = c.n;
	return WARD_OK;
}

/* ---- the fleet listing ------------------------------------------------- */

#define FLEET_COLS                                                                                       \
	"d.serial, d.model, d.batch_id, d.status, d.cert_serial, d.cert_not_after, d.enrolled, d.last_seen, " \
	"d.facts, d.tags, d.critical, r.seq, r.time, r.stage, r.target, r.version, r.reason"
#define FLEET_FROM                                                                                       \
	" FROM devices d LEFT JOIN device_reports r ON r.serial = d.serial AND r.seq = d.report_seq "

struct fleet_ctx {
	struct srv_fleet_row *v;
	size_t n, cap;
};

static ward_err fleet_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct fleet_ctx *c = arg;
	struct srv_fleet_row *f;
	char tags[TAGS_TEXT_MAX];
	int64_t crit = 0;
	ward_err e;

	if (c->n == c->cap)
		return ward_msg_set(m, WARD_E_TOOBIG, "more devices than asked for");
	f = &c->v[c->n];
	memset(f, 0, sizeof(*f));
	e = srv_store_device_from_row(r, &f->d, m);
	if (!e)
		e = srv_store_col_text(r, 9, tags, sizeof(tags), "device tags", m);
	if (!e)
		e = tags_parse(tags, &f->labels, m);
	if (!e)
		e = srv_store_col_i64(r, 10, &crit, "device critical flag", m);
	if (e)
		return e;
	f->labels.critical = crit != 0;
	if (r->n > 11 && r->val[11]) {
		e = report_from_row(r, 11, &f->last, m);
		if (e)
			return e;
		f->has_report = true;
	}
	c->n++;
	return WARD_OK;
}

/* "% TAG %" as a LIKE pattern with '!' escaping: a tag's '_' is a character, not a wildcard
 * (tags are [a-z0-9._-], checked before). Non-zero when it does not fit. */
static int like_tag(const char *tag, char *out, size_t n)
{
	size_t k = 0;

	if (n < 4)
		return -1;
	out[k++] = '%';
	out[k++] = ' ';
	for (; *tag; tag++) {
		if (k + 4 > n)
			return -1;
		if (*tag == '_' || *tag == '%' || *tag == '!')
			out[k++] = '!';
		out[k++] = *tag;
	}
	out[k++] = ' ';
	out[k++] = '%';
	out[k] = '\0';
	return 0;
}

ward_err srv_fleet_list(struct srv_store *s, const struct srv_fleet_filter *f, struct srv_fleet_row **out,
			size_t *n, struct ward_msg *m)
{
	struct fleet_ctx c = {0};
	char tag[2 * SRV_TAG_MAX + 5] = "", q[140] = "";
	ward_err e = WARD_OK;

	*out = NULL;
	*n = 0;
	if (f->limit == 0 || f->limit > 10000)
		return ward_msg_set(m, WARD_E_INVAL, "limit must be 1 to 10000");
	if (f->tag && (e = srv_tag_check(f->tag, m)) == WARD_OK)
		e = like_tag(f->tag, tag, sizeof(tag)) ? ward_msg_set(m, WARD_E_TOOBIG, "tag too long")
									: WARD_OK;
	if (!e && f->q) {
		/* a substring of the serial: LIKE's own wildcards are not allowed in it */
		if (strpbrk(f->q, "%_\\") || ward_snprintf(q, sizeof(q), "%%%s%%", f->q))
			e = ward_msg_set(m, WARD_E_INVAL, "serial search: at most 128 characters, no %%, _ or \\");
	}
	if (!e && f->status && strcmp(f->status, "active") && strcmp(f->status, "revoked") &&
	    strcmp(f->status, "decommissioned"))
		e = ward_msg_set(m, WARD_E_INVAL, "status must be active, revoked or decommissioned");
	if (!e && f->model)
		e = srv_store_check_str("model", f->model, sizeof(((struct srv_device *)0)->model), false, m);
	if (!e && f->q)
		e = srv_store_check_str("serial search", f->q, 129, false, m);
	if (!e && f->after)
		e = srv_store_check_str("after", f->after, sizeof(((struct srv_device *)0)->serial), false, m);
	if (e)
		return e;
	c.cap = f->limit;
	c.v = calloc(f->limit, sizeof(*c.v));
	if (!c.v)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	{
		/* every filter is always bound; an absent one is a NULL that matches everything
		 * (typed by the CAST: PostgreSQL cannot infer the type of a bare NULL parameter) */
		const struct srv_param p[] = {f->model ? SRV_TEXT(f->model) : SRV_NULL,
					      f->tag ? SRV_TEXT(tag) : SRV_NULL,
					      f->status ? SRV_TEXT(f->status) : SRV_NULL,
					      f->q ? SRV_TEXT(q) : SRV_NULL,
					      f->after ? SRV_TEXT(f->after) : SRV_NULL,
					      SRV_I64(f->limit)};

		e = srv_store_exec(s,
				   "SELECT " FLEET_COLS FLEET_FROM
				   "WHERE (CAST($1 AS TEXT) IS NULL OR d.model = $1) "
				   "AND (CAST($2 AS TEXT) IS NULL OR d.tags LIKE $2 ESCAPE '!') "
				   "AND (CAST($3 AS TEXT) IS NULL OR d.status = $3) "
				   "AND (CAST($4 AS TEXT) IS NULL OR d.serial LIKE $4) "
				   "AND (CAST($5 AS TEXT) IS NULL OR d.serial > $5) ORDER BY d.serial LIMIT $6",
				   p, NPARAM(p), fleet_row, &c, NULL, m);
	}
	if (e || c.n == 0) {
		free(c.v);
		return e;
	}
	*out = c.v;
	*n = c.n;
	return WARD_OK;
}

ward_err srv_fleet_get(struct srv_store *s, const char *serial, struct srv_fleet_row *out, struct ward_msg *m)
{
	struct fleet_ctx c = {0};
	const struct srv_param p[] = {SRV_TEXT(serial)};
	ward_err e = srv_store_check_str("device serial", serial, sizeof(((struct srv_device *)0)->serial), false, m);

	if (e)
		return e;
	c.cap = 1;
	c.v = calloc(1, sizeof(*c.v));
	if (!c.v)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	e = srv_store_exec(s, "SELECT " FLEET_COLS FLEET_FROM "WHERE d.serial = $1", p, NPARAM(p), fleet_row, &c,
			   NULL, m);
	if (!e && c.n == 0)
		e = ward_msg_set(m, WARD_E_NOTFOUND, "no device with serial %s", serial);
	if (!e)
		*out = c.v[0];
	free(c.v);
	return e;
}
