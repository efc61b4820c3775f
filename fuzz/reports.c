/*
 * fuzz/reports.c — a device's stage-report body (POST /api/v1/device/report).
 *
 * Input: any bytes, taken as the JSON body (at most 16 KiB, REPORT_BODY_MAX
 * of server/api.c, as the API reads it) and parsed by srv_reports_parse into
 * SRV_REPORTS_MAX reports, as the handler does. server/campaign_parse.c is
 * compiled into this target (it lives outside libward).
 * Properties checked (abort() when one fails):
 *  1. an accepted body holds n <= SRV_REPORTS_MAX reports, n the length of
 *     its "reports" array;
 *  2. each has seq >= 1 (the request's), strictly increasing; time 0 (the
 *     server stamps it); a stage srv_stage_valid accepts; a non-empty target;
 *     stage, target, version and reason NUL-terminated within their fields,
 *     without an embedded NUL and equal to the request's strings ("" when
 *     absent); reason at most SRV_REPORT_REASON_MAX bytes.
 * Everything allocated is freed, so LeakSanitizer checks the error paths too.
 */
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "fuzz.h"
#include "ward/json.h"

#define BODY_MAX (16 * 1024) /* REPORT_BODY_MAX (server/api.c): the API reads no larger body */

/* field is a NUL-terminated copy of member key of o (or "" when o has none). */
static void check_field(const json_t *o, const char *key, const char *field, size_t size)
{
	const json_t *v = json_object_get(o, key);

	if (!memchr(field, '\0', size))
		abort();
	if (!v) {
		if (field[0])
			abort();
		return;
	}
	if (!json_is_string(v) || strlen(field) != json_string_length(v) ||
	    strcmp(field, json_string_value(v)))
		abort();
}

static void check(const json_t *body, const struct srv_report *r, size_t n)
{
	const json_t *arr = json_object_get(body, "reports");

	if (n > SRV_REPORTS_MAX || n != json_array_size(arr))
		abort();
	for (size_t i = 0; i < n; i++) {
		const json_t *o = json_array_get(arr, i);

		if (r[i].seq < 1 || (i && r[i].seq <= r[i - 1].seq) || r[i].time != 0)
			abort();
		if (r[i].seq != (int64_t)json_integer_value(json_object_get(o, "seq")))
			abort();
		check_field(o, "stage", r[i].stage, sizeof(r[i].stage));
		check_field(o, "target", r[i].target, sizeof(r[i].target));
		check_field(o, "version", r[i].version, sizeof(r[i].version));
		check_field(o, "reason", r[i].reason, sizeof(r[i].reason));
		if (!srv_stage_valid(r[i].stage) || !r[i].target[0] ||
		    strlen(r[i].reason) > SRV_REPORT_REASON_MAX)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_report *r = NULL;
	struct ward_msg m = {0};
	json_t *body = NULL;
	size_t n = 0;

	if (ward_json_parse(data, size, BODY_MAX, &body, &m) != WARD_OK)
		return 0;
	/* From the heap and exactly SRV_REPORTS_MAX long, so ASan sees a write past the last. */
	r = malloc(SRV_REPORTS_MAX * sizeof(*r));
	if (r == NULL)
		abort();
	memset(r, 0x5a, SRV_REPORTS_MAX * sizeof(*r)); /* no NUL: an unterminated field shows */
	if (srv_reports_parse(body, r, &n, &m) == WARD_OK)
		check(body, r, n);
	free(r);
	json_decref(body);
	return 0;
}
