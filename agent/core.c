/*
 * agent/core.c — wardd-core: every job of the device agent, one per run.
 *
 *   wardd-core -c DEVICE.conf install FILE | status [--json] | approve |
 *              mark-good | mark-bad | confirm | checkin | tick | update | report | run
 *
 * `tick` is the scheduler's minute job: with policy = approve and a
 * maintenance window, it activates a waiting update inside the window.
 * `update` installs what the director names when the image repository
 * agrees (agent/update.c); like `checkin` it exits 3 without a [server].
 * `report` sends the outbox of stage reports now (agent/report.c; `checkin`
 * sends it too); it exits 3 without a [server].
 *
 * The resident daemon (agent/wardd.c) links nothing but libc and runs this
 * program for each job, so the cost of OpenSSL and friends is paid only
 * while a job runs. `checkin` prints "next-checkin N" (seconds) on its last
 * line and exits 3 when the device has no [server] (offline); `update` exits
 * 3 when no director is pinned ([server] director_root). `run` is the
 * old single-process daemon (settle the boot, then check in forever), kept
 * for systems that prefer one long-lived process.
 *
 * Exit status: 0 success, 1 failure (one line on stderr), 2 usage, 3 offline.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "report.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: wardd -c DEVICE.conf                 run: settle the boot, then wait\n"
		     "       wardd -c DEVICE.conf install FILE    verify and install an offline bundle\n"
		     "       wardd -c DEVICE.conf status [--json]\n"
		     "       wardd -c DEVICE.conf mark-good | mark-bad | approve | confirm | checkin\n"
		     "       wardd -c DEVICE.conf update          install what the director names\n"
		     "       wardd -c DEVICE.conf report          send the stage reports waiting in the outbox\n");
}

static int daemon_run(const struct agent_config *cfg)
{
	struct ward_msg m = {{0}};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (agent_confirm_boot(cfg, NULL, 0, &m) != WARD_OK) {
		fprintf(stderr, "wardd: boot confirmation: %s\n", m.text);
		return 1;
	}
	fflush(stdout);
	if (!cfg->server_url[0]) {
		/* offline device: bundles arrive through `wardd install` */
		while (!stop)
			pause();
		return 0;
	}
	while (!stop) {
		unsigned next = 60;

		if (agent_checkin(cfg, &next, &m) != WARD_OK) {
			fprintf(stderr, "wardd: %s\n", m.text);
			next = 60; /* retry sooner after a failure */
		}
		fflush(stdout);
		for (unsigned i = 0; i < next && !stop; i++)
			sleep(1);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_config cfg;
	struct ward_msg m = {{0}};
	const char *conf = NULL, *cmd;
	ward_err e = WARD_OK;
	int opt;

	while ((opt = getopt(argc, argv, "c:hV")) != -1) {
		switch (opt) {
		case 'c': conf = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("wardd-core %s\n", WARD_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!conf) {
		usage(stderr);
		return 2;
	}
	if (agent_config_load(conf, &cfg, &m) != WARD_OK) {
		fprintf(stderr, "wardd: %s\n", m.text);
		return 1;
	}
	if (optind == argc)
		return daemon_run(&cfg);
	cmd = argv[optind];
	if (!strcmp(cmd, "install") && optind + 2 == argc)
		e = agent_install(&cfg, argv[optind + 1], &m);
	else if (!strcmp(cmd, "status") && optind + 1 == argc)
		e = agent_status(&cfg, false, &m);
	else if (!strcmp(cmd, "status") && optind + 2 == argc && !strcmp(argv[optind + 1], "--json"))
		e = agent_status(&cfg, true, &m);
	else if (!strcmp(cmd, "mark-good") && optind + 1 == argc)
		e = agent_mark(&cfg, true, &m);
	else if (!strcmp(cmd, "mark-bad") && optind + 1 == argc)
		e = agent_mark(&cfg, false, &m);
	else if (!strcmp(cmd, "tick") && optind + 1 == argc)
		e = agent_approve_if(&cfg, true, NULL, &m); /* the scheduler's minute job */
	else if (!strcmp(cmd, "approve") && optind + 1 == argc)
		e = agent_approve(&cfg, &m);
	else if (!strcmp(cmd, "confirm") && optind + 1 == argc)
		e = agent_confirm_boot(&cfg, NULL, 0, &m);
	else if (!strcmp(cmd, "checkin") && optind + 1 == argc) {
		unsigned next;

		if (!cfg.server_url[0])
			return 3;
		e = agent_checkin(&cfg, &next, &m);
		if (!e)
			printf("checked in; next check-in in %u s\nnext-checkin %u\n", next, next);
	} else if (!strcmp(cmd, "update") && optind + 1 == argc) {
		if (!cfg.server_url[0] || !cfg.director_root[0])
			return 3; /* no server or no director pinned: nothing to ask */
		e = agent_update(&cfg, NULL, &m);
	} else if (!strcmp(cmd, "report") && optind + 1 == argc) {
		size_t sent = 0, left = 0;

		if (!cfg.server_url[0])
			return 3;
		e = agent_outbox_flush(&cfg, &sent, &left, &m);
		if (!e)
			printf("sent %zu report(s); %zu waiting\n", sent, left);
	} else if (!strcmp(cmd, "run") && optind + 1 == argc)
		return daemon_run(&cfg);
	else {
		usage(stderr);
		return 2;
	}
	if (e) {
		fprintf(stderr, "wardd: %s: %s\n", cmd, m.text[0] ? m.text : ward_err_name(e));
		return 1;
	}
	return 0;
}
