/*
 * audit - the file audit device: one JSON line per request and per response, sensitive values
 * replaced by keyed MACs, lines hash-chained (format and chain: common/tr_audit.h).
 *
 * Verbs: api_audit_open, then api_audit_log any number of times from any thread, then
 * api_audit_close once no api_audit_log call is running. api_audit_hash computes the MAC a value
 * would have in the log (Vault's sys/audit-hash), for finding entries about a known token.
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
 * Durability and fail-closed. api_audit_log returns only after the line was written by one
 * write() on an O_APPEND descriptor and an fdatasync() that started after that write succeeded
 * (concurrent callers share one fdatasync: group sync). api_audit_log_nosync skips the wait; a
 * later synced line makes it durable too (the pipeline uses it for the request line of a read,
 * whose response line is synced before the answer leaves). Any failure returns an error and
 * the caller must not answer the request (503). A failed write() that left the file as it was
 * (or that could be truncated back) leaves the device usable; a failed fdatasync (the line may or
 * may not reach the disk) or an untruncatable partial line makes the device refuse every later
 * write with TR_E_IO until it is closed and reopened, which re-reads and re-verifies the tail.
 *
 * File safety (audit path comes from static configuration only, security.md #22): the file is
 * opened with O_APPEND|O_CLOEXEC|O_NOFOLLOW; a symlink, a non-regular file, a file owned by
 * another user, a file with several hard links, or an existing file with any execute bit or
 * group/world write bit is refused; the mode is forced to 0600 whatever the umask. A new file's
 * directory entry is fsync'ed.
 *
 * Thread-safety: api_audit_log and api_audit_hash may be called concurrently; lines are written
 * in one total order under the device's mutex (the chain stays linear). MACs are computed before
 * taking the mutex.
 * Must never know: HTTP, storage, or any key (MACs come from the core).
 */
#ifndef API_AUDIT_H
#define API_AUDIT_H

#include <jansson.h>
#include <stddef.h>

#include "../common/tr_audit.h"
#include "../common/tr_err.h"

#define API_AUDIT_HMAC_PREFIX "hmac-blake2b:"
/* Size of a MAC'd value's text: prefix + 64 hex digits + NUL. */
#define API_AUDIT_HMAC_STR (sizeof(API_AUDIT_HMAC_PREFIX) - 1 + 64 + 1)

struct api_audit;

/*
 * api_audit_open - open or create the audit file at path and recover the chain head.
 * In:  path (borrowed, < PATH_MAX bytes). Its last line, if any, must pass
 *      tr_audit_line_check; the next line continues its seq and links to its hash. An empty or
 *      new file starts at seq 1 with prev_hash TR_AUDIT_GENESIS.
 * Out: *out, owned by the caller (api_audit_close); NULL on failure.
 * Errors: TR_E_INVAL (NULL or empty path), TR_E_DENIED (symlink, not a regular file, wrong
 *      owner, hard-linked, executable or group/world-writable, or the OS refused access),
 *      TR_E_TAMPER (last line torn, too long or failing its own hash), TR_E_IO, TR_E_NOMEM.
 * Side effects: may create the file (0600) and fsync its directory; sets its mode to 0600.
 */
TR_MUST_CHECK int api_audit_open(const char *path, struct api_audit **out);

/*
 * api_audit_log - append one entry and make it durable.
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
/* api_audit_log_nosync - as api_audit_log without waiting for stable storage. */
TR_MUST_CHECK int api_audit_log_nosync(struct api_audit *a, const char *type, json_t *entry);

/*
 * api_audit_hash - the text a value is logged as: API_AUDIT_HMAC_PREFIX + hex MAC.
 * In:  in/len, the value's bytes (<= ENC_MAC_MSG_MAX). Out: out (API_AUDIT_HMAC_STR bytes),
 *      NUL-terminated; empty string on failure.
 * Errors: TR_E_SEALED, TR_E_INVAL.
 */
TR_MUST_CHECK int api_audit_hash(const char *in, size_t len, char out[API_AUDIT_HMAC_STR]);

/* api_audit_close - close the file and free the device; NULL-safe. No api_audit_log may run. */
void api_audit_close(struct api_audit *a);

#endif
