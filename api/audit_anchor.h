/*
 * audit_anchor - keeps the audit chain's head in the rollback-protected store, so that cutting
 * whole lines off the end of the audit file, or putting back an older or rewritten copy of it,
 * is found at unseal (the chain alone shows edits inside the file, not a shorter file).
 *
 * What is kept: the last durable line (api_audit_head_get: seq, where it ends, its hash) as the
 * record API_T_SYS "audit_head", JSON {"seq", "end", "hash"}. The line's hash pins, through the
 * chain, every line before it.
 *
 * When: a thread looks at the audit device's durable head once per interval
 * (api_opts.audit_anchor_interval_ms) and writes it when it moved. That write joins whatever
 * batch the store is committing, so it costs at most one counter increment per interval, only
 * when there were audited requests, and never delays an answer. api_anchor_flush writes it at
 * once, every line included, as the store closes (operator seal, shutdown). Lines written since
 * the last anchor (at most one interval's worth before a crash, or all since the last success
 * while anchoring fails) are not covered: cutting those is not detected.
 *
 * Check: api_anchor_verify runs when a store opens, before it serves. The file must still hold
 * the anchored line at the anchored place (api_audit_head_check). If not, it returns TR_E_TAMPER
 * and keeps the evidence for sys/seal-status (api_anchor_evidence); the caller seals the core
 * with reason tamper_detected. The only way on is storage recovery authorised by the recovery
 * quorum, which adopts the file as it is (adopt = true) and logs what it replaced.
 *
 * Rotation: the same thread rotates the audit file (api_audit_rotate) when asked or when it
 * reached its configured size, and anchors the new file's first line right after, under the
 * same lock as every anchoring and holding a reference to the open store (so a seal's last
 * anchoring comes after it, and no rotation happens while sealed). A rotation waits until the
 * store holds a line of the current file (the last rotation's anchoring may have failed, e.g. on
 * a full disk, or the store was opened one rotation behind): a stored head is then at most one
 * rotation behind the file. A file that reached rotate_bytes meanwhile keeps growing and is
 * rotated in the interval whose anchoring first succeeds (rotation_waiting in the metrics).
 *
 * Failures. An anchoring that fails (data disk full, store failing) is retried every interval
 * and never fails a request: the lines stay durable, only their anchoring lags. It is logged
 * first in full, then summarised at most once per API_AUDIT_LOG_EVERY_MS with the count and the
 * lines not anchored, then once when it works again; api_anchor_metrics shows the state.
 *
 * Thread-safety: every verb may be called from any thread; api_anchor_stop once no other runs.
 * Must never know: HTTP, the audit file's format (audit.h does), any key.
 */
#ifndef API_AUDIT_ANCHOR_H
#define API_AUDIT_ANCHOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tr_err.h"
#include "../storage/store.h"

#define API_ANCHOR_KEY "audit_head"

struct api;
struct api_anchor;

struct api_anchor_cfg {
    uint32_t interval_ms;  /* > 0: how often the head is anchored when it moved */
    uint64_t rotate_bytes; /* rotate the audit file once it is this large (0: never by size) */
    uint32_t rotate_keep;  /* rotated files kept after a rotation (0: all) */
    /* > 0: once no anchoring succeeded for this long while one was due, the device refuses new
     * lines (api_audit_hold: audited requests get 503) until one succeeds. 0: never. */
    uint32_t max_lag_ms;
};

/*
 * api_anchor_start - start anchoring api->audit's head (not NULL) every cfg->interval_ms while a
 * verified store is open, and rotating the audit file when asked (api_anchor_rotate_request) or
 * when it reaches cfg->rotate_bytes (looked at once per interval).
 * Out: *out, owned by the caller (api_anchor_stop); NULL on failure.
 * Errors: TR_E_INVAL, TR_E_NOMEM (also: the thread could not be started).
 */
TR_MUST_CHECK int api_anchor_start(struct api *api, const struct api_anchor_cfg *cfg,
                                   struct api_anchor **out);

/* api_anchor_rotate_request - ask the anchoring thread to rotate the audit file soon (SIGHUP).
 * Never blocks. The rotation runs between two anchorings, only while unsealed, and is logged
 * (done, nothing to rotate, or why not). NULL-safe. */
void api_anchor_rotate_request(struct api_anchor *an);

/* api_anchor_stop - stop the thread and free; NULL-safe. Nothing is anchored by it: flush first. */
void api_anchor_stop(struct api_anchor *an);

/*
 * api_anchor_verify - check the audit file against st's anchored head (see above), or with adopt
 * anchor the file's current head in place of it. On success anchoring into st is armed.
 * In:  an (NULL: no audit device; a stored head is then only reported in the log).
 * Errors: TR_E_TAMPER (the file does not hold the anchored line: evidence kept, logged),
 *      TR_E_INTERNAL (a stored head that is not ours), store_get/store_put's errors, TR_E_IO.
 */
TR_MUST_CHECK int api_anchor_verify(struct api_anchor *an, struct store *st, bool adopt);

/* api_anchor_flush - for st, the store about to close that no call holds any more: wait until
 * every audit line written or queued so far is durable (those calls' lines too), then anchor the
 * head into st if it moved (blocks for an fdatasync and a store commit; not for event-loop
 * threads). Best effort: a failure is logged. NULL-safe (an, st). */
void api_anchor_flush(struct api_anchor *an, struct store *st);

/* api_anchor_disarm - stop anchoring into the store being closed (until the next verify). */
void api_anchor_disarm(struct api_anchor *an);

/* api_anchor_metrics - the audit device's and the anchoring's state as Prometheus text lines
 * (tresor_audit_*: write and rotation counters, file size, whether anchoring fails, lines not
 * anchored, whether a rotation waits for an anchoring) into buf (cap bytes, NUL-terminated).
 * Returns the length written; 0 if an is NULL (no audit device) or cap is too small. */
size_t api_anchor_metrics(struct api_anchor *an, char *buf, size_t cap);

/* api_anchor_evidence - the last failed verify's evidence as a new JSON object (no secrets:
 * seqs, offsets, a hash prefix, the reason), or NULL if the last verify passed or none ran. */
json_t *api_anchor_evidence(struct api_anchor *an);

#endif
