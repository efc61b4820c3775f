/*
 * cli/fleet.c — ward-fleet: the `ward` commands that open a deployment's
 * database (init, batch, device, audit). `ward` runs this program in its
 * place (cli/main.c) so that the database client libraries are loaded only
 * by the commands that need them. It can also be run directly.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

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
