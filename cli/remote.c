/*
 * cli/remote.c — `ward --server URL`: the operator commands' client of
 * ward-server's operator API (docs/api.md), over ward's own HTTPS client
 * (ward/net.h). Interface and settings in cli/remote.h.
 *
 * Invariants: TLS always verifies the server (against --ca, else the
 * system's trust store; there is no switch to turn that off); a token is only
 * ever sent to the server it was issued by (a saved login's token goes to
 * the saved server only), over https, in one header; every copy of it is
 * wiped, and it never reaches a message. Replies are capped at
 * CLI_REMOTE_REPLY_MAX bytes; an error reply's reason is shown as one line
 * of printable characters at most REASON_MAX bytes long, whatever the server
 * sent.
 *
 * login.json ({"server", "ca", "token", "expires", "name"}, at most
 * LOGIN_MAX bytes) is refused when others may read it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "remote.h"
#include "ward/buf.h"
#include "ward/json.h"
#include "ward/net.h"

#define LOGIN_MAX 16384     /* bytes of login.json */
#define URL_MAX 1024        /* bytes of a server URL */
#define TOKEN_MAX 128       /* bytes of a token */
#define REASON_MAX 300      /* bytes of a server's reason shown */
#define BODY_MAX (64 * 1024) /* bytes of a request body */

struct cli_remote {
	struct ward_net *net;      /* one keep-alive connection */
	char server[URL_MAX + 1];  /* https://host:port, no trailing slash */
	char token[TOKEN_MAX + 1]; /* bearer token (secret), "" for none */
	char ca[PATH_MAX];         /* CA file ("" = the system's store); ward_net keeps a pointer to it */
};

/* ---- settings ------------------------------------------------------------------ */

ward_err cli_login_path(char *out, size_t n, struct ward_msg *m)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (xdg && xdg[0] == '/')
		return ward_snprintf(out, n, "%s/ward/login.json", xdg) ? ward_msg_set(m, WARD_E_TOOBIG, "XDG_CONFIG_HOME is too long")
									  : WARD_OK;
	if (!home || home[0] != '/')
		return ward_msg_set(m, WARD_E_NOTFOUND, "neither XDG_CONFIG_HOME nor HOME names a directory for login.json");
	return ward_snprintf(out, n, "%s/.config/ward/login.json", home) ? ward_msg_set(m, WARD_E_TOOBIG, "HOME is too long")
									  : WARD_OK;
}

ward_err cli_login_load(json_t **out, struct ward_msg *m)
{
	char path[PATH_MAX];
	struct ward_buf b;
	struct stat st;
	json_t *j = NULL;
	ward_err e;

	if ((e = cli_login_path(path, sizeof(path), m)) != WARD_OK)
		return e;
	if (lstat(path, &st) != 0)
		return ward_msg_set(m, errno == ENOENT ? WARD_E_NOTFOUND : WARD_E_IO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return ward_msg_set(m, WARD_E_DENIED,
				    "%s must be a regular file of yours that only you can read (chmod 600); not using it",
				    path);
	if ((e = ward_file_read(path, LOGIN_MAX, &b, m)) != WARD_OK)
		return e;
	e = ward_json_parse(b.p, b.len, LOGIN_MAX, &j, m);
	ward_wipe(b.p, b.len);
	ward_buf_free(&b);
	if (e)
		return ward_msg_prefix(m, e, "%s: ", path);
	if (!json_is_string(json_object_get(j, "server")) || !json_is_string(json_object_get(j, "token"))) {
		json_decref(j);
		return ward_msg_set(m, WARD_E_PARSE, "%s: no server or token; run `ward login` again", path);
	}
	*out = j;
	return WARD_OK;
}

/* Wipe jansson's copy of the token in a login document, then release it. */
void cli_login_free(json_t *j)
{
	json_t *t = json_object_get(j, "token");

	if (json_is_string(t))
		ward_wipe((char *)json_string_value(t), json_string_length(t));
	json_decref(j);
}

bool cli_remote_wanted(void)
{
	const char *env = getenv("WARD_SERVER");
	char path[PATH_MAX];
	struct ward_msg m = {0};

	if (env && *env)
		return true;
	return cli_login_path(path, sizeof(path), &m) == WARD_OK && access(path, F_OK) == 0;
}

bool cli_remote_wanted_for(const char *conf)
{
	const char *env = getenv("WARD_SERVER");

	if (env && *env)
		return true;
	return !conf && cli_remote_wanted();
}

/* Copy s into dst (n bytes) without a trailing slash; WARD_E_INVAL when not an https:// URL. */
static ward_err server_url(const char *s, char *dst, size_t n, struct ward_msg *m)
{
	size_t len = strlen(s);

	if (strncmp(s, "https://", 8) || len <= 8)
		return ward_msg_set(m, WARD_E_INVAL, "the server must be an https:// URL (got '%.100s')", s);
	while (len > 8 && s[len - 1] == '/')
		len--;
	if (len >= n)
		return ward_msg_set(m, WARD_E_TOOBIG, "the server URL is longer than %zu bytes", n - 1);
	memcpy(dst, s, len);
	dst[len] = '\0';
	return WARD_OK;
}

ward_err cli_remote_connect(const char *server, const char *ca, const char *token, struct cli_remote **out,
			    struct ward_msg *m)
{
	struct ward_net_opts o = {0};
	struct cli_remote *r = calloc(1, sizeof(*r));
	ward_err e;

	if (!r)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if ((e = server_url(server, r->server, sizeof(r->server), m)) != WARD_OK)
		goto out;
	if (token && strlen(token) > TOKEN_MAX) {
		e = ward_msg_set(m, WARD_E_INVAL, "the API token is longer than %d bytes", TOKEN_MAX);
		goto out;
	}
	if (token)
		memcpy(r->token, token, strlen(token) + 1);
	if (ca && ca[0] && access(ca, R_OK) != 0) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "--ca %s: %s", ca, strerror(errno));
		goto out;
	}
	if (ca && ward_snprintf(r->ca, sizeof(r->ca), "%s", ca) != WARD_OK) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "the CA file's path is too long");
		goto out;
	}
	o.connect_timeout_s = 10;
	o.total_timeout_s = 300;
	o.ca_file = r->ca[0] ? r->ca : NULL; /* NULL: the system's trust store; never "no verification" */
	e = ward_net_new(&o, &r->net, m);
out:
	if (e) {
		cli_remote_free(r);
		return e;
	}
	*out = r;
	return WARD_OK;
}

ward_err cli_remote_open(struct cli_remote **out, struct ward_msg *m)
{
	const char *server = getenv("WARD_SERVER"), *ca = getenv("WARD_CA"), *token = getenv("WARD_TOKEN");
	char want[URL_MAX + 1], saved[URL_MAX + 1];
	json_t *login = NULL;
	ward_err e;

	if (server && !*server)
		server = NULL;
	if (token && !*token)
		token = NULL;
	e = cli_login_load(&login, m);
	if (e && e != WARD_E_NOTFOUND)
		return e;
	if (e == WARD_E_NOTFOUND)
		login = NULL;
	if (!server && !login)
		return ward_msg_set(m, WARD_E_NOTFOUND, "no server: give --server URL (or WARD_SERVER), or run "
				    "`ward login --server URL --name NAME` first");
	if (login) {
		const char *ls = json_string_value(json_object_get(login, "server"));

		/* the saved token goes to the saved server only */
		if (!server || (server_url(server, want, sizeof(want), m) == WARD_OK &&
				server_url(ls, saved, sizeof(saved), m) == WARD_OK && !strcmp(want, saved))) {
			if (!server)
				server = ls;
			if (!token)
				token = json_string_value(json_object_get(login, "token"));
			if (!ca && json_is_string(json_object_get(login, "ca")))
				ca = json_string_value(json_object_get(login, "ca"));
		}
	}
	if (!token) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "no API token for %.200s: run `ward login --server %.200s --name NAME` "
				 "or set WARD_TOKEN", server, server);
		goto out;
	}
	e = cli_remote_connect(server, ca, token, out, m);
out:
	cli_login_free(login);
	return e;
}

void cli_remote_free(struct cli_remote *r)
{
	if (!r)
		return;
	ward_net_free(r->net);
	ward_wipe(r, sizeof(*r));
	free(r);
}

/* ---- calls --------------------------------------------------------------------- */

static ward_err to_buf(void *ctx, const void *data, size_t len)
{
	return ward_buf_append(ctx, data, len);
}

/* The server's reason (an error body) as one printable line into out. */
static void reason_line(const struct ward_buf *b, char out[REASON_MAX + 1])
{
	size_t k = 0;

	for (size_t i = 0; b->p && i < b->len && k < REASON_MAX; i++) {
		unsigned char c = b->p[i];

		if (c == '\n' || c == '\r')
			break;
		out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[k] = '\0';
}

/*
 * What the commands print comes from the server: a control character in any
 * string (a terminal escape from a hostile or broken server) becomes '?'
 * before anything sees it. ward-server stores no control characters, so an
 * honest reply is unchanged. Nesting is bounded by the JSON parser.
 */
static void defang(json_t *j, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (depth > 64)
		return;
	if (json_is_string(j)) {
		char *t = (char *)json_string_value(j); /* jansson's own copy: same length after */

		for (size_t k = 0; k < json_string_length(j); k++)
			if ((unsigned char)t[k] < 0x20 || t[k] == 0x7f ||
			    ((unsigned char)t[k] == 0xc2 && k + 1 < json_string_length(j) &&
			     (unsigned char)t[k + 1] >= 0x80 && (unsigned char)t[k + 1] <= 0x9f)) {
				if ((unsigned char)t[k] == 0xc2) /* a C1 control: U+0080..U+009F, two bytes */
					t[k++] = '?';
				t[k] = '?';
			}
	} else if (json_is_object(j)) {
		void *tmp;

		json_object_foreach_safe(j, tmp, key, v) {
			bool bad = false;

			for (const char *c = key; *c; c++)
				bad = bad || (unsigned char)*c < 0x20 || *c == 0x7f || (unsigned char)*c == 0xc2;
			if (bad)
				json_object_del(j, key); /* a member whose very name would print escapes */
			else
				defang(v, depth + 1);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			defang(v, depth + 1);
	}
}

ward_err cli_remote_call(struct cli_remote *r, const char *method, const char *path, const json_t *body,
			 json_t **reply, struct ward_msg *m)
{
	char url[URL_MAX + 2048], why[REASON_MAX + 1];
	char *text = NULL;
	struct ward_net_req q = {0};
	struct ward_net_resp st;
	struct ward_buf b;
	ward_err e;

	ward_buf_init(&b, CLI_REMOTE_REPLY_MAX);
	if (!r || !method || !path || path[0] != '/' || !reply)
		return ward_msg_set(m, WARD_E_INVAL, "remote call: no handle, method or path");
	if (ward_snprintf(url, sizeof(url), "%s%s", r->server, path) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "the request URL is too long");
	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
		if (!text || strlen(text) > BODY_MAX) {
			e = ward_msg_set(m, text ? WARD_E_TOOBIG : WARD_E_NOMEM, "cannot encode the request");
			goto out;
		}
	}
	q.method = method;
	q.url = url;
	q.content_type = text ? "application/json" : NULL;
	q.body = text;
	q.body_len = text ? strlen(text) : 0;
	q.bearer = r->token[0] ? r->token : NULL;
	q.max = CLI_REMOTE_REPLY_MAX;
	q.sink = to_buf;
	q.sink_ctx = &b;
	e = ward_net_request(r->net, &q, &st, m);
	if (e) {
		ward_msg_prefix(m, e, "%s %s: ", method, path);
		e = WARD_E_IO;
		goto out;
	}
	if (st.status >= 200 && st.status < 300) {
		e = ward_json_parse(b.p ? b.p : (const uint8_t *)"", b.len, CLI_REMOTE_REPLY_MAX, reply, m);
		if (e) {
			ward_msg_prefix(m, e, "%s %s: the server's reply is not JSON: ", method, path);
			e = WARD_E_IO;
		} else {
			defang(*reply, 0);
		}
		goto out;
	}
	reason_line(&b, why);
	switch (st.status) {
	case 401:
		e = ward_msg_set(m, WARD_E_DENIED, "%s (log in again: `ward login`)", why[0] ? why : "unauthorized");
		break;
	case 403:
		e = ward_msg_set(m, WARD_E_DENIED, "%s", why[0] ? why : "forbidden");
		break;
	case 404:
		e = ward_msg_set(m, WARD_E_NOTFOUND, "%s", why[0] ? why : "not found");
		break;
	case 400:
	case 405:
	case 409:
	case 413:
	case 415:
		e = ward_msg_set(m, WARD_E_INVAL, "%s", why[0] ? why : "refused");
		break;
	default:
		e = ward_msg_set(m, WARD_E_IO, "%s %s: HTTP %ld %s", method, path, st.status, why);
		break;
	}
out:
	if (text) {
		ward_wipe(text, strlen(text)); /* it may hold a password */
		free(text);
	}
	if (b.p)
		ward_wipe(b.p, b.len); /* it may hold a token */
	ward_buf_free(&b);
	return e;
}

ward_err cli_remote_query(char *buf, size_t size, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strnlen(buf, size);

	if (n >= size)
		return WARD_E_TOOBIG;
	if (ward_snprintf(buf + n, size - n, "%c%s=", strchr(buf, '?') ? '&' : '?', name) != WARD_OK)
		return WARD_E_TOOBIG;
	n = strlen(buf);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		bool plain = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     *p == '-' || *p == '.' || *p == '_' || *p == '~';

		if (n + (plain ? 1 : 3) >= size)
			return WARD_E_TOOBIG;
		if (plain) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
		}
	}
	buf[n] = '\0';
	return WARD_OK;
}
