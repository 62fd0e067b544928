#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../common/tr_log.h"
#include "../enclave/enclave.h"

#define AUDIT_DEPTH_MAX 64
#define AUDIT_TIME_MAX  48

_Static_assert(API_AUDIT_HMAC_STR == sizeof(API_AUDIT_HMAC_PREFIX) + ENC_MAC_BYTES * 2,
               "MAC text size");

/* A callback waiting for its line (api_audit_wait_async). */
struct waiter {
    struct waiter *next;
    uint64_t seq;
    api_audit_done_fn fn;
    void *arg;
};

struct api_audit {
    pthread_mutex_t mu;         /* orders lines: seq, prev and the file's end move together */
    pthread_cond_t work_cond;   /* wakes the sync thread: a line is waited for, or closing */
    pthread_cond_t synced_cond; /* wakes blocked waiters: a group sync ended */
    pthread_t syncer;
    int fd;
    uint64_t seq;                     /* seq of the last line in the file, 0 when empty */
    uint64_t synced;                  /* every line up to this seq is on stable storage */
    uint64_t wanted;                  /* highest seq somebody waits for */
    char prev[TR_AUDIT_HASH_HEX + 1]; /* SHA-256 of that line's bytes, or the genesis value */
    bool broken;                      /* a sync failed: what is on disk is unknown */
    bool closing;                     /* api_audit_close: sync what is left, then stop */
    struct waiter *waiters;           /* callbacks not yet released, newest first */
};

/* Member names whose whole subtree is sensitive, wherever they appear (see audit.h). */
static const char *const sensitive_keys[] = {
    "data",     "auth",       "token",     "client_token", "client_token_accessor",
    "accessor", "secret_id",  "key",       "keys",         "keys_base64",
    "password", "root_token", "plaintext", "ciphertext",
};

/* strcasecmp stops at an embedded NUL, so "password\0x" still counts as "password": stricter. */
static bool is_sensitive_key(const char *key)
{
    for (size_t i = 0; i < sizeof(sensitive_keys) / sizeof(sensitive_keys[0]); i++)
        if (strcasecmp(key, sensitive_keys[i]) == 0)
            return true;
    return false;
}

int api_audit_hash(const char *in, size_t len, char out[API_AUDIT_HMAC_STR])
{
    const size_t plen = sizeof(API_AUDIT_HMAC_PREFIX) - 1;
    uint8_t mac[ENC_MAC_BYTES];
    int rc = TR_E_INVAL;

    if (!out)
        return TR_E_INVAL;
    out[0] = '\0';
    if (!in && len)
        goto out;
    if ((rc = enc_mac(ENC_MAC_AUDIT, (const uint8_t *)(len ? in : ""), len, mac)) != TR_OK)
        goto out;
    memcpy(out, API_AUDIT_HMAC_PREFIX, plen);
    sodium_bin2hex(out + plen, API_AUDIT_HMAC_STR - plen, mac, sizeof(mac));
    rc = TR_OK;
out:
    sodium_memzero(mac, sizeof(mac));
    return rc;
}

/* A sensitive string or number becomes the string API_AUDIT_HMAC_PREFIX + hex. The caller's
 * value is read in place: no extra copy of the plaintext is made (numbers excepted: their text
 * is built to be MAC'd and freed at once). */
static int mac_leaf(json_t *v, json_t **out)
{
    char text[API_AUDIT_HMAC_STR];
    char *num = NULL;
    const char *p;
    size_t len;
    int rc = TR_E_NOMEM;

    if (json_is_string(v)) {
        p = json_string_value(v);
        len = json_string_length(v);
    } else {
        if (!(num = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)))
            goto out;
        p = num;
        len = strlen(num);
    }
    if ((rc = api_audit_hash(p, len, text)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (!(*out = json_string(text)))
        goto out;
    rc = TR_OK;
out:
    free(num);
    return rc;
}

static int redact(json_t *in, bool sens, int depth, json_t **out);

static int redact_object(json_t *in, bool sens, int depth, json_t **out)
{
    json_t *o = json_object(), *v, *child;
    const char *k;
    size_t klen;
    int rc = TR_E_NOMEM;

    if (!o)
        goto out;
    json_object_keylen_foreach(in, k, klen, v)
    {
        if ((rc = redact(v, sens || is_sensitive_key(k), depth + 1, &child)) != TR_OK)
            goto out;
        rc = TR_E_NOMEM;
        if (json_object_setn_new_nocheck(o, k, klen, child) != 0) /* child consumed either way */
            goto out;
    }
    *out = o;
    o = NULL;
    rc = TR_OK;
out:
    json_decref(o);
    return rc;
}

static int redact_array(json_t *in, bool sens, int depth, json_t **out)
{
    json_t *a = json_array(), *v, *child;
    size_t i;
    int rc = TR_E_NOMEM;

    if (!a)
        goto out;
    json_array_foreach(in, i, v)
    {
        if ((rc = redact(v, sens, depth + 1, &child)) != TR_OK)
            goto out;
        rc = TR_E_NOMEM;
        if (json_array_append_new(a, child) != 0) /* child consumed either way */
            goto out;
    }
    *out = a;
    a = NULL;
    rc = TR_OK;
out:
    json_decref(a);
    return rc;
}

/* Build a new tree from in: sensitive leaves MAC'd, everything else deep-copied. */
static int redact(json_t *in, bool sens, int depth, json_t **out)
{
    *out = NULL;
    if (depth > AUDIT_DEPTH_MAX)
        return TR_E_TOO_LARGE;
    if (json_is_object(in))
        return redact_object(in, sens, depth, out);
    if (json_is_array(in))
        return redact_array(in, sens, depth, out);
    if (sens && (json_is_string(in) || json_is_number(in)))
        return mac_leaf(in, out);
    *out = json_deep_copy(in);
    return *out ? TR_OK : TR_E_NOMEM;
}

/* RFC 3339 with nanoseconds, UTC, trailing fraction zeros trimmed: Go's time.RFC3339Nano, as
 * Vault writes "time". */
static int time_now(char buf[AUDIT_TIME_MAX])
{
    struct timespec ts;
    struct tm tm;
    char frac[16] = "";
    size_t n;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || !gmtime_r(&ts.tv_sec, &tm))
        return TR_E_INTERNAL;
    if (!(n = strftime(buf, AUDIT_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm)))
        return TR_E_INTERNAL;
    if (ts.tv_nsec > 0) {
        size_t f = (size_t)snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
        while (f > 1 && frac[f - 1] == '0')
            frac[--f] = '\0';
    }
    snprintf(buf + n, AUDIT_TIME_MAX - n, "%sZ", frac);
    return TR_OK;
}

/* How many members of e sort before "hash" in TR_AUDIT_DUMP_FLAGS order (jansson's
 * JSON_SORT_KEYS: bytes compared with memcmp, then the shorter key first). */
static size_t hash_rank(json_t *e)
{
    const char *k;
    size_t klen, rank = 0;
    json_t *v;

    json_object_keylen_foreach(e, k, klen, v)
    {
        int c = memcmp(k, "hash", klen < 4 ? klen : 4);
        if (c < 0 || (c == 0 && klen < 4))
            rank++;
    }
    return rank;
}

/* Offset of member number idx (0-based) of the compact JSON object text, i.e. of its key's
 * opening quote; 0 if there is none. Only jansson's own output is scanned: valid JSON. */
static size_t member_offset(const char *text, size_t len, size_t idx)
{
    size_t depth = 0, seen = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        if (in_str) {
            if (text[i] == '\\')
                i++; /* the escaped character cannot end the string */
            else if (text[i] == '"')
                in_str = false;
            continue;
        }
        if (text[i] == '"') {
            /* at depth 1 a string right after '{' or ',' is a key */
            if (depth == 1 && (text[i - 1] == '{' || text[i - 1] == ',') && seen++ == idx)
                return i;
            in_str = true;
        } else if (text[i] == '{' || text[i] == '[') {
            depth++;
        } else if (text[i] == '}' || text[i] == ']') {
            depth--;
        }
    }
    return 0;
}

/*
 * Add the device's members to e and serialise it as one '\n'-terminated line.
 * The canonical text without "hash" is what the entry hash covers (tr_audit_entry_hash); the line
 * is that text with the "hash" member inserted where JSON_SORT_KEYS puts it, so the entry is
 * serialised once, not twice (the verifier re-serialises every line and checks the bytes, so a
 * wrong splice cannot go unnoticed). "prev_hash" sorts after "hash", so a member always follows.
 * Called with a->mu held, so seq and prev_hash are those of the file's current last line.
 */
static int stamp(struct api_audit *a, json_t *e, const char *type, char **out_line, size_t *out_len,
                 char out_hash[TR_AUDIT_HASH_HEX + 1])
{
    static const char key[] = "\"hash\":\"";
    char when[AUDIT_TIME_MAX], hash[TR_AUDIT_HASH_HEX + 1];
    char *text = NULL, *line = NULL;
    size_t tlen, len, at, n;
    int rc;

    if ((rc = time_now(when)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    (void)json_object_del(e, "hash"); /* a caller's member of that name; absent is fine */
    if (json_object_set_new(e, "type", json_string(type)) ||
        json_object_set_new(e, "time", json_string(when)) ||
        json_object_set_new(e, "seq", json_integer((json_int_t)(a->seq + 1))) ||
        json_object_set_new(e, "prev_hash", json_string(a->prev)) ||
        !(text = json_dumps(e, TR_AUDIT_DUMP_FLAGS)))
        goto out;
    tlen = strlen(text);
    len = tlen + sizeof(key) - 1 + TR_AUDIT_HASH_HEX + 2; /* "hash":"<hex>", */
    rc = TR_E_TOO_LARGE;
    if (len > TR_AUDIT_LINE_MAX)
        goto out;
    if ((rc = tr_audit_sha256_hex(text, tlen, hash)) != TR_OK)
        goto out;
    rc = TR_E_INTERNAL;
    if (!(at = member_offset(text, tlen, hash_rank(e))))
        goto out;
    rc = TR_E_NOMEM;
    if (!(line = malloc(len + 2))) /* audit text holds MACs, not secrets */
        goto out;
    memcpy(line, text, at);
    n = at;
    memcpy(line + n, key, sizeof(key) - 1);
    n += sizeof(key) - 1;
    memcpy(line + n, hash, TR_AUDIT_HASH_HEX);
    n += TR_AUDIT_HASH_HEX;
    memcpy(line + n, "\",", 2);
    n += 2;
    memcpy(line + n, text + at, tlen - at);
    line[len] = '\0';
    if ((rc = tr_audit_sha256_hex(line, len, out_hash)) != TR_OK)
        goto out;
    line[len] = '\n';
    line[len + 1] = '\0';
    *out_line = line;
    *out_len = len + 1;
    line = NULL;
    rc = TR_OK;
out:
    free(text);
    free(line);
    return rc;
}

/* Refuse every later write and fail every line not yet durable: blocked waiters wake here, and
 * the sync thread releases the callbacks. Called with a->mu held. */
static void mark_broken(struct api_audit *a)
{
    a->broken = true;
    pthread_cond_broadcast(&a->synced_cond);
    pthread_cond_signal(&a->work_cond);
}

/* A short write (ENOSPC mid-line) must not leave half a line: the next one would be glued to
 * it. Cut it off; if that fails too, stop writing until an operator looks. */
static void undo_partial(struct api_audit *a, size_t written)
{
    struct stat st;

    if (fstat(a->fd, &st) == 0 && (uint64_t)st.st_size >= written &&
        ftruncate(a->fd, st.st_size - (off_t)written) == 0)
        return;
    tr_log_error("audit: cannot remove a partial line: %s; refusing further writes",
                 strerror(errno));
    mark_broken(a);
}

/* One write() on the O_APPEND descriptor. Called with a->mu held; the sync thread makes it
 * durable. */
static int append(struct api_audit *a, const char *line, size_t len)
{
    ssize_t w;

    do
        w = write(a->fd, line, len);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        tr_log_error("audit: write failed: %s", strerror(errno));
        return TR_E_IO;
    }
    if ((size_t)w != len) {
        tr_log_error("audit: short write (%zd of %zu bytes)", w, len);
        undo_partial(a, (size_t)w);
        return TR_E_IO;
    }
    return TR_OK;
}

static int log_locked(struct api_audit *a, const char *type, json_t *e, uint64_t *out_seq)
{
    char hash[TR_AUDIT_HASH_HEX + 1];
    char *line = NULL;
    size_t len = 0;
    int rc = TR_E_IO;

    if (a->broken)
        goto out;
    rc = TR_E_TOO_LARGE;
    if (a->seq >= (uint64_t)INT64_MAX) /* "seq" is a JSON integer */
        goto out;
    if ((rc = stamp(a, e, type, &line, &len, hash)) != TR_OK)
        goto out;
    if ((rc = append(a, line, len)) != TR_OK)
        goto out;
    a->seq++;
    memcpy(a->prev, hash, sizeof(a->prev));
    *out_seq = a->seq;
    rc = TR_OK;
out:
    free(line);
    return rc;
}

int api_audit_log_nosync(struct api_audit *a, const char *type, json_t *entry, uint64_t *out_seq)
{
    json_t *e = NULL;
    uint64_t seq = 0;
    int rc = TR_E_INVAL;

    if (!a || !type || !json_is_object(entry) ||
        (strcmp(type, "request") != 0 && strcmp(type, "response") != 0))
        goto out;
    /* MACs outside the lock: they are the expensive part and need no ordering. */
    if ((rc = redact(entry, false, 0, &e)) != TR_OK)
        goto out;
    pthread_mutex_lock(&a->mu);
    rc = log_locked(a, type, e, &seq);
    pthread_mutex_unlock(&a->mu);
    if (rc == TR_OK && out_seq)
        *out_seq = seq;
out:
    json_decref(e);
    return rc;
}

int api_audit_log(struct api_audit *a, const char *type, json_t *entry)
{
    uint64_t seq = 0;
    int rc = api_audit_log_nosync(a, type, entry, &seq);

    return rc == TR_OK ? api_audit_wait(a, seq) : rc;
}

/* ---- durability: the sync thread ---------------------------------------------------------- */

/* The verdict for a waiter on seq, once one is known. Called with a->mu held. */
static bool wait_decided(const struct api_audit *a, uint64_t seq, int *out_rc)
{
    if (a->synced >= seq) {
        *out_rc = TR_OK;
        return true;
    }
    if (a->broken) {
        *out_rc = TR_E_IO;
        return true;
    }
    return false;
}

/* Ask the sync thread to cover seq. Called with a->mu held. */
static void want_locked(struct api_audit *a, uint64_t seq)
{
    if (seq > a->wanted) {
        a->wanted = seq;
        pthread_cond_signal(&a->work_cond);
    }
}

int api_audit_wait(struct api_audit *a, uint64_t seq)
{
    int rc = TR_E_INVAL;

    if (!a)
        return TR_E_INVAL;
    pthread_mutex_lock(&a->mu);
    if (seq == 0 || seq > a->seq)
        goto out;
    want_locked(a, seq);
    while (!wait_decided(a, seq, &rc))
        pthread_cond_wait(&a->synced_cond, &a->mu);
out:
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void api_audit_wait_async(struct api_audit *a, uint64_t seq, api_audit_done_fn fn, void *arg)
{
    struct waiter *w = NULL;
    int rc = TR_E_INVAL;

    if (!fn)
        return;
    if (!a)
        goto out;
    /* Allocated before the lock (and maybe unused) so the mutex is never held across malloc. */
    rc = TR_E_NOMEM;
    if (!(w = malloc(sizeof(*w))))
        goto out;
    pthread_mutex_lock(&a->mu);
    if (seq == 0 || seq > a->seq)
        rc = TR_E_INVAL;
    else if (!wait_decided(a, seq, &rc)) {
        *w = (struct waiter){.next = a->waiters, .seq = seq, .fn = fn, .arg = arg};
        a->waiters = w;
        w = NULL; /* owned by the list now; fn runs when a sync decides */
        want_locked(a, seq);
        rc = TR_OK;
        pthread_mutex_unlock(&a->mu);
        return;
    }
    pthread_mutex_unlock(&a->mu);
out:
    free(w);
    fn(arg, rc);
}

/* Detach every waiter whose verdict is known, oldest first. Called with a->mu held. */
static struct waiter *take_decided(struct api_audit *a)
{
    struct waiter **pp = &a->waiters, *done = NULL;
    int rc;

    while (*pp) {
        struct waiter *w = *pp;
        if (wait_decided(a, w->seq, &rc)) {
            *pp = w->next;
            w->next = done; /* the list is newest first: reversing gives oldest first */
            done = w;
        } else {
            pp = &w->next;
        }
    }
    return done;
}

/* Call the detached waiters with their verdicts. Called without a->mu: callbacks send replies. */
static void release(struct waiter *done, uint64_t synced)
{
    while (done) {
        struct waiter *next = done->next;
        done->fn(done->arg, done->seq <= synced ? TR_OK : TR_E_IO); /* else: broken */
        free(done);
        done = next;
    }
}

/* One fdatasync for every line written so far. Called and returns with a->mu held; the mutex is
 * dropped during the sync so that lines keep being written (they join the next group). A line
 * counts as durable only when a sync that started after its write() succeeded. */
static void sync_once(struct api_audit *a)
{
    uint64_t upto = a->seq;

    pthread_mutex_unlock(&a->mu);
    int err = fdatasync(a->fd) == 0 ? 0 : errno;
    pthread_mutex_lock(&a->mu);
    if (err == 0) {
        a->synced = upto;
    } else {
        /* After a failed sync the kernel may have dropped lines (and reports it once): the
         * chain head is unknown, so no later line may claim to follow it. */
        tr_log_error("audit: fdatasync failed: %s; refusing further writes until reopened",
                     strerror(err));
        mark_broken(a);
        return;
    }
    pthread_cond_broadcast(&a->synced_cond);
}

static bool sync_needed(const struct api_audit *a)
{
    return !a->broken && (a->wanted > a->synced || (a->closing && a->seq > a->synced));
}

/* Callbacks whose lines can no longer become durable (a write broke the device). */
static bool fail_needed(const struct api_audit *a)
{
    return a->broken && a->waiters;
}

/* The sync thread: sleeps until a line is waited for, then syncs back to back while there is
 * anything to cover, so a group is every line written during the previous sync. */
static void *sync_main(void *arg)
{
    struct api_audit *a = arg;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->closing && !sync_needed(a) && !fail_needed(a))
            pthread_cond_wait(&a->work_cond, &a->mu);
        if (sync_needed(a))
            sync_once(a);
        else if (!fail_needed(a))
            break; /* closing, and every line is durable (or never can be) */
        struct waiter *done = take_decided(a);
        uint64_t synced = a->synced;
        pthread_mutex_unlock(&a->mu);
        release(done, synced);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- open ---------------------------------------------------------------------------------- */

static int open_error(const char *path, int err)
{
    tr_log_error("audit: cannot open %s: %s", path, strerror(err));
    switch (err) {
    case ELOOP: /* O_NOFOLLOW met a symlink */
    case EACCES:
    case EPERM:
    case EISDIR:
    case ENXIO:
        return TR_E_DENIED;
    case ENOMEM:
        return TR_E_NOMEM;
    default:
        return TR_E_IO;
    }
}

/* O_NONBLOCK only so that opening a FIFO planted at the path cannot hang us before fstat
 * refuses it; it changes nothing for regular files. O_EXCL tells a new file from an old one
 * (only old ones have their mode checked) and, with O_CREAT, never follows a symlink. */
static int open_file(const char *path, int *out_fd, bool *out_created)
{
    const int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
    int fd;

    for (int tries = 0; tries < 2; tries++) {
        if ((fd = open(path, flags)) >= 0) {
            *out_created = false;
            *out_fd = fd;
            return TR_OK;
        }
        if (errno != ENOENT)
            return open_error(path, errno);
        if ((fd = open(path, flags | O_CREAT | O_EXCL, 0600)) >= 0) {
            *out_created = true;
            *out_fd = fd;
            return TR_OK;
        }
        if (errno != EEXIST) /* EEXIST: appeared meanwhile, or a dangling symlink: retry */
            return open_error(path, errno);
    }
    return TR_E_IO;
}

static int check_file(const char *path, int fd, bool created)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return open_error(path, errno);
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1 ||
        (!created && (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH | S_IWGRP | S_IWOTH)))) {
        tr_log_error("audit: refusing %s: not a regular file of ours with one link, or "
                     "executable or group/world-writable",
                     path);
        return TR_E_DENIED;
    }
    if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0)
        return open_error(path, errno);
    return TR_OK;
}

/* A new file's name must survive a crash as well as its lines. */
static int sync_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd, rc = TR_OK;

    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return open_error(dir, errno);
    if (fsync(fd) != 0) {
        tr_log_error("audit: fsync of %s failed: %s", dir, strerror(errno));
        rc = TR_E_IO;
    }
    close(fd);
    return rc;
}

static int pread_all(int fd, char *buf, size_t len, off_t off)
{
    while (len) {
        ssize_t r = pread(fd, buf, len, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return TR_E_IO;
        buf += r;
        len -= (size_t)r;
        off += r;
    }
    return TR_OK;
}

/* Find and check the last line. One byte more than the longest line plus its '\n' is read, so a
 * line start is always seen unless the line is too long. */
static int read_tail(int fd, size_t size, struct tr_audit_link *out)
{
    size_t n = size < TR_AUDIT_LINE_MAX + 2 ? size : TR_AUDIT_LINE_MAX + 2;
    size_t start;
    char *buf = NULL, why[96] = "";
    int rc = TR_E_NOMEM;

    if (!(buf = malloc(n)))
        goto out;
    if ((rc = pread_all(fd, buf, n, (off_t)(size - n))) != TR_OK)
        goto out;
    rc = TR_E_TAMPER;
    if (buf[n - 1] != '\n') {
        snprintf(why, sizeof(why), "truncated last line (no newline)");
        goto out;
    }
    for (start = n - 1; start > 0 && buf[start - 1] != '\n'; start--)
        ;
    if (start == 0 && n < size) {
        snprintf(why, sizeof(why), "last line too long");
        goto out;
    }
    rc = tr_audit_line_check(buf + start, n - 1 - start, out, why, sizeof(why));
    if (rc == TR_E_INVAL || rc == TR_E_TOO_LARGE)
        rc = TR_E_TAMPER;
    if (rc == TR_OK && out->seq >= (uint64_t)INT64_MAX)
        rc = TR_E_TAMPER;
out:
    if (rc == TR_E_TAMPER)
        tr_log_error("audit: the file's last line is bad (%s); run `tresor audit verify`", why);
    free(buf);
    return rc;
}

static int recover_head(int fd, uint64_t *out_seq, char out_prev[TR_AUDIT_HASH_HEX + 1])
{
    struct tr_audit_link last;
    struct stat st;
    int rc;

    if (fstat(fd, &st) != 0)
        return TR_E_IO;
    if (st.st_size == 0) {
        *out_seq = 0;
        memcpy(out_prev, TR_AUDIT_GENESIS, TR_AUDIT_HASH_HEX + 1);
        return TR_OK;
    }
    if ((rc = read_tail(fd, (size_t)st.st_size, &last)) != TR_OK)
        return rc;
    *out_seq = last.seq;
    memcpy(out_prev, last.line_hash, TR_AUDIT_HASH_HEX + 1);
    return TR_OK;
}

/* The mutex, the condition variables and the sync thread, all or none. */
static int sync_start(struct api_audit *a)
{
    if (pthread_mutex_init(&a->mu, NULL) != 0)
        return TR_E_NOMEM;
    if (pthread_cond_init(&a->work_cond, NULL) != 0)
        goto out_mu;
    if (pthread_cond_init(&a->synced_cond, NULL) != 0)
        goto out_work;
    a->synced = a->wanted = a->seq; /* recovered lines were already on disk */
    if (pthread_create(&a->syncer, NULL, sync_main, a) != 0)
        goto out_synced;
    pthread_setname_np(a->syncer, "tr-audit-sync"); /* for top -H and perf; failure is harmless */
    return TR_OK;
out_synced:
    pthread_cond_destroy(&a->synced_cond);
out_work:
    pthread_cond_destroy(&a->work_cond);
out_mu:
    pthread_mutex_destroy(&a->mu);
    return TR_E_NOMEM;
}

int api_audit_open(const char *path, struct api_audit **out)
{
    struct api_audit *a = NULL;
    bool created = false;
    int fd = -1, rc = TR_E_INVAL;

    if (out)
        *out = NULL;
    if (!out || !path || !*path || strlen(path) >= PATH_MAX)
        goto out;
    if ((rc = open_file(path, &fd, &created)) != TR_OK)
        goto out;
    if ((rc = check_file(path, fd, created)) != TR_OK)
        goto out;
    if (created && (rc = sync_dir(path)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (!(a = calloc(1, sizeof(*a))))
        goto out;
    if ((rc = recover_head(fd, &a->seq, a->prev)) != TR_OK)
        goto out;
    a->fd = fd;
    if ((rc = sync_start(a)) != TR_OK)
        goto out;
    fd = -1; /* owned by a now */
    *out = a;
    a = NULL;
    rc = TR_OK;
out:
    free(a); /* only reached before the mutex and the thread exist */
    if (fd >= 0)
        close(fd);
    return rc;
}

void api_audit_close(struct api_audit *a)
{
    struct waiter *left;

    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->closing = true;
    pthread_cond_signal(&a->work_cond);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->syncer, NULL); /* it syncs and releases whatever is still waiting */
    /* Nothing can be left once it has stopped (every waiter's line was covered or the device
     * broke, and it released them); fail any stray one rather than lose its callback. */
    pthread_mutex_lock(&a->mu);
    left = a->waiters;
    a->waiters = NULL;
    a->broken = true;
    pthread_mutex_unlock(&a->mu);
    release(left, 0);
    if (close(a->fd) != 0)
        tr_log_warn("audit: close failed: %s", strerror(errno));
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->work_cond);
    pthread_cond_destroy(&a->synced_cond);
    free(a);
}
