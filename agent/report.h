/*
 * agent/report.h — stage reports: what the update path tells ward-server
 * (docs/api.md, "Stage reports (devices)"), kept in a durable outbox until
 * the server has them.
 *
 *	agent_report(cfg, AGENT_STAGE_INSTALLED, t->path, version, "", AGENT_REPORT_SEND);
 *
 * appends one report to STATE_DIR/reports.json (atomic replace, fsync) with
 * the device's next sequence number, then (AGENT_REPORT_SEND, and a [server]
 * configured) tries to send the outbox. Neither step can fail the caller's
 * work: a report that cannot be sent stays in the outbox for the next
 * check-in, one that cannot be recorded is said on stdout.
 */
#ifndef WARD_AGENT_REPORT_H
#define WARD_AGENT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ward/err.h"

#define AGENT_OUTBOX_MAX 64              /* reports kept; the oldest is dropped beyond */
#define AGENT_REPORT_REASON_MAX 200      /* bytes of a report's reason */
#define AGENT_REPORT_BATCH 32            /* reports per request (docs/api.md) */
#define AGENT_REPORT_BODY_MAX (16 * 1024) /* bytes per request body (docs/api.md) */

/* The stages, as docs/api.md spells them. */
#define AGENT_STAGE_DOWNLOADING "downloading"
#define AGENT_STAGE_INSTALLED "installed"
#define AGENT_STAGE_AWAITING "awaiting-local-approval"
#define AGENT_STAGE_BOOTED "booted"
#define AGENT_STAGE_HEALTHY "healthy"
#define AGENT_STAGE_ROLLED_BACK "rolled-back"
#define AGENT_STAGE_FAILED "failed"

/* flags of agent_report() */
#define AGENT_REPORT_SEND 1u   /* send the outbox now when a [server] is configured */
#define AGENT_REPORT_DEDUPE 2u /* skip it when it repeats the last report recorded (same stage,
				* target, version and reason): a refusal met at every update is
				* reported once */

/*
 * Append one report to the outbox (reason cut to AGENT_REPORT_REASON_MAX
 * bytes at a character boundary). *seq (optional) gets its number, 0 when
 * dedupe skipped it.
 */
ward_err agent_outbox_append(const struct agent_config *cfg, const char *stage, const char *target,
			     const char *version, const char *reason, bool dedupe, uint64_t *seq,
			     struct ward_msg *m) WARD_MUST_USE;

/* How many reports wait in the outbox. */
ward_err agent_outbox_count(const struct agent_config *cfg, size_t *n, struct ward_msg *m) WARD_MUST_USE;

/*
 * Send the outbox (POST /api/v1/device/report, mutual TLS), AGENT_REPORT_BATCH
 * reports and AGENT_REPORT_BODY_MAX bytes at most per request, and drop what
 * the server says it holds (seq <= its last_seq). *sent and *left (optional)
 * get the reports the server recorded now ("accepted": a replayed report it
 * held already does not count) and those still waiting. Needs [server].
 */
ward_err agent_outbox_flush(const struct agent_config *cfg, size_t *sent, size_t *left,
			    struct ward_msg *m) WARD_MUST_USE;

/*
 * What a reply's last_seq does to the outbox (called by agent_outbox_flush):
 * drop the reports the server holds (seq <= last) and keep the next seq above
 * it; *taken gets how many went. A last_seq this device cannot have sent (at
 * or past its next seq + 2^32, or 2^53) is a protocol error: WARD_E_PARSE,
 * and the outbox is left as it was.
 */
ward_err agent_outbox_ack(const struct agent_config *cfg, uint64_t last, size_t *taken,
			  struct ward_msg *m) WARD_MUST_USE;

/* Append (and with AGENT_REPORT_SEND, send): never fails, see above. A
 * report without a target (say, about the factory image) is not made. */
void agent_report(const struct agent_config *cfg, const char *stage, const char *target,
		  const char *version, const char *reason, unsigned flags);

#endif
