/*
 * cli/device.c — `ward device`: the operator's side of the device registry.
 *
 *   revoke SERIAL        the device's key is suspect: refuse it, list its certificates on the CRL
 *   decommission SERIAL  the device is retired: the same, recorded as a retirement
 *   list                 serial, model, status, certificate expiry, last check-in
 *   crl                  re-sign and publish the CRL (for cron: it is valid for 30 days)
 *
 * A status change is one store transaction (srv_device_set_status), so
 * ward-server refuses the device from that instant on; then an audit record,
 * then the CRL is rewritten from the registry (srv_revoked) with the next CRL
 * number and replaced atomically (readers see the old or the new file, never
 * a mix). If the CRL cannot be written the status change stands and the
 * command says how to publish the CRL again.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "store.h"
#include "ward/buf.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define SERIAL_MAX 64            /* what ward-server accepts in a CSR */
#define LIST_DEFAULT 10000       /* devices `list` shows unless --limit says otherwise */
#define LIST_MAX 100000          /* at most (each row is ~4.5 KB in memory) */

static const char device_help[] =
    "usage: ward device revoke SERIAL -c DIR/ward.conf\n"
    "       ward device decommission SERIAL -c DIR/ward.conf\n"
    "       ward device list -c DIR/ward.conf [--json] [--limit N]\n"
    "       ward device crl -c DIR/ward.conf\n"
    "       ward device assign SERIAL --image TARGETPATH -c DIR/ward.conf [--json]\n"
    "\n"
    "  revoke        refuse the device from now on and put its certificates on the CRL\n"
    "  decommission  retire the device: refused from now on, certificates on the CRL\n"
    "  list          serial, model, status, certificate expiry and last check-in\n"
    "  crl           re-sign and publish the CRL (run it daily: a CRL is valid 30 days)\n"
    "  assign        the director names this image (signed in DIR/repo/) for the device\n"
    "\n"
    "  -c, --config FILE       the deployment's ward.conf\n"
    "  --json                  list: a JSON array of objects\n"
    "  --limit N               list: at most N devices (default 10000, at most 100000)\n";

static const char *status_name(enum srv_device_status st)
{
	switch (st) {
	case SRV_DEVICE_ACTIVE:
		return "active";
	case SRV_DEVICE_REVOKED:
		return "revoked";
	case SRV_DEVICE_DECOMMISSIONED:
		return "decommissioned";
	}
	return "unknown";
}


static int set_status(const char *conf_path, const char *serial, enum srv_device_status st)
{
	const char *verb = st == SRV_DEVICE_REVOKED ? "revoke" : "decommission";
	struct srv_conf *conf = NULL;
	struct srv_store *store = NULL;
	struct srv_device *d = NULL;
	struct ward_msg m = {0};
	int rc = EX_FAIL;
	ward_err e;

	if (!cli_ident_ok(serial, SERIAL_MAX)) {
		cli_error("device %s: '%s' is not a device serial (1-%d of A-Z a-z 0-9 . _ -)", verb,
		          serial, SERIAL_MAX);
		return EX_USAGE;
	}
	if (!(conf = malloc(sizeof(*conf))) || !(d = malloc(sizeof(*d)))) {
		e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if ((e = cli_deploy_open(conf_path, conf, &store, &m)) != WARD_OK)
		goto out;
	e = srv_device_get(store, serial, d, &m);
	if (e == WARD_E_NOTFOUND) {
		ward_msg_set(&m, e,
		             "no device with serial '%s' in this deployment (`ward device list -c %s` "
		             "shows the enrolled devices)",
		             serial, conf_path);
		goto out;
	}
	if (e != WARD_OK)
		goto out;
	/* The store would accept this as a no-op; say so instead, and audit nothing. */
	if (d->status == st) {
		e = ward_msg_set(&m, WARD_E_INVAL, "device '%s' is already %s", serial,
		                 status_name(d->status));
		goto out;
	}
	/* the change and its audit record are one store transaction */
	if ((e = srv_device_set_status(store, serial, st, &m)) != WARD_OK)
		goto out;
	if ((e = cli_crl_publish(conf, store, &m)) != WARD_OK) {
		ward_msg_prefix(&m, e,
		                "device '%s' is %s and ward-server refuses it, but the CRL was not "
		                "rewritten (run `ward device crl -c %s` once fixed): ",
		                serial, status_name(st), conf_path);
		goto out;
	}
	printf("device %s %s; CRL %s rewritten\n", serial, status_name(st), conf->crl);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("device %s %s: %s", verb, serial, m.text[0] ? m.text : ward_err_name(e));
	srv_store_close(store);
	free(d);
	free(conf);
	return rc;
}

static int publish_crl(const char *conf_path)
{
	struct srv_conf *conf = malloc(sizeof(*conf));
	struct srv_store *store = NULL;
	struct ward_msg m = {0};
	int rc = EX_FAIL;
	ward_err e = WARD_E_NOMEM;

	if (!conf) {
		ward_msg_set(&m, e, "out of memory");
		goto out;
	}
	if ((e = cli_deploy_open(conf_path, conf, &store, &m)) != WARD_OK ||
	    (e = cli_crl_publish(conf, store, &m)) != WARD_OK)
		goto out;
	printf("CRL %s rewritten\n", conf->crl);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("device crl: %s", m.text[0] ? m.text : ward_err_name(e));
	srv_store_close(store);
	free(conf);
	return rc;
}

/* A time for listings: "YYYY-MM-DDTHH:MM:SSZ", or "-" / JSON null when never. */
static json_t *jtime(time_t t)
{
	char s[21];

	if (t == 0)
		return json_null();
	cli_utc(t, s);
	return json_string(s);
}

static int list_devices(const char *conf_path, bool json, const char *limit_s)
{
	struct srv_conf *conf = malloc(sizeof(*conf));
	struct srv_store *store = NULL;
	struct srv_device *devs = NULL;
	struct ward_msg m = {0};
	json_t *arr = NULL;
	uint64_t limit = LIST_DEFAULT;
	size_t n = 0;
	int rc = EX_FAIL;
	ward_err e = WARD_E_NOMEM;

	if (limit_s && (ward_parse_u64(limit_s, &limit) != WARD_OK || limit < 1 ||
	                limit > LIST_MAX)) {
		cli_error("device list: --limit '%s' is not a number from 1 to %d", limit_s,
		          LIST_MAX);
		free(conf);
		return EX_USAGE;
	}
	if (!conf) {
		ward_msg_set(&m, e, "out of memory");
		goto out;
	}
	if ((e = cli_deploy_open(conf_path, conf, &store, &m)) != WARD_OK ||
	    (e = srv_devices(store, &devs, &n, (size_t)limit, &m)) != WARD_OK)
		goto out;
	if (json) {
		char *text;
		if (!(arr = json_array())) {
			e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			const struct srv_device *d = &devs[i];
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "serial",
			                      d->serial, "model", d->model, "status",
			                      status_name(d->status), "batch", d->batch_id,
			                      "cert_serial", d->cert_serial, "cert_not_after",
			                      jtime(d->cert_not_after), "enrolled", jtime(d->enrolled),
			                      "last_seen", jtime(d->last_seen));
			if (!o || json_array_append_new(arr, o) != 0) {
				e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
				goto out;
			}
		}
		text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (!text) {
			e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
		printf("%s\n", text);
		free(text);
	} else {
		printf("%-24s %-16s %-14s %-20s %s\n", "SERIAL", "MODEL", "STATUS", "CERT EXPIRES",
		       "LAST SEEN");
		for (size_t i = 0; i < n; i++) {
			const struct srv_device *d = &devs[i];
			char exp[21] = "-", seen[21] = "-";
			if (d->cert_not_after)
				cli_utc(d->cert_not_after, exp);
			if (d->last_seen)
				cli_utc(d->last_seen, seen);
			printf("%-24s %-16s %-14s %-20s %s\n", d->serial, d->model,
			       status_name(d->status), exp, seen);
		}
	}
	if (n == limit)
		fprintf(stderr, "ward: device list: showing the first %zu devices; --limit N shows "
		                "more\n",
		        n);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("device list: %s", m.text[0] ? m.text : ward_err_name(e));
	json_decref(arr);
	free(devs);
	srv_store_close(store);
	free(conf);
	return rc;
}

int cli_device(int argc, char **argv)
{
	enum { O_JSON = 256, O_LIMIT };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, O_JSON},
	    {"limit", required_argument, NULL, O_LIMIT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cmd, *conf = NULL, *limit = NULL;
	bool json = false, is_list, is_crl;
	int c;

	if (argc < 2) {
		fputs(device_help, stderr);
		return EX_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(device_help, stdout);
		return EX_SUCCESS;
	}
	if (!strcmp(cmd, "assign")) /* cli/assign.c: the director's assignments */
		return cli_device_assign(argc - 1, argv + 1);
	is_list = !strcmp(cmd, "list");
	is_crl = !strcmp(cmd, "crl");
	if (!is_list && !is_crl && strcmp(cmd, "revoke") != 0 && strcmp(cmd, "decommission") != 0) {
		cli_error("device: unknown command '%s'; `ward device --help` lists them", cmd);
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
		case O_JSON:
			json = true;
			break;
		case O_LIMIT:
			limit = optarg;
			break;
		case 'h':
			fputs(device_help, stdout);
			return EX_SUCCESS;
		case ':':
			cli_error("device %s: %s needs a value", cmd, argv[optind - 1]);
			return EX_USAGE;
		default:
			cli_error("device %s: unknown option '%s'; `ward device --help` lists them", cmd,
			          argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (!conf) {
		cli_error("device %s: -c DIR/ward.conf is required", cmd);
		return EX_USAGE;
	}
	if ((json || limit) && !is_list) {
		cli_error("device %s: --json and --limit are options of `device list`", cmd);
		return EX_USAGE;
	}
	if (is_list || is_crl) {
		if (optind != argc) {
			cli_error("device %s: unexpected argument '%s'", cmd, argv[optind]);
			return EX_USAGE;
		}
		return is_list ? list_devices(conf, json, limit) : publish_crl(conf);
	}
	if (optind + 1 != argc) {
		cli_error("device %s: %s", cmd,
		          optind == argc ? "missing SERIAL" : "give exactly one SERIAL");
		return EX_USAGE;
	}
	return set_status(conf, argv[optind],
	                  !strcmp(cmd, "revoke") ? SRV_DEVICE_REVOKED : SRV_DEVICE_DECOMMISSIONED);
}
