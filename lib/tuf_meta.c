/*
 * lib/tuf_meta.c — one TUF metadata file: parse, verify a threshold, sign.
 *
 * Parsing is strict and total: every field the role needs is checked for
 * presence and type, and a document that does not fit is refused with a
 * message naming the field. Signatures are verified over the canonical JSON
 * of "signed", recomputed here from the parsed document (never the bytes as
 * received, which an attacker could have made non-canonical). A threshold
 * counts distinct key ids that the role lists, each at most once.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ward/json.h"
#include "ward/tuf.h"

static const char *const role_names[] = {"root", "timestamp", "snapshot", "targets"};

void ward_tuf_time_format(time_t t, char out[21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

ward_err ward_tuf_time_parse(const char *s, time_t *out)
{
	struct tm tm;
	int v[6];
	static const int pos[6] = {0, 5, 8, 11, 14, 17};
	static const int len[6] = {4, 2, 2, 2, 2, 2};

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return WARD_E_PARSE;
	for (int i = 0; i < 6; i++) {
		v[i] = 0;
		for (int j = 0; j < len[i]; j++) {
			char c = s[pos[i] + j];

			if (c < '0' || c > '9')
				return WARD_E_PARSE;
			v[i] = v[i] * 10 + (c - '0');
		}
	}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return WARD_E_PARSE;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	*out = timegm(&tm);
	return WARD_OK;
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_rolekeys(struct ward_tuf_rolekeys *rk)
{
	free_strv(rk->keyids, rk->nkeyids);
	rk->keyids = NULL;
	rk->nkeyids = 0;
}

static void free_keys(struct ward_tuf_keyent *keys, size_t n)
{
	if (!keys)
		return;
	for (size_t i = 0; i < n; i++)
		ward_crypto_key_free(keys[i].key);
	free(keys);
}

void ward_tuf_meta_free(struct ward_tuf_meta *meta)
{
	if (!meta)
		return;
	json_decref(meta->doc);
	ward_buf_free(&meta->raw);
	ward_buf_free(&meta->canon);
	free(meta->sigs);
	free_keys(meta->keys, meta->nkeys);
	for (int i = 0; i < 4; i++)
		free_rolekeys(&meta->roles[i]);
	for (size_t i = 0; i < meta->nfiles; i++)
		free(meta->files[i].name);
	free(meta->files);
	for (size_t i = 0; i < meta->ntargets; i++)
		free(meta->targets[i].path);
	free(meta->targets);
	for (size_t i = 0; i < meta->ndelegations; i++) {
		struct ward_tuf_delegation *d = &meta->delegations[i];

		free(d->name);
		free_rolekeys(&d->keys);
		free_strv(d->paths, d->npaths);
		free_strv(d->hash_prefixes, d->nhash_prefixes);
	}
	free(meta->delegations);
	free(meta);
}

/* Strings of a JSON array, each unique; `what` names the field in errors. */
static ward_err parse_strv(const json_t *arr, const char *what, bool unique, char ***out, size_t *n,
			   struct ward_msg *m)
{
	size_t cnt = json_array_size(arr), i;
	char **v;
	json_t *el;

	v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return WARD_E_NOMEM;
	json_array_foreach(arr, i, el) {
		if (!json_is_string(el)) {
			free_strv(v, i);
			return ward_msg_set(m, WARD_E_PARSE, "%s: entry %zu is not a string", what, i);
		}
		for (size_t j = 0; unique && j < i; j++)
			if (!strcmp(v[j], json_string_value(el))) {
				free_strv(v, i);
				return ward_msg_set(m, WARD_E_PARSE, "%s: duplicate entry \"%.80s\"", what,
						    json_string_value(el));
			}
		v[i] = strdup(json_string_value(el));
		if (!v[i]) {
			free_strv(v, i);
			return WARD_E_NOMEM;
		}
	}
	*out = v;
	*n = cnt;
	return WARD_OK;
}

static ward_err parse_rolekeys(const json_t *obj, const char *what, struct ward_tuf_rolekeys *rk,
			       struct ward_msg *m)
{
	json_t *keyids;
	uint64_t th;
	ward_err e;

	e = ward_json_get_array(obj, "keyids", what, &keyids, m);
	if (!e)
		e = ward_json_get_u64(obj, "threshold", what, &th, m);
	if (e)
		return e;
	if (th < 1)
		return ward_msg_set(m, WARD_E_PARSE, "%s: threshold must be at least 1", what);
	e = parse_strv(keyids, what, true, &rk->keyids, &rk->nkeyids, m);
	if (e)
		return e;
	rk->threshold = th;
	return WARD_OK;
}

static ward_err parse_keys(const json_t *obj, const char *what, struct ward_tuf_keyent **out,
			   size_t *n, struct ward_msg *m)
{
	size_t cnt = json_object_size(obj), i = 0;
	struct ward_tuf_keyent *keys;
	const char *id;
	json_t *k;
	ward_err e = WARD_OK;

	keys = calloc(cnt ? cnt : 1, sizeof(*keys));
	if (!keys)
		return WARD_E_NOMEM;
	json_object_foreach((json_t *)obj, id, k) {
		if (strlen(id) > WARD_KEYID_HEX_LEN || !*id) {
			e = ward_msg_set(m, WARD_E_PARSE, "%s: key id \"%.80s\" is not a key id", what, id);
			break;
		}
		memcpy(keys[i].keyid, id, strlen(id) + 1);
		e = ward_key_from_tuf(k, &keys[i].key, m);
		if (e == WARD_E_UNSUPPORTED) {
			/* A key ward cannot verify may be listed; its signatures never count. */
			keys[i].key = NULL;
			e = WARD_OK;
		} else if (e) {
			ward_msg_prefix(m, e, "%s: key %.16s: ", what, id);
			break;
		}
		i++;
	}
	if (e) {
		free_keys(keys, i);
		return e;
	}
	*out = keys;
	*n = cnt;
	return WARD_OK;
}

static ward_err parse_fileinfo(const json_t *obj, const char *what, bool need_length,
			       bool need_hashes, struct ward_tuf_fileinfo *fi, struct ward_msg *m)
{
	json_t *len = json_object_get(obj, "length");
	json_t *hashes = json_object_get(obj, "hashes");
	const char *alg;
	json_t *h;
	bool first = true;

	memset(fi, 0, sizeof(*fi));
	if (len || need_length) {
		if (!json_is_integer(len) || json_integer_value(len) < 0)
			return ward_msg_set(m, WARD_E_PARSE, "%s: \"length\" must be a non-negative integer",
					    what);
		fi->length = (uint64_t)json_integer_value(len);
		fi->has_length = true;
	}
	if (!hashes && !need_hashes)
		return WARD_OK;
	if (!json_is_object(hashes) || json_object_size(hashes) == 0)
		return ward_msg_set(m, WARD_E_PARSE, "%s: \"hashes\" must be a non-empty object", what);
	json_object_foreach(hashes, alg, h) {
		if (!json_is_string(h))
			return ward_msg_set(m, WARD_E_PARSE, "%s: hash \"%.20s\" is not a string", what, alg);
		if (!strcmp(alg, "sha256")) {
			if (ward_hex_decode(json_string_value(h), fi->sha256, WARD_SHA256_LEN))
				return ward_msg_set(m, WARD_E_PARSE, "%s: sha256 must be 64 hex characters",
						    what);
			fi->has_sha256 = true;
		} else if (!strcmp(alg, "sha512")) {
			if (ward_hex_decode(json_string_value(h), fi->sha512, WARD_SHA512_LEN))
				return ward_msg_set(m, WARD_E_PARSE, "%s: sha512 must be 128 hex characters",
						    what);
			fi->has_sha512 = true;
			if (first)
				fi->first_is_sha512 = true;
		}
		first = false;
	}
	if (!fi->has_sha256 && !fi->has_sha512)
		return ward_msg_set(m, WARD_E_UNSUPPORTED,
				    "%s: lists no sha256 or sha512 hash, the only ones ward checks", what);
	return WARD_OK;
}

static ward_err parse_meta_files(struct ward_tuf_meta *meta, const json_t *signed_, const char *what,
				 struct ward_msg *m)
{
	json_t *files, *f;
	const char *name;
	size_t i = 0;
	ward_err e;

	e = ward_json_get_object(signed_, "meta", what, &files, m);
	if (e)
		return e;
	meta->files = calloc(json_object_size(files) ? json_object_size(files) : 1, sizeof(*meta->files));
	if (!meta->files)
		return WARD_E_NOMEM;
	json_object_foreach(files, name, f) {
		struct ward_tuf_metafile *mf = &meta->files[i];
		char fwhat[160];

		snprintf(fwhat, sizeof(fwhat), "%s meta \"%.80s\"", what, name);
		if (!json_is_object(f))
			return ward_msg_set(m, WARD_E_PARSE, "%s: must be an object", fwhat);
		e = ward_json_get_u64(f, "version", fwhat, &mf->version, m);
		if (e)
			return e;
		if (mf->version < 1)
			return ward_msg_set(m, WARD_E_PARSE, "%s: version must be at least 1", fwhat);
		e = parse_fileinfo(f, fwhat, false, false, &mf->info, m);
		if (e)
			return e;
		mf->name = strdup(name);
		if (!mf->name)
			return WARD_E_NOMEM;
		meta->nfiles = ++i;
	}
	if (meta->role == WARD_TUF_TIMESTAMP &&
	    (meta->nfiles != 1 || strcmp(meta->files[0].name, "snapshot.json")))
		return ward_msg_set(m, WARD_E_PARSE, "%s: meta must list exactly \"snapshot.json\"", what);
	return WARD_OK;
}

static bool is_top_role(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, role_names[i]))
			return true;
	return false;
}

static ward_err parse_delegations(struct ward_tuf_meta *meta, const json_t *del, const char *what,
				  struct ward_msg *m)
{
	json_t *keys, *roles, *r;
	size_t i;
	ward_err e;

	if (!json_is_object(del))
		return ward_msg_set(m, WARD_E_PARSE, "%s: \"delegations\" must be an object", what);
	if (!json_object_get(del, "roles") && json_object_get(del, "succinct_roles"))
		return ward_msg_set(m, WARD_E_UNSUPPORTED, "%s: succinct_roles (TAP 15) is not supported",
				    what);
	e = ward_json_get_object(del, "keys", "delegations", &keys, m);
	if (!e)
		e = ward_json_get_array(del, "roles", "delegations", &roles, m);
	if (e)
		return e;
	e = parse_keys(keys, "delegations keys", &meta->keys, &meta->nkeys, m);
	if (e)
		return e;
	meta->delegations = calloc(json_array_size(roles) ? json_array_size(roles) : 1,
				   sizeof(*meta->delegations));
	if (!meta->delegations)
		return WARD_E_NOMEM;
	meta->has_delegations = true;
	json_array_foreach(roles, i, r) {
		struct ward_tuf_delegation *d = &meta->delegations[i];
		json_t *paths = json_object_get(r, "paths");
		json_t *prefixes = json_object_get(r, "path_hash_prefixes");
		const char *name;
		int term;
		char dwhat[160];

		e = ward_json_get_string(r, "name", "delegated role", &name, m);
		if (e)
			return e;
		snprintf(dwhat, sizeof(dwhat), "delegated role \"%.80s\"", name);
		if (is_top_role(name))
			return ward_msg_set(m, WARD_E_PARSE, "%s: a top-level role name cannot be delegated",
					    dwhat);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(meta->delegations[j].name, name))
				return ward_msg_set(m, WARD_E_PARSE, "%s: delegated twice", dwhat);
		d->name = strdup(name);
		if (!d->name)
			return WARD_E_NOMEM;
		meta->ndelegations = i + 1;
		e = parse_rolekeys(r, dwhat, &d->keys, m);
		if (!e)
			e = ward_json_get_bool(r, "terminating", dwhat, &term, m);
		if (e)
			return e;
		d->terminating = term;
		if ((paths != NULL) == (prefixes != NULL))
			return ward_msg_set(m, WARD_E_PARSE,
					    "%s: exactly one of \"paths\" and \"path_hash_prefixes\" is required",
					    dwhat);
		if (paths) {
			if (!json_is_array(paths))
				return ward_msg_set(m, WARD_E_PARSE, "%s: \"paths\" must be an array", dwhat);
			e = parse_strv(paths, dwhat, false, &d->paths, &d->npaths, m);
		} else {
			if (!json_is_array(prefixes))
				return ward_msg_set(m, WARD_E_PARSE,
						    "%s: \"path_hash_prefixes\" must be an array", dwhat);
			e = parse_strv(prefixes, dwhat, false, &d->hash_prefixes, &d->nhash_prefixes, m);
		}
		if (e)
			return e;
	}
	return WARD_OK;
}

static ward_err parse_targets(struct ward_tuf_meta *meta, const json_t *signed_, const char *what,
			      struct ward_msg *m)
{
	json_t *targets, *t, *del;
	const char *path;
	size_t i = 0;
	ward_err e;

	e = ward_json_get_object(signed_, "targets", what, &targets, m);
	if (e)
		return e;
	meta->targets = calloc(json_object_size(targets) ? json_object_size(targets) : 1,
			       sizeof(*meta->targets));
	if (!meta->targets)
		return WARD_E_NOMEM;
	json_object_foreach(targets, path, t) {
		struct ward_tuf_target *tg = &meta->targets[i];
		char twhat[200];
		json_t *custom;

		snprintf(twhat, sizeof(twhat), "target \"%.120s\"", path);
		if (!json_is_object(t))
			return ward_msg_set(m, WARD_E_PARSE, "%s: must be an object", twhat);
		e = parse_fileinfo(t, twhat, true, true, &tg->info, m);
		if (e)
			return e;
		custom = json_object_get(t, "custom");
		if (custom && !json_is_object(custom))
			return ward_msg_set(m, WARD_E_PARSE, "%s: \"custom\" must be an object", twhat);
		tg->custom = custom;
		tg->path = strdup(path);
		if (!tg->path)
			return WARD_E_NOMEM;
		meta->ntargets = ++i;
	}
	del = json_object_get(signed_, "delegations");
	if (del)
		return parse_delegations(meta, del, what, m);
	return WARD_OK;
}

static ward_err parse_root(struct ward_tuf_meta *meta, const json_t *signed_, struct ward_msg *m)
{
	json_t *keys, *roles, *r;
	int cs;
	ward_err e;

	e = ward_json_get_bool(signed_, "consistent_snapshot", "root", &cs, m);
	if (!e)
		e = ward_json_get_object(signed_, "keys", "root", &keys, m);
	if (!e)
		e = ward_json_get_object(signed_, "roles", "root", &roles, m);
	if (e)
		return e;
	meta->consistent_snapshot = cs;
	e = parse_keys(keys, "root keys", &meta->keys, &meta->nkeys, m);
	if (e)
		return e;
	for (int i = 0; i < 4; i++) {
		char what[40];

		snprintf(what, sizeof(what), "root role \"%s\"", role_names[i]);
		e = ward_json_get_object(roles, role_names[i], "root roles", &r, m);
		if (!e)
			e = parse_rolekeys(r, what, &meta->roles[i], m);
		if (e)
			return e;
	}
	return WARD_OK;
}

static ward_err parse_sigs(struct ward_tuf_meta *meta, const json_t *sigs, struct ward_msg *m)
{
	size_t i;
	json_t *s;
	const char *keyid, *sig;
	ward_err e;

	meta->sigs = calloc(json_array_size(sigs) ? json_array_size(sigs) : 1, sizeof(*meta->sigs));
	if (!meta->sigs)
		return WARD_E_NOMEM;
	json_array_foreach(sigs, i, s) {
		struct ward_tuf_sig *g = &meta->sigs[i];
		size_t hl;

		e = ward_json_get_string(s, "keyid", "signature", &keyid, m);
		if (!e)
			e = ward_json_get_string(s, "sig", "signature", &sig, m);
		if (e)
			return e;
		meta->nsigs = i + 1;
		hl = strlen(sig);
		if (strlen(keyid) > WARD_KEYID_HEX_LEN || hl == 0 || hl % 2 ||
		    hl / 2 > WARD_SIG_MAX_LEN || ward_hex_decode(sig, g->sig, hl / 2)) {
			g->bad_encoding = true;
			continue;
		}
		memcpy(g->keyid, keyid, strlen(keyid) + 1);
		g->siglen = hl / 2;
	}
	return WARD_OK;
}

ward_err ward_tuf_meta_parse(const uint8_t *data, size_t len, size_t max, enum ward_tuf_role role,
			     struct ward_tuf_meta **out, struct ward_msg *m)
{
	struct ward_tuf_meta *meta;
	json_t *signed_, *sigs;
	const char *type, *spec, *expires;
	const char *what = role_names[role];
	ward_err e;

	meta = calloc(1, sizeof(*meta));
	if (!meta)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	meta->role = role;
	ward_buf_init(&meta->raw, max);
	ward_buf_init(&meta->canon, max);
	e = ward_json_parse(data, len, max, &meta->doc, m);
	if (e)
		goto out;
	e = ward_buf_append(&meta->raw, data, len);
	if (e)
		goto out;
	e = ward_json_get_object(meta->doc, "signed", what, &signed_, m);
	if (!e)
		e = ward_json_get_array(meta->doc, "signatures", what, &sigs, m);
	if (!e)
		e = ward_json_get_string(signed_, "_type", what, &type, m);
	if (e)
		goto out;
	if (strcmp(type, what)) {
		e = ward_msg_set(m, WARD_E_PARSE, "expected %s metadata, got _type \"%.40s\"", what, type);
		goto out;
	}
	e = ward_json_get_string(signed_, "spec_version", what, &spec, m);
	if (!e)
		e = ward_json_get_u64(signed_, "version", what, &meta->version, m);
	if (!e)
		e = ward_json_get_string(signed_, "expires", what, &expires, m);
	if (e)
		goto out;
	if (strncmp(spec, "1.", 2) || !spec[2]) {
		e = ward_msg_set(m, WARD_E_UNSUPPORTED, "%s: spec_version \"%.20s\" is not 1.x", what, spec);
		goto out;
	}
	if (meta->version < 1) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: version must be at least 1", what);
		goto out;
	}
	if (ward_tuf_time_parse(expires, &meta->expires)) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: expires \"%.40s\" is not YYYY-MM-DDTHH:MM:SSZ", what,
				 expires);
		goto out;
	}
	e = parse_sigs(meta, sigs, m);
	if (e)
		goto out;
	switch (role) {
	case WARD_TUF_ROOT: e = parse_root(meta, signed_, m); break;
	case WARD_TUF_TIMESTAMP:
	case WARD_TUF_SNAPSHOT: e = parse_meta_files(meta, signed_, what, m); break;
	case WARD_TUF_TARGETS: e = parse_targets(meta, signed_, what, m); break;
	}
	if (e)
		goto out;
	e = ward_json_canonical(signed_, &meta->canon, m);
	if (e)
		goto out;
	*out = meta;
	meta = NULL;
out:
	if (e == WARD_E_NOMEM && m && !m->text[0])
		ward_msg_set(m, e, "%s: out of memory", what);
	else if (e == WARD_E_TOOBIG && m && !m->text[0])
		ward_msg_set(m, e, "%s: larger than %zu bytes", what, max);
	ward_tuf_meta_free(meta);
	return e;
}

const struct ward_tuf_keyent *ward_tuf_meta_key(const struct ward_tuf_keyent *keys, size_t nkeys,
						const char *keyid)
{
	for (size_t i = 0; i < nkeys; i++)
		if (!strcmp(keys[i].keyid, keyid))
			return &keys[i];
	return NULL;
}

const struct ward_tuf_metafile *ward_tuf_meta_file(const struct ward_tuf_meta *meta, const char *name)
{
	for (size_t i = 0; i < meta->nfiles; i++)
		if (!strcmp(meta->files[i].name, name))
			return &meta->files[i];
	return NULL;
}

ward_err ward_tuf_meta_verify(const struct ward_tuf_meta *meta, const struct ward_tuf_keyent *keys,
			      size_t nkeys, const struct ward_tuf_rolekeys *rk, const char *what,
			      struct ward_msg *m)
{
	ward_err result = WARD_E_THRESHOLD;
	uint64_t valid = 0;
	bool *counted;
	const struct ward_key **used; /* keys already counted: one key under two ids counts once */

	counted = calloc(rk->nkeyids ? rk->nkeyids : 1, sizeof(*counted));
	used = calloc(rk->nkeyids ? rk->nkeyids : 1, sizeof(*used));
	if (!counted || !used) {
		free(counted);
		free(used);
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < meta->nsigs; i++) {
		const struct ward_tuf_sig *s = &meta->sigs[i];
		const struct ward_tuf_keyent *k;
		size_t j;

		if (s->bad_encoding)
			continue;
		for (j = 0; j < rk->nkeyids; j++)
			if (!strcmp(rk->keyids[j], s->keyid))
				break;
		if (j == rk->nkeyids || counted[j])
			continue; /* not a key of this role, or already counted */
		k = ward_tuf_meta_key(keys, nkeys, s->keyid);
		if (!k || !k->key)
			continue;
		bool again = false;

		for (uint64_t u = 0; u < valid; u++)
			if (ward_crypto_key_equal(used[u], k->key))
				again = true;
		if (again)
			continue;
		if (ward_crypto_verify(k->key, meta->canon.p, meta->canon.len, s->sig, s->siglen) ==
		    WARD_OK) {
			counted[j] = true;
			used[valid++] = k->key;
		}
	}
	free(counted);
	free(used);
	if (valid < rk->threshold) {
		return ward_msg_set(m, WARD_E_THRESHOLD,
				    "%s: %llu valid signature%s of the %llu required", what,
				    (unsigned long long)valid, valid == 1 ? "" : "s",
				    (unsigned long long)rk->threshold);
	}
	result = WARD_OK;
	return result;
}

ward_err ward_tuf_meta_sign(json_t *signed_obj, struct ward_key *const *keys, size_t n, json_t **out,
			    struct ward_msg *m)
{
	struct ward_buf canon;
	json_t *sigs = NULL, *env = NULL;
	ward_err e;

	ward_buf_init(&canon, 64u * 1024 * 1024);
	e = ward_json_canonical(signed_obj, &canon, m);
	if (e)
		goto out;
	sigs = json_array();
	if (!sigs) {
		e = WARD_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t sig[WARD_SIG_MAX_LEN];
		char hex[2 * WARD_SIG_MAX_LEN + 1], id[WARD_KEYID_HEX_LEN + 1];
		size_t siglen = sizeof(sig);
		json_t *s;

		e = ward_key_id(keys[i], id, m);
		if (!e)
			e = ward_crypto_sign(keys[i], canon.p, canon.len, sig, &siglen, m);
		if (e)
			goto out;
		ward_hex_encode(sig, siglen, hex);
		s = json_pack("{s:s,s:s}", "keyid", id, "sig", hex);
		if (!s || json_array_append_new(sigs, s)) {
			e = WARD_E_NOMEM;
			goto out;
		}
	}
	env = json_pack("{s:O,s:o}", "signed", signed_obj, "signatures", sigs);
	sigs = NULL;
	if (!env) {
		e = WARD_E_NOMEM;
		goto out;
	}
	*out = env;
	e = WARD_OK;
out:
	if (e == WARD_E_NOMEM)
		ward_msg_set(m, e, "out of memory while signing");
	json_decref(sigs);
	ward_buf_free(&canon);
	return e;
}

bool ward_tuf_path_match(const char *pattern, const char *path)
{
	/* Same number of "/"-separated components, each matching with fnmatch. */
	while (1) {
		const char *ps = strchr(pattern, '/'), *ts = strchr(path, '/');
		size_t pl = ps ? (size_t)(ps - pattern) : strlen(pattern);
		size_t tl = ts ? (size_t)(ts - path) : strlen(path);
		char *pseg, *tseg;
		bool match;

		if ((ps == NULL) != (ts == NULL))
			return false;
		pseg = strndup(pattern, pl);
		tseg = strndup(path, tl);
		match = pseg && tseg && fnmatch(pseg, tseg, 0) == 0;
		free(pseg);
		free(tseg);
		if (!match)
			return false;
		if (!ps)
			return true;
		pattern = ps + 1;
		path = ts + 1;
	}
}

ward_err ward_tuf_url_encode(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';

		if (o + (keep ? 1 : 3) >= outlen)
			return WARD_E_TOOBIG;
		if (keep) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= outlen)
		return WARD_E_TOOBIG;
	out[o] = '\0';
	return WARD_OK;
}
