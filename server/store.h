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
 */
#ifndef WARD_SRV_STORE_H
#define WARD_SRV_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ward/err.h"

struct srv_store;

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
	char facts[4096];     /* last check-in facts, JSON ("" if none) */
};

/*
 * The initial enrolment, atomically: the batch must exist, match model, not
 * be expired, have used < count; the serial must be new. On success used is
 * incremented, the device is inserted with its certificate, and an audit
 * record "enroll" is appended — all in one transaction. Refusals:
 * WARD_E_DENIED (quota used up, model mismatch), WARD_E_EXPIRED (batch
 * expired), WARD_E_EXISTS (serial already enrolled), with a message.
 */
ward_err srv_enroll(struct srv_store *s, const char *batch_id, const char *serial, const char *model,
		    const char *cert_serial, const char *cert_pem, time_t not_after,
		    struct ward_msg *m) WARD_MUST_USE;
/* Renewal: record the new certificate of an active device (and audit "renew"). */
ward_err srv_renew(struct srv_store *s, const char *serial, const char *cert_serial,
		   const char *cert_pem, time_t not_after, struct ward_msg *m) WARD_MUST_USE;
ward_err srv_device_get(struct srv_store *s, const char *serial, struct srv_device *out,
			struct ward_msg *m) WARD_MUST_USE; /* WARD_E_NOTFOUND */
/* Is this certificate serial the device's current, unrevoked one? (used on every device request) */
ward_err srv_cert_status(struct srv_store *s, const char *cert_serial, char *device_serial, size_t n,
			 enum srv_device_status *status, bool *current, struct ward_msg *m) WARD_MUST_USE;
/* active -> revoked / decommissioned; every certificate of the device goes on the CRL. */
ward_err srv_device_set_status(struct srv_store *s, const char *serial, enum srv_device_status st,
			       struct ward_msg *m) WARD_MUST_USE;
/* Record a check-in (facts JSON, bounded 4 KiB) and the time. */
ward_err srv_checkin(struct srv_store *s, const char *serial, const char *facts, time_t now,
		     struct ward_msg *m) WARD_MUST_USE;
/* Certificates to list on the CRL: serial + revocation time. Caller frees *out. */
struct srv_revoked {
	char cert_serial[41];
	time_t revoked_at;
};
ward_err srv_revoked(struct srv_store *s, struct srv_revoked **out, size_t *n,
		     struct ward_msg *m) WARD_MUST_USE;
/* Next CRL number (monotonic, persisted). */
ward_err srv_crl_number(struct srv_store *s, uint64_t *out, struct ward_msg *m) WARD_MUST_USE;
/* Devices for listings (caller frees *out), at most limit. */
ward_err srv_devices(struct srv_store *s, struct srv_device **out, size_t *n, size_t limit,
		     struct ward_msg *m) WARD_MUST_USE;

/* ---- the audit log: append-only, hash-chained ---- */
/*
 * Append one record: seq = previous + 1, hash = SHA-256(prev_hash || canonical
 * JSON of {seq, time, event, subject, detail}). Atomic with respect to other
 * appenders (several servers may append concurrently). detail is a JSON
 * object text (bounded 4 KiB), may be NULL.
 */
ward_err srv_audit(struct srv_store *s, const char *event, const char *subject, const char *detail,
		   struct ward_msg *m) WARD_MUST_USE;
/*
 * Walk the chain from the first record: WARD_OK with *records set when every
 * hash and every seq link holds; otherwise WARD_E_VERIFY with a message that
 * says which record was edited, inserted or removed (by seq).
 */
ward_err srv_audit_verify(struct srv_store *s, uint64_t *records, struct ward_msg *m) WARD_MUST_USE;

#endif
