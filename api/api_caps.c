/* sys/capabilities-self, sys/capabilities and sys/capabilities-accessor (vault-api.md §2.11).
 * One answer for all three: the capabilities come from the compiled ACL of a token, the
 * caller's for -self, else the one named by its value (found by its keyed hash) or by its
 * accessor, its policies compiled exactly as when it makes a request itself, so an answer never
 * differs from what the pipeline would decide. */
#include "api_caps.h"

#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define CAPS_SELF  "sys/capabilities-self"
#define CAPS_TOKEN "sys/capabilities"
#define CAPS_ACC   "sys/capabilities-accessor"

bool api_caps_is_path(const char *p)
{
    return !strcmp(p, CAPS_SELF) || !strcmp(p, CAPS_TOKEN) || !strcmp(p, CAPS_ACC);
}

static json_t *caps_names(unsigned caps)
{
    const char *names[16];
    size_t n = api_policy_cap_names(caps, names, 16);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

/* Vault's comma-string-slice coercion: an array of strings, or one string of comma-separated
 * items (trimmed, empty ones dropped). NULL when v is neither (or holds a non-string). */
static json_t *comma_list(const json_t *v)
{
    json_t *out = json_array();
    size_t i;
    json_t *x;

    if (!out)
        return NULL;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (!json_is_string(x)) {
                json_decref(out);
                return NULL;
            }
            json_array_append(out, x);
        }
        return out;
    }
    const char *s = json_string_value(v);
    if (!s) {
        json_decref(out);
        return NULL;
    }
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        size_t a = 0;
        while (a < n && (s[a] == ' ' || s[a] == '\t'))
            a++;
        while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n > a)
            json_array_append_new(out, json_stringn(s + a, n - a));
        s = e ? e + 1 : s + strlen(s);
    }
    return out;
}

/* The paths asked about: "paths", or the deprecated "path" (the Go client sends one path
 * there). NULL when the call has been answered: none given, or an empty one (Vault checks each
 * path before it looks at the token). */
static json_t *caps_paths(struct api_call *c, const json_t *b)
{
    json_t *paths = comma_list(json_object_get(b, "paths"));
    size_t i;
    json_t *p;

    if (!paths || !json_array_size(paths)) {
        json_decref(paths);
        paths = comma_list(json_object_get(b, "path"));
    }
    if (!paths || !json_array_size(paths)) {
        json_decref(paths);
        api_reply_error(c, 400, "paths must be supplied");
        return NULL;
    }
    json_array_foreach(paths, i, p)
    {
        if (!json_string_length(p)) {
            json_decref(paths);
            api_reply_error(c, 400, "missing path");
            return NULL;
        }
    }
    return paths;
}

/* What the ACL grants on path, as a request there is decided (api.c acl_allows): where the
 * handler folds a name in it, the grants on both paths, and a deny on either denies. */
static unsigned caps_of(struct api_call *c, const struct api_acl *acl, const char *path)
{
    unsigned caps = api_acl_capabilities(acl, path), more;
    char *folded = caps & API_CAP_DENY ? NULL : api_acl_folded_path(c, path);

    if (folded) {
        more = api_acl_capabilities(acl, folded);
        caps = more & API_CAP_DENY ? API_CAP_DENY : caps & more;
        free(folded);
    }
    return caps;
}

static void caps_reply(struct api_call *c, const struct api_acl *acl, const json_t *paths)
{
    json_t *data = json_object();
    size_t i;
    json_t *p;

    json_array_foreach(paths, i, p)
    {
        json_t *names = caps_names(caps_of(c, acl, json_string_value(p)));
        json_object_set_new(data, json_string_value(p), names);
    }
    /* the old single-path field, as Vault adds it: only when one path was asked */
    if (json_array_size(paths) == 1)
        json_object_set(data, "capabilities",
                        json_object_get(data, json_string_value(json_array_get(paths, 0))));
    api_reply_data_top(c, data);
}

/* The compiled ACL of the token raw (else of the one accessor names): api_token_lookup, then
 * the pipeline's api_acl_for_call on a scratch call that shares this call's store reference
 * and answers nothing. *out: a reference (api_acl_free). Errors: as api_token_lookup, and
 * api_acl_for_call's. */
static int caps_token_acl(struct api_call *c, const char *raw, const char *accessor,
                          struct api_acl **out)
{
    struct api_call s = {.api = c->api, .req = c->req, .store = c->store, .path = c->path};
    int rc;

    *out = NULL;
    if ((rc = api_token_lookup(c, raw, accessor, &s.token)) == TR_OK &&
        (rc = api_acl_for_call(&s)) == TR_OK) {
        *out = s.acl;
        s.acl = NULL;
    }
    api_acl_free(s.acl);
    api_token_free(s.token);
    return rc;
}

void api_caps_handle(struct api_call *c)
{
    struct api_acl *acl = NULL;
    const char *raw = NULL, *acc = NULL;
    json_t *b, *paths = NULL;
    bool self = !strcmp(c->path, CAPS_SELF);
    int rc;

    if (!api_body_object(c, &b))
        return;
    if (!strcmp(c->path, CAPS_ACC)) {
        acc = json_string_value(json_object_get(b, "accessor"));
        if (!acc || !*acc) {
            api_reply_error(c, 400, "missing accessor");
            return;
        }
    } else if (!self) {
        /* Vault's words (it answers them with a 500; a client error is a 400 here) */
        raw = json_string_value(json_object_get(b, "token"));
        if (!raw || !*raw) {
            api_reply_error(c, 400, "no token found");
            return;
        }
    }
    if (!(paths = caps_paths(c, b)))
        return;
    if (self) {
        caps_reply(c, c->acl, paths);
    } else if ((rc = caps_token_acl(c, raw, acc, &acl)) == TR_E_NOTFOUND && acc) {
        api_reply_error(c, 400, "invalid accessor");
    } else if (rc == TR_E_DENIED || rc == TR_E_NOTFOUND) {
        api_reply_error(c, 400, "invalid token");
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    } else {
        caps_reply(c, acl, paths);
    }
    api_acl_free(acl);
    json_decref(paths);
}
