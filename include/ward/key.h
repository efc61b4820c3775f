/*
 * ward/key.h — TUF's representation of public keys and their key ids.
 *
 * A TUF key is the JSON object {"keytype", "scheme", "keyval": {"public"}}:
 *   ed25519:  keytype "ed25519", scheme "ed25519", public = 64 hex chars
 *   P-256:    keytype "ecdsa" (also accepted: "ecdsa-sha2-nistp256"),
 *             scheme "ecdsa-sha2-nistp256", public = SPKI PEM
 * The key id is the lower-case hex SHA-256 of the key object's canonical JSON
 * (without "keyid_hash_algorithms", as TUF 1.0 and tuf-js compute it).
 */
#ifndef WARD_KEY_H
#define WARD_KEY_H

#include <jansson.h>

#include "ward/crypto.h"
#include "ward/err.h"

#define WARD_KEYID_HEX_LEN 64

/* TUF key object of the public half of k; caller frees *out with json_decref. */
ward_err ward_key_to_tuf(const struct ward_key *k, json_t **out, struct ward_msg *m) WARD_MUST_USE;
/* Public key from a TUF key object; WARD_E_UNSUPPORTED for key types ward does not verify. */
ward_err ward_key_from_tuf(const json_t *obj, struct ward_key **out, struct ward_msg *m) WARD_MUST_USE;
/* Key id of a TUF key object (hex, NUL-terminated). */
ward_err ward_key_id_of_tuf(const json_t *obj, char out[WARD_KEYID_HEX_LEN + 1],
			    struct ward_msg *m) WARD_MUST_USE;
/* Key id of k's public half. */
ward_err ward_key_id(const struct ward_key *k, char out[WARD_KEYID_HEX_LEN + 1],
		     struct ward_msg *m) WARD_MUST_USE;
/* "ed25519" or "ecdsa-sha2-nistp256". */
const char *ward_key_scheme(enum ward_key_type t);
/* Parse "ed25519" | "ecdsa" | "ecdsa-sha2-nistp256" | "p256". */
ward_err ward_key_type_parse(const char *s, enum ward_key_type *out) WARD_MUST_USE;

#endif
