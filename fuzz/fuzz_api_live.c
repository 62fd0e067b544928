/*
 * fuzz_api_live - the authenticated Vault API over a real store: api_handle() on the daemon's
 * -dev core (srv_config_dev, devkey seal, api_start: initialised, unsealed, KV v2 at secret/),
 * called directly (no sockets, no TLS). At startup the harness enables kv1/ (KV v1), transit/,
 * approle/ and a canary KV v1 mount with a random name holding one secret, and mints an orphan
 * root token (the fuzzer's); the dev root token is the harness's own and is never sent by an
 * input.
 * Input: 1-8 requests, each a method, a path joined from a dictionary of route fragments (mount
 * names, endpoints, a few key names and versions) or raw bytes, an optional query (list, version,
 * help, format, depth, context, ... or raw), a token (the fuzzer's root, none, garbage, or one an
 * earlier request of the input created), and a body of raw bytes or built from a dictionary of
 * field names and values (values captured from earlier answers included: tokens, accessors,
 * AppRole ids, transit ciphertexts and signatures).
 * Invariants: done is called exactly once per request; no 5xx but the documented ones (500 for a
 * renewal past a lowered max TTL or of a role-made token whose role is gone, transit public-key
 * export of a key that cannot sign and a certificate chain; transit batches with a
 * partial_failure_response_code; sys/health's query codes); JSON answers parse, other content
 * types are the metrics text and the backup snapshot with 200; an error is Vault's
 * {"errors":[...]} of strings (KV v2's 404 envelope and failed transit batches aside); the dev
 * root token never appears in an answer, the fuzzer's root only on auth/token/ paths; after each
 * input the canary secret reads back intact with the dev root token unless the input named the
 * canary mount (then it is put back).
 * Requests the harness does not send: sys/seal (the core stays unsealed) and enabling a
 * kubernetes auth method (its logins call out over the network). State is bounded by a reset
 * through the API every RESET_EVERY inputs: every mount, auth method, policy, token role and
 * token (but the dev root's) the fuzzer made goes, and the startup mounts come back empty.
 * FUZZ_API_TRACE=1 prints every request and answer.
 */
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../api/api.h"
#include "../server/config.h"
#include "util.h"

#define REQS_MAX    8
#define RESET_EVERY 2000
#define CAP_SLOTS   8
#define CAP_LEN     512
#define TOK_MAX     128

static struct srv_config *cfg;
static struct api *api;
static char dev_root[TOK_MAX], fz_root[TOK_MAX], dev_accessor[64];
static char canary_mount[40], canary_value[40];
static unsigned long inputs;
static bool trace;

/* Values captured from answers, offered to later requests of the same input. */
static char caps[CAP_SLOTS][CAP_LEN];
static unsigned ncaps, capn;
static char cap_tokens[4][TOK_MAX];
static unsigned ntokens;

/* ---- one request, one answer ----------------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct api_resp *got;
static uintptr_t seq_now;
static int calls;

static void done(void *arg, struct api_resp *resp)
{
    pthread_mutex_lock(&mu);
    FUZZ_CHECK((uintptr_t)arg == seq_now); /* a late second answer to an earlier request */
    got = resp;
    calls++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static struct api_resp *run(const struct api_req *req)
{
    struct timespec dl;
    struct api_resp *r;

    pthread_mutex_lock(&mu);
    seq_now++;
    calls = 0;
    got = NULL;
    pthread_mutex_unlock(&mu);
    api_handle(api, req, done, (void *)seq_now);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 20;
    pthread_mutex_lock(&mu);
    while (calls == 0)
        FUZZ_CHECK(pthread_cond_timedwait(&cv, &mu, &dl) == 0); /* a stalled request */
    FUZZ_CHECK(calls == 1);
    r = got;
    pthread_mutex_unlock(&mu);
    FUZZ_CHECK(r != NULL);
    return r;
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz: %s\n", what);
    exit(2);
}

/* A request of the harness's own (setup, probes, reset); returns the status, *out the JSON. */
static int call(enum api_method m, const char *path, const char *token, const char *body,
                json_t **out)
{
    char uri[512];
    struct api_req req = {.method = m,
                          .uri_path = uri,
                          .token = token,
                          .content_type = "application/json",
                          .remote_ip = "127.0.0.1",
                          .body = (const uint8_t *)body,
                          .body_len = body ? strlen(body) : 0};
    struct api_resp *r;
    int st;

    snprintf(uri, sizeof(uri), "/v1/%s", path);
    r = run(&req);
    st = r->status;
    if (out)
        *out = r->body && r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    api_resp_free(r);
    return st;
}

/* ---- setup and reset ------------------------------------------------------------------------- */

static void mint_fz_root(void)
{
    json_t *j = NULL;
    const char *t;

    if (call(API_PUT, "auth/token/create-orphan", dev_root, "{\"policies\":[\"root\"]}", &j) !=
            200 ||
        !(t = json_string_value(json_object_get(json_object_get(j, "auth"), "client_token"))) ||
        strlen(t) >= sizeof(fz_root))
        die("cannot mint the fuzzer's root token");
    memcpy(fz_root, t, strlen(t) + 1);
    json_decref(j);
}

static void canary_put(void)
{
    char path[80], body[96];

    snprintf(path, sizeof(path), "sys/mounts/%s", canary_mount);
    (void)call(API_PUT, path, dev_root, "{\"type\":\"kv\"}", NULL); /* 409 when it is there */
    snprintf(path, sizeof(path), "%s/c", canary_mount);
    snprintf(body, sizeof(body), "{\"v\":\"%s\"}", canary_value);
    if (call(API_PUT, path, dev_root, body, NULL) != 204)
        die("cannot write the canary");
}

static void mounts_up(void)
{
    (void)call(API_PUT, "sys/mounts/secret", dev_root,
               "{\"type\":\"kv\",\"options\":{\"version\":2}}", NULL);
    (void)call(API_PUT, "sys/mounts/kv1", dev_root, "{\"type\":\"kv\"}", NULL);
    (void)call(API_PUT, "sys/mounts/transit", dev_root, "{\"type\":\"transit\"}", NULL);
    (void)call(API_PUT, "sys/auth/approle", dev_root, "{\"type\":\"approle\"}", NULL);
}

static void setup(void)
{
    static char dir[256];
    static struct api_opts ao = {.version = "fuzz", .build_date = "2024-01-01T00:00:00Z"};
    struct enc_config ecfg;
    char *tok = NULL, *share = NULL;
    uint8_t rnd[8];
    json_t *j = NULL;
    const char *a;

    fuzz_init();
    /* OpenSSL loads its configuration once, on the first thread that needs it, and that thread's
     * error state is never freed when it exits; the daemon does it on the main thread (its TLS
     * contexts), so must the harness, or the first api pool thread to encrypt is reported. */
    if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL))
        die("OpenSSL initialisation");
    snprintf(dir, sizeof(dir), "%s/srv", fuzz_scratch());
    if (srv_config_dev(dir, "127.0.0.1:0", &cfg) != TR_OK || mkdir(dir, 0700) != 0 ||
        srv_config_enclave(cfg, &ecfg) != TR_OK || enc_init(&ecfg) != TR_OK)
        die("cannot prepare the dev core");
    ao.data_dir = cfg->storage_path;
    ao.dev = true;
    if (api_new(&ao, &api) != TR_OK || api_start(api, &tok, &share) != TR_OK || !tok ||
        strlen(tok) >= sizeof(dev_root))
        die("api_start did not initialise the dev core");
    memcpy(dev_root, tok, strlen(tok) + 1);
    sodium_memzero(tok, strlen(tok));
    free(tok);
    if (share)
        sodium_memzero(share, strlen(share));
    free(share);
    if (call(API_GET, "auth/token/lookup-self", dev_root, NULL, &j) != 200 ||
        !(a = json_string_value(json_object_get(json_object_get(j, "data"), "accessor"))) ||
        strlen(a) >= sizeof(dev_accessor))
        die("cannot look the dev root token up");
    memcpy(dev_accessor, a, strlen(a) + 1);
    json_decref(j);
    randombytes_buf(rnd, sizeof(rnd));
    snprintf(canary_mount, sizeof(canary_mount), "canary-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    randombytes_buf(rnd, sizeof(rnd));
    snprintf(canary_value, sizeof(canary_value), "%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    mounts_up();
    canary_put();
    mint_fz_root();
}

static void teardown(void)
{
    api_free(api);
    srv_config_free(cfg);
    enc_fini();
    sodium_memzero(dev_root, sizeof(dev_root));
    sodium_memzero(fz_root, sizeof(fz_root));
}

/* Each key of the object at data (or of data.keys when it is a list) that keep() refuses goes
 * through DELETE prefix + key. */
static void delete_each(enum api_method m, const char *list_path, const char *prefix, bool is_list,
                        bool (*keep)(const char *))
{
    json_t *j = NULL, *d;
    char path[1200];

    if (call(m, list_path, dev_root, NULL, &j) != 200) {
        json_decref(j);
        return;
    }
    d = json_object_get(j, "data");
    if (is_list) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(d, "keys"), i, v)
        {
            const char *k = json_string_value(v);
            if (!k || (keep && keep(k)))
                continue;
            snprintf(path, sizeof(path), "%s%s", prefix, k);
            (void)call(API_DELETE, path, dev_root, NULL, NULL);
        }
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v)
        {
            if (keep && keep(k))
                continue;
            snprintf(path, sizeof(path), "%s%s", prefix, k);
            (void)call(API_DELETE, path, dev_root, NULL, NULL);
        }
    }
    json_decref(j);
}

static bool keep_mount(const char *k)
{
    size_t n = strlen(canary_mount);

    return !strcmp(k, "sys/") || !strcmp(k, "cubbyhole/") || !strcmp(k, "identity/") ||
           (!strncmp(k, canary_mount, n) && k[n] == '/' && !k[n + 1]);
}

static bool keep_auth(const char *k)
{
    return !strcmp(k, "token/");
}

static bool keep_policy(const char *k)
{
    return !strcmp(k, "root") || !strcmp(k, "default");
}

/* Everything the fuzzer made goes, through the API; the startup state comes back. */
static void reset(void)
{
    json_t *j = NULL, *v;
    size_t i;
    char body[128];

    delete_each(API_GET, "sys/mounts", "sys/mounts/", false, keep_mount);
    delete_each(API_GET, "sys/auth", "sys/auth/", false, keep_auth);
    delete_each(API_LIST, "sys/policies/acl", "sys/policies/acl/", true, keep_policy);
    delete_each(API_LIST, "auth/token/roles", "auth/token/roles/", true, NULL);
    if (call(API_LIST, "auth/token/accessors", dev_root, NULL, &j) == 200)
        json_array_foreach(json_object_get(json_object_get(j, "data"), "keys"), i, v)
        {
            const char *a = json_string_value(v);
            if (!a || !strcmp(a, dev_accessor))
                continue;
            snprintf(body, sizeof(body), "{\"accessor\":\"%s\"}", a);
            (void)call(API_PUT, "auth/token/revoke-accessor", dev_root, body, NULL);
        }
    json_decref(j);
    (void)call(API_PUT, "sys/auth/token/tune", dev_root,
               "{\"default_lease_ttl\":\"system\",\"max_lease_ttl\":\"system\",\"description\":"
               "\"\",\"listing_visibility\":\"\"}",
               NULL);
    mounts_up();
    canary_put();
    mint_fz_root();
}

/* ---- the input ------------------------------------------------------------------------------- */

/* Route fragments, joined with '/'. */
static const char *const frags[] = {
    "secret",
    "kv1",
    "transit",
    "approle",
    "sys",
    "auth",
    "token",
    "data",
    "metadata",
    "delete",
    "undelete",
    "destroy",
    "subkeys",
    "config",
    "a",
    "b",
    "c",
    "x/y",
    "1",
    "2",
    "0",
    "-1",
    "secret/data",
    "secret/metadata",
    "secret/config",
    "secret/delete",
    "secret/undelete",
    "secret/destroy",
    "secret/subkeys",
    "kv1/a",
    "kv1/b",
    "sys/mounts",
    "sys/mounts/secret",
    "sys/mounts/kv1",
    "sys/mounts/transit",
    "sys/mounts/m1",
    "sys/mounts/m2",
    "tune",
    "sys/auth",
    "sys/auth/approle",
    "sys/auth/token/tune",
    "sys/auth/a1",
    "sys/policies/acl",
    "sys/policy",
    "p1",
    "p2",
    "default",
    "root",
    "sys/capabilities",
    "sys/capabilities-self",
    "sys/capabilities-accessor",
    "sys/internal/ui/mounts",
    "sys/key-status",
    "sys/rotate",
    "sys/metrics",
    "sys/health",
    "sys/seal-status",
    "sys/leader",
    "sys/leases/lookup",
    "sys/leases/renew",
    "sys/leases/revoke",
    "sys/leases/revoke-prefix",
    "sys/audit",
    "sys/audit-hash/file",
    "sys/step-down",
    "sys/storage/backup",
    "sys/remount",
    "auth/token/create",
    "auth/token/create-orphan",
    "auth/token/lookup",
    "auth/token/lookup-self",
    "auth/token/lookup-accessor",
    "auth/token/renew",
    "auth/token/renew-self",
    "auth/token/renew-accessor",
    "auth/token/revoke",
    "auth/token/revoke-self",
    "auth/token/revoke-accessor",
    "auth/token/revoke-orphan",
    "auth/token/roles",
    "auth/token/accessors",
    "r1",
    "r2",
    "auth/approle/role",
    "role-id",
    "secret-id",
    "auth/approle/login",
    "secret-id/lookup",
    "secret-id/destroy",
    "transit/keys",
    "transit/encrypt",
    "transit/decrypt",
    "transit/rewrap",
    "transit/sign",
    "transit/verify",
    "transit/hmac",
    "transit/datakey/plaintext",
    "transit/datakey/wrapped",
    "transit/export/public-key",
    "transit/export/encryption-key",
    "transit/export/certificate-chain",
    "transit/random",
    "transit/hash",
    "k1",
    "k2",
    "rotate",
    "trim",
    "latest",
    "sha2-512",
    "hex",
    "m1",
    "m2",
    "m1/data",
    "m1/metadata",
    "kv1/x/y",
    "cubbyhole",
    "identity",
    "auth/a1/login",
    "auth/a1/role",
    "cert",
    "certs",
    "login",
};
#define NFRAGS (sizeof(frags) / sizeof(frags[0]))

static const char *const queries[] = {
    "list=true",
    "list=1",
    "help=1",
    "help=0",
    "version=1",
    "version=2",
    "version=0",
    "version=-1",
    "version=abc",
    "format=prometheus",
    "format=json",
    "depth=1",
    "depth=0",
    "context=YWJj",
    "list=true&help=1",
    "standbyok=true",
    "cas=1",
    "version=99999999999999999999",
};
#define NQUERIES (sizeof(queries) / sizeof(queries[0]))

static const char *const fields[] = {
    "type",
    "options",
    "version",
    "data",
    "cas",
    "max_versions",
    "cas_required",
    "delete_version_after",
    "custom_metadata",
    "versions",
    "description",
    "config",
    "default_lease_ttl",
    "max_lease_ttl",
    "listing_visibility",
    "policy",
    "rules",
    "policies",
    "paths",
    "path",
    "token",
    "accessor",
    "ttl",
    "explicit_max_ttl",
    "period",
    "renewable",
    "num_uses",
    "no_parent",
    "no_default_policy",
    "display_name",
    "meta",
    "increment",
    "allowed_policies",
    "disallowed_policies",
    "orphan",
    "path_suffix",
    "token_period",
    "token_bound_cidrs",
    "token_type",
    "role_id",
    "secret_id",
    "bind_secret_id",
    "secret_id_ttl",
    "token_ttl",
    "token_policies",
    "plaintext",
    "ciphertext",
    "context",
    "associated_data",
    "key_version",
    "batch_input",
    "partial_failure_response_code",
    "input",
    "signature",
    "hmac",
    "algorithm",
    "hash_algorithm",
    "marshaling_algorithm",
    "prehashed",
    "bits",
    "format",
    "derived",
    "exportable",
    "deletion_allowed",
    "min_decryption_version",
    "min_encryption_version",
    "min_available_version",
    "auto_rotate_period",
    "key_size",
    "from",
    "to",
    "lease_id",
    "v",
    "reference",
    "depth",
    "force_no_cache",
    "audit_non_hmac_request_keys",
    "token_explicit_max_ttl",
    "bytes",
    "lease",
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *const strvals[] = {
    "",
    "kv",
    "kv-v1",
    "kv-v2",
    "transit",
    "approle",
    "cert",
    "1",
    "2",
    "3",
    "-1",
    "0",
    "1h",
    "1s",
    "30m",
    "768h",
    "system",
    "unauth",
    "hidden",
    "service",
    "batch",
    "default-service",
    "root",
    "default",
    "p1",
    "p2",
    "secret/*",
    "secret/data/a",
    "kv1/a",
    "transit/keys/k1",
    "path \"secret/*\" { capabilities = [\"read\", \"list\"] }",
    "path \"*\" { capabilities = [\"deny\"] }",
    "{\"path\":{\"kv1/*\":{\"capabilities\":[\"create\",\"update\",\"sudo\"]}}}",
    "cGF0aCAic2VjcmV0LyoiIHsgY2FwYWJpbGl0aWVzID0gWyJyZWFkIl0gfQ==",
    "aGVsbG8=",
    "YWJj",
    "",
    "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "vault:v0:",
    "vault:v9:eA==",
    "aes256-gcm96",
    "aes128-gcm96",
    "chacha20-poly1305",
    "xchacha20-poly1305",
    "ed25519",
    "ecdsa-p256",
    "hmac",
    "sha2-256",
    "sha2-512",
    "sha3-256",
    "jws",
    "asn1",
    "base64",
    "hex",
    "1,2",
    "10.0.0.0/8",
    "127.0.0.1/32",
    "k1",
    "a",
    "b",
    "r1",
    "secret/",
    "kv1/",
    "m1/",
};
#define NSTRVALS (sizeof(strvals) / sizeof(strvals[0]))

static json_t *value(struct fuzz_in *in, int depth);

static json_t *small_obj(struct fuzz_in *in, int depth)
{
    json_t *o = json_object();
    unsigned n = fuzz_u8(in) % 4;

    for (unsigned i = 0; i < n; i++)
        json_object_set_new(o, fields[fuzz_u8(in) % NFIELDS], value(in, depth + 1));
    return o;
}

static json_t *value(struct fuzz_in *in, int depth)
{
    uint8_t k = fuzz_u8(in);
    const uint8_t *p;
    size_t n;

    switch (k % 12) {
    case 0:
    case 1:
    case 2:
        return json_string(strvals[fuzz_u8(in) % NSTRVALS]);
    case 3:
        return json_integer((int8_t)fuzz_u8(in));
    case 4:
        return json_integer((json_int_t)fuzz_u32(in));
    case 5:
        return json_boolean(fuzz_u8(in) & 1);
    case 6:
        return json_null();
    case 7: { /* a value an earlier answer gave (a token, accessor, id, ciphertext) */
        unsigned i = fuzz_u8(in);
        return json_string(ncaps ? caps[i % ncaps] : "");
    }
    case 8: { /* raw bytes; invalid UTF-8 would not dump, raw bodies cover it */
        char tmp[65];
        n = fuzz_lspan(in, 64, &p);
        memcpy(tmp, p, n);
        tmp[n] = '\0';
        json_t *s = json_stringn(tmp, n);
        for (size_t i = 0; !s && i < n; i++)
            tmp[i] = (char)(tmp[i] & 0x7f);
        return s ? s : json_stringn(tmp, n);
    }
    case 9:
    case 10:
        if (depth < 3) {
            json_t *a = json_array();
            unsigned m = fuzz_u8(in) % 4;
            for (unsigned i = 0; i < m; i++)
                json_array_append_new(a, value(in, depth + 1));
            return a;
        }
        return json_string(strvals[fuzz_u8(in) % NSTRVALS]);
    default:
        return depth < 3 ? small_obj(in, depth) : json_integer(1);
    }
}

/* One request's pieces, all owned. */
struct req_buf {
    struct fuzz_str path, query, body;
    char token[CAP_LEN];
    enum api_method m;
    bool has_query, has_token;
};

static void build_path(struct fuzz_in *in, struct fuzz_str *s)
{
    unsigned n = fuzz_u8(in) % 6;

    fuzz_str_add(s, "/v1/", 4);
    for (unsigned i = 0; i < n; i++) {
        uint8_t sel = fuzz_u8(in);
        if (i)
            fuzz_str_add(s, "/", 1);
        if (sel < 0xf0) {
            fuzz_str_add(s, frags[sel % NFRAGS], strlen(frags[sel % NFRAGS]));
        } else if (sel < 0xf8) {
            const uint8_t *p;
            size_t len = fuzz_lspan(in, 32, &p);
            fuzz_str_add(s, p, len);
        } else { /* the canary's mount: its exemption is part of what is tested */
            fuzz_str_add(s, canary_mount, strlen(canary_mount));
        }
    }
    if (fuzz_u8(in) % 8 == 0)
        fuzz_str_add(s, "/", 1);
}

static void build_req(struct fuzz_in *in, struct req_buf *r)
{
    static const enum api_method methods[] = {API_GET,  API_PUT,   API_PUT,  API_DELETE,
                                              API_LIST, API_PATCH, API_HEAD, API_OTHER};
    uint8_t hdr = fuzz_u8(in);
    const uint8_t *p;
    size_t n;

    memset(r, 0, sizeof(*r));
    r->m = methods[hdr & 7];
    build_path(in, &r->path);
    fuzz_str_add(&r->query, "", 0);
    fuzz_str_add(&r->body, "", 0);
    if (hdr & 0x80) {
        uint8_t q = fuzz_u8(in);
        r->has_query = true;
        if (q < 0xe0) {
            fuzz_str_add(&r->query, queries[q % NQUERIES], strlen(queries[q % NQUERIES]));
        } else {
            n = fuzz_lspan(in, 64, &p);
            fuzz_str_add(&r->query, p, n);
        }
    }
    r->has_token = true;
    switch ((hdr >> 3) & 3) {
    case 0:
        snprintf(r->token, sizeof(r->token), "%s", fz_root);
        break;
    case 1:
        r->has_token = false;
        break;
    case 2: { /* a token an earlier request created, else the fuzzer's root */
        uint8_t i = fuzz_u8(in);
        snprintf(r->token, sizeof(r->token), "%s", ntokens ? cap_tokens[i % ntokens] : fz_root);
        break;
    }
    default:
        n = fuzz_lspan(in, 48, &p);
        memcpy(r->token, p, n);
        r->token[n] = '\0'; /* may stop early at a NUL: still garbage */
        break;
    }
    switch ((hdr >> 5) & 3) {
    case 0:
        break;
    case 1:
        n = fuzz_lspan(in, 1024, &p);
        fuzz_str_add(&r->body, p, n);
        break;
    default: {
        json_t *o = small_obj(in, 0);
        unsigned more = fuzz_u8(in) % 4; /* small_obj gives at most 3 */
        for (unsigned i = 0; i < more; i++)
            json_object_set_new(o, fields[fuzz_u8(in) % NFIELDS], value(in, 1));
        char *t = json_dumps(o, JSON_COMPACT);
        FUZZ_CHECK(t != NULL);
        fuzz_str_add(&r->body, t, strlen(t));
        free(t);
        json_decref(o);
        break;
    }
    }
}

/* ---- checks ---------------------------------------------------------------------------------- */

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The path as the router sees it: %XX decoded, "//" collapsed, without "/v1/" (leading '/'s
 * dropped too). NULs stop it, as they stop the router's C string. */
static void canonical(const char *raw, struct fuzz_str *out)
{
    fuzz_str_add(out, "", 0);
    if (!strncmp(raw, "/v1/", 4))
        raw += 4;
    for (size_t i = 0; raw[i]; i++) {
        int c = (unsigned char)raw[i];
        if (c == '%' && hexval(raw[i + 1]) >= 0 && hexval(raw[i + 2]) >= 0) {
            c = hexval(raw[i + 1]) * 16 + hexval(raw[i + 2]);
            i += 2;
        }
        if (c == '/' && (out->len == 0 || out->p[out->len - 1] == '/'))
            continue;
        char ch = (char)c;
        fuzz_str_add(out, &ch, 1);
    }
}

/* The body's text with JSON escapes undone (jansson's dump of what it parses), else the bytes. */
static void body_text(const struct req_buf *r, struct fuzz_str *out)
{
    json_t *j = json_loadb(r->body.p, r->body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    fuzz_str_add(out, "", 0);
    fuzz_str_add(out, r->body.p, r->body.len);
    if (t)
        fuzz_str_add(out, t, strlen(t));
    free(t);
    json_decref(j);
}

static bool has(const struct fuzz_str *s, const char *what)
{
    return memmem(s->p, s->len, what, strlen(what)) != NULL;
}

/* Whether token tok is in [p, p + n), compared with sodium_memcmp (libFuzzer does not watch it,
 * so the fuzzer does not learn the token from the check; see fuzz_http.c). */
static bool has_token(const char *p, size_t n, const char *tok)
{
    size_t tl = strlen(tok);

    for (const char *q = p, *end = p + n; (q = memmem(q, (size_t)(end - q), "hvs.", 4)); q++)
        if ((size_t)(end - q) >= tl && sodium_memcmp(q, tok, tl) == 0)
            return true;
    return false;
}

/* A documented 500 (docs/api.md: tokens, transit export). */
static bool is_documented_500(const json_t *j)
{
    static const char *const ok[] = {
        "past the max TTL, cannot renew", "failed to renew entry: original token role \"",
        "selected key version does not have a certificate chain", "unknown key type "};
    const char *e = json_string_value(json_array_get(json_object_get(j, "errors"), 0));

    for (size_t i = 0; e && i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strncmp(e, ok[i], strlen(ok[i])))
            return true;
    return false;
}

static bool is_error_shape(const json_t *j)
{
    json_t *e = json_object_get(j, "errors"), *v;
    size_t i;

    if (!json_is_array(e))
        return false;
    json_array_foreach(e, i, v)
    {
        if (!json_is_string(v))
            return false;
    }
    return true;
}

static void capture(const json_t *j)
{
    static const char *const keys[] = {"client_token",       "accessor",   "role_id",   "secret_id",
                                       "secret_id_accessor", "ciphertext", "signature", "hmac",
                                       "plaintext"};
    const json_t *parts[] = {json_object_get(j, "auth"), json_object_get(j, "data")};

    for (size_t p = 0; p < 2; p++)
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            const char *s = json_string_value(json_object_get(parts[p], keys[i]));
            if (!s || strlen(s) >= CAP_LEN || !strcmp(s, dev_accessor))
                continue;
            if (p == 0 && i == 0 && ntokens < 4)
                snprintf(cap_tokens[ntokens++], TOK_MAX, "%s", s);
            snprintf(caps[capn++ % CAP_SLOTS], CAP_LEN, "%s", s); /* the newest CAP_SLOTS */
            ncaps = capn < CAP_SLOTS ? capn : CAP_SLOTS;
        }
}

static void check(const struct fuzz_str *canon, const struct fuzz_str *btext,
                  const struct api_resp *r)
{
    json_t *j = NULL;
    bool health = !strncmp(canon->p, "sys/health", 10) && canon->len <= 11;
    bool batch = has(btext, "partial_failure_response_code");
    const json_t *results = NULL;

    if (r->body && r->body_len && !r->body_suppressed) {
        FUZZ_CHECK(r->content_type != NULL);
        if (!strcmp(r->content_type, "application/json")) {
            j = json_loadb(r->body, r->body_len, 0, NULL);
            FUZZ_CHECK(j != NULL);
            results = json_object_get(json_object_get(j, "data"), "batch_results");
        } else { /* sys/metrics and the backup snapshot */
            FUZZ_CHECK(r->status == 200);
            FUZZ_CHECK(!strcmp(r->content_type, "application/octet-stream") ||
                       !strncmp(r->content_type, "text/plain", 10));
        }
    }
    if (!health) {
        FUZZ_CHECK(r->status >= 200 && r->status <= 599);
        if (r->status >= 500 && !(batch && results))
            FUZZ_CHECK(r->status == 500 && is_documented_500(j));
        if (r->status >= 400 && j && !results && !(r->status == 404 && json_object_get(j, "data")))
            FUZZ_CHECK(is_error_shape(j));
    }
    if (r->body && r->body_len) {
        FUZZ_CHECK(!has_token(r->body, r->body_len, dev_root));
        if (!has(canon, "auth/token"))
            FUZZ_CHECK(!has_token(r->body, r->body_len, fz_root));
    }
    if (j && r->status == 200)
        capture(j);
    json_decref(j);
}

/* Whether the harness keeps req from the server (see the header comment). */
static bool is_refused(const struct req_buf *r, const struct fuzz_str *canon,
                       const struct fuzz_str *btext)
{
    if (!strncmp(canon->p, "sys/seal", 8) && (canon->len == 8 || canon->p[8] == '/'))
        return true;
    return !strncmp(canon->p, "sys/auth", 8) && r->m != API_GET && has(btext, "kubernetes");
}

static void probe(bool named_canary)
{
    char path[80];
    json_t *j = NULL;
    const char *v;
    int st;

    snprintf(path, sizeof(path), "%s/c", canary_mount);
    st = call(API_GET, path, dev_root, NULL, &j);
    v = json_string_value(json_object_get(json_object_get(j, "data"), "v"));
    if (named_canary) {
        if (st != 200 || !v || strcmp(v, canary_value) != 0)
            canary_put();
    } else {
        FUZZ_CHECK(st == 200); /* nothing the input did may lose an acknowledged write */
        FUZZ_CHECK(v && !strcmp(v, canary_value));
    }
    json_decref(j);
    /* The fuzzer may revoke its own root token (revoke-self, its accessor): mint another. */
    if (call(API_GET, "auth/token/lookup-self", fz_root, NULL, NULL) != 200)
        mint_fz_root();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    bool named_canary = false;

    if (size > 16u * 1024)
        return 0;
    if (!api) {
        setup();
        atexit(teardown); /* after fuzz_init's: runs first, before the scratch dir goes */
        trace = getenv("FUZZ_API_TRACE") != NULL;
    }
    ncaps = capn = ntokens = 0;
    unsigned nreq = fuzz_u8(&in) % REQS_MAX + 1;
    for (unsigned i = 0; i < nreq && in.left; i++) {
        struct req_buf rq;
        struct fuzz_str canon = {0}, btext = {0};
        build_req(&in, &rq);
        canonical(rq.path.p, &canon);
        body_text(&rq, &btext);
        if (has(&canon, canary_mount) || has(&btext, canary_mount))
            named_canary = true;
        if (!is_refused(&rq, &canon, &btext)) {
            struct api_req req = {
                .method = rq.m,
                .uri_path = rq.path.p,
                .query = rq.has_query ? rq.query.p : NULL,
                .token = rq.has_token ? rq.token : NULL,
                .content_type =
                    rq.m == API_PATCH ? "application/merge-patch+json" : "application/json",
                .remote_ip = "127.0.0.1",
                .body = (const uint8_t *)rq.body.p,
                .body_len = rq.body.len,
            };
            struct api_resp *r = run(&req);
            if (trace)
                fprintf(stderr, "> %d %s?%s %.*s\n< %d %.*s\n", (int)rq.m, rq.path.p,
                        req.query ? req.query : "", (int)rq.body.len, rq.body.p, r->status,
                        r->body_suppressed ? 0 : (int)r->body_len, r->body ? r->body : "");
            check(&canon, &btext, r);
            api_resp_free(r);
        }
        free(canon.p);
        free(btext.p);
        free(rq.path.p);
        free(rq.query.p);
        free(rq.body.p);
    }
    probe(named_canary);
    if (++inputs % RESET_EVERY == 0)
        reset();
    return 0;
}
