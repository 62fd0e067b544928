/*
 * store_int.h - internals shared by the storage engine's files; nothing outside storage/
 * includes it.
 *
 *   store.c   open/close, recovery entry, backup, evidence, stats, LMDB helpers
 *   verify.c  startup verification (anchor, counter rule, scan, epoch-open), recovery re-anchor
 *   record.c  on-disk formats: record header, associated data, digest elements, anchor
 *   index.c   the verified index (per table: an AVL tree ordered like LMDB + a hash table)
 *   writer.c  the writer thread: batching, preconditions, group commit, publish
 *   read.c    get, stat, list, scrub
 *
 * Locks (always taken in this order, never the other way round):
 *   map_lock (rwlock)  shared by a backup for its whole copy (its own read transaction);
 *                      exclusive, before env_lock, to change the map size. A growth waits
 *                      for a long backup here, holding no part of env_lock, so reads go on.
 *   env_lock (brlock)  shared by anyone holding any other LMDB transaction: readers, scrub,
 *                      and the writer around each write transaction (from mdb_txn_begin to
 *                      the end of the commit); exclusive only to change the map size
 *                      (mdb_env_set_mapsize requires that no transaction is active in the
 *                      process, and mdb_txn_begin reads the meta pages in the map; the reset
 *                      read transactions read.c keeps for reuse are not active).
 *   idx_lock (brlock)  the tables array, the indexes, the published anchor, inflight.
 *                      Readers hold it shared from the index lookup until their copy of the
 *                      LMDB bytes is taken, so a batch cannot be marked or published between
 *                      the two. Only the writer thread changes what it protects.
 *   pub_mu             pub_gen and pub_cond: readers of pending keys wait here.
 *   q_mu               the writer queue.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "../common/tr_brlock.h"
#include "store.h"

#define STORE_REC_FORMAT  1
#define STORE_STORED_MIN  (STORE_REC_HDR + ENC_RECORD_OVERHEAD)
#define STORE_STORED_MAX  (STORE_REC_HDR + ENC_RECORD_MAX)
#define STORE_HASH_BYTES  32
#define STORE_UUID_BYTES  16
#define STORE_ANCHOR_BODY 136
#define STORE_ANCHOR_LEN  (STORE_ANCHOR_BODY + ENC_MAC_BYTES)
#define STORE_AD_MAX      640
#define STORE_META_NAME   "_meta"
#define STORE_ANCHOR_KEY  "anchor"
#define STORE_READERS_MAX 1022
#define STORE_TAG_BYTES   ENC_RECORD_TAG /* the last bytes of every stored record */
#define STORE_HKEY_BYTES  16             /* crypto_shorthash (SipHash-2-4) key */
#define STORE_RTXN_CACHE  16             /* reset read transactions kept for reuse */

_Static_assert(STORE_AD_MAX <= ENC_AD_MAX, "record AD must fit the core's limit");
_Static_assert(STORE_KEY_MAX + 64 <= STORE_AD_MAX, "AD buffer too small for a key");

enum store_reason {
    STORE_REASON_INIT = 1,       /* first anchor of a new store */
    STORE_REASON_BATCH = 2,      /* group commit of write requests */
    STORE_REASON_EPOCH_OPEN = 3, /* startup: fences off orphaned unacknowledged states */
    STORE_REASON_RECOVERY = 4,   /* quorum-authorised re-anchor of the on-disk state */
    STORE_REASON_REKEY = 5,      /* new active record key id */
};

enum store_fault {
    STORE_FAULT_NONE = 0,
    STORE_FAULT_AFTER_COMMIT,
    STORE_FAULT_AFTER_INCREMENT,
    STORE_FAULT_BEFORE_ACK,
    STORE_FAULT_OPEN_AFTER_COMMIT,
};

struct store_anchor {
    uint8_t db_uuid[STORE_UUID_BYTES];
    uint64_t counter; /* the counter value this state is bound to */
    uint64_t seq;     /* last commit sequence; every record version <= seq */
    uint64_t epoch;   /* +1 per epoch-open and recovery */
    uint64_t count;   /* records in all tables */
    uint8_t digest[STORE_HASH_BYTES];
    uint8_t prev_hash[STORE_HASH_BYTES]; /* BLAKE2b-256 of the previous anchor's bytes */
    uint32_t key_id;                     /* active record key id */
    uint8_t reason;                      /* enum store_reason */
    uint64_t wall_time;                  /* informational only */
};

/* One key of the verified index. live/version/hash/tag: the published state. pending/p_*: the
 * state of the writer's in-flight batch (committed to LMDB or about to be, not yet anchored by
 * the counter). A node that is neither live nor pending does not exist. Each node sits in its
 * table's AVL tree (ordered: listing, scrub) and in one slot of its hash table (point lookups).
 * Nodes never move in memory while they are indexed, so the writer may keep pointers. */
struct idx_node {
    struct idx_node *l, *r; /* AVL tree */
    uint64_t p_version;
    uint8_t hash[STORE_HASH_BYTES], p_hash[STORE_HASH_BYTES];
    uint8_t h; /* AVL height: about 1.44 log2 n, far below 255 */
    bool p_live;
    /* what a read looks at; copied into the node's slot (idx_slot_sync) */
    bool live, pending;
    uint16_t key_len;
    uint64_t version;
    uint8_t tag[STORE_TAG_BYTES]; /* AEAD tag of the published record: the read path's check */
    uint8_t key[];
};

/* A read's fast path looks at the slot only (one cache miss, started before LMDB's lookup):
 * the node's live, pending, version and tag are copied here whenever they change. */
struct idx_slot {
    struct idx_node *n; /* NULL: empty */
    uint64_t hv;        /* idx_hash of n's key */
    uint64_t version;
    uint8_t tag[STORE_TAG_BYTES];
    bool live, pending;
};

/* The verified index of one table: the AVL tree plus an open-addressing hash table over the
 * same nodes, keyed by SipHash under a random per-table key, so chosen key names cannot force
 * collisions. All zero is a valid empty index (the key and slots are made at the first insert). */
struct store_idx {
    struct idx_node *root;
    struct idx_slot *slots;
    size_t nslots, n; /* nslots: 0 or a power of two */
    uint8_t hkey[STORE_HKEY_BYTES];
};

struct store_table {
    char name[STORE_TABLE_NAME_MAX + 1];
    size_t name_len;
    MDB_dbi dbi;
    struct store_idx idx;
};

enum store_req_kind { STORE_REQ_WRITE = 1, STORE_REQ_ROTATE = 2 };

struct store_req {
    struct store_req *next;
    enum store_req_kind kind;
    size_t nops;
    struct store_op *ops; /* points into this allocation, as do the tables and keys */
    store_write_cb cb;
    void *arg;
    struct store_result res;
};

struct store {
    char path[STORE_PATH_MAX + 1];
    struct store_opts opts;            /* opts.path points at path */
    uint8_t db_uuid[STORE_UUID_BYTES]; /* set before any thread starts; never changes */
    int lock_fd;
    MDB_env *env;
    MDB_dbi meta_dbi;
    bool have_meta;
    enum store_fault fault;
    bool locks_ready;

    pthread_rwlock_t map_lock;
    struct tr_brlock env_lock;
    struct tr_brlock idx_lock;
    pthread_mutex_t pub_mu;
    pthread_cond_t pub_cond;
    uint64_t pub_gen; /* pub_mu: bumped at every publish, unmark and failure */

    /* idx_lock */
    struct store_table tables[STORE_TABLES_MAX];
    size_t ntables;
    struct store_anchor anchor; /* published */
    uint8_t anchor_raw[STORE_ANCHOR_LEN];
    uint8_t pend_anchor_raw[STORE_ANCHOR_LEN];
    bool inflight; /* a batch is marked and may be committed but is not published */
    char pend_table[STORE_TABLE_NAME_MAX + 1]; /* a new table, in LMDB before tables[]; or "" */

    /* writer queue (q_mu) */
    pthread_mutex_t q_mu;
    pthread_cond_t q_cond;
    struct store_req *q_head, *q_tail;
    bool stopping;
    bool writer_started;
    pthread_t writer;
    uint64_t last_incr_ms; /* writer thread only */
    bool fence_due; /* writer thread only: a commit failed after its anchor was built (writer.c) */

    /* background scrub (s_mu) */
    pthread_mutex_t s_mu;
    pthread_cond_t s_cond;
    bool s_stop;
    bool scrub_started;
    pthread_t scrubber;

    /* read.c: reset read transactions kept for reuse, NULL = empty slot (lock-free); one
     * cache line each, so readers on different cores do not share one */
    struct {
        _Atomic(MDB_txn *) txn;
        char pad[64 - sizeof(MDB_txn *)];
    } rtxn[STORE_RTXN_CACHE];

    _Atomic int fail_rc; /* != TR_OK: writes refused */
    _Atomic uint64_t n_batches, n_writes, n_increments, n_alarms, n_scrubs, map_size;
    bool completed_increment;
};

/* ---- store.c -------------------------------------------------------------------------------- */
/* store_mdb_err - translate an LMDB/errno code (logged at debug level with what). */
int store_mdb_err(int mrc, const char *what);
/* store_map_grow - double the map (up to opts.map_size_max), or with adopt take over the size
 * another process grew the file to (MDB_MAP_RESIZED). Takes map_lock and env_lock exclusive:
 * the caller must hold no LMDB transaction and none of the store's locks. Errors:
 * TR_E_NOSPACE, TR_E_IO. */
TR_MUST_CHECK int store_map_grow(struct store *st, bool adopt);
/* store_txn_fn - body of a write transaction; returns an LMDB code. */
typedef int (*store_txn_fn)(struct store *st, MDB_txn *txn, void *arg);
/* store_txn_run - run fn in a write txn and commit durably; grows the map on MDB_MAP_FULL up to
 * opts.map_size_max and retries. Errors: TR_E_NOSPACE, TR_E_IO, TR_E_TAMPER, TR_E_NOMEM. */
TR_MUST_CHECK int store_txn_run(struct store *st, store_txn_fn fn, void *arg);
/* store_txn_run_ex - the same; on failure *out_wrote says whether the failed transaction may
 * have put pages into data.mdb (false only when it never began or stopped at a full map: LMDB
 * fails the page allocation before it writes anything). */
TR_MUST_CHECK int store_txn_run_ex(struct store *st, store_txn_fn fn, void *arg, bool *out_wrote);
void store_fault_hit(const struct store *st, enum store_fault f);
/* store_alarm - a runtime tamper finding: count, log, record evidence. */
void store_alarm(struct store *st, const char *what, const char *table, const uint8_t *key,
                 size_t key_len);
void store_evidence_put(const struct store_evidence *ev);
bool store_table_name_ok(const char *name, size_t *out_len);
/* store_table_find - index of the named table or -1. Caller holds idx_lock (or is the writer). */
int store_table_find(const struct store *st, const char *name);
uint64_t store_now_ms(void);
void store_pub_bump(struct store *st);

/* ---- verify.c ------------------------------------------------------------------------------- */
/* store_startup - verify the on-disk state against the counter, rebuild the index, complete an
 * interrupted increment, commit the epoch-open anchor. Fills ev on TR_E_ROLLBACK/TR_E_TAMPER. */
TR_MUST_CHECK int store_startup(struct store *st, struct store_evidence *ev);
/* store_recover_locked - the body of store_recover_reanchor (store locked and open). */
TR_MUST_CHECK int store_recover_locked(struct store *st, struct store_evidence *ev);

/* ---- record.c ------------------------------------------------------------------------------- */
void store_hdr_put(uint8_t hdr[STORE_REC_HDR], uint64_t version, uint8_t flags);
/* store_hdr_parse - Errors: TR_E_INVAL (unknown format, flags or reserved bits, version 0). */
TR_MUST_CHECK int store_hdr_parse(const uint8_t *p, size_t len, uint64_t *out_version);
TR_MUST_CHECK int store_ad_build(const uint8_t uuid[STORE_UUID_BYTES], const char *table,
                                 const uint8_t *key, size_t key_len, uint64_t version,
                                 uint8_t flags, uint8_t out[STORE_AD_MAX], size_t *out_len);
/* store_rec_hash - the index hash of stored bytes: enc_mac(ENC_MAC_INDEX). */
TR_MUST_CHECK int store_rec_hash(const uint8_t *p, size_t len, uint8_t out[STORE_HASH_BYTES]);
/* store_digest_elem - enc_mac(ENC_MAC_DIGEST, "TRDIG1" table key version hash). */
TR_MUST_CHECK int store_digest_elem(const char *table, const uint8_t *key, size_t key_len,
                                    uint64_t version, const uint8_t hash[STORE_HASH_BYTES],
                                    uint8_t out[STORE_HASH_BYTES]);
void store_digest_add(uint8_t d[STORE_HASH_BYTES], const uint8_t e[STORE_HASH_BYTES]);
void store_digest_sub(uint8_t d[STORE_HASH_BYTES], const uint8_t e[STORE_HASH_BYTES]);
/* store_anchor_encode - serialise and MAC. Errors: TR_E_SEALED. */
TR_MUST_CHECK int store_anchor_encode(const struct store_anchor *a, uint8_t out[STORE_ANCHOR_LEN]);
/* store_anchor_decode - parse and verify. Errors: TR_E_AUTH (malformed or MAC), TR_E_SEALED. */
TR_MUST_CHECK int store_anchor_decode(const uint8_t *p, size_t len, struct store_anchor *out);
/* store_anchor_next - the successor of a (counter + 1, prev_hash = H(a_raw), wall time). */
void store_anchor_next(const struct store_anchor *a, const uint8_t a_raw[STORE_ANCHOR_LEN],
                       uint8_t reason, struct store_anchor *out);

/* ---- index.c -------------------------------------------------------------------------------- */
int store_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);
/* idx_find - the node for key or NULL (hash lookup). */
struct idx_node *idx_find(const struct store_idx *ix, const uint8_t *key, size_t len);
/* idx_hash, idx_find_hv - the same in two steps. idx_prefetch - a hint that hv is about to be
 * looked up (a read overlaps the slot's cache miss with LMDB's work). */
uint64_t idx_hash(const struct store_idx *ix, const uint8_t *key, size_t len);
struct idx_node *idx_find_hv(const struct store_idx *ix, uint64_t hv, const uint8_t *key,
                             size_t len);
void idx_prefetch(const struct store_idx *ix, uint64_t hv);
/* idx_slot_hv - the first slot whose hash is hv, or NULL: without comparing keys, so it may
 * belong to another key of the same 64-bit hash (read.c accepts it only when its tag is the
 * stored record's). */
const struct idx_slot *idx_slot_hv(const struct store_idx *ix, uint64_t hv);
/* idx_slot_sync - copy n's live, pending, version and tag into its slot; writers call it after
 * changing any of them (under idx_lock exclusive). */
void idx_slot_sync(struct store_idx *ix, const struct idx_node *n);
/* idx_get_or_add - the node for key, created (not live, not pending) if missing.
 * Errors: TR_E_INVAL (key too long), TR_E_NOMEM (nothing changed). */
TR_MUST_CHECK int idx_get_or_add(struct store_idx *ix, const uint8_t *key, size_t len,
                                 struct idx_node **out);
/* idx_reserve - size the hash table for n keys at once (startup knows how many records each
 * table holds), so the rebuild does not rehash ~log2(n) times. A hint: on failure
 * (TR_E_NOMEM) the index is unchanged and still grows on demand. */
int idx_reserve(struct store_idx *ix, size_t n);
/* idx_remove - unlink and free the node for key (if any). */
void idx_remove(struct store_idx *ix, const uint8_t *key, size_t len);
/* idx_lower_bound - first node with key >= k (strict: > k), or NULL (tree walk). */
struct idx_node *idx_lower_bound(const struct store_idx *ix, const uint8_t *k, size_t kl,
                                 bool strict);
/* idx_free - free every node and the hash table; leaves an empty index. */
void idx_free(struct store_idx *ix);

/* ---- writer.c ------------------------------------------------------------------------------- */
TR_MUST_CHECK int store_writer_start(struct store *st);
void store_writer_stop(struct store *st);
/* store_tables_create_locked - make sure the named table exists (writer/startup only). */
TR_MUST_CHECK int store_table_ensure(struct store *st, const char *name, int *out_idx);

/* ---- read.c --------------------------------------------------------------------------------- */
TR_MUST_CHECK int store_scrub_start(struct store *st);
void store_scrub_stop(struct store *st);
/* store_read_fini - abort the cached read transactions (before the environment closes). */
void store_read_fini(struct store *st);

#endif
