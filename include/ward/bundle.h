/*
 * ward/bundle.h — offline update bundles (.ward files).
 *
 * A bundle carries one image and the TUF metadata that vouches for it, so a
 * device can verify and install it with no network, under exactly the rules
 * it applies online (the bundle's contents are served to the TUF client
 * through a struct ward_fetcher). Nothing in the bundle is trusted on its own:
 * the manifest only says where the bytes are.
 *
 * Layout (integers big-endian):
 *   magic     8 bytes  "WARDBDL1"
 *   mlen      4 bytes  manifest length, at most WARD_BUNDLE_MAX_MANIFEST
 *   manifest  mlen bytes of JSON:
 *     {"format": 1, "target": "<TUF target path>",
 *      "metadata": {"<file name>": [offset, length], ...},
 *      "image": [offset, length]}
 *   data      offsets are relative to the first byte after the manifest;
 *             metadata files first, the image last (so it can be streamed)
 * Metadata file names are those of the repository's metadata/ directory
 * ("2.root.json", "timestamp.json", "3.snapshot.json", ...).
 */
#ifndef WARD_BUNDLE_H
#define WARD_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "ward/err.h"
#include "ward/tuf.h"

#define WARD_BUNDLE_MAGIC "WARDBDL1"
#define WARD_BUNDLE_MAX_MANIFEST (64u * 1024)
#define WARD_BUNDLE_MAX_FILES 512
/* URL prefixes the bundle fetcher answers; pass them as the TUF client's URLs. */
#define WARD_BUNDLE_METADATA_URL "bundle:/metadata"
#define WARD_BUNDLE_TARGETS_URL "bundle:/targets"

struct ward_bundle;

/* Open and check the framing of a bundle (not its trust). Caller frees with ward_bundle_free(). */
ward_err ward_bundle_open(const char *path, struct ward_bundle **out, struct ward_msg *m) WARD_MUST_USE;
void ward_bundle_free(struct ward_bundle *b); /* accepts NULL */
/* The target path the bundle says it carries (borrowed). Verified only by TUF. */
const char *ward_bundle_target(const struct ward_bundle *b);
/* Length of the image as framed (the signed length is what counts). */
uint64_t ward_bundle_image_length(const struct ward_bundle *b);
/*
 * A fetcher over the bundle: WARD_BUNDLE_METADATA_URL "/<name>" serves that
 * metadata file (WARD_E_NOTFOUND when absent), WARD_BUNDLE_TARGETS_URL
 * "/<anything>" serves the image. b must outlive f's use.
 */
void ward_bundle_fetcher(struct ward_bundle *b, struct ward_fetcher *f);

/* One metadata file to pack. */
struct ward_bundle_file {
	const char *name; /* file name as served under metadata/ */
	const char *path; /* where to read it */
};

/*
 * Write a bundle to out_path (created exclusively, atomically renamed into
 * place): the metadata files and the image read from image_path.
 */
ward_err ward_bundle_write(const char *out_path, const char *target,
			   const struct ward_bundle_file *files, size_t nfiles, const char *image_path,
			   struct ward_msg *m) WARD_MUST_USE;

#endif
