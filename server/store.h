/*
 * server/store.h — ward-server's storage port: one interface, two backends
 * (server/store_sqlite.c, server/store_pg.c), the same schema and migrations
 * (server/schema.sql, applied in order, recorded in schema_version).
 *
 * The store is the only state ward-server keeps (ARCHITECTURE.md): any
 * number of server processes may share one database, so every operation
 * that must be atomic (counting a quota unit, appending to the audit chain)
 * is one database transaction, correct under concurrency on both backends
 * (SQLite: BEGIN IMMEDIATE; PostgreSQL: row locks / SERIALIZABLE retry).
 *
 * URIs: "sqlite:/path/to/ward.db" (WAL mode, busy timeout) or
 * "postgresql://user@host:port/db" (libpq connection string).
 *
 * A struct srv_store is one database connection: use it from one thread at
 * a time (open one per thread or per worker). srv_store_open applies any
 * missing schema migrations (embedded in the binary) and refuses, with
 * WARD_E_UNSUPPORTED, a database whose schema is newer than it knows.
 *
 * Strings go in and out within the sizes below and of the struct fields: a
 * longer one is refused with WARD_E_TOOBIG, never cut. Strings must be UTF-8
 * without control characters (the certificate PEM may hold line breaks);
 * certificate serials are lower-case hex. Times are seconds since the epoch.
 */
#ifndef WARD_SRV_STORE_H
#define WARD_SRV_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ward/err.h"

struct srv_store;

/* Limits, in bytes, not counting the NUL (added to the lead's contract). */
#define SRV_CERT_SERIAL_MAX 40     /* certificate serial, lower-case hex (= WARD_X509_SERIAL_HEX) */
#define SRV_CERT_PEM_MAX 16384     /* one certificate, PEM */
#define SRV_AUDIT_EVENT_MAX 64     /* audit event name, e.g. "enroll" */
#define SRV_AUDIT_SUBJECT_MAX 256  /* audit subject, e.g. a device serial ("" allowed) */
#define SRV_AUDIT_DETAIL_MAX 4096  /* audit detail, JSON object text */

ward_err srv_store_open(const char *uri, struct srv_store **out, struct ward_msg *m) WARD_MUST_USE;
void srv_store_close(struct srv_store *s); /* accepts NULL */

/* ---- production batches (factory quotas) ---- */
struct srv_batch {
	char id[40];          /* random id, hex */
	char username[64];    /* HTTP Basic user name for EST */
	char pass_hash[256];  /* encoded password hash (never the password) */
	char model[64];       /* device model this batch may enrol */
	int64_t count;        /* devices allowed */
	int64_t used;         /* devices enrolled */
	time_t expires;       /* no enrolment after this */
	time_t created;
};
/* Store a batch and append its "batch-create" audit record in one transaction. */
ward_err srv_batch_create(struct srv_store *s, const struct srv_batch *b, struct ward_msg *m) WARD_MUST_USE;
ward_err srv_batch_by_username(struct srv_store *s, const char *username, struct srv_batch *out,
			       struct ward_msg *m) WARD_MUST_USE; /* WARD_E_NOTFOUND */

/* ---- devices and their certificates ---- */
enum srv_device_status { SRV_DEVICE_ACTIVE, SRV_DEVICE_REVOKED, SRV_DEVICE_DECOMMISSIONED };

struct srv_device {
	char serial[128];     /* device serial (subject serialNumber) */
	char model[64];
	char batch_id[40];
	enum srv_device_status status;
	char cert_serial[41]; /* current certificate's serial (hex) */
	time_t cert_not_after;
	time_t enrolled, last_seen;
	char facts[8192];     /* last check-in facts, normalised JSON ("" if none) */
};

/*
 * The initial enrolment, atomically: the batch must exist, match model, not
 * be expired, have used < count; the serial must be new. On success used is
 * incremented, the device is inserted with its certificate, and an audit
 * record "enroll" is appended — all in one transaction. Refusals:
 * WARD_E_DENIED (quota used up, model mismatch), WARD_E_EXPIRED (batch
 * expired), WARD_E_EXISTS (serial already enrolled, or cert_serial already
 * recorded), WARD_E_NOTFOUND (no such batch), with a message. A refused
 * enrolment changes nothing (no quota unit is consumed). The audit detail is
 * {"batch", "model", "cert_serial", "not_after"}.
 */
ward_err srv_enroll(struct srv_store *s, const char *batch_id, const char *serial, const char *model,
		    const char *cert_serial, const char *cert_pem, time_t not_after,
		    struct ward_msg *m) WARD_MUST_USE;
/* Renewal: record the new certificate of an active device (and audit "renew",
 * detail {"cert_serial", "previous", "not_after"}). WARD_E_NOTFOUND, WARD_E_DENIED
 * (device not active), WARD_E_EXISTS (cert_serial already recorded). The previous
 * certificate stays valid until it expires but is no longer "current". */
ward_err srv_renew(struct srv_store *s, const char *serial, const char *cert_serial,
		   const char *cert_pem, time_t not_after, struct ward_msg *m) WARD_MUST_USE;
ward_err srv_device_get(struct srv_store *s, const char *serial, struct srv_device *out,
			struct ward_msg *m) WARD_MUST_USE; /* WARD_E_NOTFOUND */
/* Is this certificate serial the device's current, unrevoked one? (used on every device request)
 * WARD_E_NOTFOUND for a serial no device holds. Otherwise the device's serial is copied to
 * device_serial (n bytes; WARD_E_TOOBIG if it does not fit), *status is the device's status and
 * *current is true only when cert_serial is its latest certificate, not revoked, and the device
 * is active. */
ward_err srv_cert_status(struct srv_store *s, const char *cert_serial, char *device_serial, size_t n,
			 enum srv_device_status *status, bool *current, struct ward_msg *m) WARD_MUST_USE;
/* active -> revoked / decommissioned; every certificate of the device goes on the CRL.
 * revoked -> decommissioned is allowed; the same status again is a no-op; anything else
 * (back to active, or out of decommissioned) is WARD_E_DENIED. WARD_E_NOTFOUND. */
ward_err srv_device_set_status(struct srv_store *s, const char *serial, enum srv_device_status st,
			       struct ward_msg *m) WARD_MUST_USE;
/* Record a check-in (facts: a JSON object, bounded 4 KiB, or NULL/"" for none) and the time.
 * A check-in older than the last one recorded is ignored (WARD_OK). WARD_E_NOTFOUND;
 * WARD_E_DENIED for a device that is not active; WARD_E_PARSE for facts that are not an object. */
/* One check-in of a batch (srv_checkin_many): result is what srv_checkin would return. */
struct srv_checkin_rec {
	const char *serial;  /* device serial */
	const char *facts;   /* facts JSON object text, or "" */
	time_t now;          /* the check-in's time */
	ward_err result;     /* out */
};

/*
 * Several check-ins in one transaction (a worker's write-behind batch: one
 * lock and one commit instead of n). Each record gets its own result; the
 * call fails as a whole (every result set to that error) only when the
 * database does.
 */
ward_err srv_checkin_many(struct srv_store *s, struct srv_checkin_rec *r, size_t n,
			  struct ward_msg *m) WARD_MUST_USE;
ward_err srv_checkin(struct srv_store *s, const char *serial, const char *facts, time_t now,
		     struct ward_msg *m) WARD_MUST_USE;
/* Certificates to list on the CRL: serial + revocation time, oldest revocation first.
 * Caller frees *out with free() (NULL when *n is 0). */
struct srv_revoked {
	char cert_serial[41];
	time_t revoked_at;
};
ward_err srv_revoked(struct srv_store *s, struct srv_revoked **out, size_t *n,
		     struct ward_msg *m) WARD_MUST_USE;
/* Next CRL number (monotonic, persisted). */
ward_err srv_crl_number(struct srv_store *s, uint64_t *out, struct ward_msg *m) WARD_MUST_USE;
/* Devices for listings, ordered by serial, at most limit (caller frees *out with free();
 * NULL when *n is 0). */
ward_err srv_devices(struct srv_store *s, struct srv_device **out, size_t *n, size_t limit,
		     struct ward_msg *m) WARD_MUST_USE;

/* ---- the audit log: append-only, hash-chained ---- */
/*
 * Append one record: seq = previous + 1, hash = SHA-256(prev_hash || canonical
 * JSON of {seq, time, event, subject, detail}). Atomic with respect to other
 * appenders (several servers may append concurrently). detail is a JSON
 * object text (bounded 4 KiB), may be NULL.
 *
 * Precisely: seq starts at 1; prev_hash of record 1 is 32 zero bytes, of
 * record n the hash of record n-1; hash = SHA-256(prev_hash bytes || the
 * canonical JSON (ward_json_canonical) of {"detail": <the object, or null>,
 * "event": e, "seq": n, "subject": s, "time": t}). Both hashes are stored as
 * lower-case hex, detail in its canonical form, so sqlite3/psql, jq and
 * sha256sum suffice to check a record by hand.
 */
ward_err srv_audit(struct srv_store *s, const char *event, const char *subject, const char *detail,
		   struct ward_msg *m) WARD_MUST_USE;
/*
 * Walk the chain from the first record: WARD_OK with *records set when every
 * hash and every seq link holds; otherwise WARD_E_VERIFY with a message that
 * says which record was edited, inserted or removed (by seq):
 *   "audit record 17 was edited: ..."       its content no longer matches its hash
 *                                           (the next record's prev_hash still does)
 *   "a record was removed before seq 18 ..." a gap in seq (or the log does not start at 1)
 *   "audit record 9 was inserted or reordered: ..." its prev_hash does not link to the
 *                                           record before it
 * Removing records from the END of the log leaves a valid shorter chain: only
 * comparing with a head (seq, hash) kept elsewhere can show that.
 */
ward_err srv_audit_verify(struct srv_store *s, uint64_t *records, struct ward_msg *m) WARD_MUST_USE;

#endif
