/*
 * fuzz/csr.c — PKCS#10 requests as ward-server's EST endpoint receives them.
 *
 * Input: the DER of a certification request (what simpleenroll's base64 body
 * decodes to). What it exercises: ward_x509_csr_parse (size bound, DER,
 * key algorithm and curve, signature algorithm, proof of possession), then
 * ward_x509_csr_info and ward_x509_csr_key on whatever was accepted.
 * Properties checked (abort() when one fails):
 *  - a refused request leaves the output NULL and says why;
 *  - an accepted request has an ed25519 or P-256 key, info and key agree on
 *    its type, and the key ward hands out is public-only and equal each time;
 *  - inputs over WARD_X509_MAX_DER are refused as too big.
 * Seed corpus (fuzz/corpus/csr/), made once with the openssl command line:
 *   p256, ed25519, p256-full-subject: valid requests (openssl req -new ...);
 *   p384, rsa2048, brainpool, p256-sha384: refused algorithms;
 *   p256-bad-sig: last signature byte flipped; p256-truncated: cut in half;
 *   p256-trailing: one extra byte; garbage: random bytes; empty-seq: 30 00.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ward/crypto.h"
#include "ward/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_msg m = {0};
	struct ward_csr *r = NULL;
	struct ward_cert_info info;
	struct ward_key *k1 = NULL, *k2 = NULL;
	enum ward_key_type t;
	ward_err e;

	e = ward_x509_csr_parse(data != NULL ? data : (const uint8_t *)"", size, &r, &m);
	if (e != WARD_OK) {
		if (r != NULL || m.text[0] == '\0')
			abort(); /* outputs untouched, and every failure says what was wrong */
		if (size > WARD_X509_MAX_DER && e != WARD_E_TOOBIG)
			abort();
		return 0;
	}
	if (r == NULL || size > WARD_X509_MAX_DER)
		abort();
	if (ward_x509_csr_info(r, &info) != WARD_OK)
		abort(); /* parse already read the info: it cannot fail afterwards */
	if (ward_x509_csr_key(r, &k1) != WARD_OK || ward_x509_csr_key(r, &k2) != WARD_OK)
		abort();
	t = ward_crypto_key_type(k1);
	if ((t != WARD_KEY_ED25519 && t != WARD_KEY_ECDSA_P256) || t != info.key_type)
		abort();
	if (ward_crypto_key_has_private(k1) || !ward_crypto_key_equal(k1, k2))
		abort();
	if (memchr(info.cn, '\0', sizeof(info.cn)) == NULL ||
	    memchr(info.mud_url, '\0', sizeof(info.mud_url)) == NULL || info.not_before != 0 ||
	    info.is_ca)
		abort();
	ward_crypto_key_free(k1);
	ward_crypto_key_free(k2);
	ward_x509_csr_free(r);
	return 0;
}
