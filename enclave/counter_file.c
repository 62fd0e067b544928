/*
 * The `file` counter: a MAC'd value in data_dir/counter.state, rewritten atomically on each
 * increment. For dev and tests only. It stops casual edits and a swapped-in counter file from
 * another install (the id is pinned in seal.blob), but NOT a host attacker who restores an old
 * copy of the data directory together with this file: only a platform counter (tpm2) does.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_log.h"
#include "provider_int.h"

#define CF_MAGIC     "TRCNT1\0\0"
#define CF_ID_BYTES  16
#define CF_BODY      (8 + CF_ID_BYTES + 8)
#define CF_FILE_SIZE (CF_BODY + 32)

struct cf_state {
    char path[ENC_PATH_MAX + 32];
    uint8_t *auth; /* guarded copy of the auth key */
    uint8_t id[CF_ID_BYTES];
};

static void cf_path(const struct enc_config *cfg, char *out, size_t cap)
{
    snprintf(out, cap, "%s/counter.state", cfg->data_dir);
}

static int cf_write(const char *path, const uint8_t *auth, const uint8_t id[CF_ID_BYTES],
                    uint64_t value)
{
    uint8_t f[CF_FILE_SIZE];

    memcpy(f, CF_MAGIC, 8);
    memcpy(f + 8, id, CF_ID_BYTES);
    tr_be64_put(f + 8 + CF_ID_BYTES, value);
    crypto_generichash(f + CF_BODY, 32, f, CF_BODY, auth, ENC_KEY_BYTES);
    return enc_file_write_atomic(path, f, sizeof(f));
}

static int cf_read(const char *path, const uint8_t *auth, uint8_t id[CF_ID_BYTES], uint64_t *val)
{
    struct tr_buf b = TR_BUF_INIT;
    uint8_t mac[32];
    int rc = enc_file_read(path, CF_FILE_SIZE, &b);

    if (rc != TR_OK || b.len != CF_FILE_SIZE || memcmp(b.data, CF_MAGIC, 8) != 0) {
        rc = TR_E_COUNTER;
        goto out;
    }
    crypto_generichash(mac, sizeof(mac), b.data, CF_BODY, auth, ENC_KEY_BYTES);
    if (sodium_memcmp(mac, b.data + CF_BODY, sizeof(mac)) != 0) {
        rc = TR_E_COUNTER;
        goto out;
    }
    memcpy(id, b.data + 8, CF_ID_BYTES);
    *val = tr_be64_get(b.data + 8 + CF_ID_BYTES);
    rc = TR_OK;
out:
    tr_buf_free(&b);
    return rc;
}

static int cf_define(const struct enc_config *cfg, const uint8_t auth[ENC_KEY_BYTES],
                     struct tr_buf *out_id)
{
    char path[ENC_PATH_MAX + 32];
    uint8_t id[CF_ID_BYTES];

    cf_path(cfg, path, sizeof(path));
    randombytes_buf(id, sizeof(id));
    int rc = cf_write(path, auth, id, 0);
    if (rc != TR_OK)
        return TR_E_COUNTER;
    return tr_buf_put(out_id, id, sizeof(id));
}

static void cf_close(void *state)
{
    struct cf_state *st = state;
    if (!st)
        return;
    sodium_free(st->auth);
    free(st);
}

static int cf_open(const struct enc_config *cfg, const uint8_t auth[ENC_KEY_BYTES],
                   const uint8_t *id, size_t id_len, void **out_state)
{
    struct cf_state *st = calloc(1, sizeof(*st));
    uint8_t file_id[CF_ID_BYTES];
    uint64_t v;
    int rc = TR_E_NOMEM;

    *out_state = NULL;
    if (!st || !(st->auth = sodium_malloc(ENC_KEY_BYTES)))
        goto out;
    memcpy(st->auth, auth, ENC_KEY_BYTES);
    cf_path(cfg, st->path, sizeof(st->path));
    rc = TR_E_COUNTER;
    if (id_len != CF_ID_BYTES || cf_read(st->path, st->auth, file_id, &v) != TR_OK ||
        sodium_memcmp(file_id, id, CF_ID_BYTES) != 0) {
        tr_log_error("the file counter %s is missing, altered or not the one defined at init",
                     st->path);
        goto out;
    }
    memcpy(st->id, id, CF_ID_BYTES);
    *out_state = st;
    st = NULL;
    rc = TR_OK;
out:
    cf_close(st);
    return rc;
}

static int cf_get(void *state, uint64_t *out)
{
    struct cf_state *st = state;
    uint8_t id[CF_ID_BYTES];

    if (cf_read(st->path, st->auth, id, out) != TR_OK ||
        sodium_memcmp(id, st->id, CF_ID_BYTES) != 0)
        return TR_E_COUNTER;
    return TR_OK;
}

static int cf_increment(void *state, uint64_t *out)
{
    struct cf_state *st = state;
    uint64_t v;
    int rc;

    if ((rc = cf_get(st, &v)) != TR_OK)
        return rc;
    if (v == UINT64_MAX)
        return TR_E_COUNTER;
    if (cf_write(st->path, st->auth, st->id, v + 1) != TR_OK)
        return TR_E_COUNTER;
    *out = v + 1;
    return TR_OK;
}

const struct enc_counter_ops enc_counter_file = {"file", cf_define,    cf_open,
                                                 cf_get, cf_increment, cf_close};
