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
 *
 * add and list also run through ward-server's operator API (`ward --server
 * URL operator ...`, admin only): list prints the same document
 * (srv_view_operators) either way; add sends the password once, in the body
 * of POST /api/v1/operators, and wipes every copy.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "remote.h"
#include "store.h"
#include "store_ops.h"
#include "views.h"
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
    "  --expires DURATION      token lifetime: 30s, 15m, 12h, 30d, 2w (at most 366 days)\n"
    "\n"
    "Without -c, with `ward --server URL` or after `ward login`, add and list go through\n"
    "ward-server's operator API (role admin).\n";

static int add(const char *conf_path, const char *name, const char *role_s, const char *pwfile)
{
	struct cli_src src = {0};
	struct ward_msg m = {0};
	json_t *req = NULL, *reply = NULL;
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
	if ((e = cli_src_open("operator add", conf_path, &src, &m)) != WARD_OK) {
		rc = cli_src_status(e);
		goto out;
	}
	if (src.remote) {
		if (!(req = json_pack("{s:s,s:s,s:s}", "name", name, "password", pass, "role", srv_op_role_name(role)))) {
			e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
		if ((e = cli_remote_call(src.remote, "POST", "/api/v1/operators", req, &reply, &m)) != WARD_OK)
			goto out;
	} else if ((e = srv_operator_add(src.store, name, pass, role, "cli", &m)) != WARD_OK) {
		goto out;
	}
	printf("operator %s added with role %s\n", name, srv_op_role_name(role));
	rc = EX_SUCCESS;
out:
	if (rc == EX_USAGE)
		cli_error("%s", m.text);
	else if (rc != EX_SUCCESS)
		cli_error("operator add %s: %s", name, m.text[0] ? m.text : ward_err_name(e));
done:
	ward_wipe(pass, sizeof(pass));
	if (req) { /* jansson's copy of the password */
		json_t *p = json_object_get(req, "password");

		ward_wipe((char *)json_string_value(p), json_string_length(p));
		json_decref(req);
	}
	json_decref(reply);
	cli_src_close(&src);
	return rc;
}

/* {"operators": [...]} (server/views.h) as a table. */
static void print_operators(const json_t *doc)
{
	const json_t *ops = json_object_get(doc, "operators"), *o;
	size_t i;

	printf("%-32s %-16s %s\n", "NAME", "ROLE", "CREATED");
	json_array_foreach(ops, i, o) {
		char created[21];
		const char *name = json_string_value(json_object_get(o, "name"));
		const char *role = json_string_value(json_object_get(o, "role"));

		cli_utc((time_t)json_integer_value(json_object_get(o, "created")), created);
		printf("%-32s %-16s %s\n", name ? name : "?", role ? role : "?", created);
	}
}

static int list(const char *conf_path)
{
	struct cli_src src = {0};
	struct ward_msg m = {0};
	json_t *doc = NULL;
	int rc = EX_FAIL;
	ward_err e;

	if ((e = cli_src_open("operator list", conf_path, &src, &m)) != WARD_OK) {
		rc = cli_src_status(e);
		goto out;
	}
	e = src.remote ? cli_remote_call(src.remote, "GET", "/api/v1/operators", NULL, &doc, &m)
		       : srv_view_operators(src.store, &doc, &m);
	if (e)
		goto out;
	print_operators(doc);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("%s%s", rc == EX_USAGE ? "" : "operator list: ", m.text[0] ? m.text : ward_err_name(e));
	json_decref(doc);
	cli_src_close(&src);
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
	if (!conf && !strcmp(cmd, "token")) {
		cli_error("operator %s: -c DIR/ward.conf is required (tokens are issued on the deployment; "
			  "`ward login` gives one through the API)", cmd);
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
