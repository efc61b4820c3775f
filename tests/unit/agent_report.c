/*
 * tests/unit/agent_report.c — the outbox of stage reports (agent/report.c)
 * and the "refused" images and download progress of state.json (agent/state.c).
 *
 * Each test works in its own temporary state directory: seq numbers strictly
 * increase and survive reloads, the outbox keeps at most AGENT_OUTBOX_MAX
 * reports (the oldest dropped and counted), dedupe skips a repeated report
 * only, reasons are cut to 200 bytes at a character boundary and cleaned to
 * valid UTF-8, a corrupt outbox is an error (never guessed at) but an
 * invalid next_seq is repaired, a server's last_seq is believed only within
 * bounds (2^32 past next_seq, below 2^53), flushing needs a [server], and
 * state.json keeps "written" and "refused" (and accepts a file without them,
 * forgetting an earlier version's refusal of a merely failed download).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "report.h"
#include "state.h"
#include "ward/buf.h"
#include "ward/json.h"

struct fx {
	char dir[PATH_MAX];
	struct agent_config cfg;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ward-unit-report-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->cfg.state_dir, sizeof(f->cfg.state_dir), "%s", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static json_t *load_outbox(struct fx *f)
{
	char path[PATH_MAX + 16];
	struct ward_buf b;
	json_t *doc = NULL;

	snprintf(path, sizeof(path), "%s/reports.json", f->dir);
	assert_int_equal(ward_file_read(path, 1 << 20, &b, NULL), WARD_OK);
	assert_int_equal(ward_json_parse(b.p, b.len, 1 << 20, &doc, NULL), WARD_OK);
	ward_buf_free(&b);
	return doc;
}

static void test_seq_increases_and_survives(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	uint64_t seq = 0, prev = 0;
	size_t n = 99;

	assert_int_equal(agent_outbox_count(&f->cfg, &n, &m), WARD_OK);
	assert_int_equal(n, 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_DOWNLOADING, "fw.img", "1.0", "", false,
						     &seq, &m),
				 WARD_OK);
		assert_true(seq > prev);
		prev = seq;
	}
	assert_int_equal(seq, 5);
	assert_int_equal(agent_outbox_count(&f->cfg, &n, &m), WARD_OK);
	assert_int_equal(n, 5);
	/* dedupe skips only an exact repeat of the last report */
	assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_DOWNLOADING, "fw.img", "1.0", "", true, &seq, &m),
			 WARD_OK);
	assert_int_equal(seq, 0);
	assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_FAILED, "fw.img", "1.0", "x", true, &seq, &m),
			 WARD_OK);
	assert_int_equal(seq, 6);
	/* without a [server] there is nowhere to send */
	assert_int_equal(agent_outbox_flush(&f->cfg, NULL, NULL, &m), WARD_E_INVAL);
	assert_int_equal(agent_outbox_count(&f->cfg, &n, &m), WARD_OK);
	assert_int_equal(n, 6);
}

static void test_bounded(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	uint64_t seq = 0;
	json_t *doc, *list;

	for (int i = 0; i < AGENT_OUTBOX_MAX + 3; i++) {
		char why[32];

		snprintf(why, sizeof(why), "r%d", i);
		assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_FAILED, "fw.img", "1.0", why, true, &seq, &m),
				 WARD_OK);
	}
	assert_int_equal(seq, AGENT_OUTBOX_MAX + 3);
	doc = load_outbox(f);
	list = json_object_get(doc, "reports");
	assert_int_equal(json_array_size(list), AGENT_OUTBOX_MAX);
	assert_int_equal(json_integer_value(json_object_get(doc, "dropped")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 4);
	assert_int_equal(json_integer_value(json_object_get(doc, "next_seq")), AGENT_OUTBOX_MAX + 4);
	json_decref(doc);
}

static void test_reason_cut_and_cleaned(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	char why[400];
	const char *got;
	json_t *doc;

	/* 199 ASCII bytes then a 2-byte character: it does not fit, and is not cut in half */
	memset(why, 'a', 199);
	memcpy(why + 199, "\xc3\xa9tail", 7);
	assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_FAILED, "fw.img", "1.0", why, false, NULL, &m),
			 WARD_OK);
	/* invalid UTF-8 and control characters */
	assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_FAILED, "fw.img", "1.0", "bad\xff\x01line\n", false,
					     NULL, &m),
			 WARD_OK);
	doc = load_outbox(f);
	got = json_string_value(json_object_get(json_array_get(json_object_get(doc, "reports"), 0), "reason"));
	assert_non_null(got);
	assert_int_equal(strlen(got), 199);
	got = json_string_value(json_object_get(json_array_get(json_object_get(doc, "reports"), 1), "reason"));
	assert_string_equal(got, "bad? line ");
	json_decref(doc);
}

static void write_file(struct fx *f, const char *name, const char *text)
{
	char path[PATH_MAX + 16];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static char *read_text(struct fx *f, const char *name)
{
	char path[PATH_MAX + 16];
	struct ward_buf b;
	char *s;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(ward_file_read(path, 1 << 20, &b, NULL), WARD_OK);
	s = calloc(1, b.len + 1);
	assert_non_null(s);
	memcpy(s, b.p, b.len);
	ward_buf_free(&b);
	return s;
}

static json_int_t next_seq(struct fx *f)
{
	json_t *doc = load_outbox(f);
	json_int_t v = json_integer_value(json_object_get(doc, "next_seq"));

	json_decref(doc);
	return v;
}

static void test_corrupt_outbox_is_an_error(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	size_t n;

	/* reports out of order: the reports themselves are not guessed at */
	write_file(f, "reports.json",
		   "{\"format\": 1, \"next_seq\": 9, \"dropped\": 0, \"reports\": ["
		   "{\"seq\": 5, \"time\": 1, \"stage\": \"failed\", \"target\": \"t\", \"version\": \"\", \"reason\": \"\"},"
		   "{\"seq\": 4, \"time\": 1, \"stage\": \"failed\", \"target\": \"t\", \"version\": \"\", \"reason\": \"\"}]}");
	assert_int_equal(agent_outbox_count(&f->cfg, &n, &m), WARD_E_PARSE);
	assert_non_null(strstr(m.text, "outbox"));
	assert_int_not_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_FAILED, "t", "", "", false, NULL, &m), WARD_OK);
	write_file(f, "reports.json", "{\"format\": 1, \"next_seq\": ");
	assert_int_equal(agent_outbox_count(&f->cfg, &n, &m), WARD_E_PARSE);
}

/* A next_seq that is negative, zero, too large, missing or not above the reports is repaired. */
static void test_invalid_next_seq_is_repaired(void **state)
{
	static const struct {
		const char *next;   /* the next_seq member, as written */
		bool reports;       /* reports 5 and 7 in the file */
		json_int_t want;    /* next_seq after the repair */
	} cases[] = {
		{"\"next_seq\": -9223372036854775808,", true, 8}, /* what the overflow left behind */
		{"\"next_seq\": -1,", false, 1},
		{"\"next_seq\": 0,", true, 8},
		{"\"next_seq\": 3,", true, 8},                     /* not above the reports */
		{"\"next_seq\": 7,", true, 8},
		{"\"next_seq\": 9007199254740993,", false, 1},     /* 2^53 + 1 */
		{"\"next_seq\": \"12\",", true, 8},
		{"", true, 8},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx *f = *state;
		struct ward_msg m = {{0}};
		char text[1024];
		uint64_t seq = 0;
		size_t n = 99;

		snprintf(text, sizeof(text),
			 "{\"format\": 1, %s \"dropped\": 0, \"reports\": [%s]}", cases[i].next,
			 cases[i].reports
				 ? "{\"seq\": 5, \"time\": 1, \"stage\": \"failed\", \"target\": \"t\", \"version\": \"\", \"reason\": \"\"},"
				   "{\"seq\": 7, \"time\": 1, \"stage\": \"booted\", \"target\": \"t\", \"version\": \"\", \"reason\": \"\"}"
				 : "");
		write_file(f, "reports.json", text);
		assert_int_equal(agent_outbox_count(&f->cfg, &n, &m), WARD_OK);
		assert_int_equal(n, cases[i].reports ? 2 : 0);
		assert_int_equal(next_seq(f), cases[i].want); /* saved repaired at once */
		assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_FAILED, "t", "1", "x", false, &seq, &m),
				 WARD_OK);
		assert_int_equal(seq, (uint64_t)cases[i].want);
		assert_int_equal(next_seq(f), cases[i].want + 1);
	}
}

/* The reply that used to overflow next_seq: refused, the outbox untouched, reporting goes on. */
static void test_ack_out_of_bounds_is_refused(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	uint64_t seq = 0;
	size_t taken = 99, n = 0;
	char *before, *after;
	static const uint64_t bad[] = {INT64_MAX, UINT64_MAX, (uint64_t)1 << 53, 3 + ((uint64_t)1 << 32)};

	for (int i = 0; i < 2; i++)
		assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_DOWNLOADING, "fw.img", "1.0", "", false,
						     &seq, &m),
				 WARD_OK);
	before = read_text(f, "reports.json");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(agent_outbox_ack(&f->cfg, bad[i], &taken, &m), WARD_E_PARSE);
		assert_non_null(strstr(m.text, "protocol error"));
		assert_int_equal(taken, 0);
		after = read_text(f, "reports.json");
		assert_string_equal(after, before);
		free(after);
	}
	free(before);
	assert_int_equal(agent_outbox_count(&f->cfg, &n, &m), WARD_OK);
	assert_int_equal(n, 2);
	/* the furthest jump allowed: next_seq (3) + 2^32 - 1 */
	assert_int_equal(agent_outbox_ack(&f->cfg, 2 + ((uint64_t)1 << 32), &taken, &m), WARD_OK);
	assert_int_equal(taken, 2);
	assert_int_equal(next_seq(f), (json_int_t)(3 + ((uint64_t)1 << 32)));
	assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_BOOTED, "fw.img", "1.0", "", false, &seq, &m),
			 WARD_OK);
	assert_int_equal(seq, 3 + ((uint64_t)1 << 32));
	/* what the server holds already changes nothing */
	assert_int_equal(agent_outbox_ack(&f->cfg, 1, &taken, &m), WARD_OK);
	assert_int_equal(taken, 0);
	assert_int_equal(agent_outbox_count(&f->cfg, &n, &m), WARD_OK);
	assert_int_equal(n, 1);
}

/* next_seq never passes 2^53: the last jumps are bounded, then numbers run out (an error, no wrap). */
static void test_seq_never_passes_2_53(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	uint64_t seq = 0;
	size_t taken = 0;

	write_file(f, "reports.json", "{\"format\": 1, \"next_seq\": 9007199254740980, \"dropped\": 0, \"reports\": []}");
	assert_int_equal(agent_outbox_ack(&f->cfg, (uint64_t)1 << 53, &taken, &m), WARD_E_PARSE);
	assert_int_equal(agent_outbox_ack(&f->cfg, ((uint64_t)1 << 53) - 2, &taken, &m), WARD_OK);
	assert_int_equal(next_seq(f), (json_int_t)((uint64_t)1 << 53) - 1);
	assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_FAILED, "t", "", "a", false, &seq, &m), WARD_OK);
	assert_int_equal(seq, ((uint64_t)1 << 53) - 1);
	assert_int_equal(next_seq(f), (json_int_t)((uint64_t)1 << 53));
	assert_int_equal(agent_outbox_append(&f->cfg, AGENT_STAGE_FAILED, "t", "", "b", false, &seq, &m),
			 WARD_E_TOOBIG);
	assert_int_equal(next_seq(f), (json_int_t)((uint64_t)1 << 53));
}

static void test_state_refused_and_written(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	struct agent_state st, back;
	char hex[65];

	memset(&st, 0, sizeof(st));
	for (int i = 0; i < AGENT_REFUSED_MAX + 2; i++) {
		snprintf(st.slot[1].sha256, sizeof(st.slot[1].sha256), "%064d", i);
		snprintf(st.slot[1].target, sizeof(st.slot[1].target), "fw-%d.img", i);
		agent_state_refuse(&st, 1, i % 2, "health check failed");
	}
	agent_state_refuse(&st, 1, true, "again"); /* the same image: updated, not added */
	assert_int_equal(st.nrefused, AGENT_REFUSED_MAX);
	st.slot[1].state = AGENT_SLOT_WRITING;
	st.slot[1].length = 1000;
	st.slot[1].written = 512;
	st.refused[0].reported = true;
	assert_int_equal(agent_state_save(&f->cfg, &st, &m), WARD_OK);
	assert_int_equal(agent_state_load(&f->cfg, &back, &m), WARD_OK);
	assert_int_equal(back.nrefused, AGENT_REFUSED_MAX);
	assert_int_equal(back.slot[1].written, 512);
	snprintf(hex, sizeof(hex), "%064d", 2);
	assert_non_null(agent_state_refused(&back, hex));
	snprintf(hex, sizeof(hex), "%064d", 1); /* the oldest went */
	assert_null(agent_state_refused(&back, hex));
	snprintf(hex, sizeof(hex), "%064d", AGENT_REFUSED_MAX + 1);
	assert_string_equal(agent_state_refused(&back, hex)->reason, "again");
	assert_true(agent_state_refused(&back, hex)->rolled_back);
	assert_true(back.refused[0].reported);
	assert_null(agent_state_refused(&back, ""));
}

/* An earlier version refused images whose download merely failed: those entries are forgotten. */
static void test_state_forgets_failed_downloads(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	struct agent_state st;
	char hex[65];

	write_file(f, "state.json",
		   "{\"format\": 1, \"floor\": \"\", \"slots\": {"
		   "\"A\": {\"state\": \"good\", \"version\": \"1.0\", \"target\": \"a\", \"sha256\": \"\", \"length\": 0, \"reason\": \"\"},"
		   "\"B\": {\"state\": \"bad\", \"version\": \"2.0\", \"target\": \"b\", \"sha256\": \"\", \"length\": 9, \"reason\": \"\"}},"
		   "\"refused\": ["
		   "{\"sha256\": \"01\", \"target\": \"a\", \"kind\": \"failed\", \"reason\": \"404\", \"reported\": true},"
		   "{\"sha256\": \"02\", \"target\": \"b\", \"kind\": \"rolled-back\", \"reason\": \"health\", \"reported\": true},"
		   "{\"sha256\": \"03\", \"target\": \"c\", \"kind\": \"failed\", \"reason\": \"readback\", \"reported\": false, \"readback\": true},"
		   "{\"sha256\": \"04\", \"target\": \"d\", \"kind\": \"failed\", \"reason\": \"x\", \"reported\": false, \"readback\": false}]}");
	assert_int_equal(agent_state_load(&f->cfg, &st, &m), WARD_OK);
	assert_int_equal(st.nrefused, 2);
	assert_null(agent_state_refused(&st, "01"));
	assert_true(agent_state_refused(&st, "02")->rolled_back);
	assert_false(agent_state_refused(&st, "03")->rolled_back);
	assert_null(agent_state_refused(&st, "04"));
	/* what this version refuses survives a save and a load */
	snprintf(hex, sizeof(hex), "%064d", 5);
	snprintf(st.slot[1].sha256, sizeof(st.slot[1].sha256), "%s", hex);
	agent_state_refuse(&st, 1, false, "does not read back");
	assert_int_equal(agent_state_save(&f->cfg, &st, &m), WARD_OK);
	assert_int_equal(agent_state_load(&f->cfg, &st, &m), WARD_OK);
	assert_int_equal(st.nrefused, 3);
	assert_non_null(agent_state_refused(&st, hex));
	assert_non_null(agent_state_refused(&st, "03"));
	/* "readback" that is not a boolean is a corrupt file */
	write_file(f, "state.json",
		   "{\"format\": 1, \"floor\": \"\", \"slots\": {"
		   "\"A\": {\"state\": \"good\", \"version\": \"1.0\", \"target\": \"a\", \"sha256\": \"\", \"length\": 0, \"reason\": \"\"},"
		   "\"B\": {\"state\": \"bad\", \"version\": \"2.0\", \"target\": \"b\", \"sha256\": \"\", \"length\": 9, \"reason\": \"\"}},"
		   "\"refused\": [{\"sha256\": \"01\", \"target\": \"a\", \"kind\": \"failed\", \"reason\": \"r\", \"reported\": true, \"readback\": 1}]}");
	assert_int_equal(agent_state_load(&f->cfg, &st, &m), WARD_E_PARSE);
}

static void test_state_without_new_fields(void **state)
{
	struct fx *f = *state;
	struct ward_msg m = {{0}};
	struct agent_state st;
	char path[PATH_MAX + 16];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/state.json", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"format\": 1, \"floor\": \"\", \"slots\": {"
	      "\"A\": {\"state\": \"good\", \"version\": \"1.0\", \"target\": \"a\", \"sha256\": \"\", \"length\": 0, \"reason\": \"\"},"
	      "\"B\": {\"state\": \"writing\", \"version\": \"2.0\", \"target\": \"b\", \"sha256\": \"\", \"length\": 9, \"reason\": \"\"}}}",
	      fp);
	fclose(fp);
	assert_int_equal(agent_state_load(&f->cfg, &st, &m), WARD_OK);
	assert_int_equal(st.nrefused, 0);
	assert_int_equal(st.slot[1].written, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seq_increases_and_survives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reason_cut_and_cleaned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_outbox_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_next_seq_is_repaired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_out_of_bounds_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_never_passes_2_53, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_forgets_failed_downloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_refused_and_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_without_new_fields, setup, teardown),
	};
	return cmocka_run_group_tests_name("agent_report", tests, NULL, NULL);
}
