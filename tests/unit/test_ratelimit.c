/* Unit tests for the per-client limiter table (server/ratelimit.c): token buckets, connection
 * counts, LRU recycling and its bound. Random operation sequences come from a seed printed at
 * start (TR_TEST_SEED). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "../../server/ratelimit.h"

static struct srv_rl_opts opts(size_t cap, uint32_t per_s, uint32_t burst, uint32_t conns)
{
    struct srv_rl_opts o = {
        .capacity = cap,
        .rates = {[SRV_RL_LOGIN] = {per_s, burst}, [SRV_RL_UNSEAL] = {per_s * 2, burst * 2}},
        .max_conns_per_key = conns,
    };
    return o;
}

static struct srv_rl_key key_n(uint32_t n)
{
    struct srv_rl_key k;

    memset(&k, 0, sizeof(k));
    k.b[10] = k.b[11] = 0xff;
    memcpy(k.b + 12, &n, sizeof(n));
    return k;
}

static struct srv_rl *rl_new(const struct srv_rl_opts *o)
{
    struct srv_rl *rl = NULL;

    assert_int_equal(srv_rl_new(o, &rl), TR_OK);
    assert_non_null(rl);
    return rl;
}

static void test_ratelimit_new_bad_opts(void **state)
{
    struct srv_rl *rl = (struct srv_rl *)1;
    struct srv_rl_opts o;
    (void)state;

    o = opts(SRV_RL_CAPACITY_MIN - 1, 1, 1, 1);
    assert_int_equal(srv_rl_new(&o, &rl), TR_E_INVAL);
    assert_null(rl);
    o = opts(SRV_RL_CAPACITY_MAX + 1, 1, 1, 1);
    assert_int_equal(srv_rl_new(&o, &rl), TR_E_INVAL);
    o = opts(64, 0, 1, 1);
    assert_int_equal(srv_rl_new(&o, &rl), TR_E_INVAL);
    o = opts(64, 1, 0, 1);
    assert_int_equal(srv_rl_new(&o, &rl), TR_E_INVAL);
    o = opts(64, SRV_RL_RATE_MAX + 1, 1, 1);
    assert_int_equal(srv_rl_new(&o, &rl), TR_E_INVAL);
    o = opts(64, 1, 1, 0);
    assert_int_equal(srv_rl_new(&o, &rl), TR_E_INVAL);
    srv_rl_free(NULL);
}

static void test_ratelimit_take_burst_then_refill(void **state)
{
    struct srv_rl_opts o = opts(64, 2, 3, 1);
    struct srv_rl *rl = rl_new(&o);
    struct srv_rl_key k = key_n(1);
    int retry = -1;
    (void)state;

    for (int i = 0; i < 3; i++)
        assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 1000, &retry), TR_OK);
    assert_int_equal(retry, -1); /* untouched on success */
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 1000, &retry), TR_E_LIMIT);
    assert_int_equal(retry, 1);
    /* 2 tokens/s: one token after 500 ms, not before */
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 1499, &retry), TR_E_LIMIT);
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 1500, &retry), TR_OK);
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 1500, &retry), TR_E_LIMIT);
    /* a long pause refills to the burst, never beyond */
    for (int i = 0; i < 3; i++)
        assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 10000000, &retry), TR_OK);
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 10000000, &retry), TR_E_LIMIT);
    /* a clock going backwards adds nothing and breaks nothing */
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 5, &retry), TR_E_LIMIT);
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 10000500, &retry), TR_OK);
    srv_rl_free(rl);
}

static void test_ratelimit_take_retry_after(void **state)
{
    struct srv_rl_opts o = opts(64, 1, 1, 1);
    struct srv_rl *rl = rl_new(&o);
    struct srv_rl_key k = key_n(7);
    int retry = 0;
    (void)state;

    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 0, &retry), TR_OK);
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 1, &retry), TR_E_LIMIT);
    assert_int_equal(retry, 1); /* 999 ms rounds up to a whole second */
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 1000, &retry), TR_OK);
    assert_int_equal(srv_rl_take(rl, &k, SRV_RL_NCLASS, 0, &retry), TR_E_INVAL);
    srv_rl_free(rl);
}

static void test_ratelimit_take_classes_and_keys_independent(void **state)
{
    struct srv_rl_opts o = opts(64, 1, 1, 1);
    struct srv_rl *rl = rl_new(&o);
    struct srv_rl_key a = key_n(1), b = key_n(2);
    int retry = 0;
    (void)state;

    assert_int_equal(srv_rl_take(rl, &a, SRV_RL_LOGIN, 0, &retry), TR_OK);
    assert_int_equal(srv_rl_take(rl, &a, SRV_RL_LOGIN, 0, &retry), TR_E_LIMIT);
    assert_int_equal(srv_rl_take(rl, &a, SRV_RL_UNSEAL, 0, &retry), TR_OK); /* burst 2 */
    assert_int_equal(srv_rl_take(rl, &a, SRV_RL_UNSEAL, 0, &retry), TR_OK);
    assert_int_equal(srv_rl_take(rl, &a, SRV_RL_UNSEAL, 0, &retry), TR_E_LIMIT);
    assert_int_equal(srv_rl_take(rl, &b, SRV_RL_LOGIN, 0, &retry), TR_OK);
    srv_rl_free(rl);
}

static void test_ratelimit_conn_add_cap(void **state)
{
    struct srv_rl_opts o = opts(64, 1, 1, 2);
    struct srv_rl *rl = rl_new(&o);
    struct srv_rl_key a = key_n(1), b = key_n(2);
    (void)state;

    assert_int_equal(srv_rl_conn_add(rl, &a), TR_OK);
    assert_int_equal(srv_rl_conn_add(rl, &a), TR_OK);
    assert_int_equal(srv_rl_conn_add(rl, &a), TR_E_LIMIT);
    assert_int_equal(srv_rl_conns(rl, &a), 2);
    assert_int_equal(srv_rl_conn_add(rl, &b), TR_OK);
    srv_rl_conn_del(rl, &a);
    assert_int_equal(srv_rl_conns(rl, &a), 1);
    assert_int_equal(srv_rl_conn_add(rl, &a), TR_OK);
    srv_rl_conn_del(rl, &a);
    srv_rl_conn_del(rl, &a);
    srv_rl_conn_del(rl, &a); /* one too many: ignored */
    assert_int_equal(srv_rl_conns(rl, &a), 0);
    srv_rl_conn_del(rl, &b);
    struct srv_rl_key unknown = key_n(99);
    srv_rl_conn_del(rl, &unknown);
    assert_int_equal(srv_rl_conns(rl, &unknown), 0);
    srv_rl_free(rl);
}

/* The least recently used unpinned entry is the one recycled; a recycled client starts full. */
static void test_ratelimit_lru_evicts_oldest(void **state)
{
    struct srv_rl_opts o = opts(64, 1, 1, 4);
    struct srv_rl *rl = rl_new(&o);
    int retry = 0;
    (void)state;

    for (uint32_t i = 0; i < 64; i++) {
        struct srv_rl_key k = key_n(i);
        assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, 0, &retry), TR_OK);
    }
    assert_int_equal(srv_rl_used(rl), 64);
    struct srv_rl_key k0 = key_n(0), k1 = key_n(1), k2 = key_n(2), fresh = key_n(1000);
    /* touch 0 so that 1 is now the oldest */
    assert_int_equal(srv_rl_take(rl, &k0, SRV_RL_LOGIN, 0, &retry), TR_E_LIMIT);
    assert_int_equal(srv_rl_take(rl, &fresh, SRV_RL_LOGIN, 0, &retry), TR_OK);
    assert_int_equal(srv_rl_used(rl), 64);
    assert_int_equal(srv_rl_take(rl, &k0, SRV_RL_LOGIN, 0, &retry), TR_E_LIMIT); /* kept */
    assert_int_equal(srv_rl_take(rl, &k2, SRV_RL_LOGIN, 0, &retry), TR_E_LIMIT); /* kept */
    /* k1 was recycled (evicting the next oldest, k3, to come back) and starts full */
    assert_int_equal(srv_rl_take(rl, &k1, SRV_RL_LOGIN, 0, &retry), TR_OK);
    srv_rl_free(rl);
}

/* Entries with live connections are never recycled; when all are pinned, new clients fail
 * closed rather than growing the table. */
static void test_ratelimit_pinned_entries_stay(void **state)
{
    struct srv_rl_opts o = opts(64, 1, 1, 1);
    struct srv_rl *rl = rl_new(&o);
    struct srv_rl_key extra = key_n(500), k5 = key_n(5);
    int retry = 0;
    (void)state;

    for (uint32_t i = 0; i < 64; i++) {
        struct srv_rl_key k = key_n(i);
        assert_int_equal(srv_rl_conn_add(rl, &k), TR_OK);
    }
    assert_int_equal(srv_rl_take(rl, &extra, SRV_RL_LOGIN, 0, &retry), TR_E_LIMIT);
    assert_int_equal(retry, 1);
    assert_int_equal(srv_rl_conn_add(rl, &extra), TR_E_LIMIT);
    for (uint32_t i = 0; i < 64; i++) {
        struct srv_rl_key k = key_n(i);
        assert_int_equal(srv_rl_conns(rl, &k), 1);
    }
    srv_rl_conn_del(rl, &k5);
    assert_int_equal(srv_rl_conn_add(rl, &extra), TR_OK);
    assert_int_equal(srv_rl_conns(rl, &k5), 0); /* recycled for extra */
    srv_rl_free(rl);
}

static void test_ratelimit_table_bounded(void **state)
{
    struct srv_rl_opts o = opts(256, 5, 10, 64);
    struct srv_rl *rl = rl_new(&o);
    int retry = 0;
    (void)state;

    for (uint32_t i = 0; i < 200000; i++) {
        struct srv_rl_key k = key_n(i * 2654435761u);
        assert_int_equal(srv_rl_take(rl, &k, SRV_RL_LOGIN, i, &retry), TR_OK);
    }
    assert_int_equal(srv_rl_used(rl), 256);
    srv_rl_free(rl);
}

static void test_ratelimit_key_from_addr(void **state)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(1)};
    struct sockaddr_in v4b = {.sin_family = AF_INET, .sin_port = htons(2)};
    struct sockaddr_in6 m6 = {.sin6_family = AF_INET6}, a6 = {.sin6_family = AF_INET6},
                        b6 = {.sin6_family = AF_INET6}, c6 = {.sin6_family = AF_INET6};
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    struct srv_rl_key k1, k2;
    (void)state;

    inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr);
    inet_pton(AF_INET, "192.0.2.7", &v4b.sin_addr);
    inet_pton(AF_INET6, "::ffff:192.0.2.7", &m6.sin6_addr);
    inet_pton(AF_INET6, "2001:db8:1:2:aaaa::1", &a6.sin6_addr);
    inet_pton(AF_INET6, "2001:db8:1:2:bbbb::9", &b6.sin6_addr);
    inet_pton(AF_INET6, "2001:db8:1:3::1", &c6.sin6_addr);

    assert_int_equal(srv_rl_key_from_addr((struct sockaddr *)&v4, sizeof(v4), &k1), TR_OK);
    assert_int_equal(srv_rl_key_from_addr((struct sockaddr *)&v4b, sizeof(v4b), &k2), TR_OK);
    assert_memory_equal(k1.b, k2.b, sizeof(k1.b)); /* the port does not matter */
    assert_int_equal(srv_rl_key_from_addr((struct sockaddr *)&m6, sizeof(m6), &k2), TR_OK);
    assert_memory_equal(k1.b, k2.b, sizeof(k1.b)); /* v4-mapped is the same client */
    assert_int_equal(srv_rl_key_from_addr((struct sockaddr *)&a6, sizeof(a6), &k1), TR_OK);
    assert_int_equal(srv_rl_key_from_addr((struct sockaddr *)&b6, sizeof(b6), &k2), TR_OK);
    assert_memory_equal(k1.b, k2.b, sizeof(k1.b)); /* same /64 */
    assert_int_equal(srv_rl_key_from_addr((struct sockaddr *)&c6, sizeof(c6), &k2), TR_OK);
    assert_memory_not_equal(k1.b, k2.b, sizeof(k1.b));
    assert_int_equal(srv_rl_key_from_addr((struct sockaddr *)&un, sizeof(un), &k1), TR_E_INVAL);
    assert_int_equal(srv_rl_key_from_addr((struct sockaddr *)&v4, 4, &k1), TR_E_INVAL);
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
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

/* Random add/del/take against a model of live connections: counts never drift and pinned
 * clients are never forgotten, whatever the recycling does. */
static void test_ratelimit_random_ops_match_model(void **state)
{
    enum { NKEYS = 300, CAP = 64, MAXC = 3 };
    struct srv_rl_opts o = opts(CAP, 3, 4, MAXC);
    struct srv_rl *rl = rl_new(&o);
    uint32_t model[NKEYS] = {0}, pinned = 0;
    int retry = 0;
    (void)state;

    rng_state = test_seed();
    printf("test_ratelimit: seed TR_TEST_SEED=%llu\n", (unsigned long long)rng_state);
    for (uint64_t t = 0; t < 20000; t++) {
        uint32_t n = (uint32_t)(rng_next() % NKEYS);
        struct srv_rl_key k = key_n(n);
        switch (rng_next() % 3) {
        case 0: {
            int rc = srv_rl_conn_add(rl, &k);
            bool room = model[n] > 0 || pinned < CAP;
            if (model[n] < MAXC && room) {
                assert_int_equal(rc, TR_OK);
                pinned += model[n]++ == 0;
            } else {
                assert_int_equal(rc, TR_E_LIMIT);
            }
            break;
        }
        case 1:
            if (model[n] > 0) {
                srv_rl_conn_del(rl, &k);
                pinned -= --model[n] == 0;
            }
            break;
        default: {
            int rc = srv_rl_take(rl, &k, SRV_RL_LOGIN, t * 7, &retry);
            if (model[n] == 0 && pinned == CAP)
                assert_int_equal(rc, TR_E_LIMIT);
            break;
        }
        }
        assert_int_equal(srv_rl_conns(rl, &k), model[n]);
        assert_true(srv_rl_used(rl) <= CAP);
    }
    for (uint32_t n = 0; n < NKEYS; n++) {
        struct srv_rl_key k = key_n(n);
        assert_int_equal(srv_rl_conns(rl, &k), model[n]);
    }
    srv_rl_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_new_bad_opts),
        cmocka_unit_test(test_ratelimit_take_burst_then_refill),
        cmocka_unit_test(test_ratelimit_take_retry_after),
        cmocka_unit_test(test_ratelimit_take_classes_and_keys_independent),
        cmocka_unit_test(test_ratelimit_conn_add_cap),
        cmocka_unit_test(test_ratelimit_lru_evicts_oldest),
        cmocka_unit_test(test_ratelimit_pinned_entries_stay),
        cmocka_unit_test(test_ratelimit_table_bounded),
        cmocka_unit_test(test_ratelimit_key_from_addr),
        cmocka_unit_test(test_ratelimit_random_ops_match_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
