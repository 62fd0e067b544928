/*
 * cmd - the command framework every cli/cmd_*.c file builds on: the command tree, the context
 * handed to a command, flag parsing with -h, exit codes, and API helpers that print errors.
 *
 * A command is a row in a NULL-terminated struct cli_cmd table (commands.h lists them); a group
 * row has `sub` instead of `run`. A run function parses its flags with cli_cmd_parse, talks to
 * the server with cli_api, prints with cli_show, and returns an exit code (enum cli_exit), never
 * a tr_err: this is the one layer where the two meet.
 * Adding a command (agent, run, ...) = one new cmd_*.c exporting a table, one line in commands.h,
 * one row in main.c.
 * Thread-safety: none; the CLI is single-threaded.
 */
#ifndef CLI_CMD_H
#define CLI_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "flags.h"
#include "http.h"
#include "output.h"

#define TRESOR_CLI_VERSION "0.1.0"

/* Process exit codes (documented in `tresor -h` and docs/cli.md). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_LOCAL = 1,    /* usage error, bad local input, TLS or connection failure */
    CLI_EXIT_SERVER = 2,   /* the server answered with an error (status: sealed) */
    CLI_EXIT_NOTFOUND = 3, /* the server answered 404 */
};

/* Returned by cli_cmd_parse when the command should go on. */
#define CLI_CONTINUE (-1)

struct cli_ctx;

struct cli_cmd {
    const char *name;
    const char *args;    /* positional synopsis ("PATH [K=V...]"), "" when none */
    const char *summary; /* one line, shown in group listings */
    const char *help;    /* paragraph shown by -h, or NULL */
    int (*run)(struct cli_ctx *ctx, int argc, char **argv); /* NULL for a group */
    const struct cli_cmd *sub; /* group members, ended by a zeroed row */
};

struct cli_ctx {
    struct cli_config cfg;
    struct cli_http *http;      /* opened by the first request; owned */
    const struct cli_cmd *root; /* top-level table; borrowed */
    const struct cli_cmd *cmd;  /* the command being run; borrowed */
    char name[128];             /* "tresor kv metadata get", for usage and messages */
};

/* cli_ctx_init / cli_ctx_fini - set up and tear down (wipes the token, closes the client). */
void cli_ctx_init(struct cli_ctx *ctx, const struct cli_cmd *root);
void cli_ctx_fini(struct cli_ctx *ctx);

/* cli_cmd_dispatch - find argv[0] in table and run it (recursing into groups). -h on a group lists
 * its members. Returns the exit code. */
int cli_cmd_dispatch(struct cli_ctx *ctx, const struct cli_cmd *table, int argc, char **argv);

/*
 * cli_cmd_parse - parse the command's flags plus the global ones, leaving the positional
 * arguments in argv[0..*argc); then resolve the configuration.
 * Returns CLI_CONTINUE, CLI_EXIT_OK after printing -h, or CLI_EXIT_LOCAL after printing why.
 */
int cli_cmd_parse(struct cli_ctx *ctx, const struct cli_flag *flags, size_t nflags, int *argc,
                  char **argv);

/* cli_cmd_parse_offline - the same for commands that never talk to the server (completion,
 * version, audit verify): the environment is not consulted, so a bad TRESOR_* variable cannot
 * break them. Global flags are accepted and ignored. */
int cli_cmd_parse_offline(struct cli_ctx *ctx, const struct cli_flag *flags, size_t nflags,
                          int *argc, char **argv);

/* cli_cmd_usage - the command's help: synopsis, help text, its flags and the global ones. */
void cli_cmd_usage(struct cli_ctx *ctx, FILE *fp, const struct cli_flag *flags, size_t nflags);

/* cli_usage_error - print "tresor X: <msg>" and a hint to run -h; returns CLI_EXIT_LOCAL. */
int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cli_fail - print "tresor X: <msg>" to stderr and return code. */
int cli_fail(struct cli_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * cli_api_send - send rq (adding the configured token when rq->token is NULL) and return
 * CLI_EXIT_OK with *out filled for any HTTP answer, or CLI_EXIT_LOCAL after printing a
 * transport, TLS or configuration error (then *out is zeroed). Free *out with cli_resp_free.
 */
int cli_api_send(struct cli_ctx *ctx, const struct cli_req *rq, struct cli_resp *out);

/* cli_api_fail - print the server's error for a non-2xx answer: what failed ("reading
 * secret/foo"), the status, the URL and the server's error strings. Returns CLI_EXIT_NOTFOUND
 * for 404, else CLI_EXIT_SERVER. */
int cli_api_fail(struct cli_ctx *ctx, const char *what, const struct cli_req *rq,
                 const struct cli_resp *r);

/* cli_api - cli_api_send, then cli_api_fail unless the status is 2xx. *out is filled either way
 * when an answer came (callers may look at a 404 body); free it with cli_resp_free. */
int cli_api(struct cli_ctx *ctx, const char *what, const struct cli_req *rq, struct cli_resp *out);

/*
 * cli_api_login - POST auth/<mount>/login with body (borrowed), sending no token whatever is
 * configured. On a 200 answer carrying auth.client_token: CLI_EXIT_OK, *out filled (free with
 * cli_resp_free) and *out_token borrowed from it (valid until cli_resp_free). Otherwise prints
 * why ("login at auth/<mount>/login refused: server answered N" and the server's errors, or a
 * transport error), frees *out and returns CLI_EXIT_LOCAL, CLI_EXIT_SERVER or CLI_EXIT_NOTFOUND
 * (no such mount). Nothing printed names a credential.
 */
int cli_api_login(struct cli_ctx *ctx, const char *mount, const json_t *body, struct cli_resp *out,
                  const char **out_token);

/* cli_show - cli_output with the configured format and -field; returns an exit code. */
int cli_show(struct cli_ctx *ctx, const json_t *raw, const struct cli_section *secs, size_t n);

/* cli_success - print a confirmation line on stdout, but only in table format (machine formats
 * stay parseable). */
void cli_success(struct cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * cli_secret_arg - a secret named on the command line: arg itself, "-" = one line from stdin,
 * NULL = a hidden prompt when stdin is a terminal. label names it in the prompt and errors.
 * Out: *out (cli_secret_free(*out, *out_len)). Returns CLI_EXIT_OK or CLI_EXIT_LOCAL (printed).
 */
int cli_secret_arg(struct cli_ctx *ctx, const char *arg, const char *label, char **out,
                   size_t *out_len);

/* cli_data_obj - resp->json's "data" member when it is an object, else NULL. Borrowed. */
json_t *cli_data_obj(const struct cli_resp *r);

#endif
