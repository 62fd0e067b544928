/*
 * fuzz_config - the server's YAML configuration (server/config.c) from arbitrary bytes, read
 * through a path as the daemon does (an in-memory file).
 * Invariants: a failure leaves no config and an error that starts with "FILE:"; a loaded config
 * satisfies the schema (required keys, choices, ranges, cross-section rules); emitting it as
 * canonical YAML and loading that again gives the same config, and the same enclave view.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../server/config.h"
#include "util.h"

static void put_ll(struct fuzz_str *o, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof(b), "%lld", v);
    fuzz_str_add(o, b, (size_t)n);
}

/* One UTF-8 sequence at s (libyaml only hands out valid UTF-8); its length, code point in *cp. */
static size_t utf8_next(const unsigned char *s, unsigned *cp)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;

    *cp = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        FUZZ_CHECK((s[i] & 0xc0) == 0x80);
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    return n;
}

/* key: "value" with every non-printable or non-ASCII character escaped. */
static void put_str(struct fuzz_str *o, const char *indent, const char *key, const char *v)
{
    const unsigned char *s = (const unsigned char *)v;
    char b[16];

    fuzz_str_add(o, indent, strlen(indent));
    fuzz_str_add(o, key, strlen(key));
    fuzz_str_add(o, ": \"", 3);
    while (*s) {
        unsigned cp;
        s += utf8_next(s, &cp);
        if (cp >= 0x20 && cp < 0x7f && cp != '"' && cp != '\\')
            snprintf(b, sizeof(b), "%c", (char)cp);
        else if (cp <= 0xffff)
            snprintf(b, sizeof(b), "\\u%04x", cp);
        else
            snprintf(b, sizeof(b), "\\U%08x", cp);
        fuzz_str_add(o, b, strlen(b));
    }
    fuzz_str_add(o, "\"\n", 2);
}

static void put_int(struct fuzz_str *o, const char *indent, const char *key, int64_t v)
{
    fuzz_str_add(o, indent, strlen(indent));
    fuzz_str_add(o, key, strlen(key));
    fuzz_str_add(o, ": ", 2);
    put_ll(o, (long long)v);
    fuzz_str_add(o, "\n", 1);
}

static void emit(const struct srv_config *c, struct fuzz_str *o)
{
    const char *i = "  ", *ii = "    ";

    fuzz_str_add(o, "listener:\n", 10);
    put_str(o, i, "address", c->listen_address);
    put_str(o, i, "tls_cert_file", c->tls_cert_file);
    put_str(o, i, "tls_key_file", c->tls_key_file);
    if (c->tls_client_ca_file)
        put_str(o, i, "tls_client_ca_file", c->tls_client_ca_file);
    put_str(o, i, "tls_profile", c->tls_profile);
    put_int(o, i, "workers", c->workers);
    put_int(o, i, "max_connections", c->max_connections);
    put_int(o, i, "max_request_bytes", c->max_request_bytes);
    put_int(o, i, "max_header_bytes", c->max_header_bytes);
    put_int(o, i, "request_timeout_s", c->request_timeout_s);
    put_int(o, i, "idle_timeout_s", c->idle_timeout_s);
    put_int(o, i, "max_connections_per_ip", c->max_connections_per_ip);
    put_int(o, i, "header_timeout_s", c->header_timeout_s);
    put_int(o, i, "login_rate_per_s", c->login_rate_per_s);
    put_int(o, i, "login_burst", c->login_burst);
    put_int(o, i, "unseal_rate_per_s", c->unseal_rate_per_s);
    put_int(o, i, "unseal_burst", c->unseal_burst);
    fuzz_str_add(o, "storage:\n", 9);
    put_str(o, i, "path", c->storage_path);
    put_int(o, i, "scrub_interval_s", c->scrub_interval_s);
    fuzz_str_add(o, "seal:\n", 6);
    put_str(o, i, "type", c->seal_type);
    fuzz_str_add(o,
                 c->seal_allow_insecure ? "  allow_insecure: true\n" : "  allow_insecure: false\n",
                 c->seal_allow_insecure ? 23 : 24);
    if (c->seal_tpm2_tcti) {
        fuzz_str_add(o, "  tpm2:\n", 8);
        put_str(o, ii, "tcti", c->seal_tpm2_tcti);
        fuzz_str_add(o, "    pcrs: [", 11);
        for (size_t k = 0; k < c->seal_tpm2_npcrs; k++) {
            fuzz_str_add(o, ", ", k ? 2 : 0);
            put_ll(o, (long long)c->seal_tpm2_pcrs[k]);
        }
        fuzz_str_add(o, "]\n", 2);
    }
    if (c->seal_devkey_file) {
        fuzz_str_add(o, "  devkey:\n", 10);
        put_str(o, ii, "key_file", c->seal_devkey_file);
    }
    fuzz_str_add(o, "  gramine:\n", 11);
    put_str(o, ii, "key_path", c->seal_gramine_key_path);
    fuzz_str_add(o, "counter:\n", 9);
    put_str(o, i, "type", c->counter_type);
    if (c->counter_tpm2_tcti) {
        fuzz_str_add(o, "  tpm2:\n", 8);
        put_str(o, ii, "tcti", c->counter_tpm2_tcti);
        put_int(o, ii, "nv_index", c->counter_tpm2_nv_index);
        put_int(o, ii, "min_interval_ms", c->counter_min_interval_ms);
    }
    if (c->audit_path) {
        fuzz_str_add(o, "audit:\n", 7);
        put_str(o, i, "path", c->audit_path);
    }
    fuzz_str_add(o, "log:\n", 5);
    put_str(o, i, "level", c->log_level);
    put_str(o, i, "format", c->log_format);
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool one_of(const char *v, const char *a, const char *b, const char *c, const char *d)
{
    return v && (!strcmp(v, a) || !strcmp(v, b) || (c && !strcmp(v, c)) || (d && !strcmp(v, d)));
}

static void check_schema(const struct srv_config *c)
{
    FUZZ_CHECK(c->listen_address && c->tls_cert_file && c->tls_key_file && c->storage_path);
    FUZZ_CHECK(one_of(c->seal_type, "tpm2", "shamir", "devkey", "gramine"));
    FUZZ_CHECK(one_of(c->counter_type, "tpm2", "file", NULL, NULL));
    FUZZ_CHECK(one_of(c->tls_profile, "modern", "intermediate", NULL, NULL));
    FUZZ_CHECK(one_of(c->log_level, "error", "warn", "info", "debug"));
    FUZZ_CHECK(one_of(c->log_format, "text", "json", NULL, NULL));
    FUZZ_CHECK(c->workers >= 0 && c->workers <= 256);
    FUZZ_CHECK(c->max_request_bytes >= 1024 && c->max_request_bytes <= 33554432);
    FUZZ_CHECK(c->max_header_bytes >= 1024 && c->max_header_bytes <= 1048576);
    FUZZ_CHECK(c->request_timeout_s >= 1 && c->idle_timeout_s >= 1 && c->header_timeout_s >= 1);
    FUZZ_CHECK(c->seal_tpm2_npcrs <= SRV_CONFIG_PCRS_MAX);
    for (size_t k = 0; k < c->seal_tpm2_npcrs; k++)
        FUZZ_CHECK(c->seal_tpm2_pcrs[k] >= 0 && c->seal_tpm2_pcrs[k] <= 23);
    FUZZ_CHECK(c->counter_tpm2_nv_index >= 0x01000000 && c->counter_tpm2_nv_index <= 0x01ffffff);
    FUZZ_CHECK(strcmp(c->seal_type, "tpm2") || c->seal_tpm2_tcti);
    FUZZ_CHECK(strcmp(c->seal_type, "devkey") || c->seal_devkey_file);
    FUZZ_CHECK(strcmp(c->counter_type, "tpm2") || c->counter_tpm2_tcti);
    FUZZ_CHECK(!c->dev_mode);
}

static void check_same(const struct srv_config *a, const struct srv_config *b)
{
    FUZZ_CHECK(str_eq(a->listen_address, b->listen_address));
    FUZZ_CHECK(str_eq(a->tls_cert_file, b->tls_cert_file));
    FUZZ_CHECK(str_eq(a->tls_key_file, b->tls_key_file));
    FUZZ_CHECK(str_eq(a->tls_client_ca_file, b->tls_client_ca_file));
    FUZZ_CHECK(str_eq(a->tls_profile, b->tls_profile));
    FUZZ_CHECK(a->workers == b->workers && a->max_connections == b->max_connections);
    FUZZ_CHECK(a->max_request_bytes == b->max_request_bytes);
    FUZZ_CHECK(a->max_header_bytes == b->max_header_bytes);
    FUZZ_CHECK(a->request_timeout_s == b->request_timeout_s);
    FUZZ_CHECK(a->idle_timeout_s == b->idle_timeout_s);
    FUZZ_CHECK(a->max_connections_per_ip == b->max_connections_per_ip);
    FUZZ_CHECK(a->header_timeout_s == b->header_timeout_s);
    FUZZ_CHECK(a->login_rate_per_s == b->login_rate_per_s && a->login_burst == b->login_burst);
    FUZZ_CHECK(a->unseal_rate_per_s == b->unseal_rate_per_s && a->unseal_burst == b->unseal_burst);
    FUZZ_CHECK(str_eq(a->storage_path, b->storage_path));
    FUZZ_CHECK(a->scrub_interval_s == b->scrub_interval_s);
    FUZZ_CHECK(str_eq(a->seal_type, b->seal_type) && str_eq(a->seal_tpm2_tcti, b->seal_tpm2_tcti));
    FUZZ_CHECK(a->seal_tpm2_npcrs == b->seal_tpm2_npcrs);
    FUZZ_CHECK(!memcmp(a->seal_tpm2_pcrs, b->seal_tpm2_pcrs,
                       a->seal_tpm2_npcrs * sizeof(a->seal_tpm2_pcrs[0])));
    FUZZ_CHECK(str_eq(a->seal_devkey_file, b->seal_devkey_file));
    FUZZ_CHECK(a->seal_allow_insecure == b->seal_allow_insecure);
    FUZZ_CHECK(str_eq(a->seal_gramine_key_path, b->seal_gramine_key_path));
    FUZZ_CHECK(str_eq(a->counter_type, b->counter_type));
    FUZZ_CHECK(str_eq(a->counter_tpm2_tcti, b->counter_tpm2_tcti));
    FUZZ_CHECK(a->counter_tpm2_nv_index == b->counter_tpm2_nv_index);
    FUZZ_CHECK(a->counter_min_interval_ms == b->counter_min_interval_ms);
    FUZZ_CHECK(str_eq(a->audit_path, b->audit_path));
    FUZZ_CHECK(str_eq(a->log_level, b->log_level) && str_eq(a->log_format, b->log_format));
}

static int load(const void *text, size_t len, struct srv_config **cfg, char *err, size_t errlen)
{
    const char *path = fuzz_memfile(text, len);
    int rc = srv_config_load(path, cfg, err, errlen);

    if (rc != TR_OK) {
        FUZZ_CHECK(*cfg == NULL);
        FUZZ_CHECK(rc == TR_E_CONFIG || rc == TR_E_NOMEM);
        FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct srv_config *cfg = NULL, *again = NULL;
    struct enc_config e1, e2;
    struct fuzz_str o = {NULL, 0, 0};
    char err[1024];

    if (size > 64u * 1024)
        return 0;
    fuzz_init();
    if (load(data, size, &cfg, err, sizeof(err)) != TR_OK)
        return 0;
    check_schema(cfg);
    emit(cfg, &o);
    if (load(o.p, o.len, &again, err, sizeof(err)) != TR_OK) {
        fprintf(stderr, "re-emitted config refused: %s\n---\n%s---\n", err, o.p);
        FUZZ_CHECK(!"the canonical form of a loaded config loads");
    }
    check_same(cfg, again);
    int r1 = srv_config_enclave(cfg, &e1), r2 = srv_config_enclave(again, &e2);
    FUZZ_CHECK(r1 == r2 && (r1 == TR_OK || r1 == TR_E_CONFIG));
    if (r1 == TR_OK) {
        FUZZ_CHECK(memcmp(&e1, &e2, sizeof(e1)) == 0);
        FUZZ_CHECK(strcmp(e1.data_dir, cfg->storage_path) == 0);
    }
    srv_config_free(again);
    srv_config_free(cfg);
    free(o.p);
    return 0;
}
