/*
 * server/store.c — ward-server's storage port (server/store.h): URI dispatch,
 * the schema migrations, and every rule of the registry, written once on top
 * of the thin backend interface of server/store_backend.h.
 *
 * Invariants:
 *  - every change is one transaction (run_tx), rerun from the start when the
 *    backend says the failure was a serialization failure, deadlock or busy
 *    lock; transaction bodies write only to their context, so a rerun starts
 *    clean and the caller's outputs are untouched on failure;
 *  - every value reaches the database as a bound parameter; every string is
 *    checked against the size of the field it will be read back into
 *    (too long is WARD_E_TOOBIG, never cut), must be UTF-8 without control
 *    characters (the PEM may hold line breaks) and is never a secret in a
 *    message (pass_hash is never quoted);
 *  - the audit chain: record seq n (from 1, no gaps) stores
 *      hash_n = SHA-256(prev_hash_n || canonical JSON of
 *               {"detail": d, "event": e, "seq": n, "subject": s, "time": t})
 *    with prev_hash_1 = 32 zero bytes and prev_hash_n = hash_{n-1}, both as
 *    lower-case hex; d is the detail object (JSON null when absent), stored
 *    in its canonical form. Appends hold the audit lock (SQLite: the write
 *    transaction itself; PostgreSQL: an advisory lock) from reading the head
 *    to inserting, so concurrent appenders from any number of servers chain.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "ward/tuf.h"
#include "store_backend.h"
#include "store_internal.h"
#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/json.h"

struct srv_store {
	const struct srv_backend *be; /* the backend chosen by the URI's scheme */
	void *conn;                   /* its connection */
};

/* ---- schema -------------------------------------------------------------- */

/*
 * Applied before anything else on every open. Kept separate from the numbered
 * migrations because it is how their numbers are recorded.
 */
static const char schema_bootstrap[] =
	"CREATE TABLE IF NOT EXISTS schema_version (\n"
	"  version BIGINT PRIMARY KEY,\n"
	"  applied BIGINT NOT NULL\n"
	");\n";

/*
 * The migrations, in order: migrations[i] brings the schema from version i to
 * i + 1. Never edit one that has shipped; append a new one. server/schema.sql
 * says the same for humans (tests/unit/store.c checks that it does). The SQL
 * is common to SQLite and PostgreSQL: BIGINT (64-bit in both), TEXT, CHECK,
 * REFERENCES and partial indexes mean the same in both.
 */
static const char *const migrations[] = {
	/* 1: the initial registry */
	"CREATE TABLE batches (\n"
	"  id        TEXT PRIMARY KEY,\n"
	"  username  TEXT NOT NULL UNIQUE,\n"
	"  pass_hash TEXT NOT NULL,\n"
	"  model     TEXT NOT NULL,\n"
	"  count     BIGINT NOT NULL CHECK (count >= 0),\n"
	"  used      BIGINT NOT NULL CHECK (used >= 0 AND used <= count),\n"
	"  expires   BIGINT NOT NULL,\n"
	"  created   BIGINT NOT NULL\n"
	");\n"
	"CREATE TABLE devices (\n"
	"  serial         TEXT PRIMARY KEY,\n"
	"  model          TEXT NOT NULL,\n"
	"  batch_id       TEXT NOT NULL REFERENCES batches (id),\n"
	"  status         TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'decommissioned')),\n"
	"  cert_serial    TEXT NOT NULL,\n"
	"  cert_not_after BIGINT NOT NULL,\n"
	"  enrolled       BIGINT NOT NULL,\n"
	"  last_seen      BIGINT NOT NULL,\n"
	"  facts          TEXT NOT NULL\n"
	");\n"
	"CREATE INDEX devices_batch ON devices (batch_id);\n"
	"CREATE TABLE certs (\n"
	"  serial        TEXT PRIMARY KEY,\n"
	"  device_serial TEXT NOT NULL REFERENCES devices (serial),\n"
	"  pem           TEXT NOT NULL,\n"
	"  not_after     BIGINT NOT NULL,\n"
	"  issued        BIGINT NOT NULL,\n"
	"  revoked_at    BIGINT\n"
	");\n"
	"CREATE INDEX certs_device ON certs (device_serial);\n"
	"CREATE INDEX certs_revoked ON certs (revoked_at) WHERE revoked_at IS NOT NULL;\n"
	"CREATE TABLE crl_state (\n"
	"  id     BIGINT PRIMARY KEY CHECK (id = 1),\n"
	"  number BIGINT NOT NULL CHECK (number >= 0)\n"
	");\n"
	"INSERT INTO crl_state (id, number) VALUES (1, 0);\n"
	"CREATE TABLE audit (\n"
	"  seq       BIGINT PRIMARY KEY CHECK (seq >= 1),\n"
	"  time      BIGINT NOT NULL,\n"
	"  event     TEXT NOT NULL,\n"
	"  subject   TEXT NOT NULL,\n"
	"  detail    TEXT,\n"
	"  prev_hash TEXT NOT NULL,\n"
	"  hash      TEXT NOT NULL\n"
	");\n",
	/* 2: the director's per-device assignments (server/store_director.c) */
	"CREATE TABLE device_assignments (\n"
	"  serial   TEXT PRIMARY KEY REFERENCES devices (serial),\n"
	"  target   TEXT NOT NULL,\n"
	"  fileinfo TEXT NOT NULL,\n"
	"  version  BIGINT NOT NULL CHECK (version >= 2),\n"
	"  assigned BIGINT NOT NULL\n"
	");\n",
	/* 3: operator accounts and API tokens (server/store_ops.c) */
	"CREATE TABLE operators (\n"
	"  name      TEXT PRIMARY KEY,\n"
	"  pass_hash TEXT NOT NULL,\n"
	"  role      TEXT NOT NULL CHECK (role IN ('admin', 'release-manager', 'operator', 'auditor')),\n"
	"  created   BIGINT NOT NULL\n"
	");\n"
	"CREATE TABLE api_tokens (\n"
	"  id         TEXT PRIMARY KEY,\n"
	"  token_hash TEXT NOT NULL UNIQUE,\n"
	"  operator   TEXT NOT NULL REFERENCES operators (name),\n"
	"  created    BIGINT NOT NULL,\n"
	"  expires    BIGINT NOT NULL,\n"
	"  revoked    BIGINT\n"
	");\n"
	"CREATE INDEX api_tokens_operator ON api_tokens (operator);\n",
	/* 4: device labels, stage reports, campaigns (server/store_campaign.c) */
	"ALTER TABLE devices ADD COLUMN tags TEXT NOT NULL DEFAULT ' ';\n"
	"ALTER TABLE devices ADD COLUMN critical BIGINT NOT NULL DEFAULT 0 CHECK (critical IN (0, 1));\n"
	"ALTER TABLE devices ADD COLUMN report_seq BIGINT NOT NULL DEFAULT 0 CHECK (report_seq >= 0);\n"
	"CREATE TABLE device_reports (\n"
	"  serial  TEXT NOT NULL REFERENCES devices (serial),\n"
	"  seq     BIGINT NOT NULL CHECK (seq >= 1),\n"
	"  time    BIGINT NOT NULL,\n"
	"  stage   TEXT NOT NULL,\n"
	"  target  TEXT NOT NULL,\n"
	"  version TEXT NOT NULL,\n"
	"  reason  TEXT NOT NULL,\n"
	"  PRIMARY KEY (serial, seq)\n"
	");\n"
	"CREATE TABLE campaigns (\n"
	"  id               TEXT PRIMARY KEY,\n"
	"  name             TEXT NOT NULL,\n"
	"  target           TEXT NOT NULL,\n"
	"  fileinfo         TEXT NOT NULL,\n"
	"  version          TEXT NOT NULL,\n"
	"  selector         TEXT NOT NULL,\n"
	"  phases           TEXT NOT NULL,\n"
	"  max_failure      BIGINT NOT NULL CHECK (max_failure >= 0 AND max_failure <= 10000),\n"
	"  require_approval BIGINT NOT NULL CHECK (require_approval IN (0, 1)),\n"
	"  state            TEXT NOT NULL CHECK (state IN ('created', 'running', 'paused', 'cancelled', 'finished')),\n"
	"  phase            BIGINT NOT NULL CHECK (phase >= 0),\n"
	"  phase_approved   BIGINT NOT NULL CHECK (phase_approved >= 0),\n"
	"  failures_acked   BIGINT NOT NULL CHECK (failures_acked >= 0),\n"
	"  report_timeout   BIGINT NOT NULL CHECK (report_timeout >= 0),\n"
	"  reason           TEXT NOT NULL,\n"
	"  created_by       TEXT NOT NULL,\n"
	"  created          BIGINT NOT NULL,\n"
	"  updated          BIGINT NOT NULL\n"
	");\n"
	"CREATE TABLE campaign_devices (\n"
	"  campaign    TEXT NOT NULL REFERENCES campaigns (id),\n"
	"  serial      TEXT NOT NULL REFERENCES devices (serial),\n"
	"  phase       BIGINT NOT NULL CHECK (phase >= 0),\n"
	"  critical    BIGINT NOT NULL CHECK (critical IN (0, 1)),\n"
	"  approved_by TEXT,\n"
	"  offered     BIGINT NOT NULL CHECK (offered IN (0, 1)),\n"
	"  state       TEXT NOT NULL CHECK (state IN ('pending', 'awaiting-approval', 'offered', 'downloading',\n"
	"                'installed', 'awaiting-local-approval', 'booted', 'healthy', 'rolled-back', 'failed',\n"
	"                'cancelled')),\n"
	"  reason      TEXT NOT NULL,\n"
	"  updated     BIGINT NOT NULL,\n"
	"  PRIMARY KEY (campaign, serial)\n"
	");\n"
	"CREATE INDEX campaign_devices_serial ON campaign_devices (serial);\n"
	"CREATE INDEX campaign_devices_state ON campaign_devices (campaign, phase, state);\n"
	"CREATE INDEX audit_subject ON audit (subject, seq);\n"
	"CREATE TABLE model_harm (\n"
	"  model      TEXT PRIMARY KEY,\n"
	"  safety     BIGINT NOT NULL CHECK (safety BETWEEN 0 AND 3),\n"
	"  revenue    BIGINT NOT NULL CHECK (revenue BETWEEN 0 AND 3),\n"
	"  brand      BIGINT NOT NULL CHECK (brand BETWEEN 0 AND 3),\n"
	"  updated    BIGINT NOT NULL,\n"
	"  updated_by TEXT NOT NULL\n"
	");\n",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

size_t srv_store_migrations(const char **bootstrap, const char *const **sql)
{
	*bootstrap = schema_bootstrap;
	*sql = migrations;
	return N_MIGRATIONS;
}

/* ---- small helpers ------------------------------------------------------- */

#define NPARAM(a) (sizeof(a) / sizeof((a)[0]))
#define FIELD_SIZE(type, f) sizeof(((type *)0)->f)

enum {
	S_EMPTY_OK = 1,  /* "" is allowed */
	S_MULTILINE = 2, /* \n, \r and \t are allowed (PEM) */
	S_HEX = 4,       /* lower-case hex digits only */
};

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0) {
		n = 2;
		cp = c & 0x1F;
		min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3;
		cp = c & 0x0F;
		min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/*
 * Check a caller's string against the field of `size` bytes (NUL included) it
 * will be stored in and read back into. For fixed arrays pass sizeof: an
 * unterminated array is "too long".
 */
static ward_err check_str(const char *what, const char *s, size_t size, unsigned flags,
			  struct ward_msg *m)
{
	size_t len;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "%s is missing", what);
	len = strnlen(s, size);
	if (len >= size)
		return ward_msg_set(m, WARD_E_TOOBIG, "%s is longer than %zu bytes", what, size - 1);
	if (len == 0 && !(flags & S_EMPTY_OK))
		return ward_msg_set(m, WARD_E_INVAL, "%s is empty", what);
	for (size_t i = 0; i < len;) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t n = utf8_len(p);

		if (n == 0)
			return ward_msg_set(m, WARD_E_INVAL, "%s is not valid UTF-8 (byte %zu)", what, i);
		if ((flags & S_HEX) && !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return ward_msg_set(m, WARD_E_INVAL, "%s must be lower-case hex", what);
		if (*p < 0x20 || *p == 0x7f) {
			if (!((flags & S_MULTILINE) && (*p == '\n' || *p == '\r' || *p == '\t')))
				return ward_msg_set(m, WARD_E_INVAL, "%s contains a control character (byte %zu)",
						    what, i);
		}
		i += n;
	}
	return WARD_OK;
}

static ward_err parse_i64(const char *s, int64_t *out)
{
	uint64_t v;
	bool neg = s && s[0] == '-';

	if (!s || ward_parse_u64(s + neg, &v) != WARD_OK)
		return WARD_E_PARSE;
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return WARD_E_PARSE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return WARD_OK;
}

/* Column i of r as text into dst (size bytes): a stored value too long for its field is refused. */
ward_err srv_store_col_text(const struct srv_row *r, size_t i, char *dst, size_t size, const char *what,
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

ward_err srv_store_col_i64(const struct srv_row *r, size_t i, int64_t *out, const char *what,
			  struct ward_msg *m)
{
	if (i >= r->n || parse_i64(r->val[i], out) != WARD_OK)
		return ward_msg_set(m, WARD_E_PARSE, "stored %s is not an integer", what);
	return WARD_OK;
}

static ward_err col_time(const struct srv_row *r, size_t i, time_t *out, const char *what,
			 struct ward_msg *m)
{
	int64_t v;
	ward_err e = srv_store_col_i64(r, i, &v, what, m);

	if (e)
		return e;
	if ((int64_t)(time_t)v != v)
		return ward_msg_set(m, WARD_E_PARSE, "stored %s does not fit in time_t", what);
	*out = (time_t)v;
	return WARD_OK;
}

static const char *const status_names[] = {
	[SRV_DEVICE_ACTIVE] = "active",
	[SRV_DEVICE_REVOKED] = "revoked",
	[SRV_DEVICE_DECOMMISSIONED] = "decommissioned",
};

static const char *status_name(enum srv_device_status st)
{
	return (unsigned)st < NPARAM(status_names) ? status_names[st] : NULL;
}

static ward_err col_status(const struct srv_row *r, size_t i, enum srv_device_status *out,
			   struct ward_msg *m)
{
	for (size_t k = 0; k < NPARAM(status_names); k++) {
		if (i < r->n && r->val[i] && !strcmp(r->val[i], status_names[k])) {
			*out = (enum srv_device_status)k;
			return WARD_OK;
		}
	}
	return ward_msg_set(m, WARD_E_PARSE, "stored device status \"%s\" is unknown",
			    i < r->n && r->val[i] ? r->val[i] : "");
}

/*
 * At most one row, copied (primary-key lookups). Usage:
 *	struct one o = {0};
 *	e = query_one(s, SQL, p, NPARAM(p), &o, m);
 *	if (!e && o.found) e = srv_store_col_text(&o.row, 0, ...);
 *	one_free(&o);
 */
struct one {
	bool found;                      /* a row came back */
	char *val[SRV_MAX_COLS];         /* its columns (owned), NULL for SQL NULL */
	const char *cval[SRV_MAX_COLS];  /* the same, as the row's view */
	struct srv_row row;              /* the row, pointing at cval */
};

/* Release (and wipe: a row may hold a password hash) what query_one copied. */
static void one_free(struct one *o)
{
	for (size_t i = 0; i < SRV_MAX_COLS; i++) {
		if (o->val[i])
			ward_wipe(o->val[i], strlen(o->val[i]));
		free(o->val[i]);
	}
	memset(o, 0, sizeof(*o));
}

static ward_err one_row(void *ctx, const struct srv_row *r, struct ward_msg *m)
{
	struct one *o = ctx;

	if (o->found)
		return ward_msg_set(m, WARD_E_IO, "database: more than one row where one was expected");
	for (size_t i = 0; i < r->n; i++) {
		if (r->val[i] && !(o->val[i] = strdup(r->val[i])))
			return ward_msg_set(m, WARD_E_NOMEM, "out of memory reading a row");
		o->cval[i] = o->val[i];
	}
	o->row.n = r->n;
	o->row.val = o->cval;
	o->found = true;
	return WARD_OK;
}

static ward_err query_one(struct srv_store *s, const char *sql, const struct srv_param *p, size_t np,
			  struct one *o, struct ward_msg *m)
{
	one_free(o);
	return s->be->exec(s->conn, sql, p, np, one_row, o, NULL, m);
}

static ward_err exec(struct srv_store *s, const char *sql, const struct srv_param *p, size_t np,
		     uint64_t *changes, struct ward_msg *m)
{
	return s->be->exec(s->conn, sql, p, np, NULL, NULL, changes, m);
}

/* A lookup on its own, outside any transaction. */
struct lookup_ctx {
	const char *sql;             /* SELECT returning at most one row */
	const struct srv_param *p;   /* its parameters */
	size_t np;                   /* how many */
	struct one *o;               /* the row */
};

static ward_err lookup_body(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct lookup_ctx *c = arg;

	return query_one(s, c->sql, c->p, c->np, c->o, m);
}

typedef ward_err (*tx_body)(struct srv_store *s, void *ctx, struct ward_msg *m);

enum tx_mode {
	TX_NONE,  /* one statement on its own (atomic by itself) */
	TX_READ,  /* several reads that must see one snapshot */
	TX_WRITE, /* anything that changes the database */
	TX_WRITE_LAZY, /* a change that may be lost in a crash (check-in facts): no fsync wait */
};

#define TX_ATTEMPTS 10

/*
 * Run body (in one transaction unless TX_NONE); rerun it from the start, after
 * a short random pause, while the backend says the failure is transient. A
 * body must therefore (re)initialise whatever it writes to ctx.
 */
static ward_err run_tx(struct srv_store *s, enum tx_mode mode, tx_body body, void *ctx,
		       struct ward_msg *m)
{
	ward_err e = WARD_OK;

	for (int attempt = 1;; attempt++) {
		if (mode == TX_NONE) {
			e = body(s, ctx, m);
		} else {
			e = s->be->begin(s->conn,
					 mode == TX_READ ? SRV_TX_READ
					 : mode == TX_WRITE_LAZY ? SRV_TX_WRITE_LAZY : SRV_TX_WRITE, m);
			if (!e) {
				e = body(s, ctx, m);
				if (!e)
					e = s->be->commit(s->conn, m);
				if (e)
					s->be->rollback(s->conn);
			}
		}
		if (!e || attempt >= TX_ATTEMPTS || !s->be->retryable(s->conn))
			break;
		{
			uint16_t jitter = 0;
			struct timespec ts = {0, 0};

			if (ward_crypto_random(&jitter, sizeof(jitter)) != WARD_OK)
				jitter = 0;
			ts.tv_nsec = (long)attempt * 1000000L + (long)(jitter % 4096) * 1000L;
			nanosleep(&ts, NULL);
		}
	}
	if (e && s->be->retryable(s->conn))
		ward_msg_prefix(m, e, "gave up after %d attempts: ", TX_ATTEMPTS);
	return e;
}

/* query_one on its own, rerun when the backend says so (e.g. after a reconnect). */
static ward_err lookup(struct srv_store *s, const char *sql, const struct srv_param *p, size_t np,
		       struct one *o, struct ward_msg *m)
{
	struct lookup_ctx c = {sql, p, np, o};

	return run_tx(s, TX_NONE, lookup_body, &c, m);
}

/* ---- for the other store*.c files (server/store_internal.h) -------------- */

ward_err srv_store_exec(struct srv_store *s, const char *sql, const struct srv_param *p, size_t np,
			srv_row_fn fn, void *ctx, uint64_t *changes, struct ward_msg *m)
{
	return s->be->exec(s->conn, sql, p, np, fn, ctx, changes, m);
}

bool srv_store_row_locks(const struct srv_store *s)
{
	return s->be->row_locks;
}

ward_err srv_store_tx(struct srv_store *s, bool write, srv_store_tx_fn body, void *ctx,
		      struct ward_msg *m)
{
	return run_tx(s, write ? TX_WRITE : TX_READ, body, ctx, m);
}

ward_err srv_store_one(struct srv_store *s, srv_store_tx_fn body, void *ctx, struct ward_msg *m)
{
	return run_tx(s, TX_NONE, body, ctx, m);
}

ward_err srv_store_check_str(const char *what, const char *str, size_t size, bool empty_ok,
			     struct ward_msg *m)
{
	return check_str(what, str, size, empty_ok ? S_EMPTY_OK : 0, m);
}

/* ---- opening and migrations ---------------------------------------------- */

struct migrate_ctx {
	const char *name; /* backend name, for messages */
};

static ward_err migrate_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct migrate_ctx *c = arg;
	struct one o = {0};
	int64_t version = 0;
	ward_err e;

	e = s->be->lock(s->conn, SRV_LOCK_MIGRATE, m);
	if (!e)
		e = s->be->script(s->conn, schema_bootstrap, m);
	if (!e)
		e = query_one(s, "SELECT MAX(version) FROM schema_version", NULL, 0, &o, m);
	if (e)
		goto out;
	if (o.found && o.row.val[0]) {
		e = srv_store_col_i64(&o.row, 0, &version, "schema version", m);
		if (e)
			goto out;
	}
	if (version < 0 || version > (int64_t)N_MIGRATIONS) {
		e = ward_msg_set(m, WARD_E_UNSUPPORTED,
				 "the %s database has schema version %" PRId64 ", newer than this ward-server "
				 "knows (%zu): upgrade ward-server",
				 c->name, version, N_MIGRATIONS);
		goto out;
	}
	for (size_t v = (size_t)version; v < N_MIGRATIONS; v++) {
		const struct srv_param p[] = {SRV_I64(v + 1), SRV_I64(time(NULL))};

		e = s->be->script(s->conn, migrations[v], m);
		if (!e)
			e = exec(s, "INSERT INTO schema_version (version, applied) VALUES ($1, $2)", p,
				 NPARAM(p), NULL, m);
		if (e) {
			ward_msg_prefix(m, e, "migrating to schema version %zu: ", v + 1);
			goto out;
		}
	}
out:
	one_free(&o);
	return e;
}

void srv_store_close(struct srv_store *s)
{
	if (!s)
		return;
	if (s->be)
		s->be->close(s->conn);
	free(s);
}

ward_err srv_store_open(const char *uri, struct srv_store **out, struct ward_msg *m)
{
	struct srv_store *s = NULL;
	struct migrate_ctx mc;
	const char *arg;
	ward_err e;

	if (!uri || !out)
		return ward_msg_set(m, WARD_E_INVAL, "no database URI given");
	s = calloc(1, sizeof(*s));
	if (!s)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if (!strncmp(uri, "sqlite:", 7)) {
		s->be = &srv_backend_sqlite;
		arg = uri + 7;
	} else if (!strncmp(uri, "postgresql://", 13) || !strncmp(uri, "postgres://", 11)) {
		s->be = &srv_backend_pg;
		arg = uri;
	} else {
		/* not quoted: a mistyped PostgreSQL URI may hold a password */
		e = ward_msg_set(m, WARD_E_INVAL, "database URI must start with sqlite: or postgresql://");
		goto out;
	}
	e = s->be->open(arg, &s->conn, m);
	if (e) {
		s->be = NULL;
		goto out;
	}
	mc.name = s->be->name;
	e = run_tx(s, TX_WRITE, migrate_tx, &mc, m);
	if (e)
		goto out;
	*out = s;
	s = NULL;
out:
	srv_store_close(s);
	return e;
}

/* ---- the audit chain ----------------------------------------------------- */

#define AUDIT_HASH_HEX (2 * WARD_SHA256_LEN)
/* What one record's canonical JSON can take: the detail, event, subject and some. */
#define AUDIT_CANON_MAX (SRV_AUDIT_DETAIL_MAX + 2 * (SRV_AUDIT_EVENT_MAX + SRV_AUDIT_SUBJECT_MAX) + 256)

/* hash = SHA-256(prev || canonical JSON of the record); detail may be NULL. */
static ward_err audit_hash(const uint8_t prev[WARD_SHA256_LEN], int64_t seq, int64_t t,
			   const char *event, const char *subject, json_t *detail,
			   uint8_t out[WARD_SHA256_LEN], struct ward_msg *m)
{
	struct ward_hash *h = NULL;
	struct ward_buf canon;
	json_t *rec;
	ward_err e;

	ward_buf_init(&canon, AUDIT_CANON_MAX);
	rec = json_pack("{s:I, s:I, s:s, s:s, s:O}", "seq", (json_int_t)seq, "time", (json_int_t)t,
			"event", event, "subject", subject, "detail", detail ? detail : json_null());
	if (!rec) {
		e = ward_msg_set(m, WARD_E_PARSE, "audit record %" PRId64 " cannot be encoded as JSON", seq);
		goto out;
	}
	e = ward_json_canonical(rec, &canon, m);
	if (!e)
		e = ward_crypto_hash_new(WARD_HASH_SHA256, &h);
	if (!e)
		e = ward_crypto_hash_update(h, prev, WARD_SHA256_LEN);
	if (!e)
		e = ward_crypto_hash_update(h, canon.p, canon.len);
	if (!e)
		e = ward_crypto_hash_final(h, out);
out:
	ward_crypto_hash_free(h);
	json_decref(rec);
	ward_buf_free(&canon);
	return e;
}

/*
 * Append a record inside the caller's write transaction; detail (borrowed,
 * may be NULL) must be an object.
 */
static ward_err audit_append(struct srv_store *s, const char *event, const char *subject,
			     json_t *detail, int64_t now, struct ward_msg *m)
{
	uint8_t prev[WARD_SHA256_LEN] = {0}, hash[WARD_SHA256_LEN];
	char prev_hex[AUDIT_HASH_HEX + 1], hash_hex[AUDIT_HASH_HEX + 1];
	struct ward_buf dtext;
	struct one o = {0};
	int64_t seq = 0;
	ward_err e;

	ward_buf_init(&dtext, SRV_AUDIT_DETAIL_MAX);
	e = s->be->lock(s->conn, SRV_LOCK_AUDIT, m);
	if (!e)
		e = query_one(s, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", NULL, 0, &o, m);
	if (e)
		goto out;
	if (o.found) {
		e = srv_store_col_i64(&o.row, 0, &seq, "audit seq", m);
		if (e)
			goto out;
		if (!o.row.val[1] || strlen(o.row.val[1]) != AUDIT_HASH_HEX ||
		    ward_hex_decode(o.row.val[1], prev, sizeof(prev)) != WARD_OK) {
			e = ward_msg_set(m, WARD_E_VERIFY,
					 "the audit log's last record (seq %" PRId64 ") has a malformed hash: "
					 "refusing to extend it; run the audit verification",
					 seq);
			goto out;
		}
		if (seq == INT64_MAX) {
			e = ward_msg_set(m, WARD_E_TOOBIG, "the audit log is full");
			goto out;
		}
	}
	seq++;
	if (detail) {
		e = ward_json_canonical(detail, &dtext, m);
		if (e) {
			ward_msg_prefix(m, e, "audit detail: ");
			goto out;
		}
	}
	e = audit_hash(prev, seq, now, event, subject, detail, hash, m);
	if (e)
		goto out;
	ward_hex_encode(prev, sizeof(prev), prev_hex);
	ward_hex_encode(hash, sizeof(hash), hash_hex);
	{
		const struct srv_param p[] = {
			SRV_I64(seq),
			SRV_I64(now),
			SRV_TEXT(event),
			SRV_TEXT(subject),
			detail ? SRV_TEXT((const char *)dtext.p) : SRV_NULL,
			SRV_TEXT(prev_hex),
			SRV_TEXT(hash_hex),
		};

		e = exec(s,
			 "INSERT INTO audit (seq, time, event, subject, detail, prev_hash, hash) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7)",
			 p, NPARAM(p), NULL, m);
	}
	if (e)
		ward_msg_prefix(m, e, "appending audit record %" PRId64 ": ", seq);
out:
	one_free(&o);
	ward_buf_free(&dtext);
	return e;
}

static ward_err check_event(const char *event, const char *subject, struct ward_msg *m)
{
	ward_err e = check_str("audit event", event, SRV_AUDIT_EVENT_MAX + 1, 0, m);

	if (!e)
		e = check_str("audit subject", subject, SRV_AUDIT_SUBJECT_MAX + 1, S_EMPTY_OK, m);
	return e;
}

ward_err srv_store_audit_append(struct srv_store *s, const char *event, const char *subject,
				struct json_t *detail, int64_t now, struct ward_msg *m)
{
	ward_err e = check_event(event, subject, m);

	if (!e && detail && !json_is_object(detail))
		e = ward_msg_set(m, WARD_E_INVAL, "audit detail must be a JSON object");
	return e ? e : audit_append(s, event, subject, detail, now, m);
}

struct audit_ctx {
	const char *event, *subject; /* validated */
	json_t *detail;              /* parsed object or NULL */
};

static ward_err audit_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct audit_ctx *c = arg;

	return audit_append(s, c->event, c->subject, c->detail, (int64_t)time(NULL), m);
}

ward_err srv_audit(struct srv_store *s, const char *event, const char *subject, const char *detail,
		   struct ward_msg *m)
{
	struct audit_ctx c = {.event = event, .subject = subject};
	ward_err e;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "no store");
	e = check_event(event, subject, m);
	if (e)
		return e;
	if (detail) {
		e = ward_json_parse(detail, strlen(detail), SRV_AUDIT_DETAIL_MAX, &c.detail, m);
		if (e)
			return ward_msg_prefix(m, e, "audit detail: ");
		if (!json_is_object(c.detail)) {
			e = ward_msg_set(m, WARD_E_INVAL, "audit detail must be a JSON object");
			goto out;
		}
	}
	e = run_tx(s, TX_WRITE, audit_tx, &c, m);
out:
	json_decref(c.detail);
	return e;
}

/*
 * The verifier walks the records in seq order, keeping the previous record's
 * stored hash. A record whose content does not hash to its stored hash is
 * held as "pending" until the next record says which story fits: if the next
 * prev_hash matches the stored hash, only the content changed (edited); if
 * not, the record was put there whole (inserted or replaced).
 */
struct verify_ctx {
	uint64_t good;                      /* records verified */
	int64_t expect;                     /* the seq the next record must have */
	char prev_hex[AUDIT_HASH_HEX + 1];  /* stored hash of the previous record */
	bool pending;                       /* the previous record's hash did not recompute */
	int64_t pending_seq;                /* ... which record that was */
	bool broken;                        /* a verdict was reached; m says it */
};

static void verify_edited(struct verify_ctx *v, struct ward_msg *m)
{
	ward_msg_set(m, WARD_E_VERIFY,
		     "audit record %" PRId64 " was edited: its content does not match its hash",
		     v->pending_seq);
	v->broken = true;
}

/* Recompute one record's hash; false when it does not match (or cannot be computed). */
static bool verify_record(const struct srv_row *r, int64_t seq)
{
	uint8_t prev[WARD_SHA256_LEN], want[WARD_SHA256_LEN], got[WARD_SHA256_LEN];
	json_t *detail = NULL;
	int64_t t;
	bool ok = false;

	if (srv_store_col_i64(r, 1, &t, "audit time", NULL) != WARD_OK || !r->val[2] || !r->val[3] ||
	    !r->val[5] || !r->val[6] || strlen(r->val[5]) != AUDIT_HASH_HEX ||
	    strlen(r->val[6]) != AUDIT_HASH_HEX ||
	    ward_hex_decode(r->val[5], prev, sizeof(prev)) != WARD_OK ||
	    ward_hex_decode(r->val[6], want, sizeof(want)) != WARD_OK)
		goto out;
	if (r->val[4] && (ward_json_parse(r->val[4], strlen(r->val[4]), SRV_AUDIT_DETAIL_MAX, &detail,
					  NULL) != WARD_OK ||
			  !json_is_object(detail)))
		goto out;
	if (audit_hash(prev, seq, t, r->val[2], r->val[3], detail, got, NULL) != WARD_OK)
		goto out;
	ok = ward_ct_eq(got, want, sizeof(got));
out:
	json_decref(detail);
	return ok;
}

static ward_err verify_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct verify_ctx *v = arg;
	const char *prev_hash = r->val[5] ? r->val[5] : "";
	int64_t seq = 0;

	if (v->broken)
		return WARD_OK; /* the verdict stands; the remaining rows are drained unread */
	if (srv_store_col_i64(r, 0, &seq, "audit seq", m) != WARD_OK) {
		v->broken = true;
		ward_msg_set(m, WARD_E_VERIFY, "an audit record after seq %" PRId64 " has no valid seq",
			     v->expect - 1);
		return WARD_OK;
	}
	if (v->pending) {
		if (!strcmp(prev_hash, v->prev_hex)) {
			verify_edited(v, m);
		} else {
			ward_msg_set(m, WARD_E_VERIFY,
				     "audit record %" PRId64 " was inserted or replaced: its hash matches "
				     "neither its content nor record %" PRId64 "'s prev_hash",
				     v->pending_seq, seq);
			v->broken = true;
		}
		return WARD_OK;
	}
	if (seq != v->expect) {
		if (seq < v->expect)
			ward_msg_set(m, WARD_E_VERIFY, "audit record %" PRId64 " was inserted or reordered",
				     seq);
		else if (v->expect == 1)
			ward_msg_set(m, WARD_E_VERIFY,
				     "a record was removed before seq %" PRId64 " (the log starts at seq %" PRId64
				     ", not 1)",
				     seq, seq);
		else
			ward_msg_set(m, WARD_E_VERIFY,
				     "a record was removed before seq %" PRId64 " (seq %" PRId64
				     " follows seq %" PRId64 ")",
				     seq, seq, v->expect - 1);
		v->broken = true;
		return WARD_OK;
	}
	if (strcmp(prev_hash, v->prev_hex) != 0) {
		if (seq == 1)
			ward_msg_set(m, WARD_E_VERIFY,
				     "audit record 1 was inserted or reordered: the first record's prev_hash "
				     "is not zero");
		else
			ward_msg_set(m, WARD_E_VERIFY,
				     "audit record %" PRId64 " was inserted or reordered: its prev_hash does "
				     "not match the hash of record %" PRId64 " (or record %" PRId64
				     " was rewritten with a new hash)",
				     seq, seq - 1, seq - 1);
		v->broken = true;
		return WARD_OK;
	}
	if (verify_record(r, seq)) {
		v->good++;
	} else {
		v->pending = true;
		v->pending_seq = seq;
	}
	if (r->val[6] && strlen(r->val[6]) == AUDIT_HASH_HEX)
		memcpy(v->prev_hex, r->val[6], AUDIT_HASH_HEX + 1);
	else
		v->prev_hex[0] = '\0'; /* matches no 64-character prev_hash */
	v->expect = seq + 1;
	return WARD_OK;
}

static ward_err verify_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct verify_ctx *v = arg;
	ward_err e;

	memset(v, 0, sizeof(*v));
	v->expect = 1;
	memset(v->prev_hex, '0', AUDIT_HASH_HEX);
	v->prev_hex[AUDIT_HASH_HEX] = '\0';
	e = s->be->exec(s->conn,
			"SELECT seq, time, event, subject, detail, prev_hash, hash FROM audit ORDER BY seq",
			NULL, 0, verify_row, v, NULL, m);
	if (!e && !v->broken && v->pending)
		verify_edited(v, m); /* the last record: nothing follows to say otherwise */
	return e;
}

ward_err srv_audit_verify(struct srv_store *s, uint64_t *records, struct ward_msg *m)
{
	struct verify_ctx v;
	ward_err e;

	if (!s || !records)
		return ward_msg_set(m, WARD_E_INVAL, "no store or no place for the record count");
	e = run_tx(s, TX_READ, verify_tx, &v, m);
	if (e)
		return e;
	if (v.broken || v.pending)
		return WARD_E_VERIFY; /* m says which record */
	*records = v.good;
	return WARD_OK;
}

/* ---- production batches -------------------------------------------------- */

struct batch_ctx {
	const struct srv_batch *b; /* validated */
};

static ward_err batch_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	const struct srv_batch *b = ((struct batch_ctx *)arg)->b;
	const struct srv_param pid[] = {SRV_TEXT(b->id)};
	const struct srv_param puser[] = {SRV_TEXT(b->username)};
	const struct srv_param p[] = {
		SRV_TEXT(b->id),    SRV_TEXT(b->username), SRV_TEXT(b->pass_hash), SRV_TEXT(b->model),
		SRV_I64(b->count),  SRV_I64(b->used),      SRV_I64(b->expires),    SRV_I64(b->created),
	};
	struct one o = {0};
	ward_err e;

	e = query_one(s, "SELECT 1 FROM batches WHERE id = $1", pid, 1, &o, m);
	if (!e && o.found)
		e = ward_msg_set(m, WARD_E_EXISTS, "a production batch with id %s exists", b->id);
	if (!e)
		e = query_one(s, "SELECT 1 FROM batches WHERE username = $1", puser, 1, &o, m);
	if (!e && o.found)
		e = ward_msg_set(m, WARD_E_EXISTS,
				 "the EST user name \"%s\" belongs to another production batch", b->username);
	if (!e)
		e = exec(s,
			 "INSERT INTO batches (id, username, pass_hash, model, count, used, expires, created) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			 p, NPARAM(p), NULL, m);
	if (e == WARD_E_EXISTS && !o.found) /* a concurrent create won */
		e = ward_msg_set(m, e, "production batch %s or its user name \"%s\" exists", b->id,
				 b->username);
	if (!e) {
		/* the audit record is part of the same transaction: no batch without its record */
		char exp[21];
		json_t *d;

		ward_tuf_time_format(b->expires, exp);
		d = json_pack("{s:s,s:s,s:I,s:s}", "username", b->username, "model", b->model, "count",
			      (json_int_t)b->count, "expires", exp);

		e = d ? audit_append(s, "batch-create", b->id, d, (int64_t)b->created, m)
		      : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		json_decref(d);
	}
	one_free(&o);
	return e;
}

ward_err srv_batch_create(struct srv_store *s, const struct srv_batch *b, struct ward_msg *m)
{
	struct batch_ctx c;
	ward_err e;

	if (!s || !b)
		return ward_msg_set(m, WARD_E_INVAL, "no store or no batch");
	e = check_str("batch id", b->id, sizeof(b->id), 0, m);
	if (!e)
		e = check_str("batch user name", b->username, sizeof(b->username), 0, m);
	if (!e)
		e = check_str("batch password hash", b->pass_hash, sizeof(b->pass_hash), 0, m);
	if (!e)
		e = check_str("batch model", b->model, sizeof(b->model), 0, m);
	if (e)
		return e;
	if (b->count < 0 || b->used < 0 || b->used > b->count)
		return ward_msg_set(m, WARD_E_INVAL,
				    "batch %s: count (%" PRId64 ") and used (%" PRId64 ") must satisfy "
				    "0 <= used <= count",
				    b->id, b->count, b->used);
	c.b = b;
	return run_tx(s, TX_WRITE, batch_tx, &c, m);
}

ward_err srv_batch_by_username(struct srv_store *s, const char *username, struct srv_batch *out,
			       struct ward_msg *m)
{
	struct srv_batch b;
	struct one o = {0};
	ward_err e;

	if (!s || !out)
		return ward_msg_set(m, WARD_E_INVAL, "no store or no place for the batch");
	e = check_str("batch user name", username, sizeof(b.username), 0, m);
	if (e)
		return e;
	memset(&b, 0, sizeof(b));
	{
		const struct srv_param p[] = {SRV_TEXT(username)};

		e = lookup(s,
			   "SELECT id, username, pass_hash, model, count, used, expires, created "
			   "FROM batches WHERE username = $1",
			   p, 1, &o, m);
	}
	if (e)
		goto out;
	if (!o.found) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "no production batch has the user name \"%s\"",
				 username);
		goto out;
	}
	e = srv_store_col_text(&o.row, 0, b.id, sizeof(b.id), "batch id", m);
	if (!e)
		e = srv_store_col_text(&o.row, 1, b.username, sizeof(b.username), "batch user name", m);
	if (!e)
		e = srv_store_col_text(&o.row, 2, b.pass_hash, sizeof(b.pass_hash), "batch password hash", m);
	if (!e)
		e = srv_store_col_text(&o.row, 3, b.model, sizeof(b.model), "batch model", m);
	if (!e)
		e = srv_store_col_i64(&o.row, 4, &b.count, "batch count", m);
	if (!e)
		e = srv_store_col_i64(&o.row, 5, &b.used, "batch used", m);
	if (!e)
		e = col_time(&o.row, 6, &b.expires, "batch expiry", m);
	if (!e)
		e = col_time(&o.row, 7, &b.created, "batch creation time", m);
	if (e)
		goto out;
	*out = b;
out:
	ward_wipe(&b, sizeof(b)); /* it held the password hash */
	one_free(&o);
	return e;
}

/* ---- devices ------------------------------------------------------------- */

static ward_err check_cert(const char *cert_serial, const char *pem, struct ward_msg *m)
{
	ward_err e = check_str("certificate serial", cert_serial, SRV_CERT_SERIAL_MAX + 1, S_HEX, m);

	if (!e)
		e = check_str("certificate PEM", pem, SRV_CERT_PEM_MAX + 1, S_MULTILINE, m);
	return e;
}

struct enroll_ctx {
	const char *batch_id, *serial, *model, *cert_serial, *pem; /* the caller's, validated */
	int64_t not_after; /* the certificate's expiry */
	int64_t now;       /* enrolment time (the same on every attempt) */
};

static ward_err enroll_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct enroll_ctx *c = arg;
	const struct srv_param pbatch[] = {SRV_TEXT(c->batch_id)};
	const struct srv_param pserial[] = {SRV_TEXT(c->serial)};
	const struct srv_param pcert[] = {SRV_TEXT(c->cert_serial)};
	const struct srv_param pdev[] = {
		SRV_TEXT(c->serial), SRV_TEXT(c->model), SRV_TEXT(c->batch_id), SRV_TEXT(c->cert_serial),
		SRV_I64(c->not_after), SRV_I64(c->now),
	};
	const struct srv_param pcrt[] = {
		SRV_TEXT(c->cert_serial), SRV_TEXT(c->serial), SRV_TEXT(c->pem), SRV_I64(c->not_after),
		SRV_I64(c->now),
	};
	char model[FIELD_SIZE(struct srv_batch, model)];
	int64_t count, used, expires;
	uint64_t changed = 0;
	json_t *detail = NULL;
	struct one o = {0};
	ward_err e;

	/* The batch row is locked (PostgreSQL) or the database is (SQLite) until commit. */
	e = query_one(s,
		      s->be->row_locks
			      ? "SELECT model, count, used, expires FROM batches WHERE id = $1 FOR UPDATE"
			      : "SELECT model, count, used, expires FROM batches WHERE id = $1",
		      pbatch, 1, &o, m);
	if (e)
		goto out;
	if (!o.found) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "production batch %s does not exist", c->batch_id);
		goto out;
	}
	e = srv_store_col_text(&o.row, 0, model, sizeof(model), "batch model", m);
	if (!e)
		e = srv_store_col_i64(&o.row, 1, &count, "batch count", m);
	if (!e)
		e = srv_store_col_i64(&o.row, 2, &used, "batch used", m);
	if (!e)
		e = srv_store_col_i64(&o.row, 3, &expires, "batch expiry", m);
	if (e)
		goto out;
	if (c->now > expires) {
		e = ward_msg_set(m, WARD_E_EXPIRED,
				 "production batch %s expired at %" PRId64 " (now %" PRId64 ")", c->batch_id,
				 expires, c->now);
		goto out;
	}
	if (strcmp(model, c->model) != 0) {
		e = ward_msg_set(m, WARD_E_DENIED,
				 "production batch %s may enrol model \"%s\", not \"%s\"", c->batch_id,
				 model, c->model);
		goto out;
	}
	e = query_one(s, "SELECT 1 FROM devices WHERE serial = $1", pserial, 1, &o, m);
	if (!e && o.found)
		e = ward_msg_set(m, WARD_E_EXISTS, "device %s is already enrolled", c->serial);
	if (!e)
		e = query_one(s, "SELECT 1 FROM certs WHERE serial = $1", pcert, 1, &o, m);
	if (!e && o.found)
		e = ward_msg_set(m, WARD_E_EXISTS, "a certificate with serial %s is already recorded",
				 c->cert_serial);
	if (e)
		goto out;
	if (used >= count) {
		e = ward_msg_set(m, WARD_E_DENIED,
				 "production batch %s has used all %" PRId64 " of its enrolments",
				 c->batch_id, count);
		goto out;
	}
	e = exec(s, "UPDATE batches SET used = used + 1 WHERE id = $1 AND used < count", pbatch, 1,
		 &changed, m);
	if (!e && changed != 1)
		e = ward_msg_set(m, WARD_E_IO, "production batch %s changed during enrolment", c->batch_id);
	if (!e)
		e = exec(s,
			 "INSERT INTO devices (serial, model, batch_id, status, cert_serial, cert_not_after, "
			 "enrolled, last_seen, facts) VALUES ($1, $2, $3, 'active', $4, $5, $6, $6, '')",
			 pdev, NPARAM(pdev), NULL, m);
	if (e == WARD_E_EXISTS) { /* another server enrolled the same serial meanwhile */
		e = ward_msg_set(m, e, "device %s is already enrolled", c->serial);
		goto out;
	}
	if (!e)
		e = exec(s,
			 "INSERT INTO certs (serial, device_serial, pem, not_after, issued, revoked_at) "
			 "VALUES ($1, $2, $3, $4, $5, NULL)",
			 pcrt, NPARAM(pcrt), NULL, m);
	if (e == WARD_E_EXISTS) {
		e = ward_msg_set(m, e, "a certificate with serial %s is already recorded", c->cert_serial);
		goto out;
	}
	if (e)
		goto out;
	detail = json_pack("{s:s, s:s, s:s, s:I}", "batch", c->batch_id, "model", c->model,
			   "cert_serial", c->cert_serial, "not_after", (json_int_t)c->not_after);
	if (!detail) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	e = audit_append(s, "enroll", c->serial, detail, c->now, m);
out:
	json_decref(detail);
	one_free(&o);
	return e;
}

ward_err srv_enroll(struct srv_store *s, const char *batch_id, const char *serial, const char *model,
		    const char *cert_serial, const char *cert_pem, time_t not_after, struct ward_msg *m)
{
	struct enroll_ctx c = {batch_id, serial, model, cert_serial, cert_pem, (int64_t)not_after,
			       (int64_t)time(NULL)};
	ward_err e;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "no store");
	e = check_str("batch id", batch_id, FIELD_SIZE(struct srv_device, batch_id), 0, m);
	if (!e)
		e = check_str("device serial", serial, FIELD_SIZE(struct srv_device, serial), 0, m);
	if (!e)
		e = check_str("device model", model, FIELD_SIZE(struct srv_device, model), 0, m);
	if (!e)
		e = check_cert(cert_serial, cert_pem, m);
	if (e)
		return e;
	return run_tx(s, TX_WRITE, enroll_tx, &c, m);
}

struct renew_ctx {
	const char *serial, *cert_serial, *pem; /* the caller's, validated */
	int64_t not_after; /* the new certificate's expiry */
	int64_t now;       /* issue time (the same on every attempt) */
};

static ward_err renew_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct renew_ctx *c = arg;
	const struct srv_param pserial[] = {SRV_TEXT(c->serial)};
	const struct srv_param pcert[] = {SRV_TEXT(c->cert_serial)};
	const struct srv_param pcrt[] = {
		SRV_TEXT(c->cert_serial), SRV_TEXT(c->serial), SRV_TEXT(c->pem), SRV_I64(c->not_after),
		SRV_I64(c->now),
	};
	const struct srv_param pdev[] = {SRV_TEXT(c->serial), SRV_TEXT(c->cert_serial),
					 SRV_I64(c->not_after)};
	char previous[SRV_CERT_SERIAL_MAX + 1];
	enum srv_device_status st = SRV_DEVICE_REVOKED; /* fail closed until read */
	json_t *detail = NULL;
	struct one o = {0};
	ward_err e;

	e = query_one(s,
		      s->be->row_locks ? "SELECT status, cert_serial FROM devices WHERE serial = $1 FOR UPDATE"
				       : "SELECT status, cert_serial FROM devices WHERE serial = $1",
		      pserial, 1, &o, m);
	if (e)
		goto out;
	if (!o.found) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "device %s is not enrolled", c->serial);
		goto out;
	}
	e = col_status(&o.row, 0, &st, m);
	if (!e)
		e = srv_store_col_text(&o.row, 1, previous, sizeof(previous), "certificate serial", m);
	if (e)
		goto out;
	if (st != SRV_DEVICE_ACTIVE) {
		e = ward_msg_set(m, WARD_E_DENIED, "device %s is %s: its certificate cannot be renewed",
				 c->serial, status_name(st));
		goto out;
	}
	e = query_one(s, "SELECT 1 FROM certs WHERE serial = $1", pcert, 1, &o, m);
	if (!e && o.found)
		e = ward_msg_set(m, WARD_E_EXISTS, "a certificate with serial %s is already recorded",
				 c->cert_serial);
	if (!e)
		e = exec(s,
			 "INSERT INTO certs (serial, device_serial, pem, not_after, issued, revoked_at) "
			 "VALUES ($1, $2, $3, $4, $5, NULL)",
			 pcrt, NPARAM(pcrt), NULL, m);
	if (e == WARD_E_EXISTS && !o.found)
		e = ward_msg_set(m, e, "a certificate with serial %s is already recorded", c->cert_serial);
	if (!e)
		e = exec(s, "UPDATE devices SET cert_serial = $2, cert_not_after = $3 WHERE serial = $1",
			 pdev, NPARAM(pdev), NULL, m);
	if (e)
		goto out;
	detail = json_pack("{s:s, s:s, s:I}", "cert_serial", c->cert_serial, "previous", previous,
			   "not_after", (json_int_t)c->not_after);
	if (!detail) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	e = audit_append(s, "renew", c->serial, detail, c->now, m);
out:
	json_decref(detail);
	one_free(&o);
	return e;
}

ward_err srv_renew(struct srv_store *s, const char *serial, const char *cert_serial,
		   const char *cert_pem, time_t not_after, struct ward_msg *m)
{
	struct renew_ctx c = {serial, cert_serial, cert_pem, (int64_t)not_after, (int64_t)time(NULL)};
	ward_err e;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "no store");
	e = check_str("device serial", serial, FIELD_SIZE(struct srv_device, serial), 0, m);
	if (!e)
		e = check_cert(cert_serial, cert_pem, m);
	if (e)
		return e;
	return run_tx(s, TX_WRITE, renew_tx, &c, m);
}

#define DEVICE_COLS SRV_DEVICE_COLS

ward_err srv_store_device_from_row(const struct srv_row *r, struct srv_device *d, struct ward_msg *m)
{
	ward_err e;

	memset(d, 0, sizeof(*d));
	e = srv_store_col_text(r, 0, d->serial, sizeof(d->serial), "device serial", m);
	if (!e)
		e = srv_store_col_text(r, 1, d->model, sizeof(d->model), "device model", m);
	if (!e)
		e = srv_store_col_text(r, 2, d->batch_id, sizeof(d->batch_id), "device batch", m);
	if (!e)
		e = col_status(r, 3, &d->status, m);
	if (!e)
		e = srv_store_col_text(r, 4, d->cert_serial, sizeof(d->cert_serial), "certificate serial", m);
	if (!e)
		e = col_time(r, 5, &d->cert_not_after, "certificate expiry", m);
	if (!e)
		e = col_time(r, 6, &d->enrolled, "enrolment time", m);
	if (!e)
		e = col_time(r, 7, &d->last_seen, "last check-in time", m);
	if (!e)
		e = srv_store_col_text(r, 8, d->facts, sizeof(d->facts), "device facts", m);
	return e;
}

ward_err srv_device_get(struct srv_store *s, const char *serial, struct srv_device *out,
			struct ward_msg *m)
{
	struct srv_device *d = NULL;
	struct one o = {0};
	ward_err e;

	if (!s || !out)
		return ward_msg_set(m, WARD_E_INVAL, "no store or no place for the device");
	e = check_str("device serial", serial, sizeof(out->serial), 0, m);
	if (e)
		return e;
	{
		const struct srv_param p[] = {SRV_TEXT(serial)};

		e = lookup(s, "SELECT " DEVICE_COLS " FROM devices WHERE serial = $1", p, 1, &o, m);
	}
	if (e)
		goto out;
	if (!o.found) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "device %s is not enrolled", serial);
		goto out;
	}
	d = malloc(sizeof(*d));
	if (!d) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	e = srv_store_device_from_row(&o.row, d, m);
	if (!e)
		*out = *d;
out:
	free(d);
	one_free(&o);
	return e;
}

ward_err srv_cert_status(struct srv_store *s, const char *cert_serial, char *device_serial, size_t n,
			 enum srv_device_status *status, bool *current, struct ward_msg *m)
{
	char dev[FIELD_SIZE(struct srv_device, serial)];
	char cur[SRV_CERT_SERIAL_MAX + 1];
	enum srv_device_status st = SRV_DEVICE_REVOKED; /* fail closed until read */
	struct one o = {0};
	size_t len;
	ward_err e;

	if (!s || !device_serial || !status || !current)
		return ward_msg_set(m, WARD_E_INVAL, "no store or no place for the answer");
	e = check_str("certificate serial", cert_serial, SRV_CERT_SERIAL_MAX + 1, S_HEX, m);
	if (e)
		return e;
	{
		const struct srv_param p[] = {SRV_TEXT(cert_serial)};

		e = lookup(s,
			   "SELECT c.device_serial, d.status, d.cert_serial, c.revoked_at "
			   "FROM certs c JOIN devices d ON d.serial = c.device_serial WHERE c.serial = $1",
			   p, 1, &o, m);
	}
	if (e)
		goto out;
	if (!o.found) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "no device holds a certificate with serial %s",
				 cert_serial);
		goto out;
	}
	e = srv_store_col_text(&o.row, 0, dev, sizeof(dev), "device serial", m);
	if (!e)
		e = col_status(&o.row, 1, &st, m);
	if (!e)
		e = srv_store_col_text(&o.row, 2, cur, sizeof(cur), "certificate serial", m);
	if (e)
		goto out;
	len = strlen(dev);
	if (len >= n) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "device serial %s does not fit in %zu bytes", dev, n);
		goto out;
	}
	memcpy(device_serial, dev, len + 1);
	*status = st;
	/* current only when it is the device's latest certificate and not revoked */
	*current = !strcmp(cur, cert_serial) && o.row.val[3] == NULL && st == SRV_DEVICE_ACTIVE;
out:
	one_free(&o);
	return e;
}

struct status_ctx {
	const char *serial;          /* validated */
	enum srv_device_status st;   /* the new status */
	int64_t now;                 /* revocation time for the CRL */
};

static ward_err status_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct status_ctx *c = arg;
	const struct srv_param pserial[] = {SRV_TEXT(c->serial)};
	const struct srv_param pdev[] = {SRV_TEXT(c->serial), SRV_TEXT(status_name(c->st))};
	const struct srv_param pcrt[] = {SRV_TEXT(c->serial), SRV_I64(c->now)};
	enum srv_device_status cur = SRV_DEVICE_DECOMMISSIONED; /* fail closed until read */
	struct one o = {0};
	ward_err e;

	e = query_one(s,
		      s->be->row_locks ? "SELECT status FROM devices WHERE serial = $1 FOR UPDATE"
				       : "SELECT status FROM devices WHERE serial = $1",
		      pserial, 1, &o, m);
	if (e)
		goto out;
	if (!o.found) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "device %s is not enrolled", c->serial);
		goto out;
	}
	e = col_status(&o.row, 0, &cur, m);
	if (e || cur == c->st)
		goto out; /* already so: nothing to change */
	if (c->st == SRV_DEVICE_ACTIVE || cur == SRV_DEVICE_DECOMMISSIONED) {
		e = ward_msg_set(m, WARD_E_DENIED,
				 "device %s is %s and cannot become %s (a device that was revoked or "
				 "decommissioned never comes back)",
				 c->serial, status_name(cur), status_name(c->st));
		goto out;
	}
	e = exec(s, "UPDATE devices SET status = $2 WHERE serial = $1", pdev, NPARAM(pdev), NULL, m);
	if (!e)
		e = exec(s,
			 "UPDATE certs SET revoked_at = $2 WHERE device_serial = $1 AND revoked_at IS NULL",
			 pcrt, NPARAM(pcrt), NULL, m);
	if (!e) {
		/* audited in the same transaction as the change it records */
		json_t *d = json_pack("{s:s,s:s}", "from", status_name(cur), "to", status_name(c->st));

		e = d ? audit_append(s, c->st == SRV_DEVICE_REVOKED ? "device-revoke" : "device-decommission", c->serial,
				     d, c->now, m)
		      : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		json_decref(d);
	}
out:
	one_free(&o);
	return e;
}

ward_err srv_device_set_status(struct srv_store *s, const char *serial, enum srv_device_status st,
			       struct ward_msg *m)
{
	struct status_ctx c = {serial, st, (int64_t)time(NULL)};
	ward_err e;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "no store");
	e = check_str("device serial", serial, FIELD_SIZE(struct srv_device, serial), 0, m);
	if (e)
		return e;
	if (!status_name(st))
		return ward_msg_set(m, WARD_E_INVAL, "device status %d is not one ward knows", (int)st);
	return run_tx(s, TX_WRITE, status_tx, &c, m);
}

struct checkin_ctx {
	const char *serial, *facts; /* validated ("" for no facts) */
	int64_t now;                /* the check-in's time */
};

static ward_err checkin_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct checkin_ctx *c = arg;
	const struct srv_param p[] = {SRV_TEXT(c->serial), SRV_TEXT(c->facts), SRV_I64(c->now)};
	const struct srv_param pserial[] = {SRV_TEXT(c->serial)};
	enum srv_device_status st = SRV_DEVICE_REVOKED; /* fail closed until read */
	uint64_t changed = 0;
	struct one o = {0};
	ward_err e;

	/* A check-in older than the last one recorded (write-behind batches may
	 * arrive out of order) changes nothing. */
	e = exec(s,
		 "UPDATE devices SET facts = $2, last_seen = $3 "
		 "WHERE serial = $1 AND status = 'active' AND last_seen <= $3",
		 p, NPARAM(p), &changed, m);
	if (e || changed == 1)
		goto out;
	e = query_one(s, "SELECT status FROM devices WHERE serial = $1", pserial, 1, &o, m);
	if (e)
		goto out;
	if (!o.found) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "device %s is not enrolled", c->serial);
		goto out;
	}
	e = col_status(&o.row, 0, &st, m);
	if (!e && st != SRV_DEVICE_ACTIVE)
		e = ward_msg_set(m, WARD_E_DENIED, "device %s is %s: its check-in is refused", c->serial,
				 status_name(st));
out:
	one_free(&o);
	return e;
}

/* The checks srv_checkin makes before touching the database. */
static ward_err checkin_valid(const char *serial, const char *facts, struct ward_msg *m)
{
	json_t *v = NULL;
	ward_err e;

	e = check_str("device serial", serial, FIELD_SIZE(struct srv_device, serial), 0, m);
	if (!e)
		e = check_str("check-in facts", facts, FIELD_SIZE(struct srv_device, facts), S_EMPTY_OK | S_MULTILINE, m);
	if (e)
		return e;
	if (facts[0]) {
		e = ward_json_parse(facts, strlen(facts), FIELD_SIZE(struct srv_device, facts) - 1, &v, m);
		if (e)
			return ward_msg_prefix(m, e, "check-in facts of %s: ", serial);
		if (!json_is_object(v)) {
			json_decref(v);
			return ward_msg_set(m, WARD_E_PARSE, "check-in facts of %s: not a JSON object", serial);
		}
		json_decref(v);
	}
	return WARD_OK;
}

struct many_ctx {
	struct srv_checkin_rec *r; /* results are (re)written by every attempt */
	const ward_err *valid;     /* per record: what checkin_valid said */
	size_t n;
};

static ward_err checkin_many_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct many_ctx *c = arg;

	for (size_t i = 0; i < c->n; i++) {
		struct checkin_ctx one = {c->r[i].serial, c->r[i].facts, (int64_t)c->r[i].now};
		struct ward_msg mm = {{0}};
		ward_err e;

		c->r[i].result = c->valid[i];
		if (c->valid[i])
			continue;
		e = checkin_tx(s, &one, &mm);
		if (e == WARD_E_NOTFOUND || e == WARD_E_DENIED) {
			c->r[i].result = e; /* about this device only */
			continue;
		}
		if (e)
			return ward_msg_set(m, e, "%s", mm.text); /* the database: the whole batch */
	}
	return WARD_OK;
}

ward_err srv_checkin_many(struct srv_store *s, struct srv_checkin_rec *r, size_t n,
			  struct ward_msg *m)
{
	ward_err *valid, e;
	struct many_ctx c;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "no store");
	if (n == 0)
		return WARD_OK;
	valid = calloc(n, sizeof(*valid));
	if (!valid)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct ward_msg mm = {{0}};

		if (!r[i].facts)
			r[i].facts = "";
		valid[i] = r[i].serial ? checkin_valid(r[i].serial, r[i].facts, &mm) : WARD_E_INVAL;
	}
	c.r = r;
	c.valid = valid;
	c.n = n;
	/* facts are replaced by the next check-in: no need to wait for the disk */
	e = run_tx(s, TX_WRITE_LAZY, checkin_many_tx, &c, m);
	if (e)
		for (size_t i = 0; i < n; i++)
			r[i].result = e;
	free(valid);
	return e;
}

ward_err srv_checkin(struct srv_store *s, const char *serial, const char *facts, time_t now,
		     struct ward_msg *m)
{
	struct srv_checkin_rec r = {serial, facts ? facts : "", now, WARD_OK};
	ward_err e;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "no store");
	if (!serial)
		return ward_msg_set(m, WARD_E_INVAL, "no device serial");
	e = checkin_valid(serial, r.facts, m);
	if (e)
		return e;
	e = srv_checkin_many(s, &r, 1, m);
	if (e)
		return e;
	if (r.result == WARD_E_NOTFOUND)
		return ward_msg_set(m, r.result, "device %s is not enrolled", serial);
	if (r.result == WARD_E_DENIED)
		return ward_msg_set(m, r.result, "device %s is not active: its check-in is refused", serial);
	return r.result;
}

/* ---- listings ------------------------------------------------------------ */

struct revoked_ctx {
	struct srv_revoked *v; /* grown as rows arrive; the caller's once returned */
	size_t n;              /* entries filled */
	size_t cap;            /* entries allocated */
};

static ward_err revoked_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct revoked_ctx *c = arg;
	ward_err e;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct srv_revoked *v;

		if (cap > SIZE_MAX / sizeof(*v) || !(v = realloc(c->v, cap * sizeof(*v))))
			return ward_msg_set(m, WARD_E_NOMEM, "out of memory listing revoked certificates");
		c->v = v;
		c->cap = cap;
	}
	e = srv_store_col_text(r, 0, c->v[c->n].cert_serial, sizeof(c->v[c->n].cert_serial),
		     "certificate serial", m);
	if (!e)
		e = col_time(r, 1, &c->v[c->n].revoked_at, "revocation time", m);
	if (!e)
		c->n++;
	return e;
}

static ward_err revoked_body(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct revoked_ctx *c = arg;

	c->n = 0; /* a rerun starts over (keeping the storage) */
	return s->be->exec(s->conn,
			   "SELECT serial, revoked_at FROM certs WHERE revoked_at IS NOT NULL "
			   "ORDER BY revoked_at, serial",
			   NULL, 0, revoked_row, c, NULL, m);
}

ward_err srv_revoked(struct srv_store *s, struct srv_revoked **out, size_t *n, struct ward_msg *m)
{
	struct revoked_ctx c = {0};
	ward_err e;

	if (!s || !out || !n)
		return ward_msg_set(m, WARD_E_INVAL, "no store or no place for the list");
	e = run_tx(s, TX_NONE, revoked_body, &c, m);
	if (e) {
		free(c.v);
		return e;
	}
	*out = c.v;
	*n = c.n;
	return WARD_OK;
}

static ward_err crl_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	uint64_t *number = arg;
	struct one o = {0};
	int64_t v = 0;
	ward_err e;

	e = query_one(s, "UPDATE crl_state SET number = number + 1 WHERE id = 1 RETURNING number", NULL,
		      0, &o, m);
	if (!e && !o.found)
		e = ward_msg_set(m, WARD_E_IO, "the crl_state row is missing from the database");
	if (!e)
		e = srv_store_col_i64(&o.row, 0, &v, "CRL number", m);
	if (!e)
		*number = (uint64_t)v;
	one_free(&o);
	return e;
}

ward_err srv_crl_number(struct srv_store *s, uint64_t *out, struct ward_msg *m)
{
	uint64_t v = 0;
	ward_err e;

	if (!s || !out)
		return ward_msg_set(m, WARD_E_INVAL, "no store or no place for the number");
	e = run_tx(s, TX_WRITE, crl_tx, &v, m);
	if (!e)
		*out = v;
	return e;
}

struct devices_ctx {
	struct srv_device *v;      /* grown as rows arrive; the caller's once returned */
	size_t n;                  /* entries filled */
	size_t cap;                /* entries allocated (never more than limit) */
	size_t limit;              /* the caller's maximum */
	const struct srv_param *p; /* the LIMIT parameter */
};

static ward_err devices_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct devices_ctx *c = arg;
	ward_err e;

	if (c->n == c->limit)
		return WARD_OK;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct srv_device *v;

		if (cap > c->limit)
			cap = c->limit;
		if (cap > SIZE_MAX / sizeof(*v) || !(v = realloc(c->v, cap * sizeof(*v))))
			return ward_msg_set(m, WARD_E_NOMEM, "out of memory listing devices");
		c->v = v;
		c->cap = cap;
	}
	e = srv_store_device_from_row(r, &c->v[c->n], m);
	if (!e)
		c->n++;
	return e;
}

static ward_err devices_body(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct devices_ctx *c = arg;

	c->n = 0; /* a rerun starts over (keeping the storage) */
	return s->be->exec(s->conn, "SELECT " DEVICE_COLS " FROM devices ORDER BY serial LIMIT $1",
			   c->p, 1, devices_row, c, NULL, m);
}

ward_err srv_devices(struct srv_store *s, struct srv_device **out, size_t *n, size_t limit,
		     struct ward_msg *m)
{
	struct devices_ctx c = {.limit = limit};
	const struct srv_param p[] = {SRV_I64(limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit)};
	ward_err e;

	if (!s || !out || !n)
		return ward_msg_set(m, WARD_E_INVAL, "no store or no place for the list");
	if (limit == 0) {
		*out = NULL;
		*n = 0;
		return WARD_OK;
	}
	c.p = p;
	e = run_tx(s, TX_NONE, devices_body, &c, m);
	if (e) {
		free(c.v);
		return e;
	}
	*out = c.v;
	*n = c.n;
	return WARD_OK;
}
