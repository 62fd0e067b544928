/* The transit secrets engine (vault-api.md §7, issue #7): routing, key records and the keys/
 * endpoints. Cryptography happens in the core (enclave.h "Transit keys"); this layer stores the
 * core's wrapped blobs and never sees key material. Layout: api_transit_int.h. */
#include "api_transit_int.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"
#include "api_help.h"

#define NS 1000000000LL

static const struct tk_type types[] = {
    {"aes256-gcm96", ENC_TRANSIT_KEY_AES256_GCM96, true, false, true, NULL},
    {"aes128-gcm96", ENC_TRANSIT_KEY_AES128_GCM96, true, false, true, NULL},
    {"chacha20-poly1305", ENC_TRANSIT_KEY_CHACHA20_POLY1305, true, false, true, NULL},
    {"xchacha20-poly1305", ENC_TRANSIT_KEY_XCHACHA20_POLY1305, true, false, true, NULL},
    {"ed25519", ENC_TRANSIT_KEY_ED25519, false, true, true, "ed25519"},
    {"ecdsa-p256", ENC_TRANSIT_KEY_ECDSA_P256, false, true, false, "P-256"},
    {"hmac", ENC_TRANSIT_KEY_HMAC, false, false, false, NULL},
};

const struct tk_type *tk_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(name, types[i].name) == 0)
            return &types[i];
    return NULL;
}

/* Vault's name pattern \w(([\w-.]+)?\w)? with a length cap. */
static bool name_ok(const char *n)
{
    size_t len = strlen(n);

    if (len < 1 || len > TK_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        bool word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_';
        if (!word && ((ch != '-' && ch != '.') || i == 0 || i == len - 1))
            return false;
    }
    return true;
}

static int64_t jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* ---- records ------------------------------------------------------------------------------- */

static int tk_from_record(struct tk *k)
{
    const char *type = json_string_value(json_object_get(k->rec, "type"));

    k->type = type ? tk_type_find(type) : NULL;
    k->latest = jint(k->rec, "latest_version");
    k->min_dec = jint(k->rec, "min_decryption_version");
    k->min_enc = jint(k->rec, "min_encryption_version");
    k->min_avail = jint(k->rec, "min_available_version");
    k->rotate_period = jint(k->rec, "auto_rotate_period");
    k->derived = json_is_true(json_object_get(k->rec, "derived"));
    /* a record we cannot read is corrupt storage, not a client error */
    return k->type && k->latest >= 1 && json_is_object(json_object_get(k->rec, "versions"))
               ? TR_OK
               : TR_E_INTERNAL;
}

static bool tk_key_name(const struct api_call *c, const char *name, struct tk *k)
{
    int n = snprintf(k->skey, sizeof(k->skey), "%s/%s", c->mount.uuid, name);
    snprintf(k->name, sizeof(k->name), "%s", name);
    return name_ok(name) && n > 0 && (size_t)n < sizeof(k->skey);
}

int tk_load(struct api_call *c, const char *name, struct tk *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (!tk_key_name(c, name, out))
        return TR_E_INVAL;
    if ((rc = api_get_json(c, API_T_TRANSIT, out->skey, &out->rec, &out->ver)) != TR_OK)
        return rc;
    if ((rc = tk_from_record(out)) != TR_OK) {
        tr_log_error("transit key %s of mount %s has a malformed record", out->name, c->mount.uuid);
        tk_free(out);
    }
    return rc;
}

void tk_free(struct tk *k)
{
    json_decref(k->rec);
    k->rec = NULL;
}

static json_t *version_entry(const struct tk *k, int64_t v)
{
    char vs[24];
    snprintf(vs, sizeof(vs), "%" PRId64, v);
    return json_object_get(json_object_get(k->rec, "versions"), vs);
}

const json_t *tk_version(const struct tk *k, int64_t v)
{
    return v >= 1 && v >= k->min_avail ? version_entry(k, v) : NULL;
}

const char *tk_version_pubkey(const json_t *e)
{
    return json_string_value(json_object_get(e, "public_key"));
}

int tk_blob(const struct tk *k, int64_t v, uint8_t out[ENC_TRANSIT_BLOB_BYTES])
{
    const char *b64 = json_string_value(json_object_get(version_entry(k, v), "blob"));
    size_t len = 0;

    if (v < 1 || v < k->min_avail || !b64)
        return TR_E_NOTFOUND;
    if (sodium_base642bin(out, ENC_TRANSIT_BLOB_BYTES, b64, strlen(b64), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len != ENC_TRANSIT_BLOB_BYTES)
        return TR_E_INTERNAL;
    return TR_OK;
}

/* The public key text of a new version: base64 (ed25519) or PEM (ecdsa); NULL for others. */
static int version_pubkey(const struct tk_type *t, const uint8_t *blob, json_t **out)
{
    uint8_t pk[ENC_TRANSIT_SMALL_OUT];
    size_t len = 0;
    struct enc_transit_req r = {
        .op = ENC_TRANSIT_PUBKEY, .key = blob, .key_len = ENC_TRANSIT_BLOB_BYTES};
    int rc;

    *out = NULL;
    if (!t->signing)
        return TR_OK;
    if ((rc = enc_transit_op(&r, pk, sizeof(pk), &len, NULL)) != TR_OK)
        return rc;
    char *s =
        t->id == ENC_TRANSIT_KEY_ED25519 ? tk_b64_encode(pk, len, false) : tk_pem_pubkey(pk, len);
    if (!s)
        return TR_E_NOMEM;
    *out = json_string(s);
    free(s);
    return *out ? TR_OK : TR_E_NOMEM;
}

/* Add version v to rec: a new key from the core, wrapped; its public key when there is one. */
static int version_add(json_t *rec, const struct tk_type *t, bool derived, int64_t v)
{
    uint8_t blob[ENC_TRANSIT_BLOB_BYTES];
    json_t *pub = NULL, *e = NULL;
    char vs[24], *b64 = NULL;
    int rc;

    rc = enc_transit_keygen(t->id, derived ? ENC_TRANSIT_KEY_DERIVED : 0, blob);
    if (rc != TR_OK)
        return rc;
    if (!derived && (rc = version_pubkey(t, blob, &pub)) != TR_OK)
        return rc;
    rc = TR_E_NOMEM;
    if (!(b64 = tk_b64_encode(blob, sizeof(blob), false)) ||
        !(e = json_pack("{s:s, s:I}", "blob", b64, "time", (json_int_t)api_now_ns())))
        goto out;
    if (pub && json_object_set(e, "public_key", pub) != 0)
        goto out;
    snprintf(vs, sizeof(vs), "%" PRId64, v);
    if (json_object_set(json_object_get(rec, "versions"), vs, e) != 0)
        goto out;
    json_object_set_new(rec, "latest_version", json_integer(v));
    rc = TR_OK;
out:
    json_decref(pub);
    json_decref(e);
    free(b64);
    return rc;
}

int tk_create(struct api_call *c, const char *name, const struct tk_type *t, bool derived,
              int64_t rotate_period, struct tk *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (!tk_key_name(c, name, out))
        return TR_E_INVAL;
    out->rec =
        json_pack("{s:s, s:b, s:b, s:i, s:i, s:i, s:i, s:I, s:{}}", "type", t->name, "derived",
                  derived, "deletion_allowed", 0, "latest_version", 0, "min_decryption_version", 1,
                  "min_encryption_version", 0, "min_available_version", 0, "auto_rotate_period",
                  (json_int_t)rotate_period, "versions");
    if (!out->rec)
        return TR_E_NOMEM;
    if ((rc = version_add(out->rec, t, derived, 1)) == TR_OK)
        rc = api_put_json(c, API_T_TRANSIT, out->skey, out->rec, STORE_VERSION_ABSENT);
    if (rc == TR_OK)
        rc = tk_from_record(out);
    if (rc != TR_OK)
        tk_free(out);
    else
        tr_log_info("transit key %s created on mount %s (type %s)", name, c->mount.uuid, t->name);
    return rc;
}

/* Write k's modified record with a check-and-set on the version it was read at. */
static int tk_store(struct api_call *c, struct tk *k)
{
    int rc = api_put_json(c, API_T_TRANSIT, k->skey, k->rec, k->ver);
    return rc == TR_OK ? tk_from_record(k) : rc;
}

static int tk_rotate_once(struct api_call *c, struct tk *k)
{
    int rc;

    if (json_object_size(json_object_get(k->rec, "versions")) >= TK_VERSIONS_MAX)
        return TR_E_LIMIT;
    if ((rc = version_add(k->rec, k->type, k->derived, k->latest + 1)) != TR_OK)
        return rc;
    if ((rc = tk_store(c, k)) == TR_OK)
        tr_log_info("transit key %s of mount %s rotated to version %" PRId64, k->name,
                    c->mount.uuid, k->latest);
    return rc;
}

bool tk_rotation_due(const struct tk *k)
{
    int64_t made = jint(version_entry(k, k->latest), "time");
    return k->rotate_period > 0 && api_now_ns() - made >= k->rotate_period * NS;
}

int tk_rotate_if_due(struct api_call *c, struct tk *k)
{
    char name[TK_NAME_MAX + 1];
    int rc = TR_OK;

    snprintf(name, sizeof(name), "%s", k->name);
    for (int i = 0; i < TK_RETRIES && tk_rotation_due(k); i++) {
        if ((rc = tk_rotate_once(c, k)) != TR_E_CAS)
            return rc;
        tk_free(k); /* lost a race (maybe with another rotation): look again */
        if ((rc = tk_load(c, name, k)) != TR_OK)
            return rc;
    }
    return rc;
}

/* ---- key info ------------------------------------------------------------------------------- */

/* keys map: version -> creation unix time (symmetric) or an object with the public key. */
static json_t *info_versions(const struct tk *k, const json_t *pubs)
{
    json_t *out = json_object(), *e;
    const char *vs;

    json_object_foreach(json_object_get(k->rec, "versions"), vs, e)
    {
        int64_t t = jint(e, "time");
        if (!k->type->signing) {
            json_object_set_new(out, vs, json_integer(t / NS));
            continue;
        }
        char ct[64];
        const char *pub =
            pubs ? json_string_value(json_object_get(pubs, vs)) : tk_version_pubkey(e);
        api_time_rfc3339(t, ct, sizeof(ct));
        json_object_set_new(out, vs,
                            json_pack("{s:s, s:s, s:s, s:s}", "name", k->type->curve, "public_key",
                                      pub ? pub : "", "creation_time", ct, "certificate_chain",
                                      ""));
    }
    return out;
}

/* Key info as Vault's GET keys/<k> (vault-api.md §7.4); pubs: derived public keys or NULL. */
static json_t *tk_info(const struct tk *k, const json_t *pubs)
{
    const struct tk_type *t = k->type;
    json_t *o = json_pack(
        "{s:s, s:s, s:b, s:b, s:b, s:b, s:o, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:b, s:I, s:b}",
        "name", k->name, "type", t->name, "derived", k->derived, "deletion_allowed",
        json_is_true(json_object_get(k->rec, "deletion_allowed")), "exportable", 0,
        "allow_plaintext_backup", 0, "keys", info_versions(k, pubs), "latest_version",
        (json_int_t)k->latest, "min_available_version", (json_int_t)k->min_avail,
        "min_decryption_version", (json_int_t)k->min_dec, "min_encryption_version",
        (json_int_t)k->min_enc, "supports_encryption", t->aead, "supports_decryption", t->aead,
        "supports_derivation", t->derivable, "supports_signing", t->signing, "auto_rotate_period",
        (json_int_t)k->rotate_period, "imported_key", 0);
    if (o && k->derived) {
        json_object_set_new(o, "kdf", json_string("hkdf_sha256"));
        json_object_set_new(o, "convergent_encryption", json_false());
    }
    return o;
}

/* Public keys of a derived ed25519 key for the context given as ?context=<base64>. */
static int derived_pubs(const struct tk *k, const char *ctx_b64, json_t **out)
{
    uint8_t blob[ENC_TRANSIT_BLOB_BYTES], pk[ENC_TRANSIT_SMALL_OUT], *ctx = NULL;
    size_t ctx_len = 0, len = 0, bad = 0;
    const char *vs;
    json_t *e;
    int rc;

    if ((rc = tk_b64_decode(ctx_b64, false, &ctx, &ctx_len, &bad)) != TR_OK)
        return rc;
    *out = json_object();
    json_object_foreach(json_object_get(k->rec, "versions"), vs, e)
    {
        int64_t v = 0;
        struct enc_transit_req r = {.op = ENC_TRANSIT_PUBKEY,
                                    .key = blob,
                                    .key_len = sizeof(blob),
                                    .ctx = ctx,
                                    .ctx_len = ctx_len};
        if (!tr_parse_int64(vs, &v) || (rc = tk_blob(k, v, blob)) != TR_OK ||
            (rc = enc_transit_op(&r, pk, sizeof(pk), &len, NULL)) != TR_OK)
            break;
        char *s = tk_b64_encode(pk, len, false);
        json_object_set_new(*out, vs, json_string(s ? s : ""));
        free(s);
    }
    free(ctx);
    return rc;
}

/* ---- keys/ endpoints ------------------------------------------------------------------------ */

static void keys_read(struct api_call *c, const char *name)
{
    const char *ctx = tr_json_get_str(c->query, "context");
    json_t *pubs = NULL;
    struct tk k;
    int rc = tk_load(c, name, &k);

    if (rc == TR_E_INVAL) {
        api_reply_error(c, 404, NULL);
        return;
    }
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    if (ctx && *ctx && k.derived && k.type->signing)
        rc = derived_pubs(&k, ctx, &pubs);
    if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, "failed to base64-decode context");
    } else if (rc != TR_OK) {
        api_reply_err(c, rc == TR_E_AUTH ? TR_E_INTERNAL : rc);
    } else {
        api_reply_data(c, 200, tk_info(&k, pubs));
    }
    json_decref(pubs);
    tk_free(&k);
}

static void keys_list(struct api_call *c)
{
    char prefix[40], after[STORE_KEY_MAX + 1];
    size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "%s/", c->mount.uuid);
    struct store_list_opts lo = {.prefix = (const uint8_t *)prefix, .prefix_len = plen};
    json_t *keys = json_array();
    int rc = keys ? TR_OK : TR_E_NOMEM;

    for (bool more = true; more && rc == TR_OK;) {
        struct store_list *l = NULL;
        if ((rc = store_list(c->store, API_T_TRANSIT, &lo, &l)) != TR_OK)
            break;
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(
                keys, json_stringn((const char *)l->e[i].key + plen, l->e[i].key_len - plen));
        more = l->truncated && l->n > 0 && l->e[l->n - 1].key_len <= STORE_KEY_MAX;
        if (more) { /* the next page starts after the last key of this one */
            memcpy(after, l->e[l->n - 1].key, l->e[l->n - 1].key_len);
            lo.start_after = (const uint8_t *)after;
            lo.start_after_len = l->e[l->n - 1].key_len;
        }
        store_list_free(l);
    }
    if (rc != TR_OK) {
        json_decref(keys);
        api_reply_err(c, rc);
    } else {
        api_reply_keys(c, keys);
    }
}

/* ---- keys/ writes (pool threads) ------------------------------------------------------------ */

static const char *const unsupported_types[] = {"aes128-cmac", "aes256-cmac", "ecdsa-p384",
                                                "ecdsa-p521",  "rsa-2048",    "rsa-3072",
                                                "rsa-4096",    "managed_key"};

static void reply_type_unknown(struct api_call *c, const char *type)
{
    char msg[160];
    bool known = false;

    for (size_t i = 0; i < sizeof(unsupported_types) / sizeof(unsupported_types[0]); i++)
        known = known || !strcmp(type, unsupported_types[i]);
    if (known)
        snprintf(msg, sizeof(msg), "key type %.60s is not supported by this server", type);
    else
        snprintf(msg, sizeof(msg), "unknown key type %.60s", type);
    api_reply_error(c, 400, msg);
}

static bool rotate_period_ok(struct api_call *c, int64_t s)
{
    if (s == 0 || s >= 3600)
        return true;
    api_reply_error(c, 400, "auto rotate period must be 0 to disable or at least an hour");
    return false;
}

/* exportable and allow_plaintext_backup can only be false: keys never leave the core. */
static bool no_export(struct api_call *c, bool *bad)
{
    bool exp = false, apb = false;

    tr_json_get_bool(c->body, "exportable", &exp, &bad[0]);
    tr_json_get_bool(c->body, "allow_plaintext_backup", &apb, &bad[1]);
    if (!exp && !apb)
        return true;
    api_reply_error(c, 400,
                    "exportable keys and plaintext backups are not supported: transit key "
                    "material never leaves the trusted core");
    return false;
}

struct create_params {
    const struct tk_type *t;
    bool derived;
    int64_t rotate_period;
};

static bool create_params(struct api_call *c, struct create_params *p)
{
    const char *type = tr_json_get_str(c->body, "type");
    bool conv = false, bad[6] = {0};
    int64_t ks = 0;

    memset(p, 0, sizeof(*p));
    if (!(p->t = tk_type_find(type ? type : "aes256-gcm96"))) {
        reply_type_unknown(c, type);
        return false;
    }
    tr_json_get_bool(c->body, "derived", &p->derived, &bad[2]);
    tr_json_get_bool(c->body, "convergent_encryption", &conv, &bad[3]);
    tr_json_get_duration(c->body, "auto_rotate_period", &p->rotate_period, &bad[4]);
    tr_json_get_int(c->body, "key_size", &ks, &bad[5]);
    if (!no_export(c, bad) || !rotate_period_ok(c, p->rotate_period))
        return false;
    const char *msg = NULL;
    if (bad[0] || bad[1] || bad[2] || bad[3] || bad[4] || bad[5])
        msg = "Field validation failed: derived, convergent_encryption, exportable, "
              "allow_plaintext_backup, auto_rotate_period or key_size has the wrong type";
    else if (conv)
        msg = "convergent encryption is not supported";
    else if (p->derived && !p->t->derivable)
        msg = "key derivation is not supported for this key type";
    else if (ks != 0 && (p->t->id != ENC_TRANSIT_KEY_HMAC || ks != 32))
        msg = "key_size: only 32-byte hmac keys are supported";
    if (msg)
        api_reply_error(c, 400, msg);
    return msg == NULL;
}

static void reply_info(struct api_call *c, const struct tk *k, const char *warning)
{
    json_t *w = warning ? json_pack("[s]", warning) : NULL;
    api_reply_envelope(c, 200, tk_info(k, NULL), NULL, w);
}

static void keys_create(struct api_call *c, const char *name)
{
    struct create_params p;
    char warn[TK_NAME_MAX + 32];
    bool existed = false;
    struct tk k;

    if (!create_params(c, &p))
        return;
    int rc = tk_load(c, name, &k);
    if (rc == TR_E_NOTFOUND) {
        rc = tk_create(c, name, p.t, p.derived, p.rotate_period, &k);
        if (rc == TR_E_CAS) { /* created meanwhile by another request */
            rc = tk_load(c, name, &k);
            existed = true;
        }
    } else {
        existed = true;
    }
    if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, "invalid key name");
        return;
    }
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    snprintf(warn, sizeof(warn), "key %s already existed", name);
    reply_info(c, &k, existed ? warn : NULL);
    tk_free(&k);
}

static int set_min_dec(struct tk *k, int64_t v, char *err, size_t cap)
{
    if (v < 0) {
        snprintf(err, cap, "min decryption version cannot be negative");
        return TR_E_INVAL;
    }
    v = v ? v : 1; /* Vault: key numbering starts at 1 */
    if (v > k->latest || v < k->min_avail) {
        snprintf(err, cap,
                 "cannot set min decryption version of %" PRId64 ", latest key version is %" PRId64
                 " and min available version is %" PRId64,
                 v, k->latest, k->min_avail);
        return TR_E_INVAL;
    }
    json_object_set_new(k->rec, "min_decryption_version", json_integer(v));
    return TR_OK;
}

static int set_min_enc(struct tk *k, int64_t v, char *err, size_t cap)
{
    if (v < 0 || v > k->latest) {
        snprintf(err, cap,
                 "cannot set min encryption version of %" PRId64 ", latest key version is %" PRId64,
                 v, k->latest);
        return TR_E_INVAL;
    }
    json_object_set_new(k->rec, "min_encryption_version", json_integer(v));
    return TR_OK;
}

/* Apply keys/<k>/config to k->rec (vault-api.md §7.2). err gets the reason of TR_E_INVAL. */
static int config_apply(struct api_call *c, struct tk *k, char *err, size_t cap)
{
    int64_t mdv = 0, mev = 0, arp = 0;
    bool da = false, bad[5] = {0};
    int rc = TR_OK;

    bool has_mdv = tr_json_get_int(c->body, "min_decryption_version", &mdv, &bad[0]);
    bool has_mev = tr_json_get_int(c->body, "min_encryption_version", &mev, &bad[1]);
    bool has_da = tr_json_get_bool(c->body, "deletion_allowed", &da, &bad[2]);
    bool has_arp = tr_json_get_duration(c->body, "auto_rotate_period", &arp, &bad[3]);
    if (bad[0] || bad[1] || bad[2] || bad[3] || (has_arp && arp != 0 && arp < 3600)) {
        snprintf(err, cap,
                 "Field validation failed: min_decryption_version, "
                 "min_encryption_version, deletion_allowed or auto_rotate_period "
                 "(0 or at least an hour)");
        return TR_E_INVAL;
    }
    if (has_mdv && (rc = set_min_dec(k, mdv, err, cap)) != TR_OK)
        return rc;
    if (has_mev && (rc = set_min_enc(k, mev, err, cap)) != TR_OK)
        return rc;
    int64_t d = jint(k->rec, "min_decryption_version"), e = jint(k->rec, "min_encryption_version");
    if (e > 0 && e < d) {
        snprintf(err, cap,
                 "min encryption version %" PRId64
                 " must be greater than or equal to min decryption version %" PRId64,
                 e, d);
        return TR_E_INVAL;
    }
    if (has_da)
        json_object_set_new(k->rec, "deletion_allowed", json_boolean(da));
    if (has_arp)
        json_object_set_new(k->rec, "auto_rotate_period", json_integer(arp));
    return TR_OK;
}

/* Drop versions below min_available_version (Vault's rules on the bound). */
static int trim_apply(struct api_call *c, struct tk *k, char *err, size_t cap)
{
    int64_t mav = 0;
    bool bad = false;
    const char *why = NULL;

    if (!tr_json_get_int(c->body, "min_available_version", &mav, &bad) || bad || mav <= 0)
        why = "minimum available version should be positive";
    else if (mav > k->min_dec)
        why = "minimum available version should not be greater than minimum decryption version";
    else if (k->min_enc > 0 && mav > k->min_enc)
        why = "minimum available version should not be greater than minimum encryption version";
    else if (mav < k->min_avail)
        why = "minimum available version should not be less than the current minimum "
              "available version";
    if (why) {
        snprintf(err, cap, "%s", why);
        return TR_E_INVAL;
    }
    for (int64_t v = k->min_avail > 1 ? k->min_avail : 1; v < mav; v++) {
        char vs[24];
        snprintf(vs, sizeof(vs), "%" PRId64, v);
        json_object_del(json_object_get(k->rec, "versions"), vs);
    }
    json_object_set_new(k->rec, "min_available_version", json_integer(mav));
    return TR_OK;
}

enum keys_write { KW_CONFIG, KW_ROTATE, KW_TRIM, KW_DELETE };

static int keys_write_once(struct api_call *c, struct tk *k, enum keys_write what, char *err,
                           size_t cap)
{
    int rc;

    switch (what) {
    case KW_ROTATE:
        return tk_rotate_once(c, k);
    case KW_DELETE:
        if (!json_is_true(json_object_get(k->rec, "deletion_allowed"))) {
            snprintf(err, cap, "error deleting policy %s: deletion is not allowed for this key",
                     k->name);
            return TR_E_INVAL;
        }
        rc = store_del(c->store, API_T_TRANSIT, (const uint8_t *)k->skey, strlen(k->skey), k->ver);
        if (rc == TR_OK)
            tr_log_info("transit key %s deleted from mount %s", k->name, c->mount.uuid);
        return rc;
    case KW_CONFIG:
        rc = config_apply(c, k, err, cap);
        break;
    default:
        rc = trim_apply(c, k, err, cap);
        break;
    }
    return rc == TR_OK ? tk_store(c, k) : rc;
}

/* Vault's wording for a key that is not there, per endpoint. */
static void reply_missing(struct api_call *c, const char *name, enum keys_write what)
{
    char msg[TK_NAME_MAX + 96];

    if (what == KW_CONFIG)
        snprintf(msg, sizeof(msg), "no existing key named %s could be found", name);
    else if (what == KW_DELETE)
        snprintf(msg, sizeof(msg), "error deleting policy %s: could not delete key; not found",
                 name);
    else
        snprintf(msg, sizeof(msg), "key not found");
    api_reply_error(c, 400, msg);
}

static void keys_write(struct api_call *c, const char *name, enum keys_write what)
{
    char err[TK_ERR_MAX] = "";
    struct tk k = {0};
    int rc = TR_E_CAS;

    if (what == KW_CONFIG && !no_export(c, (bool[2]){0}))
        return;
    for (int i = 0; i < TK_RETRIES && rc == TR_E_CAS; i++) {
        tk_free(&k);
        if ((rc = tk_load(c, name, &k)) == TR_OK)
            rc = keys_write_once(c, &k, what, err, sizeof(err));
    }
    if (rc == TR_E_NOTFOUND || (rc == TR_E_INVAL && !err[0])) {
        reply_missing(c, name, what);
    } else if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, err);
    } else if (rc == TR_E_LIMIT) {
        api_reply_error(c, 400, "too many key versions: trim old versions first");
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    } else if (what == KW_DELETE || what == KW_TRIM) {
        api_reply_status(c, 204);
    } else {
        reply_info(c, &k, NULL);
    }
    tk_free(&k);
}

/* ---- routing -------------------------------------------------------------------------------- */

bool tk_route_seg(const struct api_call *c, size_t idx, char *out, size_t cap)
{
    const char *p = c->rel;

    for (size_t i = 0; i < idx; i++) {
        if (!(p = strchr(p, '/')))
            return false;
        p++;
    }
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* Number of '/'-separated segments of c->rel ("keys/" counts 2). */
static size_t route_depth(const struct api_call *c)
{
    size_t n = 1;
    for (const char *p = c->rel; *p; p++)
        n += *p == '/';
    return n;
}

static bool seg_is(const struct api_call *c, size_t idx, const char *want)
{
    char s[32];
    return tk_route_seg(c, idx, s, sizeof(s)) && strcmp(s, want) == 0;
}

static void keys_pool(struct api_call *c)
{
    char name[TK_NAME_MAX + 1];

    if (!tk_route_seg(c, 1, name, sizeof(name)))
        api_reply_error(c, 404, NULL);
    else if (route_depth(c) == 2 && c->method == API_DELETE)
        keys_write(c, name, KW_DELETE);
    else if (route_depth(c) == 2)
        keys_create(c, name);
    else if (seg_is(c, 2, "config"))
        keys_write(c, name, KW_CONFIG);
    else if (seg_is(c, 2, "rotate"))
        keys_write(c, name, KW_ROTATE);
    else
        keys_write(c, name, KW_TRIM);
}

static void keys_route(struct api_call *c, bool on_pool)
{
    char name[TK_NAME_MAX + 1];
    size_t depth = route_depth(c);
    bool root = depth == 1 || !strcmp(c->rel, "keys/");
    bool named = tk_route_seg(c, 1, name, sizeof(name));
    bool sub =
        depth == 3 && (seg_is(c, 2, "config") || seg_is(c, 2, "rotate") || seg_is(c, 2, "trim"));

    if (root && c->method == API_LIST)
        keys_list(c);
    else if (root)
        api_reply_error(c, 405, "unsupported operation");
    else if (!named) /* longer than any key name: no such key */
        api_reply_error(c, 404, NULL);
    else if (depth != 2 && !sub) /* a route of the table (api_help_text.c) this lacks */
        api_reply_error(c, 404, "unsupported path");
    else if (depth == 2 && c->method == API_GET)
        keys_read(c, name);
    else if ((c->method == API_PUT || (depth == 2 && c->method == API_DELETE)) && on_pool)
        keys_pool(c);
    else if (c->method == API_PUT || (depth == 2 && c->method == API_DELETE))
        api_defer(c, keys_pool);
    else
        api_reply_error(c, 405, "unsupported operation");
}

static void dispatch(struct api_call *c, bool on_pool)
{
    static const struct {
        const char *seg;
        void (*fn)(struct api_call *c, bool on_pool);
    } ops[] = {{"encrypt", tk_encrypt}, {"decrypt", tk_decrypt}, {"rewrap", tk_rewrap},
               {"datakey", tk_datakey}, {"hmac", tk_hmac},       {"sign", tk_sign},
               {"verify", tk_verify}};

    if (seg_is(c, 0, "keys")) {
        keys_route(c, on_pool);
        return;
    }
    if (seg_is(c, 0, "export")) {
        tk_export(c);
        return;
    }
    if (seg_is(c, 0, "random") || seg_is(c, 0, "hash")) {
        if (c->method != API_PUT)
            api_reply_error(c, 405, "unsupported operation");
        else if (seg_is(c, 0, "random"))
            tk_random(c);
        else
            tk_hash(c);
        return;
    }
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (seg_is(c, 0, ops[i].seg)) {
            ops[i].fn(c, on_pool);
            return;
        }
    }
    api_reply_error(c, 404, "unsupported path"); /* a route of the table this lacks */
}

/* Only paths with a route in transit's table (api_help_route_check) are dispatched, as Vault's
 * framework: the handlers' own checks then tell an operation the route does not serve (405) and
 * an absent key (404) apart. */
void api_transit_handle(struct api_call *c)
{
    json_t *b;

    if (!api_body_object(c, &b) || !api_help_route_check(c, &api_help_transit, c->rel))
        return;
    dispatch(c, false);
}

bool api_transit_existence(struct api_call *c)
{
    char name[TK_NAME_MAX + 1], skey[STORE_KEY_MAX + 1];
    uint64_t v;

    if (!seg_is(c, 0, "encrypt") || !tk_route_seg(c, 1, name, sizeof(name)))
        return true;
    int n = snprintf(skey, sizeof(skey), "%s/%s", c->mount.uuid, name);
    return n <= 0 || (size_t)n >= sizeof(skey) ||
           store_stat(c->store, API_T_TRANSIT, (const uint8_t *)skey, (size_t)n, &v) == TR_OK;
}
