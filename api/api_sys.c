#include "api_int.h"

#include <stdio.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "../common/tr_json.h"
#include "../enclave/enclave.h"

/* What sys/health and sys/seal-status report, from the trusted core. */
struct sys_state {
    struct enc_status enc;
    const char *seal_type;
    bool sealed;
};

static const char *const seal_type_names[] = {"shamir", "tpm2", "devkey", "gramine"};
static const char *const reason_names[] = {"", "sealed_by_operator", "rollback_detected",
                                           "tamper_detected", "fatal_error"};

static void sys_state_get(const struct api *api, struct sys_state *st)
{
    (void)api;
    memset(st, 0, sizeof(*st));
    enc_status_get(&st->enc);
    st->seal_type = seal_type_names[st->enc.seal_type];
    st->sealed = st->enc.state != ENC_UNSEALED;
}

/* Any integer code is honoured (the Go client sends 299); junk is a 400 with no detail. */
static bool health_code(const json_t *q, const char *name, int def, int *out)
{
    const char *s = tr_json_get_str(q, name);
    int64_t v;

    *out = def;
    if (!s)
        return true;
    if (!tr_parse_int64(s, &v) || v < 100 || v > 999)
        return false;
    *out = (int)v;
    return true;
}

void api_sys_health(struct api_call *c)
{
    struct sys_state st;
    int uninit, sealed, active, standby;
    bool b;

    if (c->method != API_GET && c->method != API_HEAD) {
        api_reply_error(c, 405, NULL);
        return;
    }
    const char *sok = tr_json_get_str(c->query, "standbyok");
    const char *pok = tr_json_get_str(c->query, "perfstandbyok");
    if (!health_code(c->query, "uninitcode", 501, &uninit) ||
        !health_code(c->query, "sealedcode", 503, &sealed) ||
        !health_code(c->query, "activecode", 200, &active) ||
        !health_code(c->query, "standbycode", 429, &standby) || (sok && !tr_parse_bool(sok, &b)) ||
        (pok && !tr_parse_bool(pok, &b))) {
        api_reply_error(c, 400, NULL);
        return;
    }
    sys_state_get(c->api, &st);
    int code = !st.enc.initialized ? uninit : st.sealed ? sealed : active;
    json_t *o =
        json_pack("{s:b, s:b, s:b, s:b, s:s, s:s, s:I, s:s}", "initialized", st.enc.initialized,
                  "sealed", st.sealed, "standby", st.sealed, "performance_standby", 0,
                  "replication_performance_mode", "disabled", "replication_dr_mode", "disabled",
                  "server_time_utc", (json_int_t)time(NULL), "version", c->api->opts.version);
    api_reply_json(c, code, o);
}

json_t *api_sys_seal_status_json(const struct api *api)
{
    struct sys_state st;

    sys_state_get(api, &st);
    bool init = st.enc.initialized;
    json_t *o = json_pack("{s:s, s:b, s:b, s:i, s:i, s:i, s:s, s:s, s:s, s:b, s:b, s:s}", "type",
                          st.seal_type, "initialized", init, "sealed", st.sealed, "t",
                          (int)st.enc.threshold, "n", (int)st.enc.shares, "progress",
                          (int)st.enc.progress, "nonce", st.enc.nonce, "version", api->opts.version,
                          "build_date", api->opts.build_date, "migration", 0, "recovery_seal",
                          init && st.enc.auto_unseal, "storage_type", "lmdb");
    if (!o)
        return NULL;
    if (st.sealed && st.enc.reason != ENC_REASON_NONE)
        json_object_set_new(o, "sealed_reason", json_string(reason_names[st.enc.reason]));
    if (st.enc.insecure)
        json_object_set_new(o, "warnings",
                            json_pack("[s]", "INSECURE: devkey seal; the master key is stored "
                                             "next to the data (dev and tests only)"));
    return o;
}

void api_sys_seal_status(struct api_call *c)
{
    if (c->method != API_GET) {
        api_reply_error(c, 405, NULL);
        return;
    }
    api_reply_json(c, 200, api_sys_seal_status_json(c->api));
}

void api_sys_leader(struct api_call *c)
{
    if (c->method != API_GET) {
        api_reply_error(c, 405, NULL);
        return;
    }
    json_t *o = json_pack("{s:b, s:b, s:s, s:s, s:s, s:b, s:i}", "ha_enabled", 0, "is_self", 0,
                          "active_time", "0001-01-01T00:00:00Z", "leader_address", "",
                          "leader_cluster_address", "", "performance_standby", 0,
                          "performance_standby_last_remote_wal", 0);
    api_reply_json(c, 200, o);
}

/* Vault accepts a share as hex or standard base64 (vault-api.md §2.2). Decoded into guarded
 * memory; *out_len is the share length. */
static int decode_share(const char *text, struct enc_secret **out, size_t *out_len)
{
    struct enc_secret *s = NULL;
    size_t n = 0;
    int rc = enc_secret_alloc(ENC_SHARE_BYTES + 32, &s);

    *out = NULL;
    if (rc != TR_OK)
        return rc;
    uint8_t *buf = enc_secret_data(s);
    size_t cap = enc_secret_len(s);
    if (sodium_hex2bin(buf, cap, text, strlen(text), NULL, &n, NULL) != 0 || n < 16 ||
        n > ENC_SHARE_BYTES) {
        if (sodium_base642bin(buf, cap, text, strlen(text), NULL, &n, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            n < 16 || n > ENC_SHARE_BYTES) {
            enc_secret_free(s);
            return TR_E_INVAL;
        }
    }
    *out = s;
    *out_len = n;
    return TR_OK;
}

static void unseal_with_key(struct api_call *c, json_t *key, const struct enc_status *st)
{
    struct enc_secret *share = NULL;
    size_t len = 0;
    uint32_t progress;
    bool authorized;
    int rc;

    if (decode_share(json_string_value(key), &share, &len) != TR_OK) {
        api_reply_error(c, 400, "'key' must be a valid hex or base64 string");
        return;
    }
    /* An auto-unseal seal that failed (changed PCRs, new TPM) opens with recovery shares. */
    if (st->auto_unseal)
        rc = enc_recovery_submit(enc_secret_data(share), len, &progress, &authorized);
    else
        rc = enc_unseal_submit(enc_secret_data(share), len, NULL);
    enc_secret_free(share);
    if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, "'key' must be a valid hex or base64 string");
        return;
    }
    if (rc == TR_E_AUTH) {
        api_reply_error(c, 400, "cipher: message authentication failed");
        return;
    }
    if (rc != TR_OK) {
        api_reply_error(c, 500, tr_strerror(rc));
        return;
    }
    api_core_after_unseal(c->api);
    api_reply_json(c, 200, api_sys_seal_status_json(c->api));
}

void api_sys_unseal(struct api_call *c)
{
    struct enc_status st;
    json_t *body = NULL;
    bool reset = false, bad;

    if (c->method != API_PUT) {
        api_reply_error(c, 405, NULL);
        return;
    }
    if (!api_body_object(c, &body))
        return;
    enc_status_get(&st);
    json_t *key = json_object_get(body, "key");
    tr_json_get_bool(body, "reset", &reset, &bad);
    if (!st.initialized) {
        api_reply_error(c, 400, "Vault is not initialized");
    } else if (reset) {
        if (st.state == ENC_UNSEALED || enc_unseal_reset() != TR_OK)
            api_reply_error(c, 400, "vault is unsealed");
        else
            api_reply_json(c, 200, api_sys_seal_status_json(c->api));
    } else if (!json_is_string(key)) {
        api_reply_error(c, 400,
                        "'key' must be specified in request body as JSON, or 'reset' set to true");
    } else if (st.state == ENC_UNSEALED) {
        api_reply_json(c, 200, api_sys_seal_status_json(c->api));
    } else {
        unseal_with_key(c, key, &st);
    }
    api_json_wipe_string(key);
    json_decref(body);
}
