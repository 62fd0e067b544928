#include "tr_lograte.h"

#include <time.h>

static void note(const struct tr_lograte *r, uint64_t count, uint64_t now_ms,
                 struct tr_lograte_note *out)
{
    if (!out)
        return;
    out->count = count;
    out->total = r->total;
    out->secs = now_ms > r->since_ms ? (now_ms - r->since_ms) / 1000 : 0;
}

enum tr_lograte_say tr_lograte_fail(struct tr_lograte *r, uint64_t n, uint64_t now_ms,
                                    struct tr_lograte_note *out)
{
    uint64_t count;

    if (!r->failing) {
        r->failing = true;
        r->since_ms = r->last_ms = r->fail_ms = now_ms;
        r->total = n;
        r->unlogged = 0;
        note(r, n, now_ms, out);
        return TR_LOGRATE_FIRST;
    }
    r->total += n;
    r->unlogged += n;
    if (now_ms > r->fail_ms)
        r->fail_ms = now_ms;
    /* now_ms below last_ms (a caller's clock read before another's) is "not yet" */
    if (now_ms < r->last_ms || now_ms - r->last_ms < r->every_ms) {
        note(r, r->unlogged, now_ms, out);
        return TR_LOGRATE_QUIET;
    }
    count = r->unlogged;
    r->unlogged = 0;
    r->last_ms = now_ms;
    note(r, count, now_ms, out);
    return TR_LOGRATE_SUMMARY;
}

bool tr_lograte_ok(struct tr_lograte *r, uint64_t now_ms, struct tr_lograte_note *out)
{
    if (!r->failing || now_ms < r->fail_ms || now_ms - r->fail_ms < r->settle_ms)
        return false;
    note(r, r->unlogged, now_ms, out);
    r->failing = false;
    r->total = r->unlogged = 0;
    return true;
}

uint64_t tr_lograte_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
