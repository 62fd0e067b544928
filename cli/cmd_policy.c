/*
 * cmd_policy - ACL policy CRUD on sys/policies/acl/<name> (the modern API the vault CLI uses).
 */
#include <string.h>

#include "commands.h"
#include "input.h"

static int policy_name(struct cli_ctx *ctx, const char *name, char *api, size_t len)
{
    if (!*name || strchr(name, '/'))
        return cli_usage_error(ctx, "invalid policy NAME \"%s\"", name);
    snprintf(api, len, "sys/policies/acl/%s", name);
    return CLI_CONTINUE;
}

static int policy_write(struct cli_ctx *ctx, int argc, char **argv)
{
    char api[512];
    struct cli_req rq = {.method = CLI_PUT, .path = api};
    struct cli_resp resp = {0};
    json_t *body = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 2)
        return cli_usage_error(ctx, "expected NAME and FILE (- for stdin)");
    if ((rc = policy_name(ctx, argv[0], api, sizeof(api))) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_input_file(argv[1], &text, &len)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "cannot read %s: %s",
                        strcmp(argv[1], "-") ? argv[1] : "stdin", tr_strerror(rc));
    if (len == 0 || !(body = json_pack("{s:s%}", "policy", text, len))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the policy is empty or not UTF-8 text");
        goto out;
    }
    rq.body = body;
    if ((rc = cli_api(ctx, "writing the policy", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (resp.json)
        (void)cli_show_response(ctx, resp.json);
    cli_success(ctx, "Success! Uploaded policy: %s", argv[0]);
out:
    json_decref(body);
    cli_secret_free(text, len);
    cli_resp_free(&resp);
    return rc;
}

static int policy_read(struct cli_ctx *ctx, int argc, char **argv)
{
    char api[512];
    struct cli_req rq = {.method = CLI_GET, .path = api};
    struct cli_resp resp = {0};
    json_t *data, *text;
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 1)
        return cli_usage_error(ctx, "expected exactly one NAME");
    if ((rc = policy_name(ctx, argv[0], api, sizeof(api))) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_api_send(ctx, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    data = cli_data_obj(&resp);
    text = data ? json_object_get(data, "policy") : NULL;
    if (resp.status == 404) {
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no policy named %s", argv[0]);
    } else if (resp.status != 200 || !json_is_string(text)) {
        rc = cli_api_fail(ctx, "reading the policy", &rq, &resp);
    } else {
        struct cli_section sec = {.obj = text};
        struct cli_section env = {.obj = data, .primary = true, .sorted = true};
        rc = cli_show(ctx, resp.json, ctx->cfg.out.format == CLI_FMT_ENV ? &env : &sec, 1);
    }
out:
    cli_resp_free(&resp);
    return rc;
}

static int policy_list(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_req rq = {.method = CLI_LIST, .path = "sys/policies/acl"};
    struct cli_resp resp = {0};
    json_t *keys;
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 0)
        return cli_usage_error(ctx, "takes no arguments");
    if ((rc = cli_api(ctx, "listing policies", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    keys = cli_data_obj(&resp) ? json_object_get(cli_data_obj(&resp), "keys") : NULL;
    if (!json_is_array(keys)) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the server's answer has no policy list");
    } else if (ctx->cfg.out.format == CLI_FMT_ENV) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "-format=env cannot show a list");
    } else if (ctx->cfg.out.format == CLI_FMT_TABLE && !ctx->cfg.out.field) {
        /* Like the vault CLI: bare names, one per line, easy to pipe. */
        size_t i;
        json_t *v;
        json_array_foreach(keys, i, v)
        {
            if (json_is_string(v)) {
                cli_print_safe(stdout, json_string_value(v), json_string_length(v));
                fputc('\n', stdout);
            }
        }
    } else {
        struct cli_section sec = {.obj = keys, .primary = true};
        rc = cli_show(ctx, resp.json, &sec, 1);
    }
out:
    cli_resp_free(&resp);
    return rc;
}

static int policy_delete(struct cli_ctx *ctx, int argc, char **argv)
{
    char api[512];
    struct cli_req rq = {.method = CLI_DELETE, .path = api};
    struct cli_resp resp = {0};
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 1)
        return cli_usage_error(ctx, "expected exactly one NAME");
    if ((rc = policy_name(ctx, argv[0], api, sizeof(api))) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_api(ctx, "deleting the policy", &rq, &resp)) == CLI_EXIT_OK)
        cli_success(ctx, "Success! Deleted policy: %s", argv[0]);
    cli_resp_free(&resp);
    return rc;
}

const struct cli_cmd cli_policy_cmds[] = {
    {"write", "NAME FILE|-", "create or replace a policy from FILE (- for stdin)",
     "Sends PUT sys/policies/acl/NAME {\"policy\": <file contents>} (HCL or JSON).", policy_write,
     NULL},
    {"read", "NAME", "print a policy's text", NULL, policy_read, NULL},
    {"list", "", "list policy names", NULL, policy_list, NULL},
    {"delete", "NAME", "delete a policy", NULL, policy_delete, NULL},
    {0},
};
