/*
 * api_transit_int.h - internals shared by the transit engine's files (api_transit*.c). Not for
 * other files.
 *
 * api_transit.c       routing, key records (load, create, rotate), keys/ endpoints
 * api_transit_ops.c   encrypt, decrypt, rewrap, datakey, hmac, sign, verify; batches
 * api_transit_util.c  base64, "vault:v<N>:" strings, hash names, PEM; random/ and hash/
 * api_transit_export.c  export/ (public keys only; private key material is never exportable)
 *
 * Key records live in table API_T_TRANSIT under "<mount uuid>/<name>" as JSON:
 *   {"type", "derived", "deletion_allowed", "latest_version", "min_decryption_version",
 *    "min_encryption_version", "min_available_version", "auto_rotate_period" (seconds),
 *    "versions": {"<n>": {"blob": base64 of the core's wrapped key, "time": unix ns,
 *                         "public_key": ed25519 base64 / ecdsa PEM (asymmetric, not derived)}}}
 * Only wrapped blobs are stored: key material never leaves the core (enclave.h). Writes run on
 * pool threads with a check-and-set on the record version, retried on a lost race; reads and
 * cryptographic operations run wherever the call is (the event thread is fine).
 * Thread-safety: no shared state; every function works on the caller's objects.
 */
#ifndef API_TRANSIT_INT_H
#define API_TRANSIT_INT_H

#include "api_int.h"

#define TK_NAME_MAX     128
#define TK_VERSIONS_MAX 4096 /* kept versions per key (rotate refuses beyond: trim first) */
#define TK_RETRIES      8    /* check-and-set attempts */
#define TK_DEFER_ITEMS  32   /* batches larger than this run on a pool thread */
#define TK_ERR_MAX      256

struct tk_type {
    const char *name; /* Vault's type name */
    enum enc_transit_type id;
    bool aead;         /* encrypt, decrypt, rewrap, datakey */
    bool signing;      /* sign, verify, public keys */
    bool derivable;    /* derived: true allowed */
    const char *curve; /* key info "name" of asymmetric versions, NULL for symmetric */
};

/* One key loaded for one request. */
struct tk {
    char name[TK_NAME_MAX + 1];
    char skey[STORE_KEY_MAX + 1]; /* "<mount uuid>/<name>" */
    const struct tk_type *type;
    json_t *rec;  /* the stored record (owned) */
    uint64_t ver; /* its store version, for check-and-set */
    int64_t latest, min_dec, min_enc, min_avail, rotate_period;
    bool derived;
};

/* ---- api_transit.c ------------------------------------------------------------------------- */
const struct tk_type *tk_type_find(const char *name);
/* tk_load - read key name of the call's mount. Errors: TR_E_NOTFOUND, TR_E_INVAL (bad name),
 * and store_get's errors. On success *out owns a record (tk_free). */
TR_MUST_CHECK int tk_load(struct api_call *c, const char *name, struct tk *out);
void tk_free(struct tk *k);
/* tk_version - version v's entry of k's record, NULL when absent or trimmed. Borrowed from
 * k->rec: valid until tk_free(k). */
const json_t *tk_version(const struct tk *k, int64_t v);
/* tk_version_pubkey - the public key text keys/<k> publishes for a version entry e (ed25519:
 * base64 of the raw key; ecdsa-p256: PEM with its final newline); NULL for symmetric types and
 * derived keys (whose public keys depend on a context), or when e is NULL. Borrowed from e. */
const char *tk_version_pubkey(const json_t *e);
/* tk_blob - the wrapped key of version v. Errors: TR_E_NOTFOUND (absent or trimmed). */
TR_MUST_CHECK int tk_blob(const struct tk *k, int64_t v, uint8_t out[ENC_TRANSIT_BLOB_BYTES]);
/* tk_create - make key name with its first version (pool thread). TR_E_CAS when it exists. */
TR_MUST_CHECK int tk_create(struct api_call *c, const char *name, const struct tk_type *t,
                            bool derived, int64_t rotate_period, struct tk *out);
/* tk_rotation_due - auto_rotate_period has passed since the latest version was made. */
bool tk_rotation_due(const struct tk *k);
/* tk_rotate_if_due - (pool thread) rotate k when still due, reloading it. */
TR_MUST_CHECK int tk_rotate_if_due(struct api_call *c, struct tk *k);
/* tk_route_name - the key name segment of c->rel for "<op>/<name>[/...]" paths (idx 1) or
 * "datakey/<kind>/<name>" (idx 2), copied into out. */
bool tk_route_seg(const struct api_call *c, size_t idx, char *out, size_t cap);

/* ---- api_transit_ops.c ----------------------------------------------------------------- */
/* Each handler answers the call. on_pool: already on a pool thread (may write, may block). */
void tk_encrypt(struct api_call *c, bool on_pool);
void tk_decrypt(struct api_call *c, bool on_pool);
void tk_rewrap(struct api_call *c, bool on_pool);
void tk_datakey(struct api_call *c, bool on_pool);
void tk_hmac(struct api_call *c, bool on_pool);
void tk_sign(struct api_call *c, bool on_pool);
void tk_verify(struct api_call *c, bool on_pool);

/* ---- api_transit_export.c ---------------------------------------------------------------- */
/* tk_export - answer GET export/<type>/<name>[/<version>] (any thread: reads only). */
void tk_export(struct api_call *c);

/* ---- api_transit_util.c ------------------------------------------------------------------ */
/* tk_b64_decode - standard (padded) or, with url, raw URL-safe base64 into a malloc'd buffer
 * (*out owned, free; a 1-byte buffer for ""). On a bad input *bad_at is the byte offset.
 * Errors: TR_E_INVAL, TR_E_TOO_LARGE, TR_E_NOMEM. */
TR_MUST_CHECK int tk_b64_decode(const char *s, bool url, uint8_t **out, size_t *out_len,
                                size_t *bad_at);
/* tk_b64_decode_secret - the same into guarded memory (plaintext): *out owned (enc_secret_free). */
TR_MUST_CHECK int tk_b64_decode_secret(const char *s, struct enc_secret **out, size_t *out_len,
                                       size_t *bad_at);
/* tk_b64_encode - malloc'd text (NULL on allocation failure). */
char *tk_b64_encode(const uint8_t *p, size_t n, bool url);
/* tk_versioned - malloc'd "vault:v<v>:<b64 of p>". */
char *tk_versioned(int64_t v, const uint8_t *p, size_t n, bool url);
/* tk_unversion - split "vault:v<N>:<rest>". Returns 0, or 1 (no prefix), 2 (wrong number of
 * fields), 3 (version number could not be decoded); *rest points into s. */
int tk_unversion(const char *s, int64_t *v, const char **rest);
/* tk_hash_parse - Vault's hash names (sha2-256, sha2-224/384/512, sha3-224/256/384/512). */
bool tk_hash_parse(const char *name, enum enc_transit_hash *out);
/* tk_pem_pubkey - malloc'd PEM "PUBLIC KEY" of a SubjectPublicKeyInfo DER. */
char *tk_pem_pubkey(const uint8_t *der, size_t len);
void tk_random(struct api_call *c);
void tk_hash(struct api_call *c);

#endif
