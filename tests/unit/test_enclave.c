/* Unit tests for the trusted core's entry points (enclave/enclave.h): every entry in the wrong
 * state, with invalid arguments, on success and twice; real libsodium, real files. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../common/tr_log.h"
#include "../../enclave/enclave.h"

struct fixture {
    char dir[64];
    struct enc_config cfg;
    struct enc_shares shares;
};

static int rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static void cfg_for(struct fixture *f, enum enc_seal_type seal)
{
    memset(&f->cfg, 0, sizeof(f->cfg));
    f->cfg.seal_type = seal;
    f->cfg.counter_type = ENC_COUNTER_FILE;
    f->cfg.dev_mode = true;
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->dir);
    snprintf(f->cfg.devkey_file, sizeof(f->cfg.devkey_file), "%s/dev.key", f->dir);
    snprintf(f->cfg.gramine_key_path, sizeof(f->cfg.gramine_key_path), "%s/sgx.key", f->dir);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/tresor-enc-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    cfg_for(f, ENC_SEAL_DEVKEY);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    enc_fini();
    rm_rf(f->dir);
    sodium_memzero(&f->shares, sizeof(f->shares));
    free(f);
    return 0;
}

/* init + initialize(1,1) + auto unseal with the devkey seal */
static void up_devkey(struct fixture *f)
{
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(1, 1, &f->shares), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_OK);
}

static void test_enc_init_states_and_args(void **state)
{
    struct fixture *f = *state;
    struct enc_status st;
    struct enc_config bad = f->cfg;

    enc_status_get(&st);
    assert_int_equal(st.state, ENC_UNINIT);
    bad.data_dir[0] = '\0';
    assert_int_equal(enc_init(&bad), TR_E_INVAL);
    bad = f->cfg;
    bad.dev_mode = false;
    assert_int_equal(enc_init(&bad), TR_E_CONFIG); /* devkey outside -dev */
    bad.allow_insecure = true;
    assert_int_equal(enc_init(&bad), TR_OK);
    enc_status_get(&st);
    assert_int_equal(st.state, ENC_SEALED);
    assert_false(st.initialized);
    assert_true(st.insecure);
    assert_int_equal(enc_init(&f->cfg), TR_E_STATE); /* twice */
    enc_fini();
    enc_fini(); /* idempotent */
    enc_status_get(&st);
    assert_int_equal(st.state, ENC_UNINIT);
}

static void test_enc_initialize_args(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(enc_initialize(1, 1, &f->shares), TR_E_STATE); /* UNINIT */
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(0, 1, &f->shares), TR_E_INVAL);
    assert_int_equal(enc_initialize(3, 0, &f->shares), TR_E_INVAL);
    assert_int_equal(enc_initialize(3, 4, &f->shares), TR_E_INVAL);
    assert_int_equal(enc_initialize(3, 1, &f->shares), TR_E_INVAL);
    assert_int_equal(enc_initialize(256, 2, &f->shares), TR_E_INVAL);
    assert_int_equal(enc_initialize(1, 1, NULL), TR_E_INVAL);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_OK);
    assert_int_equal(f->shares.count, 3);
    assert_int_equal(f->shares.share_len, ENC_SHARE_BYTES);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_E_EXISTS); /* twice */
}

static void test_enc_sealed_entries_refuse(void **state)
{
    struct fixture *f = *state;
    uint8_t rec[128], mac[ENC_MAC_BYTES];
    size_t len;
    uint64_t v;
    struct enc_secret *s = (struct enc_secret *)1;

    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(
        enc_record_seal((const uint8_t *)"a", 1, (const uint8_t *)"x", 1, rec, sizeof(rec), &len),
        TR_E_SEALED);
    assert_int_equal(enc_record_open((const uint8_t *)"a", 1, rec, sizeof(rec), &s), TR_E_SEALED);
    assert_null(s);
    assert_int_equal(enc_mac(ENC_MAC_TOKEN, (const uint8_t *)"x", 1, mac), TR_E_SEALED);
    assert_int_equal(enc_counter_read(&v), TR_E_SEALED);
    assert_int_equal(enc_counter_increment(&v), TR_E_SEALED);
    assert_int_equal(enc_keyring_set_active(2), TR_E_SEALED);
    assert_int_equal(enc_unseal_auto(), TR_E_STATE); /* not initialised */
}

static void test_enc_record_roundtrip_and_tamper(void **state)
{
    struct fixture *f = *state;
    const uint8_t ad[] = "db|kv|secret/a|v1";
    const uint8_t pt[] = "correct horse battery staple";
    uint8_t rec[256];
    size_t len = 0;
    struct enc_secret *s = NULL;

    up_devkey(f);
    assert_int_equal(enc_record_seal(ad, sizeof(ad), pt, sizeof(pt), rec, sizeof(rec), &len),
                     TR_OK);
    assert_int_equal(len, sizeof(pt) + ENC_RECORD_OVERHEAD);
    assert_null(memmem(rec, len, pt, sizeof(pt) - 1)); /* ciphertext, not plaintext */
    assert_int_equal(enc_record_open(ad, sizeof(ad), rec, len, &s), TR_OK);
    assert_int_equal(enc_secret_len(s), sizeof(pt));
    assert_memory_equal(enc_secret_data(s), pt, sizeof(pt));
    enc_secret_free(s);
    s = NULL;
    /* other associated data (another key, another version) must not open it */
    assert_int_equal(enc_record_open((const uint8_t *)"db|kv|secret/b|v1", 18, rec, len, &s),
                     TR_E_AUTH);
    assert_null(s);
    for (size_t i = 0; i < len; i += 7) {
        rec[i] ^= 0x01;
        int rc = enc_record_open(ad, sizeof(ad), rec, len, &s);
        assert_true(rc == TR_E_AUTH);
        assert_null(s);
        rec[i] ^= 0x01;
    }
    assert_int_equal(enc_record_open(ad, sizeof(ad), rec, ENC_RECORD_OVERHEAD - 1, &s), TR_E_INVAL);
    assert_int_equal(enc_record_seal(ad, sizeof(ad), pt, sizeof(pt), rec, 10, &len),
                     TR_E_TOO_LARGE);
    assert_int_equal(enc_record_seal(ad, ENC_AD_MAX + 1, pt, sizeof(pt), rec, sizeof(rec), &len),
                     TR_E_INVAL);
}

static void test_enc_keyring_rotation_keeps_old_records(void **state)
{
    struct fixture *f = *state;
    uint8_t r1[64], r2[64];
    size_t l1, l2;
    struct enc_secret *s = NULL;
    struct enc_status st;

    up_devkey(f);
    assert_int_equal(enc_record_seal(NULL, 0, (const uint8_t *)"one", 3, r1, sizeof(r1), &l1),
                     TR_OK);
    assert_int_equal(enc_keyring_set_active(0), TR_E_INVAL);
    assert_int_equal(enc_keyring_set_active(0x1000000), TR_E_INVAL);
    assert_int_equal(enc_keyring_set_active(2), TR_OK);
    enc_status_get(&st);
    assert_int_equal(st.record_key_id, 2);
    assert_int_equal(enc_record_seal(NULL, 0, (const uint8_t *)"two", 3, r2, sizeof(r2), &l2),
                     TR_OK);
    assert_int_equal(r1[3], 1);
    assert_int_equal(r2[3], 2);
    assert_int_equal(enc_record_open(NULL, 0, r1, l1, &s), TR_OK);
    assert_memory_equal(enc_secret_data(s), "one", 3);
    enc_secret_free(s);
    assert_int_equal(enc_record_open(NULL, 0, r2, l2, &s), TR_OK);
    enc_secret_free(s);
    r2[3] = 3; /* claim another key id: AEAD refuses */
    assert_int_equal(enc_record_open(NULL, 0, r2, l2, &s), TR_E_AUTH);
}

static void test_enc_mac_verify(void **state)
{
    struct fixture *f = *state;
    uint8_t a[ENC_MAC_BYTES], b[ENC_MAC_BYTES];

    up_devkey(f);
    assert_int_equal(enc_mac(ENC_MAC_TOKEN, (const uint8_t *)"tok", 3, a), TR_OK);
    assert_int_equal(enc_mac(ENC_MAC_AUDIT, (const uint8_t *)"tok", 3, b), TR_OK);
    assert_memory_not_equal(a, b, sizeof(a)); /* separate subkeys */
    assert_int_equal(enc_mac_verify(ENC_MAC_TOKEN, (const uint8_t *)"tok", 3, a), TR_OK);
    a[0] ^= 1;
    assert_int_equal(enc_mac_verify(ENC_MAC_TOKEN, (const uint8_t *)"tok", 3, a), TR_E_AUTH);
    assert_int_equal(enc_mac((enum enc_mac_key)0, (const uint8_t *)"x", 1, a), TR_E_INVAL);
    assert_int_equal(enc_mac((enum enc_mac_key)9, (const uint8_t *)"x", 1, a), TR_E_INVAL);
}

static void test_enc_counter_persists_and_detects_redefine(void **state)
{
    struct fixture *f = *state;
    uint64_t v0, v1, v2;
    char path[128];

    up_devkey(f);
    assert_int_equal(enc_counter_read(&v0), TR_OK);
    assert_int_equal(enc_counter_increment(&v1), TR_OK);
    assert_int_equal(v1, v0 + 1);
    enc_fini();
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_OK); /* restart auto-unseals */
    assert_int_equal(enc_counter_read(&v2), TR_OK);
    assert_int_equal(v2, v1);
    /* an attacker deletes the counter file and makes a new one: caught */
    snprintf(path, sizeof(path), "%s/counter.state", f->dir);
    assert_int_equal(unlink(path), 0);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "TRCNT1", 6), 6);
    close(fd);
    assert_int_equal(enc_counter_read(&v2), TR_E_COUNTER);
}

static void test_enc_seal_keeps_reason(void **state)
{
    struct fixture *f = *state;
    struct enc_status st;
    uint8_t mac[ENC_MAC_BYTES];

    up_devkey(f);
    enc_seal(ENC_REASON_ROLLBACK);
    enc_status_get(&st);
    assert_int_equal(st.state, ENC_SEALED);
    assert_int_equal(st.reason, ENC_REASON_ROLLBACK);
    enc_seal(ENC_REASON_OPERATOR); /* less severe: reason kept */
    enc_status_get(&st);
    assert_int_equal(st.reason, ENC_REASON_ROLLBACK);
    assert_int_equal(enc_mac(ENC_MAC_TOKEN, (const uint8_t *)"x", 1, mac), TR_E_SEALED);
    assert_int_equal(enc_unseal_auto(), TR_OK);
    enc_status_get(&st);
    assert_int_equal(st.reason, ENC_REASON_NONE);
}

static void test_enc_shamir_unseal_flow(void **state)
{
    struct fixture *f = *state;
    struct enc_status st;
    uint8_t bad[ENC_SHARE_BYTES];

    cfg_for(f, ENC_SEAL_SHAMIR);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(5, 3, &f->shares), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_E_STATE);
    assert_int_equal(enc_unseal_submit(f->shares.share[0], 10, &st), TR_E_INVAL);
    assert_int_equal(enc_unseal_submit(f->shares.share[0], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(st.progress, 1);
    assert_int_equal(strlen(st.nonce), 36);
    assert_int_equal(enc_unseal_submit(f->shares.share[0], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(st.progress, 1); /* duplicate ignored */
    assert_int_equal(enc_unseal_reset(), TR_OK);
    enc_status_get(&st);
    assert_int_equal(st.progress, 0);
    /* wrong combination: two good shares and a forged one */
    memcpy(bad, f->shares.share[2], sizeof(bad));
    bad[5] ^= 0x40;
    assert_int_equal(enc_unseal_submit(f->shares.share[0], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(enc_unseal_submit(f->shares.share[1], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(enc_unseal_submit(bad, ENC_SHARE_BYTES, &st), TR_E_AUTH);
    assert_int_equal(st.state, ENC_SEALED);
    assert_int_equal(st.progress, 0);
    /* shares 4, 2, 5 */
    assert_int_equal(enc_unseal_submit(f->shares.share[3], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(enc_unseal_submit(f->shares.share[1], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(enc_unseal_submit(f->shares.share[4], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(st.state, ENC_UNSEALED);
    assert_int_equal(st.progress, 0);
    assert_int_equal(enc_unseal_submit(f->shares.share[4], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(enc_unseal_reset(), TR_E_STATE);
}

static void test_enc_shamir_single_share_is_unsplit_key(void **state)
{
    struct fixture *f = *state;
    struct enc_status st;

    cfg_for(f, ENC_SEAL_SHAMIR);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(1, 1, &f->shares), TR_OK);
    assert_int_equal(f->shares.share_len, ENC_KEY_BYTES);
    enc_fini();
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    enc_status_get(&st);
    assert_true(st.initialized);
    assert_int_equal(st.threshold, 1);
    assert_int_equal(enc_unseal_submit(f->shares.share[0], ENC_KEY_BYTES, &st), TR_OK);
    assert_int_equal(st.state, ENC_UNSEALED);
}

/* The platform key is gone: dev.key replaced by another, so auto-unseal fails with TR_E_AUTH
 * and only recovery shares open the core. */
static void devkey_replace(const struct fixture *f)
{
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "%s/dev.key", f->dir);
    assert_int_equal(unlink(path), 0);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789abcdef0123456789abcdef", 32), 32);
    close(fd);
}

static void test_enc_recovery_shares_unseal(void **state)
{
    struct fixture *f = *state;
    uint32_t progress;
    bool ok;

    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_OK); /* recovery shares for devkey */
    enc_fini();
    /* the platform key is gone: auto-unseal fails, recovery shares still open the store */
    devkey_replace(f);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_E_AUTH);
    assert_int_equal(enc_recovery_submit(f->shares.share[2], ENC_SHARE_BYTES, &progress, &ok),
                     TR_OK);
    assert_int_equal(progress, 1);
    assert_false(ok);
    assert_int_equal(enc_recovery_submit(f->shares.share[0], ENC_SHARE_BYTES, &progress, &ok),
                     TR_OK);
    assert_true(ok);
    struct enc_status st;
    enc_status_get(&st);
    assert_int_equal(st.state, ENC_UNSEALED);
}

/* A recovery share submitted before a seal (e.g. a custodian's abandoned storage-recover attempt)
 * must not count toward the quorum that authorises a recovery after the seal: the rollback
 * verdict that sealed the core needs t fresh shares. */
static void test_enc_seal_discards_recovery_progress(void **state)
{
    struct fixture *f = *state;
    struct enc_status st;
    uint32_t progress;
    bool ok;

    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_OK);
    assert_int_equal(enc_recovery_submit(f->shares.share[0], ENC_SHARE_BYTES, &progress, &ok),
                     TR_OK);
    assert_int_equal(progress, 1);
    assert_false(ok);
    enc_seal(ENC_REASON_ROLLBACK);
    assert_int_equal(enc_recovery_submit(f->shares.share[1], ENC_SHARE_BYTES, &progress, &ok),
                     TR_OK);
    assert_int_equal(progress, 1); /* a new attempt: the share from before the seal is gone */
    assert_false(ok);
    enc_status_get(&st);
    assert_int_equal(st.state, ENC_SEALED);
    assert_int_equal(st.reason, ENC_REASON_ROLLBACK);
    assert_int_equal(enc_recovery_submit(f->shares.share[2], ENC_SHARE_BYTES, &progress, &ok),
                     TR_OK);
    assert_true(ok);
    enc_status_get(&st);
    assert_int_equal(st.state, ENC_UNSEALED);
}

/* On an auto-unseal seal, sys/unseal feeds recovery shares (enc_recovery_submit) and its reset
 * calls enc_unseal_reset: the reset must discard those shares too. */
static void test_enc_unseal_reset_discards_recovery_shares(void **state)
{
    struct fixture *f = *state;
    uint32_t progress;
    bool ok;

    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_OK);
    enc_fini();
    devkey_replace(f);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_E_AUTH);
    assert_int_equal(enc_recovery_submit(f->shares.share[0], ENC_SHARE_BYTES, &progress, &ok),
                     TR_OK);
    assert_int_equal(progress, 1);
    assert_int_equal(enc_unseal_reset(), TR_OK);
    assert_int_equal(enc_recovery_submit(f->shares.share[1], ENC_SHARE_BYTES, &progress, &ok),
                     TR_OK);
    assert_int_equal(progress, 1);
    assert_false(ok);
}

/* With shamir, sys/unseal has its own attempt: its reset leaves a storage-recovery attempt (the
 * recovery quorum's shares) alone. */
static void test_enc_shamir_unseal_reset_keeps_recovery_attempt(void **state)
{
    struct fixture *f = *state;
    uint32_t progress;
    bool ok;

    cfg_for(f, ENC_SEAL_SHAMIR);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_OK);
    assert_int_equal(enc_recovery_submit(f->shares.share[0], ENC_SHARE_BYTES, &progress, &ok),
                     TR_OK);
    assert_int_equal(progress, 1);
    assert_int_equal(enc_unseal_reset(), TR_OK);
    assert_int_equal(enc_recovery_submit(f->shares.share[1], ENC_SHARE_BYTES, &progress, &ok),
                     TR_OK);
    assert_true(ok);
}

/* A failed enc_initialize (seal.blob not written) leaves no share, no counter file and an
 * uninitialised core, and a retry succeeds. */
static void test_enc_initialize_failed_write_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct enc_status st;
    char tmp[128], cnt[128];
    uint64_t v;

    snprintf(tmp, sizeof(tmp), "%s/seal.blob.tmp", f->dir);
    snprintf(cnt, sizeof(cnt), "%s/counter.state", f->dir);
    assert_int_equal(mkdir(tmp, 0700), 0); /* the atomic write cannot create its temp file */
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_E_IO);
    assert_int_equal(f->shares.count, 0);
    assert_int_equal(access(cnt, F_OK), -1);
    enc_status_get(&st);
    assert_false(st.initialized);
    assert_int_equal(rmdir(tmp), 0);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_OK);
    assert_int_equal(enc_counter_read(&v), TR_OK);
}

static void test_enc_gramine_seal(void **state)
{
    struct fixture *f = *state;
    char path[128];

    cfg_for(f, ENC_SEAL_GRAMINE);
    snprintf(path, sizeof(path), "%s/sgx.key", f->dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_int_equal(write(fd, "sgx-sealing-key!", 16), 16);
    close(fd);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(1, 1, &f->shares), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_OK);
    enc_fini();
    fd = open(path, O_WRONLY | O_TRUNC, 0600);
    assert_int_equal(write(fd, "other-enclave-k!", 16), 16); /* another MRENCLAVE */
    close(fd);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_E_AUTH);
    unlink(path);
    assert_int_equal(enc_unseal_auto(), TR_E_IO);
}

/* ---- seal.blob: root on the host can rewrite it; enc_init must refuse every malformed copy -- */
#define SB_TYPE 8 /* magic(8) type t n share_len wrapped(72) u32+platform blob u32+counter id */
#define SB_T    9
#define SB_N    10
#define SB_SLEN 11
#define SB_PB   84 /* the platform blob's length field */

static size_t blob_read(const char *path, uint8_t *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(buf, 1, cap, fp);
    assert_int_equal(fclose(fp), 0);
    return n;
}

static void blob_write(const char *path, const uint8_t *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Write the edited blob, expect enc_init to fail with want and leave the core UNINIT. */
static void init_refuses(struct fixture *f, const char *path, const uint8_t *blob, size_t len,
                         int want)
{
    struct enc_status st;

    blob_write(path, blob, len);
    assert_int_equal(enc_init(&f->cfg), want);
    enc_status_get(&st);
    assert_int_equal(st.state, ENC_UNINIT);
    enc_fini();
}

static void test_enc_init_refuses_malformed_seal_blob(void **state)
{
    struct fixture *f = *state;
    uint8_t good[512], bad[512];
    char path[128];
    size_t len;

    cfg_for(f, ENC_SEAL_SHAMIR);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_OK);
    enc_fini();
    snprintf(path, sizeof(path), "%s/seal.blob", f->dir);
    len = blob_read(path, good, sizeof(good));
    assert_true(len > SB_PB + 8 && len < sizeof(good));
    assert_int_equal(good[SB_T], 2);
    assert_int_equal(good[SB_N], 3);

    /* truncated: at every length short of the whole blob, empty included */
    for (size_t cut = 0; cut < len; cut++)
        init_refuses(f, path, good, cut, TR_E_INVAL);
    /* one trailing byte */
    memcpy(bad, good, len);
    bad[len] = 0;
    init_refuses(f, path, bad, len + 1, TR_E_INVAL);
    /* wrong magic (another format version) */
    bad[7] = '2';
    init_refuses(f, path, bad, len, TR_E_INVAL);
    /* the platform blob's length points past the end; then above the 64 KiB limit */
    memcpy(bad, good, len);
    bad[SB_PB + 3] = (uint8_t)(len - SB_PB - 4 + 1);
    init_refuses(f, path, bad, len, TR_E_INVAL);
    bad[SB_PB] = 0xff;
    init_refuses(f, path, bad, len, TR_E_INVAL);
    /* out-of-range fields: unknown seal type, t = 0, t > n, t = 1 with split shares */
    const uint8_t edits[][2] = {{SB_TYPE, 4}, {SB_T, 0}, {SB_T, 4}, {SB_T, 1}};
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(bad, good, len);
        bad[edits[i][0]] = edits[i][1];
        init_refuses(f, path, bad, len, TR_E_INVAL);
    }
    /* a share length that does not go with n: not bound by the wrapped key's associated data,
     * so it was once accepted and the genuine shares then failed as if they were wrong */
    memcpy(bad, good, len);
    bad[SB_SLEN] = ENC_KEY_BYTES;
    init_refuses(f, path, bad, len, TR_E_INVAL);
    /* well formed, but made by another seal type than the configured one */
    memcpy(bad, good, len);
    bad[SB_TYPE] = ENC_SEAL_DEVKEY;
    init_refuses(f, path, bad, len, TR_E_CONFIG);
    /* larger than the core reads (3 x 64 KiB) */
    uint8_t *big = calloc(1, 3 * 65536 + 1);
    assert_non_null(big);
    init_refuses(f, path, big, 3 * 65536 + 1, TR_E_TOO_LARGE);
    free(big);

    /* the genuine blob still opens with its shares */
    struct enc_status st;
    blob_write(path, good, len);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_unseal_submit(f->shares.share[0], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(enc_unseal_submit(f->shares.share[2], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(st.state, ENC_UNSEALED);
}

static void test_enc_secret_alloc(void **state)
{
    struct enc_secret *s = NULL;
    (void)state;

    assert_int_equal(enc_secret_alloc(ENC_RECORD_MAX + 1, &s), TR_E_INVAL);
    assert_null(s);
    assert_int_equal(enc_secret_alloc(64, &s), TR_OK);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(enc_secret_data(s)[i], 0);
    enc_secret_free(s);
    enc_secret_free(NULL);
}

/* ---- log hygiene: a known secret and the shares never reach the log sink ---------------- */
struct capture {
    char buf[65536];
    size_t len;
};

static void capture_sink(void *arg, enum tr_log_level level, const char *line)
{
    struct capture *c = arg;
    (void)level;
    size_t n = strlen(line);
    if (c->len + n + 1 < sizeof(c->buf)) {
        memcpy(c->buf + c->len, line, n);
        c->len += n;
        c->buf[c->len++] = '\n';
    }
}

static void test_enc_log_never_contains_secrets(void **state)
{
    struct fixture *f = *state;
    static struct capture cap;
    const char secret[] = "CANARY-s3cr3t-value-4242";
    char hex[2 * ENC_SHARE_BYTES + 1];
    uint8_t rec[128];
    size_t len;
    struct enc_secret *s = NULL;
    struct enc_status st;

    memset(&cap, 0, sizeof(cap));
    tr_log_set_level(TR_LOG_DEBUG);
    tr_log_set_sink(capture_sink, &cap);
    cfg_for(f, ENC_SEAL_SHAMIR);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    assert_int_equal(enc_initialize(3, 2, &f->shares), TR_OK);
    uint8_t bad[ENC_SHARE_BYTES] = {0};
    bad[32] = 9;
    assert_int_equal(enc_unseal_submit(f->shares.share[0], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(enc_unseal_submit(bad, ENC_SHARE_BYTES, &st), TR_E_AUTH);
    assert_int_equal(enc_unseal_submit(f->shares.share[0], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(enc_unseal_submit(f->shares.share[1], ENC_SHARE_BYTES, &st), TR_OK);
    assert_int_equal(enc_record_seal((const uint8_t *)"ad", 2, (const uint8_t *)secret,
                                     sizeof(secret), rec, sizeof(rec), &len),
                     TR_OK);
    rec[len - 1] ^= 1;
    assert_int_equal(enc_record_open((const uint8_t *)"ad", 2, rec, len, &s), TR_E_AUTH);
    enc_seal(ENC_REASON_OPERATOR);
    tr_log_set_sink(NULL, NULL);
    tr_log_set_level(TR_LOG_INFO);
    assert_true(cap.len > 0); /* the flow did log something */
    assert_null(memmem(cap.buf, cap.len, secret, strlen(secret)));
    for (uint32_t i = 0; i < f->shares.count; i++) {
        sodium_bin2hex(hex, sizeof(hex), f->shares.share[i], ENC_SHARE_BYTES);
        assert_null(memmem(cap.buf, cap.len, hex, 16));
        assert_null(memmem(cap.buf, cap.len, f->shares.share[i], 8));
    }
    for (int e = 0; e >= -23; e--)
        assert_null(strstr(tr_strerror(e), secret));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enc_init_states_and_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_initialize_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_sealed_entries_refuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_record_roundtrip_and_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_keyring_rotation_keeps_old_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enc_mac_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_counter_persists_and_detects_redefine, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enc_seal_keeps_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_shamir_unseal_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_shamir_single_share_is_unsplit_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enc_recovery_shares_unseal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_seal_discards_recovery_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_unseal_reset_discards_recovery_shares, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enc_shamir_unseal_reset_keeps_recovery_attempt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enc_initialize_failed_write_leaves_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enc_gramine_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_init_refuses_malformed_seal_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_secret_alloc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_log_never_contains_secrets, setup, teardown),
    };
    return cmocka_run_group_tests_name("enclave", tests, NULL, NULL);
}
