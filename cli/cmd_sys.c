/*
 * cmd_sys - status, the generic read/write/delete/list on raw API paths, and `secrets`
 * (sys/mounts).
 */
#include <string.h>

#include "args.h"
#include "commands.h"

/* ---- shared views ------------------------------------------------------------------------- */

void cli_print_warnings(const json_t *raw)
{
    json_t *w = json_is_object(raw) ? json_object_get(raw, "warnings") : NULL;
    json_t *v;
    size_t i;

    if (!json_is_array(w) || json_array_size(w) == 0)
        return;
    fprintf(stderr, "WARNING! The server returned these warnings:\n");
    json_array_foreach(w, i, v)
    {
        if (json_is_string(v)) {
            fputs("  * ", stderr);
            cli_print_safe(stderr, json_string_value(v), json_string_length(v));
            fputc('\n', stderr);
        }
    }
}

/* Vault's view of a lease: the TTL shows as refresh_interval next to the data. */
static json_t *data_view(const json_t *raw, json_t *data)
{
    json_t *view = json_deep_copy(data), *ld = json_object_get(raw, "lease_duration");
    char buf[64];

    if (view && json_is_integer(ld) && json_integer_value(ld) > 0) {
        cli_fmt_duration(json_integer_value(ld), buf, sizeof(buf));
        json_object_set_new(view, "refresh_interval", json_string(buf));
    }
    return view;
}

int cli_show_response(struct cli_ctx *ctx, const json_t *raw)
{
    json_t *data = json_object_get(raw, "data"), *auth = json_object_get(raw, "auth");
    json_t *view = NULL;
    struct cli_section secs[2];
    size_t n = 0;
    int rc;

    cli_print_warnings(raw);
    if (json_is_object(data) && (view = data_view(raw, data)))
        secs[n++] = (struct cli_section){.obj = view, .primary = true, .sorted = true};
    if (json_is_object(auth)) {
        secs[n] = (struct cli_section){.title = n ? "Auth" : NULL, .obj = auth, .sorted = true};
        n++;
    }
    if (n == 0 && json_is_object(raw) && !json_object_get(raw, "request_id"))
        secs[n++] = (struct cli_section){.obj = raw, .primary = true, .sorted = true};
    if (n == 0 && json_is_array(data))
        secs[n++] = (struct cli_section){.obj = data, .primary = true};
    rc = cli_show(ctx, raw, secs, n);
    cli_json_wipe(view);
    json_decref(view);
    return rc;
}

/* ---- status ------------------------------------------------------------------------------ */

static void row_str(json_t *o, const char *label, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (v)
        json_object_set(o, label, v);
}

/* A verdict's evidence on one line: its members as compact JSON (numbers and short strings). */
static void row_evidence(json_t *o, const char *label, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    char *text = json_is_object(v) ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    if (text)
        json_object_set_new(o, label, json_string(text));
    free(text);
}

static json_t *status_view(const json_t *seal, const json_t *leader)
{
    json_t *o = json_object();
    bool sealed = json_is_true(json_object_get(seal, "sealed"));
    bool init = json_is_true(json_object_get(seal, "initialized"));
    json_int_t t = json_integer_value(json_object_get(seal, "t"));
    char prog[48];

    if (!o)
        return NULL;
    row_str(o, "Seal Type", seal, "type");
    row_str(o, "Initialized", seal, "initialized");
    row_str(o, "Sealed", seal, "sealed");
    row_str(o, "Total Shares", seal, "n");
    row_str(o, "Threshold", seal, "t");
    if (sealed && init) {
        snprintf(prog, sizeof(prog), "%lld/%lld",
                 (long long)json_integer_value(json_object_get(seal, "progress")), (long long)t);
        json_object_set_new(o, "Unseal Progress", json_string(prog));
        row_str(o, "Unseal Nonce", seal, "nonce");
        row_str(o, "Sealed Reason", seal, "sealed_reason");
        row_evidence(o, "Storage Evidence", seal, "storage_evidence");
        row_evidence(o, "Audit Evidence", seal, "audit_evidence");
    }
    row_str(o, "Version", seal, "version");
    row_str(o, "Build Date", seal, "build_date");
    row_str(o, "Storage Type", seal, "storage_type");
    row_str(o, "Cluster Name", seal, "cluster_name");
    row_str(o, "Cluster ID", seal, "cluster_id");
    if (leader)
        row_str(o, "HA Enabled", leader, "ha_enabled");
    return o;
}

int cli_status_show(struct cli_ctx *ctx, const json_t *seal, const json_t *leader)
{
    json_t *view = status_view(seal, leader), *raw = json_deep_copy(seal);
    struct cli_section sec = {.obj = view, .primary = true};
    const char *k;
    json_t *v;
    int rc;

    if (raw && leader && json_is_true(json_object_get(leader, "ha_enabled"))) {
        json_object_foreach((json_t *)leader, k, v)
        {
            json_object_set(raw, k, v);
        }
    } else if (raw && leader) {
        json_object_set(raw, "ha_enabled", json_false());
    }
    rc = view && raw ? cli_show(ctx, raw, &sec, 1) : cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    json_decref(view);
    json_decref(raw);
    return rc;
}

int cli_cmd_status(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_req rs = {.method = CLI_GET, .path = "sys/seal-status"};
    struct cli_req rl = {.method = CLI_GET, .path = "sys/leader"};
    struct cli_resp seal = {0}, leader = {0};
    json_t *errs;
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 0)
        return cli_usage_error(ctx, "takes no arguments");
    /* Any failure is exit 1: exit 2 means "sealed" here. */
    rc = CLI_EXIT_LOCAL;
    if (cli_api(ctx, "checking the seal status", &rs, &seal) != CLI_EXIT_OK)
        goto out;
    if (!json_is_object(seal.json) || !json_is_boolean(json_object_get(seal.json, "sealed"))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the server's seal status is not understood");
        goto out;
    }
    if (cli_api_send(ctx, &rl, &leader) != CLI_EXIT_OK)
        goto out;
    /* Like the vault CLI: an HA server answers 503 "Vault is sealed" while sealed; mask it. */
    errs = leader.json ? json_object_get(leader.json, "errors") : NULL;
    if (leader.status != 200 &&
        !(leader.status == 503 && json_is_array(errs) && json_is_string(json_array_get(errs, 0)) &&
          strstr(json_string_value(json_array_get(errs, 0)), "Vault is sealed"))) {
        cli_api_fail(ctx, "checking the leader", &rl, &leader);
        goto out;
    }
    if ((rc = cli_status_show(ctx, seal.json, leader.status == 200 ? leader.json : NULL)) !=
        CLI_EXIT_OK)
        goto out;
    rc = json_is_true(json_object_get(seal.json, "sealed")) ? CLI_EXIT_SERVER : CLI_EXIT_OK;
out:
    cli_resp_free(&seal);
    cli_resp_free(&leader);
    return rc;
}

/* ---- read / write / delete / list --------------------------------------------------------- */

static int one_path(struct cli_ctx *ctx, int argc, char **argv, const char **out)
{
    if (argc < 1)
        return cli_usage_error(ctx, "missing PATH");
    *out = argv[0];
    while (**out == '/')
        (*out)++;
    if (!**out)
        return cli_usage_error(ctx, "empty PATH");
    return CLI_CONTINUE;
}

/* K=V arguments after the path, or NULL when there are none. */
static int kv_rest(struct cli_ctx *ctx, int argc, char **argv, json_t **out)
{
    char err[256] = "out of memory";

    *out = NULL;
    if (argc <= 1)
        return CLI_CONTINUE;
    if (cli_args_kv(argc - 1, argv + 1, out, err, sizeof(err)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
    return CLI_CONTINUE;
}

static int query_call(struct cli_ctx *ctx, enum cli_method m, int argc, char **argv)
{
    struct cli_req rq = {.method = m};
    struct cli_resp resp = {0};
    json_t *q = NULL;
    char what[300];
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if ((rc = one_path(ctx, argc, argv, &rq.path)) != CLI_CONTINUE)
        return rc;
    if ((rc = kv_rest(ctx, argc, argv, &q)) != CLI_CONTINUE)
        return rc;
    rq.query = q;
    snprintf(what, sizeof(what), "%s %s", m == CLI_DELETE ? "deleting" : "reading", rq.path);
    if ((rc = cli_api(ctx, what, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (m == CLI_DELETE)
        cli_success(ctx, "Success! Data deleted (if it existed) at: %s", rq.path);
    else if (!resp.json)
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no value found at %s", rq.path);
    else
        rc = cli_show_response(ctx, resp.json);
out:
    cli_json_wipe(q);
    json_decref(q);
    cli_resp_free(&resp);
    return rc;
}

int cli_cmd_read(struct cli_ctx *ctx, int argc, char **argv)
{
    return query_call(ctx, CLI_GET, argc, argv);
}

int cli_cmd_delete(struct cli_ctx *ctx, int argc, char **argv)
{
    return query_call(ctx, CLI_DELETE, argc, argv);
}

int cli_cmd_write(struct cli_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    const struct cli_flag flags[] = {
        {"force", CLI_FLAG_BOOL, &force, NULL, NULL, "allow writing with no data"},
    };
    struct cli_req rq = {.method = CLI_PUT};
    struct cli_resp resp = {0};
    json_t *body = NULL;
    char what[300];
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, 1, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if ((rc = one_path(ctx, argc, argv, &rq.path)) != CLI_CONTINUE)
        return rc;
    if (argc < 2 && !force)
        return cli_usage_error(ctx, "no data given (K=V arguments, - for JSON on stdin; -force "
                                    "to write nothing)");
    if ((rc = kv_rest(ctx, argc, argv, &body)) != CLI_CONTINUE)
        return rc;
    rq.body = body;
    snprintf(what, sizeof(what), "writing %s", rq.path);
    if ((rc = cli_api(ctx, what, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (resp.json)
        rc = cli_show_response(ctx, resp.json);
    else
        cli_success(ctx, "Success! Data written to: %s", rq.path);
out:
    cli_json_wipe(body);
    json_decref(body);
    cli_resp_free(&resp);
    return rc;
}

/* Show data.keys of a LIST answer; 404 = nothing there. */
static int show_keys(struct cli_ctx *ctx, const struct cli_resp *resp, const char *path)
{
    json_t *data = cli_data_obj(resp), *keys = data ? json_object_get(data, "keys") : NULL;
    struct cli_section sec = {.obj = keys, .primary = true};

    if (!json_is_array(keys))
        return cli_fail(ctx, CLI_EXIT_NOTFOUND, "no entries found at %s", path);
    cli_print_warnings(resp->json);
    if (ctx->cfg.out.format == CLI_FMT_ENV)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "-format=env cannot show a list");
    return cli_show(ctx, resp->json, &sec, 1);
}

int cli_cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_req rq = {.method = CLI_LIST};
    struct cli_resp resp = {0};
    char what[300];
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if ((rc = one_path(ctx, argc, argv, &rq.path)) != CLI_CONTINUE)
        return rc;
    if (argc != 1)
        return cli_usage_error(ctx, "takes exactly one PATH");
    snprintf(what, sizeof(what), "listing %s", rq.path);
    if ((rc = cli_api_send(ctx, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (resp.status == 404 && !cli_data_obj(&resp))
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no entries found at %s", rq.path);
    else if (resp.status < 200 || resp.status > 299)
        rc = cli_api_fail(ctx, what, &rq, &resp);
    else
        rc = show_keys(ctx, &resp, rq.path);
out:
    cli_resp_free(&resp);
    return rc;
}

/* ---- secrets ------------------------------------------------------------------------------- */

/* "secret" -> "secret/" into buf. */
static const char *mount_path(const char *p, char *buf, size_t len)
{
    while (*p == '/')
        p++;
    snprintf(buf, len, "%s%s", p, *p && p[strlen(p) - 1] == '/' ? "" : "/");
    return buf;
}

static json_t *enable_body(const char *type, const char *desc, int64_t version, const char *dttl,
                           const char *mttl)
{
    json_t *b = json_pack("{s:s}", "type", type), *cfg = json_object();

    if (!b || !cfg)
        goto bad;
    if (desc)
        json_object_set_new(b, "description", json_string(desc));
    if (dttl)
        json_object_set_new(cfg, "default_lease_ttl", json_string(dttl));
    if (mttl)
        json_object_set_new(cfg, "max_lease_ttl", json_string(mttl));
    if (json_object_size(cfg))
        json_object_set(b, "config", cfg);
    if (version > 0) {
        char v[24];
        snprintf(v, sizeof(v), "%lld", (long long)version);
        json_object_set_new(b, "options", json_pack("{s:s}", "version", v));
    }
    json_decref(cfg);
    return b;
bad:
    json_decref(b);
    json_decref(cfg);
    return NULL;
}

static int secrets_enable(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *path = NULL, *desc = NULL, *dttl = NULL, *mttl = NULL, *type;
    int64_t version = 0;
    const struct cli_flag flags[] = {
        {"path", CLI_FLAG_STR, &path, NULL, "PATH", "mount path (default: the TYPE name)"},
        {"description", CLI_FLAG_STR, &desc, NULL, "TEXT", "human-readable description"},
        {"version", CLI_FLAG_INT, &version, NULL, "N", "KV version (1 or 2; kv-v2 implies 2)"},
        {"default-lease-ttl", CLI_FLAG_DUR, &dttl, NULL, "DUR", "default lease TTL"},
        {"max-lease-ttl", CLI_FLAG_DUR, &mttl, NULL, "DUR", "maximum lease TTL"},
    };
    struct cli_req rq = {.method = CLI_POST};
    struct cli_resp resp = {0};
    char mpath[512], api[600], what[600];
    json_t *body = NULL;
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, 5, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 1)
        return cli_usage_error(ctx, "expected exactly one TYPE");
    type = argv[0];
    if (strcmp(type, "kv-v2") == 0) { /* what the vault CLI does */
        type = "kv";
        version = 2;
    }
    mount_path(path ? path : argv[0], mpath, sizeof(mpath));
    if (strcmp(mpath, "/") == 0)
        return cli_usage_error(ctx, "empty -path");
    snprintf(api, sizeof(api), "sys/mounts/%s", mpath);
    api[strlen(api) - 1] = '\0';
    if (!(body = enable_body(type, desc, version, dttl, mttl)))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    rq.path = api;
    rq.body = body;
    snprintf(what, sizeof(what), "enabling %s at %s", type, mpath);
    if ((rc = cli_api(ctx, what, &rq, &resp)) == CLI_EXIT_OK)
        cli_success(ctx, "Success! Enabled the %s secrets engine at: %s", type, mpath);
    json_decref(body);
    cli_resp_free(&resp);
    return rc;
}

static int secrets_disable(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_req rq = {.method = CLI_DELETE};
    struct cli_resp resp = {0};
    char mpath[512], api[600], what[600];
    int rc;

    if ((rc = cli_cmd_parse(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 1)
        return cli_usage_error(ctx, "expected exactly one PATH");
    mount_path(argv[0], mpath, sizeof(mpath));
    if (strcmp(mpath, "/") == 0)
        return cli_usage_error(ctx, "empty PATH");
    snprintf(api, sizeof(api), "sys/mounts/%s", mpath);
    api[strlen(api) - 1] = '\0';
    rq.path = api;
    snprintf(what, sizeof(what), "disabling %s", mpath);
    if ((rc = cli_api(ctx, what, &rq, &resp)) == CLI_EXIT_OK)
        cli_success(ctx, "Success! Disabled the secrets engine (if it existed) at: %s", mpath);
    cli_resp_free(&resp);
    return rc;
}

/* Mount rows with the KV version pulled up from options, for the column view. */
static json_t *mounts_view(const json_t *mounts)
{
    json_t *view = json_object(), *m;
    const char *k;

    if (!view)
        return NULL;
    json_object_foreach((json_t *)mounts, k, m)
    {
        json_t *opt = json_object_get(m, "options"), *ver = json_object_get(opt, "version");
        json_t *cfg = json_object_get(m, "config");
        if (!json_is_object(m))
            continue;
        json_object_set_new(
            view, k,
            json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "type",
                      json_object_get(m, "type"), "accessor", json_object_get(m, "accessor"),
                      "description", json_object_get(m, "description"), "version", ver, "local",
                      json_object_get(m, "local"), "seal_wrap", json_object_get(m, "seal_wrap"),
                      "default_lease_ttl", json_object_get(cfg, "default_lease_ttl"),
                      "max_lease_ttl", json_object_get(cfg, "max_lease_ttl")));
    }
    return view;
}

static int secrets_list(struct cli_ctx *ctx, int argc, char **argv)
{
    static const char *const cols[] = {"path", "type", "accessor", "description", NULL};
    static const char *const dcols[] = {
        "path",        "type",      "accessor",          "version",
        "local",       "seal_wrap", "default_lease_ttl", "max_lease_ttl",
        "description", NULL};
    bool detailed = false;
    const struct cli_flag flags[] = {
        {"detailed", CLI_FLAG_BOOL, &detailed, NULL, NULL, "show more columns"},
    };
    struct cli_req rq = {.method = CLI_GET, .path = "sys/mounts"};
    struct cli_resp resp = {0};
    json_t *data, *view = NULL;
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, 1, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 0)
        return cli_usage_error(ctx, "takes no arguments");
    if ((rc = cli_api(ctx, "listing secrets engines", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    data = cli_data_obj(&resp) ? cli_data_obj(&resp) : resp.json;
    if (!json_is_object(data) || !(view = mounts_view(data))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the server's mount table is not understood");
        goto out;
    }
    struct cli_section sec = {
        .obj = view, .primary = true, .sorted = true, .columns = detailed ? dcols : cols};
    rc = cli_show(ctx, resp.json, &sec, 1);
out:
    json_decref(view);
    cli_resp_free(&resp);
    return rc;
}

const struct cli_cmd cli_secrets_cmds[] = {
    {"enable", "TYPE", "enable a secrets engine (POST sys/mounts/PATH)",
     "TYPE is kv, kv-v2 or transit; -version=2 (or kv-v2) makes a KV mount versioned.",
     secrets_enable, NULL},
    {"disable", "PATH", "disable a secrets engine and destroy its data (DELETE sys/mounts/PATH)",
     NULL, secrets_disable, NULL},
    {"list", "", "list the enabled secrets engines (GET sys/mounts)", NULL, secrets_list, NULL},
    {0},
};
