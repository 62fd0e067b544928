/*
 * test_api_routes - which requests reach a backend's handler, and which stored AppRole role a
 * role name reaches.
 *
 * The route tables of path help (api/api_help_text.c) are also the gate of the token store,
 * transit and the auth methods: a path no route of its backend matches is 404 "unsupported
 * path" (Vault's framework), for help and for requests alike. These tests walk every route of
 * every table and send it, with each operation it lists, to its handler: none may answer
 * "unsupported path" (the handler lacks a route the table has) or 405 (it lacks the
 * operation); an operation a route does not list is 405; a sample of paths that are no route is
 * refused, with and without help. So a table and its handler cannot drift apart unnoticed.
 *
 * AppRole: roles stored before Tresor lower-cased role names keep their capitals in their key
 * (tests/unit/test_auth_legacy.c builds them the same way). A name that finds no role as given
 * or lower-cased reaches the one stored role whose name folds to the same (read, update, delete,
 * secret IDs), never one of several, and only when the ACL also allows the path with the stored
 * name.
 *
 * Real components throughout: the trusted core with a shamir seal and a file counter, LMDB on
 * disk, and requests through api_handle as the HTTP workers send them.
 */
#include <ftw.h>
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

#include "../../api/api_help_int.h"
#include "../../api/auth_int.h"
#include "../../common/tr_log.h"
#include "../../enclave/enclave.h"
#include "../support/api_request.h"

/* ---- fixture ----------------------------------------------------------------------------- */

struct fx {
    char root[64];
    struct enc_config cfg;
    struct api *api;
    char token[128]; /* the root token (test data) */
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

/* One request as the HTTP layer hands it over, with a query and a content type (the support
 * header's request() sends neither): the status, and the answer into *out (may be NULL). */
static int req_send(struct fx *f, enum api_method m, const char *path, const char *query,
                    const char *token, const char *body, json_t **out)
{
    struct test_answer a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct api_req req = {.method = m,
                          .uri_path = path,
                          .query = query,
                          .token = token,
                          .content_type =
                              m == API_PATCH ? "application/merge-patch+json" : "application/json",
                          .body = (const uint8_t *)(body ? body : ""),
                          .body_len = body ? strlen(body) : 0,
                          .remote_ip = "127.0.0.1"};

    api_handle(f->api, &req, test_answer_done, &a);
    pthread_mutex_lock(&a.mu);
    while (!a.done)
        pthread_cond_wait(&a.cond, &a.mu);
    pthread_mutex_unlock(&a.mu);
    if (out)
        *out = a.body;
    else
        json_decref(a.body);
    return a.status;
}

static void mount(struct fx *f, const char *what, const char *body)
{
    char path[96];

    snprintf(path, sizeof(path), "/v1/sys/%s", what);
    assert_int_equal(request(f->api, API_PUT, path, f->token, body, NULL), 204);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char enc_dir[96], st_dir[96], key_body[2 * ENC_SHARE_BYTES + 16];
    json_t *b = NULL;

    assert_non_null(f);
    tr_log_set_sink(log_sink, NULL);
    snprintf(f->root, sizeof(f->root), "/tmp/tr-routes-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(enc_dir, sizeof(enc_dir), "%s/enc", f->root);
    snprintf(st_dir, sizeof(st_dir), "%s/data", f->root);
    assert_int_equal(mkdir(enc_dir, 0700), 0);
    f->cfg.seal_type = ENC_SEAL_SHAMIR;
    f->cfg.counter_type = ENC_COUNTER_FILE;
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", enc_dir);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    struct api_opts o = {
        .version = "test", .build_date = "2024-01-01T00:00:00Z", .data_dir = st_dir};
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
    mount(f, "auth/approle", "{\"type\":\"approle\"}");
    mount(f, "auth/cert", "{\"type\":\"cert\"}");
    mount(f, "auth/kubernetes", "{\"type\":\"kubernetes\"}");
    mount(f, "mounts/transit", "{\"type\":\"transit\"}");
    mount(f, "mounts/kv1", "{\"type\":\"kv\",\"options\":{\"version\":\"1\"}}");
    mount(f, "mounts/kv2", "{\"type\":\"kv\",\"options\":{\"version\":\"2\"}}");
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

/* ---- the route tables against their handlers ---------------------------------------------- */

static const struct {
    const char *mount; /* where the test mounted the backend */
    const struct help_backend *b;
    bool gated;      /* api_help_route_check decides which paths exist */
    bool reads_only; /* sys/: its writes seal, rotate, step down... only reads are sent */
} backends[] = {
    {"auth/token/", &api_help_token, true, false},
    {"transit/", &api_help_transit, true, false},
    {"auth/approle/", &api_help_approle, true, false},
    {"auth/cert/", &api_help_cert, true, false},
    {"auth/kubernetes/", &api_help_k8s, true, false},
    {"kv1/", &api_help_kv1, false, false},
    {"kv2/", &api_help_kv2, false, false},
    {"sys/", &api_help_sys, false, true},
};

static const struct {
    unsigned bit;
    enum api_method m;
    const char *name;
} ops[] = {{API_HELP_GET, API_GET, "GET"},          {API_HELP_LIST, API_LIST, "LIST"},
           {API_HELP_PUT, API_PUT, "PUT"},          {API_HELP_PATCH, API_PATCH, "PATCH"},
           {API_HELP_DELETE, API_DELETE, "DELETE"}, {API_HELP_HEAD, API_HEAD, "HEAD"}};

/* "/v1/" + mount + pattern with every '+' and '*' (api_help_int.h) as the name "n1". */
static void instantiate(const char *mnt, const char *pat, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "/v1/%s", mnt);

    for (; *pat && n + 3 < cap; pat++) {
        if (*pat == '+' || *pat == '*') {
            memcpy(out + n, "n1", 2);
            n += 2;
        } else {
            out[n++] = *pat;
        }
    }
    out[n] = '\0';
}

/* A child of the root token (test data, into out): the caller of token store requests, which
 * may revoke it. */
static void child_token(struct fx *f, char *out, size_t cap)
{
    json_t *b = NULL;

    assert_int_equal(request(f->api, API_PUT, "/v1/auth/token/create", f->token, "{}", &b), 200);
    snprintf(out, cap, "%s",
             json_string_value(json_object_get(json_object_get(b, "auth"), "client_token")));
    api_json_wipe_tree(b);
    json_decref(b);
}

/* The answer of m on path: status, and whether it is Vault's 404 "unsupported path". */
static int answer(struct fx *f, bool own_token, enum api_method m, const char *path,
                  const char *query, bool *unsupported)
{
    char tok[128];
    json_t *b = NULL;

    if (own_token)
        child_token(f, tok, sizeof(tok));
    int st =
        req_send(f, m, path, query, own_token ? tok : f->token, m == API_PUT ? "{}" : NULL, &b);
    const char *e = json_string_value(json_array_get(json_object_get(b, "errors"), 0));
    *unsupported = st == 404 && e && !strcmp(e, "unsupported path");
    json_decref(b);
    sodium_memzero(tok, sizeof(tok));
    return st;
}

/* Every operation a route lists is served on each of its patterns: neither "unsupported path"
 * nor 405. Its help is 200. */
static void check_route(struct fx *f, size_t bi, const struct help_route *r)
{
    char path[256];
    bool unsupported = false;

    for (size_t oi = 0; oi < sizeof(ops) / sizeof(ops[0]); oi++) {
        if (!(r->ops & ops[oi].bit) || (backends[bi].reads_only && ops[oi].m != API_GET &&
                                        ops[oi].m != API_LIST && ops[oi].m != API_HEAD))
            continue;
        for (size_t j = 0; j < API_HELP_MATCH_MAX && r->match[j]; j++) {
            instantiate(backends[bi].mount, r->match[j], path, sizeof(path));
            int st =
                answer(f, backends[bi].b == &api_help_token, ops[oi].m, path, NULL, &unsupported);
            if (unsupported || st == 405 || getenv("TR_TEST_VERBOSE"))
                print_message("%s %s -> %d%s\n", ops[oi].name, path, st,
                              unsupported ? " unsupported path" : "");
            assert_false(unsupported);
            assert_int_not_equal(st, 405);
        }
    }
    for (size_t j = 0; j < API_HELP_MATCH_MAX && r->match[j]; j++) {
        instantiate(backends[bi].mount, r->match[j], path, sizeof(path));
        assert_int_equal(answer(f, false, API_GET, path, "help=1", &unsupported), 200);
    }
}

/* An operation a route does not list (GET, PUT, DELETE) is 405 on each of its patterns: the
 * route exists, the operation does not (Vault's logical.ErrUnsupportedOperation). */
static void check_route_unlisted(struct fx *f, size_t bi, const struct help_route *r)
{
    static const enum api_method ms[] = {API_GET, API_PUT, API_DELETE};
    static const unsigned bits[] = {API_HELP_GET, API_HELP_PUT, API_HELP_DELETE};
    char path[256];
    bool unsupported = false;

    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; !(r->ops & bits[i]) && j < API_HELP_MATCH_MAX && r->match[j]; j++) {
            instantiate(backends[bi].mount, r->match[j], path, sizeof(path));
            int st = answer(f, backends[bi].b == &api_help_token, ms[i], path, NULL, &unsupported);
            if (st != 405)
                print_message("method %d on %s -> %d, not 405\n", (int)ms[i], path, st);
            assert_int_equal(st, 405);
        }
    }
}

static void test_api_routes_tables_served(void **state)
{
    struct fx *f = *state;

    for (size_t bi = 0; bi < sizeof(backends) / sizeof(backends[0]); bi++) {
        for (size_t i = 0; i < backends[bi].b->nroutes; i++) {
            check_route(f, bi, &backends[bi].b->routes[i]);
            if (backends[bi].gated)
                check_route_unlisted(f, bi, &backends[bi].b->routes[i]);
        }
    }
}

/* Paths inside a mount that no route matches: 404 "unsupported path" for every method, with
 * and without help; a path no mount serves is the router's answer. */
static void test_api_routes_unsupported_paths(void **state)
{
    static const char *const paths[] = {"/v1/auth/token/",
                                        "/v1/auth/token/bogus",
                                        "/v1/auth/token/create/a/b",
                                        "/v1/auth/token/lookup/x",
                                        "/v1/auth/token/roles/a/b",
                                        "/v1/auth/token/accessors/x",
                                        "/v1/transit/",
                                        "/v1/transit/bogus",
                                        "/v1/transit/keys/n1/bogus",
                                        "/v1/transit/keys/n1/",
                                        "/v1/transit/encrypt",
                                        "/v1/transit/encrypt/n1/x",
                                        "/v1/transit/backup/n1",
                                        "/v1/transit/export/public-key",
                                        "/v1/transit/export/n1",
                                        "/v1/auth/approle",
                                        "/v1/auth/approle/bogus",
                                        "/v1/auth/approle/role/n1/bogus",
                                        "/v1/auth/approle/role/n1/secret-id/lookup/x",
                                        "/v1/auth/approle/login/x",
                                        "/v1/auth/cert/",
                                        "/v1/auth/cert/certs/n1/x",
                                        "/v1/auth/cert/login/x",
                                        "/v1/auth/kubernetes/",
                                        "/v1/auth/kubernetes/role/n1/x",
                                        "/v1/auth/kubernetes/config/x",
                                        "/v1/sys/bogus"};
    static const enum api_method ms[] = {API_GET, API_PUT, API_DELETE, API_LIST};
    struct fx *f = *state;
    bool unsupported = false;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        for (size_t j = 0; j < sizeof(ms) / sizeof(ms[0]); j++) {
            int st = answer(f, false, ms[j], paths[i], NULL, &unsupported);
            if (!unsupported)
                print_message("method %d on %s -> %d\n", (int)ms[j], paths[i], st);
            assert_true(unsupported);
        }
        /* help on a mount's root describes the backend (Vault's root help) */
        if (paths[i][strlen(paths[i]) - 1] == '/' || !strcmp(paths[i], "/v1/auth/approle"))
            continue;
        answer(f, false, API_GET, paths[i], "help=1", &unsupported);
        if (!unsupported)
            print_message("help of %s is not \"unsupported path\"\n", paths[i]);
        assert_true(unsupported);
    }
    json_t *b = NULL;
    assert_int_equal(req_send(f, API_GET, "/v1/auth/nomount/x", NULL, f->token, NULL, &b), 404);
    assert_string_equal(json_string_value(json_array_get(json_object_get(b, "errors"), 0)),
                        "no handler for route \"auth/nomount/x\". route entry not found.");
    json_decref(b);
}

/* ---- AppRole roles stored with capitals --------------------------------------------------- */

/* The JSON record at key of AUTH_T_DATA (NULL when unreadable) and its version. */
static json_t *store_json(struct store *st, const char *key, uint64_t *ver)
{
    struct enc_secret *v = NULL;
    json_t *o = NULL;

    if (store_get(st, AUTH_T_DATA, (const uint8_t *)key, strlen(key), &v, ver) == TR_OK)
        o = json_loadb((const char *)enc_secret_data(v), enc_secret_len(v), 0, NULL);
    enc_secret_free(v);
    return o;
}

static int store_json_put(struct store *st, const char *key, const json_t *o, uint64_t expect)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = text ? store_put(st, AUTH_T_DATA, (const uint8_t *)key, strlen(key),
                              (const uint8_t *)text, strlen(text), expect, NULL)
                  : TR_E_NOMEM;

    free(text);
    return rc;
}

/* Move the role record at role/<from> to role/<to> with that name, and point its role-ID index
 * at it: how the code before lower-casing stored role <to>. Its role ID into rid. No assert runs
 * while the store reference is held (a failure must not leave it taken: teardown waits for it). */
static int role_move(struct fx *f, const char *uuid, const char *from, const char *to, char *rid,
                     size_t cap)
{
    char key[AUTH_KEY_MAX], h[AUTH_MAC_HEX];
    struct store *st = api_core_store_ref(f->api);
    uint64_t ver = 0;
    int rc = TR_E_INTERNAL;

    snprintf(key, sizeof(key), "%s/role/%s", uuid, from);
    json_t *role = st ? store_json(st, key, &ver) : NULL;
    json_t *idx = json_pack("{s:s}", "role", to);
    if (!role || !idx ||
        (rc = store_del(st, AUTH_T_DATA, (const uint8_t *)key, strlen(key), ver)) != TR_OK)
        goto out;
    json_object_set_new(role, "name", json_string(to));
    snprintf(key, sizeof(key), "%s/role/%s", uuid, to);
    if ((rc = store_json_put(st, key, role, STORE_VERSION_ABSENT)) != TR_OK)
        goto out;
    snprintf(rid, cap, "%s", json_string_value(json_object_get(role, "role_id")));
    const char *parts[] = {"approle-role-id", uuid, rid};
    if ((rc = auth_mac_hex(parts, 3, h)) != TR_OK)
        goto out;
    snprintf(key, sizeof(key), "%s/roleid/%s", uuid, h);
    rc = store_json_put(st, key, idx, STORE_VERSION_ANY);
out:
    json_decref(idx);
    json_decref(role);
    if (st)
        api_core_store_unref(f->api, st);
    return rc;
}

/* The role `legacy` as the code before lower-casing stored it: made through the API under a
 * name no stored role folds to, then moved (role_move). Its role ID into rid. */
static void legacy_role(struct fx *f, const char *legacy, char *rid, size_t cap)
{
    char path[160], uuid[40];
    json_t *b = NULL;

    assert_int_equal(request(f->api, API_PUT, "/v1/auth/approle/role/made", f->token,
                             "{\"token_policies\":\"p1\"}", NULL),
                     204);
    assert_int_equal(request(f->api, API_GET, "/v1/sys/auth/approle", f->token, NULL, &b), 200);
    snprintf(uuid, sizeof(uuid), "%s", json_string_value(json_object_get(b, "uuid")));
    json_decref(b);
    assert_int_equal(role_move(f, uuid, "made", legacy, rid, cap), TR_OK);
    snprintf(path, sizeof(path), "/v1/auth/approle/role/%s/role-id", legacy);
    assert_int_equal(request(f->api, API_GET, path, f->token, NULL, NULL), 200);
}

/* m on auth/approle/role/<name><sub> with body, as tok (NULL: root): the status, the answer
 * into *out (may be NULL). */
static int role_req(struct fx *f, const char *tok, enum api_method m, const char *name,
                    const char *sub, const char *body, json_t **out)
{
    char path[200];

    snprintf(path, sizeof(path), "/v1/auth/approle/role/%s%s", name, sub);
    return req_send(f, m, path, NULL, tok ? tok : f->token, body, out);
}

static void role_list(struct fx *f, char *out, size_t cap)
{
    json_t *b = NULL, *k;
    size_t i, n = 0;

    out[0] = '\0';
    req_send(f, API_LIST, "/v1/auth/approle/role", NULL, f->token, NULL, &b);
    json_array_foreach(json_object_get(json_object_get(b, "data"), "keys"), i, k)
    {
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "", json_string_value(k));
        assert_true(n < cap);
    }
    json_decref(b);
}

/* A fresh secret ID of the role by name, then a login with it: the login's status. */
static int login_through(struct fx *f, const char *name, const char *rid)
{
    char body[512];
    json_t *b = NULL;

    assert_int_equal(role_req(f, NULL, API_PUT, name, "/secret-id", NULL, &b), 200);
    snprintf(body, sizeof(body), "{\"role_id\":\"%s\",\"secret_id\":\"%s\"}", rid,
             json_string_value(json_object_get(json_object_get(b, "data"), "secret_id")));
    api_json_wipe_tree(b);
    json_decref(b);
    int st = req_send(f, API_PUT, "/v1/auth/approle/login", NULL, NULL, body, &b);
    sodium_memzero(body, sizeof(body));
    api_json_wipe_tree(b);
    json_decref(b);
    return st;
}

/* The role stored as "CaseRole" answers to "caserole" and "CASEROLE": read, role ID, update
 * (on its own record: no second role appears), secret IDs, delete (which the old lookup left
 * undone: a 204 with the role and its secret IDs still working). */
static void test_api_routes_approle_legacy_folded(void **state)
{
    struct fx *f = *state;
    char rid[80], list[256];
    json_t *b = NULL;

    legacy_role(f, "CaseRole", rid, sizeof(rid));
    assert_int_equal(role_req(f, NULL, API_GET, "caserole", "/role-id", NULL, &b), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "data"), "role_id")),
                        rid);
    json_decref(b);
    assert_int_equal(role_req(f, NULL, API_PUT, "CASEROLE", "", "{\"token_ttl\":\"5m\"}", NULL),
                     204);
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "CaseRole");
    assert_int_equal(role_req(f, NULL, API_GET, "caserole", "", NULL, &b), 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "data"), "token_ttl")),
                     300);
    json_decref(b);
    assert_int_equal(login_through(f, "caserole", rid), 200);
    assert_int_equal(role_req(f, NULL, API_DELETE, "caserole", "", NULL, NULL), 204);
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "");
    assert_int_equal(role_req(f, NULL, API_GET, "CaseRole", "", NULL, NULL), 404);
}

/* Two stored roles that fold to the same name: the folded name reaches neither (400, nothing
 * created or deleted); each stays reachable by its exact name. */
static void test_api_routes_approle_legacy_ambiguous(void **state)
{
    struct fx *f = *state;
    char rid1[80], rid2[80], list[256];
    json_t *b = NULL;

    legacy_role(f, "Db", rid1, sizeof(rid1));
    legacy_role(f, "DB", rid2, sizeof(rid2));
    static const enum api_method ms[] = {API_GET, API_PUT, API_DELETE};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        assert_int_equal(role_req(f, NULL, ms[i], "db", "", ms[i] == API_PUT ? "{}" : NULL, &b),
                         400);
        assert_non_null(strstr(json_string_value(json_array_get(json_object_get(b, "errors"), 0)),
                               "ambiguous"));
        json_decref(b);
    }
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "DB,Db");
    assert_int_equal(role_req(f, NULL, API_GET, "Db", "/role-id", NULL, &b), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "data"), "role_id")),
                        rid1);
    json_decref(b);
    assert_int_equal(role_req(f, NULL, API_DELETE, "DB", "", NULL, NULL), 204);
    assert_int_equal(role_req(f, NULL, API_GET, "db", "/role-id", NULL, &b), 200); /* Db now */
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "data"), "role_id")),
                        rid1);
    json_decref(b);
}

/* The ACL decides on the path storage uses too: a deny on the stored name holds against the
 * folded name, while a grant covering both lets it through. */
static void test_api_routes_approle_legacy_acl(void **state)
{
    struct fx *f = *state;
    char rid[80], list[256], tok[128];
    json_t *b = NULL;

    legacy_role(f, "Ops", rid, sizeof(rid));
    assert_int_equal(
        request(f->api, API_PUT, "/v1/sys/policies/acl/approle-admin", f->token,
                "{\"policy\":\"path \\\"auth/approle/role/*\\\" { capabilities = "
                "[\\\"read\\\", \\\"update\\\", \\\"delete\\\"] }\\n"
                "path \\\"auth/approle/role/Ops\\\" { capabilities = [\\\"deny\\\"] }\"}",
                NULL),
        204);
    assert_int_equal(request(f->api, API_PUT, "/v1/auth/token/create", f->token,
                             "{\"policies\":[\"approle-admin\"]}", &b),
                     200);
    snprintf(tok, sizeof(tok), "%s",
             json_string_value(json_object_get(json_object_get(b, "auth"), "client_token")));
    api_json_wipe_tree(b);
    json_decref(b);
    assert_int_equal(role_req(f, tok, API_DELETE, "ops", "", NULL, NULL), 403);
    assert_int_equal(role_req(f, tok, API_DELETE, "Ops", "", NULL, NULL), 403);
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "Ops");
    assert_int_equal(role_req(f, tok, API_GET, "ops", "/role-id", NULL, NULL), 200);
    assert_int_equal(role_req(f, NULL, API_DELETE, "ops", "", NULL, NULL), 204); /* root */
    role_list(f, list, sizeof(list));
    assert_string_equal(list, "");
    sodium_memzero(tok, sizeof(tok));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_routes_tables_served, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_routes_unsupported_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_routes_approle_legacy_folded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_routes_approle_legacy_ambiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_routes_approle_legacy_acl, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
