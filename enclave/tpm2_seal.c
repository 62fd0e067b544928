/*
 * Platform seal `tpm2`: the master key as a TPM keyed-hash sealed-data object under the
 * owner-hierarchy SRK, optionally bound to SHA-256 PCR values by a PolicyPCR policy.
 *
 * Blob (version 1, all integers big-endian):
 *   "TRT2" | u8 version | u32 PCR mask (bit i = PCR i, 0 = no policy)
 *   | u32 n | TPM2B_PUBLIC (TSS2 MU encoding, n bytes) | u32 m | TPM2B_PRIVATE (m bytes)
 * The private part is encrypted and integrity-protected under the SRK, which is derived from
 * this TPM's owner seed: the blob is useless on any other TPM or after TPM2_Clear. The PCR mask
 * is not trusted: the policy digest inside the (integrity-protected) public area decides.
 *
 * Wire confidentiality: Create and Unseal run in sessions salted by the SRK with AES-128-CFB
 * parameter encryption, so the key never crosses the TPM bus in clear.
 */
#include <sodium.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "../common/tr_log.h"
#include "provider_int.h"
#include "tpm2_int.h"

#define SEAL_MAGIC     "TRT2"
#define SEAL_MAGIC_LEN 4
#define SEAL_VERSION   1
#define SEAL_BLOB_MAX                                                                              \
    (SEAL_MAGIC_LEN + 1 + 4 + 4 + sizeof(TPM2B_PUBLIC) + 4 + sizeof(TPM2B_PRIVATE))

/* A decoded blob: public data only (the private part is SRK-encrypted). */
struct seal_blob {
    uint32_t pcr_mask;
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
};

static int seal_blob_encode(uint32_t mask, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
                            struct tr_buf *out)
{
    uint8_t pub_buf[sizeof(TPM2B_PUBLIC)];
    uint8_t priv_buf[sizeof(TPM2B_PRIVATE)];
    size_t pub_len = 0, priv_len = 0;
    struct tr_buf b = TR_BUF_INIT;
    int rc = TR_E_INTERNAL;

    if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, pub_buf, sizeof(pub_buf), &pub_len) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_PRIVATE_Marshal(priv, priv_buf, sizeof(priv_buf), &priv_len) !=
            TSS2_RC_SUCCESS) {
        tr_log_error("cannot encode the sealed object returned by the TPM");
        rc = TR_E_TPM;
        goto out;
    }
    if ((rc = tr_buf_put(&b, SEAL_MAGIC, SEAL_MAGIC_LEN)) != TR_OK)
        goto out;
    if ((rc = tr_buf_put_u8(&b, SEAL_VERSION)) != TR_OK)
        goto out;
    if ((rc = tr_buf_put_u32(&b, mask)) != TR_OK)
        goto out;
    if ((rc = tr_buf_put_lstr(&b, pub_buf, pub_len)) != TR_OK)
        goto out;
    if ((rc = tr_buf_put_lstr(&b, priv_buf, priv_len)) != TR_OK)
        goto out;
    rc = tr_buf_put(out, b.data, b.len);
out:
    tr_buf_free(&b);
    return rc;
}

static int seal_blob_decode(const uint8_t *blob, size_t len, struct seal_blob *out)
{
    struct tr_rd r = {blob, len};
    const uint8_t *p = NULL;
    size_t n = 0, off = 0;
    uint8_t version = 0;

    memset(out, 0, sizeof(*out));
    if (!blob || len > SEAL_BLOB_MAX)
        return TR_E_INVAL;
    if (tr_rd_bytes(&r, SEAL_MAGIC_LEN, &p) != TR_OK || memcmp(p, SEAL_MAGIC, SEAL_MAGIC_LEN))
        return TR_E_INVAL;
    if (tr_rd_u8(&r, &version) != TR_OK || version != SEAL_VERSION)
        return TR_E_INVAL;
    if (tr_rd_u32(&r, &out->pcr_mask) != TR_OK || (out->pcr_mask >> 24) != 0)
        return TR_E_INVAL;
    if (tr_rd_lstr(&r, sizeof(TPM2B_PUBLIC), &p, &n) != TR_OK ||
        Tss2_MU_TPM2B_PUBLIC_Unmarshal(p, n, &off, &out->pub) != TSS2_RC_SUCCESS || off != n)
        return TR_E_INVAL;
    /* MU does not check a TPM2B_PUBLIC's size against its contents; ESAPI recomputes it. */
    if ((size_t)out->pub.size + 2 != n)
        return TR_E_INVAL;
    off = 0;
    if (tr_rd_lstr(&r, sizeof(TPM2B_PRIVATE), &p, &n) != TR_OK ||
        Tss2_MU_TPM2B_PRIVATE_Unmarshal(p, n, &off, &out->priv) != TSS2_RC_SUCCESS || off != n)
        return TR_E_INVAL;
    if (r.left != 0 || out->pub.publicArea.type != TPM2_ALG_KEYEDHASH)
        return TR_E_INVAL;
    return TR_OK;
}

/* The policy digest PolicyPCR gives over the PCRs' current values, from a trial session. */
static int seal_policy_digest(ESYS_CONTEXT *esys, const TPML_PCR_SELECTION *sel, TPM2B_DIGEST *out)
{
    const TPM2B_DIGEST current = {0}; /* empty: the TPM uses the PCRs' present values */
    TPM2B_DIGEST *digest = NULL;
    ESYS_TR trial = ESYS_TR_NONE;
    TSS2_RC r;
    int rc = TR_E_TPM;

    if ((rc = tpm2_session_start(esys, ESYS_TR_NONE, TPM2_SE_TRIAL, 0, &trial)) != TR_OK)
        goto out;
    r = Esys_PolicyPCR(esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, sel);
    if (r != TSS2_RC_SUCCESS) {
        rc = tpm2_rc_err("Esys_PolicyPCR (trial)", r);
        goto out;
    }
    r = Esys_PolicyGetDigest(esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &digest);
    if (r != TSS2_RC_SUCCESS) {
        rc = tpm2_rc_err("Esys_PolicyGetDigest", r);
        goto out;
    }
    *out = *digest;
    rc = TR_OK;
out:
    Esys_Free(digest);
    tpm2_flush(esys, &trial);
    return rc;
}

/* Sealed data object template: userWithAuth only without a policy, else the policy is the
 * only way in (userWithAuth would let the empty authValue bypass it). */
static void seal_template(const TPM2B_DIGEST *policy, TPM2B_PUBLIC *out)
{
    TPMT_PUBLIC *a = &out->publicArea;

    memset(out, 0, sizeof(*out));
    a->type = TPM2_ALG_KEYEDHASH;
    a->nameAlg = TPM2_ALG_SHA256;
    a->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
    if (policy->size) {
        a->objectAttributes |= TPMA_OBJECT_ADMINWITHPOLICY;
        a->authPolicy = *policy;
    } else {
        a->objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
    }
    a->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
}

static int seal_create(ESYS_CONTEXT *esys, ESYS_TR srk, ESYS_TR sess,
                       const uint8_t mk[ENC_KEY_BYTES], const TPM2B_DIGEST *policy,
                       TPM2B_PRIVATE **out_priv, TPM2B_PUBLIC **out_pub)
{
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    const TPM2B_DATA outside = {0};
    const TPML_PCR_SELECTION creation = {0};
    TSS2_RC r;

    memset(&sens, 0, sizeof(sens));
    sens.sensitive.data.size = ENC_KEY_BYTES;
    memcpy(sens.sensitive.data.buffer, mk, ENC_KEY_BYTES);
    seal_template(policy, &tmpl);
    r = Esys_Create(esys, srk, sess, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &creation,
                    out_priv, out_pub, NULL, NULL, NULL);
    sodium_memzero(&sens, sizeof(sens));
    tpm2_burn_stack();
    if (r != TSS2_RC_SUCCESS) {
        tr_log_error("TPM refused to create the sealed object");
        return tpm2_rc_err("Esys_Create", r);
    }
    return TR_OK;
}

static int tpm2_seal(const struct enc_config *cfg, const uint8_t mk[ENC_KEY_BYTES],
                     struct tr_buf *out_blob)
{
    struct tpm2_conn c = {NULL, NULL};
    ESYS_TR srk = ESYS_TR_NONE, sess = ESYS_TR_NONE;
    TPML_PCR_SELECTION sel;
    TPM2B_DIGEST policy = {0};
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    uint32_t mask = 0;
    int rc = TR_E_INVAL;

    if (!cfg || !mk || !out_blob)
        goto out;
    if ((rc = tpm2_pcr_mask(cfg->pcrs, cfg->npcrs, &mask)) != TR_OK)
        goto out;
    if ((rc = tpm2_pcr_select(mask, &sel)) != TR_OK)
        goto out;
    if ((rc = tpm2_conn_open(cfg->seal_tcti, sizeof(cfg->seal_tcti), &c)) != TR_OK)
        goto out;
    if ((rc = tpm2_srk_create(c.esys, &srk)) != TR_OK)
        goto out;
    if (mask) {
        if ((rc = seal_policy_digest(c.esys, &sel, &policy)) != TR_OK)
            goto out;
    }
    rc = tpm2_session_start(c.esys, srk, TPM2_SE_HMAC,
                            TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION, &sess);
    if (rc != TR_OK)
        goto out;
    if ((rc = seal_create(c.esys, srk, sess, mk, &policy, &priv, &pub)) != TR_OK)
        goto out;
    rc = seal_blob_encode(mask, pub, priv, out_blob);
    if (rc == TR_OK)
        tr_log_info("master key sealed to the TPM (PCR mask 0x%06x)", (unsigned)mask);
out:
    Esys_Free(priv);
    Esys_Free(pub);
    tpm2_flush(c.esys, &sess);
    tpm2_flush(c.esys, &srk);
    tpm2_conn_close(&c);
    return rc;
}

static int unseal_load(ESYS_CONTEXT *esys, ESYS_TR srk, const struct seal_blob *b, ESYS_TR *out_obj)
{
    TSS2_RC r;

    r = Esys_Load(esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &b->priv, &b->pub,
                  out_obj);
    if (r == TSS2_RC_SUCCESS)
        return TR_OK;
    *out_obj = ESYS_TR_NONE;
    tpm2_rc_log("Esys_Load", r);
    if (tpm2_rc_is(r, TPM2_RC_INTEGRITY)) {
        tr_log_warn("TPM refused to load the sealed key: sealed by another TPM or owner seed, "
                    "or tampered");
        return TR_E_AUTH;
    }
    if (tpm2_rc_is_param(r)) {
        tr_log_warn("TPM rejected the sealed key blob as malformed");
        return TR_E_INVAL;
    }
    tr_log_error("TPM failed to load the sealed key");
    return TR_E_TPM;
}

/* A salted session with response encryption; for a PCR-bound object a policy session that
 * has run PolicyPCR over the sealed selection. */
static int unseal_session(ESYS_CONTEXT *esys, ESYS_TR srk, uint32_t mask, ESYS_TR *out_sess)
{
    const TPMA_SESSION attrs = TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION;
    const TPM2B_DIGEST current = {0};
    TPML_PCR_SELECTION sel;
    TSS2_RC r;
    int rc;

    if (!mask)
        return tpm2_session_start(esys, srk, TPM2_SE_HMAC, attrs, out_sess);
    if ((rc = tpm2_pcr_select(mask, &sel)) != TR_OK)
        return rc;
    if ((rc = tpm2_session_start(esys, srk, TPM2_SE_POLICY, attrs, out_sess)) != TR_OK)
        return rc;
    r = Esys_PolicyPCR(esys, *out_sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &sel);
    if (r != TSS2_RC_SUCCESS) {
        tpm2_flush(esys, out_sess);
        return tpm2_rc_err("Esys_PolicyPCR", r);
    }
    return TR_OK;
}

/* ESAPI decrypts Unseal's response inside its command/response buffer, which it later frees
 * unwiped; a 64-byte GetRandom response is long enough to overwrite that span. */
static void unseal_scrub_esys(ESYS_CONTEXT *esys)
{
    TPM2B_DIGEST *junk = NULL;
    TSS2_RC r;

    r = Esys_GetRandom(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 64, &junk);
    if (r != TSS2_RC_SUCCESS)
        tpm2_rc_log("Esys_GetRandom (scrub)", r);
    Esys_Free(junk);
}

static int unseal_map_err(TSS2_RC r)
{
    tpm2_rc_log("Esys_Unseal", r);
    if (tpm2_rc_is(r, TPM2_RC_POLICY_FAIL) || tpm2_rc_is(r, TPM2_RC_PCR_CHANGED)) {
        tr_log_warn("TPM refused to unseal: PCR policy not satisfied");
        return TR_E_AUTH;
    }
    if (tpm2_rc_is(r, TPM2_RC_AUTH_FAIL) || tpm2_rc_is(r, TPM2_RC_BAD_AUTH) ||
        tpm2_rc_is(r, TPM2_RC_AUTH_UNAVAILABLE)) {
        tr_log_warn("TPM refused to unseal: authorization failed");
        return TR_E_AUTH;
    }
    tr_log_error("TPM failed to unseal the master key");
    return TR_E_TPM;
}

static int unseal_read(ESYS_CONTEXT *esys, ESYS_TR obj, ESYS_TR sess, uint8_t mk[ENC_KEY_BYTES])
{
    TPM2B_SENSITIVE_DATA *data = NULL;
    TSS2_RC r;
    int rc = TR_E_TPM;

    r = Esys_Unseal(esys, obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, &data);
    tpm2_burn_stack();
    if (r != TSS2_RC_SUCCESS) {
        rc = unseal_map_err(r);
        goto out;
    }
    unseal_scrub_esys(esys);
    if (data->size != ENC_KEY_BYTES) {
        tr_log_error("sealed object holds %u bytes, expected %d", (unsigned)data->size,
                     ENC_KEY_BYTES);
        rc = TR_E_INVAL;
        goto out;
    }
    memcpy(mk, data->buffer, ENC_KEY_BYTES);
    rc = TR_OK;
out:
    if (data)
        sodium_memzero(data, sizeof(*data));
    Esys_Free(data);
    return rc;
}

static int tpm2_unseal(const struct enc_config *cfg, const uint8_t *blob, size_t len,
                       uint8_t mk[ENC_KEY_BYTES])
{
    struct tpm2_conn c = {NULL, NULL};
    ESYS_TR srk = ESYS_TR_NONE, obj = ESYS_TR_NONE, sess = ESYS_TR_NONE;
    struct seal_blob b;
    uint32_t cfg_mask = 0;
    int rc = TR_E_INVAL;

    if (!mk)
        return TR_E_INVAL;
    sodium_memzero(mk, ENC_KEY_BYTES);
    if (!cfg)
        goto out;
    if ((rc = seal_blob_decode(blob, len, &b)) != TR_OK) {
        tr_log_error("TPM seal blob is malformed");
        goto out;
    }
    if (tpm2_pcr_mask(cfg->pcrs, cfg->npcrs, &cfg_mask) != TR_OK || cfg_mask != b.pcr_mask)
        tr_log_warn("configured PCRs differ from the sealed ones (0x%06x); using the sealed set",
                    (unsigned)b.pcr_mask);
    if ((rc = tpm2_conn_open(cfg->seal_tcti, sizeof(cfg->seal_tcti), &c)) != TR_OK)
        goto out;
    if ((rc = tpm2_srk_create(c.esys, &srk)) != TR_OK)
        goto out;
    if ((rc = unseal_load(c.esys, srk, &b, &obj)) != TR_OK)
        goto out;
    if ((rc = unseal_session(c.esys, srk, b.pcr_mask, &sess)) != TR_OK)
        goto out;
    rc = unseal_read(c.esys, obj, sess, mk);
out:
    if (rc != TR_OK)
        sodium_memzero(mk, ENC_KEY_BYTES);
    tpm2_flush(c.esys, &sess);
    tpm2_flush(c.esys, &obj);
    tpm2_flush(c.esys, &srk);
    tpm2_conn_close(&c);
    return rc;
}

const struct enc_platform_seal enc_seal_tpm2 = {
    .name = "tpm2",
    .seal = tpm2_seal,
    .unseal = tpm2_unseal,
};
