/*
 * server/store_sqlite.c — the SQLite backend of the storage port (see
 * server/store_backend.h for the interface, server/store.c for the rules).
 *
 * One connection per struct srv_store, in WAL mode (readers never block the
 * writer), synchronous=FULL (a committed enrolment or audit record survives
 * power loss), foreign keys on, defensive mode on, a 5 s busy timeout. Write
 * transactions are BEGIN IMMEDIATE: the database's single write lock is taken
 * before the first read, so a read-check-write sequence (quota, audit chain
 * head) can never interleave with another process's, and no transaction ever
 * has to be upgraded from reader to writer (which could deadlock). A writer
 * that cannot get the lock within the busy timeout fails with WARD_E_IO
 * ("database is locked"); it is not retried, the timeout was the wait.
 *
 * Statements are prepared once per connection (a small cache keyed by the
 * address of store.c's SQL literal) and values are bound by name: "$1" is
 * parameter 1 wherever it appears, even out of order or repeated.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_backend.h"
#include "ward/buf.h"

#define SQ_BUSY_TIMEOUT_MS 5000
#define SQ_CACHE 64 /* prepared statements kept per connection (store.c has about 35) */

struct sq_stmt {
	const char *sql;   /* the SQL literal it was prepared from (identity, not content) */
	sqlite3_stmt *st;  /* the prepared statement */
};

struct sq_conn {
	sqlite3 *db;                     /* the connection */
	bool retry;                      /* the last failure is worth retrying the transaction */
	struct sq_stmt cache[SQ_CACHE];  /* prepared statements, in preparation order */
	size_t ncache;                   /* entries of cache in use */
};

/* Map an SQLite result code onto ward_err and say what failed. */
static ward_err sq_fail(struct sq_conn *c, int rc, const char *what, struct ward_msg *m)
{
	int prim = rc & 0xff;
	ward_err e = WARD_E_IO;

	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
		e = WARD_E_EXISTS;
	else if (prim == SQLITE_CONSTRAINT)
		e = WARD_E_INVAL;
	else if (prim == SQLITE_NOMEM)
		e = WARD_E_NOMEM;
	else if (rc == SQLITE_BUSY_SNAPSHOT || prim == SQLITE_LOCKED)
		c->retry = true; /* plain SQLITE_BUSY already waited the busy timeout: give up */
	return ward_msg_set(m, e, "sqlite: %s: %s", what,
			    c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
}

static void sq_close(void *conn)
{
	struct sq_conn *c = conn;

	if (!c)
		return;
	for (size_t i = 0; i < c->ncache; i++)
		sqlite3_finalize(c->cache[i].st);
	sqlite3_close_v2(c->db);
	free(c);
}

/* Run a parameterless pragma and, when want is non-NULL, check its one-row answer. */
static ward_err sq_pragma(struct sq_conn *c, const char *sql, const char *want, struct ward_msg *m)
{
	sqlite3_stmt *st = NULL;
	ward_err e = WARD_OK;
	int rc;

	rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		e = sq_fail(c, rc, sql, m);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		e = sq_fail(c, rc, sql, m);
		goto out;
	}
	if (want) {
		const unsigned char *got = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;

		if (!got || strcmp((const char *)got, want) != 0) {
			e = ward_msg_set(m, WARD_E_IO, "sqlite: %s answered \"%s\", not \"%s\"", sql,
					 got ? (const char *)got : "", want);
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	return e;
}


/*
 * Waiting for the write lock: SQLite's own busy timeout sleeps 1, 2, 5, 10 ...
 * 100 ms between tries, which stalls a worker's whole event loop while the
 * other worker commits a transaction that takes tens of microseconds. Retry
 * after short, growing pauses (50 us doubling to 2 ms) instead, giving up
 * after SQ_BUSY_TIMEOUT_MS in all, as before.
 */
static int sq_busy(void *ctx, int tries)
{
	static const long step_us[] = {50, 100, 200, 400, 800, 1600, 2000};
	long us = step_us[tries < 6 ? tries : 6];
	long waited = 0; /* microseconds slept so far, from the sequence above */

	(void)ctx;
	for (int i = 0; i < tries && i < 6; i++)
		waited += step_us[i];
	if (tries > 6)
		waited += (long)(tries - 6) * step_us[6];
	if (waited / 1000 >= SQ_BUSY_TIMEOUT_MS)
		return 0;
	{
		struct timespec ts = {0, us * 1000};

		nanosleep(&ts, NULL);
	}
	return 1;
}

static ward_err sq_open(const char *path, void **conn, struct ward_msg *m)
{
	struct sq_conn *c = NULL;
	ward_err e = WARD_OK;
	int fd, rc;

	if (!path[0])
		return ward_msg_set(m, WARD_E_INVAL, "sqlite: empty database path (use sqlite:/path/to/ward.db)");
	c = calloc(1, sizeof(*c));
	if (!c)
		return ward_msg_set(m, WARD_E_NOMEM, "sqlite: out of memory");
	/*
	 * Create the file ourselves so it is 0600 from its first byte: it holds
	 * password hashes. SQLite gives the -wal and -shm files the same mode.
	 */
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = ward_msg_set(m, errno == ENOENT ? WARD_E_NOTFOUND : WARD_E_IO,
				 "sqlite: cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	close(fd);
	rc = sqlite3_open_v2(path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		e = sq_fail(c, rc, path, m);
		goto out;
	}
	/* Refuse to let SQL (ours or an attacker's, via a corrupt file) damage the file format. */
	if (sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL) != SQLITE_OK ||
	    sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL) != SQLITE_OK) {
		e = sq_fail(c, sqlite3_extended_errcode(c->db), "configuring the connection", m);
		goto out;
	}
	sqlite3_busy_handler(c->db, sq_busy, NULL);
	e = sq_pragma(c, "PRAGMA journal_mode = WAL", "wal", m);
	if (!e)
		e = sq_pragma(c, "PRAGMA synchronous = FULL", NULL, m);
	if (!e)
		e = sq_pragma(c, "PRAGMA foreign_keys = ON", NULL, m);
	if (!e)
		e = sq_pragma(c, "PRAGMA foreign_keys", "1", m);
	if (e) {
		ward_msg_prefix(m, e, "%s: ", path);
		goto out;
	}
	*conn = c;
	c = NULL;
out:
	sq_close(c);
	return e;
}

/* The prepared statement for sql, from the cache or newly prepared (*cached says which). */
static ward_err sq_prepare(struct sq_conn *c, const char *sql, sqlite3_stmt **out, bool *cached,
			   struct ward_msg *m)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc;

	for (size_t i = 0; i < c->ncache; i++) {
		if (c->cache[i].sql == sql) {
			*out = c->cache[i].st;
			*cached = true;
			return WARD_OK;
		}
	}
	rc = sqlite3_prepare_v3(c->db, sql, -1, c->ncache < SQ_CACHE ? SQLITE_PREPARE_PERSISTENT : 0,
				&st, &tail);
	if (rc != SQLITE_OK)
		return sq_fail(c, rc, "preparing a statement", m);
	if (!st || (tail && *tail)) {
		sqlite3_finalize(st);
		return ward_msg_set(m, WARD_E_INVAL, "sqlite: expected exactly one statement in \"%.60s\"", sql);
	}
	if (c->ncache < SQ_CACHE) {
		c->cache[c->ncache].sql = sql;
		c->cache[c->ncache].st = st;
		c->ncache++;
		*cached = true;
	} else {
		*cached = false;
	}
	*out = st;
	return WARD_OK;
}

static ward_err sq_bind(struct sq_conn *c, sqlite3_stmt *st, const struct srv_param *p, size_t np,
			struct ward_msg *m)
{
	if ((size_t)sqlite3_bind_parameter_count(st) != np)
		return ward_msg_set(m, WARD_E_INVAL, "sqlite: statement takes %d parameters, %zu given",
				    sqlite3_bind_parameter_count(st), np);
	for (size_t i = 0; i < np; i++) {
		char name[24];
		int idx, rc;

		if (ward_snprintf(name, sizeof(name), "$%zu", i + 1))
			return ward_msg_set(m, WARD_E_INVAL, "sqlite: too many parameters");
		idx = sqlite3_bind_parameter_index(st, name);
		if (idx == 0)
			return ward_msg_set(m, WARD_E_INVAL, "sqlite: statement has no parameter %s", name);
		switch (p[i].type) {
		case SRV_P_TEXT:
			rc = sqlite3_bind_text(st, idx, p[i].text, -1, SQLITE_STATIC);
			break;
		case SRV_P_I64:
			rc = sqlite3_bind_int64(st, idx, p[i].i64);
			break;
		case SRV_P_NULL:
			rc = sqlite3_bind_null(st, idx);
			break;
		default:
			return ward_msg_set(m, WARD_E_INVAL, "sqlite: parameter %s has no type", name);
		}
		if (rc != SQLITE_OK)
			return sq_fail(c, rc, "binding a parameter", m);
	}
	return WARD_OK;
}

static ward_err sq_exec(void *conn, const char *sql, const struct srv_param *p, size_t np,
			srv_row_fn fn, void *ctx, uint64_t *changes, struct ward_msg *m)
{
	struct sq_conn *c = conn;
	sqlite3_stmt *st = NULL;
	bool cached = false;
	ward_err e;
	int rc;

	c->retry = false; /* says why *this* statement failed */
	e = sq_prepare(c, sql, &st, &cached, m);
	if (e)
		return e;
	e = sq_bind(c, st, p, np, m);
	if (e)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *val[SRV_MAX_COLS];
		struct srv_row row = {.n = (size_t)sqlite3_column_count(st), .val = val};

		if (!fn)
			continue;
		if (row.n > SRV_MAX_COLS) {
			e = ward_msg_set(m, WARD_E_INVAL, "sqlite: %zu columns, at most %d", row.n,
					 SRV_MAX_COLS);
			goto out;
		}
		for (size_t i = 0; i < row.n; i++) {
			val[i] = (const char *)sqlite3_column_text(st, (int)i);
			if (!val[i] && sqlite3_column_type(st, (int)i) != SQLITE_NULL) {
				e = ward_msg_set(m, WARD_E_NOMEM, "sqlite: out of memory reading a row");
				goto out;
			}
		}
		e = fn(ctx, &row, m);
		if (e)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		e = sq_fail(c, rc, "statement", m);
		goto out;
	}
	if (changes)
		*changes = (uint64_t)sqlite3_changes64(c->db);
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (!cached)
		sqlite3_finalize(st);
	return e;
}

/* The transaction statements go through the statement cache too. */
static const char SQ_BEGIN_WRITE[] = "BEGIN IMMEDIATE";
static const char SQ_BEGIN_READ[] = "BEGIN DEFERRED";
static const char SQ_COMMIT[] = "COMMIT";
static const char SQ_ROLLBACK[] = "ROLLBACK";

static ward_err sq_begin(void *conn, int mode, struct ward_msg *m)
{
	struct sq_conn *c = conn;
	ward_err e;

	c->retry = false;
	/* WAL with synchronous=NORMAL: the commit is atomic and ordered but not
	 * fsynced until the next checkpoint; only for writes that may be lost */
	if (mode != SRV_TX_READ) {
		e = sq_exec(c, mode == SRV_TX_WRITE_LAZY ? "PRAGMA synchronous = NORMAL"
							 : "PRAGMA synchronous = FULL",
			    NULL, 0, NULL, NULL, NULL, m);
		if (e)
			return e;
	}
	return sq_exec(c, mode != SRV_TX_READ ? SQ_BEGIN_WRITE : SQ_BEGIN_READ, NULL, 0, NULL, NULL,
		       NULL, m);
}

static ward_err sq_commit(void *conn, struct ward_msg *m)
{
	return sq_exec(conn, SQ_COMMIT, NULL, 0, NULL, NULL, NULL, m);
}

static void sq_rollback(void *conn)
{
	struct sq_conn *c = conn;
	bool retry = c->retry;

	if (!sqlite3_get_autocommit(c->db))
		(void)sq_exec(c, SQ_ROLLBACK, NULL, 0, NULL, NULL, NULL, NULL);
	c->retry = retry; /* rolling back does not change why the transaction failed */
}

/* BEGIN IMMEDIATE already made this connection the only writer. */
static ward_err sq_lock(void *conn, enum srv_lock which, struct ward_msg *m)
{
	return WARD_OK;
}

static ward_err sq_script(void *conn, const char *sql, struct ward_msg *m)
{
	struct sq_conn *c = conn;
	char *err = NULL;
	ward_err e = WARD_OK;
	int rc;

	rc = sqlite3_exec(c->db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		e = ward_msg_set(m, WARD_E_IO, "sqlite: schema: %s", err ? err : sqlite3_errstr(rc));
	}
	sqlite3_free(err);
	return e;
}

static bool sq_retryable(void *conn)
{
	return ((struct sq_conn *)conn)->retry;
}

const struct srv_backend srv_backend_sqlite = {
	.name = "sqlite",
	.row_locks = false,
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.lock = sq_lock,
	.exec = sq_exec,
	.script = sq_script,
	.retryable = sq_retryable,
};
