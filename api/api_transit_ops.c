/* Transit operations (vault-api.md §7.2, §7.3, §7.5): encrypt (with Vault's upsert), decrypt,
 * rewrap, datakey, hmac, sign, verify, each single or as a batch. Every operation is one call
 * into the core with the key version's wrapped blob; plaintext arriving from the client is
 * decoded into guarded memory, plaintext going back is encoded from guarded memory (the JSON
 * and HTTP copies after that are outside our control: docs/api.md, "Transit"). */
#include "api_transit_int.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"

#define TOO_OLD   "ciphertext or signature version is disallowed by policy (too old)"
#define AUTH_FAIL "cipher: message authentication failed"
#define NO_CONTEXT                                                                                 \
    "missing 'context' for key derivation; the key was created using a derived key, which "        \
    "means additional, per-request information must be included in order to perform "              \
    "operations with the key"

/* One request's shared state. Item functions return TR_OK, TR_E_INVAL with err set (the
 * client's mistake: 400 or a batch item error), or another code (our failure: 500). */
struct tk_op {
    struct api_call *c;
    struct tk k;
    enum enc_transit_hash hash;
    uint32_t opts;    /* ENC_TRANSIT_OPT_PREHASHED, _JWS, _PLAINTEXT */
    bool url;         /* jws: signatures in unpadded URL-safe base64, as Vault */
    json_t *warnings; /* owned, may be NULL */
    json_t *wipe;     /* plaintext strings of the reply, wiped once it is serialized (owned) */
    char err[TK_ERR_MAX];
};

typedef int (*tk_item_fn)(struct tk_op *o, const json_t *item, json_t **out);

struct op_desc {
    size_t name_idx;                          /* path segment of the key name */
    bool (*type_ok)(const struct tk_type *t); /* NULL: every type */
    bool produces; /* new output under the latest version: honours auto_rotate_period */
    bool upsert;   /* encrypt: create the key when absent and allowed */
    void (*pool_fn)(struct api_call *c);
    tk_item_fn fn;
};

struct bytes {
    uint8_t *p; /* owned (free) */
    size_t n;
};

static int user_err(struct tk_op *o, const char *msg)
{
    snprintf(o->err, sizeof(o->err), "%s", msg);
    return TR_E_INVAL;
}

static bool aead_ok(const struct tk_type *t)
{
    return t->aead;
}

static bool signing_ok(const struct tk_type *t)
{
    return t->signing;
}

/* ---- fields --------------------------------------------------------------------------------- */

/* Optional base64 field of an item; "" and absent are empty. */
static int b64_field(struct tk_op *o, const json_t *item, const char *key, struct bytes *out)
{
    const char *s = tr_json_get_str(item, key);
    size_t bad = 0;
    int rc;

    out->p = NULL;
    out->n = 0;
    if (!s || !*s)
        return TR_OK;
    if ((rc = tk_b64_decode(s, false, &out->p, &out->n, &bad)) == TR_E_INVAL)
        snprintf(o->err, sizeof(o->err), "failed to base64-decode %s", key);
    return rc;
}

/* context (derivation) and associated_data (AEAD) of an item; a client nonce is refused. */
static int ctx_ad(struct tk_op *o, const json_t *item, bool aead, struct bytes *ctx,
                  struct bytes *ad)
{
    const char *nonce = tr_json_get_str(item, "nonce");
    int rc;

    ad->p = NULL;
    ad->n = 0;
    if ((rc = b64_field(o, item, "context", ctx)) != TR_OK)
        return rc;
    if (o->k.derived && ctx->n == 0)
        return user_err(o, NO_CONTEXT);
    if (aead && nonce && *nonce)
        return user_err(o, "provided nonce not allowed for this key");
    if (aead && (rc = b64_field(o, item, "associated_data", ad)) != TR_OK)
        return rc;
    if (ad->n > ENC_AD_MAX || ctx->n > ENC_TRANSIT_CTX_MAX)
        return user_err(o, "context or associated_data is too long");
    return TR_OK;
}

static void bytes_free(struct bytes *b)
{
    free(b->p);
    b->p = NULL;
}

/* key_version of the item, else of the request, else 0. */
static int key_version(struct tk_op *o, const json_t *item, int64_t *v)
{
    bool bad = false;

    *v = 0;
    if (!tr_json_get_int(item, "key_version", v, &bad) && !bad)
        tr_json_get_int(o->c->body, "key_version", v, &bad);
    return bad ? user_err(o, "key_version must be an integer") : TR_OK;
}

/* The version new output uses (Vault's rules for encryption and signing). */
static int version_new(struct tk_op *o, const json_t *item, const char *what, int64_t *v)
{
    int rc = key_version(o, item, v);

    if (rc != TR_OK)
        return rc;
    if (*v == 0)
        *v = o->k.latest;
    const char *why = *v < 0                ? "negative"
                      : *v > o->k.latest    ? "higher than the latest key version"
                      : *v < o->k.min_enc   ? "less than the minimum encryption key version"
                      : *v < o->k.min_avail ? "trimmed (below the minimum available version)"
                                            : NULL;
    if (why)
        snprintf(o->err, sizeof(o->err), "requested version for %s is %s", what, why);
    return why ? TR_E_INVAL : TR_OK;
}

/* Parse "vault:v<N>:<b64>" of a ciphertext or signature and check N may be read. */
static int version_read(struct tk_op *o, const char *s, const char *what, int64_t *v,
                        const char **b64)
{
    static const char *const bad[] = {"", "no prefix", "wrong number of fields",
                                      "version number could not be decoded"};
    int e = tk_unversion(s, v, b64);

    if (e) {
        snprintf(o->err, sizeof(o->err), "invalid %s: %s", what, bad[e]);
        return TR_E_INVAL;
    }
    *v = *v == 0 ? 1 : *v; /* Vault: version 0 is the first key */
    if (*v > o->k.latest) {
        snprintf(o->err, sizeof(o->err), "invalid %s: version is too new", what);
        return TR_E_INVAL;
    }
    if (*v < o->k.min_dec || *v < 1)
        return user_err(o, TOO_OLD);
    return TR_OK;
}

static int load_blob(struct tk_op *o, int64_t v, uint8_t blob[ENC_TRANSIT_BLOB_BYTES])
{
    int rc = tk_blob(&o->k, v, blob);
    return rc == TR_E_NOTFOUND ? user_err(o, "no such key version") : rc;
}

/* {"<field>": "vault:v<v>:<b64>", "key_version": v} */
static int versioned_out(const char *field, int64_t v, const uint8_t *p, size_t n, bool url,
                         json_t **out)
{
    char *s = tk_versioned(v, p, n, url);

    *out = s ? json_pack("{s:s, s:I}", field, s, "key_version", (json_int_t)v) : NULL;
    free(s);
    return *out ? TR_OK : TR_E_NOMEM;
}

/* {"plaintext": base64} of guarded plaintext. The base64 is written straight into the buffer of
 * a jansson string of the right length (made from a non-secret filler), so the only copy
 * outside guarded memory is the one the reply needs; it is remembered in o->wipe and zeroed
 * once the reply has been serialized. (A guarded intermediate would cost one more guarded
 * allocation per item: docs/performance.md, "Transit".) */
static int plaintext_out(struct tk_op *o, struct enc_secret *pt, json_t **out)
{
    size_t n = enc_secret_len(pt);
    size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL) - 1;
    char *fill = malloc(len + 1);
    json_t *s = NULL;

    *out = NULL;
    if (fill) {
        memset(fill, 'A', len);
        s = json_stringn(fill, len);
        free(fill);
    }
    if (!s)
        return TR_E_NOMEM;
    /* jansson keeps len + 1 bytes for the text; the length does not change */
    sodium_bin2base64((char *)json_string_value(s), len + 1,
                      n ? enc_secret_data(pt) : (const uint8_t *)"", n,
                      sodium_base64_VARIANT_ORIGINAL);
    if (!o->wipe)
        o->wipe = json_array();
    if (o->wipe && json_array_append(o->wipe, s) == 0)
        *out = json_pack("{s:o}", "plaintext", s);
    else
        json_decref(s);
    return *out ? TR_OK : TR_E_NOMEM;
}

/* After the reply: zero jansson's copies of plaintext we sent (the serialized body belongs to
 * the server by now; see docs/api.md "Transit" for what stays outside our control). */
static void op_done(struct tk_op *o)
{
    size_t i;
    json_t *s;

    json_array_foreach(o->wipe, i, s) api_json_wipe_string(s);
    json_decref(o->wipe);
    json_decref(o->warnings);
    tk_free(&o->k);
}

/* ---- encrypt, decrypt, rewrap, datakey --------------------------------------------------- */

static int encrypt_item(struct tk_op *o, const json_t *item, json_t **out)
{
    const char *b64 = tr_json_get_str(item, "plaintext");
    struct bytes ctx = {0}, ad = {0};
    struct enc_secret *pt = NULL;
    uint8_t blob[ENC_TRANSIT_BLOB_BYTES], *ct = NULL;
    size_t pt_len = 0, bad = 0, ct_len = 0;
    int64_t v = 0;
    int rc;

    if (!b64 || (!*b64 && item == o->c->body)) /* Vault: a batch item may encrypt "" */
        return user_err(o, "missing plaintext to encrypt");
    if ((rc = tk_b64_decode_secret(b64, &pt, &pt_len, &bad)) != TR_OK) {
        if (rc == TR_E_INVAL)
            snprintf(o->err, sizeof(o->err), "illegal base64 data at input byte %zu", bad);
        return rc;
    }
    api_json_wipe_string(json_object_get(item, "plaintext")); /* decoded: no second copy */
    if ((rc = ctx_ad(o, item, true, &ctx, &ad)) != TR_OK ||
        (rc = version_new(o, item, "encryption", &v)) != TR_OK ||
        (rc = load_blob(o, v, blob)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (!(ct = malloc(pt_len + ENC_TRANSIT_OVERHEAD)))
        goto out;
    struct enc_transit_req r = {.op = ENC_TRANSIT_ENCRYPT,
                                .key = blob,
                                .key_len = sizeof(blob),
                                .ctx = ctx.p,
                                .ctx_len = ctx.n,
                                .ad = ad.p,
                                .ad_len = ad.n,
                                .in = enc_secret_data(pt),
                                .in_len = pt_len};
    if ((rc = enc_transit_op(&r, ct, pt_len + ENC_TRANSIT_OVERHEAD, &ct_len, NULL)) == TR_OK)
        rc = versioned_out("ciphertext", v, ct, ct_len, false, out);
out:
    enc_secret_free(pt);
    bytes_free(&ctx);
    bytes_free(&ad);
    free(ct);
    return rc == TR_E_INVAL && !o->err[0] ? TR_E_INTERNAL : rc;
}

/* The ciphertext of an item: its version (readable) and decoded bytes. */
static int ciphertext_in(struct tk_op *o, const json_t *item, int64_t *v, struct bytes *ct)
{
    const char *s = tr_json_get_str(item, "ciphertext"), *b64 = NULL;
    size_t bad = 0;
    int rc;

    ct->p = NULL;
    if (!s || !*s)
        return user_err(o, "missing ciphertext to decrypt");
    if ((rc = version_read(o, s, "ciphertext", v, &b64)) != TR_OK)
        return rc;
    if ((rc = tk_b64_decode(b64, false, &ct->p, &ct->n, &bad)) == TR_E_INVAL)
        return user_err(o, "invalid ciphertext: could not decode base64");
    return rc;
}

/* The core's verdict on a ciphertext, in Vault's words and without any detail. */
static int open_err(struct tk_op *o, int rc)
{
    if (rc == TR_E_AUTH)
        return user_err(o, AUTH_FAIL);
    if (rc == TR_E_INVAL)
        return user_err(o, "invalid ciphertext length");
    return rc;
}

static int decrypt_item(struct tk_op *o, const json_t *item, json_t **out)
{
    struct bytes ct = {0}, ctx = {0}, ad = {0};
    uint8_t blob[ENC_TRANSIT_BLOB_BYTES];
    struct enc_secret *pt = NULL;
    int64_t v = 0;
    size_t n = 0;
    int rc;

    if ((rc = ciphertext_in(o, item, &v, &ct)) != TR_OK ||
        (rc = ctx_ad(o, item, true, &ctx, &ad)) != TR_OK || (rc = load_blob(o, v, blob)) != TR_OK)
        goto out;
    struct enc_transit_req r = {.op = ENC_TRANSIT_DECRYPT,
                                .key = blob,
                                .key_len = sizeof(blob),
                                .ctx = ctx.p,
                                .ctx_len = ctx.n,
                                .ad = ad.p,
                                .ad_len = ad.n,
                                .in = ct.p,
                                .in_len = ct.n};
    if ((rc = open_err(o, enc_transit_op(&r, NULL, 0, &n, &pt))) == TR_OK)
        rc = plaintext_out(o, pt, out);
out:
    enc_secret_free(pt);
    bytes_free(&ct);
    bytes_free(&ctx);
    bytes_free(&ad);
    return rc;
}

static int rewrap_item(struct tk_op *o, const json_t *item, json_t **out)
{
    struct bytes ct = {0}, ctx = {0}, ad = {0};
    uint8_t from[ENC_TRANSIT_BLOB_BYTES], to[ENC_TRANSIT_BLOB_BYTES], *res = NULL;
    int64_t v = 0, nv = 0;
    size_t n = 0;
    int rc;

    if ((rc = ciphertext_in(o, item, &v, &ct)) != TR_OK ||
        (rc = ctx_ad(o, item, true, &ctx, &ad)) != TR_OK ||
        (rc = version_new(o, item, "encryption", &nv)) != TR_OK ||
        (rc = load_blob(o, v, from)) != TR_OK || (rc = load_blob(o, nv, to)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (!(res = malloc(ct.n + ENC_TRANSIT_OVERHEAD)))
        goto out;
    struct enc_transit_req r = {.op = ENC_TRANSIT_REWRAP,
                                .key = from,
                                .key_len = sizeof(from),
                                .key2 = to,
                                .key2_len = sizeof(to),
                                .ctx = ctx.p,
                                .ctx_len = ctx.n,
                                .ad = ad.p,
                                .ad_len = ad.n,
                                .in = ct.p,
                                .in_len = ct.n};
    rc = open_err(o, enc_transit_op(&r, res, ct.n + ENC_TRANSIT_OVERHEAD, &n, NULL));
    if (rc == TR_OK)
        rc = versioned_out("ciphertext", nv, res, n, false, out);
out:
    free(res);
    bytes_free(&ct);
    bytes_free(&ctx);
    bytes_free(&ad);
    return rc;
}

static int datakey_item(struct tk_op *o, const json_t *item, json_t **out)
{
    uint8_t blob[ENC_TRANSIT_BLOB_BYTES], ct[ENC_TRANSIT_SMALL_OUT];
    struct bytes ctx = {0}, ad = {0};
    struct enc_secret *dk = NULL;
    json_t *p = NULL;
    int64_t bits = 256, v = 0;
    size_t n = 0;
    bool bad = false;
    int rc;

    tr_json_get_int(item, "bits", &bits, &bad);
    if (bad || (bits != 128 && bits != 256 && bits != 512))
        return user_err(o, "invalid bit length");
    if ((rc = ctx_ad(o, item, true, &ctx, &ad)) != TR_OK ||
        (rc = version_new(o, item, "encryption", &v)) != TR_OK ||
        (rc = load_blob(o, v, blob)) != TR_OK)
        goto out;
    struct enc_transit_req r = {.op = ENC_TRANSIT_DATAKEY,
                                .key = blob,
                                .key_len = sizeof(blob),
                                .ctx = ctx.p,
                                .ctx_len = ctx.n,
                                .ad = ad.p,
                                .ad_len = ad.n,
                                .opts = o->opts,
                                .bits = (uint32_t)bits};
    if ((rc = enc_transit_op(&r, ct, sizeof(ct), &n, &dk)) != TR_OK ||
        (rc = versioned_out("ciphertext", v, ct, n, false, out)) != TR_OK)
        goto out;
    if (dk && (rc = plaintext_out(o, dk, &p)) == TR_OK)
        json_object_update(*out, p);
out:
    json_decref(p);
    enc_secret_free(dk);
    bytes_free(&ctx);
    bytes_free(&ad);
    return rc;
}

/* ---- hmac, sign, verify ------------------------------------------------------------------ */

/* input of an item (base64, "" when absent), in guarded memory: it may be a secret. */
static int input_in(struct tk_op *o, const json_t *item, struct enc_secret **in, size_t *n)
{
    const char *s = tr_json_get_str(item, "input");
    size_t bad = 0;
    int rc = tk_b64_decode_secret(s ? s : "", in, n, &bad);

    if (rc == TR_E_INVAL)
        snprintf(o->err, sizeof(o->err),
                 "unable to decode input as base64: illegal base64 data at input byte %zu", bad);
    return rc;
}

static int hmac_item(struct tk_op *o, const json_t *item, json_t **out)
{
    uint8_t blob[ENC_TRANSIT_BLOB_BYTES], mac[ENC_TRANSIT_SMALL_OUT];
    struct enc_secret *in = NULL;
    size_t n = 0, len = 0;
    int64_t v = 0;
    int rc;

    if (!tr_json_get_str(item, "input"))
        return user_err(o, "missing input for HMAC");
    if ((rc = input_in(o, item, &in, &n)) != TR_OK ||
        (rc = version_new(o, item, "HMAC", &v)) != TR_OK || (rc = load_blob(o, v, blob)) != TR_OK)
        goto out;
    struct enc_transit_req r = {.op = ENC_TRANSIT_HMAC,
                                .key = blob,
                                .key_len = sizeof(blob),
                                .in = enc_secret_data(in),
                                .in_len = n,
                                .hash = o->hash};
    if ((rc = enc_transit_op(&r, mac, sizeof(mac), &len, NULL)) == TR_OK) {
        char *s = tk_versioned(v, mac, len, false);
        *out = s ? json_pack("{s:s}", "hmac", s) : NULL;
        rc = *out ? TR_OK : TR_E_NOMEM;
        free(s);
    }
out:
    enc_secret_free(in);
    return rc;
}

/* Derived ed25519: the public key of the context, returned with the signature (Vault). */
static int sign_pubkey(const struct enc_transit_req *sr, json_t *out)
{
    uint8_t pk[ENC_TRANSIT_SMALL_OUT];
    size_t len = 0;
    struct enc_transit_req r = {.op = ENC_TRANSIT_PUBKEY,
                                .key = sr->key,
                                .key_len = sr->key_len,
                                .ctx = sr->ctx,
                                .ctx_len = sr->ctx_len};
    int rc = enc_transit_op(&r, pk, sizeof(pk), &len, NULL);
    char *s = rc == TR_OK ? tk_b64_encode(pk, len, false) : NULL;

    if (s)
        json_object_set_new(out, "public_key", json_string(s));
    free(s);
    return rc != TR_OK ? rc : s ? TR_OK : TR_E_NOMEM;
}

static int sign_item(struct tk_op *o, const json_t *item, json_t **out)
{
    uint8_t blob[ENC_TRANSIT_BLOB_BYTES], sig[ENC_TRANSIT_SMALL_OUT];
    struct bytes ctx = {0}, ad = {0};
    struct enc_secret *in = NULL;
    size_t n = 0, len = 0;
    int64_t v = 0;
    int rc;

    if ((rc = input_in(o, item, &in, &n)) != TR_OK ||
        (rc = ctx_ad(o, item, false, &ctx, &ad)) != TR_OK ||
        (rc = version_new(o, item, "signing", &v)) != TR_OK ||
        (rc = load_blob(o, v, blob)) != TR_OK)
        goto out;
    struct enc_transit_req r = {.op = ENC_TRANSIT_SIGN,
                                .key = blob,
                                .key_len = sizeof(blob),
                                .ctx = ctx.p,
                                .ctx_len = ctx.n,
                                .in = enc_secret_data(in),
                                .in_len = n,
                                .hash = o->hash,
                                .opts = o->opts};
    if ((rc = enc_transit_op(&r, sig, sizeof(sig), &len, NULL)) == TR_E_INVAL)
        rc = user_err(o, "the input is not a valid digest for this hash algorithm");
    if (rc == TR_OK)
        rc = versioned_out("signature", v, sig, len, o->url, out);
    if (rc == TR_OK && o->k.derived)
        rc = sign_pubkey(&r, *out);
out:
    enc_secret_free(in);
    bytes_free(&ctx);
    return rc;
}

/* verify with hmac: {"valid": bool} (Vault's path_hmac verify). */
static int verify_hmac_item(struct tk_op *o, const json_t *item, const char *mac, json_t **out)
{
    uint8_t blob[ENC_TRANSIT_BLOB_BYTES];
    struct enc_secret *in = NULL;
    struct bytes m = {0};
    const char *b64 = NULL;
    size_t n = 0, len = 0, bad = 0;
    int64_t v = 0;
    int rc;

    if ((rc = version_read(o, mac, "HMAC", &v, &b64)) != TR_OK) {
        if (!strcmp(o->err, TOO_OLD))
            user_err(o, "cannot verify HMAC: version is too old (disallowed by policy)");
        return rc;
    }
    if ((rc = tk_b64_decode(b64, false, &m.p, &m.n, &bad)) == TR_E_INVAL)
        return user_err(o, "unable to decode verification HMAC as base64");
    if (rc != TR_OK || (rc = input_in(o, item, &in, &n)) != TR_OK ||
        (rc = load_blob(o, v, blob)) != TR_OK)
        goto out;
    struct enc_transit_req r = {.op = ENC_TRANSIT_HMAC_VERIFY,
                                .key = blob,
                                .key_len = sizeof(blob),
                                .in = enc_secret_data(in),
                                .in_len = n,
                                .in2 = m.p,
                                .in2_len = m.n,
                                .hash = o->hash};
    rc = m.n > ENC_TRANSIT_SMALL_OUT ? TR_E_AUTH : enc_transit_op(&r, NULL, 0, &len, NULL);
    if (rc == TR_OK || rc == TR_E_AUTH)
        rc = (*out = json_pack("{s:b}", "valid", rc == TR_OK)) ? TR_OK : TR_E_NOMEM;
out:
    enc_secret_free(in);
    bytes_free(&m);
    return rc;
}

static int verify_sig_item(struct tk_op *o, const json_t *item, const char *sig, json_t **out)
{
    uint8_t blob[ENC_TRANSIT_BLOB_BYTES];
    struct bytes s = {0}, ctx = {0}, ad = {0};
    struct enc_secret *in = NULL;
    const char *b64 = NULL;
    size_t n = 0, len = 0, bad = 0;
    int64_t v = 0;
    int rc;

    if (!o->k.type->signing)
        return user_err(o, "key type does not support signature verification");
    if ((rc = version_read(o, sig, "signature", &v, &b64)) != TR_OK)
        return rc;
    if ((rc = tk_b64_decode(b64, o->url, &s.p, &s.n, &bad)) == TR_E_INVAL)
        return user_err(o, "invalid base64 signature value");
    if (rc != TR_OK || (rc = input_in(o, item, &in, &n)) != TR_OK ||
        (rc = ctx_ad(o, item, false, &ctx, &ad)) != TR_OK || (rc = load_blob(o, v, blob)) != TR_OK)
        goto out;
    struct enc_transit_req r = {.op = ENC_TRANSIT_VERIFY,
                                .key = blob,
                                .key_len = sizeof(blob),
                                .ctx = ctx.p,
                                .ctx_len = ctx.n,
                                .in = enc_secret_data(in),
                                .in_len = n,
                                .in2 = s.p,
                                .in2_len = s.n,
                                .hash = o->hash,
                                .opts = o->opts};
    rc = s.n > ENC_TRANSIT_SMALL_OUT ? TR_E_INVAL : enc_transit_op(&r, NULL, 0, &len, NULL);
    if (rc == TR_E_INVAL)
        rc = user_err(o, "supplied signature is invalid");
    else if (rc == TR_OK || rc == TR_E_AUTH)
        rc = (*out = json_pack("{s:b}", "valid", rc == TR_OK)) ? TR_OK : TR_E_NOMEM;
out:
    enc_secret_free(in);
    bytes_free(&s);
    bytes_free(&ctx);
    return rc;
}

static int verify_item(struct tk_op *o, const json_t *item, json_t **out)
{
    const char *mac = tr_json_get_str(item, "hmac"), *sig = tr_json_get_str(item, "signature");

    if (mac && *mac)
        return verify_hmac_item(o, item, mac, out);
    if (sig && *sig)
        return verify_sig_item(o, item, sig, out);
    return user_err(o, "missing signature or hmac to verify");
}

/* ---- batches ------------------------------------------------------------------------------ */

static int batch_status(const struct tk_op *o, size_t ok, size_t failed)
{
    int64_t code = 0;
    bool bad = false;

    if (!failed)
        return 200;
    if (ok && tr_json_get_int(o->c->body, "partial_failure_response_code", &code, &bad) &&
        code >= 200 && code <= 599)
        return (int)code;
    return 400;
}

/* batch_input: every item answered in order; a failed item carries "error" (vault-api.md §7.5).
 * Our own failure (not the item's fault) fails the whole request. */
static void run_batch(struct tk_op *o, const json_t *batch, tk_item_fn fn)
{
    json_t *results = json_array(), *item;
    size_t i, ok = 0, failed = 0;
    int rc = results ? TR_OK : TR_E_NOMEM;

    json_array_foreach((json_t *)batch, i, item)
    {
        json_t *res = NULL;
        if (rc != TR_OK)
            break;
        o->err[0] = '\0';
        rc = json_is_object(item) ? fn(o, item, &res) : user_err(o, "invalid batch item");
        if (rc == TR_E_INVAL && o->err[0]) {
            res = json_pack("{s:s}", "error", o->err);
            rc = res ? TR_OK : TR_E_NOMEM;
            failed++;
        } else if (rc == TR_OK) {
            ok++;
        }
        if (res && json_object_get(item, "reference"))
            json_object_set(res, "reference", json_object_get(item, "reference"));
        if (res)
            json_array_append_new(results, res);
    }
    if (rc != TR_OK) {
        json_decref(results);
        api_reply_err(o->c, rc == TR_E_INVAL || rc == TR_E_AUTH ? TR_E_INTERNAL : rc);
        return;
    }
    api_reply_envelope(o->c, batch_status(o, ok, failed),
                       json_pack("{s:o}", "batch_results", results), NULL,
                       json_incref(o->warnings));
}

static void run_items(struct tk_op *o, tk_item_fn fn)
{
    const json_t *batch = json_object_get(o->c->body, "batch_input");
    json_t *res = NULL;

    if (batch && !json_is_null(batch)) {
        if (!json_is_array(batch) || !json_array_size(batch))
            api_reply_error(o->c, 400, "missing batch input to process");
        else
            run_batch(o, batch, fn);
        return;
    }
    int rc = fn(o, o->c->body, &res);
    if (rc == TR_OK)
        api_reply_envelope(o->c, 200, res, NULL, json_incref(o->warnings));
    else if (rc == TR_E_INVAL && o->err[0])
        api_reply_error(o->c, 400, o->err);
    else
        api_reply_err(o->c, rc == TR_E_INVAL || rc == TR_E_AUTH ? TR_E_INTERNAL : rc);
}

/* ---- request set-up ------------------------------------------------------------------------ */

/* The key type and derivation of an upsert: type from the body, derived when context is
 * sent (Vault). */
static bool upsert_params(struct tk_op *o, const struct tk_type **t, bool *derived)
{
    const char *type = tr_json_get_str(o->c->body, "type");
    const json_t *batch = json_object_get(o->c->body, "batch_input");
    const json_t *first = json_is_array(batch) ? json_array_get(batch, 0) : o->c->body;
    const char *ctx = tr_json_get_str(first, "context");
    bool conv = false, bad = false;
    char msg[160];

    *derived = ctx && *ctx;
    *t = tk_type_find(type ? type : "aes256-gcm96");
    tr_json_get_bool(o->c->body, "convergent_encryption", &conv, &bad);
    if (conv || bad) {
        api_reply_error(o->c, 400, "convergent encryption is not supported");
        return false;
    }
    if (*t && (*t)->aead)
        return true;
    if (*t || (type && !strncmp(type, "ecdsa-", 6)))
        snprintf(msg, sizeof(msg), "key type %.60s not supported for this operation", type);
    else
        snprintf(msg, sizeof(msg), "unknown key type %.60s", type);
    api_reply_error(o->c, 400, msg);
    return false;
}

/* Pool thread: create the absent key of an encrypt (Vault's upsert). False when answered. */
static bool upsert(struct tk_op *o, const char *name)
{
    const struct tk_type *t = NULL;
    bool derived = false;

    if (!upsert_params(o, &t, &derived))
        return false;
    int rc = tk_create(o->c, name, t, derived, 0, &o->k);
    if (rc == TR_E_CAS) {
        o->warnings = json_pack("[s]", "Attempted creation of the key during the encrypt "
                                       "operation, but it was created beforehand");
        rc = tk_load(o->c, name, &o->k);
    }
    if (rc != TR_OK)
        api_reply_err(o->c, rc);
    return rc == TR_OK;
}

static size_t batch_size(const struct api_call *c)
{
    return json_array_size(json_object_get(c->body, "batch_input"));
}

/* Load the key and decide where to run. False when the call has been answered or deferred. */
static bool op_begin(struct tk_op *o, const struct op_desc *d, struct api_call *c, bool on_pool)
{
    char name[TK_NAME_MAX + 1], msg[160];
    int rc;

    memset(o, 0, sizeof(*o));
    o->c = c;
    if (c->method != API_PUT) {
        api_reply_error(c, 405, "unsupported operation");
        return false;
    }
    if (!tk_route_seg(c, d->name_idx, name, sizeof(name))) {
        api_reply_error(c, 404, NULL);
        return false;
    }
    rc = tk_load(c, name, &o->k);
    bool create = rc == TR_E_NOTFOUND && d->upsert &&
                  api_acl_allows_op(c->acl, c->path, API_ACL_OP_CREATE, false);
    if (create || (rc == TR_OK && !on_pool &&
                   (batch_size(c) > TK_DEFER_ITEMS || (d->produces && tk_rotation_due(&o->k))))) {
        tk_free(&o->k);
        if (on_pool)
            return upsert(o, name);
        api_defer(c, d->pool_fn); /* writes, long batches: off the event thread */
        return false;
    }
    if (rc == TR_E_NOTFOUND || rc == TR_E_INVAL) {
        api_reply_error(c, 400, "encryption key not found");
        return false;
    }
    if (rc == TR_OK && on_pool && d->produces)
        rc = tk_rotate_if_due(c, &o->k);
    if (rc != TR_OK) {
        tk_free(&o->k);
        api_reply_err(c, rc);
        return false;
    }
    if (d->type_ok && !d->type_ok(o->k.type)) {
        snprintf(msg, sizeof(msg), "key type %s not supported for this operation", o->k.type->name);
        api_reply_error(c, 400, msg);
        tk_free(&o->k);
        return false;
    }
    return true;
}

static void op_run(const struct op_desc *d, struct api_call *c, bool on_pool)
{
    struct tk_op o;

    if (!op_begin(&o, d, c, on_pool))
        return;
    run_items(&o, d->fn);
    op_done(&o);
}

/* Sign/verify options: hash (path segment 2, hash_algorithm, algorithm), prehashed,
 * marshaling_algorithm. False when the call was answered. */
static bool sig_options(struct tk_op *o, bool hmac_only)
{
    const json_t *b = o->c->body;
    const char *h = tr_json_get_str(b, "hash_algorithm"), *m;
    char seg[32], msg[160];
    bool pre = false, bad = false;

    if (!h)
        h = tr_json_get_str(b, "algorithm");
    if (tk_route_seg(o->c, 2, seg, sizeof(seg)))
        h = seg;
    m = tr_json_get_str(b, "marshaling_algorithm");
    tr_json_get_bool(b, "prehashed", &pre, &bad);
    bool ed = o->k.type->id == ENC_TRANSIT_KEY_ED25519 && !hmac_only;
    const char *why = NULL;
    if (h && !(ed && !strcmp(h, "none")) && !tk_hash_parse(h, &o->hash))
        why = "unsupported hash algorithm";
    else if (bad || (pre && ed))
        why = "prehashed is not supported with ed25519 keys";
    else if (m && strcmp(m, "asn1") && strcmp(m, "jws"))
        why = "invalid marshaling type";
    if (why) {
        snprintf(msg, sizeof(msg), "%s", why);
        api_reply_error(o->c, 400, msg);
        return false;
    }
    o->url = m && !strcmp(m, "jws");
    o->opts = (pre ? ENC_TRANSIT_OPT_PREHASHED : 0) | (o->url ? ENC_TRANSIT_OPT_JWS : 0);
    return true;
}

/* ---- entry points ------------------------------------------------------------------------ */

static void encrypt_pool(struct api_call *c)
{
    tk_encrypt(c, true);
}
static void decrypt_pool(struct api_call *c)
{
    tk_decrypt(c, true);
}
static void rewrap_pool(struct api_call *c)
{
    tk_rewrap(c, true);
}
static void datakey_pool(struct api_call *c)
{
    tk_datakey(c, true);
}
static void hmac_pool(struct api_call *c)
{
    tk_hmac(c, true);
}
static void sign_pool(struct api_call *c)
{
    tk_sign(c, true);
}
static void verify_pool(struct api_call *c)
{
    tk_verify(c, true);
}

void tk_encrypt(struct api_call *c, bool on_pool)
{
    static const struct op_desc d = {1, aead_ok, true, true, encrypt_pool, encrypt_item};
    op_run(&d, c, on_pool);
}

void tk_decrypt(struct api_call *c, bool on_pool)
{
    static const struct op_desc d = {1, aead_ok, false, false, decrypt_pool, decrypt_item};
    op_run(&d, c, on_pool);
}

void tk_rewrap(struct api_call *c, bool on_pool)
{
    static const struct op_desc d = {1, aead_ok, true, false, rewrap_pool, rewrap_item};
    op_run(&d, c, on_pool);
}

/* datakey/plaintext/<k> and datakey/wrapped/<k>: one key per request, no batch. Any other
 * word in place of plaintext is Vault's route too, refused before the key is looked up. */
void tk_datakey(struct api_call *c, bool on_pool)
{
    static const struct op_desc d = {2, aead_ok, true, false, datakey_pool, datakey_item};
    char kind[16] = "";
    struct tk_op o;
    json_t *res = NULL;

    if (c->method == API_PUT && (!tk_route_seg(c, 1, kind, sizeof(kind)) ||
                                 (strcmp(kind, "plaintext") && strcmp(kind, "wrapped")))) {
        api_reply_error(c, 400, "Invalid path, must be 'plaintext' or 'wrapped'");
        return;
    }
    if (!op_begin(&o, &d, c, on_pool))
        return;
    o.opts = strcmp(kind, "plaintext") ? 0 : ENC_TRANSIT_OPT_PLAINTEXT;
    int rc = datakey_item(&o, c->body, &res);
    if (rc == TR_OK)
        api_reply_data(c, 200, res);
    else if (rc == TR_E_INVAL && o.err[0])
        api_reply_error(c, 400, o.err);
    else
        api_reply_err(c, rc == TR_E_INVAL || rc == TR_E_AUTH ? TR_E_INTERNAL : rc);
    op_done(&o);
}

void tk_hmac(struct api_call *c, bool on_pool)
{
    static const struct op_desc d = {1, NULL, true, false, hmac_pool, hmac_item};
    struct tk_op o;

    if (!op_begin(&o, &d, c, on_pool))
        return;
    if (sig_options(&o, true))
        run_items(&o, d.fn);
    op_done(&o);
}

void tk_sign(struct api_call *c, bool on_pool)
{
    static const struct op_desc d = {1, signing_ok, true, false, sign_pool, sign_item};
    struct tk_op o;

    if (!op_begin(&o, &d, c, on_pool))
        return;
    if (sig_options(&o, false))
        run_items(&o, d.fn);
    op_done(&o);
}

void tk_verify(struct api_call *c, bool on_pool)
{
    static const struct op_desc d = {1, NULL, false, false, verify_pool, verify_item};
    struct tk_op o;

    if (!op_begin(&o, &d, c, on_pool))
        return;
    const json_t *b = c->body, *batch = json_object_get(b, "batch_input");
    const json_t *first = json_is_array(batch) ? json_array_get(batch, 0) : b;
    if (sig_options(&o, tr_json_get_str(first, "hmac") != NULL))
        run_items(&o, d.fn);
    op_done(&o);
}
