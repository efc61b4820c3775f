/*
 * lib/crypto/misc.c — scrypt, AES-256-GCM and strict base64.
 *
 * scrypt's memory bound is computed from the parameters (OpenSSL needs
 * 128*r*(N+2) + 128*r*p bytes) rather than relying on OpenSSL's 32 MiB default,
 * and absurd parameters are refused before anything is allocated.
 * AEAD open never releases unauthenticated plaintext: on a tag mismatch the
 * output is zeroed. Base64 is the standard alphabet with mandatory padding and
 * nothing else: no whitespace, no line breaks, no non-zero pad bits, so every
 * byte string has exactly one accepted encoding.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "ward/crypto.h"

#define SCRYPT_MAX_LOG2N 30        /* 2^30 blocks: far beyond any sane cost */
#define SCRYPT_MAX_RP (1u << 30)   /* RFC 7914: r * p < 2^30 */
#define SCRYPT_SLACK (1u << 20)    /* headroom over OpenSSL's own estimate */
#define AEAD_CHUNK (1u << 30)      /* EVP lengths are int; feed large inputs in pieces */
#define B64_MAX_IN ((size_t)INT_MAX / 4 * 3 - 3) /* largest input EVP_EncodeBlock takes */

ward_err ward_crypto_scrypt(const void *pass, size_t passlen, const uint8_t *salt, size_t saltlen,
			    unsigned log2n, unsigned r, unsigned p, uint8_t *out, size_t outlen)
{
	static const char empty[1];
	uint64_t n, mem;

	if ((pass == NULL && passlen > 0) || (salt == NULL && saltlen > 0) || out == NULL ||
	    outlen == 0)
		return WARD_E_INVAL;
	if (log2n < 1 || log2n > SCRYPT_MAX_LOG2N || r == 0 || p == 0 ||
	    (uint64_t)r * p >= SCRYPT_MAX_RP)
		return WARD_E_INVAL;
	n = (uint64_t)1 << log2n;
	/* 128*r*(N+2) for V plus 128*r*p for B; both fit in 64 bits given the bounds above. */
	mem = 128 * (uint64_t)r * (n + 2) + 128 * (uint64_t)r * p + SCRYPT_SLACK;
	if (mem > SIZE_MAX)
		return WARD_E_TOOBIG;
	if (EVP_PBE_scrypt(pass != NULL ? pass : empty, passlen,
			   salt != NULL ? salt : (const uint8_t *)empty, saltlen, n, r, p, mem,
			   out, outlen) != 1) {
		OPENSSL_cleanse(out, outlen);
		return WARD_E_CRYPTO;
	}
	return WARD_OK;
}

/* EVP_EncryptUpdate/DecryptUpdate over any size_t length, in int-sized pieces. */
static bool aead_update(EVP_CIPHER_CTX *ctx, bool enc, uint8_t *out, const uint8_t *in, size_t n)
{
	while (n > 0) {
		int chunk = n > AEAD_CHUNK ? (int)AEAD_CHUNK : (int)n;
		int outl = 0;
		int ok = enc ? EVP_EncryptUpdate(ctx, out, &outl, in, chunk)
			     : EVP_DecryptUpdate(ctx, out, &outl, in, chunk);

		if (ok != 1)
			return false;
		if (out != NULL && outl != chunk) /* GCM is a stream mode: as many out as in */
			return false;
		if (out != NULL)
			out += chunk;
		in += chunk;
		n -= (size_t)chunk;
	}
	return true;
}

/* Start AES-256-GCM with key and 12-byte nonce, and feed the associated data. */
static bool aead_start(EVP_CIPHER_CTX *ctx, bool enc, const uint8_t *key, const uint8_t *nonce,
		       const void *aad, size_t aadlen)
{
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) != 1)
		return false;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, WARD_AEAD_NONCE_LEN, NULL) != 1)
		return false;
	if (EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc ? 1 : 0) != 1)
		return false;
	return aead_update(ctx, enc, NULL, aad, aadlen);
}

ward_err ward_crypto_aead_seal(const uint8_t key[WARD_AEAD_KEY_LEN],
			       const uint8_t nonce[WARD_AEAD_NONCE_LEN], const void *aad,
			       size_t aadlen, const void *pt, size_t n, uint8_t *out)
{
	ward_err err = WARD_E_CRYPTO;
	EVP_CIPHER_CTX *ctx = NULL;
	int outl = 0;

	if (key == NULL || nonce == NULL || out == NULL || (aad == NULL && aadlen > 0) ||
	    (pt == NULL && n > 0)) {
		err = WARD_E_INVAL;
		goto out;
	}
	if (n > SIZE_MAX - WARD_AEAD_TAG_LEN) {
		err = WARD_E_TOOBIG;
		goto out;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		err = WARD_E_NOMEM;
		goto out;
	}
	if (!aead_start(ctx, true, key, nonce, aad, aadlen) || !aead_update(ctx, true, out, pt, n))
		goto out;
	if (EVP_EncryptFinal_ex(ctx, out + n, &outl) != 1 || outl != 0)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WARD_AEAD_TAG_LEN, out + n) != 1)
		goto out;
	err = WARD_OK;
out:
	EVP_CIPHER_CTX_free(ctx); /* also cleanses the expanded key schedule */
	return err;
}

ward_err ward_crypto_aead_open(const uint8_t key[WARD_AEAD_KEY_LEN],
			       const uint8_t nonce[WARD_AEAD_NONCE_LEN], const void *aad,
			       size_t aadlen, const uint8_t *in, size_t n, uint8_t *out)
{
	ward_err result = WARD_E_VERIFY;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t tag[WARD_AEAD_TAG_LEN];
	size_t ctlen = 0;
	int outl = 0;

	if (key == NULL || nonce == NULL || in == NULL || (aad == NULL && aadlen > 0) ||
	    (out == NULL && n > WARD_AEAD_TAG_LEN)) {
		result = WARD_E_INVAL;
		goto out;
	}
	if (n < WARD_AEAD_TAG_LEN)
		goto out;
	ctlen = n - WARD_AEAD_TAG_LEN;
	memcpy(tag, in + ctlen, sizeof(tag)); /* before out is written: in and out may alias */
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		result = WARD_E_NOMEM;
		goto out;
	}
	if (!aead_start(ctx, false, key, nonce, aad, aadlen) ||
	    !aead_update(ctx, false, out, in, ctlen))
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WARD_AEAD_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, out != NULL ? out + ctlen : tag, &outl) != 1 || outl != 0)
		goto out;
	result = WARD_OK;
out:
	if (result != WARD_OK && out != NULL && ctlen > 0)
		OPENSSL_cleanse(out, ctlen); /* never hand out unauthenticated plaintext */
	EVP_CIPHER_CTX_free(ctx);
	return result;
}

ward_err ward_crypto_base64_encode(const void *in, size_t n, struct ward_buf *out)
{
	ward_err err = WARD_E_CRYPTO;
	struct ward_buf tmp;
	unsigned char *enc = NULL;
	size_t enclen;
	int got;

	if ((in == NULL && n > 0) || out == NULL)
		return WARD_E_INVAL;
	if (n > B64_MAX_IN)
		return WARD_E_TOOBIG;
	enclen = (n + 2) / 3 * 4;
	ward_buf_init(&tmp, enclen);
	enc = malloc(enclen + 1);
	if (enc == NULL) {
		err = WARD_E_NOMEM;
		goto out;
	}
	got = EVP_EncodeBlock(enc, in, (int)n);
	if (got < 0 || (size_t)got != enclen)
		goto out;
	err = ward_buf_append(&tmp, enc, enclen); /* even when empty: out.p is a C string */
	if (err != WARD_OK)
		goto out;
	*out = tmp;
	ward_buf_init(&tmp, enclen); /* ownership moved to *out */
	err = WARD_OK;
out:
	/* The input may be secret, and so is its encoding. */
	if (enc != NULL)
		OPENSSL_clear_free(enc, enclen + 1);
	ward_buf_free(&tmp);
	return err;
}

/* Value of a base64 alphabet character, or -1. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

ward_err ward_crypto_base64_decode(const char *in, size_t n, size_t max, struct ward_buf *out)
{
	ward_err err = WARD_E_PARSE;
	struct ward_buf tmp;
	unsigned char *dec = NULL;
	size_t pad = 0, declen = 0, i;
	int last, got;

	if ((in == NULL && n > 0) || out == NULL)
		return WARD_E_INVAL;
	ward_buf_init(&tmp, max);
	if (n % 4 != 0)
		goto out;
	if (n > (size_t)INT_MAX) {
		err = WARD_E_TOOBIG;
		goto out;
	}
	if (n > 0 && in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n - pad; i++)
		if (b64_value((unsigned char)in[i]) < 0)
			goto out; /* whitespace, '=' inside, or a foreign character */
	if (pad > 0) {
		/* The bits of the last character that fall past the data must be zero. */
		last = b64_value((unsigned char)in[n - pad - 1]);
		if ((pad == 1 && (last & 0x03) != 0) || (pad == 2 && (last & 0x0f) != 0))
			goto out;
	}
	declen = n / 4 * 3 - pad;
	if (declen > max) {
		err = WARD_E_TOOBIG;
		goto out;
	}
	dec = malloc(n / 4 * 3 + 1);
	if (dec == NULL) {
		err = WARD_E_NOMEM;
		goto out;
	}
	if (n > 0) {
		/* EVP_DecodeBlock counts pad characters as zero bytes; we trim them ourselves. */
		got = EVP_DecodeBlock(dec, (const unsigned char *)in, (int)n);
		if (got < 0 || (size_t)got != n / 4 * 3) {
			err = WARD_E_PARSE;
			goto out;
		}
	}
	err = ward_buf_append(&tmp, dec, declen); /* even when empty: out.p is never NULL */
	if (err != WARD_OK)
		goto out;
	*out = tmp;
	ward_buf_init(&tmp, max); /* ownership moved to *out */
	err = WARD_OK;
out:
	if (dec != NULL)
		OPENSSL_clear_free(dec, n / 4 * 3 + 1);
	ward_buf_free(&tmp);
	return err;
}

/*
 * EST bodies (RFC 7030 as corrected by RFC 8951) are base64 that may carry
 * line breaks and other whitespace: drop ASCII whitespace, then decode strictly.
 */
ward_err ward_crypto_base64_decode_ws(const void *in, size_t n, size_t max, struct ward_buf *out)
{
	const uint8_t *p = in;
	struct ward_buf clean;
	ward_err err;

	ward_buf_init(&clean, n + 1);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')
			continue;
		err = ward_buf_append(&clean, &p[i], 1);
		if (err != WARD_OK) {
			ward_buf_free(&clean);
			return err;
		}
	}
	err = clean.len ? ward_crypto_base64_decode((const char *)clean.p, clean.len, max, out)
			: WARD_E_PARSE;
	ward_buf_free(&clean);
	return err;
}
