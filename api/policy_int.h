/*
 * policy_int.h - internals shared by api/policy*.c. Not for other files.
 *
 * Both input forms are first turned into one small value tree (struct api_policy_hv), so a
 * single interpreter in policy.c checks keys, capabilities and patterns for HCL and JSON alike.
 * Files: policy_hcl.c (HCL tokenizer and parser), policy_tree.c (value tree, messages, JSON),
 * policy.c (interpretation, names, built-ins), policy_acl.c (compiled ACLs and matching).
 */
#ifndef API_POLICY_INT_H
#define API_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

enum api_policy_hv_type {
    API_POLICY_HV_STRING,
    API_POLICY_HV_NUMBER,
    API_POLICY_HV_BOOL,
    API_POLICY_HV_NULL,
    API_POLICY_HV_LIST,
    API_POLICY_HV_OBJECT,
};

struct api_policy_hv_item;

struct api_policy_hv {
    enum api_policy_hv_type type;
    unsigned line; /* 1-based line of the value; 0 when unknown (JSON) */
    char *str;     /* STRING: decoded text; NUMBER: as written. Owned, NUL-terminated */
    bool b;        /* BOOL */
    struct api_policy_hv_item *items; /* LIST (key NULL) and OBJECT members, in order; owned */
    size_t n, cap;
};

struct api_policy_hv_item {
    char *key;                 /* owned; NULL in lists */
    unsigned line;             /* line of the key (or of the value in lists) */
    struct api_policy_hv *val; /* owned */
};

/* Counts values against API_POLICY_NODES_MAX while a tree is built. */
struct api_policy_budget {
    size_t nodes;
};

/* api_policy_hv_new - a value of type t on line, counted against b. NULL when out of memory
 * or over budget (*too_large tells which). */
struct api_policy_hv *api_policy_hv_new(enum api_policy_hv_type t, unsigned line,
                                        struct api_policy_budget *b, bool *too_large);
/* api_policy_hv_add - append (key, val) to a list/object, taking ownership of key and val in
 * every case (freed on failure). Errors: TR_E_NOMEM. */
TR_MUST_CHECK int api_policy_hv_add(struct api_policy_hv *parent, char *key, unsigned line,
                                    struct api_policy_hv *val);
/* api_policy_hv_free - release a tree. NULL-safe. */
void api_policy_hv_free(struct api_policy_hv *v);

/* api_policy_hcl_parse / api_policy_json_parse - text (len bytes, already size-checked) to a
 * tree whose root is an OBJECT. Out: *out owned by the caller. Errors: TR_E_INVAL (syntax, with
 * a message in err), TR_E_TOO_LARGE (depth or value count), TR_E_NOMEM. */
TR_MUST_CHECK int api_policy_hcl_parse(const char *text, size_t len, struct api_policy_hv **out,
                                       char *err, size_t errlen);
TR_MUST_CHECK int api_policy_json_parse(const char *text, size_t len, struct api_policy_hv **out,
                                        char *err, size_t errlen);

/* api_policy_errf - write "policy line N: <msg>" (or "policy: <msg>" when line is 0) to err. */
void api_policy_errf(char *err, size_t errlen, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* api_policy_quote - s as a short, printable, double-quoted string for messages: control and
 * non-ASCII bytes become \xNN, and anything past 64 bytes becomes "...". dst has cap bytes. */
void api_policy_quote(char *dst, size_t cap, const char *s);
#define API_POLICY_QUOTE_MAX (64 * 4 + 8)

/* One merged rule of a parsed policy. */
struct api_policy_rule {
    char *pattern; /* normalised, owned */
    size_t len;
    unsigned caps; /* API_CAP_DENY alone, or grant bits */
};

struct api_policy {
    char name[API_POLICY_NAME_MAX + 1];
    char *text; /* owned copy of the source, NUL-terminated */
    size_t text_len;
    struct api_policy_rule *rules; /* owned, sorted by pattern bytes, one per pattern */
    size_t nrules;
    bool root;
};

/* api_policy_caps_merge - Vault's merge of two rule capability sets: deny wins, else union. */
unsigned api_policy_caps_merge(unsigned a, unsigned b);

#endif
