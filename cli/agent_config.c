#include "agent_config.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../common/tr_json.h"
#include "input.h"

/* Longest dotted key path in messages ("templates[12].command"). */
#define KEY_PATH_MAX 96
/* The largest mapping we check (templates have the most keys). */
#define MAP_KEYS_MAX 10

struct ycx {
    yaml_document_t *doc;
    const char *file;
    char *err;
    size_t errlen;
};

static int yfail(struct ycx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int yfail(struct ycx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s:%lu: %s", c->file,
             n ? (unsigned long)n->start_mark.line + 1 : 1ul, msg);
    return TR_E_CONFIG;
}

static const yaml_node_t *ynode(struct ycx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

/*
 * Check that n is a mapping whose keys are all in names[] (at most once each) and point vals[i]
 * at the value of names[i], or NULL when absent. where is the mapping's dotted path ("" = root).
 */
static int ymap(struct ycx *c, const yaml_node_t *n, const char *where, const char *const *names,
                size_t nnames, const yaml_node_t **vals)
{
    size_t i;

    if (nnames > MAP_KEYS_MAX)
        return TR_E_INTERNAL;
    for (i = 0; i < nnames; i++)
        vals[i] = NULL;
    if (n->type != YAML_MAPPING_NODE)
        return yfail(c, n, "'%s' must be a mapping", *where ? where : "(root)");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ynode(c, p->key);
        const char *key;
        if (!k || k->type != YAML_SCALAR_NODE)
            return yfail(c, k, "keys must be plain strings");
        key = (const char *)k->data.scalar.value;
        for (i = 0; i < nnames && strcmp(names[i], key) != 0; i++)
            ;
        if (i == nnames)
            return yfail(c, k, "unknown key '%s%s%.64s'", where, *where ? "." : "", key);
        if (vals[i])
            return yfail(c, k, "duplicate key '%s%s%s'", where, *where ? "." : "", key);
        vals[i] = ynode(c, p->value);
    }
    return TR_OK;
}

/* A non-empty scalar string, copied into *out (which must be NULL). */
static int ystr(struct ycx *c, const yaml_node_t *n, const char *key, char **out)
{
    const char *s;

    if (n->type != YAML_SCALAR_NODE)
        return yfail(c, n, "'%s' must be a string", key);
    s = (const char *)n->data.scalar.value;
    if (!*s)
        return yfail(c, n, "'%s' must not be empty", key);
    if (strlen(s) != n->data.scalar.length)
        return yfail(c, n, "'%s' must not contain NUL bytes", key);
    if (!(*out = strdup(s)))
        return TR_E_NOMEM;
    return TR_OK;
}

static int ystr_opt(struct ycx *c, const yaml_node_t *n, const char *key, char **out)
{
    return n ? ystr(c, n, key, out) : TR_OK;
}

/* ---- auth ----------------------------------------------------------------------------------- */

static int auth_approle(struct ycx *c, struct agent_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"role_id_file", "secret_id_file", "mount"};
    const yaml_node_t *v[3];
    int rc;

    if ((rc = ymap(c, n, "auth.approle", keys, 3, v)) != TR_OK)
        return rc;
    if (!v[0])
        return yfail(c, n, "missing required key 'auth.approle.role_id_file'");
    cfg->auth = AGENT_AUTH_APPROLE;
    if ((rc = ystr(c, v[0], "auth.approle.role_id_file", &cfg->role_id_file)) != TR_OK ||
        (rc = ystr_opt(c, v[1], "auth.approle.secret_id_file", &cfg->secret_id_file)) != TR_OK ||
        (rc = ystr_opt(c, v[2], "auth.approle.mount", &cfg->mount)) != TR_OK)
        return rc;
    if (!cfg->mount && !(cfg->mount = strdup("approle")))
        return TR_E_NOMEM;
    return TR_OK;
}

static int auth_k8s(struct ycx *c, struct agent_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"role", "token_file", "mount"};
    const yaml_node_t *v[3];
    int rc;

    if ((rc = ymap(c, n, "auth.kubernetes", keys, 3, v)) != TR_OK)
        return rc;
    if (!v[0])
        return yfail(c, n, "missing required key 'auth.kubernetes.role'");
    cfg->auth = AGENT_AUTH_K8S;
    if ((rc = ystr(c, v[0], "auth.kubernetes.role", &cfg->k8s_role)) != TR_OK ||
        (rc = ystr_opt(c, v[1], "auth.kubernetes.token_file", &cfg->k8s_token_file)) != TR_OK ||
        (rc = ystr_opt(c, v[2], "auth.kubernetes.mount", &cfg->mount)) != TR_OK)
        return rc;
    if (!cfg->k8s_token_file && !(cfg->k8s_token_file = strdup(AGENT_K8S_TOKEN_FILE)))
        return TR_E_NOMEM;
    if (!cfg->mount && !(cfg->mount = strdup("kubernetes")))
        return TR_E_NOMEM;
    return TR_OK;
}

static int auth_block(struct ycx *c, struct agent_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"token_file", "approle", "kubernetes"};
    const yaml_node_t *v[3];
    int rc;

    if ((rc = ymap(c, n, "auth", keys, 3, v)) != TR_OK)
        return rc;
    if (!!v[0] + !!v[1] + !!v[2] != 1)
        return yfail(c, n, "'auth' needs exactly one of token_file, approle or kubernetes");
    if (v[0]) {
        cfg->auth = AGENT_AUTH_TOKEN_FILE;
        return ystr(c, v[0], "auth.token_file", &cfg->token_file);
    }
    return v[1] ? auth_approle(c, cfg, v[1]) : auth_k8s(c, cfg, v[2]);
}

/* ---- templates ------------------------------------------------------------------------------ */

static int tmpl_perms(struct ycx *c, const yaml_node_t *n, const char *key, mode_t *out)
{
    unsigned long m = 0;
    const char *s;
    size_t i;

    if (n->type != YAML_SCALAR_NODE)
        return yfail(c, n, "'%s' must be an octal mode such as \"0400\"", key);
    s = (const char *)n->data.scalar.value;
    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '7' || i >= 4)
            return yfail(c, n, "'%s' must be an octal mode such as \"0400\"", key);
        m = m * 8 + (unsigned long)(s[i] - '0');
    }
    if (i == 0 || m > 0777)
        return yfail(c, n, "'%s' must be an octal mode such as \"0400\"", key);
    if (m & 0007)
        return yfail(c, n, "'%s' must not give any access to other users (%04lo)", key, m);
    if (!(m & 0400))
        return yfail(c, n, "'%s' must let the owner read the file (%04lo)", key, m);
    *out = (mode_t)m;
    return TR_OK;
}

static int tmpl_command(struct ycx *c, const yaml_node_t *n, const char *key, char ***out)
{
    size_t count, i = 0;
    char **argv;
    int rc;

    if (n->type != YAML_SEQUENCE_NODE)
        return yfail(c, n, "'%s' must be a list of strings ([\"/bin/sh\", \"-c\", \"...\"])", key);
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0 || count > AGENT_COMMAND_ARGS)
        return yfail(c, n, "'%s' must have 1 to %d items", key, AGENT_COMMAND_ARGS);
    if (!(argv = calloc(count + 1, sizeof(*argv))))
        return TR_E_NOMEM;
    *out = argv; /* owned by the template from here, even if an item fails */
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        const yaml_node_t *item = ynode(c, *it);
        if (!item)
            return yfail(c, n, "'%s' has a bad item", key);
        if ((rc = ystr(c, item, key, &argv[i])) != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int tmpl_signal(struct ycx *c, const yaml_node_t *n, const char *key, int *out)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
                {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
    const char *s;

    if (n->type == YAML_SCALAR_NODE) {
        s = (const char *)n->data.scalar.value;
        if (strncmp(s, "SIG", 3) == 0)
            s += 3;
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
            if (strcmp(sigs[i].name, s) == 0) {
                *out = sigs[i].sig;
                return TR_OK;
            }
        }
    }
    return yfail(c, n, "'%s' must be one of HUP, INT, QUIT, TERM, USR1, USR2", key);
}

/* contents | source | secret + field, into t->tmpl. */
static int tmpl_body(struct ycx *c, struct agent_template *t, const char *where,
                     const yaml_node_t *const *v)
{
    const yaml_node_t *contents = v[2], *source = v[3], *secret = v[4], *field = v[5];
    char key[KEY_PATH_MAX], why[256], *path = NULL, *text = NULL;
    size_t len = 0;
    int rc;

    if (!!contents + !!source + !!secret != 1 || !secret != !field)
        return yfail(c, v[0], "'%s' needs exactly one of contents, source, or secret with field",
                     where);
    if (secret) {
        char *f = NULL, fkey[KEY_PATH_MAX];
        snprintf(key, sizeof(key), "%.40s.secret", where);
        snprintf(fkey, sizeof(fkey), "%.40s.field", where);
        if ((rc = ystr(c, secret, key, &path)) == TR_OK &&
            (rc = ystr(c, field, fkey, &f)) == TR_OK &&
            (rc = agent_tmpl_new_field(path, f, &t->tmpl)) == TR_E_INVAL)
            rc = yfail(c, secret, "'%s' or its field is too long", key);
        free(path);
        free(f);
        return rc;
    }
    snprintf(key, sizeof(key), "%.40s.%s", where, contents ? "contents" : "source");
    if (contents && contents->type != YAML_SCALAR_NODE)
        return yfail(c, contents, "'%s' must be a string", key);
    if (source) {
        if ((rc = ystr(c, source, key, &path)) != TR_OK)
            return rc;
        rc = cli_input_file(path, &text, &len);
        free(path);
        if (rc != TR_OK)
            return yfail(c, source, "cannot read the file named by '%s': %s", key, tr_strerror(rc));
    }
    rc = agent_tmpl_parse(source ? text : (const char *)contents->data.scalar.value,
                          source ? len : contents->data.scalar.length, &t->tmpl, why, sizeof(why));
    cli_secret_free(text, len);
    if (rc != TR_OK && rc != TR_E_NOMEM)
        return yfail(c, source ? source : contents, "bad template in '%s': %s", key, why);
    return rc;
}

static int tmpl_one(struct ycx *c, struct agent_template *t, size_t idx, const yaml_node_t *n)
{
    static const char *const keys[] = {"destination", "perms",   "contents", "source",  "secret",
                                       "field",       "command", "signal",   "pid_file"};
    const yaml_node_t *v[9];
    char where[32], key[KEY_PATH_MAX];
    int rc;

    snprintf(where, sizeof(where), "templates[%zu]", idx);
    t->perms = AGENT_DEFAULT_PERMS;
    t->line = (unsigned long)n->start_mark.line + 1;
    if ((rc = ymap(c, n, where, keys, 9, v)) != TR_OK)
        return rc;
    if (!v[0])
        return yfail(c, n, "missing required key '%s.destination'", where);
    snprintf(key, sizeof(key), "%s.destination", where);
    if ((rc = ystr(c, v[0], key, &t->destination)) != TR_OK)
        return rc;
    snprintf(key, sizeof(key), "%s.perms", where);
    if (v[1] && (rc = tmpl_perms(c, v[1], key, &t->perms)) != TR_OK)
        return rc;
    if ((rc = tmpl_body(c, t, where, v)) != TR_OK)
        return rc;
    snprintf(key, sizeof(key), "%s.command", where);
    if (v[6] && (rc = tmpl_command(c, v[6], key, &t->command)) != TR_OK)
        return rc;
    if (!v[7] != !v[8])
        return yfail(c, n, "'%s': signal and pid_file go together", where);
    snprintf(key, sizeof(key), "%s.signal", where);
    if (v[7] && (rc = tmpl_signal(c, v[7], key, &t->signal)) != TR_OK)
        return rc;
    snprintf(key, sizeof(key), "%s.pid_file", where);
    return ystr_opt(c, v[8], key, &t->pid_file);
}

static int templates(struct ycx *c, struct agent_config *cfg, const yaml_node_t *n)
{
    size_t count, i = 0;
    int rc;

    if (n->type != YAML_SEQUENCE_NODE)
        return yfail(c, n, "'templates' must be a list");
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0 || count > AGENT_TEMPLATES_MAX)
        return yfail(c, n, "'templates' must have 1 to %d items", AGENT_TEMPLATES_MAX);
    if (!(cfg->templates = calloc(count, sizeof(*cfg->templates))))
        return TR_E_NOMEM;
    cfg->ntemplates = count;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        const yaml_node_t *item = ynode(c, *it);
        if (!item)
            return yfail(c, n, "'templates' has a bad item");
        if ((rc = tmpl_one(c, &cfg->templates[i], i, item)) != TR_OK)
            return rc;
    }
    /* Two templates writing one file would fight over it on every pass. */
    for (i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (strcmp(cfg->templates[i].destination, cfg->templates[j].destination) == 0)
                return yfail(c, n, "templates[%zu] and templates[%zu] have the same destination", i,
                             j);
    return TR_OK;
}

/* ---- root ----------------------------------------------------------------------------------- */

static int root_map(struct ycx *c, struct agent_config *cfg, const yaml_node_t *root)
{
    static const char *const keys[] = {"address",          "ca_cert",        "auth",
                                       "refresh_interval", "readiness_file", "templates"};
    const yaml_node_t *v[6];
    int rc;

    if ((rc = ymap(c, root, "", keys, 6, v)) != TR_OK)
        return rc;
    if ((rc = ystr_opt(c, v[0], "address", &cfg->address)) != TR_OK ||
        (rc = ystr_opt(c, v[1], "ca_cert", &cfg->ca_cert)) != TR_OK ||
        (v[2] && (rc = auth_block(c, cfg, v[2])) != TR_OK) ||
        (rc = ystr_opt(c, v[4], "readiness_file", &cfg->readiness_file)) != TR_OK)
        return rc;
    cfg->refresh_secs = AGENT_DEFAULT_REFRESH;
    if (v[3] && (v[3]->type != YAML_SCALAR_NODE ||
                 !tr_parse_duration((const char *)v[3]->data.scalar.value, &cfg->refresh_secs) ||
                 cfg->refresh_secs < 1 || cfg->refresh_secs > 7 * 86400))
        return yfail(c, v[3], "'refresh_interval' must be a duration from 1s to 168h (60s, 5m)");
    if (!v[5])
        return yfail(c, root, "missing required key 'templates'");
    return templates(c, cfg, v[5]);
}

int agent_config_load(const char *path, struct agent_config **out, char *err, size_t errlen)
{
    struct ycx c = {.file = path, .err = err, .errlen = errlen};
    struct agent_config *cfg = NULL;
    const yaml_node_t *root;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_parser = false, have_doc = false;
    FILE *fp = NULL;
    int rc = TR_E_NOMEM;

    *out = NULL;
    if (!(fp = fopen(path, "re"))) {
        snprintf(err, errlen, "%s: cannot open the config file", path);
        rc = TR_E_IO;
        goto out;
    }
    if (!(cfg = calloc(1, sizeof(*cfg))) || !yaml_parser_initialize(&parser))
        goto out;
    have_parser = true;
    yaml_parser_set_input_file(&parser, fp);
    rc = TR_E_CONFIG;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%lu: YAML syntax error: %s", path,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unknown");
        goto out;
    }
    have_doc = true;
    c.doc = &doc;
    if (!(root = yaml_document_get_root_node(&doc))) {
        snprintf(err, errlen, "%s:1: the config file is empty", path);
        goto out;
    }
    if ((rc = root_map(&c, cfg, root)) != TR_OK)
        goto out;
    *out = cfg;
    cfg = NULL;
    rc = TR_OK;
out:
    if (rc == TR_E_NOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    if (fp)
        fclose(fp);
    agent_config_free(cfg);
    return rc;
}

void agent_config_free(struct agent_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->ntemplates; i++) {
        struct agent_template *t = &cfg->templates[i];
        free(t->destination);
        free(t->pid_file);
        agent_tmpl_free(t->tmpl);
        for (size_t j = 0; t->command && t->command[j]; j++)
            free(t->command[j]);
        free(t->command);
    }
    free(cfg->templates);
    free(cfg->address);
    free(cfg->ca_cert);
    free(cfg->token_file);
    free(cfg->role_id_file);
    free(cfg->secret_id_file);
    free(cfg->k8s_role);
    free(cfg->k8s_token_file);
    free(cfg->mount);
    free(cfg->readiness_file);
    free(cfg);
}
