/*
 * cli/login.c — `ward login` and `ward logout`: an operator's session with
 * a ward-server, for the commands run with `--server` (cli/remote.h).
 *
 *   ward login --server URL [--ca FILE] --name NAME [--password-file F]
 *   ward logout
 *
 * The password comes from --password-file (first line), else from the
 * terminal without echo, else (no terminal: a pipe) the first line of
 * stdin; it is sent once, to POST /api/v1/login, and wiped. The reply's token
 * is saved with the server, the CA file (made absolute), its expiry and the
 * operator's name in login.json: created 0600 in a 0700 directory and
 * replaced atomically (ward_file_write_atomic), never readable by others
 * for an instant. `ward logout` deletes the file; the token itself stays
 * valid on the server until it expires (12 hours after the login).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "remote.h"
#include "ward/buf.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define PASS_MAX 1024 /* bytes of a password (server/store_ops.h SRV_OP_PASS_MAX) */

static const char login_help[] =
    "usage: ward login --server URL [--ca FILE] --name NAME [--password-file FILE]\n"
    "       ward logout\n"
    "\n"
    "  login   log in to ward-server's operator API and save the session (token, server,\n"
    "          CA) in $XDG_CONFIG_HOME/ward/login.json (default ~/.config/ward/), mode 0600;\n"
    "          commands then go through the API (see docs/ward-remote.md)\n"
    "  logout  delete the saved session (the token expires on its own, 12 hours after login)\n"
    "\n"
    "  --server URL            https://HOST:PORT of ward-server\n"
    "  --ca FILE               the CA certificate that signed the server's (e.g. DIR/ca/root.pem);\n"
    "                          default: the system's trust store\n"
    "  --name NAME             the operator's name\n"
    "  --password-file FILE    the password is FILE's first line (default: asked on the terminal,\n"
    "                          or the first line of stdin when it is not a terminal)\n";

/* mkdir -p the directory holding path, 0700. */
static ward_err parent_dir(const char *path, struct ward_msg *m)
{
	char dir[PATH_MAX];
	char *slash;

	if (ward_snprintf(dir, sizeof(dir), "%s", path) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "path too long");
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return WARD_OK;
	*slash = '\0';
	return ward_mkdir_p(dir, 0700, m);
}

static int do_login(const char *server, const char *ca, const char *name, const char *pwfile)
{
	char pass[PASS_MAX + 2], path[PATH_MAX], cabs[PATH_MAX] = "", until[21];
	struct cli_remote *r = NULL;
	struct ward_msg m = {0};
	json_t *req = NULL, *reply = NULL, *save = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc = EX_FAIL;
	ward_err e;

	memset(pass, 0, sizeof(pass));
	if (!cli_ident_ok(name, 64)) {
		cli_error("login: --name '%s' is not an operator name (1-64 of A-Z a-z 0-9 . _ -)", name);
		return EX_USAGE;
	}
	if (ca && !realpath(ca, cabs)) {
		cli_error("login: --ca %s: %s", ca, strerror(errno));
		return EX_USAGE;
	}
	if ((e = cli_login_path(path, sizeof(path), &m)) != WARD_OK)
		goto out;
	if (!pwfile && !isatty(STDIN_FILENO))
		pwfile = "/dev/stdin";
	if ((e = cli_passphrase(pwfile, "Password: ", 0, pass, sizeof(pass), &len, &m)) != WARD_OK)
		goto out;
	if (len > PASS_MAX) {
		e = ward_msg_set(&m, WARD_E_TOOBIG, "the password is longer than %d bytes", PASS_MAX);
		goto out;
	}
	if ((e = cli_remote_connect(server, cabs[0] ? cabs : NULL, NULL, &r, &m)) != WARD_OK)
		goto out;
	if (!(req = json_pack("{s:s,s:s}", "name", name, "password", pass))) {
		e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if ((e = cli_remote_call(r, "POST", "/api/v1/login", req, &reply, &m)) != WARD_OK)
		goto out;
	if (!json_is_string(json_object_get(reply, "token")) || !json_is_integer(json_object_get(reply, "expires"))) {
		e = ward_msg_set(&m, WARD_E_PARSE, "the server's login reply has no token");
		goto out;
	}
	save = json_pack("{s:s,s:o,s:O,s:O,s:s,s:O}", "server", server, "ca", cabs[0] ? json_string(cabs) : json_null(),
			 "token", json_object_get(reply, "token"), "expires", json_object_get(reply, "expires"),
			 "name", name, "role",
			 json_object_get(reply, "role") ? json_object_get(reply, "role") : json_null());
	text = save ? json_dumps(save, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	if (!text) {
		e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if ((e = parent_dir(path, &m)) != WARD_OK || (e = ward_file_write_atomic(path, text, strlen(text), 0600, &m)))
		goto out;
	cli_utc((time_t)json_integer_value(json_object_get(reply, "expires")), until);
	printf("logged in to %s as %s (%s) until %s; session saved in %s\n", server, name,
	       json_is_string(json_object_get(reply, "role")) ? json_string_value(json_object_get(reply, "role")) : "?",
	       until, path);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("login: %s", m.text[0] ? m.text : ward_err_name(e));
	ward_wipe(pass, sizeof(pass));
	if (text) {
		ward_wipe(text, strlen(text));
		free(text);
	}
	if (req) { /* jansson's copy of the password */
		json_t *p = json_object_get(req, "password");

		ward_wipe((char *)json_string_value(p), json_string_length(p));
		json_decref(req);
	}
	cli_login_free(reply);
	cli_login_free(save);
	cli_remote_free(r);
	return rc;
}

static int do_logout(void)
{
	char path[PATH_MAX];
	struct ward_msg m = {0};

	if (cli_login_path(path, sizeof(path), &m) != WARD_OK) {
		cli_error("logout: %s", m.text);
		return EX_FAIL;
	}
	if (unlink(path) != 0) {
		if (errno == ENOENT) {
			printf("not logged in\n");
			return EX_SUCCESS;
		}
		cli_error("logout: %s: %s", path, strerror(errno));
		return EX_FAIL;
	}
	printf("logged out: %s deleted (the token stays valid on the server until it expires)\n", path);
	return EX_SUCCESS;
}

int cli_login(int argc, char **argv)
{
	enum { O_SERVER = 256, O_CA, O_NAME, O_PWFILE };
	static const struct option opts[] = {
	    {"server", required_argument, NULL, O_SERVER},
	    {"ca", required_argument, NULL, O_CA},
	    {"name", required_argument, NULL, O_NAME},
	    {"password-file", required_argument, NULL, O_PWFILE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *server = getenv("WARD_SERVER"), *ca = getenv("WARD_CA"), *name = NULL, *pwfile = NULL;
	int c;

	if (!strcmp(argv[0], "logout")) {
		if (argc != 1) {
			if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
				fputs(login_help, stdout);
				return EX_SUCCESS;
			}
			cli_error("logout takes no arguments");
			return EX_USAGE;
		}
		return do_logout();
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_SERVER:
			server = optarg;
			break;
		case O_CA:
			ca = optarg;
			break;
		case O_NAME:
			name = optarg;
			break;
		case O_PWFILE:
			pwfile = optarg;
			break;
		case 'h':
			fputs(login_help, stdout);
			return EX_SUCCESS;
		case ':':
			cli_error("login: %s needs a value", argv[optind - 1]);
			return EX_USAGE;
		default:
			cli_error("login: unknown option '%s'; `ward login --help` lists them", argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("login: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	if (!server || !*server || !name) {
		cli_error("login: --server URL and --name NAME are required");
		return EX_USAGE;
	}
	return do_login(server, ca && *ca ? ca : NULL, name, pwfile);
}
