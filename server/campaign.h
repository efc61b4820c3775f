/*
 * server/campaign.h — device labels, stage reports, the fleet listing and
 * phased update campaigns (migration 4 of server/store.c).
 *
 * Storage lives in server/store_campaign.c (labels, reports, listings) and
 * server/campaign.c (campaigns and their engine). Everything a campaign
 * does is a database transaction, so any number of ward-server processes
 * sharing one database may step the same campaign: the engine is idempotent
 * and its state survives restarts. The rules (docs/campaigns.md):
 *
 * - A campaign names one image of the image repository (its signed entry is
 *   copied at creation, as `ward device assign` copies it) and a selector.
 *   When it starts, the active devices the selector matches are fixed and
 *   ranked by SHA-256(campaign id || serial); phase i holds the ranks below
 *   ceil(percent_i * N / 100).
 * - A running campaign offers the image (a director assignment) to every
 *   pending device of the phases up to the current one; critical devices
 *   wait for an operator's approval first ("awaiting-approval").
 * - Stage reports move each device's state; a failed or rolled-back device
 *   loses the offer (its assignment is withdrawn: the director names nothing).
 * - When a phase's failures (failed + rolled-back) exceed max_failure of its
 *   devices, the campaign pauses itself and withdraws the offers not yet
 *   taken (devices still "offered"). When every device of the phases so far
 *   is healthy, failed or rolled back (critical devices still waiting for
 *   approval aside), the next phase starts — with require_approval only
 *   after an operator approved it. After the last phase the campaign is
 *   finished once no device is still in flight.
 *
 * Every change is audited in the same transaction (campaign-create, -start,
 * -pause, -resume, -cancel, -approve, -phase, -finish, device-labels,
 * device-update-failed).
 */
#ifndef WARD_SRV_CAMPAIGN_H
#define WARD_SRV_CAMPAIGN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "store.h"
#include "ward/err.h"

/* ---- labels (server/store_campaign.c) ---- */
#define SRV_TAG_MAX 32  /* bytes of a tag: [a-z0-9._-] */
#define SRV_TAGS_MAX 16 /* tags on a device */

struct srv_labels {
	char tags[SRV_TAGS_MAX][SRV_TAG_MAX + 1]; /* sorted, unique */
	size_t ntags;                              /* how many */
	bool critical;                             /* updates wait for an operator's approval */
};

/* Is tag a valid tag ([a-z0-9._-], 1..SRV_TAG_MAX)? Says why not in m. */
ward_err srv_tag_check(const char *tag, struct ward_msg *m) WARD_MUST_USE;
/* Replace the tags (when set_tags) and/or the critical flag (when set_critical) of
 * serial, audited "device-labels" with actor, in one transaction. Tags are checked,
 * sorted and deduplicated here. WARD_E_NOTFOUND. */
ward_err srv_labels_set(struct srv_store *s, const char *serial, const struct srv_labels *l, bool set_tags,
			bool set_critical, const char *actor, time_t now, struct ward_msg *m) WARD_MUST_USE;

/* ---- stage reports (server/store_campaign.c) ---- */
#define SRV_REPORT_REASON_MAX 200 /* bytes of a report's reason */
#define SRV_REPORTS_MAX 32        /* reports in one request */
#define SRV_REPORTS_KEPT 500      /* reports kept per device: those of its last 500 seq */

struct srv_report {
	int64_t seq;                            /* the device's counter, >= 1 */
	time_t time;                            /* when received (stored); the device's own is not trusted */
	char stage[32];                         /* downloading, installed, ... (srv_stage_check) */
	char target[256];                       /* image repository target path */
	char version[65];                       /* its version (wardd allows 64 bytes) */
	char reason[SRV_REPORT_REASON_MAX + 1]; /* why (failed, rolled-back), or "" */
};

/* Is stage one a device may report? */
bool srv_stage_valid(const char *stage);
/*
 * Record a device's reports (in seq order; at most SRV_REPORTS_MAX), in one
 * transaction: each with seq above the device's last is stored and moves the
 * device's state in every running or paused campaign whose image is the
 * report's target; failed and rolled-back withdraw the device's assignment
 * of that target and are audited. Reports at or below the last seq are
 * replays: ignored. *accepted counts the stored ones, *last_seq is the
 * device's last seq afterwards. WARD_E_NOTFOUND, WARD_E_DENIED (not active).
 */
ward_err srv_reports_add(struct srv_store *s, const char *serial, const struct srv_report *r, size_t n,
			 time_t now, size_t *accepted, int64_t *last_seq, struct ward_msg *m) WARD_MUST_USE;
/* One device's reports in a batch (srv_reports_add_many). */
struct srv_report_batch {
	const char *serial;         /* the device */
	const struct srv_report *r; /* its reports, in seq order */
	size_t n;                   /* how many (<= SRV_REPORTS_MAX) */
	time_t now;                 /* when they arrived */
	ward_err result;            /* out: what srv_reports_add would return for this device */
	size_t accepted;            /* out: reports stored */
	int64_t last_seq;           /* out: the device's last seq afterwards */
};
/* Several devices' reports in ONE write transaction (a worker's write-behind batch: one
 * commit, one fsync, instead of n). Each gets its own result; the call fails as a whole
 * (every result set to that error) only when the database does. */
ward_err srv_reports_add_many(struct srv_store *s, struct srv_report_batch *b, size_t n,
			      struct ward_msg *m) WARD_MUST_USE;
/* A report request's body ({"reports": [...]}, docs/api.md) into r[SRV_REPORTS_MAX]: every
 * field checked (types, sizes, stage, seq >= 1 and increasing; unknown fields refused);
 * time is left 0 (the server stamps it). WARD_E_INVAL with the reason. */
ward_err srv_reports_parse(const json_t *body, struct srv_report *r, size_t *n, struct ward_msg *m) WARD_MUST_USE;
/* The last `limit` reports of serial, newest first. Caller frees *out (NULL when *n is 0). */
ward_err srv_reports_history(struct srv_store *s, const char *serial, size_t limit, struct srv_report **out,
			     size_t *n, struct ward_msg *m) WARD_MUST_USE;

/* ---- the fleet listing (server/store_campaign.c) ---- */
struct srv_fleet_filter {
	const char *model;  /* exact model, or NULL */
	const char *tag;    /* a tag the device has, or NULL */
	const char *status; /* "active", "revoked", "decommissioned", or NULL */
	const char *q;      /* substring of the serial, or NULL */
	const char *after;  /* only serials after this one (paging), or NULL */
	size_t limit;       /* at most this many rows (1..10000) */
};

struct srv_fleet_row {
	struct srv_device d;      /* the registry's record */
	struct srv_labels labels; /* tags and critical */
	bool has_report;          /* last is set */
	struct srv_report last;   /* the last stage report */
};

/* Devices matching f, ordered by serial. Caller frees *out (NULL when *n is 0). */
ward_err srv_fleet_list(struct srv_store *s, const struct srv_fleet_filter *f, struct srv_fleet_row **out,
			size_t *n, struct ward_msg *m) WARD_MUST_USE;
/* One device's row. WARD_E_NOTFOUND. */
ward_err srv_fleet_get(struct srv_store *s, const char *serial, struct srv_fleet_row *out,
		       struct ward_msg *m) WARD_MUST_USE;

/* ---- campaigns (server/campaign.c) ---- */
#define SRV_PHASES_MAX 10   /* phases of a campaign */
#define SRV_CAMPAIGN_ID 16  /* hex characters of an id */
#define SRV_SELECT_MAX 512  /* bytes of a selector */
#define SRV_REPORT_TIMEOUT_MAX (30u * 24 * 3600) /* the longest report_timeout: 30 days */

struct srv_campaign_spec {
	char name[128];                    /* free text ("" = the image's name) */
	char image[256];                   /* image repository target path */
	char select[SRV_SELECT_MAX + 1];   /* "model=M tag=T ..." */
	unsigned phases[SRV_PHASES_MAX];   /* cumulative percentages, increasing, last 100 */
	size_t nphases;
	unsigned max_failure;              /* hundredths of a percent (5% = 500) */
	bool require_approval;             /* each phase after the first waits for an operator */
	unsigned report_timeout;           /* seconds an offered device may stay silent (0: no limit) */
};

/*
 * The API's request body (docs/api.md, POST /api/v1/campaigns) into a spec,
 * every field checked; the `ward campaign create` command builds the same
 * body. WARD_E_INVAL with the reason.
 */
ward_err srv_campaign_spec_parse(const json_t *body, struct srv_campaign_spec *out,
				 struct ward_msg *m) WARD_MUST_USE;
/* A selector: "model=M tag=T ..." (docs/campaigns.md). Terms with the same key are
 * alternatives, different keys must all hold; serial=PREFIX* matches a prefix. */
#define SRV_SELECT_TERMS 16 /* terms of a selector */
enum srv_sel_key { SRV_SEL_MODEL, SRV_SEL_TAG, SRV_SEL_BATCH, SRV_SEL_SERIAL };
struct srv_selector {
	bool all;                      /* "all" */
	size_t n;                      /* terms */
	struct {
		enum srv_sel_key key;
		char value[129];       /* SRV_SEL_SERIAL may end with '*': a prefix */
	} t[SRV_SELECT_TERMS];
};
ward_err srv_selector_parse(const char *text, struct srv_selector *out, struct ward_msg *m) WARD_MUST_USE;
/* Does a device (tags as stored: " t1 t2 ") match? */
bool srv_selector_match(const struct srv_selector *s, const char *serial, const char *model, const char *batch,
			const char *tags);
/* Parse "1,10,50,100" or "1%,10%,50%,100%" into a JSON array of integers (NULL + m on error). */
json_t *srv_campaign_phases_parse(const char *text, struct ward_msg *m);
/* Parse "5", "5%" or "0.5%" into hundredths of a percent. */
ward_err srv_campaign_percent_parse(const char *text, unsigned *out, struct ward_msg *m) WARD_MUST_USE;

/* Create (state "created"): the image must be listed by the verified image repository
 * (c->dir). id gets SRV_CAMPAIGN_ID + 1 bytes. Audited "campaign-create". */
ward_err srv_campaign_create(struct srv_store *s, const struct srv_conf *c, const struct srv_campaign_spec *spec,
			     const char *actor, time_t now, char *id, struct ward_msg *m) WARD_MUST_USE;

enum srv_campaign_action {
	SRV_CAMPAIGN_START,  /* created -> running (fixes the devices) */
	SRV_CAMPAIGN_PAUSE,  /* running -> paused (offers not yet taken are withdrawn) */
	SRV_CAMPAIGN_RESUME, /* paused -> running */
	SRV_CAMPAIGN_CANCEL, /* created, running, paused -> cancelled (offers not yet taken withdrawn) */
};
/* Apply an action (audited with actor and reason, which may be NULL). WARD_E_NOTFOUND;
 * WARD_E_DENIED when the state does not allow it (the message says why). */
ward_err srv_campaign_act(struct srv_store *s, const char *id, enum srv_campaign_action a, const char *actor,
			  const char *reason, time_t now, struct ward_msg *m) WARD_MUST_USE;
/* Approve critical devices (serials) waiting in the campaign, and/or (phase) the next
 * phase of a require_approval campaign. Audited "campaign-approve". WARD_E_NOTFOUND
 * (campaign, or a serial that is not waiting), WARD_E_DENIED (state). */
ward_err srv_campaign_approve(struct srv_store *s, const char *id, const char *const *serials, size_t n,
			      bool phase, const char *actor, time_t now, struct ward_msg *m) WARD_MUST_USE;
/* Run the engine once for every running campaign (see the rules above). */
ward_err srv_campaign_step_all(struct srv_store *s, time_t now, struct ward_msg *m) WARD_MUST_USE;
/* Run the engine once for one campaign. */
ward_err srv_campaign_step(struct srv_store *s, const char *id, time_t now, struct ward_msg *m) WARD_MUST_USE;

/* The campaign as the API shows it (docs/api.md); devices: list them (at most 1000).
 * Caller decrefs *out. WARD_E_NOTFOUND. */
ward_err srv_campaign_json(struct srv_store *s, const char *id, bool devices, json_t **out,
			   struct ward_msg *m) WARD_MUST_USE;
/* {"campaigns": [summary...]}, newest first. */
ward_err srv_campaign_list_json(struct srv_store *s, json_t **out, struct ward_msg *m) WARD_MUST_USE;
/* The campaigns serial is part of: [{"id","name","state","phase","device_state"}]. */
ward_err srv_campaign_device_json(struct srv_store *s, const char *serial, json_t **out,
				  struct ward_msg *m) WARD_MUST_USE;

#endif
