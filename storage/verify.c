/*
 * verify.c - startup verification and the recovery re-anchor (see store.c for the order).
 *
 * Startup (freshness B.5), in this order, before any thread starts:
 *   1. take path/tresor.lock (flock, non-blocking): a second server on the directory fails;
 *   2. open LMDB with durable defaults, clear stale reader slots (mdb_reader_check);
 *   3. T = enc_counter_read; load the table list and the anchor; verify the anchor's MAC;
 *   4. accept only c == T or c == T+1 (c < T: rollback; c > T+1: the counter went backwards or
 *      was replaced, which only a TPM/counter-file attacker can do: reported as tamper);
 *   5. scan every record (copied out of the map), rebuild the index, recompute digest and
 *      count, compare with the anchor;
 *   6. c == T+1: the previous process died between commit and increment: increment once;
 *   7. epoch-open: commit anchor {c+1, epoch+1} and increment, so an orphaned state that was
 *      committed but never anchored can never again be accepted once anything new is acked.
 * A fresh directory (no anchor, no records) becomes a new store only with allow_create.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/tr_log.h"
#include "store_int.h"

struct scan_ctx {
    bool open_all; /* recovery: AEAD-open every record too */
    uint8_t digest[STORE_HASH_BYTES];
    uint64_t count;
    uint64_t max_version;
    uint8_t *buf;
    size_t cap;
};

static int ev_fail(struct store_evidence *ev, int rc, const char *what)
{
    snprintf(ev->what, sizeof(ev->what), "%s", what);
    return rc;
}

static int put_anchor_fn(struct store *st, MDB_txn *txn, void *arg)
{
    MDB_val k = {strlen(STORE_ANCHOR_KEY), STORE_ANCHOR_KEY};
    MDB_val v = {STORE_ANCHOR_LEN, arg};
    int mrc;

    if (!st->have_meta && (mrc = mdb_dbi_open(txn, STORE_META_NAME, MDB_CREATE, &st->meta_dbi)))
        return mrc;
    return mdb_put(txn, st->meta_dbi, &k, &v, 0);
}

/* ---- startup: tables, anchor, scan -------------------------------------------------------- */

static int table_register(struct store *st, MDB_txn *txn, const MDB_val *k,
                          struct store_evidence *ev)
{
    char name[STORE_TABLE_NAME_MAX + 1];
    unsigned fl = 0;
    MDB_dbi dbi;
    bool meta;

    if (k->mv_size == 0 || k->mv_size > STORE_TABLE_NAME_MAX || memchr(k->mv_data, 0, k->mv_size))
        return ev_fail(ev, TR_E_TAMPER, "unknown_table");
    memcpy(name, k->mv_data, k->mv_size);
    name[k->mv_size] = 0;
    meta = strcmp(name, STORE_META_NAME) == 0;
    if (!meta && (!store_table_name_ok(name, NULL) || st->ntables == STORE_TABLES_MAX))
        return ev_fail(ev, TR_E_TAMPER, "unknown_table");
    if (mdb_dbi_open(txn, name, 0, &dbi) != 0 || mdb_dbi_flags(txn, dbi, &fl) != 0 || fl != 0)
        return ev_fail(ev, TR_E_TAMPER, "unknown_table");
    if (meta) {
        st->meta_dbi = dbi;
        st->have_meta = true;
    } else {
        struct store_table *t = &st->tables[st->ntables++];
        memcpy(t->name, name, k->mv_size + 1);
        t->name_len = k->mv_size;
        t->dbi = dbi;
    }
    return TR_OK;
}

/* Every entry of the main DB must be one of our tables. The handles are opened in a read
 * transaction that is committed, which keeps them for the environment's lifetime. */
static int store_tables_load(struct store *st, struct store_evidence *ev)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi main_dbi;
    MDB_val k, v;
    int mrc, rc;

    if ((mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
        return store_mdb_err(mrc, "txn_begin");
    if ((mrc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
        (mrc = mdb_cursor_open(txn, main_dbi, &cur)) != 0) {
        rc = store_mdb_err(mrc, "main db");
        goto out;
    }
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((rc = table_register(st, txn, &k, ev)) != TR_OK)
            goto out;
    }
    if (mrc != MDB_NOTFOUND) {
        rc = store_mdb_err(mrc, "main db");
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    mrc = mdb_txn_commit(txn);
    txn = NULL;
    rc = store_mdb_err(mrc, "txn_commit");
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}

/* The meta table holds exactly one entry: the anchor. */
static int store_anchor_load(struct store *st, bool *out_have, struct store_anchor *a,
                             uint8_t raw[STORE_ANCHOR_LEN], struct store_evidence *ev)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    bool have = false;
    int mrc, rc = TR_OK;

    if (!st->have_meta)
        goto done;
    if ((mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (mrc = mdb_cursor_open(txn, st->meta_dbi, &cur)) != 0) {
        rc = store_mdb_err(mrc, "meta");
        goto out;
    }
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != strlen(STORE_ANCHOR_KEY) ||
            memcmp(k.mv_data, STORE_ANCHOR_KEY, k.mv_size) != 0) {
            rc = ev_fail(ev, TR_E_TAMPER, "meta_entry");
            goto out;
        }
        if (v.mv_size != STORE_ANCHOR_LEN) {
            rc = ev_fail(ev, TR_E_TAMPER, "anchor_mac");
            goto out;
        }
        memcpy(raw, v.mv_data, STORE_ANCHOR_LEN); /* copied out of the map before checking */
        have = true;
    }
    if (mrc != MDB_NOTFOUND) {
        rc = store_mdb_err(mrc, "meta");
        goto out;
    }
done:
    if (have && (rc = store_anchor_decode(raw, STORE_ANCHOR_LEN, a)) == TR_E_AUTH)
        rc = ev_fail(ev, TR_E_TAMPER, "anchor_mac");
    if (rc == TR_OK)
        *out_have = have;
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}

static int scan_open_check(const struct store_anchor *a, const char *table, const uint8_t *key,
                           size_t key_len, uint64_t ver, const uint8_t *buf, size_t len,
                           struct store_evidence *ev)
{
    uint8_t ad[STORE_AD_MAX];
    size_t adl;
    struct enc_secret *s = NULL;
    int rc;

    if ((rc = store_ad_build(a->db_uuid, table, key, key_len, ver, 0, ad, &adl)) != TR_OK)
        return rc;
    rc = enc_record_open(ad, adl, buf + STORE_REC_HDR, len - STORE_REC_HDR, &s);
    enc_secret_free(s); /* only the verdict matters here */
    if (rc == TR_E_AUTH) {
        snprintf(ev->table, sizeof(ev->table), "%s", table);
        return ev_fail(ev, TR_E_TAMPER, "record_auth");
    }
    return rc;
}

static int scan_one(struct store *st, struct store_table *t, const struct store_anchor *a,
                    const MDB_val *k, const MDB_val *v, struct scan_ctx *sc,
                    struct store_evidence *ev)
{
    uint8_t key[STORE_KEY_MAX], hash[STORE_HASH_BYTES], elem[STORE_HASH_BYTES];
    struct idx_node *n = NULL;
    uint64_t ver = 0;
    int rc;

    (void)st;
    snprintf(ev->table, sizeof(ev->table), "%s", t->name);
    if (k->mv_size == 0 || k->mv_size > STORE_KEY_MAX || v->mv_size < STORE_STORED_MIN ||
        v->mv_size > STORE_STORED_MAX)
        return ev_fail(ev, TR_E_TAMPER, "record_format");
    if (v->mv_size > sc->cap) {
        uint8_t *nb = realloc(sc->buf, v->mv_size); /* ciphertext only */
        if (!nb)
            return TR_E_NOMEM;
        sc->buf = nb;
        sc->cap = v->mv_size;
    }
    memcpy(key, k->mv_data, k->mv_size);
    memcpy(sc->buf, v->mv_data, v->mv_size);
    if (store_hdr_parse(sc->buf, v->mv_size, &ver) != TR_OK)
        return ev_fail(ev, TR_E_TAMPER, "record_format");
    if ((rc = store_rec_hash(sc->buf, v->mv_size, hash)) != TR_OK ||
        (rc = store_digest_elem(t->name, key, k->mv_size, ver, hash, elem)) != TR_OK)
        return rc;
    if (sc->open_all &&
        (rc = scan_open_check(a, t->name, key, k->mv_size, ver, sc->buf, v->mv_size, ev)) != TR_OK)
        return rc;
    store_digest_add(sc->digest, elem);
    sc->count++;
    if (ver > sc->max_version)
        sc->max_version = ver;
    if ((rc = idx_get_or_add(&t->idx, key, k->mv_size, &n)) != TR_OK)
        return rc;
    n->live = true;
    n->version = ver;
    memcpy(n->hash, hash, STORE_HASH_BYTES);
    memcpy(n->tag, sc->buf + v->mv_size - STORE_TAG_BYTES, STORE_TAG_BYTES);
    idx_slot_sync(&t->idx, n);
    ev->table[0] = 0;
    return TR_OK;
}

/* Rebuild the index from every record, copying each out of the map before hashing it. */
static int store_scan(struct store *st, const struct store_anchor *a, struct scan_ctx *sc,
                      struct store_evidence *ev)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int mrc = 0, rc = TR_OK;

    if ((mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
        return store_mdb_err(mrc, "txn_begin");
    for (size_t i = 0; i < st->ntables && rc == TR_OK; i++) {
        MDB_stat ms;
        /* Sized once instead of doubling ~20 times at 1M records. The entry count comes from
         * the file, so it is capped by the anchor's (MAC'd) record count: a forged count cannot
         * make startup reserve more than the store holds. */
        if (mdb_stat(txn, st->tables[i].dbi, &ms) == 0)
            idx_reserve(&st->tables[i].idx, ms.ms_entries < a->count ? ms.ms_entries : a->count);
        if ((mrc = mdb_cursor_open(txn, st->tables[i].dbi, &cur)) != 0)
            break;
        for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == TR_OK;
             mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            rc = scan_one(st, &st->tables[i], a, &k, &v, sc, ev);
        mdb_cursor_close(cur);
        cur = NULL;
        if (rc == TR_OK && mrc != MDB_NOTFOUND)
            break;
        mrc = 0;
    }
    if (rc == TR_OK && mrc != 0)
        rc = store_mdb_err(mrc, "scan");
    mdb_txn_abort(txn);
    return rc;
}

static bool store_is_empty(struct store *st)
{
    MDB_txn *txn = NULL;
    bool empty = true;

    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
        return false;
    for (size_t i = 0; i < st->ntables && empty; i++) {
        MDB_stat ms;
        if (mdb_stat(txn, st->tables[i].dbi, &ms) != 0 || ms.ms_entries != 0)
            empty = false;
    }
    mdb_txn_abort(txn);
    return empty;
}

/* ---- startup: counter steps and anchors --------------------------------------------------- */

static int store_counter_step(struct store *st, uint64_t expect, struct store_evidence *ev)
{
    uint64_t v = 0;
    int rc;

    if ((rc = enc_counter_increment(&v)) != TR_OK)
        return rc;
    atomic_fetch_add(&st->n_increments, 1);
    if (v != expect) {
        ev->counter = v;
        ev->anchor_counter = expect;
        return ev_fail(ev, TR_E_TAMPER, "counter_moved");
    }
    return TR_OK;
}

/* Commit the successor of the current anchor (epoch-open, recovery) and increment. */
static int store_anchor_step(struct store *st, struct store_anchor *n, struct store_evidence *ev)
{
    uint8_t raw[STORE_ANCHOR_LEN];
    int rc;

    if ((rc = store_anchor_encode(n, raw)) != TR_OK ||
        (rc = store_txn_run(st, put_anchor_fn, raw)) != TR_OK)
        return rc;
    st->have_meta = true;
    if (n->reason == STORE_REASON_EPOCH_OPEN)
        store_fault_hit(st, STORE_FAULT_OPEN_AFTER_COMMIT);
    if ((rc = store_counter_step(st, n->counter, ev)) != TR_OK)
        return rc;
    st->anchor = *n;
    memcpy(st->anchor_raw, raw, STORE_ANCHOR_LEN);
    memcpy(st->db_uuid, n->db_uuid, STORE_UUID_BYTES);
    return TR_OK;
}

static int store_epoch_open(struct store *st, struct store_evidence *ev)
{
    struct store_anchor n;

    store_anchor_next(&st->anchor, st->anchor_raw, STORE_REASON_EPOCH_OPEN, &n);
    n.epoch++;
    return store_anchor_step(st, &n, ev);
}

static int store_create(struct store *st, uint64_t T, struct store_evidence *ev)
{
    struct enc_status es;
    struct store_anchor a;
    int rc;

    memset(&a, 0, sizeof(a));
    enc_status_get(&es);
    randombytes_buf(a.db_uuid, sizeof(a.db_uuid));
    a.counter = T + 1;
    a.key_id = es.record_key_id ? es.record_key_id : 1;
    a.reason = STORE_REASON_INIT;
    a.wall_time = (uint64_t)time(NULL);
    if ((rc = enc_keyring_set_active(a.key_id)) != TR_OK ||
        (rc = store_anchor_step(st, &a, ev)) != TR_OK)
        return rc;
    tr_log_info("created a new store in %s", st->path);
    return TR_OK;
}

int store_startup(struct store *st, struct store_evidence *ev)
{
    struct scan_ctx sc;
    struct store_anchor a;
    uint8_t raw[STORE_ANCHOR_LEN];
    bool have = false;
    uint64_t T = 0;
    int rc;

    memset(&sc, 0, sizeof(sc));
    if ((rc = enc_counter_read(&T)) != TR_OK)
        goto out;
    ev->counter = T;
    if ((rc = store_tables_load(st, ev)) != TR_OK ||
        (rc = store_anchor_load(st, &have, &a, raw, ev)) != TR_OK)
        goto out;
    if (!have) {
        if (!store_is_empty(st))
            rc = ev_fail(ev, TR_E_TAMPER, "anchor_missing");
        else if (!st->opts.allow_create)
            rc = ev_fail(ev, TR_E_ROLLBACK, "store_missing");
        else if ((rc = store_create(st, T, ev)) == TR_OK)
            rc = store_epoch_open(st, ev);
        goto out;
    }
    ev->anchor_counter = a.counter;
    ev->anchor_epoch = a.epoch;
    ev->anchor_seq = a.seq;
    ev->count_expected = a.count;
    memcpy(ev->digest_expected, a.digest, sizeof(ev->digest_expected));
    if (a.counter < T) {
        rc = ev_fail(ev, TR_E_ROLLBACK, "anchor_older");
        goto out;
    }
    if (a.counter - T > 1) {
        rc = ev_fail(ev, TR_E_TAMPER, "anchor_newer");
        goto out;
    }
    if ((rc = store_scan(st, &a, &sc, ev)) != TR_OK)
        goto out;
    ev->count_actual = sc.count;
    memcpy(ev->digest_actual, sc.digest, sizeof(ev->digest_actual));
    if (sc.count != a.count || sodium_memcmp(sc.digest, a.digest, STORE_HASH_BYTES) != 0) {
        rc = ev_fail(ev, TR_E_TAMPER, "digest");
        goto out;
    }
    st->anchor = a;
    memcpy(st->anchor_raw, raw, STORE_ANCHOR_LEN);
    if ((rc = enc_keyring_set_active(a.key_id)) != TR_OK)
        goto out;
    if (a.counter == T + 1) {
        /* the previous process died between commit and increment: finish its increment */
        if ((rc = store_counter_step(st, a.counter, ev)) != TR_OK)
            goto out;
        st->completed_increment = true;
        tr_log_warn("completed an interrupted counter increment (counter %llu)",
                    (unsigned long long)a.counter);
    }
    rc = store_epoch_open(st, ev);
out:
    free(sc.buf);
    return rc;
}

int store_recover_locked(struct store *st, struct store_evidence *ev)
{
    struct scan_ctx sc;
    struct store_anchor a, n;
    uint8_t raw[STORE_ANCHOR_LEN];
    bool have = false;
    uint64_t T = 0;
    int rc;

    memset(&sc, 0, sizeof(sc));
    sc.open_all = true;
    if ((rc = enc_counter_read(&T)) != TR_OK)
        goto out;
    ev->counter = T;
    if ((rc = store_tables_load(st, ev)) != TR_OK ||
        (rc = store_anchor_load(st, &have, &a, raw, ev)) != TR_OK)
        goto out;
    if (!have) {
        /* without an authentic anchor there is no db_uuid to open records with */
        rc = store_is_empty(st) ? store_create(st, T, ev)
                                : ev_fail(ev, TR_E_TAMPER, "anchor_missing");
        goto out;
    }
    ev->anchor_counter = a.counter;
    if ((rc = enc_keyring_set_active(a.key_id)) != TR_OK ||
        (rc = store_scan(st, &a, &sc, ev)) != TR_OK)
        goto out;
    st->anchor = a;
    memcpy(st->anchor_raw, raw, STORE_ANCHOR_LEN);
    store_anchor_next(&a, raw, STORE_REASON_RECOVERY, &n);
    n.counter = T + 1;
    n.seq = sc.max_version > a.seq ? sc.max_version : a.seq; /* versions stay unique */
    n.epoch = a.epoch + 1;
    n.count = sc.count;
    memcpy(n.digest, sc.digest, STORE_HASH_BYTES);
    if ((rc = store_anchor_step(st, &n, ev)) != TR_OK)
        goto out;
    tr_log_warn("store %s re-anchored by recovery: counter %llu (was anchored at %llu), "
                "%llu records",
                st->path, (unsigned long long)n.counter, (unsigned long long)a.counter,
                (unsigned long long)n.count);
out:
    free(sc.buf);
    return rc;
}
