/*
 * tests/unit/json.c — unit tests of lib/json.c: strict parsing and TUF's
 * canonical JSON.
 *
 * The canonical known answers come from the reference implementation:
 * fixtures/canonical/<name>.json is an input, <name>.canon what tuf-js's
 * @tufjs/canonical-json makes of it (fixtures/make_fixtures.mjs); ward must
 * produce the same bytes. OLPC canonical JSON is not JSON: control
 * characters inside strings are written raw and only '"' and '\' are
 * escaped, so canonical output with a control character cannot be parsed
 * back; idempotence is checked on the fixtures without them. Parser
 * allocation failures are injected through jansson's allocator hooks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ward/buf.h"
#include "ward/json.h"

#define FIXTURE_MAX (1024 * 1024)

/* ---- helpers -------------------------------------------------------- */

static json_t *parse_ok(const char *text)
{
	json_t *v = NULL;
	struct ward_msg m = {0};
	ward_err e = ward_json_parse(text, strlen(text), 1 << 20, &v, &m);

	if (e != WARD_OK)
		fail_msg("parse of %s failed: %s", text, m.text);
	return v;
}

static ward_err parse_len(const void *text, size_t len, json_t **out)
{
	struct ward_msg m = {0};
	ward_err e = ward_json_parse(text, len, 1 << 20, out, &m);

	if (e != WARD_OK && m.text[0] == '\0')
		fail_msg("parse failed with %d but left no message", e);
	return e;
}

static ward_err parse_str(const char *text, json_t **out)
{
	return parse_len(text, strlen(text), out);
}

/* Canonical form of v as a NUL-terminated string in a buffer the caller frees. */
static void canon_ok(const json_t *v, struct ward_buf *out)
{
	struct ward_msg m = {0};

	ward_buf_init(out, 1 << 20);
	if (ward_json_canonical(v, out, &m) != WARD_OK)
		fail_msg("canonical failed: %s", m.text);
}

static void read_fixture(const char *name, struct ward_buf *out)
{
	char path[512];
	struct ward_msg m = {0};

	assert_int_equal(ward_snprintf(path, sizeof(path), "%s/%s", WARD_FIXTURES, name), WARD_OK);
	if (ward_file_read(path, FIXTURE_MAX, out, &m) != WARD_OK)
		fail_msg("fixture %s: %s (run tests/unit/fixtures/make_fixtures.mjs?)", name,
		         m.text);
}

static void expect_parse_error(const void *text, size_t len, const char *label)
{
	json_t *v = (json_t *)(uintptr_t)0x1; /* sentinel: must stay untouched */
	ward_err e = parse_len(text, len, &v);

	if (e != WARD_E_PARSE)
		fail_msg("%s: expected WARD_E_PARSE, got %d", label, e);
	assert_true(v == (json_t *)(uintptr_t)0x1);
}

static void expect_str(const char *text, const char *label)
{
	expect_parse_error(text, strlen(text), label);
}

/* ---- parsing ---------------------------------------------------------- */

static void test_parse_ok(void **state)
{
	json_t *v = parse_ok(" {\"a\": [1, \"x\", true, null], \"b\": {}}\n");

	(void)state;
	assert_true(json_is_object(v));
	assert_int_equal(json_object_size(v), 2);
	assert_int_equal(json_array_size(json_object_get(v, "a")), 4);
	json_decref(v);
	v = parse_ok("[]");
	assert_true(json_is_array(v));
	json_decref(v);
}

static void test_parse_duplicate_keys(void **state)
{
	static const char *const docs[] = {
	    "{\"a\": 1, \"a\": 1}",
	    "{\"a\": 1, \"b\": 2, \"a\": 3}",
	    "{\"x\": {\"k\": 1, \"k\": 2}}",
	    "[{\"ok\": 1}, {\"k\": true, \"k\": false}]",
	    "{\"a\": 1, \"\\u0061\": 2}", /* the same key once decoded */
	    "{\"\\u00e9\": 1, \"\xc3\xa9\": 2}",
	    "{\"signed\": {}, \"signatures\": [], \"signed\": {\"evil\": true}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		expect_parse_error(docs[i], strlen(docs[i]), docs[i]);
}

static void test_parse_size_limit(void **state)
{
	static const char doc[] = "{\"key\": \"value\"}";
	const size_t n = sizeof(doc) - 1;
	json_t *v = NULL;
	struct ward_msg m = {0};

	(void)state;
	assert_int_equal(ward_json_parse(doc, n, n, &v, &m), WARD_OK);
	json_decref(v);
	v = (json_t *)(uintptr_t)0x1;
	assert_int_equal(ward_json_parse(doc, n, n - 1, &v, &m), WARD_E_TOOBIG);
	assert_true(v == (json_t *)(uintptr_t)0x1);
	assert_non_null(strstr(m.text, "15"));
	assert_int_equal(ward_json_parse(doc, n, 0, &v, &m), WARD_E_TOOBIG);
	assert_true(v == (json_t *)(uintptr_t)0x1);
}

static void test_parse_truncated(void **state)
{
	static const char doc[] =
	    "{\"signed\": {\"a\": [1, 2, {\"b\": \"c\\u00e9\\\"\"}], \"t\": true, \"n\": null, "
	    "\"i\": -12}, \"signatures\": []}";
	json_t *v = NULL;

	(void)state;
	assert_int_equal(parse_str(doc, &v), WARD_OK);
	json_decref(v);
	/* every proper prefix, the empty one included, is refused */
	for (size_t len = 0; len < sizeof(doc) - 1; len++) {
		char label[32];

		snprintf(label, sizeof(label), "prefix of %zu bytes", len);
		expect_parse_error(doc, len, label);
	}
}

static void test_parse_nul(void **state)
{
	static const char raw_in_string[] = "{\"a\": \"x\0y\"}";
	static const char raw_after[] = "{\"a\": 1}\0";

	(void)state;
	expect_str("{\"a\": \"x\\u0000y\"}", "escaped NUL in a value");
	expect_str("{\"a\\u0000b\": 1}", "escaped NUL in a key");
	expect_str("[\"\\u0000\"]", "lone escaped NUL");
	expect_parse_error(raw_in_string, sizeof(raw_in_string) - 1, "raw NUL in a string");
	expect_parse_error(raw_after, sizeof(raw_after) - 1, "raw NUL after the document");
}

static void test_parse_invalid_utf8(void **state)
{
	static const char *const docs[] = {
	    "[\"\xff\"]",             /* never valid */
	    "[\"\xc3\"]",             /* truncated two-byte sequence */
	    "[\"\xc3(\"]",            /* bad continuation */
	    "[\"\xc0\xaf\"]",         /* overlong '/' */
	    "[\"\xe0\x80\xaf\"]",     /* overlong, three bytes */
	    "[\"\xed\xa0\x80\"]",     /* UTF-16 surrogate encoded in UTF-8 */
	    "[\"\xf4\x90\x80\x80\"]", /* above U+10FFFF */
	    "[\"\x80\"]",             /* lone continuation byte */
	    "{\"\xfe\": 1}",          /* in a key */
	    "[\"\\ud800\"]",          /* lone high surrogate escape */
	    "[\"\\udc00\"]",          /* lone low surrogate escape */
	    "[\"\\ud800\\u0041\"]",   /* high surrogate not followed by a low one */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char label[32];

		snprintf(label, sizeof(label), "invalid UTF-8 case %zu", i);
		expect_parse_error(docs[i], strlen(docs[i]), label);
	}
}

static void test_parse_malformed(void **state)
{
	static const char *const docs[] = {
	    "{} x",
	    "{}{}",
	    "[1,]",
	    "{\"a\":1,}",
	    "{'a': 1}",
	    "{a: 1}",
	    "[01]",
	    "[+1]",
	    "[\"tab\there\"]",
	    "[\"nl\nhere\"]",
	    "[NaN]",
	    "[Infinity]",
	    "[\"\\x41\"]",
	    "[1 2]",
	    "{\"a\" 1}",
	    "// c\n{}",
	    "[9223372036854775808]", /* does not fit an integer: refused, not rounded */
	    "[-9223372036854775809]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		expect_parse_error(docs[i], strlen(docs[i]), docs[i]);
}

static void test_parse_deep_nesting(void **state)
{
	const size_t depth = 100000;
	char *doc = malloc(2 * depth);

	(void)state;
	assert_non_null(doc);
	memset(doc, '[', depth);
	memset(doc + depth, ']', depth);
	expect_parse_error(doc, 2 * depth, "100000 nested arrays");
	free(doc);
}

/* ---- canonical JSON --------------------------------------------------- */

/* Every fixture: name, and whether its canonical form contains raw control characters. */
static const struct {
	const char *name;
	bool has_controls;
} canon_fixtures[] = {
    {"nested-sort", false},       {"unicode", false},    {"quotes-backslashes", false},
    {"control-characters", true}, {"integers", false},   {"empty-containers", false},
    {"literals", false},          {"whitespace", false}, {"deep", false},
    {"array-order", false},       {"tuf-targets", true},
};

static void test_canonical_known_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(canon_fixtures) / sizeof(canon_fixtures[0]); i++) {
		char in_name[128], want_name[128];
		struct ward_buf in, want, got;
		json_t *v = NULL;
		struct ward_msg m = {0};

		snprintf(in_name, sizeof(in_name), "canonical/%s.json", canon_fixtures[i].name);
		snprintf(want_name, sizeof(want_name), "canonical/%s.canon",
		         canon_fixtures[i].name);
		read_fixture(in_name, &in);
		read_fixture(want_name, &want);
		if (ward_json_parse(in.p, in.len, FIXTURE_MAX, &v, &m) != WARD_OK)
			fail_msg("%s: %s", in_name, m.text);
		canon_ok(v, &got);
		if (got.len != want.len || memcmp(got.p, want.p, want.len) != 0)
			fail_msg("%s: canonical form differs from tuf-js'\n got: %s\nwant: %s",
			         canon_fixtures[i].name, (char *)got.p, (char *)want.p);
		/* the fixture table says which outputs hold raw control characters */
		{
			bool ctl = false;

			for (size_t j = 0; j < got.len; j++)
				ctl |= got.p[j] < 0x20;
			assert_int_equal(ctl, canon_fixtures[i].has_controls);
		}
		json_decref(v);
		ward_buf_free(&in);
		ward_buf_free(&want);
		ward_buf_free(&got);
	}
}

/* canonical(parse(canonical(x))) == canonical(x) wherever canonical(x) is JSON. */
static void test_canonical_idempotent(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(canon_fixtures) / sizeof(canon_fixtures[0]); i++) {
		char name[128];
		struct ward_buf in, c1, c2;
		json_t *v = NULL, *v2 = NULL;
		struct ward_msg m = {0};

		snprintf(name, sizeof(name), "canonical/%s.json", canon_fixtures[i].name);
		read_fixture(name, &in);
		assert_int_equal(ward_json_parse(in.p, in.len, FIXTURE_MAX, &v, &m), WARD_OK);
		canon_ok(v, &c1);
		if (canon_fixtures[i].has_controls) {
			/* raw control characters: canonical JSON that JSON parsers refuse */
			assert_int_equal(ward_json_parse(c1.p, c1.len, FIXTURE_MAX, &v2, &m),
			                 WARD_E_PARSE);
		} else {
			assert_int_equal(ward_json_parse(c1.p, c1.len, FIXTURE_MAX, &v2, &m),
			                 WARD_OK);
			canon_ok(v2, &c2);
			assert_int_equal(c2.len, c1.len);
			assert_memory_equal(c2.p, c1.p, c1.len);
			ward_buf_free(&c2);
			json_decref(v2);
		}
		json_decref(v);
		ward_buf_free(&in);
		ward_buf_free(&c1);
	}
}

/*
 * Where OLPC canonical JSON differs from JSON: only '"' and '\' are escaped;
 * newline, tab, other control characters, DEL, '/' and non-ASCII are written
 * as raw bytes; no whitespace anywhere.
 */
static void test_canonical_olpc_strings(void **state)
{
	static const char want[] =
	    "{\"k\\\"\\\\\n\":\"a\nb\tc\x01\x1f\x7f/\\\"\\\\\xc3\xa9\xf0\x9f\x98\x80\"}";
	json_t *v;
	struct ward_buf out;

	(void)state;
	v = json_pack("{s:s}", "k\"\\\n", "a\nb\tc\x01\x1f\x7f/\"\\\xc3\xa9\xf0\x9f\x98\x80");
	assert_non_null(v);
	canon_ok(v, &out);
	assert_int_equal(out.len, sizeof(want) - 1);
	assert_memory_equal(out.p, want, sizeof(want) - 1);
	json_decref(v);
	ward_buf_free(&out);

	/* the same value arriving as JSON escapes canonicalises to raw bytes */
	v = parse_ok("[\"\\n\\t\\u0001\\u00e9\\ud83d\\ude00\\/\"]");
	canon_ok(v, &out);
	assert_string_equal((char *)out.p, "[\"\n\t\x01\xc3\xa9\xf0\x9f\x98\x80/\"]");
	json_decref(v);
	ward_buf_free(&out);
}

static void test_canonical_scalars(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"[true,false,null]", "[true,false,null]"},
	    {"[ 0 , -0 , 1 , -1 ]", "[0,0,1,-1]"},
	    {"[9223372036854775807]", "[9223372036854775807]"},
	    {"[-9223372036854775808]", "[-9223372036854775808]"},
	    {"{ }", "{}"},
	    {"[ [ ] , { } ]", "[[],{}]"},
	    {"{\"\": \"\"}", "{\"\":\"\"}"},
	    {"{\"b\":1,\"a\":2,\"A\":3,\"_\":4,\"aa\":5,\"a0\":6,\"\":7}",
	     "{\"\":7,\"A\":3,\"_\":4,\"a\":2,\"a0\":6,\"aa\":5,\"b\":1}"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = parse_ok(cases[i].in);
		struct ward_buf out;

		canon_ok(v, &out);
		if (strcmp((char *)out.p, cases[i].want))
			fail_msg("%s: got %s, want %s", cases[i].in, (char *)out.p, cases[i].want);
		json_decref(v);
		ward_buf_free(&out);
	}
}

/*
 * Keys sort by their UTF-8 bytes (json.h; securesystemslib sorts by code
 * point, which is the same order). JavaScript's sort() compares UTF-16 code
 * units, so tuf-js puts U+1F600 (D83D DE00) before U+FF01; this is the one
 * known place where tuf-js' canonical form differs, and ward follows the
 * header and securesystemslib.
 */
static void test_canonical_sort_utf8_bytes(void **state)
{
	json_t *v = parse_ok("{\"\\ud83d\\ude00\": 1, \"\\uff01\": 2, \"\\u00e9\": 3, \"z\": 4}");
	struct ward_buf out;

	(void)state;
	canon_ok(v, &out);
	assert_string_equal((char *)out.p,
	                    "{\"z\":4,\"\xc3\xa9\":3,\"\xef\xbc\x81\":2,\"\xf0\x9f\x98\x80\":1}");
	json_decref(v);
	ward_buf_free(&out);
}

static void test_canonical_refuses_floats(void **state)
{
	static const char *const docs[] = {
	    "[1.5]",
	    "[1.0]",
	    "[1e3]",
	    "[1E+2]",
	    "[-0.0]",
	    "[0.1]",
	    "{\"a\": {\"b\": [1, 2, 3.25]}}",
	    "{\"version\": 2.0}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *v = parse_ok(docs[i]);
		struct ward_buf out;
		struct ward_msg m = {0};

		ward_buf_init(&out, 1024);
		assert_int_equal(ward_buf_append(&out, "prefix", 6), WARD_OK);
		if (ward_json_canonical(v, &out, &m) != WARD_E_PARSE)
			fail_msg("%s: a float was not refused", docs[i]);
		assert_true(m.text[0] != '\0');
		/* out as it was */
		assert_int_equal(out.len, 6);
		assert_string_equal((char *)out.p, "prefix");
		json_decref(v);
		ward_buf_free(&out);
	}
}

static void test_canonical_size_limit(void **state)
{
	json_t *v = parse_ok("{\"b\": [1, 2], \"a\": \"x\"}");
	static const char want[] = "{\"a\":\"x\",\"b\":[1,2]}";
	const size_t n = sizeof(want) - 1;
	struct ward_buf out;
	struct ward_msg m = {0};

	(void)state;
	ward_buf_init(&out, n);
	assert_int_equal(ward_json_canonical(v, &out, &m), WARD_OK);
	assert_string_equal((char *)out.p, want);
	ward_buf_free(&out);

	/* one byte short: TOOBIG, and out keeps what it held before */
	ward_buf_init(&out, n + 1);
	assert_int_equal(ward_buf_append(&out, "AB", 2), WARD_OK);
	assert_int_equal(ward_json_canonical(v, &out, &m), WARD_E_TOOBIG);
	assert_int_equal(out.len, 2);
	assert_string_equal((char *)out.p, "AB");
	assert_true(m.text[0] != '\0');
	ward_buf_free(&out);

	ward_buf_init(&out, n - 1);
	assert_int_equal(ward_json_canonical(v, &out, NULL), WARD_E_TOOBIG);
	assert_int_equal(out.len, 0);
	ward_buf_free(&out);
	json_decref(v);
}

static json_t *nested_arrays(size_t depth)
{
	json_t *v = json_array();

	for (size_t i = 1; i < depth; i++) {
		json_t *outer = json_array();

		assert_non_null(outer);
		assert_int_equal(json_array_append_new(outer, v), 0);
		v = outer;
	}
	return v;
}

static void test_canonical_depth_bounded(void **state)
{
	json_t *v = nested_arrays(100);
	struct ward_buf out;
	struct ward_msg m = {0};

	(void)state;
	canon_ok(v, &out);
	assert_int_equal(out.len, 200);
	ward_buf_free(&out);
	json_decref(v);

	v = nested_arrays(1000);
	ward_buf_init(&out, 1 << 20);
	assert_int_not_equal(ward_json_canonical(v, &out, &m), WARD_OK);
	assert_int_equal(out.len, 0);
	assert_true(m.text[0] != '\0');
	ward_buf_free(&out);
	json_decref(v);
}

static void test_pretty(void **state)
{
	json_t *v = parse_ok("{\"b\": 1, \"a\": [true]}");
	struct ward_buf out;
	struct ward_msg m = {0};

	(void)state;
	ward_buf_init(&out, 1024);
	assert_int_equal(ward_json_pretty(v, &out, &m), WARD_OK);
	assert_string_equal((char *)out.p, "{\n  \"a\": [\n    true\n  ],\n  \"b\": 1\n}\n");
	ward_buf_free(&out);
	ward_buf_init(&out, 10);
	assert_int_equal(ward_json_pretty(v, &out, &m), WARD_E_TOOBIG);
	assert_int_equal(out.len, 0);
	ward_buf_free(&out);
	json_decref(v);
}

/* ---- typed getters ---------------------------------------------------- */

static void test_getters_ok(void **state)
{
	json_t *v = parse_ok("{\"o\": {}, \"a\": [1], \"s\": \"str\", \"u\": 18, \"max\": "
	                     "9223372036854775807, \"zero\": 0, \"t\": true, \"f\": false}");
	json_t *o = NULL;
	const char *s = NULL;
	uint64_t u = 0;
	int b = -1;
	struct ward_msg m = {0};

	(void)state;
	assert_int_equal(ward_json_get_object(v, "o", "doc", &o, &m), WARD_OK);
	assert_true(o == json_object_get(v, "o"));
	assert_int_equal(ward_json_get_array(v, "a", "doc", &o, &m), WARD_OK);
	assert_true(o == json_object_get(v, "a"));
	assert_int_equal(ward_json_get_string(v, "s", "doc", &s, &m), WARD_OK);
	assert_string_equal(s, "str");
	assert_int_equal(ward_json_get_u64(v, "u", "doc", &u, &m), WARD_OK);
	assert_true(u == 18);
	assert_int_equal(ward_json_get_u64(v, "max", "doc", &u, &m), WARD_OK);
	assert_true(u == 9223372036854775807ull);
	assert_int_equal(ward_json_get_u64(v, "zero", "doc", &u, &m), WARD_OK);
	assert_true(u == 0);
	assert_int_equal(ward_json_get_bool(v, "t", "doc", &b, &m), WARD_OK);
	assert_int_equal(b, 1);
	assert_int_equal(ward_json_get_bool(v, "f", "doc", &b, &m), WARD_OK);
	assert_int_equal(b, 0);
	json_decref(v);
}

static void test_getters_missing_and_wrong_type(void **state)
{
	json_t *v = parse_ok("{\"o\": {}, \"a\": [1], \"s\": \"str\", \"u\": 18, \"neg\": -1, "
	                     "\"r\": 1.0, \"t\": true, \"n\": null, \"us\": \"18\"}");
	json_t *o = (json_t *)(uintptr_t)0x1;
	const char *s = (const char *)(uintptr_t)0x1;
	uint64_t u = 77;
	int b = 77;
	struct ward_msg m = {0};

	(void)state;
	/* missing: the message names the member and what it belongs to */
	assert_int_equal(ward_json_get_object(v, "nope", "root.json signed", &o, &m), WARD_E_PARSE);
	assert_non_null(strstr(m.text, "nope"));
	assert_non_null(strstr(m.text, "root.json signed"));
	assert_int_equal(ward_json_get_array(v, "nope", "x", &o, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_string(v, "nope", "x", &s, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_u64(v, "nope", "x", &u, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_bool(v, "nope", "x", &b, &m), WARD_E_PARSE);

	/* wrong types */
	assert_int_equal(ward_json_get_object(v, "a", "x", &o, &m), WARD_E_PARSE);
	assert_non_null(strstr(m.text, "\"a\""));
	assert_int_equal(ward_json_get_object(v, "n", "x", &o, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_array(v, "o", "x", &o, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_string(v, "u", "x", &s, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_string(v, "n", "x", &s, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_u64(v, "s", "x", &u, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_u64(v, "us", "x", &u, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_u64(v, "r", "x", &u, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_u64(v, "t", "x", &u, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_bool(v, "u", "x", &b, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_bool(v, "s", "x", &b, &m), WARD_E_PARSE);
	assert_int_equal(ward_json_get_bool(v, "n", "x", &b, &m), WARD_E_PARSE);

	/* a negative integer is not a u64 */
	assert_int_equal(ward_json_get_u64(v, "neg", "x", &u, &m), WARD_E_PARSE);
	assert_non_null(strstr(m.text, "neg"));

	/* the container itself is not an object */
	assert_int_equal(ward_json_get_string(json_object_get(v, "a"), "s", "x", &s, &m),
	                 WARD_E_PARSE);
	assert_int_equal(ward_json_get_u64(NULL, "u", "x", &u, NULL), WARD_E_PARSE);

	/* outputs untouched by every failure above */
	assert_true(o == (json_t *)(uintptr_t)0x1);
	assert_true(s == (const char *)(uintptr_t)0x1);
	assert_true(u == 77);
	assert_int_equal(b, 77);
	json_decref(v);
}

/* ---- allocation failure ----------------------------------------------- */

static long alloc_budget = -1; /* allocations left before failing; -1 = unlimited */
static long alloc_live;        /* blocks handed out and not yet freed */

static void *failing_malloc(size_t n)
{
	void *p;

	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	p = malloc(n);
	if (p)
		alloc_live++;
	return p;
}

static void counting_free(void *p)
{
	if (p)
		alloc_live--;
	free(p);
}

/*
 * Fail jansson's k-th allocation for k = 0, 1, ... until parsing succeeds:
 * every run must fail cleanly (an error, no crash, nothing left allocated)
 * and the first run with enough memory must succeed.
 */
static void test_parse_allocation_failures(void **state)
{
	static const char doc[] =
	    "{\"signed\": {\"_type\": \"targets\", \"targets\": {\"a\": {\"length\": 1, "
	    "\"hashes\": {\"sha256\": \"00\"}}}, \"list\": [1, 2, \"three\", [4], {\"5\": 5}]}, "
	    "\"signatures\": [{\"keyid\": \"k\", \"sig\": \"s\"}]}";
	bool succeeded = false;
	long k;

	(void)state;
	json_set_alloc_funcs(failing_malloc, counting_free);
	for (k = 0; k < 10000 && !succeeded; k++) {
		json_t *v = NULL;
		ward_err e;

		alloc_budget = k;
		alloc_live = 0;
		e = ward_json_parse(doc, sizeof(doc) - 1, 4096, &v, NULL);
		alloc_budget = -1;
		if (e == WARD_OK) {
			succeeded = true;
			json_decref(v);
		} else {
			assert_null(v);
		}
		if (alloc_live != 0) {
			json_set_alloc_funcs(malloc, free);
			fail_msg("failing allocation %ld: %ld blocks leaked", k, alloc_live);
		}
	}
	json_set_alloc_funcs(malloc, free);
	assert_true(succeeded);
	assert_true(k > 10); /* many allocations were made to fail on the way */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_duplicate_keys),
	    cmocka_unit_test(test_parse_size_limit),
	    cmocka_unit_test(test_parse_truncated),
	    cmocka_unit_test(test_parse_nul),
	    cmocka_unit_test(test_parse_invalid_utf8),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_parse_deep_nesting),
	    cmocka_unit_test(test_canonical_known_answers),
	    cmocka_unit_test(test_canonical_idempotent),
	    cmocka_unit_test(test_canonical_olpc_strings),
	    cmocka_unit_test(test_canonical_scalars),
	    cmocka_unit_test(test_canonical_sort_utf8_bytes),
	    cmocka_unit_test(test_canonical_refuses_floats),
	    cmocka_unit_test(test_canonical_size_limit),
	    cmocka_unit_test(test_canonical_depth_bounded),
	    cmocka_unit_test(test_pretty),
	    cmocka_unit_test(test_getters_ok),
	    cmocka_unit_test(test_getters_missing_and_wrong_type),
	    cmocka_unit_test(test_parse_allocation_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
