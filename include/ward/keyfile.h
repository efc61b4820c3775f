/*
 * ward/keyfile.h — private keys at rest, signify-style.
 *
 * A key file is two lines:
 *   untrusted comment: <free text, not authenticated>
 *   <base64 of the binary record below>
 * Record layout (all integers unsigned, big-endian):
 *   magic      8 bytes  "WARDKEY1"
 *   kdf        1 byte   0 = none (plain, only with an explicit flag), 1 = scrypt
 *   log2n      1 byte   scrypt cost (0 when kdf = 0)
 *   r          1 byte
 *   p          1 byte
 *   salt      16 bytes  (zeros when kdf = 0)
 *   nonce     12 bytes  (zeros when kdf = 0)
 *   length     4 bytes  length of what follows
 *   payload    PKCS#8 DER; when kdf = 1, AES-256-GCM ciphertext + 16-byte tag
 *              with the 44 header bytes before it as associated data.
 * Files are created 0600 with O_EXCL: an existing key is never overwritten.
 */
#ifndef WARD_KEYFILE_H
#define WARD_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "ward/crypto.h"
#include "ward/err.h"

#define WARD_KEYFILE_MAX 8192
#define WARD_KEYFILE_LOG2N 16 /* 64 MiB of memory per derivation */

/* pass == NULL writes an unencrypted key file (the caller asked for it explicitly). */
ward_err ward_keyfile_write(const char *path, const struct ward_key *k, const char *pass,
			    size_t passlen, const char *comment, struct ward_msg *m) WARD_MUST_USE;
/* Read a key file; pass may be NULL for an unencrypted file. Wrong passphrase: WARD_E_VERIFY. */
ward_err ward_keyfile_read(const char *path, const char *pass, size_t passlen, struct ward_key **out,
			   struct ward_msg *m) WARD_MUST_USE;
/* True when the file at path is passphrase-protected (so the caller knows to ask). */
ward_err ward_keyfile_is_encrypted(const char *path, bool *out, struct ward_msg *m) WARD_MUST_USE;

#endif
