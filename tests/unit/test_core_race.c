/*
 * test_core_race - the api core's store lifecycle (api_core.c) when seal, unseal, storage
 * recovery and data requests come at once: the data directory is never opened twice in the
 * process (nor re-anchored while a store holds it), and a store the core was sealed behind is
 * verified again at the next unseal rather than served as it is.
 *
 * Real components throughout: the trusted core with a shamir seal and a file counter, LMDB on
 * disk, the audit device, and requests through api_handle as the HTTP workers send them. To hold
 * one step in place while another comes, the binary interposes two libc calls (as test_audit
 * does for fdatasync), and only for the store's lock file, path/tresor.lock: flock, which every
 * store_open and store_recover_reanchor takes first, and close, which releases it as the last
 * step of store_close. Each can park its next caller until the test releases it; then the real
 * system call runs. The lock's holders and waiters give the invariant checked everywhere: a
 * flock on the lock file while another store holds it, or is on its way to it, is an overlap.
 * Random choices in the storm come from a seed printed at start (TR_TEST_SEED).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "../../api/api_int.h"
#include "../../common/tr_log.h"
#include "../../enclave/enclave.h"
#include "../support/api_request.h"

#define WAIT_PARKED_MS 10000 /* a step that must come: generous for a loaded machine */
#define WAIT_RACE_MS   1000  /* how long the second party gets to run into the first */
#define LOCKS_MAX      8

/* ---- the lock file observer -------------------------------------------------------------- */

enum gate { GATE_FLOCK, GATE_CLOSE, GATE_N };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool arm[GATE_N];    /* park the next caller */
    bool parked[GATE_N]; /* a caller is parked */
    bool go[GATE_N];     /* let it go on */
    int held[LOCKS_MAX]; /* descriptors holding the lock file */
    int nheld;
    int taking;   /* flock calls on the lock file under way */
    int flocks;   /* flock calls on the lock file so far */
    int overlaps; /* flocks that came while the lock was held or being taken */
} obs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static bool is_lock_file(int fd)
{
    char link[64], path[512];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
        return false;
    path[n] = '\0';
    return n >= 12 && strcmp(path + n - 12, "/tresor.lock") == 0;
}

/* Called with obs.mu held; parks the caller if the gate is armed. */
static void gate_pass_locked(enum gate g)
{
    if (!obs.arm[g])
        return;
    obs.arm[g] = false;
    obs.parked[g] = true;
    pthread_cond_broadcast(&obs.cond);
    while (!obs.go[g])
        pthread_cond_wait(&obs.cond, &obs.mu);
    obs.go[g] = false;
    obs.parked[g] = false;
    pthread_cond_broadcast(&obs.cond);
}

int flock(int fd, int op)
{
    bool mine = (op & LOCK_EX) && is_lock_file(fd);
    long r;

    if (mine) {
        pthread_mutex_lock(&obs.mu);
        obs.flocks++;
        if (obs.nheld > 0 || obs.taking > 0)
            obs.overlaps++;
        obs.taking++;
        gate_pass_locked(GATE_FLOCK);
        pthread_mutex_unlock(&obs.mu);
    }
    r = syscall(SYS_flock, fd, op);
    if (mine) {
        pthread_mutex_lock(&obs.mu);
        obs.taking--;
        if (r == 0 && obs.nheld < LOCKS_MAX)
            obs.held[obs.nheld++] = fd;
        pthread_cond_broadcast(&obs.cond);
        pthread_mutex_unlock(&obs.mu);
    }
    return (int)r;
}

int close(int fd)
{
    pthread_mutex_lock(&obs.mu);
    for (int i = 0; i < obs.nheld; i++) {
        if (obs.held[i] != fd)
            continue;
        gate_pass_locked(GATE_CLOSE);
        obs.held[i] = obs.held[--obs.nheld];
        break;
    }
    pthread_mutex_unlock(&obs.mu);
    return (int)syscall(SYS_close, fd);
}

static void obs_arm(enum gate g)
{
    pthread_mutex_lock(&obs.mu);
    obs.arm[g] = true;
    pthread_mutex_unlock(&obs.mu);
}

static void obs_release(enum gate g)
{
    pthread_mutex_lock(&obs.mu);
    obs.arm[g] = false;
    if (obs.parked[g])
        obs.go[g] = true;
    pthread_cond_broadcast(&obs.cond);
    pthread_mutex_unlock(&obs.mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static bool wait_parked(enum gate g, int ms)
{
    struct timespec ts;
    int rc = 0;

    deadline_in(&ts, ms);
    pthread_mutex_lock(&obs.mu);
    while (!obs.parked[g] && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&obs.cond, &obs.mu, &ts);
    bool parked = obs.parked[g];
    pthread_mutex_unlock(&obs.mu);
    return parked;
}

static int obs_get(const int *field)
{
    pthread_mutex_lock(&obs.mu);
    int v = *field;
    pthread_mutex_unlock(&obs.mu);
    return v;
}

/* ---- log capture ------------------------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    int lock_busy;  /* "held by another Tresor store" */
    int open_fail;  /* "storage did not open" */
    char last[512]; /* the last error line, for the failure message */
} logs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void log_sink(void *arg, enum tr_log_level level, const char *line)
{
    (void)arg;
    pthread_mutex_lock(&logs.mu);
    if (strstr(line, "held by another Tresor store"))
        logs.lock_busy++;
    if (strstr(line, "storage did not open"))
        logs.open_fail++;
    if (level == TR_LOG_ERROR)
        snprintf(logs.last, sizeof(logs.last), "%s", line);
    pthread_mutex_unlock(&logs.mu);
    if (getenv("TR_TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", line);
}

static int logs_get(const int *field)
{
    pthread_mutex_lock(&logs.mu);
    int v = *field;
    pthread_mutex_unlock(&logs.mu);
    return v;
}

/* ---- fixture ----------------------------------------------------------------------------- */

struct fx {
    char root[64];
    char enc_dir[96];
    char st_dir[96];
    char audit[96];
    struct enc_config cfg;
    struct api *api;
    char key[2 * ENC_SHARE_BYTES + 1]; /* the one unseal share, hex (test data) */
    char token[128];                   /* the root token (test data) */
    char key_body[2 * ENC_SHARE_BYTES + 16];
};

static void seal_status(struct fx *f, bool *sealed, char *reason, size_t cap)
{
    json_t *b = NULL;

    assert_int_equal(request(f->api, API_GET, "/v1/sys/seal-status", NULL, NULL, &b), 200);
    *sealed = json_is_true(json_object_get(b, "sealed"));
    const char *r = json_string_value(json_object_get(b, "sealed_reason"));
    snprintf(reason, cap, "%s", r ? r : "");
    json_decref(b);
}

static bool is_sealed(struct fx *f)
{
    char reason[64];
    bool sealed;

    seal_status(f, &sealed, reason, sizeof(reason));
    return sealed;
}

static int unseal(struct fx *f)
{
    return request(f->api, API_PUT, "/v1/sys/unseal", NULL, f->key_body, NULL);
}

static int seal(struct fx *f)
{
    return request(f->api, API_PUT, "/v1/sys/seal", f->token, NULL, NULL);
}

static int kv_put(struct fx *f, const char *key, const char *val)
{
    char path[160], body[160];

    snprintf(path, sizeof(path), "/v1/secret/data/%s", key);
    snprintf(body, sizeof(body), "{\"data\":{\"v\":\"%s\"}}", val);
    return request(f->api, API_PUT, path, f->token, body, NULL);
}

/* The value of key (status 200), else the status; *out "" when absent. */
static int kv_get(struct fx *f, const char *key, char *out, size_t cap)
{
    char path[160];
    json_t *b = NULL;

    snprintf(path, sizeof(path), "/v1/secret/data/%s", key);
    int st = request(f->api, API_GET, path, f->token, NULL, &b);
    const char *v = json_string_value(
        json_object_get(json_object_get(json_object_get(b, "data"), "data"), "v"));
    snprintf(out, cap, "%s", v ? v : "");
    json_decref(b);
    return st;
}

static void assert_kv(struct fx *f, const char *key, const char *want)
{
    char got[64];

    assert_int_equal(kv_get(f, key, got, sizeof(got)), 200);
    assert_string_equal(got, want);
}

/* The share as bytes, for the core's own entry points (wiped by the caller). */
static size_t share_bytes(const struct fx *f, uint8_t out[ENC_SHARE_BYTES])
{
    size_t n = 0;

    assert_int_equal(sodium_hex2bin(out, ENC_SHARE_BYTES, f->key, strlen(f->key), NULL, &n, NULL),
                     0);
    return n;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    json_t *b = NULL;

    assert_non_null(f);
    tr_log_set_sink(log_sink, NULL);
    pthread_mutex_lock(&logs.mu);
    logs.lock_busy = logs.open_fail = 0;
    logs.last[0] = '\0';
    pthread_mutex_unlock(&logs.mu);
    pthread_mutex_lock(&obs.mu);
    obs.flocks = obs.overlaps = 0;
    pthread_mutex_unlock(&obs.mu);
    snprintf(f->root, sizeof(f->root), "/tmp/tr-race-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->enc_dir, sizeof(f->enc_dir), "%s/enc", f->root);
    snprintf(f->st_dir, sizeof(f->st_dir), "%s/data", f->root);
    snprintf(f->audit, sizeof(f->audit), "%s/audit.log", f->root);
    assert_int_equal(mkdir(f->enc_dir, 0700), 0);
    f->cfg.seal_type = ENC_SEAL_SHAMIR;
    f->cfg.counter_type = ENC_COUNTER_FILE;
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->enc_dir);
    assert_int_equal(enc_init(&f->cfg), TR_OK);
    struct api_opts o = {.version = "test",
                         .build_date = "2024-01-01T00:00:00Z",
                         .data_dir = f->st_dir,
                         .audit_path = f->audit,
                         .audit_anchor_interval_ms = 20};
    assert_int_equal(api_new(&o, &f->api), TR_OK);
    assert_int_equal(request(f->api, API_PUT, "/v1/sys/init", NULL,
                             "{\"secret_shares\":1,\"secret_threshold\":1}", &b),
                     200);
    snprintf(f->key, sizeof(f->key), "%s",
             json_string_value(json_array_get(json_object_get(b, "keys"), 0)));
    snprintf(f->token, sizeof(f->token), "%s", json_string_value(json_object_get(b, "root_token")));
    api_json_wipe_tree(b);
    json_decref(b);
    snprintf(f->key_body, sizeof(f->key_body), "{\"key\":\"%s\"}", f->key);
    assert_int_equal(unseal(f), 200);
    assert_false(is_sealed(f));
    assert_int_equal(request(f->api, API_PUT, "/v1/sys/mounts/secret", f->token,
                             "{\"type\":\"kv\",\"options\":{\"version\":\"2\"}}", NULL),
                     204);
    assert_int_equal(kv_put(f, "before", "B"), 200);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    obs_release(GATE_FLOCK);
    obs_release(GATE_CLOSE);
    api_free(f->api);
    enc_fini();
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    pthread_mutex_lock(&obs.mu);
    int held = obs.nheld;
    pthread_mutex_unlock(&obs.mu);
    sodium_memzero(f, sizeof(*f));
    free(f);
    tr_log_set_sink(NULL, NULL);
    assert_int_equal(held, 0); /* every store that took the lock file closed it */
    return 0;
}

/* ---- jobs: one lifecycle call on its own thread ------------------------------------------- */

enum job_kind { JOB_AFTER_UNSEAL, JOB_SEAL, JOB_UNSEAL_REQ, JOB_RECOVER_REQ };

struct job {
    struct fx *f;
    enum job_kind kind;
    pthread_t tid;
    int rc; /* tr_err or HTTP status */
    bool done;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    int rc = 0;

    switch (j->kind) {
    case JOB_AFTER_UNSEAL:
        rc = api_core_after_unseal(j->f->api, false);
        break;
    case JOB_SEAL:
        api_core_seal(j->f->api, ENC_REASON_OPERATOR);
        break;
    case JOB_UNSEAL_REQ:
        rc = unseal(j->f);
        break;
    case JOB_RECOVER_REQ:
        rc = request(j->f->api, API_PUT, "/v1/sys/storage/recover", NULL, j->f->key_body, NULL);
        break;
    }
    pthread_mutex_lock(&obs.mu);
    j->rc = rc;
    j->done = true;
    pthread_cond_broadcast(&obs.cond);
    pthread_mutex_unlock(&obs.mu);
    return NULL;
}

static void job_start(struct job *j, struct fx *f, enum job_kind kind)
{
    memset(j, 0, sizeof(*j));
    j->f = f;
    j->kind = kind;
    assert_int_equal(pthread_create(&j->tid, NULL, job_main, j), 0);
}

static int job_join(struct job *j)
{
    assert_int_equal(pthread_join(j->tid, NULL), 0);
    return j->rc;
}

/* Give j up to ms to finish or to run into the lock a parked step holds. true: it finished. */
static bool job_race(struct job *j, int ms)
{
    struct timespec ts;
    int rc = 0;

    deadline_in(&ts, ms);
    pthread_mutex_lock(&obs.mu);
    int before = obs.overlaps;
    while (!j->done && obs.overlaps == before && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&obs.cond, &obs.mu, &ts);
    bool done = j->done;
    pthread_mutex_unlock(&obs.mu);
    return done;
}

/* Wait until j's step parks at gate g; if it never does, let it finish and fail the test (no
 * thread may outlive the fixture). */
static void expect_parked(enum gate g, struct job *j)
{
    if (wait_parked(g, WAIT_PARKED_MS))
        return;
    obs_release(g);
    (void)job_join(j);
    fail_msg("the step never reached the lock file");
}

/* ---- the deterministic interleavings ----------------------------------------------------- */

/* Two sys/unseal requests that both passed the "sealed?" check before either's share completed
 * the threshold (that step also opens the counter: with a TPM, a session to it): both see the
 * core unsealed after their submit and both call api_core_after_unseal. The second must wait for
 * the first's store, not open the directory again. */
static void test_core_race_unseal_twice_opens_once(void **state)
{
    struct fx *f = *state;
    uint8_t share[ENC_SHARE_BYTES];
    struct job a, b;

    assert_int_equal(seal(f), 204);
    size_t n = share_bytes(f, share);
    assert_int_equal(enc_unseal_submit(share, n, NULL), TR_OK);
    sodium_memzero(share, sizeof(share));
    int flocks = obs_get(&obs.flocks);

    obs_arm(GATE_FLOCK);
    job_start(&a, f, JOB_AFTER_UNSEAL);
    expect_parked(GATE_FLOCK, &a); /* a is opening the store */
    job_start(&b, f, JOB_AFTER_UNSEAL);
    (void)job_race(&b, WAIT_RACE_MS);
    obs_release(GATE_FLOCK);
    int ra = job_join(&a), rb = job_join(&b); /* both joined before any assertion can leave */
    assert_int_equal(ra, TR_OK);
    assert_int_equal(rb, TR_OK);

    assert_int_equal(obs_get(&obs.overlaps), 0);
    assert_int_equal(obs_get(&obs.flocks), flocks + 1); /* one open */
    assert_int_equal(logs_get(&logs.lock_busy), 0);
    assert_int_equal(logs_get(&logs.open_fail), 0);
    assert_false(is_sealed(f));
    assert_kv(f, "before", "B");
    assert_int_equal(kv_put(f, "after", "A"), 200);
    assert_kv(f, "after", "A");
}

/* Two seals at once (two sys/seal requests that both held their store reference before either
 * began to close reach api_core_seal like this): while the first is still closing the store,
 * the second must not seal the core and return, or an unseal would open the directory while the
 * first still holds it. */
static void test_core_race_second_seal_waits_for_close(void **state)
{
    struct fx *f = *state;
    struct job s1, s2, u;
    bool sealed;
    char reason[64];

    obs_arm(GATE_CLOSE);
    job_start(&s1, f, JOB_SEAL);
    expect_parked(GATE_CLOSE, &s1); /* s1: unpublished, still closing */
    job_start(&s2, f, JOB_SEAL);
    (void)job_race(&s2, WAIT_RACE_MS);
    job_start(&u, f, JOB_UNSEAL_REQ);
    (void)job_race(&u, WAIT_RACE_MS);
    obs_release(GATE_CLOSE);
    (void)job_join(&s1);
    (void)job_join(&s2);
    int ru = job_join(&u);
    assert_int_equal(ru, 200);

    assert_int_equal(obs_get(&obs.overlaps), 0);
    assert_int_equal(logs_get(&logs.lock_busy), 0);
    assert_int_equal(logs_get(&logs.open_fail), 0);
    seal_status(f, &sealed, reason, sizeof(reason));
    assert_true(sealed);
    assert_string_equal(reason, "sealed_by_operator");
    assert_int_equal(unseal(f), 200);
    assert_false(is_sealed(f));
    assert_kv(f, "before", "B");
}

/* The recovery quorum completes while an operator seal is closing the store: the re-anchor must
 * wait until the store is closed (and then finds the core sealed: the seal came first). */
static void test_core_race_recover_waits_for_seal(void **state)
{
    struct fx *f = *state;
    struct job s, r;

    obs_arm(GATE_CLOSE);
    job_start(&s, f, JOB_SEAL);
    expect_parked(GATE_CLOSE, &s);
    job_start(&r, f, JOB_RECOVER_REQ);
    (void)job_race(&r, WAIT_RACE_MS);
    obs_release(GATE_CLOSE);
    (void)job_join(&s);
    int st = job_join(&r);

    assert_int_equal(obs_get(&obs.overlaps), 0);
    assert_int_equal(logs_get(&logs.lock_busy), 0);
    assert_int_equal(logs_get(&logs.open_fail), 0);
    assert_int_equal(st, 503); /* the seal came first: sealed, no store, nothing re-anchored */
    assert_true(is_sealed(f));
    assert_int_equal(unseal(f), 200);
    assert_false(is_sealed(f));
    assert_kv(f, "before", "B");
}

/* An unseal whose share went in just before the recovery quorum unsealed the core finds it
 * unsealed and opens the store: it must wait for the recovery's re-anchor and open, then use
 * that store. */
static void test_core_race_unseal_waits_for_recover(void **state)
{
    struct fx *f = *state;
    struct job r, u;

    assert_int_equal(seal(f), 204);
    obs_arm(GATE_FLOCK);
    job_start(&r, f, JOB_RECOVER_REQ);
    expect_parked(GATE_FLOCK, &r); /* r is re-anchoring */
    job_start(&u, f, JOB_AFTER_UNSEAL);
    (void)job_race(&u, WAIT_RACE_MS);
    obs_release(GATE_FLOCK);
    int rr = job_join(&r), ru = job_join(&u);
    assert_int_equal(rr, 200);
    assert_int_equal(ru, TR_OK);

    assert_int_equal(obs_get(&obs.overlaps), 0);
    assert_int_equal(logs_get(&logs.lock_busy), 0);
    assert_int_equal(logs_get(&logs.open_fail), 0);
    assert_false(is_sealed(f));
    assert_kv(f, "before", "B");
}

/* The store seals the core behind the api's back (the counter moved: tamper verdict) and keeps
 * the store open. The next unseal must close it and verify the directory again (store.h: "after
 * the next unseal, close and reopen the store"), which finds the state behind the counter: the
 * server stays sealed until the recovery quorum accepts it, as after a restart. */
static void test_core_race_unseal_after_counter_moved_reopens(void **state)
{
    struct fx *f = *state;
    uint64_t v = 0;
    bool sealed;
    char reason[64];

    assert_int_equal(enc_counter_increment(&v), TR_OK); /* behind the store's back */
    assert_int_not_equal(kv_put(f, "moved", "M"), 200);
    seal_status(f, &sealed, reason, sizeof(reason));
    assert_true(sealed);
    assert_string_equal(reason, "tamper_detected");
    int flocks = obs_get(&obs.flocks);

    assert_int_equal(unseal(f), 200);
    assert_int_equal(obs_get(&obs.flocks), flocks + 1); /* verified again */
    seal_status(f, &sealed, reason, sizeof(reason));
    assert_true(sealed);
    assert_string_equal(reason, "rollback_detected");
    assert_int_equal(request(f->api, API_PUT, "/v1/sys/storage/recover", NULL, f->key_body, NULL),
                     200);
    assert_false(is_sealed(f));
    assert_kv(f, "before", "B");
    assert_int_equal(obs_get(&obs.overlaps), 0);
}

/* ---- the storm --------------------------------------------------------------------------- */

#define STORM_MS      3000
#define STORM_WRITERS 3
#define STORM_KEYS    4096

static uint64_t test_seed(void)
{
    const char *env = getenv("TR_TEST_SEED");
    uint64_t seed;

    if (env && *env) {
        char *end = NULL;
        seed = strtoull(env, &end, 0);
        if (end && *end == '\0' && seed)
            return seed;
    }
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return seed ? seed : 1;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void sleep_ms(unsigned ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

struct storm {
    struct fx *f;
    atomic_bool stop;
    uint64_t seed;
    atomic_int acked[STORM_WRITERS]; /* writer w's keys w-0 .. w-(acked-1) were acknowledged */
    atomic_int wrong;                /* a read that lost or changed an acknowledged value */
    atomic_int bad_reason;           /* seal-status said rollback, tamper or fatal */
    atomic_int seals, unseals, recovers;
};

struct storm_arg {
    struct storm *s;
    int id;
};

static void *storm_writer(void *arg)
{
    struct storm_arg *a = arg;
    struct storm *s = a->s;
    uint64_t rng = s->seed + (uint64_t)a->id * 7919u;
    char key[32], val[32], got[64];

    for (int i = 0; i < STORM_KEYS && !atomic_load(&s->stop);) {
        snprintf(key, sizeof(key), "w%d-%d", a->id, i);
        snprintf(val, sizeof(val), "v%d-%d", a->id, i);
        if (kv_put(s->f, key, val) != 200) {
            sleep_ms(2); /* sealed (503), or sealed on the way: the same key again */
            continue;
        }
        atomic_store(&s->acked[a->id], ++i);
        int back = (int)(rng_next(&rng) % (uint64_t)i);
        snprintf(key, sizeof(key), "w%d-%d", a->id, back);
        snprintf(val, sizeof(val), "v%d-%d", a->id, back);
        int st = kv_get(s->f, key, got, sizeof(got));
        if ((st == 200 && strcmp(got, val) != 0) || st == 404)
            atomic_fetch_add(&s->wrong, 1); /* an acknowledged write is never lost or changed */
    }
    return NULL;
}

static void storm_check_reason(struct storm *s)
{
    bool sealed;
    char reason[64];

    seal_status(s->f, &sealed, reason, sizeof(reason));
    if (strcmp(reason, "rollback_detected") == 0 || strcmp(reason, "tamper_detected") == 0 ||
        strcmp(reason, "fatal_error") == 0)
        atomic_fetch_add(&s->bad_reason, 1);
}

static void *storm_sealer(void *arg)
{
    struct storm_arg *a = arg;
    struct storm *s = a->s;
    uint64_t rng = s->seed ^ 0x5ea1u;

    while (!atomic_load(&s->stop)) {
        if (seal(s->f) == 204)
            atomic_fetch_add(&s->seals, 1);
        storm_check_reason(s);
        sleep_ms((unsigned)(rng_next(&rng) % 40));
    }
    return NULL;
}

static void *storm_unsealer(void *arg)
{
    struct storm_arg *a = arg;
    struct storm *s = a->s;
    uint64_t rng = s->seed ^ (0x0be1u + (uint64_t)a->id);

    while (!atomic_load(&s->stop)) {
        if (unseal(s->f) == 200)
            atomic_fetch_add(&s->unseals, 1);
        storm_check_reason(s);
        sleep_ms((unsigned)(rng_next(&rng) % 8));
    }
    return NULL;
}

static void *storm_recoverer(void *arg)
{
    struct storm_arg *a = arg;
    struct storm *s = a->s;
    uint64_t rng = s->seed ^ 0x4ec0u;

    while (!atomic_load(&s->stop)) {
        sleep_ms(100 + (unsigned)(rng_next(&rng) % 200));
        if (request(s->f->api, API_PUT, "/v1/sys/storage/recover", NULL, s->f->key_body, NULL) ==
            200)
            atomic_fetch_add(&s->recovers, 1);
    }
    return NULL;
}

/* Seals, unseals (two custodians at once), recoveries and reads and writes all at once, for a few
 * seconds: no overlap on the lock file, no fatal or freshness verdict, every acknowledged write
 * still there afterwards, and the store opens cleanly once more. */
static void test_core_race_storm(void **state)
{
    struct fx *f = *state;
    struct storm s = {.f = f};
    struct storm_arg args[STORM_WRITERS + 4];
    pthread_t tids[STORM_WRITERS + 4];
    void *(*fns[STORM_WRITERS + 4])(void *);
    int n = 0;
    char key[32], val[32];

    s.seed = test_seed();
    printf("TR_TEST_SEED=%llu\n", (unsigned long long)s.seed);
    for (int i = 0; i < STORM_WRITERS; i++)
        fns[n++] = storm_writer;
    fns[n++] = storm_sealer;
    fns[n++] = storm_unsealer;
    fns[n++] = storm_unsealer;
    fns[n++] = storm_recoverer;
    for (int i = 0; i < n; i++) {
        args[i] = (struct storm_arg){.s = &s, .id = i < STORM_WRITERS ? i : i - STORM_WRITERS};
        assert_int_equal(pthread_create(&tids[i], NULL, fns[i], &args[i]), 0);
    }
    sleep_ms(STORM_MS);
    atomic_store(&s.stop, true);
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_join(tids[i], NULL), 0);
    printf("storm: %d seals, %d unseals, %d recoveries, writes %d/%d/%d\n", atomic_load(&s.seals),
           atomic_load(&s.unseals), atomic_load(&s.recovers), atomic_load(&s.acked[0]),
           atomic_load(&s.acked[1]), atomic_load(&s.acked[2]));

    pthread_mutex_lock(&logs.mu);
    if (logs.last[0])
        printf("last error logged: %s\n", logs.last);
    pthread_mutex_unlock(&logs.mu);
    assert_int_equal(obs_get(&obs.overlaps), 0);
    assert_int_equal(logs_get(&logs.lock_busy), 0);
    assert_int_equal(logs_get(&logs.open_fail), 0);
    assert_int_equal(atomic_load(&s.bad_reason), 0);
    assert_int_equal(atomic_load(&s.wrong), 0);
    assert_true(atomic_load(&s.seals) > 0);
    if (is_sealed(f))
        assert_int_equal(unseal(f), 200);
    assert_false(is_sealed(f));
    for (int w = 0; w < STORM_WRITERS; w++) {
        for (int i = 0; i < atomic_load(&s.acked[w]); i++) {
            snprintf(key, sizeof(key), "w%d-%d", w, i);
            snprintf(val, sizeof(val), "v%d-%d", w, i);
            assert_kv(f, key, val);
        }
    }
    /* and once more from a closed store: everything acknowledged is on disk and verifies */
    assert_int_equal(seal(f), 204);
    assert_int_equal(unseal(f), 200);
    assert_false(is_sealed(f));
    assert_kv(f, "before", "B");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_core_race_unseal_twice_opens_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_core_race_second_seal_waits_for_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_core_race_recover_waits_for_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_core_race_unseal_waits_for_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_core_race_unseal_after_counter_moved_reopens, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_core_race_storm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
