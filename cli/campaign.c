/*
 * cli/campaign.c — `ward campaign`: phased update campaigns (docs/campaigns.md).
 *
 *   ward campaign create --image NAME --select 'model=M tag=T' --phases 1%,10%,50%,100%
 *                        --max-failure 5% [--require-approval] [--name TEXT]
 *   ward campaign list | show ID [--devices] | start|pause|resume|cancel ID [--reason TEXT]
 *   ward campaign approve ID (--device SERIAL ... | --phase)
 *   ward campaign wait ID --state S[,S...] [--timeout SECONDS]
 *
 * Each command works on a deployment (-c DIR/ward.conf: the database
 * directly, as the local operator "cli:$USER") or through a ward-server's
 * operator API (--server URL or a saved `ward login`; cli/remote.h). Both
 * paths build the same request (the API's JSON body) and print the same
 * campaign document (server/campaign.c renders it for both), so what the
 * command shows does not depend on how it got there.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "campaign.h"
#include "cli.h"
#include "conf.h"
#include "remote.h"
#include "store.h"
#include "ward/buf.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define APPROVE_MAX 32 /* devices approved by one command */

static const char campaign_help[] =
    "usage: ward campaign COMMAND [-c DIR/ward.conf | --server URL] ...\n"
    "\n"
    "  create --image NAME --select 'model=M tag=T ...' --phases 1%,10%,50%,100%\n"
    "         --max-failure 5% [--require-approval] [--report-timeout 2h] [--name TEXT]\n"
    "                        a campaign offering image NAME (a target of the image\n"
    "                        repository) to the active devices the selector matches\n"
    "                        (--report-timeout: an offered device silent that long\n"
    "                        counts as failed; default: no limit)\n"
    "  list                  every campaign, newest first\n"
    "  show ID [--devices]   state, phases with counts by device state (and each device)\n"
    "  start ID              fix the devices and offer the image to phase 1\n"
    "  pause ID [--reason T] stop offering; offers not yet taken are withdrawn\n"
    "  resume ID             offer again\n"
    "  cancel ID [--reason T]\n"
    "  approve ID --device SERIAL [--device ...] | --phase\n"
    "                        let critical devices, or the next phase of a campaign\n"
    "                        created with --require-approval, go ahead\n"
    "  wait ID --state S[,S] [--timeout SECONDS]\n"
    "                        wait until the campaign is in one of the states\n"
    "                        (created, running, paused, cancelled, finished)\n"
    "\n"
    "Selector terms: model=M, tag=T, batch=B, serial=S or serial=PREFIX*, or all;\n"
    "the same key twice means either, different keys mean both.\n"
    "\n"
    "  -c, --config FILE     work on this deployment's database directly\n"
    "  --json                print the campaign (or list) as JSON\n"
    "Without -c the command goes to ward-server's API: `ward --server URL campaign ...`\n"
    "or a saved `ward login`.\n";

/* Who acts, for the audit log, when a command works on the database directly. */
static const char *local_actor(void)
{
	static char actor[96];

	if (!actor[0])
		cli_actor(actor, sizeof(actor));
	return actor;
}

/* GET the campaign (or the list when id is NULL). */
static ward_err fetch(struct cli_src *t, const char *id, bool devices, json_t **out, struct ward_msg *m)
{
	char path[128];

	if (!t->remote)
		return id ? srv_campaign_json(t->store, id, devices, out, m) : srv_campaign_list_json(t->store, out, m);
	if (id && strspn(id, "0123456789abcdef") != strlen(id))
		return ward_msg_set(m, WARD_E_NOTFOUND, "no campaign \"%.40s\"", id);
	if (ward_snprintf(path, sizeof(path), "/api/v1/campaigns%s%s%s", id ? "/" : "", id ? id : "",
			  id && !devices ? "?devices=0" : ""))
		return ward_msg_set(m, WARD_E_TOOBIG, "campaign id too long");
	return cli_remote_call(t->remote, "GET", path, NULL, out, m);
}

/* ---- printing (one function for both paths) ---- */

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static long long num(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void print_counts(const json_t *counts)
{
	const char *k;
	json_t *v;
	bool first = true;

	json_object_foreach((json_t *)counts, k, v) {
		printf("%s%s %lld", first ? "" : ", ", k, (long long)json_integer_value(v));
		first = false;
	}
	if (first)
		printf("-");
}

static void print_campaign(const json_t *c, bool devices)
{
	const json_t *phases = json_object_get(c, "phases"), *devs = json_object_get(c, "devices");
	long long cur = num(c, "phase");
	char when[21];

	printf("campaign %s \"%s\": %s, phase %lld of %zu\n", str(c, "id"), str(c, "name"), str(c, "state"), cur + 1,
	       json_array_size(phases));
	printf("  image %s (version %s), select \"%s\", max failure %.2f%%%s\n", str(c, "image"), str(c, "version"),
	       str(c, "select"), json_number_value(json_object_get(c, "max_failure")),
	       json_is_true(json_object_get(c, "require_approval")) ? ", each phase needs approval" : "");
	if (num(c, "report_timeout") > 0)
		printf("  an offered device silent for %llds counts as failed\n", num(c, "report_timeout"));
	cli_utc((time_t)num(c, "created"), when);
	printf("  created %s by %s\n", when, str(c, "created_by"));
	printf("  %s\n", str(c, "reason"));
	for (size_t i = 0; i < json_array_size(phases); i++) {
		const json_t *p = json_array_get(phases, i);

		printf("  phase %zu %4lld%% %6lld devices  ", i + 1, num(p, "percent"), num(p, "devices"));
		print_counts(json_object_get(p, "counts"));
		printf("%s\n", (long long)i == cur && !strcmp(str(c, "state"), "running") ? "   <- in progress" : "");
	}
	if (!devices || !json_is_array(devs))
		return;
	printf("  %-24s %-5s %-24s %s\n", "DEVICE", "PHASE", "STATE", "REASON");
	for (size_t i = 0; i < json_array_size(devs); i++) {
		const json_t *d = json_array_get(devs, i);

		printf("  %-24s %-5lld %-24s %s%s%s\n", str(d, "serial"), num(d, "phase") + 1, str(d, "state"),
		       json_is_true(json_object_get(d, "critical")) ? "[critical] " : "", str(d, "reason"),
		       json_is_string(json_object_get(d, "approved_by")) ? " (approved)" : "");
	}
}

static void print_list(const json_t *l)
{
	const json_t *arr = json_object_get(l, "campaigns");

	printf("%-16s %-9s %-6s %-9s %-24s %s\n", "ID", "STATE", "PHASE", "HEALTHY", "IMAGE", "NAME");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *c = json_array_get(arr, i), *phases = json_object_get(c, "phases");
		long long total = 0, healthy = 0;
		char phase[48], ok[48];

		for (size_t k = 0; k < json_array_size(phases); k++) {
			const json_t *p = json_array_get(phases, k);

			total += num(p, "devices");
			healthy += json_integer_value(json_object_get(json_object_get(p, "counts"), "healthy"));
		}
		snprintf(phase, sizeof(phase), "%lld/%zu", num(c, "phase") + 1, json_array_size(phases));
		snprintf(ok, sizeof(ok), "%lld/%lld", healthy, total);
		printf("%-16s %-9s %-6s %-9s %-24s %s\n", str(c, "id"), str(c, "state"), phase, ok, str(c, "image"),
		       str(c, "name"));
	}
}

static int emit(const json_t *o, bool json, bool list, bool devices)
{
	if (json) {
		char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

		if (!text) {
			cli_error("out of memory");
			return EX_FAIL;
		}
		printf("%s\n", text);
		free(text);
	} else if (list) {
		print_list(o);
	} else {
		print_campaign(o, devices);
	}
	return EX_SUCCESS;
}

/* ---- commands ---- */

static ward_err do_create(struct cli_src *t, json_t *body, json_t **out, struct ward_msg *m)
{
	struct srv_campaign_spec spec;
	char id[SRV_CAMPAIGN_ID + 1];
	ward_err e;

	if (t->remote)
		return cli_remote_call(t->remote, "POST", "/api/v1/campaigns", body, out, m);
	e = srv_campaign_spec_parse(body, &spec, m);
	if (!e)
		e = srv_campaign_create(t->store, t->conf, &spec, local_actor(), time(NULL), id, m);
	if (!e)
		e = srv_campaign_json(t->store, id, true, out, m);
	return e;
}

static ward_err do_act(struct cli_src *t, const char *id, const char *verb, const char *reason, json_t **out,
		       struct ward_msg *m)
{
	static const struct {
		const char *name;
		enum srv_campaign_action a;
	} acts[] = {{"start", SRV_CAMPAIGN_START},
		    {"pause", SRV_CAMPAIGN_PAUSE},
		    {"resume", SRV_CAMPAIGN_RESUME},
		    {"cancel", SRV_CAMPAIGN_CANCEL}};
	ward_err e = WARD_E_INVAL;

	if (t->remote) {
		char path[128];
		json_t *body = reason ? json_pack("{s:s}", "reason", reason) : NULL;

		if (strspn(id, "0123456789abcdef") != strlen(id) ||
		    ward_snprintf(path, sizeof(path), "/api/v1/campaigns/%s/%s", id, verb)) {
			json_decref(body);
			return ward_msg_set(m, WARD_E_NOTFOUND, "no campaign \"%.40s\"", id);
		}
		e = cli_remote_call(t->remote, "POST", path, body, out, m);
		json_decref(body);
		return e;
	}
	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		if (!strcmp(verb, acts[i].name))
			e = srv_campaign_act(t->store, id, acts[i].a, local_actor(), reason, time(NULL), m);
	if (!e)
		e = srv_campaign_json(t->store, id, true, out, m);
	return e;
}

static ward_err do_approve(struct cli_src *t, const char *id, const char *const *serials, size_t n, bool phase,
			   json_t **out, struct ward_msg *m)
{
	ward_err e;

	if (t->remote) {
		char path[128];
		json_t *body = json_object(), *arr = json_array();

		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, json_string(serials[i]));
		if (body && n)
			json_object_set(body, "devices", arr);
		if (body && phase)
			json_object_set_new(body, "phase", json_true());
		json_decref(arr);
		if (strspn(id, "0123456789abcdef") != strlen(id) ||
		    ward_snprintf(path, sizeof(path), "/api/v1/campaigns/%s/approve", id)) {
			json_decref(body);
			return ward_msg_set(m, WARD_E_NOTFOUND, "no campaign \"%.40s\"", id);
		}
		e = cli_remote_call(t->remote, "POST", path, body, out, m);
		json_decref(body);
		return e;
	}
	e = srv_campaign_approve(t->store, id, serials, n, phase, local_actor(), time(NULL), m);
	if (!e)
		e = srv_campaign_json(t->store, id, true, out, m);
	return e;
}

/* Is state one of the comma-separated states? */
static bool state_in(const char *state, const char *states)
{
	size_t n = strlen(state);

	for (const char *p = states; p && *p;) {
		size_t k = strcspn(p, ",");

		if (k == n && !strncmp(p, state, n))
			return true;
		p += k;
		if (*p == ',')
			p++;
	}
	return false;
}

int cli_campaign(int argc, char **argv)
{
	enum { O_IMAGE = 256, O_SELECT, O_PHASES, O_MAXF, O_REQ, O_NAME, O_JSON, O_REASON, O_DEVICE, O_PHASE,
	       O_DEVICES, O_STATE, O_TIMEOUT, O_RTIMEOUT, O_HELP };
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"image", required_argument, NULL, O_IMAGE},
		{"select", required_argument, NULL, O_SELECT},
		{"phases", required_argument, NULL, O_PHASES},
		{"max-failure", required_argument, NULL, O_MAXF},
		{"require-approval", no_argument, NULL, O_REQ},
		{"name", required_argument, NULL, O_NAME},
		{"json", no_argument, NULL, O_JSON},
		{"reason", required_argument, NULL, O_REASON},
		{"device", required_argument, NULL, O_DEVICE},
		{"phase", no_argument, NULL, O_PHASE},
		{"devices", no_argument, NULL, O_DEVICES},
		{"state", required_argument, NULL, O_STATE},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"report-timeout", required_argument, NULL, O_RTIMEOUT},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *image = NULL, *select = NULL, *phases = NULL, *maxf = NULL, *name = NULL;
	const char *reason = NULL, *states = NULL, *serials[APPROVE_MAX];
	bool json = false, req = false, phase = false, devices = false;
	long long timeout = 300, rtimeout = 0;
	size_t nserials = 0;
	struct ward_msg m = {{0}};
	struct cli_src t = {0};
	json_t *out = NULL, *body = NULL;
	const char *cmd, *id = NULL;
	int c, rc = EX_FAIL;
	ward_err e;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(campaign_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : EX_SUCCESS;
	}
	cmd = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case O_IMAGE: image = optarg; break;
		case O_SELECT: select = optarg; break;
		case O_PHASES: phases = optarg; break;
		case O_MAXF: maxf = optarg; break;
		case O_REQ: req = true; break;
		case O_NAME: name = optarg; break;
		case O_JSON: json = true; break;
		case O_REASON: reason = optarg; break;
		case O_PHASE: phase = true; break;
		case O_DEVICES: devices = true; break;
		case O_STATE: states = optarg; break;
		case O_DEVICE:
			if (nserials == APPROVE_MAX) {
				cli_error("at most %d --device per command", APPROVE_MAX);
				return EX_USAGE;
			}
			serials[nserials++] = optarg;
			break;
		case O_RTIMEOUT:
			if (cli_parse_duration(optarg, &rtimeout) != WARD_OK) {
				cli_error("--report-timeout: a duration such as 30m or 2h");
				return EX_USAGE;
			}
			break;
		case O_TIMEOUT:
			if (cli_parse_duration(optarg, &timeout) != WARD_OK) {
				cli_error("--timeout: a duration such as 90s or 5m");
				return EX_USAGE;
			}
			break;
		case O_HELP: fputs(campaign_help, stdout); return EX_SUCCESS;
		default: fputs(campaign_help, stderr); return EX_USAGE;
		}
	}
	if (strcmp(cmd, "create") && strcmp(cmd, "list")) {
		if (optind != argc - 1) {
			cli_error("ward campaign %s: give one campaign ID", cmd);
			return EX_USAGE;
		}
		id = argv[optind];
	} else if (optind != argc) {
		cli_error("ward campaign %s: unexpected argument \"%s\"", cmd, argv[optind]);
		return EX_USAGE;
	}
	if (!strcmp(cmd, "create")) {
		unsigned mf;
		json_t *ph;

		if (!image || !select || !phases || !maxf) {
			cli_error("ward campaign create needs --image, --select, --phases and --max-failure");
			return EX_USAGE;
		}
		if ((ph = srv_campaign_phases_parse(phases, &m)) == NULL ||
		    srv_campaign_percent_parse(maxf, &mf, &m) != WARD_OK) {
			json_decref(ph);
			cli_error("%s", m.text);
			return EX_USAGE;
		}
		body = json_pack("{s:s,s:s,s:o,s:f,s:b}", "image", image, "select", select, "phases", ph,
				 "max_failure", mf / 100.0, "require_approval", req);
		if (body && name)
			json_object_set_new(body, "name", json_string(name));
		if (body && rtimeout)
			json_object_set_new(body, "report_timeout", json_integer(rtimeout));
		if (!body) {
			cli_error("out of memory");
			return EX_FAIL;
		}
	} else if (!strcmp(cmd, "approve") && !nserials && !phase) {
		cli_error("ward campaign approve: give --device SERIAL (repeatable) or --phase");
		return EX_USAGE;
	} else if (!strcmp(cmd, "wait") && !states) {
		cli_error("ward campaign wait: give --state (e.g. finished,paused)");
		return EX_USAGE;
	} else if (strcmp(cmd, "list") && strcmp(cmd, "show") && strcmp(cmd, "start") && strcmp(cmd, "pause") &&
		   strcmp(cmd, "resume") && strcmp(cmd, "cancel") && strcmp(cmd, "approve") && strcmp(cmd, "wait")) {
		cli_error("ward campaign: unknown command \"%s\" (see ward campaign --help)", cmd);
		return EX_USAGE;
	}
	e = cli_src_open("campaign", conf, &t, &m);
	if (e)
		goto fail;
	if (!strcmp(cmd, "create")) {
		e = do_create(&t, body, &out, &m);
	} else if (!strcmp(cmd, "list")) {
		e = fetch(&t, NULL, false, &out, &m);
	} else if (!strcmp(cmd, "show")) {
		e = fetch(&t, id, devices || json, &out, &m);
	} else if (!strcmp(cmd, "approve")) {
		e = do_approve(&t, id, serials, nserials, phase, &out, &m);
	} else if (!strcmp(cmd, "wait")) {
		time_t end = time(NULL) + (time_t)timeout;

		for (;;) {
			json_decref(out);
			out = NULL;
			e = fetch(&t, id, false, &out, &m);
			if (e || state_in(str(out, "state"), states))
				break;
			if (time(NULL) >= end) {
				print_campaign(out, false);
				e = ward_msg_set(&m, WARD_E_EXPIRED, "campaign %s is still %s after %llds", id,
						 str(out, "state"), timeout);
				break;
			}
			usleep(250 * 1000);
		}
	} else {
		e = do_act(&t, id, cmd, reason, &out, &m);
	}
	if (e)
		goto fail;
	rc = emit(out, json, !strcmp(cmd, "list"), devices);
	goto done;
fail:
	cli_error("%s", m.text);
	rc = EX_FAIL;
done:
	json_decref(out);
	json_decref(body);
	cli_src_close(&t);
	return rc;
}
