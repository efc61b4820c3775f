/*
 * agent/boot.c — what the bootloader backends share: choosing a backend,
 * reading which slot booted from the kernel command line, running a
 * bootloader tool, and the U-Boot variables (used by boot_uboot.c and, in a
 * key=value file, by boot_file.c).
 *
 * Invariants: every tool is run with fork/execvp, never a shell, with stdin
 * on /dev/null, a 30 s deadline, at most AGENT_BOOT_OUT_MAX bytes of its
 * stdout kept and the first line of its stderr quoted in messages. Every
 * input (the command line file, a tool's output, an environment value) has a
 * fixed maximum size and is parsed strictly; anything unexpected is an error
 * that names the file or tool, never a guess.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "ward/buf.h"

#include "boot_priv.h"

#define CMDLINE_MAX     4096 /* /proc/cmdline is at most COMMAND_LINE_SIZE (4 KiB on most arches) */
#define TOOL_TIMEOUT_MS 30000 /* a bootloader tool that runs longer is killed */
#define ERRLINE_MAX     160   /* bytes of a tool's first stderr line quoted in messages */

const struct agent_boot_ops *agent_boot_ops(const struct agent_config *cfg)
{
	switch (cfg->backend) {
	case AGENT_BOOT_UBOOT:
		return &agent_boot_uboot;
	case AGENT_BOOT_GRUB:
		return &agent_boot_grub;
	case AGENT_BOOT_FILE:
		return &agent_boot_file;
	}
	return NULL;
}

const char *agent_slot_name(int slot)
{
	return slot == 0 ? "A" : slot == 1 ? "B" : "?";
}

int agent_boot_slot_parse(const char *s, size_t n)
{
	if (n == 1 && s[0] == 'A')
		return 0;
	if (n == 1 && s[0] == 'B')
		return 1;
	return -1;
}

ward_err agent_boot_check_slot(int slot, struct ward_msg *m)
{
	if (slot != 0 && slot != 1)
		return ward_msg_set(m, WARD_E_INVAL, "slot %d is neither 0 (A) nor 1 (B)", slot);
	return WARD_OK;
}

/* ---- which slot booted -------------------------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Split the command line into words the way the kernel does (lib/cmdline.c,
 * next_arg): whitespace separates words except inside double quotes, so
 * `foo="x ward.slot=B"` is one word and does not name a slot. A bare "--"
 * ends the kernel's parameters (what follows goes to init), so it ends ours.
 */
ward_err agent_boot_booted(const struct agent_config *cfg, int *slot, struct ward_msg *m)
{
	static const char key[] = "ward.slot=";
	struct ward_buf b;
	const char *p, *end;
	int found = -1;
	ward_err e;

	e = ward_file_read(cfg->booted_from, CMDLINE_MAX, &b, m);
	if (e == WARD_E_NOTFOUND)
		return ward_msg_prefix(m, WARD_E_IO, "booted_from: ");
	if (e)
		return e;
	if (memchr(b.p, '\0', b.len)) {
		e = ward_msg_set(m, WARD_E_PARSE,
		                 "%s: contains a NUL byte; not a kernel command line",
		                 cfg->booted_from);
		goto out;
	}
	p = (const char *)b.p;
	end = p + b.len;
	for (;;) {
		const char *w;
		bool quoted = false;

		while (p < end && is_space(*p))
			p++;
		if (p == end)
			break;
		w = p;
		while (p < end && (quoted || !is_space(*p))) {
			if (*p == '"')
				quoted = !quoted;
			p++;
		}
		if (p - w == 2 && w[0] == '-' && w[1] == '-')
			break;
		if ((size_t)(p - w) < sizeof(key) - 1 || memcmp(w, key, sizeof(key) - 1) != 0)
			continue;
		const char *v = w + sizeof(key) - 1;
		int s = agent_boot_slot_parse(v, (size_t)(p - v));

		if (s < 0) {
			e = ward_msg_set(
			    m, WARD_E_PARSE,
			    "%s: %.*s names no slot (expected ward.slot=A or ward.slot=B)",
			    cfg->booted_from, (int)((p - w) > 40 ? 40 : (p - w)), w);
			goto out;
		}
		if (found >= 0 && found != s) {
			e = ward_msg_set(
			    m, WARD_E_PARSE,
			    "%s: says both ward.slot=A and ward.slot=B; refusing to guess",
			    cfg->booted_from);
			goto out;
		}
		found = s;
	}
	if (found < 0) {
		e = ward_msg_set(
		    m, WARD_E_NOTFOUND,
		    "%s: no ward.slot=A|B word: the bootloader did not say which slot it "
		    "booted (install ward's boot script, see docs/wardd-boot.md)",
		    cfg->booted_from);
		goto out;
	}
	*slot = found;
	e = WARD_OK;
out:
	ward_buf_free(&b);
	return e;
}

/* ---- running a bootloader tool ----------------------------------------- */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int make_pipe(int p[2])
{
	if (pipe(p) != 0)
		return -1;
	if (fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0) {
		close_fd(&p[0]);
		close_fd(&p[1]);
		return -1;
	}
	return 0;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void child_fail(int fd, int err)
{
	ssize_t w = write(fd, &err, sizeof(err));

	(void)w;
	_exit(127);
}

static void child_exec(const char *const *argv, int out, int err, int report)
{
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* out, err and report are > 2 (agent_boot_run keeps 0..2 open) */
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		child_fail(report, errno);
	execvp(argv[0], (char *const *)argv);
	child_fail(report, errno);
}

/*
 * Run argv[0] (looked up in PATH) with argv, no shell. stdout (at most
 * AGENT_BOOT_OUT_MAX bytes) goes to *out, initialised here; the caller frees
 * it with ward_buf_free(); out may be NULL to discard it. Success means the
 * tool ran and exited 0. Otherwise m says which tool, how it ended (exit
 * status, signal, timeout, could not be run: NOTFOUND with package named)
 * and the first line of its stderr. The caller must not reap children with
 * waitpid(-1) concurrently (wardd does not).
 *
 *	const char *argv[] = {"fw_printenv", "-c", cfg, "ward_slot", NULL};
 *	e = agent_boot_run(argv, "libubootenv-tool", &out, m);
 */
ward_err agent_boot_run(const char *const *argv, const char *package, struct ward_buf *out,
                        struct ward_msg *m)
{
	int op[2] = {-1, -1}, ep[2] = {-1, -1}, xp[2] = {-1, -1};
	struct ward_buf so;
	char errline[ERRLINE_MAX];
	size_t errlen = 0;
	bool errdone = false, toobig = false, nomem = false, timed_out = false;
	unsigned char xbuf[sizeof(int)];
	size_t xgot = 0;
	pid_t pid = -1;
	int status = 0, fd;
	long deadline;
	ward_err e = WARD_E_IO;

	ward_buf_init(&so, AGENT_BOOT_OUT_MAX);
	/* make sure descriptors 0..2 are taken, so no pipe end lands on them */
	while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 && fd <= 2)
		if (fcntl(fd, F_SETFD, 0) != 0)
			break;
	if (fd > 2)
		close(fd);
	if (make_pipe(op) || make_pipe(ep) || make_pipe(xp)) {
		e = ward_msg_set(m, WARD_E_IO, "cannot run %s: pipe: %s", argv[0], strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		e = ward_msg_set(m, WARD_E_IO, "cannot run %s: fork: %s", argv[0], strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(argv, op[1], ep[1], xp[1]);
	close_fd(&op[1]);
	close_fd(&ep[1]);
	close_fd(&xp[1]);

	deadline = now_ms() + TOOL_TIMEOUT_MS;
	while (op[0] >= 0 || ep[0] >= 0 || xp[0] >= 0) {
		struct pollfd pf[3] = {{op[0], POLLIN, 0}, {ep[0], POLLIN, 0}, {xp[0], POLLIN, 0}};
		long left = deadline - now_ms();
		int n;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		n = poll(pf, 3, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = ward_msg_set(m, WARD_E_IO, "%s: poll: %s", argv[0], strerror(errno));
			kill(pid, SIGKILL);
			goto reap;
		}
		for (int i = 0; i < 3; i++) {
			char buf[1024];
			int *pfd = i == 0 ? &op[0] : i == 1 ? &ep[0] : &xp[0];
			ssize_t r;

			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			r = read(*pfd, buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				close_fd(pfd);
				continue;
			}
			if (i == 0 && !toobig && !nomem) {
				ward_err a = ward_buf_append(&so, buf, (size_t)r);

				toobig = a == WARD_E_TOOBIG;
				nomem = a == WARD_E_NOMEM;
			} else if (i == 1) {
				for (ssize_t k = 0; k < r && !errdone; k++) {
					if (buf[k] == '\n' || errlen == sizeof(errline) - 1)
						errdone = true;
					else
						errline[errlen++] = buf[k];
				}
			} else if (i == 2) {
				for (ssize_t k = 0; k < r && xgot < sizeof(xbuf); k++)
					xbuf[xgot++] = (unsigned char)buf[k];
			}
		}
	}
	/* the pipes are closed (or time is up); wait for the exit until the deadline */
	while (!timed_out) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			pid = -1;
			break;
		}
		if (w < 0 && errno != EINTR) {
			e = ward_msg_set(m, WARD_E_IO, "%s: waitpid: %s", argv[0], strerror(errno));
			pid = -1;
			goto out;
		}
		if (now_ms() >= deadline) {
			timed_out = true;
			break;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (timed_out) {
		kill(pid, SIGKILL);
		e = ward_msg_set(m, WARD_E_IO, "%s did not finish within %d s and was killed",
		                 argv[0], TOOL_TIMEOUT_MS / 1000);
		goto reap;
	}
	errline[errlen] = '\0';
	if (xgot == sizeof(int)) {
		int err;

		memcpy(&err, xbuf, sizeof(err));
		e = ward_msg_set(m, err == ENOENT ? WARD_E_NOTFOUND : WARD_E_IO,
		                 "cannot run %s: %s%s%s%s", argv[0], strerror(err),
		                 err == ENOENT ? " (is " : "", err == ENOENT ? package : "",
		                 err == ENOENT ? " installed and in PATH?)" : "");
		goto out;
	}
	if (WIFSIGNALED(status)) {
		e = ward_msg_set(m, WARD_E_IO, "%s was killed by signal %d%s%s", argv[0],
		                 WTERMSIG(status), errlen ? ": " : "", errline);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s exited with status %d: %s", argv[0],
		                 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		                 errlen ? errline : "(nothing on stderr)");
		goto out;
	}
	if (nomem) {
		e = ward_msg_set(m, WARD_E_NOMEM, "%s: out of memory reading its output", argv[0]);
		goto out;
	}
	if (toobig) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "%s printed more than %d bytes; refusing it",
		                 argv[0], AGENT_BOOT_OUT_MAX);
		goto out;
	}
	if (!so.p && ward_buf_append(&so, "", 0) != WARD_OK) {
		e = ward_msg_set(m, WARD_E_NOMEM, "%s: out of memory", argv[0]);
		goto out;
	}
	if (out) {
		*out = so;
		ward_buf_init(&so, 0);
	}
	e = WARD_OK;
	goto out;
reap:
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
out:
	close_fd(&op[0]);
	close_fd(&op[1]);
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	close_fd(&xp[0]);
	close_fd(&xp[1]);
	ward_buf_free(&so);
	return e;
}

/* ---- the U-Boot variables ------------------------------------------------ */

const char *const agent_uvar_names[AGENT_UV_N] = {
    "ward_slot", "ward_good", "upgrade_available", "bootcount", "bootlimit",
};

int agent_uvar_lookup(const char *name, size_t n)
{
	for (int i = 0; i < AGENT_UV_N; i++)
		if (strlen(agent_uvar_names[i]) == n && memcmp(agent_uvar_names[i], name, n) == 0)
			return i;
	return -1;
}

/*
 * Set variable i of u from its text value. An empty value is an unset
 * variable (U-Boot deletes a variable set to ""), which takes its default:
 * slot A, no trial, counters 0. Anything else must be exactly what wardd
 * writes: A|B, 0|1, or a decimal number up to AGENT_UV_NUM_MAX.
 */
ward_err agent_uvars_parse(struct agent_uvars *u, int i, const char *value, const char *where,
                           struct ward_msg *m)
{
	uint64_t n;
	int s;

	if (i < 0 || i >= AGENT_UV_N)
		return ward_msg_set(m, WARD_E_INVAL, "%s: no such variable", where);
	if (!*value) {
		u->v[i] = 0;
		return WARD_OK;
	}
	switch ((enum agent_uvar)i) {
	case AGENT_UV_SLOT:
	case AGENT_UV_GOOD:
		s = agent_boot_slot_parse(value, strlen(value));
		if (s < 0)
			break;
		u->v[i] = (unsigned)s;
		return WARD_OK;
	case AGENT_UV_UPGRADE:
		if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
			break;
		u->v[i] = value[0] == '1';
		return WARD_OK;
	case AGENT_UV_COUNT:
	case AGENT_UV_LIMIT:
		if (ward_parse_u64(value, &n) != WARD_OK || n > AGENT_UV_NUM_MAX)
			break;
		u->v[i] = (unsigned)n;
		return WARD_OK;
	case AGENT_UV_N:
		break;
	}
	return ward_msg_set(m, WARD_E_PARSE,
	                    "%s: %s=%.40s is not a value wardd writes (expected %s)", where,
	                    agent_uvar_names[i], value,
	                    i <= AGENT_UV_GOOD      ? "A or B"
	                    : i == AGENT_UV_UPGRADE ? "0 or 1"
	                                            : "a decimal count");
}

/*
 * Apply one operation to u; *mask gets the bit (1 << i) of each variable the
 * operation sets. Those are the variables written in one atomic update:
 *   try_once(X):  ward_slot=X upgrade_available=1 bootcount=0 bootlimit=max_attempts
 *   mark_good(X): ward_slot=X ward_good=X upgrade_available=0 bootcount=0
 *   mark_bad(X):  ward_slot=Y ward_good=Y upgrade_available=0 bootcount=0 (Y the other)
 */
ward_err agent_uvars_apply(struct agent_uvars *u, unsigned *mask, const struct agent_config *cfg,
                           enum agent_boot_op op, int slot, struct ward_msg *m)
{
	ward_err e = agent_boot_check_slot(slot, m);

	if (e)
		return e;
	switch (op) {
	case AGENT_OP_TRY:
		if (cfg->max_attempts < 1 || cfg->max_attempts > 10)
			return ward_msg_set(
			    m, WARD_E_INVAL,
			    "max_attempts = %u is outside 1..10; not starting a trial",
			    cfg->max_attempts);
		u->v[AGENT_UV_SLOT] = (unsigned)slot;
		u->v[AGENT_UV_UPGRADE] = 1;
		u->v[AGENT_UV_COUNT] = 0;
		u->v[AGENT_UV_LIMIT] = cfg->max_attempts;
		*mask = 1u << AGENT_UV_SLOT | 1u << AGENT_UV_UPGRADE | 1u << AGENT_UV_COUNT |
		        1u << AGENT_UV_LIMIT;
		return WARD_OK;
	case AGENT_OP_GOOD:
	case AGENT_OP_BAD:
		if (op == AGENT_OP_BAD)
			slot = !slot;
		u->v[AGENT_UV_SLOT] = (unsigned)slot;
		u->v[AGENT_UV_GOOD] = (unsigned)slot;
		u->v[AGENT_UV_UPGRADE] = 0;
		u->v[AGENT_UV_COUNT] = 0;
		*mask = 1u << AGENT_UV_SLOT | 1u << AGENT_UV_GOOD | 1u << AGENT_UV_UPGRADE |
		        1u << AGENT_UV_COUNT;
		return WARD_OK;
	}
	return ward_msg_set(m, WARD_E_INVAL, "unknown boot operation %d", (int)op);
}

/* "name=value\n" for each variable in mask, in agent_uvar_names order, into *out (initialised
 * here). */
ward_err agent_uvars_format(const struct agent_uvars *u, unsigned mask, struct ward_buf *out,
                            struct ward_msg *m)
{
	ward_err e = WARD_OK;

	ward_buf_init(out, 1024);
	for (int i = 0; i < AGENT_UV_N && !e; i++) {
		if (!(mask & 1u << i))
			continue;
		if (i <= AGENT_UV_GOOD)
			e = ward_buf_printf(out, "%s=%s\n", agent_uvar_names[i],
			                    agent_slot_name((int)u->v[i]));
		else
			e = ward_buf_printf(out, "%s=%u\n", agent_uvar_names[i], u->v[i]);
	}
	if (e) {
		ward_buf_free(out);
		return ward_msg_set(m, e, "formatting the boot variables: %s", ward_err_name(e));
	}
	return WARD_OK;
}

/*
 * What U-Boot will do, as struct agent_boot_state. With upgrade_available=1,
 * U-Boot adds 1 to bootcount on each boot and runs altbootcmd (boot
 * ward_good) once bootcount > bootlimit; bootlimit 0 means no limit, so a
 * trial with bootlimit 0 would never fall back: that is refused as an error.
 */
ward_err agent_uvars_state(const struct agent_uvars *u, struct agent_boot_state *out,
                           const char *where, struct ward_msg *m)
{
	struct agent_boot_state st = {0};
	unsigned count = u->v[AGENT_UV_COUNT], limit = u->v[AGENT_UV_LIMIT];

	st.good = (int)u->v[AGENT_UV_GOOD];
	st.next = (int)u->v[AGENT_UV_SLOT];
	st.trial = -1;
	st.attempts_left = 0;
	if (u->v[AGENT_UV_UPGRADE]) {
		if (limit == 0)
			return ward_msg_set(m, WARD_E_PARSE,
			                    "%s: upgrade_available=1 but bootlimit is 0 or unset: "
			                    "U-Boot would never fall back to ward_good",
			                    where);
		st.trial = (int)u->v[AGENT_UV_SLOT];
		st.attempts_left = count < limit ? limit - count : 0;
		if (st.attempts_left == 0)
			st.next = st.good;
	}
	*out = st;
	return WARD_OK;
}
