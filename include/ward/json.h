/*
 * ward/json.h — strict JSON parsing and canonical JSON.
 *
 * Parsing wraps jansson with ward's rules: a maximum input size fixed by the
 * caller, duplicate object keys refused (two readers could otherwise disagree
 * on what was signed), NUL in strings refused, nesting bounded by jansson.
 *
 * Canonical JSON is the OLPC form that TUF signs (securesystemslib's
 * encode_canonical, tuf-js's canonicalize): objects with keys sorted by their
 * UTF-8 bytes, no insignificant whitespace, strings with only '"' and '\'
 * escaped (every other byte verbatim), integers only. Floats, and so anything
 * canonical JSON cannot represent, are refused rather than approximated.
 */
#ifndef WARD_JSON_H
#define WARD_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ward/buf.h"
#include "ward/err.h"

/* Parse len bytes (len <= max, else WARD_E_TOOBIG). Caller frees *out with json_decref. */
ward_err ward_json_parse(const void *data, size_t len, size_t max, json_t **out,
			 struct ward_msg *m) WARD_MUST_USE;

/* Canonical encoding of v appended to out (which the caller initialised with its limit). */
ward_err ward_json_canonical(const json_t *v, struct ward_buf *out, struct ward_msg *m) WARD_MUST_USE;

/* Pretty encoding for humans (sorted keys, 2-space indent, trailing newline) into out. */
ward_err ward_json_pretty(const json_t *v, struct ward_buf *out, struct ward_msg *m) WARD_MUST_USE;

/*
 * Typed getters that say what was wrong. Each looks up key in obj and fails
 * with WARD_E_PARSE naming `what` (e.g. "root.json signed") when the member
 * is missing or of the wrong type. Returned pointers are borrowed from obj.
 */
ward_err ward_json_get_object(const json_t *obj, const char *key, const char *what, json_t **out,
			      struct ward_msg *m) WARD_MUST_USE;
ward_err ward_json_get_array(const json_t *obj, const char *key, const char *what, json_t **out,
			     struct ward_msg *m) WARD_MUST_USE;
ward_err ward_json_get_string(const json_t *obj, const char *key, const char *what,
			      const char **out, struct ward_msg *m) WARD_MUST_USE;
/* A non-negative integer member. */
ward_err ward_json_get_u64(const json_t *obj, const char *key, const char *what, uint64_t *out,
			   struct ward_msg *m) WARD_MUST_USE;
ward_err ward_json_get_bool(const json_t *obj, const char *key, const char *what, int *out,
			    struct ward_msg *m) WARD_MUST_USE;

#endif
