/* AppRole (vault-api.md §5.1). Records in table authdata under "<mount uuid>/":
 *   role/<name>                  -> role JSON: settings, its random "id" and its role_id
 *   roleid/<h(role_id)>          -> {"role": name}
 *   sid/<role id>/<h(secret_id)> -> secret-ID entry (accessor, times, uses left, CIDRs, metadata)
 *   sacc/<role id>/<accessor>    -> {"hash": h(secret_id)}
 * h() is auth_mac_hex with a domain label and the mount (for secret IDs also the role's random
 * id): the store never holds a usable secret ID, a secret ID of a deleted or re-created role
 * can never match again, and a login compares no secret at all.
 *
 * Login answers every credential failure (unknown role ID, wrong, expired or used-up secret ID,
 * source address outside the role's or secret ID's CIDRs) with the same 400 body after the
 * same work: one keyed hash per input and the same three lookups, with a dummy role when the
 * role ID is unknown. A use is spent with a check-and-set on the entry's version (the last use
 * deletes it), so two concurrent logins cannot both spend the last use. */
#include "auth_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"

#define SID_RETRIES   4
#define META_KEYS_MAX 64
#define META_STR_MAX  512
#define DUMMY_ROLE_ID "00000000-0000-0000-0000-000000000000"

static const char ERR_INVALID[] = "invalid role or secret ID";

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int64_t jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* ---- keys ---------------------------------------------------------------------------------- */

static int roleid_key(const struct auth_mount *m, const char *role_id, char *out, size_t cap)
{
    const char *parts[] = {"approle-role-id", m->uuid, role_id};
    char h[AUTH_MAC_HEX];
    int rc = auth_mac_hex(parts, 3, h);

    if (rc == TR_OK && !auth_key(out, cap, m, "roleid", h))
        rc = TR_E_TOO_LARGE;
    return rc;
}

static int sid_key(const struct auth_mount *m, const char *rid, const char *secret, char *out,
                   size_t cap, char hash[AUTH_MAC_HEX])
{
    const char *parts[] = {"approle-secret-id", m->uuid, rid, secret};
    char name[120];
    int rc = auth_mac_hex(parts, 4, hash);

    snprintf(name, sizeof(name), "%s/%s", rid, rc == TR_OK ? hash : "");
    if (rc == TR_OK && !auth_key(out, cap, m, "sid", name))
        rc = TR_E_TOO_LARGE;
    return rc;
}

static bool sacc_key(const struct auth_mount *m, const char *rid, const char *acc, char *out,
                     size_t cap)
{
    char name[160];
    int n = snprintf(name, sizeof(name), "%s/%s", rid, acc ? acc : "");
    return acc && *acc && n > 0 && (size_t)n < sizeof(name) && auth_key(out, cap, m, "sacc", name);
}

/* ---- roles --------------------------------------------------------------------------------- */

/* A stored role always has these (we wrote it, and the store authenticates records); a record
 * without them is refused rather than trusted. */
static int role_check(json_t **role, int rc)
{
    if (rc == TR_OK && (!tr_json_get_str(*role, "name") || !tr_json_get_str(*role, "id") ||
                        !tr_json_get_str(*role, "role_id"))) {
        json_decref(*role);
        *role = NULL;
        rc = TR_E_INTERNAL;
    }
    return rc;
}

/* name lower-cased into out; false when it has no capital (or does not fit). */
static bool name_lower(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    bool upper = false;

    if (n >= cap)
        return false;
    for (size_t i = 0; i <= n; i++) {
        upper = upper || (name[i] >= 'A' && name[i] <= 'Z');
        out[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
    }
    return upper;
}

/* Vault lower-cases role names (since 0.9.1): new roles are stored under the lower-cased name,
 * so any case finds them. A role stored before this server did so keeps its exact name: the
 * exact name is tried first, so neither it nor a role whose name differs from it only in case
 * is shadowed. The record's "name" is its key (role_store and role_delete use it). */
static int role_load(struct api_call *c, const struct auth_mount *m, const char *name, json_t **out,
                     uint64_t *out_ver)
{
    char key[AUTH_KEY_MAX], lower[AUTH_NAME_MAX + 1];
    int rc;

    *out = NULL;
    if (!auth_key(key, sizeof(key), m, "role", name))
        return TR_E_INVAL;
    rc = role_check(out, auth_get(c, key, out, out_ver));
    if (rc == TR_E_NOTFOUND && name_lower(name, lower, sizeof(lower)) &&
        auth_key(key, sizeof(key), m, "role", lower))
        rc = role_check(out, auth_get(c, key, out, out_ver));
    return rc;
}

static bool role_exists(struct api_call *c, const struct auth_mount *m, const char *name)
{
    char key[AUTH_KEY_MAX];
    uint64_t ver;

    return auth_key(key, sizeof(key), m, "role", name) &&
           store_stat(c->store, AUTH_T_DATA, (const uint8_t *)key, strlen(key), &ver) == TR_OK;
}

/* Count into *n the roles under prefix ("<uuid>/role/<first byte>") whose name folds to lower
 * (stopping at two), the first one's name into out (cap bytes). From the verified index: no
 * record is read. */
static int role_fold_scan(struct store *st, const char *prefix, const char *lower, char *out,
                          size_t cap, size_t *n)
{
    char last[AUTH_KEY_MAX], folded[AUTH_NAME_MAX + 1];
    size_t skip = strlen(prefix) - 1; /* a name starts at the prefix's last byte */
    struct store_list_opts lo = {.prefix = (const uint8_t *)prefix, .prefix_len = skip + 1};
    bool more = true;
    int rc = TR_OK;

    while (more && *n < 2 && rc == TR_OK) {
        struct store_list *l = NULL;
        if ((rc = store_list(st, AUTH_T_DATA, &lo, &l)) != TR_OK)
            break;
        for (size_t i = 0; i < l->n; i++) {
            size_t len = l->e[i].key_len - skip;
            if (len >= sizeof(folded))
                continue;
            const char *k = (const char *)l->e[i].key + skip;
            memcpy(folded, k, len);
            folded[len] = '\0';
            (void)name_lower(folded, folded, sizeof(folded));
            if (strcmp(folded, lower) == 0 && (*n)++ == 0)
                snprintf(out, cap, "%.*s", (int)len, k);
        }
        more = l->truncated && l->n > 0 && l->e[l->n - 1].key_len < sizeof(last);
        if (more) {
            memcpy(last, l->e[l->n - 1].key, l->e[l->n - 1].key_len);
            lo.start_after = (const uint8_t *)last;
            lo.start_after_len = l->e[l->n - 1].key_len;
        }
        store_list_free(l);
    }
    return rc;
}

/* Roles stored before Tresor lower-cased role names keep their capitals in their key, and
 * role_load finds them by that exact name. Vault finds a role by its name in any case, so a
 * name (at: where it stands in c->path) that finds no role, as given or lower-cased, reaches the
 * one stored role whose name folds to the same, and name (cap bytes) becomes that role's name.
 * Several such roles (the old code kept "Db" and "DB" apart) make it ambiguous. The ACL allowed
 * the path as sent and lower-cased (api_acl_folded_path); the path with the stored name, the
 * one storage uses, must be allowed too.
 * Errors: TR_E_EXISTS (ambiguous), TR_E_DENIED (that ACL check), TR_E_NOMEM, as store_list. */
static int role_name_resolve(struct api_call *c, const struct auth_mount *m, const char *at,
                             char *name, size_t cap)
{
    char lower[AUTH_NAME_MAX + 1], found[AUTH_NAME_MAX + 1] = "", prefix[AUTH_KEY_MAX];
    char first[2] = "";
    char *path = NULL;
    size_t n = 0;
    int rc = TR_OK;

    (void)name_lower(name, lower, sizeof(lower));
    if (role_exists(c, m, name) || role_exists(c, m, lower))
        return TR_OK;
    for (int i = 0; i < 2 && rc == TR_OK; i++) {
        /* a role's name folds to lower only if its first byte does: two prefixes at most */
        first[0] = (char)(i == 0 ? lower[0] : lower[0] - 'a' + 'A');
        if (i == 1 && !(lower[0] >= 'a' && lower[0] <= 'z'))
            break;
        rc = auth_key(prefix, sizeof(prefix), m, "role", first)
                 ? role_fold_scan(c->store, prefix, lower, found, sizeof(found), &n)
                 : TR_E_INVAL;
    }
    if (rc != TR_OK || n == 0)
        return rc;
    if (n > 1)
        return TR_E_EXISTS;
    if (asprintf(&path, "%.*s%s%s", (int)(at - c->path), c->path, found, at + strlen(name)) < 0)
        return TR_E_NOMEM;
    if (!api_acl_allows_op(c->acl, path, c->op, false))
        rc = TR_E_DENIED;
    else
        snprintf(name, cap, "%s", found);
    free(path);
    return rc;
}

/* role_name_resolve for a route that serves the request; false when it failed and c has been
 * answered. */
static bool role_name_reached(struct api_call *c, const struct auth_mount *m, const char *at,
                              char *name, size_t cap)
{
    int rc = role_name_resolve(c, m, at, name, cap);

    if (rc == TR_E_EXISTS)
        api_reply_error(c, 400,
                        "role name is ambiguous: roles stored before names were lower-cased "
                        "differ from it only in case; use the exact name");
    else if (rc == TR_E_DENIED)
        api_reply_error(c, 403, "permission denied");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    return rc == TR_OK;
}

static json_t *role_new(const char *name)
{
    char id[37], rid[37];

    api_uuid(id);
    api_uuid(rid);
    return json_pack("{s:s, s:s, s:s, s:b, s:[], s:i, s:i, s:[], s:i, s:i, s:i, s:[]}", "name",
                     name, "id", id, "role_id", rid, "bind_secret_id", 1, "secret_id_bound_cidrs",
                     "secret_id_num_uses", 0, "secret_id_ttl", 0, "token_policies", "token_ttl", 0,
                     "token_max_ttl", 0, "token_explicit_max_ttl", 0, "token_bound_cidrs");
}

static int role_apply(json_t *role, const json_t *b, const char **err)
{
    bool bind = json_is_true(json_object_get(role, "bind_secret_id")), bad = false;
    int64_t uses = jint(role, "secret_id_num_uses"), ttl = jint(role, "secret_id_ttl");
    const char *cidr_key =
        json_object_get(b, "secret_id_bound_cidrs") ? "secret_id_bound_cidrs" : "bound_cidr_list";

    tr_json_get_bool(b, "bind_secret_id", &bind, &bad);
    tr_json_get_int(b, "secret_id_num_uses", &uses, &bad);
    tr_json_get_duration(b, "secret_id_ttl", &ttl, &bad);
    if (bad || uses < 0 || ttl < 0) {
        *err = "Field validation failed: bind_secret_id, secret_id_num_uses or secret_id_ttl";
        return TR_E_INVAL;
    }
    json_object_set_new(role, "bind_secret_id", json_boolean(bind));
    json_object_set_new(role, "secret_id_num_uses", json_integer(uses));
    json_object_set_new(role, "secret_id_ttl", json_integer(ttl));
    json_t *cidrs = json_object_get(b, cidr_key);
    if (cidrs && !json_is_null(cidrs)) {
        json_t *l = auth_str_list(cidrs, false);
        if (!l || !auth_cidrs_valid(l)) {
            json_decref(l);
            *err = "invalid CIDR block in secret_id_bound_cidrs";
            return TR_E_INVAL;
        }
        json_object_set_new(role, "secret_id_bound_cidrs", l);
    }
    int rc = auth_token_fields_set(role, b, err);
    if (rc == TR_OK && !bind && !json_array_size(json_object_get(role, "secret_id_bound_cidrs")) &&
        !json_array_size(json_object_get(role, "token_bound_cidrs"))) {
        *err = "at least one constraint should be enabled on the role";
        rc = TR_E_INVAL;
    }
    return rc;
}

/* Store role (new when ver is STORE_VERSION_ABSENT) and point the role-ID index at it, moving
 * it from old_rid when that differs. TR_E_EXISTS: another role has this role ID. */
static int role_store(struct api_call *c, const struct auth_mount *m, const json_t *role,
                      uint64_t ver, const char *old_rid)
{
    const char *name = tr_json_get_str(role, "name"), *rid = tr_json_get_str(role, "role_id");
    char key[AUTH_KEY_MAX], inew[AUTH_KEY_MAX], iold[AUTH_KEY_MAX];
    struct auth_batch b = {0};
    size_t failed = 0;
    int rc = TR_OK;

    if (!auth_key(key, sizeof(key), m, "role", name))
        return TR_E_INVAL;
    auth_batch_put(&b, key, role, ver);
    if (!old_rid || strcmp(old_rid, rid) != 0) {
        json_t *idx = json_pack("{s:s}", "role", name);
        if (old_rid && (rc = roleid_key(m, old_rid, iold, sizeof(iold))) == TR_OK)
            auth_batch_del(&b, iold, STORE_VERSION_ANY);
        if (rc == TR_OK && (rc = roleid_key(m, rid, inew, sizeof(inew))) == TR_OK)
            auth_batch_put(&b, inew, idx, STORE_VERSION_ABSENT);
        json_decref(idx);
    }
    int crc = auth_batch_commit(c, &b, &failed);
    if (rc != TR_OK)
        return rc;
    return crc == TR_E_CAS && failed > 0 ? TR_E_EXISTS : crc;
}

static int role_write_once(struct api_call *c, const struct auth_mount *m, const char *name,
                           const char **err)
{
    uint64_t ver = STORE_VERSION_ABSENT;
    json_t *role = NULL;
    char *old_rid = NULL;
    const char *want = tr_json_get_str(c->body, "role_id");
    int rc = role_load(c, m, name, &role, &ver);

    if (rc == TR_E_NOTFOUND) {
        char lower[AUTH_NAME_MAX + 1];
        if (!name_lower(name, lower, sizeof(lower)))
            snprintf(lower, sizeof(lower), "%s", name);
        ver = STORE_VERSION_ABSENT;
        rc = (role = role_new(lower)) ? TR_OK : TR_E_NOMEM;
    } else if (rc == TR_OK) {
        old_rid = strdup(tr_json_get_str(role, "role_id"));
        rc = old_rid ? TR_OK : TR_E_NOMEM;
    }
    if (rc == TR_OK)
        rc = role_apply(role, c->body, err);
    if (rc == TR_OK && want && (!*want || strlen(want) > AUTH_SECRET_MAX)) {
        *err = "role_id must be 1 to 256 bytes";
        rc = TR_E_INVAL;
    }
    if (rc == TR_OK && want)
        json_object_set_new(role, "role_id", json_string(want));
    if (rc == TR_OK)
        rc = role_store(c, m, role, ver, old_rid);
    free(old_rid);
    json_decref(role);
    return rc;
}

static void reply_write(struct api_call *c, int rc, const char *err)
{
    if (rc == TR_E_INVAL)
        api_reply_error(c, 400, err ? err : "invalid request");
    else if (rc == TR_E_EXISTS)
        api_reply_error(c, 400, "role_id already in use");
    else if (rc == TR_E_CAS)
        api_reply_error(c, 400, "concurrent update, try again");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}

static void role_write(struct api_call *c, const struct auth_mount *m, const char *name)
{
    const char *err = NULL;
    int rc = TR_E_CAS;

    for (int i = 0; i < SID_RETRIES && rc == TR_E_CAS; i++)
        rc = role_write_once(c, m, name, &err);
    reply_write(c, rc, err);
}

static void role_read(struct api_call *c, const struct auth_mount *m, const char *name)
{
    json_t *role = NULL, *d;
    int rc = role_load(c, m, name, &role, NULL);

    if (rc != TR_OK) {
        api_reply_err(c, rc == TR_E_INVAL ? TR_E_NOTFOUND : rc);
        return;
    }
    d = json_pack("{s:O, s:O, s:O, s:O, s:b}", "bind_secret_id",
                  json_object_get(role, "bind_secret_id"), "secret_id_bound_cidrs",
                  json_object_get(role, "secret_id_bound_cidrs"), "secret_id_num_uses",
                  json_object_get(role, "secret_id_num_uses"), "secret_id_ttl",
                  json_object_get(role, "secret_id_ttl"), "local_secret_ids", 0);
    if (d)
        auth_token_fields_out(role, d);
    json_decref(role);
    api_reply_data(c, 200, d);
}

static void role_delete(struct api_call *c, const struct auth_mount *m, const char *name)
{
    char key[AUTH_KEY_MAX], ikey[AUTH_KEY_MAX], p1[AUTH_KEY_MAX], p2[AUTH_KEY_MAX], id[40];
    struct auth_batch b = {0};
    json_t *role = NULL;
    int rc = role_load(c, m, name, &role, NULL);

    if (rc == TR_E_NOTFOUND) {
        api_reply_status(c, 204);
        return;
    }
    if (rc == TR_OK && !auth_key(key, sizeof(key), m, "role", tr_json_get_str(role, "name")))
        rc = TR_E_INTERNAL;
    if (rc == TR_OK &&
        (rc = roleid_key(m, tr_json_get_str(role, "role_id"), ikey, sizeof(ikey))) == TR_OK) {
        snprintf(id, sizeof(id), "%s/", tr_json_get_str(role, "id"));
        auth_batch_del(&b, key, STORE_VERSION_ANY);
        auth_batch_del(&b, ikey, STORE_VERSION_ANY);
        rc = auth_batch_commit(c, &b, NULL);
    }
    json_decref(role);
    /* the role's secret IDs are unreachable from here on (their keys hold its random id);
     * removing them is housekeeping */
    if (rc == TR_OK && auth_key(p1, sizeof(p1), m, "sid", id) &&
        auth_key(p2, sizeof(p2), m, "sacc", id) && (rc = auth_purge(c->store, p1)) == TR_OK)
        rc = auth_purge(c->store, p2);
    if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}

static void role_id_read(struct api_call *c, const struct auth_mount *m, const char *name)
{
    json_t *role = NULL;
    int rc = role_load(c, m, name, &role, NULL);

    if (rc != TR_OK)
        api_reply_err(c, rc == TR_E_INVAL ? TR_E_NOTFOUND : rc);
    else
        api_reply_data(c, 200, json_pack("{s:s}", "role_id", tr_json_get_str(role, "role_id")));
    json_decref(role);
}

static void role_id_write(struct api_call *c, const struct auth_mount *m, const char *name)
{
    const char *want = tr_json_get_str(c->body, "role_id");
    int rc = TR_E_CAS;

    if (!want || !*want || strlen(want) > AUTH_SECRET_MAX) {
        api_reply_error(c, 400, "missing role_id");
        return;
    }
    for (int i = 0; i < SID_RETRIES && rc == TR_E_CAS; i++) {
        json_t *role = NULL;
        uint64_t ver = 0;
        char *old = NULL;
        rc = role_load(c, m, name, &role, &ver);
        if (rc == TR_OK && !(old = strdup(tr_json_get_str(role, "role_id"))))
            rc = TR_E_NOMEM;
        if (rc == TR_OK) {
            json_object_set_new(role, "role_id", json_string(want));
            rc = role_store(c, m, role, ver, old);
        }
        free(old);
        json_decref(role);
    }
    reply_write(c, rc == TR_E_NOTFOUND ? TR_E_INVAL : rc,
                rc == TR_E_NOTFOUND ? "role does not exist" : NULL);
}

/* ---- secret IDs ---------------------------------------------------------------------------- */

/* metadata: an object of strings, or that object as JSON text (the CLI's metadata='{...}'). */
static json_t *meta_parse(const json_t *v)
{
    json_t *o = NULL;
    const char *k;
    json_t *x;

    if (!v || json_is_null(v))
        return json_object();
    if (json_is_string(v)) {
        char err[80];
        if (tr_json_parse(json_string_value(v), json_string_length(v), NULL, &o, err,
                          sizeof(err)) != TR_OK)
            return NULL;
    } else {
        o = json_incref((json_t *)v);
    }
    bool ok = json_is_object(o) && json_object_size(o) <= META_KEYS_MAX;
    json_object_foreach(o, k, x)
    {
        ok = ok && json_is_string(x) && strlen(k) < META_STR_MAX &&
             json_string_length(x) < META_STR_MAX;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Limits asked for a new secret ID, bounded by the role's own (a secret ID never gets more
 * uses or a longer life than the role allows). */
static int sid_limits(const json_t *role, const json_t *b, int64_t *uses, int64_t *ttl,
                      const char **err)
{
    int64_t ru = jint(role, "secret_id_num_uses"), rt = jint(role, "secret_id_ttl");
    bool bad = false, gu, gt;

    *uses = ru;
    *ttl = rt;
    gu = tr_json_get_int(b, "num_uses", uses, &bad);
    gt = tr_json_get_duration(b, "ttl", ttl, &bad);
    if (bad || *uses < 0 || *ttl < 0) {
        *err = "Field validation failed: num_uses or ttl";
        return TR_E_INVAL;
    }
    if (gu && ru > 0 && (*uses == 0 || *uses > ru)) {
        *err = "num_uses cannot be higher than the role's secret_id_num_uses";
        return TR_E_INVAL;
    }
    if (gt && rt > 0 && (*ttl == 0 || *ttl > rt)) {
        *err = "ttl cannot be longer than the role's secret_id_ttl";
        return TR_E_INVAL;
    }
    return TR_OK;
}

static json_t *sid_entry_new(const json_t *role, const json_t *b, int64_t uses, int64_t ttl,
                             const char *acc, const char **err)
{
    json_t *meta = meta_parse(json_object_get(b, "metadata"));
    int64_t now = now_s();
    json_t *e;

    if (!meta) {
        *err = "metadata must be an object of strings";
        return NULL;
    }
    e = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:[], s:[]}", "accessor", acc,
                  "creation_time", (json_int_t)now, "expiration_time",
                  (json_int_t)(ttl > 0 ? now + ttl : 0), "last_updated_time", (json_int_t)now,
                  "num_uses", (json_int_t)uses, "ttl", (json_int_t)ttl, "metadata", meta,
                  "cidr_list", "token_bound_cidrs");
    if (e && (!auth_field_list(e, b, "cidr_list", err) ||
              !auth_field_list(e, b, "token_bound_cidrs", err) ||
              !auth_cidrs_valid(json_object_get(e, "cidr_list")) ||
              !auth_cidrs_valid(json_object_get(e, "token_bound_cidrs")))) {
        *err = "invalid CIDR block in cidr_list or token_bound_cidrs";
        json_decref(e);
        return NULL;
    }
    /* Vault: a secret ID may narrow the role's blocks, never widen them */
    if (e && (!auth_cidrs_subset(json_object_get(e, "cidr_list"),
                                 json_object_get(role, "secret_id_bound_cidrs")) ||
              !auth_cidrs_subset(json_object_get(e, "token_bound_cidrs"),
                                 json_object_get(role, "token_bound_cidrs")))) {
        *err = "CIDR blocks of the secret ID must be a subset of the role's";
        json_decref(e);
        return NULL;
    }
    return e;
}

static int sid_store(struct api_call *c, const struct auth_mount *m, const json_t *role,
                     const char *secret, const json_t *e)
{
    const char *rid = tr_json_get_str(role, "id");
    char skey[AUTH_KEY_MAX], akey[AUTH_KEY_MAX], hash[AUTH_MAC_HEX];
    struct auth_batch b = {0};
    int rc = sid_key(m, rid, secret, skey, sizeof(skey), hash);

    if (rc != TR_OK)
        return rc;
    if (!sacc_key(m, rid, tr_json_get_str(e, "accessor"), akey, sizeof(akey)))
        return TR_E_INVAL;
    json_t *ref = json_pack("{s:s}", "hash", hash);
    auth_batch_put(&b, skey, e, STORE_VERSION_ABSENT);
    auth_batch_put(&b, akey, ref, STORE_VERSION_ABSENT);
    json_decref(ref);
    rc = auth_batch_commit(c, &b, NULL);
    return rc == TR_E_CAS ? TR_E_EXISTS : rc;
}

static void sid_create(struct api_call *c, const struct auth_mount *m, const char *name,
                       const char *custom)
{
    char secret[AUTH_SECRET_MAX + 1], acc[37];
    const char *err = NULL;
    json_t *role = NULL, *e = NULL;
    int64_t uses = 0, ttl = 0;
    int rc = role_load(c, m, name, &role, NULL);

    if (rc == TR_OK)
        rc = sid_limits(role, c->body, &uses, &ttl, &err);
    api_uuid(acc);
    if (rc == TR_OK && !(e = sid_entry_new(role, c->body, uses, ttl, acc, &err)))
        rc = TR_E_INVAL;
    if (custom)
        snprintf(secret, sizeof(secret), "%s", custom);
    else
        api_uuid(secret); /* 122 random bits from libsodium, shaped like Vault's */
    if (rc == TR_OK)
        rc = sid_store(c, m, role, secret, e);
    if (rc == TR_E_NOTFOUND || rc == TR_E_INVAL)
        api_reply_error(c, 400, rc == TR_E_INVAL ? err : "role does not exist");
    else if (rc == TR_E_EXISTS)
        api_reply_error(c, 400, "secret ID already exists");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_data(c, 200,
                       json_pack("{s:s, s:s, s:I, s:I}", "secret_id", secret, "secret_id_accessor",
                                 acc, "secret_id_ttl", (json_int_t)ttl, "secret_id_num_uses",
                                 (json_int_t)uses));
    sodium_memzero(secret, sizeof(secret));
    json_decref(e);
    json_decref(role);
}

static void sid_generate(struct api_call *c, const struct auth_mount *m, const char *name)
{
    sid_create(c, m, name, NULL);
}

static void sid_custom(struct api_call *c, const struct auth_mount *m, const char *name)
{
    const char *s = tr_json_get_str(c->body, "secret_id");

    if (!s || !*s || strlen(s) > AUTH_SECRET_MAX) {
        api_reply_error(c, 400, "missing secret_id");
        return;
    }
    sid_create(c, m, name, s);
}

static void sid_list(struct api_call *c, const struct auth_mount *m, const char *name)
{
    char prefix[AUTH_KEY_MAX], id[40];
    json_t *role = NULL;
    int rc = role_load(c, m, name, &role, NULL);

    if (rc != TR_OK) {
        api_reply_err(c, rc == TR_E_INVAL ? TR_E_NOTFOUND : rc);
        return;
    }
    snprintf(id, sizeof(id), "%s/", tr_json_get_str(role, "id"));
    json_decref(role);
    if (!auth_key(prefix, sizeof(prefix), m, "sacc", id))
        api_reply_err(c, TR_E_INTERNAL);
    else
        auth_reply_list(c, prefix);
}

static bool sid_expired(const json_t *e)
{
    int64_t exp = jint(e, "expiration_time");
    return exp > 0 && exp <= now_s();
}

static int sid_delete(struct api_call *c, const struct auth_mount *m, const json_t *role,
                      const json_t *e, const char *skey, uint64_t ver)
{
    char akey[AUTH_KEY_MAX];
    struct auth_batch b = {0};

    auth_batch_del(&b, skey, ver);
    if (sacc_key(m, tr_json_get_str(role, "id"), tr_json_get_str(e, "accessor"), akey,
                 sizeof(akey)))
        auth_batch_del(&b, akey, STORE_VERSION_ANY);
    return auth_batch_commit(c, &b, NULL);
}

/* The secret-ID entry named by a secret (by_acc false) or an accessor (true) in the body. */
static int sid_target(struct api_call *c, const struct auth_mount *m, const json_t *role,
                      bool by_acc, char *skey, size_t cap, json_t **out, uint64_t *ver)
{
    const char *rid = tr_json_get_str(role, "id");
    char hash[AUTH_MAC_HEX], akey[AUTH_KEY_MAX];
    const char *v = tr_json_get_str(c->body, by_acc ? "secret_id_accessor" : "secret_id");
    json_t *ref = NULL;
    int rc;

    *out = NULL;
    if (!v || !*v || strlen(v) > AUTH_SECRET_MAX)
        return TR_E_INVAL;
    if (!by_acc) {
        rc = sid_key(m, rid, v, skey, cap, hash);
    } else if (!sacc_key(m, rid, v, akey, sizeof(akey))) {
        rc = TR_E_INVAL;
    } else if ((rc = auth_get(c, akey, &ref, NULL)) == TR_OK) {
        const char *h = tr_json_get_str(ref, "hash");
        char name[120];
        snprintf(name, sizeof(name), "%s/%s", rid, h ? h : "");
        rc = h && auth_key(skey, cap, m, "sid", name) ? TR_OK : TR_E_INTERNAL;
    }
    json_decref(ref);
    if (rc == TR_OK)
        rc = auth_get(c, skey, out, ver);
    return rc;
}

static json_t *sid_json_out(const json_t *e)
{
    char ct[64], et[64] = "0001-01-01T00:00:00Z", ut[64];
    int64_t exp = jint(e, "expiration_time");

    api_time_rfc3339(jint(e, "creation_time") * 1000000000LL, ct, sizeof(ct));
    api_time_rfc3339(jint(e, "last_updated_time") * 1000000000LL, ut, sizeof(ut));
    if (exp > 0)
        api_time_rfc3339(exp * 1000000000LL, et, sizeof(et));
    return json_pack("{s:O, s:s, s:s, s:s, s:O, s:O, s:I, s:I, s:O}", "cidr_list",
                     json_object_get(e, "cidr_list"), "creation_time", ct, "expiration_time", et,
                     "last_updated_time", ut, "metadata", json_object_get(e, "metadata"),
                     "secret_id_accessor", json_object_get(e, "accessor"), "secret_id_num_uses",
                     (json_int_t)jint(e, "num_uses"), "secret_id_ttl", (json_int_t)jint(e, "ttl"),
                     "token_bound_cidrs", json_object_get(e, "token_bound_cidrs"));
}

static void sid_op(struct api_call *c, const struct auth_mount *m, const char *name, bool by_acc,
                   bool destroy)
{
    char skey[AUTH_KEY_MAX];
    json_t *role = NULL, *e = NULL;
    uint64_t ver = 0;
    int rc = role_load(c, m, name, &role, NULL);

    if (rc == TR_OK)
        rc = sid_target(c, m, role, by_acc, skey, sizeof(skey), &e, &ver);
    if (rc == TR_OK && (destroy || sid_expired(e))) {
        rc = sid_delete(c, m, role, e, skey, ver);
        if (rc == TR_OK && !destroy)
            rc = TR_E_NOTFOUND; /* expired: gone now */
    }
    if (rc == TR_E_INVAL)
        api_reply_error(c, 400, by_acc ? "missing secret_id_accessor" : "missing secret_id");
    else if (destroy && (rc == TR_OK || rc == TR_E_NOTFOUND || rc == TR_E_CAS))
        api_reply_status(c, 204);
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_data(c, 200, sid_json_out(e));
    json_decref(e);
    json_decref(role);
}

static void sid_lookup(struct api_call *c, const struct auth_mount *m, const char *name)
{
    sid_op(c, m, name, false, false);
}

static void sid_destroy(struct api_call *c, const struct auth_mount *m, const char *name)
{
    sid_op(c, m, name, false, true);
}

static void acc_lookup(struct api_call *c, const struct auth_mount *m, const char *name)
{
    sid_op(c, m, name, true, false);
}

static void acc_destroy(struct api_call *c, const struct auth_mount *m, const char *name)
{
    sid_op(c, m, name, true, true);
}

/* ---- login --------------------------------------------------------------------------------- */

/* Lookups 1 and 2: the role behind role_id; *out NULL (after the same work) when unknown. */
static int login_role(struct api_call *c, const struct auth_mount *m, const char *role_id,
                      json_t **out)
{
    char ikey[AUTH_KEY_MAX], rkey[AUTH_KEY_MAX];
    json_t *idx = NULL;
    int rc = roleid_key(m, role_id, ikey, sizeof(ikey));

    *out = NULL;
    if (rc == TR_OK)
        rc = auth_get(c, ikey, &idx, NULL);
    if (rc != TR_OK && rc != TR_E_NOTFOUND)
        return rc;
    const char *name = rc == TR_OK ? tr_json_get_str(idx, "role") : NULL;
    /* an unknown role ID still costs a role lookup, of a key no role can have ('/' in name) */
    if (!auth_key(rkey, sizeof(rkey), m, "role", name && auth_name_ok(name) ? name : "/")) {
        json_decref(idx);
        return TR_E_INTERNAL;
    }
    rc = role_check(out, auth_get(c, rkey, out, NULL));
    json_decref(idx);
    return rc == TR_E_NOTFOUND ? TR_OK : rc;
}

/* Source address against the lists that bind the login (the role's secret_id_bound_cidrs, the
 * secret ID's cidr_list), before a use is spent. token_bound_cidrs bind the token instead, on
 * every use (Vault's AppRole issues the token and refuses its uses); a secret ID's list may
 * narrow the role's but never widen it, even after the role changed. */
static bool login_cidrs_ok(struct api_call *c, const json_t *role, const json_t *e)
{
    const char *ip = c->req->remote_ip;
    return auth_cidrs_allow(json_object_get(role, "secret_id_bound_cidrs"), ip) &&
           (!e || (auth_cidrs_allow(json_object_get(e, "cidr_list"), ip) &&
                   auth_cidrs_subset(json_object_get(e, "token_bound_cidrs"),
                                     json_object_get(role, "token_bound_cidrs"))));
}

static int sid_spend(struct api_call *c, const struct auth_mount *m, const json_t *role, json_t *e,
                     const char *skey, uint64_t ver)
{
    int64_t uses = jint(e, "num_uses");

    if (uses <= 0)
        return TR_OK; /* unlimited */
    if (uses == 1)
        return sid_delete(c, m, role, e, skey, ver);
    json_object_set_new(e, "num_uses", json_integer(uses - 1));
    json_object_set_new(e, "last_updated_time", json_integer(now_s()));
    return api_put_json(c, AUTH_T_DATA, skey, e, ver);
}

/* Lookup 3 and the checks; TR_E_DENIED for every credential failure. *out_e: the entry. */
static int login_secret(struct api_call *c, const struct auth_mount *m, const json_t *role,
                        const char *secret, json_t **out_e)
{
    char skey[AUTH_KEY_MAX], hash[AUTH_MAC_HEX];
    const char *rid = role ? tr_json_get_str(role, "id") : DUMMY_ROLE_ID;
    json_t *e = NULL;
    uint64_t ver = 0;
    int rc = sid_key(m, rid ? rid : DUMMY_ROLE_ID, secret, skey, sizeof(skey), hash);

    for (int i = 0; rc == TR_OK && i < SID_RETRIES; i++) {
        json_decref(e);
        e = NULL;
        rc = auth_get(c, skey, &e, &ver);
        if (rc == TR_E_NOTFOUND || (rc == TR_OK && !role))
            rc = TR_E_DENIED;
        if (rc == TR_OK && sid_expired(e)) {
            if (sid_delete(c, m, role, e, skey, ver) != TR_OK)
                tr_log_debug("expired secret ID not removed yet");
            rc = TR_E_DENIED;
        }
        if (rc == TR_OK && !login_cidrs_ok(c, role, e))
            rc = TR_E_DENIED;
        if (rc == TR_OK && (rc = sid_spend(c, m, role, e, skey, ver)) != TR_E_CAS)
            break;
    }
    if (rc == TR_E_CAS)
        rc = TR_E_DENIED; /* lost every race: the uses went to others */
    if (rc == TR_OK)
        *out_e = e;
    else
        json_decref(e);
    return rc;
}

static json_t *login_meta(const json_t *role, const json_t *e)
{
    json_t *meta = json_object();
    const char *k;
    json_t *v;

    json_object_foreach(json_object_get(e, "metadata"), k, v)
    {
        json_object_set(meta, k, v);
    }
    json_object_set_new(meta, "role_name", json_string(tr_json_get_str(role, "name")));
    return meta;
}

static int login_check(struct api_call *c, const struct auth_mount *m, const char *role_id,
                       const char *secret, json_t **out_role, json_t **out_e)
{
    int rc = login_role(c, m, role_id, out_role);
    bool bound = !*out_role || json_is_true(json_object_get(*out_role, "bind_secret_id"));

    if (rc != TR_OK)
        return rc;
    if (bound && (!secret || !*secret))
        return TR_E_INVAL; /* same answer for unknown and bound roles: no role-ID oracle */
    if (bound)
        return login_secret(c, m, *out_role, secret, out_e);
    return login_cidrs_ok(c, *out_role, NULL) ? TR_OK : TR_E_DENIED;
}

void auth_approle_login(struct api_call *c, const struct auth_mount *m)
{
    const char *role_id = tr_json_get_str(c->body, "role_id");
    const char *secret = tr_json_get_str(c->body, "secret_id");
    json_t *role = NULL, *e = NULL;
    int rc;

    if (!role_id || !*role_id) {
        api_reply_error(c, 400, "missing role_id");
        return;
    }
    if (strlen(role_id) > AUTH_SECRET_MAX || (secret && strlen(secret) > AUTH_SECRET_MAX))
        rc = TR_E_DENIED; /* no stored ID is that long */
    else
        rc = login_check(c, m, role_id, secret, &role, &e);
    if (rc == TR_OK) {
        json_t *meta = login_meta(role, e);
        const json_t *sid_cidrs = json_object_get(e, "token_bound_cidrs");
        struct auth_grant g = {.role = role,
                               .cidrs = json_array_size(sid_cidrs) ? sid_cidrs : NULL,
                               .display_name = "approle",
                               .meta = meta};
        auth_issue(c, m, &g);
        json_decref(meta);
    } else if (rc == TR_E_DENIED) {
        tr_log_info("approle login failed on auth/%s", m->path);
        api_reply_error(c, 400, ERR_INVALID);
    } else if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, "missing secret_id");
    } else {
        api_reply_err(c, rc);
    }
    json_decref(e);
    json_decref(role);
}

/* ---- routing ------------------------------------------------------------------------------- */

#define M(x) (1u << (x))

static const struct {
    const char *sub; /* path after role/<name>/ */
    unsigned methods;
    void (*fn)(struct api_call *, const struct auth_mount *, const char *);
} routes[] = {
    {"", M(API_GET), role_read},
    {"", M(API_PUT), role_write},
    {"", M(API_DELETE), role_delete},
    {"role-id", M(API_GET), role_id_read},
    {"role-id", M(API_PUT), role_id_write},
    {"secret-id", M(API_PUT), sid_generate},
    {"secret-id/", M(API_PUT), sid_generate}, /* Vault's route is secret-id/? */
    {"secret-id/", M(API_LIST), sid_list},
    {"custom-secret-id", M(API_PUT), sid_custom},
    {"secret-id/lookup", M(API_PUT), sid_lookup},
    {"secret-id/destroy", M(API_PUT) | M(API_DELETE), sid_destroy},
    {"secret-id-accessor/lookup", M(API_PUT), acc_lookup},
    {"secret-id-accessor/destroy", M(API_PUT) | M(API_DELETE), acc_destroy},
};

/* Vault's approle pathLoginRenew: the role named at login (meta role_name) as it is now, or the
 * renewal fails once it is gone. */
int auth_approle_renew(struct api_call *c, const struct auth_mount *m, const json_t *e,
                       struct auth_renewal *out)
{
    const char *name = tr_json_get_str(json_object_get(e, "meta"), "role_name");
    json_t *role = NULL;
    int rc;

    if (!name)
        return TR_E_NOTFOUND;
    rc = auth_name_ok(name) ? role_load(c, m, name, &role, NULL) : TR_E_NOTFOUND;
    if (rc == TR_E_NOTFOUND || rc == TR_E_INVAL)
        return auth_renewal_refuse(
            out, 500, "failed to renew entry: role \"%.*s\" does not exist during renewal",
            AUTH_NAME_MAX, name);
    if (rc == TR_OK)
        auth_renewal_role(role, out);
    json_decref(role);
    return rc;
}

void auth_approle_handle(struct api_call *c, const struct auth_mount *m, const char *rel)
{
    char name[AUTH_NAME_MAX + 1], prefix[AUTH_KEY_MAX];
    const char *sub = "";
    bool path_known = false;

    if (!strcmp(rel, "role/") || !strcmp(rel, "role")) {
        if (c->method == API_LIST && auth_key(prefix, sizeof(prefix), m, "role", ""))
            auth_reply_list(c, prefix);
        else
            api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (strncmp(rel, "role/", 5) != 0) { /* a route of the table (api_help_text.c) this lacks */
        api_reply_error(c, 404, "unsupported path");
        return;
    }
    if (!auth_split(rel + 5, name, sizeof(name), &sub)) {
        api_reply_error(c, 404, NULL);
        return;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(sub, routes[i].sub) != 0)
            continue;
        path_known = true;
        if (routes[i].methods & M(c->method)) {
            if (role_name_reached(c, m, rel + 5, name, sizeof(name)))
                routes[i].fn(c, m, name);
            return;
        }
    }
    if (path_known)
        api_reply_error(c, 405, "unsupported operation");
    else
        api_reply_error(c, 404, "unsupported path");
}
