/*
 * tpm2_hsess - the counter's hot path: NV_Increment and NV_Read through SAPI in an unsalted,
 * unbound HMAC session whose HMACs are computed here with libsodium.
 *
 * Why not ESAPI: tss2-esys 3.2's OpenSSL backend creates a new OSSL_LIB_CTX for every hash and
 * HMAC it computes (cpHash, rpHash, command and response HMACs, nonces), about 2 ms of CPU per
 * command on the dev VM; every store commit waits for an increment and a read. 3.2 has no hook
 * for other crypto (Esys_SetCryptoCallbacks is 4.0), so the two commands are driven here.
 *
 * Why unsalted is enough: with neither a salt nor a bind entity the session key is empty and
 * the HMAC key is the index's authValue (TPM 2.0 Part 1, 19.6.8), a 256-bit value derived by
 * the core, so the HMACs still prove knowledge of it without revealing it, and the response
 * HMAC (checked before any response parameter is used) authenticates the TPM's answer. Salting
 * would only add parameter encryption, and neither command has a secret parameter.
 * Names bind the handles: cpHash covers the index's name twice (auth handle and index), so a
 * command aimed at an index whose name is not the pinned one fails the TPM's HMAC check.
 *
 * Any failure ends the session (flushed best effort) and resets the SAPI context; the next call
 * starts afresh, so a lost response can never leave the nonces out of step.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_sys.h>

#include "../common/tr_buf.h"
#include "tpm2_int.h"

#define HSESS_NONCE_BYTES TPM2_SHA256_DIGEST_SIZE

struct tpm2_hsess {
    TSS2_TCTI_CONTEXT *tcti; /* borrowed from the conn */
    TSS2_SYS_CONTEXT *sys;   /* owned; NULL until first use and after a failure */
    size_t sys_size;
    TPMI_SH_AUTH_SESSION handle;
    TPM2B_NONCE nonce_tpm; /* the TPM's last nonce: nonceOlder of the next command */
    bool live;
};

int tpm2_hsess_new(struct tpm2_conn *c, struct tpm2_hsess **out)
{
    struct tpm2_hsess *s;

    *out = NULL;
    if (!c || !c->tcti)
        return TR_E_INVAL;
    if (!(s = calloc(1, sizeof(*s))))
        return TR_E_NOMEM;
    s->tcti = c->tcti;
    *out = s;
    return TR_OK;
}

static void hsess_reset(struct tpm2_hsess *s)
{
    if (s->sys) {
        if (s->live)
            (void)Tss2_Sys_FlushContext(s->sys, s->handle);
        Tss2_Sys_Finalize(s->sys);
        free(s->sys);
    }
    s->sys = NULL;
    s->live = false;
    memset(&s->nonce_tpm, 0, sizeof(s->nonce_tpm));
}

void tpm2_hsess_free(struct tpm2_hsess **s)
{
    if (!s || !*s)
        return;
    hsess_reset(*s);
    free(*s);
    *s = NULL;
}

static TSS2_RC hsess_start(struct tpm2_hsess *s)
{
    TSS2_ABI_VERSION abi = TSS2_ABI_VERSION_CURRENT;
    const TPM2B_ENCRYPTED_SECRET no_salt = {0};
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
    TPM2B_NONCE caller = {.size = HSESS_NONCE_BYTES};
    TSS2_RC r;

    if (s->live)
        return TSS2_RC_SUCCESS;
    if (!s->sys) {
        s->sys_size = Tss2_Sys_GetContextSize(0);
        if (!(s->sys = calloc(1, s->sys_size)))
            return TSS2_SYS_RC_GENERAL_FAILURE;
        if ((r = Tss2_Sys_Initialize(s->sys, s->sys_size, s->tcti, &abi)) != TSS2_RC_SUCCESS) {
            free(s->sys);
            s->sys = NULL;
            return r;
        }
    }
    randombytes_buf(caller.buffer, caller.size);
    s->nonce_tpm.size = sizeof(s->nonce_tpm.buffer);
    r = Tss2_Sys_StartAuthSession(s->sys, TPM2_RH_NULL, TPM2_RH_NULL, NULL, &caller, &no_salt,
                                  TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &s->handle, &s->nonce_tpm,
                                  NULL);
    if (r != TSS2_RC_SUCCESS)
        return r;
    if (s->nonce_tpm.size != HSESS_NONCE_BYTES)
        return TSS2_SYS_RC_MALFORMED_RESPONSE;
    s->live = true;
    return TSS2_RC_SUCCESS;
}

/* HMAC-SHA256 keyed by the authValue without trailing zero octets (the TPM strips them). */
static void hsess_hmac(const uint8_t *auth, size_t auth_len, const uint8_t digest[32],
                       const TPM2B_NONCE *newer, const TPM2B_NONCE *older, TPMA_SESSION attrs,
                       uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    uint8_t a = (uint8_t)attrs;

    while (auth_len > 0 && auth[auth_len - 1] == 0)
        auth_len--;
    crypto_auth_hmacsha256_init(&st, auth, auth_len);
    crypto_auth_hmacsha256_update(&st, digest, 32);
    crypto_auth_hmacsha256_update(&st, newer->buffer, newer->size);
    crypto_auth_hmacsha256_update(&st, older->buffer, older->size);
    crypto_auth_hmacsha256_update(&st, &a, 1);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* cpHash = H(commandCode || name(auth handle) || name(index) || parameters) */
static void hsess_cphash(TPM2_CC cc, const TPM2B_NAME *name, const uint8_t *cp, size_t cp_len,
                         uint8_t out[32])
{
    crypto_hash_sha256_state st;
    uint8_t be[4];

    tr_be32_put(be, cc);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, be, 4);
    crypto_hash_sha256_update(&st, name->name, name->size);
    crypto_hash_sha256_update(&st, name->name, name->size);
    crypto_hash_sha256_update(&st, cp, cp_len);
    crypto_hash_sha256_final(&st, out);
}

/* rpHash = H(responseCode (0) || commandCode || response parameters) */
static void hsess_rphash(TPM2_CC cc, const uint8_t *rp, size_t rp_len, uint8_t out[32])
{
    crypto_hash_sha256_state st;
    uint8_t be[8] = {0};

    tr_be32_put(be + 4, cc);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, be, 8);
    crypto_hash_sha256_update(&st, rp, rp_len);
    crypto_hash_sha256_final(&st, out);
}

/* Run the command prepared in s->sys under the session: authorise it, execute, check the
 * response HMAC and roll the nonces. */
static TSS2_RC hsess_run(struct tpm2_hsess *s, TPM2_CC cc, const TPM2B_NAME *name,
                         const uint8_t *auth, size_t auth_len)
{
    TSS2L_SYS_AUTH_COMMAND cmd = {.count = 1};
    TSS2L_SYS_AUTH_RESPONSE rsp = {0};
    TPMS_AUTH_COMMAND *a = &cmd.auths[0];
    const uint8_t *cp, *rp;
    size_t cp_len = 0, rp_len = 0;
    uint8_t hash[32], mac[32];
    TSS2_RC r;

    if ((r = Tss2_Sys_GetCpBuffer(s->sys, &cp_len, &cp)) != TSS2_RC_SUCCESS)
        return r;
    hsess_cphash(cc, name, cp, cp_len, hash);
    a->sessionHandle = s->handle;
    a->sessionAttributes = TPMA_SESSION_CONTINUESESSION;
    a->nonce.size = HSESS_NONCE_BYTES;
    randombytes_buf(a->nonce.buffer, a->nonce.size);
    a->hmac.size = 32;
    hsess_hmac(auth, auth_len, hash, &a->nonce, &s->nonce_tpm, a->sessionAttributes,
               a->hmac.buffer);
    if ((r = Tss2_Sys_SetCmdAuths(s->sys, &cmd)) != TSS2_RC_SUCCESS)
        goto out;
    if ((r = Tss2_Sys_Execute(s->sys)) != TSS2_RC_SUCCESS)
        goto out;
    if ((r = Tss2_Sys_GetRspAuths(s->sys, &rsp)) != TSS2_RC_SUCCESS)
        goto out;
    if ((r = Tss2_Sys_GetRpBuffer(s->sys, &rp_len, &rp)) != TSS2_RC_SUCCESS)
        goto out;
    r = TSS2_ESYS_RC_RSP_AUTH_FAILED;
    if (rsp.count != 1 || rsp.auths[0].hmac.size != 32 ||
        rsp.auths[0].nonce.size != HSESS_NONCE_BYTES ||
        !(rsp.auths[0].sessionAttributes & TPMA_SESSION_CONTINUESESSION))
        goto out;
    hsess_rphash(cc, rp, rp_len, hash);
    hsess_hmac(auth, auth_len, hash, &rsp.auths[0].nonce, &a->nonce, rsp.auths[0].sessionAttributes,
               mac);
    if (sodium_memcmp(mac, rsp.auths[0].hmac.buffer, 32) != 0)
        goto out;
    s->nonce_tpm = rsp.auths[0].nonce;
    r = TSS2_RC_SUCCESS;
out:
    sodium_memzero(a->hmac.buffer, sizeof(a->hmac.buffer));
    return r;
}

TSS2_RC tpm2_hsess_nv_increment(struct tpm2_hsess *s, TPM2_HANDLE index, const TPM2B_NAME *name,
                                const uint8_t *auth, size_t auth_len)
{
    TSS2_RC r;

    if ((r = hsess_start(s)) != TSS2_RC_SUCCESS)
        goto out;
    if ((r = Tss2_Sys_NV_Increment_Prepare(s->sys, index, index)) != TSS2_RC_SUCCESS)
        goto out;
    if ((r = hsess_run(s, TPM2_CC_NV_Increment, name, auth, auth_len)) != TSS2_RC_SUCCESS)
        goto out;
    r = Tss2_Sys_NV_Increment_Complete(s->sys);
out:
    if (r != TSS2_RC_SUCCESS)
        hsess_reset(s);
    return r;
}

TSS2_RC tpm2_hsess_nv_read(struct tpm2_hsess *s, TPM2_HANDLE index, const TPM2B_NAME *name,
                           const uint8_t *auth, size_t auth_len, uint16_t size, uint8_t *out)
{
    TPM2B_MAX_NV_BUFFER data = {0};
    TSS2_RC r;

    if ((r = hsess_start(s)) != TSS2_RC_SUCCESS)
        goto out;
    if ((r = Tss2_Sys_NV_Read_Prepare(s->sys, index, index, size, 0)) != TSS2_RC_SUCCESS)
        goto out;
    if ((r = hsess_run(s, TPM2_CC_NV_Read, name, auth, auth_len)) != TSS2_RC_SUCCESS)
        goto out;
    if ((r = Tss2_Sys_NV_Read_Complete(s->sys, &data)) != TSS2_RC_SUCCESS)
        goto out;
    if (data.size != size) {
        r = TSS2_SYS_RC_MALFORMED_RESPONSE;
        goto out;
    }
    memcpy(out, data.buffer, size);
out:
    if (r != TSS2_RC_SUCCESS)
        hsess_reset(s);
    return r;
}
