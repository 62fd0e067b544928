#include "tr_json.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One pass over the text counting nesting and values outside strings. It does not validate:
 * jansson does that after, but only once we know it cannot be made to recurse or allocate
 * without bound. */
static int json_prescan(const char *buf, size_t len, const struct tr_json_limits *lim)
{
    size_t depth = 0, entries = 0;
    bool in_str = false, esc = false;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
            continue;
        }
        switch (c) {
        case '"':
            in_str = true;
            entries++;
            break;
        case '{':
        case '[':
            if (++depth > lim->max_depth)
                return TR_E_TOO_LARGE;
            entries++;
            break;
        case '}':
        case ']':
            if (depth)
                depth--;
            break;
        case ',':
            entries++;
            break;
        default:
            break;
        }
        if (entries > lim->max_entries)
            return TR_E_TOO_LARGE;
    }
    return TR_OK;
}

int tr_json_parse(const char *buf, size_t len, const struct tr_json_limits *lim, json_t **out,
                  char *err, size_t errlen)
{
    static const struct tr_json_limits defaults = {TR_JSON_DEPTH_DEFAULT, TR_JSON_ENTRIES_DEFAULT};
    json_error_t jerr;
    int rc;

    *out = NULL;
    if (!lim)
        lim = &defaults;
    if ((rc = json_prescan(buf, len, lim)) != TR_OK) {
        snprintf(err, errlen, "JSON nesting or size exceeds the server's limits");
        return rc;
    }
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j) {
        if (json_error_code(&jerr) == json_error_duplicate_key)
            snprintf(err, errlen, "duplicate key in JSON object at position %d", jerr.position);
        else
            snprintf(err, errlen, "failed to parse JSON input: invalid JSON at position %d",
                     jerr.position);
        return TR_E_INVAL;
    }
    *out = j;
    return TR_OK;
}

bool tr_parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};

    for (int i = 0; i < 6; i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

bool tr_parse_int64(const char *s, int64_t *out)
{
    char *end = NULL;

    if (!*s)
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return false;
    *out = v;
    return true;
}

static bool dur_unit(const char **p, int64_t *mult_ms)
{
    const char *s = *p;
    if (s[0] == 'm' && s[1] == 's') {
        *mult_ms = 1;
        *p += 2;
    } else if (s[0] == 'h') {
        *mult_ms = 3600000;
        *p += 1;
    } else if (s[0] == 'm') {
        *mult_ms = 60000;
        *p += 1;
    } else if (s[0] == 's') {
        *mult_ms = 1000;
        *p += 1;
    } else if (s[0] == 'd') {
        *mult_ms = 86400000; /* Vault's parseutil also accepts days */
        *p += 1;
    } else {
        return false;
    }
    return true;
}

bool tr_parse_duration(const char *s, int64_t *out)
{
    int64_t total_ms = 0;

    if (tr_parse_int64(s, out))
        return *out >= 0;
    if (!*s)
        return false;
    while (*s) {
        char *end = NULL;
        int64_t mult;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || v < 0)
            return false;
        s = end;
        if (!dur_unit(&s, &mult))
            return false;
        if (v > (INT64_MAX - total_ms) / mult)
            return false;
        total_ms += v * mult;
    }
    *out = total_ms / 1000;
    return true;
}

bool tr_json_get_int(const json_t *o, const char *key, int64_t *out, bool *bad)
{
    json_t *v = json_object_get(o, key);

    *bad = false;
    if (!v || json_is_null(v))
        return false;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_string(v) && tr_parse_int64(json_string_value(v), out))
        return true;
    *bad = true;
    return false;
}

bool tr_json_get_bool(const json_t *o, const char *key, bool *out, bool *bad)
{
    json_t *v = json_object_get(o, key);

    *bad = false;
    if (!v || json_is_null(v))
        return false;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    if (json_is_string(v) && tr_parse_bool(json_string_value(v), out))
        return true;
    *bad = true;
    return false;
}

bool tr_json_get_duration(const json_t *o, const char *key, int64_t *out, bool *bad)
{
    json_t *v = json_object_get(o, key);

    *bad = false;
    if (!v || json_is_null(v))
        return false;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_string(v) && tr_parse_duration(json_string_value(v), out))
        return true;
    *bad = true;
    return false;
}

const char *tr_json_get_str(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

size_t tr_utf8_seq_len(const unsigned char *s, size_t left)
{
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

bool tr_utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if ((n = tr_utf8_seq_len((const unsigned char *)s + i, len - i)) == 0)
            return false;
    return true;
}
