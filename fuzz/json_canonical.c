/*
 * fuzz/json_canonical.c — strict JSON parsing and canonical JSON.
 *
 * Input: any bytes, taken as a JSON document (at most 1 MiB).
 * Properties checked (abort() when one fails):
 *  1. canonicalisation is a fixed point: if canon(parse(x)) succeeds and its
 *     output contains no raw control byte (canonical JSON leaves every byte
 *     but '"' and '\' unescaped, so such output is not JSON), then that output
 *     parses again and canonicalises to the same bytes;
 *  2. the pretty form is faithful: parse(pretty(v)) canonicalises to the
 *     same bytes as v.
 * Everything allocated is freed, so LeakSanitizer checks the error paths too.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ward/buf.h"
#include "ward/json.h"

#define IN_MAX (1024u * 1024)
#define CANON_MAX (4u * 1024 * 1024)   /* canonical output is never longer than its input */
#define PRETTY_MAX (32u * 1024 * 1024) /* indentation of deep nesting grows quadratically */

static int has_control_byte(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20)
			return 1;
	return 0;
}

/* Canonical encoding of v into a fresh buffer; WARD_OK or the failure. */
static ward_err canon(const json_t *v, struct ward_buf *out)
{
	struct ward_msg m = {0};

	ward_buf_init(out, CANON_MAX);
	return ward_json_canonical(v, out, &m);
}

static void same_or_abort(const struct ward_buf *a, const struct ward_buf *b)
{
	if (a->len != b->len || (a->len > 0 && memcmp(a->p, b->p, a->len) != 0))
		abort();
}

/* Property 1: canonical output re-parses to the same canonical output. */
static void check_fixed_point(const struct ward_buf *c1)
{
	struct ward_msg m = {0};
	struct ward_buf c2;
	json_t *v2 = NULL;

	ward_buf_init(&c2, CANON_MAX);
	if (ward_json_parse(c1->p, c1->len, CANON_MAX, &v2, &m) != WARD_OK) {
		/* Raw control characters are the one legitimate reason. */
		if (!has_control_byte(c1->p, c1->len))
			abort();
		goto out;
	}
	if (canon(v2, &c2) != WARD_OK)
		abort(); /* it canonicalised once; the same value must again */
	same_or_abort(c1, &c2);
out:
	ward_buf_free(&c2);
	json_decref(v2);
}

/* Property 2: pretty output is the same value. */
static void check_pretty(const json_t *v, const struct ward_buf *c1)
{
	struct ward_msg m = {0};
	struct ward_buf pretty, c3;
	json_t *v3 = NULL;

	ward_buf_init(&pretty, PRETTY_MAX);
	ward_buf_init(&c3, CANON_MAX);
	if (ward_json_pretty(v, &pretty, &m) != WARD_OK)
		goto out; /* too big to pretty-print is allowed */
	if (ward_json_parse(pretty.p, pretty.len, PRETTY_MAX, &v3, &m) != WARD_OK)
		abort(); /* ward must read what ward writes */
	if (canon(v3, &c3) != WARD_OK)
		abort();
	same_or_abort(c1, &c3);
out:
	ward_buf_free(&pretty);
	ward_buf_free(&c3);
	json_decref(v3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_msg m = {0};
	struct ward_buf c1;
	json_t *v = NULL;

	ward_buf_init(&c1, CANON_MAX);
	if (size > IN_MAX)
		goto out;
	if (ward_json_parse(data, size, IN_MAX, &v, &m) != WARD_OK)
		goto out;
	if (canon(v, &c1) != WARD_OK)
		goto out; /* floats and the like are refused, not approximated */
	check_fixed_point(&c1);
	check_pretty(v, &c1);
out:
	ward_buf_free(&c1);
	json_decref(v);
	return 0;
}
