#include "util.h"

#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/tr_log.h"

static char scratch[128];
static int memfd = -1;

static void scratch_remove(void);

void fuzz_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "INVARIANT FAILED: %s (%s:%d)\n", what, file, line);
    scratch_remove(); /* abort skips atexit */
    abort();          /* libFuzzer records the input that got here */
}

uint8_t fuzz_u8(struct fuzz_in *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v = (v << 8) | fuzz_u8(in);
    return v;
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
    uint64_t hi = fuzz_u32(in); /* two statements: the order of reads is part of the format */

    return hi << 32 | fuzz_u32(in);
}

size_t fuzz_span(struct fuzz_in *in, size_t n, const uint8_t **out)
{
    if (n > in->left)
        n = in->left;
    *out = in->p;
    in->p += n;
    in->left -= n;
    return n;
}

size_t fuzz_lspan(struct fuzz_in *in, size_t max, const uint8_t **out)
{
    size_t n = fuzz_u8(in);

    if (max > 255)
        n = n << 8 | fuzz_u8(in);
    return fuzz_span(in, max ? n % (max + 1) : 0, out);
}

static void quiet(void *arg, enum tr_log_level level, const char *line)
{
    (void)arg;
    (void)level;
    (void)line;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void scratch_remove(void)
{
    if (scratch[0])
        nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void fuzz_init(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    if (scratch[0])
        return;
    tr_log_set_sink(quiet, NULL);
    snprintf(scratch, sizeof(scratch), "%s/tresor-fuzz-XXXXXX", base);
    if (!mkdtemp(scratch)) {
        perror("fuzz: mkdtemp");
        exit(2);
    }
    atexit(scratch_remove);
    if (sodium_init() < 0)
        exit(2);
}

const char *fuzz_scratch(void)
{
    return scratch;
}

const char *fuzz_memfile(const void *data, size_t len)
{
    static char path[64];

    if (memfd < 0 && (memfd = memfd_create("fuzz-input", MFD_CLOEXEC)) < 0) {
        perror("fuzz: memfd_create");
        exit(2);
    }
    if (ftruncate(memfd, 0) != 0 || (len && pwrite(memfd, data, len, 0) != (ssize_t)len)) {
        perror("fuzz: memfd write");
        exit(2);
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
    return path;
}

void fuzz_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror("fuzz: write");
        exit(2);
    }
}

void fuzz_core_up(enum enc_seal_type seal, uint32_t n, uint32_t t, struct enc_shares **shares)
{
    struct enc_config cfg;
    struct enc_shares *sh;

    fuzz_init(); /* sodium_init first: sodium_malloc needs it */
    sh = sodium_malloc(sizeof(*sh));
    memset(&cfg, 0, sizeof(cfg));
    cfg.seal_type = seal;
    cfg.counter_type = ENC_COUNTER_FILE;
    cfg.dev_mode = true;
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/core", scratch);
    snprintf(cfg.devkey_file, sizeof(cfg.devkey_file), "%s/core/dev.key", scratch);
    if (!sh || mkdir(cfg.data_dir, 0700) != 0 || enc_init(&cfg) != TR_OK ||
        enc_initialize(n, t, sh) != TR_OK ||
        (seal == ENC_SEAL_DEVKEY && enc_unseal_auto() != TR_OK)) {
        fprintf(stderr, "fuzz: cannot bring the trusted core up in %s\n", cfg.data_dir);
        exit(2);
    }
    if (shares)
        *shares = sh;
    else
        sodium_free(sh);
}

void fuzz_str_add(struct fuzz_str *s, const void *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *q = realloc(s->p, cap);
        FUZZ_CHECK(q != NULL);
        s->p = q;
        s->cap = cap;
    }
    if (n)
        memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}
