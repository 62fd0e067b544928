/* Unit tests for the audit line format's rotation markers and the offline verifiers
 * (common/tr_audit.c): real files in a temporary directory, lines built with the library's own
 * hashing and jansson's canonical dump, chained across files the way the server rotates them. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../common/tr_audit.h"

#define TIME       "2026-01-01T00:00:00Z"
#define FILES_MAX  4
#define OTHER_HASH "1111111111111111111111111111111111111111111111111111111111111111"

/* One file of a series, built in memory: its bytes and its last line's seq. */
struct part {
    char *text;
    size_t len;
    uint64_t last_seq;
    char path[160];
};

/* A rotation series as the server writes it: the chain's head and the files so far. */
struct series {
    struct part p[FILES_MAX];
    size_t n;
    uint64_t seq;                     /* last line's seq (0: none yet) */
    char prev[TR_AUDIT_HASH_HEX + 1]; /* last line's hash */
};

struct fixture {
    char dir[64];
    struct series s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/tresor-traud-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    memcpy(f->s.prev, TR_AUDIT_GENESIS, sizeof(f->s.prev));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char p[384];

    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(f->dir);
    for (size_t i = 0; i < f->s.n; i++)
        free(f->s.p[i].text);
    free(f);
    return 0;
}

/* ---- building lines and files -------------------------------------------------------------- */

/* A request line (no '\n'), malloc'd; out_hash receives the SHA-256 of its bytes. */
static char *req_line(uint64_t seq, const char *prev, const char *op,
                      char out_hash[TR_AUDIT_HASH_HEX + 1])
{
    char path[64], hash[TR_AUDIT_HASH_HEX + 1];
    json_t *o;
    char *text;

    snprintf(path, sizeof(path), "secret/data/app-%llu", (unsigned long long)seq);
    o = json_pack("{s:s,s:s,s:I,s:s,s:{s:s,s:s}}", "time", TIME, "type", "request", "seq",
                  (json_int_t)seq, "prev_hash", prev, "request", "operation", op, "path", path);
    assert_non_null(o);
    assert_int_equal(tr_audit_entry_hash(o, hash), TR_OK);
    assert_int_equal(json_object_set_new(o, "hash", json_string(hash)), 0);
    text = json_dumps(o, TR_AUDIT_DUMP_FLAGS);
    assert_non_null(text);
    assert_int_equal(tr_audit_sha256_hex(text, strlen(text), out_hash), TR_OK);
    json_decref(o);
    return text;
}

static void part_add(struct part *p, const char *line, size_t len)
{
    char *t = realloc(p->text, p->len + len + 1);

    assert_non_null(t);
    memcpy(t + p->len, line, len);
    t[p->len + len] = '\n';
    p->text = t;
    p->len += len + 1;
}

static struct part *cur(struct series *s)
{
    if (s->n == 0)
        s->n = 1;
    return &s->p[s->n - 1];
}

static void add_requests(struct series *s, int k)
{
    for (int i = 0; i < k; i++) {
        char *line = req_line(s->seq + 1, s->prev, "read", s->prev);

        part_add(cur(s), line, strlen(line));
        s->p[s->n - 1].last_seq = ++s->seq;
        free(line);
    }
}

/* Append a marker with the given fields to the current file and continue the chain from it. */
static void add_marker(struct series *s, uint64_t rot_seq, const char *prev, const char *file,
                       uint64_t end)
{
    char *line = NULL;
    size_t len = 0;

    assert_int_equal(tr_audit_rotation_line(rot_seq, prev, TIME, file, end, &line, &len, s->prev),
                     TR_OK);
    assert_int_equal(strlen(line), len);
    part_add(cur(s), line, len);
    s->seq = rot_seq + 1;
    s->p[s->n - 1].last_seq = s->seq;
    free(line);
}

/* Rotate as the server does: the current file becomes audit.log.<seq>, a new one starts with
 * the marker linking to it. */
static void rotate(struct series *s)
{
    struct part *old = cur(s);
    char name[64];

    assert_true(s->n < FILES_MAX);
    snprintf(name, sizeof(name), "audit.log.%llu", (unsigned long long)s->seq);
    s->n++;
    add_marker(s, s->seq, s->prev, name, old->len);
}

/* Write every part: rotated ones under audit.log.<last seq>, the newest as audit.log. */
static void write_series(struct fixture *f)
{
    for (size_t i = 0; i < f->s.n; i++) {
        struct part *p = &f->s.p[i];
        FILE *fp;

        if (i + 1 == f->s.n)
            snprintf(p->path, sizeof(p->path), "%s/audit.log", f->dir);
        else
            snprintf(p->path, sizeof(p->path), "%s/audit.log.%llu", f->dir,
                     (unsigned long long)p->last_seq);
        assert_non_null(fp = fopen(p->path, "wb"));
        assert_int_equal(fwrite(p->text, 1, p->len, fp), p->len);
        assert_int_equal(fclose(fp), 0);
    }
}

static void spit(const char *path, const char *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* ---- checking ---------------------------------------------------------------------------------*/

static int verify(struct tr_audit_report *rep, size_t n, ...)
{
    const char *paths[FILES_MAX + 1];
    va_list ap;

    assert_true(n <= FILES_MAX + 1);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        paths[i] = va_arg(ap, const char *);
    va_end(ap);
    return tr_audit_verify_files(paths, n, rep);
}

static void assert_reason(const char *reason, const char *part)
{
    if (!strstr(reason, part))
        fail_msg("reason \"%s\" lacks \"%s\"", reason, part);
}

static void assert_ok(int rc, const struct tr_audit_report *rep)
{
    if (rc != TR_OK)
        fail_msg("rc %d, file %zu line %llu: %s", rc, rep->bad_file,
                 (unsigned long long)rep->bad_line, rep->reason);
    assert_string_equal(rep->reason, "");
}

/* A broken link between file bad_file - 1 and bad_file, after entries good lines. */
static void assert_link_broken(int rc, const struct tr_audit_report *rep, size_t bad_file,
                               uint64_t entries, const char *why)
{
    char head[64];

    assert_int_equal(rc, TR_E_TAMPER);
    assert_int_equal(rep->bad_file, bad_file);
    assert_int_equal(rep->bad_line, 0);
    assert_int_equal(rep->files_ok, bad_file);
    assert_int_equal(rep->entries, entries);
    snprintf(head, sizeof(head), "file %zu does not continue file %zu: ", bad_file + 1, bad_file);
    assert_reason(rep->reason, head);
    assert_reason(rep->reason, why);
}

static void assert_single_bad(const char *path, uint64_t bad, const char *why)
{
    uint64_t lines = 99, b = 99;
    char err[160] = "";

    assert_int_equal(tr_audit_verify_file(path, &lines, &b, err, sizeof(err)), TR_E_TAMPER);
    assert_int_equal(b, bad);
    assert_int_equal(lines, bad - 1);
    assert_reason(err, why);
}

/* ---- tr_audit_rotation_line / tr_audit_line_check ------------------------------------------- */

static void test_tr_audit_rotation_line_round_trip(void **state)
{
    char hash[TR_AUDIT_HASH_HEX + 1], prev[TR_AUDIT_HASH_HEX + 1], want[TR_AUDIT_HASH_HEX + 1];
    char body[400], full[512];
    struct tr_audit_link l;
    char *line = NULL, *req;
    size_t len = 0;

    (void)state;
    req = req_line(1, TR_AUDIT_GENESIS, "read", prev);
    assert_int_equal(
        tr_audit_rotation_line(41, prev, TIME, "audit.log.41", 12345, &line, &len, hash), TR_OK);
    assert_non_null(line);
    assert_int_equal(strlen(line), len); /* NUL-terminated, len without it */
    /* The exact documented shape: sorted keys, compact, hash over the rest. */
    snprintf(body, sizeof(body),
             "{\"prev_hash\":\"%s\",\"rotation\":{\"end\":12345,\"file\":\"audit.log.41\","
             "\"seq\":41},\"seq\":42,\"time\":\"" TIME "\",\"type\":\"rotation\"}",
             prev);
    assert_int_equal(tr_audit_sha256_hex(body, strlen(body), want), TR_OK);
    snprintf(full, sizeof(full), "{\"hash\":\"%s\",%s", want, body + 1);
    assert_string_equal(line, full);
    assert_int_equal(tr_audit_sha256_hex(line, len, want), TR_OK);
    assert_string_equal(hash, want); /* out_hash: the next line's prev_hash */

    memset(&l, 0xa5, sizeof(l));
    assert_int_equal(tr_audit_line_check(line, len, &l, NULL, 0), TR_OK);
    assert_true(l.rotation);
    assert_int_equal(l.seq, 42);
    assert_int_equal(l.rot_seq, 41);
    assert_int_equal(l.rot_end, 12345);
    assert_string_equal(l.rot_file, "audit.log.41");
    assert_string_equal(l.prev_hash, prev);
    assert_string_equal(l.line_hash, hash);

    /* An ordinary line: rotation false and rot_* zero, whatever *out held. */
    memset(&l, 0xa5, sizeof(l));
    assert_int_equal(tr_audit_line_check(req, strlen(req), &l, NULL, 0), TR_OK);
    assert_false(l.rotation);
    assert_int_equal(l.rot_seq, 0);
    assert_int_equal(l.rot_end, 0);
    assert_string_equal(l.rot_file, "");
    assert_int_equal(l.seq, 1);
    free(line);
    free(req);
}

static void test_tr_audit_rotation_line_bounds(void **state)
{
    char hash[TR_AUDIT_HASH_HEX + 1], name[TR_AUDIT_ROT_FILE_MAX + 1];
    struct tr_audit_link l;
    char *line = NULL;
    size_t len = 0;

    (void)state;
    memset(name, 'n', TR_AUDIT_ROT_FILE_MAX);
    name[TR_AUDIT_ROT_FILE_MAX] = '\0';
    assert_int_equal(
        tr_audit_rotation_line(INT64_MAX - 1, OTHER_HASH, "", name, INT64_MAX, &line, &len, hash),
        TR_OK);
    assert_int_equal(tr_audit_line_check(line, len, &l, NULL, 0), TR_OK);
    assert_int_equal(l.seq, (uint64_t)INT64_MAX);
    assert_int_equal(l.rot_end, (uint64_t)INT64_MAX);
    assert_string_equal(l.rot_file, name);
    free(line);
    line = NULL;
    assert_int_equal(
        tr_audit_rotation_line(1, OTHER_HASH, TIME, "\xc3\xa9t\xc3\xa9 .log", 1, &line, &len, hash),
        TR_OK); /* UTF-8 and spaces are fine in a name */
    assert_int_equal(tr_audit_line_check(line, len, &l, NULL, 0), TR_OK);
    assert_string_equal(l.rot_file, "\xc3\xa9t\xc3\xa9 .log");
    free(line);
}

static void assert_builder_refuses(uint64_t rot_seq, const char *prev, const char *time,
                                   const char *file, uint64_t end)
{
    char hash[TR_AUDIT_HASH_HEX + 1];
    char *line = (char *)"untouched";
    size_t len = 7;

    memset(hash, 'x', sizeof(hash));
    assert_int_equal(tr_audit_rotation_line(rot_seq, prev, time, file, end, &line, &len, hash),
                     TR_E_INVAL);
    assert_null(line);
    assert_int_equal(len, 0);
    for (size_t i = 0; i < sizeof(hash); i++)
        assert_int_equal(hash[i], 0);
}

static void test_tr_audit_rotation_line_invalid(void **state)
{
    char long_name[TR_AUDIT_ROT_FILE_MAX + 2];

    (void)state;
    memset(long_name, 'n', TR_AUDIT_ROT_FILE_MAX + 1);
    long_name[TR_AUDIT_ROT_FILE_MAX + 1] = '\0'; /* 256 bytes */
    assert_builder_refuses(5, OTHER_HASH, TIME, "a/b", 10);
    assert_builder_refuses(5, OTHER_HASH, TIME, "/abs", 10);
    assert_builder_refuses(5, OTHER_HASH, TIME, "..", 10);
    assert_builder_refuses(5, OTHER_HASH, TIME, ".", 10);
    assert_builder_refuses(5, OTHER_HASH, TIME, "", 10);
    assert_builder_refuses(5, OTHER_HASH, TIME, long_name, 10);
    assert_builder_refuses(5, OTHER_HASH, TIME, "bad\xff", 10); /* not UTF-8 */
    assert_builder_refuses(5, OTHER_HASH, TIME, NULL, 10);
    assert_builder_refuses(0, OTHER_HASH, TIME, "a", 10);
    assert_builder_refuses(INT64_MAX, OTHER_HASH, TIME, "a", 10);
    assert_builder_refuses(UINT64_MAX, OTHER_HASH, TIME, "a", 10);
    assert_builder_refuses(5, OTHER_HASH, TIME, "a", 0);
    assert_builder_refuses(5, OTHER_HASH, TIME, "a", (uint64_t)INT64_MAX + 1);
    assert_builder_refuses(5, NULL, TIME, "a", 10);
    assert_builder_refuses(5, "abc", TIME, "a", 10);
    assert_builder_refuses(5, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                           TIME, "a", 10);
    assert_builder_refuses(5, OTHER_HASH "0", TIME, "a", 10); /* 65 digits */
    assert_builder_refuses(5, OTHER_HASH, NULL, "a", 10);
    assert_builder_refuses(5, OTHER_HASH, "\xff", "a", 10);
}

/* A valid marker's object, to be broken by the caller. */
static json_t *marker_obj(void)
{
    char hash[TR_AUDIT_HASH_HEX + 1];
    char *line = NULL;
    size_t len = 0;
    json_t *o;

    assert_int_equal(
        tr_audit_rotation_line(7, OTHER_HASH, TIME, "audit.log.7", 900, &line, &len, hash), TR_OK);
    o = json_loadb(line, len, 0, NULL);
    assert_non_null(o);
    free(line);
    return o;
}

/* Re-hash o (so only its shape is wrong), dump it canonically and check it: TR_E_INVAL. */
static void assert_marker_refused(json_t *o, const char *why)
{
    char hash[TR_AUDIT_HASH_HEX + 1], err[160] = "";
    struct tr_audit_link l;
    char *line;

    assert_int_equal(tr_audit_entry_hash(o, hash), TR_OK);
    assert_int_equal(json_object_set_new(o, "hash", json_string(hash)), 0);
    line = json_dumps(o, TR_AUDIT_DUMP_FLAGS | JSON_ENCODE_ANY);
    assert_non_null(line);
    assert_int_equal(tr_audit_line_check(line, strlen(line), &l, err, sizeof(err)), TR_E_INVAL);
    assert_reason(err, why);
    assert_null(strstr(err, "audit.log")); /* data-free */
    assert_null(strstr(err, "evil"));
    free(line);
    json_decref(o);
}

static void set_rot(json_t *o, const char *key, json_t *v)
{
    json_t *rot = json_object_get(o, "rotation");

    assert_non_null(rot);
    if (v)
        assert_int_equal(json_object_set_new(rot, key, v), 0);
    else
        assert_int_equal(json_object_del(rot, key), 0);
}

static void test_tr_audit_line_check_marker_malformed(void **state)
{
    char long_name[TR_AUDIT_ROT_FILE_MAX + 2];
    const char *bad_names[] = {"a/b", "evil/../x", "..", ".", "", long_name};
    json_t *o;

    (void)state;
    memset(long_name, 'n', TR_AUDIT_ROT_FILE_MAX + 1);
    long_name[TR_AUDIT_ROT_FILE_MAX + 1] = '\0';
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        o = marker_obj();
        set_rot(o, "file", json_string(bad_names[i]));
        assert_marker_refused(o, "malformed rotation marker");
    }
    o = marker_obj();
    set_rot(o, "file", json_stringn("evil\0x", 6)); /* a NUL inside */
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    set_rot(o, "file", json_integer(3));
    assert_marker_refused(o, "malformed rotation marker");
    /* seq != rotation.seq + 1, both ways, and rotation.seq 0 on a line of seq 1 */
    o = marker_obj();
    set_rot(o, "seq", json_integer(8));
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    assert_int_equal(json_object_set_new(o, "seq", json_integer(9)), 0);
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    assert_int_equal(json_object_set_new(o, "seq", json_integer(1)), 0);
    set_rot(o, "seq", json_integer(0));
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    set_rot(o, "seq", json_real(7.0));
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    set_rot(o, "seq", json_string("7"));
    assert_marker_refused(o, "malformed rotation marker");
    /* rotation.end */
    o = marker_obj();
    set_rot(o, "end", json_integer(0));
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    set_rot(o, "end", json_integer(-900));
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    set_rot(o, "end", json_string("900"));
    assert_marker_refused(o, "malformed rotation marker");
    /* missing and extra members */
    const char *rot_keys[] = {"end", "file", "seq"};
    for (size_t i = 0; i < 3; i++) {
        o = marker_obj();
        set_rot(o, rot_keys[i], NULL);
        assert_marker_refused(o, "malformed rotation marker");
    }
    o = marker_obj();
    set_rot(o, "evil", json_true());
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    assert_int_equal(json_object_set_new(o, "request", json_pack("{s:s}", "path", "evil")), 0);
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    assert_int_equal(json_object_del(o, "rotation"), 0);
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    assert_int_equal(json_object_set_new(o, "rotation", json_string("audit.log.7")), 0);
    assert_marker_refused(o, "malformed rotation marker");
    o = marker_obj();
    assert_int_equal(json_object_set_new(o, "rotation", json_pack("[s,i,i]", "a", 7, 900)), 0);
    assert_marker_refused(o, "malformed rotation marker");
    /* the common fields stay required on a marker */
    o = marker_obj();
    assert_int_equal(json_object_del(o, "time"), 0);
    assert_marker_refused(o, "missing or malformed");
    o = marker_obj();
    assert_int_equal(json_object_set_new(o, "type", json_string("rotate")), 0);
    assert_marker_refused(o, "missing or malformed");
}

static void test_tr_audit_line_check_marker_tampered(void **state)
{
    char hash[TR_AUDIT_HASH_HEX + 1], err[160];
    struct tr_audit_link l;
    char *line = NULL, *spaced, *p;
    size_t len = 0;

    (void)state;
    assert_int_equal(
        tr_audit_rotation_line(7, OTHER_HASH, TIME, "audit.log.7", 900, &line, &len, hash), TR_OK);
    /* Non-canonical: a space after the first ':' (same JSON, other bytes). */
    assert_non_null(spaced = malloc(len + 2));
    p = strchr(line, ':');
    memcpy(spaced, line, (size_t)(p - line) + 1);
    spaced[p - line + 1] = ' ';
    memcpy(spaced + (p - line) + 2, p + 1, len - (size_t)(p - line));
    assert_int_equal(tr_audit_line_check(spaced, len + 1, &l, err, sizeof(err)), TR_E_TAMPER);
    assert_reason(err, "canonical");
    /* The end changed without re-hashing: 900 -> 901. */
    p = strstr(line, "\"end\":900");
    assert_non_null(p);
    p[8] = '1';
    assert_int_equal(tr_audit_line_check(line, len, &l, err, sizeof(err)), TR_E_TAMPER);
    assert_reason(err, "hash mismatch");
    free(spaced);
    free(line);
}

/* ---- tr_audit_verify_file / tr_audit_verify_files on one file ------------------------------- */

static void test_tr_audit_verify_files_continuation_alone(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;
    uint64_t lines = 0, bad = 99;

    add_requests(&f->s, 3);
    rotate(&f->s);
    add_requests(&f->s, 2);
    write_series(f);
    assert_ok(verify(&rep, 1, f->s.p[1].path), &rep);
    assert_int_equal(rep.files_ok, 1);
    assert_int_equal(rep.entries, 3);
    assert_int_equal(rep.first_seq, 4);
    assert_int_equal(rep.last_seq, 6);
    assert_true(rep.continues);
    assert_true(rep.first.rotation);
    assert_string_equal(rep.first.rot_file, "audit.log.3");
    assert_int_equal(rep.first.rot_seq, 3);
    assert_int_equal(rep.first.rot_end, f->s.p[0].len);
    assert_string_equal(rep.last_hash, f->s.prev);
    assert_int_equal(tr_audit_verify_file(f->s.p[1].path, &lines, &bad, NULL, 0), TR_OK);
    assert_int_equal(lines, 3);
    assert_int_equal(bad, 0);
    /* The first file alone: a chain start, not a continuation. */
    assert_ok(verify(&rep, 1, f->s.p[0].path), &rep);
    assert_false(rep.continues);
    assert_false(rep.first.rotation);
    assert_int_equal(rep.first_seq, 1);
    assert_int_equal(rep.last_seq, 3);
    /* A file holding only its marker (rotated, nothing written since). */
    spit(f->s.p[1].path, f->s.p[1].text,
         (size_t)(strchr(f->s.p[1].text, '\n') - f->s.p[1].text) + 1);
    assert_ok(verify(&rep, 1, f->s.p[1].path), &rep);
    assert_int_equal(rep.entries, 1);
    assert_true(rep.continues);
    assert_int_equal(rep.first_seq, 4);
    assert_int_equal(rep.last_seq, 4);
}

static void test_tr_audit_verify_file_rotation_in_middle(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;

    /* A well-linked marker as line 3 of a file: refused there. */
    add_requests(&f->s, 2);
    add_marker(&f->s, f->s.seq, f->s.prev, "audit.log.2", f->s.p[0].len);
    add_requests(&f->s, 2);
    write_series(f);
    assert_single_bad(f->s.p[0].path, 3, "rotation line inside a file");
    assert_int_equal(verify(&rep, 1, f->s.p[0].path), TR_E_TAMPER);
    assert_int_equal(rep.bad_file, 0);
    assert_int_equal(rep.bad_line, 3);
    assert_int_equal(rep.entries, 2);
    assert_int_equal(rep.last_seq, 2);
}

/* Two files of a series pasted together: the marker is line 4. */
static void test_tr_audit_verify_file_joined_files(void **state)
{
    struct fixture *f = *state;
    char path[160];
    FILE *fp;

    add_requests(&f->s, 3);
    rotate(&f->s);
    add_requests(&f->s, 1);
    write_series(f);
    snprintf(path, sizeof(path), "%s/joined.log", f->dir);
    assert_non_null(fp = fopen(path, "wb"));
    assert_int_equal(fwrite(f->s.p[0].text, 1, f->s.p[0].len, fp), f->s.p[0].len);
    assert_int_equal(fwrite(f->s.p[1].text, 1, f->s.p[1].len, fp), f->s.p[1].len);
    assert_int_equal(fclose(fp), 0);
    assert_single_bad(path, 4, "rotation line inside a file");
}

/* The ordinary chain rules still hold after a marker, and a file missing its first lines (no
 * marker, no chain start) is bad at line 1. */
static void test_tr_audit_verify_file_continuation_tampered(void **state)
{
    struct fixture *f = *state;
    struct part *p;
    char *nl;

    add_requests(&f->s, 2);
    rotate(&f->s);
    add_requests(&f->s, 3);
    write_series(f);
    p = &f->s.p[1];
    nl = strchr(p->text, '\n'); /* drop the marker */
    spit(p->path, nl + 1, p->len - (size_t)(nl + 1 - p->text));
    assert_single_bad(p->path, 1, "genesis");
    nl = strchr(strchr(p->text, '\n') + 1, '\n'); /* drop the marker and line 2 */
    spit(p->path, nl + 1, p->len - (size_t)(nl + 1 - p->text));
    assert_single_bad(p->path, 1, "genesis");
    nl = strstr(p->text, "app-4");
    assert_non_null(nl);
    nl[4] = '9'; /* edit line 2 of the continuation (seq 4) */
    spit(p->path, p->text, p->len);
    assert_single_bad(p->path, 2, "hash mismatch");
    nl[4] = '4';
    spit(p->path, p->text, p->len - 1); /* torn last line */
    assert_single_bad(p->path, 4, "truncated");
}

/* ---- tr_audit_verify_files on a series ------------------------------------------------------ */

static void test_tr_audit_verify_files_two_and_three(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;

    add_requests(&f->s, 3);
    rotate(&f->s);
    add_requests(&f->s, 2);
    write_series(f);
    assert_ok(verify(&rep, 2, f->s.p[0].path, f->s.p[1].path), &rep);
    assert_int_equal(rep.files_ok, 2);
    assert_int_equal(rep.entries, 6); /* 3, the marker, 2 */
    assert_int_equal(rep.first_seq, 1);
    assert_int_equal(rep.last_seq, 6);
    assert_false(rep.continues);
    assert_string_equal(rep.last_hash, f->s.prev);
    assert_int_equal(rep.bad_file, 0);
    assert_int_equal(rep.bad_line, 0);

    rotate(&f->s); /* a third file: marker only, then one line */
    add_requests(&f->s, 1);
    write_series(f); /* audit.log.6 now holds what audit.log held */
    assert_ok(verify(&rep, 3, f->s.p[0].path, f->s.p[1].path, f->s.p[2].path), &rep);
    assert_int_equal(rep.files_ok, 3);
    assert_int_equal(rep.entries, 8);
    assert_int_equal(rep.first_seq, 1);
    assert_int_equal(rep.last_seq, 8);
    assert_string_equal(rep.last_hash, f->s.prev);
    /* The newer two alone: a continuation of audit.log.3. */
    assert_ok(verify(&rep, 2, f->s.p[1].path, f->s.p[2].path), &rep);
    assert_int_equal(rep.entries, 5);
    assert_int_equal(rep.first_seq, 4);
    assert_int_equal(rep.last_seq, 8);
    assert_true(rep.continues);
    assert_string_equal(rep.first.rot_file, "audit.log.3");
}

/* Two files whose second starts with a marker built from the given fields (the first file is
 * three lines); the chain goes on from that marker. */
static void two_files(struct fixture *f, uint64_t rot_seq, const char *prev, uint64_t end_delta)
{
    char p0[TR_AUDIT_HASH_HEX + 1];

    add_requests(&f->s, 3);
    memcpy(p0, prev ? prev : f->s.prev, sizeof(p0));
    f->s.n++;
    add_marker(&f->s, rot_seq, p0, "audit.log.3", f->s.p[0].len + end_delta);
    add_requests(&f->s, 2);
    write_series(f);
}

static void test_tr_audit_verify_files_link_prev_hash(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;

    two_files(f, 3, OTHER_HASH, 0);
    assert_link_broken(verify(&rep, 2, f->s.p[0].path, f->s.p[1].path), &rep, 1, 3, "prev_hash");
    assert_int_equal(rep.last_seq, 3);
    /* Each file is fine on its own. */
    assert_ok(verify(&rep, 1, f->s.p[1].path), &rep);
}

static void test_tr_audit_verify_files_link_seq_gap(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;

    two_files(f, 4, NULL, 0);
    assert_link_broken(verify(&rep, 2, f->s.p[0].path, f->s.p[1].path), &rep, 1, 3, "seq gap");
}

static void test_tr_audit_verify_files_link_end(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;

    two_files(f, 3, NULL, 1);
    assert_link_broken(verify(&rep, 2, f->s.p[0].path, f->s.p[1].path), &rep, 1, 3,
                       "size is not the marker's end");
}

static void append_line(const char *path, const char *line)
{
    FILE *fp = fopen(path, "ab");

    assert_non_null(fp);
    assert_true(fprintf(fp, "%s\n", line) > 0);
    assert_int_equal(fclose(fp), 0);
}

/* The rotated file changed after rotation: a valid line appended, its last line cut or replaced
 * by another at the same seq; or the marker's own bytes edited. */
static void test_tr_audit_verify_files_rotated_file_changed(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;
    char h2[TR_AUDIT_HASH_HEX + 1], h3[TR_AUDIT_HASH_HEX + 1], h[TR_AUDIT_HASH_HEX + 1];
    struct part *p0 = &f->s.p[0];
    size_t two_lines;
    char *extra, *p;

    add_requests(&f->s, 2);
    memcpy(h2, f->s.prev, sizeof(h2));
    two_lines = p0->len;
    add_requests(&f->s, 1);
    memcpy(h3, f->s.prev, sizeof(h3));
    rotate(&f->s);
    add_requests(&f->s, 2);
    write_series(f);
    /* appended: line 4, well linked to line 3 (the rotated file verifies alone) */
    extra = req_line(4, h3, "read", h);
    append_line(p0->path, extra);
    free(extra);
    assert_ok(verify(&rep, 1, p0->path), &rep);
    assert_link_broken(verify(&rep, 2, p0->path, f->s.p[1].path), &rep, 1, 4,
                       "changed after rotation");
    /* cut: the last line removed */
    spit(p0->path, p0->text, two_lines);
    assert_ok(verify(&rep, 1, p0->path), &rep);
    assert_link_broken(verify(&rep, 2, p0->path, f->s.p[1].path), &rep, 1, 2, "seq gap");
    /* replaced: another line 3, well linked to line 2 */
    extra = req_line(3, h2, "list", h);
    append_line(p0->path, extra);
    free(extra);
    assert_ok(verify(&rep, 1, p0->path), &rep);
    assert_link_broken(verify(&rep, 2, p0->path, f->s.p[1].path), &rep, 1, 3, "prev_hash");
    /* the marker's own bytes edited: bad line 1 of file 2, not a link failure */
    spit(p0->path, p0->text, p0->len);
    assert_ok(verify(&rep, 2, p0->path, f->s.p[1].path), &rep);
    p = strstr(f->s.p[1].text, "audit.log.3");
    assert_non_null(p);
    p[10] = '4';
    spit(f->s.p[1].path, f->s.p[1].text, f->s.p[1].len);
    assert_int_equal(verify(&rep, 2, p0->path, f->s.p[1].path), TR_E_TAMPER);
    assert_int_equal(rep.bad_file, 1);
    assert_int_equal(rep.bad_line, 1);
    assert_int_equal(rep.entries, 3);
    assert_int_equal(rep.files_ok, 1);
    assert_reason(rep.reason, "hash mismatch");
}

static void test_tr_audit_verify_files_wrong_order_and_missing(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;
    const char *a, *b, *c;

    add_requests(&f->s, 2);
    rotate(&f->s);
    add_requests(&f->s, 2);
    rotate(&f->s);
    add_requests(&f->s, 2);
    write_series(f);
    a = f->s.p[0].path;
    b = f->s.p[1].path;
    c = f->s.p[2].path;
    assert_ok(verify(&rep, 3, a, b, c), &rep);
    assert_int_equal(rep.entries, 8);
    /* newest first: the chain start is no marker */
    assert_link_broken(verify(&rep, 2, b, a), &rep, 1, 3, "not a rotation marker");
    assert_link_broken(verify(&rep, 3, c, b, a), &rep, 1, 3, "out of order");
    assert_link_broken(verify(&rep, 3, a, c, b), &rep, 1, 2, "seq gap");
    /* the middle file missing */
    assert_link_broken(verify(&rep, 2, a, c), &rep, 1, 2, "seq gap");
    /* the same file twice */
    assert_link_broken(verify(&rep, 2, b, b), &rep, 1, 3, "out of order");
}

static void test_tr_audit_verify_files_empty(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;
    char empty[160];
    uint64_t lines = 99, bad = 99;

    add_requests(&f->s, 2);
    rotate(&f->s);
    add_requests(&f->s, 1);
    write_series(f);
    snprintf(empty, sizeof(empty), "%s/empty.log", f->dir);
    spit(empty, "", 0);
    assert_ok(verify(&rep, 1, empty), &rep);
    assert_int_equal(rep.files_ok, 1);
    assert_int_equal(rep.entries, 0);
    assert_int_equal(rep.first_seq, 0);
    assert_int_equal(rep.last_seq, 0);
    assert_false(rep.continues);
    assert_string_equal(rep.last_hash, TR_AUDIT_GENESIS);
    assert_int_equal(tr_audit_verify_file(empty, &lines, &bad, NULL, 0), TR_OK);
    assert_int_equal(lines, 0);
    assert_int_equal(bad, 0);
    assert_link_broken(verify(&rep, 2, f->s.p[0].path, empty), &rep, 1, 2, "it is empty");
    assert_link_broken(verify(&rep, 2, empty, f->s.p[1].path), &rep, 1, 0, "earlier file is empty");
    assert_link_broken(verify(&rep, 2, empty, empty), &rep, 1, 0, "empty");
    assert_link_broken(verify(&rep, 3, f->s.p[0].path, empty, f->s.p[1].path), &rep, 1, 2,
                       "it is empty");
}

static void test_tr_audit_verify_files_io_and_args(void **state)
{
    struct fixture *f = *state;
    struct tr_audit_report rep;
    const char *paths[2] = {NULL, NULL};
    char missing[160];

    add_requests(&f->s, 2);
    write_series(f);
    snprintf(missing, sizeof(missing), "%s/no-such.log", f->dir);
    assert_int_equal(verify(&rep, 2, f->s.p[0].path, missing), TR_E_IO);
    assert_int_equal(rep.bad_file, 1);
    assert_int_equal(rep.bad_line, 0);
    assert_int_equal(rep.files_ok, 1);
    assert_int_equal(rep.entries, 2);
    assert_reason(rep.reason, "cannot open");
    assert_null(strstr(rep.reason, "no-such"));
    assert_int_equal(verify(&rep, 1, missing), TR_E_IO);
    assert_int_equal(rep.bad_file, 0);
    /* a directory opens but cannot be read */
    assert_int_equal(verify(&rep, 2, f->s.p[0].path, f->dir), TR_E_IO);
    assert_int_equal(rep.bad_file, 1);
    assert_int_equal(rep.bad_line, 0);
    assert_reason(rep.reason, "read error");

    assert_int_equal(tr_audit_verify_files(NULL, 1, &rep), TR_E_INVAL);
    paths[0] = f->s.p[0].path;
    assert_int_equal(tr_audit_verify_files(paths, 0, &rep), TR_E_INVAL);
    assert_int_equal(tr_audit_verify_files(paths, 2, &rep), TR_E_INVAL); /* paths[1] NULL */
    assert_int_equal(rep.entries, 0);
    assert_int_equal(tr_audit_verify_file(NULL, NULL, NULL, NULL, 0), TR_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tr_audit_rotation_line_round_trip),
        cmocka_unit_test(test_tr_audit_rotation_line_bounds),
        cmocka_unit_test(test_tr_audit_rotation_line_invalid),
        cmocka_unit_test(test_tr_audit_line_check_marker_malformed),
        cmocka_unit_test(test_tr_audit_line_check_marker_tampered),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_files_continuation_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_file_rotation_in_middle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_file_joined_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_file_continuation_tampered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_files_two_and_three, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_files_link_prev_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_files_link_seq_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_files_link_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_files_rotated_file_changed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_files_wrong_order_and_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_files_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tr_audit_verify_files_io_and_args, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
