/*
 * tests/unit/campaign.c — phased update campaigns (server/campaign.c, the
 * parsers of server/campaign_parse.c, the stage reports of
 * server/store_campaign.c), against a real store.
 *
 * The parsers are pure and tested once: percentages, phases, selectors and
 * their matching, a campaign request body, a stage-report body, each
 * accepted form and each refusal. The engine is tested on a fresh SQLite
 * database per test and, when WARD_TEST_PG_URI names a throwaway
 * PostgreSQL database (scripts/pg-throwaway start DIR prints one), on
 * PostgreSQL too — its ward tables are DROPped before each test, as
 * tests/unit/store.c does. srv_campaign_create needs a verified image
 * repository, so campaigns are inserted by SQL in state "created" with a
 * dummy image entry, and devices by SQL in one transaction (1000 of them
 * take a few milliseconds); everything after that goes through the API:
 * srv_campaign_act, _approve, _step, srv_reports_add. The ranking is
 * checked against SHA-256(id || serial) computed here, independently of
 * the engine. Every engine test ends with srv_audit_verify.
 */
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "campaign.h"
#include "store.h"
#include "ward/buf.h"
#include "ward/crypto.h"

#define NOW      ((time_t)1700000000)
#define TARGET   "acme-cam/2.0.0.img"
#define FILEINFO "{\"length\":1,\"hashes\":{\"sha256\":\"00\"}}"
#define ACTOR    "test"
#define SQL_MAX  (4u << 20) /* bytes of one generated SQL text */

/* Assert that a call returning ward_err succeeds; say why when it does not (needs `m` in scope). */
#define MUST(call)                                                                                 \
	do {                                                                                       \
		ward_err e_ = (call);                                                              \
		if (e_ != WARD_OK)                                                                 \
			fail_msg("%s: %s: %s", #call, ward_err_name(e_), m.text);                  \
	} while (0)

/* ---- fixture: one fresh database per test (store.c's approach) ----------- */

enum backend { BE_SQLITE, BE_PG };

static enum backend g_backend; /* the group being run */
static const char *g_pg_uri;   /* WARD_TEST_PG_URI */

struct fx {
	enum backend be;         /* which backend this test runs on */
	char dir[PATH_MAX];      /* SQLite: the temporary directory */
	char path[PATH_MAX];     /* SQLite: the database file */
	char uri[PATH_MAX + 16]; /* what srv_store_open is given */
	struct srv_store *s;     /* the store, opened by setup */
};

/* Run each row of sql's result through cb (may be NULL), directly on the database. */
typedef void (*row_fn)(void *arg, int ncols, const char *const *vals);

static void raw_query(const struct fx *f, const char *sql, row_fn cb, void *arg)
{
	if (f->be == BE_SQLITE) {
		sqlite3 *db = NULL;
		char *err = NULL;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		sqlite3_busy_timeout(db, 5000);
		if (!cb) {
			if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
				fail_msg("sqlite3: %.200s: %s", sql, err);
		} else {
			sqlite3_stmt *st = NULL;
			int rc;

			if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
				fail_msg("sqlite3: %.200s: %s", sql, sqlite3_errmsg(db));
			while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				const char *v[8] = {0};
				int n = sqlite3_column_count(st);

				for (int i = 0; i < n && i < 8; i++)
					v[i] = (const char *)sqlite3_column_text(st, i);
				cb(arg, n < 8 ? n : 8, v);
			}
			assert_int_equal(rc, SQLITE_DONE);
			sqlite3_finalize(st);
		}
		sqlite3_free(err);
		sqlite3_close(db);
	} else {
		PGconn *pg = PQconnectdb(g_pg_uri);
		PGresult *res;

		assert_int_equal(PQstatus(pg), CONNECTION_OK);
		res = PQexec(pg, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("psql: %.200s: %s", sql, PQerrorMessage(pg));
		for (int r = 0; cb && r < PQntuples(res); r++) {
			const char *v[8] = {0};
			int n = PQnfields(res);

			for (int i = 0; i < n && i < 8; i++)
				v[i] = PQgetisnull(res, r, i) ? NULL : PQgetvalue(res, r, i);
			cb(arg, n < 8 ? n : 8, v);
		}
		PQclear(res);
		PQfinish(pg);
	}
}

/* printf into a fresh string; caller frees. */
static char *vfmt(const char *fmt, va_list ap) WARD_PRINTF(1, 0);
static char *vfmt(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	assert_true(n >= 0 && (unsigned)n < SQL_MAX);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(vsnprintf(s, (size_t)n + 1, fmt, ap), n);
	return s;
}

/* Run a statement (or several: "BEGIN; ...; COMMIT") directly on the database. */
static void sqlf(const struct fx *f, const char *fmt, ...) WARD_PRINTF(2, 3);
static void sqlf(const struct fx *f, const char *fmt, ...)
{
	va_list ap;
	char *q;

	va_start(ap, fmt);
	q = vfmt(fmt, ap);
	va_end(ap);
	raw_query(f, q, NULL, NULL);
	free(q);
}

struct first_ctx {
	char *out;
	size_t n;
	int rows;
};

static void first_row(void *arg, int ncols, const char *const *vals)
{
	struct first_ctx *c = arg;

	if (c->rows++ == 0 && ncols > 0 && vals[0])
		assert_int_equal(ward_snprintf(c->out, c->n, "%s", vals[0]), WARD_OK);
}

/* The first column of the only row of a query, as text ("" for NULL); returns out. */
static char *qtext(const struct fx *f, char *out, size_t n, const char *fmt, ...) WARD_PRINTF(4, 5);
static char *qtext(const struct fx *f, char *out, size_t n, const char *fmt, ...)
{
	struct first_ctx c = {out, n, 0};
	va_list ap;
	char *q;

	out[0] = '\0';
	va_start(ap, fmt);
	q = vfmt(fmt, ap);
	va_end(ap);
	raw_query(f, q, first_row, &c);
	if (c.rows != 1)
		fail_msg("%d rows from %.200s", c.rows, q);
	free(q);
	return out;
}

/* The same, as an integer. */
static int64_t qint(const struct fx *f, const char *fmt, ...) WARD_PRINTF(2, 3);
static int64_t qint(const struct fx *f, const char *fmt, ...)
{
	char out[64] = "";
	struct first_ctx c = {out, sizeof(out), 0};
	va_list ap;
	char *q;

	va_start(ap, fmt);
	q = vfmt(fmt, ap);
	va_end(ap);
	raw_query(f, q, first_row, &c);
	if (c.rows != 1)
		fail_msg("%d rows from %.200s", c.rows, q);
	free(q);
	return strtoll(out, NULL, 10);
}

static void rm_db(const struct fx *f)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[PATH_MAX + 16];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
		if (ward_snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]) == WARD_OK)
			unlink(p);
	rmdir(f->dir);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *base = getenv("TMPDIR");
	struct ward_msg m = {{0}};

	if (!f)
		return -1;
	f->be = g_backend;
	if (f->be == BE_SQLITE) {
		if (ward_snprintf(f->dir, sizeof(f->dir), "%s/ward-unit-campaign-XXXXXX",
		                  base ? base : "/tmp") ||
		    !mkdtemp(f->dir) ||
		    ward_snprintf(f->path, sizeof(f->path), "%s/ward.db", f->dir) ||
		    ward_snprintf(f->uri, sizeof(f->uri), "sqlite:%s", f->path)) {
			free(f);
			return -1;
		}
	} else {
		sqlf(f, "DROP TABLE IF EXISTS model_harm, campaign_devices, campaigns, device_reports, "
		        "api_tokens, operators, "
		        "device_assignments, audit, certs, devices, batches, crl_state, "
		        "schema_version CASCADE");
		if (ward_snprintf(f->uri, sizeof(f->uri), "%s", g_pg_uri)) {
			free(f);
			return -1;
		}
	}
	if (srv_store_open(f->uri, &f->s, &m) != WARD_OK) {
		print_error("srv_store_open: %s\n", m.text);
		if (f->be == BE_SQLITE)
			rm_db(f);
		free(f);
		return -1;
	}
	/* every device belongs to this batch */
	sqlf(f,
	     "INSERT INTO batches (id, username, pass_hash, model, count, used, expires, created) "
	     "VALUES ('b1', 'factory', 'x', 'cam-2', 100000, 0, 4102444800, 1)");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	srv_store_close(f->s);
	if (f->be == BE_SQLITE)
		rm_db(f);
	free(f);
	return 0;
}

/* ---- helpers: devices, campaigns, reports ------------------------------- */

/* Serial i of a device set: PREFIX-0007. */
static void serial_of(char *out, size_t n, const char *prefix, size_t i)
{
	assert_int_equal(ward_snprintf(out, n, "%s-%04zu", prefix, i), WARD_OK);
}

/* Enrol n active devices PREFIX-0000.. of model, with tags (" a b ") and critical flag, in one
 * transaction. */
static void add_devices(const struct fx *f, const char *prefix, size_t n, const char *model,
                        const char *tags, bool critical)
{
	struct ward_buf b;

	ward_buf_init(&b, SQL_MAX);
	assert_int_equal(ward_buf_printf(&b, "BEGIN;"), WARD_OK);
	for (size_t i = 0; i < n; i++) {
		char serial[64];

		serial_of(serial, sizeof(serial), prefix, i);
		assert_int_equal(
		    ward_buf_printf(
		        &b,
		        "INSERT INTO devices (serial, model, batch_id, status, cert_serial, "
		        "cert_not_after, enrolled, last_seen, facts, tags, critical) VALUES "
		        "('%s', '%s', 'b1', 'active', 'c%s', 4102444800, 1, 1, '', '%s', %d);",
		        serial, model, serial, tags, critical ? 1 : 0),
		    WARD_OK);
	}
	assert_int_equal(ward_buf_printf(&b, "COMMIT;"), WARD_OK);
	raw_query(f, (const char *)b.p, NULL, NULL);
	ward_buf_free(&b);
}

/* A campaign in state "created" offering TARGET, as srv_campaign_create would store it. */
static void add_campaign(const struct fx *f, const char *id, const char *select, const char *phases,
                         unsigned max_failure, bool require_approval)
{
	sqlf(f,
	     "INSERT INTO campaigns (id, name, target, fileinfo, version, selector, phases, "
	     "max_failure, "
	     "require_approval, state, phase, phase_approved, failures_acked, reason, created_by, "
	     "created, updated, report_timeout) "
	     "VALUES ('%s', 'test', '" TARGET "', '" FILEINFO
	     "', '2.0.0', '%s', '%s', %u, %d, 'created', 0, 0, 0, "
	     "'created', '" ACTOR "', 1, 1, 0)",
	     id, select, phases, max_failure, require_approval ? 1 : 0);
}

static ward_err act(const struct fx *f, const char *id, enum srv_campaign_action a)
{
	struct ward_msg m = {{0}};

	return srv_campaign_act(f->s, id, a, ACTOR, NULL, NOW, &m);
}

static ward_err step(const struct fx *f, const char *id)
{
	struct ward_msg m = {{0}};

	return srv_campaign_step(f->s, id, NOW, &m);
}

static ward_err approve_phase(const struct fx *f, const char *id)
{
	struct ward_msg m = {{0}};

	return srv_campaign_approve(f->s, id, NULL, 0, true, ACTOR, NOW, &m);
}

static ward_err approve_device(const struct fx *f, const char *id, const char *serial)
{
	struct ward_msg m = {{0}};
	const char *const one[] = {serial};

	return srv_campaign_approve(f->s, id, one, 1, false, ACTOR, NOW, &m);
}

/* One stage report of serial about target; returns how many were accepted (0: a replay). */
static size_t report_t(const struct fx *f, const char *serial, int64_t seq, const char *stage,
                       const char *target)
{
	struct ward_msg m = {{0}};
	struct srv_report r;
	size_t accepted = 99;
	int64_t last = -1;

	memset(&r, 0, sizeof(r));
	r.seq = seq;
	assert_int_equal(ward_snprintf(r.stage, sizeof(r.stage), "%s", stage), WARD_OK);
	assert_int_equal(ward_snprintf(r.target, sizeof(r.target), "%s", target), WARD_OK);
	assert_int_equal(ward_snprintf(r.version, sizeof(r.version), "2.0.0"), WARD_OK);
	if (!strcmp(stage, "failed") || !strcmp(stage, "rolled-back"))
		assert_int_equal(ward_snprintf(r.reason, sizeof(r.reason), "test says %s", stage),
		                 WARD_OK);
	MUST(srv_reports_add(f->s, serial, &r, 1, NOW, &accepted, &last, &m));
	assert_true(last >= seq);
	return accepted;
}

static size_t report(const struct fx *f, const char *serial, int64_t seq, const char *stage)
{
	return report_t(f, serial, seq, stage, TARGET);
}

/* A campaign's state, phase index and reason. */
static char *camp_state(const struct fx *f, const char *id, char *out, size_t n)
{
	return qtext(f, out, n, "SELECT state FROM campaigns WHERE id = '%s'", id);
}

static int64_t camp_phase(const struct fx *f, const char *id)
{
	return qint(f, "SELECT phase FROM campaigns WHERE id = '%s'", id);
}

static char *dev_state(const struct fx *f, const char *id, const char *serial, char *out, size_t n)
{
	return qtext(f, out, n,
	             "SELECT state FROM campaign_devices WHERE campaign = '%s' AND serial = '%s'",
	             id, serial);
}

/* Devices of campaign id in phase (-1: any) and state (NULL: any). */
static int64_t n_devices(const struct fx *f, const char *id, int phase, const char *state)
{
	char ph[32] = "", st[64] = "";

	if (phase >= 0)
		assert_int_equal(ward_snprintf(ph, sizeof(ph), " AND phase = %d", phase), WARD_OK);
	if (state)
		assert_int_equal(ward_snprintf(st, sizeof(st), " AND state = '%s'", state),
		                 WARD_OK);
	return qint(f, "SELECT COUNT(*) FROM campaign_devices WHERE campaign = '%s'%s%s", id, ph,
	            st);
}

/* Assignments naming TARGET (the director offers the image). */
static int64_t n_offers(const struct fx *f)
{
	return qint(f, "SELECT COUNT(*) FROM device_assignments WHERE target = '" TARGET "'");
}

static int64_t n_audit(const struct fx *f, const char *event, const char *subject)
{
	return qint(f, "SELECT COUNT(*) FROM audit WHERE event = '%s' AND subject = '%s'", event,
	            subject);
}

struct serials_ctx {
	char (*v)[64];
	size_t n, cap;
};

static void serial_row(void *arg, int ncols, const char *const *vals)
{
	struct serials_ctx *c = arg;

	assert_true(ncols >= 1 && vals[0]);
	assert_true(c->n < c->cap);
	assert_int_equal(ward_snprintf(c->v[c->n++], sizeof(c->v[0]), "%s", vals[0]), WARD_OK);
}

/* Serials of campaign id in phase and state (NULL: any), sorted; returns how many (at most cap). */
static size_t serials_in(const struct fx *f, const char *id, int phase, const char *state,
                         char (*out)[64], size_t cap)
{
	struct serials_ctx c = {out, 0, cap};
	char st[64] = "";
	char *q;

	if (state)
		assert_int_equal(ward_snprintf(st, sizeof(st), " AND state = '%s'", state),
		                 WARD_OK);
	q = malloc(512);
	assert_non_null(q);
	assert_int_equal(
	    ward_snprintf(
	        q, 512,
	        "SELECT serial FROM campaign_devices WHERE campaign = '%s' AND phase = %d%s "
	        "ORDER BY serial",
	        id, phase, st),
	    WARD_OK);
	raw_query(f, q, serial_row, &c);
	free(q);
	return c.n;
}

static void audit_ok(const struct fx *f)
{
	struct ward_msg m = {{0}};
	uint64_t records = 0;

	MUST(srv_audit_verify(f->s, &records, &m));
	assert_true(records > 0);
}

/* ---- the ranking, computed independently of the engine ------------------ */

struct ranked {
	char serial[64];
	uint8_t h[WARD_SHA256_LEN]; /* SHA-256(campaign id || serial) */
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int c = memcmp(x->h, y->h, sizeof(x->h));

	return c ? c : strcmp(x->serial, y->serial);
}

/* PREFIX-0000..n-1 in the order campaign id ranks them (docs/campaigns.md). Caller frees. */
static struct ranked *rank(const char *id, const char *prefix, size_t n)
{
	struct ranked *v = calloc(n, sizeof(*v));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		char buf[128];

		serial_of(v[i].serial, sizeof(v[i].serial), prefix, i);
		assert_int_equal(ward_snprintf(buf, sizeof(buf), "%s%s", id, v[i].serial), WARD_OK);
		assert_int_equal(ward_crypto_hash(WARD_HASH_SHA256, buf, strlen(buf), v[i].h),
		                 WARD_OK);
	}
	qsort(v, n, sizeof(*v), ranked_cmp);
	return v;
}

/* ==== the parsers (pure) ================================================= */

static void test_percent_parse(void **state)
{
	static const struct {
		const char *in;
		unsigned want; /* hundredths of a percent */
	} good[] = {
	    {"5", 500},
	    {"5%", 500},
	    {"0.5%", 50},
	    {"0.05", 5},
	    {"100", 10000},
	    {"100%", 10000},
	    {"0", 0},
	    {"0%", 0},
	    {"12.34", 1234},
	    {"100.0", 10000},
	    {"100.00%", 10000},
	    {"007", 700},
	    /* lenient forms accepted today: a digit on one side of the point is enough */
	    {".5", 50},
	    {"5.", 500},
	};
	static const char *const bad[] = {
	    "",
	    "101",
	    "1.234",
	    "-1",
	    "5%%",
	    "abc",
	    "100.01",
	    ".",
	    "%",
	    ".%",
	    " 5",
	    "5 ",
	    "+5",
	    "1e2",
	    "0x10",
	    "1000",
	    "99999999999999999999",
	    "5%5",
	    "5,5",
	    "100.1",
	};
	struct ward_msg m = {{0}};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		unsigned v = 4242;

		if (srv_campaign_percent_parse(good[i].in, &v, &m) != WARD_OK)
			fail_msg("\"%s\" refused: %s", good[i].in, m.text);
		if (v != good[i].want)
			fail_msg("\"%s\" gave %u, not %u", good[i].in, v, good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned v = 4242;

		m.text[0] = '\0';
		if (srv_campaign_percent_parse(bad[i], &v, &m) != WARD_E_INVAL)
			fail_msg("\"%s\" accepted as %u", bad[i], v);
		assert_int_equal(v, 4242); /* untouched on refusal */
		assert_true(m.text[0] != '\0');
	}
	{
		unsigned v = 4242;

		assert_int_equal(srv_campaign_percent_parse(NULL, &v, &m), WARD_E_INVAL);
		assert_int_equal(v, 4242);
	}
}

/* phases_parse(text) as "1,10,50,100", or "REFUSED". */
static void phases_text(const char *in, char *out, size_t n)
{
	struct ward_msg m = {{0}};
	json_t *a = srv_campaign_phases_parse(in, &m);
	size_t len = 0;

	out[0] = '\0';
	if (!a) {
		assert_true(m.text[0] != '\0');
		assert_int_equal(ward_snprintf(out, n, "REFUSED"), WARD_OK);
		return;
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		assert_true(json_is_integer(json_array_get(a, i)));
		assert_int_equal(ward_snprintf(out + len, n - len, "%s%lld", i ? "," : "",
		                               (long long)json_integer_value(json_array_get(a, i))),
		                 WARD_OK);
		len = strlen(out);
	}
	json_decref(a);
}

static void test_phases_parse(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"1%,10%,50%,100%", "1,10,50,100"},
	    {"1,10,50,100", "1,10,50,100"},
	    {"5%,100", "5,100"},
	    {"100", "100"},
	    {"100.00%", "100"},
	    /* refused */
	    {"10,5,100", "REFUSED"},  /* decreasing */
	    {"10,10,100", "REFUSED"}, /* not strictly increasing */
	    {"0,100", "REFUSED"},     /* 0 */
	    {"1,101", "REFUSED"},     /* above 100 */
	    {"1.5,100", "REFUSED"},   /* fractional */
	    {"0.5%,100", "REFUSED"},  /* fractional */
	    {"1,,100", "REFUSED"},    /* empty element */
	    {",1,100", "REFUSED"},    /* leading comma */
	    {"1, 10,100", "REFUSED"}, /* spaces are not allowed */
	    {"1;10;100", "REFUSED"},
	    {"abc", "REFUSED"},
	    {"0000000000000001,100", "REFUSED"}, /* an element of 16 characters or more */
	    /*
	     * What this parser leaves to srv_campaign_spec_parse (the CLI
	     * sends its array there): a trailing comma is ignored, "" is an
	     * empty list, a last phase below 100 and more than SRV_PHASES_MAX
	     * phases pass here and are refused by the request's parser.
	     */
	    {"1,100,", "1,100"},
	    {"", ""},
	    {"1,50", "1,50"},
	    {"1,2,3,4,5,6,7,8,9,10,100", "1,2,3,4,5,6,7,8,9,10,100"},
	};
	char got[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		phases_text(cases[i].in, got, sizeof(got));
		if (strcmp(got, cases[i].want))
			fail_msg("phases \"%s\": got \"%s\", want \"%s\"", cases[i].in, got,
			         cases[i].want);
	}
	phases_text(NULL, got, sizeof(got));
	assert_string_equal(got, "");
}

static bool sel_match(const char *sel, const char *serial, const char *model, const char *batch,
                      const char *tags)
{
	struct ward_msg m = {{0}};
	struct srv_selector s;

	MUST(srv_selector_parse(sel, &s, &m));
	return srv_selector_match(&s, serial, model, batch, tags);
}

static void test_selector(void **state)
{
	struct ward_msg m = {{0}};
	struct srv_selector s;
	char big[SRV_SELECT_MAX + 16];

	(void)state;
	/* the parsed form */
	MUST(srv_selector_parse("  model=a   tag=lab serial=cam-1* batch=b=c ", &s, &m));
	assert_false(s.all);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.t[0].key, SRV_SEL_MODEL);
	assert_string_equal(s.t[0].value, "a");
	assert_int_equal(s.t[1].key, SRV_SEL_TAG);
	assert_int_equal(s.t[2].key, SRV_SEL_SERIAL);
	assert_string_equal(s.t[2].value, "cam-1*");
	assert_int_equal(s.t[3].key, SRV_SEL_BATCH);
	assert_string_equal(s.t[3].value, "b=c"); /* the first '=' splits */

	/* the same key twice: either */
	assert_true(sel_match("model=a model=b", "s", "a", "b1", " "));
	assert_true(sel_match("model=a model=b", "s", "b", "b1", " "));
	assert_false(sel_match("model=a model=b", "s", "c", "b1", " "));
	assert_false(sel_match("model=a", "s", "ab", "b1", " ")); /* exact */
	/* different keys: both */
	assert_true(sel_match("model=a tag=lab", "s", "a", "b1", " lab "));
	assert_false(sel_match("model=a tag=lab", "s", "a", "b1", " north "));
	assert_false(sel_match("model=a tag=lab", "s", "c", "b1", " lab "));
	assert_true(sel_match("model=a model=b tag=lab tag=north", "s", "b", "b1", " north "));
	assert_false(sel_match("model=a batch=b2", "s", "a", "b1", " "));
	assert_true(sel_match("batch=b1", "s", "a", "b1", " "));
	/* serials: exact, or a prefix with '*' */
	assert_true(sel_match("serial=cam-1", "cam-1", "a", "b1", " "));
	assert_false(sel_match("serial=cam-1", "cam-10", "a", "b1", " "));
	assert_true(sel_match("serial=cam-1*", "cam-1", "a", "b1", " "));
	assert_true(sel_match("serial=cam-1*", "cam-10", "a", "b1", " "));
	assert_false(sel_match("serial=cam-1*", "cam-2", "a", "b1", " "));
	assert_false(sel_match("serial=cam-1*", "xcam-1", "a", "b1", " "));
	assert_true(sel_match("serial=*", "anything", "a", "b1", " "));
	/* tags: only whole tags of " t1 t2 " */
	assert_true(sel_match("tag=lab", "s", "a", "b1", " lab north "));
	assert_true(sel_match("tag=north", "s", "a", "b1", " lab north "));
	assert_false(sel_match("tag=la", "s", "a", "b1", " lab north "));
	assert_false(sel_match("tag=orth", "s", "a", "b1", " lab north "));
	assert_false(sel_match("tag=lab", "s", "a", "b1", " labx "));
	assert_false(sel_match("tag=lab", "s", "a", "b1", " xlab "));
	assert_true(sel_match("tag=lab", "s", "a", "b1", " xlab lab "));
	assert_true(sel_match("tag=lab", "s", "a", "b1", " lab-2 lab "));
	assert_false(sel_match("tag=lab", "s", "a", "b1", " "));
	/* all */
	assert_true(sel_match("all", "s", "a", "b1", " "));
	assert_true(sel_match("  all ", "s", "z", "b9", " x "));

	/* refusals */
	{
		static const char *const bad[] = {
		    "",       "   ",         "all model=a", "model=a all", "model",
		    "model=", "=a",          "foo=bar",     "Model=a",     "tag",
		    "serial", "model=a\x01", "model=a\tb",  "model=a\x7f", "all,model=a",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			m.text[0] = '\0';
			if (srv_selector_parse(bad[i], &s, &m) != WARD_E_INVAL)
				fail_msg("selector \"%s\" accepted", bad[i]);
			assert_true(m.text[0] != '\0');
		}
	}
	assert_int_equal(srv_selector_parse(NULL, &s, &m), WARD_E_INVAL);
	/* 16 terms, not 17 */
	big[0] = '\0';
	for (int i = 0; i < SRV_SELECT_TERMS; i++)
		assert_int_equal(
		    ward_snprintf(big + strlen(big), sizeof(big) - strlen(big), "model=m%d ", i),
		    WARD_OK);
	MUST(srv_selector_parse(big, &s, &m));
	assert_int_equal(s.n, SRV_SELECT_TERMS);
	assert_int_equal(ward_snprintf(big + strlen(big), sizeof(big) - strlen(big), "model=x"),
	                 WARD_OK);
	assert_int_equal(srv_selector_parse(big, &s, &m), WARD_E_INVAL);
	/* a value of 128 characters, not 129 */
	memcpy(big, "model=", 6);
	memset(big + 6, 'v', 128);
	big[6 + 128] = '\0';
	MUST(srv_selector_parse(big, &s, &m));
	big[6 + 128] = 'v';
	big[6 + 129] = '\0';
	assert_int_equal(srv_selector_parse(big, &s, &m), WARD_E_INVAL);
	/* SRV_SELECT_MAX characters at most */
	memset(big, ' ', SRV_SELECT_MAX + 1);
	memcpy(big, "all", 3);
	big[SRV_SELECT_MAX] = '\0';
	MUST(srv_selector_parse(big, &s, &m));
	big[SRV_SELECT_MAX] = ' ';
	big[SRV_SELECT_MAX + 1] = '\0';
	assert_int_equal(srv_selector_parse(big, &s, &m), WARD_E_INVAL);
}

/* The valid request every refusal case changes one field of. */
static json_t *spec_body(void)
{
	json_t *b = json_pack("{s:s,s:s,s:s,s:[iiii],s:f,s:b}", "name", "spring rollout", "image",
	                      TARGET, "select", "model=cam-2 tag=lab", "phases", 1, 10, 50, 100,
	                      "max_failure", 5.0, "require_approval", 1);

	assert_non_null(b);
	return b;
}

static json_t *long_string(size_t n)
{
	char *s = malloc(n + 1);
	json_t *j;

	assert_non_null(s);
	memset(s, 'x', n);
	s[n] = '\0';
	j = json_string(s);
	free(s);
	assert_non_null(j);
	return j;
}

static void test_spec_parse(void **state)
{
	static const struct {
		const char *key;   /* field changed */
		const char *value; /* its new JSON value, or NULL: removed */
	} bad[] = {
	    {"colour", "\"red\""},
	    {"name", "5"},
	    {"name", "null"},
	    {"image", NULL},
	    {"image", "\"\""},
	    {"image", "7"},
	    {"select", NULL},
	    {"select", "7"},
	    {"select", "\"\""},
	    {"select", "\"bogus\""},
	    {"select", "\"all model=a\""},
	    {"phases", NULL},
	    {"phases", "[]"},
	    {"phases", "\"1,100\""},
	    {"phases", "[10,5,100]"},
	    {"phases", "[10,10,100]"},
	    {"phases", "[0,100]"},
	    {"phases", "[1,101]"},
	    {"phases", "[1.5,100]"},
	    {"phases", "[\"1\",100]"},
	    {"phases", "[1,50]"},
	    {"phases", "[1,2,3,4,5,6,7,8,9,10,100]"},
	    {"phases", "[-1,100]"},
	    {"max_failure", NULL},
	    {"max_failure", "\"5\""},
	    {"max_failure", "true"},
	    {"max_failure", "-1"},
	    {"max_failure", "-0.01"},
	    {"max_failure", "100.01"},
	    {"max_failure", "101"},
	    {"max_failure", "1.234"},
	    {"max_failure", "1e300"},
	    {"require_approval", "\"yes\""},
	    {"require_approval", "1"},
	};
	static const struct {
		const char *value;
		unsigned want;
	} mf[] = {{"0", 0},        {"0.5", 50},    {"0.05", 5},    {"5", 500},
	          {"12.34", 1234}, {"100", 10000}, {"99.99", 9999}};
	struct ward_msg m = {{0}};
	struct srv_campaign_spec sp;
	json_t *b = spec_body();

	(void)state;
	MUST(srv_campaign_spec_parse(b, &sp, &m));
	assert_string_equal(sp.name, "spring rollout");
	assert_string_equal(sp.image, TARGET);
	assert_string_equal(sp.select, "model=cam-2 tag=lab");
	assert_int_equal(sp.nphases, 4);
	assert_int_equal(sp.phases[0], 1);
	assert_int_equal(sp.phases[1], 10);
	assert_int_equal(sp.phases[2], 50);
	assert_int_equal(sp.phases[3], 100);
	assert_int_equal(sp.max_failure, 500);
	assert_true(sp.require_approval);
	/* defaults: name is the image's, no approval between phases; one phase of 100 */
	json_object_del(b, "name");
	json_object_del(b, "require_approval");
	json_object_set_new(b, "phases", json_pack("[i]", 100));
	MUST(srv_campaign_spec_parse(b, &sp, &m));
	assert_string_equal(sp.name, TARGET);
	assert_false(sp.require_approval);
	assert_int_equal(sp.nphases, 1);
	/* max_failure is a percentage with at most two decimals */
	for (size_t i = 0; i < sizeof(mf) / sizeof(mf[0]); i++) {
		json_object_set_new(b, "max_failure",
		                    json_loads(mf[i].value, JSON_DECODE_ANY, NULL));
		if (srv_campaign_spec_parse(b, &sp, &m) != WARD_OK)
			fail_msg("max_failure %s refused: %s", mf[i].value, m.text);
		if (sp.max_failure != mf[i].want)
			fail_msg("max_failure %s gave %u, not %u", mf[i].value, sp.max_failure,
			         mf[i].want);
	}
	json_decref(b);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = spec_body();
		if (bad[i].value) {
			json_t *v = json_loads(bad[i].value, JSON_DECODE_ANY, NULL);

			assert_non_null(v);
			json_object_set_new(b, bad[i].key, v);
		} else {
			json_object_del(b, bad[i].key);
		}
		m.text[0] = '\0';
		if (srv_campaign_spec_parse(b, &sp, &m) != WARD_E_INVAL)
			fail_msg("%s = %s accepted", bad[i].key,
			         bad[i].value ? bad[i].value : "(absent)");
		assert_true(m.text[0] != '\0');
		json_decref(b);
	}
	/* sizes: name < 128 bytes, image < 256, select <= SRV_SELECT_MAX */
	b = spec_body();
	json_object_set_new(b, "name", long_string(127));
	MUST(srv_campaign_spec_parse(b, &sp, &m));
	json_object_set_new(b, "name", long_string(128));
	assert_int_equal(srv_campaign_spec_parse(b, &sp, &m), WARD_E_INVAL);
	json_object_set_new(b, "name", json_string("n"));
	json_object_set_new(b, "image", long_string(255));
	MUST(srv_campaign_spec_parse(b, &sp, &m));
	json_object_set_new(b, "image", long_string(256));
	assert_int_equal(srv_campaign_spec_parse(b, &sp, &m), WARD_E_INVAL);
	json_decref(b);
	/* not an object */
	b = json_pack("[s]", "image");
	assert_int_equal(srv_campaign_spec_parse(b, &sp, &m), WARD_E_INVAL);
	json_decref(b);
	assert_int_equal(srv_campaign_spec_parse(NULL, &sp, &m), WARD_E_INVAL);
}

static json_t *reports_body(void)
{
	json_t *b = json_pack("{s:[{s:i,s:s,s:s,s:s,s:i},{s:i,s:s,s:s,s:s,s:s}]}", "reports", "seq",
	                      1, "stage", "downloading", "target", TARGET, "version", "2.0.0",
	                      "time", 1234, "seq", 7, "stage", "failed", "target", TARGET,
	                      "version", "2.0.0", "reason", "hash mismatch");

	assert_non_null(b);
	return b;
}

static void test_reports_parse(void **state)
{
	static const struct {
		const char *field; /* of the second report, or "" for the body */
		const char *
		    value; /* its new JSON value (for the body: the whole body), or NULL: removed */
	} bad[] = {
	    {"", "[]"},
	    {"", "{}"},
	    {"", "{\"reports\": {}}"},
	    {"", "{\"reports\": [], \"extra\": 1}"},
	    {"", "{\"report\": []}"},
	    {"", "{\"reports\": [5]}"},
	    {"colour", "\"red\""},
	    {"seq", NULL},
	    {"seq", "0"},
	    {"seq", "-3"},
	    {"seq", "\"7\""},
	    {"seq", "7.0"},
	    {"seq", "1"}, /* equal to the first's: not increasing */
	    {"time", "\"now\""},
	    {"time", "1.5"},
	    {"stage", NULL},
	    {"stage", "\"pending\""}, /* a campaign's state, not a device's stage */
	    {"stage", "\"offered\""},
	    {"stage", "\"HEALTHY\""},
	    {"stage", "5"},
	    {"stage", "\"heal\\u0000thy\""},
	    {"target", NULL},
	    {"target", "\"\""},
	    {"target", "7"},
	    {"target", "\"a\\u0000b\""},
	    {"version", "7"},
	    {"reason", "null"},
	};
	struct ward_msg m = {{0}};
	struct srv_report r[SRV_REPORTS_MAX];
	size_t n = 99;
	json_t *b = reports_body(), *arr;

	(void)state;
	MUST(srv_reports_parse(b, r, &n, &m));
	assert_int_equal(n, 2);
	assert_int_equal(r[0].seq, 1);
	assert_string_equal(r[0].stage, "downloading");
	assert_string_equal(r[0].target, TARGET);
	assert_string_equal(r[0].version, "2.0.0");
	assert_string_equal(r[0].reason, "");
	assert_int_equal(r[0].time, 0); /* the device's own time is not trusted */
	assert_int_equal(r[1].seq, 7);
	assert_string_equal(r[1].stage, "failed");
	assert_string_equal(r[1].reason, "hash mismatch");
	json_decref(b);
	/* every stage a device may report */
	{
		static const char *const stages[] = {
		    "downloading", "installed", "awaiting-local-approval", "booted", "healthy",
		    "rolled-back", "failed"};

		for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
			b = json_pack("{s:[{s:i,s:s,s:s}]}", "reports", "seq", 1, "stage",
			              stages[i], "target", "t");
			MUST(srv_reports_parse(b, r, &n, &m));
			assert_int_equal(n, 1);
			assert_true(srv_stage_valid(stages[i]));
			json_decref(b);
		}
		assert_false(srv_stage_valid("pending"));
		assert_false(srv_stage_valid(NULL));
	}
	/* an empty list is a valid (empty) request */
	b = json_pack("{s:[]}", "reports");
	MUST(srv_reports_parse(b, r, &n, &m));
	assert_int_equal(n, 0);
	json_decref(b);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!bad[i].field[0]) {
			b = json_loads(bad[i].value, JSON_DECODE_ANY, NULL);
		} else {
			json_t *o;

			b = reports_body();
			o = json_array_get(json_object_get(b, "reports"), 1);
			if (bad[i].value)
				json_object_set_new(o, bad[i].field,
				                    json_loads(bad[i].value,
				                               JSON_DECODE_ANY | JSON_ALLOW_NUL,
				                               NULL));
			else
				json_object_del(o, bad[i].field);
		}
		assert_non_null(b);
		m.text[0] = '\0';
		if (srv_reports_parse(b, r, &n, &m) != WARD_E_INVAL)
			fail_msg("report %s = %s accepted", bad[i].field[0] ? bad[i].field : "body",
			         bad[i].value ? bad[i].value : "(absent)");
		assert_true(m.text[0] != '\0');
		json_decref(b);
	}
	/* sizes: version fits struct srv_report, reason <= SRV_REPORT_REASON_MAX, SRV_REPORTS_MAX
	 * reports */
	b = reports_body();
	json_object_set_new(json_array_get(json_object_get(b, "reports"), 1), "version",
	                    long_string(sizeof(r[0].version) - 1));
	json_object_set_new(json_array_get(json_object_get(b, "reports"), 1), "reason",
	                    long_string(SRV_REPORT_REASON_MAX));
	MUST(srv_reports_parse(b, r, &n, &m));
	json_object_set_new(json_array_get(json_object_get(b, "reports"), 1), "version",
	                    long_string(sizeof(r[0].version)));
	assert_int_equal(srv_reports_parse(b, r, &n, &m), WARD_E_INVAL);
	json_object_set_new(json_array_get(json_object_get(b, "reports"), 1), "version",
	                    json_string("1"));
	json_object_set_new(json_array_get(json_object_get(b, "reports"), 1), "reason",
	                    long_string(SRV_REPORT_REASON_MAX + 1));
	assert_int_equal(srv_reports_parse(b, r, &n, &m), WARD_E_INVAL);
	json_decref(b);
	arr = json_array();
	for (int i = 1; i <= SRV_REPORTS_MAX + 1; i++)
		json_array_append_new(
		    arr, json_pack("{s:i,s:s,s:s}", "seq", i, "stage", "booted", "target", "t"));
	b = json_pack("{s:O}", "reports", arr);
	assert_int_equal(srv_reports_parse(b, r, &n, &m), WARD_E_INVAL);
	json_decref(b);
	json_array_remove(arr, SRV_REPORTS_MAX);
	b = json_pack("{s:O}", "reports", arr);
	MUST(srv_reports_parse(b, r, &n, &m));
	assert_int_equal(n, SRV_REPORTS_MAX);
	json_decref(b);
	json_decref(arr);
}

/* ==== the engine (SQLite, and PostgreSQL with WARD_TEST_PG_URI) =========== */

#define C1 "00000000000000c1"
#define C2 "00000000000000c2"
#define C3 "00000000000000c3"

struct phase_ctx {
	const struct ranked *order; /* the expected ranking */
	size_t n;                   /* devices */
	const unsigned *pct;        /* cumulative percentages */
	size_t npct;
	size_t rows;
};

/* Check one campaign_devices row (serial, phase) against the expected ranking. */
static void phase_row(void *arg, int ncols, const char *const *vals)
{
	struct phase_ctx *c = arg;
	size_t r = 0;
	long long want = -1;

	assert_true(ncols == 2 && vals[0] && vals[1]);
	while (r < c->n && strcmp(c->order[r].serial, vals[0]))
		r++;
	assert_true(r < c->n);
	for (size_t p = 0; p < c->npct && want < 0; p++)
		if (r < (c->n * c->pct[p] + 99) / 100)
			want = (long long)p;
	if (strtoll(vals[1], NULL, 10) != want)
		fail_msg("%s (rank %zu) is in phase %s, not %lld", vals[0], r, vals[1], want);
	c->rows++;
}

/* 1000 devices, phases 1,10,50,100: 10, 90, 400 and 500 devices, ranked by SHA-256(id || serial).
 */
static void test_phases_1000(void **state)
{
	static const unsigned pct[] = {1, 10, 50, 100};
	struct fx *f = *state;
	struct ranked *order = rank(C1, "cam", 1000);
	char(*first)[64] = calloc(100, sizeof(*first));
	char buf[64];
	size_t n;

	assert_non_null(first);
	add_devices(f, "cam", 1000, "cam-2", " lab ", false);
	add_campaign(f, C1, "model=cam-2", "1,10,50,100", 500, false);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "running");
	assert_int_equal(camp_phase(f, C1), 0);
	assert_int_equal(n_devices(f, C1, 0, NULL), 10);
	assert_int_equal(n_devices(f, C1, 1, NULL), 90);
	assert_int_equal(n_devices(f, C1, 2, NULL), 400);
	assert_int_equal(n_devices(f, C1, 3, NULL), 500);

	/* every device's phase follows the ranking computed here */
	{
		struct phase_ctx c = {order, 1000, pct, 4, 0};

		raw_query(f, "SELECT serial, phase FROM campaign_devices WHERE campaign = '" C1 "'",
		          phase_row, &c);
		assert_int_equal(c.rows, 1000);
	}
	/* ... which is not the serials' order */
	n = serials_in(f, C1, 0, NULL, first, 100);
	assert_int_equal(n, 10);
	assert_true(strcmp(first[0], "cam-0000") || strcmp(first[9], "cam-0009"));

	/* the first phase is offered: an assignment naming the image, nothing else */
	assert_int_equal(n_devices(f, C1, 0, "offered"), 10);
	assert_int_equal(n_devices(f, C1, -1, "pending"), 990);
	assert_int_equal(qint(f, "SELECT COUNT(*) FROM device_assignments"), 10);
	assert_int_equal(qint(f,
	                      "SELECT COUNT(*) FROM device_assignments a JOIN campaign_devices d "
	                      "ON d.serial = a.serial "
	                      "WHERE d.campaign = '" C1 "' AND d.phase = 0 AND a.target = '" TARGET
	                      "' AND a.fileinfo = '" FILEINFO
	                      "' AND a.version = 2 AND a.assigned = %lld",
	                      (long long)NOW),
	                 10);
	assert_int_equal(n_audit(f, "campaign-start", C1), 1);
	/* what the API shows */
	{
		struct ward_msg m = {{0}};
		json_t *j = NULL, *ph;

		MUST(srv_campaign_json(f->s, C1, true, &j, &m));
		assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
		ph = json_object_get(j, "phases");
		assert_int_equal(json_array_size(ph), 4);
		assert_int_equal(
		    json_integer_value(json_object_get(json_array_get(ph, 0), "devices")), 10);
		assert_int_equal(json_integer_value(json_object_get(
		                     json_object_get(json_array_get(ph, 0), "counts"), "offered")),
		                 10);
		assert_int_equal(
		    json_integer_value(json_object_get(json_array_get(ph, 3), "devices")), 500);
		assert_int_equal(json_array_size(json_object_get(j, "devices")), 1000);
		json_decref(j);
		MUST(srv_campaign_device_json(f->s, first[0], &j, &m));
		assert_int_equal(json_array_size(j), 1);
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(j, 0), "device_state")),
		    "offered");
		json_decref(j);
	}

	/* stepping an idle campaign changes nothing */
	assert_int_equal(step(f, C1), WARD_OK);
	assert_int_equal(n_offers(f), 10);
	assert_int_equal(qint(f, "SELECT MAX(version) FROM device_assignments"), 2);

	/* the first phase healthy: the second starts, and only it is offered */
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(report(f, first[i], 1, "downloading"), 1);
		assert_int_equal(report(f, first[i], 2, "healthy"), 1);
	}
	assert_int_equal(camp_phase(f, C1),
	                 0); /* a report moves devices, the engine moves the campaign */
	assert_int_equal(step(f, C1), WARD_OK);
	assert_int_equal(camp_phase(f, C1), 1);
	assert_int_equal(n_audit(f, "campaign-phase", C1), 1);
	assert_int_equal(n_devices(f, C1, 0, "healthy"), 10);
	assert_int_equal(n_devices(f, C1, 1, "offered"), 90);
	assert_int_equal(n_devices(f, C1, 2, "pending"), 400);
	assert_int_equal(n_devices(f, C1, 3, "pending"), 500);
	assert_int_equal(n_offers(f), 100);

	/* cancelled: pending devices are cancelled, offers not taken withdrawn, healthy ones keep
	 * the image */
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_CANCEL), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "cancelled");
	assert_int_equal(n_devices(f, C1, -1, "cancelled"), 990);
	assert_int_equal(n_devices(f, C1, 0, "healthy"), 10);
	assert_int_equal(n_offers(f), 10);
	assert_int_equal(
	    qint(f, "SELECT COUNT(*) FROM device_assignments WHERE target = '' AND version = 3"),
	    90);

	/* another campaign over the same devices ranks them differently */
	add_campaign(f, C2, "model=cam-2", "1,10,50,100", 500, false);
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_START), WARD_OK);
	{
		char(*second)[64] = calloc(100, sizeof(*second));
		struct ranked *order2 = rank(C2, "cam", 1000);
		struct phase_ctx c = {order2, 1000, pct, 4, 0};
		size_t same = 0;

		assert_non_null(second);
		raw_query(f, "SELECT serial, phase FROM campaign_devices WHERE campaign = '" C2 "'",
		          phase_row, &c);
		assert_int_equal(c.rows, 1000);
		assert_int_equal(serials_in(f, C2, 0, NULL, second, 100), 10);
		for (size_t i = 0; i < 10; i++)
			same += !strcmp(first[i], second[i]);
		assert_true(same < 10);
		free(order2);
		free(second);
	}
	audit_ok(f);
	free(first);
	free(order);
}

/* Few devices: ceil() makes tiny phases; an empty phase is passed at once. */
static void test_phases_small(void **state)
{
	struct fx *f = *state;
	char one[4][64], buf[256];
	int64_t seq[3] = {0};

	/* 3 devices, 1,50,100: one each */
	add_devices(f, "three", 3, "cam-3", " ", false);
	add_campaign(f, C1, "model=cam-3", "1,50,100", 0, false);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_OK);
	for (int p = 0; p < 3; p++)
		assert_int_equal(n_devices(f, C1, p, NULL), 1);
	for (int p = 0; p < 3; p++) {
		assert_int_equal(camp_phase(f, C1), p);
		assert_int_equal(serials_in(f, C1, p, "offered", one, 4), 1);
		assert_int_equal(n_offers(f), p + 1);
		assert_int_equal(report(f, one[0], ++seq[p], "healthy"), 1);
		assert_int_equal(step(f, C1), WARD_OK);
	}
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "finished");
	assert_int_equal(n_audit(f, "campaign-phase", C1), 2);
	assert_int_equal(n_audit(f, "campaign-finish", C1), 1);

	/* 1 device, 10,50,100: 1, 0, 0 — the empty phases pass with the first */
	add_devices(f, "one", 1, "cam-1", " ", false);
	add_campaign(f, C2, "model=cam-1", "10,50,100", 0, false);
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_START), WARD_OK);
	assert_int_equal(n_devices(f, C2, 0, "offered"), 1);
	assert_int_equal(n_devices(f, C2, 1, NULL), 0);
	assert_int_equal(n_devices(f, C2, 2, NULL), 0);
	assert_int_equal(report(f, "one-0000", 1, "installed"), 1);
	assert_int_equal(step(f, C2), WARD_OK);
	assert_string_equal(camp_state(f, C2, buf, sizeof(buf)), "running");
	assert_int_equal(report(f, "one-0000", 2, "healthy"), 1);
	{
		struct ward_msg m = {{0}};

		MUST(srv_campaign_step_all(f->s, NOW, &m)); /* every running campaign */
	}
	assert_string_equal(camp_state(f, C2, buf, sizeof(buf)), "finished");
	assert_int_equal(camp_phase(f, C2), 2);
	assert_int_equal(n_audit(f, "campaign-phase", C2), 2);
	assert_int_equal(n_audit(f, "campaign-finish", C2), 1);
	/* a finished campaign takes no action */
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_PAUSE), WARD_E_DENIED);
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_CANCEL), WARD_E_DENIED);
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_START), WARD_E_DENIED);
	assert_int_equal(approve_phase(f, C2), WARD_E_DENIED);
	audit_ok(f);
}

/* Critical devices wait for an operator and get no assignment until approved. */
static void test_critical(void **state)
{
	struct fx *f = *state;
	char buf[256];

	add_devices(f, "cam", 3, "cam-2", " ", false);
	add_devices(f, "crit", 1, "cam-2", " ", true);
	sqlf(f, "INSERT INTO device_assignments (serial, target, fileinfo, version, assigned) "
	        "VALUES ('cam-0001', 'old.img', '{}', 5, 1)"); /* an earlier assignment */
	add_campaign(f, C1, "model=cam-2", "100", 0, false);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_OK);
	assert_int_equal(n_devices(f, C1, 0, "offered"), 3);
	assert_string_equal(dev_state(f, C1, "crit-0000", buf, sizeof(buf)), "awaiting-approval");
	assert_int_equal(
	    qint(f, "SELECT critical FROM campaign_devices WHERE serial = 'crit-0000'"), 1);
	assert_int_equal(
	    qint(f, "SELECT COUNT(*) FROM device_assignments WHERE serial = 'crit-0000'"), 0);
	/* an existing assignment is replaced, its version goes up */
	assert_int_equal(qint(f, "SELECT version FROM device_assignments WHERE serial = 'cam-0001' "
	                         "AND target = '" TARGET "'"),
	                 6);

	/* the others healthy: the campaign waits for the critical device */
	for (int i = 0; i < 3; i++) {
		char s[64];

		serial_of(s, sizeof(s), "cam", (size_t)i);
		assert_int_equal(report(f, s, 1, "healthy"), 1);
	}
	assert_int_equal(step(f, C1), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "running");
	assert_non_null(
	    strstr(qtext(f, buf, sizeof(buf), "SELECT reason FROM campaigns WHERE id = '" C1 "'"),
	           "approval"));
	assert_int_equal(
	    qint(f, "SELECT COUNT(*) FROM device_assignments WHERE serial = 'crit-0000'"), 0);

	/* only a critical device waiting can be approved; a refusal changes nothing */
	assert_int_equal(approve_device(f, C1, "cam-0000"), WARD_E_NOTFOUND);
	assert_int_equal(approve_device(f, C1, "nobody"), WARD_E_NOTFOUND);
	assert_int_equal(n_audit(f, "campaign-approve", C1), 0);
	assert_int_equal(approve_device(f, C1, "crit-0000"), WARD_OK);
	assert_int_equal(n_audit(f, "campaign-approve", C1), 1);
	assert_string_equal(dev_state(f, C1, "crit-0000", buf, sizeof(buf)), "offered");
	assert_string_equal(
	    qtext(f, buf, sizeof(buf),
	          "SELECT approved_by FROM campaign_devices WHERE serial = 'crit-0000'"),
	    ACTOR);
	assert_int_equal(qint(f, "SELECT COUNT(*) FROM device_assignments WHERE serial = "
	                         "'crit-0000' AND target = '" TARGET "'"),
	                 1);
	assert_int_equal(approve_device(f, C1, "crit-0000"),
	                 WARD_E_NOTFOUND); /* not waiting any more */
	assert_int_equal(report(f, "crit-0000", 1, "healthy"), 1);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "finished");
	audit_ok(f);
}

/* Failures beyond max_failure pause the campaign; resuming acknowledges them; replays are ignored.
 */
static void test_failures(void **state)
{
	struct fx *f = *state;
	char buf[256], s[10][64];
	struct ward_msg m = {{0}};

	add_devices(f, "cam", 10, "cam-2", " ", false);
	add_campaign(f, C1, "model=cam-2", "100", 1000, false); /* 10%: one of ten may fail */
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_OK);
	for (size_t i = 0; i < 10; i++)
		serial_of(s[i], sizeof(s[i]), "cam", i);
	assert_int_equal(n_offers(f), 10);

	/* one failure: withdrawn and audited at once, not above the limit */
	assert_int_equal(report(f, s[0], 1, "failed"), 1);
	assert_string_equal(dev_state(f, C1, s[0], buf, sizeof(buf)), "failed");
	assert_int_equal(
	    qint(f, "SELECT version FROM device_assignments WHERE serial = '%s' AND target = ''",
	         s[0]),
	    3);
	assert_int_equal(n_audit(f, "device-update-failed", s[0]), 1);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "running");

	/* a replay changes nothing: accepted 0 */
	assert_int_equal(report(f, s[0], 1, "healthy"), 0);
	assert_string_equal(dev_state(f, C1, s[0], buf, sizeof(buf)), "failed");
	{
		struct srv_report r[2];
		size_t acc = 99;
		int64_t last = 0;

		memset(r, 0, sizeof(r));
		r[0].seq = 1;
		r[1].seq = 2;
		memcpy(r[0].stage, "healthy", sizeof("healthy"));
		memcpy(r[1].stage, "downloading", sizeof("downloading"));
		memcpy(r[0].target, TARGET, sizeof(TARGET));
		memcpy(r[1].target, TARGET, sizeof(TARGET));
		MUST(srv_reports_add(f->s, s[1], r, 2, NOW, &acc, &last, &m));
		assert_int_equal(acc, 2);
		assert_int_equal(last, 2);
		MUST(srv_reports_add(f->s, s[1], r, 2, NOW, &acc, &last, &m));
		assert_int_equal(acc, 0);
		assert_int_equal(last, 2);
		assert_int_equal(
		    qint(f, "SELECT COUNT(*) FROM device_reports WHERE serial = '%s'", s[1]), 2);
		/* both stored, but a healthy device moves only to failed or rolled-back */
		assert_string_equal(dev_state(f, C1, s[1], buf, sizeof(buf)), "healthy");
	}
	/* a report about another image does not move the device in this campaign */
	assert_int_equal(report_t(f, s[2], 1, "failed", "other.img"), 1);
	assert_string_equal(dev_state(f, C1, s[2], buf, sizeof(buf)), "offered");
	assert_int_equal(n_offers(f), 9);

	/* a second failure: 2 of 10 is above 10%: paused, offers not taken withdrawn */
	assert_int_equal(report(f, s[1], 3, "rolled-back"), 1);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "paused");
	assert_non_null(
	    strstr(qtext(f, buf, sizeof(buf), "SELECT reason FROM campaigns WHERE id = '" C1 "'"),
	           "2 of 10"));
	assert_int_equal(
	    qint(f, "SELECT COUNT(*) FROM audit WHERE event = 'campaign-pause' AND subject = '" C1
	            "' AND detail LIKE '%%ward-server%%'"),
	    1);
	assert_int_equal(n_devices(f, C1, 0, "offered"), 0);
	assert_int_equal(n_devices(f, C1, 0, "pending"), 8);
	assert_int_equal(n_offers(f), 0);
	assert_int_equal(
	    qint(f, "SELECT COUNT(*) FROM device_assignments WHERE target = '' AND version = 3"),
	    10);
	/* while paused, reports still count, and stepping offers nothing */
	assert_int_equal(report(f, s[3], 1, "downloading"), 1);
	assert_string_equal(dev_state(f, C1, s[3], buf, sizeof(buf)), "downloading");
	assert_int_equal(step(f, C1), WARD_OK);
	assert_int_equal(n_offers(f), 0);

	/* resume: the two failures are acknowledged, the pending devices offered again */
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_RESUME), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "running");
	assert_int_equal(qint(f, "SELECT failures_acked FROM campaigns WHERE id = '" C1 "'"), 2);
	assert_int_equal(n_devices(f, C1, 0, "offered"), 7);
	assert_int_equal(n_offers(f), 7);
	assert_int_equal(qint(f, "SELECT COUNT(*) FROM device_assignments WHERE target = '" TARGET
	                         "' AND version = 4"),
	                 7);
	/* one new failure is within the limit, a second is not */
	assert_int_equal(report(f, s[4], 1, "failed"), 1);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "running");
	assert_int_equal(report(f, s[5], 1, "failed"), 1);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "paused");
	assert_int_equal(n_audit(f, "campaign-pause", C1), 2);
	assert_int_equal(n_audit(f, "campaign-resume", C1), 1);
	audit_ok(f);
}

/* max_failure 0: any failure pauses. Reports from unknown or revoked devices are refused. */
static void test_zero_tolerance(void **state)
{
	struct fx *f = *state;
	char buf[64];
	struct ward_msg m = {{0}};
	struct srv_report r;
	size_t acc = 0;
	int64_t last = 0;

	add_devices(f, "cam", 4, "cam-2", " ", false);
	add_campaign(f, C1, "all", "100", 0, false);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_OK);
	assert_int_equal(report(f, "cam-0002", 1, "healthy"), 1);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "running");
	assert_int_equal(report(f, "cam-0003", 1, "rolled-back"), 1);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "paused");

	memset(&r, 0, sizeof(r));
	r.seq = 5;
	memcpy(r.stage, "healthy", sizeof("healthy"));
	memcpy(r.target, TARGET, sizeof(TARGET));
	assert_int_equal(srv_reports_add(f->s, "nobody", &r, 1, NOW, &acc, &last, &m),
	                 WARD_E_NOTFOUND);
	sqlf(f, "UPDATE devices SET status = 'revoked' WHERE serial = 'cam-0000'");
	assert_int_equal(srv_reports_add(f->s, "cam-0000", &r, 1, NOW, &acc, &last, &m),
	                 WARD_E_DENIED);
	r.seq = 0;
	assert_int_equal(srv_reports_add(f->s, "cam-0001", &r, 1, NOW, &acc, &last, &m),
	                 WARD_E_INVAL);
	r.seq = 1;
	memcpy(r.stage, "pending", sizeof("pending"));
	assert_int_equal(srv_reports_add(f->s, "cam-0001", &r, 1, NOW, &acc, &last, &m),
	                 WARD_E_INVAL);
	assert_int_equal(qint(f, "SELECT report_seq FROM devices WHERE serial = 'cam-0001'"), 0);
	audit_ok(f);
}

/* require_approval: each phase after the first waits for srv_campaign_approve(phase). */
static void test_require_approval(void **state)
{
	struct fx *f = *state;
	char buf[256], s[4][64];

	add_devices(f, "cam", 2, "cam-2", " ", false);
	add_campaign(f, C1, "model=cam-2", "50,100", 0, true);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_OK);
	assert_int_equal(serials_in(f, C1, 0, "offered", s, 4), 1);
	assert_int_equal(serials_in(f, C1, 1, "pending", s + 1, 3), 1);
	assert_int_equal(report(f, s[0], 1, "healthy"), 1);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_int_equal(camp_phase(f, C1), 0);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "running");
	assert_non_null(
	    strstr(qtext(f, buf, sizeof(buf), "SELECT reason FROM campaigns WHERE id = '" C1 "'"),
	           "waits for an operator"));
	assert_string_equal(dev_state(f, C1, s[1], buf, sizeof(buf)), "pending");
	assert_int_equal(step(f, C1), WARD_OK); /* still waiting */
	assert_int_equal(camp_phase(f, C1), 0);

	assert_int_equal(approve_phase(f, C1), WARD_OK);
	assert_int_equal(camp_phase(f, C1), 1);
	assert_string_equal(dev_state(f, C1, s[1], buf, sizeof(buf)), "offered");
	assert_int_equal(n_audit(f, "campaign-approve", C1), 1);
	assert_int_equal(n_audit(f, "campaign-phase", C1), 1);
	assert_int_equal(report(f, s[1], 1, "healthy"), 1);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "finished");

	/* approving ahead: phase 2 of a second campaign was approved while phase 1 ran */
	add_devices(f, "pre", 4, "cam-4", " ", false);
	add_campaign(f, C2, "model=cam-4", "50,100", 0, true);
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_START), WARD_OK);
	assert_int_equal(approve_phase(f, C2), WARD_OK);
	assert_int_equal(approve_phase(f, C2), WARD_E_DENIED); /* already approved */
	assert_int_equal(serials_in(f, C2, 0, "offered", s, 4), 2);
	assert_int_equal(report(f, s[0], 1, "healthy"), 1);
	assert_int_equal(report(f, s[1], 1, "failed"), 1);
	assert_int_equal(step(f, C2), WARD_OK);
	/* max_failure 0 and a failure: paused, not advanced */
	assert_string_equal(camp_state(f, C2, buf, sizeof(buf)), "paused");
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_RESUME), WARD_OK);
	assert_int_equal(camp_phase(f, C2), 1);
	assert_int_equal(n_devices(f, C2, 1, "offered"), 2);
	audit_ok(f);
}

/*
 * Approving "the next phase" when there is none is refused. (Before the fix
 * that came with this file, server/campaign.c accepted it once at the last
 * phase — `phase_approved + 1 >= nphases && phase_approved > phase` is false
 * while phase_approved == phase — raising phase_approved past the last
 * phase and auditing the approval of a phase that does not exist.)
 */
static void test_approve_last_phase(void **state)
{
	struct fx *f = *state;
	char s[2][64];

	/* one phase: nothing ever to approve */
	add_devices(f, "cam", 1, "cam-2", " ", false);
	add_campaign(f, C1, "model=cam-2", "100", 0, true);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_OK);
	assert_int_equal(approve_phase(f, C1), WARD_E_DENIED);
	assert_int_equal(qint(f, "SELECT phase_approved FROM campaigns WHERE id = '" C1 "'"), 0);
	assert_int_equal(n_audit(f, "campaign-approve", C1), 0);

	/* two phases: the second is approved once, then there is nothing left */
	add_devices(f, "two", 2, "cam-3", " ", false);
	add_campaign(f, C2, "model=cam-3", "50,100", 0, true);
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_START), WARD_OK);
	assert_int_equal(serials_in(f, C2, 0, "offered", s, 2), 1);
	assert_int_equal(report(f, s[0], 1, "healthy"), 1);
	assert_int_equal(step(f, C2), WARD_OK);
	assert_int_equal(approve_phase(f, C2), WARD_OK);
	assert_int_equal(camp_phase(f, C2), 1);
	assert_int_equal(approve_phase(f, C2),
	                 WARD_E_DENIED); /* the last phase runs: no next one */
	assert_int_equal(qint(f, "SELECT phase_approved FROM campaigns WHERE id = '" C2 "'"), 1);
	assert_int_equal(n_audit(f, "campaign-approve", C2), 1);
	audit_ok(f);
}

/* cancel: pending and awaiting-approval devices are cancelled, offers not taken withdrawn. */
static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct ranked *order = rank(C1, "cam", 6);
	char buf[64];

	add_devices(f, "cam", 6, "cam-2", " ", false);
	/* phase 1 holds ranks 0..2: rank 0 critical, rank 1 offered, rank 2 downloading */
	sqlf(f, "UPDATE devices SET critical = 1 WHERE serial = '%s'", order[0].serial);
	add_campaign(f, C1, "model=cam-2", "50,100", 0, false);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_OK);
	assert_string_equal(dev_state(f, C1, order[0].serial, buf, sizeof(buf)),
	                    "awaiting-approval");
	assert_string_equal(dev_state(f, C1, order[1].serial, buf, sizeof(buf)), "offered");
	assert_int_equal(report(f, order[2].serial, 1, "downloading"), 1);
	assert_int_equal(n_devices(f, C1, 1, "pending"), 3);

	assert_int_equal(act(f, C1, SRV_CAMPAIGN_CANCEL), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "cancelled");
	assert_string_equal(dev_state(f, C1, order[0].serial, buf, sizeof(buf)), "cancelled");
	assert_string_equal(dev_state(f, C1, order[1].serial, buf, sizeof(buf)), "cancelled");
	assert_string_equal(dev_state(f, C1, order[2].serial, buf, sizeof(buf)),
	                    "downloading"); /* finishes */
	assert_int_equal(n_devices(f, C1, 1, "cancelled"), 3);
	assert_int_equal(
	    qint(f, "SELECT version FROM device_assignments WHERE serial = '%s' AND target = ''",
	         order[1].serial),
	    3);
	assert_int_equal(
	    qint(f,
	         "SELECT COUNT(*) FROM device_assignments WHERE serial = '%s' AND target = '" TARGET
	         "'",
	         order[2].serial),
	    1);
	assert_int_equal(qint(f, "SELECT COUNT(*) FROM device_assignments"), 2);
	assert_int_equal(n_audit(f, "campaign-cancel", C1), 1);

	/* a cancelled campaign: no action, no approval, stepping and reports change nothing */
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_CANCEL), WARD_E_DENIED);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_RESUME), WARD_E_DENIED);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_PAUSE), WARD_E_DENIED);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_E_DENIED);
	assert_int_equal(approve_device(f, C1, order[0].serial), WARD_E_DENIED);
	assert_int_equal(step(f, C1), WARD_OK);
	assert_int_equal(report(f, order[2].serial, 2, "healthy"), 1);
	assert_string_equal(dev_state(f, C1, order[2].serial, buf, sizeof(buf)), "downloading");
	free(order);
	audit_ok(f);
}

/* Selection at start; overlapping starts, empty selections and wrong states are refused. */
static void test_refusals(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	char buf[256];

	add_devices(f, "cam", 4, "cam-2", " lab ", false);
	add_devices(f, "box", 3, "box-1", " lab north ", false);
	add_devices(f, "rev", 1, "cam-2", " lab ", false);
	sqlf(f, "UPDATE devices SET status = 'revoked' WHERE serial = 'rev-0000'");

	/* a selector matching no active device */
	add_campaign(f, C1, "serial=rev-0000", "100", 0, false);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_E_DENIED);
	add_campaign(f, C2, "model=nothing", "100", 0, false);
	assert_int_equal(srv_campaign_act(f->s, C2, SRV_CAMPAIGN_START, ACTOR, NULL, NOW, &m),
	                 WARD_E_DENIED);
	assert_non_null(strstr(m.text, "matches no active device"));
	assert_string_equal(camp_state(f, C2, buf, sizeof(buf)), "created");
	assert_int_equal(n_devices(f, C2, -1, NULL), 0);

	/* the selector as stored tags are: whole tags, keys ANDed, values ORed; revoked devices
	 * never */
	sqlf(f, "UPDATE campaigns SET selector = 'tag=lab tag=south model=cam-2 model=box-1' WHERE "
	        "id = '" C2 "'");
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_START), WARD_OK);
	assert_int_equal(n_devices(f, C2, -1, NULL), 7);
	assert_int_equal(qint(f, "SELECT COUNT(*) FROM campaign_devices WHERE serial = 'rev-0000'"),
	                 0);

	/* overlapping a running campaign */
	add_campaign(f, C3, "tag=north", "100", 0, false);
	assert_int_equal(srv_campaign_act(f->s, C3, SRV_CAMPAIGN_START, ACTOR, NULL, NOW, &m),
	                 WARD_E_DENIED);
	assert_non_null(strstr(m.text, C2));
	assert_string_equal(camp_state(f, C3, buf, sizeof(buf)), "created");
	assert_int_equal(n_devices(f, C3, -1, NULL), 0);
	/* ... or a paused one */
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_PAUSE), WARD_OK);
	assert_int_equal(act(f, C3, SRV_CAMPAIGN_START), WARD_E_DENIED);

	/* wrong states */
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_PAUSE), WARD_E_DENIED);  /* paused */
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_START), WARD_E_DENIED);  /* paused */
	assert_int_equal(act(f, C3, SRV_CAMPAIGN_PAUSE), WARD_E_DENIED);  /* created */
	assert_int_equal(act(f, C3, SRV_CAMPAIGN_RESUME), WARD_E_DENIED); /* created */
	assert_int_equal(approve_phase(f, C3), WARD_E_DENIED);            /* created */
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_RESUME), WARD_OK);
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_RESUME), WARD_E_DENIED); /* running */
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_START), WARD_E_DENIED);  /* running */
	assert_int_equal(approve_phase(f, C2), WARD_E_DENIED);            /* no require_approval */
	assert_int_equal(approve_device(f, C2, "cam-0000"), WARD_E_NOTFOUND);
	assert_int_equal(srv_campaign_approve(f->s, C2, NULL, 0, false, ACTOR, NOW, &m),
	                 WARD_E_INVAL);

	/* unknown and malformed ids, a bad actor */
	assert_int_equal(act(f, "0123456789abcdef", SRV_CAMPAIGN_START), WARD_E_NOTFOUND);
	assert_int_equal(act(f, "0123", SRV_CAMPAIGN_START), WARD_E_NOTFOUND);
	assert_int_equal(act(f, "0123456789ABCDEF", SRV_CAMPAIGN_START), WARD_E_NOTFOUND);
	assert_int_equal(act(f, "'; DROP TABLE x", SRV_CAMPAIGN_START), WARD_E_NOTFOUND);
	assert_int_equal(step(f, "0123456789abcdef"), WARD_E_NOTFOUND);
	assert_int_equal(approve_phase(f, "0123456789abcdef"), WARD_E_NOTFOUND);
	assert_int_equal(srv_campaign_act(f->s, C2, SRV_CAMPAIGN_PAUSE, "", NULL, NOW, &m),
	                 WARD_E_INVAL);

	/* a cancelled campaign frees its devices; a created one can be cancelled */
	assert_int_equal(act(f, C2, SRV_CAMPAIGN_CANCEL), WARD_OK);
	assert_int_equal(act(f, C3, SRV_CAMPAIGN_START), WARD_OK);
	assert_int_equal(n_devices(f, C3, -1, NULL), 3);
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_CANCEL), WARD_OK);
	assert_string_equal(camp_state(f, C1, buf, sizeof(buf)), "cancelled");
	assert_int_equal(act(f, C1, SRV_CAMPAIGN_START), WARD_E_DENIED);
	audit_ok(f);
}

/* ---- main ---------------------------------------------------------------- */

#define BOTH(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_percent_parse), cmocka_unit_test(test_phases_parse),
	    cmocka_unit_test(test_selector),      cmocka_unit_test(test_spec_parse),
	    cmocka_unit_test(test_reports_parse),
	};
	const struct CMUnitTest engine[] = {
	    BOTH(test_phases_1000),        BOTH(test_phases_small),   BOTH(test_critical),
	    BOTH(test_failures),           BOTH(test_zero_tolerance), BOTH(test_require_approval),
	    BOTH(test_approve_last_phase), BOTH(test_cancel),         BOTH(test_refusals),
	};
	int failed = 0;

	g_pg_uri = getenv("WARD_TEST_PG_URI");
	if (g_pg_uri && !g_pg_uri[0])
		g_pg_uri = NULL;
	failed += cmocka_run_group_tests_name("campaign parsers", pure, NULL, NULL);
	g_backend = BE_SQLITE;
	printf("unit_campaign: backend sqlite\n");
	fflush(stdout);
	failed += cmocka_run_group_tests_name("campaign engine (sqlite)", engine, NULL, NULL);
	if (g_pg_uri) {
		g_backend = BE_PG;
		/* the URI itself is not printed: it may hold a password */
		printf("unit_campaign: backend postgresql (WARD_TEST_PG_URI)\n");
		fflush(stdout);
		failed +=
		    cmocka_run_group_tests_name("campaign engine (postgresql)", engine, NULL, NULL);
	} else {
		fprintf(
		    stderr,
		    "unit_campaign: WARD_TEST_PG_URI is not set: the PostgreSQL backend was not "
		    "tested (scripts/pg-throwaway start DIR prints a URI for it)\n");
	}
	return failed ? 1 : 0;
}
