/*
 * ward/tuf.h — TUF 1.0 metadata and the client workflow.
 *
 * Two layers:
 *  - ward_tuf_meta_*: parse one metadata file (the envelope and the fields of
 *    its role) into a struct, check its signatures against a set of keys and
 *    a threshold, and sign new metadata (for `ward repo`).
 *  - ward_tuf_*: the client. It keeps a trusted set in a metadata directory
 *    (root.json, timestamp.json, snapshot.json, targets.json and one file per
 *    delegated role, named by the URL-encoded role name, as the TUF
 *    conformance suite's CLIENT-CLI.md says), refreshes it through a
 *    caller-supplied fetcher following the specification's detailed client
 *    workflow, resolves targets through delegations and downloads them no
 *    longer than their signed length, checking every listed hash before the
 *    file is kept.
 *
 * libward does no networking itself: struct ward_fetcher is the port. The
 * programs pass the HTTP fetcher from lib/net/ (ward/net.h); tests and
 * offline bundles pass others.
 *
 * Every trusted file is replaced atomically (ward_file_write_atomic), so a
 * crash leaves each file either old or new. Any mix of old and new files is a
 * state the workflow accepts on the next run: it re-verifies everything it
 * loads against the trusted root and discards what no longer verifies.
 */
#ifndef WARD_TUF_H
#define WARD_TUF_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ward/crypto.h"
#include "ward/err.h"
#include "ward/key.h"

/* ---- metadata -------------------------------------------------------- */

enum ward_tuf_role {
	WARD_TUF_ROOT,
	WARD_TUF_TIMESTAMP,
	WARD_TUF_SNAPSHOT,
	WARD_TUF_TARGETS, /* top-level or delegated targets */
};

/* Default size limits for metadata downloads without a signed length. */
#define WARD_TUF_MAX_ROOT_SIZE (512u * 1024)
#define WARD_TUF_MAX_TIMESTAMP_SIZE (16u * 1024)
#define WARD_TUF_MAX_SNAPSHOT_SIZE (2u * 1024 * 1024)
#define WARD_TUF_MAX_TARGETS_SIZE (8u * 1024 * 1024)
#define WARD_TUF_MAX_ROOT_ROTATIONS 256
#define WARD_TUF_MAX_DELEGATIONS 32
#define WARD_TUF_SPEC_VERSION "1.0.31"

struct ward_tuf_keyent {
	char keyid[WARD_KEYID_HEX_LEN + 1]; /* as written in the metadata */
	struct ward_key *key;               /* NULL for key types ward cannot verify */
};

/* A role's signing rule: which keys, and how many must sign. */
struct ward_tuf_rolekeys {
	char **keyids;      /* unique key ids */
	size_t nkeyids;
	uint64_t threshold; /* >= 1 */
};

/* Hashes and length of a file as some metadata describes it. */
struct ward_tuf_fileinfo {
	uint64_t length;                      /* valid when has_length */
	bool has_length;
	bool has_sha256, has_sha512;
	uint8_t sha256[WARD_SHA256_LEN];
	uint8_t sha512[WARD_SHA512_LEN];
	bool first_is_sha512;                 /* document order: which hash names the consistent file */
};

/* An entry of timestamp's or snapshot's "meta". */
struct ward_tuf_metafile {
	char *name;       /* "snapshot.json", "targets.json", "role.json" */
	uint64_t version;
	struct ward_tuf_fileinfo info;
};

/* A target file as targets metadata describes it. */
struct ward_tuf_target {
	char *path;                   /* the target path */
	struct ward_tuf_fileinfo info; /* length is always present */
	json_t *custom;               /* borrowed from the metadata document, or NULL */
};

/* A delegated role in a targets role's "delegations". */
struct ward_tuf_delegation {
	char *name;
	struct ward_tuf_rolekeys keys;
	bool terminating;
	char **paths;            /* shell-style patterns, or NULL */
	size_t npaths;
	char **hash_prefixes;    /* hex prefixes of SHA-256(target path), or NULL */
	size_t nhash_prefixes;
};

struct ward_tuf_sig {
	char keyid[WARD_KEYID_HEX_LEN + 1];
	uint8_t sig[WARD_SIG_MAX_LEN];
	size_t siglen;
	bool bad_encoding; /* not hex of a plausible length: counts as no signature */
};

struct ward_tuf_meta {
	enum ward_tuf_role role;
	json_t *doc;              /* the whole parsed document (owned) */
	struct ward_buf raw;      /* the bytes as received, for persisting */
	struct ward_buf canon;    /* canonical JSON of "signed": what was signed */
	uint64_t version;
	time_t expires;
	struct ward_tuf_sig *sigs;
	size_t nsigs;
	/* root */
	bool consistent_snapshot;
	struct ward_tuf_keyent *keys; /* root keys, or the delegations' keys of targets */
	size_t nkeys;
	struct ward_tuf_rolekeys roles[4]; /* indexed by enum ward_tuf_role (root only) */
	/* timestamp, snapshot */
	struct ward_tuf_metafile *files;
	size_t nfiles;
	/* targets */
	struct ward_tuf_target *targets;
	size_t ntargets;
	struct ward_tuf_delegation *delegations;
	size_t ndelegations;
	bool has_delegations;
};

/*
 * Parse len bytes as metadata of the expected role (len <= max). Checks the
 * envelope, "_type", spec version major 1, expiry syntax and every field the
 * role needs; does not check signatures or expiry. Caller frees with
 * ward_tuf_meta_free().
 */
ward_err ward_tuf_meta_parse(const uint8_t *data, size_t len, size_t max, enum ward_tuf_role role,
			     struct ward_tuf_meta **out, struct ward_msg *m) WARD_MUST_USE;
void ward_tuf_meta_free(struct ward_tuf_meta *meta); /* accepts NULL */

/*
 * WARD_OK when at least rk->threshold distinct keys listed in rk, found in
 * keys[], produced valid signatures over meta's signed part; otherwise
 * WARD_E_THRESHOLD with how many were valid. `what` names the metadata in
 * the message.
 */
ward_err ward_tuf_meta_verify(const struct ward_tuf_meta *meta, const struct ward_tuf_keyent *keys,
			      size_t nkeys, const struct ward_tuf_rolekeys *rk, const char *what,
			      struct ward_msg *m) WARD_MUST_USE;

/* Look up a key entry by id; NULL when absent. */
const struct ward_tuf_keyent *ward_tuf_meta_key(const struct ward_tuf_keyent *keys, size_t nkeys,
						const char *keyid);
/* "meta" entry by file name; NULL when absent. */
const struct ward_tuf_metafile *ward_tuf_meta_file(const struct ward_tuf_meta *meta, const char *name);

/* Parse "YYYY-MM-DDTHH:MM:SSZ" (UTC) into *out. */
ward_err ward_tuf_time_parse(const char *s, time_t *out) WARD_MUST_USE;
/* Format t as "YYYY-MM-DDTHH:MM:SSZ" into out[21]. */
void ward_tuf_time_format(time_t t, char out[21]);

/*
 * Sign a "signed" object with n private keys into the envelope
 * {"signatures": [{"keyid", "sig"}], "signed": signed_obj}. The envelope
 * takes its own reference to signed_obj. Caller frees *out with json_decref.
 */
ward_err ward_tuf_meta_sign(json_t *signed_obj, struct ward_key *const *keys, size_t n,
			    json_t **out, struct ward_msg *m) WARD_MUST_USE;

/* Does target path match a delegation's shell-style pattern ("*" does not cross "/")? */
bool ward_tuf_path_match(const char *pattern, const char *path);

/* URL path-component encoding of a role or target name (RFC 3986 unreserved kept). */
ward_err ward_tuf_url_encode(const char *in, char *out, size_t outlen) WARD_MUST_USE;

/* ---- fetching --------------------------------------------------------- */

/* Receives downloaded bytes in order; a non-zero return aborts the transfer. */
typedef ward_err (*ward_sink_fn)(void *ctx, const void *data, size_t n);

struct ward_fetcher {
	/*
	 * Fetch url and hand its body to sink. More than max bytes fails with
	 * WARD_E_TOOBIG as soon as the limit is passed (never buffering more);
	 * "not found" (HTTP 403/404, missing file) is WARD_E_NOTFOUND; anything
	 * else WARD_E_NET. `offset` > 0 asks for the body from that byte on
	 * (HTTP Range); a fetcher that cannot resume fails with WARD_E_UNSUPPORTED.
	 */
	ward_err (*fetch)(void *ctx, const char *url, uint64_t offset, uint64_t max,
			  ward_sink_fn sink, void *sink_ctx, struct ward_msg *m);
	void *ctx;
};

/* ---- the client -------------------------------------------------------- */

struct ward_tuf_config {
	const char *metadata_dir;    /* trusted metadata (required) */
	const char *metadata_url;    /* base URL of metadata/ (no trailing slash needed) */
	const char *target_base_url; /* base URL of targets/ */
	time_t now;                  /* reference time for expiry; 0 = time(NULL) at refresh start */
	size_t max_root_size, max_timestamp_size, max_snapshot_size, max_targets_size; /* 0 = defaults */
	unsigned max_root_rotations; /* 0 = WARD_TUF_MAX_ROOT_ROTATIONS */
	unsigned max_delegations;    /* 0 = WARD_TUF_MAX_DELEGATIONS */
};

struct ward_tuf_client;

/*
 * Start a trusted metadata directory from a root file: the file must parse as
 * root metadata signed by a threshold of its own root keys (expiry is not
 * checked: an old shipped root is updated by the first refresh). Refuses to
 * replace an existing trusted root.
 */
ward_err ward_tuf_init(const char *metadata_dir, const char *root_path,
		       struct ward_msg *m) WARD_MUST_USE;

/* Load the trusted root from cfg->metadata_dir. Caller frees with ward_tuf_free(). */
ward_err ward_tuf_open(const struct ward_tuf_config *cfg, const struct ward_fetcher *f,
		       struct ward_tuf_client **out, struct ward_msg *m) WARD_MUST_USE;
void ward_tuf_free(struct ward_tuf_client *c); /* accepts NULL */

/* The TUF client workflow steps 5.1-5.6: root, timestamp, snapshot, top-level targets. */
ward_err ward_tuf_refresh(struct ward_tuf_client *c, struct ward_msg *m) WARD_MUST_USE;

/*
 * Resolve a target path through the delegation graph (preorder, terminating
 * delegations, thresholds, at most max_delegations roles), fetching delegated
 * metadata as needed. *out is borrowed until ward_tuf_free(). Needs a refresh first.
 */
ward_err ward_tuf_find_target(struct ward_tuf_client *c, const char *path,
			      const struct ward_tuf_target **out, struct ward_msg *m) WARD_MUST_USE;

/*
 * Stream a target to sink: fetch at most its signed length, hash every byte,
 * and return WARD_OK only when length and every listed hash match. The sink
 * sees unverified bytes; it must not act on them until WARD_OK.
 */
ward_err ward_tuf_fetch_target(struct ward_tuf_client *c, const struct ward_tuf_target *t,
			       ward_sink_fn sink, void *sink_ctx, struct ward_msg *m) WARD_MUST_USE;

/*
 * Resume a target download that an earlier call left unfinished. The caller
 * holds the first `have` bytes of t (say, in the slot it was writing) and
 * reads them back through `read`; they are hashed again, so the hashes
 * checked at the end cover the whole target whatever the caller held. The
 * rest is fetched from byte `have` on (the fetcher's offset: HTTP Range),
 * never more than the signed length minus `have`. When the fetcher cannot
 * resume (WARD_E_UNSUPPORTED: a server that ignores Range), `rewind` is
 * called and the whole target is fetched from byte 0 (without `rewind`,
 * that is a failure). Either way the sink receives the bytes in order from
 * `from` on. have == 0 is ward_tuf_fetch_target().
 *
 *	struct ward_tuf_resume r = {.have = done, .read = read_slot, .rewind = back_to_0, .ctx = &w};
 *	e = ward_tuf_fetch_target_resume(c, t, &r, write_slot, &w, &m);
 *	... r.from: where the fetched bytes began; r.fetched: how many arrived ...
 */
struct ward_tuf_resume {
	uint64_t have;   /* in: bytes of the target the caller holds (<= its length) */
	ward_err (*read)(void *ctx, uint64_t at, void *buf, size_t n); /* in: read n held bytes at `at` */
	ward_err (*rewind)(void *ctx); /* in, optional: the sink's next bytes are from byte 0 */
	void *ctx;       /* in: for read and rewind */
	uint64_t from;   /* out: the offset of the first fetched byte (have, or 0 after a rewind) */
	uint64_t fetched; /* out: bytes the fetcher delivered (also on failure) */
	bool restarted;  /* out: the fetcher could not resume and the target was fetched from 0 */
};
ward_err ward_tuf_fetch_target_resume(struct ward_tuf_client *c, const struct ward_tuf_target *t,
				      struct ward_tuf_resume *r, ward_sink_fn sink, void *sink_ctx,
				      struct ward_msg *m) WARD_MUST_USE;

/*
 * Download a target into dir under its URL-encoded path, atomically; when a
 * file with matching length and hashes is already there, nothing is fetched.
 * *out_path (optional) receives the final path; caller frees it.
 */
ward_err ward_tuf_download_target(struct ward_tuf_client *c, const struct ward_tuf_target *t,
				  const char *dir, char **out_path, struct ward_msg *m) WARD_MUST_USE;

/* Borrowed views of the trusted set (NULL when not loaded). */
const struct ward_tuf_meta *ward_tuf_trusted(const struct ward_tuf_client *c, enum ward_tuf_role r);

/* Check data against a fileinfo's length and every hash it lists. */
ward_err ward_tuf_fileinfo_check(const struct ward_tuf_fileinfo *fi, const uint8_t *data, size_t len,
				 const char *what, struct ward_msg *m) WARD_MUST_USE;

#endif
