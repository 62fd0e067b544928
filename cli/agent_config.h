/*
 * agent_config - the `tresor agent` configuration file (YAML, read with libyaml).
 *
 * As strict as the server's config: an unknown or duplicate key, a wrong type, an empty value,
 * a bad duration or mode, or a template that does not scan is an error naming the file, the line
 * and the key ("agent.yaml:7: unknown key 'auth.approle.role'"). Every template is parsed here,
 * so a bad one stops the agent before it authenticates. Reference: docs/cli.md, "tresor agent".
 *
 * Verbs: agent_config_load, agent_config_free. The struct is plain data read by cmd_agent.c;
 * strings are owned by it. Holds no secrets: only file paths and template text (a template's
 * literal text is configuration; the values it names are fetched at render time).
 * Thread-safety: none. Knows nothing about HTTP.
 */
#ifndef CLI_AGENT_CONFIG_H
#define CLI_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/tr_err.h"
#include "agent_tmpl.h"

#define AGENT_TEMPLATES_MAX   256
#define AGENT_COMMAND_ARGS    64
#define AGENT_DEFAULT_REFRESH 300 /* seconds: Vault Agent's static secret render interval */
#define AGENT_DEFAULT_PERMS   0400
#define AGENT_K8S_TOKEN_FILE  "/var/run/secrets/kubernetes.io/serviceaccount/token"

enum agent_auth_method {
    AGENT_AUTH_NONE = 0,   /* no auth block: the CLI's usual token (TRESOR_TOKEN, ...) */
    AGENT_AUTH_TOKEN_FILE, /* auth.token_file: a token someone else owns; re-read every pass */
    AGENT_AUTH_APPROLE,    /* auth.approle: login with role_id + secret_id files */
    AGENT_AUTH_K8S,        /* auth.kubernetes: login with the service account JWT */
};

struct agent_template {
    char *destination;
    mode_t perms;            /* owner-readable, never any "other" bit */
    char **command;          /* argv, NULL-terminated, or NULL for none */
    char *pid_file;          /* with signal: whom to signal after a change */
    int signal;              /* SIGHUP, ...; 0 for none */
    struct agent_tmpl *tmpl; /* contents, source file or secret+field, parsed */
    unsigned long line;      /* of the template in the config file, for messages */
};

struct agent_config {
    char *address; /* NULL: flag, TRESOR_ADDR/VAULT_ADDR or the default */
    char *ca_cert; /* NULL: flag or TRESOR_CACERT/VAULT_CACERT */
    enum agent_auth_method auth;
    char *token_file;                    /* AGENT_AUTH_TOKEN_FILE */
    char *role_id_file, *secret_id_file; /* AGENT_AUTH_APPROLE (secret_id_file may be NULL) */
    char *k8s_role, *k8s_token_file;     /* AGENT_AUTH_K8S */
    char *mount;                         /* login mount: "approle"/"kubernetes" by default */
    int64_t refresh_secs;                /* >= 1 */
    char *readiness_file;                /* NULL: none */
    struct agent_template *templates;
    size_t ntemplates; /* >= 1 */
};

/*
 * agent_config_load - read and check the file at path.
 * Out: *out owned (agent_config_free). err (errlen bytes) says where and why on failure.
 * Errors: TR_E_IO (cannot open the file), TR_E_CONFIG (anything wrong in it, including a
 * template `source` that cannot be read), TR_E_NOMEM.
 */
TR_MUST_CHECK int agent_config_load(const char *path, struct agent_config **out, char *err,
                                    size_t errlen);

/* agent_config_free - release cfg and everything it owns. NULL-safe. */
void agent_config_free(struct agent_config *cfg);

#endif
