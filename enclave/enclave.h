/*
 * enclave.h - the only door into Tresor's trusted core.
 *
 * Written like an SGX EDL: every entry point and every outcall is listed here with the states
 * that allow it, its argument limits, outputs, errors and side effects. Nothing else in enclave/
 * is reachable: the core is built with -fvisibility=hidden into one relocatable object and
 * `make lint` fails when that object exports a symbol that is not marked ENC_API below.
 *
 * The core is a singleton (enc_init/enc_fini); entries take no context pointer. Arguments are
 * copied in and results copied out; no pointer into enclave memory is ever returned. Key
 * material never leaves: callers see key ids, ciphertext, MACs and verdicts. Errors are tr_err
 * codes with internal detail collapsed (a failed open is TR_E_AUTH, nothing more).
 *
 * State machine:
 *     UNINIT --enc_init--> SEALED --unseal--> UNSEALED --enc_seal(reason)--> SEALED
 *   SEALED keeps the last reason (operator, rollback_detected, tamper_detected, fatal) for
 *   sys/seal-status. enc_fini returns to UNINIT from any state and wipes everything.
 *
 * Thread-safety: every entry point takes the core's lock; all may be called from any thread.
 *
 * ---- Outcalls (what the core does to the outside world) -------------------------------------
 *  - log:     tr_log_* lines with identifiers only (never key bytes, shares or plaintext).
 *  - files:   reads and atomically writes (temp + fsync + rename + fsync dir) its own blobs in
 *             cfg->data_dir: seal.blob (wrapped master key + seal parameters), counter.state
 *             (file counter), and reads the dev key file / Gramine key pseudo-file.
 *  - TPM:     tpm2-tss ESAPI over the configured TCTI (seal type tpm2, counter type tpm2).
 *  - clock:   none inside the core; callers pass times where needed.
 *  - random:  libsodium randombytes (getrandom).
 */
#ifndef ENCLAVE_H
#define ENCLAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tr_err.h"

#define ENC_API __attribute__((visibility("default")))

/* ---- Limits -------------------------------------------------------------------------------- */
#define ENC_KEY_BYTES       32
#define ENC_SHARE_MAX       255 /* secret_shares and secret_threshold: 1..255 */
#define ENC_SHARE_BYTES     33  /* 32-byte secret + 1-byte x coordinate, as Vault */
#define ENC_AD_MAX          4096
#define ENC_RECORD_MAX      (16u * 1024 * 1024)
#define ENC_RECORD_HDR      4  /* record key id, big-endian */
#define ENC_RECORD_NONCE    24 /* XChaCha20-Poly1305 */
#define ENC_RECORD_TAG      16
#define ENC_RECORD_OVERHEAD (ENC_RECORD_HDR + ENC_RECORD_NONCE + ENC_RECORD_TAG)
#define ENC_MAC_BYTES       32
#define ENC_MAC_MSG_MAX     (16u * 1024 * 1024)
#define ENC_PATH_MAX        4096
#define ENC_PCRS_MAX        24
#define ENC_NONCE_STR       37 /* UUID text + NUL */

/* ---- Types crossing the boundary ------------------------------------------------------------ */
enum enc_state { ENC_UNINIT = 0, ENC_SEALED = 1, ENC_UNSEALED = 2 };

enum enc_seal_type { ENC_SEAL_SHAMIR = 0, ENC_SEAL_TPM2, ENC_SEAL_DEVKEY, ENC_SEAL_GRAMINE };
enum enc_counter_type { ENC_COUNTER_FILE = 0, ENC_COUNTER_TPM2 };

/* Why the core is sealed; kept until the next successful unseal. */
enum enc_reason {
    ENC_REASON_NONE = 0, /* never unsealed since start */
    ENC_REASON_OPERATOR, /* sys/seal */
    ENC_REASON_ROLLBACK, /* storage found state older than the counter */
    ENC_REASON_TAMPER,   /* storage found records changed outside Tresor */
    ENC_REASON_FATAL,    /* an internal invariant failed */
};

/* Which derived key a MAC uses. Each is a separate crypto_kdf subkey of the master key. */
enum enc_mac_key {
    ENC_MAC_DIGEST = 1, /* per-record element of the multiset digest */
    ENC_MAC_ANCHOR = 2, /* the storage anchor record */
    ENC_MAC_TOKEN = 3,  /* token and secret-id lookup hashes */
    ENC_MAC_AUDIT = 4,  /* audit log field HMACs and chain */
    ENC_MAC_INDEX = 5,  /* record hashes in the verified index */
};

struct enc_config {
    enum enc_seal_type seal_type;
    enum enc_counter_type counter_type;
    char data_dir[ENC_PATH_MAX];         /* seal blobs and file counter live here (0700) */
    char devkey_file[ENC_PATH_MAX];      /* devkey: 32-byte key file, created at init */
    char gramine_key_path[ENC_PATH_MAX]; /* gramine: 16-byte SGX sealing key pseudo-file */
    char seal_tcti[256];                 /* tpm2 seal: explicit TCTI string */
    char counter_tcti[256];              /* tpm2 counter: explicit TCTI string */
    uint32_t nv_index;                   /* tpm2 counter NV index (0x01xxxxxx) */
    uint32_t pcrs[ENC_PCRS_MAX];         /* tpm2 seal: SHA-256 PCR selection */
    uint32_t npcrs;
    bool dev_mode;       /* -dev: devkey allowed without allow_insecure */
    bool allow_insecure; /* config seal.allow_insecure */
};

struct enc_status {
    enum enc_state state;
    enum enc_seal_type seal_type;
    enum enc_reason reason;
    bool initialized;          /* a seal blob exists */
    bool auto_unseal;          /* tpm2/devkey/gramine unseal without shares */
    bool insecure;             /* devkey: never for production */
    uint32_t threshold;        /* t: unseal shares (shamir) or recovery shares */
    uint32_t shares;           /* n */
    uint32_t progress;         /* shares submitted in the current attempt */
    char nonce[ENC_NONCE_STR]; /* current attempt id, "" when none */
    uint32_t record_key_id;    /* active record key (0 while sealed) */
};

struct enc_shares {
    uint32_t count;     /* n shares follow */
    uint32_t share_len; /* ENC_SHARE_BYTES, or ENC_KEY_BYTES for the unsplit key when n == 1 */
    uint8_t share[ENC_SHARE_MAX][ENC_SHARE_BYTES];
};

/* ---- Entry points ---------------------------------------------------------------------------- */

/*
 * enc_init - create the core's state from cfg (copied) and enter SEALED.
 * States: UNINIT (else TR_E_STATE).
 * Errors: TR_E_STATE, TR_E_INVAL (bad cfg, or a malformed seal.blob), TR_E_CONFIG (devkey
 * outside -dev without allow_insecure, or a seal.blob of another seal type), TR_E_TOO_LARGE
 * (seal.blob larger than any the core writes), TR_E_NOMEM, TR_E_IO (data dir unreadable).
 * Side effects: hardens the process (no core dumps, not dumpable); reads cfg->data_dir/seal.blob
 * to learn whether the core is initialised. Never touches the TPM.
 */
ENC_API TR_MUST_CHECK int enc_init(const struct enc_config *cfg);

/* enc_fini - wipe every key and share, close the TPM, return to UNINIT. Any state; idempotent. */
ENC_API void enc_fini(void);

/* enc_status_get - copy the public status. Any state (UNINIT reports state only). */
ENC_API void enc_status_get(struct enc_status *out);

/*
 * enc_initialize - generate the master key, seal it with the configured provider, define the
 * monotonic counter, and hand out the shares exactly once.
 * States: SEALED and not initialised (else TR_E_STATE; already initialised: TR_E_EXISTS).
 * In:  shares n and threshold t, 1 <= t <= n <= 255, t > 1 when n > 1 (else TR_E_INVAL).
 *      For shamir these are unseal shares; for the other seals they are recovery shares.
 * Out: *out (caller memory; caller wipes it after use) receives n shares of ENC_SHARE_BYTES.
 *      With n == 1 the share is the unsplit key (as Vault).
 * Errors: TR_E_STATE, TR_E_EXISTS, TR_E_INVAL, TR_E_IO, TR_E_TPM, TR_E_COUNTER, TR_E_NOMEM.
 * Side effects: writes seal.blob atomically; defines the counter (tpm2: NV index; file:
 *      counter.state). Stays SEALED (Vault semantics): shamir needs enc_unseal_submit, the
 *      others enc_unseal_auto.
 */
ENC_API TR_MUST_CHECK int enc_initialize(uint32_t shares, uint32_t threshold,
                                         struct enc_shares *out);

/*
 * enc_unseal_submit - add one unseal share (shamir) to the current attempt.
 * States: SEALED and initialised (UNSEALED: returns TR_OK with status unchanged).
 * In:  share/len, ENC_KEY_BYTES <= len <= ENC_SHARE_BYTES (else TR_E_INVAL). A share equal to one
 *      already submitted in this attempt is ignored.
 * Out: *out_status after the step (may be NULL).
 * Errors: TR_E_STATE (not initialised, or seal type without shares), TR_E_INVAL,
 *      TR_E_AUTH (threshold reached but the combination does not open the master key: progress
 *      resets), TR_E_NOMEM.
 * Side effects: at threshold, combines the shares, unwraps the master key, derives subkeys and
 *      enters UNSEALED; the counter is opened (tpm2: session to the TPM).
 */
ENC_API TR_MUST_CHECK int enc_unseal_submit(const uint8_t *share, size_t len,
                                            struct enc_status *out_status);

/* enc_unseal_reset - discard the shares of the current attempt. States: SEALED (UNSEALED:
 * TR_E_STATE). Side effects: wipes submitted unseal shares, and with an auto-unseal seal (whose
 * sys/unseal takes recovery shares) the recovery attempt's; new nonce on the next submit. */
ENC_API TR_MUST_CHECK int enc_unseal_reset(void);

/*
 * enc_unseal_auto - unseal with the platform (tpm2, devkey, gramine).
 * States: SEALED and initialised (UNSEALED: TR_OK, nothing done).
 * Errors: TR_E_STATE (shamir, or not initialised), TR_E_AUTH (the platform refused: changed PCRs,
 *      other TPM, wrong key file), TR_E_TPM, TR_E_IO, TR_E_NOMEM.
 * Side effects: as the threshold step of enc_unseal_submit.
 */
ENC_API TR_MUST_CHECK int enc_unseal_auto(void);

/*
 * enc_recovery_submit - add one recovery share (for an auto-unseal seal) or unseal share
 * (shamir) to a recovery authorisation attempt. At threshold the combination is verified
 * against the sealed master key; *out_authorized becomes true exactly once, and the core enters
 * UNSEALED if it was SEALED (this is how a changed PCR set or a new TPM is recovered from).
 * States: SEALED or UNSEALED, initialised. The attempt ends at threshold, on enc_seal and (auto-
 *      unseal seals) on enc_unseal_reset: shares given before a seal never count after it.
 * Errors: TR_E_STATE, TR_E_INVAL, TR_E_AUTH (wrong combination; progress resets), TR_E_NOMEM.
 */
ENC_API TR_MUST_CHECK int enc_recovery_submit(const uint8_t *share, size_t len,
                                              uint32_t *out_progress, bool *out_authorized);

/*
 * enc_seal - wipe the master key and all subkeys and enter SEALED with reason.
 * States: any but UNINIT (SEALED: only the reason is updated if it is more severe).
 * Side effects: the counter session is closed; the shares of any unseal or recovery attempt
 * are wiped. Never fails.
 */
ENC_API void enc_seal(enum enc_reason reason);

/* ---- Secret memory (guarded: sodium_malloc, mlock, guard pages, not in core dumps) --------- */
struct enc_secret;

/* enc_secret_alloc - len bytes (<= ENC_RECORD_MAX), zero-filled. Any state.
 * Errors: TR_E_INVAL, TR_E_NOMEM. */
ENC_API TR_MUST_CHECK int enc_secret_alloc(size_t len, struct enc_secret **out);
/* enc_secret_free - wipe and release; NULL-safe. */
ENC_API void enc_secret_free(struct enc_secret *s);
/* enc_secret_data/len - the caller's own buffer (valid until enc_secret_free). */
ENC_API uint8_t *enc_secret_data(struct enc_secret *s);
ENC_API size_t enc_secret_len(const struct enc_secret *s);

/* ---- Records --------------------------------------------------------------------------------- */

/*
 * enc_record_seal - encrypt pt under the active record key, binding ad.
 * States: UNSEALED (else TR_E_SEALED).
 * In:  ad/ad_len (<= ENC_AD_MAX), pt/pt_len (<= ENC_RECORD_MAX - ENC_RECORD_OVERHEAD).
 * Out: out (out_cap bytes, >= pt_len + ENC_RECORD_OVERHEAD) receives
 *      key_id(4, BE) || nonce(24) || ciphertext || tag(16); *out_len its length.
 * Errors: TR_E_SEALED, TR_E_INVAL, TR_E_TOO_LARGE.
 */
ENC_API TR_MUST_CHECK int enc_record_seal(const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                                          size_t pt_len, uint8_t *out, size_t out_cap,
                                          size_t *out_len);

/*
 * enc_record_open - authenticate and decrypt one record sealed with the same ad.
 * States: UNSEALED (else TR_E_SEALED).
 * Out: *out, a guarded buffer owned by the caller (enc_secret_free); NULL on any failure.
 * Errors: TR_E_SEALED, TR_E_INVAL, TR_E_AUTH (tampered, wrong ad, unknown key id), TR_E_NOMEM.
 */
ENC_API TR_MUST_CHECK int enc_record_open(const uint8_t *ad, size_t ad_len, const uint8_t *rec,
                                          size_t rec_len, struct enc_secret **out);

/*
 * enc_keyring_set_active - make record key id the one new records use. Keys are derived from
 * the master key by id, so every id <= the highest ever used stays readable.
 * States: UNSEALED. In: 1 <= id <= 0xffffff. Errors: TR_E_SEALED, TR_E_INVAL.
 * Storage persists the active id in its anchored metadata and calls this after unseal.
 */
ENC_API TR_MUST_CHECK int enc_keyring_set_active(uint32_t id);

/* ---- MACs ------------------------------------------------------------------------------------ */

/*
 * enc_mac - keyed BLAKE2b-256 of msg under the subkey named by which.
 * States: UNSEALED. In: msg_len <= ENC_MAC_MSG_MAX. Out: out[ENC_MAC_BYTES].
 * Errors: TR_E_SEALED, TR_E_INVAL (unknown key). On failure out is zeroed.
 */
ENC_API TR_MUST_CHECK int enc_mac(enum enc_mac_key which, const uint8_t *msg, size_t msg_len,
                                  uint8_t out[ENC_MAC_BYTES]);

/* enc_mac_verify - constant-time check of tag against enc_mac(which, msg).
 * Errors: TR_E_SEALED, TR_E_INVAL, TR_E_AUTH (mismatch). */
ENC_API TR_MUST_CHECK int enc_mac_verify(enum enc_mac_key which, const uint8_t *msg, size_t msg_len,
                                         const uint8_t tag[ENC_MAC_BYTES]);

/* ---- Monotonic counter --------------------------------------------------------------------- */

/*
 * enc_counter_read - the counter's current value.
 * States: UNSEALED (the tpm2 counter's auth value is derived from the master key).
 * Errors: TR_E_SEALED, TR_E_COUNTER (unreadable, undefined, or its identity changed since init:
 *      a deleted and re-defined NV index is caught here), TR_E_TPM.
 */
ENC_API TR_MUST_CHECK int enc_counter_read(uint64_t *out);

/*
 * enc_counter_increment - add one and return the new value. Durable when it returns.
 * States: UNSEALED. Errors: as enc_counter_read.
 * Side effects: one TPM NV increment (tpm2) or one atomic file rewrite (file).
 */
ENC_API TR_MUST_CHECK int enc_counter_increment(uint64_t *out);

/* ---- Transit keys ---------------------------------------------------------------------------
 *
 * The transit engine's keys exist outside the core only as wrapped blobs: the host stores one
 * blob per key version and hands it back for every operation; the core unwraps it into guarded
 * memory, does the work, and wipes everything before returning. Key bytes never cross this
 * boundary (no export, no plaintext backup); callers see blobs, ciphertext, signatures, MACs,
 * public keys and verdicts. The one deliberate exception is a data key requested in plaintext
 * (ENC_TRANSIT_DATAKEY with ENC_TRANSIT_OPT_PLAINTEXT): a fresh random key made for the caller.
 *
 * Blob (ENC_TRANSIT_BLOB_BYTES): "TRT1" || type(1) || key flags(1) || 0(2) || nonce(24) ||
 * XChaCha20-Poly1305(key material, 64) || tag(16), under the transit wrapping subkey of the
 * master key (crypto_kdf id 17) with the 8-byte header as associated data, so neither the type
 * nor the derived flag can be changed. A blob made under another master key, or changed in any
 * byte, is TR_E_AUTH. Key material = the type's key (AES/ChaCha key, Ed25519 seed, P-256
 * scalar, HMAC key) || a separate 32-byte HMAC key (the HMAC key itself for type hmac), so hmac
 * works with every type, as in Vault.
 *
 * Derived keys (ENC_TRANSIT_KEY_DERIVED; AEAD types and ed25519): every operation needs a
 * context (1..ENC_TRANSIT_CTX_MAX bytes) and uses HKDF-SHA256(key, salt none, info context) as
 * the key (Ed25519: as the seed), like Vault's hkdf_sha256 KDF. A context given to a key that is
 * not derived is ignored (Vault behaviour).
 *
 * Output formats (Vault-compatible, before the host's "vault:v<N>:" + base64):
 *   AEAD ciphertext  nonce(12; 24 for xchacha) || ciphertext || tag(16)
 *   ed25519          signature(64); public key raw(32)
 *   ecdsa-p256       signature ASN.1 DER (<= 72) or, with ENC_TRANSIT_OPT_JWS, r || s (64);
 *                    public key SubjectPublicKeyInfo DER (91)
 *   hmac             HMAC-<hash>(hmac key, message) (28..64 bytes)
 */
#define ENC_TRANSIT_BLOB_BYTES  112
#define ENC_TRANSIT_IN_MAX      (16u * 1024 * 1024) /* plaintext/ciphertext/message bytes */
#define ENC_TRANSIT_CTX_MAX     4096                /* derivation context bytes */
#define ENC_TRANSIT_OVERHEAD    40  /* most AEAD output beyond the plaintext (xchacha) */
#define ENC_TRANSIT_SMALL_OUT   128 /* out_cap that fits any signature, MAC or public key */
#define ENC_TRANSIT_DATAKEY_MAX 64  /* data key bytes (512 bits) */

enum enc_transit_type {
    ENC_TRANSIT_KEY_AES256_GCM96 = 1,      /* OpenSSL AES-256-GCM, 96-bit random nonce */
    ENC_TRANSIT_KEY_CHACHA20_POLY1305 = 2, /* libsodium chacha20poly1305_ietf, 96-bit nonce */
    ENC_TRANSIT_KEY_ED25519 = 3,           /* libsodium crypto_sign */
    ENC_TRANSIT_KEY_ECDSA_P256 = 4,        /* OpenSSL EVP, prime256v1 */
    ENC_TRANSIT_KEY_HMAC = 5,              /* 32-byte HMAC key */
    ENC_TRANSIT_KEY_AES128_GCM96 = 6,
    ENC_TRANSIT_KEY_XCHACHA20_POLY1305 = 7, /* 192-bit nonce */
};
#define ENC_TRANSIT_KEY_TYPE_MAX 7

/* Key flags, fixed at enc_transit_keygen and bound into the blob. */
#define ENC_TRANSIT_KEY_DERIVED 0x01u

enum enc_transit_hash {
    ENC_TRANSIT_SHA2_256 = 0, /* the default */
    ENC_TRANSIT_SHA2_224,
    ENC_TRANSIT_SHA2_384,
    ENC_TRANSIT_SHA2_512,
    ENC_TRANSIT_SHA3_224,
    ENC_TRANSIT_SHA3_256,
    ENC_TRANSIT_SHA3_384,
    ENC_TRANSIT_SHA3_512,
};
#define ENC_TRANSIT_HASH_MAX ENC_TRANSIT_SHA3_512

/* What enc_transit_op does; "key" is req->key, in/in2 are req->in/req->in2. */
enum enc_transit_opcode {
    ENC_TRANSIT_ENCRYPT = 1, /* AEAD types: in = plaintext -> out = ciphertext */
    ENC_TRANSIT_DECRYPT,     /* AEAD types: in = ciphertext -> *out_secret = plaintext */
    ENC_TRANSIT_REWRAP,      /* AEAD types: in = ciphertext under key -> out = ciphertext under
                                req->key2 (same type and flags); the plaintext stays inside */
    ENC_TRANSIT_DATAKEY,     /* AEAD types: new random key of req->bits (128, 256, 512) ->
                                out = its ciphertext; with OPT_PLAINTEXT also *out_secret = it */
    ENC_TRANSIT_SIGN,        /* ed25519, ecdsa-p256: in = message (or digest) -> out = sig */
    ENC_TRANSIT_VERIFY,      /* ed25519, ecdsa-p256: in = message (or digest), in2 = signature */
    ENC_TRANSIT_HMAC,        /* every type: in = message -> out = MAC */
    ENC_TRANSIT_HMAC_VERIFY, /* every type: in = message, in2 = MAC */
    ENC_TRANSIT_PUBKEY,      /* ed25519, ecdsa-p256: -> out = public key */
};

/* Options of enc_transit_op (req->opts). */
#define ENC_TRANSIT_OPT_PREHASHED 0x01u /* ecdsa SIGN/VERIFY: in is already the digest */
#define ENC_TRANSIT_OPT_JWS       0x02u /* ecdsa SIGN/VERIFY: r || s instead of ASN.1 DER */
#define ENC_TRANSIT_OPT_PLAINTEXT 0x04u /* DATAKEY: also return the data key */

/* One request, like an IPC message: every pointer is borrowed for the duration of the call only
 * and may be NULL when its length is 0. */
struct enc_transit_req {
    enum enc_transit_opcode op;
    const uint8_t *key; /* a blob from enc_transit_keygen: exactly ENC_TRANSIT_BLOB_BYTES */
    size_t key_len;
    const uint8_t *key2; /* REWRAP: the target version's blob (else unused) */
    size_t key2_len;
    const uint8_t *ctx; /* derivation context, <= ENC_TRANSIT_CTX_MAX (derived keys: >= 1) */
    size_t ctx_len;
    const uint8_t *ad; /* AEAD associated data, <= ENC_AD_MAX */
    size_t ad_len;
    const uint8_t *in; /* <= ENC_TRANSIT_IN_MAX; prehashed digests <= 64 */
    size_t in_len;
    const uint8_t *in2; /* VERIFY signature / HMAC_VERIFY MAC, <= ENC_TRANSIT_SMALL_OUT */
    size_t in2_len;
    enum enc_transit_hash hash; /* ecdsa SIGN/VERIFY digest, HMAC hash (ignored by ed25519) */
    uint32_t opts;              /* ENC_TRANSIT_OPT_* */
    uint32_t bits;              /* DATAKEY: 128, 256 or 512 */
};

/*
 * enc_transit_keygen - generate a new transit key (one version) and return it wrapped.
 * States: UNSEALED (else TR_E_SEALED).
 * In:  type (1..ENC_TRANSIT_KEY_TYPE_MAX), key_flags (ENC_TRANSIT_KEY_DERIVED only, and only for
 *      the AEAD types and ed25519).
 * Out: out[ENC_TRANSIT_BLOB_BYTES] (caller memory; not secret: store it anywhere).
 * Errors: TR_E_SEALED, TR_E_INVAL (type, flags, NULL out), TR_E_NOMEM, TR_E_INTERNAL (the
 *      crypto library failed). On failure out is zeroed.
 * Side effects: none (random numbers only). Secrets touched: the new key, in guarded memory,
 *      wiped before returning; the transit wrapping subkey, derived and wiped per call.
 */
ENC_API TR_MUST_CHECK int enc_transit_keygen(enum enc_transit_type type, uint32_t key_flags,
                                             uint8_t out[ENC_TRANSIT_BLOB_BYTES]);

/*
 * enc_transit_op - one cryptographic operation with a wrapped transit key (see the opcodes).
 * States: UNSEALED (else TR_E_SEALED). The core's lock is held for reading during the call, so
 *      enc_seal waits for running operations and none starts after it.
 * In:  *req as documented on struct enc_transit_req; every length is checked against its limit.
 * Out: out/out_cap: caller memory for ciphertext, signature, MAC or public key; it must hold
 *      in_len + ENC_TRANSIT_OVERHEAD (ENCRYPT, REWRAP) or ENC_TRANSIT_SMALL_OUT (the others);
 *      *out_len its length (0 for DECRYPT, VERIFY, HMAC_VERIFY). out may be NULL when out_cap
 *      is 0 for those three.
 *      out_secret: DECRYPT (required) and DATAKEY with OPT_PLAINTEXT (required) receive a
 *      guarded buffer owned by the caller (enc_secret_free); otherwise it may be NULL and is
 *      left NULL.
 * Errors: TR_E_SEALED; TR_E_INVAL (bad opcode, option, length, hash, bits, missing context for a
 *      derived key, out too small, REWRAP blobs of different type or flags, ciphertext shorter
 *      than nonce + tag, an ASN.1 signature that does not parse); TR_E_UNSUPPORTED (the key's
 *      type cannot do op, e.g. ENCRYPT with ed25519); TR_E_AUTH (blob tampered or made under
 *      another master key; DECRYPT/REWRAP: ciphertext, context or associated data wrong; VERIFY,
 *      HMAC_VERIFY: no match); TR_E_NOMEM; TR_E_INTERNAL (the crypto library failed).
 *      On any failure out is zeroed over out_cap, *out_len is 0 and *out_secret is NULL: no
 *      partial output and no detail on why.
 * Side effects: none; never touches storage or the counter. Secrets touched: the unwrapped key
 *      versions, derived keys, plaintext (DECRYPT, REWRAP) and data keys, all in guarded memory
 *      wiped before returning; OpenSSL's own copies (cipher and EC key contexts) are cleansed
 *      by OpenSSL when freed, before returning.
 */
ENC_API TR_MUST_CHECK int enc_transit_op(const struct enc_transit_req *req, uint8_t *out,
                                         size_t out_cap, size_t *out_len,
                                         struct enc_secret **out_secret);

#endif
