/*
 * tr_audit - the audit log's line format and hash chain, shared by the writer (api/audit.c) and
 * the offline verifier (`tresor audit verify`, which links common/ only).
 *
 * One entry is one line: the entry object serialised by jansson with JSON_SORT_KEYS|JSON_COMPACT
 * (TR_AUDIT_DUMP_FLAGS) followed by '\n'. Every line carries
 *   "seq"        1 for the first line of a file, then +1 per line;
 *   "prev_hash"  lowercase hex SHA-256 of the previous line's bytes (without its '\n');
 *                TR_AUDIT_GENESIS (64 zeros) on the first line;
 *   "hash"       lowercase hex SHA-256 of the line's canonical JSON with the "hash" member
 *                removed (same flags), so a line can be checked on its own;
 *   "time", "type" ("request"|"response").
 * The hashes are plain, unkeyed SHA-256: anyone can verify the chain without a key. They detect
 * edits, deleted, inserted and reordered lines and a torn last line; they cannot detect that whole
 * lines were cut from the end of the file, nor a rewrite that recomputes them. The server keeps
 * the last durable line's seq and hash in its store and checks the file against it at unseal
 * (api/audit_anchor.h); offline, compare the last "seq" with an external record.
 * Nothing here knows any secret: sensitive values were replaced by MACs before a line exists.
 * Thread-safety: all functions are reentrant.
 */
#ifndef TR_AUDIT_H
#define TR_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tr_err.h"

#define TR_AUDIT_HASH_HEX   64                   /* hex digits of a SHA-256 */
#define TR_AUDIT_LINE_MAX   (4u * 1024u * 1024u) /* bytes of one line, '\n' excluded */
#define TR_AUDIT_DUMP_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)
#define TR_AUDIT_GENESIS    "0000000000000000000000000000000000000000000000000000000000000000"

/* What one verified line contributes to the chain. */
struct tr_audit_link {
    uint64_t seq;                          /* the line's "seq" (>= 1) */
    char prev_hash[TR_AUDIT_HASH_HEX + 1]; /* the line's "prev_hash", as claimed */
    char line_hash[TR_AUDIT_HASH_HEX + 1]; /* SHA-256 of the line's bytes: next prev_hash */
};

/*
 * tr_audit_sha256_hex - lowercase hex SHA-256 of len bytes at p (OpenSSL EVP).
 * Out: out receives 64 hex digits and a NUL; zeroed on failure.
 * Errors: TR_E_INVAL (NULL p with len > 0), TR_E_INTERNAL (OpenSSL failed).
 */
TR_MUST_CHECK int tr_audit_sha256_hex(const void *p, size_t len, char out[TR_AUDIT_HASH_HEX + 1]);

/*
 * tr_audit_entry_hash - the "hash" field for entry: SHA-256 over
 * json_dumps(entry without its "hash" member, TR_AUDIT_DUMP_FLAGS).
 * In:  entry, a borrowed JSON object; not modified (a shallow copy drops "hash").
 * Out: out as tr_audit_sha256_hex.
 * Errors: TR_E_INVAL (not an object), TR_E_NOMEM, TR_E_INTERNAL.
 */
TR_MUST_CHECK int tr_audit_entry_hash(json_t *entry, char out[TR_AUDIT_HASH_HEX + 1]);

/*
 * tr_audit_line_check - check one line on its own: valid JSON object, canonical serialisation,
 * the required fields well formed, and "hash" matching the content. Linkage with the previous
 * line (prev_hash, seq) is the caller's job.
 * In:  line/len, the line's bytes without '\n' (len <= TR_AUDIT_LINE_MAX).
 * Out: *out on success. err (errlen bytes, may be 0) receives a short, data-free reason.
 * Errors: TR_E_INVAL (malformed JSON or missing/ill-formed fields), TR_E_TAMPER (not canonical,
 *      or hash mismatch), TR_E_TOO_LARGE, TR_E_NOMEM, TR_E_INTERNAL.
 */
TR_MUST_CHECK int tr_audit_line_check(const char *line, size_t len, struct tr_audit_link *out,
                                      char *err, size_t errlen);

/*
 * tr_audit_verify_file - verify a whole audit file line by line: each line as
 * tr_audit_line_check, line 1 has seq 1 and prev_hash TR_AUDIT_GENESIS, every later line has
 * seq = previous seq + 1 and prev_hash = SHA-256 of the previous line's bytes, and the file ends
 * with '\n' (else the last line is torn).
 * In:  path, a regular file (read only, never modified).
 * Out: on TR_OK and TR_E_TAMPER: *out_lines = lines that verified before the first bad one (on
 *      TR_OK: all of them; 0 for an empty file) and *out_bad_line = the first bad line, 1-based
 *      (0 on TR_OK). Either pointer may be NULL. err (errlen bytes) receives the reason for the
 *      bad line ("hash mismatch", "broken link", "gap in seq", "malformed JSON",
 *      "truncated last line", ...) or for an I/O error; it never quotes the file's content.
 * Errors: TR_E_TAMPER (a bad line; see out_bad_line), TR_E_IO (cannot open or read),
 *      TR_E_INVAL (NULL path), TR_E_NOMEM.
 */
TR_MUST_CHECK int tr_audit_verify_file(const char *path, uint64_t *out_lines,
                                       uint64_t *out_bad_line, char *err, size_t errlen);

#endif
