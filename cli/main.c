/*
 * cli/main.c — `ward`, the one command-line tool of the maker, the operator
 * and the factory. A table of subcommands; each lives in its own file.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct subcommand {
	const char *name;                  /* first argument */
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *summary;               /* one line for `ward --help` */
};

static const struct subcommand subcommands[] = {
	{"tuf", cli_tuf, "TUF client: init, refresh, download (tuf-conformance CLI)"},
	{"repo", cli_repo, "image repository: init, add, delegate, sign, rotate, timestamp"},
	{"bundle", cli_bundle, "offline update bundles: create, info"},
	{"init", cli_init, "create a deployment directory: CA, server certificate, database"},
	{"batch", cli_batch, "production authorizations for a factory: create"},
	{"provision", cli_provision, "give a device its identity over EST (factory station)"},
	{"device", cli_device, "device registry: revoke, decommission, list, crl"},
	{"audit", cli_audit, "audit log: verify the hash chain"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: ward <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "\n`ward <command> --help` describes each command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ward %s\n", WARD_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ward: unknown command '%s'; `ward --help` lists them\n", argv[1]);
	return 1;
}
