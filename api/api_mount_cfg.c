/* Mount settings (api_mount_cfg.h): checking what enable and tune bodies give, as Vault's
 * logical/system handlers do, and rendering what the mount tables and tune reads show. Pure. */
#include "api_mount_cfg.h"

#include <stdio.h>
#include <string.h>

#include "../common/tr_json.h"

#define OPTS_MAX       16  /* keys of a mount's options */
#define OPT_KEY_MAX    64  /* bytes of an option key */
#define OPT_VAL_MAX    256 /* bytes of an option value */
#define LIST_ITEMS_MAX 64  /* entries of a header or key list */
#define LIST_ITEM_MAX  256 /* bytes of one entry */

/* The list settings Vault stores as given and shows back only when non-empty. */
static const char *const list_keys[] = {"audit_non_hmac_request_keys",
                                        "audit_non_hmac_response_keys",
                                        "passthrough_request_headers", "allowed_response_headers"};

int api_mount_ttl_parse(const json_t *v, int64_t *out, bool *out_set)
{
    const char *s = json_string_value(v);
    int64_t n = 0;

    if (!v || json_is_null(v) || (s && !*s)) {
        *out_set = false;
        return TR_OK;
    }
    if (json_is_integer(v))
        n = json_integer_value(v);
    else if (s && strcmp(s, "system") == 0)
        n = 0; /* the system's value */
    else if (!s || !tr_parse_duration(s, &n))
        return TR_E_INVAL;
    if (n < 0)
        return TR_E_INVAL;
    *out = n;
    *out_set = true;
    return TR_OK;
}

/* Vault's wording for a TTL that does not parse (what names "default" or "max"). */
static void ttl_err(char *err, size_t cap, const char *what, const json_t *v)
{
    const char *s = json_string_value(v);

    if (s)
        snprintf(err, cap, "unable to parse %s TTL of %.64s: time: invalid duration \"%.64s\"",
                 what, s, s);
    else if (json_is_integer(v))
        snprintf(err, cap, "unable to parse %s TTL of %lld: negative durations are not allowed",
                 what, (long long)json_integer_value(v));
    else
        snprintf(err, cap,
                 "unable to parse %s TTL: expected whole seconds, a duration string or \"system\"",
                 what);
}

/* A list of strings: a JSON array or a comma-separated string, entries trimmed and empty ones
 * dropped. NULL when v has another type or breaks the bounds. */
static bool list_add(json_t *out, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return true;
    if (n > LIST_ITEM_MAX || json_array_size(out) >= LIST_ITEMS_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) /* also NUL: C and JSON would differ */
            return false;
    return json_array_append_new(out, json_stringn(s, n)) == 0;
}

static json_t *list_parse(const json_t *v)
{
    json_t *out = json_array(), *x;
    bool ok = out != NULL;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            ok = ok && json_is_string(x) &&
                 list_add(out, json_string_value(x), json_string_length(x));
        }
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v), *end = s + json_string_length(v);
        while (ok && s) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            ok = list_add(out, s, comma ? (size_t)(comma - s) : (size_t)(end - s));
            s = comma ? comma + 1 : NULL;
        }
    } else {
        ok = false;
    }
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* The lists and listing_visibility from src (a config object or a tune body) into cfg. Present
 * keys replace; an empty value removes the setting. */
static int lists_apply(json_t *cfg, const json_t *src, char *err, size_t cap)
{
    for (size_t i = 0; i < sizeof(list_keys) / sizeof(list_keys[0]); i++) {
        const json_t *v = json_object_get(src, list_keys[i]);
        json_t *l;
        if (!v || json_is_null(v))
            continue;
        if (!(l = list_parse(v))) {
            snprintf(err, cap, "%s must be a list of strings (at most %d of at most %d bytes)",
                     list_keys[i], LIST_ITEMS_MAX, LIST_ITEM_MAX);
            return TR_E_INVAL;
        }
        if (json_array_size(l))
            json_object_set_new(cfg, list_keys[i], l);
        else {
            json_object_del(cfg, list_keys[i]);
            json_decref(l);
        }
    }
    const json_t *lv = json_object_get(src, "listing_visibility");
    const char *s = json_string_value(lv);
    if (!lv || json_is_null(lv))
        return TR_OK;
    if (!s || (*s && strcmp(s, "hidden") != 0 && strcmp(s, "unauth") != 0)) {
        snprintf(err, cap, "invalid listing_visibility %.64s", s ? s : "(not a string)");
        return TR_E_INVAL;
    }
    if (*s)
        json_object_set_new(cfg, "listing_visibility", json_string(s));
    else
        json_object_del(cfg, "listing_visibility");
    return TR_OK;
}

/* token_type of an auth mount: Vault's values; batch kinds are refused (logins mint service
 * tokens only), "default-service" is the default and not stored. */
static int token_type_apply(json_t *cfg, const json_t *v, const struct api_mount_kind_info *k,
                            char *err, size_t cap)
{
    const char *s = json_string_value(v);

    if (!v || json_is_null(v))
        return TR_OK;
    if (!k->auth) {
        snprintf(err, cap, "'token_type' can only be modified on auth mounts");
        return TR_E_INVAL;
    }
    if (strcmp(k->type, "token") == 0) {
        snprintf(err, cap, "'token_type' cannot be set for 'token' or 'ns_token' auth mounts");
        return TR_E_INVAL;
    }
    if (s && (!*s || strcmp(s, "default-service") == 0)) {
        json_object_del(cfg, "token_type");
        return TR_OK;
    }
    if (s && strcmp(s, "service") == 0) {
        json_object_set_new(cfg, "token_type", json_string("service"));
        return TR_OK;
    }
    if (s && (strcmp(s, "batch") == 0 || strcmp(s, "default-batch") == 0)) {
        snprintf(err, cap,
                 "batch tokens are not supported by Tresor: token_type must be "
                 "\"default-service\" or \"service\"");
        return TR_E_UNSUPPORTED;
    }
    snprintf(err, cap, "invalid value for 'token_type'");
    return TR_E_INVAL;
}

/* Settings Vault has that Tresor cannot honour: refused when given a non-empty value. */
static int unsupported_check(const json_t *src, char *err, size_t cap)
{
    const json_t *pv = json_object_get(src, "plugin_version");
    const json_t *ul = json_object_get(src, "user_lockout_config");
    const json_t *mk = json_object_get(src, "allowed_managed_keys");

    if (json_is_string(pv) && json_string_length(pv) > 0) {
        snprintf(err, cap, "plugin_version cannot be set: Tresor's engines are built in");
        return TR_E_UNSUPPORTED;
    }
    if (ul && !json_is_null(ul) && (!json_is_object(ul) || json_object_size(ul))) {
        snprintf(err, cap, "user lockout configuration is not supported by Tresor");
        return TR_E_UNSUPPORTED;
    }
    if ((json_is_array(mk) && json_array_size(mk)) ||
        (json_is_string(mk) && json_string_length(mk))) {
        snprintf(err, cap, "allowed_managed_keys is not supported by Tresor (no managed keys)");
        return TR_E_UNSUPPORTED;
    }
    return TR_OK;
}

static void ttls_store(json_t *cfg, int64_t def, int64_t max)
{
    if (def)
        json_object_set_new(cfg, "default_lease_ttl", json_integer(def));
    else
        json_object_del(cfg, "default_lease_ttl");
    if (max)
        json_object_set_new(cfg, "max_lease_ttl", json_integer(max));
    else
        json_object_del(cfg, "max_lease_ttl");
}

/* Vault's enable checks (logical/system handleMount), plus Tresor's bound on the max. */
static int ttls_check_enable(int64_t def, int64_t max, char *err, size_t cap)
{
    if (max != 0 && def > max)
        snprintf(err, cap, "given default lease TTL greater than given max lease TTL");
    else if (def > API_SYS_MAX_TTL && max == 0)
        snprintf(err, cap, "given default lease TTL greater than system max lease TTL of %d",
                 API_SYS_MAX_TTL);
    else if (max > API_SYS_MAX_TTL)
        snprintf(err, cap, "given max lease TTL greater than system max lease TTL of %d",
                 API_SYS_MAX_TTL);
    else
        return TR_OK;
    return TR_E_INVAL;
}

int api_mount_cfg_enable(const json_t *config, const struct api_mount_kind_info *k,
                         json_t **out_config, char *err, size_t cap)
{
    json_t *cfg = json_object();
    int64_t def = 0, max = 0;
    bool set = false, nc = false, bad = false;
    int rc = TR_E_INVAL;

    *out_config = NULL;
    if (!cfg)
        return TR_E_NOMEM;
    if (config && !json_is_null(config) && !json_is_object(config)) {
        snprintf(err, cap, "unable to convert given mount config information");
        goto out;
    }
    if (api_mount_ttl_parse(json_object_get(config, "default_lease_ttl"), &def, &set) != TR_OK) {
        ttl_err(err, cap, "default", json_object_get(config, "default_lease_ttl"));
        goto out;
    }
    if (api_mount_ttl_parse(json_object_get(config, "max_lease_ttl"), &max, &set) != TR_OK) {
        ttl_err(err, cap, "max", json_object_get(config, "max_lease_ttl"));
        goto out;
    }
    if ((rc = ttls_check_enable(def, max, err, cap)) != TR_OK)
        goto out;
    rc = TR_E_INVAL;
    ttls_store(cfg, def, max);
    if (tr_json_get_bool(config, "force_no_cache", &nc, &bad) && nc)
        json_object_set_new(cfg, "force_no_cache", json_true());
    if (bad) {
        snprintf(err, cap, "unable to convert given mount config information");
        goto out;
    }
    if ((rc = lists_apply(cfg, config, err, cap)) != TR_OK ||
        (rc = unsupported_check(config, err, cap)) != TR_OK)
        goto out;
    /* Vault's secrets-engine enable ignores a token_type; an auth enable checks it */
    if (k->auth &&
        (rc = token_type_apply(cfg, json_object_get(config, "token_type"), k, err, cap)) != TR_OK)
        goto out;
    *out_config = cfg;
    cfg = NULL;
    rc = TR_OK;
out:
    json_decref(cfg);
    return rc;
}

/* One option value as Vault's string map takes it; NULL for a type it refuses. */
static json_t *opt_value(const json_t *v)
{
    char buf[32];

    if (json_is_string(v))
        return json_string_length(v) <= OPT_VAL_MAX &&
                       !memchr(json_string_value(v), '\0', json_string_length(v))
                   ? json_stringn(json_string_value(v), json_string_length(v))
                   : NULL;
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return json_string(buf);
    }
    if (json_is_boolean(v))
        return json_string(json_is_true(v) ? "true" : "false");
    if (json_is_null(v))
        return json_string("");
    return NULL;
}

int api_mount_opts_parse(const json_t *options, json_t **out, char *err, size_t cap)
{
    json_t *o = json_object();
    const char *key;
    json_t *v;

    *out = NULL;
    if (!o)
        return TR_E_NOMEM;
    if (!options || json_is_null(options)) {
        *out = o;
        return TR_OK;
    }
    if (!json_is_object(options) || json_object_size(options) > OPTS_MAX)
        goto bad;
    json_object_foreach((json_t *)options, key, v)
    {
        json_t *s = opt_value(v);
        size_t n = strlen(key);
        if (!s || n == 0 || n > OPT_KEY_MAX) {
            json_decref(s);
            goto bad;
        }
        json_object_set_new(o, key, s);
    }
    *out = o;
    return TR_OK;
bad:
    json_decref(o);
    snprintf(err, cap,
             "options must be a map of strings (at most %d keys of at most %d bytes, "
             "values of at most %d bytes)",
             OPTS_MAX, OPT_KEY_MAX, OPT_VAL_MAX);
    return TR_E_INVAL;
}

/* ---- tune ------------------------------------------------------------------------------- */

static json_t *rec_config(json_t *rec)
{
    json_t *cfg = json_object_get(rec, "config");

    if (!json_is_object(cfg)) {
        cfg = json_object();
        if (!cfg || json_object_set_new(rec, "config", cfg) != 0)
            return NULL;
    }
    return cfg;
}

static int64_t cfg_int(const json_t *cfg, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(cfg, key));
    return v > 0 ? (int64_t)v : 0;
}

/* The TTLs of a tune: "" (or absent) keeps the stored value, "system" resets it. Vault checks
 * only that a new max is not below a new default; Tresor also keeps both within the system max. */
static int ttls_tune(json_t *cfg, const json_t *body, char *err, size_t cap)
{
    int64_t def = cfg_int(cfg, "default_lease_ttl"), max = cfg_int(cfg, "max_lease_ttl"), v = 0;
    bool set = false;

    if (api_mount_ttl_parse(json_object_get(body, "default_lease_ttl"), &v, &set) != TR_OK) {
        ttl_err(err, cap, "default", json_object_get(body, "default_lease_ttl"));
        return TR_E_INVAL;
    }
    if (set)
        def = v;
    if (api_mount_ttl_parse(json_object_get(body, "max_lease_ttl"), &v, &set) != TR_OK) {
        ttl_err(err, cap, "max", json_object_get(body, "max_lease_ttl"));
        return TR_E_INVAL;
    }
    if (set)
        max = v;
    if (def && max && max < def)
        snprintf(err, cap,
                 "backend max lease TTL of %lld would be less than backend default lease TTL of "
                 "%lld",
                 (long long)max, (long long)def);
    else if (def > API_SYS_MAX_TTL)
        snprintf(err, cap,
                 "backend default lease TTL of %lld would be greater than the system max lease "
                 "TTL of %d",
                 (long long)def, API_SYS_MAX_TTL);
    else if (max > API_SYS_MAX_TTL)
        snprintf(err, cap,
                 "backend max lease TTL of %lld would be greater than the system max lease TTL "
                 "of %d",
                 (long long)max, API_SYS_MAX_TTL);
    else {
        ttls_store(cfg, def, max);
        return TR_OK;
    }
    return TR_E_INVAL;
}

/* options.version of a tune against the stored one (Vault's rules; the upgrade is refused). */
static int version_tune(const json_t *rec, const char *want, const struct api_mount_kind_info *k,
                        int64_t *out_v, char *err, size_t cap)
{
    const char *cur =
        json_string_value(json_object_get(json_object_get(rec, "options"), "version"));
    int64_t have = cur && strcmp(cur, "2") == 0 ? 2 : 1, v = 0;

    if (k->auth || strcmp(k->type, "kv") != 0) {
        snprintf(err, cap, "%s \"%.32s\" does not allow setting a version",
                 k->auth ? "auth method" : "secrets engine", k->type);
        return TR_E_INVAL;
    }
    if (*want && !tr_parse_int64(want, &v)) {
        snprintf(err, cap, "unable to parse options: version \"%.32s\" is not a number", want);
        return TR_E_INVAL;
    }
    if (v != 1 && v != 2) {
        snprintf(err, cap, "invalid version provided: %lld", (long long)v);
        return TR_E_INVAL;
    }
    if (have > v) {
        snprintf(err, cap, "cannot downgrade mount from version %lld", (long long)have);
        return TR_E_INVAL;
    }
    if (have < v) {
        snprintf(err, cap,
                 "upgrading a KV version 1 mount to version 2 is not supported by "
                 "Tresor: enable a kv-v2 mount and copy the secrets into it");
        return TR_E_UNSUPPORTED;
    }
    *out_v = v;
    return TR_OK;
}

static int options_tune(json_t *rec, const json_t *body, const struct api_mount_kind_info *k,
                        char *err, size_t cap)
{
    json_t *given = NULL, *opts, *v;
    const char *key;
    int64_t ver = 0;
    int rc;

    if ((rc = api_mount_opts_parse(json_object_get(body, "options"), &given, err, cap)) != TR_OK)
        return rc;
    rc = TR_OK;
    if (json_object_size(given) == 0) /* Vault: only a non-empty map changes anything */
        goto out;
    if ((v = json_object_get(given, "version")) &&
        (rc = version_tune(rec, json_string_value(v), k, &ver, err, cap)) != TR_OK)
        goto out;
    opts = json_object_get(rec, "options");
    if (!json_is_object(opts)) {
        rc = TR_E_NOMEM;
        if (!(opts = json_object()) || json_object_set_new(rec, "options", opts) != 0)
            goto out;
        rc = TR_OK;
    }
    json_object_foreach(given, key, v)
    {
        if (strcmp(key, "version") == 0) /* normalised: the mount table reads "1" or "2" */
            json_object_set_new(opts, key, json_string(ver == 2 ? "2" : "1"));
        else if (json_string_length(v) == 0)
            json_object_del(opts, key);
        else
            json_object_set(opts, key, v);
    }
    if (json_object_size(opts) > OPTS_MAX) {
        snprintf(err, cap, "options must be a map of strings (at most %d keys)", OPTS_MAX);
        rc = TR_E_INVAL;
    }
out:
    json_decref(given);
    return rc;
}

static int description_tune(json_t *rec, const json_t *body, char *err, size_t cap)
{
    const json_t *d = json_object_get(body, "description");

    if (!d || json_is_null(d))
        return TR_OK;
    if (!json_is_string(d) || json_string_length(d) > API_MOUNT_DESC_MAX ||
        memchr(json_string_value(d), '\0', json_string_length(d))) {
        snprintf(err, cap, "description must be a string of at most %d bytes", API_MOUNT_DESC_MAX);
        return TR_E_INVAL;
    }
    json_object_set_new(rec, "description", json_string(json_string_value(d)));
    return TR_OK;
}

int api_mount_cfg_tune(json_t *rec, const json_t *body, const struct api_mount_kind_info *k,
                       char *err, size_t cap)
{
    json_t *cfg = rec_config(rec);
    int rc;

    if (!cfg)
        return TR_E_NOMEM;
    if ((rc = unsupported_check(body, err, cap)) != TR_OK ||
        (rc = ttls_tune(cfg, body, err, cap)) != TR_OK ||
        (rc = description_tune(rec, body, err, cap)) != TR_OK ||
        (rc = lists_apply(cfg, body, err, cap)) != TR_OK ||
        (rc = token_type_apply(cfg, json_object_get(body, "token_type"), k, err, cap)) != TR_OK)
        return rc;
    return options_tune(rec, body, k, err, cap);
}

/* ---- rendering ------------------------------------------------------------------------- */

/* The stored lists and listing_visibility of cfg into out. */
static void lists_out(const json_t *cfg, json_t *out)
{
    for (size_t i = 0; i < sizeof(list_keys) / sizeof(list_keys[0]); i++) {
        const json_t *l = json_object_get(cfg, list_keys[i]);
        if (json_is_array(l) && json_array_size(l))
            json_object_set_new(out, list_keys[i], json_deep_copy(l));
    }
    const char *lv = tr_json_get_str(cfg, "listing_visibility");
    if (lv && *lv)
        json_object_set_new(out, "listing_visibility", json_string(lv));
}

static const char *token_type_of(const json_t *cfg)
{
    const char *t = tr_json_get_str(cfg, "token_type");
    return t && *t ? t : "default-service";
}

json_t *api_mount_cfg_list_json(const json_t *rec, bool auth)
{
    const json_t *cfg = json_object_get(rec, "config");
    json_t *o = json_pack("{s:I, s:I, s:b}", "default_lease_ttl",
                          (json_int_t)cfg_int(cfg, "default_lease_ttl"), "max_lease_ttl",
                          (json_int_t)cfg_int(cfg, "max_lease_ttl"), "force_no_cache",
                          json_is_true(json_object_get(cfg, "force_no_cache")));

    if (!o)
        return NULL;
    lists_out(cfg, o);
    if (auth)
        json_object_set_new(o, "token_type", json_string(token_type_of(cfg)));
    return o;
}

json_t *api_mount_cfg_options_json(const json_t *rec)
{
    const json_t *o = json_object_get(rec, "options");
    return json_is_object(o) && json_object_size(o) ? json_deep_copy(o) : json_null();
}

/* A stored accessor is shown only if it looks like one: the record is ours, but a malformed
 * value must not reach the tables (or a client's parser) as it is. */
static bool accessor_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n >= API_MOUNT_ACCESSOR_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || s[i] == '-' || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

void api_mount_accessor(const json_t *rec, const char *type, const char *uuid, char *out,
                        size_t cap)
{
    const char *acc = tr_json_get_str(rec, "accessor");

    if (!cap)
        return;
    if (accessor_ok(acc))
        snprintf(out, cap, "%s", acc);
    else /* enabled before accessors were stored: the same derivation as at enable */
        snprintf(out, cap, "%s_%.8s", type ? type : "", uuid ? uuid : "");
}

void api_mount_cfg_ttls(const json_t *rec, int64_t *out_def, int64_t *out_max)
{
    const json_t *cfg = json_object_get(rec, "config");
    int64_t def = cfg_int(cfg, "default_lease_ttl"), max = cfg_int(cfg, "max_lease_ttl");

    *out_def = def ? def : API_SYS_DEFAULT_TTL;
    *out_max = max ? max : API_SYS_MAX_TTL;
}

json_t *api_mount_cfg_tune_json(const json_t *rec, bool auth)
{
    const json_t *cfg = json_object_get(rec, "config");
    const char *desc = tr_json_get_str(rec, "description");
    int64_t def, max;
    json_t *o;

    api_mount_cfg_ttls(rec, &def, &max);
    o = json_pack("{s:s, s:I, s:I, s:b}", "description", desc ? desc : "", "default_lease_ttl",
                  (json_int_t)def, "max_lease_ttl", (json_int_t)max, "force_no_cache",
                  json_is_true(json_object_get(cfg, "force_no_cache")));
    if (!o)
        return NULL;
    if (auth)
        json_object_set_new(o, "token_type", json_string(token_type_of(cfg)));
    lists_out(cfg, o);
    json_t *opts = api_mount_cfg_options_json(rec);
    if (json_is_object(opts))
        json_object_set_new(o, "options", opts);
    else
        json_decref(opts);
    return o;
}
