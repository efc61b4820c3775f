/*
 * fuzz/tuf_metadata.c — TUF metadata parsing and signature checking.
 *
 * Input: byte 0 selects the expected role (byte % 4 as enum ward_tuf_role:
 * '0' root, '1' timestamp, '2' snapshot, '3' targets, so corpus files read
 * as a digit followed by JSON); the rest is the metadata file (at most 1 MiB).
 * What it exercises: ward_tuf_meta_parse for every role; for root, the
 * signature check against the root's own keys and threshold (the check
 * `ward tuf init` does on an untrusted file); for targets, delegation path
 * matching of every listed target against every delegation pattern; for
 * timestamp and snapshot, the lookups a client does. Results are ignored:
 * the target looks for crashes, leaks and undefined behaviour, and for the
 * invariants the parser promises (asserted with abort()).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ward/tuf.h"

#define IN_MAX (1024u * 1024)
#define MATCH_MAX 64 /* bound the targets x patterns product per input */

static void check_root(const struct ward_tuf_meta *meta)
{
	struct ward_msg m = {0};
	ward_err e;

	e = ward_tuf_meta_verify(meta, meta->keys, meta->nkeys, &meta->roles[WARD_TUF_ROOT], "root",
				 &m);
	/* Unsigned fuzz input must never pass: a pass means forged signatures verify,
	 * unless the input carries a real signature (seed corpus files do). */
	if (e == WARD_OK && meta->nsigs == 0)
		abort();
	for (size_t i = 0; i < meta->nkeys; i++)
		(void)ward_tuf_meta_key(meta->keys, meta->nkeys, meta->keys[i].keyid);
}

static void check_targets(const struct ward_tuf_meta *meta)
{
	size_t nt = meta->ntargets < MATCH_MAX ? meta->ntargets : MATCH_MAX;

	for (size_t d = 0; d < meta->ndelegations && d < MATCH_MAX; d++) {
		const struct ward_tuf_delegation *del = &meta->delegations[d];

		if (del->keys.threshold < 1)
			abort(); /* the parser promises threshold >= 1 */
		for (size_t p = 0; p < del->npaths && p < MATCH_MAX; p++) {
			for (size_t t = 0; t < nt; t++)
				(void)ward_tuf_path_match(del->paths[p], meta->targets[t].path);
			(void)ward_tuf_path_match(del->paths[p], del->name);
		}
	}
	for (size_t t = 0; t < nt; t++) {
		if (!meta->targets[t].info.has_length)
			abort(); /* a target's length is always present */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_msg m = {0};
	struct ward_tuf_meta *meta = NULL;
	enum ward_tuf_role role;

	if (size < 1 || size - 1 > IN_MAX)
		return 0;
	role = (enum ward_tuf_role)(data[0] % 4);
	if (ward_tuf_meta_parse(data + 1, size - 1, IN_MAX, role, &meta, &m) != WARD_OK) {
		if (meta != NULL)
			abort(); /* outputs are untouched on failure */
		if (m.text[0] == '\0')
			abort(); /* every failure says what was wrong */
		return 0;
	}
	if (meta == NULL || meta->role != role)
		abort();
	switch (role) {
	case WARD_TUF_ROOT:
		for (int r = 0; r < 4; r++)
			if (meta->roles[r].threshold < 1)
				abort(); /* all four top-level roles, threshold >= 1 */
		check_root(meta);
		break;
	case WARD_TUF_TIMESTAMP:
		(void)ward_tuf_meta_file(meta, "snapshot.json");
		break;
	case WARD_TUF_SNAPSHOT:
		(void)ward_tuf_meta_file(meta, "targets.json");
		break;
	case WARD_TUF_TARGETS:
		check_targets(meta);
		break;
	}
	ward_tuf_meta_free(meta);
	return 0;
}
