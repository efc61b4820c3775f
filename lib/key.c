/*
 * lib/key.c — TUF key objects and key ids.
 *
 * Emits {"keytype": "ed25519"|"ecdsa", "scheme": ..., "keyval": {"public": ...}}
 * where ed25519's public value is 64 lower-case hex characters and P-256's is
 * an SPKI PEM. Accepts the older keytype "ecdsa-sha2-nistp256" too. The key id
 * is SHA-256 over the canonical JSON of the object as given (so ids computed
 * by other implementations over the same object match byte for byte).
 */
#include <string.h>

#include "ward/json.h"
#include "ward/key.h"

const char *ward_key_scheme(enum ward_key_type t)
{
	switch (t) {
	case WARD_KEY_ED25519: return "ed25519";
	case WARD_KEY_ECDSA_P256: return "ecdsa-sha2-nistp256";
	}
	return "unknown";
}

ward_err ward_key_type_parse(const char *s, enum ward_key_type *out)
{
	if (!strcmp(s, "ed25519")) {
		*out = WARD_KEY_ED25519;
		return WARD_OK;
	}
	if (!strcmp(s, "ecdsa") || !strcmp(s, "ecdsa-sha2-nistp256") || !strcmp(s, "p256")) {
		*out = WARD_KEY_ECDSA_P256;
		return WARD_OK;
	}
	return WARD_E_UNSUPPORTED;
}

ward_err ward_key_to_tuf(const struct ward_key *k, json_t **out, struct ward_msg *m)
{
	struct ward_buf pem;
	char hex[2 * WARD_ED25519_PUB_LEN + 1];
	uint8_t raw[WARD_P256_PUB_LEN];
	size_t rawlen = sizeof(raw);
	json_t *obj = NULL, *keyval = NULL;
	ward_err e;

	ward_buf_init(&pem, 4096);
	if (ward_crypto_key_type(k) == WARD_KEY_ED25519) {
		e = ward_crypto_key_public_raw(k, raw, &rawlen);
		if (e || rawlen != WARD_ED25519_PUB_LEN) {
			e = ward_msg_set(m, e ? e : WARD_E_CRYPTO, "cannot export ed25519 public key");
			goto out;
		}
		ward_hex_encode(raw, rawlen, hex);
		keyval = json_pack("{s:s}", "public", hex);
		obj = json_pack("{s:s,s:s,s:o}", "keytype", "ed25519", "scheme", "ed25519", "keyval",
				keyval);
	} else {
		e = ward_crypto_key_public_pem(k, &pem);
		if (e) {
			e = ward_msg_set(m, e, "cannot export P-256 public key");
			goto out;
		}
		keyval = json_pack("{s:s}", "public", (const char *)pem.p);
		obj = json_pack("{s:s,s:s,s:o}", "keytype", "ecdsa", "scheme", "ecdsa-sha2-nistp256",
				"keyval", keyval);
	}
	keyval = NULL; /* owned by obj (or leaked-free: json_pack steals "o" even on failure) */
	if (!obj) {
		e = ward_msg_set(m, WARD_E_NOMEM, "cannot build key object");
		goto out;
	}
	*out = obj;
	obj = NULL;
	e = WARD_OK;
out:
	json_decref(obj);
	ward_buf_free(&pem);
	return e;
}

ward_err ward_key_from_tuf(const json_t *obj, struct ward_key **out, struct ward_msg *m)
{
	const char *keytype, *scheme, *pub;
	json_t *keyval;
	enum ward_key_type t;
	uint8_t raw[WARD_ED25519_PUB_LEN];
	ward_err e;

	e = ward_json_get_string(obj, "keytype", "key", &keytype, m);
	if (!e)
		e = ward_json_get_string(obj, "scheme", "key", &scheme, m);
	if (!e)
		e = ward_json_get_object(obj, "keyval", "key", &keyval, m);
	if (!e)
		e = ward_json_get_string(keyval, "public", "key keyval", &pub, m);
	if (e)
		return e;
	if (!strcmp(keytype, "ed25519") && !strcmp(scheme, "ed25519")) {
		t = WARD_KEY_ED25519;
	} else if ((!strcmp(keytype, "ecdsa") || !strcmp(keytype, "ecdsa-sha2-nistp256")) &&
		   !strcmp(scheme, "ecdsa-sha2-nistp256")) {
		t = WARD_KEY_ECDSA_P256;
	} else {
		return ward_msg_set(m, WARD_E_UNSUPPORTED, "key type '%.40s' with scheme '%.40s' is not supported",
				    keytype, scheme);
	}
	if (t == WARD_KEY_ED25519) {
		if (strlen(pub) != 2 * WARD_ED25519_PUB_LEN ||
		    ward_hex_decode(pub, raw, sizeof(raw)) != WARD_OK)
			return ward_msg_set(m, WARD_E_PARSE, "ed25519 public key must be 64 hex characters");
		return ward_crypto_key_from_public_raw(t, raw, sizeof(raw), out, m);
	}
	{
		struct ward_key *k = NULL;
		ward_err e2 = ward_crypto_key_from_public_pem(pub, strlen(pub), &k, m);

		if (e2)
			return e2;
		if (ward_crypto_key_type(k) != t) {
			ward_crypto_key_free(k);
			return ward_msg_set(m, WARD_E_PARSE,
					    "key declared as %s holds a key of another type", keytype);
		}
		*out = k;
		return WARD_OK;
	}
}

ward_err ward_key_id_of_tuf(const json_t *obj, char out[WARD_KEYID_HEX_LEN + 1], struct ward_msg *m)
{
	struct ward_buf c;
	uint8_t d[WARD_SHA256_LEN];
	ward_err e;

	ward_buf_init(&c, 64 * 1024);
	e = ward_json_canonical(obj, &c, m);
	if (e)
		goto out;
	e = ward_crypto_hash(WARD_HASH_SHA256, c.p, c.len, d);
	if (e) {
		e = ward_msg_set(m, e, "cannot hash key");
		goto out;
	}
	ward_hex_encode(d, sizeof(d), out);
out:
	ward_buf_free(&c);
	return e;
}

ward_err ward_key_id(const struct ward_key *k, char out[WARD_KEYID_HEX_LEN + 1], struct ward_msg *m)
{
	json_t *obj = NULL;
	ward_err e = ward_key_to_tuf(k, &obj, m);

	if (!e)
		e = ward_key_id_of_tuf(obj, out, m);
	json_decref(obj);
	return e;
}
