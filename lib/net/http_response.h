/*
 * lib/net/http_response.h — the HTTP/1.1 response parser of lib/net/http.c,
 * a pure state machine with no I/O, so that the fuzz target
 * (fuzz/http_response.c) and the unit tests drive it from memory.
 *
 * Private to lib/net/ (and its tests and fuzzer): not part of libward's
 * public headers.
 */
#ifndef WARD_NET_HTTP_RESPONSE_H
#define WARD_NET_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ward/err.h"

#define WARD_HTTP_LINE_MAX       8192  /* bytes of one head line, CRLF excluded */
#define WARD_HTTP_HEAD_MAX       16384 /* bytes of a whole head, or of a trailer section */
#define WARD_HTTP_CHUNK_LINE_MAX 1024  /* bytes of a chunk-size line with its extensions */
#define WARD_HTTP_INTERIM_MAX    8     /* 1xx responses before the final one */
#define WARD_HTTP_FRAMING_SLACK  65536 /* chunk framing allowed beyond 16 bytes per body byte */
#define WARD_HTTP_CTYPE_MAX      128   /* Content-Type kept, NUL included */

/* What one call of ward_http_response_feed produced. */
enum ward_http_event {
	WARD_HTTP_MORE, /* all input used; feed more (or call _eof at end of stream) */
	WARD_HTTP_HEAD, /* the final head is complete: status and headers are valid */
	WARD_HTTP_BODY, /* *body holds body bytes (a span of the input) */
	WARD_HTTP_END,  /* the response is complete */
};

/* How the body is delimited (RFC 9112 section 6.3). */
enum ward_http_framing {
	WARD_HTTP_NOBODY,  /* HEAD request, 1xx, 204 or 304 */
	WARD_HTTP_LENGTH,  /* Content-Length */
	WARD_HTTP_CHUNKED, /* Transfer-Encoding: chunked */
	WARD_HTTP_CLOSE,   /* read until the server closes */
};

struct ward_http_response {
	/* ---- results, valid from WARD_HTTP_HEAD on ---- */
	int status; /* 200..599 (1xx are consumed here) */
	int minor;  /* HTTP/1.<minor>: 0 or 1 */
	enum ward_http_framing framing;
	uint64_t content_length; /* with WARD_HTTP_LENGTH */
	bool keep_alive;         /* the connection may carry another request afterwards */
	bool has_range;          /* a valid "Content-Range: bytes first-last/total" was sent */
	uint64_t range_first;    /* with has_range */
	uint64_t range_last;     /* with has_range (inclusive) */
	char content_type[WARD_HTTP_CTYPE_MAX]; /* "" when absent or too long */
	uint64_t body_len;                      /* body bytes handed out so far */

	/* ---- parser state ---- */
	int state;                  /* internal (enum in http_response.c) */
	bool head_request;          /* the request was HEAD: no body whatever the headers say */
	bool seen_cl, seen_te;      /* Content-Length / Transfer-Encoding present */
	bool conn_close, conn_keep; /* Connection: close / keep-alive tokens */
	bool te_chunked;            /* Transfer-Encoding is exactly "chunked" */
	unsigned interim;           /* 1xx responses seen */
	size_t head_len;            /* bytes of the current head or trailer section */
	uint64_t left;              /* body bytes left in this Content-Length body or chunk */
	uint64_t framing_bytes;     /* chunk-size lines, chunk CRLFs and trailers so far */
	size_t line_len;            /* bytes in line */
	char line[WARD_HTTP_LINE_MAX + 2]; /* the line being read, CR included, NUL-terminated */
};

/* Ready r for one response; head_request: the request was HEAD. */
void ward_http_response_init(struct ward_http_response *r, bool head_request);

/*
 * Consume input until something happens. *used says how many of the len
 * bytes were consumed (the caller passes the rest again); *ev what happened;
 * with WARD_HTTP_BODY, *body and *body_len name body bytes inside in (no
 * copy). After WARD_HTTP_END nothing more is consumed: bytes left over are
 * not part of this response. A malformed or oversized response fails with
 * WARD_E_PARSE (or WARD_E_TOOBIG for a head, line or chunk framing over its
 * limit, WARD_E_UNSUPPORTED for a transfer coding other than chunked) and a
 * message saying what was wrong; the parser is then dead. Example:
 *
 *	size_t off = 0, used;
 *	while (ward_http_response_feed(&r, buf + off, n - off, &used, &ev, &b, &bl, m) == WARD_OK) {
 *		off += used;
 *		if (ev == WARD_HTTP_BODY) consume(b, bl);
 *		else if (ev == WARD_HTTP_MORE || ev == WARD_HTTP_END) break;
 *	}
 */
ward_err ward_http_response_feed(struct ward_http_response *r, const uint8_t *in, size_t len,
                                 size_t *used, enum ward_http_event *ev, const uint8_t **body,
                                 size_t *body_len, struct ward_msg *m) WARD_MUST_USE;

/*
 * The server closed the connection. WARD_OK with *ev == WARD_HTTP_END when
 * that ends the response (a read-until-close body; or a response already
 * complete); otherwise WARD_E_PARSE "closed before the end of ...".
 */
ward_err ward_http_response_eof(struct ward_http_response *r, enum ward_http_event *ev,
                                struct ward_msg *m) WARD_MUST_USE;

#endif
