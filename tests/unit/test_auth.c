/*
 * test_auth - the pure parts of the auth methods (api/auth_int.h): glob and CIDR matching,
 * string lists, JWT parsing and RS256/ES256 verification with keys made here, time and
 * audience checks, Kubernetes identities, and client-certificate checks against CAs, CRLs and
 * name constraints built with OpenSSL in the test. Real crypto throughout, nothing mocked.
 * Random inputs come from a seed printed at start (TR_TEST_SEED).
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
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "../../api/auth_int.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static char *bio_text(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static char *pubkey_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    return bio_text(b);
}

static char *cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    return bio_text(b);
}

static char *crl_pem(X509_CRL *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509_CRL(b, c), 1);
    return bio_text(b);
}

static char *b64url(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *s = malloc(cap);
    assert_non_null(s);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return s;
}

/* DER ECDSA signature -> JWS r || s */
static size_t ecdsa_raw(const uint8_t *der, size_t len, uint8_t out[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *ss;

    assert_non_null(s);
    ECDSA_SIG_get0(s, &r, &ss);
    BN_bn2binpad(r, out, 32);
    BN_bn2binpad(ss, out + 32, 32);
    ECDSA_SIG_free(s);
    return 64;
}

/* header.claims.signature; k NULL gives a junk signature; raw_es converts DER to r||s */
static char *jwt_make(const char *header, const char *claims, EVP_PKEY *k, bool raw_es)
{
    char *h = b64url((const uint8_t *)header, strlen(header));
    char *c = b64url((const uint8_t *)claims, strlen(claims));
    size_t in_len = strlen(h) + 1 + strlen(c);
    char *in = malloc(in_len + 1);
    uint8_t sig[1024], raw[64];
    size_t sig_len = sizeof(sig);

    snprintf(in, in_len + 1, "%s.%s", h, c);
    if (k) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)in, in_len), 1);
        EVP_MD_CTX_free(md);
        if (raw_es) {
            sig_len = ecdsa_raw(sig, sig_len, raw);
            memcpy(sig, raw, sig_len);
        }
    } else {
        memcpy(sig, "junk-signature", 14);
        sig_len = 14;
    }
    char *s = b64url(sig, sig_len);
    size_t n = in_len + 2 + strlen(s);
    char *out = malloc(n);
    snprintf(out, n, "%s.%s", in, s);
    free(h);
    free(c);
    free(in);
    free(s);
    return out;
}

static json_t *keys_of(const char *pem)
{
    return json_pack("[s]", pem);
}

/* ---- fixture: keys and certificates ------------------------------------------------------- */

struct fx {
    EVP_PKEY *rsa, *rsa2, *ec, *ec384;
    char *rsa_pem, *rsa2_pem, *ec_pem, *ec384_pem;
    EVP_PKEY *ca1_key, *ca2_key, *leaf_key;
    X509 *ca1, *ca2;
    char *ca1_pem, *ca2_pem;
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *e;

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

struct cert_spec {
    const char *cn;
    long from, to; /* offsets from now, seconds */
    bool ca;
    const char *eku; /* NULL: none */
    const char *san; /* NULL: none */
    long serial;
};

static X509 *cert_make(EVP_PKEY *key, EVP_PKEY *sign_key, X509 *issuer, const struct cert_spec *s)
{
    X509 *x = X509_new();
    X509_NAME *n;

    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), s->serial);
    X509_gmtime_adj(X509_getm_notBefore(x), s->from);
    X509_gmtime_adj(X509_getm_notAfter(x), s->to);
    X509_set_pubkey(x, key);
    n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)s->cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    add_ext(x, issuer ? issuer : x, NID_basic_constraints, s->ca ? "critical,CA:TRUE" : "CA:FALSE");
    add_ext(x, issuer ? issuer : x, NID_key_usage,
            s->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
    add_ext(x, issuer ? issuer : x, NID_authority_key_identifier, "keyid");
    if (s->eku)
        add_ext(x, issuer ? issuer : x, NID_ext_key_usage, s->eku);
    if (s->san)
        add_ext(x, issuer ? issuer : x, NID_subject_alt_name, s->san);
    assert_true(X509_sign(x, sign_key, EVP_sha256()) > 0);
    return x;
}

static X509 *leaf_make(struct fx *f, X509 *ca, EVP_PKEY *ca_key, const struct cert_spec *s)
{
    return cert_make(f->leaf_key, ca_key, ca, s);
}

static X509_CRL *crl_make(X509 *ca, EVP_PKEY *ca_key, long revoked_serial, long next_off)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *last = ASN1_TIME_adj(NULL, time(NULL), 0, -3600);
    ASN1_TIME *next = ASN1_TIME_adj(NULL, time(NULL), 0, next_off);
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_INTEGER *sn = ASN1_INTEGER_new();

    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
    X509_CRL_set1_lastUpdate(crl, last);
    X509_CRL_set1_nextUpdate(crl, next);
    ASN1_INTEGER_set(sn, revoked_serial);
    X509_REVOKED_set_serialNumber(r, sn);
    X509_REVOKED_set_revocationDate(r, last);
    X509_CRL_add0_revoked(crl, r);
    X509_CRL_sort(crl);
    assert_true(X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0);
    ASN1_INTEGER_free(sn);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    return crl;
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct cert_spec ca = {
        .cn = "Tresor Test CA 1", .from = -86400, .to = 86400 * 30, .ca = true, .serial = 1};

    assert_non_null(f);
    f->rsa = EVP_RSA_gen(2048);
    f->rsa2 = EVP_RSA_gen(2048);
    f->ec = EVP_EC_gen("P-256");
    f->ec384 = EVP_EC_gen("P-384");
    f->ca1_key = EVP_EC_gen("P-256");
    f->ca2_key = EVP_EC_gen("P-256");
    f->leaf_key = EVP_EC_gen("P-256");
    assert_non_null(f->rsa);
    assert_non_null(f->ec384);
    f->rsa_pem = pubkey_pem(f->rsa);
    f->rsa2_pem = pubkey_pem(f->rsa2);
    f->ec_pem = pubkey_pem(f->ec);
    f->ec384_pem = pubkey_pem(f->ec384);
    f->ca1 = cert_make(f->ca1_key, f->ca1_key, NULL, &ca);
    ca.cn = "Tresor Test CA 2";
    f->ca2 = cert_make(f->ca2_key, f->ca2_key, NULL, &ca);
    f->ca1_pem = cert_pem(f->ca1);
    f->ca2_pem = cert_pem(f->ca2);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    EVP_PKEY_free(f->rsa);
    EVP_PKEY_free(f->rsa2);
    EVP_PKEY_free(f->ec);
    EVP_PKEY_free(f->ec384);
    EVP_PKEY_free(f->ca1_key);
    EVP_PKEY_free(f->ca2_key);
    EVP_PKEY_free(f->leaf_key);
    X509_free(f->ca1);
    X509_free(f->ca2);
    free(f->rsa_pem);
    free(f->rsa2_pem);
    free(f->ec_pem);
    free(f->ec384_pem);
    free(f->ca1_pem);
    free(f->ca2_pem);
    free(f);
    return 0;
}

/* ---- globs, CIDRs, lists -------------------------------------------------------------------- */

static void test_auth_glob_match_cases(void **state)
{
    (void)state;
    assert_true(auth_glob_match("app", "app", false));
    assert_false(auth_glob_match("app", "apps", false));
    assert_false(auth_glob_match("apps", "app", false));
    assert_true(auth_glob_match("*", "", false));
    assert_true(auth_glob_match("*", "anything", false));
    assert_true(auth_glob_match("dev-*", "dev-team", false));
    assert_true(auth_glob_match("dev-*", "dev-", false));
    assert_false(auth_glob_match("dev-*", "prod-team", false));
    assert_false(auth_glob_match("dev-*", "xdev-team", false));
    assert_true(auth_glob_match("*.example.com", "a.b.example.com", false));
    assert_false(auth_glob_match("*.example.com", "example.com", false));
    assert_true(auth_glob_match("a*b*c", "aXXbYYc", false));
    assert_false(auth_glob_match("a*b*c", "aXXbYY", false));
    assert_true(auth_glob_match("**", "x", false));
    assert_false(auth_glob_match("", "x", false));
    assert_true(auth_glob_match("", "", false));
    assert_false(auth_glob_match("App", "app", false));
    assert_true(auth_glob_match("App*", "aPPle", true));
    assert_false(auth_glob_match(NULL, "x", false));
    assert_false(auth_glob_match("x", NULL, false));
}

static void test_auth_glob_match_pathological(void **state)
{
    char s[4097];
    clock_t t0 = clock();

    (void)state;
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    /* exponential backtracking would take ages here; one backtrack point keeps it quadratic */
    assert_false(auth_glob_match("*a*a*a*a*a*a*a*a*a*b", s, false));
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
}

static void test_auth_globs_match_lists(void **state)
{
    json_t *l = json_pack("[s, s]", "web", "dev-*");
    json_t *empty = json_array();

    (void)state;
    assert_true(auth_globs_match(l, "web", false));
    assert_true(auth_globs_match(l, "dev-1", false));
    assert_false(auth_globs_match(l, "db", false));
    assert_false(auth_globs_match(empty, "web", false));
    assert_false(auth_globs_match(NULL, "web", false));
    json_decref(l);
    json_decref(empty);
}

static void test_auth_cidr_contains_cases(void **state)
{
    (void)state;
    assert_true(auth_cidr_contains("127.0.0.0/8", "127.0.0.1"));
    assert_true(auth_cidr_contains("127.0.0.1", "127.0.0.1"));
    assert_true(auth_cidr_contains("127.0.0.1/32", "127.0.0.1"));
    assert_false(auth_cidr_contains("127.0.0.1/32", "127.0.0.2"));
    assert_true(auth_cidr_contains("0.0.0.0/0", "8.8.8.8"));
    assert_true(auth_cidr_contains("10.0.0.0/7", "11.255.1.1"));
    assert_false(auth_cidr_contains("10.0.0.0/7", "12.0.0.1"));
    assert_true(auth_cidr_contains("192.168.1.128/25", "192.168.1.200"));
    assert_false(auth_cidr_contains("192.168.1.128/25", "192.168.1.100"));
    assert_true(auth_cidr_contains("2001:db8::/32", "2001:db8:1::5"));
    assert_false(auth_cidr_contains("2001:db8::/32", "2001:db9::5"));
    /* dual-stack sockets report IPv4 peers as IPv4-mapped IPv6 */
    assert_true(auth_cidr_contains("127.0.0.0/8", "::ffff:127.0.0.1"));
    assert_false(auth_cidr_contains("::/0", "127.0.0.1"));
    assert_false(auth_cidr_contains("127.0.0.0/8", "not-an-ip"));
    assert_false(auth_cidr_contains("127.0.0.0/8", ""));
    assert_false(auth_cidr_contains("junk", "127.0.0.1"));
}

static void test_auth_cidr_valid_cases(void **state)
{
    (void)state;
    assert_true(auth_cidr_valid("10.0.0.0/8"));
    assert_true(auth_cidr_valid("10.1.2.3"));
    assert_true(auth_cidr_valid("::1/128"));
    assert_false(auth_cidr_valid("10.0.0.0/33"));
    assert_false(auth_cidr_valid("::1/129"));
    assert_false(auth_cidr_valid("10.0.0.0/"));
    assert_false(auth_cidr_valid("10.0.0.0/8x"));
    assert_false(auth_cidr_valid("10.0.0.0/-1"));
    assert_false(auth_cidr_valid("10.0.0/8"));
    assert_false(auth_cidr_valid(""));
    assert_false(auth_cidr_valid(NULL));
}

static void test_auth_cidrs_allow_cases(void **state)
{
    json_t *l = json_pack("[s, s]", "10.0.0.0/8", "127.0.0.1/32");
    json_t *empty = json_array();

    (void)state;
    assert_true(auth_cidrs_allow(NULL, "1.2.3.4"));
    assert_true(auth_cidrs_allow(empty, "1.2.3.4"));
    assert_true(auth_cidrs_allow(l, "127.0.0.1"));
    assert_true(auth_cidrs_allow(l, "10.9.8.7"));
    assert_false(auth_cidrs_allow(l, "11.0.0.1"));
    assert_false(auth_cidrs_allow(l, NULL)); /* unknown source never passes a binding */
    json_decref(l);
    json_decref(empty);
}

static void test_auth_cidr_within_cases(void **state)
{
    (void)state;
    assert_true(auth_cidr_within("10.1.0.0/16", "10.0.0.0/8"));
    assert_true(auth_cidr_within("10.0.0.0/8", "10.0.0.0/8"));
    assert_true(auth_cidr_within("10.1.2.3", "10.0.0.0/8"));   /* a host is a /32 */
    assert_true(auth_cidr_within("10.1.2.3/8", "10.0.0.0/8")); /* host bits ignored */
    assert_true(auth_cidr_within("127.0.0.1/32", "0.0.0.0/0"));
    assert_false(auth_cidr_within("10.0.0.0/8", "10.1.0.0/16")); /* wider */
    assert_false(auth_cidr_within("11.0.0.0/16", "10.0.0.0/8"));
    assert_false(auth_cidr_within("10.0.0.0/7", "10.0.0.0/8"));
    assert_true(auth_cidr_within("2001:db8:1::/48", "2001:db8::/32"));
    assert_false(auth_cidr_within("2001:db9::/48", "2001:db8::/32"));
    assert_false(auth_cidr_within("::ffff:10.0.0.1/128", "10.0.0.0/8")); /* no mixing families */
    assert_false(auth_cidr_within("10.0.0.1", "::/0"));
    assert_false(auth_cidr_within("junk", "10.0.0.0/8"));
    assert_false(auth_cidr_within("10.0.0.0/8", "junk"));
    assert_false(auth_cidr_within(NULL, "10.0.0.0/8"));
}

/* Random IPv4 blocks: an inner block made inside outer is within it and every address of it is
 * contained; flipping a bit of outer's prefix or widening the inner block never is. */
static void test_auth_cidr_within_random(void **state)
{
    unsigned seed = (unsigned)time(NULL);
    const char *env = getenv("TR_TEST_SEED");

    (void)state;
    if (env)
        seed = (unsigned)strtoul(env, NULL, 10);
    printf("test_auth_cidr_within_random seed %u\n", seed);
    srandom(seed);
    for (int i = 0; i < 2000; i++) {
        uint32_t net = (uint32_t)random() ^ ((uint32_t)random() << 16);
        unsigned ob = (unsigned)(random() % 33), ib = ob + (unsigned)(random() % (33 - ob));
        uint32_t omask = ob ? ~0u << (32 - ob) : 0, host = (uint32_t)random() & ~omask;
        uint32_t in = (net & omask) | host,
                 addr = in | ((uint32_t)random() & ~(ib ? ~0u << (32 - ib) : 0));
        char o[32], n[32], a[20];
        snprintf(o, sizeof(o), "%u.%u.%u.%u/%u", net >> 24, (net >> 16) & 255, (net >> 8) & 255,
                 net & 255, ob);
        snprintf(n, sizeof(n), "%u.%u.%u.%u/%u", in >> 24, (in >> 16) & 255, (in >> 8) & 255,
                 in & 255, ib);
        snprintf(a, sizeof(a), "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
                 addr & 255);
        assert_true(auth_cidr_within(n, o));
        assert_true(auth_cidr_contains(n, a));
        assert_true(auth_cidr_contains(o, a));
        if (ob > 0) {
            uint32_t out = in ^ (1u << (32 - 1 - (unsigned)(random() % ob))); /* a prefix bit */
            snprintf(n, sizeof(n), "%u.%u.%u.%u/%u", out >> 24, (out >> 16) & 255, (out >> 8) & 255,
                     out & 255, ib);
            assert_false(auth_cidr_within(n, o));
            snprintf(n, sizeof(n), "%u.%u.%u.%u/%u", in >> 24, (in >> 16) & 255, (in >> 8) & 255,
                     in & 255, ob - 1);
            assert_false(auth_cidr_within(n, o));
        }
    }
}

static void test_auth_cidrs_subset_cases(void **state)
{
    json_t *role = json_pack("[s, s]", "10.0.0.0/8", "127.0.0.1/32");
    json_t *narrow = json_pack("[s, s]", "10.2.0.0/16", "127.0.0.1");
    json_t *wide = json_pack("[s, s]", "10.2.0.0/16", "192.168.0.0/16");
    json_t *empty = json_array();

    (void)state;
    assert_true(auth_cidrs_subset(narrow, role));
    assert_false(auth_cidrs_subset(wide, role));
    assert_false(auth_cidrs_subset(role, narrow));
    assert_true(auth_cidrs_subset(empty, role)); /* the role's list applies then */
    assert_true(auth_cidrs_subset(NULL, role));
    assert_true(auth_cidrs_subset(wide, empty)); /* nothing to stay within */
    assert_true(auth_cidrs_subset(wide, NULL));
    json_decref(role);
    json_decref(narrow);
    json_decref(wide);
    json_decref(empty);
}

static void test_auth_str_list_forms(void **state)
{
    json_t *in = json_pack("[s, s, s]", " Web ", "", "db");
    json_t *s = json_string("dev-policy, test-policy,,");
    json_t *bad = json_pack("[s, i]", "a", 1);
    json_t *nul = json_stringn("a\0b", 3);
    json_t *num = json_integer(3), *l;

    (void)state;
    l = auth_str_list(in, true);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_array_get(l, 0)), "web");
    json_decref(l);
    l = auth_str_list(s, false);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_array_get(l, 1)), "test-policy");
    json_decref(l);
    assert_null(auth_str_list(bad, false));
    assert_null(auth_str_list(nul, false));
    assert_null(auth_str_list(num, false));
    json_decref(in);
    json_decref(s);
    json_decref(bad);
    json_decref(nul);
    json_decref(num);
}

static void test_auth_str_list_cap(void **state)
{
    json_t *a = json_array(), *l;

    (void)state;
    for (int i = 0; i <= AUTH_LIST_MAX; i++)
        json_array_append_new(a, json_sprintf("p%d", i));
    assert_null(auth_str_list(a, false));
    json_array_remove(a, 0);
    l = auth_str_list(a, false);
    assert_non_null(l);
    json_decref(l);
    json_decref(a);
}

static void test_auth_name_ok_cases(void **state)
{
    char longname[AUTH_NAME_MAX + 2];

    (void)state;
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_true(auth_name_ok("my-role_1.v2"));
    assert_false(auth_name_ok(""));
    assert_false(auth_name_ok("."));
    assert_false(auth_name_ok(".."));
    assert_false(auth_name_ok("a/b"));
    assert_false(auth_name_ok("a b"));
    assert_false(auth_name_ok(longname));
    longname[AUTH_NAME_MAX] = '\0';
    assert_true(auth_name_ok(longname));
}

/* ---- JWT ------------------------------------------------------------------------------------ */

static char *claims_k8s(const char *ns, const char *name, const char *aud, long exp_off)
{
    char *out = malloc(1024);
    long now = (long)time(NULL);

    snprintf(out, 1024,
             "{\"aud\":[\"%s\"],\"exp\":%ld,\"iat\":%ld,\"nbf\":%ld,\"iss\":\"https://k8s\","
             "\"kubernetes.io\":{\"namespace\":\"%s\",\"serviceaccount\":{\"name\":\"%s\","
             "\"uid\":\"u-1\"}},\"sub\":\"system:serviceaccount:%s:%s\"}",
             aud, now + exp_off, now - 10, now - 10, ns, name, ns, name);
    return out;
}

static void test_auth_jwt_verify_rs256(void **state)
{
    struct fx *f = *state;
    char *claims = claims_k8s("dev", "app", "vault", 600);
    char *jwt = jwt_make("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims, f->rsa, false);
    json_t *good = keys_of(f->rsa_pem), *other = keys_of(f->rsa2_pem);
    json_t *both = json_pack("[s, s]", f->rsa2_pem, f->rsa_pem);
    struct auth_jwt *j = NULL;

    assert_int_equal(auth_jwt_parse(jwt, &j), TR_OK);
    assert_int_equal(auth_jwt_verify(j, good), TR_OK);
    assert_int_equal(auth_jwt_verify(j, both), TR_OK); /* any configured key may sign */
    assert_int_equal(auth_jwt_verify(j, other), TR_E_AUTH);
    assert_string_equal(json_string_value(json_object_get(j->claims, "sub")),
                        "system:serviceaccount:dev:app");
    auth_jwt_free(j);
    /* a changed payload no longer verifies */
    char *mut = strdup(jwt);
    char *dot = strchr(mut, '.') + 5;
    *dot = *dot == 'A' ? 'B' : 'A';
    if (auth_jwt_parse(mut, &j) == TR_OK) {
        assert_int_equal(auth_jwt_verify(j, good), TR_E_AUTH);
        auth_jwt_free(j);
    }
    free(mut);
    free(jwt);
    free(claims);
    json_decref(good);
    json_decref(other);
    json_decref(both);
}

static void test_auth_jwt_verify_es256(void **state)
{
    struct fx *f = *state;
    char *claims = claims_k8s("dev", "app", "vault", 600);
    char *raw = jwt_make("{\"alg\":\"ES256\"}", claims, f->ec, true);
    char *der = jwt_make("{\"alg\":\"ES256\"}", claims, f->ec, false);
    json_t *keys = keys_of(f->ec_pem), *rsa = keys_of(f->rsa_pem);
    struct auth_jwt *j = NULL;

    assert_int_equal(auth_jwt_parse(raw, &j), TR_OK);
    assert_int_equal(auth_jwt_verify(j, keys), TR_OK);
    assert_int_equal(auth_jwt_verify(j, rsa), TR_E_AUTH);
    auth_jwt_free(j);
    /* JWS demands r||s; a DER signature is not a valid ES256 JWS */
    assert_int_equal(auth_jwt_parse(der, &j), TR_OK);
    assert_int_equal(auth_jwt_verify(j, keys), TR_E_AUTH);
    auth_jwt_free(j);
    free(raw);
    free(der);
    free(claims);
    json_decref(keys);
    json_decref(rsa);
}

static void test_auth_jwt_verify_alg_confusion(void **state)
{
    struct fx *f = *state;
    char *claims = claims_k8s("dev", "app", "vault", 600);
    const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"HS256\"}", "{\"alg\":\"RS512\"}",
                             "{}", "{\"alg\":\"RS256\",\"crit\":[\"x\"],\"x\":1}"};
    json_t *keys = json_pack("[s, s]", f->rsa_pem, f->ec_pem);
    struct auth_jwt *j = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *jwt = jwt_make(headers[i], claims, f->rsa, false);
        assert_int_equal(auth_jwt_parse(jwt, &j), TR_OK);
        assert_int_equal(auth_jwt_verify(j, keys), TR_E_AUTH);
        auth_jwt_free(j);
        free(jwt);
    }
    /* RS256 claimed but signed by an EC key; ES256 claimed with only an RSA key configured */
    char *a = jwt_make("{\"alg\":\"RS256\"}", claims, f->ec, false);
    char *b = jwt_make("{\"alg\":\"ES256\"}", claims, f->ec, true);
    json_t *rsa_only = keys_of(f->rsa_pem);
    assert_int_equal(auth_jwt_parse(a, &j), TR_OK);
    assert_int_equal(auth_jwt_verify(j, keys), TR_E_AUTH);
    auth_jwt_free(j);
    assert_int_equal(auth_jwt_parse(b, &j), TR_OK);
    assert_int_equal(auth_jwt_verify(j, rsa_only), TR_E_AUTH);
    auth_jwt_free(j);
    free(a);
    free(b);
    free(claims);
    json_decref(keys);
    json_decref(rsa_only);
}

static void test_auth_jwt_parse_malformed(void **state)
{
    const char *bad[] = {"",
                         "abc",
                         "a.b",
                         "a.b.c.d",
                         "eyJhbGciOiJSUzI1NiJ9..c2ln",
                         "eyJhbGciOiJSUzI1NiJ9.e30.",
                         "eyJhbGciOiJSUzI1NiJ9=.e30.c2ln", /* padding is not base64url JWS */
                         "eyJhbGciOiJSUzI1NiJ9.e30+.c2ln", /* '+' is standard base64 */
                         "WzFd.e30.c2ln",                  /* header [1] is not an object */
                         "eyJhIjoxLCJhIjoyfQ.e30.c2ln",    /* duplicate key */
                         "bm90IGpzb24.e30.c2ln"};          /* "not json" */
    struct auth_jwt *j = (struct auth_jwt *)1;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(auth_jwt_parse(bad[i], &j), TR_OK);
        assert_null(j);
    }
    char *big = malloc(AUTH_JWT_MAX + 2);
    memset(big, 'a', AUTH_JWT_MAX + 1);
    big[AUTH_JWT_MAX + 1] = '\0';
    assert_int_equal(auth_jwt_parse(big, &j), TR_E_TOO_LARGE);
    free(big);
}

/* Deterministic mutations of a valid token: every single-byte change either fails to parse or
 * fails to verify; nothing crashes. */
static void test_auth_jwt_parse_mutations(void **state)
{
    struct fx *f = *state;
    char *claims = claims_k8s("dev", "app", "vault", 600);
    char *jwt = jwt_make("{\"alg\":\"ES256\"}", claims, f->ec, true);
    json_t *keys = keys_of(f->ec_pem);
    size_t n = strlen(jwt);
    unsigned seed = (unsigned)time(NULL);
    const char *env = getenv("TR_TEST_SEED");

    if (env)
        seed = (unsigned)strtoul(env, NULL, 10);
    printf("test_auth_jwt_parse_mutations seed %u\n", seed);
    for (size_t i = 0; i < n; i++) {
        char *m = strdup(jwt);
        struct auth_jwt *j = NULL;
        unsigned char flip = (unsigned char)(1u << ((seed + i) % 7));
        m[i] = (char)((unsigned char)m[i] ^ flip);
        if (m[i] == '\0')
            m[i] = '!';
        if (auth_jwt_parse(m, &j) == TR_OK) {
            assert_int_equal(auth_jwt_verify(j, keys), TR_E_AUTH);
            auth_jwt_free(j);
        }
        free(m);
    }
    free(jwt);
    free(claims);
    json_decref(keys);
}

static void test_auth_jwt_check_time_cases(void **state)
{
    const char *err = NULL;
    json_t *c;

    (void)state;
    c = json_pack("{s:i, s:i, s:i}", "exp", 2000, "nbf", 900, "iat", 900);
    assert_int_equal(auth_jwt_check_time(c, 1000, 0, true, &err), TR_OK);
    assert_int_equal(auth_jwt_check_time(c, 2000, 0, true, &err), TR_E_AUTH); /* exp is exclusive */
    assert_string_equal(err, "JWT is expired");
    assert_int_equal(auth_jwt_check_time(c, 2030, 60, true, &err), TR_OK); /* within leeway */
    assert_int_equal(auth_jwt_check_time(c, 800, 0, true, &err), TR_E_AUTH);
    assert_int_equal(auth_jwt_check_time(c, 850, 60, true, &err), TR_OK);
    json_decref(c);
    c = json_pack("{s:i}", "iat", 5000);
    assert_int_equal(auth_jwt_check_time(c, 1000, 60, false, &err), TR_E_AUTH);
    assert_int_equal(auth_jwt_check_time(c, 4990, 60, false, &err), TR_OK);
    assert_int_equal(auth_jwt_check_time(c, 4990, 60, true, &err), TR_E_AUTH);
    assert_string_equal(err, "JWT has no exp claim");
    json_decref(c);
    c = json_pack("{s:s}", "exp", "2000");
    assert_int_equal(auth_jwt_check_time(c, 1000, 60, true, &err), TR_E_AUTH);
    json_decref(c);
    c = json_pack("{s:f}", "exp", 1500.5);
    assert_int_equal(auth_jwt_check_time(c, 1000, 0, true, &err), TR_OK);
    json_decref(c);
}

static void test_auth_jwt_has_aud_forms(void **state)
{
    json_t *a = json_pack("{s:s}", "aud", "vault");
    json_t *b = json_pack("{s:[s, s]}", "aud", "api", "vault");
    json_t *c = json_pack("{s:i}", "aud", 1);

    (void)state;
    assert_true(auth_jwt_has_aud(a, "vault"));
    assert_false(auth_jwt_has_aud(a, "vaul"));
    assert_true(auth_jwt_has_aud(b, "vault"));
    assert_false(auth_jwt_has_aud(b, "other"));
    assert_false(auth_jwt_has_aud(c, "1"));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_auth_pem_pubkeys_valid_cases(void **state)
{
    struct fx *f = *state;
    json_t *ok = json_pack("[s, s]", f->rsa_pem, f->ec_pem);
    json_t *p384 = keys_of(f->ec384_pem), *junk = json_pack("[s]", "-----BEGIN nothing");

    assert_true(auth_pem_pubkeys_valid(ok));
    assert_false(auth_pem_pubkeys_valid(p384)); /* ES256 needs P-256 */
    assert_false(auth_pem_pubkeys_valid(junk));
    json_decref(ok);
    json_decref(p384);
    json_decref(junk);
}

/* ---- Kubernetes identities ------------------------------------------------------------------ */

static void test_auth_k8s_sa_from_claims_projected(void **state)
{
    char *c = claims_k8s("dev-team", "app", "vault", 600);
    json_t *claims = json_loads(c, 0, NULL);
    struct auth_k8s_sa sa;

    (void)state;
    assert_int_equal(auth_k8s_sa_from_claims(claims, &sa), TR_OK);
    assert_string_equal(sa.ns, "dev-team");
    assert_string_equal(sa.name, "app");
    assert_string_equal(sa.uid, "u-1");
    /* sub and the kubernetes.io claims must agree */
    json_object_set_new(claims, "sub", json_string("system:serviceaccount:prod:app"));
    assert_int_equal(auth_k8s_sa_from_claims(claims, &sa), TR_E_AUTH);
    json_object_del(claims, "kubernetes.io");
    assert_int_equal(auth_k8s_sa_from_claims(claims, &sa), TR_E_AUTH);
    json_decref(claims);
    free(c);
}

static void test_auth_k8s_sa_from_claims_legacy(void **state)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:s}", "iss", "kubernetes/serviceaccount", "sub",
                          "system:serviceaccount:ns1:sa1", "kubernetes.io/serviceaccount/namespace",
                          "ns1", "kubernetes.io/serviceaccount/service-account.name", "sa1");
    struct auth_k8s_sa sa;

    (void)state;
    assert_int_equal(auth_k8s_sa_from_claims(c, &sa), TR_OK);
    assert_string_equal(sa.ns, "ns1");
    assert_string_equal(sa.name, "sa1");
    json_object_set_new(c, "kubernetes.io/serviceaccount/namespace", json_string("ns2"));
    assert_int_equal(auth_k8s_sa_from_claims(c, &sa), TR_E_AUTH);
    json_decref(c);
}

static void test_auth_k8s_sa_from_username_cases(void **state)
{
    struct auth_k8s_sa sa;

    (void)state;
    assert_int_equal(auth_k8s_sa_from_username("system:serviceaccount:default:vault", &sa), TR_OK);
    assert_string_equal(sa.ns, "default");
    assert_string_equal(sa.name, "vault");
    assert_int_equal(auth_k8s_sa_from_username("system:serviceaccount:a:b:c", &sa), TR_E_AUTH);
    assert_int_equal(auth_k8s_sa_from_username("system:serviceaccount::b", &sa), TR_E_AUTH);
    assert_int_equal(auth_k8s_sa_from_username("system:serviceaccount:a:", &sa), TR_E_AUTH);
    assert_int_equal(auth_k8s_sa_from_username("system:node:x", &sa), TR_E_AUTH);
    assert_int_equal(auth_k8s_sa_from_username("system:serviceaccount:A:b", &sa), TR_E_AUTH);
    assert_int_equal(auth_k8s_sa_from_username("system:serviceaccount:a*:b", &sa), TR_E_AUTH);
    assert_int_equal(auth_k8s_sa_from_username(NULL, &sa), TR_E_AUTH);
}

/* ---- certificates --------------------------------------------------------------------------- */

static int check_cert(X509 *leaf, json_t *role, json_t *crls, json_t **meta)
{
    unsigned char *der = NULL;
    int n = i2d_X509(leaf, &der);
    int rc;

    assert_true(n > 0);
    rc = auth_cert_check(der, (size_t)n, role, crls, meta);
    OPENSSL_free(der);
    return rc;
}

static json_t *role_for(const char *pem)
{
    return json_pack("{s:s}", "certificate", pem);
}

static const struct cert_spec leaf_ok = {.cn = "app.example.com",
                                         .from = -3600,
                                         .to = 86400,
                                         .eku = "clientAuth",
                                         .san = "DNS:app.example.com,URI:spiffe://example.org/app",
                                         .serial = 1001};

static void test_auth_cert_check_valid(void **state)
{
    struct fx *f = *state;
    X509 *leaf = leaf_make(f, f->ca1, f->ca1_key, &leaf_ok);
    json_t *role = role_for(f->ca1_pem), *meta = NULL;
    unsigned char *der = NULL;
    int n = i2d_X509(leaf, &der);
    uint8_t md[32];
    char hex[65];

    assert_int_equal(check_cert(leaf, role, NULL, &meta), TR_OK);
    assert_string_equal(json_string_value(json_object_get(meta, "common_name")), "app.example.com");
    assert_string_equal(json_string_value(json_object_get(meta, "serial_number")), "1001");
    /* the identity is the whole certificate */
    EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL);
    sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
    assert_string_equal(json_string_value(json_object_get(meta, "cert_sha256")), hex);
    assert_int_equal(strlen(json_string_value(json_object_get(meta, "spki_sha256"))), 64);
    assert_non_null(strchr(json_string_value(json_object_get(meta, "subject_key_id")), ':'));
    json_decref(meta);
    OPENSSL_free(der);
    X509_free(leaf);
    json_decref(role);
}

static void test_auth_cert_check_time(void **state)
{
    struct fx *f = *state;
    struct cert_spec expired = leaf_ok, future = leaf_ok;
    json_t *role = role_for(f->ca1_pem), *meta = NULL;

    expired.from = -86400 * 2;
    expired.to = -86400;
    future.from = 86400;
    future.to = 86400 * 2;
    X509 *a = leaf_make(f, f->ca1, f->ca1_key, &expired);
    X509 *b = leaf_make(f, f->ca1, f->ca1_key, &future);
    assert_int_equal(check_cert(a, role, NULL, &meta), TR_E_AUTH);
    assert_null(meta);
    assert_int_equal(check_cert(b, role, NULL, &meta), TR_E_AUTH);
    X509_free(a);
    X509_free(b);
    json_decref(role);
}

static void test_auth_cert_check_other_ca(void **state)
{
    struct fx *f = *state;
    X509 *leaf = leaf_make(f, f->ca2, f->ca2_key, &leaf_ok);
    json_t *role = role_for(f->ca1_pem), *both = NULL, *meta = NULL;
    size_t n = strlen(f->ca1_pem) + strlen(f->ca2_pem) + 1;
    char *bundle = malloc(n);

    assert_int_equal(check_cert(leaf, role, NULL, &meta), TR_E_AUTH);
    snprintf(bundle, n, "%s%s", f->ca1_pem, f->ca2_pem);
    both = role_for(bundle);
    assert_int_equal(check_cert(leaf, both, NULL, &meta), TR_OK);
    json_decref(meta);
    /* a certificate signed by CA 1's name but another key (forged issuer) */
    X509 *forged = cert_make(f->leaf_key, f->ca2_key, f->ca1, &leaf_ok);
    assert_int_equal(check_cert(forged, role, NULL, &meta), TR_E_AUTH);
    X509_free(forged);
    X509_free(leaf);
    json_decref(role);
    json_decref(both);
    free(bundle);
}

static void test_auth_cert_check_purpose(void **state)
{
    struct fx *f = *state;
    struct cert_spec server = leaf_ok;
    json_t *role = role_for(f->ca1_pem), *meta = NULL;

    server.eku = "serverAuth";
    X509 *leaf = leaf_make(f, f->ca1, f->ca1_key, &server);
    assert_int_equal(check_cert(leaf, role, NULL, &meta), TR_E_AUTH);
    X509_free(leaf);
    json_decref(role);
}

static void test_auth_cert_check_crl(void **state)
{
    struct fx *f = *state;
    struct cert_spec revoked = leaf_ok;
    json_t *role = role_for(f->ca1_pem), *meta = NULL;

    revoked.serial = 4242;
    X509 *bad = leaf_make(f, f->ca1, f->ca1_key, &revoked);
    X509 *good = leaf_make(f, f->ca1, f->ca1_key, &leaf_ok);
    X509_CRL *crl = crl_make(f->ca1, f->ca1_key, 4242, 86400);
    X509_CRL *stale = crl_make(f->ca1, f->ca1_key, 1, -60);
    X509_CRL *foreign = crl_make(f->ca2, f->ca2_key, 1001, 86400);
    char *p1 = crl_pem(crl), *p2 = crl_pem(stale), *p3 = crl_pem(foreign);
    json_t *crls = json_pack("[s]", p1), *stale_l = json_pack("[s]", p2);
    json_t *foreign_l = json_pack("[s]", p3);

    assert_int_equal(check_cert(bad, role, NULL, &meta), TR_OK); /* no CRL: accepted */
    json_decref(meta);
    assert_int_equal(check_cert(bad, role, crls, &meta), TR_E_AUTH);
    assert_int_equal(check_cert(good, role, crls, &meta), TR_OK);
    json_decref(meta);
    /* an expired CRL of the issuer fails closed; another CA's CRL does not apply */
    assert_int_equal(check_cert(good, role, stale_l, &meta), TR_E_AUTH);
    assert_int_equal(check_cert(good, role, foreign_l, &meta), TR_OK);
    json_decref(meta);
    X509_free(bad);
    X509_free(good);
    X509_CRL_free(crl);
    X509_CRL_free(stale);
    X509_CRL_free(foreign);
    free(p1);
    free(p2);
    free(p3);
    json_decref(crls);
    json_decref(stale_l);
    json_decref(foreign_l);
    json_decref(role);
}

static void test_auth_cert_check_constraints(void **state)
{
    struct fx *f = *state;
    X509 *leaf = leaf_make(f, f->ca1, f->ca1_key, &leaf_ok);
    json_t *role = role_for(f->ca1_pem), *meta = NULL;
    struct {
        const char *key, *pattern;
        int want;
    } cases[] = {
        {"allowed_common_names", "app.example.com", TR_OK},
        {"allowed_common_names", "*.example.com", TR_OK},
        {"allowed_common_names", "db.example.com", TR_E_AUTH},
        {"allowed_dns_sans", "APP.example.com", TR_OK},
        {"allowed_dns_sans", "*.other.org", TR_E_AUTH},
        {"allowed_uri_sans", "spiffe://example.org/*", TR_OK},
        {"allowed_uri_sans", "spiffe://example.org/db", TR_E_AUTH},
        {"allowed_email_sans", "*@example.com", TR_E_AUTH}, /* no email SAN at all */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object_set_new(role, cases[i].key, json_pack("[s]", cases[i].pattern));
        assert_int_equal(check_cert(leaf, role, NULL, &meta), cases[i].want);
        json_decref(meta);
        meta = NULL;
        json_object_del(role, cases[i].key);
    }
    X509_free(leaf);
    json_decref(role);
}

static void test_auth_cert_check_leaf_pinned(void **state)
{
    struct fx *f = *state;
    X509 *a = leaf_make(f, f->ca1, f->ca1_key, &leaf_ok);
    struct cert_spec other = leaf_ok;
    char *pem = cert_pem(a);
    json_t *role = role_for(pem), *meta = NULL;

    other.serial = 2002;
    X509 *b = leaf_make(f, f->ca1, f->ca1_key, &other); /* same CA, same name, another cert */
    assert_int_equal(check_cert(a, role, NULL, &meta), TR_OK);
    json_decref(meta);
    assert_int_equal(check_cert(b, role, NULL, &meta), TR_E_AUTH);
    /* a pinned leaf never vouches for certificates signed with its key */
    struct cert_spec child = leaf_ok;
    child.cn = "child";
    child.serial = 3003;
    X509 *c = cert_make(f->leaf_key, f->leaf_key, a, &child);
    assert_int_equal(check_cert(c, role, NULL, &meta), TR_E_AUTH);
    X509_free(a);
    X509_free(b);
    X509_free(c);
    free(pem);
    json_decref(role);
}

static void test_auth_cert_check_bad_input(void **state)
{
    struct fx *f = *state;
    uint8_t junk[64] = {0x30, 0x03, 0x01, 0x01, 0x00};
    json_t *role = role_for(f->ca1_pem), *norole = json_object(), *meta = NULL;
    X509 *leaf = leaf_make(f, f->ca1, f->ca1_key, &leaf_ok);

    assert_int_equal(auth_cert_check(junk, sizeof(junk), role, NULL, &meta), TR_E_INVAL);
    assert_int_equal(auth_cert_check(NULL, 0, role, NULL, &meta), TR_E_INVAL);
    assert_int_equal(check_cert(leaf, norole, NULL, &meta), TR_E_AUTH);
    assert_false(auth_pem_certs_valid("not a certificate"));
    assert_true(auth_pem_certs_valid(f->ca1_pem));
    X509_free(leaf);
    json_decref(role);
    json_decref(norole);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_glob_match_cases),
        cmocka_unit_test(test_auth_glob_match_pathological),
        cmocka_unit_test(test_auth_globs_match_lists),
        cmocka_unit_test(test_auth_cidr_contains_cases),
        cmocka_unit_test(test_auth_cidr_valid_cases),
        cmocka_unit_test(test_auth_cidrs_allow_cases),
        cmocka_unit_test(test_auth_cidr_within_cases),
        cmocka_unit_test(test_auth_cidr_within_random),
        cmocka_unit_test(test_auth_cidrs_subset_cases),
        cmocka_unit_test(test_auth_str_list_forms),
        cmocka_unit_test(test_auth_str_list_cap),
        cmocka_unit_test(test_auth_name_ok_cases),
        cmocka_unit_test(test_auth_jwt_verify_rs256),
        cmocka_unit_test(test_auth_jwt_verify_es256),
        cmocka_unit_test(test_auth_jwt_verify_alg_confusion),
        cmocka_unit_test(test_auth_jwt_parse_malformed),
        cmocka_unit_test(test_auth_jwt_parse_mutations),
        cmocka_unit_test(test_auth_jwt_check_time_cases),
        cmocka_unit_test(test_auth_jwt_has_aud_forms),
        cmocka_unit_test(test_auth_pem_pubkeys_valid_cases),
        cmocka_unit_test(test_auth_k8s_sa_from_claims_projected),
        cmocka_unit_test(test_auth_k8s_sa_from_claims_legacy),
        cmocka_unit_test(test_auth_k8s_sa_from_username_cases),
        cmocka_unit_test(test_auth_cert_check_valid),
        cmocka_unit_test(test_auth_cert_check_time),
        cmocka_unit_test(test_auth_cert_check_other_ca),
        cmocka_unit_test(test_auth_cert_check_purpose),
        cmocka_unit_test(test_auth_cert_check_crl),
        cmocka_unit_test(test_auth_cert_check_constraints),
        cmocka_unit_test(test_auth_cert_check_leaf_pinned),
        cmocka_unit_test(test_auth_cert_check_bad_input),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
