/*
 * fuzz/http_response.c — the HTTP/1.1 response parser of lib/net/
 * (lib/net/http_response.c), driven from memory as lib/net/http.c drives it.
 *
 * Input: one byte of flags, then the bytes a server sends. Flag bit 0: the
 * request was HEAD; bits 1-3: how the bytes are cut into reads (1, 2, 3, 7,
 * 64, 4096 bytes, or whole); bit 4: the connection then closes (EOF).
 * Properties: every body span lies inside the input just fed; body bytes
 * never exceed the input; nothing is consumed after the end; a Content-Length
 * body ends with exactly that many bytes; and the outcome (error or not, the
 * body, the status) is the same whatever the cut, so that the state machine
 * cannot depend on how TCP happens to split the stream.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_response.h"

#define BODY_KEEP 65536 /* body bytes compared between cuts */

struct outcome {
	ward_err err;
	int status;
	bool ended;
	uint64_t body_len;
	size_t kept;
	uint8_t body[BODY_KEEP];
};

static void run(const uint8_t *in, size_t len, size_t cut, bool head, bool eof, struct outcome *o,
                struct ward_http_response *r)
{
	size_t off = 0;

	memset(o, 0, sizeof(*o));
	ward_http_response_init(r, head);
	for (;;) {
		size_t avail = len - off, used = 0, bl = 0;
		enum ward_http_event ev;
		const uint8_t *b = NULL;

		if (cut != 0 && avail > cut)
			avail = cut;
		o->err = ward_http_response_feed(r, in + off, avail, &used, &ev, &b, &bl, NULL);
		if (used > avail)
			abort();
		if (o->err != WARD_OK)
			return;
		if (ev == WARD_HTTP_BODY) {
			if (bl > 0 && (b < in + off || b + bl > in + off + used))
				abort(); /* a span outside what was just fed */
			o->body_len += bl;
			if (o->body_len > len)
				abort();
			for (size_t i = 0; i < bl && o->kept < BODY_KEEP; i++)
				o->body[o->kept++] = b[i];
		}
		off += used;
		if (ev == WARD_HTTP_HEAD)
			o->status = r->status;
		if (ev == WARD_HTTP_END) {
			size_t u2 = 0;

			o->ended = true;
			/* Nothing more is consumed after the end. */
			if (off < len && (ward_http_response_feed(r, in + off, len - off, &u2, &ev,
			                                          &b, &bl, NULL) != WARD_OK ||
			                  u2 != 0 || ev != WARD_HTTP_END))
				abort();
			if (r->framing == WARD_HTTP_LENGTH && r->body_len != r->content_length)
				abort();
			return;
		}
		if (ev == WARD_HTTP_MORE && off == len) {
			if (!eof)
				return;
			o->err = ward_http_response_eof(r, &ev, NULL);
			if (o->err == WARD_OK) {
				if (ev != WARD_HTTP_END)
					abort();
				o->ended = true;
			}
			return;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t cuts[8] = {1, 2, 3, 7, 64, 4096, 0, 0};
	static struct outcome a, b;
	static struct ward_http_response r;
	bool head, eof;
	size_t cut;

	if (size < 1)
		return 0;
	head = data[0] & 1;
	cut = cuts[(data[0] >> 1) & 7];
	eof = (data[0] >> 4) & 1;
	run(data + 1, size - 1, 0, head, eof, &a, &r);
	run(data + 1, size - 1, cut, head, eof, &b, &r);
	if ((a.err == WARD_OK) != (b.err == WARD_OK) || a.ended != b.ended ||
	    a.status != b.status || a.body_len != b.body_len || a.kept != b.kept ||
	    memcmp(a.body, b.body, a.kept) != 0)
		abort();
	return 0;
}
