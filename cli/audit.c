/*
 * cli/audit.c — `ward audit verify`: walk the deployment's audit log.
 *
 * The log is append-only and hash-chained (server/store.h): record seq's hash
 * is SHA-256(previous hash || canonical JSON of {seq, time, event, subject,
 * detail}). srv_audit_verify recomputes every link; an edited, inserted or
 * removed record breaks the chain at that record, and the message names it by
 * seq. Exit status: 0 intact, 1 the chain is broken (or cannot be read),
 * 2 usage. A truncated tail cannot be seen from the log alone: compare the
 * record count with a count kept elsewhere (docs/ward-init.md).
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "store.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

static const char audit_help[] =
    "usage: ward audit verify -c DIR/ward.conf\n"
    "\n"
    "Recompute the audit log's hash chain from the first record. Prints\n"
    "\"audit log intact: N records\" and exits 0, or names the record that was\n"
    "edited, inserted or removed and exits 1.\n"
    "\n"
    "  -c, --config FILE       the deployment's ward.conf\n";

static int audit_verify(const char *conf_path)
{
	struct srv_conf *conf = malloc(sizeof(*conf));
	struct srv_store *store = NULL;
	struct ward_msg m = {0};
	uint64_t records = 0;
	int rc = EX_FAIL;
	ward_err e = WARD_E_NOMEM;

	if (!conf) {
		ward_msg_set(&m, e, "out of memory");
		goto out;
	}
	if ((e = cli_deploy_open(conf_path, conf, &store, &m)) != WARD_OK)
		goto out;
	e = srv_audit_verify(store, &records, &m);
	if (e == WARD_E_VERIFY) {
		ward_msg_prefix(&m, e, "audit log TAMPERED: ");
		goto out;
	}
	if (e != WARD_OK) {
		ward_msg_prefix(&m, e, "cannot read the audit log: ");
		goto out;
	}
	printf("audit log intact: %llu records\n", (unsigned long long)records);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("audit verify: %s", m.text[0] ? m.text : ward_err_name(e));
	srv_store_close(store);
	free(conf);
	return rc;
}

int cli_audit(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL;
	int c;

	if (argc < 2) {
		fputs(audit_help, stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(audit_help, stdout);
		return EX_SUCCESS;
	}
	if (strcmp(argv[1], "verify") != 0) {
		cli_error("audit: unknown command '%s'; `ward audit --help` lists them", argv[1]);
		return EX_USAGE;
	}
	opterr = 0;
	optind = 1;
	argc--;
	argv++; /* argv[0] is now "verify" */
	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(audit_help, stdout);
			return EX_SUCCESS;
		case ':':
			cli_error("audit verify: %s needs a value", argv[optind - 1]);
			return EX_USAGE;
		default:
			cli_error("audit verify: unknown option '%s'; `ward audit --help` lists them",
			          argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("audit verify: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	if (!conf) {
		cli_error("audit verify: -c DIR/ward.conf is required");
		return EX_USAGE;
	}
	return audit_verify(conf);
}
