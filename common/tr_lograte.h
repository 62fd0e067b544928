/*
 * tr_lograte - what to log about one failure that may repeat (a full disk failing every write,
 * a store refusing every anchoring): the first failure at once, then at most one summary per
 * interval with the number of failures since the last line, then one line when it works again.
 * The log stays bounded however often the failure happens, and no failure goes uncounted.
 * A success ends a run of failures only once settle_ms passed since the last failure: a nearly
 * full disk that takes one short line in ten is one run, not a first line and a recovery each
 * time (with settle_ms = every_ms, at most two lines per every_ms however it flaps).
 *
 * Use: a struct tr_lograte per failure source, zeroed, with every_ms (> 0) and settle_ms set. On
 * each failure call tr_lograte_fail and log what it says; on each success call tr_lograte_ok
 * (cheap when nothing failed) and log the recovery when it returns true. Time is passed in
 * (monotonic milliseconds, tr_lograte_now_ms) so the logic is testable.
 * Thread-safety: none; the caller serialises calls on one struct (the lock of the state it
 * guards). Knows nothing of what failed: the caller writes the lines.
 */
#ifndef TR_LOGRATE_H
#define TR_LOGRATE_H

#include <stdbool.h>
#include <stdint.h>

struct tr_lograte {
    uint64_t every_ms;  /* at most one summary per this (set by the caller, > 0) */
    uint64_t settle_ms; /* a success this long after the last failure ends the run (caller) */
    bool failing;       /* a run of failures has not ended */
    uint64_t since_ms;  /* failing: when the first failure was counted */
    uint64_t last_ms;   /* failing: when the last line (first or summary) was due */
    uint64_t fail_ms;   /* failing: when the last failure was counted */
    uint64_t total;     /* failing: failures since since_ms */
    uint64_t unlogged;  /* failing: failures since last_ms's line */
};

enum tr_lograte_say {
    TR_LOGRATE_QUIET = 0, /* counted, nothing to log now */
    TR_LOGRATE_FIRST,     /* the first failure since a success (or ever): log it in full */
    TR_LOGRATE_SUMMARY,   /* every_ms passed since the last line: log the count */
};

/* What a line reports (tr_lograte_fail's SUMMARY, tr_lograte_ok's recovery). */
struct tr_lograte_note {
    uint64_t count; /* SUMMARY: failures since the previous line, this one included */
    uint64_t total; /* failures since the first one */
    uint64_t secs;  /* whole seconds since the first one */
};

/* tr_lograte_fail - count n (>= 1) failures at now_ms; says what to log. out (may be NULL) is
 * filled for every verdict. */
enum tr_lograte_say tr_lograte_fail(struct tr_lograte *r, uint64_t n, uint64_t now_ms,
                                    struct tr_lograte_note *out);

/* tr_lograte_ok - a success at now_ms. true when it ends a run of failures, i.e. settle_ms or more
 * after the last one (log the recovery with *out, which may be NULL); the struct is then ready
 * for the next run. A success sooner changes nothing: a failure after it continues the run. */
bool tr_lograte_ok(struct tr_lograte *r, uint64_t now_ms, struct tr_lograte_note *out);

/* tr_lograte_now_ms - CLOCK_MONOTONIC in milliseconds (a clock step never shortens a wait). */
uint64_t tr_lograte_now_ms(void);

#endif
