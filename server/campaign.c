/*
 * server/campaign.c — phased update campaigns: the request a campaign is
 * made from, its actions (start, pause, resume, cancel, approve), the engine
 * that offers the image phase by phase, and the JSON the API and `ward
 * campaign` show. The rules are in server/campaign.h and docs/campaigns.md.
 *
 * Every function here is one database transaction (srv_store_tx), with the
 * campaign's row read first (FOR UPDATE where the backend has row locks;
 * SQLite's write transactions are exclusive), so several ward-server
 * processes may run the engine on the same campaign at once: whatever the
 * interleaving, each step sees a consistent campaign and leaves one. The
 * engine writes only when something changes, so stepping an idle campaign
 * every second costs a few reads.
 *
 * Offering a device is a director assignment (device_assignments, the table
 * of server/store_director.c) written in the same transaction as the
 * device's move to "offered"; withdrawing one sets the assignment's target
 * to "" with a new version, which the director renders as "nothing".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "director.h"
#include "store_internal.h"
#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/json.h"

#define NPARAM(a) (sizeof(a) / sizeof((a)[0]))
#define CAMPAIGN_DEVICES_MAX 1000000 /* devices one campaign may hold */
#define LIST_DEVICES_MAX 1000        /* devices listed by srv_campaign_json */
#define LIST_CAMPAIGNS_MAX 500       /* campaigns listed */

/* Device states, in the order the API lists counts. */
static const char *const dev_states[] = {
	"pending", "awaiting-approval", "offered", "downloading", "installed", "awaiting-local-approval",
	"booted",  "healthy",           "rolled-back", "failed", "cancelled",
};

/* ---- the campaign's row ------------------------------------------------ */

struct camp {
	char id[SRV_CAMPAIGN_ID + 1], name[128], target[256], version[64];
	char fileinfo[SRV_DIRECTOR_FILEINFO_MAX + 1];
	char select[SRV_SELECT_MAX + 1], phases_text[64], state[16], reason[256], created_by[257];
	int64_t max_failure, require_approval, phase, phase_approved, failures_acked, created, updated;
	int64_t report_timeout; /* seconds; 0: no limit */
	unsigned phases[SRV_PHASES_MAX]; /* parsed phases_text */
	size_t nphases;
	bool found;
};

#define CAMP_COLS                                                                                        \
	"id, name, target, fileinfo, version, selector, phases, max_failure, require_approval, state, phase, " \
	"phase_approved, reason, created_by, created, updated, failures_acked, report_timeout"

static ward_err camp_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct camp *c = arg;
	ward_err e;

	e = srv_store_col_text(r, 0, c->id, sizeof(c->id), "campaign id", m);
	if (!e)
		e = srv_store_col_text(r, 1, c->name, sizeof(c->name), "campaign name", m);
	if (!e)
		e = srv_store_col_text(r, 2, c->target, sizeof(c->target), "campaign image", m);
	if (!e)
		e = srv_store_col_text(r, 3, c->fileinfo, sizeof(c->fileinfo), "campaign image entry", m);
	if (!e)
		e = srv_store_col_text(r, 4, c->version, sizeof(c->version), "campaign version", m);
	if (!e)
		e = srv_store_col_text(r, 5, c->select, sizeof(c->select), "campaign selector", m);
	if (!e)
		e = srv_store_col_text(r, 6, c->phases_text, sizeof(c->phases_text), "campaign phases", m);
	if (!e)
		e = srv_store_col_i64(r, 7, &c->max_failure, "campaign max_failure", m);
	if (!e)
		e = srv_store_col_i64(r, 8, &c->require_approval, "campaign require_approval", m);
	if (!e)
		e = srv_store_col_text(r, 9, c->state, sizeof(c->state), "campaign state", m);
	if (!e)
		e = srv_store_col_i64(r, 10, &c->phase, "campaign phase", m);
	if (!e)
		e = srv_store_col_i64(r, 11, &c->phase_approved, "campaign phase_approved", m);
	if (!e)
		e = srv_store_col_text(r, 12, c->reason, sizeof(c->reason), "campaign reason", m);
	if (!e)
		e = srv_store_col_text(r, 13, c->created_by, sizeof(c->created_by), "campaign creator", m);
	if (!e)
		e = srv_store_col_i64(r, 14, &c->created, "campaign creation time", m);
	if (!e)
		e = srv_store_col_i64(r, 15, &c->updated, "campaign update time", m);
	if (!e)
		e = srv_store_col_i64(r, 16, &c->failures_acked, "campaign failures_acked", m);
	if (!e)
		e = srv_store_col_i64(r, 17, &c->report_timeout, "campaign report_timeout", m);
	if (e)
		return e;
	c->nphases = 0;
	for (const char *p = c->phases_text; *p && c->nphases < SRV_PHASES_MAX;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p || v < 1 || v > 100)
			return ward_msg_set(m, WARD_E_PARSE, "stored phases of campaign %s are unreadable", c->id);
		c->phases[c->nphases++] = (unsigned)v;
		p = *end == ',' ? end + 1 : end;
	}
	if (c->nphases == 0 || c->phase < 0 || (size_t)c->phase >= c->nphases)
		return ward_msg_set(m, WARD_E_PARSE, "stored phases of campaign %s are unreadable", c->id);
	c->found = true;
	return WARD_OK;
}

/* Read campaign id into c (locking its row where the backend can). WARD_E_NOTFOUND. */
static ward_err camp_load(struct srv_store *s, const char *id, bool lock, struct camp *c, struct ward_msg *m)
{
	const struct srv_param p[] = {SRV_TEXT(id)};
	ward_err e;

	memset(c, 0, sizeof(*c));
	e = srv_store_exec(s,
			   lock && srv_store_row_locks(s) ? "SELECT " CAMP_COLS " FROM campaigns WHERE id = $1 FOR UPDATE"
							  : "SELECT " CAMP_COLS " FROM campaigns WHERE id = $1",
			   p, 1, camp_row, c, NULL, m);
	if (!e && !c->found)
		e = ward_msg_set(m, WARD_E_NOTFOUND, "no campaign %s", id);
	return e;
}

/* Write c's state, phase, phase_approved, reason and updated. */
static ward_err camp_save(struct srv_store *s, const struct camp *c, int64_t now, struct ward_msg *m)
{
	const struct srv_param p[] = {SRV_TEXT(c->state), SRV_I64(c->phase), SRV_I64(c->phase_approved),
				      SRV_TEXT(c->reason), SRV_I64(now), SRV_I64(c->failures_acked), SRV_TEXT(c->id)};

	return srv_store_exec(s,
			      "UPDATE campaigns SET state = $1, phase = $2, phase_approved = $3, reason = $4, "
			      "updated = $5, failures_acked = $6 WHERE id = $7",
			      p, NPARAM(p), NULL, NULL, NULL, m);
}

/* A campaign state name (one of the schema's, all shorter than the field). */
static void set_state(struct camp *c, const char *state)
{
	snprintf(c->state, sizeof(c->state), "%s", state);
}

static void set_reason(struct camp *c, const char *fmt, ...) WARD_PRINTF(2, 3);
static void set_reason(struct camp *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap); /* a reason may be cut: it is for people */
	va_end(ap);
}

/* Audit a campaign event with {"by", "reason", extra...}; extra (consumed) may be NULL. */
static ward_err camp_audit(struct srv_store *s, const struct camp *c, const char *event, const char *by,
			   json_t *extra, int64_t now, struct ward_msg *m)
{
	json_t *d = extra ? extra : json_object();
	ward_err e;

	if (!d)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	json_object_set_new(d, "by", json_string(by));
	json_object_set_new(d, "state", json_string(c->state));
	json_object_set_new(d, "phase", json_integer(c->phase + 1));
	json_object_set_new(d, "reason", json_string(c->reason));
	e = srv_store_audit_append(s, event, c->id, d, now, m);
	json_decref(d);
	return e;
}

/* Withdraw the offers not yet taken: "offered" devices go back to `to` and lose the assignment. */
static ward_err withdraw_offers(struct srv_store *s, const struct camp *c, const char *to, int64_t now,
				struct ward_msg *m)
{
	const struct srv_param pa[] = {SRV_TEXT(c->id), SRV_TEXT(c->target), SRV_I64(now)};
	const struct srv_param pd[] = {SRV_TEXT(to), SRV_I64(now), SRV_TEXT(c->id)};
	ward_err e;

	e = srv_store_exec(s,
			   "UPDATE device_assignments SET target = '', fileinfo = '{}', version = version + 1, "
			   "assigned = $3 WHERE target = $2 AND serial IN "
			   "(SELECT serial FROM campaign_devices WHERE campaign = $1 AND state = 'offered')",
			   pa, NPARAM(pa), NULL, NULL, NULL, m);
	if (!e)
		e = srv_store_exec(s,
				   "UPDATE campaign_devices SET state = $1, updated = $2 "
				   "WHERE campaign = $3 AND state = 'offered'",
				   pd, NPARAM(pd), NULL, NULL, NULL, m);
	return e;
}

/* ---- counting ------------------------------------------------------------ */

struct counts {
	int64_t n[SRV_PHASES_MAX][NPARAM(dev_states)]; /* devices by phase and state */
};

static int state_index(const char *st)
{
	for (size_t i = 0; i < NPARAM(dev_states); i++)
		if (!strcmp(st, dev_states[i]))
			return (int)i;
	return -1;
}

static ward_err count_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct counts *c = arg;
	int64_t phase, n;
	int st = r->n > 1 && r->val[1] ? state_index(r->val[1]) : -1;
	ward_err e = srv_store_col_i64(r, 0, &phase, "device phase", m);

	if (!e)
		e = srv_store_col_i64(r, 2, &n, "device count", m);
	if (e)
		return e;
	if (phase < 0 || phase >= SRV_PHASES_MAX || st < 0)
		return ward_msg_set(m, WARD_E_PARSE, "a stored campaign device has an unknown phase or state");
	c->n[phase][st] = n;
	return WARD_OK;
}

static ward_err counts_load(struct srv_store *s, const char *id, struct counts *c, struct ward_msg *m)
{
	const struct srv_param p[] = {SRV_TEXT(id)};

	memset(c, 0, sizeof(*c));
	return srv_store_exec(s,
			      "SELECT phase, state, COUNT(*) FROM campaign_devices WHERE campaign = $1 "
			      "GROUP BY phase, state",
			      p, 1, count_row, c, NULL, m);
}

static int64_t count_of(const struct counts *c, size_t phase, const char *st)
{
	int i = state_index(st);

	return i < 0 ? 0 : c->n[phase][i];
}

static int64_t phase_size(const struct counts *c, size_t phase)
{
	int64_t t = 0;

	for (size_t i = 0; i < NPARAM(dev_states); i++)
		t += c->n[phase][i];
	return t;
}

/* ---- the engine ---------------------------------------------------------- */

/* Offer the image to the eligible pending devices of phases 0..c->phase. */
static ward_err offer(struct srv_store *s, const struct camp *c, int64_t now, struct ward_msg *m)
{
	const struct srv_param pw[] = {SRV_I64(now), SRV_TEXT(c->id), SRV_I64(c->phase)};
	const struct srv_param pa[] = {SRV_TEXT(c->id), SRV_TEXT(c->target), SRV_TEXT(c->fileinfo), SRV_I64(now),
				       SRV_I64(c->phase)};
	ward_err e;

	/* critical devices wait for an operator */
	e = srv_store_exec(s,
			   "UPDATE campaign_devices SET state = 'awaiting-approval', updated = $1 "
			   "WHERE campaign = $2 AND phase <= $3 AND state = 'pending' AND critical = 1 "
			   "AND approved_by IS NULL",
			   pw, NPARAM(pw), NULL, NULL, NULL, m);
	if (!e)
		e = srv_store_exec(s,
				   "INSERT INTO device_assignments (serial, target, fileinfo, version, assigned) "
				   "SELECT cd.serial, $2, $3, 2, $4 FROM campaign_devices cd "
				   "WHERE cd.campaign = $1 AND cd.phase <= $5 AND cd.state = 'pending' "
				   "ON CONFLICT (serial) DO UPDATE SET target = excluded.target, "
				   "fileinfo = excluded.fileinfo, version = device_assignments.version + 1, "
				   "assigned = excluded.assigned",
				   pa, NPARAM(pa), NULL, NULL, NULL, m);
	if (!e)
		e = srv_store_exec(s,
				   "UPDATE campaign_devices SET state = 'offered', offered = 1, updated = $1 "
				   "WHERE campaign = $2 AND phase <= $3 AND state = 'pending'",
				   pw, NPARAM(pw), NULL, NULL, NULL, m);
	return e;
}

/* One step of a running campaign, inside the caller's write transaction. */
static ward_err step_locked(struct srv_store *s, struct camp *c, int64_t now, struct ward_msg *m)
{
	struct counts cnt;
	ward_err e = WARD_OK;

	for (size_t guard = 0; guard <= SRV_PHASES_MAX && !strcmp(c->state, "running"); guard++) {
		int64_t inflight = 0, waiting = 0;
		size_t cur = (size_t)c->phase;

		e = counts_load(s, c->id, &cnt, m);
		if (e)
			return e;
		if (count_of(&cnt, 0, "pending") || cur) {
			bool any_pending = false;

			for (size_t p = 0; p <= cur; p++)
				any_pending = any_pending || count_of(&cnt, p, "pending") > 0;
			if (any_pending) {
				e = offer(s, c, now, m);
				if (!e)
					e = counts_load(s, c->id, &cnt, m);
				if (e)
					return e;
			}
		}
		/* offered devices silent for longer than report_timeout count as failed (an
		 * offline device must not hold its phase open for ever); an offer not yet
		 * taken is withdrawn, a device already installing keeps it */
		if (c->report_timeout > 0) {
			const struct srv_param pt[] = {SRV_TEXT(c->id), SRV_I64(c->phase), SRV_I64(now - c->report_timeout),
						       SRV_TEXT(c->target), SRV_I64(now)};
			uint64_t timed_out = 0;
			char why[96];

			snprintf(why, sizeof(why), "no report for %lld s", (long long)c->report_timeout);
			e = srv_store_exec(s,
					   "UPDATE device_assignments SET target = '', fileinfo = '{}', "
					   "version = version + 1, assigned = $5 WHERE target = $4 AND serial IN "
					   "(SELECT serial FROM campaign_devices WHERE campaign = $1 AND phase <= $2 "
					   "AND state = 'offered' AND updated < $3)",
					   pt, NPARAM(pt), NULL, NULL, NULL, m);
			if (!e) {
				const struct srv_param pu[] = {SRV_TEXT(why), SRV_I64(now), SRV_TEXT(c->id), SRV_I64(c->phase),
							       SRV_I64(now - c->report_timeout)};

				e = srv_store_exec(s,
						   "UPDATE campaign_devices SET state = 'failed', reason = $1, updated = $2 "
						   "WHERE campaign = $3 AND phase <= $4 AND updated < $5 AND state IN "
						   "('offered', 'downloading', 'installed', 'awaiting-local-approval', 'booted')",
						   pu, NPARAM(pu), NULL, NULL, &timed_out, m);
			}
			if (!e && timed_out)
				e = camp_audit(s, c, "campaign-timeout", "ward-server",
					       json_pack("{s:I,s:s}", "devices", (json_int_t)timed_out, "why", why), now, m);
			if (!e && timed_out)
				e = counts_load(s, c->id, &cnt, m);
			if (e)
				return e;
		}
		/* the failure threshold of the phase in progress, beyond what an operator
		 * acknowledged by resuming (earlier phases passed it when they ended) */
		{
			int64_t bad = count_of(&cnt, cur, "failed") + count_of(&cnt, cur, "rolled-back");
			int64_t size = phase_size(&cnt, cur), fresh = bad - c->failures_acked;

			if (size && fresh > 0 && fresh * 10000 > c->max_failure * size) {
				set_state(c, "paused");
				set_reason(c, "paused by ward-server: %lld of %lld devices of phase %zu failed (%.2f%%), above the %.2f%% limit",
					   (long long)bad, (long long)size, cur + 1, 100.0 * (double)bad / (double)size,
					   (double)c->max_failure / 100.0);
				e = withdraw_offers(s, c, "pending", now, m);
				if (!e)
					e = camp_save(s, c, now, m);
				if (!e)
					e = camp_audit(s, c, "campaign-pause", "ward-server", NULL, now, m);
				return e;
			}
		}
		for (size_t p = 0; p <= cur; p++) {
			waiting += count_of(&cnt, p, "awaiting-approval");
			inflight += phase_size(&cnt, p) - count_of(&cnt, p, "healthy") - count_of(&cnt, p, "failed") -
				    count_of(&cnt, p, "rolled-back") - count_of(&cnt, p, "cancelled") -
				    count_of(&cnt, p, "awaiting-approval");
		}
		if (inflight)
			return WARD_OK; /* the phase is under way */
		if (cur + 1 == c->nphases) {
			if (waiting) {
				char was[sizeof(c->reason)];

				memcpy(was, c->reason, sizeof(was));
				set_reason(c, "every phase is done; %lld critical device(s) wait for an operator's approval",
					   (long long)waiting);
				return strcmp(was, c->reason) ? camp_save(s, c, now, m) : WARD_OK;
			}
			set_state(c, "finished");
			set_reason(c, "finished: every device of the last phase is healthy, failed or rolled back");
			e = camp_save(s, c, now, m);
			if (!e)
				e = camp_audit(s, c, "campaign-finish", "ward-server", NULL, now, m);
			return e;
		}
		if (c->require_approval && c->phase_approved < c->phase + 1) {
			char was[sizeof(c->reason)];

			memcpy(was, c->reason, sizeof(was));
			set_reason(c, "phase %zu is done; phase %zu waits for an operator's approval", cur + 1, cur + 2);
			return strcmp(was, c->reason) ? camp_save(s, c, now, m) : WARD_OK;
		}
		c->phase++;
		c->failures_acked = 0;
		set_reason(c, "phase %zu is done: phase %zu (%u%%) started", cur + 1, cur + 2, c->phases[cur + 1]);
		e = camp_save(s, c, now, m);
		if (!e)
			e = camp_audit(s, c, "campaign-phase", "ward-server", NULL, now, m);
		if (e)
			return e;
	}
	return e;
}

struct step_ctx {
	const char *id;
	int64_t now;
	struct camp c;
};

static ward_err step_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct step_ctx *x = arg;
	ward_err e = camp_load(s, x->id, true, &x->c, m);

	if (!e && !strcmp(x->c.state, "running"))
		e = step_locked(s, &x->c, x->now, m);
	return e;
}

ward_err srv_campaign_step(struct srv_store *s, const char *id, time_t now, struct ward_msg *m)
{
	struct step_ctx *x = calloc(1, sizeof(*x));
	ward_err e;

	if (!x)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	x->id = id;
	x->now = (int64_t)now;
	e = srv_store_tx(s, true, step_tx, x, m);
	free(x);
	return e;
}

struct ids_ctx {
	char (*id)[SRV_CAMPAIGN_ID + 1];
	size_t n, cap;
};

static ward_err id_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct ids_ctx *c = arg;

	if (c->n == c->cap)
		return WARD_OK; /* the rest wait for the next step */
	return srv_store_col_text(r, 0, c->id[c->n++], sizeof(c->id[0]), "campaign id", m);
}

ward_err srv_campaign_step_all(struct srv_store *s, time_t now, struct ward_msg *m)
{
	char ids[64][SRV_CAMPAIGN_ID + 1];
	struct ids_ctx c = {ids, 0, 64};
	ward_err e = srv_store_exec(s, "SELECT id FROM campaigns WHERE state = 'running' ORDER BY created", NULL, 0,
				    id_row, &c, NULL, m);

	for (size_t i = 0; !e && i < c.n; i++)
		e = srv_campaign_step(s, ids[i], now, m);
	return e;
}

/* ---- creating ------------------------------------------------------------ */

struct create_ctx {
	const struct srv_campaign_spec *spec;
	const char *actor, *fileinfo, *version;
	char id[SRV_CAMPAIGN_ID + 1];
	char phases[64];
	int64_t now;
};

static ward_err create_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct create_ctx *x = arg;
	const struct srv_campaign_spec *sp = x->spec;
	const struct srv_param p[] = {SRV_TEXT(x->id),      SRV_TEXT(sp->name),      SRV_TEXT(sp->image),
				      SRV_TEXT(x->fileinfo), SRV_TEXT(x->version),    SRV_TEXT(sp->select),
				      SRV_TEXT(x->phases),  SRV_I64(sp->max_failure), SRV_I64(sp->require_approval ? 1 : 0),
				      SRV_TEXT(x->actor),   SRV_I64(x->now), SRV_I64(sp->report_timeout)};
	char mf[16];
	json_t *d;
	ward_err e;

	e = srv_store_exec(s,
			   "INSERT INTO campaigns (" CAMP_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
			   "'created', 0, 0, 'created', $10, $11, $11, 0, $12)",
			   p, NPARAM(p), NULL, NULL, NULL, m);
	if (e)
		return e;
	/* canonical JSON (the audit chain) has no fractions: the percentage as text */
	snprintf(mf, sizeof(mf), "%u.%02u%%", sp->max_failure / 100, sp->max_failure % 100);
	d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s}", "by", x->actor, "name", sp->name, "image", sp->image,
		      "version", x->version, "select", sp->select, "max_failure", mf, "require_approval",
		      sp->require_approval, "phases", x->phases);
	if (d)
		json_object_set_new(d, "report_timeout", json_integer(sp->report_timeout));
	e = d ? srv_store_audit_append(s, "campaign-create", x->id, d, x->now, m)
	      : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	json_decref(d);
	return e;
}

ward_err srv_campaign_create(struct srv_store *s, const struct srv_conf *c, const struct srv_campaign_spec *spec,
			     const char *actor, time_t now, char *id, struct ward_msg *m)
{
	struct create_ctx x = {0};
	uint8_t rnd[SRV_CAMPAIGN_ID / 2];
	char *fileinfo = NULL, hw[128], version[64];
	size_t len = 0;
	ward_err e;

	e = srv_store_check_str("actor", actor, SRV_AUDIT_SUBJECT_MAX + 1, false, m);
	if (!e)
		e = srv_store_check_str("campaign name", spec->name, sizeof(spec->name), true, m);
	if (!e)
		e = srv_store_check_str("selector", spec->select, sizeof(spec->select), false, m);
	if (e)
		return e;
	for (size_t i = 0; i < spec->nphases; i++) {
		int n = snprintf(x.phases + len, sizeof(x.phases) - len, "%s%u", i ? "," : "", spec->phases[i]);

		if (n < 0 || (size_t)n >= sizeof(x.phases) - len)
			return ward_msg_set(m, WARD_E_TOOBIG, "too many phases");
		len += (size_t)n;
	}
	e = srv_director_image_entry(c, spec->image, &fileinfo, hw, version, m);
	if (e == WARD_E_NOTFOUND)
		return ward_msg_set(m, WARD_E_NOTFOUND, "the image repository does not list \"%.200s\"", spec->image);
	if (e)
		return e;
	e = ward_crypto_random(rnd, sizeof(rnd));
	if (e) {
		free(fileinfo);
		return ward_msg_set(m, e, "no randomness for a campaign id");
	}
	ward_hex_encode(rnd, sizeof(rnd), x.id);
	x.spec = spec;
	x.actor = actor;
	x.fileinfo = fileinfo;
	x.version = version;
	x.now = (int64_t)now;
	e = srv_store_tx(s, true, create_tx, &x, m);
	free(fileinfo);
	if (!e)
		memcpy(id, x.id, sizeof(x.id));
	return e;
}

/* ---- starting: fixing the devices ---------------------------------------- */

struct member {
	char serial[128];
	uint8_t rank[WARD_SHA256_LEN]; /* SHA-256(id || serial) */
	bool critical;
};

struct start_ctx {
	const char *id, *actor, *why;
	int64_t now;
	enum srv_campaign_action action;
	struct camp c;
	struct srv_selector sel;
	struct member *v; /* selected devices */
	size_t n, cap;
	size_t busy;      /* of them, in another running or paused campaign */
	char busy_in[SRV_CAMPAIGN_ID + 1];
	const char *const *serials; /* approve */
	size_t nserials;
	bool phase;
};

static ward_err member_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct start_ctx *x = arg;
	const char *serial = r->n > 4 ? r->val[0] : NULL;
	struct member *mb;

	if (!serial || !r->val[1] || !r->val[2] || !r->val[3] || !r->val[4])
		return ward_msg_set(m, WARD_E_PARSE, "a stored device row is incomplete");
	if (!srv_selector_match(&x->sel, serial, r->val[1], r->val[2], r->val[3]))
		return WARD_OK;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 256;
		struct member *v;

		if (cap > CAMPAIGN_DEVICES_MAX)
			return ward_msg_set(m, WARD_E_TOOBIG, "a campaign holds at most %d devices", CAMPAIGN_DEVICES_MAX);
		v = realloc(x->v, cap * sizeof(*v));
		if (!v)
			return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		x->v = v;
		x->cap = cap;
	}
	mb = &x->v[x->n];
	if (strlen(serial) >= sizeof(mb->serial))
		return ward_msg_set(m, WARD_E_PARSE, "a stored serial is too long");
	memcpy(mb->serial, serial, strlen(serial) + 1);
	mb->critical = !strcmp(r->val[4], "1");
	{
		uint8_t buf[SRV_CAMPAIGN_ID + sizeof(mb->serial)];
		size_t a = strlen(x->c.id), b = strlen(serial);

		memcpy(buf, x->c.id, a);
		memcpy(buf + a, serial, b);
		if (ward_crypto_hash(WARD_HASH_SHA256, buf, a + b, mb->rank))
			return ward_msg_set(m, WARD_E_IO, "cannot hash");
	}
	x->n++;
	return WARD_OK;
}

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = memcmp(x->rank, y->rank, sizeof(x->rank));

	return c ? c : strcmp(x->serial, y->serial);
}

/* bsearch: key is a serial, elem a struct member */
static int serial_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct member *)elem)->serial);
}

static int member_serial_cmp(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->serial, ((const struct member *)b)->serial);
}

/* A device still being updated by another campaign: is it one of ours? (x->v sorted by serial) */
static ward_err busy_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct start_ctx *x = arg;
	const char *serial = r->n > 1 ? r->val[0] : NULL;

	(void)m;
	if (!serial || !r->val[1])
		return WARD_OK;
	if (bsearch(serial, x->v, x->n, sizeof(x->v[0]), serial_cmp) && !x->busy++)
		snprintf(x->busy_in, sizeof(x->busy_in), "%s", r->val[1]);
	return WARD_OK;
}

static ward_err start_locked(struct srv_store *s, struct start_ctx *x, struct ward_msg *m)
{
	struct camp *c = &x->c;
	const struct srv_param none[] = {SRV_TEXT("active")};
	size_t start = 0;
	ward_err e;

	e = srv_selector_parse(c->select, &x->sel, m);
	if (!e)
		e = srv_store_exec(s, "SELECT serial, model, batch_id, tags, critical FROM devices WHERE status = $1",
				   none, 1, member_row, x, NULL, m);
	if (e)
		return e;
	if (x->n == 0)
		return ward_msg_set(m, WARD_E_DENIED, "the selector \"%.200s\" matches no active device", c->select);
	qsort(x->v, x->n, sizeof(x->v[0]), member_serial_cmp); /* for busy_row's bsearch */
	e = srv_store_exec(s,
			   "SELECT cd.serial, c.id FROM campaign_devices cd JOIN campaigns c ON c.id = cd.campaign "
			   "WHERE c.state IN ('running', 'paused') AND cd.state NOT IN "
			   "('healthy', 'failed', 'rolled-back', 'cancelled')",
			   NULL, 0, busy_row, x, NULL, m);
	if (e)
		return e;
	if (x->busy)
		return ward_msg_set(m, WARD_E_DENIED,
				    "%zu of the %zu selected devices are still being updated by campaign %s: finish or cancel it first",
				    x->busy, x->n, x->busy_in);
	qsort(x->v, x->n, sizeof(x->v[0]), member_cmp);
	for (size_t p = 0; p < c->nphases; p++) {
		size_t end = (size_t)(((uint64_t)x->n * c->phases[p] + 99) / 100);

		for (size_t i = start; i < end && i < x->n; i++) {
			const struct srv_param pi[] = {SRV_TEXT(c->id), SRV_TEXT(x->v[i].serial), SRV_I64(p),
						       SRV_I64(x->v[i].critical ? 1 : 0), SRV_I64(x->now)};

			e = srv_store_exec(s,
					   "INSERT INTO campaign_devices (campaign, serial, phase, critical, approved_by, "
					   "offered, state, reason, updated) VALUES ($1, $2, $3, $4, NULL, 0, 'pending', '', $5)",
					   pi, NPARAM(pi), NULL, NULL, NULL, m);
			if (e)
				return e;
		}
		if (end > start)
			start = end;
	}
	set_state(c, "running");
	c->phase = 0;
	set_reason(c, "started by %.100s: %zu devices in %zu phases", x->actor, x->n, c->nphases);
	e = camp_save(s, c, x->now, m);
	if (!e)
		e = camp_audit(s, c, "campaign-start", x->actor, json_pack("{s:I}", "devices", (json_int_t)x->n), x->now,
			       m);
	if (!e)
		e = step_locked(s, c, x->now, m);
	return e;
}

static ward_err act_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct start_ctx *x = arg;
	struct camp *c = &x->c;
	ward_err e;

	x->n = 0;
	x->busy = 0;
	e = camp_load(s, x->id, true, c, m);
	if (e)
		return e;
	switch (x->action) {
	case SRV_CAMPAIGN_START:
		if (strcmp(c->state, "created"))
			return ward_msg_set(m, WARD_E_DENIED, "campaign %s is %s: only a created campaign can start", c->id,
					    c->state);
		return start_locked(s, x, m);
	case SRV_CAMPAIGN_PAUSE:
		if (strcmp(c->state, "running"))
			return ward_msg_set(m, WARD_E_DENIED, "campaign %s is %s: only a running campaign can pause", c->id,
					    c->state);
		set_state(c, "paused");
		set_reason(c, "paused by %.100s%s%.150s", x->actor, x->why ? ": " : "", x->why ? x->why : "");
		e = withdraw_offers(s, c, "pending", x->now, m);
		if (!e)
			e = camp_save(s, c, x->now, m);
		if (!e)
			e = camp_audit(s, c, "campaign-pause", x->actor, NULL, x->now, m);
		return e;
	case SRV_CAMPAIGN_RESUME:
		if (strcmp(c->state, "paused"))
			return ward_msg_set(m, WARD_E_DENIED, "campaign %s is %s: only a paused campaign can resume", c->id,
					    c->state);
		set_state(c, "running");
		set_reason(c, "resumed by %.100s%s%.150s", x->actor, x->why ? ": " : "", x->why ? x->why : "");
		{
			struct counts *cnt = calloc(1, sizeof(*cnt));
			size_t cur = (size_t)c->phase;

			e = cnt ? counts_load(s, c->id, cnt, m) : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
			/* the failures seen so far are acknowledged: only new ones count */
			if (!e)
				c->failures_acked = count_of(cnt, cur, "failed") + count_of(cnt, cur, "rolled-back");
			free(cnt);
			if (e)
				return e;
		}
		e = camp_save(s, c, x->now, m);
		if (!e)
			e = camp_audit(s, c, "campaign-resume", x->actor, NULL, x->now, m);
		if (!e)
			e = step_locked(s, c, x->now, m);
		return e;
	case SRV_CAMPAIGN_CANCEL: {
		const struct srv_param p[] = {SRV_I64(x->now), SRV_TEXT(c->id)};

		if (strcmp(c->state, "created") && strcmp(c->state, "running") && strcmp(c->state, "paused"))
			return ward_msg_set(m, WARD_E_DENIED, "campaign %s is already %s", c->id, c->state);
		set_state(c, "cancelled");
		set_reason(c, "cancelled by %.100s%s%.150s", x->actor, x->why ? ": " : "", x->why ? x->why : "");
		e = withdraw_offers(s, c, "cancelled", x->now, m);
		if (!e)
			e = srv_store_exec(s,
					   "UPDATE campaign_devices SET state = 'cancelled', updated = $1 "
					   "WHERE campaign = $2 AND state IN ('pending', 'awaiting-approval')",
					   p, NPARAM(p), NULL, NULL, NULL, m);
		if (!e)
			e = camp_save(s, c, x->now, m);
		if (!e)
			e = camp_audit(s, c, "campaign-cancel", x->actor, NULL, x->now, m);
		return e;
	}
	}
	return ward_msg_set(m, WARD_E_INVAL, "unknown campaign action");
}

static ward_err check_id(const char *id, struct ward_msg *m)
{
	size_t n = id ? strlen(id) : 0;

	if (n != SRV_CAMPAIGN_ID || strspn(id, "0123456789abcdef") != n)
		return ward_msg_set(m, WARD_E_NOTFOUND, "no campaign \"%.40s\" (ids are %d hex digits)", id ? id : "",
				    SRV_CAMPAIGN_ID);
	return WARD_OK;
}

ward_err srv_campaign_act(struct srv_store *s, const char *id, enum srv_campaign_action a, const char *actor,
			  const char *reason, time_t now, struct ward_msg *m)
{
	struct start_ctx *x;
	ward_err e = check_id(id, m);

	if (!e)
		e = srv_store_check_str("actor", actor, SRV_AUDIT_SUBJECT_MAX + 1, false, m);
	if (!e && reason)
		e = srv_store_check_str("reason", reason, 201, true, m);
	if (e)
		return e;
	x = calloc(1, sizeof(*x));
	if (!x)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	x->id = id;
	x->actor = actor;
	x->why = reason && *reason ? reason : NULL;
	x->now = (int64_t)now;
	x->action = a;
	e = srv_store_tx(s, true, act_tx, x, m);
	free(x->v);
	free(x);
	return e;
}

/* ---- approving ------------------------------------------------------------ */

static ward_err approve_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct start_ctx *x = arg;
	struct camp *c = &x->c;
	json_t *list = NULL;
	ward_err e = camp_load(s, x->id, true, c, m);

	if (e)
		return e;
	if (strcmp(c->state, "running") && strcmp(c->state, "paused"))
		return ward_msg_set(m, WARD_E_DENIED, "campaign %s is %s: nothing to approve", c->id, c->state);
	list = json_array();
	for (size_t i = 0; !e && i < x->nserials; i++) {
		const struct srv_param p[] = {SRV_TEXT(x->actor), SRV_I64(x->now), SRV_TEXT(c->id),
					      SRV_TEXT(x->serials[i])};
		uint64_t changed = 0;

		e = srv_store_exec(s,
				   "UPDATE campaign_devices SET approved_by = $1, state = 'pending', updated = $2 "
				   "WHERE campaign = $3 AND serial = $4 AND critical = 1 AND approved_by IS NULL "
				   "AND state IN ('pending', 'awaiting-approval')",
				   p, NPARAM(p), NULL, NULL, &changed, m);
		if (!e && !changed)
			e = ward_msg_set(m, WARD_E_NOTFOUND,
					 "device %.100s is not a critical device waiting for approval in campaign %s",
					 x->serials[i], c->id);
		if (!e && list)
			json_array_append_new(list, json_string(x->serials[i]));
	}
	if (!e && x->phase) {
		if (!c->require_approval) {
			e = ward_msg_set(m, WARD_E_DENIED, "campaign %s does not wait for approval between phases", c->id);
		} else if ((size_t)c->phase_approved + 1 >= c->nphases) {
			e = ward_msg_set(m, WARD_E_DENIED, "campaign %s: every phase is already approved", c->id);
		} else {
			c->phase_approved = c->phase + 1;
			set_reason(c, "%.100s approved phase %lld", x->actor, (long long)c->phase_approved + 1);
			e = camp_save(s, c, x->now, m);
		}
	}
	if (!e)
		e = camp_audit(s, c, "campaign-approve", x->actor,
			       json_pack("{s:o,s:b}", "devices", list ? list : json_array(), "next_phase", x->phase),
			       x->now, m);
	else
		json_decref(list);
	if (!e && !strcmp(c->state, "running"))
		e = step_locked(s, c, x->now, m);
	return e;
}

ward_err srv_campaign_approve(struct srv_store *s, const char *id, const char *const *serials, size_t n,
			      bool phase, const char *actor, time_t now, struct ward_msg *m)
{
	struct start_ctx *x;
	ward_err e = check_id(id, m);

	if (!e)
		e = srv_store_check_str("actor", actor, SRV_AUDIT_SUBJECT_MAX + 1, false, m);
	for (size_t i = 0; !e && i < n; i++)
		e = srv_store_check_str("device serial", serials[i], sizeof(((struct srv_device *)0)->serial), false, m);
	if (!e && n == 0 && !phase)
		e = ward_msg_set(m, WARD_E_INVAL, "approve what? give devices, or the next phase");
	if (e)
		return e;
	x = calloc(1, sizeof(*x));
	if (!x)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	x->id = id;
	x->actor = actor;
	x->now = (int64_t)now;
	x->serials = serials;
	x->nserials = n;
	x->phase = phase;
	e = srv_store_tx(s, true, approve_tx, x, m);
	free(x);
	return e;
}

/* ---- showing -------------------------------------------------------------- */

static json_t *camp_summary(const struct camp *c, const struct counts *cnt)
{
	json_t *o, *phases = json_array();

	for (size_t p = 0; phases && p < c->nphases; p++) {
		json_t *counts = json_object();

		for (size_t i = 0; counts && i < NPARAM(dev_states); i++)
			if (cnt->n[p][i])
				json_object_set_new(counts, dev_states[i], json_integer(cnt->n[p][i]));
		json_array_append_new(phases, json_pack("{s:i,s:I,s:o*}", "percent", (int)c->phases[p], "devices",
							(json_int_t)phase_size(cnt, p), "counts", counts));
	}
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o*,s:f,s:b,s:s,s:I,s:s,s:I,s:s,s:I}", "id", c->id, "name", c->name,
		      "image", c->target, "version", c->version, "select", c->select, "phases", phases,
		      "max_failure", (double)c->max_failure / 100.0, "require_approval", c->require_approval != 0,
		      "state", c->state, "phase", (json_int_t)c->phase, "reason", c->reason, "created",
		      (json_int_t)c->created, "created_by", c->created_by, "updated", (json_int_t)c->updated);
	if (o && c->require_approval)
		json_object_set_new(o, "phase_approved", json_integer(c->phase_approved));
	if (o)
		json_object_set_new(o, "report_timeout", json_integer(c->report_timeout));
	return o;
}

struct show_ctx {
	const char *id;
	bool devices;
	struct camp c;
	struct counts cnt;
	json_t *list; /* devices */
	json_t *out;
};

static ward_err cd_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct show_ctx *x = arg;
	int64_t phase, crit, upd;
	ward_err e = srv_store_col_i64(r, 1, &phase, "device phase", m);

	if (!e)
		e = srv_store_col_i64(r, 3, &crit, "device critical", m);
	if (!e)
		e = srv_store_col_i64(r, 6, &upd, "device update time", m);
	if (e)
		return e;
	if (!r->val[0] || !r->val[2] || !r->val[5])
		return ward_msg_set(m, WARD_E_PARSE, "a stored campaign device is incomplete");
	json_array_append_new(x->list, json_pack("{s:s,s:I,s:s,s:b,s:s?,s:s,s:I}", "serial", r->val[0], "phase",
						 (json_int_t)phase, "state", r->val[2], "critical", crit != 0,
						 "approved_by", r->val[4], "reason", r->val[5], "updated",
						 (json_int_t)upd));
	return WARD_OK;
}

static ward_err show_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct show_ctx *x = arg;
	const struct srv_param p[] = {SRV_TEXT(x->id), SRV_I64(LIST_DEVICES_MAX)};
	ward_err e;

	json_decref(x->list);
	json_decref(x->out);
	x->list = NULL;
	x->out = NULL;
	e = camp_load(s, x->id, false, &x->c, m);
	if (!e)
		e = counts_load(s, x->id, &x->cnt, m);
	if (e)
		return e;
	x->out = camp_summary(&x->c, &x->cnt);
	if (!x->out)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if (!x->devices)
		return WARD_OK;
	x->list = json_array();
	if (!x->list)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	return srv_store_exec(s,
			      "SELECT serial, phase, state, critical, approved_by, reason, updated FROM campaign_devices "
			      "WHERE campaign = $1 ORDER BY phase, serial LIMIT $2",
			      p, NPARAM(p), cd_row, x, NULL, m);
}

ward_err srv_campaign_json(struct srv_store *s, const char *id, bool devices, json_t **out, struct ward_msg *m)
{
	struct show_ctx *x;
	ward_err e = check_id(id, m);

	if (e)
		return e;
	x = calloc(1, sizeof(*x));
	if (!x)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	x->id = id;
	x->devices = devices;
	e = srv_store_tx(s, false, show_tx, x, m);
	if (!e && devices)
		json_object_set(x->out, "devices", x->list);
	if (!e)
		*out = x->out;
	else
		json_decref(x->out);
	json_decref(x->list);
	free(x);
	return e;
}

struct list_ctx {
	struct camp *v;
	size_t n;
};

static ward_err list_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct list_ctx *x = arg;

	if (x->n == LIST_CAMPAIGNS_MAX)
		return WARD_OK;
	return camp_row(&x->v[x->n++], r, m);
}

ward_err srv_campaign_list_json(struct srv_store *s, json_t **out, struct ward_msg *m)
{
	struct list_ctx x = {calloc(LIST_CAMPAIGNS_MAX, sizeof(struct camp)), 0};
	struct counts *cnt = calloc(1, sizeof(*cnt));
	const struct srv_param p[] = {SRV_I64(LIST_CAMPAIGNS_MAX)};
	json_t *arr = json_array();
	ward_err e;

	if (!x.v || !cnt || !arr) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	e = srv_store_exec(s, "SELECT " CAMP_COLS " FROM campaigns ORDER BY created DESC, id LIMIT $1", p, 1, list_row,
			   &x, NULL, m);
	for (size_t i = 0; !e && i < x.n; i++) {
		e = counts_load(s, x.v[i].id, cnt, m);
		if (!e)
			json_array_append_new(arr, camp_summary(&x.v[i], cnt));
	}
	if (!e) {
		*out = json_pack("{s:O}", "campaigns", arr);
		if (!*out)
			e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
out:
	json_decref(arr);
	free(cnt);
	free(x.v);
	return e;
}

struct devcamp_ctx {
	json_t *arr;
};

static ward_err devcamp_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct devcamp_ctx *x = arg;
	int64_t phase;
	ward_err e = srv_store_col_i64(r, 3, &phase, "campaign phase", m);

	if (e)
		return e;
	if (!r->val[0] || !r->val[1] || !r->val[2] || !r->val[4])
		return ward_msg_set(m, WARD_E_PARSE, "a stored campaign row is incomplete");
	json_array_append_new(x->arr, json_pack("{s:s,s:s,s:s,s:I,s:s}", "id", r->val[0], "name", r->val[1], "state",
						r->val[2], "phase", (json_int_t)phase, "device_state", r->val[4]));
	return WARD_OK;
}

ward_err srv_campaign_device_json(struct srv_store *s, const char *serial, json_t **out, struct ward_msg *m)
{
	struct devcamp_ctx x = {json_array()};
	const struct srv_param p[] = {SRV_TEXT(serial)};
	ward_err e;

	if (!x.arr)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	e = srv_store_exec(s,
			   "SELECT c.id, c.name, c.state, c.phase, cd.state FROM campaign_devices cd "
			   "JOIN campaigns c ON c.id = cd.campaign WHERE cd.serial = $1 ORDER BY c.created DESC LIMIT 50",
			   p, NPARAM(p), devcamp_row, &x, NULL, m);
	if (e) {
		json_decref(x.arr);
		return e;
	}
	*out = x.arr;
	return WARD_OK;
}
