/* The KV secrets engine, versions 2 and 1 (vault-api.md §3), on the protected store.
 *
 * Layout: KV v2 keeps one metadata record per key (table kvmeta, key "<mount uuid>/<path>") and
 * one record per version (table kvdata, key "<mount uuid>/<path>@<version>"); a path is at most
 * KV_PATH_MAX bytes, so keys are never truncated. Every write is one atomic store request with a
 * check-and-set on the metadata record's version, made while holding the key's lock (kv_lock),
 * so writers of one key take turns as in Vault and never see each other's races. KV v1 keeps the
 * value itself in kvmeta. Mount settings (max_versions, cas_required, delete_version_after) live
 * in table sys under "kvconfig/<mount uuid>". */
#include "api_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"

#define KV_KEY_MAX      (STORE_KEY_MAX - 24)
#define KV_DEFAULT_KEEP 10
#define KV_RETRIES      8
#define KV_VERSIONS_MAX 1000
#define KV_CUSTOM_KEYS  64
/* delete_version_after in seconds; beyond, nanosecond times would overflow (100 years) */
#define KV_DVA_MAX ((int64_t)100 * 365 * 86400)
#define KV_LOCKS   1024 /* write lock stripes (Vault: 256; more make two keys sharing one rarer) */
/* Every attempt of a write lost its metadata check-and-set though the key's lock was held: a
 * writer outside this module (a mount being disabled) kept changing the record. The client
 * asked for no check-and-set, so it is not told it failed one: a retryable 503. */
#define KV_E_LOST_RACES TR_E_BUSY
/* a path's bytes: its metadata key is "<36-byte mount uuid>/<path>" */
#define KV_PATH_MAX (KV_KEY_MAX - 37)

/* ---- keys and small helpers ----------------------------------------------------------- */

static bool kv_meta_key(const struct api_call *c, const char *p, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", c->mount.uuid, p);
    return n > 0 && (size_t)n < cap && (size_t)n <= KV_KEY_MAX && *p;
}

/* The metadata key of p into out, or the answer for a path that has none: an empty path is a
 * key that cannot exist (404 to a read, as Vault) or 400 "missing path" to a write; a path too
 * long for a store key is 400 (never truncated: two paths would share one record). false when
 * the call has been answered. */
static bool kv_key_or_reply(struct api_call *c, const char *p, bool read, char *out, size_t cap)
{
    char msg[64];

    if (kv_meta_key(c, p, out, cap))
        return true;
    if (!*p && read) {
        api_reply_error(c, 404, NULL);
    } else if (!*p) {
        api_reply_error(c, 400, "missing path");
    } else {
        snprintf(msg, sizeof(msg), "path too long: at most %d bytes", (int)KV_PATH_MAX);
        api_reply_error(c, 400, msg);
    }
    return false;
}

static void kv_data_key(const char *meta_key, int64_t v, char *out, size_t cap)
{
    snprintf(out, cap, "%s@%020" PRId64, meta_key, v);
}

static void ns_time(int64_t ns, char *out, size_t cap)
{
    if (ns <= 0)
        snprintf(out, cap, "%s", "");
    else
        api_time_rfc3339(ns, out, cap);
}

static int64_t jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void go_duration(int64_t s, char *out, size_t cap)
{
    if (s < 0) { /* only the mount config's "disabled" (-1s) is negative */
        char abs[40];
        go_duration(-s, abs, sizeof(abs));
        snprintf(out, cap, "-%s", abs);
        return;
    }
    if (s == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
    if (h)
        snprintf(out, cap, "%" PRId64 "h%" PRId64 "m%" PRId64 "s", h, m, sec);
    else if (m)
        snprintf(out, cap, "%" PRId64 "m%" PRId64 "s", m, sec);
    else
        snprintf(out, cap, "%" PRId64 "s", sec);
}

static json_t *kv_config_load(struct api_call *c)
{
    char key[64];
    json_t *o = NULL;

    snprintf(key, sizeof(key), "kvconfig/%s", c->mount.uuid);
    if (api_get_json(c, API_T_SYS, key, &o, NULL) != TR_OK)
        o = json_pack("{s:i, s:b, s:i}", "max_versions", 0, "cas_required", 0,
                      "delete_version_after", 0);
    return o;
}

/* ---- metadata ------------------------------------------------------------------------------ */

static json_t *meta_new(void)
{
    int64_t now = api_now_ns();
    return json_pack("{s:I, s:I, s:i, s:i, s:i, s:b, s:i, s:n, s:{}}", "created_time",
                     (json_int_t)now, "updated_time", (json_int_t)now, "current_version", 0,
                     "oldest_version", 0, "max_versions", 0, "cas_required", 0,
                     "delete_version_after", 0, "custom_metadata", "versions");
}

static json_t *version_meta_json(const json_t *meta, int64_t v)
{
    char key[24], ct[64], dt[64];
    snprintf(key, sizeof(key), "%" PRId64, v);
    json_t *vm = json_object_get(json_object_get(meta, "versions"), key);
    json_t *cm = json_object_get(meta, "custom_metadata");

    ns_time(jint(vm, "created_time"), ct, sizeof(ct));
    ns_time(jint(vm, "deletion_time"), dt, sizeof(dt));
    /* copies: meta may be shared with the cache, and a reply must own all of its tree */
    return json_pack("{s:s, s:o, s:s, s:b, s:I}", "created_time", ct, "custom_metadata",
                     cm ? json_deep_copy(cm) : json_null(), "deletion_time", dt, "destroyed",
                     json_is_true(json_object_get(vm, "destroyed")), "version", (json_int_t)v);
}

static json_t *metadata_json(const json_t *meta)
{
    char ct[64], ut[64], dva[48];
    json_t *versions = json_object();
    const char *k;
    json_t *vm;

    json_object_foreach(json_object_get(meta, "versions"), k, vm)
    {
        char a[64], b[64];
        ns_time(jint(vm, "created_time"), a, sizeof(a));
        ns_time(jint(vm, "deletion_time"), b, sizeof(b));
        json_object_set_new(versions, k,
                            json_pack("{s:s, s:s, s:b}", "created_time", a, "deletion_time", b,
                                      "destroyed", json_is_true(json_object_get(vm, "destroyed"))));
    }
    ns_time(jint(meta, "created_time"), ct, sizeof(ct));
    ns_time(jint(meta, "updated_time"), ut, sizeof(ut));
    go_duration(jint(meta, "delete_version_after"), dva, sizeof(dva));
    json_t *cm = json_object_get(meta, "custom_metadata");
    return json_pack(
        "{s:b, s:s, s:I, s:o, s:s, s:I, s:I, s:s, s:o}", "cas_required",
        json_is_true(json_object_get(meta, "cas_required")), "created_time", ct, "current_version",
        (json_int_t)jint(meta, "current_version"), "custom_metadata",
        cm ? json_deep_copy(cm) : json_null(), "delete_version_after", dva, "max_versions",
        (json_int_t)jint(meta, "max_versions"), "oldest_version",
        (json_int_t)jint(meta, "oldest_version"), "updated_time", ut, "versions", versions);
}

/* A version is readable when it exists, is not destroyed and its deletion time (if any) is
 * still in the future (delete_version_after). */
static bool version_live(const json_t *vm)
{
    int64_t dt = jint(vm, "deletion_time");
    return vm && !json_is_true(json_object_get(vm, "destroyed")) && (dt == 0 || dt > api_now_ns());
}

/* versions: [1, "2"], "1,2" (vault-api.md trap 15) or one number, as Vault's comma int slice.
 * Absent or null: none (*n = 0). Errors: TR_E_INVAL (not version numbers), TR_E_TOO_LARGE. */
static int parse_versions(const json_t *v, int64_t *out, size_t cap, size_t *n)
{
    *n = 0;
    if (!v || json_is_null(v))
        return TR_OK;
    if (json_is_integer(v)) {
        out[(*n)++] = json_integer_value(v);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (*n >= cap)
                return TR_E_TOO_LARGE;
            if (json_is_integer(x))
                out[*n] = json_integer_value(x);
            else if (!json_is_string(x) || !tr_parse_int64(json_string_value(x), &out[*n]))
                return TR_E_INVAL;
            (*n)++;
        }
    } else if (json_is_string(v)) {
        char *dup = strdup(json_string_value(v)), *save = NULL;
        int rc = dup ? TR_OK : TR_E_NOMEM;
        for (char *t = dup ? strtok_r(dup, ",", &save) : NULL; t && rc == TR_OK;
             t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            if (*n >= cap)
                rc = TR_E_TOO_LARGE;
            else if (!tr_parse_int64(t, &out[*n]))
                rc = TR_E_INVAL;
            else
                (*n)++;
        }
        free(dup);
        return rc;
    } else {
        return TR_E_INVAL;
    }
    return TR_OK;
}

/* ---- reads (event thread) ----------------------------------------------------------------- */

/* A parsed metadata document shared by the cache and the requests reading it. Sharing goes
 * through this count, never through jansson's: the tree's own reference counts are never
 * touched while it is shared (readers only call jansson's read functions on it), and the last
 * holder frees it after a full barrier. */
struct kv_meta_doc {
    atomic_uint refs;
    json_t *meta; /* owned; never modified */
};

static void meta_ref(void *v)
{
    atomic_fetch_add(&((struct kv_meta_doc *)v)->refs, 1);
}

static void meta_unref(void *v)
{
    struct kv_meta_doc *d = v;

    if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
        return;
    json_decref(d->meta);
    free(d);
}

static const struct api_cache_kind meta_kind = {"kvmeta", meta_ref, meta_unref};

/* A rough size of a parsed metadata document, for the cache's budget. */
static size_t meta_cost(const json_t *meta)
{
    return 1024 + 512 * json_object_size(json_object_get(meta, "versions")) +
           1024 * json_object_size(json_object_get(meta, "custom_metadata"));
}

/* A KV v2 key's metadata for reading (*out: release with meta_unref), from the cache while the
 * index still has the version it was parsed from. It may be shared with other requests: read
 * it, never change it, never take jansson references into it (copy instead); writes load their
 * own (txn_load). KV v1 keeps secret values in the same table: never call this for v1. */
static int kv2_meta_read(struct api_call *c, const char *mk, struct kv_meta_doc **out)
{
    struct api_cache *cache = c->api->cache;
    struct kv_meta_doc *d = NULL;
    size_t len = strlen(mk);
    uint64_t ver = 0;
    int rc;

    /* an absent key goes to the store, which tells deleted from vanished (tamper alarm) */
    if ((rc = store_stat(c->store, API_T_KVMETA, (const uint8_t *)mk, len, &ver)) == TR_OK &&
        (*out = api_cache_get(cache, &meta_kind, mk, len, ver)))
        return TR_OK;
    if (rc == TR_E_NOTFOUND)
        api_cache_drop(cache, &meta_kind, mk, len);
    if (!(d = calloc(1, sizeof(*d))))
        return TR_E_NOMEM;
    atomic_init(&d->refs, 1);
    if ((rc = api_get_json(c, API_T_KVMETA, mk, &d->meta, &ver)) != TR_OK) {
        free(d);
        return rc;
    }
    api_cache_put(cache, &meta_kind, mk, len, ver, d, meta_cost(d->meta));
    *out = d;
    return TR_OK;
}

/* ?version=N (absent or 0: the current one) into *v; false when the call has been answered 400.
 * Vault reads a negative number as the current version; it is refused here as the mistake it is. */
static bool kv_version_param(struct api_call *c, int64_t *v)
{
    const char *q = tr_json_get_str(c->query, "version");

    *v = 0;
    if (!q || (tr_parse_int64(q, v) && *v >= 0))
        return true;
    api_reply_error(c, 400, "version must be a whole number of at least 0");
    return false;
}

static void kv2_read(struct api_call *c, const char *p)
{
    char mk[STORE_KEY_MAX + 1], dk[STORE_KEY_MAX + 32], vs[24];
    struct kv_meta_doc *doc = NULL;
    json_t *data = NULL;
    int64_t v = 0;
    int rc;

    if (!kv_version_param(c, &v) || !kv_key_or_reply(c, p, true, mk, sizeof(mk)))
        return;
    if ((rc = kv2_meta_read(c, mk, &doc)) != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    const json_t *meta = doc->meta;
    if (!v)
        v = jint(meta, "current_version");
    snprintf(vs, sizeof(vs), "%" PRId64, v);
    json_t *vm = json_object_get(json_object_get(meta, "versions"), vs);
    if (!vm) {
        api_reply_error(c, 404, NULL);
    } else if (!version_live(vm)) {
        /* deleted or destroyed: 404 carrying the version metadata (vault-api.md trap 4) */
        api_reply_data(c, 404,
                       json_pack("{s:n, s:o}", "data", "metadata", version_meta_json(meta, v)));
    } else {
        kv_data_key(mk, v, dk, sizeof(dk));
        rc = api_get_json(c, API_T_KVDATA, dk, &data, NULL);
        if (rc != TR_OK)
            api_reply_err(c, rc == TR_E_NOTFOUND ? TR_E_TAMPER : rc);
        else
            api_reply_data(
                c, 200,
                json_pack("{s:o, s:o}", "data", data, "metadata", version_meta_json(meta, v)));
    }
    meta_unref(doc);
}

static void kv_list(struct api_call *c, const char *p)
{
    char prefix[STORE_KEY_MAX + 2];
    struct store_list *l = NULL;
    int n = snprintf(prefix, sizeof(prefix), "%s/%s", c->mount.uuid, p);
    struct store_list_opts lo = {.prefix = (const uint8_t *)prefix, .fold = true};

    if (n < 0 || (size_t)n >= sizeof(prefix)) {
        api_reply_error(c, 400, "path too long");
        return;
    }
    lo.prefix_len = (size_t)n;
    int rc = store_list(c->store, API_T_KVMETA, &lo, &l);
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    json_t *keys = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(
            keys, json_stringn((const char *)l->e[i].key + n, l->e[i].key_len - (size_t)n));
    store_list_free(l);
    api_reply_keys(c, keys);
}

static void kv2_metadata_read(struct api_call *c, const char *p)
{
    char mk[STORE_KEY_MAX + 1];
    struct kv_meta_doc *doc = NULL;

    if (!kv_key_or_reply(c, p, true, mk, sizeof(mk)))
        return;
    int rc = kv2_meta_read(c, mk, &doc);
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    api_reply_data(c, 200, metadata_json(doc->meta));
    meta_unref(doc);
}

/* every leaf replaced by null, objects kept down to depth (0 = all); below the top, an empty
 * object is a leaf too (the secret itself stays an object, {} for an empty one, as Vault) */
static json_t *subkeys_of(const json_t *v, int64_t depth, int64_t level)
{
    if (!json_is_object(v) || (level > 0 && (!json_object_size(v) || (depth && level >= depth))))
        return json_null();
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
        json_object_set_new(o, k, subkeys_of(x, depth, level + 1));
    return o;
}

static void kv2_subkeys(struct api_call *c, const char *p)
{
    char mk[STORE_KEY_MAX + 1], dk[STORE_KEY_MAX + 32], vs[24];
    struct kv_meta_doc *doc = NULL;
    json_t *data = NULL;
    int64_t v = 0, depth = 0;
    const char *d = tr_json_get_str(c->query, "depth");

    if (d && (!tr_parse_int64(d, &depth) || depth < 0)) {
        api_reply_error(c, 400, "depth must be a whole number of at least 0");
        return;
    }
    if (!kv_version_param(c, &v) || !kv_key_or_reply(c, p, true, mk, sizeof(mk)))
        return;
    int rc = kv2_meta_read(c, mk, &doc);
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    const json_t *meta = doc->meta;
    if (!v)
        v = jint(meta, "current_version");
    snprintf(vs, sizeof(vs), "%" PRId64, v);
    json_t *vm = json_object_get(json_object_get(meta, "versions"), vs);
    if (!vm) {
        api_reply_error(c, 404, NULL);
    } else if (!version_live(vm)) {
        api_reply_data(c, 404,
                       json_pack("{s:n, s:o}", "subkeys", "metadata", version_meta_json(meta, v)));
    } else {
        kv_data_key(mk, v, dk, sizeof(dk));
        if ((rc = api_get_json(c, API_T_KVDATA, dk, &data, NULL)) != TR_OK)
            api_reply_err(c, rc == TR_E_NOTFOUND ? TR_E_TAMPER : rc);
        else
            api_reply_data(c, 200,
                           json_pack("{s:o, s:o}", "subkeys", subkeys_of(data, depth, 0),
                                     "metadata", version_meta_json(meta, v)));
        json_decref(data);
    }
    meta_unref(doc);
}

static void kv2_config_read(struct api_call *c)
{
    json_t *cfg = kv_config_load(c);
    char dva[48];

    go_duration(jint(cfg, "delete_version_after"), dva, sizeof(dva));
    api_reply_data(c, 200,
                   json_pack("{s:b, s:s, s:I}", "cas_required",
                             json_is_true(json_object_get(cfg, "cas_required")),
                             "delete_version_after", dva, "max_versions",
                             (json_int_t)jint(cfg, "max_versions")));
    json_decref(cfg);
}

bool api_kv_existence(struct api_call *c)
{
    char mk[STORE_KEY_MAX + 1];
    const char *p = c->rel;
    uint64_t v;

    if (c->mount.kind == API_MOUNT_KV2) {
        if (!strncmp(p, "data/", 5))
            p += 5;
        else if (!strncmp(p, "metadata/", 9))
            p += 9;
        else
            return true; /* config, delete, undelete, destroy: update */
    }
    return kv_meta_key(c, p, mk, sizeof(mk)) &&
           store_stat(c->store, API_T_KVMETA, (const uint8_t *)mk, strlen(mk), &v) == TR_OK;
}

/* ---- writes (pool threads) ------------------------------------------------------------- */

/* Writers of one key take its lock for the whole read-modify-write, as Vault's plugin does
 * (locksutil): the check-and-set on the metadata record alone let only one of the writers that
 * read the same version through per group commit, so a burst of plain writes to one key ran out
 * of retries and got a check-and-set error none of them asked for. Stripes are chosen by a keyed
 * hash, so clients picking paths cannot aim at the stripe of someone else's key. The table is
 * process-wide (one per process, like the pool); no lock is taken while one is held. */
static struct {
    pthread_once_t once;
    pthread_mutex_t mu[KV_LOCKS];
    uint8_t hkey[crypto_shorthash_KEYBYTES];
} kv_locks = {.once = PTHREAD_ONCE_INIT};

static void kv_locks_init(void)
{
    for (size_t i = 0; i < KV_LOCKS; i++)
        pthread_mutex_init(&kv_locks.mu[i], NULL);
    randombytes_buf(kv_locks.hkey, sizeof(kv_locks.hkey));
}

/* Lock the key p of the call's mount; release with kv_unlock. */
static pthread_mutex_t *kv_lock(const struct api_call *c, const char *p)
{
    char mk[STORE_KEY_MAX + 1];
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;

    pthread_once(&kv_locks.once, kv_locks_init);
    snprintf(mk, sizeof(mk), "%s/%s", c->mount.uuid, p); /* fits: kv2_handle checked p */
    crypto_shorthash(h, (const uint8_t *)mk, strlen(mk), kv_locks.hkey);
    memcpy(&v, h, sizeof(v));
    pthread_mutex_t *m = &kv_locks.mu[v % KV_LOCKS];
    pthread_mutex_lock(m);
    return m;
}

static void kv_unlock(pthread_mutex_t *m)
{
    pthread_mutex_unlock(m);
}

/* One attempt of a metadata transaction: ops are built by the caller around the metadata
 * record, which is always written with a check-and-set on the version it was read at. */
struct kv_txn {
    char mk[STORE_KEY_MAX + 1];
    json_t *meta;      /* owned */
    uint64_t meta_ver; /* STORE_VERSION_ABSENT when new */
    struct store_op ops[KV_VERSIONS_MAX + 2];
    char *keys[KV_VERSIONS_MAX + 2]; /* owned copies */
    char *texts[2];
    size_t n;
};

static int txn_load(struct api_call *c, struct kv_txn *t, bool create)
{
    int rc = api_get_json(c, API_T_KVMETA, t->mk, &t->meta, &t->meta_ver);
    if (rc == TR_E_NOTFOUND && create) {
        t->meta = meta_new();
        t->meta_ver = STORE_VERSION_ABSENT;
        return t->meta ? TR_OK : TR_E_NOMEM;
    }
    return rc;
}

static void txn_reset(struct kv_txn *t)
{
    json_decref(t->meta);
    t->meta = NULL;
    for (int i = 0; i < 2; i++) {
        free(t->texts[i]);
        t->texts[i] = NULL;
    }
    for (size_t i = 0; i < t->n; i++)
        free(t->keys[i]);
    t->n = 0;
}

static int txn_put(struct kv_txn *t, const char *table, const char *key, const json_t *val,
                   uint64_t expect)
{
    int slot = t->texts[0] ? 1 : 0;
    if (!(t->texts[slot] = json_dumps(val, JSON_COMPACT | JSON_SORT_KEYS)) ||
        !(t->keys[t->n] = strdup(key)))
        return TR_E_NOMEM;
    t->ops[t->n] = (struct store_op){STORE_OP_PUT,
                                     table,
                                     (const uint8_t *)t->keys[t->n],
                                     strlen(t->keys[t->n]),
                                     (const uint8_t *)t->texts[slot],
                                     strlen(t->texts[slot]),
                                     expect};
    t->n++;
    return TR_OK;
}

static int txn_del(struct kv_txn *t, const char *table, const char *key)
{
    if (!(t->keys[t->n] = strdup(key)))
        return TR_E_NOMEM;
    t->ops[t->n] = (struct store_op){STORE_OP_DEL,          table, (const uint8_t *)t->keys[t->n],
                                     strlen(t->keys[t->n]), NULL,  0,
                                     STORE_VERSION_ANY};
    t->n++;
    return TR_OK;
}

/* updated_time is left alone: as in Vault it moves with new versions only (txn_new_version),
 * not with metadata writes, deletes, undeletes or destroys. */
static int txn_commit_meta(struct api_call *c, struct kv_txn *t)
{
    int rc;
    if ((rc = txn_put(t, API_T_KVMETA, t->mk, t->meta, t->meta_ver)) != TR_OK)
        return rc;
    return store_write(c->store, t->ops, t->n, NULL);
}

static int64_t effective_keep(const json_t *meta, const json_t *cfg)
{
    int64_t a = jint(meta, "max_versions"), b = jint(cfg, "max_versions");
    int64_t keep = a > b ? a : b;
    return keep > 0 ? keep : KV_DEFAULT_KEEP;
}

/* The delete_version_after a key's new or undeleted versions get, in seconds (0: none): the
 * smaller non-zero one of the key's and the mount's, none while the mount disables it (< 0). */
static int64_t kv_dva(const json_t *meta, const json_t *cfg)
{
    int64_t dva = jint(meta, "delete_version_after"), cdva = jint(cfg, "delete_version_after");

    if (cdva < 0)
        return 0;
    if (cdva > 0 && (dva <= 0 || cdva < dva))
        dva = cdva;
    return dva > 0 ? dva : 0;
}

/* Add version cur+1 holding data; prune beyond the retention limit. */
static int txn_new_version(struct kv_txn *t, const json_t *cfg, const json_t *data, int64_t *out_v)
{
    json_t *versions = json_object_get(t->meta, "versions");
    int64_t v = jint(t->meta, "current_version") + 1, now = api_now_ns();
    int64_t dva = kv_dva(t->meta, cfg);
    char vs[24], dk[STORE_KEY_MAX + 32];
    int rc;

    snprintf(vs, sizeof(vs), "%" PRId64, v);
    json_object_set_new(
        versions, vs,
        json_pack("{s:I, s:I, s:b}", "created_time", (json_int_t)now, "deletion_time",
                  (json_int_t)(dva > 0 ? now + dva * 1000000000LL : 0), "destroyed", 0));
    json_object_set_new(t->meta, "current_version", json_integer(v));
    json_object_set_new(t->meta, "updated_time", json_integer(now));
    kv_data_key(t->mk, v, dk, sizeof(dk));
    if ((rc = txn_put(t, API_T_KVDATA, dk, data, STORE_VERSION_ABSENT)) != TR_OK)
        return rc;
    /* Vault's window: once current - oldest reaches the limit, everything up to current - keep
     * goes and oldest_version becomes the next one (so it is 1, not 0, when the limit is first
     * reached with nothing to prune). Versions are contiguous from oldest (or 1) to current and
     * at most KV_VERSIONS_MAX + 1 of them exist, so this stays within the request's ops. */
    int64_t keep = effective_keep(t->meta, cfg), oldest = jint(t->meta, "oldest_version");
    if (v - oldest >= keep) {
        for (int64_t o = oldest; o <= v - keep; o++) {
            snprintf(vs, sizeof(vs), "%" PRId64, o);
            if (!json_object_get(versions, vs))
                continue;
            json_object_del(versions, vs);
            kv_data_key(t->mk, o, dk, sizeof(dk));
            if ((rc = txn_del(t, API_T_KVDATA, dk)) != TR_OK)
                return rc;
        }
        json_object_set_new(t->meta, "oldest_version", json_integer(v - keep + 1));
    }
    *out_v = v;
    return TR_OK;
}

/* RFC 7396 merge of patch into target (both objects). A patch object meeting no object in the
 * target is merged into an empty one, so its nulls are dropped rather than stored. */
static void merge_patch(json_t *target, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        json_t *t = json_object_get(target, k);
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v)) {
            if (!json_is_object(t))
                json_object_set_new(target, k, t = json_object());
            merge_patch(t, v);
        } else {
            json_object_set_new(target, k, json_deep_copy(v));
        }
    }
}

static bool cas_check(struct api_call *c, const struct kv_txn *t, const json_t *cfg, int *err)
{
    json_t *opts = json_object_get(c->body, "options");
    int64_t cas = 0;
    bool bad = false, has = tr_json_get_int(opts, "cas", &cas, &bad);

    if (bad) {
        *err = 1;
        return false;
    }
    if (!has && (json_is_true(json_object_get(t->meta, "cas_required")) ||
                 json_is_true(json_object_get(cfg, "cas_required")))) {
        *err = 2;
        return false;
    }
    if (has && cas != jint(t->meta, "current_version")) {
        *err = 3;
        return false;
    }
    return true;
}

static const char *const cas_errors[] = {"", "error parsing check-and-set parameter",
                                         "check-and-set parameter required for this call",
                                         "check-and-set parameter did not match the current "
                                         "version"};

/* PUT or PATCH data/<p>. Returns the new version's metadata or an error (TR_E_NOTFOUND with the
 * current version's metadata when a PATCH finds it deleted or destroyed). */
static int kv2_write_once(struct api_call *c, const char *p, bool patch, json_t *cfg, json_t **out,
                          int *cas_err)
{
    struct kv_txn *t = calloc(1, sizeof(*t));
    json_t *data = json_object_get(c->body, "data"), *merged = NULL;
    int64_t v = 0;
    int rc = TR_E_NOMEM;

    if (!t)
        return rc;
    snprintf(t->mk, sizeof(t->mk), "%s/%s", c->mount.uuid, p);
    if ((rc = txn_load(c, t, !patch)) != TR_OK)
        goto out;
    if (!cas_check(c, t, cfg, cas_err)) {
        rc = TR_E_CAS;
        goto out;
    }
    if (patch) {
        char vs[24], dk[STORE_KEY_MAX + 32];
        int64_t cur = jint(t->meta, "current_version");
        snprintf(vs, sizeof(vs), "%" PRId64, cur);
        json_t *vm = json_object_get(json_object_get(t->meta, "versions"), vs);
        if (!version_live(vm)) {
            /* as Vault, a deleted or destroyed one answers 404 with its version metadata */
            if (vm)
                *out = version_meta_json(t->meta, cur);
            rc = TR_E_NOTFOUND;
            goto out;
        }
        kv_data_key(t->mk, cur, dk, sizeof(dk));
        if ((rc = api_get_json(c, API_T_KVDATA, dk, &merged, NULL)) != TR_OK)
            goto out;
        merge_patch(merged, data);
        data = merged;
    }
    if ((rc = txn_new_version(t, cfg, data, &v)) != TR_OK || (rc = txn_commit_meta(c, t)) != TR_OK)
        goto out;
    *out = version_meta_json(t->meta, v);
out:
    json_decref(merged);
    txn_reset(t);
    free(t);
    return rc;
}

/* Why a data write's body is refused; NULL when it is not. */
static const char *kv2_body_bad(const json_t *b)
{
    const json_t *data = json_object_get(b, "data"), *opts = json_object_get(b, "options");

    if (!data || json_is_null(data))
        return "no data provided";
    if (!json_is_object(data))
        return "Field validation failed: data must be an object";
    if (opts && !json_is_null(opts) && !json_is_object(opts))
        return "Field validation failed: options must be an object";
    return NULL;
}

static void kv2_write(struct api_call *c, const char *p, bool patch)
{
    const char *bad = kv2_body_bad(c->body);
    json_t *cfg = NULL, *res = NULL;
    int cas_err = 0, rc = TR_E_CAS;

    if (bad) {
        api_reply_error(c, 400, bad);
        return;
    }
    cfg = kv_config_load(c);
    for (int i = 0; i < KV_RETRIES && rc == TR_E_CAS && !cas_err; i++)
        rc = kv2_write_once(c, p, patch, cfg, &res, &cas_err);
    json_decref(cfg);
    if (rc == TR_E_CAS && !cas_err)
        rc = KV_E_LOST_RACES;
    if (cas_err)
        api_reply_error(c, 400, cas_errors[cas_err]);
    else if (rc == TR_E_NOTFOUND && res)
        api_reply_data(c, 404, res);
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_data(c, 200, res);
}

enum kv_vop { KV_SOFT_DELETE, KV_UNDELETE, KV_DESTROY };

/* Apply a version operation to the listed versions (or the latest with n == 0). */
static int kv2_versions_once(struct api_call *c, const char *p, enum kv_vop op, const int64_t *list,
                             size_t n)
{
    struct kv_txn *t = calloc(1, sizeof(*t));
    /* as Vault, an undeleted version gets a new deletion time from delete_version_after */
    json_t *versions, *cfg = op == KV_UNDELETE ? kv_config_load(c) : NULL;
    int64_t latest;
    int rc = TR_E_NOMEM;

    if (!t || (op == KV_UNDELETE && !cfg))
        goto out;
    snprintf(t->mk, sizeof(t->mk), "%s/%s", c->mount.uuid, p);
    if ((rc = txn_load(c, t, false)) != TR_OK)
        goto out;
    versions = json_object_get(t->meta, "versions");
    latest = jint(t->meta, "current_version");
    for (size_t i = 0; i < (n ? n : 1); i++) {
        char vs[24], dk[STORE_KEY_MAX + 32];
        int64_t v = n ? list[i] : latest;
        snprintf(vs, sizeof(vs), "%" PRId64, v);
        json_t *vm = json_object_get(versions, vs);
        if (!vm || json_is_true(json_object_get(vm, "destroyed")))
            continue; /* unknown or destroyed versions are skipped, as Vault does */
        /* a deletion time still ahead (delete_version_after) is brought forward to now */
        if (op == KV_SOFT_DELETE && version_live(vm)) {
            json_object_set_new(vm, "deletion_time", json_integer(api_now_ns()));
        } else if (op == KV_UNDELETE) {
            int64_t dva = kv_dva(t->meta, cfg), now = api_now_ns();
            json_object_set_new(vm, "deletion_time",
                                json_integer(dva ? now + dva * 1000000000LL : 0));
        } else if (op == KV_DESTROY) {
            json_object_set_new(vm, "destroyed", json_true());
            kv_data_key(t->mk, v, dk, sizeof(dk));
            if ((rc = txn_del(t, API_T_KVDATA, dk)) != TR_OK)
                goto out;
        }
    }
    rc = txn_commit_meta(c, t);
out:
    if (t)
        txn_reset(t);
    free(t);
    json_decref(cfg);
    return rc;
}

/* The request's versions into list (KV_VERSIONS_MAX entries); false when the call has been
 * answered 400. */
static bool kv_versions_param(struct api_call *c, enum kv_vop op, int64_t *list, size_t *n)
{
    char msg[64];
    int rc = parse_versions(json_object_get(c->body, "versions"), list, KV_VERSIONS_MAX, n);

    if (rc == TR_E_TOO_LARGE) {
        snprintf(msg, sizeof(msg), "too many versions: at most %d", KV_VERSIONS_MAX);
        api_reply_error(c, 400, msg);
    } else if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, "Field validation failed: versions must be version numbers");
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    } else if (!*n) {
        /* the plugin's own wording: capital N for delete and undelete, not for destroy */
        api_reply_error(
            c, 400, op == KV_DESTROY ? "no version number provided" : "No version number provided");
    }
    return rc == TR_OK && *n;
}

static void kv2_versions(struct api_call *c, const char *p, enum kv_vop op, bool latest)
{
    int64_t list[KV_VERSIONS_MAX];
    size_t n = 0;
    int rc = TR_E_CAS;

    if (!latest && !kv_versions_param(c, op, list, &n))
        return;
    for (int i = 0; i < KV_RETRIES && rc == TR_E_CAS; i++)
        rc = kv2_versions_once(c, p, op, list, n);
    if (rc == TR_E_CAS)
        rc = KV_E_LOST_RACES;
    if (rc == TR_OK || rc == TR_E_NOTFOUND)
        api_reply_status(c, 204);
    else
        api_reply_err(c, rc);
}

static bool printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        /* C0 controls, DEL, and C1 controls (U+0080..U+009F are C2 80..C2 9F in UTF-8) */
        if (ch < 0x20 || ch == 0x7f ||
            (ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
             (unsigned char)s[i + 1] <= 0x9f))
            return false;
    }
    return true;
}

/* A custom_metadata value as Vault's weak decoding into a string sees it: a string as it is, a
 * number in decimal, a boolean "1" or "0". NULL for anything else (object, array, null). */
static json_t *custom_value(const json_t *v)
{
    char buf[40];

    if (json_is_string(v))
        return json_stringn(json_string_value(v), json_string_length(v));
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        /* the shortest text that reads back as the same double (Vault keeps the literal) */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, json_real_value(v));
            if (strtod(buf, NULL) == json_real_value(v))
                break;
        }
    } else if (json_is_boolean(v)) {
        snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "1" : "0");
    } else {
        return NULL;
    }
    return json_string(buf);
}

/* Why one custom_metadata entry (value already a string) is refused, or NULL. */
static const char *custom_entry_bad(const char *k, const json_t *v)
{
    size_t kl = strlen(k), vl = json_string_length(v);

    if (kl < 1 || kl > 128)
        return "key length must be 1 to 128 bytes";
    if (vl < 1 || vl > 512)
        return "value length must be 1 to 512 bytes";
    if (!printable(k, kl))
        return "key contains unprintable characters";
    if (!printable(json_string_value(v), vl))
        return "value contains unprintable characters";
    return NULL;
}

/* custom_metadata checked and converted as Vault does: at most 64 keys, key 1..128 bytes, value
 * 1..512 bytes, printable; numbers and booleans become strings. A merge patch (patch) may also
 * hold nulls, which remove keys (its key count is checked on the merged result). Out: *out, a
 * new object of strings (and nulls) owned by the caller. false with Vault's "custom_metadata
 * validation failed: ..." text in msg. */
static bool custom_parse(const json_t *cm, bool patch, json_t **out, char *msg, size_t cap)
{
    const char *k, *why = NULL;
    json_t *v, *o = NULL;

    *out = NULL;
    if (!json_is_object(cm)) {
        snprintf(msg, cap, "custom_metadata validation failed: not a map of strings");
        return false;
    }
    if (!patch && json_object_size(cm) > KV_CUSTOM_KEYS) {
        snprintf(msg, cap,
                 "custom_metadata validation failed: payload must contain at most %d keys, "
                 "provided %zu",
                 KV_CUSTOM_KEYS, json_object_size(cm));
        return false;
    }
    if (!(o = json_object())) {
        snprintf(msg, cap, "%s", tr_strerror(TR_E_NOMEM));
        return false;
    }
    json_object_foreach((json_t *)cm, k, v)
    {
        json_t *sv = patch && json_is_null(v) ? json_null() : custom_value(v);
        if (!sv)
            why = "value must be a string, a number or a boolean";
        else if (!json_is_null(sv))
            why = custom_entry_bad(k, sv);
        if (why || json_object_set_new(o, k, sv) != 0) {
            if (why)
                json_decref(sv);
            snprintf(msg, cap, "custom_metadata validation failed: %s (key %.40s%s)",
                     why ? why : tr_strerror(TR_E_NOMEM), k, strlen(k) > 40 ? "..." : "");
            json_decref(o);
            return false;
        }
    }
    *out = o;
    return true;
}

/* The settings a metadata or config write names; has_* false when absent (or null). */
struct kv_settings {
    int64_t max_versions, dva;
    bool cas_required, has_mv, has_cas, has_dva;
};

/* max_versions, cas_required and delete_version_after of a metadata (config false) or mount
 * config write. Only the config takes a negative delete_version_after, which disables the
 * feature for every key (kept as -1, as Vault's -1s; "-0s" is 0). false with the reason in msg. */
static bool kv_settings_parse(const json_t *b, bool config, struct kv_settings *s, char *msg,
                              size_t cap)
{
    const json_t *dj = json_object_get(b, "delete_version_after");
    const char *ds = json_string_value(dj);
    bool bad = false;

    memset(s, 0, sizeof(*s));
    s->has_mv = tr_json_get_int(b, "max_versions", &s->max_versions, &bad);
    if (bad || s->max_versions < 0 || s->max_versions > KV_VERSIONS_MAX) {
        snprintf(msg, cap, "max_versions must be a whole number from 0 to %d", KV_VERSIONS_MAX);
        return false;
    }
    s->has_cas = tr_json_get_bool(b, "cas_required", &s->cas_required, &bad);
    if (bad) {
        snprintf(msg, cap, "cas_required must be a boolean");
        return false;
    }
    if (config && ((ds && ds[0] == '-') || (json_is_integer(dj) && json_integer_value(dj) < 0))) {
        int64_t mag = 1;
        s->has_dva = true;
        bad = ds && !tr_parse_duration(ds + 1, &mag);
        s->dva = mag ? -1 : 0;
    } else {
        s->has_dva = tr_json_get_duration(b, "delete_version_after", &s->dva, &bad);
    }
    if (bad || s->dva > KV_DVA_MAX) {
        snprintf(msg, cap, "delete_version_after must be a duration of at most 100 years%s",
                 config ? " (negative: disabled)" : ", not negative");
        return false;
    }
    return true;
}

/* One attempt of a metadata PUT or PATCH: s and cm (custom_parse's output, may be NULL) as
 * parsed once by the caller. */
static int kv2_metadata_once(struct api_call *c, const char *p, bool patch,
                             const struct kv_settings *s, const json_t *cm, bool *too_many)
{
    struct kv_txn *t = calloc(1, sizeof(*t));
    json_t *cur;
    int rc = TR_E_NOMEM;

    if (!t)
        return rc;
    snprintf(t->mk, sizeof(t->mk), "%s/%s", c->mount.uuid, p);
    if ((rc = txn_load(c, t, !patch)) != TR_OK)
        goto out;
    /* PUT replaces every field it names and resets... only the named ones, like Vault */
    if (s->has_mv)
        json_object_set_new(t->meta, "max_versions", json_integer(s->max_versions));
    if (s->has_cas)
        json_object_set_new(t->meta, "cas_required", json_boolean(s->cas_required));
    if (s->has_dva)
        json_object_set_new(t->meta, "delete_version_after", json_integer(s->dva));
    if (cm) {
        cur = json_object_get(t->meta, "custom_metadata");
        cur = patch && json_is_object(cur) ? json_deep_copy(cur) : json_object();
        merge_patch(cur, cm);
        /* the limits hold for what is stored, not just for each patch */
        if (json_object_size(cur) > KV_CUSTOM_KEYS) {
            json_decref(cur);
            *too_many = true;
            rc = TR_E_INVAL;
            goto out;
        }
        if (!json_object_size(cur)) { /* Vault keeps no empty map: it reads back as null */
            json_decref(cur);
            cur = json_null();
        }
        json_object_set_new(t->meta, "custom_metadata", cur);
    }
    rc = txn_commit_meta(c, t);
out:
    txn_reset(t);
    free(t);
    return rc;
}

static void kv2_metadata_write(struct api_call *c, const char *p, bool patch)
{
    const json_t *cmj = json_object_get(c->body, "custom_metadata");
    struct kv_settings s;
    json_t *cm = NULL, *cfg = NULL;
    char msg[256];
    bool too_many = false;
    int rc = TR_E_CAS;

    if (!kv_settings_parse(c->body, false, &s, msg, sizeof(msg)) ||
        (cmj && !json_is_null(cmj) && !custom_parse(cmj, patch, &cm, msg, sizeof(msg)))) {
        api_reply_error(c, 400, msg);
        return;
    }
    if (!patch && !s.has_mv && !s.has_cas && !s.has_dva && !cm) {
        /* as Vault: nothing to set writes nothing (creates no metadata) */
        api_reply_status(c, 204);
        return;
    }
    for (int i = 0; i < KV_RETRIES && rc == TR_E_CAS; i++)
        rc = kv2_metadata_once(c, p, patch, &s, cm, &too_many);
    json_decref(cm);
    if (rc == TR_E_CAS)
        rc = KV_E_LOST_RACES;
    /* stored as asked, but the mount's setting still rules: Vault says so in a warning */
    if (rc == TR_OK && s.has_cas && !s.cas_required && (cfg = kv_config_load(c)) &&
        json_is_true(json_object_get(cfg, "cas_required")))
        api_reply_envelope(c, 200, NULL, NULL,
                           json_pack("[s]", "\"cas_required\" set to false, but is mandated by "
                                            "backend config. This value will be ignored."));
    else if (too_many)
        api_reply_error(c, 400,
                        "custom_metadata validation failed: payload must contain at most 64 "
                        "keys");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
    json_decref(cfg);
}

/* Delete the key, all its versions and its metadata in one atomic request. */
static void kv2_metadata_delete(struct api_call *c, const char *p)
{
    struct kv_txn *t = calloc(1, sizeof(*t));
    int rc = TR_E_NOMEM;

    if (!t)
        goto out;
    snprintf(t->mk, sizeof(t->mk), "%s/%s", c->mount.uuid, p);
    if ((rc = txn_load(c, t, false)) != TR_OK)
        goto out;
    const char *k;
    json_t *vm;
    json_object_foreach(json_object_get(t->meta, "versions"), k, vm)
    {
        char dk[STORE_KEY_MAX + 32];
        int64_t v = 0;
        if (!tr_parse_int64(k, &v) || json_is_true(json_object_get(vm, "destroyed")))
            continue;
        kv_data_key(t->mk, v, dk, sizeof(dk));
        if ((rc = txn_del(t, API_T_KVDATA, dk)) != TR_OK)
            goto out;
    }
    if ((rc = txn_del(t, API_T_KVMETA, t->mk)) != TR_OK)
        goto out;
    t->ops[t->n - 1].expect_version = t->meta_ver;
    if ((rc = store_write(c->store, t->ops, t->n, NULL)) == TR_E_CAS)
        rc = KV_E_LOST_RACES;
out:
    if (t)
        txn_reset(t);
    free(t);
    if (rc == TR_OK || rc == TR_E_NOTFOUND)
        api_reply_status(c, 204);
    else
        api_reply_err(c, rc);
}

static void kv2_config_write(struct api_call *c)
{
    struct kv_settings s;
    json_t *cfg = NULL;
    char key[64], msg[128];

    if (!kv_settings_parse(c->body, true, &s, msg, sizeof(msg))) {
        api_reply_error(c, 400, msg);
        return;
    }
    cfg = kv_config_load(c);
    if (s.has_mv)
        json_object_set_new(cfg, "max_versions", json_integer(s.max_versions));
    if (s.has_cas)
        json_object_set_new(cfg, "cas_required", json_boolean(s.cas_required));
    if (s.has_dva)
        json_object_set_new(cfg, "delete_version_after", json_integer(s.dva));
    snprintf(key, sizeof(key), "kvconfig/%s", c->mount.uuid);
    int rc = api_put_json(c, API_T_SYS, key, cfg, STORE_VERSION_ANY);
    json_decref(cfg);
    if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}

/* ---- KV v1 ------------------------------------------------------------------------------- */

static void kv1_read(struct api_call *c, const char *p)
{
    char mk[STORE_KEY_MAX + 1];
    json_t *data = NULL;
    int64_t def = 2764800, max = 2764800, ttl = 0; /* untuned: Vault's 768h */

    if (!kv_key_or_reply(c, p, true, mk, sizeof(mk)))
        return;
    int rc = api_get_json(c, API_T_KVMETA, mk, &data, NULL);
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    /* As Vault: the secret's "ttl", else "lease" (node-vault's examples); absent, 0 or
     * unparsable: the mount's default TTL; never above the mount's max (both as tuned). */
    bool bad;
    if (!tr_json_get_duration(data, json_object_get(data, "ttl") ? "ttl" : "lease", &ttl, &bad) ||
        ttl <= 0)
        ttl = 0;
    if (api_mount_ttls(c, c->mount.path, &def, &max) != TR_OK) /* disabled meanwhile */
        def = max = 2764800;
    if (ttl == 0)
        ttl = def;
    if (ttl > max)
        ttl = max;
    json_t *o =
        json_pack("{s:s, s:s, s:b, s:I, s:o, s:n, s:n, s:n, s:s}", "request_id", c->request_id,
                  "lease_id", "", "renewable", 0, "lease_duration", (json_int_t)ttl, "data", data,
                  "wrap_info", "warnings", "auth", "mount_type", "kv");
    api_reply_json(c, 200, o);
}

static void kv1_write_pool(struct api_call *c)
{
    char mk[STORE_KEY_MAX + 1];
    int rc;

    if (c->method == API_DELETE && !*c->rel) { /* as Vault: no key there, nothing to delete */
        api_reply_status(c, 204);
        return;
    }
    if (!kv_key_or_reply(c, c->rel, false, mk, sizeof(mk)))
        return;
    if (c->method == API_DELETE) {
        rc = store_del(c->store, API_T_KVMETA, (const uint8_t *)mk, strlen(mk), STORE_VERSION_ANY);
    } else if (!json_object_size(c->body)) {
        api_reply_error(c, 400, "missing data fields");
        return;
    } else {
        rc = api_put_json(c, API_T_KVMETA, mk, c->body, STORE_VERSION_ANY);
    }
    if (rc == TR_OK || rc == TR_E_NOTFOUND)
        api_reply_status(c, 204);
    else
        api_reply_err(c, rc);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static void kv2_pool(struct api_call *c)
{
    const char *r = c->rel;
    bool config = !strcmp(r, "config");
    /* every write but config names a key (kv2_handle checked it): hold its lock throughout; the
     * config's read-modify-write takes the empty path's, which no key has */
    pthread_mutex_t *m = kv_lock(c, config ? "" : strchr(r, '/') + 1);

    if (!strncmp(r, "data/", 5) && c->method == API_PUT)
        kv2_write(c, r + 5, false);
    else if (!strncmp(r, "data/", 5) && c->method == API_PATCH)
        kv2_write(c, r + 5, true);
    else if (!strncmp(r, "data/", 5) && c->method == API_DELETE)
        kv2_versions(c, r + 5, KV_SOFT_DELETE, true);
    else if (!strncmp(r, "delete/", 7))
        kv2_versions(c, r + 7, KV_SOFT_DELETE, false);
    else if (!strncmp(r, "undelete/", 9))
        kv2_versions(c, r + 9, KV_UNDELETE, false);
    else if (!strncmp(r, "destroy/", 8))
        kv2_versions(c, r + 8, KV_DESTROY, false);
    else if (!strncmp(r, "metadata/", 9) && c->method == API_DELETE)
        kv2_metadata_delete(c, r + 9);
    else if (!strncmp(r, "metadata/", 9))
        kv2_metadata_write(c, r + 9, c->method == API_PATCH);
    else if (config)
        kv2_config_write(c);
    else
        api_reply_error(c, 405, "unsupported operation");
    kv_unlock(m); /* c may be gone (answered): only the lock is left to release */
}

static bool patch_type_ok(struct api_call *c)
{
    const char *ct = c->req->content_type;
    if (ct && !strncmp(ct, "application/merge-patch+json", 28))
        return true;
    char msg[300];
    snprintf(msg, sizeof(msg),
             "PATCH requires Content-Type of application/merge-patch+json, "
             "provided %.200s",
             ct ? ct : "");
    api_reply_error(c, 415, msg);
    return false;
}

/* A path outside the v2 API (a KV v1 style "M/<p>", "M/data/<p>/", LIST on "M/data/"): Vault's
 * plugin answers 404 with no data and a warning naming the CLI command, for every method, and
 * tools that detect the KV version match that text (vault-api.md §3.2). */
static void kv2_invalid(struct api_call *c)
{
    static const char *const roots[] = {"data", "metadata", "delete", "undelete", "destroy"};
    const char *cmd = c->method == API_PUT      ? "put"
                      : c->method == API_PATCH  ? "patch"
                      : c->method == API_LIST   ? "list"
                      : c->method == API_DELETE ? "delete"
                                                : "get";
    char msg[256];

    snprintf(msg, sizeof(msg),
             "Invalid path for a versioned K/V secrets engine. See the API docs for the "
             "appropriate API endpoints to use. If using the Vault CLI, use 'vault kv %s' for "
             "this operation.",
             cmd);
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
        if (!strcmp(c->rel, roots[i]))
            snprintf(msg, sizeof(msg),
                     "Non-listing operations on the root of a K/V v2 mount are not supported.");
    api_reply_envelope(c, 404, NULL, NULL, json_pack("[s]", msg));
}

/* data/<p> names a key only without a trailing '/' (LIST always has one): Vault's pattern. */
static bool kv2_path_valid(const char *r)
{
    static const char *const subs[] = {"metadata/", "delete/", "undelete/", "destroy/", "subkeys/"};
    size_t n = strlen(r);

    if (!strcmp(r, "config"))
        return true;
    if (!strncmp(r, "data/", 5))
        return n > 5 && r[n - 1] != '/';
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (!strncmp(r, subs[i], strlen(subs[i])))
            return true;
    return false;
}

static void kv2_handle(struct api_call *c)
{
    const char *r = c->rel;
    bool config = !strcmp(r, "config");
    const char *p = config ? r : strchr(r, '/') ? strchr(r, '/') + 1 : r;

    if (c->method == API_PATCH && !patch_type_ok(c)) {
        /* answered 415 (c is gone): Vault checks the content type before routing */
    } else if (!kv2_path_valid(r)) {
        kv2_invalid(c);
    } else if (c->method == API_LIST && !strncmp(r, "metadata/", 9)) {
        kv_list(c, p);
    } else if (c->method == API_GET && config) {
        kv2_config_read(c);
    } else if (c->method == API_GET && !strncmp(r, "data/", 5)) {
        kv2_read(c, p);
    } else if (c->method == API_GET && !strncmp(r, "metadata/", 9)) {
        kv2_metadata_read(c, p);
    } else if (c->method == API_GET && !strncmp(r, "subkeys/", 8)) {
        kv2_subkeys(c, p);
    } else if (config && c->method != API_PUT) {
        api_reply_error(c, 405, "unsupported operation"); /* config: read and write only */
    } else if (c->method == API_PUT || c->method == API_DELETE || c->method == API_PATCH) {
        char mk[STORE_KEY_MAX + 1];
        if (config || kv_key_or_reply(c, p, false, mk, sizeof(mk)))
            api_defer(c, kv2_pool);
    } else {
        api_reply_error(c, 405, "unsupported operation");
    }
}

void api_kv_handle(struct api_call *c)
{
    json_t *b;

    if (!api_body_object(c, &b))
        return;
    if (c->mount.kind == API_MOUNT_KV2) {
        kv2_handle(c);
    } else if (c->method == API_LIST) {
        kv_list(c, c->rel);
    } else if (c->method == API_GET) {
        kv1_read(c, c->rel);
    } else if (c->method == API_PUT || c->method == API_DELETE) {
        api_defer(c, kv1_write_pool);
    } else {
        api_reply_error(c, 405, "unsupported operation");
    }
}
