/*
 * fuzz_storage - the storage engine's on-disk formats as read back from the data directory,
 * which root on the host can rewrite: the 12-byte record header (store_hdr_parse), the anchor
 * (store_anchor_decode) and the sealed record the header precedes (enc_record_open with the
 * associated data store_ad_build binds). Runs against a real trusted core (devkey seal, file
 * counter) in a scratch directory.
 * Input, used three ways: raw header/anchor/record bytes; the fields of an anchor; the table,
 * key, version and plaintext of a record, and where to tamper with each.
 * Invariants: a header or anchor that parses re-encodes to the same bytes; a real anchor decodes
 * to its fields, and any bit flipped or byte cut makes it TR_E_AUTH; a real record opens to its
 * plaintext, and any bit flipped (header included: the version is bound as associated data), or
 * the wrong table, key or version, makes it TR_E_AUTH with no output; raw bytes never open.
 */
#include <stdlib.h>
#include <string.h>

#include "../storage/store_int.h"
#include "util.h"

static uint8_t uuid[STORE_UUID_BYTES] = "fuzz-store-uuid";

static void check_raw(const uint8_t *data, size_t size)
{
    uint8_t hdr[STORE_REC_HDR], raw[STORE_ANCHOR_LEN];
    struct store_anchor a;
    struct enc_secret *pt = (struct enc_secret *)1;
    uint64_t v = 0;

    if (store_hdr_parse(data, size, &v) == TR_OK) {
        FUZZ_CHECK(v != 0 && v != STORE_VERSION_ANY);
        store_hdr_put(hdr, v, 0);
        FUZZ_CHECK(memcmp(hdr, data, STORE_REC_HDR) == 0);
    }
    if (store_anchor_decode(data, size, &a) == TR_OK) {
        FUZZ_CHECK(size == STORE_ANCHOR_LEN);
        FUZZ_CHECK(store_anchor_encode(&a, raw) == TR_OK);
        FUZZ_CHECK(memcmp(raw, data, STORE_ANCHOR_LEN) == 0);
    }
    /* Without the key nothing opens, whatever the bytes claim. */
    int rc = enc_record_open(uuid, sizeof(uuid), data, size, &pt);
    FUZZ_CHECK(rc == TR_E_AUTH || rc == TR_E_INVAL);
    FUZZ_CHECK(pt == NULL);
}

static void check_anchor(struct fuzz_in *in)
{
    struct store_anchor a, b;
    uint8_t raw[STORE_ANCHOR_LEN], again[STORE_ANCHOR_LEN];
    const uint8_t *p;
    size_t n;

    memset(&a, 0, sizeof(a));
    memcpy(a.db_uuid, uuid, sizeof(uuid));
    a.counter = fuzz_u64(in);
    a.seq = fuzz_u64(in);
    a.epoch = fuzz_u64(in);
    a.count = fuzz_u64(in);
    n = fuzz_span(in, STORE_HASH_BYTES, &p);
    memcpy(a.digest, p, n);
    n = fuzz_span(in, STORE_HASH_BYTES, &p);
    memcpy(a.prev_hash, p, n);
    a.key_id = fuzz_u32(in);
    a.reason = fuzz_u8(in);
    a.wall_time = fuzz_u64(in);
    FUZZ_CHECK(store_anchor_encode(&a, raw) == TR_OK);
    FUZZ_CHECK(store_anchor_decode(raw, sizeof(raw), &b) == TR_OK);
    FUZZ_CHECK(b.counter == a.counter && b.seq == a.seq && b.key_id == a.key_id);
    FUZZ_CHECK(store_anchor_encode(&b, again) == TR_OK); /* every field came back */
    FUZZ_CHECK(memcmp(raw, again, sizeof(raw)) == 0);

    uint32_t pos = fuzz_u32(in) % STORE_ANCHOR_LEN;
    uint8_t mask = (uint8_t)(1u << (fuzz_u8(in) % 8));
    raw[pos] ^= mask;
    FUZZ_CHECK(store_anchor_decode(raw, sizeof(raw), &b) == TR_E_AUTH);
    raw[pos] ^= mask;
    FUZZ_CHECK(store_anchor_decode(raw, pos, &b) == TR_E_AUTH);
}

static int open_rec(const char *table, const uint8_t *key, size_t kl, uint64_t version,
                    const uint8_t *stored, size_t len, struct enc_secret **out)
{
    uint8_t ad[STORE_AD_MAX];
    size_t adl;

    *out = NULL;
    if (store_ad_build(uuid, table, key, kl, version, 0, ad, &adl) != TR_OK)
        return TR_E_INVAL;
    return enc_record_open(ad, adl, stored + STORE_REC_HDR, len - STORE_REC_HDR, out);
}

static void expect_auth(const char *table, const uint8_t *key, size_t kl, uint64_t version,
                        const uint8_t *stored, size_t len)
{
    struct enc_secret *s = NULL;

    FUZZ_CHECK(open_rec(table, key, kl, version, stored, len, &s) == TR_E_AUTH);
    FUZZ_CHECK(s == NULL);
}

static void check_record(struct fuzz_in *in)
{
    char table[STORE_TABLE_NAME_MAX + 1] = "kv";
    uint8_t ad[STORE_AD_MAX], *stored = NULL;
    const uint8_t *key, *pt, *tn;
    struct enc_secret *out = NULL;
    size_t adl, len, tl = fuzz_lspan(in, STORE_TABLE_NAME_MAX, &tn);
    uint64_t version = fuzz_u64(in), got = 0;
    size_t kl = fuzz_lspan(in, STORE_KEY_MAX, &key);
    size_t pl = fuzz_lspan(in, 4096, &pt);

    if (tl && !memchr(tn, 0, tl)) {
        memcpy(table, tn, tl);
        table[tl] = '\0';
    }
    if (version == 0 || version == STORE_VERSION_ANY || kl == 0)
        return;
    FUZZ_CHECK(store_ad_build(uuid, table, key, kl, version, 0, ad, &adl) == TR_OK);
    len = STORE_REC_HDR + pl + ENC_RECORD_OVERHEAD;
    FUZZ_CHECK((stored = malloc(len)) != NULL);
    store_hdr_put(stored, version, 0);
    size_t rl = 0;
    FUZZ_CHECK(enc_record_seal(ad, adl, pt, pl, stored + STORE_REC_HDR, len - STORE_REC_HDR, &rl) ==
               TR_OK);
    FUZZ_CHECK(rl == len - STORE_REC_HDR);

    /* The read path: version from the header, then open with the AD it implies. */
    FUZZ_CHECK(store_hdr_parse(stored, len, &got) == TR_OK && got == version);
    FUZZ_CHECK(open_rec(table, key, kl, got, stored, len, &out) == TR_OK);
    FUZZ_CHECK(enc_secret_len(out) == pl && (pl == 0 || !memcmp(enc_secret_data(out), pt, pl)));
    enc_secret_free(out);

    expect_auth(table, key, kl, version + 1, stored, len);
    expect_auth(table, key, kl - 1 ? kl - 1 : kl, version - (kl == 1), stored, len);
    expect_auth(strcmp(table, "kv") ? "kv" : "kw", key, kl, version, stored, len);

    uint32_t pos = fuzz_u32(in) % len;
    uint8_t mask = (uint8_t)(1u << (fuzz_u8(in) % 8));
    stored[pos] ^= mask;
    if (pos < STORE_REC_HDR) {
        if (store_hdr_parse(stored, len, &got) == TR_OK)
            expect_auth(table, key, kl, got, stored, len); /* a forged version never opens */
    } else {
        expect_auth(table, key, kl, version, stored, len);
    }
    free(stored);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool up;
    struct fuzz_in in = {data, size};

    if (size > 64u * 1024)
        return 0;
    if (!up) {
        fuzz_core_up(ENC_SEAL_DEVKEY, 1, 1, NULL);
        up = true;
    }
    check_raw(data, size);
    check_anchor(&in);
    in = (struct fuzz_in){data, size};
    check_record(&in);
    return 0;
}
