/*
 * shamir.c - Shamir secret sharing over GF(2^8), byte-compatible with Vault's shamir package.
 *
 * The field is GF(2)[x] / (x^8 + x^4 + x^3 + x + 1) (0x11b, the AES polynomial), as in Vault, so
 * shares made by either side combine on the other. Every secret byte gets its own random
 * polynomial; all bytes of one share are evaluated at the same x, stored after the y bytes.
 */
#include "shamir_int.h"

#include <stdbool.h>
#include <string.h>

#include <sodium.h>

/* x is one byte and 0 is where the secret sits, so at most 255 distinct shares exist. */
#define SHAMIR_SHARES_MAX 255u

/*
 * Shift-and-add multiply. The masks replace "if (b & 1)" and "if (a & 0x80)" so the instruction
 * stream and memory accesses do not depend on either operand: y bytes and coefficients are
 * secret, and log/exp tables would leak them through the cache.
 */
static uint8_t gf_mul(uint8_t a, uint8_t b)
{
    uint8_t r = 0;
    int i;

    for (i = 0; i < 8; i++) {
        r ^= (uint8_t)(a & (uint8_t)(0u - (b & 1u)));
        a = (uint8_t)((a << 1) ^ (0x1bu & (0u - (unsigned)(a >> 7))));
        b >>= 1;
    }
    return r;
}

/*
 * a^254 = a^-1 (Fermat: a^255 = 1 for a != 0), with a fixed sequence of multiplies rather than
 * a branching extended Euclid or a table. Maps 0 to 0; callers never divide by 0 because they
 * reject duplicate and zero x coordinates first.
 */
static uint8_t gf_inv(uint8_t a)
{
    uint8_t sq = a;
    uint8_t r = 1;
    int i;

    /* r = a^2 * a^4 * ... * a^128 = a^(2 + 4 + ... + 128) = a^254 */
    for (i = 1; i < 8; i++) {
        sq = gf_mul(sq, sq);
        r = gf_mul(r, sq);
    }
    return r;
}

/*
 * Chooses n distinct x coordinates uniformly from 1..255 (a partial Fisher-Yates shuffle). They
 * are public, but random rather than 1..n (as in Vault) so a share's x reveals neither its
 * position nor a lower bound on n.
 */
static void pick_x_coords(uint32_t n, uint8_t out_x[SHAMIR_SHARES_MAX])
{
    uint32_t i;
    uint32_t j;
    uint8_t tmp;

    for (i = 0; i < SHAMIR_SHARES_MAX; i++)
        out_x[i] = (uint8_t)(i + 1);
    for (i = 0; i < n; i++) {
        j = i + randombytes_uniform(SHAMIR_SHARES_MAX - i);
        tmp = out_x[i];
        out_x[i] = out_x[j];
        out_x[j] = tmp;
    }
}

int shamir_split(const uint8_t *secret, size_t len, uint32_t n, uint32_t t, uint8_t *out)
{
    /* coeff[j - 1] is the x^j coefficient; the secret byte is the x^0 one. */
    uint8_t coeff[SHAMIR_SHARES_MAX - 1];
    uint8_t x[SHAMIR_SHARES_MAX];
    uint8_t acc;
    size_t b;
    uint32_t i;
    uint32_t j;
    int rc = TR_E_INVAL;

    if (secret == NULL || out == NULL || len == 0 || len > SHAMIR_SECRET_MAX)
        goto out;
    if (n == 0 || n > SHAMIR_SHARES_MAX || t == 0 || t > n)
        goto out;

    pick_x_coords(n, x);
    for (b = 0; b < len; b++) {
        /*
         * Coefficients are uniform over the whole field, zero included: forcing a non-zero
         * leading coefficient would let t - 1 shares rule out one candidate for each byte.
         */
        randombytes_buf(coeff, t - 1);
        for (i = 0; i < n; i++) {
            acc = 0;
            for (j = t - 1; j > 0; j--)
                acc = gf_mul(acc ^ coeff[j - 1], x[i]);
            out[(size_t)i * (len + 1) + b] = acc ^ secret[b];
        }
    }
    for (i = 0; i < n; i++)
        out[(size_t)i * (len + 1) + len] = x[i];
    rc = TR_OK;
out:
    /* out is only written once every check passed, so nothing in it needs wiping on error. */
    sodium_memzero(coeff, sizeof(coeff));
    return rc;
}

/* The x coordinates are public, so checking them may branch. */
static bool shares_have_valid_x(const uint8_t *shares, uint32_t k, size_t share_len)
{
    uint32_t i;
    uint32_t j;
    uint8_t xi;

    for (i = 0; i < k; i++) {
        xi = shares[(size_t)i * share_len + share_len - 1];
        if (xi == 0)
            return false;
        for (j = 0; j < i; j++) {
            if (shares[(size_t)j * share_len + share_len - 1] == xi)
                return false;
        }
    }
    return true;
}

/*
 * Lagrange basis polynomial i evaluated at 0: prod over j != i of x_j / (x_i - x_j), where
 * subtraction is XOR. It depends only on the public x coordinates.
 */
static uint8_t lagrange_at_zero(const uint8_t *shares, uint32_t k, size_t share_len, uint32_t i)
{
    uint8_t xi = shares[(size_t)i * share_len + share_len - 1];
    uint8_t xj;
    uint8_t num = 1;
    uint8_t den = 1;
    uint32_t j;

    for (j = 0; j < k; j++) {
        if (j == i)
            continue;
        xj = shares[(size_t)j * share_len + share_len - 1];
        num = gf_mul(num, xj);
        den = gf_mul(den, xi ^ xj);
    }
    return gf_mul(num, gf_inv(den));
}

int shamir_combine(const uint8_t *shares, uint32_t k, size_t share_len, uint8_t *out)
{
    /* Staged here so out is written only on success and may even overlap shares. */
    uint8_t acc[SHAMIR_SECRET_MAX];
    const uint8_t *y;
    size_t out_len = 0;
    size_t b;
    uint32_t i;
    uint8_t l;
    int rc = TR_E_INVAL;

    if (share_len < 2 || share_len > SHAMIR_SECRET_MAX + 1)
        goto out;
    out_len = share_len - 1;
    if (shares == NULL || out == NULL || k == 0 || k > SHAMIR_SHARES_MAX)
        goto out;
    if (!shares_have_valid_x(shares, k, share_len))
        goto out;

    memset(acc, 0, sizeof(acc));
    for (i = 0; i < k; i++) {
        l = lagrange_at_zero(shares, k, share_len, i);
        y = shares + (size_t)i * share_len;
        for (b = 0; b < out_len; b++)
            acc[b] ^= gf_mul(y[b], l);
    }
    memcpy(out, acc, out_len);
    rc = TR_OK;
out:
    /* Only a valid share_len tells how large out is; with a bad one nothing can be zeroed. */
    if (rc != TR_OK && out != NULL)
        sodium_memzero(out, out_len);
    sodium_memzero(acc, sizeof(acc));
    return rc;
}
