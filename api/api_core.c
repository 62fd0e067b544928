/* Lifecycle glue between the trusted core and storage: open after unseal, refcounted access,
 * seal, the mount table. */
#include "api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_log.h"
#include "api_mount_cfg.h"

static int mount_from_json(const char *path, json_t *o, struct api_mount *m)
{
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *uuid = json_string_value(json_object_get(o, "uuid"));
    const char *desc = json_string_value(json_object_get(o, "description"));
    json_t *opts = json_object_get(o, "options");
    const char *ver = json_string_value(json_object_get(opts, "version"));

    memset(m, 0, sizeof(*m));
    if (!type || !uuid || strlen(path) >= sizeof(m->path) || strlen(type) >= sizeof(m->type) ||
        strlen(uuid) >= sizeof(m->uuid))
        return TR_E_INVAL;
    snprintf(m->path, sizeof(m->path), "%s", path);
    snprintf(m->type, sizeof(m->type), "%s", type);
    snprintf(m->uuid, sizeof(m->uuid), "%s", uuid);
    snprintf(m->description, sizeof(m->description), "%s", desc ? desc : "");
    if (strcmp(type, "transit") == 0)
        m->kind = API_MOUNT_TRANSIT;
    else if (strcmp(type, "kv") == 0)
        m->kind = ver && strcmp(ver, "2") == 0 ? API_MOUNT_KV2 : API_MOUNT_KV1;
    else
        return TR_E_INVAL;
    m->config = json_incref(o);
    return TR_OK;
}

static void mounts_clear_locked(struct api *api)
{
    for (size_t i = 0; i < api->nmounts; i++)
        json_decref(api->mounts[i].config);
    free(api->mounts);
    api->mounts = NULL;
    api->nmounts = 0;
}

int api_mounts_reload(struct api *api, struct store *st)
{
    struct store_list *l = NULL;
    struct store_list_opts lo = {0};
    struct api_mount *tmp = NULL;
    size_t n = 0;
    int rc;

    pthread_mutex_lock(&api->reload_mu);
    if ((rc = store_list(st, API_T_MOUNTS, &lo, &l)) != TR_OK)
        goto out;
    if (!(tmp = calloc(l->n ? l->n : 1, sizeof(*tmp)))) {
        store_list_free(l);
        rc = TR_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        char path[256];
        struct enc_secret *v = NULL;
        snprintf(path, sizeof(path), "%.*s", (int)l->e[i].key_len, (const char *)l->e[i].key);
        if (store_get(st, API_T_MOUNTS, l->e[i].key, l->e[i].key_len, &v, NULL) != TR_OK)
            continue;
        json_t *o = json_loadb((const char *)enc_secret_data(v), enc_secret_len(v), 0, NULL);
        enc_secret_free(v);
        if (o && mount_from_json(path, o, &tmp[n]) == TR_OK)
            n++;
        json_decref(o);
    }
    store_list_free(l);
    pthread_mutex_lock(&api->lock);
    mounts_clear_locked(api);
    api->mounts = tmp; /* the table now owns the entries' configs */
    api->nmounts = n;
    pthread_mutex_unlock(&api->lock);
out:
    pthread_mutex_unlock(&api->reload_mu);
    return rc;
}

bool api_mount_find(struct api *api, const char *path, struct api_mount *out)
{
    size_t best = 0, best_len = 0;
    bool found = false;

    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->nmounts; i++) {
        size_t n = strlen(api->mounts[i].path);
        /* "secret" (no slash) also names the mount "secret/" (LIST on the mount root) */
        bool match = strncmp(path, api->mounts[i].path, n) == 0 ||
                     (strlen(path) == n - 1 && strncmp(path, api->mounts[i].path, n - 1) == 0);
        if (match && n > best_len) {
            best = i;
            best_len = n;
            found = true;
        }
    }
    if (found && out) {
        *out = api->mounts[best];
        out->config = NULL; /* the copy does not own the JSON; handlers reread it */
    }
    pthread_mutex_unlock(&api->lock);
    return found;
}

struct store *api_core_store_ref(struct api *api)
{
    struct store *st = NULL;

    pthread_mutex_lock(&api->lock);
    if (api->store && !api->closing) {
        st = api->store;
        api->refs++;
    }
    pthread_mutex_unlock(&api->lock);
    return st;
}

void api_core_store_unref(struct api *api, struct store *st)
{
    (void)st;
    pthread_mutex_lock(&api->lock);
    if (api->refs && --api->refs == 0)
        pthread_cond_broadcast(&api->idle);
    pthread_mutex_unlock(&api->lock);
}

static int cluster_load(struct api *api, struct store *st)
{
    struct enc_secret *v = NULL;
    json_t *o = NULL;
    int rc = store_get(st, API_T_SYS, (const uint8_t *)"cluster", 7, &v, NULL);

    if (rc == TR_E_NOTFOUND) {
        char id[37], name[64];
        api_uuid(id);
        snprintf(name, sizeof(name), "tresor-cluster-%.8s", id);
        o = json_pack("{s:s, s:s}", "name", name, "id", id);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        rc = text ? store_put(st, API_T_SYS, (const uint8_t *)"cluster", 7, (const uint8_t *)text,
                              strlen(text), STORE_VERSION_ABSENT, NULL)
                  : TR_E_NOMEM;
        free(text);
    } else if (rc == TR_OK) {
        o = json_loadb((const char *)enc_secret_data(v), enc_secret_len(v), 0, NULL);
        enc_secret_free(v);
    }
    if (rc == TR_OK && o) {
        pthread_mutex_lock(&api->lock);
        snprintf(api->cluster_name, sizeof(api->cluster_name), "%s",
                 json_string_value(json_object_get(o, "name")));
        snprintf(api->cluster_id, sizeof(api->cluster_id), "%s",
                 json_string_value(json_object_get(o, "id")));
        pthread_mutex_unlock(&api->lock);
    }
    json_decref(o);
    return rc;
}

/*
 * The store's lifecycle steps: the open after an unseal (core_open_locked), a seal (operator,
 * init, shutdown) and a storage recovery run one at a time, each whole, from its first look at
 * api->store to its last enc_seal (api->transition). Without that, found by
 * tests/unit/test_core_race.c:
 *  - two sys/unseal requests whose shares both went in before either saw the core unsealed each
 *    found no store and opened one; the second failed on path/tresor.lock (TR_E_BUSY) and sealed
 *    the core as fatal_error;
 *  - a second seal found the store already unpublished by a first one still closing it, sealed
 *    the core and returned: an unseal then opened the directory while the first still held it;
 *  - a recovery re-anchored while a seal was closing the store, or an unseal opened the store in
 *    the middle of a recovery's re-anchor: one of them failed on the lock (the quorum's
 *    authorisation lost, or the core sealed as fatal).
 * The lock file turned each into TR_E_BUSY rather than two LMDB environments on one directory, but
 * the server ended sealed or the recovery failed. Order: a step first, then api->lock inside it;
 * never start a step while holding a store reference (a step waits for every reference).
 */
static void transition_begin(struct api *api)
{
    pthread_mutex_lock(&api->lock);
    while (api->transition)
        pthread_cond_wait(&api->idle, &api->lock);
    api->transition = true;
    pthread_mutex_unlock(&api->lock);
}

static void transition_end(struct api *api)
{
    pthread_mutex_lock(&api->lock);
    api->transition = false;
    pthread_cond_broadcast(&api->idle);
    pthread_mutex_unlock(&api->lock);
}

static bool core_unsealed(void)
{
    struct enc_status es;

    enc_status_get(&es);
    return es.state == ENC_UNSEALED;
}

/* Close the published store, if any (within a step). */
static void core_close_locked(struct api *api)
{
    struct store *st;

    pthread_mutex_lock(&api->lock);
    api->closing = true; /* new calls see "sealed" */
    while (api->refs)
        pthread_cond_wait(&api->idle, &api->lock);
    st = api->store;
    pthread_mutex_unlock(&api->lock);
    /* No call holds the store nor can take it: the audit lines of those that did become durable
     * and the last of them goes into the store (best effort) before it closes. */
    api_anchor_flush(api->anchor, st);
    api_anchor_disarm(api->anchor);
    pthread_mutex_lock(&api->lock);
    api->store = NULL;
    api->closing = false;
    mounts_clear_locked(api);
    pthread_mutex_unlock(&api->lock);
    /* no call holds the store any more (refs is 0), so nothing can put an entry of it again */
    api_cache_clear(api->cache);
    store_close(st);
}

/* Open the store and everything the api keeps from it (within a step); adopt: see
 * api_anchor_verify. */
static int core_open_locked(struct api *api, bool allow_create, bool adopt)
{
    struct store_opts so = {.path = api->opts.data_dir,
                            .allow_create = allow_create,
                            .min_interval_ms = api->opts.counter_min_interval_ms,
                            .scrub_interval_ms = api->opts.scrub_interval_ms};
    struct store_stats ss;
    struct store *st = NULL;
    int rc;

    /* The step this one waited for may have sealed the core (an operator seal, an open that
     * failed): there is nothing to open for, and store_open would refuse anyway. */
    if (!core_unsealed())
        return TR_E_SEALED;
    pthread_mutex_lock(&api->lock);
    st = api->store;
    pthread_mutex_unlock(&api->lock);
    if (st) {
        /* A request that completed the same unseal opened it first: serve from it. Unless it
         * refuses writes: then the core was sealed behind its back (the counter moved) or a
         * commit could not be anchored, and after an unseal store.h wants it closed and opened
         * again, which verifies the directory instead of serving it as it was left. */
        store_stats_get(st, &ss);
        if (ss.fail_rc == TR_OK)
            return TR_OK;
        tr_log_warn("the open store refuses writes (%s): closing it to verify it again",
                    tr_strerror(ss.fail_rc));
        core_close_locked(api);
        st = NULL;
    }
    /* A new store: the cache must start empty, as record versions are only unique within one
     * store. No call holds a store here (none is published), so nothing can be put between this
     * clear and the store's publication. */
    api_cache_clear(api->cache);
    if ((rc = store_open(&so, &st)) != TR_OK) {
        /* store_open sealed the core itself on rollback/tamper; anything else seals too, so
         * the server never serves without its store */
        tr_log_error("storage did not open: %s", tr_strerror(rc));
        if (rc != TR_E_ROLLBACK && rc != TR_E_TAMPER && rc != TR_E_SEALED)
            enc_seal(ENC_REASON_FATAL);
        return rc;
    }
    if ((rc = api_mounts_reload(api, st)) != TR_OK || (rc = cluster_load(api, st)) != TR_OK) {
        store_close(st);
        enc_seal(ENC_REASON_FATAL);
        return rc;
    }
    /* The audit file must still hold the line this store anchored (audit_anchor.h); only the
     * recovery quorum may accept it otherwise. */
    if ((rc = api_anchor_verify(api->anchor, st, adopt)) != TR_OK) {
        store_close(st);
        enc_seal(rc == TR_E_TAMPER ? ENC_REASON_TAMPER : ENC_REASON_FATAL);
        return rc;
    }
    /* before anything serves; a failure leaves the affected auth mounts' tokens refused */
    if ((rc = api_auth_resume(st)) != TR_OK)
        tr_log_error("auth mounts not resumed: %s", tr_strerror(rc));
    pthread_mutex_lock(&api->lock);
    api->store = st;
    api->closing = false;
    pthread_mutex_unlock(&api->lock);
    return TR_OK;
}

int api_core_after_unseal(struct api *api, bool allow_create)
{
    transition_begin(api);
    int rc = core_open_locked(api, allow_create, false);
    transition_end(api);
    return rc;
}

void api_core_seal(struct api *api, enum enc_reason reason)
{
    transition_begin(api);
    core_close_locked(api);
    /* Sealed before the step ends: an unseal's step waiting for this one must find the core
     * sealed, not open the store again and leave it published under a sealed core. */
    if (reason != ENC_REASON_NONE)
        enc_seal(reason);
    transition_end(api);
}

/* True when a mount in the table shows accessor acc. */
static bool accessor_in_use(struct api *api, const char *acc)
{
    char cur[API_MOUNT_ACCESSOR_MAX];
    bool hit = false;

    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->nmounts && !hit; i++) {
        const struct api_mount *m = &api->mounts[i];
        api_mount_accessor(m->config, m->type, m->uuid, cur, sizeof(cur));
        hit = strcmp(cur, acc) == 0;
    }
    pthread_mutex_unlock(&api->lock);
    return hit;
}

/* A new mount's uuid and its accessor, Vault's "<type>_<8 hex>" (the uuid's first 8 digits,
 * as auth mounts' "auth_<type>_<8 hex>"), drawn again while another mount shows the same one
 * (Vault retries too); enables are serialised by the caller. */
static void mount_ids_new(struct api *api, const char *type, char uuid[37],
                          char acc[API_MOUNT_ACCESSOR_MAX])
{
    for (int tries = 0; tries < 16; tries++) {
        api_uuid(uuid);
        snprintf(acc, API_MOUNT_ACCESSOR_MAX, "%s_%.8s", type, uuid);
        if (!accessor_in_use(api, acc))
            break;
    }
}

int api_mount_create(struct api *api, struct store *st, const char *path, const char *json_text)
{
    json_error_t jerr;
    json_t *o = json_loads(json_text, 0, &jerr);
    struct api_mount m;
    char uuid[37], acc[API_MOUNT_ACCESSOR_MAX];
    int rc = TR_E_INVAL;

    if (!o)
        return TR_E_INVAL;
    /* enables are serialised by their caller, so the count cannot change before the put */
    pthread_mutex_lock(&api->lock);
    bool full = api->nmounts >= API_MOUNTS_MAX;
    pthread_mutex_unlock(&api->lock);
    rc = TR_E_LIMIT;
    if (full)
        goto out;
    rc = TR_E_INVAL;
    if (!json_is_string(json_object_get(o, "type")))
        goto out;
    mount_ids_new(api, json_string_value(json_object_get(o, "type")), uuid, acc);
    json_object_set_new(o, "uuid", json_string(uuid));
    json_object_set_new(o, "accessor", json_string(acc));
    if (mount_from_json(path, o, &m) != TR_OK)
        goto out;
    json_decref(m.config);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    rc = text ? store_put(st, API_T_MOUNTS, (const uint8_t *)path, strlen(path),
                          (const uint8_t *)text, strlen(text), STORE_VERSION_ABSENT, NULL)
              : TR_E_NOMEM;
    free(text);
    if (rc == TR_E_CAS)
        rc = TR_E_EXISTS;
    if (rc == TR_OK)
        rc = api_mounts_reload(api, st);
out:
    json_decref(o);
    return rc;
}

int api_core_recover(struct api *api)
{
    struct store_opts so = {.path = api->opts.data_dir,
                            .min_interval_ms = api->opts.counter_min_interval_ms,
                            .scrub_interval_ms = api->opts.scrub_interval_ms};
    int rc;

    /* One step from the close to the open: no unseal may open the store between them, nor
     * during the re-anchor. */
    transition_begin(api);
    core_close_locked(api); /* closes a store that might still be open */
    if (!core_unsealed()) {
        rc = TR_E_SEALED; /* sealed while this waited (an operator seal came first) */
        tr_log_warn("storage recovery not done: the core was sealed meanwhile");
        goto out;
    }
    tr_log_warn("storage recovery: re-anchoring the on-disk state as authorised by the quorum");
    if ((rc = store_recover_reanchor(&so)) != TR_OK) {
        tr_log_error("storage recovery failed: %s", tr_strerror(rc));
        goto out;
    }
    rc = core_open_locked(api, false, true); /* the quorum also accepts the audit file as it is */
out:
    transition_end(api);
    return rc;
}
