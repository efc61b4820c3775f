/*
 * agent/online.c — wardd's conversation with ward-server: check in over
 * mutual TLS with the device's facts, and renew the device certificate with
 * EST simplereenroll (RFC 7030 4.2.2) before it expires.
 *
 * Renewal keeps the device's key (so a key held by a TPM or secure element
 * can stay where it is) and its subject, and replaces the certificate file
 * atomically only after checking that the new certificate certifies this key
 * for this serial and chains to the fleet CA. A failed renewal leaves the old
 * certificate in place and is retried at the next check-in.
 *
 * After each check-in the outbox of stage reports (agent/report.c) is sent;
 * a failure to send leaves it for the next one and does not fail the check-in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "boot.h"
#include "report.h"
#include "ward/json.h"
#include "ward/net.h"
#include "ward/x509.h"

#define REPLY_MAX (64u * 1024)

static ward_err to_buf(void *ctx, const void *d, size_t n)
{
	return ward_buf_append(ctx, d, n);
}

ward_err agent_post(const struct agent_config *cfg, const char *path, const char *ctype,
		   const void *body, size_t len, long *status, struct ward_buf *out, struct ward_msg *m)
{
	struct ward_net_opts o = {0};
	struct ward_net *n = NULL;
	struct ward_net_resp resp;
	char url[1200];
	ward_err e;

	if (ward_snprintf(url, sizeof(url), "%s%s", cfg->server_url, path))
		return ward_msg_set(m, WARD_E_TOOBIG, "server URL too long");
	o.ca_file = cfg->server_ca;
	o.client_cert = cfg->device_cert;
	o.client_key = cfg->device_key;
	o.total_timeout_s = 60;
	ward_buf_init(out, REPLY_MAX);
	e = ward_net_new(&o, &n, m);
	if (!e) {
		struct ward_net_req r = {.method = "POST", .url = url, .content_type = ctype, .body = body,
					 .body_len = len, .max = REPLY_MAX, .sink = to_buf, .sink_ctx = out};

		e = ward_net_request(n, &r, &resp, m);
	}
	ward_net_free(n);
	if (e) {
		ward_buf_free(out);
		return e;
	}
	*status = resp.status;
	return WARD_OK;
}

static long uptime_s(void)
{
	struct ward_buf b;
	double up = 0;

	if (ward_file_read("/proc/uptime", 256, &b, NULL) == WARD_OK) {
		up = strtod((const char *)b.p, NULL);
		ward_buf_free(&b);
	}
	return (long)up;
}

/* The facts a check-in carries. Caller frees. */
static char *facts(const struct agent_config *cfg)
{
	struct agent_state st;
	struct ward_msg m;
	json_t *f, *slots;
	int booted = -1;
	char *s;

	if (agent_state_load(cfg, &st, &m))
		memset(&st, 0, sizeof(st));
	if (agent_boot_booted(cfg, &booted, &m))
		booted = -1;
	slots = json_object();
	for (int i = 0; i < 2; i++)
		json_object_set_new(slots, i ? "B" : "A",
				    json_pack("{s:s,s:s}", "state", agent_slot_state_name(st.slot[i].state),
					      "version", st.slot[i].version));
	f = json_pack("{s:s,s:s,s:o,s:I}", "hardware_id", cfg->hardware_id, "firmware_version",
		      booted >= 0 ? st.slot[booted].version : "", "slots", slots, "uptime",
		      (json_int_t)uptime_s());
	if (f && booted >= 0)
		json_object_set_new(f, "booted_slot", json_string(booted ? "B" : "A"));
	s = f ? json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(f);
	return s;
}

/* Re-enrol: same key, same subject; replace the certificate file if all checks pass. */
static ward_err renew(const struct agent_config *cfg, struct ward_msg *m)
{
	struct ward_buf pem, der, b64, body, p7;
	struct ward_key *key = NULL, *newkey = NULL;
	struct ward_cert *cur = NULL, **got = NULL;
	struct ward_cert_info ci, ni;
	struct ward_name name;
	size_t ngot = 0;
	long status = 0;
	ward_err e;

	ward_buf_init(&pem, 0);
	ward_buf_init(&der, 0);
	ward_buf_init(&b64, 0);
	ward_buf_init(&body, 0);
	ward_buf_init(&p7, 0);
	e = ward_file_read(cfg->device_key, 16 * 1024, &pem, m);
	if (!e) {
		pem.secret = true;
		e = ward_crypto_key_from_private_pem((const char *)pem.p, pem.len, &key, m);
		ward_buf_free(&pem);
	}
	if (!e)
		e = ward_file_read(cfg->device_cert, 64 * 1024, &pem, m);
	if (!e)
		e = ward_x509_cert_from_pem((const char *)pem.p, pem.len, &cur, m);
	ward_buf_free(&pem);
	if (!e)
		e = ward_x509_cert_info(cur, &ci);
	if (e)
		goto out;
	name.cn = ci.cn;
	name.serial = ci.serial_number;
	name.ou = ci.ou;
	name.o = ci.o;
	e = ward_x509_csr_create(key, &name, &der, m);
	if (!e)
		e = ward_crypto_base64_encode(der.p, der.len, &b64);
	if (!e)
		e = agent_post(cfg, "/.well-known/est/simplereenroll", "application/pkcs10", b64.p, b64.len, &status,
			 &body, m);
	if (e)
		goto out;
	if (status != 200) {
		e = ward_msg_set(m, WARD_E_DENIED, "renewal refused (HTTP %ld): %.200s", status,
				 body.p ? (const char *)body.p : "");
		goto out;
	}
	e = ward_crypto_base64_decode_ws(body.p, body.len, REPLY_MAX, &p7);
	if (!e)
		e = ward_x509_p7_parse(p7.p, p7.len, 4, &got, &ngot, m);
	if (!e && ngot < 1)
		e = ward_msg_set(m, WARD_E_PARSE, "renewal answer holds no certificate");
	if (!e)
		e = ward_x509_cert_info(got[0], &ni);
	if (!e)
		e = ward_x509_cert_key(got[0], &newkey);
	if (e)
		goto out;
	if (!ward_crypto_key_equal(newkey, key) || strcmp(ni.serial_number, ci.serial_number)) {
		e = ward_msg_set(m, WARD_E_VERIFY, "the renewed certificate is not for this device's key and serial");
		goto out;
	}
	ward_buf_init(&pem, 64 * 1024);
	e = ward_x509_cert_to_pem(got[0], &pem);
	if (!e)
		e = ward_file_write_atomic(cfg->device_cert, pem.p, pem.len, 0644, m);
	if (!e) {
		char t[21];

		ward_tuf_time_format(ni.not_after, t);
		printf("wardd: certificate renewed, valid until %s\n", t);
		fflush(stdout);
	}
out:
	ward_buf_free(&pem);
	ward_buf_free(&der);
	ward_buf_free(&b64);
	ward_buf_free(&body);
	ward_buf_free(&p7);
	for (size_t i = 0; i < ngot; i++)
		ward_x509_cert_free(got[i]);
	free(got);
	ward_x509_cert_free(cur);
	ward_crypto_key_free(key);
	ward_crypto_key_free(newkey);
	return e;
}

ward_err agent_checkin(const struct agent_config *cfg, unsigned *next, struct ward_msg *m)
{
	struct ward_buf body;
	json_t *r = NULL, *v;
	char *f = facts(cfg);
	long status = 0;
	bool want_renew = false;
	ward_err e;

	*next = 300;
	if (!f)
		return ward_msg_set(m, WARD_E_NOMEM, "cannot encode check-in facts");
	e = agent_post(cfg, "/api/v1/device/checkin", "application/json", f, strlen(f), &status, &body, m);
	free(f);
	if (e)
		return e;
	if (status != 200) {
		e = ward_msg_set(m, WARD_E_DENIED, "check-in refused (HTTP %ld): %.200s", status,
				 body.p ? (const char *)body.p : "");
		ward_buf_free(&body);
		return e;
	}
	e = ward_json_parse(body.p, body.len, REPLY_MAX, &r, m);
	ward_buf_free(&body);
	if (e)
		return ward_msg_prefix(m, e, "check-in answer: ");
	v = json_object_get(r, "next_checkin");
	if (json_is_integer(v) && json_integer_value(v) >= 5 && json_integer_value(v) <= 86400)
		*next = (unsigned)json_integer_value(v);
	want_renew = json_is_true(json_object_get(r, "renew"));
	json_decref(r);
	{
		struct ward_msg rm = {{0}};
		size_t sent = 0, left = 0;

		if (agent_outbox_flush(cfg, &sent, &left, &rm))
			printf("wardd: %zu report(s) kept in the outbox for later: %s\n", left, rm.text);
		else if (sent)
			printf("wardd: sent %zu report(s)\n", sent);
		fflush(stdout);
	}
	if (want_renew)
		e = renew(cfg, m);
	return e;
}
