/*
 * tresor - the Tresor command-line client. A thin HTTPS client of the Vault-compatible API: it
 * links no server code. main wires the command tree (one row per command file; add `agent`,
 * `run`, ... here) and hardens the process, since it handles unseal shares and tokens.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "commands.h"

#ifndef TR_SANITIZE_BUILD
#define TR_SANITIZE_BUILD 0
#endif

static int cmd_version(struct cli_ctx *ctx, int argc, char **argv)
{
    int rc;

    if ((rc = cli_cmd_parse_offline(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    printf("tresor %s\n", TRESOR_CLI_VERSION);
    return CLI_EXIT_OK;
}

static const struct cli_cmd root[] = {
    {"status", "", "show the seal status (exit 0 unsealed, 2 sealed, 1 error)", NULL,
     cli_cmd_status, NULL},
    {"login", "[TOKEN|-] | -method=M [K=V...]", "log in and store the token in ~/.tresor-token",
     "-method=token (default): without TOKEN it is prompted for (hidden) when stdin is a\n"
     "terminal; - reads it from stdin. The token is checked with GET auth/token/lookup-self.\n"
     "Other methods POST auth/MOUNT/login (no token sent; MOUNT is -path, default the method)\n"
     "and print the new token, as the vault CLI does:\n"
     "  -method=approle role_id=ID [secret_id=-|@FILE]  secret_id is prompted (hidden) when\n"
     "                      missing; secret_id= (empty) for a role that needs none\n"
     "  -method=cert [name=ROLE]  with -client-cert/-client-key (or TRESOR_CLIENT_CERT/KEY)\n"
     "  -method=kubernetes role=R [jwt=@FILE|-]  jwt defaults to the file\n"
     "                      " CLI_K8S_TOKEN_FILE "\n"
     "A value is V, @FILE or - (stdin); files and stdin are trimmed of blanks and newlines.\n"
     "The token is written atomically with mode 0600 (not with -no-store). TRESOR_TOKEN,\n"
     "VAULT_TOKEN and -token-file take precedence over the stored token.",
     cli_cmd_login, NULL},
    {"operator", "", "init, unseal, seal, rotate, backup, recover", NULL, NULL, cli_operator_cmds},
    {"kv", "", "read and write KV secrets (v1 and v2)", NULL, NULL, cli_kv_cmds},
    {"token", "", "create, look up, renew and revoke tokens", NULL, NULL, cli_token_cmds},
    {"transit", "", "encryption as a service: keys, encrypt, decrypt, sign, verify", NULL, NULL,
     cli_transit_cmds},
    {"policy", "", "write, read, list and delete ACL policies", NULL, NULL, cli_policy_cmds},
    {"secrets", "", "enable, disable and list secrets engines", NULL, NULL, cli_secrets_cmds},
    {"audit", "", "audit log tools", NULL, NULL, cli_audit_cmds},
    {"read", "PATH [K=V...]", "GET /v1/PATH (K=V become query parameters)", NULL, cli_cmd_read,
     NULL},
    {"write", "PATH [K=V...|-]", "PUT /v1/PATH with the data as a JSON body",
     "Data: K=V, K=@FILE, K=- (stdin), K alone (prompted), - (JSON object on stdin).",
     cli_cmd_write, NULL},
    {"delete", "PATH [K=V...]", "DELETE /v1/PATH", NULL, cli_cmd_delete, NULL},
    {"list", "PATH", "list keys under PATH (GET /v1/PATH?list=true)", NULL, cli_cmd_list, NULL},
    {"agent", "", "render secrets into files and keep them current (-config FILE [-once])",
     "Authenticates (token file, AppRole or Kubernetes login), renders every template of the\n"
     "config into its file (atomic write, mode from perms, default 0400), writes the readiness\n"
     "file after the first full render, then re-renders every refresh_interval, rewriting a\n"
     "file and running its command only when its content changed. SIGHUP renders now;\n"
     "SIGTERM/SIGINT revoke a token obtained by login and exit 0. -once renders once and exits\n"
     "(non-zero if anything failed). Config reference: docs/cli.md.",
     cli_cmd_agent, NULL},
    {"run", "-- CMD [ARGS...]", "run CMD with tresor://MOUNT/PATH#FIELD variables resolved",
     "Every environment variable (and -env-file line) whose value is tresor://MOUNT/PATH#FIELD\n"
     "is replaced by that field of the KV secret, then CMD is exec'd with that environment.\n"
     "Values are never printed. A reference that cannot be resolved stops before CMD runs,\n"
     "naming the variable (exit 3 not found, 2 server error, 1 local error); 127/126 when CMD\n"
     "cannot be found/executed. Put -- before CMD when it has options of its own.",
     cli_cmd_run, NULL},
    {"completion", "bash|zsh|fish", "print a shell completion script", NULL, cli_cmd_completion,
     NULL},
    {"version", "", "print the client version", NULL, cmd_version, NULL},
    {0},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: tresor <command> [options] [args]\n\nCommands:\n");
    for (const struct cli_cmd *c = root; c->name; c++)
        fprintf(fp, "  %-12s %s\n", c->name, c->summary);
    fprintf(fp,
            "\nRun 'tresor <command> -h' for a command's options.\n\n"
            "Environment (TRESOR_* wins over the VAULT_* alias; flags win over both):\n"
            "  TRESOR_ADDR             server URL (default %s)\n"
            "  TRESOR_TOKEN            token (else ~/.tresor-token, written by `tresor login`)\n"
            "  TRESOR_CACERT           PEM file of CA certificates for the server\n"
            "  TRESOR_CAPATH           directory of PEM CA certificates\n"
            "  TRESOR_CLIENT_CERT      PEM client certificate (with TRESOR_CLIENT_KEY)\n"
            "  TRESOR_CLIENT_KEY       PEM client private key\n"
            "  TRESOR_TLS_SERVER_NAME  name to send as SNI and to verify the certificate against\n"
            "  TRESOR_SKIP_VERIFY      true/false: skip certificate verification (insecure)\n"
            "  TRESOR_FORMAT           table, json, yaml or env\n"
            "  TRESOR_CLIENT_TIMEOUT   request timeout (seconds or 30s, 2m; default %ds)\n\n"
            "Exit codes:\n"
            "  0  success\n"
            "  1  local or usage error: bad arguments or input, TLS or connection failure\n"
            "  2  the server answered with an error (for `status`: the server is sealed)\n"
            "  3  not found: the server answered 404\n",
            CLI_DEFAULT_ADDR, CLI_DEFAULT_TIMEOUT);
}

/* The CLI holds unseal shares and tokens in memory: keep them out of core dumps and away from
 * ptrace by other processes of the same user. Sanitizer builds keep ptrace (LeakSanitizer
 * needs it). */
static void harden_process(void)
{
    struct rlimit rl = {0, 0};

    setrlimit(RLIMIT_CORE, &rl);
    if (!TR_SANITIZE_BUILD)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
    struct cli_ctx ctx;
    int rc;

    harden_process();
    /* A server closing the TLS connection early must be an error, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "-help") ||
        !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_LOCAL : CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "-version") || !strcmp(argv[1], "--version")) {
        printf("tresor %s\n", TRESOR_CLI_VERSION);
        return CLI_EXIT_OK;
    }
    cli_ctx_init(&ctx, root);
    rc = cli_cmd_dispatch(&ctx, root, argc - 1, argv + 1);
    cli_ctx_fini(&ctx);
    fflush(stdout);
    return rc;
}
