/* Token auth (vault-api.md §4): tokens are random values shown as "hvs.<44 base62 characters>",
 * stored only under their keyed hash (enc_mac ENC_MAC_TOKEN), so the store never holds a usable
 * token and lookups need no comparison of secrets at all. This file keeps the record, its load
 * and cache, lifetimes, authentication, minting, spent uses and the auth/token/ dispatch; the
 * handlers live in api_token_create.c, api_token_lookup.c and api_token_revoke.c
 * (api_token_int.h).
 *
 * A token minted by a login (or a child of one) records the auth mount behind it
 * ("auth_mount": the mount's uuid, never its path, so a mount re-enabled at the same path does
 * not revive it) and is indexed under that mount (auth_int.h, AUTH_T_TOKENS); it authenticates
 * only while the mount's live key exists. Bound CIDRs ("bound_cidrs") are checked against the
 * caller's address on every use; children inherit them, so a child cannot escape its parent's
 * network binding. */
#include "api_token_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_log.h"
#include "api_help.h"
#include "api_token_role.h"

#define TOKEN_PREFIX   "hvs."
#define TOKEN_CHARS    44 /* base62: 261 bits */
#define ACCESSOR_CHARS 24 /* base62: 142 bits, Vault's accessor length */
#define TOKEN_STR_MAX  128

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

int api_token_hash(const char *raw, char out[TOKEN_HASH_HEX])
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
void api_token_mount_key(char out[TOKEN_MKEY_MAX], const char *uuid, const char *hash)
{
    snprintf(out, TOKEN_MKEY_MAX, "%.36s/%.64s", uuid, hash);
}

/* TR_OK while the auth mount uuid accepts its tokens (no mount: always); TR_E_DENIED once its
 * disable has started or it is gone. One look at the verified index, no record read. */
int api_token_mount_live(struct store *st, const char *uuid)
{
    uint64_t ver = 0;
    int rc;

    if (!uuid || !*uuid)
        return TR_OK;
    rc = store_stat(st, AUTH_T_TOKENS, (const uint8_t *)uuid, strlen(uuid), &ver);
    return rc == TR_E_NOTFOUND ? TR_E_DENIED : rc;
}

int api_token_load(struct store *st, const char *hash, struct api_token **out)
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

/* ---- lifetimes ----------------------------------------------------------------------------- */

/* Go's time.Duration text for whole seconds, as Vault's humanDuration trims it: "768h", "1h30m",
 * "29m58s", "1h5s", "0s". */
static void human_duration(int64_t d, char *out, size_t cap)
{
    int64_t h = d / 3600, m = d % 3600 / 60, s = d % 60;
    size_t n = 0;

    out[0] = '\0';
    if (h)
        n += (size_t)snprintf(out + n, cap - n, "%lldh", (long long)h);
    if (m && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "%lldm", (long long)m);
    if ((s || d == 0) && n < cap)
        snprintf(out + n, cap - n, "%llds", (long long)s);
}

/* Vault's "<what> of "<x>" exceeded the effective max_ttl of "<y>"; <what> value is capped
 * accordingly" (CalculateTTL). */
static void warn_capped(json_t *warnings, const char *what, const char *lower, int64_t asked,
                        int64_t cap)
{
    char a[48], b[48], msg[200];

    if (!warnings)
        return;
    human_duration(asked, a, sizeof(a));
    human_duration(cap, b, sizeof(b));
    snprintf(msg, sizeof(msg),
             "%s of \"%s\" exceeded the effective max_ttl of \"%s\"; %s value is capped "
             "accordingly",
             what, a, b, lower);
    json_array_append_new(warnings, json_string(msg));
}

/* As Vault's CalculateTTL: the max is the mount's, lowered by the role's max and the explicit
 * max; a periodic token gets its period (at most that max) and only an explicit max ends it; any
 * other token gets the increment, else its own TTL, else the mount's default, never past
 * start + max. */
int api_token_ttl(const struct api_token_ttl_in *in, json_t *warnings, int64_t *out_ttl)
{
    int64_t max = dur_clamp(in->mount_max), emax = dur_clamp(in->explicit_max);
    int64_t bmax = dur_clamp(in->backend_max), period = dur_clamp(in->period), ttl, until = 0;

    if (bmax > 0 && bmax < max)
        max = bmax;
    if (emax > 0 && emax < max)
        max = emax;
    if (max <= 0) /* api_mount_ttls never gives one */
        return TR_E_INTERNAL;
    if (period > 0) {
        ttl = period;
        if (ttl > max) {
            warn_capped(warnings, "period", "period", ttl, max);
            ttl = max;
        }
        if (emax > 0)
            until = in->start + emax;
    } else {
        ttl = in->increment > 0  ? dur_clamp(in->increment)
              : in->base_ttl > 0 ? dur_clamp(in->base_ttl)
                                 : dur_clamp(in->mount_def);
        until = in->start + max; /* clamped durations: no overflow */
    }
    if (until) {
        int64_t left = until - in->now;
        if (left <= 0) /* only when the mount's max was lowered since the token was made */
            return TR_E_STATE;
        if (ttl > left) {
            warn_capped(warnings, "TTL", "TTL", ttl, left);
            ttl = left;
        }
    }
    *out_ttl = ttl;
    return TR_OK;
}

/* The effective TTLs of the mount a token was made through, named by its creation path:
 * auth/token/ for "auth/token/..." (and any other path), else the login mount of
 * "auth/<mount path>/login[/...]". A mount path may have several segments
 * ("auth/k8s/cluster-a/login"), even a "login" one, so every prefix that ends before a "login"
 * segment is tried, as api_auth_is_login does; mounts never nest, so at most one is there.
 * Errors: TR_E_NOTFOUND (no such mount), as api_mount_ttls. */
static int path_mount_ttls(struct api_call *c, const char *path, int64_t *def, int64_t *max)
{
    char mount[AUTH_MOUNT_PATH_MAX + 8];
    int rc = TR_E_NOTFOUND;

    if (!path || strncmp(path, "auth/", 5) != 0 || strncmp(path, "auth/token/", 11) == 0)
        return api_mount_ttls(c, "auth/token/", def, max);
    for (const char *s = strchr(path + 5, '/'); s && rc == TR_E_NOTFOUND; s = strchr(s + 1, '/')) {
        size_t n = (size_t)(s - path);
        if (strncmp(s + 1, "login", 5) != 0 || (s[6] != '\0' && s[6] != '/') ||
            n + 2 > sizeof(mount))
            continue;
        snprintf(mount, sizeof(mount), "%.*s/", (int)n, path);
        rc = api_mount_ttls(c, mount, def, max);
    }
    return rc;
}

int api_token_path_ttls(struct api_call *c, const char *path, int64_t *out_def, int64_t *out_max)
{
    int64_t def = TOKEN_DEFAULT_TTL, max = TOKEN_MAX_TTL;
    int rc = path_mount_ttls(c, path, &def, &max);

    if (rc == TR_E_NOTFOUND) /* a login mount gone: its tokens fail before they renew */
        rc = TR_OK;
    if (rc != TR_OK)
        return rc;
    *out_def = def;
    *out_max = max < TOKEN_MAX_TTL ? max : TOKEN_MAX_TTL;
    return TR_OK;
}

/* ---- writes (pool threads) --------------------------------------------------------------- */

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
        api_token_mount_key(mkey, mnt, hash);
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
int api_token_mint(struct store *st, json_t *entry, const char *parent, char **out_raw)
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
    if ((rc = api_token_hash(raw, hash)) == TR_OK)
        rc = token_store_new(st, entry, hash, parent);
    /* A disable marks its mount before it lists the mount's tokens. Seeing the mount live after
     * our write means that listing (if any) comes later and finds this token; otherwise it may
     * have missed it, so take it back (it could not authenticate anyway). */
    if (rc == TR_OK)
        rc = api_token_mount_live(st, json_string_value(json_object_get(entry, "auth_mount")));
    if (rc == TR_E_DENIED && api_token_revoke_tree(st, hash) != TR_OK)
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
    int rc = e ? api_token_mint(st, e, NULL, out_raw) : TR_E_NOMEM;
    json_decref(e);
    return rc;
}

/* ---- authentication ---------------------------------------------------------------------- */

/* The token stored under hash, from the cache when the index still has the version it was
 * made from. An absent key goes to the store too, which tells a deleted token (denied) from a
 * record that vanished behind the index's back (tamper alarm). A token read from the store joins
 * the cache when share is set (it is about to be used, and likely again). */
static int token_get(struct api_call *c, const char *hash, bool share, struct api_token **out)
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
    if ((rc = api_token_load(c->store, hash, out)) != TR_OK)
        return rc;
    struct api_token *t = *out;
    if (share && t->num_uses == 0) {
        /* share it without the rest of the entry (accessor, metadata) */
        json_decref(t->entry);
        t->entry = NULL;
        api_cache_put(cache, &token_kind, hash, len, t->version, t,
                      sizeof(*t) + len + 64 * json_array_size(t->policies) +
                          64 * json_array_size(t->bound_cidrs));
    }
    return TR_OK;
}

int api_token_peek(struct api_call *c, const char *hash, struct api_token **out)
{
    return token_get(c, hash, false, out);
}

/* TR_OK while every ancestor of t lives. Vault revokes an expired token together with its whole
 * tree, and a revocation cut short (TOKEN_REVOKE_MAX, a crash) can leave descendants whose parent
 * is gone: no such child may authenticate. Ancestors come through the cache like the token
 * itself, so a level costs one index look. TR_E_DENIED for a dead or too deep chain. */
int api_token_chain_live(struct api_call *c, const struct api_token *t)
{
    char hash[TOKEN_HASH_HEX];
    int rc = TR_OK;

    snprintf(hash, sizeof(hash), "%s", t->parent);
    for (int depth = 0; rc == TR_OK && hash[0]; depth++) {
        struct api_token *p = NULL;
        if (depth == TOKEN_DEPTH_MAX)
            return TR_E_DENIED;
        if ((rc = token_get(c, hash, true, &p)) != TR_OK)
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

    if ((rc = api_token_hash(raw, hash)) != TR_OK)
        return rc == TR_E_SEALED ? rc : TR_E_DENIED;
    if ((rc = token_get(c, hash, true, &t)) != TR_OK)
        return rc;
    /* checked on every use: the wall clock moves and so do callers, the record doesn't */
    if (token_expired(t)) {
        rc = TR_E_DENIED;
    } else if (!auth_cidrs_allow(t->bound_cidrs, c->req->remote_ip)) {
        tr_log_debug("token refused: source address outside its bound CIDRs");
        rc = TR_E_DENIED;
    } else if ((rc = api_token_mount_live(c->store, t->mount)) ==
               TR_OK) { /* its mount may be gone */
        rc = api_token_chain_live(c, t);
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
        if ((rc = api_token_hash(raw, hash)) != TR_OK)
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
    if ((rc = token_get(c, hash, true, &t)) != TR_OK)
        return rc;
    /* as api_token_authenticate, less the caller's address: no request comes from t */
    if (token_expired(t) || t->num_uses < 0)
        rc = TR_E_DENIED;
    else if ((rc = api_token_mount_live(c->store, t->mount)) == TR_OK)
        rc = api_token_chain_live(c, t);
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
        api_token_mount_key(mkey, t->mount, t->hash);
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

/* ---- dispatch ------------------------------------------------------------------------------ */

static void token_dispatch_pool(struct api_call *c)
{
    const char *op = c->path + strlen("auth/token/");

    if (!strcmp(op, "create") || !strcmp(op, "create-orphan") || !strncmp(op, "create/", 7))
        api_token_op_create(c);
    else if (!strcmp(op, "renew-self"))
        api_token_op_renew(c, "self");
    else if (!strcmp(op, "renew"))
        api_token_op_renew(c, "token");
    else if (!strcmp(op, "renew-accessor"))
        api_token_op_renew(c, "accessor");
    else if (!strcmp(op, "revoke-self"))
        api_token_op_revoke(c, "self");
    else if (!strcmp(op, "revoke"))
        api_token_op_revoke(c, "token");
    else if (!strcmp(op, "revoke-accessor"))
        api_token_op_revoke(c, "accessor");
    else if (!strcmp(op, "revoke-orphan"))
        api_token_op_revoke_orphan(c);
    else /* a PUT route of the table (api_help_text.c) that this dispatch lacks */
        api_reply_error(c, 404, "unsupported path");
}

/* Only paths with a route in the token store's table (api_help_route_check) get here: what is
 * left after the routes is an operation the route does not serve (405), never an unknown path. */
void api_token_handle(struct api_call *c)
{
    const char *op = c->path + strlen("auth/token/");
    json_t *b;

    if (!api_body_object(c, &b) || !api_help_route_check(c, &api_help_token, op))
        return;
    if (!strncmp(op, "roles", 5) && (op[5] == '\0' || op[5] == '/'))
        api_token_role_handle(c, op);
    else if (!strcmp(op, "accessors/") && c->method == API_LIST)
        api_defer(c, api_token_op_accessors); /* reads per token: not on the event thread */
    else if (!strcmp(op, "lookup-self") && (c->method == API_GET || c->method == API_PUT))
        api_token_op_lookup(c, "self");
    else if (!strcmp(op, "lookup") && c->method == API_PUT)
        api_token_op_lookup(c, "token");
    else if (!strcmp(op, "lookup-accessor") && c->method == API_PUT)
        api_token_op_lookup(c, "accessor");
    else if (c->method == API_PUT && strncmp(op, "accessors", 9) != 0)
        api_defer(c, token_dispatch_pool);
    else
        api_reply_error(c, 405, "unsupported operation");
}
