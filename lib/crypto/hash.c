/*
 * lib/crypto/hash.c — SHA-256/SHA-512 (streaming and one-shot) and the CSPRNG.
 *
 * A struct ward_hash wraps one EVP_MD_CTX. Invariants: ctx is always valid
 * while the struct exists; once final has run the state is "done" and every
 * further update or final fails with WARD_E_INVAL instead of silently hashing
 * into a finished context. Randomness comes from RAND_bytes, which OpenSSL
 * seeds from the OS; a failure is reported, never papered over.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ward/crypto.h"

struct ward_hash {
	EVP_MD_CTX *ctx; /* the running digest; owned */
	size_t len;      /* digest length of the chosen algorithm */
	bool done;       /* final has run; no more updates */
};

/* EVP_MD of alg, or NULL for a value outside the enum. */
static const EVP_MD *hash_md(enum ward_hash_alg alg)
{
	switch (alg) {
	case WARD_HASH_SHA256:
		return EVP_sha256();
	case WARD_HASH_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

size_t ward_crypto_hash_len(enum ward_hash_alg alg)
{
	switch (alg) {
	case WARD_HASH_SHA256:
		return WARD_SHA256_LEN;
	case WARD_HASH_SHA512:
		return WARD_SHA512_LEN;
	}
	return 0;
}

ward_err ward_crypto_hash_new(enum ward_hash_alg alg, struct ward_hash **out)
{
	ward_err err = WARD_E_CRYPTO;
	const EVP_MD *md = hash_md(alg);
	struct ward_hash *h = NULL;

	if (md == NULL || out == NULL) {
		err = WARD_E_INVAL;
		goto out;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		err = WARD_E_NOMEM;
		goto out;
	}
	h->len = ward_crypto_hash_len(alg);
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL) {
		err = WARD_E_NOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(h->ctx, md, NULL) != 1)
		goto out;
	*out = h;
	h = NULL;
	err = WARD_OK;
out:
	ward_crypto_hash_free(h);
	return err;
}

ward_err ward_crypto_hash_update(struct ward_hash *h, const void *data, size_t n)
{
	if (h == NULL || h->done || (data == NULL && n > 0))
		return WARD_E_INVAL;
	if (n == 0)
		return WARD_OK;
	if (EVP_DigestUpdate(h->ctx, data, n) != 1)
		return WARD_E_CRYPTO;
	return WARD_OK;
}

ward_err ward_crypto_hash_final(struct ward_hash *h, uint8_t *out)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ward_err err = WARD_E_CRYPTO;

	if (h == NULL || h->done || out == NULL)
		return WARD_E_INVAL;
	h->done = true;
	if (EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1 || mdlen != h->len)
		goto out;
	memcpy(out, md, mdlen);
	err = WARD_OK;
out:
	OPENSSL_cleanse(md, sizeof(md));
	return err;
}

void ward_crypto_hash_free(struct ward_hash *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

ward_err ward_crypto_hash(enum ward_hash_alg alg, const void *data, size_t n, uint8_t *out)
{
	struct ward_hash *h = NULL;
	ward_err err;

	err = ward_crypto_hash_new(alg, &h);
	if (err != WARD_OK)
		goto out;
	err = ward_crypto_hash_update(h, data, n);
	if (err != WARD_OK)
		goto out;
	err = ward_crypto_hash_final(h, out);
out:
	ward_crypto_hash_free(h);
	return err;
}

ward_err ward_crypto_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	if (buf == NULL && n > 0)
		return WARD_E_INVAL;
	/* RAND_bytes takes an int; feed it in chunks so any size_t works. */
	while (n > 0) {
		int chunk = n > (size_t)INT_MAX ? INT_MAX : (int)n;

		if (RAND_bytes(p, chunk) != 1)
			return WARD_E_CRYPTO;
		p += chunk;
		n -= (size_t)chunk;
	}
	return WARD_OK;
}
