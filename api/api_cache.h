/*
 * api_cache - a bounded cache of parsed, non-secret documents (token entries without their
 * accessor, KV v2 metadata, compiled ACLs), so a repeated request does not read, verify, open
 * and parse the same record again.
 *
 * Why it cannot serve stale data: every entry is keyed by (kind, key, version), where version
 * is the store's record version (a commit sequence: a key's next write always has a higher
 * one). A caller asks store_stat (the verified index) for the key's current version and looks up
 * exactly that version; anything else is a miss. Entries made from several records (an ACL) put
 * every record's version into the key and use version 0. Versions are only unique within one
 * open store, so the owner clears the cache whenever the store is closed or replaced (seal,
 * recovery), while no call holds the store.
 *
 * What it must never hold: secret values (KV data, KV v1 values, raw tokens, keys). Values
 * live in ordinary heap memory; callers put only documents that are not secrets.
 *
 * Verbs: api_cache_new -> { api_cache_get, api_cache_put, api_cache_drop, api_cache_clear,
 * api_cache_stats_get } -> api_cache_free. Values are reference counted by their kind's ref/unref (which must be
 * thread-safe); the cache holds one reference per entry, a get hands out another.
 * Thread-safety: every call but api_cache_free may run concurrently from any thread.
 * Size: a fixed number of slots (a key maps to one slot, a newcomer evicts the slot's entry) and
 * a budget of cost units (bytes, as estimated by the caller) above which puts are refused.
 */
#ifndef API_CACHE_H
#define API_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tr_err.h"

struct api_cache;

/* A kind of value: its name (static, for statistics) and its reference operations. Kinds are
 * static objects compared by address. */
struct api_cache_kind {
    const char *name;
    void (*ref)(void *val);   /* take one more reference (thread-safe) */
    void (*unref)(void *val); /* drop one (thread-safe) */
};

struct api_cache_stats {
    uint64_t entries; /* values held now */
    uint64_t cost;    /* their cost units */
    uint64_t hits, misses, clears;
};

/* api_cache_new - a cache of slots entries (rounded up to a power of two, >= 64) and a budget
 * of cost units. Out: *out owned by the caller (api_cache_free). Errors: TR_E_INVAL (slots or
 * budget 0), TR_E_NOMEM. */
TR_MUST_CHECK int api_cache_new(size_t slots, size_t budget, struct api_cache **out);

/* api_cache_free - drop every entry and release the cache. NULL-safe; no call may be running. */
void api_cache_free(struct api_cache *cache);

/* api_cache_clear - drop every entry (the store was closed or replaced). NULL-safe. */
void api_cache_clear(struct api_cache *cache);

/*
 * api_cache_get - the value of (kind, key) made from exactly version, with a new reference the
 * caller drops with kind->unref; NULL on a miss (none, another key in the slot, another
 * version). An entry of the same key with an older version is dropped on the way.
 * In: key/key_len (borrowed, 1..API_CACHE_KEY_MAX bytes; longer keys always miss). cache may be
 * NULL (always a miss).
 */
void *api_cache_get(struct api_cache *cache, const struct api_cache_kind *kind, const char *key,
                    size_t key_len, uint64_t version);

/*
 * api_cache_put - remember val as the value of (kind, key) at version; the cache takes its own
 * reference (kind->ref), the caller keeps theirs. Ignored (no error: a cache may forget) when
 * the key is too long, memory is short, the budget would be exceeded, or the slot holds the same
 * key at a newer version. cost: the caller's estimate of the value's bytes.
 */
void api_cache_put(struct api_cache *cache, const struct api_cache_kind *kind, const char *key,
                   size_t key_len, uint64_t version, void *val, size_t cost);

/* api_cache_drop - forget (kind, key) at any version (the key was deleted). NULL-safe. */
void api_cache_drop(struct api_cache *cache, const struct api_cache_kind *kind, const char *key,
                    size_t key_len);

/* api_cache_stats_get - a snapshot of the counters (all zero for a NULL cache). */
void api_cache_stats_get(struct api_cache *cache, struct api_cache_stats *out);

#define API_CACHE_KEY_MAX 4096

#endif
