/*
 * lib/json.c — strict JSON parsing (jansson) and TUF's canonical JSON.
 *
 * Canonical form (OLPC, as securesystemslib and tuf-js produce it): no
 * whitespace; object members sorted by the bytes of their UTF-8 keys;
 * strings written byte for byte with only '"' and '\' escaped; integers in
 * decimal; true, false, null. Reals have no canonical form and are refused,
 * so two encoders can never disagree on what was signed.
 */
#include <stdlib.h>
#include <string.h>

#include "ward/json.h"

ward_err ward_json_parse(const void *data, size_t len, size_t max, json_t **out,
			 struct ward_msg *m)
{
	json_error_t jerr;
	json_t *v = NULL;

	if (len > max)
		return ward_msg_set(m, WARD_E_TOOBIG, "JSON document of %zu bytes exceeds the %zu-byte limit",
				    len, max);
	if (len == 0 || !data)
		return ward_msg_set(m, WARD_E_PARSE, "empty document where JSON was expected");
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return ward_msg_set(m, WARD_E_PARSE, "invalid JSON at line %d column %d: %s",
				    jerr.line, jerr.column, jerr.text);
	*out = v;
	return WARD_OK;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static ward_err canon_string(const char *s, size_t n, struct ward_buf *out)
{
	ward_err e = ward_buf_append(out, "\"", 1);
	size_t start = 0;

	for (size_t i = 0; !e && i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		e = ward_buf_append(out, s + start, i - start);
		if (!e)
			e = ward_buf_append(out, "\\", 1);
		start = i;
	}
	if (!e)
		e = ward_buf_append(out, s + start, n - start);
	if (!e)
		e = ward_buf_append(out, "\"", 1);
	return e;
}

static ward_err canon(const json_t *v, struct ward_buf *out, struct ward_msg *m, unsigned depth)
{
	ward_err e = WARD_OK;

	if (depth > 256)
		return ward_msg_set(m, WARD_E_TOOBIG, "canonical JSON: nesting deeper than 256");
	switch (json_typeof(v)) {
	case JSON_NULL: return ward_buf_append(out, "null", 4);
	case JSON_TRUE: return ward_buf_append(out, "true", 4);
	case JSON_FALSE: return ward_buf_append(out, "false", 5);
	case JSON_INTEGER: return ward_buf_printf(out, "%lld", (long long)json_integer_value(v));
	case JSON_REAL:
		return ward_msg_set(m, WARD_E_PARSE,
				    "canonical JSON cannot represent the number %g (only integers)",
				    json_real_value(v));
	case JSON_STRING: return canon_string(json_string_value(v), json_string_length(v), out);
	case JSON_ARRAY: {
		size_t i;
		json_t *el;

		e = ward_buf_append(out, "[", 1);
		json_array_foreach(v, i, el) {
			if (!e && i)
				e = ward_buf_append(out, ",", 1);
			if (!e)
				e = canon(el, out, m, depth + 1);
		}
		return e ? e : ward_buf_append(out, "]", 1);
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(v), i = 0;
		const char **keys;
		const char *k;
		json_t *el;

		keys = calloc(n ? n : 1, sizeof(*keys));
		if (!keys)
			return WARD_E_NOMEM;
		json_object_foreach((json_t *)v, k, el)
			keys[i++] = k;
		qsort(keys, n, sizeof(*keys), cmp_keys);
		e = ward_buf_append(out, "{", 1);
		for (i = 0; !e && i < n; i++) {
			if (i)
				e = ward_buf_append(out, ",", 1);
			if (!e)
				e = canon_string(keys[i], strlen(keys[i]), out);
			if (!e)
				e = ward_buf_append(out, ":", 1);
			if (!e)
				e = canon(json_object_get(v, keys[i]), out, m, depth + 1);
		}
		free(keys);
		return e ? e : ward_buf_append(out, "}", 1);
	}
	}
	return ward_msg_set(m, WARD_E_PARSE, "canonical JSON: unknown value type");
}

ward_err ward_json_canonical(const json_t *v, struct ward_buf *out, struct ward_msg *m)
{
	size_t before = out->len;
	ward_err e = canon(v, out, m, 0);

	if (e == WARD_E_TOOBIG && !(m && m->text[0]))
		ward_msg_set(m, e, "canonical JSON larger than the %zu-byte limit", out->max);
	else if (e && !(m && m->text[0]))
		ward_msg_set(m, e, "canonical JSON: %s", ward_err_name(e));
	if (e) {
		/* leave out as it was */
		out->len = before;
		if (out->p)
			out->p[before] = '\0';
	}
	return e;
}

ward_err ward_json_pretty(const json_t *v, struct ward_buf *out, struct ward_msg *m)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
	ward_err e;

	if (!s)
		return ward_msg_set(m, WARD_E_NOMEM, "cannot encode JSON");
	e = ward_buf_append(out, s, strlen(s));
	if (!e)
		e = ward_buf_append(out, "\n", 1);
	free(s);
	if (e)
		return ward_msg_set(m, e, "encoded JSON exceeds the %zu-byte limit", out->max);
	return WARD_OK;
}

static ward_err get_typed(const json_t *obj, const char *key, const char *what, json_type t,
			  const char *tname, json_t **out, struct ward_msg *m)
{
	json_t *v = NULL;

	if (!json_is_object(obj))
		return ward_msg_set(m, WARD_E_PARSE, "%s: expected an object", what);
	v = json_object_get(obj, key);
	if (!v)
		return ward_msg_set(m, WARD_E_PARSE, "%s: missing \"%s\"", what, key);
	if (json_typeof(v) != t && !(t == JSON_TRUE && json_is_boolean(v)))
		return ward_msg_set(m, WARD_E_PARSE, "%s: \"%s\" must be %s", what, key, tname);
	*out = v;
	return WARD_OK;
}

ward_err ward_json_get_object(const json_t *obj, const char *key, const char *what, json_t **out,
			      struct ward_msg *m)
{
	return get_typed(obj, key, what, JSON_OBJECT, "an object", out, m);
}

ward_err ward_json_get_array(const json_t *obj, const char *key, const char *what, json_t **out,
			     struct ward_msg *m)
{
	return get_typed(obj, key, what, JSON_ARRAY, "an array", out, m);
}

ward_err ward_json_get_string(const json_t *obj, const char *key, const char *what,
			      const char **out, struct ward_msg *m)
{
	json_t *v = NULL;
	ward_err e = get_typed(obj, key, what, JSON_STRING, "a string", &v, m);

	if (e)
		return e;
	*out = json_string_value(v);
	return WARD_OK;
}

ward_err ward_json_get_u64(const json_t *obj, const char *key, const char *what, uint64_t *out,
			   struct ward_msg *m)
{
	json_t *v = NULL;
	ward_err e = get_typed(obj, key, what, JSON_INTEGER, "an integer", &v, m);

	if (e)
		return e;
	if (json_integer_value(v) < 0)
		return ward_msg_set(m, WARD_E_PARSE, "%s: \"%s\" must not be negative", what, key);
	*out = (uint64_t)json_integer_value(v);
	return WARD_OK;
}

ward_err ward_json_get_bool(const json_t *obj, const char *key, const char *what, int *out,
			    struct ward_msg *m)
{
	json_t *v = NULL;
	ward_err e = get_typed(obj, key, what, JSON_TRUE, "true or false", &v, m);

	if (e)
		return e;
	*out = json_is_true(v);
	return WARD_OK;
}
