/*
 * fuzz/replay.c — a main() for fuzz targets built without libFuzzer.
 *
 * `fuzz_<name> PATH...` runs the target once on each PATH that is a file and
 * once on every regular file directly inside each PATH that is a directory
 * (in name order, so runs are reproducible). It fails when a path is missing,
 * when a directory holds no file (an empty corpus tests nothing), or when a
 * file is larger than REPLAY_MAX. A failing input shows up as the target's
 * own abort() or a sanitizer report, after the name of the file being run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_MAX (4u * 1024 * 1024) /* larger than any corpus entry should be */

/* Read the whole file at path into a fresh buffer (caller frees). */
static int replay_read(const char *path, uint8_t **out, size_t *outlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0;
	int ok = 0;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return 0;
	}
	/* One byte of slack so that a file of exactly REPLAY_MAX + 1 is seen as too big. */
	buf = malloc(REPLAY_MAX + 1);
	if (buf == NULL) {
		fprintf(stderr, "replay: out of memory\n");
		goto out;
	}
	len = fread(buf, 1, REPLAY_MAX + 1, f);
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		goto out;
	}
	if (len > REPLAY_MAX) {
		fprintf(stderr, "replay: %s: larger than %u bytes; corpus entries must be small\n",
			path, REPLAY_MAX);
		goto out;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	ok = 1;
out:
	free(buf);
	fclose(f);
	return ok;
}

static int replay_file(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;

	if (!replay_read(path, &data, &len))
		return 0;
	/* Say which input is running first, so a crash report names it. */
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	/* Hand the target an exact-size copy so ASan sees reads past the end. */
	uint8_t *exact = malloc(len ? len : 1);
	if (exact == NULL) {
		free(data);
		fprintf(stderr, "replay: out of memory\n");
		return 0;
	}
	if (len > 0)
		memcpy(exact, data, len);
	free(data);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Run every regular file in dir; returns the number run, or -1 on error. */
static int replay_dir(const char *dir)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, by_name);
	int ran = 0;

	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		int w;

		if (ran >= 0 && ents[i]->d_name[0] != '.') {
			w = snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			if (w < 0 || (size_t)w >= sizeof(path)) {
				fprintf(stderr, "replay: %s/%s: path too long\n", dir, ents[i]->d_name);
				ran = -1;
			} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				ran = replay_file(path) ? ran + 1 : -1;
			}
		}
		free(ents[i]);
	}
	free(ents);
	return ran;
}

int main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			int n = replay_dir(argv[i]);
			if (n < 0)
				return 1;
			if (n == 0) {
				fprintf(stderr, "replay: %s: no corpus files; an empty corpus tests nothing\n",
					argv[i]);
				return 1;
			}
			total += n;
		} else {
			if (!replay_file(argv[i]))
				return 1;
			total++;
		}
	}
	printf("replay: %d inputs ran without failure\n", total);
	return 0;
}
