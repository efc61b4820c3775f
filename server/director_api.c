/*
 * server/director_api.c — what a device fetches for an update, so that it
 * needs only one server:
 *
 *   GET /api/v1/device/director/{root.json, N.root.json, timestamp.json,
 *       snapshot.json, targets.json}   the device's own director repository
 *       (mutual TLS, srv_device_auth: a device sees only its own), rendered
 *       per request (server/director.c)
 *   GET /repo/metadata/<file>, /repo/targets/<path>   the image repository's
 *       static files from DIR/repo/, read-only, no authentication (TUF makes
 *       the transport untrusted; a CDN may serve the same files instead)
 *
 * Static paths are percent-decoded once and then refused when any component
 * is empty, "." or "..", starts with a dot, or holds a backslash or NUL, so
 * nothing outside DIR/repo/metadata and DIR/repo/targets can be named; only
 * regular files are served. "Range: bytes=N-" is answered with 206 so an
 * interrupted image download can resume.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "director.h"
#include "srv.h"

#define DIRECTOR_PREFIX "/api/v1/device/director/"
#define REPO_PREFIX "/repo/"
#define ROOT_MAX (512u * 1024)

/* Serve the pinned director root for "root.json" and "<its version>.root.json". */
static void director_root(struct evhttp_request *req, struct srv *s, const char *file)
{
	char path[PATH_MAX], want[32];
	struct ward_buf b;
	struct ward_msg m = {{0}};
	json_t *doc = NULL;
	json_int_t v = 0;

	if (ward_snprintf(path, sizeof(path), "%s/%s", s->conf.dir, SRV_DIRECTOR_ROOT) ||
	    ward_file_read(path, ROOT_MAX, &b, &m)) {
		srv_error(req, 404, "Not Found", "this deployment has no director (ward init creates %s)",
			  SRV_DIRECTOR_ROOT);
		return;
	}
	doc = json_loadb((const char *)b.p, b.len, 0, NULL);
	v = json_integer_value(json_object_get(json_object_get(doc, "signed"), "version"));
	json_decref(doc);
	snprintf(want, sizeof(want), "%" PRId64 ".root.json", (int64_t)v);
	if (strcmp(file, "root.json") && strcmp(file, want))
		srv_error(req, 404, "Not Found", "no such director root version");
	else
		srv_reply(req, 200, "OK", "application/json", b.p, b.len);
	ward_buf_free(&b);
}

void srv_director_get(struct evhttp_request *req, struct srv *s, const char *path)
{
	static const struct {
		const char *file;
		enum srv_director_role role;
	} files[] = {
		{"timestamp.json", SRV_DIRECTOR_TIMESTAMP},
		{"snapshot.json", SRV_DIRECTOR_SNAPSHOT},
		{"targets.json", SRV_DIRECTOR_TARGETS},
	};
	const char *file = path + strlen(DIRECTOR_PREFIX);
	struct srv_peer p;
	struct srv_device dev;
	struct srv_assignment *a = NULL;
	struct ward_msg m = {{0}};
	struct ward_buf out;
	size_t i, n = sizeof(files) / sizeof(files[0]);
	ward_err e;

	/* timestamp.json (what every update asks first) renders from the assignment alone:
	 * the certificate check suffices; snapshot and targets also need the enrolment time */
	if (!srv_device_auth(req, s, &p, &dev, strcmp(file, "timestamp.json") != 0))
		goto done;
	if (strlen(file) > 10 && !strcmp(file + strlen(file) - 10, ".root.json")) {
		director_root(req, s, file);
		goto done;
	}
	if (!strcmp(file, "root.json")) {
		director_root(req, s, file);
		goto done;
	}
	for (i = 0; i < n && strcmp(file, files[i].file); i++)
		;
	if (i == n) {
		srv_error(req, 404, "Not Found", "no such director metadata");
		goto done;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		srv_error(req, 503, "Service Unavailable", "out of memory; retry");
		goto done;
	}
	e = srv_assignment_get(s->store, dev.serial, a, &m);
	if (e == WARD_E_NOTFOUND) {
		free(a);
		a = NULL;
	} else if (e) {
		srv_error(req, 503, "Service Unavailable", "registry unavailable; retry");
		goto done;
	}
	if (!s->director_key) {
		srv_error(req, 503, "Service Unavailable", "the director's key is not available on this server");
		goto done;
	}
	e = srv_director_render(s->director_key, &dev, a, files[i].role, time(NULL), &out, &m);
	if (e) {
		fprintf(stderr, "ward-server: director metadata for %s: %s\n", dev.serial, m.text);
		srv_error(req, 500, "Internal Server Error", "cannot sign director metadata");
		goto done;
	}
	srv_reply(req, 200, "OK", "application/json", out.p, out.len);
	ward_buf_free(&out);
done:
	free(a);
	srv_peer_free(&p);
}

/* Decode and check a relative static path; false when it could leave its directory. */
static bool safe_path(const char *raw, char *out, size_t n)
{
	size_t len = 0;
	char *dec = evhttp_uridecode(raw, 0, &len);
	bool ok = dec && len > 0 && len < n && strlen(dec) == len;

	if (ok) {
		const char *c = dec;

		while (ok && *c) {
			const char *slash = strchr(c, '/');
			size_t cl = slash ? (size_t)(slash - c) : strlen(c);

			if (cl == 0 || c[0] == '.' || memchr(c, '\\', cl))
				ok = false;
			c += cl + (slash ? 1 : 0);
			if (slash && !*c)
				ok = false; /* trailing slash */
		}
	}
	if (ok)
		memcpy(out, dec, len + 1);
	free(dec);
	return ok;
}

void srv_repo_get(struct evhttp_request *req, struct srv *s, const char *path)
{
	const char *rel = path + strlen(REPO_PREFIX);
	char clean[PATH_MAX], full[PATH_MAX], range[96];
	struct evkeyvalq *out_h = evhttp_request_get_output_headers(req);
	const char *rh = evhttp_find_header(evhttp_request_get_input_headers(req), "Range");
	struct evbuffer *b = NULL;
	struct stat st;
	uint64_t from = 0;
	int fd = -1;

	if ((strncmp(rel, "metadata/", 9) && strncmp(rel, "targets/", 8)) ||
	    !safe_path(rel, clean, sizeof(clean) - 256)) {
		srv_error(req, 404, "Not Found", "no such file in the image repository");
		return;
	}
	if (ward_snprintf(full, sizeof(full), "%s/%s/%s", s->conf.dir, SRV_DIRECTOR_REPO, clean) ||
	    (fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0 || fstat(fd, &st) != 0 ||
	    !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		srv_error(req, 404, "Not Found", "no such file in the image repository");
		return;
	}
	if (rh) {
		uint64_t v;
		char num[32];
		size_t dl;

		/* only "bytes=N-": what a resuming download sends */
		if (strncmp(rh, "bytes=", 6) || !(dl = strspn(rh + 6, "0123456789")) || dl >= sizeof(num) ||
		    strcmp(rh + 6 + dl, "-")) {
			close(fd);
			srv_error(req, 416, "Range Not Satisfiable", "only \"Range: bytes=N-\" is supported");
			return;
		}
		memcpy(num, rh + 6, dl);
		num[dl] = '\0';
		if (ward_parse_u64(num, &v) || v >= (uint64_t)st.st_size) {
			close(fd);
			snprintf(range, sizeof(range), "bytes */%lld", (long long)st.st_size);
			evhttp_add_header(out_h, "Content-Range", range);
			srv_error(req, 416, "Range Not Satisfiable", "the file is shorter than the range");
			return;
		}
		from = v;
	}
	b = evbuffer_new();
	if (!b || evbuffer_add_file(b, fd, (ev_off_t)from, (ev_off_t)((uint64_t)st.st_size - from)) != 0) {
		/* a segment that was never made leaves fd open */
		if (b)
			evbuffer_free(b);
		close(fd);
		srv_error(req, 503, "Service Unavailable", "cannot read the file; retry");
		return;
	}
	/* evbuffer_add_file owns fd now */
	evhttp_add_header(out_h, "Content-Type",
			  strncmp(rel, "metadata/", 9) ? "application/octet-stream" : "application/json");
	evhttp_add_header(out_h, "Accept-Ranges", "bytes");
	if (rh) {
		snprintf(range, sizeof(range), "bytes %" PRIu64 "-%lld/%lld", from, (long long)st.st_size - 1,
			 (long long)st.st_size);
		evhttp_add_header(out_h, "Content-Range", range);
	}
	evhttp_send_reply(req, rh ? 206 : 200, rh ? "Partial Content" : "OK", b);
	evbuffer_free(b);
}
