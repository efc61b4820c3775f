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
#include "remote.h"
#include "conf.h"
#include "director.h"
#include "store.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

static const char assign_help[] =
    "usage: ward device assign SERIAL --image TARGETPATH [-c DIR/ward.conf | --server URL] [--json]\n"
    "\n"
    "Have the director name TARGETPATH, an image the release key signed in the image\n"
    "repository DIR/repo/, as what device SERIAL installs next (docs/ward-server.md).\n"
    "\n"
    "  --image TARGETPATH      the image's target path in the image repository\n"
    "  -c, --config FILE       the deployment's ward.conf (without it: ward-server's API,\n"
    "                          `ward --server URL` or a saved `ward login`)\n"
    "  --json                  print the assignment as a JSON object\n";

static ward_err assign_run(const char *conf_path, const char *serial, const char *target, bool json,
			   struct ward_msg *m)
{
	struct cli_src src = {0};
	json_t *d = NULL;
	ward_err e;

	if ((e = cli_src_open("device assign", conf_path, &src, m)) != WARD_OK)
		return e;
	if (src.remote) {
		char path[256];
		json_t *body = json_pack("{s:s}", "image", target);

		if (!body || ward_snprintf(path, sizeof(path), "/api/v1/devices/%s/assign", serial))
			e = ward_msg_set(m, WARD_E_INVAL, "device serial too long");
		else
			e = cli_remote_call(src.remote, "POST", path, body, &d, m);
		json_decref(body);
	} else {
		char actor[96];

		cli_actor(actor, sizeof(actor));
		e = srv_director_assign(src.store, src.conf, serial, target, actor, &d, m);
	}
	if (e)
		goto out;
	if (json) {
		char *text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);

		if (!text) {
			e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
		printf("%s\n", text);
		free(text);
	} else {
		printf("device %s: install %s (version %s, hardware %s); director version %lld\n", serial, target,
		       json_string_value(json_object_get(d, "version")),
		       json_string_value(json_object_get(d, "hardware_id")),
		       (long long)json_integer_value(json_object_get(d, "director_version")));
	}
out:
	json_decref(d);
	cli_src_close(&src);
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
	if (optind + 1 != argc || !image) {
		cli_error("device assign: SERIAL and --image are required; `ward device assign --help`");
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
