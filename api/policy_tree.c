/*
 * policy_tree.c - the value tree both front-ends build, the error-message helpers, and the JSON
 * front-end (jansson, behind tr_json_parse's depth and size limits).
 */
#include "policy_int.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"

/* ---- Values ------------------------------------------------------------------------------ */

struct api_policy_hv *api_policy_hv_new(enum api_policy_hv_type t, unsigned line,
                                        struct api_policy_budget *b, bool *too_large)
{
    struct api_policy_hv *v;

    *too_large = false;
    if (b->nodes >= API_POLICY_NODES_MAX) {
        *too_large = true;
        return NULL;
    }
    v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    b->nodes++;
    v->type = t;
    v->line = line;
    return v;
}

int api_policy_hv_add(struct api_policy_hv *parent, char *key, unsigned line,
                      struct api_policy_hv *val)
{
    if (parent->n == parent->cap) {
        size_t ncap = parent->cap ? parent->cap * 2 : 4;
        /* n is bounded by API_POLICY_NODES_MAX, so ncap * size cannot overflow */
        struct api_policy_hv_item *it = realloc(parent->items, ncap * sizeof(*it));
        if (!it) {
            free(key);
            api_policy_hv_free(val);
            return TR_E_NOMEM;
        }
        parent->items = it;
        parent->cap = ncap;
    }
    parent->items[parent->n].key = key;
    parent->items[parent->n].line = line;
    parent->items[parent->n].val = val;
    parent->n++;
    return TR_OK;
}

void api_policy_hv_free(struct api_policy_hv *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->items[i].key);
        api_policy_hv_free(v->items[i].val); /* depth is capped, so recursion is bounded */
    }
    free(v->items);
    free(v->str);
    free(v);
}

/* ---- Messages ---------------------------------------------------------------------------- */

void api_policy_errf(char *err, size_t errlen, unsigned line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!err || errlen == 0)
        return;
    if (line)
        n = snprintf(err, errlen, "policy line %u: ", line);
    else
        n = snprintf(err, errlen, "policy: ");
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

void api_policy_quote(char *dst, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;

    if (cap < 16) {
        if (cap)
            dst[0] = '\0';
        return;
    }
    dst[o++] = '"';
    for (i = 0; i < 64 && s[i] && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    if (s[i] && o + 4 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o++] = '"';
    dst[o] = '\0';
}

/* ---- JSON -------------------------------------------------------------------------------- */

static int json_to_hv(const json_t *j, struct api_policy_budget *b, struct api_policy_hv **out);

static int json_children(const json_t *j, struct api_policy_budget *b, struct api_policy_hv *v)
{
    struct api_policy_hv *c = NULL;
    const char *k;
    json_t *jv;
    size_t i;
    int rc;

    if (json_is_array(j)) {
        json_array_foreach(j, i, jv)
        {
            if ((rc = json_to_hv(jv, b, &c)) != TR_OK ||
                (rc = api_policy_hv_add(v, NULL, 0, c)) != TR_OK)
                return rc;
        }
        return TR_OK;
    }
    json_object_foreach((json_t *)j, k, jv)
    {
        char *key = strdup(k);
        if (!key)
            return TR_E_NOMEM;
        if ((rc = json_to_hv(jv, b, &c)) != TR_OK) {
            free(key);
            return rc;
        }
        if ((rc = api_policy_hv_add(v, key, 0, c)) != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int json_scalar(const json_t *j, struct api_policy_hv *v)
{
    char num[64];

    if (json_is_string(j)) {
        v->str = strdup(json_string_value(j));
        return v->str ? TR_OK : TR_E_NOMEM;
    }
    if (json_is_integer(j))
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    else
        snprintf(num, sizeof(num), "%.17g", json_real_value(j));
    v->str = strdup(num);
    return v->str ? TR_OK : TR_E_NOMEM;
}

/* Depth is already bounded by tr_json_parse's limits, so this recursion is too. */
static int json_to_hv(const json_t *j, struct api_policy_budget *b, struct api_policy_hv **out)
{
    enum api_policy_hv_type t;
    struct api_policy_hv *v;
    bool too_large;
    int rc = TR_OK;

    switch (json_typeof(j)) {
    case JSON_OBJECT:
        t = API_POLICY_HV_OBJECT;
        break;
    case JSON_ARRAY:
        t = API_POLICY_HV_LIST;
        break;
    case JSON_STRING:
        t = API_POLICY_HV_STRING;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        t = API_POLICY_HV_BOOL;
        break;
    case JSON_NULL:
        t = API_POLICY_HV_NULL;
        break;
    default:
        t = API_POLICY_HV_NUMBER;
        break;
    }
    v = api_policy_hv_new(t, 0, b, &too_large);
    if (!v)
        return too_large ? TR_E_TOO_LARGE : TR_E_NOMEM;
    if (t == API_POLICY_HV_OBJECT || t == API_POLICY_HV_LIST)
        rc = json_children(j, b, v);
    else if (t == API_POLICY_HV_STRING || t == API_POLICY_HV_NUMBER)
        rc = json_scalar(j, v);
    else
        v->b = json_is_true(j);
    if (rc != TR_OK) {
        api_policy_hv_free(v);
        return rc;
    }
    *out = v;
    return TR_OK;
}

int api_policy_json_parse(const char *text, size_t len, struct api_policy_hv **out, char *err,
                          size_t errlen)
{
    const struct tr_json_limits lim = {API_POLICY_DEPTH_MAX, API_POLICY_NODES_MAX};
    struct api_policy_budget b = {0};
    char jerr[160] = "";
    json_t *j = NULL;
    int rc;

    *out = NULL;
    if ((rc = tr_json_parse(text, len, &lim, &j, jerr, sizeof(jerr))) != TR_OK) {
        api_policy_errf(err, errlen, 0, "%s", jerr);
        goto out;
    }
    if (!json_is_object(j)) {
        api_policy_errf(err, errlen, 0, "a JSON policy must be an object");
        rc = TR_E_INVAL;
        goto out;
    }
    if ((rc = json_to_hv(j, &b, out)) == TR_E_TOO_LARGE)
        api_policy_errf(err, errlen, 0, "too many values (limit %u)",
                        (unsigned)API_POLICY_NODES_MAX);
out:
    json_decref(j);
    return rc;
}
