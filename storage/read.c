/*
 * read.c - verified reads, listing and scrub.
 *
 * A read holds env_lock and idx_lock shared from the index lookup until its private copy of
 * the LMDB bytes is taken: the writer marks a batch's keys pending (exclusive lock) before it
 * commits, so for a key that is not pending the LMDB bytes seen under the lock are exactly the
 * published ones, and any difference is tampering. A pending key waits for its batch.
 * Comparing and AEAD-opening run on the copy, after the locks are released, so a concurrent
 * rewrite of the mapped page cannot change what was checked (check-then-use).
 *
 * The copy is bound to the index by its header (version) and its AEAD tag (16 bytes, compared
 * with the tag the index holds for the published record) before it is opened: a successful
 * open under associated data that names (store, table, key, version) then proves it is the
 * indexed record itself, not another authentic one made for the same version (see "Reads" in
 * docs/storage-format.md for why the version alone is not enough). The full record hash is
 * still computed at startup (digest) and by the scrub.
 */
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/tr_buf.h"
#include "../common/tr_log.h"
#include "store_int.h"

#define SCRUB_CHUNK 256
#define SNAP_INLINE 1024 /* stored records up to this size are copied to the stack */

struct snap {
    bool live, found, bad_len, resized;
    bool tag_ok; /* the copy's tag was already found equal to the index's tag (snap_take) */
    uint64_t version;
    uint8_t tag[STORE_TAG_BYTES];
    uint8_t *buf; /* copy of the stored bytes (ciphertext): inl or owned heap */
    size_t len;
    uint8_t inl[SNAP_INLINE];
};

static bool key_ok(const uint8_t *key, size_t len)
{
    return key && len >= 1 && len <= STORE_KEY_MAX;
}

static bool table_arg_ok(const char *table)
{
    return table && strnlen(table, STORE_TABLE_NAME_MAX + 1) <= STORE_TABLE_NAME_MAX;
}

_Static_assert(STORE_TAG_BYTES == crypto_verify_16_BYTES, "tag compare width");

/* Whether the copy ends with tag: constant time, though tags are public (they sit in the file);
 * crypto_verify_16 is a fixed 16-byte compare, about half the cost of sodium_memcmp here. */
static bool snap_tag_is(const struct snap *s, const uint8_t tag[STORE_TAG_BYTES])
{
    return crypto_verify_16(s->buf + s->len - STORE_TAG_BYTES, tag) == 0;
}

static void snap_release(struct snap *s)
{
    if (s->buf != s->inl)
        free(s->buf); /* ciphertext */
    s->buf = NULL;
    s->len = 0;
}

static uint64_t pub_gen_get(struct store *st)
{
    uint64_t g;

    pthread_mutex_lock(&st->pub_mu);
    g = st->pub_gen;
    pthread_mutex_unlock(&st->pub_mu);
    return g;
}

static void pub_wait(struct store *st, uint64_t g)
{
    pthread_mutex_lock(&st->pub_mu);
    while (st->pub_gen == g)
        pthread_cond_wait(&st->pub_cond, &st->pub_mu);
    pthread_mutex_unlock(&st->pub_mu);
}

/* ---- read transactions -------------------------------------------------------------------------
 * Beginning a read transaction takes LMDB's reader-table mutex (shared with other processes)
 * and a heap allocation; renewing a reset one does neither. MDB_NOTLS lets any thread renew
 * it. A reset transaction pins no pages and keeps no pointer into the map, so the map may be
 * resized while it waits here (store_map_grow). Lock-free slots: an empty slot is NULL. */

/* Each thread starts at its own slot: with no more readers than slots, a thread keeps
 * reusing its transaction and touches no other thread's slot. */
static size_t rtxn_first(void)
{
    static atomic_uint next;
    static _Thread_local unsigned hint;
    static _Thread_local bool have;

    if (!have) {
        hint = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed);
        have = true;
    }
    return hint % STORE_RTXN_CACHE;
}

static int rtxn_take(struct store *st, MDB_txn **out)
{
    MDB_txn *txn = NULL;
    size_t first = rtxn_first();
    int mrc;

    for (size_t k = 0; k < STORE_RTXN_CACHE && !txn; k++) {
        size_t i = (first + k) % STORE_RTXN_CACHE;
        if (atomic_load_explicit(&st->rtxn[i].txn, memory_order_relaxed))
            txn = atomic_exchange(&st->rtxn[i].txn, NULL);
    }
    if (!txn)
        return mdb_txn_begin(st->env, NULL, MDB_RDONLY, out);
    if ((mrc = mdb_txn_renew(txn)) != 0) {
        mdb_txn_abort(txn);
        return mrc;
    }
    *out = txn;
    return 0;
}

static void rtxn_give(struct store *st, MDB_txn *txn)
{
    size_t first = rtxn_first();

    mdb_txn_reset(txn);
    for (size_t k = 0; k < STORE_RTXN_CACHE; k++) {
        MDB_txn *empty = NULL;
        if (atomic_compare_exchange_strong(&st->rtxn[(first + k) % STORE_RTXN_CACHE].txn, &empty,
                                           txn))
            return;
    }
    mdb_txn_abort(txn);
}

void store_read_fini(struct store *st)
{
    for (size_t i = 0; i < STORE_RTXN_CACHE; i++) {
        MDB_txn *txn = atomic_exchange(&st->rtxn[i].txn, NULL);
        if (txn)
            mdb_txn_abort(txn);
    }
}

/* ---- get ---------------------------------------------------------------------------------------- */

/* Copy the stored bytes of key (locks held by the caller). Lengths from disk are capped
 * before anything is allocated. */
static int snap_read_locked(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t key_len,
                            struct snap *s)
{
    MDB_val k = {key_len, (void *)key}, v;
    int mrc, rc = TR_OK;

    mrc = mdb_get(txn, dbi, &k, &v);
    if (mrc == 0) {
        s->found = true;
        if (v.mv_size < STORE_STORED_MIN || v.mv_size > STORE_STORED_MAX) {
            s->bad_len = true;
        } else if (!(s->buf = v.mv_size <= SNAP_INLINE ? s->inl : malloc(v.mv_size))) {
            rc = TR_E_NOMEM;
        } else {
            memcpy(s->buf, v.mv_data, v.mv_size);
            s->len = v.mv_size;
        }
    } else if (mrc != MDB_NOTFOUND) {
        rc = store_mdb_err(mrc, "get");
    }
    return rc;
}

static void snap_reset(struct snap *s)
{
    snap_release(s);
    memset(s, 0, offsetof(struct snap, inl));
}

static int snap_take(struct store *st, const char *table, const uint8_t *key, size_t key_len,
                     struct snap *s)
{
    int adopted = 0;

    for (;;) {
        struct idx_slot view = {0}; /* what the index says of key: from its slot or node */
        uint64_t g;
        int ti, rc = TR_OK;

        tr_brlock_rdlock(&st->env_lock);
        tr_brlock_rdlock(&st->idx_lock);
        ti = store_table_find(st, table);
        if (ti >= 0) {
            /* Both lookups happen under the locks, so their order is free: the slot's cache
             * miss is started first and overlaps LMDB's work. */
            const struct store_idx *ix = &st->tables[ti].idx;
            uint64_t hv = idx_hash(ix, key, key_len);
            MDB_txn *txn = NULL;
            int mrc;
            idx_prefetch(ix, hv);
            if ((mrc = rtxn_take(st, &txn)) != 0) {
                s->resized = mrc == MDB_MAP_RESIZED;
                rc = store_mdb_err(mrc, "read txn");
            } else {
                rc = snap_read_locked(txn, st->tables[ti].dbi, key, key_len, s);
                rtxn_give(st, txn);
            }
            /* Fast path, no node: the first slot of this hash, published, whose tag is the
             * copied record's. The slot can belong to another key only on a 64-bit SipHash
             * collision, and then the record would carry that key's tag: its AEAD open under
             * this key's associated data fails (record_auth), so accepting it is safe. Anything
             * else takes the exact lookup, which compares keys. */
            const struct idx_slot *sl = idx_slot_hv(ix, hv);
            if (sl && sl->live && !sl->pending && s->buf && !s->bad_len &&
                snap_tag_is(s, sl->tag)) {
                view = *sl;
                s->tag_ok = true; /* snap_verify need not compare the same tag again */
            } else {
                const struct idx_node *n = idx_find_hv(ix, hv, key, key_len);
                if (n) {
                    view.live = n->live;
                    view.pending = n->pending;
                    view.version = n->version;
                    memcpy(view.tag, n->tag, STORE_TAG_BYTES);
                }
            }
        }
        if (view.pending) {
            g = pub_gen_get(st);
            tr_brlock_rdunlock(&st->idx_lock);
            tr_brlock_rdunlock(&st->env_lock);
            snap_reset(s);
            if ((rc = atomic_load(&st->fail_rc)) != TR_OK)
                return rc;
            pub_wait(st, g);
            continue;
        }
        if (view.live) {
            s->live = true;
            s->version = view.version;
            memcpy(s->tag, view.tag, STORE_TAG_BYTES);
        }
        tr_brlock_rdunlock(&st->idx_lock);
        tr_brlock_rdunlock(&st->env_lock);
        if (s->resized && adopted++ == 0 && store_map_grow(st, true) == TR_OK) {
            snap_reset(s); /* the file grew under us: adopt its size, once */
            continue;
        }
        if (rc == TR_E_TAMPER) /* LMDB found the file malformed (store_mdb_err) */
            store_alarm(st, "lmdb_structure", table, key, key_len);
        return rc;
    }
}

/* The copy against the index: never a silent not-found, never another key's bytes, never
 * another record of the same key. */
static int snap_verify(struct store *st, const char *table, const uint8_t *key, size_t key_len,
                       const struct snap *s)
{
    uint64_t ver = 0;
    const char *what = NULL;

    if (!s->live && !s->found)
        return TR_E_NOTFOUND;
    if (!s->live)
        what = "unindexed";
    else if (!s->found)
        what = "missing";
    else if (s->bad_len)
        what = "record_format";
    else if (!s->tag_ok && !snap_tag_is(s, s->tag))
        what = "record_hash"; /* not the indexed record (the tag stands in for its hash) */
    else if (store_hdr_parse(s->buf, s->len, &ver) != TR_OK || ver != s->version)
        what = "record_format";
    if (what) {
        store_alarm(st, what, table, key, key_len);
        return TR_E_TAMPER;
    }
    return TR_OK;
}

int store_get(struct store *st, const char *table, const uint8_t *key, size_t key_len,
              struct enc_secret **out_val, uint64_t *out_version)
{
    struct snap s;
    struct enc_secret *val = NULL;
    uint8_t ad[STORE_AD_MAX];
    size_t adl = 0;
    int rc;

    memset(&s, 0, offsetof(struct snap, inl));
    if (!out_val)
        return TR_E_INVAL;
    *out_val = NULL;
    if (!st || !table_arg_ok(table) || !key_ok(key, key_len))
        return TR_E_INVAL;
    if ((rc = snap_take(st, table, key, key_len, &s)) != TR_OK ||
        (rc = snap_verify(st, table, key, key_len, &s)) != TR_OK)
        goto out;
    if ((rc = store_ad_build(st->db_uuid, table, key, key_len, s.version, 0, ad, &adl)) != TR_OK)
        goto out;
    rc = enc_record_open(ad, adl, s.buf + STORE_REC_HDR, s.len - STORE_REC_HDR, &val);
    if (rc == TR_E_AUTH) {
        store_alarm(st, "record_auth", table, key, key_len);
        rc = TR_E_TAMPER;
    }
    if (rc != TR_OK)
        goto out;
    *out_val = val;
    val = NULL;
    if (out_version)
        *out_version = s.version;
    rc = TR_OK;
out:
    enc_secret_free(val);
    snap_release(&s);
    return rc;
}

int store_stat(struct store *st, const char *table, const uint8_t *key, size_t key_len,
               uint64_t *out_version)
{
    struct idx_node *n = NULL;
    int ti, rc = TR_E_NOTFOUND;

    if (!st || !table_arg_ok(table) || !key_ok(key, key_len) || !out_version)
        return TR_E_INVAL;
    tr_brlock_rdlock(&st->idx_lock);
    ti = store_table_find(st, table);
    if (ti >= 0)
        n = idx_find(&st->tables[ti].idx, key, key_len);
    if (n && n->live) {
        *out_version = n->version;
        rc = TR_OK;
    }
    tr_brlock_rdunlock(&st->idx_lock);
    return rc;
}

/* ---- listing ---------------------------------------------------------------------------------- */

struct lent {
    size_t off, len;
    uint64_t version;
    bool folder;
};

struct lacc {
    struct lent *e;
    size_t n, cap, limit;
    struct tr_buf keys; /* identifiers, not secrets */
    bool truncated;
};

static int lacc_add(struct lacc *a, const uint8_t *key, size_t len, uint64_t ver, bool folder)
{
    int rc;

    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        struct lent *ne = realloc(a->e, nc * sizeof(*ne));
        if (!ne)
            return TR_E_NOMEM;
        a->e = ne;
        a->cap = nc;
    }
    a->e[a->n] = (struct lent){a->keys.len, len, ver, folder};
    if ((rc = tr_buf_put(&a->keys, key, len)) != TR_OK)
        return rc;
    a->n++;
    return TR_OK;
}

static bool has_prefix(const struct idx_node *n, const uint8_t *p, size_t pl)
{
    return n->key_len >= pl && (pl == 0 || memcmp(n->key, p, pl) == 0);
}

/* The first node of the listing: after start_after (past a whole folder when folding), and
 * not before the prefix. */
static struct idx_node *list_first(const struct store_idx *ix, const struct store_list_opts *o)
{
    static const uint8_t none[1];
    struct idx_node *n, *m;
    uint8_t tmp[STORE_KEY_MAX];
    size_t sl = o->start_after_len;

    n = idx_lower_bound(ix, o->prefix_len ? o->prefix : none, o->prefix_len, false);
    if (!o->start_after || sl == 0)
        return n;
    if (o->fold && o->start_after[sl - 1] == '/') {
        memcpy(tmp, o->start_after, sl);
        tmp[sl - 1] = '/' + 1; /* first key after every key inside that folder */
        m = idx_lower_bound(ix, tmp, sl, false);
    } else {
        m = idx_lower_bound(ix, o->start_after, sl, true);
    }
    if (!n || !m)
        return NULL;
    return store_key_cmp(m->key, m->key_len, n->key, n->key_len) > 0 ? m : n;
}

static int list_walk(const struct store_idx *ix, const struct store_list_opts *o, struct lacc *a)
{
    struct idx_node *n = list_first(ix, o);
    uint8_t tmp[STORE_KEY_MAX];
    int rc;

    while (n && has_prefix(n, o->prefix, o->prefix_len)) {
        const uint8_t *slash = NULL;
        if (!n->live) { /* pending insert: not published yet */
            n = idx_lower_bound(ix, n->key, n->key_len, true);
            continue;
        }
        if (a->n == a->limit) {
            a->truncated = true;
            break;
        }
        if (o->fold)
            slash = memchr(n->key + o->prefix_len, '/', n->key_len - o->prefix_len);
        if (slash) {
            size_t fl = (size_t)(slash - n->key) + 1;
            if ((rc = lacc_add(a, n->key, fl, 0, true)) != TR_OK)
                return rc;
            memcpy(tmp, n->key, fl);
            tmp[fl - 1] = '/' + 1;
            n = idx_lower_bound(ix, tmp, fl, false);
            continue;
        }
        if ((rc = lacc_add(a, n->key, n->key_len, n->version, false)) != TR_OK)
            return rc;
        n = idx_lower_bound(ix, n->key, n->key_len, true);
    }
    return TR_OK;
}

static int list_build(const struct lacc *a, struct store_list **out)
{
    size_t head = sizeof(struct store_list) + a->n * sizeof(struct store_list_entry);
    struct store_list *l = calloc(1, head + a->keys.len + 1);
    uint8_t *keys;

    if (!l)
        return TR_E_NOMEM;
    l->n = a->n;
    l->truncated = a->truncated;
    l->e = (struct store_list_entry *)(l + 1);
    keys = (uint8_t *)l + head;
    if (a->keys.len)
        memcpy(keys, a->keys.data, a->keys.len);
    for (size_t i = 0; i < a->n; i++) {
        l->e[i].key = keys + a->e[i].off;
        l->e[i].key_len = a->e[i].len;
        l->e[i].version = a->e[i].version;
        l->e[i].is_folder = a->e[i].folder;
    }
    *out = l;
    return TR_OK;
}

int store_list(struct store *st, const char *table, const struct store_list_opts *o,
               struct store_list **out)
{
    struct lacc a;
    int ti, rc = TR_OK;

    if (!out)
        return TR_E_INVAL;
    *out = NULL;
    if (!st || !table_arg_ok(table) || !o || o->prefix_len > STORE_KEY_MAX ||
        (!o->prefix && o->prefix_len) || o->start_after_len > STORE_KEY_MAX ||
        (!o->start_after && o->start_after_len) || o->limit > STORE_LIST_MAX)
        return TR_E_INVAL;
    memset(&a, 0, sizeof(a));
    a.limit = o->limit ? o->limit : STORE_LIST_MAX;
    tr_brlock_rdlock(&st->idx_lock);
    ti = store_table_find(st, table);
    if (ti >= 0)
        rc = list_walk(&st->tables[ti].idx, o, &a);
    tr_brlock_rdunlock(&st->idx_lock);
    if (rc == TR_OK)
        rc = list_build(&a, out);
    free(a.e);
    tr_buf_free(&a.keys);
    return rc;
}

void store_list_free(struct store_list *l)
{
    free(l);
}

/* ---- scrub -------------------------------------------------------------------------------------- */

struct scrub_pos {
    uint8_t last[STORE_KEY_MAX];
    size_t last_len;
    bool started, done;
    uint8_t *buf;
    size_t cap;
};

static void pos_set(struct scrub_pos *p, const uint8_t *k, size_t len)
{
    memcpy(p->last, k, len);
    p->last_len = len;
}

/* An LMDB error met by the scrub; one that says the file is malformed is an alarm. */
static int scrub_mdb_err(struct store *st, int mrc, const char *table)
{
    int rc = store_mdb_err(mrc, "scrub");

    if (rc == TR_E_TAMPER)
        store_alarm(st, "lmdb_structure", table, NULL, 0);
    return rc;
}

/* One record that is both on disk and in the index (locks held). */
static int scrub_check(struct store *st, const struct store_table *t, const struct idx_node *n,
                       const MDB_val *v, struct scrub_pos *p)
{
    uint8_t h[STORE_HASH_BYTES];
    uint64_t ver = 0;
    int rc;

    if (v->mv_size < STORE_STORED_MIN || v->mv_size > STORE_STORED_MAX) {
        store_alarm(st, "record_format", t->name, n->key, n->key_len);
        return TR_OK;
    }
    if (v->mv_size > p->cap) {
        uint8_t *nb = realloc(p->buf, v->mv_size); /* ciphertext only */
        if (!nb)
            return TR_E_NOMEM;
        p->buf = nb;
        p->cap = v->mv_size;
    }
    memcpy(p->buf, v->mv_data, v->mv_size);
    if ((rc = store_rec_hash(p->buf, v->mv_size, h)) != TR_OK)
        return rc;
    if (sodium_memcmp(h, n->hash, STORE_HASH_BYTES) != 0)
        store_alarm(st, "record_hash", t->name, n->key, n->key_len);
    else if (store_hdr_parse(p->buf, v->mv_size, &ver) != TR_OK || ver != n->version)
        store_alarm(st, "record_format", t->name, n->key, n->key_len);
    return TR_OK;
}

/* Merge-walk up to SCRUB_CHUNK keys of the LMDB table and the index after p->last. */
static int scrub_chunk(struct store *st, const struct store_table *t, MDB_txn *txn,
                       struct scrub_pos *p)
{
    static const uint8_t none[1];
    MDB_cursor *cur = NULL;
    MDB_val k = {p->last_len, p->last}, v;
    struct idx_node *n;
    int mrc, rc = TR_OK;

    if ((mrc = mdb_cursor_open(txn, t->dbi, &cur)) != 0)
        return scrub_mdb_err(st, mrc, t->name);
    if (!p->started) {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        n = idx_lower_bound(&t->idx, none, 0, false);
    } else {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc == 0 && store_key_cmp(k.mv_data, k.mv_size, p->last, p->last_len) == 0)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        n = idx_lower_bound(&t->idx, p->last, p->last_len, true);
    }
    p->started = true;
    for (int steps = 0; steps < SCRUB_CHUNK && rc == TR_OK; steps++) {
        int c;
        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = scrub_mdb_err(st, mrc, t->name);
            break;
        }
        if (mrc != 0 && !n) {
            p->done = true;
            break;
        }
        if (mrc == 0 && (k.mv_size == 0 || k.mv_size > STORE_KEY_MAX)) {
            store_alarm(st, "record_format", t->name, NULL, 0);
            p->done = true;
            break;
        }
        c = mrc != 0 ? 1 : !n ? -1 : store_key_cmp(k.mv_data, k.mv_size, n->key, n->key_len);
        if (c <= 0)
            pos_set(p, k.mv_data, k.mv_size);
        else
            pos_set(p, n->key, n->key_len);
        if (c == 0 && !n->pending)
            rc = scrub_check(st, t, n, &v, p);
        else if (c < 0)
            store_alarm(st, "unindexed", t->name, p->last, p->last_len);
        else if (c > 0 && !n->pending && n->live)
            store_alarm(st, "missing", t->name, n->key, n->key_len);
        if (c <= 0)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        if (c >= 0)
            n = idx_lower_bound(&t->idx, p->last, p->last_len, true);
    }
    mdb_cursor_close(cur);
    return rc;
}

static int scrub_table(struct store *st, size_t ti)
{
    struct scrub_pos *p = calloc(1, sizeof(*p));
    int mrc = 0, rc = TR_OK, adopted = 0;

    if (!p)
        return TR_E_NOMEM;
    while (!p->done && rc == TR_OK) {
        MDB_txn *txn = NULL;
        tr_brlock_rdlock(&st->env_lock);
        tr_brlock_rdlock(&st->idx_lock);
        if ((mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0) {
            rc = scrub_mdb_err(st, mrc, st->tables[ti].name);
        } else {
            rc = scrub_chunk(st, &st->tables[ti], txn, p);
            mdb_txn_abort(txn);
        }
        tr_brlock_rdunlock(&st->idx_lock);
        tr_brlock_rdunlock(&st->env_lock);
        if (mrc == MDB_MAP_RESIZED && adopted++ == 0 && store_map_grow(st, true) == TR_OK)
            rc = TR_OK; /* the file grew under us: adopt its size, once, and go on */
    }
    free(p->buf);
    free(p);
    return rc;
}

/* The table names in LMDB's main database; returns the LMDB code that ended the walk. */
static int scrub_names(struct store *st, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_dbi main_dbi;
    MDB_val k, v;
    char name[STORE_TABLE_NAME_MAX + 1];
    int mrc;

    if ((mrc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
        (mrc = mdb_cursor_open(txn, main_dbi, &cur)) != 0)
        return mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        bool ok =
            k.mv_size > 0 && k.mv_size <= STORE_TABLE_NAME_MAX && !memchr(k.mv_data, 0, k.mv_size);
        if (ok) {
            memcpy(name, k.mv_data, k.mv_size);
            name[k.mv_size] = 0;
            ok = strcmp(name, STORE_META_NAME) == 0 || store_table_find(st, name) >= 0 ||
                 strcmp(name, st->pend_table) == 0; /* being created (writer.c) */
        }
        if (!ok)
            store_alarm(st, "unknown_table", NULL, NULL, 0);
    }
    mdb_cursor_close(cur);
    return mrc == MDB_NOTFOUND ? 0 : mrc;
}

/* The meta table holds the published anchor and nothing else; returns the LMDB code that
 * ended the walk. */
static int scrub_anchor(struct store *st, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int seen = 0, mrc;

    if ((mrc = mdb_cursor_open(txn, st->meta_dbi, &cur)) != 0)
        return mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        bool is_anchor = k.mv_size == strlen(STORE_ANCHOR_KEY) &&
                         memcmp(k.mv_data, STORE_ANCHOR_KEY, k.mv_size) == 0;
        uint8_t copy[STORE_ANCHOR_LEN];
        if (!is_anchor) {
            store_alarm(st, "meta_entry", STORE_META_NAME, NULL, 0);
            continue;
        }
        seen++;
        if (v.mv_size != STORE_ANCHOR_LEN) {
            store_alarm(st, "anchor_changed", STORE_META_NAME, NULL, 0);
            continue;
        }
        memcpy(copy, v.mv_data, STORE_ANCHOR_LEN);
        if (sodium_memcmp(copy, st->anchor_raw, STORE_ANCHOR_LEN) != 0 &&
            !(st->inflight && sodium_memcmp(copy, st->pend_anchor_raw, STORE_ANCHOR_LEN) == 0))
            store_alarm(st, "anchor_changed", STORE_META_NAME, NULL, 0);
    }
    if (!seen)
        store_alarm(st, "anchor_changed", STORE_META_NAME, NULL, 0);
    mdb_cursor_close(cur);
    return mrc == MDB_NOTFOUND ? 0 : mrc;
}

static int scrub_meta(struct store *st)
{
    MDB_txn *txn = NULL;
    int mrc, arc = 0;

    tr_brlock_rdlock(&st->env_lock);
    tr_brlock_rdlock(&st->idx_lock);
    if ((mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) == 0) {
        mrc = scrub_names(st, txn);
        arc = scrub_anchor(st, txn);
        mdb_txn_abort(txn);
    }
    tr_brlock_rdunlock(&st->idx_lock);
    tr_brlock_rdunlock(&st->env_lock);
    return scrub_mdb_err(st, mrc ? mrc : arc, mrc ? "" : STORE_META_NAME);
}

int store_scrub(struct store *st)
{
    uint64_t before;
    size_t nt;
    int rc;

    if (!st)
        return TR_E_INVAL;
    before = atomic_load(&st->n_alarms);
    rc = scrub_meta(st);
    tr_brlock_rdlock(&st->idx_lock);
    nt = st->ntables; /* tables are only ever added, so indexes below nt stay valid */
    tr_brlock_rdunlock(&st->idx_lock);
    for (size_t i = 0; i < nt && rc == TR_OK; i++)
        rc = scrub_table(st, i);
    atomic_fetch_add(&st->n_scrubs, 1);
    if (rc == TR_OK && atomic_load(&st->n_alarms) != before)
        rc = TR_E_TAMPER;
    return rc;
}

static void *scrub_main(void *arg)
{
    struct store *st = arg;

    pthread_mutex_lock(&st->s_mu);
    while (!st->s_stop) {
        uint64_t due = store_now_ms() + st->opts.scrub_interval_ms;
        struct timespec ts = {(time_t)(due / 1000), (long)(due % 1000) * 1000000L};
        int rc;

        while (!st->s_stop && store_now_ms() < due)
            pthread_cond_timedwait(&st->s_cond, &st->s_mu, &ts);
        if (st->s_stop)
            break;
        pthread_mutex_unlock(&st->s_mu);
        if ((rc = store_scrub(st)) != TR_OK)
            tr_log_error("scrub of %s: %s", st->path, tr_err_name(rc));
        pthread_mutex_lock(&st->s_mu);
    }
    pthread_mutex_unlock(&st->s_mu);
    return NULL;
}

int store_scrub_start(struct store *st)
{
    if (!st->opts.scrub_interval_ms)
        return TR_OK;
    if (pthread_create(&st->scrubber, NULL, scrub_main, st) != 0)
        return TR_E_NOMEM;
    st->scrub_started = true;
    return TR_OK;
}

void store_scrub_stop(struct store *st)
{
    if (!st->scrub_started)
        return;
    pthread_mutex_lock(&st->s_mu);
    st->s_stop = true;
    pthread_cond_broadcast(&st->s_cond);
    pthread_mutex_unlock(&st->s_mu);
    pthread_join(st->scrubber, NULL);
    st->scrub_started = false;
}
