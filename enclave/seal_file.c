/*
 * Platform seals backed by a key in a file: `devkey` (a random key file next to the data, for dev
 * and tests only: whoever reads the file reads the master key) and `gramine` (the SGX sealing key
 * that Gramine exposes as a pseudo-file; only the same enclave on the same CPU can read it).
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "../common/tr_log.h"
#include "provider_int.h"

#define GRAMINE_KEY_BYTES 16

int enc_wrap_key(const uint8_t wk[ENC_KEY_BYTES], const char *ad, const uint8_t key[ENC_KEY_BYTES],
                 uint8_t out[ENC_WRAPPED_BYTES])
{
    randombytes_buf(out, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, key, ENC_KEY_BYTES,
                                               (const uint8_t *)ad, strlen(ad), NULL, out, wk);
    return TR_OK;
}

int enc_unwrap_key(const uint8_t wk[ENC_KEY_BYTES], const char *ad, const uint8_t *blob, size_t len,
                   uint8_t out[ENC_KEY_BYTES])
{
    if (len != ENC_WRAPPED_BYTES) {
        sodium_memzero(out, ENC_KEY_BYTES);
        return TR_E_INVAL;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, NULL, NULL, blob + 24, len - 24, (const uint8_t *)ad, strlen(ad), blob, wk) != 0) {
        sodium_memzero(out, ENC_KEY_BYTES);
        return TR_E_AUTH;
    }
    return TR_OK;
}

/* The dev key file is created once, 0600, never overwritten: losing it loses the data. */
static int devkey_create(const char *path, uint8_t key[ENC_KEY_BYTES])
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = TR_E_IO;

    if (fd < 0) {
        tr_log_error("cannot create the dev key file %s: %s", path, strerror(errno));
        return TR_E_IO;
    }
    randombytes_buf(key, ENC_KEY_BYTES);
    if (write(fd, key, ENC_KEY_BYTES) == ENC_KEY_BYTES && fsync(fd) == 0)
        rc = TR_OK;
    close(fd);
    if (rc != TR_OK) {
        unlink(path);
        sodium_memzero(key, ENC_KEY_BYTES);
    }
    return rc;
}

static int file_key_seal(const uint8_t wk[ENC_KEY_BYTES], const char *ad,
                         const uint8_t mk[ENC_KEY_BYTES], struct tr_buf *out_blob)
{
    uint8_t blob[ENC_WRAPPED_BYTES];
    int rc = enc_wrap_key(wk, ad, mk, blob);
    if (rc == TR_OK)
        rc = tr_buf_put(out_blob, blob, sizeof(blob));
    return rc;
}

static int devkey_seal(const struct enc_config *cfg, const uint8_t mk[ENC_KEY_BYTES],
                       struct tr_buf *out_blob)
{
    uint8_t *wk = sodium_malloc(ENC_KEY_BYTES);
    int rc;

    if (!wk)
        return TR_E_NOMEM;
    rc = enc_file_read_key(cfg->devkey_file, wk, ENC_KEY_BYTES);
    if (rc == TR_E_NOTFOUND)
        rc = devkey_create(cfg->devkey_file, wk);
    if (rc == TR_OK)
        rc = file_key_seal(wk, "tresor-devkey-v1", mk, out_blob);
    sodium_free(wk);
    return rc;
}

static int devkey_unseal(const struct enc_config *cfg, const uint8_t *blob, size_t len,
                         uint8_t mk[ENC_KEY_BYTES])
{
    uint8_t *wk = sodium_malloc(ENC_KEY_BYTES);
    int rc;

    if (!wk)
        return TR_E_NOMEM;
    if ((rc = enc_file_read_key(cfg->devkey_file, wk, ENC_KEY_BYTES)) != TR_OK) {
        tr_log_error("cannot read the dev key file %s", cfg->devkey_file);
        rc = rc == TR_E_INVAL ? TR_E_AUTH : rc;
    } else {
        rc = enc_unwrap_key(wk, "tresor-devkey-v1", blob, len, mk);
    }
    sodium_free(wk);
    return rc;
}

/* The 16-byte SGX sealing key is stretched into a 32-byte wrapping key with a domain label. */
static int gramine_key(const struct enc_config *cfg, uint8_t wk[ENC_KEY_BYTES])
{
    uint8_t raw[GRAMINE_KEY_BYTES];
    static const uint8_t label[] = "tresor-gramine-seal-v1";
    int rc = enc_file_read_key(cfg->gramine_key_path, raw, sizeof(raw));

    if (rc != TR_OK) {
        tr_log_error("cannot read the SGX sealing key from %s", cfg->gramine_key_path);
        return rc == TR_E_NOTFOUND ? TR_E_IO : rc;
    }
    crypto_generichash(wk, ENC_KEY_BYTES, label, sizeof(label) - 1, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    return TR_OK;
}

static int gramine_seal(const struct enc_config *cfg, const uint8_t mk[ENC_KEY_BYTES],
                        struct tr_buf *out_blob)
{
    uint8_t *wk = sodium_malloc(ENC_KEY_BYTES);
    int rc;

    if (!wk)
        return TR_E_NOMEM;
    if ((rc = gramine_key(cfg, wk)) == TR_OK)
        rc = file_key_seal(wk, "tresor-gramine-v1", mk, out_blob);
    sodium_free(wk);
    return rc;
}

static int gramine_unseal(const struct enc_config *cfg, const uint8_t *blob, size_t len,
                          uint8_t mk[ENC_KEY_BYTES])
{
    uint8_t *wk = sodium_malloc(ENC_KEY_BYTES);
    int rc;

    if (!wk)
        return TR_E_NOMEM;
    if ((rc = gramine_key(cfg, wk)) == TR_OK)
        rc = enc_unwrap_key(wk, "tresor-gramine-v1", blob, len, mk);
    sodium_free(wk);
    return rc;
}

const struct enc_platform_seal enc_seal_devkey = {"devkey", devkey_seal, devkey_unseal};
const struct enc_platform_seal enc_seal_gramine = {"gramine", gramine_seal, gramine_unseal};
