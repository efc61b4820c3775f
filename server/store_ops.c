/*
 * server/store_ops.c — operator accounts and API tokens (migration 3 of
 * server/store.c; formats in server/store_ops.h).
 *
 * Invariants: a password reaches the database only as an Argon2id encoded
 * hash (t=2, m=19456 KiB, p=1: OWASP's current minimum for Argon2id); a
 * token only as the hex SHA-256 of it. Every change and its audit record are
 * one write transaction (srv_store_tx + srv_store_audit_append). A token
 * check starts as "denied" and becomes "allowed" on one line at its end.
 * Passwords and tokens never appear in messages or audit records, and every
 * local copy of one is wiped before return.
 */
#include <argon2.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "store_ops.h"
#include "ward/buf.h"
#include "ward/crypto.h"

#define NPARAM(a) (sizeof(a) / sizeof((a)[0]))

/* Argon2id parameters of new hashes. */
#define A2_T 2         /* passes */
#define A2_M 19456     /* KiB of memory */
#define A2_P 1         /* lanes */
#define A2_SALT 16     /* bytes of salt */
#define A2_TAG 32      /* bytes of tag */
#define A2_PREFIX "$argon2id$v=19$" /* what every stored hash must start with */

#define TOKEN_HEX (2 * WARD_SHA256_LEN) /* stored token hash, hex */
#define TOKEN_ID_BYTES 16               /* public token id: random, hex */
#define OPERATORS_MAX 10000             /* srv_operators refuses more rows than this */

/*
 * What an unknown name is checked against, so that a login for a name that
 * does not exist costs the same Argon2id work as a wrong password for one
 * that does (no user enumeration by timing). Same parameters as real hashes;
 * its password is not a secret and cannot be one of length >= 12 that
 * matters: an unknown name is refused whatever the result.
 */
static const char dummy_hash[] =
	"$argon2id$v=19$m=19456,t=2,p=1$d2FyZC1kdW1teS1zYWx0IQ$bBwj9C73YCjzvNJhS3zjB9quPA869GJZd1GfwSx0o+U";

static const char *const role_names[] = {
	[SRV_ROLE_ADMIN] = "admin",
	[SRV_ROLE_RELEASE_MANAGER] = "release-manager",
	[SRV_ROLE_OPERATOR] = "operator",
	[SRV_ROLE_AUDITOR] = "auditor",
};

const char *srv_op_role_name(enum srv_op_role r)
{
	if ((unsigned)r >= sizeof(role_names) / sizeof(role_names[0]))
		return NULL;
	return role_names[r];
}

ward_err srv_op_role_parse(const char *name, enum srv_op_role *out)
{
	for (size_t i = 0; name && i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (!strcmp(name, role_names[i])) {
			*out = (enum srv_op_role)i;
			return WARD_OK;
		}
	return WARD_E_INVAL;
}

bool srv_op_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, SRV_OP_NAME_MAX + 1) : 0;

	if (n == 0 || n > SRV_OP_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

size_t srv_op_pass_chars(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80; /* count lead bytes, not continuations */
	return n;
}

/* ---- hashing --------------------------------------------------------------- */

static ward_err pass_hash(const char *password, char out[SRV_OP_HASH_MAX], struct ward_msg *m)
{
	uint8_t salt[A2_SALT];
	size_t len = strnlen(password, SRV_OP_PASS_MAX + 1);
	int rc;

	if (len > SRV_OP_PASS_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "the password is longer than %d bytes", SRV_OP_PASS_MAX);
	if (srv_op_pass_chars(password) < SRV_OP_PASS_MIN)
		return ward_msg_set(m, WARD_E_INVAL,
				    "the password is shorter than %d characters; choose a longer one",
				    SRV_OP_PASS_MIN);
	if (ward_crypto_random(salt, sizeof(salt)) != WARD_OK)
		return ward_msg_set(m, WARD_E_CRYPTO, "no random bytes for the password salt");
	rc = argon2id_hash_encoded(A2_T, A2_M, A2_P, password, len, salt, sizeof(salt), A2_TAG, out,
				   SRV_OP_HASH_MAX);
	ward_wipe(salt, sizeof(salt));
	if (rc != ARGON2_OK)
		return ward_msg_set(m, rc == ARGON2_MEMORY_ALLOCATION_ERROR ? WARD_E_NOMEM : WARD_E_CRYPTO,
				    "argon2id: %s", argon2_error_message(rc));
	return WARD_OK;
}

/*
 * Does password match encoded? Always does the Argon2id work of one check
 * (against the dummy hash when encoded is NULL or not ours), so callers take
 * the same time whatever the outcome. Fails closed.
 */
static bool pass_ok(const char *encoded, const char *password)
{
	bool usable = encoded && strnlen(encoded, SRV_OP_HASH_MAX) < SRV_OP_HASH_MAX &&
		      !strncmp(encoded, A2_PREFIX, strlen(A2_PREFIX));
	size_t len = password ? strnlen(password, SRV_OP_PASS_MAX + 1) : 0;
	bool ok = false;
	int rc;

	/* argon2id_verify compares the tags in constant time */
	rc = argon2id_verify(usable ? encoded : dummy_hash, password ? password : "",
			     len > SRV_OP_PASS_MAX ? SRV_OP_PASS_MAX : len);
	ok = rc == ARGON2_OK && usable && password && len <= SRV_OP_PASS_MAX; /* the one line that says yes */
	return ok;
}

/*
 * SHA-256 hex of a token. One fast hash is right here, unlike for
 * passwords: a token is 256 bits from the CSPRNG, so there is nothing to
 * guess or look up in a dictionary, and a slow KDF would only make every
 * API request (each carries its token) cost tens of milliseconds.
 */
static ward_err token_digest_hex(const char *token, char hex[TOKEN_HEX + 1])
{
	uint8_t d[WARD_SHA256_LEN];
	ward_err e = ward_crypto_hash(WARD_HASH_SHA256, token, strlen(token), d);

	if (!e)
		ward_hex_encode(d, sizeof(d), hex);
	ward_wipe(d, sizeof(d));
	return e;
}

static bool token_syntax_ok(const char *t)
{
	size_t n = t ? strnlen(t, SRV_OP_TOKEN_CHARS + 1) : 0;

	if (n != SRV_OP_TOKEN_CHARS)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* A fresh token (base64url of SRV_OP_TOKEN_BYTES random bytes, no padding). */
static ward_err token_new(char token[SRV_OP_TOKEN_CHARS + 1], struct ward_msg *m)
{
	uint8_t raw[SRV_OP_TOKEN_BYTES];
	struct ward_buf b64;
	ward_err e;

	ward_buf_init(&b64, 64);
	if ((e = ward_crypto_random(raw, sizeof(raw))) != WARD_OK ||
	    (e = ward_crypto_base64_encode(raw, sizeof(raw), &b64)) != WARD_OK) {
		ward_msg_set(m, e, "cannot make a token");
		goto out;
	}
	/* 32 bytes: 43 characters and one '=' of padding */
	if (b64.len < SRV_OP_TOKEN_CHARS) {
		e = ward_msg_set(m, WARD_E_CRYPTO, "base64 of a token is too short");
		goto out;
	}
	for (size_t i = 0; i < SRV_OP_TOKEN_CHARS; i++) {
		char c = (char)b64.p[i];

		token[i] = c == '+' ? '-' : c == '/' ? '_' : c; /* RFC 4648 section 5 */
	}
	token[SRV_OP_TOKEN_CHARS] = '\0';
out:
	ward_wipe(raw, sizeof(raw));
	if (b64.p)
		ward_wipe(b64.p, b64.len);
	ward_buf_free(&b64);
	return e;
}

/* ---- rows ------------------------------------------------------------------- */

static ward_err col_u64(const struct srv_row *r, size_t i, int64_t *out, const char *what,
			struct ward_msg *m)
{
	uint64_t v;

	if (i >= r->n || !r->val[i] || ward_parse_u64(r->val[i], &v) || v > INT64_MAX)
		return ward_msg_set(m, WARD_E_PARSE, "stored %s is not a number", what);
	*out = (int64_t)v;
	return WARD_OK;
}

static ward_err col_str(const struct srv_row *r, size_t i, char *dst, size_t size, const char *what,
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

static ward_err found_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	(void)r;
	(void)m;
	*(bool *)arg = true;
	return WARD_OK;
}

/* ---- adding an operator ------------------------------------------------------ */

struct add_ctx {
	const char *name, *hash, *role, *via; /* validated */
	int64_t now;                          /* creation time */
};

static ward_err add_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct add_ctx *c = arg;
	const struct srv_param pname[] = {SRV_TEXT(c->name)};
	const struct srv_param p[] = {SRV_TEXT(c->name), SRV_TEXT(c->hash), SRV_TEXT(c->role),
				      SRV_I64(c->now)};
	bool exists = false;
	json_t *d;
	ward_err e;

	e = srv_store_exec(s, "SELECT name FROM operators WHERE name = $1", pname, 1, found_row, &exists,
			   NULL, m);
	if (e)
		return e;
	if (exists)
		return ward_msg_set(m, WARD_E_EXISTS, "an operator named '%s' already exists", c->name);
	e = srv_store_exec(s, "INSERT INTO operators (name, pass_hash, role, created) VALUES ($1, $2, $3, $4)",
			   p, NPARAM(p), NULL, NULL, NULL, m);
	if (e)
		return e;
	d = json_pack("{s:s,s:s}", "role", c->role, "via", c->via);
	e = d ? srv_store_audit_append(s, "operator-add", c->name, d, c->now, m)
	      : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	json_decref(d);
	return e;
}

ward_err srv_operator_add(struct srv_store *s, const char *name, const char *password,
			  enum srv_op_role role, const char *via, struct ward_msg *m)
{
	char hash[SRV_OP_HASH_MAX] = "";
	struct add_ctx c = {name, hash, srv_op_role_name(role), via, (int64_t)time(NULL)};
	ward_err e;

	if (!s || !password || !via)
		return ward_msg_set(m, WARD_E_INVAL, "no store, password or actor");
	if (!srv_op_name_ok(name))
		return ward_msg_set(m, WARD_E_INVAL, "an operator name is 1-%d of A-Z a-z 0-9 . _ -",
				    SRV_OP_NAME_MAX);
	if (!c.role)
		return ward_msg_set(m, WARD_E_INVAL, "role %d is not one ward knows", (int)role);
	e = srv_store_check_str("actor", via, SRV_AUDIT_SUBJECT_MAX + 1, false, m);
	if (!e)
		e = pass_hash(password, hash, m); /* before the transaction: it takes a while */
	if (!e)
		e = srv_store_tx(s, true, add_tx, &c, m);
	ward_wipe(hash, sizeof(hash));
	return e;
}

/* ---- listing -------------------------------------------------------------------- */

struct list_ctx {
	struct srv_operator *ops; /* grown as rows come */
	size_t n, cap;
};

static ward_err list_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct list_ctx *c = arg;
	struct srv_operator o;
	int64_t created = 0;
	ward_err e;

	memset(&o, 0, sizeof(o));
	if (c->n >= OPERATORS_MAX)
		return ward_msg_set(m, WARD_E_TOOBIG, "more than %d operators", OPERATORS_MAX);
	e = col_str(r, 0, o.name, sizeof(o.name), "operator name", m);
	if (!e && (r->n < 2 || !r->val[1] || srv_op_role_parse(r->val[1], &o.role) != WARD_OK))
		e = ward_msg_set(m, WARD_E_PARSE, "stored role of operator %s is unknown", o.name);
	if (!e)
		e = col_u64(r, 2, &created, "operator creation time", m);
	if (e)
		return e;
	o.created = (time_t)created;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct srv_operator *p = realloc(c->ops, cap * sizeof(*p));

		if (!p)
			return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		c->ops = p;
		c->cap = cap;
	}
	c->ops[c->n++] = o;
	return WARD_OK;
}

static ward_err list_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct list_ctx *c = arg;

	c->n = 0; /* a retry starts over */
	return srv_store_exec(s, "SELECT name, role, created FROM operators ORDER BY name", NULL, 0,
			      list_row, c, NULL, m);
}

ward_err srv_operators(struct srv_store *s, struct srv_operator **out, size_t *n, struct ward_msg *m)
{
	struct list_ctx c = {NULL, 0, 0};
	ward_err e;

	if (!s)
		return ward_msg_set(m, WARD_E_INVAL, "no store");
	e = srv_store_tx(s, false, list_tx, &c, m);
	if (e) {
		free(c.ops);
		return e;
	}
	if (c.n == 0) {
		free(c.ops);
		c.ops = NULL;
	}
	*out = c.ops;
	*n = c.n;
	return WARD_OK;
}

/* ---- tokens ----------------------------------------------------------------------- */

struct issue_ctx {
	const char *name, *via, *event;  /* validated; event: "operator-token" or "operator-login" */
	const char *hash_hex, *id;       /* the token's hash and public id */
	int64_t now, expires;
};

static ward_err issue_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct issue_ctx *c = arg;
	const struct srv_param pname[] = {SRV_TEXT(c->name)};
	const struct srv_param p[] = {SRV_TEXT(c->id), SRV_TEXT(c->hash_hex), SRV_TEXT(c->name),
				      SRV_I64(c->now), SRV_I64(c->expires)};
	bool exists = false;
	json_t *d;
	ward_err e;

	e = srv_store_exec(s, "SELECT name FROM operators WHERE name = $1", pname, 1, found_row, &exists,
			   NULL, m);
	if (e)
		return e;
	if (!exists)
		return ward_msg_set(m, WARD_E_NOTFOUND, "no operator named '%s'", c->name);
	e = srv_store_exec(s,
			   "INSERT INTO api_tokens (id, token_hash, operator, created, expires, revoked) "
			   "VALUES ($1, $2, $3, $4, $5, NULL)",
			   p, NPARAM(p), NULL, NULL, NULL, m);
	if (e)
		return e;
	d = json_pack("{s:s,s:I,s:s}", "id", c->id, "expires", (json_int_t)c->expires, "via", c->via);
	e = d ? srv_store_audit_append(s, c->event, c->name, d, c->now, m)
	      : ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	json_decref(d);
	return e;
}

static ward_err issue(struct srv_store *s, const char *name, long long ttl, const char *via,
		      const char *event, char token[SRV_OP_TOKEN_CHARS + 1], time_t *expires,
		      struct ward_msg *m)
{
	char tok[SRV_OP_TOKEN_CHARS + 1], hex[TOKEN_HEX + 1], id[2 * TOKEN_ID_BYTES + 1];
	uint8_t idraw[TOKEN_ID_BYTES];
	struct issue_ctx c = {name, via, event, hex, id, (int64_t)time(NULL), 0};
	ward_err e;

	if (ttl < 1 || ttl > SRV_OP_TOKEN_TTL_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "a token's lifetime is 1 second to %lld days",
				    SRV_OP_TOKEN_TTL_MAX / 86400);
	c.expires = c.now + ttl;
	if ((e = token_new(tok, m)) != WARD_OK)
		goto out;
	if ((e = token_digest_hex(tok, hex)) != WARD_OK ||
	    (e = ward_crypto_random(idraw, sizeof(idraw))) != WARD_OK) {
		ward_msg_set(m, e, "cannot make a token");
		goto out;
	}
	ward_hex_encode(idraw, sizeof(idraw), id);
	if ((e = srv_store_tx(s, true, issue_tx, &c, m)) != WARD_OK)
		goto out;
	memcpy(token, tok, sizeof(tok));
	*expires = (time_t)c.expires;
out:
	ward_wipe(tok, sizeof(tok));
	ward_wipe(hex, sizeof(hex));
	return e;
}

ward_err srv_op_token_issue(struct srv_store *s, const char *name, long long ttl, const char *via,
			    char token[SRV_OP_TOKEN_CHARS + 1], time_t *expires, struct ward_msg *m)
{
	ward_err e;

	if (!s || !via || !token || !expires)
		return ward_msg_set(m, WARD_E_INVAL, "no store, actor or output");
	if (!srv_op_name_ok(name))
		return ward_msg_set(m, WARD_E_INVAL, "an operator name is 1-%d of A-Z a-z 0-9 . _ -",
				    SRV_OP_NAME_MAX);
	e = srv_store_check_str("actor", via, SRV_AUDIT_SUBJECT_MAX + 1, false, m);
	return e ? e : issue(s, name, ttl, via, "operator-token", token, expires, m);
}

/* ---- login ------------------------------------------------------------------------- */

struct hash_ctx {
	const char *name;              /* validated */
	char hash[SRV_OP_HASH_MAX];    /* out: the stored hash */
	bool found;                    /* out */
};

static ward_err hash_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct hash_ctx *c = arg;
	ward_err e = col_str(r, 0, c->hash, sizeof(c->hash), "password hash", m);

	if (!e)
		c->found = true;
	return e;
}

static ward_err hash_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct hash_ctx *c = arg;
	const struct srv_param p[] = {SRV_TEXT(c->name)};

	c->found = false;
	return srv_store_exec(s, "SELECT pass_hash FROM operators WHERE name = $1", p, 1, hash_row, c,
			      NULL, m);
}

struct fail_ctx {
	const char *subject; /* the name tried, when it is one ward could store; else "" */
	int64_t now;
};

static ward_err fail_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct fail_ctx *c = arg;
	json_t *d = json_pack("{s:s}", "reason", "bad credentials");
	ward_err e = d ? srv_store_audit_append(s, "operator-login-failed", c->subject, d, c->now, m)
		       : ward_msg_set(m, WARD_E_NOMEM, "out of memory");

	json_decref(d);
	return e;
}

ward_err srv_op_login(struct srv_store *s, const char *name, const char *password, long long ttl,
		      char token[SRV_OP_TOKEN_CHARS + 1], time_t *expires, struct ward_msg *m)
{
	struct hash_ctx *c;
	bool name_ok = srv_op_name_ok(name), ok;
	ward_err e = WARD_OK;

	if (!s || !token || !expires)
		return ward_msg_set(m, WARD_E_INVAL, "no store or output");
	c = calloc(1, sizeof(*c));
	if (!c)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	c->name = name;
	if (name_ok)
		e = srv_store_tx(s, false, hash_tx, c, m);
	if (e)
		goto out;
	/* the same Argon2id work whether or not the name exists */
	ok = pass_ok(c->found ? c->hash : NULL, password) && c->found;
	if (ok) {
		e = issue(s, name, ttl, "login", "operator-login", token, expires, m);
	} else {
		struct fail_ctx f = {name_ok ? name : "", (int64_t)time(NULL)};

		e = srv_store_tx(s, true, fail_tx, &f, m);
		if (!e)
			e = ward_msg_set(m, WARD_E_DENIED, "wrong operator name or password");
	}
out:
	ward_wipe(c, sizeof(*c));
	free(c);
	return e;
}

/* ---- the login throttle ---------------------------------------------------------- */

struct fails_ctx {
	int64_t n; /* out */
};

static ward_err fails_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct fails_ctx *c = arg;

	return col_u64(r, 0, &c->n, "failure count", m);
}

ward_err srv_op_login_throttled(struct srv_store *s, const char *name, time_t now, bool *throttled,
				struct ward_msg *m)
{
	struct fails_ctx c = {0};
	const struct srv_param p[] = {SRV_TEXT(srv_op_name_ok(name) ? name : ""),
				      SRV_I64((int64_t)now - SRV_OP_LOGIN_WINDOW)};
	ward_err e;

	*throttled = false;
	e = srv_store_exec(s,
			   "SELECT COUNT(*) FROM audit WHERE subject = $1 AND event = 'operator-login-failed' "
			   "AND time > $2",
			   p, NPARAM(p), fails_row, &c, NULL, m);
	if (!e && c.n >= SRV_OP_LOGIN_FAILS)
		*throttled = true;
	return e;
}

/* ---- checking a token ------------------------------------------------------------- */

struct check_ctx {
	const char *hash_hex;         /* the presented token's hash */
	struct srv_operator op;       /* out */
	char stored[TOKEN_HEX + 1];   /* out: the row's hash */
	int64_t expires;              /* out */
	bool revoked, found;          /* out */
};

static ward_err check_row(void *arg, const struct srv_row *r, struct ward_msg *m)
{
	struct check_ctx *c = arg;
	int64_t created = 0;
	ward_err e;

	if (c->found)
		return ward_msg_set(m, WARD_E_IO, "database: two tokens with one hash");
	e = col_str(r, 0, c->stored, sizeof(c->stored), "token hash", m);
	if (!e)
		e = col_u64(r, 1, &c->expires, "token expiry", m);
	if (!e)
		e = col_str(r, 3, c->op.name, sizeof(c->op.name), "operator name", m);
	if (!e && (r->n < 5 || !r->val[4] || srv_op_role_parse(r->val[4], &c->op.role) != WARD_OK))
		e = ward_msg_set(m, WARD_E_PARSE, "stored role of operator %s is unknown", c->op.name);
	if (!e)
		e = col_u64(r, 5, &created, "operator creation time", m);
	if (e)
		return e;
	c->op.created = (time_t)created;
	c->revoked = r->n > 2 && r->val[2] != NULL;
	c->found = true;
	return WARD_OK;
}

static ward_err check_tx(struct srv_store *s, void *arg, struct ward_msg *m)
{
	struct check_ctx *c = arg;
	const struct srv_param p[] = {SRV_TEXT(c->hash_hex)};

	c->found = false;
	return srv_store_exec(s,
			      "SELECT t.token_hash, t.expires, t.revoked, o.name, o.role, o.created "
			      "FROM api_tokens t JOIN operators o ON o.name = t.operator "
			      "WHERE t.token_hash = $1",
			      p, 1, check_row, c, NULL, m);
}

ward_err srv_op_token_check(struct srv_store *s, const char *token, time_t now,
			    struct srv_operator *out, struct ward_msg *m)
{
	char hex[TOKEN_HEX + 1];
	struct check_ctx c;
	bool allowed = false;
	ward_err e;

	if (!s || !out)
		return ward_msg_set(m, WARD_E_INVAL, "no store or output");
	if (!token_syntax_ok(token))
		return ward_msg_set(m, WARD_E_DENIED, "the token is not a ward API token");
	memset(&c, 0, sizeof(c));
	c.hash_hex = hex;
	if ((e = token_digest_hex(token, hex)) != WARD_OK) {
		ward_msg_set(m, e, "cannot hash the token");
		goto out;
	}
	/*
	 * The database finds the row by the hash, which is not a constant-time
	 * search; what it could leak is about SHA-256(token), which says
	 * nothing usable about the token. The comparison below is constant-time
	 * all the same, so a row is accepted only for the exact hash.
	 */
	if ((e = srv_store_tx(s, false, check_tx, &c, m)) != WARD_OK)
		goto out;
	if (!c.found || strlen(c.stored) != TOKEN_HEX || !ward_ct_eq(c.stored, hex, TOKEN_HEX)) {
		e = ward_msg_set(m, WARD_E_DENIED, "unknown token");
		goto out;
	}
	if (c.revoked) {
		e = ward_msg_set(m, WARD_E_DENIED, "the token of %s was revoked", c.op.name);
		goto out;
	}
	if (c.expires <= (int64_t)now) {
		e = ward_msg_set(m, WARD_E_DENIED, "the token of %s has expired", c.op.name);
		goto out;
	}
	c.op.token_expires = (time_t)c.expires;
	allowed = true; /* the one line that says yes */
out:
	if (allowed)
		*out = c.op;
	ward_wipe(hex, sizeof(hex));
	ward_wipe(&c, sizeof(c));
	return allowed ? WARD_OK : (e ? e : WARD_E_DENIED);
}
