/* Unit tests for the failure log limiter (common/tr_lograte.c): first failure, summaries at most
 * once per interval with their counts, the recovery, and a bound on lines however many failures.
 * Time is passed in, so every case is exact. Random failure timings come from a seed printed at
 * start (TR_TEST_SEED). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../common/tr_lograte.h"

static void test_tr_lograte_fail_first_then_quiet_then_summary(void **state)
{
    struct tr_lograte r = {.every_ms = 10000};
    struct tr_lograte_note nt;
    (void)state;

    assert_int_equal(tr_lograte_fail(&r, 1, 5000, &nt), TR_LOGRATE_FIRST);
    assert_int_equal(nt.count, 1);
    assert_int_equal(nt.total, 1);
    assert_int_equal(nt.secs, 0);
    assert_true(r.failing);
    for (uint64_t t = 5001; t < 15000; t += 100)
        assert_int_equal(tr_lograte_fail(&r, 1, t, &nt), TR_LOGRATE_QUIET);
    assert_int_equal(nt.count, 100); /* so far unlogged */
    assert_int_equal(tr_lograte_fail(&r, 2, 15000, &nt), TR_LOGRATE_SUMMARY);
    assert_int_equal(nt.count, 102); /* since the first line, this one included */
    assert_int_equal(nt.total, 103);
    assert_int_equal(nt.secs, 10);
    assert_int_equal(tr_lograte_fail(&r, 1, 15001, &nt), TR_LOGRATE_QUIET);
    assert_int_equal(tr_lograte_fail(&r, 1, 24999, &nt), TR_LOGRATE_QUIET);
    assert_int_equal(tr_lograte_fail(&r, 1, 25000, &nt), TR_LOGRATE_SUMMARY);
    assert_int_equal(nt.count, 3);
    assert_int_equal(nt.total, 106);
    assert_int_equal(nt.secs, 20);
}

static void test_tr_lograte_ok_ends_the_run(void **state)
{
    struct tr_lograte r = {.every_ms = 1000};
    struct tr_lograte_note nt;
    (void)state;

    assert_false(tr_lograte_ok(&r, 10, &nt)); /* nothing failed: nothing to say */
    assert_int_equal(tr_lograte_fail(&r, 1, 100, NULL), TR_LOGRATE_FIRST);
    assert_int_equal(tr_lograte_fail(&r, 4, 200, NULL), TR_LOGRATE_QUIET);
    assert_true(tr_lograte_ok(&r, 3100, &nt));
    assert_int_equal(nt.total, 5);
    assert_int_equal(nt.count, 4); /* not in any line yet */
    assert_int_equal(nt.secs, 3);
    assert_false(r.failing);
    assert_false(tr_lograte_ok(&r, 3200, &nt)); /* once */
    /* the next run starts over: its first failure is logged in full at once */
    assert_int_equal(tr_lograte_fail(&r, 1, 3300, &nt), TR_LOGRATE_FIRST);
    assert_int_equal(nt.total, 1);
}

/* A success within settle_ms of the last failure does not end the run: a disk that takes a line
 * now and then makes one run (one first line, summaries), not a first line and a recovery each
 * time. */
static void test_tr_lograte_ok_settles(void **state)
{
    struct tr_lograte r = {.every_ms = 10000, .settle_ms = 10000};
    struct tr_lograte_note nt;
    int lines = 0;
    (void)state;

    for (uint64_t t = 1000; t < 31000; t += 500) {
        if (tr_lograte_fail(&r, 1, t, NULL) != TR_LOGRATE_QUIET)
            lines++;
        assert_false(tr_lograte_ok(&r, t + 100, &nt));
    }
    assert_int_equal(lines, 3); /* the first, at 11 s and at 21 s */
    assert_true(r.failing);
    assert_false(tr_lograte_ok(&r, 30500 + 9999, &nt));
    assert_true(tr_lograte_ok(&r, 30500 + 10000, &nt));
    assert_int_equal(nt.total, 60);
    assert_int_equal(nt.secs, 39);
}

static void test_tr_lograte_clock_behind_is_not_yet(void **state)
{
    struct tr_lograte r = {.every_ms = 1000};
    (void)state;

    assert_int_equal(tr_lograte_fail(&r, 1, 5000, NULL), TR_LOGRATE_FIRST);
    /* a time read before another thread's (smaller) neither logs nor wraps around */
    assert_int_equal(tr_lograte_fail(&r, 1, 4000, NULL), TR_LOGRATE_QUIET);
    assert_int_equal(tr_lograte_fail(&r, 1, 6000, NULL), TR_LOGRATE_SUMMARY);
}

/* However failures fall, lines are at most 1 + elapsed / every_ms, and every failure is in the
 * total the lines and the recovery report. */
static void test_tr_lograte_bounded_random(void **state)
{
    unsigned seed = (unsigned)time(NULL);
    const char *s = getenv("TR_TEST_SEED");
    (void)state;

    if (s)
        seed = (unsigned)strtoul(s, NULL, 10);
    printf("TR_TEST_SEED=%u\n", seed);
    srandom(seed);
    for (int round = 0; round < 200; round++) {
        struct tr_lograte r = {.every_ms = 1 + (uint64_t)(random() % 5000)};
        struct tr_lograte_note nt;
        uint64_t t = (uint64_t)(random() % 100000), t0 = t, n = 0, lines = 0, logged = 0;
        int k = 1 + (int)(random() % 5000);

        for (int i = 0; i < k; i++) {
            uint64_t m = 1 + (uint64_t)(random() % 3);
            enum tr_lograte_say say = tr_lograte_fail(&r, m, t, &nt);
            n += m;
            if (say != TR_LOGRATE_QUIET) {
                lines++;
                logged += nt.count;
            }
            assert_int_equal(nt.total, n);
            t += (uint64_t)(random() % 50);
        }
        assert_true(lines <= 1 + (t - t0) / r.every_ms);
        assert_true(tr_lograte_ok(&r, t, &nt));
        assert_int_equal(nt.total, n);
        assert_int_equal(logged + nt.count, n); /* each failure in exactly one line */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tr_lograte_fail_first_then_quiet_then_summary),
        cmocka_unit_test(test_tr_lograte_ok_ends_the_run),
        cmocka_unit_test(test_tr_lograte_ok_settles),
        cmocka_unit_test(test_tr_lograte_clock_behind_is_not_yet),
        cmocka_unit_test(test_tr_lograte_bounded_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
