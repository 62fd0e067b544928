/*
 * policy.c - what a policy means: the value tree from policy_hcl.c becomes merged rules; also
 * policy names, capability names and the built-in policies. Matching lives in policy_acl.c.
 */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Vault's default policy without identity templates (rejected here), control groups
 * (Enterprise) and OIDC provider authorisation (no identity engine in Tresor). */
static const char default_text[] =
    "# Allow tokens to look up their own properties\n"
    "path \"auth/token/lookup-self\" {\n"
    "    capabilities = [\"read\"]\n"
    "}\n"
    "\n"
    "# Allow tokens to renew themselves\n"
    "path \"auth/token/renew-self\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "\n"
    "# Allow tokens to revoke themselves\n"
    "path \"auth/token/revoke-self\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "\n"
    "# Allow a token to look up its own capabilities on a path\n"
    "path \"sys/capabilities-self\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "\n"
    "# Allow a token to look up its resultant ACL from all policies\n"
    "path \"sys/internal/ui/resultant-acl\" {\n"
    "    capabilities = [\"read\"]\n"
    "}\n"
    "\n"
    "# Allow a token to renew a lease via lease_id in the request body\n"
    "path \"sys/renew\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "path \"sys/leases/renew\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "\n"
    "# Allow looking up lease properties\n"
    "path \"sys/leases/lookup\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "\n"
    "# Allow a token to manage its own cubbyhole\n"
    "path \"cubbyhole/*\" {\n"
    "    capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"]\n"
    "}\n"
    "\n"
    "# Allow a token to wrap arbitrary values in a response-wrapping token\n"
    "path \"sys/wrapping/wrap\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "\n"
    "# Allow a token to look up the creation time and TTL of a response-wrapping token\n"
    "path \"sys/wrapping/lookup\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "\n"
    "# Allow a token to unwrap a response-wrapping token\n"
    "path \"sys/wrapping/unwrap\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "\n"
    "# Allow general purpose tools\n"
    "path \"sys/tools/hash\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "path \"sys/tools/hash/*\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n";

struct cap_name {
    const char *name;
    unsigned bit;
};

/* Sorted by name: api_policy_cap_names relies on it for Vault's sorted output. */
static const struct cap_name cap_table[] = {
    {"create", API_CAP_CREATE},   {"delete", API_CAP_DELETE},       {"deny", API_CAP_DENY},
    {"list", API_CAP_LIST},       {"patch", API_CAP_PATCH},         {"read", API_CAP_READ},
    {"recover", API_CAP_RECOVER}, {"subscribe", API_CAP_SUBSCRIBE}, {"sudo", API_CAP_SUDO},
    {"update", API_CAP_UPDATE},
};

#define CAP_WRITE (API_CAP_CREATE | API_CAP_READ | API_CAP_UPDATE | API_CAP_DELETE | API_CAP_LIST)

/* Legacy `policy = "..."` values, as Vault's parsePaths maps them (write has no patch). */
static const struct cap_name legacy_table[] = {
    {"deny", API_CAP_DENY},
    {"read", API_CAP_READ | API_CAP_LIST},
    {"write", CAP_WRITE},
    {"sudo", CAP_WRITE | API_CAP_SUDO},
};

/* Keys Vault accepts in a path block that would restrict access. We cannot enforce them, and
 * dropping a restriction silently widens access, so they are refused (vault-api.md §6.1). */
static const char *const unsupported_keys[] = {
    "allowed_parameters", "denied_parameters", "required_parameters", "min_wrapping_ttl",
    "max_wrapping_ttl",   "mfa_methods",       "control_group",       "expiration",
};

struct pol_builder {
    struct api_policy_rule *rules;
    size_t n, cap;
    char *err;
    size_t errlen;
};

/* ---- Capabilities ------------------------------------------------------------------------ */

int api_policy_cap_parse(const char *name, unsigned *out)
{
    if (!name || !out)
        return TR_E_INVAL;
    for (size_t i = 0; i < sizeof(cap_table) / sizeof(cap_table[0]); i++) {
        if (strcmp(name, cap_table[i].name) == 0) {
            *out = cap_table[i].bit;
            return TR_OK;
        }
    }
    return TR_E_INVAL;
}

size_t api_policy_cap_names(unsigned caps, const char **out, size_t n)
{
    size_t k = 0;

    if (caps & API_CAP_ROOT) {
        if (n > 0)
            out[0] = "root";
        return 1;
    }
    if ((caps & API_CAP_DENY) || !(caps & API_CAP_GRANTS)) {
        if (n > 0)
            out[0] = "deny";
        return 1;
    }
    for (size_t i = 0; i < sizeof(cap_table) / sizeof(cap_table[0]); i++) {
        if (cap_table[i].bit == API_CAP_DENY || !(caps & cap_table[i].bit))
            continue;
        if (k < n)
            out[k] = cap_table[i].name;
        k++;
    }
    return k;
}

unsigned api_acl_op_caps(enum api_acl_op op)
{
    switch (op) {
    case API_ACL_OP_READ:
        return API_CAP_READ;
    case API_ACL_OP_LIST:
        return API_CAP_LIST;
    case API_ACL_OP_CREATE:
        return API_CAP_CREATE;
    case API_ACL_OP_UPDATE:
        return API_CAP_UPDATE;
    case API_ACL_OP_PATCH:
        return API_CAP_PATCH;
    case API_ACL_OP_DELETE:
        return API_CAP_DELETE;
    }
    return 0; /* unknown op: needs a bit nobody has, callers treat 0 as "deny" */
}

unsigned api_policy_caps_merge(unsigned a, unsigned b)
{
    if ((a | b) & API_CAP_DENY)
        return API_CAP_DENY;
    return a | b;
}

/* ---- Names ------------------------------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
           c == '/';
}

/* Segments between '/' must be non-empty and not "." or "..": a name may become a storage key. */
static bool name_segments_ok(const char *s, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '/')
            continue;
        size_t len = i - start;
        if (len == 0 || (len == 1 && s[start] == '.') ||
            (len == 2 && s[start] == '.' && s[start + 1] == '.'))
            return false;
        start = i + 1;
    }
    return true;
}

int api_policy_name_normalize(const char *in, char *out, size_t cap)
{
    char tmp[API_POLICY_NAME_MAX + 1];
    size_t b = 0, e, n;

    if (!in || !out)
        return TR_E_INVAL;
    e = strlen(in);
    while (b < e && is_space(in[b]))
        b++;
    while (e > b && is_space(in[e - 1]))
        e--;
    n = e - b;
    if (n == 0)
        return TR_E_INVAL;
    if (n > API_POLICY_NAME_MAX || n >= cap)
        return TR_E_TOO_LARGE;
    for (size_t i = 0; i < n; i++) {
        char c = in[b + i];
        tmp[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        if (!name_char_ok(tmp[i]))
            return TR_E_INVAL;
    }
    tmp[n] = '\0';
    if (!name_segments_ok(tmp, n))
        return TR_E_INVAL;
    memcpy(out, tmp, n + 1);
    return TR_OK;
}

static bool name_is(const char *in, const char *want)
{
    char n[API_POLICY_NAME_MAX + 1];

    return api_policy_name_normalize(in, n, sizeof(n)) == TR_OK && strcmp(n, want) == 0;
}

bool api_policy_name_is_root(const char *in)
{
    return name_is(in, "root");
}

bool api_policy_name_is_default(const char *in)
{
    return name_is(in, "default");
}

static int name_checked(const char *in, char *out, size_t cap, char *err, size_t errlen)
{
    int rc = api_policy_name_normalize(in, out, cap);

    if (rc == TR_E_TOO_LARGE && err && errlen)
        snprintf(err, errlen, "policy name is longer than %d bytes", API_POLICY_NAME_MAX);
    else if (rc != TR_OK && err && errlen)
        snprintf(err, errlen, "invalid policy name: use 1-%d characters of a-z 0-9 _ . - /",
                 API_POLICY_NAME_MAX);
    return rc;
}

int api_policy_name_check_write(const char *in, char *out, size_t cap, char *err, size_t errlen)
{
    char n[API_POLICY_NAME_MAX + 1];
    int rc;

    if ((rc = name_checked(in, n, sizeof(n), err, errlen)) != TR_OK)
        return rc;
    if (strcmp(n, "root") == 0 || strcmp(n, "response-wrapping") == 0) {
        if (err && errlen)
            snprintf(err, errlen, "cannot update \"%s\" policy", n);
        return TR_E_INVAL;
    }
    return name_checked(in, out, cap, err, errlen);
}

int api_policy_name_check_delete(const char *in, char *out, size_t cap, char *err, size_t errlen)
{
    char n[API_POLICY_NAME_MAX + 1];
    int rc;

    if ((rc = name_checked(in, n, sizeof(n), err, errlen)) != TR_OK)
        return rc;
    if (strcmp(n, "root") == 0 || strcmp(n, "response-wrapping") == 0) {
        if (err && errlen)
            snprintf(err, errlen, "cannot delete \"%s\" policy", n);
        return TR_E_INVAL;
    }
    if (strcmp(n, "default") == 0) {
        if (err && errlen)
            snprintf(err, errlen, "cannot delete default policy");
        return TR_E_INVAL;
    }
    return name_checked(in, out, cap, err, errlen);
}

/* ---- Rules ------------------------------------------------------------------------------- */

static int pb_fail(struct pol_builder *pb, int rc, unsigned line, const char *pat, const char *what,
                   const char *arg)
{
    char qp[API_POLICY_QUOTE_MAX], qa[API_POLICY_QUOTE_MAX];

    api_policy_quote(qa, sizeof(qa), arg ? arg : "");
    if (pat) {
        api_policy_quote(qp, sizeof(qp), pat);
        api_policy_errf(pb->err, pb->errlen, line, "path %s: %s%s%s", qp, what, arg ? " " : "",
                        arg ? qa : "");
    } else {
        api_policy_errf(pb->err, pb->errlen, line, "%s%s%s", what, arg ? " " : "", arg ? qa : "");
    }
    return rc;
}

/* Strips the leading '/' and refuses what Tresor will not match: see policy.h. */
static int pattern_check(struct pol_builder *pb, const char *raw, unsigned line,
                         const char **out_pat)
{
    const char *p = raw[0] == '/' ? raw + 1 : raw;
    size_t n = strlen(p);
    const char *star = strchr(p, '*');

    if (n == 0)
        return pb_fail(pb, TR_E_INVAL, line, raw, "empty path", NULL);
    if (n > API_POLICY_PATTERN_MAX)
        return pb_fail(pb, TR_E_TOO_LARGE, line, raw, "path too long", NULL);
    if (strstr(p, "+*"))
        return pb_fail(pb, TR_E_INVAL, line, raw, "invalid use of wildcards ('+*' is forbidden)",
                       NULL);
    if (star && star != p + n - 1)
        return pb_fail(pb, TR_E_INVAL, line, raw, "'*' is only allowed as the last character",
                       NULL);
    if (strstr(p, "{{"))
        return pb_fail(pb, TR_E_INVAL, line, raw, "templated policies are not supported", NULL);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return pb_fail(pb, TR_E_INVAL, line, raw, "control character in path", NULL);
    }
    *out_pat = p;
    return TR_OK;
}

static int rule_caps_list(struct pol_builder *pb, const char *pat,
                          const struct api_policy_hv_item *it, unsigned *caps)
{
    const struct api_policy_hv *v = it->val;
    unsigned bit;

    if (v->type != API_POLICY_HV_LIST)
        return pb_fail(pb, TR_E_INVAL, it->line, pat, "\"capabilities\" must be a list", NULL);
    for (size_t i = 0; i < v->n; i++) {
        const struct api_policy_hv *c = v->items[i].val;
        if (c->type != API_POLICY_HV_STRING)
            return pb_fail(pb, TR_E_INVAL, v->items[i].line, pat, "capabilities must be strings",
                           NULL);
        if (api_policy_cap_parse(c->str, &bit) != TR_OK)
            return pb_fail(pb, TR_E_INVAL, v->items[i].line, pat, "unknown capability", c->str);
        *caps |= bit;
    }
    return TR_OK;
}

static int rule_legacy(struct pol_builder *pb, const char *pat, const struct api_policy_hv_item *it,
                       unsigned *caps)
{
    const struct api_policy_hv *v = it->val;

    if (v->type == API_POLICY_HV_STRING) {
        for (size_t i = 0; i < sizeof(legacy_table) / sizeof(legacy_table[0]); i++) {
            if (strcmp(v->str, legacy_table[i].name) == 0) {
                *caps |= legacy_table[i].bit;
                return TR_OK;
            }
        }
        return pb_fail(pb, TR_E_INVAL, it->line, pat, "invalid policy", v->str);
    }
    return pb_fail(pb, TR_E_INVAL, it->line, pat, "\"policy\" must be a string", NULL);
}

static int rule_key(struct pol_builder *pb, const char *pat, const struct api_policy_hv_item *it,
                    unsigned *caps)
{
    if (strcmp(it->key, "capabilities") == 0)
        return rule_caps_list(pb, pat, it, caps);
    if (strcmp(it->key, "policy") == 0)
        return rule_legacy(pb, pat, it, caps);
    if (strcmp(it->key, "comment") == 0) {
        if (it->val->type != API_POLICY_HV_STRING)
            return pb_fail(pb, TR_E_INVAL, it->line, pat, "\"comment\" must be a string", NULL);
        return TR_OK;
    }
    for (size_t i = 0; i < sizeof(unsupported_keys) / sizeof(unsupported_keys[0]); i++) {
        if (strcmp(it->key, unsupported_keys[i]) == 0)
            return pb_fail(pb, TR_E_INVAL, it->line, pat, "this server does not support the key",
                           it->key);
    }
    return pb_fail(pb, TR_E_INVAL, it->line, pat, "unknown key", it->key);
}

static int pb_append(struct pol_builder *pb, const char *pat, unsigned caps)
{
    if (pb->n == pb->cap) {
        size_t ncap = pb->cap ? pb->cap * 2 : 8;
        /* rules are bounded by API_POLICY_NODES_MAX, so this cannot overflow */
        struct api_policy_rule *r = realloc(pb->rules, ncap * sizeof(*r));
        if (!r)
            return TR_E_NOMEM;
        pb->rules = r;
        pb->cap = ncap;
    }
    pb->rules[pb->n].pattern = strdup(pat);
    if (!pb->rules[pb->n].pattern)
        return TR_E_NOMEM;
    pb->rules[pb->n].len = strlen(pat);
    pb->rules[pb->n].caps = caps;
    pb->n++;
    return TR_OK;
}

static int pb_rule(struct pol_builder *pb, const char *raw, unsigned line,
                   const struct api_policy_hv *body)
{
    const char *pat = NULL;
    unsigned caps = 0;
    bool legacy_seen = false;
    int rc;

    if ((rc = pattern_check(pb, raw, line, &pat)) != TR_OK)
        return rc;
    if (body->type != API_POLICY_HV_OBJECT)
        return pb_fail(pb, TR_E_INVAL, line, raw, "expected a block of rules", NULL);
    for (size_t i = 0; i < body->n; i++) {
        /* Vault's HCL decoder keeps only the last `policy` of a block; a union would grant
         * more (write then read is read+list to Vault), so a repeat is refused. */
        if (strcmp(body->items[i].key, "policy") == 0) {
            if (legacy_seen)
                return pb_fail(pb, TR_E_INVAL, body->items[i].line, raw,
                               "\"policy\" is given more than once", NULL);
            legacy_seen = true;
        }
        if ((rc = rule_key(pb, raw, &body->items[i], &caps)) != TR_OK)
            return rc;
    }
    if (caps & API_CAP_DENY)
        caps = API_CAP_DENY; /* deny replaces every other capability of the rule */
    return pb_append(pb, pat, caps);
}

/* `path` holds an object of pattern -> block, or (JSON from HCL tools) a list of such objects. */
static int pb_paths(struct pol_builder *pb, const struct api_policy_hv_item *it)
{
    const struct api_policy_hv *v = it->val;
    int rc;

    if (v->type == API_POLICY_HV_LIST) {
        for (size_t i = 0; i < v->n; i++) {
            struct api_policy_hv_item sub = {(char *)"path", v->items[i].line, v->items[i].val};
            if (sub.val->type != API_POLICY_HV_OBJECT)
                return pb_fail(pb, TR_E_INVAL, sub.line, NULL, "\"path\" must hold blocks", NULL);
            if ((rc = pb_paths(pb, &sub)) != TR_OK)
                return rc;
        }
        return TR_OK;
    }
    if (v->type != API_POLICY_HV_OBJECT)
        return pb_fail(pb, TR_E_INVAL, it->line, NULL, "\"path\" must hold blocks", NULL);
    for (size_t i = 0; i < v->n; i++) {
        if ((rc = pb_rule(pb, v->items[i].key, v->items[i].line, v->items[i].val)) != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int pb_top(struct pol_builder *pb, const struct api_policy_hv *root)
{
    int rc;

    for (size_t i = 0; i < root->n; i++) {
        const struct api_policy_hv_item *it = &root->items[i];
        if (strcmp(it->key, "path") == 0) {
            if ((rc = pb_paths(pb, it)) != TR_OK)
                return rc;
        } else if (strcmp(it->key, "name") == 0) {
            if (it->val->type != API_POLICY_HV_STRING)
                return pb_fail(pb, TR_E_INVAL, it->line, NULL, "\"name\" must be a string", NULL);
        } else {
            return pb_fail(pb, TR_E_INVAL, it->line, NULL, "unknown top-level key", it->key);
        }
    }
    return TR_OK;
}

static int rule_cmp(const void *a, const void *b)
{
    const struct api_policy_rule *x = a, *y = b;

    return strcmp(x->pattern, y->pattern);
}

/* Sort by pattern and merge repeats within the policy, as Vault's ACL merges them. */
static void pb_merge(struct pol_builder *pb)
{
    size_t o = 0;

    if (pb->n == 0)
        return;
    qsort(pb->rules, pb->n, sizeof(pb->rules[0]), rule_cmp);
    for (size_t i = 1; i < pb->n; i++) {
        if (strcmp(pb->rules[o].pattern, pb->rules[i].pattern) == 0) {
            pb->rules[o].caps = api_policy_caps_merge(pb->rules[o].caps, pb->rules[i].caps);
            free(pb->rules[i].pattern);
        } else {
            pb->rules[++o] = pb->rules[i];
        }
    }
    pb->n = o + 1;
}

/* ---- Policies ---------------------------------------------------------------------------- */

static bool text_is_blank(const char *t, size_t len, size_t *first)
{
    for (size_t i = 0; i < len; i++) {
        if (!is_space(t[i])) {
            *first = i;
            return false;
        }
    }
    return true;
}

static int policy_build(struct api_policy *pol, const char *text, size_t len, char *err,
                        size_t errlen)
{
    struct pol_builder pb = {.err = err, .errlen = errlen};
    struct api_policy_hv *tree = NULL;
    size_t first = 0;
    int rc;

    if (text_is_blank(text, len, &first)) {
        api_policy_errf(err, errlen, 0, "policy text is empty");
        rc = TR_E_INVAL;
        goto out;
    }
    if (text[first] == '{')
        rc = api_policy_json_parse(text, len, &tree, err, errlen);
    else
        rc = api_policy_hcl_parse(text, len, &tree, err, errlen);
    if (rc != TR_OK || (rc = pb_top(&pb, tree)) != TR_OK)
        goto out;
    pb_merge(&pb);
    pol->rules = pb.rules;
    pol->nrules = pb.n;
    pb.rules = NULL; /* owned by pol now */
    pb.n = 0;
out:
    for (size_t i = 0; i < pb.n; i++)
        free(pb.rules[i].pattern);
    free(pb.rules);
    api_policy_hv_free(tree);
    if (rc == TR_E_NOMEM)
        api_policy_errf(err, errlen, 0, "out of memory");
    return rc;
}

int api_policy_parse(const char *name, const char *text, size_t len, struct api_policy **out,
                     char *err, size_t errlen)
{
    struct api_policy *pol = NULL;
    int rc = TR_E_INVAL;

    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return TR_E_INVAL;
    *out = NULL;
    if (!text && len) {
        api_policy_errf(err, errlen, 0, "no policy text");
        goto out;
    }
    if (len > API_POLICY_TEXT_MAX) {
        api_policy_errf(err, errlen, 0, "policy text exceeds %u bytes",
                        (unsigned)API_POLICY_TEXT_MAX);
        rc = TR_E_TOO_LARGE;
        goto out;
    }
    if (!(pol = calloc(1, sizeof(*pol)))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    if ((rc = name_checked(name, pol->name, sizeof(pol->name), err, errlen)) != TR_OK)
        goto out;
    if (strcmp(pol->name, "root") == 0) {
        if (err && errlen)
            snprintf(err, errlen, "cannot update \"root\" policy");
        rc = TR_E_INVAL;
        goto out;
    }
    if ((rc = policy_build(pol, text ? text : "", len, err, errlen)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
    if (!(pol->text = malloc(len + 1)))
        goto out;
    if (len)
        memcpy(pol->text, text, len);
    pol->text[len] = '\0';
    pol->text_len = len;
    *out = pol;
    pol = NULL;
    rc = TR_OK;
out:
    api_policy_free(pol);
    return rc;
}

int api_policy_new_root(struct api_policy **out)
{
    struct api_policy *pol;

    if (!out)
        return TR_E_INVAL;
    *out = NULL;
    if (!(pol = calloc(1, sizeof(*pol))))
        return TR_E_NOMEM;
    if (!(pol->text = strdup(""))) {
        free(pol);
        return TR_E_NOMEM;
    }
    memcpy(pol->name, "root", sizeof("root"));
    pol->root = true;
    *out = pol;
    return TR_OK;
}

int api_policy_new_default(struct api_policy **out)
{
    char err[API_POLICY_ERR_MIN];

    /* The text is a constant that the unit tests parse; only allocation can fail here. */
    return api_policy_parse("default", default_text, sizeof(default_text) - 1, out, err,
                            sizeof(err));
}

const char *api_policy_default_text(void)
{
    return default_text;
}

void api_policy_free(struct api_policy *pol)
{
    if (!pol)
        return;
    for (size_t i = 0; i < pol->nrules; i++)
        free(pol->rules[i].pattern);
    free(pol->rules);
    free(pol->text);
    free(pol);
}

const char *api_policy_name(const struct api_policy *pol)
{
    return pol->name;
}

const char *api_policy_text(const struct api_policy *pol, size_t *out_len)
{
    if (out_len)
        *out_len = pol->text_len;
    return pol->text;
}

bool api_policy_is_root(const struct api_policy *pol)
{
    return pol && pol->root;
}

size_t api_policy_rule_count(const struct api_policy *pol)
{
    return pol ? pol->nrules : 0;
}

int api_policy_rule_get(const struct api_policy *pol, size_t i, const char **out_pattern,
                        unsigned *out_caps)
{
    if (!pol || i >= pol->nrules)
        return TR_E_NOTFOUND;
    if (out_pattern)
        *out_pattern = pol->rules[i].pattern;
    if (out_caps)
        *out_caps = pol->rules[i].caps;
    return TR_OK;
}
