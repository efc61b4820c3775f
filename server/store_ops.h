/*
 * server/store_ops.h — operator accounts and their API tokens (migration 3,
 * server/store_ops.c), for `ward operator` and the operator API
 * (server/ops_api.c).
 *
 * Formats at rest:
 *   operators.pass_hash  Argon2id encoded hash (libargon2's
 *                        "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"),
 *                        16-byte random salt, 32-byte tag. Never the password.
 *   api_tokens.token_hash  lower-case hex of SHA-256(token), where the token
 *                        is 32 random bytes in base64url without padding (43
 *                        characters). The token itself is shown once and
 *                        never stored.
 * Every change (an operator added, a token issued, a login, a failed login)
 * appends its audit record in the same transaction as the change.
 */
#ifndef WARD_SRV_STORE_OPS_H
#define WARD_SRV_STORE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "store.h"
#include "ward/err.h"

#define SRV_OP_NAME_MAX 64          /* operator name: 1..64 of [A-Za-z0-9._-] */
#define SRV_OP_PASS_MIN 12          /* characters (UTF-8 code points) of a new password */
#define SRV_OP_PASS_MAX 1024        /* bytes: longer passwords are refused / never match */
#define SRV_OP_HASH_MAX 160         /* encoded Argon2id hash, NUL included */
#define SRV_OP_TOKEN_BYTES 32       /* random bytes of an API token */
#define SRV_OP_TOKEN_CHARS 43       /* their base64url, no padding */
#define SRV_OP_TOKEN_TTL_MAX (366LL * 86400) /* longest token lifetime: a year */

enum srv_op_role {
	SRV_ROLE_ADMIN,            /* everything, including accounts */
	SRV_ROLE_RELEASE_MANAGER,  /* releases and campaigns */
	SRV_ROLE_OPERATOR,         /* day-to-day fleet actions (revoke a device) */
	SRV_ROLE_AUDITOR,          /* reads only */
};

/* One operator account. */
struct srv_operator {
	char name[SRV_OP_NAME_MAX + 1];  /* account name */
	enum srv_op_role role;           /* what it may do */
	time_t created;                  /* when it was added */
	time_t token_expires;            /* srv_op_token_check: when the presented token expires (else 0) */
};

/* "admin", "release-manager", "operator", "auditor"; NULL for anything else. */
const char *srv_op_role_name(enum srv_op_role r);
/* The reverse; WARD_E_INVAL for an unknown name (*out untouched). */
ward_err srv_op_role_parse(const char *name, enum srv_op_role *out) WARD_MUST_USE;
/* A valid operator name (1..SRV_OP_NAME_MAX of [A-Za-z0-9._-])? */
bool srv_op_name_ok(const char *name);
/* Characters (UTF-8 code points) of s: what the SRV_OP_PASS_MIN rule counts. */
size_t srv_op_pass_chars(const char *s);

/*
 * Add an operator: hash password with Argon2id (refusing one shorter than
 * SRV_OP_PASS_MIN characters or longer than SRV_OP_PASS_MAX bytes with
 * WARD_E_INVAL), insert it and append the "operator-add" audit record
 * ({"role", "via"}) in one transaction. WARD_E_EXISTS for a name in use.
 * via says who did it ("cli", or "api:<operator>"); password is borrowed and
 * not kept (the caller wipes it).
 */
ward_err srv_operator_add(struct srv_store *s, const char *name, const char *password,
			  enum srv_op_role role, const char *via, struct ward_msg *m) WARD_MUST_USE;
/* Every operator, by name. Caller frees *out with free() (NULL when *n is 0). */
ward_err srv_operators(struct srv_store *s, struct srv_operator **out, size_t *n,
		       struct ward_msg *m) WARD_MUST_USE;

/*
 * Issue an API token for operator name, valid for ttl seconds (1 ..
 * SRV_OP_TOKEN_TTL_MAX) from now: the token (SRV_OP_TOKEN_CHARS + NUL) goes
 * to token, its expiry to *expires; its hash and the "operator-token" audit
 * record ({"expires", "via", "id"}) are written in one transaction.
 * WARD_E_NOTFOUND for an unknown operator. The caller wipes token.
 */
ward_err srv_op_token_issue(struct srv_store *s, const char *name, long long ttl, const char *via,
			    char token[SRV_OP_TOKEN_CHARS + 1], time_t *expires,
			    struct ward_msg *m) WARD_MUST_USE;

/*
 * Log in: check name/password and, when they match, issue a token as
 * srv_op_token_issue (via "login"), audited "operator-login". A wrong
 * password, an unknown name, or a name or password ward would never have
 * stored all cost the same Argon2id work (an unknown name is checked against
 * a fixed dummy hash), are audited "operator-login-failed" and return
 * WARD_E_DENIED. Other errors are the database's.
 *
 * The Argon2 work (tens of milliseconds, 19 MiB) runs on the caller's thread:
 * ward-server calls this from its event loop (see server/ops_api.c).
 */
ward_err srv_op_login(struct srv_store *s, const char *name, const char *password, long long ttl,
		      char token[SRV_OP_TOKEN_CHARS + 1], time_t *expires,
		      struct ward_msg *m) WARD_MUST_USE;

/*
 * The login throttle: *throttled when the name (or "", for names ward would never
 * store) has SRV_OP_LOGIN_FAILS failed logins in the last SRV_OP_LOGIN_WINDOW
 * seconds (counted from the audit log, so every server of a fleet agrees).
 * ward-server then refuses the login (429) without the Argon2id work and
 * without a new audit record: guessing is slowed to that rate per name, and
 * the log cannot be flooded through it.
 */
#define SRV_OP_LOGIN_FAILS 10
#define SRV_OP_LOGIN_WINDOW 600
ward_err srv_op_login_throttled(struct srv_store *s, const char *name, time_t now, bool *throttled,
				struct ward_msg *m) WARD_MUST_USE;

/*
 * Check an API token (as sent by a client, borrowed): on WARD_OK *out is
 * the operator it belongs to. WARD_E_DENIED for a token that is malformed,
 * unknown, revoked or expired (the message says which, for the server's
 * log; clients only ever see 401). Read-only, nothing is audited.
 */
ward_err srv_op_token_check(struct srv_store *s, const char *token, time_t now,
			    struct srv_operator *out, struct ward_msg *m) WARD_MUST_USE;

/* ---- read-only listings (server/store_audit.c) ---- */
#define SRV_AUDIT_PAGE_MAX 1000 /* audit records in one page */
#define SRV_MODELS_MAX 1000     /* models srv_models_enrolled lists */

struct json_t;

/* One page of the audit log. */
struct srv_audit_query {
	int64_t after;       /* oldest first: records with seq > after; newest first: seq < after (0 = from the end) */
	const char *subject; /* only records with this subject, or NULL for all */
	size_t limit;        /* 1..SRV_AUDIT_PAGE_MAX records */
	bool newest_first;   /* order */
};

/*
 * The records q selects as a JSON array of {"seq", "time", "event",
 * "subject", "detail"} (detail: the stored object, or null) into *records
 * (caller decrefs); *next is the seq to continue from (after) when more
 * records follow, else 0. One read transaction. The subject filter is an
 * equality on an unindexed column: a full scan of the log (bounded by limit
 * only once enough rows match).
 */
ward_err srv_audit_page(struct srv_store *s, const struct srv_audit_query *q, struct json_t **records,
			int64_t *next, struct ward_msg *m) WARD_MUST_USE;

/* The distinct models of the registry's devices, sorted, at most max (1..SRV_MODELS_MAX), as a
 * JSON array of strings (caller decrefs); *more when the registry holds more. */
ward_err srv_models_enrolled(struct srv_store *s, size_t max, struct json_t **names, bool *more,
			     struct ward_msg *m) WARD_MUST_USE;

#endif
