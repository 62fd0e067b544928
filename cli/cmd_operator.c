/*
 * cmd_operator - init, unseal, seal, rotate, and the storage backup/recover pair.
 *
 * Unseal shares and the root token pass through here: they are read with cli_secret_arg (prompt,
 * stdin, or argv when the operator insists), sent, and wiped with the JSON that carried them.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "commands.h"
#include "fsutil.h"
#include "input.h"

/* ---- init ------------------------------------------------------------------------------------ */

static int init_status(struct cli_ctx *ctx)
{
    struct cli_req rq = {.method = CLI_GET, .path = "sys/init"};
    struct cli_resp resp = {0};
    int rc;

    if ((rc = cli_api(ctx, "checking initialization", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (!json_is_boolean(json_object_get(resp.json, "initialized"))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the server's answer is not understood");
        goto out;
    }
    if (json_is_true(json_object_get(resp.json, "initialized"))) {
        cli_success(ctx, "Tresor is initialized");
        rc = CLI_EXIT_OK;
    } else {
        cli_success(ctx, "Tresor is not initialized");
        rc = CLI_EXIT_SERVER;
    }
    if (ctx->cfg.out.format != CLI_FMT_TABLE)
        rc = cli_show(ctx, resp.json, NULL, 0) == CLI_EXIT_OK ? rc : CLI_EXIT_LOCAL;
out:
    cli_resp_free(&resp);
    return rc;
}

/* The shares to show: keys_base64 when it matches keys one for one (as the vault CLI does). */
static const json_t *init_keys(const json_t *raw)
{
    const json_t *hex = json_object_get(raw, "keys"), *b64 = json_object_get(raw, "keys_base64");

    if (json_is_array(b64) && json_array_size(b64) == json_array_size(hex))
        return b64;
    return hex;
}

static void init_print_table(const json_t *keys, const char *root, int64_t shares, int64_t thr)
{
    size_t i;
    json_t *k;

    json_array_foreach(keys, i, k)
    {
        printf("Unseal Key %zu: %s\n", i + 1, json_string_value(k) ? json_string_value(k) : "?");
    }
    printf("\nInitial Root Token: %s\n\n", root);
    printf("Tresor initialized with %lld key shares and a key threshold of %lld. Distribute the\n"
           "key shares printed above to separate, trusted people. Whenever Tresor is sealed,\n"
           "restarted or stopped, %lld of these keys are needed to unseal it. Revoke the root\n"
           "token once other access is set up.\n",
           (long long)shares, (long long)thr, (long long)thr);
    fflush(stdout);
}

/* Labels for env/-field: unseal_key_1..N, root_token. Holds copies: wipe before freeing. */
static json_t *init_view(const json_t *keys, const json_t *root)
{
    json_t *o = json_object(), *k;
    char label[32];
    size_t i;

    if (!o)
        return NULL;
    json_array_foreach(keys, i, k)
    {
        snprintf(label, sizeof(label), "unseal_key_%zu", i + 1);
        json_object_set_new(o, label, json_deep_copy(k));
    }
    json_object_set_new(o, "root_token", json_deep_copy(root));
    return o;
}

static int init_show(struct cli_ctx *ctx, const json_t *raw, int64_t shares, int64_t thr)
{
    const json_t *keys = init_keys(raw), *root = json_object_get(raw, "root_token");
    json_t *view;
    int rc;

    if (!json_is_array(keys) || !json_is_string(root))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "the server's init answer is not understood");
    if (ctx->cfg.out.format == CLI_FMT_TABLE && !ctx->cfg.out.field) {
        init_print_table(keys, json_string_value(root), shares, thr);
        return CLI_EXIT_OK;
    }
    if (!(view = init_view(keys, root)))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    struct cli_section sec = {.obj = view, .primary = true};
    rc = cli_show(ctx, raw, &sec, 1);
    cli_json_wipe(view);
    json_decref(view);
    return rc;
}

static int op_init(struct cli_ctx *ctx, int argc, char **argv)
{
    int64_t shares = 5, thr = 3;
    bool status = false;
    const struct cli_flag flags[] = {
        {"key-shares", CLI_FLAG_INT, &shares, NULL, "N", "number of unseal key shares (default 5)"},
        {"key-threshold", CLI_FLAG_INT, &thr, NULL, "T", "shares needed to unseal (default 3)"},
        {"status", CLI_FLAG_BOOL, &status, NULL, NULL,
         "only report whether the server is initialized (exit 0 yes, 2 no)"},
    };
    struct cli_req rq = {.method = CLI_PUT, .path = "sys/init"};
    struct cli_resp resp = {0};
    json_t *body = NULL;
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, 3, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 0)
        return cli_usage_error(ctx, "takes no arguments");
    if (status)
        return init_status(ctx);
    if (shares < 1 || shares > 255 || thr < 1 || thr > shares || (shares > 1 && thr < 2))
        return cli_usage_error(ctx, "need 1 <= -key-threshold <= -key-shares <= 255, and a "
                                    "threshold of at least 2 when there are several shares");
    if (!(body = json_pack("{s:I, s:I}", "secret_shares", (json_int_t)shares, "secret_threshold",
                           (json_int_t)thr)))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    rq.body = body;
    if ((rc = cli_api(ctx, "initializing", &rq, &resp)) == CLI_EXIT_OK)
        rc = init_show(ctx, resp.json, shares, thr);
    json_decref(body);
    cli_resp_free(&resp);
    return rc;
}

/* ---- unseal / recover ------------------------------------------------------------------------ */

/* PUT {"key": share} (or {"reset": true} when can_reset) to path and show the answer: a seal
 * status for unseal, {progress, t, complete} for recover. */
static int post_share(struct cli_ctx *ctx, const char *path, const char *what, bool can_reset,
                      int argc, char **argv)
{
    bool reset = false;
    const struct cli_flag flags[] = {
        {"reset", CLI_FLAG_BOOL, &reset, NULL, NULL, "discard the shares submitted so far"},
    };
    struct cli_req rq = {.method = CLI_PUT, .path = path};
    struct cli_resp resp = {0};
    json_t *body = NULL;
    char *share = NULL;
    size_t len = 0;
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, can_reset ? 1 : 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc > 1 || (reset && argc != 0))
        return cli_usage_error(ctx, "expected at most one KEY (or -reset alone)");
    if (reset) {
        body = json_pack("{s:b}", "reset", 1);
    } else {
        if ((rc = cli_secret_arg(ctx, argc ? argv[0] : NULL, "Unseal Key", &share, &len)) !=
            CLI_EXIT_OK)
            return rc;
        body = json_pack("{s:s%}", "key", share, len);
        cli_secret_free(share, len);
    }
    if (!body)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "the key is not valid text");
    rq.body = body;
    if ((rc = cli_api(ctx, what, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (json_is_object(resp.json) && json_object_get(resp.json, "sealed"))
        rc = cli_status_show(ctx, resp.json, NULL);
    else if (resp.json)
        rc = cli_show_response(ctx, resp.json);
    else
        cli_success(ctx, "Success!");
out:
    cli_json_wipe(body);
    json_decref(body);
    cli_resp_free(&resp);
    return rc;
}

static int op_unseal(struct cli_ctx *ctx, int argc, char **argv)
{
    return post_share(ctx, "sys/unseal", "unsealing", true, argc, argv);
}

static int op_recover(struct cli_ctx *ctx, int argc, char **argv)
{
    return post_share(ctx, "sys/storage/recover", "authorising the recovery", false, argc, argv);
}

/* ---- seal / rotate --------------------------------------------------------------------------- */

static int op_seal(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_req rq = {.method = CLI_PUT, .path = "sys/seal"};
    struct cli_resp resp = {0};
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 0)
        return cli_usage_error(ctx, "takes no arguments");
    if ((rc = cli_api(ctx, "sealing", &rq, &resp)) == CLI_EXIT_OK)
        cli_success(ctx, "Success! Tresor is sealed.");
    cli_resp_free(&resp);
    return rc;
}

static int op_rotate(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_req rq = {.method = CLI_PUT, .path = "sys/rotate"};
    struct cli_req ks = {.method = CLI_GET, .path = "sys/key-status"};
    struct cli_resp resp = {0}, status = {0};
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 0)
        return cli_usage_error(ctx, "takes no arguments");
    if ((rc = cli_api(ctx, "rotating the encryption key", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    cli_success(ctx, "Success! Rotated the encryption key.");
    /* The new term is a nicety: a server without key-status still rotated. */
    if (cli_api_send(ctx, &ks, &status) == CLI_EXIT_OK && status.status == 200 && status.json) {
        cli_success(ctx, "%s", "");
        rc = cli_show_response(ctx, status.json);
    }
out:
    cli_resp_free(&resp);
    cli_resp_free(&status);
    return rc;
}

/* ---- backup ---------------------------------------------------------------------------------- */

static int op_backup(struct cli_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    const struct cli_flag flags[] = {
        {"force", CLI_FLAG_BOOL, &force, NULL, NULL, "overwrite FILE if it exists"},
    };
    struct cli_req rq = {.method = CLI_PUT, .path = "sys/storage/backup"};
    struct cli_resp resp = {0};
    int rc, w;

    if ((rc = cli_cmd_parse(ctx, flags, 1, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 1)
        return cli_usage_error(ctx, "expected exactly one FILE (- for stdout)");
    if ((rc = cli_api(ctx, "taking a backup", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (!resp.body_len) {
        rc = cli_fail(ctx, CLI_EXIT_SERVER, "the server sent an empty backup");
        goto out;
    }
    if (strcmp(argv[0], "-") == 0) {
        rc = fwrite(resp.body, 1, resp.body_len, stdout) == resp.body_len && fflush(stdout) == 0
                 ? CLI_EXIT_OK
                 : cli_fail(ctx, CLI_EXIT_LOCAL, "cannot write the backup to stdout");
        goto out;
    }
    if ((w = cli_fs_write_atomic(argv[0], resp.body, resp.body_len, !force)) != TR_OK) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "cannot write %s: %s", argv[0],
                      w == TR_E_EXISTS ? "file exists (use -force)" : tr_strerror(w));
        goto out;
    }
    fprintf(stderr, "Success! Backup written to %s (%zu bytes).\n", argv[0], resp.body_len);
out:
    cli_resp_free(&resp);
    return rc;
}

const struct cli_cmd cli_operator_cmds[] = {
    {"init", "", "initialize the server: prints the unseal key shares and the root token",
     "Sends PUT sys/init. -format=json prints the server's raw answer.", op_init, NULL},
    {"unseal", "[KEY|-]", "submit one unseal key share",
     "Without KEY the share is prompted for (hidden) when stdin is a terminal; - reads it from\n"
     "stdin. Avoid KEY on the command line: other users can see process arguments.",
     op_unseal, NULL},
    {"seal", "", "seal the server (needs a root or sudo token)", NULL, op_seal, NULL},
    {"rotate", "", "rotate the storage encryption key (PUT sys/rotate)", NULL, op_rotate, NULL},
    {"backup", "FILE", "save a consistent storage snapshot to FILE (PUT sys/storage/backup)",
     "The snapshot is written atomically with mode 0600 and never overwrites FILE without\n"
     "-force; - writes it to stdout. Restoring it is an offline procedure (docs/operations.md).",
     op_backup, NULL},
    {"recover", "[KEY|-]",
     "submit a recovery/unseal share to authorise a storage recovery (PUT sys/storage/recover)",
     "Used after the server sealed itself on a rollback or tamper alarm (docs/operations.md).\n"
     "The share is prompted for (hidden) when stdin is a terminal; - reads it from stdin.\n"
     "Prints progress, threshold and whether the recovery completed.",
     op_recover, NULL},
    {0},
};
