/*
 * server/main.c — ward-server: load the deployment, bind, run workers.
 *
 *   ward-server -c DIR/ward.conf [--listen ADDR:PORT] [--workers N]
 *
 * The parent binds the socket (port 0 picks a free one; the line
 * "ward-server: listening on https://ADDR:PORT" says which), forks the
 * workers and restarts one that dies; SIGTERM/SIGINT stop everything.
 * Each worker opens its own database connection and TLS context.
 *
 * Privileges (docs/ward-server.md "Privileges"): the parent needs root only
 * for what it does before forking (a low port, keys readable by root only)
 * and afterwards only forks, so it stays as it started, like nginx's master.
 * Every worker sets PR_SET_NO_NEW_PRIVS; started as root with [server] user,
 * it opens its database and TLS context, then becomes that user (groups,
 * gid, uid) and checks that setuid(0) fails before it serves anyone. No key
 * file is read after that: the CA and director keys are loaded here before
 * forking, the TLS key by the worker before it drops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/util.h>
#include <getopt.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "director.h"
#include "srv.h"

int srv_worker_run(struct srv *s, int fd);

#define MAX_WORKERS 256

static volatile sig_atomic_t stopping;

/* Whom the workers become (decided by the parent, applied by each worker). */
struct priv {
	bool drop;  /* started as root with [server] user: setuid to uid/gid */
	uid_t uid;  /* the user's uid */
	gid_t gid;  /* its primary group */
};

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static int bind_socket(struct srv_conf *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, c->listen_addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(c->listen_port);
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, c->listen_addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(c->listen_port);
		len = sizeof(struct sockaddr_in6);
	} else {
		fprintf(stderr, "ward-server: listen address \"%s\" is not an IP address\n", c->listen_addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* TCP_NODELAY is inherited by accepted sockets: a reply split into TLS
	 * records must not wait for the client's delayed ACK (40 ms per reply) */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4096) != 0) {
		fprintf(stderr, "ward-server: cannot listen on %s:%u: %s\n", c->listen_addr, c->listen_port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		c->listen_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	evutil_make_socket_nonblocking(fd);
	return fd;
}

/* Load what every worker needs from the deployment directory (before forking). */
static ward_err load_ca(struct srv *s, struct ward_msg *m)
{
	struct ward_buf b;
	ward_err e;

	e = ward_file_read(s->conf.issuing_cert, 64 * 1024, &b, m);
	if (!e) {
		e = ward_x509_cert_from_pem((const char *)b.p, b.len, &s->issuing, m);
		ward_buf_free(&b);
	}
	if (!e)
		e = ward_file_read(s->conf.ca_root, 64 * 1024, &b, m);
	if (!e) {
		e = ward_x509_cert_from_pem((const char *)b.p, b.len, &s->root, m);
		ward_buf_free(&b);
	}
	if (!e)
		e = ward_file_read(s->conf.issuing_key, 64 * 1024, &b, m);
	if (!e) {
		b.secret = true;
		e = ward_crypto_key_from_private_pem((const char *)b.p, b.len, &s->issuing_key, m);
		ward_buf_free(&b);
	}
	/* the director's online key, read once (not per request); without it the
	 * director answers 503 and everything else works */
	if (!e) {
		struct ward_msg dm = {{0}};

		if (srv_director_key_load(&s->conf, &s->director_key, &dm))
			fprintf(stderr, "ward-server: the director is off: %s\n", dm.text);
	}
	return e;
}

/*
 * As root, ward.conf decides whom the workers run as, so it must be root's
 * alone: a worker that was taken over owns DIR (it writes the database's
 * files there) and could otherwise swap in a ward.conf without `user`,
 * to be read as root at the next start. Like sshd's StrictModes.
 */
static bool conf_is_roots(const char *path)
{
	struct stat l, t;

	if (lstat(path, &l) != 0 || stat(path, &t) != 0) {
		fprintf(stderr, "ward-server: %s: %s\n", path, strerror(errno));
		return false;
	}
	if (l.st_uid != 0 || t.st_uid != 0 || (t.st_mode & (S_IWGRP | S_IWOTH))) {
		fprintf(stderr,
			"ward-server: %s must be owned by root and writable by root only when ward-server "
			"starts as root (it decides the workers' user): chown root %s && chmod go-w %s\n",
			path, path, path);
		return false;
	}
	return true;
}

/* Could uid/gid (no supplementary groups) write path? Absent paths pass: whoever creates them owns them. */
static bool user_can_write(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno == ENOENT;
	if (st.st_uid == uid)
		return st.st_mode & S_IWUSR;
	if (st.st_gid == gid)
		return st.st_mode & S_IWGRP;
	return st.st_mode & S_IWOTH;
}

/*
 * What a worker writes (docs/ward-init.md "Who owns what"): refuse to start
 * now, with the reason, rather than fail the first revocation or check-in.
 */
static bool user_can_write_all(const struct srv_conf *c, const char *user, uid_t uid, gid_t gid)
{
	char p[9][SRV_PATH_MAX + 32], *slash; /* at most 9 paths below */
	size_t n = 0;
	bool ok = true, toolong = false;

	/* DIR: the database's -wal and -shm by default */
	toolong |= ward_snprintf(p[n++], sizeof(p[0]), "%s", c->dir) != WARD_OK;
	if (!strncmp(c->db_uri, "sqlite:", 7)) {
		toolong |= ward_snprintf(p[n++], sizeof(p[0]), "%s", c->db_uri + 7) != WARD_OK;
		toolong |= ward_snprintf(p[n++], sizeof(p[0]), "%s-wal", c->db_uri + 7) != WARD_OK;
		toolong |= ward_snprintf(p[n++], sizeof(p[0]), "%s-shm", c->db_uri + 7) != WARD_OK;
		toolong |= ward_snprintf(p[n], sizeof(p[0]), "%s", c->db_uri + 7) != WARD_OK;
		if ((slash = strrchr(p[n], '/')) && slash != p[n])
			*slash = '\0'; /* the database's directory, for -wal and -shm */
		n++;
	}
	toolong |= ward_snprintf(p[n], sizeof(p[0]), "%s", c->crl) != WARD_OK;
	if ((slash = strrchr(p[n], '/')) && slash != p[n])
		*slash = '\0'; /* the CRL's directory: it is renamed into place */
	n++;
	toolong |= ward_snprintf(p[n++], sizeof(p[0]), "%s.lock", c->crl) != WARD_OK;
	toolong |= ward_snprintf(p[n++], sizeof(p[0]), "%s/director", c->dir) != WARD_OK;
	toolong |= ward_snprintf(p[n++], sizeof(p[0]), "%s/%s", c->dir, SRV_DIRECTOR_IMAGE_TRUST) != WARD_OK;
	if (toolong) { /* cannot be: every path of c is shorter than SRV_PATH_MAX */
		fprintf(stderr, "ward-server: a path in ward.conf is too long\n");
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!user_can_write(p[i], uid, gid)) {
			fprintf(stderr, "ward-server: the workers run as \"%s\" but it cannot write %s; give it "
					"what the workers write (ward init --user does; docs/ward-init.md)\n",
				user, p[i]);
			ok = false;
		}
	return ok;
}

/* Decide, in the parent, whom the workers become; false: refuse to start (said why). */
static bool priv_plan(const struct srv_conf *c, const char *conf_path, struct priv *p)
{
	struct passwd *pw;
	uid_t me = geteuid();

	memset(p, 0, sizeof(*p));
	if (me == 0 && !conf_is_roots(conf_path))
		return false;
	if (!c->user[0]) {
		if (me == 0)
			fprintf(stderr, "ward-server: warning: running as root and so are the workers; set "
					"[server] user in ward.conf to an unprivileged user (ward init --user, "
					"docs/ward-server.md)\n");
		return true;
	}
	errno = 0;
	pw = getpwnam(c->user);
	if (!pw) {
		fprintf(stderr, "ward-server: [server] user \"%s\": %s; create a system user for "
				"ward-server (or fix the name) and give it what the workers write "
				"(docs/ward-init.md)\n",
			c->user, errno ? strerror(errno) : "no such user");
		return false;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		fprintf(stderr, "ward-server: [server] user \"%s\" has uid or gid 0: the workers would keep "
				"root's rights; name an unprivileged user\n", c->user);
		return false;
	}
	if (me != 0 && pw->pw_uid != me) {
		fprintf(stderr, "ward-server: [server] user is \"%s\" (uid %u) but ward-server runs as uid "
				"%u, not root, so it cannot become that user; start it as root or as \"%s\"\n",
			c->user, (unsigned)pw->pw_uid, (unsigned)me, c->user);
		return false;
	}
	if (!user_can_write_all(c, c->user, pw->pw_uid, pw->pw_gid))
		return false;
	p->drop = me == 0;
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	return true;
}

/* In a worker, after its set-up: no new privileges, then the user (if any), for good. */
static bool priv_drop(const struct priv *p)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		fprintf(stderr, "ward-server: worker %d: PR_SET_NO_NEW_PRIVS: %s\n", (int)getpid(),
			strerror(errno));
		return false;
	}
	if (!p->drop)
		return true;
	if (setgroups(0, NULL) != 0 || setgid(p->gid) != 0 || setuid(p->uid) != 0) {
		fprintf(stderr, "ward-server: worker %d: cannot become uid %u gid %u: %s\n", (int)getpid(),
			(unsigned)p->uid, (unsigned)p->gid, strerror(errno));
		return false;
	}
	/* all three ids of each kind changed, so no way back; check it anyway */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || getuid() != p->uid ||
	    geteuid() != p->uid || getgid() != p->gid || getegid() != p->gid) {
		fprintf(stderr, "ward-server: worker %d: could regain root after dropping it; stopping\n",
			(int)getpid());
		return false;
	}
	return true;
}

static int worker(struct srv *s, int fd, const struct priv *p)
{
	struct ward_tls_server_opts o = {s->conf.server_cert, s->conf.server_key, s->conf.issuing_cert};
	struct ward_msg m = {{0}};
	int rc;

	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (srv_store_open(s->conf.db_uri, &s->store, &m) ||
	    ward_tls_server_new(&o, &s->tls, &m)) {
		fprintf(stderr, "ward-server: worker %d: %s\n", (int)getpid(), m.text);
		return 1;
	}
	if (!priv_drop(p))
		return 1;
	rc = srv_worker_run(s, fd);
	ward_tls_server_free(s->tls);
	srv_store_close(s->store);
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: ward-server -c DIR/ward.conf [--listen ADDR:PORT] [--workers N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"workers", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *listen_override = NULL, *workers_override = NULL;
	pid_t pids[MAX_WORKERS];
	time_t started[MAX_WORKERS];
	struct srv s;
	struct ward_msg m = {{0}};
	struct srv_store *probe = NULL;
	struct sigaction sa;
	struct priv priv;
	unsigned n, quick_deaths = 0;
	int ch, fd;

	memset(&s, 0, sizeof(s));
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'l': listen_override = optarg; break;
		case 'w': workers_override = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!conf || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (srv_conf_load(conf, &s.conf, &m) ||
	    (listen_override && srv_conf_listen(&s.conf, listen_override, &m))) {
		fprintf(stderr, "ward-server: %s\n", m.text);
		return 1;
	}
	if (workers_override) {
		uint64_t w;

		if (ward_parse_u64(workers_override, &w) || w > MAX_WORKERS) {
			fprintf(stderr, "ward-server: --workers must be 0..%d\n", MAX_WORKERS);
			return 2;
		}
		s.conf.workers = (unsigned)w;
	}
	if (!priv_plan(&s.conf, conf, &priv))
		return 1;
	n = s.conf.workers ? s.conf.workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	if (load_ca(&s, &m)) {
		fprintf(stderr, "ward-server: %s\n", m.text);
		return 1;
	}
	/* open the store once in the parent: runs migrations before workers race to */
	if (srv_store_open(s.conf.db_uri, &probe, &m)) {
		fprintf(stderr, "ward-server: database: %s\n", m.text);
		return 1;
	}
	srv_store_close(probe);
	{
		/* room for max_connections per worker plus the database and files */
		struct rlimit rl;
		rlim_t want = (rlim_t)s.conf.max_connections + 256;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
			rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
				fprintf(stderr,
					"ward-server: only %llu file descriptors per worker; max_connections %u "
					"will be limited by that\n",
					(unsigned long long)rl.rlim_cur, s.conf.max_connections);
		}
	}
	fd = bind_socket(&s.conf);
	if (fd < 0)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 0; i < n; i++)
		pids[i] = 0;
	printf("ward-server: listening on https://%s%s%s:%u with %u worker%s\n",
	       strchr(s.conf.listen_addr, ':') ? "[" : "", s.conf.listen_addr,
	       strchr(s.conf.listen_addr, ':') ? "]" : "", s.conf.listen_port, n, n == 1 ? "" : "s");
	fflush(stdout);
	while (!stopping) {
		pid_t dead;
		int status;

		for (unsigned i = 0; i < n && !stopping; i++) {
			if (pids[i] > 0)
				continue;
			pids[i] = fork();
			if (pids[i] == 0)
				_exit(worker(&s, fd, &priv));
			started[i] = time(NULL);
		}
		dead = waitpid(-1, &status, 0);
		if (dead < 0)
			continue;
		for (unsigned i = 0; i < n; i++)
			if (pids[i] == dead) {
				pids[i] = 0;
				if (!stopping)
					fprintf(stderr, "ward-server: worker %d ended (status %d); restarting\n",
						(int)dead, status);
				if (time(NULL) - started[i] < 2 && ++quick_deaths > 10) {
					fprintf(stderr, "ward-server: workers keep dying at start; giving up\n");
					stopping = 1;
				}
			}
		if (!stopping && quick_deaths)
			usleep(200000);
	}
	for (unsigned i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	while (waitpid(-1, NULL, 0) > 0)
		;
	ward_crypto_key_free(s.issuing_key);
	ward_crypto_key_free(s.director_key);
	ward_x509_cert_free(s.issuing);
	ward_x509_cert_free(s.root);
	close(fd);
	return quick_deaths > 10;
}
