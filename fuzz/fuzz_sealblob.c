/*
 * fuzz_sealblob - the core's seal.blob (enclave/enclave.c: data_dir/seal.blob, decoded by
 * enc_init), which root on the host can rewrite: the seal type, t, n, the share length, the master
 * key wrapped by the unseal key, the platform seal's blob and the counter's identity.
 * Input: byte 0 picks raw mode (the rest is the file as is) or built mode (a genuine blob made
 * at startup by the real code for one of four cores, devkey or shamir, 1 or several shares, then
 * edited as the input says: bit flips, bytes or length fields overwritten, cuts, junk appended).
 * Invariants: the parser (enc_seal_info_parse) agrees with a reference reader written here from
 * the format: magic, a known type, 1 <= t <= n, t >= 2 once split, the share length that goes
 * with n, two u32-length-prefixed fields of at most 64 KiB each, nothing after them; a blob that
 * parses re-encodes to the same bytes and no shorter or longer copy of it parses; enc_init on the
 * same file gives TR_E_INVAL, TR_E_CONFIG (another seal type) or TR_OK with status matching the
 * fields, and a failed enc_init leaves the core UNINIT. After a successful init of a built blob,
 * the genuine key opens the core exactly when the bytes it depends on are the genuine ones
 * (devkey: the platform blob; shamir: type, t, n, share length and wrapped key), and the counter
 * opens exactly when the counter identity is the genuine one.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../enclave/core_int.h"
#include "../enclave/provider_int.h"
#include "util.h"

#define SB_MAGIC   "TRSEAL01"
#define SB_FIXED   (8 + 4 + ENC_WRAPPED_BYTES) /* magic, type t n share_len, wrapped key */
#define SB_LEN_MAX 65536                       /* each length-prefixed field */
#define SB_CAP     4096                        /* largest blob this harness builds */

struct ref {
    uint8_t type, t, n, share_len;
    size_t pb_off, pb_len, ci_off, ci_len;
};

struct variant {
    enum enc_seal_type seal;
    uint32_t n, t;
    struct enc_config cfg;
    char path[ENC_PATH_MAX + 32];
    struct tr_buf blob; /* the genuine seal.blob */
    struct ref ref;
    struct enc_shares *shares;
};

static struct variant vars[] = {
    {.seal = ENC_SEAL_DEVKEY, .n = 1, .t = 1},
    {.seal = ENC_SEAL_DEVKEY, .n = 3, .t = 2},
    {.seal = ENC_SEAL_SHAMIR, .n = 1, .t = 1},
    {.seal = ENC_SEAL_SHAMIR, .n = 5, .t = 3},
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))
static struct variant raw; /* raw mode: its own directory, no genuine blob */

/* The reference reader, from the format: true with the fields of a well-formed blob. */
static bool ref_parse(const uint8_t *p, size_t len, struct ref *r)
{
    size_t off = SB_FIXED;

    memset(r, 0, sizeof(*r));
    if (len < SB_FIXED || memcmp(p, SB_MAGIC, 8) != 0)
        return false;
    r->type = p[8];
    r->t = p[9];
    r->n = p[10];
    r->share_len = p[11];
    if (r->type > ENC_SEAL_GRAMINE || r->t < 1 || r->t > r->n || (r->n > 1 && r->t < 2) ||
        r->share_len != (r->n == 1 ? ENC_KEY_BYTES : ENC_SHARE_BYTES))
        return false;
    for (int i = 0; i < 2; i++) {
        if (len - off < 4)
            return false;
        size_t l = tr_be32_get(p + off);
        off += 4;
        if (l > SB_LEN_MAX || len - off < l)
            return false;
        *(i ? &r->ci_off : &r->pb_off) = off;
        *(i ? &r->ci_len : &r->pb_len) = l;
        off += l;
    }
    return off == len;
}

/* enc_seal_info_parse on an exact-size heap copy (so ASan sees any read past the end). */
static int parse_copy(const uint8_t *p, size_t len, struct tr_buf *canon)
{
    uint8_t *c = malloc(len ? len : 1);
    int rc;

    if (!c)
        exit(2);
    if (len)
        memcpy(c, p, len);
    rc = enc_seal_info_parse(c, len, canon);
    free(c);
    return rc;
}

/* The parser's verdict matches the reference; a parsed blob re-encodes to itself and no cut or
 * extended copy of it parses. Returns the verdict. */
static bool check_parse(const uint8_t *p, size_t len, struct ref *r)
{
    struct tr_buf canon = TR_BUF_INIT;
    bool want = ref_parse(p, len, r);
    int rc = parse_copy(p, len, &canon);

    FUZZ_CHECK(rc == TR_OK || rc == TR_E_INVAL);
    FUZZ_CHECK((rc == TR_OK) == want);
    if (rc != TR_OK) {
        FUZZ_CHECK(canon.len == 0);
        return false;
    }
    FUZZ_CHECK(canon.len == len && memcmp(canon.data, p, len) == 0);
    for (size_t cut = 0; cut < len; cut++) {
        canon.len = 0;
        FUZZ_CHECK(parse_copy(p, cut, &canon) == TR_E_INVAL && canon.len == 0);
    }
    uint8_t *longer = malloc(len + 1);
    if (!longer)
        exit(2);
    memcpy(longer, p, len);
    longer[len] = p[len - 1];
    FUZZ_CHECK(parse_copy(longer, len + 1, &canon) == TR_E_INVAL && canon.len == 0);
    free(longer);
    tr_buf_free(&canon);
    return true;
}

/* enc_init on the file as the daemon reads it: the verdict follows the reference and the seal
 * type configured; on success the status shows the blob's fields. Leaves the core up on TR_OK. */
static int check_init(const struct enc_config *cfg, const char *path, const uint8_t *p, size_t len,
                      bool ok, const struct ref *r)
{
    struct enc_status st;
    int rc;

    fuzz_write_file(path, p, len);
    rc = enc_init(cfg);
    enc_status_get(&st);
    if (!ok) {
        FUZZ_CHECK(rc == TR_E_INVAL);
    } else if (r->type != (uint8_t)cfg->seal_type) {
        FUZZ_CHECK(rc == TR_E_CONFIG);
    } else {
        FUZZ_CHECK(rc == TR_OK);
        FUZZ_CHECK(st.state == ENC_SEALED && st.initialized && st.seal_type == cfg->seal_type);
        FUZZ_CHECK(st.threshold == r->t && st.shares == r->n && st.progress == 0);
        FUZZ_CHECK(st.auto_unseal == (r->type != ENC_SEAL_SHAMIR));
        return rc;
    }
    FUZZ_CHECK(st.state == ENC_UNINIT);
    enc_fini();
    return rc;
}

static bool same_span(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    return al == bl && memcmp(a, b, al) == 0;
}

/* The core is up (SEALED) on an edited blob of v that parsed as r: open it with v's genuine key. */
static void check_unseal(struct variant *v, const uint8_t *p, const struct ref *r)
{
    const uint8_t *g = v->blob.data;
    struct enc_status st;
    uint64_t cnt;
    int rc = TR_OK;

    if (v->seal == ENC_SEAL_DEVKEY) {
        /* only the platform blob is used: AEAD under the dev key, no other copy opens */
        bool same = same_span(p + r->pb_off, r->pb_len, g + v->ref.pb_off, v->ref.pb_len);
        rc = enc_unseal_auto();
        FUZZ_CHECK((rc == TR_OK) == same);
        FUZZ_CHECK(rc == TR_OK || rc == TR_E_AUTH || rc == TR_E_INVAL);
    } else {
        /* the shares open the wrapped key only with the t, n and type bound to it */
        bool same = memcmp(p, g, SB_FIXED) == 0;
        uint32_t k = r->t < v->n ? r->t : v->n;
        for (uint32_t i = 0; i < k; i++) {
            rc = enc_unseal_submit(v->shares->share[i], v->shares->share_len, &st);
            FUZZ_CHECK(rc == TR_OK || (i + 1 == r->t && rc == TR_E_AUTH));
        }
        enc_status_get(&st);
        FUZZ_CHECK((st.state == ENC_UNSEALED) == same);
        rc = same ? TR_OK : TR_E_AUTH;
    }
    if (rc == TR_OK) {
        /* the counter opens only with the identity pinned at init */
        bool same = same_span(p + r->ci_off, r->ci_len, g + v->ref.ci_off, v->ref.ci_len);
        FUZZ_CHECK((enc_counter_read(&cnt) == TR_OK) == same);
    }
}

/* Edit a copy of v's genuine blob as the input says; returns the new length (<= SB_CAP). */
static size_t edit(struct variant *v, struct fuzz_in *in, uint8_t *b)
{
    size_t len = v->blob.len;
    uint32_t nedits = fuzz_u8(in) % 5;
    const uint8_t *s;

    memcpy(b, v->blob.data, len);
    for (uint32_t i = 0; i < nedits && len; i++) {
        uint8_t op = fuzz_u8(in);
        size_t pos = fuzz_u32(in) % len;
        switch (op % 6) {
        case 0: /* flip one bit */
            b[pos] ^= (uint8_t)(1u << (op / 8 % 8));
            break;
        case 1: /* set one of the small header fields */
            b[8 + op / 8 % 4] = fuzz_u8(in);
            break;
        case 2: /* overwrite a length field (platform blob or counter id) */
            tr_be32_put(b + (op & 8 ? v->ref.ci_off : v->ref.pb_off) - 4, fuzz_u32(in));
            break;
        case 3: /* cut */
            len = pos;
            break;
        case 4: { /* append junk */
            size_t n = fuzz_lspan(in, SB_CAP - len, &s);
            memcpy(b + len, s, n);
            len += n;
            break;
        }
        default: /* overwrite one byte */
            b[pos] = fuzz_u8(in);
            break;
        }
    }
    return len;
}

static void check_built(struct fuzz_in *in)
{
    struct variant *v = &vars[fuzz_u8(in) % NVARS];
    uint8_t pick = fuzz_u8(in);
    struct enc_config cfg = v->cfg;
    uint8_t *b = malloc(SB_CAP);
    struct ref r;

    if (!b)
        exit(2);
    /* mostly the variant's own seal type; sometimes another (a blob from another core) */
    if (pick % 4 == 0)
        cfg.seal_type = (enum enc_seal_type)(pick / 4 % 4);
    size_t len = edit(v, in, b);
    bool ok = check_parse(b, len, &r);
    if (check_init(&cfg, v->path, b, len, ok, &r) == TR_OK) {
        if (cfg.seal_type == v->seal)
            check_unseal(v, b, &r);
        enc_fini();
    }
    free(b);
}

static void check_raw(uint8_t pick, const uint8_t *p, size_t len)
{
    struct enc_config cfg = raw.cfg;
    struct ref r;
    bool ok = check_parse(p, len, &r);

    cfg.seal_type = (enum enc_seal_type)(pick % 4);
    if (check_init(&cfg, raw.path, p, len, ok, &r) == TR_OK)
        enc_fini();
}

static void dir_cfg(struct variant *v, const char *name, enum enc_seal_type seal)
{
    memset(&v->cfg, 0, sizeof(v->cfg));
    v->cfg.seal_type = seal;
    v->cfg.counter_type = ENC_COUNTER_FILE;
    v->cfg.dev_mode = true;
    snprintf(v->cfg.data_dir, sizeof(v->cfg.data_dir), "%s/%s", fuzz_scratch(), name);
    snprintf(v->cfg.devkey_file, sizeof(v->cfg.devkey_file), "%s/dev.key", v->cfg.data_dir);
    snprintf(v->cfg.gramine_key_path, sizeof(v->cfg.gramine_key_path), "%s/sgx.key",
             v->cfg.data_dir);
    snprintf(v->cfg.seal_tcti, sizeof(v->cfg.seal_tcti), "device:/nonexistent"); /* never used */
    snprintf(v->path, sizeof(v->path), "%s/seal.blob", v->cfg.data_dir);
    if (mkdir(v->cfg.data_dir, 0700) != 0) {
        perror("fuzz: mkdir");
        exit(2);
    }
}

/* Once per process: a genuine blob (and its shares) from each variant's real core. */
static void setup(void)
{
    char name[16];

    fuzz_init();
    dir_cfg(&raw, "raw", ENC_SEAL_SHAMIR);
    for (size_t i = 0; i < NVARS; i++) {
        struct variant *v = &vars[i];
        snprintf(name, sizeof(name), "v%zu", i);
        dir_cfg(v, name, v->seal);
        v->shares = sodium_malloc(sizeof(*v->shares));
        if (!v->shares || enc_init(&v->cfg) != TR_OK ||
            enc_initialize(v->n, v->t, v->shares) != TR_OK) {
            fprintf(stderr, "fuzz: cannot initialise a core in %s\n", v->cfg.data_dir);
            exit(2);
        }
        enc_fini();
        if (enc_file_read(v->path, SB_CAP, &v->blob) != TR_OK ||
            !ref_parse(v->blob.data, v->blob.len, &v->ref)) {
            fprintf(stderr, "fuzz: the genuine %s does not read as the format says\n", v->path);
            exit(2);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct fuzz_in in = {data, size};

    if (size > 8192)
        return 0;
    if (!ready) {
        setup();
        ready = true;
    }
    uint8_t mode = fuzz_u8(&in);
    if (mode & 1)
        check_built(&in);
    else
        check_raw(mode >> 1, in.p, in.left);
    return 0;
}
