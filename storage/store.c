/*
 * store.c - opening and closing a store, the recovery entry point, backup, evidence, stats and
 * the LMDB helpers shared by the other files. The startup verification itself (freshness B.5)
 * and the recovery re-anchor live in verify.c.
 *
 * Open order: data directory (0700) -> path/tresor.lock (flock, non-blocking: a second server
 * gets TR_E_BUSY before LMDB is touched) -> LMDB with durable defaults + mdb_reader_check ->
 * store_startup (verify, complete, epoch-open) -> writer thread -> optional scrub thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../common/tr_log.h"
#include "store_int.h"

#define MAP_INITIAL_DEFAULT (64ull << 20)
#define MAP_MAX_DEFAULT     (64ull << 30)
#define MAP_MIN             (64ull << 10)
#define BATCH_OPS_DEFAULT   4096
#define TXN_ATTEMPTS        64

/* Process-wide on purpose: a refused store_open leaves no store object to ask, and
 * sys/seal-status must still be able to show why. */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static struct store_evidence ev_last;
static _Atomic uint64_t ev_alarms;

/* ---- small helpers ------------------------------------------------------------------------ */

uint64_t store_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void store_pub_bump(struct store *st)
{
    pthread_mutex_lock(&st->pub_mu);
    st->pub_gen++;
    pthread_cond_broadcast(&st->pub_cond);
    pthread_mutex_unlock(&st->pub_mu);
}

bool store_table_name_ok(const char *name, size_t *out_len)
{
    size_t n;

    if (!name)
        return false;
    n = strnlen(name, STORE_TABLE_NAME_MAX + 1);
    if (n == 0 || n > STORE_TABLE_NAME_MAX || name[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return false;
    }
    if (out_len)
        *out_len = n;
    return true;
}

int store_table_find(const struct store *st, const char *name)
{
    for (size_t i = 0; i < st->ntables; i++) {
        if (strcmp(st->tables[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

int store_mdb_err(int mrc, const char *what)
{
    if (mrc == MDB_SUCCESS)
        return TR_OK;
    tr_log_debug("lmdb %s: %s", what, mdb_strerror(mrc));
    switch (mrc) {
    case MDB_NOTFOUND:
        return TR_E_NOTFOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        return TR_E_NOSPACE;
    case MDB_READERS_FULL:
        return TR_E_BUSY;
    case MDB_TXN_FULL:
        return TR_E_TOO_LARGE;
    case ENOMEM:
        return TR_E_NOMEM;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_INCOMPATIBLE:
        return TR_E_TAMPER; /* the file's structure changed under LMDB */
    default:
        return TR_E_IO;
    }
}

static const char *const fault_names[] = {
    [STORE_FAULT_AFTER_COMMIT] = "after_commit",
    [STORE_FAULT_AFTER_INCREMENT] = "after_increment",
    [STORE_FAULT_BEFORE_ACK] = "before_ack",
    [STORE_FAULT_OPEN_AFTER_COMMIT] = "open_after_commit",
};

static enum store_fault fault_from_env(void)
{
    const char *s = getenv("TR_FAULT");

    for (size_t i = 1; s && i < sizeof(fault_names) / sizeof(fault_names[0]); i++) {
        if (strcmp(s, fault_names[i]) == 0)
            return (enum store_fault)i;
    }
    return STORE_FAULT_NONE;
}

void store_fault_hit(const struct store *st, enum store_fault f)
{
    if (st->fault != STORE_FAULT_NONE && st->fault == f) {
        tr_log_warn("TR_FAULT=%s: exiting now", fault_names[f]);
        _exit(77);
    }
}

/* ---- evidence ----------------------------------------------------------------------------- */

void store_evidence_put(const struct store_evidence *ev)
{
    pthread_mutex_lock(&ev_mu);
    ev_last = *ev;
    pthread_mutex_unlock(&ev_mu);
}

void store_evidence(struct store_evidence *out)
{
    pthread_mutex_lock(&ev_mu);
    *out = ev_last;
    pthread_mutex_unlock(&ev_mu);
    out->alarms = atomic_load(&ev_alarms);
}

void store_alarm(struct store *st, const char *what, const char *table, const uint8_t *key,
                 size_t key_len)
{
    struct store_evidence ev;
    int shown = key_len > 64 ? 64 : (int)key_len;

    atomic_fetch_add(&st->n_alarms, 1);
    atomic_fetch_add(&ev_alarms, 1);
    memset(&ev, 0, sizeof(ev));
    ev.verdict = TR_E_TAMPER;
    snprintf(ev.what, sizeof(ev.what), "%s", what);
    snprintf(ev.table, sizeof(ev.table), "%s", table ? table : "");
    ev.time = (int64_t)time(NULL);
    store_evidence_put(&ev);
    /* the key is an identifier (tr_log escapes control bytes); never the value */
    tr_log_error("tamper alarm: %s in table '%s' key '%.*s' (%zu bytes)", what, table ? table : "",
                 shown, key ? (const char *)key : "", key_len);
}

static void digest_prefix_hex(const uint8_t *d, char out[17])
{
    static const char hx[] = "0123456789abcdef";

    for (size_t i = 0; i < 8; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[16] = 0;
}

/* A refused open: record and log the evidence, then seal the core with the matching reason. */
static void store_verdict(struct store_evidence *ev, int rc)
{
    char de[17], da[17];

    ev->verdict = rc;
    ev->time = (int64_t)time(NULL);
    if (!ev->what[0])
        snprintf(ev->what, sizeof(ev->what), "%s", "lmdb_structure");
    store_evidence_put(ev);
    digest_prefix_hex(ev->digest_expected, de);
    digest_prefix_hex(ev->digest_actual, da);
    tr_log_error("%s detected (%s): counter T=%llu anchor c=%llu epoch=%llu seq=%llu "
                 "records anchored=%llu found=%llu digest anchored=%s.. found=%s..",
                 rc == TR_E_ROLLBACK ? "rollback" : "tamper", ev->what,
                 (unsigned long long)ev->counter, (unsigned long long)ev->anchor_counter,
                 (unsigned long long)ev->anchor_epoch, (unsigned long long)ev->anchor_seq,
                 (unsigned long long)ev->count_expected, (unsigned long long)ev->count_actual, de,
                 da);
    enc_seal(rc == TR_E_ROLLBACK ? ENC_REASON_ROLLBACK : ENC_REASON_TAMPER);
}

/* ---- LMDB helpers ------------------------------------------------------------------------- */

/* Grow (or, with adopt, re-read after another process grew) the map. mdb_env_set_mapsize needs
 * every transaction of this process to be finished: map_lock exclusive waits for a backup's,
 * env_lock exclusive for everybody else's (the writer's included). map_lock comes first and
 * alone: env_lock is writer-preferring, so waiting for it during a long backup would hold up
 * every new read until the backup ends. */
int store_map_grow(struct store *st, bool adopt)
{
    MDB_envinfo info;
    int rc = TR_OK, mrc = 0;

    pthread_rwlock_wrlock(&st->map_lock);
    tr_brlock_wrlock(&st->env_lock);
    mdb_env_info(st->env, &info);
    if (adopt) {
        mrc = mdb_env_set_mapsize(st->env, 0);
    } else if (info.me_mapsize >= st->opts.map_size_max) {
        rc = TR_E_NOSPACE;
    } else {
        uint64_t want = (uint64_t)info.me_mapsize * 2;
        if (want > st->opts.map_size_max)
            want = st->opts.map_size_max;
        mrc = mdb_env_set_mapsize(st->env, (size_t)want);
    }
    if (mrc != 0)
        rc = store_mdb_err(mrc, "set_mapsize");
    mdb_env_info(st->env, &info);
    atomic_store(&st->map_size, (uint64_t)info.me_mapsize);
    tr_brlock_wrunlock(&st->env_lock);
    pthread_rwlock_unlock(&st->map_lock);
    if (rc == TR_OK && !adopt)
        tr_log_info("storage map grown to %zu bytes", info.me_mapsize);
    if (rc == TR_E_NOSPACE)
        tr_log_warn("storage map full at its maximum (%zu bytes)", info.me_mapsize);
    return rc;
}

/* Less than 1 MiB left for us on the data directory's filesystem. */
static bool store_disk_nearly_full(const struct store *st)
{
    struct statvfs v;

    if (statvfs(st->path, &v) != 0)
        return false;
    return (uint64_t)v.f_bavail * v.f_frsize < (uint64_t)1 << 20;
}

int store_txn_run(struct store *st, store_txn_fn fn, void *arg)
{
    bool wrote = false;

    return store_txn_run_ex(st, fn, arg, &wrote);
}

/* LMDB stops for good once it failed to write a meta page (mdb_env_write_meta sets
 * MDB_FATAL_ERROR: every later transaction, reads included, is MDB_PANIC) and only a new
 * environment clears that. mrc: a failed commit's code. Probes with a read transaction. Called
 * with env_lock held shared. */
static bool store_env_dead(struct store *st, int mrc)
{
    MDB_txn *t = NULL;
    int r;

    if (mrc == MDB_PANIC)
        return true;
    if ((r = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t)) == 0)
        mdb_txn_abort(t);
    return r == MDB_PANIC;
}

/* The environment is dead (store_env_dead): refuse every write (fail_rc) and seal, so clients get
 * 503 sealed rather than an I/O error per request; the unseal (or a restart) opens a new
 * environment and verifies the directory (api_core reopens a store whose fail_rc is set). */
static void store_env_panic(struct store *st, int mrc)
{
    int expected = TR_OK;

    if (atomic_compare_exchange_strong(&st->fail_rc, &expected, TR_E_IO))
        tr_log_error("storage: LMDB stopped after a failed write of its meta page (%s): the store "
                     "refuses every operation and the server seals (sealed_reason fatal_error); "
                     "unsealing or a restart opens the data directory again and verifies it",
                     mdb_strerror(mrc));
    store_pub_bump(st); /* readers waiting for a pending key learn about it */
    enc_seal(ENC_REASON_FATAL);
}

int store_txn_run_ex(struct store *st, store_txn_fn fn, void *arg, bool *out_wrote)
{
    *out_wrote = false;
    for (int attempt = 0; attempt < TXN_ATTEMPTS; attempt++) {
        MDB_txn *txn = NULL;
        int mrc, rc;

        /* shared: a reader that adopts another process's growth (store_map_grow) must not
         * remap under this transaction, nor while mdb_txn_begin reads the meta pages */
        tr_brlock_rdlock(&st->env_lock);
        mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
        *out_wrote = mrc == 0; /* until it turns out to have stopped at a full map */
        if (mrc == 0) {
            mrc = fn(st, txn, arg);
            if (mrc == 0)
                mrc = mdb_txn_commit(txn); /* durable: frees txn whatever the outcome */
            else
                mdb_txn_abort(txn);
        }
        bool dead = mrc != 0 && store_env_dead(st, mrc);
        tr_brlock_rdunlock(&st->env_lock);
        if (mrc == 0)
            return TR_OK;
        if (dead) {
            store_env_panic(st, mrc);
            return TR_E_IO;
        }
        if (mrc == MDB_MAP_FULL) {
            *out_wrote = false;
            if ((rc = store_map_grow(st, false)) != TR_OK)
                return rc;
            continue;
        }
        if (mrc == MDB_MAP_RESIZED) {
            *out_wrote = false;
            if ((rc = store_map_grow(st, true)) != TR_OK)
                return rc;
            continue;
        }
        if (mrc == EIO && store_disk_nearly_full(st))
            return TR_E_NOSPACE; /* LMDB reports a short write (a full disk) as EIO */
        return store_mdb_err(mrc, "write txn");
    }
    return TR_E_NOSPACE;
}

/* ---- allocation, directory, lock, environment --------------------------------------------- */

static int store_map_lock_init(pthread_rwlock_t *l)
{
    pthread_rwlockattr_t ra;
    int rc;

    if (pthread_rwlockattr_init(&ra) != 0)
        return -1;
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = pthread_rwlock_init(l, &ra);
    pthread_rwlockattr_destroy(&ra);
    return rc;
}

static int store_alloc(const struct store_opts *opts, struct store **out)
{
    pthread_condattr_t ca;
    struct store *st;
    size_t plen;

    if (!opts || !opts->path)
        return TR_E_INVAL;
    plen = strnlen(opts->path, STORE_PATH_MAX + 1);
    if (plen == 0 || plen > STORE_PATH_MAX)
        return TR_E_INVAL;
    /* aligned: the brlocks' shards sit on cache lines of their own */
    if (!(st = aligned_alloc(_Alignof(struct store), sizeof(*st))))
        return TR_E_NOMEM;
    memset(st, 0, sizeof(*st));
    memcpy(st->path, opts->path, plen);
    st->opts = *opts;
    st->opts.path = st->path;
    if (!st->opts.map_size_initial)
        st->opts.map_size_initial = MAP_INITIAL_DEFAULT;
    if (!st->opts.map_size_max)
        st->opts.map_size_max = MAP_MAX_DEFAULT;
    if (st->opts.map_size_initial < MAP_MIN)
        st->opts.map_size_initial = MAP_MIN;
    st->opts.map_size_initial = (st->opts.map_size_initial + 4095) & ~(uint64_t)4095;
    st->opts.map_size_max = (st->opts.map_size_max + 4095) & ~(uint64_t)4095;
    if (st->opts.map_size_max < st->opts.map_size_initial)
        st->opts.map_size_max = st->opts.map_size_initial;
    if (!st->opts.batch_max_ops)
        st->opts.batch_max_ops = BATCH_OPS_DEFAULT;
    st->lock_fd = -1;
    st->fault = fault_from_env();
    atomic_init(&st->fail_rc, TR_OK);

    /* writer-preferring, so a stream of readers cannot starve the writer's mark/publish, and
     * back-to-back backups cannot starve a map growth */
    if (store_map_lock_init(&st->map_lock) != 0) {
        free(st);
        return TR_E_NOMEM;
    }
    if (tr_brlock_init(&st->env_lock, true) != TR_OK) {
        pthread_rwlock_destroy(&st->map_lock);
        free(st);
        return TR_E_NOMEM;
    }
    if (tr_brlock_init(&st->idx_lock, true) != TR_OK) {
        tr_brlock_destroy(&st->env_lock);
        pthread_rwlock_destroy(&st->map_lock);
        free(st);
        return TR_E_NOMEM;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&st->pub_mu, NULL);
    pthread_cond_init(&st->pub_cond, &ca);
    pthread_mutex_init(&st->q_mu, NULL);
    pthread_cond_init(&st->q_cond, &ca);
    pthread_mutex_init(&st->s_mu, NULL);
    pthread_cond_init(&st->s_cond, &ca);
    pthread_condattr_destroy(&ca);
    st->locks_ready = true;
    *out = st;
    return TR_OK;
}

static void store_free(struct store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->ntables; i++)
        idx_free(&st->tables[i].idx);
    if (st->env) {
        store_read_fini(st);
        mdb_env_close(st->env);
    }
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* releases the flock */
    if (st->locks_ready) {
        pthread_rwlock_destroy(&st->map_lock);
        tr_brlock_destroy(&st->env_lock);
        tr_brlock_destroy(&st->idx_lock);
        pthread_mutex_destroy(&st->pub_mu);
        pthread_cond_destroy(&st->pub_cond);
        pthread_mutex_destroy(&st->q_mu);
        pthread_cond_destroy(&st->q_cond);
        pthread_mutex_destroy(&st->s_mu);
        pthread_cond_destroy(&st->s_cond);
    }
    free(st);
}

/* 0700 whatever the umask: mkdir's mode is filtered by the umask, fchmod's is not. */
static int store_dir_prepare(const char *path)
{
    struct stat sb;
    int fd, rc = TR_E_IO;

    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        tr_log_error("cannot create data directory %s: %s", path, strerror(errno));
        return TR_E_IO;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || fchmod(fd, 0700) != 0) {
        tr_log_error("data directory %s unusable: %s", path, strerror(errno));
        goto out;
    }
    rc = TR_OK;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static int store_file_path(const struct store *st, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", st->path, name);

    return (n < 0 || (size_t)n >= cap) ? TR_E_INVAL : TR_OK;
}

static int store_lock_take(struct store *st)
{
    char p[STORE_PATH_MAX + 32];
    int rc;

    if ((rc = store_file_path(st, "tresor.lock", p, sizeof(p))) != TR_OK)
        return rc;
    st->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (st->lock_fd < 0 || fchmod(st->lock_fd, 0600) != 0) {
        tr_log_error("cannot open %s: %s", p, strerror(errno));
        return TR_E_IO;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            tr_log_error("%s is held by another Tresor store (process)", p);
            return TR_E_BUSY;
        }
        return TR_E_IO;
    }
    return TR_OK;
}

static int store_env_open(struct store *st)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    const unsigned forbidden =
        MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC | MDB_WRITEMAP | MDB_NOMEMINIT | MDB_RDONLY;
    unsigned flags = 0;
    MDB_envinfo info;
    int mrc, dead = 0;

    if ((mrc = mdb_env_create(&st->env)) != 0)
        return store_mdb_err(mrc, "env_create");
    if ((mrc = mdb_env_set_maxdbs(st->env, STORE_TABLES_MAX + 2)) != 0 ||
        (mrc = mdb_env_set_maxreaders(st->env, STORE_READERS_MAX)) != 0 ||
        (mrc = mdb_env_set_mapsize(st->env, (size_t)st->opts.map_size_initial)) != 0)
        return store_mdb_err(mrc, "env_set");
    /* Durable defaults only: a lost last commit would be a false rollback alarm, and WRITEMAP
     * or NOMEMINIT would let stray heap bytes reach the file. MDB_NOTLS: read transactions
     * are not tied to a thread (libevent workers, scrub). */
    if ((mrc = mdb_env_open(st->env, st->path, MDB_NOTLS, 0600)) != 0) {
        mdb_env_close(st->env);
        st->env = NULL;
        return store_mdb_err(mrc, "env_open");
    }
    if (mdb_env_get_flags(st->env, &flags) != 0 || (flags & forbidden) != 0) {
        tr_log_error("LMDB environment has non-durable flags 0x%x", flags & forbidden);
        return TR_E_CONFIG;
    }
    for (size_t i = 0; i < 2; i++) {
        char p[STORE_PATH_MAX + 32];
        if (store_file_path(st, files[i], p, sizeof(p)) != TR_OK || chmod(p, 0600) != 0)
            return TR_E_IO;
    }
    if (mdb_reader_check(st->env, &dead) == 0 && dead > 0)
        tr_log_info("cleared %d stale LMDB reader slot(s)", dead);
    mdb_env_info(st->env, &info);
    atomic_store(&st->map_size, (uint64_t)info.me_mapsize);
    return TR_OK;
}

/* ---- public: open / close ------------------------------------------------------------------ */

int store_open(const struct store_opts *opts, struct store **out)
{
    struct store_evidence ev;
    struct store *st = NULL;
    int rc;

    memset(&ev, 0, sizeof(ev));
    if (!out)
        return TR_E_INVAL;
    *out = NULL;
    if (sodium_init() < 0)
        return TR_E_INTERNAL;
    if ((rc = store_alloc(opts, &st)) != TR_OK || (rc = store_dir_prepare(st->path)) != TR_OK ||
        (rc = store_lock_take(st)) != TR_OK || (rc = store_env_open(st)) != TR_OK ||
        (rc = store_startup(st, &ev)) != TR_OK || (rc = store_writer_start(st)) != TR_OK ||
        (rc = store_scrub_start(st)) != TR_OK)
        goto out;
    memset(&ev, 0, sizeof(ev));
    ev.counter = st->anchor.counter;
    ev.anchor_counter = st->anchor.counter;
    ev.anchor_epoch = st->anchor.epoch;
    ev.anchor_seq = st->anchor.seq;
    ev.count_expected = ev.count_actual = st->anchor.count;
    ev.time = (int64_t)time(NULL);
    store_evidence_put(&ev);
    tr_log_info("store %s open: counter %llu epoch %llu seq %llu records %llu", st->path,
                (unsigned long long)st->anchor.counter, (unsigned long long)st->anchor.epoch,
                (unsigned long long)st->anchor.seq, (unsigned long long)st->anchor.count);
    *out = st;
    st = NULL;
    rc = TR_OK;
out:
    if (rc == TR_E_ROLLBACK || rc == TR_E_TAMPER)
        store_verdict(&ev, rc);
    store_close(st);
    return rc;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    store_scrub_stop(st);
    store_writer_stop(st);
    store_free(st);
}

int store_recover_reanchor(const struct store_opts *opts)
{
    struct store_evidence ev;
    struct store *st = NULL;
    int rc;

    memset(&ev, 0, sizeof(ev));
    if (sodium_init() < 0)
        return TR_E_INTERNAL;
    if ((rc = store_alloc(opts, &st)) != TR_OK || (rc = store_dir_prepare(st->path)) != TR_OK ||
        (rc = store_lock_take(st)) != TR_OK || (rc = store_env_open(st)) != TR_OK)
        goto out;
    rc = store_recover_locked(st, &ev);
    if (rc == TR_E_TAMPER) {
        ev.verdict = rc;
        ev.time = (int64_t)time(NULL);
        store_evidence_put(&ev);
        tr_log_error("recovery refused: %s", ev.what);
    } else if (rc == TR_OK) {
        memset(&ev, 0, sizeof(ev));
        store_evidence_put(&ev);
    }
out:
    store_free(st);
    return rc;
}

/* ---- public: backup, stats ------------------------------------------------------------------ */

int store_backup(struct store *st, const char *dest_path)
{
    int fd, mrc, rc;

    if (!st || !dest_path || !*dest_path)
        return TR_E_INVAL;
    fd = open(dest_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno == EEXIST ? TR_E_EXISTS : TR_E_IO;
    if (fchmod(fd, 0600) != 0) {
        rc = TR_E_IO;
        goto out;
    }
    /* map_lock shared: copyfd2 runs its own read transaction, so the map must not move. Not
     * env_lock: a growth waiting for this copy would then hold up new reads until it ends. */
    pthread_rwlock_rdlock(&st->map_lock);
    mrc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&st->map_lock);
    rc = store_mdb_err(mrc, "copy");
    if (rc == TR_OK && fsync(fd) != 0)
        rc = errno == ENOSPC ? TR_E_NOSPACE : TR_E_IO;
out:
    close(fd);
    if (rc != TR_OK)
        unlink(dest_path);
    else
        tr_log_info("backup of %s written (anchored counter at copy time is a rollback point)",
                    st->path);
    return rc;
}

void store_stats_get(struct store *st, struct store_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!st)
        return;
    tr_brlock_rdlock(&st->idx_lock);
    out->counter = st->anchor.counter;
    out->seq = st->anchor.seq;
    out->epoch = st->anchor.epoch;
    out->records = st->anchor.count;
    out->key_id = st->anchor.key_id;
    tr_brlock_rdunlock(&st->idx_lock);
    out->batches = atomic_load(&st->n_batches);
    out->writes = atomic_load(&st->n_writes);
    out->increments = atomic_load(&st->n_increments);
    out->alarms = atomic_load(&st->n_alarms);
    out->scrubs = atomic_load(&st->n_scrubs);
    out->map_size = atomic_load(&st->map_size);
    out->completed_increment = st->completed_increment;
    out->fail_rc = atomic_load(&st->fail_rc);
}
