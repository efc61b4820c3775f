/*
 * cli/operator.c — `ward operator`: the people who run the fleet.
 *
 *   add NAME --role R     a new account (password from --password-file or the terminal)
 *   list                  name, role, creation time
 *   token NAME --expires D  an API token for NAME, printed once
 *
 * Runs in ward-fleet on the deployment's database (server/store_ops.c does
 * the work, each change audited in its own transaction). A password is read
 * into one fixed buffer, must be at least SRV_OP_PASS_MIN characters, and is
 * wiped on every path; a token is printed on stdout exactly once and wiped.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "store.h"
#include "store_ops.h"
#include "ward/buf.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

static const char operator_help[] =
    "usage: ward operator add NAME --role ROLE -c DIR/ward.conf [--password-file FILE]\n"
    "       ward operator list -c DIR/ward.conf\n"
    "       ward operator token NAME --expires DURATION -c DIR/ward.conf\n"
    "\n"
    "  add    a new operator account; the password (at least 12 characters) comes from\n"
    "         the first line of --password-file, else is asked for twice on the terminal\n"
    "  list   every operator: name, role, creation time\n"
    "  token  an API token for NAME (for `Authorization: Bearer`), printed once\n"
    "\n"
    "  -c, --config FILE       the deployment's ward.conf\n"
    "  --role ROLE             admin, release-manager, operator or auditor\n"
    "  --password-file FILE    read the password from FILE's first line\n"
    "  --expires DURATION      token lifetime: 30s, 15m, 12h, 30d, 2w (at most 366 days)\n";

static int add(const char *conf_path, const char *name, const char *role_s, const char *pwfile)
{
	struct srv_conf *conf = NULL;
	struct srv_store *store = NULL;
	struct ward_msg m = {0};
	enum srv_op_role role;
	char pass[SRV_OP_PASS_MAX + 2];
	size_t len = 0;
	int rc = EX_FAIL;
	ward_err e = WARD_OK;

	memset(pass, 0, sizeof(pass));
	if (!srv_op_name_ok(name)) {
		cli_error("operator add: '%s' is not an operator name (1-%d of A-Z a-z 0-9 . _ -)", name,
			  SRV_OP_NAME_MAX);
		return EX_USAGE;
	}
	if (!role_s || srv_op_role_parse(role_s, &role) != WARD_OK) {
		cli_error("operator add: --role must be admin, release-manager, operator or auditor");
		return EX_USAGE;
	}
	if ((e = cli_passphrase(pwfile, "Password for the new operator: ", 1, pass, sizeof(pass), &len,
				&m)) != WARD_OK)
		goto out;
	if (len > SRV_OP_PASS_MAX) {
		e = ward_msg_set(&m, WARD_E_TOOBIG, "the password is longer than %d bytes", SRV_OP_PASS_MAX);
		goto out;
	}
	if (srv_op_pass_chars(pass) < SRV_OP_PASS_MIN) {
		cli_error("operator add: the password is too weak: it has fewer than %d characters",
			  SRV_OP_PASS_MIN);
		rc = EX_USAGE;
		goto done;
	}
	if (!(conf = malloc(sizeof(*conf)))) {
		e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if ((e = cli_deploy_open(conf_path, conf, &store, &m)) != WARD_OK ||
	    (e = srv_operator_add(store, name, pass, role, "cli", &m)) != WARD_OK)
		goto out;
	printf("operator %s added with role %s\n", name, srv_op_role_name(role));
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("operator add %s: %s", name, m.text[0] ? m.text : ward_err_name(e));
done:
	ward_wipe(pass, sizeof(pass));
	srv_store_close(store);
	free(conf);
	return rc;
}

static int list(const char *conf_path)
{
	struct srv_conf *conf = malloc(sizeof(*conf));
	struct srv_store *store = NULL;
	struct srv_operator *ops = NULL;
	struct ward_msg m = {0};
	size_t n = 0;
	int rc = EX_FAIL;
	ward_err e = WARD_E_NOMEM;

	if (!conf) {
		ward_msg_set(&m, e, "out of memory");
		goto out;
	}
	if ((e = cli_deploy_open(conf_path, conf, &store, &m)) != WARD_OK ||
	    (e = srv_operators(store, &ops, &n, &m)) != WARD_OK)
		goto out;
	printf("%-32s %-16s %s\n", "NAME", "ROLE", "CREATED");
	for (size_t i = 0; i < n; i++) {
		char created[21];

		cli_utc(ops[i].created, created);
		printf("%-32s %-16s %s\n", ops[i].name, srv_op_role_name(ops[i].role), created);
	}
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("operator list: %s", m.text[0] ? m.text : ward_err_name(e));
	free(ops);
	srv_store_close(store);
	free(conf);
	return rc;
}

static int token(const char *conf_path, const char *name, const char *expires_s)
{
	struct srv_conf *conf = NULL;
	struct srv_store *store = NULL;
	struct ward_msg m = {0};
	char tok[SRV_OP_TOKEN_CHARS + 1] = "", until[21];
	long long ttl = 0;
	time_t expires = 0;
	int rc = EX_FAIL;
	ward_err e = WARD_E_NOMEM;

	if (!srv_op_name_ok(name)) {
		cli_error("operator token: '%s' is not an operator name", name);
		return EX_USAGE;
	}
	if (!expires_s || cli_parse_duration(expires_s, &ttl) != WARD_OK || ttl > SRV_OP_TOKEN_TTL_MAX) {
		cli_error("operator token: --expires needs a duration such as 12h or 30d (at most 366d)");
		return EX_USAGE;
	}
	if (!(conf = malloc(sizeof(*conf)))) {
		ward_msg_set(&m, e, "out of memory");
		goto out;
	}
	if ((e = cli_deploy_open(conf_path, conf, &store, &m)) != WARD_OK ||
	    (e = srv_op_token_issue(store, name, ttl, "cli", tok, &expires, &m)) != WARD_OK)
		goto out;
	cli_utc(expires, until);
	/* the token on stdout alone (for scripts), the rest on stderr */
	printf("%s\n", tok);
	fflush(stdout);
	fprintf(stderr, "ward: API token for %s, valid until %s; it is shown only this once\n", name, until);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("operator token %s: %s", name, m.text[0] ? m.text : ward_err_name(e));
	ward_wipe(tok, sizeof(tok));
	srv_store_close(store);
	free(conf);
	return rc;
}

int cli_operator(int argc, char **argv)
{
	enum { O_ROLE = 256, O_PWFILE, O_EXPIRES };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"role", required_argument, NULL, O_ROLE},
	    {"password-file", required_argument, NULL, O_PWFILE},
	    {"expires", required_argument, NULL, O_EXPIRES},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cmd, *conf = NULL, *role = NULL, *pwfile = NULL, *expires = NULL;
	int c, want_args;

	if (argc < 2) {
		fputs(operator_help, stderr);
		return EX_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(operator_help, stdout);
		return EX_SUCCESS;
	}
	if (strcmp(cmd, "add") && strcmp(cmd, "list") && strcmp(cmd, "token")) {
		cli_error("operator: unknown command '%s'; `ward operator --help` lists them", cmd);
		return EX_USAGE;
	}
	opterr = 0;
	optind = 1;
	argc--;
	argv++; /* argv[0] is now the command */
	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case O_ROLE:
			role = optarg;
			break;
		case O_PWFILE:
			pwfile = optarg;
			break;
		case O_EXPIRES:
			expires = optarg;
			break;
		case 'h':
			fputs(operator_help, stdout);
			return EX_SUCCESS;
		case ':':
			cli_error("operator %s: %s needs a value", cmd, argv[optind - 1]);
			return EX_USAGE;
		default:
			cli_error("operator %s: unknown option '%s'; `ward operator --help` lists them", cmd,
				  argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (!conf) {
		cli_error("operator %s: -c DIR/ward.conf is required", cmd);
		return EX_USAGE;
	}
	if ((role || pwfile) && strcmp(cmd, "add")) {
		cli_error("operator %s: --role and --password-file are options of `operator add`", cmd);
		return EX_USAGE;
	}
	if (expires && strcmp(cmd, "token")) {
		cli_error("operator %s: --expires is an option of `operator token`", cmd);
		return EX_USAGE;
	}
	want_args = strcmp(cmd, "list") ? 1 : 0;
	if (argc - optind != want_args) {
		cli_error("operator %s: %s", cmd,
			  want_args ? "give exactly one operator NAME" : "takes no arguments");
		return EX_USAGE;
	}
	if (!strcmp(cmd, "list"))
		return list(conf);
	if (!strcmp(cmd, "add"))
		return add(conf, argv[optind], role, pwfile);
	return token(conf, argv[optind], expires);
}
