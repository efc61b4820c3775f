/*
 * cli/main.c — `ward`, the one command-line tool of the maker, the operator
 * and the factory. A table of subcommands; each lives in its own file.
 *
 * The commands that open a deployment's database (init, batch, device,
 * audit) live in the sibling program ward-fleet (cli/fleet.c), which `ward`
 * runs in its place, the way git runs its subcommands: the database client
 * libraries (libpq pulls in Kerberos, LDAP, GnuTLS...) then cost nothing to
 * `ward tuf` on a device or `ward repo` on a maker's workstation.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "cli.h"

static int cli_fleet_exec(int argc, char **argv);

struct subcommand {
	const char *name;                  /* first argument */
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *summary;               /* one line for `ward --help` */
};

static const struct subcommand subcommands[] = {
	{"tuf", cli_tuf, "TUF client: init, refresh, download (tuf-conformance CLI)"},
	{"repo", cli_repo, "image repository: init, add, delegate, sign, rotate, timestamp"},
	{"bundle", cli_bundle, "offline update bundles: create, info"},
	{"init", cli_fleet_exec, "create a deployment directory: CA, server certificate, database"},
	{"batch", cli_fleet_exec, "production authorizations for a factory: create"},
	{"provision", cli_provision, "give a device its identity over EST (factory station)"},
	{"device", cli_fleet_exec, "device registry: revoke, decommission, list, crl, assign"},
	{"audit", cli_fleet_exec, "audit log: verify the hash chain"},
	{"operator", cli_fleet_exec, "operator accounts and API tokens: add, list, token"},
	{"fleet", cli_fleet_exec, "fleet views: risk (the risk heat map, riskiest first)"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: ward <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "\n`ward <command> --help` describes each command.\n");
}

/* Replace this process with ward-fleet (next to this program) running the same command. */
static int cli_fleet_exec(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 16];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	(void)argc;
	if (l <= 0) {
		fprintf(stderr, "ward: cannot find this program's directory\n");
		return 1;
	}
	self[l] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (snprintf(path, sizeof(path), "%s/ward-fleet", self) >= (int)sizeof(path)) {
		fprintf(stderr, "ward: path too long\n");
		return 1;
	}
	argv[-1] = path; /* ward-fleet CMD args... */
	execv(path, argv - 1);
	fprintf(stderr, "ward: cannot run %s: %s\n", path, strerror(errno));
	return 1;
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
