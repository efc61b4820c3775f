/*
 * agent/config.c — parse wardd's INI configuration (keys in agent/config.h)
 * with libinih. Unknown sections or keys are errors (a typo must not silently
 * turn a protection off); every value is bounded and checked; defaults are
 * applied before parsing.
 */
#include <ini.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ward/buf.h"

struct parse_ctx {
	struct agent_config *cfg;
	struct ward_msg *m;
	ward_err e;  /* first error */
	int lineno;  /* of the first error */
};

static int set_str(char *dst, size_t n, const char *v)
{
	return ward_snprintf(dst, n, "%s", v) == WARD_OK && v[0] != '\0';
}

static int set_uint(unsigned *dst, const char *v, unsigned lo, unsigned hi)
{
	uint64_t x;

	if (ward_parse_u64(v, &x) || x < lo || x > hi)
		return 0;
	*dst = (unsigned)x;
	return 1;
}

/* "HH:MM-HH:MM" into minutes after midnight. */
static int set_window(struct agent_config *c, const char *v)
{
	unsigned h1, m1, h2, m2;
	char tail;

	if (sscanf(v, "%2u:%2u-%2u:%2u%c", &h1, &m1, &h2, &m2, &tail) != 4 || h1 > 23 || h2 > 23 ||
	    m1 > 59 || m2 > 59 || (h1 == h2 && m1 == m2))
		return 0;
	c->window_start = (int)(h1 * 60 + m1);
	c->window_end = (int)(h2 * 60 + m2);
	return 1;
}

bool agent_config_in_window(const struct agent_config *cfg, long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int now;

	if (cfg->window_start < 0 || !localtime_r(&tt, &tm))
		return false;
	now = tm.tm_hour * 60 + tm.tm_min;
	if (cfg->window_start < cfg->window_end)
		return now >= cfg->window_start && now < cfg->window_end;
	return now >= cfg->window_start || now < cfg->window_end; /* wraps midnight */
}

static int on_kv(void *user, const char *section, const char *name, const char *value, int lineno)
{
	struct parse_ctx *p = user;
	struct agent_config *c = p->cfg;
	int ok = 0;

	if (p->e)
		return 0;
#define IS(s, k) (!strcmp(section, s) && !strcmp(name, k))
	if (IS("device", "hardware_id"))
		ok = set_str(c->hardware_id, sizeof(c->hardware_id), value);
	else if (IS("device", "state_dir"))
		ok = set_str(c->state_dir, sizeof(c->state_dir), value);
	else if (IS("device", "trusted_root"))
		ok = set_str(c->trusted_root, sizeof(c->trusted_root), value);
	else if (IS("device", "booted_from"))
		ok = set_str(c->booted_from, sizeof(c->booted_from), value);
	else if (IS("slots", "a"))
		ok = set_str(c->slot[0], sizeof(c->slot[0]), value);
	else if (IS("slots", "b"))
		ok = set_str(c->slot[1], sizeof(c->slot[1]), value);
	else if (IS("slots", "size"))
		ok = ward_parse_u64(value, &c->slot_size) == WARD_OK;
	else if (IS("bootloader", "backend")) {
		ok = 1;
		if (!strcmp(value, "uboot"))
			c->backend = AGENT_BOOT_UBOOT;
		else if (!strcmp(value, "grub"))
			c->backend = AGENT_BOOT_GRUB;
		else if (!strcmp(value, "file"))
			c->backend = AGENT_BOOT_FILE;
		else
			ok = 0;
	} else if (IS("bootloader", "fw_env_config"))
		ok = set_str(c->fw_env_config, sizeof(c->fw_env_config), value);
	else if (IS("bootloader", "grubenv"))
		ok = set_str(c->grubenv, sizeof(c->grubenv), value);
	else if (IS("bootloader", "env_file"))
		ok = set_str(c->env_file, sizeof(c->env_file), value);
	else if (IS("bootloader", "max_attempts"))
		ok = set_uint(&c->max_attempts, value, 1, 10);
	else if (IS("health", "command"))
		ok = ward_snprintf(c->health_command, sizeof(c->health_command), "%s", value) == WARD_OK;
	else if (IS("health", "timeout"))
		ok = set_uint(&c->health_timeout, value, 1, 3600);
	else if (IS("update", "policy")) {
		ok = 1;
		if (!strcmp(value, "auto"))
			c->policy = AGENT_POLICY_AUTO;
		else if (!strcmp(value, "approve"))
			c->policy = AGENT_POLICY_APPROVE;
		else
			ok = 0;
	} else if (IS("update", "maintenance_window"))
		ok = set_window(c, value);
	else if (IS("server", "url"))
		ok = set_str(c->server_url, sizeof(c->server_url), value) && !strncmp(value, "https://", 8);
	else if (IS("server", "ca"))
		ok = set_str(c->server_ca, sizeof(c->server_ca), value);
	else if (IS("server", "cert"))
		ok = set_str(c->device_cert, sizeof(c->device_cert), value);
	else if (IS("server", "key"))
		ok = set_str(c->device_key, sizeof(c->device_key), value);
	else if (IS("server", "director_root"))
		ok = set_str(c->director_root, sizeof(c->director_root), value);
	else if (IS("update", "reboot_command"))
		ok = ward_snprintf(c->reboot_command, sizeof(c->reboot_command), "%s", value) == WARD_OK;
	else {
		p->e = ward_msg_set(p->m, WARD_E_PARSE, "unknown key [%s] %s", section, name);
		return 0;
	}
#undef IS
	if (!ok) {
		p->e = ward_msg_set(p->m, WARD_E_PARSE, "invalid value for [%s] %s: \"%.100s\"",
				    section, name, value);
		return 0;
	}
	return 1;
}

static int on_kv_plain(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;

	return on_kv(user, section, name, value, p->lineno);
}

ward_err agent_config_load(const char *path, struct agent_config *cfg, struct ward_msg *m)
{
	struct parse_ctx p = {cfg, m, WARD_OK, 0};
	struct ward_buf b;
	ward_err e;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->max_attempts = 3;
	cfg->health_timeout = 60;
	cfg->policy = AGENT_POLICY_AUTO;
	cfg->window_start = cfg->window_end = -1;
	cfg->backend = AGENT_BOOT_FILE;
	snprintf(cfg->booted_from, sizeof(cfg->booted_from), "/proc/cmdline");
	/* read it ourselves: bounded, and a clear message when it is missing */
	e = ward_file_read(path, 64 * 1024, &b, m);
	if (e)
		return e;
	r = ini_parse_string((const char *)b.p, on_kv_plain, &p);
	ward_buf_free(&b);
	if (p.e)
		return ward_msg_prefix(m, p.e, "%s: ", path);
	if (r != 0)
		return ward_msg_set(m, WARD_E_PARSE, "%s: line %d: not INI syntax", path, r);
	if (!cfg->hardware_id[0] || !cfg->state_dir[0] || !cfg->trusted_root[0] || !cfg->slot[0][0] ||
	    !cfg->slot[1][0])
		return ward_msg_set(m, WARD_E_PARSE,
				    "%s: [device] hardware_id, state_dir, trusted_root and [slots] a, b are required",
				    path);
	if (!strcmp(cfg->slot[0], cfg->slot[1]))
		return ward_msg_set(m, WARD_E_PARSE, "%s: slots a and b are the same", path);
	if ((cfg->backend == AGENT_BOOT_UBOOT && !cfg->fw_env_config[0]) ||
	    (cfg->backend == AGENT_BOOT_GRUB && !cfg->grubenv[0]) ||
	    (cfg->backend == AGENT_BOOT_FILE && !cfg->env_file[0]))
		return ward_msg_set(m, WARD_E_PARSE,
				    "%s: the bootloader backend needs its fw_env_config / grubenv / env_file", path);
	if (cfg->server_url[0] && (!cfg->server_ca[0] || !cfg->device_cert[0] || !cfg->device_key[0]))
		return ward_msg_set(m, WARD_E_PARSE, "%s: [server] needs url, ca, cert and key", path);
	return WARD_OK;
}
