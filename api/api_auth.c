/* Auth methods other than tokens (vault-api.md §2.9 and §5, issue #8): the auth mount table,
 * sys/auth, dispatch of auth/<mount path>/... (one or more segments) to AppRole, TLS
 * certificates and Kubernetes, and the helpers those share. Handlers run on pool threads:
 * logins write (secret-ID uses, tokens) and the Kubernetes TokenReview waits on the network. */
#include "auth_int.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"
#include "api_help.h"
#include "api_mount_cfg.h"

struct auth_method {
    const char *type;
    void (*login)(struct api_call *c, const struct auth_mount *m);
    void (*handle)(struct api_call *c, const struct auth_mount *m, const char *rel);
    int (*renew)(struct api_call *c, const struct auth_mount *m, const json_t *e,
                 struct auth_renewal *out);
    const struct help_backend *routes; /* its paths (api_help.h): others are unsupported */
};

static const struct auth_method methods[] = {
    {"approle", auth_approle_login, auth_approle_handle, auth_approle_renew, &api_help_approle},
    {"cert", auth_cert_login, auth_cert_handle, auth_cert_renew, &api_help_cert},
    {"kubernetes", auth_k8s_login, auth_k8s_handle, auth_k8s_renew, &api_help_k8s},
};

static const struct auth_method *method_find(const char *type)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (type && strcmp(type, methods[i].type) == 0)
            return &methods[i];
    return NULL;
}

bool auth_mount_path_ok(const char *s, size_t n)
{
    if (n == 0 || n > AUTH_MOUNT_PATH_MAX || s[0] == '/' || s[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '-' || s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] == '/' && s[i + 1] != '/')))
            return false;
    return true;
}

static int mount_from_json(const char *path, const json_t *o, struct auth_mount *m)
{
    const char *type = tr_json_get_str(o, "type"), *uuid = tr_json_get_str(o, "uuid");
    const char *acc = tr_json_get_str(o, "accessor");

    memset(m, 0, sizeof(*m));
    if (!type || !uuid || !acc || strlen(path) >= sizeof(m->path) ||
        strlen(type) >= sizeof(m->type) || strlen(uuid) >= sizeof(m->uuid) ||
        strlen(acc) >= sizeof(m->accessor))
        return TR_E_INTERNAL;
    snprintf(m->path, sizeof(m->path), "%s", path);
    snprintf(m->type, sizeof(m->type), "%s", type);
    snprintf(m->uuid, sizeof(m->uuid), "%s", uuid);
    snprintf(m->accessor, sizeof(m->accessor), "%s", acc);
    m->disabling = json_is_true(json_object_get(o, "disabling"));
    return TR_OK;
}

/* The mount record at key ("<name>/") straight from the store (also before anything serves). */
static int mount_load(struct store *st, const char *key, json_t **out, uint64_t *out_ver)
{
    struct enc_secret *v = NULL;
    int rc = store_get(st, AUTH_T_MOUNTS, (const uint8_t *)key, strlen(key), &v, out_ver);

    *out = NULL;
    if (rc != TR_OK)
        return rc;
    *out = json_loadb((const char *)enc_secret_data(v), enc_secret_len(v), 0, NULL);
    enc_secret_free(v);
    return *out ? TR_OK : TR_E_INTERNAL;
}

/* "auth/<path>/<rest>": the mount whose path prefixes the request's, and the rest. Mount paths
 * never nest (auth_enable), so the first one found, trying the shortest prefix first, is the
 * only one: the longest-prefix match of secret mounts, in one store read for "auth/approle/...".
 * A prefix that is not a mount path ends the search: no longer one can be one either. */
static int mount_of(struct api_call *c, const char *path, struct auth_mount *m,
                    const char **out_rest)
{
    const char *p = path + 5, *slash = NULL;
    char key[AUTH_MOUNT_PATH_MAX + 2];
    json_t *o = NULL;
    int rc;

    do {
        slash = strchr(slash ? slash + 1 : p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!auth_mount_path_ok(p, n))
            return TR_E_NOTFOUND;
        snprintf(key, sizeof(key), "%.*s/", (int)n, p);
        rc = api_get_json(c, AUTH_T_MOUNTS, key, &o, NULL);
    } while (rc == TR_E_NOTFOUND && slash);
    if (rc != TR_OK)
        return rc;
    *out_rest = slash ? slash + 1 : "";
    rc = mount_from_json(key, o, m);
    json_decref(o);
    return rc == TR_OK && m->disabling ? TR_E_NOTFOUND : rc; /* going: no login, no admin */
}

static int mount_of_path(struct api_call *c, struct auth_mount *m, const char **out_rest)
{
    return mount_of(c, c->path, m, out_rest);
}

bool api_auth_is_login(struct api_call *c)
{
    const char *p, *s;
    char key[AUTH_MOUNT_PATH_MAX + 2];
    uint64_t ver;

    if (strncmp(c->path, "auth/", 5) != 0 || !strncmp(c->path, "auth/token/", 11))
        return false;
    p = c->path + 5;
    /* only "<path>/login[/...]" where <path> is a mount: a role named "login" is not a login */
    for (s = strchr(p, '/'); s && auth_mount_path_ok(p, (size_t)(s - p)); s = strchr(s + 1, '/')) {
        if (strncmp(s + 1, "login", 5) != 0 || (s[6] != '\0' && s[6] != '/'))
            continue;
        snprintf(key, sizeof(key), "%.*s/", (int)(s - p), p);
        if (store_stat(c->store, AUTH_T_MOUNTS, (const uint8_t *)key, strlen(key), &ver) == TR_OK)
            return true;
    }
    return false;
}

int api_auth_mount_type(struct api_call *c, const char *path, const char **out_type,
                        const char **out_rest)
{
    struct auth_mount m;
    const char *rest = "";
    const struct auth_method *meth = NULL;
    int rc = TR_E_NOTFOUND;

    if (strncmp(path, "auth/", 5) != 0) /* mount_of reads past it */
        return rc;
    if ((rc = mount_of(c, path, &m, &rest)) != TR_OK)
        return rc;
    if (!(meth = method_find(m.type)))
        return TR_E_NOTFOUND;
    *out_type = meth->type;
    *out_rest = rest;
    return TR_OK;
}

static void reply_no_route(struct api_call *c)
{
    char msg[API_PATH_MAX + 64];

    /* Vault's router also tries the path with a slash appended: "auth/token" is the token
     * store's root, where no route is (api.c routes only "auth/token/..." to the store) */
    if (!strcmp(c->path, "auth/token")) {
        api_reply_error(c, 404, "unsupported path");
        return;
    }
    snprintf(msg, sizeof(msg), "no handler for route \"%s\". route entry not found.", c->path);
    api_reply_error(c, 404, msg);
}

/* The mount serving c->path, then, as Vault's framework, the method's route table decides
 * whether the rest of the path exists (404 "unsupported path": the mount's root, and
 * auth/<m>/login/<x>, which api_auth_is_login sends here userpass style, though no method has
 * such a route) before the method routes it. */
static void dispatch_pool(struct api_call *c, bool login)
{
    struct auth_mount m;
    const char *rest = "";
    int rc = mount_of_path(c, &m, &rest);
    const struct auth_method *meth = rc == TR_OK ? method_find(m.type) : NULL;

    if (rc == TR_E_NOTFOUND || (rc == TR_OK && !meth)) {
        reply_no_route(c);
        return;
    }
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    c->mount_type = meth->type;
    if (!api_help_route_check(c, meth->routes, rest))
        return;
    if (login && c->method != API_PUT)
        api_reply_error(c, 405, "unsupported operation");
    else if (login)
        meth->login(c, &m);
    else
        meth->handle(c, &m, rest);
}

static void login_pool(struct api_call *c)
{
    dispatch_pool(c, true);
}

static void handle_pool(struct api_call *c)
{
    dispatch_pool(c, false);
}

void api_auth_login(struct api_call *c)
{
    json_t *b;

    if (!api_body_object(c, &b))
        return;
    api_defer(c, login_pool); /* the route decides before the method (dispatch_pool) */
}

void api_auth_handle(struct api_call *c)
{
    json_t *b;

    if (!api_body_object(c, &b))
        return;
    api_defer(c, handle_pool);
}

/* ---- sys/auth ------------------------------------------------------------------------------ */

/* An auth mount as Vault's sys/auth shows it; rec is its stored record (borrowed; NULL or
 * without config: untuned), the source of config and options. */
static json_t *mount_json(const char *type, const char *desc, const char *acc, const char *uuid,
                          const json_t *rec)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:b, s:b}", "type", type, "description",
                     desc, "accessor", acc, "uuid", uuid, "config",
                     api_mount_cfg_list_json(rec, true), "options", api_mount_cfg_options_json(rec),
                     "local", 0, "seal_wrap", 0, "external_entropy_access", 0);
}

static json_t *stored_mount_json(const json_t *o)
{
    const char *d = tr_json_get_str(o, "description");
    return mount_json(tr_json_get_str(o, "type"), d ? d : "", tr_json_get_str(o, "accessor"),
                      tr_json_get_str(o, "uuid"), o);
}

/* The built-in auth/token/ with its tuning (API_MOUNT_TOKEN_KEY; none: untuned). */
static int token_mount_json(struct api_call *c, json_t **out)
{
    json_t *rec = NULL;
    int rc = api_get_json(c, API_T_SYS, API_MOUNT_TOKEN_KEY, &rec, NULL);
    const char *d = tr_json_get_str(rec, "description");

    *out = NULL;
    if (rc != TR_OK && rc != TR_E_NOTFOUND)
        return rc;
    *out = mount_json("token", d ? d : "token based credentials", "auth_token", "token", rec);
    json_decref(rec);
    return *out ? TR_OK : TR_E_NOMEM;
}

static void auth_list(struct api_call *c)
{
    struct store_list *l = NULL;
    struct store_list_opts lo = {0};
    json_t *data = json_object();
    int rc = store_list(c->store, AUTH_T_MOUNTS, &lo, &l);

    if (rc != TR_OK || !data) {
        json_decref(data);
        api_reply_err(c, rc != TR_OK ? rc : TR_E_NOMEM);
        return;
    }
    json_t *tok = NULL;
    if ((rc = token_mount_json(c, &tok)) != TR_OK) {
        store_list_free(l);
        json_decref(data);
        api_reply_err(c, rc);
        return;
    }
    json_object_set_new(data, "token/", tok);
    for (size_t i = 0; i < l->n; i++) {
        char key[80];
        json_t *o = NULL;
        snprintf(key, sizeof(key), "%.*s", (int)l->e[i].key_len, (const char *)l->e[i].key);
        if (api_get_json(c, AUTH_T_MOUNTS, key, &o, NULL) == TR_OK && tr_json_get_str(o, "type") &&
            !json_is_true(json_object_get(o, "disabling")))
            json_object_set_new(data, key, stored_mount_json(o));
        json_decref(o);
    }
    store_list_free(l);
    api_reply_data_top(c, data);
}

/* "sys/auth/<path>[/]" -> "<path>/"; false when not a valid mount path. */
static bool sys_auth_key(const struct api_call *c, char *out, size_t cap)
{
    const char *p = c->path + strlen("sys/auth/");
    size_t n = strlen(p);

    if (n && p[n - 1] == '/')
        n--;
    if (!auth_mount_path_ok(p, n) || n + 2 > cap)
        return false;
    snprintf(out, cap, "%.*s/", (int)n, p);
    return true;
}

/* ---- disabling (auth_int.h: mark, revoke, purge, delete; resumed at unseal) --------------- */

/* Crash tests only (like storage's TR_FAULT): exit at a named step. Never skips a check. */
static void fault_point(const char *name)
{
    const char *f = getenv("TR_FAULT");

    if (f && strcmp(f, name) == 0) {
        tr_log_warn("TR_FAULT=%s: exiting now", name);
        _exit(77);
    }
}

/* One write: the record says "disabling" and the live key is gone, so from now on neither a
 * login through the mount nor any token bound to it gets in. *ver: the record's new version. */
static int mount_mark(struct store *st, const char *key, json_t *o, const char *uuid, uint64_t *ver)
{
    struct store_result res = {0};
    char *text;
    int rc;

    if (json_is_true(json_object_get(o, "disabling")))
        return TR_OK; /* an earlier disable got this far */
    json_object_set_new(o, "disabling", json_true());
    if (!(text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)))
        return TR_E_NOMEM;
    struct store_op ops[2] = {{STORE_OP_PUT, AUTH_T_MOUNTS, (const uint8_t *)key, strlen(key),
                               (const uint8_t *)text, strlen(text), *ver},
                              {STORE_OP_DEL, AUTH_T_TOKENS, (const uint8_t *)uuid, strlen(uuid),
                               NULL, 0, STORE_VERSION_ANY}};
    rc = store_write(st, ops, 2, &res);
    free(text);
    if (rc == TR_OK)
        *ver = res.version;
    return rc;
}

/* The marked mount's tokens (with their children), then its records, then the record itself
 * (at version ver: a concurrent disable that finished first is fine). */
static int mount_finish(struct store *st, const char *key, const char *uuid, uint64_t ver)
{
    char prefix[40];
    size_t n = 0, total = 0;
    int rc;

    do {
        if ((rc = api_token_revoke_mount(st, uuid, &n)) != TR_OK)
            return rc;
        total += n;
        if (n)
            fault_point("auth_disable_revoking"); /* a disable half done */
    } while (n);
    snprintf(prefix, sizeof(prefix), "%.36s/", uuid);
    if ((rc = auth_purge(st, prefix)) != TR_OK)
        return rc;
    rc = store_del(st, AUTH_T_MOUNTS, (const uint8_t *)key, strlen(key), ver);
    if (rc == TR_OK)
        tr_log_info("auth method at auth/%s disabled (%zu tokens revoked)", key, total);
    return rc == TR_E_CAS ? TR_OK : rc;
}

/* Disable the mount at key: a no-op when absent; blocking (pool threads, unseal). */
static int mount_disable(struct store *st, const char *key)
{
    int rc = TR_E_CAS;

    for (int i = 0; i < 3 && rc == TR_E_CAS; i++) { /* a concurrent disable or enable */
        json_t *o = NULL;
        uint64_t ver = 0;
        char uuid[37];
        if ((rc = mount_load(st, key, &o, &ver)) != TR_OK)
            return rc == TR_E_NOTFOUND ? TR_OK : rc;
        const char *u = tr_json_get_str(o, "uuid");
        if (!u || strlen(u) >= sizeof(uuid)) {
            json_decref(o);
            return TR_E_INTERNAL;
        }
        snprintf(uuid, sizeof(uuid), "%s", u);
        rc = mount_mark(st, key, o, uuid, &ver);
        json_decref(o);
        if (rc == TR_OK)
            rc = mount_finish(st, key, uuid, ver);
    }
    return rc;
}

/* New mount record and its live key, atomically. */
static int mount_store_new(struct store *st, const char *key, const json_t *o, const char *uuid)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    struct store_op ops[2] = {{STORE_OP_PUT, AUTH_T_MOUNTS, (const uint8_t *)key, strlen(key),
                               (const uint8_t *)text, text ? strlen(text) : 0,
                               STORE_VERSION_ABSENT},
                              {STORE_OP_PUT, AUTH_T_TOKENS, (const uint8_t *)uuid, strlen(uuid),
                               (const uint8_t *)"", 0, STORE_VERSION_ABSENT}};
    int rc = text ? store_write(st, ops, 2, NULL) : TR_E_NOMEM;

    free(text);
    return rc;
}

/* The path is taken: TR_OK when it was by an interrupted disable, now finished (retry). */
static int mount_clear_stale(struct store *st, const char *key)
{
    json_t *o = NULL;
    int rc = mount_load(st, key, &o, NULL);
    bool stale = rc == TR_OK && json_is_true(json_object_get(o, "disabling"));

    json_decref(o);
    if (rc == TR_E_NOTFOUND)
        return TR_OK; /* removed meanwhile */
    if (rc != TR_OK)
        return rc;
    return stale ? mount_disable(st, key) : TR_E_CAS;
}

/* Enables one at a time: between the overlap check and the write no other enable may create a
 * mount ("a/" and "a/b/" enabled at once would both pass). Disables only ever remove mounts. */
static pthread_mutex_t enable_lock = PTHREAD_MUTEX_INITIALIZER;

/* The live mount at key: TR_E_EXISTS, else TR_OK (absent, or a disable a crash interrupted,
 * finished now: that mount is gone to requests already). */
static int mount_live_at(struct store *st, const char *key)
{
    int rc = mount_clear_stale(st, key);
    return rc == TR_E_CAS ? TR_E_EXISTS : rc;
}

/* Vault refuses a mount path that encloses or lies inside an existing one ("a/" and "a/b/"),
 * built-in token/ included: a nested mount would shadow part of the other's paths, and
 * mount_of_path relies on it. TR_E_EXISTS with the existing path in out (cap bytes). */
static int mount_overlap(struct store *st, const char *key, char *out, size_t cap)
{
    struct store_list *l = NULL;
    struct store_list_opts lo = {.prefix = (const uint8_t *)key, .prefix_len = strlen(key)};
    int rc = TR_OK;

    if (!strncmp(key, "token/", 6)) {
        snprintf(out, cap, "token/");
        return TR_E_EXISTS;
    }
    for (const char *s = strchr(key, '/'); rc == TR_OK && s[1]; s = strchr(s + 1, '/')) {
        snprintf(out, cap, "%.*s", (int)(s - key + 1), key); /* an enclosing path, "a/" */
        rc = mount_live_at(st, out);
    }
    if (rc == TR_OK && (rc = store_list(st, AUTH_T_MOUNTS, &lo, &l)) == TR_OK) {
        for (size_t i = 0; rc == TR_OK && i < l->n; i++) { /* key itself and paths inside it */
            snprintf(out, cap, "%.*s", (int)l->e[i].key_len, (const char *)l->e[i].key);
            rc = strlen(out) == l->e[i].key_len ? mount_live_at(st, out) : TR_E_INTERNAL;
        }
        store_list_free(l);
    }
    return rc;
}

/* The record of a new auth mount of type from an enable body, without uuid and accessor:
 * {type, description, config, options} after Vault's checks. NULL with err (cap bytes) set when
 * refused, err "" on OOM. */
static json_t *auth_record_new(const json_t *body, const char *type, char *err, size_t cap)
{
    const json_t *dj = json_object_get(body, "description");
    struct api_mount_kind_info k = {.auth = true, .type = type};
    json_t *cfg = NULL, *opts = NULL;

    *err = '\0';
    if (api_mount_cfg_enable(json_object_get(body, "config"), &k, &cfg, err, cap) != TR_OK ||
        api_mount_opts_parse(json_object_get(body, "options"), &opts, err, cap) != TR_OK)
        goto fail;
    if (json_string_length(json_object_get(opts, "version")) > 0) {
        snprintf(err, cap, "auth method \"%s\" does not allow setting a version", type);
        goto fail;
    }
    json_object_del(opts, "version");
    if (dj && !json_is_null(dj) &&
        (!json_is_string(dj) || json_string_length(dj) > API_MOUNT_DESC_MAX ||
         memchr(json_string_value(dj), '\0', json_string_length(dj)))) {
        snprintf(err, cap, "description must be a string of at most %d bytes", API_MOUNT_DESC_MAX);
        goto fail;
    }
    return json_pack("{s:s, s:s, s:o, s:o}", "type", type, "description",
                     json_is_string(dj) ? json_string_value(dj) : "", "config", cfg, "options",
                     opts);
fail:
    json_decref(cfg);
    json_decref(opts);
    return NULL;
}

static void auth_enable(struct api_call *c, const char *key)
{
    const char *type = tr_json_get_str(c->body, "type");
    char uuid[37], acc[40], msg[API_MOUNT_ERR_MAX], used[AUTH_MOUNT_PATH_MAX + 2];
    int rc;

    if (!type || !*type) {
        api_reply_error(c, 400, "missing type");
        return;
    }
    if (!method_find(type)) {
        api_reply_error(c, 400,
                        strcmp(type, "token") == 0
                            ? "token auth method is always mounted at auth/token/"
                            : "plugin not found in the catalog");
        return;
    }
    json_t *o = auth_record_new(c->body, type, msg, sizeof(msg));
    if (!o) {
        api_reply_error(c, *msg ? 400 : 500, *msg ? msg : "internal error");
        return;
    }
    api_uuid(uuid);
    snprintf(acc, sizeof(acc), "auth_%s_%.8s", type, uuid);
    json_object_set_new(o, "uuid", json_string(uuid));
    json_object_set_new(o, "accessor", json_string(acc));
    pthread_mutex_lock(&enable_lock);
    if ((rc = mount_overlap(c->store, key, used, sizeof(used))) == TR_OK)
        rc = mount_store_new(c->store, key, o, uuid);
    pthread_mutex_unlock(&enable_lock);
    json_decref(o);
    if (rc == TR_E_EXISTS || rc == TR_E_CAS) {
        /* Vault: CodedError(409, "path is already in use at <path in its auth table>") */
        snprintf(msg, sizeof(msg), "path is already in use at %s", rc == TR_E_CAS ? key : used);
        api_reply_error(c, 409, msg);
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    } else {
        tr_log_info("auth method %s enabled at auth/%s", type, key);
        api_reply_status(c, 204);
    }
}

/* Vault revokes every token the mount issued before removing it; so do we (auth_int.h). */
static void auth_disable(struct api_call *c, const char *key)
{
    int rc = mount_disable(c->store, key); /* a missing mount succeeds, as in Vault */

    if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}

/* At unseal: finish a disable, or give a mount of an older version its live key; live mounts
 * go into live (name -> uuid). Errors: reading the record (the caller stops: live would lack
 * this mount). A disable that cannot finish now is logged and left for the next unseal. */
static int mount_resume_one(struct store *st, const char *key, json_t *live)
{
    json_t *o = NULL;
    uint64_t ver = 0, lver = 0;
    int rc = mount_load(st, key, &o, &ver);
    const char *uuid = rc == TR_OK ? tr_json_get_str(o, "uuid") : NULL;

    if (rc != TR_OK || !uuid || strlen(uuid) > 36) {
        json_decref(o);
        return rc == TR_E_NOTFOUND ? TR_OK : rc != TR_OK ? rc : TR_E_INTERNAL;
    }
    if (json_is_true(json_object_get(o, "disabling"))) {
        tr_log_warn("finishing the interrupted disable of auth/%s", key);
        if ((rc = mount_finish(st, key, uuid, ver)) != TR_OK)
            tr_log_error("auth/%s stays disabling: %s", key, tr_strerror(rc));
        rc = TR_OK; /* its tokens are refused anyway */
    } else {
        rc = store_stat(st, AUTH_T_TOKENS, (const uint8_t *)uuid, strlen(uuid), &lver);
        if (rc == TR_E_NOTFOUND)
            rc = store_put(st, AUTH_T_TOKENS, (const uint8_t *)uuid, strlen(uuid),
                           (const uint8_t *)"", 0, STORE_VERSION_ABSENT, NULL);
        if (rc == TR_OK) /* by name: the segment of the tokens' paths auth/<name>/login */
            json_object_setn_new(live, key, strlen(key) - 1, json_string(uuid));
    }
    json_decref(o);
    return rc;
}

#define AUTH_SYS_BOUND "auth_tokens_bound" /* API_T_SYS: login tokens record their mount */

int api_auth_resume(struct store *st)
{
    struct store_list *l = NULL;
    struct store_list_opts lo = {0};
    json_t *live = json_object();
    uint64_t ver = 0;
    int rc = live ? store_list(st, AUTH_T_MOUNTS, &lo, &l) : TR_E_NOMEM;

    for (size_t i = 0; rc == TR_OK && i < l->n; i++) {
        char key[80];
        if (l->e[i].key_len >= sizeof(key) || l->e[i].key_len < 2)
            continue;
        snprintf(key, sizeof(key), "%.*s", (int)l->e[i].key_len, (const char *)l->e[i].key);
        rc = mount_resume_one(st, key, live);
    }
    store_list_free(l);
    /* tokens minted before they recorded their mount: once, with every live mount known */
    if (rc == TR_OK && store_stat(st, API_T_SYS, (const uint8_t *)AUTH_SYS_BOUND,
                                  strlen(AUTH_SYS_BOUND), &ver) == TR_E_NOTFOUND) {
        if ((rc = api_token_bind_legacy(st, live)) == TR_OK)
            rc = store_put(st, API_T_SYS, (const uint8_t *)AUTH_SYS_BOUND, strlen(AUTH_SYS_BOUND),
                           (const uint8_t *)"1", 1, STORE_VERSION_ABSENT, NULL);
        if (rc == TR_E_CAS)
            rc = TR_OK;
    }
    json_decref(live);
    return rc;
}

static void sys_auth_pool(struct api_call *c)
{
    char key[80];

    if (!sys_auth_key(c, key, sizeof(key))) {
        api_reply_error(c, 400, "invalid auth mount path");
        return;
    }
    if (c->method == API_PUT)
        auth_enable(c, key);
    else
        auth_disable(c, key);
}

static void auth_read_one(struct api_call *c)
{
    char key[80];
    json_t *o = NULL;
    int rc = sys_auth_key(c, key, sizeof(key)) ? TR_OK : TR_E_NOTFOUND;

    if (rc == TR_OK && strcmp(key, "token/") == 0) {
        if ((rc = token_mount_json(c, &o)) != TR_OK)
            api_reply_err(c, rc);
        else
            api_reply_data_top(c, o);
        return;
    }
    if (rc == TR_OK)
        rc = api_get_json(c, AUTH_T_MOUNTS, key, &o, NULL);
    if (rc == TR_OK && json_is_true(json_object_get(o, "disabling")))
        rc = TR_E_NOTFOUND; /* going away */
    if (rc == TR_E_NOTFOUND)
        api_reply_error(c, 400, "no matching mount");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_data_top(c, stored_mount_json(o));
    json_decref(o);
}

void api_sys_auth(struct api_call *c)
{
    json_t *b;

    if (!api_body_object(c, &b))
        return;
    if (strcmp(c->path, "sys/auth") == 0 || strcmp(c->path, "sys/auth/") == 0) {
        if (c->method == API_GET)
            auth_list(c);
        else
            api_reply_error(c, 405, "unsupported operation");
    } else if (api_mount_is_tune_path(c->path + strlen("sys/auth/"))) {
        api_mount_tune(c); /* api_mount_tune.c (sudo: the pipeline's sys/auth/ rule) */
    } else if (c->method == API_GET) {
        auth_read_one(c);
    } else if (c->method == API_PUT || c->method == API_DELETE) {
        api_defer(c, sys_auth_pool);
    } else {
        api_reply_error(c, 405, "unsupported operation");
    }
}

/* ---- storage helpers ----------------------------------------------------------------------- */

bool auth_key(char *out, size_t cap, const struct auth_mount *m, const char *kind, const char *name)
{
    int n = snprintf(out, cap, "%s/%s/%s", m->uuid, kind, name);
    return n > 0 && (size_t)n < cap && (size_t)n < AUTH_KEY_MAX;
}

int auth_get(struct api_call *c, const char *key, json_t **out, uint64_t *out_ver)
{
    return api_get_json(c, AUTH_T_DATA, key, out, out_ver);
}

static struct store_op *batch_next(struct auth_batch *b, const char *key)
{
    if (b->n >= AUTH_BATCH_MAX || strlen(key) >= AUTH_KEY_MAX) {
        b->failed = true;
        return NULL;
    }
    snprintf(b->keys[b->n], AUTH_KEY_MAX, "%s", key);
    struct store_op *op = &b->ops[b->n];
    memset(op, 0, sizeof(*op));
    op->table = AUTH_T_DATA;
    op->key = (const uint8_t *)b->keys[b->n];
    op->key_len = strlen(key);
    b->texts[b->n] = NULL;
    b->n++;
    return op;
}

void auth_batch_put(struct auth_batch *b, const char *key, const json_t *val, uint64_t expect)
{
    struct store_op *op = batch_next(b, key);
    char *text = op ? json_dumps(val, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    if (!op)
        return;
    if (!text) {
        b->failed = true;
        return;
    }
    b->texts[b->n - 1] = text;
    op->kind = STORE_OP_PUT;
    op->val = (const uint8_t *)text;
    op->val_len = strlen(text);
    op->expect_version = expect;
}

void auth_batch_del(struct auth_batch *b, const char *key, uint64_t expect)
{
    struct store_op *op = batch_next(b, key);

    if (!op)
        return;
    op->kind = STORE_OP_DEL;
    op->expect_version = expect;
}

int auth_batch_commit(struct api_call *c, struct auth_batch *b, size_t *out_failed_op)
{
    struct store_result res = {0};
    int rc = b->failed ? TR_E_NOMEM : TR_OK;

    if (rc == TR_OK && b->n)
        rc = store_write(c->store, b->ops, b->n, &res);
    if (out_failed_op)
        *out_failed_op = res.failed_op;
    for (size_t i = 0; i < b->n; i++) {
        if (b->texts[i]) {
            sodium_memzero(b->texts[i], strlen(b->texts[i]));
            free(b->texts[i]);
            b->texts[i] = NULL;
        }
    }
    b->n = 0;
    b->failed = false;
    return rc;
}

int auth_purge(struct store *st, const char *prefix)
{
    int rc;

    for (;;) {
        struct store_list *l = NULL;
        struct store_list_opts lo = {
            .prefix = (const uint8_t *)prefix, .prefix_len = strlen(prefix), .limit = 512};
        if ((rc = store_list(st, AUTH_T_DATA, &lo, &l)) != TR_OK)
            return rc;
        size_t n = l->n;
        struct store_op *ops = calloc(n ? n : 1, sizeof(*ops));
        for (size_t i = 0; ops && i < n; i++)
            ops[i] = (struct store_op){STORE_OP_DEL, AUTH_T_DATA, l->e[i].key,      l->e[i].key_len,
                                       NULL,         0,           STORE_VERSION_ANY};
        rc = !ops ? TR_E_NOMEM : n ? store_write(st, ops, n, NULL) : TR_OK;
        free(ops);
        store_list_free(l);
        if (rc != TR_OK || n == 0)
            return rc;
    }
}

void auth_reply_list(struct api_call *c, const char *prefix)
{
    struct store_list *l = NULL;
    size_t n = strlen(prefix);
    struct store_list_opts lo = {.prefix = (const uint8_t *)prefix, .prefix_len = n, .fold = true};
    int rc = store_list(c->store, AUTH_T_DATA, &lo, &l);
    json_t *keys = json_array();

    if (rc != TR_OK || !keys) {
        json_decref(keys);
        api_reply_err(c, rc != TR_OK ? rc : TR_E_NOMEM);
        return;
    }
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(keys,
                              json_stringn((const char *)l->e[i].key + n, l->e[i].key_len - n));
    store_list_free(l);
    api_reply_keys(c, keys);
}

int auth_mac_hex(const char *const *parts, size_t n, char out[AUTH_MAC_HEX])
{
    uint8_t buf[AUTH_SECRET_MAX + 200], mac[ENC_MAC_BYTES];
    size_t len = 0;
    int rc = TR_E_TOO_LARGE;

    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(parts[i]);
        if (len + l + 1 > sizeof(buf))
            goto out;
        memcpy(buf + len, parts[i], l);
        len += l;
        buf[len++] = '\0'; /* separators keep ("ab","c") and ("a","bc") apart */
    }
    if ((rc = enc_mac(ENC_MAC_TOKEN, buf, len, mac)) != TR_OK)
        goto out;
    sodium_bin2hex(out, AUTH_MAC_HEX, mac, sizeof(mac));
out:
    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(mac, sizeof(mac));
    return rc;
}

/* ---- request helpers ------------------------------------------------------------------------ */

bool auth_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > AUTH_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

bool auth_split(const char *rel, char *out, size_t cap, const char **out_rest)
{
    const char *slash = strchr(rel, '/');
    size_t n = slash ? (size_t)(slash - rel) : strlen(rel);

    *out_rest = slash ? slash + 1 : "";
    if (n >= cap)
        return false;
    memcpy(out, rel, n);
    out[n] = '\0';
    return auth_name_ok(out);
}

static bool list_add(json_t *out, const char *s, size_t n, bool lower)
{
    char *buf;
    bool ok;

    while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n == 0)
        return true;
    /* an embedded NUL would make C string matching see a different value than JSON does */
    if (n > AUTH_PEM_MAX || json_array_size(out) >= AUTH_LIST_MAX || memchr(s, '\0', n) ||
        !(buf = malloc(n)))
        return false;
    for (size_t i = 0; i < n; i++)
        buf[i] = lower && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    ok = json_array_append_new(out, json_stringn(buf, n)) == 0;
    free(buf);
    return ok;
}

json_t *auth_str_list(const json_t *v, bool lower)
{
    json_t *out = json_array();
    bool ok = out != NULL;
    size_t i;
    json_t *x;

    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            ok = ok && json_is_string(x) &&
                 list_add(out, json_string_value(x), json_string_length(x), lower);
        }
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v), *end = s + json_string_length(v);
        while (ok && s) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            ok = list_add(out, s, comma ? (size_t)(comma - s) : (size_t)(end - s), lower);
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

bool auth_field_list(json_t *role, const json_t *body, const char *key, const char **err)
{
    json_t *v = json_object_get(body, key), *l;

    if (!v || json_is_null(v))
        return true;
    if (!(l = auth_str_list(v, false))) {
        *err = "Field validation failed: expected a list of strings";
        return false;
    }
    json_object_set_new(role, key, l);
    return true;
}

/* ---- token settings ------------------------------------------------------------------------ */

static int token_durations(json_t *role, const json_t *b, const char **err)
{
    static const char *const keys[] = {"token_ttl", "token_max_ttl", "token_explicit_max_ttl",
                                       "token_period"};
    static const char *const legacy[] = {"ttl", "max_ttl", NULL, "period"};

    for (size_t i = 0; i < 4; i++) {
        int64_t v = 0;
        bool bad = false, got = tr_json_get_duration(b, keys[i], &v, &bad);
        if (!got && !bad && legacy[i])
            got = tr_json_get_duration(b, legacy[i], &v, &bad);
        if (bad || v < 0) {
            *err = "Field validation failed: error converting input for a duration field";
            return TR_E_INVAL;
        }
        if (got)
            json_object_set_new(role, keys[i], json_integer(v));
    }
    int64_t ttl = json_integer_value(json_object_get(role, "token_ttl"));
    int64_t max = json_integer_value(json_object_get(role, "token_max_ttl"));
    if (ttl > 0 && max > 0 && ttl > max) {
        *err = "\"token_ttl\" value must be less than \"token_max_ttl\" value";
        return TR_E_INVAL;
    }
    return TR_OK;
}

/* Options whose non-default values tokens from logins cannot honour yet: refused rather than
 * silently ignored. */
static int token_unsupported(const json_t *b, const char **err)
{
    int64_t n = 0;
    bool bad = false, nodef = false;
    const char *type = tr_json_get_str(b, "token_type");

    tr_json_get_int(b, "token_num_uses", &n, &bad);
    tr_json_get_bool(b, "token_no_default_policy", &nodef, &bad);
    if (bad || n != 0 || nodef ||
        (type && *type && strcmp(type, "default") && strcmp(type, "service"))) {
        *err = "token_num_uses, token_no_default_policy and batch tokens are not supported for "
               "login tokens";
        return TR_E_INVAL;
    }
    return TR_OK;
}

int auth_token_fields_set(json_t *role, const json_t *b, const char **err)
{
    json_t *pol = json_object_get(b, "token_policies");
    int rc;

    if (!pol || json_is_null(pol))
        pol = json_object_get(b, "policies");
    if (pol && !json_is_null(pol)) {
        json_t *l = auth_str_list(pol, true);
        size_t i;
        json_t *x;
        if (!l) {
            *err = "Field validation failed: token_policies must be a list of strings";
            return TR_E_INVAL;
        }
        json_array_foreach(l, i, x)
        {
            if (strcmp(json_string_value(x), "root") == 0) {
                json_decref(l);
                *err = "auth methods cannot create root tokens";
                return TR_E_INVAL;
            }
        }
        json_object_set_new(role, "token_policies", l);
    }
    if ((rc = token_durations(role, b, err)) != TR_OK || (rc = token_unsupported(b, err)) != TR_OK)
        return rc;
    if (!auth_field_list(role, b, "token_bound_cidrs", err))
        return TR_E_INVAL;
    if (!auth_cidrs_valid(json_object_get(role, "token_bound_cidrs"))) {
        *err = "invalid CIDR block in token_bound_cidrs";
        return TR_E_INVAL;
    }
    return TR_OK;
}

static int64_t role_int(const json_t *role, const char *key)
{
    return json_integer_value(json_object_get(role, key));
}

static json_t *list_or_empty(const json_t *role, const char *key)
{
    json_t *v = json_object_get(role, key);
    return json_is_array(v) ? json_deep_copy(v) : json_array();
}

void auth_token_fields_out(const json_t *role, json_t *data)
{
    json_object_set_new(data, "token_policies", list_or_empty(role, "token_policies"));
    json_object_set_new(data, "policies", list_or_empty(role, "token_policies"));
    json_object_set_new(data, "token_bound_cidrs", list_or_empty(role, "token_bound_cidrs"));
    json_object_set_new(data, "token_ttl",
                        json_integer(json_integer_value(json_object_get(role, "token_ttl"))));
    json_object_set_new(data, "token_max_ttl",
                        json_integer(json_integer_value(json_object_get(role, "token_max_ttl"))));
    json_object_set_new(
        data, "token_explicit_max_ttl",
        json_integer(json_integer_value(json_object_get(role, "token_explicit_max_ttl"))));
    json_object_set_new(data, "token_num_uses", json_integer(0));
    json_object_set_new(data, "token_period", json_integer(role_int(role, "token_period")));
    json_object_set_new(data, "token_no_default_policy", json_false());
    json_object_set_new(data, "token_type", json_string("default"));
}

void auth_renewal_role(const json_t *role, struct auth_renewal *out)
{
    out->ttl = role_int(role, "token_ttl");
    out->max_ttl = role_int(role, "token_max_ttl");
    out->period = role_int(role, "token_period");
}

int auth_renewal_refuse(struct auth_renewal *out, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
    va_end(ap);
    out->status = status;
    return TR_E_DENIED;
}

/* Vault keeps the role of a login in the token's auth (InternalData) and calls the method's
 * renew callback with it on every renewal; here the creation path names the mount (uuid-checked:
 * a mount enabled again at the same path is another one) and the method finds its role in the
 * token's meta, where its login put it. */
int auth_renew_limits(struct api_call *c, const json_t *e, struct auth_renewal *out)
{
    const char *path = json_string_value(json_object_get(e, "path")), *rest = "";
    const char *uuid = json_string_value(json_object_get(e, "auth_mount"));
    const struct auth_method *meth = NULL;
    struct auth_mount m;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!path || !uuid || strncmp(path, "auth/", 5) != 0 || !strncmp(path, "auth/token/", 11))
        return TR_E_NOTFOUND;
    if ((rc = mount_of(c, path, &m, &rest)) != TR_OK)
        return rc;
    if (strcmp(rest, "login") != 0 || strcmp(m.uuid, uuid) != 0 || !(meth = method_find(m.type)))
        return TR_E_NOTFOUND;
    return meth->renew(c, &m, e, out);
}

void auth_issue(struct api_call *c, const struct auth_mount *m, const struct auth_grant *g)
{
    const json_t *role = g->role, *pol = json_object_get(role, "token_policies");
    const json_t *cidrs = g->cidrs ? g->cidrs : json_object_get(role, "token_bound_cidrs");
    json_t *empty = NULL;

    if (g->cidrs_at_login && !auth_cidrs_allow(cidrs, c->req->remote_ip)) {
        tr_log_info("login on %s refused: source address outside token_bound_cidrs", c->path);
        api_reply_error(c, 403, "permission denied");
        return;
    }
    if (!json_is_array(pol))
        pol = empty = json_array();
    /* the role's values as they are: api_token_issue applies the mount's TTLs (CalculateTTL), and
     * every renewal applies the role's again as it is then (auth_renew_limits) */
    struct api_token_grant tg = {.policies = pol,
                                 .ttl = role_int(role, "token_ttl"),
                                 .max_ttl = role_int(role, "token_max_ttl"),
                                 .explicit_max_ttl = role_int(role, "token_explicit_max_ttl"),
                                 .period = role_int(role, "token_period"),
                                 .display_name = g->display_name,
                                 .meta = g->meta,
                                 .mount_uuid = m->uuid,
                                 .bound_cidrs = json_is_array(cidrs) ? cidrs : NULL};
    api_token_issue(c, &tg);
    json_decref(empty);
}
