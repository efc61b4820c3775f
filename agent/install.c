/*
 * agent/install.c — the install pipeline (order and fsync points in
 * agent/agent.h), local approval, and the state lock.
 *
 * Nothing reaches a slot before the bundle passed TUF verification against
 * the device's own trust directory (STATE_DIR/tuf, started from the
 * configured root) and the image's custom fields passed the device's checks.
 * The image is streamed from the bundle into the slot in fixed chunks while
 * it is hashed (no temporary copy, memory bounded whatever its size), then
 * read back and hashed again so that a storage fault cannot leave an image
 * the bootloader will try that differs from the one that was signed.
 *
 * Downloads from the server resume: every CHECKPOINT bytes, and when the
 * network fails, the slot is fsynced and then state.json records how many
 * bytes of which image (sha256) are durable in it ("written"). The next
 * install of the same image hashes that prefix again from the slot and
 * fetches the rest with a range request; a server that cannot resume gets
 * the whole image asked again. The final hashes cover every byte either way.
 * A resumed download whose hashes do not match (a stale or corrupt prefix in
 * the slot) is tried once more from byte 0 in the same run.
 *
 * Which failures make the image refused on this device (state.json
 * "refused", agent/update.c): only a failure of the image itself, that is a
 * rollback (agent/confirm.c) or a read-back mismatch after a download that was
 * verified against the signed hashes from byte 0 in this run. A download that
 * failed (not found, bad hashes, too long, no room, a slot or state file that
 * cannot be written) is reported "failed" and leaves the slot not bootable,
 * and the next update tries again.
 *
 * Stage reports (agent/report.h) are appended just before the state.json
 * write that records the stage, so that state.json stays the last file each
 * command replaces: a power cut in between leaves a report of a stage the
 * next run finds (and settles) anyway, never a state the server is not told.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "boot.h"
#include "report.h"
#include "ward/bundle.h"
#include "ward/crypto.h"
#include "ward/tuf.h"
#include "ward/version.h"

#define CHUNK (256u * 1024)
#define CHECKPOINT (1024u * 1024) /* resumable downloads: progress recorded every MiB */

ward_err agent_lock(const struct agent_config *cfg, int *fd, struct ward_msg *m)
{
	char path[PATH_MAX];
	ward_err e = ward_mkdir_p(cfg->state_dir, 0700, m);
	int f;

	if (e)
		return e;
	if (ward_snprintf(path, sizeof(path), "%s/lock", cfg->state_dir))
		return ward_msg_set(m, WARD_E_TOOBIG, "state directory path too long");
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0)
		return ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		close(f);
		return ward_msg_set(m, WARD_E_DENIED, "another wardd command is changing the device (%s)", path);
	}
	*fd = f;
	return WARD_OK;
}

ward_err agent_open_trust(const struct agent_config *cfg, const char *subdir, const char *initial_root,
			  const struct ward_fetcher *f, const char *murl, const char *turl,
			  struct ward_tuf_client **out, struct ward_msg *m)
{
	char dir[PATH_MAX], root[PATH_MAX];
	struct ward_tuf_config tc = {0};

	if (ward_snprintf(dir, sizeof(dir), "%s/%s", cfg->state_dir, subdir) ||
	    ward_snprintf(root, sizeof(root), "%s/root.json", dir))
		return ward_msg_set(m, WARD_E_TOOBIG, "state directory path too long");
	if (access(root, F_OK) != 0) {
		ward_err e = ward_tuf_init(dir, initial_root, m);

		if (e)
			return e;
	}
	tc.metadata_dir = dir;
	tc.metadata_url = murl;
	tc.target_base_url = turl;
	return ward_tuf_open(&tc, f, out, m);
}

/* Open the device's trust directory, starting it from the configured root the first time. */
static ward_err open_trust(const struct agent_config *cfg, const struct ward_fetcher *f,
			   const char *murl, const char *turl, struct ward_tuf_client **out,
			   struct ward_msg *m)
{
	return agent_open_trust(cfg, "tuf", cfg->trusted_root, f, murl, turl, out, m);
}

/* Capacity of a slot: a block device's size, or the configured size of a file slot. */
static ward_err slot_capacity(const struct agent_config *cfg, int slot, uint64_t *cap,
			      struct ward_msg *m)
{
	struct stat st;

	if (stat(cfg->slot[slot], &st) == 0 && S_ISBLK(st.st_mode)) {
		int fd = open(cfg->slot[slot], O_RDONLY | O_CLOEXEC);
		uint64_t size = 0;

		if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) != 0) {
			if (fd >= 0)
				close(fd);
			return ward_msg_set(m, WARD_E_IO, "%s: cannot read its size", cfg->slot[slot]);
		}
		close(fd);
		*cap = size;
		return WARD_OK;
	}
	if (!cfg->slot_size)
		return ward_msg_set(m, WARD_E_INVAL, "[slots] size is required for file slots (%s)",
				    cfg->slot[slot]);
	*cap = cfg->slot_size;
	return WARD_OK;
}

static ward_err discard(void *ctx, const void *data, size_t n)
{
	(void)ctx;
	(void)data;
	(void)n;
	return WARD_OK;
}

struct slot_writer {
	int fd;          /* the slot */
	int rfd;         /* the slot opened for reading back a held prefix, or -1 */
	uint64_t off;    /* next write offset */
	const char *path;
	int err;         /* errno of the first failed write */
	/* progress of a resumable download (cfg NULL: none recorded) */
	const struct agent_config *cfg;
	struct agent_state *st; /* saved at each checkpoint */
	int slot;               /* which slot st->slot[] describes */
	uint64_t saved;         /* bytes recorded durable in state.json */
	bool ckfailed;          /* a checkpoint failed: ckmsg says why */
	struct ward_msg ckmsg;
	bool rfailed;           /* the held prefix could not be read back */
};

/* fsync the slot, then record in state.json that w->off bytes are durable. */
static ward_err checkpoint(struct slot_writer *w)
{
	if (!w->cfg || w->off == w->saved)
		return WARD_OK;
	if (fsync(w->fd) != 0) {
		w->ckfailed = true;
		return ward_msg_set(&w->ckmsg, WARD_E_IO, "%s: fsync: %s", w->path, strerror(errno));
	}
	w->st->slot[w->slot].written = w->off;
	if (agent_state_save(w->cfg, w->st, &w->ckmsg)) {
		w->ckfailed = true;
		return WARD_E_IO;
	}
	w->saved = w->off;
	return WARD_OK;
}

static ward_err slot_sink(void *ctx, const void *data, size_t n)
{
	struct slot_writer *w = ctx;
	const uint8_t *p = data;

	while (n) {
		ssize_t r = pwrite(w->fd, p, n, (off_t)w->off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			w->err = r < 0 ? errno : ENOSPC;
			return WARD_E_IO;
		}
		p += r;
		n -= (size_t)r;
		w->off += (uint64_t)r;
	}
	if (w->cfg && w->off - w->saved >= CHECKPOINT)
		return checkpoint(w);
	return WARD_OK;
}

/* ward_tuf_resume.read: n bytes of the slot at `at` (the prefix held from before). */
static ward_err slot_read(void *ctx, uint64_t at, void *buf, size_t n)
{
	struct slot_writer *w = ctx;
	uint8_t *p = buf;

	while (n) {
		ssize_t r = pread(w->rfd, p, n, (off_t)at);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			w->rfailed = true;
			return WARD_E_IO;
		}
		p += r;
		n -= (size_t)r;
		at += (uint64_t)r;
	}
	return WARD_OK;
}

/* ward_tuf_resume.rewind: the server could not resume; the image comes again from byte 0. */
static ward_err slot_rewind(void *ctx)
{
	struct slot_writer *w = ctx;

	w->off = 0;
	if (!w->cfg)
		return WARD_OK;
	w->st->slot[w->slot].written = 0;
	if (agent_state_save(w->cfg, w->st, &w->ckmsg)) {
		w->ckfailed = true;
		return WARD_E_IO;
	}
	w->saved = 0;
	return WARD_OK;
}

/* Read back length bytes of the slot and compare their SHA-256 with want. */
ward_err agent_slot_readback(const char *path, uint64_t length, const uint8_t *want, struct ward_msg *m)
{
	struct ward_hash *h = NULL;
	uint8_t *buf = malloc(CHUNK), got[WARD_SHA256_LEN];
	uint64_t off = 0;
	ward_err result = WARD_E_VERIFY;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf || ward_crypto_hash_new(WARD_HASH_SHA256, &h)) {
		result = ward_msg_set(m, WARD_E_IO, "%s: cannot read back: %s", path, strerror(errno));
		goto out;
	}
	/* drop cached pages so the bytes come from the storage, where possible */
	posix_fadvise(fd, 0, (off_t)length, POSIX_FADV_DONTNEED);
	while (off < length) {
		size_t n = length - off < CHUNK ? (size_t)(length - off) : CHUNK;
		ssize_t r = pread(fd, buf, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			result = ward_msg_set(m, WARD_E_IO, "%s: read back failed at byte %llu", path,
					      (unsigned long long)off);
			goto out;
		}
		if (ward_crypto_hash_update(h, buf, (size_t)r)) {
			result = ward_msg_set(m, WARD_E_CRYPTO, "cannot hash");
			goto out;
		}
		off += (uint64_t)r;
	}
	if (ward_crypto_hash_final(h, got)) {
		result = ward_msg_set(m, WARD_E_CRYPTO, "cannot hash");
		goto out;
	}
	if (!ward_ct_eq(got, want, sizeof(got))) {
		result = ward_msg_set(m, WARD_E_VERIFY,
				      "%s: what was written does not read back as the signed image (storage fault?)",
				      path);
		goto out;
	}
	result = WARD_OK;
out:
	if (fd >= 0)
		close(fd);
	ward_crypto_hash_free(h);
	free(buf);
	return result;
}

/* Check the image's custom fields against this device before a byte is written. */
static ward_err check_target(const struct agent_config *cfg, const struct agent_state *st,
			     const struct ward_tuf_target *t, const char **version, struct ward_msg *m)
{
	json_t *hw, *ver;

	if (!t->custom)
		return ward_msg_set(m, WARD_E_DENIED, "image \"%.100s\" carries no hardware id or version", t->path);
	hw = json_object_get(t->custom, "hardware_id");
	ver = json_object_get(t->custom, "version");
	if (!json_is_string(hw) || strcmp(json_string_value(hw), cfg->hardware_id))
		return ward_msg_set(m, WARD_E_DENIED, "image is for hardware \"%.60s\", this device is \"%s\"",
				    json_is_string(hw) ? json_string_value(hw) : "(none)", cfg->hardware_id);
	if (!json_is_string(ver) || !ward_version_valid(json_string_value(ver)))
		return ward_msg_set(m, WARD_E_DENIED, "image has no valid version");
	if (st->floor[0] && ward_version_cmp(json_string_value(ver), st->floor) < 0)
		return ward_msg_set(m, WARD_E_ROLLBACK,
				    "image version %s is below this device's security floor %s (downgrade refused)",
				    json_string_value(ver), st->floor);
	if (!t->info.has_sha256)
		return ward_msg_set(m, WARD_E_UNSUPPORTED, "image lists no sha256");
	*version = json_string_value(ver);
	return WARD_OK;
}

ward_err agent_activate(const struct agent_config *cfg, struct agent_state *st, int slot, bool send,
			struct ward_msg *m)
{
	const struct agent_boot_ops *ops = agent_boot_ops(cfg);
	ward_err e;

	e = ops->try_once(cfg, slot, m);
	if (e)
		return ward_msg_prefix(m, e, "bootloader (%s): ", ops->name);
	/* reported (and sent) once the bootloader was told, before the reboot command (it may
	 * not return); state.json stays the last write, as everywhere (see the essay) */
	agent_report(cfg, AGENT_STAGE_INSTALLED, st->slot[slot].target, st->slot[slot].version, "",
		     send ? AGENT_REPORT_SEND : 0);
	st->slot[slot].state = AGENT_SLOT_TRIAL;
	e = agent_state_save(cfg, st, m);
	if (e)
		return e;
	printf("slot %s will be tried on the next boot\n", agent_slot_name(slot));
	if (cfg->reboot_command[0]) {
		bool ok;
		char why[128];

		fflush(stdout);
		e = agent_run(cfg->reboot_command, 60, &ok, why, sizeof(why), m);
		if (!e && !ok)
			e = ward_msg_set(m, WARD_E_IO, "reboot command failed: %s", why);
	}
	return e;
}

ward_err agent_install_begin(const struct agent_config *cfg, struct agent_install *in, struct ward_msg *m)
{
	ward_err e;

	memset(in, 0, sizeof(*in));
	in->lockfd = -1;
	e = agent_lock(cfg, &in->lockfd, m);
	if (e)
		return e;
	e = agent_state_load(cfg, &in->st, m);
	if (!e)
		e = agent_boot_booted(cfg, &in->booted, m);
	if (e)
		goto out;
	in->slot = 1 - in->booted;
	{
		/*
		 * Ask the bootloader, not only state.json (a power cut may have left
		 * the record behind): never write the slot the bootloader falls back
		 * to while the running slot is still on trial or unconfirmed.
		 */
		const struct agent_boot_ops *ops = agent_boot_ops(cfg);
		struct agent_boot_state q;

		e = ops->query(cfg, &q, m);
		if (e)
			goto out;
		if (q.trial == in->booted || q.good != in->booted) {
			e = ward_msg_set(m, WARD_E_DENIED,
					 "the running slot %s is not confirmed yet (slot %s is the bootloader's "
					 "fallback); let wardd confirm it first",
					 agent_slot_name(in->booted), agent_slot_name(in->slot));
			goto out;
		}
	}
	if (in->st.slot[in->booted].state == AGENT_SLOT_TRIAL) {
		e = ward_msg_set(m, WARD_E_DENIED,
				 "the running slot %s is still on trial; let wardd confirm it (or mark it) first",
				 agent_slot_name(in->booted));
		goto out;
	}
	if (in->st.slot[in->slot].state == AGENT_SLOT_TRIAL) {
		e = ward_msg_set(m, WARD_E_DENIED, "slot %s is on trial; reboot into it or mark it bad first",
				 agent_slot_name(in->slot));
		goto out;
	}
out:
	if (e)
		agent_install_end(in);
	return e;
}

void agent_install_end(struct agent_install *in)
{
	if (in->lockfd >= 0)
		close(in->lockfd);
	in->lockfd = -1;
}

ward_err agent_install_check(const struct agent_config *cfg, const struct agent_install *in,
			     const struct ward_tuf_target *t, const char **version, struct ward_msg *m)
{
	uint64_t cap = 0;
	ward_err e;

	e = check_target(cfg, &in->st, t, version, m);
	if (!e)
		e = slot_capacity(cfg, in->slot, &cap, m);
	if (e)
		return e;
	if (t->info.length > cap)
		return ward_msg_set(m, WARD_E_TOOBIG, "image of %llu bytes does not fit slot %s (%llu bytes)",
				    (unsigned long long)t->info.length, agent_slot_name(in->slot),
				    (unsigned long long)cap);
	return WARD_OK;
}

ward_err agent_install_write(const struct agent_config *cfg, struct agent_install *in,
			     struct ward_tuf_client *c, const struct ward_tuf_target *t, const char *version,
			     struct ward_msg *m)
{
	struct agent_state *st = &in->st;
	struct slot_writer w;
	struct ward_tuf_resume r = {0};
	int slot = in->slot;
	struct agent_slot_info *si = &st->slot[slot];
	char hex[2 * WARD_SHA256_LEN + 1], why[64] = "";
	uint64_t have = 0;
	bool refuse = false; /* the failure is the image's own: refuse it from now on */
	ward_err e;

	memset(&w, 0, sizeof(w));
	w.fd = w.rfd = -1;
	ward_hex_encode(t->info.sha256, WARD_SHA256_LEN, hex);
	/* an interrupted download of this very image goes on where its durable prefix ends */
	if (in->online && si->state == AGENT_SLOT_WRITING && !strcmp(si->sha256, hex) &&
	    si->length == t->info.length && si->written > 0 && si->written <= t->info.length)
		have = si->written;
	if (!have) {
		/* 1. the slot is being written: not bootable */
		memset(si, 0, sizeof(*si));
		si->state = AGENT_SLOT_WRITING;
		snprintf(si->version, sizeof(si->version), "%s", version);
		snprintf(si->target, sizeof(si->target), "%s", t->path);
		memcpy(si->sha256, hex, sizeof(si->sha256));
		si->length = t->info.length;
		e = agent_state_save(cfg, st, m);
		if (e)
			goto out;
	} else {
		printf("resuming the download of %s at byte %llu of %llu\n", t->path, (unsigned long long)have,
		       (unsigned long long)t->info.length);
		snprintf(why, sizeof(why), "resuming at byte %llu of %llu", (unsigned long long)have,
			 (unsigned long long)t->info.length);
	}
	if (in->online)
		agent_report(cfg, AGENT_STAGE_DOWNLOADING, t->path, version, why, AGENT_REPORT_SEND);
	/* 2. stream into the slot while hashing; TUF checks length and hashes at the end */
	w.path = cfg->slot[slot];
	w.fd = open(w.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (w.fd >= 0 && have)
		w.rfd = open(w.path, O_RDONLY | O_CLOEXEC);
	if (w.fd < 0 || (have && w.rfd < 0)) {
		e = ward_msg_set(m, WARD_E_IO, "%s: %s", w.path, strerror(errno));
		goto fail;
	}
	w.off = w.saved = have;
	if (in->online) {
		w.cfg = cfg;
		w.st = st;
		w.slot = slot;
	}
	for (int attempt = 0;; attempt++) {
		memset(&r, 0, sizeof(r));
		r.have = have;
		r.read = slot_read;
		r.rewind = slot_rewind;
		r.ctx = &w;
		w.rfailed = false;
		e = ward_tuf_fetch_target_resume(c, t, &r, slot_sink, &w, m);
		if (w.ckfailed)
			break;
		/*
		 * The prefix held from an earlier run is not the image's (a stale or
		 * corrupt slot, or a server that sent other bytes for the rest): that
		 * is not the image's fault. Drop the prefix and fetch it all once more.
		 */
		if (attempt == 0 && r.from > 0 && (e == WARD_E_VERIFY || (e == WARD_E_IO && w.rfailed))) {
			printf("the resumed download of %s does not verify (%s): fetching the whole image "
			       "again\n",
			       t->path, m->text);
			fflush(stdout);
			if (slot_rewind(&w))
				break;
			have = 0;
			continue;
		}
		break;
	}
	if (w.ckfailed)
		e = ward_msg_set(m, WARD_E_IO, "recording the download's progress: %s", w.ckmsg.text);
	else if (e == WARD_E_IO && w.err)
		e = ward_msg_set(m, WARD_E_IO, "%s: write failed at byte %llu: %s", w.path,
				 (unsigned long long)w.off, strerror(w.err));
	if (e == WARD_E_NET && in->online) {
		/* interrupted: keep what is durable for the next attempt, which resumes there */
		if (checkpoint(&w) == WARD_OK)
			printf("download interrupted after %llu of %llu bytes (%llu fetched now): the next "
			       "update resumes there\n",
			       (unsigned long long)w.off, (unsigned long long)t->info.length,
			       (unsigned long long)r.fetched);
		goto out;
	}
	if (e)
		goto fail;
	if (in->online)
		printf("downloaded %llu bytes from byte %llu%s\n", (unsigned long long)r.fetched,
		       (unsigned long long)r.from,
		       r.restarted ? " (the server could not resume: the whole image again)" : "");
	{
		struct stat sst;

		if (fstat(w.fd, &sst) == 0 && S_ISREG(sst.st_mode) &&
		    ftruncate(w.fd, (off_t)t->info.length) != 0) {
			e = ward_msg_set(m, WARD_E_IO, "%s: %s", w.path, strerror(errno));
			goto fail;
		}
	}
	if (fsync(w.fd) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s: fsync: %s", w.path, strerror(errno));
		goto fail;
	}
	close(w.fd);
	w.fd = -1;
	/* 3. read back */
	e = agent_slot_readback(w.path, t->info.length, t->info.sha256, m);
	/*
	 * Every byte was verified against the signed hashes as it went in, from
	 * byte 0 in this run, yet the slot reads back other bytes: this image does
	 * not survive this device's storage. Refused from now on (a read error, or
	 * a prefix from an earlier run, is not that proof).
	 */
	if (e == WARD_E_VERIFY && r.from == 0)
		refuse = true;
	if (e)
		goto fail;
	/* 4. installed, or waiting for approval */
	si->state = cfg->policy == AGENT_POLICY_APPROVE ? AGENT_SLOT_AWAITING : AGENT_SLOT_INSTALLED;
	si->written = 0;
	if (cfg->policy == AGENT_POLICY_APPROVE)
		agent_report(cfg, AGENT_STAGE_AWAITING, t->path, version, "", AGENT_REPORT_SEND);
	e = agent_state_save(cfg, st, m);
	if (e)
		goto out;
	printf("installed %s %s into slot %s (%llu bytes, verified)\n", t->path, version,
	       agent_slot_name(slot), (unsigned long long)t->info.length);
	if (cfg->policy == AGENT_POLICY_APPROVE) {
		printf("waiting for local approval: run `wardd approve` when a reboot is safe\n");
		goto out;
	}
	/* 5, 6. hand it to the bootloader and reboot */
	e = agent_activate(cfg, st, slot, true, m);
	goto out;
fail:
	{
		struct ward_msg keep = *m;
		struct ward_msg ignored;

		si->state = AGENT_SLOT_BAD;
		si->written = 0;
		snprintf(si->reason, sizeof(si->reason), "install failed: %.200s", keep.text);
		if (refuse)
			agent_state_refuse(st, slot, false, keep.text);
		agent_report(cfg, AGENT_STAGE_FAILED, t->path, version, keep.text, AGENT_REPORT_SEND);
		if (agent_state_save(cfg, st, &ignored))
			fprintf(stderr, "wardd: could not record the failure: %s\n", ignored.text);
		*m = keep;
	}
out:
	if (w.fd >= 0)
		close(w.fd);
	if (w.rfd >= 0)
		close(w.rfd);
	return e;
}

ward_err agent_install(const struct agent_config *cfg, const char *bundle, struct ward_msg *m)
{
	struct ward_bundle *b = NULL;
	struct ward_tuf_client *c = NULL;
	const struct ward_tuf_target *t;
	struct ward_fetcher f;
	struct agent_install in;
	const char *version = NULL;
	ward_err e;

	e = agent_install_begin(cfg, &in, m);
	if (e)
		return e;
	e = ward_bundle_open(bundle, &b, m);
	if (e)
		goto out;
	ward_bundle_fetcher(b, &f);
	e = open_trust(cfg, &f, WARD_BUNDLE_METADATA_URL, WARD_BUNDLE_TARGETS_URL, &c, m);
	if (!e)
		e = ward_tuf_refresh(c, m);
	if (!e)
		e = ward_tuf_find_target(c, ward_bundle_target(b), &t, m);
	if (!e)
		e = agent_install_check(cfg, &in, t, &version, m);
	if (e)
		goto out;
	/* A local bundle can be read twice: verify the image's length and hashes
	 * before a byte reaches the slot (streaming, nothing kept in memory). The
	 * write below hashes again, so a bundle changed in between is caught too. */
	e = ward_tuf_fetch_target(c, t, discard, NULL, m);
	if (!e)
		e = agent_install_write(cfg, &in, c, t, version, m);
out:
	ward_tuf_free(c);
	ward_bundle_free(b);
	agent_install_end(&in);
	return e;
}

ward_err agent_approve(const struct agent_config *cfg, struct ward_msg *m)
{
	return agent_approve_if(cfg, false, NULL, m);
}

ward_err agent_approve_if(const struct agent_config *cfg, bool window_only, bool *done,
			  struct ward_msg *m)
{
	struct agent_state st;
	int lockfd = -1, slot = -1;
	ward_err e;

	if (done)
		*done = false;
	e = agent_lock(cfg, &lockfd, m);
	if (e)
		return e;
	e = agent_state_load(cfg, &st, m);
	if (e)
		goto out;
	for (int i = 0; i < 2; i++)
		if (st.slot[i].state == AGENT_SLOT_AWAITING || st.slot[i].state == AGENT_SLOT_INSTALLED)
			slot = i;
	if (slot < 0) {
		if (!window_only)
			e = ward_msg_set(m, WARD_E_NOTFOUND, "no installed update is waiting for approval");
		goto out;
	}
	if (window_only && !agent_config_in_window(cfg, (long)time(NULL)))
		goto out; /* not now */
	if (window_only)
		printf("maintenance window open: activating slot %s\n", agent_slot_name(slot));
	e = agent_activate(cfg, &st, slot, true, m);
	if (!e && done)
		*done = true;
out:
	close(lockfd);
	return e;
}
