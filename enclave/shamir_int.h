/*
 * shamir_int.h - Shamir secret sharing over GF(2^8), internal to enclave/.
 *
 * Vault-compatible share layout: y-bytes (one per secret byte) followed by one byte holding the
 * x coordinate (1..255), so a share is secret_len + 1 bytes. Arithmetic is constant time: no
 * branches or table lookups indexed by secret data (log/exp tables leak through the cache).
 * Thread-safety: reentrant.
 */
#ifndef ENC_SHAMIR_INT_H
#define ENC_SHAMIR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/tr_err.h"

#define SHAMIR_SECRET_MAX 64

/*
 * shamir_split - split secret (len bytes, 1..SHAMIR_SECRET_MAX) into n shares with threshold t
 * (1 <= t <= n <= 255). out receives n * (len + 1) bytes: share i at out + i * (len + 1), with
 * distinct random non-zero x coordinates. Random polynomial coefficients come from randombytes.
 * Errors: TR_E_INVAL. Temporary coefficients are wiped.
 */
TR_MUST_CHECK int shamir_split(const uint8_t *secret, size_t len, uint32_t n, uint32_t t,
                               uint8_t *out);

/*
 * shamir_combine - Lagrange-interpolate at x = 0 from k shares of share_len bytes each
 * (shares is k * share_len bytes, 2 <= share_len <= SHAMIR_SECRET_MAX + 1, 1 <= k <= 255).
 * out receives share_len - 1 bytes. With k below the threshold the result is garbage that the
 * caller detects (the unwrap fails); it is never an error here.
 * Errors: TR_E_INVAL (bad sizes, duplicate or zero x coordinate). On error out is zeroed.
 */
TR_MUST_CHECK int shamir_combine(const uint8_t *shares, uint32_t k, size_t share_len, uint8_t *out);

#endif
