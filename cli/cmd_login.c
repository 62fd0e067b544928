/*
 * cmd_login - `tresor login -method=approle|cert|kubernetes`: POST auth/<mount>/login (no token
 * sent, cli_api_login, the request the agent also makes), store auth.client_token with the
 * token helper like `tresor login TOKEN`, and print the auth block, token included (the vault
 * CLI does; -no-store only prints).
 *
 * Credentials never have to be on the command line: a value is V, @FILE or - (stdin), the last
 * two trimmed of surrounding blanks and newlines (cli_input_cred); a missing secret_id is
 * prompted for without echo on a terminal; the JWT defaults to the pod's service-account token
 * file. Buffers and the login body are wiped after use. Nothing printed on failure names a value.
 */
#include <string.h>

#include "args.h"
#include "commands.h"
#include "input.h"

/* Role IDs, secret IDs and JWTs are small: anything bigger is a mistake. */
#define LOGIN_CRED_MAX (64u * 1024u)
#define LOGIN_MAX_KEYS 2

struct login_method {
    const char *name;
    const char *keys[LOGIN_MAX_KEYS + 1]; /* accepted K=V keys, NULL-terminated */
    int (*body)(struct cli_ctx *ctx, const char *const *vals, json_t *body); /* fills body */
};

/* One value: V (\@ and \- escape a leading @ or a lone -), @FILE or - (trimmed). key names it
 * in messages. Out: *out (cli_secret_free). Returns CLI_EXIT_OK or CLI_EXIT_LOCAL (printed). */
static int value_read(struct cli_ctx *ctx, const char *key, const char *val, char **out,
                      size_t *out_len)
{
    const char *src = NULL;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (strcmp(val, "-") == 0)
        src = "-";
    else if (val[0] == '@')
        src = val + 1;
    if (!src) {
        if (val[0] == '\\' && (val[1] == '@' || strcmp(val + 1, "-") == 0))
            val++;
        if (cli_secret_strdup(val, strlen(val), out) != TR_OK)
            return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
        *out_len = strlen(val);
        return CLI_EXIT_OK;
    }
    if ((rc = cli_input_cred(src, LOGIN_CRED_MAX, out, out_len)) == TR_OK)
        return CLI_EXIT_OK;
    return cli_fail(ctx, CLI_EXIT_LOCAL, "cannot read %s from %s: %s", key,
                    strcmp(src, "-") ? src : "stdin",
                    rc == TR_E_INVAL       ? "no usable value"
                    : rc == TR_E_STATE     ? "stdin was already used"
                    : rc == TR_E_TOO_LARGE ? "too large"
                                           : tr_strerror(rc));
}

/* obj[key] = the value read from val; a value that is not text is an error. */
static int add_value(struct cli_ctx *ctx, json_t *obj, const char *key, const char *val)
{
    char *buf = NULL;
    size_t len = 0;
    json_t *s;
    int rc;

    if ((rc = value_read(ctx, key, val, &buf, &len)) != CLI_EXIT_OK)
        return rc;
    if (!(s = json_stringn(buf, len)))
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "%s is not valid UTF-8 text", key);
    else if (json_object_set_new(obj, key, s) != 0)
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    cli_secret_free(buf, len);
    return rc;
}

/* The secret ID: as given; "" sends none (roles with bind_secret_id=false); missing: prompted. */
static int add_secret_id(struct cli_ctx *ctx, json_t *obj, const char *val)
{
    char *buf = NULL;
    size_t len = 0;
    json_t *s;
    int rc;

    if (val)
        return *val ? add_value(ctx, obj, "secret_id", val) : CLI_EXIT_OK;
    if (!cli_input_is_tty())
        return cli_fail(ctx, CLI_EXIT_LOCAL,
                        "no secret_id given and stdin is not a terminal (use secret_id=- to read "
                        "it from stdin or secret_id=@FILE)");
    if ((rc = cli_secret_arg(ctx, NULL, "secret_id", &buf, &len)) != CLI_EXIT_OK)
        return rc;
    if (!(s = json_stringn(buf, len)))
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "secret_id is not valid UTF-8 text");
    else if (json_object_set_new(obj, "secret_id", s) != 0)
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    cli_secret_free(buf, len);
    return rc;
}

static int approle_body(struct cli_ctx *ctx, const char *const *vals, json_t *body)
{
    int rc;

    if (!vals[0])
        return cli_usage_error(ctx, "role_id=ID is required");
    if ((rc = add_value(ctx, body, "role_id", vals[0])) != CLI_EXIT_OK)
        return rc;
    return add_secret_id(ctx, body, vals[1]);
}

static int cert_body(struct cli_ctx *ctx, const char *const *vals, json_t *body)
{
    if (!ctx->cfg.client_cert)
        return cli_usage_error(ctx, "-method=cert needs a client certificate: -client-cert and "
                                    "-client-key (or TRESOR_CLIENT_CERT and TRESOR_CLIENT_KEY)");
    if (vals[0] && json_object_set_new(body, "name", json_string(vals[0])) != 0)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "name is not valid text");
    return CLI_EXIT_OK;
}

static int k8s_body(struct cli_ctx *ctx, const char *const *vals, json_t *body)
{
    int rc;

    if (!vals[0] || !*vals[0])
        return cli_usage_error(ctx, "role=ROLE is required");
    if (json_object_set_new(body, "role", json_string(vals[0])) != 0)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "role is not valid text");
    if ((rc = add_value(ctx, body, "jwt", vals[1] ? vals[1] : "@" CLI_K8S_TOKEN_FILE)) !=
        CLI_EXIT_OK)
        return rc;
    return CLI_EXIT_OK;
}

static const struct login_method methods[] = {
    {"approle", {"role_id", "secret_id", NULL}, approle_body},
    {"cert", {"name", NULL}, cert_body},
    {"kubernetes", {"role", "jwt", NULL}, k8s_body},
};

/* Sort the K=V arguments into vals[] by the method's keys: unknown or repeated keys are errors
 * (a typo must not turn into a silently missing credential). Only keys are named in messages. */
static int args_sort(struct cli_ctx *ctx, const struct login_method *m, int argc, char **argv,
                     const char **vals)
{
    for (int i = 0; i < argc; i++) {
        const char *val;
        size_t klen, k;
        if (cli_args_split(argv[i], &klen, &val) != TR_OK)
            return cli_usage_error(ctx, "expected K=V arguments for -method=%s", m->name);
        for (k = 0; m->keys[k]; k++)
            if (strlen(m->keys[k]) == klen && strncmp(m->keys[k], argv[i], klen) == 0)
                break;
        if (!m->keys[k])
            return cli_usage_error(ctx, "-method=%s does not take \"%.*s\"", m->name,
                                   (int)(klen > 64 ? 64 : klen), argv[i]);
        if (vals[k])
            return cli_usage_error(ctx, "%s given twice", m->keys[k]);
        vals[k] = val;
    }
    return CLI_CONTINUE;
}

/* -path as one mount name ("approle/" and "/approle" are "approle") into buf: auth mounts are
 * one path segment. Returns CLI_CONTINUE or CLI_EXIT_LOCAL (printed). */
static int mount_name(struct cli_ctx *ctx, const char *mount, char *buf, size_t len)
{
    size_t b = 0, e = strlen(mount);

    while (mount[b] == '/')
        b++;
    while (e > b && mount[e - 1] == '/')
        e--;
    if (e == b || e - b >= len || memchr(mount + b, '/', e - b))
        return cli_usage_error(ctx, "-path must be one mount name, such as approle");
    memcpy(buf, mount + b, e - b);
    buf[e - b] = '\0';
    return CLI_CONTINUE;
}

int cli_login_method(struct cli_ctx *ctx, const char *method, const char *mount, bool no_store,
                     int argc, char **argv)
{
    const struct login_method *m = NULL;
    const char *vals[LOGIN_MAX_KEYS] = {NULL};
    char path[256];
    struct cli_resp resp = {0};
    const char *tok = NULL;
    json_t *body = NULL;
    int rc;

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(methods[i].name, method) == 0)
            m = &methods[i];
    if (!m)
        return cli_usage_error(ctx, "unknown -method=%s (token, approle, cert or kubernetes)",
                               method);
    if ((rc = mount_name(ctx, mount ? mount : m->name, path, sizeof(path))) != CLI_CONTINUE)
        return rc;
    if ((rc = args_sort(ctx, m, argc, argv, vals)) != CLI_CONTINUE)
        return rc;
    if (!(body = json_object()))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    if ((rc = m->body(ctx, vals, body)) != CLI_EXIT_OK)
        goto out;
    if ((rc = cli_api_login(ctx, path, body, &resp, &tok)) != CLI_EXIT_OK)
        goto out;
    if (!no_store && (rc = cli_login_store(ctx, tok, strlen(tok))) != CLI_EXIT_OK)
        goto out;
    if (no_store)
        cli_success(ctx, "Success! You are logged in (the token is not stored).");
    cli_success(ctx, "%s", "");
    rc = cli_show_auth(ctx, resp.json, true);
out:
    cli_json_wipe(body);
    json_decref(body);
    cli_resp_free(&resp);
    return rc;
}
