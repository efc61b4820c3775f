/*
 * server/director.c — the director's repository (server/director.h): its
 * root, the per-device timestamp, snapshot and targets rendered from the
 * registry on request, and the reading of the image repository that an
 * assignment copies its entry from.
 *
 * Rendering is a pure function of (device, assignment, hour): every worker
 * of every server renders the same metadata for the same state, and ed25519
 * signatures are deterministic, so the bytes are the same too. Nothing is
 * cached; one request is one registry read and one signature.
 *
 * The image repository is read through a file fetcher that maps the TUF
 * client's URLs onto DIR/repo/metadata/ and refuses any name with a "/" or
 * "..": the client verifies everything it loads against the trusted copy in
 * DIR/director/image-tuf/, so the director copies only what the release key
 * signed, with the repository's expiry and rollback checks applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "director.h"
#include "ward/json.h"
#include "ward/key.h"
#include "ward/tuf.h"

#define KEY_PEM_MAX (16u * 1024)
#define HOUR 3600L

static ward_err join(char *out, size_t n, const char *dir, const char *rel, struct ward_msg *m)
{
	if (ward_snprintf(out, n, "%s/%s", dir, rel))
		return ward_msg_set(m, WARD_E_TOOBIG, "path too long: %s/%s", dir, rel);
	return WARD_OK;
}

/* Canonical JSON of the envelope signing `sig` (consumed) with k, into out. */
static ward_err sign_into(json_t *sig, const struct ward_key *k, struct ward_buf *out,
			  struct ward_msg *m)
{
	struct ward_key *keys[1] = {(struct ward_key *)k};
	json_t *env = NULL;
	ward_err e;

	ward_buf_init(out, WARD_TUF_MAX_TARGETS_SIZE);
	if (!sig)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory building director metadata");
	e = ward_tuf_meta_sign(sig, keys, 1, &env, m);
	if (!e)
		e = ward_json_canonical(env, out, m);
	json_decref(env);
	json_decref(sig);
	if (e)
		ward_buf_free(out);
	return e;
}

ward_err srv_director_root_create(const struct ward_key *root_key, const struct ward_key *k, time_t now,
				  struct ward_buf *out, struct ward_msg *m)
{
	char id[WARD_KEYID_HEX_LEN + 1], rid[WARD_KEYID_HEX_LEN + 1], expires[21];
	json_t *tk = NULL, *rtk = NULL, *sig, *roles, *keys;
	ward_err e;

	e = ward_key_id(k, id, m);
	if (!e)
		e = ward_key_id(root_key, rid, m);
	if (!e)
		e = ward_key_to_tuf(k, &tk, m);
	if (!e)
		e = ward_key_to_tuf(root_key, &rtk, m);
	if (e) {
		json_decref(tk);
		return e;
	}
	if (!strcmp(id, rid)) {
		json_decref(tk);
		json_decref(rtk);
		return ward_msg_set(m, WARD_E_INVAL, "the director's root key and online key must differ");
	}
	roles = json_object();
	for (size_t i = 0; roles && i < 4; i++) {
		static const char *const names[] = {"root", "timestamp", "snapshot", "targets"};

		json_object_set_new(roles, names[i], json_pack("{s:[s],s:i}", "keyids", i ? id : rid, "threshold", 1));
	}
	keys = json_object();
	if (keys) {
		json_object_set_new(keys, id, tk);
		json_object_set_new(keys, rid, rtk);
	} else {
		json_decref(tk);
		json_decref(rtk);
	}
	ward_tuf_time_format(now + SRV_DIRECTOR_ROOT_LIFETIME, expires);
	/* "o" steals keys and roles, also when packing fails (or when they are NULL) */
	sig = json_pack("{s:s,s:s,s:i,s:s,s:b,s:o,s:o}", "_type", "root", "spec_version", WARD_TUF_SPEC_VERSION,
			"version", 1, "expires", expires, "consistent_snapshot", 0, "keys", keys, "roles", roles);
	return sign_into(sig, root_key, out, m);
}

ward_err srv_director_key_load(const struct srv_conf *c, struct ward_key **out, struct ward_msg *m)
{
	char path[PATH_MAX];
	struct ward_buf b;
	ward_err e;

	e = join(path, sizeof(path), c->dir, SRV_DIRECTOR_KEY, m);
	if (!e)
		e = ward_file_read(path, KEY_PEM_MAX, &b, m);
	if (e)
		return ward_msg_prefix(m, e, "director key: ");
	b.secret = true;
	e = ward_crypto_key_from_private_pem((const char *)b.p, b.len, out, m);
	ward_buf_free(&b);
	if (e)
		return ward_msg_prefix(m, e, "%s: ", path);
	return WARD_OK;
}

ward_err srv_director_render(const struct ward_key *k, const struct srv_device *dev,
			     const struct srv_assignment *a, enum srv_director_role role, time_t now,
			     struct ward_buf *out, struct ward_msg *m)
{
	/* Without an assignment: version 1, empty, long-lived (it names nothing). */
	int64_t version = a ? a->version : 1;
	time_t base = a ? a->assigned : dev->enrolled;
	time_t lifetime = a ? SRV_DIRECTOR_TARGETS_LIFETIME : SRV_DIRECTOR_ROOT_LIFETIME;
	char expires[21];
	json_t *sig = NULL, *targets, *entry = NULL;

	switch (role) {
	case SRV_DIRECTOR_TIMESTAMP: {
		int64_t hour = (int64_t)(now / HOUR);

		ward_tuf_time_format((time_t)((hour + 1) * HOUR + SRV_DIRECTOR_TIMESTAMP_LIFETIME), expires);
		sig = json_pack("{s:s,s:s,s:I,s:s,s:{s:{s:I}}}", "_type", "timestamp", "spec_version",
				WARD_TUF_SPEC_VERSION, "version", (json_int_t)(hour + version), "expires",
				expires, "meta", "snapshot.json", "version", (json_int_t)version);
		break;
	}
	case SRV_DIRECTOR_SNAPSHOT:
		ward_tuf_time_format(base + lifetime, expires);
		sig = json_pack("{s:s,s:s,s:I,s:s,s:{s:{s:I}}}", "_type", "snapshot", "spec_version",
				WARD_TUF_SPEC_VERSION, "version", (json_int_t)version, "expires", expires,
				"meta", "targets.json", "version", (json_int_t)version);
		break;
	case SRV_DIRECTOR_TARGETS:
		ward_tuf_time_format(base + lifetime, expires);
		targets = json_object();
		if (targets && a && a->target[0]) { /* "" = withdrawn: names nothing */
			json_error_t je;

			entry = json_loads(a->fileinfo, JSON_REJECT_DUPLICATES, &je);
			if (!json_is_object(entry)) {
				json_decref(entry);
				json_decref(targets);
				return ward_msg_set(m, WARD_E_PARSE, "stored target entry of %s is not a JSON object",
						    a->serial);
			}
			json_object_set_new(targets, a->target, entry);
		}
		sig = targets ? json_pack("{s:s,s:s,s:I,s:s,s:o}", "_type", "targets", "spec_version",
					  WARD_TUF_SPEC_VERSION, "version", (json_int_t)version, "expires",
					  expires, "targets", targets)
			      : NULL;
		break;
	}
	return sign_into(sig, k, out, m);
}

/* ---- reading the image repository -------------------------------------- */

/* Serves "<DIR/repo/metadata>/<name>" for a plain file name; nothing else. */
static ward_err file_fetch(void *ctx, const char *url, uint64_t offset, uint64_t max, ward_sink_fn sink,
			   void *sink_ctx, struct ward_msg *m)
{
	const char *base = ctx, *name;
	char path[PATH_MAX], dec[NAME_MAX + 1];
	uint8_t buf[16384];
	size_t n = 0, blen = strlen(base);
	uint64_t total = 0;
	ward_err e = WARD_OK;
	int fd;

	if (strncmp(url, base, blen) || url[blen] != '/')
		return ward_msg_set(m, WARD_E_NOTFOUND, "%s: not in the image repository", url);
	name = url + blen + 1;
	/* percent-decode the file name (delegated roles are URL-encoded) */
	for (const char *p = name; *p; p++) {
		char c = *p;

		if (c == '%' && p[1] && p[2]) {
			uint8_t v;

			if (ward_hex_decode((char[3]){p[1], p[2], 0}, &v, 1))
				return ward_msg_set(m, WARD_E_NOTFOUND, "%s: bad file name", url);
			c = (char)v;
			p += 2;
		}
		if (c == '/' || c == '\0' || n + 1 >= sizeof(dec))
			return ward_msg_set(m, WARD_E_NOTFOUND, "%s: bad file name", url);
		dec[n++] = c;
	}
	dec[n] = '\0';
	if (n == 0 || !strcmp(dec, ".") || !strcmp(dec, ".."))
		return ward_msg_set(m, WARD_E_NOTFOUND, "%s: bad file name", url);
	if (ward_snprintf(path, sizeof(path), "%s/%s", base, dec))
		return ward_msg_set(m, WARD_E_TOOBIG, "path too long");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ward_msg_set(m, errno == ENOENT ? WARD_E_NOTFOUND : WARD_E_IO, "%s: %s", path,
				    strerror(errno));
	if (offset && lseek(fd, (off_t)offset, SEEK_SET) < 0) {
		close(fd);
		return ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		total += (uint64_t)r;
		if (total > max) {
			e = ward_msg_set(m, WARD_E_TOOBIG, "%s: longer than %llu bytes", path,
					 (unsigned long long)max);
			break;
		}
		e = sink(sink_ctx, buf, (size_t)r);
		if (e)
			break;
	}
	close(fd);
	return e;
}

ward_err srv_director_image_with(const struct srv_conf *c, srv_director_image_fn fn, void *ctx,
				 struct ward_msg *m)
{
	char trust[PATH_MAX], murl[PATH_MAX], root[PATH_MAX], rootfile[PATH_MAX];
	struct ward_tuf_config tc = {0};
	struct ward_tuf_client *cl = NULL;
	struct ward_fetcher f;
	ward_err e;

	if ((e = join(trust, sizeof(trust), c->dir, SRV_DIRECTOR_IMAGE_TRUST, m)) ||
	    (e = join(murl, sizeof(murl), c->dir, SRV_DIRECTOR_REPO "/metadata", m)) ||
	    (e = join(root, sizeof(root), trust, "root.json", m)) ||
	    (e = join(rootfile, sizeof(rootfile), murl, "1.root.json", m)))
		return e;
	if (access(root, F_OK) != 0) {
		e = ward_mkdir_p(trust, 0700, m);
		if (!e)
			e = ward_tuf_init(trust, rootfile, m);
		if (e)
			return ward_msg_prefix(m, e, "image repository %s/%s: ", c->dir, SRV_DIRECTOR_REPO);
	}
	f.fetch = file_fetch;
	f.ctx = murl; /* lives until the client is freed below */
	tc.metadata_dir = trust;
	tc.metadata_url = murl;
	tc.target_base_url = NULL;
	e = ward_tuf_open(&tc, &f, &cl, m);
	if (!e)
		e = ward_tuf_refresh(cl, m);
	if (e)
		ward_msg_prefix(m, e, "image repository %s/%s: ", c->dir, SRV_DIRECTOR_REPO);
	else
		e = fn(ctx, cl, m);
	ward_tuf_free(cl);
	return e;
}

struct entry_ctx {
	const char *target;  /* asked for */
	char **fileinfo;     /* out */
	char *hw, *version;  /* out: 128 and 64 bytes */
};

static ward_err entry_of(void *arg, struct ward_tuf_client *cl, struct ward_msg *m)
{
	struct entry_ctx *x = arg;
	const char *target = x->target;
	const struct ward_tuf_target *t;
	struct ward_buf canon;
	json_t *entry = NULL, *hashes, *custom, *h, *v;
	ward_err e;

	ward_buf_init(&canon, SRV_DIRECTOR_FILEINFO_MAX);
	e = ward_tuf_find_target(cl, target, &t, m);
	if (e) {
		if (e == WARD_E_NOTFOUND)
			e = ward_msg_set(m, WARD_E_NOTFOUND,
					 "the image repository does not list \"%.200s\" (`ward repo status` lists what it does)",
					 target);
		goto out;
	}
	custom = t->custom;
	h = custom ? json_object_get(custom, "hardware_id") : NULL;
	v = custom ? json_object_get(custom, "version") : NULL;
	if (!json_is_string(h) || !json_is_string(v) || strlen(json_string_value(h)) >= 128 ||
	    strlen(json_string_value(v)) >= 64) {
		e = ward_msg_set(m, WARD_E_DENIED,
				 "image \"%.200s\" carries no custom hardware_id and version: devices would refuse it",
				 target);
		goto out;
	}
	hashes = json_object();
	if (hashes && t->info.has_sha256) {
		char hex[2 * WARD_SHA256_LEN + 1];

		ward_hex_encode(t->info.sha256, WARD_SHA256_LEN, hex);
		json_object_set_new(hashes, "sha256", json_string(hex));
	}
	if (hashes && t->info.has_sha512) {
		char hex[2 * WARD_SHA512_LEN + 1];

		ward_hex_encode(t->info.sha512, WARD_SHA512_LEN, hex);
		json_object_set_new(hashes, "sha512", json_string(hex));
	}
	entry = hashes ? json_pack("{s:I,s:o,s:O}", "length", (json_int_t)t->info.length, "hashes", hashes,
				   "custom", custom)
		       : NULL;
	if (!entry) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	e = ward_json_canonical(entry, &canon, m);
	if (!e && !canon.p)
		e = ward_msg_set(m, WARD_E_PARSE, "empty entry");
	if (e) {
		ward_msg_prefix(m, e, "entry of \"%.200s\": ", target);
		goto out;
	}
	snprintf(x->hw, 128, "%s", json_string_value(h));
	snprintf(x->version, 64, "%s", json_string_value(v));
	*x->fileinfo = (char *)canon.p;
	canon.p = NULL;
	canon.len = 0;
out:
	json_decref(entry);
	ward_buf_free(&canon);
	return e;
}

ward_err srv_director_image_entry(const struct srv_conf *c, const char *target, char **fileinfo,
				  char hw[128], char version[64], struct ward_msg *m)
{
	struct entry_ctx x = {target, fileinfo, hw, version};

	return srv_director_image_with(c, entry_of, &x, m);
}

/* ---- assigning an image to one device (`ward device assign`, the API) ---- */

/* The hardware id the device reported at its last check-in, or "" when none. */
static void reported_hw(const struct srv_device *dev, char *out, size_t n)
{
	json_t *f = dev->facts[0] ? json_loads(dev->facts, 0, NULL) : NULL;
	json_t *hw = json_object_get(f, "hardware_id");

	out[0] = '\0';
	if (json_is_string(hw))
		snprintf(out, n, "%s", json_string_value(hw));
	json_decref(f);
}

ward_err srv_director_assign(struct srv_store *s, const struct srv_conf *c, const char *serial, const char *target,
			     const char *actor, json_t **out, struct ward_msg *m)
{
	struct srv_device *dev = calloc(1, sizeof(*dev));
	char *entry = NULL, hw[128], version[64], devhw[128];
	int64_t dversion = 0;
	json_t *d = NULL;
	ward_err e;

	if (!dev)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if ((e = srv_device_get(s, serial, dev, m)) != WARD_OK)
		goto out;
	if (dev->status != SRV_DEVICE_ACTIVE) {
		e = ward_msg_set(m, WARD_E_DENIED, "device %s is not active: it gets no updates", serial);
		goto out;
	}
	if ((e = srv_director_image_entry(c, target, &entry, hw, version, m)) != WARD_OK)
		goto out;
	reported_hw(dev, devhw, sizeof(devhw));
	if (devhw[0] && strcmp(devhw, hw)) {
		e = ward_msg_set(m, WARD_E_DENIED, "image \"%s\" is for hardware \"%s\"; device %s reports \"%s\"",
				 target, hw, serial, devhw);
		goto out;
	}
	d = json_pack("{s:s,s:s,s:s,s:s}", "target", target, "version", version, "hardware_id", hw, "by", actor);
	if (!d) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	/* the assignment and its "assign" audit record commit together */
	if ((e = srv_assignment_set(s, serial, target, entry, d, time(NULL), &dversion, m)) != WARD_OK)
		goto out;
	json_object_del(d, "by");
	json_object_set_new(d, "director_version", json_integer(dversion));
	json_object_set_new(d, "serial", json_string(serial));
	*out = d;
	d = NULL;
out:
	json_decref(d);
	free(entry);
	free(dev);
	return e;
}
