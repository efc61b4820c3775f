/*
 * tests/unit/buf.c — unit tests of lib/buf.c and lib/err.c.
 *
 * Covers the bounded buffer (appends and printf up to the exact maximum and
 * one byte past it, which must fail with WARD_E_TOOBIG and leave the buffer
 * as it was), secret buffers, bounded file reading, atomic and exclusive file
 * writing (including an I/O error injected with RLIMIT_FSIZE), mkdir -p, hex,
 * checked snprintf, decimal parsing, constant-time comparison and the
 * caller-owned error message. Files are made in a fresh temporary directory
 * per test, removed afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ward/buf.h"
#include "ward/err.h"

/* ---- helpers -------------------------------------------------------- */

struct tmpdir {
	char path[PATH_MAX]; /* the directory made by setup, removed by teardown */
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

static int tmp_setup(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));
	const char *base = getenv("TMPDIR");

	if (!t)
		return -1;
	if (snprintf(t->path, sizeof(t->path), "%s/ward-unit-buf-XXXXXX", base ? base : "/tmp") >=
	        (int)sizeof(t->path) ||
	    !mkdtemp(t->path)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmpdir *t = *state;

	rm_rf(t->path);
	free(t);
	return 0;
}

/* dir/name into out (PATH_MAX). */
static void path_in(const struct tmpdir *t, const char *name, char *out)
{
	assert_int_equal(ward_snprintf(out, PATH_MAX, "%s/%s", t->path, name), WARD_OK);
}

static void put_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Whole file into a malloc'd buffer (test side, independent of ward_file_read). */
static uint8_t *get_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	size_t cap = 0, n = 0;

	assert_non_null(f);
	for (;;) {
		size_t r;

		if (n == cap) {
			uint8_t *np;

			cap = cap ? cap * 2 : 4096;
			np = realloc(p, cap);
			assert_non_null(np);
			p = np;
		}
		r = fread(p + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	*len = n;
	return p;
}

/* Number of directory entries other than "." and ".."; names into list if given. */
static size_t count_entries(const char *dir, char *list, size_t listlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, used = 0;

	assert_non_null(d);
	if (list && listlen)
		list[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (list) {
			int w = snprintf(list + used, listlen - used, "%s ", de->d_name);

			if (w > 0 && (size_t)w < listlen - used)
				used += (size_t)w;
		}
	}
	closedir(d);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* ---- bounded buffers ------------------------------------------------ */

static void test_append_to_exact_max(void **state)
{
	struct ward_buf b;
	uint8_t data[100];

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	ward_buf_init(&b, 100);
	assert_int_equal(b.max, 100);
	assert_int_equal(ward_buf_append(&b, data, 60), WARD_OK);
	assert_int_equal(ward_buf_append(&b, data + 60, 40), WARD_OK);
	assert_int_equal(b.len, 100);
	assert_true(b.cap >= b.len);
	assert_memory_equal(b.p, data, 100);
	assert_int_equal(b.p[100], 0);
	/* an empty append at the limit is fine */
	assert_int_equal(ward_buf_append(&b, data, 0), WARD_OK);
	assert_int_equal(b.len, 100);

	/* one byte past the limit: refused, buffer unchanged */
	assert_int_equal(ward_buf_append(&b, "x", 1), WARD_E_TOOBIG);
	assert_int_equal(b.len, 100);
	assert_memory_equal(b.p, data, 100);
	assert_int_equal(b.p[100], 0);
	ward_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
}

static void test_append_one_past_from_below(void **state)
{
	struct ward_buf b;
	char big[101];

	(void)state;
	memset(big, 'z', sizeof(big));
	ward_buf_init(&b, 100);
	assert_int_equal(ward_buf_append(&b, "abc", 3), WARD_OK);
	/* 3 + 98 = 101 > 100: refused whole, nothing partial appended */
	assert_int_equal(ward_buf_append(&b, big, 98), WARD_E_TOOBIG);
	assert_int_equal(b.len, 3);
	assert_string_equal((char *)b.p, "abc");
	/* 3 + 97 = 100 fits exactly */
	assert_int_equal(ward_buf_append(&b, big, 97), WARD_OK);
	assert_int_equal(b.len, 100);
	ward_buf_free(&b);

	/* a single append of max + 1 into an empty buffer */
	ward_buf_init(&b, 100);
	assert_int_equal(ward_buf_append(&b, big, 101), WARD_E_TOOBIG);
	assert_int_equal(b.len, 0);
	assert_null(b.p);
	/* sizes near SIZE_MAX must not wrap around the check */
	assert_int_equal(ward_buf_append(&b, big, SIZE_MAX), WARD_E_TOOBIG);
	assert_int_equal(ward_buf_append(&b, "a", 1), WARD_OK);
	assert_int_equal(ward_buf_append(&b, big, SIZE_MAX), WARD_E_TOOBIG);
	assert_int_equal(b.len, 1);
	ward_buf_free(&b);
}

static void test_append_zero_max(void **state)
{
	struct ward_buf b;

	(void)state;
	ward_buf_init(&b, 0);
	assert_int_equal(ward_buf_append(&b, "", 0), WARD_OK);
	assert_int_equal(b.len, 0);
	assert_non_null(b.p);
	assert_int_equal(b.p[0], 0);
	assert_int_equal(ward_buf_append(&b, "a", 1), WARD_E_TOOBIG);
	assert_int_equal(b.len, 0);
	ward_buf_free(&b);
}

static void test_append_growth_keeps_contents(void **state)
{
	struct ward_buf b;

	(void)state;
	ward_buf_init(&b, 5000);
	for (size_t i = 0; i < 5000; i++) {
		uint8_t c = (uint8_t)(i % 251);

		assert_int_equal(ward_buf_append(&b, &c, 1), WARD_OK);
		assert_true(b.len <= b.cap);
		assert_true(b.cap <= b.max);
		assert_int_equal(b.p[b.len], 0);
	}
	for (size_t i = 0; i < 5000; i++)
		assert_int_equal(b.p[i], (uint8_t)(i % 251));
	assert_int_equal(ward_buf_append(&b, "x", 1), WARD_E_TOOBIG);
	ward_buf_free(&b);
}

static void test_printf_bounds(void **state)
{
	struct ward_buf b;

	(void)state;
	ward_buf_init(&b, 10);
	assert_int_equal(ward_buf_printf(&b, "%s", "12345"), WARD_OK);
	assert_int_equal(ward_buf_printf(&b, "%d", 67890), WARD_OK);
	assert_int_equal(b.len, 10);
	assert_string_equal((char *)b.p, "1234567890");
	assert_int_equal(ward_buf_printf(&b, "%s", ""), WARD_OK);
	assert_int_equal(ward_buf_printf(&b, "x"), WARD_E_TOOBIG);
	assert_int_equal(b.len, 10);
	assert_string_equal((char *)b.p, "1234567890");
	ward_buf_free(&b);

	/* a formatted result one byte too long is refused whole */
	ward_buf_init(&b, 10);
	assert_int_equal(ward_buf_printf(&b, "%s", "abc"), WARD_OK);
	assert_int_equal(ward_buf_printf(&b, "%08d", 42), WARD_E_TOOBIG);
	assert_int_equal(b.len, 3);
	assert_string_equal((char *)b.p, "abc");
	assert_int_equal(ward_buf_printf(&b, "%07d", 42), WARD_OK);
	assert_string_equal((char *)b.p, "abc0000042");
	ward_buf_free(&b);

	/* printf after append, across a reallocation */
	ward_buf_init(&b, 1000);
	for (int i = 0; i < 100; i++)
		assert_int_equal(ward_buf_printf(&b, "%d,", i % 10), WARD_OK);
	assert_int_equal(b.len, 200);
	assert_memory_equal(b.p, "0,1,2,3,4,5,6,7,8,9,0,", 22);
	assert_int_equal(b.p[200], 0);
	ward_buf_free(&b);
}

static void test_reset_and_steal(void **state)
{
	struct ward_buf b;
	uint8_t *p;
	size_t len = 0;

	(void)state;
	ward_buf_init(&b, 8);
	assert_int_equal(ward_buf_append(&b, "abcdefgh", 8), WARD_OK);
	ward_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 8);
	assert_int_equal(b.p[0], 0);
	assert_int_equal(ward_buf_append(&b, "12345678", 8), WARD_OK);
	assert_int_equal(ward_buf_append(&b, "9", 1), WARD_E_TOOBIG);

	p = ward_buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 8);
	assert_memory_equal(p, "12345678", 9); /* including the terminating NUL */
	free(p);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	/* the limit survives a steal */
	assert_int_equal(b.max, 8);
	assert_int_equal(ward_buf_append(&b, "123456789", 9), WARD_E_TOOBIG);
	assert_int_equal(ward_buf_append(&b, "1234", 4), WARD_OK);
	ward_buf_free(&b);
	ward_buf_free(&b); /* twice is harmless */
	ward_buf_free(NULL);
}

/*
 * Wiping on growth and on free cannot be observed without reading freed
 * memory; what can be observed is that reset wipes the whole kept storage of
 * a secret buffer, that ward_wipe zeroes, and that contents survive growth.
 */
static void test_secret_buffer(void **state)
{
	static const char secret[] = "correct horse battery staple";
	struct ward_buf b;

	(void)state;
	ward_buf_init_secret(&b, 4096);
	assert_true(b.secret);
	assert_int_equal(b.max, 4096);
	for (int i = 0; i < 100; i++) /* several reallocations */
		assert_int_equal(ward_buf_append(&b, secret, sizeof(secret) - 1), WARD_OK);
	assert_int_equal(b.len, 100 * (sizeof(secret) - 1));
	for (int i = 0; i < 100; i++)
		assert_memory_equal(b.p + (size_t)i * (sizeof(secret) - 1), secret,
		                    sizeof(secret) - 1);
	assert_int_equal(ward_buf_append(&b, secret, 4096), WARD_E_TOOBIG);

	ward_buf_reset(&b);
	assert_non_null(b.p);
	for (size_t i = 0; i <= b.cap; i++)
		assert_int_equal(b.p[i], 0);
	assert_true(b.secret);
	ward_buf_free(&b);
	assert_null(b.p);

	/* a non-secret reset only has to empty the string */
	ward_buf_init(&b, 64);
	assert_false(b.secret);
	assert_int_equal(ward_buf_append(&b, "abc", 3), WARD_OK);
	ward_buf_reset(&b);
	assert_string_equal((char *)b.p, "");
	ward_buf_free(&b);
}

static void test_wipe(void **state)
{
	uint8_t a[37];

	(void)state;
	memset(a, 0xA5, sizeof(a));
	ward_wipe(a + 1, 35);
	assert_int_equal(a[0], 0xA5);
	for (size_t i = 1; i < 36; i++)
		assert_int_equal(a[i], 0);
	assert_int_equal(a[36], 0xA5);
	ward_wipe(NULL, 10);
	ward_wipe(a, 0);
	assert_int_equal(a[0], 0xA5);
}

static void test_ct_eq(void **state)
{
	uint8_t a[64], b[64];

	(void)state;
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)i;
	assert_true(ward_ct_eq(a, b, sizeof(a)));
	assert_true(ward_ct_eq(a, b, 0));
	assert_true(ward_ct_eq("x", "y", 0));
	b[0] ^= 1;
	assert_false(ward_ct_eq(a, b, sizeof(a)));
	assert_true(ward_ct_eq(a + 1, b + 1, sizeof(a) - 1));
	b[0] ^= 1;
	b[63] ^= 0x80;
	assert_false(ward_ct_eq(a, b, sizeof(a)));
	assert_true(ward_ct_eq(a, b, 63));
	b[63] ^= 0x80;
	b[31] = 0xFF;
	assert_false(ward_ct_eq(a, b, sizeof(a)));
}

/* ---- files ---------------------------------------------------------- */

static void test_file_read_limits(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX];
	struct ward_buf out, sentinel;
	struct ward_msg m = {0};
	uint8_t *data;
	/* larger than lib/buf.c's 16 KiB read chunk, so several reads are needed */
	const size_t n = 40000;

	data = malloc(n);
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 31 + 7);
	path_in(t, "f", path);
	put_file(path, data, n);

	/* exactly max bytes */
	assert_int_equal(ward_file_read(path, n, &out, &m), WARD_OK);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.p, data, n);
	assert_int_equal(out.p[n], 0);
	assert_int_equal(out.max, n);
	ward_buf_free(&out);

	/* a larger limit */
	assert_int_equal(ward_file_read(path, 10 * n, &out, &m), WARD_OK);
	assert_int_equal(out.len, n);
	ward_buf_free(&out);

	/* one byte more than max: refused, out untouched, the message names the limit */
	memset(&out, 0x5A, sizeof(out));
	memcpy(&sentinel, &out, sizeof(out));
	assert_int_equal(ward_file_read(path, n - 1, &out, &m), WARD_E_TOOBIG);
	assert_memory_equal(&out, &sentinel, sizeof(out));
	assert_non_null(strstr(m.text, "39999"));
	assert_non_null(strstr(m.text, path));

	/* a small file one byte over a small limit */
	path_in(t, "small", path);
	put_file(path, "abcdef", 6);
	assert_int_equal(ward_file_read(path, 5, &out, &m), WARD_E_TOOBIG);
	assert_memory_equal(&out, &sentinel, sizeof(out));
	assert_int_equal(ward_file_read(path, 6, &out, &m), WARD_OK);
	assert_string_equal((char *)out.p, "abcdef");
	ward_buf_free(&out);
	free(data);
}

static void test_file_read_missing_empty_dir(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX];
	struct ward_buf out, sentinel;
	struct ward_msg m = {0};

	memset(&out, 0x5A, sizeof(out));
	memcpy(&sentinel, &out, sizeof(out));
	path_in(t, "missing", path);
	assert_int_equal(ward_file_read(path, 100, &out, &m), WARD_E_NOTFOUND);
	assert_memory_equal(&out, &sentinel, sizeof(out));
	assert_non_null(strstr(m.text, "missing"));
	assert_int_equal(ward_file_read(path, 100, &out, NULL), WARD_E_NOTFOUND);

	/* empty file: success with an empty, NUL-terminated buffer */
	path_in(t, "empty", path);
	put_file(path, "", 0);
	assert_int_equal(ward_file_read(path, 100, &out, &m), WARD_OK);
	assert_int_equal(out.len, 0);
	assert_non_null(out.p);
	assert_int_equal(out.p[0], 0);
	ward_buf_free(&out);
	assert_int_equal(ward_file_read(path, 0, &out, &m), WARD_OK);
	assert_int_equal(out.len, 0);
	ward_buf_free(&out);

	/* a directory is not a file to read */
	memcpy(&out, &sentinel, sizeof(out));
	assert_int_equal(ward_file_read(t->path, 100, &out, &m), WARD_E_IO);
	assert_memory_equal(&out, &sentinel, sizeof(out));
}

static void test_write_atomic_replaces(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX], names[256];
	struct ward_msg m = {0};
	uint8_t *got;
	size_t len;
	mode_t old_umask;

	path_in(t, "state.json", path);
	old_umask = umask(077); /* the mode must be the one asked for, not umask-filtered */
	assert_int_equal(ward_file_write_atomic(path, "first version, long\n", 20, 0644, &m),
	                 WARD_OK);
	umask(old_umask);
	got = get_file(path, &len);
	assert_int_equal(len, 20);
	assert_memory_equal(got, "first version, long\n", 20);
	free(got);
	assert_int_equal(mode_of(path), 0644);

	/* replace with shorter content and another mode: nothing of the old file remains */
	assert_int_equal(ward_file_write_atomic(path, "v2", 2, 0600, &m), WARD_OK);
	got = get_file(path, &len);
	assert_int_equal(len, 2);
	assert_memory_equal(got, "v2", 2);
	free(got);
	assert_int_equal(mode_of(path), 0600);

	/* empty content */
	assert_int_equal(ward_file_write_atomic(path, "", 0, 0640, &m), WARD_OK);
	got = get_file(path, &len);
	assert_int_equal(len, 0);
	free(got);
	assert_int_equal(mode_of(path), 0640);

	/* no temporary files left behind */
	assert_int_equal(count_entries(t->path, names, sizeof(names)), 1);
	assert_string_equal(names, "state.json ");
}

static void test_write_atomic_failures_leave_no_temp(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX], names[256];
	struct ward_msg m = {0};

	/* the target is a directory: rename fails, the directory stays, no temp file */
	path_in(t, "adir", path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(ward_file_write_atomic(path, "data", 4, 0600, &m), WARD_E_IO);
	assert_true(m.text[0] != '\0');
	assert_int_equal(count_entries(t->path, names, sizeof(names)), 1);
	assert_string_equal(names, "adir ");
	assert_int_equal(count_entries(path, NULL, 0), 0);

	/* the parent directory does not exist */
	path_in(t, "no/such/dir/file", path);
	m.text[0] = '\0';
	assert_int_equal(ward_file_write_atomic(path, "data", 4, 0600, &m), WARD_E_IO);
	assert_true(m.text[0] != '\0');
	assert_int_equal(count_entries(t->path, NULL, 0), 1);
}

/*
 * I/O error injection: with RLIMIT_FSIZE below the data size, write() fails
 * with EFBIG half-way. The old file must survive intact and the temporary
 * file must be gone; create_excl must not leave a partial file.
 */
static void test_write_io_error_injected(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX], names[256];
	struct ward_msg m = {0};
	struct rlimit old, lim;
	struct sigaction ign, oldsa;
	static uint8_t big[64 * 1024];
	uint8_t *got;
	size_t len;
	ward_err e1, e2;

	memset(big, 'B', sizeof(big));
	path_in(t, "keep", path);
	assert_int_equal(ward_file_write_atomic(path, "old contents", 12, 0600, &m), WARD_OK);

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGXFSZ, &ign, &oldsa), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	e1 = ward_file_write_atomic(path, big, sizeof(big), 0600, &m);
	{
		char path2[PATH_MAX];

		path_in(t, "fresh", path2);
		e2 = ward_file_create_excl(path2, big, sizeof(big), 0600, NULL);
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(sigaction(SIGXFSZ, &oldsa, NULL), 0);

	assert_int_equal(e1, WARD_E_IO);
	assert_int_equal(e2, WARD_E_IO);
	got = get_file(path, &len);
	assert_int_equal(len, 12);
	assert_memory_equal(got, "old contents", 12);
	free(got);
	assert_int_equal(count_entries(t->path, names, sizeof(names)), 1);
	assert_string_equal(names, "keep ");
}

static void test_create_excl(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX], target[PATH_MAX], link[PATH_MAX];
	struct ward_msg m = {0};
	uint8_t *got;
	size_t len;
	mode_t old_umask;

	path_in(t, "secret.key", path);
	old_umask = umask(0);
	assert_int_equal(ward_file_create_excl(path, "s3cret", 6, 0600, &m), WARD_OK);
	umask(old_umask);
	assert_int_equal(mode_of(path), 0600);
	got = get_file(path, &len);
	assert_int_equal(len, 6);
	assert_memory_equal(got, "s3cret", 6);
	free(got);

	/* an existing file is never replaced */
	assert_int_equal(ward_file_create_excl(path, "other", 5, 0600, &m), WARD_E_EXISTS);
	assert_non_null(strstr(m.text, "secret.key"));
	got = get_file(path, &len);
	assert_int_equal(len, 6);
	assert_memory_equal(got, "s3cret", 6);
	free(got);

	/* a symlink to an existing file: refused, the target unchanged */
	path_in(t, "link-to-existing", link);
	assert_int_equal(symlink(path, link), 0);
	assert_int_not_equal(ward_file_create_excl(link, "evil", 4, 0600, &m), WARD_OK);
	got = get_file(path, &len);
	assert_int_equal(len, 6);
	free(got);

	/* a dangling symlink: refused, and its target is not created */
	path_in(t, "target-of-dangling", target);
	path_in(t, "dangling", link);
	assert_int_equal(symlink(target, link), 0);
	assert_int_not_equal(ward_file_create_excl(link, "evil", 4, 0600, &m), WARD_OK);
	assert_int_equal(access(target, F_OK), -1);

	/* mode honoured for a non-secret file too, whatever the umask */
	path_in(t, "public.txt", path);
	old_umask = umask(077);
	assert_int_equal(ward_file_create_excl(path, "p", 1, 0644, &m), WARD_OK);
	umask(old_umask);
	assert_int_equal(mode_of(path), 0644);

	/* missing parent */
	path_in(t, "nope/file", path);
	assert_int_equal(ward_file_create_excl(path, "x", 1, 0600, &m), WARD_E_IO);
}

static void test_mkdir_p(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX], sub[PATH_MAX];
	struct ward_msg m = {0};
	mode_t old_umask;
	struct stat st;

	path_in(t, "a/b/c", path);
	old_umask = umask(022);
	assert_int_equal(ward_mkdir_p(path, 0700, &m), WARD_OK);
	umask(old_umask);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mode_of(path), 0700);
	path_in(t, "a/b", sub);
	assert_int_equal(mode_of(sub), 0700);
	path_in(t, "a", sub);
	assert_int_equal(mode_of(sub), 0700);

	/* existing directories are fine, and keep their mode */
	assert_int_equal(chmod(path, 0750), 0);
	assert_int_equal(ward_mkdir_p(path, 0700, &m), WARD_OK);
	assert_int_equal(mode_of(path), 0750);

	/* trailing slash, deeper */
	path_in(t, "a/b/c/d/e/", path);
	assert_int_equal(ward_mkdir_p(path, 0700, &m), WARD_OK);
	path_in(t, "a/b/c/d/e", path);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	/* absolute path given as is (the temp dir is absolute) */
	assert_int_equal(ward_mkdir_p(t->path, 0700, &m), WARD_OK);

	/* bad arguments */
	assert_int_equal(ward_mkdir_p("", 0700, &m), WARD_E_INVAL);
	{
		static char longp[PATH_MAX + 10];

		memset(longp, 'a', sizeof(longp) - 1);
		assert_int_equal(ward_mkdir_p(longp, 0700, &m), WARD_E_INVAL);
	}
}

static void test_mkdir_p_through_file(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX];
	struct ward_msg m = {0};

	path_in(t, "plain", path);
	put_file(path, "x", 1);
	/* a regular file in the middle of the path */
	path_in(t, "plain/sub", path);
	assert_int_equal(ward_mkdir_p(path, 0700, &m), WARD_E_IO);
	assert_true(m.text[0] != '\0');
	/* a regular file as the last component: mkdir -p fails ("File exists"),
	 * and a caller relying on WARD_OK would then write into a non-directory */
	path_in(t, "plain", path);
	assert_int_not_equal(ward_mkdir_p(path, 0700, &m), WARD_OK);
}

/* ---- hex, snprintf, u64 ----------------------------------------------- */

static void test_hex_encode(void **state)
{
	static const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[2 * sizeof(in) + 1];
	char empty[1] = {'x'};

	(void)state;
	ward_hex_encode(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abff");
	ward_hex_encode(in, 0, empty);
	assert_string_equal(empty, "");
}

static void test_hex_decode(void **state)
{
	uint8_t out[4];

	(void)state;
	assert_int_equal(ward_hex_decode("00017fFF", out, 4), WARD_OK);
	assert_int_equal(out[0], 0x00);
	assert_int_equal(out[1], 0x01);
	assert_int_equal(out[2], 0x7f);
	assert_int_equal(out[3], 0xff);
	assert_int_equal(ward_hex_decode("aBcD", out, 2), WARD_OK);
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[1], 0xcd);
	assert_int_equal(ward_hex_decode("", out, 0), WARD_OK);

	/* odd length */
	assert_int_equal(ward_hex_decode("abc", out, 1), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("abc", out, 2), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("a", out, 1), WARD_E_PARSE);
	/* too short */
	assert_int_equal(ward_hex_decode("", out, 1), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("abcd", out, 3), WARD_E_PARSE);
	/* trailing characters */
	assert_int_equal(ward_hex_decode("abcd", out, 1), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("abcd ", out, 2), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("abcd\n", out, 2), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("ab", out, 0), WARD_E_PARSE);
	/* bad characters, in either nibble and either position */
	assert_int_equal(ward_hex_decode("0g", out, 1), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("g0", out, 1), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode(" 0", out, 1), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("0x", out, 1), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("00:1", out, 2), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("-1", out, 1), WARD_E_PARSE);
	assert_int_equal(ward_hex_decode("\xc3\xa9", out, 1), WARD_E_PARSE);
}

/* STYLE.md rule 4: outputs are untouched on failure. */
static void test_hex_decode_output_untouched_on_failure(void **state)
{
	uint8_t out[4];

	(void)state;
	memset(out, 0xEE, sizeof(out));
	assert_int_equal(ward_hex_decode("0011zz33", out, 4), WARD_E_PARSE);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xEE);
	assert_int_equal(ward_hex_decode("00112233ff", out, 4), WARD_E_PARSE);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xEE);
}

static void test_snprintf_truncation(void **state)
{
	char buf[8];

	(void)state;
	assert_int_equal(ward_snprintf(buf, sizeof(buf), "%s", "1234567"), WARD_OK);
	assert_string_equal(buf, "1234567");
	assert_int_equal(ward_snprintf(buf, sizeof(buf), "%s", "12345678"), WARD_E_TOOBIG);
	assert_string_equal(buf, "1234567"); /* cut, but still terminated */
	assert_int_equal(ward_snprintf(buf, sizeof(buf), "%d-%d", 1234, 567), WARD_E_TOOBIG);
	assert_int_equal(ward_snprintf(buf, sizeof(buf), "%d-%d", 123, 567), WARD_OK);
	assert_string_equal(buf, "123-567");
	assert_int_equal(ward_snprintf(buf, sizeof(buf), "%s", ""), WARD_OK);
	assert_string_equal(buf, "");
	assert_int_equal(ward_snprintf(buf, 1, "%s", ""), WARD_OK);
	assert_int_equal(ward_snprintf(buf, 1, "%s", "a"), WARD_E_TOOBIG);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(ward_snprintf(NULL, 0, "%s", "a"), WARD_E_TOOBIG);
}

static void test_parse_u64(void **state)
{
	static const struct {
		const char *in;
		ward_err want;
		uint64_t value;
	} cases[] = {
	    {"0", WARD_OK, 0},
	    {"1", WARD_OK, 1},
	    {"42", WARD_OK, 42},
	    {"4294967296", WARD_OK, 4294967296ull},
	    {"18446744073709551615", WARD_OK, UINT64_MAX},
	    {"18446744073709551614", WARD_OK, UINT64_MAX - 1},
	    {"18446744073709551616", WARD_E_TOOBIG, 0},
	    {"18446744073709551620", WARD_E_TOOBIG, 0},
	    {"28446744073709551615", WARD_E_TOOBIG, 0},
	    {"99999999999999999999999", WARD_E_TOOBIG, 0},
	    {"", WARD_E_PARSE, 0},
	    {"-1", WARD_E_PARSE, 0},
	    {"-0", WARD_E_PARSE, 0},
	    {"+1", WARD_E_PARSE, 0},
	    {" 1", WARD_E_PARSE, 0},
	    {"1 ", WARD_E_PARSE, 0},
	    {"1\n", WARD_E_PARSE, 0},
	    {"\t1", WARD_E_PARSE, 0},
	    {"1 2", WARD_E_PARSE, 0},
	    {"0x10", WARD_E_PARSE, 0},
	    {"1e3", WARD_E_PARSE, 0},
	    {"1.0", WARD_E_PARSE, 0},
	    {"12a", WARD_E_PARSE, 0},
	    {"a12", WARD_E_PARSE, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0xDEADBEEFull;
		ward_err e = ward_parse_u64(cases[i].in, &v);

		if (e != cases[i].want)
			fail_msg("ward_parse_u64(\"%s\") = %d, want %d", cases[i].in, e,
			         cases[i].want);
		if (e == WARD_OK)
			assert_true(v == cases[i].value);
		else
			assert_true(v == 0xDEADBEEFull); /* untouched on failure */
	}
	{
		uint64_t v = 7;

		assert_int_equal(ward_parse_u64(NULL, &v), WARD_E_PARSE);
		assert_true(v == 7);
	}
}

/* ---- messages ----------------------------------------------------------- */

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n;

		if (*p < 0x80)
			n = 0;
		else if ((*p & 0xE0) == 0xC0)
			n = 1;
		else if ((*p & 0xF0) == 0xE0)
			n = 2;
		else if ((*p & 0xF8) == 0xF0)
			n = 3;
		else
			return false;
		p++;
		while (n--) {
			if ((*p & 0xC0) != 0x80)
				return false;
			p++;
		}
	}
	return true;
}

static void test_msg_set(void **state)
{
	struct ward_msg m = {0};
	char longs[2000];

	(void)state;
	assert_int_equal(ward_msg_set(NULL, WARD_E_PARSE, "x %d", 1), WARD_E_PARSE);
	assert_int_equal(ward_msg_set(&m, WARD_E_VERIFY, "%s: bad %d", "root.json", 3),
	                 WARD_E_VERIFY);
	assert_string_equal(m.text, "root.json: bad 3");
	assert_int_equal(ward_msg_set(&m, WARD_OK, "%s", ""), WARD_OK);
	assert_string_equal(m.text, "");

	/* exactly the room there is (511 characters): no cut marker */
	memset(longs, 'a', sizeof(longs));
	longs[511] = '\0';
	ward_msg_set(&m, WARD_E_IO, "%s", longs);
	assert_int_equal(strlen(m.text), 511);
	assert_string_equal(m.text, longs);

	/* one more: cut, ending in "..." */
	longs[511] = 'b';
	longs[512] = '\0';
	ward_msg_set(&m, WARD_E_IO, "%s", longs);
	assert_int_equal(strlen(m.text), sizeof(m.text) - 1);
	assert_memory_equal(m.text, longs, 508);
	assert_string_equal(m.text + 508, "...");

	/* far longer */
	memset(longs, 'c', sizeof(longs));
	longs[sizeof(longs) - 1] = '\0';
	ward_msg_set(&m, WARD_E_IO, "path %s: too long", longs);
	assert_int_equal(strlen(m.text), sizeof(m.text) - 1);
	assert_memory_equal(m.text, "path ccc", 8);
	assert_string_equal(m.text + 508, "...");
}

/* err.c promises a long message "is cut at a character boundary". */
static void test_msg_cut_at_character_boundary(void **state)
{
	struct ward_msg m = {0};
	char s[1200];
	size_t n = 0;

	(void)state;
	for (int shift = 0; shift < 4; shift++) {
		/* shift ASCII bytes, then two- and three-byte characters past the limit */
		n = 0;
		for (int i = 0; i < 505 + shift; i++)
			s[n++] = 'a';
		while (n + 5 < sizeof(s)) {
			memcpy(s + n, "\xc3\xa9\xe2\x82\xac", 5); /* "é€" */
			n += 5;
		}
		s[n] = '\0';
		ward_msg_set(&m, WARD_E_PARSE, "%s", s);
		assert_string_equal(m.text + strlen(m.text) - 3, "...");
		if (!utf8_valid(m.text))
			fail_msg("cut message (shift %d) is not valid UTF-8: byte before \"...\" "
			         "is 0x%02x",
			         shift, (unsigned char)m.text[strlen(m.text) - 4]);
	}
}

static void test_msg_prefix(void **state)
{
	struct ward_msg m = {0};
	char longs[600];

	(void)state;
	assert_int_equal(ward_msg_prefix(NULL, WARD_E_PARSE, "x"), WARD_E_PARSE);
	ward_msg_set(&m, WARD_E_PARSE, "expected an object");
	assert_int_equal(ward_msg_prefix(&m, WARD_E_PARSE, "%s: ", "root.json"), WARD_E_PARSE);
	assert_string_equal(m.text, "root.json: expected an object");
	assert_int_equal(ward_msg_prefix(&m, WARD_E_PARSE, "update: "), WARD_E_PARSE);
	assert_string_equal(m.text, "update: root.json: expected an object");

	/* no reason yet: the error's name stands in */
	m.text[0] = '\0';
	ward_msg_prefix(&m, WARD_E_THRESHOLD, "timestamp.json: ");
	assert_string_equal(m.text, "timestamp.json: signature threshold not met");

	/* prefix plus reason longer than the buffer: cut with "..." */
	memset(longs, 'r', sizeof(longs));
	longs[500] = '\0';
	ward_msg_set(&m, WARD_E_IO, "%s", longs);
	ward_msg_prefix(&m, WARD_E_IO, "%s: ", "some/long/path/name");
	assert_int_equal(strlen(m.text), sizeof(m.text) - 1);
	assert_memory_equal(m.text, "some/long/path/name: rrr", 24);
	assert_string_equal(m.text + 508, "...");
}

static void test_err_names(void **state)
{
	(void)state;
	assert_string_equal(ward_err_name(WARD_OK), "ok");
	for (int e = WARD_E_NOMEM; e <= WARD_E_UNSUPPORTED; e++) {
		const char *n = ward_err_name((ward_err)e);

		assert_non_null(n);
		assert_true(n[0] != '\0');
		assert_string_not_equal(n, "unknown error");
		for (int f = WARD_OK; f < e; f++)
			assert_string_not_equal(n, ward_err_name((ward_err)f));
	}
	assert_string_equal(ward_err_name((ward_err)999), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_to_exact_max),
	    cmocka_unit_test(test_append_one_past_from_below),
	    cmocka_unit_test(test_append_zero_max),
	    cmocka_unit_test(test_append_growth_keeps_contents),
	    cmocka_unit_test(test_printf_bounds),
	    cmocka_unit_test(test_reset_and_steal),
	    cmocka_unit_test(test_secret_buffer),
	    cmocka_unit_test(test_wipe),
	    cmocka_unit_test(test_ct_eq),
	    cmocka_unit_test_setup_teardown(test_file_read_limits, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_file_read_missing_empty_dir, tmp_setup,
	                                    tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_write_atomic_replaces, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_write_atomic_failures_leave_no_temp, tmp_setup,
	                                    tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_write_io_error_injected, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_create_excl, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_mkdir_p, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_mkdir_p_through_file, tmp_setup, tmp_teardown),
	    cmocka_unit_test(test_hex_encode),
	    cmocka_unit_test(test_hex_decode),
	    cmocka_unit_test(test_hex_decode_output_untouched_on_failure),
	    cmocka_unit_test(test_snprintf_truncation),
	    cmocka_unit_test(test_parse_u64),
	    cmocka_unit_test(test_msg_set),
	    cmocka_unit_test(test_msg_cut_at_character_boundary),
	    cmocka_unit_test(test_msg_prefix),
	    cmocka_unit_test(test_err_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
