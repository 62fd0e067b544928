/*
 * record.c - the storage engine's on-disk formats. Golden layouts (big-endian integers):
 *
 * Stored value of a record (the LMDB value):
 *   0  u8  format (1)     1  u8 flags (0)     2 u16 reserved (0)     4 u64 version
 *   12 core record: key_id(4) || nonce(24) || ciphertext || tag(16)
 * Associated data bound into the record by the core:
 *   "TRREC1" || db_uuid(16) || u8 table_len || table || u16 key_len || key || u64 version
 *   || u8 flags
 * The core record ends with its 16-byte Poly1305 tag; the verified index keeps the published
 * record's tag and a read compares it before opening (docs/storage-format.md, "Reads").
 * Multiset digest element (one per record), keyed by the core's digest key:
 *   enc_mac(ENC_MAC_DIGEST, "TRDIG1" || u8 table_len || table || u16 key_len || key
 *           || u64 version || record_hash(32)),  record_hash = enc_mac(ENC_MAC_INDEX, stored)
 *   digest = sum of elements mod 2^256 (little-endian); (table, key, version) is unique per
 *   state, so no element is ever added twice.
 * Anchor (the "_meta" table, key "anchor"), 168 bytes:
 *   0 "TRANCH\0\1"  8 db_uuid(16)  24 counter  32 seq  40 epoch  48 count  56 digest(32)
 *   88 prev_hash(32)  120 u32 key_id  124 u8 reason  125 zero(3)  128 wall_time
 *   136 mac(32) = enc_mac(ENC_MAC_ANCHOR, bytes 0..135)
 */
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "../common/tr_buf.h"
#include "store_int.h"

static const uint8_t anchor_magic[8] = {'T', 'R', 'A', 'N', 'C', 'H', 0, 1};

_Static_assert(STORE_ANCHOR_BODY == 136, "anchor layout changed: update the golden vector");

void store_hdr_put(uint8_t hdr[STORE_REC_HDR], uint64_t version, uint8_t flags)
{
    hdr[0] = STORE_REC_FORMAT;
    hdr[1] = flags;
    hdr[2] = 0;
    hdr[3] = 0;
    tr_be64_put(hdr + 4, version);
}

int store_hdr_parse(const uint8_t *p, size_t len, uint64_t *out_version)
{
    uint64_t v;

    if (len < STORE_REC_HDR || p[0] != STORE_REC_FORMAT || p[1] != 0 || p[2] != 0 || p[3] != 0)
        return TR_E_INVAL;
    v = tr_be64_get(p + 4);
    if (v == 0 || v == STORE_VERSION_ANY)
        return TR_E_INVAL;
    *out_version = v;
    return TR_OK;
}

/* Table and key, length-prefixed so that no two (table, key) pairs serialise alike. */
static size_t put_table_key(uint8_t *o, const char *table, const uint8_t *key, size_t key_len)
{
    size_t tl = strlen(table), n = 0;

    o[n++] = (uint8_t)tl;
    memcpy(o + n, table, tl);
    n += tl;
    o[n++] = (uint8_t)(key_len >> 8);
    o[n++] = (uint8_t)key_len;
    memcpy(o + n, key, key_len);
    return n + key_len;
}

int store_ad_build(const uint8_t uuid[STORE_UUID_BYTES], const char *table, const uint8_t *key,
                   size_t key_len, uint64_t version, uint8_t flags, uint8_t out[STORE_AD_MAX],
                   size_t *out_len)
{
    size_t n = 6 + STORE_UUID_BYTES;

    if (strlen(table) > STORE_TABLE_NAME_MAX || key_len > STORE_KEY_MAX)
        return TR_E_INVAL;
    memcpy(out, "TRREC1", 6);
    memcpy(out + 6, uuid, STORE_UUID_BYTES);
    n += put_table_key(out + n, table, key, key_len);
    tr_be64_put(out + n, version);
    n += 8;
    out[n++] = flags;
    *out_len = n;
    return TR_OK;
}

int store_rec_hash(const uint8_t *p, size_t len, uint8_t out[STORE_HASH_BYTES])
{
    return enc_mac(ENC_MAC_INDEX, p, len, out);
}

int store_digest_elem(const char *table, const uint8_t *key, size_t key_len, uint64_t version,
                      const uint8_t hash[STORE_HASH_BYTES], uint8_t out[STORE_HASH_BYTES])
{
    uint8_t m[STORE_AD_MAX];
    size_t n;

    if (strlen(table) > STORE_TABLE_NAME_MAX || key_len > STORE_KEY_MAX)
        return TR_E_INVAL;
    memcpy(m, "TRDIG1", 6);
    n = 6 + put_table_key(m + 6, table, key, key_len);
    tr_be64_put(m + n, version);
    n += 8;
    memcpy(m + n, hash, STORE_HASH_BYTES);
    n += STORE_HASH_BYTES;
    return enc_mac(ENC_MAC_DIGEST, m, n, out);
}

void store_digest_add(uint8_t d[STORE_HASH_BYTES], const uint8_t e[STORE_HASH_BYTES])
{
    unsigned c = 0;

    for (size_t i = 0; i < STORE_HASH_BYTES; i++) {
        c += (unsigned)d[i] + e[i];
        d[i] = (uint8_t)c;
        c >>= 8;
    }
}

void store_digest_sub(uint8_t d[STORE_HASH_BYTES], const uint8_t e[STORE_HASH_BYTES])
{
    int borrow = 0;

    for (size_t i = 0; i < STORE_HASH_BYTES; i++) {
        int t = (int)d[i] - (int)e[i] - borrow;
        borrow = t < 0;
        d[i] = (uint8_t)(t + (borrow << 8));
    }
}

static void anchor_body(const struct store_anchor *a, uint8_t o[STORE_ANCHOR_BODY])
{
    memcpy(o, anchor_magic, 8);
    memcpy(o + 8, a->db_uuid, STORE_UUID_BYTES);
    tr_be64_put(o + 24, a->counter);
    tr_be64_put(o + 32, a->seq);
    tr_be64_put(o + 40, a->epoch);
    tr_be64_put(o + 48, a->count);
    memcpy(o + 56, a->digest, STORE_HASH_BYTES);
    memcpy(o + 88, a->prev_hash, STORE_HASH_BYTES);
    tr_be32_put(o + 120, a->key_id);
    o[124] = a->reason;
    o[125] = o[126] = o[127] = 0;
    tr_be64_put(o + 128, a->wall_time);
}

int store_anchor_encode(const struct store_anchor *a, uint8_t out[STORE_ANCHOR_LEN])
{
    anchor_body(a, out);
    return enc_mac(ENC_MAC_ANCHOR, out, STORE_ANCHOR_BODY, out + STORE_ANCHOR_BODY);
}

int store_anchor_decode(const uint8_t *p, size_t len, struct store_anchor *out)
{
    struct store_anchor a;
    int rc;

    if (len != STORE_ANCHOR_LEN || memcmp(p, anchor_magic, 8) != 0 || p[125] || p[126] || p[127])
        return TR_E_AUTH;
    if ((rc = enc_mac_verify(ENC_MAC_ANCHOR, p, STORE_ANCHOR_BODY, p + STORE_ANCHOR_BODY)) != TR_OK)
        return rc;
    memset(&a, 0, sizeof(a));
    memcpy(a.db_uuid, p + 8, STORE_UUID_BYTES);
    a.counter = tr_be64_get(p + 24);
    a.seq = tr_be64_get(p + 32);
    a.epoch = tr_be64_get(p + 40);
    a.count = tr_be64_get(p + 48);
    memcpy(a.digest, p + 56, STORE_HASH_BYTES);
    memcpy(a.prev_hash, p + 88, STORE_HASH_BYTES);
    a.key_id = tr_be32_get(p + 120);
    a.reason = p[124];
    a.wall_time = tr_be64_get(p + 128);
    *out = a;
    return TR_OK;
}

void store_anchor_next(const struct store_anchor *a, const uint8_t a_raw[STORE_ANCHOR_LEN],
                       uint8_t reason, struct store_anchor *out)
{
    *out = *a;
    out->counter = a->counter + 1;
    out->reason = reason;
    out->wall_time = (uint64_t)time(NULL);
    crypto_generichash(out->prev_hash, STORE_HASH_BYTES, a_raw, STORE_ANCHOR_LEN, NULL, 0);
}
