/* A fixed pool of threads for handlers that write: they may block on storage (store_write waits
 * for the group commit and the counter increment) and on the audit sync of their request line,
 * which a libevent worker must never do. The
 * pool is sized so dozens of writers can wait at once and the writer thread can batch them. */
#include "api_int.h"

#include <stdlib.h>

#include "../common/tr_log.h"

#define POOL_THREADS 64

struct job {
    struct api_call *c;
    void (*fn)(struct api_call *);
    struct job *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    pthread_t tid[POOL_THREADS];
    int started;
    bool stop;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *pool_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool.lock);
        while (!pool.head && !pool.stop)
            pthread_cond_wait(&pool.cond, &pool.lock);
        struct job *j = pool.head;
        if (j) {
            pool.head = j->next;
            if (!pool.head)
                pool.tail = NULL;
        }
        pthread_mutex_unlock(&pool.lock);
        if (!j)
            return NULL; /* stopping and the queue is empty */
        /* Nothing is changed for a request whose audit line could still be lost (else 503). */
        if (api_audit_request_wait(j->c))
            j->fn(j->c);
        free(j);
    }
}

int api_pool_start(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stop = false;
    while (pool.started < POOL_THREADS) {
        if (pthread_create(&pool.tid[pool.started], NULL, pool_main, NULL) != 0)
            break;
        pool.started++;
    }
    int rc = pool.started ? TR_OK : TR_E_NOMEM;
    pthread_mutex_unlock(&pool.lock);
    return rc;
}

void api_pool_stop(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stop = true;
    pthread_cond_broadcast(&pool.cond);
    int n = pool.started;
    pool.started = 0;
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < n; i++)
        pthread_join(pool.tid[i], NULL);
}

void api_defer(struct api_call *c, void (*fn)(struct api_call *))
{
    struct job *j = calloc(1, sizeof(*j));

    if (!j) {
        api_reply_error(c, 500, "internal error");
        return;
    }
    j->c = c;
    j->fn = fn;
    pthread_mutex_lock(&pool.lock);
    if (pool.tail)
        pool.tail->next = j;
    else
        pool.head = j;
    pool.tail = j;
    pthread_cond_signal(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
}
