/*
 * bench/loadgen.c — a load generator for ward-server: many concurrent TLS
 * connections from one process, an epoll loop per thread, no libevent.
 *
 *   loadgen enroll    -t HOST:PORT --user U --password-file F --model M --count N
 *                     [--concurrency C] [--prefix P] [--save DIR [--save-max K]]
 *   loadgen checkin   -t HOST:PORT --identities DIR [--connections C] [--duration S]
 *   loadgen handshake -t HOST:PORT[,HOST:PORT...] --identities DIR [--connections C]
 *   common:           [--threads T] [--warmup S] [--ca ROOT.pem] [--timeout S]
 *
 * enroll: N P-256 keys and CSRs (subject CN=S, serialNumber=S, OU=M) are made
 * before the clock starts; then each request is a NEW TLS connection (as a
 * device does it), HTTP Basic, POST /.well-known/est/simpleenroll, read the
 * whole reply, close. --save writes DIR/S.key (PKCS#8, 0600, O_EXCL) and
 * DIR/S.pem for the first K successes, after the clock stops.
 * checkin: C connections, each a mutual-TLS session with its own device
 * identity (DIR/NAME.pem + DIR/NAME.key, as --save writes them), keep-alive,
 * one check-in after another (no pipelining); the facts' uptime grows with
 * every request, so no two check-ins of a device are the same row write.
 * handshake: connect, full
 * mutual-TLS handshake (no resumption), close_notify, wait for the peer's
 * close; an alert counts as an error. Connections are spread round-robin over
 * the targets.
 *
 * Output: one line of key=value pairs (mode, requests, ok, errors, seconds,
 * rate, p50_ms, p99_ms, cpu_pct = this process's user+sys CPU over the
 * measured wall time, 100 = one core), then the first error, if any.
 * Latency: enroll and handshake from connect() to the end; checkin from the
 * request's first byte to the reply's last. Duration modes count what
 * completes inside [warmup, warmup + duration]. Exit status 0 unless the tool
 * itself could not run; errors from the server are numbers, not failures.
 *
 * The TLS connection, identities and parsing are shared with bench/fleetsim.c
 * (bench/benchnet.c). This is a bench tool, not part of libward: it talks TLS itself and
 * therefore includes OpenSSL headers directly, outside ward's crypto boundary
 * (STYLE.md rule 2 is about libward and ward's programs). It does not verify
 * the server's certificate unless --ca is given (a peer such as openssl
 * s_server and ward-server are then measured doing the same work).
 * Every buffer is bounded: requests are built once, replies are read into a
 * buffer of at most IN_MAX bytes and a larger reply is an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "benchnet.h"

#define IN_MAX (64 * 1024)          /* largest reply we accept, headers and body */
#define MAX_TARGETS 16
#define MAX_CONNS 65536             /* concurrency over all threads */
#define MAX_THREADS 64
#define MAX_IDENTS 100000
#define MAX_COUNT 10000000          /* enroll --count */
#define LAT_MAX (64u * 1024 * 1024) /* latency samples kept per thread */

enum mode { M_ENROLL, M_CHECKIN, M_HANDSHAKE };

/* One enrolment: a serial, its fresh key, the whole HTTP request, the reply. */
struct job {
	char serial[65];    /* CN and serialNumber of the CSR */
	EVP_PKEY *key;      /* owned */
	char *req;          /* the complete HTTP request (owned) */
	size_t req_len;
	char *reply;        /* base64 PKCS#7 of a success, kept only with --save (owned) */
	size_t reply_len;
	bool ok;            /* enrolled (HTTP 200) */
};

struct conn {
	struct bn_conn bc;    /* the TLS connection (bench/benchnet.c) */
	size_t target;        /* index into the targets */
	size_t ident;         /* checkin/handshake: index into the identities */
	size_t job;           /* enroll: index into the jobs */
	char req[512];        /* checkin: the request being sent */
	uint64_t seq;         /* checkin: requests sent on this slot (the uptime grows with it) */
	uint64_t t0;          /* when the timed operation started, ns */
};

struct worker {
	pthread_t thread;
	int ep;                  /* epoll instance */
	struct conn *conns;      /* this thread's connections */
	size_t nconns;
	uint32_t *lat;           /* latency samples, microseconds */
	size_t nlat, caplat;
	uint64_t ok, errors;     /* counted inside the window (enroll: all) */
	uint64_t reconnects;     /* checkin: sessions that had to be opened again */
	uint64_t first_ns, last_ns; /* enroll: first connect, last completion */
	char err[BN_ERR_TEXT];      /* the first error this thread saw */
};

/* What every thread reads; set before the threads start, then read-only. */
static struct {
	enum mode mode;
	struct sockaddr_in targets[MAX_TARGETS];
	size_t ntargets;
	char target_text[512];
	SSL_CTX *ctx;
	struct bn_ident *idents;
	size_t nidents;
	struct job *jobs;
	size_t njobs;
	bool keep_replies;        /* --save: keep the bodies of successes */
	uint64_t t_start, t_end;  /* the measurement window, ns (duration modes) */
	uint64_t t_give_up;       /* stop whatever is left, ns */
} G;

static atomic_size_t next_job;     /* enroll: next job to hand out */
static atomic_bool stop_all;       /* SIGINT or time is up */

/* Keep the first error of a thread: "what: detail". */
static void note_err(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_err(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->err[0])
		return;
	va_start(ap, fmt);
	if (vsnprintf(w->err, sizeof(w->err), fmt, ap) < 0)
		w->err[0] = '\0';
	va_end(ap);
}

/* ---- identities and jobs (before the clock starts) ------------------------ */

static char *b64(const unsigned char *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (!out)
		bn_die("out of memory");
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

/* A P-256 key and the HTTP request carrying its CSR, for serial s of model m. */
static void make_job(struct job *j, const char *host, const char *auth, const char *model)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	char *body;
	int dlen, n;
	size_t cap;

	j->key = EVP_EC_gen("P-256");
	if (!req || !name || !j->key)
		bn_die("cannot make a P-256 key: %s", bn_ossl_reason());
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)j->serial, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "serialNumber", MBSTRING_ASC, (const unsigned char *)j->serial, -1, -1,
					0) ||
	    !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)model, -1, -1, 0) ||
	    !X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, j->key) || !X509_REQ_sign(req, j->key, EVP_sha256()))
		bn_die("cannot make a CSR: %s", bn_ossl_reason());
	dlen = i2d_X509_REQ(req, &der);
	if (dlen <= 0)
		bn_die("cannot encode a CSR: %s", bn_ossl_reason());
	body = b64(der, (size_t)dlen);
	cap = strlen(body) + strlen(auth) + strlen(host) + 512;
	j->req = OPENSSL_malloc(cap); /* freed with OPENSSL_clear_free: it carries the password */
	if (!j->req)
		bn_die("out of memory");
	n = snprintf(j->req, cap,
		     "POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Authorization: Basic %s\r\n"
		     "Content-Type: application/pkcs10\r\n"
		     "Content-Length: %zu\r\n"
		     "Connection: close\r\n"
		     "\r\n%s",
		     host, auth, strlen(body), body);
	if (n < 0 || (size_t)n >= cap)
		bn_die("request too long");
	j->req_len = (size_t)n;
	free(body);
	OPENSSL_free(der);
	X509_NAME_free(name);
	X509_REQ_free(req);
}

static void make_jobs(uint64_t count, const char *prefix, const char *user, const char *pass_file,
		      const char *model)
{
	char pass[512], cred[600], *auth;
	FILE *f = fopen(pass_file, "r");
	size_t n;
	int len;

	if (!f)
		bn_die("--password-file %s: %s", pass_file, strerror(errno));
	if (!fgets(pass, sizeof(pass), f))
		bn_die("--password-file %s: empty", pass_file);
	fclose(f);
	pass[strcspn(pass, "\r\n")] = '\0';
	len = snprintf(cred, sizeof(cred), "%s:%s", user, pass);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (len < 0 || (size_t)len >= sizeof(cred))
		bn_die("user name and password too long");
	auth = b64((const unsigned char *)cred, (size_t)len);
	OPENSSL_cleanse(cred, sizeof(cred));
	G.jobs = calloc(count, sizeof(*G.jobs));
	if (!G.jobs)
		bn_die("out of memory");
	for (n = 0; n < count; n++) {
		struct job *j = &G.jobs[n];

		len = snprintf(j->serial, sizeof(j->serial), "%s%06zu", prefix, n);
		if (len < 0 || (size_t)len >= sizeof(j->serial))
			bn_die("--prefix too long: serials are at most 64 characters");
		make_job(j, "ward-server", auth, model);
	}
	OPENSSL_cleanse(auth, strlen(auth));
	free(auth);
	G.njobs = count;
}

/*
 * The next check-in of c into c->req. The uptime grows with every request, as
 * on a device: a registry that skips writing an unchanged row (SQLite does)
 * must not make the benchmark look faster than a fleet.
 */
static void make_checkin_request(struct conn *c)
{
	char body[256];
	int n, b;

	b = snprintf(body, sizeof(body),
		     "{\"firmware_version\":\"1.4.2\",\"hardware_id\":\"bench-hw\",\"booted_slot\":\"A\","
		     "\"uptime\":%" PRIu64 ",\"listening_ports\":[22,443],\"slots\":{\"A\":\"1.4.2\",\"B\":\"1.4.1\"}}",
		     86400 + c->seq++);
	if (b < 0 || (size_t)b >= sizeof(body))
		bn_die("check-in body too long");
	n = snprintf(c->req, sizeof(c->req),
		     "POST /api/v1/device/checkin HTTP/1.1\r\n"
		     "Host: ward-server\r\n"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %d\r\n"
		     "\r\n%s",
		     b, body);
	if (n < 0 || (size_t)n >= sizeof(c->req))
		bn_die("check-in request too long");
	bn_conn_send(&c->bc, c->req, (size_t)n);
}

/* Write what enroll --save keeps, after the clock stopped. Returns how many. */
static size_t save_identities(const char *dir, size_t max)
{
	size_t saved = 0;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		bn_die("--save %s: %s", dir, strerror(errno));
	for (size_t i = 0; i < G.njobs && saved < max; i++) {
		struct job *j = &G.jobs[i];
		unsigned char *der;
		const unsigned char *p;
		char *clean, path[4096];
		size_t k = 0;
		int dlen, fd;
		PKCS7 *p7;
		X509 *cert;
		FILE *f;

		if (!j->ok || !j->reply)
			continue;
		clean = malloc(j->reply_len + 1);
		der = malloc(j->reply_len + 1);
		if (!clean || !der)
			bn_die("out of memory");
		for (size_t m = 0; m < j->reply_len; m++)
			if (j->reply[m] != '\n' && j->reply[m] != '\r' && j->reply[m] != ' ')
				clean[k++] = j->reply[m];
		dlen = EVP_DecodeBlock(der, (unsigned char *)clean, (int)k);
		if (dlen <= 0)
			bn_die("%s: reply is not base64", j->serial);
		p = der;
		p7 = d2i_PKCS7(NULL, &p, dlen);
		if (!p7 || !PKCS7_type_is_signed(p7) || !p7->d.sign->cert ||
		    sk_X509_num(p7->d.sign->cert) < 1)
			bn_die("%s: reply is not a PKCS#7 certs-only structure", j->serial);
		cert = sk_X509_value(p7->d.sign->cert, 0);
		if (X509_check_private_key(cert, j->key) != 1)
			bn_die("%s: the issued certificate is not for our key", j->serial);
		if (snprintf(path, sizeof(path), "%s/%s.key", dir, j->serial) >= (int)sizeof(path))
			bn_die("path too long");
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f || !PEM_write_PKCS8PrivateKey(f, j->key, NULL, NULL, 0, NULL, NULL) || fclose(f))
			bn_die("%s: cannot write: %s", path, strerror(errno));
		if (snprintf(path, sizeof(path), "%s/%s.pem", dir, j->serial) >= (int)sizeof(path))
			bn_die("path too long");
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f || !PEM_write_X509(f, cert) || fclose(f))
			bn_die("%s: cannot write: %s", path, strerror(errno));
		PKCS7_free(p7);
		free(der);
		free(clean);
		saved++;
	}
	return saved;
}

/* ---- the connection state machine --------------------------------------- */

static bool in_window(uint64_t t)
{
	return G.mode == M_ENROLL || (t >= G.t_start && t < G.t_end);
}

static void record(struct worker *w, struct conn *c, uint64_t t)
{
	if (G.mode == M_ENROLL) {
		if (t > w->last_ns)
			w->last_ns = t;
	} else if (!in_window(t) || c->t0 < G.t_start) {
		return; /* started in the warm-up or ended after the window */
	}
	w->ok++;
	if (w->nlat == w->caplat && w->caplat < LAT_MAX) {
		size_t cap = w->caplat ? w->caplat * 2 : 65536;
		uint32_t *p = realloc(w->lat, cap * sizeof(*p));

		if (p) {
			w->lat = p;
			w->caplat = cap;
		}
	}
	if (w->nlat < w->caplat) {
		uint64_t us = (t - c->t0) / 1000;

		w->lat[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	}
}

static void count_error(struct worker *w, uint64_t t)
{
	if (in_window(t))
		w->errors++;
}

static void conn_close(struct conn *c)
{
	bn_conn_close(&c->bc);
}

/* Open a new connection on slot c; false when nothing is left to do. */
static bool conn_open(struct worker *w, struct conn *c)
{
	char why[BN_ERR_TEXT];
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;

	if (atomic_load(&stop_all))
		return false;
	if (G.mode == M_ENROLL) {
		size_t j = atomic_fetch_add(&next_job, 1);

		if (j >= G.njobs)
			return false;
		c->job = j;
	} else {
		cert = G.idents[c->ident].cert;
		key = G.idents[c->ident].key;
	}
	c->t0 = bn_now_ns();
	if (G.mode == M_ENROLL && (!w->first_ns || c->t0 < w->first_ns))
		w->first_ns = c->t0;
	if (!bn_conn_open(&c->bc, w->ep, &G.targets[c->target], G.ctx, cert, key, c, why, sizeof(why))) {
		note_err(w, "%s (%s)", why, G.target_text);
		count_error(w, bn_now_ns());
		return true; /* conn_step sees the slot idle and tries again */
	}
	if (G.mode == M_ENROLL)
		bn_conn_send(&c->bc, G.jobs[c->job].req, G.jobs[c->job].req_len);
	return true;
}

/* A failed operation on c: count it, close, and (checkin) open the session again. */
static void conn_fail(struct worker *w, struct conn *c, const char *why)
{
	uint64_t t = bn_now_ns();

	note_err(w, "%s", why);
	count_error(w, t); /* a connection that never came up is an error too */
	if (G.mode == M_ENROLL)
		G.jobs[c->job].ok = false;
	if (G.mode == M_CHECKIN && c->bc.handshaken)
		w->reconnects++;
	conn_close(c);
}

/* Start the next request or connection after a success on c. */
static void conn_next(struct worker *w, struct conn *c)
{
	switch (G.mode) {
	case M_ENROLL:
	case M_HANDSHAKE:
		conn_close(c);
		conn_open(w, c);
		return;
	case M_CHECKIN:
		make_checkin_request(c);
		c->t0 = bn_now_ns();
		return;
	}
}

/* Drive c as far as it goes without blocking. */
static void conn_step(struct worker *w, struct conn *c)
{
	char why[BN_ERR_TEXT];
	struct bn_reply r;

	for (;;) {
		if (c->bc.st == BN_S_IDLE) {
			if (!conn_open(w, c))
				return;
			if (c->bc.st == BN_S_IDLE)
				return; /* connect failed at once: let the loop come back later */
		}
		switch (bn_conn_step(&c->bc, &r, why, sizeof(why))) {
		case BN_WAIT:
			return;
		case BN_FAIL:
			conn_fail(w, c, why);
			return;
		case BN_UP:
			if (G.mode == M_HANDSHAKE) {
				if (bn_conn_shutdown(&c->bc, why, sizeof(why)) == BN_FAIL) {
					conn_fail(w, c, why);
					return;
				}
			} else {
				conn_next(w, c); /* checkin: the first request's clock starts now */
			}
			continue;
		case BN_CLOSED:
			/* handshake mode: the peer's close_notify or EOF, the handshake was accepted */
			record(w, c, bn_now_ns());
			conn_next(w, c);
			continue;
		case BN_REPLY:
			if (r.code != 200) {
				char msg[BN_ERR_TEXT];

				snprintf(msg, sizeof(msg), "%s: HTTP %d: %.*s", G.mode == M_ENROLL ? "enroll" : "check-in",
					 r.code, bn_first_line(r.body, r.blen), r.body);
				conn_fail(w, c, msg);
				return;
			}
			if (G.mode == M_ENROLL) {
				struct job *j = &G.jobs[c->job];

				j->ok = true;
				if (G.keep_replies) {
					j->reply = malloc(r.blen + 1);
					if (!j->reply)
						bn_die("out of memory");
					memcpy(j->reply, r.body, r.blen);
					j->reply_len = r.blen;
				}
			}
			record(w, c, bn_now_ns());
			if (r.close && G.mode == M_CHECKIN)
				conn_close(c); /* the server ends the session: open it again */
			else
				conn_next(w, c);
			continue;
		}
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];

	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0)
		bn_die("epoll_create1: %s", strerror(errno));
	for (size_t i = 0; i < w->nconns; i++)
		conn_step(w, &w->conns[i]);
	for (;;) {
		uint64_t t = bn_now_ns();
		bool busy = false;
		int n;

		if (atomic_load(&stop_all) || t >= G.t_give_up || (G.mode != M_ENROLL && t >= G.t_end))
			break;
		for (size_t i = 0; i < w->nconns; i++)
			if (w->conns[i].bc.st != BN_S_IDLE) {
				busy = true;
				break;
			}
		if (!busy) {
			/* enroll: no job left; or a connect failed at once: try again shortly */
			if (G.mode == M_ENROLL && atomic_load(&next_job) >= G.njobs)
				break;
			usleep(1000);
		} else {
			n = epoll_wait(w->ep, evs, 256, 50);
			if (n < 0 && errno != EINTR)
				bn_die("epoll_wait: %s", strerror(errno));
			for (int i = 0; i < n; i++)
				conn_step(w, evs[i].data.ptr);
		}
		for (size_t i = 0; i < w->nconns; i++)
			if (w->conns[i].bc.st == BN_S_IDLE)
				conn_step(w, &w->conns[i]); /* reopen after a failure */
	}
	for (size_t i = 0; i < w->nconns; i++)
		bn_conn_free(&w->conns[i].bc);
	close(w->ep);
	return NULL;
}

/* ---- reporting ----------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_all, true);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: loadgen enroll    -t HOST:PORT --user U --password-file F --model M --count N\n"
		"                         [--concurrency C] [--prefix P] [--save DIR [--save-max K]]\n"
		"       loadgen checkin   -t HOST:PORT --identities DIR [--connections C] [--duration S]\n"
		"       loadgen handshake -t HOST:PORT[,HOST:PORT...] --identities DIR [--connections C]\n"
		"                         [--duration S]\n"
		"       common: [--threads T] [--warmup S] [--ca ROOT.pem] [--timeout S]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"target", required_argument, NULL, 't'},
		{"user", required_argument, NULL, 'u'},
		{"password-file", required_argument, NULL, 'p'},
		{"model", required_argument, NULL, 'm'},
		{"count", required_argument, NULL, 'n'},
		{"concurrency", required_argument, NULL, 'c'},
		{"connections", required_argument, NULL, 'c'},
		{"prefix", required_argument, NULL, 'P'},
		{"save", required_argument, NULL, 's'},
		{"save-max", required_argument, NULL, 'S'},
		{"identities", required_argument, NULL, 'i'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"threads", required_argument, NULL, 'T'},
		{"ca", required_argument, NULL, 'a'},
		{"timeout", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *target = NULL, *user = NULL, *pass_file = NULL, *model = NULL, *save = NULL,
		   *idents = NULL, *ca = NULL;
	char prefix[48];
	uint64_t count = 0, conc = 0, threads = 1, save_max = UINT64_MAX;
	double duration = 5, warmup = 1, timeout = 120, cpu0, cpu1, secs;
	struct worker *ws;
	uint64_t ok = 0, errors = 0, reconnects = 0, t0, t1, first = 0, last = 0;
	size_t nlat = 0, saved = 0;
	uint32_t *lat;
	const char *err = NULL;
	int ch;

	bn_prog = "loadgen";
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "enroll"))
		G.mode = M_ENROLL;
	else if (!strcmp(argv[1], "checkin"))
		G.mode = M_CHECKIN;
	else if (!strcmp(argv[1], "handshake"))
		G.mode = M_HANDSHAKE;
	else {
		usage(stderr);
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "lg%lx-%lx-", (unsigned long)getpid(), (unsigned long)time(NULL));
	optind = 2;
	while ((ch = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 't': target = optarg; break;
		case 'u': user = optarg; break;
		case 'p': pass_file = optarg; break;
		case 'm': model = optarg; break;
		case 'n':
			if (!bn_parse_u64(optarg, 1, MAX_COUNT, &count))
				bn_die("--count must be 1..%d", MAX_COUNT);
			break;
		case 'c':
			if (!bn_parse_u64(optarg, 1, MAX_CONNS, &conc))
				bn_die("--connections/--concurrency must be 1..%d", MAX_CONNS);
			break;
		case 'P':
			if (strlen(optarg) > 40 || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
								    "0123456789.-") != strlen(optarg) ||
			    snprintf(prefix, sizeof(prefix), "%s", optarg) < 0)
				bn_die("--prefix is at most 40 characters of A-Z a-z 0-9 . - (a PrintableString)");
			break;
		case 's': save = optarg; break;
		case 'S':
			if (!bn_parse_u64(optarg, 1, MAX_COUNT, &save_max))
				bn_die("--save-max must be 1..%d", MAX_COUNT);
			break;
		case 'i': idents = optarg; break;
		case 'd':
			if (!bn_parse_secs(optarg, 0.1, 3600, &duration))
				bn_die("--duration must be 0.1..3600 seconds");
			break;
		case 'w':
			if (!bn_parse_secs(optarg, 0, 600, &warmup))
				bn_die("--warmup must be 0..600 seconds");
			break;
		case 'T':
			if (!bn_parse_u64(optarg, 1, MAX_THREADS, &threads))
				bn_die("--threads must be 1..%d", MAX_THREADS);
			break;
		case 'a': ca = optarg; break;
		case 'o':
			if (!bn_parse_secs(optarg, 1, 86400, &timeout))
				bn_die("--timeout must be 1..86400 seconds");
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !target) {
		usage(stderr);
		return 2;
	}
	if (G.mode == M_ENROLL && (!user || !pass_file || !model || !count))
		bn_die("enroll needs --user, --password-file, --model and --count");
	if (G.mode != M_ENROLL && !idents)
		bn_die("%s needs --identities DIR (device certificates and keys, e.g. from enroll --save)", argv[1]);
	if (!conc)
		conc = G.mode == M_ENROLL ? 32 : 64;
	if (G.mode == M_ENROLL && conc > count)
		conc = count;
	if (threads > conc)
		threads = conc;
	G.ntargets = bn_parse_targets(target, G.targets, MAX_TARGETS);
	snprintf(G.target_text, sizeof(G.target_text), "%s", target);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	G.ctx = bn_client_ctx(ca);

	/* Everything that is not measured happens here. */
	if (G.mode == M_ENROLL) {
		uint64_t tg = bn_now_ns();

		make_jobs(count, prefix, user, pass_file, model);
		G.keep_replies = save != NULL;
		fprintf(stderr, "loadgen: made %" PRIu64 " P-256 keys and CSRs in %.2f s (not measured)\n", count,
			(double)(bn_now_ns() - tg) / 1e9);
	} else {
		G.idents = bn_load_identities(idents, G.mode == M_CHECKIN ? conc : MAX_IDENTS, &G.nidents);
	}

	ws = calloc(threads, sizeof(*ws));
	if (!ws)
		bn_die("out of memory");
	for (size_t i = 0, k = 0; i < threads; i++) {
		size_t n = conc / threads + (i < conc % threads);

		ws[i].conns = calloc(n, sizeof(*ws[i].conns));
		if (!ws[i].conns)
			bn_die("out of memory");
		ws[i].nconns = n;
		for (size_t j = 0; j < n; j++, k++) {
			bn_conn_init(&ws[i].conns[j].bc, IN_MAX);
			ws[i].conns[j].target = k % G.ntargets;
			ws[i].conns[j].ident = G.nidents ? k % G.nidents : 0;
		}
	}
	t0 = bn_now_ns();
	G.t_start = t0 + (uint64_t)(warmup * 1e9);
	G.t_end = G.t_start + (uint64_t)(duration * 1e9);
	G.t_give_up = t0 + (uint64_t)(timeout * 1e9);
	if (G.mode == M_ENROLL)
		G.t_start = t0;
	cpu0 = bn_cpu_seconds();
	for (size_t i = 0; i < threads; i++)
		if (pthread_create(&ws[i].thread, NULL, worker_run, &ws[i]) != 0)
			bn_die("pthread_create failed");
	if (G.mode != M_ENROLL) {
		/* CPU of the window only: sample when it opens */
		uint64_t t;

		while ((t = bn_now_ns()) < G.t_start && !atomic_load(&stop_all)) {
			struct timespec ts = {0, (long)((G.t_start - t) > 10000000 ? 10000000 : G.t_start - t)};

			nanosleep(&ts, NULL);
		}
		cpu0 = bn_cpu_seconds();
	}
	for (size_t i = 0; i < threads; i++)
		pthread_join(ws[i].thread, NULL);
	t1 = bn_now_ns();
	cpu1 = bn_cpu_seconds();

	for (size_t i = 0; i < threads; i++) {
		ok += ws[i].ok;
		errors += ws[i].errors;
		reconnects += ws[i].reconnects;
		nlat += ws[i].nlat;
		if (!err && ws[i].err[0])
			err = ws[i].err;
		if (ws[i].first_ns && (!first || ws[i].first_ns < first))
			first = ws[i].first_ns;
		if (ws[i].last_ns > last)
			last = ws[i].last_ns;
	}
	if (G.mode == M_ENROLL) {
		secs = last > first ? (double)(last - first) / 1e9 : (double)(t1 - t0) / 1e9;
		if (ok + errors < count && !err)
			err = "timed out before every enrolment was answered";
	} else {
		secs = (double)((t1 < G.t_end ? t1 : G.t_end) - G.t_start) / 1e9;
	}
	lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
	if (!lat)
		bn_die("out of memory");
	for (size_t i = 0, k = 0; i < threads; i++) {
		if (ws[i].nlat)
			memcpy(lat + k, ws[i].lat, ws[i].nlat * sizeof(*lat));
		k += ws[i].nlat;
	}
	printf("loadgen: mode=%s target=%s connections=%" PRIu64 " threads=%" PRIu64 " requests=%" PRIu64
	       " ok=%" PRIu64 " errors=%" PRIu64 " seconds=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f cpu_pct=%.0f",
	       argv[1], G.target_text, conc, threads, ok + errors, ok, errors, secs, secs > 0 ? (double)ok / secs : 0,
	       bn_percentile_ms(lat, nlat, 50), bn_percentile_ms(lat, nlat, 99),
	       secs > 0 ? 100 * (cpu1 - cpu0) / ((double)(t1 - (G.mode == M_ENROLL ? t0 : G.t_start)) / 1e9) : 0);
	if (G.mode == M_CHECKIN)
		printf(" reconnects=%" PRIu64, reconnects);
	if (save) {
		saved = save_identities(save, save_max);
		printf(" saved=%zu", saved);
	}
	printf("\n");
	if (err)
		printf("loadgen: first error: %s\n", err);
	fflush(stdout);
	for (size_t i = 0; i < threads; i++) {
		free(ws[i].conns);
		free(ws[i].lat);
	}
	free(ws);
	free(lat);
	for (size_t i = 0; i < G.njobs; i++) {
		EVP_PKEY_free(G.jobs[i].key);
		OPENSSL_clear_free(G.jobs[i].req, G.jobs[i].req_len); /* holds the batch password */
		free(G.jobs[i].reply);
	}
	free(G.jobs);
	bn_idents_free(G.idents, G.nidents);
	SSL_CTX_free(G.ctx);
	return 0;
}
