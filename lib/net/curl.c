/*
 * lib/net/curl.c — struct ward_fetcher over libcurl (library ward_net).
 *
 * Defences: the body is capped at the caller's maximum (refused up front when
 * Content-Length is larger, aborted the moment the cap is passed otherwise);
 * a transfer slower than low_speed_bytes/s over low_speed_window_s is
 * aborted (slow retrieval); redirects are not followed; only http and https.
 * One easy handle is reused so that successive fetches keep the connection.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "ward/net.h"

struct ward_net {
	CURL *h;                  /* reused easy handle */
	struct ward_net_opts opts; /* copied options (strings borrowed from the caller) */
};

struct xfer {
	uint64_t got;      /* body bytes received */
	uint64_t max;      /* cap */
	ward_sink_fn sink; /* where the bytes go */
	void *ctx;
	ward_err sink_err; /* why the write callback stopped the transfer */
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	ward_err e;

	if (n > x->max - x->got) {
		x->sink_err = WARD_E_TOOBIG;
		return 0;
	}
	x->got += n;
	e = x->sink(x->ctx, p, n);
	if (e) {
		x->sink_err = e;
		return 0;
	}
	return n;
}

static ward_err fetch(void *ctx, const char *url, uint64_t offset, uint64_t max, ward_sink_fn sink,
		      void *sink_ctx, struct ward_msg *m)
{
	struct ward_net *n = ctx;
	struct xfer x = {0, max, sink, sink_ctx, WARD_OK};
	long code = 0;
	CURLcode rc;

	curl_easy_setopt(n->h, CURLOPT_URL, url);
	curl_easy_setopt(n->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(n->h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(n->h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(max > INT64_MAX ? INT64_MAX : max));
	curl_easy_setopt(n->h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)offset);
	rc = curl_easy_perform(n->h);
	curl_easy_getinfo(n->h, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_WRITE_ERROR && x.sink_err == WARD_E_TOOBIG)
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: more than %llu bytes", url,
				    (unsigned long long)max);
	if (rc == CURLE_WRITE_ERROR && x.sink_err)
		return ward_msg_set(m, x.sink_err, "%s: storing the data failed: %s", url,
				    ward_err_name(x.sink_err));
	if (rc == CURLE_FILESIZE_EXCEEDED)
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: announced more than %llu bytes", url,
				    (unsigned long long)max);
	if (rc == CURLE_HTTP_RETURNED_ERROR && (code == 404 || code == 403 || code == 410))
		return ward_msg_set(m, WARD_E_NOTFOUND, "%s: HTTP %ld", url, code);
	if (rc == CURLE_HTTP_RETURNED_ERROR)
		return ward_msg_set(m, WARD_E_NET, "%s: HTTP %ld", url, code);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return ward_msg_set(m, WARD_E_NET, "%s: too slow or timed out after %llu bytes (slow retrieval?)",
				    url, (unsigned long long)x.got);
	if (rc == CURLE_RANGE_ERROR)
		return ward_msg_set(m, WARD_E_UNSUPPORTED, "%s: server cannot resume at byte %llu", url,
				    (unsigned long long)offset);
	if (rc != CURLE_OK)
		return ward_msg_set(m, WARD_E_NET, "%s: %s", url, curl_easy_strerror(rc));
	if (offset > 0 && code != 206)
		return ward_msg_set(m, WARD_E_UNSUPPORTED, "%s: server ignored the range request", url);
	return WARD_OK;
}

ward_err ward_net_new(const struct ward_net_opts *opts, struct ward_net **out, struct ward_msg *m)
{
	struct ward_net *n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ward_msg_set(m, WARD_E_NET, "libcurl initialisation failed");
	n = calloc(1, sizeof(*n));
	if (!n)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if (opts)
		n->opts = *opts;
	n->h = curl_easy_init();
	if (!n->h) {
		free(n);
		return ward_msg_set(m, WARD_E_NET, "libcurl: cannot create a handle");
	}
	curl_easy_setopt(n->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(n->h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(n->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(n->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(n->h, CURLOPT_CONNECTTIMEOUT, n->opts.connect_timeout_s ? n->opts.connect_timeout_s : 10L);
	curl_easy_setopt(n->h, CURLOPT_TIMEOUT, n->opts.total_timeout_s);
	curl_easy_setopt(n->h, CURLOPT_LOW_SPEED_LIMIT, n->opts.low_speed_bytes ? n->opts.low_speed_bytes : 1024L);
	curl_easy_setopt(n->h, CURLOPT_LOW_SPEED_TIME, n->opts.low_speed_window_s ? n->opts.low_speed_window_s : 10L);
	curl_easy_setopt(n->h, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(n->h, CURLOPT_USERAGENT, "ward");
	curl_easy_setopt(n->h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (n->opts.ca_file)
		curl_easy_setopt(n->h, CURLOPT_CAINFO, n->opts.ca_file);
	if (n->opts.client_cert)
		curl_easy_setopt(n->h, CURLOPT_SSLCERT, n->opts.client_cert);
	if (n->opts.client_key)
		curl_easy_setopt(n->h, CURLOPT_SSLKEY, n->opts.client_key);
	*out = n;
	return WARD_OK;
}

void ward_net_free(struct ward_net *n)
{
	if (!n)
		return;
	curl_easy_cleanup(n->h);
	free(n);
	curl_global_cleanup();
}

void ward_net_fetcher(struct ward_net *n, struct ward_fetcher *f)
{
	f->fetch = fetch;
	f->ctx = n;
}
