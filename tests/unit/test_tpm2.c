/*
 * Tests for the TPM 2.0 seal and counter providers against a real swtpm.
 *
 * Every test starts its own swtpm (fresh state directory, free loopback ports) and kills it in
 * teardown, so tests share nothing. swtpm missing is a failure, never a skip.
 * Random inputs come from a seed printed at start (override with TR_TEST_SEED).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/tr_log.h"
#include "../../enclave/provider_int.h"
#include "../../enclave/tpm2_int.h"
#include "../support/tpm_sim.h"

#define TEST_NV_INDEX   0x01500016u
#define TEST_PCR        16
#define TEST_PCR_OTHER  23 /* 17..22 need locality 3/4 */
#define LATENCY_ROUNDS  200
#define LOG_CAPTURE_MAX 65536

struct fixture {
    struct tt_swtpm tpm;
    struct enc_config *cfg;
    struct tt_relay *mitm; /* a test's man in the middle; teardown stops it if the test could not */
    uint8_t mk[ENC_KEY_BYTES];
    uint8_t auth[ENC_KEY_BYTES];
};

static uint64_t test_seed;
static uint64_t prng_state;

/* ---- log capture: keeps test output quiet and lets tests inspect what was logged ---------- */
static char log_buf[LOG_CAPTURE_MAX];
static size_t log_len;

static void log_capture(void *arg, enum tr_log_level level, const char *line)
{
    size_t n = strlen(line);

    (void)arg;
    (void)level;
    if (n + 1 > sizeof(log_buf) - log_len)
        return;
    memcpy(log_buf + log_len, line, n);
    log_buf[log_len + n] = '\n';
    log_len += n + 1;
}

static void log_reset(void)
{
    log_len = 0;
    memset(log_buf, 0, sizeof(log_buf));
}

static bool log_has(const char *s)
{
    return memmem(log_buf, log_len, s, strlen(s)) != NULL;
}

/* xorshift64*: deterministic from the printed seed; the libc generator is banned. */
static uint64_t prng_next(void)
{
    prng_state ^= prng_state >> 12;
    prng_state ^= prng_state << 25;
    prng_state ^= prng_state >> 27;
    return prng_state * UINT64_C(2685821657736338717);
}

/* ---- swtpm process management ------------------------------------------------------------ */

static int swtpm_new(struct tt_swtpm *t)
{
    memset(t, 0, sizeof(*t));
    t->pid = -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/tresor-test-tpm2-XXXXXX");
    if (!mkdtemp(t->dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    if (tt_swtpm_start(t) != 0) {
        fprintf(stderr, "swtpm did not start (state dir %s)\n", t->dir);
        return -1;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void swtpm_destroy(struct tt_swtpm *t)
{
    tt_swtpm_stop(t, SIGTERM);
    if (t->dir[0])
        nftw(t->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    t->dir[0] = '\0';
}

/* ---- direct TPM helpers (what an attacker or an operator could do) ----------------------- */

static void tpm_pcr_extend(const char *tcti, uint32_t pcr)
{
    struct tpm2_conn c;
    TPML_DIGEST_VALUES d = {.count = 1, .digests[0] = {.hashAlg = TPM2_ALG_SHA256}};

    memset(d.digests[0].digest.sha256, 0xab, TPM2_SHA256_DIGEST_SIZE);
    assert_int_equal(tpm2_conn_open(tcti, strlen(tcti) + 1, &c), TR_OK);
    assert_int_equal(Esys_PCR_Extend(c.esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                     ESYS_TR_NONE, &d),
                     TSS2_RC_SUCCESS);
    tpm2_conn_close(&c);
}

static void tpm_nv_undefine(const char *tcti, uint32_t index)
{
    struct tpm2_conn c;
    ESYS_TR nv = ESYS_TR_NONE;

    assert_int_equal(tpm2_conn_open(tcti, strlen(tcti) + 1, &c), TR_OK);
    assert_int_equal(
        Esys_TR_FromTPMPublic(c.esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv),
        TSS2_RC_SUCCESS);
    assert_int_equal(Esys_NV_UndefineSpace(c.esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
                                           ESYS_TR_NONE, ESYS_TR_NONE),
                     TSS2_RC_SUCCESS);
    tpm2_conn_close(&c);
}

/* ---- fixtures ----------------------------------------------------------------------------- */

static void cfg_point_at(struct enc_config *cfg, const struct tt_swtpm *t)
{
    snprintf(cfg->seal_tcti, sizeof(cfg->seal_tcti), "%s", t->tcti);
    snprintf(cfg->counter_tcti, sizeof(cfg->counter_tcti), "%s", t->tcti);
}

static int group_setup(void **state)
{
    const char *s = getenv("TR_TEST_SEED");

    (void)state;
    if (sodium_init() < 0)
        return -1;
    if (!tt_swtpm_installed()) {
        fprintf(stderr, "FATAL: swtpm not found in PATH; install swtpm and swtpm-tools "
                        "(these tests need a real TPM emulator and are never skipped)\n");
        return -1;
    }
    test_seed = s ? strtoull(s, NULL, 0) : ((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();
    if (!test_seed)
        test_seed = 1;
    printf("test_tpm2: seed %llu (set TR_TEST_SEED to repeat)\n", (unsigned long long)test_seed);
    tr_log_set_sink(log_capture, NULL);
    tr_log_set_level(TR_LOG_DEBUG);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tr_log_set_sink(NULL, NULL);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    f->cfg = calloc(1, sizeof(*f->cfg));
    if (!f->cfg || swtpm_new(&f->tpm) != 0) {
        swtpm_destroy(&f->tpm);
        free(f->cfg);
        free(f);
        return -1;
    }
    f->cfg->seal_type = ENC_SEAL_TPM2;
    f->cfg->counter_type = ENC_COUNTER_TPM2;
    f->cfg->nv_index = TEST_NV_INDEX;
    cfg_point_at(f->cfg, &f->tpm);
    randombytes_buf(f->mk, sizeof(f->mk));
    randombytes_buf(f->auth, sizeof(f->auth));
    prng_state = test_seed;
    log_reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    enc_fini(); /* a core test that failed half-way leaves nothing for the next one */
    tt_relay_stop(f->mitm);
    swtpm_destroy(&f->tpm);
    free(f->cfg);
    free(f);
    return 0;
}

static bool is_zero(const uint8_t *p, size_t n)
{
    return sodium_is_zero(p, n) == 1;
}

/* ---- seal --------------------------------------------------------------------------------- */

static void seal_ok(struct fixture *f, struct tr_buf *blob)
{
    assert_int_equal(enc_seal_tpm2.seal(f->cfg, f->mk, blob), TR_OK);
    assert_non_null(blob->data);
    assert_true(blob->len > 100);
}

static void test_tpm2_seal_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct tr_buf blob = TR_BUF_INIT;
    uint8_t out[ENC_KEY_BYTES];

    seal_ok(f, &blob);
    assert_int_equal(enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, out), TR_OK);
    assert_memory_equal(out, f->mk, ENC_KEY_BYTES);
    /* the key never reaches the log, raw or in hex */
    char hex[2 * ENC_KEY_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), f->mk, sizeof(f->mk));
    assert_false(log_has(hex));
    assert_null(memmem(log_buf, log_len, f->mk, sizeof(f->mk)));
    sodium_memzero(out, sizeof(out));
    tr_buf_free(&blob);
}

static void test_tpm2_unseal_twice(void **state)
{
    struct fixture *f = *state;
    struct tr_buf blob = TR_BUF_INIT;
    uint8_t a[ENC_KEY_BYTES], b[ENC_KEY_BYTES];

    seal_ok(f, &blob);
    assert_int_equal(enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, a), TR_OK);
    assert_int_equal(enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, b), TR_OK);
    assert_memory_equal(a, f->mk, ENC_KEY_BYTES);
    assert_memory_equal(b, f->mk, ENC_KEY_BYTES);
    tr_buf_free(&blob);
}

static void test_tpm2_unseal_truncated(void **state)
{
    struct fixture *f = *state;
    struct tr_buf blob = TR_BUF_INIT;
    uint8_t out[ENC_KEY_BYTES];
    uint8_t *copy;

    seal_ok(f, &blob);
    for (size_t n = 0; n < blob.len; n++) {
        copy = malloc(n ? n : 1); /* exact size, so ASan sees any over-read */
        assert_non_null(copy);
        memcpy(copy, blob.data, n);
        memset(out, 0x55, sizeof(out));
        assert_int_equal(enc_seal_tpm2.unseal(f->cfg, copy, n, out), TR_E_INVAL);
        assert_true(is_zero(out, sizeof(out)));
        free(copy);
    }
    /* trailing garbage, NULL blob */
    assert_int_equal(tr_buf_put_u8(&blob, 0), TR_OK);
    assert_int_equal(enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, out), TR_E_INVAL);
    assert_int_equal(enc_seal_tpm2.unseal(f->cfg, NULL, 10, out), TR_E_INVAL);
    assert_true(is_zero(out, sizeof(out)));
    tr_buf_free(&blob);
}

static void test_tpm2_unseal_bitflip(void **state)
{
    struct fixture *f = *state;
    struct tr_buf blob = TR_BUF_INIT;
    uint8_t out[ENC_KEY_BYTES];

    seal_ok(f, &blob);
    /* every header byte, then random positions across the TPM structures */
    for (size_t i = 0; i < 48; i++) {
        size_t pos = i < 16 ? i : (size_t)(prng_next() % blob.len);
        uint8_t bit = (uint8_t)(1u << (prng_next() % 8));
        int rc;

        blob.data[pos] ^= bit;
        memset(out, 0x55, sizeof(out));
        rc = enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, out);
        if (rc == TR_OK)
            fail_msg("bit flip at byte %zu (0x%02x) unsealed", pos, bit);
        assert_true(rc == TR_E_INVAL || rc == TR_E_AUTH || rc == TR_E_TPM);
        assert_true(is_zero(out, sizeof(out)));
        blob.data[pos] ^= bit;
    }
    /* the restored blob still works: failures left no objects behind in the TPM */
    assert_int_equal(enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, out), TR_OK);
    assert_memory_equal(out, f->mk, ENC_KEY_BYTES);
    tr_buf_free(&blob);
}

static void test_tpm2_unseal_other_tpm(void **state)
{
    struct fixture *f = *state;
    struct tr_buf blob = TR_BUF_INIT;
    struct tt_swtpm other;
    uint8_t out[ENC_KEY_BYTES];
    int rc;

    seal_ok(f, &blob);
    assert_int_equal(swtpm_new(&other), 0);
    cfg_point_at(f->cfg, &other);
    memset(out, 0x55, sizeof(out));
    rc = enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, out);
    swtpm_destroy(&other);
    assert_int_equal(rc, TR_E_AUTH); /* TPM_RC_INTEGRITY: another owner seed */
    assert_true(is_zero(out, sizeof(out)));
    assert_true(log_has("sealed by another TPM"));
    tr_buf_free(&blob);
}

static void test_tpm2_unseal_pcr_changed(void **state)
{
    struct fixture *f = *state;
    struct tr_buf blob = TR_BUF_INIT;
    uint8_t out[ENC_KEY_BYTES];

    f->cfg->pcrs[0] = TEST_PCR;
    f->cfg->npcrs = 1;
    seal_ok(f, &blob);
    tpm_pcr_extend(f->tpm.tcti, TEST_PCR);
    log_reset();
    memset(out, 0x55, sizeof(out));
    assert_int_equal(enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, out), TR_E_AUTH);
    assert_true(is_zero(out, sizeof(out)));
    assert_true(log_has("TPM refused to unseal: PCR policy not satisfied"));
    assert_null(memmem(log_buf, log_len, f->mk, sizeof(f->mk)));
    tr_buf_free(&blob);
}

static void test_tpm2_unseal_pcr_unchanged(void **state)
{
    struct fixture *f = *state;
    struct tr_buf blob = TR_BUF_INIT;
    uint8_t out[ENC_KEY_BYTES];

    f->cfg->pcrs[0] = TEST_PCR;
    f->cfg->npcrs = 1;
    seal_ok(f, &blob);
    tpm_pcr_extend(f->tpm.tcti, TEST_PCR_OTHER); /* a PCR outside the policy */
    assert_int_equal(enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, out), TR_OK);
    assert_memory_equal(out, f->mk, ENC_KEY_BYTES);
    tr_buf_free(&blob);
}

static void test_tpm2_unseal_policy_stripped(void **state)
{
    struct fixture *f = *state;
    struct tr_buf blob = TR_BUF_INIT;
    uint8_t out[ENC_KEY_BYTES];

    f->cfg->pcrs[0] = TEST_PCR;
    f->cfg->npcrs = 1;
    seal_ok(f, &blob);
    tpm_pcr_extend(f->tpm.tcti, TEST_PCR);
    /* clearing the blob's PCR mask (bytes 5..8) must not bypass the policy */
    memset(blob.data + 5, 0, 4);
    f->cfg->npcrs = 0;
    assert_int_equal(enc_seal_tpm2.unseal(f->cfg, blob.data, blob.len, out), TR_E_AUTH);
    assert_true(is_zero(out, sizeof(out)));
    tr_buf_free(&blob);
}

static void test_tpm2_seal_bad_config(void **state)
{
    struct fixture *f = *state;
    struct tr_buf blob = TR_BUF_INIT;
    int closed_port = tt_free_port_pair();

    f->cfg->pcrs[0] = 24;
    f->cfg->npcrs = 1;
    assert_int_equal(enc_seal_tpm2.seal(f->cfg, f->mk, &blob), TR_E_CONFIG);
    f->cfg->npcrs = ENC_PCRS_MAX + 1;
    assert_int_equal(enc_seal_tpm2.seal(f->cfg, f->mk, &blob), TR_E_CONFIG);
    f->cfg->npcrs = 0;
    f->cfg->seal_tcti[0] = '\0';
    assert_int_equal(enc_seal_tpm2.seal(f->cfg, f->mk, &blob), TR_E_CONFIG);
    memset(f->cfg->seal_tcti, 'x', sizeof(f->cfg->seal_tcti)); /* not NUL-terminated */
    assert_int_equal(enc_seal_tpm2.seal(f->cfg, f->mk, &blob), TR_E_CONFIG);
    /* nothing listening there */
    assert_true(closed_port > 0);
    snprintf(f->cfg->seal_tcti, sizeof(f->cfg->seal_tcti), "swtpm:host=127.0.0.1,port=%d",
             closed_port);
    assert_int_equal(enc_seal_tpm2.seal(f->cfg, f->mk, &blob), TR_E_TPM);
    assert_int_equal(blob.len, 0);
}

/* ---- counter ------------------------------------------------------------------------------ */

static void counter_define_ok(struct fixture *f, struct tr_buf *id)
{
    assert_int_equal(enc_counter_tpm2.define(f->cfg, f->auth, id), TR_OK);
    assert_true(id->len > 5);
}

static void *counter_open_ok(struct fixture *f, const struct tr_buf *id)
{
    void *st = NULL;

    assert_int_equal(enc_counter_tpm2.open(f->cfg, f->auth, id->data, id->len, &st), TR_OK);
    assert_non_null(st);
    return st;
}

static void test_tpm2_counter_increment_by_one(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT;
    uint64_t v0 = 0, v1 = 0, v2 = 0;
    void *st;

    counter_define_ok(f, &id);
    st = counter_open_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.read(st, &v0), TR_OK);
    assert_true(v0 >= 1); /* first value is maxCounter + 1, not necessarily 1 */
    assert_int_equal(enc_counter_tpm2.increment(st, &v1), TR_OK);
    assert_true(v1 == v0 + 1);
    assert_int_equal(enc_counter_tpm2.read(st, &v2), TR_OK);
    assert_true(v2 == v1);
    enc_counter_tpm2.close(st);
    enc_counter_tpm2.close(NULL);
    tr_buf_free(&id);
}

static void test_tpm2_counter_open_reopen(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT;
    uint64_t v = 0, w = 0;
    void *st;

    counter_define_ok(f, &id);
    st = counter_open_ok(f, &id);
    for (int i = 0; i < 3; i++)
        assert_int_equal(enc_counter_tpm2.increment(st, &v), TR_OK);
    enc_counter_tpm2.close(st);
    st = counter_open_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.read(st, &w), TR_OK);
    assert_true(w == v);
    enc_counter_tpm2.close(st);
    tr_buf_free(&id);
}

static void test_tpm2_counter_open_after_crash(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT;
    uint64_t v = 0, w = 0;
    void *st;

    counter_define_ok(f, &id);
    st = counter_open_ok(f, &id);
    for (int i = 0; i < 5; i++)
        assert_int_equal(enc_counter_tpm2.increment(st, &v), TR_OK);
    enc_counter_tpm2.close(st);
    /* kill -9: no TPM2_Shutdown, so only what the TPM wrote to NV survives (non-orderly) */
    tt_swtpm_stop(&f->tpm, SIGKILL);
    assert_int_equal(tt_swtpm_start(&f->tpm), 0);
    cfg_point_at(f->cfg, &f->tpm);
    st = counter_open_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.read(st, &w), TR_OK);
    assert_true(w == v);
    assert_int_equal(enc_counter_tpm2.increment(st, &w), TR_OK);
    assert_true(w == v + 1);
    enc_counter_tpm2.close(st);
    tr_buf_free(&id);
}

static void test_tpm2_counter_define_exists(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT, id2 = TR_BUF_INIT;
    uint64_t v = 0;
    void *st;

    counter_define_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.define(f->cfg, f->auth, &id2), TR_E_COUNTER);
    assert_int_equal(id2.len, 0);
    /* the existing counter was left alone */
    st = counter_open_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.read(st, &v), TR_OK);
    enc_counter_tpm2.close(st);
    tr_buf_free(&id);
}

static void test_tpm2_counter_define_bad_index(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT;

    f->cfg->nv_index = 0x81000001u; /* a persistent object handle, not an NV index */
    assert_int_equal(enc_counter_tpm2.define(f->cfg, f->auth, &id), TR_E_CONFIG);
    assert_int_equal(id.len, 0);
}

static void test_tpm2_counter_open_redefined(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT, id2 = TR_BUF_INIT;
    uint64_t v = 0, w = 0;
    void *st = NULL;

    counter_define_ok(f, &id);
    st = counter_open_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.increment(st, &v), TR_OK);
    enc_counter_tpm2.close(st);
    tpm_nv_undefine(f->tpm.tcti, TEST_NV_INDEX);
    /* same index, same auth: only the pinned name tells the two apart */
    counter_define_ok(f, &id2);
    st = (void *)&st;
    assert_int_equal(enc_counter_tpm2.open(f->cfg, f->auth, id.data, id.len, &st), TR_E_COUNTER);
    assert_null(st);
    assert_true(log_has("not the one defined at init"));
    st = counter_open_ok(f, &id2);
    assert_int_equal(enc_counter_tpm2.read(st, &w), TR_OK);
    assert_true(w > v); /* maxCounter: a re-defined counter never goes back */
    enc_counter_tpm2.close(st);
    tr_buf_free(&id);
    tr_buf_free(&id2);
}

static void test_tpm2_counter_open_missing(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT;
    void *st = NULL;

    counter_define_ok(f, &id);
    tpm_nv_undefine(f->tpm.tcti, TEST_NV_INDEX);
    assert_int_equal(enc_counter_tpm2.open(f->cfg, f->auth, id.data, id.len, &st), TR_E_COUNTER);
    assert_null(st);
    tr_buf_free(&id);
}

static void test_tpm2_counter_open_bad_id(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT;
    void *st = NULL;

    counter_define_ok(f, &id);
    for (size_t n = 0; n < id.len; n++)
        assert_int_equal(enc_counter_tpm2.open(f->cfg, f->auth, id.data, n, &st), TR_E_INVAL);
    id.data[0] ^= 0x80; /* version */
    assert_int_equal(enc_counter_tpm2.open(f->cfg, f->auth, id.data, id.len, &st), TR_E_INVAL);
    id.data[0] ^= 0x80;
    id.data[id.len - 1] ^= 0x01; /* name */
    assert_int_equal(enc_counter_tpm2.open(f->cfg, f->auth, id.data, id.len, &st), TR_E_COUNTER);
    id.data[id.len - 1] ^= 0x01;
    f->cfg->nv_index = TEST_NV_INDEX + 1; /* config now points elsewhere */
    assert_int_equal(enc_counter_tpm2.open(f->cfg, f->auth, id.data, id.len, &st), TR_E_COUNTER);
    assert_null(st);
    tr_buf_free(&id);
}

static void test_tpm2_counter_read_wrong_auth(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT;
    uint8_t wrong[ENC_KEY_BYTES];
    uint64_t v = 0, w = 0;
    void *st = NULL;

    counter_define_ok(f, &id);
    st = counter_open_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.read(st, &v), TR_OK);
    enc_counter_tpm2.close(st);
    memcpy(wrong, f->auth, sizeof(wrong));
    wrong[0] ^= 0x01;
    assert_int_equal(enc_counter_tpm2.open(f->cfg, wrong, id.data, id.len, &st), TR_OK);
    w = 12345;
    assert_int_equal(enc_counter_tpm2.read(st, &w), TR_E_AUTH);
    assert_true(w == 12345); /* no output on failure */
    assert_int_equal(enc_counter_tpm2.increment(st, &w), TR_E_AUTH);
    enc_counter_tpm2.close(st);
    /* nothing moved, and noDA: the right auth still works at once */
    st = counter_open_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.read(st, &w), TR_OK);
    assert_true(w == v);
    enc_counter_tpm2.close(st);
    tr_buf_free(&id);
}

/* ---- a man in the middle on the TPM link ----------------------------------------------------
 * Listens on a port pair like swtpm's and relays to the real one; when told, flips one byte of
 * the response to a chosen command code. Stands for an attacker with root on the host who sits
 * between Tresor and the (v)TPM: the response HMAC must expose every change. */
/* A changed counter value or a forged "success" on the TPM link is refused, not believed; the
 * session recovers once the link is honest again. */
static void test_tpm2_counter_response_forged(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT;
    struct tt_relay *m;
    uint64_t v = 0, w = 0;
    void *st;

    counter_define_ok(f, &id);
    assert_int_equal(tt_relay_start(f->tpm.port, &f->mitm), 0);
    m = f->mitm;
    snprintf(f->cfg->counter_tcti, sizeof(f->cfg->counter_tcti), "swtpm:host=127.0.0.1,port=%d",
             tt_relay_port(m));
    st = counter_open_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.read(st, &v), TR_OK);

    /* NV_Read response: header 10 | parameterSize 4 | TPM2B size 2 | 8 value bytes | auth */
    tt_relay_flip(m, TPM2_CC_NV_Read, 0, 10 + 4 + 2 + 7, -1);
    w = 777;
    assert_int_equal(enc_counter_tpm2.read(st, &w), TR_E_TPM);
    assert_true(w == 777);
    assert_int_equal(tt_relay_flipped(m), 1);

    /* NV_Increment: the TPM did it, but the "success" carries a broken HMAC */
    tt_relay_flip(m, TPM2_CC_NV_Increment, 0, 10 + 4 + 2 + 32 + 1 + 2 + 31, -1);
    assert_int_equal(enc_counter_tpm2.increment(st, &w), TR_E_TPM);
    assert_true(w == 777);
    assert_int_equal(tt_relay_flipped(m), 2);

    tt_relay_flip(m, 0, 0, 0, 0);
    assert_int_equal(enc_counter_tpm2.read(st, &w), TR_OK);
    assert_true(w == v + 1); /* the increment had happened: callers re-read, as documented */
    assert_int_equal(enc_counter_tpm2.increment(st, &w), TR_OK);
    assert_true(w == v + 2);
    assert_true(log_has("TPM counter operation failed"));
    enc_counter_tpm2.close(st);
    tt_relay_stop(f->mitm);
    f->mitm = NULL;
    tr_buf_free(&id);
}

/* enc_initialize defines the NV counter before it writes seal.blob. When that write fails (disk
 * full, I/O error) the core stays uninitialised, so the counter must not stay defined either: a
 * retry of sys/init would find the index taken and could never succeed. */
static void test_tpm2_initialize_retry_after_failed_write(void **state)
{
    struct fixture *f = *state;
    struct enc_shares *sh = calloc(1, sizeof(*sh));
    struct enc_status st;
    char tmp[ENC_PATH_MAX + 32];
    uint64_t v = 0;

    assert_non_null(sh);
    snprintf(f->cfg->data_dir, sizeof(f->cfg->data_dir), "%s/data", f->tpm.dir);
    assert_int_equal(mkdir(f->cfg->data_dir, 0700), 0);
    /* seal.blob.tmp cannot be created while a directory holds its name */
    snprintf(tmp, sizeof(tmp), "%s/seal.blob.tmp", f->cfg->data_dir);
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(enc_init(f->cfg), TR_OK);
    assert_int_equal(enc_initialize(3, 2, sh), TR_E_IO);
    assert_true(is_zero((const uint8_t *)sh, sizeof(*sh))); /* no share of a failed init */
    enc_status_get(&st);
    assert_false(st.initialized);
    assert_int_equal(rmdir(tmp), 0);
    assert_int_equal(enc_initialize(3, 2, sh), TR_OK);
    enc_fini();
    /* the retry's counter is the one pinned in seal.blob */
    assert_int_equal(enc_init(f->cfg), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_OK);
    assert_int_equal(enc_counter_read(&v), TR_OK);
    assert_true(v >= 1);
    enc_fini();
    sodium_memzero(sh, sizeof(*sh));
    free(sh);
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static void test_tpm2_counter_increment_latency(void **state)
{
    struct fixture *f = *state;
    struct tr_buf id = TR_BUF_INIT;
    struct timespec t0, t1, t2;
    uint64_t v = 0, w = 0;
    void *st;

    counter_define_ok(f, &id);
    st = counter_open_ok(f, &id);
    assert_int_equal(enc_counter_tpm2.read(st, &v), TR_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < LATENCY_ROUNDS; i++) {
        assert_int_equal(enc_counter_tpm2.increment(st, &w), TR_OK);
        assert_true(w == v + (uint64_t)i + 1);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < LATENCY_ROUNDS; i++)
        assert_int_equal(enc_counter_tpm2.read(st, &w), TR_OK);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    printf("test_tpm2: counter increment (NV_Increment + NV_Read, HMAC session) "
           "avg %.3f ms over %d; read alone avg %.3f ms\n",
           elapsed_ms(&t0, &t1) / LATENCY_ROUNDS, LATENCY_ROUNDS,
           elapsed_ms(&t1, &t2) / LATENCY_ROUNDS);
    enc_counter_tpm2.close(st);
    tr_buf_free(&id);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tpm2_seal_roundtrip),
        T(test_tpm2_unseal_twice),
        T(test_tpm2_unseal_truncated),
        T(test_tpm2_unseal_bitflip),
        T(test_tpm2_unseal_other_tpm),
        T(test_tpm2_unseal_pcr_changed),
        T(test_tpm2_unseal_pcr_unchanged),
        T(test_tpm2_unseal_policy_stripped),
        T(test_tpm2_seal_bad_config),
        T(test_tpm2_counter_increment_by_one),
        T(test_tpm2_counter_open_reopen),
        T(test_tpm2_counter_open_after_crash),
        T(test_tpm2_counter_define_exists),
        T(test_tpm2_counter_define_bad_index),
        T(test_tpm2_counter_open_redefined),
        T(test_tpm2_counter_open_missing),
        T(test_tpm2_counter_open_bad_id),
        T(test_tpm2_counter_read_wrong_auth),
        T(test_tpm2_counter_response_forged),
        T(test_tpm2_counter_increment_latency),
        T(test_tpm2_initialize_retry_after_failed_write),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
