/*
 * server/credentials.h — production batches' EST passwords at rest.
 *
 * `ward batch create` makes the password (24 random bytes, base64url without
 * padding: 192 bits) and stores only
 *	sha256$<16-byte salt, hex>$<hex of SHA-256(salt || password)>
 * ward-server checks an EST client's HTTP Basic password against it with
 * srv_batch_password_ok(). Both halves live here so the format has one owner.
 */
#ifndef WARD_SRV_CREDENTIALS_H
#define WARD_SRV_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

#include "ward/err.h"

#define SRV_BATCH_SALT_LEN 16                                   /* bytes of salt */
#define SRV_BATCH_PASS_MAX 1024                                 /* longest password checked */
#define SRV_BATCH_HASH_LEN (7 + 2 * 16 + 1 + 2 * 32)            /* "sha256$" salt '$' digest */

/*
 * Encode password with a fresh random salt into out (at least
 * SRV_BATCH_HASH_LEN + 1 bytes), NUL-terminated.
 */
ward_err srv_batch_password_hash(const char *password, char *out, size_t n) WARD_MUST_USE;

/*
 * *ok = whether password matches encoded (as srv_batch_password_hash wrote
 * it). The digest comparison is constant-time; *ok starts false and stays
 * false on every error. WARD_E_PARSE when encoded is not that format (the
 * caller logs that: the database holds something ward did not write);
 * a password longer than SRV_BATCH_PASS_MAX simply does not match.
 * Usage (ward-server, EST Basic auth):
 *	bool ok;
 *	if (srv_batch_password_ok(b.pass_hash, pass, &ok) != WARD_OK || !ok)
 *		return reply_401(...);
 */
ward_err srv_batch_password_ok(const char *encoded, const char *password, bool *ok) WARD_MUST_USE;

#endif
