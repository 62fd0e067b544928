#include "tr_buf.h"

#include <stdlib.h>
#include <string.h>

/* Nothing we encode is anywhere near this; it keeps size arithmetic far from overflow. */
#define TR_BUF_MAX ((size_t)1 << 31)

int tr_buf_reserve(struct tr_buf *b, size_t extra)
{
    if (extra > TR_BUF_MAX || b->len > TR_BUF_MAX - extra)
        return TR_E_TOO_LARGE;
    if (b->len + extra <= b->cap)
        return TR_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return TR_E_NOMEM;
    b->data = p;
    b->cap = cap;
    return TR_OK;
}

int tr_buf_put(struct tr_buf *b, const void *p, size_t len)
{
    int rc = tr_buf_reserve(b, len);
    if (rc != TR_OK)
        return rc;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    return TR_OK;
}

int tr_buf_put_u8(struct tr_buf *b, uint8_t v)
{
    return tr_buf_put(b, &v, 1);
}

int tr_buf_put_u32(struct tr_buf *b, uint32_t v)
{
    uint8_t t[4];
    tr_be32_put(t, v);
    return tr_buf_put(b, t, sizeof(t));
}

int tr_buf_put_u64(struct tr_buf *b, uint64_t v)
{
    uint8_t t[8];
    tr_be64_put(t, v);
    return tr_buf_put(b, t, sizeof(t));
}

int tr_buf_put_lstr(struct tr_buf *b, const void *s, size_t len)
{
    if (len > UINT32_MAX)
        return TR_E_TOO_LARGE;
    int rc = tr_buf_put_u32(b, (uint32_t)len);
    if (rc != TR_OK)
        return rc;
    return tr_buf_put(b, s, len);
}

void tr_buf_reset(struct tr_buf *b)
{
    b->len = 0;
}

void tr_buf_free(struct tr_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int tr_rd_bytes(struct tr_rd *r, size_t n, const uint8_t **out)
{
    if (n > r->left)
        return TR_E_INVAL;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return TR_OK;
}

int tr_rd_u8(struct tr_rd *r, uint8_t *out)
{
    const uint8_t *p;
    if (tr_rd_bytes(r, 1, &p) != TR_OK)
        return TR_E_INVAL;
    *out = p[0];
    return TR_OK;
}

int tr_rd_u32(struct tr_rd *r, uint32_t *out)
{
    const uint8_t *p;
    if (tr_rd_bytes(r, 4, &p) != TR_OK)
        return TR_E_INVAL;
    *out = tr_be32_get(p);
    return TR_OK;
}

int tr_rd_u64(struct tr_rd *r, uint64_t *out)
{
    const uint8_t *p;
    if (tr_rd_bytes(r, 8, &p) != TR_OK)
        return TR_E_INVAL;
    *out = tr_be64_get(p);
    return TR_OK;
}

int tr_rd_lstr(struct tr_rd *r, size_t max, const uint8_t **out, size_t *out_len)
{
    uint32_t n;
    if (tr_rd_u32(r, &n) != TR_OK || n > max)
        return TR_E_INVAL;
    if (tr_rd_bytes(r, n, out) != TR_OK)
        return TR_E_INVAL;
    *out_len = n;
    return TR_OK;
}

void tr_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void tr_be64_put(uint8_t *p, uint64_t v)
{
    tr_be32_put(p, (uint32_t)(v >> 32));
    tr_be32_put(p + 4, (uint32_t)v);
}

uint32_t tr_be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t tr_be64_get(const uint8_t *p)
{
    return (uint64_t)tr_be32_get(p) << 32 | tr_be32_get(p + 4);
}
