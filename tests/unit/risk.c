/*
 * tests/unit/risk.c — the risk score (server/risk.c) and risk.ini
 * (server/risk_conf.c): each reason on its own, the clamp, the reasons
 * always summing to the raw score, revoked devices not scored, and
 * malformed facts (not JSON, not an object, wrong types, huge port lists)
 * scored as "unknown" without a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "risk.h"
#include "ward/buf.h"

#define NOW ((time_t)1800000000)
#define DAY 86400

static const struct srv_risk_fleet FLEET = {"2.0.0", 300, 10 * DAY};

/* A healthy active device: seen a minute ago, cert valid 20 days, secure boot on, newest firmware. */
static void healthy(struct srv_device *d, const char *facts)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->serial, sizeof(d->serial), "T-1");
	snprintf(d->model, sizeof(d->model), "thermo-2");
	d->status = SRV_DEVICE_ACTIVE;
	d->cert_not_after = NOW + 20 * DAY;
	d->enrolled = NOW - 30 * DAY;
	d->last_seen = NOW - 60;
	snprintf(d->facts, sizeof(d->facts), "%s",
		 facts ? facts
		       : "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":[443],"
			 "\"slots\":{\"A\":{\"state\":\"good\",\"version\":\"2.0.0\"},"
			 "\"B\":{\"state\":\"good\",\"version\":\"1.0.0\"}}}");
}

/* A model with no harm and ports judged (443 allowed): a healthy device scores 0. */
static void zero_model(struct srv_risk_model *m)
{
	srv_risk_model_default(m, "thermo-2");
	m->safety = m->revenue = m->brand = 0;
	m->ports_judged = true;
	m->n_ports = 1;
	m->allowed_ports[0] = 443;
}

static void check_sum(const struct srv_risk *r)
{
	int sum = 0;

	for (size_t i = 0; i < r->n; i++) {
		sum += r->reasons[i].points;
		assert_true(r->reasons[i].text[0] != '\0');
		for (const char *p = r->reasons[i].text; *p; p++)
			assert_true((unsigned char)*p >= 0x20);
		if (i)
			assert_true(r->reasons[i - 1].points >= r->reasons[i].points);
	}
	assert_int_equal(sum, r->raw);
	assert_int_equal(r->score, r->raw < 0 ? 0 : r->raw > 100 ? 100 : r->raw);
}

static struct srv_risk score(const struct srv_device *d, const struct srv_risk_model *m,
			     const struct srv_risk_fleet *f)
{
	struct srv_risk r;

	assert_int_equal(srv_risk_score(d, m, f, NOW, &r), WARD_OK);
	check_sum(&r);
	return r;
}

static bool has(const struct srv_risk *r, int points, const char *part)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->reasons[i].points == points && strstr(r->reasons[i].text, part))
			return true;
	return false;
}

/* Score with one change from healthy: expect exactly one reason. */
static void only(const struct srv_risk *r, int points, const char *part)
{
	if (r->n != 1 || !has(r, points, part)) {
		for (size_t i = 0; i < r->n; i++)
			print_error("  reason %d %s\n", r->reasons[i].points, r->reasons[i].text);
		fail_msg("expected only (%d, %s)", points, part);
	}
	assert_int_equal(r->score, points);
}

static void test_healthy_zero(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;

	(void)state;
	healthy(&d, NULL);
	zero_model(&m);
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.score, 0);
	assert_int_equal(r.n, 0);
	assert_false(r.excluded);
}

static void test_harm(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;

	(void)state;
	healthy(&d, NULL);
	zero_model(&m);
	m.safety = 3;
	m.revenue = 2;
	m.brand = 1;
	r = score(&d, &m, &FLEET);
	only(&r, 3 * SRV_RISK_W_SAFETY + 2 * SRV_RISK_W_REVENUE + SRV_RISK_W_BRAND, "safety 3, revenue 2, brand 1");
	m.safety = 99; /* out of range from a hand-made struct: capped at 3 */
	r = score(&d, &m, &FLEET);
	assert_true(has(&r, 3 * SRV_RISK_W_SAFETY + 2 * SRV_RISK_W_REVENUE + SRV_RISK_W_BRAND, "safety 3"));
	/* no model: defaults 1/1/1, ports not judged */
	r = score(&d, NULL, &FLEET);
	only(&r, SRV_RISK_W_SAFETY + SRV_RISK_W_REVENUE + SRV_RISK_W_BRAND, "safety 1, revenue 1, brand 1");
}

static void test_checkins(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;

	(void)state;
	zero_model(&m);
	healthy(&d, NULL);
	d.last_seen = 0;
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_NEVER_SEEN, "never checked in");
	/* the registry sets last_seen at enrolment; no facts since then is "never" too */
	healthy(&d, "");
	d.last_seen = d.enrolled;
	r = score(&d, &m, &FLEET);
	assert_true(has(&r, SRV_RISK_W_NEVER_SEEN, "never checked in"));
	healthy(&d, NULL);
	d.last_seen = NOW - 3 * 300; /* exactly 3 intervals: not yet */
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.n, 0);
	d.last_seen = NOW - 3 * 300 - 1;
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_MISSED_CHECKIN, "missed check-ins");
	/* the model's own interval wins over the fleet's */
	m.checkin_interval = 3600;
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.n, 0);
	/* a clock behind the last check-in is not "missed" */
	d.last_seen = NOW + 1000;
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.n, 0);
}

static void test_secure_boot(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;

	(void)state;
	zero_model(&m);
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":false,\"listening_ports\":[]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_SECURE_BOOT_OFF, "secure boot reported off");
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"listening_ports\":[]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_SECURE_BOOT_UNKNOWN, "secure boot not reported");
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":\"yes\",\"listening_ports\":[]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_SECURE_BOOT_UNKNOWN, "secure boot not reported");
}

static void test_firmware(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;
	struct srv_risk_fleet f = FLEET;

	(void)state;
	zero_model(&m);
	healthy(&d, "{\"firmware_version\":\"1.10.0\",\"secure_boot\":true,\"listening_ports\":[]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_FIRMWARE_BEHIND, "firmware 1.10.0 is behind the fleet's newest 2.0.0");
	f.newest = "1.9.0"; /* numeric comparison: 1.10.0 is newer than 1.9.0 */
	r = score(&d, &m, &f);
	assert_int_equal(r.n, 0);
	f.newest = NULL;
	r = score(&d, &m, &f);
	assert_int_equal(r.n, 0);
	f.newest = "not a version!";
	r = score(&d, &m, &f);
	assert_int_equal(r.n, 0);
	healthy(&d, "{\"firmware_version\":\"\",\"secure_boot\":true,\"listening_ports\":[]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_FIRMWARE_UNKNOWN, "firmware version not reported");
	healthy(&d, "{\"firmware_version\":7,\"secure_boot\":true,\"listening_ports\":[]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_FIRMWARE_UNKNOWN, "firmware version not reported");
}

static void test_ports(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;

	(void)state;
	zero_model(&m);
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":[443,23]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_PORT, "1 unexpected listening port: 23");
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,"
		    "\"listening_ports\":[23,23,80,8080,9000,443]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_PORT * SRV_RISK_PORTS_COUNTED, "4 unexpected listening ports: 23, 80, 8080, ...");
	/* not judged when the model has no allowed_ports */
	m.ports_judged = false;
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.n, 0);
	/* judged with an empty list: every port is unexpected */
	m.ports_judged = true;
	m.n_ports = 0;
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":[443]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_PORT, "443");
	/* judged, but not reported or malformed: unknown */
	zero_model(&m);
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_PORTS_UNKNOWN, "listening ports not reported");
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":\"22\"}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_PORTS_UNKNOWN, "listening ports not reported");
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":[22,70000]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_PORTS_UNKNOWN, "listening ports not reported");
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":[22,-1]}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_PORTS_UNKNOWN, "listening ports not reported");
}

static void test_huge_port_list(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;
	struct ward_buf b;

	(void)state;
	zero_model(&m);
	/* more entries than judged: unknown; the whole list still fits the record */
	ward_buf_init(&b, sizeof(d.facts) - 1);
	assert_int_equal(ward_buf_printf(&b, "{\"secure_boot\":true,\"firmware_version\":\"2.0.0\","
					     "\"listening_ports\":["), WARD_OK);
	for (int i = 0; i <= SRV_RISK_FACT_PORTS_MAX; i++)
		assert_int_equal(ward_buf_printf(&b, "%s%d", i ? "," : "", i % 10), WARD_OK);
	assert_int_equal(ward_buf_printf(&b, "]}"), WARD_OK);
	healthy(&d, (const char *)b.p);
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_PORTS_UNKNOWN, "listening ports not reported");
	ward_buf_free(&b);
	/* a list at the limit is judged */
	ward_buf_init(&b, sizeof(d.facts) - 1);
	assert_int_equal(ward_buf_printf(&b, "{\"secure_boot\":true,\"firmware_version\":\"2.0.0\","
					     "\"listening_ports\":["), WARD_OK);
	for (int i = 0; i < SRV_RISK_FACT_PORTS_MAX; i++)
		assert_int_equal(ward_buf_printf(&b, "%s%d", i ? "," : "", i % 6), WARD_OK);
	assert_int_equal(ward_buf_printf(&b, "]}"), WARD_OK);
	healthy(&d, (const char *)b.p);
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_PORT * SRV_RISK_PORTS_COUNTED, "6 unexpected listening ports: 0, 1, 2, ...");
	ward_buf_free(&b);
}

static void test_cert(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;

	(void)state;
	zero_model(&m);
	healthy(&d, NULL);
	d.cert_not_after = NOW - 2 * DAY;
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_CERT_EXPIRED, "certificate expired 2 days ago");
	d.cert_not_after = NOW;
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_CERT_EXPIRED, "certificate expired");
	d.cert_not_after = NOW + 3 * DAY;
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_CERT_RENEW, "certificate expires in 3 days");
	d.cert_not_after = NOW + 10 * DAY; /* exactly the window: not yet due */
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.n, 0);
	d.cert_not_after = 0;
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_CERT_UNKNOWN, "certificate expiry unknown");
}

static void test_failed_installs(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;

	(void)state;
	zero_model(&m);
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":[],"
		    "\"slots\":{\"A\":{\"state\":\"good\"},\"B\":{\"state\":\"bad\",\"version\":\"2.1.0\"}}}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_FAILED_INSTALL, "slot B is marked bad");
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":[],"
		    "\"slots\":{\"A\":{\"state\":\"bad\"},\"B\":{\"state\":\"bad\"},\"C\":{\"state\":\"bad\"}}}");
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.n, SRV_RISK_FAILED_SLOTS_MAX);
	assert_int_equal(r.score, SRV_RISK_W_FAILED_INSTALL * SRV_RISK_FAILED_SLOTS_MAX);
	/* odd slot shapes are not failures */
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":[],"
		    "\"slots\":{\"a\":\"bad\",\"b\":{\"state\":7},\"c\":[\"bad\"]}}");
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.n, 0);
	/* a control character in a slot name never reaches the one-line text */
	healthy(&d, "{\"firmware_version\":\"2.0.0\",\"secure_boot\":true,\"listening_ports\":[],"
		    "\"slots\":{\"x\\ny\":{\"state\":\"bad\"}}}");
	r = score(&d, &m, &FLEET);
	only(&r, SRV_RISK_W_FAILED_INSTALL, "slot x?y is marked bad");
}

static void test_revoked_excluded(void **state)
{
	struct srv_device d;
	struct srv_risk r;

	(void)state;
	healthy(&d, NULL);
	d.status = SRV_DEVICE_REVOKED;
	d.last_seen = 0;
	d.cert_not_after = NOW - DAY;
	r = score(&d, NULL, &FLEET);
	assert_true(r.excluded);
	assert_int_equal(r.score, 0);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.reasons[0].text, "revoked"));
	d.status = SRV_DEVICE_DECOMMISSIONED;
	r = score(&d, NULL, &FLEET);
	assert_true(r.excluded);
	assert_non_null(strstr(r.reasons[0].text, "decommissioned"));
}

static void test_clamp_and_sum(void **state)
{
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;

	(void)state;
	srv_risk_model_default(&m, "thermo-2");
	m.safety = m.revenue = m.brand = 3;
	m.ports_judged = true;
	healthy(&d, "{\"firmware_version\":\"1.0\",\"secure_boot\":false,\"listening_ports\":[1,2,3,4],"
		    "\"slots\":{\"A\":{\"state\":\"bad\"},\"B\":{\"state\":\"bad\"}}}");
	d.last_seen = NOW - 10 * DAY;
	d.cert_not_after = NOW - DAY;
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.raw, 27 + SRV_RISK_W_MISSED_CHECKIN + SRV_RISK_W_SECURE_BOOT_OFF +
				    SRV_RISK_W_FIRMWARE_BEHIND + 3 * SRV_RISK_W_PORT +
				    2 * SRV_RISK_W_FAILED_INSTALL + SRV_RISK_W_CERT_EXPIRED);
	assert_true(r.raw > 100);
	assert_int_equal(r.score, 100);
	assert_int_equal(r.reasons[0].points, 3 * SRV_RISK_W_PORT); /* largest first */
}

static void test_malformed_facts(void **state)
{
	static const char *const bad[] = {
	    "", "not json", "[]", "\"x\"", "42", "null", "{", "{\"a\":1,\"a\":2}",
	    "{\"firmware_version\":[],\"secure_boot\":{},\"listening_ports\":{},\"slots\":[]}",
	    "{\"slots\":{\"A\":null},\"listening_ports\":[null,true,1.5]}",
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	struct srv_device d;
	struct srv_risk_model m;
	struct srv_risk r;

	(void)state;
	zero_model(&m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		healthy(&d, bad[i]);
		r = score(&d, &m, &FLEET);
		/* unknown everywhere: secure boot, firmware, ports */
		assert_int_equal(r.raw, SRV_RISK_W_SECURE_BOOT_UNKNOWN + SRV_RISK_W_FIRMWARE_UNKNOWN +
					    SRV_RISK_W_PORTS_UNKNOWN);
	}
	/* facts filling the record with no NUL: unknown, no overread */
	healthy(&d, NULL);
	memset(d.facts, '{', sizeof(d.facts));
	r = score(&d, &m, &FLEET);
	assert_int_equal(r.raw, SRV_RISK_W_SECURE_BOOT_UNKNOWN + SRV_RISK_W_FIRMWARE_UNKNOWN +
				    SRV_RISK_W_PORTS_UNKNOWN);
	assert_int_equal(srv_risk_score(NULL, &m, &FLEET, NOW, &r), WARD_E_INVAL);
	assert_int_equal(srv_risk_score(&d, &m, NULL, NOW, &r), WARD_E_INVAL);
}

static void test_newest(void **state)
{
	struct srv_device d[4];
	char v[WARD_VERSION_MAX + 1];

	(void)state;
	healthy(&d[0], "{\"firmware_version\":\"1.9.0\"}");
	healthy(&d[1], "{\"firmware_version\":\"1.10.0\"}");
	healthy(&d[2], "{\"firmware_version\":\"9.0.0\"}");
	d[2].status = SRV_DEVICE_REVOKED; /* revoked devices do not set the bar */
	healthy(&d[3], "{\"firmware_version\":\"5.0.0\"}");
	snprintf(d[3].model, sizeof(d[3].model), "other");
	srv_risk_newest(d, 4, "thermo-2", v);
	assert_string_equal(v, "1.10.0");
	srv_risk_newest(d, 4, "none", v);
	assert_string_equal(v, "");
	assert_true(srv_risk_firmware(&d[3], v));
	assert_string_equal(v, "5.0.0");
}

static void test_ini(void **state)
{
	struct srv_risk_models *ms = calloc(1, sizeof(*ms));
	const struct srv_risk_model *p;
	struct ward_msg m = {0};

	(void)state;
	assert_non_null(ms);
	assert_int_equal(srv_risk_models_parse("[*]\nbrand = 0\n"
					       "[thermo-2]\nsafety = 3\nrevenue=2\nallowed_ports = 22, 443\n"
					       "checkin_interval = 60\n"
					       "[cam-1]\nallowed_ports =\n",
					       ms, &m),
			 WARD_OK);
	assert_int_equal(ms->n, 2);
	p = srv_risk_model_for(ms, "thermo-2");
	assert_int_equal(p->safety, 3);
	assert_int_equal(p->revenue, 2);
	assert_int_equal(p->brand, 0); /* from [*] */
	assert_true(p->ports_judged);
	assert_int_equal(p->n_ports, 2);
	assert_int_equal(p->allowed_ports[0], 22);
	assert_int_equal(p->allowed_ports[1], 443);
	assert_int_equal(p->checkin_interval, 60);
	p = srv_risk_model_for(ms, "cam-1");
	assert_true(p->ports_judged);
	assert_int_equal(p->n_ports, 0);
	p = srv_risk_model_for(ms, "unlisted");
	assert_false(p->ports_judged);
	assert_int_equal(p->safety, 1);
	assert_int_equal(p->brand, 0);

	static const char *const bad[] = {
	    "safety = 1\n",                              /* outside a section */
	    "[m]\nsafty = 1\n",                          /* unknown key */
	    "[m]\nsafety = 4\n",                         /* out of range */
	    "[m]\nsafety = -1\n",
	    "[m]\nsafety = 1\nsafety = 2\n",             /* twice */
	    "[m]\nallowed_ports = 22,,443\n",
	    "[m]\nallowed_ports = 22,\n",
	    "[m]\nallowed_ports = 70000\n",
	    "[m]\nallowed_ports = ssh\n",
	    "[m]\nallowed_ports = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,"
	    "27,28,29,30,31,32,33\n",                    /* more than 32 */
	    "[m]\ncheckin_interval = 1\n",
	    "[bad name!]\nsafety = 1\n",
	    "[m]\nsafety = 1\n[n]\nbrand = 1\n[m]\nrevenue = 1\n", /* section twice */
	    "[m]\njunk line\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.text[0] = '\0';
		if (srv_risk_models_parse(bad[i], ms, &m) == WARD_OK)
			fail_msg("accepted: %s", bad[i]);
		assert_true(m.text[0] != '\0');
	}
	/* a missing file is the defaults */
	assert_int_equal(srv_risk_models_load("/nonexistent/risk.ini", ms, &m), WARD_OK);
	assert_int_equal(ms->n, 0);
	assert_int_equal(srv_risk_model_for(ms, "x")->safety, 1);
	free(ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_healthy_zero),   cmocka_unit_test(test_harm),
	    cmocka_unit_test(test_checkins),       cmocka_unit_test(test_secure_boot),
	    cmocka_unit_test(test_firmware),       cmocka_unit_test(test_ports),
	    cmocka_unit_test(test_huge_port_list), cmocka_unit_test(test_cert),
	    cmocka_unit_test(test_failed_installs), cmocka_unit_test(test_revoked_excluded),
	    cmocka_unit_test(test_clamp_and_sum),  cmocka_unit_test(test_malformed_facts),
	    cmocka_unit_test(test_newest),         cmocka_unit_test(test_ini),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
