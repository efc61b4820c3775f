/*
 * fuzz/campaign_spec.c — an operator's campaign request and its pieces.
 *
 * Input: any bytes. They are taken twice: as the JSON body of
 * POST /api/v1/campaigns (at most SRV_OPS_BODY_MAX bytes, as the API reads it)
 * for srv_campaign_spec_parse, and as text (the first TEXT_MAX bytes, up
 * to the first NUL) for the selector, phases and percentage parsers that
 * `ward campaign create` runs on its arguments. server/campaign_parse.c is
 * compiled into this target (it lives outside libward).
 * Properties checked (abort() when one fails):
 *  1. an accepted spec has 1..SRV_PHASES_MAX phases, strictly increasing in
 *     1..100 and ending at 100; max_failure at most 10000 (and 100 times an
 *     integer one); image non-empty, name, image and select NUL-terminated
 *     within their fields and equal to the request's strings (name, when
 *     absent, the image's path cut to its field at a UTF-8 boundary); select
 *     without control characters and accepted again by srv_selector_parse;
 *     require_approval as sent;
 *  2. an accepted selector has 1..SRV_SELECT_TERMS terms (or is "all" alone),
 *     each value 1..128 bytes without spaces or control characters; a device
 *     built from its terms matches it, "all" matches any device, and matching
 *     never crashes on a few fixed devices (empty tags " " and "" included);
 *  3. accepted phases are a JSON array of increasing integers in 1..100;
 *  4. an accepted percentage is at most 10000 hundredths and the text holds a digit.
 * Everything allocated is freed, so LeakSanitizer checks the error paths too.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "fuzz.h"
#include "ward/json.h"

#define BODY_MAX 4096 /* SRV_OPS_BODY_MAX (server/srv.h): the API reads no larger body */
#define TEXT_MAX 1024 /* longer than any selector (SRV_SELECT_MAX) or phases argument */

static const struct {
	const char *serial, *model, *batch, *tags;
} devices[] = {
    {"dev-0001", "thermo-1", "b1", " lab eu "},
    {"dev-0002", "thermo-2", "", " "},
    {"", "", "", ""},
    {"*", "model=thermo-1", "all", " tag=lab  a "},
};

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* s is a NUL-terminated string within size bytes. */
static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* Property 2 on an accepted selector. */
static void check_selector(const struct srv_selector *s)
{
	char model[129] = "", batch[129] = "", serial[129] = "",
	     tags[2 + SRV_SELECT_TERMS * 130] = " ";
	bool have[SRV_SEL_SERIAL + 1] = {false};
	size_t tlen = 1; /* " t1 t2 ... ", as tags are stored */

	if (s->n > SRV_SELECT_TERMS || (s->all && s->n) || (!s->all && !s->n))
		abort();
	for (size_t i = 0; i < s->n; i++) {
		const char *v = s->t[i].value;
		size_t len;

		if (!terminated(v, sizeof(s->t[i].value)) || !v[0] || has_control(v) ||
		    strchr(v, ' '))
			abort();
		if ((int)s->t[i].key < SRV_SEL_MODEL || s->t[i].key > SRV_SEL_SERIAL)
			abort();
		len = strlen(v);
		/* A device that satisfies one term of each key: the first of each, every tag. */
		switch (s->t[i].key) {
		case SRV_SEL_MODEL:
			if (!have[SRV_SEL_MODEL])
				memcpy(model, v, len + 1);
			break;
		case SRV_SEL_BATCH:
			if (!have[SRV_SEL_BATCH])
				memcpy(batch, v, len + 1);
			break;
		case SRV_SEL_SERIAL:
			if (!have[SRV_SEL_SERIAL]) {
				memcpy(serial, v, len + 1);
				if (serial[len - 1] == '*')
					serial[len - 1] = '\0'; /* the prefix itself */
			}
			break;
		case SRV_SEL_TAG:
			/* fits: at most SRV_SELECT_TERMS values of at most 128 bytes, each + ' ' */
			memcpy(tags + tlen, v, len);
			tlen += len;
			tags[tlen++] = ' ';
			tags[tlen] = '\0';
			break;
		}
		have[s->t[i].key] = true;
	}
	if (!srv_selector_match(s, serial, model, batch, tags))
		abort();
	for (size_t d = 0; d < sizeof(devices) / sizeof(devices[0]); d++) {
		bool hit = srv_selector_match(s, devices[d].serial, devices[d].model,
		                              devices[d].batch, devices[d].tags);

		if (s->all && !hit)
			abort();
	}
}

/* Property 1 on an accepted spec, against the request it came from. */
static void check_spec(const json_t *body, const struct srv_campaign_spec *sp)
{
	const json_t *name = json_object_get(body, "name"),
	             *mf = json_object_get(body, "max_failure");
	struct srv_selector sel;
	struct ward_msg m = {0};

	if (sp->nphases < 1 || sp->nphases > SRV_PHASES_MAX || sp->phases[sp->nphases - 1] != 100)
		abort();
	for (size_t i = 0; i < sp->nphases; i++)
		if (sp->phases[i] < 1 || sp->phases[i] > 100 ||
		    (i && sp->phases[i] <= sp->phases[i - 1]))
			abort();
	if (sp->max_failure > 10000)
		abort();
	if (json_is_integer(mf) && (json_int_t)sp->max_failure != json_integer_value(mf) * 100)
		abort();
	if (!terminated(sp->name, sizeof(sp->name)) || !terminated(sp->image, sizeof(sp->image)) ||
	    !terminated(sp->select, sizeof(sp->select)))
		abort();
	if (!sp->image[0] || strcmp(sp->image, json_string_value(json_object_get(body, "image"))) ||
	    strcmp(sp->select, json_string_value(json_object_get(body, "select"))))
		abort();
	if (name && strcmp(sp->name, json_string_value(name)))
		abort();
	if (!name) {
		/* the image's path, or its longest prefix that fits and ends on a UTF-8 boundary */
		size_t n = strlen(sp->name);

		if (strncmp(sp->name, sp->image, n) ||
		    (sp->image[n] &&
		     (n + 4 < sizeof(sp->name) || ((unsigned char)sp->image[n] & 0xc0) == 0x80)))
			abort();
	}
	if (strlen(sp->select) > SRV_SELECT_MAX || has_control(sp->select))
		abort();
	if (sp->require_approval != json_is_true(json_object_get(body, "require_approval")))
		abort();
	if (srv_selector_parse(sp->select, &sel, &m) != WARD_OK)
		abort();
	check_selector(&sel);
}

/* Properties 2-4 on the input as command-line text. */
static void check_text(const char *text)
{
	struct srv_selector sel;
	struct ward_msg m = {0};
	unsigned pct = 0;
	json_t *a;

	if (srv_selector_parse(text, &sel, &m) == WARD_OK)
		check_selector(&sel);
	a = srv_campaign_phases_parse(text, &m);
	if (a) {
		json_int_t prev = 0;

		if (!json_is_array(a))
			abort();
		for (size_t i = 0; i < json_array_size(a); i++) {
			const json_t *p = json_array_get(a, i);

			if (!json_is_integer(p) || json_integer_value(p) <= prev ||
			    json_integer_value(p) > 100)
				abort();
			prev = json_integer_value(p);
		}
		json_decref(a);
	}
	if (srv_campaign_percent_parse(text, &pct, &m) == WARD_OK &&
	    (pct > 10000 || !strpbrk(text, "0123456789")))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_campaign_spec sp;
	struct ward_msg m = {0};
	char text[TEXT_MAX + 1];
	size_t tlen = size < TEXT_MAX ? size : TEXT_MAX;
	json_t *body = NULL;

	if (ward_json_parse(data, size, BODY_MAX, &body, &m) == WARD_OK) {
		if (srv_campaign_spec_parse(body, &sp, &m) == WARD_OK)
			check_spec(body, &sp);
		json_decref(body);
	}
	if (tlen)
		memcpy(text, data, tlen);
	text[tlen] = '\0'; /* the text ends at the first NUL, as an argv string does */
	check_text(text);
	return 0;
}
