/*
 * test_shamir.c - unit tests for enclave/shamir.c (Shamir secret sharing over GF(2^8)).
 *
 * Known answers come from three independent places: shares produced by Vault's own Go library,
 * FIPS-197's worked products in the AES field, and a slow reference implementation below that
 * shares no code with shamir.c. Random inputs (secrets, polynomials, subsets and their order)
 * come from a PRNG seeded by TR_TEST_SEED or a printed random seed; split's own coefficients and
 * x coordinates always come from libsodium, as in production.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../enclave/shamir_int.h"

#define MAX_SHARES    255u
#define MAX_SHARE_LEN (SHAMIR_SECRET_MAX + 1)
#define SHARES_BUF    (MAX_SHARES * MAX_SHARE_LEN)

static uint64_t g_seed;
static uint64_t g_prng;

/* ---- Seeded PRNG (splitmix64): test inputs only, never key material ---- */

static uint64_t prng_next(void)
{
    uint64_t z = (g_prng += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform enough in [0, bound): the bias of a 32x32 multiply-shift is far below what matters. */
static uint32_t prng_below(uint32_t bound)
{
    return (uint32_t)(((prng_next() >> 32) * bound) >> 32);
}

static void prng_bytes(uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        buf[i] = (uint8_t)(prng_next() >> 56);
}

static void prng_shuffle(uint32_t *idx, uint32_t k)
{
    uint32_t i;
    uint32_t j;
    uint32_t tmp;

    for (i = k; i > 1; i--) {
        j = prng_below(i);
        tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
}

/* Every test starts from the seed, so a failure reproduces whatever order tests run in. */
static int reset_prng(void **state)
{
    (void)state;
    g_prng = g_seed;
    return 0;
}

/* ---- Slow reference arithmetic, deliberately unlike shamir.c ---- */

/* Carry-less schoolbook product, then long division by x^8 + x^4 + x^3 + x + 1. */
static uint8_t ref_mul(uint8_t a, uint8_t b)
{
    unsigned p = 0;
    int i;

    for (i = 0; i < 8; i++) {
        if (b & (1u << i))
            p ^= (unsigned)a << i;
    }
    for (i = 14; i >= 8; i--) {
        if (p & (1u << i))
            p ^= 0x11bu << (i - 8);
    }
    return (uint8_t)p;
}

static uint8_t ref_inv(uint8_t a)
{
    unsigned b;

    for (b = 1; b < 256; b++) {
        if (ref_mul(a, (uint8_t)b) == 1)
            return (uint8_t)b;
    }
    fail_msg("%#x has no inverse", a);
    return 0;
}

/* Sum of coeff[j] * x^j with explicit powers (no Horner, unlike split). */
static uint8_t ref_eval(const uint8_t *coeff, uint32_t ncoeff, uint8_t x)
{
    uint8_t sum = 0;
    uint8_t pow = 1;
    uint32_t j;

    for (j = 0; j < ncoeff; j++) {
        sum ^= ref_mul(coeff[j], pow);
        pow = ref_mul(pow, x);
    }
    return sum;
}

/*
 * Shares of a polynomial per secret byte: coeff holds len rows of t coefficients, row b being
 * secret byte b's polynomial with coeff[b * t] as its constant term. Vault layout.
 */
static void ref_make_shares(const uint8_t *coeff, size_t len, uint32_t t, const uint8_t *xs,
                            uint32_t n, uint8_t *out)
{
    uint32_t i;
    size_t b;

    for (i = 0; i < n; i++) {
        for (b = 0; b < len; b++)
            out[i * (len + 1) + b] = ref_eval(coeff + b * t, t, xs[i]);
        out[i * (len + 1) + len] = xs[i];
    }
}

/* ---- Helpers ---- */

/* n distinct non-zero x coordinates chosen by the seeded PRNG. */
static void prng_x_coords(uint8_t *xs, uint32_t n)
{
    uint32_t perm[MAX_SHARES];
    uint32_t i;

    for (i = 0; i < MAX_SHARES; i++)
        perm[i] = i + 1;
    prng_shuffle(perm, MAX_SHARES);
    for (i = 0; i < n; i++)
        xs[i] = (uint8_t)perm[i];
}

static void gather(const uint8_t *all, size_t share_len, const uint32_t *idx, uint32_t k,
                   uint8_t *dst)
{
    uint32_t i;

    for (i = 0; i < k; i++)
        memcpy(dst + i * share_len, all + idx[i] * share_len, share_len);
}

/* Picks k of n share indices in a random order. */
static void prng_subset(uint32_t n, uint32_t k, uint32_t *idx)
{
    uint32_t all[MAX_SHARES];
    uint32_t i;

    for (i = 0; i < n; i++)
        all[i] = i;
    prng_shuffle(all, n);
    memcpy(idx, all, k * sizeof(*idx));
}

static bool is_all(const uint8_t *buf, size_t len, uint8_t v)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (buf[i] != v)
            return false;
    }
    return true;
}

/* ---- Known answers ---- */

/*
 * Shares printed in the README of github.com/incipher/shamir, a CLI over
 * github.com/hashicorp/vault/shamir v1.11.1: a 2-of-3 split of "SayHelloToMyLittleFriend".
 */
static void test_shamir_combine_vault_vector(void **state)
{
    static const char secret[] = "SayHelloToMyLittleFriend";
    static const uint8_t vault[3][25] = {
        {0x67, 0x44, 0x2e, 0xf8, 0x38, 0xa5, 0x7c, 0xbc, 0x30, 0x63, 0xa4, 0x87, 0xd7,
         0xca, 0x86, 0x1c, 0xf4, 0x90, 0xb9, 0x02, 0x6f, 0x5f, 0x3a, 0x41, 0xbe},
        {0x89, 0xad, 0x77, 0xb9, 0x30, 0x24, 0x5a, 0x4a, 0x60, 0xf4, 0x69, 0x8b, 0xaa,
         0xce, 0x1d, 0xdb, 0xea, 0xec, 0x94, 0xf0, 0xa9, 0x64, 0x00, 0xa8, 0x2a},
        {0x9e, 0xf0, 0x82, 0xcd, 0x4f, 0x34, 0x56, 0xdc, 0x4b, 0xf1, 0x61, 0x46, 0x0a,
         0x7c, 0xd5, 0xf5, 0x80, 0xed, 0x1f, 0xd4, 0x26, 0xfa, 0x3f, 0xf5, 0xd7},
    };
    uint8_t pair[2 * 25];
    uint8_t out[24];
    uint32_t i;
    uint32_t j;

    (void)state;
    for (i = 0; i < 3; i++) {
        for (j = 0; j < 3; j++) {
            if (i == j)
                continue;
            memcpy(pair, vault[i], 25);
            memcpy(pair + 25, vault[j], 25);
            assert_int_equal(shamir_combine(pair, 2, 25, out), TR_OK);
            assert_memory_equal(out, secret, sizeof(out));
        }
    }
    assert_int_equal(shamir_combine(&vault[0][0], 3, 25, out), TR_OK);
    assert_memory_equal(out, secret, sizeof(out));
    /* One share is below the threshold: its y bytes are not the secret. */
    assert_int_equal(shamir_combine(vault[1], 1, 25, out), TR_OK);
    assert_memory_not_equal(out, secret, sizeof(out));
}

/*
 * p(x) = 0x3c + 0x57 x, with the products 0x57 * x taken from FIPS-197 section 4.2 (0x57 * 0x83 =
 * 0xc1, 0x57 * 0x13 = 0xfe) and 4.2.1 (0x57 * 0x02 = 0xae, * 0x04 = 0x47, * 0x08 = 0x8e,
 * * 0x10 = 0x07). Any two of these shares must give back 0x3c.
 */
static void test_shamir_combine_fips197_products(void **state)
{
    static const uint8_t shares[6][2] = {
        {0x3c ^ 0xc1, 0x83}, {0x3c ^ 0xfe, 0x13}, {0x3c ^ 0xae, 0x02},
        {0x3c ^ 0x47, 0x04}, {0x3c ^ 0x8e, 0x08}, {0x3c ^ 0x07, 0x10},
    };
    uint8_t pair[4];
    uint8_t out;
    uint32_t i;
    uint32_t j;

    (void)state;
    for (i = 0; i < 6; i++) {
        for (j = i + 1; j < 6; j++) {
            memcpy(pair, shares[i], 2);
            memcpy(pair + 2, shares[j], 2);
            assert_int_equal(shamir_combine(pair, 2, 2, &out), TR_OK);
            assert_int_equal(out, 0x3c);
        }
    }
    assert_int_equal(shamir_combine(&shares[0][0], 6, 2, &out), TR_OK);
    assert_int_equal(out, 0x3c);
}

/* Polynomials with fixed coefficients evaluated by the reference at fixed x. */
static void test_shamir_combine_reference_fixed(void **state)
{
    static const uint32_t ts[] = {1, 2, 3, 4, 7, 16, 64, 255};
    uint8_t coeff[SHAMIR_SECRET_MAX * MAX_SHARES];
    uint8_t xs[MAX_SHARES];
    uint8_t shares[SHARES_BUF];
    uint8_t secret[SHAMIR_SECRET_MAX];
    uint8_t out[SHAMIR_SECRET_MAX];
    const size_t len = 40;
    size_t b;
    uint32_t i;
    uint32_t j;
    uint32_t t;

    (void)state;
    for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        t = ts[i];
        for (b = 0; b < len; b++) {
            for (j = 0; j < t; j++)
                coeff[b * t + j] = (uint8_t)(0x1d * (j + 1) + 0x35 * b + 0xa7 * t);
            secret[b] = (uint8_t)(0x1d + 0x35 * b + 0xa7 * t); /* the j = 0 term */
        }
        /* Descending from 255 puts the top bit in every x and exercises the reduction. */
        for (j = 0; j < t; j++)
            xs[j] = (uint8_t)(255 - j);
        ref_make_shares(coeff, len, t, xs, t, shares);
        assert_int_equal(shamir_combine(shares, t, len + 1, out), TR_OK);
        assert_memory_equal(out, secret, len);
    }
}

/*
 * Random polynomials from the reference, combined from t and from a few more than t shares. The
 * reference costs t * n per byte, so only the last rounds go up to t = 255.
 */
static void test_shamir_combine_reference_random(void **state)
{
    uint8_t coeff[SHAMIR_SECRET_MAX * MAX_SHARES];
    uint8_t xs[MAX_SHARES];
    uint8_t shares[SHARES_BUF];
    uint8_t secret[SHAMIR_SECRET_MAX];
    uint8_t out[SHAMIR_SECRET_MAX];
    uint32_t round;
    uint32_t t;
    uint32_t n;
    uint32_t extra;
    size_t len;
    size_t b;

    (void)state;
    for (round = 0; round < 60; round++) {
        t = 1 + prng_below(round < 50 ? 8 : MAX_SHARES);
        extra = MAX_SHARES - t < 8 ? MAX_SHARES - t : 8;
        n = t + prng_below(extra + 1);
        len = 1 + prng_below(SHAMIR_SECRET_MAX);
        prng_bytes(coeff, len * t);
        for (b = 0; b < len; b++)
            secret[b] = coeff[b * t];
        prng_x_coords(xs, n);
        ref_make_shares(coeff, len, t, xs, n, shares);
        assert_int_equal(shamir_combine(shares, t, len + 1, out), TR_OK);
        assert_memory_equal(out, secret, len);
        assert_int_equal(shamir_combine(shares, n, len + 1, out), TR_OK);
        assert_memory_equal(out, secret, len);
    }
}

/* ---- Field arithmetic, observed through combine ---- */

/*
 * A constant polynomial has the same y everywhere, and two shares of it combine to
 * y * (x2 + x1) / (x1 + x2). Across all pairs x1 ^ x2 takes every non-zero value, so this checks
 * every inverse the field has.
 */
static void test_shamir_combine_gf_every_inverse(void **state)
{
    uint8_t pair[4];
    uint8_t out;
    unsigned x1;
    unsigned x2;

    (void)state;
    for (x1 = 1; x1 < 256; x1++) {
        for (x2 = x1 + 1; x2 < 256; x2++) {
            pair[0] = (uint8_t)(x1 * 7 + x2);
            pair[1] = (uint8_t)x1;
            pair[2] = pair[0];
            pair[3] = (uint8_t)x2;
            assert_int_equal(shamir_combine(pair, 2, 2, &out), TR_OK);
            if (out != pair[0])
                fail_msg("x1=%u x2=%u: got %#x want %#x", x1, x2, out, pair[0]);
        }
    }
}

/*
 * Shares (1, a) and (x, 0) combine to a * x / (1 + x): compare every a and x with the reference
 * multiply and inverse.
 */
static void test_shamir_combine_gf_every_product(void **state)
{
    uint8_t pair[4];
    uint8_t out;
    uint8_t want;
    uint8_t basis;
    unsigned a;
    unsigned x;

    (void)state;
    for (x = 2; x < 256; x++) {
        basis = ref_mul((uint8_t)x, ref_inv((uint8_t)(1 ^ x)));
        for (a = 0; a < 256; a++) {
            pair[0] = (uint8_t)a;
            pair[1] = 1;
            pair[2] = 0;
            pair[3] = (uint8_t)x;
            want = ref_mul((uint8_t)a, basis);
            assert_int_equal(shamir_combine(pair, 2, 2, &out), TR_OK);
            if (out != want)
                fail_msg("a=%#x x=%#x: got %#x want %#x", a, x, out, want);
        }
    }
}

/* Interpolation is linear in y: combine(A + B) = combine(A) + combine(B), combine(cA) = c *
 * combine(A), for shares A and B at the same x coordinates. */
static void test_shamir_combine_gf_linear(void **state)
{
    uint8_t xs[MAX_SHARES];
    uint8_t a[SHARES_BUF];
    uint8_t bsh[SHARES_BUF];
    uint8_t sum[SHARES_BUF];
    uint8_t out_a[SHAMIR_SECRET_MAX];
    uint8_t out_b[SHAMIR_SECRET_MAX];
    uint8_t out_s[SHAMIR_SECRET_MAX];
    const size_t len = SHAMIR_SECRET_MAX;
    const size_t slen = len + 1;
    uint32_t round;
    uint32_t k;
    uint32_t i;
    size_t b;
    uint8_t c;

    (void)state;
    for (round = 0; round < 50; round++) {
        k = 1 + prng_below(MAX_SHARES);
        c = (uint8_t)prng_below(256);
        prng_x_coords(xs, k);
        for (i = 0; i < k; i++) {
            prng_bytes(a + i * slen, len);
            prng_bytes(bsh + i * slen, len);
            a[i * slen + len] = bsh[i * slen + len] = sum[i * slen + len] = xs[i];
            for (b = 0; b < len; b++)
                sum[i * slen + b] = a[i * slen + b] ^ bsh[i * slen + b];
        }
        assert_int_equal(shamir_combine(a, k, slen, out_a), TR_OK);
        assert_int_equal(shamir_combine(bsh, k, slen, out_b), TR_OK);
        assert_int_equal(shamir_combine(sum, k, slen, out_s), TR_OK);
        for (b = 0; b < len; b++)
            assert_int_equal(out_s[b], out_a[b] ^ out_b[b]);

        for (i = 0; i < k; i++) {
            for (b = 0; b < len; b++)
                sum[i * slen + b] = ref_mul(c, a[i * slen + b]);
        }
        assert_int_equal(shamir_combine(sum, k, slen, out_s), TR_OK);
        for (b = 0; b < len; b++)
            assert_int_equal(out_s[b], ref_mul(c, out_a[b]));
    }
}

/* ---- Split and combine together ---- */

/* Every subset of every split with n <= 5: at least t shares give the secret, fewer do not. */
static void test_shamir_split_combine_every_subset(void **state)
{
    uint8_t secret[32];
    uint8_t shares[5 * 33];
    uint8_t subset[5 * 33];
    uint8_t out[32];
    uint32_t idx[5];
    uint32_t n;
    uint32_t t;
    uint32_t mask;
    uint32_t k;
    uint32_t i;
    uint32_t round;

    (void)state;
    for (round = 0; round < 3; round++) {
        for (n = 1; n <= 5; n++) {
            for (t = 1; t <= n; t++) {
                prng_bytes(secret, sizeof(secret));
                assert_int_equal(shamir_split(secret, sizeof(secret), n, t, shares), TR_OK);
                for (mask = 1; mask < (1u << n); mask++) {
                    for (k = 0, i = 0; i < n; i++) {
                        if (mask & (1u << i))
                            idx[k++] = i;
                    }
                    prng_shuffle(idx, k);
                    gather(shares, 33, idx, k, subset);
                    assert_int_equal(shamir_combine(subset, k, 33, out), TR_OK);
                    if ((k >= t) != (memcmp(out, secret, sizeof(out)) == 0))
                        fail_msg("n=%u t=%u subset=%#x: wrong outcome", n, t, mask);
                }
            }
        }
    }
}

/* Random n, t, length and subset, up to 255 shares. */
static void test_shamir_split_combine_random_subsets(void **state)
{
    uint8_t secret[SHAMIR_SECRET_MAX];
    uint8_t shares[SHARES_BUF];
    uint8_t subset[SHARES_BUF];
    uint8_t out[SHAMIR_SECRET_MAX];
    uint32_t idx[MAX_SHARES];
    uint32_t round;
    uint32_t n;
    uint32_t t;
    uint32_t k;
    size_t len;

    (void)state;
    for (round = 0; round < 200; round++) {
        n = 1 + prng_below(MAX_SHARES);
        t = 1 + prng_below(n);
        k = t + prng_below(n - t + 1);
        len = 1 + prng_below(SHAMIR_SECRET_MAX);
        prng_bytes(secret, len);
        assert_int_equal(shamir_split(secret, len, n, t, shares), TR_OK);
        prng_subset(n, k, idx);
        gather(shares, len + 1, idx, k, subset);
        assert_int_equal(shamir_combine(subset, k, len + 1, out), TR_OK);
        if (memcmp(out, secret, len) != 0)
            fail_msg("round %u n=%u t=%u k=%u len=%zu: secret not recovered", round, n, t, k, len);
        /* Below the threshold a short secret could match by chance; 16 bytes cannot. */
        if (t >= 2 && len >= 16) {
            gather(shares, len + 1, idx, t - 1, subset);
            assert_int_equal(shamir_combine(subset, t - 1, len + 1, out), TR_OK);
            assert_memory_not_equal(out, secret, len);
        }
    }
}

static void test_shamir_split_combine_max_shares(void **state)
{
    uint8_t secret[SHAMIR_SECRET_MAX];
    uint8_t shares[SHARES_BUF];
    uint8_t subset[SHARES_BUF];
    uint8_t out[SHAMIR_SECRET_MAX];
    uint32_t idx[MAX_SHARES];

    (void)state;
    prng_bytes(secret, sizeof(secret));
    assert_int_equal(shamir_split(secret, sizeof(secret), 255, 255, shares), TR_OK);
    prng_subset(255, 255, idx);
    gather(shares, MAX_SHARE_LEN, idx, 255, subset);
    assert_int_equal(shamir_combine(subset, 255, MAX_SHARE_LEN, out), TR_OK);
    assert_memory_equal(out, secret, sizeof(secret));
    assert_int_equal(shamir_combine(subset, 254, MAX_SHARE_LEN, out), TR_OK);
    assert_memory_not_equal(out, secret, sizeof(secret));
}

static void test_shamir_split_combine_every_length(void **state)
{
    uint8_t secret[SHAMIR_SECRET_MAX];
    uint8_t shares[5 * MAX_SHARE_LEN];
    uint8_t out[SHAMIR_SECRET_MAX];
    size_t len;

    (void)state;
    for (len = 1; len <= SHAMIR_SECRET_MAX; len++) {
        prng_bytes(secret, len);
        assert_int_equal(shamir_split(secret, len, 5, 3, shares), TR_OK);
        /* Shares 2, 3 and 4 (the last three) in the buffer as split laid them out. */
        assert_int_equal(shamir_combine(shares + 2 * (len + 1), 3, len + 1, out), TR_OK);
        assert_memory_equal(out, secret, len);
    }
}

/* ---- Split's output ---- */

static void test_shamir_split_x_distinct_nonzero(void **state)
{
    uint8_t secret[8];
    uint8_t shares[MAX_SHARES * 9];
    bool seen[256];
    uint32_t n;
    uint32_t i;
    uint8_t x;

    (void)state;
    prng_bytes(secret, sizeof(secret));
    for (n = 1; n <= MAX_SHARES; n++) {
        assert_int_equal(shamir_split(secret, sizeof(secret), n, 1 + prng_below(n), shares), TR_OK);
        memset(seen, 0, sizeof(seen));
        for (i = 0; i < n; i++) {
            x = shares[i * 9 + 8];
            assert_int_not_equal(x, 0);
            assert_false(seen[x]);
            seen[x] = true;
        }
    }
}

/* The x coordinates are drawn at random, not counted up from 1. */
static void test_shamir_split_x_random(void **state)
{
    uint8_t secret[4] = {1, 2, 3, 4};
    uint8_t first[3 * 5];
    uint8_t shares[3 * 5];
    bool varied = false;
    bool high = false;
    int i;

    (void)state;
    assert_int_equal(shamir_split(secret, 4, 3, 2, first), TR_OK);
    for (i = 0; i < 64; i++) {
        assert_int_equal(shamir_split(secret, 4, 3, 2, shares), TR_OK);
        if (shares[4] != first[4] || shares[9] != first[9] || shares[14] != first[14])
            varied = true;
        if (shares[4] > 3 || shares[9] > 3 || shares[14] > 3)
            high = true;
    }
    assert_true(varied);
    assert_true(high);
}

static void test_shamir_split_fresh_polynomial(void **state)
{
    uint8_t secret[32];
    uint8_t a[3 * 33];
    uint8_t b[3 * 33];
    uint32_t i;

    (void)state;
    prng_bytes(secret, sizeof(secret));
    assert_int_equal(shamir_split(secret, sizeof(secret), 3, 2, a), TR_OK);
    assert_int_equal(shamir_split(secret, sizeof(secret), 3, 2, b), TR_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    /* With t >= 2 no share carries the secret in the clear. */
    for (i = 0; i < 3; i++)
        assert_memory_not_equal(a + i * 33, secret, sizeof(secret));
}

/* t = 1 is a constant polynomial: every share is a plain copy of the secret (documented). */
static void test_shamir_split_threshold_one(void **state)
{
    uint8_t secret[32];
    uint8_t shares[4 * 33];
    uint32_t i;

    (void)state;
    prng_bytes(secret, sizeof(secret));
    assert_int_equal(shamir_split(secret, sizeof(secret), 4, 1, shares), TR_OK);
    for (i = 0; i < 4; i++)
        assert_memory_equal(shares + i * 33, secret, sizeof(secret));
}

static void test_shamir_split_output_bounds(void **state)
{
    uint8_t secret[SHAMIR_SECRET_MAX];
    uint8_t buf[SHARES_BUF + 16];
    const size_t used = 7 * 11;

    (void)state;
    prng_bytes(secret, sizeof(secret));
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(shamir_split(secret, 10, 7, 4, buf), TR_OK);
    assert_true(is_all(buf + used, sizeof(buf) - used, 0x5a));
}

/* ---- Combine's checks ---- */

static void test_shamir_combine_output_bounds(void **state)
{
    uint8_t secret[SHAMIR_SECRET_MAX];
    uint8_t shares[3 * 11];
    uint8_t out[SHAMIR_SECRET_MAX + 16];

    (void)state;
    prng_bytes(secret, sizeof(secret));
    assert_int_equal(shamir_split(secret, 10, 3, 3, shares), TR_OK);
    memset(out, 0x5a, sizeof(out));
    assert_int_equal(shamir_combine(shares, 3, 11, out), TR_OK);
    assert_memory_equal(out, secret, 10);
    assert_true(is_all(out + 10, sizeof(out) - 10, 0x5a));
}

/*
 * A flipped y bit in share i moves output byte b by L_i * delta, never zero, so exactly that
 * byte changes, with t shares or more. A flipped x bit changes every basis polynomial.
 */
static void test_shamir_combine_corrupted_share(void **state)
{
    uint8_t secret[32];
    uint8_t shares[5 * 33];
    uint8_t bad[5 * 33];
    uint8_t out[32];
    uint32_t k;
    uint32_t i;
    size_t b;

    (void)state;
    prng_bytes(secret, sizeof(secret));
    assert_int_equal(shamir_split(secret, sizeof(secret), 5, 3, shares), TR_OK);
    for (k = 3; k <= 5; k++) {
        for (i = 0; i < k; i++) {
            memcpy(bad, shares, sizeof(bad));
            b = prng_below(32);
            bad[i * 33 + b] ^= (uint8_t)(1u << prng_below(8));
            assert_int_equal(shamir_combine(bad, k, 33, out), TR_OK);
            assert_int_not_equal(out[b], secret[b]);
            out[b] = secret[b];
            assert_memory_equal(out, secret, sizeof(secret));
        }
    }
    /* 0x80 into share 0's x, unless that makes it zero or equal to another share's x. */
    memcpy(bad, shares, sizeof(bad));
    bad[32] ^= 0x80;
    if (bad[32] != 0 && bad[32] != shares[65] && bad[32] != shares[98]) {
        assert_int_equal(shamir_combine(bad, 3, 33, out), TR_OK);
        assert_memory_not_equal(out, secret, sizeof(secret));
    }
}

static void test_shamir_combine_duplicate_x(void **state)
{
    uint8_t secret[16];
    uint8_t shares[5 * 17];
    uint8_t out[16];

    (void)state;
    prng_bytes(secret, sizeof(secret));
    assert_int_equal(shamir_split(secret, sizeof(secret), 5, 2, shares), TR_OK);
    /* The same share twice, which a confused operator could submit. */
    memcpy(shares + 17, shares, 17);
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(shamir_combine(shares, 2, 17, out), TR_E_INVAL);
    assert_true(is_all(out, sizeof(out), 0));
    /* Different y, same x, and not adjacent. */
    assert_int_equal(shamir_split(secret, sizeof(secret), 5, 2, shares), TR_OK);
    shares[4 * 17 + 16] = shares[1 * 17 + 16];
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(shamir_combine(shares, 5, 17, out), TR_E_INVAL);
    assert_true(is_all(out, sizeof(out), 0));
}

static void test_shamir_combine_zero_x(void **state)
{
    uint8_t secret[16];
    uint8_t shares[3 * 17];
    uint8_t out[16];
    uint32_t i;

    (void)state;
    prng_bytes(secret, sizeof(secret));
    for (i = 0; i < 3; i++) {
        assert_int_equal(shamir_split(secret, sizeof(secret), 3, 3, shares), TR_OK);
        /* x = 0 would hand over the y bytes as the "secret". */
        shares[i * 17 + 16] = 0;
        memset(out, 0xaa, sizeof(out));
        assert_int_equal(shamir_combine(shares, 3, 17, out), TR_E_INVAL);
        assert_true(is_all(out, sizeof(out), 0));
    }
    shares[16] = 0;
    assert_int_equal(shamir_combine(shares, 1, 17, out), TR_E_INVAL);
}

static void test_shamir_combine_invalid_args(void **state)
{
    uint8_t secret[SHAMIR_SECRET_MAX];
    uint8_t shares[2 * (MAX_SHARE_LEN + 1)];
    uint8_t out[MAX_SHARE_LEN + 1];

    (void)state;
    prng_bytes(secret, sizeof(secret));
    assert_int_equal(shamir_split(secret, 8, 2, 2, shares), TR_OK);

    memset(out, 0xaa, sizeof(out));
    assert_int_equal(shamir_combine(NULL, 2, 9, out), TR_E_INVAL);
    assert_true(is_all(out, 8, 0));
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(shamir_combine(shares, 0, 9, out), TR_E_INVAL);
    assert_true(is_all(out, 8, 0));
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(shamir_combine(shares, 256, 9, out), TR_E_INVAL);
    assert_true(is_all(out, 8, 0));
    assert_true(is_all(out + 8, sizeof(out) - 8, 0xaa));
    assert_int_equal(shamir_combine(shares, UINT32_MAX, 9, out), TR_E_INVAL);
    assert_int_equal(shamir_combine(shares, 2, 9, NULL), TR_E_INVAL);

    /* With a bad share_len the size of out is unknown, so it is left alone. */
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(shamir_combine(shares, 2, 0, out), TR_E_INVAL);
    assert_int_equal(shamir_combine(shares, 2, 1, out), TR_E_INVAL);
    assert_int_equal(shamir_combine(shares, 1, MAX_SHARE_LEN + 1, out), TR_E_INVAL);
    assert_int_equal(shamir_combine(shares, 1, SIZE_MAX, out), TR_E_INVAL);
    assert_true(is_all(out, sizeof(out), 0xaa));
}

/* Rejected calls leave out untouched: split writes only once every argument checked out. */
static void test_shamir_split_invalid_args(void **state)
{
    uint8_t secret[SHAMIR_SECRET_MAX + 1];
    uint8_t out[4 * (MAX_SHARE_LEN + 1)];

    (void)state;
    prng_bytes(secret, sizeof(secret));
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(shamir_split(secret, 16, 0, 0, out), TR_E_INVAL);
    assert_int_equal(shamir_split(secret, 16, 0, 1, out), TR_E_INVAL);
    assert_int_equal(shamir_split(secret, 16, 3, 0, out), TR_E_INVAL);
    assert_int_equal(shamir_split(secret, 16, 3, 4, out), TR_E_INVAL);
    assert_int_equal(shamir_split(secret, 16, 256, 2, out), TR_E_INVAL);
    assert_int_equal(shamir_split(secret, 16, UINT32_MAX, 2, out), TR_E_INVAL);
    assert_int_equal(shamir_split(secret, 0, 3, 2, out), TR_E_INVAL);
    assert_int_equal(shamir_split(secret, SHAMIR_SECRET_MAX + 1, 3, 2, out), TR_E_INVAL);
    assert_int_equal(shamir_split(secret, SIZE_MAX, 3, 2, out), TR_E_INVAL);
    assert_int_equal(shamir_split(NULL, 16, 3, 2, out), TR_E_INVAL);
    assert_int_equal(shamir_split(secret, 16, 3, 2, NULL), TR_E_INVAL);
    assert_true(is_all(out, sizeof(out), 0xaa));
}

/* ---- Runner ---- */

static int parse_seed(uint64_t *out)
{
    const char *env = getenv("TR_TEST_SEED");
    char *end = NULL;
    unsigned long long v;

    if (env == NULL || *env == '\0') {
        *out = ((uint64_t)randombytes_random() << 32) | randombytes_random();
        return 0;
    }
    errno = 0;
    v = strtoull(env, &end, 0);
    if (errno != 0 || end == env || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Runs once before the tests: libsodium for split, and the seed every test restarts from. */
static int group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) {
        print_error("test_shamir: sodium_init failed\n");
        return -1;
    }
    if (parse_seed(&g_seed) != 0) {
        print_error("test_shamir: TR_TEST_SEED must be an unsigned integer\n");
        return -1;
    }
    print_message("test_shamir: seed %" PRIu64 " (rerun with TR_TEST_SEED=%" PRIu64 ")\n", g_seed,
                  g_seed);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_shamir_combine_vault_vector, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_fips197_products, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_reference_fixed, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_reference_random, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_gf_every_inverse, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_gf_every_product, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_gf_linear, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_combine_every_subset, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_combine_random_subsets, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_combine_max_shares, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_combine_every_length, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_x_distinct_nonzero, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_x_random, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_fresh_polynomial, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_threshold_one, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_output_bounds, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_output_bounds, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_corrupted_share, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_duplicate_x, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_zero_x, reset_prng),
        cmocka_unit_test_setup(test_shamir_combine_invalid_args, reset_prng),
        cmocka_unit_test_setup(test_shamir_split_invalid_args, reset_prng),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
