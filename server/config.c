#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../common/tr_json.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL, CFG_MAP, CFG_INT_LIST };

struct cfg_field {
    const char *key;
    enum cfg_type type;
    size_t off;                       /* offset in struct srv_config (not for CFG_MAP) */
    const struct cfg_field *children; /* CFG_MAP: NULL-key terminated */
    bool required;
    int64_t min, max;           /* CFG_INT bounds */
    const char *const *choices; /* CFG_STR: allowed values or NULL */
};

#define OFF(f) offsetof(struct srv_config, f)
#define END                                                                                        \
    {                                                                                              \
        NULL, CFG_STR, 0, NULL, false, 0, 0, NULL                                                  \
    }

static const char *const profiles[] = {"modern", "intermediate", NULL};
static const char *const seal_types[] = {"tpm2", "shamir", "devkey", "gramine", NULL};
static const char *const counter_types[] = {"tpm2", "file", NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

/* Vault's listener "telemetry" block (only the key that concerns the API). */
static const struct cfg_field listener_telemetry_fields[] = {
    {"unauthenticated_metrics_access", CFG_BOOL, OFF(unauthenticated_metrics_access), NULL, false,
     0, 0, NULL},
    END,
};

static const struct cfg_field listener_fields[] = {
    {"address", CFG_STR, OFF(listen_address), NULL, true, 0, 0, NULL},
    {"tls_cert_file", CFG_STR, OFF(tls_cert_file), NULL, true, 0, 0, NULL},
    {"tls_key_file", CFG_STR, OFF(tls_key_file), NULL, true, 0, 0, NULL},
    {"tls_client_ca_file", CFG_STR, OFF(tls_client_ca_file), NULL, false, 0, 0, NULL},
    {"tls_profile", CFG_STR, OFF(tls_profile), NULL, false, 0, 0, profiles},
    {"workers", CFG_INT, OFF(workers), NULL, false, 0, 256, NULL},
    {"max_connections", CFG_INT, OFF(max_connections), NULL, false, 1, 1000000, NULL},
    {"max_request_bytes", CFG_INT, OFF(max_request_bytes), NULL, false, 1024, 33554432, NULL},
    {"max_header_bytes", CFG_INT, OFF(max_header_bytes), NULL, false, 1024, 1048576, NULL},
    {"request_timeout_s", CFG_INT, OFF(request_timeout_s), NULL, false, 1, 3600, NULL},
    {"idle_timeout_s", CFG_INT, OFF(idle_timeout_s), NULL, false, 1, 3600, NULL},
    {"max_connections_per_ip", CFG_INT, OFF(max_connections_per_ip), NULL, false, 1, 1000000, NULL},
    {"header_timeout_s", CFG_INT, OFF(header_timeout_s), NULL, false, 1, 3600, NULL},
    {"login_rate_per_s", CFG_INT, OFF(login_rate_per_s), NULL, false, 1, 1000000, NULL},
    {"login_burst", CFG_INT, OFF(login_burst), NULL, false, 1, 1000000, NULL},
    {"unseal_rate_per_s", CFG_INT, OFF(unseal_rate_per_s), NULL, false, 1, 1000000, NULL},
    {"unseal_burst", CFG_INT, OFF(unseal_burst), NULL, false, 1, 1000000, NULL},
    {"telemetry", CFG_MAP, 0, listener_telemetry_fields, false, 0, 0, NULL},
    END,
};

/* cfg_map tracks duplicates in a fixed bool[32]; the largest map must fit. */
_Static_assert(sizeof(listener_fields) / sizeof(listener_fields[0]) <= 32, "listener map too big");

static const struct cfg_field storage_fields[] = {
    {"path", CFG_STR, OFF(storage_path), NULL, true, 0, 0, NULL},
    {"scrub_interval_s", CFG_INT, OFF(scrub_interval_s), NULL, false, 0, 86400 * 30, NULL},
    END,
};

static const struct cfg_field seal_tpm2_fields[] = {
    {"tcti", CFG_STR, OFF(seal_tpm2_tcti), NULL, true, 0, 0, NULL},
    {"pcrs", CFG_INT_LIST, OFF(seal_tpm2_pcrs), NULL, false, 0, 23, NULL},
    END,
};

static const struct cfg_field seal_devkey_fields[] = {
    {"key_file", CFG_STR, OFF(seal_devkey_file), NULL, true, 0, 0, NULL},
    END,
};

static const struct cfg_field seal_gramine_fields[] = {
    {"key_path", CFG_STR, OFF(seal_gramine_key_path), NULL, false, 0, 0, NULL},
    END,
};

static const struct cfg_field seal_fields[] = {
    {"type", CFG_STR, OFF(seal_type), NULL, true, 0, 0, seal_types},
    {"allow_insecure", CFG_BOOL, OFF(seal_allow_insecure), NULL, false, 0, 0, NULL},
    {"tpm2", CFG_MAP, 0, seal_tpm2_fields, false, 0, 0, NULL},
    {"devkey", CFG_MAP, 0, seal_devkey_fields, false, 0, 0, NULL},
    {"gramine", CFG_MAP, 0, seal_gramine_fields, false, 0, 0, NULL},
    END,
};

static const struct cfg_field counter_tpm2_fields[] = {
    {"tcti", CFG_STR, OFF(counter_tpm2_tcti), NULL, true, 0, 0, NULL},
    {"nv_index", CFG_INT, OFF(counter_tpm2_nv_index), NULL, false, 0x01000000, 0x01ffffff, NULL},
    {"min_interval_ms", CFG_INT, OFF(counter_min_interval_ms), NULL, false, 0, 60000, NULL},
    END,
};

static const struct cfg_field counter_fields[] = {
    {"type", CFG_STR, OFF(counter_type), NULL, true, 0, 0, counter_types},
    {"tpm2", CFG_MAP, 0, counter_tpm2_fields, false, 0, 0, NULL},
    END,
};

static const struct cfg_field audit_fields[] = {
    {"path", CFG_STR, OFF(audit_path), NULL, true, 0, 0, NULL},
    {"anchor_interval_ms", CFG_INT, OFF(audit_anchor_interval_ms), NULL, false, 100, 600000, NULL},
    /* 0 = never by size; 1 TiB is beyond any sane single log file */
    {"rotate_bytes", CFG_INT, OFF(audit_rotate_bytes), NULL, false, 0, 1099511627776LL, NULL},
    {"rotate_keep", CFG_INT, OFF(audit_rotate_keep), NULL, false, 0, 100000, NULL},
    /* 0 = never refuse; a day bounds a typo's "forever" */
    {"anchor_max_lag_ms", CFG_INT, OFF(audit_anchor_max_lag_ms), NULL, false, 0, 86400000, NULL},
    END,
};

static const struct cfg_field log_fields[] = {
    {"level", CFG_STR, OFF(log_level), NULL, false, 0, 0, log_levels},
    {"format", CFG_STR, OFF(log_format), NULL, false, 0, 0, log_formats},
    END,
};

static const struct cfg_field root_fields[] = {
    {"listener", CFG_MAP, 0, listener_fields, true, 0, 0, NULL},
    {"storage", CFG_MAP, 0, storage_fields, true, 0, 0, NULL},
    {"seal", CFG_MAP, 0, seal_fields, true, 0, 0, NULL},
    {"counter", CFG_MAP, 0, counter_fields, false, 0, 0, NULL},
    {"audit", CFG_MAP, 0, audit_fields, false, 0, 0, NULL},
    {"log", CFG_MAP, 0, log_fields, false, 0, 0, NULL},
    END,
};

struct cfg_ctx {
    yaml_document_t *doc;
    struct srv_config *cfg;
    const char *file;
    char *err;
    size_t errlen;
};

static int cfg_fail(struct cfg_ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_fail(struct cfg_ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s:%lu: %s", c->file,
             n ? (unsigned long)n->start_mark.line + 1 : 0, msg);
    return TR_E_CONFIG;
}

static bool in_choices(const char *v, const char *const *choices)
{
    for (; *choices; choices++)
        if (strcmp(v, *choices) == 0)
            return true;
    return false;
}

static int cfg_int(struct cfg_ctx *c, const struct cfg_field *f, const char *path,
                   const yaml_node_t *n, int64_t *out)
{
    int64_t v;
    const char *s = (const char *)n->data.scalar.value;

    if (n->type != YAML_SCALAR_NODE)
        return cfg_fail(c, n, "key '%s' must be an integer%s", path, "");
    /* Hex is allowed so NV indices can be written the way TPM documents write them. */
    if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0) {
        char *end = NULL;
        unsigned long long u = strtoull(s + 2, &end, 16);
        if (!s[2] || *end || u > INT64_MAX)
            return cfg_fail(c, n, "key '%s' must be an integer%s", path, "");
        v = (int64_t)u;
    } else if (!tr_parse_int64(s, &v)) {
        return cfg_fail(c, n, "key '%s' must be an integer%s", path, "");
    }
    if (v < f->min || v > f->max)
        return cfg_fail(c, n, "key '%s' is out of range%s", path, "");
    *out = v;
    return TR_OK;
}

static int cfg_scalar(struct cfg_ctx *c, const struct cfg_field *f, const char *path,
                      const yaml_node_t *n)
{
    char *base = (char *)c->cfg;

    if (n->type != YAML_SCALAR_NODE)
        return cfg_fail(c, n, "key '%s' must be a scalar value%s", path, "");
    const char *s = (const char *)n->data.scalar.value;
    switch (f->type) {
    case CFG_STR: {
        char **dst = (char **)(base + f->off);
        if (f->choices && !in_choices(s, f->choices))
            return cfg_fail(c, n, "key '%s' has an unsupported value '%s'", path, s);
        if (!*s)
            return cfg_fail(c, n, "key '%s' must not be empty%s", path, "");
        char *dup = strdup(s);
        if (!dup)
            return TR_E_NOMEM;
        free(*dst);
        *dst = dup;
        return TR_OK;
    }
    case CFG_INT:
        return cfg_int(c, f, path, n, (int64_t *)(base + f->off));
    case CFG_BOOL:
        if (!tr_parse_bool(s, (bool *)(base + f->off)))
            return cfg_fail(c, n, "key '%s' must be true or false%s", path, "");
        return TR_OK;
    default:
        return TR_E_INTERNAL;
    }
}

static int cfg_int_list(struct cfg_ctx *c, const struct cfg_field *f, const char *path,
                        const yaml_node_t *n)
{
    int64_t *dst = (int64_t *)((char *)c->cfg + f->off);
    size_t count = 0;

    if (n->type != YAML_SEQUENCE_NODE)
        return cfg_fail(c, n, "key '%s' must be a list of integers%s", path, "");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = yaml_document_get_node(c->doc, *it);
        if (count >= SRV_CONFIG_PCRS_MAX)
            return cfg_fail(c, item, "key '%s' has too many entries%s", path, "");
        int rc = cfg_int(c, f, path, item, &dst[count]);
        if (rc != TR_OK)
            return rc;
        count++;
    }
    c->cfg->seal_tpm2_npcrs = count; /* the only list in the schema */
    return TR_OK;
}

static int cfg_map(struct cfg_ctx *c, const struct cfg_field *fields, const char *prefix,
                   const yaml_node_t *n);

static int cfg_field_value(struct cfg_ctx *c, const struct cfg_field *f, const char *path,
                           const yaml_node_t *v)
{
    if (f->type == CFG_MAP)
        return cfg_map(c, f->children, path, v);
    if (f->type == CFG_INT_LIST)
        return cfg_int_list(c, f, path, v);
    return cfg_scalar(c, f, path, v);
}

static int cfg_map(struct cfg_ctx *c, const struct cfg_field *fields, const char *prefix,
                   const yaml_node_t *n)
{
    bool seen[32] = {false};
    char path[128];

    if (n->type != YAML_MAPPING_NODE)
        return cfg_fail(c, n, "key '%s' must be a mapping%s", *prefix ? prefix : "(root)", "");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return cfg_fail(c, k, "keys must be plain strings%s%s", "", "");
        const char *key = (const char *)k->data.scalar.value;
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        size_t i = 0;
        while (fields[i].key && strcmp(fields[i].key, key) != 0)
            i++;
        if (!fields[i].key)
            return cfg_fail(c, k, "unknown key '%s'%s", path, "");
        if (seen[i])
            return cfg_fail(c, k, "duplicate key '%s'%s", path, "");
        seen[i] = true;
        int rc = cfg_field_value(c, &fields[i], path, v);
        if (rc != TR_OK)
            return rc;
    }
    for (size_t i = 0; fields[i].key; i++) {
        if (fields[i].required && !seen[i]) {
            snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", fields[i].key);
            return cfg_fail(c, n, "missing required key '%s'%s", path, "");
        }
    }
    return TR_OK;
}

static int cfg_set_defaults(struct srv_config *cfg)
{
    cfg->tls_profile = strdup("modern");
    cfg->seal_gramine_key_path = strdup("/dev/attestation/keys/_sgx_mrenclave");
    cfg->counter_type = strdup("file");
    cfg->log_level = strdup("info");
    cfg->log_format = strdup("text");
    cfg->max_connections = 4096;
    cfg->max_request_bytes = 1048576;
    cfg->max_header_bytes = 16384;
    cfg->request_timeout_s = 30;
    cfg->idle_timeout_s = 60;
    cfg->max_connections_per_ip = 64;
    cfg->header_timeout_s = 10;
    cfg->login_rate_per_s = 5;
    cfg->login_burst = 20;
    cfg->unseal_rate_per_s = 10;
    cfg->unseal_burst = 50;
    cfg->scrub_interval_s = 3600;
    cfg->audit_anchor_interval_ms = 1000;
    cfg->counter_tpm2_nv_index = 0x01500016;
    if (!cfg->tls_profile || !cfg->seal_gramine_key_path || !cfg->counter_type || !cfg->log_level ||
        !cfg->log_format)
        return TR_E_NOMEM;
    return TR_OK;
}

/* Rules that span sections: a provider's block must be there when it is chosen. */
static int cfg_check(struct cfg_ctx *c)
{
    const struct srv_config *cfg = c->cfg;

    if (strcmp(cfg->seal_type, "tpm2") == 0 && !cfg->seal_tpm2_tcti)
        return cfg_fail(c, NULL, "seal.type is tpm2 but seal.tpm2.tcti is missing%s%s", "", "");
    if (strcmp(cfg->seal_type, "devkey") == 0 && !cfg->seal_devkey_file)
        return cfg_fail(c, NULL, "seal.type is devkey but seal.devkey.key_file is missing%s%s", "",
                        "");
    if (strcmp(cfg->counter_type, "tpm2") == 0 && !cfg->counter_tpm2_tcti)
        return cfg_fail(c, NULL, "counter.type is tpm2 but counter.tpm2.tcti is missing%s%s", "",
                        "");
    /* Smaller files would rotate more often than the anchoring can follow them usefully, and a
     * marker line alone would fill a tiny one. */
    if (cfg->audit_rotate_bytes && cfg->audit_rotate_bytes < 1048576)
        return cfg_fail(c, NULL, "audit.rotate_bytes must be 0 (off) or at least 1048576%s%s", "",
                        "");
    /* a bound below one interval would refuse requests between two successful anchorings */
    if (cfg->audit_anchor_max_lag_ms &&
        cfg->audit_anchor_max_lag_ms < 2 * cfg->audit_anchor_interval_ms)
        return cfg_fail(c, NULL,
                        "audit.anchor_max_lag_ms must be 0 (off) or at least twice "
                        "audit.anchor_interval_ms%s%s",
                        "", "");
    return TR_OK;
}

int srv_config_load(const char *path, struct srv_config **out, char *err, size_t errlen)
{
    struct cfg_ctx c = {.file = path, .err = err, .errlen = errlen};
    struct srv_config *cfg = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_parser = false, have_doc = false;
    FILE *fp = NULL;
    int rc = TR_E_CONFIG;

    *out = NULL;
    if (!(fp = fopen(path, "r"))) {
        snprintf(err, errlen, "%s: cannot open the config file", path);
        rc = TR_E_IO;
        goto out;
    }
    if (!(cfg = calloc(1, sizeof(*cfg))) || !yaml_parser_initialize(&parser)) {
        rc = TR_E_NOMEM;
        goto out;
    }
    have_parser = true;
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%lu: YAML syntax error: %s", path,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unknown");
        goto out;
    }
    have_doc = true;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        snprintf(err, errlen, "%s:1: the config file is empty", path);
        goto out;
    }
    c.doc = &doc;
    c.cfg = cfg;
    if ((rc = cfg_set_defaults(cfg)) != TR_OK)
        goto out;
    if ((rc = cfg_map(&c, root_fields, "", root)) != TR_OK)
        goto out;
    if ((rc = cfg_check(&c)) != TR_OK)
        goto out;
    *out = cfg;
    cfg = NULL;
    rc = TR_OK;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    if (fp)
        fclose(fp);
    srv_config_free(cfg);
    return rc;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int srv_config_dev(const char *dir, const char *listen, struct srv_config **out)
{
    struct srv_config *cfg = calloc(1, sizeof(*cfg));
    int rc = TR_E_NOMEM;

    *out = NULL;
    if (!cfg || cfg_set_defaults(cfg) != TR_OK)
        goto out;
    free(cfg->counter_type);
    cfg->dev_mode = true;
    cfg->listen_address = strdup(listen);
    cfg->storage_path = strdup(dir);
    cfg->tls_cert_file = path_join(dir, "tls/server.crt");
    cfg->tls_key_file = path_join(dir, "tls/server.key");
    cfg->seal_type = strdup("devkey");
    cfg->seal_devkey_file = path_join(dir, "dev-unseal.key");
    cfg->counter_type = strdup("file");
    cfg->workers = 2;
    if (!cfg->listen_address || !cfg->storage_path || !cfg->tls_cert_file || !cfg->tls_key_file ||
        !cfg->seal_type || !cfg->seal_devkey_file || !cfg->counter_type)
        goto out;
    *out = cfg;
    cfg = NULL;
    rc = TR_OK;
out:
    srv_config_free(cfg);
    return rc;
}

void srv_config_free(struct srv_config *cfg)
{
    if (!cfg)
        return;
    char **strs[] = {&cfg->listen_address,   &cfg->tls_cert_file,
                     &cfg->tls_key_file,     &cfg->tls_client_ca_file,
                     &cfg->tls_profile,      &cfg->storage_path,
                     &cfg->seal_type,        &cfg->seal_tpm2_tcti,
                     &cfg->seal_devkey_file, &cfg->seal_gramine_key_path,
                     &cfg->counter_type,     &cfg->counter_tpm2_tcti,
                     &cfg->audit_path,       &cfg->log_level,
                     &cfg->log_format};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    free(cfg);
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    if (!src) {
        dst[0] = '\0';
        return TR_OK;
    }
    if (strlen(src) >= cap)
        return TR_E_CONFIG;
    memcpy(dst, src, strlen(src) + 1);
    return TR_OK;
}

int srv_config_enclave(const struct srv_config *cfg, struct enc_config *out)
{
    static const char *const seals[] = {"shamir", "tpm2", "devkey", "gramine"};

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < 4; i++)
        if (strcmp(cfg->seal_type, seals[i]) == 0)
            out->seal_type = (enum enc_seal_type)i;
    out->counter_type =
        strcmp(cfg->counter_type, "tpm2") == 0 ? ENC_COUNTER_TPM2 : ENC_COUNTER_FILE;
    out->nv_index = (uint32_t)cfg->counter_tpm2_nv_index;
    out->npcrs = (uint32_t)cfg->seal_tpm2_npcrs;
    for (size_t i = 0; i < cfg->seal_tpm2_npcrs; i++)
        out->pcrs[i] = (uint32_t)cfg->seal_tpm2_pcrs[i];
    out->dev_mode = cfg->dev_mode;
    out->allow_insecure = cfg->seal_allow_insecure;
    if (copy_str(out->data_dir, sizeof(out->data_dir), cfg->storage_path) ||
        copy_str(out->devkey_file, sizeof(out->devkey_file), cfg->seal_devkey_file) ||
        copy_str(out->gramine_key_path, sizeof(out->gramine_key_path),
                 cfg->seal_gramine_key_path) ||
        copy_str(out->seal_tcti, sizeof(out->seal_tcti), cfg->seal_tpm2_tcti) ||
        copy_str(out->counter_tcti, sizeof(out->counter_tcti), cfg->counter_tpm2_tcti))
        return TR_E_CONFIG;
    return TR_OK;
}
