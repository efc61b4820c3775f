/*
 * agent/agent.h — wardd's operations, called by agent/main.c.
 *
 * Install pipeline (agent/install.c), in the order that makes it power-loss
 * safe; each numbered write is durable (fsync) before the next begins:
 *   verify the bundle with TUF against the device's trusted root and read
 *   the image once to check its signed length and hashes (nothing is
 *   written to a slot before all of it passes: metadata, hardware id,
 *   security floor, slot capacity, image hash), then
 *   1. state.json: target slot = writing     (the slot is not bootable)
 *   2. the image streamed into the inactive slot while hashing; fsync
 *   3. the slot read back and hashed again against the signed hash
 *   4. state.json: slot = installed (or awaiting-approval: stop here)
 *   5. bootloader: try the slot once (one atomic environment update)
 *   6. state.json: slot = trial; then the reboot command
 * The bootloader never points at a slot before step 5, so a power loss at
 * any earlier instant boots the old slot; after step 5 the new slot is
 * complete and verified, and the bootloader falls back on its own if it
 * does not come up healthy.
 *
 * Every stage is reported to ward-server through the outbox of
 * agent/report.c (downloading, installed, awaiting-local-approval, booted,
 * healthy, rolled-back, failed), and an image that rolled back or did not
 * read back after a verified download is not installed again (state.json
 * "refused"); a download that failed is tried again at the next update.
 */
#ifndef WARD_AGENT_H
#define WARD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "state.h"
#include "ward/err.h"

/* Verify a bundle and install it into the inactive slot (see above). */
ward_err agent_install(const struct agent_config *cfg, const char *bundle, struct ward_msg *m) WARD_MUST_USE;

/*
 * The pipeline's steps for any source of a verified TUF target (the bundle
 * above, the director in agent/update.c):
 *	struct agent_install in;
 *	e = agent_install_begin(cfg, &in, m);      lock, state, which slot, no trial pending
 *	... refresh trust, find target t ...
 *	e = agent_install_check(cfg, &in, t, &version, m);   hardware id, floor, sha256, capacity
 *	e = agent_install_write(cfg, &in, c, t, version, m); steps 1-6 above
 *	agent_install_end(&in);                    always, after a successful begin
 */
struct agent_install {
	struct agent_state st; /* the device's state, saved at each step */
	int booted;            /* the running slot */
	int slot;              /* the slot written: the other one */
	int lockfd;            /* STATE_DIR/lock, -1 once released */
	bool online;           /* the image comes from the server: the download is resumable
				* (progress in state.json) and reported ("downloading") */
};
ward_err agent_install_begin(const struct agent_config *cfg, struct agent_install *in,
			     struct ward_msg *m) WARD_MUST_USE;
void agent_install_end(struct agent_install *in);
struct ward_tuf_target;
struct ward_tuf_client;
struct ward_fetcher;
ward_err agent_install_check(const struct agent_config *cfg, const struct agent_install *in,
			     const struct ward_tuf_target *t, const char **version,
			     struct ward_msg *m) WARD_MUST_USE;
/*
 * Steps 1-6; c fetches t (at most its signed length, every hash checked).
 * With in->online, a download that the network interrupted keeps what is
 * durable in the slot (state.json: writing, "written" bytes, fsynced first)
 * and the next call for the same image resumes there (HTTP Range), the
 * prefix hashed again from the slot; when the result does not verify, the
 * prefix is dropped and the whole image fetched once more in the same call.
 * Each stage is reported (agent/report.h). A failure leaves the slot bad (not
 * bootable); only a read-back mismatch after a download verified from byte 0
 * marks the image refused on this device (agent_state_refuse): a failed
 * download (not found, hashes, too long, no room, state file) does not.
 */
ward_err agent_install_write(const struct agent_config *cfg, struct agent_install *in,
			     struct ward_tuf_client *c, const struct ward_tuf_target *t, const char *version,
			     struct ward_msg *m) WARD_MUST_USE;
/* Open the trust directory STATE_DIR/subdir, started from initial_root the first time. */
ward_err agent_open_trust(const struct agent_config *cfg, const char *subdir, const char *initial_root,
			  const struct ward_fetcher *f, const char *murl, const char *turl,
			  struct ward_tuf_client **out, struct ward_msg *m) WARD_MUST_USE;
/* Install what the director names for this device, when the image repository agrees
 * (agent/update.c). *installed (optional) says whether a slot was written. */
ward_err agent_update(const struct agent_config *cfg, bool *installed, struct ward_msg *m) WARD_MUST_USE;
/* Hand an installed or awaiting slot to the bootloader and reboot. */
ward_err agent_approve(const struct agent_config *cfg, struct ward_msg *m) WARD_MUST_USE;
/* The same, only when window_only is false or the maintenance window is open
 * now; *done (optional) says whether a slot was activated. Nothing waiting is
 * not an error when window_only. */
ward_err agent_approve_if(const struct agent_config *cfg, bool window_only, bool *done,
			  struct ward_msg *m) WARD_MUST_USE;
/*
 * At start-up: find which slot booted and settle any trial: run the health
 * check on a trial boot and confirm or roll back; record a rollback the
 * bootloader did on its own. *summary (optional) gets one line for the log.
 */
ward_err agent_confirm_boot(const struct agent_config *cfg, char *summary, size_t n,
			    struct ward_msg *m) WARD_MUST_USE;
/* Mark the booted slot good or bad by hand. */
ward_err agent_mark(const struct agent_config *cfg, bool good, struct ward_msg *m) WARD_MUST_USE;
/* Print the device's status as text or JSON on stdout. */
ward_err agent_status(const struct agent_config *cfg, bool json, struct ward_msg *m) WARD_MUST_USE;

/* POST body to path under [server] url over mutual TLS; the response body (at
 * most 64 KiB) goes into out, which this initialises (caller frees it with
 * ward_buf_free, on success only). */
struct ward_buf;
ward_err agent_post(const struct agent_config *cfg, const char *path, const char *ctype,
		    const void *body, size_t len, long *status, struct ward_buf *out,
		    struct ward_msg *m) WARD_MUST_USE;

/* Check in with ward-server (mutual TLS) and renew the certificate when the
 * server says it is due. *next gets the seconds until the next check-in. */
ward_err agent_checkin(const struct agent_config *cfg, unsigned *next, struct ward_msg *m) WARD_MUST_USE;

/* Hand slot to the bootloader for a trial boot, record it, report "installed"
 * (and send the outbox first when send is true), run the reboot command. */
ward_err agent_activate(const struct agent_config *cfg, struct agent_state *st, int slot, bool send,
			struct ward_msg *m) WARD_MUST_USE;
/* Does the slot at path hold exactly length bytes hashing to want (SHA-256)? */
ward_err agent_slot_readback(const char *path, uint64_t length, const uint8_t *want,
			     struct ward_msg *m) WARD_MUST_USE;

/* Run a command (split on spaces, no shell) with a timeout in seconds; *healthy
 * is true when it exited 0 in time. */
ward_err agent_run(const char *command, unsigned timeout, bool *ok, char *why, size_t n,
		   struct ward_msg *m) WARD_MUST_USE;
/* Exclusive lock on STATE_DIR/lock for commands that change state; returns the fd. */
ward_err agent_lock(const struct agent_config *cfg, int *fd, struct ward_msg *m) WARD_MUST_USE;

#endif
