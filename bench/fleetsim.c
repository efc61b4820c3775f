/*
 * bench/fleetsim.c — a fleet of simulated devices in one process, for scale
 * tests of ward-server (bench/scale.sh): each device has its own P-256 key
 * and certificate (made by `loadgen enroll --save`), keeps one mutual-TLS
 * keep-alive session to ward-server and runs the device protocol in a loop:
 *
 *   fleetsim -t HOST:PORT[,HOST:PORT...] --identities DIR [options]
 *
 *   1. POST /api/v1/device/checkin with facts (hardware_id, firmware_version,
 *      booted_slot, slots, uptime: what agent/online.c sends);
 *   2. GET /api/v1/device/director/timestamp.json; when it names a new
 *      snapshot version, snapshot.json; when that names a new targets
 *      version, targets.json. When targets names an image other than the one
 *      the device runs (and not one that already rolled back on it), the
 *      device updates: report "downloading", GET the image from
 *      /repo/targets/ (consistent-snapshot name <dir>/<sha256>.<name> unless
 *      --no-consistent-snapshot), check its length and sha256 against the
 *      director's entry, report "installed", close the session and "reboot"
 *      for --reboot seconds, reconnect, check in with the new facts, and
 *      report "booted" and "healthy" (or, for a --fail-rate fraction of the
 *      devices, "booted" and "rolled-back", staying on the old image);
 *   3. sleep --interval seconds (+-10% jitter) and start again.
 *
 * Reports go to POST /api/v1/device/report as {"reports": [{"seq", "stage",
 * "target", "version", "reason", "time"}]} (docs/api.md); seq starts at the
 * start time in milliseconds and grows by one per report, so it increases
 * over reruns too. A 501 (endpoint not built) counts as accepted.
 *
 * Director metadata: with --director-root FILE (DIR/ca/director-root.json)
 * every timestamp, snapshot and targets file is verified with libward
 * (ward_tuf_meta_parse + ward_tuf_meta_verify against the pinned root's
 * role keys, expiry, and snapshot's length and hashes as timestamp lists
 * them); without it the files are only parsed. The image repository's own
 * metadata is not fetched: the image is checked against the director's
 * (signed) length and sha256 only.
 *
 * Devices are spread over --threads epoll loops and round-robin over the
 * targets; their first check-ins are spread evenly over --ramp seconds.
 * A request that fails on a kept-alive session (the server closed it while
 * idle) is sent once more on a new session without counting an error; any
 * other failure (connection, TLS, HTTP status other than 200, 501 on a
 * report) counts an error and the step is retried after 1-3 s.
 *
 * The campaign's clock: SIGUSR1 marks "the campaign starts now" (scale.sh
 * sends it just before `ward campaign start`); without it, fleetsim's start.
 * An image counts as offered to a device the first time its director names
 * it (--image NAME: only that image), healthy when the device reported it
 * healthy. Progress goes to stdout every --progress seconds:
 *   fleetsim: t=12.0 checked_in=N sessions=S offered=O healthy=H failed=F requests=R errors=E
 * once "fleetsim: all N devices checked in at t=X", and at the end one line
 *   fleetsim: devices=N offered=O healthy=H failed=F offered_s=X healthy_s=Y
 *   requests=R errors=E reconnects=K idle_closed=I reports_501=U p50_ms=A p99_ms=B cpu_s=C cpu_pct=P
 *   maxrss_kib=M wall_s=W
 * (offered_s / healthy_s: from the campaign's start until the last device
 * was offered / finished, "-" when not every device got there; cpu_pct: 100
 * = one core), then the first error, if any. With --until-done it exits as
 * soon as every device is healthy or rolled back; --duration bounds the run.
 *
 * This is a bench tool, not part of libward: its TLS is bench/benchnet.c,
 * outside ward's crypto boundary (STYLE.md rule 2 is about libward and
 * ward's programs). Every reply is read into a buffer of bounded size
 * (metadata 64 KiB, the image its signed length plus 8 KiB).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
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
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "benchnet.h"
#include "ward/buf.h"
#include "ward/err.h"
#include "ward/tuf.h"

#define META_MAX (64 * 1024)   /* a director metadata reply */
#define IMAGE_MAX (256u << 20) /* largest image we download */
#define MAX_TARGETS 16
#define MAX_DEVICES 200000
#define MAX_THREADS 64
#define LAT_MAX (16u * 1024 * 1024) /* latency samples kept per thread */
#define PATH_LEN 160
#define VER_LEN 48

enum step {
	ST_SLEEP,      /* waiting for the next check-in */
	ST_CHECKIN,    /* POST checkin */
	ST_TIMESTAMP,  /* GET director timestamp.json */
	ST_SNAPSHOT,   /* GET director snapshot.json */
	ST_TARGETS,    /* GET director targets.json */
	ST_R_DOWNLOAD, /* report downloading */
	ST_IMAGE,      /* GET the image */
	ST_R_INSTALL,  /* report installed */
	ST_REBOOT,     /* no session, waiting for the simulated reboot */
	ST_R_BOOT,     /* report booted + healthy / rolled-back */
};

static const char *const step_name[] = {"sleep",   "check-in", "timestamp.json",         "snapshot.json", "targets.json",
					"report downloading", "image", "report installed", "reboot", "report booted"};

struct dev {
	struct bn_conn bc;          /* the device's session */
	const struct bn_ident *id;  /* its key and certificate (borrowed) */
	uint32_t target;            /* which server */
	enum step step;             /* what it does now */
	uint64_t due;               /* ST_SLEEP / ST_REBOOT / retry: when to go on, ns */
	size_t heap;                /* position in the thread's timer heap, SIZE_MAX when not in it */
	char *req;                  /* the request in flight (owned) */
	bool reused;                /* the request went out on a kept-alive session */
	bool retry;                 /* the timer re-issues step rather than advancing */
	bool checked_in;            /* first check-in answered */
	bool boot_report;           /* after a reboot: report once the check-in is in */
	bool will_fail;             /* this device rolls back (--fail-rate) */
	bool counted_offer;         /* offer of the current director target counted */
	int slot;                   /* booted slot: 0 = A, 1 = B */
	char slot_ver[2][VER_LEN];  /* version in each slot */
	char fw_path[PATH_LEN];     /* the image the device runs ("" at first) */
	char failed_path[PATH_LEN]; /* an image that rolled back here: not tried again */
	uint64_t ts_ver, snap_ver, tgt_ver;     /* director versions held */
	uint64_t want_snap, want_tgt;           /* versions the newer metadata named */
	struct ward_tuf_fileinfo snap_info;     /* snapshot.json as timestamp lists it */
	bool has_target;                        /* the director names an image */
	char t_path[PATH_LEN], t_ver[VER_LEN];  /* that image */
	struct ward_tuf_fileinfo t_info;
	uint64_t seq;                           /* last report seq */
	uint64_t checkins;                      /* for the uptime */
};

struct worker {
	pthread_t thread;
	int ep;                /* epoll instance */
	struct dev **heap;     /* timer min-heap on due */
	size_t nheap;
	struct dev *devs;      /* devices of this thread (a slice of all) */
	size_t ndevs;
	uint32_t *lat;         /* request latencies, microseconds */
	size_t nlat, caplat;
	uint64_t rng;          /* xorshift state */
	char err[BN_ERR_TEXT]; /* the first error this thread saw */
};

/* Set before the threads start, then read-only (counters: atomics). */
static struct {
	struct sockaddr_in targets[MAX_TARGETS];
	size_t ntargets;
	SSL_CTX *ctx;
	struct bn_ident *ids;
	size_t nids;
	struct ward_tuf_meta *root; /* the pinned director root, or NULL */
	const char *image;          /* --image: the campaign's image, or NULL = any new one */
	const char *hw;             /* --hardware-id */
	const char *version0;       /* --version: what every device runs at first */
	double interval, ramp, reboot, fail_rate;
	bool consistent;            /* image file names with their sha256 */
	uint64_t t0;                /* start, ns */
	uint64_t seq0;              /* report seq base */
} G;

static atomic_bool stop_all;
static atomic_uint_fast64_t t_campaign;      /* ns; 0 = not signalled */
static atomic_uint_fast64_t n_checked_in, n_sessions, n_offered, n_healthy, n_failed;
static atomic_uint_fast64_t n_requests, n_errors, n_reconnects, n_idle_closed, n_report_501;
static atomic_uint_fast64_t t_last_offer, t_last_done;

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

static uint64_t rnd(struct worker *w)
{
	uint64_t x = w->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->rng = x;
	return x;
}

/* Uniform in [0, 1). */
static double rnd01(struct worker *w)
{
	return (double)(rnd(w) >> 11) / 9007199254740992.0;
}

static void max_store(atomic_uint_fast64_t *a, uint64_t v)
{
	uint64_t cur = atomic_load(a);

	while (cur < v && !atomic_compare_exchange_weak(a, &cur, v))
		;
}

/* ---- the timer heap ----------------------------------------------------------- */

static void heap_swap(struct worker *w, size_t a, size_t b)
{
	struct dev *t = w->heap[a];

	w->heap[a] = w->heap[b];
	w->heap[b] = t;
	w->heap[a]->heap = a;
	w->heap[b]->heap = b;
}

static void heap_up(struct worker *w, size_t i)
{
	while (i > 0 && w->heap[(i - 1) / 2]->due > w->heap[i]->due) {
		heap_swap(w, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct worker *w, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < w->nheap && w->heap[l]->due < w->heap[m]->due)
			m = l;
		if (r < w->nheap && w->heap[r]->due < w->heap[m]->due)
			m = r;
		if (m == i)
			return;
		heap_swap(w, i, m);
		i = m;
	}
}

/* Wake d at `due` (ns). */
static void timer_set(struct worker *w, struct dev *d, uint64_t due)
{
	d->due = due;
	if (d->heap == SIZE_MAX) {
		d->heap = w->nheap;
		w->heap[w->nheap++] = d;
	}
	heap_up(w, d->heap);
	heap_down(w, d->heap);
}

static struct dev *timer_pop(struct worker *w)
{
	struct dev *d = w->heap[0];

	w->nheap--;
	if (w->nheap) {
		w->heap[0] = w->heap[w->nheap];
		w->heap[0]->heap = 0;
		heap_down(w, 0);
	}
	d->heap = SIZE_MAX;
	return d;
}

/* ---- requests ------------------------------------------------------------------ */

static char *aprint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *aprint(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(s = malloc((size_t)n + 1)))
		bn_die("out of memory");
	va_start(ap, fmt);
	if (vsnprintf(s, (size_t)n + 1, fmt, ap) != n)
		bn_die("cannot format a request");
	va_end(ap);
	return s;
}

static char *post_json(const char *path, const char *body)
{
	return aprint("POST %s HTTP/1.1\r\nHost: ward-server\r\nContent-Type: application/json\r\n"
		      "Content-Length: %zu\r\n\r\n%s",
		      path, strlen(body), body);
}

static char *get(const char *path)
{
	return aprint("GET %s HTTP/1.1\r\nHost: ward-server\r\n\r\n", path);
}

static char *checkin_request(struct dev *d)
{
	json_t *f = json_pack("{s:s,s:s,s:s,s:{s:{s:s,s:s},s:{s:s,s:s}},s:I}", "hardware_id", G.hw,
			      "firmware_version", d->slot_ver[d->slot], "booted_slot", d->slot ? "B" : "A",
			      "slots", "A", "state", d->slot_ver[0][0] ? "good" : "unknown", "version",
			      d->slot_ver[0], "B", "state", d->slot_ver[1][0] ? "good" : "unknown", "version",
			      d->slot_ver[1], "uptime", (json_int_t)(600 + d->checkins++ * (uint64_t)G.interval));
	char *body = f ? json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS) : NULL, *req;

	if (!body)
		bn_die("cannot encode check-in facts");
	req = post_json("/api/v1/device/checkin", body);
	json_decref(f);
	free(body);
	return req;
}

/* A report request with one or two stages. */
static char *report_request(struct dev *d, const char *stage1, const char *stage2, const char *reason)
{
	json_t *reps = json_array(), *o;
	const char *stages[2] = {stage1, stage2};
	char *body, *req;

	for (int i = 0; i < 2 && stages[i]; i++) {
		o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I}", "seq", (json_int_t)++d->seq, "stage", stages[i], "target",
			      d->t_path, "version", d->t_ver, "reason", !strcmp(stages[i], "rolled-back") ? reason : "",
			      "time", (json_int_t)time(NULL));
		if (!o || json_array_append_new(reps, o))
			bn_die("cannot encode a report");
	}
	o = json_pack("{s:o}", "reports", reps);
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!body)
		bn_die("cannot encode a report");
	req = post_json("/api/v1/device/report", body);
	json_decref(o);
	free(body);
	return req;
}

/* /repo/targets/<path>, with the sha256 in the file name under consistent snapshots. */
static char *image_request(struct dev *d)
{
	char url[1024], hex[2 * WARD_SHA512_LEN + 1], enc[512];
	const char *p = d->t_path, *slash = strrchr(d->t_path, '/');
	size_t o;

	o = (size_t)snprintf(url, sizeof(url), "/repo/targets/");
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char seg[PATH_LEN];

		memcpy(seg, p, len);
		seg[len] = '\0';
		if (G.consistent && p == (slash ? slash + 1 : d->t_path)) {
			bool use512 = d->t_info.has_sha512 && (d->t_info.first_is_sha512 || !d->t_info.has_sha256);

			ward_hex_encode(use512 ? d->t_info.sha512 : d->t_info.sha256,
					use512 ? WARD_SHA512_LEN : WARD_SHA256_LEN, hex);
			o += (size_t)snprintf(url + o, sizeof(url) - o, "%s.", hex);
		}
		if (ward_tuf_url_encode(seg, enc, sizeof(enc)) != WARD_OK)
			bn_die("target path %s cannot be encoded", d->t_path);
		o += (size_t)snprintf(url + o, sizeof(url) - o, "%s%s", enc, end ? "/" : "");
		if (o >= sizeof(url))
			bn_die("target path %s too long", d->t_path);
		if (!end)
			break;
		p = end + 1;
	}
	return get(url);
}

static char *build(struct dev *d)
{
	switch (d->step) {
	case ST_CHECKIN:
		return checkin_request(d);
	case ST_TIMESTAMP:
		return get("/api/v1/device/director/timestamp.json");
	case ST_SNAPSHOT:
		return get("/api/v1/device/director/snapshot.json");
	case ST_TARGETS:
		return get("/api/v1/device/director/targets.json");
	case ST_R_DOWNLOAD:
		return report_request(d, "downloading", NULL, "");
	case ST_IMAGE:
		return image_request(d);
	case ST_R_INSTALL:
		return report_request(d, "installed", NULL, "");
	case ST_R_BOOT:
		return d->will_fail ? report_request(d, "booted", "rolled-back", "health check failed (simulated)")
				    : report_request(d, "booted", "healthy", "");
	case ST_SLEEP:
	case ST_REBOOT:
		break;
	}
	bn_die("no request for step %d", d->step);
}

static void drive(struct worker *w, struct dev *d);

/* Send d's current step's request, on its session or a new one. */
static void issue(struct worker *w, struct dev *d)
{
	char why[BN_ERR_TEXT];

	if (!d->req)
		d->req = build(d);
	bn_conn_set_max(&d->bc, d->step == ST_IMAGE ? (size_t)d->t_info.length + 8192 : META_MAX);
	d->reused = d->bc.st == BN_S_READY;
	if (d->bc.st == BN_S_IDLE) {
		if (!bn_conn_open(&d->bc, w->ep, &G.targets[d->target], G.ctx, d->id->cert, d->id->key, d, why,
				  sizeof(why))) {
			note_err(w, "%s: %s", d->id->name, why);
			atomic_fetch_add(&n_errors, 1);
			d->retry = true;
			timer_set(w, d, bn_now_ns() + (uint64_t)((1 + 2 * rnd01(w)) * 1e9));
			return;
		}
		atomic_fetch_add(&n_sessions, 1);
	}
	bn_conn_send(&d->bc, d->req, strlen(d->req));
	drive(w, d);
}

static void close_session(struct dev *d)
{
	if (d->bc.st != BN_S_IDLE) {
		bn_conn_close(&d->bc);
		atomic_fetch_sub(&n_sessions, 1);
	}
}

/* Go to step s and send its request now. */
static void go(struct worker *w, struct dev *d, enum step s)
{
	free(d->req);
	d->req = NULL;
	d->step = s;
	issue(w, d);
}

/* Nothing more this round: sleep until the next check-in. */
static void sleep_interval(struct worker *w, struct dev *d)
{
	double s = G.interval * (0.9 + 0.2 * rnd01(w));

	free(d->req);
	d->req = NULL;
	d->step = ST_SLEEP;
	d->retry = false;
	timer_set(w, d, bn_now_ns() + (uint64_t)(s * 1e9));
}

/* The step failed: count it, drop the session, try the same step again in 1-3 s. */
static void fail(struct worker *w, struct dev *d, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct worker *w, struct dev *d, const char *fmt, ...)
{
	char why[BN_ERR_TEXT];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(why, sizeof(why), fmt, ap) < 0)
		why[0] = '\0';
	va_end(ap);
	note_err(w, "%s: %s: %s", d->id->name, step_name[d->step], why);
	atomic_fetch_add(&n_errors, 1);
	close_session(d);
	free(d->req);
	d->req = NULL; /* rebuilt: a report gets a new seq, a check-in new facts */
	d->retry = true;
	timer_set(w, d, bn_now_ns() + (uint64_t)((1 + 2 * rnd01(w)) * 1e9));
}

/* ---- director metadata -------------------------------------------------------------- */

/* Parse (and with a pinned root, verify) one director file; NULL (why set) when bad. */
static struct ward_tuf_meta *meta(const struct bn_reply *r, enum ward_tuf_role role, const char *what, char *why,
				  size_t whylen)
{
	struct ward_tuf_meta *mt = NULL;
	struct ward_msg m = {{0}};

	if (ward_tuf_meta_parse((const uint8_t *)r->body, r->blen, META_MAX, role, &mt, &m) != WARD_OK) {
		snprintf(why, whylen, "%s: %.200s", what, m.text);
		return NULL;
	}
	if (G.root) {
		if (ward_tuf_meta_verify(mt, G.root->keys, G.root->nkeys, &G.root->roles[role], what, &m) != WARD_OK) {
			snprintf(why, whylen, "%.240s", m.text);
			ward_tuf_meta_free(mt);
			return NULL;
		}
		if (mt->expires <= time(NULL)) {
			snprintf(why, whylen, "%s has expired", what);
			ward_tuf_meta_free(mt);
			return NULL;
		}
	}
	return mt;
}

/* Count d's offer of its director's image once. */
static void count_offer(struct dev *d)
{
	if (d->counted_offer || (G.image && strcmp(G.image, d->t_path)))
		return;
	d->counted_offer = true;
	atomic_fetch_add(&n_offered, 1);
	max_store(&t_last_offer, bn_now_ns());
}

/* After the director metadata is current: update, or sleep. */
static void decide(struct worker *w, struct dev *d)
{
	if (d->has_target && strcmp(d->t_path, d->fw_path) && strcmp(d->t_path, d->failed_path)) {
		count_offer(d);
		go(w, d, ST_R_DOWNLOAD);
		return;
	}
	sleep_interval(w, d);
}

/* ---- replies ---------------------------------------------------------------------- */

static void on_reply(struct worker *w, struct dev *d, const struct bn_reply *r)
{
	char why[BN_ERR_TEXT];
	struct ward_tuf_meta *mt;
	const struct ward_tuf_metafile *mf;
	struct ward_msg m = {{0}};
	bool report = d->step == ST_R_DOWNLOAD || d->step == ST_R_INSTALL || d->step == ST_R_BOOT;

	if (r->code != 200 && !(report && r->code == 501)) {
		fail(w, d, "HTTP %d: %.*s", r->code, bn_first_line(r->body, r->blen), r->body);
		return;
	}
	if (r->code == 501)
		atomic_fetch_add(&n_report_501, 1);
	switch (d->step) {
	case ST_CHECKIN:
		if (!d->checked_in) {
			d->checked_in = true;
			atomic_fetch_add(&n_checked_in, 1);
		}
		if (d->boot_report) {
			d->boot_report = false;
			go(w, d, ST_R_BOOT);
		} else {
			go(w, d, ST_TIMESTAMP);
		}
		return;
	case ST_TIMESTAMP:
		if (!(mt = meta(r, WARD_TUF_TIMESTAMP, "timestamp.json", why, sizeof(why)))) {
			fail(w, d, "%s", why);
			return;
		}
		mf = ward_tuf_meta_file(mt, "snapshot.json");
		if (!mf || mt->version < d->ts_ver) {
			ward_tuf_meta_free(mt);
			fail(w, d, "timestamp.json: no snapshot.json, or a rollback");
			return;
		}
		d->ts_ver = mt->version;
		if (mf->version != d->snap_ver) {
			d->want_snap = mf->version;
			d->snap_info = mf->info;
			ward_tuf_meta_free(mt);
			go(w, d, ST_SNAPSHOT);
			return;
		}
		ward_tuf_meta_free(mt);
		decide(w, d);
		return;
	case ST_SNAPSHOT:
		if ((d->snap_info.has_length || d->snap_info.has_sha256) &&
		    ward_tuf_fileinfo_check(&d->snap_info, (const uint8_t *)r->body, r->blen, "snapshot.json", &m)) {
			fail(w, d, "%s", m.text);
			return;
		}
		if (!(mt = meta(r, WARD_TUF_SNAPSHOT, "snapshot.json", why, sizeof(why)))) {
			fail(w, d, "%s", why);
			return;
		}
		mf = ward_tuf_meta_file(mt, "targets.json");
		if (mt->version != d->want_snap || !mf) {
			ward_tuf_meta_free(mt);
			fail(w, d, "snapshot.json: not the version timestamp named, or no targets.json");
			return;
		}
		d->snap_ver = mt->version;
		d->want_tgt = mf->version;
		ward_tuf_meta_free(mt);
		if (d->want_tgt != d->tgt_ver) {
			go(w, d, ST_TARGETS);
			return;
		}
		decide(w, d);
		return;
	case ST_TARGETS: {
		json_t *v;

		if (!(mt = meta(r, WARD_TUF_TARGETS, "targets.json", why, sizeof(why)))) {
			fail(w, d, "%s", why);
			return;
		}
		if (mt->version != d->want_tgt || mt->ntargets > 1) {
			ward_tuf_meta_free(mt);
			fail(w, d, "targets.json: not the version snapshot named, or more than one image");
			return;
		}
		d->tgt_ver = mt->version;
		d->has_target = false;
		if (mt->ntargets == 1) {
			const struct ward_tuf_target *t = &mt->targets[0];

			v = t->custom ? json_object_get(t->custom, "version") : NULL;
			if (strlen(t->path) >= sizeof(d->t_path) || !t->info.has_sha256 || t->info.length > IMAGE_MAX) {
				ward_tuf_meta_free(mt);
				fail(w, d, "targets.json: an image this simulator cannot take");
				return;
			}
			if (strcmp(d->t_path, t->path))
				d->counted_offer = false;
			snprintf(d->t_path, sizeof(d->t_path), "%s", t->path);
			snprintf(d->t_ver, sizeof(d->t_ver), "%s", json_is_string(v) ? json_string_value(v) : "");
			d->t_info = t->info;
			d->has_target = true;
		}
		ward_tuf_meta_free(mt);
		decide(w, d);
		return;
	}
	case ST_R_DOWNLOAD:
		go(w, d, ST_IMAGE);
		return;
	case ST_IMAGE:
		if (ward_tuf_fileinfo_check(&d->t_info, (const uint8_t *)r->body, r->blen, d->t_path, &m)) {
			fail(w, d, "%s", m.text);
			return;
		}
		go(w, d, ST_R_INSTALL);
		return;
	case ST_R_INSTALL:
		/* reboot: the session goes, the device comes back after --reboot seconds */
		close_session(d);
		free(d->req);
		d->req = NULL;
		d->step = ST_REBOOT;
		d->retry = false;
		timer_set(w, d, bn_now_ns() + (uint64_t)(G.reboot * 1e9));
		return;
	case ST_R_BOOT:
		if (d->will_fail) {
			snprintf(d->failed_path, sizeof(d->failed_path), "%s", d->t_path);
			if (!G.image || !strcmp(G.image, d->t_path))
				atomic_fetch_add(&n_failed, 1);
		} else {
			/* the new image runs from the other slot */
			d->slot ^= 1;
			snprintf(d->slot_ver[d->slot], sizeof(d->slot_ver[0]), "%s", d->t_ver);
			snprintf(d->fw_path, sizeof(d->fw_path), "%s", d->t_path);
			if (!G.image || !strcmp(G.image, d->t_path))
				atomic_fetch_add(&n_healthy, 1);
		}
		max_store(&t_last_done, bn_now_ns());
		go(w, d, ST_TIMESTAMP);
		return;
	case ST_SLEEP:
	case ST_REBOOT:
		break;
	}
	fail(w, d, "a reply while not waiting for one");
}

static void record(struct worker *w, uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (w->nlat == w->caplat && w->caplat < LAT_MAX) {
		size_t cap = w->caplat ? w->caplat * 2 : 65536;
		uint32_t *p = realloc(w->lat, cap * sizeof(*p));

		if (p) {
			w->lat = p;
			w->caplat = cap;
		}
	}
	if (w->nlat < w->caplat)
		w->lat[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Drive d's session as far as it goes without blocking. */
static void drive(struct worker *w, struct dev *d)
{
	char why[BN_ERR_TEXT];
	struct bn_reply r;

	for (;;) {
		switch (bn_conn_step(&d->bc, &r, why, sizeof(why))) {
		case BN_WAIT:
		case BN_UP:
		case BN_CLOSED:
			return;
		case BN_FAIL:
			if (d->reused) {
				/* the server closed the kept-alive session: once more on a new one */
				close_session(d);
				atomic_fetch_add(&n_reconnects, 1);
				issue(w, d);
				return;
			}
			fail(w, d, "%s", why);
			return;
		case BN_REPLY:
			atomic_fetch_add(&n_requests, 1);
			record(w, bn_now_ns() - d->bc.t_sent);
			if (r.close) {
				/* read the reply, then let the session go (it is gone on the server) */
				struct bn_reply copy = r;
				char *body = malloc(r.blen + 1);

				if (!body)
					bn_die("out of memory");
				memcpy(body, r.body, r.blen);
				copy.body = body;
				close_session(d);
				on_reply(w, d, &copy);
				free(body);
			} else {
				on_reply(w, d, &r);
			}
			return;
		}
	}
}

/* The timer of d fired. */
static void wake(struct worker *w, struct dev *d)
{
	if (d->retry) {
		d->retry = false;
		issue(w, d);
		return;
	}
	switch (d->step) {
	case ST_SLEEP:
		go(w, d, ST_CHECKIN);
		return;
	case ST_REBOOT:
		d->boot_report = true; /* check in first, as a device that just booted does */
		go(w, d, ST_CHECKIN);
		return;
	case ST_CHECKIN:
	case ST_TIMESTAMP:
	case ST_SNAPSHOT:
	case ST_TARGETS:
	case ST_R_DOWNLOAD:
	case ST_IMAGE:
	case ST_R_INSTALL:
	case ST_R_BOOT:
		issue(w, d);
		return;
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[512];

	while (!atomic_load(&stop_all)) {
		uint64_t now = bn_now_ns();
		int n, timeout = 100;

		while (w->nheap && w->heap[0]->due <= now && !atomic_load(&stop_all))
			wake(w, timer_pop(w));
		if (w->nheap) {
			uint64_t due = w->heap[0]->due;

			now = bn_now_ns();
			timeout = due <= now ? 0 : (int)((due - now) / 1000000 + 1);
			if (timeout > 100)
				timeout = 100;
		}
		n = epoll_wait(w->ep, evs, 512, timeout);
		if (n < 0 && errno != EINTR)
			bn_die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct dev *d = evs[i].data.ptr;

			if (d->bc.st == BN_S_READY) {
				/* idle: only the server closing the session can wake it */
				if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
					close_session(d);
					atomic_fetch_add(&n_idle_closed, 1);
				}
				continue;
			}
			drive(w, d);
		}
	}
	for (size_t i = 0; i < w->ndevs; i++) {
		bn_conn_free(&w->devs[i].bc);
		free(w->devs[i].req);
	}
	close(w->ep);
	return NULL;
}

/* ---- main --------------------------------------------------------------------------- */

static void on_stop(int sig)
{
	(void)sig;
	atomic_store(&stop_all, true);
}

static void on_usr1(int sig)
{
	(void)sig;
	atomic_store(&t_campaign, bn_now_ns());
}

static void load_root(const char *path)
{
	FILE *f = fopen(path, "rb");
	static uint8_t buf[512 * 1024];
	size_t n;
	struct ward_msg m = {{0}};

	if (!f)
		bn_die("--director-root %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (ward_tuf_meta_parse(buf, n, sizeof(buf), WARD_TUF_ROOT, &G.root, &m) != WARD_OK ||
	    ward_tuf_meta_verify(G.root, G.root->keys, G.root->nkeys, &G.root->roles[WARD_TUF_ROOT], "root.json", &m) !=
		    WARD_OK)
		bn_die("--director-root %s: %s", path, m.text);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fleetsim -t HOST:PORT[,HOST:PORT...] --identities DIR [options]\n"
		"  --devices N           simulate the first N identities of DIR (default: all)\n"
		"  --threads T           epoll loops (default 2)\n"
		"  --interval S          seconds between check-ins, +-10%% jitter (default 30)\n"
		"  --ramp S              spread the first check-ins over S seconds (default: the interval)\n"
		"  --reboot S            simulated reboot time (default 2)\n"
		"  --fail-rate P         fraction 0..1 of devices that roll back (default 0)\n"
		"  --hardware-id HW      the devices' hardware id (default bench-hw)\n"
		"  --version V           the version every device runs at first (default 1.0.0)\n"
		"  --image NAME          count offers and health only for this image (default: any new one)\n"
		"  --director-root FILE  verify director metadata against this root (DIR/ca/director-root.json)\n"
		"  --no-consistent-snapshot  image files are targets/<path>, not targets/<dir>/<sha256>.<name>\n"
		"  --ca ROOT.pem         verify the server's certificate\n"
		"  --progress S          a progress line every S seconds (default 5)\n"
		"  --until-done          exit once every device is healthy or rolled back\n"
		"  --duration S          stop after S seconds at most (default 3600)\n"
		"SIGUSR1 marks the campaign's start; SIGINT/SIGTERM stop with the summary.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"target", required_argument, NULL, 't'},
		{"identities", required_argument, NULL, 'i'},
		{"devices", required_argument, NULL, 'n'},
		{"threads", required_argument, NULL, 'T'},
		{"interval", required_argument, NULL, 'I'},
		{"ramp", required_argument, NULL, 'r'},
		{"reboot", required_argument, NULL, 'b'},
		{"fail-rate", required_argument, NULL, 'f'},
		{"hardware-id", required_argument, NULL, 'H'},
		{"version", required_argument, NULL, 'V'},
		{"image", required_argument, NULL, 'g'},
		{"director-root", required_argument, NULL, 'R'},
		{"no-consistent-snapshot", no_argument, NULL, 'C'},
		{"ca", required_argument, NULL, 'a'},
		{"progress", required_argument, NULL, 'p'},
		{"until-done", no_argument, NULL, 'u'},
		{"duration", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *target = NULL, *idents = NULL, *ca = NULL, *root = NULL, *err = NULL;
	uint64_t ndev = MAX_DEVICES, threads = 2, t_end, t_next_progress, all_in_at = 0;
	double progress = 5, duration = 3600, cpu0, ramp = -1;
	bool until_done = false, user_ndev = false;
	struct worker *ws;
	size_t nlat = 0;
	uint32_t *lat;
	int ch;

	bn_prog = "fleetsim";
	G.interval = 30;
	G.reboot = 2;
	G.hw = "bench-hw";
	G.version0 = "1.0.0";
	G.consistent = true;
	while ((ch = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 't': target = optarg; break;
		case 'i': idents = optarg; break;
		case 'n':
			if (!bn_parse_u64(optarg, 1, MAX_DEVICES, &ndev))
				bn_die("--devices must be 1..%d", MAX_DEVICES);
			user_ndev = true;
			break;
		case 'T':
			if (!bn_parse_u64(optarg, 1, MAX_THREADS, &threads))
				bn_die("--threads must be 1..%d", MAX_THREADS);
			break;
		case 'I':
			if (!bn_parse_secs(optarg, 0.1, 86400, &G.interval))
				bn_die("--interval must be 0.1..86400 seconds");
			break;
		case 'r':
			if (!bn_parse_secs(optarg, 0, 86400, &ramp))
				bn_die("--ramp must be 0..86400 seconds");
			break;
		case 'b':
			if (!bn_parse_secs(optarg, 0, 3600, &G.reboot))
				bn_die("--reboot must be 0..3600 seconds");
			break;
		case 'f':
			if (!bn_parse_secs(optarg, 0, 1, &G.fail_rate))
				bn_die("--fail-rate must be 0..1");
			break;
		case 'H': G.hw = optarg; break;
		case 'V':
			if (strlen(optarg) >= VER_LEN)
				bn_die("--version too long");
			G.version0 = optarg;
			break;
		case 'g': G.image = optarg; break;
		case 'R': root = optarg; break;
		case 'C': G.consistent = false; break;
		case 'a': ca = optarg; break;
		case 'p':
			if (!bn_parse_secs(optarg, 0.1, 3600, &progress))
				bn_die("--progress must be 0.1..3600 seconds");
			break;
		case 'u': until_done = true; break;
		case 'd':
			if (!bn_parse_secs(optarg, 1, 7 * 86400.0, &duration))
				bn_die("--duration must be 1..604800 seconds");
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !target || !idents) {
		usage(stderr);
		return 2;
	}
	G.ntargets = bn_parse_targets(target, G.targets, MAX_TARGETS);
	G.ramp = ramp < 0 ? G.interval : ramp;
	if (root)
		load_root(root);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	signal(SIGUSR1, on_usr1);
	{
		struct rlimit rl;

		/* one socket per device */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	G.ctx = bn_client_ctx(ca);
	SSL_CTX_set_mode(G.ctx, SSL_MODE_RELEASE_BUFFERS); /* idle sessions keep no TLS buffers */

	{
		double tl = bn_wall_s();

		G.ids = bn_load_identities(idents, ndev, &G.nids);
		if (user_ndev && G.nids < ndev)
			bn_die("--devices %" PRIu64 ": %s has only %zu identities", ndev, idents, G.nids);
		fprintf(stderr, "fleetsim: loaded %zu device identities in %.1f s\n", G.nids, bn_wall_s() - tl);
	}
	G.seq0 = (uint64_t)time(NULL) * 1000;
	if (threads > G.nids)
		threads = G.nids;
	ws = calloc(threads, sizeof(*ws));
	if (!ws)
		bn_die("out of memory");
	G.t0 = bn_now_ns();
	for (size_t i = 0, k = 0; i < threads; i++) {
		struct worker *w = &ws[i];
		size_t n = G.nids / threads + (i < G.nids % threads);

		w->devs = calloc(n, sizeof(*w->devs));
		w->heap = calloc(n, sizeof(*w->heap));
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		if (!w->devs || !w->heap || w->ep < 0)
			bn_die("out of memory or epoll");
		w->ndevs = n;
		w->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ull) ^ (uint64_t)getpid();
		for (size_t j = 0; j < n; j++, k++) {
			struct dev *d = &w->devs[j];

			bn_conn_init(&d->bc, META_MAX);
			d->id = &G.ids[k];
			d->target = (uint32_t)(k % G.ntargets);
			d->heap = SIZE_MAX;
			d->seq = G.seq0;
			d->step = ST_SLEEP;
			d->will_fail = rnd01(w) < G.fail_rate;
			snprintf(d->slot_ver[0], sizeof(d->slot_ver[0]), "%s", G.version0);
			/* first check-ins evenly over the ramp */
			timer_set(w, d, G.t0 + (uint64_t)(G.ramp * 1e9 * (double)k / (double)G.nids));
		}
	}
	cpu0 = bn_cpu_seconds();
	for (size_t i = 0; i < threads; i++)
		if (pthread_create(&ws[i].thread, NULL, worker_run, &ws[i]) != 0)
			bn_die("pthread_create failed");

	t_end = G.t0 + (uint64_t)(duration * 1e9);
	t_next_progress = G.t0 + (uint64_t)(progress * 1e9);
	while (!atomic_load(&stop_all)) {
		uint64_t now = bn_now_ns();
		uint64_t done = atomic_load(&n_healthy) + atomic_load(&n_failed);

		if (!all_in_at && atomic_load(&n_checked_in) == G.nids) {
			all_in_at = now;
			printf("fleetsim: all %zu devices checked in at t=%.1f\n", G.nids, (double)(now - G.t0) / 1e9);
			fflush(stdout);
		}
		if (now >= t_next_progress) {
			printf("fleetsim: t=%.1f checked_in=%" PRIu64 " sessions=%" PRIu64 " offered=%" PRIu64
			       " healthy=%" PRIu64 " failed=%" PRIu64 " requests=%" PRIu64 " errors=%" PRIu64 "\n",
			       (double)(now - G.t0) / 1e9, (uint64_t)atomic_load(&n_checked_in),
			       (uint64_t)atomic_load(&n_sessions), (uint64_t)atomic_load(&n_offered),
			       (uint64_t)atomic_load(&n_healthy), (uint64_t)atomic_load(&n_failed),
			       (uint64_t)atomic_load(&n_requests), (uint64_t)atomic_load(&n_errors));
			fflush(stdout);
			t_next_progress += (uint64_t)(progress * 1e9);
		}
		if (now >= t_end || (until_done && done >= G.nids))
			break;
		usleep(20000);
	}
	atomic_store(&stop_all, true);
	for (size_t i = 0; i < threads; i++)
		pthread_join(ws[i].thread, NULL);

	{
		uint64_t now = bn_now_ns(), tc = atomic_load(&t_campaign), lo = atomic_load(&t_last_offer),
			 ld = atomic_load(&t_last_done);
		uint64_t off = atomic_load(&n_offered), hl = atomic_load(&n_healthy), fl = atomic_load(&n_failed);
		double cpu = bn_cpu_seconds() - cpu0, wall = (double)(now - G.t0) / 1e9;
		char offered_s[32] = "-", healthy_s[32] = "-";
		struct rusage ru;
		size_t k = 0;

		if (!tc)
			tc = G.t0;
		if (off >= G.nids && lo >= tc)
			snprintf(offered_s, sizeof(offered_s), "%.1f", (double)(lo - tc) / 1e9);
		if (hl + fl >= G.nids && ld >= tc)
			snprintf(healthy_s, sizeof(healthy_s), "%.1f", (double)(ld - tc) / 1e9);
		for (size_t i = 0; i < threads; i++)
			nlat += ws[i].nlat;
		lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
		if (!lat)
			bn_die("out of memory");
		for (size_t i = 0; i < threads; i++) {
			if (ws[i].nlat)
				memcpy(lat + k, ws[i].lat, ws[i].nlat * sizeof(*lat));
			k += ws[i].nlat;
			if (!err && ws[i].err[0])
				err = ws[i].err;
		}
		getrusage(RUSAGE_SELF, &ru);
		printf("fleetsim: devices=%zu offered=%" PRIu64 " healthy=%" PRIu64 " failed=%" PRIu64
		       " offered_s=%s healthy_s=%s requests=%" PRIu64 " errors=%" PRIu64 " reconnects=%" PRIu64
		       " idle_closed=%" PRIu64 " reports_501=%" PRIu64 " p50_ms=%.2f p99_ms=%.2f cpu_s=%.1f cpu_pct=%.0f maxrss_kib=%ld wall_s=%.1f\n",
		       G.nids, off, hl, fl, offered_s, healthy_s, (uint64_t)atomic_load(&n_requests),
		       (uint64_t)atomic_load(&n_errors), (uint64_t)atomic_load(&n_reconnects),
		       (uint64_t)atomic_load(&n_idle_closed), (uint64_t)atomic_load(&n_report_501), bn_percentile_ms(lat, nlat, 50),
		       bn_percentile_ms(lat, nlat, 99), cpu, wall > 0 ? 100 * cpu / wall : 0, ru.ru_maxrss, wall);
		if (err)
			printf("fleetsim: first error: %s\n", err);
		fflush(stdout);
		free(lat);
	}
	for (size_t i = 0; i < threads; i++) {
		free(ws[i].devs);
		free(ws[i].heap);
		free(ws[i].lat);
	}
	free(ws);
	bn_idents_free(G.ids, G.nids);
	ward_tuf_meta_free(G.root);
	SSL_CTX_free(G.ctx);
	return 0;
}
