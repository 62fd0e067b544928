/*
 * tpm2_int.h - helpers shared by the TPM 2.0 seal and counter providers, internal to enclave/.
 *
 * Verbs: tpm2_conn_open/close (TCTI + ESYS context from an explicit TCTI string), tpm2_srk_create
 * (the owner-hierarchy ECC P-256 storage primary, recreated every time), tpm2_session_start
 * (salted sessions), tpm2_flush, tpm2_pcr_select, and RC translation (tpm2_rc_*). Call order:
 * open, then any of the others on conn.esys, flush every handle, close.
 * TSS2 return codes never leave these files: callers translate them with tpm2_rc_err (or a more
 * specific check with tpm2_rc_is) where they arise and log the decoded code at debug level.
 * Thread-safety: a conn is used by one thread at a time; distinct conns are independent.
 * Must never know: the storage layout, the freshness protocol, what the sealed key is for.
 */
#ifndef ENC_TPM2_INT_H
#define ENC_TPM2_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "../common/tr_err.h"

/* One TPM connection. Both pointers are owned; NULL when closed. */
struct tpm2_conn {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
};

/*
 * tpm2_conn_open - load the TCTI named by conf (e.g. "device:/dev/tpmrm0",
 * "swtpm:host=127.0.0.1,port=2321"), create an ESYS context and send TPM2_Startup(CLEAR)
 * (an already started TPM is fine). Sets TSS2_LOG=all+none unless the environment has TSS2_LOG:
 * expected failures would otherwise print to stderr; we log decoded codes ourselves.
 * In:  conf, borrowed, NUL-terminated within conf_cap bytes and non-empty (an empty string
 *      would let the loader probe default devices).
 * Out: *out filled on success, zeroed on failure.
 * Errors: TR_E_CONFIG (empty conf), TR_E_TPM (TCTI, ESYS or Startup failure).
 */
TR_MUST_CHECK int tpm2_conn_open(const char *conf, size_t conf_cap, struct tpm2_conn *out);

/* tpm2_conn_close - finalize ESYS then the TCTI; NULL-safe, idempotent. */
void tpm2_conn_close(struct tpm2_conn *c);

/*
 * tpm2_srk_create - CreatePrimary in the owner hierarchy (empty owner auth, password session)
 * with the standard ECC P-256 / AES-128-CFB storage template. Deterministic from the owner
 * seed, so the same TPM always yields the same key. Out: *out_srk, a transient handle the
 * caller flushes. Errors: TR_E_TPM.
 */
TR_MUST_CHECK int tpm2_srk_create(ESYS_CONTEXT *esys, ESYS_TR *out_srk);

/*
 * tpm2_session_start - start a session of type (TPM2_SE_HMAC, _POLICY or _TRIAL) with SHA-256.
 * With salt_key != ESYS_TR_NONE the session is salted by that loaded key and uses AES-128-CFB
 * for parameter encryption; attrs (TPMA_SESSION_*) are then set as given.
 * Out: *out_sess, flushed by the caller. Errors: TR_E_TPM.
 */
TR_MUST_CHECK int tpm2_session_start(ESYS_CONTEXT *esys, ESYS_TR salt_key, TPM2_SE type,
                                     TPMA_SESSION attrs, ESYS_TR *out_sess);

/* tpm2_flush - flush a transient object or session and set *h to ESYS_TR_NONE. Safe with a
 * NULL esys or *h == ESYS_TR_NONE. Failures are logged at debug level only. */
void tpm2_flush(ESYS_CONTEXT *esys, ESYS_TR *h);

/*
 * tpm2_pcr_select - build a SHA-256 bank selection from a 24-bit PCR mask (bit i = PCR i).
 * mask 0 gives an empty selection (count 0). Errors: TR_E_INVAL (bits above 23).
 */
TR_MUST_CHECK int tpm2_pcr_select(uint32_t mask, TPML_PCR_SELECTION *out);

/* tpm2_pcr_mask - the mask for pcrs[0..n-1]. Errors: TR_E_CONFIG (n > ENC_PCRS_MAX or an index
 * above 23). */
TR_MUST_CHECK int tpm2_pcr_mask(const uint32_t *pcrs, uint32_t n, uint32_t *out_mask);

/* tpm2_rc_is - whether rc is the TPM response code base (e.g. TPM2_RC_POLICY_FAIL), ignoring
 * the handle/parameter/session number of format-one codes. */
bool tpm2_rc_is(TSS2_RC rc, TSS2_RC base);

/* tpm2_rc_is_param - whether rc is a format-one TPM code about a command parameter. */
bool tpm2_rc_is_param(TSS2_RC rc);

/* tpm2_rc_log - log "what: 0xRC (decoded)" at debug level. */
void tpm2_rc_log(const char *what, TSS2_RC rc);

/* tpm2_rc_err - log as tpm2_rc_log and return TR_E_TPM (rc must not be TSS2_RC_SUCCESS). */
TR_MUST_CHECK int tpm2_rc_err(const char *what, TSS2_RC rc);

/* tpm2_burn_stack - overwrite a few KiB of stack below the caller. ESAPI decrypts responses
 * into unwiped stack arrays; call this right after a command whose response was secret. */
void tpm2_burn_stack(void);

/*
 * tpm2_hsess - the counter's per-commit commands (tpm2_hsess.c): an unsalted, unbound SHA-256
 * HMAC session run through SAPI with libsodium HMACs, because ESAPI 3.2 spends ~2 ms of CPU per
 * command in OpenSSL context setup. Started lazily on the conn's TCTI; any failure ends the
 * session and the next call starts a new one.
 * tpm2_hsess_new: *out borrows c->tcti (c must outlive it). Errors: TR_E_INVAL, TR_E_NOMEM.
 * tpm2_hsess_free: flushes the session (best effort); NULL-safe.
 * nv_increment / nv_read: authorise with auth (the index's authValue, auth_len bytes; the
 * caller keeps it in guarded memory) against name (the index's pinned name); nv_read copies
 * exactly size bytes to out. Return the TPM's or SAPI's code; TSS2_ESYS_RC_RSP_AUTH_FAILED when
 * the response HMAC does not verify (nothing from that response is used).
 * Thread-safety: one thread at a time per session, and not concurrently with the conn's ESYS.
 */
struct tpm2_hsess;
TR_MUST_CHECK int tpm2_hsess_new(struct tpm2_conn *c, struct tpm2_hsess **out);
void tpm2_hsess_free(struct tpm2_hsess **s);
TR_MUST_CHECK TSS2_RC tpm2_hsess_nv_increment(struct tpm2_hsess *s, TPM2_HANDLE index,
                                              const TPM2B_NAME *name, const uint8_t *auth,
                                              size_t auth_len);
TR_MUST_CHECK TSS2_RC tpm2_hsess_nv_read(struct tpm2_hsess *s, TPM2_HANDLE index,
                                         const TPM2B_NAME *name, const uint8_t *auth,
                                         size_t auth_len, uint16_t size, uint8_t *out);

#endif
