/*
 * The `file` counter: two MAC'd slots in data_dir/counter.state; an increment overwrites the
 * older slot in place (pwrite + fdatasync), so it needs no new disk space (a full disk must not
 * stop the counter after the store's commit took the last blocks) and a torn write leaves the
 * other slot valid. For dev and tests only. It stops casual edits and a swapped-in counter file from
 * another install (the id is pinned in seal.blob), but NOT a host attacker who restores an old
 * copy of the data directory together with this file: only a platform counter (tpm2) does.
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/tr_log.h"
#include "provider_int.h"

#define CF_MAGIC     "TRCNT1\0\0"
#define CF_ID_BYTES  16
#define CF_BODY      (8 + CF_ID_BYTES + 8)
#define CF_SLOT      (CF_BODY + 32)
#define CF_FILE_SIZE (2 * CF_SLOT)

struct cf_state {
    char path[ENC_PATH_MAX + 32];
    uint8_t *auth; /* guarded copy of the auth key */
    uint8_t id[CF_ID_BYTES];
};

static void cf_path(const struct enc_config *cfg, char *out, size_t cap)
{
    snprintf(out, cap, "%s/counter.state", cfg->data_dir);
}

static void cf_slot(const uint8_t *auth, const uint8_t id[CF_ID_BYTES], uint64_t value,
                    uint8_t out[CF_SLOT])
{
    memcpy(out, CF_MAGIC, 8);
    memcpy(out + 8, id, CF_ID_BYTES);
    tr_be64_put(out + 8 + CF_ID_BYTES, value);
    crypto_generichash(out + CF_BODY, 32, out, CF_BODY, auth, ENC_KEY_BYTES);
}

/* Both slots at define time (the only write that allocates space). */
static int cf_create(const char *path, const uint8_t *auth, const uint8_t id[CF_ID_BYTES])
{
    uint8_t f[CF_FILE_SIZE];

    cf_slot(auth, id, 0, f);
    cf_slot(auth, id, 0, f + CF_SLOT);
    return enc_file_write_atomic(path, f, sizeof(f));
}

/* value v lives in slot v % 2, so an increment always overwrites the older slot */
static int cf_write(const char *path, const uint8_t *auth, const uint8_t id[CF_ID_BYTES],
                    uint64_t value)
{
    uint8_t slot[CF_SLOT];
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    int rc = TR_E_IO;

    if (fd < 0)
        return TR_E_IO;
    cf_slot(auth, id, value, slot);
    if (pwrite(fd, slot, sizeof(slot), (off_t)((value % 2) * CF_SLOT)) == (ssize_t)sizeof(slot) &&
        fdatasync(fd) == 0)
        rc = TR_OK;
    close(fd);
    return rc;
}

static bool cf_slot_ok(const uint8_t *p, const uint8_t *auth)
{
    uint8_t mac[32];

    if (memcmp(p, CF_MAGIC, 8) != 0)
        return false;
    crypto_generichash(mac, sizeof(mac), p, CF_BODY, auth, ENC_KEY_BYTES);
    return sodium_memcmp(mac, p + CF_BODY, sizeof(mac)) == 0;
}

static int cf_read(const char *path, const uint8_t *auth, uint8_t id[CF_ID_BYTES], uint64_t *val)
{
    struct tr_buf b = TR_BUF_INIT;
    bool found = false;
    int rc = enc_file_read(path, CF_FILE_SIZE, &b);

    if (rc != TR_OK || b.len != CF_FILE_SIZE) {
        rc = TR_E_COUNTER;
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        const uint8_t *p = b.data + i * CF_SLOT;
        uint64_t v = tr_be64_get(p + 8 + CF_ID_BYTES);
        if (!cf_slot_ok(p, auth))
            continue; /* a torn slot: the other one holds the last durable value */
        if (found && memcmp(id, p + 8, CF_ID_BYTES) != 0) {
            found = false; /* two slots of different counters: not ours */
            break;
        }
        if (!found || v > *val)
            *val = v;
        memcpy(id, p + 8, CF_ID_BYTES);
        found = true;
    }
    rc = found ? TR_OK : TR_E_COUNTER;
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
    int rc = cf_create(path, auth, id);
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

/* The file's id is in clear in both slots; only a file that still carries id is removed. */
static void cf_undefine(const struct enc_config *cfg, const uint8_t *id, size_t id_len)
{
    char path[ENC_PATH_MAX + 32];
    struct tr_buf b = TR_BUF_INIT;

    cf_path(cfg, path, sizeof(path));
    if (id_len == CF_ID_BYTES && enc_file_read(path, CF_FILE_SIZE, &b) == TR_OK &&
        b.len == CF_FILE_SIZE && memcmp(b.data + 8, id, CF_ID_BYTES) == 0 && unlink(path) != 0)
        tr_log_warn("cannot remove %s", path);
    tr_buf_free(&b);
}

const struct enc_counter_ops enc_counter_file = {
    .name = "file",
    .define = cf_define,
    .open = cf_open,
    .read = cf_get,
    .increment = cf_increment,
    .close = cf_close,
    .undefine = cf_undefine,
};
