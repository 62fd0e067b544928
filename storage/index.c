/*
 * index.c - the verified index of one table: an AVL tree keyed by the record key and ordered
 * exactly like LMDB's default comparison (bytewise, a prefix sorts first), so scrub can walk
 * the tree and an LMDB cursor side by side and listing never has to trust LMDB's order; and a
 * hash table over the same nodes for point lookups (reads, stat, the writer), which would
 * otherwise chase ~17 dependent, cache-missing tree levels at 100k keys.
 *
 * The hash is SipHash-2-4 (crypto_shorthash) under a random key made per table at its first
 * insert: whoever picks key names (any client) cannot aim them at one probe run. The key is
 * not a secret of the store (its loss only allows slowing lookups down), so it sits in plain
 * memory. The table doubles when it is 3/4 full and never shrinks; a failed growth keeps the
 * old table (longer runs, still correct) until it would be full.
 *
 * Removal relinks nodes instead of copying a successor's key into the removed node: nodes
 * keep their address for as long as they are indexed (the writer keeps pointers to them
 * between marking and publishing a batch). Recursion depth is bounded by the AVL height
 * (about 1.44 log2 n: under 45 for 10^9 keys).
 * Thread-safety: none here; callers hold idx_lock (see store_int.h).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store_int.h"

#define HT_MIN_SLOTS 64

_Static_assert(STORE_HKEY_BYTES == crypto_shorthash_KEYBYTES, "SipHash key size");

int store_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0; /* keys are identifiers, not secrets */

    if (c != 0)
        return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

static int height(const struct idx_node *n)
{
    return n ? n->h : 0;
}

static void fix_height(struct idx_node *n)
{
    int hl = height(n->l), hr = height(n->r);

    n->h = (uint8_t)(1 + (hl > hr ? hl : hr));
}

static struct idx_node *rot_right(struct idx_node *y)
{
    struct idx_node *x = y->l;

    y->l = x->r;
    x->r = y;
    fix_height(y);
    fix_height(x);
    return x;
}

static struct idx_node *rot_left(struct idx_node *x)
{
    struct idx_node *y = x->r;

    x->r = y->l;
    y->l = x;
    fix_height(x);
    fix_height(y);
    return y;
}

static struct idx_node *rebalance(struct idx_node *n)
{
    int b;

    fix_height(n);
    b = height(n->l) - height(n->r);
    if (b > 1) {
        if (height(n->l->l) < height(n->l->r))
            n->l = rot_left(n->l);
        return rot_right(n);
    }
    if (b < -1) {
        if (height(n->r->r) < height(n->r->l))
            n->r = rot_right(n->r);
        return rot_left(n);
    }
    return n;
}

/* ---- hash table ------------------------------------------------------------------------------
 * Open addressing with linear probing; a slot holds the node, its full 64-bit hash and a copy of
 * what a read checks (idx_slot_sync), so a probe touches only the slot array until the hash
 * matches and a read usually needs no node at all. Deletion shifts the following entries back
 * (no tombstones).
 */

uint64_t idx_hash(const struct store_idx *ix, const uint8_t *key, size_t len)
{
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t hv;

    crypto_shorthash(out, key, len, ix->hkey);
    memcpy(&hv, out, sizeof(hv)); /* any fixed byte order will do */
    return hv;
}

/* The slot of (hv, key), or of the empty slot where it would go. nslots > 0. */
static size_t ht_slot(const struct store_idx *ix, uint64_t hv, const uint8_t *key, size_t len)
{
    size_t mask = ix->nslots - 1, i = (size_t)hv & mask;

    for (;; i = (i + 1) & mask) {
        const struct idx_slot *sl = &ix->slots[i];
        if (!sl->n)
            return i;
        if (sl->hv == hv && sl->n->key_len == len && memcmp(sl->n->key, key, len) == 0)
            return i; /* keys are identifiers, not secrets */
    }
}

#define HUGE_BYTES ((size_t)2 << 20)

/* A zeroed slot array. From 2 MiB up it is aligned to 2 MiB and marked for transparent huge
 * pages: lookups land on random slots, so with 4 KiB pages nearly every read also misses the
 * TLB, and the rebuild at startup takes one page fault per 85 slots. */
static struct idx_slot *slots_alloc(size_t ns)
{
    size_t bytes = ns * sizeof(struct idx_slot);
    void *p;

    if (bytes < HUGE_BYTES)
        return calloc(ns, sizeof(struct idx_slot));
    if (!(p = aligned_alloc(HUGE_BYTES, bytes))) /* bytes: a power of two times 48 */
        return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint; without THP this is a plain array */
    memset(p, 0, bytes);
    return p;
}

/* Rehash into ns slots (a power of two that holds every entry). Errors: TR_E_NOMEM (nothing
 * changed). */
static int ht_resize(struct store_idx *ix, size_t ns)
{
    size_t mask = ns - 1;
    struct idx_slot *nsl;

    if (ns > SIZE_MAX / sizeof(*nsl) || !(nsl = slots_alloc(ns)))
        return TR_E_NOMEM;
    for (size_t i = 0; i < ix->nslots; i++) {
        size_t j;
        if (!ix->slots[i].n)
            continue;
        for (j = (size_t)ix->slots[i].hv & mask; nsl[j].n; j = (j + 1) & mask)
            ;
        nsl[j] = ix->slots[i];
    }
    free(ix->slots);
    ix->slots = nsl;
    ix->nslots = ns;
    return TR_OK;
}

/* Double the slot array (or make the first one, with the table's hash key). */
static int ht_grow(struct store_idx *ix)
{
    if (!ix->nslots)
        randombytes_buf(ix->hkey, sizeof(ix->hkey));
    return ht_resize(ix, ix->nslots ? ix->nslots * 2 : HT_MIN_SLOTS);
}

int idx_reserve(struct store_idx *ix, size_t n)
{
    size_t ns = ix->nslots ? ix->nslots : HT_MIN_SLOTS;

    while (ns < SIZE_MAX / 8 && n > ns / 4 * 3)
        ns *= 2;
    if (ns <= ix->nslots)
        return TR_OK;
    if (!ix->nslots)
        randombytes_buf(ix->hkey, sizeof(ix->hkey));
    return ht_resize(ix, ns);
}

/* Empty slot i and move later entries of the probe run back into the hole. */
static void ht_delete_at(struct store_idx *ix, size_t i)
{
    size_t mask = ix->nslots - 1, j = i;

    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (!ix->slots[j].n)
            break;
        home = (size_t)ix->slots[j].hv & mask;
        /* the entry at j may move to i only if its home is not cyclically in (i, j] */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        ix->slots[i] = ix->slots[j];
        i = j;
    }
    memset(&ix->slots[i], 0, sizeof(ix->slots[i]));
    ix->n--;
}

void idx_prefetch(const struct store_idx *ix, uint64_t hv)
{
    if (!ix->nslots)
        return;
    const char *sl = (const char *)&ix->slots[(size_t)hv & (ix->nslots - 1)];
    __builtin_prefetch(sl);
    __builtin_prefetch(sl + sizeof(struct idx_slot) - 1); /* a slot may straddle two lines */
}

const struct idx_slot *idx_slot_hv(const struct store_idx *ix, uint64_t hv)
{
    size_t mask, i;

    if (!ix->nslots)
        return NULL;
    mask = ix->nslots - 1;
    for (i = (size_t)hv & mask; ix->slots[i].n; i = (i + 1) & mask)
        if (ix->slots[i].hv == hv)
            return &ix->slots[i];
    return NULL;
}

void idx_slot_sync(struct store_idx *ix, const struct idx_node *n)
{
    size_t mask, i;

    if (!ix->nslots)
        return;
    mask = ix->nslots - 1;
    for (i = (size_t)idx_hash(ix, n->key, n->key_len) & mask; ix->slots[i].n; i = (i + 1) & mask) {
        struct idx_slot *sl = &ix->slots[i];
        if (sl->n == n) {
            sl->live = n->live;
            sl->pending = n->pending;
            sl->version = n->version;
            memcpy(sl->tag, n->tag, STORE_TAG_BYTES);
            return;
        }
    }
}

struct idx_node *idx_find_hv(const struct store_idx *ix, uint64_t hv, const uint8_t *key,
                             size_t len)
{
    if (!ix->nslots)
        return NULL;
    return ix->slots[ht_slot(ix, hv, key, len)].n;
}

struct idx_node *idx_find(const struct store_idx *ix, const uint8_t *key, size_t len)
{
    if (!ix->nslots)
        return NULL;
    return idx_find_hv(ix, idx_hash(ix, key, len), key, len);
}

/* ---- AVL tree ---------------------------------------------------------------------------------- */

static struct idx_node *insert_node(struct idx_node *n, struct idx_node *nn)
{
    if (!n)
        return nn;
    if (store_key_cmp(nn->key, nn->key_len, n->key, n->key_len) < 0)
        n->l = insert_node(n->l, nn);
    else
        n->r = insert_node(n->r, nn);
    return rebalance(n);
}

int idx_get_or_add(struct store_idx *ix, const uint8_t *key, size_t len, struct idx_node **out)
{
    struct idx_node *n;
    uint64_t hv;
    size_t i;
    int rc;

    if (len > STORE_KEY_MAX)
        return TR_E_INVAL;
    if (!ix->nslots && (rc = ht_grow(ix)) != TR_OK)
        return rc;
    hv = idx_hash(ix, key, len);
    i = ht_slot(ix, hv, key, len);
    if (!ix->slots[i].n) {
        /* keep the load at most 3/4; if growing fails, go on while a slot stays empty */
        if ((ix->n + 1) * 4 > ix->nslots * 3 && ht_grow(ix) == TR_OK)
            i = ht_slot(ix, hv, key, len);
        else if (ix->n + 2 > ix->nslots)
            return TR_E_NOMEM;
        if (!(n = calloc(1, sizeof(*n) + len)))
            return TR_E_NOMEM;
        n->h = 1;
        n->key_len = (uint16_t)len;
        memcpy(n->key, key, len);
        ix->root = insert_node(ix->root, n);
        ix->slots[i] = (struct idx_slot){.n = n, .hv = hv}; /* not live, not pending */
        ix->n++;
    }
    *out = ix->slots[i].n;
    return TR_OK;
}

static struct idx_node *detach_min(struct idx_node *n, struct idx_node **out_min)
{
    if (!n->l) {
        *out_min = n;
        return n->r;
    }
    n->l = detach_min(n->l, out_min);
    return rebalance(n);
}

static struct idx_node *remove_node(struct idx_node *n, const uint8_t *key, size_t len,
                                    struct idx_node **out)
{
    int c;

    if (!n)
        return NULL;
    c = store_key_cmp(key, len, n->key, n->key_len);
    if (c < 0) {
        n->l = remove_node(n->l, key, len, out);
    } else if (c > 0) {
        n->r = remove_node(n->r, key, len, out);
    } else {
        struct idx_node *l = n->l, *r = n->r, *m = NULL;

        *out = n;
        if (!r)
            return l;
        r = detach_min(r, &m);
        m->l = l;
        m->r = r;
        return rebalance(m);
    }
    return rebalance(n);
}

void idx_remove(struct store_idx *ix, const uint8_t *key, size_t len)
{
    struct idx_node *gone = NULL;

    if (!ix->nslots)
        return;
    ix->root = remove_node(ix->root, key, len, &gone);
    if (gone)
        ht_delete_at(ix, ht_slot(ix, idx_hash(ix, key, len), key, len));
    free(gone);
}

struct idx_node *idx_lower_bound(const struct store_idx *ix, const uint8_t *k, size_t kl,
                                 bool strict)
{
    struct idx_node *n = ix->root, *best = NULL;

    while (n) {
        int c = store_key_cmp(n->key, n->key_len, k, kl);
        if (c > 0 || (c == 0 && !strict)) {
            best = n;
            n = n->l;
        } else {
            n = n->r;
        }
    }
    return best;
}

static void tree_free(struct idx_node *root)
{
    /* iterative on the right spine keeps the recursion bounded by the height */
    while (root) {
        struct idx_node *r = root->r;
        tree_free(root->l);
        free(root);
        root = r;
    }
}

void idx_free(struct store_idx *ix)
{
    tree_free(ix->root);
    free(ix->slots);
    sodium_memzero(ix, sizeof(*ix));
}
