/*
 * cli/fleet.c — ward-fleet: the `ward` commands that open a deployment's
 * database (init, batch, device, audit). `ward` runs this program in its
 * place (cli/main.c) so that the database client libraries are loaded only
 * by the commands that need them. It can also be run directly.
 *
 * Where a command's data comes from (struct cli_src): the deployment named
 * by -c DIR/ward.conf, or, with --server URL (WARD_SERVER) or a saved
 * `ward login` and no -c, ward-server's operator API (cli/remote.h). Both
 * give the same JSON documents (server/views.h), which each command prints
 * with one function, so the local and remote forms print the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "remote.h"
#include "store.h"

ward_err cli_src_open(const char *cmd, const char *conf_path, struct cli_src *src, struct ward_msg *m)
{
	const char *server = getenv("WARD_SERVER");
	ward_err e;

	memset(src, 0, sizeof(*src));
	if (conf_path && server && *server)
		return ward_msg_set(m, WARD_E_INVAL, "%s: give -c DIR/ward.conf or --server URL, not both", cmd);
	if (!conf_path && !cli_remote_wanted())
		return ward_msg_set(m, WARD_E_INVAL, "%s: -c DIR/ward.conf is required (or --server URL, or "
				    "`ward login` first)", cmd);
	if (!conf_path)
		return cli_remote_open(&src->remote, m);
	if (!(src->conf = malloc(sizeof(*src->conf))))
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	e = cli_deploy_open(conf_path, src->conf, &src->store, m);
	if (e)
		cli_src_close(src);
	return e;
}

void cli_src_close(struct cli_src *src)
{
	srv_store_close(src->store);
	free(src->conf);
	cli_remote_free(src->remote);
	memset(src, 0, sizeof(*src));
}

int cli_src_status(ward_err e)
{
	return e == WARD_E_INVAL ? 2 : 1;
}

void cli_print_json(const json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);

	if (text)
		printf("%s\n", text);
	else
		cli_error("out of memory writing JSON");
	free(text);
}

struct fleet_cmd {
	const char *name;                  /* first argument */
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

static const struct fleet_cmd cmds[] = {
	{"init", cli_init},
	{"batch", cli_batch},
	{"device", cli_device},
	{"audit", cli_audit},
	{"operator", cli_operator},
	{"fleet", cli_fleet},
	{"campaign", cli_campaign},
};

int main(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (!strcmp(argv[1], cmds[i].name))
				return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "usage: ward-fleet init|batch|device|audit ... (run through `ward`)\n");
	return 2;
}
