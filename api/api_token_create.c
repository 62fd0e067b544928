/* Token creation (vault-api.md §4.2, §4.6): auth/token/create, create-orphan and create/<role>
 * build a child of the calling token from the request (and the role), within the limits Vault
 * applies; api_token_issue makes the token of a successful login. Minting itself is
 * api_token_mint (api_token.c). */
#include "api_token_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "api_token_role.h"

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

/* The role's value where the request gave none, else the lesser of the two with Vault's warning
 * ("<what> specified both during creation call and in role; ..."). */
static void role_lesser(int64_t role_val, int64_t *val, const char *what, json_t *warnings)
{
    char msg[160];

    if (role_val > 0 && *val > 0) {
        *val = role_val < *val ? role_val : *val;
        snprintf(msg, sizeof(msg),
                 "%s specified both during creation call and in role; using the lesser value of "
                 "%lld seconds",
                 what, (long long)*val);
        warn(warnings, msg);
    } else if (role_val > 0) {
        *val = role_val;
    }
}

/* The role's settings on top of the request's (Vault: the lesser period and explicit max TTL,
 * the role's num_uses when lower, never renewable when the role says so). */
static void role_apply(const json_t *role, int64_t *period, int64_t *max, int64_t *uses,
                       bool *renewable, json_t *warnings)
{
    int64_t ru = entry_int(role, "token_num_uses");

    role_lesser(entry_int(role, "token_period"), period, "Period", warnings);
    role_lesser(entry_int(role, "token_explicit_max_ttl"), max, "Explicit max TTL", warnings);
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
    return out;
}

/* The policies of a child made without a role that constrains them, as Vault: none asked
 * inherits the parent's; else a non-root parent may give only policies it holds ("default" too:
 * a parent made without it cannot hand it on), and "default" joins when the parent holds it (a
 * root parent: always). Consumes want; NULL and *err on refusal. */
static json_t *parent_policies(struct api_call *c, json_t *want, bool nodef, const char **err)
{
    const json_t *mine = api_token_policies(c->token);
    size_t i;
    json_t *p;

    if (json_array_size(want) == 0) { /* copies: mine may be shared with others */
        json_array_foreach(mine, i, p)
            json_array_append_new(want, json_string(json_string_value(p)));
        return want;
    }
    json_array_foreach(want, i, p)
    {
        if (!c->token->root && !list_has(mine, json_string_value(p))) {
            *err = "child policies must be subset of parent";
            json_decref(want);
            return NULL;
        }
    }
    if (!nodef && (c->token->root || list_has(mine, "default")) && !list_has(want, "default"))
        json_array_append_new(want, json_string("default"));
    return want;
}

/* Vault's last word on a token's policies: "root" swallows the others (SanitizePolicies) and
 * no_default_policy removes "default" however it came (asked, inherited, or from a role). */
static void policies_finish(json_t *want, bool nodef)
{
    if (list_has(want, "root")) {
        json_array_clear(want);
        json_array_append_new(want, json_string("root"));
    }
    for (size_t i = json_array_size(want); nodef && i-- > 0;)
        if (!strcmp(json_string_value(json_array_get(want, i)), "default"))
            json_array_remove(want, i);
}

/* "auth/token/create/<role>[/<path_suffix>]" into out. */
static void role_path(const json_t *role, char *out, size_t cap)
{
    const char *sfx = json_string_value(json_object_get(role, "path_suffix"));

    snprintf(out, cap, "auth/token/create/%s%s%s", json_string_value(json_object_get(role, "name")),
             sfx && *sfx ? "/" : "", sfx ? sfx : "");
}

/* Build the child's entry from the request; NULL and *err set when the request is invalid.
 * lim: the time and auth/token/'s effective TTLs. Capping a TTL adds a warning to warnings, as
 * Vault does. */
static json_t *create_entry(struct api_call *c, json_t *b, bool orphan, const json_t *role,
                            const struct api_token_ttl_in *lim, json_t *warnings, char *rerr,
                            const char **err)
{
    json_t *asked = string_list(json_object_get(b, "policies"));
    json_t *want = NULL, *meta = NULL;
    const json_t *type = json_object_get(b, "type");
    int64_t ttl = 0, max = 0, period = 0, uses = 0;
    bool renewable = true, nodef = false, noparent = false, bad[7] = {0};
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
    /* Vault takes an entity alias only through a role that allows it, and no role can here
     * (Tresor has no identities): refused, never a token silently made without the binding */
    const char *alias = tr_json_get_str(b, "entity_alias");
    if (!*err && alias && *alias)
        *err = role ? "invalid 'entity_alias' value"
                    : "'entity_alias' is only allowed in combination with token role";
    if (!*err && noparent && !orphan && !sudo && !role) /* a role decides orphans itself */
        *err = "root or sudo privileges required to create orphan token";
    if (!*err && period && !sudo)
        *err = "root or sudo privileges required to create periodic token";
    if (!*err && !(want = policies_normalize(asked)))
        *err = "invalid policy name";
    json_decref(asked);
    if (*err)
        goto fail;
    if (role) {
        nodef = nodef || json_is_true(json_object_get(role, "token_no_default_policy"));
        noparent = json_is_true(json_object_get(role, "orphan"));
        orphan = false;
        role_apply(role, &period, &max, &uses, &renewable, warnings);
    }
    /* a role with allowed/disallowed lists replaces the subset-of-parent rule (as Vault) */
    if (role && api_token_role_constrains(role))
        want = role_policies(c, role, want, nodef, rerr, err);
    else
        want = parent_policies(c, want, nodef, err);
    if (!want)
        goto fail;
    policies_finish(want, nodef);
    if (list_has(want, "root") && !c->token->root) {
        *err = "root tokens may only be created by a root token";
        goto fail;
    }
    /* As Vault: a root-policy token asked for without a TTL or period is not given one: it
     * lives its explicit max, or never expires and is not renewable (`vault token create` as
     * root shows token_duration ∞), and an expiring root token may not make such a token. Any
     * other token gets CalculateTTL against auth/token/'s effective default and max (its tuning
     * replaces the system's 768h): a periodic token one period, any other its TTL or the
     * default, at most the max (lowered by explicit_max_ttl) from its creation. The clamps keep
     * every later sum with a unix time from overflowing. */
    ttl = dur_clamp(ttl);
    max = dur_clamp(max);
    period = dur_clamp(period);
    if (list_has(want, "root") && !ttl && !period) {
        ttl = max;
    } else {
        struct api_token_ttl_in in = *lim;
        in.base_ttl = ttl;
        in.period = period;
        in.explicit_max = max;
        if (api_token_ttl(&in, warnings, &ttl) != TR_OK) {
            *err = "internal error";
            goto fail;
        }
    }
    if (!ttl && c->token->expire_time > 0) {
        *err = "expiring root tokens cannot create non-expiring root tokens";
        goto fail;
    }
    if (!ttl)
        renewable = false;
    char name[160], path[API_TOKEN_ROLE_NAME_MAX * 2 + 32];
    display_name(tr_json_get_str(b, "display_name"), name, sizeof(name));
    int64_t now = lim->now;
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
 * has been answered (unknown role: Vault's 400; a name outside Vault's pattern, "/" included:
 * Vault's 404, it has no route for it). */
static bool create_role(struct api_call *c, json_t **out)
{
    const char *prefix = "auth/token/create/";
    char msg[API_TOKEN_ROLE_NAME_MAX + 32];
    int rc;

    *out = NULL;
    if (strncmp(c->path, prefix, strlen(prefix)) != 0)
        return true;
    rc = api_token_role_load(c, c->path + strlen(prefix), out);
    if (rc == TR_E_INVAL) {
        api_reply_error(c, 404, "unsupported path");
    } else if (rc == TR_E_NOTFOUND) {
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

/* TR_OK when a child of the caller could authenticate: every use checks at most
 * TOKEN_DEPTH_MAX ancestors, so a caller with that many may make orphans only. Walks the
 * caller's ancestors (all live: it just authenticated) through the cache. Errors: TR_E_STATE
 * (too deep), as api_token_peek. */
_Static_assert(TOKEN_DEPTH_MAX == 64, "api_token_op_create's refusal names 64 ancestors");

static int caller_has_room(struct api_call *c)
{
    char hash[TOKEN_HASH_HEX];
    int rc = TR_OK;

    snprintf(hash, sizeof(hash), "%s", c->token->parent);
    for (int n = 1; rc == TR_OK && hash[0]; n++) {
        struct api_token *p = NULL;
        if (n >= TOKEN_DEPTH_MAX)
            return TR_E_STATE;
        if ((rc = api_token_peek(c, hash, &p)) == TR_OK)
            snprintf(hash, sizeof(hash), "%s", p->parent);
        api_token_free(p);
    }
    return rc;
}

void api_token_op_create(struct api_call *c)
{
    bool orphan = strcmp(c->path, "auth/token/create-orphan") == 0;
    const char *err = NULL;
    char *raw = NULL, rerr[API_TOKEN_ROLE_ERR_MAX];
    json_t *b = c->body, *warnings = NULL, *role = NULL, *e = NULL, *auth = NULL;
    struct api_token_ttl_in lim = {.start = now_s()};
    int rc;

    lim.now = lim.start;
    if (!create_role(c, &role))
        return;
    /* auth/token/'s TTLs as tuned, read for each create: a tune applies to the next token */
    if ((rc = api_token_path_ttls(c, "auth/token/", &lim.mount_def, &lim.mount_max)) != TR_OK) {
        api_reply_err(c, rc);
        goto out;
    }
    if ((warnings = json_array()))
        e = create_entry(c, b, orphan, role, &lim, warnings, rerr, &err);
    if (e && (err = create_cidrs(c, role, e)) != NULL) {
        json_decref(e);
        e = NULL;
    }
    if (!e) {
        api_reply_error(c, 400, err ? err : "internal error");
        goto out;
    }
    bool noparent = json_is_true(json_object_get(e, "orphan"));
    if (!noparent && (rc = caller_has_room(c)) != TR_OK) {
        if (rc == TR_E_STATE)
            api_reply_error(c, 400,
                            "token tree too deep: a child of this token could never be "
                            "used (at most 64 ancestors); create an orphan instead");
        else
            api_reply_err(c, rc);
        goto out;
    }
    /* a child that dies with its parent also depends on the parent's auth mount, so a disable
     * interrupted half way leaves none of them usable */
    if (!noparent && c->token->mount[0])
        json_object_set_new(e, "auth_mount", json_string(c->token->mount));
    if ((rc = api_token_mint(c->store, e, noparent ? NULL : c->token->hash, &raw)) != TR_OK) {
        api_reply_err(c, rc);
        goto out;
    }
    auth = api_token_auth_json(e, raw, entry_int(e, "creation_ttl"));
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

/* The entry of a login token for g: Vault's CalculateTTL at login against the login mount's
 * TTLs (its role's TTL, else the mount's default; at most the mount's max, lowered by the role's
 * max and explicit max; a period instead when the role has one), capping adding a warning. Only
 * the role's explicit max is the token's own (Vault's Auth.ExplicitMaxTTL): its max and period
 * are the role's, read again at each renewal. NULL on allocation or store failure (*rc). */
static json_t *issue_entry(struct api_call *c, const struct api_token_grant *g, json_t *warnings,
                           int *rc)
{
    struct api_token_ttl_in in = {.start = now_s(),
                                  .base_ttl = dur_clamp(g->ttl),
                                  .period = dur_clamp(g->period),
                                  .explicit_max = dur_clamp(g->explicit_max_ttl),
                                  .backend_max = dur_clamp(g->max_ttl)};
    json_t *pol = json_deep_copy(g->policies);
    int64_t ttl = 0;

    in.now = in.start;
    if (!pol)
        pol = json_array();
    *rc = pol ? api_token_path_ttls(c, c->path, &in.mount_def, &in.mount_max) : TR_E_NOMEM;
    if (*rc == TR_OK)
        *rc = api_token_ttl(&in, warnings, &ttl);
    if (*rc != TR_OK) {
        json_decref(pol);
        return NULL;
    }
    if (!list_has(pol, "default"))
        json_array_append_new(pol, json_string("default"));
    json_t *e = json_pack(
        "{s:o, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:i, s:b, s:b, s:O}", "policies", pol, "path",
        c->path, "display_name", g->display_name ? g->display_name : "", "creation_time",
        (json_int_t)in.now, "creation_ttl", (json_int_t)ttl, "expire_time",
        (json_int_t)(in.now + ttl), "explicit_max_ttl", (json_int_t)in.explicit_max, "period",
        (json_int_t)in.period, "num_uses", 0, "renewable", 1, "orphan", 1, "meta",
        g->meta && json_is_object(g->meta) ? g->meta : json_null());
    if (e && g->mount_uuid && *g->mount_uuid)
        json_object_set_new(e, "auth_mount", json_string(g->mount_uuid));
    if (e && json_array_size(g->bound_cidrs))
        json_object_set_new(e, "bound_cidrs", json_deep_copy(g->bound_cidrs));
    *rc = e ? TR_OK : TR_E_NOMEM;
    return e;
}

void api_token_issue(struct api_call *c, const struct api_token_grant *g)
{
    json_t *warnings = json_array();
    char *raw = NULL;
    int rc = TR_E_NOMEM;
    json_t *e = warnings ? issue_entry(c, g, warnings, &rc) : NULL;

    if (e)
        rc = api_token_mint(c->store, e, NULL, &raw);
    if (rc != TR_OK) {
        json_decref(e);
        json_decref(warnings);
        if (rc == TR_E_DENIED)
            api_reply_error(c, 403, "permission denied"); /* the mount is being disabled */
        else
            api_reply_err(c, rc);
        return;
    }
    json_t *auth = api_token_auth_json(e, raw, entry_int(e, "creation_ttl"));
    sodium_memzero(raw, strlen(raw));
    free(raw);
    json_decref(e);
    if (!json_array_size(warnings)) {
        json_decref(warnings);
        warnings = NULL;
    }
    api_reply_envelope(c, 200, NULL, auth, warnings);
}
