/* Unit tests for the sharded reader-writer lock (common/tr_brlock.c): readers of different
 * threads land on different shards, a writer excludes every reader and every other writer, and
 * neither kind starves under a stream of the other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>

#include "../../common/tr_brlock.h"

enum { READERS = 6, WRITERS = 2, RUN_MS = 300 };

/* The invariant a == b holds whenever no writer is inside. */
struct shared {
    struct tr_brlock lock;
    uint64_t a, b;
    atomic_int inside_w, inside_r;
    atomic_bool stop, broken;
    atomic_ulong reads, writes;
};

static void *reader(void *arg)
{
    struct shared *s = arg;

    while (!atomic_load(&s->stop)) {
        tr_brlock_rdlock(&s->lock);
        atomic_fetch_add(&s->inside_r, 1);
        if (s->a != s->b || atomic_load(&s->inside_w) != 0)
            atomic_store(&s->broken, true);
        atomic_fetch_sub(&s->inside_r, 1);
        tr_brlock_rdunlock(&s->lock);
        atomic_fetch_add(&s->reads, 1);
    }
    return NULL;
}

static void *writer(void *arg)
{
    struct shared *s = arg;

    while (!atomic_load(&s->stop)) {
        tr_brlock_wrlock(&s->lock);
        if (atomic_fetch_add(&s->inside_w, 1) != 0 || atomic_load(&s->inside_r) != 0)
            atomic_store(&s->broken, true);
        s->a++;
        for (volatile int i = 0; i < 50; i++) /* a window for a reader to see a != b */
            ;
        s->b++;
        atomic_fetch_sub(&s->inside_w, 1);
        tr_brlock_wrunlock(&s->lock);
        atomic_fetch_add(&s->writes, 1);
    }
    return NULL;
}

/* starve_ok: a reader-preferring lock may keep writers out while readers overlap */
static void run(struct shared *s, bool starve_ok)
{
    pthread_t r[READERS], w[WRITERS];
    struct timespec ts = {0, RUN_MS * 1000000L};

    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&r[i], NULL, reader, s), 0);
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&w[i], NULL, writer, s), 0);
    nanosleep(&ts, NULL);
    atomic_store(&s->stop, true);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(w[i], NULL);
    assert_false(atomic_load(&s->broken));
    assert_int_equal(s->a, s->b);
    assert_int_equal(s->a, atomic_load(&s->writes));
    assert_true(atomic_load(&s->reads) > 0);
    if (!starve_ok)
        assert_true(atomic_load(&s->writes) > 0); /* the writers were not starved */
}

static void test_brlock_excludes_writer_preferring(void **state)
{
    static struct shared s; /* aligned members: static storage honours their alignment */

    (void)state;
    memset(&s, 0, sizeof(s));
    assert_int_equal(tr_brlock_init(&s.lock, true), TR_OK);
    run(&s, false);
    tr_brlock_destroy(&s.lock);
}

static void test_brlock_excludes_static_initializer(void **state)
{
    static struct shared s = {.lock = TR_BRLOCK_INITIALIZER};

    (void)state;
    run(&s, true);
}

static void *slot_of(void *arg)
{
    *(unsigned *)arg = tr_brlock_slot();
    return NULL;
}

/* A thread keeps its slot; threads started one after the other get different slots until they
 * wrap around (so two readers on two cores touch two cache lines). */
static void test_brlock_slots_round_robin(void **state)
{
    unsigned got[TR_BRLOCK_SHARDS];
    unsigned mine = tr_brlock_slot();

    (void)state;
    assert_true(mine < TR_BRLOCK_SHARDS);
    assert_int_equal(tr_brlock_slot(), mine);
    for (int i = 0; i < TR_BRLOCK_SHARDS; i++) {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, slot_of, &got[i]), 0);
        pthread_join(t, NULL);
        assert_true(got[i] < TR_BRLOCK_SHARDS);
    }
    for (int i = 0; i < TR_BRLOCK_SHARDS; i++)
        for (int j = i + 1; j < TR_BRLOCK_SHARDS; j++)
            assert_int_not_equal(got[i], got[j]);
    assert_int_equal(_Alignof(struct tr_brlock), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_brlock_excludes_writer_preferring),
        cmocka_unit_test(test_brlock_excludes_static_initializer),
        cmocka_unit_test(test_brlock_slots_round_robin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
