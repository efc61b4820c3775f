/*
 * server/credentials.c — the batch password hash (format in credentials.h).
 *
 * Why one fast salted SHA-256 and not scrypt/argon2: a batch password is not
 * chosen by a person. It is 192 bits straight from the CSPRNG, so nobody can
 * guess it or search a dictionary for it, and a slow KDF would add nothing
 * but cost: 2^192 SHA-256 evaluations are as out of reach as 2^192 scrypt
 * ones. What a slow KDF buys is time against *guessable* secrets, which is
 * why human passwords (a device's local admin password, a key passphrase) go
 * through scrypt elsewhere in ward and must never use this function. Being
 * fast also matters here: ward-server checks the password on every EST
 * request, and an expensive hash would hand anyone on the network a cheap
 * way to burn the server's CPU and memory. The salt makes equal passwords of
 * two batches (which cannot happen with 192 random bits, but costs nothing
 * to rule out) hash differently. The comparison is constant-time.
 */
#include <string.h>

#include "credentials.h"
#include "ward/buf.h"
#include "ward/crypto.h"

#define PREFIX "sha256$"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

/* SHA-256(salt || password) into digest. */
static WARD_MUST_USE ward_err digest_of(const uint8_t salt[SRV_BATCH_SALT_LEN], const char *password,
					size_t len, uint8_t digest[WARD_SHA256_LEN])
{
	struct ward_hash *h = NULL;
	ward_err e;

	if ((e = ward_crypto_hash_new(WARD_HASH_SHA256, &h)) != WARD_OK)
		return e;
	if ((e = ward_crypto_hash_update(h, salt, SRV_BATCH_SALT_LEN)) == WARD_OK &&
	    (e = ward_crypto_hash_update(h, password, len)) == WARD_OK)
		e = ward_crypto_hash_final(h, digest);
	ward_crypto_hash_free(h);
	return e;
}

ward_err srv_batch_password_hash(const char *password, char *out, size_t n)
{
	uint8_t salt[SRV_BATCH_SALT_LEN], digest[WARD_SHA256_LEN];
	char salthex[2 * SRV_BATCH_SALT_LEN + 1], dighex[2 * WARD_SHA256_LEN + 1];
	size_t len;
	ward_err e;

	if (!password || !out || n < SRV_BATCH_HASH_LEN + 1)
		return WARD_E_INVAL;
	len = strlen(password);
	if (len == 0 || len > SRV_BATCH_PASS_MAX)
		return WARD_E_INVAL;
	if ((e = ward_crypto_random(salt, sizeof(salt))) != WARD_OK ||
	    (e = digest_of(salt, password, len, digest)) != WARD_OK)
		goto out;
	ward_hex_encode(salt, sizeof(salt), salthex);
	ward_hex_encode(digest, sizeof(digest), dighex);
	e = ward_snprintf(out, n, PREFIX "%s$%s", salthex, dighex);
out:
	ward_wipe(digest, sizeof(digest));
	ward_wipe(dighex, sizeof(dighex));
	return e;
}

ward_err srv_batch_password_ok(const char *encoded, const char *password, bool *ok)
{
	uint8_t salt[SRV_BATCH_SALT_LEN], want[WARD_SHA256_LEN], got[WARD_SHA256_LEN];
	const char *salthex, *dighex;
	size_t len;
	bool match = false;
	ward_err e = WARD_E_PARSE;

	if (!ok)
		return WARD_E_INVAL;
	*ok = false;
	if (!encoded || !password)
		return WARD_E_INVAL;
	if (strlen(encoded) != SRV_BATCH_HASH_LEN || strncmp(encoded, PREFIX, PREFIX_LEN) != 0 ||
	    encoded[PREFIX_LEN + 2 * SRV_BATCH_SALT_LEN] != '$')
		return WARD_E_PARSE;
	salthex = encoded + PREFIX_LEN;
	dighex = salthex + 2 * SRV_BATCH_SALT_LEN + 1;
	{
		/* ward_hex_decode wants exactly 2n hex digits then NUL: decode a copy of the salt */
		char sbuf[2 * SRV_BATCH_SALT_LEN + 1];

		memcpy(sbuf, salthex, 2 * SRV_BATCH_SALT_LEN);
		sbuf[2 * SRV_BATCH_SALT_LEN] = '\0';
		if (ward_hex_decode(sbuf, salt, sizeof(salt)) != WARD_OK ||
		    ward_hex_decode(dighex, want, sizeof(want)) != WARD_OK)
			goto out;
	}
	/* Bounded work per request; an overlong password cannot match anything we issued. */
	len = strnlen(password, SRV_BATCH_PASS_MAX + 1);
	if ((e = digest_of(salt, password, len, got)) != WARD_OK)
		goto out;
	match = ward_ct_eq(got, want, sizeof(got)) && len <= SRV_BATCH_PASS_MAX;
	e = WARD_OK;
	*ok = match; /* the one line that can say yes */
out:
	ward_wipe(got, sizeof(got));
	ward_wipe(want, sizeof(want));
	return e;
}
