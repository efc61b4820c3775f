/*
 * ward/net.h — the libcurl fetcher (lib/net/, library ward_net).
 *
 * Kept out of libward so that libward stays free of networking. It implements
 * struct ward_fetcher with the defences TUF and Uptane ask of a transport:
 * a hard cap on bytes received (the transfer is aborted the moment it passes
 * the cap), a minimum average speed over a window (slow retrieval), a total
 * time limit, and redirects refused unless asked for.
 */
#ifndef WARD_NET_H
#define WARD_NET_H

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

struct ward_net; /* a libcurl easy handle reused across fetches (keep-alive) */

ward_err ward_net_new(const struct ward_net_opts *opts, struct ward_net **out,
		      struct ward_msg *m) WARD_MUST_USE;
void ward_net_free(struct ward_net *n); /* accepts NULL */
/* Fill f so that fetches go through n (n must outlive f's use). */
void ward_net_fetcher(struct ward_net *n, struct ward_fetcher *f);

#endif
