/* The tune endpoints of secret and auth mounts (vault-api.md §2.7, §2.9) and the effective lease
 * TTLs of a mount (api_mount_ttls). The settings themselves are checked and rendered by
 * api_mount_cfg.c; this file finds, loads and stores the records. */
#include "api_mount_cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"
#include "auth_int.h"

#define TUNE_TRIES 3 /* check-and-set rounds against concurrent tunes before giving up */

/* Where a mount's record lives. */
struct tune_target {
    char path[256];    /* the mount path as Vault names it: "secret/", "auth/approle/" */
    const char *table; /* API_T_MOUNTS, AUTH_T_MOUNTS or API_T_SYS (auth/token/) */
    char key[256];     /* its key there */
    bool auth;
    bool token; /* auth/token/: built in, its tuning kept under API_MOUNT_TOKEN_KEY */
};

bool api_mount_is_tune_path(const char *p)
{
    size_t n = strlen(p);
    return n > 5 && strcmp(p + n - 5, "/tune") == 0;
}

/* The mount path of mount_path ("secret/", "auth/x/") into t. false when it cannot name one. */
static bool target_of(const char *mount_path, struct tune_target *t)
{
    size_t n = strlen(mount_path);

    memset(t, 0, sizeof(*t));
    if (n < 2 || n >= sizeof(t->path) || mount_path[n - 1] != '/')
        return false;
    snprintf(t->path, sizeof(t->path), "%s", mount_path);
    if (strncmp(mount_path, "auth/", 5) != 0) {
        t->table = API_T_MOUNTS;
        snprintf(t->key, sizeof(t->key), "%s", mount_path);
        return true;
    }
    t->auth = true;
    if (!auth_mount_path_ok(mount_path + 5, n - 6)) /* one or more segments: "auth/k8s/a/" */
        return false;
    t->token = strcmp(mount_path, "auth/token/") == 0;
    t->table = t->token ? API_T_SYS : AUTH_T_MOUNTS;
    snprintf(t->key, sizeof(t->key), "%s", t->token ? API_MOUNT_TOKEN_KEY : mount_path + 5);
    return true;
}

/* "sys/mounts/<p>/tune" -> "<p>/"; "sys/auth/<name>/tune" -> "auth/<name>/". */
static bool target_of_call(const struct api_call *c, struct tune_target *t)
{
    bool sys_auth = strncmp(c->path, "sys/auth/", 9) == 0;
    const char *p = c->path + (sys_auth ? 9 : strlen("sys/mounts/"));
    size_t n = strlen(p);
    char path[300];

    if (n <= 5)
        return false;
    n -= 5; /* "/tune" */
    if (n && p[n - 1] == '/')
        n--;
    if (n == 0 || n > 200)
        return false;
    snprintf(path, sizeof(path), "%s%.*s/", sys_auth ? "auth/" : "", (int)n, p);
    return target_of(path, t);
}

/* Vault refuses to tune these (its untunableMounts). */
static bool untunable(const char *path)
{
    static const char *const paths[] = {"cubbyhole/", "sys/", "audit/", "identity/"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (strncmp(path, paths[i], strlen(paths[i])) == 0)
            return true;
    return false;
}

/* The record of t (owned) and its version; auth/token/ without tuning is an empty record at
 * version STORE_VERSION_ABSENT. An auth mount being disabled is absent. Errors: TR_E_NOTFOUND,
 * as api_get_json. */
static int target_load(struct api_call *c, const struct tune_target *t, json_t **out,
                       uint64_t *out_ver)
{
    int rc = api_get_json(c, t->table, t->key, out, out_ver);

    if (rc == TR_E_NOTFOUND && t->token) {
        *out_ver = STORE_VERSION_ABSENT;
        return (*out = json_object()) ? TR_OK : TR_E_NOMEM;
    }
    if (rc == TR_OK &&
        (!json_is_object(*out) || json_is_true(json_object_get(*out, "disabling")))) {
        json_decref(*out);
        *out = NULL;
        rc = TR_E_NOTFOUND;
    }
    return rc;
}

static void tune_read(struct api_call *c, const struct tune_target *t)
{
    json_t *rec = NULL;
    uint64_t ver = 0;
    int rc = target_load(c, t, &rec, &ver);

    if (rc == TR_E_NOTFOUND) {
        char msg[320];
        snprintf(msg, sizeof(msg), "cannot fetch sysview for path \"%s\"", t->path);
        api_reply_error(c, 400, msg);
        return;
    }
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    if (t->token && !json_object_get(rec, "description"))
        json_object_set_new(rec, "description", json_string("token based credentials"));
    json_t *data = api_mount_cfg_tune_json(rec, t->auth);
    json_decref(rec);
    if (!data)
        api_reply_err(c, TR_E_NOMEM);
    else
        api_reply_data_top(c, data);
}

/* One round: load, apply the body, store under the loaded version. TR_E_CAS: changed meanwhile
 * (try again). On TR_E_INVAL / TR_E_UNSUPPORTED err holds the answer. */
static int tune_once(struct api_call *c, const struct tune_target *t, char *err, size_t cap)
{
    json_t *rec = NULL;
    uint64_t ver = 0;
    char *text = NULL;
    int rc;

    if ((rc = target_load(c, t, &rec, &ver)) != TR_OK)
        goto out;
    const char *type = t->token ? "token" : tr_json_get_str(rec, "type");
    struct api_mount_kind_info k = {.auth = t->auth, .type = type ? type : ""};
    if ((rc = api_mount_cfg_tune(rec, c->body, &k, err, cap)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (!(text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS)))
        goto out;
    rc = store_put(c->store, t->table, (const uint8_t *)t->key, strlen(t->key),
                   (const uint8_t *)text, strlen(text), ver, NULL);
out:
    free(text);
    json_decref(rec);
    return rc;
}

static void tune_write_pool(struct api_call *c)
{
    struct tune_target t;
    char err[API_MOUNT_ERR_MAX] = "", msg[320];
    int rc = TR_E_CAS;

    if (!target_of_call(c, &t)) { /* checked before deferring: cannot happen */
        api_reply_err(c, TR_E_INTERNAL);
        return;
    }
    for (int i = 0; i < TUNE_TRIES && rc == TR_E_CAS; i++)
        rc = tune_once(c, &t, err, sizeof(err));
    /* the in-memory table serves KV reads and the mount list: refresh it from the store */
    if (rc == TR_OK && !t.auth)
        rc = api_mounts_reload(c->api, c->store);
    if (rc == TR_E_NOTFOUND) {
        snprintf(msg, sizeof(msg), "tune of path \"%s\" failed: no mount entry found", t.path);
        api_reply_error(c, 400, msg);
    } else if ((rc == TR_E_INVAL || rc == TR_E_UNSUPPORTED) && *err) {
        api_reply_error(c, 400, err);
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    } else {
        tr_log_info("mount %s tuned", t.path);
        api_reply_status(c, 204);
    }
}

void api_mount_tune(struct api_call *c)
{
    struct tune_target t;
    char msg[320];
    json_t *b;

    if (!api_body_object(c, &b))
        return;
    if (!target_of_call(c, &t)) {
        api_reply_error(c, 400, "invalid mount path");
        return;
    }
    if (untunable(t.path)) {
        snprintf(msg, sizeof(msg), "cannot tune \"%s\"", t.path);
        api_reply_error(c, 400, msg);
        return;
    }
    if (c->method == API_GET)
        tune_read(c, &t);
    else if (c->method == API_PUT)
        api_defer(c, tune_write_pool);
    else
        api_reply_error(c, 405, "unsupported operation");
}

json_t *api_mount_record_copy(struct api *api, const char *path)
{
    json_t *o = NULL;

    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->nmounts; i++) {
        if (strcmp(api->mounts[i].path, path) == 0) {
            o = json_deep_copy(api->mounts[i].config);
            break;
        }
    }
    pthread_mutex_unlock(&api->lock);
    return o;
}

int api_mount_ttls(struct api_call *c, const char *mount_path, int64_t *out_def, int64_t *out_max)
{
    struct tune_target t;
    json_t *rec = NULL;
    uint64_t ver = 0;
    int rc = TR_E_NOTFOUND;

    if (!target_of(mount_path, &t))
        return TR_E_NOTFOUND;
    if (!t.auth) {
        /* the mount table in memory holds every secret mount's record: no store read */
        struct api *api = c->api;
        pthread_mutex_lock(&api->lock);
        for (size_t i = 0; i < api->nmounts && rc != TR_OK; i++) {
            if (strcmp(api->mounts[i].path, mount_path) == 0) {
                api_mount_cfg_ttls(api->mounts[i].config, out_def, out_max);
                rc = TR_OK;
            }
        }
        pthread_mutex_unlock(&api->lock);
        return rc;
    }
    if ((rc = target_load(c, &t, &rec, &ver)) == TR_OK)
        api_mount_cfg_ttls(rec, out_def, out_max);
    json_decref(rec);
    return rc;
}
