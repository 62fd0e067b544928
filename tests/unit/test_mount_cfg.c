/*
 * test_mount_cfg - the pure parts of mount tuning (api/api_mount_cfg.h): lease TTL parsing
 * ("system", seconds, Go durations), Vault's enable and tune checks with their messages, the
 * KV version rules, option maps, what the mount tables and tune reads show, and the TTL
 * precedence of login tokens. A seeded loop of random tune bodies checks the invariants every
 * stored record keeps (TTLs within the system max, max not below default). Random inputs come
 * from a seed printed at start (TR_TEST_SEED).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../api/api_mount_cfg.h"

static const struct api_mount_kind_info kv = {.auth = false, .type = "kv"};
static const struct api_mount_kind_info transit = {.auth = false, .type = "transit"};
static const struct api_mount_kind_info approle = {.auth = true, .type = "approle"};
static const struct api_mount_kind_info token = {.auth = true, .type = "token"};

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *o = json_loads(text, JSON_DECODE_ANY, &e);
    assert_non_null(o);
    return o;
}

static int64_t ival(const json_t *o, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(o, key));
}

/* ---- TTL values ------------------------------------------------------------------------- */

static void expect_ttl(const char *text, int64_t want)
{
    json_t *v = js(text);
    int64_t out = -1;
    bool set = false;

    assert_int_equal(api_mount_ttl_parse(v, &out, &set), TR_OK);
    assert_true(set);
    assert_int_equal(out, want);
    json_decref(v);
}

static void expect_ttl_bad(const char *text)
{
    json_t *v = js(text);
    int64_t out = 77;
    bool set = true;

    assert_int_equal(api_mount_ttl_parse(v, &out, &set), TR_E_INVAL);
    assert_int_equal(out, 77); /* untouched on failure */
    assert_true(set);
    json_decref(v);
}

static void test_mount_ttl_parse_forms(void **state)
{
    int64_t out = 5;
    bool set = true;
    json_t *v;

    (void)state;
    assert_int_equal(api_mount_ttl_parse(NULL, &out, &set), TR_OK);
    assert_false(set);
    set = true;
    v = js("null");
    assert_int_equal(api_mount_ttl_parse(v, &out, &set), TR_OK);
    assert_false(set);
    json_decref(v);
    set = true;
    v = js("\"\"");
    assert_int_equal(api_mount_ttl_parse(v, &out, &set), TR_OK);
    assert_false(set);
    json_decref(v);
    expect_ttl("\"system\"", 0);
    expect_ttl("0", 0);
    expect_ttl("3600", 3600);
    expect_ttl("\"3600\"", 3600);
    expect_ttl("\"1h\"", 3600);
    expect_ttl("\"1h30m\"", 5400);
    expect_ttl("\"90s\"", 90);
    expect_ttl("\"768h\"", 2764800);
}

static void test_mount_ttl_parse_bad(void **state)
{
    (void)state;
    expect_ttl_bad("-1");
    expect_ttl_bad("\"-5\"");
    expect_ttl_bad("\"abc\"");
    expect_ttl_bad("\"1x\"");
    expect_ttl_bad("\"System\"");
    expect_ttl_bad("true");
    expect_ttl_bad("1.5");
    expect_ttl_bad("[3600]");
    expect_ttl_bad("{}");
    expect_ttl_bad("\"99999999999999999999999\"");
}

/* ---- enable ----------------------------------------------------------------------------- */

static void expect_enable_err(const char *config, const struct api_mount_kind_info *k, int rc,
                              const char *msg)
{
    json_t *c = js(config), *out = (json_t *)1;
    char err[API_MOUNT_ERR_MAX] = "";

    assert_int_equal(api_mount_cfg_enable(c, k, &out, err, sizeof(err)), rc);
    assert_null(out);
    assert_string_equal(err, msg);
    json_decref(c);
}

static void test_mount_cfg_enable_ttls(void **state)
{
    json_t *c, *out = NULL;
    char err[API_MOUNT_ERR_MAX] = "";

    (void)state;
    c = js("{\"default_lease_ttl\":\"1h\",\"max_lease_ttl\":7200}");
    assert_int_equal(api_mount_cfg_enable(c, &kv, &out, err, sizeof(err)), TR_OK);
    assert_int_equal(ival(out, "default_lease_ttl"), 3600);
    assert_int_equal(ival(out, "max_lease_ttl"), 7200);
    json_decref(out);
    json_decref(c);
    /* the CLI sends every key, unset ones as "": nothing is stored */
    c = js("{\"default_lease_ttl\":\"\",\"max_lease_ttl\":\"\",\"force_no_cache\":false,"
           "\"options\":null,\"listing_visibility\":\"\"}");
    assert_int_equal(api_mount_cfg_enable(c, &kv, &out, err, sizeof(err)), TR_OK);
    assert_int_equal(json_object_size(out), 0);
    json_decref(out);
    json_decref(c);
    assert_int_equal(api_mount_cfg_enable(NULL, &kv, &out, err, sizeof(err)), TR_OK);
    assert_int_equal(json_object_size(out), 0);
    json_decref(out);
    expect_enable_err("{\"default_lease_ttl\":\"2h\",\"max_lease_ttl\":\"1h\"}", &kv, TR_E_INVAL,
                      "given default lease TTL greater than given max lease TTL");
    expect_enable_err("{\"default_lease_ttl\":\"769h\"}", &kv, TR_E_INVAL,
                      "given default lease TTL greater than system max lease TTL of 2764800");
    expect_enable_err("{\"max_lease_ttl\":\"87600h\"}", &kv, TR_E_INVAL,
                      "given max lease TTL greater than system max lease TTL of 2764800");
    expect_enable_err("{\"default_lease_ttl\":\"abc\"}", &kv, TR_E_INVAL,
                      "unable to parse default TTL of abc: time: invalid duration \"abc\"");
    expect_enable_err("{\"max_lease_ttl\":-3}", &kv, TR_E_INVAL,
                      "unable to parse max TTL of -3: negative durations are not allowed");
    expect_enable_err("\"ttl=1h\"", &kv, TR_E_INVAL,
                      "unable to convert given mount config information");
}

static void test_mount_cfg_enable_other_keys(void **state)
{
    json_t *c, *out = NULL;
    char err[API_MOUNT_ERR_MAX] = "";

    (void)state;
    c = js("{\"force_no_cache\":true,\"listing_visibility\":\"unauth\","
           "\"audit_non_hmac_request_keys\":\" a, ,b \",\"passthrough_request_headers\":[\"X-A\"],"
           "\"allowed_response_headers\":[],\"token_type\":\"batch\"}");
    /* a secrets engine ignores token_type, as Vault's enable */
    assert_int_equal(api_mount_cfg_enable(c, &kv, &out, err, sizeof(err)), TR_OK);
    assert_true(json_is_true(json_object_get(out, "force_no_cache")));
    assert_string_equal(json_string_value(json_object_get(out, "listing_visibility")), "unauth");
    json_t *want = js("[\"a\",\"b\"]");
    assert_true(json_equal(json_object_get(out, "audit_non_hmac_request_keys"), want));
    json_decref(want);
    assert_int_equal(json_array_size(json_object_get(out, "passthrough_request_headers")), 1);
    assert_null(json_object_get(out, "allowed_response_headers")); /* empty: not stored */
    assert_null(json_object_get(out, "token_type"));
    json_decref(out);
    /* an auth method checks it, and logins mint service tokens only */
    out = (json_t *)1;
    assert_int_equal(api_mount_cfg_enable(c, &approle, &out, err, sizeof(err)), TR_E_UNSUPPORTED);
    assert_null(out);
    assert_non_null(strstr(err, "batch tokens are not supported"));
    json_decref(c);
    expect_enable_err("{\"token_type\":\"weird\"}", &approle, TR_E_INVAL,
                      "invalid value for 'token_type'");
    expect_enable_err("{\"listing_visibility\":\"public\"}", &kv, TR_E_INVAL,
                      "invalid listing_visibility public");
    expect_enable_err("{\"force_no_cache\":\"maybe\"}", &kv, TR_E_INVAL,
                      "unable to convert given mount config information");
    expect_enable_err("{\"audit_non_hmac_request_keys\":[1]}", &kv, TR_E_INVAL,
                      "audit_non_hmac_request_keys must be a list of strings (at most 64 of at "
                      "most 256 bytes)");
    expect_enable_err("{\"plugin_version\":\"v1.0.0\"}", &kv, TR_E_UNSUPPORTED,
                      "plugin_version cannot be set: Tresor's engines are built in");
    c = js("{\"token_type\":\"service\"}");
    assert_int_equal(api_mount_cfg_enable(c, &approle, &out, err, sizeof(err)), TR_OK);
    assert_string_equal(json_string_value(json_object_get(out, "token_type")), "service");
    json_decref(out);
    json_decref(c);
}

static void test_mount_opts_parse_cases(void **state)
{
    json_t *o, *out = NULL;
    char err[API_MOUNT_ERR_MAX] = "";

    (void)state;
    o = js("{\"version\":2,\"flag\":true,\"name\":\"x\",\"gone\":null}");
    assert_int_equal(api_mount_opts_parse(o, &out, err, sizeof(err)), TR_OK);
    json_t *want = js("{\"version\":\"2\",\"flag\":\"true\",\"name\":\"x\",\"gone\":\"\"}");
    assert_true(json_equal(out, want));
    json_decref(want);
    json_decref(out);
    json_decref(o);
    assert_int_equal(api_mount_opts_parse(NULL, &out, err, sizeof(err)), TR_OK);
    assert_int_equal(json_object_size(out), 0);
    json_decref(out);
    static const char *const bad[] = {"[1]",         "{\"a\":{}}", "{\"a\":[]}",
                                      "{\"a\":1.5}", "\"v=2\"",    "{\"\":\"x\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o = js(bad[i]);
        out = (json_t *)1;
        assert_int_equal(api_mount_opts_parse(o, &out, err, sizeof(err)), TR_E_INVAL);
        assert_null(out);
        assert_non_null(strstr(err, "options must be a map of strings"));
        json_decref(o);
    }
    o = json_object();
    for (int i = 0; i < 17; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(o, k, json_string("v"));
    }
    assert_int_equal(api_mount_opts_parse(o, &out, err, sizeof(err)), TR_E_INVAL);
    json_decref(o);
}

/* ---- tune ------------------------------------------------------------------------------- */

/* Tune rec_text with body_text; returns the result, *out_rec the record afterwards. */
static int tune(const char *rec_text, const char *body_text, const struct api_mount_kind_info *k,
                json_t **out_rec, char *err)
{
    json_t *rec = js(rec_text), *body = js(body_text);
    int rc;

    err[0] = '\0';
    rc = api_mount_cfg_tune(rec, body, k, err, API_MOUNT_ERR_MAX);
    json_decref(body);
    if (out_rec)
        *out_rec = rec;
    else
        json_decref(rec);
    return rc;
}

static void expect_tune_err(const char *rec, const char *body, const struct api_mount_kind_info *k,
                            int rc, const char *msg)
{
    char err[API_MOUNT_ERR_MAX];

    assert_int_equal(tune(rec, body, k, NULL, err), rc);
    assert_string_equal(err, msg);
}

#define KV1 "{\"type\":\"kv\",\"options\":{\"version\":\"1\"}}"
#define KV2 "{\"type\":\"kv\",\"options\":{\"version\":\"2\"}}"

static void test_mount_cfg_tune_ttls(void **state)
{
    char err[API_MOUNT_ERR_MAX];
    json_t *rec = NULL;
    int64_t def, max;

    (void)state;
    /* an old record without config tunes like an untuned one */
    assert_int_equal(
        tune(KV1, "{\"default_lease_ttl\":\"30m\",\"max_lease_ttl\":3600}", &kv, &rec, err), TR_OK);
    api_mount_cfg_ttls(rec, &def, &max);
    assert_int_equal(def, 1800);
    assert_int_equal(max, 3600);
    /* "" keeps, "system" resets */
    json_t *body = js("{\"default_lease_ttl\":\"\",\"max_lease_ttl\":\"system\"}");
    assert_int_equal(api_mount_cfg_tune(rec, body, &kv, err, sizeof(err)), TR_OK);
    json_decref(body);
    api_mount_cfg_ttls(rec, &def, &max);
    assert_int_equal(def, 1800);
    assert_int_equal(max, API_SYS_MAX_TTL);
    assert_null(json_object_get(json_object_get(rec, "config"), "max_lease_ttl"));
    json_decref(rec);
    expect_tune_err("{\"type\":\"kv\",\"config\":{\"max_lease_ttl\":7200}}",
                    "{\"default_lease_ttl\":\"3h\"}", &kv, TR_E_INVAL,
                    "backend max lease TTL of 7200 would be less than backend default lease TTL "
                    "of 10800");
    expect_tune_err(KV1, "{\"default_lease_ttl\":2764801}", &kv, TR_E_INVAL,
                    "backend default lease TTL of 2764801 would be greater than the system max "
                    "lease TTL of 2764800");
    expect_tune_err(KV1, "{\"max_lease_ttl\":\"87600h\"}", &kv, TR_E_INVAL,
                    "backend max lease TTL of 315360000 would be greater than the system max "
                    "lease TTL of 2764800");
    expect_tune_err(KV1, "{\"max_lease_ttl\":\"soon\"}", &kv, TR_E_INVAL,
                    "unable to parse max TTL of soon: time: invalid duration \"soon\"");
    /* a max below an untuned default is allowed (Vault): the TTL is capped when used */
    assert_int_equal(tune(KV1, "{\"max_lease_ttl\":60}", &kv, &rec, err), TR_OK);
    api_mount_cfg_ttls(rec, &def, &max);
    assert_int_equal(def, API_SYS_DEFAULT_TTL);
    assert_int_equal(max, 60);
    json_decref(rec);
}

static void test_mount_cfg_tune_versions(void **state)
{
    char err[API_MOUNT_ERR_MAX];
    json_t *rec = NULL;

    (void)state;
    assert_int_equal(tune(KV2, "{\"options\":{\"version\":\"2\"}}", &kv, &rec, err), TR_OK);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rec, "options"), "version")), "2");
    json_decref(rec);
    assert_int_equal(tune(KV1, "{\"options\":{\"version\":1}}", &kv, NULL, err), TR_OK);
    expect_tune_err(KV2, "{\"options\":{\"version\":\"1\"}}", &kv, TR_E_INVAL,
                    "cannot downgrade mount from version 2");
    assert_int_equal(tune(KV1, "{\"options\":{\"version\":\"2\"}}", &kv, NULL, err),
                     TR_E_UNSUPPORTED);
    assert_non_null(strstr(err, "upgrading a KV version 1 mount to version 2 is not supported"));
    expect_tune_err(KV1, "{\"options\":{\"version\":\"3\"}}", &kv, TR_E_INVAL,
                    "invalid version provided: 3");
    expect_tune_err(KV1, "{\"options\":{\"version\":\"\"}}", &kv, TR_E_INVAL,
                    "invalid version provided: 0");
    expect_tune_err(KV1, "{\"options\":{\"version\":\"two\"}}", &kv, TR_E_INVAL,
                    "unable to parse options: version \"two\" is not a number");
    expect_tune_err("{\"type\":\"transit\"}", "{\"options\":{\"version\":\"2\"}}", &transit,
                    TR_E_INVAL, "secrets engine \"transit\" does not allow setting a version");
    expect_tune_err("{\"type\":\"approle\"}", "{\"options\":{\"version\":\"1\"}}", &approle,
                    TR_E_INVAL, "auth method \"approle\" does not allow setting a version");
    /* other options merge; an empty value deletes one; an empty map changes nothing */
    assert_int_equal(tune(KV2, "{\"options\":{\"a\":\"1\",\"b\":\"2\"}}", &kv, &rec, err), TR_OK);
    json_t *body = js("{\"options\":{\"a\":\"\",\"c\":3}}");
    assert_int_equal(api_mount_cfg_tune(rec, body, &kv, err, sizeof(err)), TR_OK);
    json_decref(body);
    json_t *want = js("{\"version\":\"2\",\"b\":\"2\",\"c\":\"3\"}");
    assert_true(json_equal(json_object_get(rec, "options"), want));
    json_decref(want);
    body = js("{\"options\":{}}");
    assert_int_equal(api_mount_cfg_tune(rec, body, &kv, err, sizeof(err)), TR_OK);
    json_decref(body);
    assert_int_equal(json_object_size(json_object_get(rec, "options")), 3);
    json_decref(rec);
}

static void test_mount_cfg_tune_other_keys(void **state)
{
    char err[API_MOUNT_ERR_MAX];
    json_t *rec = NULL;

    (void)state;
    assert_int_equal(tune(KV1,
                          "{\"description\":\"tuned\",\"listing_visibility\":\"hidden\","
                          "\"audit_non_hmac_response_keys\":\"x,y\",\"force_no_cache\":true,"
                          "\"allowed_response_headers\":[\"X-B\"]}",
                          &kv, &rec, err),
                     TR_OK);
    const json_t *cfg = json_object_get(rec, "config");
    assert_string_equal(json_string_value(json_object_get(rec, "description")), "tuned");
    assert_string_equal(json_string_value(json_object_get(cfg, "listing_visibility")), "hidden");
    assert_int_equal(json_array_size(json_object_get(cfg, "audit_non_hmac_response_keys")), 2);
    assert_null(json_object_get(cfg, "force_no_cache")); /* Vault's tune ignores it */
    /* empty values remove settings */
    json_t *body = js("{\"listing_visibility\":\"\",\"audit_non_hmac_response_keys\":[]}");
    assert_int_equal(api_mount_cfg_tune(rec, body, &kv, err, sizeof(err)), TR_OK);
    json_decref(body);
    assert_null(json_object_get(cfg, "listing_visibility"));
    assert_null(json_object_get(cfg, "audit_non_hmac_response_keys"));
    assert_int_equal(json_array_size(json_object_get(cfg, "allowed_response_headers")), 1);
    json_decref(rec);
    expect_tune_err(KV1, "{\"token_type\":\"service\"}", &kv, TR_E_INVAL,
                    "'token_type' can only be modified on auth mounts");
    expect_tune_err("{}", "{\"token_type\":\"service\"}", &token, TR_E_INVAL,
                    "'token_type' cannot be set for 'token' or 'ns_token' auth mounts");
    expect_tune_err(KV1, "{\"listing_visibility\":5}", &kv, TR_E_INVAL,
                    "invalid listing_visibility (not a string)");
    expect_tune_err(KV1, "{\"description\":7}", &kv, TR_E_INVAL,
                    "description must be a string of at most 1024 bytes");
    expect_tune_err("{\"type\":\"approle\"}", "{\"user_lockout_config\":{\"lockout_threshold\":3}}",
                    &approle, TR_E_UNSUPPORTED,
                    "user lockout configuration is not supported by Tresor");
    assert_int_equal(
        tune("{\"type\":\"approle\"}", "{\"token_type\":\"default-service\"}", &approle, NULL, err),
        TR_OK);
}

/* ---- rendering -------------------------------------------------------------------------- */

static void test_mount_cfg_render(void **state)
{
    json_t *o, *rec;

    (void)state;
    /* untuned (or a record from before config was stored): 0 in the table, system in tune */
    o = api_mount_cfg_list_json(NULL, false);
    json_t *want = js("{\"default_lease_ttl\":0,\"max_lease_ttl\":0,\"force_no_cache\":false}");
    assert_true(json_equal(o, want));
    json_decref(want);
    json_decref(o);
    o = api_mount_cfg_list_json(NULL, true);
    assert_string_equal(json_string_value(json_object_get(o, "token_type")), "default-service");
    json_decref(o);
    o = api_mount_cfg_tune_json(NULL, false);
    want = js("{\"description\":\"\",\"default_lease_ttl\":2764800,\"max_lease_ttl\":2764800,"
              "\"force_no_cache\":false}");
    assert_true(json_equal(o, want));
    json_decref(want);
    json_decref(o);
    o = api_mount_cfg_options_json(NULL);
    assert_true(json_is_null(o));
    json_decref(o);

    rec = js("{\"type\":\"kv\",\"description\":\"d\",\"options\":{\"version\":\"2\"},\"config\":{"
             "\"default_lease_ttl\":60,\"listing_visibility\":\"unauth\","
             "\"passthrough_request_headers\":[\"X-A\"]}}");
    o = api_mount_cfg_list_json(rec, false);
    want = js("{\"default_lease_ttl\":60,\"max_lease_ttl\":0,\"force_no_cache\":false,"
              "\"listing_visibility\":\"unauth\",\"passthrough_request_headers\":[\"X-A\"]}");
    assert_true(json_equal(o, want));
    json_decref(want);
    json_decref(o);
    o = api_mount_cfg_tune_json(rec, false);
    want = js("{\"description\":\"d\",\"default_lease_ttl\":60,\"max_lease_ttl\":2764800,"
              "\"force_no_cache\":false,\"listing_visibility\":\"unauth\","
              "\"passthrough_request_headers\":[\"X-A\"],\"options\":{\"version\":\"2\"}}");
    assert_true(json_equal(o, want));
    json_decref(want);
    json_decref(o);
    json_decref(rec);
}

/* A secret mount's accessor: the stored one, else (a record from before accessors were stored)
 * derived from type and uuid, the same on every call; a malformed stored value is not shown. */
static void test_mount_accessor(void **state)
{
    const char *uuid = "1f2e3d4c-aaaa-4bbb-8ccc-dddddddddddd";
    char acc[API_MOUNT_ACCESSOR_MAX], again[API_MOUNT_ACCESSOR_MAX];
    json_t *rec;

    (void)state;
    api_mount_accessor(NULL, "kv", uuid, acc, sizeof(acc));
    assert_string_equal(acc, "kv_1f2e3d4c");
    rec = js("{\"type\":\"transit\",\"uuid\":\"1f2e3d4c-aaaa-4bbb-8ccc-dddddddddddd\"}");
    api_mount_accessor(rec, "transit", uuid, acc, sizeof(acc));
    api_mount_accessor(rec, "transit", uuid, again, sizeof(again));
    assert_string_equal(acc, "transit_1f2e3d4c");
    assert_string_equal(acc, again);
    json_decref(rec);
    rec = js("{\"type\":\"kv\",\"accessor\":\"kv_0a0b0c0d\"}");
    api_mount_accessor(rec, "kv", uuid, acc, sizeof(acc));
    assert_string_equal(acc, "kv_0a0b0c0d");
    json_decref(rec);
    static const char *const bad[] = {"{\"accessor\":\"\"}", "{\"accessor\":\"KV_X\"}",
                                      "{\"accessor\":\"kv \\\"x\"}", "{\"accessor\":7}",
                                      "{\"accessor\":\"kv_0123456789abcdef0123456789abcdef\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rec = js(bad[i]);
        api_mount_accessor(rec, "kv", uuid, acc, sizeof(acc));
        assert_string_equal(acc, "kv_1f2e3d4c");
        json_decref(rec);
    }
    api_mount_accessor(NULL, "kv", uuid, acc, 4); /* a short buffer truncates, stays a string */
    assert_string_equal(acc, "kv_");
}

/* ---- random tune bodies ----------------------------------------------------------------- */

static json_t *random_ttl(void)
{
    static const char *const strs[] = {"",    "system", "1h",   "30m", "768h", "769h",
                                       "abc", "-1",     "3600", "0",   "10s",  "87600h"};
    switch (random() % 4) {
    case 0:
        return json_integer((json_int_t)(random() % 3000000) - 1000);
    case 1:
        return json_string(strs[random() % (sizeof(strs) / sizeof(strs[0]))]);
    case 2:
        return json_null();
    default:
        return json_true();
    }
}

/* Whatever a sequence of tunes accepts, the record keeps Vault's and Tresor's invariants, and a
 * refused tune says why. */
static void test_mount_cfg_tune_random(void **state)
{
    unsigned seed = (unsigned)time(NULL);
    const char *env = getenv("TR_TEST_SEED");
    char err[API_MOUNT_ERR_MAX];

    (void)state;
    if (env)
        seed = (unsigned)strtoul(env, NULL, 10);
    printf("test_mount_cfg_tune_random seed %u\n", seed);
    srandom(seed);
    for (int round = 0; round < 200; round++) {
        json_t *rec = js(KV1);
        for (int i = 0; i < 20; i++) {
            json_t *body = json_object();
            if (random() % 2)
                json_object_set_new(body, "default_lease_ttl", random_ttl());
            if (random() % 2)
                json_object_set_new(body, "max_lease_ttl", random_ttl());
            if (random() % 4 == 0)
                json_object_set_new(body, "listing_visibility",
                                    json_string(random() % 2 ? "unauth" : "nope"));
            json_t *copy = json_deep_copy(rec);
            err[0] = '\0';
            int rc = api_mount_cfg_tune(copy, body, &kv, err, sizeof(err));
            if (rc == TR_OK) {
                json_decref(rec);
                rec = copy;
            } else {
                assert_int_equal(rc, TR_E_INVAL);
                assert_true(err[0] != '\0');
                json_decref(copy);
            }
            json_decref(body);
            const json_t *cfg = json_object_get(rec, "config");
            int64_t def = ival(cfg, "default_lease_ttl"), max = ival(cfg, "max_lease_ttl");
            assert_true(def >= 0 && def <= API_SYS_MAX_TTL);
            assert_true(max >= 0 && max <= API_SYS_MAX_TTL);
            assert_false(def && max && max < def);
        }
        json_decref(rec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mount_ttl_parse_forms),
        cmocka_unit_test(test_mount_ttl_parse_bad),
        cmocka_unit_test(test_mount_cfg_enable_ttls),
        cmocka_unit_test(test_mount_cfg_enable_other_keys),
        cmocka_unit_test(test_mount_opts_parse_cases),
        cmocka_unit_test(test_mount_cfg_tune_ttls),
        cmocka_unit_test(test_mount_cfg_tune_versions),
        cmocka_unit_test(test_mount_cfg_tune_other_keys),
        cmocka_unit_test(test_mount_cfg_render),
        cmocka_unit_test(test_mount_accessor),
        cmocka_unit_test(test_mount_cfg_tune_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
