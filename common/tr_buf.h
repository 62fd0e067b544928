/*
 * tr_buf - a growable byte buffer for non-secret data (ciphertext, JSON text, encodings).
 *
 * Never put a secret in a tr_buf: it grows with realloc and frees without wiping. Secrets live in
 * enclave memory only.
 * Usage: struct tr_buf b = TR_BUF_INIT; tr_buf_put(&b, ...); ...; tr_buf_free(&b);
 * Thread-safety: none; one owner at a time.
 */
#ifndef TR_BUF_H
#define TR_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "tr_err.h"

struct tr_buf {
    uint8_t *data; /* owned; NULL while empty */
    size_t len;
    size_t cap;
};

#define TR_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* tr_buf_reserve - ensure room for extra more bytes. Errors: TR_E_NOMEM, TR_E_TOO_LARGE. */
TR_MUST_CHECK int tr_buf_reserve(struct tr_buf *b, size_t extra);
/* tr_buf_put - append len bytes copied from p. Errors: as tr_buf_reserve. */
TR_MUST_CHECK int tr_buf_put(struct tr_buf *b, const void *p, size_t len);
TR_MUST_CHECK int tr_buf_put_u8(struct tr_buf *b, uint8_t v);
/* tr_buf_put_u32/u64 - append big-endian integers. */
TR_MUST_CHECK int tr_buf_put_u32(struct tr_buf *b, uint32_t v);
TR_MUST_CHECK int tr_buf_put_u64(struct tr_buf *b, uint64_t v);
/* tr_buf_put_str - append a u32 length prefix and the bytes of s. */
TR_MUST_CHECK int tr_buf_put_lstr(struct tr_buf *b, const void *s, size_t len);
void tr_buf_reset(struct tr_buf *b);
/* tr_buf_free - release the storage; b may be reused after. NULL-safe. */
void tr_buf_free(struct tr_buf *b);

/* Big-endian readers over a borrowed span; they fail instead of reading past the end. */
struct tr_rd {
    const uint8_t *p;
    size_t left;
};

TR_MUST_CHECK int tr_rd_u8(struct tr_rd *r, uint8_t *out);
TR_MUST_CHECK int tr_rd_u32(struct tr_rd *r, uint32_t *out);
TR_MUST_CHECK int tr_rd_u64(struct tr_rd *r, uint64_t *out);
/* tr_rd_bytes - borrow n bytes; *out points into the reader's span. Errors: TR_E_INVAL. */
TR_MUST_CHECK int tr_rd_bytes(struct tr_rd *r, size_t n, const uint8_t **out);
/* tr_rd_lstr - a u32-length-prefixed span of at most max bytes. Errors: TR_E_INVAL. */
TR_MUST_CHECK int tr_rd_lstr(struct tr_rd *r, size_t max, const uint8_t **out, size_t *out_len);

void tr_be32_put(uint8_t *p, uint32_t v);
void tr_be64_put(uint8_t *p, uint64_t v);
uint32_t tr_be32_get(const uint8_t *p);
uint64_t tr_be64_get(const uint8_t *p);

#endif
