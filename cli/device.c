/*
 * cli/device.c — `ward device`: the operator's side of the device registry.
 *
 *   revoke SERIAL        the device's key is suspect: refuse it, list its certificates on the CRL
 *   decommission SERIAL  the device is retired: the same, recorded as a retirement
 *   list                 serial, model, status, certificate expiry, last check-in
 *   show SERIAL          one device in detail (JSON: docs/api.md, GET /api/v1/devices/SERIAL)
 *   label SERIAL         tags and the critical flag
 *   crl                  re-sign and publish the CRL (for cron: it is valid for 30 days)
 *
 * list, show, label, revoke and decommission also run through ward-server's
 * operator API (`ward --server URL device ...`, cli/remote.h); list, show
 * and label print the same either way (one printer fed the documents of
 * server/views.h).
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

#include "campaign.h"
#include "cli.h"
#include "conf.h"
#include "remote.h"
#include "store.h"
#include "views.h"
#include "ward/buf.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define SERIAL_MAX 64            /* what ward-server accepts in a CSR */
#define LIST_DEFAULT 10000       /* devices `list` shows unless --limit says otherwise */
#define LIST_MAX 100000          /* at most (read a page of SRV_VIEW_DEVICES_MAX at a time) */

static const char device_help[] =
    "usage: ward device revoke SERIAL -c DIR/ward.conf\n"
    "       ward device decommission SERIAL -c DIR/ward.conf\n"
    "       ward device list -c DIR/ward.conf [--json] [--limit N] [--model M] [--tag T] [--status S]\n"
    "       ward device show SERIAL -c DIR/ward.conf\n"
    "       ward device label SERIAL -c DIR/ward.conf [--tag T ...] [--no-tags] [--critical | --not-critical]\n"
    "       ward device crl -c DIR/ward.conf\n"
    "       ward device assign SERIAL --image TARGETPATH -c DIR/ward.conf [--json]\n"
    "\n"
    "  revoke        refuse the device from now on and put its certificates on the CRL\n"
    "  decommission  retire the device: refused from now on, certificates on the CRL\n"
    "  list          serial, model, status, certificate expiry and last check-in\n"
    "  show          one device in detail, as JSON: facts, assignment, campaigns, history, audit\n"
    "  label         set the device's tags (replacing them) and/or its critical flag\n"
    "  crl           re-sign and publish the CRL (run it daily: a CRL is valid 30 days)\n"
    "  assign        the director names this image (signed in DIR/repo/) for the device\n"
    "\n"
    "  -c, --config FILE       the deployment's ward.conf\n"
    "  --json                  list: a JSON array of objects\n"
    "  --limit N               list: at most N devices (default 10000, at most 100000)\n"
    "  --model M, --tag T, --status S   list: only devices of model M, with tag T, in status S\n"
    "                          (active, revoked, decommissioned)\n"
    "  --tag T                 label: a tag ([a-z0-9._-], at most 16); the device's tags become these\n"
    "  --no-tags               label: remove every tag\n"
    "  --critical, --not-critical  label: updates wait for an operator's approval, or not\n"
    "\n"
    "Without -c, with `ward --server URL` (or after `ward login`), list, show, label, revoke\n"
    "and decommission go through ward-server's operator API (docs/ward-remote.md).\n";

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


/* Is serial one ward-server could have enrolled? Says why not (usage error) for `device cmd`. */
static bool serial_arg(const char *cmd, const char *serial)
{
	if (cli_ident_ok(serial, SERIAL_MAX))
		return true;
	cli_error("device %s: '%s' is not a device serial (1-%d of A-Z a-z 0-9 . _ -)", cmd, serial, SERIAL_MAX);
	return false;
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

	if (!serial_arg(verb, serial))
		return EX_USAGE;
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

/* A time for listings: "YYYY-MM-DDTHH:MM:SSZ" from an integer, JSON null when never (0 or null). */
static json_t *jtime(const json_t *t)
{
	char s[21];

	if (!json_is_integer(t) || json_integer_value(t) <= 0)
		return json_null();
	cli_utc((time_t)json_integer_value(t), s);
	return json_string(s);
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* The listing's rows (server/views.h) as `device list` prints them: a table, or (json) the rows
 * with their times as UTC text. */
static ward_err print_devices(const json_t *rows, bool json, struct ward_msg *m)
{
	size_t i;
	json_t *d;

	if (json) {
		json_t *arr = json_array();

		json_array_foreach(rows, i, d) {
			json_t *o = json_deep_copy(d), *u;

			if (!o || !arr)
				goto nomem;
			json_object_set_new(o, "cert_not_after", jtime(json_object_get(d, "cert_not_after")));
			json_object_set_new(o, "enrolled", jtime(json_object_get(d, "enrolled")));
			json_object_set_new(o, "last_seen", jtime(json_object_get(d, "last_seen")));
			if (json_is_object(u = json_object_get(o, "update")))
				json_object_set_new(u, "time", jtime(json_object_get(u, "time")));
			if (json_array_append_new(arr, o))
				goto nomem;
		}
		cli_print_json(arr);
		json_decref(arr);
		return WARD_OK;
	nomem:
		json_decref(arr);
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	printf("%-24s %-16s %-14s %-20s %s\n", "SERIAL", "MODEL", "STATUS", "CERT EXPIRES", "LAST SEEN");
	json_array_foreach(rows, i, d) {
		json_t *exp = jtime(json_object_get(d, "cert_not_after")), *seen = jtime(json_object_get(d, "last_seen"));

		printf("%-24s %-16s %-14s %-20s %s\n", jstr(d, "serial"), jstr(d, "model"), jstr(d, "status"),
		       json_is_string(exp) ? json_string_value(exp) : "-",
		       json_is_string(seen) ? json_string_value(seen) : "-");
		json_decref(exp);
		json_decref(seen);
	}
	return WARD_OK;
}

/* One page of the listing, from the deployment or the API. */
static ward_err devices_page(struct cli_src *src, const struct srv_fleet_filter *f, json_t **page,
			     struct ward_msg *m)
{
	char path[1024] = "/api/v1/devices", num[24];
	ward_err e = WARD_OK;

	if (!src->remote)
		return srv_view_devices(src->store, f, page, m);
	snprintf(num, sizeof(num), "%zu", f->limit);
	if ((f->model && (e = cli_remote_query(path, sizeof(path), "model", f->model))) ||
	    (f->tag && (e = cli_remote_query(path, sizeof(path), "tag", f->tag))) ||
	    (f->status && (e = cli_remote_query(path, sizeof(path), "status", f->status))) ||
	    (f->after && (e = cli_remote_query(path, sizeof(path), "after", f->after))) ||
	    (e = cli_remote_query(path, sizeof(path), "limit", num)))
		return ward_msg_set(m, e, "the filters are too long");
	return cli_remote_call(src->remote, "GET", path, NULL, page, m);
}

struct list_opts {
	bool json;                                 /* --json */
	const char *limit, *model, *tag, *status;  /* or NULL */
};

static int list_devices(const char *conf_path, const struct list_opts *o)
{
	struct cli_src src = {0};
	struct srv_fleet_filter f = {0};
	struct ward_msg m = {0};
	char after[130] = "";
	json_t *all = json_array(), *page = NULL;
	uint64_t limit = LIST_DEFAULT;
	int rc = EX_FAIL;
	ward_err e = WARD_E_NOMEM;

	if (o->limit && (ward_parse_u64(o->limit, &limit) != WARD_OK || limit < 1 || limit > LIST_MAX)) {
		cli_error("device list: --limit '%s' is not a number from 1 to %d", o->limit, LIST_MAX);
		json_decref(all);
		return EX_USAGE;
	}
	if (!all) {
		ward_msg_set(&m, e, "out of memory");
		goto out;
	}
	if ((e = cli_src_open("device list", conf_path, &src, &m)) != WARD_OK) {
		rc = cli_src_status(e);
		goto out;
	}
	f.model = o->model;
	f.tag = o->tag;
	f.status = o->status;
	/* page by page (by serial) until the limit or the end */
	for (;;) {
		json_t *devs, *next;
		size_t want = (size_t)limit - json_array_size(all);

		f.limit = want < SRV_VIEW_DEVICES_MAX ? want : SRV_VIEW_DEVICES_MAX;
		f.after = after[0] ? after : NULL;
		if ((e = devices_page(&src, &f, &page, &m)) != WARD_OK)
			goto out;
		devs = json_object_get(page, "devices");
		next = json_object_get(page, "next");
		if (!json_is_array(devs) || json_array_extend(all, devs)) {
			e = ward_msg_set(&m, WARD_E_PARSE, "the listing holds no devices array");
			goto out;
		}
		if (!json_is_string(next) || json_array_size(all) >= limit)
			break;
		if (ward_snprintf(after, sizeof(after), "%s", json_string_value(next)) != WARD_OK) {
			e = ward_msg_set(&m, WARD_E_PARSE, "the listing's next serial is too long");
			goto out;
		}
		json_decref(page);
		page = NULL;
	}
	if ((e = print_devices(all, o->json, &m)) != WARD_OK)
		goto out;
	if (json_array_size(all) == limit && json_is_string(json_object_get(page, "next")))
		fprintf(stderr, "ward: device list: showing the first %zu devices; --limit N shows more\n",
			json_array_size(all));
	rc = EX_SUCCESS;
out:
	if (rc == EX_FAIL)
		cli_error("device list: %s", m.text[0] ? m.text : ward_err_name(e));
	else if (rc == EX_USAGE)
		cli_error("%s", m.text);
	json_decref(page);
	json_decref(all);
	cli_src_close(&src);
	return rc;
}

static int show_device(const char *conf_path, const char *serial)
{
	struct cli_src src = {0};
	struct ward_msg m = {0};
	char path[160];
	json_t *o = NULL;
	int rc = EX_FAIL;
	ward_err e;

	if (!serial_arg("show", serial))
		return EX_USAGE;
	if ((e = cli_src_open("device show", conf_path, &src, &m)) != WARD_OK) {
		rc = cli_src_status(e);
		goto out;
	}
	snprintf(path, sizeof(path), "/api/v1/devices/%s", serial); /* fits: serial checked */
	e = src.remote ? cli_remote_call(src.remote, "GET", path, NULL, &o, &m) : srv_view_device(src.store, serial, &o, &m);
	if (e)
		goto out;
	cli_print_json(o);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("%s%s", rc == EX_USAGE ? "" : "device show: ", m.text[0] ? m.text : ward_err_name(e));
	json_decref(o);
	cli_src_close(&src);
	return rc;
}

/* What `device label` prints, from the device's row (server/views.h), local or remote. */
static void print_labels(const json_t *row)
{
	const json_t *tags = json_object_get(row, "tags"), *t;
	size_t i;

	printf("device %s: tags ", jstr(row, "serial"));
	if (!json_array_size(tags))
		printf("(none)");
	json_array_foreach(tags, i, t)
		printf("%s%s", i ? "," : "", json_string_value(t) ? json_string_value(t) : "?");
	printf("; critical %s\n", json_is_true(json_object_get(row, "critical")) ? "yes" : "no");
}

struct label_opts {
	const char *tags[SRV_TAGS_MAX]; /* --tag, in order */
	size_t ntags;
	bool set_tags;                  /* --tag or --no-tags given */
	int critical;                   /* -1 unchanged, 0 --not-critical, 1 --critical */
};

static int label_device(const char *conf_path, const char *serial, const struct label_opts *o)
{
	struct cli_src src = {0};
	struct ward_msg m = {0};
	struct srv_labels l;
	struct srv_fleet_row *row = NULL;
	char path[160];
	json_t *body = NULL, *out = NULL;
	int rc = EX_FAIL;
	ward_err e = WARD_E_NOMEM;

	if (!serial_arg("label", serial))
		return EX_USAGE;
	if (!o->set_tags && o->critical < 0) {
		cli_error("device label: give --tag T, --no-tags, --critical or --not-critical");
		return EX_USAGE;
	}
	memset(&l, 0, sizeof(l));
	for (size_t i = 0; i < o->ntags; i++) {
		if (srv_tag_check(o->tags[i], &m) != WARD_OK) {
			cli_error("device label: --tag %s: %s", o->tags[i], m.text);
			return EX_USAGE;
		}
		memcpy(l.tags[l.ntags++], o->tags[i], strlen(o->tags[i]) + 1);
	}
	l.critical = o->critical == 1;
	if ((e = cli_src_open("device label", conf_path, &src, &m)) != WARD_OK) {
		rc = cli_src_status(e);
		goto out;
	}
	if (src.remote) {
		json_t *tags = json_array();

		body = json_object();
		for (size_t i = 0; tags && i < o->ntags; i++)
			json_array_append_new(tags, json_string(o->tags[i]));
		if (!body || !tags || (o->set_tags && json_object_set(body, "tags", tags)) ||
		    (o->critical >= 0 && json_object_set_new(body, "critical", json_boolean(o->critical == 1)))) {
			json_decref(tags);
			e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
		json_decref(tags);
		snprintf(path, sizeof(path), "/api/v1/devices/%s/labels", serial); /* fits: serial checked */
		if ((e = cli_remote_call(src.remote, "POST", path, body, &out, &m)) != WARD_OK)
			goto out;
	} else {
		if (!(row = malloc(sizeof(*row)))) {
			e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
		if ((e = srv_labels_set(src.store, serial, &l, o->set_tags, o->critical >= 0, "cli", time(NULL), &m)) ||
		    (e = srv_fleet_get(src.store, serial, row, &m)))
			goto out;
		if (!(out = srv_view_device_row(row))) {
			e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
	}
	print_labels(out);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("%s%s", rc == EX_USAGE ? "" : "device label: ", m.text[0] ? m.text : ward_err_name(e));
	json_decref(body);
	json_decref(out);
	free(row);
	cli_src_close(&src);
	return rc;
}

/* `ward --server URL device revoke|decommission SERIAL`: the server changes the status (and
 * audits who asked); the CRL is published by `ward device crl` on the deployment. */
static int set_status_remote(const char *serial, enum srv_device_status st)
{
	const char *verb = st == SRV_DEVICE_REVOKED ? "revoke" : "decommission";
	struct cli_src src = {0};
	struct ward_msg m = {0};
	char path[160];
	json_t *out = NULL;
	int rc = EX_FAIL;
	ward_err e;

	if (!serial_arg(verb, serial))
		return EX_USAGE;
	if ((e = cli_src_open(verb, NULL, &src, &m)) != WARD_OK) {
		rc = cli_src_status(e);
		goto out;
	}
	snprintf(path, sizeof(path), "/api/v1/devices/%s/%s", serial, verb); /* fits: serial checked */
	if ((e = cli_remote_call(src.remote, "POST", path, NULL, &out, &m)) != WARD_OK)
		goto out;
	printf("device %s %s; ward-server refuses it from now on (the CRL is re-signed by `ward device crl`)\n",
	       serial, jstr(out, "status"));
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("device %s %s: %s", verb, serial, m.text[0] ? m.text : ward_err_name(e));
	json_decref(out);
	cli_src_close(&src);
	return rc;
}

int cli_device(int argc, char **argv)
{
	enum { O_JSON = 256, O_LIMIT, O_MODEL, O_TAG, O_STATUS, O_NOTAGS, O_CRIT, O_NOTCRIT };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, O_JSON},
	    {"limit", required_argument, NULL, O_LIMIT},
	    {"model", required_argument, NULL, O_MODEL},
	    {"tag", required_argument, NULL, O_TAG},
	    {"status", required_argument, NULL, O_STATUS},
	    {"no-tags", no_argument, NULL, O_NOTAGS},
	    {"critical", no_argument, NULL, O_CRIT},
	    {"not-critical", no_argument, NULL, O_NOTCRIT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct list_opts lo = {0};
	struct label_opts la = {.critical = -1};
	const char *cmd, *conf = NULL;
	bool is_list, is_crl, is_show, is_label, is_status, list_only = false, label_only = false;
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
	is_show = !strcmp(cmd, "show");
	is_label = !strcmp(cmd, "label");
	is_status = !strcmp(cmd, "revoke") || !strcmp(cmd, "decommission");
	if (!is_list && !is_crl && !is_show && !is_label && !is_status) {
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
			lo.json = list_only = true;
			break;
		case O_LIMIT:
			lo.limit = optarg;
			list_only = true;
			break;
		case O_MODEL:
			lo.model = optarg;
			list_only = true;
			break;
		case O_STATUS:
			lo.status = optarg;
			list_only = true;
			break;
		case O_TAG: /* list: a filter; label: one of the tags */
			if (is_list) {
				lo.tag = optarg;
			} else if (la.ntags >= SRV_TAGS_MAX) {
				cli_error("device %s: at most %d tags", cmd, SRV_TAGS_MAX);
				return EX_USAGE;
			} else {
				la.tags[la.ntags++] = optarg;
				la.set_tags = label_only = true;
			}
			break;
		case O_NOTAGS:
			la.set_tags = label_only = true;
			break;
		case O_CRIT:
		case O_NOTCRIT:
			if (la.critical >= 0) {
				cli_error("device %s: give --critical or --not-critical once", cmd);
				return EX_USAGE;
			}
			la.critical = c == O_CRIT;
			label_only = true;
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
	if (list_only && !is_list) {
		cli_error("device %s: --json, --limit, --model and --status are options of `device list`", cmd);
		return EX_USAGE;
	}
	if (label_only && !is_label) {
		cli_error("device %s: --no-tags, --critical and --not-critical are options of `device label`", cmd);
		return EX_USAGE;
	}
	if (is_list || is_crl) {
		if (optind != argc) {
			cli_error("device %s: unexpected argument '%s'", cmd, argv[optind]);
			return EX_USAGE;
		}
		if (is_crl && !conf) {
			cli_error("device %s: -c DIR/ward.conf is required", cmd);
			return EX_USAGE;
		}
		return is_list ? list_devices(conf, &lo) : publish_crl(conf);
	}
	if (optind + 1 != argc) {
		cli_error("device %s: %s", cmd,
		          optind == argc ? "missing SERIAL" : "give exactly one SERIAL");
		return EX_USAGE;
	}
	if (is_show)
		return show_device(conf, argv[optind]);
	if (is_label)
		return label_device(conf, argv[optind], &la);
	if (!conf) {
		if (!cli_remote_wanted()) {
			cli_error("device %s: -c DIR/ward.conf is required (or --server URL, or `ward login` first)", cmd);
			return EX_USAGE;
		}
		return set_status_remote(argv[optind], !strcmp(cmd, "revoke") ? SRV_DEVICE_REVOKED
									     : SRV_DEVICE_DECOMMISSIONED);
	}
	if (getenv("WARD_SERVER") && *getenv("WARD_SERVER")) {
		cli_error("device %s: give -c DIR/ward.conf or --server URL, not both", cmd);
		return EX_USAGE;
	}
	return set_status(conf, argv[optind],
	                  !strcmp(cmd, "revoke") ? SRV_DEVICE_REVOKED : SRV_DEVICE_DECOMMISSIONED);
}
