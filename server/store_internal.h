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

#endif
