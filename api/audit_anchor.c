#include "audit_anchor.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/tr_log.h"
#include "../common/tr_lograte.h"
#include "api_int.h"

struct api_anchor {
    struct api *api; /* borrowed: outlives us */
    struct api_anchor_cfg cfg;
    pthread_t thread;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cond;
    bool stop;
    bool rotate;                    /* a rotation was asked for (api_anchor_rotate_request) */
    bool armed;                     /* a verified store is open: anchoring into it is allowed */
    struct api_audit_head anchored; /* what the open store holds */
    /* No rotation until anchored.seq reaches this: the head right after the last rotation (or the
     * file's head when the store was opened), so the store holds a line of the current file. */
    uint64_t rotate_after;
    /* Failed anchorings (a full data disk fails each retry): counted, logged first, then one
     * summary per API_AUDIT_LOG_EVERY_MS, then the recovery once it worked that long. */
    struct tr_lograte put_lr;
    uint64_t put_failures;
    bool put_failing; /* the last anchoring failed (the metric; put_lr settles later) */
    /* Monotonic ms since which due lines have waited for an anchoring (cfg.max_lag_ms): the last
     * success or arming, or, when the first failure follows an idle spell, one interval before
     * that attempt began (an idle server has nothing to anchor, so idling is not lag). */
    uint64_t wait_ms;
    bool holding; /* cfg.max_lag_ms passed without one: the device refuses lines */
    /* The file reached rotate_bytes while rotate_after is not anchored: the rotation waits. */
    struct tr_lograte wait_lr;
    json_t *evidence;       /* the last failed verify's, or NULL */
    pthread_mutex_t put_mu; /* one anchoring at a time: the head never goes backwards */
};

static json_t *head_json(const struct api_audit_head *h)
{
    return json_pack("{s:I, s:I, s:s}", "seq", (json_int_t)h->seq, "end", (json_int_t)h->end,
                     "hash", h->hash);
}

static int head_parse(const uint8_t *p, size_t len, struct api_audit_head *out)
{
    json_t *o = json_loadb((const char *)p, len, 0, NULL);
    json_t *seq = json_object_get(o, "seq"), *end = json_object_get(o, "end");
    const char *hash = json_string_value(json_object_get(o, "hash"));
    int rc = TR_E_INTERNAL;

    if (!json_is_integer(seq) || json_integer_value(seq) < 0 || !json_is_integer(end) ||
        json_integer_value(end) < 0 || !hash || strlen(hash) != TR_AUDIT_HASH_HEX)
        goto out;
    out->seq = (uint64_t)json_integer_value(seq);
    out->end = (uint64_t)json_integer_value(end);
    memcpy(out->hash, hash, sizeof(out->hash));
    rc = TR_OK;
out:
    json_decref(o);
    return rc;
}

static int head_put(struct store *st, const struct api_audit_head *h)
{
    json_t *o = head_json(h);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int rc = text
                 ? store_put(st, API_T_SYS, (const uint8_t *)API_ANCHOR_KEY, strlen(API_ANCHOR_KEY),
                             (const uint8_t *)text, strlen(text), STORE_VERSION_ANY, NULL)
                 : TR_E_NOMEM;

    free(text);
    json_decref(o);
    return rc;
}

/* The stored head; seq 0 when none was ever stored. */
static int head_get(struct store *st, struct api_audit_head *out)
{
    struct enc_secret *v = NULL;
    int rc =
        store_get(st, API_T_SYS, (const uint8_t *)API_ANCHOR_KEY, strlen(API_ANCHOR_KEY), &v, NULL);

    memset(out, 0, sizeof(*out));
    if (rc == TR_E_NOTFOUND)
        return TR_OK;
    if (rc == TR_OK) {
        rc = head_parse(enc_secret_data(v), enc_secret_len(v), out);
        if (rc != TR_OK)
            tr_log_error("audit anchor: the stored head is not one Tresor writes");
    }
    enc_secret_free(v);
    return rc;
}

/* Count an anchoring's outcome (rc, for head h, an attempt begun at began_ms) and log what the
 * rate limit says: the first failure, a summary per API_AUDIT_LOG_EVERY_MS, the recovery.
 * closing: the last anchoring before the store closes, whose failure is always logged (no retry
 * follows it). */
static void anchor_report(struct api_anchor *an, int rc, const struct api_audit_head *h,
                          uint64_t began_ms, bool closing)
{
    enum tr_lograte_say say = TR_LOGRATE_QUIET;
    struct tr_lograte_note nt = {0};
    uint64_t now = tr_lograte_now_ms(), held, lag = 0;
    bool back = false, hold = false, release = false;

    if (rc == TR_E_SEALED)
        return; /* the store closed meanwhile: nothing failed, the flush anchors */
    pthread_mutex_lock(&an->mu);
    if (rc == TR_OK) {
        back = tr_lograte_ok(&an->put_lr, now, &nt);
        an->wait_ms = now;
        release = an->holding;
        an->holding = false;
    } else {
        if (!an->put_failing && began_ms > an->wait_ms + an->cfg.interval_ms)
            an->wait_ms = began_ms - an->cfg.interval_ms; /* the lines came after an idle spell */
        an->put_failures++;
        say = tr_lograte_fail(&an->put_lr, 1, now, &nt);
        lag = now - an->wait_ms;
        hold = an->cfg.max_lag_ms && !an->holding && !closing && lag >= an->cfg.max_lag_ms;
        an->holding = an->holding || hold;
    }
    an->put_failing = rc != TR_OK;
    held = an->anchored.seq;
    pthread_mutex_unlock(&an->mu);
    /* callers hold put_mu: holds and releases happen in the order decided */
    if (hold) {
        api_audit_hold(an->api->audit, true);
        tr_log_error("audit anchor: no anchoring for %" PRIu64 " ms (audit.anchor_max_lag_ms %u): "
                     "audited requests are refused (503) until the audit head can be stored "
                     "(the store holds line %" PRIu64 ", the file line %" PRIu64 ")",
                     lag, (unsigned)an->cfg.max_lag_ms, held, h->seq);
    }
    if (release) {
        api_audit_hold(an->api->audit, false);
        tr_log_info("audit anchor: the audit head is stored again (line %" PRIu64 "): audited "
                    "requests are served again",
                    h->seq);
    }
    if (back)
        tr_log_info("audit anchor: the audit head is anchored again (line %" PRIu64
                    "), after %" PRIu64 " failed attempts over %" PRIu64 " s",
                    h->seq, nt.total, nt.secs);
    else if (say == TR_LOGRATE_FIRST)
        tr_log_warn("audit anchor: cannot store the audit head (line %" PRIu64 "): %s; will retry "
                    "every %u ms. Lines stay durable in the file, but until this works a cut of "
                    "those after line %" PRIu64 " would not be found at unseal (further failures: "
                    "one summary per %d s; metric tresor_audit_anchor_failing)",
                    h->seq, tr_strerror(rc), (unsigned)an->cfg.interval_ms, held,
                    API_AUDIT_LOG_EVERY_MS / 1000);
    else if (say == TR_LOGRATE_SUMMARY || (closing && rc != TR_OK))
        tr_log_warn("audit anchor: %s cannot store the audit head: %" PRIu64 " failed attempts "
                    "since the first %" PRIu64 " s ago (last: %s); the store holds line %" PRIu64
                    ", the file is at line %" PRIu64 " (%" PRIu64 " lines not anchored)",
                    closing ? "before the store closes," : "still", nt.total, nt.secs,
                    tr_strerror(rc), held, h->seq, h->seq > held ? h->seq - held : 0);
}

/* Anchor the durable head if it moved past the anchored one, into held (a store the caller holds:
 * a closing one no call holds, after every line is made durable if drain, or a reference) or else
 * the open store. Called with put_mu held. */
static void anchor_locked(struct api_anchor *an, struct store *held, bool drain)
{
    struct api_audit_head h;
    struct store *st = held;
    uint64_t began = tr_lograte_now_ms();
    int rc;

    if (drain)
        api_audit_drain(an->api->audit);
    api_audit_head_get(an->api->audit, &h);
    pthread_mutex_lock(&an->mu);
    bool due = an->armed && h.seq > an->anchored.seq;
    /* everything anchored after failures: a success too (an idle server ends the run as well) */
    bool settled = an->armed && !due && an->put_lr.failing;
    pthread_mutex_unlock(&an->mu);
    if (settled)
        anchor_report(an, TR_OK, &h, began, false);
    if (!due || (!st && !(st = api_core_store_ref(an->api))))
        return;
    rc = head_put(st, &h);
    if (!held)
        api_core_store_unref(an->api, st);
    pthread_mutex_lock(&an->mu);
    if (rc == TR_OK && an->armed)
        an->anchored = h;
    pthread_mutex_unlock(&an->mu);
    anchor_report(an, rc, &h, began, drain);
}

/* Serialised by put_mu: the head never goes backwards, and a rotation sits between two anchorings. */
static void anchor_once(struct api_anchor *an, struct store *closing)
{
    pthread_mutex_lock(&an->put_mu);
    anchor_locked(an, closing, closing != NULL);
    pthread_mutex_unlock(&an->put_mu);
}

/* The file reached rotate_bytes (h: its head) but the store holds no line of it yet, so it is
 * not rotated (see rotate_once): say so, first at once, then once per API_AUDIT_LOG_EVERY_MS,
 * and keep the state for sys/metrics. */
static void rotate_waits(struct api_anchor *an, const struct api_audit_head *h)
{
    struct tr_lograte_note nt;
    enum tr_lograte_say say;

    pthread_mutex_lock(&an->mu);
    say = tr_lograte_fail(&an->wait_lr, 1, tr_lograte_now_ms(), &nt);
    pthread_mutex_unlock(&an->mu);
    if (say == TR_LOGRATE_FIRST)
        tr_log_warn("audit: the file reached rotate_bytes (%" PRIu64 " of %" PRIu64 " bytes) "
                    "but the store does not hold a line of it yet (see the anchoring errors): "
                    "not rotated, as one more rotation would leave the stored head two files "
                    "back; it grows until an anchoring succeeds and is rotated right after",
                    h->end, an->cfg.rotate_bytes);
    else if (say == TR_LOGRATE_SUMMARY)
        tr_log_warn("audit: rotation still waiting for an anchoring, for %" PRIu64 " s: the file "
                    "is %" PRIu64 " bytes (rotate_bytes %" PRIu64 ")",
                    nt.secs, h->end, an->cfg.rotate_bytes);
}

/* The store holds a line of the current file again: a rotation by size no longer waits. */
static void rotate_waited(struct api_anchor *an)
{
    struct tr_lograte_note nt;
    bool waited;

    pthread_mutex_lock(&an->mu);
    waited = tr_lograte_ok(&an->wait_lr, tr_lograte_now_ms(), &nt);
    pthread_mutex_unlock(&an->mu);
    if (waited)
        tr_log_info("audit: the rotation by size waited %" PRIu64 " s for an anchoring", nt.secs);
}

/* Rotate the audit file if asked to or if it reached rotate_bytes, and anchor the new file's
 * marker at once: an anchored head is then never more than one rotation back, which is as far
 * as api_audit_head_check looks. Only while the store is open and serving (a sealed server writes
 * no lines; an asked-for rotation is then dropped, with a message). Called right after an
 * anchoring, so a rotation that waited for one happens in the same interval. */
static void rotate_once(struct api_anchor *an)
{
    struct api_audit_head h;
    char rotated[PATH_MAX + 32];
    struct store *st = NULL;
    bool asked, by_size, behind;
    int rc;

    pthread_mutex_lock(&an->mu);
    asked = an->rotate;
    an->rotate = false;
    pthread_mutex_unlock(&an->mu);
    api_audit_head_get(an->api->audit, &h);
    by_size = an->cfg.rotate_bytes && h.end >= an->cfg.rotate_bytes;
    if (!asked && !by_size)
        return;
    pthread_mutex_lock(&an->put_mu);
    /* A reference for the rotation and its anchoring: a seal (operator, shutdown, recovery) waits
     * for it before its last anchoring, so no rotation slips in after that one (armed, read
     * before a seal began, could still say unsealed). */
    if (!(st = api_core_store_ref(an->api))) {
        if (asked)
            tr_log_warn("audit: rotation not done: the server is sealed (nothing is written "
                        "while sealed; ask again once unsealed)");
        goto out;
    }
    pthread_mutex_lock(&an->mu);
    behind = !an->armed || an->anchored.seq < an->rotate_after;
    pthread_mutex_unlock(&an->mu);
    if (behind) {
        /* The store holds no line of the current file yet (the last rotation's marker could not
         * be anchored, e.g. its disk is full): another rotation would leave the anchored line
         * two files back, further than the check looks, and a crash would then read as
         * tampering. Wait for an anchoring (each interval retries). */
        if (asked)
            tr_log_warn("audit: rotation not done: the last rotation is not anchored in the "
                        "store yet (see the anchoring errors; ask again once it is)");
        if (by_size)
            rotate_waits(an, &h);
        goto out;
    }
    rotate_waited(an); /* whatever the rotation gives, it no longer waits for the store */
    rc = api_audit_rotate(an->api->audit, an->cfg.rotate_keep, rotated, sizeof(rotated));
    if (rc == TR_OK) {
        tr_log_info("audit: rotated the log to %s (lines up to %" PRIu64 ")", rotated, h.seq);
        api_audit_head_get(an->api->audit, &h); /* the marker, or a line after it */
        pthread_mutex_lock(&an->mu);
        an->rotate_after = h.seq;
        pthread_mutex_unlock(&an->mu);
        anchor_locked(an, st, false);
    } else if (rc == TR_E_NOTFOUND) {
        if (asked)
            tr_log_info("audit: rotation not done: nothing was written since the last one");
    } else if (asked) {
        /* api_audit_rotate logged why (rate-limited): answer the request anyway */
        tr_log_warn("audit: rotation not done: %s (see `audit: rotation failed`)", tr_strerror(rc));
    }
out:
    if (st)
        api_core_store_unref(an->api, st);
    pthread_mutex_unlock(&an->put_mu);
}

static void *anchor_main(void *arg)
{
    struct api_anchor *an = arg;
    struct timespec ts;

    pthread_mutex_lock(&an->mu);
    while (!an->stop) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += an->cfg.interval_ms / 1000;
        ts.tv_nsec += (long)(an->cfg.interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!an->stop && !an->rotate &&
               pthread_cond_timedwait(&an->cond, &an->mu, &ts) != ETIMEDOUT)
            ;
        if (an->stop)
            break;
        pthread_mutex_unlock(&an->mu);
        anchor_once(an, NULL);
        rotate_once(an);
        pthread_mutex_lock(&an->mu);
    }
    pthread_mutex_unlock(&an->mu);
    return NULL;
}

int api_anchor_start(struct api *api, const struct api_anchor_cfg *cfg, struct api_anchor **out)
{
    struct api_anchor *an;
    pthread_condattr_t ca;

    if (out)
        *out = NULL;
    if (!api || !api->audit || !cfg || cfg->interval_ms == 0 || !out)
        return TR_E_INVAL;
    if (!(an = calloc(1, sizeof(*an))))
        return TR_E_NOMEM;
    an->api = api;
    an->cfg = *cfg;
    an->put_lr.every_ms = an->wait_lr.every_ms = API_AUDIT_LOG_EVERY_MS;
    an->put_lr.settle_ms = API_AUDIT_LOG_EVERY_MS; /* a store that fails now and then: one run */
    pthread_mutex_init(&an->mu, NULL);
    pthread_mutex_init(&an->put_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* a clock step must not stall anchoring */
    pthread_cond_init(&an->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&an->thread, NULL, anchor_main, an) != 0) {
        pthread_cond_destroy(&an->cond);
        pthread_mutex_destroy(&an->put_mu);
        pthread_mutex_destroy(&an->mu);
        free(an);
        return TR_E_NOMEM;
    }
    pthread_setname_np(an->thread, "tr-audit-anchor"); /* for top -H; failure is harmless */
    *out = an;
    return TR_OK;
}

void api_anchor_stop(struct api_anchor *an)
{
    if (!an)
        return;
    pthread_mutex_lock(&an->mu);
    an->stop = true;
    pthread_cond_signal(&an->cond);
    pthread_mutex_unlock(&an->mu);
    pthread_join(an->thread, NULL);
    json_decref(an->evidence);
    pthread_cond_destroy(&an->cond);
    pthread_mutex_destroy(&an->put_mu);
    pthread_mutex_destroy(&an->mu);
    free(an);
}

static void evidence_set(struct api_anchor *an, json_t *ev)
{
    pthread_mutex_lock(&an->mu);
    json_decref(an->evidence);
    an->evidence = ev;
    pthread_mutex_unlock(&an->mu);
}

/* The file failed the check: say what was expected and what is there, without any content. */
static void refuse(struct api_anchor *an, const struct api_audit_head *want,
                   const struct api_audit_head *file, const char *why)
{
    tr_log_error("audit anchor: the audit file does not hold the anchored line %" PRIu64
                 " ending at byte %" PRIu64 " (%s); the file ends at line %" PRIu64
                 ", byte %" PRIu64 ". Lines were cut off its end or it was replaced. Staying "
                 "sealed (tamper_detected) until storage recovery adopts the file",
                 want->seq, want->end, why, file->seq, file->end);
    evidence_set(an,
                 json_pack("{s:s, s:s, s:I, s:I, s:s%, s:I, s:I}", "verdict", "tamper_detected",
                           "cause", why, "anchored_seq", (json_int_t)want->seq, "anchored_end",
                           (json_int_t)want->end, "anchored_hash", want->hash, (size_t)16,
                           "file_seq", (json_int_t)file->seq, "file_end", (json_int_t)file->end));
}

int api_anchor_verify(struct api_anchor *an, struct store *st, bool adopt)
{
    struct api_audit_head want, file;
    char why[96];
    int rc;

    if ((rc = head_get(st, &want)) != TR_OK)
        return rc;
    if (!an) {
        if (want.seq)
            tr_log_warn("audit anchor: the store holds an audit head (line %" PRIu64
                        ") but no audit file is configured: nothing is audited",
                        want.seq);
        return TR_OK;
    }
    api_audit_head_get(an->api->audit, &file);
    if (adopt) {
        /* The recovery quorum accepts the file as it is now, which must be what the device
         * holds as its head: a file cut or swapped under the running server is only read anew
         * (and its chain continued) by a restart. */
        if ((rc = api_audit_head_check(an->api->audit, &file, why, sizeof(why))) != TR_OK) {
            if (rc == TR_E_TAMPER) {
                refuse(an, &want, &file, why);
                tr_log_error("audit anchor: the file changed under the running server, which "
                             "cannot adopt it: restart the server, then recover");
            }
            return rc;
        }
        if ((rc = head_put(st, &file)) != TR_OK)
            return rc;
        tr_log_warn("audit anchor: storage recovery adopted the audit file as it is (line %" PRIu64
                    ", byte %" PRIu64 "); the anchored head was line %" PRIu64 ", byte %" PRIu64,
                    file.seq, file.end, want.seq, want.end);
        want = file;
    } else if ((rc = api_audit_head_check(an->api->audit, &want, why, sizeof(why))) != TR_OK) {
        if (rc == TR_E_TAMPER)
            refuse(an, &want, &file, why);
        return rc;
    }
    pthread_mutex_lock(&an->mu);
    an->anchored = want;
    an->rotate_after = file.seq; /* want may be one rotation back: anchor the file first */
    an->armed = true;
    an->put_lr.failing = an->put_failing = false; /* a new store: a failure is news again */
    an->wait_ms = tr_lograte_now_ms();
    bool release = an->holding;
    an->holding = false;
    json_decref(an->evidence);
    an->evidence = NULL;
    pthread_mutex_unlock(&an->mu);
    if (release)
        api_audit_hold(an->api->audit, false);
    return TR_OK;
}

void api_anchor_flush(struct api_anchor *an, struct store *st)
{
    if (an && st)
        anchor_once(an, st);
}

void api_anchor_rotate_request(struct api_anchor *an)
{
    if (!an)
        return;
    pthread_mutex_lock(&an->mu);
    an->rotate = true;
    pthread_cond_signal(&an->cond);
    pthread_mutex_unlock(&an->mu);
}

void api_anchor_disarm(struct api_anchor *an)
{
    if (!an)
        return;
    pthread_mutex_lock(&an->mu);
    an->armed = false;
    pthread_mutex_unlock(&an->mu);
}

json_t *api_anchor_evidence(struct api_anchor *an)
{
    json_t *ev = NULL;

    if (!an)
        return NULL;
    pthread_mutex_lock(&an->mu);
    if (an->evidence)
        ev = json_deep_copy(an->evidence);
    pthread_mutex_unlock(&an->mu);
    return ev;
}

size_t api_anchor_metrics(struct api_anchor *an, char *buf, size_t cap)
{
    struct api_audit_stats ds;
    struct api_audit_head h;
    uint64_t failures, unanchored = 0;
    bool failing, waiting, holding;
    int n;

    if (!an || !buf || cap == 0)
        return 0;
    api_audit_stats_get(an->api->audit, &ds);
    api_audit_head_get(an->api->audit, &h);
    pthread_mutex_lock(&an->mu);
    failures = an->put_failures;
    failing = an->put_failing;
    waiting = an->wait_lr.failing;
    holding = an->holding;
    if (an->armed && h.seq > an->anchored.seq)
        unanchored = h.seq - an->anchored.seq;
    pthread_mutex_unlock(&an->mu);
    n = snprintf(buf, cap,
                 "# TYPE tresor_audit_write_failures_total counter\n"
                 "tresor_audit_write_failures_total %" PRIu64 "\n"
                 "# TYPE tresor_audit_file_bytes gauge\ntresor_audit_file_bytes %" PRIu64 "\n"
                 "# TYPE tresor_audit_rotations_total counter\n"
                 "tresor_audit_rotations_total %" PRIu64 "\n"
                 "# TYPE tresor_audit_rotation_failures_total counter\n"
                 "tresor_audit_rotation_failures_total %" PRIu64 "\n"
                 "# TYPE tresor_audit_rotation_waiting gauge\ntresor_audit_rotation_waiting %d\n"
                 "# TYPE tresor_audit_anchor_failures_total counter\n"
                 "tresor_audit_anchor_failures_total %" PRIu64 "\n"
                 "# TYPE tresor_audit_anchor_failing gauge\ntresor_audit_anchor_failing %d\n"
                 "# TYPE tresor_audit_unanchored_lines gauge\n"
                 "tresor_audit_unanchored_lines %" PRIu64 "\n"
                 "# TYPE tresor_audit_anchor_holding gauge\ntresor_audit_anchor_holding %d\n",
                 ds.write_failures, ds.file_bytes, ds.rotations, ds.rotation_failures,
                 waiting ? 1 : 0, failures, failing ? 1 : 0, unanchored, holding ? 1 : 0);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
