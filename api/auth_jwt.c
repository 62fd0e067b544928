/* Compact JWS parsing and verification for Kubernetes service-account tokens (RFC 7515/7519):
 * base64url segments decoded with libsodium, JSON through tr_json_parse (bounded, duplicate
 * keys refused), signatures with OpenSSL EVP. Only RS256 and ES256 are accepted, and each only
 * with a key of its own type, so "alg":"none" or HS256 with a public key as HMAC secret (the
 * classic algorithm-confusion attacks) cannot pass. */
#include "auth_int.h"

#include <math.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"

static int b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    const char *end = NULL;

    *out_len = 0;
    if (n == 0 ||
        sodium_base642bin(out, cap, s, n, NULL, out_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != s + n)
        return TR_E_INVAL;
    return TR_OK;
}

static int segment_json(const char *s, size_t n, json_t **out)
{
    size_t cap = n / 4 * 3 + 3, len = 0;
    uint8_t *buf = malloc(cap);
    char err[80];
    int rc = buf ? b64url_decode(s, n, buf, cap, &len) : TR_E_NOMEM;

    *out = NULL;
    if (rc == TR_OK)
        rc = tr_json_parse((const char *)buf, len, NULL, out, err, sizeof(err));
    if (rc == TR_OK && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        rc = TR_E_INVAL;
    }
    if (buf)
        sodium_memzero(buf, cap);
    free(buf);
    return rc;
}

void auth_jwt_free(struct auth_jwt *j)
{
    if (!j)
        return;
    json_decref(j->header);
    json_decref(j->claims);
    if (j->signing_input) {
        sodium_memzero(j->signing_input, j->signing_len);
        free(j->signing_input);
    }
    free(j);
}

int auth_jwt_parse(const char *jwt, struct auth_jwt **out)
{
    size_t len = jwt ? strlen(jwt) : 0;
    const char *d1 = jwt ? strchr(jwt, '.') : NULL, *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    struct auth_jwt *j = NULL;
    int rc = TR_E_INVAL;

    *out = NULL;
    if (len > AUTH_JWT_MAX)
        return TR_E_TOO_LARGE;
    if (!d2 || strchr(d2 + 1, '.'))
        return TR_E_INVAL;
    if (!(j = calloc(1, sizeof(*j))))
        return TR_E_NOMEM;
    j->signing_len = (size_t)(d2 - jwt);
    if (!(j->signing_input = malloc(j->signing_len + 1))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    memcpy(j->signing_input, jwt, j->signing_len);
    j->signing_input[j->signing_len] = '\0';
    if ((rc = segment_json(jwt, (size_t)(d1 - jwt), &j->header)) != TR_OK ||
        (rc = segment_json(d1 + 1, (size_t)(d2 - d1 - 1), &j->claims)) != TR_OK ||
        (rc = b64url_decode(d2 + 1, strlen(d2 + 1), j->sig, sizeof(j->sig), &j->sig_len)) != TR_OK)
        goto out;
    *out = j;
    j = NULL;
out:
    auth_jwt_free(j);
    return rc;
}

/* ---- signatures ---------------------------------------------------------------------------- */

static EVP_PKEY *pubkey_load(const char *pem)
{
    BIO *bio = pem && strlen(pem) <= AUTH_PEM_MAX ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;

    ERR_clear_error();
    BIO_free(bio);
    return k;
}

static bool key_is_rsa(EVP_PKEY *k)
{
    return EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048;
}

static bool key_is_p256(EVP_PKEY *k)
{
    char group[64];
    size_t glen = 0;

    return EVP_PKEY_is_a(k, "EC") &&
           EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                          &glen) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

bool auth_pem_pubkeys_valid(const json_t *keys)
{
    size_t i;
    json_t *x;

    if (!json_is_array(keys) || json_array_size(keys) > AUTH_LIST_MAX)
        return false;
    json_array_foreach(keys, i, x)
    {
        EVP_PKEY *k = pubkey_load(json_string_value(x));
        bool ok = k && (key_is_rsa(k) || key_is_p256(k));
        EVP_PKEY_free(k);
        if (!ok)
            return false;
    }
    return true;
}

/* JWS ES256 signatures are r || s (32 bytes each); OpenSSL verifies the DER form. */
static int es256_der(const uint8_t *raw, size_t len, unsigned char **out, int *out_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    int rc = TR_E_AUTH;

    *out = NULL;
    if (len != 64 || !sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by sig now */
    if ((*out_len = i2d_ECDSA_SIG(sig, out)) > 0)
        rc = TR_OK;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return rc;
}

static bool verify_one(EVP_PKEY *k, const struct auth_jwt *j, bool es)
{
    unsigned char *der = NULL;
    int der_len = 0;
    const unsigned char *sig = j->sig;
    size_t sig_len = j->sig_len;
    EVP_MD_CTX *md = NULL;
    bool ok = false;

    if (es) {
        if (es256_der(j->sig, j->sig_len, &der, &der_len) != TR_OK)
            goto out;
        sig = der;
        sig_len = (size_t)der_len;
    }
    if (!(md = EVP_MD_CTX_new()) || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) != 1)
        goto out;
    ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)j->signing_input,
                          j->signing_len) == 1;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return ok;
}

int auth_jwt_verify(const struct auth_jwt *j, const json_t *pem_keys)
{
    const char *alg = tr_json_get_str(j->header, "alg");
    bool rs = alg && !strcmp(alg, "RS256"), es = alg && !strcmp(alg, "ES256");
    size_t i;
    json_t *x;

    /* we implement no JWS extension, so a critical one must make us refuse (RFC 7515 4.1.11) */
    if ((!rs && !es) || json_object_get(j->header, "crit"))
        return TR_E_AUTH;
    json_array_foreach(pem_keys, i, x)
    {
        EVP_PKEY *k = pubkey_load(json_string_value(x));
        bool ok = k && (rs ? key_is_rsa(k) : key_is_p256(k)) && verify_one(k, j, es);
        EVP_PKEY_free(k);
        if (ok)
            return TR_OK;
    }
    return TR_E_AUTH;
}

/* ---- claims -------------------------------------------------------------------------------- */

/* A NumericDate claim: absent (false, *bad untouched) or a finite number (true). */
static bool numeric_date(const json_t *claims, const char *k, int64_t *out, bool *bad)
{
    json_t *v = json_object_get(claims, k);

    if (!v || json_is_null(v))
        return false;
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || d < 0 || d > 1e15) {
        *bad = true;
        return false;
    }
    *out = (int64_t)d;
    return true;
}

int auth_jwt_check_time(const json_t *claims, int64_t now, int64_t leeway, bool require_exp,
                        const char **err)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    bool bad = false;
    bool has_exp = numeric_date(claims, "exp", &exp, &bad);
    bool has_nbf = numeric_date(claims, "nbf", &nbf, &bad);
    bool has_iat = numeric_date(claims, "iat", &iat, &bad);

    if (bad)
        *err = "invalid time claim in JWT";
    else if (!has_exp && require_exp)
        *err = "JWT has no exp claim";
    else if (has_exp && now - leeway >= exp)
        *err = "JWT is expired";
    else if (has_nbf && now + leeway < nbf)
        *err = "JWT is not valid yet (nbf)";
    else if (has_iat && now + leeway < iat)
        *err = "JWT was issued in the future (iat)";
    else
        return TR_OK;
    return TR_E_AUTH;
}

bool auth_jwt_has_aud(const json_t *claims, const char *aud)
{
    json_t *v = json_object_get(claims, "aud");
    size_t i;
    json_t *x;

    if (json_is_string(v))
        return strcmp(json_string_value(v), aud) == 0;
    json_array_foreach(v, i, x)
    {
        if (json_is_string(x) && strcmp(json_string_value(x), aud) == 0)
            return true;
    }
    return false;
}
