#include "cmd.h"

#include <stdarg.h>
#include <string.h>

#include "input.h"

void cli_ctx_init(struct cli_ctx *ctx, const struct cli_cmd *root)
{
    memset(ctx, 0, sizeof(*ctx));
    cli_config_init(&ctx->cfg);
    ctx->root = root;
    snprintf(ctx->name, sizeof(ctx->name), "tresor");
}

void cli_ctx_fini(struct cli_ctx *ctx)
{
    cli_http_free(ctx->http);
    ctx->http = NULL;
    cli_config_fini(&ctx->cfg);
}

static void group_usage(struct cli_ctx *ctx, FILE *fp, const struct cli_cmd *table)
{
    fprintf(fp, "usage: %s <command> [options] [args]\n\nCommands:\n", ctx->name);
    for (const struct cli_cmd *c = table; c->name; c++)
        fprintf(fp, "  %-18s %s\n", c->name, c->summary);
    fprintf(fp, "\nRun '%s <command> -h' for a command's options.\n", ctx->name);
}

int cli_cmd_dispatch(struct cli_ctx *ctx, const struct cli_cmd *table, int argc, char **argv)
{
    size_t off = strlen(ctx->name);

    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "-help") ||
        !strcmp(argv[0], "--help")) {
        group_usage(ctx, argc < 1 ? stderr : stdout, table);
        return argc < 1 ? CLI_EXIT_LOCAL : CLI_EXIT_OK;
    }
    for (const struct cli_cmd *c = table; c->name; c++) {
        if (strcmp(c->name, argv[0]) != 0)
            continue;
        snprintf(ctx->name + off, sizeof(ctx->name) - off, " %s", c->name);
        if (c->sub)
            return cli_cmd_dispatch(ctx, c->sub, argc - 1, argv + 1);
        ctx->cmd = c;
        return c->run(ctx, argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: unknown command \"%s\" (see %s -h)\n", ctx->name, argv[0], ctx->name);
    return CLI_EXIT_LOCAL;
}

void cli_cmd_usage(struct cli_ctx *ctx, FILE *fp, const struct cli_flag *flags, size_t nflags)
{
    const struct cli_cmd *c = ctx->cmd;

    fprintf(fp, "usage: %s [options]%s%s\n\n%s\n", ctx->name, c->args[0] ? " " : "", c->args,
            c->summary);
    if (c->help)
        fprintf(fp, "\n%s\n", c->help);
    if (nflags) {
        fprintf(fp, "\nCommand options:\n");
        cli_flags_usage(fp, flags, nflags);
    }
    fprintf(fp, "\nConnection and output options:\n");
    cli_flags_usage(fp, ctx->cfg.flags, CLI_CONFIG_NFLAGS);
    fprintf(fp, "\nExit codes: 0 ok, 1 local or usage error, 2 server error, 3 not found.\n");
}

int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", ctx->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s [options]%s%s (see -h)\n", ctx->name,
            ctx->cmd && ctx->cmd->args[0] ? " " : "", ctx->cmd ? ctx->cmd->args : "");
    return CLI_EXIT_LOCAL;
}

int cli_fail(struct cli_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", ctx->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static int cmd_parse(struct cli_ctx *ctx, const struct cli_flag *flags, size_t nflags, int *argc,
                     char **argv, bool resolve)
{
    struct cli_flagset sets[2] = {{flags, nflags}, {ctx->cfg.flags, CLI_CONFIG_NFLAGS}};
    char err[256] = "out of memory";
    bool help = false;

    if (cli_flags_parse(sets, 2, argc, argv, &help, err, sizeof(err)) != TR_OK)
        return cli_usage_error(ctx, "%s", err);
    if (help) {
        cli_cmd_usage(ctx, stdout, flags, nflags);
        return CLI_EXIT_OK;
    }
    if (resolve && cli_config_resolve(&ctx->cfg, err, sizeof(err)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
    return CLI_CONTINUE;
}

int cli_cmd_parse(struct cli_ctx *ctx, const struct cli_flag *flags, size_t nflags, int *argc,
                  char **argv)
{
    return cmd_parse(ctx, flags, nflags, argc, argv, true);
}

int cli_cmd_parse_offline(struct cli_ctx *ctx, const struct cli_flag *flags, size_t nflags,
                          int *argc, char **argv)
{
    return cmd_parse(ctx, flags, nflags, argc, argv, false);
}

int cli_api_send(struct cli_ctx *ctx, const struct cli_req *rq, struct cli_resp *out)
{
    struct cli_req r = *rq;
    char err[512] = "out of memory";
    int rc;

    memset(out, 0, sizeof(*out));
    if (!ctx->http && cli_http_new(&ctx->cfg, &ctx->http, err, sizeof(err)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
    if (!r.token && !r.no_token && cli_config_token(&ctx->cfg, &r.token, err, sizeof(err)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
    if ((rc = cli_http_request(ctx->http, &r, out, err, sizeof(err))) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
    return CLI_EXIT_OK;
}

static void print_server_errors(const struct cli_resp *r)
{
    json_t *errs = r->json ? json_object_get(r->json, "errors") : NULL;
    json_t *v;
    size_t i;

    if (json_is_array(errs) && json_array_size(errs) > 0) {
        json_array_foreach(errs, i, v)
        {
            if (!json_is_string(v))
                continue;
            fputs("  * ", stderr);
            cli_print_safe(stderr, json_string_value(v), json_string_length(v));
            fputc('\n', stderr);
        }
    } else if (!r->json && r->body_len) {
        /* Not JSON (a proxy's page?): show the start of it, escaped. */
        fputs("  ", stderr);
        cli_print_safe(stderr, r->body, r->body_len < 200 ? r->body_len : 200);
        fputc('\n', stderr);
    }
}

int cli_api_fail(struct cli_ctx *ctx, const char *what, const struct cli_req *rq,
                 const struct cli_resp *r)
{
    char url[1024];

    cli_http_url(ctx->http, rq->path, url, sizeof(url));
    fprintf(stderr, "%s: error %s: server answered %d%s (%s %s)\n", ctx->name, what, r->status,
            r->status == 404 ? " (not found)" : "", cli_method_name(rq->method), url);
    print_server_errors(r);
    if (r->status == 403 && !ctx->cfg.token)
        fprintf(stderr, "(no token was sent: set TRESOR_TOKEN, or run `tresor login`)\n");
    return r->status == 404 ? CLI_EXIT_NOTFOUND : CLI_EXIT_SERVER;
}

int cli_api(struct cli_ctx *ctx, const char *what, const struct cli_req *rq, struct cli_resp *out)
{
    int rc = cli_api_send(ctx, rq, out);

    if (rc != CLI_EXIT_OK)
        return rc;
    if (out->status < 200 || out->status > 299)
        return cli_api_fail(ctx, what, rq, out);
    if (out->body_len && !out->json && out->is_json_type)
        return cli_fail(ctx, CLI_EXIT_SERVER, "error %s: the server's answer is not valid JSON",
                        what);
    return CLI_EXIT_OK;
}

int cli_show(struct cli_ctx *ctx, const json_t *raw, const struct cli_section *secs, size_t n)
{
    return cli_output(&ctx->cfg.out, raw, secs, n) == TR_OK ? CLI_EXIT_OK : CLI_EXIT_LOCAL;
}

/* A refused login, said without cli_api_fail: its "no token was sent" hint would mislead here
 * (logins never send one). The server's error strings name no credential. */
static int login_fail(struct cli_ctx *ctx, const char *path, const struct cli_resp *r)
{
    fprintf(stderr, "%s: login at %s refused: server answered %d\n", ctx->name, path, r->status);
    print_server_errors(r);
    return r->status == 404 ? CLI_EXIT_NOTFOUND : CLI_EXIT_SERVER;
}

int cli_api_login(struct cli_ctx *ctx, const char *mount, const json_t *body, struct cli_resp *out,
                  const char **out_token)
{
    char path[512];
    struct cli_req rq = {.method = CLI_POST, .path = path, .body = body, .no_token = true};
    const char *t;
    int rc;

    *out_token = NULL;
    if (snprintf(path, sizeof(path), "auth/%s/login", mount) >= (int)sizeof(path))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "the auth mount path is too long");
    if ((rc = cli_api_send(ctx, &rq, out)) != CLI_EXIT_OK)
        return rc;
    if (out->status != 200) {
        rc = login_fail(ctx, path, out);
        goto out;
    }
    t = json_string_value(json_object_get(json_object_get(out->json, "auth"), "client_token"));
    if (!t || !*t) {
        rc = cli_fail(ctx, CLI_EXIT_SERVER, "the login answer has no auth.client_token");
        goto out;
    }
    *out_token = t;
    rc = CLI_EXIT_OK;
out:
    if (rc != CLI_EXIT_OK)
        cli_resp_free(out);
    return rc;
}

void cli_success(struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    if (ctx->cfg.out.format != CLI_FMT_TABLE || ctx->cfg.out.field)
        return;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

int cli_secret_arg(struct cli_ctx *ctx, const char *arg, const char *label, char **out,
                   size_t *out_len)
{
    char prompt[128];
    int rc;

    if (arg && strcmp(arg, "-") != 0) {
        if (cli_secret_strdup(arg, strlen(arg), out) != TR_OK)
            return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
        *out_len = strlen(arg);
        return CLI_EXIT_OK;
    }
    if (arg) {
        if ((rc = cli_input_line(out, out_len)) != TR_OK)
            return cli_fail(ctx, CLI_EXIT_LOCAL, "cannot read the %s from stdin: %s", label,
                            rc == TR_E_INVAL ? "expected exactly one non-empty line"
                                             : tr_strerror(rc));
        return CLI_EXIT_OK;
    }
    if (!cli_input_is_tty())
        return cli_fail(ctx, CLI_EXIT_LOCAL,
                        "no %s given and stdin is not a terminal (pass - to read it from stdin)",
                        label);
    snprintf(prompt, sizeof(prompt), "%s (will be hidden): ", label);
    if ((rc = cli_input_prompt(prompt, out, out_len)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "cannot read the %s: %s", label, tr_strerror(rc));
    if (*out_len == 0) {
        cli_secret_free(*out, *out_len);
        *out = NULL;
        return cli_fail(ctx, CLI_EXIT_LOCAL, "empty %s", label);
    }
    return CLI_EXIT_OK;
}

json_t *cli_data_obj(const struct cli_resp *r)
{
    json_t *d = r->json ? json_object_get(r->json, "data") : NULL;
    return json_is_object(d) ? d : NULL;
}
