/*
 * agent/boot_grub.c — the GRUB backend, through the real grub-editenv
 * (Debian: grub-common) on cfg->grubenv. Variables: saved_entry (the default
 * slot, A|B), next_entry (a one-shot slot: ward's grub.cfg boots it once and
 * clears it with save_env, see docs/wardd-boot.md) and ward_trial (the slot on
 * trial, which GRUB ignores, so that wardd still knows a trial is pending
 * after GRUB cleared next_entry). An empty or absent variable is unset (GRUB
 * clears next_entry by saving it empty); an absent grubenv is all unset,
 * which GRUB boots as slot A; so is an empty one.
 *
 * Atomicity: grub-editenv does NOT replace the file atomically. `set` and
 * `unset` open FILE with O_TRUNC and write the 1 KiB block back in place
 * (then fsync), so a power cut between the truncation and the data reaching
 * the disk can leave an empty or short grubenv; GRUB then fails load_env and
 * boots its default, which may be the slot being tried, now with nothing to
 * fall back from. So wardd never lets grub-editenv touch the live file: it
 * copies grubenv to a temporary file in the same directory, runs grub-editenv
 * set/unset on the copy (as many invocations as the change needs), checks
 * the copy with `grub-editenv list`, fsyncs it and renames it over grubenv,
 * then fsyncs the directory: one atomic replacement, old block or new block.
 * (GRUB finds the file's sectors again on every boot, so a new inode is fine.)
 *
 * Reads parse `grub-editenv FILE list` (bounded, strict): every line is
 * name=value; a line without '=' (a multi-line value of some variable) or a
 * ward variable listed twice is an error, not a guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot.h"
#include "ward/buf.h"

#include "boot_priv.h"

#define PACKAGE     "grub-common"
#define GRUBENV_MAX 65536 /* GRUB's block is 1 KiB; larger files are refused */

enum { GV_SAVED, GV_NEXT, GV_TRIAL, GV_N };
static const char *const gv_names[GV_N] = {"saved_entry", "next_entry", "ward_trial"};

struct grub_vars {
	int v[GV_N]; /* slot 0/1 of saved_entry, next_entry, ward_trial; -1 = unset or empty */
};

static ward_err check_cfg(const struct agent_config *cfg, struct ward_msg *m)
{
	if (!cfg->grubenv[0] || cfg->grubenv[0] == '-')
		return ward_msg_set(m, WARD_E_INVAL,
		                    "[bootloader] grubenv = '%s' is not a file path", cfg->grubenv);
	return WARD_OK;
}

/* Parse `grub-editenv FILE list` output (where names FILE) into *g. */
static ward_err parse_list(const char *where, const struct ward_buf *out, struct grub_vars *g,
                           struct ward_msg *m)
{
	struct grub_vars got = {{-1, -1, -1}};
	unsigned seen = 0;
	const char *p = (const char *)out->p, *end = p + out->len;

	if (memchr(p, '\0', out->len))
		return ward_msg_set(m, WARD_E_PARSE, "%s: grub-editenv list printed a NUL byte",
		                    where);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eq;

		if (!nl)
			return ward_msg_set(m, WARD_E_PARSE, "%s: grub-editenv list output is cut",
			                    where);
		eq = memchr(p, '=', (size_t)(nl - p));
		if (!eq || eq == p)
			return ward_msg_set(
			    m, WARD_E_PARSE,
			    "%s: line '%.*s' is not name=value (a value spanning "
			    "lines?); wardd cannot read this environment unambiguously",
			    where, (int)(nl - p > 40 ? 40 : nl - p), p);
		for (int i = 0; i < GV_N; i++) {
			size_t n = strlen(gv_names[i]);
			size_t vlen = (size_t)(nl - eq - 1);

			if ((size_t)(eq - p) != n || memcmp(p, gv_names[i], n) != 0)
				continue;
			if (seen & 1u << i)
				return ward_msg_set(m, WARD_E_PARSE, "%s: %s is listed twice",
				                    where, gv_names[i]);
			seen |= 1u << i;
			if (vlen == 0)
				break; /* empty is unset: GRUB clears next_entry this way */
			got.v[i] = agent_boot_slot_parse(eq + 1, vlen);
			if (got.v[i] < 0)
				return ward_msg_set(
				    m, WARD_E_PARSE, "%s: %s=%.*s is not a ward slot (A or B)",
				    where, gv_names[i], (int)(vlen > 40 ? 40 : vlen), eq + 1);
		}
		p = nl + 1;
	}
	*g = got;
	return WARD_OK;
}

static ward_err list_vars(const char *path, struct grub_vars *g, struct ward_msg *m)
{
	const char *argv[] = {"grub-editenv", path, "list", NULL};
	struct ward_buf out;
	ward_err e;

	e = agent_boot_run(argv, PACKAGE, &out, m);
	if (e)
		return ward_msg_prefix(m, e, "reading %s: ", path);
	e = parse_list(path, &out, g, m);
	ward_buf_free(&out);
	return e;
}

/* The file grub-editenv should edit: grubenv itself, or where it links to. */
static ward_err resolve(const struct agent_config *cfg, char *path, size_t n, bool *exists,
                        struct ward_msg *m)
{
	struct stat st;

	if (lstat(cfg->grubenv, &st) != 0) {
		if (errno != ENOENT)
			return ward_msg_set(m, WARD_E_IO, "%s: %s", cfg->grubenv, strerror(errno));
		*exists = false;
		return ward_snprintf(path, n, "%s", cfg->grubenv)
		           ? ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", cfg->grubenv)
		           : WARD_OK;
	}
	*exists = true;
	if (S_ISLNK(st.st_mode)) {
		char real[PATH_MAX];

		if (!realpath(cfg->grubenv, real))
			return ward_msg_set(m, WARD_E_IO, "%s: %s", cfg->grubenv, strerror(errno));
		if (ward_snprintf(path, n, "%s", real))
			return ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", real);
		if (stat(path, &st) != 0)
			return ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
	} else if (ward_snprintf(path, n, "%s", cfg->grubenv)) {
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", cfg->grubenv);
	}
	if (!S_ISREG(st.st_mode))
		return ward_msg_set(m, WARD_E_INVAL, "%s: not a regular file", path);
	/*
	 * An empty grubenv is what an in-place grub-editenv write cut by power
	 * leaves; GRUB's `[ -s grubenv ]` skips it and boots slot A: it is as
	 * good as missing, and is recreated on the next change.
	 */
	if (st.st_size == 0)
		*exists = false;
	return WARD_OK;
}

/* Copy the live grubenv's bytes into the open temporary file fd, with its mode. */
static ward_err copy_into(const char *path, int fd, struct ward_msg *m)
{
	struct ward_buf b;
	struct stat st;
	size_t off = 0;
	ward_err e;

	e = ward_file_read(path, GRUBENV_MAX, &b, m);
	if (e)
		return e;
	if (stat(path, &st) != 0 || fchmod(fd, st.st_mode & 0777) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	while (off < b.len) {
		ssize_t w = write(fd, b.p + off, b.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			e = ward_msg_set(m, WARD_E_IO, "copy of %s: write: %s", path,
			                 strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	e = WARD_OK;
out:
	ward_buf_free(&b);
	return e;
}

static ward_err fsync_path(const char *path, struct ward_msg *m)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ward_err e = WARD_OK;

	if (fd < 0)
		return ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
	if (fsync(fd) != 0)
		e = ward_msg_set(m, WARD_E_IO, "%s: fsync: %s", path, strerror(errno));
	close(fd);
	return e;
}

/*
 * One change: set next_entry/ward_trial (try), or set saved_entry and unset
 * next_entry ward_trial (good, bad), on a copy that then replaces grubenv.
 */
static ward_err grub_change(const struct agent_config *cfg, bool trial, int slot,
                            struct ward_msg *m)
{
	char path[AGENT_PATH_MAX], tmp[AGENT_PATH_MAX + 16], tmpnew[AGENT_PATH_MAX + 32];
	char set1[32], set2[32];
	struct grub_vars want = {{-1, -1, -1}}, got;
	bool exists = false, made = false;
	int fd;
	ward_err e;

	e = agent_boot_check_slot(slot, m);
	if (!e)
		e = check_cfg(cfg, m);
	if (!e)
		e = resolve(cfg, path, sizeof(path), &exists, m);
	if (e)
		return e;
	if (ward_snprintf(tmp, sizeof(tmp), "%s.ward.XXXXXX", path))
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return ward_msg_set(m, WARD_E_IO, "%s: cannot create a temporary copy: %s", path,
		                    strerror(errno));
	made = true;
	if (ward_snprintf(tmpnew, sizeof(tmpnew), "%s.new", tmp)) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", tmp);
		close(fd);
		goto out;
	}
	if (exists) {
		e = copy_into(path, fd, m);
		if (close(fd) != 0 && !e)
			e = ward_msg_set(m, WARD_E_IO, "%s: close: %s", tmp, strerror(errno));
		if (e)
			goto out;
	} else {
		const char *argv[] = {"grub-editenv", tmp, "create", NULL};

		close(fd);
		/* create writes tmp.new and renames it over tmp */
		e = agent_boot_run(argv, PACKAGE, NULL, m);
		if (!e && chmod(tmp, 0644) != 0)
			e = ward_msg_set(m, WARD_E_IO, "%s: chmod: %s", tmp, strerror(errno));
		if (e) {
			e = ward_msg_prefix(m, e, "creating %s: ", path);
			goto out;
		}
	}
	if (trial) {
		const char *argv[] = {"grub-editenv", tmp, "set", set1, set2, NULL};

		want.v[GV_NEXT] = want.v[GV_TRIAL] = slot;
		if (ward_snprintf(set1, sizeof(set1), "next_entry=%s", agent_slot_name(slot)) ||
		    ward_snprintf(set2, sizeof(set2), "ward_trial=%s", agent_slot_name(slot))) {
			e = ward_msg_set(m, WARD_E_TOOBIG, "internal: variable too long");
			goto out;
		}
		e = agent_boot_run(argv, PACKAGE, NULL, m);
	} else {
		const char *argv1[] = {"grub-editenv", tmp, "set", set1, NULL};
		const char *argv2[] = {"grub-editenv", tmp,          "unset",
		                       "next_entry",   "ward_trial", NULL};

		want.v[GV_SAVED] = slot;
		if (ward_snprintf(set1, sizeof(set1), "saved_entry=%s", agent_slot_name(slot))) {
			e = ward_msg_set(m, WARD_E_TOOBIG, "internal: variable too long");
			goto out;
		}
		e = agent_boot_run(argv1, PACKAGE, NULL, m);
		if (!e)
			e = agent_boot_run(argv2, PACKAGE, NULL, m);
	}
	if (e) {
		e = ward_msg_prefix(m, e, "editing a copy of %s: ", path);
		goto out;
	}
	e = list_vars(tmp, &got, m);
	if (e)
		goto out;
	for (int i = 0; i < GV_N; i++) {
		/* try_once leaves saved_entry as it was */
		if (trial && i == GV_SAVED)
			continue;
		if (got.v[i] != want.v[i]) {
			e = ward_msg_set(
			    m, WARD_E_IO,
			    "grub-editenv exited 0 but the copy of %s does not hold the "
			    "new %s; %s left unchanged",
			    path, gv_names[i], path);
			goto out;
		}
	}
	e = fsync_path(tmp, m);
	if (e)
		goto out;
	if (rename(tmp, path) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s: rename: %s", path, strerror(errno));
		goto out;
	}
	made = false;
	e = ward_fsync_parent(path, m);
out:
	if (made) {
		unlink(tmp);
		unlink(tmpnew);
	}
	return e;
}

static ward_err grub_try_once(const struct agent_config *cfg, int slot, struct ward_msg *m)
{
	return grub_change(cfg, true, slot, m);
}

static ward_err grub_mark_good(const struct agent_config *cfg, int slot, struct ward_msg *m)
{
	return grub_change(cfg, false, slot, m);
}

static ward_err grub_mark_bad(const struct agent_config *cfg, int slot, struct ward_msg *m)
{
	ward_err e = agent_boot_check_slot(slot, m);

	return e ? e : grub_change(cfg, false, !slot, m);
}

/*
 * good = saved_entry (A when unset), next = next_entry if set else good,
 * trial = ward_trial or -1, attempts_left = 1 while next_entry is set:
 * GRUB has no boot counter here, a trial slot is booted once.
 */
static ward_err grub_query(const struct agent_config *cfg, struct agent_boot_state *out,
                           struct ward_msg *m)
{
	struct grub_vars g = {{-1, -1, -1}};
	struct agent_boot_state st;
	char path[AGENT_PATH_MAX];
	bool exists = false;
	ward_err e;

	e = check_cfg(cfg, m);
	if (!e)
		e = resolve(cfg, path, sizeof(path), &exists, m);
	/* never run `list` on a missing file: grub-editenv would create it */
	if (!e && exists)
		e = list_vars(path, &g, m);
	if (e)
		return e;
	st.good = g.v[GV_SAVED] >= 0 ? g.v[GV_SAVED] : 0;
	st.next = g.v[GV_NEXT] >= 0 ? g.v[GV_NEXT] : st.good;
	st.trial = g.v[GV_TRIAL];
	st.attempts_left = g.v[GV_NEXT] >= 0 ? 1 : 0;
	*out = st;
	return WARD_OK;
}

const struct agent_boot_ops agent_boot_grub = {
    .name = "grub",
    .try_once = grub_try_once,
    .mark_good = grub_mark_good,
    .mark_bad = grub_mark_bad,
    .query = grub_query,
};
