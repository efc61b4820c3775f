/*
 * cli/tuf.c — `ward tuf`: the TUF client, speaking the tuf-conformance
 * suite's client CLI (CLIENT-CLI.md) exactly:
 *   ward tuf --metadata-dir D init ROOT
 *   ward tuf --metadata-url U --metadata-dir D refresh
 *   ward tuf --metadata-url U --metadata-dir D --target-name T [--target-name T2 ...]
 *            --target-base-url B --target-dir X download
 * Exit 0 on success, 1 on any failure with one line on stderr, 2 on usage errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ward/net.h"
#include "ward/tuf.h"

#define MAX_TARGET_NAMES 64

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ward tuf --metadata-dir DIR init ROOTFILE\n"
		"       ward tuf --metadata-dir DIR --metadata-url URL refresh\n"
		"       ward tuf --metadata-dir DIR --metadata-url URL --target-name PATH [--target-name PATH ...]\n"
		"                --target-base-url URL --target-dir DIR download\n"
		"\n"
		"  --metadata-dir DIR       trusted metadata (root.json, timestamp.json, ...)\n"
		"  --metadata-url URL       where the repository's metadata/ is served\n"
		"  --target-name PATH       target path to download (repeatable)\n"
		"  --target-base-url URL    where the repository's targets/ is served\n"
		"  --target-dir DIR         where verified targets are stored (URL-encoded names)\n"
		"  --low-speed-time SECONDS abort transfers slower than 1 KiB/s for this long\n"
		"                           (default 10; also WARD_LOW_SPEED_TIME)\n");
}

int cli_tuf(int argc, char **argv)
{
	static const struct option opts[] = {
		{"metadata-dir", required_argument, NULL, 'd'},
		{"metadata-url", required_argument, NULL, 'u'},
		{"target-name", required_argument, NULL, 'n'},
		{"target-base-url", required_argument, NULL, 'b'},
		{"target-dir", required_argument, NULL, 't'},
		{"low-speed-time", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *names[MAX_TARGET_NAMES];
	size_t nnames = 0;
	struct ward_tuf_config cfg = {0};
	struct ward_net_opts nopts = {0};
	const char *target_dir = NULL, *cmd, *lst = getenv("WARD_LOW_SPEED_TIME");
	struct ward_net *net = NULL;
	struct ward_tuf_client *c = NULL;
	struct ward_fetcher f;
	struct ward_msg m = {{0}};
	int ch, rc = 1;
	ward_err e;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': cfg.metadata_dir = optarg; break;
		case 'u': cfg.metadata_url = optarg; break;
		case 'b': cfg.target_base_url = optarg; break;
		case 't': target_dir = optarg; break;
		case 'l': lst = optarg; break;
		case 'n':
			if (nnames == MAX_TARGET_NAMES) {
				cli_error("at most %d --target-name options", MAX_TARGET_NAMES);
				return 2;
			}
			names[nnames++] = optarg;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 && !(optind == argc - 2 && !strcmp(argv[optind], "init"))) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (!cfg.metadata_dir) {
		cli_error("--metadata-dir is required");
		return 2;
	}
	if (!strcmp(cmd, "init")) {
		if (optind != argc - 2) {
			usage(stderr);
			return 2;
		}
		e = ward_tuf_init(cfg.metadata_dir, argv[optind + 1], &m);
		if (e) {
			cli_error("init: %s", m.text);
			return 1;
		}
		return 0;
	}
	if (strcmp(cmd, "refresh") && strcmp(cmd, "download")) {
		cli_error("unknown tuf command '%s' (init, refresh, download)", cmd);
		return 2;
	}
	if (!cfg.metadata_url) {
		cli_error("--metadata-url is required for %s", cmd);
		return 2;
	}
	if (!strcmp(cmd, "download") && (!nnames || !cfg.target_base_url || !target_dir)) {
		cli_error("download needs --target-name, --target-base-url and --target-dir");
		return 2;
	}
	if (lst) {
		uint64_t v;

		if (ward_parse_u64(lst, &v) || v == 0 || v > 3600) {
			cli_error("low-speed time '%s' must be 1..3600 seconds", lst);
			return 2;
		}
		nopts.low_speed_window_s = (long)v;
	}
	e = ward_net_new(&nopts, &net, &m);
	if (e)
		goto out;
	ward_net_fetcher(net, &f);
	e = ward_tuf_open(&cfg, &f, &c, &m);
	if (!e)
		e = ward_tuf_refresh(c, &m);
	for (size_t i = 0; !e && i < nnames; i++) {
		const struct ward_tuf_target *t;

		e = ward_tuf_find_target(c, names[i], &t, &m);
		if (!e)
			e = ward_tuf_download_target(c, t, target_dir, NULL, &m);
	}
	if (!e)
		rc = 0;
out:
	if (e)
		cli_error("%s: %s", cmd, m.text[0] ? m.text : ward_err_name(e));
	ward_tuf_free(c);
	ward_net_free(net);
	return rc;
}
