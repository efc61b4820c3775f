/*
 * ward/net.h — the HTTP/1.1 fetcher (lib/net/, library ward_net).
 *
 * Kept out of libward so that libward stays free of networking. It implements
 * struct ward_fetcher with the defences TUF and Uptane ask of a transport:
 * a hard cap on bytes received (the transfer is aborted the moment it passes
 * the cap), a minimum average speed over a window (slow retrieval), a total
 * time limit, and redirects refused unless asked for.
 *
 * ward_net_request() is the general request beside it (EST enrollment, the
 * operator API): any method, a request body with its content type, optional
 * HTTP Basic credentials, and the response body capped and streamed to a sink
 * whatever the status, so that the caller can show the server's reason for a
 * 4xx. It shares the handle, the options and the defences of the fetcher.
 *
 * The client is ward's own (lib/net/http.c, TLS through lib/crypto/tls.c):
 * http:// and https:// only, no proxies, no redirects followed, one
 * connection per handle kept alive between requests to the same scheme,
 * host and port. A request on a kept connection that fails before any byte
 * of the response is sent once more on a new connection. Every wait is
 * bounded: connect_timeout_s covers connecting and the TLS handshake; the
 * speed floor covers everything after, a server that stalls in its headers
 * included; total_timeout_s, when set, the whole request. To the fetcher's
 * caller every failure before a response (a certificate that does not
 * verify included) is WARD_E_NET, as struct ward_fetcher says.
 */
#ifndef WARD_NET_H
#define WARD_NET_H

#include <stddef.h>
#include <stdint.h>

#include "ward/err.h"
#include "ward/tuf.h"

struct ward_net_opts {
	long connect_timeout_s;  /* 0 = 10 s */
	long total_timeout_s;    /* 0 = no limit beyond the speed floor */
	long low_speed_bytes;    /* abort when slower than this many bytes/s ... 0 = 1024 */
	long low_speed_window_s; /* ... for this many seconds; 0 = 10 s */
	const char *ca_file;     /* HTTPS trust anchors (NULL = system default) */
	const char *client_cert; /* mutual TLS (optional) */
	const char *client_key;
};

struct ward_net; /* a client handle: one connection reused across fetches (keep-alive) */

ward_err ward_net_new(const struct ward_net_opts *opts, struct ward_net **out,
		      struct ward_msg *m) WARD_MUST_USE;
void ward_net_free(struct ward_net *n); /* accepts NULL */
/* Fill f so that fetches go through n (n must outlive f's use). */
void ward_net_fetcher(struct ward_net *n, struct ward_fetcher *f);

/* One HTTP request for ward_net_request(); every pointer is borrowed for the call. */
struct ward_net_req {
	const char *method;       /* "GET", "POST", "PUT", "DELETE", ... (NULL = "GET") */
	const char *url;          /* http:// or https:// */
	const char *content_type; /* of body, e.g. "application/pkcs10"; NULL when no body */
	const void *body;         /* request body, or NULL */
	size_t body_len;          /* its length */
	const char *user;         /* HTTP Basic user name (no ':'), or NULL for no credentials */
	const char *password;     /* HTTP Basic password (secret): https:// only */
	const char *bearer;       /* or NULL: "Authorization: Bearer TOKEN" (secret): https:// only */
	uint64_t max;             /* response body cap in bytes; more fails with WARD_E_TOOBIG */
	ward_sink_fn sink;        /* receives the response body; NULL discards it */
	void *sink_ctx;           /* passed to sink */
};

/* What came back (filled on WARD_OK). */
struct ward_net_resp {
	long status;              /* HTTP status code */
	char content_type[128];   /* Content-Type of the response, "" when absent or longer */
};

/*
 * Send r through n and stream the response body to r->sink. WARD_OK means a
 * response arrived, whatever its status (the caller judges resp->status);
 * a transfer that failed is WARD_E_NET, a server certificate that does not
 * verify against opts.ca_file WARD_E_VERIFY, a body larger than r->max
 * WARD_E_TOOBIG, each with a message naming the URL. Credentials are only
 * sent over https (WARD_E_INVAL otherwise); the Authorization header ward
 * builds is wiped after the transfer (OpenSSL's record buffers hold the
 * encrypted copy only). A 3xx is returned as its status, never followed.
 * Example:
 *
 *	struct ward_net_req r = {.method = "POST", .url = u, .content_type = "application/pkcs10",
 *				 .body = b64.p, .body_len = b64.len, .user = user,
 *				 .password = pass, .max = 64 * 1024, .sink = to_buf, .sink_ctx = &resp};
 *	struct ward_net_resp st;
 *	if (ward_net_request(net, &r, &st, &m) == WARD_OK && st.status == 200) ...
 */
ward_err ward_net_request(struct ward_net *n, const struct ward_net_req *r,
			  struct ward_net_resp *resp, struct ward_msg *m) WARD_MUST_USE;

#endif
