/* A direct-mapped cache of reference-counted values keyed by (kind, key, record version). See
 * api_cache.h for why a version-checked lookup cannot return stale data.
 *
 * Slots are chosen by a keyed SipHash of the key, so clients choosing paths cannot aim at one
 * slot to evict a particular entry; a collision only costs a miss. Keys (token hashes, storage
 * keys) are compared with sodium_memcmp, as the style guide asks for anything derived from a
 * token. Locks are striped over the slots; references are taken under the slot's lock and
 * dropped outside it, so a value's destructor never runs under a cache lock. */
#include "api_cache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_STRIPES   64 /* a power of two */
#define CACHE_SLOTS_MIN 64

struct slot {
    const struct api_cache_kind *kind; /* NULL: empty */
    char *key;                         /* owned */
    size_t key_len;
    uint64_t version;
    void *val; /* one reference owned by the slot */
    size_t cost;
};

struct api_cache {
    struct slot *slots;
    size_t mask; /* slots - 1 */
    size_t budget;
    pthread_mutex_t locks[CACHE_STRIPES];
    uint8_t hkey[crypto_shorthash_KEYBYTES];
    atomic_uint_fast64_t entries, cost, hits, misses, clears;
};

int api_cache_new(size_t slots, size_t budget, struct api_cache **out)
{
    struct api_cache *c = NULL;
    size_t n = CACHE_SLOTS_MIN;

    *out = NULL;
    if (slots == 0 || budget == 0 || slots > SIZE_MAX / 2 / sizeof(struct slot))
        return TR_E_INVAL;
    while (n < slots)
        n *= 2;
    if (!(c = calloc(1, sizeof(*c))) || !(c->slots = calloc(n, sizeof(struct slot)))) {
        free(c);
        return TR_E_NOMEM;
    }
    c->mask = n - 1;
    c->budget = budget;
    for (size_t i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    crypto_shorthash_keygen(c->hkey);
    *out = c;
    return TR_OK;
}

static size_t slot_of(const struct api_cache *c, const struct api_cache_kind *kind, const char *key,
                      size_t key_len)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;

    crypto_shorthash(h, (const unsigned char *)key, key_len, c->hkey);
    memcpy(&v, h, sizeof(v));
    v ^= (uint64_t)(uintptr_t)kind * 0x9e3779b97f4a7c15u; /* kinds share the slots */
    return (size_t)(v ^ (v >> 29)) & c->mask;
}

static pthread_mutex_t *lock_of(struct api_cache *c, size_t i)
{
    return &c->locks[i & (CACHE_STRIPES - 1)];
}

static bool slot_is(const struct slot *s, const struct api_cache_kind *kind, const char *key,
                    size_t key_len)
{
    return s->kind == kind && s->key_len == key_len && sodium_memcmp(s->key, key, key_len) == 0;
}

/* Empty a slot (its lock held); *out receives what the caller must release unlocked. */
static void slot_take(struct api_cache *c, struct slot *s, struct slot *out)
{
    *out = *s;
    if (s->kind) {
        atomic_fetch_sub(&c->entries, 1);
        atomic_fetch_sub(&c->cost, s->cost);
    }
    memset(s, 0, sizeof(*s));
}

static void slot_release(struct slot *s)
{
    if (s->kind)
        s->kind->unref(s->val);
    free(s->key);
}

void *api_cache_get(struct api_cache *cache, const struct api_cache_kind *kind, const char *key,
                    size_t key_len, uint64_t version)
{
    struct slot old = {0};
    void *val = NULL;

    if (!cache)
        return NULL;
    if (key && key_len > 0 && key_len <= API_CACHE_KEY_MAX) {
        size_t i = slot_of(cache, kind, key, key_len);
        struct slot *s = &cache->slots[i];
        pthread_mutex_lock(lock_of(cache, i));
        if (slot_is(s, kind, key, key_len) && s->version == version) {
            kind->ref(s->val);
            val = s->val;
        } else if (slot_is(s, kind, key, key_len) && s->version < version) {
            slot_take(cache, s, &old); /* superseded: nobody will ask for it again */
        }
        pthread_mutex_unlock(lock_of(cache, i));
    }
    slot_release(&old);
    atomic_fetch_add(val ? &cache->hits : &cache->misses, 1);
    return val;
}

void api_cache_put(struct api_cache *cache, const struct api_cache_kind *kind, const char *key,
                   size_t key_len, uint64_t version, void *val, size_t cost)
{
    struct slot old = {0};
    char *copy = NULL;

    if (!cache || !val || !key || key_len == 0 || key_len > API_CACHE_KEY_MAX ||
        cost > cache->budget || !(copy = malloc(key_len)))
        return;
    memcpy(copy, key, key_len);
    size_t i = slot_of(cache, kind, key, key_len);
    struct slot *s = &cache->slots[i];
    pthread_mutex_lock(lock_of(cache, i));
    /* a racing reader may have loaded an older version after a newer one was put: keep the
     * newer; and the budget is checked against what stays after this slot's eviction */
    bool keep = slot_is(s, kind, key, key_len) && s->version >= version;
    if (!keep && atomic_load(&cache->cost) - s->cost + cost <= cache->budget) {
        slot_take(cache, s, &old);
        kind->ref(val);
        s->kind = kind;
        s->key = copy;
        copy = NULL; /* the slot owns it */
        s->key_len = key_len;
        s->version = version;
        s->val = val;
        s->cost = cost;
        atomic_fetch_add(&cache->entries, 1);
        atomic_fetch_add(&cache->cost, cost);
    }
    pthread_mutex_unlock(lock_of(cache, i));
    free(copy);
    slot_release(&old);
}

void api_cache_drop(struct api_cache *cache, const struct api_cache_kind *kind, const char *key,
                    size_t key_len)
{
    struct slot old = {0};

    if (!cache || !key || key_len == 0 || key_len > API_CACHE_KEY_MAX)
        return;
    size_t i = slot_of(cache, kind, key, key_len);
    pthread_mutex_lock(lock_of(cache, i));
    if (slot_is(&cache->slots[i], kind, key, key_len))
        slot_take(cache, &cache->slots[i], &old);
    pthread_mutex_unlock(lock_of(cache, i));
    slot_release(&old);
}

void api_cache_clear(struct api_cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i <= cache->mask; i++) {
        struct slot old = {0};
        pthread_mutex_lock(lock_of(cache, i));
        slot_take(cache, &cache->slots[i], &old);
        pthread_mutex_unlock(lock_of(cache, i));
        slot_release(&old);
    }
    atomic_fetch_add(&cache->clears, 1);
}

void api_cache_free(struct api_cache *cache)
{
    if (!cache)
        return;
    api_cache_clear(cache);
    for (size_t i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_destroy(&cache->locks[i]);
    free(cache->slots);
    sodium_memzero(cache->hkey, sizeof(cache->hkey));
    free(cache);
}

void api_cache_stats_get(struct api_cache *cache, struct api_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!cache)
        return;
    out->entries = atomic_load(&cache->entries);
    out->cost = atomic_load(&cache->cost);
    out->hits = atomic_load(&cache->hits);
    out->misses = atomic_load(&cache->misses);
    out->clears = atomic_load(&cache->clears);
}
