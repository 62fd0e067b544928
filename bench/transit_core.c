/* Cost of the transit entry points inside the core, without HTTP (issue #7): microseconds per
 * call on one thread, next to the record open a KV read does per record and to one guarded
 * allocation. Built and run by bench/transit_core.sh; not part of the test suites. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../enclave/enclave.h"

#define BLOB ENC_TRANSIT_BLOB_BYTES

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void report(const char *name, double t0, int n)
{
    printf("  %-28s %8.2f us/call\n", name, (now_us() - t0) / n);
}

static int op(enum enc_transit_opcode code, const uint8_t *key, const uint8_t *in, size_t in_len,
              uint8_t *out, size_t cap, size_t *out_len, struct enc_secret **sec)
{
    struct enc_transit_req r = {
        .op = code, .key = key, .key_len = BLOB, .in = in, .in_len = in_len};
    return enc_transit_op(&r, out, cap, out_len, sec);
}

static void bench_aead(const uint8_t *key, size_t n, int iters)
{
    static uint8_t pt[4096], ct[4096 + ENC_TRANSIT_OVERHEAD];
    struct enc_secret *s = NULL;
    size_t len = 0;
    char name[64];
    double t0 = now_us();

    for (int i = 0; i < iters; i++)
        if (op(ENC_TRANSIT_ENCRYPT, key, pt, n, ct, sizeof(ct), &len, NULL) != TR_OK)
            exit(1);
    snprintf(name, sizeof(name), "encrypt %zu B", n);
    report(name, t0, iters);
    t0 = now_us();
    for (int i = 0; i < iters; i++) {
        if (op(ENC_TRANSIT_DECRYPT, key, ct, len, NULL, 0, &(size_t){0}, &s) != TR_OK)
            exit(1);
        enc_secret_free(s);
    }
    snprintf(name, sizeof(name), "decrypt %zu B", n);
    report(name, t0, iters);
}

static void bench_sign(const char *name, enum enc_transit_type t, int iters)
{
    uint8_t key[BLOB], sig[ENC_TRANSIT_SMALL_OUT];
    size_t len = 0;

    if (enc_transit_keygen(t, 0, key) != TR_OK)
        exit(1);
    double t0 = now_us();
    for (int i = 0; i < iters; i++)
        if (op(ENC_TRANSIT_SIGN, key, (const uint8_t *)"message", 7, sig, sizeof(sig), &len,
               NULL) != TR_OK)
            exit(1);
    report(name, t0, iters);
}

static void bench_baselines(int iters)
{
    uint8_t rec[64 + ENC_RECORD_OVERHEAD], pt[64] = {0};
    size_t len = 0;
    struct enc_secret *s = NULL;

    if (enc_record_seal((const uint8_t *)"ad", 2, pt, sizeof(pt), rec, sizeof(rec), &len))
        exit(1);
    double t0 = now_us();
    for (int i = 0; i < iters; i++) {
        if (enc_record_open((const uint8_t *)"ad", 2, rec, len, &s) != TR_OK)
            exit(1);
        enc_secret_free(s);
    }
    report("record open 64 B (KV read)", t0, iters);
    t0 = now_us();
    for (int i = 0; i < iters; i++) {
        if (enc_secret_alloc(64, &s) != TR_OK)
            exit(1);
        enc_secret_free(s);
    }
    report("guarded alloc+free 64 B", t0, iters);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/tresor-bench-core-XXXXXX";
    struct enc_config cfg = {
        .seal_type = ENC_SEAL_DEVKEY, .counter_type = ENC_COUNTER_FILE, .dev_mode = true};
    struct enc_shares shares;
    uint8_t aes[BLOB], hm[BLOB], mac[ENC_TRANSIT_SMALL_OUT];
    int iters = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 20000;
    size_t len = 0;

    if (!mkdtemp(dir))
        return 1;
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    snprintf(cfg.devkey_file, sizeof(cfg.devkey_file), "%s/dev.key", dir);
    if (enc_init(&cfg) != TR_OK || enc_initialize(1, 1, &shares) != TR_OK ||
        enc_unseal_auto() != TR_OK || enc_transit_keygen(ENC_TRANSIT_KEY_AES256_GCM96, 0, aes) ||
        enc_transit_keygen(ENC_TRANSIT_KEY_HMAC, 0, hm))
        return 1;
    printf("transit core, one thread, %d calls each:\n", iters);
    bench_baselines(iters);
    bench_aead(aes, 64, iters);
    bench_aead(aes, 4096, iters);
    double t0 = now_us();
    for (int i = 0; i < iters; i++)
        if (op(ENC_TRANSIT_HMAC, hm, (const uint8_t *)"message", 7, mac, sizeof(mac), &len, NULL) !=
            TR_OK)
            return 1;
    report("hmac sha2-256", t0, iters);
    bench_sign("sign ed25519", ENC_TRANSIT_KEY_ED25519, iters / 4);
    bench_sign("sign ecdsa-p256", ENC_TRANSIT_KEY_ECDSA_P256, iters / 20);
    enc_fini();
    sodium_memzero(&shares, sizeof(shares));
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
