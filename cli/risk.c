/*
 * cli/risk.c — `ward fleet risk`: the fleet's risk heat map, every device
 * with its score (server/risk.h says how it is made) and its reasons, the
 * riskiest first.
 *
 * The scores come from srv_view_risk (server/views.c: ward.conf, DIR/risk.ini
 * and at most FLEET_MAX devices of the registry, by serial), or with
 * `ward --server URL` from GET /api/v1/fleet/risk, which is the same
 * function on the server; one printer makes the output of both. Order:
 * score, then raw score, descending, then serial. Output: a table, a JSON
 * array of {serial, model, status, score, reasons: [{points, text}]}, or CSV
 * (RFC 4180: CRLF line ends, fields with , " CR or LF quoted, quotes
 * doubled; reasons joined "; ").
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "remote.h"
#include "risk.h"
#include "store.h"
#include "views.h"
#include "ward/buf.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define FLEET_MAX SRV_VIEW_RISK_MAX /* devices read (each record is ~8.5 KB in memory) */
#define TOP_REASONS 3     /* reasons shown per row of the table */

static const char fleet_help[] =
    "usage: ward fleet risk -c DIR/ward.conf [--json | --csv] [--limit N]\n"
    "       ward --server URL fleet risk [--json | --csv] [--limit N]\n"
    "\n"
    "  risk          every device's risk score (0-100) and its reasons, riskiest first;\n"
    "                per-model settings in DIR/risk.ini (docs/risk.md)\n"
    "\n"
    "  -c, --config FILE       the deployment's ward.conf\n"
    "  --json                  a JSON array of {serial, model, status, score, reasons}\n"
    "  --csv                   CSV (RFC 4180): serial,model,status,score,reasons\n"
    "  --limit N               at most N devices (the riskiest; default all)\n";

/* A CSV field, RFC 4180. */
static void csv_field(const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n")) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
	fputs(last ? "\r\n" : ",", stdout);
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* A row's reasons joined with sep into b ("text (+p)" when with_points). */
static ward_err join_reasons(const json_t *row, size_t max, const char *sep, bool with_points, struct ward_buf *b)
{
	const json_t *rs = json_object_get(row, "reasons"), *r;
	ward_err e = WARD_OK;
	size_t i;

	json_array_foreach(rs, i, r) {
		if (i >= max || e)
			break;
		if (with_points)
			e = ward_buf_printf(b, "%s%s (+%d)", i ? sep : "", jstr(r, "text"),
					    (int)json_integer_value(json_object_get(r, "points")));
		else
			e = ward_buf_printf(b, "%s%s", i ? sep : "", jstr(r, "text"));
	}
	return e;
}

/* The risk view (server/views.h: an array, riskiest first) as a table, JSON or CSV. */
static ward_err print_risk(const json_t *rows, int fmt, struct ward_msg *m)
{
	struct ward_buf b;
	const json_t *row;
	ward_err e = WARD_OK;
	size_t i;

	if (fmt == 'j') {
		cli_print_json(rows);
		return WARD_OK;
	}
	if (fmt == 'c')
		fputs("serial,model,status,score,reasons\r\n", stdout);
	else
		printf("%-24s %-16s %5s  %s\n", "SERIAL", "MODEL", "SCORE", "TOP REASONS");
	json_array_foreach(rows, i, row) {
		int score = (int)json_integer_value(json_object_get(row, "score"));
		char sc[16];

		ward_buf_init(&b, 8192);
		e = join_reasons(row, fmt == 'c' ? SRV_RISK_REASONS_MAX : TOP_REASONS, "; ", fmt != 'c', &b);
		if (e == WARD_OK && fmt == 'c') {
			snprintf(sc, sizeof(sc), "%d", score);
			csv_field(jstr(row, "serial"), false);
			csv_field(jstr(row, "model"), false);
			csv_field(jstr(row, "status"), false);
			csv_field(sc, false);
			csv_field(b.p ? (const char *)b.p : "", true);
		} else if (e == WARD_OK) {
			printf("%-24s %-16s %5d  %s\n", jstr(row, "serial"), jstr(row, "model"), score,
			       b.p ? (const char *)b.p : "-");
		}
		ward_buf_free(&b);
		if (e)
			break;
	}
	return e ? ward_msg_set(m, e, "cannot format the reasons") : WARD_OK;
}

static int fleet_risk(const char *conf_path, int fmt, const char *limit_s)
{
	struct cli_src src = {0};
	struct ward_msg m = {0};
	uint64_t limit = FLEET_MAX;
	json_t *rows = NULL, *reply = NULL;
	bool truncated = false;
	int rc = EX_FAIL;
	ward_err e = WARD_E_NOMEM;

	if (limit_s && (ward_parse_u64(limit_s, &limit) != WARD_OK || limit < 1 || limit > FLEET_MAX)) {
		cli_error("fleet risk: --limit '%s' is not a number from 1 to %d", limit_s, FLEET_MAX);
		return EX_USAGE;
	}
	if ((e = cli_src_open("fleet risk", conf_path, &src, &m)) != WARD_OK) {
		rc = cli_src_status(e);
		goto out;
	}
	if (src.remote) {
		char path[64];

		snprintf(path, sizeof(path), "/api/v1/fleet/risk%s%llu", limit_s ? "?limit=" : "",
			 limit_s ? (unsigned long long)limit : 0ULL);
		if (!limit_s)
			path[sizeof("/api/v1/fleet/risk") - 1] = '\0';
		if ((e = cli_remote_call(src.remote, "GET", path, NULL, &reply, &m)) != WARD_OK)
			goto out;
		rows = json_incref(json_object_get(reply, "devices"));
		truncated = json_is_true(json_object_get(reply, "truncated"));
		if (!json_is_array(rows)) {
			e = ward_msg_set(&m, WARD_E_PARSE, "the server's reply holds no devices array");
			goto out;
		}
	} else {
		if ((e = srv_view_risk(src.store, src.conf, FLEET_MAX, time(NULL), &rows, &truncated, &m)) != WARD_OK)
			goto out;
		while (json_array_size(rows) > limit) /* the riskiest limit */
			json_array_remove(rows, json_array_size(rows) - 1);
	}
	if (truncated)
		fprintf(stderr, "ward: fleet risk: scored only the first devices (by serial) of a larger registry\n");
	if ((e = print_risk(rows, fmt, &m)) != WARD_OK)
		goto out;
	if (fflush(stdout) != 0) {
		e = ward_msg_set(&m, WARD_E_IO, "cannot write the output");
		goto out;
	}
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("%s%s", rc == EX_USAGE ? "" : "fleet risk: ", m.text[0] ? m.text : ward_err_name(e));
	json_decref(rows);
	json_decref(reply);
	cli_src_close(&src);
	return rc;
}

int cli_fleet(int argc, char **argv)
{
	enum { O_JSON = 256, O_CSV, O_LIMIT };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, O_JSON},
	    {"csv", no_argument, NULL, O_CSV},        {"limit", required_argument, NULL, O_LIMIT},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *limit = NULL;
	int c, fmt = 't';

	if (argc < 2) {
		fputs(fleet_help, stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(fleet_help, stdout);
		return EX_SUCCESS;
	}
	if (strcmp(argv[1], "risk") != 0) {
		cli_error("fleet: unknown command '%s'; `ward fleet --help` lists them", argv[1]);
		return EX_USAGE;
	}
	opterr = 0;
	optind = 1;
	argc--;
	argv++; /* argv[0] is now "risk" */
	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case O_JSON:
		case O_CSV:
			if (fmt != 't') {
				cli_error("fleet risk: give one of --json and --csv");
				return EX_USAGE;
			}
			fmt = c == O_JSON ? 'j' : 'c';
			break;
		case O_LIMIT:
			limit = optarg;
			break;
		case 'h':
			fputs(fleet_help, stdout);
			return EX_SUCCESS;
		case ':':
			cli_error("fleet risk: %s needs a value", argv[optind - 1]);
			return EX_USAGE;
		default:
			cli_error("fleet risk: unknown option '%s'; `ward fleet --help` lists them",
				  argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("fleet risk: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	return fleet_risk(conf, fmt, limit);
}
