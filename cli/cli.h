/*
 * cli/cli.h — the `ward` command's subcommands. main.c dispatches on the
 * first argument through a table; each subcommand lives in its own file,
 * parses its own options and returns the process exit status.
 */
#ifndef WARD_CLI_H
#define WARD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ward/err.h"

int cli_tuf(int argc, char **argv);  /* cli/tuf.c: the TUF conformance client CLI */
int cli_repo(int argc, char **argv); /* cli/repo.c: the maker's repository tool */
int cli_bundle(int argc, char **argv); /* cli/bundle.c: offline update bundles */
int cli_init(int argc, char **argv);      /* cli/init.c: create a deployment directory */
int cli_batch(int argc, char **argv);     /* cli/batch.c: production authorizations */
int cli_provision(int argc, char **argv); /* cli/provision.c: a device's identity over EST */
int cli_device(int argc, char **argv);    /* cli/device.c: revoke, decommission, list */
int cli_audit(int argc, char **argv);     /* cli/audit.c: verify the audit chain */
int cli_device_assign(int argc, char **argv); /* cli/assign.c: `ward device assign` (director) */
int cli_operator(int argc, char **argv);  /* cli/operator.c: operator accounts and API tokens */
int cli_fleet(int argc, char **argv);     /* cli/risk.c: `ward fleet risk`, the risk heat map */
int cli_campaign(int argc, char **argv);  /* cli/campaign.c: phased update campaigns */
int cli_login(int argc, char **argv);     /* cli/login.c: `ward login` / `ward logout` (operator API session) */

/*
 * Shared by the deployment commands (batch, device, audit), defined in
 * cli/init.c next to the code that lays the deployment out.
 */
struct srv_conf;
struct srv_store;
/* Load DIR/ward.conf at conf_path into *c and open its database (caller closes *s). */
ward_err cli_deploy_open(const char *conf_path, struct srv_conf *c, struct srv_store **s,
			 struct ward_msg *m) WARD_MUST_USE;
/*
 * Sign a new CRL with the issuing CA listing every revoked certificate in s,
 * with the next CRL number, and replace c->crl with it atomically.
 */
ward_err cli_crl_publish(const struct srv_conf *c, struct srv_store *s, struct ward_msg *m) WARD_MUST_USE;
/*
 * Where an operator command reads and changes things (cli/fleet.c): the
 * deployment of -c DIR/ward.conf (conf and store set), or ward-server's
 * operator API (remote set) with --server / WARD_SERVER or a saved login and
 * no -c. WARD_E_INVAL (a usage error) for both or neither.
 */
struct cli_remote;
struct cli_src {
	struct srv_conf *conf;     /* local: the deployment's configuration */
	struct srv_store *store;   /* local: its database */
	struct cli_remote *remote; /* remote: the API */
};
ward_err cli_src_open(const char *cmd, const char *conf_path, struct cli_src *src,
		      struct ward_msg *m) WARD_MUST_USE;
void cli_src_close(struct cli_src *src); /* idempotent */
/* The exit status for a failure: 2 for a usage error (WARD_E_INVAL from cli_src_open), else 1. */
int cli_src_status(ward_err e);
/* Print a JSON document indented, keys sorted, ASCII only, and a newline. */
typedef struct json_t json_t;
void cli_print_json(const json_t *j);

/* A device serial or model: 1..max of [A-Za-z0-9._-] (what ward-server accepts). */
bool cli_ident_ok(const char *s, size_t max);
/* t as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out. */
void cli_utc(time_t t, char out[21]);
/* Who is acting, for audit records of commands run on the database directly: "cli:USER". */
void cli_actor(char *out, size_t n);

/* Print "ward: <text>" on stderr, one line. */
void cli_error(const char *fmt, ...) WARD_PRINTF(1, 2);

/*
 * Read a passphrase: from the file named by --passphrase-file / the
 * WARD_PASSPHRASE_FILE environment variable (first line), else from the
 * terminal without echo (twice when `confirm`). Fills buf (NUL-terminated),
 * *len excludes the NUL. The caller wipes buf.
 */
ward_err cli_passphrase(const char *file, const char *prompt, int confirm, char *buf, size_t bufsz,
			size_t *len, struct ward_msg *m) WARD_MUST_USE;

/* Parse a duration "30s", "15m", "12h", "7d", "2w", "1y" into seconds. */
ward_err cli_parse_duration(const char *s, long long *out) WARD_MUST_USE;

#endif
