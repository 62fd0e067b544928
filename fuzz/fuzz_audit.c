/*
 * fuzz_audit - the audit log's hash-chain verifier (common/tr_audit.c), which `tresor audit
 * verify` runs over files an attacker may have edited.
 * Input, used twice: (1) as a whole audit file; (2) as the material for a valid chain of 1..4
 * entries built here with the library's own hashing (tr_audit_entry_hash, tr_audit_sha256_hex),
 * optionally opened by a rotation marker (tr_audit_rotation_line: the file continues an earlier
 * one), plus the position of one edit.
 * Invariants: (1) a file verifies only if it is empty or ends with '\n', with one good line per
 * '\n', and every line of it passes tr_audit_line_check; a rejection names the line after the
 * last good one. (2) a marker reads back with the fields it was built from; the built chain
 * verifies with every line counted; flipping any bit of any byte, deleting or swapping lines, or
 * cutting it anywhere but at a line end makes it fail; cutting whole lines from the end verifies
 * with fewer lines (the documented limit). Rotated into a second file (tr_audit_verify_files),
 * the pair verifies oldest first and fails at their link in the other order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_audit.h"
#include "util.h"

#define CHAIN_MAX 4

struct verdict {
    int rc;
    uint64_t lines, bad;
};

static struct verdict verify(const char *text, size_t len)
{
    struct verdict v = {0, 0, 0};
    char err[256] = "";

    v.rc = tr_audit_verify_file(fuzz_memfile(text, len), &v.lines, &v.bad, err, sizeof(err));
    FUZZ_CHECK(v.rc == TR_OK || v.rc == TR_E_TAMPER || v.rc == TR_E_NOMEM);
    if (v.rc == TR_E_TAMPER)
        FUZZ_CHECK(v.bad == v.lines + 1 && err[0] != '\0');
    if (v.rc == TR_OK)
        FUZZ_CHECK(v.bad == 0);
    return v;
}

static void check_any_file(const char *text, size_t len)
{
    struct verdict v = verify(text, len);
    size_t nl = 0;

    for (size_t i = 0; i < len; i++)
        nl += text[i] == '\n';
    FUZZ_CHECK(v.lines <= nl);
    if (v.rc != TR_OK)
        return;
    FUZZ_CHECK(len == 0 || text[len - 1] == '\n');
    FUZZ_CHECK(v.lines == nl);
    for (size_t start = 0, i = 0; i < len; i++) {
        if (text[i] != '\n')
            continue;
        struct tr_audit_link l;
        FUZZ_CHECK(tr_audit_line_check(text + start, i - start, &l, NULL, 0) == TR_OK);
        start = i + 1;
    }
}

/* A JSON string from fuzz bytes: as is when valid UTF-8, else their hex. */
static json_t *str_from(const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char h[2 * 64 + 1];
    json_t *s = json_stringn((const char *)p, n);

    if (s)
        return s;
    n = n > 64 ? 64 : n;
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = hex[p[i] >> 4];
        h[2 * i + 1] = hex[p[i] & 15];
    }
    return json_stringn(h, 2 * n);
}

struct chain {
    char *text;
    size_t len;
    size_t ends[CHAIN_MAX + 1]; /* offset just past each line's '\n' */
    size_t n;
    uint64_t seq0;                    /* seq of line 1 */
    char prev[TR_AUDIT_HASH_HEX + 1]; /* hash of the last line */
};

static void chain_put(struct chain *c, const char *line, size_t ll)
{
    char *t = realloc(c->text, c->len + ll + 1);

    FUZZ_CHECK(t != NULL);
    memcpy(t + c->len, line, ll);
    t[c->len + ll] = '\n';
    c->text = t;
    c->len += ll + 1;
    c->ends[c->n++] = c->len;
}

static void chain_add(struct chain *c, json_t *e)
{
    char h[TR_AUDIT_HASH_HEX + 1];

    json_object_set_new(e, "seq", json_integer((json_int_t)(c->seq0 + c->n)));
    json_object_set_new(e, "prev_hash", json_string(c->prev));
    FUZZ_CHECK(tr_audit_entry_hash(e, h) == TR_OK);
    json_object_set_new(e, "hash", json_string(h));
    char *line = json_dumps(e, TR_AUDIT_DUMP_FLAGS);
    FUZZ_CHECK(line != NULL);
    size_t ll = strlen(line);
    FUZZ_CHECK(tr_audit_sha256_hex(line, ll, c->prev) == TR_OK);
    chain_put(c, line, ll);
    free(line);
}

/* A marker as line 1 (the file continues one that ended at line rot_seq), named from the bytes
 * at a when the builder takes the name (else a fixed valid one); it must read back as built. */
static void chain_marker(struct chain *c, uint64_t rot_seq, const char *prev, uint64_t end,
                         const uint8_t *a, size_t al)
{
    json_t *name = str_from(a, al);
    const char *file = name ? json_string_value(name) : "";
    struct tr_audit_link l;
    char *line = NULL;
    size_t ll = 0;
    int rc = tr_audit_rotation_line(rot_seq, prev, "t", file, end, &line, &ll, c->prev);

    FUZZ_CHECK(rc == TR_OK || rc == TR_E_INVAL);
    if (rc != TR_OK) {
        file = "audit.log.1";
        FUZZ_CHECK(tr_audit_rotation_line(rot_seq, prev, "t", file, end, &line, &ll, c->prev) ==
                   TR_OK);
    }
    FUZZ_CHECK(tr_audit_line_check(line, ll, &l, NULL, 0) == TR_OK && l.rotation);
    FUZZ_CHECK(l.seq == rot_seq + 1 && l.rot_seq == rot_seq && l.rot_end == end);
    FUZZ_CHECK(strcmp(l.rot_file, file) == 0 && strcmp(l.prev_hash, prev) == 0);
    FUZZ_CHECK(strcmp(l.line_hash, c->prev) == 0);
    c->seq0 = rot_seq + 1;
    chain_put(c, line, ll);
    free(line);
    json_decref(name);
}

static void build_chain(struct fuzz_in *in, struct chain *c)
{
    uint8_t shape = fuzz_u8(in);
    size_t k = 1 + shape % CHAIN_MAX;

    memcpy(c->prev, TR_AUDIT_GENESIS, sizeof(c->prev));
    c->seq0 = 1;
    if (shape & 0x80) {
        const uint8_t *h;
        size_t hl = fuzz_lspan(in, 8, &h);
        char prev[TR_AUDIT_HASH_HEX + 1];
        uint64_t rot_seq = (uint64_t)fuzz_u32(in) + 1, end = (uint64_t)fuzz_u32(in) + 1;
        const uint8_t *name;
        size_t nl = fuzz_lspan(in, 40, &name);
        FUZZ_CHECK(tr_audit_sha256_hex(h, hl, prev) == TR_OK);
        chain_marker(c, rot_seq, prev, end, name, nl);
    }
    for (size_t i = 0; i < k; i++) {
        const uint8_t *a, *b, *d;
        size_t al = fuzz_lspan(in, 40, &a), bl = fuzz_lspan(in, 40, &b);
        size_t dl = fuzz_lspan(in, 40, &d);
        uint8_t flags = fuzz_u8(in);
        json_t *e = json_object(), *req = json_object();
        FUZZ_CHECK(e && req);
        json_object_set_new(e, "time", str_from(a, al));
        json_object_set_new(e, "type", json_string(flags & 1 ? "response" : "request"));
        json_object_set_new(req, "path", str_from(b, bl));
        json_object_set_new(req, "n", json_integer((json_int_t)fuzz_u32(in) - (1 << 30)));
        if (flags & 2)
            json_object_set_new(req, "ratio", json_real((double)fuzz_u32(in) / 7.0));
        if (flags & 4) {
            char key[2 * 40 + 1];
            json_t *ks = str_from(d, dl);
            snprintf(key, sizeof(key), "%s", ks ? json_string_value(ks) : "k");
            json_object_set_new(req, key[0] ? key : "k", json_pack("[b,n]", flags & 8));
            json_decref(ks);
        }
        json_object_set_new(e, "request", req);
        chain_add(c, e);
        json_decref(e);
    }
}

/* The chain rotated: file a holds it, file b starts with the marker that continues it. */
static void check_series(const struct chain *c)
{
    char a[256], b[256];
    const char *fwd[2] = {a, b}, *back[2] = {b, a};
    struct chain next = {.seq0 = 0};
    struct tr_audit_report rep;
    uint64_t last = c->seq0 + c->n - 1;
    const char *base;

    snprintf(a, sizeof(a), "%s/audit.log.%llu", fuzz_scratch(), (unsigned long long)last);
    snprintf(b, sizeof(b), "%s/audit.log", fuzz_scratch());
    base = strrchr(a, '/') + 1;
    chain_marker(&next, last, c->prev, c->len, (const uint8_t *)base, strlen(base));
    fuzz_write_file(a, c->text, c->len);
    fuzz_write_file(b, next.text, next.len);
    FUZZ_CHECK(tr_audit_verify_files(fwd, 2, &rep) == TR_OK);
    FUZZ_CHECK(rep.files_ok == 2 && rep.entries == c->n + 1 && rep.first_seq == c->seq0);
    FUZZ_CHECK(rep.last_seq == last + 1 && strcmp(rep.last_hash, next.prev) == 0);
    FUZZ_CHECK(rep.continues == (c->seq0 != 1));
    FUZZ_CHECK(tr_audit_verify_files(back, 2, &rep) == TR_E_TAMPER);
    FUZZ_CHECK(rep.bad_file == 1 && rep.bad_line == 0 && rep.entries == 1);
    free(next.text);
}

/* Each verification costs a 4 MiB line buffer (slow under ASan), so one edit per input. */
static void check_chain(struct fuzz_in *in)
{
    struct chain c = {.text = NULL};
    struct verdict v;

    build_chain(in, &c);
    v = verify(c.text, c.len);
    FUZZ_CHECK(v.rc == TR_OK && v.lines == c.n);
    if (fuzz_u8(in) & 1)
        check_series(&c);

    uint8_t kind = fuzz_u8(in);
    uint32_t pos = fuzz_u32(in) % c.len;
    if (kind % 4 == 0) { /* flip one bit of one byte */
        c.text[pos] ^= (uint8_t)(1u << (kind / 4 % 8));
        FUZZ_CHECK(verify(c.text, c.len).rc == TR_E_TAMPER);
    } else if (kind % 4 == 1) { /* keep [0, pos) */
        bool at_end = pos == 0;
        for (size_t i = 0; i < c.n; i++)
            at_end |= c.ends[i] == pos;
        v = verify(c.text, pos);
        FUZZ_CHECK(at_end ? v.rc == TR_OK : v.rc == TR_E_TAMPER);
    } else if (c.n >= 2 && kind % 4 == 2) { /* drop the first line */
        FUZZ_CHECK(verify(c.text + c.ends[0], c.len - c.ends[0]).rc == TR_E_TAMPER);
    } else if (c.n >= 2) { /* swap the first two lines */
        char *sw = malloc(c.len);
        size_t l0 = c.ends[0], l1 = c.ends[1] - c.ends[0];
        FUZZ_CHECK(sw != NULL);
        memcpy(sw, c.text + l0, l1);
        memcpy(sw + l1, c.text, l0);
        memcpy(sw + l0 + l1, c.text + l0 + l1, c.len - l0 - l1);
        FUZZ_CHECK(verify(sw, c.len).rc == TR_E_TAMPER);
        free(sw);
    }
    free(c.text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};

    if (size > 256u * 1024)
        return 0;
    fuzz_init();
    check_any_file((const char *)data, size);
    check_chain(&in);
    return 0;
}
