/*
 * cli/assign.c — `ward device assign SERIAL --image TARGETPATH -c CONF`: the
 * operator tells the director which image one device should install.
 *
 * The image must be listed by the image repository in DIR/repo/, verified
 * with the TUF client against the deployment's trusted copy of its metadata
 * (server/director.c); its signed entry (length, hashes, custom) is copied
 * into device_assignments, which bumps the device's director version, and
 * an "assign" audit record follows. When the device has reported a hardware
 * id at check-in, an image for other hardware is refused here already (the
 * device refuses it anyway). No file is written: ward-server renders the
 * device's director metadata from the registry on its next request.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "director.h"
#include "store.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

static const char assign_help[] =
    "usage: ward device assign SERIAL --image TARGETPATH -c DIR/ward.conf [--json]\n"
    "\n"
    "Have the director name TARGETPATH, an image the release key signed in the image\n"
    "repository DIR/repo/, as what device SERIAL installs next (docs/ward-server.md).\n"
    "\n"
    "  --image TARGETPATH      the image's target path in the image repository\n"
    "  -c, --config FILE       the deployment's ward.conf\n"
    "  --json                  print the assignment as a JSON object\n";

/* The hardware id the device reported at its last check-in, or "" when none. */
static void reported_hw(const struct srv_device *dev, char *out, size_t n)
{
	json_t *f = dev->facts[0] ? json_loads(dev->facts, 0, NULL) : NULL;
	json_t *hw = json_object_get(f, "hardware_id");

	out[0] = '\0';
	if (json_is_string(hw))
		snprintf(out, n, "%s", json_string_value(hw));
	json_decref(f);
}

static ward_err assign_run(const char *conf_path, const char *serial, const char *target, bool json,
			   struct ward_msg *m)
{
	struct srv_conf *conf = calloc(1, sizeof(*conf));
	struct srv_device *dev = calloc(1, sizeof(*dev));
	struct srv_store *st = NULL;
	char *entry = NULL, hw[128], version[64], devhw[128], actor[96];
	int64_t dversion = 0;
	json_t *d = NULL;
	ward_err e;

	if (!conf || !dev) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if ((e = cli_deploy_open(conf_path, conf, &st, m)) != WARD_OK ||
	    (e = srv_device_get(st, serial, dev, m)) != WARD_OK)
		goto out;
	if (dev->status != SRV_DEVICE_ACTIVE) {
		e = ward_msg_set(m, WARD_E_DENIED, "device %s is not active: it gets no updates", serial);
		goto out;
	}
	if ((e = srv_director_image_entry(conf, target, &entry, hw, version, m)) != WARD_OK)
		goto out;
	reported_hw(dev, devhw, sizeof(devhw));
	if (devhw[0] && strcmp(devhw, hw)) {
		e = ward_msg_set(m, WARD_E_DENIED, "image \"%s\" is for hardware \"%s\"; device %s reports \"%s\"",
				 target, hw, serial, devhw);
		goto out;
	}
	cli_actor(actor, sizeof(actor));
	d = json_pack("{s:s,s:s,s:s,s:s}", "target", target, "version", version, "hardware_id", hw, "by", actor);
	if (!d) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	/* the assignment and its "assign" audit record commit together */
	if ((e = srv_assignment_set(st, serial, target, entry, d, time(NULL), &dversion, m)) != WARD_OK)
		goto out;
	json_object_del(d, "by");
	json_object_set_new(d, "director_version", json_integer(dversion));
	if (json) {
		char *text;

		json_object_set_new(d, "serial", json_string(serial));
		text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		if (!text) {
			e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
		printf("%s\n", text);
		free(text);
	} else
		printf("device %s: install %s (version %s, hardware %s); director version %lld\n", serial,
		       target, version, hw, (long long)dversion);
out:
	json_decref(d);
	free(entry);
	srv_store_close(st);
	free(dev);
	free(conf);
	return e;
}

int cli_device_assign(int argc, char **argv)
{
	enum { O_IMAGE = 256, O_JSON };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"image", required_argument, NULL, O_IMAGE},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *image = NULL;
	struct ward_msg m = {0};
	bool json = false;
	ward_err e;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case O_IMAGE:
			image = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case 'h':
			fputs(assign_help, stdout);
			return EX_SUCCESS;
		case ':':
			cli_error("device assign: %s needs a value", argv[optind - 1]);
			return EX_USAGE;
		default:
			cli_error("device assign: unknown option '%s'; `ward device assign --help` lists them",
				  argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (optind + 1 != argc || !conf || !image) {
		cli_error("device assign: SERIAL, --image and -c are required; `ward device assign --help`");
		return EX_USAGE;
	}
	if (!cli_ident_ok(argv[optind], 64)) {
		cli_error("device assign: '%s' is not a device serial", argv[optind]);
		return EX_USAGE;
	}
	if (strlen(image) > 255 || strchr(image, '"') || strchr(image, '\\')) {
		cli_error("device assign: --image: not a plausible target path");
		return EX_USAGE;
	}
	e = assign_run(conf, argv[optind], image, json, &m);
	if (e) {
		cli_error("device assign %s: %s", argv[optind], m.text[0] ? m.text : ward_err_name(e));
		return EX_FAIL;
	}
	return EX_SUCCESS;
}
