/* Unit tests for the YAML config loader (server/config.c) and common/ helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/tr_json.h"
#include "../../server/config.h"

static const char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/tresor-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static int load(const char *text, struct srv_config **cfg, char *err, size_t errlen)
{
    const char *p = write_tmp(text);
    int rc = srv_config_load(p, cfg, err, errlen);
    unlink(p);
    return rc;
}

#define GOOD                                                                                       \
    "listener:\n"                                                                                  \
    "  address: \"127.0.0.1:8200\"\n"                                                              \
    "  tls_cert_file: /tmp/c.crt\n"                                                                \
    "  tls_key_file: /tmp/c.key\n"                                                                 \
    "storage:\n"                                                                                   \
    "  path: /tmp/data\n"                                                                          \
    "seal:\n"                                                                                      \
    "  type: tpm2\n"                                                                               \
    "  tpm2: { tcti: \"swtpm:host=127.0.0.1,port=2321\", pcrs: [7, 16] }\n"                        \
    "counter:\n"                                                                                   \
    "  type: tpm2\n"                                                                               \
    "  tpm2: { tcti: \"swtpm:host=127.0.0.1,port=2321\", nv_index: 0x01500016 }\n"                 \
    "log: { level: debug, format: json }\n"

static void test_config_load_good(void **state)
{
    struct srv_config *cfg = NULL;
    char err[256] = "";
    (void)state;

    assert_int_equal(load(GOOD, &cfg, err, sizeof(err)), TR_OK);
    assert_string_equal(cfg->listen_address, "127.0.0.1:8200");
    assert_string_equal(cfg->seal_type, "tpm2");
    assert_int_equal(cfg->seal_tpm2_npcrs, 2);
    assert_int_equal(cfg->seal_tpm2_pcrs[1], 16);
    assert_int_equal(cfg->counter_tpm2_nv_index, 0x01500016);
    assert_string_equal(cfg->tls_profile, "modern"); /* default */
    assert_int_equal(cfg->max_request_bytes, 1048576);
    assert_int_equal(cfg->audit_rotate_bytes, 0); /* rotation only on SIGHUP by default */
    assert_int_equal(cfg->audit_rotate_keep, 0);
    struct enc_config ecfg;
    assert_int_equal(srv_config_enclave(cfg, &ecfg), TR_OK);
    assert_int_equal(ecfg.seal_type, ENC_SEAL_TPM2);
    assert_int_equal(ecfg.counter_type, ENC_COUNTER_TPM2);
    assert_int_equal(ecfg.npcrs, 2);
    srv_config_free(cfg);
}

struct bad_case {
    const char *yaml;
    const char *expect; /* substring of the error */
};

static void test_config_load_errors_name_key_and_line(void **state)
{
    static const struct bad_case cases[] = {
        {"listener:\n  address: x\n  tls_cert_file: a\n  tls_key_file: b\n  bogus: 1\n"
         "storage: {path: /x}\nseal: {type: shamir}\n",
         ":5: unknown key 'listener.bogus'"},
        {"listener: {address: x, tls_cert_file: a}\nstorage: {path: /x}\nseal: {type: shamir}\n",
         ":1: missing required key 'listener.tls_key_file'"},
        {"listener: {address: x, tls_cert_file: a, tls_key_file: b, workers: many}\n"
         "storage: {path: /x}\nseal: {type: shamir}\n",
         "key 'listener.workers' must be an integer"},
        {"listener: {address: x, tls_cert_file: a, tls_key_file: b}\nstorage: {path: /x}\n"
         "seal: {type: hsm}\n",
         ":3: key 'seal.type' has an unsupported value 'hsm'"},
        {"listener: {address: x, tls_cert_file: a, tls_key_file: b}\nstorage: {path: /x}\n"
         "seal: {type: tpm2}\n",
         "seal.tpm2.tcti is missing"},
        {"listener: [1, 2]\n", ":1: key 'listener' must be a mapping"},
        {"listener: {address: x\n", "YAML syntax error"},
        {"", "empty"},
        {"- just\n- a list\n", "must be a mapping"},
        {"listener: {address: x, tls_cert_file: a, tls_key_file: b}\nlistener: {}\n",
         ":2: duplicate key 'listener'"},
        {"listener: {address: x, tls_cert_file: a, tls_key_file: b, max_request_bytes: 5}\n"
         "storage: {path: /x}\nseal: {type: shamir}\n",
         "out of range"},
        {"listener: {address: x, tls_cert_file: a, tls_key_file: b}\nstorage: {path: /x}\n"
         "seal: {type: shamir, allow_insecure: maybe}\n",
         "must be true or false"},
        {"listener: {address: x, tls_cert_file: a, tls_key_file: b}\nstorage: {path: /x}\n"
         "seal: {type: shamir}\naudit: {path: /a, rotate_bytes: 4096}\n",
         "audit.rotate_bytes must be 0 (off) or at least 1048576"},
        {"listener: {address: x, tls_cert_file: a, tls_key_file: b}\nstorage: {path: /x}\n"
         "seal: {type: shamir}\naudit: {path: /a, rotate_keep: -1}\n",
         "out of range"},
        {"listener: {address: x, tls_cert_file: a, tls_key_file: b}\nstorage: {path: /x}\n"
         "seal: {type: shamir}\naudit: {path: /a, anchor_interval_ms: 1000, "
         "anchor_max_lag_ms: 1500}\n",
         "audit.anchor_max_lag_ms must be 0 (off) or at least twice audit.anchor_interval_ms"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct srv_config *cfg = NULL;
        char err[256] = "";
        assert_int_equal(load(cases[i].yaml, &cfg, err, sizeof(err)), TR_E_CONFIG);
        assert_null(cfg);
        if (!strstr(err, cases[i].expect))
            fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].expect);
    }
}

static void test_config_load_audit_rotation(void **state)
{
    struct srv_config *cfg = NULL;
    char err[256] = "";
    (void)state;

    assert_int_equal(load(GOOD "audit: {path: /a, rotate_bytes: 268435456, rotate_keep: 4}\n", &cfg,
                          err, sizeof(err)),
                     TR_OK);
    assert_string_equal(cfg->audit_path, "/a");
    assert_int_equal(cfg->audit_rotate_bytes, 268435456);
    assert_int_equal(cfg->audit_rotate_keep, 4);
    assert_int_equal(cfg->audit_anchor_max_lag_ms, 0); /* never refuse by default */
    srv_config_free(cfg);
    cfg = NULL;
    assert_int_equal(
        load(GOOD "audit: {path: /a, anchor_max_lag_ms: 30000}\n", &cfg, err, sizeof(err)), TR_OK);
    assert_int_equal(cfg->audit_anchor_max_lag_ms, 30000);
    srv_config_free(cfg);
}

#define LISTENER_HEAD                                                                              \
    "listener:\n"                                                                                  \
    "  address: x\n"                                                                               \
    "  tls_cert_file: a\n"                                                                         \
    "  tls_key_file: b\n"
#define REST_TAIL "storage: {path: /x}\nseal: {type: shamir}\n"

/* listener.telemetry.unauthenticated_metrics_access: a boolean, false unless set (and in -dev). */
static void test_config_load_telemetry(void **state)
{
    static const struct bad_case bad[] = {
        {LISTENER_HEAD "  telemetry: {unauthenticated_metrics_access: maybe}\n" REST_TAIL,
         ":5: key 'listener.telemetry.unauthenticated_metrics_access' must be true or false"},
        {LISTENER_HEAD "  telemetry: {unauthenticated_metrics_access: [true]}\n" REST_TAIL,
         ":5: key 'listener.telemetry.unauthenticated_metrics_access' must be a scalar value"},
        {LISTENER_HEAD "  telemetry: {unauthenticated_metrics_access: {a: 1}}\n" REST_TAIL,
         "key 'listener.telemetry.unauthenticated_metrics_access' must be a scalar value"},
        {LISTENER_HEAD "  telemetry: true\n" REST_TAIL,
         ":5: key 'listener.telemetry' must be a mapping"},
        {LISTENER_HEAD "  unauthenticated_metrics_access: true\n" REST_TAIL,
         ":5: unknown key 'listener.unauthenticated_metrics_access'"},
        {LISTENER_HEAD "  telemetry: {prometheus_retention_time: 24h}\n" REST_TAIL,
         ":5: unknown key 'listener.telemetry.prometheus_retention_time'"},
        {LISTENER_HEAD "  telemetry:\n    unauthenticated_metrics_access: true\n"
                       "    unauthenticated_metrics_access: false\n" REST_TAIL,
         ":7: duplicate key 'listener.telemetry.unauthenticated_metrics_access'"},
    };
    static const struct {
        const char *yaml;
        bool want;
    } good[] = {
        {LISTENER_HEAD REST_TAIL, false},
        {LISTENER_HEAD "  telemetry: {}\n" REST_TAIL, false},
        {LISTENER_HEAD "  telemetry: {unauthenticated_metrics_access: true}\n" REST_TAIL, true},
        {LISTENER_HEAD "  telemetry:\n    unauthenticated_metrics_access: false\n" REST_TAIL,
         false},
        {LISTENER_HEAD "  telemetry: {unauthenticated_metrics_access: \"true\"}\n" REST_TAIL, true},
    };
    struct srv_config *cfg = NULL;
    char err[256] = "";
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (load(good[i].yaml, &cfg, err, sizeof(err)) != TR_OK)
            fail_msg("good case %zu: %s", i, err);
        if (cfg->unauthenticated_metrics_access != good[i].want)
            fail_msg("good case %zu: got %d", i, cfg->unauthenticated_metrics_access);
        srv_config_free(cfg);
        cfg = NULL;
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(load(bad[i].yaml, &cfg, err, sizeof(err)), TR_E_CONFIG);
        assert_null(cfg);
        if (!strstr(err, bad[i].expect))
            fail_msg("bad case %zu: error '%s' lacks '%s'", i, err, bad[i].expect);
    }
    assert_int_equal(srv_config_dev("/tmp/tresor-dev", "127.0.0.1:0", &cfg), TR_OK);
    assert_false(cfg->unauthenticated_metrics_access); /* -dev keeps the token requirement */
    srv_config_free(cfg);
}

static void test_config_load_missing_file(void **state)
{
    struct srv_config *cfg = NULL;
    char err[256] = "";
    (void)state;

    assert_int_equal(srv_config_load("/nonexistent/tresor.yaml", &cfg, err, sizeof(err)), TR_E_IO);
    assert_non_null(strstr(err, "/nonexistent/tresor.yaml"));
}

static void test_json_parse_limits(void **state)
{
    json_t *j = NULL;
    char err[160];
    char deep[200];
    (void)state;

    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(tr_json_parse(deep, sizeof(deep), NULL, &j, err, sizeof(err)), TR_E_TOO_LARGE);
    assert_null(j);
    assert_int_equal(tr_json_parse("{\"a\":1,\"a\":2}", 13, NULL, &j, err, sizeof(err)),
                     TR_E_INVAL);
    assert_non_null(strstr(err, "duplicate"));
    assert_int_equal(tr_json_parse("{\"a\":", 5, NULL, &j, err, sizeof(err)), TR_E_INVAL);
    assert_int_equal(tr_json_parse("{\"a\":\"[[[[\"}", 12, NULL, &j, err, sizeof(err)), TR_OK);
    json_decref(j);
}

static void test_json_coercion(void **state)
{
    json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:n}", "n", "42", "i", 7, "b", "true", "d",
                          "1h30m", "junk", "x1", "nul");
    int64_t v;
    bool b, bad;
    (void)state;

    assert_true(tr_json_get_int(o, "n", &v, &bad) && v == 42);
    assert_true(tr_json_get_int(o, "i", &v, &bad) && v == 7);
    assert_false(tr_json_get_int(o, "junk", &v, &bad));
    assert_true(bad);
    assert_false(tr_json_get_int(o, "nul", &v, &bad));
    assert_false(bad);
    assert_true(tr_json_get_bool(o, "b", &b, &bad) && b);
    assert_true(tr_json_get_duration(o, "d", &v, &bad) && v == 5400);
    assert_true(tr_parse_duration("768h", &v) && v == 768 * 3600);
    assert_false(tr_parse_duration("5x", &v));
    assert_false(tr_parse_duration("99999999999999999999h", &v));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_load_good),
        cmocka_unit_test(test_config_load_errors_name_key_and_line),
        cmocka_unit_test(test_config_load_audit_rotation),
        cmocka_unit_test(test_config_load_telemetry),
        cmocka_unit_test(test_config_load_missing_file),
        cmocka_unit_test(test_json_parse_limits),
        cmocka_unit_test(test_json_coercion),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
