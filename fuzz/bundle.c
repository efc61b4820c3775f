/*
 * fuzz/bundle.c — the offline bundle framing (lib/bundle.c): whatever the
 * bytes, ward_bundle_open either refuses them or yields offsets inside the
 * file, and the bundle fetcher serves only bytes within those bounds.
 * The input is written to a private temporary file (the reader works on
 * files, as wardd does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ward/bundle.h"

static ward_err count_sink(void *ctx, const void *d, size_t n)
{
	(void)d;
	*(uint64_t *)ctx += n;
	return WARD_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/ward-fuzz-bundle.XXXXXX";
	struct ward_bundle *b = NULL;
	struct ward_fetcher f;
	struct ward_msg m;
	int fd = mkstemp(path);
	static const char *const names[] = {"root.json", "2.root.json", "timestamp.json",
					    "1.snapshot.json", "1.targets.json", "x"};

	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (ward_bundle_open(path, &b, &m) == WARD_OK) {
		uint64_t got = 0;
		char url[64];

		ward_bundle_fetcher(b, &f);
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(url, sizeof(url), "%s/%s", WARD_BUNDLE_METADATA_URL, names[i]);
			got = 0;
			if (f.fetch(f.ctx, url, 0, 1u << 20, count_sink, &got, &m) == WARD_OK && got > size)
				abort(); /* served more than the file holds */
		}
		got = 0;
		if (f.fetch(f.ctx, WARD_BUNDLE_TARGETS_URL "/img", 0, UINT64_MAX, count_sink, &got, &m) ==
			    WARD_OK &&
		    (got > size || got != ward_bundle_image_length(b)))
			abort();
		ward_bundle_free(b);
	}
	unlink(path);
	return 0;
}
