/* Looking at tokens (vault-api.md §4.3, §4.4, §4.6): lookup[-self|-accessor],
 * renew[-self|-accessor], LIST auth/token/accessors, and the auth and lookup answers Vault gives
 * for a token entry. */
#include "api_token_int.h"

#include <stdio.h>
#include <string.h>

#include "../common/tr_json.h"
#include "api_token_role.h"

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
json_t *api_token_auth_json(const json_t *e, const char *raw, int64_t lease)
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

/* ---- lookup / renew ------------------------------------------------------------------------ */

/* The target of lookup/renew/revoke: self, a token in the body, or an accessor. */
int api_token_target_load(struct api_call *c, const char *what, struct api_token **out,
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
        return api_token_load(c->store, c->token->hash, out);
    }
    if (strcmp(what, "token") == 0) {
        if (!(s = tr_json_get_str(c->body, "token")) || !*s)
            return TR_E_INVAL;
        *out_raw = s;
        if ((rc = api_token_hash(s, hash)) != TR_OK)
            return rc;
        return api_token_load(c->store, hash, out);
    }
    if (!(s = tr_json_get_str(c->body, "accessor")) || !*s || strlen(s) > 64)
        return TR_E_INVAL;
    /* TR_E_NOTFOUND: no such accessor (Vault answers it apart from a dead token) */
    rc = store_get(c->store, API_T_ACCESSOR, (const uint8_t *)s, strlen(s), &v, NULL);
    if (rc != TR_OK)
        return rc;
    snprintf(hash, sizeof(hash), "%.*s", (int)enc_secret_len(v), enc_secret_data(v));
    enc_secret_free(v);
    return api_token_load(c->store, hash, out);
}

const char *api_token_target_missing(const char *what)
{
    return strcmp(what, "accessor") == 0 ? "missing accessor" : "missing token ID";
}

/* The target as lookup and renew see it: TR_E_DENIED once it could not authenticate (expired,
 * its auth mount disabled, an ancestor dead), even before its removal ends. */
int api_token_target_live(struct api_call *c, const char *what, struct api_token **out,
                          const char **out_raw)
{
    int rc = api_token_target_load(c, what, out, out_raw);

    if (rc == TR_OK)
        rc = api_token_mount_live(c->store, (*out)->mount);
    if (rc == TR_OK && entry_expired((*out)->entry))
        rc = TR_E_DENIED;
    if (rc == TR_OK)
        rc = api_token_chain_live(c, *out);
    return rc;
}

void api_token_op_lookup(struct api_call *c, const char *what)
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
    int rc = api_token_target_live(c, what, &t, &raw);

    if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, api_token_target_missing(what));
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

/* The limits of a login token's renewal from its auth method (auth_renew_limits: Vault's
 * pathLoginRenew): the role's token_ttl, token_max_ttl and token_period as they are now; its
 * explicit max stays the token's own. A token whose role is not recorded renews as created. */
static int login_limits(struct api_call *c, const json_t *e, struct api_token_ttl_in *in,
                        struct auth_renewal *why)
{
    int rc = auth_renew_limits(c, e, why);

    if (rc == TR_E_NOTFOUND)
        return TR_OK;
    if (rc != TR_OK)
        return rc;
    in->base_ttl = dur_clamp(why->ttl);
    in->backend_max = dur_clamp(why->max_ttl);
    in->period = dur_clamp(why->period);
    return TR_OK;
}

/* What a renewal is computed from (in: base_ttl, period, explicit_max, backend_max). A token
 * made through a token-store role follows the role as it is now, as Vault's authRenew, which
 * reads the role again: its token_period, and its token_explicit_max_ttl where that is stricter
 * than the token's own (Vault takes the role's even when it is longer or unset; here a renewal
 * never outlives what the creation granted). A login token follows its auth method's role
 * (login_limits). Errors: TR_E_DENIED (refused: why->status and why->msg, Vault's answer), as
 * api_token_role_load, auth_renew_limits. */
static int renew_limits(struct api_call *c, const json_t *e, struct api_token_ttl_in *in,
                        struct auth_renewal *why)
{
    const char *name = json_string_value(json_object_get(e, "role"));
    json_t *role = NULL;
    int rc;

    in->base_ttl = entry_int(e, "creation_ttl");
    in->period = dur_clamp(entry_int(e, "period"));
    in->explicit_max = dur_clamp(entry_int(e, "explicit_max_ttl"));
    if (!name)
        return login_limits(c, e, in, why);
    rc = api_token_role_load(c, name, &role);
    if (rc == TR_E_NOTFOUND || rc == TR_E_INVAL) /* INVAL: a stored name no role can have now */
        return auth_renewal_refuse(why, 500,
                                   "failed to renew entry: original token role \"%.*s\" could "
                                   "not be found, not renewing",
                                   API_TOKEN_ROLE_NAME_MAX, name);
    if (rc != TR_OK)
        return rc;
    int64_t rmax = dur_clamp(entry_int(role, "token_explicit_max_ttl"));
    in->period = dur_clamp(entry_int(role, "token_period"));
    if (rmax && (!in->explicit_max || rmax < in->explicit_max))
        in->explicit_max = rmax;
    json_decref(role);
    return TR_OK;
}

/* The TTL a renewal grants (Vault's RenewToken: CalculateTTL against the system view of the
 * token's creation path). The max TTL counts from creation, so renewing never keeps a token
 * alive for ever: the max of the mount it was made through (as tuned now) bounds every
 * non-periodic token and caps a period, a login role's max bounds it too, explicit_max_ttl
 * bounds any. The increment asked for, else the base TTL. Capping adds Vault's warning.
 * Errors: as api_token_ttl, api_token_path_ttls. */
static int renew_ttl(struct api_call *c, const json_t *e, struct api_token_ttl_in *in,
                     json_t *warnings, int64_t *out_ttl)
{
    int rc = api_token_path_ttls(c, json_string_value(json_object_get(e, "path")), &in->mount_def,
                                 &in->mount_max);

    return rc == TR_OK ? api_token_ttl(in, warnings, out_ttl) : rc;
}

/* Vault's root token from init (path auth/token/root) has no lease at all; its other tokens do,
 * even those that never expire. Renewing it is "invalid lease ID", not "lease is not renewable". */
static bool entry_has_lease(const json_t *e)
{
    const char *path = json_string_value(json_object_get(e, "path"));
    return !path || strcmp(path, "auth/token/root") != 0;
}

/* Renew t (its entry loaded, live, renewable) by inc: the new expire time, CAS-stored. Out:
 * *out_granted (the TTL), *why (a refusal with Vault's answer: a role gone, the auth method's
 * refusal, or past creation + the max, Vault's CalculateTTL error, a 500). Errors: TR_E_DENIED
 * (refused: why->status set), as renew_limits, renew_ttl, api_put_json. */
static int renew_store(struct api_call *c, struct api_token *t, int64_t inc, json_t *warnings,
                       int64_t *out_granted, struct auth_renewal *why)
{
    int64_t ttl = 0, now = now_s();
    struct api_token_ttl_in in = {
        .start = entry_int(t->entry, "creation_time"), .now = now, .increment = inc};
    int rc = renew_limits(c, t->entry, &in, why);

    if (rc == TR_OK)
        rc = renew_ttl(c, t->entry, &in, warnings, &ttl);
    if (rc == TR_E_STATE)
        rc = auth_renewal_refuse(why, 500, "past the max TTL, cannot renew");
    if (rc != TR_OK)
        return rc;
    json_object_set_new(t->entry, "expire_time", json_integer(now + ttl));
    *out_granted = ttl; /* reported as granted: the durable write may take a second */
    return api_put_json(c, API_T_TOKENS, t->hash, t->entry, t->version);
}

void api_token_op_renew(struct api_call *c, const char *what)
{
    struct api_token *t = NULL;
    const char *raw = NULL;
    int64_t inc = 0, granted = 0;
    struct auth_renewal why = {0};
    bool bad = false, no_lease = false;
    json_t *warnings = json_array();
    int rc = api_token_target_live(c, what, &t, &raw);
    bool no_accessor = rc == TR_E_NOTFOUND; /* the accessor index has no such accessor */
    bool missing = rc == TR_E_INVAL;        /* no token or accessor in the body */

    tr_json_get_duration(c->body, "increment", &inc, &bad);
    if (rc == TR_OK && bad)
        rc = TR_E_INVAL;
    if (rc == TR_OK && !entry_has_lease(t->entry)) {
        rc = TR_E_UNSUPPORTED;
        no_lease = true;
    }
    if (rc == TR_OK && !json_is_true(json_object_get(t->entry, "renewable")))
        rc = TR_E_UNSUPPORTED;
    if (rc == TR_OK && !warnings)
        rc = TR_E_NOMEM;
    if (rc == TR_OK)
        rc = renew_store(c, t, inc, warnings, &granted, &why);
    if (why.status) /* refused by a role, the auth method or the max: Vault's answer */
        api_reply_error(c, why.status, why.msg);
    else if (no_lease)
        api_reply_error(c, 400, "invalid lease ID");
    else if (rc == TR_E_UNSUPPORTED)
        api_reply_error(c, 400, "lease is not renewable");
    else if (no_accessor)
        api_reply_error(c, 400, "invalid accessor");
    else if (missing)
        api_reply_error(c, 400, api_token_target_missing(what));
    else if (rc == TR_E_DENIED && strcmp(what, "self") != 0)
        api_reply_error(c, 400, "token not found"); /* Vault: an unknown or dead target is 400 */
    else if (rc == TR_E_DENIED)
        api_reply_error(c, 403, "bad token");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else { /* Vault echoes the token renewed (self or body); by accessor the caller never had it */
        api_reply_envelope(c, 200, NULL, api_token_auth_json(t->entry, raw ? raw : "", granted),
                           json_array_size(warnings) ? json_incref(warnings) : NULL);
    }
    json_decref(warnings);
    api_token_free(t);
}

/* ---- accessors ----------------------------------------------------------------------------- */

#define ACCESSOR_PAGE    256 /* index entries per page of LIST auth/token/accessors */
#define ACCESSOR_KEY_MAX 64  /* longer index keys are not accessors of ours */

/* Whether the token behind the accessor key acc (len bytes) could authenticate now (not expired,
 * its auth mount live, every ancestor alive): what LIST accessors reports. The token comes from
 * the cache when it holds it (no record read); one read from the store stays out of the cache.
 * Errors (reading the accessor record; a token gone meanwhile is only not live): as store_get. */
static int accessor_live(struct api_call *c, const uint8_t *acc, size_t len, bool *out_live)
{
    char hash[TOKEN_HASH_HEX];
    struct enc_secret *v = NULL;
    struct api_token *t = NULL;
    int rc = store_get(c->store, API_T_ACCESSOR, acc, len, &v, NULL);

    *out_live = false;
    if (rc == TR_E_NOTFOUND) /* revoked while we walk */
        return TR_OK;
    if (rc != TR_OK)
        return rc;
    snprintf(hash, sizeof(hash), "%.*s", (int)enc_secret_len(v), (const char *)enc_secret_data(v));
    enc_secret_free(v);
    *out_live = api_token_peek(c, hash, &t) == TR_OK && !token_expired(t) &&
                api_token_mount_live(c->store, t->mount) == TR_OK &&
                api_token_chain_live(c, t) == TR_OK;
    api_token_free(t);
    return TR_OK;
}

/* One page of the accessor index after the key in after (*after_len bytes; both updated): the
 * live accessors are appended to keys; *out_more when entries follow. */
static int accessors_page(struct api_call *c, uint8_t *after, size_t *after_len, json_t *keys,
                          bool *out_more)
{
    struct store_list *l = NULL;
    struct store_list_opts lo = {.start_after = *after_len ? after : NULL,
                                 .start_after_len = *after_len,
                                 .limit = ACCESSOR_PAGE};
    int rc = store_list(c->store, API_T_ACCESSOR, &lo, &l);

    *out_more = false;
    if (rc != TR_OK)
        return rc;
    for (size_t i = 0; rc == TR_OK && i < l->n; i++) {
        bool live = false;
        *after_len = l->e[i].key_len; /* <= STORE_KEY_MAX */
        memcpy(after, l->e[i].key, *after_len);
        if (*after_len > ACCESSOR_KEY_MAX)
            continue;
        if ((rc = accessor_live(c, after, *after_len, &live)) == TR_OK && live)
            json_array_append_new(keys, json_stringn((const char *)after, *after_len));
    }
    *out_more = l->truncated && l->n;
    store_list_free(l);
    return rc;
}

/* Whether a seal is waiting for the calls that hold the store. */
static bool store_closing(struct api *api)
{
    pthread_mutex_lock(&api->lock);
    bool closing = api->closing;
    pthread_mutex_unlock(&api->lock);
    return closing;
}

/* LIST auth/token/accessors (sudo, checked by the pipeline): the accessor of every live token,
 * never a token or its hash. Vault lists its accessor index; so does this, a page at a time,
 * but it also leaves out tokens that could no longer authenticate (expired, cut off by their
 * auth mount or a dead ancestor), which Vault's expiration manager revokes in the background
 * and Tresor keeps until they are revoked. Tokens in the cache cost no record read; the others
 * one each, not cached. A seal waits for every call holding the store, so the walk stops between
 * pages when one does (503) rather than hold it up. Memory: one page and the answer. */
void api_token_op_accessors(struct api_call *c)
{
    uint8_t after[STORE_KEY_MAX];
    size_t after_len = 0;
    json_t *keys = json_array();
    bool more = true;
    int rc = keys ? TR_OK : TR_E_NOMEM;

    while (rc == TR_OK && more) {
        if (store_closing(c->api))
            rc = TR_E_SEALED;
        else
            rc = accessors_page(c, after, &after_len, keys, &more);
    }
    if (rc != TR_OK) {
        json_decref(keys);
        api_reply_err(c, rc);
    } else {
        api_reply_keys(c, keys);
    }
}
