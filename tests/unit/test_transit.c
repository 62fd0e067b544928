/* Unit tests for the transit entry points (enclave.h "Transit keys"): every key type round trip,
 * wrong state, invalid arguments, tampered blobs and ciphertext (TR_E_AUTH, zeroed output),
 * rewrap, independent checks of signatures with OpenSSL/libsodium, and log hygiene. Real
 * libsodium and OpenSSL, a real core unsealed with the devkey seal. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "../../common/tr_log.h"
#include "../../enclave/enclave.h"

#define BLOB ENC_TRANSIT_BLOB_BYTES

struct fixture {
    char dir[64];
    struct enc_config cfg;
    struct enc_shares shares;
};

static const enum enc_transit_type aead_types[] = {
    ENC_TRANSIT_KEY_AES256_GCM96, ENC_TRANSIT_KEY_AES128_GCM96, ENC_TRANSIT_KEY_CHACHA20_POLY1305,
    ENC_TRANSIT_KEY_XCHACHA20_POLY1305};
#define N_AEAD (sizeof(aead_types) / sizeof(aead_types[0]))

static int rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static void cfg_for(struct fixture *f)
{
    memset(&f->cfg, 0, sizeof(f->cfg));
    f->cfg.seal_type = ENC_SEAL_DEVKEY;
    f->cfg.counter_type = ENC_COUNTER_FILE;
    f->cfg.dev_mode = true;
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->dir);
    snprintf(f->cfg.devkey_file, sizeof(f->cfg.devkey_file), "%s/dev.key", f->dir);
}

static int setup_dir(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/tresor-transit-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    cfg_for(f);
    *state = f;
    return 0;
}

/* A fresh, unsealed core for each test. */
static int setup(void **state)
{
    if (setup_dir(state) != 0)
        return -1;
    struct fixture *f = *state;
    if (enc_init(&f->cfg) != TR_OK || enc_initialize(1, 1, &f->shares) != TR_OK ||
        enc_unseal_auto() != TR_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    enc_fini();
    rm_rf(f->dir);
    sodium_memzero(&f->shares, sizeof(f->shares));
    free(f);
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void keygen(enum enc_transit_type t, uint32_t flags, uint8_t blob[BLOB])
{
    assert_int_equal(enc_transit_keygen(t, flags, blob), TR_OK);
}

static struct enc_transit_req req_for(enum enc_transit_opcode op, const uint8_t *key,
                                      const void *in, size_t in_len)
{
    struct enc_transit_req r = {.op = op, .key = key, .key_len = BLOB, .in = in, .in_len = in_len};
    return r;
}

static int encrypt(const uint8_t *key, const char *ctx, const char *ad, const void *pt,
                   size_t pt_len, uint8_t *out, size_t cap, size_t *out_len)
{
    struct enc_transit_req r = req_for(ENC_TRANSIT_ENCRYPT, key, pt, pt_len);
    r.ctx = (const uint8_t *)ctx;
    r.ctx_len = ctx ? strlen(ctx) : 0;
    r.ad = (const uint8_t *)ad;
    r.ad_len = ad ? strlen(ad) : 0;
    return enc_transit_op(&r, out, cap, out_len, NULL);
}

static int decrypt(const uint8_t *key, const char *ctx, const char *ad, const uint8_t *ct,
                   size_t ct_len, struct enc_secret **out)
{
    struct enc_transit_req r = req_for(ENC_TRANSIT_DECRYPT, key, ct, ct_len);
    r.ctx = (const uint8_t *)ctx;
    r.ctx_len = ctx ? strlen(ctx) : 0;
    r.ad = (const uint8_t *)ad;
    r.ad_len = ad ? strlen(ad) : 0;
    return enc_transit_op(&r, NULL, 0, &(size_t){0}, out);
}

/* ---- state ----------------------------------------------------------------------------------- */

static void test_transit_entries_wrong_state(void **state)
{
    struct fixture *f = *state;
    uint8_t blob[BLOB], out[256];
    size_t len = 7;
    struct enc_secret *s = (struct enc_secret *)1;

    memset(blob, 0xaa, sizeof(blob));
    assert_int_equal(enc_transit_keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, blob), TR_E_SEALED);
    assert_true(all_zero(blob, sizeof(blob))); /* UNINIT */
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_transit_keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, blob), TR_E_SEALED);
    assert_int_equal(enc_initialize(1, 1, &f->shares), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_OK);
    keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, blob);
    enc_seal(ENC_REASON_OPERATOR);
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(encrypt(blob, NULL, NULL, "x", 1, out, sizeof(out), &len), TR_E_SEALED);
    assert_true(all_zero(out, sizeof(out)));
    assert_int_equal(len, 0);
    struct enc_transit_req r = req_for(ENC_TRANSIT_DECRYPT, blob, out, 40);
    assert_int_equal(enc_transit_op(&r, NULL, 0, &len, &s), TR_E_SEALED);
    assert_null(s);
    /* the same master key comes back on unseal: old blobs stay usable */
    assert_int_equal(enc_unseal_auto(), TR_OK);
    assert_int_equal(encrypt(blob, NULL, NULL, "x", 1, out, sizeof(out), &len), TR_OK);
}

/* ---- keygen ---------------------------------------------------------------------------------- */

static void test_transit_keygen_args(void **state)
{
    uint8_t a[BLOB], b[BLOB];
    (void)state;

    memset(a, 0xaa, sizeof(a));
    assert_int_equal(enc_transit_keygen(0, 0, a), TR_E_INVAL);
    assert_true(all_zero(a, sizeof(a)));
    assert_int_equal(enc_transit_keygen(ENC_TRANSIT_KEY_TYPE_MAX + 1, 0, a), TR_E_INVAL);
    assert_int_equal(enc_transit_keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0x80, a), TR_E_INVAL);
    assert_int_equal(enc_transit_keygen(ENC_TRANSIT_KEY_ECDSA_P256, ENC_TRANSIT_KEY_DERIVED, a),
                     TR_E_INVAL);
    assert_int_equal(enc_transit_keygen(ENC_TRANSIT_KEY_HMAC, ENC_TRANSIT_KEY_DERIVED, a),
                     TR_E_INVAL);
    assert_int_equal(enc_transit_keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, NULL), TR_E_INVAL);
    for (int t = 1; t <= ENC_TRANSIT_KEY_TYPE_MAX; t++) {
        keygen((enum enc_transit_type)t, 0, a);
        keygen((enum enc_transit_type)t, 0, b); /* twice: independent keys */
        assert_memory_not_equal(a, b, sizeof(a));
        assert_memory_equal(a, "TRT1", 4);
        assert_int_equal(a[4], t);
    }
}

/* ---- AEAD ------------------------------------------------------------------------------------ */

static void roundtrip_one(enum enc_transit_type t, uint32_t flags)
{
    const char *ctx = flags ? "tenant-42" : NULL;
    const char pt[] = "attack at dawn";
    size_t nonce = t == ENC_TRANSIT_KEY_XCHACHA20_POLY1305 ? 24 : 12, len = 0;
    uint8_t blob[BLOB], ct[128];
    struct enc_secret *s = NULL;

    keygen(t, flags, blob);
    for (int withad = 0; withad < 2; withad++) {
        const char *ad = withad ? "row-7" : NULL;
        assert_int_equal(encrypt(blob, ctx, ad, pt, sizeof(pt), ct, sizeof(ct), &len), TR_OK);
        assert_int_equal(len, nonce + sizeof(pt) + 16); /* nonce || ct || tag */
        assert_int_equal(decrypt(blob, ctx, ad, ct, len, &s), TR_OK);
        assert_int_equal(enc_secret_len(s), sizeof(pt));
        assert_memory_equal(enc_secret_data(s), pt, sizeof(pt));
        enc_secret_free(s);
    }
    /* empty plaintext */
    assert_int_equal(encrypt(blob, ctx, NULL, NULL, 0, ct, sizeof(ct), &len), TR_OK);
    assert_int_equal(len, nonce + 16);
    assert_int_equal(decrypt(blob, ctx, NULL, ct, len, &s), TR_OK);
    assert_int_equal(enc_secret_len(s), 0);
    enc_secret_free(s);
}

static void test_transit_aead_roundtrip(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_AEAD; i++) {
        roundtrip_one(aead_types[i], 0);
        roundtrip_one(aead_types[i], ENC_TRANSIT_KEY_DERIVED);
    }
}

static void expect_auth(const uint8_t *blob, const char *ctx, const char *ad, const uint8_t *ct,
                        size_t len)
{
    struct enc_secret *s = (struct enc_secret *)1;
    assert_int_equal(decrypt(blob, ctx, ad, ct, len, &s), TR_E_AUTH);
    assert_null(s);
}

static void test_transit_aead_tampered(void **state)
{
    uint8_t blob[BLOB], other[BLOB], ct[128];
    size_t len = 0;
    struct enc_secret *s = (struct enc_secret *)1;
    (void)state;

    for (size_t i = 0; i < N_AEAD; i++) {
        keygen(aead_types[i], 0, blob);
        keygen(aead_types[i], 0, other);
        assert_int_equal(encrypt(blob, NULL, "ad", "secret", 6, ct, sizeof(ct), &len), TR_OK);
        for (size_t pos = 0; pos < len; pos++) { /* every byte: nonce, ciphertext, tag */
            ct[pos] ^= 0x01;
            expect_auth(blob, NULL, "ad", ct, len);
            ct[pos] ^= 0x01;
        }
        expect_auth(blob, NULL, "AD", ct, len);  /* wrong associated data */
        expect_auth(blob, NULL, NULL, ct, len);  /* missing associated data */
        expect_auth(other, NULL, "ad", ct, len); /* another key */
        expect_auth(blob, NULL, "ad", ct, len - 1);
        /* shorter than nonce + tag: malformed, not an authentication verdict */
        assert_int_equal(decrypt(blob, NULL, "ad", ct, 27, &s), TR_E_INVAL);
        assert_null(s);
    }
}

static void test_transit_derived_context(void **state)
{
    uint8_t blob[BLOB], ct[128], out[128];
    size_t len = 0;
    (void)state;

    keygen(ENC_TRANSIT_KEY_AES256_GCM96, ENC_TRANSIT_KEY_DERIVED, blob);
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(encrypt(blob, NULL, NULL, "pt", 2, out, sizeof(out), &len), TR_E_INVAL);
    assert_true(all_zero(out, sizeof(out)));
    assert_int_equal(encrypt(blob, "ctx-a", NULL, "pt", 2, ct, sizeof(ct), &len), TR_OK);
    expect_auth(blob, "ctx-b", NULL, ct, len); /* context mismatch */
    struct enc_secret *s = NULL;
    assert_int_equal(decrypt(blob, NULL, NULL, ct, len, &s), TR_E_INVAL);
    assert_null(s);
    /* a non-derived key ignores a context, as Vault does */
    keygen(ENC_TRANSIT_KEY_CHACHA20_POLY1305, 0, blob);
    assert_int_equal(encrypt(blob, "ignored", NULL, "pt", 2, ct, sizeof(ct), &len), TR_OK);
    assert_int_equal(decrypt(blob, NULL, NULL, ct, len, &s), TR_OK);
    enc_secret_free(s);
}

/* Deterministic mutation loop over blobs: every bit flip and truncation is refused. */
static void test_transit_blob_tampered(void **state)
{
    uint8_t blob[BLOB], out[128];
    size_t len = 0;
    (void)state;

    keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, blob);
    for (size_t bit = 0; bit < BLOB * 8; bit++) {
        blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(out, 0xaa, sizeof(out));
        assert_int_equal(encrypt(blob, NULL, NULL, "pt", 2, out, sizeof(out), &len), TR_E_AUTH);
        assert_true(all_zero(out, sizeof(out)));
        assert_int_equal(len, 0);
        blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    struct enc_transit_req r = req_for(ENC_TRANSIT_ENCRYPT, blob, "pt", 2);
    for (size_t n = 0; n < BLOB; n += 7) {
        r.key_len = n;
        assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_INVAL);
    }
    assert_int_equal(encrypt(blob, NULL, NULL, "pt", 2, out, sizeof(out), &len), TR_OK);
}

static void test_transit_blob_other_master_key(void **state)
{
    struct fixture *f = *state;
    uint8_t blob[BLOB], out[128];
    size_t len = 0;

    keygen(ENC_TRANSIT_KEY_ED25519, 0, blob);
    enc_fini();
    rm_rf(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(1, 1, &f->shares), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_OK);
    struct enc_transit_req r = req_for(ENC_TRANSIT_SIGN, blob, "m", 1);
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_AUTH);
    assert_true(all_zero(out, sizeof(out)));
}

/* ---- rewrap and datakey ---------------------------------------------------------------------- */

static void test_transit_rewrap(void **state)
{
    uint8_t v1[BLOB], v2[BLOB], other[BLOB], ct[128], ct2[128];
    size_t len = 0, len2 = 0;
    struct enc_secret *s = NULL;
    (void)state;

    for (size_t i = 0; i < N_AEAD; i++) {
        keygen(aead_types[i], ENC_TRANSIT_KEY_DERIVED, v1);
        keygen(aead_types[i], ENC_TRANSIT_KEY_DERIVED, v2);
        assert_int_equal(encrypt(v1, "c", "ad", "payload", 7, ct, sizeof(ct), &len), TR_OK);
        struct enc_transit_req r = req_for(ENC_TRANSIT_REWRAP, v1, ct, len);
        r.key2 = v2;
        r.key2_len = BLOB;
        r.ctx = (const uint8_t *)"c";
        r.ctx_len = 1;
        r.ad = (const uint8_t *)"ad";
        r.ad_len = 2;
        assert_int_equal(enc_transit_op(&r, ct2, sizeof(ct2), &len2, NULL), TR_OK);
        assert_int_equal(len2, len);
        assert_int_equal(decrypt(v2, "c", "ad", ct2, len2, &s), TR_OK);
        assert_memory_equal(enc_secret_data(s), "payload", 7);
        enc_secret_free(s);
        expect_auth(v1, "c", "ad", ct2, len2); /* now under v2 only */
        ct[len - 1] ^= 1;                      /* tampered input: nothing comes out */
        memset(ct2, 0xaa, sizeof(ct2));
        assert_int_equal(enc_transit_op(&r, ct2, sizeof(ct2), &len2, NULL), TR_E_AUTH);
        assert_true(all_zero(ct2, sizeof(ct2)));
        ct[len - 1] ^= 1;
        keygen(aead_types[i], 0, other); /* flags differ */
        r.key2 = other;
        assert_int_equal(enc_transit_op(&r, ct2, sizeof(ct2), &len2, NULL), TR_E_INVAL);
    }
}

static void test_transit_datakey(void **state)
{
    static const uint32_t bits[] = {128, 256, 512};
    uint8_t blob[BLOB], ct[ENC_TRANSIT_SMALL_OUT];
    struct enc_secret *pt = NULL, *back = NULL;
    size_t len = 0;
    (void)state;

    keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, blob);
    for (size_t i = 0; i < 3; i++) {
        struct enc_transit_req r = req_for(ENC_TRANSIT_DATAKEY, blob, NULL, 0);
        r.bits = bits[i];
        r.opts = ENC_TRANSIT_OPT_PLAINTEXT;
        assert_int_equal(enc_transit_op(&r, ct, sizeof(ct), &len, &pt), TR_OK);
        assert_int_equal(enc_secret_len(pt), bits[i] / 8);
        assert_int_equal(len, 12 + bits[i] / 8 + 16);
        assert_int_equal(decrypt(blob, NULL, NULL, ct, len, &back), TR_OK);
        assert_memory_equal(enc_secret_data(back), enc_secret_data(pt), bits[i] / 8);
        enc_secret_free(pt);
        enc_secret_free(back);
        r.opts = 0; /* wrapped only: no plaintext handed out */
        pt = (struct enc_secret *)1;
        assert_int_equal(enc_transit_op(&r, ct, sizeof(ct), &len, &pt), TR_OK);
        assert_null(pt);
    }
    struct enc_transit_req r = req_for(ENC_TRANSIT_DATAKEY, blob, NULL, 0);
    r.bits = 192;
    assert_int_equal(enc_transit_op(&r, ct, sizeof(ct), &len, NULL), TR_E_INVAL);
    r.bits = 256;
    r.opts = ENC_TRANSIT_OPT_PLAINTEXT; /* plaintext wanted but nowhere to put it */
    assert_int_equal(enc_transit_op(&r, ct, sizeof(ct), &len, NULL), TR_E_INVAL);
}

/* ---- signatures -------------------------------------------------------------------------------- */

static size_t sign(const uint8_t *blob, const char *ctx, uint32_t opts, enum enc_transit_hash h,
                   const void *msg, size_t n, uint8_t out[ENC_TRANSIT_SMALL_OUT])
{
    size_t len = 0;
    struct enc_transit_req r = req_for(ENC_TRANSIT_SIGN, blob, msg, n);
    r.ctx = (const uint8_t *)ctx;
    r.ctx_len = ctx ? strlen(ctx) : 0;
    r.opts = opts;
    r.hash = h;
    assert_int_equal(enc_transit_op(&r, out, ENC_TRANSIT_SMALL_OUT, &len, NULL), TR_OK);
    return len;
}

static int verify(const uint8_t *blob, const char *ctx, uint32_t opts, enum enc_transit_hash h,
                  const void *msg, size_t n, const uint8_t *sig, size_t sig_len)
{
    size_t len = 0;
    struct enc_transit_req r = req_for(ENC_TRANSIT_VERIFY, blob, msg, n);
    r.ctx = (const uint8_t *)ctx;
    r.ctx_len = ctx ? strlen(ctx) : 0;
    r.opts = opts;
    r.hash = h;
    r.in2 = sig;
    r.in2_len = sig_len;
    return enc_transit_op(&r, NULL, 0, &len, NULL);
}

static size_t pubkey(const uint8_t *blob, const char *ctx, uint8_t out[ENC_TRANSIT_SMALL_OUT])
{
    size_t len = 0;
    struct enc_transit_req r = req_for(ENC_TRANSIT_PUBKEY, blob, NULL, 0);
    r.ctx = (const uint8_t *)ctx;
    r.ctx_len = ctx ? strlen(ctx) : 0;
    assert_int_equal(enc_transit_op(&r, out, ENC_TRANSIT_SMALL_OUT, &len, NULL), TR_OK);
    return len;
}

static void test_transit_ed25519(void **state)
{
    uint8_t blob[BLOB], sig[ENC_TRANSIT_SMALL_OUT], pk[ENC_TRANSIT_SMALL_OUT];
    uint8_t pk2[ENC_TRANSIT_SMALL_OUT];
    const char msg[] = "hello transit";
    (void)state;

    keygen(ENC_TRANSIT_KEY_ED25519, 0, blob);
    assert_int_equal(sign(blob, NULL, 0, 0, msg, sizeof(msg), sig), 64);
    assert_int_equal(pubkey(blob, NULL, pk), 32);
    /* independent check with libsodium's verifier and the exported public key */
    assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)msg, sizeof(msg), pk), 0);
    assert_int_equal(verify(blob, NULL, 0, 0, msg, sizeof(msg), sig, 64), TR_OK);
    assert_int_equal(verify(blob, NULL, 0, 0, msg, sizeof(msg) - 1, sig, 64), TR_E_AUTH);
    assert_int_equal(verify(blob, NULL, 0, 0, msg, sizeof(msg), sig, 63), TR_E_AUTH);
    sig[5] ^= 0x40;
    assert_int_equal(verify(blob, NULL, 0, 0, msg, sizeof(msg), sig, 64), TR_E_AUTH);
    assert_int_equal(verify(blob, NULL, ENC_TRANSIT_OPT_PREHASHED, 0, msg, 32, sig, 64),
                     TR_E_INVAL);
    /* derived: the context selects the key pair */
    keygen(ENC_TRANSIT_KEY_ED25519, ENC_TRANSIT_KEY_DERIVED, blob);
    pubkey(blob, "alice", pk);
    pubkey(blob, "bob", pk2);
    assert_memory_not_equal(pk, pk2, 32);
    sign(blob, "alice", 0, 0, msg, sizeof(msg), sig);
    assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)msg, sizeof(msg), pk), 0);
    assert_int_equal(verify(blob, "alice", 0, 0, msg, sizeof(msg), sig, 64), TR_OK);
    assert_int_equal(verify(blob, "bob", 0, 0, msg, sizeof(msg), sig, 64), TR_E_AUTH);
    assert_int_equal(verify(blob, NULL, 0, 0, msg, sizeof(msg), sig, 64), TR_E_INVAL);
}

/* OpenSSL checks the signature against the exported SubjectPublicKeyInfo. */
static bool openssl_verifies(const uint8_t *spki, size_t spki_len, const EVP_MD *md,
                             const void *msg, size_t n, const uint8_t *der, size_t der_len)
{
    const uint8_t *p = spki;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    bool ok = pk && m && EVP_DigestVerifyInit(m, NULL, md, NULL, pk) == 1 &&
              EVP_DigestVerify(m, der, der_len, msg, n) == 1;
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pk);
    return ok;
}

static void test_transit_ecdsa(void **state)
{
    static const struct {
        enum enc_transit_hash h;
        const EVP_MD *(*md)(void);
    } hashes[] = {{ENC_TRANSIT_SHA2_256, EVP_sha256},
                  {ENC_TRANSIT_SHA2_224, EVP_sha224},
                  {ENC_TRANSIT_SHA2_384, EVP_sha384},
                  {ENC_TRANSIT_SHA2_512, EVP_sha512},
                  {ENC_TRANSIT_SHA3_256, EVP_sha3_256}};
    uint8_t blob[BLOB], sig[ENC_TRANSIT_SMALL_OUT], spki[ENC_TRANSIT_SMALL_OUT], dg[32];
    const char msg[] = "ecdsa message";
    (void)state;

    keygen(ENC_TRANSIT_KEY_ECDSA_P256, 0, blob);
    size_t spki_len = pubkey(blob, NULL, spki);
    assert_int_equal(spki_len, 91);
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
        size_t n = sign(blob, NULL, 0, hashes[i].h, msg, sizeof(msg), sig);
        assert_true(n >= 8 && n <= 72 && sig[0] == 0x30); /* ASN.1 DER SEQUENCE */
        assert_true(openssl_verifies(spki, spki_len, hashes[i].md(), msg, sizeof(msg), sig, n));
        assert_int_equal(verify(blob, NULL, 0, hashes[i].h, msg, sizeof(msg), sig, n), TR_OK);
        assert_int_equal(verify(blob, NULL, 0, hashes[i].h, msg, 3, sig, n), TR_E_AUTH);
    }
    /* JWS: raw r || s, verified both ways */
    size_t n = sign(blob, NULL, ENC_TRANSIT_OPT_JWS, 0, msg, sizeof(msg), sig);
    assert_int_equal(n, 64);
    assert_int_equal(verify(blob, NULL, ENC_TRANSIT_OPT_JWS, 0, msg, sizeof(msg), sig, 64), TR_OK);
    assert_int_equal(verify(blob, NULL, ENC_TRANSIT_OPT_JWS, 0, msg, sizeof(msg), sig, 63),
                     TR_E_AUTH);
    sig[10] ^= 1;
    assert_int_equal(verify(blob, NULL, ENC_TRANSIT_OPT_JWS, 0, msg, sizeof(msg), sig, 64),
                     TR_E_AUTH);
    /* prehashed: the caller's SHA-256 digest signs like the message */
    SHA256((const uint8_t *)msg, sizeof(msg), dg);
    n = sign(blob, NULL, ENC_TRANSIT_OPT_PREHASHED, 0, dg, sizeof(dg), sig);
    assert_true(openssl_verifies(spki, spki_len, EVP_sha256(), msg, sizeof(msg), sig, n));
    assert_int_equal(verify(blob, NULL, 0, 0, msg, sizeof(msg), sig, n), TR_OK);
    /* malformed DER: a clean TR_E_INVAL, distinct from a failed verification */
    assert_int_equal(verify(blob, NULL, 0, 0, msg, sizeof(msg), (const uint8_t *)"junk", 4),
                     TR_E_INVAL);
    sig[n] = 0; /* trailing byte after a valid SEQUENCE */
    assert_int_equal(verify(blob, NULL, 0, 0, msg, sizeof(msg), sig, n + 1), TR_E_INVAL);
}

/* ---- HMAC ------------------------------------------------------------------------------------ */

static void test_transit_hmac(void **state)
{
    static const size_t lens[] = {32, 28, 48, 64, 28, 32, 48, 64};
    uint8_t blob[BLOB], blob2[BLOB], mac[ENC_TRANSIT_SMALL_OUT], mac2[ENC_TRANSIT_SMALL_OUT];
    size_t len = 0, len2 = 0;
    (void)state;

    for (int t = 1; t <= ENC_TRANSIT_KEY_TYPE_MAX; t++) {
        keygen((enum enc_transit_type)t, 0, blob);
        keygen((enum enc_transit_type)t, 0, blob2);
        for (int h = 0; h <= ENC_TRANSIT_HASH_MAX; h++) {
            struct enc_transit_req r = req_for(ENC_TRANSIT_HMAC, blob, "data", 4);
            r.hash = (enum enc_transit_hash)h;
            assert_int_equal(enc_transit_op(&r, mac, sizeof(mac), &len, NULL), TR_OK);
            assert_int_equal(len, lens[h]);
            assert_int_equal(enc_transit_op(&r, mac2, sizeof(mac2), &len2, NULL), TR_OK);
            assert_memory_equal(mac, mac2, len); /* deterministic */
            r.key = blob2;
            assert_int_equal(enc_transit_op(&r, mac2, sizeof(mac2), &len2, NULL), TR_OK);
            assert_memory_not_equal(mac, mac2, len); /* per-key */
            r.key = blob;
            r.op = ENC_TRANSIT_HMAC_VERIFY;
            r.in2 = mac;
            r.in2_len = len;
            assert_int_equal(enc_transit_op(&r, NULL, 0, &len2, NULL), TR_OK);
            mac[0] ^= 1;
            assert_int_equal(enc_transit_op(&r, NULL, 0, &len2, NULL), TR_E_AUTH);
            r.in2_len = len - 1;
            assert_int_equal(enc_transit_op(&r, NULL, 0, &len2, NULL), TR_E_AUTH);
        }
    }
}

/* ---- invalid arguments and unsupported operations ------------------------------------------- */

static void test_transit_op_invalid_args(void **state)
{
    uint8_t blob[BLOB], out[ENC_TRANSIT_SMALL_OUT], big[ENC_TRANSIT_CTX_MAX + 1] = {0};
    size_t len = 0;
    struct enc_transit_req r;
    (void)state;

    keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, blob);
    r = req_for(ENC_TRANSIT_ENCRYPT, blob, "pt", 2);
    assert_int_equal(enc_transit_op(NULL, out, sizeof(out), &len, NULL), TR_E_INVAL);
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), NULL, NULL), TR_E_INVAL);
    assert_int_equal(enc_transit_op(&r, out, 2 + ENC_TRANSIT_OVERHEAD - 1, &len, NULL),
                     TR_E_INVAL); /* out too small */
    assert_int_equal(enc_transit_op(&r, NULL, sizeof(out), &len, NULL), TR_E_INVAL);
    r.ctx = big;
    r.ctx_len = sizeof(big);
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_INVAL);
    r = req_for(ENC_TRANSIT_ENCRYPT, blob, NULL, 2); /* NULL with a length */
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_INVAL);
    r = req_for(ENC_TRANSIT_ENCRYPT, blob, "pt", 2);
    r.ad_len = ENC_AD_MAX + 1;
    r.ad = big;
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_INVAL);
    r = req_for(0, blob, "pt", 2);
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_INVAL);
    r.op = ENC_TRANSIT_PUBKEY + 1;
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_INVAL);
    r = req_for(ENC_TRANSIT_HMAC, blob, "pt", 2);
    r.opts = 0x100;
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_INVAL);
    r.opts = 0;
    r.hash = (enum enc_transit_hash)(ENC_TRANSIT_HASH_MAX + 1);
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_INVAL);
    r = req_for(ENC_TRANSIT_DECRYPT, blob, out, 40); /* no place for the plaintext */
    assert_int_equal(enc_transit_op(&r, NULL, 0, &len, NULL), TR_E_INVAL);
}

static void test_transit_op_unsupported_for_type(void **state)
{
    uint8_t aes[BLOB], ed[BLOB], hm[BLOB], out[ENC_TRANSIT_SMALL_OUT];
    size_t len = 0;
    (void)state;

    keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, aes);
    keygen(ENC_TRANSIT_KEY_ED25519, 0, ed);
    keygen(ENC_TRANSIT_KEY_HMAC, 0, hm);
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(encrypt(ed, NULL, NULL, "pt", 2, out, sizeof(out), &len), TR_E_UNSUPPORTED);
    assert_true(all_zero(out, sizeof(out)));
    assert_int_equal(encrypt(hm, NULL, NULL, "pt", 2, out, sizeof(out), &len), TR_E_UNSUPPORTED);
    struct enc_transit_req r = req_for(ENC_TRANSIT_SIGN, aes, "m", 1);
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_UNSUPPORTED);
    r = req_for(ENC_TRANSIT_PUBKEY, hm, NULL, 0);
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_UNSUPPORTED);
    r = req_for(ENC_TRANSIT_DATAKEY, ed, NULL, 0);
    r.bits = 256;
    assert_int_equal(enc_transit_op(&r, out, sizeof(out), &len, NULL), TR_E_UNSUPPORTED);
}

/* ---- log hygiene ----------------------------------------------------------------------------- */

struct capture {
    char buf[65536];
    size_t len;
};

static void capture_sink(void *arg, enum tr_log_level level, const char *line)
{
    struct capture *c = arg;
    (void)level;
    size_t n = strlen(line);
    if (c->len + n + 1 < sizeof(c->buf)) {
        memcpy(c->buf + c->len, line, n);
        c->len += n;
        c->buf[c->len++] = '\n';
    }
}

static void test_transit_log_never_contains_key_bytes(void **state)
{
    struct fixture *f = *state;
    static struct capture cap;
    const char canary[] = "CANARY-transit-plaintext-7731";
    uint8_t blob[BLOB], ct[256];
    char hex[2 * 64 + 1];
    struct enc_secret *dk = NULL, *s = NULL;
    size_t len = 0;

    memset(&cap, 0, sizeof(cap));
    tr_log_set_level(TR_LOG_DEBUG);
    tr_log_set_sink(capture_sink, &cap);
    /* the whole life: unseal, keys, every operation, failures, seal */
    enc_seal(ENC_REASON_OPERATOR);
    assert_int_equal(enc_unseal_auto(), TR_OK);
    keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, blob);
    assert_int_equal(encrypt(blob, NULL, NULL, canary, sizeof(canary), ct, sizeof(ct), &len),
                     TR_OK);
    ct[len - 1] ^= 1;
    expect_auth(blob, NULL, NULL, ct, len);
    struct enc_transit_req r = req_for(ENC_TRANSIT_DATAKEY, blob, NULL, 0);
    r.bits = 512;
    r.opts = ENC_TRANSIT_OPT_PLAINTEXT;
    assert_int_equal(enc_transit_op(&r, ct, sizeof(ct), &len, &dk), TR_OK);
    blob[40] ^= 1;
    assert_int_equal(decrypt(blob, NULL, NULL, ct, len, &s), TR_E_AUTH);
    enc_seal(ENC_REASON_OPERATOR);
    tr_log_set_sink(NULL, NULL);
    tr_log_set_level(TR_LOG_INFO);
    (void)f;
    assert_true(cap.len > 0); /* the flow did log something */
    assert_null(memmem(cap.buf, cap.len, canary, strlen(canary)));
    sodium_bin2hex(hex, sizeof(hex), enc_secret_data(dk), 64);
    assert_null(memmem(cap.buf, cap.len, hex, 16));
    assert_null(memmem(cap.buf, cap.len, enc_secret_data(dk), 8));
    sodium_bin2hex(hex, sizeof(hex), blob + 32, 16);
    assert_null(memmem(cap.buf, cap.len, hex, 16)); /* not even the wrapped bytes */
    enc_secret_free(dk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transit_entries_wrong_state, setup_dir, teardown),
        cmocka_unit_test_setup_teardown(test_transit_keygen_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_aead_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_aead_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_derived_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_blob_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_blob_other_master_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_rewrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_datakey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_ed25519, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_ecdsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_hmac, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_op_invalid_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_op_unsupported_for_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transit_log_never_contains_key_bytes, setup, teardown),
    };
    return cmocka_run_group_tests_name("transit", tests, NULL, NULL);
}
