/*
 * agent/state.c — load and save STATE_DIR/state.json (see agent/state.h).
 *
 * Format: {"format": 1, "floor": "1.2.0",
 *          "slots": {"A": {"state", "version", "target", "sha256", "length", "reason"}, "B": {...}}}
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
	json_t *doc, *slots;
	struct ward_buf b;
	ward_err e;

	e = state_path(cfg, path, sizeof(path), m);
	if (e)
		return e;
	slots = json_object();
	for (int i = 0; i < 2; i++) {
		const struct agent_slot_info *si = &st->slot[i];

		json_object_set_new(slots, i ? "B" : "A",
				    json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "state",
					      agent_slot_state_name(si->state), "version", si->version,
					      "target", si->target, "sha256", si->sha256, "length",
					      (json_int_t)si->length, "reason", si->reason));
	}
	doc = json_pack("{s:i,s:s,s:o}", "format", 1, "floor", st->floor, "slots", slots);
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
