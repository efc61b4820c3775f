/*
 * server/srv.h — ward-server's internals shared by its files.
 *
 * Process model: the parent binds the listening socket, forks `workers`
 * processes and restarts any that dies; each worker runs its own libevent
 * loop with its own TLS context and its own database connection, so workers
 * share nothing but the socket and the database (ARCHITECTURE.md: the server
 * keeps no state outside the database and the deployment directory).
 *
 * Request handling: evhttp parses HTTP/1.1 (keep-alive) over
 * bufferevent_openssl; the handlers (server/est.c, server/api.c) get the
 * verified client certificate, if any, through srv_peer().
 */
#ifndef WARD_SRV_H
#define WARD_SRV_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "store.h"
#include "ward/crypto.h"
#include "ward/tls.h"
#include "ward/x509.h"

struct evhttp_request;
struct event;

#define SRV_BATCH_MAX 256 /* check-ins written in one transaction at most */

/* A check-in answered once its batch is written (server/api.c). */
struct srv_pending {
	struct evhttp_request *req; /* to answer */
	char serial[128];           /* the device */
	char *facts;                /* normalised facts (owned) */
	time_t now;                 /* when it arrived */
	bool renew;                 /* the reply's renew flag */
};

/* A report request answered once its batch is written (server/api.c). */
struct srv_rpending {
	struct evhttp_request *req; /* to answer */
	char serial[128];           /* the device */
	struct srv_report *r;       /* its reports (owned) */
	size_t n;                   /* how many */
	time_t now;                 /* when they arrived */
};

/* One worker's world. */
struct srv {
	struct srv_conf conf;            /* the deployment's configuration */
	struct srv_store *store;         /* this worker's database connection */
	struct ward_tls_server *tls;     /* this worker's TLS context */
	struct ward_cert *issuing;       /* issuing CA certificate */
	struct ward_key *issuing_key;    /* its private key (wiped on exit) */
	struct ward_key *director_key;   /* the director's online key, or NULL when it cannot be read */
	struct ward_cert *root;          /* fleet root certificate */
	struct srv_pending *pending;     /* check-ins waiting for the batch write (SRV_BATCH_MAX) */
	size_t npending;
	struct srv_rpending *rpending;   /* report requests waiting for the batch write (SRV_BATCH_MAX) */
	size_t nrpending;
	struct event *flush;             /* writes the batches at the next turn of the event loop */
};

/*
 * Write the queued check-ins in one transaction and answer them. The queue
 * fills while the event loop handles the requests that arrived together and
 * is written at the loop's next turn (or when it is full): fewer, larger
 * transactions, and no reply before its write is committed.
 */
void srv_checkin_flush(struct srv *s);
/* The same for stage reports: one durable transaction for the reports that arrived together. */
void srv_report_flush(struct srv *s);

/* A verified client certificate, decoded. */
struct srv_peer {
	bool present;                /* a certificate was sent and verified by TLS */
	struct ward_cert_info info;  /* its fields */
	struct ward_cert *cert;      /* the certificate (freed by srv_peer_free) */
};

void srv_peer(struct evhttp_request *req, struct srv_peer *out);
void srv_peer_free(struct srv_peer *p);

/* Replies. Bodies are copied. */
void srv_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
	       const void *body, size_t len);
/* A text/plain error with a one-line explanation (what was wrong, what to do). */
void srv_error(struct evhttp_request *req, int code, const char *reason, const char *fmt, ...)
	WARD_PRINTF(4, 5);
/* The request body, at most max bytes, into out (initialised here). */
ward_err srv_body(struct evhttp_request *req, size_t max, struct ward_buf *out) WARD_MUST_USE;
/* Audit, logging (not failing the request) when the database refuses. */
void srv_audit_note(struct srv *s, const char *event, const char *subject, const char *detail);

/* Handlers. */
void srv_est_cacerts(struct evhttp_request *req, struct srv *s);
void srv_est_simpleenroll(struct evhttp_request *req, struct srv *s);
void srv_est_simplereenroll(struct evhttp_request *req, struct srv *s);
void srv_est_csrattrs(struct evhttp_request *req, struct srv *s);
void srv_crl(struct evhttp_request *req, struct srv *s);
void srv_api_checkin(struct evhttp_request *req, struct srv *s);
void srv_api_self(struct evhttp_request *req, struct srv *s);
/* server/director_api.c: GET under /api/v1/device/director/ and /repo/ (path as requested). */
void srv_director_get(struct evhttp_request *req, struct srv *s, const char *path);
void srv_repo_get(struct evhttp_request *req, struct srv *s, const char *path);
/* server/ops_api.c: the operator API (bearer tokens). */
void srv_ops_login(struct evhttp_request *req, struct srv *s);

/*
 * API routes that take several methods: the handler gets every request whose
 * path equals or starts with its prefix (see http.c's api_routes) and checks
 * the method itself, replying 405 with srv_not_allowed() otherwise.
 */
void srv_campaign_api(struct evhttp_request *req, struct srv *s, const char *path); /* server/campaign_api.c */
void srv_api_report(struct evhttp_request *req, struct srv *s, const char *path);   /* server/api.c */
void srv_ops_api(struct evhttp_request *req, struct srv *s, const char *path);      /* server/ops_api.c */
void srv_web_get(struct evhttp_request *req, struct srv *s, const char *path);      /* server/web.c */
/* 405 Method Not Allowed with an Allow header (e.g. "GET, HEAD, POST"). */
void srv_not_allowed(struct evhttp_request *req, const char *allow);
/* The request's method is GET or HEAD (HEAD is answered as GET without a body by evhttp). */
bool srv_is_get(struct evhttp_request *req);
bool srv_is_post(struct evhttp_request *req);

/* ---- server/ops_util.c: shared by every operator API handler ---- */
#define SRV_OPS_BODY_MAX 4096 /* bytes of an operator API request body */
struct srv_operator;
typedef struct json_t json_t;
/* Reply 200 with a JSON document (compact, sorted keys); o is consumed (NULL: 500). */
void srv_reply_json(struct evhttp_request *req, json_t *o);
/* Is the Content-Type application/json (parameters allowed)? */
bool srv_is_json(struct evhttp_request *req);
/* Overwrite the request body where evhttp keeps it (it held a secret). */
void srv_wipe_input(struct evhttp_request *req);
/* Reply 200 with body (malloc'd, consumed) that holds a secret: libevent sends it from
 * this very memory, which is wiped and freed once sent (no copy left behind). */
void srv_reply_secret(struct evhttp_request *req, const char *ctype, char *body, size_t len);
/* 401 with WWW-Authenticate: Bearer. */
void srv_unauthorized(struct evhttp_request *req, const char *why);
/* The operator behind the bearer token; on refusal replies (401/503) and returns false. */
bool srv_ops_auth(struct evhttp_request *req, struct srv *s, struct srv_operator *op);
/* A bounded JSON object body (SRV_OPS_BODY_MAX); replies 400/413/415 and returns NULL on
 * refusal. secret: wipe the raw body and do not echo parse errors. Caller decrefs. */
json_t *srv_json_body(struct evhttp_request *req, bool secret);

/* Check a device request's client certificate: present, current, device active.
 * On refusal replies (401/403), audits, and returns false. With want_record
 * the whole registry record is read into dev; without it only serial, model,
 * certificate serial/expiry and status are filled (from the verified
 * certificate, which is the device's current one). */
bool srv_device_auth(struct evhttp_request *req, struct srv *s, struct srv_peer *p,
		     struct srv_device *dev, bool want_record);

#endif
