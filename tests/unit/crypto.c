/*
 * tests/unit/crypto.c — the crypto boundary against known answers and forgeries.
 *
 * Known answers: SHA-256/512 (FIPS 180 "abc" and ""), RFC 8032 ed25519 tests 1
 * and 2 (exact signature bytes), a P-256 signature made once with the openssl
 * command line and committed below, RFC 7914 scrypt, NIST AES-256-GCM and
 * RFC 4648 base64. Forgeries: every bit of a signature flipped, message and key
 * bits flipped, signatures of the wrong algorithm, truncated, oversized,
 * non-canonical and garbage signatures, and keys of algorithms ward refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/err.h"

/* ---- fixtures ------------------------------------------------------------ */

/*
 * Made once with:
 *   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.pem
 *   printf 'ward fixed P-256 test message' > msg.txt
 *   openssl dgst -sha256 -sign p256.pem -out sig.der msg.txt
 *   openssl pkey -in p256.pem -pubout          (P256_PUB_PEM)
 *   openssl ec -in p256.pem -pubout -conv_form compressed   (P256_PUB_PEM_COMPRESSED)
 */
static const char P256_MSG[] = "ward fixed P-256 test message";
static const char P256_PUB_HEX[] =
	"04e1d0e13ef4b6627770716cde73b564e70e93374d12faf077b370224377de9751"
	"d27e07c58ba68dd0c034a881e4f1af72c4b3aa84767654685c99347db4738a48";
static const char P256_SIG_HEX[] =
	"30450220086103f0af7a1511f3af6f771e546a103719c18adef04ac8c35ae130e16c98d4"
	"022100ef28288ebb9edcda4a71d597fc189d008722eef26fbbbf55186fdec4a814b37e";
static const char P256_PUB_PEM[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4dDhPvS2YndwcWzec7Vk5w6TN00S\n"
	"+vB3s3AiQ3fel1HSfgfFi6aN0MA0qIHk8a9yxLOqhHZ2VGhcmTR9tHOKSA==\n"
	"-----END PUBLIC KEY-----\n";
static const char P256_PUB_PEM_COMPRESSED[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MDkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDIgAC4dDhPvS2YndwcWzec7Vk5w6TN00S\n"
	"+vB3s3AiQ3fel1E=\n"
	"-----END PUBLIC KEY-----\n";
/* The private key of the fixture, as openssl genpkey wrote it (PKCS#8). */
static const char P256_PRIV_PEM[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5J8CBl3VpN+rFsVD\n"
	"W1240eZXPexkkTtdj++CnwEtwoGhRANCAATh0OE+9LZid3BxbN5ztWTnDpM3TRL6\n"
	"8HezcCJDd96XUdJ+B8WLpo3QwDSogeTxr3LEs6qEdnZUaFyZNH20c4pI\n"
	"-----END PRIVATE KEY-----\n";
/* openssl ecparam -name prime256v1 -genkey -noout: SEC1, not PKCS#8. */
static const char P256_SEC1_PEM[] =
	"-----BEGIN EC PRIVATE KEY-----\n"
	"MHcCAQEEILhPV4ZiRnq3BJrphIEMoaTnoSZBdJKG2h4ExMMOC/lwoAoGCCqGSM49\n"
	"AwEHoUQDQgAEaEVl9UBotQelgMcIpe49agfpmYegCVx6OO3wgDC1HIyiulO2RTsH\n"
	"8ft49SUfYHSb1CpfiWc7ifx9c98aJ+bghQ==\n"
	"-----END EC PRIVATE KEY-----\n";

/* Keys ward must refuse, each made once with openssl genpkey ... | openssl pkey -pubout. */
static const char RSA_PUB_PEM[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmCEXjdU5IbI78P6K0K2/\n"
	"twE4INmlsNuDVhVW+EZd13qT9+weJQRUqEh14ciGHwp2Z/c109/kdS1B7lCeq/OQ\n"
	"9kT281+pQDZ9olOzOW2getp81HkUy4ZBUiqpUJO8c9VicJO+njkYK7xtRbYf2vn9\n"
	"sa27wjQVlqa7nIYlY3PGEDFG+5K6ALHWKcH/+C0ZCYVcI/m7LAaw8C4EVBh3/4RT\n"
	"DR30Ic1L+cGebt4jNWCYCFjby+6Dp111HffdNBkduAI/vCjgC4r2qW0vMa6JYR3B\n"
	"k3DUjZeBufh9zQiDCVWU11RN2yYXmFzCR2+7vMFq7NqjwB8mPoep7oemik+5mDaD\n"
	"sQIDAQAB\n"
	"-----END PUBLIC KEY-----\n";
static const char P384_PUB_PEM[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE+lgfApt8zE5ySEN0xyL5fOSWQJp6x17r\n"
	"m2R52v1T8jzfjrTHCVYiCxjPyfASvRRTRiGj7TX2Zn3YkgNKFsC6tEQeFkxuAPt6\n"
	"0JDLqegoMWmaE2rk3k81S8453nblxesI\n"
	"-----END PUBLIC KEY-----\n";
static const char SECP256K1_PUB_PEM[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEYkKEIJXP/pFVG/7g7VPd93FlkHS9dD4G\n"
	"kpExsGsQvyTYOwJtoSPoFH8RmCg0GjDD4+JIlwcZx/+fNBVYFyRAmQ==\n"
	"-----END PUBLIC KEY-----\n";
/* openssl ecparam -name prime256v1 -param_enc explicit -genkey |
 *   openssl ec -pubout -param_enc explicit */
static const char P256_EXPLICIT_PUB_PEM[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBSzCCAQMGByqGSM49AgEwgfcCAQEwLAYHKoZIzj0BAQIhAP////8AAAABAAAA\n"
	"AAAAAAAAAAAA////////////////MFsEIP////8AAAABAAAAAAAAAAAAAAAA////\n"
	"///////////8BCBaxjXYqjqT57PrvVV2mIa8ZR0GsMxTsPY7zjw+J9JgSwMVAMSd\n"
	"NgiG5wSTamZ44ROdJreBn36QBEEEaxfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5\n"
	"RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9QIhAP////8AAAAA\n"
	"//////////+85vqtpxeehPO5ysL8YyVRAgEBA0IABCh+kgOIYnHTV/y39lBhbUvw\n"
	"gCI6mU8o6YJ90vtdHP7uM3mkMBF22B1CF9PMTNHQXnBicpgk8fi/txcYBV6Td/w=\n"
	"-----END PUBLIC KEY-----\n";
static const char ED448_PUB_PEM[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MEMwBQYDK2VxAzoAc1PfyQ1qEjpnyCa1zrxRMSv8B5iJXiOoRnbPZq3Ef7sw3mKC\n"
	"u9VWb4Gk8x0ug/M+k8d4WqhevWiA\n"
	"-----END PUBLIC KEY-----\n";

/* RFC 8032 section 7.1, TEST 1 and TEST 2. */
struct ed25519_vector {
	const char *seed;
	const char *pub;
	const char *msg;
	const char *sig;
};
static const struct ed25519_vector RFC8032[] = {
	{"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	 "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	 "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	 "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
	{"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	 "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
	 "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	 "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};
/* PKCS#8 PrivateKeyInfo for ed25519 up to the 32-byte seed (RFC 8410). */
static const char ED25519_PKCS8_PREFIX[] = "302e020100300506032b657004220420";

/* ---- helpers ------------------------------------------------------------- */

/* Decode a hex string into a fresh allocation; *n receives its length. */
static uint8_t *unhex(const char *hex, size_t *n)
{
	size_t len = strlen(hex) / 2;
	uint8_t *p = malloc(len + 1);

	assert_non_null(p);
	assert_int_equal(strlen(hex) % 2, 0);
	assert_int_equal(ward_hex_decode(hex, p, len), WARD_OK);
	*n = len;
	return p;
}

static void assert_hex(const uint8_t *got, size_t n, const char *want)
{
	char *hex = malloc(2 * n + 1);

	assert_non_null(hex);
	ward_hex_encode(got, n, hex);
	assert_string_equal(hex, want);
	free(hex);
}

static void assert_msg_has(const struct ward_msg *m, const char *needle)
{
	if (strstr(m->text, needle) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", m->text, needle);
}

static struct ward_key *p256_fixture(void)
{
	struct ward_key *k = NULL;
	size_t n;
	uint8_t *raw = unhex(P256_PUB_HEX, &n);

	assert_int_equal(ward_crypto_key_from_public_raw(WARD_KEY_ECDSA_P256, raw, n, &k, NULL),
			 WARD_OK);
	free(raw);
	return k;
}

/* ---- hashing ------------------------------------------------------------- */

static void hash_kat(enum ward_hash_alg alg, const char *in, const char *want)
{
	uint8_t d[WARD_HASH_MAX_LEN];

	assert_int_equal(ward_crypto_hash(alg, in, strlen(in), d), WARD_OK);
	assert_hex(d, ward_crypto_hash_len(alg), want);
}

static void test_sha256_kat(void **state)
{
	(void)state;
	assert_int_equal(ward_crypto_hash_len(WARD_HASH_SHA256), WARD_SHA256_LEN);
	hash_kat(WARD_HASH_SHA256, "abc",
		 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hash_kat(WARD_HASH_SHA256, "",
		 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha512_kat(void **state)
{
	(void)state;
	assert_int_equal(ward_crypto_hash_len(WARD_HASH_SHA512), WARD_SHA512_LEN);
	hash_kat(WARD_HASH_SHA512, "abc",
		 "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
		 "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	hash_kat(WARD_HASH_SHA512, "",
		 "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
		 "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
}

static void test_hash_streaming(void **state)
{
	static const size_t chunks[] = {1, 3, 7, 13, 64, 127, 1000, 1001};
	static const enum ward_hash_alg algs[] = {WARD_HASH_SHA256, WARD_HASH_SHA512};
	uint8_t data[1001], one[WARD_HASH_MAX_LEN], streamed[WARD_HASH_MAX_LEN];
	struct ward_hash *h = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 131 + 7);
	for (size_t a = 0; a < 2; a++) {
		size_t dlen = ward_crypto_hash_len(algs[a]);

		assert_int_equal(ward_crypto_hash(algs[a], data, sizeof(data), one), WARD_OK);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			assert_int_equal(ward_crypto_hash_new(algs[a], &h), WARD_OK);
			for (size_t off = 0; off < sizeof(data); off += chunks[c]) {
				size_t n = sizeof(data) - off < chunks[c] ? sizeof(data) - off
									   : chunks[c];

				assert_int_equal(ward_crypto_hash_update(h, data + off, n),
						 WARD_OK);
				assert_int_equal(ward_crypto_hash_update(h, NULL, 0), WARD_OK);
			}
			memset(streamed, 0xaa, sizeof(streamed));
			assert_int_equal(ward_crypto_hash_final(h, streamed), WARD_OK);
			assert_memory_equal(one, streamed, dlen);
			/* A finished hash takes no more input. */
			assert_int_equal(ward_crypto_hash_update(h, data, 1), WARD_E_INVAL);
			assert_int_equal(ward_crypto_hash_final(h, streamed), WARD_E_INVAL);
			ward_crypto_hash_free(h);
			h = NULL;
		}
	}
	ward_crypto_hash_free(NULL);
	assert_int_equal(ward_crypto_hash_new((enum ward_hash_alg)99, &h), WARD_E_INVAL);
	assert_null(h);
	assert_int_equal(ward_crypto_hash_len((enum ward_hash_alg)99), 0);
}

static void test_random(void **state)
{
	uint8_t a[32], b[32], zero[32] = {0};

	(void)state;
	assert_int_equal(ward_crypto_random(a, sizeof(a)), WARD_OK);
	assert_int_equal(ward_crypto_random(b, sizeof(b)), WARD_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(ward_crypto_random(NULL, 0), WARD_OK);
}

/* ---- ed25519: RFC 8032 -------------------------------------------------- */

static void test_ed25519_rfc8032(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof(RFC8032) / sizeof(RFC8032[0]); v++) {
		const struct ed25519_vector *t = &RFC8032[v];
		char derhex[200];
		uint8_t *der, *msg, *want;
		size_t derlen, msglen, wantlen, siglen = 0, rawlen = 0;
		uint8_t sig[WARD_SIG_MAX_LEN], raw[WARD_P256_PUB_LEN];
		struct ward_key *k = NULL, *pub = NULL;
		struct ward_msg m = {0};

		assert_int_equal(ward_snprintf(derhex, sizeof(derhex), "%s%s",
					       ED25519_PKCS8_PREFIX, t->seed),
				 WARD_OK);
		der = unhex(derhex, &derlen);
		msg = unhex(t->msg, &msglen);
		want = unhex(t->sig, &wantlen);
		assert_int_equal(derlen, 48);
		assert_int_equal(ward_crypto_key_from_private_der(der, derlen, &k, &m), WARD_OK);
		assert_int_equal(ward_crypto_key_type(k), WARD_KEY_ED25519);
		assert_true(ward_crypto_key_has_private(k));

		assert_int_equal(ward_crypto_key_public_raw(k, raw, &rawlen), WARD_OK);
		assert_int_equal(rawlen, WARD_ED25519_PUB_LEN);
		assert_hex(raw, rawlen, t->pub);

		/* ed25519 is deterministic: the exact RFC bytes. */
		assert_int_equal(ward_crypto_sign(k, msglen ? msg : NULL, msglen, sig, &siglen, &m),
				 WARD_OK);
		assert_int_equal(siglen, 64);
		assert_hex(sig, siglen, t->sig);

		/* The RFC signature verifies under the raw public key. */
		assert_int_equal(
			ward_crypto_key_from_public_raw(WARD_KEY_ED25519, raw, rawlen, &pub, &m),
			WARD_OK);
		assert_false(ward_crypto_key_has_private(pub));
		assert_true(ward_crypto_key_equal(k, pub));
		assert_int_equal(ward_crypto_verify(pub, msg, msglen, want, wantlen), WARD_OK);

		/* Our own PKCS#8 of a seed-only key is exactly the RFC 8410 form. */
		{
			struct ward_buf out;

			assert_int_equal(ward_crypto_key_private_der(k, &out), WARD_OK);
			assert_true(out.secret);
			assert_int_equal(out.len, derlen);
			assert_memory_equal(out.p, der, derlen);
			ward_buf_free(&out);
		}

		ward_crypto_key_free(k);
		ward_crypto_key_free(pub);
		free(der);
		free(msg);
		free(want);
	}
}

/* ---- P-256: a signature made by the openssl command line ------------------ */

static void test_p256_fixed_signature(void **state)
{
	struct ward_key *raw = p256_fixture(), *pem = NULL, *priv = NULL;
	struct ward_msg m = {0};
	size_t siglen;
	uint8_t *sig = unhex(P256_SIG_HEX, &siglen);
	char msg[sizeof(P256_MSG)];

	(void)state;
	assert_int_equal(ward_crypto_key_type(raw), WARD_KEY_ECDSA_P256);
	assert_int_equal(ward_crypto_verify(raw, P256_MSG, strlen(P256_MSG), sig, siglen), WARD_OK);

	assert_int_equal(ward_crypto_key_from_public_pem(P256_PUB_PEM, strlen(P256_PUB_PEM), &pem,
							 &m),
			 WARD_OK);
	assert_true(ward_crypto_key_equal(raw, pem));
	assert_int_equal(ward_crypto_verify(pem, P256_MSG, strlen(P256_MSG), sig, siglen), WARD_OK);

	/* The private key openssl wrote imports, and is the same key. */
	assert_int_equal(ward_crypto_key_from_private_pem(P256_PRIV_PEM, strlen(P256_PRIV_PEM),
							  &priv, &m),
			 WARD_OK);
	assert_true(ward_crypto_key_has_private(priv));
	assert_true(ward_crypto_key_equal(raw, priv));

	/* One flipped message bit and the fixture no longer verifies. */
	memcpy(msg, P256_MSG, sizeof(msg));
	msg[3] ^= 0x01;
	assert_int_equal(ward_crypto_verify(raw, msg, strlen(msg), sig, siglen), WARD_E_VERIFY);
	/* Nor against the empty message. */
	assert_int_equal(ward_crypto_verify(raw, NULL, 0, sig, siglen), WARD_E_VERIFY);

	ward_crypto_key_free(raw);
	ward_crypto_key_free(pem);
	ward_crypto_key_free(priv);
	free(sig);
}

/* A compressed-point SPKI is accepted and normalised to the uncompressed form. */
static void test_p256_compressed_point(void **state)
{
	struct ward_key *k = NULL, *fix = p256_fixture();
	struct ward_buf pem;
	uint8_t raw[WARD_P256_PUB_LEN];
	size_t rawlen = 0;

	(void)state;
	assert_int_equal(ward_crypto_key_from_public_pem(P256_PUB_PEM_COMPRESSED,
							 strlen(P256_PUB_PEM_COMPRESSED), &k, NULL),
			 WARD_OK);
	assert_true(ward_crypto_key_equal(k, fix));
	assert_int_equal(ward_crypto_key_public_raw(k, raw, &rawlen), WARD_OK);
	assert_int_equal(rawlen, WARD_P256_PUB_LEN);
	assert_hex(raw, rawlen, P256_PUB_HEX);
	assert_int_equal(ward_crypto_key_public_pem(k, &pem), WARD_OK);
	assert_string_equal((const char *)pem.p, P256_PUB_PEM);
	ward_buf_free(&pem);
	ward_crypto_key_free(k);
	ward_crypto_key_free(fix);
}

/* ---- forgeries ------------------------------------------------------------ */

static const char FORGE_MSG[] = "install image 7 on device 42";

static void forgery_suite(enum ward_key_type type)
{
	struct ward_key *k = NULL, *other = NULL, *pub = NULL, *flipped = NULL;
	uint8_t sig[WARD_SIG_MAX_LEN], bad[WARD_SIG_MAX_LEN + 8], raw[WARD_P256_PUB_LEN];
	char msg[sizeof(FORGE_MSG)];
	size_t siglen = 0, rawlen = 0, n = strlen(FORGE_MSG);
	struct ward_msg m = {0};

	assert_int_equal(ward_crypto_key_generate(type, &k, &m), WARD_OK);
	assert_int_equal(ward_crypto_key_generate(type, &other, &m), WARD_OK);
	assert_int_equal(ward_crypto_key_type(k), type);
	assert_false(ward_crypto_key_equal(k, other));
	assert_int_equal(ward_crypto_key_public_copy(k, &pub), WARD_OK);
	assert_false(ward_crypto_key_has_private(pub));
	assert_true(ward_crypto_key_equal(k, pub));

	assert_int_equal(ward_crypto_sign(k, FORGE_MSG, n, sig, &siglen, &m), WARD_OK);
	assert_true(siglen <= WARD_SIG_MAX_LEN);
	assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n, sig, siglen), WARD_OK);
	assert_int_equal(ward_crypto_verify(k, FORGE_MSG, n, sig, siglen), WARD_OK);

	/* A public-only key cannot sign, and the output is untouched. */
	{
		uint8_t s2[WARD_SIG_MAX_LEN];
		size_t l2 = 12345;

		memset(s2, 0x5a, sizeof(s2));
		assert_int_equal(ward_crypto_sign(pub, FORGE_MSG, n, s2, &l2, &m), WARD_E_INVAL);
		assert_int_equal(l2, 12345);
		assert_int_equal(s2[0], 0x5a);
	}

	/* Every single-bit change of the signature is rejected. */
	for (size_t i = 0; i < siglen * 8; i++) {
		memcpy(bad, sig, siglen);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n, bad, siglen), WARD_E_VERIFY);
	}
	/* Every single-bit change of the message is rejected. */
	for (size_t i = 0; i < n * 8; i++) {
		memcpy(msg, FORGE_MSG, sizeof(msg));
		msg[i / 8] ^= (char)(1u << (i % 8));
		assert_int_equal(ward_crypto_verify(pub, msg, n, sig, siglen), WARD_E_VERIFY);
	}
	/* Prefix and extension of the message. */
	assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n - 1, sig, siglen), WARD_E_VERIFY);
	assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n + 1, sig, siglen), WARD_E_VERIFY);

	/* A different key of the same type. */
	assert_int_equal(ward_crypto_verify(other, FORGE_MSG, n, sig, siglen), WARD_E_VERIFY);

	/* Flipped bits in the public key: either the key is refused or the signature is. */
	assert_int_equal(ward_crypto_key_public_raw(pub, raw, &rawlen), WARD_OK);
	for (size_t i = (type == WARD_KEY_ECDSA_P256 ? 8 : 0); i < rawlen * 8; i += 5) {
		ward_err e;

		raw[i / 8] ^= (uint8_t)(1u << (i % 8));
		e = ward_crypto_key_from_public_raw(type, raw, rawlen, &flipped, NULL);
		if (e == WARD_OK) {
			assert_int_equal(ward_crypto_verify(flipped, FORGE_MSG, n, sig, siglen),
					 WARD_E_VERIFY);
			ward_crypto_key_free(flipped);
			flipped = NULL;
		} else {
			assert_int_equal(e, WARD_E_PARSE);
		}
		raw[i / 8] ^= (uint8_t)(1u << (i % 8));
	}

	/* Truncated, extended, empty, all-zero and garbage signatures. */
	for (size_t l = 0; l < siglen; l++)
		assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n, sig, l), WARD_E_VERIFY);
	memcpy(bad, sig, siglen);
	bad[siglen] = 0;
	assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n, bad, siglen + 1), WARD_E_VERIFY);
	memset(bad, 0xff, sizeof(bad));
	assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n, bad, sizeof(bad)), WARD_E_VERIFY);
	assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n, NULL, 0), WARD_E_VERIFY);
	memset(bad, 0, sizeof(bad));
	assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n, bad, siglen), WARD_E_VERIFY);
	for (int t = 0; t < 64; t++) {
		assert_int_equal(ward_crypto_random(bad, sizeof(bad)), WARD_OK);
		assert_int_equal(ward_crypto_verify(pub, FORGE_MSG, n, bad, siglen), WARD_E_VERIFY);
	}

	ward_crypto_key_free(k);
	ward_crypto_key_free(other);
	ward_crypto_key_free(pub);
}

static void test_forgery_ed25519(void **state)
{
	(void)state;
	forgery_suite(WARD_KEY_ED25519);
}

static void test_forgery_p256(void **state)
{
	(void)state;
	forgery_suite(WARD_KEY_ECDSA_P256);
}

/* A signature of one algorithm never verifies under a key of the other. */
static void test_cross_algorithm(void **state)
{
	struct ward_key *ed = NULL, *ec = NULL;
	uint8_t edsig[WARD_SIG_MAX_LEN], ecsig[WARD_SIG_MAX_LEN];
	size_t edlen = 0, eclen = 0, n = strlen(FORGE_MSG);

	(void)state;
	assert_int_equal(ward_crypto_key_generate(WARD_KEY_ED25519, &ed, NULL), WARD_OK);
	assert_int_equal(ward_crypto_key_generate(WARD_KEY_ECDSA_P256, &ec, NULL), WARD_OK);
	assert_int_equal(ward_crypto_sign(ed, FORGE_MSG, n, edsig, &edlen, NULL), WARD_OK);
	assert_int_equal(ward_crypto_sign(ec, FORGE_MSG, n, ecsig, &eclen, NULL), WARD_OK);
	assert_int_equal(ward_crypto_verify(ec, FORGE_MSG, n, edsig, edlen), WARD_E_VERIFY);
	assert_int_equal(ward_crypto_verify(ed, FORGE_MSG, n, ecsig, eclen), WARD_E_VERIFY);
	assert_false(ward_crypto_key_equal(ed, ec));
	ward_crypto_key_free(ed);
	ward_crypto_key_free(ec);
}

/* BER tricks on a valid DER signature: OpenSSL must insist on canonical DER. */
static void test_p256_noncanonical_der(void **state)
{
	struct ward_key *k = p256_fixture();
	size_t siglen, n = strlen(P256_MSG);
	uint8_t *sig = unhex(P256_SIG_HEX, &siglen);
	uint8_t bad[WARD_SIG_MAX_LEN + 8];

	(void)state;
	assert_int_equal(siglen, 71);
	assert_int_equal(sig[0], 0x30);
	assert_int_equal(sig[1], 0x45);
	assert_int_equal(sig[2], 0x02);
	assert_int_equal(sig[3], 0x20);

	/* r with a superfluous leading zero byte (r's top bit is clear). */
	bad[0] = 0x30;
	bad[1] = 0x46;
	bad[2] = 0x02;
	bad[3] = 0x21;
	bad[4] = 0x00;
	memcpy(bad + 5, sig + 4, siglen - 4);
	assert_int_equal(ward_crypto_verify(k, P256_MSG, n, bad, siglen + 1), WARD_E_VERIFY);

	/* Long-form length for the outer SEQUENCE. */
	bad[0] = 0x30;
	bad[1] = 0x81;
	bad[2] = 0x45;
	memcpy(bad + 3, sig + 2, siglen - 2);
	assert_int_equal(ward_crypto_verify(k, P256_MSG, n, bad, siglen + 1), WARD_E_VERIFY);

	/* Trailing byte after a correct SEQUENCE. */
	memcpy(bad, sig, siglen);
	bad[siglen] = 0x00;
	assert_int_equal(ward_crypto_verify(k, P256_MSG, n, bad, siglen + 1), WARD_E_VERIFY);

	/* The untouched signature still verifies. */
	assert_int_equal(ward_crypto_verify(k, P256_MSG, n, sig, siglen), WARD_OK);
	ward_crypto_key_free(k);
	free(sig);
}

/* ---- encodings of keys ----------------------------------------------------- */

static void roundtrip_suite(enum ward_key_type type)
{
	struct ward_key *k = NULL, *k2 = NULL, *pub = NULL, *k3 = NULL, *rawk = NULL;
	struct ward_buf pem, ppem, der;
	uint8_t raw[WARD_P256_PUB_LEN], sig[WARD_SIG_MAX_LEN];
	size_t rawlen = 0, siglen = 0;
	struct ward_msg m = {0};

	assert_int_equal(ward_crypto_key_generate(type, &k, &m), WARD_OK);

	/* SPKI PEM */
	assert_int_equal(ward_crypto_key_public_pem(k, &pem), WARD_OK);
	assert_non_null(strstr((const char *)pem.p, "-----BEGIN PUBLIC KEY-----\n"));
	assert_int_equal(ward_crypto_key_from_public_pem((const char *)pem.p, pem.len, &pub, &m),
			 WARD_OK);
	assert_false(ward_crypto_key_has_private(pub));
	assert_true(ward_crypto_key_equal(k, pub));
	assert_int_equal(ward_crypto_key_type(pub), type);

	/* PKCS#8 PEM */
	assert_int_equal(ward_crypto_key_private_pem(k, &ppem), WARD_OK);
	assert_true(ppem.secret);
	assert_non_null(strstr((const char *)ppem.p, "-----BEGIN PRIVATE KEY-----\n"));
	assert_int_equal(ward_crypto_key_from_private_pem((const char *)ppem.p, ppem.len, &k2, &m),
			 WARD_OK);
	assert_true(ward_crypto_key_has_private(k2));
	assert_true(ward_crypto_key_equal(k, k2));
	/* A private PEM is not a public PEM, and the other way round. */
	assert_int_equal(ward_crypto_key_from_public_pem((const char *)ppem.p, ppem.len, &k3, &m),
			 WARD_E_PARSE);
	assert_int_equal(ward_crypto_key_from_private_pem((const char *)pem.p, pem.len, &k3, &m),
			 WARD_E_PARSE);
	assert_null(k3);

	/* PKCS#8 DER */
	assert_int_equal(ward_crypto_key_private_der(k2, &der), WARD_OK);
	assert_true(der.secret);
	assert_int_equal(ward_crypto_key_from_private_der(der.p, der.len, &k3, &m), WARD_OK);
	assert_true(ward_crypto_key_equal(k, k3));
	/* A re-imported key signs for the original. */
	assert_int_equal(ward_crypto_sign(k3, "x", 1, sig, &siglen, &m), WARD_OK);
	assert_int_equal(ward_crypto_verify(pub, "x", 1, sig, siglen), WARD_OK);
	/* Trailing garbage and truncation of the DER. */
	{
		uint8_t *ext = malloc(der.len + 1);
		struct ward_key *no = NULL;

		assert_non_null(ext);
		memcpy(ext, der.p, der.len);
		ext[der.len] = 0;
		assert_int_equal(ward_crypto_key_from_private_der(ext, der.len + 1, &no, &m),
				 WARD_E_PARSE);
		assert_int_equal(ward_crypto_key_from_private_der(ext, der.len - 1, &no, &m),
				 WARD_E_PARSE);
		assert_null(no);
		free(ext);
	}
	/* A public-only key has no private encoding. */
	{
		struct ward_buf none;

		assert_int_equal(ward_crypto_key_private_der(pub, &none), WARD_E_INVAL);
		assert_int_equal(ward_crypto_key_private_pem(pub, &none), WARD_E_INVAL);
	}

	/* raw */
	assert_int_equal(ward_crypto_key_public_raw(k, raw, &rawlen), WARD_OK);
	assert_int_equal(rawlen,
			 type == WARD_KEY_ED25519 ? WARD_ED25519_PUB_LEN : WARD_P256_PUB_LEN);
	assert_int_equal(ward_crypto_key_from_public_raw(type, raw, rawlen, &rawk, &m), WARD_OK);
	assert_true(ward_crypto_key_equal(k, rawk));

	ward_buf_free(&pem);
	ward_buf_free(&ppem);
	ward_buf_free(&der);
	ward_crypto_key_free(k);
	ward_crypto_key_free(k2);
	ward_crypto_key_free(k3);
	ward_crypto_key_free(pub);
	ward_crypto_key_free(rawk);
}

static void test_roundtrip_ed25519(void **state)
{
	(void)state;
	roundtrip_suite(WARD_KEY_ED25519);
}

static void test_roundtrip_p256(void **state)
{
	(void)state;
	roundtrip_suite(WARD_KEY_ECDSA_P256);
}

static void test_reject_foreign_keys(void **state)
{
	static const struct {
		const char *pem;
		const char *mention;
	} refused[] = {
		{RSA_PUB_PEM, "RSA"},
		{P384_PUB_PEM, "secp384r1"},
		{SECP256K1_PUB_PEM, "secp256k1"},
		{P256_EXPLICIT_PUB_PEM, "explicit"},
		{ED448_PUB_PEM, "ED448"},
	};
	struct ward_key *k = NULL;
	struct ward_msg m = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		memset(&m, 0, sizeof(m));
		assert_int_equal(ward_crypto_key_from_public_pem(refused[i].pem,
								 strlen(refused[i].pem), &k, &m),
				 WARD_E_UNSUPPORTED);
		assert_null(k);
		assert_msg_has(&m, refused[i].mention);
	}
}

static void test_reject_malformed_keys(void **state)
{
	struct ward_key *k = NULL;
	struct ward_msg m = {0};
	size_t n;
	uint8_t *raw = unhex(P256_PUB_HEX, &n);
	uint8_t zero[WARD_P256_PUB_LEN] = {0};
	char pem[sizeof(P256_PUB_PEM)];

	(void)state;
	/* PEM that is not PEM, or the wrong kind. */
	assert_int_equal(ward_crypto_key_from_public_pem("hello", 5, &k, &m), WARD_E_PARSE);
	assert_int_equal(ward_crypto_key_from_public_pem("", 0, &k, &m), WARD_E_PARSE);
	assert_int_equal(ward_crypto_key_from_private_pem(P256_SEC1_PEM, strlen(P256_SEC1_PEM), &k,
							  &m),
			 WARD_E_PARSE);
	assert_msg_has(&m, "PKCS#8");
	/* A corrupted base64 body. */
	memcpy(pem, P256_PUB_PEM, sizeof(pem));
	pem[40] = '*';
	assert_int_equal(ward_crypto_key_from_public_pem(pem, strlen(pem), &k, &m), WARD_E_PARSE);
	/* Cut in the middle. */
	assert_int_equal(ward_crypto_key_from_public_pem(P256_PUB_PEM, 60, &k, &m), WARD_E_PARSE);

	/* Raw keys of the wrong length or form. */
	assert_int_equal(ward_crypto_key_from_public_raw(WARD_KEY_ED25519, raw, 31, &k, &m),
			 WARD_E_PARSE);
	assert_int_equal(ward_crypto_key_from_public_raw(WARD_KEY_ED25519, raw, 33, &k, &m),
			 WARD_E_PARSE);
	assert_int_equal(ward_crypto_key_from_public_raw(WARD_KEY_ECDSA_P256, raw, 64, &k, &m),
			 WARD_E_PARSE);
	assert_int_equal(ward_crypto_key_from_public_raw(WARD_KEY_ECDSA_P256, raw + 1, 33, &k, &m),
			 WARD_E_PARSE); /* not a compressed point either */
	zero[0] = 0x04; /* (0, 0) is not on P-256 */
	assert_int_equal(ward_crypto_key_from_public_raw(WARD_KEY_ECDSA_P256, zero, sizeof(zero),
							 &k, &m),
			 WARD_E_PARSE);
	raw[64] ^= 0x01; /* y off by one: not on the curve */
	assert_int_equal(ward_crypto_key_from_public_raw(WARD_KEY_ECDSA_P256, raw, n, &k, &m),
			 WARD_E_PARSE);
	raw[0] = 0x02;
	raw[64] ^= 0x01;
	assert_int_equal(ward_crypto_key_from_public_raw(WARD_KEY_ECDSA_P256, raw, n, &k, &m),
			 WARD_E_PARSE);
	assert_int_equal(ward_crypto_key_from_public_raw((enum ward_key_type)7, raw, n, &k, &m),
			 WARD_E_INVAL);
	assert_null(k);
	free(raw);
}

/* A P-256 PKCS#8 whose embedded public key belongs to another key is refused. */
static void test_p256_mismatched_pkcs8(void **state)
{
	struct ward_key *a = NULL, *b = NULL, *k = NULL;
	struct ward_buf da, db;
	struct ward_msg m = {0};

	(void)state;
	assert_int_equal(ward_crypto_key_generate(WARD_KEY_ECDSA_P256, &a, NULL), WARD_OK);
	assert_int_equal(ward_crypto_key_generate(WARD_KEY_ECDSA_P256, &b, NULL), WARD_OK);
	assert_int_equal(ward_crypto_key_private_der(a, &da), WARD_OK);
	assert_int_equal(ward_crypto_key_private_der(b, &db), WARD_OK);
	assert_int_equal(da.len, db.len);
	/* Both end in BIT STRING { 0x00 0x04 X Y }: splice b's point into a. */
	assert_int_equal(da.p[da.len - 65], 0x04);
	memcpy(da.p + da.len - 64, db.p + db.len - 64, 64);
	assert_int_equal(ward_crypto_key_from_private_der(da.p, da.len, &k, &m), WARD_E_PARSE);
	assert_null(k);
	assert_msg_has(&m, "private key");
	ward_buf_free(&da);
	ward_buf_free(&db);
	ward_crypto_key_free(a);
	ward_crypto_key_free(b);
}

/* ---- scrypt, AEAD, base64 -------------------------------------------------- */

static void test_scrypt_kat(void **state)
{
	uint8_t out[64];

	(void)state;
	/* RFC 7914 section 12, vectors 1 and 2. */
	assert_int_equal(ward_crypto_scrypt("", 0, (const uint8_t *)"", 0, 4, 1, 1, out, 64),
			 WARD_OK);
	assert_hex(out, 64,
		   "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
		   "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
	assert_int_equal(ward_crypto_scrypt("password", 8, (const uint8_t *)"NaCl", 4, 10, 8, 16,
					    out, 64),
			 WARD_OK);
	assert_hex(out, 64,
		   "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
		   "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
	/* Nonsense parameters are refused before any work. */
	assert_int_equal(ward_crypto_scrypt("p", 1, (const uint8_t *)"s", 1, 0, 8, 1, out, 32),
			 WARD_E_INVAL);
	assert_int_equal(ward_crypto_scrypt("p", 1, (const uint8_t *)"s", 1, 31, 8, 1, out, 32),
			 WARD_E_INVAL);
	assert_int_equal(ward_crypto_scrypt("p", 1, (const uint8_t *)"s", 1, 10, 0, 1, out, 32),
			 WARD_E_INVAL);
	assert_int_equal(ward_crypto_scrypt("p", 1, (const uint8_t *)"s", 1, 10, 8, 0, out, 32),
			 WARD_E_INVAL);
	assert_int_equal(ward_crypto_scrypt("p", 1, (const uint8_t *)"s", 1, 10, 8, 1, out, 0),
			 WARD_E_INVAL);
}

static void test_aead_kat(void **state)
{
	uint8_t key[32] = {0}, nonce[12] = {0}, pt[16] = {0}, out[32], back[16];

	(void)state;
	/* NIST GCM test cases 13 and 14 (AES-256, zero key and IV). */
	assert_int_equal(ward_crypto_aead_seal(key, nonce, NULL, 0, NULL, 0, out), WARD_OK);
	assert_hex(out, 16, "530f8afbc74536b9a963b4f1c4cb738b");
	assert_int_equal(ward_crypto_aead_open(key, nonce, NULL, 0, out, 16, back), WARD_OK);
	assert_int_equal(ward_crypto_aead_seal(key, nonce, NULL, 0, pt, 16, out), WARD_OK);
	assert_hex(out, 32, "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
	assert_int_equal(ward_crypto_aead_open(key, nonce, NULL, 0, out, 32, back), WARD_OK);
	assert_memory_equal(back, pt, 16);
}

static void test_aead_tamper(void **state)
{
	static const char aad[] = "header bytes";
	static const char pt[] = "a secret worth forty-two bytes of payload!";
	uint8_t key[WARD_AEAD_KEY_LEN], nonce[WARD_AEAD_NONCE_LEN];
	uint8_t ct[sizeof(pt) + WARD_AEAD_TAG_LEN], bad[sizeof(ct)], back[sizeof(pt)];
	uint8_t zero[sizeof(pt)] = {0};
	size_t n = sizeof(pt), clen = sizeof(ct);

	(void)state;
	assert_int_equal(ward_crypto_random(key, sizeof(key)), WARD_OK);
	assert_int_equal(ward_crypto_random(nonce, sizeof(nonce)), WARD_OK);
	assert_int_equal(ward_crypto_aead_seal(key, nonce, aad, sizeof(aad), pt, n, ct), WARD_OK);
	assert_memory_not_equal(ct, pt, n);
	assert_int_equal(ward_crypto_aead_open(key, nonce, aad, sizeof(aad), ct, clen, back),
			 WARD_OK);
	assert_memory_equal(back, pt, n);

	/* Any flipped bit of ciphertext or tag: refused, and no plaintext comes out. */
	for (size_t i = 0; i < clen * 8; i += 3) {
		memcpy(bad, ct, clen);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		memset(back, 0x77, sizeof(back));
		assert_int_equal(ward_crypto_aead_open(key, nonce, aad, sizeof(aad), bad, clen,
						       back),
				 WARD_E_VERIFY);
		assert_memory_equal(back, zero, n);
	}
	/* Changed associated data, key or nonce. */
	assert_int_equal(ward_crypto_aead_open(key, nonce, aad, sizeof(aad) - 1, ct, clen, back),
			 WARD_E_VERIFY);
	assert_int_equal(ward_crypto_aead_open(key, nonce, NULL, 0, ct, clen, back), WARD_E_VERIFY);
	key[0] ^= 1;
	assert_int_equal(ward_crypto_aead_open(key, nonce, aad, sizeof(aad), ct, clen, back),
			 WARD_E_VERIFY);
	key[0] ^= 1;
	nonce[11] ^= 0x80;
	assert_int_equal(ward_crypto_aead_open(key, nonce, aad, sizeof(aad), ct, clen, back),
			 WARD_E_VERIFY);
	nonce[11] ^= 0x80;
	/* Truncation: shorter than a tag, or a tag moved. */
	assert_int_equal(ward_crypto_aead_open(key, nonce, aad, sizeof(aad), ct, 15, back),
			 WARD_E_VERIFY);
	assert_int_equal(ward_crypto_aead_open(key, nonce, aad, sizeof(aad), ct, clen - 1, back),
			 WARD_E_VERIFY);

	/* In place, as the key file does it. */
	memcpy(bad, pt, n);
	assert_int_equal(ward_crypto_aead_seal(key, nonce, aad, sizeof(aad), bad, n, bad), WARD_OK);
	assert_memory_equal(bad, ct, clen);
	assert_int_equal(ward_crypto_aead_open(key, nonce, aad, sizeof(aad), bad, clen, bad),
			 WARD_OK);
	assert_memory_equal(bad, pt, n);
}

static void test_base64_vectors(void **state)
{
	/* RFC 4648 section 10. */
	static const char *const vec[][2] = {
		{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},     {"foo", "Zm9v"},
		{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
	};
	struct ward_buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_int_equal(ward_crypto_base64_encode(vec[i][0], strlen(vec[i][0]), &b),
				 WARD_OK);
		assert_int_equal(b.len, strlen(vec[i][1]));
		assert_non_null(b.p);
		assert_string_equal((const char *)b.p, vec[i][1]);
		ward_buf_free(&b);
		assert_int_equal(ward_crypto_base64_decode(vec[i][1], strlen(vec[i][1]), 64, &b),
				 WARD_OK);
		assert_int_equal(b.len, strlen(vec[i][0]));
		assert_memory_equal(b.p, vec[i][0], b.len);
		ward_buf_free(&b);
	}
}

static void test_base64_roundtrip(void **state)
{
	uint8_t data[300];
	struct ward_buf enc, dec;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(255 - i);
	for (size_t n = 0; n <= sizeof(data); n += (n < 70 ? 1 : 37)) {
		assert_int_equal(ward_crypto_base64_encode(data, n, &enc), WARD_OK);
		assert_int_equal(enc.len, (n + 2) / 3 * 4);
		assert_int_equal(ward_crypto_base64_decode((const char *)enc.p, enc.len, n, &dec),
				 WARD_OK);
		assert_int_equal(dec.len, n);
		if (n > 0)
			assert_memory_equal(dec.p, data, n);
		ward_buf_free(&dec);
		if (n > 0) /* one byte short of room */
			assert_int_equal(ward_crypto_base64_decode((const char *)enc.p, enc.len,
								   n - 1, &dec),
					 WARD_E_TOOBIG);
		ward_buf_free(&enc);
	}
}

static void test_base64_rejects(void **state)
{
	static const char *const bad[] = {
		"Zg=",      /* length not a multiple of 4 */
		"Zg",       /* padding missing */
		"Zm9",      /* padding missing */
		"Zm9v\n",   /* newline */
		" Zm9v",    /* leading space */
		"Zm9v ",    /* trailing space */
		"Zm 9vYg==", /* inner space */
		"Zm9v\r\n", /* CRLF */
		"Zh==",     /* non-zero pad bits (one byte) */
		"Zm9=",     /* non-zero pad bits (two bytes) */
		"Z===",     /* three pad characters */
		"====",     /* only padding */
		"Zg==Zg==", /* padding in the middle */
		"Zm=v",     /* '=' inside a quantum */
		"Zm9v*A==", /* foreign character */
		"Zm9v-_==", /* URL-safe alphabet */
		"Zm9v\tA==", /* tab */
	};
	struct ward_buf b, before;
	char nul[8] = {'Z', 'm', '9', 'v', 'Z', '\0', '=', '='};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&b, 0x5a, sizeof(b));
		memset(&before, 0x5a, sizeof(before));
		if (ward_crypto_base64_decode(bad[i], strlen(bad[i]), 64, &b) != WARD_E_PARSE)
			fail_msg("base64 \"%s\" was not refused", bad[i]);
		/* Output untouched on failure. */
		assert_memory_equal(&b, &before, sizeof(b));
	}
	/* An embedded NUL. */
	assert_int_equal(ward_crypto_base64_decode(nul, sizeof(nul), 64, &b), WARD_E_PARSE);
	/* Size limit. */
	assert_int_equal(ward_crypto_base64_decode("Zm9vYmFy", 8, 5, &b), WARD_E_TOOBIG);
	assert_int_equal(ward_crypto_base64_decode("Zm9vYmFy", 8, 6, &b), WARD_OK);
	ward_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_kat),
		cmocka_unit_test(test_sha512_kat),
		cmocka_unit_test(test_hash_streaming),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_p256_fixed_signature),
		cmocka_unit_test(test_p256_compressed_point),
		cmocka_unit_test(test_forgery_ed25519),
		cmocka_unit_test(test_forgery_p256),
		cmocka_unit_test(test_cross_algorithm),
		cmocka_unit_test(test_p256_noncanonical_der),
		cmocka_unit_test(test_roundtrip_ed25519),
		cmocka_unit_test(test_roundtrip_p256),
		cmocka_unit_test(test_reject_foreign_keys),
		cmocka_unit_test(test_reject_malformed_keys),
		cmocka_unit_test(test_p256_mismatched_pkcs8),
		cmocka_unit_test(test_scrypt_kat),
		cmocka_unit_test(test_aead_kat),
		cmocka_unit_test(test_aead_tamper),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_base64_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
