/*
 * server/store_audit.c — read-only listings for the operator API and the
 * `ward audit list` / model views: pages of the audit log, and the models
 * the registry holds. Declared in server/store_ops.h.
 *
 * Same rules as the other store files (server/store_internal.h): values
 * reach the database only as bound parameters, the SQL is literal text of
 * this file, every listing is one read transaction with a hard row limit
 * fixed by the caller and checked here (SRV_AUDIT_PAGE_MAX), and a retried
 * transaction starts its output over.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "store_ops.h"
#include "ward/buf.h"
#include "ward/json.h"

struct page_ctx {
	int64_t after;       /* seq > after (oldest first) or seq < after (newest first; 0 = none) */
	const char *subject; /* or NULL */
	size_t limit;        /* rows wanted (one more is read to know whether more follow) */
	bool newest_first;
	json_t *records;     /* out, rebuilt on every attempt */
	size_t n;            /* rows seen */
	int64_t last;        /* seq of the limit-th row */
	bool more;           /* a row beyond limit exists */
};

static ward_err page_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct page_ctx *c = arg;
	uint64_t seq, t;
	json_t *detail = NULL, *o;

	if (c->n >= c->limit) {
		c->more = true;
		return WARD_OK;
	}
	if (r->n < 5 || !r->val[0] || !r->val[1] || !r->val[2] || !r->val[3] ||
	    ward_parse_u64(r->val[0], &seq) || ward_parse_u64(r->val[1], &t) || seq > INT64_MAX || t > INT64_MAX)
		return ward_msg_set(m, WARD_E_PARSE, "a stored audit record is malformed");
	/* stored as canonical JSON by srv_audit; anything else is shown as text, never dropped */
	if (r->val[4] && ward_json_parse(r->val[4], strlen(r->val[4]), SRV_AUDIT_DETAIL_MAX, &detail, NULL))
		detail = json_string(r->val[4]);
	o = json_pack("{s:I,s:I,s:s,s:s,s:o}", "seq", (json_int_t)seq, "time", (json_int_t)t, "event", r->val[2],
		      "subject", r->val[3], "detail", detail ? detail : json_null());
	if (!o || json_array_append_new(c->records, o))
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	c->n++;
	c->last = (int64_t)seq;
	return WARD_OK;
}

static ward_err page_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct page_ctx *c = arg;
	const struct srv_param p[] = {SRV_I64(c->after), SRV_I64(c->limit + 1)};
	const struct srv_param ps[] = {SRV_I64(c->after), SRV_I64(c->limit + 1), SRV_TEXT(c->subject)};

	json_decref(c->records);
	if (!(c->records = json_array()))
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	c->n = 0;
	c->last = 0;
	c->more = false;
	if (c->newest_first && c->subject)
		return srv_store_exec(s,
				      "SELECT seq, time, event, subject, detail FROM audit "
				      "WHERE seq < $1 AND subject = $3 ORDER BY seq DESC LIMIT $2",
				      ps, 3, page_row, c, NULL, m);
	if (c->newest_first)
		return srv_store_exec(s,
				      "SELECT seq, time, event, subject, detail FROM audit "
				      "WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
				      p, 2, page_row, c, NULL, m);
	if (c->subject)
		return srv_store_exec(s,
				      "SELECT seq, time, event, subject, detail FROM audit "
				      "WHERE seq > $1 AND subject = $3 ORDER BY seq LIMIT $2",
				      ps, 3, page_row, c, NULL, m);
	return srv_store_exec(s, "SELECT seq, time, event, subject, detail FROM audit WHERE seq > $1 "
				 "ORDER BY seq LIMIT $2",
			      p, 2, page_row, c, NULL, m);
}

ward_err srv_audit_page(struct srv_store *s, const struct srv_audit_query *q, json_t **records,
			int64_t *next, struct ward_msg *m)
{
	struct page_ctx c = {0};
	ward_err e;

	if (!s || !q || !records || !next)
		return ward_msg_set(m, WARD_E_INVAL, "no store, query or output");
	if (q->limit < 1 || q->limit > SRV_AUDIT_PAGE_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "an audit page holds 1 to %d records", SRV_AUDIT_PAGE_MAX);
	if (q->after < 0)
		return ward_msg_set(m, WARD_E_INVAL, "an audit position is a record's seq (0 or more)");
	if (q->subject && (e = srv_store_check_str("audit subject", q->subject, SRV_AUDIT_SUBJECT_MAX + 1, true,
						  m)) != WARD_OK)
		return e;
	c.after = q->newest_first && q->after == 0 ? INT64_MAX : q->after;
	c.subject = q->subject;
	c.limit = q->limit;
	c.newest_first = q->newest_first;
	e = srv_store_tx(s, false, page_tx, &c, m);
	if (e) {
		json_decref(c.records);
		return e;
	}
	*records = c.records;
	*next = c.more ? c.last : 0;
	return WARD_OK;
}

/* ---- the models enrolled ---------------------------------------------------------- */

struct models_ctx {
	json_t *names; /* out, rebuilt on every attempt */
	size_t max;    /* at most this many */
	bool more;     /* the registry holds more */
};

static ward_err model_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct models_ctx *c = arg;

	if (json_array_size(c->names) >= c->max) {
		c->more = true;
		return WARD_OK;
	}
	if (r->n < 1 || !r->val[0])
		return ward_msg_set(m, WARD_E_PARSE, "a stored model is missing");
	if (json_array_append_new(c->names, json_string(r->val[0])))
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	return WARD_OK;
}

static ward_err models_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct models_ctx *c = arg;
	const struct srv_param p[] = {SRV_I64(c->max + 1)};

	json_decref(c->names);
	if (!(c->names = json_array()))
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	c->more = false;
	return srv_store_exec(s, "SELECT DISTINCT model FROM devices ORDER BY model LIMIT $1", p, 1, model_row, c,
			      NULL, m);
}

ward_err srv_models_enrolled(struct srv_store *s, size_t max, json_t **names, bool *more, struct ward_msg *m)
{
	struct models_ctx c = {NULL, max, false};
	ward_err e;

	if (!s || !names || !more || max < 1 || max > SRV_MODELS_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "no store or output, or a limit outside 1-%d", SRV_MODELS_MAX);
	e = srv_store_tx(s, false, models_tx, &c, m);
	if (e) {
		json_decref(c.names);
		return e;
	}
	*names = c.names;
	*more = c.more;
	return WARD_OK;
}
