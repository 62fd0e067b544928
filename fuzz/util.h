/*
 * util - what the libFuzzer harnesses in fuzz/ share: a way to fail loudly on a broken
 * invariant, a reader that carves structured values out of the fuzzer's bytes, scratch files
 * and directories, and a trusted core brought up in a private directory.
 *
 * Harnesses are single-threaded processes that libFuzzer drives; nothing here is thread-safe.
 * Scratch space lives under one directory per process (in /dev/shm when it exists), removed at
 * exit. Never used by the daemon: fuzz/ is linked only into the harness binaries.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../enclave/enclave.h"

/* FUZZ_CHECK - report a broken invariant: abort() is how a harness tells libFuzzer it found a
 * bug (the input is saved as crash-<sha1>). Never used for ordinary bad input. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(#cond, __FILE__, __LINE__);                                                  \
    } while (0)

__attribute__((noreturn)) void fuzz_fail(const char *what, const char *file, int line);

/* A cursor over the fuzzer's input; reads past the end yield zeros / empty spans. */
struct fuzz_in {
    const uint8_t *p;
    size_t left;
};

uint8_t fuzz_u8(struct fuzz_in *in);
uint32_t fuzz_u32(struct fuzz_in *in);
uint64_t fuzz_u64(struct fuzz_in *in);
/* fuzz_span - borrow up to n bytes (fewer at the end of the input); returns how many. */
size_t fuzz_span(struct fuzz_in *in, size_t n, const uint8_t **out);
/* fuzz_lspan - a span whose length (0..max) comes from the next byte(s) of the input. */
size_t fuzz_lspan(struct fuzz_in *in, size_t max, const uint8_t **out);

/* A growable NUL-terminated string for what a harness builds (requests, answers, YAML); never a
 * secret. Starts zeroed; free(s.p) when done. */
struct fuzz_str {
    char *p;
    size_t len, cap;
};

/* fuzz_str_add - append n bytes of p (keeps p[len] == '\0'). Aborts when out of memory. */
void fuzz_str_add(struct fuzz_str *s, const void *p, size_t n);

/* fuzz_init - once per process: silence tr_log and make the scratch directory. */
void fuzz_init(void);
/* fuzz_scratch - the per-process scratch directory (valid for the process lifetime). */
const char *fuzz_scratch(void);
/* fuzz_memfile - replace the contents of an in-memory file and return a path that opens it
 * ("/proc/self/fd/N"; static, valid until the next call). Exits on a system failure. */
const char *fuzz_memfile(const void *data, size_t len);
/* fuzz_write_file - write len bytes to path (created 0600, truncated). Exits on failure. */
void fuzz_write_file(const char *path, const void *data, size_t len);

/* fuzz_core_up - enc_init in a fresh directory under the scratch space with the given seal
 * (shamir or devkey) and the file counter, then enc_initialize(n, t). devkey is unsealed
 * afterwards; shamir stays sealed. *shares (guarded memory, may be NULL) receives the shares.
 * Exits on any failure: a harness cannot run without its core. */
void fuzz_core_up(enum enc_seal_type seal, uint32_t n, uint32_t t, struct enc_shares **shares);

#endif
