/*
 * api_token_int.h - internals shared by the token files. Not for other files (api_int.h and
 * auth_int.h declare what the rest of api/ may call).
 *
 * Files: api_token.c (the token record, its keyed hash, load, the cache, authentication,
 * minting, spent uses, lifetimes (Vault's CalculateTTL against the mount's TTLs), the
 * auth/token/ dispatch), api_token_create.c (create, create-orphan, create/<role>, and login
 * tokens: api_token_issue), api_token_lookup.c (lookup, renew, LIST accessors and the
 * auth/lookup answers), api_token_revoke.c (revocation of trees, of one token whose children
 * become orphans, of an auth mount's tokens, binding tokens of older versions), api_token_acl.c
 * (a token's compiled ACL), api_token_role.c (roles, api_token_role.h).
 *
 * Storage (api_int.h, auth_int.h): API_T_TOKENS hash -> JSON entry; API_T_ACCESSOR accessor ->
 * hash; API_T_CHILDREN "<parent hash>/<hash>" -> ""; AUTH_T_TOKENS "<mount uuid>/<hash>" -> "".
 * A token's keys are written together (api_token_mint) and deleted together (revocation, the
 * last use), so an accessor key exists exactly while its token record does.
 *
 * Threads: the writers (mint, revoke, renew, create, spend) run on pool threads; loads and
 * liveness checks run on any thread.
 */
#ifndef API_TOKEN_INT_H
#define API_TOKEN_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "api_int.h"
#include "auth_int.h"

#define TOKEN_DEFAULT_TTL (768 * 3600) /* Vault's system default (auth/token/ may tune it lower) */
#define TOKEN_MAX_TTL     (768 * 3600) /* Vault's system max TTL: no token outlives it */
/* Any duration is first clamped to 100 years, so no sum with a unix time can overflow. */
#define TOKEN_DURATION_MAX ((int64_t)100 * 365 * 86400)
#define TOKEN_HASH_HEX     (2 * ENC_MAC_BYTES + 1)
#define TOKEN_LINK_MAX     (2 * TOKEN_HASH_HEX + 2) /* "<parent hash>/<hash>" */
#define TOKEN_MKEY_MAX     (37 + TOKEN_HASH_HEX)    /* "<mount uuid>/<hash>" */
/* Ancestors checked on every use (api_token_chain_live): a token with more is refused, so a
 * token with this many cannot have children (api_token_op_create refuses to make them). */
#define TOKEN_DEPTH_MAX 64

/* A caller's token. Tokens without a use limit are shared with the cache (api_cache.h) and then
 * immutable and without their entry: only what authorisation needs stays in memory, not the
 * accessor. Limited-use tokens are always private, loaded afresh, and spent by check-and-set. */
struct api_token {
    atomic_uint refs;
    char hash[TOKEN_HASH_HEX]; /* storage key */
    uint64_t version;
    int64_t expire_time; /* unix seconds; 0: never */
    int64_t num_uses;    /* 0: unlimited */
    bool root;
    char mount[37];              /* uuid of the auth mount it depends on; "" for none */
    char parent[TOKEN_HASH_HEX]; /* the parent's hash; "" for an orphan */
    json_t *policies;            /* the entry's policy names (own reference, never modified) */
    json_t *bound_cidrs; /* blocks it may be used from (own reference, never modified); NULL: any */
    json_t *entry;       /* the stored entry (owned); NULL once shared */
};

static inline int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static inline bool token_expired(const struct api_token *t)
{
    return t->expire_time > 0 && t->expire_time <= now_s();
}

static inline int64_t entry_int(const json_t *e, const char *k)
{
    return json_integer_value(json_object_get(e, k));
}

static inline bool entry_expired(const json_t *e)
{
    int64_t exp = entry_int(e, "expire_time");
    return exp > 0 && exp <= now_s();
}

/* The entry as stored: compact, keys sorted (owned by the caller; free). */
static inline char *entry_text(const json_t *e)
{
    return json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
}

static inline int64_t dur_clamp(int64_t d)
{
    return d < 0 ? 0 : d > TOKEN_DURATION_MAX ? TOKEN_DURATION_MAX : d;
}

/* ---- api_token.c ------------------------------------------------------------------------- */
/* api_token_hash - the storage key of raw (hex keyed hash). Errors: TR_E_DENIED (empty or
 * overlong raw), TR_E_SEALED. */
TR_MUST_CHECK int api_token_hash(const char *raw, char out[TOKEN_HASH_HEX]);
/* api_token_mount_key - "<mount uuid>/<token hash>": the token's entry in its mount's index. */
void api_token_mount_key(char out[TOKEN_MKEY_MAX], const char *uuid, const char *hash);
/* api_token_mount_live - TR_OK while the auth mount uuid accepts its tokens (NULL or "": no
 * mount, always); TR_E_DENIED once its disable has started or it is gone. No record read. */
TR_MUST_CHECK int api_token_mount_live(struct store *st, const char *uuid);
/* api_token_load - the token stored under hash, read from the store (never the cache), with its
 * entry. Out: *out (a reference, api_token_free). Errors: TR_E_DENIED (no such token),
 * TR_E_INTERNAL (a malformed entry), as store_get. */
TR_MUST_CHECK int api_token_load(struct store *st, const char *hash, struct api_token **out);
/* api_token_peek - the token stored under hash as authentication sees it (from the cache while
 * it holds the current version; then without its entry), but one read from the store is not
 * added to the cache: for walks over many tokens, which must not evict what requests use.
 * Out: *out (a reference). Errors: as api_token_load. */
TR_MUST_CHECK int api_token_peek(struct api_call *c, const char *hash, struct api_token **out);
/* api_token_chain_live - TR_OK while every ancestor of t lives (through the cache); TR_E_DENIED
 * for a dead or too deep chain. */
TR_MUST_CHECK int api_token_chain_live(struct api_call *c, const struct api_token *t);
/* api_token_mint - store a new token for entry (policies etc. filled by the caller; the accessor
 * and parent are added here) under parent (NULL or "": an orphan). Out: *out_raw, the raw token
 * (owned: wipe and free). Errors: TR_E_DENIED (the entry's auth mount started disabling before
 * the token was written; it is revoked again), TR_E_NOMEM, as store_write. Pool threads. */
TR_MUST_CHECK int api_token_mint(struct store *st, json_t *entry, const char *parent,
                                 char **out_raw);

/* What a token's TTL is computed from (api_token_ttl). Durations in seconds, times unix. */
struct api_token_ttl_in {
    int64_t start;        /* the token's creation time */
    int64_t now;          /* the time of the grant */
    int64_t increment;    /* the TTL asked for by a renewal; 0: none */
    int64_t base_ttl;     /* the token's own TTL; 0: the mount's default */
    int64_t period;       /* 0: not periodic */
    int64_t explicit_max; /* 0: none */
    int64_t backend_max;  /* the max of the role a login went through (Vault's Auth.MaxTTL): it
                           * lowers the max like explicit_max but never ends a period; 0: none */
    int64_t mount_def;    /* the effective default and max of the token's mount */
    int64_t mount_max;
};
/* api_token_ttl - the TTL to grant, as Vault's CalculateTTL (sdk/framework/lease.go), adding its
 * warnings ("TTL of "800h" exceeded the effective max_ttl of "768h"; TTL value is capped
 * accordingly", the same for a period) to warnings (may be NULL). Out: *out_ttl, written only on
 * success. Errors: TR_E_STATE (past start + max: Vault's "past the max TTL, cannot renew"),
 * TR_E_INTERNAL (a max of 0). */
TR_MUST_CHECK int api_token_ttl(const struct api_token_ttl_in *in, json_t *warnings,
                                int64_t *out_ttl);
/* api_token_path_ttls - the effective default and max TTL (api_mount_ttls) of the mount a token
 * was made through, named by its creation path: auth/token/ for "auth/token/...", the login
 * mount for "auth/<name>/login" (gone: the system's), never above TOKEN_MAX_TTL. One store read.
 * Out: written only on success. Errors: as api_mount_ttls. */
TR_MUST_CHECK int api_token_path_ttls(struct api_call *c, const char *path, int64_t *out_def,
                                      int64_t *out_max);

/* ---- api_token_create.c ------------------------------------------------------------------ */
/* api_token_op_create - auth/token/create, create-orphan and create/<role> (pool thread). */
void api_token_op_create(struct api_call *c);

/* ---- api_token_lookup.c ------------------------------------------------------------------ */
/* api_token_auth_json - the auth block of a create, login or renewal for entry e and its raw
 * token; lease: the TTL just granted. New object (owned), NULL on allocation failure. */
json_t *api_token_auth_json(const json_t *e, const char *raw, int64_t lease);
/* api_token_target_load - the target of lookup/renew/revoke named by what ("self", "token": the
 * body's token, "accessor": the body's accessor), read from the store. Out: *out (a reference),
 * *out_raw (the raw token when known, borrowed from the call). Errors: TR_E_INVAL (no token or
 * accessor in the body, or an empty one), TR_E_NOTFOUND (no such accessor), TR_E_DENIED (no such token), as
 * store_get. */
TR_MUST_CHECK int api_token_target_load(struct api_call *c, const char *what,
                                        struct api_token **out, const char **out_raw);
/* api_token_target_missing - Vault's answer when the body names no target: "missing token ID",
 * or "missing accessor" when what is "accessor". A static string. */
const char *api_token_target_missing(const char *what);
/* api_token_target_live - api_token_target_load, then TR_E_DENIED for a target that could no
 * longer authenticate (expired, its auth mount disabled, an ancestor dead). Out and errors as
 * api_token_target_load (*out may be set on TR_E_DENIED: free it). */
TR_MUST_CHECK int api_token_target_live(struct api_call *c, const char *what,
                                        struct api_token **out, const char **out_raw);
/* api_token_op_lookup / _renew - lookup[-self|-accessor] and renew[-self|-accessor]; what as
 * for api_token_target_load. Lookups run on any thread, renewals on pool threads. */
void api_token_op_lookup(struct api_call *c, const char *what);
void api_token_op_renew(struct api_call *c, const char *what);
/* api_token_op_accessors - LIST auth/token/accessors (pool thread). */
void api_token_op_accessors(struct api_call *c);

/* ---- api_token_revoke.c ------------------------------------------------------------------ */
/* api_token_revoke_tree - revoke the token stored under hash and its descendants, children
 * first (blocking). Errors: TR_E_NOMEM, as store_write/store_list. */
TR_MUST_CHECK int api_token_revoke_tree(struct store *st, const char *hash);
/* api_token_revoke_orphan - revoke the token stored under hash alone: its children (at most
 * TOKEN_REVOKE_MAX; any beyond die with it) become orphans first, then it goes (blocking).
 * Errors: TR_E_CAS (children kept changing), TR_E_NOMEM, as store_write/store_list. */
TR_MUST_CHECK int api_token_revoke_orphan(struct store *st, const char *hash);
/* api_token_op_revoke - revoke[-self|-accessor] (pool thread); what as above. */
void api_token_op_revoke(struct api_call *c, const char *what);
/* api_token_op_revoke_orphan - auth/token/revoke-orphan (pool thread; sudo). */
void api_token_op_revoke_orphan(struct api_call *c);

#endif
