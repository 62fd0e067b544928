/*
 * index.c - the verified index: one AVL tree per table, keyed by the record key and ordered
 * exactly like LMDB's default comparison (bytewise, a prefix sorts first), so scrub can walk
 * the tree and an LMDB cursor side by side and listing never has to trust LMDB's order.
 *
 * Removal relinks nodes instead of copying a successor's key into the removed node: nodes
 * keep their address for as long as they are in a tree (the writer keeps pointers to them
 * between marking and publishing a batch). Recursion depth is bounded by the AVL height
 * (about 1.44 log2 n: under 45 for 10^9 keys).
 * Thread-safety: none here; callers hold idx_lock (see store_int.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

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

    n->h = 1 + (hl > hr ? hl : hr);
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

struct idx_node *idx_find(struct idx_node *root, const uint8_t *key, size_t len)
{
    struct idx_node *n = root;

    while (n) {
        int c = store_key_cmp(key, len, n->key, n->key_len);
        if (c == 0)
            return n;
        n = c < 0 ? n->l : n->r;
    }
    return NULL;
}

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

int idx_get_or_add(struct idx_node **root, const uint8_t *key, size_t len, struct idx_node **out)
{
    struct idx_node *n = idx_find(*root, key, len);

    if (!n) {
        if (len > STORE_KEY_MAX)
            return TR_E_INVAL;
        n = calloc(1, sizeof(*n) + len);
        if (!n)
            return TR_E_NOMEM;
        n->h = 1;
        n->key_len = len;
        memcpy(n->key, key, len);
        *root = insert_node(*root, n);
    }
    *out = n;
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

void idx_remove(struct idx_node **root, const uint8_t *key, size_t len)
{
    struct idx_node *gone = NULL;

    *root = remove_node(*root, key, len, &gone);
    free(gone);
}

struct idx_node *idx_lower_bound(struct idx_node *root, const uint8_t *k, size_t kl, bool strict)
{
    struct idx_node *n = root, *best = NULL;

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

void idx_free(struct idx_node *root)
{
    /* iterative on the right spine keeps the recursion bounded by the height */
    while (root) {
        struct idx_node *r = root->r;
        idx_free(root->l);
        free(root);
        root = r;
    }
}
