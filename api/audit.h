/*
 * audit - the file audit device: one JSON line per request and per response, sensitive values
 * replaced by keyed MACs, lines hash-chained (format and chain: common/tr_audit.h).
 *
 * Verbs: api_audit_open (starts the device's sync thread), then any number of api_audit_log,
 * api_audit_log_nosync, api_audit_req_log, api_audit_resp_prepare, api_audit_line_queue,
 * api_audit_line_write, api_audit_resp_log, api_audit_wait and api_audit_wait_async from any
 * thread, then api_audit_close once none of those calls is running. api_audit_hash computes the
 * MAC a value would have in the log (Vault's sys/audit-hash), for finding entries about a known
 * token.
 *
 * Requests. The pipeline writes two entries per request, {"request": R} and {"request": R,
 * "response": S}. api_audit_req_new MACs R once, when the request arrives, and jansson serialises
 * it once: both lines embed that text, so the request's MACs and serialisation are not paid
 * twice. api_audit_req_log writes the request line (before the handler runs).
 * api_audit_resp_prepare MACs S and builds the response line outside any lock; then either
 * api_audit_line_queue hands it to the sync thread, which writes every line queued meanwhile
 * with one writev just before its group sync and then calls back (the event-loop path: no
 * write(2) and no lock round for the response in the caller's thread), or api_audit_line_write
 * writes it at once (api_audit_resp_log: both steps).
 *
 * MACs. Vault writes "hmac-sha256:" + hex HMAC-SHA256. Tresor writes
 *   "hmac-blake2b:" + hex of enc_mac(ENC_MAC_AUDIT, value)
 * i.e. a 32-byte keyed BLAKE2b (libsodium crypto_generichash with the core's audit subkey). The
 * prefix says so honestly: tools expecting Vault's exact prefix must be told. The key stays in
 * the trusted core; the same value always gives the same MAC (for one master key), so entries
 * about one token can be correlated without revealing it.
 *
 * What is MAC'd (the rule, at every depth of the entry):
 *   - every string and number leaf under a member named "data" or "auth" (request.data,
 *     response.data, response.auth, the top-level auth block ...), inside arrays and nested
 *     objects too;
 *   - every string and number leaf under a member whose name is, case-insensitively, one of
 *     token, client_token, client_token_accessor, accessor, secret_id, key, keys, keys_base64,
 *     root_token, password, plaintext, ciphertext.
 *   Numbers are MAC'd as their JSON text and become strings (Vault does the same: its decoder
 *   keeps numbers as json.Number strings). Booleans, null and object member names stay clear,
 *   as does everything else: path, operation, mount_type, remote_address, ids, times, errors.
 *   Callers must therefore never put a secret outside those subtrees (for instance in "error").
 *
 * Sealed core. enc_mac fails while the core is sealed, and an entry whose sensitive leaves
 * cannot be MAC'd is refused (TR_E_SEALED), never written in clear and never written with the
 * values dropped. An entry with no sensitive leaf is written as usual. Consequence for the
 * pipeline: requests served while sealed (sys/init, sys/unseal, whose bodies hold shares and
 * whose answers hold the root token) cannot be audited with their data; like Vault, which only
 * starts its audit devices after unseal, the pipeline must not audit them.
 *
 * Durability and fail-closed. A line is written by one write() on an O_APPEND descriptor, in
 * the caller's thread (lines handed over with api_audit_line_queue: by the sync thread, several
 * in one writev()), and becomes durable through the device's sync thread: it repeatedly writes
 * the lines handed over and runs one fdatasync() covering every line written before it started
 * (group sync) whenever somebody waits for a line not yet covered, then releases every waiter
 * whose line it covered. A waiter is either a blocked thread (api_audit_wait, api_audit_log) or
 * a callback (api_audit_wait_async, api_audit_line_queue) so that an event-loop thread can hand a
 * response over and go on serving: the pipeline answers from that callback, so no response leaves
 * before its line is on stable storage, and no event-loop thread ever blocks in fdatasync.
 * api_audit_log_nosync and api_audit_req_log return the line's seq without waiting; a later
 * durable line makes it durable too (the pipeline relies on this for the request line of a
 * read, whose response line is made durable before the answer leaves).
 * Any failure is reported and the caller must not answer the request (503). Failed lines are
 * counted (api_audit_stats_get) and logged without flooding (common/tr_lograte.h): the first
 * failure, then at most one summary every 10 s with the count, then one line once lines are
 * written again; failed rotations likewise. A failed write()
 * that left the file as it was (or that could be truncated back) leaves the device usable; a
 * failed fdatasync (the line may or may not reach the disk) fails every waiting line and, like
 * an untruncatable partial line, makes the device refuse every later write and wait with
 * TR_E_IO until it is closed and reopened, which re-reads and re-verifies the tail. Lines that
 * were durable before the failure stay so (waiting for them still succeeds).
 *
 * File safety (audit path comes from static configuration only, security.md #22): the file is
 * opened with O_APPEND|O_CLOEXEC|O_NOFOLLOW; a symlink, a non-regular file, a file owned by
 * another user, a file with several hard links, or an existing file with any execute bit or
 * group/world write bit is refused; the mode is forced to 0600 whatever the umask. A new file's
 * directory entry is fsync'ed.
 *
 * Time. "time" is when the entry was made: for a request line, when api_audit_req_new MAC'd the
 * request (api_audit_log*: when called); for a response line, when api_audit_resp_prepare made it.
 * Lines are in chain order, not strictly in time order: concurrent requests' lines may be out of
 * time order by as long as a request takes or a line waits to be written.
 *
 * Thread-safety: every verb but open and close may be called concurrently; lines are written in
 * one total order under the device's mutex (the chain stays linear), and seq numbers follow that
 * order. MACs and serialisation happen before taking the mutex; under it only the chain members
 * are filled in, the line hashed and written (api_audit_line_queue takes no lock: the sync thread
 * does that part). Callbacks run without the mutex held. A struct api_audit_req or
 * api_audit_line is used by one thread at a time.
 * Anchoring (api/audit_anchor.c). The chain alone cannot show that whole lines were cut from the
 * end of the file. api_audit_head_get gives the last durable line (seq, hash, where it ends)
 * for the caller to keep in the rollback-protected store; api_audit_head_check tells, after a
 * restart, whether the file still holds that line at that place (and so, through the chain,
 * every line before it).
 *
 * Rotation (api_audit_rotate). The file at the path is renamed to <path>.<seq of its last line>
 * and a new file takes its place, starting with a rotation marker (common/tr_audit.h): the
 * chain goes on across files (the marker's seq and prev_hash follow the rotated file's last
 * line, and it names that file and its size). Nothing is ever written to a rotated file again.
 * Every written line is made durable first; the new file (marker included) and the directory
 * are synced before any line goes to it, so each step survives a crash, and api_audit_open
 * finishes or undoes a rotation a crash interrupted (a leftover <path>.next). An anchored head
 * may then be a line of the rotated file: api_audit_head_check follows the marker to it.
 * Must never know: HTTP, storage, or any key (MACs come from the core).
 */
#ifndef API_AUDIT_H
#define API_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tr_audit.h"
#include "../common/tr_err.h"

/* A failure that repeats (a line, an anchoring, a rotation) is logged first, then summarised at
 * most once per this (audit.c, audit_anchor.c). */
#define API_AUDIT_LOG_EVERY_MS 10000

#define API_AUDIT_HMAC_PREFIX "hmac-blake2b:"
/* Size of a MAC'd value's text: prefix + 64 hex digits + NUL. */
#define API_AUDIT_HMAC_STR (sizeof(API_AUDIT_HMAC_PREFIX) - 1 + 64 + 1)

struct api_audit;

/* A durable line of the chain: enough to find it again and to tell it from any other line. */
struct api_audit_head {
    uint64_t seq;                     /* 0: the file was empty (nothing to find) */
    uint64_t end;                     /* the file's size just after the line's '\n' */
    char hash[TR_AUDIT_HASH_HEX + 1]; /* SHA-256 of the line's bytes (the next prev_hash) */
};

/*
 * api_audit_open - open or create the audit file at path and recover the chain head.
 * In:  path (borrowed, < PATH_MAX bytes). Its last line, if any, must pass
 *      tr_audit_line_check; the next line continues its seq and links to its hash. An empty or
 *      new file starts at seq 1 with prev_hash TR_AUDIT_GENESIS.
 * Out: *out, owned by the caller (api_audit_close); NULL on failure.
 * Errors: TR_E_INVAL (NULL or empty path), TR_E_DENIED (symlink, not a regular file, wrong
 *      owner, hard-linked, executable or group/world-writable, or the OS refused access),
 *      TR_E_TAMPER (last line torn, too long or failing its own hash), TR_E_IO, TR_E_NOMEM
 *      (also: the sync thread could not be started).
 * Side effects: may create the file (0600) and fsync its directory; sets its mode to 0600;
 *      starts the device's sync thread (idle until a line is waited for).
 */
TR_MUST_CHECK int api_audit_open(const char *path, struct api_audit **out);

/*
 * api_audit_log - append one entry and wait until it is durable (blocks for one group sync:
 * not for event-loop threads; see api_audit_wait_async).
 * In:  a; type "request" or "response"; entry, a borrowed JSON object (not modified; a copy
 *      is MAC'd and stamped). Members named time, type, seq, prev_hash and hash are replaced
 *      by the device's own values.
 * Errors: TR_E_INVAL (bad arguments), TR_E_SEALED (the entry has sensitive leaves and the core
 *      is sealed), TR_E_TOO_LARGE (nested deeper than 64, or the line exceeds
 *      TR_AUDIT_LINE_MAX), TR_E_IO (write or fdatasync failed, or the device is refusing
 *      writes after an earlier sync failure), TR_E_NOMEM, TR_E_INTERNAL.
 *      On any error nothing was appended, except after a failed fdatasync (see above).
 */
TR_MUST_CHECK int api_audit_log(struct api_audit *a, const char *type, json_t *entry);

/*
 * api_audit_log_nosync - as api_audit_log, but return once the line is written, not durable.
 * Out: *out_seq (may be NULL), the line's seq, to pass to api_audit_wait(_async); untouched on
 *      failure.
 * Errors: as api_audit_log, except that no fdatasync is waited for.
 */
TR_MUST_CHECK int api_audit_log_nosync(struct api_audit *a, const char *type, json_t *entry,
                                       uint64_t *out_seq);

/*
 * api_audit_wait - block until line seq (from api_audit_log_nosync) is on stable storage.
 * Errors: TR_E_INVAL (NULL a, seq 0 or not yet written), TR_E_IO (the sync covering it failed,
 *      or the device is refusing writes after an earlier sync failure).
 */
TR_MUST_CHECK int api_audit_wait(struct api_audit *a, uint64_t seq);

/* Called once per api_audit_wait_async, with TR_OK or api_audit_wait's errors (or TR_E_NOMEM). */
typedef void (*api_audit_done_fn)(void *arg, int rc);

/*
 * api_audit_wait_async - call fn(arg, rc) exactly once, when line seq is on stable storage
 * (rc TR_OK) or cannot become so (rc as api_audit_wait's errors, TR_E_NOMEM). Never blocks.
 * In:  fn, arg (borrowed until fn is called; fn may free arg).
 * fn runs either before this returns, in the caller's thread (the line was already durable, or
 * an error is already known), or later in the device's sync thread (or in api_audit_close). It
 * must not block for long (it delays every later waiter) and must not call api_audit_close.
 */
void api_audit_wait_async(struct api_audit *a, uint64_t seq, api_audit_done_fn fn, void *arg);

/* A request MAC'd once for its request line and its response line. */
struct api_audit_req;

/*
 * api_audit_req_new - MAC a request now (outside any lock), for api_audit_req_log and
 * api_audit_resp_log. Its request line's "time" is now.
 * In:  request, a borrowed JSON object: the value of the entries' "request" member. Not modified;
 *      leaves that stay clear are shared, so its strings must not be modified while *out lives.
 * Out: *out, owned by the caller (api_audit_req_free); NULL on failure.
 * Errors: TR_E_INVAL (NULL out, request not an object), TR_E_SEALED (sensitive leaves and the
 *      core is sealed), TR_E_TOO_LARGE (nested deeper than 64), TR_E_NOMEM, TR_E_INTERNAL.
 */
TR_MUST_CHECK int api_audit_req_new(json_t *request, struct api_audit_req **out);

/*
 * api_audit_req_set - replace member key of the request for the lines still to be made (the
 * response line refines "operation" once the request is authorised).
 * In:  r; key; value (stolen, MAC'd by the rule: sensitive if key is one of the names above).
 * Errors: TR_E_INVAL, TR_E_SEALED, TR_E_TOO_LARGE, TR_E_NOMEM. r is unchanged on failure.
 */
TR_MUST_CHECK int api_audit_req_set(struct api_audit_req *r, const char *key, json_t *value);

/*
 * api_audit_req_log - write r's request line now, not durable (as api_audit_log_nosync); does
 * nothing if it has been written already.
 * Out: *out_seq (may be NULL), the request line's seq; untouched on failure.
 * Errors: as api_audit_log_nosync. On any error nothing was appended (see api_audit_log).
 */
TR_MUST_CHECK int api_audit_req_log(struct api_audit *a, struct api_audit_req *r,
                                    uint64_t *out_seq);

/* A response line made outside the lock, not yet in the file. */
struct api_audit_line;

/*
 * api_audit_resp_prepare - MAC and serialise r's response line {"request": r, "response":
 * response} now, outside the lock. r's request line is written first if it has not been (so if
 * only the response cannot be made, the attempt is still recorded).
 * In:  response, a borrowed JSON object (not modified).
 * Out: *out, owned by the caller until handed to api_audit_line_queue or _write (or
 *      api_audit_line_free); NULL on failure.
 * Errors: as api_audit_log_nosync (the response's, or the request line's write).
 */
TR_MUST_CHECK int api_audit_resp_prepare(struct api_audit *a, struct api_audit_req *r,
                                         json_t *response, struct api_audit_line **out);

/*
 * api_audit_line_queue - hand l (consumed) to the sync thread: it writes l after every line
 * written or handed over before it (with the other lines handed over, one writev per up to 64
 * lines), makes it durable with the next group sync and then calls fn(arg, rc) exactly once:
 * TR_OK, or TR_E_IO if it could not be written (the device is broken, or the write failed: then
 * every line handed over with or after it fails too and none of them is in the file) or synced.
 * Never blocks and takes no lock (but to wake an idle sync thread). fn runs in the sync thread
 * (or in api_audit_close), or before this returns with TR_E_INVAL for a NULL a or l; it must not
 * block for long nor call api_audit_close.
 */
void api_audit_line_queue(struct api_audit *a, struct api_audit_line *l, api_audit_done_fn fn,
                          void *arg);

/*
 * api_audit_line_write - write l (consumed) now, not durable.
 * Out: *out_seq (may be NULL), its seq, to wait for; untouched on failure.
 * Errors: TR_E_INVAL, TR_E_IO, TR_E_TOO_LARGE. On error nothing was appended (see
 *      api_audit_log).
 */
TR_MUST_CHECK int api_audit_line_write(struct api_audit *a, struct api_audit_line *l,
                                       uint64_t *out_seq);

/* api_audit_line_free - drop a line that will not be written; NULL-safe. */
void api_audit_line_free(struct api_audit_line *l);

/*
 * api_audit_resp_log - api_audit_resp_prepare then api_audit_line_write.
 * Out: *out_seq (may be NULL), the response line's seq (waiting for it covers the request line
 *      too); untouched on failure.
 * Errors: as api_audit_resp_prepare and api_audit_line_write.
 */
TR_MUST_CHECK int api_audit_resp_log(struct api_audit *a, struct api_audit_req *r, json_t *response,
                                     uint64_t *out_seq);

/* api_audit_req_free - release r; NULL-safe. */
void api_audit_req_free(struct api_audit_req *r);

/*
 * api_audit_hash - the text a value is logged as: API_AUDIT_HMAC_PREFIX + hex MAC.
 * In:  in/len, the value's bytes (<= ENC_MAC_MSG_MAX). Out: out (API_AUDIT_HMAC_STR bytes),
 *      NUL-terminated; empty string on failure.
 * Errors: TR_E_SEALED, TR_E_INVAL.
 */
TR_MUST_CHECK int api_audit_hash(const char *in, size_t len, char out[API_AUDIT_HMAC_STR]);

/*
 * api_audit_head_get - the last line known to be on stable storage (at open: the file's last
 * line, synced then; later: the last line a group sync covered). Never blocks on I/O.
 * In:  a, not NULL. Out: *out.
 */
void api_audit_head_get(struct api_audit *a, struct api_audit_head *out);

/*
 * api_audit_drain - block until every line written or queued so far is on stable storage (its
 * waiters released), or the device broke. Only ends once nothing queues lines any more.
 * In:  a, not NULL.
 */
void api_audit_drain(struct api_audit *a);

/*
 * api_audit_head_check - does the file still hold line h->seq, with hash h->hash, ending at byte
 * h->end? (h->seq 0 passes unless the file changed under the device.) Only that line is read:
 * the chain links it to every line before it, which `tresor audit verify` checks offline. The
 * file is the one at the device's path now: not the opened one (swapped, deleted), or shorter
 * than the device wrote it (cut), fails whatever h is, as the device's own head is then stale.
 * If h is not in the file but the file starts with a rotation marker that follows h, h is looked
 * for in the rotated file the marker names (beside it), which must bear the name a rotation gives
 * (<base>.<the marker's rotation.seq>, a regular file, no symlink) and be exactly as rotated: its
 * size and last line as the marker says, and h at h->end (one rotation back at most: the
 * anchoring follows every rotation, and the next one waits for it).
 * Out: why (whylen > 0 bytes) receives a short, data-free reason on TR_E_TAMPER, else "".
 * Errors: TR_E_TAMPER (the file is shorter, or another line is there, or it changed under the
 *      device), TR_E_INVAL, TR_E_IO, TR_E_NOMEM.
 */
TR_MUST_CHECK int api_audit_head_check(struct api_audit *a, const struct api_audit_head *h,
                                       char *why, size_t whylen);

/*
 * api_audit_rotate - rotate the file (see above) and then, if keep > 0, delete the oldest rotated
 * files beyond the newest keep: the file just rotated and the keep - 1 newest before it. Only
 * regular files of the server's user named <base>.<digits> beside it are counted or deleted:
 * first this chain's (reached from the file just rotated through the markers, by seq), then
 * files not linked to it (an earlier chain's, e.g. from before a storage recovery adopted an
 * emptied file, whose seqs may be higher) that are older than this chain's oldest file; a file
 * not linked and not older is left alone (audit_prune, api/audit_prune.c, has the rule and why
 * it never deletes a file the store's head may point into).
 * Blocks every writer for two fdatasyncs, two renames and a directory sync: call it from a
 * thread that may block (not an event loop), rarely.
 * Out: rotated (rotlen bytes) receives the rotated file's path on success, else "".
 * Errors: TR_E_NOTFOUND (nothing written since the file was started: no rotation), TR_E_EXISTS
 *      (a file already has the rotated name: nothing changed), TR_E_INVAL (a name too long),
 *      TR_E_IO (nothing changed, or, if the old file could not be put back or the directory not
 *      synced, the device refuses writes like after a failed sync: a restart finishes the
 *      rotation), TR_E_NOMEM, TR_E_INTERNAL.
 */
TR_MUST_CHECK int api_audit_rotate(struct api_audit *a, uint32_t keep, char *rotated,
                                   size_t rotlen);

/* What sys/metrics shows of the device (counters since it was opened). */
struct api_audit_stats {
    uint64_t write_failures;    /* lines that could not be written (each refused its request) */
    uint64_t file_bytes;        /* the current file's size */
    uint64_t rotations;         /* rotations done */
    uint64_t rotation_failures; /* rotations that failed (nothing to rotate is no failure) */
};

/* api_audit_stats_get - the device's counters now. In: a, not NULL. Out: *out. */
void api_audit_stats_get(struct api_audit *a, struct api_audit_stats *out);

/*
 * api_audit_hold - while on, every new line is refused with TR_E_STATE, so every audited request
 * gets 503: the anchoring has failed for longer than audit.anchor_max_lag_ms (audit_anchor.c),
 * and lines the store cannot vouch for must not keep growing. Lines already written stay and
 * become durable as usual. Refused lines are not write failures (stats). In: a, not NULL.
 */
void api_audit_hold(struct api_audit *a, bool on);

/*
 * api_audit_close - make every written line durable, release every waiter, stop the sync thread,
 * close the file and free the device; NULL-safe. No other verb may be running or called after
 * it starts (callbacks it runs must not call any). Every pending api_audit_wait_async callback
 * is called exactly once before it returns: TR_OK after a final successful sync, else TR_E_IO.
 */
void api_audit_close(struct api_audit *a);

#endif
