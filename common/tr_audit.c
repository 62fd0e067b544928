#include "tr_audit.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static void set_err(char *err, size_t errlen, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", why);
}

/* The SHA-256 implementation, fetched from the default provider once: EVP_sha256() makes every
 * EVP_Digest look it up again (a name lookup under a lock, then reference counting), which cost
 * about as much as hashing a whole audit line. Kept for the process's life (the provider's
 * method store holds it too). NULL if the fetch failed: EVP_sha256() is used instead. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int tr_audit_sha256_hex(const void *p, size_t len, char out[TR_AUDIT_HASH_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    memset(out, 0, TR_AUDIT_HASH_HEX + 1);
    if (!p && len)
        return TR_E_INVAL;
    pthread_once(&sha256_once, sha256_fetch);
    /* EVP_Digest reads nothing when len is 0, but wants a valid pointer. */
    if (EVP_Digest(len ? p : "", len, md, &md_len, sha256_md ? sha256_md : EVP_sha256(), NULL) !=
            1 ||
        md_len * 2 != TR_AUDIT_HASH_HEX)
        return TR_E_INTERNAL;
    for (unsigned int i = 0; i < md_len; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0x0f];
    }
    return TR_OK;
}

int tr_audit_entry_hash(json_t *entry, char out[TR_AUDIT_HASH_HEX + 1])
{
    json_t *body = NULL;
    char *text = NULL;
    int rc = TR_E_INVAL;

    memset(out, 0, TR_AUDIT_HASH_HEX + 1);
    if (!json_is_object(entry))
        goto out;
    rc = TR_E_NOMEM;
    /* Shallow: the members are shared, only the copy loses "hash". */
    if (!(body = json_copy(entry)))
        goto out;
    (void)json_object_del(body, "hash"); /* absent is fine */
    if (!(text = json_dumps(body, TR_AUDIT_DUMP_FLAGS)))
        goto out;
    rc = tr_audit_sha256_hex(text, strlen(text), out);
out:
    free(text);
    json_decref(body);
    return rc;
}

static bool is_hex(const char *s, size_t len)
{
    if (!s || len != TR_AUDIT_HASH_HEX)
        return false;
    for (size_t i = 0; i < TR_AUDIT_HASH_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool is_hex_hash(const json_t *v)
{
    return is_hex(json_string_value(v), json_string_length(v));
}

static bool is_type(const char *type)
{
    return type && (strcmp(type, "request") == 0 || strcmp(type, "response") == 0 ||
                    strcmp(type, "rotation") == 0);
}

static bool has_fields(json_t *o)
{
    json_t *seq = json_object_get(o, "seq");

    return json_is_string(json_object_get(o, "time")) &&
           is_type(json_string_value(json_object_get(o, "type"))) && json_is_integer(seq) &&
           json_integer_value(seq) >= 1 && is_hex_hash(json_object_get(o, "prev_hash")) &&
           is_hex_hash(json_object_get(o, "hash"));
}

/* A base name in the same directory: a marker must not point a reader (the server looks the
 * rotated file up by this name) anywhere else. */
static bool is_rot_file(const char *s, size_t len)
{
    if (!s || len == 0 || len > TR_AUDIT_ROT_FILE_MAX || memchr(s, '/', len) ||
        memchr(s, '\0', len))
        return false;
    return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* A marker's own shape (has_fields already held): exactly the marker's members, a well-formed
 * "rotation" and seq = rotation.seq + 1. Fills the rot_* members of l. */
static bool parse_marker(json_t *o, struct tr_audit_link *l)
{
    json_t *rot = json_object_get(o, "rotation");
    json_t *file = json_object_get(rot, "file");
    json_t *seq = json_object_get(rot, "seq"), *end = json_object_get(rot, "end");
    json_int_t line_seq = json_integer_value(json_object_get(o, "seq"));

    /* hash, prev_hash, rotation, seq, time, type: nothing else may ride along unverified. */
    if (json_object_size(o) != 6 || !json_is_object(rot) || json_object_size(rot) != 3)
        return false;
    if (!json_is_string(file) || !is_rot_file(json_string_value(file), json_string_length(file)))
        return false;
    if (!json_is_integer(seq) || json_integer_value(seq) < 1 ||
        json_integer_value(seq) != line_seq - 1) /* line_seq >= 1: no overflow */
        return false;
    if (!json_is_integer(end) || json_integer_value(end) < 1)
        return false;
    l->rotation = true;
    l->rot_seq = (uint64_t)json_integer_value(seq);
    l->rot_end = (uint64_t)json_integer_value(end);
    memcpy(l->rot_file, json_string_value(file), json_string_length(file) + 1);
    return true;
}

/* Reject any spelling other than the writer's: otherwise whitespace or escape changes in the
 * last line (which no successor's prev_hash covers) would go unnoticed. */
static bool is_canonical(json_t *o, const char *line, size_t len)
{
    char *text = json_dumps(o, TR_AUDIT_DUMP_FLAGS);
    bool ok = text && strlen(text) == len && memcmp(text, line, len) == 0;

    free(text);
    return ok;
}

/* The shape checks of tr_audit_line_check: TR_E_INVAL with a reason, or TR_OK. */
static int check_shape(json_t *o, struct tr_audit_link *cur, char *err, size_t errlen)
{
    if (!json_is_object(o)) {
        set_err(err, errlen, "malformed JSON");
        return TR_E_INVAL;
    }
    if (!has_fields(o)) {
        set_err(err, errlen, "missing or malformed seq, prev_hash, hash, time or type");
        return TR_E_INVAL;
    }
    if (strcmp(json_string_value(json_object_get(o, "type")), "rotation") == 0 &&
        !parse_marker(o, cur)) {
        set_err(err, errlen, "malformed rotation marker");
        return TR_E_INVAL;
    }
    return TR_OK;
}

int tr_audit_line_check(const char *line, size_t len, struct tr_audit_link *out, char *err,
                        size_t errlen)
{
    struct tr_audit_link cur;
    json_t *o = NULL;
    json_error_t jerr;
    char want[TR_AUDIT_HASH_HEX + 1];
    int rc = TR_E_TOO_LARGE;

    memset(&cur, 0, sizeof(cur));
    if (len > TR_AUDIT_LINE_MAX) {
        set_err(err, errlen, "line too long");
        goto out;
    }
    o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if ((rc = check_shape(o, &cur, err, errlen)) != TR_OK)
        goto out;
    rc = TR_E_TAMPER;
    if (!is_canonical(o, line, len)) {
        set_err(err, errlen, "line is not in canonical form");
        goto out;
    }
    if ((rc = tr_audit_entry_hash(o, want)) != TR_OK)
        goto out;
    rc = TR_E_TAMPER;
    /* Hashes of public lines: no secret to protect, constant time out of habit (style §5). */
    if (CRYPTO_memcmp(want, json_string_value(json_object_get(o, "hash")), TR_AUDIT_HASH_HEX)) {
        set_err(err, errlen, "hash mismatch");
        goto out;
    }
    cur.seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
    memcpy(cur.prev_hash, json_string_value(json_object_get(o, "prev_hash")),
           TR_AUDIT_HASH_HEX + 1);
    if ((rc = tr_audit_sha256_hex(line, len, cur.line_hash)) != TR_OK)
        goto out;
    *out = cur;
out:
    json_decref(o);
    return rc;
}

/* The marker's object, its "hash" still missing. NULL when a string is not UTF-8 or on OOM. */
static json_t *marker_new(uint64_t rot_seq, const char *prev, const char *time, const char *file,
                          uint64_t rot_end)
{
    json_t *o = json_object(), *rot = json_object();
    bool ok = o && rot;

    ok = ok && json_object_set_new(rot, "file", json_string(file)) == 0;
    ok = ok && json_object_set_new(rot, "seq", json_integer((json_int_t)rot_seq)) == 0;
    ok = ok && json_object_set_new(rot, "end", json_integer((json_int_t)rot_end)) == 0;
    ok = ok && json_object_set(o, "rotation", rot) == 0;
    ok = ok && json_object_set_new(o, "seq", json_integer((json_int_t)rot_seq + 1)) == 0;
    ok = ok && json_object_set_new(o, "prev_hash", json_string(prev)) == 0;
    ok = ok && json_object_set_new(o, "time", json_string(time)) == 0;
    ok = ok && json_object_set_new(o, "type", json_string("rotation")) == 0;
    json_decref(rot);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int tr_audit_rotation_line(uint64_t rot_seq, const char prev[TR_AUDIT_HASH_HEX + 1],
                           const char *time, const char *file, uint64_t rot_end, char **out,
                           size_t *out_len, char out_hash[TR_AUDIT_HASH_HEX + 1])
{
    struct tr_audit_link self;
    char hash[TR_AUDIT_HASH_HEX + 1], link[TR_AUDIT_HASH_HEX + 1] = "";
    json_t *o = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = TR_E_INVAL;

    /* Copied before out_hash is cleared: a caller may pass its chain head as both. */
    if (prev && is_hex(prev, strnlen(prev, TR_AUDIT_HASH_HEX + 1)))
        memcpy(link, prev, sizeof(link));
    *out = NULL;
    *out_len = 0;
    memset(out_hash, 0, TR_AUDIT_HASH_HEX + 1);
    if (rot_seq == 0 || rot_seq >= INT64_MAX || rot_end == 0 || rot_end > INT64_MAX || !link[0] ||
        !time || !file || !is_rot_file(file, strnlen(file, TR_AUDIT_ROT_FILE_MAX + 1)))
        goto out;
    /* jansson refuses strings that are not UTF-8: a bad time or name, not (likely) memory. */
    if (!(o = marker_new(rot_seq, link, time, file, rot_end)))
        goto out;
    if ((rc = tr_audit_entry_hash(o, hash)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (json_object_set_new(o, "hash", json_string(hash)) != 0 ||
        !(text = json_dumps(o, TR_AUDIT_DUMP_FLAGS)))
        goto out;
    len = strlen(text);
    rc = TR_E_INVAL;
    if (len > TR_AUDIT_LINE_MAX)
        goto out;
    /* The writer must never start a file with a line the verifiers refuse. */
    if ((rc = tr_audit_line_check(text, len, &self, NULL, 0)) != TR_OK || !self.rotation) {
        rc = rc == TR_E_NOMEM ? rc : TR_E_INTERNAL;
        goto out;
    }
    memcpy(out_hash, self.line_hash, TR_AUDIT_HASH_HEX + 1);
    *out = text;
    *out_len = len;
    text = NULL; /* now the caller's */
    rc = TR_OK;
out:
    free(text);
    json_decref(o);
    return rc;
}

/* Bounded line reader: a line longer than TR_AUDIT_LINE_MAX is reported, never buffered. */
enum rd_status { RD_LINE, RD_EOF, RD_TORN, RD_LONG, RD_ERR };

static enum rd_status read_line(FILE *f, char *buf, size_t *out_len)
{
    size_t n = 0;
    int c;

    while ((c = getc_unlocked(f)) != EOF) {
        if (c == '\n') {
            *out_len = n;
            return RD_LINE;
        }
        if (n == TR_AUDIT_LINE_MAX)
            return RD_LONG;
        buf[n++] = (char)c;
    }
    if (ferror(f))
        return RD_ERR;
    return n ? RD_TORN : RD_EOF;
}

/* Link rules inside one file; prev is NULL for line 1, which starts the chain or continues an
 * earlier file (its link to that file is checked by file_link_problem, when it is given). */
static const char *link_problem(const struct tr_audit_link *prev, const struct tr_audit_link *cur)
{
    if (!prev) {
        if (cur->rotation)
            return NULL;
        if (CRYPTO_memcmp(cur->prev_hash, TR_AUDIT_GENESIS, TR_AUDIT_HASH_HEX))
            return "broken link: first line's prev_hash is not the genesis value, and it is no "
                   "rotation marker";
        return cur->seq == 1 ? NULL : "gap in seq";
    }
    if (cur->rotation)
        return "rotation line inside a file";
    if (CRYPTO_memcmp(cur->prev_hash, prev->line_hash, TR_AUDIT_HASH_HEX))
        return "broken link: prev_hash is not the previous line's hash";
    if (cur->seq != prev->seq + 1)
        return "gap in seq";
    return NULL;
}

/* One line: status from the reader, then the line's own check, then its link in the file. */
static int check_line(enum rd_status st, const char *buf, size_t len,
                      const struct tr_audit_link *prev, struct tr_audit_link *out_cur, char *err,
                      size_t errlen)
{
    const char *why;
    int rc;

    if (st == RD_TORN) {
        set_err(err, errlen, "truncated last line (no newline)");
        return TR_E_TAMPER;
    }
    if (st == RD_LONG) {
        set_err(err, errlen, "line too long");
        return TR_E_TAMPER;
    }
    if ((rc = tr_audit_line_check(buf, len, out_cur, err, errlen)) != TR_OK)
        return (rc == TR_E_NOMEM || rc == TR_E_INTERNAL) ? rc : TR_E_TAMPER;
    if ((why = link_problem(prev, out_cur))) {
        set_err(err, errlen, why);
        return TR_E_TAMPER;
    }
    return TR_OK;
}

/* A walk over a series of files: the shared line buffer and what the previous file ended with. */
struct series {
    char *buf;                      /* TR_AUDIT_LINE_MAX bytes */
    size_t idx;                     /* 0-based index of the file being read */
    uint64_t prev_lines;            /* the previous file's lines ... */
    uint64_t prev_first;            /* ... its first seq ... */
    uint64_t prev_size;             /* ... its size in bytes ... */
    struct tr_audit_link prev_last; /* ... and its last line */
    struct tr_audit_report *rep;
};

/* Does first (line 1 of file s->idx >= 1, NULL if that file is empty) continue the previous file?
 * NULL if so, else why not. Every field is checked: seq and hash tie the marker to the previous
 * file's last line, end to its exact size (nothing appended after rotation). */
static const char *file_link_problem(const struct series *s, const struct tr_audit_link *first)
{
    if (s->prev_lines == 0)
        return "the earlier file is empty";
    if (!first)
        return "it is empty";
    if (!first->rotation)
        return "its first line is not a rotation marker";
    if (first->rot_seq > s->prev_last.seq)
        return "seq gap (lines or a file missing in between)";
    if (first->rot_seq < s->prev_first)
        return "the files are out of order";
    if (first->rot_seq < s->prev_last.seq)
        return "the earlier file has lines past the marker's (changed after rotation)";
    if (CRYPTO_memcmp(first->prev_hash, s->prev_last.line_hash, TR_AUDIT_HASH_HEX))
        return "prev_hash is not the earlier file's last line hash (changed after rotation)";
    if (first->rot_end != s->prev_size)
        return "the earlier file's size is not the marker's end (changed after rotation)";
    return NULL;
}

static int link_fail(struct series *s, const char *why)
{
    snprintf(s->rep->reason, sizeof(s->rep->reason), "file %zu does not continue file %zu: %s",
             s->idx + 1, s->idx, why);
    s->rep->bad_line = 0;
    return TR_E_TAMPER;
}

/* Account for one good line of the current file (lineno: its 1-based number). */
static void note_line(struct series *s, const struct tr_audit_link *cur, uint64_t lineno)
{
    struct tr_audit_report *rep = s->rep;

    if (s->idx == 0 && lineno == 1) {
        rep->first = *cur;
        rep->first_seq = cur->seq;
        rep->continues = cur->rotation;
    }
    rep->entries++;
    rep->last_seq = cur->seq;
    memcpy(rep->last_hash, cur->line_hash, sizeof(rep->last_hash));
}

/* Verify the lines of f, the file s->idx, and its link to the previous file. */
static int walk_file(struct series *s, FILE *f)
{
    struct tr_audit_link prev, cur;
    struct tr_audit_report *rep = s->rep;
    uint64_t lines = 0, size = 0, first_seq = 0;
    const char *why;
    size_t len = 0;
    enum rd_status st;
    int rc;

    memset(&prev, 0, sizeof(prev));
    while ((st = read_line(f, s->buf, &len)) != RD_EOF) {
        if (st == RD_ERR) {
            rep->bad_line = 0;
            set_err(rep->reason, sizeof(rep->reason), "read error");
            return TR_E_IO;
        }
        rep->bad_line = lines + 1;
        if ((rc = check_line(st, s->buf, len, lines ? &prev : NULL, &cur, rep->reason,
                             sizeof(rep->reason))) != TR_OK)
            return rc;
        if (lines == 0) {
            if (s->idx > 0 && (why = file_link_problem(s, &cur)))
                return link_fail(s, why);
            first_seq = cur.seq;
        }
        note_line(s, &cur, ++lines);
        size += len + 1;
        prev = cur;
    }
    rep->bad_line = 0;
    if (lines == 0 && s->idx > 0)
        return link_fail(s, file_link_problem(s, NULL));
    s->prev_lines = lines;
    s->prev_first = first_seq;
    s->prev_size = size;
    s->prev_last = prev;
    return TR_OK;
}

static int verify_path(struct series *s, const char *path)
{
    FILE *f = fopen(path, "re");
    int rc;

    if (!f) {
        snprintf(s->rep->reason, sizeof(s->rep->reason), "cannot open: %s", strerror(errno));
        return TR_E_IO;
    }
    rc = walk_file(s, f);
    fclose(f);
    return rc;
}

int tr_audit_verify_files(const char *const *paths, size_t n, struct tr_audit_report *out)
{
    struct series s;
    int rc = TR_E_INVAL;

    memset(out, 0, sizeof(*out));
    memcpy(out->last_hash, TR_AUDIT_GENESIS, sizeof(out->last_hash));
    memset(&s, 0, sizeof(s));
    s.rep = out;
    if (!paths || n == 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (!paths[i])
            goto out;
    rc = TR_E_NOMEM;
    if (!(s.buf = malloc(TR_AUDIT_LINE_MAX)))
        goto out;
    for (s.idx = 0; s.idx < n; s.idx++) {
        out->bad_file = s.idx;
        if ((rc = verify_path(&s, paths[s.idx])) != TR_OK)
            goto out;
        out->files_ok++;
    }
    out->bad_file = 0;
    out->reason[0] = '\0';
    rc = TR_OK;
out:
    if (rc != TR_OK && rc != TR_E_TAMPER && rc != TR_E_IO)
        out->bad_file = out->bad_line = 0;
    free(s.buf);
    return rc;
}

int tr_audit_verify_file(const char *path, uint64_t *out_lines, uint64_t *out_bad_line, char *err,
                         size_t errlen)
{
    struct tr_audit_report rep;
    int rc;

    if (!path)
        return TR_E_INVAL;
    rc = tr_audit_verify_files(&path, 1, &rep);
    if (rc == TR_OK || rc == TR_E_TAMPER) {
        if (out_lines)
            *out_lines = rep.entries;
        if (out_bad_line)
            *out_bad_line = rep.bad_line;
    }
    if (rc != TR_OK && rep.reason[0])
        set_err(err, errlen, rep.reason);
    return rc;
}

void tr_audit_print_name(FILE *fp, const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x80 && isprint(*p) && *p != '\\')
            fputc(*p, fp);
        else
            fprintf(fp, "\\x%02x", *p);
    }
}
