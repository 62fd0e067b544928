#include "agent_tmpl.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "input.h"

/* Rendered output larger than this is refused: a runaway template, not a config file. */
#define AGENT_TMPL_OUT_MAX (64u * 1024u * 1024u)

#define SECRET_FORM_HINT " (the only action is {{ secret \"PATH\" \"FIELD\" }})"

struct seg {
    char *text; /* literal text (is_ref false), or the PATH argument */
    size_t len;
    char *field; /* the FIELD argument; NULL for literal text */
};

struct agent_tmpl {
    struct seg *v;
    size_t n, cap;
};

/* The scanner's position, for messages. */
struct scan {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
};

void agent_tmpl_free(struct agent_tmpl *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].text);
        free(t->v[i].field);
    }
    free(t->v);
    free(t);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Append a segment; text and field are taken over (freed here on failure). */
static int seg_add(struct agent_tmpl *t, char *text, size_t len, char *field)
{
    struct seg *nv;
    size_t ncap;

    if (t->n == t->cap) {
        ncap = t->cap ? t->cap * 2 : 8;
        if (ncap > SIZE_MAX / sizeof(*nv) || !(nv = realloc(t->v, ncap * sizeof(*nv)))) {
            free(text);
            free(field);
            return TR_E_NOMEM;
        }
        t->v = nv;
        t->cap = ncap;
    }
    t->v[t->n++] = (struct seg){.text = text, .len = len, .field = field};
    return TR_OK;
}

static int lit_add(struct agent_tmpl *t, const char *s, size_t len)
{
    char *p;

    if (len == 0)
        return TR_OK;
    if (!(p = dup_n(s, len)))
        return TR_E_NOMEM;
    return seg_add(t, p, len, NULL);
}

static int scan_fail(struct scan *sc, size_t at, int rc, const char *why, const char *what)
{
    size_t line = 1, col = 1;

    for (size_t i = 0; i < at && i < sc->len; i++) {
        if (sc->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(sc->err, sc->errlen, "line %zu, column %zu: %s%s", line, col, why, what);
    return rc;
}

static size_t skip_blanks(struct scan *sc)
{
    size_t n = 0;

    while (sc->pos < sc->len && (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t')) {
        sc->pos++;
        n++;
    }
    return n;
}

/* A double-quoted argument without escapes; *out owned. */
static int scan_string(struct scan *sc, const char *name, char **out)
{
    size_t start, at = sc->pos;
    char msg[96];

    *out = NULL;
    snprintf(msg, sizeof(msg), "expected the quoted %s argument", name);
    if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
        return scan_fail(sc, at, TR_E_INVAL, msg, SECRET_FORM_HINT);
    start = ++sc->pos;
    while (sc->pos < sc->len && sc->s[sc->pos] != '"') {
        unsigned char c = (unsigned char)sc->s[sc->pos];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return scan_fail(sc, sc->pos, TR_E_INVAL, name,
                             " must not contain escapes, control characters or line breaks");
        sc->pos++;
    }
    if (sc->pos >= sc->len)
        return scan_fail(sc, at, TR_E_INVAL, "unterminated string", "");
    if (sc->pos == start)
        return scan_fail(sc, at, TR_E_INVAL, name, " must not be empty");
    if (sc->pos - start > AGENT_TMPL_ARG_MAX)
        return scan_fail(sc, at, TR_E_TOO_LARGE, name, " is too long");
    if (!(*out = dup_n(sc->s + start, sc->pos - start)))
        return TR_E_NOMEM;
    sc->pos++;
    return TR_OK;
}

/* The function name after {{: printable bytes up to a blank, a quote or a brace. */
static size_t scan_word(struct scan *sc)
{
    size_t start = sc->pos;

    while (sc->pos < sc->len) {
        unsigned char c = (unsigned char)sc->s[sc->pos];
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '}')
            break;
        sc->pos++;
    }
    return sc->pos - start;
}

/* What follows the FIELD argument: blanks, then }}. */
static int scan_close(struct scan *sc, size_t open)
{
    skip_blanks(sc);
    if (sc->len - sc->pos >= 2 && memcmp(sc->s + sc->pos, "}}", 2) == 0) {
        sc->pos += 2;
        return TR_OK;
    }
    if (sc->len - sc->pos >= 3 && memcmp(sc->s + sc->pos, "-}}", 3) == 0)
        return scan_fail(sc, sc->pos, TR_E_INVAL, "trim markers ({{- and -}}) are not supported",
                         "");
    if (sc->pos >= sc->len)
        return scan_fail(sc, open, TR_E_INVAL, "unterminated {{ (missing }})", "");
    return scan_fail(sc, sc->pos, TR_E_INVAL, "expected }} after the FIELD argument",
                     SECRET_FORM_HINT);
}

/* One action; sc->pos is just after its {{ (at open). */
static int scan_action(struct scan *sc, size_t open, struct agent_tmpl *t)
{
    char *path = NULL, *field = NULL, name[48];
    size_t wstart, wlen;
    int rc;

    if (sc->pos < sc->len && sc->s[sc->pos] == '-')
        return scan_fail(sc, sc->pos, TR_E_INVAL, "trim markers ({{- and -}}) are not supported",
                         "");
    skip_blanks(sc);
    wstart = sc->pos;
    if ((wlen = scan_word(sc)) == 0)
        return scan_fail(sc, sc->pos >= sc->len ? open : sc->pos, TR_E_INVAL,
                         sc->pos >= sc->len ? "unterminated {{ (missing }})"
                                            : "expected a function name",
                         SECRET_FORM_HINT);
    if (wlen != 6 || memcmp(sc->s + wstart, "secret", 6) != 0) {
        snprintf(name, sizeof(name), "unknown function '%.*s'", (int)(wlen > 32 ? 32 : wlen),
                 sc->s + wstart);
        return scan_fail(sc, wstart, TR_E_INVAL, name, SECRET_FORM_HINT);
    }
    if (skip_blanks(sc) == 0 && sc->pos < sc->len && sc->s[sc->pos] == '"')
        return scan_fail(sc, sc->pos, TR_E_INVAL, "expected a blank after 'secret'", "");
    if ((rc = scan_string(sc, "PATH", &path)) != TR_OK)
        goto out;
    if (skip_blanks(sc) == 0 && sc->pos < sc->len && sc->s[sc->pos] == '"') {
        rc = scan_fail(sc, sc->pos, TR_E_INVAL, "expected a blank after the PATH argument", "");
        goto out;
    }
    if ((rc = scan_string(sc, "FIELD", &field)) != TR_OK)
        goto out;
    if ((rc = scan_close(sc, open)) != TR_OK)
        goto out;
    rc = seg_add(t, path, strlen(path), field);
    path = field = NULL; /* taken over by seg_add */
out:
    free(path);
    free(field);
    return rc;
}

int agent_tmpl_parse(const char *text, size_t len, struct agent_tmpl **out, char *err,
                     size_t errlen)
{
    struct scan sc = {.s = text, .len = len, .err = err, .errlen = errlen};
    struct agent_tmpl *t = NULL;
    const char *hit;
    int rc = TR_E_NOMEM;

    *out = NULL;
    if (len > AGENT_TMPL_MAX) {
        snprintf(err, errlen, "the template is larger than %u bytes", AGENT_TMPL_MAX);
        return TR_E_TOO_LARGE;
    }
    if (!(t = calloc(1, sizeof(*t))))
        goto out;
    while (sc.pos < len) {
        hit = memmem(text + sc.pos, len - sc.pos, "{{", 2);
        if ((rc = lit_add(t, text + sc.pos, (hit ? (size_t)(hit - text) : len) - sc.pos)) != TR_OK)
            goto out;
        if (!hit)
            break;
        sc.pos = (size_t)(hit - text) + 2;
        if ((rc = scan_action(&sc, (size_t)(hit - text), t)) != TR_OK)
            goto out;
    }
    *out = t;
    t = NULL;
    rc = TR_OK;
out:
    if (rc == TR_E_NOMEM)
        snprintf(err, errlen, "out of memory");
    agent_tmpl_free(t);
    return rc;
}

int agent_tmpl_new_field(const char *path, const char *field, struct agent_tmpl **out)
{
    struct agent_tmpl *t = NULL;
    char *p = NULL, *f = NULL;
    size_t plen = strlen(path), flen = strlen(field);
    int rc = TR_E_INVAL;

    *out = NULL;
    if (!plen || !flen || plen > AGENT_TMPL_ARG_MAX || flen > AGENT_TMPL_ARG_MAX)
        goto out;
    rc = TR_E_NOMEM;
    if (!(t = calloc(1, sizeof(*t))) || !(p = dup_n(path, plen)) || !(f = dup_n(field, flen)))
        goto out;
    rc = seg_add(t, p, plen, f);
    p = f = NULL; /* taken over by seg_add */
    if (rc != TR_OK)
        goto out;
    *out = t;
    t = NULL;
out:
    free(p);
    free(f);
    agent_tmpl_free(t);
    return rc;
}

/* ---- rendering ------------------------------------------------------------------------------ */

/* The output under construction: grown by allocate-copy-wipe, never realloc (it is a secret). */
struct obuf {
    char *p;
    size_t len, cap;
};

static void obuf_wipe(struct obuf *b)
{
    if (b->p) {
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof(*b));
}

static int obuf_add(struct obuf *b, const char *s, size_t n)
{
    size_t ncap;
    char *np;

    if (n > AGENT_TMPL_OUT_MAX - b->len)
        return TR_E_TOO_LARGE;
    if (b->len + n + 1 > b->cap) {
        ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        if (!(np = malloc(ncap)))
            return TR_E_NOMEM;
        if (b->p) {
            memcpy(np, b->p, b->len);
            OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return TR_OK;
}

static int obuf_add_value(struct obuf *b, const json_t *v)
{
    char *s;
    size_t n;
    int rc;

    if (json_is_null(v))
        return TR_OK;
    if (json_is_string(v))
        return obuf_add(b, json_string_value(v), json_string_length(v));
    if (!(s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
        return TR_E_NOMEM;
    n = strlen(s);
    rc = obuf_add(b, s, n);
    OPENSSL_cleanse(s, n);
    free(s);
    return rc;
}

int agent_tmpl_render(const struct agent_tmpl *t, agent_tmpl_lookup_fn fn, void *arg, char **out,
                      size_t *out_len)
{
    struct obuf b = {0};
    const json_t *v;
    int rc = TR_OK;

    *out = NULL;
    *out_len = 0;
    for (size_t i = 0; i < t->n && rc == TR_OK; i++) {
        if (!t->v[i].field) {
            rc = obuf_add(&b, t->v[i].text, t->v[i].len);
            continue;
        }
        v = NULL;
        if ((rc = fn(arg, t->v[i].text, t->v[i].field, &v)) == TR_OK)
            rc = v ? obuf_add_value(&b, v) : TR_E_INTERNAL;
    }
    if (rc != TR_OK)
        goto out;
    if ((rc = cli_secret_strdup(b.p ? b.p : "", b.len, out)) != TR_OK)
        goto out;
    *out_len = b.len;
out:
    obuf_wipe(&b);
    return rc;
}
