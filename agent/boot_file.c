/*
 * agent/boot_file.c — the file backend: the U-Boot variables of agent/boot.h
 * (ward_slot, ward_good, upgrade_available, bootcount, bootlimit) in a plain
 * file, cfg->env_file, for tests and for boot firmware that reads such a
 * file. The bootloader side behaves like U-Boot with ward's boot script
 * (docs/wardd-boot.md; tests/system/bootsim.py plays it).
 *
 * Format, read strictly (at most 4 KiB): lines "name=value\n", every line
 * ended by '\n', names only those five, each at most once, values exactly as
 * wardd writes them; an absent variable, or an absent file, takes its default
 * (slot A, no trial). wardd writes all five, in that order, and replaces the
 * file in one atomic step (temporary file, fsync, rename, fsync of the
 * directory), so a power cut leaves the old file or the new one.
 */
#include <string.h>

#include "boot.h"
#include "ward/buf.h"

#include "boot_priv.h"

#define ENV_FILE_MAX 4096 /* largest environment file accepted */
#define VALUE_MAX    64   /* longest value accepted */

static ward_err check_cfg(const struct agent_config *cfg, struct ward_msg *m)
{
	if (!cfg->env_file[0])
		return ward_msg_set(m, WARD_E_INVAL, "[bootloader] env_file is not set");
	return WARD_OK;
}

/* Read cfg->env_file into *u (untouched on failure); a missing file is all defaults. */
static ward_err read_vars(const struct agent_config *cfg, struct agent_uvars *u, struct ward_msg *m)
{
	struct agent_uvars got = {{0}};
	unsigned seen = 0;
	struct ward_buf b;
	const char *p, *end;
	const char *path = cfg->env_file;
	ward_err e;

	e = check_cfg(cfg, m);
	if (e)
		return e;
	e = ward_file_read(path, ENV_FILE_MAX, &b, m);
	if (e == WARD_E_NOTFOUND) {
		*u = got;
		return WARD_OK;
	}
	if (e)
		return ward_msg_prefix(m, e, "boot environment file: ");
	p = (const char *)b.p;
	end = p + b.len;
	if (memchr(p, '\0', b.len)) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: contains a NUL byte", path);
		goto out;
	}
	for (int line = 1; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eq;
		char value[VALUE_MAX + 1];
		size_t vlen;
		int i;

		if (!nl) {
			e = ward_msg_set(m, WARD_E_PARSE, "%s:%d: last line has no newline", path,
			                 line);
			goto out;
		}
		eq = memchr(p, '=', (size_t)(nl - p));
		i = eq ? agent_uvar_lookup(p, (size_t)(eq - p)) : -1;
		if (i < 0) {
			e = ward_msg_set(
			    m, WARD_E_PARSE,
			    "%s:%d: '%.*s' is not name=value with a ward variable name", path, line,
			    (int)(nl - p > 40 ? 40 : nl - p), p);
			goto out;
		}
		if (seen & 1u << i) {
			e = ward_msg_set(m, WARD_E_PARSE, "%s:%d: %s is set twice", path, line,
			                 agent_uvar_names[i]);
			goto out;
		}
		seen |= 1u << i;
		vlen = (size_t)(nl - eq - 1);
		if (vlen > VALUE_MAX) {
			e = ward_msg_set(m, WARD_E_PARSE, "%s:%d: value of %s is too long", path,
			                 line, agent_uvar_names[i]);
			goto out;
		}
		memcpy(value, eq + 1, vlen);
		value[vlen] = '\0';
		char where[AGENT_PATH_MAX + 16];

		if (ward_snprintf(where, sizeof(where), "%s:%d", path, line))
			where[0] = '\0';
		e = agent_uvars_parse(&got, i, value, where, m);
		if (e)
			goto out;
		p = nl + 1;
	}
	*u = got;
	e = WARD_OK;
out:
	ward_buf_free(&b);
	return e;
}

static ward_err file_change(const struct agent_config *cfg, enum agent_boot_op op, int slot,
                            struct ward_msg *m)
{
	struct agent_uvars u;
	struct ward_buf text;
	unsigned mask = 0;
	ward_err e;

	e = agent_boot_check_slot(slot, m);
	if (e)
		return e;
	e = read_vars(cfg, &u, m); /* a corrupt file is an error: fix it, do not guess */
	if (e)
		return e;
	e = agent_uvars_apply(&u, &mask, cfg, op, slot, m);
	if (e)
		return e;
	e = agent_uvars_format(&u, (1u << AGENT_UV_N) - 1, &text, m);
	if (e)
		return e;
	e = ward_file_write_atomic(cfg->env_file, text.p, text.len, 0644, m);
	ward_buf_free(&text);
	return e;
}

static ward_err file_try_once(const struct agent_config *cfg, int slot, struct ward_msg *m)
{
	return file_change(cfg, AGENT_OP_TRY, slot, m);
}

static ward_err file_mark_good(const struct agent_config *cfg, int slot, struct ward_msg *m)
{
	return file_change(cfg, AGENT_OP_GOOD, slot, m);
}

static ward_err file_mark_bad(const struct agent_config *cfg, int slot, struct ward_msg *m)
{
	return file_change(cfg, AGENT_OP_BAD, slot, m);
}

static ward_err file_query(const struct agent_config *cfg, struct agent_boot_state *out,
                           struct ward_msg *m)
{
	struct agent_uvars u;
	ward_err e = read_vars(cfg, &u, m);

	if (e)
		return e;
	return agent_uvars_state(&u, out, cfg->env_file, m);
}

const struct agent_boot_ops agent_boot_file = {
    .name = "file",
    .try_once = file_try_once,
    .mark_good = file_mark_good,
    .mark_bad = file_mark_bad,
    .query = file_query,
};
