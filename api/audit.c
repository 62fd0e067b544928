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

struct api_audit {
    pthread_mutex_t mu;         /* orders lines: seq, prev and the file's end move together */
    pthread_cond_t synced_cond; /* signalled when a group sync ends */
    int fd;
    uint64_t synced;                  /* every line up to this seq is on stable storage */
    bool syncing;                     /* one caller is in fdatasync for everybody (group sync) */
    uint64_t seq;                     /* seq of the last line in the file, 0 when empty */
    char prev[TR_AUDIT_HASH_HEX + 1]; /* SHA-256 of that line's bytes, or the genesis value */
    bool broken;                      /* a sync failed: what is on disk is unknown */
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

/* Add the device's members to e and serialise it as one '\n'-terminated line.
 * Called with a->mu held, so seq and prev_hash are those of the file's current last line. */
static int stamp(struct api_audit *a, json_t *e, const char *type, char **out_line, size_t *out_len,
                 char out_hash[TR_AUDIT_HASH_HEX + 1])
{
    char when[AUDIT_TIME_MAX], hash[TR_AUDIT_HASH_HEX + 1];
    char *line = NULL, *grown;
    size_t len;
    int rc;

    if ((rc = time_now(when)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (json_object_set_new(e, "type", json_string(type)) ||
        json_object_set_new(e, "time", json_string(when)) ||
        json_object_set_new(e, "seq", json_integer((json_int_t)(a->seq + 1))) ||
        json_object_set_new(e, "prev_hash", json_string(a->prev)))
        goto out;
    if ((rc = tr_audit_entry_hash(e, hash)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (json_object_set_new(e, "hash", json_string(hash)) ||
        !(line = json_dumps(e, TR_AUDIT_DUMP_FLAGS)))
        goto out;
    rc = TR_E_TOO_LARGE;
    if ((len = strlen(line)) > TR_AUDIT_LINE_MAX)
        goto out;
    if ((rc = tr_audit_sha256_hex(line, len, out_hash)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (!(grown = realloc(line, len + 2))) /* audit text holds MACs, not secrets */
        goto out;
    line = grown;
    line[len] = '\n';
    line[len + 1] = '\0';
    *out_line = line;
    *out_len = len + 1;
    line = NULL;
    rc = TR_OK;
out:
    free(line);
    return rc;
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
    a->broken = true;
}

/* One write() on the O_APPEND descriptor. Called with a->mu held; wait_synced makes it
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

/*
 * Group sync: whoever finds no sync running calls fdatasync for every line written so far, the
 * others wait for it. A line is acknowledged only once a sync that started after it was written
 * succeeded, so "written and flushed before the response leaves" holds, at one fdatasync per
 * group instead of one per line. Called and returns with a->mu held.
 */
static int wait_synced(struct api_audit *a, uint64_t seq)
{
    while (a->synced < seq && !a->broken) {
        if (a->syncing) {
            pthread_cond_wait(&a->synced_cond, &a->mu);
            continue;
        }
        uint64_t upto = a->seq;
        a->syncing = true;
        pthread_mutex_unlock(&a->mu);
        int err = fdatasync(a->fd) == 0 ? 0 : errno;
        pthread_mutex_lock(&a->mu);
        a->syncing = false;
        if (err == 0) {
            a->synced = upto;
        } else {
            /* After a failed sync the kernel may have dropped lines (and reports it once):
             * the chain head is unknown, so no later line may claim to follow it. */
            tr_log_error("audit: fdatasync failed: %s; refusing further writes until reopened",
                         strerror(err));
            a->broken = true;
        }
        pthread_cond_broadcast(&a->synced_cond);
    }
    return a->synced >= seq ? TR_OK : TR_E_IO;
}

static int log_locked(struct api_audit *a, const char *type, json_t *e, bool sync)
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
    rc = sync ? wait_synced(a, a->seq) : TR_OK;
out:
    free(line);
    return rc;
}

static int audit_log(struct api_audit *a, const char *type, json_t *entry, bool sync)
{
    json_t *e = NULL;
    int rc = TR_E_INVAL;

    if (!a || !type || !json_is_object(entry) ||
        (strcmp(type, "request") != 0 && strcmp(type, "response") != 0))
        goto out;
    /* MACs outside the lock: they are the expensive part and need no ordering. */
    if ((rc = redact(entry, false, 0, &e)) != TR_OK)
        goto out;
    pthread_mutex_lock(&a->mu);
    rc = log_locked(a, type, e, sync);
    pthread_mutex_unlock(&a->mu);
out:
    json_decref(e);
    return rc;
}

int api_audit_log(struct api_audit *a, const char *type, json_t *entry)
{
    return audit_log(a, type, entry, true);
}

int api_audit_log_nosync(struct api_audit *a, const char *type, json_t *entry)
{
    return audit_log(a, type, entry, false);
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
    rc = TR_E_NOMEM;
    if (pthread_mutex_init(&a->mu, NULL) != 0)
        goto out;
    if (pthread_cond_init(&a->synced_cond, NULL) != 0) {
        pthread_mutex_destroy(&a->mu);
        goto out;
    }
    a->synced = a->seq; /* recovered lines were already on disk */
    a->fd = fd;
    fd = -1; /* owned by a now */
    *out = a;
    a = NULL;
    rc = TR_OK;
out:
    free(a); /* only reached before the mutex exists */
    if (fd >= 0)
        close(fd);
    return rc;
}

void api_audit_close(struct api_audit *a)
{
    if (!a)
        return;
    if (close(a->fd) != 0)
        tr_log_warn("audit: close failed: %s", strerror(errno));
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->synced_cond);
    free(a);
}
