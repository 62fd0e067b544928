/*
 * cmd_token - `login` (the token helper; other methods in cmd_login.c) and
 * `token create|lookup|renew|revoke|capabilities`.
 *
 * Tokens are printed only by `token create` and `login -method=...`, which hand a new one out.
 * lookup, renew and token login remove the token from what they print, in every format (the
 * field is wiped first).
 */
#include <string.h>

#include "args.h"
#include "commands.h"
#include "input.h"
#include "tokfile.h"

/* Drop obj[key] after wiping its value: keeps a token out of every output format. */
static void drop_secret(json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (v) {
        cli_json_wipe(v);
        json_object_del(obj, key);
    }
}

static void set_duration(json_t *view, const char *label, const json_t *secs)
{
    char buf[64];
    json_int_t s = json_integer_value(secs);

    if (!json_is_integer(secs))
        return;
    if (s == 0)
        snprintf(buf, sizeof(buf), "0s");
    else
        cli_fmt_duration(s, buf, sizeof(buf));
    json_object_set_new(view, label, json_string(buf));
}

/* The vault CLI's view of an auth block; the token itself only when show_token. */
static json_t *auth_view(const json_t *auth, bool show_token)
{
    json_t *o = json_object(), *meta = json_object_get(auth, "metadata");
    const char *k;
    json_t *v;
    char label[160];

    if (!o)
        return NULL;
    if (show_token && json_object_get(auth, "client_token"))
        json_object_set_new(o, "token", json_deep_copy(json_object_get(auth, "client_token")));
    json_object_set(o, "token_accessor", json_object_get(auth, "accessor"));
    set_duration(o, "token_duration", json_object_get(auth, "lease_duration"));
    json_object_set(o, "token_renewable", json_object_get(auth, "renewable"));
    json_object_set(o, "token_policies", json_object_get(auth, "token_policies"));
    json_object_set(o, "identity_policies", json_object_get(auth, "identity_policies"));
    json_object_set(o, "policies", json_object_get(auth, "policies"));
    json_object_foreach(meta, k, v)
    {
        snprintf(label, sizeof(label), "token_meta_%.140s", k);
        json_object_set(o, label, v);
    }
    /* json_object_set with a NULL value fails and leaves the key out: absent stays absent. */
    return o;
}

/* Show an answer whose auth block describes a token; the token is dropped unless show_token. */
int cli_show_auth(struct cli_ctx *ctx, json_t *raw, bool show_token)
{
    json_t *auth = json_object_get(raw, "auth"), *view;
    int rc;

    if (!json_is_object(auth))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "the server's answer has no auth block");
    if (!show_token)
        drop_secret(auth, "client_token");
    if (!(view = auth_view(auth, show_token)))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    cli_print_warnings(raw);
    struct cli_section sec = {.obj = view, .primary = true};
    rc = cli_show(ctx, raw, &sec, 1);
    cli_json_wipe(view);
    json_decref(view);
    return rc;
}

/* lookup data with durations humanised for the table; `id` (the token) is dropped from raw. */
static int show_lookup(struct cli_ctx *ctx, json_t *raw)
{
    json_t *data = json_object_get(raw, "data"), *view;
    static const char *const durs[] = {"ttl", "creation_ttl", "explicit_max_ttl", "period"};
    int rc;

    if (!json_is_object(data))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "the server's answer has no token data");
    drop_secret(data, "id");
    if (!(view = json_deep_copy(data)))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++)
        set_duration(view, durs[i], json_object_get(data, durs[i]));
    struct cli_section sec = {.obj = view, .primary = true, .sorted = true};
    rc = cli_show(ctx, raw, &sec, 1);
    json_decref(view);
    return rc;
}

/* ---- login ----------------------------------------------------------------------------------- */

int cli_login_store(struct cli_ctx *ctx, const char *tok, size_t len)
{
    char path[4096];
    int rc;

    if ((rc = cli_tokfile_write(tok, len)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "the token is valid but could not be stored: %s",
                        tr_strerror(rc));
    if (cli_tokfile_path(path, sizeof(path)) == TR_OK)
        cli_success(ctx,
                    "Success! You are now authenticated. The token is stored in %s and will "
                    "be used by later commands.",
                    path);
    if (cli_config_env("TOKEN"))
        fprintf(stderr, "WARNING: TRESOR_TOKEN or VAULT_TOKEN is set and takes precedence over "
                        "the stored token; unset it to use the stored one.\n");
    return CLI_EXIT_OK;
}

int cli_cmd_login(struct cli_ctx *ctx, int argc, char **argv)
{
    bool no_store = false;
    const char *method = NULL, *mount = NULL;
    const struct cli_flag flags[] = {
        {"method", CLI_FLAG_STR, &method, NULL, "M",
         "token (default), approle, cert or kubernetes"},
        {"path", CLI_FLAG_STR, &mount, NULL, "MOUNT",
         "where the auth method is mounted (default: the method's name)"},
        {"no-store", CLI_FLAG_BOOL, &no_store, NULL, NULL,
         "only verify the token (or log in), do not store it"},
    };
    struct cli_req rq = {.method = CLI_GET, .path = "auth/token/lookup-self"};
    struct cli_resp resp = {0};
    char *tok = NULL;
    size_t len = 0;
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, 3, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (method && strcmp(method, "token") != 0)
        return cli_login_method(ctx, method, mount, no_store, argc, argv);
    if (mount)
        return cli_usage_error(ctx, "-path does not apply to -method=token");
    if (argc > 1)
        return cli_usage_error(ctx, "expected at most one TOKEN");
    if ((rc = cli_secret_arg(ctx, argc ? argv[0] : NULL, "Token", &tok, &len)) != CLI_EXIT_OK)
        return rc;
    rq.token = tok;
    if ((rc = cli_api(ctx, "verifying the token", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (!no_store && (rc = cli_login_store(ctx, tok, len)) != CLI_EXIT_OK)
        goto out;
    if (no_store)
        cli_success(ctx, "Success! The token is valid (not stored).");
    cli_success(ctx, "%s", "");
    rc = show_lookup(ctx, resp.json);
out:
    cli_secret_free(tok, len);
    cli_resp_free(&resp);
    return rc;
}

/* ---- token create ---------------------------------------------------------------------------- */

struct create_opts {
    json_t *policies, *metadata;
    const char *ttl, *max_ttl, *period, *display_name, *role, *type;
    int64_t num_uses;
    bool num_uses_set, no_default, orphan, renewable, renewable_set;
};

/* -policy=a,b -policy=c -> ["a","b","c"] */
static int add_policies(json_t *body, const json_t *flags)
{
    json_t *arr = json_array(), *v;
    size_t i;

    if (!arr)
        return TR_E_NOMEM;
    json_array_foreach(flags, i, v)
    {
        const char *s = json_string_value(v);
        while (s && *s) {
            size_t n = strcspn(s, ",");
            size_t b = 0, e = n;
            while (b < e && s[b] == ' ')
                b++;
            while (e > b && s[e - 1] == ' ')
                e--;
            if (e > b)
                json_array_append_new(arr, json_stringn(s + b, e - b));
            s += n + (s[n] == ',');
        }
    }
    return json_object_set_new(body, "policies", arr) == 0 ? TR_OK : TR_E_NOMEM;
}

static int add_metadata(json_t *body, const json_t *flags, char *err, size_t errlen)
{
    json_t *meta = json_object(), *v;
    const char *val;
    size_t i, klen;
    char key[256];

    if (!meta)
        return TR_E_NOMEM;
    json_array_foreach(flags, i, v)
    {
        if (cli_args_split(json_string_value(v), &klen, &val) != TR_OK || klen >= sizeof(key)) {
            snprintf(err, errlen, "-metadata needs KEY=VALUE");
            json_decref(meta);
            return TR_E_INVAL;
        }
        memcpy(key, json_string_value(v), klen);
        key[klen] = '\0';
        json_object_set_new(meta, key, json_string(val));
    }
    return json_object_set_new(body, "meta", meta) == 0 ? TR_OK : TR_E_NOMEM;
}

static json_t *create_body(const struct create_opts *o, char *err, size_t errlen)
{
    json_t *b = json_object();

    if (!b)
        return NULL;
    if ((o->policies && add_policies(b, o->policies) != TR_OK) ||
        (o->metadata && add_metadata(b, o->metadata, err, errlen) != TR_OK)) {
        json_decref(b);
        return NULL;
    }
    if (o->ttl)
        json_object_set_new(b, "ttl", json_string(o->ttl));
    if (o->max_ttl)
        json_object_set_new(b, "explicit_max_ttl", json_string(o->max_ttl));
    if (o->period)
        json_object_set_new(b, "period", json_string(o->period));
    if (o->display_name)
        json_object_set_new(b, "display_name", json_string(o->display_name));
    if (o->type)
        json_object_set_new(b, "type", json_string(o->type));
    if (o->num_uses_set)
        json_object_set_new(b, "num_uses", json_integer(o->num_uses));
    if (o->renewable_set)
        json_object_set_new(b, "renewable", json_boolean(o->renewable));
    if (o->no_default)
        json_object_set_new(b, "no_default_policy", json_true());
    if (o->orphan)
        json_object_set_new(b, "no_parent", json_true());
    return b;
}

static int token_create(struct cli_ctx *ctx, int argc, char **argv)
{
    struct create_opts o = {0};
    const struct cli_flag flags[] = {
        {"policy", CLI_FLAG_LIST, &o.policies, NULL, "NAME",
         "policy to attach (repeatable, or a,b)"},
        {"ttl", CLI_FLAG_DUR, &o.ttl, NULL, "DUR", "initial TTL (30m, 24h, ...)"},
        {"explicit-max-ttl", CLI_FLAG_DUR, &o.max_ttl, NULL, "DUR", "hard upper bound on the TTL"},
        {"period", CLI_FLAG_DUR, &o.period, NULL, "DUR", "make a periodic token (root/sudo)"},
        {"num-uses", CLI_FLAG_INT, &o.num_uses, &o.num_uses_set, "N", "uses before revocation"},
        {"no-default-policy", CLI_FLAG_BOOL, &o.no_default, NULL, NULL, "leave out \"default\""},
        {"orphan", CLI_FLAG_BOOL, &o.orphan, NULL, NULL, "no parent (auth/token/create-orphan)"},
        {"display-name", CLI_FLAG_STR, &o.display_name, NULL, "NAME", "display name"},
        {"renewable", CLI_FLAG_BOOL, &o.renewable, &o.renewable_set, NULL,
         "-renewable=false forbids renewal"},
        {"metadata", CLI_FLAG_LIST, &o.metadata, NULL, "K=V", "metadata (repeatable)"},
        {"role", CLI_FLAG_STR, &o.role, NULL, "NAME", "create against a token role"},
        {"type", CLI_FLAG_STR, &o.type, NULL, "TYPE", "service (default) or batch"},
    };
    struct cli_req rq = {.method = CLI_POST, .path = "auth/token/create"};
    struct cli_resp resp = {0};
    char path[512], err[128] = "out of memory";
    json_t *body = NULL;
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, sizeof(flags) / sizeof(flags[0]), &argc, argv)) !=
        CLI_CONTINUE)
        goto out;
    rc = CLI_EXIT_LOCAL;
    if (argc != 0) {
        rc = cli_usage_error(ctx, "takes no arguments");
        goto out;
    }
    if (!(body = create_body(&o, err, sizeof(err)))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
        goto out;
    }
    if (o.role) {
        snprintf(path, sizeof(path), "auth/token/create/%s", o.role);
        rq.path = path;
    } else if (o.orphan) {
        rq.path = "auth/token/create-orphan";
    }
    rq.body = body;
    if ((rc = cli_api(ctx, "creating a token", &rq, &resp)) == CLI_EXIT_OK)
        rc = cli_show_auth(ctx, resp.json, true);
out:
    json_decref(body);
    json_decref(o.policies);
    json_decref(o.metadata);
    cli_resp_free(&resp);
    return rc;
}

/* ---- lookup / renew / revoke ----------------------------------------------------------------- */

/* Which token an operation targets: self, a token (prompted/stdin/argv) or an accessor. */
struct target {
    const char *accessor; /* borrowed from argv, or NULL */
    char *token;          /* owned secret, or NULL for self */
    size_t token_len;
};

static int target_get(struct cli_ctx *ctx, const char *acc_flag, bool self, int argc, char **argv,
                      struct target *t)
{
    memset(t, 0, sizeof(*t));
    if (argc > 1)
        return cli_usage_error(ctx, "expected at most one argument");
    if (acc_flag) {
        t->accessor = *acc_flag ? acc_flag : (argc ? argv[0] : NULL);
        if (!t->accessor || (*acc_flag && argc))
            return cli_usage_error(ctx, "-accessor needs exactly one ACCESSOR");
        return CLI_CONTINUE;
    }
    if (self || !argc)
        return CLI_CONTINUE;
    return cli_secret_arg(ctx, argv[0], "Token", &t->token, &t->token_len) == CLI_EXIT_OK
               ? CLI_CONTINUE
               : CLI_EXIT_LOCAL;
}

static void target_fini(struct target *t)
{
    cli_secret_free(t->token, t->token_len);
    t->token = NULL;
}

/* {"token": ...} or {"accessor": ...} (+ increment); NULL body for self with nothing to send. */
static json_t *target_body(const struct target *t, const char *increment)
{
    json_t *b = json_object();

    if (!b)
        return NULL;
    if (t->token)
        json_object_set_new(b, "token", json_stringn(t->token, t->token_len));
    if (t->accessor)
        json_object_set_new(b, "accessor", json_string(t->accessor));
    if (increment)
        json_object_set_new(b, "increment", json_string(increment));
    return b;
}

static int token_lookup(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *acc = NULL;
    const struct cli_flag flags[] = {
        {"accessor", CLI_FLAG_OPTSTR, &acc, NULL, "A", "look up by accessor (-accessor A or =A)"},
    };
    struct cli_req rq = {.method = CLI_GET, .path = "auth/token/lookup-self"};
    struct cli_resp resp = {0};
    struct target t;
    json_t *body = NULL;
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, 1, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if ((rc = target_get(ctx, acc, false, argc, argv, &t)) != CLI_CONTINUE)
        return rc;
    if (t.token || t.accessor) {
        rq.method = CLI_POST;
        rq.path = t.accessor ? "auth/token/lookup-accessor" : "auth/token/lookup";
        if (!(body = target_body(&t, NULL))) {
            rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the token is not valid text");
            goto out;
        }
        rq.body = body;
    }
    if ((rc = cli_api(ctx, "looking up the token", &rq, &resp)) == CLI_EXIT_OK)
        rc = show_lookup(ctx, resp.json);
out:
    cli_json_wipe(body);
    json_decref(body);
    target_fini(&t);
    cli_resp_free(&resp);
    return rc;
}

static int token_renew(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *acc = NULL, *inc = NULL;
    const struct cli_flag flags[] = {
        {"increment", CLI_FLAG_DUR, &inc, NULL, "DUR", "requested TTL extension"},
        {"accessor", CLI_FLAG_OPTSTR, &acc, NULL, "A", "renew by accessor"},
    };
    struct cli_req rq = {.method = CLI_PUT, .path = "auth/token/renew-self"};
    struct cli_resp resp = {0};
    struct target t;
    json_t *body = NULL;
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, 2, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if ((rc = target_get(ctx, acc, false, argc, argv, &t)) != CLI_CONTINUE)
        return rc;
    if (t.token)
        rq.path = "auth/token/renew";
    else if (t.accessor)
        rq.path = "auth/token/renew-accessor";
    if (!(body = target_body(&t, inc))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the token is not valid text");
        goto out;
    }
    rq.body = body;
    if ((rc = cli_api(ctx, "renewing the token", &rq, &resp)) == CLI_EXIT_OK)
        rc = cli_show_auth(ctx, resp.json, false);
out:
    cli_json_wipe(body);
    json_decref(body);
    target_fini(&t);
    cli_resp_free(&resp);
    return rc;
}

static const char *revoke_path(const struct target *t, bool self, bool orphan)
{
    if (self)
        return "auth/token/revoke-self";
    if (t->accessor)
        return "auth/token/revoke-accessor";
    return orphan ? "auth/token/revoke-orphan" : "auth/token/revoke";
}

static int token_revoke(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *acc = NULL, *mode = NULL;
    bool self = false;
    const struct cli_flag flags[] = {
        {"self", CLI_FLAG_BOOL, &self, NULL, NULL, "revoke the token in use"},
        {"accessor", CLI_FLAG_OPTSTR, &acc, NULL, "A", "revoke by accessor"},
        {"mode", CLI_FLAG_STR, &mode, NULL, "MODE",
         "orphan: revoke only this token, children become orphans (sudo)"},
    };
    struct cli_req rq = {.method = CLI_PUT};
    struct cli_resp resp = {0};
    struct target t;
    json_t *body = NULL;
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, 3, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (mode && strcmp(mode, "orphan") != 0 && strcmp(mode, "path") != 0)
        return cli_usage_error(ctx, "-mode must be orphan");
    if (self && (acc || argc))
        return cli_usage_error(ctx, "-self takes no TOKEN or -accessor");
    /* Revoking needs a target: with no argument and no -self, ask for the token. */
    if ((rc = target_get(ctx, acc, self, argc, argv, &t)) != CLI_CONTINUE)
        return rc;
    if (!self && !t.accessor && !t.token &&
        cli_secret_arg(ctx, NULL, "Token to revoke", &t.token, &t.token_len) != CLI_EXIT_OK)
        return CLI_EXIT_LOCAL;
    rq.path = revoke_path(&t, self, mode && !strcmp(mode, "orphan"));
    if (!self && !(body = target_body(&t, NULL))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the token is not valid text");
        goto out;
    }
    rq.body = body;
    if ((rc = cli_api(ctx, "revoking the token", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (resp.json && json_object_get(resp.json, "warnings"))
        (void)cli_show_response(ctx, resp.json);
    cli_success(ctx, "Success! Revoked token (if it existed)");
out:
    cli_json_wipe(body);
    json_decref(body);
    target_fini(&t);
    cli_resp_free(&resp);
    return rc;
}

static int token_capabilities(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_req rq = {.method = CLI_POST, .path = "sys/capabilities-self"};
    struct cli_resp resp = {0};
    json_t *body = NULL, *caps;
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 1)
        return cli_usage_error(ctx, "expected exactly one PATH");
    if (!(body = json_pack("{s:[s]}", "paths", argv[0])))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "PATH is not valid text");
    rq.body = body;
    if ((rc = cli_api(ctx, "checking capabilities", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    caps = cli_data_obj(&resp) ? json_object_get(cli_data_obj(&resp), argv[0]) : NULL;
    if (!caps)
        caps = json_object_get(resp.json, "capabilities");
    if (!json_is_array(caps)) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the server's answer is not understood");
        goto out;
    }
    struct cli_section sec = {.obj = caps, .primary = true};
    if (ctx->cfg.out.format == CLI_FMT_TABLE && !ctx->cfg.out.field) {
        char *t = cli_value_text(caps);
        printf("%s\n", t ? t : "?");
        free(t);
    } else {
        rc = cli_show(ctx, resp.json, &sec, 1);
    }
out:
    json_decref(body);
    cli_resp_free(&resp);
    return rc;
}

const struct cli_cmd cli_token_cmds[] = {
    {"create", "", "create a child token (prints the new token)", NULL, token_create, NULL},
    {"lookup", "[TOKEN|-]", "show a token's properties (default: the token in use)",
     "TOKEN may be - to read it from stdin; -accessor looks a token up by accessor.\n"
     "The token itself is never printed.",
     token_lookup, NULL},
    {"renew", "[TOKEN|-]", "renew a token's lease (default: the token in use)", NULL, token_renew,
     NULL},
    {"revoke", "[TOKEN|-]", "revoke a token and its children",
     "Use -self for the token in use, -accessor for an accessor; without either, TOKEN is\n"
     "prompted for (hidden) when stdin is a terminal.",
     token_revoke, NULL},
    {"capabilities", "PATH", "the token's capabilities on PATH (sys/capabilities-self)", NULL,
     token_capabilities, NULL},
    {0},
};
