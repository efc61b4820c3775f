/*
 * server/store_pg.c — the PostgreSQL backend of the storage port (see
 * server/store_backend.h for the interface, server/store.c for the rules).
 *
 * One libpq connection per struct srv_store. Every statement is sent with
 * PQsendQueryParams (values as typed, bound parameters: text or int8, never
 * spliced into SQL) in single-row mode, so a long result (the audit chain,
 * the CRL) streams through the callback instead of being held in memory.
 *
 * Concurrency: write transactions run at READ COMMITTED and take explicit
 * locks — SELECT ... FOR UPDATE on the row they check (a batch's quota, a
 * device's status) and a transaction-scoped advisory lock for the audit chain
 * head and for migrations — so every statement after a lock sees what the
 * previous holder committed. A serialization failure (40001), deadlock
 * (40P01), lock timeout (55P03) or a connection lost before COMMIT was sent
 * is reported as retryable; store.c then reruns the whole transaction. A
 * connection found broken is reset at the next BEGIN. Server notices are
 * dropped (they would otherwise go to stderr).
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_backend.h"
#include "ward/buf.h"

#define PG_TEXTOID 25 /* pg_type.oid of text */
#define PG_INT8OID 20 /* pg_type.oid of bigint */

/* Advisory lock keys: "ward" in the high 32 bits, the lock in the low ones. */
#define PG_LOCK_KEY(which) ((int64_t)0x77617264 << 32 | (int64_t)(which))

struct pg_conn {
	PGconn *pg;       /* the connection */
	bool retry;       /* the last failure is worth retrying the transaction */
	bool in_tx;       /* between begin() and commit()/rollback() */
	bool committing;  /* COMMIT was sent: a lost connection now leaves the outcome unknown */
};

static void pg_quiet(void *arg, const char *message)
{
}

/* libpq's messages end in a newline; messages of ward do not. */
static const char *pg_trim(char *buf, size_t n, const char *text)
{
	size_t len;

	if (!text || !text[0])
		return "no message from the server";
	len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (len >= n)
		len = n - 1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return buf;
}

static bool pg_lost(struct pg_conn *c)
{
	return PQstatus(c->pg) == CONNECTION_BAD;
}

/* Connection exceptions (class 08) and the server going away (57P01-57P03). */
static bool pg_conn_gone(const char *state)
{
	return state && (!strncmp(state, "08", 2) || !strcmp(state, "57P01") ||
			 !strcmp(state, "57P02") || !strcmp(state, "57P03"));
}

/* Map a failed result (res may be NULL: a send failed) onto ward_err. */
static ward_err pg_fail(struct pg_conn *c, const PGresult *res, const char *what, struct ward_msg *m)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *text = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char buf[256];
	ward_err e = WARD_E_IO;

	if (!text)
		text = PQerrorMessage(c->pg);
	if (state && !state[0])
		state = NULL;
	if (state && !strcmp(state, "23505"))
		e = WARD_E_EXISTS;
	else if (state && !strncmp(state, "23", 2))
		e = WARD_E_INVAL;
	else if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03")))
		c->retry = true;
	else if (!c->committing && (pg_conn_gone(state) || pg_lost(c)))
		c->retry = true;
	if (state)
		return ward_msg_set(m, e, "postgresql: %s: %s (SQLSTATE %s)", what,
				    pg_trim(buf, sizeof(buf), text), state);
	return ward_msg_set(m, e, "postgresql: %s: %s", what, pg_trim(buf, sizeof(buf), text));
}

/* Reconnect a connection found broken (never inside a transaction: that is lost anyway). */
static ward_err pg_ensure(struct pg_conn *c, struct ward_msg *m)
{
	char buf[256];

	if (!pg_lost(c))
		return WARD_OK;
	PQreset(c->pg);
	if (pg_lost(c))
		return ward_msg_set(m, WARD_E_IO, "postgresql: connection lost and cannot be re-established: %s",
				    pg_trim(buf, sizeof(buf), PQerrorMessage(c->pg)));
	PQsetNoticeProcessor(c->pg, pg_quiet, NULL);
	return WARD_OK;
}

static void pg_close(void *conn)
{
	struct pg_conn *c = conn;

	if (!c)
		return;
	PQfinish(c->pg);
	free(c);
}

static ward_err pg_open(const char *uri, void **conn, struct ward_msg *m)
{
	/* The URI may hold a password: it is never quoted in a message. */
	const char *const keys[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
	const char *const vals[] = {uri, "ward-server", "UTF8", NULL};
	struct pg_conn *c = calloc(1, sizeof(*c));
	ward_err e = WARD_OK;
	char buf[256];

	if (!c)
		return ward_msg_set(m, WARD_E_NOMEM, "postgresql: out of memory");
	c->pg = PQconnectdbParams(keys, vals, 1);
	if (!c->pg) {
		e = ward_msg_set(m, WARD_E_NOMEM, "postgresql: out of memory");
		goto out;
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		e = ward_msg_set(m, WARD_E_IO, "postgresql: cannot connect: %s",
				 pg_trim(buf, sizeof(buf), PQerrorMessage(c->pg)));
		goto out;
	}
	PQsetNoticeProcessor(c->pg, pg_quiet, NULL);
	*conn = c;
	c = NULL;
out:
	pg_close(c);
	return e;
}

static ward_err pg_exec(void *conn, const char *sql, const struct srv_param *p, size_t np,
			srv_row_fn fn, void *ctx, uint64_t *changes, struct ward_msg *m)
{
	struct pg_conn *c = conn;
	char ints[SRV_MAX_COLS][24];
	const char *values[SRV_MAX_COLS];
	Oid types[SRV_MAX_COLS];
	uint64_t n = 0;
	PGresult *res;
	ward_err e = WARD_OK;

	c->retry = false; /* says why *this* statement failed */
	if (np > SRV_MAX_COLS)
		return ward_msg_set(m, WARD_E_INVAL, "postgresql: %zu parameters, at most %d", np,
				    SRV_MAX_COLS);
	if (!c->in_tx && (e = pg_ensure(c, m)) != WARD_OK)
		return e;
	for (size_t i = 0; i < np; i++) {
		switch (p[i].type) {
		case SRV_P_TEXT:
			types[i] = PG_TEXTOID;
			values[i] = p[i].text;
			break;
		case SRV_P_I64:
			types[i] = PG_INT8OID;
			if (ward_snprintf(ints[i], sizeof(ints[i]), "%" PRId64, p[i].i64))
				return ward_msg_set(m, WARD_E_INVAL, "postgresql: integer parameter");
			values[i] = ints[i];
			break;
		case SRV_P_NULL:
			types[i] = 0;
			values[i] = NULL;
			break;
		default:
			return ward_msg_set(m, WARD_E_INVAL, "postgresql: parameter $%zu has no type", i + 1);
		}
	}
	if (!PQsendQueryParams(c->pg, sql, (int)np, types, values, NULL, NULL, 0))
		return pg_fail(c, NULL, "sending a statement", m);
	if (!PQsetSingleRowMode(c->pg)) {
		e = pg_fail(c, NULL, "single-row mode", m);
		/* fall through: the results must still be drained */
	}
	/* Drain every result, even after a failure, so the connection stays usable. */
	while ((res = PQgetResult(c->pg)) != NULL) {
		const char *tuples;

		switch (PQresultStatus(res)) {
		case PGRES_SINGLE_TUPLE:
			if (!e && fn) {
				const char *val[SRV_MAX_COLS];
				struct srv_row row = {.n = (size_t)PQnfields(res), .val = val};

				if (row.n > SRV_MAX_COLS) {
					e = ward_msg_set(m, WARD_E_INVAL, "postgresql: %zu columns, at most %d",
							 row.n, SRV_MAX_COLS);
					break;
				}
				for (size_t i = 0; i < row.n; i++)
					val[i] = PQgetisnull(res, 0, (int)i) ? NULL : PQgetvalue(res, 0, (int)i);
				e = fn(ctx, &row, m);
			}
			break;
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
			tuples = PQcmdTuples(res);
			if (tuples && tuples[0] && ward_parse_u64(tuples, &n) != WARD_OK)
				n = 0;
			break;
		case PGRES_EMPTY_QUERY:
		case PGRES_COPY_OUT:
		case PGRES_COPY_IN:
		case PGRES_BAD_RESPONSE:
		case PGRES_NONFATAL_ERROR:
		case PGRES_FATAL_ERROR:
		case PGRES_COPY_BOTH:
		case PGRES_PIPELINE_SYNC:
		case PGRES_PIPELINE_ABORTED:
		default:
			if (!e)
				e = pg_fail(c, res, "statement", m);
			break;
		}
		PQclear(res);
	}
	if (!e && pg_lost(c))
		e = pg_fail(c, NULL, "statement", m);
	else if (e && pg_lost(c) && !c->committing)
		c->retry = true; /* the server said why, then hung up: reconnect and rerun */
	if (!e && changes)
		*changes = n;
	return e;
}

/* A parameterless command; when want is given, its command tag must be exactly that. */
static ward_err pg_command(struct pg_conn *c, const char *sql, const char *want, struct ward_msg *m)
{
	PGresult *res = PQexec(c->pg, sql);
	ward_err e = WARD_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		e = pg_fail(c, res, sql, m);
		if (pg_lost(c) && !c->committing)
			c->retry = true;
	}
	else if (want && strcmp(PQcmdStatus(res), want) != 0)
		e = ward_msg_set(m, WARD_E_IO, "postgresql: %s ended in %s: the transaction was rolled back",
				 sql, PQcmdStatus(res));
	PQclear(res);
	return e;
}

static ward_err pg_begin(void *conn, int mode, struct ward_msg *m)
{
	struct pg_conn *c = conn;
	ward_err e;

	c->retry = false;
	c->committing = false;
	e = pg_ensure(c, m);
	if (!e)
		e = pg_command(c, mode != SRV_TX_READ ? "BEGIN ISOLATION LEVEL READ COMMITTED"
						      : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			       NULL, m);
	c->in_tx = !e;
	/* a write that may be lost in a crash need not wait for the WAL flush */
	if (!e && mode == SRV_TX_WRITE_LAZY)
		e = pg_command(c, "SET LOCAL synchronous_commit = off", NULL, m);
	return e;
}

static ward_err pg_commit(void *conn, struct ward_msg *m)
{
	struct pg_conn *c = conn;
	ward_err e;

	c->committing = true;
	e = pg_command(c, "COMMIT", "COMMIT", m);
	if (e && pg_lost(c))
		ward_msg_prefix(m, e, "the connection was lost during COMMIT, so whether the change was "
				      "stored is unknown: ");
	c->committing = false;
	c->in_tx = false;
	return e;
}

static void pg_rollback(void *conn)
{
	struct pg_conn *c = conn;
	bool retry = c->retry;

	if (!pg_lost(c) && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		(void)pg_command(c, "ROLLBACK", NULL, NULL);
	c->in_tx = false;
	c->retry = retry; /* rolling back does not change why the transaction failed */
}

static ward_err pg_lock(void *conn, enum srv_lock which, struct ward_msg *m)
{
	const struct srv_param p[] = {SRV_I64(PG_LOCK_KEY(which))};

	return pg_exec(conn, "SELECT pg_advisory_xact_lock($1)", p, 1, NULL, NULL, NULL, m);
}

static ward_err pg_script(void *conn, const char *sql, struct ward_msg *m)
{
	return pg_command(conn, sql, NULL, m);
}

static bool pg_retryable(void *conn)
{
	return ((struct pg_conn *)conn)->retry;
}

const struct srv_backend srv_backend_pg = {
	.name = "postgresql",
	.row_locks = true,
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.lock = pg_lock,
	.exec = pg_exec,
	.script = pg_script,
	.retryable = pg_retryable,
};
