#include "audit.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/tr_log.h"
#include "../common/tr_lograte.h"
#include "audit_int.h"

/* A callback waiting for its line (api_audit_wait_async, api_audit_line_queue). */
struct waiter {
    struct waiter *next;
    uint64_t seq; /* 0 while its line is queued, not yet written */
    api_audit_done_fn fn;
    void *arg;
};

/* A line prepared outside the lock. Queued, it is its own waiter: w comes first so that
 * release() frees the whole block (the line's buffer is released once written). */
struct api_audit_line {
    struct waiter w;
    struct audit_line line;
};

/* Lines the sync thread writes with one writev at most (IOV_MAX is at least 16 by POSIX,
 * 1024 on Linux). */
#define QUEUE_IOV 64

struct api_audit {
    pthread_mutex_t mu;         /* orders lines: seq, prev and the file's end move together */
    pthread_cond_t work_cond;   /* wakes the sync thread: a line queued or waited for, closing */
    pthread_cond_t synced_cond; /* wakes blocked waiters: a group sync ended */
    pthread_t syncer;
    int fd;
    /* What fd was opened as: api_audit_head_check tells a file swapped under the server. */
    char path[PATH_MAX];
    uint64_t seq;                     /* seq of the last line in the file, 0 when empty */
    uint64_t end;                     /* the file's size: where the line after seq starts */
    uint64_t synced;                  /* every line up to this seq is on stable storage */
    struct api_audit_head durable;    /* line synced: its end and hash (api_audit_head_get) */
    uint64_t wanted;                  /* highest seq somebody waits for */
    char prev[TR_AUDIT_HASH_HEX + 1]; /* SHA-256 of that line's bytes, or the genesis value */
    /* The marker the last rotation wrote, or the file's last line at open if it is a marker (0:
     * neither): while seq equals it the file holds nothing but its marker. */
    uint64_t rotated_at;
    bool broken;  /* a sync failed: what is on disk is unknown */
    bool held;    /* api_audit_hold: new lines are refused (TR_E_STATE) */
    bool closing; /* api_audit_close: sync what is left, then stop */
    bool syncing; /* sync_once is in fdatasync without the mutex: fd must not change meanwhile */
    bool release_due;       /* a rotation synced lines: their callbacks wait for the sync thread */
    struct waiter *waiters; /* callbacks not yet released, newest first */
    /* Lines handed over (api_audit_line_queue), newest first: pushed without the mutex so that
     * handing a line over never waits for a write or another writer. */
    _Atomic(struct waiter *) incoming;
    atomic_bool idle; /* the sync thread sleeps on work_cond: a pusher must wake it */
    /* Failed writes: a full disk fails every line, so they are counted and the log says the
     * first, then a summary per API_AUDIT_LOG_EVERY_MS, then the recovery (tr_lograte.h). */
    struct tr_lograte write_lr;
    char write_err[96];              /* why the last write failed (no data: errno text or state) */
    uint64_t write_failures;         /* lines refused because they could not be written */
    struct tr_lograte rot_lr;        /* failed rotations: retried every anchoring interval */
    char rot_err[2 * PATH_MAX + 64]; /* why the last one failed (paths and errno text) */
    uint64_t rotations, rot_failures;
    /* The request and response lines of prepared requests (api_audit_req_*), serialised once
     * (audit_int.h); read only after open, so used without the mutex. */
    struct audit_tmpl tmpl_req, tmpl_resp;
};

/* Refuse every later write and fail every line not yet durable: blocked waiters wake here, and
 * the sync thread releases the callbacks. Called with a->mu held. */
static void mark_broken(struct api_audit *a)
{
    a->broken = true;
    snprintf(a->write_err, sizeof(a->write_err),
             "the device refuses writes after an I/O failure (restart the server)");
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

/* One write (writev) of every line on the O_APPEND descriptor: lines written together are
 * adjacent in the file, and a failure leaves none of them. Called with a->mu held; the sync
 * thread makes them durable. */
static int append(struct api_audit *a, const struct iovec *iov, int n, size_t total)
{
    ssize_t w;

    do
        w = writev(a->fd, iov, n);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        snprintf(a->write_err, sizeof(a->write_err), "%s", strerror(errno));
        return TR_E_IO; /* logged by write_failed, rate-limited */
    }
    if ((size_t)w != total) {
        snprintf(a->write_err, sizeof(a->write_err), "short write (%zd of %zu bytes)", w, total);
        undo_partial(a, (size_t)w);
        return TR_E_IO;
    }
    return TR_OK;
}

/* n lines could not be written (their requests get 503): count them; log the first failure,
 * then at most one summary per API_AUDIT_LOG_EVERY_MS, so a full disk under load cannot flood the
 * log. Called with a->mu held. */
static void write_failed(struct api_audit *a, uint64_t n)
{
    struct tr_lograte_note nt;

    a->write_failures += n;
    switch (tr_lograte_fail(&a->write_lr, n, tr_lograte_now_ms(), &nt)) {
    case TR_LOGRATE_FIRST:
        tr_log_error("audit: write failed: %s; audited requests get 503 until lines can be "
                     "written again (further failures: one summary per %d s)",
                     a->write_err, API_AUDIT_LOG_EVERY_MS / 1000);
        break;
    case TR_LOGRATE_SUMMARY:
        tr_log_error("audit: write failed: %" PRIu64 " more lines since the last report, %" PRIu64
                     " since the first failure %" PRIu64 " s ago (last: %s)",
                     nt.count, nt.total, nt.secs, a->write_err);
        break;
    case TR_LOGRATE_QUIET:
        break;
    }
}

/* A line was written: say so once after failures. Called with a->mu held. */
static void write_succeeded(struct api_audit *a)
{
    struct tr_lograte_note nt;

    if (a->write_lr.failing && tr_lograte_ok(&a->write_lr, tr_lograte_now_ms(), &nt))
        tr_log_info("audit: lines are written again, after %" PRIu64 " failed over %" PRIu64 " s",
                    nt.total, nt.secs);
}

/* Seal prepared lines (n <= QUEUE_IOV) for the next places in the chain and append them in one
 * write. *out_seq is the first line's seq. Called with a->mu held. */
static int write_locked(struct api_audit *a, struct audit_line *const *lines, int n,
                        uint64_t *out_seq)
{
    char prev[TR_AUDIT_HASH_HEX + 1], next[TR_AUDIT_HASH_HEX + 1];
    struct iovec iov[QUEUE_IOV];
    size_t total = 0;
    int rc = TR_E_IO;

    if (a->broken)
        goto out;
    rc = TR_E_STATE;
    if (a->held)
        goto out;
    rc = TR_E_TOO_LARGE;
    if (a->seq > (uint64_t)INT64_MAX - (uint64_t)n) /* "seq" is a JSON integer */
        goto out;
    memcpy(prev, a->prev, sizeof(prev));
    for (int i = 0; i < n; i++) {
        if ((rc = audit_line_seal(lines[i], a->seq + 1 + (uint64_t)i, prev, next)) != TR_OK)
            goto out;
        memcpy(prev, next, sizeof(prev));
        iov[i] = (struct iovec){lines[i]->buf + lines[i]->line, lines[i]->line_len};
        total += lines[i]->line_len;
    }
    if ((rc = append(a, iov, n, total)) != TR_OK)
        goto out;
    write_succeeded(a);
    *out_seq = a->seq + 1;
    a->seq += (uint64_t)n;
    a->end += total;
    memcpy(a->prev, prev, sizeof(a->prev));
    rc = TR_OK;
out:
    return rc;
}

/* Write one prepared line under the mutex. */
static int write_line(struct api_audit *a, struct audit_line *line, uint64_t *out_seq)
{
    pthread_mutex_lock(&a->mu);
    int rc = write_locked(a, &line, 1, out_seq);
    if (rc == TR_E_IO)
        write_failed(a, 1);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int api_audit_log_nosync(struct api_audit *a, const char *type, json_t *entry, uint64_t *out_seq)
{
    char now[AUDIT_TIME_MAX];
    struct audit_line line = {0};
    json_t *e = NULL;
    uint64_t seq = 0;
    int rc = TR_E_INVAL;

    if (!a || !type || !json_is_object(entry) ||
        (strcmp(type, "request") != 0 && strcmp(type, "response") != 0))
        goto out;
    /* MACs and serialisation outside the lock: they are the expensive part and need no order. */
    if ((rc = audit_redact(entry, false, 0, &e)) != TR_OK)
        goto out;
    if ((rc = audit_time_now(now)) != TR_OK)
        goto out;
    if ((rc = audit_line_prepare(e, type, now, &line)) != TR_OK)
        goto out;
    if ((rc = write_line(a, &line, &seq)) != TR_OK)
        goto out;
    if (out_seq)
        *out_seq = seq;
out:
    audit_line_fini(&line);
    json_decref(e);
    return rc;
}

int api_audit_log(struct api_audit *a, const char *type, json_t *entry)
{
    uint64_t seq = 0;
    int rc = api_audit_log_nosync(a, type, entry, &seq);

    return rc == TR_OK ? api_audit_wait(a, seq) : rc;
}

/* The line of a prepared request, from the device's template: the request serialised once for
 * both of its lines, stamped with the request's own time. */
static int prepare_req(struct api_audit *a, struct api_audit_req *r, struct audit_line *out)
{
    struct audit_frag f = {.key = "request"};
    int rc;

    if ((rc = audit_req_text(r, &f.text, &f.len)) != TR_OK)
        return rc;
    return audit_line_make(&a->tmpl_req, r->time, &f, out);
}

int api_audit_req_log(struct api_audit *a, struct api_audit_req *r, uint64_t *out_seq)
{
    struct audit_line line = {0};
    int rc = TR_E_INVAL;

    if (!a || !r)
        goto out;
    if (!r->seq) {
        if ((rc = prepare_req(a, r, &line)) != TR_OK)
            goto out;
        if ((rc = write_line(a, &line, &r->seq)) != TR_OK)
            goto out;
    }
    if (out_seq)
        *out_seq = r->seq;
    rc = TR_OK;
out:
    audit_line_fini(&line);
    return rc;
}

/* The response line: the request as MAC'd and serialised once, and the response MAC'd now. */
static int prepare_resp(struct api_audit *a, struct api_audit_req *r, json_t *response,
                        struct audit_line *out)
{
    struct audit_frag f[2] = {{.key = "request"}, {.key = "response"}};
    char now[AUDIT_TIME_MAX];
    json_t *resp = NULL;
    char *text = NULL;
    int rc;

    if ((rc = audit_req_text(r, &f[0].text, &f[0].len)) != TR_OK)
        goto out;
    /* the value of the entry's (clear) "response" member: depth 1 */
    if ((rc = audit_redact(response, false, 1, &resp)) != TR_OK)
        goto out;
    if ((rc = audit_dump(resp, &text, &f[1].len)) != TR_OK)
        goto out;
    f[1].text = text;
    if ((rc = audit_time_now(now)) != TR_OK)
        goto out;
    rc = audit_line_make(&a->tmpl_resp, now, f, out);
out:
    free(text);
    json_decref(resp);
    return rc;
}

int api_audit_resp_prepare(struct api_audit *a, struct api_audit_req *r, json_t *response,
                           struct api_audit_line **out)
{
    struct api_audit_line *l = NULL;
    int rc = TR_E_INVAL;

    if (out)
        *out = NULL;
    if (!a || !r || !json_is_object(response) || !out)
        goto out;
    /* Request line first, always: if the response cannot be made (sealed meanwhile, too
     * large...), the attempt is still recorded. */
    if ((rc = api_audit_req_log(a, r, NULL)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (!(l = calloc(1, sizeof(*l))))
        goto out;
    if ((rc = prepare_resp(a, r, response, &l->line)) != TR_OK)
        goto out;
    *out = l;
    l = NULL;
out:
    api_audit_line_free(l);
    return rc;
}

int api_audit_line_write(struct api_audit *a, struct api_audit_line *l, uint64_t *out_seq)
{
    uint64_t seq = 0;
    int rc = TR_E_INVAL;

    if (a && l && (rc = write_line(a, &l->line, &seq)) == TR_OK && out_seq)
        *out_seq = seq;
    api_audit_line_free(l);
    return rc;
}

int api_audit_resp_log(struct api_audit *a, struct api_audit_req *r, json_t *response,
                       uint64_t *out_seq)
{
    struct api_audit_line *l = NULL;
    int rc = api_audit_resp_prepare(a, r, response, &l);

    return rc == TR_OK ? api_audit_line_write(a, l, out_seq) : rc;
}

void api_audit_line_free(struct api_audit_line *l)
{
    if (!l)
        return;
    audit_line_fini(&l->line);
    free(l);
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

void api_audit_line_queue(struct api_audit *a, struct api_audit_line *l, api_audit_done_fn fn,
                          void *arg)
{
    struct waiter *head;

    if (!fn) {
        api_audit_line_free(l);
        return;
    }
    if (!a || !l) {
        api_audit_line_free(l);
        fn(arg, TR_E_INVAL);
        return;
    }
    l->w = (struct waiter){.fn = fn, .arg = arg};
    head = atomic_load(&a->incoming);
    do
        l->w.next = head;
    while (!atomic_compare_exchange_weak(&a->incoming, &head, &l->w));
    /* Sequentially consistent push then load, against the sync thread's store of idle then load
     * of incoming (sync_wait): one of the two sees the other, so the line is never left behind
     * while the sync thread sleeps. The mutex makes the signal land after it started waiting. */
    if (atomic_load(&a->idle)) {
        pthread_mutex_lock(&a->mu);
        pthread_cond_signal(&a->work_cond);
        pthread_mutex_unlock(&a->mu);
    }
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

/* Call the detached waiters with their verdicts (a failed line has seq 0 or a seq the device
 * never synced). Called without a->mu: callbacks send replies. */
static void release(struct waiter *done, uint64_t synced)
{
    while (done) {
        struct waiter *next = done->next;
        done->fn(done->arg, done->seq && done->seq <= synced ? TR_OK : TR_E_IO);
        free(done); /* a queued line's block: its buffer went when it was written */
        done = next;
    }
}

/* Write up to QUEUE_IOV queued lines, taken from *q (not empty), with one writev, and make them
 * waiters of the next sync. On failure (write_locked's error) they are left in *q. Called with
 * a->mu held. */
static int write_chunk(struct api_audit *a, struct waiter **q)
{
    struct audit_line *lines[QUEUE_IOV] = {NULL};
    uint64_t first = 0;
    int n = 0, rc;

    for (struct waiter *w = *q; w && n < QUEUE_IOV; w = w->next, n++)
        lines[n] = &((struct api_audit_line *)w)->line; /* w is its block's first member */
    if ((rc = write_locked(a, lines, n, &first)) != TR_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        struct waiter *w = *q;
        *q = w->next;
        audit_line_fini(lines[i]);
        w->seq = first + (uint64_t)i;
        w->next = a->waiters;
        a->waiters = w;
    }
    want_locked(a, first + (uint64_t)n - 1);
    return TR_OK;
}

/* Write every line handed over, oldest first, a chunk per writev. The lines of a chunk that
 * cannot be written are returned (their callbacks get TR_E_IO), with every line after them: a
 * write fails on a full disk or a broken device, where they would fail too. Called with a->mu
 * held (request lines wait meanwhile: a chunk costs its lines' two hashes each and one writev). */
static struct waiter *write_queue(struct api_audit *a)
{
    struct waiter *in = atomic_exchange(&a->incoming, NULL), *q = NULL;
    uint64_t failed = 0;
    int rc = TR_OK;

    while (in) { /* newest first: reversing gives the order they were handed over in */
        struct waiter *next = in->next;
        in->next = q;
        q = in;
        in = next;
    }
    while (q && (rc = write_chunk(a, &q)) == TR_OK)
        ;
    for (struct waiter *w = q; w; w = w->next, failed++)
        audit_line_fini(&((struct api_audit_line *)w)->line);
    if (failed && rc == TR_E_IO)
        write_failed(a, failed);
    return q; /* seq 0: release() fails them */
}

/* One fdatasync for every line written so far. Called and returns with a->mu held; the mutex is
 * dropped during the sync so that lines keep being written (they join the next group). A line
 * counts as durable only when a sync that started after its write() succeeded. */
static void sync_once(struct api_audit *a)
{
    struct api_audit_head upto = {.seq = a->seq, .end = a->end};

    memcpy(upto.hash, a->prev, sizeof(upto.hash));
    int fd = a->fd;
    a->syncing = true;
    pthread_mutex_unlock(&a->mu);
    int err = fdatasync(fd) == 0 ? 0 : errno;
    pthread_mutex_lock(&a->mu);
    a->syncing = false;
    if (err == 0) {
        a->synced = upto.seq;
        a->durable = upto;
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

static bool work_needed(struct api_audit *a)
{
    return atomic_load(&a->incoming) || sync_needed(a) || fail_needed(a) || a->release_due;
}

/* Sleep until there is work or the device closes. Called and returns with a->mu held. */
static void sync_wait(struct api_audit *a)
{
    while (!a->closing && !work_needed(a)) {
        atomic_store(&a->idle, true);
        if (!atomic_load(&a->incoming)) /* a push that missed idle is seen here */
            pthread_cond_wait(&a->work_cond, &a->mu);
        atomic_store(&a->idle, false);
    }
}

/* The sync thread: sleeps until a line is queued or waited for; then writes the queued lines (one
 * writev per chunk) and syncs, back to back while there is anything to cover, so a group is every
 * line written or queued during the previous sync. */
static void *sync_main(void *arg)
{
    struct api_audit *a = arg;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        sync_wait(a);
        if (!work_needed(a))
            break; /* closing, and every line is written and durable (or never can be) */
        struct waiter *failed = write_queue(a);
        if (failed) /* no sync follows them: wake api_audit_drain, which waits for the queue */
            pthread_cond_broadcast(&a->synced_cond);
        if (sync_needed(a))
            sync_once(a);
        struct waiter *done = take_decided(a);
        a->release_due = false;
        uint64_t synced = a->synced;
        pthread_mutex_unlock(&a->mu);
        release(failed, 0);
        release(done, synced);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- open ---------------------------------------------------------------------------------- */

static int errno_rc(int err)
{
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

static int open_error(const char *path, int err)
{
    tr_log_error("audit: cannot open %s: %s", path, strerror(err));
    return errno_rc(err);
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

void audit_dir_of(const char *path, char dir[PATH_MAX])
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        snprintf(dir, PATH_MAX, ".");
    else if (slash == path)
        snprintf(dir, PATH_MAX, "/");
    else
        snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
}

/* A new file's name must survive a crash as well as its lines. */
static int sync_dir(const char *path)
{
    char dir[PATH_MAX];
    int fd, rc = TR_OK;

    audit_dir_of(path, dir);
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

/* Find and check the line that ends at byte end (its '\n' is the byte before end). One byte more
 * than the longest line plus its '\n' is read, so a line start is always seen unless the line is
 * too long. why (whylen bytes) gets a short, data-free reason on TR_E_TAMPER. */
static int line_before(int fd, size_t end, struct tr_audit_link *out, char *why, size_t whylen)
{
    size_t n = end < TR_AUDIT_LINE_MAX + 2 ? end : TR_AUDIT_LINE_MAX + 2;
    size_t start;
    char *buf = NULL;
    int rc = TR_E_NOMEM;

    if (n == 0) {
        snprintf(why, whylen, "no line there");
        return TR_E_TAMPER;
    }
    if (!(buf = malloc(n)))
        goto out;
    if ((rc = pread_all(fd, buf, n, (off_t)(end - n))) != TR_OK)
        goto out;
    rc = TR_E_TAMPER;
    if (buf[n - 1] != '\n') {
        snprintf(why, whylen, "truncated last line (no newline)");
        goto out;
    }
    for (start = n - 1; start > 0 && buf[start - 1] != '\n'; start--)
        ;
    if (start == 0 && n < end) {
        snprintf(why, whylen, "last line too long");
        goto out;
    }
    rc = tr_audit_line_check(buf + start, n - 1 - start, out, why, whylen);
    if (rc == TR_E_INVAL || rc == TR_E_TOO_LARGE)
        rc = TR_E_TAMPER;
    if (rc == TR_OK && out->seq >= (uint64_t)INT64_MAX)
        rc = TR_E_TAMPER;
out:
    free(buf);
    return rc;
}

static int read_tail(int fd, size_t size, struct tr_audit_link *out)
{
    char why[96] = "";
    int rc = line_before(fd, size, out, why, sizeof(why));

    if (rc == TR_E_TAMPER)
        tr_log_error("audit: the file's last line is bad (%s); run `tresor audit verify`", why);
    return rc;
}

/* A process killed inside a write leaves the lines the kernel copied so far: it stops at a page
 * boundary, so the file may end inside a line. No answer waited on those lines (an answer
 * leaves only after an fdatasync that began once its write had returned), so that part of a
 * line is cut off, as a short write is at run time, and the chain continues from the last whole
 * line, which read_tail then checks as usual. An end without a newline longer than any line is
 * not ours to cut: read_tail refuses it. */
static int cut_partial_line(int fd, size_t *size)
{
    size_t n, keep;
    char *buf = NULL, last;
    int rc;

    if (*size == 0)
        return TR_OK;
    if ((rc = pread_all(fd, &last, 1, (off_t)(*size - 1))) != TR_OK || last == '\n')
        return rc;
    n = *size < TR_AUDIT_LINE_MAX + 1 ? *size : TR_AUDIT_LINE_MAX + 1;
    rc = TR_E_NOMEM;
    if (!(buf = malloc(n)))
        goto out;
    if ((rc = pread_all(fd, buf, n, (off_t)(*size - n))) != TR_OK)
        goto out;
    for (keep = n; keep > 0 && buf[keep - 1] != '\n'; keep--)
        ;
    if (keep == 0 && n < *size)
        goto out; /* rc is TR_OK: too long to be a cut line, read_tail says why */
    rc = TR_E_IO;
    if (ftruncate(fd, (off_t)(*size - (n - keep))) != 0 || fdatasync(fd) != 0) {
        tr_log_error("audit: cannot cut off a partial last line: %s", strerror(errno));
        goto out;
    }
    tr_log_warn("audit: cut off a partial last line (%zu bytes) left by a write the server did "
                "not finish (killed or crashed while writing)",
                n - keep);
    *size -= n - keep;
    rc = TR_OK;
out:
    free(buf);
    return rc;
}

/* The chain's head from the file's last whole line: seq, hash and the file's end. */
static int recover_head(struct api_audit *a, int fd)
{
    struct tr_audit_link last;
    struct stat st;
    size_t size;
    int rc;

    if (fstat(fd, &st) != 0)
        return TR_E_IO;
    size = (size_t)st.st_size;
    if ((rc = cut_partial_line(fd, &size)) != TR_OK)
        return rc;
    /* Lines an earlier process wrote but never synced (it was killed) may still be only in the
     * page cache: make them durable before they are reported as such (api_audit_head_get). */
    if (size > 0 && fdatasync(fd) != 0)
        return TR_E_IO;
    a->end = size;
    if (size == 0) {
        a->seq = 0;
        memcpy(a->prev, TR_AUDIT_GENESIS, sizeof(a->prev));
        return TR_OK;
    }
    if ((rc = read_tail(fd, size, &last)) != TR_OK)
        return rc;
    a->seq = last.seq;
    memcpy(a->prev, last.line_hash, sizeof(a->prev));
    /* A file holding only its marker (a rotation, then a restart): nothing to rotate yet, or a
     * SIGHUP would make a part with no line but its marker. */
    if (last.rotation)
        a->rotated_at = last.seq;
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
    a->durable = (struct api_audit_head){.seq = a->seq, .end = a->end};
    memcpy(a->durable.hash, a->prev, sizeof(a->durable.hash));
    atomic_init(&a->incoming, NULL);
    atomic_init(&a->idle, false);
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

/* The templates of the request line {"request": R} and the response line {"request": R,
 * "response": S}: only the fragments R and S and the device's members differ from line to line. */
static int templates_make(struct api_audit *a)
{
    static const char *const keys[] = {"request", "response"};
    json_t *req = json_object(), *resp = json_object();
    int rc = TR_E_NOMEM;

    if (req && resp && (rc = audit_tmpl_make(req, "request", keys, 1, &a->tmpl_req)) == TR_OK)
        rc = audit_tmpl_make(resp, "response", keys, 2, &a->tmpl_resp);
    json_decref(req);
    json_decref(resp);
    return rc;
}

/* A rotation killed half way (api_audit_rotate) leaves <path>.next, the new file with its marker:
 * if the old file was already moved to its rotated name, finish by moving the new one in; if the
 * old file is still at path, the attempt never took effect and the leftover goes. */
static int finish_rotation(const char *path)
{
    char next[PATH_MAX + 8];
    struct stat st;

    if (snprintf(next, sizeof(next), "%s.next", path) >= (int)sizeof(next))
        return TR_E_INVAL;
    if (lstat(next, &st) != 0)
        return errno == ENOENT ? TR_OK : open_error(next, errno);
    if (lstat(path, &st) == 0) {
        tr_log_warn("audit: removing %s, left by a rotation that did not take effect", next);
        return unlink(next) == 0 ? TR_OK : open_error(next, errno);
    }
    if (errno != ENOENT)
        return open_error(path, errno);
    if (rename(next, path) != 0)
        return open_error(next, errno);
    tr_log_warn("audit: finished a rotation that was interrupted: %s is the current file", path);
    return sync_dir(path);
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
    if ((rc = finish_rotation(path)) != TR_OK)
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
    a->write_lr.every_ms = a->rot_lr.every_ms = API_AUDIT_LOG_EVERY_MS;
    a->write_lr.settle_ms = API_AUDIT_LOG_EVERY_MS; /* a nearly full disk takes a line at times */
    if ((rc = recover_head(a, fd)) != TR_OK)
        goto out;
    if ((rc = templates_make(a)) != TR_OK)
        goto out;
    a->fd = fd;
    snprintf(a->path, sizeof(a->path), "%s", path);
    if ((rc = sync_start(a)) != TR_OK)
        goto out;
    fd = -1; /* owned by a now */
    *out = a;
    a = NULL;
    rc = TR_OK;
out:
    if (a) { /* only reached before the mutex and the thread exist */
        audit_tmpl_fini(&a->tmpl_req);
        audit_tmpl_fini(&a->tmpl_resp);
        free(a);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- the head, for anchoring --------------------------------------------------------------- */

void api_audit_head_get(struct api_audit *a, struct api_audit_head *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->durable;
    pthread_mutex_unlock(&a->mu);
}

void api_audit_drain(struct api_audit *a)
{
    pthread_mutex_lock(&a->mu);
    /* the sync thread writes what is queued, syncs, and broadcasts synced_cond (or breaks) */
    while (!a->broken && (atomic_load(&a->incoming) || a->synced < a->seq)) {
        want_locked(a, a->seq);
        pthread_cond_signal(&a->work_cond);
        pthread_cond_wait(&a->synced_cond, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
}

/* The file's first line, checked on its own (the marker of a rotated-into file, or line 1 of a
 * chain). TR_E_NOTFOUND for an empty file. */
static int first_line(int fd, uint64_t size, struct tr_audit_link *out, char *why, size_t whylen)
{
    size_t n = size < TR_AUDIT_LINE_MAX + 1 ? (size_t)size : TR_AUDIT_LINE_MAX + 1;
    const char *nl;
    char *buf = NULL;
    int rc = TR_E_NOTFOUND;

    if (n == 0)
        return rc;
    rc = TR_E_NOMEM;
    if (!(buf = malloc(n)))
        goto out;
    if ((rc = pread_all(fd, buf, n, 0)) != TR_OK)
        goto out;
    rc = TR_E_TAMPER;
    if (!(nl = memchr(buf, '\n', n))) {
        snprintf(why, whylen, "the file's first line is torn or too long");
        goto out;
    }
    rc = tr_audit_line_check(buf, (size_t)(nl - buf), out, why, whylen);
    if (rc == TR_E_INVAL || rc == TR_E_TOO_LARGE)
        rc = TR_E_TAMPER;
out:
    free(buf);
    return rc;
}

/* Is line seq with hash hash the one ending at byte end of fd? */
static int line_is(int fd, uint64_t end, uint64_t seq, const char *hash, char *why, size_t whylen)
{
    struct tr_audit_link link;
    int rc = line_before(fd, (size_t)end, &link, why, whylen);

    if (rc != TR_OK)
        return rc;
    if (link.seq != seq || strcmp(link.line_hash, hash) != 0) {
        snprintf(why, whylen, "the line at the anchored place is not the anchored line");
        return TR_E_TAMPER;
    }
    return TR_OK;
}

/* The anchored line h is not in the file at the device's path (fd, size bytes): it may be in the
 * file this one continues, if a rotation happened after h was stored (a crash before the next
 * anchoring). That is so only if this file starts with a rotation marker that follows h, and the
 * file it names (in the same directory) is exactly what was rotated: it still ends where the
 * marker says, with the line the marker links to, and holds h. TR_E_NOTFOUND: this file does
 * not continue one that could hold h (the caller reports its own reason). */
static int check_rotated(const struct api_audit *a, int fd, uint64_t size,
                         const struct api_audit_head *h, char *why, size_t whylen)
{
    char dir[PATH_MAX], prev[PATH_MAX + TR_AUDIT_ROT_FILE_MAX + 2], name[PATH_MAX + 32];
    const char *base = strrchr(a->path, '/') ? strrchr(a->path, '/') + 1 : a->path;
    struct tr_audit_link first;
    struct stat st;
    int pfd = -1, rc;

    if ((rc = first_line(fd, size, &first, why, whylen)) != TR_OK)
        return rc == TR_E_TAMPER ? TR_E_NOTFOUND : rc;
    if (!first.rotation || first.rot_seq < h->seq)
        return TR_E_NOTFOUND;
    rc = TR_E_TAMPER;
    /* Only the name a rotation gives (<base>.<its last seq>): a marker is no more than a line
     * anyone can write, and must not send the check to a file of the writer's choosing. */
    snprintf(name, sizeof(name), "%s.%" PRIu64, base, first.rot_seq);
    if (strcmp(first.rot_file, name) != 0) {
        snprintf(why, whylen, "the rotation marker names a file no rotation would have made");
        goto out;
    }
    audit_dir_of(a->path, dir);
    snprintf(prev, sizeof(prev), "%s/%s", dir, first.rot_file);
    if ((pfd = open(prev, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)) < 0) {
        snprintf(why, whylen, "the rotated file this one continues is missing");
        goto out;
    }
    if (fstat(pfd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != first.rot_end) {
        snprintf(why, whylen, "the rotated file this one continues changed after rotation");
        goto out;
    }
    if (line_is(pfd, first.rot_end, first.rot_seq, first.prev_hash, why, whylen) != TR_OK) {
        snprintf(why, whylen, "the rotated file does not end with the line this file follows");
        goto out;
    }
    if (h->end > first.rot_end || line_is(pfd, h->end, h->seq, h->hash, why, whylen) != TR_OK) {
        snprintf(why, whylen, "the rotated file does not hold the anchored line");
        goto out;
    }
    rc = TR_OK;
out:
    if (pfd >= 0)
        close(pfd);
    return rc;
}

int api_audit_head_check(struct api_audit *a, const struct api_audit_head *h, char *why,
                         size_t whylen)
{
    struct stat fst, pst;
    char why2[96];
    uint64_t end;
    int fd, rc, err = 0;

    if (!a || !h || !why || whylen == 0)
        return TR_E_INVAL;
    why[0] = '\0';
    /* The file as it is, not as this device left it: it may have been cut or swapped while the
     * server ran sealed. Writes (and the cut of a short one) hold the mutex, so the file is never
     * shorter than end unless something else cut it; then the device's chain head is stale too.
     * A duplicate of the descriptor: a rotation may replace the device's own meanwhile. */
    pthread_mutex_lock(&a->mu);
    end = a->end;
    fd = fcntl(a->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0 || fstat(fd, &fst) != 0)
        err = errno;
    pthread_mutex_unlock(&a->mu);
    rc = TR_E_IO;
    if (err)
        goto out;
    rc = TR_E_TAMPER;
    if (stat(a->path, &pst) != 0 || pst.st_dev != fst.st_dev || pst.st_ino != fst.st_ino) {
        snprintf(why, whylen, "the file was replaced under the running server");
        goto out;
    }
    if ((uint64_t)fst.st_size < end) {
        snprintf(why, whylen, "the file was cut under the running server");
        goto out;
    }
    rc = TR_OK;
    if (h->seq == 0)
        goto out; /* nothing was anchored: any file continues it */
    /* The file only grows while the device is open (O_APPEND), so what lies before end can be
     * read without the mutex. */
    if (h->end > end) {
        snprintf(why, whylen, "the file ends before the anchored line");
        rc = TR_E_TAMPER;
    } else {
        rc = line_is(fd, h->end, h->seq, h->hash, why, whylen);
    }
    if (rc != TR_E_TAMPER)
        goto out;
    /* Not in this file: in the one it continues, if a rotation came after the anchoring. */
    why2[0] = '\0';
    int prc = check_rotated(a, fd, end, h, why2, sizeof(why2));
    if (prc == TR_E_NOTFOUND)
        goto out; /* keep this file's reason */
    rc = prc;
    if (rc == TR_E_TAMPER)
        snprintf(why, whylen, "%s", why2);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- rotation ------------------------------------------------------------------------------ */

/* A new file for the next part of the chain, at a temporary name, holding its marker line. A
 * leftover of an earlier attempt (or anything planted there) is removed first. A failure leaves
 * nothing and says why in why (whylen bytes): the caller logs it, rate-limited, as a full disk
 * fails every retry. */
static int next_file(const char *next, const char *line, size_t len, int *out_fd, char *why,
                     size_t whylen)
{
    const int flags = O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
    ssize_t w;
    int fd, rc = TR_E_IO;

    if ((unlink(next) != 0 && errno != ENOENT) || (fd = open(next, flags, 0600)) < 0) {
        int err = errno;
        snprintf(why, whylen, "cannot create %s: %s", next, strerror(err));
        return errno_rc(err);
    }
    do
        w = writev(fd, iov, 2);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)(len + 1) || fchmod(fd, 0600) != 0 || fdatasync(fd) != 0) {
        snprintf(why, whylen, "cannot write %s: %s", next,
                 w >= 0 && w != (ssize_t)(len + 1) ? "short write" : strerror(errno));
        goto out;
    }
    *out_fd = fd;
    fd = -1;
    rc = TR_OK;
out:
    if (fd >= 0) {
        close(fd);
        unlink(next);
    }
    return rc;
}

/* Put the new file in place of the old one, which keeps its lines under its rotated name:
 * old -> rotated (never over an existing file), then next -> path, then the directory is synced
 * before any line goes to the new file (its name must survive a crash, or acknowledged lines
 * would vanish with it). A failure after the first step puts the old file back; if even that
 * fails, the path has no file and the device must stop: the next open finishes the rotation
 * (api_audit_open). Called with a->mu held. */
static int swap_in(struct api_audit *a, const char *next, const char *rotated)
{
    int rc = TR_E_IO;

    if (renameat2(AT_FDCWD, a->path, AT_FDCWD, rotated, RENAME_NOREPLACE) != 0) {
        rc = errno == EEXIST ? TR_E_EXISTS : TR_E_IO;
        snprintf(a->rot_err, sizeof(a->rot_err), "cannot rotate %s to %s: %s", a->path, rotated,
                 strerror(errno));
        unlink(next);
        return rc;
    }
    if (rename(next, a->path) != 0) {
        snprintf(a->rot_err, sizeof(a->rot_err), "cannot move %s to %s: %s", next, a->path,
                 strerror(errno));
        unlink(next);
        if (renameat2(AT_FDCWD, rotated, AT_FDCWD, a->path, RENAME_NOREPLACE) != 0) {
            tr_log_error("audit: cannot put %s back: %s; refusing further writes (a restart "
                         "finishes the rotation)",
                         a->path, strerror(errno));
            mark_broken(a);
        }
        return rc;
    }
    if (sync_dir(a->path) != TR_OK) {
        tr_log_error("audit: the rotation of %s may not survive a crash; refusing further "
                     "writes until reopened",
                     a->path);
        mark_broken(a);
        return rc;
    }
    return TR_OK;
}

/* The rotation proper, with a->mu held (no line is written meanwhile) and no sync in flight. A
 * failure that may well repeat at the next attempt (a full disk, a taken name) is only described
 * in a->rot_err: api_audit_rotate logs it, rate-limited; one that breaks the device is logged
 * here (it happens once: a broken device rotates no more). */
static int rotate_locked(struct api_audit *a, char *rotated, size_t rotlen)
{
    char next[PATH_MAX + 8], now[AUDIT_TIME_MAX], hash[TR_AUDIT_HASH_HEX + 1];
    const char *base;
    char *line = NULL;
    size_t len = 0;
    int nfd = -1, rc = TR_E_IO;

    a->rot_err[0] = '\0';
    if (a->broken)
        goto out;
    rc = TR_E_NOTFOUND;
    if (a->seq == 0 || a->end == 0 || a->seq == a->rotated_at)
        goto out; /* nothing since the last rotation: no empty parts */
    rc = TR_E_INVAL;
    if (snprintf(rotated, rotlen, "%s.%" PRIu64, a->path, a->seq) >= (int)rotlen ||
        snprintf(next, sizeof(next), "%s.next", a->path) >= (int)sizeof(next))
        goto out;
    base = strrchr(rotated, '/') ? strrchr(rotated, '/') + 1 : rotated;
    /* Every line written stays in the rotated file: make them durable first, so that the waiters
     * the sync thread releases next (their lines are covered) need nothing from the new file. */
    rc = TR_E_IO;
    if (fdatasync(a->fd) != 0) {
        tr_log_error("audit: fdatasync failed: %s; refusing further writes until reopened",
                     strerror(errno));
        mark_broken(a);
        goto out;
    }
    a->synced = a->seq;
    a->durable = (struct api_audit_head){.seq = a->seq, .end = a->end};
    memcpy(a->durable.hash, a->prev, sizeof(a->durable.hash));
    a->release_due = true; /* the callbacks of those lines: the sync thread calls them */
    pthread_cond_broadcast(&a->synced_cond);
    pthread_cond_signal(&a->work_cond);
    if ((rc = audit_time_now(now)) != TR_OK)
        goto out;
    if ((rc = tr_audit_rotation_line(a->seq, a->prev, now, base, a->end, &line, &len, hash)) !=
        TR_OK)
        goto out;
    if ((rc = next_file(next, line, len, &nfd, a->rot_err, sizeof(a->rot_err))) != TR_OK)
        goto out;
    if ((rc = swap_in(a, next, rotated)) != TR_OK)
        goto out;
    if (close(a->fd) != 0)
        tr_log_warn("audit: close failed: %s", strerror(errno));
    a->fd = nfd;
    nfd = -1;
    a->seq++;
    a->end = len + 1;
    memcpy(a->prev, hash, sizeof(a->prev));
    a->synced = a->seq; /* next_file synced the marker */
    a->durable = (struct api_audit_head){.seq = a->seq, .end = a->end};
    memcpy(a->durable.hash, hash, sizeof(a->durable.hash));
    a->rotated_at = a->seq;
    rc = TR_OK;
out:
    if (rc != TR_OK && !a->rot_err[0])
        snprintf(a->rot_err, sizeof(a->rot_err), "%s",
                 a->broken          ? "the device refuses writes after an I/O failure"
                 : rc == TR_E_INVAL ? "the rotated file's name would be too long"
                                    : tr_strerror(rc));
    if (nfd >= 0)
        close(nfd);
    free(line);
    return rc;
}

/* The outcome of a rotation (with a->mu held): a failure is logged first, then summarised at
 * most once per API_AUDIT_LOG_EVERY_MS (a rotation by size is retried every anchoring interval, and
 * a full disk or a taken name fails each time), and the first success after failures says so. */
static void rotate_report(struct api_audit *a, int rc)
{
    struct tr_lograte_note nt;
    uint64_t now = tr_lograte_now_ms();

    if (rc == TR_OK) {
        a->rotations++;
        if (a->rot_lr.failing && tr_lograte_ok(&a->rot_lr, now, &nt))
            tr_log_info("audit: rotation works again, after %" PRIu64 " failed attempts over "
                        "%" PRIu64 " s",
                        nt.total, nt.secs);
        return;
    }
    if (rc == TR_E_NOTFOUND)
        return; /* nothing to rotate: no failure */
    a->rot_failures++;
    switch (tr_lograte_fail(&a->rot_lr, 1, now, &nt)) {
    case TR_LOGRATE_FIRST:
        tr_log_error("audit: rotation failed: %s (further failures: one summary per %d s)",
                     a->rot_err, API_AUDIT_LOG_EVERY_MS / 1000);
        break;
    case TR_LOGRATE_SUMMARY:
        tr_log_error("audit: rotation failed %" PRIu64 " more times since the last report, %" PRIu64
                     " since the first failure %" PRIu64 " s ago (last: %s)",
                     nt.count, nt.total, nt.secs, a->rot_err);
        break;
    case TR_LOGRATE_QUIET:
        break;
    }
}

int api_audit_rotate(struct api_audit *a, uint32_t keep, char *rotated, size_t rotlen)
{
    uint64_t newest;
    int rc;

    if (!a || !rotated || rotlen == 0)
        return TR_E_INVAL;
    rotated[0] = '\0';
    pthread_mutex_lock(&a->mu);
    while (a->syncing) /* the sync thread is in fdatasync on the current descriptor */
        pthread_cond_wait(&a->synced_cond, &a->mu);
    rc = rotate_locked(a, rotated, rotlen);
    rotate_report(a, rc);
    newest = rc == TR_OK ? a->rotated_at - 1 : 0; /* the rotated file's: the marker's seq - 1 */
    pthread_mutex_unlock(&a->mu);
    if (rc != TR_OK)
        rotated[0] = '\0';
    else
        audit_prune(a->path, keep, newest);
    return rc;
}

void api_audit_stats_get(struct api_audit *a, struct api_audit_stats *out)
{
    pthread_mutex_lock(&a->mu);
    *out = (struct api_audit_stats){.write_failures = a->write_failures,
                                    .file_bytes = a->end,
                                    .rotations = a->rotations,
                                    .rotation_failures = a->rot_failures};
    pthread_mutex_unlock(&a->mu);
}

void api_audit_hold(struct api_audit *a, bool on)
{
    pthread_mutex_lock(&a->mu);
    a->held = on;
    pthread_mutex_unlock(&a->mu);
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
    pthread_join(a->syncer, NULL); /* it writes, syncs and releases whatever is still waiting */
    /* Nothing can be left once it has stopped (every queued line was written, every waiter's
     * line was covered or the device broke, and it released them); fail any stray one rather
     * than lose its callback. */
    pthread_mutex_lock(&a->mu);
    left = a->waiters;
    a->waiters = NULL;
    a->broken = true;
    snprintf(a->write_err, sizeof(a->write_err), "the device is closing");
    struct waiter *queued = write_queue(a); /* broken: fails them all */
    pthread_mutex_unlock(&a->mu);
    release(left, 0);
    release(queued, 0);
    if (close(a->fd) != 0)
        tr_log_warn("audit: close failed: %s", strerror(errno));
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->work_cond);
    pthread_cond_destroy(&a->synced_cond);
    audit_tmpl_fini(&a->tmpl_req);
    audit_tmpl_fini(&a->tmpl_resp);
    free(a);
}
