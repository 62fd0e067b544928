/*
 * provider_int.h - the seal and counter provider interfaces, internal to enclave/.
 *
 * A platform seal wraps the 32-byte master key so that only this platform (TPM, key file, SGX
 * sealing key) can unwrap it; shamir is not a platform seal and is handled by the core. A
 * counter provider is a durable monotonic counter. The core picks one of each from the config.
 * Key material passed in or out lives in the core's guarded memory; providers copy nothing of
 * it anywhere else and wipe their stack copies.
 */
#ifndef ENC_PROVIDER_INT_H
#define ENC_PROVIDER_INT_H

#include <stdint.h>

#include "../common/tr_buf.h"
#include "enclave.h"

struct enc_platform_seal {
    const char *name;
    /* seal - wrap mk into *out_blob (opaque to the core, stored in seal.blob).
     * Errors: TR_E_IO, TR_E_TPM, TR_E_NOMEM, TR_E_CONFIG. */
    int (*seal)(const struct enc_config *cfg, const uint8_t mk[ENC_KEY_BYTES],
                struct tr_buf *out_blob);
    /* unseal - recover mk from blob. Errors: TR_E_AUTH (refused: wrong platform, PCRs, key),
     * TR_E_IO, TR_E_TPM, TR_E_INVAL (malformed blob). On error mk is zeroed. */
    int (*unseal)(const struct enc_config *cfg, const uint8_t *blob, size_t len,
                  uint8_t mk[ENC_KEY_BYTES]);
};

extern const struct enc_platform_seal enc_seal_devkey;
extern const struct enc_platform_seal enc_seal_gramine;
extern const struct enc_platform_seal enc_seal_tpm2;

struct enc_counter_ops {
    const char *name;
    /* define - create the counter at init (auth is the master-key-derived auth value) and write
     * what identifies it (e.g. NV index + pinned NV name) into *out_id, stored in seal.blob.
     * Errors: TR_E_COUNTER, TR_E_TPM, TR_E_IO, TR_E_NOMEM. */
    int (*define)(const struct enc_config *cfg, const uint8_t auth[ENC_KEY_BYTES],
                  struct tr_buf *out_id);
    /* open - connect to the counter defined with id; fails with TR_E_COUNTER when the counter
     * is gone or is not the one defined at init (deleted and re-defined). */
    int (*open)(const struct enc_config *cfg, const uint8_t auth[ENC_KEY_BYTES], const uint8_t *id,
                size_t id_len, void **out_state);
    int (*read)(void *state, uint64_t *out);
    int (*increment)(void *state, uint64_t *out);
    void (*close)(void *state);
    /* undefine - take back a counter define made moments ago when initialisation failed after
     * it (seal.blob not written), so that a retry finds the place free: a TPM refuses to define
     * an index twice. Removes only a counter that is still exactly id (tpm2: same index, same
     * pinned name). Best effort; failures are logged. */
    void (*undefine)(const struct enc_config *cfg, const uint8_t *id, size_t id_len);
};

extern const struct enc_counter_ops enc_counter_file;
extern const struct enc_counter_ops enc_counter_tpm2;

/* enc_file_write_atomic - write data to path via path.tmp + fsync + rename + fsync(dir), mode
 * 0600. Errors: TR_E_IO, TR_E_NOSPACE. */
int enc_file_write_atomic(const char *path, const uint8_t *data, size_t len);
/* enc_file_read - read a whole file of at most max bytes into *out (caller frees with
 * tr_buf_free). Errors: TR_E_NOTFOUND, TR_E_IO, TR_E_TOO_LARGE. */
int enc_file_read(const char *path, size_t max, struct tr_buf *out);

/* enc_file_read_key - read a key file of exactly len bytes into out (caller's guarded memory);
 * nothing else is buffered. Errors: TR_E_NOTFOUND, TR_E_IO, TR_E_INVAL (wrong size). */
int enc_file_read_key(const char *path, uint8_t *out, size_t len);

/* enc_wrap_key/enc_unwrap_key - XChaCha20-Poly1305 of a 32-byte key under a 32-byte wrapping
 * key with associated data ad; blob = nonce(24) || ct(32) || tag(16) = ENC_WRAPPED_BYTES.
 * Unwrap errors: TR_E_AUTH (wrong key or tampered; out zeroed), TR_E_INVAL (size). */
#define ENC_WRAPPED_BYTES (24 + 32 + 16)
int enc_wrap_key(const uint8_t wk[ENC_KEY_BYTES], const char *ad, const uint8_t key[ENC_KEY_BYTES],
                 uint8_t out[ENC_WRAPPED_BYTES]);
int enc_unwrap_key(const uint8_t wk[ENC_KEY_BYTES], const char *ad, const uint8_t *blob, size_t len,
                   uint8_t out[ENC_KEY_BYTES]);

#endif
