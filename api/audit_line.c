/* Audit lines: jansson's text of an entry, put together outside the device's lock from a template
 * and the values known at the time, then sealed for its place in the chain (audit_int.h). */
#include "audit_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The "hash" member as inserted: "hash":"<64 hex>", */
#define HASH_KEY    "\"hash\":\""
#define HASH_MEMBER (sizeof(HASH_KEY) - 1 + TR_AUDIT_HASH_HEX + 2)
/* Room after the text: seq's digits replace a one-digit placeholder (INT64_MAX has 19), '\n'. */
#define SEQ_GROWTH 18
#define LINE_TAIL  (SEQ_GROWTH + 1)
/* First guess of a text's size: most fit, larger ones are serialised a second time. */
#define DUMP_FIRST_CAP 2048
/* The characters audit_time_now writes: JSON writes them as they are. */
#define TIME_CHARS "0123456789-T:.Z"

int audit_dump(json_t *v, char **out, size_t *out_len)
{
    size_t cap = DUMP_FIRST_CAP, n;
    char *buf;

    for (;;) {
        if (!(buf = malloc(cap))) /* audit text holds MACs, not secrets */
            return TR_E_NOMEM;
        n = json_dumpb(v, buf, cap, TR_AUDIT_DUMP_FLAGS | JSON_ENCODE_ANY);
        if (n == 0 || n > TR_AUDIT_LINE_MAX) {
            free(buf);
            return n ? TR_E_TOO_LARGE : TR_E_NOMEM;
        }
        if (n <= cap)
            break;
        free(buf); /* too small: jansson told the size, serialise once more */
        cap = n;
    }
    *out = buf;
    *out_len = n;
    return TR_OK;
}

/* ---- templates ------------------------------------------------------------------------------ */

/* How many members of e sort before key in TR_AUDIT_DUMP_FLAGS order (jansson's JSON_SORT_KEYS:
 * bytes compared with memcmp, then the shorter key first). */
static size_t key_rank(json_t *e, const char *key)
{
    const size_t key_len = strlen(key);
    const char *k;
    size_t klen, rank = 0;
    json_t *v;

    json_object_keylen_foreach(e, k, klen, v)
    {
        int c = memcmp(k, key, klen < key_len ? klen : key_len);
        if (c < 0 || (c == 0 && klen < key_len))
            rank++;
    }
    return rank;
}

/* Offsets of the members numbered idx[0..n) (0-based, ascending, repeats allowed) of the compact
 * JSON object text, i.e. of their keys' opening quotes. Only jansson's own output is scanned:
 * valid JSON. false if some member is missing. */
static bool member_offsets(const char *text, size_t len, const size_t *idx, size_t n, size_t *out)
{
    size_t depth = 0, seen = 0, found = 0;
    bool in_str = false;

    for (size_t i = 0; i < len && found < n; i++) {
        if (in_str) {
            if (text[i] == '\\')
                i++; /* the escaped character cannot end the string */
            else if (text[i] == '"')
                in_str = false;
            continue;
        }
        if (text[i] == '"') {
            /* at depth 1 a string right after '{' or ',' is a key */
            if (depth == 1 && (text[i - 1] == '{' || text[i - 1] == ',')) {
                while (found < n && idx[found] == seen)
                    out[found++] = i;
                seen++;
            }
            in_str = true;
        } else if (text[i] == '{' || text[i] == '[') {
            depth++;
        } else if (text[i] == '}' || text[i] == ']') {
            depth--;
        }
    }
    return found == n;
}

/* Order points as they come in the text; P_HASH before the member it precedes (insertion sort:
 * at most AUDIT_POINTS_MAX). */
static void points_sort(struct audit_point *p, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && (p[j - 1].rank > p[j].rank ||
                                     (p[j - 1].rank == p[j].rank && p[j - 1].kind > p[j].kind));
             j--) {
            struct audit_point t = p[j];
            p[j] = p[j - 1];
            p[j - 1] = t;
        }
}

/* A fragment's key is spliced as is: it must need no escaping nor be one of the device's. */
static bool frag_key_ok(const char *k)
{
    static const char *const reserved[] = {"hash", "prev_hash", "seq", "time", "type"};

    if (!k || !*k || strspn(k, "abcdefghijklmnopqrstuvwxyz_") != strlen(k))
        return false;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(k, reserved[i]) == 0)
            return false;
    return true;
}

static bool is_empty_string_point(enum audit_point_kind k)
{
    return k == AUDIT_P_PREV || k == AUDIT_P_TIME;
}

/* Where p's value starts in the template, after checking that p's member there is
 * `"key":<placeholder>`; 0 if not (the ranks were wrong: refuse rather than splice in the
 * wrong place). */
static size_t value_at(const char *text, size_t len, const struct audit_point *p)
{
    size_t klen = strlen(p->key), v = p->at + klen + 3; /* "key": */
    size_t plen = is_empty_string_point(p->kind) ? 2 : 1;

    if (v + plen >= len || text[p->at + klen + 1] != '"' || text[p->at + klen + 2] != ':' ||
        memcmp(text + p->at + 1, p->key, klen) != 0)
        return 0;
    if (plen == 2 ? memcmp(text + v, "\"\"", 2) != 0 : text[v] != '0')
        return 0;
    if (text[v + plen] != ',' && text[v + plen] != '}')
        return 0;
    return v;
}

/* Stamp e with the device's members, placeholders where lines will differ: prev_hash and time ""
 * and seq 0 (filled per line) and 0 for each fragment. */
static int stamp(json_t *e, const char *type, const char *const *keys, size_t nkeys)
{
    (void)json_object_del(e, "hash"); /* a caller's member of that name; absent is fine */
    if (json_object_set_new(e, "type", json_string(type)) ||
        json_object_set_new(e, "time", json_string("")) ||
        json_object_set_new(e, "seq", json_integer(0)) ||
        json_object_set_new(e, "prev_hash", json_string("")))
        return TR_E_NOMEM;
    for (size_t i = 0; i < nkeys; i++)
        if (json_object_set_new(e, keys[i], json_integer(0)))
            return TR_E_NOMEM;
    return TR_OK;
}

/* Find every point in the template's text and check its placeholder. */
static int locate(json_t *e, const char *const *keys, size_t nkeys, struct audit_tmpl *t)
{
    size_t idx[AUDIT_POINTS_MAX], at[AUDIT_POINTS_MAX], n = 0;
    struct audit_point *p = t->pts;

    p[n++] = (struct audit_point){.rank = key_rank(e, "hash"), .kind = AUDIT_P_HASH};
    p[n++] = (struct audit_point){key_rank(e, "prev_hash"), AUDIT_P_PREV, "prev_hash", 0, 0, 0};
    p[n++] = (struct audit_point){key_rank(e, "seq"), AUDIT_P_SEQ, "seq", 0, 0, 0};
    p[n++] = (struct audit_point){key_rank(e, "time"), AUDIT_P_TIME, "time", 0, 0, 0};
    for (size_t i = 0; i < nkeys; i++)
        p[n++] = (struct audit_point){key_rank(e, keys[i]), AUDIT_P_FRAG, keys[i], i, 0, 0};
    points_sort(p, n);
    for (size_t i = 0; i < n; i++)
        idx[i] = p[i].rank;
    if (!member_offsets(t->text, t->len, idx, n, at))
        return TR_E_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        p[i].at = at[i];
        if (p[i].kind != AUDIT_P_HASH && !(p[i].v = value_at(t->text, t->len, &p[i])))
            return TR_E_INTERNAL;
    }
    t->npts = n;
    return TR_OK;
}

int audit_tmpl_make(json_t *e, const char *type, const char *const *keys, size_t nkeys,
                    struct audit_tmpl *out)
{
    struct audit_tmpl t = {.nfrags = nkeys};
    int rc = TR_E_INVAL;

    memset(out, 0, sizeof(*out));
    if (nkeys > AUDIT_FRAGS_MAX)
        goto out;
    for (size_t i = 0; i < nkeys; i++)
        if (!frag_key_ok(keys[i]))
            goto out;
    if ((rc = stamp(e, type, keys, nkeys)) != TR_OK)
        goto out;
    if ((rc = audit_dump(e, &t.text, &t.len)) != TR_OK)
        goto out;
    if ((rc = locate(e, keys, nkeys, &t)) != TR_OK)
        goto out;
    *out = t;
    t.text = NULL;
out:
    free(t.text);
    return rc;
}

void audit_tmpl_fini(struct audit_tmpl *t)
{
    if (!t)
        return;
    free(t->text);
    memset(t, 0, sizeof(*t));
}

/* ---- lines ---------------------------------------------------------------------------------- */

/* Copy the template into the line's buffer with every point's value in place. */
static void assemble(const struct audit_tmpl *t, const char *time, size_t time_len,
                     const struct audit_frag *frags, struct audit_line *l)
{
    size_t src = 0, dst = l->text;

    for (size_t i = 0; i < t->npts; i++) {
        const struct audit_point *p = &t->pts[i];
        size_t upto = p->kind == AUDIT_P_HASH ? p->at : p->v;

        memcpy(l->buf + dst, t->text + src, upto - src);
        dst += upto - src;
        src = upto;
        switch (p->kind) {
        case AUDIT_P_HASH:
            l->hash_at = dst;
            break;
        case AUDIT_P_PREV: /* room for the digits audit_line_seal writes */
            l->buf[dst] = '"';
            l->prev_at = dst + 1;
            memset(l->buf + dst + 1, '0', TR_AUDIT_HASH_HEX);
            l->buf[dst + 1 + TR_AUDIT_HASH_HEX] = '"';
            dst += TR_AUDIT_HASH_HEX + 2;
            src += 2;
            break;
        case AUDIT_P_TIME:
            l->buf[dst] = '"';
            memcpy(l->buf + dst + 1, time, time_len);
            l->buf[dst + 1 + time_len] = '"';
            dst += time_len + 2;
            src += 2;
            break;
        case AUDIT_P_SEQ:
            l->seq_at = dst;
            l->buf[dst++] = '0';
            src += 1;
            break;
        case AUDIT_P_FRAG:
            memcpy(l->buf + dst, frags[p->frag].text, frags[p->frag].len);
            dst += frags[p->frag].len;
            src += 1;
            break;
        }
    }
    memcpy(l->buf + dst, t->text + src, t->len - src);
}

int audit_line_make(const struct audit_tmpl *t, const char *time, const struct audit_frag *frags,
                    struct audit_line *out)
{
    struct audit_line l = {.text = HASH_MEMBER};
    size_t time_len = time ? strlen(time) : 0;
    int rc = TR_E_INVAL;

    memset(out, 0, sizeof(*out));
    if (!t->text || !time_len || strspn(time, TIME_CHARS) != time_len)
        goto out;
    l.len = t->len + TR_AUDIT_HASH_HEX + time_len;
    for (size_t i = 0; i < t->nfrags; i++) {
        if (!frags[i].text || !frags[i].len)
            goto out;
        l.len += frags[i].len - 1;
    }
    rc = TR_E_TOO_LARGE;
    if (l.len + HASH_MEMBER > TR_AUDIT_LINE_MAX)
        goto out;
    rc = TR_E_NOMEM;
    l.cap = HASH_MEMBER + l.len + LINE_TAIL;
    if (!(l.buf = malloc(l.cap))) /* audit text holds MACs, not secrets */
        goto out;
    assemble(t, time, time_len, frags, &l);
    *out = l;
    rc = TR_OK;
out:
    return rc;
}

int audit_line_prepare(json_t *e, const char *type, const char *time, struct audit_line *out)
{
    struct audit_tmpl t;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = audit_tmpl_make(e, type, NULL, 0, &t)) != TR_OK)
        return rc;
    rc = audit_line_make(&t, time, NULL, out);
    audit_tmpl_fini(&t);
    return rc;
}

int audit_line_seal(struct audit_line *l, uint64_t seq, const char prev[TR_AUDIT_HASH_HEX + 1],
                    char out_hash[TR_AUDIT_HASH_HEX + 1])
{
    char digits[24], hash[TR_AUDIT_HASH_HEX + 1];
    char *text, *line;
    size_t nd, len;
    int rc = TR_E_INTERNAL;

    if (!l->buf || l->sealed || seq == 0 || seq > (uint64_t)INT64_MAX)
        goto out;
    l->sealed = true;
    text = l->buf + l->text;
    nd = (size_t)snprintf(digits, sizeof(digits), "%" PRIu64, seq);
    len = l->len + nd - 1;
    rc = TR_E_TOO_LARGE;
    if (len + HASH_MEMBER > TR_AUDIT_LINE_MAX)
        goto out;
    memcpy(l->buf + l->prev_at, prev, TR_AUDIT_HASH_HEX);
    memmove(l->buf + l->seq_at + nd, l->buf + l->seq_at + 1, l->text + l->len - l->seq_at - 1);
    memcpy(l->buf + l->seq_at, digits, nd);
    /* the entry hash covers the text without "hash"; then the member goes in before the key
     * that sorts after it, the text before that point moving into the room left for it */
    if ((rc = tr_audit_sha256_hex(text, len, hash)) != TR_OK)
        goto out;
    line = text - HASH_MEMBER;
    memmove(line, text, l->hash_at - l->text);
    line += l->hash_at - l->text;
    memcpy(line, HASH_KEY, sizeof(HASH_KEY) - 1);
    memcpy(line + sizeof(HASH_KEY) - 1, hash, TR_AUDIT_HASH_HEX);
    memcpy(line + HASH_MEMBER - 2, "\",", 2);
    line = text - HASH_MEMBER;
    if ((rc = tr_audit_sha256_hex(line, len + HASH_MEMBER, out_hash)) != TR_OK)
        goto out;
    line[len + HASH_MEMBER] = '\n';
    l->line = l->text - HASH_MEMBER;
    l->line_len = len + HASH_MEMBER + 1;
    rc = TR_OK;
out:
    return rc;
}

void audit_line_fini(struct audit_line *l)
{
    if (!l)
        return;
    free(l->buf);
    memset(l, 0, sizeof(*l));
}
