/*
 * server/est.c — Enrollment over Secure Transport (RFC 7030, with RFC 8951's
 * corrections): cacerts, simpleenroll, simplereenroll, csrattrs, and /crl.
 *
 * Bodies are base64 of DER (whitespace tolerated on input, RFC 8951);
 * responses are base64 with line breaks and the content types the RFC names.
 * Initial enrollment authenticates the factory with HTTP Basic credentials of
 * a production batch; the quota is counted by the store in the same
 * transaction that records the device and its certificate, so a certificate
 * is returned only once it is recorded, and a unit is never counted twice.
 * Re-enrollment authenticates the device by its current certificate (mutual
 * TLS) and must keep its subject. Every refusal these handlers decide is
 * audited (bodies over max_body are refused by the transport, see http.c).
 */
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credentials.h"
#include "srv.h"
#include "ward/json.h"

#define P7_MIME "application/pkcs7-mime; smime-type=certs-only"

/* base64 of der with a line break every 64 characters into out (initialised here). */
static ward_err b64_out(const struct ward_buf *der, struct ward_buf *out)
{
	struct ward_buf flat;
	ward_err e = ward_crypto_base64_encode(der->p, der->len, &flat);

	if (e)
		return e;
	ward_buf_init(out, flat.len + flat.len / 64 + 2);
	for (size_t i = 0; !e && i < flat.len; i += 64) {
		size_t n = flat.len - i < 64 ? flat.len - i : 64;

		e = ward_buf_append(out, flat.p + i, n);
		if (!e)
			e = ward_buf_append(out, "\n", 1);
	}
	ward_buf_free(&flat);
	return e;
}

static void reply_p7(struct evhttp_request *req, struct ward_cert *const *certs, size_t n)
{
	struct ward_buf der, b64;
	struct ward_msg m = {{0}};

	if (ward_x509_p7_certs(certs, n, &der, &m)) {
		srv_error(req, 500, "Internal Server Error", "cannot encode certificates");
		return;
	}
	if (b64_out(&der, &b64)) {
		ward_buf_free(&der);
		srv_error(req, 500, "Internal Server Error", "cannot encode certificates");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Transfer-Encoding", "base64");
	srv_reply(req, 200, "OK", P7_MIME, b64.p, b64.len);
	ward_buf_free(&der);
	ward_buf_free(&b64);
}

/* {"reason": ..., more key/values} as JSON text for the audit log (caller frees). */
static char *detail(const char *reason, const char *k, const char *v)
{
	json_t *o = json_pack("{s:s}", "reason", reason);
	char *s;

	if (o && k && v)
		json_object_set_new(o, k, json_string(v));
	s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

static void refuse(struct evhttp_request *req, struct srv *s, int code, const char *status,
		   const char *event, const char *subject, const char *reason)
{
	char *d = detail(reason, NULL, NULL);
	char safe[128];
	size_t i;

	/* the subject may come from the client (a Basic user name): keep it printable */
	for (i = 0; subject[i] && i < sizeof(safe) - 1; i++)
		safe[i] = subject[i] > 0x20 && subject[i] < 0x7f ? subject[i] : '?';
	safe[i] = '\0';
	srv_audit_note(s, event, i ? safe : "?", d);
	free(d);
	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Basic realm=\"ward EST\"");
	srv_error(req, code, status, "%s", reason);
}

void srv_est_cacerts(struct evhttp_request *req, struct srv *s)
{
	struct ward_cert *certs[2] = {s->issuing, s->root};

	reply_p7(req, certs, 2);
}

void srv_est_csrattrs(struct evhttp_request *req, struct srv *s)
{
	struct ward_buf der, b64;
	struct ward_msg m = {{0}};

	(void)s;
	if (ward_x509_csrattrs(&der, &m) || b64_out(&der, &b64)) {
		srv_error(req, 500, "Internal Server Error", "cannot encode csrattrs");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Transfer-Encoding", "base64");
	srv_reply(req, 200, "OK", "application/csrattrs", b64.p, b64.len);
	ward_buf_free(&der);
	ward_buf_free(&b64);
}

void srv_crl(struct evhttp_request *req, struct srv *s)
{
	struct ward_buf b;
	struct ward_msg m = {{0}};

	if (ward_file_read(s->conf.crl, 4u * 1024 * 1024, &b, &m)) {
		srv_error(req, 503, "Service Unavailable", "no CRL published yet");
		return;
	}
	srv_reply(req, 200, "OK", "application/pkix-crl", b.p, b.len);
	ward_buf_free(&b);
}

static bool serial_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		/* X.520 serialNumber is a PrintableString: no '_' */
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Decode the base64 PKCS#10 body; replies and returns false on failure. */
static bool read_csr(struct evhttp_request *req, struct srv *s, const char *subject,
		     const char *event, struct ward_csr **csr, struct ward_cert_info *info)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	struct ward_buf body, der;
	struct ward_msg m = {{0}};
	char why[600];
	ward_err e;

	if (!ct || strncmp(ct, "application/pkcs10", 18)) {
		refuse(req, s, 415, "Unsupported Media Type", event, subject,
		       "send the CSR as application/pkcs10 (base64 DER)");
		return false;
	}
	if (srv_body(req, s->conf.max_body, &body)) {
		refuse(req, s, 413, "Payload Too Large", event, subject,
		       "Payload Too Large: the request body exceeds max_body");
		return false;
	}
	e = ward_crypto_base64_decode_ws(body.p, body.len, WARD_X509_MAX_DER, &der);
	ward_buf_free(&body);
	if (e) {
		refuse(req, s, 400, "Bad Request", event, subject, "the body is not base64 of a DER CSR");
		return false;
	}
	e = ward_x509_csr_parse(der.p, der.len, csr, &m);
	ward_buf_free(&der);
	if (!e)
		e = ward_x509_csr_info(*csr, info);
	if (e) {
		snprintf(why, sizeof(why), "CSR refused: %s", m.text[0] ? m.text : ward_err_name(e));
		ward_x509_csr_free(*csr);
		*csr = NULL;
		refuse(req, s, 400, "Bad Request", event, subject, why);
		return false;
	}
	if (info->key_type != WARD_KEY_ECDSA_P256) {
		ward_x509_csr_free(*csr);
		*csr = NULL;
		refuse(req, s, 400, "Bad Request", event, subject, "device keys must be ECDSA P-256");
		return false;
	}
	if (!serial_ok(info->serial_number)) {
		ward_x509_csr_free(*csr);
		*csr = NULL;
		refuse(req, s, 400, "Bad Request", event, subject,
		       "CSR subject needs serialNumber of 1-64 characters [A-Za-z0-9.-]");
		return false;
	}
	return true;
}

/* Issue a device certificate for the CSR's key; PEM into pem (initialised here). */
static ward_err issue(struct srv *s, const struct ward_csr *csr, const struct ward_cert_info *info,
		      const char *model, struct ward_cert **out, struct ward_cert_info *oinfo,
		      struct ward_buf *pem, struct ward_msg *m)
{
	struct ward_key *k = NULL;
	struct ward_issue p;
	time_t now = time(NULL);
	ward_err e;

	memset(&p, 0, sizeof(p));
	e = ward_x509_csr_key(csr, &k);
	if (e)
		return ward_msg_set(m, e, "cannot read the CSR key");
	p.profile = WARD_CERT_DEVICE;
	p.subject.cn = info->serial_number;
	p.subject.serial = info->serial_number;
	p.subject.ou = model;
	p.subject_key = k;
	p.not_before = now - 60;
	p.not_after = now + (time_t)s->conf.cert_lifetime;
	e = ward_x509_issue(s->issuing, s->issuing_key, &p, out, m);
	ward_crypto_key_free(k);
	if (e)
		return e;
	ward_buf_init(pem, 16 * 1024);
	e = ward_x509_cert_info(*out, oinfo);
	if (!e)
		e = ward_x509_cert_to_pem(*out, pem);
	if (e) {
		ward_x509_cert_free(*out);
		*out = NULL;
		ward_buf_free(pem);
	}
	return e;
}

/* "Basic base64(user:pass)" -> user, pass (wiped by the caller). */
static bool basic_auth(struct evhttp_request *req, char *user, size_t un, char *pass, size_t pn)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	struct ward_buf dec;
	char *colon;
	bool ok = false;

	if (!h || strncmp(h, "Basic ", 6))
		return false;
	if (ward_crypto_base64_decode(h + 6, strlen(h + 6), 512, &dec))
		return false;
	dec.secret = true;
	colon = memchr(dec.p, ':', dec.len);
	if (colon && memchr(dec.p, '\0', dec.len) == NULL) {
		size_t ul = (size_t)(colon - (char *)dec.p), pl = dec.len - ul - 1;

		if (ul > 0 && ul < un && pl < pn) {
			memcpy(user, dec.p, ul);
			user[ul] = '\0';
			memcpy(pass, colon + 1, pl);
			pass[pl] = '\0';
			ok = true;
		}
	}
	ward_buf_free(&dec);
	return ok;
}

void srv_est_simpleenroll(struct evhttp_request *req, struct srv *s)
{
	char user[64] = "", pass[256] = "", why[600];
	struct srv_batch b;
	struct ward_csr *csr = NULL;
	struct ward_cert_info info, cinfo;
	struct ward_cert *cert = NULL;
	struct ward_buf pem;
	struct ward_msg m = {{0}};
	bool ok = false;
	ward_err e;

	if (!basic_auth(req, user, sizeof(user), pass, sizeof(pass))) {
		refuse(req, s, 401, "Unauthorized", "auth-failure", "est", "HTTP Basic credentials of a production batch are required");
		goto out;
	}
	e = srv_batch_by_username(s->store, user, &b, &m);
	if (!e)
		e = srv_batch_password_ok(b.pass_hash, pass, &ok);
	if (e || !ok) {
		refuse(req, s, 401, "Unauthorized", "auth-failure", user, "unknown batch or wrong password");
		goto out;
	}
	if (!read_csr(req, s, user, "enroll-refused", &csr, &info))
		goto out;
	if (info.ou[0] && strcmp(info.ou, b.model)) {
		snprintf(why, sizeof(why), "model \"%.64s\" in the CSR does not match batch model \"%s\"", info.ou,
			 b.model);
		refuse(req, s, 403, "Forbidden", "enroll-refused", info.serial_number, why);
		goto out;
	}
	if (b.expires <= time(NULL)) {
		refuse(req, s, 403, "Forbidden", "enroll-refused", info.serial_number, "production batch has expired");
		goto out;
	}
	if (b.used >= b.count) {
		refuse(req, s, 403, "Forbidden", "enroll-refused", info.serial_number,
		       "production batch quota is used up");
		goto out;
	}
	e = issue(s, csr, &info, b.model, &cert, &cinfo, &pem, &m);
	if (e) {
		srv_error(req, 500, "Internal Server Error", "cannot issue the certificate");
		goto out;
	}
	e = srv_enroll(s->store, b.id, info.serial_number, b.model, cinfo.serial_hex, (const char *)pem.p,
		       cinfo.not_after, &m);
	ward_buf_free(&pem);
	if (e == WARD_E_EXISTS || e == WARD_E_DENIED || e == WARD_E_EXPIRED) {
		snprintf(why, sizeof(why), "%s", m.text[0] ? m.text : ward_err_name(e));
		refuse(req, s, e == WARD_E_EXISTS ? 409 : 403, e == WARD_E_EXISTS ? "Conflict" : "Forbidden",
		       "enroll-refused", info.serial_number, why);
		goto out;
	}
	if (e) {
		srv_error(req, 503, "Service Unavailable", "the registry could not record the enrolment; retry");
		goto out;
	}
	reply_p7(req, &cert, 1);
out:
	ward_wipe(pass, sizeof(pass));
	ward_x509_cert_free(cert);
	ward_x509_csr_free(csr);
}

bool srv_device_auth(struct evhttp_request *req, struct srv *s, struct srv_peer *p,
		     struct srv_device *dev, bool want_record)
{
	char serial[128];
	enum srv_device_status st;
	struct ward_msg m = {{0}};
	bool current = false;

	srv_peer(req, p);
	if (!p->present) {
		refuse(req, s, 401, "Unauthorized", "auth-failure", "device-api",
		       "a device certificate (mutual TLS) is required");
		return false;
	}
	if (srv_cert_status(s->store, p->info.serial_hex, serial, sizeof(serial), &st, &current, &m)) {
		refuse(req, s, 403, "Forbidden", "auth-failure", p->info.serial_number,
		       "certificate not issued by this fleet's registry");
		return false;
	}
	if (st != SRV_DEVICE_ACTIVE) {
		refuse(req, s, 403, "Forbidden", "auth-failure", serial,
		       st == SRV_DEVICE_REVOKED ? "device revoked" : "device decommissioned");
		return false;
	}
	if (!current) {
		refuse(req, s, 403, "Forbidden", "auth-failure", serial,
		       "certificate superseded by a renewal; use the current one");
		return false;
	}
	if (!want_record) {
		/* the certificate is the device's current one: what a check-in needs
		 * (serial, model, certificate expiry) is in it; skip the second read */
		memset(dev, 0, sizeof(*dev));
		snprintf(dev->serial, sizeof(dev->serial), "%s", serial);
		snprintf(dev->model, sizeof(dev->model), "%.63s", p->info.ou); /* issued from a 64-byte model */
		snprintf(dev->cert_serial, sizeof(dev->cert_serial), "%s", p->info.serial_hex);
		dev->cert_not_after = p->info.not_after;
		dev->status = st;
		return true;
	}
	if (srv_device_get(s->store, serial, dev, &m)) {
		srv_error(req, 503, "Service Unavailable", "registry unavailable; retry");
		return false;
	}
	return true;
}

void srv_est_simplereenroll(struct evhttp_request *req, struct srv *s)
{
	struct srv_peer p;
	struct srv_device dev;
	struct ward_csr *csr = NULL;
	struct ward_cert_info info, cinfo;
	struct ward_cert *cert = NULL;
	struct ward_buf pem;
	struct ward_msg m = {{0}};
	ward_err e;

	if (!srv_device_auth(req, s, &p, &dev, true))
		goto out;
	if (!read_csr(req, s, dev.serial, "renew-refused", &csr, &info))
		goto out;
	if (strcmp(info.serial_number, dev.serial) || (info.ou[0] && strcmp(info.ou, dev.model))) {
		refuse(req, s, 403, "Forbidden", "renew-refused", dev.serial,
		       "re-enrollment must keep the certificate's subject");
		goto out;
	}
	e = issue(s, csr, &info, dev.model, &cert, &cinfo, &pem, &m);
	if (e) {
		srv_error(req, 500, "Internal Server Error", "cannot issue the certificate");
		goto out;
	}
	e = srv_renew(s->store, dev.serial, cinfo.serial_hex, (const char *)pem.p, cinfo.not_after, &m);
	ward_buf_free(&pem);
	if (e == WARD_E_DENIED || e == WARD_E_NOTFOUND) {
		/* e.g. revoked between authentication and renewal */
		refuse(req, s, 403, "Forbidden", "renew-refused", dev.serial, m.text[0] ? m.text : "refused");
		goto out;
	}
	if (e) {
		srv_error(req, 503, "Service Unavailable", "the registry could not record the renewal; retry");
		goto out;
	}
	reply_p7(req, &cert, 1);
out:
	ward_x509_cert_free(cert);
	ward_x509_csr_free(csr);
	srv_peer_free(&p);
}
