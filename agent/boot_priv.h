/*
 * agent/boot_priv.h — what the bootloader backends (agent/boot_*.c) share and
 * nobody else uses: running the bootloader tools, and the U-Boot-style
 * variables (ward_slot, ward_good, upgrade_available, bootcount, bootlimit)
 * that the U-Boot and file backends both keep. Defined in agent/boot.c.
 */
#ifndef WARD_AGENT_BOOT_PRIV_H
#define WARD_AGENT_BOOT_PRIV_H

#include <stddef.h>

#include "boot.h"
#include "ward/buf.h"

#define AGENT_BOOT_OUT_MAX 4096     /* most stdout kept from a bootloader tool */
#define AGENT_UV_NUM_MAX   1000000u /* largest bootcount/bootlimit accepted */
enum agent_uvar {
	AGENT_UV_SLOT,
	AGENT_UV_GOOD,
	AGENT_UV_UPGRADE,
	AGENT_UV_COUNT,
	AGENT_UV_LIMIT,
	AGENT_UV_N
};
enum agent_boot_op { AGENT_OP_TRY, AGENT_OP_GOOD, AGENT_OP_BAD };
struct agent_uvars {
	unsigned v[AGENT_UV_N]; /* slots as 0/1, upgrade_available 0/1, counts; unset = 0 */
};
extern const char *const agent_uvar_names[AGENT_UV_N];
int agent_boot_slot_parse(const char *s, size_t n);
ward_err agent_boot_check_slot(int slot, struct ward_msg *m) WARD_MUST_USE;
ward_err agent_boot_run(const char *const *argv, const char *package, struct ward_buf *out,
                        struct ward_msg *m) WARD_MUST_USE;
int agent_uvar_lookup(const char *name, size_t n);
ward_err agent_uvars_parse(struct agent_uvars *u, int i, const char *value, const char *where,
                           struct ward_msg *m) WARD_MUST_USE;
ward_err agent_uvars_apply(struct agent_uvars *u, unsigned *mask, const struct agent_config *cfg,
                           enum agent_boot_op op, int slot, struct ward_msg *m) WARD_MUST_USE;
ward_err agent_uvars_format(const struct agent_uvars *u, unsigned mask, struct ward_buf *out,
                            struct ward_msg *m) WARD_MUST_USE;
ward_err agent_uvars_state(const struct agent_uvars *u, struct agent_boot_state *out,
                           const char *where, struct ward_msg *m) WARD_MUST_USE;

#endif
