/*
 * server/web.c — the dashboard's static files (web/: index.html, app.js,
 * style.css), served on every GET that is not the API, EST, the CRL or the
 * image repository (server/http.c routes them here). The dashboard itself
 * logs in through POST /api/v1/login and calls the API with a bearer token:
 * these files are public and hold no data.
 *
 * Where the files are: `[web] root` in ward.conf, else the first directory
 * that exists of <dir of the executable>/../../web (a build tree:
 * build/server/ward-server next to the source's web/),
 * <dir of the executable>/../share/ward/web (meson install, any prefix), and
 * /usr/share/ward/web.
 *
 * Invariants: only GET and HEAD (405 otherwise); the path is percent-decoded
 * once and refused (404) when it holds a NUL, a backslash, an empty component
 * (so no trailing slash, no directory listing) or a component starting with
 * a dot (so no "..", no hidden files); it is then opened one component at a
 * time below the root with O_NOFOLLOW, so no symlink is followed anywhere
 * under the root (the root itself may be one); only regular files of at most
 * WEB_FILE_MAX bytes with a known extension are served, with their type.
 * Every reply, errors included, carries the security headers of
 * add_security_headers(): a strict Content-Security-Policy (no inline script
 * or style, no framing), nosniff, no referrer, HSTS and Cache-Control:
 * no-store (from srv_reply).
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "srv.h"
#include "ward/buf.h"

#define WEB_FILE_MAX (2u * 1024 * 1024) /* bytes of one dashboard file */
#define WEB_PATH_MAX 1024               /* bytes of a request path (raw) */
#define WEB_DEPTH_MAX 16                /* components of a request path */
#define WEB_DEFAULT_ROOT "/usr/share/ward/web"

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
			  "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
			  "base-uri 'none'; form-action 'self'";

static void add_security_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Security-Policy", csp);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
	/* Cache-Control: no-store comes with every srv_reply() */
}

/* The types served, by extension; any other file is not served. */
static const struct {
	const char *ext;   /* with the dot */
	const char *type;  /* Content-Type */
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".txt", "text/plain; charset=utf-8"},
	{".woff2", "font/woff2"},
};

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return NULL;
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * The dashboard's root directory, resolved (realpath) into out (PATH_MAX).
 * False when none of the candidates exists.
 */
static bool find_root(const struct srv_conf *c, char *out)
{
	char exe[PATH_MAX], cand[PATH_MAX], *slash;
	ssize_t n;

	if (c->web_root[0])
		return realpath(c->web_root, out) && is_dir(out);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			/* installed: PREFIX/bin/ward-server -> PREFIX/share/ward/web */
			if (!ward_snprintf(cand, sizeof(cand), "%s/../share/ward/web", exe) && realpath(cand, out) &&
			    is_dir(out))
				return true;
		}
	}
	if (realpath(WEB_DEFAULT_ROOT, out) && is_dir(out))
		return true;
	/* the build tree (BUILD/server/ward-server -> SOURCE/web), last and only when it is one:
	 * a source tree has web/app.js next to meson.build, so an installed binary does not
	 * pick up whatever directory happens to be at ../../web */
	if (n > 0 && strrchr(exe, '/')) {
		char marker[PATH_MAX];

		if (!ward_snprintf(cand, sizeof(cand), "%s/../../web", exe) &&
		    !ward_snprintf(marker, sizeof(marker), "%s/../../meson.build", exe) && access(marker, R_OK) == 0 &&
		    realpath(cand, out) && is_dir(out))
			return true;
	}
	return false;
}

/*
 * The request path (raw, as in the request line) decoded into out and split
 * in place into at most WEB_DEPTH_MAX components (comp[0..*ncomp)); "/" is
 * index.html. False for anything that is not a plain relative file name.
 */
static bool split_path(const char *path, char *out, size_t n, char **comp, size_t *ncomp)
{
	size_t len = 0, k = 0;
	char *dec, *c;
	bool ok;

	if (!strcmp(path, "/"))
		path = "/index.html";
	if (path[0] != '/')
		return false;
	dec = evhttp_uridecode(path + 1, 0, &len);
	ok = dec && len > 0 && len < n && strlen(dec) == len && !strchr(dec, '\\');
	if (ok)
		memcpy(out, dec, len + 1);
	free(dec);
	for (c = out; ok && *c;) {
		char *slash = strchr(c, '/');
		size_t cl = slash ? (size_t)(slash - c) : strlen(c);

		if (cl == 0 || c[0] == '.' || k == WEB_DEPTH_MAX) {
			ok = false;
			break;
		}
		comp[k++] = c;
		if (!slash)
			break;
		*slash = '\0';
		c = slash + 1;
		if (!*c)
			ok = false; /* a trailing slash: a directory */
	}
	*ncomp = k;
	return ok && k > 0;
}

/*
 * Open comp[0]/.../comp[n-1] below root without following any symlink.
 * Returns the descriptor of the last one, or -1.
 */
static int open_below(const char *root, char **comp, size_t n)
{
	int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (size_t i = 0; dir >= 0 && i < n; i++) {
		int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (i + 1 < n ? O_DIRECTORY : 0);
		int fd = openat(dir, comp[i], flags);

		close(dir);
		dir = fd;
	}
	return dir;
}

void srv_web_get(struct evhttp_request *req, struct srv *s, const char *path)
{
	char root[PATH_MAX], rel[WEB_PATH_MAX + 1];
	char *comp[WEB_DEPTH_MAX];
	size_t ncomp = 0;
	const char *type;
	struct evbuffer *b;
	struct stat st;
	int fd;

	add_security_headers(req);
	if (!srv_is_get(req)) {
		srv_not_allowed(req, "GET, HEAD");
		return;
	}
	if (strlen(path) > WEB_PATH_MAX) {
		srv_error(req, 414, "URI Too Long", "the path is longer than %u bytes", WEB_PATH_MAX);
		return;
	}
	if (!split_path(path, rel, sizeof(rel), comp, &ncomp) || !(type = type_of(comp[ncomp - 1]))) {
		srv_error(req, 404, "Not Found", "no such resource");
		return;
	}
	if (!find_root(&s->conf, root)) {
		srv_error(req, 404, "Not Found",
			  "the dashboard is not installed: set [web] root in ward.conf to the web/ directory");
		return;
	}
	fd = open_below(root, comp, ncomp);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		srv_error(req, 404, "Not Found", "no such resource");
		return;
	}
	if ((uint64_t)st.st_size > WEB_FILE_MAX) {
		close(fd);
		fprintf(stderr, "ward-server: dashboard file %s under %s is larger than %u bytes: not served\n",
			comp[ncomp - 1], root, WEB_FILE_MAX);
		srv_error(req, 404, "Not Found", "no such resource");
		return;
	}
	b = evbuffer_new();
	if (!b || (st.st_size > 0 && evbuffer_add_file(b, fd, 0, (ev_off_t)st.st_size) != 0)) {
		/* a segment that was never made leaves fd open */
		if (b)
			evbuffer_free(b);
		close(fd);
		srv_error(req, 503, "Service Unavailable", "cannot read the file; retry");
		return;
	}
	if (st.st_size == 0)
		close(fd);
	/* evbuffer_add_file owns fd now */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}
