/*
 * tr_json - small jansson helpers: bounded parsing and Vault-style field coercion.
 *
 * tr_json_parse checks the nesting depth and the number of values with a cheap scan *before*
 * jansson builds anything, and rejects duplicate object keys (a classic smuggling vector).
 * Coercion follows Vault's framework package: ints accept numbers and numeric strings, bools
 * accept true/false and "true"/"1"/"false"/"0"..., durations accept seconds or "1h30m".
 * Thread-safety: reentrant.
 */
#ifndef TR_JSON_H
#define TR_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tr_err.h"

struct tr_json_limits {
    size_t max_depth;   /* arrays/objects nested deeper fail with TR_E_TOO_LARGE */
    size_t max_entries; /* total values (scalars, array items, object members) */
};

#define TR_JSON_DEPTH_DEFAULT   32
#define TR_JSON_ENTRIES_DEFAULT 10000

/*
 * tr_json_parse - parse len bytes of JSON text into *out (owned by the caller, json_decref).
 * lim may be NULL for the defaults. err (errlen bytes) receives a short reason on failure; the
 * reason names a position or a key, never a value.
 * Errors: TR_E_INVAL (syntax, duplicate key), TR_E_TOO_LARGE (depth or entry cap).
 */
TR_MUST_CHECK int tr_json_parse(const char *buf, size_t len, const struct tr_json_limits *lim,
                                json_t **out, char *err, size_t errlen);

/* tr_json_get_int - coerce o[key] to an int64. *out untouched and false returned when the key is
 * absent or null; *bad set when present but not coercible. */
bool tr_json_get_int(const json_t *o, const char *key, int64_t *out, bool *bad);
/* tr_json_get_bool - coerce like Go's strconv.ParseBool. Same absent/bad convention. */
bool tr_json_get_bool(const json_t *o, const char *key, bool *out, bool *bad);
/* tr_json_get_str - borrowed string (valid while o lives); NULL when absent, null or not a string. */
const char *tr_json_get_str(const json_t *o, const char *key);
/* tr_json_get_duration - seconds from an int, a numeric string or a Go duration ("1h30m"). */
bool tr_json_get_duration(const json_t *o, const char *key, int64_t *out, bool *bad);

/* tr_parse_bool - Go ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. */
bool tr_parse_bool(const char *s, bool *out);
/* tr_parse_int64 - a whole decimal string with optional sign; false on junk or overflow. */
bool tr_parse_int64(const char *s, int64_t *out);
/* tr_parse_duration - Go duration subset (h, m, s, ms; or bare seconds) into whole seconds. */
bool tr_parse_duration(const char *s, int64_t *out);

/* tr_utf8_seq_len - length of the valid UTF-8 sequence at s (at most left >= 1 bytes), or 0 if
 * invalid: overlong forms, surrogates and code points above U+10FFFF are refused, as jansson
 * refuses them in strings. */
size_t tr_utf8_seq_len(const unsigned char *s, size_t left);
/* tr_utf8_valid - whether len bytes at s are UTF-8 that jansson accepts as a string (NUL bytes
 * included: the caller decides about those). Text that must become a JSON string later (an
 * audit line, an answer) is checked with this before any work is done for it. */
bool tr_utf8_valid(const char *s, size_t len);

#endif
