/*
 * lib/tuf.c — the TUF 1.0 client workflow (specification section 5).
 *
 * Trusted state lives in cfg->metadata_dir as root.json, timestamp.json,
 * snapshot.json, targets.json and <url-encoded role>.json. A file is written
 * only after it verified completely (signatures, version, hashes, length,
 * expiry), and always atomically. Local files are trusted only as far as they
 * verify against the current trusted root at load time; a local file that no
 * longer verifies (keys rotated) is ignored, and after a rotation of the
 * timestamp or snapshot keys those files are deleted (5.3.11, fast-forward
 * recovery). Every check that can refuse starts from failure; the update
 * succeeds only when each step has set its own success.
 *
 * Order of work in a refresh: root N+1... until "not found" (5.3), then
 * timestamp (5.4), snapshot (5.5), top-level targets (5.6). Delegated roles
 * are fetched lazily during target lookup (5.7), preorder depth-first.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/tuf.h"

struct deleg_entry {
	char *name;                /* role name */
	struct ward_tuf_meta *meta; /* verified metadata */
};

struct ward_tuf_client {
	char *dir;              /* trusted metadata directory */
	char *metadata_url;     /* without trailing '/' */
	char *target_base_url;  /* without trailing '/', may be NULL */
	struct ward_tuf_config cfg; /* limits (strings above are the owned copies) */
	struct ward_fetcher f;
	time_t now;             /* reference time of the current refresh */
	struct ward_tuf_meta *trusted[4]; /* indexed by enum ward_tuf_role (top-level targets) */
	struct deleg_entry *deleg;
	size_t ndeleg;
	bool refreshed;         /* the last refresh completed */
};

static const char *const role_file[] = {"root.json", "timestamp.json", "snapshot.json",
					"targets.json"};

/* ---- small helpers -------------------------------------------------- */

static char *dup_trim(const char *s)
{
	char *d;
	size_t n;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		return NULL;
	n = strlen(d);
	while (n > 0 && d[n - 1] == '/')
		d[--n] = '\0';
	return d;
}

static ward_err buf_sink(void *ctx, const void *data, size_t n)
{
	return ward_buf_append(ctx, data, n);
}

/* Fetch url into out (initialised here with limit max). */
static ward_err fetch_bytes(struct ward_tuf_client *c, const char *url, size_t max,
			    struct ward_buf *out, struct ward_msg *m)
{
	ward_err e;

	ward_buf_init(out, max);
	if (!c->f.fetch)
		return ward_msg_set(m, WARD_E_NET, "no fetcher configured");
	e = c->f.fetch(c->f.ctx, url, 0, max, buf_sink, out, m);
	if (e == WARD_E_TOOBIG)
		ward_msg_set(m, e, "%s: more than the %zu bytes allowed (endless data?)", url, max);
	if (e)
		ward_buf_free(out);
	return e;
}

static ward_err local_path(const struct ward_tuf_client *c, const char *file, char *out, size_t n,
			   struct ward_msg *m)
{
	if (ward_snprintf(out, n, "%s/%s", c->dir, file))
		return ward_msg_set(m, WARD_E_TOOBIG, "%s/%s: path too long", c->dir, file);
	return WARD_OK;
}

static ward_err persist(struct ward_tuf_client *c, const char *file, const struct ward_buf *raw,
			struct ward_msg *m)
{
	char path[PATH_MAX];
	ward_err e = local_path(c, file, path, sizeof(path), m);

	if (!e)
		e = ward_file_write_atomic(path, raw->p, raw->len, 0644, m);
	return e;
}

static ward_err file_url(const struct ward_tuf_client *c, uint64_t version, const char *file,
			 char *out, size_t n, struct ward_msg *m)
{
	ward_err e;

	if (version)
		e = ward_snprintf(out, n, "%s/%llu.%s", c->metadata_url, (unsigned long long)version,
				  file);
	else
		e = ward_snprintf(out, n, "%s/%s", c->metadata_url, file);
	if (e)
		return ward_msg_set(m, e, "metadata URL too long");
	return WARD_OK;
}

/* Load and parse a local metadata file; WARD_E_NOTFOUND when absent. */
static ward_err load_local(struct ward_tuf_client *c, const char *file, size_t max,
			   enum ward_tuf_role role, struct ward_tuf_meta **out, struct ward_msg *m)
{
	char path[PATH_MAX];
	struct ward_buf b;
	ward_err e;

	e = local_path(c, file, path, sizeof(path), m);
	if (e)
		return e;
	e = ward_file_read(path, max, &b, m);
	if (e)
		return e;
	e = ward_tuf_meta_parse(b.p, b.len, max, role, out, m);
	ward_buf_free(&b);
	return e;
}

static bool expired(const struct ward_tuf_client *c, const struct ward_tuf_meta *meta)
{
	return meta->expires <= c->now;
}

static ward_err expiry_error(struct ward_msg *m, const char *what, const struct ward_tuf_meta *meta)
{
	char t[21];

	ward_tuf_time_format(meta->expires, t);
	return ward_msg_set(m, WARD_E_EXPIRED,
			    "%s version %llu expired at %s; refusing stale metadata (freeze attack?)",
			    what, (unsigned long long)meta->version, t);
}

ward_err ward_tuf_fileinfo_check(const struct ward_tuf_fileinfo *fi, const uint8_t *data, size_t len,
				 const char *what, struct ward_msg *m)
{
	uint8_t d[WARD_HASH_MAX_LEN];
	ward_err result = WARD_E_VERIFY;

	if (fi->has_length && fi->length != len)
		return ward_msg_set(m, WARD_E_VERIFY, "%s: length %zu, but %llu was signed", what, len,
				    (unsigned long long)fi->length);
	if (fi->has_sha256) {
		if (ward_crypto_hash(WARD_HASH_SHA256, data, len, d))
			return ward_msg_set(m, WARD_E_CRYPTO, "%s: cannot hash", what);
		if (!ward_ct_eq(d, fi->sha256, WARD_SHA256_LEN))
			return ward_msg_set(m, WARD_E_VERIFY, "%s: sha256 does not match the signed hash",
					    what);
	}
	if (fi->has_sha512) {
		if (ward_crypto_hash(WARD_HASH_SHA512, data, len, d))
			return ward_msg_set(m, WARD_E_CRYPTO, "%s: cannot hash", what);
		if (!ward_ct_eq(d, fi->sha512, WARD_SHA512_LEN))
			return ward_msg_set(m, WARD_E_VERIFY, "%s: sha512 does not match the signed hash",
					    what);
	}
	result = WARD_OK;
	return result;
}

static bool same_rolekeys(const struct ward_tuf_rolekeys *a, const struct ward_tuf_rolekeys *b)
{
	if (a->threshold != b->threshold || a->nkeyids != b->nkeyids)
		return false;
	for (size_t i = 0; i < a->nkeyids; i++) {
		size_t j;

		for (j = 0; j < b->nkeyids; j++)
			if (!strcmp(a->keyids[i], b->keyids[j]))
				break;
		if (j == b->nkeyids)
			return false;
	}
	return true;
}

static ward_err verify_top(const struct ward_tuf_client *c, const struct ward_tuf_meta *meta,
			   enum ward_tuf_role role, struct ward_msg *m)
{
	const struct ward_tuf_meta *root = c->trusted[WARD_TUF_ROOT];

	return ward_tuf_meta_verify(meta, root->keys, root->nkeys, &root->roles[role],
				    role_file[role], m);
}

/* ---- open / init / free ---------------------------------------------- */

static ward_err verify_self_signed_root(const struct ward_tuf_meta *root, const char *what,
					struct ward_msg *m)
{
	return ward_tuf_meta_verify(root, root->keys, root->nkeys, &root->roles[WARD_TUF_ROOT], what, m);
}

ward_err ward_tuf_init(const char *metadata_dir, const char *root_path, struct ward_msg *m)
{
	struct ward_buf b;
	struct ward_tuf_meta *root = NULL;
	char path[PATH_MAX];
	ward_err e;

	ward_buf_init(&b, 0);
	e = ward_file_read(root_path, WARD_TUF_MAX_ROOT_SIZE, &b, m);
	if (e)
		goto out;
	e = ward_tuf_meta_parse(b.p, b.len, WARD_TUF_MAX_ROOT_SIZE, WARD_TUF_ROOT, &root, m);
	if (!e)
		e = verify_self_signed_root(root, root_path, m);
	if (e) {
		ward_msg_prefix(m, e, "%s: not a usable trusted root: ", root_path);
		goto out;
	}
	e = ward_mkdir_p(metadata_dir, 0755, m);
	if (e)
		goto out;
	if (ward_snprintf(path, sizeof(path), "%s/root.json", metadata_dir)) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", metadata_dir);
		goto out;
	}
	e = ward_file_create_excl(path, b.p, b.len, 0644, m);
	if (e == WARD_E_EXISTS)
		ward_msg_set(m, e, "%s: a trusted root is already there; refusing to replace it", path);
out:
	ward_tuf_meta_free(root);
	ward_buf_free(&b);
	return e;
}

void ward_tuf_free(struct ward_tuf_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < 4; i++)
		ward_tuf_meta_free(c->trusted[i]);
	for (size_t i = 0; i < c->ndeleg; i++) {
		free(c->deleg[i].name);
		ward_tuf_meta_free(c->deleg[i].meta);
	}
	free(c->deleg);
	free(c->dir);
	free(c->metadata_url);
	free(c->target_base_url);
	free(c);
}

ward_err ward_tuf_open(const struct ward_tuf_config *cfg, const struct ward_fetcher *f,
		       struct ward_tuf_client **out, struct ward_msg *m)
{
	struct ward_tuf_client *c;
	struct ward_tuf_meta *root = NULL;
	ward_err e;

	if (!cfg->metadata_dir)
		return ward_msg_set(m, WARD_E_INVAL, "no metadata directory given");
	c = calloc(1, sizeof(*c));
	if (!c)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	c->cfg = *cfg;
	c->dir = dup_trim(cfg->metadata_dir);
	c->metadata_url = dup_trim(cfg->metadata_url ? cfg->metadata_url : "");
	c->target_base_url = dup_trim(cfg->target_base_url);
	if (!c->dir || !c->metadata_url || (cfg->target_base_url && !c->target_base_url)) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if (!c->cfg.max_root_size)
		c->cfg.max_root_size = WARD_TUF_MAX_ROOT_SIZE;
	if (!c->cfg.max_timestamp_size)
		c->cfg.max_timestamp_size = WARD_TUF_MAX_TIMESTAMP_SIZE;
	if (!c->cfg.max_snapshot_size)
		c->cfg.max_snapshot_size = WARD_TUF_MAX_SNAPSHOT_SIZE;
	if (!c->cfg.max_targets_size)
		c->cfg.max_targets_size = WARD_TUF_MAX_TARGETS_SIZE;
	if (!c->cfg.max_root_rotations)
		c->cfg.max_root_rotations = WARD_TUF_MAX_ROOT_ROTATIONS;
	if (!c->cfg.max_delegations)
		c->cfg.max_delegations = WARD_TUF_MAX_DELEGATIONS;
	if (f)
		c->f = *f;
	e = load_local(c, "root.json", c->cfg.max_root_size, WARD_TUF_ROOT, &root, m);
	if (e == WARD_E_NOTFOUND) {
		e = ward_msg_set(m, e, "%s/root.json: no trusted root; run init first", c->dir);
		goto out;
	}
	if (!e)
		e = verify_self_signed_root(root, "trusted root.json", m);
	if (e) {
		ward_msg_prefix(m, e, "%s/root.json: ", c->dir);
		goto out;
	}
	c->trusted[WARD_TUF_ROOT] = root;
	root = NULL;
	*out = c;
	c = NULL;
out:
	ward_tuf_meta_free(root);
	ward_tuf_free(c);
	return e;
}

const struct ward_tuf_meta *ward_tuf_trusted(const struct ward_tuf_client *c, enum ward_tuf_role r)
{
	return c->trusted[r];
}

/* ---- 5.3 root --------------------------------------------------------- */

static ward_err update_root(struct ward_tuf_client *c, struct ward_msg *m)
{
	struct ward_tuf_meta *orig = c->trusted[WARD_TUF_ROOT];
	struct ward_tuf_rolekeys ts_keys = orig->roles[WARD_TUF_TIMESTAMP];
	struct ward_tuf_rolekeys sn_keys = orig->roles[WARD_TUF_SNAPSHOT];
	bool rotated = false;
	ward_err e = WARD_OK;

	/* orig stays alive until the end so ts_keys/sn_keys remain valid. */
	for (unsigned i = 0; i < c->cfg.max_root_rotations; i++) {
		struct ward_tuf_meta *cur = c->trusted[WARD_TUF_ROOT], *next = NULL;
		uint64_t want = cur->version + 1;
		char url[PATH_MAX], what[64];
		struct ward_buf b;

		e = file_url(c, want, "root.json", url, sizeof(url), m);
		if (e)
			goto out;
		e = fetch_bytes(c, url, c->cfg.max_root_size, &b, m);
		if (e == WARD_E_NOTFOUND) {
			e = WARD_OK;
			break;
		}
		if (e)
			goto out;
		snprintf(what, sizeof(what), "root version %llu", (unsigned long long)want);
		e = ward_tuf_meta_parse(b.p, b.len, c->cfg.max_root_size, WARD_TUF_ROOT, &next, m);
		if (e) {
			ward_msg_prefix(m, e, "%s: ", what);
			ward_buf_free(&b);
			goto out;
		}
		ward_buf_free(&b);
		/* 5.3.4: signed by a threshold of the trusted root's keys ... */
		e = ward_tuf_meta_verify(next, cur->keys, cur->nkeys, &cur->roles[WARD_TUF_ROOT], what, m);
		if (e) {
			ward_msg_prefix(m, e, "%s not signed by the trusted root's keys: ", what);
			ward_tuf_meta_free(next);
			goto out;
		}
		/* ... and by a threshold of its own keys. */
		e = ward_tuf_meta_verify(next, next->keys, next->nkeys, &next->roles[WARD_TUF_ROOT], what,
					 m);
		if (e) {
			ward_msg_prefix(m, e, "%s not signed by its own keys: ", what);
			ward_tuf_meta_free(next);
			goto out;
		}
		/* 5.3.5: exactly the next version (rollback, or a mislabelled file). */
		if (next->version != want) {
			e = ward_msg_set(m, WARD_E_ROLLBACK, "%s: file claims version %llu (rollback?)",
					 what, (unsigned long long)next->version);
			ward_tuf_meta_free(next);
			goto out;
		}
		e = persist(c, "root.json", &next->raw, m);
		if (e) {
			ward_tuf_meta_free(next);
			goto out;
		}
		if (cur != orig)
			ward_tuf_meta_free(cur);
		c->trusted[WARD_TUF_ROOT] = next;
	}
	/* 5.3.10: the final root must not have expired (freeze attack). */
	if (expired(c, c->trusted[WARD_TUF_ROOT])) {
		e = expiry_error(m, "root.json", c->trusted[WARD_TUF_ROOT]);
		goto out;
	}
	/* 5.3.11: rotated timestamp or snapshot keys invalidate the local copies. */
	if (c->trusted[WARD_TUF_ROOT] != orig &&
	    (!same_rolekeys(&ts_keys, &c->trusted[WARD_TUF_ROOT]->roles[WARD_TUF_TIMESTAMP]) ||
	     !same_rolekeys(&sn_keys, &c->trusted[WARD_TUF_ROOT]->roles[WARD_TUF_SNAPSHOT])))
		rotated = true;
	if (rotated) {
		for (int r = WARD_TUF_TIMESTAMP; r <= WARD_TUF_SNAPSHOT; r++) {
			char path[PATH_MAX];

			e = local_path(c, role_file[r], path, sizeof(path), m);
			if (e)
				goto out;
			if (unlink(path) != 0 && errno != ENOENT) {
				e = ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
				goto out;
			}
			ward_tuf_meta_free(c->trusted[r]);
			c->trusted[r] = NULL;
		}
		{
			char path[PATH_MAX];

			e = local_path(c, role_file[WARD_TUF_TIMESTAMP], path, sizeof(path), m);
			if (!e)
				e = ward_fsync_parent(path, m);
			if (e)
				goto out;
		}
	}
	e = WARD_OK;
out:
	if (c->trusted[WARD_TUF_ROOT] != orig)
		ward_tuf_meta_free(orig);
	return e;
}

/* ---- 5.4 timestamp ----------------------------------------------------- */

/* A local top-level file that still verifies against the trusted root, or NULL. */
static struct ward_tuf_meta *load_verified_local(struct ward_tuf_client *c, enum ward_tuf_role role,
						 size_t max)
{
	struct ward_tuf_meta *meta = NULL;
	struct ward_msg ignored;

	if (load_local(c, role_file[role], max, role, &meta, &ignored))
		return NULL;
	if (verify_top(c, meta, role, &ignored)) {
		ward_tuf_meta_free(meta);
		return NULL;
	}
	return meta;
}

static ward_err update_timestamp(struct ward_tuf_client *c, struct ward_msg *m)
{
	struct ward_tuf_meta *old, *next = NULL;
	struct ward_buf b;
	char url[PATH_MAX];
	ward_err e;

	ward_tuf_meta_free(c->trusted[WARD_TUF_TIMESTAMP]);
	c->trusted[WARD_TUF_TIMESTAMP] = load_verified_local(c, WARD_TUF_TIMESTAMP,
							     c->cfg.max_timestamp_size);
	old = c->trusted[WARD_TUF_TIMESTAMP];
	e = file_url(c, 0, "timestamp.json", url, sizeof(url), m);
	if (e)
		return e;
	e = fetch_bytes(c, url, c->cfg.max_timestamp_size, &b, m);
	if (e)
		return ward_msg_prefix(m, e, "timestamp.json: ");
	e = ward_tuf_meta_parse(b.p, b.len, c->cfg.max_timestamp_size, WARD_TUF_TIMESTAMP, &next, m);
	ward_buf_free(&b);
	if (e)
		return ward_msg_prefix(m, e, "timestamp.json: ");
	e = verify_top(c, next, WARD_TUF_TIMESTAMP, m);
	if (e)
		goto out;
	if (old) {
		const struct ward_tuf_metafile *os = &old->files[0], *ns = &next->files[0];

		if (next->version < old->version) {
			e = ward_msg_set(m, WARD_E_ROLLBACK,
					 "timestamp.json: version %llu is older than trusted version %llu (rollback attack?)",
					 (unsigned long long)next->version, (unsigned long long)old->version);
			goto out;
		}
		if (ns->version < os->version) {
			e = ward_msg_set(m, WARD_E_ROLLBACK,
					 "timestamp.json: names snapshot version %llu, older than trusted %llu (rollback attack?)",
					 (unsigned long long)ns->version, (unsigned long long)os->version);
			goto out;
		}
		if (next->version == old->version) {
			/* Nothing new: keep the trusted copy, which must still be fresh. */
			ward_tuf_meta_free(next);
			next = NULL;
			if (expired(c, old))
				return expiry_error(m, "timestamp.json", old);
			return WARD_OK;
		}
	}
	if (expired(c, next)) {
		e = expiry_error(m, "timestamp.json", next);
		goto out;
	}
	e = persist(c, "timestamp.json", &next->raw, m);
	if (e)
		goto out;
	ward_tuf_meta_free(old);
	c->trusted[WARD_TUF_TIMESTAMP] = next;
	next = NULL;
out:
	ward_tuf_meta_free(next);
	return e;
}

/* ---- 5.5 snapshot ------------------------------------------------------ */

static ward_err check_snapshot_rollback(const struct ward_tuf_meta *old,
					const struct ward_tuf_meta *next, struct ward_msg *m)
{
	for (size_t i = 0; old && i < old->nfiles; i++) {
		const struct ward_tuf_metafile *o = &old->files[i];
		const struct ward_tuf_metafile *n = ward_tuf_meta_file(next, o->name);

		if (!n)
			return ward_msg_set(m, WARD_E_ROLLBACK,
					    "snapshot.json: \"%.80s\" was listed by the trusted snapshot and is missing now (rollback attack?)",
					    o->name);
		if (n->version < o->version)
			return ward_msg_set(m, WARD_E_ROLLBACK,
					    "snapshot.json: \"%.80s\" version %llu is older than trusted %llu (rollback attack?)",
					    o->name, (unsigned long long)n->version,
					    (unsigned long long)o->version);
	}
	return WARD_OK;
}

static ward_err update_snapshot(struct ward_tuf_client *c, struct ward_msg *m)
{
	const struct ward_tuf_metafile *sm = &c->trusted[WARD_TUF_TIMESTAMP]->files[0];
	struct ward_tuf_meta *old, *next = NULL;
	size_t max = c->cfg.max_snapshot_size;
	struct ward_buf b;
	char url[PATH_MAX], what[64];
	ward_err e;

	ward_tuf_meta_free(c->trusted[WARD_TUF_SNAPSHOT]);
	c->trusted[WARD_TUF_SNAPSHOT] = NULL;
	old = load_verified_local(c, WARD_TUF_SNAPSHOT, max);
	if (old && old->version == sm->version && !expired(c, old) &&
	    ward_tuf_fileinfo_check(&sm->info, old->raw.p, old->raw.len, "snapshot.json", NULL) == WARD_OK) {
		c->trusted[WARD_TUF_SNAPSHOT] = old; /* already have exactly this one */
		return WARD_OK;
	}
	snprintf(what, sizeof(what), "snapshot version %llu", (unsigned long long)sm->version);
	if (sm->info.has_length)
		max = sm->info.length;
	e = file_url(c, c->trusted[WARD_TUF_ROOT]->consistent_snapshot ? sm->version : 0,
		     "snapshot.json", url, sizeof(url), m);
	if (e)
		goto out;
	e = fetch_bytes(c, url, max, &b, m);
	if (e) {
		ward_msg_prefix(m, e, "%s: ", what);
		goto out;
	}
	e = ward_tuf_fileinfo_check(&sm->info, b.p, b.len, "snapshot.json (as timestamp.json describes it)", m);
	if (!e) {
		e = ward_tuf_meta_parse(b.p, b.len, max, WARD_TUF_SNAPSHOT, &next, m);
		if (e)
			ward_msg_prefix(m, e, "snapshot.json: ");
	}
	ward_buf_free(&b);
	if (e)
		goto out;
	e = verify_top(c, next, WARD_TUF_SNAPSHOT, m);
	if (e)
		goto out;
	if (next->version != sm->version) {
		e = ward_msg_set(m, WARD_E_ROLLBACK,
				 "snapshot.json: version %llu, but timestamp.json names version %llu (mix-and-match?)",
				 (unsigned long long)next->version, (unsigned long long)sm->version);
		goto out;
	}
	e = check_snapshot_rollback(old, next, m);
	if (e)
		goto out;
	if (expired(c, next)) {
		e = expiry_error(m, "snapshot.json", next);
		goto out;
	}
	e = persist(c, "snapshot.json", &next->raw, m);
	if (e)
		goto out;
	c->trusted[WARD_TUF_SNAPSHOT] = next;
	next = NULL;
out:
	ward_tuf_meta_free(old);
	ward_tuf_meta_free(next);
	return e;
}

/* ---- 5.6 targets (top-level and delegated) ---------------------------- */

/*
 * Load the targets role `name` (file name from its URL-encoding), verified by
 * keys/rk of its delegator, at the version the trusted snapshot names. A local
 * copy is used when it verifies and matches; otherwise it is downloaded.
 */
static ward_err load_targets_role(struct ward_tuf_client *c, const char *name,
				  const struct ward_tuf_keyent *keys, size_t nkeys,
				  const struct ward_tuf_rolekeys *rk, struct ward_tuf_meta **out,
				  struct ward_msg *m)
{
	char enc[512], file[600], url[PATH_MAX], what[600], listed[600];
	const struct ward_tuf_metafile *mf;
	struct ward_tuf_meta *meta = NULL;
	struct ward_msg ignored;
	size_t max = c->cfg.max_targets_size;
	struct ward_buf b;
	ward_err e;

	/* The snapshot lists the raw role name; the URL and the local file use
	 * its URL-encoding (a role name may hold any character). */
	if (ward_tuf_url_encode(name, enc, sizeof(enc)) ||
	    ward_snprintf(file, sizeof(file), "%s.json", enc) ||
	    ward_snprintf(listed, sizeof(listed), "%s.json", name))
		return ward_msg_set(m, WARD_E_TOOBIG, "role name too long");
	snprintf(what, sizeof(what), "%s", listed);
	mf = ward_tuf_meta_file(c->trusted[WARD_TUF_SNAPSHOT], listed);
	if (!mf)
		return ward_msg_set(m, WARD_E_VERIFY, "%s: not listed in the trusted snapshot", what);
	if (!load_local(c, file, max, WARD_TUF_TARGETS, &meta, &ignored)) {
		if (!ward_tuf_meta_verify(meta, keys, nkeys, rk, what, &ignored) &&
		    meta->version == mf->version && !expired(c, meta) &&
		    !ward_tuf_fileinfo_check(&mf->info, meta->raw.p, meta->raw.len, what, NULL)) {
			*out = meta;
			return WARD_OK;
		}
		ward_tuf_meta_free(meta);
		meta = NULL;
	}
	if (mf->info.has_length)
		max = mf->info.length;
	e = file_url(c, c->trusted[WARD_TUF_ROOT]->consistent_snapshot ? mf->version : 0, file, url,
		     sizeof(url), m);
	if (e)
		return e;
	e = fetch_bytes(c, url, max, &b, m);
	if (e)
		return ward_msg_prefix(m, e, "%s: ", what);
	e = ward_tuf_fileinfo_check(&mf->info, b.p, b.len, what, m);
	if (!e) {
		e = ward_tuf_meta_parse(b.p, b.len, max, WARD_TUF_TARGETS, &meta, m);
		if (e)
			ward_msg_prefix(m, e, "%s: ", what);
	}
	ward_buf_free(&b);
	if (e)
		goto out;
	e = ward_tuf_meta_verify(meta, keys, nkeys, rk, what, m);
	if (e)
		goto out;
	if (meta->version != mf->version) {
		e = ward_msg_set(m, WARD_E_ROLLBACK,
				 "%s: version %llu, but snapshot.json names version %llu (mix-and-match?)",
				 what, (unsigned long long)meta->version, (unsigned long long)mf->version);
		goto out;
	}
	if (expired(c, meta)) {
		e = expiry_error(m, what, meta);
		goto out;
	}
	e = persist(c, file, &meta->raw, m);
	if (e)
		goto out;
	*out = meta;
	meta = NULL;
out:
	ward_tuf_meta_free(meta);
	return e;
}

ward_err ward_tuf_refresh(struct ward_tuf_client *c, struct ward_msg *m)
{
	const struct ward_tuf_meta *root;
	struct ward_tuf_meta *targets = NULL;
	ward_err e;

	c->refreshed = false;
	c->now = c->cfg.now ? c->cfg.now : time(NULL);
	for (size_t i = 0; i < c->ndeleg; i++) {
		free(c->deleg[i].name);
		ward_tuf_meta_free(c->deleg[i].meta);
	}
	c->ndeleg = 0;
	e = update_root(c, m);
	if (!e)
		e = update_timestamp(c, m);
	if (!e)
		e = update_snapshot(c, m);
	if (e)
		return e;
	root = c->trusted[WARD_TUF_ROOT];
	ward_tuf_meta_free(c->trusted[WARD_TUF_TARGETS]);
	c->trusted[WARD_TUF_TARGETS] = NULL;
	e = load_targets_role(c, "targets", root->keys, root->nkeys, &root->roles[WARD_TUF_TARGETS],
			      &targets, m);
	if (e)
		return e;
	c->trusted[WARD_TUF_TARGETS] = targets;
	c->refreshed = true;
	return WARD_OK;
}

/* ---- 5.7 target lookup ------------------------------------------------- */

static bool delegation_covers(const struct ward_tuf_delegation *d, const char *path)
{
	if (d->paths) {
		for (size_t i = 0; i < d->npaths; i++)
			if (ward_tuf_path_match(d->paths[i], path))
				return true;
		return false;
	}
	if (d->hash_prefixes) {
		uint8_t h[WARD_SHA256_LEN];
		char hex[2 * WARD_SHA256_LEN + 1];

		if (ward_crypto_hash(WARD_HASH_SHA256, path, strlen(path), h))
			return false;
		ward_hex_encode(h, sizeof(h), hex);
		for (size_t i = 0; i < d->nhash_prefixes; i++)
			if (!strncmp(hex, d->hash_prefixes[i], strlen(d->hash_prefixes[i])))
				return true;
	}
	return false;
}

struct visit {
	const char *name;                  /* borrowed from the delegating metadata */
	const struct ward_tuf_meta *parent; /* NULL for top-level targets */
	const struct ward_tuf_delegation *d;
};

static ward_err get_role(struct ward_tuf_client *c, const struct visit *v,
			 const struct ward_tuf_meta **out, struct ward_msg *m)
{
	struct deleg_entry *grown;
	struct ward_tuf_meta *meta = NULL;
	ward_err e;

	if (!v->parent) {
		*out = c->trusted[WARD_TUF_TARGETS];
		return WARD_OK;
	}
	for (size_t i = 0; i < c->ndeleg; i++)
		if (!strcmp(c->deleg[i].name, v->name)) {
			*out = c->deleg[i].meta;
			return WARD_OK;
		}
	e = load_targets_role(c, v->name, v->parent->keys, v->parent->nkeys, &v->d->keys, &meta, m);
	if (e)
		return e;
	grown = realloc(c->deleg, (c->ndeleg + 1) * sizeof(*grown));
	if (!grown) {
		ward_tuf_meta_free(meta);
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	c->deleg = grown;
	c->deleg[c->ndeleg].name = strdup(v->name);
	if (!c->deleg[c->ndeleg].name) {
		ward_tuf_meta_free(meta);
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	c->deleg[c->ndeleg++].meta = meta;
	*out = meta;
	return WARD_OK;
}

ward_err ward_tuf_find_target(struct ward_tuf_client *c, const char *path,
			      const struct ward_tuf_target **out, struct ward_msg *m)
{
	size_t cap = c->cfg.max_delegations + 1, n = 0, visited = 0;
	const char **seen = NULL;
	struct visit *stack = NULL;
	ward_err e = WARD_E_NOTFOUND;

	if (!c->refreshed)
		return ward_msg_set(m, WARD_E_INVAL, "metadata not refreshed; refresh before looking up targets");
	stack = calloc(cap * 4, sizeof(*stack));
	seen = calloc(cap, sizeof(*seen));
	if (!stack || !seen) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	stack[n++] = (struct visit){"targets", NULL, NULL};
	while (n > 0 && visited < c->cfg.max_delegations) {
		struct visit v = stack[--n];
		const struct ward_tuf_meta *meta = NULL;
		size_t first_child = n, i;
		bool dup = false;

		for (i = 0; i < visited; i++)
			if (!strcmp(seen[i], v.name))
				dup = true;
		if (dup)
			continue;
		seen[visited++] = v.name;
		e = get_role(c, &v, &meta, m);
		if (e)
			goto out;
		if (!meta) {
			e = ward_msg_set(m, WARD_E_INVAL, "targets metadata not loaded");
			goto out;
		}
		for (i = 0; i < meta->ntargets; i++)
			if (!strcmp(meta->targets[i].path, path)) {
				*out = &meta->targets[i];
				e = WARD_OK;
				goto out;
			}
		for (i = 0; i < meta->ndelegations; i++) {
			const struct ward_tuf_delegation *d = &meta->delegations[i];

			if (!delegation_covers(d, path))
				continue;
			if (d->terminating) {
				/* Nothing outside this role's own matching children may be
				 * searched after it: drop the rest of the stack. */
				memmove(stack, stack + first_child, (n - first_child) * sizeof(*stack));
				n -= first_child;
				first_child = 0;
			}
			if (n >= cap * 4)
				break;
			stack[n++] = (struct visit){d->name, meta, d};
			if (d->terminating)
				break;
		}
		/* reverse the children so the first listed is visited first */
		for (size_t a = first_child, b = n ? n - 1 : 0; a < b; a++, b--) {
			struct visit t = stack[a];

			stack[a] = stack[b];
			stack[b] = t;
		}
	}
	e = ward_msg_set(m, WARD_E_NOTFOUND, "target \"%.200s\" is not listed by any trusted targets role%s",
			 path, n > 0 ? " within the delegation limit" : "");
out:
	free(stack);
	free(seen);
	return e;
}

/* ---- target download ----------------------------------------------------- */

struct target_sink {
	struct ward_hash *h256, *h512; /* running hashes of what arrived */
	uint64_t got;                  /* bytes so far */
	uint64_t limit;                /* signed length */
	ward_sink_fn sink;             /* the caller's sink */
	void *ctx;
};

/* Count and hash n more bytes of the target, refusing any past its signed length. */
static ward_err target_hash(struct target_sink *t, const void *data, size_t n)
{
	if (n > t->limit - t->got)
		return WARD_E_TOOBIG;
	t->got += n;
	if (t->h256 && ward_crypto_hash_update(t->h256, data, n))
		return WARD_E_CRYPTO;
	if (t->h512 && ward_crypto_hash_update(t->h512, data, n))
		return WARD_E_CRYPTO;
	return WARD_OK;
}

static ward_err target_sink_fn(void *ctx, const void *data, size_t n)
{
	struct target_sink *t = ctx;
	ward_err e = target_hash(t, data, n);

	return e ? e : t->sink(t->ctx, data, n);
}

/* URL of a target: base/dir/<hash>.<name> with consistent snapshots, else base/path. */
static ward_err target_url(const struct ward_tuf_client *c, const struct ward_tuf_target *t,
			   char *url, size_t n, struct ward_msg *m)
{
	char enc[PATH_MAX], hex[2 * WARD_SHA512_LEN + 1];
	const char *p = t->path, *slash = strrchr(t->path, '/');
	size_t o = 0;

	if (!c->target_base_url)
		return ward_msg_set(m, WARD_E_INVAL, "no target base URL given");
	/* encode each segment, keeping the '/' separators */
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char seg[PATH_MAX];

		if (len >= sizeof(seg) || o >= sizeof(enc))
			return ward_msg_set(m, WARD_E_TOOBIG, "target path too long");
		memcpy(seg, p, len);
		seg[len] = '\0';
		if (c->trusted[WARD_TUF_ROOT]->consistent_snapshot && p == (slash ? slash + 1 : t->path)) {
			bool use512 = t->info.has_sha512 && (t->info.first_is_sha512 || !t->info.has_sha256);

			ward_hex_encode(use512 ? t->info.sha512 : t->info.sha256,
					use512 ? WARD_SHA512_LEN : WARD_SHA256_LEN, hex);
			if (ward_snprintf(enc + o, sizeof(enc) - o, "%s.", hex))
				return ward_msg_set(m, WARD_E_TOOBIG, "target path too long");
			o += strlen(enc + o);
		}
		if (ward_tuf_url_encode(seg, enc + o, sizeof(enc) - o))
			return ward_msg_set(m, WARD_E_TOOBIG, "target path too long");
		o += strlen(enc + o);
		if (!end)
			break;
		if (o + 1 >= sizeof(enc))
			return ward_msg_set(m, WARD_E_TOOBIG, "target path too long");
		enc[o++] = '/';
		enc[o] = '\0';
		p = end + 1;
	}
	if (ward_snprintf(url, n, "%s/%s", c->target_base_url, enc))
		return ward_msg_set(m, WARD_E_TOOBIG, "target URL too long");
	return WARD_OK;
}

static ward_err finish_hashes(struct target_sink *ts, const struct ward_tuf_target *t,
			      struct ward_msg *m)
{
	uint8_t d[WARD_HASH_MAX_LEN];
	ward_err result = WARD_E_VERIFY;

	if (ts->got != t->info.length)
		return ward_msg_set(m, WARD_E_VERIFY, "target \"%.200s\": got %llu bytes, %llu were signed",
				    t->path, (unsigned long long)ts->got,
				    (unsigned long long)t->info.length);
	if (ts->h256) {
		if (ward_crypto_hash_final(ts->h256, d))
			return ward_msg_set(m, WARD_E_CRYPTO, "cannot hash");
		if (!ward_ct_eq(d, t->info.sha256, WARD_SHA256_LEN))
			return ward_msg_set(m, WARD_E_VERIFY,
					    "target \"%.200s\": sha256 does not match the signed hash", t->path);
	}
	if (ts->h512) {
		if (ward_crypto_hash_final(ts->h512, d))
			return ward_msg_set(m, WARD_E_CRYPTO, "cannot hash");
		if (!ward_ct_eq(d, t->info.sha512, WARD_SHA512_LEN))
			return ward_msg_set(m, WARD_E_VERIFY,
					    "target \"%.200s\": sha512 does not match the signed hash", t->path);
	}
	result = WARD_OK;
	return result;
}

static ward_err target_sink_start(struct target_sink *ts, const struct ward_tuf_target *t,
				  ward_sink_fn sink, void *ctx, struct ward_msg *m)
{
	memset(ts, 0, sizeof(*ts));
	ts->limit = t->info.length;
	ts->sink = sink;
	ts->ctx = ctx;
	if ((t->info.has_sha256 && ward_crypto_hash_new(WARD_HASH_SHA256, &ts->h256)) ||
	    (t->info.has_sha512 && ward_crypto_hash_new(WARD_HASH_SHA512, &ts->h512)))
		return ward_msg_set(m, WARD_E_CRYPTO, "cannot start hashing");
	return WARD_OK;
}

static void target_sink_end(struct target_sink *ts)
{
	ward_crypto_hash_free(ts->h256);
	ward_crypto_hash_free(ts->h512);
}

ward_err ward_tuf_fetch_target(struct ward_tuf_client *c, const struct ward_tuf_target *t,
			       ward_sink_fn sink, void *sink_ctx, struct ward_msg *m)
{
	struct ward_tuf_resume r = {0};

	return ward_tuf_fetch_target_resume(c, t, &r, sink, sink_ctx, m);
}

/* Hash the first `have` bytes of the target, read back through r->read. */
static ward_err hash_prefix(struct target_sink *ts, const struct ward_tuf_target *t,
			    const struct ward_tuf_resume *r, uint64_t have, struct ward_msg *m)
{
	size_t cap = 64 * 1024;
	uint8_t *buf = malloc(cap);
	uint64_t off = 0;
	ward_err e = WARD_OK;

	if (!buf)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	while (off < have) {
		size_t n = have - off < cap ? (size_t)(have - off) : cap;

		e = r->read(r->ctx, off, buf, n);
		if (e) {
			e = ward_msg_set(m, e, "target \"%.200s\": cannot read back the %llu bytes already held (at byte %llu)",
					 t->path, (unsigned long long)have, (unsigned long long)off);
			break;
		}
		e = target_hash(ts, buf, n);
		if (e) {
			e = ward_msg_set(m, e, "cannot hash");
			break;
		}
		off += n;
	}
	free(buf);
	return e;
}

ward_err ward_tuf_fetch_target_resume(struct ward_tuf_client *c, const struct ward_tuf_target *t,
				      struct ward_tuf_resume *r, ward_sink_fn sink, void *sink_ctx,
				      struct ward_msg *m)
{
	struct target_sink ts;
	char url[PATH_MAX];
	uint64_t from = r->have;
	ward_err e;

	r->from = from;
	r->fetched = 0;
	e = target_sink_start(&ts, t, sink, sink_ctx, m);
	if (!e)
		e = target_url(c, t, url, sizeof(url), m);
	if (e)
		goto out;
	if (!c->f.fetch) {
		e = ward_msg_set(m, WARD_E_NET, "no fetcher configured");
		goto out;
	}
	if (from > t->info.length || (from > 0 && !r->read)) {
		e = ward_msg_set(m, WARD_E_INVAL,
				 "target \"%.200s\": cannot resume at byte %llu of %llu (no way to read back the prefix)",
				 t->path, (unsigned long long)from, (unsigned long long)t->info.length);
		goto out;
	}
	/* the prefix the caller holds counts only once it is hashed again */
	if (from > 0) {
		e = hash_prefix(&ts, t, r, from, m);
		if (e)
			goto out;
	}
	if (from < t->info.length) {
		e = c->f.fetch(c->f.ctx, url, from, t->info.length - from, target_sink_fn, &ts, m);
		if (e == WARD_E_UNSUPPORTED && from > 0 && r->rewind) {
			/* The server ignored the range (or resumed elsewhere): start over from
			 * byte 0, as bounded as ever. The sink is told first. */
			target_sink_end(&ts);
			e = target_sink_start(&ts, t, sink, sink_ctx, m);
			if (!e)
				e = r->rewind(r->ctx);
			if (e) {
				ward_msg_prefix(m, e, "target \"%.200s\": cannot start over: ", t->path);
				goto out;
			}
			from = 0;
			r->from = 0;
			r->restarted = true;
			e = c->f.fetch(c->f.ctx, url, 0, t->info.length, target_sink_fn, &ts, m);
		}
		r->fetched = ts.got - from;
	}
	if (e == WARD_E_TOOBIG) {
		e = ward_msg_set(m, e, "target \"%.200s\": server sent more than the %llu signed bytes (endless data?)",
				 t->path, (unsigned long long)t->info.length);
		goto out;
	}
	if (e) {
		ward_msg_prefix(m, e, "target \"%.200s\": ", t->path);
		goto out;
	}
	e = finish_hashes(&ts, t, m);
out:
	target_sink_end(&ts);
	return e;
}

static ward_err fd_sink(void *ctx, const void *data, size_t n)
{
	int fd = *(int *)ctx;
	const uint8_t *p = data;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return WARD_E_IO;
		p += w;
		n -= (size_t)w;
	}
	return WARD_OK;
}

static ward_err null_sink(void *ctx, const void *data, size_t n)
{
	(void)ctx;
	(void)data;
	(void)n;
	return WARD_OK;
}

/* Is the file at path already exactly this target? Never reads past the signed length + 1. */
static bool cached_matches(const char *path, const struct ward_tuf_target *t)
{
	struct target_sink ts;
	struct ward_msg ignored;
	uint8_t chunk[65536];
	bool ok = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	if (target_sink_start(&ts, t, null_sink, NULL, &ignored))
		goto out;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ok = r == 0 && finish_hashes(&ts, t, &ignored) == WARD_OK;
			break;
		}
		if (target_sink_fn(&ts, chunk, (size_t)r))
			break;
	}
out:
	target_sink_end(&ts);
	close(fd);
	return ok;
}

ward_err ward_tuf_download_target(struct ward_tuf_client *c, const struct ward_tuf_target *t,
				  const char *dir, char **out_path, struct ward_msg *m)
{
	char enc[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
	int fd = -1;
	ward_err e;

	if (ward_tuf_url_encode(t->path, enc, sizeof(enc)) ||
	    ward_snprintf(path, sizeof(path), "%s/%s", dir, enc) ||
	    ward_snprintf(tmp, sizeof(tmp), "%s/.%s.part.XXXXXX", dir, enc))
		return ward_msg_set(m, WARD_E_TOOBIG, "target path too long");
	e = ward_mkdir_p(dir, 0755, m);
	if (e)
		return e;
	if (!cached_matches(path, t)) {
		fd = mkstemp(tmp);
		if (fd < 0)
			return ward_msg_set(m, WARD_E_IO, "%s: %s", tmp, strerror(errno));
		e = ward_tuf_fetch_target(c, t, fd_sink, &fd, m);
		if (e == WARD_E_IO)
			ward_msg_set(m, e, "%s: write failed: %s", tmp, strerror(errno));
		if (!e && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
			e = ward_msg_set(m, WARD_E_IO, "%s: %s", tmp, strerror(errno));
		if (close(fd) != 0 && !e)
			e = ward_msg_set(m, WARD_E_IO, "%s: close: %s", tmp, strerror(errno));
		fd = -1;
		if (!e && rename(tmp, path) != 0)
			e = ward_msg_set(m, WARD_E_IO, "%s: rename: %s", path, strerror(errno));
		if (e) {
			unlink(tmp);
			return e;
		}
		e = ward_fsync_parent(path, m);
		if (e)
			return e;
	}
	if (out_path) {
		*out_path = strdup(path);
		if (!*out_path)
			return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	return WARD_OK;
}
