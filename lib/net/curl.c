/*
 * lib/net/curl.c — struct ward_fetcher over libcurl (library ward_net).
 *
 * Defences: the body is capped at the caller's maximum (refused up front when
 * Content-Length is larger, aborted the moment the cap is passed otherwise);
 * a transfer slower than low_speed_bytes/s over low_speed_window_s is
 * aborted (slow retrieval); redirects are not followed; only http and https.
 * One easy handle is reused so that successive fetches keep the connection.
 *
 * ward_net_request() uses the same handle for any method and body; it turns
 * off CURLOPT_FAILONERROR for its transfer (a 4xx body is the server's reason
 * and the caller shows it) and puts back the fetcher's settings afterwards,
 * so fetches and requests can be interleaved on one handle.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/net.h"

#define NET_CRED_MAX 1024 /* bytes of "user:password" in an Authorization header */

struct ward_net {
	CURL *h;                      /* reused easy handle */
	struct ward_net_opts opts;    /* copied options (strings borrowed from the caller) */
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail on the last failure (CURLOPT_ERRORBUFFER) */
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
	e = x->sink ? x->sink(x->ctx, p, n) : WARD_OK; /* no sink: discard */
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
	curl_easy_setopt(n->h, CURLOPT_ERRORBUFFER, n->errbuf);
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

/*
 * "Authorization: Basic base64(user:password)" into a new list entry. The
 * entry's text is secret: the caller wipes it before curl_slist_free_all.
 */
static WARD_MUST_USE ward_err basic_header(const char *user, const char *password,
					   struct curl_slist **list, struct ward_msg *m)
{
	static const char prefix[] = "Authorization: Basic ";
	struct ward_buf cred, b64, line;
	struct curl_slist *l;
	ward_err e;

	ward_buf_init_secret(&cred, NET_CRED_MAX);
	ward_buf_init_secret(&line, NET_CRED_MAX * 2);
	ward_buf_init(&b64, 0);
	if (strchr(user, ':') || strpbrk(user, "\r\n") || strpbrk(password, "\r\n")) {
		e = ward_msg_set(m, WARD_E_INVAL,
				 "HTTP Basic: the user name cannot hold ':' and neither may hold a line break");
		goto out;
	}
	if ((e = ward_buf_append(&cred, user, strlen(user))) != WARD_OK ||
	    (e = ward_buf_append(&cred, ":", 1)) != WARD_OK ||
	    (e = ward_buf_append(&cred, password, strlen(password))) != WARD_OK) {
		e = ward_msg_set(m, e, "HTTP Basic: user name and password longer than %d bytes",
				 NET_CRED_MAX);
		goto out;
	}
	if ((e = ward_crypto_base64_encode(cred.p, cred.len, &b64)) != WARD_OK ||
	    (e = ward_buf_append(&line, prefix, sizeof(prefix) - 1)) != WARD_OK ||
	    (e = ward_buf_append(&line, b64.p, b64.len)) != WARD_OK) {
		e = ward_msg_set(m, e, "HTTP Basic: cannot encode the credentials");
		goto out;
	}
	l = curl_slist_append(*list, (const char *)line.p);
	if (!l) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	*list = l;
out:
	if (b64.p)
		ward_wipe(b64.p, b64.len); /* the encoding is as secret as the password */
	ward_buf_free(&b64);
	ward_buf_free(&cred);
	ward_buf_free(&line);
	return e;
}

/* Wipe the text of every header (the Authorization line is secret) and free the list. */
static void headers_free(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		if (l->data)
			ward_wipe(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

/* Put back what fetch() relies on, after a request changed it. */
static void restore_fetch_settings(struct ward_net *n)
{
	curl_easy_setopt(n->h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(n->h, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(n->h, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(n->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
	curl_easy_setopt(n->h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(n->h, CURLOPT_NOBODY, 0L);
	curl_easy_setopt(n->h, CURLOPT_FAILONERROR, 1L);
}

/* libcurl's TLS failures other than an unverifiable peer (an if chain: -Wswitch-enum). */
static bool is_tls_failure(CURLcode rc)
{
	static const CURLcode tls[] = {
	    CURLE_SSL_CONNECT_ERROR,     CURLE_SSL_CERTPROBLEM,       CURLE_SSL_CIPHER,
	    CURLE_SSL_CACERT_BADFILE,    CURLE_SSL_ISSUER_ERROR,      CURLE_SSL_CRL_BADFILE,
	    CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_ENGINE_NOTFOUND,   CURLE_SSL_ENGINE_SETFAILED,
	    CURLE_SSL_SHUTDOWN_FAILED,   CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS,
	    CURLE_SSL_CLIENTCERT,
	};

	for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
		if (rc == tls[i])
			return true;
	return false;
}

ward_err ward_net_request(struct ward_net *n, const struct ward_net_req *r,
			  struct ward_net_resp *resp, struct ward_msg *m)
{
	struct xfer x = {0, 0, NULL, NULL, WARD_OK};
	struct curl_slist *hdrs = NULL, *l;
	const char *method, *ct = NULL, *detail;
	char ctline[160];
	long code = 0;
	CURLcode rc;
	ward_err e;

	if (!n || !r || !r->url || !resp)
		return ward_msg_set(m, WARD_E_INVAL, "HTTP request: missing handle, request or URL");
	method = r->method ? r->method : "GET";
	if (strncmp(r->url, "https://", 8) != 0 && strncmp(r->url, "http://", 7) != 0)
		return ward_msg_set(m, WARD_E_INVAL, "%s: only http:// and https:// URLs", r->url);
	if (r->user && strncmp(r->url, "https://", 8) != 0)
		return ward_msg_set(m, WARD_E_INVAL,
				    "%s: refusing to send credentials without TLS; use https://",
				    r->url);
	if (r->body_len > 0 && !r->body)
		return ward_msg_set(m, WARD_E_INVAL, "%s: request body missing", r->url);
	x.max = r->max;
	x.sink = r->sink;
	x.ctx = r->sink_ctx;
	if (r->content_type) {
		if (ward_snprintf(ctline, sizeof(ctline), "Content-Type: %s", r->content_type) !=
			WARD_OK ||
		    strpbrk(r->content_type, "\r\n"))
			return ward_msg_set(m, WARD_E_INVAL, "%s: bad content type", r->url);
		if (!(l = curl_slist_append(hdrs, ctline)))
			goto nomem;
		hdrs = l;
	}
	/* No "Expect: 100-continue" round trip: our bodies are small. */
	if (!(l = curl_slist_append(hdrs, "Expect:")))
		goto nomem;
	hdrs = l;
	if (r->user &&
	    (e = basic_header(r->user, r->password ? r->password : "", &hdrs, m)) != WARD_OK) {
		headers_free(hdrs);
		return e;
	}

	n->errbuf[0] = '\0';
	curl_easy_setopt(n->h, CURLOPT_URL, r->url);
	curl_easy_setopt(n->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(n->h, CURLOPT_FAILONERROR, 0L);
	curl_easy_setopt(n->h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)0);
	curl_easy_setopt(n->h, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)(r->max > INT64_MAX ? INT64_MAX : r->max));
	curl_easy_setopt(n->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(n->h, CURLOPT_WRITEDATA, &x);
	if (!strcmp(method, "GET") && !r->body) {
		curl_easy_setopt(n->h, CURLOPT_HTTPGET, 1L);
	} else {
		/* POSTFIELDS does not copy: r->body lives until curl_easy_perform returns. */
		curl_easy_setopt(n->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(n->h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(n->h, CURLOPT_CUSTOMREQUEST, method);
	}
	rc = curl_easy_perform(n->h);
	curl_easy_getinfo(n->h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(n->h, CURLINFO_CONTENT_TYPE, &ct);
	restore_fetch_settings(n);
	headers_free(hdrs);
	detail = n->errbuf[0] ? n->errbuf : curl_easy_strerror(rc);

	if (rc == CURLE_WRITE_ERROR && x.sink_err == WARD_E_TOOBIG)
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: response larger than %llu bytes", r->url,
				    (unsigned long long)r->max);
	if (rc == CURLE_WRITE_ERROR && x.sink_err)
		return ward_msg_set(m, x.sink_err, "%s: storing the response failed: %s", r->url,
				    ward_err_name(x.sink_err));
	if (rc == CURLE_FILESIZE_EXCEEDED)
		return ward_msg_set(m, WARD_E_TOOBIG, "%s: response announced as larger than %llu bytes",
				    r->url, (unsigned long long)r->max);
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return ward_msg_set(m, WARD_E_VERIFY,
				    "%s: TLS: the server's certificate does not verify against %s (%s)",
				    r->url, n->opts.ca_file ? n->opts.ca_file : "the system's CAs",
				    detail);
	if (is_tls_failure(rc))
		return ward_msg_set(m, WARD_E_NET, "%s: TLS handshake failed: %s", r->url, detail);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return ward_msg_set(m, WARD_E_NET, "%s: too slow or timed out (%s)", r->url, detail);
	if (rc != CURLE_OK)
		return ward_msg_set(m, WARD_E_NET, "%s: %s", r->url, detail);
	resp->status = code;
	resp->content_type[0] = '\0';
	if (ct && strlen(ct) < sizeof(resp->content_type))
		memcpy(resp->content_type, ct, strlen(ct) + 1);
	return WARD_OK;
nomem:
	headers_free(hdrs);
	return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
}
