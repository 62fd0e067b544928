/*
 * fuzz_json - request bodies: tr_json_parse (bounded pre-scan, duplicate keys) and the Vault-style
 * field coercions, on arbitrary bytes.
 * Invariants: a parsed value respects the limits it was parsed with; dumping it and parsing the
 * dump gives an equal value under the same limits; the same object with one key repeated is
 * refused; coercions agree with their own contract (a duration is never negative, "bad" and
 * "found" never both true).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "util.h"

/* Nesting depth and a count comparable with the pre-scan's entries (containers, strings and
 * keys, and every array item or member after the first). */
static void measure(const json_t *v, size_t level, size_t *depth, size_t *entries)
{
    const char *key;
    json_t *m;
    size_t i;

    if (json_is_object(v) || json_is_array(v)) {
        if (level + 1 > *depth)
            *depth = level + 1;
        *entries += 1;
    } else if (json_is_string(v)) {
        *entries += 1;
    }
    if (json_is_object(v)) {
        size_t n = 0;
        json_object_foreach((json_t *)v, key, m)
        {
            *entries += 1 + (n++ > 0); /* the key, and the comma before it */
            measure(m, level + 1, depth, entries);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, m)
        {
            *entries += i > 0;
            measure(m, level + 1, depth, entries);
        }
    }
}

static void check_roundtrip(json_t *v, const struct tr_json_limits *lim)
{
    char err[256];
    json_t *again = NULL;
    size_t depth = 0, entries = 0;
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

    measure(v, 0, &depth, &entries);
    FUZZ_CHECK(depth <= lim->max_depth);
    FUZZ_CHECK(entries <= lim->max_entries);
    FUZZ_CHECK(text != NULL);
    FUZZ_CHECK(tr_json_parse(text, strlen(text), lim, &again, err, sizeof(err)) == TR_OK);
    FUZZ_CHECK(json_equal(v, again));
    json_decref(again);
    free(text);
}

/* The object's text with its first key repeated at the end must be refused. */
static void check_duplicate(json_t *v)
{
    char err[256];
    json_t *out = NULL;
    void *it = json_object_iter(v);

    if (!it)
        return;
    json_t *k = json_string(json_object_iter_key(it));
    char *text = json_dumps(v, JSON_COMPACT);
    char *ktext = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
    size_t tl = text ? strlen(text) : 0, kl = ktext ? strlen(ktext) : 0;
    char *dup = text && ktext ? malloc(tl + kl + 4) : NULL;

    if (dup) {
        memcpy(dup, text, tl - 1); /* drop the closing brace */
        snprintf(dup + tl - 1, kl + 5, ",%s:0}", ktext);
        /* generous limits: only the duplicate may be the reason */
        struct tr_json_limits big = {TR_JSON_DEPTH_DEFAULT, (size_t)-1};
        FUZZ_CHECK(tr_json_parse(dup, strlen(dup), &big, &out, err, sizeof(err)) == TR_E_INVAL);
        FUZZ_CHECK(out == NULL);
    }
    free(dup);
    free(ktext);
    free(text);
    json_decref(k);
}

static void check_coercions(const json_t *v)
{
    const char *key;
    json_t *m;

    json_object_foreach((json_t *)v, key, m)
    {
        int64_t i = 0;
        bool b = false, bad = false;

        if (tr_json_get_int(v, key, &i, &bad))
            FUZZ_CHECK(!bad);
        if (tr_json_get_bool(v, key, &b, &bad))
            FUZZ_CHECK(!bad);
        if (tr_json_get_duration(v, key, &i, &bad))
            FUZZ_CHECK(!bad && i >= 0);
        const char *s = tr_json_get_str(v, key);
        FUZZ_CHECK((s != NULL) == json_is_string(m));
    }
}

static void parse_with(const char *buf, size_t len, const struct tr_json_limits *lim)
{
    char err[256] = "";
    json_t *v = (json_t *)1; /* must be reset to NULL on failure */
    int rc = tr_json_parse(buf, len, lim, &v, err, sizeof(err));

    if (rc != TR_OK) {
        FUZZ_CHECK(rc == TR_E_INVAL || rc == TR_E_TOO_LARGE);
        FUZZ_CHECK(v == NULL && err[0] != '\0');
        return;
    }
    FUZZ_CHECK(v != NULL);
    check_roundtrip(v, lim);
    if (json_is_object(v)) {
        check_duplicate(v);
        check_coercions(v);
    }
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_json_limits defaults = {TR_JSON_DEPTH_DEFAULT, TR_JSON_ENTRIES_DEFAULT};
    char dur[48];

    if (size > 1u << 20)
        return 0;
    fuzz_init();
    parse_with((const char *)data, size, &defaults);
    if (size > 1) { /* tight limits, taken from the input's own first and last bytes */
        struct tr_json_limits small = {1 + data[0] % 8, 1 + data[size - 1] % 64};
        parse_with((const char *)data, size, &small);
    }
    /* The duration and bool parsers see raw strings from query parameters too. */
    size_t n = size < sizeof(dur) - 1 ? size : sizeof(dur) - 1;
    memcpy(dur, data, n);
    dur[n] = '\0';
    int64_t secs = -1;
    bool b;
    if (tr_parse_duration(dur, &secs))
        FUZZ_CHECK(secs >= 0);
    (void)tr_parse_bool(dur, &b);
    return 0;
}
