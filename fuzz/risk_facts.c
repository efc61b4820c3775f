/*
 * fuzz/risk_facts.c — the risk score on device-supplied check-in facts.
 *
 * Input: one selector byte, then the facts JSON of a device record (cut to
 * the record's size). The selector picks the device's times and the model's
 * settings, so the expired, missed, never-seen and port-judging paths are
 * reached. server/risk.c is compiled into
 * this target (it lives outside libward).
 * Properties checked (abort() when one fails):
 *  1. srv_risk_score never fails on an active device, whatever the facts;
 *  2. the reasons sum to the raw score, the score is raw clamped to 0..100,
 *     reasons are ordered largest first, each a non-empty line without
 *     control characters;
 *  3. srv_risk_firmware returns only valid versions.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "risk.h"

#define NOW ((time_t)1800000000)

static void check(const struct srv_risk *r)
{
	int sum = 0;

	if (r->n > SRV_RISK_REASONS_MAX)
		abort();
	for (size_t i = 0; i < r->n; i++) {
		const char *t = r->reasons[i].text;

		if (!memchr(t, '\0', sizeof(r->reasons[i].text)) || !t[0])
			abort();
		for (; *t; t++)
			if ((unsigned char)*t < 0x20 || *t == 0x7f)
				abort();
		if (i && r->reasons[i - 1].points < r->reasons[i].points)
			abort();
		sum += r->reasons[i].points;
	}
	if (sum != r->raw || r->score != (r->raw < 0 ? 0 : r->raw > 100 ? 100 : r->raw))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct srv_device d;
	struct srv_risk_fleet fleet = {"1.4.0", 300, 10 * 86400};
	struct srv_risk_model model;
	struct srv_risk r;
	char v[WARD_VERSION_MAX + 1];
	uint8_t sel = size ? data[0] : 0;

	memset(&d, 0, sizeof(d));
	memcpy(d.serial, "FUZZ-1", 7);
	memcpy(d.model, "thermo-2", 9);
	d.status = SRV_DEVICE_ACTIVE;
	d.last_seen = (sel & 1) ? 0 : (sel & 2) ? NOW - 100000 : NOW - 10;
	d.cert_not_after = (sel & 4) ? NOW - 1 : (sel & 8) ? NOW + 86400 : NOW + 30 * 86400;
	if (size) {
		data++;
		size--;
	}
	if (size > sizeof(d.facts) - 1)
		size = sizeof(d.facts) - 1;
	if (size)
		memcpy(d.facts, data, size); /* may hold NULs: the record ends at the first */

	srv_risk_model_default(&model, "thermo-2");
	model.ports_judged = (sel & 16) != 0;
	model.n_ports = 2;
	model.allowed_ports[0] = 22;
	model.allowed_ports[1] = 443;
	model.safety = sel >> 6;
	if (srv_risk_score(&d, &model, &fleet, NOW, &r) != WARD_OK)
		abort();
	check(&r);
	if (srv_risk_score(&d, NULL, &fleet, NOW, &r) != WARD_OK)
		abort();
	check(&r);
	if (srv_risk_firmware(&d, v) && !ward_version_valid(v))
		abort();
	return 0;
}
