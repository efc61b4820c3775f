/*
 * tests/unit/key.c — unit tests of lib/key.c: TUF key objects and key ids.
 *
 * Round trips ward key -> TUF key object -> ward key for ed25519 and P-256;
 * key id known answers from two implementations ward did not write: key
 * objects made by @tufjs/models (fixtures/keys/tufjs-*.json, ids as tuf-js
 * repositories compute them) and the seven keys of a production root
 * (fixtures/tuf/sigstore-8.root.json, legacy keytype and
 * keyid_hash_algorithms); refusal of key types, schemes and public values
 * ward does not verify, without crashing and without touching the output.
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
#include "ward/crypto.h"
#include "ward/json.h"
#include "ward/key.h"

#define FIXTURE_MAX  (1024 * 1024)
#define KEY_SENTINEL ((struct ward_key *)(uintptr_t)0x1)

/* ---- helpers -------------------------------------------------------- */

static void read_fixture(const char *name, struct ward_buf *out)
{
	char path[512];
	struct ward_msg m = {0};

	assert_int_equal(ward_snprintf(path, sizeof(path), "%s/%s", WARD_FIXTURES, name), WARD_OK);
	if (ward_file_read(path, FIXTURE_MAX, out, &m) != WARD_OK)
		fail_msg("fixture %s: %s (run tests/unit/fixtures/make_fixtures.mjs?)", name,
		         m.text);
}

static json_t *json_fixture(const char *name)
{
	struct ward_buf b;
	struct ward_msg m = {0};
	json_t *v = NULL;

	read_fixture(name, &b);
	if (ward_json_parse(b.p, b.len, FIXTURE_MAX, &v, &m) != WARD_OK)
		fail_msg("fixture %s: %s", name, m.text);
	ward_buf_free(&b);
	return v;
}

static json_t *key_obj(const char *keytype, const char *scheme, const char *pub)
{
	json_t *v = json_pack("{s:s,s:s,s:{s:s}}", "keytype", keytype, "scheme", scheme, "keyval",
	                      "public", pub);

	assert_non_null(v);
	return v;
}

static bool is_lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* ---- round trips ------------------------------------------------------ */

static void round_trip(enum ward_key_type type)
{
	struct ward_key *k = NULL, *back = NULL;
	json_t *obj = NULL;
	struct ward_msg m = {0};
	const char *keytype = NULL, *scheme = NULL, *pub = NULL;
	json_t *keyval = NULL;
	char id1[WARD_KEYID_HEX_LEN + 1], id2[WARD_KEYID_HEX_LEN + 1], id3[WARD_KEYID_HEX_LEN + 1];

	assert_int_equal(ward_crypto_key_generate(type, &k, &m), WARD_OK);
	assert_int_equal(ward_key_to_tuf(k, &obj, &m), WARD_OK);
	assert_int_equal(json_object_size(obj), 3);
	assert_int_equal(ward_json_get_string(obj, "keytype", "key", &keytype, &m), WARD_OK);
	assert_int_equal(ward_json_get_string(obj, "scheme", "key", &scheme, &m), WARD_OK);
	assert_int_equal(ward_json_get_object(obj, "keyval", "key", &keyval, &m), WARD_OK);
	assert_int_equal(json_object_size(keyval), 1);
	assert_int_equal(ward_json_get_string(keyval, "public", "key", &pub, &m), WARD_OK);
	if (type == WARD_KEY_ED25519) {
		assert_string_equal(keytype, "ed25519");
		assert_string_equal(scheme, "ed25519");
		assert_true(is_lower_hex(pub, 64));
	} else {
		struct ward_buf pem;

		assert_string_equal(keytype, "ecdsa");
		assert_string_equal(scheme, "ecdsa-sha2-nistp256");
		assert_int_equal(ward_crypto_key_public_pem(k, &pem), WARD_OK);
		assert_string_equal(pub, (char *)pem.p);
		assert_int_equal(strncmp(pub, "-----BEGIN PUBLIC KEY-----\n", 27), 0);
		ward_buf_free(&pem);
	}
	assert_string_equal(scheme, ward_key_scheme(type));

	assert_int_equal(ward_key_from_tuf(obj, &back, &m), WARD_OK);
	assert_int_equal(ward_crypto_key_type(back), type);
	assert_false(ward_crypto_key_has_private(back));
	assert_true(ward_crypto_key_equal(k, back));

	/* one id whichever way it is computed */
	assert_int_equal(ward_key_id(k, id1, &m), WARD_OK);
	assert_int_equal(ward_key_id(back, id2, &m), WARD_OK);
	assert_int_equal(ward_key_id_of_tuf(obj, id3, &m), WARD_OK);
	assert_true(is_lower_hex(id1, WARD_KEYID_HEX_LEN));
	assert_string_equal(id1, id2);
	assert_string_equal(id1, id3);

	/* a signature by k verifies with the key read back */
	{
		uint8_t sig[WARD_SIG_MAX_LEN];
		size_t siglen = sizeof(sig);

		assert_int_equal(ward_crypto_sign(k, "msg", 3, sig, &siglen, &m), WARD_OK);
		assert_int_equal(ward_crypto_verify(back, "msg", 3, sig, siglen), WARD_OK);
	}
	json_decref(obj);
	ward_crypto_key_free(k);
	ward_crypto_key_free(back);
}

static void test_round_trip_ed25519(void **state)
{
	(void)state;
	round_trip(WARD_KEY_ED25519);
}

static void test_round_trip_p256(void **state)
{
	(void)state;
	round_trip(WARD_KEY_ECDSA_P256);
}

static void test_distinct_keys_distinct_ids(void **state)
{
	struct ward_key *a = NULL, *b = NULL;
	char ia[WARD_KEYID_HEX_LEN + 1], ib[WARD_KEYID_HEX_LEN + 1];

	(void)state;
	assert_int_equal(ward_crypto_key_generate(WARD_KEY_ED25519, &a, NULL), WARD_OK);
	assert_int_equal(ward_crypto_key_generate(WARD_KEY_ED25519, &b, NULL), WARD_OK);
	assert_int_equal(ward_key_id(a, ia, NULL), WARD_OK);
	assert_int_equal(ward_key_id(b, ib, NULL), WARD_OK);
	assert_string_not_equal(ia, ib);
	ward_crypto_key_free(a);
	ward_crypto_key_free(b);
}

/* ---- known answers ---------------------------------------------------- */

static void check_tufjs_key(const char *fixture, enum ward_key_type type)
{
	json_t *f = json_fixture(fixture);
	json_t *obj = json_object_get(f, "key");
	const char *want = json_string_value(json_object_get(f, "keyid"));
	char id[WARD_KEYID_HEX_LEN + 1], id2[WARD_KEYID_HEX_LEN + 1];
	struct ward_key *k = NULL;
	json_t *again = NULL;
	struct ward_msg m = {0};

	assert_non_null(obj);
	assert_non_null(want);
	assert_int_equal(ward_key_id_of_tuf(obj, id, &m), WARD_OK);
	assert_string_equal(id, want);

	/* ward reads the key, and writes back an object with the same id */
	if (ward_key_from_tuf(obj, &k, &m) != WARD_OK)
		fail_msg("%s: %s", fixture, m.text);
	assert_int_equal(ward_crypto_key_type(k), type);
	assert_int_equal(ward_key_id(k, id2, &m), WARD_OK);
	assert_string_equal(id2, want);
	assert_int_equal(ward_key_to_tuf(k, &again, &m), WARD_OK);
	assert_true(json_equal(again, obj));
	json_decref(again);
	ward_crypto_key_free(k);
	json_decref(f);
}

static void test_keyid_tufjs_ed25519(void **state)
{
	(void)state;
	check_tufjs_key("keys/tufjs-ed25519.json", WARD_KEY_ED25519);
}

static void test_keyid_tufjs_p256(void **state)
{
	(void)state;
	check_tufjs_key("keys/tufjs-ecdsa.json", WARD_KEY_ECDSA_P256);
}

/*
 * Sigstore's root v8: keys written by other tooling, with the legacy keytype
 * "ecdsa-sha2-nistp256" and "keyid_hash_algorithms". Their ids are over the
 * object as given, extra member included.
 */
static void test_keyid_sigstore_root(void **state)
{
	json_t *doc = json_fixture("tuf/sigstore-8.root.json");
	json_t *keys = json_object_get(json_object_get(doc, "signed"), "keys");
	const char *want;
	json_t *obj;
	size_t n = 0;

	(void)state;
	assert_int_equal(json_object_size(keys), 7);
	json_object_foreach(keys, want, obj)
	{
		char id[WARD_KEYID_HEX_LEN + 1];
		struct ward_key *k = NULL;
		struct ward_msg m = {0};

		assert_int_equal(ward_key_id_of_tuf(obj, id, &m), WARD_OK);
		assert_string_equal(id, want);
		if (ward_key_from_tuf(obj, &k, &m) != WARD_OK)
			fail_msg("sigstore key %s: %s", want, m.text);
		assert_int_equal(ward_crypto_key_type(k), WARD_KEY_ECDSA_P256);
		ward_crypto_key_free(k);
		n++;
	}
	assert_int_equal(n, 7);
	json_decref(doc);
}

/* The id is over the object as given: an extra member changes it. */
static void test_keyid_over_object_as_given(void **state)
{
	json_t *f = json_fixture("keys/tufjs-ed25519.json");
	json_t *obj = json_deep_copy(json_object_get(f, "key"));
	char a[WARD_KEYID_HEX_LEN + 1], b[WARD_KEYID_HEX_LEN + 1];

	(void)state;
	assert_int_equal(ward_key_id_of_tuf(obj, a, NULL), WARD_OK);
	assert_int_equal(json_object_set_new(obj, "keyid_hash_algorithms",
	                                     json_pack("[s,s]", "sha256", "sha512")),
	                 0);
	assert_int_equal(ward_key_id_of_tuf(obj, b, NULL), WARD_OK);
	assert_string_not_equal(a, b);
	/* something canonical JSON cannot encode has no id */
	assert_int_equal(json_object_set_new(obj, "x", json_real(0.5)), 0);
	assert_int_not_equal(ward_key_id_of_tuf(obj, b, NULL), WARD_OK);
	json_decref(obj);
	json_decref(f);
}

/* ---- refusals --------------------------------------------------------- */

static void expect_refused(json_t *obj, ward_err want, const char *label)
{
	struct ward_key *k = KEY_SENTINEL;
	struct ward_msg m = {0};
	ward_err e = ward_key_from_tuf(obj, &k, &m);

	if (e == WARD_OK) {
		ward_crypto_key_free(k);
		fail_msg("%s: accepted", label);
	}
	if (want != WARD_OK && e != want)
		fail_msg("%s: got error %d (%s), want %d", label, e, m.text, want);
	if (m.text[0] == '\0')
		fail_msg("%s: refused without a message", label);
	assert_true(k == KEY_SENTINEL);
	json_decref(obj);
}

static void test_unsupported_types(void **state)
{
	struct ward_buf rsa, ed_pem;
	const char *ed_hex = "e8bd29d20025d3ac755a27b8d8efe185e368244000d9d3b76e32afb968cb0ea8";

	(void)state;
	read_fixture("keys/rsa.pem", &rsa);
	read_fixture("keys/ed25519-spki.pem", &ed_pem);
	expect_refused(key_obj("rsa", "rsassa-pss-sha256", (char *)rsa.p), WARD_E_UNSUPPORTED,
	               "rsa");
	expect_refused(key_obj("rsa", "rsa-pkcs1v15-sha256", (char *)rsa.p), WARD_E_UNSUPPORTED,
	               "rsa pkcs1");
	expect_refused(key_obj("ed448", "ed448", ed_hex), WARD_E_UNSUPPORTED, "ed448");
	expect_refused(key_obj("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384", (char *)ed_pem.p),
	               WARD_E_UNSUPPORTED, "P-384 keytype");
	expect_refused(key_obj("ecdsa", "ecdsa-sha2-nistp384", (char *)ed_pem.p),
	               WARD_E_UNSUPPORTED, "ecdsa with P-384 scheme");
	/* keytype and scheme that do not belong together */
	expect_refused(key_obj("ed25519", "ecdsa-sha2-nistp256", ed_hex), WARD_E_UNSUPPORTED,
	               "ed25519 keytype, ecdsa scheme");
	expect_refused(key_obj("ecdsa", "ed25519", ed_hex), WARD_E_UNSUPPORTED,
	               "ecdsa keytype, ed25519 scheme");
	expect_refused(key_obj("ecdsa-sha2-nistp256", "ed25519", ed_hex), WARD_E_UNSUPPORTED,
	               "legacy ecdsa keytype, ed25519 scheme");
	/* names are exact */
	expect_refused(key_obj("ED25519", "ed25519", ed_hex), WARD_E_UNSUPPORTED,
	               "upper-case keytype");
	expect_refused(key_obj("ed25519", "Ed25519", ed_hex), WARD_E_UNSUPPORTED,
	               "upper-case scheme");
	expect_refused(key_obj("", "", ed_hex), WARD_E_UNSUPPORTED, "empty names");
	ward_buf_free(&rsa);
	ward_buf_free(&ed_pem);
}

static void test_malformed_ed25519(void **state)
{
	static const char *const pubs[] = {
	    "e8bd29d20025d3ac755a27b8d8efe185e368244000d9d3b76e32afb968cb0ea",   /* 63 */
	    "e8bd29d20025d3ac755a27b8d8efe185e368244000d9d3b76e32afb968cb0ea80", /* 65 */
	    "e8bd29d20025d3ac755a27b8d8efe185e368244000d9d3b76e32afb968cb0eaz",  /* non-hex */
	    "g8bd29d20025d3ac755a27b8d8efe185e368244000d9d3b76e32afb968cb0ea8",
	    " e8bd29d20025d3ac755a27b8d8efe185e368244000d9d3b76e32afb968cb0e",
	    "e8bd29d20025d3ac755a27b8d8efe185e368244000d9d3b76e32afb968cb0e\n",
	    "e8bd29d20025d3ac755a27b8d8efe185e368244000d9d3b76e32afb968cb0ea8e8bd29d20025d3ac755a27"
	    "b8"
	    "d8efe185e368244000d9d3b76e32afb968cb0ea8", /* 128 */
	    "",
	    "6OvSnSACXTrHVaJ7jY7+GF42gkQADZ07dul6+5aMsOqA==", /* base64, not hex */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(pubs) / sizeof(pubs[0]); i++) {
		char label[40];

		snprintf(label, sizeof(label), "ed25519 public case %zu", i);
		expect_refused(key_obj("ed25519", "ed25519", pubs[i]), WARD_E_PARSE, label);
	}
}

static void test_malformed_p256(void **state)
{
	struct ward_buf p384, ed_pem, rsa;
	json_t *f = json_fixture("keys/tufjs-ecdsa.json");
	const char *pem = json_string_value(
	    json_object_get(json_object_get(json_object_get(f, "key"), "keyval"), "public"));
	char cut[256];

	(void)state;
	assert_non_null(pem);
	read_fixture("keys/p384.pem", &p384);
	read_fixture("keys/ed25519-spki.pem", &ed_pem);
	read_fixture("keys/rsa.pem", &rsa);
	expect_refused(key_obj("ecdsa", "ecdsa-sha2-nistp256", (char *)p384.p), WARD_OK,
	               "P-384 PEM");
	expect_refused(key_obj("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", (char *)p384.p),
	               WARD_OK, "P-384 PEM, legacy keytype");
	expect_refused(key_obj("ecdsa", "ecdsa-sha2-nistp256", (char *)rsa.p), WARD_OK, "RSA PEM");
	expect_refused(key_obj("ecdsa", "ecdsa-sha2-nistp256", "not a PEM at all"), WARD_OK,
	               "garbage");
	expect_refused(key_obj("ecdsa", "ecdsa-sha2-nistp256",
	                       "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
	               WARD_OK, "garbage PEM body");
	expect_refused(key_obj("ecdsa", "ecdsa-sha2-nistp256",
	                       "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"),
	               WARD_OK, "PEM body not base64");
	expect_refused(key_obj("ecdsa", "ecdsa-sha2-nistp256", ""), WARD_OK, "empty");
	/* the tuf-js key cut short */
	assert_true(strlen(pem) > 60);
	memcpy(cut, pem, 60);
	cut[60] = '\0';
	expect_refused(key_obj("ecdsa", "ecdsa-sha2-nistp256", cut), WARD_OK, "truncated PEM");
	/* a private key block where a public key belongs */
	expect_refused(key_obj("ecdsa", "ecdsa-sha2-nistp256",
	                       "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n"
	                       "-----END PRIVATE KEY-----\n"),
	               WARD_OK, "private key block");
	/* a P-256 PEM where ed25519 wants hex */
	expect_refused(key_obj("ed25519", "ed25519", pem), WARD_E_PARSE, "PEM as ed25519 public");
	/* sanity: the genuine P-256 PEM is accepted with either keytype */
	{
		struct ward_key *k = NULL;
		json_t *obj = key_obj("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", pem);

		assert_int_equal(ward_key_from_tuf(obj, &k, NULL), WARD_OK);
		ward_crypto_key_free(k);
		json_decref(obj);
	}
	ward_buf_free(&p384);
	ward_buf_free(&ed_pem);
	ward_buf_free(&rsa);
	json_decref(f);
}

/*
 * An ed25519 SPKI PEM labelled as an ECDSA P-256 key: ward must not hand back
 * an ed25519 key for it. The key object says which algorithm its signatures
 * use; tuf-js and python-tuf would not verify ed25519 signatures here, so
 * accepting it makes ward disagree with them on what is validly signed.
 */
static void test_ed25519_pem_labelled_ecdsa(void **state)
{
	struct ward_buf ed_pem;
	struct ward_key *k = KEY_SENTINEL;
	json_t *obj;
	ward_err e;
	enum ward_key_type got = WARD_KEY_ECDSA_P256;

	(void)state;
	read_fixture("keys/ed25519-spki.pem", &ed_pem);
	obj = key_obj("ecdsa", "ecdsa-sha2-nistp256", (char *)ed_pem.p);
	e = ward_key_from_tuf(obj, &k, NULL);
	if (e == WARD_OK) {
		got = ward_crypto_key_type(k);
		ward_crypto_key_free(k);
		k = KEY_SENTINEL;
	}
	json_decref(obj);
	ward_buf_free(&ed_pem);
	if (e == WARD_OK)
		fail_msg("keytype \"ecdsa\" with an ed25519 PEM accepted, as a key of type %s",
		         got == WARD_KEY_ED25519 ? "ed25519" : "P-256");
	assert_true(k == KEY_SENTINEL);
}

static void test_malformed_objects(void **state)
{
	const char *hex = "e8bd29d20025d3ac755a27b8d8efe185e368244000d9d3b76e32afb968cb0ea8";

	(void)state;
	expect_refused(json_pack("{s:s,s:{s:s}}", "scheme", "ed25519", "keyval", "public", hex),
	               WARD_E_PARSE, "no keytype");
	expect_refused(json_pack("{s:s,s:{s:s}}", "keytype", "ed25519", "keyval", "public", hex),
	               WARD_E_PARSE, "no scheme");
	expect_refused(json_pack("{s:s,s:s}", "keytype", "ed25519", "scheme", "ed25519"),
	               WARD_E_PARSE, "no keyval");
	expect_refused(
	    json_pack("{s:s,s:s,s:{}}", "keytype", "ed25519", "scheme", "ed25519", "keyval"),
	    WARD_E_PARSE, "no public");
	expect_refused(
	    json_pack("{s:s,s:s,s:s}", "keytype", "ed25519", "scheme", "ed25519", "keyval", hex),
	    WARD_E_PARSE, "keyval a string");
	expect_refused(json_pack("{s:s,s:s,s:{s:i}}", "keytype", "ed25519", "scheme", "ed25519",
	                         "keyval", "public", 5),
	               WARD_E_PARSE, "public an integer");
	expect_refused(json_pack("{s:i,s:s,s:{s:s}}", "keytype", 1, "scheme", "ed25519", "keyval",
	                         "public", hex),
	               WARD_E_PARSE, "keytype an integer");
	expect_refused(
	    json_pack("{s:s,s:n,s:{s:s}}", "keytype", "ed25519", "scheme", "keyval", "public", hex),
	    WARD_E_PARSE, "scheme null");
	expect_refused(json_pack("[s]", hex), WARD_E_PARSE, "not an object");
}

/* ---- names -------------------------------------------------------------- */

static void test_key_type_parse(void **state)
{
	static const struct {
		const char *in;
		ward_err want;
		enum ward_key_type type;
	} cases[] = {
	    {"ed25519", WARD_OK, WARD_KEY_ED25519},
	    {"ecdsa", WARD_OK, WARD_KEY_ECDSA_P256},
	    {"ecdsa-sha2-nistp256", WARD_OK, WARD_KEY_ECDSA_P256},
	    {"p256", WARD_OK, WARD_KEY_ECDSA_P256},
	    {"", WARD_E_UNSUPPORTED, WARD_KEY_ED25519},
	    {"rsa", WARD_E_UNSUPPORTED, WARD_KEY_ED25519},
	    {"ed448", WARD_E_UNSUPPORTED, WARD_KEY_ED25519},
	    {"ED25519", WARD_E_UNSUPPORTED, WARD_KEY_ED25519},
	    {"P256", WARD_E_UNSUPPORTED, WARD_KEY_ED25519},
	    {"ecdsa-sha2-nistp384", WARD_E_UNSUPPORTED, WARD_KEY_ED25519},
	    {"ed25519 ", WARD_E_UNSUPPORTED, WARD_KEY_ED25519},
	    {"ecdsa\n", WARD_E_UNSUPPORTED, WARD_KEY_ED25519},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* start from the other type, so a success is seen to write */
		enum ward_key_type t =
		    cases[i].type == WARD_KEY_ED25519 ? WARD_KEY_ECDSA_P256 : WARD_KEY_ED25519;
		enum ward_key_type before = t;
		ward_err e = ward_key_type_parse(cases[i].in, &t);

		if (e != cases[i].want)
			fail_msg("ward_key_type_parse(\"%s\") = %d, want %d", cases[i].in, e,
			         cases[i].want);
		if (e == WARD_OK)
			assert_int_equal(t, cases[i].type);
		else
			assert_int_equal(t, before);
	}
}

static void test_key_scheme(void **state)
{
	(void)state;
	assert_string_equal(ward_key_scheme(WARD_KEY_ED25519), "ed25519");
	assert_string_equal(ward_key_scheme(WARD_KEY_ECDSA_P256), "ecdsa-sha2-nistp256");
	assert_string_equal(ward_key_scheme((enum ward_key_type)42), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_ed25519),
	    cmocka_unit_test(test_round_trip_p256),
	    cmocka_unit_test(test_distinct_keys_distinct_ids),
	    cmocka_unit_test(test_keyid_tufjs_ed25519),
	    cmocka_unit_test(test_keyid_tufjs_p256),
	    cmocka_unit_test(test_keyid_sigstore_root),
	    cmocka_unit_test(test_keyid_over_object_as_given),
	    cmocka_unit_test(test_unsupported_types),
	    cmocka_unit_test(test_malformed_ed25519),
	    cmocka_unit_test(test_malformed_p256),
	    cmocka_unit_test(test_ed25519_pem_labelled_ecdsa),
	    cmocka_unit_test(test_malformed_objects),
	    cmocka_unit_test(test_key_type_parse),
	    cmocka_unit_test(test_key_scheme),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
