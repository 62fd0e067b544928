/* Unit tests for the file audit device (api/audit.c) and the chain verifier (common/tr_audit.c):
 * real files in a temporary directory and a real, unsealed trusted core (devkey seal). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "../../api/audit.h"
#include "../../common/tr_audit.h"
#include "../../common/tr_log.h"
#include "../../enclave/enclave.h"

#define CANARY_DATA  "S3CR3T-canary-data-7f3a9c"
#define CANARY_TOKEN "hvs.CANARYtokenQ8w2e4r6t8y0"
#define CANARY_NUM   "424242424242"
#define N_LINES      6

struct fixture {
    char dir[64];
    char path[128];
    struct enc_config cfg;
    struct enc_shares shares;
    struct api_audit *a;
};

/*
 * An observer on fdatasync. The test binary's own definition interposes libc's for the code under
 * test (linked in from the core library) and always makes the real system call, except when a
 * test injects EIO (an edge failure, as a failing disk reports it). For the audit file's
 * descriptor it records how many bytes a successful sync covered (the file's size when the sync
 * started: a conservative bound), counts the syncs, and can hold them at a gate so a test can
 * line waiters up deterministically.
 */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int fd;           /* observed descriptor, -1: none */
    bool gate_closed; /* syncs of fd wait here until the gate opens */
    bool fail;        /* syncs of fd fail with EIO */
    bool fail_trunc;  /* ftruncate of fd fails with EIO */
    int entered;      /* syncs of fd started */
    off_t covered;    /* bytes of fd made durable by the syncs so far */
    int writevs;      /* writev calls on fd */
    int iov_max;      /* most lines one writev on fd carried */
} obs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = -1};

int fdatasync(int fd)
{
    struct stat st;
    bool mine, fail;
    long r;

    pthread_mutex_lock(&obs.mu);
    if ((mine = fd >= 0 && fd == obs.fd)) {
        obs.entered++;
        pthread_cond_broadcast(&obs.cond);
        while (obs.gate_closed)
            pthread_cond_wait(&obs.cond, &obs.mu);
    }
    fail = mine && obs.fail;
    pthread_mutex_unlock(&obs.mu);
    if (fail) {
        errno = EIO;
        return -1;
    }
    if (mine && fstat(fd, &st) != 0)
        return -1;
    r = syscall(SYS_fdatasync, fd);
    if (r == 0 && mine) {
        pthread_mutex_lock(&obs.mu);
        if (st.st_size > obs.covered)
            obs.covered = st.st_size;
        pthread_mutex_unlock(&obs.mu);
    }
    return (int)r;
}

/* And for writev, only to count how lines are grouped into writes. */
ssize_t writev(int fd, const struct iovec *iov, int n)
{
    pthread_mutex_lock(&obs.mu);
    if (fd >= 0 && fd == obs.fd) {
        obs.writevs++;
        if (n > obs.iov_max)
            obs.iov_max = n;
    }
    pthread_mutex_unlock(&obs.mu);
    return (ssize_t)syscall(SYS_writev, fd, iov, n);
}

/* Same interposition for ftruncate, only to inject its failure. */
int ftruncate(int fd, off_t len)
{
    pthread_mutex_lock(&obs.mu);
    bool fail = fd >= 0 && fd == obs.fd && obs.fail_trunc;
    pthread_mutex_unlock(&obs.mu);
    if (fail) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_ftruncate, fd, len);
}

static void obs_reset(int fd)
{
    pthread_mutex_lock(&obs.mu);
    obs.fd = fd;
    obs.gate_closed = obs.fail = obs.fail_trunc = false;
    obs.entered = 0;
    obs.covered = 0;
    obs.writevs = obs.iov_max = 0;
    pthread_cond_broadcast(&obs.cond);
    pthread_mutex_unlock(&obs.mu);
}

static void obs_gate(bool closed)
{
    pthread_mutex_lock(&obs.mu);
    obs.gate_closed = closed;
    pthread_cond_broadcast(&obs.cond);
    pthread_mutex_unlock(&obs.mu);
}

static void obs_fail(bool fail)
{
    pthread_mutex_lock(&obs.mu);
    obs.fail = fail;
    pthread_mutex_unlock(&obs.mu);
}

static void obs_fail_truncate(bool fail)
{
    pthread_mutex_lock(&obs.mu);
    obs.fail_trunc = fail;
    pthread_mutex_unlock(&obs.mu);
}

static off_t obs_covered(void)
{
    pthread_mutex_lock(&obs.mu);
    off_t c = obs.covered;
    pthread_mutex_unlock(&obs.mu);
    return c;
}

static int obs_entered(void)
{
    pthread_mutex_lock(&obs.mu);
    int n = obs.entered;
    pthread_mutex_unlock(&obs.mu);
    return n;
}

/* Wait (5 s at most) until n syncs of the observed descriptor have started. */
static void obs_wait_entered(int n)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&obs.mu);
    while (obs.entered < n && pthread_cond_timedwait(&obs.cond, &obs.mu, &until) == 0)
        ;
    int got = obs.entered;
    pthread_mutex_unlock(&obs.mu);
    assert_true(got >= n);
}

/* Log hygiene: every line the code under test logs is checked for the canaries. A test can also
 * count the lines holding a word (log_count_set, then log_count). */
static volatile int log_leaks;
static struct {
    pthread_mutex_t mu;
    char word[64]; /* "" : count nothing */
    int n;
    char last[512];
} logc = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void log_sink(void *arg, enum tr_log_level level, const char *line)
{
    (void)arg;
    (void)level;
    if (strstr(line, CANARY_DATA) || strstr(line, CANARY_TOKEN) || strstr(line, CANARY_NUM))
        log_leaks++;
    pthread_mutex_lock(&logc.mu);
    if (logc.word[0] && strstr(line, logc.word)) {
        logc.n++;
        snprintf(logc.last, sizeof(logc.last), "%s", line);
    }
    pthread_mutex_unlock(&logc.mu);
}

static void log_count_set(const char *word)
{
    pthread_mutex_lock(&logc.mu);
    snprintf(logc.word, sizeof(logc.word), "%s", word);
    logc.n = 0;
    logc.last[0] = '\0';
    pthread_mutex_unlock(&logc.mu);
}

/* Lines holding the word since log_count_set; *last (may be NULL) gets the latest one. */
static int log_count(char *last, size_t len)
{
    pthread_mutex_lock(&logc.mu);
    int n = logc.n;
    if (last)
        snprintf(last, len, "%s", logc.last);
    pthread_mutex_unlock(&logc.mu);
    return n;
}

static int rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static int teardown(void **state);

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/tresor-aud-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/audit.log", f->dir);
    obs_reset(-1);
    f->cfg.seal_type = ENC_SEAL_DEVKEY;
    f->cfg.counter_type = ENC_COUNTER_FILE;
    f->cfg.dev_mode = true;
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->dir);
    snprintf(f->cfg.devkey_file, sizeof(f->cfg.devkey_file), "%s/dev.key", f->dir);
    *state = f;
    if (enc_init(&f->cfg) != TR_OK || enc_initialize(1, 1, &f->shares) != TR_OK ||
        enc_unseal_auto() != TR_OK) {
        teardown(state); /* cmocka runs no teardown after a failed setup */
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    obs_gate(false); /* never leave the sync thread held */
    log_count_set("");
    api_audit_close(f->a);
    obs_reset(-1);
    enc_fini();
    rm_rf(f->dir);
    sodium_memzero(&f->shares, sizeof(f->shares));
    free(f);
    return log_leaks ? -1 : 0; /* a canary reached the log */
}

/* ---- helpers ------------------------------------------------------------------------------- */

static json_t *entry_new(int i)
{
    char path[64];

    snprintf(path, sizeof(path), "secret/data/app-%d", i);
    return json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:[s,i],s:b,s:I}},"
                     "s:{s:{s:s,s:s,s:[s]},s:{s:s}},s:s}",
                     "request", "id", "3f1c0d2e-0000-4000-8000-000000000001", "operation", "update",
                     "path", path, "remote_address", "127.0.0.1", "client_token", CANARY_TOKEN,
                     "data", "password", CANARY_DATA, "list", CANARY_DATA, 7, "flag", 1, "pin",
                     (json_int_t)424242424242LL, "response", "auth", "client_token", CANARY_TOKEN,
                     "accessor", "acc-CANARY-accessor", "policies", "default", "wrap_info", "token",
                     CANARY_TOKEN, "error", "");
}

static void log_n(struct api_audit *a, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        json_t *e = entry_new(i);
        assert_non_null(e);
        assert_int_equal(api_audit_log(a, i % 2 ? "response" : "request", e), TR_OK);
        json_decref(e);
    }
}

static void write_lines(struct fixture *f, int n)
{
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, n);
    api_audit_close(f->a);
    f->a = NULL;
}

static char *slurp(const char *path, size_t *out_len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = calloc(1, 16u * 1024 * 1024);
    size_t n;

    assert_non_null(fp);
    assert_non_null(buf);
    n = fread(buf, 1, 16u * 1024 * 1024 - 1, fp);
    fclose(fp);
    *out_len = n;
    return buf;
}

static void spit(const char *path, const char *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Split the file into at most max lines (pointers into buf, '\n' replaced by NUL). */
static int split_lines(char *buf, size_t len, char **lines, int max)
{
    int n = 0;
    char *p = buf;

    while (p < buf + len && n < max) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        lines[n++] = p;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

static void join_lines(const char *path, char **lines, int n)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    for (int i = 0; i < n; i++)
        fprintf(fp, "%s\n", lines[i]);
    assert_int_equal(fclose(fp), 0);
}

static int verify(const char *path, uint64_t *lines, uint64_t *bad, char *why, size_t whylen)
{
    *lines = *bad = UINT64_MAX;
    return tr_audit_verify_file(path, lines, bad, why, whylen);
}

static void assert_chain_ok(const char *path, uint64_t want_lines)
{
    uint64_t lines, bad;
    char why[128] = "";

    if (verify(path, &lines, &bad, why, sizeof(why)) != TR_OK)
        fail_msg("line %llu: %s", (unsigned long long)bad, why);
    assert_int_equal(lines, want_lines);
    assert_int_equal(bad, 0);
}

static void assert_bad_line(const char *path, uint64_t want_bad, const char *why_part)
{
    uint64_t lines, bad;
    char why[128] = "";

    assert_int_equal(verify(path, &lines, &bad, why, sizeof(why)), TR_E_TAMPER);
    assert_int_equal(bad, want_bad);
    assert_int_equal(lines, want_bad - 1);
    if (!strstr(why, why_part))
        fail_msg("reason \"%s\" lacks \"%s\"", why, why_part);
}

static size_t count_of(const char *hay, size_t len, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    const char *p = hay, *end = hay + len;

    while (p < end && (p = memmem(p, (size_t)(end - p), needle, nl))) {
        n++;
        p += nl;
    }
    return n;
}

/* The device's descriptor: the one open on the same inode as path. */
static int find_fd(const char *path)
{
    struct stat want, st;

    assert_int_equal(stat(path, &want), 0);
    for (int fd = 3; fd < 1024; fd++)
        if (fstat(fd, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
            return fd;
    fail_msg("audit fd not found");
    return -1;
}

static off_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* ---- api_audit_log --------------------------------------------------------------------------- */

static void test_audit_log_chain_verifies(void **state)
{
    struct fixture *f = *state;
    char *lines[N_LINES + 1], *buf;
    size_t len;
    json_t *first;

    write_lines(f, N_LINES);
    assert_chain_ok(f->path, N_LINES);
    buf = slurp(f->path, &len);
    assert_int_equal(split_lines(buf, len, lines, N_LINES + 1), N_LINES);
    first = json_loads(lines[0], 0, NULL);
    assert_non_null(first);
    assert_int_equal(json_integer_value(json_object_get(first, "seq")), 1);
    assert_string_equal(json_string_value(json_object_get(first, "prev_hash")), TR_AUDIT_GENESIS);
    assert_string_equal(json_string_value(json_object_get(first, "type")), "request");
    const char *t = json_string_value(json_object_get(first, "time"));
    assert_non_null(t);
    assert_true(strlen(t) >= 20 && t[4] == '-' && t[10] == 'T' && t[strlen(t) - 1] == 'Z');
    assert_int_equal(strlen(json_string_value(json_object_get(first, "hash"))), 64);
    json_decref(first);
    free(buf);
}

static void test_audit_log_redacts_sensitive(void **state)
{
    struct fixture *f = *state;
    char mac_data[API_AUDIT_HMAC_STR], mac_tok[API_AUDIT_HMAC_STR], mac_num[API_AUDIT_HMAC_STR];
    size_t len;
    char *buf;

    write_lines(f, 2);
    buf = slurp(f->path, &len);
    assert_int_equal(count_of(buf, len, CANARY_DATA), 0);
    assert_int_equal(count_of(buf, len, CANARY_TOKEN), 0);
    assert_int_equal(count_of(buf, len, CANARY_NUM), 0);
    assert_int_equal(count_of(buf, len, "CANARY-accessor"), 0);
    assert_int_equal(api_audit_hash(CANARY_DATA, strlen(CANARY_DATA), mac_data), TR_OK);
    assert_int_equal(api_audit_hash(CANARY_TOKEN, strlen(CANARY_TOKEN), mac_tok), TR_OK);
    assert_int_equal(api_audit_hash(CANARY_NUM, strlen(CANARY_NUM), mac_num), TR_OK);
    /* Per line: data.password and data.list[0]; request.client_token, auth.client_token and
     * wrap_info.token; data.pin. Stable: the same value gives the same MAC on both lines. */
    assert_int_equal(count_of(buf, len, mac_data), 4);
    assert_int_equal(count_of(buf, len, mac_tok), 6);
    assert_int_equal(count_of(buf, len, mac_num), 2);
    /* Non-sensitive members stay clear; booleans stay booleans. */
    assert_int_equal(count_of(buf, len, "\"path\":\"secret/data/app-0\""), 1);
    assert_int_equal(count_of(buf, len, "\"operation\":\"update\""), 2);
    assert_int_equal(count_of(buf, len, "\"remote_address\":\"127.0.0.1\""), 2);
    assert_int_equal(count_of(buf, len, "\"flag\":true"), 2);
    assert_int_equal(count_of(buf, len, "\"error\":\"\""), 2);
    free(buf);
}

static void test_audit_log_reserved_members_replaced(void **state)
{
    struct fixture *f = *state;
    json_t *e = json_pack("{s:I,s:s,s:s,s:s}", "seq", (json_int_t)99, "hash", "x", "prev_hash", "y",
                          "type", "bogus");

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_log(f->a, "request", e), TR_OK);
    assert_int_equal(json_integer_value(json_object_get(e, "seq")), 99); /* caller's untouched */
    json_decref(e);
    assert_chain_ok(f->path, 1);
}

/* Top-level members sorting on both sides of "hash" (and a caller's own "hash"), strings full
 * of quotes, escapes, braces and commas at every depth: every line must still be exactly what
 * jansson writes for it (the verifier re-serialises each line and compares the bytes) and carry
 * the right hash. */
static void test_audit_log_line_canonical_any_keys(void **state)
{
    struct fixture *f = *state;
    static const char *const keys[] = {
        "a",         "h",           "has",  "hash", "hasH",       "hasha", "hash_",
        "hasi",      "hb",          "i",    "prev", "prev_hash0", "z",     "\xc3\xa9t\xc3\xa9",
        "q\"uo,te}", "back\\slash", "HASH", "",     "type2"};
    const size_t nkeys = sizeof(keys) / sizeof(keys[0]);
    int lines = 0;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    for (size_t i = 0; i < nkeys; i++) {
        for (size_t j = i; j < nkeys; j += 3) {
            json_t *e = json_pack("{s:{s:s,s:[s,{s:s}]}}", "request", "path", "a\"b,c}{[]\\\n",
                                  "list", "x\",\"hash\":\"y", "hash", "{\"k\":\",\"}");
            assert_non_null(e);
            assert_int_equal(json_object_set_new(e, keys[i], json_string("v,\"}{")), 0);
            assert_int_equal(json_object_set_new(e, keys[j], json_pack("{s:i}", "hash", 1)), 0);
            assert_int_equal(api_audit_log(f->a, j % 2 ? "response" : "request", e), TR_OK);
            json_decref(e);
            lines++;
        }
    }
    assert_chain_ok(f->path, (uint64_t)lines);
}

static void test_audit_log_invalid_args(void **state)
{
    struct fixture *f = *state;
    json_t *e = entry_new(0), *arr = json_array(), *deep = json_object(), *cur = deep;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_log(NULL, "request", e), TR_E_INVAL);
    assert_int_equal(api_audit_log(f->a, NULL, e), TR_E_INVAL);
    assert_int_equal(api_audit_log(f->a, "bogus", e), TR_E_INVAL);
    assert_int_equal(api_audit_log(f->a, "request", NULL), TR_E_INVAL);
    assert_int_equal(api_audit_log(f->a, "request", arr), TR_E_INVAL);
    for (int i = 0; i < 70; i++) {
        json_t *next = json_object();
        assert_int_equal(json_object_set_new(cur, "n", next), 0);
        cur = next;
    }
    assert_int_equal(api_audit_log(f->a, "request", deep), TR_E_TOO_LARGE);
    assert_int_equal(file_size(f->path), 0);
    json_decref(e);
    json_decref(arr);
    json_decref(deep);
}

static void test_audit_log_sealed_refuses_sensitive(void **state)
{
    struct fixture *f = *state;
    json_t *e = entry_new(0);
    json_t *plain = json_pack("{s:{s:s,s:s,s:{}}}", "request", "path", "sys/seal-status",
                              "operation", "read", "data");

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    enc_seal(ENC_REASON_OPERATOR);
    assert_int_equal(api_audit_log(f->a, "request", e), TR_E_SEALED);
    assert_int_equal(file_size(f->path), 0);
    assert_int_equal(api_audit_log(f->a, "request", plain), TR_OK);
    assert_int_equal(enc_unseal_auto(), TR_OK);
    assert_int_equal(api_audit_log(f->a, "response", e), TR_OK);
    assert_chain_ok(f->path, 2);
    json_decref(e);
    json_decref(plain);
}

static void test_audit_log_write_failure(void **state)
{
    struct fixture *f = *state;
    json_t *e = entry_new(0);
    int fd, saved, full;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 2);
    fd = find_fd(f->path);
    saved = dup(fd);
    full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(saved >= 0 && full >= 0);
    assert_int_equal(dup2(full, fd), fd); /* writes now fail with ENOSPC */
    assert_int_equal(api_audit_log(f->a, "request", e), TR_E_IO);
    assert_int_equal(api_audit_log(f->a, "request", e), TR_E_IO); /* each time */
    assert_int_equal(dup2(saved, fd), fd);                        /* space is back */
    assert_int_equal(api_audit_log(f->a, "request", e), TR_OK);
    close(saved);
    close(full);
    json_decref(e);
    assert_chain_ok(f->path, 3);
}

/* A full disk under load fails every line: each is counted, but the log gets the first failure
 * (with the reason), no line per failure; a disk that takes a line now and then (nearly full)
 * does not make a first line and a recovery line each time either. */
static void test_audit_log_write_failure_log_bounded(void **state)
{
    struct fixture *f = *state;
    struct api_audit_stats st;
    json_t *e = entry_new(0);
    char last[512];
    int fd, saved, full;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 2);
    fd = find_fd(f->path);
    saved = dup(fd);
    full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(saved >= 0 && full >= 0);
    log_count_set("audit: ");
    assert_int_equal(dup2(full, fd), fd);
    for (int i = 0; i < 500; i++)
        assert_int_equal(api_audit_log(f->a, i % 2 ? "response" : "request", e), TR_E_IO);
    assert_int_equal(log_count(last, sizeof(last)), 1); /* well within one summary interval */
    assert_non_null(strstr(last, "audit: write failed: No space left on device"));
    api_audit_stats_get(f->a, &st);
    assert_int_equal(st.write_failures, 500);
    for (int i = 0; i < 50; i++) { /* flapping: one line in, one refused */
        assert_int_equal(dup2(saved, fd), fd);
        assert_int_equal(api_audit_log(f->a, "request", e), TR_OK);
        assert_int_equal(dup2(full, fd), fd);
        assert_int_equal(api_audit_log(f->a, "response", e), TR_E_IO);
    }
    assert_int_equal(log_count(last, sizeof(last)), 1); /* still the first line only */
    api_audit_stats_get(f->a, &st);
    assert_int_equal(st.write_failures, 550);
    assert_int_equal(dup2(saved, fd), fd);
    assert_int_equal(api_audit_log(f->a, "request", e), TR_OK);
    api_audit_stats_get(f->a, &st);
    assert_int_equal(st.file_bytes, (uint64_t)file_size(f->path));
    close(saved);
    close(full);
    json_decref(e);
    assert_chain_ok(f->path, 53);
}

/* RLIMIT_FSIZE makes the kernel accept only part of the line (a real short write, as on a
 * nearly full disk): the partial line must be cut off so the file stays a valid chain. */
static void test_audit_log_short_write_undone(void **state)
{
    struct fixture *f = *state;
    json_t *e = entry_new(0);
    struct rlimit old, lim;
    off_t before;
    int rc;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 2);
    before = file_size(f->path);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)before + 100;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rc = api_audit_log(f->a, "request", e); /* nothing else may write in this window */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(rc, TR_E_IO);
    assert_int_equal(file_size(f->path), before);
    assert_int_equal(api_audit_log(f->a, "response", e), TR_OK); /* still usable */
    assert_chain_ok(f->path, 3);
    json_decref(e);
}

static void test_audit_log_sync_failure_refuses_until_reopen(void **state)
{
    struct fixture *f = *state;
    json_t *e = entry_new(0);
    int fd, saved, pipefd[2];

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 1);
    fd = find_fd(f->path);
    saved = dup(fd);
    assert_true(saved >= 0);
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(dup2(pipefd[1], fd), fd); /* write succeeds, fdatasync fails (EINVAL) */
    assert_int_equal(api_audit_log(f->a, "request", e), TR_E_IO);
    assert_int_equal(dup2(saved, fd), fd);
    assert_int_equal(api_audit_log(f->a, "request", e), TR_E_IO); /* head unknown: refuses */
    api_audit_close(f->a);
    f->a = NULL;
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK); /* re-reads the real tail */
    assert_int_equal(api_audit_log(f->a, "response", e), TR_OK);
    assert_chain_ok(f->path, 2);
    close(saved);
    close(pipefd[0]);
    close(pipefd[1]);
    json_decref(e);
}

struct worker {
    struct api_audit *a;
    int id;
    int failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < 200; i++) {
        json_t *e = entry_new(w->id * 1000 + i);
        if (!e || api_audit_log(w->a, i % 2 ? "response" : "request", e) != TR_OK)
            w->failures++;
        json_decref(e);
    }
    return NULL;
}

static void test_audit_log_concurrent(void **state)
{
    struct fixture *f = *state;
    struct worker w[8];
    pthread_t th[8];

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.a = f->a, .id = i, .failures = 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    assert_chain_ok(f->path, 8 * 200);
}

/* ---- api_audit_wait_async ------------------------------------------------------------------ */

/* One api_audit_wait_async: what its callback saw. */
struct rec {
    uint64_t seq;
    int calls;
    int rc;
    off_t covered; /* bytes known durable when the callback ran */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done; /* callbacks run */
} cb = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_durable(void *arg, int rc)
{
    struct rec *r = arg;
    off_t covered = obs_covered();

    pthread_mutex_lock(&cb.mu);
    r->calls++;
    r->rc = rc;
    r->covered = covered;
    cb.done++;
    pthread_cond_broadcast(&cb.cond);
    pthread_mutex_unlock(&cb.mu);
}

static void cb_reset(void)
{
    pthread_mutex_lock(&cb.mu);
    cb.done = 0;
    pthread_mutex_unlock(&cb.mu);
}

static int cb_done(void)
{
    pthread_mutex_lock(&cb.mu);
    int n = cb.done;
    pthread_mutex_unlock(&cb.mu);
    return n;
}

/* Wait (10 s at most) until n callbacks ran, without closing the device: the sync thread alone
 * must release them. */
static void cb_wait(int n)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&cb.mu);
    while (cb.done < n && pthread_cond_timedwait(&cb.cond, &cb.mu, &until) == 0)
        ;
    int got = cb.done;
    pthread_mutex_unlock(&cb.mu);
    assert_int_equal(got, n);
}

/* Write entry i without waiting; its seq goes to r (if any), which then waits asynchronously. */
static uint64_t log_async(struct api_audit *a, int i, struct rec *r)
{
    json_t *e = entry_new(i);
    uint64_t seq = 0;

    assert_non_null(e);
    assert_int_equal(api_audit_log_nosync(a, i % 2 ? "response" : "request", e, &seq), TR_OK);
    json_decref(e);
    assert_true(seq > 0);
    if (r) {
        r->seq = seq;
        api_audit_wait_async(a, seq, on_durable, r);
    }
    return seq;
}

/* The byte offset just past each line, indexed by seq (1-based); returns the line count. */
static uint64_t line_ends(const char *path, off_t *ends, uint64_t max)
{
    size_t len;
    char *buf = slurp(path, &len);
    uint64_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        assert_true(n < max);
        ends[++n] = (off_t)i + 1;
    }
    free(buf);
    return n;
}

/* Every callback ran once with TR_OK, after a sync that covered its whole line. */
static void assert_released_durable(const char *path, struct rec *r, int n)
{
    const uint64_t max = (uint64_t)n + 16;
    off_t *ends = calloc(max + 1, sizeof(*ends));
    uint64_t lines;

    assert_non_null(ends);
    lines = line_ends(path, ends, max);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].rc, TR_OK);
        assert_true(r[i].seq >= 1 && r[i].seq <= lines);
        if (r[i].covered < ends[r[i].seq])
            fail_msg("line %llu (ends at %lld) released with %lld bytes durable",
                     (unsigned long long)r[i].seq, (long long)ends[r[i].seq],
                     (long long)r[i].covered);
    }
    free(ends);
}

struct async_worker {
    struct api_audit *a;
    int id;
    struct rec *recs; /* ASYNC_PER of them */
    int blocking_ok;  /* lines waited for with api_audit_wait instead */
};

#define ASYNC_THREADS 8
#define ASYNC_PER     200

static void *async_worker_run(void *arg)
{
    struct async_worker *w = arg;

    for (int i = 0; i < ASYNC_PER; i++) {
        if (i % 10 == 9) { /* a blocking waiter now and then, as a pool thread is */
            uint64_t seq = log_async(w->a, w->id * 1000 + i, NULL);
            w->blocking_ok += api_audit_wait(w->a, seq) == TR_OK;
            w->recs[i] =
                (struct rec){.seq = seq, .calls = 1, .rc = TR_OK, .covered = obs_covered()};
            continue;
        }
        log_async(w->a, w->id * 1000 + i, &w->recs[i]);
    }
    return NULL;
}

/* Writers on many threads hand their lines over and go on: every callback runs exactly once, from
 * the sync thread, only after its line was covered by a successful sync; seqs are unique and in
 * each thread's order, and the file is one valid chain. */
static void test_audit_wait_async_concurrent(void **state)
{
    struct fixture *f = *state;
    const int n = ASYNC_THREADS * ASYNC_PER;
    struct rec *recs = calloc((size_t)n, sizeof(*recs));
    struct async_worker w[ASYNC_THREADS];
    pthread_t th[ASYNC_THREADS];
    uint8_t *seen = calloc((size_t)n + 1, 1);
    int blocking = 0;

    assert_non_null(recs);
    assert_non_null(seen);
    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    obs_reset(find_fd(f->path));
    for (int i = 0; i < ASYNC_THREADS; i++) {
        w[i] = (struct async_worker){.a = f->a, .id = i, .recs = recs + i * ASYNC_PER};
        assert_int_equal(pthread_create(&th[i], NULL, async_worker_run, &w[i]), 0);
    }
    for (int i = 0; i < ASYNC_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        blocking += w[i].blocking_ok;
    }
    assert_int_equal(blocking, ASYNC_THREADS * (ASYNC_PER / 10));
    cb_wait(n - blocking);
    pthread_mutex_lock(&cb.mu); /* the callbacks' writes happen before this read */
    pthread_mutex_unlock(&cb.mu);
    assert_released_durable(f->path, recs, n);
    for (int t = 0; t < ASYNC_THREADS; t++)
        for (int i = 0; i < ASYNC_PER; i++) {
            struct rec *r = &recs[t * ASYNC_PER + i];
            assert_int_equal(seen[r->seq], 0);
            seen[r->seq] = 1;
            if (i > 0)
                assert_true(r->seq > recs[t * ASYNC_PER + i - 1].seq);
        }
    assert_true(obs_entered() > 0); /* the observer saw the device's syncs */
    api_audit_close(f->a);
    f->a = NULL;
    assert_int_equal(cb_done(), n - blocking); /* close called none twice */
    assert_chain_ok(f->path, (uint64_t)n);
    free(seen);
    free(recs);
}

/* Group sync, deterministically: while one sync is held at the gate, nine lines are written and
 * handed over; none is released early, and one further sync releases all nine. */
static void test_audit_wait_async_group_sync(void **state)
{
    struct fixture *f = *state;
    struct rec r[10] = {{0}};

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    obs_reset(find_fd(f->path));
    obs_gate(true);
    log_async(f->a, 0, &r[0]);
    obs_wait_entered(1); /* the sync thread is in the first sync (it covers line 1 only) */
    for (int i = 1; i < 10; i++)
        log_async(f->a, i, &r[i]);
    usleep(50 * 1000);
    assert_int_equal(cb_done(), 0); /* nothing leaves while its sync is pending */
    obs_gate(false);
    cb_wait(10);
    assert_int_equal(obs_entered(), 2);
    assert_released_durable(f->path, r, 10);
    /* A line already durable is decided at once, in the caller's thread. */
    struct rec again = {.seq = 3};
    api_audit_wait_async(f->a, 3, on_durable, &again);
    assert_int_equal(again.calls, 1);
    assert_int_equal(again.rc, TR_OK);
    assert_int_equal(api_audit_wait(f->a, 10), TR_OK);
    assert_int_equal(obs_entered(), 2);
    assert_chain_ok(f->path, 10);
}

struct blocked {
    struct api_audit *a;
    uint64_t seq;
    int rc;
};

static void *blocked_wait(void *arg)
{
    struct blocked *b = arg;

    b->rc = api_audit_wait(b->a, b->seq);
    return NULL;
}

/* A failed fdatasync fails every line waiting for it (callbacks and blocked threads), each once,
 * and the device refuses everything until reopened; a line durable before stays durable. */
static void test_audit_wait_async_sync_failure_fails_waiters(void **state)
{
    struct fixture *f = *state;
    struct rec r[6] = {{0}}, late = {0}, early = {0}, bad = {0};
    struct blocked b;
    pthread_t th;
    json_t *e = entry_new(0);
    uint64_t seq = 0;

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 1); /* line 1: durable */
    obs_reset(find_fd(f->path));
    obs_gate(true);
    log_async(f->a, 1, &r[0]);
    obs_wait_entered(1);
    for (int i = 1; i < 6; i++)
        log_async(f->a, i + 1, &r[i]);
    b = (struct blocked){.a = f->a, .seq = r[3].seq, .rc = TR_OK};
    assert_int_equal(pthread_create(&th, NULL, blocked_wait, &b), 0);
    usleep(50 * 1000);
    assert_int_equal(cb_done(), 0);
    obs_fail(true);
    obs_gate(false);
    cb_wait(6);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(b.rc, TR_E_IO);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].rc, TR_E_IO);
    }
    assert_int_equal(obs_entered(), 1); /* one failed sync decided them all */
    /* Broken until reopened: new lines refused; waiting for an undecided line fails at once;
     * the line made durable before the failure is still reported durable. */
    assert_int_equal(api_audit_log_nosync(f->a, "request", e, &seq), TR_E_IO);
    assert_int_equal(seq, 0);
    api_audit_wait_async(f->a, r[5].seq, on_durable, &late);
    assert_int_equal(late.calls, 1);
    assert_int_equal(late.rc, TR_E_IO);
    api_audit_wait_async(f->a, 1, on_durable, &early);
    assert_int_equal(early.calls, 1);
    assert_int_equal(early.rc, TR_OK);
    assert_int_equal(api_audit_wait(f->a, 1), TR_OK);
    assert_int_equal(api_audit_wait(f->a, 2), TR_E_IO);
    /* Bad arguments are answered through the callback too, exactly once. */
    api_audit_wait_async(f->a, 0, on_durable, &bad);
    api_audit_wait_async(f->a, 99, on_durable, &bad);
    assert_int_equal(bad.calls, 2);
    assert_int_equal(bad.rc, TR_E_INVAL);
    assert_int_equal(api_audit_wait(f->a, 0), TR_E_INVAL);
    assert_int_equal(api_audit_wait(f->a, 99), TR_E_INVAL);
    assert_int_equal(api_audit_wait(NULL, 1), TR_E_INVAL);
    api_audit_close(f->a);
    f->a = NULL;
    assert_int_equal(cb_done(), 6 + 2 + 2); /* close released nothing twice */
    obs_fail(false);
    /* The injected EIO dropped nothing here: reopening continues after line 7. */
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_log(f->a, "response", e), TR_OK);
    assert_chain_ok(f->path, 8);
    json_decref(e);
}

/* A write that breaks the device (a partial line that cannot be cut off) fails the lines still
 * waiting for a sync, as a failed sync does; the line whose sync was already running when it
 * broke is still released as durable. */
static void test_audit_wait_async_broken_by_write_fails_waiters(void **state)
{
    struct fixture *f = *state;
    struct rec r[3] = {{0}};
    json_t *e = entry_new(0);
    struct rlimit old, lim;
    int rc;

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    obs_reset(find_fd(f->path));
    obs_gate(true);
    log_async(f->a, 0, &r[0]);
    obs_wait_entered(1); /* the first sync (line 1) is held */
    log_async(f->a, 1, &r[1]);
    log_async(f->a, 2, &r[2]);
    /* A real short write (RLIMIT_FSIZE), whose tail cannot be cut off (injected EIO). */
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)file_size(f->path) + 100;
    signal(SIGXFSZ, SIG_IGN);
    obs_fail_truncate(true);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rc = api_audit_log(f->a, "request", e); /* nothing else may write in this window */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    obs_fail_truncate(false);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(rc, TR_E_IO);
    obs_gate(false);
    cb_wait(3);
    assert_int_equal(r[0].rc, TR_OK);
    assert_int_equal(r[1].rc, TR_E_IO);
    assert_int_equal(r[2].rc, TR_E_IO);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].calls, 1);
    assert_int_equal(api_audit_log(f->a, "response", e), TR_E_IO); /* refuses until reopened */
    api_audit_close(f->a);
    f->a = NULL;
    assert_int_equal(cb_done(), 3);
    /* The torn line is still there; no answer waited on it: reopening cuts it off and chains
     * onto the last whole line. */
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_log(f->a, "response", e), TR_OK);
    api_audit_close(f->a);
    f->a = NULL;
    assert_chain_ok(f->path, 4);
    json_decref(e);
}

/* api_audit_close makes every written line durable and releases every waiter exactly once
 * before it returns. */
static void test_audit_close_releases_waiters(void **state)
{
    struct fixture *f = *state;
    struct rec r[5] = {{0}};

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    obs_reset(find_fd(f->path));
    for (int i = 0; i < 5; i++)
        log_async(f->a, i, &r[i]);
    log_async(f->a, 5, NULL); /* nobody waits for line 6: close syncs it anyway */
    api_audit_close(f->a);
    f->a = NULL;
    assert_int_equal(cb_done(), 5);
    assert_released_durable(f->path, r, 5);
    assert_int_equal(obs_covered(), file_size(f->path));
    assert_chain_ok(f->path, 6);
}

/* ---- prepared requests and queued response lines -------------------------------------------- */

/* A request as the pipeline makes it (id i), with sensitive members and strings that need
 * escaping outside them. */
static json_t *request_new(int i)
{
    char id[32], path[64];

    snprintf(id, sizeof(id), "req-%06d", i);
    snprintf(path, sizeof(path), "secret/data/app-%d/\"q\\u\xc3\xa9\t", i);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:[s,i],s:I}}", "id", id, "operation", "update",
                     "path", path, "remote_address", "127.0.0.1", "client_token", CANARY_TOKEN,
                     "data", "password", CANARY_DATA, "list", CANARY_DATA, 7, "pin",
                     (json_int_t)424242424242LL);
}

static json_t *response_new(void)
{
    return json_pack("{s:i,s:{s:{s:s},s:{s:i,s:b,s:n,s:s}},s:{s:s,s:[s]},s:[s]}", "status", 200,
                     "data", "data", "v", CANARY_DATA, "metadata", "version", 3, "destroyed", 0,
                     "custom_metadata", "created_time", "2026-11-23T04:00:00Z", "auth",
                     "client_token", CANARY_TOKEN, "policies", "default", "errors",
                     "no \"quote\" \\ here\n");
}

/* Line n (1-based) of path as JSON, without the members that differ between devices. */
static json_t *line_content(const char *path, int n)
{
    char *lines[64], *buf;
    size_t len;
    json_t *o;

    buf = slurp(path, &len);
    assert_true(split_lines(buf, len, lines, 64) >= n);
    o = json_loads(lines[n - 1], 0, NULL);
    assert_non_null(o);
    free(buf);
    json_object_del(o, "time");
    json_object_del(o, "hash");
    json_object_del(o, "prev_hash");
    return o;
}

/* The request MAC'd and serialised once, spliced into both lines, gives exactly the entries
 * api_audit_log writes for the same request and response (same MACs, same members), and the
 * chain verifies (the verifier re-serialises every line and compares the bytes). */
static void test_audit_req_resp_lines_as_log(void **state)
{
    struct fixture *f = *state;
    struct api_audit_req *r = NULL;
    struct api_audit *b = NULL;
    char path2[160];
    json_t *req = request_new(1), *resp = response_new(), *e;
    uint64_t seq = 0, seq2 = 0;

    snprintf(path2, sizeof(path2), "%s/audit2.log", f->dir);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_req_new(req, &r), TR_OK);
    assert_int_equal(api_audit_req_log(f->a, r, &seq), TR_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(api_audit_req_log(f->a, r, &seq2), TR_OK); /* written once */
    assert_int_equal(seq2, 1);
    assert_int_equal(api_audit_resp_log(f->a, r, resp, &seq), TR_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(api_audit_wait(f->a, 2), TR_OK);
    api_audit_req_free(r);
    assert_chain_ok(f->path, 2);
    /* the same entries through api_audit_log on a second device */
    assert_int_equal(api_audit_open(path2, &b), TR_OK);
    e = json_pack("{s:O}", "request", req);
    assert_int_equal(api_audit_log(b, "request", e), TR_OK);
    json_decref(e);
    e = json_pack("{s:O,s:O}", "request", req, "response", resp);
    assert_int_equal(api_audit_log(b, "response", e), TR_OK);
    json_decref(e);
    api_audit_close(b);
    assert_chain_ok(path2, 2);
    for (int n = 1; n <= 2; n++) {
        json_t *x = line_content(f->path, n), *y = line_content(path2, n);
        assert_true(json_equal(x, y));
        json_decref(x);
        json_decref(y);
    }
    size_t len;
    char *buf = slurp(f->path, &len);
    assert_int_equal(count_of(buf, len, CANARY_DATA), 0);
    assert_int_equal(count_of(buf, len, CANARY_TOKEN), 0);
    assert_int_equal(count_of(buf, len, CANARY_NUM), 0);
    free(buf);
    json_decref(req);
    json_decref(resp);
}

/* A response line never comes without its request line before it: if the request line was not
 * written, the response writes it first; the request's own line carries the request's time. */
static void test_audit_resp_writes_request_first(void **state)
{
    struct fixture *f = *state;
    struct api_audit_req *r = NULL;
    json_t *req = request_new(2), *resp = response_new(), *l1, *l2;
    uint64_t seq = 0;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_req_new(req, &r), TR_OK);
    usleep(2000); /* the request's time is when it was MAC'd, not when its line is written */
    assert_int_equal(api_audit_resp_log(f->a, r, resp, &seq), TR_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(api_audit_req_log(f->a, r, &seq), TR_OK);
    assert_int_equal(seq, 1);
    api_audit_req_free(r);
    assert_int_equal(api_audit_wait(f->a, 2), TR_OK);
    assert_chain_ok(f->path, 2);
    l1 = line_content(f->path, 1);
    l2 = line_content(f->path, 2);
    assert_string_equal(json_string_value(json_object_get(l1, "type")), "request");
    assert_string_equal(json_string_value(json_object_get(l2, "type")), "response");
    assert_true(json_equal(json_object_get(l1, "request"), json_object_get(l2, "request")));
    json_decref(l1);
    json_decref(l2);
    /* times: the request line's is earlier (both RFC 3339 UTC of the same day and length class) */
    size_t len;
    char *buf = slurp(f->path, &len), *lines[2];
    assert_int_equal(split_lines(buf, len, lines, 2), 2);
    json_t *a = json_loads(lines[0], 0, NULL), *b = json_loads(lines[1], 0, NULL);
    assert_true(strcmp(json_string_value(json_object_get(a, "time")),
                       json_string_value(json_object_get(b, "time"))) < 0);
    json_decref(a);
    json_decref(b);
    free(buf);
    json_decref(req);
    json_decref(resp);
}

/* Sealed between request and response: the response cannot be MAC'd (TR_E_SEALED, no line, the
 * caller fails closed) but the attempt is recorded by the request line, MAC'd on arrival. */
static void test_audit_resp_sealed_records_request(void **state)
{
    struct fixture *f = *state;
    struct api_audit_req *r = NULL;
    struct api_audit_line *l = (struct api_audit_line *)1;
    json_t *req = request_new(3), *resp = response_new();

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_req_new(req, &r), TR_OK);
    enc_seal(ENC_REASON_OPERATOR);
    assert_int_equal(api_audit_resp_prepare(f->a, r, resp, &l), TR_E_SEALED);
    assert_null(l);
    assert_chain_ok(f->path, 1);
    api_audit_req_free(r);
    /* and a request that cannot be MAC'd is refused outright */
    assert_int_equal(api_audit_req_new(req, &r), TR_E_SEALED);
    assert_null(r);
    assert_int_equal(api_audit_req_new(NULL, &r), TR_E_INVAL);
    assert_int_equal(api_audit_req_new(resp, NULL), TR_E_INVAL);
    assert_int_equal(api_audit_req_log(NULL, r, NULL), TR_E_INVAL);
    assert_int_equal(api_audit_resp_prepare(f->a, NULL, resp, &l), TR_E_INVAL);
    assert_chain_ok(f->path, 1);
    json_decref(req);
    json_decref(resp);
}

/* api_audit_req_set changes the lines made after it (the response line), MAC'ing by the rule. */
static void test_audit_req_set_refines_response(void **state)
{
    struct fixture *f = *state;
    struct api_audit_req *r = NULL;
    json_t *req = request_new(4), *resp = response_new(), *l1, *l2;
    char mac[API_AUDIT_HMAC_STR];

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_req_new(req, &r), TR_OK);
    assert_int_equal(api_audit_req_log(f->a, r, NULL), TR_OK);
    assert_int_equal(api_audit_req_set(r, "operation", json_string("create")), TR_OK);
    assert_int_equal(api_audit_req_set(r, "Token", json_string("other-" CANARY_TOKEN)), TR_OK);
    assert_int_equal(api_audit_req_set(NULL, "operation", json_string("x")), TR_E_INVAL);
    assert_int_equal(api_audit_resp_log(f->a, r, resp, NULL), TR_OK);
    api_audit_req_free(r);
    assert_chain_ok(f->path, 2);
    l1 = line_content(f->path, 1);
    l2 = line_content(f->path, 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(l1, "request"), "operation")), "update");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(l2, "request"), "operation")), "create");
    assert_null(json_object_get(json_object_get(l1, "request"), "Token"));
    assert_int_equal(api_audit_hash("other-" CANARY_TOKEN, strlen("other-" CANARY_TOKEN), mac),
                     TR_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(l2, "request"), "Token")),
                        mac);
    json_decref(l1);
    json_decref(l2);
    json_decref(req);
    json_decref(resp);
}

/* One queued response line: what its callback saw, and the request id that finds its line. */
struct qrec {
    int id;
    int calls;
    int rc;
    off_t covered;
};

static void on_queued(void *arg, int rc)
{
    struct qrec *q = arg;
    off_t covered = obs_covered();

    pthread_mutex_lock(&cb.mu);
    q->calls++;
    q->rc = rc;
    q->covered = covered;
    cb.done++;
    pthread_cond_broadcast(&cb.cond);
    pthread_mutex_unlock(&cb.mu);
}

/* The pipeline's steps for request id: MAC the request, write its line, prepare the response
 * line and hand it to the sync thread. */
static void serve_queued(struct api_audit *a, int id, struct qrec *q)
{
    struct api_audit_req *r = NULL;
    struct api_audit_line *l = NULL;
    json_t *req = request_new(id), *resp = response_new();

    *q = (struct qrec){.id = id};
    assert_int_equal(api_audit_req_new(req, &r), TR_OK);
    assert_int_equal(api_audit_req_log(a, r, NULL), TR_OK);
    assert_int_equal(api_audit_resp_prepare(a, r, resp, &l), TR_OK);
    api_audit_req_free(r); /* the prepared line does not need it */
    api_audit_line_queue(a, l, on_queued, q);
    json_decref(req);
    json_decref(resp);
}

/* For each queued line: released once, TR_OK, only after a sync covered it; its request line is
 * earlier in the file. Returns how many lines the file has. */
static uint64_t assert_queued_durable(const char *path, const struct qrec *q, int n)
{
    char *lines[4096], *buf, id[40];
    size_t len;
    off_t end = 0;
    int nl;

    buf = slurp(path, &len);
    nl = split_lines(buf, len, lines, 4096);
    for (int i = 0; i < n; i++) {
        int req_at = 0, resp_at = 0;
        assert_int_equal(q[i].calls, 1);
        assert_int_equal(q[i].rc, TR_OK);
        snprintf(id, sizeof(id), "\"id\":\"req-%06d\"", q[i].id);
        end = 0;
        for (int k = 0; k < nl; k++) {
            end += (off_t)strlen(lines[k]) + 1;
            if (!strstr(lines[k], id))
                continue;
            if (strstr(lines[k], "\"type\":\"request\""))
                req_at = k + 1;
            else {
                resp_at = k + 1;
                if (q[i].covered < end)
                    fail_msg("response line %d released with %lld of %lld bytes durable", k + 1,
                             (long long)q[i].covered, (long long)end);
            }
        }
        assert_true(req_at > 0 && resp_at > req_at);
    }
    free(buf);
    return (uint64_t)nl;
}

struct queue_worker {
    struct api_audit *a;
    int id;
    struct qrec *recs;
};

#define QUEUE_THREADS 6
#define QUEUE_PER     100

static void *queue_worker_run(void *arg)
{
    struct queue_worker *w = arg;

    for (int i = 0; i < QUEUE_PER; i++)
        serve_queued(w->a, w->id * 1000 + i, &w->recs[i]);
    return NULL;
}

/* Many threads serve requests and hand their response lines over: every callback runs once,
 * after its line is durable, every response follows its request, lines queued together share a
 * writev, and the file is one valid chain. */
static void test_audit_line_queue_concurrent(void **state)
{
    struct fixture *f = *state;
    const int n = QUEUE_THREADS * QUEUE_PER;
    struct qrec *recs = calloc((size_t)n, sizeof(*recs));
    struct queue_worker w[QUEUE_THREADS];
    pthread_t th[QUEUE_THREADS];

    assert_non_null(recs);
    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    obs_reset(find_fd(f->path));
    for (int i = 0; i < QUEUE_THREADS; i++) {
        w[i] = (struct queue_worker){.a = f->a, .id = i, .recs = recs + i * QUEUE_PER};
        assert_int_equal(pthread_create(&th[i], NULL, queue_worker_run, &w[i]), 0);
    }
    for (int i = 0; i < QUEUE_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    cb_wait(n);
    pthread_mutex_lock(&cb.mu); /* the callbacks' writes happen before the reads below */
    pthread_mutex_unlock(&cb.mu);
    assert_int_equal(assert_queued_durable(f->path, recs, n), 2 * (uint64_t)n);
    assert_true(obs_entered() > 0 && obs_entered() < n);
    api_audit_close(f->a);
    f->a = NULL;
    assert_int_equal(cb_done(), n);
    assert_chain_ok(f->path, 2 * (uint64_t)n);
    free(recs);
}

/* Deterministically: while a sync is held, ten response lines are queued; none is written or
 * released early; then one writev writes all ten, one more sync covers them, all are released. */
static void test_audit_line_queue_one_write_per_group(void **state)
{
    struct fixture *f = *state;
    struct rec first = {0};
    struct qrec q[10];
    off_t size;

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    obs_reset(find_fd(f->path));
    obs_gate(true);
    log_async(f->a, 0, &first);
    obs_wait_entered(1); /* the sync thread is held in the sync of line 1 */
    size = file_size(f->path);
    for (int i = 0; i < 10; i++)
        serve_queued(f->a, i, &q[i]);
    usleep(50 * 1000);
    assert_int_equal(cb_done(), 0);
    /* only the ten request lines were written, one write each */
    pthread_mutex_lock(&obs.mu);
    int writevs = obs.writevs;
    pthread_mutex_unlock(&obs.mu);
    assert_int_equal(writevs, 11);
    assert_true(file_size(f->path) > size);
    obs_gate(false);
    cb_wait(11);
    pthread_mutex_lock(&obs.mu);
    assert_int_equal(obs.writevs, 12); /* the ten response lines: one writev */
    assert_int_equal(obs.iov_max, 10);
    pthread_mutex_unlock(&obs.mu);
    assert_int_equal(obs_entered(), 2);
    assert_queued_durable(f->path, q, 10);
    assert_chain_ok(f->path, 21);
}

/* Writes failing (a full disk): queued lines are released with TR_E_IO and leave nothing in the
 * file; once space is back the device serves again. */
static void test_audit_line_queue_write_failure(void **state)
{
    struct fixture *f = *state;
    struct api_audit_line *l[3];
    struct api_audit_req *r = NULL;
    struct qrec q[4];
    json_t *req = request_new(9), *resp = response_new();
    int fd, saved, full;
    off_t size;

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_req_new(req, &r), TR_OK);
    assert_int_equal(api_audit_req_log(f->a, r, NULL), TR_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(api_audit_resp_prepare(f->a, r, resp, &l[i]), TR_OK);
    assert_int_equal(api_audit_wait(f->a, 1), TR_OK);
    size = file_size(f->path);
    fd = find_fd(f->path);
    saved = dup(fd);
    full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(saved >= 0 && full >= 0);
    assert_int_equal(dup2(full, fd), fd); /* writes now fail with ENOSPC */
    for (int i = 0; i < 3; i++) {
        q[i] = (struct qrec){.id = i};
        api_audit_line_queue(f->a, l[i], on_queued, &q[i]);
    }
    cb_wait(3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(q[i].calls, 1);
        assert_int_equal(q[i].rc, TR_E_IO);
    }
    assert_int_equal(dup2(saved, fd), fd); /* space is back */
    assert_int_equal(file_size(f->path), size);
    serve_queued(f->a, 10, &q[3]);
    cb_wait(4);
    assert_int_equal(q[3].rc, TR_OK);
    api_audit_req_free(r);
    close(saved);
    close(full);
    assert_chain_ok(f->path, 3);
    json_decref(req);
    json_decref(resp);
}

/* A short write of a group (RLIMIT_FSIZE: a nearly full disk) is cut off whole: every line of the
 * group fails, none is half there, and the device stays usable. */
static void test_audit_line_queue_short_write_undone(void **state)
{
    struct fixture *f = *state;
    struct rec first = {0};
    struct qrec q[6];
    struct rlimit old, lim;
    off_t size;

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    obs_reset(find_fd(f->path));
    obs_gate(true);
    log_async(f->a, 0, &first);
    obs_wait_entered(1);
    for (int i = 0; i < 5; i++)
        serve_queued(f->a, i, &q[i]);
    size = file_size(f->path);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 1500; /* room for one response line and a bit */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    obs_gate(false);
    cb_wait(6);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(first.rc, TR_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(q[i].calls, 1);
        assert_int_equal(q[i].rc, TR_E_IO);
    }
    assert_int_equal(file_size(f->path), size);
    assert_chain_ok(f->path, 6);
    serve_queued(f->a, 5, &q[5]);
    cb_wait(7);
    assert_int_equal(q[5].rc, TR_OK);
    assert_chain_ok(f->path, 8);
}

/* A broken device refuses a line handed over (TR_E_IO from the sync thread); bad arguments are
 * answered through the callback at once; a line without a callback is dropped. */
static void test_audit_line_queue_refused(void **state)
{
    struct fixture *f = *state;
    struct api_audit_req *r = NULL;
    struct api_audit_line *l = NULL;
    struct qrec q = {0}, bad = {0};
    json_t *req = request_new(11), *resp = response_new(), *e = entry_new(0);
    int fd, saved, pipefd[2];

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_req_new(req, &r), TR_OK);
    assert_int_equal(api_audit_resp_prepare(f->a, r, resp, &l), TR_OK);
    api_audit_line_queue(f->a, l, NULL, NULL); /* dropped (ASan: not leaked) */
    assert_int_equal(api_audit_resp_prepare(f->a, r, resp, &l), TR_OK);
    api_audit_line_queue(NULL, l, on_queued, &bad);
    assert_int_equal(bad.calls, 1);
    assert_int_equal(bad.rc, TR_E_INVAL);
    assert_int_equal(api_audit_resp_prepare(f->a, r, resp, &l), TR_OK);
    assert_int_equal(api_audit_line_write(NULL, l, NULL), TR_E_INVAL); /* consumed anyway */
    assert_int_equal(api_audit_resp_prepare(f->a, r, resp, &l), TR_OK);
    /* break the device: a sync fails (a pipe cannot be fdatasync'ed) */
    fd = find_fd(f->path);
    saved = dup(fd);
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(dup2(pipefd[1], fd), fd);
    assert_int_equal(api_audit_log(f->a, "request", e), TR_E_IO);
    assert_int_equal(dup2(saved, fd), fd);
    api_audit_line_queue(f->a, l, on_queued, &q); /* refused by the sync thread */
    cb_wait(2);
    pthread_mutex_lock(&cb.mu);
    assert_int_equal(q.calls, 1);
    assert_int_equal(q.rc, TR_E_IO);
    pthread_mutex_unlock(&cb.mu);
    api_audit_line_free(NULL);
    api_audit_req_free(r);
    api_audit_close(f->a);
    f->a = NULL;
    close(saved);
    close(pipefd[0]);
    close(pipefd[1]);
    json_decref(req);
    json_decref(resp);
    json_decref(e);
}

/* api_audit_close writes and syncs every queued line and releases each exactly once. */
static void test_audit_line_queue_close_writes_all(void **state)
{
    struct fixture *f = *state;
    struct rec first = {0};
    struct qrec q[8];

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    obs_reset(find_fd(f->path));
    obs_gate(true);
    log_async(f->a, 0, &first);
    obs_wait_entered(1);
    for (int i = 0; i < 8; i++)
        serve_queued(f->a, i, &q[i]);
    obs_gate(false);
    api_audit_close(f->a);
    f->a = NULL;
    assert_int_equal(cb_done(), 9);
    assert_queued_durable(f->path, q, 8);
    assert_int_equal(obs_covered(), file_size(f->path));
    assert_chain_ok(f->path, 17);
}

/* ---- api_audit_hash ------------------------------------------------------------------------- */

static void test_audit_hash_stable_and_keyed(void **state)
{
    char a1[API_AUDIT_HMAC_STR], a2[API_AUDIT_HMAC_STR], b[API_AUDIT_HMAC_STR], hex[65];
    uint8_t raw[32];

    (void)state;
    assert_int_equal(api_audit_hash("abc", 3, a1), TR_OK);
    assert_int_equal(api_audit_hash("abc", 3, a2), TR_OK);
    assert_int_equal(api_audit_hash("abd", 3, b), TR_OK);
    assert_string_equal(a1, a2);
    assert_string_not_equal(a1, b);
    assert_int_equal(strncmp(a1, "hmac-blake2b:", 13), 0);
    assert_int_equal(strlen(a1), 13 + 64);
    assert_int_equal(api_audit_hash("", 0, b), TR_OK);
    assert_int_equal(api_audit_hash(NULL, 1, b), TR_E_INVAL);
    assert_string_equal(b, "");
    /* Keyed: not the plain BLAKE2b-256 of the value. */
    assert_int_equal(crypto_generichash(raw, sizeof(raw), (const uint8_t *)"abc", 3, NULL, 0), 0);
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    assert_string_not_equal(a1 + 13, hex);
    enc_seal(ENC_REASON_OPERATOR);
    assert_int_equal(api_audit_hash("abc", 3, b), TR_E_SEALED);
    assert_string_equal(b, "");
}

/* ---- api_audit_open --------------------------------------------------------------------------- */

/* ---- the durable head, for anchoring (api_audit_head_get/check) ------------------------------ */

/* The head a line gives: its seq, the end of its '\n' in the file, SHA-256 of its bytes. */
static void head_of_line(const char *path, int n, struct api_audit_head *out)
{
    char *lines[64], *buf;
    size_t len, end = 0;

    buf = slurp(path, &len);
    assert_true(split_lines(buf, len, lines, 64) >= n);
    for (int i = 0; i < n; i++)
        end += strlen(lines[i]) + 1;
    out->seq = (uint64_t)n;
    out->end = end;
    assert_int_equal(tr_audit_sha256_hex(lines[n - 1], strlen(lines[n - 1]), out->hash), TR_OK);
    free(buf);
}

static void test_audit_head_follows_durable_lines(void **state)
{
    struct fixture *f = *state;
    struct api_audit_head h, want;
    json_t *e = entry_new(9);
    uint64_t seq = 0;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    api_audit_head_get(f->a, &h);
    assert_int_equal(h.seq, 0);
    assert_int_equal(h.end, 0);
    assert_string_equal(h.hash, TR_AUDIT_GENESIS);
    log_n(f->a, 0, 3);
    api_audit_head_get(f->a, &h);
    head_of_line(f->path, 3, &want);
    assert_int_equal(h.seq, 3);
    assert_int_equal(h.end, want.end);
    assert_int_equal(h.end, (uint64_t)file_size(f->path));
    assert_string_equal(h.hash, want.hash);
    /* written but not yet waited for: nothing synced it, so it is not the head */
    assert_int_equal(api_audit_log_nosync(f->a, "request", e, &seq), TR_OK);
    assert_int_equal(seq, 4);
    api_audit_head_get(f->a, &h);
    assert_int_equal(h.seq, 3);
    assert_int_equal(api_audit_wait(f->a, 4), TR_OK);
    api_audit_head_get(f->a, &h);
    head_of_line(f->path, 4, &want);
    assert_int_equal(h.seq, 4);
    assert_int_equal(h.end, want.end);
    assert_string_equal(h.hash, want.hash);
    api_audit_close(f->a);
    /* reopened: the file's last line, as it is on disk */
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    api_audit_head_get(f->a, &h);
    assert_int_equal(h.seq, 4);
    assert_int_equal(h.end, want.end);
    assert_string_equal(h.hash, want.hash);
    json_decref(e);
}

static void test_audit_head_check(void **state)
{
    struct fixture *f = *state;
    struct api_audit_head h4, h2, bad;
    char why[96];

    write_lines(f, 5);
    head_of_line(f->path, 4, &h4);
    head_of_line(f->path, 2, &h2);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_head_check(f->a, &h4, why, sizeof(why)), TR_OK);
    assert_string_equal(why, "");
    assert_int_equal(api_audit_head_check(f->a, &h2, why, sizeof(why)), TR_OK);
    bad = (struct api_audit_head){0};
    assert_int_equal(api_audit_head_check(f->a, &bad, why, sizeof(why)), TR_OK); /* none kept */
    /* another line's hash, another seq, a place inside a line, past the end */
    bad = h4;
    memcpy(bad.hash, h2.hash, sizeof(bad.hash));
    assert_int_equal(api_audit_head_check(f->a, &bad, why, sizeof(why)), TR_E_TAMPER);
    assert_string_equal(why, "the line at the anchored place is not the anchored line");
    bad = h4;
    bad.seq = 3;
    assert_int_equal(api_audit_head_check(f->a, &bad, why, sizeof(why)), TR_E_TAMPER);
    bad = h4;
    bad.end -= 10;
    assert_int_equal(api_audit_head_check(f->a, &bad, why, sizeof(why)), TR_E_TAMPER);
    bad = h4;
    bad.end = (uint64_t)file_size(f->path) + 1;
    assert_int_equal(api_audit_head_check(f->a, &bad, why, sizeof(why)), TR_E_TAMPER);
    assert_string_equal(why, "the file ends before the anchored line");
    assert_int_equal(api_audit_head_check(NULL, &h4, why, sizeof(why)), TR_E_INVAL);
    assert_int_equal(api_audit_head_check(f->a, NULL, why, sizeof(why)), TR_E_INVAL);
    api_audit_close(f->a);
    /* the file cut back to 2 lines: the anchored line 4 is gone, line 2 is still there */
    assert_int_equal(truncate(f->path, (off_t)h2.end), 0);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(api_audit_head_check(f->a, &h4, why, sizeof(why)), TR_E_TAMPER);
    assert_string_equal(why, "the file ends before the anchored line");
    assert_int_equal(api_audit_head_check(f->a, &h2, why, sizeof(why)), TR_OK);
}

static void test_audit_open_reopen_continues_chain(void **state)
{
    struct fixture *f = *state;
    char *lines[8], *buf;
    size_t len;
    json_t *last;

    write_lines(f, 3);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 3, 2);
    assert_chain_ok(f->path, 5);
    buf = slurp(f->path, &len);
    assert_int_equal(split_lines(buf, len, lines, 8), 5);
    last = json_loads(lines[4], 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(last, "seq")), 5);
    json_decref(last);
    free(buf);
}

static void test_audit_open_mode_0600(void **state)
{
    struct fixture *f = *state;
    mode_t old = umask(0);
    struct stat st;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    umask(old);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    api_audit_close(f->a);
    f->a = NULL;
    assert_int_equal(chmod(f->path, 0644), 0); /* readable by others: accepted, then fixed */
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_audit_open_refuses_unsafe(void **state)
{
    struct fixture *f = *state;
    static const mode_t bad_modes[] = {0620, 0602, 0700, 0610, 0601, 0666};
    char other[160], fifo[160], sym[160];

    assert_int_equal(api_audit_open(NULL, &f->a), TR_E_INVAL);
    assert_int_equal(api_audit_open("", &f->a), TR_E_INVAL);
    assert_int_equal(api_audit_open(f->path, NULL), TR_E_INVAL);
    spit(f->path, "", 0);
    for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
        assert_int_equal(chmod(f->path, bad_modes[i]), 0);
        assert_int_equal(api_audit_open(f->path, &f->a), TR_E_DENIED);
        assert_null(f->a);
    }
    assert_int_equal(chmod(f->path, 0600), 0);
    snprintf(sym, sizeof(sym), "%s/link.log", f->dir);
    assert_int_equal(symlink(f->path, sym), 0);
    assert_int_equal(api_audit_open(sym, &f->a), TR_E_DENIED);
    snprintf(other, sizeof(other), "%s/dangling.log", f->dir);
    assert_int_equal(symlink("/nonexistent/x", other), 0);
    assert_int_equal(api_audit_open(other, &f->a), TR_E_DENIED);
    snprintf(other, sizeof(other), "%s/hard.log", f->dir);
    assert_int_equal(link(f->path, other), 0);
    assert_int_equal(api_audit_open(other, &f->a), TR_E_DENIED); /* two names, one inode */
    snprintf(fifo, sizeof(fifo), "%s/fifo.log", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(api_audit_open(fifo, &f->a), TR_E_DENIED);
    assert_int_equal(api_audit_open(f->dir, &f->a), TR_E_DENIED);
    assert_null(f->a);
}

/* A torn end (a write killed part way, docs/api.md "Audit") is cut back to the last whole
 * line, which must itself be good; a bad whole last line is refused. */
static void test_audit_open_refuses_bad_tail(void **state)
{
    struct fixture *f = *state;
    size_t len, len2;
    char *buf, *h = NULL;

    write_lines(f, 2);
    free(slurp(f->path, &len2));
    write_lines(f, 1);
    buf = slurp(f->path, &len);
    spit(f->path, buf, len - 1); /* no final newline: torn */
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    api_audit_close(f->a);
    f->a = NULL;
    assert_int_equal(file_size(f->path), len2); /* the whole torn line is gone */
    assert_chain_ok(f->path, 2);
    for (char *p = buf; (p = strstr(p, "\"hash\":\"")); p++)
        h = p; /* the last line's own hash */
    assert_non_null(h);
    h[8] = h[8] == 'a' ? 'b' : 'a';
    spit(f->path, buf, len);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_E_TAMPER);
    memcpy(buf + len, buf, 30);
    spit(f->path, buf, len + 30); /* a torn line after a bad whole line: still refused */
    assert_int_equal(api_audit_open(f->path, &f->a), TR_E_TAMPER);
    spit(f->path, "\n", 1);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_E_TAMPER);
    assert_null(f->a);
    free(buf);
}

/* ---- rotation ------------------------------------------------------------------------------ */

/* The one line of a file, or its line n (1-based), parsed. */
static json_t *line_json(const char *path, int n)
{
    static char *lines[8192];
    char *buf;
    size_t len;
    json_t *o;

    buf = slurp(path, &len);
    assert_true(split_lines(buf, len, lines, 8192) >= n);
    o = json_loads(lines[n - 1], 0, NULL);
    assert_non_null(o);
    free(buf);
    return o;
}

static int count_lines(const char *path)
{
    size_t len;
    char *buf = slurp(path, &len);
    int n = (int)count_of(buf, len, "\n");

    free(buf);
    return n;
}

/* The hash of a file's last line (any number of lines). */
static void last_line_head(const char *path, struct api_audit_head *out)
{
    size_t len;
    char *buf = slurp(path, &len), *start;

    assert_true(len > 0 && buf[len - 1] == '\n');
    buf[len - 1] = '\0';
    start = strrchr(buf, '\n') ? strrchr(buf, '\n') + 1 : buf;
    out->end = len;
    assert_int_equal(tr_audit_sha256_hex(start, strlen(start), out->hash), TR_OK);
    free(buf);
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void test_audit_rotate_continues_chain(void **state)
{
    struct fixture *f = *state;
    struct api_audit_head h3, h;
    char rotated[PATH_MAX], want[PATH_MAX], why[96];
    json_t *m;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 3);
    head_of_line(f->path, 3, &h3);
    assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_OK);
    snprintf(want, sizeof(want), "%s.3", f->path);
    assert_string_equal(rotated, want);
    /* the rotated file is the old one, whole, and nothing more */
    assert_chain_ok(rotated, 3);
    assert_int_equal((uint64_t)file_size(rotated), h3.end);
    assert_int_equal(file_size(rotated) > 0, 1);
    /* the new file starts with the marker that links to it */
    assert_int_equal(count_lines(f->path), 1);
    m = line_json(f->path, 1);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "rotation");
    assert_int_equal(json_integer_value(json_object_get(m, "seq")), 4);
    assert_string_equal(json_string_value(json_object_get(m, "prev_hash")), h3.hash);
    json_t *r = json_object_get(m, "rotation");
    assert_string_equal(json_string_value(json_object_get(r, "file")), "audit.log.3");
    assert_int_equal(json_integer_value(json_object_get(r, "seq")), 3);
    assert_int_equal(json_integer_value(json_object_get(r, "end")), (json_int_t)h3.end);
    json_decref(m);
    assert_int_equal(file_size(f->path) > 0, 1);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* the head is the marker, durable; the chain goes on in the new file */
    api_audit_head_get(f->a, &h);
    assert_int_equal(h.seq, 4);
    assert_int_equal(h.end, (uint64_t)file_size(f->path));
    assert_int_equal(api_audit_head_check(f->a, &h, why, sizeof(why)), TR_OK);
    log_n(f->a, 3, 2);
    m = line_json(f->path, 3);
    assert_int_equal(json_integer_value(json_object_get(m, "seq")), 6);
    json_decref(m);
    assert_chain_ok(f->path, 3); /* a continuation file verifies on its own */
    /* nothing since the marker: no rotation into an empty part */
    api_audit_close(f->a);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    api_audit_head_get(f->a, &h);
    assert_int_equal(h.seq, 6); /* reopened: the chain's head is the new file's last line */
    assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_OK);
    assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_E_NOTFOUND);
    assert_string_equal(rotated, "");
    snprintf(want, sizeof(want), "%s.6", f->path);
    assert_true(exists(want));
    log_n(f->a, 5, 1);
    m = line_json(f->path, 2);
    assert_int_equal(json_integer_value(json_object_get(m, "seq")), 8);
    json_decref(m);
    snprintf(want, sizeof(want), "%s.next", f->path);
    assert_false(exists(want));
}

static void test_audit_rotate_head_check_follows_marker(void **state)
{
    struct fixture *f = *state;
    struct api_audit_head h3, h5, bad;
    char rotated[PATH_MAX], moved[PATH_MAX + 8], why[96];

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 5);
    head_of_line(f->path, 3, &h3);
    head_of_line(f->path, 5, &h5);
    assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_OK);
    /* anchored before the rotation (a crash before the next anchoring): found one file back */
    assert_int_equal(api_audit_head_check(f->a, &h5, why, sizeof(why)), TR_OK);
    assert_int_equal(api_audit_head_check(f->a, &h3, why, sizeof(why)), TR_OK);
    bad = h5;
    memcpy(bad.hash, h3.hash, sizeof(bad.hash));
    assert_int_equal(api_audit_head_check(f->a, &bad, why, sizeof(why)), TR_E_TAMPER);
    assert_string_equal(why, "the rotated file does not hold the anchored line");
    /* the rotated file must stay as it was rotated */
    snprintf(moved, sizeof(moved), "%s.moved", rotated);
    assert_int_equal(rename(rotated, moved), 0);
    assert_int_equal(api_audit_head_check(f->a, &h5, why, sizeof(why)), TR_E_TAMPER);
    assert_string_equal(why, "the rotated file this one continues is missing");
    assert_int_equal(truncate(moved, (off_t)h3.end), 0);
    assert_int_equal(rename(moved, rotated), 0);
    assert_int_equal(api_audit_head_check(f->a, &h3, why, sizeof(why)), TR_E_TAMPER);
    assert_string_equal(why, "the rotated file this one continues changed after rotation");
    api_audit_close(f->a);
    f->a = NULL;
    /* restart with an intact pair: still found after a reopen */
    rm_rf(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 5);
    assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_OK);
    api_audit_close(f->a);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    head_of_line(rotated, 5, &h5);
    assert_int_equal(api_audit_head_check(f->a, &h5, why, sizeof(why)), TR_OK);
    /* two rotations since the anchoring is more than the anchoring ever lets happen */
    log_n(f->a, 5, 1);
    assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_OK);
    assert_int_equal(api_audit_head_check(f->a, &h5, why, sizeof(why)), TR_E_TAMPER);
    assert_string_equal(why, "the rotated file does not hold the anchored line");
    /* a file that does not start with a marker keeps its own reason */
    bad = h5;
    bad.seq = 99;
    bad.end = 1;
    assert_int_equal(api_audit_head_check(f->a, &bad, why, sizeof(why)), TR_E_TAMPER);
}

static void test_audit_rotate_keep_prunes(void **state)
{
    struct fixture *f = *state;
    char rotated[PATH_MAX], name[PATH_MAX + 16];
    uint64_t last[5];

    snprintf(name, sizeof(name), "%s.old", f->path);
    spit(name, "x\n", 2);
    snprintf(name, sizeof(name), "%s.07", f->path);
    spit(name, "x\n", 2);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    for (int i = 0; i < 5; i++) {
        log_n(f->a, i * 2, 2);
        assert_int_equal(api_audit_rotate(f->a, 2, rotated, sizeof(rotated)), TR_OK);
        struct api_audit_head h;
        api_audit_head_get(f->a, &h);
        last[i] = h.seq - 1;
    }
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "%s.%llu", f->path, (unsigned long long)last[i]);
        assert_int_equal(exists(name), i >= 3);
    }
    snprintf(name, sizeof(name), "%s.old", f->path);
    assert_true(exists(name));
    snprintf(name, sizeof(name), "%s.07", f->path);
    assert_true(exists(name));
}

static void test_audit_rotate_refuses_taken_name(void **state)
{
    struct fixture *f = *state;
    char rotated[PATH_MAX], name[PATH_MAX + 16];

    snprintf(name, sizeof(name), "%s.2", f->path);
    spit(name, "not ours\n", 9);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 2);
    assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_E_EXISTS);
    assert_string_equal(rotated, "");
    /* nothing moved, nothing left over, and the device goes on writing the same file */
    snprintf(name, sizeof(name), "%s.next", f->path);
    assert_false(exists(name));
    log_n(f->a, 2, 1);
    assert_chain_ok(f->path, 3);
    assert_int_equal(api_audit_rotate(NULL, 0, rotated, sizeof(rotated)), TR_E_INVAL);
}

/* A rotation that fails the same way each time (here a taken name, as a rotation by size retries
 * every anchoring interval) is logged once, counted each time, and its recovery once. */
static void test_audit_rotate_failure_log_bounded(void **state)
{
    struct fixture *f = *state;
    char rotated[PATH_MAX], name[PATH_MAX + 16], last[512];
    struct api_audit_stats st;

    snprintf(name, sizeof(name), "%s.2", f->path);
    spit(name, "not ours\n", 9);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 2);
    log_count_set("audit: rotation failed");
    for (int i = 0; i < 50; i++)
        assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_E_EXISTS);
    assert_int_equal(log_count(last, sizeof(last)), 1);
    assert_non_null(strstr(last, "File exists"));
    api_audit_stats_get(f->a, &st);
    assert_int_equal(st.rotation_failures, 50);
    assert_int_equal(st.rotations, 0);
    log_count_set("rotation works again");
    assert_int_equal(unlink(name), 0);
    assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_OK);
    assert_int_equal(log_count(last, sizeof(last)), 1);
    assert_non_null(strstr(last, "after 50 failed"));
    api_audit_stats_get(f->a, &st);
    assert_int_equal(st.rotations, 1);
    /* nothing written since: no rotation, and no failure either */
    assert_int_equal(api_audit_rotate(f->a, 0, rotated, sizeof(rotated)), TR_E_NOTFOUND);
    api_audit_stats_get(f->a, &st);
    assert_int_equal(st.rotation_failures, 50);
}

/* Sets path's modification time to now - ago seconds. */
static void age(const char *path, time_t ago)
{
    struct timespec ts[2];

    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= ago;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool rotated_exists(const struct fixture *f, uint64_t seq)
{
    char name[PATH_MAX + 32];

    snprintf(name, sizeof(name), "%s.%llu", f->path, (unsigned long long)seq);
    return exists(name);
}

/* Rotate (keep) and return the rotated file's seq. */
static uint64_t rotate_keep(struct fixture *f, uint32_t keep)
{
    char rotated[PATH_MAX];
    struct api_audit_head h;

    assert_int_equal(api_audit_rotate(f->a, keep, rotated, sizeof(rotated)), TR_OK);
    api_audit_head_get(f->a, &h);
    return h.seq - 1;
}

/* The log restarted at seq 1 (an emptied file adopted by a storage recovery): the earlier
 * chain's rotated files have higher seqs than the new chain's. They are pruned once beyond keep,
 * after this chain's files and only if older than its oldest; the file just rotated is always
 * kept, and a file not linked to this chain but newer than it is left alone. */
static void test_audit_rotate_keep_prunes_earlier_chain(void **state)
{
    struct fixture *f = *state;
    char name[PATH_MAX + 32];
    uint64_t b1, b2, b3, b4;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    for (int i = 0; i < 3; i++) { /* the earlier chain: .2 .5 .8, rotated an hour ago */
        log_n(f->a, i * 2, 2);
        (void)rotate_keep(f, 0);
    }
    api_audit_close(f->a);
    f->a = NULL;
    for (uint64_t s = 2, i = 0; s <= 8; s += 3, i++) {
        snprintf(name, sizeof(name), "%s.%llu", f->path, (unsigned long long)s);
        age(name, 3600 - (time_t)i * 60);
    }
    assert_int_equal(truncate(f->path, 0), 0); /* emptied: the chain starts again at seq 1 */
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    log_n(f->a, 0, 3);
    b1 = rotate_keep(f, 2);
    assert_int_equal(b1, 3);
    /* this chain has one file: it and the newest older file stay, the two oldest go */
    assert_true(rotated_exists(f, 3) && rotated_exists(f, 8));
    assert_false(rotated_exists(f, 5) || rotated_exists(f, 2));
    /* a file not linked to this chain and newer than its oldest file (put back by hand) */
    snprintf(name, sizeof(name), "%s.100", f->path);
    spit(name, "x\n", 2);
    age(name, -60); /* its time says now, whatever the file system's clock granularity */
    log_n(f->a, 3, 2);
    b2 = rotate_keep(f, 2); /* its seqs pass the earlier chain's: .6 */
    assert_int_equal(b2, 6);
    assert_true(rotated_exists(f, b2) && rotated_exists(f, b1));
    assert_false(rotated_exists(f, 8));  /* beyond keep, older than this chain */
    assert_true(rotated_exists(f, 100)); /* newer than this chain's oldest file (.3): left */
    log_n(f->a, 5, 2);
    b3 = rotate_keep(f, 2);
    assert_true(rotated_exists(f, b3) && rotated_exists(f, b2));
    assert_false(rotated_exists(f, b1));
    assert_true(rotated_exists(f, 100)); /* still newer than this chain's oldest file (.3) */
    age(name, 7200);                     /* older than every file of this chain now */
    log_n(f->a, 7, 2);
    b4 = rotate_keep(f, 1);
    assert_true(rotated_exists(f, b4)); /* keep 1: the file just rotated, and nothing else */
    assert_false(rotated_exists(f, b3) || rotated_exists(f, b2) || rotated_exists(f, 100));
    /* a file not linked to this chain and newer than all of it: the file just rotated is still
     * the one kept, and that file is left alone */
    snprintf(name, sizeof(name), "%s.500", f->path);
    spit(name, "x\n", 2);
    age(name, -3600);
    log_n(f->a, 9, 2);
    uint64_t b5 = rotate_keep(f, 1);
    assert_true(rotated_exists(f, b5) && rotated_exists(f, 500));
    assert_false(rotated_exists(f, b4));
    assert_chain_ok(f->path, 1);
}

static void test_audit_open_finishes_interrupted_rotation(void **state)
{
    struct fixture *f = *state;
    struct api_audit_head h3;
    char next[PATH_MAX + 8], rotated[PATH_MAX + 8], hash[TR_AUDIT_HASH_HEX + 1], *line = NULL;
    size_t len = 0;
    json_t *m;

    write_lines(f, 3);
    head_of_line(f->path, 3, &h3);
    /* killed after the new file was written and the old one moved, before the new one moved in */
    snprintf(next, sizeof(next), "%s.next", f->path);
    snprintf(rotated, sizeof(rotated), "%s.3", f->path);
    assert_int_equal(tr_audit_rotation_line(3, h3.hash, "2026-11-23T00:00:00Z", "audit.log.3",
                                            h3.end, &line, &len, hash),
                     TR_OK);
    spit(next, line, len);
    FILE *fp = fopen(next, "ab");
    assert_non_null(fp);
    fputc('\n', fp);
    fclose(fp);
    assert_int_equal(chmod(next, 0600), 0);
    assert_int_equal(rename(f->path, rotated), 0);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_false(exists(next));
    log_n(f->a, 3, 1);
    m = line_json(f->path, 2);
    assert_int_equal(json_integer_value(json_object_get(m, "seq")), 5);
    json_decref(m);
    char why[96];
    assert_int_equal(api_audit_head_check(f->a, &h3, why, sizeof(why)), TR_OK);
    api_audit_close(f->a);
    f->a = NULL;
    /* killed before the old file moved: the leftover goes, the old file stays current */
    spit(next, line, len);
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    assert_false(exists(next));
    log_n(f->a, 4, 1);
    assert_int_equal(count_lines(f->path), 3);
    assert_chain_ok(f->path, 3);
    free(line);
}

struct rot_worker {
    struct api_audit *a;
    int id;
    int failures;
};

static void *rot_worker_run(void *arg)
{
    struct rot_worker *w = arg;

    for (int i = 0; i < 150; i++) {
        json_t *e = entry_new(w->id * 1000 + i);
        if (!e || api_audit_log(w->a, i % 2 ? "response" : "request", e) != TR_OK)
            w->failures++;
        json_decref(e);
    }
    return NULL;
}

/* Rotations while 4 threads write: every line lands once, in order, and the files chain. */
static void test_audit_rotate_concurrent_writers(void **state)
{
    struct fixture *f = *state;
    struct rot_worker w[4];
    pthread_t th[4];
    char rotated[PATH_MAX], files[64][PATH_MAX];
    int nfiles = 0, markers = 0, total = 0;

    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct rot_worker){.a = f->a, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, rot_worker_run, &w[i]), 0);
    }
    for (int r = 0; r < 40 && nfiles < 63; r++) {
        int rc = api_audit_rotate(f->a, 0, rotated, sizeof(rotated));
        assert_true(rc == TR_OK || rc == TR_E_NOTFOUND);
        if (rc == TR_OK)
            snprintf(files[nfiles++], PATH_MAX, "%s", rotated);
        usleep(2000);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    snprintf(files[nfiles++], PATH_MAX, "%s", f->path);
    assert_true(nfiles >= 3);
    /* each file verifies alone; each later one's marker links to the earlier one's last line */
    for (int i = 0; i < nfiles; i++) {
        int n = count_lines(files[i]);
        assert_chain_ok(files[i], (uint64_t)n);
        total += n;
        if (i == 0)
            continue;
        struct api_audit_head prev;
        last_line_head(files[i - 1], &prev);
        json_t *m = line_json(files[i], 1);
        assert_string_equal(json_string_value(json_object_get(m, "type")), "rotation");
        assert_string_equal(json_string_value(json_object_get(m, "prev_hash")), prev.hash);
        json_t *last = line_json(files[i - 1], count_lines(files[i - 1]));
        assert_int_equal(json_integer_value(json_object_get(m, "seq")),
                         json_integer_value(json_object_get(last, "seq")) + 1);
        json_decref(last);
        json_decref(m);
        markers++;
    }
    assert_int_equal(total - markers, 4 * 150);
}

struct rot_async {
    struct api_audit *a;
    int id;
    struct rec r[100];
};

static void *rot_async_run(void *arg)
{
    struct rot_async *w = arg;

    for (int i = 0; i < 100; i++) {
        (void)log_async(w->a, w->id * 1000 + i, &w->r[i]);
        if (i % 10 == 0)
            usleep(500);
    }
    return NULL;
}

/* Event-loop style waiters (callbacks) while rotations run: each is called once, with TR_OK,
 * without any later activity to push it out (a rotation syncs lines itself, and the sync thread
 * must still release their callbacks). */
static void test_audit_rotate_async_waiters_released(void **state)
{
    struct fixture *f = *state;
    static struct rot_async w[3];
    pthread_t th[3];
    char rotated[PATH_MAX];

    cb_reset();
    assert_int_equal(api_audit_open(f->path, &f->a), TR_OK);
    for (int i = 0; i < 3; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].a = f->a;
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, rot_async_run, &w[i]), 0);
    }
    for (int r = 0; r < 30; r++) {
        int rc = api_audit_rotate(f->a, 0, rotated, sizeof(rotated));
        assert_true(rc == TR_OK || rc == TR_E_NOTFOUND);
        usleep(1000);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    cb_wait(300); /* the device stays open: nothing but the sync thread can call them */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 100; j++) {
            assert_int_equal(w[i].r[j].calls, 1);
            assert_int_equal(w[i].r[j].rc, TR_OK);
        }
}

/* ---- tr_audit_verify_file ----------------------------------------------------------------- */

static void test_audit_verify_file_edited_middle_line(void **state)
{
    struct fixture *f = *state;
    size_t len;
    char *buf, *p;

    write_lines(f, N_LINES);
    buf = slurp(f->path, &len);
    p = strstr(buf, "app-2"); /* line 3's path */
    assert_non_null(p);
    p[4] = '9';
    spit(f->path, buf, len);
    assert_bad_line(f->path, 3, "hash mismatch");
    free(buf);
}

static void test_audit_verify_file_deleted_line(void **state)
{
    struct fixture *f = *state;
    char *lines[N_LINES + 1], *buf;
    size_t len;

    write_lines(f, N_LINES);
    buf = slurp(f->path, &len);
    assert_int_equal(split_lines(buf, len, lines, N_LINES + 1), N_LINES);
    memmove(&lines[2], &lines[3], (N_LINES - 3) * sizeof(lines[0]));
    join_lines(f->path, lines, N_LINES - 1);
    assert_bad_line(f->path, 3, "broken link");
    free(buf);
}

static void test_audit_verify_file_deleted_first_line(void **state)
{
    struct fixture *f = *state;
    char *lines[N_LINES + 1], *buf;
    size_t len;

    write_lines(f, N_LINES);
    buf = slurp(f->path, &len);
    assert_int_equal(split_lines(buf, len, lines, N_LINES + 1), N_LINES);
    join_lines(f->path, lines + 1, N_LINES - 1);
    assert_bad_line(f->path, 1, "genesis");
    free(buf);
}

static void test_audit_verify_file_swapped_lines(void **state)
{
    struct fixture *f = *state;
    char *lines[N_LINES + 1], *buf, *tmp;
    size_t len;

    write_lines(f, N_LINES);
    buf = slurp(f->path, &len);
    assert_int_equal(split_lines(buf, len, lines, N_LINES + 1), N_LINES);
    tmp = lines[2];
    lines[2] = lines[3];
    lines[3] = tmp;
    join_lines(f->path, lines, N_LINES);
    assert_bad_line(f->path, 3, "broken link");
    free(buf);
}

static void test_audit_verify_file_truncated_last_line(void **state)
{
    struct fixture *f = *state;
    size_t len;
    char *buf;

    write_lines(f, N_LINES);
    buf = slurp(f->path, &len);
    spit(f->path, buf, len - 20);
    assert_bad_line(f->path, N_LINES, "truncated");
    spit(f->path, buf, len - 1); /* only the newline lost */
    assert_bad_line(f->path, N_LINES, "truncated");
    free(buf);
}

static void test_audit_verify_file_noncanonical_last_line(void **state)
{
    struct fixture *f = *state;
    size_t len;
    char *buf;

    write_lines(f, N_LINES);
    buf = slurp(f->path, &len);
    buf[len - 1] = ' '; /* "...} \n": same JSON, other bytes, no successor to catch it */
    buf[len] = '\n';
    spit(f->path, buf, len + 1);
    assert_bad_line(f->path, N_LINES, "canonical");
    free(buf);
}

/* A line whose own hash and link are right but whose seq skips one. */
static void test_audit_verify_file_seq_gap(void **state)
{
    struct fixture *f = *state;
    char *lines[N_LINES + 1], *buf, *forged;
    char hash[TR_AUDIT_HASH_HEX + 1];
    size_t len;
    json_t *o;

    write_lines(f, N_LINES);
    buf = slurp(f->path, &len);
    assert_int_equal(split_lines(buf, len, lines, N_LINES + 1), N_LINES);
    o = json_loads(lines[3], 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_object_set_new(o, "seq", json_integer(5)), 0);
    assert_int_equal(tr_audit_entry_hash(o, hash), TR_OK);
    assert_int_equal(json_object_set_new(o, "hash", json_string(hash)), 0);
    forged = json_dumps(o, TR_AUDIT_DUMP_FLAGS);
    lines[3] = forged;
    join_lines(f->path, lines, N_LINES);
    assert_bad_line(f->path, 4, "gap in seq");
    free(forged);
    json_decref(o);
    free(buf);
}

static void test_audit_verify_file_malformed_and_io(void **state)
{
    struct fixture *f = *state;
    char *lines[N_LINES + 1], *buf, junk[] = "{\"not\":\"json\"";
    uint64_t l, b;
    char why[128];
    size_t len;

    write_lines(f, N_LINES);
    buf = slurp(f->path, &len);
    assert_int_equal(split_lines(buf, len, lines, N_LINES + 1), N_LINES);
    lines[1] = junk;
    join_lines(f->path, lines, N_LINES);
    assert_bad_line(f->path, 2, "malformed JSON");
    spit(f->path, "", 0);
    assert_chain_ok(f->path, 0);
    assert_int_equal(verify("/nonexistent/audit.log", &l, &b, why, sizeof(why)), TR_E_IO);
    assert_int_equal(tr_audit_verify_file(NULL, NULL, NULL, NULL, 0), TR_E_INVAL);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_audit_log_chain_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_redacts_sensitive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_reserved_members_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_line_canonical_any_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_invalid_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_sealed_refuses_sensitive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_write_failure_log_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_short_write_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_sync_failure_refuses_until_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_wait_async_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_wait_async_group_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_wait_async_sync_failure_fails_waiters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_wait_async_broken_by_write_fails_waiters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_close_releases_waiters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_req_resp_lines_as_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_resp_writes_request_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_resp_sealed_records_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_req_set_refines_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_line_queue_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_line_queue_one_write_per_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_line_queue_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_line_queue_short_write_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_line_queue_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_line_queue_close_writes_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_hash_stable_and_keyed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_head_follows_durable_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_head_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_open_reopen_continues_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_open_mode_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_open_refuses_unsafe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_open_refuses_bad_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_rotate_continues_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_rotate_head_check_follows_marker, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_rotate_keep_prunes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_rotate_refuses_taken_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_rotate_failure_log_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_rotate_keep_prunes_earlier_chain, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_open_finishes_interrupted_rotation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_rotate_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_rotate_async_waiters_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_verify_file_edited_middle_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_verify_file_deleted_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_verify_file_deleted_first_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_verify_file_swapped_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_verify_file_truncated_last_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_verify_file_noncanonical_last_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_verify_file_seq_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_verify_file_malformed_and_io, setup, teardown),
    };

    tr_log_set_level(TR_LOG_DEBUG);
    tr_log_set_sink(log_sink, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
