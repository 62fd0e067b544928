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

/* cmd_operator.c */
extern const struct cli_cmd cli_operator_cmds[];

/* cmd_kv.c */
extern const struct cli_cmd cli_kv_cmds[];

/* cmd_token.c */
extern const struct cli_cmd cli_token_cmds[];
int cli_cmd_login(struct cli_ctx *ctx, int argc, char **argv);

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
