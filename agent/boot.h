/*
 * agent/boot.h — the bootloader port: each backend implements how to try a
 * slot once, make a slot the default, refuse a slot, and report where the
 * bootloader stands. Backends: U-Boot (agent/boot_uboot.c, through the real
 * fw_setenv/fw_printenv), GRUB (agent/boot_grub.c, through grub-editenv) and a
 * plain file (agent/boot_file.c). Slots are 0 (A) and 1 (B).
 *
 * Contract every backend keeps, whatever instant power fails:
 *  - after try_once(X), the next boot boots X; if X is not marked good, a
 *    later boot (after at most max_attempts boots of X, or at once for GRUB's
 *    one-shot next_entry) boots the last good slot again, with no help from
 *    wardd (a hung or crashing image rolls back through the bootloader);
 *  - after mark_good(X), every boot boots X;
 *  - after mark_bad(X), every boot boots the other slot (the last good one);
 *  - each of these calls changes the environment in one atomic update (one
 *    fw_setenv script, one grub-editenv invocation that rewrites the block,
 *    one atomic file replacement).
 *
 * The U-Boot variables (documented with the boot script in docs/wardd.md):
 *   ward_slot           slot that bootcmd boots (A|B)
 *   ward_good           last confirmed slot; altbootcmd boots it
 *   upgrade_available   1 while a trial is running: U-Boot counts boots
 *   bootcount/bootlimit U-Boot's boot counter; past bootlimit, altbootcmd runs
 * GRUB: saved_entry (default slot), next_entry (one-shot), ward_trial (the slot
 * on trial, so that wardd knows a trial is pending after GRUB clears next_entry).
 * File backend: the U-Boot variables in a key=value file.
 */
#ifndef WARD_AGENT_BOOT_H
#define WARD_AGENT_BOOT_H

#include "config.h"
#include "ward/err.h"

struct agent_boot_state {
	int good;               /* the last confirmed slot (0/1), -1 if unknown */
	int next;               /* the slot the next boot will boot */
	int trial;              /* slot on trial, or -1 */
	unsigned attempts_left; /* boots of the trial slot left before fallback */
};

struct agent_boot_ops {
	const char *name;
	ward_err (*try_once)(const struct agent_config *cfg, int slot, struct ward_msg *m);
	ward_err (*mark_good)(const struct agent_config *cfg, int slot, struct ward_msg *m);
	ward_err (*mark_bad)(const struct agent_config *cfg, int slot, struct ward_msg *m);
	ward_err (*query)(const struct agent_config *cfg, struct agent_boot_state *out,
			  struct ward_msg *m);
};

extern const struct agent_boot_ops agent_boot_uboot;
extern const struct agent_boot_ops agent_boot_grub;
extern const struct agent_boot_ops agent_boot_file;

/* The ops of cfg->backend. */
const struct agent_boot_ops *agent_boot_ops(const struct agent_config *cfg);

/* Which slot booted, from cfg->booted_from ("ward.slot=A" or "ward.slot=B" among
 * whitespace-separated words). WARD_E_NOTFOUND when the bootloader did not say. */
ward_err agent_boot_booted(const struct agent_config *cfg, int *slot, struct ward_msg *m) WARD_MUST_USE;

/* "A" / "B" */
const char *agent_slot_name(int slot);

#endif
