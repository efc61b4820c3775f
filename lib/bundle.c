/*
 * lib/bundle.c — reading and writing offline bundles (format in ward/bundle.h).
 *
 * The reader checks only the framing: magic, a bounded manifest, offsets and
 * lengths inside the file. Trust comes from TUF: the bundle is exposed as a
 * struct ward_fetcher, and the TUF client verifies everything it serves with
 * the same limits as over the network (the image is streamed with pread in
 * fixed chunks, never held in memory). The writer creates the output with
 * O_EXCL under a temporary name and renames it into place when complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/bundle.h"
#include "ward/json.h"

#define CHUNK (256u * 1024)

struct bundle_entry {
	char *name;      /* metadata file name */
	uint64_t offset; /* absolute offset in the file */
	uint64_t length;
};

struct ward_bundle {
	int fd;                      /* the open bundle */
	uint64_t size;               /* file size */
	char *target;                /* target path from the manifest */
	struct bundle_entry *files;  /* metadata entries */
	size_t nfiles;
	uint64_t image_offset, image_length;
};

void ward_bundle_free(struct ward_bundle *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	for (size_t i = 0; i < b->nfiles; i++)
		free(b->files[i].name);
	free(b->files);
	free(b->target);
	free(b);
}

static ward_err read_exact(int fd, uint64_t off, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return WARD_E_IO;
		p += r;
		off += (uint64_t)r;
		n -= (size_t)r;
	}
	return WARD_OK;
}

/* [offset, length] relative to data start, checked against the file size. */
static ward_err parse_span(const json_t *v, uint64_t base, uint64_t size, uint64_t *off,
			   uint64_t *len, const char *what, struct ward_msg *m)
{
	json_t *o = json_array_get(v, 0), *l = json_array_get(v, 1);

	if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(o) || !json_is_integer(l) ||
	    json_integer_value(o) < 0 || json_integer_value(l) < 0)
		return ward_msg_set(m, WARD_E_PARSE, "bundle manifest: %s must be [offset, length]", what);
	*off = base + (uint64_t)json_integer_value(o);
	*len = (uint64_t)json_integer_value(l);
	if (*off < base || *off > size || *len > size - *off)
		return ward_msg_set(m, WARD_E_PARSE, "bundle manifest: %s lies outside the file (truncated bundle?)",
				    what);
	return WARD_OK;
}

ward_err ward_bundle_open(const char *path, struct ward_bundle **out, struct ward_msg *m)
{
	struct ward_bundle *b;
	uint8_t head[12];
	uint32_t mlen;
	uint8_t *man = NULL;
	json_t *doc = NULL, *meta, *img, *fmt, *v;
	const char *target, *name;
	struct stat st;
	ward_err e;

	b = calloc(1, sizeof(*b));
	if (!b)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	b->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b->fd < 0) {
		e = ward_msg_set(m, errno == ENOENT ? WARD_E_NOTFOUND : WARD_E_IO, "%s: %s", path,
				 strerror(errno));
		goto out;
	}
	if (fstat(b->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		e = ward_msg_set(m, WARD_E_IO, "%s: not a regular file", path);
		goto out;
	}
	b->size = (uint64_t)st.st_size;
	if (b->size < sizeof(head) || read_exact(b->fd, 0, head, sizeof(head)) ||
	    memcmp(head, WARD_BUNDLE_MAGIC, 8)) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: not a ward bundle (bad magic or truncated)", path);
		goto out;
	}
	mlen = (uint32_t)head[8] << 24 | (uint32_t)head[9] << 16 | (uint32_t)head[10] << 8 | head[11];
	if (mlen == 0 || mlen > WARD_BUNDLE_MAX_MANIFEST || mlen > b->size - sizeof(head)) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: manifest length %u is invalid or past the end", path,
				 mlen);
		goto out;
	}
	man = malloc(mlen);
	if (!man) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if (read_exact(b->fd, sizeof(head), man, mlen)) {
		e = ward_msg_set(m, WARD_E_IO, "%s: cannot read the manifest", path);
		goto out;
	}
	e = ward_json_parse(man, mlen, WARD_BUNDLE_MAX_MANIFEST, &doc, m);
	if (e) {
		ward_msg_prefix(m, e, "%s: manifest: ", path);
		goto out;
	}
	fmt = json_object_get(doc, "format");
	if (!json_is_integer(fmt) || json_integer_value(fmt) != 1) {
		e = ward_msg_set(m, WARD_E_UNSUPPORTED, "%s: bundle format is not 1", path);
		goto out;
	}
	e = ward_json_get_string(doc, "target", "bundle manifest", &target, m);
	if (!e)
		e = ward_json_get_object(doc, "metadata", "bundle manifest", &meta, m);
	if (!e)
		e = ward_json_get_array(doc, "image", "bundle manifest", &img, m);
	if (e)
		goto out;
	if (json_object_size(meta) > WARD_BUNDLE_MAX_FILES) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "%s: more than %u metadata files", path,
				 WARD_BUNDLE_MAX_FILES);
		goto out;
	}
	b->target = strdup(target);
	b->files = calloc(json_object_size(meta) + 1, sizeof(*b->files));
	if (!b->target || !b->files) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(meta, name, v) {
		struct bundle_entry *f = &b->files[b->nfiles];

		if (!*name || strchr(name, '/') || strlen(name) > 255) {
			e = ward_msg_set(m, WARD_E_PARSE, "%s: bad metadata file name in manifest", path);
			goto out;
		}
		e = parse_span(v, sizeof(head) + mlen, b->size, &f->offset, &f->length, name, m);
		if (e)
			goto out;
		f->name = strdup(name);
		if (!f->name) {
			e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
		b->nfiles++;
	}
	e = parse_span(img, sizeof(head) + mlen, b->size, &b->image_offset, &b->image_length, "image", m);
	if (e)
		goto out;
	*out = b;
	b = NULL;
out:
	json_decref(doc);
	free(man);
	ward_bundle_free(b);
	return e;
}

const char *ward_bundle_target(const struct ward_bundle *b)
{
	return b->target;
}

uint64_t ward_bundle_image_length(const struct ward_bundle *b)
{
	return b->image_length;
}

static ward_err stream(struct ward_bundle *b, uint64_t off, uint64_t len, uint64_t skip,
		       uint64_t max, ward_sink_fn sink, void *ctx, const char *url, struct ward_msg *m)
{
	uint8_t *buf;
	ward_err e = WARD_OK;

	if (skip > len)
		return ward_msg_set(m, WARD_E_UNSUPPORTED, "%s: cannot resume past the end", url);
	off += skip;
	len -= skip;
	if (len > max)
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: %llu bytes, more than the %llu allowed", url,
				    (unsigned long long)len, (unsigned long long)max);
	buf = malloc(CHUNK);
	if (!buf)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	while (len && !e) {
		size_t n = len < CHUNK ? (size_t)len : CHUNK;

		e = read_exact(b->fd, off, buf, n);
		if (e) {
			e = ward_msg_set(m, WARD_E_IO, "%s: read error in bundle", url);
			break;
		}
		e = sink(ctx, buf, n);
		off += n;
		len -= n;
	}
	free(buf);
	return e;
}

static ward_err bundle_fetch(void *ctx, const char *url, uint64_t offset, uint64_t max,
			     ward_sink_fn sink, void *sink_ctx, struct ward_msg *m)
{
	struct ward_bundle *b = ctx;
	size_t ml = strlen(WARD_BUNDLE_METADATA_URL), tl = strlen(WARD_BUNDLE_TARGETS_URL);

	if (!strncmp(url, WARD_BUNDLE_METADATA_URL "/", ml + 1)) {
		const char *name = url + ml + 1;

		for (size_t i = 0; i < b->nfiles; i++)
			if (!strcmp(b->files[i].name, name))
				return stream(b, b->files[i].offset, b->files[i].length, offset, max, sink,
					      sink_ctx, url, m);
		return ward_msg_set(m, WARD_E_NOTFOUND, "%s: not in the bundle", name);
	}
	if (!strncmp(url, WARD_BUNDLE_TARGETS_URL "/", tl + 1))
		return stream(b, b->image_offset, b->image_length, offset, max, sink, sink_ctx, url, m);
	return ward_msg_set(m, WARD_E_NOTFOUND, "%s: not a bundle URL", url);
}

void ward_bundle_fetcher(struct ward_bundle *b, struct ward_fetcher *f)
{
	f->fetch = bundle_fetch;
	f->ctx = b;
}

static ward_err copy_fd(int in, int out, uint64_t *copied)
{
	uint8_t *buf = malloc(CHUNK);
	ward_err e = WARD_OK;

	if (!buf)
		return WARD_E_NOMEM;
	*copied = 0;
	for (;;) {
		ssize_t r = read(in, buf, CHUNK), w;
		uint8_t *p = buf;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = WARD_E_IO;
			break;
		}
		if (r == 0)
			break;
		*copied += (uint64_t)r;
		while (r > 0) {
			w = write(out, p, (size_t)r);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				e = WARD_E_IO;
				goto done;
			}
			p += w;
			r -= w;
		}
	}
done:
	free(buf);
	return e;
}

ward_err ward_bundle_write(const char *out_path, const char *target,
			   const struct ward_bundle_file *files, size_t nfiles, const char *image_path,
			   struct ward_msg *m)
{
	char tmp[PATH_MAX];
	json_t *man = NULL, *meta;
	char *mtext = NULL;
	uint64_t off = 0, *lens = NULL;
	struct stat st;
	int fd = -1, in = -1;
	bool created = false; /* tmp exists and must go on failure */
	ward_err e;

	if (nfiles > WARD_BUNDLE_MAX_FILES)
		return ward_msg_set(m, WARD_E_TOOBIG, "more than %u metadata files", WARD_BUNDLE_MAX_FILES);
	if (ward_snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", out_path))
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: path too long", out_path);
	if (access(out_path, F_OK) == 0)
		return ward_msg_set(m, WARD_E_EXISTS, "%s: already exists; refusing to overwrite", out_path);
	lens = calloc(nfiles + 1, sizeof(*lens));
	man = json_pack("{s:i,s:s,s:{}}", "format", 1, "target", target, "metadata");
	if (!lens || !man) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	meta = json_object_get(man, "metadata");
	for (size_t i = 0; i < nfiles; i++) {
		if (stat(files[i].path, &st) != 0 || !S_ISREG(st.st_mode)) {
			e = ward_msg_set(m, WARD_E_IO, "%s: %s", files[i].path,
					 errno ? strerror(errno) : "not a regular file");
			goto out;
		}
		lens[i] = (uint64_t)st.st_size;
		json_object_set_new(meta, files[i].name, json_pack("[I,I]", (json_int_t)off, (json_int_t)lens[i]));
		off += lens[i];
	}
	if (stat(image_path, &st) != 0 || !S_ISREG(st.st_mode)) {
		e = ward_msg_set(m, WARD_E_IO, "%s: %s", image_path, errno ? strerror(errno) : "not a regular file");
		goto out;
	}
	json_object_set_new(man, "image", json_pack("[I,I]", (json_int_t)off, (json_int_t)st.st_size));
	mtext = json_dumps(man, JSON_COMPACT | JSON_SORT_KEYS);
	if (!mtext || strlen(mtext) > WARD_BUNDLE_MAX_MANIFEST) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "bundle manifest too large");
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	created = true;
	{
		uint32_t ml = (uint32_t)strlen(mtext);
		uint8_t head[12];

		memcpy(head, WARD_BUNDLE_MAGIC, 8);
		head[8] = (uint8_t)(ml >> 24);
		head[9] = (uint8_t)(ml >> 16);
		head[10] = (uint8_t)(ml >> 8);
		head[11] = (uint8_t)ml;
		if (write(fd, head, sizeof(head)) != (ssize_t)sizeof(head) ||
		    write(fd, mtext, ml) != (ssize_t)ml) {
			e = ward_msg_set(m, WARD_E_IO, "%s: write: %s", tmp, strerror(errno));
			goto out;
		}
	}
	for (size_t i = 0; i <= nfiles; i++) {
		const char *p = i < nfiles ? files[i].path : image_path;
		uint64_t copied;

		in = open(p, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			e = ward_msg_set(m, WARD_E_IO, "%s: %s", p, strerror(errno));
			goto out;
		}
		e = copy_fd(in, fd, &copied);
		close(in);
		in = -1;
		if (e || (i < nfiles && copied != lens[i]) || (i == nfiles && copied != (uint64_t)st.st_size)) {
			e = ward_msg_set(m, WARD_E_IO, "%s: copy failed or the file changed while packing", p);
			goto out;
		}
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (link(tmp, out_path) != 0) { /* never replaces: fails if out_path appeared meanwhile */
		e = ward_msg_set(m, errno == EEXIST ? WARD_E_EXISTS : WARD_E_IO, "%s: %s", out_path,
				 strerror(errno));
		goto out;
	}
	unlink(tmp);
	created = false;
	e = ward_fsync_parent(out_path, m);
out:
	if (fd >= 0)
		close(fd);
	if (in >= 0)
		close(in);
	if (created)
		unlink(tmp);
	free(mtext);
	free(lens);
	json_decref(man);
	return e;
}
