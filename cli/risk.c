/*
 * cli/risk.c — `ward fleet risk`: the fleet's risk heat map, every device
 * with its score (server/risk.h says how it is made) and its reasons, the
 * riskiest first.
 *
 * Reads ward.conf, DIR/risk.ini (per-model settings; a missing file means
 * the defaults) and the device registry (at most FLEET_MAX devices, by
 * serial). The fleet's newest firmware per model is the newest valid version
 * any active device of that model reports. Order: score, then raw score,
 * descending, then serial. Output: a table, a JSON array of {serial, model,
 * status, score, reasons: [{points, text}]}, or CSV (RFC 4180: CRLF line
 * ends, fields with , " CR or LF quoted, quotes doubled; reasons joined "; ").
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
#include "risk.h"
#include "store.h"
#include "ward/buf.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define FLEET_MAX 50000   /* devices read (each record is ~8.5 KB in memory) */
#define TOP_REASONS 3     /* reasons shown per row of the table */

static const char fleet_help[] =
    "usage: ward fleet risk -c DIR/ward.conf [--json | --csv] [--limit N]\n"
    "\n"
    "  risk          every device's risk score (0-100) and its reasons, riskiest first;\n"
    "                per-model settings in DIR/risk.ini (docs/risk.md)\n"
    "\n"
    "  -c, --config FILE       the deployment's ward.conf\n"
    "  --json                  a JSON array of {serial, model, status, score, reasons}\n"
    "  --csv                   CSV (RFC 4180): serial,model,status,score,reasons\n"
    "  --limit N               at most N devices (the riskiest; default all)\n";

struct row {
	const struct srv_device *d;   /* borrowed from the device array */
	struct srv_risk r;
};

/* One model and the newest firmware its active devices report. */
struct newest {
	const char *model;                  /* borrowed from the device array */
	char version[WARD_VERSION_MAX + 1]; /* "" when none */
};

static const char *status_name(enum srv_device_status st)
{
	return st == SRV_DEVICE_ACTIVE ? "active" : st == SRV_DEVICE_REVOKED ? "revoked" : "decommissioned";
}

static int by_risk(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->r.score != y->r.score)
		return x->r.score < y->r.score ? 1 : -1;
	if (x->r.raw != y->r.raw)
		return x->r.raw < y->r.raw ? 1 : -1;
	return strcmp(x->d->serial, y->d->serial);
}

/* newest[] for every model in devs (at most n distinct). Returns how many. */
static size_t fleet_newest(const struct srv_device *devs, size_t n, struct newest *nw)
{
	size_t k = 0;
	char v[WARD_VERSION_MAX + 1];

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < k; j++)
			if (!strcmp(nw[j].model, devs[i].model))
				break;
		if (j == k) {
			nw[k].model = devs[i].model;
			nw[k].version[0] = '\0';
			k++;
		}
		if (devs[i].status == SRV_DEVICE_ACTIVE && srv_risk_firmware(&devs[i], v) &&
		    (!nw[j].version[0] || ward_version_cmp(v, nw[j].version) > 0))
			memcpy(nw[j].version, v, sizeof(v));
	}
	return k;
}

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

/* The reasons joined with sep into b ("text (+p)" when with_points); cut to b's limit. */
static ward_err join_reasons(const struct srv_risk *r, size_t max, const char *sep, bool with_points,
			     struct ward_buf *b)
{
	ward_err e = WARD_OK;

	for (size_t i = 0; i < r->n && i < max && !e; i++) {
		if (with_points)
			e = ward_buf_printf(b, "%s%s (+%d)", i ? sep : "", r->reasons[i].text,
					    r->reasons[i].points);
		else
			e = ward_buf_printf(b, "%s%s", i ? sep : "", r->reasons[i].text);
	}
	return e;
}

static ward_err print_json(const struct row *rows, size_t n, struct ward_msg *m)
{
	json_t *arr = json_array();
	char *text = NULL;
	ward_err e = WARD_E_NOMEM;

	if (!arr)
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_t *rs = json_array(), *o;

		if (!rs)
			goto out;
		for (size_t j = 0; j < rows[i].r.n; j++) {
			json_t *x = json_pack("{s:i, s:s}", "points", rows[i].r.reasons[j].points, "text",
					      rows[i].r.reasons[j].text);
			if (!x || json_array_append_new(rs, x) != 0) {
				json_decref(rs);
				goto out;
			}
		}
		o = json_pack("{s:s, s:s, s:s, s:i, s:o}", "serial", rows[i].d->serial, "model",
			      rows[i].d->model, "status", status_name(rows[i].d->status), "score",
			      rows[i].r.score, "reasons", rs);
		if (!o || json_array_append_new(arr, o) != 0)
			goto out;
	}
	if (!(text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)))
		goto out;
	printf("%s\n", text);
	e = WARD_OK;
out:
	free(text);
	json_decref(arr);
	return e == WARD_OK ? e : ward_msg_set(m, e, "out of memory writing JSON");
}

static ward_err print_rows(const struct row *rows, size_t n, bool csv, struct ward_msg *m)
{
	struct ward_buf b;
	ward_err e = WARD_OK;

	if (csv)
		fputs("serial,model,status,score,reasons\r\n", stdout);
	else
		printf("%-24s %-16s %5s  %s\n", "SERIAL", "MODEL", "SCORE", "TOP REASONS");
	for (size_t i = 0; i < n && !e; i++) {
		char score[16];

		ward_buf_init(&b, 8192);
		e = join_reasons(&rows[i].r, csv ? SRV_RISK_REASONS_MAX : TOP_REASONS, "; ", !csv, &b);
		if (e == WARD_OK && csv) {
			snprintf(score, sizeof(score), "%d", rows[i].r.score);
			csv_field(rows[i].d->serial, false);
			csv_field(rows[i].d->model, false);
			csv_field(status_name(rows[i].d->status), false);
			csv_field(score, false);
			csv_field(b.p ? (const char *)b.p : "", true);
		} else if (e == WARD_OK) {
			printf("%-24s %-16s %5d  %s\n", rows[i].d->serial, rows[i].d->model, rows[i].r.score,
			       b.p ? (const char *)b.p : "-");
		}
		ward_buf_free(&b);
	}
	return e ? ward_msg_set(m, e, "cannot format the reasons") : WARD_OK;
}

static int fleet_risk(const char *conf_path, int fmt, const char *limit_s)
{
	struct srv_conf *conf = malloc(sizeof(*conf));
	struct srv_risk_models *models = malloc(sizeof(*models));
	struct srv_store *store = NULL;
	struct srv_device *devs = NULL;
	struct newest *nw = NULL;
	struct row *rows = NULL;
	struct ward_msg m = {0};
	char ini[SRV_PATH_MAX + 16];
	uint64_t limit = FLEET_MAX;
	size_t n = 0, k;
	time_t now = time(NULL);
	int rc = EX_FAIL;
	ward_err e = WARD_E_NOMEM;

	if (limit_s && (ward_parse_u64(limit_s, &limit) != WARD_OK || limit < 1 || limit > FLEET_MAX)) {
		cli_error("fleet risk: --limit '%s' is not a number from 1 to %d", limit_s, FLEET_MAX);
		rc = EX_USAGE;
		goto out;
	}
	if (!conf || !models) {
		ward_msg_set(&m, e, "out of memory");
		goto out;
	}
	if ((e = cli_deploy_open(conf_path, conf, &store, &m)) != WARD_OK)
		goto out;
	if ((e = ward_snprintf(ini, sizeof(ini), "%s/risk.ini", conf->dir)) != WARD_OK) {
		ward_msg_set(&m, e, "deployment path too long");
		goto out;
	}
	if ((e = srv_risk_models_load(ini, models, &m)) != WARD_OK ||
	    (e = srv_devices(store, &devs, &n, FLEET_MAX, &m)) != WARD_OK)
		goto out;
	if (n == FLEET_MAX)
		fprintf(stderr, "ward: fleet risk: scored only the first %zu devices (by serial)\n", n);
	if (n && (!(nw = calloc(n, sizeof(*nw))) || !(rows = calloc(n, sizeof(*rows))))) {
		e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory for %zu devices", n);
		goto out;
	}
	k = fleet_newest(devs, n, nw);
	for (size_t i = 0; i < n; i++) {
		struct srv_risk_fleet f = {NULL, conf->checkin_interval, conf->renew_before};

		for (size_t j = 0; j < k; j++)
			if (!strcmp(nw[j].model, devs[i].model))
				f.newest = nw[j].version;
		rows[i].d = &devs[i];
		if ((e = srv_risk_score(&devs[i], srv_risk_model_for(models, devs[i].model), &f, now,
					&rows[i].r)) != WARD_OK) {
			ward_msg_set(&m, e, "cannot score device %s", devs[i].serial);
			goto out;
		}
	}
	if (n)
		qsort(rows, n, sizeof(*rows), by_risk);
	if (n > limit)
		n = (size_t)limit;
	if ((e = fmt == 'j' ? print_json(rows, n, &m) : print_rows(rows, n, fmt == 'c', &m)) != WARD_OK)
		goto out;
	if (fflush(stdout) != 0) {
		e = ward_msg_set(&m, WARD_E_IO, "cannot write the output");
		goto out;
	}
	rc = EX_SUCCESS;
out:
	if (rc == EX_FAIL)
		cli_error("fleet risk: %s", m.text[0] ? m.text : ward_err_name(e));
	free(rows);
	free(nw);
	free(devs);
	srv_store_close(store);
	free(models);
	free(conf);
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
	if (!conf) {
		cli_error("fleet risk: -c DIR/ward.conf is required");
		return EX_USAGE;
	}
	if (optind != argc) {
		cli_error("fleet risk: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	return fleet_risk(conf, fmt, limit);
}
