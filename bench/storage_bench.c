/*
 * storage_bench - storage engine figures as ratios against raw LMDB measured in the same run.
 *
 *   storage_bench write N_WRITERS SECONDS [tpm|file]
 *       N threads each do blocking store_write of one 100-byte value to a new key for SECONDS;
 *       then the same N threads for the same time against a plain group-commit loop over raw
 *       LMDB (one writer thread puts whatever is queued in one durable mdb_txn_commit; no
 *       encryption, no anchor, no counter). tpm needs TR_BENCH_TCTI (swtpm TCTI string) and
 *       takes the NV index from TR_BENCH_NV (default 0x01500000 + pid % 0x8000).
 *   storage_bench read NKEYS SECONDS THREADS
 *       loads NKEYS 100-byte records (1024 per request), then THREADS threads do verified
 *       store_get of random keys for SECONDS, then raw mdb_get (read txn reset/renew per get,
 *       value copied out) on an LMDB file with the same keys and values. Rates per second of
 *       wall time (ratio) and per second of the readers' own CPU time (cpu_ratio).
 *   storage_bench startup NKEYS [tpm|file]
 *       a child process loads NKEYS records (and a raw LMDB copy) and exits; this process then
 *       times enc_unseal_auto + store_open (index rebuild, digest verification, epoch anchor)
 *       and reports RssAnon after open; baseline: opening the raw copy and reading every value.
 *
 * Everything lives in a fresh /tmp/tr-bench-XXXXXX directory, removed at exit. Output lines
 * start with the mode name and are key=value pairs (bench/run-all.sh parses them).
 */
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/tr_log.h"
#include "../enclave/enclave.h"
#include "../storage/store.h"

#define VAL_LEN      100
#define TABLE        "bench"
#define LOAD_CHUNK   1024
#define KEY_CAP      48
#define RAW_MAP      (4ull << 30)
#define INCR_SAMPLES 20

struct dirs {
    char root[64];
    char enc[128];
    char data[128];
    char raw[128];
};

static struct dirs g_dirs;
static char (*g_rkeys)[KEY_CAP]; /* read mode: "k000-<i>" for every loaded key */
static uint8_t *g_rklen;
static bool g_tpm;
static uint32_t g_nv_index; /* tpm: TR_BENCH_NV or 0x01500000 + pid % 0x8000 (set in main) */
static atomic_bool g_stop;

/* ---- small helpers ------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread (the counter runs on it: no other thread is busy then). */
static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long parse_long(const char *s, long min, long max)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 0);
    if (errno != 0 || !end || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "storage_bench: bad number '%s' (%ld..%ld)\n", s, min, max);
        exit(2);
    }
    return v;
}

static int key_fmt(char *buf, const char *prefix, unsigned a, unsigned long long b)
{
    return snprintf(buf, KEY_CAP, "%s%03u-%010llu", prefix, a, b);
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

static void fill_val(uint8_t *v, uint64_t seed)
{
    for (size_t i = 0; i < VAL_LEN; i++)
        v[i] = (uint8_t)('a' + (seed + i) % 26);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void dirs_cleanup(void)
{
    if (g_dirs.root[0])
        nftw(g_dirs.root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void dirs_make(void)
{
    snprintf(g_dirs.root, sizeof(g_dirs.root), "/tmp/tr-bench-XXXXXX");
    if (!mkdtemp(g_dirs.root)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(g_dirs.enc, sizeof(g_dirs.enc), "%s/enc", g_dirs.root);
    snprintf(g_dirs.data, sizeof(g_dirs.data), "%s/data", g_dirs.root);
    snprintf(g_dirs.raw, sizeof(g_dirs.raw), "%s/raw", g_dirs.root);
    if (mkdir(g_dirs.enc, 0700) != 0 || mkdir(g_dirs.raw, 0700) != 0) {
        perror("mkdir");
        exit(1);
    }
}

static long rss_kb(const char *field)
{
    char line[256];
    long v = -1;
    size_t flen = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static void die_rc(const char *what, int rc)
{
    fprintf(stderr, "storage_bench: %s failed: %s (%d)\n", what, tr_strerror(rc), rc);
    dirs_cleanup();
    exit(1);
}

static void die_mdb(const char *what, int mrc)
{
    fprintf(stderr, "storage_bench: %s failed: %s\n", what, mdb_strerror(mrc));
    dirs_cleanup();
    exit(1);
}

/* ---- latencies ------------------------------------------------------------------------------ */

struct lat {
    uint64_t *v;
    size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 4096;
        uint64_t *nv = realloc(l->v, ncap * sizeof(*nv));
        if (!nv)
            return; /* sample dropped; throughput still counted */
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = ns;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Merge per-thread samples; p50/p99 in milliseconds. */
static void lat_pcts(struct lat *ls, size_t n, double *p50, double *p99)
{
    struct lat all = {0};

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < ls[i].n; j++)
            lat_add(&all, ls[i].v[j]);
    }
    *p50 = *p99 = 0;
    if (all.n) {
        qsort(all.v, all.n, sizeof(*all.v), u64_cmp);
        *p50 = (double)all.v[(all.n - 1) / 2] / 1e6;
        *p99 = (double)all.v[(size_t)((double)(all.n - 1) * 0.99)] / 1e6;
    }
    free(all.v);
}

/* ---- trusted core and store ------------------------------------------------------------------ */

static void quiet_sink(void *arg, enum tr_log_level level, const char *line)
{
    (void)arg;
    /* The devkey seal warns on every enc_init; that is expected here. */
    if (level <= TR_LOG_WARN && !strstr(line, "INSECURE: devkey"))
        fprintf(stderr, "  [tresor] %s\n", line);
}

static void core_config(struct enc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seal_type = ENC_SEAL_DEVKEY;
    cfg->dev_mode = true;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", g_dirs.enc);
    snprintf(cfg->devkey_file, sizeof(cfg->devkey_file), "%s/dev.key", g_dirs.enc);
    cfg->counter_type = ENC_COUNTER_FILE;
    if (g_tpm) {
        const char *tcti = getenv("TR_BENCH_TCTI");
        if (!tcti || !*tcti) {
            fprintf(stderr, "storage_bench: tpm needs TR_BENCH_TCTI=swtpm:host=...,port=...\n");
            exit(2);
        }
        cfg->counter_type = ENC_COUNTER_TPM2;
        snprintf(cfg->counter_tcti, sizeof(cfg->counter_tcti), "%s", tcti);
        cfg->nv_index = g_nv_index;
    }
}

/* enc_init (+ enc_initialize on first use) and unseal. */
static void core_up(bool first)
{
    struct enc_config cfg;
    int rc;

    core_config(&cfg);
    if ((rc = enc_init(&cfg)) != TR_OK)
        die_rc("enc_init", rc);
    if (first) {
        struct enc_shares *sh = calloc(1, sizeof(*sh));
        if (!sh)
            die_rc("calloc", TR_E_NOMEM);
        if ((rc = enc_initialize(1, 1, sh)) != TR_OK)
            die_rc("enc_initialize", rc);
        memset(sh, 0, sizeof(*sh));
        free(sh);
    }
    if ((rc = enc_unseal_auto()) != TR_OK)
        die_rc("enc_unseal_auto", rc);
}

static struct store *store_up(bool create, uint64_t nkeys)
{
    struct store_opts o;
    struct store *st = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    o.path = g_dirs.data;
    o.map_size_initial = nkeys * 1024 > (64ull << 20) ? nkeys * 1024 : 0;
    o.map_size_max = 16ull << 30;
    o.allow_create = create;
    if ((rc = store_open(&o, &st)) != TR_OK)
        die_rc("store_open", rc);
    return st;
}

static MDB_env *raw_open(MDB_dbi *dbi, bool create)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    int mrc;

    if ((mrc = mdb_env_create(&env)) != 0 || (mrc = mdb_env_set_mapsize(env, RAW_MAP)) != 0 ||
        (mrc = mdb_env_set_maxreaders(env, 256)) != 0)
        die_mdb("raw env_create", mrc);
    /* Durable defaults, MDB_NOTLS as the store uses. */
    if ((mrc = mdb_env_open(env, g_dirs.raw, MDB_NOTLS, 0600)) != 0)
        die_mdb("raw env_open", mrc);
    if ((mrc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
        (mrc = mdb_dbi_open(txn, NULL, create ? MDB_CREATE : 0, dbi)) != 0 ||
        (mrc = mdb_txn_commit(txn)) != 0)
        die_mdb("raw dbi_open", mrc);
    return env;
}

/* Load nkeys "k000-<i>" records into the store (LOAD_CHUNK per request) and, with raw, into
 * the raw LMDB file in large transactions. */
static void load_keys(struct store *st, uint64_t nkeys, bool raw)
{
    struct store_op *ops = calloc(LOAD_CHUNK, sizeof(*ops));
    char(*keys)[KEY_CAP] = calloc(LOAD_CHUNK, KEY_CAP);
    uint8_t(*vals)[VAL_LEN] = calloc(LOAD_CHUNK, VAL_LEN);
    int rc;

    if (!ops || !keys || !vals)
        die_rc("calloc", TR_E_NOMEM);
    for (uint64_t base = 0; base < nkeys; base += LOAD_CHUNK) {
        size_t n = nkeys - base < LOAD_CHUNK ? (size_t)(nkeys - base) : LOAD_CHUNK;
        for (size_t i = 0; i < n; i++) {
            int kl = key_fmt(keys[i], "k", 0, (unsigned long long)(base + i));
            fill_val(vals[i], base + i);
            ops[i] = (struct store_op){STORE_OP_PUT, TABLE,   (const uint8_t *)keys[i], (size_t)kl,
                                       vals[i],      VAL_LEN, STORE_VERSION_ABSENT};
        }
        if ((rc = store_write(st, ops, n, NULL)) != TR_OK)
            die_rc("store_write (load)", rc);
    }
    if (raw) {
        MDB_dbi dbi;
        MDB_env *env = raw_open(&dbi, true);
        MDB_txn *txn = NULL;
        int mrc = 0;
        for (uint64_t i = 0; i < nkeys && mrc == 0; i++) {
            uint8_t v[VAL_LEN];
            char k[KEY_CAP];
            int kl = key_fmt(k, "k", 0, (unsigned long long)i);
            MDB_val mk = {(size_t)kl, k}, mv = {VAL_LEN, v};
            fill_val(v, i);
            if (!txn && (mrc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
                break;
            mrc = mdb_put(txn, dbi, &mk, &mv, 0);
            if (mrc == 0 && (i % 65536 == 65535 || i + 1 == nkeys)) {
                mrc = mdb_txn_commit(txn);
                txn = NULL;
            }
        }
        if (mrc != 0)
            die_mdb("raw load", mrc);
        mdb_env_close(env);
    }
    free(ops);
    free(keys);
    free(vals);
}

/* ---- write mode ------------------------------------------------------------------------------ */

struct rreq {
    char key[KEY_CAP];
    size_t klen;
    const uint8_t *val;
    int rc;
    bool done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rreq *next;
};

/* Raw group commit: the baseline for the store's writer thread. */
struct rawgc {
    MDB_env *env;
    MDB_dbi dbi;
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv;
    struct rreq *head, *tail;
    bool stopping;
    uint64_t batches, writes;
    pthread_t thr;
};

static void *rawgc_main(void *arg)
{
    struct rawgc *g = arg;

    pthread_mutex_lock(&g->q_mu);
    for (;;) {
        struct rreq *list;
        MDB_txn *txn = NULL;
        int mrc;

        while (!g->head && !g->stopping)
            pthread_cond_wait(&g->q_cv, &g->q_mu);
        if (!g->head)
            break;
        list = g->head;
        g->head = g->tail = NULL;
        pthread_mutex_unlock(&g->q_mu);
        mrc = mdb_txn_begin(g->env, NULL, 0, &txn);
        for (struct rreq *r = list; r && mrc == 0; r = r->next) {
            MDB_val k = {r->klen, r->key}, v = {VAL_LEN, (void *)r->val};
            mrc = mdb_put(txn, g->dbi, &k, &v, 0);
            g->writes++;
        }
        if (mrc == 0)
            mrc = mdb_txn_commit(txn);
        else if (txn)
            mdb_txn_abort(txn);
        g->batches++;
        for (struct rreq *r = list, *next; r; r = next) {
            next = r->next;
            pthread_mutex_lock(&r->mu);
            r->rc = mrc;
            r->done = true;
            pthread_cond_signal(&r->cv);
            pthread_mutex_unlock(&r->mu);
        }
        pthread_mutex_lock(&g->q_mu);
    }
    pthread_mutex_unlock(&g->q_mu);
    return NULL;
}

/* Blocking submit, the same shape as store_write (a heap request with its own mutex and
 * condition, freed by the submitter once the writer has signalled it). */
static int rawgc_write(struct rawgc *g, const char *key, size_t klen, const uint8_t *val)
{
    struct rreq *r = calloc(1, sizeof(*r));
    int rc;

    if (!r)
        return ENOMEM;
    memcpy(r->key, key, klen);
    r->klen = klen;
    r->val = val;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_mutex_lock(&g->q_mu);
    if (g->tail)
        g->tail->next = r;
    else
        g->head = r;
    g->tail = r;
    pthread_cond_signal(&g->q_cv);
    pthread_mutex_unlock(&g->q_mu);
    pthread_mutex_lock(&r->mu);
    while (!r->done)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    rc = r->rc;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    return rc;
}

struct wctx {
    unsigned id;
    struct store *st; /* NULL: raw */
    struct rawgc *raw;
    struct lat lat;
    unsigned long long next; /* next key number: keys stay distinct across rounds */
    uint64_t ok, err;
    int first_err;
};

static void *writer_thread(void *arg)
{
    struct wctx *w = arg;
    uint8_t val[VAL_LEN];
    char key[KEY_CAP];

    fill_val(val, w->id);
    while (!atomic_load(&g_stop) && !w->err) {
        int kl = key_fmt(key, "w", w->id, w->next++), rc;
        uint64_t t0 = now_ns();
        if (w->st) {
            struct store_op op = {STORE_OP_PUT, TABLE,   (const uint8_t *)key, (size_t)kl,
                                  val,          VAL_LEN, STORE_VERSION_ANY};
            rc = store_write(w->st, &op, 1, NULL);
        } else {
            rc = rawgc_write(w->raw, key, (size_t)kl, val);
        }
        if (rc != 0) {
            w->err++;
            w->first_err = rc;
            break;
        }
        w->ok++;
        lat_add(&w->lat, now_ns() - t0);
    }
    return NULL;
}

/* Run fn on n threads (ctx[i], stride sz) for ms milliseconds; returns the elapsed ns. */
static uint64_t run_round(unsigned n, unsigned ms, void *(*fn)(void *), void *ctx, size_t sz)
{
    pthread_t *t = calloc(n, sizeof(*t));
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    uint64_t t0;

    if (!t)
        die_rc("calloc", TR_E_NOMEM);
    atomic_store(&g_stop, false);
    t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&t[i], NULL, fn, (char *)ctx + i * sz) != 0)
            die_rc("pthread_create", TR_E_NOMEM);
    }
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    atomic_store(&g_stop, true);
    for (unsigned i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
    return now_ns() - t0;
}

struct wresult {
    double rate, p50, p99;
    uint64_t ok, err;
    int first_err;
};

static struct wresult wsummary(struct wctx *w, unsigned n, uint64_t ns)
{
    struct lat *ls = calloc(n, sizeof(*ls));
    struct wresult r;

    memset(&r, 0, sizeof(r));
    if (!ls)
        die_rc("calloc", TR_E_NOMEM);
    for (unsigned i = 0; i < n; i++) {
        r.ok += w[i].ok;
        r.err += w[i].err;
        if (w[i].first_err && !r.first_err)
            r.first_err = w[i].first_err;
        ls[i] = w[i].lat;
    }
    r.rate = ns ? (double)r.ok / ((double)ns / 1e9) : 0;
    lat_pcts(ls, n, &r.p50, &r.p99);
    for (unsigned i = 0; i < n; i++)
        free(ls[i].v);
    free(ls);
    return r;
}

static double loadavg(void)
{
    double v = -1;
    FILE *f = fopen("/proc/loadavg", "r");

    if (f) {
        if (fscanf(f, "%lf", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* Both sides stay open; SECONDS rounds of one second each alternate tresor and raw (order
 * swapped every round), so a noisy neighbour on a shared VM hits both alike. */
static int mode_write(unsigned n, unsigned secs)
{
    struct wctx *wt = calloc(n, sizeof(*wt)), *wr = calloc(n, sizeof(*wr));
    struct store_stats s0, s1;
    struct wresult tr, rw;
    struct rawgc g;
    struct store *st;
    uint64_t ns_t = 0, ns_r = 0, incr_ns = 0, incr_cpu_ns = 0;
    double batch, raw_batch, la = loadavg();

    if (!wt || !wr)
        die_rc("calloc", TR_E_NOMEM);
    core_up(true);
    st = store_up(true, 0);
    memset(&g, 0, sizeof(g));
    g.env = raw_open(&g.dbi, true);
    pthread_mutex_init(&g.q_mu, NULL);
    pthread_cond_init(&g.q_cv, NULL);
    if (pthread_create(&g.thr, NULL, rawgc_main, &g) != 0)
        die_rc("pthread_create", TR_E_NOMEM);
    for (unsigned i = 0; i < n; i++) {
        wt[i].id = wr[i].id = i;
        wt[i].st = st;
        wr[i].raw = &g;
    }
    store_stats_get(st, &s0);
    for (unsigned r = 0; r < secs; r++) {
        if (r % 2 == 0)
            ns_t += run_round(n, 1000, writer_thread, wt, sizeof(*wt));
        ns_r += run_round(n, 1000, writer_thread, wr, sizeof(*wr));
        if (r % 2 == 1)
            ns_t += run_round(n, 1000, writer_thread, wt, sizeof(*wt));
    }
    store_stats_get(st, &s1);
    store_close(st);
    /* The counter on its own (the store is closed and thrown away: moving it is harmless). */
    for (int i = 0; i < INCR_SAMPLES; i++) {
        uint64_t c = 0, i0 = now_ns(), c0 = cpu_ns();
        int rc = enc_counter_increment(&c);
        if (rc != TR_OK)
            die_rc("enc_counter_increment", rc);
        incr_ns += now_ns() - i0;
        incr_cpu_ns += cpu_ns() - c0;
    }
    enc_fini();
    pthread_mutex_lock(&g.q_mu);
    g.stopping = true;
    pthread_cond_signal(&g.q_cv);
    pthread_mutex_unlock(&g.q_mu);
    pthread_join(g.thr, NULL);
    mdb_env_close(g.env);

    tr = wsummary(wt, n, ns_t);
    rw = wsummary(wr, n, ns_r);
    if (tr.err)
        fprintf(stderr, "storage_bench: %llu tresor write errors, first %s\n",
                (unsigned long long)tr.err, tr_strerror(tr.first_err));
    if (rw.err)
        fprintf(stderr, "storage_bench: %llu raw write errors, first %s\n",
                (unsigned long long)rw.err, mdb_strerror(rw.first_err));
    batch = s1.batches > s0.batches
                ? (double)(s1.writes - s0.writes) / (double)(s1.batches - s0.batches)
                : 0;
    raw_batch = g.batches ? (double)g.writes / (double)g.batches : 0;
    printf("storage-write writers=%u counter=%s secs=%u tresor=%.0f/s raw=%.0f/s ratio=%.3f "
           "p50=%.2fms p99=%.2fms batch=%.1f increments=%llu batches=%llu errors=%llu "
           "raw_p50=%.2fms raw_p99=%.2fms raw_batch=%.1f raw_commits=%llu incr=%.2fms "
           "incr_cpu=%.2fms loadavg=%.1f\n",
           n, g_tpm ? "tpm" : "file", secs, tr.rate, rw.rate, rw.rate > 0 ? tr.rate / rw.rate : 0,
           tr.p50, tr.p99, batch, (unsigned long long)(s1.increments - s0.increments),
           (unsigned long long)(s1.batches - s0.batches), (unsigned long long)tr.err, rw.p50,
           rw.p99, raw_batch, (unsigned long long)g.batches, (double)incr_ns / INCR_SAMPLES / 1e6,
           (double)incr_cpu_ns / INCR_SAMPLES / 1e6, la);
    free(wt);
    free(wr);
    return tr.err || rw.err ? 1 : 0;
}

/* ---- read mode -------------------------------------------------------------------------------- */

struct rctx {
    unsigned id;
    uint64_t nkeys;
    struct store *st; /* NULL: raw */
    MDB_env *env;
    MDB_dbi dbi;
    uint64_t ok, bad;
    uint64_t cpu; /* ns of this thread's CPU time over its rounds */
    int first_err;
};

static void *reader_thread(void *arg)
{
    struct rctx *r = arg;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (r->id + 1);
    MDB_txn *txn = NULL;
    uint8_t copy[VAL_LEN];
    uint64_t c0 = cpu_ns();
    int mrc;

    if (!r->st && (mrc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn)) != 0) {
        r->first_err = mrc;
        return NULL;
    }
    if (txn)
        mdb_txn_reset(txn);
    while (!atomic_load(&g_stop)) {
        uint64_t i = xorshift(&seed) % r->nkeys;
        const char *key = g_rkeys[i];
        size_t kl = g_rklen[i];
        if (r->st) {
            struct enc_secret *v = NULL;
            int rc = store_get(r->st, TABLE, (const uint8_t *)key, kl, &v, NULL);
            if (rc != TR_OK || enc_secret_len(v) != VAL_LEN) {
                r->bad++;
                if (!r->first_err)
                    r->first_err = rc ? rc : TR_E_INTERNAL;
            } else {
                r->ok++;
            }
            enc_secret_free(v);
        } else {
            MDB_val k = {kl, (void *)key}, v;
            if ((mrc = mdb_txn_renew(txn)) == 0 && (mrc = mdb_get(txn, r->dbi, &k, &v)) == 0 &&
                v.mv_size == VAL_LEN) {
                memcpy(copy, v.mv_data, VAL_LEN);
                r->ok += copy[0] != 0;
            } else {
                r->bad++;
                if (!r->first_err)
                    r->first_err = mrc ? mrc : MDB_CORRUPTED;
            }
            mdb_txn_reset(txn);
        }
    }
    if (txn)
        mdb_txn_abort(txn);
    r->cpu += cpu_ns() - c0;
    return NULL;
}

static int mode_read(uint64_t nkeys, unsigned secs, unsigned threads)
{
    struct rctx *rt = calloc(threads, sizeof(*rt)), *rr = calloc(threads, sizeof(*rr));
    struct store *st;
    MDB_env *env;
    MDB_dbi dbi;
    uint64_t t0, ns_t = 0, ns_r = 0, ok_t = 0, ok_r = 0, bad_t = 0, bad_r = 0, cpu_t = 0, cpu_r = 0;
    double load_s, tr, rw, la, ctr, crw;

    g_rkeys = calloc(nkeys, KEY_CAP);
    g_rklen = calloc(nkeys, 1);
    if (!g_rkeys || !g_rklen || !rt || !rr)
        die_rc("calloc", TR_E_NOMEM);
    for (uint64_t i = 0; i < nkeys; i++)
        g_rklen[i] = (uint8_t)key_fmt(g_rkeys[i], "k", 0, (unsigned long long)i);
    core_up(true);
    st = store_up(true, nkeys);
    t0 = now_ns();
    load_keys(st, nkeys, true);
    load_s = (double)(now_ns() - t0) / 1e9;
    env = raw_open(&dbi, false);
    for (unsigned i = 0; i < threads; i++) {
        rt[i] = (struct rctx){.id = i, .nkeys = nkeys, .st = st};
        rr[i] = (struct rctx){.id = i, .nkeys = nkeys, .env = env, .dbi = dbi};
    }
    la = loadavg();
    for (unsigned r = 0; r < secs; r++) {
        if (r % 2 == 0)
            ns_t += run_round(threads, 1000, reader_thread, rt, sizeof(*rt));
        ns_r += run_round(threads, 1000, reader_thread, rr, sizeof(*rr));
        if (r % 2 == 1)
            ns_t += run_round(threads, 1000, reader_thread, rt, sizeof(*rt));
    }
    for (unsigned i = 0; i < threads; i++) {
        ok_t += rt[i].ok;
        bad_t += rt[i].bad;
        ok_r += rr[i].ok;
        bad_r += rr[i].bad;
        cpu_t += rt[i].cpu;
        cpu_r += rr[i].cpu;
        if (rt[i].first_err)
            fprintf(stderr, "storage_bench: reader %u: first error %s\n", i,
                    tr_strerror(rt[i].first_err));
        if (rr[i].first_err)
            fprintf(stderr, "storage_bench: raw reader %u: first error %s\n", i,
                    mdb_strerror(rr[i].first_err));
    }
    tr = ns_t ? (double)ok_t / ((double)ns_t / 1e9) : 0;
    rw = ns_r ? (double)ok_r / ((double)ns_r / 1e9) : 0;
    /* per CPU-second of the reader threads: on a shared machine this ratio does not move with
     * how much of the CPU the other processes leave to each round */
    ctr = cpu_t ? (double)ok_t / ((double)cpu_t / 1e9) : 0;
    crw = cpu_r ? (double)ok_r / ((double)cpu_r / 1e9) : 0;
    mdb_env_close(env);
    store_close(st);
    enc_fini();
    printf("storage-read keys=%llu threads=%u secs=%u tresor=%.0f/s raw=%.0f/s ratio=%.4f "
           "errors=%llu raw_errors=%llu load=%.1fs loadavg=%.1f tresor_cpu=%.0f/s raw_cpu=%.0f/s "
           "cpu_ratio=%.4f\n",
           (unsigned long long)nkeys, threads, secs, tr, rw, rw > 0 ? tr / rw : 0,
           (unsigned long long)bad_t, (unsigned long long)bad_r, load_s, la, ctr, crw,
           crw > 0 ? ctr / crw : 0);
    free(g_rkeys);
    free(g_rklen);
    free(rt);
    free(rr);
    return bad_t || bad_r ? 1 : 0;
}

/* ---- startup mode ----------------------------------------------------------------------------- */

static int mode_startup(uint64_t nkeys)
{
    struct store_stats s;
    struct store *st;
    uint64_t t0, t1, t2, t3, t4, sum = 0, seen = 0;
    long anon0, anon1, file1, hwm1;
    MDB_env *env;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    MDB_dbi dbi;
    int status = 0, mrc;
    pid_t pid;

    t0 = now_ns();
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        die_rc("fork", TR_E_IO);
    if (pid == 0) {
        core_up(true);
        st = store_up(true, nkeys);
        load_keys(st, nkeys, true);
        store_close(st);
        enc_fini();
        _exit(0);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "storage_bench: loader failed\n");
        return 1;
    }
    t1 = now_ns();

    /* Measured: a fresh process state (nothing loaded here), as at server start. */
    {
        struct enc_config cfg;
        int rc;
        core_config(&cfg);
        if ((rc = enc_init(&cfg)) != TR_OK)
            die_rc("enc_init", rc);
    }
    anon0 = rss_kb("RssAnon");
    t2 = now_ns();
    {
        int rc = enc_unseal_auto();
        if (rc != TR_OK)
            die_rc("enc_unseal_auto", rc);
    }
    t3 = now_ns();
    st = store_up(false, nkeys);
    t4 = now_ns();
    anon1 = rss_kb("RssAnon");
    file1 = rss_kb("RssFile");
    hwm1 = rss_kb("VmHWM");
    store_stats_get(st, &s);
    store_close(st);
    enc_fini();

    /* Baseline: open the raw LMDB copy and read every value once. */
    {
        uint64_t r0 = now_ns(), r1;
        env = raw_open(&dbi, false);
        if ((mrc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
            (mrc = mdb_cursor_open(txn, dbi, &cur)) != 0)
            die_mdb("raw scan", mrc);
        while (mdb_cursor_get(cur, &k, &v, seen ? MDB_NEXT : MDB_FIRST) == 0) {
            sum += ((const uint8_t *)v.mv_data)[v.mv_size - 1];
            seen++;
        }
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        mdb_env_close(env);
        r1 = now_ns();
        printf("startup keys=%llu counter=%s open=%.3fs unseal=%.3fs store_open=%.3fs "
               "rss_anon=%.1fMiB rss_anon_before=%.1fMiB rss_file=%.1fMiB hwm=%.1fMiB "
               "records=%llu raw_scan=%.3fs ratio=%.1f load=%.1fs\n",
               (unsigned long long)nkeys, g_tpm ? "tpm" : "file", (double)(t4 - t2) / 1e9,
               (double)(t3 - t2) / 1e9, (double)(t4 - t3) / 1e9, (double)anon1 / 1024.0,
               (double)anon0 / 1024.0, (double)file1 / 1024.0, (double)hwm1 / 1024.0,
               (unsigned long long)s.records, (double)(r1 - r0) / 1e9,
               r1 > r0 ? (double)(t4 - t2) / (double)(r1 - r0) : 0, (double)(t1 - t0) / 1e9);
    }
    return seen == nkeys && sum > 0 ? 0 : 1;
}

/* ---- main ------------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: storage_bench write N_WRITERS SECONDS [tpm|file]\n"
                    "       storage_bench read NKEYS SECONDS THREADS\n"
                    "       storage_bench startup NKEYS [tpm|file]\n");
    exit(2);
}

static bool counter_arg(int argc, char **argv, int i)
{
    if (argc <= i)
        return false;
    if (strcmp(argv[i], "tpm") == 0)
        return true;
    if (strcmp(argv[i], "file") != 0)
        usage();
    return false;
}

int main(int argc, char **argv)
{
    int rc;

    if (argc < 3)
        usage();
    tr_log_set_sink(quiet_sink, NULL);
    tr_log_set_level(TR_LOG_WARN);
    {
        const char *nv = getenv("TR_BENCH_NV");
        g_nv_index = nv && *nv ? (uint32_t)parse_long(nv, 0x01000000, 0x01ffffff)
                               : 0x01500000u + (uint32_t)(getpid() % 0x8000);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(argv[1], "write") == 0 && argc >= 4) {
        unsigned n = (unsigned)parse_long(argv[2], 1, 1024);
        unsigned secs = (unsigned)parse_long(argv[3], 1, 600);
        g_tpm = counter_arg(argc, argv, 4);
        dirs_make();
        rc = mode_write(n, secs);
    } else if (strcmp(argv[1], "read") == 0 && argc >= 5) {
        uint64_t nkeys = (uint64_t)parse_long(argv[2], 1, 100000000);
        unsigned secs = (unsigned)parse_long(argv[3], 1, 600);
        unsigned threads = (unsigned)parse_long(argv[4], 1, 100);
        dirs_make();
        rc = mode_read(nkeys, secs, threads);
    } else if (strcmp(argv[1], "startup") == 0) {
        uint64_t nkeys = (uint64_t)parse_long(argv[2], 1, 100000000);
        g_tpm = counter_arg(argc, argv, 3);
        dirs_make();
        rc = mode_startup(nkeys);
    } else {
        usage();
        return 2;
    }
    dirs_cleanup();
    return rc;
}
