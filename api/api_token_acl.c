/* A token's ACL (vault-api.md §6): its policies loaded from storage and compiled by the policy
 * engine (policy.h), kept in the cache (api_cache.h) under the versions of the records they were
 * parsed from, so a changed policy is never served from a stale ACL. The engine itself knows no
 * storage; this file is the glue between the two. */
#include "api_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
 * ACLs whose policies all exist (or are root) and whose key fits are cached, so a missing
 * policy always goes through the store. */
#define ACL_KEY_MAX 2048

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
    k->ok = true;
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

/* Load and compile every one of the token's policies (leaving one out could drop its deny
 * rules); the key records the versions actually loaded. */
static int acl_compile(struct api_call *c, const json_t *names, struct acl_key *k, size_t *cost)
{
    struct api_policy **pols = calloc(json_array_size(names) + 1, sizeof(*pols));
    size_t n = 0, i;
    json_t *p;
    int rc = pols ? TR_OK : TR_E_NOMEM;

    k->n = 0;
    k->ok = true;
    *cost = sizeof(*k);
    json_array_foreach(names, i, p)
    {
        if (rc != TR_OK)
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
    free(pols);
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
