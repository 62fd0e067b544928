/*
 * store - Tresor's storage engine: generic tables of AEAD records in LMDB, anchored to the
 * trusted core's monotonic counter, verified on every read.
 *
 * What it is for: the API layer keeps every security-relevant item (secret versions, KV
 * metadata, tokens, policies, mounts, leases, audit head) in named tables of byte-string keys.
 * The engine knows nothing about HTTP, JSON, Vault paths or tokens; it stores opaque values.
 *
 * Guarantees (see docs: design §4, freshness B):
 *  - Each value is one record sealed by the core (enc_record_seal) with associated data that
 *    binds db_uuid, table, key, record version and flags: no forgery, no swapping between keys.
 *  - Every commit (a batch of write requests) also writes an anchor record in the same LMDB
 *    transaction: counter value c+1, commit sequence, epoch, keyed multiset digest and count of
 *    all records, hash of the previous anchor, reason, MAC (enc_mac ENC_MAC_ANCHOR). Order per
 *    batch: durable LMDB commit -> enc_counter_increment -> publish -> acknowledge. One counter
 *    increment per batch, never per request.
 *  - store_open accepts the on-disk state only if the anchor MAC verifies, its counter value is
 *    T or T+1 (T = enc_counter_read) and the records' digest and count match the anchor; then it
 *    commits an epoch-open anchor (increment) before serving. Otherwise it refuses with
 *    TR_E_ROLLBACK or TR_E_TAMPER, seals the core with that reason and records evidence
 *    (store_evidence). Only store_recover_reanchor, authorised by the caller with the recovery
 *    quorum, accepts such a state; there is no flag or environment variable that skips a check.
 *  - While running, an in-memory verified index (table, key) -> (version, record hash) is the
 *    truth: every read copies the record out of the LMDB map and checks it against the index
 *    before opening it. A record on disk but not indexed, or indexed but absent, is an alarm
 *    (TR_E_TAMPER, logged, counted, evidence), never a silent not-found.
 *
 * Verbs and call order:
 *   enc_init + unseal -> store_open -> { store_get, store_stat, store_list, store_write[_async],
 *   store_rotate, store_scrub, store_backup, store_stats_get } -> store_close.
 *   After TR_E_ROLLBACK/TR_E_TAMPER: enc_recovery_submit (quorum) -> store_recover_reanchor ->
 *   store_open. store_evidence may be called at any time.
 *
 * Thread-safety: one struct store may be used from any number of threads at once, except that
 * store_close must not race with any other call on the same store. Reads run concurrently (LMDB
 * read transactions with MDB_NOTLS, a reader-writer lock on the index). All writes go through
 * one writer thread per store; completion callbacks run on that thread.
 *
 * Scrub: with opts.scrub_interval_ms > 0, store_open starts a background thread that runs
 * store_scrub at that interval; with 0 the server is expected to call store_scrub on its own
 * timer. Either way, results go to the log, store_stats_get and store_evidence.
 *
 * Runtime alarms (a read or scrub finding) do not seal the core: every other key is still
 * verified on its own, and the next store_open refuses the changed state anyway. The caller
 * decides (store_stats_get.alarms, store_evidence). If the core is sealed while a store is open,
 * reads fail with TR_E_SEALED; after the next unseal, close and reopen the store (a batch caught
 * between commit and increment is completed by that open).
 *
 * Never knows: HTTP, tokens, plaintext outside the enc_secret buffers the caller provides or
 * receives, key material (all crypto is done by the core through enclave.h).
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tr_err.h"
#include "../enclave/enclave.h"

/* ---- Limits -------------------------------------------------------------------------------- */
#define STORE_PATH_MAX       4000 /* data directory path bytes */
#define STORE_TABLE_NAME_MAX 31   /* table names: 1..31 bytes of [a-z0-9_.-], not starting '_' */
#define STORE_TABLES_MAX     32   /* distinct tables per store */
#define STORE_KEY_MAX        511  /* key bytes (LMDB's key size limit); keys are 1..511 bytes */
#define STORE_REC_HDR        12   /* stored value = 12-byte header || core record */
#define STORE_VALUE_MAX      (ENC_RECORD_MAX - ENC_RECORD_OVERHEAD) /* plaintext bytes */
#define STORE_OPS_MAX        1024                                   /* ops per write request */
#define STORE_LIST_MAX       10000 /* entries per store_list call */

/* Expected-version preconditions (struct store_op.expect_version). Real versions are >= 1. */
#define STORE_VERSION_ANY    UINT64_MAX /* no precondition */
#define STORE_VERSION_ABSENT 0          /* the key must not exist */

struct store;

struct store_opts {
    const char *path;           /* data directory; created 0700 if missing; borrowed during open */
    uint64_t map_size_initial;  /* LMDB map bytes at open; 0 = 64 MiB */
    uint64_t map_size_max;      /* the map doubles on MDB_MAP_FULL up to this; 0 = 64 GiB */
    uint32_t min_interval_ms;   /* minimum time between counter increments (slow TPMs); 0 = none */
    uint32_t batch_max_ops;     /* ops per group commit; 0 = 4096 */
    uint32_t scrub_interval_ms; /* background scrub period; 0 = no thread (call store_scrub) */
    /* Create a new, empty store when the directory holds none. Set it only right after the core
     * was initialised (sys/init, -dev first start): an initialised core with an empty data
     * directory is otherwise reported as a rollback (someone deleted the store). */
    bool allow_create;
};

enum store_op_kind { STORE_OP_PUT = 1, STORE_OP_DEL = 2 };

/*
 * One operation of a write request. A request's ops are applied atomically and in order; each
 * op's precondition is checked against the state left by everything before it (earlier requests
 * of the same batch and earlier ops of the same request). Deleting an absent key is a no-op
 * unless a precondition says otherwise.
 */
struct store_op {
    enum store_op_kind kind;
    const char *table;  /* borrowed; copied by the submit call */
    const uint8_t *key; /* 1..STORE_KEY_MAX bytes; borrowed; copied by the submit call */
    size_t key_len;
    const uint8_t *val;      /* PUT: borrowed until the completion callback has returned */
    size_t val_len;          /* PUT: 0..STORE_VALUE_MAX */
    uint64_t expect_version; /* STORE_VERSION_ANY, STORE_VERSION_ABSENT or the exact version */
};

struct store_result {
    int rc;           /* TR_OK or the request's error */
    uint64_t version; /* TR_OK: version of every record the request wrote (its commit sequence) */
    uint64_t counter; /* TR_OK: counter value of the anchored state that contains the request */
    size_t failed_op; /* TR_E_CAS: index of the first op whose precondition failed */
};

/* Completion callback: runs on the store's writer thread, exactly once per accepted request.
 * It must not block for long and must not call store_write, store_rotate or store_close; it may
 * call store_write_async and the read functions. res is valid only during the call. */
typedef void (*store_write_cb)(void *arg, const struct store_result *res);

/* Evidence of the last rollback/tamper verdict in this process (startup or runtime). */
struct store_evidence {
    int verdict;   /* TR_OK (none since the last successful open), TR_E_ROLLBACK, TR_E_TAMPER */
    char what[32]; /* fixed cause name: anchor_older, anchor_newer, anchor_mac,
                         * anchor_missing, store_missing, digest, record_format, unknown_table,
                         * meta_entry, counter_moved, unindexed, missing, record_hash,
                         * record_auth, anchor_changed, lmdb_structure (LMDB itself
                         * found the file malformed) */
    char table[STORE_TABLE_NAME_MAX + 1]; /* table of a record-level finding, else "" */
    uint64_t counter;                     /* T, the counter value read for the verdict */
    uint64_t anchor_counter;              /* c from the anchor (0 when none or not authentic) */
    uint64_t anchor_epoch;
    uint64_t anchor_seq;
    uint64_t count_expected;    /* records according to the anchor / index */
    uint64_t count_actual;      /* records found on disk */
    uint8_t digest_expected[8]; /* first bytes of the anchored digest */
    uint8_t digest_actual[8];   /* first bytes of the digest recomputed from disk */
    uint64_t alarms;            /* runtime alarms in this process so far */
    int64_t time;               /* wall clock of the verdict (informational, untrusted) */
};

struct store_stats {
    uint64_t counter; /* anchored counter value (== the core's counter when healthy) */
    uint64_t seq;     /* last commit sequence = highest record version */
    uint64_t epoch;
    uint64_t records;
    uint32_t key_id; /* active record key id (anchored) */
    uint64_t batches, writes, increments, alarms, scrubs;
    uint64_t map_size;
    bool completed_increment; /* open found c == T+1 and completed the interrupted increment */
    int fail_rc;              /* TR_OK, or why writes are refused (counter failure, tamper) */
};

/* A listing result. key pointers point into the same allocation; free with store_list_free. */
struct store_list_entry {
    const uint8_t *key;
    size_t key_len;
    uint64_t version; /* 0 for a folded folder entry */
    bool is_folder;
};

struct store_list {
    size_t n;
    bool truncated; /* more entries follow: call again with start_after = last key */
    struct store_list_entry *e;
};

struct store_list_opts {
    const uint8_t *prefix; /* only keys starting with prefix (may be NULL/0: all keys) */
    size_t prefix_len;
    const uint8_t *start_after; /* pagination: entries strictly after this key (NULL: none) */
    size_t start_after_len;
    size_t limit; /* 1..STORE_LIST_MAX; 0 = STORE_LIST_MAX */
    /* fold: return only immediate children of prefix. A key with a '/' after the prefix is
     * reported once as its folder "prefix + name/" (is_folder, version 0); start_after naming
     * a folder skips the whole folder. Without fold, raw ordered keys are returned. */
    bool fold;
};

/* ---- Open / close ----------------------------------------------------------------------- */

/*
 * store_open - open (or with allow_create, create) the store in opts->path and verify it.
 * Pre: the core is UNSEALED (else TR_E_SEALED).
 * Out: *out, owned by the caller (store_close); NULL on failure.
 * Errors: TR_E_INVAL (opts), TR_E_BUSY (another store holds path/tresor.lock), TR_E_SEALED,
 *   TR_E_COUNTER/TR_E_TPM (counter), TR_E_ROLLBACK (state older than the counter, or an empty
 *   store without allow_create), TR_E_TAMPER (anchor MAC, digest/count, foreign tables or
 *   malformed records, anchor counter > T+1: the counter went back or was replaced),
 *   TR_E_IO, TR_E_NOSPACE, TR_E_NOMEM.
 * Side effects: on TR_E_ROLLBACK/TR_E_TAMPER calls enc_seal(ENC_REASON_ROLLBACK/TAMPER) and
 *   records evidence. On success: when c == T+1 one increment completes the interrupted batch;
 *   then one epoch-open commit + increment. Reads TR_FAULT once (crash tests only: names a
 *   step at which the process _exit(77)s: after_commit, after_increment, before_ack,
 *   open_after_commit; it never skips a check).
 */
TR_MUST_CHECK int store_open(const struct store_opts *opts, struct store **out);

/* store_close - finish queued writes, stop the threads, close LMDB and release the lock.
 * NULL-safe. Must not be called from a completion callback. */
void store_close(struct store *st);

/* ---- Reads -------------------------------------------------------------------------------- */

/*
 * store_get - read, verify and open one record.
 * In: table, key/key_len (borrowed). Out: *out_val, a guarded buffer owned by the caller
 *   (enc_secret_free); *out_version (may be NULL). Both untouched on failure (*out_val NULL).
 * Errors: TR_E_INVAL, TR_E_NOTFOUND, TR_E_TAMPER (record changed, missing, unindexed; the
 *   caller never receives another key's value), TR_E_SEALED, TR_E_NOMEM, TR_E_BUSY (too many
 *   readers), TR_E_IO, or the store's fail_rc for a key of a batch that could not be anchored.
 * A key written by a batch that is committed but not yet anchored waits for that batch.
 */
TR_MUST_CHECK int store_get(struct store *st, const char *table, const uint8_t *key, size_t key_len,
                            struct enc_secret **out_val, uint64_t *out_version);

/* store_stat - current version of a key from the verified index (no disk access).
 * Errors: TR_E_INVAL, TR_E_NOTFOUND. */
TR_MUST_CHECK int store_stat(struct store *st, const char *table, const uint8_t *key,
                             size_t key_len, uint64_t *out_version);

/* store_list - ordered keys of table from the verified index (never from LMDB).
 * Out: *out owned by the caller (store_list_free). Errors: TR_E_INVAL, TR_E_NOMEM. */
TR_MUST_CHECK int store_list(struct store *st, const char *table,
                             const struct store_list_opts *opts, struct store_list **out);
void store_list_free(struct store_list *l);

/* ---- Writes ------------------------------------------------------------------------------- */

/*
 * store_write_async - queue one atomic request of n ops for the writer thread.
 * In: ops[0..n) (1 <= n <= STORE_OPS_MAX); tables and keys are copied; values stay borrowed
 *   until cb has returned. cb(arg, res) runs on the writer thread exactly once when this
 *   returns TR_OK, never otherwise. Never blocks on I/O.
 * Errors (synchronous): TR_E_INVAL, TR_E_TOO_LARGE, TR_E_NOMEM, TR_E_STATE (closing), or the
 *   store's fail_rc. Errors in res->rc: TR_E_CAS (precondition, nothing applied), TR_E_NOSPACE
 *   (map/disk full, nothing applied, the store stays usable), TR_E_LIMIT (too many tables),
 *   TR_E_SEALED, TR_E_IO, TR_E_COUNTER/TR_E_TPM (committed, and the counter could neither be
 *   incremented nor read: the store refuses further writes until reopened), TR_E_TAMPER (the
 *   counter moved behind the store's back: the core is sealed).
 */
TR_MUST_CHECK int store_write_async(struct store *st, const struct store_op *ops, size_t n,
                                    store_write_cb cb, void *arg);

/* store_write - blocking wrapper of store_write_async for tests and tools (never call it on a
 * libevent thread or from a completion callback: TR_E_STATE). out_res may be NULL.
 * Returns res.rc (or the synchronous error). */
TR_MUST_CHECK int store_write(struct store *st, const struct store_op *ops, size_t n,
                              struct store_result *out_res);

/* store_put / store_del - one-op blocking conveniences. */
TR_MUST_CHECK int store_put(struct store *st, const char *table, const uint8_t *key, size_t key_len,
                            const uint8_t *val, size_t val_len, uint64_t expect_version,
                            uint64_t *out_version);
TR_MUST_CHECK int store_del(struct store *st, const char *table, const uint8_t *key, size_t key_len,
                            uint64_t expect_version);

/*
 * store_rotate - make a new record key id active (enc_keyring_set_active(old + 1)) and anchor
 * it; later records use it, older ones stay readable. Blocking; same context rules as
 * store_write. Out: *out_key_id (may be NULL). Errors: as store_write, TR_E_INVAL at the last id.
 */
TR_MUST_CHECK int store_rotate(struct store *st, uint32_t *out_key_id);

/* ---- Verification, maintenance, evidence -------------------------------------------------- */

/*
 * store_scrub - re-verify every record on disk against the index (version and record hash),
 * the set of keys in both directions, the table list and the anchor bytes. Runs in chunks so
 * writers are held up at most one chunk. Errors: TR_E_TAMPER (at least one alarm raised;
 * details in the log and store_evidence), TR_E_SEALED, TR_E_IO, TR_E_BUSY.
 */
TR_MUST_CHECK int store_scrub(struct store *st);

/*
 * store_backup - consistent snapshot (mdb_env_copyfd2, compacted) into the new file dest_path
 * (created 0600, must not exist), including the anchor. While it runs, a map growth waits
 * for it: from the first write that needs a larger map, writes stall until the backup ends
 * (one writer thread); reads proceed. Restoring it (as data.mdb in an empty
 * data directory) is a rollback by definition once anything was written after the backup:
 * store_open reports TR_E_ROLLBACK and the operator must run the recovery re-anchor
 * (store_recover_reanchor, authorised by the recovery quorum). Errors: TR_E_INVAL,
 * TR_E_EXISTS, TR_E_IO, TR_E_NOSPACE.
 */
TR_MUST_CHECK int store_backup(struct store *st, const char *dest_path);

/*
 * store_recover_reanchor - accept the current on-disk state after a rollback/tamper verdict or
 * a restore: rebuild the index, AEAD-open every record (any failure: TR_E_TAMPER, nothing
 * written), then commit an anchor {c = T+1, epoch + 1, reason recovery, prev = old anchor hash}
 * and increment the counter. The store must be closed (else TR_E_BUSY). The caller authorises
 * this with the recovery quorum (enc_recovery_submit) and audits it before calling; the core
 * must be UNSEALED. Needs an authentic anchor (any age) for the store's identity; a directory
 * without anchor and without records is created afresh; records without an anchor cannot be
 * recovered (TR_E_TAMPER: restore a backup first). Then call store_open.
 * Errors: TR_E_INVAL, TR_E_BUSY, TR_E_SEALED, TR_E_TAMPER, TR_E_COUNTER, TR_E_IO, TR_E_NOMEM,
 * TR_E_NOSPACE.
 */
TR_MUST_CHECK int store_recover_reanchor(const struct store_opts *opts);

/* store_evidence - copy the process-wide evidence of the last verdict. Any time, any thread. */
void store_evidence(struct store_evidence *out);

/* store_stats_get - copy counters and the anchored state. */
void store_stats_get(struct store *st, struct store_stats *out);

#endif
