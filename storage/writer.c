/*
 * writer.c - the single writer thread: batching, preconditions, group commit, publish.
 *
 * Per batch (freshness B.4):
 *   1. prepare without locks: check each request's preconditions against the verified index
 *      plus the batch's own earlier effects, seal the new records (version = seq + 1), compute
 *      the new digest and count;
 *   2. mark the batch's keys pending in the index (idx_lock exclusive), so a reader that meets
 *      the new bytes in LMDB before they are anchored waits instead of raising a false alarm;
 *   3. one LMDB write txn: records + anchor {c+1}; durable commit (map grows on MAP_FULL);
 *      failure: unmark, nothing happened;
 *   4. enc_counter_increment to c+1 (must land exactly on c+1);
 *   5. publish the index changes and the anchor, wake waiting readers;
 *   6. run the completion callbacks.
 * Crash between 3 and 4 leaves c == T+1 on disk, which the next open completes; the batch was
 * never acknowledged, so keeping it is allowed. A counter that cannot be incremented after a
 * commit stops all writes (fail_rc): nothing newer may be acknowledged on an unanchored state.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/tr_log.h"
#include "store_int.h"

#define BATCH_BYTES_MAX (32u << 20)

/* One key touched by the batch: its state before the batch (base_*) and after the requests
 * applied so far (live/ver/hash/val). */
struct bent {
    int tbl;
    const uint8_t *key; /* borrowed from the request (alive until its callback ran) */
    size_t key_len;
    bool base_live;
    uint64_t base_ver;
    uint8_t base_hash[STORE_HASH_BYTES];
    bool live, touched, changed;
    bool missing; /* indexed, deleted by this batch, but already gone from disk */
    uint64_t ver;
    uint8_t hash[STORE_HASH_BYTES];
    uint8_t *val; /* stored bytes (header || record; ciphertext only), owned */
    size_t val_len;
    uint32_t val_req, last_req;
    struct idx_node *node; /* set while marked */
};

struct bundo {
    size_t ent;
    struct bent saved;
};

struct batch {
    struct store *st;
    uint64_t seq;
    struct bent *ents;
    size_t nents, cap;
    size_t *slots; /* open addressing: entry index + 1, 0 = empty */
    size_t nslots;
    struct bundo *undo;
    size_t nundo;
    uint8_t digest[STORE_HASH_BYTES];
    uint64_t count;
    struct store_anchor anchor;
    uint8_t anchor_raw[STORE_ANCHOR_LEN];
};

/* ---- batch bookkeeping ---------------------------------------------------------------------- */

static int batch_init(struct batch *b, struct store *st, size_t ops)
{
    memset(b, 0, sizeof(*b));
    b->st = st;
    b->cap = ops ? ops : 1;
    b->nslots = 16;
    while (b->nslots < 2 * b->cap)
        b->nslots *= 2;
    b->ents = calloc(b->cap, sizeof(*b->ents));
    b->undo = calloc(b->cap, sizeof(*b->undo));
    b->slots = calloc(b->nslots, sizeof(*b->slots));
    if (!b->ents || !b->undo || !b->slots)
        return TR_E_NOMEM;
    memcpy(b->digest, st->anchor.digest, STORE_HASH_BYTES);
    b->count = st->anchor.count;
    b->seq = st->anchor.seq + 1;
    return TR_OK;
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; b->ents && i < b->nents; i++)
        free(b->ents[i].val);
    free(b->ents);
    free(b->undo);
    free(b->slots);
}

static size_t key_hash(int tbl, const uint8_t *key, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)tbl;

    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)h;
}

/* The batch entry for (tbl, key), created from the published index on first use. The writer
 * is the only thread that changes the index, so it reads it without idx_lock. */
static int batch_ent(struct batch *b, int tbl, const uint8_t *key, size_t len, struct bent **out)
{
    size_t mask = b->nslots - 1, h = key_hash(tbl, key, len) & mask;
    struct idx_node *n;
    struct bent *e;

    while (b->slots[h]) {
        e = &b->ents[b->slots[h] - 1];
        if (e->tbl == tbl && e->key_len == len && memcmp(e->key, key, len) == 0) {
            *out = e;
            return TR_OK;
        }
        h = (h + 1) & mask;
    }
    if (b->nents == b->cap)
        return TR_E_INTERNAL;
    e = &b->ents[b->nents];
    memset(e, 0, sizeof(*e));
    e->tbl = tbl;
    e->key = key;
    e->key_len = len;
    n = idx_find(&b->st->tables[tbl].idx, key, len);
    if (n && n->live) {
        e->base_live = e->live = true;
        e->base_ver = e->ver = n->version;
        memcpy(e->base_hash, n->hash, STORE_HASH_BYTES);
        memcpy(e->hash, n->hash, STORE_HASH_BYTES);
    }
    e->val_req = e->last_req = UINT32_MAX;
    b->slots[h] = ++b->nents;
    *out = e;
    return TR_OK;
}

static bool precondition_ok(const struct bent *e, uint64_t expect)
{
    if (expect == STORE_VERSION_ANY)
        return true;
    if (expect == STORE_VERSION_ABSENT)
        return !e->live;
    return e->live && e->ver == expect;
}

/* Seal one value for this batch. Plaintext is read from the caller's buffer straight into the
 * core; the output is ciphertext only. */
static int batch_seal(struct batch *b, const struct store_op *op, uint8_t **out, size_t *out_len,
                      uint8_t hash[STORE_HASH_BYTES])
{
    static const uint8_t empty[1];
    uint8_t ad[STORE_AD_MAX];
    size_t adl = 0, rl = 0, cap = STORE_REC_HDR + op->val_len + ENC_RECORD_OVERHEAD;
    uint8_t *buf = malloc(cap);
    int rc = TR_E_NOMEM;

    if (!buf)
        goto out;
    if ((rc = store_ad_build(b->st->db_uuid, op->table, op->key, op->key_len, b->seq, 0, ad,
                             &adl)) != TR_OK)
        goto out;
    store_hdr_put(buf, b->seq, 0);
    if ((rc = enc_record_seal(ad, adl, op->val_len ? op->val : empty, op->val_len,
                              buf + STORE_REC_HDR, cap - STORE_REC_HDR, &rl)) != TR_OK ||
        (rc = store_rec_hash(buf, STORE_REC_HDR + rl, hash)) != TR_OK)
        goto out;
    *out = buf;
    *out_len = STORE_REC_HDR + rl;
    buf = NULL;
    rc = TR_OK;
out:
    free(buf);
    return rc;
}

static int apply_op(struct batch *b, const struct store_op *op, uint32_t rid, size_t i,
                    struct store_result *res)
{
    struct bent *e = NULL;
    uint8_t *val = NULL;
    size_t vl = 0;
    uint8_t hash[STORE_HASH_BYTES];
    int rc;

    if ((rc = batch_ent(b, store_table_find(b->st, op->table), op->key, op->key_len, &e)) != TR_OK)
        return rc;
    if (!precondition_ok(e, op->expect_version)) {
        res->failed_op = i;
        return TR_E_CAS;
    }
    if (op->kind == STORE_OP_PUT && (rc = batch_seal(b, op, &val, &vl, hash)) != TR_OK)
        return rc;
    if (e->last_req != rid) {
        b->undo[b->nundo].ent = (size_t)(e - b->ents);
        b->undo[b->nundo++].saved = *e;
        e->last_req = rid;
    }
    if (e->val && e->val_req == rid)
        free(e->val); /* superseded within this request; earlier requests' values are undo's */
    e->val = val;
    e->val_len = vl;
    e->val_req = rid;
    e->touched = true;
    e->live = op->kind == STORE_OP_PUT;
    e->ver = e->live ? b->seq : 0;
    if (e->live)
        memcpy(e->hash, hash, STORE_HASH_BYTES);
    return TR_OK;
}

/* Apply one request all-or-nothing on top of the batch's state. */
static int apply_req(struct batch *b, struct store_req *r, uint32_t rid)
{
    size_t u0 = b->nundo;
    int rc = TR_OK;

    for (size_t i = 0; i < r->nops && rc == TR_OK; i++)
        rc = apply_op(b, &r->ops[i], rid, i, &r->res);
    for (size_t u = b->nundo; u > u0; u--) {
        struct bundo *ud = &b->undo[u - 1];
        struct bent *e = &b->ents[ud->ent];
        if (rc == TR_OK) {
            if (ud->saved.val && ud->saved.val != e->val)
                free(ud->saved.val);
        } else {
            if (e->val && e->val_req == rid)
                free(e->val);
            *e = ud->saved;
        }
    }
    b->nundo = u0;
    return rc;
}

/* The new digest and count: remove each changed key's old element, add its new one. */
static int batch_digest(struct batch *b, bool *out_any)
{
    uint8_t el[STORE_HASH_BYTES];
    bool any = false;
    int rc;

    for (size_t i = 0; i < b->nents; i++) {
        struct bent *e = &b->ents[i];
        const char *tn = b->st->tables[e->tbl].name;
        e->changed = e->touched && (e->base_live || e->live);
        if (!e->changed)
            continue;
        any = true;
        if (e->base_live) {
            if ((rc = store_digest_elem(tn, e->key, e->key_len, e->base_ver, e->base_hash, el)) !=
                TR_OK)
                return rc;
            store_digest_sub(b->digest, el);
            b->count--;
        }
        if (e->live) {
            if ((rc = store_digest_elem(tn, e->key, e->key_len, e->ver, e->hash, el)) != TR_OK)
                return rc;
            store_digest_add(b->digest, el);
            b->count++;
        }
    }
    *out_any = any;
    return TR_OK;
}

/* ---- mark / commit / publish ---------------------------------------------------------------- */

static void batch_unmark_locked(struct batch *b)
{
    for (size_t i = 0; i < b->nents; i++) {
        struct bent *e = &b->ents[i];
        if (!e->node)
            continue;
        e->node->pending = false;
        if (!e->node->live)
            idx_remove(&b->st->tables[e->tbl].idx, e->key, e->key_len);
        else
            idx_slot_sync(&b->st->tables[e->tbl].idx, e->node);
        e->node = NULL;
    }
    b->st->inflight = false;
}

static int batch_mark(struct batch *b)
{
    struct store *st = b->st;
    int rc = TR_OK;

    tr_brlock_wrlock(&st->idx_lock);
    for (size_t i = 0; i < b->nents && rc == TR_OK; i++) {
        struct bent *e = &b->ents[i];
        if (!e->changed)
            continue;
        if ((rc = idx_get_or_add(&st->tables[e->tbl].idx, e->key, e->key_len, &e->node)) != TR_OK)
            break;
        e->node->pending = true;
        e->node->p_live = e->live;
        e->node->p_version = e->ver;
        memcpy(e->node->p_hash, e->hash, STORE_HASH_BYTES);
        idx_slot_sync(&st->tables[e->tbl].idx, e->node);
    }
    st->inflight = true;
    memcpy(st->pend_anchor_raw, b->anchor_raw, STORE_ANCHOR_LEN);
    if (rc != TR_OK)
        batch_unmark_locked(b);
    tr_brlock_wrunlock(&st->idx_lock);
    return rc;
}

static void batch_unmark(struct batch *b)
{
    tr_brlock_wrlock(&b->st->idx_lock);
    batch_unmark_locked(b);
    tr_brlock_wrunlock(&b->st->idx_lock);
    store_pub_bump(b->st);
}

static void batch_publish(struct batch *b)
{
    struct store *st = b->st;

    tr_brlock_wrlock(&st->idx_lock);
    for (size_t i = 0; i < b->nents; i++) {
        struct idx_node *n = b->ents[i].node;
        if (!n)
            continue;
        n->live = n->p_live;
        n->version = n->p_version;
        memcpy(n->hash, n->p_hash, STORE_HASH_BYTES);
        if (n->live) /* the stored bytes end with the record's AEAD tag (read.c checks it) */
            memcpy(n->tag, b->ents[i].val + b->ents[i].val_len - STORE_TAG_BYTES, STORE_TAG_BYTES);
        n->pending = false;
        if (!n->live)
            idx_remove(&st->tables[b->ents[i].tbl].idx, b->ents[i].key, b->ents[i].key_len);
        else
            idx_slot_sync(&st->tables[b->ents[i].tbl].idx, n);
        b->ents[i].node = NULL;
    }
    st->anchor = b->anchor;
    memcpy(st->anchor_raw, b->anchor_raw, STORE_ANCHOR_LEN);
    st->inflight = false;
    tr_brlock_wrunlock(&st->idx_lock);
    store_pub_bump(st);
}

static int batch_apply_fn(struct store *st, MDB_txn *txn, void *arg)
{
    struct batch *b = arg;
    MDB_val k, v;
    int mrc;

    for (size_t i = 0; i < b->nents; i++) {
        struct bent *e = &b->ents[i];
        if (!e->changed)
            continue;
        k.mv_size = e->key_len;
        k.mv_data = (void *)e->key;
        if (e->live) {
            v.mv_size = e->val_len;
            v.mv_data = e->val;
            mrc = mdb_put(txn, st->tables[e->tbl].dbi, &k, &v, 0);
        } else {
            mrc = mdb_del(txn, st->tables[e->tbl].dbi, &k, NULL);
            e->missing = mrc == MDB_NOTFOUND; /* indexed but gone from disk: alarm later */
            if (e->missing)
                mrc = 0;
        }
        if (mrc != 0)
            return mrc;
    }
    k.mv_size = strlen(STORE_ANCHOR_KEY);
    k.mv_data = STORE_ANCHOR_KEY;
    v.mv_size = STORE_ANCHOR_LEN;
    v.mv_data = b->anchor_raw;
    return mdb_put(txn, st->meta_dbi, &k, &v, 0);
}

static void store_fail(struct store *st, int rc)
{
    int expected = TR_OK;

    atomic_compare_exchange_strong(&st->fail_rc, &expected, rc);
    store_pub_bump(st); /* readers waiting for a pending key learn about it */
}

/* Where the counter is after a failed increment, read a few times: the transport error that
 * lost the increment's answer may outlast one read. */
static int counter_learn(uint64_t *out)
{
    int rc = TR_E_COUNTER;

    for (int attempt = 0; attempt < 3; attempt++) {
        if ((rc = enc_counter_read(out)) == TR_OK || rc == TR_E_SEALED)
            break;
        tr_log_warn("counter read failed (%s), attempt %d", tr_err_name(rc), attempt + 1);
        nanosleep(&(struct timespec){0, 20000000L * (attempt + 1)}, NULL);
    }
    return rc;
}

/* Increment after a commit; the value must land exactly on expect. A failed increment may have
 * happened anyway (its answer lost on the way back), so before another try the counter is read:
 * expect - 1 means not done (try again), expect means done, anything else moved behind our
 * back. Incrementing again without that read could push a done increment to expect + 1 and
 * turn a transient TPM or transport error into a false tamper verdict. No successful read:
 * the store fails (writes stop until restart; the next open completes c == T+1). */
static int commit_counter(struct store *st, uint64_t expect)
{
    uint64_t v = 0;
    int rc = TR_E_COUNTER;

    for (int attempt = 0; attempt < 3; attempt++) {
        if ((rc = enc_counter_increment(&v)) == TR_OK || rc == TR_E_SEALED)
            break;
        tr_log_warn("counter increment failed (%s), attempt %d", tr_err_name(rc), attempt + 1);
        if ((rc = counter_learn(&v)) != TR_OK || v != expect - 1)
            break; /* unreadable, done (v == expect) or moved: decided below */
        rc = TR_E_COUNTER;
        nanosleep(&(struct timespec){0, 20000000L * (attempt + 1)}, NULL);
    }
    if (rc != TR_OK) {
        tr_log_error("counter not incremented after commit (%s): writes stop until restart",
                     tr_err_name(rc));
        return rc;
    }
    atomic_fetch_add(&st->n_increments, 1);
    st->last_incr_ms = store_now_ms();
    if (v != expect) {
        struct store_evidence ev;
        store_alarm(st, "counter_moved", NULL, NULL, 0);
        store_evidence(&ev);
        ev.counter = v;
        ev.anchor_counter = expect;
        store_evidence_put(&ev);
        /* Refuse writes before sealing: an unseal that lands in between must find this store
         * failed (api_core reopens and verifies a failed store) rather than serve it. */
        store_fail(st, TR_E_TAMPER);
        enc_seal(ENC_REASON_TAMPER);
        return TR_E_TAMPER;
    }
    return TR_OK;
}

static int batch_commit(struct batch *b, uint8_t reason, uint32_t key_id);

/* A commit that fails after its anchor {c+1} was built may still have put that anchor, MAC'd,
 * into data.mdb with the pages of a state the clients were told failed: LMDB writes the pages
 * before the sync and the meta page, and a full disk or a failing device stops it in between.
 * The next acknowledged state must not be anchored at c+1 as well, or that failed state could be
 * put back in its place once the counter is at c+1 and open as clean (c == T). So the first
 * commit after such a failure is a fence, like the epoch-open at startup: the unchanged state
 * under a new epoch at c+1, incremented; the batch follows at c+2. */
static int batch_fence(struct store *st)
{
    struct batch fb;
    uint64_t due, now;
    int rc;

    if ((rc = batch_init(&fb, st, 0)) == TR_OK)
        rc = batch_commit(&fb, STORE_REASON_EPOCH_OPEN, st->anchor.key_id);
    batch_free(&fb);
    /* the batch's own increment follows: keep min_interval_ms between the two */
    due = st->last_incr_ms + st->opts.min_interval_ms;
    while (rc == TR_OK && (now = store_now_ms()) < due) {
        uint64_t ms = due - now;
        nanosleep(&(struct timespec){(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L}, NULL);
    }
    return rc;
}

/* Steps 2-5 for a prepared batch (also used with no entries by rotate and the fence). */
static int batch_commit(struct batch *b, uint8_t reason, uint32_t key_id)
{
    struct store *st = b->st;
    bool wrote = false;
    int rc;

    if (st->fence_due && reason != STORE_REASON_EPOCH_OPEN && (rc = batch_fence(st)) != TR_OK)
        return rc;
    store_anchor_next(&st->anchor, st->anchor_raw, reason, &b->anchor);
    if (reason == STORE_REASON_EPOCH_OPEN)
        b->anchor.epoch++;
    b->anchor.seq = reason == STORE_REASON_BATCH ? b->seq : st->anchor.seq;
    b->anchor.count = b->count;
    b->anchor.key_id = key_id;
    memcpy(b->anchor.digest, b->digest, STORE_HASH_BYTES);
    if ((rc = store_anchor_encode(&b->anchor, b->anchor_raw)) != TR_OK ||
        (rc = batch_mark(b)) != TR_OK)
        return rc;
    if ((rc = store_txn_run_ex(st, batch_apply_fn, b, &wrote)) != TR_OK) {
        batch_unmark(b);
        st->fence_due = st->fence_due || wrote;
        return rc;
    }
    store_fault_hit(st, STORE_FAULT_AFTER_COMMIT);
    if ((rc = commit_counter(st, b->anchor.counter)) != TR_OK) {
        store_fail(st, rc); /* marks stay: their keys answer fail_rc */
        return rc;
    }
    store_fault_hit(st, STORE_FAULT_AFTER_INCREMENT);
    batch_publish(b);
    st->fence_due = false; /* c+1 now belongs to an anchored state */
    for (size_t i = 0; i < b->nents; i++) {
        if (b->ents[i].missing)
            store_alarm(st, "missing", st->tables[b->ents[i].tbl].name, b->ents[i].key,
                        b->ents[i].key_len);
    }
    atomic_fetch_add(&st->n_batches, 1);
    store_fault_hit(st, STORE_FAULT_BEFORE_ACK);
    return TR_OK;
}

/* ---- requests ------------------------------------------------------------------------------- */

static int table_create_fn(struct store *st, MDB_txn *txn, void *arg)
{
    struct store_table *t = arg;

    (void)st;
    return mdb_dbi_open(txn, t->name, MDB_CREATE, &t->dbi);
}

/* A new table gets its own small commit: an empty table is no security state, and its handle
 * must exist (committed) before the batch that fills it marks keys in it. Its name is announced
 * (pend_table) before the commit, so a scrub that sees it in LMDB before it is in tables[] does
 * not take it for a foreign table. */
int store_table_ensure(struct store *st, const char *name, int *out_idx)
{
    struct store_table t;
    int i = store_table_find(st, name), rc;

    if (i >= 0) {
        *out_idx = i;
        return TR_OK;
    }
    if (st->ntables >= STORE_TABLES_MAX)
        return TR_E_LIMIT;
    memset(&t, 0, sizeof(t));
    if (!store_table_name_ok(name, &t.name_len))
        return TR_E_INVAL;
    memcpy(t.name, name, t.name_len);
    tr_brlock_wrlock(&st->idx_lock);
    memcpy(st->pend_table, t.name, t.name_len + 1);
    tr_brlock_wrunlock(&st->idx_lock);
    rc = store_txn_run(st, table_create_fn, &t);
    tr_brlock_wrlock(&st->idx_lock);
    if (rc == TR_OK) {
        st->tables[st->ntables] = t;
        *out_idx = (int)st->ntables++;
    }
    st->pend_table[0] = 0;
    tr_brlock_wrunlock(&st->idx_lock);
    return rc;
}

static void reqs_set(struct store_req *list, int rc, bool only_ok)
{
    for (struct store_req *r = list; r; r = r->next) {
        if (!only_ok || r->res.rc == TR_OK)
            r->res.rc = rc;
    }
}

static int batch_run(struct store *st, struct store_req *list)
{
    struct batch b;
    size_t ops = 0;
    uint32_t rid = 0;
    bool any = false;
    int rc, idx;

    for (struct store_req *r = list; r; r = r->next) {
        memset(&r->res, 0, sizeof(r->res));
        ops += r->nops;
        for (size_t i = 0; i < r->nops && r->res.rc == TR_OK; i++)
            r->res.rc = store_table_ensure(st, r->ops[i].table, &idx);
    }
    if ((rc = batch_init(&b, st, ops)) != TR_OK)
        goto out;
    for (struct store_req *r = list; r; r = r->next, rid++) {
        if (r->res.rc == TR_OK)
            r->res.rc = apply_req(&b, r, rid);
    }
    if ((rc = batch_digest(&b, &any)) != TR_OK)
        goto out;
    if (any && (rc = batch_commit(&b, STORE_REASON_BATCH, st->anchor.key_id)) != TR_OK)
        goto out;
    for (struct store_req *r = list; r; r = r->next) {
        if (r->res.rc != TR_OK)
            continue;
        r->res.version = st->anchor.seq;
        r->res.counter = st->anchor.counter;
        atomic_fetch_add(&st->n_writes, r->nops);
    }
    rc = TR_OK;
out:
    if (rc != TR_OK)
        reqs_set(list, rc, true);
    batch_free(&b);
    return rc;
}

static void rotate_run(struct store *st, struct store_req *r)
{
    struct batch b;
    uint32_t old = st->anchor.key_id, nid = old + 1;
    int rc;

    memset(&r->res, 0, sizeof(r->res));
    if ((rc = batch_init(&b, st, 0)) != TR_OK || (rc = enc_keyring_set_active(nid)) != TR_OK)
        goto out;
    rc = batch_commit(&b, STORE_REASON_REKEY, nid);
    if (rc != TR_OK && atomic_load(&st->fail_rc) == TR_OK && enc_keyring_set_active(old) != TR_OK)
        tr_log_error("could not restore record key id %u", old);
    if (rc == TR_OK) {
        r->res.version = st->anchor.seq;
        r->res.counter = st->anchor.counter;
        tr_log_info("record key id %u active", nid);
    }
out:
    r->res.rc = rc;
    batch_free(&b);
}

static void writer_process(struct store *st, struct store_req *list, size_t n)
{
    int frc = atomic_load(&st->fail_rc);

    if (frc != TR_OK) {
        reqs_set(list, frc, false);
    } else if (list->kind == STORE_REQ_ROTATE) {
        rotate_run(st, list);
    } else if (batch_run(st, list) == TR_E_NOSPACE && n > 1) {
        /* one large request must not starve the others: retry each on its own */
        for (struct store_req *r = list, *next; r; r = next) {
            next = r->next;
            r->next = NULL;
            if (atomic_load(&st->fail_rc) == TR_OK)
                (void)batch_run(st, r);
            else
                r->res.rc = atomic_load(&st->fail_rc);
            r->next = next;
        }
    }
    for (struct store_req *r = list, *next; r; r = next) {
        next = r->next;
        r->cb(r->arg, &r->res);
        free(r);
    }
}

/* Detach the next batch from the queue (q_mu held): whole requests up to the op and byte caps,
 * at least one; a rotate request always travels alone. */
static struct store_req *writer_take(struct store *st, size_t *out_n)
{
    struct store_req *head = st->q_head, *r = head, *last = head;
    size_t ops = 0, bytes = 0, n = 0;

    if (head->kind == STORE_REQ_ROTATE) {
        r = head->next;
        n = 1;
    } else {
        while (r && r->kind == STORE_REQ_WRITE) {
            size_t rb = 0;
            for (size_t i = 0; i < r->nops; i++)
                rb += r->ops[i].val_len;
            if (n > 0 && (ops + r->nops > st->opts.batch_max_ops || bytes + rb > BATCH_BYTES_MAX))
                break;
            ops += r->nops;
            bytes += rb;
            n++;
            last = r;
            r = r->next;
        }
    }
    st->q_head = r;
    if (!r)
        st->q_tail = NULL;
    last->next = NULL;
    *out_n = n;
    return head;
}

static void writer_wait_interval(struct store *st)
{
    uint64_t due = st->last_incr_ms + st->opts.min_interval_ms;

    while (!st->stopping && st->last_incr_ms && store_now_ms() < due) {
        struct timespec ts = {(time_t)(due / 1000), (long)(due % 1000) * 1000000L};
        pthread_cond_timedwait(&st->q_cond, &st->q_mu, &ts);
    }
}

static void *writer_main(void *arg)
{
    struct store *st = arg;

    pthread_mutex_lock(&st->q_mu);
    for (;;) {
        struct store_req *list;
        size_t n = 0;

        while (!st->q_head && !st->stopping)
            pthread_cond_wait(&st->q_cond, &st->q_mu);
        if (!st->q_head)
            break;
        if (st->opts.min_interval_ms)
            writer_wait_interval(st); /* requests keep queueing meanwhile: coalesced */
        list = writer_take(st, &n);
        pthread_mutex_unlock(&st->q_mu);
        writer_process(st, list, n);
        pthread_mutex_lock(&st->q_mu);
    }
    pthread_mutex_unlock(&st->q_mu);
    return NULL;
}

int store_writer_start(struct store *st)
{
    st->last_incr_ms = store_now_ms();
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0)
        return TR_E_NOMEM;
    st->writer_started = true;
    return TR_OK;
}

void store_writer_stop(struct store *st)
{
    if (!st->writer_started)
        return;
    pthread_mutex_lock(&st->q_mu);
    st->stopping = true;
    pthread_cond_broadcast(&st->q_cond);
    pthread_mutex_unlock(&st->q_mu);
    pthread_join(st->writer, NULL);
    st->writer_started = false;
}
