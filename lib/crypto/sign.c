/*
 * lib/crypto/sign.c — keys, signatures and their encodings (OpenSSL 3 backend).
 *
 * struct ward_key wraps one EVP_PKEY. Invariant: every ward_key holds either an
 * ed25519 key or an ECDSA key on P-256 with a named curve and uncompressed
 * points; key_wrap() is the only constructor and refuses anything else (RSA,
 * P-384, secp256k1, explicit curve parameters), so no other algorithm ever
 * reaches sign or verify. Signatures: ed25519 is pure RFC 8032 (64 bytes);
 * P-256 is DER (r, s) over SHA-256. Verification starts as WARD_E_VERIFY and
 * becomes WARD_OK on one line. Private DER is only handed out in secret
 * ward_bufs; every OpenSSL buffer that held private material is cleansed.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ward/crypto.h"

#include "internal.h"

#define ED25519_SIG_LEN 64
#define P256_SIG_MIN_LEN 8   /* SEQUENCE { INTEGER 1 byte, INTEGER 1 byte } */
#define P256_SIG_MAX_LEN 72  /* SEQUENCE { INTEGER 33 bytes, INTEGER 33 bytes } */
#define PEM_IN_MAX 16384     /* largest PEM text we parse */
#define PEM_OUT_MAX 4096     /* an ed25519 or P-256 PEM is a few hundred bytes */
#define DER_MAX 4096         /* an ed25519 or P-256 PKCS#8 is under 200 bytes */

struct ward_key {
	EVP_PKEY *pkey;          /* the key; owned, freed (and cleansed by OpenSSL) on free */
	enum ward_key_type type; /* which of the two algorithms ward accepts */
	bool priv;               /* pkey holds the private half */
};

/* Record "what (openssl: reason)" and clear OpenSSL's error queue. */
static ward_err ossl_fail(struct ward_msg *m, ward_err e, const char *what)
{
	unsigned long code = ERR_peek_last_error();
	const char *reason = code != 0 ? ERR_reason_error_string(code) : NULL;

	ERR_clear_error();
	if (reason == NULL)
		return ward_msg_set(m, e, "%s", what);
	return ward_msg_set(m, e, "%s (openssl: %s)", what, reason);
}

/*
 * Decide which ward key type pkey is, or refuse it. A P-256 key must name its
 * curve; explicit parameters are refused even when they describe P-256.
 */
static ward_err key_classify(EVP_PKEY *pkey, const char *what, enum ward_key_type *type,
			     struct ward_msg *m)
{
	char group[80] = "";
	char enc[32] = "";
	const char *name;

	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		*type = WARD_KEY_ED25519;
		return WARD_OK;
	}
	if (EVP_PKEY_is_a(pkey, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING, enc,
						   sizeof(enc), NULL) == 1 &&
		    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
			ERR_clear_error();
			return ward_msg_set(m, WARD_E_UNSUPPORTED,
					    "%s: EC key with explicit curve parameters is not "
					    "supported; ward accepts ed25519 and ECDSA P-256 "
					    "(named curve)",
					    what);
		}
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1) {
			ERR_clear_error();
			return ward_msg_set(m, WARD_E_UNSUPPORTED,
					    "%s: EC key without a named curve is not supported; "
					    "ward accepts ed25519 and ECDSA P-256",
					    what);
		}
		if (OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
			ERR_clear_error();
			return ward_msg_set(m, WARD_E_UNSUPPORTED,
					    "%s: EC key on curve %s is not supported; ward accepts "
					    "ed25519 and ECDSA P-256",
					    what, group);
		}
		*type = WARD_KEY_ECDSA_P256;
		return WARD_OK;
	}
	name = EVP_PKEY_get0_type_name(pkey);
	return ward_msg_set(m, WARD_E_UNSUPPORTED,
			    "%s: %s keys are not supported; ward accepts ed25519 and ECDSA P-256",
			    what, name != NULL ? name : "this kind of");
}

/*
 * The one constructor: classify *pkey, check it (public part on the curve;
 * for a private key, that both halves match), normalise P-256 to uncompressed
 * points, and wrap it. Takes ownership of *pkey on success (sets it to NULL);
 * on failure *pkey is left for the caller to free.
 */
static ward_err key_wrap(EVP_PKEY **pkey, bool priv, const char *what, struct ward_key **out,
			 struct ward_msg *m)
{
	static char uncompressed[] = OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED;
	ward_err err;
	EVP_PKEY_CTX *cctx = NULL;
	struct ward_key *k = NULL;
	enum ward_key_type type = WARD_KEY_ED25519;
	OSSL_PARAM params[2];

	err = key_classify(*pkey, what, &type, m);
	if (err != WARD_OK)
		goto out;
	cctx = EVP_PKEY_CTX_new_from_pkey(NULL, *pkey, NULL);
	if (cctx == NULL) {
		err = ossl_fail(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if (EVP_PKEY_public_check(cctx) != 1) {
		err = ossl_fail(m, WARD_E_PARSE, "public key is not valid");
		err = ward_msg_prefix(m, err, "%s: ", what);
		goto out;
	}
	if (priv && EVP_PKEY_pairwise_check(cctx) != 1) {
		err = ossl_fail(m, WARD_E_PARSE, "private and public halves do not match");
		err = ward_msg_prefix(m, err, "%s: ", what);
		goto out;
	}
	if (type == WARD_KEY_ECDSA_P256) {
		params[0] = OSSL_PARAM_construct_utf8_string(
			OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, uncompressed, 0);
		params[1] = OSSL_PARAM_construct_end();
		if (EVP_PKEY_set_params(*pkey, params) != 1) {
			err = ossl_fail(m, WARD_E_CRYPTO, "cannot set the point format");
			goto out;
		}
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	k->pkey = *pkey;
	k->type = type;
	k->priv = priv;
	*pkey = NULL;
	*out = k;
	err = WARD_OK;
out:
	EVP_PKEY_CTX_free(cctx);
	return err;
}

ward_err ward_crypto_key_generate(enum ward_key_type type, struct ward_key **out,
				  struct ward_msg *m)
{
	ward_err err = WARD_E_CRYPTO;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	const char *alg = NULL;

	switch (type) {
	case WARD_KEY_ED25519:
		alg = "ED25519";
		break;
	case WARD_KEY_ECDSA_P256:
		alg = "EC";
		break;
	}
	if (alg == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "unknown key type %d", (int)type);
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "cannot start key generation");
		goto out;
	}
	if (type == WARD_KEY_ECDSA_P256 && EVP_PKEY_CTX_set_group_name(ctx, "P-256") != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "cannot select curve P-256");
		goto out;
	}
	if (EVP_PKEY_generate(ctx, &pkey) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "key generation failed");
		goto out;
	}
	err = key_wrap(&pkey, true, "generated key", out, m);
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return err;
}

void ward_crypto_key_free(struct ward_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey); /* OpenSSL clears private scalars and seeds on free */
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

enum ward_key_type ward_crypto_key_type(const struct ward_key *k)
{
	return k->type;
}

bool ward_crypto_key_has_private(const struct ward_key *k)
{
	return k != NULL && k->priv;
}

ward_err ward_crypto_key_public_raw(const struct ward_key *k, uint8_t *out, size_t *len)
{
	ward_err err = WARD_E_CRYPTO;
	uint8_t raw[WARD_P256_PUB_LEN];
	size_t rawlen = 0;
	BIGNUM *x = NULL, *y = NULL;

	if (k == NULL || out == NULL || len == NULL) {
		err = WARD_E_INVAL;
		goto out;
	}
	switch (k->type) {
	case WARD_KEY_ED25519:
		rawlen = WARD_ED25519_PUB_LEN;
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1 ||
		    rawlen != WARD_ED25519_PUB_LEN)
			goto out;
		break;
	case WARD_KEY_ECDSA_P256:
		/* From the coordinates, so the result is uncompressed whatever the key says. */
		if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
		    EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1)
			goto out;
		raw[0] = 0x04;
		if (BN_bn2binpad(x, raw + 1, 32) != 32 || BN_bn2binpad(y, raw + 33, 32) != 32)
			goto out;
		rawlen = WARD_P256_PUB_LEN;
		break;
	}
	if (rawlen == 0)
		goto out;
	memcpy(out, raw, rawlen);
	*len = rawlen;
	err = WARD_OK;
out:
	if (err == WARD_E_CRYPTO)
		ERR_clear_error();
	BN_free(x);
	BN_free(y);
	return err;
}

ward_err ward_crypto_key_from_public_raw(enum ward_key_type type, const uint8_t *raw, size_t len,
					 struct ward_key **out, struct ward_msg *m)
{
	static char group[] = "prime256v1";
	ward_err err = WARD_E_CRYPTO;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	uint8_t point[WARD_P256_PUB_LEN];
	OSSL_PARAM params[3];

	if (raw == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "no public key given");
		goto out;
	}
	switch (type) {
	case WARD_KEY_ED25519:
		if (len != WARD_ED25519_PUB_LEN) {
			err = ward_msg_set(m, WARD_E_PARSE,
					   "ed25519 public key must be %d bytes, got %zu",
					   WARD_ED25519_PUB_LEN, len);
			goto out;
		}
		pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw, len);
		if (pkey == NULL) {
			err = ossl_fail(m, WARD_E_PARSE, "ed25519 public key is not valid");
			goto out;
		}
		err = key_wrap(&pkey, false, "ed25519 public key", out, m);
		goto out;
	case WARD_KEY_ECDSA_P256:
		if (len != WARD_P256_PUB_LEN || raw[0] != 0x04) {
			err = ward_msg_set(m, WARD_E_PARSE,
					   "P-256 public key must be a %d-byte uncompressed point "
					   "(0x04 || X || Y), got %zu bytes",
					   WARD_P256_PUB_LEN, len);
			goto out;
		}
		memcpy(point, raw, sizeof(point));
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point,
							      sizeof(point));
		params[2] = OSSL_PARAM_construct_end();
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
			err = ossl_fail(m, WARD_E_CRYPTO, "cannot import a P-256 key");
			goto out;
		}
		if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
			err = ossl_fail(m, WARD_E_PARSE,
					"P-256 public key is not a point on the curve");
			goto out;
		}
		err = key_wrap(&pkey, false, "P-256 public key", out, m);
		goto out;
	}
	err = ward_msg_set(m, WARD_E_INVAL, "unknown key type %d", (int)type);
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return err;
}

ward_err ward_crypto_key_public_copy(const struct ward_key *k, struct ward_key **out)
{
	uint8_t raw[WARD_P256_PUB_LEN];
	size_t len = 0;
	ward_err err;

	if (k == NULL || out == NULL)
		return WARD_E_INVAL;
	err = ward_crypto_key_public_raw(k, raw, &len);
	if (err != WARD_OK)
		return err;
	return ward_crypto_key_from_public_raw(k->type, raw, len, out, NULL);
}

bool ward_crypto_key_equal(const struct ward_key *a, const struct ward_key *b)
{
	uint8_t ra[WARD_P256_PUB_LEN], rb[WARD_P256_PUB_LEN];
	size_t la = 0, lb = 0;

	if (a == NULL || b == NULL || a->type != b->type)
		return false;
	if (ward_crypto_key_public_raw(a, ra, &la) != WARD_OK ||
	    ward_crypto_key_public_raw(b, rb, &lb) != WARD_OK)
		return false;
	return la == lb && memcmp(ra, rb, la) == 0;
}

/* Digest name for EVP_DigestSign/Verify: none for ed25519, SHA-256 for P-256. */
static const char *key_mdname(const struct ward_key *k)
{
	return k->type == WARD_KEY_ECDSA_P256 ? "SHA256" : NULL;
}

ward_err ward_crypto_sign(const struct ward_key *k, const void *msg, size_t n, uint8_t *sig,
			  size_t *siglen, struct ward_msg *m)
{
	static const uint8_t empty[1];
	ward_err err = WARD_E_CRYPTO;
	EVP_MD_CTX *ctx = NULL;
	uint8_t tmp[WARD_SIG_MAX_LEN];
	size_t len = sizeof(tmp);

	if (k == NULL || sig == NULL || siglen == NULL || (msg == NULL && n > 0)) {
		err = ward_msg_set(m, WARD_E_INVAL, "sign: missing argument");
		goto out;
	}
	if (!k->priv) {
		err = ward_msg_set(m, WARD_E_INVAL, "cannot sign: the key has no private half");
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if (EVP_DigestSignInit_ex(ctx, NULL, key_mdname(k), NULL, NULL, k->pkey, NULL) != 1 ||
	    EVP_DigestSign(ctx, tmp, &len, msg != NULL ? msg : empty, n) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "signing failed");
		goto out;
	}
	memcpy(sig, tmp, len);
	*siglen = len;
	err = WARD_OK;
out:
	EVP_MD_CTX_free(ctx);
	return err;
}

/*
 * Anything that does not prove the signature valid is WARD_E_VERIFY, except a
 * NULL argument (WARD_E_INVAL) and an allocation failure (WARD_E_NOMEM): both
 * are failures too, so a caller testing for WARD_OK fails closed either way.
 */
ward_err ward_crypto_verify(const struct ward_key *k, const void *msg, size_t n,
			    const uint8_t *sig, size_t siglen)
{
	static const uint8_t empty[1];
	ward_err result = WARD_E_VERIFY;
	EVP_MD_CTX *ctx = NULL;
	size_t minlen = SIZE_MAX, maxlen = 0;

	if (k == NULL || (sig == NULL && siglen > 0) || (msg == NULL && n > 0)) {
		result = WARD_E_INVAL;
		goto out;
	}
	switch (k->type) {
	case WARD_KEY_ED25519:
		minlen = maxlen = ED25519_SIG_LEN;
		break;
	case WARD_KEY_ECDSA_P256:
		minlen = P256_SIG_MIN_LEN;
		maxlen = P256_SIG_MAX_LEN;
		break;
	}
	if (siglen < minlen || siglen > maxlen)
		goto out;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		result = WARD_E_NOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(ctx, NULL, key_mdname(k), NULL, NULL, k->pkey, NULL) != 1)
		goto out;
	/* OpenSSL 3 rejects non-canonical DER and trailing bytes in ECDSA signatures. */
	if (EVP_DigestVerify(ctx, sig, siglen, msg != NULL ? msg : empty, n) != 1)
		goto out;
	result = WARD_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return result;
}

/* Copy a memory BIO's contents into a fresh buffer of at most max bytes. */
static ward_err bio_to_buf(BIO *bio, size_t max, bool secret, struct ward_buf *out)
{
	struct ward_buf tmp;
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	ward_err err;

	if (secret)
		ward_buf_init_secret(&tmp, max);
	else
		ward_buf_init(&tmp, max);
	if (n <= 0 || data == NULL) {
		err = WARD_E_CRYPTO;
		goto out;
	}
	err = ward_buf_append(&tmp, data, (size_t)n);
	if (err != WARD_OK)
		goto out;
	*out = tmp;
	ward_buf_init(&tmp, max); /* ownership moved to *out */
out:
	ward_buf_free(&tmp);
	return err;
}

ward_err ward_crypto_key_public_pem(const struct ward_key *k, struct ward_buf *out)
{
	ward_err err = WARD_E_CRYPTO;
	BIO *bio = NULL;

	if (k == NULL || out == NULL)
		return WARD_E_INVAL;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL) {
		err = WARD_E_NOMEM;
		goto out;
	}
	if (PEM_write_bio_PUBKEY(bio, k->pkey) != 1)
		goto out;
	err = bio_to_buf(bio, PEM_OUT_MAX, false, out);
out:
	if (err != WARD_OK)
		ERR_clear_error();
	BIO_free(bio);
	return err;
}

/*
 * Read the first PEM block of pem[0..len) into name/der (secure-heap copies
 * when OpenSSL has one; release with pem_block_free). what names the input.
 */
static ward_err pem_block_read(const char *pem, size_t len, const char *what, char **name,
			       unsigned char **der, long *derlen, struct ward_msg *m)
{
	ward_err err = WARD_E_PARSE;
	BIO *bio = NULL;
	char *header = NULL;

	if (pem == NULL)
		return ward_msg_set(m, WARD_E_INVAL, "%s: no PEM text given", what);
	if (len > PEM_IN_MAX)
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: PEM text is %zu bytes, more than %d",
				    what, len, PEM_IN_MAX);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if (PEM_read_bio_ex(bio, name, &header, der, derlen,
			    PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) != 1) {
		err = ossl_fail(m, WARD_E_PARSE, "no valid PEM block found");
		err = ward_msg_prefix(m, err, "%s: ", what);
		goto out;
	}
	if (header != NULL && header[0] != '\0') {
		err = ward_msg_set(m, WARD_E_UNSUPPORTED,
				   "%s: PEM block has headers (legacy encryption?); ward reads "
				   "plain PKCS#8 and SubjectPublicKeyInfo only",
				   what);
		OPENSSL_secure_clear_free(*der, *derlen > 0 ? (size_t)*derlen : 0);
		OPENSSL_secure_free(*name);
		*der = NULL;
		*name = NULL;
		goto out;
	}
	err = WARD_OK;
out:
	OPENSSL_secure_free(header);
	BIO_free(bio);
	return err;
}

static void pem_block_free(char *name, unsigned char *der, long derlen)
{
	OPENSSL_secure_clear_free(der, der != NULL && derlen > 0 ? (size_t)derlen : 0);
	OPENSSL_secure_free(name);
}

ward_err ward_crypto_key_from_public_pem(const char *pem, size_t len, struct ward_key **out,
					 struct ward_msg *m)
{
	static const char what[] = "public key";
	ward_err err;
	char *name = NULL;
	unsigned char *der = NULL;
	long derlen = 0;
	const unsigned char *p;
	EVP_PKEY *pkey = NULL;

	if (out == NULL)
		return ward_msg_set(m, WARD_E_INVAL, "%s: nowhere to put the key", what);
	err = pem_block_read(pem, len, what, &name, &der, &derlen, m);
	if (err != WARD_OK)
		goto out;
	if (strcmp(name, PEM_STRING_PUBLIC) != 0) {
		err = ward_msg_set(m, WARD_E_PARSE,
				   "%s: expected a -----BEGIN PUBLIC KEY----- block, found "
				   "\"%.40s\"",
				   what, name);
		goto out;
	}
	p = der;
	pkey = d2i_PUBKEY(NULL, &p, derlen);
	if (pkey == NULL) {
		err = ossl_fail(m, WARD_E_PARSE,
				"malformed SubjectPublicKeyInfo or unknown algorithm");
		err = ward_msg_prefix(m, err, "%s: ", what);
		goto out;
	}
	if (p != der + derlen) {
		err = ward_msg_set(m, WARD_E_PARSE, "%s: trailing bytes after the key", what);
		goto out;
	}
	err = key_wrap(&pkey, false, what, out, m);
out:
	EVP_PKEY_free(pkey);
	pem_block_free(name, der, derlen);
	return err;
}

ward_err ward_crypto_key_private_der(const struct ward_key *k, struct ward_buf *out)
{
	ward_err err = WARD_E_CRYPTO;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *der = NULL;
	int derlen = 0;
	struct ward_buf tmp;

	ward_buf_init_secret(&tmp, DER_MAX);
	if (k == NULL || out == NULL || !k->priv) {
		err = WARD_E_INVAL;
		goto out;
	}
	p8 = EVP_PKEY2PKCS8(k->pkey);
	if (p8 == NULL)
		goto out;
	derlen = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	if (derlen <= 0 || der == NULL)
		goto out;
	err = ward_buf_append(&tmp, der, (size_t)derlen);
	if (err != WARD_OK)
		goto out;
	*out = tmp;
	ward_buf_init_secret(&tmp, DER_MAX); /* ownership moved to *out */
out:
	if (err != WARD_OK)
		ERR_clear_error();
	OPENSSL_clear_free(der, derlen > 0 ? (size_t)derlen : 0);
	PKCS8_PRIV_KEY_INFO_free(p8); /* its ASN.1 callback cleanses the key octets */
	ward_buf_free(&tmp);
	return err;
}

ward_err ward_crypto_key_from_private_der(const uint8_t *der, size_t len, struct ward_key **out,
					  struct ward_msg *m)
{
	static const char what[] = "private key";
	ward_err err = WARD_E_PARSE;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	EVP_PKEY *pkey = NULL;
	const unsigned char *p = der;

	if (der == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "%s: no DER given", what);
		goto out;
	}
	if (len > DER_MAX) {
		err = ward_msg_set(m, WARD_E_TOOBIG, "%s: PKCS#8 is %zu bytes, more than %d", what,
				   len, DER_MAX);
		goto out;
	}
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	if (p8 == NULL) {
		err = ossl_fail(m, WARD_E_PARSE, "not an unencrypted PKCS#8 private key");
		err = ward_msg_prefix(m, err, "%s: ", what);
		goto out;
	}
	if (p != der + len) {
		err = ward_msg_set(m, WARD_E_PARSE, "%s: trailing bytes after the PKCS#8 structure",
				   what);
		goto out;
	}
	pkey = EVP_PKCS82PKEY(p8);
	if (pkey == NULL) {
		err = ossl_fail(m, WARD_E_PARSE, "malformed key or unknown algorithm");
		err = ward_msg_prefix(m, err, "%s: ", what);
		goto out;
	}
	err = key_wrap(&pkey, true, what, out, m);
out:
	EVP_PKEY_free(pkey);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return err;
}

ward_err ward_crypto_key_private_pem(const struct ward_key *k, struct ward_buf *out)
{
	ward_err err;
	struct ward_buf der;
	BIO *bio = NULL;

	ward_buf_init_secret(&der, DER_MAX);
	if (k == NULL || out == NULL)
		return WARD_E_INVAL;
	err = ward_crypto_key_private_der(k, &der);
	if (err != WARD_OK)
		goto out;
	err = WARD_E_CRYPTO;
	bio = BIO_new(BIO_s_mem()); /* its BUF_MEM is cleansed when it grows and on free */
	if (bio == NULL) {
		err = WARD_E_NOMEM;
		goto out;
	}
	if (der.len > INT_MAX ||
	    PEM_write_bio(bio, PEM_STRING_PKCS8INF, "", der.p, (long)der.len) <= 0)
		goto out;
	err = bio_to_buf(bio, PEM_OUT_MAX, true, out);
out:
	if (err != WARD_OK)
		ERR_clear_error();
	BIO_free(bio);
	ward_buf_free(&der);
	return err;
}

ward_err ward_crypto_key_from_private_pem(const char *pem, size_t len, struct ward_key **out,
					  struct ward_msg *m)
{
	static const char what[] = "private key";
	ward_err err;
	char *name = NULL;
	unsigned char *der = NULL;
	long derlen = 0;

	if (out == NULL)
		return ward_msg_set(m, WARD_E_INVAL, "%s: nowhere to put the key", what);
	err = pem_block_read(pem, len, what, &name, &der, &derlen, m);
	if (err != WARD_OK)
		goto out;
	if (strcmp(name, PEM_STRING_PKCS8) == 0) {
		err = ward_msg_set(m, WARD_E_UNSUPPORTED,
				   "%s: encrypted PKCS#8 is not supported here; decrypt it with "
				   "'openssl pkcs8' first",
				   what);
		goto out;
	}
	if (strcmp(name, PEM_STRING_PKCS8INF) != 0) {
		err = ward_msg_set(m, WARD_E_PARSE,
				   "%s: expected a -----BEGIN PRIVATE KEY----- (PKCS#8) block, "
				   "found \"%.40s\"%s",
				   what, name,
				   strstr(name, "PRIVATE KEY") != NULL
					   ? "; convert it with 'openssl pkcs8 -topk8 -nocrypt'"
					   : "");
		goto out;
	}
	err = ward_crypto_key_from_private_der(der, (size_t)derlen, out, m);
out:
	pem_block_free(name, der, derlen);
	return err;
}

/* ---- for the rest of lib/crypto/ (internal.h) ------------------------- */

EVP_PKEY *ward_crypto_key_evp(const struct ward_key *k)
{
	return k != NULL ? k->pkey : NULL;
}

/*
 * A private copy goes through EVP_PKEY_dup; a public one through
 * SubjectPublicKeyInfo DER, so no private half can come along. Either way
 * key_wrap classifies, checks and normalises the copy, never the caller's key.
 */
ward_err ward_crypto_key_from_evp(EVP_PKEY *pkey, bool priv, const char *what,
				  struct ward_key **out, struct ward_msg *m)
{
	ward_err err = WARD_E_CRYPTO;
	EVP_PKEY *copy = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	int derlen = 0;

	if (pkey == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "%s: no key given", what);
		goto out;
	}
	if (priv) {
		copy = EVP_PKEY_dup(pkey);
	} else {
		derlen = i2d_PUBKEY(pkey, &der);
		if (derlen > 0) {
			p = der;
			copy = d2i_PUBKEY(NULL, &p, derlen);
		}
	}
	if (copy == NULL) {
		err = ossl_fail(m, WARD_E_UNSUPPORTED, "cannot use this key");
		err = ward_msg_prefix(m, err, "%s: ", what);
		goto out;
	}
	err = key_wrap(&copy, priv, what, out, m);
out:
	EVP_PKEY_free(copy);
	OPENSSL_free(der);
	return err;
}
