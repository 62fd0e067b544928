/*
 * fuzz_policy - ACL policies (HCL and JSON) as an operator or an attacker with policy-write
 * rights could send them, then evaluation of the compiled ACL.
 * Input: policy text, optionally followed by a NUL and NUL-separated request paths.
 * Invariants: a failed parse leaves no policy and says why; a parsed policy keeps its text
 * verbatim and its rules are a deny or grant bits only; for every path the ACL's answer is 0 or
 * exactly the capabilities of one rule that matches the path (a reference matcher written here,
 * independently of policy_acl.c), so nothing is granted that no matching rule grants (deny by
 * default); an exact rule always wins on its own path; an allowed operation is granted by such a
 * rule; a normalised policy name is a fixed point of normalisation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/policy.h"
#include "util.h"

#define MAX_RULES 32 /* rules whose patterns seed extra paths */
#define MAX_PATHS 64

struct rule {
    const char *pat;
    size_t len;
    unsigned caps; /* as api_acl_capabilities reports it: API_CAP_DENY alone, or grant bits */
};

/* One segment of the pattern against one of the path. */
static bool seg_eq(const char *a, size_t al, const char *s, size_t sl, bool last_glob)
{
    if (al == 1 && a[0] == '+')
        return true;
    if (last_glob)
        return sl >= al && memcmp(a, s, al) == 0;
    return al == sl && memcmp(a, s, al) == 0;
}

/* Vault's matching, written from vault-api.md §6.3 rather than from policy_acl.c: a "+" segment
 * matches any one segment, a final '*' makes the last pattern segment a prefix and allows any
 * number of further segments, everything else is literal. */
static bool ref_match(const struct rule *r, const char *p, size_t plen)
{
    bool glob = r->len > 0 && r->pat[r->len - 1] == '*';
    size_t alen = r->len - glob, ai = 0, pi = 0;

    for (;;) {
        const char *as = r->pat + ai, *ps = p + pi;
        const char *aslash = memchr(as, '/', alen - ai);
        const char *pslash = memchr(ps, '/', plen - pi);
        size_t al = aslash ? (size_t)(aslash - as) : alen - ai;
        size_t sl = pslash ? (size_t)(pslash - ps) : plen - pi;
        bool last = !aslash;

        if (!seg_eq(as, al, ps, sl, last && glob)) {
            /* a glob's prefix may also run across '/' ("a/b*" matches "a/bc/d") */
            return last && glob && plen - pi >= al && memcmp(as, ps, al) == 0;
        }
        if (last)
            return glob || !pslash;
        if (!pslash)
            return false;
        ai += al + 1;
        pi += sl + 1;
    }
}

static bool is_exact(const struct rule *r)
{
    if (r->len && r->pat[r->len - 1] == '*')
        return false;
    return !((r->len == 1 && r->pat[0] == '+') || memmem(r->pat, r->len, "/+", 2) ||
             (r->len >= 2 && r->pat[0] == '+' && r->pat[1] == '/'));
}

static void check_path(const struct api_acl *acl, const struct rule *rules, size_t n,
                       const char *path)
{
    while (*path == '/')
        path++;
    size_t len = strlen(path);
    if (len > API_POLICY_PATTERN_MAX)
        return;
    unsigned caps = api_acl_capabilities(acl, path);
    size_t trimmed = len && path[len - 1] == '/' ? len - 1 : len;
    bool found = caps == 0;

    FUZZ_CHECK(!(caps & API_CAP_ROOT));
    FUZZ_CHECK(!(caps & API_CAP_DENY) || caps == API_CAP_DENY);
    for (size_t i = 0; i < n; i++) {
        bool m = ref_match(&rules[i], path, len) || ref_match(&rules[i], path, trimmed);
        if (m && rules[i].caps == caps)
            found = true;
        if (is_exact(&rules[i]) && rules[i].len == len && memcmp(rules[i].pat, path, len) == 0)
            FUZZ_CHECK(caps == rules[i].caps); /* an exact rule wins outright */
    }
    FUZZ_CHECK(found);

    /* LIST looks at the path with a '/' added, and at it without. */
    static char lp[API_POLICY_PATTERN_MAX + 2];
    memcpy(lp, path, trimmed);
    lp[trimmed] = '/';
    static const enum api_acl_op ops[] = {API_ACL_OP_READ,   API_ACL_OP_LIST,  API_ACL_OP_CREATE,
                                          API_ACL_OP_UPDATE, API_ACL_OP_PATCH, API_ACL_OP_DELETE};
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
        bool list = ops[o] == API_ACL_OP_LIST;
        for (int sudo = 0; sudo < 2; sudo++) {
            if (!api_acl_allows_op(acl, path, ops[o], sudo))
                continue;
            unsigned need = api_acl_op_caps(ops[o]) | (sudo ? API_CAP_SUDO : 0);
            bool granted = false;
            for (size_t i = 0; i < n; i++) {
                bool m = list ? ref_match(&rules[i], lp, trimmed + 1) ||
                                    ref_match(&rules[i], path, trimmed)
                              : ref_match(&rules[i], path, len);
                if (m && !(rules[i].caps & API_CAP_DENY) && (rules[i].caps & need) == need)
                    granted = true;
            }
            FUZZ_CHECK(granted);
        }
    }

    char norm[API_POLICY_NAME_MAX + 1], again[API_POLICY_NAME_MAX + 1];
    if (api_policy_name_normalize(path, norm, sizeof(norm)) == TR_OK) {
        FUZZ_CHECK(api_policy_name_normalize(norm, again, sizeof(again)) == TR_OK);
        FUZZ_CHECK(strcmp(norm, again) == 0);
    }
}

/* Paths made from a pattern: itself, around its wildcards, and just off its edges. */
static size_t derive_paths(const struct rule *r, char out[][API_POLICY_PATTERN_MAX + 8], size_t cap)
{
    size_t n = 0, len = r->len;

    if (len > API_POLICY_PATTERN_MAX)
        return 0;
    for (int v = 0; v < 5 && n < cap; v++, n++) {
        char *o = out[n];
        size_t w = 0;
        for (size_t i = 0; i < len; i++) {
            bool plus = r->pat[i] == '+' && (i == 0 || r->pat[i - 1] == '/') &&
                        (i + 1 == len || r->pat[i + 1] == '/');
            if (plus && v >= 1)
                o[w++] = 'q';
            else if (r->pat[i] == '*' && i + 1 == len && v >= 1)
                w += (size_t)snprintf(o + w, 8, "%s", v == 2 ? "x/y" : v == 3 ? "" : "z");
            else
                o[w++] = r->pat[i];
        }
        if (v == 3)
            o[w++] = '/';
        if (v == 4 && w)
            w--;
        o[w] = '\0';
    }
    return n;
}

static void check_policy(const char *text, size_t len, const char *paths, size_t plen)
{
    static char derived[MAX_PATHS][API_POLICY_PATTERN_MAX + 8];
    struct rule rules[MAX_RULES];
    struct api_policy *pol = (struct api_policy *)1;
    struct api_acl *acl = NULL;
    char err[API_POLICY_ERR_MIN] = "";
    size_t tl = 0, nd = 0;
    int rc = api_policy_parse("fuzz", text, len, &pol, err, sizeof(err));

    if (rc != TR_OK) {
        FUZZ_CHECK(rc == TR_E_INVAL || rc == TR_E_TOO_LARGE || rc == TR_E_NOMEM);
        FUZZ_CHECK(pol == NULL && err[0] != '\0');
        return;
    }
    const char *kept = api_policy_text(pol, &tl);
    FUZZ_CHECK(tl == len && memcmp(kept, text, len) == 0);
    size_t n = api_policy_rule_count(pol);
    if (n > MAX_RULES)
        n = MAX_RULES; /* rules past this still act in the ACL, the check just ignores them */
    for (size_t i = 0; i < api_policy_rule_count(pol); i++) {
        const char *pat;
        unsigned caps;
        FUZZ_CHECK(api_policy_rule_get(pol, i, &pat, &caps) == TR_OK);
        FUZZ_CHECK(caps == API_CAP_DENY || (caps & ~API_CAP_GRANTS) == 0);
        /* One leading '/' is stripped, as Vault does: "//x" keeps one and then matches nothing,
         * since request paths lose all of theirs (the reference agrees). */
        FUZZ_CHECK(strlen(pat) <= API_POLICY_PATTERN_MAX);
        if (i < n)
            rules[i] = (struct rule){pat, strlen(pat), caps};
    }
    if (api_policy_rule_count(pol) > MAX_RULES)
        goto out; /* the reference needs all rules; don't evaluate */
    FUZZ_CHECK(api_acl_new(&pol, 1, &acl) == TR_OK);
    FUZZ_CHECK(!api_acl_is_root(acl));
    for (size_t i = 0; i < n && nd < MAX_PATHS; i++)
        nd += derive_paths(&rules[i], derived + nd, MAX_PATHS - nd);
    for (size_t i = 0; i < nd; i++)
        check_path(acl, rules, n, derived[i]);
    for (size_t off = 0, k = 0; off < plen && k < MAX_PATHS; k++) {
        check_path(acl, rules, n, paths + off);
        off += strlen(paths + off) + 1;
    }
    check_path(acl, rules, n, "");
    (void)api_acl_has_mount_access(acl, "secret/");
out:
    api_acl_free(acl);
    api_policy_free(pol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, 0, size);
    size_t tl = nul ? (size_t)(nul - (const char *)data) : size;
    char *paths = NULL;
    size_t plen = 0;

    if (size > 256u * 1024)
        return 0;
    fuzz_init();
    if (nul) { /* NUL-terminated copy of the path list */
        plen = size - tl - 1;
        if (!(paths = malloc(plen + 1)))
            return 0;
        memcpy(paths, nul + 1, plen);
        paths[plen] = '\0';
    }
    check_policy((const char *)data, tl, paths ? paths : "", plen);
    if (nul) /* the whole input as text too: a NUL inside a policy must be refused cleanly */
        check_policy((const char *)data, size, "", 0);
    free(paths);
    return 0;
}
