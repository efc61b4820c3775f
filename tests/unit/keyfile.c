/*
 * tests/unit/keyfile.c — private key files: round trips, and every way a file
 * can be wrong.
 *
 * Encrypted files cost one scrypt (log2n 16, about 0.2 s) per write and per
 * read that gets as far as the KDF, so one encrypted file is written in the
 * group setup and the corruption tests work on copies of its bytes. Each test
 * names its own files in a private temporary directory removed at the end.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/err.h"
#include "ward/keyfile.h"

#define PASS "correct horse battery staple"
#define HDR_LEN 44

struct fixture {
	char dir[256];        /* private temporary directory */
	struct ward_key *key; /* the ed25519 key inside shared.key */
	struct ward_buf file; /* bytes of shared.key, encrypted with PASS */
};

static struct fixture fx;

/* ---- helpers ------------------------------------------------------------- */

static const char *path_of(const char *name)
{
	static char p[512];

	assert_int_equal(ward_snprintf(p, sizeof(p), "%s/%s", fx.dir, name), WARD_OK);
	return p;
}

static void put_file(const char *name, const void *data, size_t len)
{
	struct ward_msg m = {0};

	if (ward_file_write_atomic(path_of(name), data, len, 0600, &m) != WARD_OK)
		fail_msg("writing %s: %s", name, m.text);
}

/* Split key file bytes into the comment line (without newline) and the decoded record. */
static void split(const struct ward_buf *file, char *comment, size_t csize, struct ward_buf *rec)
{
	const char *t = (const char *)file->p;
	const char *nl1 = memchr(t, '\n', file->len);
	const char *nl2;

	assert_non_null(nl1);
	nl2 = memchr(nl1 + 1, '\n', file->len - (size_t)(nl1 + 1 - t));
	assert_non_null(nl2);
	assert_true((size_t)(nl1 - t) < csize);
	memcpy(comment, t, (size_t)(nl1 - t));
	comment[nl1 - t] = '\0';
	assert_int_equal(ward_crypto_base64_decode(nl1 + 1, (size_t)(nl2 - nl1 - 1),
						   WARD_KEYFILE_MAX, rec),
			 WARD_OK);
}

/* Write a key file made of comment line and record (re-encoded). */
static void put_record(const char *name, const char *comment, const uint8_t *rec, size_t len)
{
	struct ward_buf b64, file;

	assert_int_equal(ward_crypto_base64_encode(rec, len, &b64), WARD_OK);
	ward_buf_init(&file, 3 * WARD_KEYFILE_MAX);
	assert_int_equal(ward_buf_append(&file, comment, strlen(comment)), WARD_OK);
	assert_int_equal(ward_buf_append(&file, "\n", 1), WARD_OK);
	assert_int_equal(ward_buf_append(&file, b64.p, b64.len), WARD_OK);
	assert_int_equal(ward_buf_append(&file, "\n", 1), WARD_OK);
	put_file(name, file.p, file.len);
	ward_buf_free(&b64);
	ward_buf_free(&file);
}

/* True when needle occurs in hay (memmem is a GNU extension). */
static bool contains(const void *hay, size_t n, const void *needle, size_t k)
{
	for (size_t i = 0; k <= n && i <= n - k; i++)
		if (memcmp((const uint8_t *)hay + i, needle, k) == 0)
			return true;
	return false;
}

static void assert_msg_has(const struct ward_msg *m, const char *needle)
{
	if (strstr(m->text, needle) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", m->text, needle);
}

/* Reading name fails with want, mentions needle, and leaves the output alone. */
static void expect_read_fails(const char *name, const char *pass, ward_err want,
			      const char *needle)
{
	struct ward_key *k = NULL;
	struct ward_msg m = {0};
	ward_err e;

	e = ward_keyfile_read(path_of(name), pass, pass ? strlen(pass) : 0, &k, &m);
	if (e != want)
		fail_msg("%s: expected %s, got %s (%s)", name, ward_err_name(want),
			 ward_err_name(e), m.text);
	assert_null(k);
	assert_msg_has(&m, needle);
	assert_msg_has(&m, name); /* the message names the file */
}

static mode_t mode_of(const char *name)
{
	struct stat st;

	assert_int_equal(lstat(path_of(name), &st), 0);
	return st.st_mode & 07777;
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct ward_msg m = {0};

	(void)state;
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	if (ward_snprintf(fx.dir, sizeof(fx.dir), "%s/ward-keyfile-XXXXXX", tmp) != WARD_OK ||
	    mkdtemp(fx.dir) == NULL)
		return -1;
	if (ward_crypto_key_generate(WARD_KEY_ED25519, &fx.key, &m) != WARD_OK)
		return -1;
	if (ward_keyfile_write(path_of("shared.key"), fx.key, PASS, strlen(PASS), "shared key",
			       &m) != WARD_OK) {
		fprintf(stderr, "setup: %s\n", m.text);
		return -1;
	}
	if (ward_file_read(path_of("shared.key"), WARD_KEYFILE_MAX, &fx.file, &m) != WARD_OK)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	DIR *d = opendir(fx.dir);
	struct dirent *e;
	char p[512];

	(void)state;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (ward_snprintf(p, sizeof(p), "%s/%s", fx.dir, e->d_name) == WARD_OK)
			unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(fx.dir);
	ward_crypto_key_free(fx.key);
	ward_buf_free(&fx.file);
	return 0;
}

/* ---- round trips ------------------------------------------------------------ */

static void roundtrip_encrypted(enum ward_key_type type, const char *name)
{
	struct ward_key *k = NULL, *back = NULL;
	struct ward_msg m = {0};
	struct ward_buf file, rec;
	char comment[256];
	uint8_t sig[WARD_SIG_MAX_LEN];
	size_t siglen = 0;
	bool enc = false;

	assert_int_equal(ward_crypto_key_generate(type, &k, &m), WARD_OK);
	if (ward_keyfile_write(path_of(name), k, PASS, strlen(PASS), "release key 2025", &m) !=
	    WARD_OK)
		fail_msg("write: %s", m.text);
	assert_int_equal(mode_of(name), 0600);
	assert_int_equal(ward_keyfile_is_encrypted(path_of(name), &enc, &m), WARD_OK);
	assert_true(enc);

	/* The format of keyfile.h, byte for byte. */
	assert_int_equal(ward_file_read(path_of(name), WARD_KEYFILE_MAX, &file, &m), WARD_OK);
	split(&file, comment, sizeof(comment), &rec);
	assert_string_equal(comment, "untrusted comment: release key 2025");
	assert_true(rec.len > HDR_LEN + 16);
	assert_memory_equal(rec.p, "WARDKEY1", 8);
	assert_int_equal(rec.p[8], 1);                  /* kdf scrypt */
	assert_int_equal(rec.p[9], WARD_KEYFILE_LOG2N); /* log2n */
	assert_int_equal(rec.p[10], 8);                 /* r */
	assert_int_equal(rec.p[11], 1);                 /* p */
	assert_int_equal((size_t)rec.p[40] << 24 | (size_t)rec.p[41] << 16 |
				 (size_t)rec.p[42] << 8 | rec.p[43],
			 rec.len - HDR_LEN);
	assert_true(file.p[file.len - 1] == '\n');
	/* The passphrase and the DER appear nowhere in the file. */
	assert_false(contains(file.p, file.len, PASS, strlen(PASS)));
	{
		struct ward_buf der;

		assert_int_equal(ward_crypto_key_private_der(k, &der), WARD_OK);
		assert_false(contains(rec.p, rec.len, der.p + der.len - 32, 32));
		ward_buf_free(&der);
	}

	if (ward_keyfile_read(path_of(name), PASS, strlen(PASS), &back, &m) != WARD_OK)
		fail_msg("read: %s", m.text);
	assert_true(ward_crypto_key_has_private(back));
	assert_int_equal(ward_crypto_key_type(back), type);
	assert_true(ward_crypto_key_equal(k, back));
	assert_int_equal(ward_crypto_sign(back, "m", 1, sig, &siglen, &m), WARD_OK);
	assert_int_equal(ward_crypto_verify(k, "m", 1, sig, siglen), WARD_OK);

	ward_buf_free(&file);
	ward_buf_free(&rec);
	ward_crypto_key_free(k);
	ward_crypto_key_free(back);
}

static void test_roundtrip_encrypted_ed25519(void **state)
{
	(void)state;
	roundtrip_encrypted(WARD_KEY_ED25519, "enc-ed25519.key");
}

static void test_roundtrip_encrypted_p256(void **state)
{
	(void)state;
	roundtrip_encrypted(WARD_KEY_ECDSA_P256, "enc-p256.key");
}

/* Salt and nonce are fresh for every file, even for the same key and passphrase. */
static void test_fresh_salt_and_nonce(void **state)
{
	struct ward_msg m = {0};
	struct ward_buf file, rec1, rec2;
	char comment[256];

	(void)state;
	assert_int_equal(ward_keyfile_write(path_of("again.key"), fx.key, PASS, strlen(PASS),
					    "shared key", &m),
			 WARD_OK);
	assert_int_equal(ward_file_read(path_of("again.key"), WARD_KEYFILE_MAX, &file, &m),
			 WARD_OK);
	split(&file, comment, sizeof(comment), &rec2);
	split(&fx.file, comment, sizeof(comment), &rec1);
	assert_int_equal(rec1.len, rec2.len);
	assert_memory_not_equal(rec1.p + 12, rec2.p + 12, 16); /* salt */
	assert_memory_not_equal(rec1.p + 28, rec2.p + 28, 12); /* nonce */
	assert_memory_not_equal(rec1.p + HDR_LEN, rec2.p + HDR_LEN, rec1.len - HDR_LEN);
	ward_buf_free(&file);
	ward_buf_free(&rec1);
	ward_buf_free(&rec2);
}

static void test_roundtrip_plain(void **state)
{
	static const enum ward_key_type types[] = {WARD_KEY_ED25519, WARD_KEY_ECDSA_P256};
	static const char *const names[] = {"plain-ed25519.key", "plain-p256.key"};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct ward_key *k = NULL, *back = NULL, *back2 = NULL;
		struct ward_msg m = {0};
		struct ward_buf file, rec, der;
		char comment[256];
		bool enc = true;

		assert_int_equal(ward_crypto_key_generate(types[i], &k, &m), WARD_OK);
		if (ward_keyfile_write(path_of(names[i]), k, NULL, 0, NULL, &m) != WARD_OK)
			fail_msg("write: %s", m.text);
		assert_int_equal(mode_of(names[i]), 0600);
		assert_int_equal(ward_keyfile_is_encrypted(path_of(names[i]), &enc, &m), WARD_OK);
		assert_false(enc);

		assert_int_equal(ward_file_read(path_of(names[i]), WARD_KEYFILE_MAX, &file, &m),
				 WARD_OK);
		split(&file, comment, sizeof(comment), &rec);
		assert_string_equal(comment, "untrusted comment: ward secret key");
		assert_int_equal(ward_crypto_key_private_der(k, &der), WARD_OK);
		assert_int_equal(rec.len, HDR_LEN + der.len);
		for (size_t b = 8; b < 40; b++)
			assert_int_equal(rec.p[b], 0); /* kdf, params, salt, nonce all zero */
		assert_memory_equal(rec.p + HDR_LEN, der.p, der.len);

		assert_int_equal(ward_keyfile_read(path_of(names[i]), NULL, 0, &back, &m), WARD_OK);
		assert_true(ward_crypto_key_equal(k, back));
		assert_true(ward_crypto_key_has_private(back));
		/* A passphrase offered for a plain file is not needed, and harmless. */
		assert_int_equal(ward_keyfile_read(path_of(names[i]), "x", 1, &back2, &m), WARD_OK);
		assert_true(ward_crypto_key_equal(k, back2));

		ward_buf_free(&file);
		ward_buf_free(&rec);
		ward_buf_free(&der);
		ward_crypto_key_free(k);
		ward_crypto_key_free(back);
		ward_crypto_key_free(back2);
	}
}

/* ---- passphrases ------------------------------------------------------------ */

static void test_wrong_passphrase(void **state)
{
	static const char *const wrong[] = {"correct horse battery stapl",
					    "Correct horse battery staple"};

	(void)state;
	put_file("wrongpass.key", fx.file.p, fx.file.len);
	for (size_t i = 0; i < 2; i++)
		expect_read_fails("wrongpass.key", wrong[i], WARD_E_VERIFY,
				  "wrong passphrase or corrupted key file");
}

static void test_missing_passphrase(void **state)
{
	struct ward_key *k = NULL;
	struct ward_msg m = {0};

	(void)state;
	put_file("nopass.key", fx.file.p, fx.file.len);
	expect_read_fails("nopass.key", NULL, WARD_E_INVAL, "a passphrase is required");
	assert_int_equal(ward_keyfile_read(path_of("nopass.key"), "", 0, &k, &m), WARD_E_INVAL);
	assert_msg_has(&m, "a passphrase is required");
	assert_null(k);
}

/* ---- damaged files ---------------------------------------------------------- */

static void test_truncated(void **state)
{
	const char *t = (const char *)fx.file.p;
	size_t len = fx.file.len;
	size_t line1 = (size_t)((const char *)memchr(t, '\n', len) - t) + 1;
	struct ward_buf rec;
	char comment[256];

	(void)state;
	put_file("t-empty.key", "", 0);
	expect_read_fails("t-empty.key", PASS, WARD_E_PARSE, "empty");
	put_file("t-short.key", t, 10);
	expect_read_fails("t-short.key", PASS, WARD_E_PARSE, "not a ward key file");
	put_file("t-line1.key", t, line1);
	expect_read_fails("t-line1.key", PASS, WARD_E_PARSE, "truncated");
	put_file("t-line1-nonl.key", t, line1 - 1);
	expect_read_fails("t-line1-nonl.key", PASS, WARD_E_PARSE, "truncated");
	put_file("t-half.key", t, line1 + (len - line1) / 2);
	expect_read_fails("t-half.key", PASS, WARD_E_PARSE, "truncated");
	put_file("t-nonl.key", t, len - 1);
	expect_read_fails("t-nonl.key", PASS, WARD_E_PARSE, "truncated");
	/* Cut in the base64 text, newline kept. */
	{
		char *cut = malloc(len);

		assert_non_null(cut);
		memcpy(cut, t, len - 6);
		cut[len - 6] = '\n';
		put_file("t-b64.key", cut, len - 5);
		free(cut);
		expect_read_fails("t-b64.key", PASS, WARD_E_PARSE, "base64");
	}
	/* Well-formed base64 of a record that lost its end, or most of its header. */
	split(&fx.file, comment, sizeof(comment), &rec);
	put_record("t-rec.key", comment, rec.p, rec.len - 3);
	expect_read_fails("t-rec.key", PASS, WARD_E_PARSE, "truncated");
	put_record("t-hdr.key", comment, rec.p, 40);
	expect_read_fails("t-hdr.key", PASS, WARD_E_PARSE, "truncated");
	put_record("t-magic.key", comment, rec.p, 5);
	expect_read_fails("t-magic.key", PASS, WARD_E_PARSE, "truncated");
	/* And one with bytes added. */
	{
		uint8_t *ext = malloc(rec.len + 1);

		assert_non_null(ext);
		memcpy(ext, rec.p, rec.len);
		ext[rec.len] = 0;
		put_record("t-ext.key", comment, ext, rec.len + 1);
		free(ext);
		expect_read_fails("t-ext.key", PASS, WARD_E_PARSE, "unexpected bytes");
	}
	ward_buf_free(&rec);
}

/* Flip one bit in each field of the record: every change is caught. */
static void test_bitflip(void **state)
{
	static const struct {
		size_t off;        /* byte of the record (SIZE_MAX - k: k-th byte from the end) */
		uint8_t bit;       /* mask to flip */
		ward_err want;     /* expected result */
		const char *needle; /* expected in the message */
	} flips[] = {
		{0, 0x01, WARD_E_PARSE, "not a ward key file"},               /* magic */
		{7, 0x80, WARD_E_PARSE, "not a ward key file"},               /* magic */
		{8, 0x01, WARD_E_PARSE, "corrupted"},                         /* kdf 1 -> 0 */
		{8, 0x02, WARD_E_UNSUPPORTED, "unknown kdf 3"},               /* kdf 1 -> 3 */
		{9, 0x40, WARD_E_UNSUPPORTED, "out of range"},                /* log2n 16 -> 80 */
		{9, 0x01, WARD_E_VERIFY, "wrong passphrase or corrupted"},    /* log2n 16 -> 17 */
		{10, 0x01, WARD_E_VERIFY, "wrong passphrase or corrupted"},   /* r 8 -> 9 */
		{12, 0x10, WARD_E_VERIFY, "wrong passphrase or corrupted"},   /* salt */
		{39, 0x01, WARD_E_VERIFY, "wrong passphrase or corrupted"},   /* nonce */
		{40, 0x80, WARD_E_PARSE, "truncated"},                        /* length */
		{43, 0x01, WARD_E_PARSE, "truncated"},                        /* length */
		{44, 0x01, WARD_E_VERIFY, "wrong passphrase or corrupted"},   /* ciphertext */
		{SIZE_MAX - 17, 0x01, WARD_E_VERIFY, "wrong passphrase"},     /* last ct byte */
		{SIZE_MAX, 0x80, WARD_E_VERIFY, "wrong passphrase"},          /* tag */
	};
	struct ward_buf rec;
	char comment[256], name[64];

	(void)state;
	split(&fx.file, comment, sizeof(comment), &rec);
	/* The 8-bit length field of the test vector above assumes a short record. */
	assert_int_equal(rec.p[40], 0);
	assert_int_equal(rec.p[43] & 0x01, 0);
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		size_t off = flips[i].off > rec.len ? rec.len - 1 - (SIZE_MAX - flips[i].off)
						    : flips[i].off;

		assert_int_equal(ward_snprintf(name, sizeof(name), "flip-%zu.key", i), WARD_OK);
		rec.p[off] ^= flips[i].bit;
		put_record(name, comment, rec.p, rec.len);
		rec.p[off] ^= flips[i].bit;
		expect_read_fails(name, PASS, flips[i].want, flips[i].needle);
	}
	ward_buf_free(&rec);
}

/* A changed base64 character is caught; the comment line is not authenticated. */
static void test_text_edits(void **state)
{
	char *t = malloc(fx.file.len);
	size_t line1 = (size_t)((const char *)memchr(fx.file.p, '\n', fx.file.len) -
				(const char *)fx.file.p) + 1;
	size_t mid = line1 + (fx.file.len - line1) / 2;
	struct ward_key *k = NULL;
	struct ward_msg m = {0};

	(void)state;
	assert_non_null(t);
	memcpy(t, fx.file.p, fx.file.len);
	t[mid] = t[mid] == 'A' ? 'B' : 'A';
	put_file("edit-b64.key", t, fx.file.len);
	expect_read_fails("edit-b64.key", PASS, WARD_E_VERIFY, "wrong passphrase or corrupted");

	memcpy(t, fx.file.p, fx.file.len);
	t[line1 - 2] ^= 0x20; /* "shared key" -> "shared keY" */
	put_file("edit-comment.key", t, fx.file.len);
	assert_int_equal(ward_keyfile_read(path_of("edit-comment.key"), PASS, strlen(PASS), &k, &m),
			 WARD_OK);
	assert_true(ward_crypto_key_equal(k, fx.key));
	ward_crypto_key_free(k);
	free(t);
}

static void test_not_a_keyfile(void **state)
{
	char *big = malloc(WARD_KEYFILE_MAX + 100);
	struct ward_buf rec, pem;
	char comment[256];
	struct ward_msg m = {0};
	bool enc = false;

	(void)state;
	assert_non_null(big);
	expect_read_fails("does-not-exist.key", PASS, WARD_E_NOTFOUND, "does-not-exist.key");

	put_file("hello.key", "hello\n", 6);
	expect_read_fails("hello.key", PASS, WARD_E_PARSE, "not a ward key file");

	assert_int_equal(ward_crypto_key_public_pem(fx.key, &pem), WARD_OK);
	put_file("pem.key", pem.p, pem.len);
	ward_buf_free(&pem);
	expect_read_fails("pem.key", PASS, WARD_E_PARSE, "not a ward key file");

	memset(big, 'A', WARD_KEYFILE_MAX + 100);
	memcpy(big, "untrusted comment: x\n", 21);
	big[WARD_KEYFILE_MAX + 99] = '\n';
	put_file("big.key", big, WARD_KEYFILE_MAX + 100);
	expect_read_fails("big.key", PASS, WARD_E_TOOBIG, "not a ward key file");

	put_file("garbage.key", "untrusted comment: x\nthis is not base64!\n", 41);
	expect_read_fails("garbage.key", PASS, WARD_E_PARSE, "base64");

	memcpy(big, fx.file.p, fx.file.len);
	memcpy(big + fx.file.len, "third line\n", 11);
	put_file("three.key", big, fx.file.len + 11);
	expect_read_fails("three.key", PASS, WARD_E_PARSE, "after the second line");

	/* Another tool's magic. */
	split(&fx.file, comment, sizeof(comment), &rec);
	memcpy(rec.p, "Ed", 2); /* signify's */
	put_record("signify.key", comment, rec.p, rec.len);
	expect_read_fails("signify.key", PASS, WARD_E_PARSE, "not a ward key file");
	assert_int_equal(ward_keyfile_is_encrypted(path_of("signify.key"), &enc, &m), WARD_E_PARSE);

	ward_buf_free(&rec);
	free(big);
}

static void test_unknown_kdf(void **state)
{
	struct ward_buf rec;
	char comment[256];
	struct ward_msg m = {0};
	bool enc = false;

	(void)state;
	split(&fx.file, comment, sizeof(comment), &rec);
	rec.p[8] = 2;
	put_record("kdf2.key", comment, rec.p, rec.len);
	expect_read_fails("kdf2.key", PASS, WARD_E_UNSUPPORTED, "unknown kdf 2");
	assert_int_equal(ward_keyfile_is_encrypted(path_of("kdf2.key"), &enc, &m),
			 WARD_E_UNSUPPORTED);
	assert_msg_has(&m, "unknown kdf");
	/* A hostile cost is refused before scrypt runs. */
	rec.p[8] = 1;
	rec.p[9] = 30;
	put_record("cost.key", comment, rec.p, rec.len);
	expect_read_fails("cost.key", PASS, WARD_E_UNSUPPORTED, "out of range");
	rec.p[9] = 16;
	rec.p[11] = 200;
	put_record("cost-p.key", comment, rec.p, rec.len);
	expect_read_fails("cost-p.key", PASS, WARD_E_UNSUPPORTED, "out of range");
	ward_buf_free(&rec);
}

/* An unencrypted file has no integrity: its DER must still parse and be a ward key. */
static void test_plain_damage(void **state)
{
	struct ward_msg m = {0};
	struct ward_buf file, rec;
	char comment[256];

	(void)state;
	assert_int_equal(ward_keyfile_write(path_of("pd.key"), fx.key, NULL, 0, "plain", &m),
			 WARD_OK);
	assert_int_equal(ward_file_read(path_of("pd.key"), WARD_KEYFILE_MAX, &file, &m), WARD_OK);
	split(&file, comment, sizeof(comment), &rec);
	rec.p[HDR_LEN] ^= 0x01; /* SEQUENCE tag -> something else */
	put_record("pd-der.key", comment, rec.p, rec.len);
	expect_read_fails("pd-der.key", NULL, WARD_E_PARSE, "PKCS#8");
	rec.p[HDR_LEN] ^= 0x01;
	rec.p[20] = 1; /* salt set in a plain file */
	put_record("pd-salt.key", comment, rec.p, rec.len);
	expect_read_fails("pd-salt.key", NULL, WARD_E_PARSE, "corrupted");
	ward_buf_free(&file);
	ward_buf_free(&rec);
}

/* ---- creation ------------------------------------------------------------- */

static void test_no_overwrite(void **state)
{
	struct ward_key *other = NULL, *back = NULL;
	struct ward_msg m = {0};
	struct ward_buf before, after;

	(void)state;
	assert_int_equal(ward_crypto_key_generate(WARD_KEY_ECDSA_P256, &other, &m), WARD_OK);
	assert_int_equal(ward_keyfile_write(path_of("once.key"), fx.key, NULL, 0, "first", &m),
			 WARD_OK);
	assert_int_equal(ward_file_read(path_of("once.key"), WARD_KEYFILE_MAX, &before, &m),
			 WARD_OK);
	memset(&m, 0, sizeof(m));
	assert_int_equal(ward_keyfile_write(path_of("once.key"), other, NULL, 0, "second", &m),
			 WARD_E_EXISTS);
	assert_msg_has(&m, "refusing to overwrite");
	assert_int_equal(ward_keyfile_write(path_of("once.key"), other, PASS, strlen(PASS), "third",
					    &m),
			 WARD_E_EXISTS);
	assert_int_equal(ward_file_read(path_of("once.key"), WARD_KEYFILE_MAX, &after, &m),
			 WARD_OK);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.p, after.p, before.len);
	assert_int_equal(ward_keyfile_read(path_of("once.key"), NULL, 0, &back, &m), WARD_OK);
	assert_true(ward_crypto_key_equal(back, fx.key));

	/* Nor through a symlink, dangling or not. */
	{
		char target[512];

		assert_int_equal(ward_snprintf(target, sizeof(target), "%s",
					       path_of("target-does-not-exist")),
				 WARD_OK);
		assert_int_equal(symlink(target, path_of("link.key")), 0);
	}
	assert_int_equal(ward_keyfile_write(path_of("link.key"), other, NULL, 0, NULL, &m),
			 WARD_E_EXISTS);
	assert_int_equal(access(path_of("target-does-not-exist"), F_OK), -1);

	ward_buf_free(&before);
	ward_buf_free(&after);
	ward_crypto_key_free(other);
	ward_crypto_key_free(back);
}

static void test_mode_0600(void **state)
{
	mode_t old = umask(0); /* even a permissive umask does not widen it */
	struct ward_msg m = {0};

	(void)state;
	assert_int_equal(ward_keyfile_write(path_of("mode.key"), fx.key, NULL, 0, NULL, &m),
			 WARD_OK);
	umask(old);
	assert_int_equal(mode_of("mode.key"), 0600);
	assert_int_equal(mode_of("shared.key"), 0600);
}

static void test_write_rejects(void **state)
{
	struct ward_key *pub = NULL;
	struct ward_msg m = {0};

	(void)state;
	assert_int_equal(ward_crypto_key_public_copy(fx.key, &pub), WARD_OK);
	assert_int_equal(ward_keyfile_write(path_of("pub.key"), pub, NULL, 0, NULL, &m),
			 WARD_E_INVAL);
	assert_msg_has(&m, "no private half");
	assert_int_equal(ward_keyfile_write(path_of("nl.key"), fx.key, NULL, 0, "two\nlines", &m),
			 WARD_E_INVAL);
	assert_int_equal(ward_keyfile_write(path_of("empty.key"), fx.key, "", 0, NULL, &m),
			 WARD_E_INVAL);
	assert_msg_has(&m, "empty passphrase");
	assert_int_equal(ward_keyfile_write(NULL, fx.key, NULL, 0, NULL, &m), WARD_E_INVAL);
	assert_int_equal(ward_keyfile_write(path_of("nodir/x.key"), fx.key, NULL, 0, NULL, &m),
			 WARD_E_IO);
	assert_int_equal(access(path_of("pub.key"), F_OK), -1);
	assert_int_equal(access(path_of("nl.key"), F_OK), -1);
	assert_int_equal(access(path_of("empty.key"), F_OK), -1);
	ward_crypto_key_free(pub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_encrypted_ed25519),
		cmocka_unit_test(test_roundtrip_encrypted_p256),
		cmocka_unit_test(test_fresh_salt_and_nonce),
		cmocka_unit_test(test_roundtrip_plain),
		cmocka_unit_test(test_wrong_passphrase),
		cmocka_unit_test(test_missing_passphrase),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bitflip),
		cmocka_unit_test(test_text_edits),
		cmocka_unit_test(test_not_a_keyfile),
		cmocka_unit_test(test_unknown_kdf),
		cmocka_unit_test(test_plain_damage),
		cmocka_unit_test(test_no_overwrite),
		cmocka_unit_test(test_mode_0600),
		cmocka_unit_test(test_write_rejects),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
