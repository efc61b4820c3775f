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
 * This is a bench tool, not part of libward: it talks TLS itself and
 * therefore includes OpenSSL headers directly, outside ward's crypto boundary
 * (STYLE.md rule 2 is about libward and ward's programs). It does not verify
 * the server's certificate unless --ca is given (a peer such as openssl
 * s_server and ward-server are then measured doing the same work).
 * Every buffer is bounded: requests are built once, replies are read into a
 * fixed IN_MAX buffer and a larger reply is an error.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define IN_MAX (64 * 1024)          /* largest reply we accept, headers and body */
#define MAX_TARGETS 16
#define MAX_CONNS 65536             /* concurrency over all threads */
#define MAX_THREADS 64
#define MAX_IDENTS 100000
#define MAX_COUNT 10000000          /* enroll --count */
#define LAT_MAX (64u * 1024 * 1024) /* latency samples kept per thread */
#define ERR_TEXT 256

enum mode { M_ENROLL, M_CHECKIN, M_HANDSHAKE };

enum state {
	S_IDLE,       /* no connection (enroll: no job left) */
	S_CONNECTING, /* non-blocking connect() in progress */
	S_HANDSHAKE,  /* SSL_do_handshake */
	S_WRITE,      /* sending the request */
	S_READ,       /* reading the reply */
	S_CLOSING,    /* handshake mode: close_notify sent, waiting for the peer's close */
};

/* One device identity: a key and its certificate. */
struct ident {
	EVP_PKEY *key; /* owned */
	X509 *cert;    /* owned */
};

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
	int fd;               /* socket, -1 when none */
	SSL *ssl;             /* TLS state, NULL when none */
	enum state st;        /* where the state machine is */
	size_t target;        /* index into the targets */
	size_t ident;         /* checkin/handshake: index into the identities */
	size_t job;           /* enroll: index into the jobs */
	const char *out;      /* the request being sent (borrowed) */
	size_t out_len, out_off;
	char in[IN_MAX];      /* the reply so far */
	size_t in_len;
	char req[512];        /* checkin: the request being sent */
	uint64_t seq;         /* checkin: requests sent on this slot (the uptime grows with it) */
	uint64_t t0;          /* when the timed operation started, ns */
	bool handshaken;      /* checkin: the session is up (later requests need no handshake) */
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
	char err[ERR_TEXT];      /* the first error this thread saw */
};

/* What every thread reads; set before the threads start, then read-only. */
static struct {
	enum mode mode;
	struct sockaddr_in targets[MAX_TARGETS];
	size_t ntargets;
	char target_text[512];
	SSL_CTX *ctx;
	struct ident *idents;
	size_t nidents;
	struct job *jobs;
	size_t njobs;
	bool keep_replies;        /* --save: keep the bodies of successes */
	uint64_t t_start, t_end;  /* the measurement window, ns (duration modes) */
	uint64_t t_give_up;       /* stop whatever is left, ns */
} G;

static atomic_size_t next_job;     /* enroll: next job to hand out */
static atomic_bool stop_all;       /* SIGINT or time is up */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

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

static const char *ossl_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "no OpenSSL reason";
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_secs(const char *s, double lo, double hi, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/* "HOST:PORT[,HOST:PORT...]" (IPv4 literals) into G.targets. */
static void parse_targets(const char *s)
{
	char buf[512], *p, *next;
	size_t n = strlen(s);

	if (n >= sizeof(buf))
		die("--target too long");
	memcpy(buf, s, n + 1);
	memcpy(G.target_text, s, n + 1);
	for (p = buf; p; p = next) {
		char *colon;

		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		colon = strrchr(p, ':');
		uint64_t port;
		struct sockaddr_in *a;

		if (G.ntargets == MAX_TARGETS)
			die("at most %d targets", MAX_TARGETS);
		if (!colon || !parse_u64(colon + 1, 1, 65535, &port))
			die("target \"%s\" is not HOST:PORT", p);
		*colon = '\0';
		a = &G.targets[G.ntargets++];
		memset(a, 0, sizeof(*a));
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, p, &a->sin_addr) != 1)
			die("target host \"%s\" is not an IPv4 address", p);
	}
	if (!G.ntargets)
		die("no target");
}

/* ---- identities and jobs (before the clock starts) ------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load up to max identities DIR/NAME.pem + DIR/NAME.key, in name order. */
static void load_identities(const char *dir, size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, total;

	if (!d)
		die("--identities %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 5 || strcmp(e->d_name + len - 4, ".pem"))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				die("out of memory");
		}
		names[n] = strndup(e->d_name, len - 4);
		if (!names[n])
			die("out of memory");
		n++;
	}
	closedir(d);
	if (!n)
		die("--identities %s: no NAME.pem files (make them with loadgen enroll --save)", dir);
	qsort(names, n, sizeof(*names), cmp_str);
	total = n;
	if (n > max)
		n = max;
	G.idents = calloc(n, sizeof(*G.idents));
	if (!G.idents)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		FILE *f;

		if (snprintf(path, sizeof(path), "%s/%s.pem", dir, names[i]) >= (int)sizeof(path))
			die("path too long in %s", dir);
		f = fopen(path, "r");
		if (!f || !(G.idents[i].cert = PEM_read_X509(f, NULL, NULL, NULL)))
			die("%s: not a PEM certificate", path);
		fclose(f);
		if (snprintf(path, sizeof(path), "%s/%s.key", dir, names[i]) >= (int)sizeof(path))
			die("path too long in %s", dir);
		f = fopen(path, "r");
		if (!f || !(G.idents[i].key = PEM_read_PrivateKey(f, NULL, NULL, NULL)))
			die("%s: not a PEM private key (unencrypted)", path);
		fclose(f);
		if (X509_check_private_key(G.idents[i].cert, G.idents[i].key) != 1)
			die("%s/%s: key and certificate do not match", dir, names[i]);
		free(names[i]);
	}
	for (size_t i = n; i < total; i++)
		free(names[i]);
	free(names);
	G.nidents = n;
}

static char *b64(const unsigned char *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (!out)
		die("out of memory");
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
		die("cannot make a P-256 key: %s", ossl_reason());
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)j->serial, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "serialNumber", MBSTRING_ASC, (const unsigned char *)j->serial, -1, -1,
					0) ||
	    !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)model, -1, -1, 0) ||
	    !X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, j->key) || !X509_REQ_sign(req, j->key, EVP_sha256()))
		die("cannot make a CSR: %s", ossl_reason());
	dlen = i2d_X509_REQ(req, &der);
	if (dlen <= 0)
		die("cannot encode a CSR: %s", ossl_reason());
	body = b64(der, (size_t)dlen);
	cap = strlen(body) + strlen(auth) + strlen(host) + 512;
	j->req = OPENSSL_malloc(cap); /* freed with OPENSSL_clear_free: it carries the password */
	if (!j->req)
		die("out of memory");
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
		die("request too long");
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
		die("--password-file %s: %s", pass_file, strerror(errno));
	if (!fgets(pass, sizeof(pass), f))
		die("--password-file %s: empty", pass_file);
	fclose(f);
	pass[strcspn(pass, "\r\n")] = '\0';
	len = snprintf(cred, sizeof(cred), "%s:%s", user, pass);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (len < 0 || (size_t)len >= sizeof(cred))
		die("user name and password too long");
	auth = b64((const unsigned char *)cred, (size_t)len);
	OPENSSL_cleanse(cred, sizeof(cred));
	G.jobs = calloc(count, sizeof(*G.jobs));
	if (!G.jobs)
		die("out of memory");
	for (n = 0; n < count; n++) {
		struct job *j = &G.jobs[n];

		len = snprintf(j->serial, sizeof(j->serial), "%s%06zu", prefix, n);
		if (len < 0 || (size_t)len >= sizeof(j->serial))
			die("--prefix too long: serials are at most 64 characters");
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
		die("check-in body too long");
	n = snprintf(c->req, sizeof(c->req),
		     "POST /api/v1/device/checkin HTTP/1.1\r\n"
		     "Host: ward-server\r\n"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %d\r\n"
		     "\r\n%s",
		     b, body);
	if (n < 0 || (size_t)n >= sizeof(c->req))
		die("check-in request too long");
	c->out = c->req;
	c->out_len = (size_t)n;
}

/* Write what enroll --save keeps, after the clock stopped. Returns how many. */
static size_t save_identities(const char *dir, size_t max)
{
	size_t saved = 0;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		die("--save %s: %s", dir, strerror(errno));
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
			die("out of memory");
		for (size_t m = 0; m < j->reply_len; m++)
			if (j->reply[m] != '\n' && j->reply[m] != '\r' && j->reply[m] != ' ')
				clean[k++] = j->reply[m];
		dlen = EVP_DecodeBlock(der, (unsigned char *)clean, (int)k);
		if (dlen <= 0)
			die("%s: reply is not base64", j->serial);
		p = der;
		p7 = d2i_PKCS7(NULL, &p, dlen);
		if (!p7 || !PKCS7_type_is_signed(p7) || !p7->d.sign->cert ||
		    sk_X509_num(p7->d.sign->cert) < 1)
			die("%s: reply is not a PKCS#7 certs-only structure", j->serial);
		cert = sk_X509_value(p7->d.sign->cert, 0);
		if (X509_check_private_key(cert, j->key) != 1)
			die("%s: the issued certificate is not for our key", j->serial);
		if (snprintf(path, sizeof(path), "%s/%s.key", dir, j->serial) >= (int)sizeof(path))
			die("path too long");
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f || !PEM_write_PKCS8PrivateKey(f, j->key, NULL, NULL, 0, NULL, NULL) || fclose(f))
			die("%s: cannot write: %s", path, strerror(errno));
		if (snprintf(path, sizeof(path), "%s/%s.pem", dir, j->serial) >= (int)sizeof(path))
			die("path too long");
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f || !PEM_write_X509(f, cert) || fclose(f))
			die("%s: cannot write: %s", path, strerror(errno));
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
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd); /* also removes it from the epoll set */
		c->fd = -1;
	}
	c->st = S_IDLE;
	c->in_len = 0;
	c->handshaken = false;
	ERR_clear_error();
}

/* Open a new connection on slot c; false when nothing is left to do. */
static bool conn_open(struct worker *w, struct conn *c)
{
	struct epoll_event ev;
	int one = 1, fd;

	if (atomic_load(&stop_all))
		return false;
	if (G.mode == M_ENROLL) {
		size_t j = atomic_fetch_add(&next_job, 1);

		if (j >= G.njobs)
			return false;
		c->job = j;
		c->out = G.jobs[j].req;
		c->out_len = G.jobs[j].req_len;
	}
	c->t0 = now_ns();
	if (G.mode == M_ENROLL && (!w->first_ns || c->t0 < w->first_ns))
		w->first_ns = c->t0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->in_len = 0;
	c->out_off = 0;
	c->st = S_CONNECTING;
	if (connect(fd, (const struct sockaddr *)&G.targets[c->target], sizeof(G.targets[0])) != 0 &&
	    errno != EINPROGRESS) {
		note_err(w, "connect %s: %s", G.target_text, strerror(errno));
		count_error(w, now_ns());
		conn_close(c);
		return true; /* conn_step sees S_IDLE and tries again */
	}
	c->ssl = SSL_new(G.ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
		die("SSL_new: %s", ossl_reason());
	SSL_set_connect_state(c->ssl);
	if (G.mode != M_ENROLL) {
		const struct ident *id = &G.idents[c->ident];

		if (SSL_use_certificate(c->ssl, id->cert) != 1 || SSL_use_PrivateKey(c->ssl, id->key) != 1)
			die("cannot use the device identity: %s", ossl_reason());
	}
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
	return true;
}

/*
 * Is the reply in c->in complete? 1 yes (*code, *body and *blen are set),
 * 0 not yet, -1 it is not a reply we can read.
 */
static int reply_complete(struct conn *c, int *code, const char **body, size_t *blen)
{
	const char *end, *p, *line;
	size_t hlen, clen = 0;
	bool have_len = false;

	if (c->in_len < 12)
		return 0;
	end = NULL;
	for (size_t i = 0; i + 4 <= c->in_len; i++)
		if (!memcmp(c->in + i, "\r\n\r\n", 4)) {
			end = c->in + i;
			break;
		}
	if (!end)
		return c->in_len >= IN_MAX ? -1 : 0;
	hlen = (size_t)(end - c->in) + 4;
	if (strncmp(c->in, "HTTP/1.", 7) || c->in[8] != ' ')
		return -1;
	*code = (c->in[9] - '0') * 100 + (c->in[10] - '0') * 10 + (c->in[11] - '0');
	for (line = memchr(c->in, '\n', hlen); line && line < end; line = memchr(line, '\n', (size_t)(end - line))) {
		line++;
		if ((size_t)(end - line) > 15 && !strncasecmp(line, "Content-Length:", 15)) {
			uint64_t v = 0;

			for (p = line + 15; *p == ' '; p++)
				;
			for (; *p >= '0' && *p <= '9' && v < IN_MAX; p++)
				v = v * 10 + (uint64_t)(*p - '0');
			clen = (size_t)v;
			have_len = true;
		} else if ((size_t)(end - line) > 18 && !strncasecmp(line, "Transfer-Encoding:", 18)) {
			return -1; /* ward-server always sends Content-Length */
		}
	}
	if (!have_len || hlen + clen > IN_MAX)
		return -1;
	if (c->in_len < hlen + clen)
		return 0;
	*body = c->in + hlen;
	*blen = clen;
	return 1;
}

/* First line of a body, for error messages. */
static int first_line(const char *b, size_t n)
{
	const char *nl = memchr(b, '\n', n);
	size_t len = nl ? (size_t)(nl - b) : n;

	return (int)(len > 160 ? 160 : len);
}

/* A failed operation on c: count it, close, and (checkin) open the session again. */
static void conn_fail(struct worker *w, struct conn *c, const char *what, const char *why)
{
	uint64_t t = now_ns();

	note_err(w, "%s: %s", what, why);
	count_error(w, t); /* a connection that never came up is an error too */
	if (G.mode == M_ENROLL)
		G.jobs[c->job].ok = false;
	if (G.mode == M_CHECKIN && c->handshaken)
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
		c->st = S_WRITE;
		make_checkin_request(c);
		c->out_off = 0;
		c->in_len = 0;
		c->t0 = now_ns();
		return;
	}
}

/* SSL call result r on c: true to go on, false when it must wait (or failed). */
static bool ssl_go(struct worker *w, struct conn *c, int r, const char *what)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return false;
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
		conn_fail(w, c, what, errno && e == SSL_ERROR_SYSCALL ? strerror(errno) : "connection closed by the server");
	else
		conn_fail(w, c, what, ossl_reason());
	return false;
}

/* Drive c as far as it goes without blocking. */
static void conn_step(struct worker *w, struct conn *c)
{
	for (;;) {
		switch (c->st) {
		case S_IDLE:
			if (!conn_open(w, c))
				return;
			if (c->st == S_IDLE)
				return; /* connect failed at once: let the loop come back later */
			continue;
		case S_CONNECTING: {
			int err = 0;
			socklen_t len = sizeof(err);

			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno;
			if (err == EINPROGRESS || err == EALREADY)
				return;
			if (err) {
				conn_fail(w, c, "connect", strerror(err));
				return;
			}
			c->st = S_HANDSHAKE;
			continue;
		}
		case S_HANDSHAKE: {
			int r;

			errno = 0;
			r = SSL_do_handshake(c->ssl);
			if (r != 1) {
				if (!ssl_go(w, c, r, "TLS handshake"))
					return;
				continue;
			}
			c->handshaken = true;
			if (G.mode == M_HANDSHAKE) {
				errno = 0;
				r = SSL_shutdown(c->ssl); /* sends close_notify */
				if (r < 0 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_WRITE &&
				    SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
					/* the server refused us (an alert) or closed first */
					conn_fail(w, c, "sending close_notify",
						  ERR_peek_error() ? ossl_reason()
								   : errno ? strerror(errno) : "the server closed the connection");
					return;
				}
				c->st = S_CLOSING;
			} else if (G.mode == M_CHECKIN) {
				conn_next(w, c); /* the first request's clock starts now */
			} else {
				c->st = S_WRITE;
			}
			continue;
		}
		case S_WRITE: {
			int r;

			errno = 0;
			r = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
			if (r <= 0) {
				if (!ssl_go(w, c, r, "sending the request"))
					return;
				continue;
			}
			c->out_off += (size_t)r;
			if (c->out_off == c->out_len)
				c->st = S_READ;
			continue;
		}
		case S_READ: {
			int r, code = 0, done;
			const char *body = NULL;
			size_t blen = 0;

			if (c->in_len >= IN_MAX) {
				conn_fail(w, c, "reply", "larger than 64 KiB");
				return;
			}
			errno = 0;
			r = SSL_read(c->ssl, c->in + c->in_len, (int)(IN_MAX - c->in_len));
			if (r <= 0) {
				if (!ssl_go(w, c, r, "reading the reply"))
					return;
				continue;
			}
			c->in_len += (size_t)r;
			done = reply_complete(c, &code, &body, &blen);
			if (done == 0)
				continue;
			if (done < 0) {
				conn_fail(w, c, "reply", "not an HTTP/1.1 reply with Content-Length");
				return;
			}
			if (code != 200) {
				char why[ERR_TEXT];

				snprintf(why, sizeof(why), "HTTP %d: %.*s", code, first_line(body, blen), body);
				conn_fail(w, c, G.mode == M_ENROLL ? "enroll" : "check-in", why);
				return;
			}
			if (G.mode == M_ENROLL) {
				struct job *j = &G.jobs[c->job];

				j->ok = true;
				if (G.keep_replies) {
					j->reply = malloc(blen + 1);
					if (!j->reply)
						die("out of memory");
					memcpy(j->reply, body, blen);
					j->reply_len = blen;
				}
			}
			record(w, c, now_ns());
			conn_next(w, c);
			continue;
		}
		case S_CLOSING: {
			char buf[256];
			int r, e;

			errno = 0;
			r = SSL_read(c->ssl, buf, sizeof(buf));
			if (r > 0)
				continue; /* e.g. a session ticket's record: ignore */
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
				/* the peer's close_notify or EOF: the handshake was accepted */
				record(w, c, now_ns());
				conn_next(w, c);
				continue;
			}
			conn_fail(w, c, "TLS (after the handshake)", ossl_reason());
			return;
		}
		}
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];

	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (size_t i = 0; i < w->nconns; i++)
		conn_step(w, &w->conns[i]);
	for (;;) {
		uint64_t t = now_ns();
		bool busy = false;
		int n;

		if (atomic_load(&stop_all) || t >= G.t_give_up || (G.mode != M_ENROLL && t >= G.t_end))
			break;
		for (size_t i = 0; i < w->nconns; i++)
			if (w->conns[i].st != S_IDLE) {
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
				die("epoll_wait: %s", strerror(errno));
			for (int i = 0; i < n; i++)
				conn_step(w, evs[i].data.ptr);
		}
		for (size_t i = 0; i < w->nconns; i++)
			if (w->conns[i].st == S_IDLE)
				conn_step(w, &w->conns[i]); /* reopen after a failure */
	}
	for (size_t i = 0; i < w->nconns; i++)
		conn_close(&w->conns[i]);
	close(w->ep);
	return NULL;
}

/* ---- reporting ----------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

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
			if (!parse_u64(optarg, 1, MAX_COUNT, &count))
				die("--count must be 1..%d", MAX_COUNT);
			break;
		case 'c':
			if (!parse_u64(optarg, 1, MAX_CONNS, &conc))
				die("--connections/--concurrency must be 1..%d", MAX_CONNS);
			break;
		case 'P':
			if (strlen(optarg) > 40 || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
								    "0123456789.-") != strlen(optarg) ||
			    snprintf(prefix, sizeof(prefix), "%s", optarg) < 0)
				die("--prefix is at most 40 characters of A-Z a-z 0-9 . - (a PrintableString)");
			break;
		case 's': save = optarg; break;
		case 'S':
			if (!parse_u64(optarg, 1, MAX_COUNT, &save_max))
				die("--save-max must be 1..%d", MAX_COUNT);
			break;
		case 'i': idents = optarg; break;
		case 'd':
			if (!parse_secs(optarg, 0.1, 3600, &duration))
				die("--duration must be 0.1..3600 seconds");
			break;
		case 'w':
			if (!parse_secs(optarg, 0, 600, &warmup))
				die("--warmup must be 0..600 seconds");
			break;
		case 'T':
			if (!parse_u64(optarg, 1, MAX_THREADS, &threads))
				die("--threads must be 1..%d", MAX_THREADS);
			break;
		case 'a': ca = optarg; break;
		case 'o':
			if (!parse_secs(optarg, 1, 86400, &timeout))
				die("--timeout must be 1..86400 seconds");
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
		die("enroll needs --user, --password-file, --model and --count");
	if (G.mode != M_ENROLL && !idents)
		die("%s needs --identities DIR (device certificates and keys, e.g. from enroll --save)", argv[1]);
	if (!conc)
		conc = G.mode == M_ENROLL ? 32 : 64;
	if (G.mode == M_ENROLL && conc > count)
		conc = count;
	if (threads > conc)
		threads = conc;
	parse_targets(target);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	G.ctx = SSL_CTX_new(TLS_client_method());
	if (!G.ctx || SSL_CTX_set_min_proto_version(G.ctx, TLS1_2_VERSION) != 1)
		die("SSL_CTX_new: %s", ossl_reason());
	SSL_CTX_set_session_cache_mode(G.ctx, SSL_SESS_CACHE_OFF); /* every handshake is a full one */
	SSL_CTX_set_mode(G.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* a peer that closes TCP without close_notify (ward-server does) ends with EOF, not an error */
	SSL_CTX_set_options(G.ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (ca) {
		if (SSL_CTX_load_verify_locations(G.ctx, ca, NULL) != 1)
			die("--ca %s: %s", ca, ossl_reason());
		SSL_CTX_set_verify(G.ctx, SSL_VERIFY_PEER, NULL);
		X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(G.ctx), X509_V_FLAG_PARTIAL_CHAIN);
	} else {
		SSL_CTX_set_verify(G.ctx, SSL_VERIFY_NONE, NULL);
	}

	/* Everything that is not measured happens here. */
	if (G.mode == M_ENROLL) {
		uint64_t tg = now_ns();

		make_jobs(count, prefix, user, pass_file, model);
		G.keep_replies = save != NULL;
		fprintf(stderr, "loadgen: made %" PRIu64 " P-256 keys and CSRs in %.2f s (not measured)\n", count,
			(double)(now_ns() - tg) / 1e9);
	} else {
		load_identities(idents, G.mode == M_CHECKIN ? conc : MAX_IDENTS);
	}

	ws = calloc(threads, sizeof(*ws));
	if (!ws)
		die("out of memory");
	for (size_t i = 0, k = 0; i < threads; i++) {
		size_t n = conc / threads + (i < conc % threads);

		ws[i].conns = calloc(n, sizeof(*ws[i].conns));
		if (!ws[i].conns)
			die("out of memory");
		ws[i].nconns = n;
		for (size_t j = 0; j < n; j++, k++) {
			ws[i].conns[j].fd = -1;
			ws[i].conns[j].st = S_IDLE;
			ws[i].conns[j].target = k % G.ntargets;
			ws[i].conns[j].ident = G.nidents ? k % G.nidents : 0;
		}
	}
	t0 = now_ns();
	G.t_start = t0 + (uint64_t)(warmup * 1e9);
	G.t_end = G.t_start + (uint64_t)(duration * 1e9);
	G.t_give_up = t0 + (uint64_t)(timeout * 1e9);
	if (G.mode == M_ENROLL)
		G.t_start = t0;
	cpu0 = cpu_seconds();
	for (size_t i = 0; i < threads; i++)
		if (pthread_create(&ws[i].thread, NULL, worker_run, &ws[i]) != 0)
			die("pthread_create failed");
	if (G.mode != M_ENROLL) {
		/* CPU of the window only: sample when it opens */
		uint64_t t;

		while ((t = now_ns()) < G.t_start && !atomic_load(&stop_all)) {
			struct timespec ts = {0, (long)((G.t_start - t) > 10000000 ? 10000000 : G.t_start - t)};

			nanosleep(&ts, NULL);
		}
		cpu0 = cpu_seconds();
	}
	for (size_t i = 0; i < threads; i++)
		pthread_join(ws[i].thread, NULL);
	t1 = now_ns();
	cpu1 = cpu_seconds();

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
		die("out of memory");
	for (size_t i = 0, k = 0; i < threads; i++) {
		if (ws[i].nlat)
			memcpy(lat + k, ws[i].lat, ws[i].nlat * sizeof(*lat));
		k += ws[i].nlat;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("loadgen: mode=%s target=%s connections=%" PRIu64 " threads=%" PRIu64 " requests=%" PRIu64
	       " ok=%" PRIu64 " errors=%" PRIu64 " seconds=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f cpu_pct=%.0f",
	       argv[1], G.target_text, conc, threads, ok + errors, ok, errors, secs, secs > 0 ? (double)ok / secs : 0,
	       nlat ? lat[nlat / 2] / 1000.0 : 0, nlat ? lat[nlat * 99 / 100] / 1000.0 : 0,
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
	for (size_t i = 0; i < G.nidents; i++) {
		EVP_PKEY_free(G.idents[i].key);
		X509_free(G.idents[i].cert);
	}
	free(G.idents);
	SSL_CTX_free(G.ctx);
	return 0;
}
