/*
 * server/conf.c — parse a deployment's ward.conf (keys in server/conf.h) with
 * libinih. Unknown keys are errors; relative paths are resolved against the
 * directory of ward.conf so the deployment can be moved as one directory.
 */
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ward/buf.h"

struct ctx {
	struct srv_conf *c;
	struct ward_msg *m;
	ward_err e;
};

/* dst = value if absolute, else dir/value */
static int set_path(const struct srv_conf *c, char *dst, const char *v)
{
	if (!v[0])
		return 0;
	if (v[0] == '/')
		return ward_snprintf(dst, SRV_PATH_MAX, "%s", v) == WARD_OK;
	return ward_snprintf(dst, SRV_PATH_MAX, "%s/%s", c->dir, v) == WARD_OK;
}

static int set_duration(uint64_t *dst, const char *v)
{
	uint64_t n;
	char num[32];
	size_t l = strlen(v);
	uint64_t mul = 1;

	if (l == 0 || l >= sizeof(num))
		return 0;
	memcpy(num, v, l + 1);
	switch (num[l - 1]) {
	case 's': mul = 1; num[l - 1] = '\0'; break;
	case 'm': mul = 60; num[l - 1] = '\0'; break;
	case 'h': mul = 3600; num[l - 1] = '\0'; break;
	case 'd': mul = 86400; num[l - 1] = '\0'; break;
	default: break;
	}
	if (ward_parse_u64(num, &n) || n == 0 || n > UINT64_MAX / mul)
		return 0;
	*dst = n * mul;
	return 1;
}

static int set_unsigned(unsigned *dst, const char *v, unsigned hi)
{
	uint64_t n;

	if (ward_parse_u64(v, &n) || n > hi)
		return 0;
	*dst = (unsigned)n;
	return 1;
}

/* A user name as useradd takes it: [A-Za-z0-9._-], 1-32 bytes, not starting with '-'. */
static int set_user(char *dst, size_t n, const char *v)
{
	size_t l = strlen(v);

	if (l == 0 || l >= n || v[0] == '-' ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != l)
		return 0;
	memcpy(dst, v, l + 1);
	return 1;
}

ward_err srv_conf_listen(struct srv_conf *c, const char *s, struct ward_msg *m)
{
	const char *colon;
	size_t hl;
	uint64_t port;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return ward_msg_set(m, WARD_E_PARSE, "listen \"%.80s\": expected [ADDR]:PORT", s);
		hl = (size_t)(end - s - 1);
		colon = end + 1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return ward_msg_set(m, WARD_E_PARSE, "listen \"%.80s\": expected ADDR:PORT", s);
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(c->listen_addr) || ward_parse_u64(colon + 1, &port) ||
	    port > 65535)
		return ward_msg_set(m, WARD_E_PARSE, "listen \"%.80s\": bad address or port", s);
	memcpy(c->listen_addr, s, hl);
	c->listen_addr[hl] = '\0';
	c->listen_port = (uint16_t)port;
	return WARD_OK;
}

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
	struct ctx *x = user;
	struct srv_conf *c = x->c;
	int ok;

	if (x->e)
		return 0;
#define IS(s, k) (!strcmp(section, s) && !strcmp(name, k))
	if (IS("server", "listen"))
		ok = srv_conf_listen(c, value, x->m) == WARD_OK;
	else if (IS("server", "workers"))
		ok = set_unsigned(&c->workers, value, 256);
	else if (IS("server", "max_connections"))
		ok = set_unsigned(&c->max_connections, value, 1000000) && c->max_connections > 0;
	else if (IS("server", "request_timeout"))
		ok = set_unsigned(&c->request_timeout, value, 3600) && c->request_timeout > 0;
	else if (IS("server", "max_body"))
		ok = ward_parse_u64(value, &c->max_body) == WARD_OK && c->max_body >= 1024 &&
		     c->max_body <= 16u * 1024 * 1024;
	else if (IS("server", "user"))
		ok = set_user(c->user, sizeof(c->user), value);
	else if (IS("database", "uri")) {
		if (!strncmp(value, "sqlite:", 7) && value[7] != '/')
			ok = ward_snprintf(c->db_uri, sizeof(c->db_uri), "sqlite:%s/%s", c->dir, value + 7) == WARD_OK;
		else
			ok = ward_snprintf(c->db_uri, sizeof(c->db_uri), "%s", value) == WARD_OK;
	} else if (IS("ca", "root"))
		ok = set_path(c, c->ca_root, value);
	else if (IS("ca", "issuing_cert"))
		ok = set_path(c, c->issuing_cert, value);
	else if (IS("ca", "issuing_key"))
		ok = set_path(c, c->issuing_key, value);
	else if (IS("ca", "server_cert"))
		ok = set_path(c, c->server_cert, value);
	else if (IS("ca", "server_key"))
		ok = set_path(c, c->server_key, value);
	else if (IS("ca", "crl"))
		ok = set_path(c, c->crl, value);
	else if (IS("devices", "cert_lifetime"))
		ok = set_duration(&c->cert_lifetime, value);
	else if (IS("devices", "renew_before"))
		ok = set_duration(&c->renew_before, value);
	else if (IS("devices", "checkin_interval"))
		ok = set_unsigned(&c->checkin_interval, value, 86400) && c->checkin_interval >= 5;
	else if (IS("web", "root"))
		ok = set_path(c, c->web_root, value);
	else {
		x->e = ward_msg_set(x->m, WARD_E_PARSE, "unknown key [%s] %s", section, name);
		return 0;
	}
#undef IS
	if (!ok) {
		if (!x->m || !x->m->text[0] || !strstr(x->m->text, "listen"))
			ward_msg_set(x->m, WARD_E_PARSE, "invalid value for [%s] %s: \"%.100s\"", section, name,
				     value);
		x->e = WARD_E_PARSE;
		return 0;
	}
	return 1;
}

ward_err srv_conf_load(const char *path, struct srv_conf *c, struct ward_msg *m)
{
	struct ctx x = {c, m, WARD_OK};
	char abs[PATH_MAX], *slash;
	struct ward_buf b;
	ward_err e;
	int r;

	memset(c, 0, sizeof(*c));
	if (!realpath(path, abs))
		return ward_msg_set(m, WARD_E_NOTFOUND, "%s: no such configuration file", path);
	slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (ward_snprintf(c->dir, sizeof(c->dir), "%s", abs))
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", path);
	/* defaults */
	snprintf(c->listen_addr, sizeof(c->listen_addr), "127.0.0.1");
	c->listen_port = 8443;
	c->max_connections = 10000;
	c->request_timeout = 10;
	c->max_body = 65536;
	c->cert_lifetime = 30 * 86400;
	c->renew_before = 10 * 86400;
	c->checkin_interval = 300;
	if (ward_snprintf(c->db_uri, sizeof(c->db_uri), "sqlite:%s/ward.db", c->dir) ||
	    !set_path(c, c->ca_root, "ca/root.pem") || !set_path(c, c->issuing_cert, "ca/issuing.pem") ||
	    !set_path(c, c->issuing_key, "ca/issuing.key") || !set_path(c, c->server_cert, "ca/server.pem") ||
	    !set_path(c, c->server_key, "ca/server.key") || !set_path(c, c->crl, "ca/crl.der"))
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", path);
	e = ward_file_read(path, 64 * 1024, &b, m);
	if (e)
		return e;
	r = ini_parse_string((const char *)b.p, on_kv, &x);
	ward_buf_free(&b);
	if (x.e)
		return ward_msg_prefix(m, x.e, "%s: ", path);
	if (r != 0)
		return ward_msg_set(m, WARD_E_PARSE, "%s: line %d is not INI syntax", path, r);
	if (c->renew_before >= c->cert_lifetime)
		return ward_msg_set(m, WARD_E_PARSE, "%s: renew_before must be shorter than cert_lifetime", path);
	return WARD_OK;
}
