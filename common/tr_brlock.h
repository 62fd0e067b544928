/*
 * tr_brlock - a reader-writer lock for read-mostly state on hot paths ("big-reader" lock).
 *
 * A pthread rwlock keeps its reader count in one cache line, so every read lock and unlock
 * bounces that line between the cores of concurrent readers even when no writer ever comes
 * (measured: 2 reader threads of store_get ran at 1.1x one thread). Here a reader takes one of
 * TR_BRLOCK_SHARDS rwlocks, the one of its thread, each on its own cache line; a writer takes
 * all of them in order. Reads get cheaper and scale; writes (seal, key rotation, one per storage
 * batch) cost TR_BRLOCK_SHARDS lock operations.
 *
 * Same rules as the rwlock underneath: a thread unlocks a read lock on the thread that took it
 * (the shard is the thread's); recursive read locks are allowed only with the reader-preferring
 * kind (a waiting writer blocks new readers of the writer-preferring kind, as pthread does).
 * Usage: struct tr_brlock l; tr_brlock_init(&l, true); tr_brlock_rdlock(&l); ...
 *        tr_brlock_rdunlock(&l); tr_brlock_wrlock(&l); ... tr_brlock_wrunlock(&l);
 * Static: struct tr_brlock l = TR_BRLOCK_INITIALIZER (reader-preferring, like
 * PTHREAD_RWLOCK_INITIALIZER).
 */
#ifndef TR_BRLOCK_H
#define TR_BRLOCK_H

#include <pthread.h>
#include <stdbool.h>

#include "tr_err.h"

#define TR_BRLOCK_SHARDS 8

struct tr_brlock {
    struct {
        pthread_rwlock_t rw;
    } __attribute__((aligned(64))) shard[TR_BRLOCK_SHARDS];
};

#define TR_BRLOCK_INITIALIZER                                                                      \
    {                                                                                              \
        .shard = { [0 ... TR_BRLOCK_SHARDS - 1] = {PTHREAD_RWLOCK_INITIALIZER} }                   \
    }

/* tr_brlock_init - prefer_writer: a waiting writer blocks new readers (no writer starvation
 * under a stream of readers; no recursive read locks). Errors: TR_E_NOMEM. */
TR_MUST_CHECK int tr_brlock_init(struct tr_brlock *l, bool prefer_writer);
void tr_brlock_destroy(struct tr_brlock *l);

/* The calling thread's shard, assigned round-robin at its first lock. */
unsigned tr_brlock_slot(void);

static inline void tr_brlock_rdlock(struct tr_brlock *l)
{
    pthread_rwlock_rdlock(&l->shard[tr_brlock_slot()].rw);
}

static inline void tr_brlock_rdunlock(struct tr_brlock *l)
{
    pthread_rwlock_unlock(&l->shard[tr_brlock_slot()].rw);
}

void tr_brlock_wrlock(struct tr_brlock *l);
void tr_brlock_wrunlock(struct tr_brlock *l);

#endif
