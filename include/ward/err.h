/*
 * ward/err.h — the one error idiom of libward.
 *
 * Fallible functions return ward_err: 0 is success, anything else says which
 * kind of failure happened. The human-readable reason (what failed, on which
 * input, what to do) goes into an optional caller-owned struct ward_msg, so the
 * library keeps no global or thread-local state. Messages never contain secrets.
 *
 * Usage:
 *	struct ward_msg m = {0};
 *	if (ward_tuf_refresh(c, &f, &m) != WARD_OK)
 *		fprintf(stderr, "ward: %s\n", m.text);
 */
#ifndef WARD_ERR_H
#define WARD_ERR_H

#include <stddef.h>

#define WARD_MUST_USE __attribute__((warn_unused_result))
#define WARD_PRINTF(f, a) __attribute__((format(printf, f, a)))

typedef enum ward_err {
	WARD_OK = 0,
	WARD_E_NOMEM,     /* an allocation failed */
	WARD_E_IO,        /* a file or device operation failed */
	WARD_E_PARSE,     /* input is malformed */
	WARD_E_TOOBIG,    /* input exceeds its fixed maximum size */
	WARD_E_INVAL,     /* a caller passed an invalid argument */
	WARD_E_NOTFOUND,  /* the named thing does not exist */
	WARD_E_EXISTS,    /* refusing to overwrite something that exists */
	WARD_E_CRYPTO,    /* the crypto backend failed (not a bad signature) */
	WARD_E_VERIFY,    /* a signature, hash or length did not verify */
	WARD_E_THRESHOLD, /* too few valid signatures */
	WARD_E_EXPIRED,   /* metadata is past its expiry */
	WARD_E_ROLLBACK,  /* a version went backwards */
	WARD_E_NET,       /* a transfer failed */
	WARD_E_DENIED,    /* an authorization check refused */
	WARD_E_UNSUPPORTED, /* a key type, scheme or feature ward does not do */
} ward_err;

/* Room for one message; longer messages are cut, never overflowed. */
struct ward_msg {
	char text[512]; /* NUL-terminated reason, empty when none was set */
};

/* Short stable name of an error code ("verify", "expired", ...). */
const char *ward_err_name(ward_err e);

/*
 * Record a reason in m (m may be NULL) and return e, so a failure site reads
 *	return ward_msg_set(m, WARD_E_PARSE, "%s: expected an object", path);
 */
ward_err ward_msg_set(struct ward_msg *m, ward_err e, const char *fmt, ...) WARD_PRINTF(3, 4);

/* Prefix an existing reason with context: "root.json: " + old reason. */
ward_err ward_msg_prefix(struct ward_msg *m, ward_err e, const char *fmt, ...) WARD_PRINTF(3, 4);

#endif
