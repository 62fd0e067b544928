/*
 * fuzz_counter_file - the file counter's state (enclave/counter_file.c: data_dir/counter.state,
 * two MAC'd slots), which root on the host can rewrite, read through the provider's own
 * open/read/increment with a known auth key.
 * Input: byte 0 picks raw mode (the rest is the file as is) or built mode (two slots described by
 * the input, MAC'd here with the right key or not, then one optional bit flip or cut).
 * Invariants: raw bytes never open (nobody without the key forges a slot); in built mode the
 * provider agrees with a reference reader written here from the format comment: a slot counts
 * when its magic and MAC are right, both good slots must carry the same id, the value is the
 * larger one, and the id must be the one pinned at init; an increment then returns value + 1 and
 * a fresh read sees it.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "../enclave/provider_int.h"
#include "util.h"

#define CF_MAGIC "TRCNT1\0\0"
#define CF_ID    16
#define CF_BODY  (8 + CF_ID + 8)
#define CF_SLOT  (CF_BODY + 32)
#define CF_FILE  (2 * CF_SLOT)

static const uint8_t auth[ENC_KEY_BYTES] = "fuzz counter auth key 0123456789";
static const uint8_t our_id[CF_ID] = "our counter id!";
static const uint8_t other_id[CF_ID] = "another counter";
static struct enc_config cfg;
static char path[ENC_PATH_MAX + 32];

static void slot_mac(const uint8_t *body, uint8_t mac[32])
{
    crypto_generichash(mac, 32, body, CF_BODY, auth, sizeof(auth));
}

/* The reference reader: 1 with the value and id of a usable file, 0 otherwise. */
static int ref_read(const uint8_t *f, size_t len, uint64_t *val, uint8_t id[CF_ID])
{
    int found = 0;

    if (len != CF_FILE)
        return 0;
    for (int i = 0; i < 2; i++) {
        const uint8_t *s = f + i * CF_SLOT;
        uint8_t mac[32];
        slot_mac(s, mac);
        /* sodium_memcmp: libFuzzer does not see it, so it cannot learn MACs for raw mode */
        if (memcmp(s, CF_MAGIC, 8) != 0 || sodium_memcmp(mac, s + CF_BODY, 32) != 0)
            continue;
        uint64_t v = tr_be64_get(s + 8 + CF_ID);
        if (found && memcmp(id, s + 8, CF_ID) != 0)
            return 0;
        if (!found || v > *val)
            *val = v;
        memcpy(id, s + 8, CF_ID);
        found = 1;
    }
    return found;
}

static size_t build(struct fuzz_in *in, uint8_t f[CF_FILE + 8])
{
    uint8_t flags[2];
    size_t len = CF_FILE;

    flags[0] = fuzz_u8(in);
    flags[1] = fuzz_u8(in);

    for (int i = 0; i < 2; i++) {
        uint8_t *s = f + i * CF_SLOT;
        memcpy(s, (flags[i] & 1) ? "TRCNT2\0\0" : CF_MAGIC, 8);
        memcpy(s + 8, (flags[i] & 2) ? other_id : our_id, CF_ID);
        uint64_t v = fuzz_u64(in);
        if (flags[i] & 4) /* near the top, where an increment must stop */
            v = UINT64_MAX - (v & 3);
        tr_be64_put(s + 8 + CF_ID, v);
        slot_mac(s, s + CF_BODY);
        if (flags[i] & 8)
            s[CF_BODY + (flags[i] >> 4) % 32] ^= 1; /* a MAC that no longer matches */
    }
    uint8_t edit = fuzz_u8(in);
    uint32_t pos = fuzz_u32(in) % CF_FILE;
    if (edit % 4 == 1)
        f[pos] ^= (uint8_t)(1u << (edit / 4 % 8));
    else if (edit % 4 == 2)
        len = pos;
    else if (edit % 4 == 3)
        len = CF_FILE + 1 + edit % 8; /* trailing junk */
    return len;
}

static void check_built(struct fuzz_in *in)
{
    uint8_t f[CF_FILE + 8] = {0}, ref_id[CF_ID];
    uint64_t want = 0, got = 0, next = 0;
    void *st = NULL;
    size_t len = build(in, f);
    bool ok = ref_read(f, len, &want, ref_id) && memcmp(ref_id, our_id, CF_ID) == 0;

    fuzz_write_file(path, f, len);
    int rc = enc_counter_file.open(&cfg, auth, our_id, CF_ID, &st);
    FUZZ_CHECK((rc == TR_OK) == ok);
    if (rc != TR_OK) {
        FUZZ_CHECK(rc == TR_E_COUNTER && st == NULL);
        return;
    }
    FUZZ_CHECK(enc_counter_file.read(st, &got) == TR_OK && got == want);
    rc = enc_counter_file.increment(st, &next);
    if (want == UINT64_MAX) {
        FUZZ_CHECK(rc == TR_E_COUNTER);
    } else {
        FUZZ_CHECK(rc == TR_OK && next == want + 1);
        FUZZ_CHECK(enc_counter_file.read(st, &got) == TR_OK && got == want + 1);
    }
    enc_counter_file.close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    void *st = NULL;

    if (size > 4096)
        return 0;
    if (!cfg.data_dir[0]) {
        fuzz_init();
        snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", fuzz_scratch());
        snprintf(path, sizeof(path), "%s/counter.state", cfg.data_dir);
    }
    if (fuzz_u8(&in) & 1) {
        check_built(&in);
        return 0;
    }
    fuzz_write_file(path, in.p, in.left);
    FUZZ_CHECK(enc_counter_file.open(&cfg, auth, our_id, CF_ID, &st) == TR_E_COUNTER);
    FUZZ_CHECK(st == NULL);
    return 0;
}
