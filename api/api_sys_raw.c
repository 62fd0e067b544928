/* Raw sys endpoints (no envelope, no token): health, seal-status, leader, init, unseal,
 * storage recovery. They are answered before the seal check (vault-api.md §1.9). */
#include "api_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"

/* What sys/health and sys/seal-status report, from the trusted core. */
struct sys_state {
    struct enc_status enc;
    const char *seal_type;
    bool sealed;
    char cluster_name[64];
    char cluster_id[37];
};

static const char *const seal_type_names[] = {"shamir", "tpm2", "devkey", "gramine"};
static const char *const reason_names[] = {"", "sealed_by_operator", "rollback_detected",
                                           "tamper_detected", "fatal_error"};

static void sys_state_get(struct api *api, struct sys_state *st)
{
    memset(st, 0, sizeof(*st));
    enc_status_get(&st->enc);
    st->seal_type = seal_type_names[st->enc.seal_type];
    pthread_mutex_lock(&api->lock);
    /* unsealed means serving: the core is unsealed and the store is open */
    st->sealed = st->enc.state != ENC_UNSEALED || !api->store || api->closing;
    snprintf(st->cluster_name, sizeof(st->cluster_name), "%s", api->cluster_name);
    snprintf(st->cluster_id, sizeof(st->cluster_id), "%s", api->cluster_id);
    pthread_mutex_unlock(&api->lock);
}

/* After a rollback/tamper verdict, seal-status carries the storage evidence (no secrets: counter
 * values, counts, digest prefixes). */
static void add_evidence(struct api *api, json_t *o)
{
    struct store_evidence ev;
    char de[17], da[17];
    json_t *audit_ev = api_anchor_evidence(api->anchor);

    if (audit_ev)
        json_object_set_new(o, "audit_evidence", audit_ev);
    store_evidence(&ev);
    if (ev.verdict == TR_OK)
        return;
    sodium_bin2hex(de, sizeof(de), ev.digest_expected, sizeof(ev.digest_expected));
    sodium_bin2hex(da, sizeof(da), ev.digest_actual, sizeof(ev.digest_actual));
    json_object_set_new(
        o, "storage_evidence",
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:I}", "verdict",
                  ev.verdict == TR_E_ROLLBACK ? "rollback_detected" : "tamper_detected", "cause",
                  ev.what, "table", ev.table, "counter", (json_int_t)ev.counter, "anchor_counter",
                  (json_int_t)ev.anchor_counter, "anchor_epoch", (json_int_t)ev.anchor_epoch,
                  "records_expected", (json_int_t)ev.count_expected, "records_actual",
                  (json_int_t)ev.count_actual, "digest_expected", de, "digest_actual", da, "alarms",
                  (json_int_t)ev.alarms));
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
    /* A 1xx is interim in HTTP, never a final answer with a body (a client would read the body
     * as the next answer): Vault's Go server sends it as interim and the body under 200, which
     * is what its clients see. */
    *out = v < 200 ? 200 : (int)v;
    return true;
}

void api_sys_health(struct api_call *c)
{
    struct sys_state st;
    int uninit, sealed, active, standby, unused_code;
    bool b;

    if (c->method != API_GET && c->method != API_HEAD) {
        api_reply_error(c, 405, NULL);
        return;
    }
    const char *sok = tr_json_get_str(c->query, "standbyok");
    const char *pok = tr_json_get_str(c->query, "perfstandbyok");
    /* The codes of states a single node never is in are still validated, as Vault does. */
    static const char *const unused[] = {"drsecondarycode", "performancestandbycode",
                                         "haunhealthycode", "removedcode"};
    bool junk = false;
    for (size_t i = 0; i < sizeof(unused) / sizeof(unused[0]); i++)
        junk = junk || !health_code(c->query, unused[i], 0, &unused_code);
    if (junk || !health_code(c->query, "uninitcode", 501, &uninit) ||
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
    if (o && !st.sealed) {
        json_object_set_new(o, "cluster_name", json_string(st.cluster_name));
        json_object_set_new(o, "cluster_id", json_string(st.cluster_id));
    }
    api_reply_json(c, code, o);
}

json_t *api_sys_seal_status_json(struct api *api)
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
    if (!st.sealed) {
        json_object_set_new(o, "cluster_name", json_string(st.cluster_name));
        json_object_set_new(o, "cluster_id", json_string(st.cluster_id));
    } else {
        add_evidence(api, o);
    }
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
    int rc = decode_share(json_string_value(key), &share, &len);

    /* the share's text lives in the request body: wipe it before any reply frees the call */
    api_json_wipe_string(key);
    if (rc != TR_OK) {
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
    struct enc_status now;
    enc_status_get(&now);
    if (now.state == ENC_UNSEALED)
        (void)api_core_after_unseal(c->api, false);
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
    if (!st.initialized || reset || st.state == ENC_UNSEALED)
        api_json_wipe_string(key); /* a share that will not be used is not kept either */
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
        unseal_with_key(c, key, &st); /* wipes key before answering */
        return;
    }
}

/* ---- init -------------------------------------------------------------------------------- */

static json_t *shares_json(const struct enc_shares *sh, bool b64)
{
    json_t *a = json_array();
    char buf[2 * ENC_SHARE_BYTES + 8];

    for (uint32_t i = 0; a && i < sh->count; i++) {
        if (b64)
            sodium_bin2base64(buf, sizeof(buf), sh->share[i], sh->share_len,
                              sodium_base64_VARIANT_ORIGINAL);
        else
            sodium_bin2hex(buf, sizeof(buf), sh->share[i], sh->share_len);
        json_array_append_new(a, json_string(buf));
        sodium_memzero(buf, sizeof(buf));
    }
    return a;
}

static int dev_mounts(struct api *api)
{
    static const char *const kv2 = "{\"type\":\"kv\",\"options\":{\"version\":\"2\"},"
                                   "\"description\":\"key/value secret storage\"}";
    struct store *st = api_core_store_ref(api);
    int rc = st ? api_mount_create(api, st, "secret/", kv2) : TR_E_SEALED;
    if (st)
        api_core_store_unref(api, st);
    return rc;
}

/*
 * Initialise the core, unseal it once to create the store, the default policy and the root
 * token, then (shamir) seal again: after init a shamir server is initialised but sealed, as in
 * Vault. *out_root is owned by the caller.
 */
static int init_flow(struct api *api, uint32_t n, uint32_t t, struct enc_shares *sh,
                     char **out_root)
{
    struct enc_status es;
    struct store *st = NULL;
    int rc;

    *out_root = NULL;
    if ((rc = enc_initialize(n, t, sh)) != TR_OK)
        return rc;
    enc_status_get(&es);
    if (es.auto_unseal) {
        rc = enc_unseal_auto();
    } else {
        for (uint32_t i = 0; i < t && rc == TR_OK; i++)
            rc = enc_unseal_submit(sh->share[i], sh->share_len, NULL);
    }
    if (rc != TR_OK)
        return rc;
    if ((rc = api_core_after_unseal(api, true)) != TR_OK)
        return rc;
    if (api->opts.dev && (rc = dev_mounts(api)) != TR_OK)
        return rc;
    if (!(st = api_core_store_ref(api)))
        return TR_E_SEALED;
    rc = api_policy_store_default(st);
    if (rc == TR_OK)
        rc = api_token_create_root(st, out_root);
    api_core_store_unref(api, st);
    if (rc == TR_OK && !es.auto_unseal) {
        api_core_seal(api, ENC_REASON_NONE);
        enc_seal(ENC_REASON_NONE); /* Vault: initialised but sealed until the shares come */
    }
    return rc;
}

static bool init_args(struct api_call *c, json_t *body, uint32_t *n, uint32_t *t)
{
    int64_t shares = 0, thr = 0, rs = 0, rt = 0;
    bool bad1, bad2, bad3, bad4;
    struct enc_status es;

    enc_status_get(&es);
    tr_json_get_int(body, "secret_shares", &shares, &bad1);
    tr_json_get_int(body, "secret_threshold", &thr, &bad2);
    tr_json_get_int(body, "recovery_shares", &rs, &bad3);
    tr_json_get_int(body, "recovery_threshold", &rt, &bad4);
    json_t *pgp = json_object_get(body, "pgp_keys");
    if (bad1 || bad2 || bad3 || bad4) {
        api_reply_error(c, 400, "Field validation failed: error converting input");
        return false;
    }
    if (json_is_array(pgp) && json_array_size(pgp) > 0) {
        /* Vault would PGP-encrypt the shares; handing them out in clear would surprise */
        api_reply_error(c, 400, "pgp_keys are not supported by Tresor");
        return false;
    }
    if (!es.auto_unseal && (rs || rt)) {
        api_reply_error(c, 400,
                        "parameters recovery_shares,recovery_threshold not applicable "
                        "to seal type shamir");
        return false;
    }
    if (es.auto_unseal && rs) { /* auto-unseal seals hand out recovery shares */
        shares = rs;
        thr = rt;
    }
    const char *err = shares < 1 ? "shares must be at least one"
                      : thr < 1  ? "threshold must be at least one"
                      : shares > 1 && thr < 2
                          ? "threshold must be greater than one for multiple shares"
                      : thr > shares ? "threshold cannot be larger than shares"
                      : shares > 255 ? "shares must be at most 255"
                                     : NULL;
    if (err) {
        api_reply_error(c, 400, err);
        return false;
    }
    *n = (uint32_t)shares;
    *t = (uint32_t)thr;
    return true;
}

void api_sys_init(struct api_call *c)
{
    struct enc_status es;
    struct enc_shares *sh = NULL;
    char *root = NULL;
    json_t *body;
    uint32_t n, t;

    if (c->method == API_GET) {
        enc_status_get(&es);
        api_reply_json(c, 200, json_pack("{s:b}", "initialized", es.initialized));
        return;
    }
    if (c->method != API_PUT) {
        api_reply_error(c, 405, NULL);
        return;
    }
    enc_status_get(&es);
    if (es.initialized) {
        api_reply_error(c, 400, "Vault is already initialized");
        return;
    }
    if (!api_body_object(c, &body) || !init_args(c, body, &n, &t))
        return;
    if (!(sh = sodium_malloc(sizeof(*sh)))) {
        api_reply_error(c, 500, "internal error");
        return;
    }
    int rc = init_flow(c->api, n, t, sh, &root);
    if (rc == TR_E_EXISTS) {
        api_reply_error(c, 400, "Vault is already initialized");
    } else if (rc != TR_OK) {
        tr_log_error("init failed: %s", tr_strerror(rc));
        api_reply_error(c, 500, tr_strerror(rc));
    } else {
        bool rec = es.auto_unseal;
        json_t *o = json_pack("{s:o, s:o, s:s}", rec ? "recovery_keys" : "keys",
                              shares_json(sh, false), rec ? "recovery_keys_base64" : "keys_base64",
                              shares_json(sh, true), "root_token", root);
        if (o && rec) {
            json_object_set_new(o, "keys", json_array());
            json_object_set_new(o, "keys_base64", json_array());
        }
        tr_log_info("initialised with %u share(s), threshold %u", n, t);
        api_reply_json(c, 200, o);
    }
    sodium_free(sh);
    if (root) {
        sodium_memzero(root, strlen(root));
        free(root);
    }
}

/* ---- storage recovery (quorum-authorised re-anchor after a rollback/tamper verdict) ------ */

void api_sys_storage_recover(struct api_call *c)
{
    struct enc_status es;
    struct enc_secret *share = NULL;
    uint32_t progress = 0;
    bool authorized = false;
    size_t len = 0;
    json_t *body;

    if (c->method != API_PUT) {
        api_reply_error(c, 405, NULL);
        return;
    }
    if (!api_body_object(c, &body))
        return;
    json_t *key = json_object_get(body, "key");
    enc_status_get(&es);
    if (!es.initialized) {
        api_reply_error(c, 400, "Vault is not initialized");
        return;
    }
    if (!json_is_string(key) || decode_share(json_string_value(key), &share, &len) != TR_OK) {
        api_json_wipe_string(key);
        api_reply_error(c, 400, "'key' must be a valid hex or base64 recovery/unseal share");
        return;
    }
    api_json_wipe_string(key);
    int rc = enc_recovery_submit(enc_secret_data(share), len, &progress, &authorized);
    enc_secret_free(share);
    if (rc == TR_E_AUTH) {
        api_reply_error(c, 400, "cipher: message authentication failed");
        return;
    }
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    if (authorized)
        rc = api_core_recover(c->api);
    if (rc != TR_OK) {
        api_reply_error(c, 503, tr_strerror(rc));
        return;
    }
    api_reply_json(c, 200,
                   json_pack("{s:i, s:i, s:b}", "progress", (int)progress, "t", (int)es.threshold,
                             "complete", authorized));
}

/* ---- server start ------------------------------------------------------------------------ */

int api_start(struct api *api, char **out_root_token, char **out_share_hex)
{
    struct enc_status es;
    struct enc_shares *sh = NULL;
    int rc = TR_OK;

    *out_root_token = NULL;
    *out_share_hex = NULL;
    enc_status_get(&es);
    if (!es.initialized && api->opts.dev) {
        if (!(sh = sodium_malloc(sizeof(*sh))))
            return TR_E_NOMEM;
        rc = init_flow(api, 1, 1, sh, out_root_token);
        if (rc == TR_OK && (*out_share_hex = malloc(2 * ENC_SHARE_BYTES + 1)))
            sodium_bin2hex(*out_share_hex, 2 * ENC_SHARE_BYTES + 1, sh->share[0], sh->share_len);
        sodium_free(sh);
        return rc;
    }
    if (es.initialized && es.auto_unseal) {
        if ((rc = enc_unseal_auto()) == TR_OK)
            rc = api_core_after_unseal(api, false);
    }
    return rc;
}
