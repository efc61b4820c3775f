/*
 * agent/report.c — the outbox of stage reports (see agent/report.h and
 * docs/api.md "Stage reports (devices)").
 *
 * STATE_DIR/reports.json, replaced atomically (temp file, fsync, rename,
 * fsync of the directory) at each change:
 *   {"format": 1, "next_seq": 18, "dropped": 0,
 *    "last": {"stage", "target", "version", "reason"},
 *    "reports": [{"seq", "time", "stage", "target", "version", "reason"}, ...]}
 * Invariants: the reports' seq strictly increase and are all below next_seq;
 * next_seq never goes down over the device's life (it lives in the same file,
 * which a crash leaves old or new, never mixed), and goes up to the server's
 * last_seq + 1 if the server holds more (a state directory that was wiped);
 * 1 <= next_seq <= SEQ_MAX (2^53, exact in any JSON reader). A server reply
 * is believed only when last_seq < next_seq + SEQ_JUMP_MAX (2^32) and
 * last_seq < SEQ_MAX: anything else is a protocol error that leaves the
 * outbox untouched, so that one bad reply cannot push the counter out of
 * range. A file whose next_seq is missing, out of range or not above its
 * reports' seq is said on stdout and repaired, not refused: the counter
 * restarts after the highest seq in the file (at 1 when it holds none) and
 * the file is saved again; the server's next reply raises it past what the
 * server holds (reports numbered below that until then are dropped as held,
 * as after a wiped state directory).
 * at most AGENT_OUTBOX_MAX reports are kept, the oldest dropped beyond (counted
 * in "dropped", said on stdout; the server sees the gap in seq). "last" is the
 * last report recorded, for the dedupe of refusals met at every update.
 * Every read-modify-write holds flock(STATE_DIR/reports.lock); the lock is
 * never held while talking to the server, so a slow server delays no install.
 * The file is at most 128 KiB; strings are cleaned (valid UTF-8, no control
 * characters) and cut at a character boundary before they are stored.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "report.h"
#include "ward/buf.h"
#include "ward/json.h"
#include "ward/version.h"

#define OUTBOX_FILE_MAX (128u * 1024)
#define REPLY_MAX (4u * 1024)
#define FLUSH_ROUNDS 8 /* requests per flush at most: 64 reports fit in 2 or 3 */
#define SEQ_MAX ((uint64_t)1 << 53)      /* next_seq never exceeds it (exact as a JSON double) */
#define SEQ_JUMP_MAX ((uint64_t)1 << 32) /* a server's last_seq is at most this far past next_seq */

struct report {
	uint64_t seq;                                /* the device's sequence number */
	int64_t time;                                /* seconds since the epoch */
	char stage[32];                              /* one of AGENT_STAGE_* */
	char target[256];                            /* TUF target path, or "" */
	char version[WARD_VERSION_MAX + 1];          /* image version, or "" */
	char reason[AGENT_REPORT_REASON_MAX + 1];    /* why (failed, rolled-back), or "" */
};

struct outbox {
	uint64_t next_seq;                           /* the next report's seq (>= 1) */
	uint64_t dropped;                            /* reports dropped for lack of room, ever */
	struct report r[AGENT_OUTBOX_MAX];           /* waiting, oldest first */
	size_t n;                                    /* how many */
	struct report last;                          /* the last report recorded */
	bool has_last;                               /* whether last is set */
};

/*
 * Copy src into dst (n > 0 bytes) as valid UTF-8 without control characters:
 * an invalid byte becomes '?', a control character a space, and the text is
 * cut before a character that does not fit.
 */
static void clean(char *dst, size_t n, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;

	while (*s) {
		size_t len = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 : (*s & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = len > 0 && !(len == 2 && *s < 0xc2) && !(len == 4 && *s > 0xf4);

		for (size_t k = 1; ok && k < len; k++)
			ok = (s[k] & 0xc0) == 0x80;
		if (ok && len == 3 && ((*s == 0xe0 && s[1] < 0xa0) || (*s == 0xed && s[1] >= 0xa0)))
			ok = false; /* overlong, or a surrogate */
		if (ok && len == 4 && ((*s == 0xf0 && s[1] < 0x90) || (*s == 0xf4 && s[1] >= 0x90)))
			ok = false;
		if (!ok)
			len = 1;
		if (o + len >= n)
			break;
		if (!ok)
			dst[o] = '?';
		else if (len == 1 && (*s < 0x20 || *s == 0x7f))
			dst[o] = ' ';
		else
			memcpy(dst + o, s, len);
		o += len;
		s += len;
	}
	dst[o] = '\0';
}

static ward_err outbox_path(const struct agent_config *cfg, const char *name, char *out, size_t n,
			    struct ward_msg *m)
{
	if (ward_snprintf(out, n, "%s/%s", cfg->state_dir, name))
		return ward_msg_set(m, WARD_E_TOOBIG, "state directory path too long");
	return WARD_OK;
}

/* flock(STATE_DIR/reports.lock), waiting for the holder (its hold is short). */
static ward_err outbox_lock(const struct agent_config *cfg, int *fd, struct ward_msg *m)
{
	char path[PATH_MAX];
	ward_err e = ward_mkdir_p(cfg->state_dir, 0700, m);
	int f;

	if (!e)
		e = outbox_path(cfg, "reports.lock", path, sizeof(path), m);
	if (e)
		return e;
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0)
		return ward_msg_set(m, WARD_E_IO, "%s: %s", path, strerror(errno));
	while (flock(f, LOCK_EX) != 0) {
		if (errno != EINTR) {
			ward_err le = ward_msg_set(m, WARD_E_IO, "%s: lock: %s", path, strerror(errno));

			close(f);
			return le;
		}
	}
	*fd = f;
	return WARD_OK;
}

static ward_err get_text(const json_t *o, const char *k, char *dst, size_t n, struct ward_msg *m)
{
	const char *v;
	ward_err e = ward_json_get_string(o, k, "reports.json report", &v, m);

	if (e)
		return e;
	if (strlen(v) >= n)
		return ward_msg_set(m, WARD_E_PARSE, "reports.json: \"%s\" too long", k);
	clean(dst, n, v);
	return WARD_OK;
}

static ward_err parse_report(const json_t *v, bool with_seq, struct report *r, struct ward_msg *m)
{
	uint64_t t = 0;
	ward_err e = WARD_OK;

	memset(r, 0, sizeof(*r));
	if (with_seq)
		e = ward_json_get_u64(v, "seq", "reports.json report", &r->seq, m);
	if (!e && with_seq)
		e = ward_json_get_u64(v, "time", "reports.json report", &t, m);
	if (!e)
		e = get_text(v, "stage", r->stage, sizeof(r->stage), m);
	if (!e)
		e = get_text(v, "target", r->target, sizeof(r->target), m);
	if (!e)
		e = get_text(v, "version", r->version, sizeof(r->version), m);
	if (!e)
		e = get_text(v, "reason", r->reason, sizeof(r->reason), m);
	if (!e && t > (uint64_t)INT64_MAX)
		e = ward_msg_set(m, WARD_E_PARSE, "reports.json: time out of range");
	r->time = (int64_t)t;
	return e;
}

static ward_err outbox_save(const struct agent_config *cfg, const struct outbox *ob, struct ward_msg *m);

/*
 * Load the outbox; a missing file is an empty one starting at seq 1. An
 * invalid next_seq is repaired (see the essay) and the file saved again: the
 * caller holds the lock.
 */
static ward_err outbox_load(const struct agent_config *cfg, struct outbox *ob, struct ward_msg *m)
{
	char path[PATH_MAX];
	struct ward_buf b;
	json_t *doc = NULL, *list, *v, *ns;
	bool repair = false;
	size_t i;
	ward_err e;

	memset(ob, 0, sizeof(*ob));
	ob->next_seq = 1;
	e = outbox_path(cfg, "reports.json", path, sizeof(path), m);
	if (e)
		return e;
	e = ward_file_read(path, OUTBOX_FILE_MAX, &b, m);
	if (e == WARD_E_NOTFOUND)
		return WARD_OK;
	if (e)
		return e;
	e = ward_json_parse(b.p, b.len, OUTBOX_FILE_MAX, &doc, m);
	ward_buf_free(&b);
	if (e)
		return ward_msg_prefix(m, e, "%s: ", path);
	e = ward_json_get_u64(doc, "dropped", "reports.json", &ob->dropped, m);
	if (!e)
		e = ward_json_get_array(doc, "reports", "reports.json", &list, m);
	if (e)
		goto out;
	if (json_array_size(list) > AGENT_OUTBOX_MAX) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: more than %d reports", path, AGENT_OUTBOX_MAX);
		goto out;
	}
	json_array_foreach(list, i, v) {
		e = parse_report(v, true, &ob->r[i], m);
		if (e)
			goto out;
		if (ob->r[i].seq < 1 || ob->r[i].seq >= SEQ_MAX || (i > 0 && ob->r[i].seq <= ob->r[i - 1].seq)) {
			e = ward_msg_set(m, WARD_E_PARSE, "%s: report seq out of order or out of range", path);
			goto out;
		}
		ob->n = i + 1;
	}
	/* next_seq: checked against the reports, repaired rather than refused (see the essay) */
	ns = json_object_get(doc, "next_seq");
	if (json_is_integer(ns) && json_integer_value(ns) >= 1 && (uint64_t)json_integer_value(ns) <= SEQ_MAX &&
	    (ob->n == 0 || (uint64_t)json_integer_value(ns) > ob->r[ob->n - 1].seq)) {
		ob->next_seq = (uint64_t)json_integer_value(ns);
	} else {
		char was[32] = "missing";

		if (json_is_integer(ns))
			snprintf(was, sizeof(was), "%lld", (long long)json_integer_value(ns));
		else if (ns)
			snprintf(was, sizeof(was), "not an integer");
		ob->next_seq = ob->n ? ob->r[ob->n - 1].seq + 1 : 1;
		printf("wardd: %s: next_seq %s is invalid: the report counter restarts at %llu\n", path, was,
		       (unsigned long long)ob->next_seq);
		fflush(stdout);
		repair = true;
	}
	v = json_object_get(doc, "last");
	if (v) {
		e = parse_report(v, false, &ob->last, m);
		ob->has_last = !e;
	}
	if (!e && repair) {
		struct ward_msg ignored;

		if (outbox_save(cfg, ob, &ignored))
			printf("wardd: could not save the repaired outbox: %s\n", ignored.text);
	}
out:
	json_decref(doc);
	if (e)
		ward_msg_prefix(m, e, "outbox: ");
	return e;
}

static json_t *report_json(const struct report *r, bool with_seq)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "stage", r->stage, "target", r->target, "version",
			      r->version, "reason", r->reason);

	if (o && with_seq) {
		json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
		json_object_set_new(o, "time", json_integer((json_int_t)r->time));
	}
	return o;
}

static ward_err outbox_save(const struct agent_config *cfg, const struct outbox *ob, struct ward_msg *m)
{
	char path[PATH_MAX];
	json_t *doc, *list = json_array();
	struct ward_buf b;
	ward_err e;

	e = outbox_path(cfg, "reports.json", path, sizeof(path), m);
	if (e) {
		json_decref(list);
		return e;
	}
	for (size_t i = 0; i < ob->n; i++)
		json_array_append_new(list, report_json(&ob->r[i], true));
	doc = json_pack("{s:i,s:I,s:I,s:o}", "format", 1, "next_seq", (json_int_t)ob->next_seq, "dropped",
			(json_int_t)ob->dropped, "reports", list);
	if (doc && ob->has_last)
		json_object_set_new(doc, "last", report_json(&ob->last, false));
	if (!doc)
		return ward_msg_set(m, WARD_E_NOMEM, "cannot encode the outbox");
	ward_buf_init(&b, OUTBOX_FILE_MAX);
	e = ward_json_pretty(doc, &b, m);
	json_decref(doc);
	if (!e)
		e = ward_file_write_atomic(path, b.p, b.len, 0600, m);
	ward_buf_free(&b);
	return e;
}

static bool same_report(const struct report *a, const struct report *b)
{
	return !strcmp(a->stage, b->stage) && !strcmp(a->target, b->target) &&
	       !strcmp(a->version, b->version) && !strcmp(a->reason, b->reason);
}

ward_err agent_outbox_append(const struct agent_config *cfg, const char *stage, const char *target,
			     const char *version, const char *reason, bool dedupe, uint64_t *seq,
			     struct ward_msg *m)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	struct report r;
	int fd = -1;
	ward_err e;

	if (seq)
		*seq = 0;
	if (!ob)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	memset(&r, 0, sizeof(r));
	clean(r.stage, sizeof(r.stage), stage);
	clean(r.target, sizeof(r.target), target ? target : "");
	clean(r.version, sizeof(r.version), version ? version : "");
	clean(r.reason, sizeof(r.reason), reason ? reason : "");
	r.time = (int64_t)time(NULL);
	e = outbox_lock(cfg, &fd, m);
	if (!e)
		e = outbox_load(cfg, ob, m);
	if (e)
		goto out;
	if (dedupe && ob->has_last && same_report(&ob->last, &r))
		goto out; /* said already */
	if (ob->next_seq >= SEQ_MAX) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "outbox: report numbers are used up (next seq %llu)",
				 (unsigned long long)ob->next_seq);
		goto out;
	}
	if (ob->n == AGENT_OUTBOX_MAX) {
		printf("wardd: outbox full: dropped report %llu (%s %s), the oldest\n",
		       (unsigned long long)ob->r[0].seq, ob->r[0].stage, ob->r[0].target);
		memmove(&ob->r[0], &ob->r[1], sizeof(ob->r[0]) * (AGENT_OUTBOX_MAX - 1));
		ob->n--;
		ob->dropped++;
	}
	r.seq = ob->next_seq++;
	ob->r[ob->n++] = r;
	ob->last = r;
	ob->has_last = true;
	e = outbox_save(cfg, ob, m);
	if (!e && seq)
		*seq = r.seq;
out:
	if (fd >= 0)
		close(fd);
	free(ob);
	return e;
}

ward_err agent_outbox_count(const struct agent_config *cfg, size_t *n, struct ward_msg *m)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	int fd = -1;
	ward_err e;

	if (!ob)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	e = outbox_lock(cfg, &fd, m);
	if (!e)
		e = outbox_load(cfg, ob, m);
	if (!e)
		*n = ob->n;
	if (fd >= 0)
		close(fd);
	free(ob);
	return e;
}

/*
 * The body of one request: the oldest reports, at most `batch` of them and
 * AGENT_REPORT_BODY_MAX bytes. *count gets how many went in (>= 1).
 */
static ward_err batch_body(const struct outbox *ob, size_t batch, char **body, size_t *count,
			   struct ward_msg *m)
{
	json_t *list = json_array(), *doc;
	size_t size = sizeof("{\"reports\":[]}") - 1, k = 0;

	for (; k < ob->n && k < batch; k++) {
		json_t *o = report_json(&ob->r[k], true);
		size_t one = o ? json_dumpb(o, NULL, 0, JSON_COMPACT) : 0;

		if (!o || !one) {
			json_decref(o);
			json_decref(list);
			return ward_msg_set(m, WARD_E_NOMEM, "cannot encode a report");
		}
		if (k > 0 && size + one + 1 > AGENT_REPORT_BODY_MAX) {
			json_decref(o);
			break;
		}
		size += one + (k > 0);
		json_array_append_new(list, o);
	}
	doc = json_pack("{s:o}", "reports", list);
	*body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!*body)
		return ward_msg_set(m, WARD_E_NOMEM, "cannot encode the reports");
	*count = k;
	return WARD_OK;
}

ward_err agent_outbox_ack(const struct agent_config *cfg, uint64_t last, size_t *taken, struct ward_msg *m)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	size_t k = 0;
	int fd = -1;
	ward_err e;

	*taken = 0;
	if (!ob)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	e = outbox_lock(cfg, &fd, m);
	if (!e)
		e = outbox_load(cfg, ob, m);
	if (e)
		goto out;
	/* next_seq <= SEQ_MAX: the sum cannot wrap; last + 1 <= SEQ_MAX afterwards */
	if (last >= ob->next_seq + SEQ_JUMP_MAX || last >= SEQ_MAX) {
		e = ward_msg_set(m, WARD_E_PARSE,
				 "ward-server says it holds reports up to %llu, far beyond this device's next seq "
				 "%llu: protocol error, the outbox is kept as it is",
				 (unsigned long long)last, (unsigned long long)ob->next_seq);
		goto out;
	}
	while (k < ob->n && ob->r[k].seq <= last)
		k++;
	if (k == 0 && ob->next_seq > last)
		goto out; /* nothing changes */
	memmove(&ob->r[0], &ob->r[k], sizeof(ob->r[0]) * (ob->n - k));
	ob->n -= k;
	if (ob->next_seq <= last)
		ob->next_seq = last + 1;
	e = outbox_save(cfg, ob, m);
	if (!e)
		*taken = k;
out:
	if (fd >= 0)
		close(fd);
	free(ob);
	return e;
}

/* Drop the report numbered seq (the server refused it as malformed: it never will take it). */
static ward_err outbox_drop(const struct agent_config *cfg, uint64_t seq, struct ward_msg *m)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	int fd = -1;
	ward_err e;

	if (!ob)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	e = outbox_lock(cfg, &fd, m);
	if (!e)
		e = outbox_load(cfg, ob, m);
	if (!e) {
		for (size_t i = 0; i < ob->n; i++)
			if (ob->r[i].seq == seq) {
				memmove(&ob->r[i], &ob->r[i + 1], sizeof(ob->r[0]) * (ob->n - i - 1));
				ob->n--;
				ob->dropped++;
				e = outbox_save(cfg, ob, m);
				break;
			}
	}
	if (fd >= 0)
		close(fd);
	free(ob);
	return e;
}

ward_err agent_outbox_flush(const struct agent_config *cfg, size_t *sent, size_t *left, struct ward_msg *m)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	size_t batch = AGENT_REPORT_BATCH, total = 0;
	ward_err e = WARD_OK;

	if (!ob)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if (!cfg->server_url[0]) {
		e = ward_msg_set(m, WARD_E_INVAL, "no [server] url: nowhere to send reports");
		goto out;
	}
	for (int round = 0; round < FLUSH_ROUNDS; round++) {
		struct ward_buf reply;
		char *body = NULL;
		size_t count = 0, taken = 0;
		uint64_t first, last_seq = 0, accepted = 0;
		long status = 0;
		json_t *r = NULL;
		int fd = -1;

		e = outbox_lock(cfg, &fd, m);
		if (!e) {
			e = outbox_load(cfg, ob, m);
			close(fd);
		}
		if (e || ob->n == 0)
			break;
		first = ob->r[0].seq;
		e = batch_body(ob, batch, &body, &count, m);
		if (e)
			break;
		e = agent_post(cfg, "/api/v1/device/report", "application/json", body, strlen(body), &status,
			       &reply, m);
		free(body);
		if (e)
			break;
		if (status == 400 && count > 1) {
			/* one of them is refused: send them one by one to find it */
			ward_buf_free(&reply);
			batch = 1;
			continue;
		}
		if (status == 400) {
			printf("wardd: ward-server refuses report %llu (%s): %.200s; dropped\n",
			       (unsigned long long)first, ob->r[0].stage, reply.p ? (const char *)reply.p : "");
			ward_buf_free(&reply);
			e = outbox_drop(cfg, first, m);
			if (e)
				break;
			continue;
		}
		if (status != 200) {
			e = ward_msg_set(m, WARD_E_DENIED, "reports refused (HTTP %ld): %.200s", status,
					 reply.p ? (const char *)reply.p : "");
			ward_buf_free(&reply);
			break;
		}
		e = ward_json_parse(reply.p, reply.len, REPLY_MAX, &r, m);
		ward_buf_free(&reply);
		if (!e)
			e = ward_json_get_u64(r, "last_seq", "report answer", &last_seq, m);
		if (!e)
			e = ward_json_get_u64(r, "accepted", "report answer", &accepted, m);
		json_decref(r);
		if (e) {
			ward_msg_prefix(m, e, "report answer: ");
			break;
		}
		e = agent_outbox_ack(cfg, last_seq, &taken, m);
		if (e)
			break;
		total += accepted <= count ? (size_t)accepted : count;
		if (taken == 0 && last_seq < first) {
			e = ward_msg_set(m, WARD_E_DENIED,
					 "ward-server did not take reports %llu and on (it holds up to %llu)",
					 (unsigned long long)first, (unsigned long long)last_seq);
			break;
		}
	}
	if (sent)
		*sent = total;
	if (left) {
		struct ward_msg ignored;
		size_t n = 0;

		*left = agent_outbox_count(cfg, &n, &ignored) == WARD_OK ? n : 0;
	}
out:
	free(ob);
	return e;
}

void agent_report(const struct agent_config *cfg, const char *stage, const char *target,
		  const char *version, const char *reason, unsigned flags)
{
	struct ward_msg m = {{0}};
	uint64_t seq = 0;
	size_t left = 0;

	if (!target || !target[0])
		return; /* a report names an image (the factory image has no name) */
	if (agent_outbox_append(cfg, stage, target, version, reason, flags & AGENT_REPORT_DEDUPE, &seq, &m)) {
		printf("wardd: could not record the \"%s\" report: %s\n", stage, m.text);
		fflush(stdout);
		return;
	}
	if (!seq || !(flags & AGENT_REPORT_SEND) || !cfg->server_url[0])
		return;
	if (agent_outbox_flush(cfg, NULL, &left, &m))
		printf("wardd: %zu report(s) kept in the outbox for later: %s\n", left, m.text);
	fflush(stdout);
}
