/*
 * agent/confirm.c — what wardd does when the device has booted: settle a
 * trial (health check, then confirm or roll back), notice a rollback the
 * bootloader did on its own, and report status.
 *
 * The bootloader is the authority on what will boot; state.json is wardd's
 * record of what each slot holds. Decision table at start-up (booted slot S,
 * bootloader trial T, next boot N):
 *   T == S               a trial boot: run the health check; pass -> mark
 *                        good and raise the floor; fail or time out -> mark
 *                        bad and reboot into the last good slot
 *   T != -1, T != S, N == T   an update is waiting for its reboot: nothing
 *   T != -1, T != S, N != T   the bootloader gave up on T (GRUB one-shot
 *                        used): record T bad, clear the trial
 *   T == -1 and state says some slot is on trial but S is not it: the
 *                        bootloader fell back (boot counter ran out): bad
 * Health checks run without a shell, in their own process group, killed
 * when their time is up.
 *
 * Stages go to the outbox (agent/report.h) and are sent at the next
 * check-in (at boot the network may not be up yet): "booted" before the
 * health check, then "healthy" or "rolled-back" with the reason; a rollback
 * the bootloader did on its own is "rolled-back" too. An image that rolled
 * back is remembered in state.json so that `wardd update` does not install
 * it again.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "boot.h"
#include "report.h"
#include "ward/buf.h"
#include "ward/json.h"

#define MAX_ARGS 32

ward_err agent_run(const char *command, unsigned timeout, bool *ok, char *why, size_t n,
		   struct ward_msg *m)
{
	char buf[AGENT_PATH_MAX], *argv[MAX_ARGS + 1];
	int argc = 0, status = 0;
	struct timespec start, now;
	pid_t pid, r;

	*ok = false;
	if (ward_snprintf(buf, sizeof(buf), "%s", command))
		return ward_msg_set(m, WARD_E_TOOBIG, "command too long");
	for (char *p = buf; *p && argc < MAX_ARGS;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		argv[argc++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	argv[argc] = NULL;
	if (argc == 0) {
		*ok = true;
		return WARD_OK;
	}
	pid = fork();
	if (pid < 0)
		return ward_msg_set(m, WARD_E_IO, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return ward_msg_set(m, WARD_E_IO, "waitpid: %s", strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((long long)(now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >=
		    (long long)timeout * 1000) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, n, "%s did not finish within %u s", argv[0], timeout);
			return WARD_OK;
		}
		usleep(20000);
	}
	kill(-pid, SIGKILL); /* whatever it left behind in its group */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		*ok = true;
		snprintf(why, n, "ok");
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		snprintf(why, n, "%s could not be run", argv[0]);
	} else if (WIFEXITED(status)) {
		snprintf(why, n, "%s exited with %d", argv[0], WEXITSTATUS(status));
	} else {
		snprintf(why, n, "%s was killed by signal %d", argv[0], WTERMSIG(status));
	}
	return WARD_OK;
}

static void raise_floor(struct agent_state *st, int slot)
{
	const char *v = st->slot[slot].version;

	if (v[0] && ward_version_valid(v) && (!st->floor[0] || ward_version_cmp(v, st->floor) > 0))
		memcpy(st->floor, v, strlen(v) + 1); /* valid versions fit: WARD_VERSION_MAX */
}

static ward_err reboot(const struct agent_config *cfg, struct ward_msg *m)
{
	bool ok;
	char why[128];
	ward_err e;

	if (!cfg->reboot_command[0])
		return WARD_OK;
	fflush(stdout);
	e = agent_run(cfg->reboot_command, 60, &ok, why, sizeof(why), m);
	if (!e && !ok)
		e = ward_msg_set(m, WARD_E_IO, "reboot command failed: %s", why);
	return e;
}

ward_err agent_confirm_boot(const struct agent_config *cfg, char *summary, size_t n,
			    struct ward_msg *m)
{
	const struct agent_boot_ops *ops = agent_boot_ops(cfg);
	struct agent_boot_state q;
	struct agent_state st;
	char line[512] = "";
	int booted, other, lockfd = -1, rslot = 0;
	const char *report = NULL; /* the stage to report for slot rslot once the state is saved */
	bool changed = false;
	ward_err e;

	e = agent_lock(cfg, &lockfd, m);
	if (e)
		return e;
	e = agent_state_load(cfg, &st, m);
	if (!e)
		e = agent_boot_booted(cfg, &booted, m);
	if (!e)
		e = ops->query(cfg, &q, m);
	if (e)
		goto out;
	other = 1 - booted;
	if (q.trial == booted) {
		bool ok;
		char why[300];

		agent_report(cfg, AGENT_STAGE_BOOTED, st.slot[booted].target, st.slot[booted].version, "", 0);
		e = agent_run(cfg->health_command, cfg->health_timeout, &ok, why, sizeof(why), m);
		if (e)
			goto out;
		if (ok) {
			e = ops->mark_good(cfg, booted, m);
			if (e)
				goto out;
			st.slot[booted].state = AGENT_SLOT_GOOD;
			st.slot[booted].reason[0] = '\0';
			raise_floor(&st, booted);
			snprintf(line, sizeof(line), "slot %s passed its health check: confirmed good (version %s)",
				 agent_slot_name(booted), st.slot[booted].version[0] ? st.slot[booted].version : "?");
			changed = true;
			report = AGENT_STAGE_HEALTHY;
			rslot = booted;
		} else {
			e = ops->mark_bad(cfg, booted, m);
			if (e)
				goto out;
			st.slot[booted].state = AGENT_SLOT_BAD;
			snprintf(st.slot[booted].reason, sizeof(st.slot[booted].reason),
				 "health check failed: %.200s", why);
			agent_state_refuse(&st, booted, true, st.slot[booted].reason);
			snprintf(line, sizeof(line), "slot %s failed its health check (%.200s): rolling back to %s",
				 agent_slot_name(booted), why, agent_slot_name(other));
			agent_report(cfg, AGENT_STAGE_ROLLED_BACK, st.slot[booted].target, st.slot[booted].version,
				     st.slot[booted].reason, 0);
			e = agent_state_save(cfg, &st, m);
			if (e)
				goto out;
			printf("%s\n", line);
			e = reboot(cfg, m);
			goto out_summary;
		}
	} else if (q.trial == other && q.next == other) {
		snprintf(line, sizeof(line), "slot %s is waiting for the reboot that tries it", agent_slot_name(other));
		if (st.slot[other].state == AGENT_SLOT_INSTALLED) {
			st.slot[other].state = AGENT_SLOT_TRIAL; /* power failed between steps 5 and 6 */
			changed = true;
		}
	} else if (q.trial == other || (q.trial < 0 && st.slot[other].state == AGENT_SLOT_TRIAL)) {
		/* the bootloader fell back without wardd: the new image never confirmed */
		e = ops->mark_bad(cfg, other, m);
		if (e)
			goto out;
		st.slot[other].state = AGENT_SLOT_BAD;
		snprintf(st.slot[other].reason, sizeof(st.slot[other].reason),
			 "rolled back by the bootloader: the image did not come up healthy");
		agent_state_refuse(&st, other, true, st.slot[other].reason);
		snprintf(line, sizeof(line), "slot %s did not confirm; the bootloader rolled back to %s",
			 agent_slot_name(other), agent_slot_name(booted));
		changed = true;
		report = AGENT_STAGE_ROLLED_BACK;
		rslot = other;
	} else if (q.trial < 0 && st.slot[other].state == AGENT_SLOT_INSTALLED &&
		   cfg->policy == AGENT_POLICY_AUTO) {
		/* Power failed between recording "installed" and telling the bootloader:
		 * finish the activation, after checking the slot still holds the image. */
		uint8_t want[32];

		if (ward_hex_decode(st.slot[other].sha256, want, sizeof(want)) != WARD_OK ||
		    agent_slot_readback(cfg->slot[other], st.slot[other].length, want, m) != WARD_OK) {
			st.slot[other].state = AGENT_SLOT_BAD;
			snprintf(st.slot[other].reason, sizeof(st.slot[other].reason),
				 "slot changed after it was installed; install again");
			snprintf(line, sizeof(line), "slot %s no longer holds the installed image: marked bad",
				 agent_slot_name(other));
			changed = true;
			report = AGENT_STAGE_FAILED;
			rslot = other;
		} else {
			snprintf(line, sizeof(line), "finishing the interrupted activation of slot %s",
				 agent_slot_name(other));
			if (st.slot[booted].state == AGENT_SLOT_UNKNOWN || st.slot[booted].state == AGENT_SLOT_TRIAL) {
				st.slot[booted].state = AGENT_SLOT_GOOD;
				raise_floor(&st, booted);
			}
			printf("%s\n", line);
			e = agent_activate(cfg, &st, other, false, m);
			goto out_summary;
		}
	} else {
		snprintf(line, sizeof(line), "running slot %s, nothing to confirm", agent_slot_name(booted));
	}
	/*
	 * The slot we run from, with no trial of it pending and the bootloader
	 * calling it good, is the good one whatever state.json says: power may
	 * have failed after the bootloader was updated and before the state was
	 * saved (a slot left "installed" or "trial"). A slot recorded bad keeps
	 * that record: wardd moves the bootloader away before recording it.
	 */
	if (q.trial != booted && q.good == booted && st.slot[booted].state != AGENT_SLOT_GOOD &&
	    st.slot[booted].state != AGENT_SLOT_BAD) {
		st.slot[booted].state = AGENT_SLOT_GOOD;
		st.slot[booted].reason[0] = '\0';
		raise_floor(&st, booted);
		changed = true;
	}
	/* the report first: state.json stays the last write (agent/install.c) */
	if (report)
		agent_report(cfg, report, st.slot[rslot].target, st.slot[rslot].version, st.slot[rslot].reason, 0);
	if (changed)
		e = agent_state_save(cfg, &st, m);
	if (!e)
		printf("%s\n", line);
out_summary:
	if (summary)
		snprintf(summary, n, "%s", line);
out:
	close(lockfd);
	return e;
}

ward_err agent_mark(const struct agent_config *cfg, bool good, struct ward_msg *m)
{
	const struct agent_boot_ops *ops = agent_boot_ops(cfg);
	struct agent_state st;
	enum agent_slot_state was;
	int booted, lockfd = -1;
	ward_err e;

	e = agent_lock(cfg, &lockfd, m);
	if (e)
		return e;
	e = agent_state_load(cfg, &st, m);
	if (!e)
		e = agent_boot_booted(cfg, &booted, m);
	if (!e && !good && st.slot[1 - booted].state != AGENT_SLOT_GOOD)
		e = ward_msg_set(m, WARD_E_DENIED,
				 "refusing to mark slot %s bad: slot %s holds no confirmed image to fall back to",
				 agent_slot_name(booted), agent_slot_name(1 - booted));
	if (!e)
		e = good ? ops->mark_good(cfg, booted, m) : ops->mark_bad(cfg, booted, m);
	if (e)
		goto out;
	was = st.slot[booted].state;
	st.slot[booted].state = good ? AGENT_SLOT_GOOD : AGENT_SLOT_BAD;
	if (good) {
		st.slot[booted].reason[0] = '\0';
		raise_floor(&st, booted);
	} else {
		snprintf(st.slot[booted].reason, sizeof(st.slot[booted].reason), "marked bad by hand");
		agent_state_refuse(&st, booted, true, st.slot[booted].reason);
	}
	/* a trial settled by hand is reported as the health check would have been */
	if (good && was == AGENT_SLOT_TRIAL)
		agent_report(cfg, AGENT_STAGE_HEALTHY, st.slot[booted].target, st.slot[booted].version,
			     "marked good by hand", 0);
	else if (!good && was != AGENT_SLOT_BAD)
		agent_report(cfg, AGENT_STAGE_ROLLED_BACK, st.slot[booted].target, st.slot[booted].version,
			     st.slot[booted].reason, 0);
	e = agent_state_save(cfg, &st, m);
	if (e)
		goto out;
	printf("slot %s marked %s\n", agent_slot_name(booted), good ? "good" : "bad");
out:
	close(lockfd);
	return e;
}

ward_err agent_status(const struct agent_config *cfg, bool json, struct ward_msg *m)
{
	const struct agent_boot_ops *ops = agent_boot_ops(cfg);
	struct agent_boot_state q = {-1, -1, -1, 0};
	struct agent_state st;
	struct ward_msg qm = {{0}}, om = {{0}};
	size_t outbox = 0;
	bool outbox_ok = true;
	int booted = -1;
	ward_err e, qe;

	e = agent_state_load(cfg, &st, m);
	if (e)
		return e;
	if (agent_boot_booted(cfg, &booted, &qm))
		booted = -1;
	qe = ops->query(cfg, &q, &qm);
	if (agent_outbox_count(cfg, &outbox, &om)) {
		outbox_ok = false;
		outbox = 0;
	}
	if (json) {
		json_t *doc = json_pack("{s:s?,s:s,s:s,s:{s:s?,s:s?,s:s?,s:i,s:s?},s:{}}", "booted",
					booted >= 0 ? agent_slot_name(booted) : NULL, "floor", st.floor,
					"hardware_id", cfg->hardware_id, "bootloader", "good",
					q.good >= 0 ? agent_slot_name(q.good) : NULL, "next",
					q.next >= 0 ? agent_slot_name(q.next) : NULL, "trial",
					q.trial >= 0 ? agent_slot_name(q.trial) : NULL, "attempts_left",
					(int)q.attempts_left, "error", qe ? qm.text : NULL, "slots");
		json_t *slots = json_object_get(doc, "slots");
		char *s;

		/* reports waiting to be sent (null when the outbox cannot be read: outbox_error says why) */
		json_object_set_new(doc, "outbox", outbox_ok ? json_integer((json_int_t)outbox) : json_null());
		if (!outbox_ok)
			json_object_set_new(doc, "outbox_error", json_string(om.text));

		for (int i = 0; i < 2; i++)
			json_object_set_new(slots, agent_slot_name(i),
					    json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:I}", "path", cfg->slot[i], "state",
						      agent_slot_state_name(st.slot[i].state), "version",
						      st.slot[i].version, "target", st.slot[i].target, "length",
						      (json_int_t)st.slot[i].length, "sha256", st.slot[i].sha256,
						      "reason", st.slot[i].reason, "written",
						      (json_int_t)st.slot[i].written));
		{
			json_t *refused = json_array();

			for (size_t i = 0; i < st.nrefused; i++)
				json_array_append_new(refused, json_pack("{s:s,s:s,s:s,s:s}", "target",
									 st.refused[i].target, "sha256",
									 st.refused[i].sha256, "kind",
									 st.refused[i].rolled_back ? "rolled-back" : "failed",
									 "reason", st.refused[i].reason));
			json_object_set_new(doc, "refused", refused);
		}
		s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
		json_decref(doc);
		if (!s)
			return ward_msg_set(m, WARD_E_NOMEM, "cannot encode status");
		printf("%s\n", s);
		free(s);
		return WARD_OK;
	}
	printf("booted slot:    %s\n", booted >= 0 ? agent_slot_name(booted) : "unknown");
	printf("hardware id:    %s\n", cfg->hardware_id);
	printf("security floor: %s\n", st.floor[0] ? st.floor : "(none yet)");
	if (qe)
		printf("bootloader:     %s: %s\n", ops->name, qm.text);
	else
		printf("bootloader:     %s: good %s, next boot %s, trial %s (%u attempts left)\n", ops->name,
		       q.good >= 0 ? agent_slot_name(q.good) : "?", q.next >= 0 ? agent_slot_name(q.next) : "?",
		       q.trial >= 0 ? agent_slot_name(q.trial) : "none", q.attempts_left);
	for (int i = 0; i < 2; i++)
		printf("slot %s:         %-17s %-10s %s%s%s\n", agent_slot_name(i),
		       agent_slot_state_name(st.slot[i].state), st.slot[i].version[0] ? st.slot[i].version : "-",
		       st.slot[i].target, st.slot[i].reason[0] ? "  -- " : "", st.slot[i].reason);
	for (int i = 0; i < 2; i++)
		if (st.slot[i].state == AGENT_SLOT_AWAITING)
			printf("pending:        slot %s waits for `wardd approve`\n", agent_slot_name(i));
	for (int i = 0; i < 2; i++)
		if (st.slot[i].state == AGENT_SLOT_WRITING && st.slot[i].written)
			printf("download:       slot %s holds %llu of %llu bytes; `wardd update` resumes there\n",
			       agent_slot_name(i), (unsigned long long)st.slot[i].written,
			       (unsigned long long)st.slot[i].length);
	if (outbox_ok)
		printf("reports:        %zu waiting to be sent\n", outbox);
	else
		printf("reports:        %s\n", om.text);
	return WARD_OK;
}
