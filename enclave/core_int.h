/*
 * core_int.h - what other enclave/ files need from the core's state (enclave.c). Internal to
 * enclave/: never included from another folder (lint checks it).
 *
 * The core's key ring and lock stay private to enclave.c; a module that works with a subkey
 * gets it through a begin/end pair that holds the core's lock for reading in between, so
 * enc_seal waits for the module's operation to finish and none starts after it.
 */
#ifndef ENC_CORE_INT_H
#define ENC_CORE_INT_H

#include <stdint.h>

#include "../common/tr_buf.h"
#include "enclave.h"

/*
 * enc_core_transit_begin - take the core's lock for reading and, when UNSEALED, derive the
 * transit key-wrapping subkey (crypto_kdf id 17 of the master key) into wk (caller's guarded
 * memory; the caller wipes it).
 * Returns TR_OK with the lock HELD (call enc_core_transit_end exactly once), or TR_E_SEALED
 * (any other state) with the lock released and wk zeroed.
 */
TR_MUST_CHECK int enc_core_transit_begin(uint8_t wk[ENC_KEY_BYTES]);

/* enc_core_transit_end - release the lock taken by a successful enc_core_transit_begin. */
void enc_core_transit_end(void);

/* enc_transit_cache_drop (transit.c) - release transit.c's cached work areas (they are always
 * wiped; enc_fini calls this so the core leaves nothing allocated). Any state, any thread. */
void enc_transit_cache_drop(void);

/*
 * enc_seal_info_parse - decode a seal.blob image (blob/len) exactly as enc_init does and, when it
 * is well formed, append its canonical encoding (what enc_initialize would write) to *canon.
 * Pure: no core state, no lock, no I/O; the image holds no key in clear. It exists for the
 * parser's unit tests and the fuzz_sealblob harness; the core itself never calls it.
 * Errors: TR_E_INVAL (malformed: *canon untouched), TR_E_NOMEM.
 */
TR_MUST_CHECK int enc_seal_info_parse(const uint8_t *blob, size_t len, struct tr_buf *canon);

#endif
