/*
 * ward/crypto.h — the crypto boundary. Only lib/crypto/ includes OpenSSL;
 * everything else in ward calls these functions. A port to another crypto
 * library replaces lib/crypto/ and nothing else.
 *
 * Keys are opaque (struct ward_key). Private key material never leaves this
 * boundary except as PKCS#8 DER in a secret ward_buf (for encrypted key
 * files), and is wiped by ward_crypto_key_free().
 *
 * Signatures: ed25519 is the 64-byte RFC 8032 signature; ECDSA P-256 is the
 * DER-encoded (r, s) over SHA-256 of the message, which is what TUF's
 * "ecdsa-sha2-nistp256" scheme and securesystemslib/tuf-js produce.
 */
#ifndef WARD_CRYPTO_H
#define WARD_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ward/buf.h"
#include "ward/err.h"

/* ---- hashing --------------------------------------------------------- */

enum ward_hash_alg {
	WARD_HASH_SHA256,
	WARD_HASH_SHA512,
};

#define WARD_SHA256_LEN 32
#define WARD_SHA512_LEN 64
#define WARD_HASH_MAX_LEN 64

struct ward_hash; /* opaque streaming hash state */

/* Digest length of alg in bytes. */
size_t ward_crypto_hash_len(enum ward_hash_alg alg);
/* Start a streaming hash; caller frees with ward_crypto_hash_free(). */
ward_err ward_crypto_hash_new(enum ward_hash_alg alg, struct ward_hash **out) WARD_MUST_USE;
ward_err ward_crypto_hash_update(struct ward_hash *h, const void *data, size_t n) WARD_MUST_USE;
/* Write the digest (ward_crypto_hash_len bytes) to out; h cannot be updated afterwards. */
ward_err ward_crypto_hash_final(struct ward_hash *h, uint8_t *out) WARD_MUST_USE;
void ward_crypto_hash_free(struct ward_hash *h); /* accepts NULL */
/* One-shot digest of data into out. */
ward_err ward_crypto_hash(enum ward_hash_alg alg, const void *data, size_t n,
			  uint8_t *out) WARD_MUST_USE;

/* ---- randomness ------------------------------------------------------ */

/* Fill buf with n bytes from the OS-seeded CSPRNG. */
ward_err ward_crypto_random(void *buf, size_t n) WARD_MUST_USE;

/* ---- keys and signatures --------------------------------------------- */

enum ward_key_type {
	WARD_KEY_ED25519,
	WARD_KEY_ECDSA_P256,
};

#define WARD_SIG_MAX_LEN 80      /* DER ECDSA P-256 is at most 72, ed25519 64 */
#define WARD_ED25519_PUB_LEN 32  /* raw public key */
#define WARD_P256_PUB_LEN 65     /* uncompressed point 0x04 || X || Y */

struct ward_key; /* opaque: a public key, or a private key with its public half */

ward_err ward_crypto_key_generate(enum ward_key_type type, struct ward_key **out,
				  struct ward_msg *m) WARD_MUST_USE;
/* Wipe and release; accepts NULL. */
void ward_crypto_key_free(struct ward_key *k);
enum ward_key_type ward_crypto_key_type(const struct ward_key *k);
bool ward_crypto_key_has_private(const struct ward_key *k);
/* A new key holding only the public half of k; caller frees. */
ward_err ward_crypto_key_public_copy(const struct ward_key *k, struct ward_key **out) WARD_MUST_USE;
/* True when a and b hold the same public key. */
bool ward_crypto_key_equal(const struct ward_key *a, const struct ward_key *b);

/* Sign msg with a private key; sig must hold WARD_SIG_MAX_LEN bytes. */
ward_err ward_crypto_sign(const struct ward_key *k, const void *msg, size_t n, uint8_t *sig,
			  size_t *siglen, struct ward_msg *m) WARD_MUST_USE;
/* WARD_OK when sig is a valid signature of msg by k, WARD_E_VERIFY otherwise. */
ward_err ward_crypto_verify(const struct ward_key *k, const void *msg, size_t n,
			    const uint8_t *sig, size_t siglen) WARD_MUST_USE;

/* Raw public key: 32 bytes for ed25519, 65-byte uncompressed point for P-256. */
ward_err ward_crypto_key_public_raw(const struct ward_key *k, uint8_t *out, size_t *len) WARD_MUST_USE;
ward_err ward_crypto_key_from_public_raw(enum ward_key_type type, const uint8_t *raw, size_t len,
					 struct ward_key **out, struct ward_msg *m) WARD_MUST_USE;

/* SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"), into out (initialised here). */
ward_err ward_crypto_key_public_pem(const struct ward_key *k, struct ward_buf *out) WARD_MUST_USE;
/* Parse SPKI PEM of an ed25519 or P-256 key; other algorithms and curves are refused. */
ward_err ward_crypto_key_from_public_pem(const char *pem, size_t len, struct ward_key **out,
					 struct ward_msg *m) WARD_MUST_USE;

/* Unencrypted PKCS#8 DER of a private key into out (initialised here as a secret buffer). */
ward_err ward_crypto_key_private_der(const struct ward_key *k, struct ward_buf *out) WARD_MUST_USE;
ward_err ward_crypto_key_from_private_der(const uint8_t *der, size_t len, struct ward_key **out,
					  struct ward_msg *m) WARD_MUST_USE;
/* Unencrypted PKCS#8 PEM, for interchange with other tools (caller decides where it goes). */
ward_err ward_crypto_key_private_pem(const struct ward_key *k, struct ward_buf *out) WARD_MUST_USE;
ward_err ward_crypto_key_from_private_pem(const char *pem, size_t len, struct ward_key **out,
					  struct ward_msg *m) WARD_MUST_USE;

/* ---- passphrase protection ------------------------------------------- */

/*
 * scrypt (RFC 7914) of pass with salt into out (outlen bytes). log2n, r, p are
 * the cost parameters; memory used is 128 * r * 2^log2n bytes.
 */
ward_err ward_crypto_scrypt(const void *pass, size_t passlen, const uint8_t *salt, size_t saltlen,
			    unsigned log2n, unsigned r, unsigned p, uint8_t *out,
			    size_t outlen) WARD_MUST_USE;

#define WARD_AEAD_KEY_LEN 32
#define WARD_AEAD_NONCE_LEN 12
#define WARD_AEAD_TAG_LEN 16

/* AES-256-GCM: out receives n bytes of ciphertext followed by the 16-byte tag. */
ward_err ward_crypto_aead_seal(const uint8_t key[WARD_AEAD_KEY_LEN],
			       const uint8_t nonce[WARD_AEAD_NONCE_LEN], const void *aad, size_t aadlen,
			       const void *pt, size_t n, uint8_t *out) WARD_MUST_USE;
/* Inverse of seal: in is n bytes of ciphertext + tag (n >= 16); out receives n - 16 bytes.
 * WARD_E_VERIFY when the tag does not match (wrong passphrase or tampering). */
ward_err ward_crypto_aead_open(const uint8_t key[WARD_AEAD_KEY_LEN],
			       const uint8_t nonce[WARD_AEAD_NONCE_LEN], const void *aad, size_t aadlen,
			       const uint8_t *in, size_t n, uint8_t *out) WARD_MUST_USE;

/* ---- encodings ------------------------------------------------------- */

/* Standard base64 with padding, no line breaks, into out (initialised here). */
ward_err ward_crypto_base64_encode(const void *in, size_t n, struct ward_buf *out) WARD_MUST_USE;
/* Decode standard base64 (padding required, no whitespace) into out (initialised here, max bytes). */
ward_err ward_crypto_base64_decode(const char *in, size_t n, size_t max, struct ward_buf *out) WARD_MUST_USE;
/* The same, ignoring ASCII whitespace anywhere (EST bodies, RFC 8951). */
ward_err ward_crypto_base64_decode_ws(const void *in, size_t n, size_t max, struct ward_buf *out) WARD_MUST_USE;

#endif
