/* Unit tests for the API's cache of parsed documents (api/api_cache.c): a lookup answers only
 * for the exact record version, older versions never displace newer ones, the budget and the
 * slots bound it, clear and free drop every reference, and concurrent users never see another
 * key's or version's value nor leak one. Random sequences come from a seed printed at start
 * (TR_TEST_SEED). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>

#include "../../api/api_cache.h"

/* A value that knows what it was made from and how many references it has. */
struct val {
    atomic_int refs;
    char key[32];
    uint64_t version;
};

static atomic_int live; /* values not yet released */

static void val_ref(void *v)
{
    atomic_fetch_add(&((struct val *)v)->refs, 1);
}

static void val_unref(void *v)
{
    struct val *x = v;
    int before = atomic_fetch_sub(&x->refs, 1);
    assert_true(before >= 1);
    if (before == 1) {
        free(x);
        atomic_fetch_sub(&live, 1);
    }
}

static const struct api_cache_kind kind_a = {"a", val_ref, val_unref};
static const struct api_cache_kind kind_b = {"b", val_ref, val_unref};

static struct val *val_new(const char *key, uint64_t version)
{
    struct val *v = calloc(1, sizeof(*v));

    assert_non_null(v);
    atomic_init(&v->refs, 1);
    snprintf(v->key, sizeof(v->key), "%s", key);
    v->version = version;
    atomic_fetch_add(&live, 1);
    return v;
}

static struct api_cache *cache_new(size_t slots, size_t budget)
{
    struct api_cache *c = NULL;

    assert_int_equal(api_cache_new(slots, budget, &c), TR_OK);
    assert_non_null(c);
    return c;
}

static uint64_t entries(struct api_cache *c)
{
    struct api_cache_stats s;

    api_cache_stats_get(c, &s);
    return s.entries;
}

static void test_api_cache_new_bad_args(void **state)
{
    struct api_cache *c = (struct api_cache *)1;
    (void)state;

    assert_int_equal(api_cache_new(0, 100, &c), TR_E_INVAL);
    assert_null(c);
    c = (struct api_cache *)1;
    assert_int_equal(api_cache_new(64, 0, &c), TR_E_INVAL);
    assert_null(c);
    api_cache_free(NULL);
    api_cache_clear(NULL);
}

static void test_api_cache_get_exact_version_only(void **state)
{
    struct api_cache *c = cache_new(64, 1 << 20);
    struct val *v = val_new("tok", 7);
    (void)state;

    assert_null(api_cache_get(c, &kind_a, "tok", 3, 7)); /* empty */
    api_cache_put(c, &kind_a, "tok", 3, 7, v, 10);
    assert_int_equal(atomic_load(&v->refs), 2); /* the caller's and the cache's */
    struct val *got = api_cache_get(c, &kind_a, "tok", 3, 7);
    assert_ptr_equal(got, v);
    assert_int_equal(atomic_load(&v->refs), 3);
    val_unref(got);
    assert_null(api_cache_get(c, &kind_b, "tok", 3, 7)); /* another kind */
    assert_null(api_cache_get(c, &kind_a, "to", 2, 7));  /* another key */
    assert_null(api_cache_get(c, &kind_a, "tok", 3, 6)); /* older: kept */
    assert_int_equal(entries(c), 1);
    assert_null(api_cache_get(c, &kind_a, "tok", 3, 8)); /* newer: the old entry is dropped */
    assert_int_equal(entries(c), 0);
    assert_int_equal(atomic_load(&v->refs), 1);
    api_cache_put(c, &kind_a, "tok", 3, 9, v, 10);
    api_cache_drop(c, &kind_b, "tok", 3); /* another kind: kept */
    assert_int_equal(entries(c), 1);
    api_cache_drop(c, &kind_a, "tok", 3); /* deleted key: gone at any version */
    assert_int_equal(entries(c), 0);
    assert_null(api_cache_get(c, &kind_a, "tok", 3, 9));
    assert_int_equal(atomic_load(&v->refs), 1);
    api_cache_drop(NULL, &kind_a, "tok", 3);
    val_unref(v);
    api_cache_free(c);
    assert_int_equal(atomic_load(&live), 0);
}

static void test_api_cache_put_never_goes_back(void **state)
{
    struct api_cache *c = cache_new(64, 1 << 20);
    struct val *v5 = val_new("k", 5), *v3 = val_new("k", 3), *v9 = val_new("k", 9);
    (void)state;

    api_cache_put(c, &kind_a, "k", 1, 5, v5, 10);
    api_cache_put(c, &kind_a, "k", 1, 3, v3, 10); /* a slow reader's older load */
    assert_int_equal(atomic_load(&v3->refs), 1);
    struct val *got = api_cache_get(c, &kind_a, "k", 1, 5);
    assert_ptr_equal(got, v5);
    val_unref(got);
    api_cache_put(c, &kind_a, "k", 1, 5, v3, 10); /* same version again: first one stays */
    assert_int_equal(atomic_load(&v3->refs), 1);
    api_cache_put(c, &kind_a, "k", 1, 9, v9, 10);
    assert_int_equal(atomic_load(&v5->refs), 1); /* replaced and released */
    assert_null(api_cache_get(c, &kind_a, "k", 1, 5));
    got = api_cache_get(c, &kind_a, "k", 1, 9);
    assert_ptr_equal(got, v9);
    val_unref(got);
    val_unref(v5);
    val_unref(v3);
    val_unref(v9);
    api_cache_free(c);
    assert_int_equal(atomic_load(&live), 0);
}

static void test_api_cache_budget_and_limits(void **state)
{
    struct api_cache *c = cache_new(64, 100);
    struct val *big = val_new("big", 1), *a = val_new("a", 1), *b = val_new("b", 1);
    char longkey[API_CACHE_KEY_MAX + 1];
    struct api_cache_stats s;
    (void)state;

    api_cache_put(c, &kind_a, "big", 3, 1, big, 101); /* over the whole budget */
    assert_null(api_cache_get(c, &kind_a, "big", 3, 1));
    api_cache_put(c, &kind_a, "a", 1, 1, a, 60);
    api_cache_put(c, &kind_a, "b", 1, 1, b, 60); /* would exceed it (unless it evicts a) */
    api_cache_stats_get(c, &s);
    assert_true(s.cost <= 100);
    assert_true(s.entries >= 1);
    memset(longkey, 'x', sizeof(longkey));
    api_cache_put(c, &kind_a, longkey, sizeof(longkey), 1, big, 1);
    assert_null(api_cache_get(c, &kind_a, longkey, sizeof(longkey), 1));
    assert_null(api_cache_get(c, &kind_a, "", 0, 1));
    assert_null(api_cache_get(NULL, &kind_a, "a", 1, 1));
    api_cache_put(NULL, &kind_a, "a", 1, 1, a, 1);
    api_cache_stats_get(NULL, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(atomic_load(&big->refs), 1);
    val_unref(big);
    val_unref(a);
    val_unref(b);
    api_cache_free(c);
    assert_int_equal(atomic_load(&live), 0);
}

/* More keys than slots: collisions evict, the count stays bounded, and clear drops all. */
static void test_api_cache_slots_bound_and_clear(void **state)
{
    struct api_cache *c = cache_new(64, 1 << 20);
    struct api_cache_stats s;
    (void)state;

    for (int i = 0; i < 1000; i++) {
        char k[32];
        int n = snprintf(k, sizeof(k), "key-%d", i);
        struct val *v = val_new(k, 1);
        api_cache_put(c, &kind_a, k, (size_t)n, 1, v, 1);
        val_unref(v);
    }
    api_cache_stats_get(c, &s);
    assert_true(s.entries > 0 && s.entries <= 64);
    assert_int_equal(atomic_load(&live), (int)s.entries);
    api_cache_clear(c);
    api_cache_stats_get(c, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.cost, 0);
    assert_int_equal(s.clears, 1);
    assert_int_equal(atomic_load(&live), 0);
    api_cache_free(c);
}

static uint64_t test_seed(void)
{
    const char *env = getenv("TR_TEST_SEED");
    uint64_t seed;

    if (env && *env) {
        char *end = NULL;
        seed = strtoull(env, &end, 0);
        if (end && *end == '\0' && seed)
            return seed;
    }
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return seed ? seed : 1;
}

struct worker {
    struct api_cache *c;
    uint64_t rng;
    _Atomic uint64_t *current; /* per key: the newest version any thread has put */
    int bad;
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

enum { HAMMER_KEYS = 40, HAMMER_OPS = 20000 };

static void *hammer(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < HAMMER_OPS; i++) {
        unsigned n = (unsigned)(rng_next(&w->rng) % HAMMER_KEYS);
        char k[16];
        int kl = snprintf(k, sizeof(k), "k%u", n);
        uint64_t r = rng_next(&w->rng) % 8;
        if (r == 0) {
            /* a writer: a newer version of the key appears */
            uint64_t ver = atomic_fetch_add(&w->current[n], 1) + 1;
            struct val *v = val_new(k, ver);
            api_cache_put(w->c, &kind_a, k, (size_t)kl, ver, v, 8);
            val_unref(v);
        } else if (r == 1) {
            /* a reader that loaded an older version late */
            uint64_t cur = atomic_load(&w->current[n]);
            struct val *v = val_new(k, cur > 2 ? cur - 2 : 1);
            api_cache_put(w->c, &kind_a, k, (size_t)kl, v->version, v, 8);
            val_unref(v);
        } else {
            uint64_t ver = atomic_load(&w->current[n]);
            struct val *v = api_cache_get(w->c, &kind_a, k, (size_t)kl, ver);
            if (v && (v->version != ver || strcmp(v->key, k) != 0))
                w->bad++;
            if (v)
                val_unref(v);
        }
        if (i % 5000 == 4999 && w->rng % 4 == 0)
            api_cache_clear(w->c);
    }
    return NULL;
}

static void test_api_cache_concurrent_users(void **state)
{
    enum { THREADS = 4 };
    struct api_cache *c = cache_new(64, 200);
    _Atomic uint64_t current[HAMMER_KEYS];
    struct worker w[THREADS];
    pthread_t tid[THREADS];
    uint64_t seed = test_seed();
    (void)state;

    printf("test_api_cache: seed TR_TEST_SEED=%llu\n", (unsigned long long)seed);
    for (int i = 0; i < HAMMER_KEYS; i++)
        atomic_init(&current[i], 1);
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){c, seed + (uint64_t)t * 0x9e3779b97f4a7c15u, current, 0};
        assert_int_equal(pthread_create(&tid[t], NULL, hammer, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
        assert_int_equal(w[t].bad, 0);
    }
    struct api_cache_stats s;
    api_cache_stats_get(c, &s);
    assert_true(s.cost <= 200 + 8 * THREADS); /* the budget check races only by one put each */
    assert_int_equal(atomic_load(&live), (int)s.entries);
    api_cache_free(c);
    assert_int_equal(atomic_load(&live), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_cache_new_bad_args),
        cmocka_unit_test(test_api_cache_get_exact_version_only),
        cmocka_unit_test(test_api_cache_put_never_goes_back),
        cmocka_unit_test(test_api_cache_budget_and_limits),
        cmocka_unit_test(test_api_cache_slots_bound_and_clear),
        cmocka_unit_test(test_api_cache_concurrent_users),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
