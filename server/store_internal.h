/*
 * server/store_internal.h — what server/store.c lends the other store*.c
 * files that add tables of their own (server/store_director.c): one
 * statement on the store's connection, a transaction with store.c's retry
 * rule, and its string check. Nothing outside server/store*.c includes it;
 * the rules of store_backend.h (bound parameters only, SQL text a literal of
 * the calling file, rows as text) hold for these callers too.
 */
#ifndef WARD_SRV_STORE_INTERNAL_H
#define WARD_SRV_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_backend.h"

/* A transaction body: rerun from the start on a transient failure, so it must
 * (re)initialise whatever it writes to ctx. */
typedef ward_err (*srv_store_tx_fn)(struct srv_store *s, void *ctx, struct ward_msg *m);

/* One statement (see struct srv_backend's exec). */
ward_err srv_store_exec(struct srv_store *s, const char *sql, const struct srv_param *p, size_t np,
			srv_row_fn fn, void *ctx, uint64_t *changes, struct ward_msg *m) WARD_MUST_USE;
/* Run body, which is ONE statement (atomic on its own), without BEGIN/COMMIT: on
 * PostgreSQL one round trip instead of three. Retried as store.c's own are. */
ward_err srv_store_one(struct srv_store *s, srv_store_tx_fn body, void *ctx, struct ward_msg *m) WARD_MUST_USE;
/* Run body in one read or write transaction, retried as store.c's own are. */
ward_err srv_store_tx(struct srv_store *s, bool write, srv_store_tx_fn body, void *ctx,
		      struct ward_msg *m) WARD_MUST_USE;
/* store.c's check of a string against the field (size bytes, NUL included) it goes into:
 * UTF-8, no control characters, WARD_E_TOOBIG when too long, "" only when empty_ok. */
ward_err srv_store_check_str(const char *what, const char *str, size_t size, bool empty_ok,
			     struct ward_msg *m) WARD_MUST_USE;
/* store.c's audit append, for use INSIDE the caller's write transaction (srv_store_tx with
 * write), so a change and its record commit together. event and subject are checked as
 * srv_audit checks them; detail (borrowed) is NULL or a JSON object; now is the record's time. */
struct json_t;
ward_err srv_store_audit_append(struct srv_store *s, const char *event, const char *subject,
				struct json_t *detail, int64_t now, struct ward_msg *m) WARD_MUST_USE;

/* Does the backend understand SELECT ... FOR UPDATE (PostgreSQL)? SQLite's write
 * transactions lock the whole database instead. */
bool srv_store_row_locks(const struct srv_store *s);
/* The columns of a struct srv_device, in the order srv_store_device_from_row reads them
 * (columns 0-8 of a row; a query may add its own after them). */
#define SRV_DEVICE_COLS "serial, model, batch_id, status, cert_serial, cert_not_after, enrolled, last_seen, facts"
ward_err srv_store_device_from_row(const struct srv_row *r, struct srv_device *d, struct ward_msg *m) WARD_MUST_USE;
/* Column i as text into dst (size bytes; longer is WARD_E_TOOBIG), or as a 64-bit integer. */
ward_err srv_store_col_text(const struct srv_row *r, size_t i, char *dst, size_t size, const char *what,
			    struct ward_msg *m) WARD_MUST_USE;
ward_err srv_store_col_i64(const struct srv_row *r, size_t i, int64_t *out, const char *what,
			   struct ward_msg *m) WARD_MUST_USE;
#endif
