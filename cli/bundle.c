/*
 * cli/bundle.c — `ward bundle`: offline update bundles.
 *
 *   ward bundle create REPO --target PATH -o OUT.ward [--root FILE]
 *   ward bundle info FILE.ward
 *
 * `create` does not guess which metadata a device needs: it runs libward's
 * TUF client over the repository directory, starting from the root the
 * device shipped with (default: the repository's 1.root.json), through a
 * fetcher that records every file it serves. The bundle holds exactly what
 * that verification read (every root version after the starting one,
 * timestamp, snapshot, targets, the delegated roles on the path to the
 * target) and the image, which is verified against its signed hashes before
 * it is packed. A repository that would not verify yields no bundle.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ward/bundle.h"
#include "ward/tuf.h"

#define REC_MAX WARD_BUNDLE_MAX_FILES

struct recorder {
	char meta_dir[PATH_MAX];    /* REPO/metadata */
	char targets_dir[PATH_MAX]; /* REPO/targets */
	char *names[REC_MAX];       /* metadata names as the client asked for them */
	char *paths[REC_MAX];       /* where they were read */
	size_t n;
	char image[PATH_MAX];       /* the target file served */
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode one URL path; refuses "%2F" or ".." that would leave the directory. */
static ward_err url_decode(const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (; *in; in++) {
		char c = *in;

		if (c == '%') {
			int hi = hexval(in[1]), lo = hi >= 0 ? hexval(in[2]) : -1;

			if (hi < 0 || lo < 0)
				return WARD_E_PARSE;
			c = (char)(hi << 4 | lo);
			in += 2;
			if (c == '/' || c == '\0')
				return WARD_E_PARSE;
		}
		if (o + 1 >= n)
			return WARD_E_TOOBIG;
		out[o++] = c;
	}
	out[o] = '\0';
	if (strstr(out, "..") || out[0] == '/')
		return WARD_E_PARSE;
	return WARD_OK;
}

static ward_err file_stream(const char *path, uint64_t max, ward_sink_fn sink, void *ctx,
			    struct ward_msg *m)
{
	uint8_t buf[65536];
	uint64_t total = 0;
	ward_err e = WARD_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? WARD_E_NOTFOUND
				       : ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
	while (!e) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		if ((uint64_t)r > max - total) {
			e = WARD_E_TOOBIG;
			break;
		}
		total += (uint64_t)r;
		e = sink(ctx, buf, (size_t)r);
	}
	close(fd);
	return e;
}

static ward_err rec_fetch(void *ctx, const char *url, uint64_t offset, uint64_t max, ward_sink_fn sink,
			  void *sink_ctx, struct ward_msg *m)
{
	struct recorder *r = ctx;
	char rel[PATH_MAX], path[PATH_MAX];
	ward_err e;

	if (offset)
		return WARD_E_UNSUPPORTED;
	if (!strncmp(url, "repo:/metadata/", 15)) {
		if (url_decode(url + 15, rel, sizeof(rel)) ||
		    ward_snprintf(path, sizeof(path), "%s/%s", r->meta_dir, rel))
			return ward_msg_set(m, WARD_E_PARSE, "%s: bad metadata name", url);
		e = file_stream(path, max, sink, sink_ctx, m);
		if (e)
			return e;
		if (r->n == REC_MAX)
			return ward_msg_set(m, WARD_E_TOOBIG, "more than %u metadata files", REC_MAX);
		r->names[r->n] = strdup(url + 15);
		r->paths[r->n] = strdup(path);
		if (!r->names[r->n] || !r->paths[r->n])
			return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		r->n++;
		return WARD_OK;
	}
	if (!strncmp(url, "repo:/targets/", 14)) {
		char seg[PATH_MAX];
		size_t o = 0;
		const char *p = url + 14;

		/* decode segment by segment, keeping the separators */
		while (*p) {
			const char *end = strchr(p, '/');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			char piece[PATH_MAX];

			if (len >= sizeof(piece))
				return WARD_E_TOOBIG;
			memcpy(piece, p, len);
			piece[len] = '\0';
			if (url_decode(piece, seg + o, sizeof(seg) - o))
				return ward_msg_set(m, WARD_E_PARSE, "%s: bad target name", url);
			o += strlen(seg + o);
			if (!end)
				break;
			if (o + 1 >= sizeof(seg))
				return WARD_E_TOOBIG;
			seg[o++] = '/';
			seg[o] = '\0';
			p = end + 1;
		}
		if (ward_snprintf(path, sizeof(path), "%s/%s", r->targets_dir, seg))
			return WARD_E_TOOBIG;
		e = file_stream(path, max, sink, sink_ctx, m);
		if (!e && ward_snprintf(r->image, sizeof(r->image), "%s", path))
			return WARD_E_TOOBIG;
		return e;
	}
	return ward_msg_set(m, WARD_E_NOTFOUND, "%s: unknown URL", url);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static ward_err discard(void *ctx, const void *d, size_t n)
{
	(void)ctx;
	(void)d;
	(void)n;
	return WARD_OK;
}

static void create_usage(FILE *out)
{
	fprintf(out, "usage: ward bundle create REPO --target PATH -o OUT.ward [--root ROOTFILE]\n"
		     "  REPO      a `ward repo` directory (REPO/repo/metadata) or a published\n"
		     "            repository (REPO/metadata and REPO/targets)\n"
		     "  --target  the TUF target path of the image to pack\n"
		     "  -o        the bundle to write (never overwritten)\n"
		     "  --root    the root the devices start from (default REPO's 1.root.json)\n");
}

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{"target", required_argument, NULL, 't'},
		{"output", required_argument, NULL, 'o'},
		{"root", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *target = NULL, *outp = NULL, *root = NULL, *repo;
	char base[PATH_MAX], rootbuf[PATH_MAX], tmpdir[] = "/tmp/ward-bundle.XXXXXX", cmd[PATH_MAX] = "";
	struct recorder *r = NULL;
	struct ward_bundle_file files[REC_MAX];
	struct ward_tuf_config cfg = {0};
	struct ward_fetcher f;
	struct ward_tuf_client *c = NULL;
	const struct ward_tuf_target *t;
	struct ward_msg m = {{0}};
	struct stat st;
	int ch, rc = 1;
	ward_err e;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 't': target = optarg; break;
		case 'o': outp = optarg; break;
		case 'r': root = optarg; break;
		case 'h': create_usage(stdout); return 0;
		default: create_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || !target || !outp) {
		create_usage(stderr);
		return 2;
	}
	repo = argv[optind];
	r = calloc(1, sizeof(*r));
	if (!r) {
		cli_error("out of memory");
		return 1;
	}
	if (ward_snprintf(base, sizeof(base), "%s/repo", repo) || stat(base, &st) != 0)
		if (ward_snprintf(base, sizeof(base), "%s", repo)) {
			cli_error("bundle create: path too long");
			goto out;
		}
	if (ward_snprintf(r->meta_dir, sizeof(r->meta_dir), "%s/metadata", base) ||
	    ward_snprintf(r->targets_dir, sizeof(r->targets_dir), "%s/targets", base) ||
	    ward_snprintf(rootbuf, sizeof(rootbuf), "%s/1.root.json", r->meta_dir)) {
		cli_error("bundle create: path too long");
		goto out;
	}
	if (!root)
		root = rootbuf;
	if (!mkdtemp(tmpdir)) {
		cli_error("bundle create: %s: %s", tmpdir, strerror(errno));
		goto out;
	}
	if (ward_snprintf(cmd, sizeof(cmd), "%s/md", tmpdir)) {
		cli_error("bundle create: path too long");
		goto out;
	}
	e = ward_tuf_init(cmd, root, &m);
	if (e)
		goto fail;
	cfg.metadata_dir = cmd;
	cfg.metadata_url = "repo:/metadata";
	cfg.target_base_url = "repo:/targets";
	f.fetch = rec_fetch;
	f.ctx = r;
	e = ward_tuf_open(&cfg, &f, &c, &m);
	if (!e)
		e = ward_tuf_refresh(c, &m);
	if (!e)
		e = ward_tuf_find_target(c, target, &t, &m);
	if (!e)
		e = ward_tuf_fetch_target(c, t, discard, NULL, &m);
	if (e)
		goto fail;
	for (size_t i = 0; i < r->n; i++) {
		files[i].name = r->names[i];
		files[i].path = r->paths[i];
	}
	e = ward_bundle_write(outp, target, files, r->n, r->image, &m);
	if (e)
		goto fail;
	printf("wrote %s: %s (%llu bytes) with %zu metadata files, verified\n", outp, target,
	       (unsigned long long)t->info.length, r->n);
	rc = 0;
	goto out;
fail:
	cli_error("bundle create: %s", m.text[0] ? m.text : ward_err_name(e));
out:
	ward_tuf_free(c);
	if (strcmp(tmpdir, "/tmp/ward-bundle.XXXXXX"))
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (r) {
		for (size_t i = 0; i < r->n; i++) {
			free(r->names[i]);
			free(r->paths[i]);
		}
		free(r);
	}
	return rc;
}

static int cmd_info(int argc, char **argv)
{
	struct ward_bundle *b = NULL;
	struct ward_msg m = {{0}};

	if (argc != 2) {
		fprintf(stderr, "usage: ward bundle info FILE.ward\n");
		return 2;
	}
	if (ward_bundle_open(argv[1], &b, &m)) {
		cli_error("bundle info: %s", m.text);
		return 1;
	}
	printf("target: %s\nimage: %llu bytes\n(unverified: a device verifies the bundle with its own trusted root)\n",
	       ward_bundle_target(b), (unsigned long long)ward_bundle_image_length(b));
	ward_bundle_free(b);
	return 0;
}

int cli_bundle(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "create"))
		return cmd_create(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "info"))
		return cmd_info(argc - 1, argv + 1);
	fprintf(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
		"usage: ward bundle create REPO --target PATH -o OUT.ward [--root ROOTFILE]\n"
		"       ward bundle info FILE.ward\n");
	return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
