/*
 * cli/main.c — `ward`, the one command-line tool of the maker, the operator
 * and the factory. A table of subcommands; each lives in its own file.
 *
 * The commands that open a deployment's database (init, batch, device,
 * audit) live in the sibling program ward-fleet (cli/fleet.c), which `ward`
 * runs in its place, the way git runs its subcommands: the database client
 * libraries (libpq pulls in Kerberos, LDAP, GnuTLS...) then cost nothing to
 * `ward tuf` on a device or `ward repo` on a maker's workstation.
 *
 * Global options before the command, `--server URL` and `--ca FILE`, make
 * the operator commands (device, audit, operator, fleet, campaign) go through
 * ward-server's operator API instead of a deployment's database
 * (cli/remote.h); they reach ward-fleet as WARD_SERVER and WARD_CA in the
 * environment, which may also be set directly.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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
	{"device", cli_fleet_exec, "device registry: list, show, label, revoke, decommission, crl, assign"},
	{"audit", cli_fleet_exec, "audit log: list, verify the hash chain"},
	{"operator", cli_fleet_exec, "operator accounts and API tokens: add, list, token"},
	{"fleet", cli_fleet_exec, "fleet views: risk (the risk heat map, riskiest first)"},
	{"campaign", cli_fleet_exec, "phased update campaigns: create, start, pause, resume, cancel, approve, show"},
	{"login", cli_login, "log in to ward-server's operator API (for --server)"},
	{"logout", cli_login, "forget the saved login"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: ward [--server URL [--ca FILE]] <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "\n  --server URL  operator commands go through ward-server's API at URL (https://...)\n"
		     "                instead of a deployment's database (also WARD_SERVER; see ward login)\n"
		     "  --ca FILE     the CA certificate to verify that server with (also WARD_CA)\n");
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

/* Take the global --server URL / --ca FILE (also "--server=URL") off the front of argv into the
 * environment; returns how many arguments they took, or -1 after a usage error. */
static int global_options(int argc, char **argv)
{
	int i = 1;

	while (i < argc) {
		const char *a = argv[i], *name = NULL, *val = NULL;

		if (!strncmp(a, "--server", 8) && (a[8] == '\0' || a[8] == '='))
			name = "WARD_SERVER";
		else if (!strncmp(a, "--ca", 4) && (a[4] == '\0' || a[4] == '='))
			name = "WARD_CA";
		else
			break;
		if (a[name[5] == 'S' ? 8 : 4] == '=') {
			val = strchr(a, '=') + 1;
			i += 1;
		} else if (i + 1 < argc) {
			val = argv[i + 1];
			i += 2;
		} else {
			fprintf(stderr, "ward: %s needs a value\n", a);
			return -1;
		}
		if (!*val || setenv(name, val, 1) != 0) {
			fprintf(stderr, "ward: %s needs a value\n", a);
			return -1;
		}
	}
	return i - 1;
}

int main(int argc, char **argv)
{
	int g = global_options(argc, argv);

	if (g < 0)
		return 2;
	if (g > 0) { /* drop them: argv[g] becomes the program name's slot */
		argv[g] = argv[0];
		argv += g;
		argc -= g;
	}
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
