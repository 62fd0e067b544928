#include "tr_brlock.h"

#include <stdatomic.h>

/* UINT_MAX-free encoding: 0 means "not assigned yet", so the thread-local needs no initialiser
 * beyond zero (cheap TLS access). */
static _Thread_local unsigned slot_plus1;
static atomic_uint next_slot;

unsigned tr_brlock_slot(void)
{
    if (__builtin_expect(slot_plus1 == 0, 0))
        slot_plus1 =
            atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) % TR_BRLOCK_SHARDS + 1;
    return slot_plus1 - 1;
}

int tr_brlock_init(struct tr_brlock *l, bool prefer_writer)
{
    pthread_rwlockattr_t ra;
    int i, rc = TR_E_NOMEM;

    if (pthread_rwlockattr_init(&ra) != 0)
        return TR_E_NOMEM;
    if (prefer_writer)
        pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    for (i = 0; i < TR_BRLOCK_SHARDS; i++)
        if (pthread_rwlock_init(&l->shard[i].rw, &ra) != 0)
            goto out;
    rc = TR_OK;
out:
    if (rc != TR_OK)
        while (i-- > 0)
            pthread_rwlock_destroy(&l->shard[i].rw);
    pthread_rwlockattr_destroy(&ra);
    return rc;
}

void tr_brlock_destroy(struct tr_brlock *l)
{
    for (int i = 0; i < TR_BRLOCK_SHARDS; i++)
        pthread_rwlock_destroy(&l->shard[i].rw);
}

/* In shard order, so two writers cannot deadlock; a reader holds one shard only. */
void tr_brlock_wrlock(struct tr_brlock *l)
{
    for (int i = 0; i < TR_BRLOCK_SHARDS; i++)
        pthread_rwlock_wrlock(&l->shard[i].rw);
}

void tr_brlock_wrunlock(struct tr_brlock *l)
{
    for (int i = TR_BRLOCK_SHARDS - 1; i >= 0; i--)
        pthread_rwlock_unlock(&l->shard[i].rw);
}
