#include "ratelimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define NIL              UINT32_MAX
#define MILLI            1000u
#define UNTOUCHED        UINT64_MAX
#define ELAPSED_MAX_MS   1000000000ull /* caps elapsed * rate far below 2^64 */
#define BUCKETS_PER_ITEM 2             /* load factor 0.5: chains stay short */

struct rl_entry {
    struct srv_rl_key key;
    uint64_t tokens[SRV_RL_NCLASS];  /* milli-tokens */
    uint64_t last_ms[SRV_RL_NCLASS]; /* UNTOUCHED: bucket is full and has never been used */
    uint32_t conns;
    uint32_t hnext;      /* hash chain */
    uint32_t prev, next; /* LRU list while unpinned; free list (next only) while unused */
};

struct srv_rl {
    pthread_mutex_t lock;
    struct srv_rl_opts opts;
    struct rl_entry *e;
    uint32_t *buckets;
    uint32_t mask;
    uint32_t lru_head, lru_tail; /* head: most recently used */
    uint32_t free_head;
    size_t used;
    unsigned char hkey[crypto_shorthash_KEYBYTES];
};

static bool opts_valid(const struct srv_rl_opts *o)
{
    if (o->capacity < SRV_RL_CAPACITY_MIN || o->capacity > SRV_RL_CAPACITY_MAX ||
        o->max_conns_per_key < 1)
        return false;
    for (int c = 0; c < SRV_RL_NCLASS; c++) {
        const struct srv_rl_rate *r = &o->rates[c];
        if (r->per_s < 1 || r->per_s > SRV_RL_RATE_MAX || r->burst < 1 ||
            r->burst > SRV_RL_RATE_MAX)
            return false;
    }
    return true;
}

int srv_rl_new(const struct srv_rl_opts *opts, struct srv_rl **out)
{
    struct srv_rl *rl = NULL;
    size_t nb = 1;
    int rc = TR_E_NOMEM;

    *out = NULL;
    if (!opts_valid(opts))
        return TR_E_INVAL;
    if (sodium_init() < 0) /* idempotent; the hash key comes from its RNG */
        return TR_E_INTERNAL;
    while (nb < opts->capacity * BUCKETS_PER_ITEM)
        nb <<= 1;
    if (!(rl = calloc(1, sizeof(*rl))))
        goto out;
    rl->opts = *opts;
    if (!(rl->e = calloc(opts->capacity, sizeof(*rl->e))) ||
        !(rl->buckets = malloc(nb * sizeof(*rl->buckets))))
        goto out;
    rl->mask = (uint32_t)(nb - 1);
    for (size_t i = 0; i < nb; i++)
        rl->buckets[i] = NIL;
    for (size_t i = 0; i < opts->capacity; i++)
        rl->e[i].next = i + 1 < opts->capacity ? (uint32_t)(i + 1) : NIL;
    rl->free_head = 0;
    rl->lru_head = rl->lru_tail = NIL;
    randombytes_buf(rl->hkey, sizeof(rl->hkey));
    pthread_mutex_init(&rl->lock, NULL);
    *out = rl;
    rl = NULL;
    rc = TR_OK;
out:
    if (rl) {
        free(rl->e);
        free(rl->buckets);
        free(rl);
    }
    return rc;
}

void srv_rl_free(struct srv_rl *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->e);
    free(rl->buckets);
    free(rl);
}

static uint32_t key_bucket(const struct srv_rl *rl, const struct srv_rl_key *k)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint32_t v;

    crypto_shorthash(h, k->b, sizeof(k->b), rl->hkey);
    memcpy(&v, h, sizeof(v));
    return v & rl->mask;
}

static uint32_t find(const struct srv_rl *rl, const struct srv_rl_key *k, uint32_t b)
{
    for (uint32_t i = rl->buckets[b]; i != NIL; i = rl->e[i].hnext)
        if (memcmp(rl->e[i].key.b, k->b, sizeof(k->b)) == 0) /* addresses: not secret */
            return i;
    return NIL;
}

static void lru_unlink(struct srv_rl *rl, uint32_t i)
{
    struct rl_entry *e = &rl->e[i];

    if (e->prev != NIL)
        rl->e[e->prev].next = e->next;
    else
        rl->lru_head = e->next;
    if (e->next != NIL)
        rl->e[e->next].prev = e->prev;
    else
        rl->lru_tail = e->prev;
    e->prev = e->next = NIL;
}

static void lru_push(struct srv_rl *rl, uint32_t i)
{
    struct rl_entry *e = &rl->e[i];

    e->prev = NIL;
    e->next = rl->lru_head;
    if (rl->lru_head != NIL)
        rl->e[rl->lru_head].prev = i;
    rl->lru_head = i;
    if (rl->lru_tail == NIL)
        rl->lru_tail = i;
}

static void chain_remove(struct srv_rl *rl, uint32_t i)
{
    uint32_t *link = &rl->buckets[key_bucket(rl, &rl->e[i].key)];

    while (*link != NIL && *link != i)
        link = &rl->e[*link].hnext;
    if (*link == i)
        *link = rl->e[i].hnext;
}

/* A free slot, else the least recently used unpinned entry; NIL when everything is pinned. */
static uint32_t slot_take(struct srv_rl *rl)
{
    uint32_t i = rl->free_head;

    if (i != NIL) {
        rl->free_head = rl->e[i].next;
        rl->used++;
        return i;
    }
    i = rl->lru_tail;
    if (i == NIL)
        return NIL;
    lru_unlink(rl, i);
    chain_remove(rl, i);
    return i;
}

/* The entry for k, created (and made most recent) if needed; NIL when the table is pinned full. */
static uint32_t lookup(struct srv_rl *rl, const struct srv_rl_key *k)
{
    uint32_t b = key_bucket(rl, k);
    uint32_t i = find(rl, k, b);

    if (i != NIL) {
        if (rl->e[i].conns == 0) {
            lru_unlink(rl, i);
            lru_push(rl, i);
        }
        return i;
    }
    if ((i = slot_take(rl)) == NIL)
        return NIL;
    struct rl_entry *e = &rl->e[i];
    memset(e, 0, sizeof(*e));
    e->key = *k;
    for (int c = 0; c < SRV_RL_NCLASS; c++)
        e->last_ms[c] = UNTOUCHED;
    e->hnext = rl->buckets[b];
    rl->buckets[b] = i;
    lru_push(rl, i);
    return i;
}

static int bucket_take(struct rl_entry *e, const struct srv_rl_rate *r, int c, uint64_t now_ms,
                       int *out_retry_s)
{
    uint64_t cap = (uint64_t)r->burst * MILLI;

    if (e->last_ms[c] == UNTOUCHED) {
        e->tokens[c] = cap;
    } else if (now_ms > e->last_ms[c]) {
        uint64_t elapsed = now_ms - e->last_ms[c];
        if (elapsed > ELAPSED_MAX_MS)
            elapsed = ELAPSED_MAX_MS;
        e->tokens[c] += elapsed * r->per_s; /* per_s tokens/s == per_s milli-tokens/ms */
        if (e->tokens[c] > cap)
            e->tokens[c] = cap;
    }
    if (e->last_ms[c] == UNTOUCHED || now_ms > e->last_ms[c])
        e->last_ms[c] = now_ms;
    if (e->tokens[c] >= MILLI) {
        e->tokens[c] -= MILLI;
        return TR_OK;
    }
    uint64_t wait_ms = (MILLI - e->tokens[c] + r->per_s - 1) / r->per_s;
    uint64_t wait_s = (wait_ms + 999) / 1000;
    *out_retry_s = wait_s < 1 ? 1 : (int)wait_s;
    return TR_E_LIMIT;
}

int srv_rl_take(struct srv_rl *rl, const struct srv_rl_key *key, enum srv_rl_class cls,
                uint64_t now_ms, int *out_retry_s)
{
    int rc = TR_E_LIMIT;
    uint32_t i;

    if ((unsigned)cls >= SRV_RL_NCLASS)
        return TR_E_INVAL;
    pthread_mutex_lock(&rl->lock);
    if ((i = lookup(rl, key)) == NIL) {
        *out_retry_s = 1; /* every entry pinned: fail closed */
        goto out;
    }
    rc = bucket_take(&rl->e[i], &rl->opts.rates[cls], cls, now_ms, out_retry_s);
out:
    pthread_mutex_unlock(&rl->lock);
    return rc;
}

int srv_rl_conn_add(struct srv_rl *rl, const struct srv_rl_key *key)
{
    int rc = TR_E_LIMIT;
    uint32_t i;

    pthread_mutex_lock(&rl->lock);
    if ((i = lookup(rl, key)) == NIL)
        goto out;
    struct rl_entry *e = &rl->e[i];
    if (e->conns >= rl->opts.max_conns_per_key)
        goto out;
    if (e->conns++ == 0)
        lru_unlink(rl, i); /* pinned: never recycled while it has connections */
    rc = TR_OK;
out:
    pthread_mutex_unlock(&rl->lock);
    return rc;
}

void srv_rl_conn_del(struct srv_rl *rl, const struct srv_rl_key *key)
{
    uint32_t i;

    pthread_mutex_lock(&rl->lock);
    i = find(rl, key, key_bucket(rl, key));
    if (i != NIL && rl->e[i].conns > 0 && --rl->e[i].conns == 0)
        lru_push(rl, i);
    pthread_mutex_unlock(&rl->lock);
}

uint32_t srv_rl_conns(struct srv_rl *rl, const struct srv_rl_key *key)
{
    uint32_t i, n = 0;

    pthread_mutex_lock(&rl->lock);
    i = find(rl, key, key_bucket(rl, key));
    if (i != NIL)
        n = rl->e[i].conns;
    pthread_mutex_unlock(&rl->lock);
    return n;
}

size_t srv_rl_used(struct srv_rl *rl)
{
    size_t n;

    pthread_mutex_lock(&rl->lock);
    n = rl->used;
    pthread_mutex_unlock(&rl->lock);
    return n;
}

int srv_rl_key_from_addr(const struct sockaddr *sa, socklen_t len, struct srv_rl_key *out)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(out->b, v4mapped, sizeof(v4mapped));
        memcpy(out->b + 12, &in->sin_addr, 4);
        return TR_OK;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (memcmp(in6->sin6_addr.s6_addr, v4mapped, sizeof(v4mapped)) == 0)
            memcpy(out->b, in6->sin6_addr.s6_addr, 16);
        else
            memcpy(out->b, in6->sin6_addr.s6_addr, 8); /* the /64 */
        return TR_OK;
    }
    return TR_E_INVAL;
}
