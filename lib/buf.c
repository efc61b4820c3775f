/*
 * lib/buf.c — bounded buffers, files, wiping, constant-time compare, hex.
 *
 * Invariants of struct ward_buf: len <= cap, len <= max, p[len] == '\0'
 * whenever p != NULL (so text can be used as a C string), and a secret
 * buffer's bytes are wiped before its storage is released or moved.
 * File writes that replace something go through a temporary file, fsync and
 * rename, then fsync of the directory, so a crash leaves old or new.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/buf.h"

void ward_buf_init(struct ward_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void ward_buf_init_secret(struct ward_buf *b, size_t max)
{
	ward_buf_init(b, max);
	b->secret = true;
}

static ward_err grow(struct ward_buf *b, size_t need)
{
	size_t ncap;
	uint8_t *np;

	if (need <= b->cap && b->p)
		return WARD_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	if (ncap < need)
		return WARD_E_TOOBIG;
	np = malloc(ncap + 1);
	if (!np)
		return WARD_E_NOMEM;
	if (b->p) {
		memcpy(np, b->p, b->len);
		if (b->secret)
			ward_wipe(b->p, b->cap + 1);
		free(b->p);
	}
	b->p = np;
	b->cap = ncap;
	b->p[b->len] = '\0';
	return WARD_OK;
}

ward_err ward_buf_append(struct ward_buf *b, const void *data, size_t n)
{
	ward_err e;

	if (n > b->max || b->len > b->max - n)
		return WARD_E_TOOBIG;
	e = grow(b, b->len + n);
	if (e)
		return e;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return WARD_OK;
}

ward_err ward_buf_printf(struct ward_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	ward_err e;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return WARD_E_INVAL;
	if ((size_t)n > b->max || b->len > b->max - (size_t)n)
		return WARD_E_TOOBIG;
	e = grow(b, b->len + (size_t)n);
	if (e)
		return e;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return WARD_OK;
}

void ward_buf_reset(struct ward_buf *b)
{
	if (b->p) {
		if (b->secret)
			ward_wipe(b->p, b->cap + 1);
		b->p[0] = '\0';
	}
	b->len = 0;
}

void ward_buf_free(struct ward_buf *b)
{
	if (!b)
		return;
	if (b->p) {
		if (b->secret)
			ward_wipe(b->p, b->cap + 1);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

uint8_t *ward_buf_steal(struct ward_buf *b, size_t *len)
{
	uint8_t *p = b->p;

	if (len)
		*len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void ward_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	if (!p)
		return;
	while (n--)
		*v++ = 0;
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

bool ward_ct_eq(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

ward_err ward_file_read(const char *path, size_t max, struct ward_buf *out, struct ward_msg *m)
{
	struct ward_buf b;
	uint8_t chunk[16384];
	ward_err e = WARD_E_IO;
	int fd;

	ward_buf_init(&b, max);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = ward_msg_set(m, errno == ENOENT ? WARD_E_NOTFOUND : WARD_E_IO, "%s: %s", path,
				 strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = ward_msg_set(m, WARD_E_IO, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		e = ward_buf_append(&b, chunk, (size_t)r);
		if (e == WARD_E_TOOBIG) {
			e = ward_msg_set(m, e, "%s: larger than the %zu-byte limit", path, max);
			goto out;
		}
		if (e) {
			e = ward_msg_set(m, e, "%s: %s", path, ward_err_name(e));
			goto out;
		}
	}
	if (!b.p) {
		e = ward_buf_append(&b, "", 0); /* give empty files a terminated buffer */
		if (e)
			goto out;
	}
	*out = b;
	ward_buf_init(&b, 0);
	e = WARD_OK;
out:
	if (fd >= 0)
		close(fd);
	ward_buf_free(&b);
	return e;
}

static ward_err write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return WARD_E_IO;
		p += w;
		len -= (size_t)w;
	}
	return WARD_OK;
}

ward_err ward_fsync_parent(const char *path, struct ward_msg *m)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;
	ward_err e = WARD_OK;

	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == path) {
		dir[0] = '/';
		dir[1] = '\0';
	} else {
		size_t n = (size_t)(slash - path);

		if (n >= sizeof(dir))
			return ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", path);
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ward_msg_set(m, WARD_E_IO, "%s: %s", dir, strerror(errno));
	if (fsync(fd) != 0)
		e = ward_msg_set(m, WARD_E_IO, "%s: fsync: %s", dir, strerror(errno));
	close(fd);
	return e;
}

ward_err ward_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
				struct ward_msg *m)
{
	char tmp[PATH_MAX];
	int fd = -1;
	ward_err e;

	e = ward_snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	if (e)
		return ward_msg_set(m, e, "%s: path too long", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return ward_msg_set(m, WARD_E_IO, "%s: cannot create temporary file: %s", path,
				    strerror(errno));
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != WARD_OK || fsync(fd) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s: write: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		e = ward_msg_set(m, WARD_E_IO, "%s: close: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s: rename: %s", path, strerror(errno));
		goto fail;
	}
	return ward_fsync_parent(path, m);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return e;
}

ward_err ward_file_create_excl(const char *path, const void *data, size_t len, mode_t mode,
			       struct ward_msg *m)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	ward_err e = WARD_OK;

	if (fd < 0)
		return ward_msg_set(m, errno == EEXIST ? WARD_E_EXISTS : WARD_E_IO,
				    "%s: %s", path,
				    errno == EEXIST ? "already exists; refusing to overwrite"
						    : strerror(errno));
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != WARD_OK || fsync(fd) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s: write: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return e;
	}
	if (close(fd) != 0) {
		unlink(path);
		return ward_msg_set(m, WARD_E_IO, "%s: close: %s", path, strerror(errno));
	}
	return ward_fsync_parent(path, m);
}

ward_err ward_mkdir_p(const char *path, mode_t mode, struct ward_msg *m)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(p))
		return ward_msg_set(m, WARD_E_INVAL, "bad directory path '%s'", path);
	memcpy(p, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];

		p[i] = '\0';
		if (mkdir(p, mode) != 0) {
			struct stat st;

			if (errno != EEXIST)
				return ward_msg_set(m, WARD_E_IO, "%s: mkdir: %s", p, strerror(errno));
			if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
				return ward_msg_set(m, WARD_E_IO, "%s: exists and is not a directory", p);
		}
		p[i] = c;
	}
	return WARD_OK;
}

void ward_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ward_err ward_hex_decode(const char *hex, uint8_t *out, size_t n)
{
	/* validate everything first: out is untouched on failure */
	for (size_t i = 0; i < 2 * n; i++)
		if (!hex[i] || hexval(hex[i]) < 0)
			return WARD_E_PARSE;
	if (hex[2 * n] != '\0')
		return WARD_E_PARSE;
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
	return WARD_OK;
}

ward_err ward_snprintf(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(dst, n, fmt, ap);
	va_end(ap);
	if (r < 0)
		return WARD_E_INVAL;
	if ((size_t)r >= n)
		return WARD_E_TOOBIG;
	return WARD_OK;
}

ward_err ward_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return WARD_E_PARSE;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return WARD_E_PARSE;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return WARD_E_TOOBIG;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return WARD_OK;
}
