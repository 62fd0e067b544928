/*
 * audit_prune.c - which rotated audit files audit.rotate_keep deletes after a rotation
 * (api_audit_rotate; declared in audit_int.h).
 *
 * The candidates are the regular files of the server's user named <base>.<seq> beside the log
 * (no symlink, directory or other user's file is ever touched). Two kinds:
 *  - this chain's: the file just rotated and the files reached from it by following each file's
 *    first line back (a rotation marker names the file before it and its size), newest first by
 *    seq. These are what rotate_keep counts first.
 *  - detached: every other candidate: a file of an earlier chain (the log restarted at seq 1,
 *    e.g. after a storage recovery adopted an emptied file), a branch a rollback of the file
 *    abandoned, or this chain's older files beyond a link that is missing. Their seqs say nothing
 *    about their age (an earlier chain's are often higher than this one's), so they are ordered
 *    by modification time (when their last line was written: a rotated file is never written
 *    again), and only those older than this chain's oldest file present count, after it. A
 *    detached file that is not older (copied back with a new time, a newer branch) is left alone
 *    until this chain's files kept are all newer than it.
 * The newest keep of that order are kept, the rest deleted. The file just rotated is first, so
 * it is always kept (keep >= 1). It is also the only file that may hold lines the store has not
 * anchored and the only one the stored head may point into: a rotation waits until the store
 * holds a line of the file it rotates (api/audit_anchor.h), so every older file's lines were
 * anchored through the chain before it became older, and the head is never more than one
 * rotation back. No other file matters to the check at unseal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/tr_audit.h"
#include "../common/tr_log.h"
#include "audit_int.h"

/* A marker line is well under this (its longest member is a base name of at most
 * TR_AUDIT_ROT_FILE_MAX bytes); a first line longer than this is no marker. */
#define PRUNE_MARKER_MAX 4096

struct rot_file {
    uint64_t seq;          /* from the name <base>.<seq> */
    uint64_t size;         /* bytes */
    struct timespec mtime; /* when its last line was written */
    bool chain;            /* reached from the file just rotated through the markers */
};

/* Rotated files are <base>.<seq>: seq, or 0 for any other name (a leading 0 included). */
static uint64_t rotated_seq(const char *name, const char *base, size_t blen)
{
    const char *p = name + blen + 1;
    uint64_t v = 0;

    if (strncmp(name, base, blen) != 0 || name[blen] != '.' || *p < '1' || *p > '9')
        return 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v;
}

/* Every candidate in the directory d: *out (owned, *out_n entries; NULL when none). */
static int rot_list(DIR *d, const char *base, struct rot_file **out, size_t *out_n)
{
    size_t blen = strlen(base), n = 0, cap = 0;
    struct rot_file *f = NULL;
    struct dirent *de;

    while ((de = readdir(d))) {
        uint64_t v = rotated_seq(de->d_name, base, blen);
        struct stat st;
        if (!v || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_uid != geteuid())
            continue;
        if (n == cap) {
            struct rot_file *g = realloc(f, (cap = cap ? 2 * cap : 16) * sizeof(*f));
            if (!g) {
                free(f);
                return TR_E_NOMEM;
            }
            f = g;
        }
        f[n++] = (struct rot_file){.seq = v, .size = (uint64_t)st.st_size, .mtime = st.st_mtim};
    }
    *out = f;
    *out_n = n;
    return TR_OK;
}

static int cmp_seq(const void *x, const void *y)
{
    const struct rot_file *a = x, *b = y;

    return a->seq < b->seq ? -1 : a->seq > b->seq ? 1 : 0;
}

/* f sorted by seq (names are unique, so seqs are): the index of seq, or n. */
static size_t rot_find(const struct rot_file *f, size_t n, uint64_t seq)
{
    const struct rot_file key = {.seq = seq},
                          *hit = n ? bsearch(&key, f, n, sizeof(*f), cmp_seq) : NULL;

    return hit ? (size_t)(hit - f) : n;
}

/* The rotation marker that starts file name (in directory dfd), checked on its own.
 * TR_E_NOTFOUND: its first line is no valid marker (the chain's first file, or not ours). */
static int marker_of(int dfd, const char *name, struct tr_audit_link *out)
{
    char buf[PRUNE_MARKER_MAX], why[96];
    const char *nl;
    ssize_t r;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

    if (fd < 0)
        return TR_E_IO;
    do
        r = pread(fd, buf, sizeof(buf), 0);
    while (r < 0 && errno == EINTR);
    close(fd);
    if (r < 0)
        return TR_E_IO;
    if (!(nl = memchr(buf, '\n', (size_t)r)) ||
        tr_audit_line_check(buf, (size_t)(nl - buf), out, why, sizeof(why)) != TR_OK ||
        !out->rotation)
        return TR_E_NOTFOUND;
    return TR_OK;
}

/* Mark this chain's files: from f[i] (the file just rotated), follow each first line's marker to
 * the file it names, as long as that file is a candidate of the size the marker says. Seqs go
 * strictly down, so it ends. *out_oldest: the last file reached. */
static int chain_mark(int dfd, const char *base, struct rot_file *f, size_t n, size_t i,
                      size_t *out_oldest)
{
    char name[NAME_MAX + 1], want[NAME_MAX + 1];
    struct tr_audit_link m;
    size_t p;
    int rc;

    f[i].chain = true;
    for (;;) {
        snprintf(name, sizeof(name), "%s.%" PRIu64, base, f[i].seq);
        if ((rc = marker_of(dfd, name, &m)) == TR_E_NOTFOUND)
            break;
        if (rc != TR_OK)
            return rc;
        snprintf(want, sizeof(want), "%s.%" PRIu64, base, m.rot_seq);
        if (m.rot_seq >= f[i].seq || strcmp(m.rot_file, want) != 0 ||
            (p = rot_find(f, n, m.rot_seq)) == n || f[p].size != m.rot_end)
            break;
        f[p].chain = true;
        i = p;
    }
    *out_oldest = i;
    return TR_OK;
}

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
    if (a->tv_sec != b->tv_sec)
        return a->tv_sec < b->tv_sec ? -1 : 1;
    return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec ? 1 : 0;
}

/* Newest first: this chain's files by seq, then the detached ones by modification time. */
static int cmp_newest_first(const void *x, const void *y)
{
    const struct rot_file *a = x, *b = y;

    if (a->chain != b->chain)
        return a->chain ? -1 : 1;
    if (a->chain)
        return a->seq < b->seq ? 1 : a->seq > b->seq ? -1 : 0;
    return ts_cmp(&b->mtime, &a->mtime);
}

/* Keep this chain's files and the detached files older than its oldest one (oldest) only: the
 * others are left alone. Returns how many remain at the front of f. */
static size_t rot_filter(struct rot_file *f, size_t n, struct timespec oldest)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (f[i].chain || ts_cmp(&f[i].mtime, &oldest) < 0)
            f[k++] = f[i];
    return k;
}

void audit_prune(const char *path, uint32_t keep, uint64_t newest)
{
    char dir[PATH_MAX], name[NAME_MAX + 1];
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct rot_file *f = NULL;
    size_t n = 0, i, oldest;
    DIR *d;
    int rc;

    if (keep == 0)
        return;
    audit_dir_of(path, dir);
    if (!(d = opendir(dir))) {
        tr_log_warn("audit: cannot list %s to remove old rotated files: %s", dir, strerror(errno));
        return;
    }
    if ((rc = rot_list(d, base, &f, &n)) == TR_OK && n > 1)
        qsort(f, n, sizeof(*f), cmp_seq);
    if (rc != TR_OK || (i = rot_find(f, n, newest)) == n ||
        (rc = chain_mark(dirfd(d), base, f, n, i, &oldest)) != TR_OK) {
        /* without the file just rotated there is nothing to count from: delete nothing */
        tr_log_warn("audit: old rotated files not removed: %s",
                    rc != TR_OK ? tr_strerror(rc) : "the file just rotated is not there");
        goto out;
    }
    n = rot_filter(f, n, f[oldest].mtime);
    qsort(f, n, sizeof(*f), cmp_newest_first); /* n >= 1: the file just rotated */
    for (i = keep; i < n; i++) {
        if (f[i].seq == newest)
            continue; /* first in the order: never reached; kept whatever the order says */
        snprintf(name, sizeof(name), "%s.%" PRIu64, base, f[i].seq);
        if (unlinkat(dirfd(d), name, 0) == 0)
            tr_log_info("audit: removed the old rotated file %s/%s (rotate_keep %u%s)", dir, name,
                        (unsigned)keep, f[i].chain ? "" : "; not linked to this chain");
        else
            tr_log_warn("audit: cannot remove %s/%s: %s", dir, name, strerror(errno));
    }
out:
    free(f);
    closedir(d);
}
