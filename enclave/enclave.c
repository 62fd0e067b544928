/*
 * The trusted core: state machine, master key and key hierarchy, shares, records, MACs and the
 * counter. See enclave.h for the contract of every entry point.
 *
 * Locking: state changes take g.lock for writing; record, MAC and status entries take it for
 * reading so many threads can seal/open at once. Counter calls also hold counter_lock so a slow
 * TPM increment never blocks record operations.
 */
#include "enclave.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../common/tr_brlock.h"
#include "../common/tr_log.h"
#include "core_int.h"
#include "provider_int.h"
#include "shamir_int.h"

#ifndef TR_SANITIZE_BUILD
#define TR_SANITIZE_BUILD 0
#endif

#define KDF_CTX          "tresorv1"
#define SUB_COUNTER_AUTH 16
#define SUB_TRANSIT_WRAP 17
#define SUB_RECORD_BASE  0x1000000ULL
#define KEY_ID_MAX       0xffffffu
#define SEAL_MAGIC       "TRSEAL01"
#define SEAL_FILE        "seal.blob"
#define SEAL_BLOB_MAX    65536
#define MAC_KEYS         6

/* All long-lived key material in one guarded allocation (style §5: group keys). */
struct keyring {
    uint8_t mk[ENC_KEY_BYTES];
    uint8_t mac[MAC_KEYS][ENC_KEY_BYTES];
    uint8_t counter_auth[ENC_KEY_BYTES];
    /* The active record key, derived when the active id is set (under the write lock): the
     * KDF was ~10% of a verified read. Other ids are derived per call (records not yet
     * rewritten after a rotation). */
    uint8_t record_active[ENC_KEY_BYTES];
};

/* Shares submitted in one unseal or recovery attempt; guarded, wiped on reset. */
struct attempt {
    uint32_t count;
    uint8_t len[ENC_SHARE_MAX];
    uint8_t share[ENC_SHARE_MAX][ENC_SHARE_BYTES];
    char nonce[ENC_NONCE_STR];
};

struct seal_info {
    uint8_t type, t, n, share_len;
    uint8_t wrapped[ENC_WRAPPED_BYTES]; /* MK under the unseal (shamir) or recovery key */
    struct tr_buf platform_blob;
    struct tr_buf counter_id;
};

struct enc_secret {
    size_t len; /* bytes the caller asked for */
    size_t cap; /* bytes usable in data (a size class, or len when larger) */
    uint8_t data[];
};

/* Guarded allocations cost tens to hundreds of microseconds each (mmap, mprotect, mlock), which
 * dominated the cost of a read. Freed buffers of a few size classes are therefore wiped and
 * kept for reuse: still sodium_malloc memory (locked, guard pages, not dumped), never plain
 * heap. A buffer's guard page sits after its class capacity, not after len. */
#define SECRET_CLASSES 4
/* Kept per shard (one per thread slot, tr_brlock_slot) so that concurrent readers on different
 * cores do not bounce one mutex's cache line: 64 buffers per class in all, as before. */
#define SECRET_SHARDS    TR_BRLOCK_SHARDS
#define SECRET_SHARD_MAX 8
static const size_t secret_class_cap[SECRET_CLASSES] = {240, 1008, 4080, 16368};
static struct secret_shard {
    pthread_mutex_t lock;
    struct enc_secret *free[SECRET_CLASSES][SECRET_SHARD_MAX];
    int n[SECRET_CLASSES];
} __attribute__((aligned(64)))
secret_cache[SECRET_SHARDS] = {[0 ... SECRET_SHARDS - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}};

static void secret_cache_drop(void);

static struct {
    struct tr_brlock lock; /* read by every record and MAC call: sharded (tr_brlock.h) */
    pthread_mutex_t counter_lock;
    enum enc_state state;
    enum enc_reason reason;
    struct enc_config cfg;
    const struct enc_platform_seal *platform; /* NULL for shamir */
    const struct enc_counter_ops *counter;
    void *counter_state;
    struct keyring *keys;
    struct attempt *unseal, *recovery;
    bool initialized;
    struct seal_info seal;
    uint32_t active_key;
} g = {.lock = TR_BRLOCK_INITIALIZER, .counter_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- helpers --------------------------------------------------------------------------------- */

static void harden_process(void)
{
    struct rlimit rl = {0, 0};

    setrlimit(RLIMIT_CORE, &rl);
    /* LeakSanitizer must ptrace its own threads; sanitizer test builds stay dumpable. */
    if (!TR_SANITIZE_BUILD)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static void seal_ad(char *out, size_t cap, uint8_t type, uint8_t t, uint8_t n)
{
    snprintf(out, cap, "tresor-seal-v1:%u:%u:%u", type, t, n);
}

static void seal_path(char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", g.cfg.data_dir, SEAL_FILE);
}

static void seal_info_clear(struct seal_info *s)
{
    tr_buf_free(&s->platform_blob);
    tr_buf_free(&s->counter_id);
    memset(s, 0, sizeof(*s));
}

static int seal_info_encode(const struct seal_info *s, struct tr_buf *out)
{
    int rc;
    if ((rc = tr_buf_put(out, SEAL_MAGIC, 8)) != TR_OK ||
        (rc = tr_buf_put(out, &s->type, 1)) != TR_OK || (rc = tr_buf_put(out, &s->t, 1)) != TR_OK ||
        (rc = tr_buf_put(out, &s->n, 1)) != TR_OK ||
        (rc = tr_buf_put(out, &s->share_len, 1)) != TR_OK ||
        (rc = tr_buf_put(out, s->wrapped, sizeof(s->wrapped))) != TR_OK ||
        (rc = tr_buf_put_lstr(out, s->platform_blob.data, s->platform_blob.len)) != TR_OK)
        return rc;
    return tr_buf_put_lstr(out, s->counter_id.data, s->counter_id.len);
}

static int seal_info_decode(const uint8_t *p, size_t len, struct seal_info *s)
{
    struct tr_rd r = {p, len};
    const uint8_t *magic, *w, *pb, *ci;
    size_t pb_len, ci_len;

    if (tr_rd_bytes(&r, 8, &magic) || memcmp(magic, SEAL_MAGIC, 8) != 0 || tr_rd_u8(&r, &s->type) ||
        tr_rd_u8(&r, &s->t) || tr_rd_u8(&r, &s->n) || tr_rd_u8(&r, &s->share_len) ||
        tr_rd_bytes(&r, ENC_WRAPPED_BYTES, &w) || tr_rd_lstr(&r, SEAL_BLOB_MAX, &pb, &pb_len) ||
        tr_rd_lstr(&r, SEAL_BLOB_MAX, &ci, &ci_len) || r.left != 0)
        return TR_E_INVAL;
    /* Only what enc_initialize writes: t >= 2 once the key is split, and the share length that
     * goes with n (the wrapped key's associated data binds type, t and n, not share_len). */
    if (s->t < 1 || s->t > s->n || (s->n > 1 && s->t < 2) || s->type > ENC_SEAL_GRAMINE ||
        s->share_len != (s->n == 1 ? ENC_KEY_BYTES : ENC_SHARE_BYTES))
        return TR_E_INVAL;
    memcpy(s->wrapped, w, ENC_WRAPPED_BYTES);
    if (tr_buf_put(&s->platform_blob, pb, pb_len) || tr_buf_put(&s->counter_id, ci, ci_len))
        return TR_E_NOMEM;
    return TR_OK;
}

static int seal_info_load(void)
{
    char path[ENC_PATH_MAX + 32];
    struct tr_buf b = TR_BUF_INIT;
    int rc;

    seal_path(path, sizeof(path));
    rc = enc_file_read(path, SEAL_BLOB_MAX * 3, &b);
    if (rc == TR_E_NOTFOUND) {
        g.initialized = false;
        return TR_OK;
    }
    if (rc == TR_OK && (rc = seal_info_decode(b.data, b.len, &g.seal)) != TR_OK)
        tr_log_error("%s is malformed", path);
    if (rc == TR_OK && g.seal.type != (uint8_t)g.cfg.seal_type) {
        tr_log_error("%s was made by another seal type than the configured one", path);
        rc = TR_E_CONFIG;
    }
    tr_buf_free(&b);
    if (rc != TR_OK) {
        seal_info_clear(&g.seal);
        return rc;
    }
    g.initialized = true;
    return TR_OK;
}

static void derive(uint64_t id, const uint8_t mk[ENC_KEY_BYTES], uint8_t out[ENC_KEY_BYTES])
{
    crypto_kdf_derive_from_key(out, ENC_KEY_BYTES, id, KDF_CTX, mk);
}

static void attempt_wipe(struct attempt **a)
{
    if (*a) {
        sodium_free(*a); /* sodium_free zeroes before unmapping */
        *a = NULL;
    }
}

static int attempt_add(struct attempt **ap, const uint8_t *share, size_t len)
{
    struct attempt *a = *ap;

    if (!a) {
        if (!(a = sodium_malloc(sizeof(*a))))
            return TR_E_NOMEM;
        memset(a, 0, sizeof(*a));
        uint8_t u[16];
        randombytes_buf(u, sizeof(u));
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
        snprintf(a->nonce, sizeof(a->nonce),
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
                 u[15]);
        *ap = a;
    }
    for (uint32_t i = 0; i < a->count; i++)
        if (a->len[i] == len && sodium_memcmp(a->share[i], share, len) == 0)
            return TR_OK; /* a duplicate share is ignored, as Vault does */
    if (a->count >= ENC_SHARE_MAX)
        return TR_E_INVAL;
    memcpy(a->share[a->count], share, len);
    a->len[a->count] = (uint8_t)len;
    a->count++;
    return TR_OK;
}

/* Combine an attempt's shares into the 32-byte unseal/recovery key. */
static int attempt_combine(const struct attempt *a, uint8_t key[ENC_KEY_BYTES])
{
    uint8_t *buf = NULL;
    int rc = TR_E_AUTH;

    if (g.seal.share_len == ENC_KEY_BYTES) {
        if (a->len[0] != ENC_KEY_BYTES)
            return TR_E_AUTH;
        memcpy(key, a->share[0], ENC_KEY_BYTES);
        return TR_OK;
    }
    for (uint32_t i = 0; i < a->count; i++)
        if (a->len[i] != ENC_SHARE_BYTES)
            return TR_E_AUTH;
    if (!(buf = sodium_malloc((size_t)a->count * ENC_SHARE_BYTES)))
        return TR_E_NOMEM;
    for (uint32_t i = 0; i < a->count; i++)
        memcpy(buf + (size_t)i * ENC_SHARE_BYTES, a->share[i], ENC_SHARE_BYTES);
    if (shamir_combine(buf, a->count, ENC_SHARE_BYTES, key) == TR_OK)
        rc = TR_OK;
    sodium_free(buf);
    return rc;
}

/* ---- state transitions (g.lock held for writing) ------------------------------------------- */

static void keys_drop_locked(void)
{
    pthread_mutex_lock(&g.counter_lock);
    if (g.counter && g.counter_state)
        g.counter->close(g.counter_state);
    g.counter_state = NULL;
    pthread_mutex_unlock(&g.counter_lock);
    if (g.keys) {
        sodium_free(g.keys);
        g.keys = NULL;
    }
    g.active_key = 0;
}

/* MK is in hand (guarded): derive everything, open the counter, enter UNSEALED. */
static int finish_unseal_locked(const uint8_t mk[ENC_KEY_BYTES])
{
    struct keyring *k = sodium_malloc(sizeof(*k));

    if (!k)
        return TR_E_NOMEM;
    memcpy(k->mk, mk, ENC_KEY_BYTES);
    for (int i = 1; i < MAC_KEYS; i++)
        derive((uint64_t)i, mk, k->mac[i]);
    memset(k->mac[0], 0, ENC_KEY_BYTES);
    derive(SUB_COUNTER_AUTH, mk, k->counter_auth);
    derive(SUB_RECORD_BASE + 1, mk, k->record_active);
    g.keys = k;
    g.active_key = 1;
    g.state = ENC_UNSEALED;
    g.reason = ENC_REASON_NONE;
    attempt_wipe(&g.unseal);
    /* A counter that cannot be opened does not block unsealing (recovery must stay possible);
     * enc_counter_* then fail and storage refuses to open. */
    if (g.counter->open(&g.cfg, k->counter_auth, g.seal.counter_id.data, g.seal.counter_id.len,
                        &g.counter_state) != TR_OK) {
        g.counter_state = NULL;
        tr_log_error("monotonic counter (%s) unavailable: storage will refuse to open",
                     g.counter->name);
    }
    tr_log_info("unsealed (seal %s)", g.platform ? g.platform->name : "shamir");
    return TR_OK;
}

static int unwrap_mk_with(const uint8_t key[ENC_KEY_BYTES], uint8_t mk[ENC_KEY_BYTES])
{
    char ad[64];
    seal_ad(ad, sizeof(ad), g.seal.type, g.seal.t, g.seal.n);
    return enc_unwrap_key(key, ad, g.seal.wrapped, sizeof(g.seal.wrapped), mk);
}

/* Attempt reached its threshold: key from shares -> MK. Progress resets on any failure. */
static int attempt_to_mk(struct attempt **ap, uint8_t *mk)
{
    uint8_t *key = sodium_malloc(ENC_KEY_BYTES);
    int rc = TR_E_NOMEM;

    if (key) {
        rc = attempt_combine(*ap, key);
        if (rc == TR_OK)
            rc = unwrap_mk_with(key, mk) == TR_OK ? TR_OK : TR_E_AUTH;
        sodium_free(key);
    }
    attempt_wipe(ap);
    return rc;
}

/* ---- entry points: lifecycle ------------------------------------------------------------------ */

static int config_check(const struct enc_config *cfg)
{
    if (!cfg->data_dir[0] || cfg->seal_type > ENC_SEAL_GRAMINE ||
        cfg->counter_type > ENC_COUNTER_TPM2 || cfg->npcrs > ENC_PCRS_MAX)
        return TR_E_INVAL;
    if (cfg->seal_type == ENC_SEAL_DEVKEY && !cfg->devkey_file[0])
        return TR_E_INVAL;
    if (cfg->seal_type == ENC_SEAL_DEVKEY && !cfg->dev_mode && !cfg->allow_insecure) {
        tr_log_error("seal type devkey keeps the master key next to the data; it runs only with "
                     "-dev or seal.allow_insecure: true");
        return TR_E_CONFIG;
    }
    if ((cfg->seal_type == ENC_SEAL_TPM2 && !cfg->seal_tcti[0]) ||
        (cfg->counter_type == ENC_COUNTER_TPM2 && !cfg->counter_tcti[0]))
        return TR_E_INVAL;
    return TR_OK;
}

ENC_API int enc_init(const struct enc_config *cfg)
{
    static const struct enc_platform_seal *const platforms[] = {
        NULL, &enc_seal_tpm2, &enc_seal_devkey, &enc_seal_gramine};
    int rc;

    if (sodium_init() < 0)
        return TR_E_INTERNAL;
    tr_brlock_wrlock(&g.lock);
    if (g.state != ENC_UNINIT) {
        rc = TR_E_STATE;
        goto out;
    }
    if ((rc = config_check(cfg)) != TR_OK)
        goto out;
    harden_process();
    g.cfg = *cfg;
    g.platform = platforms[cfg->seal_type];
    g.counter = cfg->counter_type == ENC_COUNTER_TPM2 ? &enc_counter_tpm2 : &enc_counter_file;
    if ((rc = seal_info_load()) != TR_OK)
        goto out;
    g.state = ENC_SEALED;
    g.reason = ENC_REASON_NONE;
    if (cfg->seal_type == ENC_SEAL_DEVKEY)
        tr_log_warn("INSECURE: devkey seal: the master key is only as safe as %s",
                    cfg->devkey_file);
    rc = TR_OK;
out:
    tr_brlock_wrunlock(&g.lock);
    return rc;
}

ENC_API void enc_fini(void)
{
    tr_brlock_wrlock(&g.lock);
    keys_drop_locked();
    attempt_wipe(&g.unseal);
    attempt_wipe(&g.recovery);
    seal_info_clear(&g.seal);
    memset(&g.cfg, 0, sizeof(g.cfg));
    g.state = ENC_UNINIT;
    g.reason = ENC_REASON_NONE;
    g.initialized = false;
    g.platform = NULL;
    g.counter = NULL;
    tr_brlock_wrunlock(&g.lock);
    enc_transit_cache_drop();
    secret_cache_drop();
}

ENC_API void enc_status_get(struct enc_status *out)
{
    memset(out, 0, sizeof(*out));
    tr_brlock_rdlock(&g.lock);
    out->state = g.state;
    if (g.state != ENC_UNINIT) {
        out->seal_type = g.cfg.seal_type;
        out->reason = g.reason;
        out->initialized = g.initialized;
        out->auto_unseal = g.platform != NULL;
        out->insecure = g.cfg.seal_type == ENC_SEAL_DEVKEY;
        out->threshold = g.initialized ? g.seal.t : 0;
        out->shares = g.initialized ? g.seal.n : 0;
        if (g.unseal) {
            out->progress = g.unseal->count;
            memcpy(out->nonce, g.unseal->nonce, sizeof(out->nonce));
        }
        out->record_key_id = g.active_key;
    }
    tr_brlock_rdunlock(&g.lock);
}

/* Split (or hand out whole) the unseal/recovery key into out. */
static int make_shares(const uint8_t key[ENC_KEY_BYTES], uint32_t n, uint32_t t,
                       struct enc_shares *out)
{
    uint8_t *buf;
    int rc;

    memset(out, 0, sizeof(*out));
    if (n == 1) {
        out->count = 1;
        out->share_len = ENC_KEY_BYTES;
        memcpy(out->share[0], key, ENC_KEY_BYTES);
        return TR_OK;
    }
    if (!(buf = sodium_malloc((size_t)n * ENC_SHARE_BYTES)))
        return TR_E_NOMEM;
    if ((rc = shamir_split(key, ENC_KEY_BYTES, n, t, buf)) == TR_OK) {
        out->count = n;
        out->share_len = ENC_SHARE_BYTES;
        for (uint32_t i = 0; i < n; i++)
            memcpy(out->share[i], buf + (size_t)i * ENC_SHARE_BYTES, ENC_SHARE_BYTES);
    }
    sodium_free(buf);
    return rc;
}

/* MK and the share key (unseal key for shamir, recovery key otherwise) live in one guarded
 * block for the duration of enc_initialize. */
struct init_keys {
    uint8_t mk[ENC_KEY_BYTES];
    uint8_t share_key[ENC_KEY_BYTES];
    uint8_t counter_auth[ENC_KEY_BYTES];
};

static int initialize_locked(uint32_t n, uint32_t t, struct init_keys *k, struct enc_shares *out)
{
    struct seal_info s = {0};
    struct tr_buf blob = TR_BUF_INIT;
    char ad[64], path[ENC_PATH_MAX + 32];
    bool wrote = false;
    int rc;

    randombytes_buf(k->mk, ENC_KEY_BYTES);
    randombytes_buf(k->share_key, ENC_KEY_BYTES);
    derive(SUB_COUNTER_AUTH, k->mk, k->counter_auth);
    s.type = (uint8_t)g.cfg.seal_type;
    s.t = (uint8_t)t;
    s.n = (uint8_t)n;
    s.share_len = n == 1 ? ENC_KEY_BYTES : ENC_SHARE_BYTES;
    seal_ad(ad, sizeof(ad), s.type, s.t, s.n);
    if ((rc = enc_wrap_key(k->share_key, ad, k->mk, s.wrapped)) != TR_OK)
        goto out;
    if (g.platform && (rc = g.platform->seal(&g.cfg, k->mk, &s.platform_blob)) != TR_OK)
        goto out;
    if ((rc = g.counter->define(&g.cfg, k->counter_auth, &s.counter_id)) != TR_OK)
        goto out;
    if ((rc = make_shares(k->share_key, n, t, out)) != TR_OK)
        goto out;
    if ((rc = seal_info_encode(&s, &blob)) != TR_OK)
        goto out;
    seal_path(path, sizeof(path));
    wrote = true;
    if ((rc = enc_file_write_atomic(path, blob.data, blob.len)) != TR_OK)
        goto out;
    seal_info_clear(&g.seal);
    g.seal = s;
    memset(&s, 0, sizeof(s)); /* ownership of the buffers moved to g.seal */
    g.initialized = true;
    rc = TR_OK;
out:
    if (rc != TR_OK) {
        sodium_memzero(out, sizeof(*out));
        /* The core stays uninitialised: take back what this call made, or a retry finds the
         * counter's place taken. seal.blob exists only if the rename happened and the directory's
         * fsync failed; it names the counter about to go, so it goes first. */
        if (wrote && unlink(path) != 0 && errno != ENOENT)
            tr_log_error("cannot remove %s after a failed initialisation", path);
        if (s.counter_id.len)
            g.counter->undefine(&g.cfg, s.counter_id.data, s.counter_id.len);
    }
    seal_info_clear(&s);
    tr_buf_free(&blob);
    return rc;
}

ENC_API int enc_initialize(uint32_t shares, uint32_t threshold, struct enc_shares *out)
{
    struct init_keys *k = NULL;
    int rc;

    tr_brlock_wrlock(&g.lock);
    if (g.state != ENC_SEALED) {
        rc = g.state == ENC_UNSEALED ? TR_E_EXISTS : TR_E_STATE;
        goto out;
    }
    if (g.initialized) {
        rc = TR_E_EXISTS;
        goto out;
    }
    if (!out || shares < 1 || shares > ENC_SHARE_MAX || threshold < 1 || threshold > shares ||
        (shares > 1 && threshold < 2)) {
        rc = TR_E_INVAL;
        goto out;
    }
    if (!(k = sodium_malloc(sizeof(*k)))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    rc = initialize_locked(shares, threshold, k, out);
    if (rc == TR_OK)
        tr_log_info("initialised: seal %s, %u share(s), threshold %u",
                    g.platform ? g.platform->name : "shamir", shares, threshold);
out:
    if (k)
        sodium_free(k);
    tr_brlock_wrunlock(&g.lock);
    return rc;
}

ENC_API int enc_unseal_submit(const uint8_t *share, size_t len, struct enc_status *out_status)
{
    uint8_t *mk = NULL;
    int rc = TR_OK;

    tr_brlock_wrlock(&g.lock);
    if (g.state == ENC_UNSEALED)
        goto out;
    if (g.state != ENC_SEALED || !g.initialized || g.platform) {
        rc = TR_E_STATE;
        goto out;
    }
    if (!share || len < ENC_KEY_BYTES || len > ENC_SHARE_BYTES) {
        rc = TR_E_INVAL;
        goto out;
    }
    if ((rc = attempt_add(&g.unseal, share, len)) != TR_OK || g.unseal->count < g.seal.t)
        goto out;
    if (!(mk = sodium_malloc(ENC_KEY_BYTES))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    if ((rc = attempt_to_mk(&g.unseal, mk)) == TR_OK)
        rc = finish_unseal_locked(mk);
    else
        tr_log_warn("unseal failed: the submitted shares do not open the master key");
out:
    if (mk)
        sodium_free(mk);
    tr_brlock_wrunlock(&g.lock);
    if (out_status)
        enc_status_get(out_status);
    return rc;
}

ENC_API int enc_unseal_reset(void)
{
    int rc = TR_OK;

    tr_brlock_wrlock(&g.lock);
    if (g.state != ENC_SEALED) {
        rc = TR_E_STATE;
    } else {
        attempt_wipe(&g.unseal);
        if (g.platform) /* an auto-unseal seal takes sys/unseal's shares as recovery shares */
            attempt_wipe(&g.recovery);
    }
    tr_brlock_wrunlock(&g.lock);
    return rc;
}

ENC_API int enc_unseal_auto(void)
{
    uint8_t *mk = NULL;
    int rc = TR_OK;

    tr_brlock_wrlock(&g.lock);
    if (g.state == ENC_UNSEALED)
        goto out;
    if (g.state != ENC_SEALED || !g.initialized || !g.platform) {
        rc = TR_E_STATE;
        goto out;
    }
    if (!(mk = sodium_malloc(ENC_KEY_BYTES))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    rc = g.platform->unseal(&g.cfg, g.seal.platform_blob.data, g.seal.platform_blob.len, mk);
    if (rc == TR_OK)
        rc = finish_unseal_locked(mk);
    else
        tr_log_error("auto-unseal with %s failed: %s", g.platform->name, tr_strerror(rc));
out:
    if (mk)
        sodium_free(mk);
    tr_brlock_wrunlock(&g.lock);
    return rc;
}

ENC_API int enc_recovery_submit(const uint8_t *share, size_t len, uint32_t *out_progress,
                                bool *out_authorized)
{
    uint8_t *mk = NULL;
    int rc;

    *out_authorized = false;
    *out_progress = 0;
    tr_brlock_wrlock(&g.lock);
    if (g.state == ENC_UNINIT || !g.initialized) {
        rc = TR_E_STATE;
        goto out;
    }
    if (!share || len < ENC_KEY_BYTES || len > ENC_SHARE_BYTES) {
        rc = TR_E_INVAL;
        goto out;
    }
    if ((rc = attempt_add(&g.recovery, share, len)) != TR_OK)
        goto out;
    *out_progress = g.recovery->count;
    if (g.recovery->count < g.seal.t)
        goto out;
    *out_progress = 0;
    if (!(mk = sodium_malloc(ENC_KEY_BYTES))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    if ((rc = attempt_to_mk(&g.recovery, mk)) != TR_OK)
        goto out;
    *out_authorized = true;
    tr_log_warn("recovery authorised by %u share(s)", g.seal.t);
    if (g.state == ENC_SEALED)
        rc = finish_unseal_locked(mk);
out:
    if (mk)
        sodium_free(mk);
    tr_brlock_wrunlock(&g.lock);
    return rc;
}

ENC_API void enc_seal(enum enc_reason reason)
{
    tr_brlock_wrlock(&g.lock);
    if (g.state != ENC_UNINIT) {
        if (g.state == ENC_UNSEALED || reason > g.reason)
            g.reason = reason;
        keys_drop_locked();
        /* A seal ends every attempt: shares given before it (an abandoned recovery included)
         * must not count toward the quorum that authorises recovering from its verdict. */
        attempt_wipe(&g.unseal);
        attempt_wipe(&g.recovery);
        g.state = ENC_SEALED;
    }
    tr_brlock_wrunlock(&g.lock);
}

/* ---- entry points: secret memory ---------------------------------------------------------- */

static int secret_class(size_t len)
{
    for (int i = 0; i < SECRET_CLASSES; i++)
        if (len <= secret_class_cap[i])
            return i;
    return -1;
}

/* A cached buffer of class cls: the thread's shard first, then the others (a buffer freed by
 * another thread than the one that allocated it lands in that thread's shard). */
static struct enc_secret *secret_cache_take(int cls)
{
    unsigned mine = tr_brlock_slot();
    struct enc_secret *s = NULL;

    for (unsigned k = 0; k < SECRET_SHARDS && !s; k++) {
        struct secret_shard *sh = &secret_cache[(mine + k) % SECRET_SHARDS];
        pthread_mutex_lock(&sh->lock);
        if (sh->n[cls] > 0)
            s = sh->free[cls][--sh->n[cls]];
        pthread_mutex_unlock(&sh->lock);
    }
    return s;
}

/* Keep a wiped buffer of class cls; false when every shard is full. */
static bool secret_cache_give(int cls, struct enc_secret *s)
{
    unsigned mine = tr_brlock_slot();

    for (unsigned k = 0; k < SECRET_SHARDS; k++) {
        struct secret_shard *sh = &secret_cache[(mine + k) % SECRET_SHARDS];
        bool kept = false;
        pthread_mutex_lock(&sh->lock);
        if (sh->n[cls] < SECRET_SHARD_MAX) {
            sh->free[cls][sh->n[cls]++] = s;
            kept = true;
        }
        pthread_mutex_unlock(&sh->lock);
        if (kept)
            return true;
    }
    return false;
}

/* sodium_init takes a process-wide lock on every call: once is enough. */
static bool sodium_ready(void)
{
    static atomic_bool ready;

    if (atomic_load_explicit(&ready, memory_order_acquire))
        return true;
    if (sodium_init() < 0)
        return false;
    atomic_store_explicit(&ready, true, memory_order_release);
    return true;
}

ENC_API int enc_secret_alloc(size_t len, struct enc_secret **out)
{
    struct enc_secret *s = NULL;
    int cls;

    *out = NULL;
    if (len > ENC_RECORD_MAX)
        return TR_E_INVAL;
    if (!sodium_ready())
        return TR_E_NOMEM;
    cls = secret_class(len);
    if (cls >= 0 && (s = secret_cache_take(cls))) {
        s->len = len; /* wiped when it was freed */
        *out = s;
        return TR_OK;
    }
    size_t cap = cls >= 0 ? secret_class_cap[cls] : len;
    /* sodium_malloc places the block against its guard page, so its start is only aligned
     * when the size is a multiple of 16 (the class sizes keep it so) */
    size_t total = (sizeof(*s) + cap + 15) & ~(size_t)15;
    if (!(s = sodium_malloc(total)))
        return TR_E_NOMEM;
    s->cap = cap;
    s->len = len;
    memset(s->data, 0, s->cap); /* sodium_malloc fills with 0xdb */
    *out = s;
    return TR_OK;
}

ENC_API void enc_secret_free(struct enc_secret *s)
{
    if (!s)
        return;
    sodium_memzero(s->data, s->cap);
    int cls = secret_class(s->cap);
    if (cls >= 0 && s->cap == secret_class_cap[cls] && secret_cache_give(cls, s))
        return;
    sodium_free(s);
}

/* Release the cached buffers (enc_fini). */
static void secret_cache_drop(void)
{
    for (int i = 0; i < SECRET_SHARDS; i++) {
        struct secret_shard *sh = &secret_cache[i];
        pthread_mutex_lock(&sh->lock);
        for (int c = 0; c < SECRET_CLASSES; c++) {
            while (sh->n[c] > 0)
                sodium_free(sh->free[c][--sh->n[c]]);
        }
        pthread_mutex_unlock(&sh->lock);
    }
}

ENC_API uint8_t *enc_secret_data(struct enc_secret *s)
{
    return s->data;
}

ENC_API size_t enc_secret_len(const struct enc_secret *s)
{
    return s->len;
}

/* ---- entry points: records ---------------------------------------------------------------- */

ENC_API int enc_record_seal(const uint8_t *ad, size_t ad_len, const uint8_t *pt, size_t pt_len,
                            uint8_t *out, size_t out_cap, size_t *out_len)
{
    int rc = TR_E_SEALED;

    tr_brlock_rdlock(&g.lock);
    if (g.state != ENC_UNSEALED)
        goto out;
    rc = TR_E_INVAL;
    if ((!ad && ad_len) || ad_len > ENC_AD_MAX || (!pt && pt_len) || !out || !out_len)
        goto out;
    rc = TR_E_TOO_LARGE;
    if (pt_len > ENC_RECORD_MAX - ENC_RECORD_OVERHEAD || out_cap < pt_len + ENC_RECORD_OVERHEAD)
        goto out;
    tr_be32_put(out, g.active_key);
    randombytes_buf(out + ENC_RECORD_HDR, ENC_RECORD_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + ENC_RECORD_HDR + ENC_RECORD_NONCE, NULL, pt,
                                               pt_len, ad, ad_len, NULL, out + ENC_RECORD_HDR,
                                               g.keys->record_active);
    *out_len = pt_len + ENC_RECORD_OVERHEAD;
    rc = TR_OK;
out:
    tr_brlock_rdunlock(&g.lock);
    return rc;
}

ENC_API int enc_record_open(const uint8_t *ad, size_t ad_len, const uint8_t *rec, size_t rec_len,
                            struct enc_secret **out)
{
    uint8_t key[ENC_KEY_BYTES];
    struct enc_secret *s = NULL;
    int rc = TR_E_SEALED;

    *out = NULL;
    tr_brlock_rdlock(&g.lock);
    if (g.state != ENC_UNSEALED)
        goto out;
    rc = TR_E_INVAL;
    if ((!ad && ad_len) || ad_len > ENC_AD_MAX || !rec || rec_len < ENC_RECORD_OVERHEAD ||
        rec_len > ENC_RECORD_MAX)
        goto out;
    uint32_t id = tr_be32_get(rec);
    rc = TR_E_AUTH;
    if (id < 1 || id > KEY_ID_MAX)
        goto out;
    if ((rc = enc_secret_alloc(rec_len - ENC_RECORD_OVERHEAD, &s)) != TR_OK)
        goto out;
    const uint8_t *k = g.keys->record_active;
    if (id != g.active_key) {
        derive(SUB_RECORD_BASE + id, g.keys->mk, key);
        k = key;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(s->data, NULL, NULL,
                                                   rec + ENC_RECORD_HDR + ENC_RECORD_NONCE,
                                                   rec_len - ENC_RECORD_HDR - ENC_RECORD_NONCE, ad,
                                                   ad_len, rec + ENC_RECORD_HDR, k) != 0) {
        rc = TR_E_AUTH;
        goto out;
    }
    *out = s;
    s = NULL;
    rc = TR_OK;
out:
    sodium_memzero(key, sizeof(key));
    enc_secret_free(s);
    tr_brlock_rdunlock(&g.lock);
    return rc;
}

ENC_API int enc_keyring_set_active(uint32_t id)
{
    int rc = TR_OK;

    tr_brlock_wrlock(&g.lock);
    if (g.state != ENC_UNSEALED)
        rc = TR_E_SEALED;
    else if (id < 1 || id > KEY_ID_MAX)
        rc = TR_E_INVAL;
    else if (id != g.active_key) {
        derive(SUB_RECORD_BASE + id, g.keys->mk, g.keys->record_active);
        g.active_key = id;
    }
    tr_brlock_wrunlock(&g.lock);
    return rc;
}

/* ---- entry points: MACs ------------------------------------------------------------------- */

static int mac_locked(enum enc_mac_key which, const uint8_t *msg, size_t msg_len,
                      uint8_t out[ENC_MAC_BYTES])
{
    if (g.state != ENC_UNSEALED)
        return TR_E_SEALED;
    if ((int)which < 1 || (int)which >= MAC_KEYS || (!msg && msg_len) || msg_len > ENC_MAC_MSG_MAX)
        return TR_E_INVAL;
    crypto_generichash(out, ENC_MAC_BYTES, msg, msg_len, g.keys->mac[which], ENC_KEY_BYTES);
    return TR_OK;
}

ENC_API int enc_mac(enum enc_mac_key which, const uint8_t *msg, size_t msg_len,
                    uint8_t out[ENC_MAC_BYTES])
{
    tr_brlock_rdlock(&g.lock);
    int rc = mac_locked(which, msg, msg_len, out);
    tr_brlock_rdunlock(&g.lock);
    if (rc != TR_OK)
        sodium_memzero(out, ENC_MAC_BYTES);
    return rc;
}

ENC_API int enc_mac_verify(enum enc_mac_key which, const uint8_t *msg, size_t msg_len,
                           const uint8_t tag[ENC_MAC_BYTES])
{
    uint8_t mac[ENC_MAC_BYTES];

    tr_brlock_rdlock(&g.lock);
    int rc = mac_locked(which, msg, msg_len, mac);
    tr_brlock_rdunlock(&g.lock);
    if (rc == TR_OK && crypto_verify_32(mac, tag) != 0)
        rc = TR_E_AUTH;
    sodium_memzero(mac, sizeof(mac));
    return rc;
}

/* ---- entry points: counter ---------------------------------------------------------------- */

static int counter_call(bool increment, uint64_t *out)
{
    int rc = TR_E_SEALED;

    tr_brlock_rdlock(&g.lock);
    if (g.state != ENC_UNSEALED)
        goto out;
    pthread_mutex_lock(&g.counter_lock);
    if (!g.counter_state)
        rc = TR_E_COUNTER;
    else if (increment)
        rc = g.counter->increment(g.counter_state, out);
    else
        rc = g.counter->read(g.counter_state, out);
    pthread_mutex_unlock(&g.counter_lock);
out:
    tr_brlock_rdunlock(&g.lock);
    return rc;
}

ENC_API int enc_counter_read(uint64_t *out)
{
    return counter_call(false, out);
}

ENC_API int enc_counter_increment(uint64_t *out)
{
    return counter_call(true, out);
}

/* ---- internal: transit (core_int.h) ------------------------------------------------------- */

int enc_core_transit_begin(uint8_t wk[ENC_KEY_BYTES])
{
    tr_brlock_rdlock(&g.lock);
    if (g.state != ENC_UNSEALED) {
        tr_brlock_rdunlock(&g.lock);
        sodium_memzero(wk, ENC_KEY_BYTES);
        return TR_E_SEALED;
    }
    derive(SUB_TRANSIT_WRAP, g.keys->mk, wk);
    return TR_OK; /* the lock stays held until enc_core_transit_end */
}

void enc_core_transit_end(void)
{
    tr_brlock_rdunlock(&g.lock);
}

/* ---- internal: the seal.blob parser on its own (core_int.h) ------------------------------ */

int enc_seal_info_parse(const uint8_t *blob, size_t len, struct tr_buf *canon)
{
    struct seal_info s = {0};
    int rc;

    if ((rc = seal_info_decode(blob, len, &s)) == TR_OK)
        rc = seal_info_encode(&s, canon);
    seal_info_clear(&s);
    return rc;
}
