/*
 * Helpers shared by the TPM 2.0 providers: connection, SRK, sessions, RC translation.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "../common/tr_log.h"
#include "enclave.h"
#include "tpm2_int.h"

#define TPM2_PCR_COUNT  24
#define TPM2_BURN_BYTES 16384

void tpm2_rc_log(const char *what, TSS2_RC rc)
{
    tr_log_debug("%s: TSS2 rc 0x%x (%s)", what, (unsigned)rc, Tss2_RC_Decode(rc));
}

int tpm2_rc_err(const char *what, TSS2_RC rc)
{
    tpm2_rc_log(what, rc);
    return TR_E_TPM;
}

/* Format-one codes carry a handle, parameter or session number in bits 6-11; strip it so a
 * code can be compared with the TPM2_RC_* constants. Other layers are compared verbatim. */
static TSS2_RC tpm2_rc_base(TSS2_RC rc)
{
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
        return rc;
    if (rc & TPM2_RC_FMT1)
        return rc & (TPM2_RC_FMT1 | 0x3f);
    return rc & 0xfff;
}

bool tpm2_rc_is(TSS2_RC rc, TSS2_RC base)
{
    return tpm2_rc_base(rc) == base;
}

bool tpm2_rc_is_param(TSS2_RC rc)
{
    return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) &&
           (rc & TPM2_RC_P);
}

int tpm2_conn_open(const char *conf, size_t conf_cap, struct tpm2_conn *out)
{
    struct tpm2_conn c = {NULL, NULL};
    TSS2_RC r;
    int rc = TR_E_TPM;

    memset(out, 0, sizeof(*out));
    if (!conf || !memchr(conf, '\0', conf_cap) || !conf[0]) {
        tr_log_error("no TCTI configured for the TPM");
        return TR_E_CONFIG;
    }
    /* Quiet unless the operator asked for TSS2 logs; must precede the first TSS2 call. */
    if (setenv("TSS2_LOG", "all+none", 0) != 0)
        tr_log_debug("cannot set TSS2_LOG");
    if ((r = Tss2_TctiLdr_Initialize(conf, &c.tcti)) != TSS2_RC_SUCCESS) {
        tr_log_error("cannot open the TPM transport (TCTI %s)", conf);
        rc = tpm2_rc_err("Tss2_TctiLdr_Initialize", r);
        goto out;
    }
    if ((r = Esys_Initialize(&c.esys, c.tcti, NULL)) != TSS2_RC_SUCCESS) {
        rc = tpm2_rc_err("Esys_Initialize", r);
        goto out;
    }
    r = Esys_Startup(c.esys, TPM2_SU_CLEAR);
    if (r != TSS2_RC_SUCCESS && !tpm2_rc_is(r, TPM2_RC_INITIALIZE)) {
        tr_log_error("TPM startup failed (TCTI %s)", conf);
        rc = tpm2_rc_err("Esys_Startup", r);
        goto out;
    }
    *out = c;
    c.esys = NULL; /* now owned by *out */
    c.tcti = NULL;
    rc = TR_OK;
out:
    tpm2_conn_close(&c);
    return rc;
}

void tpm2_conn_close(struct tpm2_conn *c)
{
    if (!c)
        return;
    if (c->esys)
        Esys_Finalize(&c->esys);
    if (c->tcti)
        Tss2_TctiLdr_Finalize(&c->tcti);
    c->esys = NULL;
    c->tcti = NULL;
}

/* TCG storage primary key template (ECC P-256, AES-128-CFB, empty unique). ECC because RSA
 * primaries need prime generation, which takes seconds on hardware TPMs. */
static const TPM2B_PUBLIC tpm2_srk_template = {
    .publicArea =
        {
            .type = TPM2_ALG_ECC,
            .nameAlg = TPM2_ALG_SHA256,
            .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
            .parameters.eccDetail =
                {
                    .symmetric = {.algorithm = TPM2_ALG_AES,
                                  .keyBits.aes = 128,
                                  .mode.aes = TPM2_ALG_CFB},
                    .scheme = {.scheme = TPM2_ALG_NULL},
                    .curveID = TPM2_ECC_NIST_P256,
                    .kdf = {.scheme = TPM2_ALG_NULL},
                },
        },
};

int tpm2_srk_create(ESYS_CONTEXT *esys, ESYS_TR *out_srk)
{
    const TPM2B_SENSITIVE_CREATE sens = {0};
    const TPM2B_DATA outside = {0};
    const TPML_PCR_SELECTION creation = {0};
    TSS2_RC r;

    *out_srk = ESYS_TR_NONE;
    r = Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           &sens, &tpm2_srk_template, &outside, &creation, out_srk, NULL, NULL,
                           NULL, NULL);
    if (r != TSS2_RC_SUCCESS) {
        *out_srk = ESYS_TR_NONE;
        tr_log_error("TPM refused to create the storage root key");
        return tpm2_rc_err("Esys_CreatePrimary", r);
    }
    return TR_OK;
}

int tpm2_session_start(ESYS_CONTEXT *esys, ESYS_TR salt_key, TPM2_SE type, TPMA_SESSION attrs,
                       ESYS_TR *out_sess)
{
    const TPMT_SYM_DEF aes = {
        .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    const TPMT_SYM_DEF none = {.algorithm = TPM2_ALG_NULL};
    const TPMT_SYM_DEF *sym = salt_key != ESYS_TR_NONE ? &aes : &none;
    ESYS_TR s = ESYS_TR_NONE;
    TSS2_RC r;

    *out_sess = ESYS_TR_NONE;
    r = Esys_StartAuthSession(esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, NULL, type, sym, TPM2_ALG_SHA256, &s);
    if (r != TSS2_RC_SUCCESS)
        return tpm2_rc_err("Esys_StartAuthSession", r);
    if (type != TPM2_SE_TRIAL) {
        r = Esys_TRSess_SetAttributes(esys, s, attrs, 0xff);
        if (r != TSS2_RC_SUCCESS) {
            tpm2_flush(esys, &s);
            return tpm2_rc_err("Esys_TRSess_SetAttributes", r);
        }
    }
    *out_sess = s;
    return TR_OK;
}

void tpm2_flush(ESYS_CONTEXT *esys, ESYS_TR *h)
{
    TSS2_RC r;

    if (!esys || !h || *h == ESYS_TR_NONE)
        return;
    if ((r = Esys_FlushContext(esys, *h)) != TSS2_RC_SUCCESS)
        tpm2_rc_log("Esys_FlushContext", r);
    *h = ESYS_TR_NONE;
}

int tpm2_pcr_mask(const uint32_t *pcrs, uint32_t n, uint32_t *out_mask)
{
    uint32_t mask = 0;

    *out_mask = 0;
    if (n > ENC_PCRS_MAX) {
        tr_log_error("too many PCRs selected (%u)", (unsigned)n);
        return TR_E_CONFIG;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (pcrs[i] >= TPM2_PCR_COUNT) {
            tr_log_error("PCR index %u out of range 0..23", (unsigned)pcrs[i]);
            return TR_E_CONFIG;
        }
        mask |= UINT32_C(1) << pcrs[i];
    }
    *out_mask = mask;
    return TR_OK;
}

int tpm2_pcr_select(uint32_t mask, TPML_PCR_SELECTION *out)
{
    memset(out, 0, sizeof(*out));
    if (mask >> TPM2_PCR_COUNT)
        return TR_E_INVAL;
    if (!mask)
        return TR_OK;
    out->count = 1;
    out->pcrSelections[0].hash = TPM2_ALG_SHA256;
    out->pcrSelections[0].sizeofSelect = 3;
    out->pcrSelections[0].pcrSelect[0] = (uint8_t)(mask & 0xff);
    out->pcrSelections[0].pcrSelect[1] = (uint8_t)((mask >> 8) & 0xff);
    out->pcrSelections[0].pcrSelect[2] = (uint8_t)((mask >> 16) & 0xff);
    return TR_OK;
}

/* noinline: the array must sit below the caller's frame, where ESAPI's frames were. */
__attribute__((noinline)) void tpm2_burn_stack(void)
{
    uint8_t junk[TPM2_BURN_BYTES];

    sodium_memzero(junk, sizeof(junk));
}
