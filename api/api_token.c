/* Token auth (vault-api.md §4): tokens are random 32-byte values shown as "hvs.<base64url>",
 * stored only under their keyed hash (enc_mac ENC_MAC_TOKEN), so the store never holds a usable
 * token and lookups need no comparison of secrets at all.
 *
 * A token minted by a login (or a child of one) records the auth mount behind it
 * ("auth_mount": the mount's uuid, never its path, so a mount re-enabled at the same path does
 * not revive it) and is indexed under that mount (auth_int.h, AUTH_T_TOKENS); it authenticates
 * only while the mount's live key exists. Bound CIDRs ("bound_cidrs") are checked against the
 * caller's address on every use; children inherit them, so a child cannot escape its parent's
 * network binding. */
#include "api_token_role.h"
#include "auth_int.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"

#define TOKEN_PREFIX      "hvs."
#define TOKEN_CHARS       44 /* base62: 261 bits */
#define ACCESSOR_CHARS    24 /* base62: 142 bits, Vault's accessor length */
#define TOKEN_STR_MAX     128
#define TOKEN_DEFAULT_TTL (768 * 3600) /* Vault's system default */
#define TOKEN_MAX_TTL     (768 * 3600) /* Vault's system max TTL: no token outlives it */
/* Any duration is first clamped to 100 years, so no sum with a unix time can overflow. */
#define TOKEN_DURATION_MAX ((int64_t)100 * 365 * 86400)
#define TOKEN_DEPTH_MAX    64    /* ancestors checked on every use (deeper: refused) */
#define TOKEN_REVOKE_MAX   10000 /* descendants revoked in one call */
#define TOKEN_HASH_HEX     (2 * ENC_MAC_BYTES + 1)
#define TOKEN_LINK_MAX     (2 * TOKEN_HASH_HEX + 2) /* "<parent hash>/<hash>" */
#define TOKEN_MKEY_MAX     (37 + TOKEN_HASH_HEX)    /* "<mount uuid>/<hash>" */
#define REVOKE_CHUNK       (STORE_OPS_MAX / 4)      /* tokens per revocation write (4 ops each) */
#define MOUNT_PAGE         128                      /* index entries per api_token_revoke_mount */

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

static int token_revoke_tree(struct store *st, const char *hash);

void api_token_free(struct api_token *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    json_decref(t->policies);
    json_decref(t->bound_cidrs);
    json_decref(t->entry);
    free(t);
}

static void token_ref(void *v)
{
    atomic_fetch_add(&((struct api_token *)v)->refs, 1);
}

static void token_unref(void *v)
{
    api_token_free(v);
}

static const struct api_cache_kind token_kind = {"token", token_ref, token_unref};

const json_t *api_token_policies(const struct api_token *t)
{
    return t->policies;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int token_hash(const char *raw, char out[TOKEN_HASH_HEX])
{
    uint8_t mac[ENC_MAC_BYTES];
    size_t len = strlen(raw);

    if (len == 0 || len > TOKEN_STR_MAX)
        return TR_E_DENIED;
    int rc = enc_mac(ENC_MAC_TOKEN, (const uint8_t *)raw, len, mac);
    if (rc == TR_OK)
        sodium_bin2hex(out, TOKEN_HASH_HEX, mac, sizeof(mac));
    return rc;
}

/* "<mount uuid>/<token hash>": the token's entry in its mount's index. */
static void mount_key(char out[TOKEN_MKEY_MAX], const char *uuid, const char *hash)
{
    snprintf(out, TOKEN_MKEY_MAX, "%.36s/%.64s", uuid, hash);
}

/* TR_OK while the auth mount uuid accepts its tokens (no mount: always); TR_E_DENIED once its
 * disable has started or it is gone. One look at the verified index, no record read. */
static int mount_live(struct store *st, const char *uuid)
{
    uint64_t ver = 0;
    int rc;

    if (!uuid || !*uuid)
        return TR_OK;
    rc = store_stat(st, AUTH_T_TOKENS, (const uint8_t *)uuid, strlen(uuid), &ver);
    return rc == TR_E_NOTFOUND ? TR_E_DENIED : rc;
}

static int64_t entry_int(const json_t *e, const char *k)
{
    return json_integer_value(json_object_get(e, k));
}

static bool entry_expired(const json_t *e)
{
    int64_t exp = entry_int(e, "expire_time");
    return exp > 0 && exp <= now_s();
}

static int token_load(struct store *st, const char *hash, struct api_token **out)
{
    struct enc_secret *v = NULL;
    struct api_token *t = NULL;
    uint64_t ver = 0;
    int rc;

    *out = NULL;
    rc = store_get(st, API_T_TOKENS, (const uint8_t *)hash, strlen(hash), &v, &ver);
    if (rc == TR_E_NOTFOUND)
        return TR_E_DENIED;
    if (rc != TR_OK)
        return rc;
    if (!(t = calloc(1, sizeof(*t)))) {
        enc_secret_free(v);
        return TR_E_NOMEM;
    }
    atomic_init(&t->refs, 1);
    t->entry = json_loadb((const char *)enc_secret_data(v), enc_secret_len(v), 0, NULL);
    enc_secret_free(v);
    if (!t->entry) {
        api_token_free(t);
        return TR_E_INTERNAL;
    }
    snprintf(t->hash, sizeof(t->hash), "%s", hash);
    t->version = ver;
    t->expire_time = entry_int(t->entry, "expire_time");
    t->num_uses = entry_int(t->entry, "num_uses");
    t->policies = json_incref(json_object_get(t->entry, "policies"));
    const json_t *mnt = json_object_get(t->entry, "auth_mount");
    json_t *cidrs = json_object_get(t->entry, "bound_cidrs");
    if ((mnt && (!json_is_string(mnt) || json_string_length(mnt) >= sizeof(t->mount))) ||
        (cidrs && !json_is_array(cidrs))) {
        api_token_free(t);
        return TR_E_INTERNAL;
    }
    snprintf(t->mount, sizeof(t->mount), "%s", mnt ? json_string_value(mnt) : "");
    const char *parent = json_string_value(json_object_get(t->entry, "parent"));
    if (parent && strlen(parent) >= sizeof(t->parent)) {
        api_token_free(t);
        return TR_E_INTERNAL;
    }
    snprintf(t->parent, sizeof(t->parent), "%s", parent ? parent : "");
    if (json_array_size(cidrs))
        t->bound_cidrs = json_incref(cidrs);
    size_t i;
    json_t *p;
    json_array_foreach(t->policies, i, p) if (strcmp(json_string_value(p), "root") == 0) t->root =
        true;
    *out = t;
    return TR_OK;
}

/* ---- writes (pool threads) --------------------------------------------------------------- */

static char *entry_text(const json_t *e)
{
    return json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
}

int api_put_json(struct api_call *c, const char *table, const char *key, json_t *val,
                 uint64_t expect_version)
{
    char *text = entry_text(val);
    int rc = text ? store_put(c->store, table, (const uint8_t *)key, strlen(key),
                              (const uint8_t *)text, strlen(text), expect_version, NULL)
                  : TR_E_NOMEM;
    free(text);
    return rc;
}

/* New token: entry + accessor + parent link + mount index entry in one atomic write. */
static int token_store_new(struct store *st, json_t *entry, const char *hash, const char *parent)
{
    char link[TOKEN_LINK_MAX], mkey[TOKEN_MKEY_MAX];
    const char *acc = json_string_value(json_object_get(entry, "accessor"));
    const char *mnt = json_string_value(json_object_get(entry, "auth_mount"));
    char *text = entry_text(entry);
    struct store_op ops[4];
    size_t n = 0;
    int rc = TR_E_NOMEM;

    if (!text || !acc)
        goto out;
    ops[n++] =
        (struct store_op){STORE_OP_PUT,          API_T_TOKENS, (const uint8_t *)hash, strlen(hash),
                          (const uint8_t *)text, strlen(text), STORE_VERSION_ABSENT};
    ops[n++] =
        (struct store_op){STORE_OP_PUT,          API_T_ACCESSOR, (const uint8_t *)acc, strlen(acc),
                          (const uint8_t *)hash, strlen(hash),   STORE_VERSION_ABSENT};
    if (parent && *parent) {
        snprintf(link, sizeof(link), "%s/%s", parent, hash);
        ops[n++] =
            (struct store_op){STORE_OP_PUT,        API_T_CHILDREN,      (const uint8_t *)link,
                              strlen(link),        (const uint8_t *)"", 0,
                              STORE_VERSION_ABSENT};
    }
    if (mnt && *mnt) {
        mount_key(mkey, mnt, hash);
        ops[n++] =
            (struct store_op){STORE_OP_PUT,        AUTH_T_TOKENS,       (const uint8_t *)mkey,
                              strlen(mkey),        (const uint8_t *)"", 0,
                              STORE_VERSION_ABSENT};
    }
    rc = store_write(st, ops, n, NULL);
out:
    free(text);
    return rc;
}

/* cap-1 random characters of [0-9A-Za-z] and a NUL: Vault's token and accessor alphabet. No
 * '-' or '_': an accessor starting with '-' was taken for a flag by command lines (ours and
 * vault's). Bytes >= 248 are dropped so that "% 62" stays uniform (248 = 4 * 62). */
static void random_str(char *out, size_t cap)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint8_t r[64];
    size_t n = 0, used = sizeof(r);

    while (n + 1 < cap) {
        if (used == sizeof(r)) {
            randombytes_buf(r, sizeof(r));
            used = 0;
        }
        uint8_t b = r[used++];
        if (b < 248)
            out[n++] = b62[b % 62];
    }
    out[n] = '\0';
    sodium_memzero(r, sizeof(r));
}

/* Make a token for entry (policies etc. filled by the caller); returns the raw token.
 * TR_E_DENIED when the entry's auth mount started disabling before the token was written. */
static int token_mint(struct store *st, json_t *entry, const char *parent, char **out_raw)
{
    char *raw = malloc(TOKEN_STR_MAX);
    char hash[TOKEN_HASH_HEX], acc[40];
    int rc;

    *out_raw = NULL;
    if (!raw)
        return TR_E_NOMEM;
    memcpy(raw, TOKEN_PREFIX, sizeof(TOKEN_PREFIX));
    random_str(raw + 4, TOKEN_CHARS + 1);
    random_str(acc, ACCESSOR_CHARS + 1);
    json_object_set_new(entry, "accessor", json_string(acc));
    json_object_set_new(entry, "parent", json_string(parent ? parent : ""));
    if ((rc = token_hash(raw, hash)) == TR_OK)
        rc = token_store_new(st, entry, hash, parent);
    /* A disable marks its mount before it lists the mount's tokens. Seeing the mount live after
     * our write means that listing (if any) comes later and finds this token; otherwise it may
     * have missed it, so take it back (it could not authenticate anyway). */
    if (rc == TR_OK)
        rc = mount_live(st, json_string_value(json_object_get(entry, "auth_mount")));
    if (rc == TR_E_DENIED && token_revoke_tree(st, hash) != TR_OK)
        tr_log_warn("a token of a disabled auth mount was not removed (it cannot be used)");
    if (rc != TR_OK) {
        sodium_memzero(raw, TOKEN_STR_MAX);
        free(raw);
        return rc;
    }
    *out_raw = raw;
    return TR_OK;
}

int api_token_create_root(struct store *st, char **out_raw)
{
    json_t *e = json_pack(
        "{s:[s], s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:o}", "policies", "root", "path",
        "auth/token/root", "display_name", "root", "creation_time", (json_int_t)now_s(),
        "creation_ttl", (json_int_t)0, "expire_time", (json_int_t)0, "explicit_max_ttl",
        (json_int_t)0, "num_uses", (json_int_t)0, "renewable", 0, "orphan", 1, "meta", json_null());
    int rc = e ? token_mint(st, e, NULL, out_raw) : TR_E_NOMEM;
    json_decref(e);
    return rc;
}

/* ---- authentication ---------------------------------------------------------------------- */

/* The token stored under hash, from the cache when the index still has the version it was
 * made from. An absent key goes to the store too, which tells a deleted token (denied) from a
 * record that vanished behind the index's back (tamper alarm). */
static int token_get(struct api_call *c, const char *hash, struct api_token **out)
{
    struct api_cache *cache = c->api->cache;
    size_t len = strlen(hash);
    uint64_t ver = 0;
    int rc;

    if ((rc = store_stat(c->store, API_T_TOKENS, (const uint8_t *)hash, len, &ver)) == TR_OK &&
        (*out = api_cache_get(cache, &token_kind, hash, len, ver)))
        return TR_OK;
    if (rc == TR_E_NOTFOUND) /* revoked or spent: its entry must not linger */
        api_cache_drop(cache, &token_kind, hash, len);
    if ((rc = token_load(c->store, hash, out)) != TR_OK)
        return rc;
    struct api_token *t = *out;
    if (t->num_uses == 0) {
        /* share it without the rest of the entry (accessor, metadata) */
        json_decref(t->entry);
        t->entry = NULL;
        api_cache_put(cache, &token_kind, hash, len, t->version, t,
                      sizeof(*t) + len + 64 * json_array_size(t->policies) +
                          64 * json_array_size(t->bound_cidrs));
    }
    return TR_OK;
}

static bool token_expired(const struct api_token *t)
{
    return t->expire_time > 0 && t->expire_time <= now_s();
}

/* TR_OK while every ancestor of t lives. Vault revokes an expired token together with its whole
 * tree, and a revocation cut short (TOKEN_REVOKE_MAX, a crash) can leave descendants whose parent
 * is gone: no such child may authenticate. Ancestors come through the cache like the token
 * itself, so a level costs one index look. TR_E_DENIED for a dead or too deep chain. */
static int token_chain_live(struct api_call *c, const struct api_token *t)
{
    char hash[TOKEN_HASH_HEX];
    int rc = TR_OK;

    snprintf(hash, sizeof(hash), "%s", t->parent);
    for (int depth = 0; rc == TR_OK && hash[0]; depth++) {
        struct api_token *p = NULL;
        if (depth == TOKEN_DEPTH_MAX)
            return TR_E_DENIED;
        if ((rc = token_get(c, hash, &p)) != TR_OK)
            break;
        if (token_expired(p) || p->num_uses < 0)
            rc = TR_E_DENIED;
        else
            snprintf(hash, sizeof(hash), "%s", p->parent);
        api_token_free(p);
    }
    return rc;
}

int api_token_authenticate(struct api_call *c, const char *raw)
{
    char hash[TOKEN_HASH_HEX];
    struct api_token *t = NULL;
    int rc;

    if ((rc = token_hash(raw, hash)) != TR_OK)
        return rc == TR_E_SEALED ? rc : TR_E_DENIED;
    if ((rc = token_get(c, hash, &t)) != TR_OK)
        return rc;
    /* checked on every use: the wall clock moves and so do callers, the record doesn't */
    if (token_expired(t)) {
        rc = TR_E_DENIED;
    } else if (!auth_cidrs_allow(t->bound_cidrs, c->req->remote_ip)) {
        tr_log_debug("token refused: source address outside its bound CIDRs");
        rc = TR_E_DENIED;
    } else if ((rc = mount_live(c->store, t->mount)) == TR_OK) { /* its mount may be gone */
        rc = token_chain_live(c, t);
    }
    if (rc != TR_OK) {
        api_token_free(t);
        return rc;
    }
    c->token = t;
    return TR_OK;
}

int api_token_lookup(struct api_call *c, const char *raw, const char *accessor,
                     struct api_token **out)
{
    char hash[TOKEN_HASH_HEX];
    struct enc_secret *v = NULL;
    struct api_token *t = NULL;
    int rc;

    *out = NULL;
    if (raw) {
        if ((rc = token_hash(raw, hash)) != TR_OK)
            return rc == TR_E_SEALED ? rc : TR_E_DENIED;
    } else {
        if (!accessor || !*accessor || strlen(accessor) > 64)
            return TR_E_NOTFOUND;
        rc = store_get(c->store, API_T_ACCESSOR, (const uint8_t *)accessor, strlen(accessor), &v,
                       NULL);
        if (rc != TR_OK)
            return rc;
        snprintf(hash, sizeof(hash), "%.*s", (int)enc_secret_len(v), enc_secret_data(v));
        enc_secret_free(v);
    }
    if ((rc = token_get(c, hash, &t)) != TR_OK)
        return rc;
    /* as api_token_authenticate, less the caller's address: no request comes from t */
    if (token_expired(t) || t->num_uses < 0)
        rc = TR_E_DENIED;
    else if ((rc = mount_live(c->store, t->mount)) == TR_OK)
        rc = token_chain_live(c, t);
    if (rc != TR_OK) {
        api_token_free(t);
        return rc;
    }
    *out = t;
    return TR_OK;
}

bool api_token_has_uses(const struct api_token *t)
{
    return t->num_uses > 0;
}

/* Spend one use (pool thread): the write is a check-and-set on the entry's version, so two
 * concurrent requests cannot both spend the last use. The last use deletes the token. */
int api_token_spend_use(struct api_call *c)
{
    struct api_token *t = c->token;
    int64_t left = t->num_uses - 1;
    const char *acc = json_string_value(json_object_get(t->entry, "accessor"));
    int rc;

    if (!t->entry) /* limited-use tokens are never shared, so they keep their entry */
        return TR_E_INTERNAL;
    if (left > 0) {
        json_object_set_new(t->entry, "num_uses", json_integer(left));
        rc = api_put_json(c, API_T_TOKENS, t->hash, t->entry, t->version);
    } else {
        char mkey[TOKEN_MKEY_MAX];
        mount_key(mkey, t->mount, t->hash);
        struct store_op ops[3] = {{STORE_OP_DEL, API_T_TOKENS, (const uint8_t *)t->hash,
                                   strlen(t->hash), NULL, 0, t->version},
                                  {STORE_OP_DEL, API_T_ACCESSOR, (const uint8_t *)acc,
                                   acc ? strlen(acc) : 0, NULL, 0, STORE_VERSION_ANY},
                                  {STORE_OP_DEL, AUTH_T_TOKENS, (const uint8_t *)mkey, strlen(mkey),
                                   NULL, 0, STORE_VERSION_ANY}};
        rc = acc ? store_write(c->store, ops, t->mount[0] ? 3 : 2, NULL) : TR_E_INTERNAL;
        /* the request still runs with this last use; lookups afterwards fail */
        json_object_set_new(t->entry, "num_uses", json_integer(-1));
        t->num_uses = -1;
    }
    return rc == TR_E_CAS ? TR_E_DENIED : rc;
}

/* One policy of a token; *out_ver is the version of its record (0 for the built-in ones). */
static int policy_load(struct store *st, const char *name, struct api_policy **out,
                       uint64_t *out_ver)
{
    struct enc_secret *v = NULL;
    char err[API_POLICY_ERR_MIN];
    int rc;

    *out = NULL;
    *out_ver = 0;
    if (strcmp(name, "root") == 0)
        return api_policy_new_root(out);
    rc = store_get(st, API_T_POLICIES, (const uint8_t *)name, strlen(name), &v, out_ver);
    if (rc == TR_E_NOTFOUND && strcmp(name, "default") == 0)
        return api_policy_new_default(out);
    if (rc != TR_OK)
        return rc;
    rc = api_policy_parse(name, (const char *)enc_secret_data(v), enc_secret_len(v), out, err,
                          sizeof(err));
    enc_secret_free(v);
    return rc;
}

/* The key of a compiled ACL in the cache: each policy name of the token followed by its NUL and
 * the version of the record it was parsed from, so a changed policy gives another key. Only
 * ACLs whose policies all exist (or are root) are cached, so a missing policy always goes
 * through the store. */
#define ACL_POLICIES_MAX 64
#define ACL_KEY_MAX      2048

struct acl_key {
    char b[ACL_KEY_MAX];
    size_t n;
    bool ok;
};

static void acl_key_add(struct acl_key *k, const char *name, uint64_t ver)
{
    size_t len = strlen(name) + 1;

    if (!k->ok || len + sizeof(ver) > sizeof(k->b) - k->n) {
        k->ok = false;
        return;
    }
    memcpy(k->b + k->n, name, len);
    memcpy(k->b + k->n + len, &ver, sizeof(ver));
    k->n += len + sizeof(ver);
}

/* The key for the policies' current versions (the index's); false when not cacheable. */
static bool acl_key_current(struct store *st, const json_t *names, struct acl_key *k)
{
    size_t i;
    json_t *p;

    k->n = 0;
    k->ok = json_array_size(names) <= ACL_POLICIES_MAX;
    json_array_foreach(names, i, p)
    {
        const char *name = json_string_value(p);
        uint64_t ver = 0;
        if (!name ||
            (strcmp(name, "root") != 0 &&
             store_stat(st, API_T_POLICIES, (const uint8_t *)name, strlen(name), &ver) != TR_OK))
            return false;
        acl_key_add(k, name, ver);
    }
    return k->ok;
}

static void acl_ref(void *v)
{
    api_acl_ref(v);
}

static void acl_unref(void *v)
{
    api_acl_free(v);
}

static const struct api_cache_kind acl_kind = {"acl", acl_ref, acl_unref};

/* Load and compile the token's policies; the key records the versions actually loaded. */
static int acl_compile(struct api_call *c, const json_t *names, struct acl_key *k, size_t *cost)
{
    struct api_policy *pols[ACL_POLICIES_MAX];
    size_t n = 0, i;
    json_t *p;
    int rc = TR_OK;

    k->n = 0;
    k->ok = json_array_size(names) <= ACL_POLICIES_MAX;
    *cost = sizeof(*k);
    json_array_foreach(names, i, p)
    {
        if (n >= ACL_POLICIES_MAX)
            break;
        /* a policy deleted after the token was made simply grants nothing (as Vault) */
        const char *name = json_string_value(p);
        uint64_t ver = 0;
        int lrc = policy_load(c->store, name, &pols[n], &ver);
        if (lrc == TR_OK) {
            size_t len = 0;
            acl_key_add(k, name, ver);
            k->ok = k->ok && (ver || api_policy_is_root(pols[n]));
            (void)api_policy_text(pols[n], &len);
            *cost += 4 * len + 256;
            n++;
        } else if (lrc != TR_E_NOTFOUND) {
            rc = lrc;
        } else {
            k->ok = false;
        }
    }
    if (rc == TR_OK)
        rc = api_acl_new(pols, n, &c->acl);
    for (i = 0; i < n; i++)
        api_policy_free(pols[i]);
    return rc;
}

int api_acl_for_call(struct api_call *c)
{
    const json_t *names = api_token_policies(c->token);
    struct acl_key k;
    size_t cost = 0;
    int rc;

    if (acl_key_current(c->store, names, &k) &&
        (c->acl = api_cache_get(c->api->cache, &acl_kind, k.b, k.n, 0)))
        return TR_OK;
    if ((rc = acl_compile(c, names, &k, &cost)) == TR_OK && k.ok)
        api_cache_put(c->api->cache, &acl_kind, k.b, k.n, 0, c->acl, cost);
    return rc;
}

int api_policy_store_default(struct store *st)
{
    const char *text = api_policy_default_text();
    int rc = store_put(st, API_T_POLICIES, (const uint8_t *)"default", 7, (const uint8_t *)text,
                       strlen(text), STORE_VERSION_ABSENT, NULL);
    return rc == TR_E_CAS ? TR_OK : rc;
}

/* ---- responses ----------------------------------------------------------------------------- */

static json_t *policies_sorted(const json_t *pol)
{
    json_t *out = json_deep_copy(pol);
    /* Vault returns policies sorted; a small insertion sort keeps it dependency-free */
    size_t n = json_array_size(out);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(out, j - 1)),
                                           json_string_value(json_array_get(out, j))) > 0;
             j--) {
            json_t *a = json_incref(json_array_get(out, j - 1));
            json_array_set(out, j - 1, json_array_get(out, j));
            json_array_set_new(out, j, a);
        }
    return out;
}

static int64_t entry_ttl(const json_t *e)
{
    int64_t exp = entry_int(e, "expire_time");
    if (exp <= 0)
        return 0;
    int64_t left = exp - now_s();
    return left > 0 ? left : 0;
}

/* The auth block of a create, login or renewal. lease: the TTL just granted (reported as
 * granted: the durable write before the answer may take a second on a loaded machine). */
static json_t *auth_json(const json_t *e, const char *raw, int64_t lease)
{
    json_t *meta = json_object_get(e, "meta");
    return json_pack("{s:s, s:s, s:o, s:o, s:O, s:I, s:b, s:s, s:s, s:b, s:n, s:I}", "client_token",
                     raw, "accessor", json_string_value(json_object_get(e, "accessor")), "policies",
                     policies_sorted(json_object_get(e, "policies")), "token_policies",
                     policies_sorted(json_object_get(e, "policies")), "metadata",
                     meta ? meta : json_null(), "lease_duration",
                     (json_int_t)(lease > 0 ? lease : 0), "renewable",
                     json_is_true(json_object_get(e, "renewable")), "entity_id", "", "token_type",
                     "service", "orphan", json_is_true(json_object_get(e, "orphan")),
                     "mfa_requirement", "num_uses", (json_int_t)entry_int(e, "num_uses"));
}

static json_t *lookup_json(const json_t *e, const char *raw)
{
    char ct[64], it[64], et[64];
    int64_t exp = entry_int(e, "expire_time");
    json_t *meta = json_object_get(e, "meta"), *out;
    const json_t *cidrs = json_object_get(e, "bound_cidrs");

    api_time_rfc3339(entry_int(e, "creation_time") * 1000000000LL, it, sizeof(it));
    snprintf(ct, sizeof(ct), "%lld", (long long)entry_int(e, "creation_time"));
    if (exp > 0)
        api_time_rfc3339(exp * 1000000000LL, et, sizeof(et));
    /* numbers stay numbers and expire_time/ttl always exist: external-secrets relies on it */
    out = json_pack("{s:s, s:I, s:I, s:s, s:s, s:o, s:I, s:s, s:s, s:O, s:I, s:b, s:s, s:o, "
                    "s:b, s:I, s:s, s:I}",
                    "accessor", json_string_value(json_object_get(e, "accessor")), "creation_time",
                    (json_int_t)entry_int(e, "creation_time"), "creation_ttl",
                    (json_int_t)entry_int(e, "creation_ttl"), "display_name",
                    json_string_value(json_object_get(e, "display_name")), "entity_id", "",
                    "expire_time", exp > 0 ? json_string(et) : json_null(), "explicit_max_ttl",
                    (json_int_t)entry_int(e, "explicit_max_ttl"), "id", raw ? raw : "",
                    "issue_time", it, "meta", meta ? meta : json_null(), "num_uses",
                    (json_int_t)entry_int(e, "num_uses"), "orphan",
                    json_is_true(json_object_get(e, "orphan")), "path",
                    json_string_value(json_object_get(e, "path")), "policies",
                    policies_sorted(json_object_get(e, "policies")), "renewable",
                    json_is_true(json_object_get(e, "renewable")), "ttl", (json_int_t)entry_ttl(e),
                    "type", "service", "period", (json_int_t)entry_int(e, "period"));
    if (out && json_array_size(cidrs)) /* Vault shows them only when set */
        json_object_set_new(out, "bound_cidrs", json_deep_copy(cidrs));
    if (out && json_string_value(json_object_get(e, "role"))) /* tokens made through a role */
        json_object_set_new(out, "role", json_deep_copy(json_object_get(e, "role")));
    return out;
}

/* ---- create -------------------------------------------------------------------------------- */

/* policies: JSON array of strings or a comma-separated string (vault-api.md §1.3) */
static json_t *string_list(const json_t *v)
{
    json_t *out = json_array();

    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (json_is_string(x) && json_string_length(x))
            json_array_append_new(out, json_string(json_string_value(x)));
    } else if (json_is_string(v)) {
        char *dup = strdup(json_string_value(v)), *save = NULL;
        for (char *tok = dup ? strtok_r(dup, ",", &save) : NULL; tok;
             tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            size_t n = strlen(tok);
            while (n && tok[n - 1] == ' ')
                tok[--n] = '\0';
            if (n)
                json_array_append_new(out, json_string(tok));
        }
        free(dup);
    }
    return out;
}

static bool list_has(const json_t *a, const char *s)
{
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) if (strcmp(json_string_value(x), s) == 0) return true;
    return false;
}

/* Policy names as Vault stores them: trimmed, lower-cased, deduplicated. NULL when a name is
 * not a valid policy name (the caller answers 400). */
static json_t *policies_normalize(const json_t *in)
{
    json_t *out = json_array();
    size_t i;
    json_t *p;

    json_array_foreach(in, i, p)
    {
        char name[API_POLICY_NAME_MAX + 1];
        if (!out || api_policy_name_normalize(json_string_value(p), name, sizeof(name)) != TR_OK) {
            json_decref(out);
            return NULL;
        }
        if (!list_has(out, name))
            json_array_append_new(out, json_string(name));
    }
    return out;
}

static int64_t dur_clamp(int64_t d)
{
    return d < 0 ? 0 : d > TOKEN_DURATION_MAX ? TOKEN_DURATION_MAX : d;
}

static void warn(json_t *warnings, const char *msg)
{
    json_array_append_new(warnings, json_string(msg));
}

/* Vault's display name: "token-<name>" with every character but [A-Za-z0-9-] turned into '-'
 * (one per UTF-8 character: Go's regexp works on runes) and one trailing '-' dropped. */
static void display_name(const char *dn, char *out, size_t cap)
{
    char full[160];
    size_t n = 0;

    snprintf(full, sizeof(full), "token%s%s", dn && *dn ? "-" : "", dn ? dn : "");
    for (const unsigned char *p = (const unsigned char *)full; *p && n + 1 < cap; p++) {
        if ((*p & 0xC0) == 0x80) /* a UTF-8 continuation byte: its character is done */
            continue;
        bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-';
        out[n++] = keep ? (char)*p : '-';
    }
    if (n && out[n - 1] == '-')
        n--;
    out[n] = '\0';
}

/* meta as Vault decodes it, into string -> string (a weak decode): numbers become their decimal
 * text, booleans "1"/"0", null "". Nested values are refused (*bad): the Go client reads
 * auth.metadata as map[string]string and fails on anything but strings. */
static json_t *meta_strings(const json_t *in, bool *bad)
{
    json_t *out, *v;
    const char *k;

    *bad = false;
    if (!in || json_is_null(in))
        return json_null();
    if (!json_is_object(in)) {
        *bad = true;
        return NULL;
    }
    if (!(out = json_object()))
        return NULL;
    json_object_foreach((json_t *)in, k, v)
    {
        char num[40];
        const char *str = json_is_string(v) ? json_string_value(v) : json_is_null(v) ? "" : NULL;
        if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            str = num;
        } else if (json_is_real(v)) { /* the shortest of two precisions that reads back */
            snprintf(num, sizeof(num), "%.15g", json_real_value(v));
            if (strtod(num, NULL) != json_real_value(v))
                snprintf(num, sizeof(num), "%.17g", json_real_value(v));
            str = num;
        } else if (json_is_boolean(v)) {
            str = json_is_true(v) ? "1" : "0";
        }
        if (!str)
            *bad = true;
        if (!str || json_object_set_new(out, k, json_string(str)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Build the child's entry from the request; NULL and *err set when the request is invalid.
 * Capping a TTL adds a warning to warnings, as Vault does. */
/* The role's settings on top of the request's (Vault: the lesser period and explicit max TTL,
 * the role's num_uses when lower, never renewable when the role says so). */
static void role_apply(const json_t *role, int64_t *period, int64_t *max, int64_t *uses,
                       bool *renewable, json_t *warnings)
{
    int64_t rp = entry_int(role, "token_period"), rm = entry_int(role, "token_explicit_max_ttl");
    int64_t ru = entry_int(role, "token_num_uses");
    char msg[160];

    if (rp > 0 && *period > 0) {
        *period = rp < *period ? rp : *period;
        snprintf(msg, sizeof(msg),
                 "Period specified both during creation call and in role; using the lesser value "
                 "of %lld seconds",
                 (long long)*period);
        warn(warnings, msg);
    } else if (rp > 0) {
        *period = rp;
    }
    if (rm > 0 && *max > 0) {
        *max = rm < *max ? rm : *max;
        snprintf(msg, sizeof(msg),
                 "Explicit max TTL specified both during creation call and in role; using the "
                 "lesser value of %lld seconds",
                 (long long)*max);
        warn(warnings, msg);
    } else if (rm > 0) {
        *max = rm;
    }
    if (ru > 0 && (*uses == 0 || ru < *uses))
        *uses = ru;
    if (!json_is_true(json_object_get(role, "renewable")))
        *renewable = false;
}

/* The policies of a token made through role (it constrains them): Vault's rules, then
 * no_default_policy. NULL and *err (in rerr) on refusal. */
static json_t *role_policies(struct api_call *c, const json_t *role, json_t *want, bool nodef,
                             char *rerr, const char **err)
{
    json_t *out = NULL;
    int rc = api_token_role_policies(role, want, nodef, api_token_policies(c->token), &out, rerr,
                                     API_TOKEN_ROLE_ERR_MAX);

    json_decref(want);
    if (rc != TR_OK) {
        *err = rc == TR_E_INVAL ? rerr : "internal error";
        return NULL;
    }
    for (size_t i = json_array_size(out); nodef && i-- > 0;)
        if (!strcmp(json_string_value(json_array_get(out, i)), "default"))
            json_array_remove(out, i);
    return out;
}

/* "auth/token/create/<role>[/<path_suffix>]" into out. */
static void role_path(const json_t *role, char *out, size_t cap)
{
    const char *sfx = json_string_value(json_object_get(role, "path_suffix"));

    snprintf(out, cap, "auth/token/create/%s%s%s", json_string_value(json_object_get(role, "name")),
             sfx && *sfx ? "/" : "", sfx ? sfx : "");
}

static json_t *create_entry(struct api_call *c, json_t *b, bool orphan, const json_t *role,
                            json_t *warnings, char *rerr, const char **err)
{
    json_t *asked = string_list(json_object_get(b, "policies"));
    json_t *want = NULL, *meta = NULL;
    const json_t *type = json_object_get(b, "type");
    int64_t ttl = 0, max = 0, period = 0, uses = 0;
    bool renewable = true, nodef = false, noparent = false, bad[7] = {0};
    const json_t *mine = api_token_policies(c->token);
    /* Vault asks for sudo on the request path for orphans, periods and foreign policies */
    bool sudo = c->token->root || api_acl_allows_op(c->acl, c->path, API_ACL_OP_UPDATE, true);

    *err = NULL;
    /* "lease" is Vault's deprecated name for ttl, read when no ttl is given */
    const char *ttl_s = tr_json_get_str(b, "ttl");
    const json_t *ttl_j = json_object_get(b, "ttl");
    bool no_ttl = !ttl_j || json_is_null(ttl_j) || (ttl_s && !*ttl_s);
    tr_json_get_duration(b, no_ttl ? "lease" : "ttl", &ttl, &bad[0]);
    tr_json_get_duration(b, "explicit_max_ttl", &max, &bad[1]);
    tr_json_get_duration(b, "period", &period, &bad[2]);
    tr_json_get_int(b, "num_uses", &uses, &bad[3]);
    tr_json_get_bool(b, "renewable", &renewable, &bad[4]);
    tr_json_get_bool(b, "no_default_policy", &nodef, &bad[5]);
    tr_json_get_bool(b, "no_parent", &noparent, &bad[6]);
    for (int i = 0; i < 7; i++)
        if (bad[i] || uses < 0)
            *err = "Field validation failed: error converting input";
    /* Vault's types are service ("" too) and batch; a batch token is not a service token with
     * other rules, so asking for one is refused rather than answered with a service token */
    if (!*err && type && !json_is_null(type) &&
        !(json_is_string(type) &&
          (!json_string_length(type) || !strcmp(json_string_value(type), "service"))))
        *err = json_is_string(type) && !strcmp(json_string_value(type), "batch")
                   ? "batch tokens are not supported by Tresor"
                   : "invalid 'token_type' value";
    /* Vault lets root pick the token itself; ours are always random, so say so (silently
     * answering another token would leave the caller holding one that does not exist) */
    const char *id = tr_json_get_str(b, "id");
    if (!*err && id && *id)
        *err = "custom token IDs are not supported by Tresor";
    bool meta_bad = false;
    if (!*err && !(meta = meta_strings(json_object_get(b, "meta"), &meta_bad)))
        *err = meta_bad ? "Error decoding request: meta values must be strings" : "internal error";
    /* a limited-use token would escape its limit through children that have none */
    if (!*err && c->token->num_uses != 0)
        *err = "restricted use token cannot generate child tokens";
    const char *alias = tr_json_get_str(b, "entity_alias");
    if (!*err && role && alias && *alias) /* no role can allow one: Tresor has no identities */
        *err = "invalid 'entity_alias' value";
    if (!*err && noparent && !orphan && !sudo && !role) /* a role decides orphans itself */
        *err = "root or sudo privileges required to create orphan token";
    if (!*err && period && !sudo)
        *err = "root or sudo privileges required to create periodic token";
    if (!*err && !(want = policies_normalize(asked)))
        *err = "invalid policy name";
    json_decref(asked);
    if (*err)
        goto fail;
    size_t i;
    json_t *p;
    if (role) {
        nodef = nodef || json_is_true(json_object_get(role, "token_no_default_policy"));
        noparent = json_is_true(json_object_get(role, "orphan"));
        orphan = false;
        role_apply(role, &period, &max, &uses, &renewable, warnings);
    }
    /* a role with allowed/disallowed lists replaces the subset-of-parent rule (as Vault) */
    bool by_role = role && api_token_role_constrains(role);
    if (by_role && !(want = role_policies(c, role, want, nodef, rerr, err)))
        goto fail;
    if (!by_role && json_array_size(want) == 0) /* copies: mine may be shared with others */
        json_array_foreach(mine, i, p)
            json_array_append_new(want, json_string(json_string_value(p)));
    json_array_foreach(want, i, p)
    {
        /* a child never gets more than its parent, unless the parent is root */
        if (!by_role && !c->token->root && !list_has(mine, json_string_value(p)) &&
            strcmp(json_string_value(p), "default") != 0) {
            *err = "child policies must be subset of parent";
            goto fail;
        }
    }
    if (list_has(want, "root") && !c->token->root) {
        *err = "root tokens may only be created by a root token";
        goto fail;
    }
    if (!by_role && !nodef && !list_has(want, "default") && !list_has(want, "root"))
        json_array_append_new(want, json_string("default"));
    /* As Vault: a root-policy token asked for without any TTL never expires and is not
     * renewable (`vault token create` as root shows token_duration ∞); an expiring root token
     * may not make one that outlives it. */
    bool forever = list_has(want, "root") && !ttl && !max && !period;
    if (forever && c->token->expire_time > 0) {
        *err = "expiring root tokens cannot create non-expiring root tokens";
        goto fail;
    }
    if (forever)
        renewable = false;
    /* Vault's bounds: a periodic token lives one period per renewal (explicit_max_ttl, if any,
     * still ends it); any other token lives at most the system max TTL from its creation. The
     * clamps first keep every later sum with a unix time from overflowing. */
    ttl = dur_clamp(ttl);
    max = dur_clamp(max);
    period = dur_clamp(period);
    if (!period && max > TOKEN_MAX_TTL) {
        max = TOKEN_MAX_TTL;
        warn(warnings, "explicit max TTL is greater than the system max TTL; value is capped "
                       "to 2764800 seconds");
    }
    if (period) {
        ttl = period;
    } else if (!ttl && !forever) {
        ttl = TOKEN_DEFAULT_TTL;
    } else if (ttl > TOKEN_MAX_TTL) {
        ttl = TOKEN_MAX_TTL;
        warn(warnings, "TTL is greater than the system max TTL; value is capped to 2764800 "
                       "seconds");
    }
    if (max && ttl > max) {
        ttl = max;
        warn(warnings, "requested TTL is higher than the explicit max TTL; value is capped");
    }
    char name[160], path[API_TOKEN_ROLE_NAME_MAX * 2 + 32];
    display_name(tr_json_get_str(b, "display_name"), name, sizeof(name));
    int64_t now = now_s();
    if (role)
        role_path(role, path, sizeof(path));
    else
        snprintf(path, sizeof(path), "%s",
                 orphan ? "auth/token/create-orphan" : "auth/token/create");
    json_t *e = json_pack("{s:o, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:o}",
                          "policies", want, "path", path, "display_name", name, "creation_time",
                          (json_int_t)now, "creation_ttl", (json_int_t)ttl, "expire_time",
                          (json_int_t)(ttl ? now + ttl : 0), "explicit_max_ttl", (json_int_t)max,
                          "period", (json_int_t)period, "num_uses", (json_int_t)uses, "renewable",
                          renewable, "orphan", orphan || noparent, "meta", meta);
    if (e && role)
        json_object_set_new(e, "role",
                            json_string(json_string_value(json_object_get(role, "name"))));
    return e;
fail:
    json_decref(want);
    json_decref(meta);
    return NULL;
}

/* The role of create/<name> into *out (NULL for the other create paths); false when the call
 * has been answered (unknown role: Vault's 400). */
static bool create_role(struct api_call *c, json_t **out)
{
    const char *prefix = "auth/token/create/";
    char msg[API_TOKEN_ROLE_NAME_MAX + 32];
    int rc;

    *out = NULL;
    if (strncmp(c->path, prefix, strlen(prefix)) != 0)
        return true;
    rc = api_token_role_load(c, c->path + strlen(prefix), out);
    if (rc == TR_E_NOTFOUND) {
        snprintf(msg, sizeof(msg), "unknown role %.*s", API_TOKEN_ROLE_NAME_MAX,
                 c->path + strlen(prefix));
        api_reply_error(c, 400, msg);
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    }
    return rc == TR_OK;
}

/* The child's network binding. It keeps its parent's (stricter than Vault, which lets a bound
 * token mint unbound children); a role's token_bound_cidrs apply instead when they lie within
 * the parent's, and are refused otherwise, so a role never widens where a token works. */
static const char *create_cidrs(struct api_call *c, const json_t *role, json_t *e)
{
    const json_t *rc = role ? json_object_get(role, "token_bound_cidrs") : NULL;
    const json_t *pc = c->token->bound_cidrs;

    if (json_array_size(rc) && pc && !auth_cidrs_subset(rc, pc))
        return "the role's token_bound_cidrs are not within the calling token's bound CIDRs";
    if (json_array_size(rc))
        json_object_set_new(e, "bound_cidrs", json_deep_copy(rc));
    else if (pc)
        json_object_set_new(e, "bound_cidrs", json_deep_copy(pc));
    return NULL;
}

static void token_create(struct api_call *c)
{
    bool orphan = strcmp(c->path, "auth/token/create-orphan") == 0;
    const char *err = NULL;
    char *raw = NULL, rerr[API_TOKEN_ROLE_ERR_MAX];
    json_t *b = c->body, *warnings = NULL, *role = NULL, *e = NULL, *auth = NULL;
    int rc;

    if (!create_role(c, &role))
        return;
    if ((warnings = json_array()))
        e = create_entry(c, b, orphan, role, warnings, rerr, &err);
    if (e && (err = create_cidrs(c, role, e)) != NULL) {
        json_decref(e);
        e = NULL;
    }
    if (!e) {
        api_reply_error(c, 400, err ? err : "internal error");
        goto out;
    }
    bool noparent = json_is_true(json_object_get(e, "orphan"));
    /* a child that dies with its parent also depends on the parent's auth mount, so a disable
     * interrupted half way leaves none of them usable */
    if (!noparent && c->token->mount[0])
        json_object_set_new(e, "auth_mount", json_string(c->token->mount));
    if ((rc = token_mint(c->store, e, noparent ? NULL : c->token->hash, &raw)) != TR_OK) {
        api_reply_err(c, rc);
        goto out;
    }
    auth = auth_json(e, raw, entry_int(e, "creation_ttl"));
    sodium_memzero(raw, strlen(raw));
    free(raw);
    if (!json_array_size(warnings)) {
        json_decref(warnings);
        warnings = NULL;
    }
    api_reply_envelope(c, 200, NULL, auth, warnings);
    warnings = NULL;
out:
    json_decref(e);
    json_decref(role);
    json_decref(warnings);
}

/* ---- lookup / renew / revoke --------------------------------------------------------------- */

/* The target of lookup/renew/revoke: self, a token in the body, or an accessor. */
static int target_load(struct api_call *c, const char *what, struct api_token **out,
                       const char **out_raw)
{
    char hash[TOKEN_HASH_HEX];
    struct enc_secret *v = NULL;
    const char *s;
    int rc;

    *out = NULL;
    *out_raw = NULL;
    if (strcmp(what, "self") == 0) {
        *out_raw = c->req->token;
        return token_load(c->store, c->token->hash, out);
    }
    if (strcmp(what, "token") == 0) {
        if (!(s = tr_json_get_str(c->body, "token")))
            return TR_E_INVAL;
        *out_raw = s;
        if ((rc = token_hash(s, hash)) != TR_OK)
            return rc;
        return token_load(c->store, hash, out);
    }
    if (!(s = tr_json_get_str(c->body, "accessor")) || strlen(s) > 64)
        return TR_E_INVAL;
    /* TR_E_NOTFOUND: no such accessor (Vault answers it apart from a dead token) */
    rc = store_get(c->store, API_T_ACCESSOR, (const uint8_t *)s, strlen(s), &v, NULL);
    if (rc != TR_OK)
        return rc;
    snprintf(hash, sizeof(hash), "%.*s", (int)enc_secret_len(v), enc_secret_data(v));
    enc_secret_free(v);
    return token_load(c->store, hash, out);
}

/* The target as lookup and renew see it: TR_E_DENIED once it could not authenticate (expired,
 * its auth mount disabled, an ancestor dead), even before its removal ends. */
static int target_load_live(struct api_call *c, const char *what, struct api_token **out,
                            const char **out_raw)
{
    int rc = target_load(c, what, out, out_raw);

    if (rc == TR_OK)
        rc = mount_live(c->store, (*out)->mount);
    if (rc == TR_OK && entry_expired((*out)->entry))
        rc = TR_E_DENIED;
    if (rc == TR_OK)
        rc = token_chain_live(c, *out);
    return rc;
}

static void token_lookup(struct api_call *c, const char *what)
{
    struct api_token *t = NULL;
    const char *raw = NULL, *tok = tr_json_get_str(c->body, "token");

    if (!strcmp(what, "token") && (!tok || !*tok))
        what = "self"; /* as Vault: lookup without a token looks up the caller's */
    if (!strcmp(what, "self") && c->token->num_uses < 0 && c->token->entry) {
        /* This request spent the token's last use (the record is gone already). Vault looks
         * the caller up "tainted", so the request still sees it, with num_uses -1 (revocation
         * pending); a later request gets 403. */
        api_reply_data(c, 200, lookup_json(c->token->entry, c->req->token));
        return;
    }
    int rc = target_load_live(c, what, &t, &raw);

    if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, "missing token or accessor");
    } else if (rc == TR_E_NOTFOUND) {
        api_reply_error(c, 400, "invalid accessor");
    } else if (rc == TR_E_DENIED) {
        api_reply_error(c, 403, "bad token");
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    } else {
        api_reply_data(c, 200, lookup_json(t->entry, strcmp(what, "accessor") ? raw : NULL));
    }
    api_token_free(t);
}

static void token_renew(struct api_call *c, const char *what)
{
    struct api_token *t = NULL;
    const char *raw = NULL;
    int64_t inc = 0, granted = 0;
    bool bad = false;
    int rc = target_load_live(c, what, &t, &raw);
    bool no_accessor = rc == TR_E_NOTFOUND; /* the accessor index has no such accessor */

    tr_json_get_duration(c->body, "increment", &inc, &bad);
    if (rc == TR_OK && (bad || !json_is_true(json_object_get(t->entry, "renewable"))))
        rc = bad ? TR_E_INVAL : TR_E_UNSUPPORTED;
    if (rc == TR_OK) {
        json_t *e = t->entry;
        int64_t now = now_s(), created = entry_int(e, "creation_time");
        int64_t period = dur_clamp(entry_int(e, "period"));
        int64_t max = dur_clamp(entry_int(e, "explicit_max_ttl"));
        int64_t ttl = period ? period
                      : inc  ? dur_clamp(inc)
                             : dur_clamp(entry_int(e, "creation_ttl"));
        int64_t exp = now + ttl; /* clamped durations: no overflow */
        /* As Vault, the max TTL counts from creation, so renewing never keeps a token alive
         * for ever: the system max bounds every non-periodic token, explicit_max_ttl any. */
        if (!period && exp > created + TOKEN_MAX_TTL)
            exp = created + TOKEN_MAX_TTL;
        if (max && exp > created + max)
            exp = created + max;
        json_object_set_new(e, "expire_time", json_integer(exp));
        granted = exp - now; /* reported as granted: the durable write may take a second */
        rc = api_put_json(c, API_T_TOKENS, t->hash, e, t->version);
    }
    if (rc == TR_E_UNSUPPORTED)
        api_reply_error(c, 400, "lease is not renewable");
    else if (no_accessor)
        api_reply_error(c, 400, "invalid accessor");
    else if (rc == TR_E_DENIED && strcmp(what, "self") != 0)
        api_reply_error(c, 400, "token not found"); /* Vault: an unknown or dead target is 400 */
    else if (rc == TR_E_DENIED)
        api_reply_error(c, 403, "bad token");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else /* Vault echoes the token renewed (self or body); by accessor the caller never had it */
        api_reply_envelope(c, 200, NULL, auth_json(t->entry, raw ? raw : "", granted), NULL);
    api_token_free(t);
}

/* One token of a revocation: the keys its deletion removes. */
struct revoke_item {
    char hash[TOKEN_HASH_HEX];
    char acc[64];
    char link[TOKEN_LINK_MAX]; /* "" when it has no parent */
    char mkey[TOKEN_MKEY_MAX]; /* "" when it depends on no auth mount */
};

/* false when the token is gone already (or unreadable: then nothing is known to delete). */
static bool revoke_item_load(struct store *st, const char *h, struct revoke_item *it)
{
    struct api_token *t = NULL;

    if (strlen(h) >= sizeof(it->hash) || token_load(st, h, &t) != TR_OK)
        return false;
    const char *acc = json_string_value(json_object_get(t->entry, "accessor"));
    const char *parent = json_string_value(json_object_get(t->entry, "parent"));
    snprintf(it->hash, sizeof(it->hash), "%s", h);
    snprintf(it->acc, sizeof(it->acc), "%s", acc && strlen(acc) < sizeof(it->acc) ? acc : "");
    it->link[0] = it->mkey[0] = '\0';
    if (parent && *parent)
        snprintf(it->link, sizeof(it->link), "%.64s/%s", parent, h);
    if (t->mount[0])
        mount_key(it->mkey, t->mount, h);
    api_token_free(t);
    return true;
}

static void op_del(struct store_op *op, const char *table, const char *key)
{
    *op = (struct store_op){STORE_OP_DEL, table, (const uint8_t *)key, strlen(key),
                            NULL,         0,     STORE_VERSION_ANY};
}

/* Delete n tokens in one atomic write (at most 4 ops each). */
static int revoke_write(struct store *st, const struct revoke_item *items, size_t n)
{
    struct store_op *ops = calloc(4 * n + 1, sizeof(*ops));
    size_t k = 0;
    int rc;

    if (!ops)
        return TR_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        op_del(&ops[k++], API_T_TOKENS, items[i].hash);
        if (items[i].acc[0])
            op_del(&ops[k++], API_T_ACCESSOR, items[i].acc);
        if (items[i].link[0])
            op_del(&ops[k++], API_T_CHILDREN, items[i].link);
        if (items[i].mkey[0])
            op_del(&ops[k++], AUTH_T_TOKENS, items[i].mkey);
    }
    rc = k ? store_write(st, ops, k, NULL) : TR_OK;
    free(ops);
    return rc;
}

/* Extend queue (token hashes) with every descendant, breadth first and bounded. */
static int revoke_collect(struct store *st, json_t *queue)
{
    int rc = TR_OK;

    for (size_t i = 0; i < json_array_size(queue) && i < TOKEN_REVOKE_MAX; i++) {
        const char *h = json_string_value(json_array_get(queue, i));
        char prefix[TOKEN_HASH_HEX + 1];
        struct store_list *l = NULL;
        snprintf(prefix, sizeof(prefix), "%.64s/", h);
        struct store_list_opts lo = {.prefix = (const uint8_t *)prefix,
                                     .prefix_len = strlen(prefix)};
        if ((rc = store_list(st, API_T_CHILDREN, &lo, &l)) != TR_OK)
            break;
        for (size_t k = 0; k < l->n; k++)
            json_array_append_new(queue, json_stringn((const char *)l->e[k].key + strlen(prefix),
                                                      l->e[k].key_len - strlen(prefix)));
        store_list_free(l);
    }
    return rc;
}

/* Revoke the tokens of queue and all their descendants. They are deleted from the queue's end,
 * REVOKE_CHUNK per write, so children go before parents and a crash half way leaves a
 * revocable parent, never an orphaned live child. */
static int revoke_queue(struct store *st, json_t *queue)
{
    struct revoke_item *items = calloc(REVOKE_CHUNK, sizeof(*items));
    size_t n = 0;
    int rc = items ? revoke_collect(st, queue) : TR_E_NOMEM;

    for (size_t i = json_array_size(queue); rc == TR_OK && i-- > 0;) {
        if (revoke_item_load(st, json_string_value(json_array_get(queue, i)), &items[n]))
            n++;
        if (n == REVOKE_CHUNK || (i == 0 && n)) {
            rc = revoke_write(st, items, n);
            n = 0;
        }
    }
    free(items);
    return rc;
}

static int token_revoke_tree(struct store *st, const char *hash)
{
    json_t *queue = json_pack("[s]", hash);
    int rc = queue ? revoke_queue(st, queue) : TR_E_NOMEM;

    json_decref(queue);
    return rc;
}

int api_token_revoke_mount(struct store *st, const char *uuid, size_t *out_n)
{
    char prefix[40];
    struct store_list *l = NULL;
    struct store_op *ops = NULL;
    json_t *queue = json_array();
    int rc = TR_E_NOMEM;

    *out_n = 0;
    snprintf(prefix, sizeof(prefix), "%.36s/", uuid);
    struct store_list_opts lo = {
        .prefix = (const uint8_t *)prefix, .prefix_len = strlen(prefix), .limit = MOUNT_PAGE};
    if (!queue || (rc = store_list(st, AUTH_T_TOKENS, &lo, &l)) != TR_OK)
        goto out;
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(queue, json_stringn((const char *)l->e[i].key + strlen(prefix),
                                                  l->e[i].key_len - strlen(prefix)));
    if ((rc = revoke_queue(st, queue)) != TR_OK)
        goto out;
    /* entries whose token was gone already: every listed one goes, so each page progresses */
    if (!(ops = calloc(l->n + 1, sizeof(*ops)))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < l->n; i++)
        ops[i] = (struct store_op){
            STORE_OP_DEL, AUTH_T_TOKENS, l->e[i].key, l->e[i].key_len, NULL, 0, STORE_VERSION_ANY};
    if (l->n && (rc = store_write(st, ops, l->n, NULL)) != TR_OK)
        goto out;
    *out_n = l->n;
    rc = TR_OK;
out:
    free(ops);
    store_list_free(l);
    json_decref(queue);
    return rc;
}

/* "auth/<name>/login..." (not auth/token/): name into out. */
static bool login_mount_name(const char *path, char *out, size_t cap)
{
    const char *name = path && !strncmp(path, "auth/", 5) ? path + 5 : NULL;
    const char *slash = name ? strchr(name, '/') : NULL;
    size_t n = slash ? (size_t)(slash - name) : 0;

    if (!slash || n == 0 || n >= cap || strncmp(slash, "/login", 6) != 0 ||
        (n == 5 && !strncmp(name, "token", 5)))
        return false;
    memcpy(out, name, n);
    out[n] = '\0';
    return true;
}

/* Legacy tokens bound per atomic write: a token record and its index entry each (2 ops). */
#define BIND_CHUNK 256

struct bind_batch {
    struct store_op ops[2 * BIND_CHUNK];
    char hash[BIND_CHUNK][TOKEN_HASH_HEX];
    char mkey[BIND_CHUNK][TOKEN_MKEY_MAX];
    char *text[BIND_CHUNK];
    size_t n;
    size_t bound, revoked;
};

/* Write the batch (each token at the version it was read: nothing serves yet, so a mismatch
 * would be a bug and fails the scan, to be retried at the next unseal). */
static int bind_flush(struct store *st, struct bind_batch *b)
{
    int rc = b->n ? store_write(st, b->ops, 2 * b->n, NULL) : TR_OK;

    for (size_t i = 0; i < b->n; i++)
        free(b->text[i]);
    if (rc == TR_OK)
        b->bound += b->n;
    b->n = 0;
    return rc;
}

/* One token of the legacy scan: bind it to its live mount (queued in b), or revoke it when
 * that is gone. */
static int bind_one(struct store *st, const char *h, const json_t *mounts, struct bind_batch *b)
{
    struct api_token *t = NULL;
    const char *uuid;
    char name[80];
    size_t i = b->n;
    int rc = token_load(st, h, &t);

    if (rc != TR_OK)
        return rc == TR_E_DENIED ? TR_OK : rc; /* gone meanwhile */
    if (t->mount[0] ||
        !login_mount_name(json_string_value(json_object_get(t->entry, "path")), name, sizeof(name)))
        goto out; /* bound already, or not from a login */
    if (!(uuid = json_string_value(json_object_get(mounts, name)))) {
        /* its mount was disabled before disables revoked tokens */
        if ((rc = token_revoke_tree(st, h)) == TR_OK)
            b->revoked++;
        goto out;
    }
    json_object_set_new(t->entry, "auth_mount", json_string(uuid));
    if (!(b->text[i] = entry_text(t->entry))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    snprintf(b->hash[i], TOKEN_HASH_HEX, "%s", h);
    mount_key(b->mkey[i], uuid, h);
    b->ops[2 * i] = (struct store_op){STORE_OP_PUT,
                                      API_T_TOKENS,
                                      (const uint8_t *)b->hash[i],
                                      strlen(b->hash[i]),
                                      (const uint8_t *)b->text[i],
                                      strlen(b->text[i]),
                                      t->version};
    b->ops[2 * i + 1] =
        (struct store_op){STORE_OP_PUT,       AUTH_T_TOKENS,       (const uint8_t *)b->mkey[i],
                          strlen(b->mkey[i]), (const uint8_t *)"", 0,
                          STORE_VERSION_ANY};
    if (++b->n == BIND_CHUNK)
        rc = bind_flush(st, b);
out:
    api_token_free(t);
    return rc;
}

int api_token_bind_legacy(struct store *st, const json_t *mounts)
{
    uint8_t after[STORE_KEY_MAX];
    char h[TOKEN_HASH_HEX];
    size_t after_len = 0;
    struct bind_batch *b = calloc(1, sizeof(*b));
    int rc = b ? TR_OK : TR_E_NOMEM;

    while (rc == TR_OK) {
        struct store_list *l = NULL;
        struct store_list_opts lo = {
            .start_after = after_len ? after : NULL, .start_after_len = after_len, .limit = 1000};
        if ((rc = store_list(st, API_T_TOKENS, &lo, &l)) != TR_OK)
            break;
        for (size_t i = 0; rc == TR_OK && i < l->n; i++) {
            after_len = l->e[i].key_len; /* <= STORE_KEY_MAX */
            memcpy(after, l->e[i].key, after_len);
            if (after_len >= sizeof(h))
                continue; /* not a token hash */
            snprintf(h, sizeof(h), "%.*s", (int)after_len, (const char *)after);
            rc = bind_one(st, h, mounts, b);
        }
        bool more = l->truncated && l->n;
        store_list_free(l);
        if (!more)
            break;
    }
    if (rc == TR_OK)
        rc = bind_flush(st, b);
    if (b && (b->bound || b->revoked))
        tr_log_info("login tokens of an older version: %zu bound to their auth mount, %zu of "
                    "disabled mounts revoked",
                    b->bound, b->revoked);
    if (b) /* a failed scan: release what was queued */
        for (size_t i = 0; i < b->n; i++)
            free(b->text[i]);
    free(b);
    return rc;
}

static void token_revoke(struct api_call *c, const char *what)
{
    struct api_token *t = NULL;
    const char *raw = NULL;
    int rc = target_load(c, what, &t, &raw);
    bool no_accessor = rc == TR_E_NOTFOUND; /* the accessor index has no such accessor */

    if (rc == TR_OK)
        rc = token_revoke_tree(c->store, t->hash);
    api_token_free(t);
    if (rc == TR_E_DENIED && !strcmp(what, "token"))
        rc = TR_OK; /* Vault: revoking a token that is gone succeeds (`vault token revoke`) */
    if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, "missing token or accessor");
    } else if (no_accessor) { /* Vault: an unknown accessor is a success with a warning */
        json_t *w = json_pack("[s]", "No token found with this accessor");
        api_reply_envelope(c, 200, NULL, NULL, w);
    } else if (rc == TR_E_DENIED && !strcmp(what, "accessor")) {
        api_reply_error(c, 400, "token not found"); /* an accessor whose token is gone */
    } else if (rc == TR_E_DENIED) {
        api_reply_error(c, 403, "bad token");
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    } else {
        api_reply_status(c, 204);
    }
}

/* Whether the token of entry e could authenticate now (not expired, its auth mount live, every
 * ancestor alive): what LIST accessors reports. */
static bool accessor_live(struct api_call *c, const char *hash)
{
    struct api_token *t = NULL;
    bool live = token_load(c->store, hash, &t) == TR_OK && !entry_expired(t->entry) &&
                mount_live(c->store, t->mount) == TR_OK && token_chain_live(c, t) == TR_OK;

    api_token_free(t);
    return live;
}

/* LIST auth/token/accessors (sudo, checked by the pipeline): the accessor of every live token,
 * never a token or its hash. The accessor index is walked page by page; each entry's token is
 * read to leave out expired and dead ones, which Vault removes in the background. */
static void token_accessors_list(struct api_call *c)
{
    uint8_t after[STORE_KEY_MAX];
    size_t after_len = 0;
    json_t *keys = json_array();
    int rc = keys ? TR_OK : TR_E_NOMEM;

    while (rc == TR_OK) {
        struct store_list *l = NULL;
        struct store_list_opts lo = {
            .start_after = after_len ? after : NULL, .start_after_len = after_len, .limit = 1000};
        if ((rc = store_list(c->store, API_T_ACCESSOR, &lo, &l)) != TR_OK)
            break;
        for (size_t i = 0; rc == TR_OK && i < l->n; i++) {
            char acc[65], hash[TOKEN_HASH_HEX];
            struct enc_secret *v = NULL;
            after_len = l->e[i].key_len; /* <= STORE_KEY_MAX */
            memcpy(after, l->e[i].key, after_len);
            if (after_len >= sizeof(acc))
                continue; /* not an accessor of ours */
            snprintf(acc, sizeof(acc), "%.*s", (int)after_len, (const char *)after);
            rc = store_get(c->store, API_T_ACCESSOR, after, after_len, &v, NULL);
            if (rc == TR_E_NOTFOUND) { /* revoked while we walk */
                rc = TR_OK;
                continue;
            }
            if (rc != TR_OK)
                break;
            snprintf(hash, sizeof(hash), "%.*s", (int)enc_secret_len(v),
                     (const char *)enc_secret_data(v));
            enc_secret_free(v);
            if (accessor_live(c, hash))
                json_array_append_new(keys, json_string(acc));
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

static void token_dispatch_pool(struct api_call *c)
{
    const char *op = c->path + strlen("auth/token/");

    if (!strcmp(op, "create") || !strcmp(op, "create-orphan") || !strncmp(op, "create/", 7))
        token_create(c);
    else if (!strcmp(op, "renew-self"))
        token_renew(c, "self");
    else if (!strcmp(op, "renew"))
        token_renew(c, "token");
    else if (!strcmp(op, "renew-accessor"))
        token_renew(c, "accessor");
    else if (!strcmp(op, "revoke-self"))
        token_revoke(c, "self");
    else if (!strcmp(op, "revoke"))
        token_revoke(c, "token");
    else if (!strcmp(op, "revoke-accessor"))
        token_revoke(c, "accessor");
    else
        api_reply_error(c, 405, "unsupported operation");
}

void api_token_handle(struct api_call *c)
{
    const char *op = c->path + strlen("auth/token/");
    json_t *b;

    if (!api_body_object(c, &b))
        return;
    if (!strncmp(op, "roles", 5) && (op[5] == '\0' || op[5] == '/'))
        api_token_role_handle(c, op);
    else if (!strcmp(op, "accessors/") && c->method == API_LIST)
        api_defer(c, token_accessors_list); /* one read per token: not on the event thread */
    else if (!strcmp(op, "accessors"))
        api_reply_error(c, 405, "unsupported operation");
    else if (!strcmp(op, "lookup-self") && (c->method == API_GET || c->method == API_PUT))
        token_lookup(c, "self");
    else if (!strcmp(op, "lookup") && c->method == API_PUT)
        token_lookup(c, "token");
    else if (!strcmp(op, "lookup-accessor") && c->method == API_PUT)
        token_lookup(c, "accessor");
    else if (c->method == API_PUT)
        api_defer(c, token_dispatch_pool);
    else if (!strcmp(op, "lookup") || !strcmp(op, "lookup-self") || !strcmp(op, "create") ||
             !strcmp(op, "revoke-self"))
        api_reply_error(c, 405, "unsupported operation");
    else
        api_reply_error(c, 404, NULL);
}

void api_token_issue(struct api_call *c, const struct api_token_grant *g)
{
    json_t *pol = json_deep_copy(g->policies);
    char *raw = NULL;
    int64_t now = now_s(), ttl = g->ttl;

    if (!pol)
        pol = json_array();
    if (!list_has(pol, "default"))
        json_array_append_new(pol, json_string("default"));
    int64_t max = dur_clamp(g->max_ttl);
    if (ttl <= 0)
        ttl = TOKEN_DEFAULT_TTL;
    if (ttl > TOKEN_MAX_TTL) /* as a token create: never beyond the system max */
        ttl = TOKEN_MAX_TTL;
    if (max > 0 && ttl > max)
        ttl = max;
    json_t *e = json_pack(
        "{s:o, s:s, s:s, s:I, s:I, s:I, s:I, s:i, s:i, s:b, s:b, s:O}", "policies", pol, "path",
        c->path, "display_name", g->display_name ? g->display_name : "", "creation_time",
        (json_int_t)now, "creation_ttl", (json_int_t)ttl, "expire_time", (json_int_t)(now + ttl),
        "explicit_max_ttl", (json_int_t)max, "period", 0, "num_uses", 0, "renewable", 1, "orphan",
        1, "meta", g->meta && json_is_object(g->meta) ? g->meta : json_null());
    if (e && g->mount_uuid && *g->mount_uuid)
        json_object_set_new(e, "auth_mount", json_string(g->mount_uuid));
    if (e && json_array_size(g->bound_cidrs))
        json_object_set_new(e, "bound_cidrs", json_deep_copy(g->bound_cidrs));
    int rc = e ? token_mint(c->store, e, NULL, &raw) : TR_E_NOMEM;
    if (rc != TR_OK) {
        json_decref(e);
        if (rc == TR_E_DENIED)
            api_reply_error(c, 403, "permission denied"); /* the mount is being disabled */
        else
            api_reply_err(c, rc);
        return;
    }
    json_t *auth = auth_json(e, raw, entry_int(e, "creation_ttl"));
    sodium_memzero(raw, strlen(raw));
    free(raw);
    json_decref(e);
    api_reply_envelope(c, 200, NULL, auth, NULL);
}
