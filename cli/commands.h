/*
 * commands - the entry points of the cli/cmd_*.c files, wired into the tree by main.c.
 *
 * Each run function has the cli_cmd signature: it gets the arguments after its own name and
 * returns an exit code. Groups export their member table.
 */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

#include <jansson.h>

#include "cmd.h"

/* cmd_sys.c */
int cli_cmd_status(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_read(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_write(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_delete(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_list(struct cli_ctx *ctx, int argc, char **argv);
extern const struct cli_cmd cli_secrets_cmds[];
/* cli_status_show - print seal-status (+ leader, may be NULL) as `status` does; both borrowed.
 * Returns CLI_EXIT_OK or CLI_EXIT_LOCAL (output failed). */
int cli_status_show(struct cli_ctx *ctx, const json_t *seal, const json_t *leader);
/* cli_show_response - the generic view of an API answer (data, auth, or the raw object), with
 * its warnings on stderr. Used by read/write and by commands without a dedicated layout. */
int cli_show_response(struct cli_ctx *ctx, const json_t *raw);
/* cli_print_warnings - raw's "warnings" (Vault's CalculateTTL caps, lower-cased names, ...) on
 * stderr, as the vault CLI shows them; nothing when there are none. */
void cli_print_warnings(const json_t *raw);

/* cmd_operator.c */
extern const struct cli_cmd cli_operator_cmds[];

/* cmd_kv.c */
extern const struct cli_cmd cli_kv_cmds[];

/* cmd_token.c */
extern const struct cli_cmd cli_token_cmds[];
int cli_cmd_login(struct cli_ctx *ctx, int argc, char **argv);
/* cli_login_store - store tok (len bytes, borrowed) with the token helper and say so (table
 * format only); warns when TRESOR_TOKEN/VAULT_TOKEN would shadow it. CLI_EXIT_OK or
 * CLI_EXIT_LOCAL (printed). */
int cli_login_store(struct cli_ctx *ctx, const char *tok, size_t len);
/* cli_show_auth - the vault CLI's view of raw's auth block (token, token_accessor,
 * token_duration, policies, token_meta_*), its warnings on stderr; unless show_token, auth.client_token is wiped and
 * removed from raw first, so no format prints it. Returns an exit code. */
int cli_show_auth(struct cli_ctx *ctx, json_t *raw, bool show_token);

/* cmd_login.c */
/* Where a pod's service-account token is mounted: the default jwt of -method=kubernetes. */
#define CLI_K8S_TOKEN_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"
/* cli_login_method - `login -method=M` for approle, cert and kubernetes: argv holds the K=V
 * arguments (the flags are parsed); mount is -path or NULL (the method's name). */
int cli_login_method(struct cli_ctx *ctx, const char *method, const char *mount, bool no_store,
                     int argc, char **argv);

/* cmd_transit.c */
extern const struct cli_cmd cli_transit_cmds[];

/* cmd_policy.c */
extern const struct cli_cmd cli_policy_cmds[];

/* cmd_audit.c */
extern const struct cli_cmd cli_audit_cmds[];

/* cmd_completion.c */
int cli_cmd_completion(struct cli_ctx *ctx, int argc, char **argv);

/* cmd_agent.c */
int cli_cmd_agent(struct cli_ctx *ctx, int argc, char **argv);

/* cmd_run.c */
int cli_cmd_run(struct cli_ctx *ctx, int argc, char **argv);

#endif
