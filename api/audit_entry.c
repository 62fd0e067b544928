/* Audit entries: MACs of sensitive leaves, the rule of what is sensitive, prepared requests
 * (audit.h, audit_int.h). */
#include "audit_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "../enclave/enclave.h"
#include "audit.h"

_Static_assert(API_AUDIT_HMAC_STR == sizeof(API_AUDIT_HMAC_PREFIX) + ENC_MAC_BYTES * 2,
               "MAC text size");

/* Member names whose whole subtree is sensitive, wherever they appear (see audit.h). */
static const char *const sensitive_keys[] = {
    "data",     "auth",       "token",     "client_token", "client_token_accessor",
    "accessor", "secret_id",  "key",       "keys",         "keys_base64",
    "password", "root_token", "plaintext", "ciphertext",
};

/* strcasecmp stops at an embedded NUL, so "password\0x" still counts as "password": stricter. */
bool audit_is_sensitive_key(const char *key)
{
    for (size_t i = 0; i < sizeof(sensitive_keys) / sizeof(sensitive_keys[0]); i++)
        if (strcasecmp(key, sensitive_keys[i]) == 0)
            return true;
    return false;
}

int api_audit_hash(const char *in, size_t len, char out[API_AUDIT_HMAC_STR])
{
    const size_t plen = sizeof(API_AUDIT_HMAC_PREFIX) - 1;
    uint8_t mac[ENC_MAC_BYTES];
    int rc = TR_E_INVAL;

    if (!out)
        return TR_E_INVAL;
    out[0] = '\0';
    if (!in && len)
        goto out;
    if ((rc = enc_mac(ENC_MAC_AUDIT, (const uint8_t *)(len ? in : ""), len, mac)) != TR_OK)
        goto out;
    memcpy(out, API_AUDIT_HMAC_PREFIX, plen);
    sodium_bin2hex(out + plen, API_AUDIT_HMAC_STR - plen, mac, sizeof(mac));
    rc = TR_OK;
out:
    sodium_memzero(mac, sizeof(mac));
    return rc;
}

/* A sensitive string or number becomes the string API_AUDIT_HMAC_PREFIX + hex. The caller's
 * string is read in place; a number's text is built on the stack and wiped. */
static int mac_leaf(json_t *v, json_t **out)
{
    char text[API_AUDIT_HMAC_STR], num[64];
    const char *p = num;
    size_t len;
    int rc = TR_E_INTERNAL;

    if (json_is_string(v)) {
        p = json_string_value(v);
        len = json_string_length(v);
    } else {
        /* jansson's own text for the number (Vault MACs json.Number's text), never truncated */
        len = json_dumpb(v, num, sizeof(num), JSON_ENCODE_ANY | JSON_COMPACT);
        if (len == 0 || len >= sizeof(num))
            goto out;
    }
    if ((rc = api_audit_hash(p, len, text)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (!(*out = json_stringn_nocheck(text, API_AUDIT_HMAC_STR - 1)))
        goto out;
    rc = TR_OK;
out:
    sodium_memzero(num, sizeof(num));
    return rc;
}

static int redact_object(json_t *in, bool sens, int depth, json_t **out)
{
    json_t *o = json_object(), *v, *child;
    const char *k;
    size_t klen;
    int rc = TR_E_NOMEM;

    if (!o)
        goto out;
    json_object_keylen_foreach(in, k, klen, v)
    {
        if ((rc = audit_redact(v, sens || audit_is_sensitive_key(k), depth + 1, &child)) != TR_OK)
            goto out;
        rc = TR_E_NOMEM;
        if (json_object_setn_new_nocheck(o, k, klen, child) != 0) /* child consumed either way */
            goto out;
    }
    *out = o;
    o = NULL;
    rc = TR_OK;
out:
    json_decref(o);
    return rc;
}

static int redact_array(json_t *in, bool sens, int depth, json_t **out)
{
    json_t *a = json_array(), *v, *child;
    size_t i;
    int rc = TR_E_NOMEM;

    if (!a)
        goto out;
    json_array_foreach(in, i, v)
    {
        if ((rc = audit_redact(v, sens, depth + 1, &child)) != TR_OK)
            goto out;
        rc = TR_E_NOMEM;
        if (json_array_append_new(a, child) != 0) /* child consumed either way */
            goto out;
    }
    *out = a;
    a = NULL;
    rc = TR_OK;
out:
    json_decref(a);
    return rc;
}

/* Containers are rebuilt; leaves that stay clear are shared: the copy is read (serialised) and
 * dropped, never modified, so a reference does what a deep copy did without the allocations. */
int audit_redact(json_t *in, bool sens, int depth, json_t **out)
{
    *out = NULL;
    if (!in)
        return TR_E_INVAL;
    if (depth > AUDIT_DEPTH_MAX)
        return TR_E_TOO_LARGE;
    if (json_is_object(in))
        return redact_object(in, sens, depth, out);
    if (json_is_array(in))
        return redact_array(in, sens, depth, out);
    if (sens && (json_is_string(in) || json_is_number(in)))
        return mac_leaf(in, out);
    *out = json_incref(in);
    return TR_OK;
}

/* RFC 3339 with nanoseconds, UTC, trailing fraction zeros trimmed: Go's time.RFC3339Nano, as
 * Vault writes "time". */
int audit_time_now(char buf[AUDIT_TIME_MAX])
{
    struct timespec ts;
    struct tm tm;
    char frac[16] = "";
    size_t n;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || !gmtime_r(&ts.tv_sec, &tm))
        return TR_E_INTERNAL;
    if (!(n = strftime(buf, AUDIT_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm)))
        return TR_E_INTERNAL;
    if (ts.tv_nsec > 0) {
        size_t f = (size_t)snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
        while (f > 1 && frac[f - 1] == '0')
            frac[--f] = '\0';
    }
    snprintf(buf + n, AUDIT_TIME_MAX - n, "%sZ", frac);
    return TR_OK;
}

/* ---- prepared requests ---------------------------------------------------------------------- */

int api_audit_req_new(json_t *request, struct api_audit_req **out)
{
    struct api_audit_req *r = NULL;
    int rc = TR_E_INVAL;

    if (out)
        *out = NULL;
    if (!out || !json_is_object(request))
        goto out;
    rc = TR_E_NOMEM;
    if (!(r = calloc(1, sizeof(*r))))
        goto out;
    if ((rc = audit_time_now(r->time)) != TR_OK)
        goto out;
    /* the value of the entry's (clear) "request" member: depth 1 */
    if ((rc = audit_redact(request, false, 1, &r->req)) != TR_OK)
        goto out;
    *out = r;
    r = NULL;
    rc = TR_OK;
out:
    api_audit_req_free(r);
    return rc;
}

int api_audit_req_set(struct api_audit_req *r, const char *key, json_t *value)
{
    json_t *v = NULL;
    int rc = TR_E_INVAL;

    if (!r || !key || !value)
        goto out;
    if ((rc = audit_redact(value, audit_is_sensitive_key(key), 2, &v)) != TR_OK)
        goto out;
    rc = json_object_set_new(r->req, key, v) == 0 ? TR_OK : TR_E_NOMEM; /* v consumed */
    free(r->text); /* serialised again when next needed */
    r->text = NULL;
out:
    json_decref(value);
    return rc;
}

void api_audit_req_free(struct api_audit_req *r)
{
    if (!r)
        return;
    json_decref(r->req); /* MACs and clear members only: nothing to wipe */
    free(r->text);
    free(r);
}

int audit_req_text(struct api_audit_req *r, const char **out, size_t *out_len)
{
    int rc;

    if (!r->text && (rc = audit_dump(r->req, &r->text, &r->text_len)) != TR_OK)
        return rc;
    *out = r->text;
    *out_len = r->text_len;
    return TR_OK;
}
