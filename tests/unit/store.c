/*
 * tests/unit/store.c — unit tests of ward-server's storage port
 * (server/store.c and its backends server/store_sqlite.c, server/store_pg.c).
 *
 * Every test runs against SQLite (a fresh database file in a temporary
 * directory) and, when WARD_TEST_PG_URI names a throwaway PostgreSQL database
 * (scripts/pg-throwaway start DIR prints one), against PostgreSQL too — the
 * tests DROP ward's tables in that database before each test. Covered:
 * migrations and URIs, batches, enrolment and its refusals, renewal, status
 * changes and the CRL, check-ins, listings, bounded strings, the audit chain
 * (a known-answer hash computed here independently, and every kind of
 * tampering, done directly with the sqlite3 API or libpq), races between
 * connections (threads, one connection each: exactly one enrolment wins the
 * last quota unit), and on PostgreSQL a connection killed under the store.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"
#include "store_backend.h"
#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/json.h"

/* ---- fixture: one fresh database per test ------------------------------- */

enum backend { BE_SQLITE, BE_PG };

static enum backend g_backend;  /* the group being run */
static const char *g_pg_uri;    /* WARD_TEST_PG_URI */

struct fx {
	enum backend be;        /* which backend this test runs on */
	char dir[PATH_MAX];     /* SQLite: the temporary directory */
	char path[PATH_MAX];    /* SQLite: the database file */
	char uri[PATH_MAX + 16];/* what srv_store_open is given */
	struct srv_store *s;    /* the store, opened by setup */
};

/* Run SQL directly on the database, as an administrator (or attacker) would. */
static void raw_sql(const struct fx *f, const char *sql)
{
	if (f->be == BE_SQLITE) {
		sqlite3 *db = NULL;
		char *err = NULL;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		sqlite3_busy_timeout(db, 5000);
		if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
			fail_msg("sqlite3: %s: %s", sql, err);
		sqlite3_free(err);
		sqlite3_close(db);
	} else {
		PGconn *pg = PQconnectdb(g_pg_uri);
		PGresult *res;

		assert_int_equal(PQstatus(pg), CONNECTION_OK);
		res = PQexec(pg, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("psql: %s: %s", sql, PQerrorMessage(pg));
		PQclear(res);
		PQfinish(pg);
	}
}

/* The first column of the first row of a query, as text, into out ("" for NULL). */
static void raw_value(const struct fx *f, const char *sql, char *out, size_t n)
{
	out[0] = '\0';
	if (f->be == BE_SQLITE) {
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		if (sqlite3_column_text(st, 0))
			assert_int_equal(ward_snprintf(out, n, "%s", sqlite3_column_text(st, 0)), WARD_OK);
		sqlite3_finalize(st);
		sqlite3_close(db);
	} else {
		PGconn *pg = PQconnectdb(g_pg_uri);
		PGresult *res;

		assert_int_equal(PQstatus(pg), CONNECTION_OK);
		res = PQexec(pg, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
			fail_msg("psql: %s: %s", sql, PQerrorMessage(pg));
		if (!PQgetisnull(res, 0, 0))
			assert_int_equal(ward_snprintf(out, n, "%s", PQgetvalue(res, 0, 0)), WARD_OK);
		PQclear(res);
		PQfinish(pg);
	}
}

static int64_t raw_int(const struct fx *f, const char *sql)
{
	char v[64];

	raw_value(f, sql, v, sizeof(v));
	return strtoll(v, NULL, 10);
}

static void rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;

		if (d) {
			while ((de = readdir(d)) != NULL) {
				char sub[PATH_MAX];

				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				if (ward_snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) == WARD_OK)
					rm_rf(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
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
		if (ward_snprintf(f->dir, sizeof(f->dir), "%s/ward-unit-store-XXXXXX", base ? base : "/tmp") ||
		    !mkdtemp(f->dir) || ward_snprintf(f->path, sizeof(f->path), "%s/ward.db", f->dir) ||
		    ward_snprintf(f->uri, sizeof(f->uri), "sqlite:%s", f->path)) {
			free(f);
			return -1;
		}
	} else {
		raw_sql(f, "DROP TABLE IF EXISTS model_harm, campaign_devices, campaigns, device_reports, api_tokens, operators, device_assignments, audit, certs, devices, batches, crl_state, schema_version CASCADE");
		if (ward_snprintf(f->uri, sizeof(f->uri), "%s", g_pg_uri)) {
			free(f);
			return -1;
		}
	}
	if (srv_store_open(f->uri, &f->s, &m) != WARD_OK) {
		print_error("srv_store_open: %s\n", m.text);
		if (f->be == BE_SQLITE)
			rm_rf(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	srv_store_close(f->s);
	if (f->be == BE_SQLITE)
		rm_rf(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

#define MODEL "acme-sensor-2"
#define PEM "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

static void batch_init(struct srv_batch *b, const char *id, const char *user, const char *model,
		       int64_t count, time_t expires)
{
	memset(b, 0, sizeof(*b));
	assert_int_equal(ward_snprintf(b->id, sizeof(b->id), "%s", id), WARD_OK);
	assert_int_equal(ward_snprintf(b->username, sizeof(b->username), "%s", user), WARD_OK);
	assert_int_equal(ward_snprintf(b->pass_hash, sizeof(b->pass_hash), "$argon2id$v=19$SECRETHASH"),
			 WARD_OK);
	assert_int_equal(ward_snprintf(b->model, sizeof(b->model), "%s", model), WARD_OK);
	b->count = count;
	b->used = 0;
	b->expires = expires;
	b->created = time(NULL);
}

static void make_batch(struct fx *f, const char *id, const char *user, int64_t count)
{
	struct srv_batch b;
	struct ward_msg m = {{0}};

	batch_init(&b, id, user, MODEL, count, time(NULL) + 3600);
	if (srv_batch_create(f->s, &b, &m) != WARD_OK)
		fail_msg("srv_batch_create: %s", m.text);
}

/* A distinct lower-case hex certificate serial for n. */
static const char *cert_hex(unsigned n, char buf[SRV_CERT_SERIAL_MAX + 1])
{
	assert_int_equal(ward_snprintf(buf, SRV_CERT_SERIAL_MAX + 1, "%08x%08x", 0xc0ffeeu, n), WARD_OK);
	return buf;
}

static ward_err enroll(struct fx *f, const char *batch, const char *serial, unsigned certno,
		       struct ward_msg *m)
{
	char cs[SRV_CERT_SERIAL_MAX + 1];

	return srv_enroll(f->s, batch, serial, MODEL, cert_hex(certno, cs), PEM, time(NULL) + 86400, m);
}

static void enroll_ok(struct fx *f, const char *batch, const char *serial, unsigned certno)
{
	struct ward_msg m = {{0}};

	if (enroll(f, batch, serial, certno, &m) != WARD_OK)
		fail_msg("srv_enroll %s: %s", serial, m.text);
}

static int64_t batch_used(struct fx *f, const char *user)
{
	struct srv_batch b;
	struct ward_msg m = {{0}};

	if (srv_batch_by_username(f->s, user, &b, &m) != WARD_OK)
		fail_msg("srv_batch_by_username: %s", m.text);
	return b.used;
}

static uint64_t verify_ok(struct fx *f)
{
	struct ward_msg m = {{0}};
	uint64_t n = 0;

	if (srv_audit_verify(f->s, &n, &m) != WARD_OK)
		fail_msg("srv_audit_verify: %s", m.text);
	return n;
}

static void assert_msg_has(const struct ward_msg *m, const char *needle)
{
	if (!strstr(m->text, needle))
		fail_msg("message \"%s\" does not say \"%s\"", m->text, needle);
}

/* ---- opening, URIs, migrations ------------------------------------------- */

static void test_open_and_migrate(void **state)
{
	struct fx *f = *state;
	struct srv_store *again = NULL;
	struct ward_msg m = {{0}};

	{
		const char *boot;
		const char *const *mig;
		long long n = (long long)srv_store_migrations(&boot, &mig);

		assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM schema_version"), n);
		assert_int_equal(raw_int(f, "SELECT MAX(version) FROM schema_version"), n);
	}
	/* opening again applies nothing twice */
	assert_int_equal(srv_store_open(f->uri, &again, &m), WARD_OK);
	srv_store_close(again);
	again = NULL;
	assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM schema_version"),
			 raw_int(f, "SELECT MAX(version) FROM schema_version"));
	assert_int_equal(raw_int(f, "SELECT number FROM crl_state"), 0);

	/* a database from a newer ward-server is refused, not guessed at */
	raw_sql(f, "INSERT INTO schema_version (version, applied) VALUES (99, 0)");
	assert_int_equal(srv_store_open(f->uri, &again, &m), WARD_E_UNSUPPORTED);
	assert_null(again);
	assert_msg_has(&m, "upgrade ward-server");
	raw_sql(f, "DELETE FROM schema_version WHERE version = 99");

	if (f->be == BE_SQLITE) {
		struct stat st;

		assert_int_equal(stat(f->path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600); /* it holds password hashes */
		{
			char mode[16];

			raw_value(f, "PRAGMA journal_mode", mode, sizeof(mode));
			assert_string_equal(mode, "wal");
		}
	}
}

static void test_bad_uris(void **state)
{
	struct srv_store *s = NULL;
	struct ward_msg m = {{0}};

	(void)state;
	assert_int_equal(srv_store_open("mysql://root:hunter2@localhost/ward", &s, &m), WARD_E_INVAL);
	assert_null(strstr(m.text, "hunter2"));
	assert_int_equal(srv_store_open("sqlite:", &s, &m), WARD_E_INVAL);
	assert_int_equal(srv_store_open("sqlite:/nonexistent-ward-dir/x/ward.db", &s, &m), WARD_E_NOTFOUND);
	assert_msg_has(&m, "/nonexistent-ward-dir/x/ward.db");
	/* nothing listens on port 1; the password must not appear in the message */
	assert_int_equal(srv_store_open("postgresql://ward:hunter2@127.0.0.1:1/ward?connect_timeout=5", &s, &m),
			 WARD_E_IO);
	assert_null(strstr(m.text, "hunter2"));
	assert_msg_has(&m, "postgresql: cannot connect");
	assert_null(s);
	assert_int_equal(srv_store_open(NULL, &s, &m), WARD_E_INVAL);
}

/* server/schema.sql (for people) and the SQL in store.c (for the binary) must agree. */
static void normalize_sql(const char *in, struct ward_buf *out)
{
	bool space = true; /* parts are separate statements */

	for (const char *p = in; *p; p++) {
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
			if (!*p)
				break;
		}
		if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
			space = true;
			continue;
		}
		if (space && out->len)
			assert_int_equal(ward_buf_append(out, " ", 1), WARD_OK);
		space = false;
		assert_int_equal(ward_buf_append(out, p, 1), WARD_OK);
	}
}

static void test_schema_sql_matches_embedded(void **state)
{
	struct ward_buf file, a, b;
	struct ward_msg m = {{0}};
	const char *const *mig;
	const char *boot;
	size_t n;

	(void)state;
	if (ward_file_read(WARD_SCHEMA_SQL, 1 << 20, &file, &m) != WARD_OK)
		fail_msg("%s", m.text);
	ward_buf_init(&a, 1 << 20);
	ward_buf_init(&b, 1 << 20);
	normalize_sql((const char *)file.p, &a);
	n = srv_store_migrations(&boot, &mig);
	assert_true(n >= 1);
	normalize_sql(boot, &b);
	for (size_t i = 0; i < n; i++)
		normalize_sql(mig[i], &b);
	if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
		fail_msg("server/schema.sql and the migrations in server/store.c differ:\n%s\n---\n%s",
			 (const char *)a.p, (const char *)b.p);
	ward_buf_free(&file);
	ward_buf_free(&a);
	ward_buf_free(&b);
}

/* ---- batches ------------------------------------------------------------- */

static void test_batches(void **state)
{
	struct fx *f = *state;
	struct srv_batch b, got, dup;
	struct ward_msg m = {{0}};

	batch_init(&b, "b1", "factory-1", MODEL, 100, time(NULL) + 3600);
	b.used = 3;
	assert_int_equal(srv_batch_create(f->s, &b, &m), WARD_OK);
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(srv_batch_by_username(f->s, "factory-1", &got, &m), WARD_OK);
	assert_string_equal(got.id, "b1");
	assert_string_equal(got.username, "factory-1");
	assert_string_equal(got.pass_hash, b.pass_hash);
	assert_string_equal(got.model, MODEL);
	assert_int_equal(got.count, 100);
	assert_int_equal(got.used, 3);
	assert_int_equal(got.expires, b.expires);
	assert_int_equal(got.created, b.created);

	/* same id, same user name: refused, and the password hash is never quoted */
	batch_init(&dup, "b1", "factory-2", MODEL, 1, time(NULL) + 3600);
	assert_int_equal(srv_batch_create(f->s, &dup, &m), WARD_E_EXISTS);
	assert_msg_has(&m, "b1");
	assert_null(strstr(m.text, "SECRETHASH"));
	batch_init(&dup, "b2", "factory-1", MODEL, 1, time(NULL) + 3600);
	assert_int_equal(srv_batch_create(f->s, &dup, &m), WARD_E_EXISTS);
	assert_msg_has(&m, "factory-1");
	assert_null(strstr(m.text, "SECRETHASH"));

	/* outputs are untouched on failure */
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(srv_batch_by_username(f->s, "nobody", &got, &m), WARD_E_NOTFOUND);
	assert_int_equal((unsigned char)got.id[0], 0x5a);

	/* bounded: an unterminated field is too long, never cut */
	batch_init(&dup, "b3", "u3", MODEL, 1, time(NULL) + 3600);
	memset(dup.username, 'u', sizeof(dup.username));
	assert_int_equal(srv_batch_create(f->s, &dup, &m), WARD_E_TOOBIG);
	batch_init(&dup, "b3", "u3", MODEL, 1, time(NULL) + 3600);
	memset(dup.pass_hash, 'p', sizeof(dup.pass_hash));
	assert_int_equal(srv_batch_create(f->s, &dup, &m), WARD_E_TOOBIG);
	assert_null(strstr(m.text, "ppppp"));
	batch_init(&dup, "b3", "u3", "model\nwith newline", 1, time(NULL) + 3600);
	assert_int_equal(srv_batch_create(f->s, &dup, &m), WARD_E_INVAL);
	batch_init(&dup, "b3", "u3\xff", MODEL, 1, time(NULL) + 3600);
	assert_int_equal(srv_batch_create(f->s, &dup, &m), WARD_E_INVAL);
	batch_init(&dup, "b3", "u3", MODEL, 1, time(NULL) + 3600);
	dup.used = 2;
	assert_int_equal(srv_batch_create(f->s, &dup, &m), WARD_E_INVAL);
	batch_init(&dup, "", "u3", MODEL, 1, time(NULL) + 3600);
	assert_int_equal(srv_batch_create(f->s, &dup, &m), WARD_E_INVAL);
	assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM batches"), 1);
	{
		char longname[200];

		memset(longname, 'x', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(srv_batch_by_username(f->s, longname, &got, &m), WARD_E_TOOBIG);
	}
	assert_int_equal(srv_batch_by_username(f->s, NULL, &got, &m), WARD_E_INVAL);
}

/* ---- enrolment ----------------------------------------------------------- */

static void test_enroll(void **state)
{
	struct fx *f = *state;
	struct srv_device d;
	struct ward_msg m = {{0}};
	char cs[SRV_CERT_SERIAL_MAX + 1], dev[128], detail[512];
	enum srv_device_status st = SRV_DEVICE_DECOMMISSIONED;
	bool current = false;
	time_t before = time(NULL);

	make_batch(f, "b1", "factory-1", 10);
	enroll_ok(f, "b1", "SN-0001", 1);
	assert_int_equal(batch_used(f, "factory-1"), 1);

	assert_int_equal(srv_device_get(f->s, "SN-0001", &d, &m), WARD_OK);
	assert_string_equal(d.serial, "SN-0001");
	assert_string_equal(d.model, MODEL);
	assert_string_equal(d.batch_id, "b1");
	assert_int_equal(d.status, SRV_DEVICE_ACTIVE);
	assert_string_equal(d.cert_serial, cert_hex(1, cs));
	assert_true(d.cert_not_after > before);
	assert_true(d.enrolled >= before && d.enrolled <= time(NULL));
	assert_int_equal(d.last_seen, d.enrolled);
	assert_string_equal(d.facts, "");

	assert_int_equal(srv_cert_status(f->s, cert_hex(1, cs), dev, sizeof(dev), &st, &current, &m), WARD_OK);
	assert_string_equal(dev, "SN-0001");
	assert_int_equal(st, SRV_DEVICE_ACTIVE);
	assert_true(current);

	/* the enrolment was audited in the same transaction */
	assert_int_equal(verify_ok(f), 2); /* batch-create (seq 1) + enroll (seq 2) */
	raw_value(f, "SELECT event FROM audit WHERE seq = 1", detail, sizeof(detail));
	assert_string_equal(detail, "batch-create");
	raw_value(f, "SELECT event FROM audit WHERE seq = 2", detail, sizeof(detail));
	assert_string_equal(detail, "enroll");
	raw_value(f, "SELECT subject FROM audit WHERE seq = 2", detail, sizeof(detail));
	assert_string_equal(detail, "SN-0001");
	raw_value(f, "SELECT detail FROM audit WHERE seq = 2", detail, sizeof(detail));
	{
		char want[256];

		assert_int_equal(ward_snprintf(want, sizeof(want),
					       "{\"batch\":\"b1\",\"cert_serial\":\"%s\",\"model\":\"%s\","
					       "\"not_after\":%lld}",
					       cs, MODEL, (long long)d.cert_not_after),
				 WARD_OK);
		assert_string_equal(detail, want);
	}
	assert_int_equal(srv_device_get(f->s, "SN-0002", &d, &m), WARD_E_NOTFOUND);
}

static void test_enroll_refusals(void **state)
{
	struct fx *f = *state;
	struct srv_batch b;
	struct ward_msg m = {{0}};
	char cs[SRV_CERT_SERIAL_MAX + 1];

	make_batch(f, "b1", "factory-1", 2);
	batch_init(&b, "old", "factory-old", MODEL, 10, time(NULL) - 10);
	assert_int_equal(srv_batch_create(f->s, &b, &m), WARD_OK);
	enroll_ok(f, "b1", "SN-1", 1);

	/* duplicate serial: EXISTS, and no quota unit consumed */
	assert_int_equal(enroll(f, "b1", "SN-1", 2, &m), WARD_E_EXISTS);
	assert_msg_has(&m, "SN-1");
	assert_int_equal(batch_used(f, "factory-1"), 1);
	/* duplicate certificate serial */
	assert_int_equal(enroll(f, "b1", "SN-2", 1, &m), WARD_E_EXISTS);
	assert_int_equal(batch_used(f, "factory-1"), 1);
	/* model mismatch */
	assert_int_equal(srv_enroll(f->s, "b1", "SN-3", "other-model", cert_hex(3, cs), PEM, time(NULL) + 60, &m),
			 WARD_E_DENIED);
	assert_msg_has(&m, "other-model");
	/* expired batch */
	assert_int_equal(enroll(f, "old", "SN-4", 4, &m), WARD_E_EXPIRED);
	assert_msg_has(&m, "expired");
	/* unknown batch */
	assert_int_equal(enroll(f, "nope", "SN-5", 5, &m), WARD_E_NOTFOUND);
	/* quota: the second unit is fine, the third is refused */
	enroll_ok(f, "b1", "SN-6", 6);
	assert_int_equal(enroll(f, "b1", "SN-7", 7, &m), WARD_E_DENIED);
	assert_msg_has(&m, "used all 2");
	assert_int_equal(batch_used(f, "factory-1"), 2);
	assert_int_equal(batch_used(f, "factory-old"), 0);

	/* bounded and validated inputs */
	{
		char serial[200];

		memset(serial, 'S', sizeof(serial) - 1);
		serial[sizeof(serial) - 1] = '\0';
		assert_int_equal(enroll(f, "b1", serial, 8, &m), WARD_E_TOOBIG);
		serial[127] = '\0'; /* exactly the field's 127 characters would fit, if quota allowed */
		assert_int_equal(enroll(f, "b1", serial, 8, &m), WARD_E_DENIED);
	}
	assert_int_equal(srv_enroll(f->s, "b1", "SN-9", MODEL, "ABCDEF", PEM, 0, &m), WARD_E_INVAL);
	assert_msg_has(&m, "lower-case hex");
	assert_int_equal(srv_enroll(f->s, "b1", "SN-9", MODEL, "0123456789012345678901234567890123456789a",
				    PEM, 0, &m),
			 WARD_E_TOOBIG);
	{
		char *big = malloc(SRV_CERT_PEM_MAX + 2);

		assert_non_null(big);
		memset(big, 'A', SRV_CERT_PEM_MAX + 1);
		big[SRV_CERT_PEM_MAX + 1] = '\0';
		assert_int_equal(srv_enroll(f->s, "b1", "SN-9", MODEL, "09", big, 0, &m), WARD_E_TOOBIG);
		free(big);
	}
	assert_int_equal(srv_enroll(f->s, "b1", "SN\x1b[31m", MODEL, "09", PEM, 0, &m), WARD_E_INVAL);
	assert_int_equal(srv_enroll(f->s, "b1", NULL, MODEL, "09", PEM, 0, &m), WARD_E_INVAL);
	assert_int_equal(srv_enroll(f->s, "b1", "", MODEL, "09", PEM, 0, &m), WARD_E_INVAL);

	/* nothing refused left a trace */
	assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM devices"), 2);
	assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM certs"), 2);
	assert_int_equal(verify_ok(f), 4); /* two batch-creates + two enrolls */
}

/* ---- races: one connection per thread ------------------------------------ */

struct racer {
	const char *uri;            /* the database */
	pthread_barrier_t *go;      /* everyone starts at once */
	char batch[40];             /* what to enrol */
	char serial[128];
	unsigned certno;
	int audits;                 /* for the audit race: how many records to append */
	ward_err result;            /* what srv_enroll (or the last srv_audit) said */
	struct ward_msg m;
};

static void *race_enroll(void *arg)
{
	struct racer *r = arg;
	struct srv_store *s = NULL;
	char cs[SRV_CERT_SERIAL_MAX + 1];
	ward_err e = srv_store_open(r->uri, &s, &r->m);

	pthread_barrier_wait(r->go);
	if (!e) {
		if (ward_snprintf(cs, sizeof(cs), "%08x%08x", 0xbadc0deu, r->certno) != WARD_OK)
			e = WARD_E_INVAL;
		else
			e = srv_enroll(s, r->batch, r->serial, MODEL, cs, PEM, time(NULL) + 60, &r->m);
	}
	r->result = e;
	srv_store_close(s);
	return NULL;
}

static void *race_audit(void *arg)
{
	struct racer *r = arg;
	struct srv_store *s = NULL;
	ward_err e = srv_store_open(r->uri, &s, &r->m);

	pthread_barrier_wait(r->go);
	for (int i = 0; !e && i < r->audits; i++)
		e = srv_audit(s, "race", r->serial, "{\"i\":1}", &r->m);
	r->result = e;
	srv_store_close(s);
	return NULL;
}

#define RACERS 8

/* Start RACERS threads on fn, wait for all; counts of results into ok/denied/exists. */
static void race(struct fx *f, struct racer *r, void *(*fn)(void *), int *ok, int *denied, int *exists)
{
	pthread_t t[RACERS];
	pthread_barrier_t go;

	*ok = *denied = *exists = 0;
	assert_int_equal(pthread_barrier_init(&go, NULL, RACERS), 0);
	for (int i = 0; i < RACERS; i++) {
		r[i].uri = f->uri;
		r[i].go = &go;
		assert_int_equal(pthread_create(&t[i], NULL, fn, &r[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < RACERS; i++) {
		if (r[i].result == WARD_OK)
			(*ok)++;
		else if (r[i].result == WARD_E_DENIED)
			(*denied)++;
		else if (r[i].result == WARD_E_EXISTS)
			(*exists)++;
		else
			fail_msg("racer %d: %s: %s", i, ward_err_name(r[i].result), r[i].m.text);
	}
}

static void test_race_last_unit(void **state)
{
	struct fx *f = *state;
	struct racer r[RACERS];
	int ok, denied, exists;

	for (int round = 0; round < 3; round++) {
		char id[16], user[16];

		assert_int_equal(ward_snprintf(id, sizeof(id), "b%d", round), WARD_OK);
		assert_int_equal(ward_snprintf(user, sizeof(user), "factory-%d", round), WARD_OK);
		make_batch(f, id, user, 3);
		enroll_ok(f, id, round == 0 ? "first-0" : round == 1 ? "first-1" : "first-2", 100 + round);
		enroll_ok(f, id, round == 0 ? "second-0" : round == 1 ? "second-1" : "second-2", 200 + round);
		memset(r, 0, sizeof(r));
		for (int i = 0; i < RACERS; i++) {
			assert_int_equal(ward_snprintf(r[i].batch, sizeof(r[i].batch), "%s", id), WARD_OK);
			assert_int_equal(ward_snprintf(r[i].serial, sizeof(r[i].serial), "racer-%d-%d", round, i),
					 WARD_OK);
			r[i].certno = (unsigned)(round * 100 + i);
		}
		race(f, r, race_enroll, &ok, &denied, &exists);
		assert_int_equal(ok, 1);          /* exactly one wins the last unit */
		assert_int_equal(denied, RACERS - 1);
		assert_int_equal(exists, 0);
		assert_int_equal(batch_used(f, user), 3);
	}
	assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM devices"), 9);
	assert_int_equal(verify_ok(f), 12); /* three batch-creates + nine enrolls */
}

static void test_race_same_serial(void **state)
{
	struct fx *f = *state;
	struct racer r[RACERS];
	int ok, denied, exists;

	/* two batches with room to spare: the same serial through both at once */
	make_batch(f, "b1", "factory-1", 100);
	make_batch(f, "b2", "factory-2", 100);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(ward_snprintf(r[i].batch, sizeof(r[i].batch), "%s", i % 2 ? "b2" : "b1"),
				 WARD_OK);
		assert_int_equal(ward_snprintf(r[i].serial, sizeof(r[i].serial), "SN-TWIN"), WARD_OK);
		r[i].certno = (unsigned)i;
	}
	race(f, r, race_enroll, &ok, &denied, &exists);
	assert_int_equal(ok, 1);
	assert_int_equal(exists, RACERS - 1);
	/* the losers consumed nothing */
	assert_int_equal(batch_used(f, "factory-1") + batch_used(f, "factory-2"), 1);
	assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM certs"), 1);
	assert_int_equal(verify_ok(f), 3); /* two batch-creates + one enroll */
}

static void test_race_audit(void **state)
{
	struct fx *f = *state;
	struct racer r[RACERS];
	int ok, denied, exists;

	memset(r, 0, sizeof(r));
	for (int i = 0; i < RACERS; i++) {
		r[i].audits = 12;
		assert_int_equal(ward_snprintf(r[i].serial, sizeof(r[i].serial), "writer-%d", i), WARD_OK);
	}
	race(f, r, race_audit, &ok, &denied, &exists);
	assert_int_equal(ok, RACERS);
	assert_int_equal(verify_ok(f), RACERS * 12);
	assert_int_equal(raw_int(f, "SELECT MAX(seq) FROM audit"), RACERS * 12);
}

/* ---- renewal, status, CRL ------------------------------------------------ */

static void test_renew(void **state)
{
	struct fx *f = *state;
	struct srv_device d;
	struct ward_msg m = {{0}};
	char cs[SRV_CERT_SERIAL_MAX + 1], dev[128];
	enum srv_device_status st;
	bool current = true;

	make_batch(f, "b1", "factory-1", 10);
	enroll_ok(f, "b1", "SN-1", 1);
	assert_int_equal(srv_renew(f->s, "SN-1", cert_hex(2, cs), PEM, time(NULL) + 999, &m), WARD_OK);
	assert_int_equal(srv_device_get(f->s, "SN-1", &d, &m), WARD_OK);
	assert_string_equal(d.cert_serial, cert_hex(2, cs));
	assert_int_equal(srv_cert_status(f->s, cert_hex(2, cs), dev, sizeof(dev), &st, &current, &m), WARD_OK);
	assert_true(current);
	assert_int_equal(srv_cert_status(f->s, cert_hex(1, cs), dev, sizeof(dev), &st, &current, &m), WARD_OK);
	assert_false(current); /* superseded */
	assert_int_equal(st, SRV_DEVICE_ACTIVE);
	/* the same certificate twice, an unknown device */
	assert_int_equal(srv_renew(f->s, "SN-1", cert_hex(2, cs), PEM, 0, &m), WARD_E_EXISTS);
	assert_int_equal(srv_renew(f->s, "SN-X", cert_hex(3, cs), PEM, 0, &m), WARD_E_NOTFOUND);
	assert_int_equal(verify_ok(f), 3); /* batch-create + enroll + renew */
	raw_value(f, "SELECT event FROM audit WHERE seq = 3", dev, sizeof(dev));
	assert_string_equal(dev, "renew");
	/* a revoked device cannot renew */
	assert_int_equal(srv_device_set_status(f->s, "SN-1", SRV_DEVICE_REVOKED, &m), WARD_OK);
	assert_int_equal(srv_renew(f->s, "SN-1", cert_hex(4, cs), PEM, 0, &m), WARD_E_DENIED);
	assert_msg_has(&m, "revoked");
	assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM certs"), 2);
}

static void test_status_and_crl(void **state)
{
	struct fx *f = *state;
	struct srv_revoked *rev = NULL;
	struct ward_msg m = {{0}};
	char cs[SRV_CERT_SERIAL_MAX + 1], dev[128];
	enum srv_device_status st = SRV_DEVICE_ACTIVE;
	bool current = true;
	uint64_t num = 0;
	size_t n = 99;

	make_batch(f, "b1", "factory-1", 10);
	enroll_ok(f, "b1", "SN-1", 1);
	enroll_ok(f, "b1", "SN-2", 2);
	assert_int_equal(srv_renew(f->s, "SN-1", cert_hex(3, cs), PEM, time(NULL) + 60, &m), WARD_OK);

	assert_int_equal(srv_revoked(f->s, &rev, &n, &m), WARD_OK);
	assert_int_equal(n, 0);
	free(rev);
	rev = NULL;

	assert_int_equal(srv_device_set_status(f->s, "SN-1", SRV_DEVICE_REVOKED, &m), WARD_OK);
	/* every certificate of SN-1 is on the CRL, none of SN-2 */
	assert_int_equal(srv_revoked(f->s, &rev, &n, &m), WARD_OK);
	assert_int_equal(n, 2);
	/* revoked in the same second: then ordered by serial */
	assert_string_equal(rev[0].cert_serial, cert_hex(1, cs));
	assert_string_equal(rev[1].cert_serial, cert_hex(3, cs));
	assert_true(rev[0].revoked_at > 0 && rev[0].revoked_at <= time(NULL));
	free(rev);
	rev = NULL;
	assert_int_equal(srv_cert_status(f->s, cert_hex(3, cs), dev, sizeof(dev), &st, &current, &m), WARD_OK);
	assert_int_equal(st, SRV_DEVICE_REVOKED);
	assert_false(current);
	assert_int_equal(srv_cert_status(f->s, cert_hex(2, cs), dev, sizeof(dev), &st, &current, &m), WARD_OK);
	assert_int_equal(st, SRV_DEVICE_ACTIVE);
	assert_true(current);

	/* transitions: same again is a no-op, never back to active, revoked -> decommissioned ok */
	assert_int_equal(srv_device_set_status(f->s, "SN-1", SRV_DEVICE_REVOKED, &m), WARD_OK);
	assert_int_equal(srv_device_set_status(f->s, "SN-1", SRV_DEVICE_ACTIVE, &m), WARD_E_DENIED);
	assert_int_equal(srv_device_set_status(f->s, "SN-1", SRV_DEVICE_DECOMMISSIONED, &m), WARD_OK);
	assert_int_equal(srv_device_set_status(f->s, "SN-1", SRV_DEVICE_REVOKED, &m), WARD_E_DENIED);
	assert_int_equal(srv_device_set_status(f->s, "SN-2", SRV_DEVICE_DECOMMISSIONED, &m), WARD_OK);
	assert_int_equal(srv_device_set_status(f->s, "SN-X", SRV_DEVICE_REVOKED, &m), WARD_E_NOTFOUND);
	assert_int_equal(srv_device_set_status(f->s, "SN-2", (enum srv_device_status)7, &m), WARD_E_INVAL);
	assert_int_equal(srv_revoked(f->s, &rev, &n, &m), WARD_OK);
	assert_int_equal(n, 3);
	free(rev);

	/* unknown certificate; a device serial that does not fit the caller's buffer */
	assert_int_equal(srv_cert_status(f->s, "00ff", dev, sizeof(dev), &st, &current, &m), WARD_E_NOTFOUND);
	dev[0] = 'z';
	assert_int_equal(srv_cert_status(f->s, cert_hex(2, cs), dev, 4, &st, &current, &m), WARD_E_TOOBIG);
	assert_int_equal(dev[0], 'z');

	/* CRL numbers: monotonic and persisted */
	assert_int_equal(srv_crl_number(f->s, &num, &m), WARD_OK);
	assert_int_equal(num, 1);
	assert_int_equal(srv_crl_number(f->s, &num, &m), WARD_OK);
	assert_int_equal(num, 2);
	{
		struct srv_store *again = NULL;

		assert_int_equal(srv_store_open(f->uri, &again, &m), WARD_OK);
		assert_int_equal(srv_crl_number(again, &num, &m), WARD_OK);
		assert_int_equal(num, 3);
		srv_store_close(again);
	}
}

static void test_checkin(void **state)
{
	struct fx *f = *state;
	struct srv_device d;
	struct ward_msg m = {{0}};
	time_t now = time(NULL) + 100;

	make_batch(f, "b1", "factory-1", 10);
	enroll_ok(f, "b1", "SN-1", 1);
	assert_int_equal(srv_checkin(f->s, "SN-1", "{\"version\":\"1.2.0\",\"slot\":\"A\"}", now, &m), WARD_OK);
	assert_int_equal(srv_device_get(f->s, "SN-1", &d, &m), WARD_OK);
	assert_string_equal(d.facts, "{\"version\":\"1.2.0\",\"slot\":\"A\"}");
	assert_int_equal(d.last_seen, now);
	/* an older check-in arriving late changes nothing */
	assert_int_equal(srv_checkin(f->s, "SN-1", "{\"version\":\"1.1.0\"}", now - 50, &m), WARD_OK);
	assert_int_equal(srv_device_get(f->s, "SN-1", &d, &m), WARD_OK);
	assert_string_equal(d.facts, "{\"version\":\"1.2.0\",\"slot\":\"A\"}");
	assert_int_equal(d.last_seen, now);
	assert_int_equal(srv_checkin(f->s, "SN-1", NULL, now + 1, &m), WARD_OK);
	assert_int_equal(srv_device_get(f->s, "SN-1", &d, &m), WARD_OK);
	assert_string_equal(d.facts, "");

	/* refusals */
	assert_int_equal(srv_checkin(f->s, "SN-X", "{}", now, &m), WARD_E_NOTFOUND);
	assert_int_equal(srv_checkin(f->s, "SN-1", "{not json", now + 2, &m), WARD_E_PARSE);
	assert_int_equal(srv_checkin(f->s, "SN-1", "[1,2]", now + 2, &m), WARD_E_PARSE);
	{
		/* the registry keeps facts of at most sizeof(d.facts) - 1 bytes */
		enum { MAXF = sizeof(d.facts) - 1 };
		static char big[sizeof(d.facts) + 64];
		size_t i;

		memcpy(big, "{\"x\":\"", 6);
		for (i = 6; i < MAXF - 2; i++)
			big[i] = 'a';
		memcpy(big + i, "\"}", 3); /* exactly MAXF bytes: the most that fits */
		assert_int_equal(srv_checkin(f->s, "SN-1", big, now + 3, &m), WARD_OK);
		assert_int_equal(srv_device_get(f->s, "SN-1", &d, &m), WARD_OK);
		assert_int_equal(strlen(d.facts), MAXF);
		memset(big + 6, 'a', MAXF + 5);
		memcpy(big + MAXF + 11, "\"}", 3);
		assert_int_equal(srv_checkin(f->s, "SN-1", big, now + 4, &m), WARD_E_TOOBIG);
	}
	assert_int_equal(srv_device_set_status(f->s, "SN-1", SRV_DEVICE_REVOKED, &m), WARD_OK);
	assert_int_equal(srv_checkin(f->s, "SN-1", "{}", now + 10, &m), WARD_E_DENIED);
}

static void test_devices_list(void **state)
{
	struct fx *f = *state;
	struct srv_device d, *v = NULL;
	struct ward_msg m = {{0}};
	size_t n = 0;

	make_batch(f, "b1", "factory-1", 100);
	assert_int_equal(srv_devices(f->s, &v, &n, 10, &m), WARD_OK);
	assert_int_equal(n, 0);
	free(v);
	for (unsigned i = 0; i < 40; i++) {
		char serial[32];

		assert_int_equal(ward_snprintf(serial, sizeof(serial), "SN-%03u", 39 - i), WARD_OK);
		enroll_ok(f, "b1", serial, i);
	}
	assert_int_equal(srv_devices(f->s, &v, &n, 25, &m), WARD_OK);
	assert_int_equal(n, 25);
	assert_string_equal(v[0].serial, "SN-000");
	assert_string_equal(v[24].serial, "SN-024");
	assert_string_equal(v[3].batch_id, "b1");
	free(v);
	assert_int_equal(srv_devices(f->s, &v, &n, 1000, &m), WARD_OK);
	assert_int_equal(n, 40);
	free(v);
	v = &d; /* limit 0: an empty list, *out set to NULL */
	assert_int_equal(srv_devices(f->s, &v, &n, 0, &m), WARD_OK);
	assert_null(v);
	assert_int_equal(n, 0);
}

/* A stored value longer than the caller's field is refused on the way out, never cut. */
static void test_stored_value_too_long(void **state)
{
	struct fx *f = *state;
	struct srv_device d;
	struct ward_msg m = {{0}};

	make_batch(f, "b1", "factory-1", 10);
	enroll_ok(f, "b1", "SN-1", 1);
	raw_sql(f, "UPDATE devices SET model = 'mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm'");
	memset(&d, 0x5a, sizeof(d));
	assert_int_equal(srv_device_get(f->s, "SN-1", &d, &m), WARD_E_TOOBIG);
	assert_msg_has(&m, "device model");
	assert_int_equal((unsigned char)d.serial[0], 0x5a);
}

/* ---- the audit chain ----------------------------------------------------- */

static void test_audit_known_answer(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	char stored[128], prev[128], detail[256], canon[512], hex[65];
	uint8_t buf[32 + 512], digest[32];
	int64_t t;
	size_t len;

	assert_int_equal(srv_audit(f->s, "test", "subj \"q\" \\ é", "{ \"b\": \"x\",  \"a\": 1 }", &m), WARD_OK);
	raw_value(f, "SELECT prev_hash FROM audit WHERE seq = 1", prev, sizeof(prev));
	assert_string_equal(prev, "0000000000000000000000000000000000000000000000000000000000000000");
	raw_value(f, "SELECT detail FROM audit WHERE seq = 1", detail, sizeof(detail));
	assert_string_equal(detail, "{\"a\":1,\"b\":\"x\"}"); /* stored canonical */
	t = raw_int(f, "SELECT time FROM audit WHERE seq = 1");
	assert_true(t > 0 && t <= (int64_t)time(NULL));

	/* SHA-256(32 zero bytes || canonical JSON), the JSON written out by hand */
	assert_int_equal(ward_snprintf(canon, sizeof(canon),
				       "{\"detail\":{\"a\":1,\"b\":\"x\"},\"event\":\"test\",\"seq\":1,"
				       "\"subject\":\"subj \\\"q\\\" \\\\ é\",\"time\":%" PRId64 "}",
				       t),
			 WARD_OK);
	len = strlen(canon);
	memset(buf, 0, 32);
	memcpy(buf + 32, canon, len);
	assert_int_equal(ward_crypto_hash(WARD_HASH_SHA256, buf, 32 + len, digest), WARD_OK);
	ward_hex_encode(digest, sizeof(digest), hex);
	raw_value(f, "SELECT hash FROM audit WHERE seq = 1", stored, sizeof(stored));
	assert_string_equal(stored, hex);

	/* the second record links to the first; a NULL detail hashes as null */
	assert_int_equal(srv_audit(f->s, "second", "", NULL, &m), WARD_OK);
	raw_value(f, "SELECT prev_hash FROM audit WHERE seq = 2", prev, sizeof(prev));
	assert_string_equal(prev, hex);
	t = raw_int(f, "SELECT time FROM audit WHERE seq = 2");
	assert_int_equal(ward_snprintf(canon, sizeof(canon),
				       "{\"detail\":null,\"event\":\"second\",\"seq\":2,\"subject\":\"\","
				       "\"time\":%" PRId64 "}",
				       t),
			 WARD_OK);
	len = strlen(canon);
	memcpy(buf, digest, 32);
	memcpy(buf + 32, canon, len);
	assert_int_equal(ward_crypto_hash(WARD_HASH_SHA256, buf, 32 + len, digest), WARD_OK);
	ward_hex_encode(digest, sizeof(digest), hex);
	raw_value(f, "SELECT hash FROM audit WHERE seq = 2", stored, sizeof(stored));
	assert_string_equal(stored, hex);
	assert_int_equal(verify_ok(f), 2);
}

static void test_audit_inputs(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	char big[SRV_AUDIT_DETAIL_MAX + 64];
	uint64_t n = 77;

	assert_int_equal(srv_audit_verify(f->s, &n, &m), WARD_OK); /* empty log */
	assert_int_equal(n, 0);
	assert_int_equal(srv_audit(f->s, "", "s", NULL, &m), WARD_E_INVAL);
	assert_int_equal(srv_audit(f->s, NULL, "s", NULL, &m), WARD_E_INVAL);
	assert_int_equal(srv_audit(f->s, "e", NULL, NULL, &m), WARD_E_INVAL);
	memset(big, 'e', SRV_AUDIT_EVENT_MAX + 1);
	big[SRV_AUDIT_EVENT_MAX + 1] = '\0';
	assert_int_equal(srv_audit(f->s, big, "s", NULL, &m), WARD_E_TOOBIG);
	big[SRV_AUDIT_EVENT_MAX] = '\0';
	assert_int_equal(srv_audit(f->s, big, "s", NULL, &m), WARD_OK);
	memset(big, 's', SRV_AUDIT_SUBJECT_MAX + 1);
	big[SRV_AUDIT_SUBJECT_MAX + 1] = '\0';
	assert_int_equal(srv_audit(f->s, "e", big, NULL, &m), WARD_E_TOOBIG);
	assert_int_equal(srv_audit(f->s, "e", "line\nbreak", NULL, &m), WARD_E_INVAL);
	assert_int_equal(srv_audit(f->s, "e", "s", "[1]", &m), WARD_E_INVAL);
	assert_int_equal(srv_audit(f->s, "e", "s", "{\"a\":", &m), WARD_E_PARSE);
	assert_int_equal(srv_audit(f->s, "e", "s", "{\"a\":1.5}", &m), WARD_E_PARSE); /* not canonical JSON */
	assert_int_equal(srv_audit(f->s, "e", "s", "{\"a\":1,\"a\":2}", &m), WARD_E_PARSE);
	memcpy(big, "{\"x\":\"", 6);
	memset(big + 6, 'd', SRV_AUDIT_DETAIL_MAX);
	memcpy(big + 6 + SRV_AUDIT_DETAIL_MAX, "\"}", 3);
	assert_int_equal(srv_audit(f->s, "e", "s", big, &m), WARD_E_TOOBIG);
	assert_int_equal(verify_ok(f), 1);
}

/* Twenty records with some variety, then the tampering sql, then the verdict. */
static void tamper(struct fx *f, const char *sql, const char *verdict)
{
	struct ward_msg m = {{0}};
	uint64_t n = 12345;

	for (int i = 1; i <= 20; i++) {
		char subject[32], detail[64];

		assert_int_equal(ward_snprintf(subject, sizeof(subject), "device-%d", i), WARD_OK);
		assert_int_equal(ward_snprintf(detail, sizeof(detail), "{\"n\":%d,\"why\":\"test\"}", i), WARD_OK);
		if (srv_audit(f->s, i % 3 ? "enroll" : "renew", subject, i % 4 ? detail : NULL, &m) != WARD_OK)
			fail_msg("srv_audit: %s", m.text);
	}
	assert_int_equal(verify_ok(f), 20);
	raw_sql(f, sql);
	assert_int_equal(srv_audit_verify(f->s, &n, &m), WARD_E_VERIFY);
	assert_int_equal(n, 12345); /* untouched */
	assert_msg_has(&m, verdict);
}

static void test_tamper_edit(void **state)
{
	tamper(*state, "UPDATE audit SET subject = 'mallory' WHERE seq = 17", "record 17 was edited");
}

static void test_tamper_edit_detail(void **state)
{
	tamper(*state, "UPDATE audit SET detail = '{\"n\":5,\"why\":\"nothing to see\"}' WHERE seq = 5",
	       "record 5 was edited");
}

static void test_tamper_edit_time(void **state)
{
	tamper(*state, "UPDATE audit SET time = time - 86400 WHERE seq = 1", "record 1 was edited");
}

static void test_tamper_edit_last(void **state)
{
	tamper(*state, "UPDATE audit SET event = 'nothing' WHERE seq = 20", "record 20 was edited");
}

static void test_tamper_remove(void **state)
{
	tamper(*state, "DELETE FROM audit WHERE seq = 17", "a record was removed before seq 18");
}

static void test_tamper_remove_first(void **state)
{
	tamper(*state, "DELETE FROM audit WHERE seq = 1", "a record was removed before seq 2");
}

static void test_tamper_reorder(void **state)
{
	tamper(*state,
	       "UPDATE audit SET seq = 1000 WHERE seq = 9; UPDATE audit SET seq = 9 WHERE seq = 10; "
	       "UPDATE audit SET seq = 10 WHERE seq = 1000",
	       "record 9 was inserted or reordered");
}

static void test_tamper_insert(void **state)
{
	tamper(*state,
	       "UPDATE audit SET seq = seq + 1000 WHERE seq >= 9; UPDATE audit SET seq = seq - 999 WHERE seq >= 1000; "
	       "INSERT INTO audit (seq, time, event, subject, detail, prev_hash, hash) VALUES (9, 1, 'fake', "
	       "'x', NULL, '1111111111111111111111111111111111111111111111111111111111111111', "
	       "'2222222222222222222222222222222222222222222222222222222222222222')",
	       "record 9 was inserted or reordered");
}

/* Editing a record and giving it a correct new hash shows at the next link. */
static void test_tamper_edit_and_rehash(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	char prev[80], detail[80], sql[512], canon[256], hex[65];
	uint8_t buf[32 + 256], digest[32];
	int64_t t;
	uint64_t n;
	size_t len;

	tamper(f, "UPDATE audit SET subject = 'mallory' WHERE seq = 17", "record 17 was edited");
	raw_value(f, "SELECT prev_hash FROM audit WHERE seq = 17", prev, sizeof(prev));
	raw_value(f, "SELECT detail FROM audit WHERE seq = 17", detail, sizeof(detail));
	t = raw_int(f, "SELECT time FROM audit WHERE seq = 17");
	assert_int_equal(ward_snprintf(canon, sizeof(canon),
				       "{\"detail\":%s,\"event\":\"enroll\",\"seq\":17,\"subject\":\"mallory\","
				       "\"time\":%" PRId64 "}",
				       detail[0] ? detail : "null", t),
			 WARD_OK);
	len = strlen(canon);
	assert_int_equal(ward_hex_decode(prev, buf, 32), WARD_OK);
	memcpy(buf + 32, canon, len);
	assert_int_equal(ward_crypto_hash(WARD_HASH_SHA256, buf, 32 + len, digest), WARD_OK);
	ward_hex_encode(digest, sizeof(digest), hex);
	assert_int_equal(ward_snprintf(sql, sizeof(sql), "UPDATE audit SET hash = '%s' WHERE seq = 17", hex),
			 WARD_OK);
	raw_sql(f, sql);
	assert_int_equal(srv_audit_verify(f->s, &n, &m), WARD_E_VERIFY);
	assert_msg_has(&m, "record 18 was inserted or reordered");
	assert_msg_has(&m, "record 17 was rewritten");
}

/* A corrupt chain head is not extended. */
static void test_audit_refuses_corrupt_head(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};

	assert_int_equal(srv_audit(f->s, "e", "s", NULL, &m), WARD_OK);
	raw_sql(f, "UPDATE audit SET hash = 'zz' WHERE seq = 1");
	assert_int_equal(srv_audit(f->s, "e", "s", NULL, &m), WARD_E_VERIFY);
	assert_msg_has(&m, "malformed hash");
	assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM audit"), 1);
}

/* ---- PostgreSQL: a connection killed under the store --------------------- */

static void test_pg_connection_killed(void **state)
{
	struct fx *f = *state;
	struct srv_device d;
	struct ward_msg m = {{0}};

	make_batch(f, "b1", "factory-1", 10);
	enroll_ok(f, "b1", "SN-1", 1);
	raw_sql(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		   "WHERE application_name = 'ward-server' AND pid <> pg_backend_pid()");
	/* a lookup reconnects and retries */
	if (srv_device_get(f->s, "SN-1", &d, &m) != WARD_OK)
		fail_msg("after the kill: %s", m.text);
	raw_sql(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		   "WHERE application_name = 'ward-server' AND pid <> pg_backend_pid()");
	/* so does a write transaction, from its start */
	if (enroll(f, "b1", "SN-2", 2, &m) != WARD_OK)
		fail_msg("after the kill: %s", m.text);
	assert_int_equal(batch_used(f, "factory-1"), 2);
	assert_int_equal(verify_ok(f), 3); /* batch-create + two enrolls */
}

/* SQLite: a writer that holds the lock longer than the busy timeout makes writes fail, cleanly. */
static void test_sqlite_busy(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	sqlite3 *db = NULL;
	struct srv_device d;

	make_batch(f, "b1", "factory-1", 10);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(enroll(f, "b1", "SN-1", 1, &m), WARD_E_IO);
	assert_msg_has(&m, "locked");
	/* readers are not blocked by the writer (WAL) */
	assert_int_equal(srv_device_get(f->s, "SN-1", &d, &m), WARD_E_NOTFOUND);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	enroll_ok(f, "b1", "SN-1", 1);
	assert_int_equal(batch_used(f, "factory-1"), 1);
}

/* ---- main ---------------------------------------------------------------- */

#define BOTH(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
	const struct CMUnitTest common[] = {
		BOTH(test_open_and_migrate),
		BOTH(test_batches),
		BOTH(test_enroll),
		BOTH(test_enroll_refusals),
		BOTH(test_race_last_unit),
		BOTH(test_race_same_serial),
		BOTH(test_race_audit),
		BOTH(test_renew),
		BOTH(test_status_and_crl),
		BOTH(test_checkin),
		BOTH(test_devices_list),
		BOTH(test_stored_value_too_long),
		BOTH(test_audit_known_answer),
		BOTH(test_audit_inputs),
		BOTH(test_tamper_edit),
		BOTH(test_tamper_edit_detail),
		BOTH(test_tamper_edit_time),
		BOTH(test_tamper_edit_last),
		BOTH(test_tamper_remove),
		BOTH(test_tamper_remove_first),
		BOTH(test_tamper_reorder),
		BOTH(test_tamper_insert),
		BOTH(test_tamper_edit_and_rehash),
		BOTH(test_audit_refuses_corrupt_head),
	};
	const struct CMUnitTest sqlite_only[] = {
		cmocka_unit_test(test_schema_sql_matches_embedded),
		cmocka_unit_test(test_bad_uris),
		BOTH(test_sqlite_busy),
	};
	const struct CMUnitTest pg_only[] = {
		BOTH(test_pg_connection_killed),
	};
	int failed = 0;

	g_pg_uri = getenv("WARD_TEST_PG_URI");
	if (g_pg_uri && !g_pg_uri[0])
		g_pg_uri = NULL;

	g_backend = BE_SQLITE;
	printf("unit_store: backend sqlite\n");
	fflush(stdout);
	failed += cmocka_run_group_tests_name("store (sqlite)", common, NULL, NULL);
	failed += cmocka_run_group_tests_name("store (sqlite only)", sqlite_only, NULL, NULL);
	if (g_pg_uri) {
		g_backend = BE_PG;
		/* the URI itself is not printed: it may hold a password */
		printf("unit_store: backend postgresql (WARD_TEST_PG_URI)\n");
		fflush(stdout);
		failed += cmocka_run_group_tests_name("store (postgresql)", common, NULL, NULL);
		failed += cmocka_run_group_tests_name("store (postgresql only)", pg_only, NULL, NULL);
	} else {
		fprintf(stderr, "unit_store: WARD_TEST_PG_URI is not set: the PostgreSQL backend was not "
				"tested (scripts/pg-throwaway start DIR prints a URI for it)\n");
	}
	return failed ? 1 : 0;
}
