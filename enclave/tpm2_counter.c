/*
 * Counter provider `tpm2`: a TPM NV counter index (TPM2_NT_COUNTER) in the owner hierarchy.
 *
 * The index is non-orderly, so every increment is written to NV before the TPM answers (an
 * orderly counter jumps after a crash, breaking the exact a in {T, T+1} rule). Its authValue is
 * derived from the master key by the core. Define uses a salted session with parameter
 * encryption (the authValue is a parameter); reads and increments use an HMAC session
 * (tpm2_hsess.c), so the authValue never crosses the bus and the TPM's response HMAC
 * authenticates the value read and the success of an increment.
 *
 * Identity: the index's authPolicy is a random digest chosen at define time (no policy can
 * reach it, so it also locks out NV_ChangeAuth), and the NV name (a hash over index, attributes
 * and authPolicy) is pinned after the first increment. A counter deleted and re-defined, even
 * at the same index with the same authValue, has another name and is refused by open. The HMAC
 * session binds the handle names into cpHash, so an index whose name is not the pinned one
 * fails the TPM's HMAC check.
 *
 * id (version 1): u8 version | u32 nv_index (big-endian) | TPM2B_NAME (TSS2 MU encoding).
 *
 * increment is NV_Increment then NV_Read. If it fails, the counter may or may not have moved
 * (the TPM may have done the increment before the link broke): callers re-read before relying
 * on the value.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "../common/tr_log.h"
#include "provider_int.h"
#include "tpm2_int.h"

#define COUNTER_ID_VERSION 1
#define COUNTER_ID_MAX     (1 + 4 + sizeof(TPM2B_NAME))
#define COUNTER_BYTES      8

struct tpm2_counter {
    struct tpm2_conn conn;
    ESYS_TR nv; /* ESYS handle of the index, used only to check its name at open */
    uint32_t index;
    TPM2B_NAME name;       /* pinned, checked against the TPM at open */
    uint8_t *auth;         /* the index's authValue, ENC_KEY_BYTES, sodium_malloc */
    struct tpm2_hsess *hs; /* HMAC session for reads and increments */
};

/* Owner-hierarchy indices only (0x01xxxxxx); platform ranges would need platform auth. */
static int counter_check_index(uint32_t index)
{
    if ((index >> 24) != (TPM2_HR_NV_INDEX >> 24)) {
        tr_log_error("NV index 0x%08x is not an NV index handle", (unsigned)index);
        return TR_E_CONFIG;
    }
    return TR_OK;
}

static int counter_map_err(const char *what, TSS2_RC r)
{
    tpm2_rc_log(what, r);
    if (tpm2_rc_is(r, TPM2_RC_AUTH_FAIL) || tpm2_rc_is(r, TPM2_RC_BAD_AUTH)) {
        tr_log_warn("TPM refused the counter's authorization");
        return TR_E_AUTH;
    }
    if (tpm2_rc_is(r, TPM2_RC_HANDLE) || tpm2_rc_is(r, TPM2_RC_NV_UNINITIALIZED) ||
        tpm2_rc_is(r, TPM2_RC_NV_LOCKED) || tpm2_rc_is(r, TPM2_RC_NV_DEFINED)) {
        tr_log_error("TPM counter is missing, uninitialised or locked");
        return TR_E_COUNTER;
    }
    tr_log_error("TPM counter operation failed");
    return TR_E_TPM;
}

/* A salted HMAC session (flags as given); the SRK is needed only to encrypt the salt. */
static int counter_session(ESYS_CONTEXT *esys, TPMA_SESSION attrs, ESYS_TR *out_sess)
{
    ESYS_TR srk = ESYS_TR_NONE;
    int rc;

    if ((rc = tpm2_srk_create(esys, &srk)) != TR_OK)
        return rc;
    rc = tpm2_session_start(esys, srk, TPM2_SE_HMAC, attrs, out_sess);
    tpm2_flush(esys, &srk);
    return rc;
}

static int counter_set_auth(ESYS_CONTEXT *esys, ESYS_TR nv, const uint8_t auth[ENC_KEY_BYTES])
{
    TPM2B_AUTH a;
    TSS2_RC r;

    memset(&a, 0, sizeof(a));
    a.size = ENC_KEY_BYTES;
    memcpy(a.buffer, auth, ENC_KEY_BYTES);
    r = Esys_TR_SetAuth(esys, nv, &a);
    sodium_memzero(&a, sizeof(a));
    return r == TSS2_RC_SUCCESS ? TR_OK : tpm2_rc_err("Esys_TR_SetAuth", r);
}

/* ESAPI keeps a copy of an object's authValue; overwrite it before the handle goes away. */
static void counter_clear_auth(ESYS_CONTEXT *esys, ESYS_TR nv)
{
    const TPM2B_AUTH empty = {0};

    if (esys && nv != ESYS_TR_NONE)
        (void)Esys_TR_SetAuth(esys, nv, &empty);
}

static int counter_read_value(struct tpm2_counter *st, uint64_t *out)
{
    uint8_t v[COUNTER_BYTES];
    TSS2_RC r;

    r = tpm2_hsess_nv_read(st->hs, st->index, &st->name, st->auth, ENC_KEY_BYTES, COUNTER_BYTES, v);
    if (r != TSS2_RC_SUCCESS)
        return counter_map_err("NV_Read", r);
    *out = tr_be64_get(v);
    return TR_OK;
}

static int counter_increment_once(ESYS_CONTEXT *esys, ESYS_TR nv, ESYS_TR sess)
{
    TSS2_RC r;

    r = Esys_NV_Increment(esys, nv, nv, sess, ESYS_TR_NONE, ESYS_TR_NONE);
    return r == TSS2_RC_SUCCESS ? TR_OK : counter_map_err("Esys_NV_Increment", r);
}

/* The index's current name as the TPM reports it (NV_ReadPublic via a fresh ESYS handle). */
static int counter_name(ESYS_CONTEXT *esys, uint32_t index, ESYS_TR *io_nv, TPM2B_NAME *out)
{
    TPM2B_NAME *name = NULL;
    TSS2_RC r;
    int rc = TR_E_TPM;

    if (*io_nv == ESYS_TR_NONE) {
        r = Esys_TR_FromTPMPublic(esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, io_nv);
        if (r != TSS2_RC_SUCCESS) {
            *io_nv = ESYS_TR_NONE;
            rc = counter_map_err("Esys_TR_FromTPMPublic", r);
            goto out;
        }
    }
    if ((r = Esys_TR_GetName(esys, *io_nv, &name)) != TSS2_RC_SUCCESS) {
        rc = tpm2_rc_err("Esys_TR_GetName", r);
        goto out;
    }
    *out = *name;
    rc = TR_OK;
out:
    Esys_Free(name);
    return rc;
}

static int counter_id_encode(uint32_t index, const TPM2B_NAME *name, struct tr_buf *out)
{
    uint8_t id[COUNTER_ID_MAX];
    size_t off = 1 + 4;
    TSS2_RC r;

    id[0] = COUNTER_ID_VERSION;
    tr_be32_put(id + 1, index);
    if ((r = Tss2_MU_TPM2B_NAME_Marshal(name, id, sizeof(id), &off)) != TSS2_RC_SUCCESS)
        return tpm2_rc_err("Tss2_MU_TPM2B_NAME_Marshal", r);
    return tr_buf_put(out, id, off);
}

static int counter_id_decode(const uint8_t *id, size_t len, uint32_t *out_index,
                             TPM2B_NAME *out_name)
{
    size_t off = 1 + 4;

    memset(out_name, 0, sizeof(*out_name));
    if (!id || len < off || len > COUNTER_ID_MAX || id[0] != COUNTER_ID_VERSION)
        return TR_E_INVAL;
    *out_index = tr_be32_get(id + 1);
    if (Tss2_MU_TPM2B_NAME_Unmarshal(id, len, &off, out_name) != TSS2_RC_SUCCESS || off != len)
        return TR_E_INVAL;
    return TR_OK;
}

static int counter_nv_define(ESYS_CONTEXT *esys, ESYS_TR sess, uint32_t index,
                             const uint8_t auth[ENC_KEY_BYTES], ESYS_TR *out_nv)
{
    TPM2B_NV_PUBLIC pub = {0};
    TPM2B_AUTH a;
    TSS2_RC r;

    pub.nvPublic.nvIndex = index;
    pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
    pub.nvPublic.attributes = (TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHREAD |
                              TPMA_NV_AUTHWRITE | TPMA_NV_NO_DA;
    pub.nvPublic.authPolicy.size = TPM2_SHA256_DIGEST_SIZE;
    randombytes_buf(pub.nvPublic.authPolicy.buffer, TPM2_SHA256_DIGEST_SIZE);
    pub.nvPublic.dataSize = COUNTER_BYTES;
    memset(&a, 0, sizeof(a));
    a.size = ENC_KEY_BYTES;
    memcpy(a.buffer, auth, ENC_KEY_BYTES);
    r = Esys_NV_DefineSpace(esys, ESYS_TR_RH_OWNER, sess, ESYS_TR_NONE, ESYS_TR_NONE, &a, &pub,
                            out_nv);
    sodium_memzero(&a, sizeof(a));
    if (r == TSS2_RC_SUCCESS)
        return TR_OK;
    *out_nv = ESYS_TR_NONE;
    tpm2_rc_log("Esys_NV_DefineSpace", r);
    if (tpm2_rc_is(r, TPM2_RC_NV_DEFINED)) {
        tr_log_error("NV index 0x%08x already exists; not reusing it", (unsigned)index);
        return TR_E_COUNTER;
    }
    tr_log_error("TPM refused to define the counter at NV index 0x%08x", (unsigned)index);
    return TR_E_TPM;
}

/* Undo a define that could not be completed, so a retry does not find a half-made index. */
static void counter_undefine(ESYS_CONTEXT *esys, ESYS_TR *nv)
{
    TSS2_RC r;

    counter_clear_auth(esys, *nv);
    r = Esys_NV_UndefineSpace(esys, ESYS_TR_RH_OWNER, *nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                              ESYS_TR_NONE);
    if (r != TSS2_RC_SUCCESS)
        tpm2_rc_log("Esys_NV_UndefineSpace", r);
    else
        *nv = ESYS_TR_NONE; /* undefine releases the ESYS handle */
}

/* The first increment makes the counter readable (value maxCounter + 1, not 1) and sets
 * TPMA_NV_WRITTEN, which changes the name: only then is the name worth pinning. */
static int counter_first_write(ESYS_CONTEXT *esys, ESYS_TR sess, uint32_t index, ESYS_TR *io_nv,
                               const uint8_t auth[ENC_KEY_BYTES], TPM2B_NAME *out_name)
{
    TSS2_RC r;
    int rc;

    if ((rc = counter_set_auth(esys, *io_nv, auth)) != TR_OK)
        return rc;
    if ((r = Esys_TRSess_SetAttributes(esys, sess, TPMA_SESSION_CONTINUESESSION, 0xff)) !=
        TSS2_RC_SUCCESS)
        return tpm2_rc_err("Esys_TRSess_SetAttributes", r);
    if ((rc = counter_increment_once(esys, *io_nv, sess)) != TR_OK)
        return rc;
    counter_clear_auth(esys, *io_nv);
    if ((r = Esys_TR_Close(esys, io_nv)) != TSS2_RC_SUCCESS)
        return tpm2_rc_err("Esys_TR_Close", r);
    *io_nv = ESYS_TR_NONE;
    return counter_name(esys, index, io_nv, out_name);
}

static int tpm2_counter_define(const struct enc_config *cfg, const uint8_t auth[ENC_KEY_BYTES],
                               struct tr_buf *out_id)
{
    struct tpm2_conn c = {NULL, NULL};
    ESYS_TR sess = ESYS_TR_NONE, nv = ESYS_TR_NONE;
    TPM2B_NAME name;
    bool defined = false;
    int rc = TR_E_INVAL;

    if (!cfg || !auth || !out_id)
        goto out;
    if ((rc = counter_check_index(cfg->nv_index)) != TR_OK)
        goto out;
    if ((rc = tpm2_conn_open(cfg->counter_tcti, sizeof(cfg->counter_tcti), &c)) != TR_OK)
        goto out;
    /* DECRYPT: NV_DefineSpace's first parameter is the new authValue. */
    rc = counter_session(c.esys, TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION, &sess);
    if (rc != TR_OK)
        goto out;
    if ((rc = counter_nv_define(c.esys, sess, cfg->nv_index, auth, &nv)) != TR_OK)
        goto out;
    defined = true;
    if ((rc = counter_first_write(c.esys, sess, cfg->nv_index, &nv, auth, &name)) != TR_OK)
        goto out;
    if ((rc = counter_id_encode(cfg->nv_index, &name, out_id)) != TR_OK)
        goto out;
    tr_log_info("TPM counter defined at NV index 0x%08x", (unsigned)cfg->nv_index);
out:
    if (rc != TR_OK && defined && nv != ESYS_TR_NONE)
        counter_undefine(c.esys, &nv);
    counter_clear_auth(c.esys, nv);
    tpm2_flush(c.esys, &sess);
    tpm2_conn_close(&c);
    return rc;
}

static void tpm2_counter_close(void *state)
{
    struct tpm2_counter *st = state;

    if (!st)
        return;
    tpm2_hsess_free(&st->hs);
    sodium_free(st->auth);
    tpm2_conn_close(&st->conn);
    free(st);
}

/* Compare the index's current name with the pinned one; a missing index or another name is a
 * counter that is not ours any more. */
static int counter_check_name(struct tpm2_counter *st, uint32_t index, const TPM2B_NAME *pinned)
{
    TPM2B_NAME now;
    int rc;

    rc = counter_name(st->conn.esys, index, &st->nv, &now);
    if (rc == TR_E_COUNTER) {
        tr_log_error("TPM counter NV index 0x%08x is gone", (unsigned)index);
        return TR_E_COUNTER;
    }
    if (rc != TR_OK)
        return rc;
    if (now.size != pinned->size || sodium_memcmp(now.name, pinned->name, now.size) != 0) {
        tr_log_error("TPM counter NV index 0x%08x is not the one defined at init (deleted and "
                     "re-defined?)",
                     (unsigned)index);
        return TR_E_COUNTER;
    }
    return TR_OK;
}

static int tpm2_counter_open(const struct enc_config *cfg, const uint8_t auth[ENC_KEY_BYTES],
                             const uint8_t *id, size_t id_len, void **out_state)
{
    struct tpm2_counter *st = NULL;
    TPM2B_NAME pinned;
    uint32_t index = 0;
    int rc = TR_E_INVAL;

    if (!out_state)
        return TR_E_INVAL;
    *out_state = NULL;
    if (!cfg || !auth)
        goto out;
    if ((rc = counter_id_decode(id, id_len, &index, &pinned)) != TR_OK)
        goto out;
    if (index != cfg->nv_index) {
        tr_log_error("configured NV index 0x%08x is not the counter's 0x%08x",
                     (unsigned)cfg->nv_index, (unsigned)index);
        rc = TR_E_COUNTER;
        goto out;
    }
    rc = TR_E_NOMEM;
    if (!(st = calloc(1, sizeof(*st))))
        goto out;
    st->nv = ESYS_TR_NONE;
    st->index = index;
    st->name = pinned;
    if (!(st->auth = sodium_malloc(ENC_KEY_BYTES)))
        goto out;
    memcpy(st->auth, auth, ENC_KEY_BYTES);
    if ((rc = tpm2_conn_open(cfg->counter_tcti, sizeof(cfg->counter_tcti), &st->conn)) != TR_OK)
        goto out;
    if ((rc = counter_check_name(st, index, &pinned)) != TR_OK)
        goto out;
    if ((rc = tpm2_hsess_new(&st->conn, &st->hs)) != TR_OK)
        goto out;
    *out_state = st;
    st = NULL; /* owned by the caller */
out:
    tpm2_counter_close(st);
    return rc;
}

static int tpm2_counter_read(void *state, uint64_t *out)
{
    struct tpm2_counter *st = state;
    uint64_t v = 0;
    int rc;

    if (!st || !out)
        return TR_E_INVAL;
    if ((rc = counter_read_value(st, &v)) != TR_OK)
        return rc;
    *out = v;
    return TR_OK;
}

/* Read back after every increment rather than tracking: another holder of the auth value
 * (a forked instance) may also increment, and the value must reveal that. */
static int tpm2_counter_increment(void *state, uint64_t *out)
{
    struct tpm2_counter *st = state;
    uint64_t v = 0;
    TSS2_RC r;
    int rc;

    if (!st || !out)
        return TR_E_INVAL;
    r = tpm2_hsess_nv_increment(st->hs, st->index, &st->name, st->auth, ENC_KEY_BYTES);
    if (r != TSS2_RC_SUCCESS)
        return counter_map_err("NV_Increment", r);
    if ((rc = counter_read_value(st, &v)) != TR_OK)
        return rc;
    *out = v;
    return TR_OK;
}

/* Only the index this install defined (its name still the pinned one) is removed: never an
 * index that someone else has defined in the meantime. */
static void tpm2_counter_undefine(const struct enc_config *cfg, const uint8_t *id, size_t id_len)
{
    struct tpm2_conn c = {NULL, NULL};
    ESYS_TR nv = ESYS_TR_NONE;
    TPM2B_NAME pinned, now;
    uint32_t index = 0;

    if (!cfg || counter_id_decode(id, id_len, &index, &pinned) != TR_OK)
        return;
    if (tpm2_conn_open(cfg->counter_tcti, sizeof(cfg->counter_tcti), &c) != TR_OK)
        return;
    if (counter_name(c.esys, index, &nv, &now) == TR_OK && now.size == pinned.size &&
        sodium_memcmp(now.name, pinned.name, now.size) == 0) {
        counter_undefine(c.esys, &nv);
        if (nv == ESYS_TR_NONE)
            tr_log_info("TPM counter at NV index 0x%08x removed (initialisation failed)",
                        (unsigned)index);
        else
            tr_log_error("cannot remove the TPM counter at NV index 0x%08x", (unsigned)index);
    }
    tpm2_conn_close(&c);
}

const struct enc_counter_ops enc_counter_tpm2 = {
    .name = "tpm2",
    .define = tpm2_counter_define,
    .open = tpm2_counter_open,
    .read = tpm2_counter_read,
    .increment = tpm2_counter_increment,
    .close = tpm2_counter_close,
    .undefine = tpm2_counter_undefine,
};
