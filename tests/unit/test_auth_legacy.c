/*
 * test_auth_legacy - AppRole roles stored before role names were lower-cased (Vault does so
 * since 0.9.1; api/auth_approle.c now does too) stay reachable, and new roles are found in any
 * case; login tokens stored before renewals followed their role still renew. The old code stored a role under its name as given: "<mount uuid>/role/CaseRole", with
 * "name": "CaseRole" in the record and the role-ID index pointing at that name. The test makes
 * exactly those records from a role the server created (same record, the name as the old code
 * kept it), written straight into the store the server runs on.
 *
 * Real components throughout: the trusted core with a shamir seal and a file counter, LMDB on
 * disk, and requests through api_handle as the HTTP workers send them.
 */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "../../api/api_token_int.h"
#include "../../api/auth_int.h"
#include "../../common/tr_log.h"
#include "../../enclave/enclave.h"
#include "../support/api_request.h"

/* ---- fixture ----------------------------------------------------------------------------- */

struct fx {
    char root[64];
    char enc_dir[96];
    char st_dir[96];
    struct enc_config cfg;
    struct api *api;
    char token[128]; /* the root token (test data) */
    char uuid[40];   /* the approle mount's */
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void log_sink(void *arg, enum tr_log_level level, const char *line)
{
    (void)arg;
    (void)level;
    if (getenv("TR_TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", line);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    json_t *b = NULL;
    char key_body[2 * ENC_SHARE_BYTES + 16];

    assert_non_null(f);
    tr_log_set_sink(log_sink, NULL);
    snprintf(f->root, sizeof(f->root), "/tmp/tr-authleg-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->enc_dir, sizeof(f->enc_dir), "%s/enc", f->root);
    snprintf(f->st_dir, sizeof(f->st_dir), "%s/data", f->root);
    assert_int_equal(mkdir(f->enc_dir, 0700), 0);
    f->cfg.seal_type = ENC_SEAL_SHAMIR;
    f->cfg.counter_type = ENC_COUNTER_FILE;
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->enc_dir);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    struct api_opts o = {
        .version = "test", .build_date = "2024-01-01T00:00:00Z", .data_dir = f->st_dir};
    assert_int_equal(api_new(&o, &f->api), TR_OK);
    assert_int_equal(request(f->api, API_PUT, "/v1/sys/init", NULL,
                             "{\"secret_shares\":1,\"secret_threshold\":1}", &b),
                     200);
    snprintf(key_body, sizeof(key_body), "{\"key\":\"%s\"}",
             json_string_value(json_array_get(json_object_get(b, "keys"), 0)));
    snprintf(f->token, sizeof(f->token), "%s", json_string_value(json_object_get(b, "root_token")));
    api_json_wipe_tree(b);
    json_decref(b);
    assert_int_equal(request(f->api, API_PUT, "/v1/sys/unseal", NULL, key_body, NULL), 200);
    sodium_memzero(key_body, sizeof(key_body));
    assert_int_equal(
        request(f->api, API_PUT, "/v1/sys/auth/approle", f->token, "{\"type\":\"approle\"}", NULL),
        204);
    assert_int_equal(request(f->api, API_GET, "/v1/sys/auth/approle", f->token, NULL, &b), 200);
    snprintf(f->uuid, sizeof(f->uuid), "%s", json_string_value(json_object_get(b, "uuid")));
    json_decref(b);
    assert_int_equal(strlen(f->uuid), 36);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    api_free(f->api);
    enc_fini();
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    sodium_memzero(f, sizeof(*f));
    free(f);
    tr_log_set_sink(NULL, NULL);
    return 0;
}

/* ---- the records the old code wrote ------------------------------------------------------ */

static json_t *store_json(struct store *st, const char *table, const char *key, uint64_t *ver)
{
    struct enc_secret *v = NULL;

    assert_int_equal(store_get(st, table, (const uint8_t *)key, strlen(key), &v, ver), TR_OK);
    json_t *o = json_loadb((const char *)enc_secret_data(v), enc_secret_len(v), 0, NULL);
    enc_secret_free(v);
    assert_non_null(o);
    return o;
}

static void store_json_put(struct store *st, const char *table, const char *key, const json_t *o,
                           uint64_t expect)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

    assert_non_null(text);
    assert_int_equal(store_put(st, table, (const uint8_t *)key, strlen(key), (const uint8_t *)text,
                               strlen(text), expect, NULL),
                     TR_OK);
    free(text);
}

/* Create role `made` (lower case) through the API, then move it to `legacy` as the old code
 * would have stored it: the record under role/<legacy> with name <legacy>, the role-ID index
 * naming <legacy>. Returns the role's role ID in rid. */
static void legacy_role(struct fx *f, const char *made, const char *legacy, char *rid, size_t cap)
{
    char path[160], key[AUTH_KEY_MAX], h[AUTH_MAC_HEX];
    struct store *st;
    uint64_t ver = 0;

    snprintf(path, sizeof(path), "/v1/auth/approle/role/%s", made);
    assert_int_equal(request(f->api, API_PUT, path, f->token, "{\"token_policies\":\"p1\"}", NULL),
                     204);
    assert_non_null(st = api_core_store_ref(f->api));
    snprintf(key, sizeof(key), "%s/role/%s", f->uuid, made);
    json_t *role = store_json(st, AUTH_T_DATA, key, &ver);
    assert_string_equal(json_string_value(json_object_get(role, "name")), made);
    assert_int_equal(store_del(st, AUTH_T_DATA, (const uint8_t *)key, strlen(key), ver), TR_OK);
    json_object_set_new(role, "name", json_string(legacy));
    snprintf(key, sizeof(key), "%s/role/%s", f->uuid, legacy);
    store_json_put(st, AUTH_T_DATA, key, role, STORE_VERSION_ABSENT);
    snprintf(rid, cap, "%s", json_string_value(json_object_get(role, "role_id")));
    const char *parts[] = {"approle-role-id", f->uuid, rid};
    assert_int_equal(auth_mac_hex(parts, 3, h), TR_OK);
    snprintf(key, sizeof(key), "%s/roleid/%s", f->uuid, h);
    json_t *idx = json_pack("{s:s}", "role", legacy);
    store_json_put(st, AUTH_T_DATA, key, idx, STORE_VERSION_ANY);
    json_decref(idx);
    json_decref(role);
    api_core_store_unref(f->api, st);
}

/* GET auth/approle/role/<name>/role-id: status, the role ID in out ("" when none). */
static int role_id_of(struct fx *f, const char *name, char *out, size_t cap)
{
    char path[160];
    json_t *b = NULL;

    snprintf(path, sizeof(path), "/v1/auth/approle/role/%s/role-id", name);
    int st = request(f->api, API_GET, path, f->token, NULL, &b);
    const char *v = json_string_value(json_object_get(json_object_get(b, "data"), "role_id"));
    snprintf(out, cap, "%s", v ? v : "");
    json_decref(b);
    return st;
}

/* The role names LIST shows, joined with ',' (404: ""). */
static void role_list(struct fx *f, char *out, size_t cap)
{
    json_t *b = NULL, *k;
    size_t i, n = 0;

    out[0] = '\0';
    request(f->api, API_LIST, "/v1/auth/approle/role", f->token, NULL, &b);
    json_array_foreach(json_object_get(json_object_get(b, "data"), "keys"), i, k)
    {
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "", json_string_value(k));
        assert_true(n < cap);
    }
    json_decref(b);
}

/* A fresh secret ID of role `name` into out. */
static void secret_id(struct fx *f, const char *name, char *out, size_t cap)
{
    char path[160];
    json_t *b = NULL;

    snprintf(path, sizeof(path), "/v1/auth/approle/role/%s/secret-id", name);
    assert_int_equal(request(f->api, API_PUT, path, f->token, NULL, &b), 200);
    snprintf(out, cap, "%s",
             json_string_value(json_object_get(json_object_get(b, "data"), "secret_id")));
    api_json_wipe_tree(b);
    json_decref(b);
}

/* A login with role_id and secret: status, and metadata.role_name into role_name. */
static int login(struct fx *f, const char *rid, const char *secret, char *role_name, size_t cap)
{
    char body[512];
    json_t *b = NULL;

    snprintf(body, sizeof(body), "{\"role_id\":\"%s\",\"secret_id\":\"%s\"}", rid, secret);
    int st = request(f->api, API_PUT, "/v1/auth/approle/login", NULL, body, &b);
    sodium_memzero(body, sizeof(body));
    const char *rn = json_string_value(
        json_object_get(json_object_get(json_object_get(b, "auth"), "metadata"), "role_name"));
    snprintf(role_name, cap, "%s", rn ? rn : "");
    api_json_wipe_tree(b);
    json_decref(b);
    return st;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* A role stored with capitals works as before: read, list, secret IDs, login, update, delete. */
static void test_auth_approle_role_legacy_reachable(void **state)
{
    struct fx *f = *state;
    char rid[80], got[80], list[256], sid[80];

    legacy_role(f, "made", "CaseRole", rid, sizeof(rid));
    assert_int_equal(role_id_of(f, "CaseRole", got, sizeof(got)), 200);
    assert_string_equal(got, rid);
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "CaseRole");
    secret_id(f, "CaseRole", sid, sizeof(sid));
    assert_int_equal(login(f, rid, sid, got, sizeof(got)), 200);
    assert_string_equal(got, "CaseRole"); /* the token names the role as stored */
    /* an update through its exact name stays on the record: no second role appears */
    assert_int_equal(request(f->api, API_PUT, "/v1/auth/approle/role/CaseRole", f->token,
                             "{\"token_ttl\":\"5m\"}", NULL),
                     204);
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "CaseRole");
    json_t *b = NULL;
    assert_int_equal(request(f->api, API_GET, "/v1/auth/approle/role/CaseRole", f->token, NULL, &b),
                     200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "data"), "token_ttl")),
                     300);
    json_decref(b);
    assert_int_equal(
        request(f->api, API_DELETE, "/v1/auth/approle/role/CaseRole", f->token, NULL, NULL), 204);
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "");
    assert_int_equal(role_id_of(f, "CaseRole", got, sizeof(got)), 404);
    assert_int_equal(login(f, rid, sid, got, sizeof(got)), 400); /* its secret IDs went too */
    sodium_memzero(sid, sizeof(sid));
}

/* Roles whose names differ only in case, which the old code kept apart, are not shadowed: the
 * exact name is looked up first, then the lower-cased one, then the one stored role that folds
 * to it. */
static void test_auth_approle_role_legacy_not_shadowed(void **state)
{
    struct fx *f = *state;
    char rid_old[80], rid_new[80], got[80], list[256], sid[80];

    legacy_role(f, "made", "Web", rid_old, sizeof(rid_old));
    /* the old code kept "Web" and "web" apart: one of each, both must stay reachable */
    legacy_role(f, "made2", "web", rid_new, sizeof(rid_new));
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "Web,web");
    assert_int_equal(role_id_of(f, "Web", got, sizeof(got)), 200);
    assert_string_equal(got, rid_old);
    assert_int_equal(role_id_of(f, "web", got, sizeof(got)), 200);
    assert_string_equal(got, rid_new);
    assert_int_equal(role_id_of(f, "WEB", got, sizeof(got)), 200); /* lower-cased: web */
    assert_string_equal(got, rid_new);

    /* a stored capital name no other role folds to is found in any case too, as Vault finds
     * roles (tests/unit/test_api_routes.c has the ambiguous and ACL cases) */
    legacy_role(f, "made3", "Db", rid_old, sizeof(rid_old));
    assert_int_equal(role_id_of(f, "db", got, sizeof(got)), 200);
    assert_string_equal(got, rid_old);
    /* so writing "DB" updates "Db" rather than making a second role "db" beside it */
    assert_int_equal(request(f->api, API_PUT, "/v1/auth/approle/role/DB", f->token,
                             "{\"policies\":\"p\"}", NULL),
                     204);
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "Db,Web,web");
    assert_int_equal(role_id_of(f, "Db", got, sizeof(got)), 200);
    assert_string_equal(got, rid_old);
    assert_int_equal(role_id_of(f, "dB", got, sizeof(got)), 200);
    assert_string_equal(got, rid_old);
    secret_id(f, "Db", sid, sizeof(sid));
    assert_int_equal(login(f, rid_old, sid, got, sizeof(got)), 200);
    assert_string_equal(got, "Db");
    sodium_memzero(sid, sizeof(sid));
}

/* ---- login tokens from before renewals followed their role ------------------------------- */

/* A login through role `name` (made here: token_ttl 60s, token_max_ttl 120s): the raw token
 * into raw (test data). */
static void login_token(struct fx *f, const char *name, char *raw, size_t cap)
{
    char path[160], rid[80], sid[80], body[512];
    json_t *b = NULL;

    snprintf(path, sizeof(path), "/v1/auth/approle/role/%s", name);
    assert_int_equal(request(f->api, API_PUT, path, f->token,
                             "{\"token_policies\":\"p1\",\"token_ttl\":60,\"token_max_ttl\":120}",
                             NULL),
                     204);
    assert_int_equal(role_id_of(f, name, rid, sizeof(rid)), 200);
    secret_id(f, name, sid, sizeof(sid));
    snprintf(body, sizeof(body), "{\"role_id\":\"%s\",\"secret_id\":\"%s\"}", rid, sid);
    assert_int_equal(request(f->api, API_PUT, "/v1/auth/approle/login", NULL, body, &b), 200);
    snprintf(raw, cap, "%s",
             json_string_value(json_object_get(json_object_get(b, "auth"), "client_token")));
    sodium_memzero(body, sizeof(body));
    sodium_memzero(sid, sizeof(sid));
    api_json_wipe_tree(b);
    json_decref(b);
}

/* Rewrite the entry of token raw as the code before renewals followed the role wrote it: the
 * login-time max (role max within the mount's) folded into explicit_max_ttl; with keep_role
 * false also no role name in its meta (no role identity at all). */
static void token_entry_legacy(struct fx *f, const char *raw, int64_t folded_max, bool keep_role)
{
    char hash[TOKEN_HASH_HEX];
    struct store *st;
    uint64_t ver = 0;

    assert_non_null(st = api_core_store_ref(f->api));
    assert_int_equal(api_token_hash(raw, hash), TR_OK);
    json_t *e = store_json(st, API_T_TOKENS, hash, &ver);
    assert_int_equal(json_integer_value(json_object_get(e, "explicit_max_ttl")), 0); /* Vault's */
    json_object_set_new(e, "explicit_max_ttl", json_integer(folded_max));
    if (!keep_role)
        json_object_del(json_object_get(e, "meta"), "role_name");
    store_json_put(st, API_T_TOKENS, hash, e, ver);
    json_decref(e);
    api_core_store_unref(f->api, st);
}

/* renew-self of raw asking for inc seconds: status, and the lease granted into *lease. */
static int renew_self(struct fx *f, const char *raw, int inc, int64_t *lease)
{
    char body[64];
    json_t *b = NULL;

    snprintf(body, sizeof(body), "{\"increment\":%d}", inc);
    int st = request(f->api, API_PUT, "/v1/auth/token/renew-self", raw, body, &b);
    *lease = json_integer_value(json_object_get(json_object_get(b, "auth"), "lease_duration"));
    json_decref(b);
    return st;
}

/* A token whose entry records no role renews as it was created, bound by the max its login
 * folded in, even once its role is gone; an old token that names its role (every AppRole
 * login did) follows the role as it is now, and the max folded in still binds it. */
static void test_auth_approle_token_legacy_renews(void **state)
{
    struct fx *f = *state;
    char t_anon[128], t_named[128];
    int64_t lease = 0;

    login_token(f, "old", t_anon, sizeof(t_anon));
    login_token(f, "kept", t_named, sizeof(t_named));
    token_entry_legacy(f, t_anon, 120, false);
    token_entry_legacy(f, t_named, 120, true);
    assert_int_equal(request(f->api, API_DELETE, "/v1/auth/approle/role/old", f->token, NULL, NULL),
                     204);
    assert_int_equal(renew_self(f, t_anon, 3600, &lease), 200);
    assert_in_range(lease, 110, 120);
    /* the role raised to 1h: the old token keeps the max it was given */
    assert_int_equal(request(f->api, API_PUT, "/v1/auth/approle/role/kept", f->token,
                             "{\"token_max_ttl\":3600}", NULL),
                     204);
    assert_int_equal(renew_self(f, t_named, 3600, &lease), 200);
    assert_in_range(lease, 110, 120);
    /* lowered to 30s: it follows the role */
    assert_int_equal(request(f->api, API_PUT, "/v1/auth/approle/role/kept", f->token,
                             "{\"token_ttl\":10,\"token_max_ttl\":30}", NULL),
                     204);
    assert_int_equal(renew_self(f, t_named, 3600, &lease), 200);
    assert_in_range(lease, 20, 30);
    assert_int_equal(
        request(f->api, API_DELETE, "/v1/auth/approle/role/kept", f->token, NULL, NULL), 204);
    assert_int_equal(renew_self(f, t_named, 3600, &lease), 500);
    sodium_memzero(t_anon, sizeof(t_anon));
    sodium_memzero(t_named, sizeof(t_named));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_approle_role_legacy_reachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_approle_token_legacy_renews, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_approle_role_legacy_not_shadowed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
