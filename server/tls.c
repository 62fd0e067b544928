#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/tr_log.h"

#define CIPHERS_TLS12                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define SUITES_TLS13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

static int tls_fail(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_peek_last_error();
    /* The OpenSSL reason goes to the debug log only: it may describe file contents. */
    tr_log_debug("openssl: %s", e ? ERR_reason_error_string(e) : "no detail");
    ERR_clear_error();
    snprintf(err, errlen, "%s: %s", what, path ? path : "");
    return TR_E_TLS;
}

static int tls_set_profile(SSL_CTX *ctx, const char *profile)
{
    if (strcmp(profile, "modern") == 0) {
        if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION))
            return TR_E_TLS;
    } else if (strcmp(profile, "intermediate") == 0) {
        if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
            !SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12))
            return TR_E_TLS;
    } else {
        return TR_E_CONFIG;
    }
    if (!SSL_CTX_set_ciphersuites(ctx, SUITES_TLS13) ||
        !SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384"))
        return TR_E_TLS;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    SSL_CTX_set_max_early_data(ctx, 0); /* 0-RTT data is replayable: never accept it */
    /* SSL_OP_NO_TICKET only stops stateless tickets: TLS 1.3 would still follow every handshake
     * with two stateful ones (two more records and writes, and a session-cache insert under the
     * context's lock) that Vault clients do not use. No resumption: every connection does a
     * full handshake with fresh ECDHE keys. */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_security_level(ctx, 2);
    return TR_OK;
}

int srv_tls_ctx_new(const char *cert_file, const char *key_file, const char *client_ca,
                    const char *profile, SSL_CTX **out, char *err, size_t errlen)
{
    SSL_CTX *ctx = NULL;
    int rc;

    *out = NULL;
    if (access(cert_file, R_OK) != 0) {
        snprintf(err, errlen, "cannot read the TLS certificate file: %s", cert_file);
        return TR_E_TLS;
    }
    if (access(key_file, R_OK) != 0) {
        snprintf(err, errlen, "cannot read the TLS key file: %s", key_file);
        return TR_E_TLS;
    }
    if (!(ctx = SSL_CTX_new(TLS_server_method())))
        return tls_fail(err, errlen, "cannot create a TLS context", NULL);
    if ((rc = tls_set_profile(ctx, profile)) != TR_OK) {
        snprintf(err, errlen, "cannot apply TLS profile %s", profile);
        goto out;
    }
    rc = TR_E_TLS;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        tls_fail(err, errlen, "invalid TLS certificate file", cert_file);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        tls_fail(err, errlen, "invalid TLS key file or key does not match certificate", key_file);
        goto out;
    }
    if (client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
            tls_fail(err, errlen, "invalid TLS client CA file", client_ca);
            goto out;
        }
        /* Optional client certificates: cert auth needs them, token users do not. */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_verify_depth(ctx, 3);
        X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(ctx), X509_PURPOSE_SSL_CLIENT);
    }
    *out = ctx;
    ctx = NULL;
    rc = TR_OK;
out:
    SSL_CTX_free(ctx);
    return rc;
}

static EVP_PKEY *dev_keygen(void)
{
    return EVP_EC_gen("P-256");
}

static int dev_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return TR_E_TLS;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? TR_OK : TR_E_TLS;
}

static X509 *dev_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool is_ca)
{
    X509 *cert = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    bool ok = false;

    if (!cert || RAND_bytes(serial, sizeof(serial)) != 1)
        goto out;
    serial[0] &= 0x7f;
    if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
        goto out;
    X509_set_version(cert, 2);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 90L * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Tresor dev", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509 *iss = issuer ? issuer : cert;
    if (is_ca) {
        if (dev_add_ext(cert, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
            dev_add_ext(cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign") ||
            dev_add_ext(cert, iss, NID_subject_key_identifier, "hash"))
            goto out;
    } else {
        if (dev_add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE") ||
            dev_add_ext(cert, iss, NID_key_usage, "critical,digitalSignature") ||
            dev_add_ext(cert, iss, NID_ext_key_usage, "serverAuth") ||
            dev_add_ext(cert, iss, NID_subject_alt_name,
                        "DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1") ||
            dev_add_ext(cert, iss, NID_authority_key_identifier, "keyid"))
            goto out;
    }
    if (!X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()))
        goto out;
    ok = true;
out:
    BN_free(bn);
    if (!ok) {
        X509_free(cert);
        cert = NULL;
    }
    return cert;
}

/* Written with O_EXCL into a fresh file so a pre-planted symlink cannot redirect the key. */
static int dev_write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *fp = NULL;
    int rc = TR_E_IO;

    if (fd < 0)
        goto out;
    if (!(fp = fdopen(fd, "w")))
        goto out;
    fd = -1; /* owned by fp now */
    if (cert && !PEM_write_X509(fp, cert))
        goto out;
    if (key && !PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL))
        goto out;
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0)
        goto out;
    if (cert && fchmod(fileno(fp), 0644) != 0)
        goto out;
    rc = TR_OK;
out:
    if (fp)
        fclose(fp);
    if (fd >= 0)
        close(fd);
    if (rc != TR_OK)
        tr_log_error("cannot write %s: %s", path, strerror(errno));
    return rc;
}

int srv_tls_dev_certs(const char *dir)
{
    char ca_path[4096], crt_path[4096], key_path[4096];
    EVP_PKEY *ca_key = NULL, *srv_key = NULL;
    X509 *ca = NULL, *srv = NULL;
    int rc = TR_E_TLS;

    snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", dir);
    snprintf(crt_path, sizeof(crt_path), "%s/server.crt", dir);
    snprintf(key_path, sizeof(key_path), "%s/server.key", dir);
    if (access(ca_path, F_OK) == 0 && access(crt_path, F_OK) == 0 && access(key_path, F_OK) == 0)
        return TR_OK;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        tr_log_error("cannot create %s: %s", dir, strerror(errno));
        return TR_E_IO;
    }
    unlink(ca_path);
    unlink(crt_path);
    unlink(key_path);
    if (!(ca_key = dev_keygen()) || !(srv_key = dev_keygen()))
        goto out;
    if (!(ca = dev_cert(ca_key, "Tresor dev CA", NULL, NULL, true)) ||
        !(srv = dev_cert(srv_key, "localhost", ca, ca_key, false)))
        goto out;
    if ((rc = dev_write_pem(ca_path, ca, NULL)) != TR_OK ||
        (rc = dev_write_pem(key_path, NULL, srv_key)) != TR_OK ||
        (rc = dev_write_pem(crt_path, srv, NULL)) != TR_OK)
        goto out;
    rc = TR_OK;
out:
    if (rc == TR_E_TLS)
        tr_log_error("cannot generate the dev TLS certificates");
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    return rc;
}
