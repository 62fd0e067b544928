/*
 * policy_hcl.c - the HCL front-end of the policy parser: a tokenizer and a recursive-descent
 * parser for the subset Vault policies use. It builds the value tree of policy_int.h and does
 * not know what a policy means.
 */
#include "policy_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_buf.h"
#include "../common/tr_json.h"

#define HCL_KEYS_MAX 8 /* `a "b" "c" { }` nests; more labels than this is not a policy */

enum hcl_kind {
    TK_EOF,
    TK_STRING,
    TK_IDENT,
    TK_NUMBER,
    TK_LBRACE,
    TK_RBRACE,
    TK_LBRACK,
    TK_RBRACK,
    TK_ASSIGN,
    TK_COMMA,
};

struct hcl_token {
    enum hcl_kind kind;
    unsigned line;
    char *text; /* owned: decoded STRING, or IDENT/NUMBER as written; NULL otherwise */
};

struct hcl {
    const char *s;
    size_t len, pos;
    unsigned line;
    struct hcl_token tok; /* the one token of lookahead */
    unsigned depth;
    struct api_policy_budget budget;
    char *err;
    size_t errlen;
};

/* ---- UTF-8 ------------------------------------------------------------------------------- */

/* NUL bytes are refused too: every string we keep is a C string. */
static int utf8_check(const char *s, size_t len, char *err, size_t errlen)
{
    unsigned line = 1;
    size_t i = 0, n;

    while (i < len) {
        if (s[i] == '\0') {
            api_policy_errf(err, errlen, line, "NUL byte in policy text");
            return TR_E_INVAL;
        }
        n = tr_utf8_seq_len((const unsigned char *)s + i, len - i);
        if (n == 0) {
            api_policy_errf(err, errlen, line, "invalid UTF-8");
            return TR_E_INVAL;
        }
        if (s[i] == '\n')
            line++;
        i += n;
    }
    return TR_OK;
}

static int utf8_put(struct tr_buf *b, uint32_t cp)
{
    uint8_t u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (uint8_t)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xc0 | (cp >> 6)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xe0 | (cp >> 12)), n = 3;
    } else {
        u[0] = (uint8_t)(0xf0 | (cp >> 18)), n = 4;
    }
    for (size_t i = 1; i < n; i++)
        u[i] = (uint8_t)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
    return tr_buf_put(b, u, n);
}

/* ---- Tokenizer --------------------------------------------------------------------------- */

static int lex_fail(struct hcl *h, unsigned line, const char *msg)
{
    api_policy_errf(h->err, h->errlen, line, "%s", msg);
    return TR_E_INVAL;
}

/* Skips blanks and the three comment forms; fails only on an unterminated block comment. */
static int lex_skip(struct hcl *h)
{
    while (h->pos < h->len) {
        char c = h->s[h->pos];
        if (c == '\n') {
            h->line++;
            h->pos++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            h->pos++;
        } else if (c == '#' || (c == '/' && h->pos + 1 < h->len && h->s[h->pos + 1] == '/')) {
            while (h->pos < h->len && h->s[h->pos] != '\n')
                h->pos++;
        } else if (c == '/' && h->pos + 1 < h->len && h->s[h->pos + 1] == '*') {
            unsigned start = h->line;
            h->pos += 2;
            while (h->pos + 1 < h->len && !(h->s[h->pos] == '*' && h->s[h->pos + 1] == '/')) {
                if (h->s[h->pos] == '\n')
                    h->line++;
                h->pos++;
            }
            if (h->pos + 1 >= h->len)
                return lex_fail(h, start, "unterminated /* comment");
            h->pos += 2;
        } else {
            break;
        }
    }
    return TR_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads ndig (<= 8) digits of base (8 or 16) at pos; -1 if short or not digits. */
static int64_t lex_digits(struct hcl *h, size_t ndig, int base)
{
    int64_t v = 0;

    if (h->len - h->pos < ndig)
        return -1;
    for (size_t i = 0; i < ndig; i++) {
        int d = hexval(h->s[h->pos + i]);
        if (d < 0 || d >= base)
            return -1;
        v = v * base + d;
    }
    h->pos += ndig;
    return v;
}

/* One escape after the backslash, Go-style. The result must be a non-NUL Unicode scalar; byte
 * escapes must stay ASCII so the text remains valid UTF-8. */
static int lex_escape(struct hcl *h, struct tr_buf *b)
{
    static const char simple_in[] = "abfnrtv\\\"";
    static const char simple_out[] = "\a\b\f\n\r\t\v\\\"";
    char c = h->s[h->pos];
    const char *p = c ? strchr(simple_in, c) : NULL;
    int64_t cp;

    if (p) {
        h->pos++;
        return tr_buf_put_u8(b, (uint8_t)simple_out[p - simple_in]);
    }
    if (c == 'x' || c == 'u' || c == 'U') {
        h->pos++;
        cp = lex_digits(h, c == 'x' ? 2 : c == 'u' ? 4 : 8, 16);
    } else if (c >= '0' && c <= '7') {
        cp = lex_digits(h, 3, 8);
    } else {
        return lex_fail(h, h->line, "invalid escape sequence in string");
    }
    if (cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
        (c != 'u' && c != 'U' && cp >= 0x80))
        return lex_fail(h, h->line, "invalid escape sequence in string");
    return utf8_put(b, (uint32_t)cp);
}

static int lex_string(struct hcl *h, struct hcl_token *t)
{
    struct tr_buf b = TR_BUF_INIT;
    int rc = TR_E_INVAL;

    h->pos++; /* opening quote */
    for (;;) {
        if (h->pos >= h->len || h->s[h->pos] == '\n') {
            rc = lex_fail(h, t->line, "unterminated string");
            goto out;
        }
        char c = h->s[h->pos];
        if (c == '"')
            break;
        if ((unsigned char)c < 0x20 && c != '\t') {
            rc = lex_fail(h, h->line, "control character in string");
            goto out;
        }
        /* Vault's HCL scanner reads a '"' inside "${...}" as part of the string, so the two
         * would split the text into different rules: refuse what only Vault can tokenize. */
        if (c == '$' && h->pos + 1 < h->len && h->s[h->pos + 1] == '{') {
            rc = lex_fail(h, h->line, "\"${\" (HCL interpolation) is not supported");
            goto out;
        }
        h->pos++;
        if (c == '\\')
            rc = h->pos < h->len ? lex_escape(h, &b) : TR_E_INVAL;
        else
            rc = tr_buf_put_u8(&b, (uint8_t)c);
        if (rc == TR_E_INVAL && h->pos >= h->len)
            rc = lex_fail(h, t->line, "unterminated string");
        if (rc != TR_OK)
            goto out;
    }
    h->pos++; /* closing quote */
    if ((rc = tr_buf_put_u8(&b, 0)) != TR_OK)
        goto out;
    t->kind = TK_STRING;
    t->text = (char *)b.data;
    b.data = NULL; /* ownership moved to the token */
    rc = TR_OK;
out:
    tr_buf_free(&b);
    return rc;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Identifiers ([A-Za-z_][A-Za-z0-9_.-]*) and numbers (-?[0-9][0-9A-Za-z.+-]*, checked loosely:
 * no policy key we accept takes a number that matters). */
static int lex_word(struct hcl *h, struct hcl_token *t, bool number)
{
    size_t start = h->pos;

    h->pos++;
    while (h->pos < h->len) {
        char c = h->s[h->pos];
        if (is_alpha(c) || is_digit(c) || c == '.' || c == '-' || (number && c == '+'))
            h->pos++;
        else
            break;
    }
    t->kind = number ? TK_NUMBER : TK_IDENT;
    t->text = strndup(h->s + start, h->pos - start);
    return t->text ? TR_OK : TR_E_NOMEM;
}

static int lex_other(struct hcl *h, struct hcl_token *t)
{
    static const char punct[] = "{}[]=,";
    static const enum hcl_kind kinds[] = {TK_LBRACE, TK_RBRACE, TK_LBRACK,
                                          TK_RBRACK, TK_ASSIGN, TK_COMMA};
    char c = h->s[h->pos];
    const char *p = strchr(punct, c);
    char msg[64];

    if (c && p) {
        h->pos++;
        t->kind = kinds[p - punct];
        return TR_OK;
    }
    if (c == '<' && h->pos + 1 < h->len && h->s[h->pos + 1] == '<')
        return lex_fail(h, t->line, "heredoc strings are not supported");
    if ((unsigned char)c >= 0x21 && (unsigned char)c < 0x7f)
        snprintf(msg, sizeof(msg), "unexpected character '%c'", c);
    else
        snprintf(msg, sizeof(msg), "unexpected byte 0x%02x", (unsigned)(unsigned char)c);
    return lex_fail(h, t->line, msg);
}

/* hcl_next - replace the lookahead with the next token. */
static int hcl_next(struct hcl *h)
{
    struct hcl_token *t = &h->tok;
    int rc;

    free(t->text);
    t->text = NULL;
    t->kind = TK_EOF;
    if ((rc = lex_skip(h)) != TR_OK)
        return rc;
    t->line = h->line;
    if (h->pos >= h->len)
        return TR_OK;
    char c = h->s[h->pos];
    if (c == '"')
        return lex_string(h, t);
    if (is_alpha(c))
        return lex_word(h, t, false);
    if (is_digit(c) || (c == '-' && h->pos + 1 < h->len && is_digit(h->s[h->pos + 1])))
        return lex_word(h, t, true);
    return lex_other(h, t);
}

/* ---- Parser ------------------------------------------------------------------------------ */

static void tok_describe(const struct hcl_token *t, char *dst, size_t cap)
{
    static const char *const names[] = {"end of input", "string", "identifier", "number", "'{'",
                                        "'}'",          "'['",    "']'",        "'='",    "','"};
    char q[API_POLICY_QUOTE_MAX];

    if (t->text) {
        api_policy_quote(q, sizeof(q), t->text);
        snprintf(dst, cap, "%s %s", names[t->kind], q);
    } else {
        snprintf(dst, cap, "%s", names[t->kind]);
    }
}

static int parse_fail(struct hcl *h, const char *what)
{
    char d[API_POLICY_QUOTE_MAX + 32];

    tok_describe(&h->tok, d, sizeof(d));
    api_policy_errf(h->err, h->errlen, h->tok.line, "expected %s, found %s", what, d);
    return TR_E_INVAL;
}

static int hv_make(struct hcl *h, enum api_policy_hv_type t, struct api_policy_hv **out)
{
    bool too_large;

    *out = api_policy_hv_new(t, h->tok.line, &h->budget, &too_large);
    if (*out)
        return TR_OK;
    if (!too_large)
        return TR_E_NOMEM;
    api_policy_errf(h->err, h->errlen, h->tok.line, "too many values (limit %u)",
                    (unsigned)API_POLICY_NODES_MAX);
    return TR_E_TOO_LARGE;
}

static int depth_enter(struct hcl *h)
{
    if (++h->depth <= API_POLICY_DEPTH_MAX)
        return TR_OK;
    api_policy_errf(h->err, h->errlen, h->tok.line, "nesting deeper than %d levels",
                    API_POLICY_DEPTH_MAX);
    return TR_E_TOO_LARGE;
}

static int parse_value(struct hcl *h, struct api_policy_hv **out);
static int parse_body(struct hcl *h, struct api_policy_hv *obj, enum hcl_kind end,
                      unsigned open_line);

static int parse_list(struct hcl *h, struct api_policy_hv **out)
{
    struct api_policy_hv *list = NULL, *v = NULL;
    unsigned open_line = h->tok.line;
    int rc;

    if ((rc = depth_enter(h)) != TR_OK || (rc = hv_make(h, API_POLICY_HV_LIST, &list)) != TR_OK)
        goto out;
    if ((rc = hcl_next(h)) != TR_OK)
        goto out;
    while (h->tok.kind != TK_RBRACK) {
        unsigned line = h->tok.line;
        if (h->tok.kind == TK_EOF) {
            api_policy_errf(h->err, h->errlen, h->tok.line,
                            "missing ']' for the list opened on line %u", open_line);
            rc = TR_E_INVAL;
            goto out;
        }
        if ((rc = parse_value(h, &v)) != TR_OK)
            goto out;
        rc = api_policy_hv_add(list, NULL, line, v);
        v = NULL; /* owned by the list now, even on failure */
        if (rc != TR_OK)
            goto out;
        if (h->tok.kind == TK_COMMA)
            rc = hcl_next(h);
        else if (h->tok.kind != TK_RBRACK && h->tok.kind != TK_EOF)
            rc = parse_fail(h, "',' or ']' in list");
        if (rc != TR_OK)
            goto out;
    }
    if ((rc = hcl_next(h)) != TR_OK)
        goto out;
    h->depth--;
    *out = list;
    list = NULL;
out:
    api_policy_hv_free(list);
    return rc;
}

static int parse_object(struct hcl *h, struct api_policy_hv **out)
{
    struct api_policy_hv *obj = NULL;
    unsigned open_line = h->tok.line;
    int rc;

    if ((rc = depth_enter(h)) != TR_OK || (rc = hv_make(h, API_POLICY_HV_OBJECT, &obj)) != TR_OK)
        goto out;
    if ((rc = hcl_next(h)) != TR_OK)
        goto out;
    if ((rc = parse_body(h, obj, TK_RBRACE, open_line)) != TR_OK)
        goto out;
    if ((rc = hcl_next(h)) != TR_OK) /* the '}' parse_body stopped at */
        goto out;
    h->depth--;
    *out = obj;
    obj = NULL;
out:
    api_policy_hv_free(obj);
    return rc;
}

static int parse_scalar(struct hcl *h, struct api_policy_hv **out)
{
    struct api_policy_hv *v = NULL;
    enum api_policy_hv_type t = API_POLICY_HV_STRING;
    int rc;

    if (h->tok.kind == TK_NUMBER)
        t = API_POLICY_HV_NUMBER;
    else if (h->tok.kind == TK_IDENT) {
        if (strcmp(h->tok.text, "true") != 0 && strcmp(h->tok.text, "false") != 0)
            return parse_fail(h, "a value");
        t = API_POLICY_HV_BOOL;
    }
    if ((rc = hv_make(h, t, &v)) != TR_OK)
        return rc;
    if (t == API_POLICY_HV_BOOL) {
        v->b = h->tok.text[0] == 't';
    } else {
        v->str = h->tok.text;
        h->tok.text = NULL; /* moved into the value */
    }
    if ((rc = hcl_next(h)) != TR_OK) {
        api_policy_hv_free(v);
        return rc;
    }
    *out = v;
    return TR_OK;
}

static int parse_value(struct hcl *h, struct api_policy_hv **out)
{
    switch (h->tok.kind) {
    case TK_LBRACK:
        return parse_list(h, out);
    case TK_LBRACE:
        return parse_object(h, out);
    case TK_STRING:
    case TK_NUMBER:
    case TK_IDENT:
        return parse_scalar(h, out);
    default:
        return parse_fail(h, "a value");
    }
}

/* `k1 "k2" "k3" { body }` is k1 = { k2 = { k3 = { body } } }: wrap val in keys[1..n). */
static int nest_keys(struct hcl *h, char **keys, size_t nkeys, unsigned line,
                     struct api_policy_hv **val)
{
    struct api_policy_hv *wrap = NULL;
    int rc;

    for (size_t i = nkeys; i-- > 1;) {
        if ((rc = hv_make(h, API_POLICY_HV_OBJECT, &wrap)) != TR_OK)
            return rc;
        wrap->line = line;
        rc = api_policy_hv_add(wrap, keys[i], line, *val);
        keys[i] = NULL; /* owned by wrap now, even on failure */
        *val = wrap;
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int parse_item(struct hcl *h, struct api_policy_hv *obj)
{
    char *keys[HCL_KEYS_MAX] = {NULL};
    size_t nkeys = 0;
    unsigned line = h->tok.line;
    struct api_policy_hv *val = NULL;
    int rc = TR_E_INVAL;

    while (h->tok.kind == TK_STRING || h->tok.kind == TK_IDENT) {
        if (nkeys == HCL_KEYS_MAX) {
            rc = parse_fail(h, "'=' or '{'");
            goto out;
        }
        keys[nkeys++] = h->tok.text;
        h->tok.text = NULL; /* moved into keys */
        if ((rc = hcl_next(h)) != TR_OK)
            goto out;
    }
    if (nkeys == 0) {
        rc = parse_fail(h, "a key");
        goto out;
    }
    if (h->tok.kind == TK_ASSIGN && nkeys == 1) {
        if ((rc = hcl_next(h)) == TR_OK)
            rc = parse_value(h, &val);
    } else if (h->tok.kind == TK_LBRACE) {
        rc = parse_object(h, &val);
    } else {
        rc = parse_fail(h, nkeys == 1 ? "'=' or '{'" : "'{'");
    }
    if (rc != TR_OK || (rc = nest_keys(h, keys, nkeys, line, &val)) != TR_OK)
        goto out;
    rc = api_policy_hv_add(obj, keys[0], line, val);
    keys[0] = NULL; /* owned by obj now, even on failure */
    val = NULL;
out:
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    api_policy_hv_free(val);
    return rc;
}

/* Items until end; commas between items are optional, as in HCL. Stops at end, unconsumed. */
static int parse_body(struct hcl *h, struct api_policy_hv *obj, enum hcl_kind end,
                      unsigned open_line)
{
    int rc;

    while (h->tok.kind != end) {
        if (h->tok.kind == TK_EOF) {
            api_policy_errf(h->err, h->errlen, h->tok.line,
                            "missing '}' for the block opened on line %u", open_line);
            return TR_E_INVAL;
        }
        if ((rc = parse_item(h, obj)) != TR_OK)
            return rc;
        if (h->tok.kind == TK_COMMA && (rc = hcl_next(h)) != TR_OK)
            return rc;
    }
    return TR_OK;
}

int api_policy_hcl_parse(const char *text, size_t len, struct api_policy_hv **out, char *err,
                         size_t errlen)
{
    struct hcl h = {.s = text, .len = len, .line = 1, .err = err, .errlen = errlen};
    struct api_policy_hv *root = NULL;
    int rc;

    *out = NULL;
    if ((rc = utf8_check(text, len, err, errlen)) != TR_OK)
        goto out;
    if ((rc = hv_make(&h, API_POLICY_HV_OBJECT, &root)) != TR_OK)
        goto out;
    if ((rc = hcl_next(&h)) != TR_OK)
        goto out;
    if ((rc = parse_body(&h, root, TK_EOF, 1)) != TR_OK)
        goto out;
    *out = root;
    root = NULL;
out:
    free(h.tok.text);
    api_policy_hv_free(root);
    return rc;
}
