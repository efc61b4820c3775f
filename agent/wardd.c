/*
 * agent/wardd.c — wardd, the resident device agent: a small scheduler.
 *
 *   wardd -c DEVICE.conf                 run: settle the boot, then check in periodically,
 *                                        install what the director names, and open the
 *                                        maintenance window when it comes
 *   wardd -c DEVICE.conf COMMAND ...     one job (install, status, approve, mark-good, ...)
 *
 * Every job runs in wardd-core (agent/core.c), found next to this program:
 * a command is handed over with execv; the daemon forks one wardd-core per
 * job and waits for it. This process links nothing but libc and never
 * touches a key, a certificate or the network, so while the device is idle
 * wardd costs about a megabyte, and a fault in a job (or in a library it
 * uses) cannot take the scheduler down: the next job starts clean.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIN_INTERVAL 5
#define MAX_INTERVAL 86400
#define RETRY_INTERVAL 60
#define TICK 60 /* seconds between maintenance-window checks */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* wardd-core in the directory of this executable. */
static int core_path(char *out, size_t n)
{
	char self[PATH_MAX];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (l <= 0)
		return -1;
	self[l] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	if (snprintf(out, n, "%s/wardd-core", self) >= (int)n)
		return -1;
	return 0;
}

/*
 * Run `wardd-core -c CONF JOB`, passing its output through; when next is not
 * NULL, read "next-checkin N" from its output. Returns its exit status, or
 * -1 when it could not be run.
 */
static int job(const char *core, const char *conf, const char *name, unsigned *next)
{
	char *argv[5];
	char buf[4096];
	size_t used = 0;
	int fds[2], status;
	pid_t pid;

	argv[0] = (char *)core; /* execv does not modify its arguments */
	argv[1] = (char *)"-c";
	argv[2] = (char *)conf;
	argv[3] = (char *)name;
	argv[4] = NULL;
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(core, argv);
		fprintf(stderr, "wardd: cannot run %s: %s\n", core, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		ssize_t r = read(fds[0], buf + used, sizeof(buf) - 1 - used);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		fwrite(buf + used, 1, (size_t)r, stdout);
		used += (size_t)r;
		if (used == sizeof(buf) - 1) { /* keep the tail: the interval line comes last */
			memmove(buf, buf + used / 2, used - used / 2);
			used -= used / 2;
		}
	}
	close(fds[0]);
	fflush(stdout);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	buf[used] = '\0';
	if (next) {
		const char *p = strstr(buf, "next-checkin ");
		unsigned long v;

		if (p) {
			v = strtoul(p + 13, NULL, 10);
			if (v >= MIN_INTERVAL && v <= MAX_INTERVAL)
				*next = (unsigned)v;
		}
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void nap(unsigned seconds)
{
	for (unsigned i = 0; i < seconds && !stop; i++)
		sleep(1);
}

int main(int argc, char **argv)
{
	char core[PATH_MAX];
	const char *conf = NULL;
	struct sigaction sa;
	int rc;

	if (core_path(core, sizeof(core)) != 0) {
		fprintf(stderr, "wardd: cannot find wardd-core next to this program\n");
		return 1;
	}
	/* wardd -c CONF  (exactly) is the daemon; anything else is a job for wardd-core */
	if (argc == 3 && !strcmp(argv[1], "-c"))
		conf = argv[2];
	if (!conf) {
		argv[0] = core;
		execv(core, argv);
		fprintf(stderr, "wardd: cannot run %s: %s\n", core, strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rc = job(core, conf, "confirm", NULL);
	if (rc != 0)
		fprintf(stderr, "wardd: settling the boot failed (status %d); will retry at the next start\n", rc);
	/* Every minute: the maintenance-window job; whenever due: a check-in, then
	 * (when a director is pinned) the update the director names, if any. */
	{
		unsigned until_checkin = 0, until_tick = 0, wait;
		bool online = true, director = true;

		while (!stop) {
			if (online && until_checkin == 0) {
				unsigned next = RETRY_INTERVAL;

				rc = job(core, conf, "checkin", &next);
				if (rc == 3)
					online = false; /* no [server]: offline device */
				until_checkin = rc == 0 ? next : RETRY_INTERVAL;
				if (rc == 0 && director && job(core, conf, "update", NULL) == 3)
					director = false; /* no director pinned */
			}
			if (until_tick == 0) {
				job(core, conf, "tick", NULL);
				until_tick = TICK;
			}
			/* sleep until whichever comes first: the next check-in or the next tick */
			wait = online && until_checkin < until_tick ? until_checkin : until_tick;
			nap(wait);
			until_tick -= wait;
			until_checkin = until_checkin > wait ? until_checkin - wait : 0;
		}
	}
	return 0;
}
