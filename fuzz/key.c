/*
 * fuzz/key.c — TUF public key objects and key ids.
 *
 * Input: a JSON document (at most 64 KiB) taken as a TUF key object
 * {"keytype", "scheme", "keyval": {"public"}}: ed25519 hex, P-256 SPKI PEM,
 * and anything else, which must be refused cleanly.
 * Properties checked (abort() when one fails):
 *  - a key that ward_key_from_tuf accepts also has a key id, unless the
 *    object has no canonical form (extra members may hold floats, which
 *    from_tuf ignores but the key id, a hash of the whole object, cannot);
 *  - it round-trips: from_tuf(to_tuf(k)) is the same public key, and the
 *    key id of to_tuf(k) is what ward_key_id(k) says.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/json.h"
#include "ward/key.h"

#define IN_MAX (64u * 1024)

/* True when obj has a canonical JSON encoding. */
static int has_canonical_form(const json_t *obj)
{
	struct ward_msg m = {0};
	struct ward_buf b;
	ward_err e;

	ward_buf_init(&b, 2 * IN_MAX);
	e = ward_json_canonical(obj, &b, &m);
	ward_buf_free(&b);
	return e == WARD_OK;
}

static void check_round_trip(const struct ward_key *k)
{
	struct ward_msg m = {0};
	json_t *obj = NULL;
	struct ward_key *k2 = NULL;
	char id1[WARD_KEYID_HEX_LEN + 1], id2[WARD_KEYID_HEX_LEN + 1];

	if (ward_key_to_tuf(k, &obj, &m) != WARD_OK)
		abort();
	if (ward_key_from_tuf(obj, &k2, &m) != WARD_OK)
		abort();
	if (!ward_crypto_key_equal(k, k2))
		abort();
	if (ward_key_id(k, id1, &m) != WARD_OK || ward_key_id_of_tuf(obj, id2, &m) != WARD_OK)
		abort();
	if (strcmp(id1, id2) != 0 || strlen(id1) != WARD_KEYID_HEX_LEN)
		abort();
	ward_crypto_key_free(k2);
	json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_msg m = {0};
	json_t *obj = NULL;
	struct ward_key *k = NULL;
	char id[WARD_KEYID_HEX_LEN + 1];
	ward_err id_err;

	if (size > IN_MAX)
		return 0;
	if (ward_json_parse(data, size, IN_MAX, &obj, &m) != WARD_OK)
		return 0;
	id_err = ward_key_id_of_tuf(obj, id, &m);
	if (ward_key_from_tuf(obj, &k, &m) == WARD_OK) {
		if (k == NULL)
			abort();
		if (id_err != WARD_OK && has_canonical_form(obj))
			abort(); /* the key id failed for another reason than canonical form */
		if (ward_crypto_key_has_private(k))
			abort(); /* a TUF key object only ever yields a public key */
		check_round_trip(k);
	} else if (k != NULL) {
		abort(); /* outputs are untouched on failure */
	}
	ward_crypto_key_free(k);
	json_decref(obj);
	return 0;
}
