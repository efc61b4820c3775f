/*
 * lib/crypto/internal.h — what the files of lib/crypto/ share with each other
 * and with nobody else (this header includes OpenSSL, so only lib/crypto/
 * may include it).
 *
 * x509.c and tls.c need the EVP_PKEY inside a struct ward_key (sign.c) and the
 * X509 inside a struct ward_cert (x509.c). Wrapping goes through the same
 * checks as every other constructor: a wrapped key is ed25519 or P-256 or
 * nothing, a wrapped certificate passes x509.c's structural checks.
 */
#ifndef WARD_CRYPTO_INTERNAL_H
#define WARD_CRYPTO_INTERNAL_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ward/crypto.h"
#include "ward/err.h"
#include "ward/x509.h"

/* The EVP_PKEY of k: borrowed, valid while k lives; never NULL for a valid k. */
EVP_PKEY *ward_crypto_key_evp(const struct ward_key *k);

/*
 * A new struct ward_key holding a copy of pkey (pkey stays the caller's).
 * priv says whether the private half is wanted: false makes a public-only
 * key even when pkey holds a private one. Anything but ed25519 or P-256 on
 * a named curve is refused with WARD_E_UNSUPPORTED and a message naming the
 * algorithm or curve; what names the input in messages. Caller frees *out.
 */
ward_err ward_crypto_key_from_evp(EVP_PKEY *pkey, bool priv, const char *what,
                                  struct ward_key **out, struct ward_msg *m) WARD_MUST_USE;

/* The X509 of c: borrowed, valid while c lives. */
X509 *ward_x509_cert_x509(const struct ward_cert *c);

/*
 * A new struct ward_cert sharing x (x's reference count is raised; the
 * caller keeps its own reference). x passes the same checks as a parsed
 * certificate. Caller frees *out with ward_x509_cert_free.
 */
ward_err ward_x509_cert_from_x509(X509 *x, struct ward_cert **out,
                                  struct ward_msg *m) WARD_MUST_USE;

#endif
