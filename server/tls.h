/*
 * tls - OpenSSL server contexts and the `-dev` self-signed certificates.
 *
 * srv_tls_ctx_new builds an SSL_CTX for a profile: "modern" (TLS 1.3 only) or "intermediate"
 * (TLS 1.2 AEAD+PFS suites and 1.3); renegotiation off, no 0-RTT, compression off, security level 2.
 * With a client CA file the peer certificate is requested and verified against that bundle only.
 * Errors carry file paths, never key bytes or OpenSSL internals.
 * Thread-safety: an SSL_CTX is shared read-only between workers after creation.
 */
#ifndef SRV_TLS_H
#define SRV_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "../common/tr_err.h"

/* srv_tls_ctx_new - new context in *out (SSL_CTX_free). client_ca may be NULL.
 * Errors: TR_E_TLS (err names the file or setting that failed), TR_E_CONFIG (bad profile). */
TR_MUST_CHECK int srv_tls_ctx_new(const char *cert_file, const char *key_file,
                                  const char *client_ca, const char *profile, SSL_CTX **out,
                                  char *err, size_t errlen);

/* srv_tls_dev_certs - make sure dir/ca.crt, dir/server.crt and dir/server.key exist: a fresh
 * ECDSA P-256 CA and a server certificate for 127.0.0.1, ::1 and localhost, 0600 keys. Existing
 * files are kept. The CA key is not written anywhere (a dev CA signs once).
 * Errors: TR_E_IO, TR_E_TLS. */
TR_MUST_CHECK int srv_tls_dev_certs(const char *dir);

#endif
