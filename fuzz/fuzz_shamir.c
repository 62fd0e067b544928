/*
 * fuzz_shamir - unseal shares, the one secret-bearing input an unauthenticated client sends
 * (PUT sys/unseal), down to the Shamir arithmetic (enclave/shamir.c).
 * Input: byte 0 picks one of three parts.
 *   combine: raw shares for shamir_combine.  Invariant: it succeeds exactly when the sizes are
 *     valid and every x coordinate is non-zero and distinct; on failure the output is zeroed.
 *   split:   a secret, n, t and a subset.  Invariant: any t or more shares give the secret back;
 *     t - 1 shares of a 16+ byte secret do not.
 *   unseal:  submissions to a real core sealed with 3-of-5 shares, each either a genuine share
 *     (possibly bit-flipped or cut) or fuzz bytes.  Invariant: the core unseals exactly when the
 *     three distinct shares of an attempt interpolate to the unseal key; any other third share
 *     fails with TR_E_AUTH and starts a new attempt; progress counts distinct submissions;
 *     wrong lengths are refused and not counted.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "../enclave/shamir_int.h"
#include "util.h"

#define N 5
#define T 3

static struct enc_shares *genuine;

static void check_combine(struct fuzz_in *in)
{
    uint8_t out[SHAMIR_SECRET_MAX + 1];
    const uint8_t *p;
    uint32_t k = fuzz_u8(in);
    size_t sl = fuzz_u8(in) % (SHAMIR_SECRET_MAX + 3);
    size_t have = fuzz_span(in, in->left, &p);
    bool sized = sl >= 2 && sl <= SHAMIR_SECRET_MAX + 1;

    if (sl >= 2 && (size_t)k * sl > have)
        k = (uint32_t)(have / sl); /* never let it read past the input */
    bool valid = sized && k >= 1;
    for (uint32_t i = 0; valid && i < k; i++) {
        uint8_t x = p[i * sl + sl - 1];
        valid = x != 0;
        for (uint32_t j = 0; valid && j < i; j++)
            valid = p[j * sl + sl - 1] != x;
    }
    memset(out, 0xa5, sizeof(out));
    int rc = shamir_combine(p, k, sl, out);
    FUZZ_CHECK((rc == TR_OK) == valid);
    if (rc != TR_OK && sized)
        for (size_t i = 0; i + 1 < sl; i++)
            FUZZ_CHECK(out[i] == 0);
}

static void check_split(struct fuzz_in *in)
{
    static uint8_t shares[16 * (SHAMIR_SECRET_MAX + 1)], pick[16 * (SHAMIR_SECRET_MAX + 1)];
    uint8_t out[SHAMIR_SECRET_MAX];
    const uint8_t *secret;
    size_t len = fuzz_lspan(in, SHAMIR_SECRET_MAX, &secret);
    uint32_t n = 1 + fuzz_u8(in) % 16, t = 1 + fuzz_u8(in) % n;
    uint16_t subset = fuzz_u8(in);
    subset = (uint16_t)(subset << 8 | fuzz_u8(in));
    uint32_t k = 0;

    if (len == 0 || (n > 1 && t < 2))
        return;
    FUZZ_CHECK(shamir_split(secret, len, n, t, shares) == TR_OK);
    for (uint32_t i = 0; i < n; i++)
        if (subset & (1u << i))
            memcpy(pick + (size_t)k++ * (len + 1), shares + (size_t)i * (len + 1), len + 1);
    if (k == 0)
        return;
    FUZZ_CHECK(shamir_combine(pick, k, len + 1, out) == TR_OK);
    if (k >= t)
        FUZZ_CHECK(memcmp(out, secret, len) == 0);
    else if (k == t - 1 && len >= 16)
        FUZZ_CHECK(memcmp(out, secret, len) != 0);
}

/* One attempt's distinct submissions, as the core should count them. */
struct seen {
    uint8_t b[T][ENC_SHARE_BYTES];
    size_t len[T];
    uint32_t n;
};

/* Whether the attempt's shares interpolate to the unseal key (the genuine shares'). Not "three
 * distinct genuine shares": Shamir shares carry no integrity, so damage to two genuine shares can
 * cancel out in the interpolation (the fuzzer finds such pairs), and that is no weakness, as it
 * starts from genuine shares. Nothing that lacks them gets near the key. */
static bool opens(const struct seen *s)
{
    static uint8_t key[ENC_KEY_BYTES];
    static bool have_key;
    uint8_t cat[T * ENC_SHARE_BYTES], got[ENC_KEY_BYTES];

    if (!have_key) {
        for (int i = 0; i < T; i++)
            memcpy(cat + i * ENC_SHARE_BYTES, genuine->share[i], ENC_SHARE_BYTES);
        FUZZ_CHECK(shamir_combine(cat, T, ENC_SHARE_BYTES, key) == TR_OK);
        have_key = true;
    }
    for (int i = 0; i < T; i++) {
        if (s->len[i] != ENC_SHARE_BYTES)
            return false;
        memcpy(cat + i * ENC_SHARE_BYTES, s->b[i], ENC_SHARE_BYTES);
    }
    return shamir_combine(cat, T, ENC_SHARE_BYTES, got) == TR_OK &&
           sodium_memcmp(got, key, sizeof(key)) == 0;
}

static void check_unseal(struct fuzz_in *in)
{
    struct seen seen = {.n = 0};
    struct enc_status st;
    uint8_t buf[ENC_SHARE_BYTES + 8];

    if (!genuine)
        fuzz_core_up(ENC_SEAL_SHAMIR, N, T, &genuine);
    FUZZ_CHECK(enc_unseal_reset() == TR_OK);
    for (int step = 0; step < 8 && in->left; step++) {
        uint8_t sel = fuzz_u8(in);
        const uint8_t *p;
        size_t len;
        if (sel & 0x80) { /* a genuine share, maybe damaged */
            len = ENC_SHARE_BYTES;
            memcpy(buf, genuine->share[sel % N], len);
            if (sel & 0x40)
                buf[fuzz_u8(in) % len] ^= (uint8_t)(1u << (sel >> 3 & 7));
            if (sel & 0x20)
                len -= 1 + (sel >> 3 & 1);
        } else {
            len = fuzz_span(in, 16 + sel % 20, &p);
            memcpy(buf, p, len);
        }
        bool dup = false;
        for (uint32_t i = 0; i < seen.n; i++)
            dup |= seen.len[i] == len && memcmp(seen.b[i], buf, len) == 0;
        int rc = enc_unseal_submit(buf, len, &st);
        if (len < ENC_KEY_BYTES || len > ENC_SHARE_BYTES) {
            FUZZ_CHECK(rc == TR_E_INVAL && st.state == ENC_SEALED && st.progress == seen.n);
            continue;
        }
        if (dup) {
            FUZZ_CHECK(rc == TR_OK && st.state == ENC_SEALED && st.progress == seen.n);
            continue;
        }
        memcpy(seen.b[seen.n], buf, len);
        seen.len[seen.n++] = len;
        if (seen.n < T) {
            FUZZ_CHECK(rc == TR_OK && st.state == ENC_SEALED && st.progress == seen.n);
            continue;
        }
        bool good = opens(&seen);
        if (good != (rc == TR_OK))
            fprintf(stderr, "step %d: opens %d, rc %d, state %d, progress %u\n", step, good, rc,
                    st.state, st.progress);
        FUZZ_CHECK(good ? rc == TR_OK && st.state == ENC_UNSEALED
                        : rc == TR_E_AUTH && st.state == ENC_SEALED && st.progress == 0);
        if (good)
            enc_seal(ENC_REASON_OPERATOR);
        seen.n = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};

    if (size > 8192)
        return 0;
    fuzz_init();
    switch (fuzz_u8(&in) % 3) {
    case 0:
        check_combine(&in);
        break;
    case 1:
        check_split(&in);
        break;
    default:
        check_unseal(&in);
        break;
    }
    return 0;
}
