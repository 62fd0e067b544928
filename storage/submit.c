/*
 * submit.c - the public write entry points: validate and copy a request, queue it for the
 * writer thread (writer.c), and the blocking wrappers used by tests and tools.
 *
 * The queue is the only thing a caller's thread touches: store_write_async never waits for
 * I/O, the counter or the writer, so a libevent thread may call it.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- public: submit --------------------------------------------------------------------------- */

static int ops_check(const struct store_op *ops, size_t n, size_t *out_extra)
{
    size_t extra = 0, tl = 0;

    if (!ops || n == 0 || n > STORE_OPS_MAX)
        return TR_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        const struct store_op *o = &ops[i];
        if ((o->kind != STORE_OP_PUT && o->kind != STORE_OP_DEL) ||
            !store_table_name_ok(o->table, &tl) || !o->key || o->key_len == 0 ||
            o->key_len > STORE_KEY_MAX)
            return TR_E_INVAL;
        if (o->kind == STORE_OP_PUT && o->val_len > STORE_VALUE_MAX)
            return TR_E_TOO_LARGE;
        if (o->kind == STORE_OP_PUT && !o->val && o->val_len)
            return TR_E_INVAL;
        extra += tl + 1 + o->key_len; /* n <= 1024: no overflow */
    }
    *out_extra = extra;
    return TR_OK;
}

static int enqueue(struct store *st, struct store_req *r)
{
    int rc = TR_OK;

    pthread_mutex_lock(&st->q_mu);
    if (st->stopping || !st->writer_started)
        rc = TR_E_STATE;
    else if ((rc = atomic_load(&st->fail_rc)) == TR_OK) {
        if (st->q_tail)
            st->q_tail->next = r;
        else
            st->q_head = r;
        st->q_tail = r;
        pthread_cond_signal(&st->q_cond);
    }
    pthread_mutex_unlock(&st->q_mu);
    return rc;
}

int store_write_async(struct store *st, const struct store_op *ops, size_t n, store_write_cb cb,
                      void *arg)
{
    struct store_req *r = NULL;
    size_t extra = 0;
    char *p;
    int rc;

    if (!st || !cb)
        return TR_E_INVAL;
    if ((rc = ops_check(ops, n, &extra)) != TR_OK)
        return rc;
    r = calloc(1, sizeof(*r) + n * sizeof(struct store_op) + extra);
    if (!r)
        return TR_E_NOMEM;
    r->kind = STORE_REQ_WRITE;
    r->nops = n;
    r->ops = (struct store_op *)(r + 1);
    r->cb = cb;
    r->arg = arg;
    p = (char *)(r->ops + n);
    for (size_t i = 0; i < n; i++) {
        size_t tl = strlen(ops[i].table);
        r->ops[i] = ops[i];
        memcpy(p, ops[i].table, tl + 1);
        r->ops[i].table = p;
        p += tl + 1;
        memcpy(p, ops[i].key, ops[i].key_len);
        r->ops[i].key = (const uint8_t *)p;
        p += ops[i].key_len;
        if (r->ops[i].kind == STORE_OP_DEL) {
            r->ops[i].val = NULL;
            r->ops[i].val_len = 0;
        }
    }
    if ((rc = enqueue(st, r)) != TR_OK)
        free(r);
    return rc;
}

struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    struct store_result res;
};

static void sync_cb(void *arg, const struct store_result *res)
{
    struct sync_wait *w = arg;

    pthread_mutex_lock(&w->mu);
    w->res = *res;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Submit a write (ops) or, with ops NULL, a rotate request, and wait for its callback. */
static int sync_wait_run(struct store *st, const struct store_op *ops, size_t n,
                         struct store_result *out_res)
{
    struct sync_wait w;
    struct store_req *r = NULL;
    int rc;

    if (!st)
        return TR_E_INVAL;
    if (st->writer_started && pthread_equal(pthread_self(), st->writer))
        return TR_E_STATE; /* a callback waiting for its own thread would never return */
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    if (ops) {
        rc = store_write_async(st, ops, n, sync_cb, &w);
    } else if (!(r = calloc(1, sizeof(*r)))) {
        rc = TR_E_NOMEM;
    } else {
        r->kind = STORE_REQ_ROTATE;
        r->cb = sync_cb;
        r->arg = &w;
        if ((rc = enqueue(st, r)) != TR_OK)
            free(r);
    }
    if (rc == TR_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = w.res.rc;
        if (out_res)
            *out_res = w.res;
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

int store_write(struct store *st, const struct store_op *ops, size_t n,
                struct store_result *out_res)
{
    if (!ops)
        return TR_E_INVAL;
    return sync_wait_run(st, ops, n, out_res);
}

int store_put(struct store *st, const char *table, const uint8_t *key, size_t key_len,
              const uint8_t *val, size_t val_len, uint64_t expect_version, uint64_t *out_version)
{
    struct store_op op = {STORE_OP_PUT, table, key, key_len, val, val_len, expect_version};
    struct store_result res;
    int rc = store_write(st, &op, 1, &res);

    if (rc == TR_OK && out_version)
        *out_version = res.version;
    return rc;
}

int store_del(struct store *st, const char *table, const uint8_t *key, size_t key_len,
              uint64_t expect_version)
{
    struct store_op op = {STORE_OP_DEL, table, key, key_len, NULL, 0, expect_version};

    return store_write(st, &op, 1, NULL);
}

int store_rotate(struct store *st, uint32_t *out_key_id)
{
    int rc = sync_wait_run(st, NULL, 0, NULL);

    if (rc == TR_OK && out_key_id) {
        struct store_stats s;
        store_stats_get(st, &s);
        *out_key_id = s.key_id;
    }
    return rc;
}
