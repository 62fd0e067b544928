/* Transit helpers: base64 in both of Vault's alphabets, "vault:v<N>:" strings, hash names, PEM;
 * and the two key-less endpoints, random/ and hash/ (vault-api.md §7). */
#include "api_transit_int.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"

#define RANDOM_MAX   (128 * 1024) /* Vault's limit on random/ bytes */
#define B64_TEXT_MAX ((size_t)ENC_TRANSIT_IN_MAX / 3 * 4 + 4)

static int b64_variant(bool url)
{
    return url ? sodium_base64_VARIANT_URLSAFE_NO_PADDING : sodium_base64_VARIANT_ORIGINAL;
}

/* Strict decoding as Go's StdEncoding / RawURLEncoding: the whole text, nothing ignored. */
static int b64_into(const char *s, size_t n, bool url, uint8_t *buf, size_t cap, size_t *out_len,
                    size_t *bad_at)
{
    const char *end = NULL;

    *out_len = 0;
    if (n == 0)
        return TR_OK;
    if (sodium_base642bin(buf, cap, s, n, NULL, out_len, &end, b64_variant(url)) != 0 ||
        end != s + n) {
        *bad_at = end && end < s + n ? (size_t)(end - s) : n;
        *out_len = 0;
        return TR_E_INVAL;
    }
    return TR_OK;
}

int tk_b64_decode(const char *s, bool url, uint8_t **out, size_t *out_len, size_t *bad_at)
{
    size_t n = strlen(s), cap = n / 4 * 3 + 3;
    uint8_t *buf = NULL;
    int rc;

    *out = NULL;
    *bad_at = 0;
    if (n > B64_TEXT_MAX)
        return TR_E_TOO_LARGE;
    if (!(buf = malloc(cap)))
        return TR_E_NOMEM;
    if ((rc = b64_into(s, n, url, buf, cap, out_len, bad_at)) != TR_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    return TR_OK;
}

int tk_b64_decode_secret(const char *s, struct enc_secret **out, size_t *out_len, size_t *bad_at)
{
    size_t n = strlen(s), cap = n / 4 * 3 + 3;
    struct enc_secret *sec = NULL;
    int rc;

    *out = NULL;
    *bad_at = 0;
    if (n > B64_TEXT_MAX)
        return TR_E_TOO_LARGE;
    if ((rc = enc_secret_alloc(cap, &sec)) != TR_OK)
        return rc;
    rc = b64_into(s, n, false, enc_secret_data(sec), cap, out_len, bad_at);
    if (rc != TR_OK) {
        enc_secret_free(sec);
        return rc;
    }
    *out = sec;
    return TR_OK;
}

char *tk_b64_encode(const uint8_t *p, size_t n, bool url)
{
    size_t cap = sodium_base64_encoded_len(n, b64_variant(url));
    char *s = malloc(cap);

    if (s)
        sodium_bin2base64(s, cap, n ? p : (const uint8_t *)"", n, b64_variant(url));
    return s;
}

char *tk_versioned(int64_t v, const uint8_t *p, size_t n, bool url)
{
    char *b = tk_b64_encode(p, n, url), *s = NULL;
    size_t cap = b ? strlen(b) + 32 : 0;

    if (b && (s = malloc(cap)))
        snprintf(s, cap, "vault:v%" PRId64 ":%s", v, b);
    free(b);
    return s;
}

int tk_unversion(const char *s, int64_t *v, const char **rest)
{
    char num[24];
    const char *colon;

    if (strncmp(s, "vault:v", 7) != 0)
        return 1;
    if (!(colon = strchr(s + 7, ':')))
        return 2;
    size_t n = (size_t)(colon - (s + 7));
    if (n == 0 || n >= sizeof(num))
        return 3;
    memcpy(num, s + 7, n);
    num[n] = '\0';
    if (!tr_parse_int64(num, v))
        return 3;
    *rest = colon + 1;
    return 0;
}

static const struct {
    const char *name;
    enum enc_transit_hash h;
} hashes[] = {{"sha2-256", ENC_TRANSIT_SHA2_256}, {"sha2-224", ENC_TRANSIT_SHA2_224},
              {"sha2-384", ENC_TRANSIT_SHA2_384}, {"sha2-512", ENC_TRANSIT_SHA2_512},
              {"sha3-224", ENC_TRANSIT_SHA3_224}, {"sha3-256", ENC_TRANSIT_SHA3_256},
              {"sha3-384", ENC_TRANSIT_SHA3_384}, {"sha3-512", ENC_TRANSIT_SHA3_512}};

bool tk_hash_parse(const char *name, enum enc_transit_hash *out)
{
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
        if (strcmp(name, hashes[i].name) == 0) {
            *out = hashes[i].h;
            return true;
        }
    }
    return false;
}

char *tk_pem_pubkey(const uint8_t *der, size_t len)
{
    static const char head[] = "-----BEGIN PUBLIC KEY-----\n",
                      tail[] = "-----END PUBLIC KEY-----\n";
    char *b = tk_b64_encode(der, len, false), *pem = NULL;
    size_t bl = b ? strlen(b) : 0, w = 0;

    if (!b || !(pem = malloc(sizeof(head) + bl + bl / 64 + 2 + sizeof(tail))))
        goto out;
    memcpy(pem, head, sizeof(head) - 1);
    w = sizeof(head) - 1;
    for (size_t i = 0; i < bl; i += 64) { /* 64 columns, as Go's pem package */
        size_t n = bl - i < 64 ? bl - i : 64;
        memcpy(pem + w, b + i, n);
        w += n;
        pem[w++] = '\n';
    }
    memcpy(pem + w, tail, sizeof(tail));
out:
    free(b);
    return pem;
}

/* ---- random/ and hash/ --------------------------------------------------------------------- */

/* Text of n bytes in format (hex or base64), as the one data field name. */
static void reply_encoded(struct api_call *c, const char *field, const char *format,
                          const uint8_t *p, size_t n)
{
    char *s = NULL;

    if (!strcmp(format, "hex")) {
        if ((s = malloc(2 * n + 1)))
            sodium_bin2hex(s, 2 * n + 1, p, n);
    } else {
        s = tk_b64_encode(p, n, false);
    }
    if (!s) {
        api_reply_err(c, TR_E_NOMEM);
        return;
    }
    api_reply_data(c, 200, json_pack("{s:s}", field, s));
    free(s);
}

static bool format_ok(struct api_call *c, const char *format)
{
    char msg[160];

    if (!strcmp(format, "hex") || !strcmp(format, "base64"))
        return true;
    snprintf(msg, sizeof(msg), "unsupported encoding format %.40s; must be \"hex\" or \"base64\"",
             format);
    api_reply_error(c, 400, msg);
    return false;
}

/* random[/<source>][/<bytes>]: source platform|seal|all (one source here: the kernel CSPRNG). */
void tk_random(struct api_call *c)
{
    const char *p = c->rel + strlen("random"), *f = tr_json_get_str(c->body, "format");
    int64_t n = 32;
    bool bad = false;
    char seg[32];

    tr_json_get_int(c->body, "bytes", &n, &bad);
    while (*p == '/' && !bad) {
        size_t len = strcspn(p + 1, "/");
        if (len == 0 || len >= sizeof(seg)) {
            bad = true;
            break;
        }
        memcpy(seg, p + 1, len);
        seg[len] = '\0';
        p += len + 1;
        if (strcmp(seg, "platform") && strcmp(seg, "seal") && strcmp(seg, "all") &&
            !tr_parse_int64(seg, &n))
            bad = true;
    }
    if (bad || n < 1) {
        api_reply_error(c, 400, "missing or invalid bytes");
        return;
    }
    if (n > RANDOM_MAX) {
        api_reply_error(c, 400, "exceeded maximum allowed number of bytes");
        return;
    }
    if (!format_ok(c, f ? f : "base64"))
        return;
    uint8_t *buf = malloc((size_t)n);
    if (!buf) {
        api_reply_err(c, TR_E_NOMEM);
        return;
    }
    randombytes_buf(buf, (size_t)n);
    reply_encoded(c, "random_bytes", f ? f : "base64", buf, (size_t)n);
    sodium_memzero(buf, (size_t)n);
    free(buf);
}

static const EVP_MD *digest_of(enum enc_transit_hash h)
{
    static const EVP_MD *(*const md[])(void) = {EVP_sha256,   EVP_sha224,   EVP_sha384,
                                                EVP_sha512,   EVP_sha3_224, EVP_sha3_256,
                                                EVP_sha3_384, EVP_sha3_512};
    _Static_assert(ENC_TRANSIT_SHA2_256 == 0 && ENC_TRANSIT_SHA3_512 == 7, "hash table order");
    return md[h]();
}

/* hash[/<algorithm>]: a plain digest of input; no key involved, so not in the core. */
void tk_hash(struct api_call *c)
{
    const char *alg = tr_json_get_str(c->body, "algorithm"),
               *f = tr_json_get_str(c->body, "format");
    const char *in = tr_json_get_str(c->body, "input");
    enum enc_transit_hash h = ENC_TRANSIT_SHA2_256;
    uint8_t *buf = NULL, dg[EVP_MAX_MD_SIZE];
    size_t len = 0, bad_at = 0;
    unsigned dl = 0;
    char msg[160];

    if (!strncmp(c->rel, "hash/", 5))
        alg = c->rel + 5;
    if (alg && !tk_hash_parse(alg, &h)) {
        snprintf(msg, sizeof(msg), "unsupported algorithm %.60s", alg);
        api_reply_error(c, 400, msg);
        return;
    }
    if (!format_ok(c, f ? f : "hex"))
        return;
    int rc = tk_b64_decode(in ? in : "", false, &buf, &len, &bad_at);
    if (rc != TR_OK) {
        snprintf(msg, sizeof(msg),
                 "unable to decode input as base64: illegal base64 data at "
                 "input byte %zu",
                 bad_at);
        api_reply_error(c, rc == TR_E_INVAL ? 400 : api_err_status(rc), msg);
        return;
    }
    if (EVP_Digest(buf, len, dg, &dl, digest_of(h), NULL) != 1)
        api_reply_err(c, TR_E_INTERNAL);
    else
        reply_encoded(c, "sum", f ? f : "hex", dg, dl);
    free(buf);
}
