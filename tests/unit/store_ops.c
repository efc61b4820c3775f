/*
 * tests/unit/store_ops.c — operator accounts and API tokens
 * (server/store_ops.c) on a fresh SQLite store: what is stored (hashes
 * only), what is refused (weak passwords, duplicates, bad names and roles),
 * logins (good, wrong password, unknown name; each audited), token checks
 * (good, garbage, expired, revoked) and the audit chain afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "store_ops.h"
#include "ward/buf.h"

#define PW "correct horse battery staple"

struct fx {
	char dir[64];          /* mkdtemp */
	char db[128];          /* DIR/ward.db */
	struct srv_store *s;   /* open store */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char uri[160];
	struct ward_msg m = {{0}};

	assert_non_null(f);
	memcpy(f->dir, "/tmp/ward-ops-XXXXXX", sizeof("/tmp/ward-ops-XXXXXX"));
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(ward_snprintf(f->db, sizeof(f->db), "%s/ward.db", f->dir), WARD_OK);
	assert_int_equal(ward_snprintf(uri, sizeof(uri), "sqlite:%s", f->db), WARD_OK);
	if (srv_store_open(uri, &f->s, &m) != WARD_OK)
		fail_msg("%s", m.text);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char p[192];

	srv_store_close(f->s);
	static const char *const suffix[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++)
		if (ward_snprintf(p, sizeof(p), "%s%s", f->db, suffix[i]) == WARD_OK)
			unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void sql(const struct fx *f, const char *q)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_roles_and_names(void **state)
{
	enum srv_op_role r = SRV_ROLE_AUDITOR;

	(void)state;
	assert_int_equal(srv_op_role_parse("release-manager", &r), WARD_OK);
	assert_int_equal(r, SRV_ROLE_RELEASE_MANAGER);
	assert_int_equal(srv_op_role_parse("root", &r), WARD_E_INVAL);
	assert_int_equal(r, SRV_ROLE_RELEASE_MANAGER); /* untouched */
	assert_string_equal(srv_op_role_name(SRV_ROLE_ADMIN), "admin");
	assert_null(srv_op_role_name((enum srv_op_role)99));
	assert_true(srv_op_name_ok("alice.b_c-1"));
	assert_false(srv_op_name_ok(""));
	assert_false(srv_op_name_ok("a b"));
	assert_false(srv_op_name_ok("x'--"));
	assert_int_equal(srv_op_pass_chars("\xc3\xa9t\xc3\xa9"), 3);
}

static void test_add_list(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	struct srv_operator *ops = NULL;
	size_t n = 0;

	assert_int_equal(srv_operator_add(f->s, "alice", PW, SRV_ROLE_ADMIN, "cli", &m), WARD_OK);
	assert_int_equal(srv_operator_add(f->s, "alice", PW, SRV_ROLE_AUDITOR, "cli", &m), WARD_E_EXISTS);
	assert_int_equal(srv_operator_add(f->s, "bob", "elevenchars", SRV_ROLE_ADMIN, "cli", &m), WARD_E_INVAL);
	assert_int_equal(srv_operator_add(f->s, "b b", PW, SRV_ROLE_ADMIN, "cli", &m), WARD_E_INVAL);
	assert_int_equal(srv_operator_add(f->s, "carol", PW, (enum srv_op_role)7, "cli", &m), WARD_E_INVAL);
	assert_int_equal(srv_operator_add(f->s, "dave", PW, SRV_ROLE_AUDITOR, "cli", &m), WARD_OK);
	assert_int_equal(srv_operators(f->s, &ops, &n, &m), WARD_OK);
	assert_int_equal(n, 2);
	assert_string_equal(ops[0].name, "alice");
	assert_int_equal(ops[0].role, SRV_ROLE_ADMIN);
	assert_string_equal(ops[1].name, "dave");
	assert_int_equal(ops[1].role, SRV_ROLE_AUDITOR);
	free(ops);
}

static void test_login_and_tokens(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	struct srv_operator op;
	char tok[SRV_OP_TOKEN_CHARS + 1], tok2[SRV_OP_TOKEN_CHARS + 1];
	time_t exp = 0, now = time(NULL);
	uint64_t records = 0;

	assert_int_equal(srv_operator_add(f->s, "alice", PW, SRV_ROLE_OPERATOR, "cli", &m), WARD_OK);
	assert_int_equal(srv_op_login(f->s, "alice", PW, 3600, tok, &exp, &m), WARD_OK);
	assert_int_equal(strlen(tok), SRV_OP_TOKEN_CHARS);
	assert_true(exp >= now + 3600 && exp <= now + 3700);
	assert_int_equal(srv_op_token_check(f->s, tok, time(NULL), &op, &m), WARD_OK);
	assert_string_equal(op.name, "alice");
	assert_int_equal(op.role, SRV_ROLE_OPERATOR);
	/* expired: checked at a time past its expiry */
	memset(&op, 0, sizeof(op));
	assert_int_equal(srv_op_token_check(f->s, tok, exp, &op, &m), WARD_E_DENIED);
	assert_string_equal(op.name, ""); /* untouched on refusal */

	assert_int_equal(srv_op_login(f->s, "alice", "wrong password!", 3600, tok2, &exp, &m), WARD_E_DENIED);
	assert_int_equal(srv_op_login(f->s, "nobody", PW, 3600, tok2, &exp, &m), WARD_E_DENIED);
	assert_int_equal(srv_op_login(f->s, "no body", PW, 3600, tok2, &exp, &m), WARD_E_DENIED);
	assert_int_equal(srv_op_login(f->s, "alice", "", 3600, tok2, &exp, &m), WARD_E_DENIED);

	/* garbage, a flipped character, a revoked token */
	assert_int_equal(srv_op_token_check(f->s, "", time(NULL), &op, &m), WARD_E_DENIED);
	assert_int_equal(srv_op_token_check(f->s, "not a token", time(NULL), &op, &m), WARD_E_DENIED);
	memcpy(tok2, tok, sizeof(tok));
	tok2[0] = tok2[0] == 'A' ? 'B' : 'A';
	assert_int_equal(srv_op_token_check(f->s, tok2, time(NULL), &op, &m), WARD_E_DENIED);
	assert_int_equal(srv_op_token_issue(f->s, "alice", 60, "cli", tok2, &exp, &m), WARD_OK);
	assert_int_equal(srv_op_token_check(f->s, tok2, time(NULL), &op, &m), WARD_OK);
	sql(f, "UPDATE api_tokens SET revoked = 1");
	assert_int_equal(srv_op_token_check(f->s, tok2, time(NULL), &op, &m), WARD_E_DENIED);
	assert_int_equal(srv_op_token_check(f->s, tok, time(NULL), &op, &m), WARD_E_DENIED);
	assert_int_equal(srv_op_token_issue(f->s, "nobody", 60, "cli", tok2, &exp, &m), WARD_E_NOTFOUND);
	assert_int_equal(srv_op_token_issue(f->s, "alice", 0, "cli", tok2, &exp, &m), WARD_E_INVAL);

	/* add, login, 4 failures, token: 7 records, chain intact */
	assert_int_equal(srv_audit_verify(f->s, &records, &m), WARD_OK);
	assert_int_equal(records, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles_and_names),
		cmocka_unit_test_setup_teardown(test_add_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_and_tokens, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
