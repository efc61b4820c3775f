/*
 * lib/err.c — error names and the caller-owned message buffer.
 *
 * Messages are formatted into struct ward_msg with vsnprintf; a message
 * longer than the buffer is cut at a character boundary and ends in "...",
 * never overflowed. No global state: the message lives with the caller.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ward/err.h"

const char *ward_err_name(ward_err e)
{
	switch (e) {
	case WARD_OK: return "ok";
	case WARD_E_NOMEM: return "out of memory";
	case WARD_E_IO: return "i/o error";
	case WARD_E_PARSE: return "malformed input";
	case WARD_E_TOOBIG: return "input too large";
	case WARD_E_INVAL: return "invalid argument";
	case WARD_E_NOTFOUND: return "not found";
	case WARD_E_EXISTS: return "already exists";
	case WARD_E_CRYPTO: return "crypto backend failure";
	case WARD_E_VERIFY: return "verification failed";
	case WARD_E_THRESHOLD: return "signature threshold not met";
	case WARD_E_EXPIRED: return "expired";
	case WARD_E_ROLLBACK: return "rollback";
	case WARD_E_NET: return "transfer failed";
	case WARD_E_DENIED: return "denied";
	case WARD_E_UNSUPPORTED: return "unsupported";
	}
	return "unknown error";
}

/*
 * Messages often quote input (a field value, a file name) that an attacker
 * may control: control characters (terminal escapes, newlines that would
 * forge a second log line) are replaced by '?', so a message is one inert line.
 */
static void defang(struct ward_msg *m)
{
	for (char *p = m->text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void mark_cut(struct ward_msg *m, int n)
{
	if (n >= (int)sizeof(m->text)) {
		size_t at = sizeof(m->text) - 4; /* room for "..." and the NUL */

		/* back up over UTF-8 continuation bytes so no character is split */
		while (at > 0 && ((unsigned char)m->text[at] & 0xC0) == 0x80)
			at--;
		memcpy(m->text + at, "...", 4);
	}
}

ward_err ward_msg_set(struct ward_msg *m, ward_err e, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!m)
		return e;
	va_start(ap, fmt);
	n = vsnprintf(m->text, sizeof(m->text), fmt, ap);
	va_end(ap);
	if (n < 0)
		m->text[0] = '\0';
	else
		mark_cut(m, n);
	defang(m);
	return e;
}

ward_err ward_msg_prefix(struct ward_msg *m, ward_err e, const char *fmt, ...)
{
	char old[sizeof(m->text)];
	char pre[sizeof(m->text)];
	va_list ap;
	int n;

	if (!m)
		return e;
	memcpy(old, m->text, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	n = vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	if (n < 0)
		pre[0] = '\0';
	n = snprintf(m->text, sizeof(m->text), "%s%s", pre, old[0] ? old : ward_err_name(e));
	if (n >= 0)
		mark_cut(m, n);
	defang(m);
	return e;
}
