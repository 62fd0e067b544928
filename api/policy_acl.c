/*
 * policy_acl.c - compiled ACLs and Vault's matching rules (vault/acl.go: NewACL, AllowOperation,
 * CheckAllowedFromNonExactPaths, hasMountAccess), mirrored closely, including how a pattern is
 * classified: segment-wildcard when it is "+", contains "/+" or starts with "+/"; otherwise a
 * prefix when it ends in '*'; otherwise exact.
 */
#include "policy_int.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum acl_kind {
    ACL_EXACT,
    ACL_PREFIX,
    ACL_WC,
};

struct acl_rule {
    enum acl_kind kind;
    char *key;      /* exact: pattern; prefix: pattern without '*'; wc: whole pattern. Owned */
    size_t klen;    /* strlen(key) */
    size_t wlen;    /* bytes of key that are matched (a wc rule's final '*' excluded) */
    size_t first;   /* position of the first '+' or of the glob: the first tie-break */
    size_t nseg;    /* wc: segments of key[0..wlen) */
    unsigned nwild; /* wc: segments that are exactly "+" */
    bool is_prefix; /* ends in '*' */
    unsigned caps;
};

struct api_acl {
    atomic_uint refs; /* shared by the requests of one token set (api_acl_ref) */
    bool root;
    struct acl_rule *rules; /* owned; sorted by (kind, key), one per (kind, key) */
    size_t n;
    const struct acl_rule *exact, *prefix, *wc; /* sub-ranges of rules */
    size_t nexact, nprefix, nwc;
};

/* Room for a path and the '/' LIST adds. */
#define ACL_PATH_BUF (API_POLICY_PATTERN_MAX + 2)

/* Masks the mount check counts, as Vault's hasMountAccess lists them. */
#define ACL_MOUNT_CAPS                                                                             \
    (API_CAP_CREATE | API_CAP_DELETE | API_CAP_LIST | API_CAP_READ | API_CAP_SUDO |                \
     API_CAP_UPDATE | API_CAP_PATCH)

/* ---- Building ---------------------------------------------------------------------------- */

static bool has_seg_wildcard(const char *p, size_t n)
{
    return (n == 1 && p[0] == '+') || strstr(p, "/+") || (n >= 2 && p[0] == '+' && p[1] == '/');
}

/* Segment count and "+" segments of s[0..n). */
static void wc_shape(const char *s, size_t n, size_t *nseg, unsigned *nwild)
{
    size_t start = 0;

    *nseg = 0;
    *nwild = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '/')
            continue;
        (*nseg)++;
        if (i - start == 1 && s[start] == '+')
            (*nwild)++;
        start = i + 1;
    }
}

static int rule_init(struct acl_rule *r, const struct api_policy_rule *src)
{
    const char *p = src->pattern;
    size_t n = src->len;
    bool star = n > 0 && p[n - 1] == '*';

    memset(r, 0, sizeof(*r));
    r->caps = src->caps;
    if (has_seg_wildcard(p, n)) {
        r->kind = ACL_WC;
        r->klen = n;
        r->is_prefix = star;
        r->wlen = n - (star ? 1 : 0);
        r->first = (size_t)(strchr(p, '+') - p);
        wc_shape(p, r->wlen, &r->nseg, &r->nwild);
    } else {
        r->kind = star ? ACL_PREFIX : ACL_EXACT;
        r->klen = n - (star ? 1 : 0);
        r->is_prefix = star;
        r->wlen = r->klen;
        r->first = r->klen;
    }
    r->key = strndup(p, r->klen);
    return r->key ? TR_OK : TR_E_NOMEM;
}

static int rule_sort_cmp(const void *a, const void *b)
{
    const struct acl_rule *x = a, *y = b;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Same (kind, key) from several policies: one rule, capabilities merged (deny wins). */
static void acl_merge(struct api_acl *acl)
{
    size_t o = 0;

    if (acl->n == 0)
        return;
    qsort(acl->rules, acl->n, sizeof(acl->rules[0]), rule_sort_cmp);
    for (size_t i = 1; i < acl->n; i++) {
        if (rule_sort_cmp(&acl->rules[o], &acl->rules[i]) == 0) {
            acl->rules[o].caps = api_policy_caps_merge(acl->rules[o].caps, acl->rules[i].caps);
            free(acl->rules[i].key);
        } else {
            acl->rules[++o] = acl->rules[i];
        }
    }
    acl->n = o + 1;
}

static void acl_ranges(struct api_acl *acl)
{
    size_t i = 0;

    if (!acl->rules) /* no rules (root, or no policy): the ranges stay empty; NULL + 0 is UB */
        return;
    acl->exact = acl->rules;
    while (i < acl->n && acl->rules[i].kind == ACL_EXACT)
        i++;
    acl->nexact = i;
    acl->prefix = acl->rules + i;
    while (i < acl->n && acl->rules[i].kind == ACL_PREFIX)
        i++;
    acl->nprefix = i - acl->nexact;
    acl->wc = acl->rules + i;
    acl->nwc = acl->n - i;
}

static int acl_fill(struct api_acl *acl, struct api_policy *const *pols, size_t n, size_t total)
{
    int rc;

    if (total == 0)
        return TR_OK;
    if (total > SIZE_MAX / sizeof(struct acl_rule))
        return TR_E_NOMEM;
    if (!(acl->rules = calloc(total, sizeof(struct acl_rule))))
        return TR_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!pols[i])
            continue;
        for (size_t j = 0; j < pols[i]->nrules; j++) {
            if ((rc = rule_init(&acl->rules[acl->n], &pols[i]->rules[j])) != TR_OK)
                return rc;
            acl->n++;
        }
    }
    acl_merge(acl);
    return TR_OK;
}

int api_acl_new(struct api_policy *const *pols, size_t n, struct api_acl **out)
{
    struct api_acl *acl = NULL;
    size_t total = 0;
    int rc = TR_E_INVAL;

    if (!out)
        return TR_E_INVAL;
    *out = NULL;
    if (!pols && n > 0)
        goto out;
    rc = TR_E_NOMEM;
    if (!(acl = calloc(1, sizeof(*acl))))
        goto out;
    atomic_init(&acl->refs, 1);
    for (size_t i = 0; i < n; i++) {
        if (pols[i] && pols[i]->root)
            acl->root = true;
        else if (pols[i] && pols[i]->nrules > SIZE_MAX - total)
            goto out;
        else if (pols[i])
            total += pols[i]->nrules;
    }
    if (!acl->root && (rc = acl_fill(acl, pols, n, total)) != TR_OK)
        goto out;
    acl_ranges(acl);
    *out = acl;
    acl = NULL;
    rc = TR_OK;
out:
    api_acl_free(acl);
    return rc;
}

void api_acl_ref(struct api_acl *acl)
{
    atomic_fetch_add(&acl->refs, 1);
}

void api_acl_free(struct api_acl *acl)
{
    if (!acl || atomic_fetch_sub(&acl->refs, 1) != 1)
        return;
    for (size_t i = 0; i < acl->n; i++)
        free(acl->rules[i].key);
    free(acl->rules);
    free(acl);
}

bool api_acl_is_root(const struct api_acl *acl)
{
    return acl && acl->root;
}

/* ---- Matching ---------------------------------------------------------------------------- */

/* Orders a slice against a key exactly as strcmp orders NUL-free strings. */
static int slice_cmp(const char *p, size_t len, const char *key, size_t klen)
{
    int c = memcmp(p, key, len < klen ? len : klen);

    if (c != 0)
        return c;
    return len < klen ? -1 : len > klen ? 1 : 0;
}

static const struct acl_rule *exact_find(const struct api_acl *acl, const char *p, size_t len)
{
    size_t lo = 0, hi = acl->nexact;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct acl_rule *r = &acl->exact[mid];
        int c = slice_cmp(p, len, r->key, r->klen);
        if (c == 0)
            return r;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Next '/'-separated segment of s[0..len) starting at *pos; advances past the '/'. */
static const char *seg_next(const char *s, size_t len, size_t *pos, size_t *seg_len)
{
    const char *start = s + *pos;
    const char *slash = *pos < len ? memchr(start, '/', len - *pos) : NULL;
    size_t n = slash ? (size_t)(slash - start) : len - *pos;

    *seg_len = n;
    *pos += n + (slash ? 1 : 0);
    return start;
}

static size_t count_slashes(const char *p, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += p[i] == '/';
    return n;
}

/* Segment i of a wc pattern against one path segment: "+" matches any one segment (even an
 * empty one, as in Vault); the last segment of a glob pattern matches by prefix. */
static bool seg_match(const struct acl_rule *r, size_t i, const char *a, size_t alen, const char *s,
                      size_t slen)
{
    if (alen == 1 && a[0] == '+')
        return true;
    if (alen == slen && memcmp(a, s, alen) == 0)
        return true;
    return r->is_prefix && i == r->nseg - 1 && slen >= alen && memcmp(a, s, alen) == 0;
}

/* Segments 0..upto of the rule against the path's. */
static bool wc_match_segments(const struct acl_rule *r, const char *p, size_t len, size_t upto)
{
    size_t apos = 0, ppos = 0, alen, slen;

    for (size_t i = 0; i < upto; i++) {
        const char *a = seg_next(r->key, r->wlen, &apos, &alen);
        const char *s = seg_next(p, len, &ppos, &slen);
        if (!seg_match(r, i, a, alen, s, slen))
            return false;
    }
    return true;
}

static bool wc_match(const struct acl_rule *r, const char *p, size_t len)
{
    size_t nparts = count_slashes(p, len) + 1;

    if (nparts < r->nseg || (!r->is_prefix && nparts != r->nseg))
        return false;
    return wc_match_segments(r, p, len, r->nseg);
}

/* Whether a beats b, by Vault's tie-breaks (vault-api.md §6.3 rule 3). */
static bool prio_higher(const struct acl_rule *a, const struct acl_rule *b)
{
    if (a->first != b->first)
        return a->first > b->first;
    if (a->is_prefix != b->is_prefix)
        return !a->is_prefix;
    if (a->nwild != b->nwild)
        return a->nwild < b->nwild;
    if (a->wlen != b->wlen)
        return a->wlen > b->wlen;
    return memcmp(a->key, b->key, a->wlen) > 0;
}

/* The best glob or segment-wildcard rule for the path, or NULL. */
static const struct acl_rule *nonexact_find(const struct api_acl *acl, const char *p, size_t len)
{
    const struct acl_rule *best = NULL;

    for (size_t i = 0; i < acl->nprefix; i++) {
        const struct acl_rule *r = &acl->prefix[i];
        if (r->klen <= len && memcmp(p, r->key, r->klen) == 0 && (!best || r->klen > best->klen))
            best = r;
    }
    for (size_t i = 0; i < acl->nwc; i++) {
        const struct acl_rule *r = &acl->wc[i];
        if (wc_match(r, p, len) && (!best || prio_higher(r, best)))
            best = r;
    }
    return best;
}

/* AllowOperation's search order; list adds the trailing-'/' fallbacks. 0 when nothing matches. */
static unsigned acl_lookup(const struct api_acl *acl, const char *p, size_t len, bool list)
{
    bool slash = len > 0 && p[len - 1] == '/';
    const struct acl_rule *r = exact_find(acl, p, len);

    if (!r && list && slash)
        r = exact_find(acl, p, len - 1);
    if (!r && list && slash) {
        /* Vault tries the path without its '/' first, so a list grant on the glob "a/" may
         * answer a LIST of "a/private/"; a deny rule matching the listing path itself (the glob
         * "a/private/") must still win, or a broader grant lists what the deny hides
         * (GHSA-xp3c-3jw3-4vcr, fixed the same way in OpenBao #3389). */
        const struct acl_rule *full = nonexact_find(acl, p, len);
        r = nonexact_find(acl, p, len - 1);
        if (!r || (full && (full->caps & API_CAP_DENY)))
            r = full;
        return r ? r->caps : 0;
    }
    if (!r)
        r = nonexact_find(acl, p, len);
    return r ? r->caps : 0;
}

/* Strips leading '/' (as Vault does) and, if asked, appends one '/'. Into buf; false if long. */
static bool path_prepare(const char *path, bool add_slash, char *buf, size_t *out_len)
{
    size_t len;

    while (*path == '/')
        path++;
    len = strnlen(path, API_POLICY_PATTERN_MAX + 1);
    if (len > API_POLICY_PATTERN_MAX)
        return false;
    memcpy(buf, path, len);
    if (add_slash && (len == 0 || buf[len - 1] != '/'))
        buf[len++] = '/';
    buf[len] = '\0';
    *out_len = len;
    return true;
}

unsigned api_acl_capabilities(const struct api_acl *acl, const char *path)
{
    char buf[ACL_PATH_BUF];
    size_t len;
    unsigned caps;

    if (!acl || !path)
        return 0;
    if (acl->root)
        return API_CAP_GRANTS | API_CAP_ROOT;
    if (!path_prepare(path, false, buf, &len))
        return 0;
    caps = acl_lookup(acl, buf, len, true); /* Vault evaluates capabilities as a LIST */
    return (caps & API_CAP_DENY) ? API_CAP_DENY : (caps & API_CAP_GRANTS);
}

static bool acl_allows(const struct api_acl *acl, const char *path, unsigned need, bool list)
{
    char buf[ACL_PATH_BUF];
    size_t len;
    unsigned caps;

    if (!acl || !path || need == 0 || (need & ~API_CAP_GRANTS))
        return false;
    if (acl->root)
        return true;
    if (!path_prepare(path, list, buf, &len))
        return false;
    caps = acl_lookup(acl, buf, len, list);
    return !(caps & API_CAP_DENY) && (caps & need) == need;
}

bool api_acl_allows_op(const struct api_acl *acl, const char *path, enum api_acl_op op,
                       bool sudo_required)
{
    unsigned need = api_acl_op_caps(op);

    if (need == 0)
        return false;
    if (sudo_required)
        need |= API_CAP_SUDO;
    return acl_allows(acl, path, need, op == API_ACL_OP_LIST);
}

bool api_acl_allows(const struct api_acl *acl, const char *path, unsigned needed)
{
    return acl_allows(acl, path, needed, false);
}

/* ---- Mount visibility -------------------------------------------------------------------- */

static bool grants_for_mount(unsigned caps)
{
    return !(caps & API_CAP_DENY) && (caps & ACL_MOUNT_CAPS);
}

/* A rule whose key starts with the mount path (Vault walks both radix trees by prefix). */
static bool rules_under(const struct acl_rule *rules, size_t n, const char *p, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        const struct acl_rule *r = &rules[i];
        if (r->klen >= len && memcmp(r->key, p, len) == 0 && grants_for_mount(r->caps))
            return true;
    }
    return false;
}

/* CheckAllowedFromNonExactPaths with bareMount: the mount's segments (p ends in '/') must be
 * matched by the pattern's first segments, and the rule must grant something without deny. */
static bool wc_under(const struct api_acl *acl, const char *p, size_t len)
{
    size_t k = count_slashes(p, len);

    for (size_t i = 0; i < acl->nwc; i++) {
        const struct acl_rule *r = &acl->wc[i];
        if ((r->caps & API_CAP_DENY) || !(r->caps & API_CAP_GRANTS) || r->nseg < k)
            continue;
        if (wc_match_segments(r, p, len, k))
            return true;
    }
    return false;
}

bool api_acl_has_mount_access(const struct api_acl *acl, const char *mount_path)
{
    char buf[ACL_PATH_BUF];
    size_t len;
    unsigned caps;

    if (!acl || !mount_path)
        return false;
    if (acl->root)
        return true;
    if (!path_prepare(mount_path, true, buf, &len))
        return false;
    caps = acl_lookup(acl, buf, len, true);
    if (!(caps & API_CAP_DENY) && (caps & API_CAP_GRANTS))
        return true;
    return rules_under(acl->exact, acl->nexact, buf, len) ||
           rules_under(acl->prefix, acl->nprefix, buf, len) || wc_under(acl, buf, len);
}
