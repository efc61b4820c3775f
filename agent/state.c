/*
 * agent/state.c — load and save STATE_DIR/state.json (see agent/state.h).
 *
 * Format: {"format": 1, "floor": "1.2.0",
 *          "slots": {"A": {"state", "version", "target", "sha256", "length", "reason",
 *                          "written"}, "B": {...}},
 *          "refused": [{"sha256", "target", "kind": "rolled-back" | "failed", "reason",
 *                       "reported", "readback": true}]}
 * ("written" and "refused" are optional: files of earlier versions lack them.)
 * A "failed" entry is an image that did not read back from the slot after a
 * download verified from byte 0 and carries "readback": true. Earlier versions
 * also refused images whose download merely failed (a 404, no room, a stale
 * prefix): a "failed" entry without "readback" is one of those, and is
 * forgotten at load, so that the image is tried again.
 * Loading is strict (unknown state names, oversized strings and a file over
 * 64 KiB are refused): a corrupt state file is reported, never guessed at.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "state.h"
#include "ward/buf.h"
#include "ward/json.h"

static const char *const names[] = {"unknown", "writing", "installed", "awaiting-approval",
				    "trial", "good", "bad"};

const char *agent_slot_state_name(enum agent_slot_state s)
{
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "invalid";
}

static ward_err state_path(const struct agent_config *cfg, char *out, size_t n, struct ward_msg *m)
{
	if (ward_snprintf(out, n, "%s/state.json", cfg->state_dir))
		return ward_msg_set(m, WARD_E_TOOBIG, "state directory path too long");
	return WARD_OK;
}

static ward_err get_str(const json_t *o, const char *k, char *dst, size_t n, struct ward_msg *m)
{
	const char *v;
	ward_err e = ward_json_get_string(o, k, "state.json slot", &v, m);

	if (e)
		return e;
	if (ward_snprintf(dst, n, "%s", v))
		return ward_msg_set(m, WARD_E_PARSE, "state.json: \"%s\" too long", k);
	return WARD_OK;
}

ward_err agent_state_load(const struct agent_config *cfg, struct agent_state *st, struct ward_msg *m)
{
	char path[PATH_MAX];
	struct ward_buf b;
	json_t *doc = NULL, *slots, *s;
	const char *floor;
	ward_err e;

	memset(st, 0, sizeof(*st));
	e = state_path(cfg, path, sizeof(path), m);
	if (e)
		return e;
	e = ward_file_read(path, 64 * 1024, &b, m);
	if (e == WARD_E_NOTFOUND)
		return WARD_OK;
	if (e)
		return e;
	e = ward_json_parse(b.p, b.len, 64 * 1024, &doc, m);
	ward_buf_free(&b);
	if (e)
		return ward_msg_prefix(m, e, "%s: ", path);
	e = ward_json_get_string(doc, "floor", "state.json", &floor, m);
	if (!e)
		e = ward_json_get_object(doc, "slots", "state.json", &slots, m);
	if (e)
		goto out;
	if (floor[0] && !ward_version_valid(floor)) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: invalid floor", path);
		goto out;
	}
	snprintf(st->floor, sizeof(st->floor), "%s", floor);
	for (int i = 0; i < 2; i++) {
		struct agent_slot_info *si = &st->slot[i];
		char sname[32];
		size_t k;

		e = ward_json_get_object(slots, i ? "B" : "A", "state.json slots", &s, m);
		if (!e)
			e = get_str(s, "state", sname, sizeof(sname), m);
		if (!e)
			e = get_str(s, "version", si->version, sizeof(si->version), m);
		if (!e)
			e = get_str(s, "target", si->target, sizeof(si->target), m);
		if (!e)
			e = get_str(s, "sha256", si->sha256, sizeof(si->sha256), m);
		if (!e)
			e = get_str(s, "reason", si->reason, sizeof(si->reason), m);
		if (!e)
			e = ward_json_get_u64(s, "length", "state.json slot", &si->length, m);
		if (!e && json_object_get(s, "written"))
			e = ward_json_get_u64(s, "written", "state.json slot", &si->written, m);
		if (e)
			goto out;
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (!strcmp(sname, names[k]))
				break;
		if (k == sizeof(names) / sizeof(names[0])) {
			e = ward_msg_set(m, WARD_E_PARSE, "%s: unknown slot state \"%s\"", path, sname);
			goto out;
		}
		si->state = (enum agent_slot_state)k;
	}
	{
		json_t *list = json_object_get(doc, "refused"), *v;
		size_t i;

		if (list && (!json_is_array(list) || json_array_size(list) > AGENT_REFUSED_MAX)) {
			e = ward_msg_set(m, WARD_E_PARSE, "%s: \"refused\" must be a list of at most %d images",
					 path, AGENT_REFUSED_MAX);
			goto out;
		}
		json_array_foreach(list, i, v) {
			struct agent_refused *r = &st->refused[st->nrefused++];
			json_t *rb = json_object_get(v, "readback");
			char kind[16];
			int reported = 0;

			e = get_str(v, "sha256", r->sha256, sizeof(r->sha256), m);
			if (!e)
				e = get_str(v, "target", r->target, sizeof(r->target), m);
			if (!e)
				e = get_str(v, "reason", r->reason, sizeof(r->reason), m);
			if (!e)
				e = get_str(v, "kind", kind, sizeof(kind), m);
			if (!e)
				e = ward_json_get_bool(v, "reported", "state.json refused", &reported, m);
			if (!e && strcmp(kind, "rolled-back") && strcmp(kind, "failed"))
				e = ward_msg_set(m, WARD_E_PARSE, "%s: unknown kind of refused image \"%s\"", path, kind);
			if (!e && rb && !json_is_boolean(rb))
				e = ward_msg_set(m, WARD_E_PARSE,
						 "%s: \"readback\" of a refused image must be true or false", path);
			if (e)
				goto out;
			r->reported = reported;
			r->rolled_back = !strcmp(kind, "rolled-back");
			if (!r->rolled_back && !json_is_true(rb)) {
				/* an earlier version's refusal of a failed download: forgotten (see above) */
				memset(r, 0, sizeof(*r));
				st->nrefused--;
			}
		}
	}
out:
	json_decref(doc);
	if (e)
		memset(st, 0, sizeof(*st));
	return e;
}

ward_err agent_state_save(const struct agent_config *cfg, const struct agent_state *st,
			  struct ward_msg *m)
{
	char path[PATH_MAX];
	json_t *doc, *slots, *refused;
	struct ward_buf b;
	ward_err e;

	e = state_path(cfg, path, sizeof(path), m);
	if (e)
		return e;
	slots = json_object();
	for (int i = 0; i < 2; i++) {
		const struct agent_slot_info *si = &st->slot[i];

		json_object_set_new(slots, i ? "B" : "A",
				    json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:I}", "state",
					      agent_slot_state_name(si->state), "version", si->version,
					      "target", si->target, "sha256", si->sha256, "length",
					      (json_int_t)si->length, "reason", si->reason, "written",
					      (json_int_t)si->written));
	}
	refused = json_array();
	for (size_t i = 0; i < st->nrefused && i < AGENT_REFUSED_MAX; i++)
		json_array_append_new(refused, json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "sha256", st->refused[i].sha256,
							 "target", st->refused[i].target, "kind",
							 st->refused[i].rolled_back ? "rolled-back" : "failed",
							 "reason", st->refused[i].reason, "reported",
							 st->refused[i].reported, "readback",
							 !st->refused[i].rolled_back));
	doc = json_pack("{s:i,s:s,s:o,s:o}", "format", 1, "floor", st->floor, "slots", slots, "refused",
			refused);
	if (!doc)
		return ward_msg_set(m, WARD_E_NOMEM, "cannot encode state");
	ward_buf_init(&b, 64 * 1024);
	e = ward_json_pretty(doc, &b, m);
	json_decref(doc);
	if (!e)
		e = ward_mkdir_p(cfg->state_dir, 0700, m);
	if (!e)
		e = ward_file_write_atomic(path, b.p, b.len, 0600, m);
	ward_buf_free(&b);
	return e;
}

void agent_state_refuse(struct agent_state *st, int slot, bool rolled_back, const char *why)
{
	const struct agent_slot_info *si = &st->slot[slot];
	struct agent_refused *r = agent_state_refused(st, si->sha256);

	if (!si->sha256[0])
		return;
	if (!r) {
		if (st->nrefused == AGENT_REFUSED_MAX) {
			memmove(&st->refused[0], &st->refused[1], sizeof(st->refused[0]) * (AGENT_REFUSED_MAX - 1));
			st->nrefused--;
		}
		r = &st->refused[st->nrefused++];
	}
	memset(r, 0, sizeof(*r));
	snprintf(r->sha256, sizeof(r->sha256), "%s", si->sha256);
	snprintf(r->target, sizeof(r->target), "%s", si->target);
	snprintf(r->reason, sizeof(r->reason), "%s", why);
	r->rolled_back = rolled_back;
}

struct agent_refused *agent_state_refused(struct agent_state *st, const char *hex)
{
	for (size_t i = 0; i < st->nrefused; i++)
		if (hex[0] && !strcmp(st->refused[i].sha256, hex))
			return &st->refused[i];
	return NULL;
}
