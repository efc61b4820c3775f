/*
 * fuzz/est_request.c — ward-server's request bodies, as the handlers decode
 * them, without a socket.
 *
 * Input: a Content-Type line, '\n', then the request body (no '\n' at all: the
 * whole input is the Content-Type and the body is empty). The same bytes go
 * down both paths a body can take in server/est.c and server/api.c:
 *  - EST (simpleenroll, simplereenroll): only when the Content-Type starts with
 *    "application/pkcs10", as read_csr() requires (else 415); the body is
 *    base64 with whitespace anywhere (RFC 8951), decoded by
 *    ward_crypto_base64_decode_ws() — the very function read_csr() calls —
 *    to at most WARD_X509_MAX_DER bytes, then ward_x509_csr_parse() and
 *    ward_x509_csr_info();
 *  - check-in (the handler ignores the Content-Type): ward_json_parse() with
 *    the handler's 4 KiB limit (FACTS_MAX), then the compact, sorted dump the
 *    handler stores, which must parse back to an equal value.
 * Properties checked (abort() when one fails): a refusal leaves the outputs
 * untouched and says why; a decoded CSR is never over WARD_X509_MAX_DER; an
 * accepted CSR's info is NUL-terminated; a body over 4 KiB is WARD_E_TOOBIG;
 * a parsed body re-parses from its dump.
 * Not reached from here (static in the server, see the report): est.c's
 * serial_ok() and key-type check, api.c's check_facts().
 * Seed corpus fuzz/corpus/est_request/ (written once with /usr/bin/python3
 * from the files of fuzz/corpus/csr/ and by hand): valid P-256 CSRs as one line, as 64-column
 * lines, with CRLF and spaces, with a charset parameter; a CSR under a JSON
 * Content-Type; P-384 and broken-signature CSRs; base64 garbage, bad padding, an
 * empty body, no newline at all; check-in facts (valid, an array, duplicate
 * keys, over 4 KiB, deep nesting, exponent numbers, DEL, invalid UTF-8).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/json.h"
#include "ward/x509.h"

#define FACTS_MAX 4096 /* server/api.c */
#define CT_PKCS10 "application/pkcs10"

static void csr_path(const uint8_t *body, size_t n)
{
	struct ward_msg m = {0};
	struct ward_buf der;
	struct ward_csr *r = NULL;
	struct ward_cert_info info;

	if (ward_crypto_base64_decode_ws(body, n, WARD_X509_MAX_DER, &der) != WARD_OK)
		return; /* the server answers 400 "not base64 of a DER CSR" */
	if (der.len > WARD_X509_MAX_DER)
		abort();
	if (ward_x509_csr_parse(der.p, der.len, &r, &m) != WARD_OK) {
		if (r != NULL || m.text[0] == '\0')
			abort();
		ward_buf_free(&der);
		return;
	}
	ward_buf_free(&der);
	if (r == NULL || ward_x509_csr_info(r, &info) != WARD_OK)
		abort();
	if (memchr(info.serial_number, '\0', sizeof(info.serial_number)) == NULL ||
	    memchr(info.ou, '\0', sizeof(info.ou)) == NULL || memchr(info.cn, '\0', sizeof(info.cn)) == NULL)
		abort();
	if (info.key_type != WARD_KEY_ECDSA_P256 && info.key_type != WARD_KEY_ED25519)
		abort();
	ward_x509_csr_free(r);
}

static void checkin_path(const uint8_t *body, size_t n)
{
	struct ward_msg m = {0};
	json_t *facts = NULL, *again = NULL;
	char *text;
	ward_err e;

	e = ward_json_parse(body, n, FACTS_MAX, &facts, &m);
	if (e != WARD_OK) {
		if (facts != NULL || m.text[0] == '\0' || (n > FACTS_MAX && e != WARD_E_TOOBIG))
			abort();
		return;
	}
	if (facts == NULL || n > FACTS_MAX)
		abort();
	/* what srv_api_checkin stores, and srv_api_self reads back */
	text = json_dumps(facts, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (text == NULL)
		abort();
	if (ward_json_parse(text, strlen(text), (size_t)-1, &again, &m) != WARD_OK ||
	    !json_equal(facts, again))
		abort();
	free(text);
	json_decref(again);
	json_decref(facts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
	size_t ct_len = nl ? (size_t)(nl - data) : size;
	const uint8_t *body = nl ? nl + 1 : (const uint8_t *)"";
	size_t body_len = nl ? size - ct_len - 1 : 0;

	/* read_csr(): strncmp(ct, "application/pkcs10", 18) on a NUL-terminated header value */
	if (ct_len >= strlen(CT_PKCS10) && memcmp(data, CT_PKCS10, strlen(CT_PKCS10)) == 0 &&
	    memchr(data, '\0', strlen(CT_PKCS10)) == NULL)
		csr_path(body, body_len);
	checkin_path(body, body_len);
	return 0;
}
