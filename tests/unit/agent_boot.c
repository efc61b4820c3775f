/*
 * tests/unit/agent_boot.c — unit tests of wardd's bootloader backends
 * (agent/boot.c, boot_uboot.c, boot_grub.c, boot_file.c) against the real
 * fw_printenv/fw_setenv (libubootenv-tool) and grub-editenv (grub-common).
 *
 * Every contract line of agent/boot.h is checked for each backend: try_once
 * then query, mark_good, mark_bad, fresh/missing/corrupt environments, bad
 * arguments, a missing tool. Then each backend is driven through whole boot
 * cycles with the boot simulator (tests/system/bootsim.py, run with
 * /usr/bin/python3), which plays the bootloader and writes the kernel command
 * line that agent_boot_booted() reads: what wardd writes must make the
 * bootloader do what wardd's query says it will. Tool failures (non-zero
 * exit, a signal, too much output, a tool that exits 0 without storing) use
 * the real tools where they can misbehave (a read-only .flags entry) and
 * tiny fake tools in a private PATH otherwise. Each test has its own
 * temporary directory; U-Boot environments are built here (CRC32, flags byte)
 * independently of the code under test, always with two copies.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot.h"
#include "config.h"
#include "ward/buf.h"
#include "ward/err.h"

extern char **environ;

#ifndef WARD_FIXTURES
#error "WARD_FIXTURES must name tests/unit/fixtures"
#endif
#define BOOTSIM  WARD_FIXTURES "/../../system/bootsim.py"
#define PYTHON   "/usr/bin/python3"
#define ENV_SIZE 0x4000

/* ---- fixture ----------------------------------------------------------- */

struct fx {
	char dir[PATH_MAX];      /* this test's directory, removed by teardown */
	char saved_path[8192];   /* PATH before a test replaced it */
	bool path_replaced;      /* restore saved_path in teardown */
	struct agent_config cfg; /* paths inside dir, max_attempts 3 */
};

static void rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;

		if (d) {
			while ((de = readdir(d)) != NULL) {
				char sub[PATH_MAX];

				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) <
				    (int)sizeof(sub))
					rm_rf(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void in_dir(const struct fx *f, const char *name, char *out, size_t n)
{
	assert_int_equal(ward_snprintf(out, n, "%s/%s", f->dir, name), WARD_OK);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *base = getenv("TMPDIR");

	if (!f)
		return -1;
	if (snprintf(f->dir, sizeof(f->dir), "%s/ward-unit-boot-XXXXXX", base ? base : "/tmp") >=
	        (int)sizeof(f->dir) ||
	    !mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	in_dir(f, "cmdline", f->cfg.booted_from, sizeof(f->cfg.booted_from));
	in_dir(f, "fw_env.config", f->cfg.fw_env_config, sizeof(f->cfg.fw_env_config));
	in_dir(f, "grubenv", f->cfg.grubenv, sizeof(f->cfg.grubenv));
	in_dir(f, "boot.env", f->cfg.env_file, sizeof(f->cfg.env_file));
	f->cfg.max_attempts = 3;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f->path_replaced)
		setenv("PATH", f->saved_path, 1);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void put_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	if (len)
		assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void put_text(const char *path, const char *text)
{
	put_file(path, text, strlen(text));
}

/* Whole file (test side, independent of ward_file_read) into buf; returns its length. */
static size_t get_file(const char *path, char *buf, size_t n)
{
	FILE *fp = fopen(path, "rb");
	size_t r;

	assert_non_null(fp);
	r = fread(buf, 1, n - 1, fp);
	fclose(fp);
	buf[r] = '\0';
	return r;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

#define expect_ok(e, m)                                                                            \
	do {                                                                                       \
		ward_err e_ = (e);                                                                 \
		if (e_ != WARD_OK) {                                                               \
			print_error("%s:%d: %s: %s\n", __FILE__, __LINE__, ward_err_name(e_),      \
			            (m).text);                                                     \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

static void expect_msg(const struct ward_msg *m, const char *needle)
{
	if (!strstr(m->text, needle)) {
		print_error("message '%s' does not contain '%s'\n", m->text, needle);
		fail();
	}
}

static const struct agent_boot_ops *ops_for(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops;

	f->cfg.backend = b;
	ops = agent_boot_ops(&f->cfg);
	assert_non_null(ops);
	return ops;
}

/* ---- U-Boot environments, built independently of libubootenv ---------- */

static uint32_t crc32_le(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
	}
	return ~c;
}

/*
 * One copy: CRC32 (LE) of the data, the flags byte (redundant environments
 * only, flags > 0), then "k=v\0"... "\0", zero padded.
 */
static void put_uboot_copy(const char *path, const char *const *kv, uint8_t flags)
{
	static uint8_t img[ENV_SIZE];
	size_t data = flags ? 5 : 4, off = data;
	uint32_t crc;

	memset(img, 0, sizeof(img));
	for (; kv && *kv; kv++) {
		size_t n = strlen(*kv) + 1;

		assert_true(off + n < sizeof(img));
		memcpy(img + off, *kv, n);
		off += n;
	}
	if (flags)
		img[4] = flags;
	crc = crc32_le(img + data, sizeof(img) - data);
	memcpy(img, &crc, 4); /* x86: little-endian, as U-Boot stores it there */
	put_file(path, img, sizeof(img));
}

static void put_erased(const char *path)
{
	static uint8_t img[ENV_SIZE];

	memset(img, 0xff, sizeof(img));
	put_file(path, img, sizeof(img));
}

/* fw_env.config with `copies` copies; copy 0 holds kv (NULL: ward_slot=A ward_good=A). */
static void uboot_env(struct fx *f, const char *const *kv, int copies)
{
	static const char *const def[] = {"ward_good=A", "ward_slot=A", NULL};
	char e0[PATH_MAX], e1[PATH_MAX], cfg[3 * PATH_MAX];

	in_dir(f, "env0", e0, sizeof(e0));
	in_dir(f, "env1", e1, sizeof(e1));
	put_uboot_copy(e0, kv ? kv : def, copies == 2 ? 1 : 0);
	put_erased(e1);
	if (copies == 2)
		assert_int_equal(ward_snprintf(cfg, sizeof(cfg),
		                               "# two copies\n%s 0x0 0x%x\n%s 0x0 0x%x\n", e0,
		                               ENV_SIZE, e1, ENV_SIZE),
		                 WARD_OK);
	else
		assert_int_equal(ward_snprintf(cfg, sizeof(cfg), "%s 0x0 0x%x\n", e0, ENV_SIZE),
		                 WARD_OK);
	put_text(f->cfg.fw_env_config, cfg);
}

static void uboot_corrupt(struct fx *f)
{
	char e[PATH_MAX];
	static uint8_t junk[ENV_SIZE];

	memset(junk, 0x5a, sizeof(junk));
	in_dir(f, "env0", e, sizeof(e));
	put_file(e, junk, sizeof(junk));
	in_dir(f, "env1", e, sizeof(e));
	put_file(e, junk, sizeof(junk));
}

/* ---- fresh and corrupt environments per backend -------------------------- */

static void fresh(struct fx *f, enum agent_backend b)
{
	switch (b) {
	case AGENT_BOOT_UBOOT:
		uboot_env(f, NULL, 2);
		break;
	case AGENT_BOOT_GRUB: /* no grubenv yet: the backend creates it */
	case AGENT_BOOT_FILE: /* no file yet: defaults */
		break;
	}
}

static void corrupt(struct fx *f, enum agent_backend b)
{
	static char junk[1024];

	switch (b) {
	case AGENT_BOOT_UBOOT:
		uboot_env(f, NULL, 2);
		uboot_corrupt(f);
		break;
	case AGENT_BOOT_GRUB:
		memset(junk, 'x', sizeof(junk));
		put_file(f->cfg.grubenv, junk, sizeof(junk));
		break;
	case AGENT_BOOT_FILE:
		put_text(f->cfg.env_file, "this is not an environment\n");
		break;
	}
}

static struct agent_boot_state query(struct fx *f, const struct agent_boot_ops *ops)
{
	struct agent_boot_state st = {-2, -2, -2, 999};
	struct ward_msg m = {0};

	expect_ok(ops->query(&f->cfg, &st, &m), m);
	return st;
}

static void expect_state(struct agent_boot_state st, int good, int next, int trial,
                         unsigned attempts)
{
	if (st.good != good || st.next != next || st.trial != trial ||
	    st.attempts_left != attempts) {
		print_error("state good=%d next=%d trial=%d attempts_left=%u, expected "
		            "%d/%d/%d/%u\n",
		            st.good, st.next, st.trial, st.attempts_left, good, next, trial,
		            attempts);
		fail();
	}
}

/* attempts_left right after try_once */
static unsigned trial_attempts(const struct fx *f, enum agent_backend b)
{
	return b == AGENT_BOOT_GRUB ? 1 : f->cfg.max_attempts;
}

static void grub_set(struct fx *f, const char *vars);

/* ---- the contract, per backend --------------------------------------------- */

static void contract_fresh(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops = ops_for(f, b);

	fresh(f, b);
	expect_state(query(f, ops), 0, 0, -1, 0);
	if (b == AGENT_BOOT_GRUB)
		assert_false(exists(f->cfg.grubenv)); /* query never creates grubenv */
}

static void contract_try_once(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops = ops_for(f, b);
	struct ward_msg m = {0};

	fresh(f, b);
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	expect_state(query(f, ops), 0, 1, 1, trial_attempts(f, b));
	/* trying again is idempotent */
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	expect_state(query(f, ops), 0, 1, 1, trial_attempts(f, b));
}

static void contract_mark_good(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops = ops_for(f, b);
	struct ward_msg m = {0};

	fresh(f, b);
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	expect_ok(ops->mark_good(&f->cfg, 1, &m), m);
	expect_state(query(f, ops), 1, 1, -1, 0);
	/* and the next update goes back to A, then A is confirmed */
	expect_ok(ops->try_once(&f->cfg, 0, &m), m);
	expect_state(query(f, ops), 1, 0, 0, trial_attempts(f, b));
	expect_ok(ops->mark_good(&f->cfg, 0, &m), m);
	expect_state(query(f, ops), 0, 0, -1, 0);
}

static void contract_mark_bad(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops = ops_for(f, b);
	struct ward_msg m = {0};

	fresh(f, b);
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	expect_ok(ops->mark_bad(&f->cfg, 1, &m), m);
	expect_state(query(f, ops), 0, 0, -1, 0);
	/* from B good: a bad A goes back to B */
	expect_ok(ops->mark_good(&f->cfg, 1, &m), m);
	expect_ok(ops->try_once(&f->cfg, 0, &m), m);
	expect_ok(ops->mark_bad(&f->cfg, 0, &m), m);
	expect_state(query(f, ops), 1, 1, -1, 0);
}

static void contract_bad_args(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops = ops_for(f, b);
	struct ward_msg m = {0};

	fresh(f, b);
	assert_int_equal(ops->try_once(&f->cfg, 2, &m), WARD_E_INVAL);
	expect_msg(&m, "slot 2");
	assert_int_equal(ops->mark_good(&f->cfg, -1, &m), WARD_E_INVAL);
	assert_int_equal(ops->mark_bad(&f->cfg, 7, &m), WARD_E_INVAL);
	expect_state(query(f, ops), 0, 0, -1, 0);
	if (b != AGENT_BOOT_GRUB) {
		f->cfg.max_attempts = 0;
		assert_int_equal(ops->try_once(&f->cfg, 1, &m), WARD_E_INVAL);
		expect_msg(&m, "max_attempts");
		f->cfg.max_attempts = 11;
		assert_int_equal(ops->try_once(&f->cfg, 1, &m), WARD_E_INVAL);
		f->cfg.max_attempts = 3;
		expect_state(query(f, ops), 0, 0, -1, 0);
	}
}

/* A corrupt environment: clear errors, and nothing is written over it. */
static void contract_corrupt(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops = ops_for(f, b);
	struct agent_boot_state st = {-2, -2, -2, 999};
	char file[PATH_MAX];
	static char before[ENV_SIZE + 1], after[ENV_SIZE + 1];
	struct ward_msg m = {0};
	ward_err e;

	corrupt(f, b);
	if (b == AGENT_BOOT_UBOOT)
		in_dir(f, "env1", file, sizeof(file));
	else
		assert_int_equal(
		    ward_snprintf(file, sizeof(file), "%s",
		                  b == AGENT_BOOT_GRUB ? f->cfg.grubenv : f->cfg.env_file),
		    WARD_OK);
	get_file(file, before, sizeof(before));
	e = ops->query(&f->cfg, &st, &m);
	assert_int_not_equal(e, WARD_OK);
	assert_int_equal(st.good, -2); /* untouched on failure */
	if (b == AGENT_BOOT_UBOOT) {
		expect_msg(&m, "fw_printenv exited with status");
		expect_msg(&m, f->cfg.fw_env_config);
	} else {
		expect_msg(&m, file);
	}
	assert_int_not_equal(ops->try_once(&f->cfg, 1, &m), WARD_OK);
	assert_true(m.text[0] != '\0');
	assert_int_not_equal(ops->mark_good(&f->cfg, 0, &m), WARD_OK);
	get_file(file, after, sizeof(after));
	assert_string_equal(before, after); /* nothing was written over it */
	/* no temporary files are left behind */
	assert_int_equal(count_entries(f->dir), b == AGENT_BOOT_UBOOT ? 3 : 1);
}

/* A tool that cannot be found: a clear error naming the tool and its package. */
static void contract_tool_missing(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops = ops_for(f, b);
	struct agent_boot_state st;
	struct ward_msg m = {0};
	char empty[PATH_MAX];
	const char *p = getenv("PATH");

	if (b == AGENT_BOOT_FILE)
		return; /* runs no tool */
	fresh(f, b);
	if (b == AGENT_BOOT_GRUB)
		grub_set(f, ""); /* exists, so query runs the tool */
	in_dir(f, "empty-bin", empty, sizeof(empty));
	assert_int_equal(mkdir(empty, 0755), 0);
	assert_int_equal(ward_snprintf(f->saved_path, sizeof(f->saved_path), "%s", p ? p : ""),
	                 WARD_OK);
	f->path_replaced = true;
	setenv("PATH", empty, 1);
	assert_int_equal(ops->query(&f->cfg, &st, &m), WARD_E_NOTFOUND);
	expect_msg(&m,
	           b == AGENT_BOOT_UBOOT ? "cannot run fw_printenv" : "cannot run grub-editenv");
	expect_msg(&m, b == AGENT_BOOT_UBOOT ? "libubootenv-tool" : "grub-common");
	assert_int_equal(ops->try_once(&f->cfg, 1, &m), WARD_E_NOTFOUND);
	expect_msg(&m, b == AGENT_BOOT_UBOOT ? "cannot run fw_setenv" : "cannot run grub-editenv");
}

static int power_on(struct fx *f);

/*
 * An I/O error in the middle of a write (RLIMIT_FSIZE, inherited by the tools,
 * with SIGXFSZ ignored so write() fails with EFBIG after a partial write):
 * the call fails, and the environment, wardd's query and the next boot are
 * all as before. For U-Boot this tears the new copy half-way, as a power cut
 * would; for GRUB and the file the live file is never touched.
 */
static void contract_io_error(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops = ops_for(f, b);
	struct ward_msg m = {0};
	struct rlimit old, lim;
	void (*oldsig)(int);
	ward_err e;

	fresh(f, b);
	if (b == AGENT_BOOT_GRUB)
		grub_set(f, "saved_entry=A\n");
	expect_ok(ops->mark_good(&f->cfg, 0, &m), m);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = b == AGENT_BOOT_FILE ? 40 : 200;
	oldsig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	e = ops->try_once(&f->cfg, 1, &m);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_not_equal(e, WARD_OK);
	assert_true(m.text[0] != '\0');
	expect_state(query(f, ops), 0, 0, -1, 0);
	assert_int_equal(count_entries(f->dir), b == AGENT_BOOT_UBOOT ? 3 : 1);
	assert_int_equal(power_on(f), 0);
	/* and the next attempt works */
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	assert_int_equal(power_on(f), 1);
}

/* ---- whole boot cycles with the simulator ---------------------------------- */

/* Power on with bootsim.py, then ask agent_boot_booted which slot booted. */
static int power_on(struct fx *f)
{
	const char *kind = f->cfg.backend == AGENT_BOOT_UBOOT  ? "uboot"
	                   : f->cfg.backend == AGENT_BOOT_GRUB ? "grub"
	                                                       : "file";
	const char *opt = f->cfg.backend == AGENT_BOOT_UBOOT  ? "--fw-env-config"
	                  : f->cfg.backend == AGENT_BOOT_GRUB ? "--grubenv"
	                                                      : "--env-file";
	const char *path = f->cfg.backend == AGENT_BOOT_UBOOT  ? f->cfg.fw_env_config
	                   : f->cfg.backend == AGENT_BOOT_GRUB ? f->cfg.grubenv
	                                                       : f->cfg.env_file;
	char *const argv[] = {(char *)PYTHON,      (char *)BOOTSIM,
	                      (char *)"--kind",    (char *)kind,
	                      (char *)opt,         (char *)path,
	                      (char *)"--cmdline", (char *)f->cfg.booted_from,
	                      (char *)"power-on",  NULL};
	posix_spawn_file_actions_t fa;
	struct ward_msg m = {0};
	int status = 0, slot = -1;
	pid_t pid;

	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0), 0);
	assert_int_equal(posix_spawn(&pid, PYTHON, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	expect_ok(agent_boot_booted(&f->cfg, &slot, &m), m);
	return slot;
}

/*
 * try B; B boots; not confirmed: B boots until the bootloader gives up
 * (max_attempts boots for U-Boot/file, 1 for GRUB), then A, and A stays.
 * try B again; B boots; mark_good(B); B stays. try A; A boots; mark_bad(A);
 * B stays. At each step wardd's query agrees with what then boots.
 */
static void cycle(struct fx *f, enum agent_backend b)
{
	const struct agent_boot_ops *ops = ops_for(f, b);
	unsigned attempts = trial_attempts(f, b);
	struct ward_msg m = {0};

	fresh(f, b);
	assert_int_equal(power_on(f), 0);
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	for (unsigned i = 1; i <= attempts; i++) {
		expect_state(query(f, ops), 0, 1, 1, attempts - i + 1);
		assert_int_equal(power_on(f), 1);
	}
	/* the trial is still pending, but the next boot falls back */
	expect_state(query(f, ops), 0, 0, 1, 0);
	assert_int_equal(power_on(f), 0);
	assert_int_equal(power_on(f), 0);
	if (b == AGENT_BOOT_GRUB) /* ward_trial stays until wardd settles it */
		expect_state(query(f, ops), 0, 0, 1, 0);
	else
		expect_state(query(f, ops), 0, 0, -1, 0);
	/* wardd saw A boot while trying B: it marks B bad */
	expect_ok(ops->mark_bad(&f->cfg, 1, &m), m);
	expect_state(query(f, ops), 0, 0, -1, 0);

	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	assert_int_equal(power_on(f), 1);
	expect_ok(ops->mark_good(&f->cfg, 1, &m), m);
	for (int i = 0; i < 5; i++)
		assert_int_equal(power_on(f), 1);
	expect_state(query(f, ops), 1, 1, -1, 0);

	expect_ok(ops->try_once(&f->cfg, 0, &m), m);
	assert_int_equal(power_on(f), 0);
	expect_ok(ops->mark_bad(&f->cfg, 0, &m), m);
	for (int i = 0; i < 3; i++)
		assert_int_equal(power_on(f), 1);
	expect_state(query(f, ops), 1, 1, -1, 0);
}

#define PER_BACKEND(name)                                                                          \
	static void test_##name##_uboot(void **s)                                                  \
	{                                                                                          \
		contract_##name(*s, AGENT_BOOT_UBOOT);                                             \
	}                                                                                          \
	static void test_##name##_grub(void **s)                                                   \
	{                                                                                          \
		contract_##name(*s, AGENT_BOOT_GRUB);                                              \
	}                                                                                          \
	static void test_##name##_file(void **s)                                                   \
	{                                                                                          \
		contract_##name(*s, AGENT_BOOT_FILE);                                              \
	}

static void contract_cycle(struct fx *f, enum agent_backend b)
{
	cycle(f, b);
}

PER_BACKEND(fresh)
PER_BACKEND(try_once)
PER_BACKEND(mark_good)
PER_BACKEND(mark_bad)
PER_BACKEND(bad_args)
PER_BACKEND(corrupt)
PER_BACKEND(tool_missing)
PER_BACKEND(cycle)
PER_BACKEND(io_error)

/* ---- U-Boot specifics ------------------------------------------------------ */

static void test_uboot_written_vars(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);
	struct ward_msg m = {0};
	char e0[PATH_MAX], buf[ENV_SIZE + 1];

	f->cfg.max_attempts = 5;
	uboot_env(
	    f, (const char *const[]){"bootcmd=run ward_boot", "ward_good=A", "ward_slot=A", NULL},
	    2);
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	/* the new environment went to copy 1 (flags 2); copy 0 is untouched */
	in_dir(f, "env1", e0, sizeof(e0));
	get_file(e0, buf, sizeof(buf));
	assert_int_equal((uint8_t)buf[4], 2);
	assert_string_equal(buf + 5, "bootcmd=run ward_boot");
	const char *want[] = {"bootcount=0", "bootlimit=5", "upgrade_available=1", "ward_good=A",
	                      "ward_slot=B"};
	size_t off = 5 + strlen(buf + 5) + 1;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(buf + off, want[i]);
		off += strlen(want[i]) + 1;
	}
	assert_int_equal(buf[off], '\0');
	expect_state(query(f, ops), 0, 1, 1, 5);
}

/* The fw_setenv script never exists under a name (unlinked before fw_setenv runs). */
static void test_uboot_no_script_left(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);
	struct ward_msg m = {0};
	char tmpdir[PATH_MAX], old[PATH_MAX] = "";
	const char *t = getenv("TMPDIR");
	ward_err e1, e2;

	if (t)
		assert_int_equal(ward_snprintf(old, sizeof(old), "%s", t), WARD_OK);
	uboot_env(f, NULL, 2);
	in_dir(f, "tmp", tmpdir, sizeof(tmpdir));
	assert_int_equal(mkdir(tmpdir, 0700), 0);
	setenv("TMPDIR", tmpdir, 1);
	e1 = ops->try_once(&f->cfg, 1, &m);
	e2 = ops->mark_good(&f->cfg, 1, &m);
	if (t)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	assert_int_equal(e1, WARD_OK);
	assert_int_equal(e2, WARD_OK);
	assert_int_equal(count_entries(tmpdir), 0);
	expect_state(query(f, ops), 1, 1, -1, 0);
}

static void test_uboot_single_copy_refused(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);
	struct ward_msg m = {0};

	uboot_env(f, NULL, 1);
	expect_state(query(f, ops), 0, 0, -1, 0); /* reading is fine */
	assert_int_equal(ops->try_once(&f->cfg, 1, &m), WARD_E_UNSUPPORTED);
	expect_msg(&m, "1 U-Boot environment copy");
	expect_msg(&m, "redundant");
	assert_int_equal(ops->mark_good(&f->cfg, 0, &m), WARD_E_UNSUPPORTED);
	expect_state(query(f, ops), 0, 0, -1, 0);
}

/* libubootenv skips a read-only variable and still exits 0: wardd notices. */
static void test_uboot_readonly_flag_detected(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);
	struct ward_msg m = {0};

	uboot_env(
	    f, (const char *const[]){".flags=ward_slot:sr", "ward_good=A", "ward_slot=A", NULL}, 2);
	assert_int_equal(ops->try_once(&f->cfg, 1, &m), WARD_E_IO);
	expect_msg(&m, "exited 0 but ward_slot was not stored");
}

static void test_uboot_counting(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);

	uboot_env(f,
	          (const char *const[]){"bootcount=2", "bootlimit=3", "upgrade_available=1",
	                                "ward_good=A", "ward_slot=B", NULL},
	          2);
	expect_state(query(f, ops), 0, 1, 1, 1);
	uboot_env(f,
	          (const char *const[]){"bootcount=3", "bootlimit=3", "upgrade_available=1",
	                                "ward_good=A", "ward_slot=B", NULL},
	          2);
	expect_state(query(f, ops), 0, 0, 1, 0); /* next boot runs altbootcmd */
	uboot_env(f,
	          (const char *const[]){"bootcount=7", "upgrade_available=0", "ward_good=B",
	                                "ward_slot=B", NULL},
	          2);
	expect_state(query(f, ops), 1, 1, -1, 0); /* no trial: bootcount is not counted */
}

static void test_uboot_bad_values(void **s)
{
	static const char *const cases[][6] = {
	    {"ward_slot=C", NULL},
	    {"ward_good=a", NULL},
	    {"ward_slot=AB", NULL},
	    {"upgrade_available=2", NULL},
	    {"upgrade_available=yes", NULL},
	    {"upgrade_available=1", "bootcount=0", NULL}, /* no bootlimit: never falls back */
	    {"upgrade_available=1", "bootlimit=0", NULL},
	    {"bootcount=-1", NULL},
	    {"bootlimit=0x3", NULL},
	    {"bootcount=99999999999999999999999", NULL},
	};
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct agent_boot_state st = {-2, -2, -2, 999};
		struct ward_msg m = {0};

		uboot_env(f, cases[i], 2);
		if (ops->query(&f->cfg, &st, &m) != WARD_E_PARSE) {
			print_error("case %zu (%s) was accepted\n", i, cases[i][0]);
			fail();
		}
		assert_int_equal(st.good, -2);
		expect_msg(&m, "U-Boot environment");
	}
}

/* Another variable's multi-line value cannot forge ward's variables. */
static void test_uboot_multiline_value(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);

	uboot_env(f,
	          (const char *const[]){"bootcmd=echo\nward_slot=B\nupgrade_available=1",
	                                "ward_good=A", "ward_slot=A", NULL},
	          2);
	expect_state(query(f, ops), 0, 0, -1, 0);
	/* a ward variable with a newline is an error, not two lines */
	uboot_env(f, (const char *const[]){"ward_good=A", "ward_slot=A\nward_slot=B", NULL}, 2);
	{
		struct agent_boot_state st;
		struct ward_msg m = {0};

		assert_int_equal(ops->query(&f->cfg, &st, &m), WARD_E_PARSE);
	}
}

static void test_uboot_missing_vars_default(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);

	uboot_env(f, (const char *const[]){"bootcmd=boot", NULL}, 2);
	expect_state(query(f, ops), 0, 0, -1, 0);
}

static void test_uboot_missing_config(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);
	struct agent_boot_state st;
	struct ward_msg m = {0};

	assert_int_equal(ops->query(&f->cfg, &st, &m), WARD_E_IO);
	expect_msg(&m, "fw_printenv exited with status");
	assert_int_not_equal(ops->try_once(&f->cfg, 1, &m), WARD_OK);
	expect_msg(&m, "fw_env_config");
	f->cfg.fw_env_config[0] = '\0';
	assert_int_equal(ops->query(&f->cfg, &st, &m), WARD_E_INVAL);
}

/* A power cut while fw_setenv writes: the torn copy fails its CRC, the old one is used. */
static void test_uboot_torn_write(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);
	struct ward_msg m = {0};
	char e1[PATH_MAX];
	int fd;

	uboot_env(f, NULL, 2);
	expect_ok(ops->try_once(&f->cfg, 1, &m), m); /* written to copy 1 */
	in_dir(f, "env1", e1, sizeof(e1));
	fd = open(e1, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xa5\xa5\xa5\xa5", 4, ENV_SIZE / 2), 4);
	close(fd);
	expect_state(query(f, ops), 0, 0, -1, 0); /* as before try_once */
	assert_int_equal(power_on(f), 0);
	/* and the next write works from the surviving copy */
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	expect_state(query(f, ops), 0, 1, 1, 3);
}

/* ---- GRUB specifics --------------------------------------------------------- */

static void grub_set(struct fx *f, const char *vars)
{
	/* vars: a pre-built grubenv block body, e.g. "saved_entry=B\n" */
	char block[1024];
	size_t n;

	n = (size_t)snprintf(block, sizeof(block), "# GRUB Environment Block\n%s", vars);
	assert_true(n < sizeof(block));
	memset(block + n, '#', sizeof(block) - n);
	put_file(f->cfg.grubenv, block, sizeof(block));
}

static void test_grub_states(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_GRUB);

	grub_set(f, "saved_entry=B\n");
	expect_state(query(f, ops), 1, 1, -1, 0);
	/* after GRUB booted the one-shot entry it saves next_entry empty */
	grub_set(f, "saved_entry=A\nnext_entry=\nward_trial=B\n");
	expect_state(query(f, ops), 0, 0, 1, 0);
	grub_set(f, "next_entry=B\nward_trial=B\nother=x\n");
	expect_state(query(f, ops), 0, 1, 1, 1);
}

static void test_grub_bad_values(void **s)
{
	static const char *const cases[] = {
	    "saved_entry=gnulinux-advanced-1234\n",
	    "next_entry=C\n",
	    "ward_trial=AB\n",
	};
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_GRUB);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct agent_boot_state st = {-2, -2, -2, 999};
		struct ward_msg m = {0};

		grub_set(f, cases[i]);
		assert_int_equal(ops->query(&f->cfg, &st, &m), WARD_E_PARSE);
		assert_int_equal(st.good, -2);
		expect_msg(&m, "not a ward slot");
	}
}

/* The live grubenv is replaced by rename (new inode), never rewritten in place. */
static void test_grub_atomic_replace(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_GRUB);
	struct ward_msg m = {0};
	struct stat a, b;
	char buf[2048];

	grub_set(f, "saved_entry=A\nkeep_me=1\n");
	assert_int_equal(chmod(f->cfg.grubenv, 0640), 0);
	assert_int_equal(stat(f->cfg.grubenv, &a), 0);
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	assert_int_equal(stat(f->cfg.grubenv, &b), 0);
	assert_int_not_equal(a.st_ino, b.st_ino);
	assert_int_equal(b.st_mode & 0777, 0640);
	assert_int_equal(b.st_size, 1024);
	get_file(f->cfg.grubenv, buf, sizeof(buf));
	assert_non_null(strstr(buf, "keep_me=1\n")); /* other variables are kept */
	assert_non_null(strstr(buf, "next_entry=B\n"));
	assert_int_equal(count_entries(f->dir), 1); /* no temporary file left */
	expect_ok(ops->mark_good(&f->cfg, 1, &m), m);
	get_file(f->cfg.grubenv, buf, sizeof(buf));
	assert_null(strstr(buf, "next_entry"));
	assert_null(strstr(buf, "ward_trial"));
	assert_non_null(strstr(buf, "saved_entry=B\n"));
	assert_int_equal(count_entries(f->dir), 1);
}

static void test_grub_creates_missing(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_GRUB);
	struct ward_msg m = {0};
	struct stat st;

	assert_false(exists(f->cfg.grubenv));
	expect_ok(ops->mark_good(&f->cfg, 0, &m), m);
	assert_int_equal(stat(f->cfg.grubenv, &st), 0);
	assert_int_equal(st.st_size, 1024);
	assert_int_equal(st.st_mode & 0777, 0644);
	expect_state(query(f, ops), 0, 0, -1, 0);
	assert_int_equal(count_entries(f->dir), 1);
}

static void test_grub_symlink(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_GRUB);
	struct ward_msg m = {0};
	char real[PATH_MAX];
	struct stat st;

	in_dir(f, "real-grubenv", real, sizeof(real));
	grub_set(f, "saved_entry=A\n");
	assert_int_equal(rename(f->cfg.grubenv, real), 0);
	assert_int_equal(symlink(real, f->cfg.grubenv), 0);
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	assert_int_equal(lstat(f->cfg.grubenv, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	expect_state(query(f, ops), 0, 1, 1, 1);
}

/* An empty grubenv (a torn in-place write by some other tool) is as good as missing. */
static void test_grub_empty_file(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_GRUB);
	struct ward_msg m = {0};
	struct stat st;

	put_text(f->cfg.grubenv, "");
	expect_state(query(f, ops), 0, 0, -1, 0);
	assert_int_equal(power_on(f), 0);
	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	assert_int_equal(stat(f->cfg.grubenv, &st), 0);
	assert_int_equal(st.st_size, 1024);
	expect_state(query(f, ops), 0, 1, 1, 1);
	assert_int_equal(power_on(f), 1);
}

static void test_grub_not_regular(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_GRUB);
	struct ward_msg m = {0};

	assert_int_equal(mkdir(f->cfg.grubenv, 0755), 0);
	assert_int_equal(ops->try_once(&f->cfg, 1, &m), WARD_E_INVAL);
	expect_msg(&m, "not a regular file");
}

/* ---- file backend specifics ------------------------------------------------- */

static void test_file_format(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_FILE);
	struct ward_msg m = {0};
	char buf[256];
	struct stat st;

	expect_ok(ops->try_once(&f->cfg, 1, &m), m);
	get_file(f->cfg.env_file, buf, sizeof(buf));
	assert_string_equal(buf, "ward_slot=B\nward_good=A\nupgrade_available=1\nbootcount=0\n"
	                         "bootlimit=3\n");
	assert_int_equal(stat(f->cfg.env_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	expect_ok(ops->mark_good(&f->cfg, 1, &m), m);
	get_file(f->cfg.env_file, buf, sizeof(buf));
	assert_string_equal(buf, "ward_slot=B\nward_good=B\nupgrade_available=0\nbootcount=0\n"
	                         "bootlimit=3\n");
	assert_int_equal(count_entries(f->dir), 1);
}

static void test_file_strict(void **s)
{
	static const char *const bad[] = {
	    "ward_slot=A",                /* no final newline */
	    "ward_slot=A\nward_slot=A\n", /* twice */
	    "color=blue\n",               /* unknown name */
	    "ward_slot A\n",              /* no '=' */
	    "\n",                         /* empty line */
	    "ward_slot=A\r\n",            /* CR */
	    "ward_good=\xff\n",           /* not a slot */
	    "upgrade_available=01\n",     /* not 0|1 */
	    "bootcount= 1\n",             /* space */
	    "upgrade_available=1\nbootlimit=0\n",
	};
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_FILE);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct agent_boot_state st = {-2, -2, -2, 999};
		struct ward_msg m = {0};

		put_text(f->cfg.env_file, bad[i]);
		if (ops->query(&f->cfg, &st, &m) != WARD_E_PARSE) {
			print_error("case %zu was accepted\n", i);
			fail();
		}
		expect_msg(&m, f->cfg.env_file);
		assert_int_equal(st.good, -2);
		/* writes refuse what does not parse (the last case parses: mark_good fixes it) */
		if (i + 1 < sizeof(bad) / sizeof(bad[0]))
			assert_int_equal(ops->mark_good(&f->cfg, 0, &m), WARD_E_PARSE);
	}
	/* empty file and absent variables: defaults */
	put_text(f->cfg.env_file, "");
	expect_state(query(f, ops), 0, 0, -1, 0);
	put_text(f->cfg.env_file, "ward_good=B\nward_slot=B\n");
	expect_state(query(f, ops), 1, 1, -1, 0);
}

static void test_file_oversized(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_FILE);
	struct agent_boot_state st;
	struct ward_msg m = {0};
	static char big[5000];

	memset(big, '#', sizeof(big));
	put_file(f->cfg.env_file, big, sizeof(big));
	assert_int_equal(ops->query(&f->cfg, &st, &m), WARD_E_TOOBIG);
	expect_msg(&m, "limit");
}

/* ---- runner: fake tools for exits, signals, output limits ------------------- */

static void fake_tool(struct fx *f, const char *name, const char *script)
{
	char bin[PATH_MAX], path[PATH_MAX];
	const char *p = getenv("PATH");

	in_dir(f, "bin", bin, sizeof(bin));
	mkdir(bin, 0755);
	in_dir(f, "bin/", path, sizeof(path));
	assert_true(strlen(path) + strlen(name) < sizeof(path));
	memcpy(path + strlen(path), name, strlen(name) + 1);
	put_text(path, script);
	assert_int_equal(chmod(path, 0755), 0);
	if (!f->path_replaced) {
		assert_int_equal(
		    ward_snprintf(f->saved_path, sizeof(f->saved_path), "%s", p ? p : ""), WARD_OK);
		f->path_replaced = true;
		setenv("PATH", bin, 1);
	}
}

static void test_tool_exit_status(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);
	struct agent_boot_state st;
	struct ward_msg m = {0};

	uboot_env(f, NULL, 2);
	fake_tool(f, "fw_printenv", "#!/bin/sh\necho 'first line' >&2\necho second >&2\nexit 3\n");
	assert_int_equal(ops->query(&f->cfg, &st, &m), WARD_E_IO);
	expect_msg(&m, "fw_printenv exited with status 3: first line");
	assert_null(strstr(m.text, "second"));
}

static void test_tool_signal(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_GRUB);
	struct agent_boot_state st;
	struct ward_msg m = {0};

	grub_set(f, "");
	fake_tool(f, "grub-editenv", "#!/bin/sh\nkill -9 $$\n");
	assert_int_equal(ops->query(&f->cfg, &st, &m), WARD_E_IO);
	expect_msg(&m, "grub-editenv was killed by signal 9");
}

static void test_tool_too_much_output(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_GRUB);
	struct agent_boot_state st;
	struct ward_msg m = {0};

	grub_set(f, "");
	/* 100 KiB: far past the limit, and the tool is not blocked writing it */
	fake_tool(f, "grub-editenv",
	          "#!/bin/sh\ni=0\nwhile [ $i -lt 1600 ]; do\n"
	          "echo saved_entry=Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	          "i=$((i+1)); done\n");
	assert_int_equal(ops->query(&f->cfg, &st, &m), WARD_E_TOOBIG);
	expect_msg(&m, "more than 4096 bytes");
}

/* fw_setenv that "succeeds" without writing: caught by the read-back. */
static void test_tool_lies(void **s)
{
	struct fx *f = *s;
	const struct agent_boot_ops *ops = ops_for(f, AGENT_BOOT_UBOOT);
	struct ward_msg m = {0};

	uboot_env(f, NULL, 2);
	fake_tool(f, "fw_setenv", "#!/bin/sh\nexit 0\n");
	fake_tool(f, "fw_printenv", "#!/bin/sh\nexec /usr/bin/fw_printenv \"$@\"\n");
	assert_int_equal(ops->try_once(&f->cfg, 1, &m), WARD_E_IO);
	expect_msg(&m, "was not stored");
}

/* ---- agent_boot_booted ------------------------------------------------------ */

static ward_err booted(struct fx *f, const char *text, int *slot, struct ward_msg *m)
{
	put_text(f->cfg.booted_from, text);
	return agent_boot_booted(&f->cfg, slot, m);
}

static void test_booted(void **s)
{
	static const struct {
		const char *text;
		ward_err e;
		int slot;
	} cases[] = {
	    {"ward.slot=A", WARD_OK, 0},
	    {"ward.slot=B\n", WARD_OK, 1},
	    {"BOOT_IMAGE=/vmlinuz root=/dev/sda2 ro\tward.slot=B quiet\n", WARD_OK, 1},
	    {"ward.slot=A ward.slot=A", WARD_OK, 0},
	    {"", WARD_E_NOTFOUND, -1},
	    {"root=/dev/sda2 ro quiet\n", WARD_E_NOTFOUND, -1},
	    {"xward.slot=B", WARD_E_NOTFOUND, -1},
	    {"ward.slots=B", WARD_E_NOTFOUND, -1},
	    {"ward.slot=C", WARD_E_PARSE, -1},
	    {"ward.slot=", WARD_E_PARSE, -1},
	    {"ward.slot=a", WARD_E_PARSE, -1},
	    {"ward.slot=AB", WARD_E_PARSE, -1},
	    {"ward.slot=\"B\"", WARD_E_PARSE, -1},
	    {"ward.slot=A ward.slot=B", WARD_E_PARSE, -1},
	    {"foo=\"x ward.slot=B y\" ro", WARD_E_NOTFOUND, -1}, /* inside quotes */
	    {"ro -- ward.slot=B", WARD_E_NOTFOUND, -1},          /* init's argument */
	    {"ward.slot=A -- ward.slot=B", WARD_OK, 0},
	};
	struct fx *f = *s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ward_msg m = {0};
		int slot = -7;
		ward_err e = booted(f, cases[i].text, &slot, &m);

		if (e != cases[i].e || (e == WARD_OK && slot != cases[i].slot) ||
		    (e != WARD_OK && slot != -7)) {
			print_error("case %zu '%s': %s slot %d (%s)\n", i, cases[i].text,
			            ward_err_name(e), slot, m.text);
			fail();
		}
		if (e != WARD_OK)
			expect_msg(&m, f->cfg.booted_from);
	}
}

static void test_booted_limits(void **s)
{
	struct fx *f = *s;
	struct ward_msg m = {0};
	static char big[5000];
	int slot = -7;

	/* oversized: 5000 bytes, the slot word at the very start */
	memset(big, ' ', sizeof(big));
	memcpy(big, "ward.slot=B", 11);
	put_file(f->cfg.booted_from, big, sizeof(big));
	assert_int_equal(agent_boot_booted(&f->cfg, &slot, &m), WARD_E_TOOBIG);
	expect_msg(&m, "limit");
	/* exactly 4096 bytes is fine */
	put_file(f->cfg.booted_from, big, 4096);
	expect_ok(agent_boot_booted(&f->cfg, &slot, &m), m);
	assert_int_equal(slot, 1);
	/* NUL bytes: not a command line */
	put_file(f->cfg.booted_from, "ward.slot=A\0ward.slot=B", 23);
	slot = -7;
	assert_int_equal(agent_boot_booted(&f->cfg, &slot, &m), WARD_E_PARSE);
	assert_int_equal(slot, -7);
	expect_msg(&m, "NUL");
	/* missing file: an I/O error naming booted_from, not "the bootloader did not say" */
	unlink(f->cfg.booted_from);
	assert_int_equal(agent_boot_booted(&f->cfg, &slot, &m), WARD_E_IO);
	expect_msg(&m, "booted_from");
}

static void test_names_and_ops(void **s)
{
	struct fx *f = *s;

	assert_string_equal(agent_slot_name(0), "A");
	assert_string_equal(agent_slot_name(1), "B");
	assert_string_equal(agent_slot_name(2), "?");
	assert_string_equal(agent_slot_name(-1), "?");
	assert_ptr_equal(ops_for(f, AGENT_BOOT_UBOOT), &agent_boot_uboot);
	assert_ptr_equal(ops_for(f, AGENT_BOOT_GRUB), &agent_boot_grub);
	assert_ptr_equal(ops_for(f, AGENT_BOOT_FILE), &agent_boot_file);
	assert_string_equal(agent_boot_uboot.name, "uboot");
	assert_string_equal(agent_boot_grub.name, "grub");
	assert_string_equal(agent_boot_file.name, "file");
}

#define T(name)  cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
#define T3(name) T(test_##name##_uboot), T(test_##name##_grub), T(test_##name##_file)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T3(fresh),
	    T3(try_once),
	    T3(mark_good),
	    T3(mark_bad),
	    T3(bad_args),
	    T3(corrupt),
	    T3(tool_missing),
	    T3(cycle),
	    T3(io_error),
	    T(test_uboot_written_vars),
	    T(test_uboot_no_script_left),
	    T(test_uboot_single_copy_refused),
	    T(test_uboot_readonly_flag_detected),
	    T(test_uboot_counting),
	    T(test_uboot_bad_values),
	    T(test_uboot_multiline_value),
	    T(test_uboot_missing_vars_default),
	    T(test_uboot_missing_config),
	    T(test_uboot_torn_write),
	    T(test_grub_states),
	    T(test_grub_bad_values),
	    T(test_grub_atomic_replace),
	    T(test_grub_creates_missing),
	    T(test_grub_symlink),
	    T(test_grub_empty_file),
	    T(test_grub_not_regular),
	    T(test_file_format),
	    T(test_file_strict),
	    T(test_file_oversized),
	    T(test_tool_exit_status),
	    T(test_tool_signal),
	    T(test_tool_too_much_output),
	    T(test_tool_lies),
	    T(test_booted),
	    T(test_booted_limits),
	    T(test_names_and_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
