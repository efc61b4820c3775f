/*
 * server/store_director.c — the director's table, device_assignments
 * (migration 2 of server/store.c): which image each device should install,
 * with the image repository's signed entry for it copied verbatim.
 *
 * Invariants: an assignment exists only for an enrolled device and is made
 * only while it is active; its version starts at 2 and every new assignment
 * adds one in the same statement (an upsert), so concurrent assignments from
 * several servers never reuse a version and the device's director metadata
 * only moves forward. Strings are checked as store.c checks its own.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "director.h"
#include "store_internal.h"
#include "ward/json.h"

#define NPARAM(a) (sizeof(a) / sizeof((a)[0]))

struct set_ctx {
	const char *serial, *target, *fileinfo; /* validated */
	const json_t *detail;                   /* audit detail, or NULL: no record */
	int64_t now;                            /* assignment time */
	int64_t version;                        /* out: the new version */
	bool found;                             /* a row came back */
	char status[32];                        /* the device's status */
};

static ward_err status_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct set_ctx *c = arg;

	if (r->n < 1 || !r->val[0] || strlen(r->val[0]) >= sizeof(c->status))
		return ward_msg_set(m, WARD_E_PARSE, "stored device status is unreadable");
	memcpy(c->status, r->val[0], strlen(r->val[0]) + 1);
	c->found = true;
	return WARD_OK;
}

static ward_err version_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct set_ctx *c = arg;
	uint64_t v;

	if (r->n < 1 || !r->val[0] || ward_parse_u64(r->val[0], &v) || v > INT64_MAX)
		return ward_msg_set(m, WARD_E_PARSE, "stored assignment version is not an integer");
	c->version = (int64_t)v;
	return WARD_OK;
}

static ward_err set_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct set_ctx *c = arg;
	const struct srv_param pserial[] = {SRV_TEXT(c->serial)};
	const struct srv_param p[] = {SRV_TEXT(c->serial), SRV_TEXT(c->target), SRV_TEXT(c->fileinfo),
				      SRV_I64(c->now)};
	ward_err e;

	c->found = false;
	c->version = 0;
	e = srv_store_exec(s, "SELECT status FROM devices WHERE serial = $1", pserial, 1, status_row, c,
			   NULL, m);
	if (e)
		return e;
	if (!c->found)
		return ward_msg_set(m, WARD_E_NOTFOUND, "device %s is not enrolled", c->serial);
	if (strcmp(c->status, "active"))
		return ward_msg_set(m, WARD_E_DENIED, "device %s is %s: it gets no updates", c->serial,
				    c->status);
	e = srv_store_exec(s,
			   "INSERT INTO device_assignments (serial, target, fileinfo, version, assigned) "
			   "VALUES ($1, $2, $3, 2, $4) "
			   "ON CONFLICT (serial) DO UPDATE SET target = excluded.target, "
			   "fileinfo = excluded.fileinfo, version = device_assignments.version + 1, "
			   "assigned = excluded.assigned",
			   p, NPARAM(p), NULL, NULL, NULL, m);
	if (!e)
		e = srv_store_exec(s, "SELECT version FROM device_assignments WHERE serial = $1", pserial, 1,
				   version_row, c, NULL, m);
	if (!e && c->version < 2)
		e = ward_msg_set(m, WARD_E_IO, "database: the assignment of %s was not recorded", c->serial);
	if (!e && c->detail) {
		json_t *d = json_deep_copy(c->detail);

		if (d && !json_object_set_new(d, "director_version", json_integer(c->version)))
			e = srv_store_audit_append(s, "assign", c->serial, d, c->now, m);
		else
			e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		json_decref(d);
	}
	return e;
}

ward_err srv_assignment_set(struct srv_store *s, const char *serial, const char *target,
			    const char *fileinfo, const json_t *detail, time_t now, int64_t *version,
			    struct ward_msg *m)
{
	struct set_ctx c = {serial, target, fileinfo, detail, (int64_t)now, 0, false, ""};
	json_t *v = NULL;
	ward_err e;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "no store");
	e = srv_store_check_str("device serial", serial, sizeof(((struct srv_assignment *)0)->serial),
				false, m);
	if (!e)
		e = srv_store_check_str("target path", target, sizeof(((struct srv_assignment *)0)->target),
					false, m);
	if (!e)
		e = srv_store_check_str("target entry", fileinfo, SRV_DIRECTOR_FILEINFO_MAX + 1, false, m);
	if (!e)
		e = ward_json_parse(fileinfo, strlen(fileinfo), SRV_DIRECTOR_FILEINFO_MAX, &v, m);
	if (!e && !json_is_object(v))
		e = ward_msg_set(m, WARD_E_PARSE, "target entry is not a JSON object");
	json_decref(v);
	if (e)
		return e;
	e = srv_store_tx(s, true, set_tx, &c, m);
	if (!e)
		*version = c.version;
	return e;
}

struct get_ctx {
	struct srv_assignment a; /* filled from the row */
	bool found;              /* a row came back */
};

static ward_err copy_col(const struct srv_row *r, size_t i, char *dst, size_t size, const char *what,
			 struct ward_msg *m)
{
	size_t len;

	if (i >= r->n || !r->val[i])
		return ward_msg_set(m, WARD_E_PARSE, "stored %s is missing", what);
	len = strlen(r->val[i]);
	if (len >= size)
		return ward_msg_set(m, WARD_E_TOOBIG, "stored %s is longer than %zu bytes", what, size - 1);
	memcpy(dst, r->val[i], len + 1);
	return WARD_OK;
}

static ward_err get_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct get_ctx *c = arg;
	uint64_t v, t;
	ward_err e;

	if (c->found)
		return ward_msg_set(m, WARD_E_IO, "database: more than one assignment for a device");
	e = copy_col(r, 0, c->a.serial, sizeof(c->a.serial), "device serial", m);
	if (!e)
		e = copy_col(r, 1, c->a.target, sizeof(c->a.target), "target path", m);
	if (!e)
		e = copy_col(r, 2, c->a.fileinfo, sizeof(c->a.fileinfo), "target entry", m);
	if (e)
		return e;
	if (r->n < 5 || !r->val[3] || !r->val[4] || ward_parse_u64(r->val[3], &v) || v > INT64_MAX ||
	    ward_parse_u64(r->val[4], &t) || (uint64_t)(time_t)t != t)
		return ward_msg_set(m, WARD_E_PARSE, "stored assignment of %s is unreadable", c->a.serial);
	c->a.version = (int64_t)v;
	c->a.assigned = (time_t)t;
	c->found = true;
	return WARD_OK;
}

static ward_err get_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct get_ctx *c = arg;
	const struct srv_param p[] = {SRV_TEXT(c->a.serial)};
	char serial[sizeof(c->a.serial)];

	memcpy(serial, c->a.serial, sizeof(serial));
	memset(&c->a, 0, sizeof(c->a));
	memcpy(c->a.serial, serial, sizeof(serial));
	c->found = false;
	return srv_store_exec(s,
			      "SELECT serial, target, fileinfo, version, assigned FROM device_assignments "
			      "WHERE serial = $1",
			      p, 1, get_row, c, NULL, m);
}

ward_err srv_assignment_get(struct srv_store *s, const char *serial, struct srv_assignment *out,
			    struct ward_msg *m)
{
	struct get_ctx *c;
	ward_err e;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "no store");
	e = srv_store_check_str("device serial", serial, sizeof(out->serial), false, m);
	if (e)
		return e;
	c = calloc(1, sizeof(*c));
	if (!c)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	memcpy(c->a.serial, serial, strlen(serial) + 1);
	e = srv_store_one(s, get_tx, c, m); /* one SELECT: no transaction around it (per device request) */
	if (!e && !c->found)
		e = ward_msg_set(m, WARD_E_NOTFOUND, "device %s has no assignment", serial);
	if (!e)
		*out = c->a;
	free(c);
	return e;
}
