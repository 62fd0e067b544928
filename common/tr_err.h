/*
 * tr_err - the one error space of Tresor.
 *
 * Every function that can fail returns an int that is TR_OK (0) or one of the negative
 * members below. Foreign codes (errno, LMDB, OpenSSL, TSS2) are translated where they arise and
 * never returned. tr_strerror() texts are fixed sentences that contain no data, so they are
 * safe in logs and HTTP error bodies.
 * Thread-safety: all functions are reentrant.
 */
#ifndef TR_ERR_H
#define TR_ERR_H

#define TR_MUST_CHECK __attribute__((warn_unused_result))

enum tr_err {
    TR_OK = 0,
    TR_E_INTERNAL = -1,     /* an invariant failed; a bug */
    TR_E_NOMEM = -2,        /* allocation failed */
    TR_E_INVAL = -3,        /* invalid argument or malformed input */
    TR_E_AUTH = -4,         /* authentication/decryption failed (no detail on purpose) */
    TR_E_SEALED = -5,       /* the trusted core is sealed */
    TR_E_STATE = -6,        /* operation not allowed in the current state */
    TR_E_NOTFOUND = -7,     /* no such item */
    TR_E_EXISTS = -8,       /* item already exists */
    TR_E_TOO_LARGE = -9,    /* input exceeds a documented limit */
    TR_E_IO = -10,          /* file or device I/O failed */
    TR_E_CONFIG = -11,      /* configuration is invalid */
    TR_E_TLS = -12,         /* TLS setup failed */
    TR_E_DENIED = -13,      /* permission denied */
    TR_E_ROLLBACK = -14,    /* stored state is older than the monotonic counter */
    TR_E_TAMPER = -15,      /* stored state was modified outside Tresor */
    TR_E_NOSPACE = -16,     /* disk or map full */
    TR_E_CAS = -17,         /* check-and-set mismatch */
    TR_E_TPM = -18,         /* the TPM refused or failed */
    TR_E_BUSY = -19,        /* resource in use (lock held, queue full) */
    TR_E_UNSUPPORTED = -20, /* operation not supported */
    TR_E_COUNTER = -21,     /* monotonic counter failure */
    TR_E_LIMIT = -22,       /* a rate or quota limit was hit */
    TR_E_TIMEOUT = -23,     /* deadline exceeded */
};

/* tr_strerror - fixed, data-free sentence for an error code; never NULL. */
const char *tr_strerror(int err);

/* tr_err_name - the enum member's name ("TR_E_AUTH"), for logs and tests; never NULL. */
const char *tr_err_name(int err);

#endif
