/*
 * lib/net/http_response.c — a strict, bounded HTTP/1.1 response parser
 * (RFC 9112), fed from memory in pieces of any size.
 *
 * Invariants: every line is held in the fixed buffer of the struct and never
 * longer than WARD_HTTP_LINE_MAX (a chunk-size line: WARD_HTTP_CHUNK_LINE_MAX);
 * a head (and a trailer section) is at most WARD_HTTP_HEAD_MAX bytes; at most
 * WARD_HTTP_INTERIM_MAX 1xx responses precede the final one; chunk framing
 * may not outgrow the body (16 bytes per body byte plus a fixed slack), so a
 * flood of chunk extensions is refused. Lines end in CRLF, never a bare LF or
 * CR; header names are tokens with no space before the colon; values hold no
 * control characters; obs-fold is refused. The body's length comes from
 * exactly one of: no body (HEAD, 1xx, 204, 304), Content-Length (repeated
 * only with the same value), "Transfer-Encoding: chunked" (any other coding
 * is refused, and so is a message with both headers or with TE in HTTP/1.0),
 * or the end of the connection. Body bytes are never copied: the caller gets
 * spans of its own input.
 */
#include <string.h>

#include "http_response.h"

enum state {
	S_STATUS,      /* reading the status line */
	S_HEADER,      /* reading header lines */
	S_BODY_LENGTH, /* Content-Length body, r->left to go */
	S_BODY_CLOSE,  /* body until the connection closes */
	S_CHUNK_SIZE,  /* reading a chunk-size line */
	S_CHUNK_DATA,  /* chunk data, r->left to go */
	S_CHUNK_CR,    /* the CR after chunk data */
	S_CHUNK_LF,    /* the LF after chunk data */
	S_TRAILER,     /* reading trailer lines */
	S_END_PENDING, /* complete; WARD_HTTP_END on the next call */
	S_DONE,        /* complete and reported */
	S_DEAD,        /* failed: every call fails */
};

#define CL_DIGITS_MAX 19 /* < 10^19 fits in uint64 */

/* Fail and kill the parser. */
#define FAIL(r, m, e, ...) ((r)->state = S_DEAD, ward_msg_set((m), (e), __VA_ARGS__))

void ward_http_response_init(struct ward_http_response *r, bool head_request)
{
	memset(r, 0, sizeof(*r));
	r->state = S_STATUS;
	r->head_request = head_request;
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* A byte allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text. */
static bool is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Case-insensitive equality of n bytes of a with the NUL-terminated b. */
static bool ieq(const char *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/* At most 40 bytes of s, non-printable bytes as '?', for messages. */
static const char *shown(const char *s, size_t n, char out[44])
{
	size_t k = n > 40 ? 40 : n;

	for (size_t i = 0; i < k; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (n > 40) {
		memcpy(out + 40, "...", 3);
		k = 43;
	}
	out[k] = '\0';
	return out;
}

/* Strict decimal: 1..19 digits, nothing else. */
static bool parse_dec(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > CL_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Append the input up to the next LF to r->line, at most limit bytes plus
 * the CR. *consumed: bytes taken from in; *done: a whole line is in r->line
 * (CRLF stripped, NUL-terminated). what names the line kind in messages.
 */
static ward_err take_line(struct ward_http_response *r, const uint8_t *in, size_t len, size_t limit,
                          const char *what, size_t *consumed, bool *done, struct ward_msg *m)
{
	const uint8_t *lf = memchr(in, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - in) : len;

	*done = false;
	*consumed = 0;
	if (n > limit + 1 - r->line_len)
		return FAIL(r, m, WARD_E_TOOBIG, "%s longer than %zu bytes", what, limit);
	memcpy(r->line + r->line_len, in, n);
	r->line_len += n;
	*consumed = lf != NULL ? n + 1 : n;
	if (lf == NULL)
		return WARD_OK;
	if (r->line_len == 0 || r->line[r->line_len - 1] != '\r')
		return FAIL(r, m, WARD_E_PARSE, "%s not ended by CRLF", what);
	r->line_len--;
	r->line[r->line_len] = '\0';
	if (memchr(r->line, '\r', r->line_len) != NULL)
		return FAIL(r, m, WARD_E_PARSE, "%s holds a bare CR", what);
	*done = true;
	return WARD_OK;
}

/* "HTTP/1.x NNN[ reason]" */
static ward_err status_line(struct ward_http_response *r, struct ward_msg *m)
{
	const char *l = r->line;
	size_t n = r->line_len;
	char show[44];

	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (n > 12 && l[12] != ' '))
		return FAIL(r, m, WARD_E_PARSE, "not an HTTP/1.x status line: \"%s\"",
		            shown(l, n, show));
	for (size_t i = 12; i < n; i++)
		if (!is_field_char((unsigned char)l[i]))
			return FAIL(r, m, WARD_E_PARSE, "control character in the status line");
	r->minor = l[7] - '0';
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	return WARD_OK;
}

/* Content-Length: 1*DIGIT, or a list of equal values ("5, 5"); equal to any earlier one. */
static ward_err content_length(struct ward_http_response *r, const char *v, size_t n,
                               struct ward_msg *m)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		uint64_t x;

		while (j < n && v[j] != ',')
			j++;
		{
			size_t a = i, b = j;

			while (a < b && is_ws((unsigned char)v[a]))
				a++;
			while (b > a && is_ws((unsigned char)v[b - 1]))
				b--;
			if (!parse_dec(v + a, b - a, &x))
				return FAIL(r, m, WARD_E_PARSE,
				            "Content-Length is not a number below 10^19");
		}
		if (r->seen_cl && x != r->content_length)
			return FAIL(r, m, WARD_E_PARSE, "conflicting Content-Length values");
		r->seen_cl = true;
		r->content_length = x;
		i = j + 1;
		if (j < n && i == n)
			return FAIL(r, m, WARD_E_PARSE, "Content-Length ends with a comma");
	}
	if (!r->seen_cl)
		return FAIL(r, m, WARD_E_PARSE, "empty Content-Length");
	return WARD_OK;
}

/* Connection: a list of tokens; only close and keep-alive matter. */
static void connection(struct ward_http_response *r, const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t a, b;

		while (i < n && (is_ws((unsigned char)v[i]) || v[i] == ','))
			i++;
		a = i;
		while (i < n && v[i] != ',')
			i++;
		b = i;
		while (b > a && is_ws((unsigned char)v[b - 1]))
			b--;
		if (ieq(v + a, b - a, "close"))
			r->conn_close = true;
		else if (ieq(v + a, b - a, "keep-alive"))
			r->conn_keep = true;
	}
}

/* Content-Range: "bytes first-last/total", total may be a star; anything else is ignored. */
static void content_range(struct ward_http_response *r, const char *v, size_t n)
{
	const char *dash, *slash;
	uint64_t first, last, total;

	r->has_range = false;
	if (n < 6 || !ieq(v, 5, "bytes") || v[5] != ' ')
		return;
	v += 6;
	n -= 6;
	dash = memchr(v, '-', n);
	slash = memchr(v, '/', n);
	if (dash == NULL || slash == NULL || slash < dash)
		return;
	if (!parse_dec(v, (size_t)(dash - v), &first) ||
	    !parse_dec(dash + 1, (size_t)(slash - dash - 1), &last) || first > last)
		return;
	if (!(slash + 2 == v + n && slash[1] == '*')) {
		if (!parse_dec(slash + 1, (size_t)(v + n - slash - 1), &total) || last >= total)
			return;
	}
	r->has_range = true;
	r->range_first = first;
	r->range_last = last;
}

/* One "name: value" line of the head (trailer: of a trailer section, checked and ignored). */
static ward_err header_line(struct ward_http_response *r, bool trailer, struct ward_msg *m)
{
	const char *l = r->line;
	size_t n = r->line_len, name, a, b;
	char show[44];

	if (is_ws((unsigned char)l[0]))
		return FAIL(r, m, WARD_E_PARSE, "folded header line (obs-fold) refused");
	for (name = 0; name < n && l[name] != ':'; name++)
		if (!is_tchar((unsigned char)l[name]))
			return FAIL(r, m, WARD_E_PARSE, "malformed header line: \"%s\"",
			            shown(l, n, show));
	if (name == 0 || name == n)
		return FAIL(r, m, WARD_E_PARSE, "malformed header line: \"%s\"", shown(l, n, show));
	for (size_t i = name + 1; i < n; i++)
		if (!is_field_char((unsigned char)l[i]))
			return FAIL(r, m, WARD_E_PARSE, "control character in header %s",
			            shown(l, name, show));
	a = name + 1;
	b = n;
	while (a < b && is_ws((unsigned char)l[a]))
		a++;
	while (b > a && is_ws((unsigned char)l[b - 1]))
		b--;
	if (trailer)
		return WARD_OK;
	if (ieq(l, name, "content-length"))
		return content_length(r, l + a, b - a, m);
	if (ieq(l, name, "transfer-encoding")) {
		if (r->seen_te)
			return FAIL(r, m, WARD_E_UNSUPPORTED,
			            "more than one Transfer-Encoding header");
		r->seen_te = true;
		r->te_chunked = ieq(l + a, b - a, "chunked");
		if (!r->te_chunked)
			return FAIL(r, m, WARD_E_UNSUPPORTED,
			            "Transfer-Encoding \"%s\" (only chunked is supported)",
			            shown(l + a, b - a, show));
		return WARD_OK;
	}
	if (ieq(l, name, "connection")) {
		connection(r, l + a, b - a);
		return WARD_OK;
	}
	if (ieq(l, name, "content-type")) {
		r->content_type[0] = '\0';
		if (b - a < sizeof(r->content_type)) {
			memcpy(r->content_type, l + a, b - a);
			r->content_type[b - a] = '\0';
		}
		return WARD_OK;
	}
	if (ieq(l, name, "content-range"))
		content_range(r, l + a, b - a);
	return WARD_OK;
}

/* The empty line after the headers: decide how the body is framed. */
static ward_err end_of_head(struct ward_http_response *r, enum ward_http_event *ev,
                            struct ward_msg *m)
{
	if (r->status < 200) {
		if (r->status == 101)
			return FAIL(r, m, WARD_E_PARSE,
			            "101 Switching Protocols, which ward never asks for");
		if (++r->interim > WARD_HTTP_INTERIM_MAX)
			return FAIL(r, m, WARD_E_PARSE, "more than %d interim (1xx) responses",
			            WARD_HTTP_INTERIM_MAX);
		/* An interim response has no body: read the next head afresh. */
		r->state = S_STATUS;
		r->head_len = 0;
		r->seen_cl = r->seen_te = r->te_chunked = false;
		r->conn_close = r->conn_keep = r->has_range = false;
		r->content_length = 0;
		r->content_type[0] = '\0';
		*ev = WARD_HTTP_MORE;
		return WARD_OK;
	}
	if (r->seen_cl && r->seen_te)
		return FAIL(r, m, WARD_E_PARSE,
		            "both Content-Length and Transfer-Encoding (a smuggling attempt?)");
	if (r->seen_te && r->minor == 0)
		return FAIL(r, m, WARD_E_PARSE, "Transfer-Encoding in an HTTP/1.0 response");
	if (r->head_request || r->status == 204 || r->status == 304)
		r->framing = WARD_HTTP_NOBODY;
	else if (r->seen_te)
		r->framing = WARD_HTTP_CHUNKED;
	else if (r->seen_cl)
		r->framing = WARD_HTTP_LENGTH;
	else
		r->framing = WARD_HTTP_CLOSE;
	r->keep_alive = r->minor == 1 ? !r->conn_close : r->conn_keep && !r->conn_close;
	if (r->framing == WARD_HTTP_CLOSE)
		r->keep_alive = false;
	switch (r->framing) {
	case WARD_HTTP_NOBODY:
		r->state = S_END_PENDING;
		break;
	case WARD_HTTP_LENGTH:
		r->left = r->content_length;
		r->state = r->left == 0 ? S_END_PENDING : S_BODY_LENGTH;
		break;
	case WARD_HTTP_CHUNKED:
		r->state = S_CHUNK_SIZE;
		break;
	case WARD_HTTP_CLOSE:
		r->state = S_BODY_CLOSE;
		break;
	}
	*ev = WARD_HTTP_HEAD;
	return WARD_OK;
}

/* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ) */
static bool chunk_ext_ok(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		while (i < n && is_ws((unsigned char)p[i]))
			i++;
		if (i == n)
			return true;
		if (p[i++] != ';')
			return false;
		while (i < n && is_ws((unsigned char)p[i]))
			i++;
		if (i == n || !is_tchar((unsigned char)p[i]))
			return false;
		while (i < n && is_tchar((unsigned char)p[i]))
			i++;
		while (i < n && is_ws((unsigned char)p[i]))
			i++;
		if (i == n || p[i] != '=')
			continue;
		i++;
		while (i < n && is_ws((unsigned char)p[i]))
			i++;
		if (i < n && p[i] == '"') {
			for (i++;; i++) {
				unsigned char c;

				if (i >= n)
					return false;
				c = (unsigned char)p[i];
				if (c == '"')
					break;
				if (c == '\\') {
					if (++i >= n || !is_field_char((unsigned char)p[i]))
						return false;
				} else if (!is_field_char(c)) {
					return false;
				}
			}
			i++;
		} else {
			if (i == n || !is_tchar((unsigned char)p[i]))
				return false;
			while (i < n && is_tchar((unsigned char)p[i]))
				i++;
		}
	}
	return true;
}

/* chunk-size [ chunk-ext ]: at least one hex digit, no sign, no overflow. */
static ward_err chunk_size_line(struct ward_http_response *r, struct ward_msg *m)
{
	const char *l = r->line;
	size_t n = r->line_len, i = 0;
	uint64_t v = 0;
	char show[44];
	int d;

	while (i < n && (d = hexval((unsigned char)l[i])) >= 0) {
		if (v > (UINT64_MAX >> 4))
			return FAIL(r, m, WARD_E_PARSE, "chunk size overflows 64 bits");
		v = (v << 4) | (uint64_t)d;
		i++;
	}
	if (i == 0 || !chunk_ext_ok(l + i, n - i))
		return FAIL(r, m, WARD_E_PARSE, "malformed chunk size line: \"%s\"",
		            shown(l, n, show));
	r->left = v;
	r->state = v == 0 ? S_TRAILER : S_CHUNK_DATA;
	r->head_len = 0; /* the trailer section gets a head's budget */
	return WARD_OK;
}

/* Chunk framing must not dwarf the body (a flood of extensions or empty trailers). */
static ward_err framing_budget(struct ward_http_response *r, size_t add, struct ward_msg *m)
{
	uint64_t allowed = r->body_len > (UINT64_MAX - WARD_HTTP_FRAMING_SLACK) / 16
	                       ? UINT64_MAX
	                       : WARD_HTTP_FRAMING_SLACK + 16 * r->body_len;

	r->framing_bytes += add;
	if (r->framing_bytes > allowed)
		return FAIL(r, m, WARD_E_TOOBIG,
		            "chunk framing (%llu bytes) far larger than the body (%llu bytes)",
		            (unsigned long long)r->framing_bytes, (unsigned long long)r->body_len);
	return WARD_OK;
}

ward_err ward_http_response_feed(struct ward_http_response *r, const uint8_t *in, size_t len,
                                 size_t *used, enum ward_http_event *ev, const uint8_t **body,
                                 size_t *body_len, struct ward_msg *m)
{
	size_t i = 0, took;
	bool done;
	ward_err e;

	*used = 0;
	*ev = WARD_HTTP_MORE;
	*body = NULL;
	*body_len = 0;
	if (r->state == S_DEAD)
		return ward_msg_set(m, WARD_E_PARSE, "response parser used after a failure");
	while (i < len || r->state == S_END_PENDING) {
		switch ((enum state)r->state) {
		case S_STATUS:
		case S_HEADER:
		case S_TRAILER: {
			bool trailer = r->state == S_TRAILER;
			const char *what = r->state == S_STATUS ? "status line"
			                   : trailer            ? "trailer line"
			                                        : "header line";

			e = take_line(r, in + i, len - i, WARD_HTTP_LINE_MAX, what, &took, &done,
			              m);
			i += took;
			*used = i;
			if (e != WARD_OK)
				return e;
			r->head_len += took;
			if (r->head_len > WARD_HTTP_HEAD_MAX)
				return FAIL(r, m, WARD_E_TOOBIG, "response %s larger than %d bytes",
				            trailer ? "trailer section" : "head",
				            WARD_HTTP_HEAD_MAX);
			if (trailer && (e = framing_budget(r, took, m)) != WARD_OK)
				return e;
			if (!done)
				break;
			if (r->state == S_STATUS) {
				e = status_line(r, m);
				r->state = e == WARD_OK ? S_HEADER : S_DEAD;
			} else if (r->line_len > 0) {
				e = header_line(r, trailer, m);
			} else if (trailer) {
				r->state = S_DONE;
				*ev = WARD_HTTP_END;
			} else {
				e = end_of_head(r, ev, m);
			}
			r->line_len = 0;
			if (e != WARD_OK || *ev != WARD_HTTP_MORE)
				return e;
			break;
		}
		case S_CHUNK_SIZE:
			e = take_line(r, in + i, len - i, WARD_HTTP_CHUNK_LINE_MAX,
			              "chunk size line", &took, &done, m);
			i += took;
			*used = i;
			if (e != WARD_OK)
				return e;
			if ((e = framing_budget(r, took, m)) != WARD_OK)
				return e;
			if (!done)
				break;
			e = chunk_size_line(r, m);
			r->line_len = 0;
			if (e != WARD_OK)
				return e;
			break;
		case S_BODY_LENGTH:
		case S_CHUNK_DATA:
		case S_BODY_CLOSE: {
			size_t n = len - i;

			if (r->state != S_BODY_CLOSE && n > r->left)
				n = (size_t)r->left;
			*body = in + i;
			*body_len = n;
			i += n;
			*used = i;
			r->body_len += n;
			if (r->state != S_BODY_CLOSE) {
				r->left -= n;
				if (r->left == 0)
					r->state =
					    r->state == S_BODY_LENGTH ? S_END_PENDING : S_CHUNK_CR;
			}
			*ev = WARD_HTTP_BODY;
			return WARD_OK;
		}
		case S_CHUNK_CR:
		case S_CHUNK_LF:
			if (in[i] != (r->state == S_CHUNK_CR ? '\r' : '\n'))
				return FAIL(r, m, WARD_E_PARSE,
				            "chunk data not followed by CRLF (chunk size wrong?)");
			i++;
			*used = i;
			if ((e = framing_budget(r, 1, m)) != WARD_OK)
				return e;
			r->state = r->state == S_CHUNK_CR ? S_CHUNK_LF : S_CHUNK_SIZE;
			break;
		case S_END_PENDING:
			r->state = S_DONE;
			*ev = WARD_HTTP_END;
			return WARD_OK;
		case S_DONE:
			*ev = WARD_HTTP_END;
			return WARD_OK;
		case S_DEAD:
			return ward_msg_set(m, WARD_E_PARSE,
			                    "response parser used after a failure");
		}
	}
	*used = i;
	if (r->state == S_DONE)
		*ev = WARD_HTTP_END;
	return WARD_OK;
}

ward_err ward_http_response_eof(struct ward_http_response *r, enum ward_http_event *ev,
                                struct ward_msg *m)
{
	*ev = WARD_HTTP_MORE;
	switch ((enum state)r->state) {
	case S_BODY_CLOSE:
	case S_END_PENDING:
	case S_DONE:
		r->state = S_DONE;
		*ev = WARD_HTTP_END;
		return WARD_OK;
	case S_STATUS:
		if (r->line_len == 0 && r->interim == 0)
			return FAIL(r, m, WARD_E_PARSE,
			            "the server closed the connection without "
			            "a response");
		return FAIL(r, m, WARD_E_PARSE,
		            "the server closed the connection in the middle of the head");
	case S_HEADER:
		return FAIL(r, m, WARD_E_PARSE,
		            "the server closed the connection in the middle of the head");
	case S_BODY_LENGTH:
		return FAIL(r, m, WARD_E_PARSE,
		            "the server closed the connection after %llu of %llu body bytes "
		            "(Content-Length too large?)",
		            (unsigned long long)r->body_len, (unsigned long long)r->content_length);
	case S_CHUNK_SIZE:
	case S_CHUNK_DATA:
	case S_CHUNK_CR:
	case S_CHUNK_LF:
	case S_TRAILER:
		return FAIL(r, m, WARD_E_PARSE,
		            "the server closed the connection in the middle of the chunked body "
		            "(after %llu bytes)",
		            (unsigned long long)r->body_len);
	case S_DEAD:
		break;
	}
	return ward_msg_set(m, WARD_E_PARSE, "response parser used after a failure");
}
