/*
 * transit.c - the transit engine's cryptography inside the core (enclave.h, "Transit keys").
 *
 * Every entry: take a guarded work area (from a small cache of wiped ones), take the core's lock for reading and derive the
 * wrapping subkey (enc_core_transit_begin), validate the request, unwrap the key version(s) into
 * the work area, do the operation, release the lock, wipe the work area. Nothing secret survives
 * a call: no key cache, no pointer kept into caller memory.
 *
 * Crypto comes from libsodium (key wrapping, ChaCha20-Poly1305, Ed25519, random numbers) and
 * OpenSSL 3 (AES-GCM, ECDSA P-256, HMAC, HKDF, digests). OpenSSL keeps its own copies of key
 * schedules and EC private keys inside its contexts; those are cleansed by OpenSSL when the
 * contexts are freed, which happens before every return. Nothing here logs.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "core_int.h"
#include "enclave.h"

#define BLOB_MAGIC "TRT1"
#define BLOB_HDR   8
#define BLOB_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define MAT_BYTES  64 /* the type's key (32) || HMAC key (32) */
#define AEAD_TAG   16
#define EC_SCALAR  32
#define EC_DER_MAX 72 /* SEQUENCE of two INTEGERs of up to 33 bytes */
#define SIG_MAX    64

_Static_assert(BLOB_HDR + BLOB_NONCE + MAT_BYTES + AEAD_TAG == ENC_TRANSIT_BLOB_BYTES,
               "transit blob layout");
_Static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == AEAD_TAG, "chacha tag");
_Static_assert(24 + AEAD_TAG == ENC_TRANSIT_OVERHEAD, "largest AEAD overhead (xchacha)");

/* One unwrapped key version. */
struct tkey {
    uint8_t type, flags;
    uint8_t mat[MAT_BYTES]; /* mat[0..32): the type's key; mat[32..64): the HMAC key */
};

/* Every secret a call handles, in one guarded allocation (style §5). */
struct work {
    uint8_t wk[ENC_KEY_BYTES]; /* transit wrapping subkey */
    struct tkey key, key2;     /* key2: REWRAP target */
    uint8_t eff[32];           /* the key actually used: derived from key, or a copy */
    uint8_t eff2[32];          /* the same for key2 */
    uint8_t edsk[crypto_sign_SECRETKEYBYTES];
    uint8_t mac[EVP_MAX_MD_SIZE];
    uint8_t dk[ENC_TRANSIT_DATAKEY_MAX];
};

static const uint8_t empty[1]; /* stands in for a NULL span of length 0 */

static const uint8_t *span(const uint8_t *p)
{
    return p ? p : empty;
}

static bool span_ok(const void *p, size_t n, size_t max)
{
    return (p || !n) && n <= max;
}

static bool is_aead(uint8_t t)
{
    return t == ENC_TRANSIT_KEY_AES256_GCM96 || t == ENC_TRANSIT_KEY_AES128_GCM96 ||
           t == ENC_TRANSIT_KEY_CHACHA20_POLY1305 || t == ENC_TRANSIT_KEY_XCHACHA20_POLY1305;
}

static bool is_signing(uint8_t t)
{
    return t == ENC_TRANSIT_KEY_ED25519 || t == ENC_TRANSIT_KEY_ECDSA_P256;
}

static size_t aead_key_len(uint8_t t)
{
    return t == ENC_TRANSIT_KEY_AES128_GCM96 ? 16 : 32;
}

static size_t aead_nonce_len(uint8_t t)
{
    return t == ENC_TRANSIT_KEY_XCHACHA20_POLY1305 ? 24 : 12;
}

static const EVP_MD *hash_md(enum enc_transit_hash h)
{
    switch (h) {
    case ENC_TRANSIT_SHA2_224:
        return EVP_sha224();
    case ENC_TRANSIT_SHA2_256:
        return EVP_sha256();
    case ENC_TRANSIT_SHA2_384:
        return EVP_sha384();
    case ENC_TRANSIT_SHA2_512:
        return EVP_sha512();
    case ENC_TRANSIT_SHA3_224:
        return EVP_sha3_224();
    case ENC_TRANSIT_SHA3_256:
        return EVP_sha3_256();
    case ENC_TRANSIT_SHA3_384:
        return EVP_sha3_384();
    case ENC_TRANSIT_SHA3_512:
        return EVP_sha3_512();
    }
    return NULL;
}

/* ---- wrapping -------------------------------------------------------------------------------- */

static void blob_header(uint8_t hdr[BLOB_HDR], uint8_t type, uint8_t flags)
{
    memcpy(hdr, BLOB_MAGIC, 4);
    hdr[4] = type;
    hdr[5] = flags;
    hdr[6] = 0;
    hdr[7] = 0;
}

static void key_wrap(const uint8_t wk[ENC_KEY_BYTES], const struct tkey *t,
                     uint8_t out[ENC_TRANSIT_BLOB_BYTES])
{
    blob_header(out, t->type, t->flags);
    randombytes_buf(out + BLOB_HDR, BLOB_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + BLOB_HDR + BLOB_NONCE, NULL, t->mat, MAT_BYTES,
                                               out, BLOB_HDR, NULL, out + BLOB_HDR, wk);
}

/* The header is authenticated as associated data, so after a successful open its fields are
 * ours; they are checked anyway so a future format can never be misread as this one. */
static int key_unwrap(const uint8_t wk[ENC_KEY_BYTES], const uint8_t *blob, size_t len,
                      struct tkey *out)
{
    if (!blob || len != ENC_TRANSIT_BLOB_BYTES)
        return TR_E_INVAL;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out->mat, NULL, NULL, blob + BLOB_HDR + BLOB_NONCE, MAT_BYTES + AEAD_TAG, blob,
            BLOB_HDR, blob + BLOB_HDR, wk) != 0 ||
        memcmp(blob, BLOB_MAGIC, 4) != 0 || blob[4] < 1 || blob[4] > ENC_TRANSIT_KEY_TYPE_MAX ||
        (blob[5] & ~ENC_TRANSIT_KEY_DERIVED) || blob[6] || blob[7]) {
        sodium_memzero(out, sizeof(*out));
        return TR_E_AUTH;
    }
    out->type = blob[4];
    out->flags = blob[5];
    return TR_OK;
}

/* ---- derivation -------------------------------------------------------------------------- */

/* HKDF-SHA256 with no salt and the context as info: Vault's hkdf_sha256 KDF. */
static int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len,
                       uint8_t *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[4];
    int rc = TR_E_INTERNAL;

    EVP_KDF_free(kdf); /* the context holds its own reference */
    if (!kctx)
        goto out;
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    p[3] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, out, out_len, p) == 1)
        rc = TR_OK;
out:
    EVP_KDF_CTX_free(kctx); /* cleanses the key copy */
    if (rc != TR_OK)
        sodium_memzero(out, out_len);
    return rc;
}

/* The n-byte key an operation uses: derived with the request's context, or the key itself. */
static int key_effective(const struct tkey *t, const struct enc_transit_req *r, uint8_t *out,
                         size_t n)
{
    if (!(t->flags & ENC_TRANSIT_KEY_DERIVED)) {
        memcpy(out, t->mat, n);
        return TR_OK;
    }
    if (r->ctx_len == 0)
        return TR_E_INVAL;
    return hkdf_sha256(t->mat, n, r->ctx, r->ctx_len, out, n);
}

/* ---- AEAD ---------------------------------------------------------------------------------- */

static int gcm_seal(const uint8_t *key, size_t klen, const uint8_t *nonce,
                    const struct enc_transit_req *r, const uint8_t *pt, size_t pt_len, uint8_t *ct)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    const EVP_CIPHER *ciph = klen == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    int n = 0, rc = TR_E_INTERNAL;

    if (!x || EVP_EncryptInit_ex(x, ciph, NULL, key, nonce) != 1)
        goto out;
    if (r->ad_len && EVP_EncryptUpdate(x, NULL, &n, r->ad, (int)r->ad_len) != 1)
        goto out;
    if (pt_len && EVP_EncryptUpdate(x, ct, &n, pt, (int)pt_len) != 1)
        goto out;
    if (EVP_EncryptFinal_ex(x, ct + pt_len, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, AEAD_TAG, ct + pt_len) != 1)
        goto out;
    rc = TR_OK;
out:
    EVP_CIPHER_CTX_free(x); /* cleanses the key schedule */
    return rc;
}

static int gcm_open(const uint8_t *key, size_t klen, const uint8_t *nonce,
                    const struct enc_transit_req *r, const uint8_t *ct, size_t pt_len, uint8_t *pt)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    const EVP_CIPHER *ciph = klen == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    uint8_t tag[AEAD_TAG];
    int n = 0, rc = TR_E_INTERNAL;

    memcpy(tag, ct + pt_len, AEAD_TAG); /* SET_TAG takes a non-const pointer */
    if (!x || EVP_DecryptInit_ex(x, ciph, NULL, key, nonce) != 1)
        goto out;
    if (r->ad_len && EVP_DecryptUpdate(x, NULL, &n, r->ad, (int)r->ad_len) != 1)
        goto out;
    if (pt_len && EVP_DecryptUpdate(x, pt, &n, ct, (int)pt_len) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, AEAD_TAG, tag) != 1)
        goto out;
    rc = EVP_DecryptFinal_ex(x, pt + pt_len, &n) == 1 ? TR_OK : TR_E_AUTH;
out:
    EVP_CIPHER_CTX_free(x);
    return rc;
}

/* out = nonce || ciphertext || tag under key (the type's key length). */
static int aead_seal(uint8_t type, const uint8_t *key, const struct enc_transit_req *r,
                     const uint8_t *pt, size_t pt_len, uint8_t *out, size_t *out_len)
{
    size_t nl = aead_nonce_len(type);
    uint8_t *ct = out + nl;
    int rc = TR_OK;

    randombytes_buf(out, nl);
    if (type == ENC_TRANSIT_KEY_CHACHA20_POLY1305)
        crypto_aead_chacha20poly1305_ietf_encrypt(ct, NULL, span(pt), pt_len, span(r->ad),
                                                  r->ad_len, NULL, out, key);
    else if (type == ENC_TRANSIT_KEY_XCHACHA20_POLY1305)
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, span(pt), pt_len, span(r->ad),
                                                   r->ad_len, NULL, out, key);
    else
        rc = gcm_seal(key, aead_key_len(type), out, r, span(pt), pt_len, ct);
    if (rc == TR_OK)
        *out_len = nl + pt_len + AEAD_TAG;
    return rc;
}

/* pt (ct_len - nonce - tag bytes, caller's guarded memory) = plaintext of ct. */
static int aead_open(uint8_t type, const uint8_t *key, const struct enc_transit_req *r,
                     const uint8_t *ct, size_t ct_len, uint8_t *pt)
{
    size_t nl = aead_nonce_len(type), pt_len = ct_len - nl - AEAD_TAG;
    int ok;

    if (type == ENC_TRANSIT_KEY_CHACHA20_POLY1305)
        ok = crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct + nl, ct_len - nl,
                                                       span(r->ad), r->ad_len, ct, key) == 0;
    else if (type == ENC_TRANSIT_KEY_XCHACHA20_POLY1305)
        ok = crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct + nl, ct_len - nl,
                                                        span(r->ad), r->ad_len, ct, key) == 0;
    else
        return gcm_open(key, aead_key_len(type), ct, r, ct + nl, pt_len, pt);
    return ok ? TR_OK : TR_E_AUTH;
}

static int op_encrypt(struct work *w, const struct enc_transit_req *r, uint8_t *out,
                      size_t *out_len)
{
    int rc = key_effective(&w->key, r, w->eff, aead_key_len(w->key.type));
    if (rc != TR_OK)
        return rc;
    return aead_seal(w->key.type, w->eff, r, r->in, r->in_len, out, out_len);
}

/* Open req->in with key into a new guarded buffer *out. */
static int open_to_secret(struct work *w, const struct enc_transit_req *r, struct enc_secret **out)
{
    size_t min = aead_nonce_len(w->key.type) + AEAD_TAG;
    struct enc_secret *s = NULL;
    int rc;

    if (r->in_len < min)
        return TR_E_INVAL;
    if ((rc = key_effective(&w->key, r, w->eff, aead_key_len(w->key.type))) != TR_OK)
        return rc;
    if ((rc = enc_secret_alloc(r->in_len - min, &s)) != TR_OK)
        return rc;
    rc = aead_open(w->key.type, w->eff, r, r->in, r->in_len, enc_secret_data(s));
    if (rc != TR_OK) {
        enc_secret_free(s); /* wipes whatever was written */
        return rc;
    }
    *out = s;
    return TR_OK;
}

static int op_rewrap(struct work *w, const struct enc_transit_req *r, uint8_t *out, size_t *out_len)
{
    struct enc_secret *pt = NULL;
    int rc;

    if ((rc = key_unwrap(w->wk, r->key2, r->key2_len, &w->key2)) != TR_OK)
        return rc;
    if (w->key2.type != w->key.type || w->key2.flags != w->key.flags)
        return TR_E_INVAL;
    if ((rc = open_to_secret(w, r, &pt)) != TR_OK)
        return rc;
    rc = key_effective(&w->key2, r, w->eff2, aead_key_len(w->key2.type));
    if (rc == TR_OK)
        rc = aead_seal(w->key2.type, w->eff2, r, enc_secret_data(pt), enc_secret_len(pt), out,
                       out_len);
    enc_secret_free(pt);
    return rc;
}

static int op_datakey(struct work *w, const struct enc_transit_req *r, uint8_t *out,
                      size_t *out_len, struct enc_secret **out_secret)
{
    size_t n = r->bits / 8;
    struct enc_secret *s = NULL;
    int rc;

    randombytes_buf(w->dk, n);
    if ((rc = key_effective(&w->key, r, w->eff, aead_key_len(w->key.type))) != TR_OK)
        return rc;
    if ((rc = aead_seal(w->key.type, w->eff, r, w->dk, n, out, out_len)) != TR_OK)
        return rc;
    if (r->opts & ENC_TRANSIT_OPT_PLAINTEXT) {
        if ((rc = enc_secret_alloc(n, &s)) != TR_OK)
            return rc;
        memcpy(enc_secret_data(s), w->dk, n);
        *out_secret = s;
    }
    return TR_OK;
}

/* ---- Ed25519 ----------------------------------------------------------------------------- */

static int ed_keypair(struct work *w, const struct enc_transit_req *r,
                      uint8_t pk[crypto_sign_PUBLICKEYBYTES])
{
    int rc = key_effective(&w->key, r, w->eff, crypto_sign_SEEDBYTES);
    if (rc == TR_OK)
        crypto_sign_seed_keypair(pk, w->edsk, w->eff);
    return rc;
}

static int ed_op(struct work *w, const struct enc_transit_req *r, uint8_t *out, size_t *out_len)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    int rc;

    if (r->opts & ENC_TRANSIT_OPT_PREHASHED)
        return TR_E_INVAL; /* Ed25519ph is not offered */
    if ((rc = ed_keypair(w, r, pk)) != TR_OK)
        return rc;
    if (r->op == ENC_TRANSIT_PUBKEY) {
        memcpy(out, pk, sizeof(pk));
        *out_len = sizeof(pk);
    } else if (r->op == ENC_TRANSIT_SIGN) {
        crypto_sign_detached(out, NULL, span(r->in), r->in_len, w->edsk);
        *out_len = crypto_sign_BYTES;
    } else if (r->in2_len != crypto_sign_BYTES ||
               crypto_sign_verify_detached(r->in2, span(r->in), r->in_len, pk) != 0) {
        rc = TR_E_AUTH;
    }
    return rc;
}

/* ---- ECDSA P-256 ------------------------------------------------------------------------- */

/* A fresh P-256 scalar from OpenSSL's key generator (no hand-rolled range reduction). */
static int ec_generate(uint8_t d[EC_SCALAR])
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIGNUM *bn = NULL;
    int rc = TR_E_INTERNAL;

    if (pk && EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1 &&
        BN_bn2binpad(bn, d, EC_SCALAR) == EC_SCALAR)
        rc = TR_OK;
    BN_clear_free(bn);
    EVP_PKEY_free(pk);
    return rc;
}

/* The public point of scalar bn, uncompressed. */
static int ec_public(const BIGNUM *bn, uint8_t pub[65])
{
    EC_GROUP *grp = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *pt = grp ? EC_POINT_new(grp) : NULL;
    int rc = TR_E_INTERNAL;

    if (pt && EC_POINT_mul(grp, pt, bn, NULL, NULL, NULL) == 1 &&
        EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, pub, 65, NULL) == 65)
        rc = TR_OK;
    EC_POINT_free(pt);
    EC_GROUP_free(grp);
    return rc;
}

/* An EVP key pair from the stored scalar d. The scalar's BIGNUM is flagged secure so that
 * OSSL_PARAM_BLD places its copy in the block OSSL_PARAM_free cleanses (OpenSSL 3.0 has no
 * OSSL_PARAM_clear_free). */
static int ec_pkey(const uint8_t d[EC_SCALAR], EVP_PKEY **out)
{
    BIGNUM *bn = BN_secure_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t pub[65];
    int rc = TR_E_INTERNAL;

    *out = NULL;
    if (!bn || !bld || !BN_bin2bn(d, EC_SCALAR, bn) || ec_public(bn, pub) != TR_OK)
        goto out;
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)))
        goto out;
    if (!(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) != 1)
        goto out;
    rc = TR_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(bn);
    return rc;
}

/* The bytes ECDSA signs: the request's digest, or the hash of its message. */
static int ec_digest(const struct enc_transit_req *r, uint8_t *dg, size_t *dl)
{
    unsigned n = 0;

    if (r->opts & ENC_TRANSIT_OPT_PREHASHED) {
        if (r->in_len < 1 || r->in_len > EVP_MAX_MD_SIZE)
            return TR_E_INVAL;
        memcpy(dg, r->in, r->in_len);
        *dl = r->in_len;
        return TR_OK;
    }
    if (EVP_Digest(span(r->in), r->in_len, dg, &n, hash_md(r->hash), NULL) != 1)
        return TR_E_INTERNAL;
    *dl = n;
    return TR_OK;
}

static int ec_der_to_raw(const uint8_t *der, size_t len, uint8_t out[SIG_MAX])
{
    const uint8_t *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *br = NULL, *bs = NULL;
    int rc = TR_E_INTERNAL;

    if (s) {
        ECDSA_SIG_get0(s, &br, &bs);
        if (BN_bn2binpad(br, out, 32) == 32 && BN_bn2binpad(bs, out + 32, 32) == 32)
            rc = TR_OK;
    }
    ECDSA_SIG_free(s);
    return rc;
}

/* JWS r || s -> DER for OpenSSL. A wrong length is a failed verification, as in Vault. */
static int ec_raw_to_der(const uint8_t *raw, size_t len, uint8_t der[EC_DER_MAX], size_t *der_len)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *br = len == SIG_MAX ? BN_bin2bn(raw, 32, NULL) : NULL;
    BIGNUM *bs = len == SIG_MAX ? BN_bin2bn(raw + 32, 32, NULL) : NULL;
    uint8_t *p = der;
    int rc = len == SIG_MAX ? TR_E_INTERNAL : TR_E_AUTH, n;

    if (!s || !br || !bs || ECDSA_SIG_set0(s, br, bs) != 1)
        goto out;
    br = bs = NULL; /* owned by s now */
    if ((n = i2d_ECDSA_SIG(s, NULL)) <= 0 || n > EC_DER_MAX)
        goto out;
    *der_len = (size_t)i2d_ECDSA_SIG(s, &p);
    rc = TR_OK;
out:
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(s);
    return rc;
}

/* A DER signature must parse completely (Vault: "supplied signature is invalid"). */
static bool ec_der_ok(const uint8_t *der, size_t len)
{
    const uint8_t *p = der;
    ECDSA_SIG *s = len ? d2i_ECDSA_SIG(NULL, &p, (long)len) : NULL;
    bool ok = s && p == der + len;

    ECDSA_SIG_free(s);
    return ok;
}

static int ec_sign(EVP_PKEY *pk, const struct enc_transit_req *r, uint8_t *out, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t dg[EVP_MAX_MD_SIZE], der[EC_DER_MAX];
    size_t dl = 0, sl = sizeof(der);
    int rc;

    if ((rc = ec_digest(r, dg, &dl)) != TR_OK)
        return rc;
    rc = TR_E_INTERNAL;
    if (!(ctx = EVP_PKEY_CTX_new(pk, NULL)) || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_sign(ctx, der, &sl, dg, dl) != 1)
        goto out;
    if (r->opts & ENC_TRANSIT_OPT_JWS) {
        if ((rc = ec_der_to_raw(der, sl, out)) != TR_OK)
            goto out;
        *out_len = SIG_MAX;
    } else {
        memcpy(out, der, sl);
        *out_len = sl;
    }
    rc = TR_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static int ec_verify(EVP_PKEY *pk, const struct enc_transit_req *r)
{
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t dg[EVP_MAX_MD_SIZE], der[EC_DER_MAX];
    const uint8_t *sig = r->in2;
    size_t dl = 0, sl = r->in2_len;
    int rc;

    if (r->opts & ENC_TRANSIT_OPT_JWS) {
        if ((rc = ec_raw_to_der(r->in2, r->in2_len, der, &sl)) != TR_OK)
            return rc;
        sig = der;
    } else if (!ec_der_ok(r->in2, r->in2_len)) {
        return TR_E_INVAL;
    }
    if ((rc = ec_digest(r, dg, &dl)) != TR_OK)
        return rc;
    rc = TR_E_INTERNAL;
    if (!(ctx = EVP_PKEY_CTX_new(pk, NULL)) || EVP_PKEY_verify_init(ctx) != 1)
        goto out;
    rc = EVP_PKEY_verify(ctx, sig, sl, dg, dl) == 1 ? TR_OK : TR_E_AUTH;
out:
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static int ec_op(struct work *w, const struct enc_transit_req *r, uint8_t *out, size_t *out_len)
{
    EVP_PKEY *pk = NULL;
    int rc = ec_pkey(w->key.mat, &pk);

    if (rc != TR_OK)
        return rc;
    if (r->op == ENC_TRANSIT_SIGN) {
        rc = ec_sign(pk, r, out, out_len);
    } else if (r->op == ENC_TRANSIT_VERIFY) {
        rc = ec_verify(pk, r);
    } else {
        int n = i2d_PUBKEY(pk, NULL);
        uint8_t *p = out;
        rc = TR_E_INTERNAL;
        if (n > 0 && n <= ENC_TRANSIT_SMALL_OUT && i2d_PUBKEY(pk, &p) == n) {
            *out_len = (size_t)n;
            rc = TR_OK;
        }
    }
    EVP_PKEY_free(pk); /* EC private keys are cleared on free */
    return rc;
}

/* ---- HMAC ---------------------------------------------------------------------------------- */

static int hmac_op(struct work *w, const struct enc_transit_req *r, uint8_t *out, size_t *out_len)
{
    unsigned n = 0;

    if (!HMAC(hash_md(r->hash), w->key.mat + 32, 32, span(r->in), r->in_len, w->mac, &n))
        return TR_E_INTERNAL;
    if (r->op == ENC_TRANSIT_HMAC) {
        memcpy(out, w->mac, n);
        *out_len = n;
        return TR_OK;
    }
    if (r->in2_len != n || sodium_memcmp(w->mac, r->in2, n) != 0)
        return TR_E_AUTH;
    return TR_OK;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static size_t out_needed(const struct enc_transit_req *r)
{
    switch (r->op) {
    case ENC_TRANSIT_ENCRYPT:
    case ENC_TRANSIT_REWRAP:
        return r->in_len + ENC_TRANSIT_OVERHEAD;
    case ENC_TRANSIT_DECRYPT:
    case ENC_TRANSIT_VERIFY:
    case ENC_TRANSIT_HMAC_VERIFY:
        return 0;
    default:
        return ENC_TRANSIT_SMALL_OUT;
    }
}

static int req_check(const struct enc_transit_req *r, const uint8_t *out, size_t out_cap,
                     const size_t *out_len, struct enc_secret **out_secret)
{
    const uint32_t all =
        ENC_TRANSIT_OPT_PREHASHED | ENC_TRANSIT_OPT_JWS | ENC_TRANSIT_OPT_PLAINTEXT;

    if (!r || !out_len || r->op < ENC_TRANSIT_ENCRYPT || r->op > ENC_TRANSIT_PUBKEY)
        return TR_E_INVAL;
    if (!span_ok(r->key, r->key_len, ENC_TRANSIT_BLOB_BYTES) ||
        !span_ok(r->key2, r->key2_len, ENC_TRANSIT_BLOB_BYTES) ||
        !span_ok(r->ctx, r->ctx_len, ENC_TRANSIT_CTX_MAX) ||
        !span_ok(r->ad, r->ad_len, ENC_AD_MAX) || !span_ok(r->in, r->in_len, ENC_TRANSIT_IN_MAX) ||
        !span_ok(r->in2, r->in2_len, ENC_TRANSIT_SMALL_OUT))
        return TR_E_INVAL;
    if ((r->opts & ~all) || (unsigned)r->hash > ENC_TRANSIT_HASH_MAX)
        return TR_E_INVAL;
    size_t need = out_needed(r);
    if (out_cap < need || (need && !out))
        return TR_E_INVAL;
    bool wants_secret = r->op == ENC_TRANSIT_DECRYPT ||
                        (r->op == ENC_TRANSIT_DATAKEY && (r->opts & ENC_TRANSIT_OPT_PLAINTEXT));
    if (wants_secret && !out_secret)
        return TR_E_INVAL;
    if (r->op == ENC_TRANSIT_DATAKEY && r->bits != 128 && r->bits != 256 && r->bits != 512)
        return TR_E_INVAL;
    return TR_OK;
}

static bool op_allowed(enum enc_transit_opcode op, uint8_t type)
{
    switch (op) {
    case ENC_TRANSIT_ENCRYPT:
    case ENC_TRANSIT_DECRYPT:
    case ENC_TRANSIT_REWRAP:
    case ENC_TRANSIT_DATAKEY:
        return is_aead(type);
    case ENC_TRANSIT_SIGN:
    case ENC_TRANSIT_VERIFY:
    case ENC_TRANSIT_PUBKEY:
        return is_signing(type);
    case ENC_TRANSIT_HMAC:
    case ENC_TRANSIT_HMAC_VERIFY:
        return true;
    }
    return false;
}

static int op_locked(struct work *w, const struct enc_transit_req *r, uint8_t *out, size_t out_cap,
                     size_t *out_len, struct enc_secret **out_secret)
{
    int rc;

    if ((rc = req_check(r, out, out_cap, out_len, out_secret)) != TR_OK)
        return rc;
    if ((rc = key_unwrap(w->wk, r->key, r->key_len, &w->key)) != TR_OK)
        return rc;
    if (!op_allowed(r->op, w->key.type))
        return TR_E_UNSUPPORTED;
    switch (r->op) {
    case ENC_TRANSIT_ENCRYPT:
        return op_encrypt(w, r, out, out_len);
    case ENC_TRANSIT_DECRYPT:
        return open_to_secret(w, r, out_secret);
    case ENC_TRANSIT_REWRAP:
        return op_rewrap(w, r, out, out_len);
    case ENC_TRANSIT_DATAKEY:
        return op_datakey(w, r, out, out_len, out_secret);
    case ENC_TRANSIT_HMAC:
    case ENC_TRANSIT_HMAC_VERIFY:
        return hmac_op(w, r, out, out_len);
    default: /* SIGN, VERIFY, PUBKEY on a signing type (op_allowed) */
        return w->key.type == ENC_TRANSIT_KEY_ED25519 ? ed_op(w, r, out, out_len)
                                                      : ec_op(w, r, out, out_len);
    }
}

/* Work areas are reused: each sodium_malloc/sodium_free pair costs an mmap, mprotects, an
 * mlock and a munmap, and the TLB shootdowns of the unmapping dominated a transit request's CPU
 * time under load (docs/performance.md, "Transit"). An area is wiped before it goes back to the
 * cache, so a cached area never holds anything secret; enc_fini releases them. */
#define WORK_CACHE 32

static struct {
    pthread_mutex_t lock;
    struct work *free[WORK_CACHE];
    size_t n;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct work *work_get(void)
{
    struct work *w = NULL;

    pthread_mutex_lock(&cache.lock);
    if (cache.n)
        w = cache.free[--cache.n];
    pthread_mutex_unlock(&cache.lock);
    /* sodium_init is idempotent and makes sodium_malloc usable in any core state */
    if (!w && sodium_init() >= 0 && (w = sodium_malloc(sizeof(*w))))
        sodium_memzero(w, sizeof(*w));
    return w;
}

static void work_put(struct work *w)
{
    if (!w)
        return;
    sodium_memzero(w, sizeof(*w));
    pthread_mutex_lock(&cache.lock);
    if (cache.n < WORK_CACHE) {
        cache.free[cache.n++] = w;
        w = NULL;
    }
    pthread_mutex_unlock(&cache.lock);
    if (w)
        sodium_free(w);
}

void enc_transit_cache_drop(void)
{
    pthread_mutex_lock(&cache.lock);
    while (cache.n)
        sodium_free(cache.free[--cache.n]);
    pthread_mutex_unlock(&cache.lock);
}

/* ---- entry points ------------------------------------------------------------------------ */

static int keygen_locked(struct work *w, enum enc_transit_type type, uint32_t key_flags,
                         uint8_t *out)
{
    int rc;

    if (!out || (int)type < 1 || (int)type > ENC_TRANSIT_KEY_TYPE_MAX ||
        (key_flags & ~ENC_TRANSIT_KEY_DERIVED))
        return TR_E_INVAL;
    if ((key_flags & ENC_TRANSIT_KEY_DERIVED) && !is_aead((uint8_t)type) &&
        type != ENC_TRANSIT_KEY_ED25519)
        return TR_E_INVAL;
    w->key.type = (uint8_t)type;
    w->key.flags = (uint8_t)key_flags;
    if (type == ENC_TRANSIT_KEY_ECDSA_P256) {
        if ((rc = ec_generate(w->key.mat)) != TR_OK)
            return rc;
    } else {
        randombytes_buf(w->key.mat, 32);
    }
    if (type == ENC_TRANSIT_KEY_HMAC)
        memcpy(w->key.mat + 32, w->key.mat, 32); /* the HMAC key is the key (as Vault) */
    else
        randombytes_buf(w->key.mat + 32, 32);
    key_wrap(w->wk, &w->key, out);
    return TR_OK;
}

ENC_API int enc_transit_keygen(enum enc_transit_type type, uint32_t key_flags,
                               uint8_t out[ENC_TRANSIT_BLOB_BYTES])
{
    struct work *w = work_get();
    int rc = TR_E_NOMEM;

    if (!w)
        goto out;
    if ((rc = enc_core_transit_begin(w->wk)) != TR_OK)
        goto out;
    rc = keygen_locked(w, type, key_flags, out);
    enc_core_transit_end();
out:
    if (rc != TR_OK && out)
        sodium_memzero(out, ENC_TRANSIT_BLOB_BYTES);
    work_put(w); /* wipes */
    return rc;
}

ENC_API int enc_transit_op(const struct enc_transit_req *req, uint8_t *out, size_t out_cap,
                           size_t *out_len, struct enc_secret **out_secret)
{
    struct work *w = work_get();
    int rc = TR_E_NOMEM;

    if (out_len)
        *out_len = 0;
    if (out_secret)
        *out_secret = NULL;
    if (!w)
        goto out;
    if ((rc = enc_core_transit_begin(w->wk)) != TR_OK)
        goto out;
    rc = op_locked(w, req, out, out_cap, out_len, out_secret);
    enc_core_transit_end();
out:
    if (rc != TR_OK) {
        if (out && out_cap)
            sodium_memzero(out, out_cap);
        if (out_len)
            *out_len = 0;
        if (out_secret) {
            enc_secret_free(*out_secret);
            *out_secret = NULL;
        }
    }
    work_put(w); /* wipes */
    return rc;
}
