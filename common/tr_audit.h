/*
 * tr_audit - the audit log's line format and hash chain, shared by the writer (api/audit.c) and
 * the offline verifiers (`tresor audit verify` and `tresord -audit-verify`; the CLI links common/
 * only).
 *
 * One entry is one line: the entry object serialised by jansson with JSON_SORT_KEYS|JSON_COMPACT
 * (TR_AUDIT_DUMP_FLAGS) followed by '\n'. Every line carries
 *   "seq"        1 for the first line of the chain, then +1 per line;
 *   "prev_hash"  lowercase hex SHA-256 of the previous line's bytes (without its '\n');
 *                TR_AUDIT_GENESIS (64 zeros) on the chain's first line;
 *   "hash"       lowercase hex SHA-256 of the line's canonical JSON with the "hash" member
 *                removed (same flags), so a line can be checked on its own;
 *   "time", "type" ("request"|"response"|"rotation").
 * Rotation: the writer renames the current file to <path>.<N> (N: the seq of its last line) and
 * starts a new file at <path> whose first line is a rotation marker, with exactly these members:
 *   {"hash":H,"prev_hash":P,"rotation":{"end":E,"file":F,"seq":N},"seq":N+1,"time":T,
 *    "type":"rotation"}
 * where P is the hash of the rotated file's last line, F that file's base name (same directory;
 * 1..TR_AUDIT_ROT_FILE_MAX bytes of UTF-8, no '/' or NUL, not "." or ".."; read from a file, so
 * escape it before printing) and E its size in bytes after that line's '\n'. The chain thus
 * runs on across files: a file starts either with the chain's first line (seq 1, genesis) or with
 * a marker that continues an earlier file; a marker anywhere else is tampering. Verified alone,
 * a continuation file's link to its predecessor is unchecked; tr_audit_verify_files checks the
 * files of a rotation series together, oldest first.
 * The hashes are plain, unkeyed SHA-256: anyone can verify the chain without a key. They detect
 * edits, deleted, inserted and reordered lines and a torn last line; they cannot detect that whole
 * lines were cut from the end of the file (or the newest files of a series removed), nor a rewrite
 * that recomputes them. The server keeps the last durable line's seq and hash in its store and
 * checks the file against it at unseal (api/audit_anchor.h); offline, compare the last "seq" with
 * an external record.
 * Nothing here knows any secret: sensitive values were replaced by MACs before a line exists.
 * Thread-safety: all functions are reentrant.
 */
#ifndef TR_AUDIT_H
#define TR_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tr_err.h"

#define TR_AUDIT_HASH_HEX     64                   /* hex digits of a SHA-256 */
#define TR_AUDIT_LINE_MAX     (4u * 1024u * 1024u) /* bytes of one line, '\n' excluded */
#define TR_AUDIT_DUMP_FLAGS   (JSON_SORT_KEYS | JSON_COMPACT)
#define TR_AUDIT_GENESIS      "0000000000000000000000000000000000000000000000000000000000000000"
#define TR_AUDIT_ROT_FILE_MAX 255 /* bytes of a rotation marker's "file" (a base name) */

/* What one verified line contributes to the chain. */
struct tr_audit_link {
    uint64_t seq;                          /* the line's "seq" (>= 1) */
    char prev_hash[TR_AUDIT_HASH_HEX + 1]; /* the line's "prev_hash", as claimed */
    char line_hash[TR_AUDIT_HASH_HEX + 1]; /* SHA-256 of the line's bytes: next prev_hash */
    bool rotation;                         /* a rotation marker (type "rotation") */
    uint64_t rot_seq;                      /* rotation: the rotated file's last seq (seq - 1) */
    uint64_t rot_end;                      /* rotation: the rotated file's size after that line */
    char rot_file[TR_AUDIT_ROT_FILE_MAX + 1]; /* rotation: its base name, NUL-terminated */
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
 * the required fields well formed, and "hash" matching the content. A rotation marker must have
 * exactly the members shown in the format comment above, a well-formed "rotation" object and
 * "seq" = rotation.seq + 1. Linkage with the previous line (prev_hash, seq) is the caller's job.
 * In:  line/len, the line's bytes without '\n' (len <= TR_AUDIT_LINE_MAX).
 * Out: *out on success (for a marker: rotation set and rot_* filled; for other lines rotation is
 *      false and rot_* are zero). err (errlen bytes, may be 0) receives a short, data-free reason.
 * Errors: TR_E_INVAL (malformed JSON or missing/ill-formed fields, a malformed marker),
 *      TR_E_TAMPER (not canonical, or hash mismatch), TR_E_TOO_LARGE, TR_E_NOMEM, TR_E_INTERNAL.
 */
TR_MUST_CHECK int tr_audit_line_check(const char *line, size_t len, struct tr_audit_link *out,
                                      char *err, size_t errlen);

/*
 * tr_audit_rotation_line - the canonical text (no '\n') of the marker that starts a new file:
 * seq = rot_seq + 1, prev_hash = prev, "time" = time, rotation {file, seq = rot_seq,
 * end = rot_end}.
 * In:  rot_seq (1 .. INT64_MAX - 1), the rotated file's last seq; prev, 64 lowercase hex digits
 *      and a NUL (that line's hash); time, a borrowed UTF-8 string; file, the rotated file's base
 *      name (1..TR_AUDIT_ROT_FILE_MAX bytes of UTF-8, no '/', not "." or ".."); rot_end
 *      (1 .. INT64_MAX), the rotated file's size after its last line's '\n'.
 * Out: *out, a new NUL-terminated buffer owned by the caller (free()), *out_len its length
 *      without the NUL; out_hash, the SHA-256 hex of those bytes (the next line's prev_hash).
 *      On failure *out is NULL, *out_len 0 and out_hash zeroed. prev and out_hash may be the
 *      same buffer (the chain's head, advanced past the marker on success).
 * Errors: TR_E_INVAL (a bad argument, or the line would exceed TR_AUDIT_LINE_MAX), TR_E_NOMEM,
 *      TR_E_INTERNAL.
 */
TR_MUST_CHECK int tr_audit_rotation_line(uint64_t rot_seq, const char prev[TR_AUDIT_HASH_HEX + 1],
                                         const char *time, const char *file, uint64_t rot_end,
                                         char **out, size_t *out_len,
                                         char out_hash[TR_AUDIT_HASH_HEX + 1]);

/*
 * tr_audit_verify_file - verify one audit file line by line: each line as tr_audit_line_check;
 * line 1 is either the chain's start (seq 1, prev_hash TR_AUDIT_GENESIS) or a rotation marker
 * (the file continues an earlier one: the marker's own seq and prev_hash are not checked against
 * anything here); every later line is no marker and has seq = previous seq + 1 and prev_hash =
 * SHA-256 of the previous line's bytes; the file ends with '\n' (else the last line is torn).
 * Same as tr_audit_verify_files over this one file.
 * In:  path, a regular file (read only, never modified).
 * Out: on TR_OK and TR_E_TAMPER: *out_lines = lines that verified before the first bad one (on
 *      TR_OK: all of them; 0 for an empty file) and *out_bad_line = the first bad line, 1-based
 *      (0 on TR_OK). Either pointer may be NULL. err (errlen bytes) receives the reason for the
 *      bad line ("hash mismatch", "broken link", "gap in seq", "malformed JSON",
 *      "truncated last line", "rotation line inside a file", ...) or for an I/O error; it never
 *      quotes the file's content.
 * Errors: TR_E_TAMPER (a bad line; see out_bad_line), TR_E_IO (cannot open or read),
 *      TR_E_INVAL (NULL path), TR_E_NOMEM, TR_E_INTERNAL.
 */
TR_MUST_CHECK int tr_audit_verify_file(const char *path, uint64_t *out_lines,
                                       uint64_t *out_bad_line, char *err, size_t errlen);

/* The outcome of tr_audit_verify_files. */
struct tr_audit_report {
    size_t files_ok;    /* files fully verified, including their link to the previous file */
    size_t bad_file;    /* 0-based index of the file that failed (TR_E_TAMPER, TR_E_IO) */
    uint64_t entries;   /* lines verified in all files before the failure */
    uint64_t bad_line;  /* 1-based line of bad_file; 0 when the link between files or I/O failed */
    uint64_t first_seq; /* seq of the first file's first line; 0 if no line verified */
    uint64_t last_seq;  /* seq of the last verified line; 0 if none */
    bool continues;     /* the first file starts with a marker: its predecessor was not checked */
    struct tr_audit_link first; /* the first file's first line if it verified (rot_file and
                                 * rot_seq name the predecessor when continues), else zeroed */
    char last_hash[TR_AUDIT_HASH_HEX + 1]; /* hash of the last verified line; genesis if none */
    char reason[160]; /* data-free reason for the failure ("" on TR_OK); never file content */
};

/*
 * tr_audit_verify_files - verify a rotation series: each file as tr_audit_verify_file, and every
 * file after the first must continue the one before it: its line 1 is a rotation marker whose seq
 * follows that file's last seq, whose prev_hash is that file's last line's hash and whose
 * rotation.end is that file's size (so it did not change after rotation). An empty file verifies
 * alone, but no file can continue it, nor can an empty file continue another. Stops at the first
 * failure. Which files are named, and whether the newest one is the live log, is the caller's
 * business: rotation.file is reported, not compared with the paths.
 * In:  paths, n >= 1 borrowed paths, oldest first (read only, never modified).
 * Out: *out, always initialised (zeroed, last_hash genesis); filled as described at
 *      struct tr_audit_report on TR_OK, TR_E_TAMPER and TR_E_IO.
 * Errors: TR_E_TAMPER (a bad line: bad_file and bad_line; or a broken link between files:
 *      bad_file is the later file, bad_line 0), TR_E_IO (cannot open or read bad_file),
 *      TR_E_INVAL (NULL paths or a NULL path, n == 0), TR_E_NOMEM, TR_E_INTERNAL.
 */
/* tr_audit_print_name - print a name read from a file (a marker's rotation.file) to fp with every
 * byte outside printable ASCII, and '\\', as \\xNN: it must not reach a terminal raw. */
void tr_audit_print_name(FILE *fp, const char *name);

TR_MUST_CHECK int tr_audit_verify_files(const char *const *paths, size_t n,
                                        struct tr_audit_report *out);

#endif
