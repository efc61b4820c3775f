/*
 * ward/buf.h — bounded byte buffers, bounded file reading, atomic file
 * writing, secret wiping and constant-time comparison.
 *
 * Every buffer has a maximum size fixed when it is created; an append that
 * would pass it fails with WARD_E_TOOBIG and leaves the buffer unchanged.
 * A buffer created with ward_buf_init_secret() is wiped whenever it grows
 * (the old storage) and when it is freed.
 */
#ifndef WARD_BUF_H
#define WARD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ward/err.h"

struct ward_buf {
	uint8_t *p;  /* contents; NULL until the first append; always NUL-terminated past len */
	size_t len;  /* bytes in use */
	size_t cap;  /* bytes allocated (excluding the terminating NUL) */
	size_t max;  /* hard limit on len, fixed at init */
	bool secret; /* wipe on free and on growth */
};

void ward_buf_init(struct ward_buf *b, size_t max);
void ward_buf_init_secret(struct ward_buf *b, size_t max);
ward_err ward_buf_append(struct ward_buf *b, const void *data, size_t n) WARD_MUST_USE;
ward_err ward_buf_printf(struct ward_buf *b, const char *fmt, ...) WARD_PRINTF(2, 3) WARD_MUST_USE;
/* Empty the buffer (wiping if secret), keep its storage and limit. */
void ward_buf_reset(struct ward_buf *b);
/* Release storage (wiping if secret); the buffer may be reused after init. Accepts NULL. */
void ward_buf_free(struct ward_buf *b);
/* Hand the contents to the caller (who frees with free(), or wipe+free if secret). */
uint8_t *ward_buf_steal(struct ward_buf *b, size_t *len);

/* Overwrite n bytes at p with zeros in a way the compiler cannot elide. */
void ward_wipe(void *p, size_t n);
/* Constant-time equality of two n-byte regions (time depends on n only). */
bool ward_ct_eq(const void *a, const void *b, size_t n);

/*
 * Read a whole file of at most max bytes into out (initialised here, caller
 * frees with ward_buf_free). A larger file fails with WARD_E_TOOBIG.
 */
ward_err ward_file_read(const char *path, size_t max, struct ward_buf *out,
			struct ward_msg *m) WARD_MUST_USE;

/*
 * Replace path with data atomically: write path.tmp.XXXXXX in the same
 * directory, fsync it, rename over path, fsync the directory. A crash at any
 * instant leaves either the old file or the new one, never a mix. mode is the
 * new file's permission bits.
 */
ward_err ward_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
				struct ward_msg *m) WARD_MUST_USE;

/*
 * Create path exclusively (O_EXCL, never following or replacing anything that
 * exists) with mode, write data and fsync. For secret files use mode 0600.
 */
ward_err ward_file_create_excl(const char *path, const void *data, size_t len, mode_t mode,
			       struct ward_msg *m) WARD_MUST_USE;

/* fsync the directory holding path (after a rename or create). */
ward_err ward_fsync_parent(const char *path, struct ward_msg *m) WARD_MUST_USE;

/* mkdir -p with mode for each created component. */
ward_err ward_mkdir_p(const char *path, mode_t mode, struct ward_msg *m) WARD_MUST_USE;

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void ward_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decode exactly 2*n hex characters (either case) into n bytes. */
ward_err ward_hex_decode(const char *hex, uint8_t *out, size_t n) WARD_MUST_USE;

/* Checked snprintf: WARD_E_TOOBIG when the result would be cut. */
ward_err ward_snprintf(char *dst, size_t n, const char *fmt, ...) WARD_PRINTF(3, 4) WARD_MUST_USE;

/* Parse a non-negative decimal integer that fits in uint64 with no trailing text. */
ward_err ward_parse_u64(const char *s, uint64_t *out) WARD_MUST_USE;

#endif
