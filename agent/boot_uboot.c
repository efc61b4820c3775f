/*
 * agent/boot_uboot.c — the U-Boot backend, through the real fw_printenv and
 * fw_setenv of libubootenv (Debian: libubootenv-tool), always with
 * `-c cfg->fw_env_config`.
 *
 * Every change is ONE `fw_setenv -c CFG -s SCRIPT` run (the script an unlinked
 * temporary file passed as /proc/self/fd/N): libubootenv reads the
 * environment, applies every key=value line of the script in memory, and
 * stores the whole environment once. With a redundant environment (two
 * copies in fw_env.config, each with a flags byte) the store goes to the
 * copy that is NOT current, with flags+1, and is fsynced; the current copy is
 * never touched, so a power cut mid-write leaves a copy with a bad CRC and
 * both U-Boot and libubootenv keep using the old one. That is why writes are
 * refused unless fw_env.config lists two copies. libubootenv ignores a
 * variable it could not set (a read-only .flags entry) and a script it could
 * not open, and still exits 0, so every write is read back and checked.
 *
 * Reads ask fw_printenv for the five variables by name (never the whole
 * environment: a multi-line value elsewhere could forge a line); the output
 * must be exactly "name=value\n" for each, in order; an absent variable
 * prints "name=" and takes its default. Variables: see agent/boot.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "ward/buf.h"

#include "boot_priv.h"

#define PACKAGE       "libubootenv-tool"
#define FW_CONFIG_MAX 16384 /* fw_env.config is a few lines */
#define VALUE_MAX     64    /* longest value of a ward variable accepted */

static ward_err check_cfg(const struct agent_config *cfg, struct ward_msg *m)
{
	if (!cfg->fw_env_config[0] || cfg->fw_env_config[0] == '-')
		return ward_msg_set(m, WARD_E_INVAL,
		                    "[bootloader] fw_env_config = '%s' is not a file path",
		                    cfg->fw_env_config);
	return WARD_OK;
}

/*
 * Count the environment copies fw_env.config lists, the way libubootenv
 * reads it: a line not starting with '#' that has at least "device offset
 * size" is a copy (it stops after two).
 */
static ward_err check_redundant(const struct agent_config *cfg, struct ward_msg *m)
{
	struct ward_buf b;
	const char *p, *end;
	int copies = 0;
	ward_err e;

	e = ward_file_read(cfg->fw_env_config, FW_CONFIG_MAX, &b, m);
	if (e)
		return ward_msg_prefix(m, e, "fw_env_config: ");
	p = (const char *)b.p;
	end = p + b.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		int fields = 0;

		if (*p != '#') {
			for (const char *q = p; q < le;) {
				while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
					q++;
				if (q == le)
					break;
				fields++;
				while (q < le && *q != ' ' && *q != '\t' && *q != '\r')
					q++;
			}
		}
		if (fields >= 3)
			copies++;
		p = nl ? nl + 1 : end;
	}
	ward_buf_free(&b);
	if (copies < 2)
		return ward_msg_set(
		    m, WARD_E_UNSUPPORTED,
		    "%s lists %d U-Boot environment cop%s; wardd needs a redundant "
		    "environment (two copies, CONFIG_ENV_REDUNDANT in U-Boot) so that "
		    "a power cut during a write cannot lose the environment",
		    cfg->fw_env_config, copies, copies == 1 ? "y" : "ies");
	return WARD_OK;
}

/* Read the five ward variables with fw_printenv into *u (untouched on failure). */
static ward_err read_vars(const struct agent_config *cfg, struct agent_uvars *u, struct ward_msg *m)
{
	const char *argv[4 + AGENT_UV_N] = {"fw_printenv", "-c", cfg->fw_env_config};
	struct agent_uvars got = {{0}};
	struct ward_buf out;
	char where[AGENT_PATH_MAX + 32];
	const char *p, *end;
	ward_err e;

	e = check_cfg(cfg, m);
	if (e)
		return e;
	for (int i = 0; i < AGENT_UV_N; i++)
		argv[3 + i] = agent_uvar_names[i];
	argv[3 + AGENT_UV_N] = NULL;
	e = agent_boot_run(argv, PACKAGE, &out, m);
	if (e)
		return ward_msg_prefix(m, e,
		                       "reading the U-Boot environment (%s): ", cfg->fw_env_config);
	if (ward_snprintf(where, sizeof(where), "U-Boot environment (%s)", cfg->fw_env_config))
		where[0] = '\0';
	p = (const char *)out.p;
	end = p + out.len;
	if (memchr(p, '\0', out.len)) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: fw_printenv printed a NUL byte", where);
		goto out;
	}
	for (int i = 0; i < AGENT_UV_N; i++) {
		size_t nlen = strlen(agent_uvar_names[i]);
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char value[VALUE_MAX + 1];
		size_t vlen;

		if (!nl || (size_t)(nl - p) < nlen + 1 ||
		    memcmp(p, agent_uvar_names[i], nlen) != 0 || p[nlen] != '=') {
			e = ward_msg_set(m, WARD_E_PARSE,
			                 "%s: unexpected output from fw_printenv where '%s=' was "
			                 "expected: '%.40s'",
			                 where, agent_uvar_names[i], p);
			goto out;
		}
		vlen = (size_t)(nl - (p + nlen + 1));
		if (vlen > VALUE_MAX) {
			e = ward_msg_set(m, WARD_E_PARSE,
			                 "%s: %s is %zu bytes long; not a value "
			                 "wardd writes",
			                 where, agent_uvar_names[i], vlen);
			goto out;
		}
		memcpy(value, p + nlen + 1, vlen);
		value[vlen] = '\0';
		e = agent_uvars_parse(&got, i, value, where, m);
		if (e)
			goto out;
		p = nl + 1;
	}
	if (p != end) {
		e = ward_msg_set(m, WARD_E_PARSE,
		                 "%s: fw_printenv printed more than the five variables asked for "
		                 "(a value spanning lines?): '%.40s'",
		                 where, p);
		goto out;
	}
	*u = got;
	e = WARD_OK;
out:
	ward_buf_free(&out);
	return e;
}

/*
 * Hand the script to fw_setenv without leaving a file behind, even if wardd is
 * killed: a private temporary file (mkstemp, 0600) is unlinked at once, the
 * script written to it, and fw_setenv, which inherits the descriptor, reads it
 * as /proc/self/fd/N (a fresh open, from offset 0). *fd is the caller's to
 * close; arg gets the path to pass with -s.
 */
static ward_err write_script(const struct ward_buf *s, char *arg, size_t n, int *fd,
                             struct ward_msg *m)
{
	const char *dir = getenv("TMPDIR");
	char path[AGENT_PATH_MAX];
	size_t off = 0;

	*fd = -1;
	if (!dir || dir[0] != '/')
		dir = "/tmp";
	if (ward_snprintf(path, sizeof(path), "%s/wardd-fw_setenv.XXXXXX", dir))
		return ward_msg_set(m, WARD_E_TOOBIG, "TMPDIR '%s' is too long", dir);
	*fd = mkstemp(path);
	if (*fd < 0)
		return ward_msg_set(m, WARD_E_IO, "%s: cannot create: %s", path, strerror(errno));
	if (unlink(path) != 0)
		return ward_msg_set(m, WARD_E_IO, "%s: unlink: %s", path, strerror(errno));
	while (off < s->len) {
		ssize_t w = write(*fd, s->p + off, s->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return ward_msg_set(m, WARD_E_IO, "fw_setenv script: write: %s",
			                    strerror(errno));
		off += (size_t)w;
	}
	if (ward_snprintf(arg, n, "/proc/self/fd/%d", *fd))
		return ward_msg_set(m, WARD_E_TOOBIG, "fw_setenv script: descriptor path too long");
	/* libubootenv ignores a script it cannot open and stores anyway: check first */
	if (access(arg, R_OK) != 0)
		return ward_msg_set(m, WARD_E_IO,
		                    "%s: %s (wardd passes the fw_setenv script through /proc; "
		                    "is /proc mounted?)",
		                    arg, strerror(errno));
	return WARD_OK;
}

static ward_err uboot_change(const struct agent_config *cfg, enum agent_boot_op op, int slot,
                             struct ward_msg *m)
{
	struct agent_uvars want = {{0}}, got;
	struct ward_buf script;
	char arg[64];
	unsigned mask = 0;
	int fd = -1;
	ward_err e;

	e = check_cfg(cfg, m);
	if (e)
		return e;
	e = agent_uvars_apply(&want, &mask, cfg, op, slot, m);
	if (e)
		return e;
	e = check_redundant(cfg, m);
	if (e)
		return e;
	e = agent_uvars_format(&want, mask, &script, m);
	if (e)
		return e;
	e = write_script(&script, arg, sizeof(arg), &fd, m);
	if (!e) {
		const char *argv[] = {"fw_setenv", "-c", cfg->fw_env_config, "-s", arg, NULL};

		e = agent_boot_run(argv, PACKAGE, NULL, m);
		if (e)
			e = ward_msg_prefix(
			    m, e, "writing the U-Boot environment (%s): ", cfg->fw_env_config);
	}
	if (fd >= 0)
		close(fd);
	ward_buf_free(&script);
	if (e)
		return e;
	/* fw_setenv exits 0 even when it skipped a variable: check what was stored */
	e = read_vars(cfg, &got, m);
	if (e)
		return ward_msg_prefix(m, e, "after fw_setenv: ");
	for (int i = 0; i < AGENT_UV_N; i++)
		if (mask & 1u << i && got.v[i] != want.v[i])
			return ward_msg_set(
			    m, WARD_E_IO,
			    "fw_setenv -c %s exited 0 but %s was not stored (a "
			    "read-only variable in .flags? a write-protected device?)",
			    cfg->fw_env_config, agent_uvar_names[i]);
	return WARD_OK;
}

static ward_err uboot_try_once(const struct agent_config *cfg, int slot, struct ward_msg *m)
{
	return uboot_change(cfg, AGENT_OP_TRY, slot, m);
}

static ward_err uboot_mark_good(const struct agent_config *cfg, int slot, struct ward_msg *m)
{
	return uboot_change(cfg, AGENT_OP_GOOD, slot, m);
}

static ward_err uboot_mark_bad(const struct agent_config *cfg, int slot, struct ward_msg *m)
{
	return uboot_change(cfg, AGENT_OP_BAD, slot, m);
}

static ward_err uboot_query(const struct agent_config *cfg, struct agent_boot_state *out,
                            struct ward_msg *m)
{
	struct agent_uvars u;
	char where[AGENT_PATH_MAX + 32];
	ward_err e = read_vars(cfg, &u, m);

	if (e)
		return e;
	if (ward_snprintf(where, sizeof(where), "U-Boot environment (%s)", cfg->fw_env_config))
		where[0] = '\0';
	return agent_uvars_state(&u, out, where, m);
}

const struct agent_boot_ops agent_boot_uboot = {
    .name = "uboot",
    .try_once = uboot_try_once,
    .mark_good = uboot_mark_good,
    .mark_bad = uboot_mark_bad,
    .query = uboot_query,
};
