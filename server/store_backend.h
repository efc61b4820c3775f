/*
 * server/store_backend.h — the private interface between server/store.c and
 * its two backends (server/store_sqlite.c, server/store_pg.c). Nothing
 * outside server/store*.c includes it.
 *
 * The backends are deliberately thin: a connection, transactions, one
 * advisory-lock hook, and "run this SQL with these bound parameters, call me
 * back per row". Every rule of the registry (quotas, status transitions, the
 * audit chain) lives once, in store.c, and so holds identically on both.
 *
 * Invariants the backends keep:
 *  - values only ever reach the database as bound parameters ($1, $2, ...);
 *    SQL text is always a string literal of store.c;
 *  - a row is handed to the callback as text, one NUL-terminated string per
 *    column, NULL for SQL NULL (integers in decimal), borrowed until the
 *    callback returns;
 *  - errors are mapped onto ward_err: a unique-key violation is WARD_E_EXISTS,
 *    any other constraint WARD_E_INVAL, everything else WARD_E_IO; a failure
 *    worth retrying from the start of the transaction (PostgreSQL:
 *    serialization failure, deadlock, lock timeout, a connection lost before
 *    COMMIT was sent; SQLite: a stale snapshot) also makes retryable() true
 *    until the next statement or begin().
 */
#ifndef WARD_SRV_STORE_BACKEND_H
#define WARD_SRV_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ward/err.h"

/* The type a parameter is bound with. */
enum srv_ptype {
	SRV_P_TEXT, /* UTF-8 text (text) */
	SRV_P_I64,  /* 64-bit integer (i64) */
	SRV_P_NULL, /* SQL NULL, type inferred from context */
};

/* One bound parameter: $1 is p[0], $2 is p[1], ... */
struct srv_param {
	enum srv_ptype type; /* which member holds the value */
	const char *text;    /* SRV_P_TEXT: borrowed for the duration of exec() */
	int64_t i64;         /* SRV_P_I64 */
};

#define SRV_TEXT(s) ((struct srv_param){.type = SRV_P_TEXT, .text = (s)})
#define SRV_I64(v)  ((struct srv_param){.type = SRV_P_I64, .i64 = (int64_t)(v)})
#define SRV_NULL    ((struct srv_param){.type = SRV_P_NULL})

/* One result row, as text. */
struct srv_row {
	size_t n;                /* number of columns */
	const char *const *val;  /* val[i]: column i, NULL when SQL NULL; borrowed */
};

/* Called once per result row; a non-zero return is remembered and returned
 * by exec() (the remaining rows are skipped). */
typedef ward_err (*srv_row_fn)(void *ctx, const struct srv_row *row, struct ward_msg *m);

/* Database-wide exclusive locks held until the end of the current transaction. */
enum srv_lock {
	SRV_LOCK_MIGRATE = 1, /* schema migrations */
	SRV_LOCK_AUDIT = 2,   /* appending to the audit chain */
};

/* Most columns any statement of store.c returns. */
#define SRV_MAX_COLS 24

struct srv_backend {
	const char *name; /* "sqlite" or "postgresql", for messages */
	bool row_locks;   /* understands SELECT ... FOR UPDATE */
	/* Connect (uri without its scheme for sqlite, whole for postgresql). */
	ward_err (*open)(const char *uri, void **conn, struct ward_msg *m);
	void (*close)(void *conn); /* accepts NULL */
	/* Start a transaction: write ones take the database's write lock up front
	 * (SQLite BEGIN IMMEDIATE); read ones see one snapshot throughout. */
	/* mode: SRV_TX_READ, SRV_TX_WRITE, or SRV_TX_WRITE_LAZY (a write whose
	 * commit need not wait for the disk: losing it in a crash is acceptable) */
	ward_err (*begin)(void *conn, int mode, struct ward_msg *m);
	ward_err (*commit)(void *conn, struct ward_msg *m);
	void (*rollback)(void *conn); /* harmless without a transaction */
	/* Take lock `which` until the end of the transaction (no-op where the
	 * write transaction is already exclusive). */
	ward_err (*lock)(void *conn, enum srv_lock which, struct ward_msg *m);
	/* Run one statement with np bound parameters; fn (may be NULL) sees each
	 * row; *changes (may be NULL) receives the rows inserted/updated/deleted. */
	ward_err (*exec)(void *conn, const char *sql, const struct srv_param *p, size_t np,
			 srv_row_fn fn, void *ctx, uint64_t *changes, struct ward_msg *m);
	/* Run a parameterless multi-statement script (schema migrations only). */
	ward_err (*script)(void *conn, const char *sql, struct ward_msg *m);
	/* True when the last failure is worth retrying the whole transaction. */
	bool (*retryable)(void *conn);
};

extern const struct srv_backend srv_backend_sqlite;
extern const struct srv_backend srv_backend_pg;

/*
 * The embedded schema: *bootstrap (the schema_version table, applied on every
 * open) and the migrations, in order (migration i brings the schema to version
 * i + 1); returns how many. Exposed so the unit tests can check that
 * server/schema.sql says the same.
 */
size_t srv_store_migrations(const char **bootstrap, const char *const **sql);

#define SRV_TX_READ 0
#define SRV_TX_WRITE 1
#define SRV_TX_WRITE_LAZY 2

#endif
