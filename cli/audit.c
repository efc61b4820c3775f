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
 *
 * `ward audit list`: a page of the log, oldest first, from the deployment
 * (srv_audit_page) or through the operator API (GET /api/v1/audit); one
 * printer for both.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "remote.h"
#include "store.h"
#include "store_ops.h"
#include "ward/buf.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

static const char audit_help[] =
    "usage: ward audit verify [-c DIR/ward.conf]\n"
    "       ward audit list -c DIR/ward.conf [--after SEQ] [--limit N] [--subject S] [--json]\n"
    "\n"
    "list: the records after SEQ (default: from the first), oldest first, at most N\n"
    "(1-1000, default 200); with --subject only those about S (a serial, an operator).\n"
    "Without -c (both commands), with `ward --server URL` or after `ward login`, through\n"
    "ward-server's API.\n"
    "\n"
    "verify: recompute the audit log's hash chain from the first record. Prints\n"
    "\"audit log intact: N records\" and exits 0, or names the record that was\n"
    "edited, inserted or removed and exits 1.\n"
    "\n"
    "  -c, --config FILE       the deployment's ward.conf\n"
    "  --after SEQ             list: start after record SEQ\n"
    "  --limit N               list: at most N records\n"
    "  --subject S             list: only records whose subject is S\n"
    "  --json                  list: {\"records\": [...], \"next\": SEQ or null}\n";

static int audit_verify(const char *conf_path)
{
	struct cli_src src = {0};
	struct ward_msg m = {0};
	uint64_t records = 0;
	json_t *r = NULL;
	int rc = EX_FAIL;
	ward_err e;

	if ((e = cli_src_open("audit verify", conf_path, &src, &m)) != WARD_OK) {
		rc = cli_src_status(e);
		cli_error("audit verify: %s", m.text);
		return rc;
	}
	if (src.remote) {
		/* the server walks the chain (GET /api/v1/audit/verify) */
		e = cli_remote_call(src.remote, "GET", "/api/v1/audit/verify", NULL, &r, &m);
		if (!e && json_is_false(json_object_get(r, "intact")))
			e = ward_msg_set(&m, WARD_E_VERIFY, "%s", json_string_value(json_object_get(r, "problem"))
								? json_string_value(json_object_get(r, "problem"))
								: "the server says the chain is broken");
		else if (!e && !json_is_integer(json_object_get(r, "records")))
			e = ward_msg_set(&m, WARD_E_PARSE, "the server's answer has no record count");
		else if (!e)
			records = (uint64_t)json_integer_value(json_object_get(r, "records"));
	} else {
		e = srv_audit_verify(src.store, &records, &m);
	}
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
	json_decref(r);
	cli_src_close(&src);
	return rc;
}

/* A page of the log ({"records", "next"}) as a table or JSON. */
static void print_audit(const json_t *page, bool json)
{
	const json_t *recs = json_object_get(page, "records"), *r, *next = json_object_get(page, "next");
	size_t i;

	if (json) {
		cli_print_json(page);
		return;
	}
	printf("%-8s %-20s %-24s %-24s %s\n", "SEQ", "TIME", "EVENT", "SUBJECT", "DETAIL");
	json_array_foreach(recs, i, r) {
		char t[21], *detail = NULL;
		const json_t *d = json_object_get(r, "detail");

		cli_utc((time_t)json_integer_value(json_object_get(r, "time")), t);
		if (d && !json_is_null(d))
			detail = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
		printf("%-8lld %-20s %-24s %-24s %s\n", (long long)json_integer_value(json_object_get(r, "seq")), t,
		       json_string_value(json_object_get(r, "event")) ? json_string_value(json_object_get(r, "event")) : "",
		       json_string_value(json_object_get(r, "subject")) ? json_string_value(json_object_get(r, "subject"))
									 : "",
		       detail ? detail : "-");
		free(detail);
	}
	if (json_is_integer(next))
		fprintf(stderr, "ward: audit list: more records follow: --after %lld\n", (long long)json_integer_value(next));
}

static int audit_list(const char *conf_path, const char *after_s, const char *limit_s, const char *subject, bool json)
{
	struct srv_audit_query q = {0, subject, 200, false};
	struct cli_src src = {0};
	struct ward_msg m = {0};
	uint64_t after = 0, limit = 200;
	json_t *page = NULL, *recs = NULL;
	int64_t next = 0;
	int rc = EX_FAIL;
	ward_err e;

	if ((after_s && (ward_parse_u64(after_s, &after) != WARD_OK || after > INT64_MAX)) ||
	    (limit_s && (ward_parse_u64(limit_s, &limit) != WARD_OK || limit < 1 || limit > SRV_AUDIT_PAGE_MAX))) {
		cli_error("audit list: --after takes a record's seq, --limit 1 to %d", SRV_AUDIT_PAGE_MAX);
		return EX_USAGE;
	}
	if (subject && (!*subject || strlen(subject) > SRV_AUDIT_SUBJECT_MAX)) {
		cli_error("audit list: --subject takes 1 to %d bytes", SRV_AUDIT_SUBJECT_MAX);
		return EX_USAGE;
	}
	q.after = (int64_t)after;
	q.limit = (size_t)limit;
	if ((e = cli_src_open("audit list", conf_path, &src, &m)) != WARD_OK) {
		rc = cli_src_status(e);
		goto out;
	}
	if (src.remote) {
		char path[1024] = "/api/v1/audit", num[24];

		snprintf(num, sizeof(num), "%llu", (unsigned long long)after);
		if ((after_s && (e = cli_remote_query(path, sizeof(path), "after", num))) ||
		    (snprintf(num, sizeof(num), "%llu", (unsigned long long)limit) < 0) ||
		    (e = cli_remote_query(path, sizeof(path), "limit", num)) ||
		    (subject && (e = cli_remote_query(path, sizeof(path), "subject", subject)))) {
			ward_msg_set(&m, WARD_E_TOOBIG, "--subject is too long");
			goto out;
		}
		if ((e = cli_remote_call(src.remote, "GET", path, NULL, &page, &m)) != WARD_OK)
			goto out;
	} else {
		if ((e = srv_audit_page(src.store, &q, &recs, &next, &m)) != WARD_OK)
			goto out;
		page = json_pack("{s:o,s:o}", "records", recs, "next", next ? json_integer(next) : json_null());
		recs = NULL;
		if (!page) {
			e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
	}
	print_audit(page, json);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("%s%s", rc == EX_USAGE ? "" : "audit list: ", m.text[0] ? m.text : ward_err_name(e));
	json_decref(page);
	cli_src_close(&src);
	return rc;
}

int cli_audit(int argc, char **argv)
{
	enum { O_AFTER = 256, O_LIMIT, O_SUBJECT, O_JSON };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"after", required_argument, NULL, O_AFTER},
	    {"limit", required_argument, NULL, O_LIMIT},
	    {"subject", required_argument, NULL, O_SUBJECT},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *after = NULL, *limit = NULL, *subject = NULL, *cmd;
	bool json = false, list_opt = false;
	int c;

	if (argc < 2) {
		fputs(audit_help, stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(audit_help, stdout);
		return EX_SUCCESS;
	}
	cmd = argv[1];
	if (strcmp(cmd, "verify") != 0 && strcmp(cmd, "list") != 0) {
		cli_error("audit: unknown command '%s'; `ward audit --help` lists them", argv[1]);
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
		case O_AFTER:
			after = optarg;
			list_opt = true;
			break;
		case O_LIMIT:
			limit = optarg;
			list_opt = true;
			break;
		case O_SUBJECT:
			subject = optarg;
			list_opt = true;
			break;
		case O_JSON:
			json = list_opt = true;
			break;
		case 'h':
			fputs(audit_help, stdout);
			return EX_SUCCESS;
		case ':':
			cli_error("audit %s: %s needs a value", cmd, argv[optind - 1]);
			return EX_USAGE;
		default:
			cli_error("audit %s: unknown option '%s'; `ward audit --help` lists them", cmd,
			          argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("audit %s: unexpected argument '%s'", cmd, argv[optind]);
		return EX_USAGE;
	}
	if (!strcmp(cmd, "list"))
		return audit_list(conf, after, limit, subject, json);
	if (list_opt) {
		cli_error("audit verify: --after, --limit, --subject and --json are options of `audit list`");
		return EX_USAGE;
	}
	return audit_verify(conf);
}
