/*
 * config - the server's YAML configuration (design: docs/configuration.md).
 *
 * srv_config_load parses a file with libyaml against a fixed schema: an unknown key, a value of
 * the wrong type or a missing required key is an error that names the key and its line.
 * srv_config_dev fills the embedded `-dev` defaults. The struct is plain data owned by the caller
 * and released with srv_config_free. It holds paths and settings, never key material.
 */
#ifndef SRV_CONFIG_H
#define SRV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tr_err.h"
#include "../enclave/enclave.h"

#define SRV_CONFIG_PCRS_MAX 24

struct srv_config {
    /* listener */
    char *listen_address;
    char *tls_cert_file;
    char *tls_key_file;
    char *tls_client_ca_file; /* NULL: no client certificates requested */
    char *tls_profile;        /* "modern" | "intermediate" */
    int64_t workers;          /* 0 = one per core */
    int64_t max_connections;
    int64_t max_request_bytes;
    int64_t max_header_bytes;
    int64_t request_timeout_s;
    int64_t idle_timeout_s;
    int64_t max_connections_per_ip;
    int64_t header_timeout_s; /* TLS handshake + request headers, absolute */
    int64_t login_rate_per_s; /* per client IP, /v1/auth/<mount>/login... */
    int64_t login_burst;
    int64_t unseal_rate_per_s; /* per client IP, /v1/sys/unseal and /v1/sys/storage/recover */
    int64_t unseal_burst;
    /* listener.telemetry: GET /v1/sys/metrics without a token, ACL check or audit entry */
    bool unauthenticated_metrics_access;
    /* storage */
    char *storage_path;
    int64_t scrub_interval_s;
    /* seal */
    char *seal_type; /* "tpm2" | "shamir" | "devkey" | "gramine" */
    char *seal_tpm2_tcti;
    int64_t seal_tpm2_pcrs[SRV_CONFIG_PCRS_MAX];
    size_t seal_tpm2_npcrs;
    char *seal_devkey_file;
    bool seal_allow_insecure;
    char *seal_gramine_key_path;
    /* counter */
    char *counter_type; /* "tpm2" | "file" */
    char *counter_tpm2_tcti;
    int64_t counter_tpm2_nv_index;
    int64_t counter_min_interval_ms;
    /* audit */
    char *audit_path; /* NULL: no audit device */
    int64_t audit_anchor_interval_ms;
    int64_t audit_rotate_bytes;      /* 0: rotate only on SIGHUP */
    int64_t audit_rotate_keep;       /* 0: keep every rotated file */
    int64_t audit_anchor_max_lag_ms; /* 0: serve however long anchoring fails */
    /* log */
    char *log_level;
    char *log_format;
    /* set by -dev, never by the file */
    bool dev_mode;
};

/*
 * srv_config_load - parse path into a new config (*out, free with srv_config_free).
 * err receives "FILE:LINE: reason" (errlen bytes) on failure.
 * Errors: TR_E_IO (cannot read), TR_E_CONFIG (syntax, unknown key, type, missing, bad value),
 * TR_E_NOMEM.
 */
TR_MUST_CHECK int srv_config_load(const char *path, struct srv_config **out, char *err,
                                  size_t errlen);

/* srv_config_dev - the embedded `-dev` configuration rooted at dir. Errors: TR_E_NOMEM. */
TR_MUST_CHECK int srv_config_dev(const char *dir, const char *listen, struct srv_config **out);

void srv_config_free(struct srv_config *cfg);

/* srv_config_enclave - the trusted core's view of cfg. Errors: TR_E_CONFIG (a path too long). */
TR_MUST_CHECK int srv_config_enclave(const struct srv_config *cfg, struct enc_config *out);

#endif
