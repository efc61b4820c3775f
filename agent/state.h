/*
 * agent/state.h — wardd's durable state: what each slot holds, how much of
 * an interrupted download is durable in the slot being written, the
 * security floor, and the images that failed on this device. One JSON file, STATE_DIR/state.json, always replaced
 * atomically (ward_file_write_atomic: temp file, fsync, rename, fsync dir),
 * so after any crash it is either the old or the new state, never a mix.
 */
#ifndef WARD_AGENT_STATE_H
#define WARD_AGENT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ward/err.h"
#include "ward/version.h"

enum agent_slot_state {
	AGENT_SLOT_UNKNOWN,   /* nothing recorded (e.g. the factory image) */
	AGENT_SLOT_WRITING,   /* an image is being written: not bootable */
	AGENT_SLOT_INSTALLED, /* written and verified, not yet handed to the bootloader */
	AGENT_SLOT_AWAITING,  /* written and verified, waiting for local approval */
	AGENT_SLOT_TRIAL,     /* the bootloader tries it once (or up to max_attempts) */
	AGENT_SLOT_GOOD,      /* confirmed healthy */
	AGENT_SLOT_BAD,       /* refused: failed install, failed health check, rolled back */
};

struct agent_slot_info {
	enum agent_slot_state state;
	char version[WARD_VERSION_MAX + 1]; /* image version ("" if unknown) */
	char target[256];                   /* TUF target path */
	char sha256[65];                    /* hex, of the image in the slot */
	uint64_t length;                    /* image length */
	char reason[256];                   /* why it is bad, or "" */
	uint64_t written;                   /* writing: bytes of the image durable (fsynced) in the slot */
};

/* An image that failed on this device (rolled back, or did not read back from
 * the slot after a download verified from byte 0): `wardd update` does not
 * install it again. A download that failed is not a reason (agent/install.c). */
#define AGENT_REFUSED_MAX 16
struct agent_refused {
	char sha256[65];   /* hex: which image */
	char target[256];  /* its TUF target path */
	char reason[256];  /* what happened to it here */
	bool rolled_back;  /* it rolled back (else: it did not read back after a verified download) */
	bool reported;     /* the refusal to install it again was reported */
};

struct agent_state {
	char floor[WARD_VERSION_MAX + 1]; /* lowest version this device accepts ("" = none yet) */
	struct agent_slot_info slot[2];
	struct agent_refused refused[AGENT_REFUSED_MAX]; /* oldest first */
	size_t nrefused;
};

/* Load; a missing file is a fresh state (no floor, slots unknown). */
ward_err agent_state_load(const struct agent_config *cfg, struct agent_state *st,
			  struct ward_msg *m) WARD_MUST_USE;
ward_err agent_state_save(const struct agent_config *cfg, const struct agent_state *st,
			  struct ward_msg *m) WARD_MUST_USE;
const char *agent_slot_state_name(enum agent_slot_state s);
/* Remember that the image in st->slot[slot] rolled back, or did not read back
 * after a download verified from byte 0 (rolled_back false), here (why: what
 * happened); the oldest entry goes when the list is full. No-op for a slot
 * without a hash. */
void agent_state_refuse(struct agent_state *st, int slot, bool rolled_back, const char *why);
/* The entry for the image whose sha256 is hex, or NULL. */
struct agent_refused *agent_state_refused(struct agent_state *st, const char *hex);

#endif
