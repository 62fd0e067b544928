/*
 * audit_int.h - internals of the audit device shared by api/audit.c (the device: file, lock,
 * chain head, sync thread), api/audit_entry.c (MACs, prepared requests) and api/audit_line.c
 * (serialisation). Not for other files.
 *
 * A line is built in two steps so that the device's mutex covers only what depends on the
 * chain's head. Outside the lock, audit_line_make copies a template into the line's buffer and
 * puts in the values known then. The template is jansson's text of the entry with placeholders
 * (audit_tmpl_make): "prev_hash" "", "time" "", "seq" 0, and 0 for each member whose value jansson
 * has serialised beforehand (a fragment: the MAC'd request, serialised once for both of its
 * lines, and the response). The fragments' texts replace their 0s, the time's characters (which
 * JSON writes as they are) go into its "", and prev_hash's "" gets room for 64 digits. Under the
 * lock, audit_line_seal writes the real prev_hash there, puts the seq's digits in place of its 0,
 * hashes the text (the entry hash) and inserts the "hash" member where JSON_SORT_KEYS puts it.
 * Every byte of a line is jansson's text for its value, so the line is byte for byte what
 * json_dumps(entry, TR_AUDIT_DUMP_FLAGS) gives for the final entry (compact output of a nested
 * value does not depend on where it sits); the verifier re-serialises every line and compares,
 * so a wrong splice cannot go unnoticed. The device keeps the templates of its request and
 * response lines, which differ only in those values, so they are serialised once, at open.
 */
#ifndef API_AUDIT_INT_H
#define API_AUDIT_INT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tr_audit.h"

#define AUDIT_DEPTH_MAX  64
#define AUDIT_TIME_MAX   48
#define AUDIT_FRAGS_MAX  2 /* "request" and "response" */
#define AUDIT_POINTS_MAX (4 + AUDIT_FRAGS_MAX)

/* A member whose value jansson has already serialised (TR_AUDIT_DUMP_FLAGS). */
struct audit_frag {
    const char *key;  /* [a-z_]+, none of the device's own members */
    const char *text; /* borrowed; len > 0 bytes, not NUL-terminated */
    size_t len;
};

/* Where a line differs from its template; P_HASH (no member of its own: the "hash" member goes in
 * before the member at rank) sorts before the member it precedes. */
enum audit_point_kind { AUDIT_P_HASH, AUDIT_P_PREV, AUDIT_P_SEQ, AUDIT_P_TIME, AUDIT_P_FRAG };

struct audit_point {
    size_t rank; /* member number in the template */
    enum audit_point_kind kind;
    const char *key; /* the member's name (static or the caller's); NULL for P_HASH */
    size_t frag;     /* P_FRAG: index in the fragments */
    size_t at;       /* the member's offset (its key's opening quote) in the template */
    size_t v;        /* its placeholder value's offset (not for P_HASH) */
};

/* jansson's text of an entry with placeholders, and where they are (in text order). */
struct audit_tmpl {
    char *text; /* owned; len bytes, not NUL-terminated */
    size_t len;
    struct audit_point pts[AUDIT_POINTS_MAX];
    size_t npts;
    size_t nfrags;
};

/* One line on its way to the file. Every offset is relative to buf. */
struct audit_line {
    char *buf;      /* owned; room for the "hash" member before the text and seq digits after */
    size_t cap;     /* bytes at buf */
    size_t text;    /* where the serialised entry starts */
    size_t len;     /* its length */
    size_t hash_at; /* where the "hash" member goes (a member's opening quote, in the text) */
    size_t prev_at; /* first of prev_hash's 64 placeholder digits */
    size_t seq_at;  /* seq's placeholder digit */
    bool sealed;    /* audit_line_seal ran: line/line_len are valid, the text is consumed */
    size_t line;    /* after sealing: the line, '\n' included */
    size_t line_len;
};

/* A request MAC'd once for its two lines (api_audit_req_new). Used by one thread at a time. */
struct api_audit_req {
    json_t *req; /* the "request" member's value, MAC'd (owned) */
    char *text;  /* jansson's text of req (owned), NULL until first needed */
    size_t text_len;
    char time[AUDIT_TIME_MAX]; /* when it was MAC'd (the request's arrival): its line's "time" */
    uint64_t seq;              /* its request line; 0 while not written */
};

/* audit_time_now - "time" as Vault writes it (Go's RFC3339Nano, UTC). Errors: TR_E_INTERNAL. */
TR_MUST_CHECK int audit_time_now(char buf[AUDIT_TIME_MAX]);

/*
 * audit_redact - a copy of in with every sensitive leaf MAC'd (the rule in audit.h).
 * In:  in (borrowed); sens, whether in lies under a sensitive member; depth, in's depth in the
 *      entry (the entry itself is 0). Scalars that stay clear are shared with in, not copied:
 *      in's strings must not be modified while *out lives.
 * Out: *out (owned), NULL on failure.
 * Errors: TR_E_SEALED, TR_E_TOO_LARGE (deeper than AUDIT_DEPTH_MAX), TR_E_NOMEM, TR_E_INVAL.
 */
TR_MUST_CHECK int audit_redact(json_t *in, bool sens, int depth, json_t **out);

/* audit_is_sensitive_key - whether a member of that name makes its whole subtree sensitive. */
bool audit_is_sensitive_key(const char *key);

/*
 * audit_tmpl_make - stamp e (type; placeholders; any "hash" member removed), serialise it and
 * find the placeholders.
 * In:  e, an owned, MAC'd entry object (modified); type "request"|"response"; keys[0..nkeys),
 *      nkeys <= AUDIT_FRAGS_MAX, the members given as fragments to audit_line_make (borrowed for
 *      *out's life: [a-z_]+, not the device's own, not members of e).
 * Out: *out (audit_tmpl_fini), zeroed on failure.
 * Errors: TR_E_INVAL (bad key), TR_E_TOO_LARGE, TR_E_NOMEM, TR_E_INTERNAL.
 */
TR_MUST_CHECK int audit_tmpl_make(json_t *e, const char *type, const char *const *keys,
                                  size_t nkeys, struct audit_tmpl *out);

/* audit_tmpl_fini - release a template; NULL-safe, idempotent. */
void audit_tmpl_fini(struct audit_tmpl *t);

/*
 * audit_line_make - a line from template t (borrowed; read only, so shared by threads), time
 * (audit_time_now's text) and t->nfrags fragments in the order of t's keys (borrowed; each
 * len > 0). No lock needed.
 * Out: *out (audit_line_fini), zeroed on failure.
 * Errors: TR_E_INVAL, TR_E_TOO_LARGE (the line would exceed TR_AUDIT_LINE_MAX), TR_E_NOMEM.
 */
TR_MUST_CHECK int audit_line_make(const struct audit_tmpl *t, const char *time,
                                  const struct audit_frag *frags, struct audit_line *out);

/* audit_line_prepare - a line for an owned, MAC'd entry e (modified) with no fragments:
 * audit_tmpl_make then audit_line_make. Errors: as those. */
TR_MUST_CHECK int audit_line_prepare(json_t *e, const char *type, const char *time,
                                     struct audit_line *out);

/* audit_dump - jansson's text of v (TR_AUDIT_DUMP_FLAGS, JSON_ENCODE_ANY) in a new buffer *out
 * (owned, *out_len bytes, not NUL-terminated). Errors: TR_E_TOO_LARGE (over TR_AUDIT_LINE_MAX),
 * TR_E_NOMEM. */
TR_MUST_CHECK int audit_dump(json_t *v, char **out, size_t *out_len);

/* audit_req_text - jansson's text of r's MAC'd request (serialised on first use, kept in r).
 * Out: *out (borrowed from r until api_audit_req_set or _free), *out_len.
 * Errors: TR_E_TOO_LARGE, TR_E_NOMEM. */
TR_MUST_CHECK int audit_req_text(struct api_audit_req *r, const char **out, size_t *out_len);

/*
 * audit_line_seal - finish a prepared line for its place in the chain (under the device's mutex).
 * In:  seq (1..INT64_MAX), prev (the previous line's hash, 64 hex digits).
 * Out: out_hash, the SHA-256 of the finished line (the next line's prev_hash); l->line and
 *      l->line_len. A line is sealed once: afterwards only audit_line_fini may be called.
 * Errors: TR_E_TOO_LARGE, TR_E_INTERNAL (also: already sealed). On failure l is unusable.
 */
TR_MUST_CHECK int audit_line_seal(struct audit_line *l, uint64_t seq,
                                  const char prev[TR_AUDIT_HASH_HEX + 1],
                                  char out_hash[TR_AUDIT_HASH_HEX + 1]);

/* audit_line_fini - release a line's buffer; NULL-safe, idempotent. */
void audit_line_fini(struct audit_line *l);

/* audit_dir_of - the directory part of path (borrowed) into dir ("." for a bare name). */
void audit_dir_of(const char *path, char dir[PATH_MAX]);

/*
 * audit_prune - after a rotation of the log at path into <path>.<newest>, delete the oldest
 * rotated files beyond the newest keep (0: none), by the rule in api/audit_prune.c: this chain's
 * files (found through the rotation markers) newest first, then the files not linked to it that
 * are older than its oldest one; the file just rotated is always kept. Only regular files of
 * ours named <base>.<seq> beside path; never follows a symlink. Best effort: failures are logged.
 * Blocks for a directory listing and one small read per file of this chain.
 */
void audit_prune(const char *path, uint32_t keep, uint64_t newest);

#endif
