/*
 * agent/update.c — `wardd update`: install what the director names, the
 * Uptane way. Two TUF repositories are refreshed from ward-server over
 * mutual TLS, each against its own trust directory:
 *   STATE_DIR/director  the device's director repository (online key),
 *                       started from [server] director_root;
 *                       URL <url>/api/v1/device/director
 *   STATE_DIR/tuf       the image repository (offline release key), started
 *                       from [device] trusted_root; URL <url>/repo/metadata,
 *                       images from <url>/repo/targets
 * The director's targets must name exactly one image (none: nothing to do).
 * The image repository must list the same path, and both must agree on its
 * length, sha256 (and sha512 when both list it), hardware id (this
 * device's) and version, which must not be below the device's floor. Every
 * check passes before a byte is written to a slot; then the image streams
 * into the inactive slot through the pipeline of agent/install.c, fetched no
 * longer than its signed length with every hash checked, and resumed where
 * an interrupted download of the same image left off.
 *
 * Reports (agent/report.h): a refusal is reported "failed" with its reason,
 * once while it stays the same (dedupe); a network failure is not a refusal
 * and is not reported. An image that rolled back on this device, or did not
 * read back from its slot after a download verified from byte 0 (state.json
 * "refused", agent/install.c), is not installed again: that is reported
 * "failed" once, and refused at every update. A download that failed (the
 * target not found, bad hashes, no room, ...) is reported "failed" by the
 * pipeline and is not a refusal: the next update tries again.
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "boot.h"
#include "report.h"
#include "ward/crypto.h"
#include "ward/net.h"
#include "ward/tuf.h"

/* custom[key] as a string, or NULL. */
static const char *custom_str(const struct ward_tuf_target *t, const char *key)
{
	json_t *v = t->custom ? json_object_get(t->custom, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Do the director's target d and the image repository's target i describe
 * the same image for this device? Fail closed: WARD_E_DENIED until the last
 * line.
 */
static ward_err agree(const struct agent_config *cfg, const struct ward_tuf_target *d,
		      const struct ward_tuf_target *i, struct ward_msg *m)
{
	const char *dhw = custom_str(d, "hardware_id"), *ihw = custom_str(i, "hardware_id");
	const char *dv = custom_str(d, "version"), *iv = custom_str(i, "version");
	ward_err result = WARD_E_DENIED;

	if (d->info.length != i->info.length) {
		result = ward_msg_set(m, WARD_E_DENIED,
				      "director and image repository disagree on the length of \"%.100s\" (%llu vs %llu bytes)",
				      d->path, (unsigned long long)d->info.length,
				      (unsigned long long)i->info.length);
		goto out;
	}
	if (!d->info.has_sha256 || !i->info.has_sha256 ||
	    !ward_ct_eq(d->info.sha256, i->info.sha256, WARD_SHA256_LEN)) {
		result = ward_msg_set(m, WARD_E_DENIED,
				      "director and image repository disagree on the sha256 of \"%.100s\"", d->path);
		goto out;
	}
	if (d->info.has_sha512 && i->info.has_sha512 &&
	    !ward_ct_eq(d->info.sha512, i->info.sha512, WARD_SHA512_LEN)) {
		result = ward_msg_set(m, WARD_E_DENIED,
				      "director and image repository disagree on the sha512 of \"%.100s\"", d->path);
		goto out;
	}
	if (!dhw || !ihw || strcmp(dhw, ihw) || strcmp(ihw, cfg->hardware_id)) {
		result = ward_msg_set(m, WARD_E_DENIED,
				      "image \"%.100s\" is for hardware \"%.60s\" (director says \"%.60s\"); this device is \"%s\"",
				      d->path, ihw ? ihw : "(none)", dhw ? dhw : "(none)", cfg->hardware_id);
		goto out;
	}
	if (!dv || !iv || strcmp(dv, iv)) {
		result = ward_msg_set(m, WARD_E_DENIED,
				      "director and image repository disagree on the version of \"%.100s\" (%.40s vs %.40s)",
				      d->path, dv ? dv : "(none)", iv ? iv : "(none)");
		goto out;
	}
	result = WARD_OK;
out:
	return result;
}

/* Is e a refusal worth reporting (rather than a network failure, tried again at the next update)? */
static bool reportable(ward_err e)
{
	return e != WARD_OK && e != WARD_E_NET && e != WARD_E_NOMEM;
}

ward_err agent_update(const struct agent_config *cfg, bool *installed, struct ward_msg *m)
{
	struct ward_net_opts o = {0};
	struct ward_net *net = NULL;
	struct ward_fetcher f;
	struct ward_tuf_client *dc = NULL, *ic = NULL;
	const struct ward_tuf_meta *dt;
	const struct ward_tuf_target *d = NULL, *i;
	struct agent_install in;
	const char *version = NULL;
	char durl[1200], murl[1200], turl[1200];
	bool begun = false, reported = false;
	ward_err e;

	if (installed)
		*installed = false;
	if (!cfg->server_url[0])
		return ward_msg_set(m, WARD_E_INVAL, "no [server] url: this device has no director");
	if (!cfg->director_root[0])
		return ward_msg_set(m, WARD_E_INVAL,
				    "no [server] director_root: pin the director's root (DIR/ca/director-root.json)");
	if (ward_snprintf(durl, sizeof(durl), "%s/api/v1/device/director", cfg->server_url) ||
	    ward_snprintf(murl, sizeof(murl), "%s/repo/metadata", cfg->server_url) ||
	    ward_snprintf(turl, sizeof(turl), "%s/repo/targets", cfg->server_url))
		return ward_msg_set(m, WARD_E_TOOBIG, "server URL too long");
	e = agent_install_begin(cfg, &in, m);
	if (e)
		return e;
	begun = true;
	in.online = true;
	o.ca_file = cfg->server_ca;
	o.client_cert = cfg->device_cert;
	o.client_key = cfg->device_key;
	e = ward_net_new(&o, &net, m);
	if (e) {
		reported = true; /* the device's own configuration: nothing to tell the server */
		goto out;
	}
	ward_net_fetcher(net, &f);
	/* the director: what this device should install */
	e = agent_open_trust(cfg, "director", cfg->director_root, &f, durl, NULL, &dc, m);
	if (!e)
		e = ward_tuf_refresh(dc, m);
	if (e) {
		ward_msg_prefix(m, e, "director: ");
		goto out;
	}
	dt = ward_tuf_trusted(dc, WARD_TUF_TARGETS);
	if (!dt || dt->ntargets == 0) {
		printf("the director names no image for this device: nothing to install\n");
		goto out;
	}
	if (dt->ntargets != 1) {
		e = ward_msg_set(m, WARD_E_DENIED, "director: names %zu images for this device, expected one",
				 dt->ntargets);
		goto out;
	}
	d = &dt->targets[0];
	/* the image repository: what the release key signed */
	e = agent_open_trust(cfg, "tuf", cfg->trusted_root, &f, murl, turl, &ic, m);
	if (!e)
		e = ward_tuf_refresh(ic, m);
	if (e) {
		ward_msg_prefix(m, e, "image repository: ");
		goto out;
	}
	e = ward_tuf_find_target(ic, d->path, &i, m);
	if (e == WARD_E_NOTFOUND) {
		e = ward_msg_set(m, WARD_E_DENIED,
				 "the director names \"%.100s\", which the image repository does not list: refused",
				 d->path);
		goto out;
	}
	if (e) {
		ward_msg_prefix(m, e, "image repository: ");
		goto out;
	}
	e = agree(cfg, d, i, m);
	if (!e)
		e = agent_install_check(cfg, &in, i, &version, m);
	if (e)
		goto out;
	{
		char hex[2 * WARD_SHA256_LEN + 1];
		struct agent_refused *ref;

		ward_hex_encode(i->info.sha256, WARD_SHA256_LEN, hex);
		/* an image that failed here before is not tried again: said to the server once */
		ref = agent_state_refused(&in.st, hex);
		if (ref) {
			char why[512]; /* cut to AGENT_REPORT_REASON_MAX in the report */

			snprintf(why, sizeof(why), "image %.200s %s on this device before (%.200s)", i->path,
				 ref->rolled_back ? "rolled back" : "failed to install", ref->reason);
			e = ward_msg_set(m, WARD_E_DENIED, "image %s %s on this device before (%.200s): not installing it again",
					 i->path, ref->rolled_back ? "rolled back" : "failed to install", ref->reason);
			reported = true;
			if (!ref->reported) {
				struct ward_msg ignored;

				agent_report(cfg, AGENT_STAGE_FAILED, i->path, version, why, AGENT_REPORT_SEND);
				ref->reported = true;
				if (agent_state_save(cfg, &in.st, &ignored))
					printf("wardd: could not record that the refusal was reported: %s\n", ignored.text);
			}
			goto out;
		}
		/* already running it, or already written and waiting: nothing to do */
		/* ... and say so, once per offer: a campaign that offers a device the image it
		 * already runs (installed by a bundle, by hand, or by an earlier campaign) learns
		 * it is healthy without a reinstall. Each new offer is a new director version, so
		 * the reason names it: repeated updates under one offer are deduped. */
		if (!strcmp(in.st.slot[in.booted].sha256, hex)) {
			char why[96];

			printf("up to date: slot %s runs %s %s\n", agent_slot_name(in.booted), i->path, version);
			snprintf(why, sizeof(why), "already running it (director version %llu)",
				 (unsigned long long)dt->version);
			if (in.st.slot[in.booted].state == AGENT_SLOT_GOOD)
				agent_report(cfg, AGENT_STAGE_HEALTHY, i->path, version, why,
					     AGENT_REPORT_SEND | AGENT_REPORT_DEDUPE);
			goto out;
		}
		if (!strcmp(in.st.slot[in.slot].sha256, hex) &&
		    (in.st.slot[in.slot].state == AGENT_SLOT_INSTALLED ||
		     in.st.slot[in.slot].state == AGENT_SLOT_AWAITING)) {
			printf("%s %s is already installed in slot %s\n", i->path, version,
			       agent_slot_name(in.slot));
			if (in.st.slot[in.slot].state == AGENT_SLOT_AWAITING)
				agent_report(cfg, AGENT_STAGE_AWAITING, i->path, version, "",
					     AGENT_REPORT_SEND | AGENT_REPORT_DEDUPE);
			goto out;
		}
	}
	printf("director and image repository agree: installing %s %s (%llu bytes)\n", i->path, version,
	       (unsigned long long)i->info.length);
	fflush(stdout);
	reported = true; /* the pipeline reports its own stages and failures */
	e = agent_install_write(cfg, &in, ic, i, version, m);
	if (!e && installed)
		*installed = true;
out:
	if (!reported && reportable(e)) {
		/* A refusal: said once while it stays the same. When the director's
		 * metadata itself is refused, the report names the image it named
		 * last (a report names an image; none trusted yet: not reported). */
		const struct ward_tuf_meta *last = d || !dc ? NULL : ward_tuf_trusted(dc, WARD_TUF_TARGETS);
		const struct ward_tuf_target *about = d ? d : last && last->ntargets == 1 ? &last->targets[0] : NULL;
		const char *dv = about ? custom_str(about, "version") : NULL;

		if (about)
			agent_report(cfg, AGENT_STAGE_FAILED, about->path, version ? version : dv ? dv : "", m->text,
				     AGENT_REPORT_SEND | AGENT_REPORT_DEDUPE);
	}
	ward_tuf_free(ic);
	ward_tuf_free(dc);
	ward_net_free(net);
	if (begun)
		agent_install_end(&in);
	return e;
}
