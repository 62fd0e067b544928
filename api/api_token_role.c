/* Token roles (vault-api.md §4.6). A role is a template for auth/token/create/<name>: it may
 * widen what a token may hold beyond its parent's policies (allowed lists) or narrow it
 * (disallowed lists), exactly as Vault's, so writing a role is an administrator's act guarded
 * by the ACL on auth/token/roles/<name>. The rules applied at creation live in api_token_create.c;
 * this file keeps the records and the policy arithmetic. */
#include "api_token_role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "auth_int.h"

/* The role settings a request may send, each with Vault's type. */
static const char *const role_lists[] = {"allowed_policies", "disallowed_policies",
                                         "allowed_policies_glob", "disallowed_policies_glob"};

static bool is_word(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Vault's GenericNameRegex, whole: \w(([\w-.]+)?\w)?. A path whose name does not match has
 * no route in Vault's token store (404 "unsupported path"). */
static bool name_matches(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || !is_word(s[0]) || !is_word(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_word(s[i]) && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

/* A name a role can have: Vault's pattern, within Tresor's length limit (Vault has none). */
static bool role_name_ok(const char *s)
{
    return strlen(s) <= API_TOKEN_ROLE_NAME_MAX && name_matches(s);
}

/* Vault's path suffix rule \w[\w-.]+\w matched against the whole suffix (Vault searches for it
 * anywhere in the string, which lets '/' and anything else through), and no "..". */
static bool suffix_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 3 || n > API_TOKEN_ROLE_NAME_MAX || !role_name_ok(s))
        return false;
    return strstr(s, "..") == NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A sorted, deduplicated copy of the strings of in (Go's strutil.RemoveDuplicates), plus
 * "default" when add_default; only "root" when root is among them (policyutil.SanitizePolicies
 * when sanitize). NULL on allocation failure. */
static json_t *list_clean(const json_t *in, bool add_default, bool sanitize)
{
    size_t n = json_array_size(in), k = 0;
    const char **v = calloc(n + 1, sizeof(*v));
    json_t *out = json_array();

    if (!v || !out) {
        free(v);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(in, i));
        if (!s || !*s)
            continue;
        if (sanitize && !strcmp(s, "root")) {
            v[0] = "root";
            k = 1;
            add_default = false;
            break;
        }
        v[k++] = s;
    }
    bool has_default = false;
    for (size_t i = 0; i < k; i++)
        has_default = has_default || !strcmp(v[i], "default");
    if (add_default && !has_default)
        v[k++] = "default";
    qsort(v, k, sizeof(*v), cmp_str);
    for (size_t i = 0; i < k; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            json_array_append_new(out, json_string(v[i]));
    free(v);
    return out;
}

static bool list_has(const json_t *a, const char *s)
{
    size_t i;
    json_t *x;

    json_array_foreach(a, i, x) if (!strcmp(json_string_value(x), s)) return true;
    return false;
}

/* Go's %q of a []string: ["a" "b"]. Truncated (still NUL-terminated) when cap is short. */
static void quote_list(const json_t *a, char *out, size_t cap)
{
    size_t n = 0, i;
    json_t *x;

#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (n + 1 < cap)                                                                           \
            out[n++] = (ch);                                                                       \
    } while (0)
    PUT('[');
    json_array_foreach(a, i, x)
    {
        if (i)
            PUT(' ');
        PUT('"');
        for (const char *p = json_string_value(x); p && *p; p++) {
            if (*p == '"' || *p == '\\')
                PUT('\\');
            PUT(*p);
        }
        PUT('"');
    }
    PUT(']');
#undef PUT
    out[n] = '\0';
}

bool api_token_role_constrains(const json_t *role)
{
    for (size_t i = 0; i < sizeof(role_lists) / sizeof(role_lists[0]); i++)
        if (json_array_size(json_object_get(role, role_lists[i])))
            return true;
    return false;
}

static bool disallows(const json_t *role, const char *p)
{
    return list_has(json_object_get(role, "disallowed_policies"), p) ||
           auth_globs_match(json_object_get(role, "disallowed_policies_glob"), p, false);
}

/* Every policy of final lies in the role's allowed list or matches one of its globs. */
static int check_allowed(const json_t *role, const json_t *final, const json_t *allowed, char *err,
                         size_t errcap)
{
    json_t *globs = list_clean(json_object_get(role, "allowed_policies_glob"), false, true);
    char a[API_TOKEN_ROLE_ERR_MAX / 3], b[API_TOKEN_ROLE_ERR_MAX / 3],
        g[API_TOKEN_ROLE_ERR_MAX / 3];
    size_t i;
    json_t *p;
    int rc = globs ? TR_OK : TR_E_NOMEM;

    json_array_foreach(final, i, p)
    {
        const char *s = json_string_value(p);
        if (rc != TR_OK || list_has(allowed, s) || auth_globs_match(globs, s, false))
            continue;
        quote_list(final, a, sizeof(a));
        quote_list(allowed, b, sizeof(b));
        quote_list(globs, g, sizeof(g));
        snprintf(err, errcap,
                 "token policies (%s) must be subset of the role's allowed policies (%s) or "
                 "glob policies (%s)",
                 a, b, g);
        rc = TR_E_INVAL;
        break;
    }
    json_decref(globs);
    return rc;
}

int api_token_role_policies(const json_t *role, const json_t *asked, bool nodef,
                            const json_t *parent, json_t **out, char *err, size_t errcap)
{
    /* as Vault: "default" joins unless the request or the role says no, or the role forbids it */
    bool add_default = !nodef && !json_is_true(json_object_get(role, "token_no_default_policy")) &&
                       !disallows(role, "default");
    bool has_allowed = json_array_size(json_object_get(role, "allowed_policies")) ||
                       json_array_size(json_object_get(role, "allowed_policies_glob"));
    json_t *final = json_array_size(asked) ? list_clean(asked, add_default, true) : json_array();
    json_t *allowed = NULL;
    size_t i;
    json_t *p;
    int rc = TR_E_NOMEM;

    *out = NULL;
    err[0] = '\0';
    if (!final)
        goto out;
    if (has_allowed) {
        if (!(allowed = list_clean(json_object_get(role, "allowed_policies"), add_default, true)))
            goto out;
        if (!json_array_size(final)) {
            json_decref(final);
            final = json_incref(allowed);
        } else if ((rc = check_allowed(role, final, allowed, err, errcap)) != TR_OK) {
            goto out;
        }
    } else if (!json_array_size(final)) {
        json_decref(final);
        if (!(final = list_clean(parent, add_default, true)))
            goto out;
    }
    json_array_foreach(final, i, p)
    {
        if (disallows(role, json_string_value(p))) {
            snprintf(err, errcap, "token policy \"%s\" is disallowed by this role",
                     json_string_value(p));
            rc = TR_E_INVAL;
            goto out;
        }
    }
    *out = final;
    final = NULL;
    rc = TR_OK;
out:
    json_decref(final);
    json_decref(allowed);
    return rc;
}

/* ---- records --------------------------------------------------------------------------------- */

int api_token_role_load(struct api_call *c, const char *name, json_t **out)
{
    *out = NULL;
    if (!name_matches(name))
        return TR_E_INVAL;
    if (!role_name_ok(name))
        return TR_E_NOTFOUND;
    return api_get_json(c, API_T_TOKROLES, name, out, NULL);
}

bool api_token_role_exists(struct api_call *c)
{
    const char *name = c->path + strlen("auth/token/roles/");
    uint64_t ver = 0;

    if (strncmp(c->path, "auth/token/roles/", strlen("auth/token/roles/")) != 0 ||
        !role_name_ok(name) || !c->store)
        return false;
    return store_stat(c->store, API_T_TOKROLES, (const uint8_t *)name, strlen(name), &ver) == TR_OK;
}

static json_t *role_defaults(const char *name)
{
    return json_pack("{s:s, s:[], s:[], s:[], s:[], s:b, s:b, s:s, s:I, s:I, s:I, s:I, s:[], "
                     "s:[], s:I, s:b, s:s}",
                     "name", name, "allowed_policies", "disallowed_policies",
                     "allowed_policies_glob", "disallowed_policies_glob", "orphan", 0, "renewable",
                     1, "path_suffix", "", "token_period", (json_int_t)0, "period", (json_int_t)0,
                     "token_explicit_max_ttl", (json_int_t)0, "explicit_max_ttl", (json_int_t)0,
                     "token_bound_cidrs", "bound_cidrs", "token_num_uses", (json_int_t)0,
                     "token_no_default_policy", 0, "token_type", "default-service");
}

static bool present(const json_t *b, const char *key)
{
    const json_t *v = json_object_get(b, key);
    return v && !json_is_null(v);
}

/* The four policy lists: lower-cased, trimmed, sorted and deduplicated, as Vault stores them. */
static int set_lists(json_t *role, const json_t *b, const char **err)
{
    for (size_t i = 0; i < sizeof(role_lists) / sizeof(role_lists[0]); i++) {
        if (!present(b, role_lists[i]))
            continue;
        json_t *l = auth_str_list(json_object_get(b, role_lists[i]), true);
        json_t *clean = l ? list_clean(l, false, false) : NULL;
        json_decref(l);
        if (!clean) {
            *err = "Field validation failed: expected a list of strings";
            return TR_E_INVAL;
        }
        json_object_set_new(role, role_lists[i], clean);
    }
    return TR_OK;
}

static int set_bools(json_t *role, const json_t *b, const char **err)
{
    static const char *const keys[] = {"orphan", "renewable", "token_no_default_policy"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        bool v = false, bad = false;
        if (tr_json_get_bool(b, keys[i], &v, &bad))
            json_object_set_new(role, keys[i], json_boolean(v));
        if (bad) {
            *err = "Field validation failed: error converting input to a bool";
            return TR_E_INVAL;
        }
    }
    return TR_OK;
}

/* token_<key> wins over the deprecated <key>; the deprecated field keeps what it was given
 * only when it alone was sent (Vault's read shows both). */
static int set_duration(json_t *role, const json_t *b, const char *key, json_t *warnings,
                        const char **err)
{
    char tkey[64], msg[160];
    int64_t v = 0;
    bool bad = false, has_new, has_old;

    snprintf(tkey, sizeof(tkey), "token_%s", key);
    has_new = present(b, tkey);
    has_old = present(b, key);
    const json_t *raw = json_object_get(b, has_new ? tkey : key);
    const char *rs = json_string_value(raw);
    if ((json_is_number(raw) && json_number_value(raw) < 0) || (rs && rs[0] == '-'))
        v = -1; /* Vault parses a negative duration, then refuses it below */
    else if (has_new)
        tr_json_get_duration(b, tkey, &v, &bad);
    else if (has_old)
        tr_json_get_duration(b, key, &v, &bad);
    if (bad) {
        *err = "Field validation failed: error converting input to a duration";
        return TR_E_INVAL;
    }
    if (v < 0) {
        *err = !strcmp(key, "period")
                   ? "error parsing role fields: 'token_period' cannot be negative"
                   : "error parsing role fields: 'token_explicit_max_ttl' "
                     "cannot be negative";
        return TR_E_INVAL;
    }
    if (has_new) {
        json_object_set_new(role, tkey, json_integer(v));
        json_object_set_new(role, key, json_integer(0));
        if (has_old) {
            snprintf(msg, sizeof(msg),
                     "Both '%s' and deprecated '%s' value supplied, ignoring the deprecated value",
                     tkey, key);
            json_array_append_new(warnings, json_string(msg));
        }
    } else if (has_old) {
        json_object_set_new(role, tkey, json_integer(v));
        json_object_set_new(role, key, json_integer(v));
    }
    return TR_OK;
}

static int set_cidrs(json_t *role, const json_t *b, json_t *warnings, const char **err)
{
    bool has_new = present(b, "token_bound_cidrs"), has_old = present(b, "bound_cidrs");
    json_t *l;

    if (!has_new && !has_old)
        return TR_OK;
    l = auth_str_list(json_object_get(b, has_new ? "token_bound_cidrs" : "bound_cidrs"), false);
    if (!l || !auth_cidrs_valid(l)) {
        json_decref(l);
        *err = has_new ? "error parsing role fields: invalid CIDR block in token_bound_cidrs"
                       : "error parsing bound_cidrs: invalid CIDR block";
        return TR_E_INVAL;
    }
    json_object_set(role, "token_bound_cidrs", l);
    json_object_set_new(role, "bound_cidrs", has_new ? json_array() : json_incref(l));
    if (has_new && has_old)
        json_array_append_new(warnings,
                              json_string("Both 'token_bound_cidrs' and deprecated 'bound_cidrs' "
                                          "value supplied, ignoring the deprecated value"));
    json_decref(l);
    return TR_OK;
}

/* token_type: Vault's four values, of which Tresor makes service tokens only. */
static int set_type(json_t *role, const json_t *b, char *err, size_t errcap)
{
    const json_t *v = json_object_get(b, "token_type");
    const char *s = json_string_value(v);

    if (!v)
        return TR_OK;
    if (json_is_null(v)) {
        snprintf(err, errcap, "Invalid 'token_type' value: null");
        return TR_E_INVAL;
    }
    if (s && (!strcmp(s, "service") || !strcmp(s, "default-service"))) {
        json_object_set_new(role, "token_type", json_string(s));
        return TR_OK;
    }
    if (s && (!strcmp(s, "batch") || !strcmp(s, "default-batch")))
        snprintf(err, errcap, "batch tokens are not supported by Tresor");
    else
        snprintf(err, errcap, "invalid 'token_type' value \"%.64s\"", s ? s : "");
    return TR_E_INVAL;
}

/* Every other field: path_suffix, token_num_uses, and the refused allowed_entity_aliases. */
static int set_misc(json_t *role, const json_t *b, const char **err)
{
    const json_t *sfx = json_object_get(b, "path_suffix");
    int64_t uses = 0;
    bool bad = false;

    if (sfx && !json_is_null(sfx)) {
        const char *s = json_string_value(sfx);
        if (!s) {
            *err = "Field validation failed: path_suffix must be a string";
            return TR_E_INVAL;
        }
        if (*s && strstr(s, "..")) {
            *err = "error registering path suffix: path cannot contain parent references";
            return TR_E_INVAL;
        }
        if (*s && !suffix_ok(s)) {
            *err = "given role path suffix contains invalid characters; must match \\w[\\w-.]+\\w";
            return TR_E_INVAL;
        }
        json_object_set_new(role, "path_suffix", json_string(s));
    }
    if (tr_json_get_int(b, "token_num_uses", &uses, &bad) && !bad && uses < 0) {
        *err = "error parsing role fields: 'token_num_uses' cannot be negative";
        return TR_E_INVAL;
    }
    if (bad) {
        *err = "Field validation failed: error converting input to an int";
        return TR_E_INVAL;
    }
    if (present(b, "token_num_uses"))
        json_object_set_new(role, "token_num_uses", json_integer(uses));
    /* Tresor has no identity store, so no entity could ever be bound: refuse rather than store a
     * setting that would silently do nothing */
    json_t *aliases = present(b, "allowed_entity_aliases")
                          ? auth_str_list(json_object_get(b, "allowed_entity_aliases"), true)
                          : NULL;
    bool refused = present(b, "allowed_entity_aliases") && (!aliases || json_array_size(aliases));
    json_decref(aliases);
    if (refused) {
        *err = "allowed_entity_aliases is not supported by Tresor (no identity store)";
        return TR_E_INVAL;
    }
    return TR_OK;
}

/* The role as stored plus the request's fields, or NULL with err set. */
static json_t *role_merge(json_t *role, const json_t *b, json_t *warnings, char *err, size_t errcap)
{
    const char *msg = NULL;
    int rc;

    if ((rc = set_lists(role, b, &msg)) == TR_OK && (rc = set_bools(role, b, &msg)) == TR_OK &&
        (rc = set_duration(role, b, "period", warnings, &msg)) == TR_OK &&
        (rc = set_duration(role, b, "explicit_max_ttl", warnings, &msg)) == TR_OK &&
        (rc = set_cidrs(role, b, warnings, &msg)) == TR_OK &&
        (rc = set_misc(role, b, &msg)) == TR_OK)
        rc = set_type(role, b, err, errcap);
    else
        snprintf(err, errcap, "%s", msg ? msg : "invalid request");
    if (rc != TR_OK) {
        json_decref(role);
        return NULL;
    }
    return role;
}

/* ---- handlers -------------------------------------------------------------------------------- */

static void role_write(struct api_call *c)
{
    const char *name = c->path + strlen("auth/token/roles/");
    char err[API_TOKEN_ROLE_ERR_MAX];
    uint64_t ver = 0;
    json_t *role = NULL, *warnings = json_array();
    int rc = api_get_json(c, API_T_TOKROLES, name, &role, &ver);

    if (rc == TR_E_NOTFOUND) { /* a create: Vault's defaults for what is not given */
        ver = STORE_VERSION_ABSENT;
        rc = (role = role_defaults(name)) ? TR_OK : TR_E_NOMEM;
    }
    if (rc != TR_OK || !warnings) {
        api_reply_err(c, rc != TR_OK ? rc : TR_E_NOMEM);
        goto out;
    }
    if (!(role = role_merge(role, c->body, warnings, err, sizeof(err)))) {
        api_reply_error(c, 400, err);
        goto out;
    }
    if ((rc = api_put_json(c, API_T_TOKROLES, name, role, ver)) != TR_OK) {
        api_reply_err(c, rc);
        goto out;
    }
    if (json_array_size(warnings)) {
        api_reply_envelope(c, 200, NULL, NULL, warnings);
        warnings = NULL;
    } else {
        api_reply_status(c, 204);
    }
out:
    json_decref(role);
    json_decref(warnings);
}

static void role_delete(struct api_call *c)
{
    const char *name = c->path + strlen("auth/token/roles/");
    int rc =
        store_del(c->store, API_T_TOKROLES, (const uint8_t *)name, strlen(name), STORE_VERSION_ANY);

    if (rc != TR_OK && rc != TR_E_NOTFOUND) /* as Vault: deleting an absent role succeeds */
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}

static json_t *role_out(const json_t *r)
{
    json_t *d = json_object();
    static const char *const copy[] = {"period",
                                       "token_period",
                                       "explicit_max_ttl",
                                       "token_explicit_max_ttl",
                                       "disallowed_policies",
                                       "allowed_policies",
                                       "disallowed_policies_glob",
                                       "allowed_policies_glob",
                                       "name",
                                       "orphan",
                                       "path_suffix",
                                       "renewable",
                                       "token_type",
                                       "token_no_default_policy"};

    for (size_t i = 0; d && i < sizeof(copy) / sizeof(copy[0]); i++) {
        json_t *v = json_object_get(r, copy[i]);
        json_object_set_new(d, copy[i], v ? json_deep_copy(v) : json_null());
    }
    if (!d)
        return NULL;
    json_object_set_new(d, "allowed_entity_aliases", json_null());
    /* as Vault: these appear only when set */
    if (json_array_size(json_object_get(r, "token_bound_cidrs")))
        json_object_set_new(d, "token_bound_cidrs",
                            json_deep_copy(json_object_get(r, "token_bound_cidrs")));
    if (json_array_size(json_object_get(r, "bound_cidrs")))
        json_object_set_new(d, "bound_cidrs", json_deep_copy(json_object_get(r, "bound_cidrs")));
    if (json_integer_value(json_object_get(r, "token_num_uses")) > 0)
        json_object_set_new(d, "token_num_uses",
                            json_deep_copy(json_object_get(r, "token_num_uses")));
    return d;
}

static void role_read(struct api_call *c, const char *name)
{
    json_t *role = NULL;
    int rc = api_get_json(c, API_T_TOKROLES, name, &role, NULL);

    if (rc == TR_E_NOTFOUND)
        api_reply_error(c, 404, NULL);
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_data(c, 200, role_out(role));
    json_decref(role);
}

static void role_list(struct api_call *c)
{
    uint8_t after[STORE_KEY_MAX];
    size_t after_len = 0;
    json_t *keys = json_array();
    int rc = keys ? TR_OK : TR_E_NOMEM;

    while (rc == TR_OK) {
        struct store_list *l = NULL;
        struct store_list_opts lo = {.start_after = after_len ? after : NULL,
                                     .start_after_len = after_len};
        if ((rc = store_list(c->store, API_T_TOKROLES, &lo, &l)) != TR_OK)
            break;
        for (size_t i = 0; i < l->n; i++) {
            json_array_append_new(keys, json_stringn((const char *)l->e[i].key, l->e[i].key_len));
            after_len = l->e[i].key_len; /* <= STORE_KEY_MAX */
            memcpy(after, l->e[i].key, after_len);
        }
        bool more = l->truncated && l->n;
        store_list_free(l);
        if (!more)
            break;
    }
    if (rc != TR_OK) {
        json_decref(keys);
        api_reply_err(c, rc);
    } else {
        api_reply_keys(c, keys);
    }
}

void api_token_role_handle(struct api_call *c, const char *op)
{
    const char *name = op[5] == '/' ? op + 6 : "";

    if (!*name) { /* "roles" or "roles/": only LIST */
        if (c->method == API_LIST)
            role_list(c);
        else
            api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (!name_matches(name)) { /* as Vault: no route for such a name */
        api_reply_error(c, 404, "unsupported path");
        return;
    }
    if (!role_name_ok(name)) {
        api_reply_error(c, 400, "invalid role name: at most 128 characters");
        return;
    }
    if (c->method == API_GET)
        role_read(c, name);
    else if (c->method == API_PUT)
        api_defer(c, role_write);
    else if (c->method == API_DELETE)
        api_defer(c, role_delete);
    else
        api_reply_error(c, 405, "unsupported operation");
}
