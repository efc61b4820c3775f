/*
 * server/risk.h — a device's risk score: the number behind the fleet's heat
 * map (`ward fleet risk`), with the reasons that make it up.
 *
 * The score answers the questions a security team asks of a connected
 * device, from what the model's owner declared (risk.ini) and what ward
 * observed at the device's last check-in (struct srv_device: facts, times,
 * status). It is additive on purpose: every reason carries its points and
 * the reasons sum to the raw score; the score shown is the raw score clamped
 * to 0..100. Nothing is hidden in a multiplier, so an operator can check a
 * score by hand and knows what to fix first.
 *
 * The questions, and the points each answer adds (SRV_RISK_W_* below):
 *
 *   connected / calls home   never checked in (no last_seen, or
 *                            no facts and last_seen = enrolment)   +15
 *                            missed check-ins: now - last_seen >
 *                            3 x the model's check-in interval     +15
 *   can be updated           yes for every ward device (A/B, signed
 *                            director + image metadata)              0
 *                            a slot whose install failed ("bad" in
 *                            facts.slots), per slot, at most 2     +15
 *   secure stack             signed updates, TLS, unique device
 *                            credentials: yes for ward devices       0
 *                            secure boot reported off
 *                            (facts "secure_boot": false)          +15
 *                            secure boot not reported (absent, or
 *                            not a boolean)                         +5
 *   harm if compromised      safety x 4 + revenue x 3 + brand x 2
 *                            (each 0..3 per model, default 1)    0..27
 *   firmware                 behind the newest version any active
 *                            device of the model reports           +20
 *                            version not reported / not a version   +5
 *   listening ports          per port not in the model's
 *                            allowed_ports, at most 3 counted      +10
 *                            list absent/malformed/too long while
 *                            the model judges ports                 +5
 *                            (a model without allowed_ports does
 *                            not judge ports at all: 0)
 *   certificate              expired                               +25
 *                            less than renew_before left           +10
 *                            expiry unknown (0)                     +5
 *
 * Revoked and decommissioned devices are not scored: their certificates are
 * on the CRL and ward-server refuses them. They come back with score 0,
 * excluded = true and one 0-point reason saying why.
 *
 * Facts are untrusted device input. Anything malformed (not JSON, not an
 * object, a field of the wrong type, a port list longer than
 * SRV_RISK_FACT_PORTS_MAX) is "unknown", scored as above, never an error.
 *
 * Everything here is pure: no I/O, no global state, no allocation that
 * outlives a call. Model settings are read by server/risk_conf.c.
 */
#ifndef WARD_SRV_RISK_H
#define WARD_SRV_RISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"
#include "ward/err.h"
#include "ward/version.h"

/* The weights documented above (points). */
#define SRV_RISK_W_NEVER_SEEN 15
#define SRV_RISK_W_MISSED_CHECKIN 15
#define SRV_RISK_W_FAILED_INSTALL 15   /* per bad slot */
#define SRV_RISK_FAILED_SLOTS_MAX 2    /* bad slots counted */
#define SRV_RISK_W_SECURE_BOOT_OFF 15
#define SRV_RISK_W_SECURE_BOOT_UNKNOWN 5
#define SRV_RISK_W_SAFETY 4            /* per harm level */
#define SRV_RISK_W_REVENUE 3
#define SRV_RISK_W_BRAND 2
#define SRV_RISK_W_FIRMWARE_BEHIND 20
#define SRV_RISK_W_FIRMWARE_UNKNOWN 5
#define SRV_RISK_W_PORT 10             /* per unexpected port */
#define SRV_RISK_PORTS_COUNTED 3       /* unexpected ports counted */
#define SRV_RISK_W_PORTS_UNKNOWN 5
#define SRV_RISK_W_CERT_EXPIRED 25
#define SRV_RISK_W_CERT_RENEW 10
#define SRV_RISK_W_CERT_UNKNOWN 5
#define SRV_RISK_MISSED_FACTOR 3       /* check-ins missed = this many intervals */

#define SRV_RISK_HARM_MAX 3            /* safety, revenue, brand: 0..3 */
#define SRV_RISK_ALLOWED_PORTS_MAX 32  /* allowed_ports entries per model */
#define SRV_RISK_FACT_PORTS_MAX 1024   /* listening_ports entries judged; more is "unknown" */
#define SRV_RISK_REASONS_MAX 16        /* more than the questions above can produce */
#define SRV_RISK_TEXT_MAX 160          /* one reason's text, with its NUL */

/* What a model's owner declared (one [section] of risk.ini). */
struct srv_risk_model {
	char model[64];                                 /* model name, "*" for the defaults */
	unsigned safety, revenue, brand;                /* harm if compromised, 0..3 each */
	bool ports_judged;                              /* allowed_ports was given */
	size_t n_ports;                                 /* entries in allowed_ports */
	uint16_t allowed_ports[SRV_RISK_ALLOWED_PORTS_MAX]; /* listening ports that are expected */
	unsigned checkin_interval;                      /* seconds; 0 = the fleet's */
};

/* What the score compares a device with: the deployment and its fleet. */
struct srv_risk_fleet {
	const char *newest;          /* newest firmware version among the model's active devices
	                                (borrowed; NULL or "" when none reported one) */
	unsigned checkin_interval;   /* ward.conf [devices] checkin_interval, seconds */
	uint64_t renew_before;       /* ward.conf [devices] renew_before, seconds */
};

struct srv_risk_reason {
	int points;                   /* what this reason adds (0 only for "not scored") */
	char text[SRV_RISK_TEXT_MAX]; /* one line, no control characters */
};

struct srv_risk {
	int score;                    /* raw clamped to 0..100 */
	int raw;                      /* sum of reasons[i].points */
	bool excluded;                /* revoked/decommissioned: not scored */
	size_t n;                     /* reasons used */
	struct srv_risk_reason reasons[SRV_RISK_REASONS_MAX]; /* largest points first */
};

/* A model's settings before risk.ini says anything: harm 1/1/1, ports not judged. */
void srv_risk_model_default(struct srv_risk_model *model, const char *name);

/*
 * Score device d. model and fleet are borrowed for the call; model NULL means
 * the defaults. *out is overwritten entirely. Never fails on device input;
 * WARD_E_INVAL only for NULL d, fleet or out.
 *
 *	struct srv_risk r;
 *	struct srv_risk_fleet f = {newest, conf.checkin_interval, conf.renew_before};
 *	if (srv_risk_score(&dev, &model, &f, time(NULL), &r) == WARD_OK)
 *		printf("%s %d\n", dev.serial, r.score);
 */
ward_err srv_risk_score(const struct srv_device *d, const struct srv_risk_model *model,
			const struct srv_risk_fleet *fleet, time_t now, struct srv_risk *out) WARD_MUST_USE;

/*
 * The firmware version d's facts report, if it is a valid version
 * (ward/version.h): copied to out (WARD_VERSION_MAX + 1 bytes), true.
 * Otherwise out is "" and false.
 */
bool srv_risk_firmware(const struct srv_device *d, char out[WARD_VERSION_MAX + 1]);

/*
 * The newest firmware version reported by the active devices of `model`
 * among devs[0..n): into out (WARD_VERSION_MAX + 1 bytes), "" when none.
 */
void srv_risk_newest(const struct srv_device *devs, size_t n, const char *model,
		     char out[WARD_VERSION_MAX + 1]);

/* ---- model settings: DIR/risk.ini (server/risk_conf.c) ---- */
#define SRV_RISK_MODELS_MAX 256   /* sections in risk.ini */
#define SRV_RISK_INI_MAX 65536    /* bytes of risk.ini */

struct srv_risk_models {
	struct srv_risk_model deflt;                      /* [*], or the built-in defaults */
	size_t n;                                         /* model sections */
	struct srv_risk_model model[SRV_RISK_MODELS_MAX]; /* one per [model] section */
};

/*
 * Parse risk.ini text (NUL-terminated, at most SRV_RISK_INI_MAX bytes):
 *
 *   [*]                        ; optional: defaults for models without a section
 *   safety = 1                 ; harm if compromised, 0..3 (default 1)
 *   [thermo-2]                 ; a model name, as enrolled
 *   safety = 3
 *   revenue = 1
 *   brand = 2
 *   allowed_ports = 22,443     ; expected listening ports; absent = ports not judged,
 *                              ; empty = every listening port is unexpected
 *   checkin_interval = 300     ; seconds (5..86400); absent = ward.conf's
 *
 * Keys outside a section, unknown keys, a key given twice in one section and
 * values out of range are WARD_E_PARSE with the line. A section's keys apply
 * on top of [*] as it stands when the section is first seen, so put [*]
 * first. *out is written only on success.
 */
ward_err srv_risk_models_parse(const char *text, struct srv_risk_models *out,
			       struct ward_msg *m) WARD_MUST_USE;
/*
 * Read path (at most SRV_RISK_INI_MAX bytes) into *out; a missing file
 * gives the built-in defaults for every model (WARD_OK).
 */
ward_err srv_risk_models_load(const char *path, struct srv_risk_models *out,
			      struct ward_msg *m) WARD_MUST_USE;
/* The settings for model name: its section, else [*] (borrowed from models). */
const struct srv_risk_model *srv_risk_model_for(const struct srv_risk_models *models,
						const char *name);

#endif
