/* Logical sys/ endpoints (token and ACL checked): seal, mounts, the CLI's KV preflight,
 * policies, capabilities, key status and rotation, metrics, storage backup. */
#include "api_int.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"
#include "api_caps.h"
#include "api_mount_cfg.h"
#include "api_sys_node.h"

/* ---- seal ------------------------------------------------------------------------------- */

static void sys_seal(struct api_call *c)
{
    unsigned caps = api_acl_capabilities(c->acl, "sys/seal");

    if (c->method != API_PUT) {
        api_reply_error(c, 405, NULL);
        return;
    }
    if (!(caps & (API_CAP_SUDO | API_CAP_ROOT))) {
        api_reply_error(c, 403, "permission denied");
        return;
    }
    if (!api_audit_response_early(c, 204)) {
        api_reply_error(c, 503, "audit log unavailable");
        return;
    }
    /* drop this call's own store reference first: sealing waits for all of them */
    api_core_store_unref(c->api, c->store);
    c->store = NULL;
    api_core_seal(c->api, ENC_REASON_OPERATOR);
    tr_log_info("sealed by operator request");
    api_reply_status(c, 204);
}

/* ---- mounts ----------------------------------------------------------------------------- */

/* A mount as Vault's mount table shows it; rec is its stored record (borrowed; NULL: as
 * enabled before config was stored), the source of description, config and options. */
static json_t *mount_json(const struct api_mount *m, const json_t *rec)
{
    const char *desc = tr_json_get_str(rec, "description");
    json_t *opts = api_mount_cfg_options_json(rec);
    char acc[API_MOUNT_ACCESSOR_MAX];

    if (json_is_null(opts) && m->kind != API_MOUNT_TRANSIT) { /* KV always shows its version */
        json_decref(opts);
        opts = json_pack("{s:s}", "version", m->kind == API_MOUNT_KV2 ? "2" : "1");
    }
    api_mount_accessor(rec, m->type, m->uuid, acc, sizeof(acc));
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:b, s:b}", "type", m->type,
                     "description", desc ? desc : m->description, "accessor", acc, "uuid", m->uuid,
                     "config", api_mount_cfg_list_json(rec, false), "options", opts, "local", 0,
                     "seal_wrap", 0, "external_entropy_access", 0);
}

/* The mount at exactly path with its record, or NULL when none is there. */
static json_t *mount_json_at(struct api *api, const char *path)
{
    struct api_mount m;
    json_t *rec, *o = NULL;

    if (!api_mount_find(api, path, &m) || strcmp(m.path, path) != 0)
        return NULL;
    rec = api_mount_record_copy(api, m.path);
    o = mount_json(&m, rec);
    json_decref(rec);
    return o;
}

static void mounts_list(struct api_call *c)
{
    json_t *data = json_object();
    struct api *api = c->api;

    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->nmounts; i++)
        json_object_set_new(data, api->mounts[i].path,
                            mount_json(&api->mounts[i], api->mounts[i].config));
    pthread_mutex_unlock(&api->lock);
    json_object_set_new(data, "sys/",
                        json_pack("{s:s, s:s, s:s, s:{s:i, s:i}, s:n, s:b, s:b}", "type", "system",
                                  "description", "system endpoints", "accessor", "system", "config",
                                  "default_lease_ttl", 0, "max_lease_ttl", 0, "options", "local", 0,
                                  "seal_wrap", 0));
    api_reply_data_top(c, data);
}

static bool mount_path_ok(const char *p)
{
    static const char *const reserved[] = {"sys/", "auth/", "cubbyhole/", "identity/", "audit/"};
    size_t n = strlen(p);

    if (n < 2 || n > 200 || p[n - 1] != '/' || p[0] == '/')
        return false;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strncmp(p, reserved[i], strlen(reserved[i])) == 0)
            return false;
    for (size_t i = 0; i < n; i++)
        if (!(p[i] == '/' || p[i] == '-' || p[i] == '_' || p[i] == '.' ||
              (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
              (p[i] >= '0' && p[i] <= '9')))
            return false;
    return true;
}

/* Vault refuses a mount that overlaps an existing one either way ("a/" vs "a/b/"): a nested
 * mount would shadow part of the outer mount's paths. Copies the conflicting path to out. */
static bool mount_overlaps(struct api *api, const char *path, char *out, size_t cap)
{
    bool hit = false;

    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->nmounts && !hit; i++) {
        const char *m = api->mounts[i].path;
        if (!strncmp(m, path, strlen(path)) || !strncmp(path, m, strlen(m))) {
            snprintf(out, cap, "%s", m);
            hit = true;
        }
    }
    pthread_mutex_unlock(&api->lock);
    return hit;
}

/* Serialises check-then-create of mounts so two concurrent enables cannot both pass the overlap
 * check (api_mount_create reloads the mount table before returning). */
static pthread_mutex_t mount_create_lock = PTHREAD_MUTEX_INITIALIZER;

/* options.version as Vault takes it: a string or a number, "" or absent meaning unset. The
 * answer is "1", "2", "" (unset) or NULL (anything else). */
static const char *mount_version(const json_t *opts)
{
    const json_t *v = json_object_get(opts, "version");
    const char *s = json_string_value(v);

    if (!v || json_is_null(v) || (s && !*s))
        return "";
    if ((s && !strcmp(s, "1")) || (json_is_integer(v) && json_integer_value(v) == 1))
        return "1";
    if ((s && !strcmp(s, "2")) || (json_is_integer(v) && json_integer_value(v) == 2))
        return "2";
    return NULL;
}

/* The record of a new mount from an enable body: {type, description, options, config}, after
 * Vault's checks (config first, as Vault). NULL with err (cap bytes) set when refused. */
static json_t *mount_record_new(const json_t *body, char *err, size_t cap)
{
    const char *type = tr_json_get_str(body, "type");
    const char *ver = mount_version(json_object_get(body, "options"));
    const json_t *dj = json_object_get(body, "description");
    json_t *cfg = NULL, *opts = NULL;

    if (api_mount_cfg_enable(json_object_get(body, "config"),
                             &(struct api_mount_kind_info){.auth = false, .type = type ? type : ""},
                             &cfg, err, cap) != TR_OK)
        return NULL;
    if (!type || !*type) {
        snprintf(err, cap, "backend type must be specified as a string");
        goto fail;
    }
    if (!strcmp(type, "kv-v2") || !strcmp(type, "kv-v1")) {
        ver = type[4] == '2' ? "2" : "1"; /* the alias wins over options, as in Vault */
        type = "kv";
    }
    if (strcmp(type, "kv") != 0 && strcmp(type, "transit") != 0) {
        snprintf(err, cap, "plugin not found in the catalog");
        goto fail;
    }
    /* A version that is not 1 or 2 (or one given to transit) used to give a KV v1 mount
     * silently: the client would then address the wrong paths. */
    if (!ver || (*ver && strcmp(type, "kv") != 0)) {
        if (ver)
            snprintf(err, cap, "secrets engine \"%s\" does not allow setting a version", type);
        else
            snprintf(err, cap, "invalid options.version: must be 1 or 2");
        goto fail;
    }
    if (dj && !json_is_null(dj) &&
        (!json_is_string(dj) || json_string_length(dj) > API_MOUNT_DESC_MAX ||
         memchr(json_string_value(dj), '\0', json_string_length(dj)))) {
        snprintf(err, cap, "description must be a string of at most %d bytes", API_MOUNT_DESC_MAX);
        goto fail;
    }
    if (api_mount_opts_parse(json_object_get(body, "options"), &opts, err, cap) != TR_OK)
        goto fail;
    if (!strcmp(type, "kv"))
        json_object_set_new(opts, "version", json_string(!strcmp(ver, "2") ? "2" : "1"));
    else
        json_object_del(opts, "version"); /* "" given to transit: unset */
    return json_pack("{s:s, s:s, s:o, s:o}", "type", type, "description",
                     json_is_string(dj) ? json_string_value(dj) : "", "options", opts, "config",
                     cfg);
fail:
    json_decref(cfg);
    return NULL;
}

static void mount_enable(struct api_call *c, const char *path)
{
    char err[API_MOUNT_ERR_MAX] = "";
    json_t *o = mount_record_new(c->body, err, sizeof(err));

    if (!o) {
        if (*err)
            api_reply_error(c, 400, err);
        else
            api_reply_err(c, TR_E_NOMEM);
        return;
    }
    char *text = json_dumps(o, JSON_COMPACT);
    char used[256];
    int rc;
    json_decref(o);
    pthread_mutex_lock(&mount_create_lock);
    if (mount_overlaps(c->api, path, used, sizeof(used)))
        rc = TR_E_EXISTS;
    else
        rc = text ? api_mount_create(c->api, c->store, path, text) : TR_E_NOMEM;
    pthread_mutex_unlock(&mount_create_lock);
    free(text);
    if (rc == TR_E_EXISTS) {
        char msg[300];
        snprintf(msg, sizeof(msg), "path is already in use at %s",
                 mount_overlaps(c->api, path, used, sizeof(used)) ? used : path);
        api_reply_error(c, 409, msg); /* Vault: logical.CodedError(409, ...) */
    } else if (rc == TR_E_LIMIT) {
        char msg[400];
        snprintf(msg, sizeof(msg), "cannot mount \"%s\": Tresor holds at most %d secrets engines",
                 path, API_MOUNTS_MAX);
        api_reply_error(c, 400, msg);
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    } else {
        api_reply_status(c, 204);
    }
}

/* Delete every KV record of a mount, in bounded batches. */
static int mount_purge(struct store *st, const char *uuid)
{
    static const char *const tables[] = {API_T_KVMETA, API_T_KVDATA, API_T_TRANSIT};
    char prefix[40];
    int rc = TR_OK;

    snprintf(prefix, sizeof(prefix), "%s/", uuid);
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]) && rc == TR_OK; t++) {
        for (;;) {
            struct store_list *l = NULL;
            struct store_list_opts lo = {
                .prefix = (const uint8_t *)prefix, .prefix_len = strlen(prefix), .limit = 512};
            if ((rc = store_list(st, tables[t], &lo, &l)) != TR_OK)
                break;
            size_t n = l->n;
            struct store_op *ops = calloc(n ? n : 1, sizeof(*ops));
            for (size_t i = 0; ops && i < n; i++)
                ops[i] =
                    (struct store_op){STORE_OP_DEL, tables[t], l->e[i].key,      l->e[i].key_len,
                                      NULL,         0,         STORE_VERSION_ANY};
            rc = !ops ? TR_E_NOMEM : n ? store_write(st, ops, n, NULL) : TR_OK;
            free(ops);
            store_list_free(l);
            if (rc != TR_OK || n == 0)
                break;
        }
    }
    return rc;
}

static void mount_disable(struct api_call *c, const char *path)
{
    struct api_mount m;
    int rc;

    if (!api_mount_find(c->api, path, &m) || strcmp(m.path, path) != 0) {
        api_reply_status(c, 204); /* Vault: disabling a missing mount succeeds */
        return;
    }
    rc = store_del(c->store, API_T_MOUNTS, (const uint8_t *)path, strlen(path), STORE_VERSION_ANY);
    if (rc == TR_OK)
        rc = api_mounts_reload(c->api, c->store);
    if (rc == TR_OK)
        rc = mount_purge(c->store, m.uuid);
    if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}

static void sys_mounts_pool(struct api_call *c)
{
    char path[256];
    const char *p = c->path + strlen("sys/mounts/");
    size_t n = strlen(p); /* "sys/mounts/" leaves it empty: "/", refused below */

    snprintf(path, sizeof(path), "%s%s", p, n && p[n - 1] == '/' ? "" : "/");
    if (!mount_path_ok(path)) {
        api_reply_error(c, 400, "invalid mount path");
        return;
    }
    if (c->method == API_PUT)
        mount_enable(c, path);
    else
        mount_disable(c, path);
}

static void sys_mounts(struct api_call *c)
{
    json_t *b;

    if (!api_body_object(c, &b))
        return;
    if (!strcmp(c->path, "sys/mounts")) {
        if (c->method == API_GET)
            mounts_list(c);
        else
            api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (api_mount_is_tune_path(c->path + strlen("sys/mounts/"))) {
        api_mount_tune(c); /* api_mount_tune.c; also auth/<name>/tune, as Vault */
    } else if (c->method == API_GET) {
        char path[256];
        const char *p = c->path + strlen("sys/mounts/");
        size_t n = strlen(p); /* "sys/mounts/" leaves it empty: "/", not found */
        snprintf(path, sizeof(path), "%s%s", p, n && p[n - 1] == '/' ? "" : "/");
        json_t *d = mount_json_at(c->api, path);
        if (d)
            api_reply_data_top(c, d);
        else
            api_reply_error(c, 400, "no matching mount");
    } else if (c->method == API_PUT || c->method == API_DELETE) {
        api_defer(c, sys_mounts_pool);
    } else {
        api_reply_error(c, 405, "unsupported operation");
    }
}

/* GET sys/internal/ui/mounts: Vault's shape ({"secret":{...},"auth":{...}}) with only the
 * mounts the token can reach, so that the listing tells a token nothing about mounts it has no
 * access to (the CLI's preflight below refuses those too), plus those an operator tuned to
 * listing_visibility "unauth" (Vault lists them to anyone). */
static void ui_mounts_list(struct api_call *c)
{
    json_t *secret = json_object(), *auth = json_object();
    struct api *api = c->api;

    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->nmounts; i++) {
        const json_t *rec = api->mounts[i].config;
        /* as Vault: listing_visibility "unauth" shows a mount to every token */
        const char *lv = tr_json_get_str(json_object_get(rec, "config"), "listing_visibility");
        if (api_acl_has_mount_access(c->acl, api->mounts[i].path) || (lv && !strcmp(lv, "unauth")))
            json_object_set_new(secret, api->mounts[i].path, mount_json(&api->mounts[i], rec));
    }
    pthread_mutex_unlock(&api->lock);
    if (api_acl_has_mount_access(c->acl, "auth/token/"))
        json_object_set_new(auth, "token/",
                            json_pack("{s:s, s:s, s:s, s:n}", "type", "token", "description",
                                      "token based credentials", "accessor", "auth_token",
                                      "options"));
    api_reply_data(c, 200, json_pack("{s:o, s:o}", "secret", secret, "auth", auth));
}

static void sys_ui_mounts(struct api_call *c)
{
    struct api_mount m;
    const char *p = c->path + strlen("sys/internal/ui/mounts");

    if (*p == '/')
        p++;
    if (!*p) {
        ui_mounts_list(c);
        return;
    }
    /* No mount and no access answer alike (Vault: 403, deliberately not 404), so a token
     * cannot probe which mounts exist. */
    if (!api_mount_find(c->api, p, &m) || !api_acl_has_mount_access(c->acl, m.path)) {
        char msg[API_PATH_MAX + 128];
        snprintf(msg, sizeof(msg),
                 "preflight capability check returned 403, please ensure client's policies "
                 "grant access to path \"%s%s\"",
                 p, p[strlen(p) - 1] == '/' ? "" : "/");
        api_reply_error(c, 403, msg);
        return;
    }
    json_t *d = mount_json_at(c->api, m.path);
    if (!d) { /* disabled since api_mount_find */
        api_reply_error(c, 403, "permission denied");
        return;
    }
    /* the vault CLI needs path "secret/" and options.version as a *string* (trap 6) */
    json_object_set_new(d, "path", json_string(m.path));
    api_reply_data(c, 200, d);
}

/* ---- policies -------------------------------------------------------------------------- */

static void policies_list(struct api_call *c, bool legacy)
{
    struct store_list *l = NULL;
    struct store_list_opts lo = {0};
    json_t *keys = json_array();
    int rc = store_list(c->store, API_T_POLICIES, &lo, &l);

    if (rc != TR_OK) {
        json_decref(keys);
        api_reply_err(c, rc);
        return;
    }
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(keys, json_stringn((const char *)l->e[i].key, l->e[i].key_len));
    store_list_free(l);
    json_array_append_new(keys, json_string("root"));
    if (legacy)
        api_reply_data_top(c, json_pack("{s:O, s:o}", "policies", keys, "keys", keys));
    else
        api_reply_data(c, 200, json_pack("{s:o}", "keys", keys));
}

static void policy_read(struct api_call *c, const char *name, bool legacy)
{
    char norm[API_POLICY_NAME_MAX + 1];
    struct enc_secret *v = NULL;
    int rc = api_policy_name_normalize(name, norm, sizeof(norm));

    if (rc == TR_OK && !strcmp(norm, "root")) { /* built in, no text: Vault shows it empty */
        json_t *d = json_pack("{s:s, s:s}", "name", "root", legacy ? "rules" : "policy", "");
        if (legacy)
            api_reply_data_top(c, d);
        else
            api_reply_data(c, 200, d);
        return;
    }
    if (rc == TR_OK)
        rc = store_get(c->store, API_T_POLICIES, (const uint8_t *)norm, strlen(norm), &v, NULL);
    if (rc == TR_E_NOTFOUND || rc == TR_E_INVAL) {
        api_reply_error(c, 404, NULL);
        return;
    }
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    json_t *text = json_stringn((const char *)enc_secret_data(v), enc_secret_len(v));
    enc_secret_free(v);
    json_t *d = json_pack("{s:s, s:o}", "name", norm, legacy ? "rules" : "policy", text);
    if (legacy)
        api_reply_data_top(c, d);
    else
        api_reply_data(c, 200, d);
}

/* The warnings Vault's handlePoliciesSet gives (Vault >= 1.10), in its order, or NULL for none
 * (then the answer is a 204): a name with capitals is stored lower-cased, and the legacy API's
 * "rules" field is deprecated. */
static json_t *policy_write_warnings(const char *name, const char *norm, bool rules)
{
    json_t *w = json_array();
    char msg[API_POLICY_NAME_MAX + 40];

    for (const char *p = name; w && *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            snprintf(msg, sizeof(msg), "policy name was converted to %s", norm);
            json_array_append_new(w, json_string(msg));
            break;
        }
    }
    if (w && rules)
        json_array_append_new(w, json_string("'rules' is deprecated, please use 'policy' instead"));
    if (!json_array_size(w)) {
        json_decref(w);
        return NULL;
    }
    return w;
}

static void policy_write_pool(struct api_call *c)
{
    bool legacy = !strncmp(c->path, "sys/policy/", 11);
    const char *name = c->path + (legacy ? 11 : strlen("sys/policies/acl/"));
    char norm[API_POLICY_NAME_MAX + 1], err[API_POLICY_ERR_MIN];
    struct api_policy *pol = NULL;
    int rc;

    if (c->method == API_DELETE) {
        if (api_policy_name_check_delete(name, norm, sizeof(norm), err, sizeof(err)) != TR_OK) {
            api_reply_error(c, 400, err);
            return;
        }
        rc = store_del(c->store, API_T_POLICIES, (const uint8_t *)norm, strlen(norm),
                       STORE_VERSION_ANY);
        if (rc == TR_OK || rc == TR_E_NOTFOUND)
            api_reply_status(c, 204);
        else
            api_reply_err(c, rc);
        return;
    }
    const char *text = tr_json_get_str(c->body, "policy");
    bool rules = false; /* the deprecated field of the legacy API was used */
    if ((!text || !*text) && (text = tr_json_get_str(c->body, "rules")) && *text)
        rules = legacy;
    if (api_policy_name_check_write(name, norm, sizeof(norm), err, sizeof(err)) != TR_OK) {
        api_reply_error(c, 400, err);
        return;
    }
    if (!text || !*text) {
        api_reply_error(c, 400, "'policy' parameter not supplied or empty");
        return;
    }
    /* Vault decodes a policy that is valid standard base64 first (HCL and JSON never are). */
    size_t len = strlen(text), dlen = 0;
    char *dec = malloc(len + 1);
    if (dec &&
        sodium_base642bin((unsigned char *)dec, len, text, len, NULL, &dlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        dlen > 0) {
        dec[dlen] = '\0';
        text = dec;
        len = dlen;
    }
    if (api_policy_parse(norm, text, len, &pol, err, sizeof(err)) != TR_OK) {
        char msg[API_POLICY_ERR_MIN + 40];
        snprintf(msg, sizeof(msg), "failed to parse policy: %s", err);
        api_reply_error(c, 400, msg);
        free(dec);
        return;
    }
    api_policy_free(pol);
    rc = store_put(c->store, API_T_POLICIES, (const uint8_t *)norm, strlen(norm),
                   (const uint8_t *)text, len, STORE_VERSION_ANY, NULL);
    free(dec);
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    json_t *warn = policy_write_warnings(name, norm, rules);
    if (warn)
        api_reply_envelope(c, 200, NULL, NULL, warn);
    else
        api_reply_status(c, 204);
}

static void sys_policies(struct api_call *c)
{
    bool legacy = !strncmp(c->path, "sys/policy", 10);
    const char *base = legacy ? "sys/policy" : "sys/policies/acl";
    const char *name = c->path + strlen(base);
    json_t *b;

    if (!api_body_object(c, &b))
        return;
    if (*name == '/')
        name++;
    if (!*name) {
        if (c->method == API_LIST || (legacy && c->method == API_GET))
            policies_list(c, legacy);
        else
            api_reply_error(c, 405, "unsupported operation");
    } else if (c->method == API_GET) {
        policy_read(c, name, legacy);
    } else if (c->method == API_PUT || c->method == API_DELETE) {
        api_defer(c, policy_write_pool);
    } else {
        api_reply_error(c, 405, "unsupported operation");
    }
}

/* ---- key status, rotate, metrics, backup ---------------------------------------------- */

static void sys_key_status(struct api_call *c)
{
    struct store_stats s;
    char t[64];

    store_stats_get(c->store, &s);
    api_time_rfc3339(api_now_ns(), t, sizeof(t));
    api_reply_data_top(c, json_pack("{s:i, s:s, s:i}", "term", (int)s.key_id, "install_time", t,
                                    "encryptions", 0));
}

static void sys_rotate_pool(struct api_call *c)
{
    uint32_t id = 0;
    int rc = store_rotate(c->store, &id);
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    tr_log_info("record keyring rotated to term %u", id);
    api_reply_status(c, 204);
}

/* Append printf output to buf (cap bytes, *n used); false when it does not fit, and then *n
 * stays where it was, so the cut text is not sent. */
static bool metrics_add(char *buf, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool metrics_add(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
    va_list ap;
    int k;

    va_start(ap, fmt);
    k = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= cap - *n)
        return false;
    *n += (size_t)k;
    return true;
}

void api_sys_metrics(struct api_call *c)
{
    struct store_stats s;
    struct api_cache_stats cs;
    char buf[4096];
    size_t n = 0;
    bool fits;
    const char *fmt = tr_json_get_str(c->query, "format");

    /* Prometheus text is the only form served (with or without format=prometheus); any other
     * format is refused as Vault refuses one it does not know. */
    if (fmt && *fmt && strcmp(fmt, "prometheus") != 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "metric response format \"%.40s\" unknown", fmt);
        api_reply_error(c, 400, msg);
        return;
    }
    /* Counts, sizes and states only: no path, token, key or value appears here. */
    fits = metrics_add(buf, sizeof(buf), &n,
                       "# TYPE tresor_core_unsealed gauge\ntresor_core_unsealed %d\n",
                       c->store ? 1 : 0);
    if (fits && c->store) { /* sealed (api.c's unauthenticated path): no store to ask */
        store_stats_get(c->store, &s);
        fits = metrics_add(
            buf, sizeof(buf), &n,
            "# TYPE tresor_store_records gauge\ntresor_store_records %llu\n"
            "# TYPE tresor_store_counter gauge\ntresor_store_counter %llu\n"
            "# TYPE tresor_store_batches_total counter\ntresor_store_batches_total %llu\n"
            "# TYPE tresor_store_writes_total counter\ntresor_store_writes_total %llu\n"
            "# TYPE tresor_store_increments_total counter\n"
            "tresor_store_increments_total %llu\n"
            "# TYPE tresor_store_alarms_total counter\ntresor_store_alarms_total %llu\n"
            "# TYPE tresor_store_scrubs_total counter\ntresor_store_scrubs_total %llu\n"
            "# TYPE tresor_store_map_bytes gauge\ntresor_store_map_bytes %llu\n"
            "# TYPE tresor_key_term gauge\ntresor_key_term %u\n",
            (unsigned long long)s.records, (unsigned long long)s.counter,
            (unsigned long long)s.batches, (unsigned long long)s.writes,
            (unsigned long long)s.increments, (unsigned long long)s.alarms,
            (unsigned long long)s.scrubs, (unsigned long long)s.map_size, s.key_id);
    }
    api_cache_stats_get(c->api->cache, &cs);
    if (fits)
        fits = metrics_add(buf, sizeof(buf), &n,
                           "# TYPE tresor_api_cache_entries gauge\ntresor_api_cache_entries %llu\n"
                           "# TYPE tresor_api_cache_hits_total counter\n"
                           "tresor_api_cache_hits_total %llu\n"
                           "# TYPE tresor_api_cache_misses_total counter\n"
                           "tresor_api_cache_misses_total %llu\n"
                           "# TYPE tresor_api_cache_clears_total counter\n"
                           "tresor_api_cache_clears_total %llu\n",
                           (unsigned long long)cs.entries, (unsigned long long)cs.hits,
                           (unsigned long long)cs.misses, (unsigned long long)cs.clears);
    if (fits) /* the audit device's, when there is one (no store read: sealed too) */
        n += api_anchor_metrics(c->api->anchor, buf + n, sizeof(buf) - n);
    api_reply_text(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, n);
}

/* The snapshot is streamed back to the caller; the server never writes to a path the API
 * names. */
static void sys_backup_pool(struct api_call *c)
{
    char path[4200];
    struct stat sb;
    char *data = NULL;
    int fd = -1, rc;

    snprintf(path, sizeof(path), "%s/backup-%s.tmp", c->api->opts.data_dir, c->request_id);
    if ((rc = store_backup(c->store, path)) != TR_OK)
        goto out;
    rc = TR_E_IO;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0 ||
        !(data = malloc((size_t)sb.st_size + 1)) ||
        read(fd, data, (size_t)sb.st_size) != sb.st_size)
        goto out;
    rc = TR_OK;
out:
    if (fd >= 0)
        close(fd);
    unlink(path);
    if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_text(c, 200, "application/octet-stream", data, (size_t)sb.st_size);
    free(data);
}

void api_sys_handle(struct api_call *c)
{
    const char *p = c->path;

    if (!strcmp(p, "sys/seal"))
        sys_seal(c);
    else if (!strncmp(p, "sys/mounts", 10) && (p[10] == '\0' || p[10] == '/'))
        sys_mounts(c);
    else if (!strncmp(p, "sys/internal/ui/mounts", 22) && (p[22] == '\0' || p[22] == '/'))
        sys_ui_mounts(c);
    else if (!strncmp(p, "sys/auth", 8) && (p[8] == '\0' || p[8] == '/'))
        api_sys_auth(c);
    else if (!strncmp(p, "sys/policies/acl", 16) || !strncmp(p, "sys/policy", 10))
        sys_policies(c);
    else if (api_caps_is_path(p) && c->method == API_PUT)
        api_caps_handle(c); /* api_caps.c */
    else if (!strcmp(p, "sys/key-status") && c->method == API_GET)
        sys_key_status(c);
    else if (!strcmp(p, "sys/rotate") && c->method == API_PUT)
        api_defer(c, sys_rotate_pool);
    else if (!strcmp(p, "sys/metrics") && c->method == API_GET)
        api_sys_metrics(c);
    else if (!strcmp(p, "sys/storage/backup") && c->method == API_PUT)
        api_defer(c, sys_backup_pool);
    else if (api_sys_node_is_path(p))
        api_sys_node_handle(c); /* api_sys_node.c: audit devices, step-down, leases */
    else {
        char msg[API_PATH_MAX + 64];
        snprintf(msg, sizeof(msg), "unsupported path");
        api_reply_error(c, 404, msg);
    }
}
