/*
 * cmd_kv - the `kv` commands for KV v1 and v2 mounts, following the vault CLI's wire behaviour.
 *
 * Every command first runs the preflight GET sys/internal/ui/mounts/<path> to learn the mount
 * path and version ("2" as a string means v2; a 404 means an old server, so KV v1 and the path
 * as given). v2 commands then address <mount>data/<p>, metadata/<p>, delete/<p>, ...
 * Secret values pass through JSON objects that are wiped before they are released.
 */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cmd_kv_int.h"
#include "commands.h"

/* ---- path resolution ------------------------------------------------------------------------ */

static void trim_slashes(char *s)
{
    size_t n = strlen(s), b = 0;

    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    while (s[b] == '/')
        b++;
    memmove(s, s + b, n - b + 1);
}

/* The mount and version from a preflight answer; false when it is not understood. */
static bool preflight_parse(const struct cli_resp *r, struct kv_path *kp)
{
    json_t *data = cli_data_obj(r), *opt, *ver;
    const char *mount = data ? json_string_value(json_object_get(data, "path")) : NULL;

    if (!mount || !*mount || strlen(mount) + 2 > sizeof(kp->mount))
        return false;
    snprintf(kp->mount, sizeof(kp->mount), "%s%s", mount,
             *mount && mount[strlen(mount) - 1] == '/' ? "" : "/");
    opt = json_object_get(data, "options");
    ver = json_is_object(opt) ? json_object_get(opt, "version") : NULL;
    kp->version = json_is_string(ver) && strcmp(json_string_value(ver), "2") == 0 ? 2 : 1;
    return true;
}

/* Resolve PATH (and -mount) to mount + relative path + version (cmd_kv_int.h). */
int cli_kv_resolve(struct cli_ctx *ctx, const char *mount_flag, const char *arg, struct kv_path *kp)
{
    char full[KV_PATH_MAX], pre[KV_PATH_MAX + 40];
    struct cli_req rq = {.method = CLI_GET, .path = pre};
    struct cli_resp resp = {0};
    size_t mlen;
    int rc;

    memset(kp, 0, sizeof(*kp));
    if (snprintf(full, sizeof(full), "%s%s%s", mount_flag ? mount_flag : "", mount_flag ? "/" : "",
                 arg) >= (int)sizeof(full))
        return cli_usage_error(ctx, "PATH is too long");
    trim_slashes(full);
    if (!*full)
        return cli_usage_error(ctx, "empty PATH");
    snprintf(pre, sizeof(pre), "sys/internal/ui/mounts/%s", full);
    if (mount_flag) {
        snprintf(pre, sizeof(pre), "sys/internal/ui/mounts/%s", mount_flag);
        trim_slashes(pre + strlen("sys/internal/ui/mounts/"));
    }
    if ((rc = cli_api_send(ctx, &rq, &resp)) != CLI_EXIT_OK)
        return rc;
    if (resp.status == 404) { /* a server without the preflight: KV v1, path as given */
        kp->version = 1;
        snprintf(kp->rel, sizeof(kp->rel), "%s", full);
        rc = CLI_CONTINUE;
        goto out;
    }
    if (resp.status != 200) {
        rc = cli_api_fail(ctx, "looking up the mount", &rq, &resp);
        goto out;
    }
    rc = CLI_EXIT_LOCAL;
    if (!preflight_parse(&resp, kp)) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "the server's mount information is not understood");
        goto out;
    }
    mlen = strlen(kp->mount);
    if (strncmp(full, kp->mount, mlen) == 0)
        snprintf(kp->rel, sizeof(kp->rel), "%s", full + mlen);
    else if (strncmp(full, kp->mount, mlen - 1) == 0 && full[mlen - 1] == '\0')
        kp->rel[0] = '\0';
    else {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "%s is not inside the mount %s", full, kp->mount);
        goto out;
    }
    trim_slashes(kp->rel);
    rc = CLI_CONTINUE;
out:
    cli_resp_free(&resp);
    return rc;
}

/* <mount><prefix>/<rel> for v2 (prefix "data", "metadata", ...), <mount><rel> for v1. */
void cli_kv_api_path(const struct kv_path *kp, const char *prefix, bool dir, char *buf, size_t len)
{
    if (kp->version == 2)
        snprintf(buf, len, "%s%s/%s%s", kp->mount, prefix, kp->rel, dir && *kp->rel ? "/" : "");
    else
        snprintf(buf, len, "%s%s%s", kp->mount, kp->rel, dir && *kp->rel ? "/" : "");
}

/* Parse flags and check the argument count: PATH first, then at least min and (max >= 0) at most
 * max arguments in all. Local checks come before cli_kv_resolve so bad input never costs a request. */
int cli_kv_parse(struct cli_ctx *ctx, const struct cli_flag *flags, size_t n, int *argc,
                 char **argv, int min, int max)
{
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, n, argc, argv)) != CLI_CONTINUE)
        return rc;
    if (*argc < 1)
        return cli_usage_error(ctx, "missing PATH");
    if (*argc < min)
        return cli_usage_error(ctx, "missing arguments");
    if (max >= 0 && *argc > max)
        return cli_usage_error(ctx, "too many arguments");
    return CLI_CONTINUE;
}

int cli_kv_need_v2(struct cli_ctx *ctx, const struct kv_path *kp, const char *what)
{
    if (kp->version == 2)
        return CLI_CONTINUE;
    return cli_fail(ctx, CLI_EXIT_LOCAL, "%s needs a KV version 2 mount (%s%s is KV v1)", what,
                    kp->mount, kp->rel);
}

/* ---- shared output -------------------------------------------------------------------------- */

/* Secret Path + Metadata (+ Data): the layout of the vault CLI. */
static int show_v2(struct cli_ctx *ctx, const char *api_path, const json_t *raw,
                   const json_t *metadata, const json_t *data)
{
    json_t *path = json_string(api_path);
    struct cli_section secs[3] = {
        {.title = "Secret Path", .obj = path},
        {.title = "Metadata", .obj = metadata, .sorted = true, .primary = !data},
        {.title = "Data", .obj = data, .sorted = true, .primary = true},
    };
    int rc = cli_show(ctx, raw, secs, data ? 3 : 2);

    json_decref(path);
    return rc;
}

/* A KV v2 write answer (version metadata) or success line. */
static int show_written(struct cli_ctx *ctx, const char *api_path, const struct cli_resp *r)
{
    json_t *data = cli_data_obj(r);

    if (!data) {
        cli_success(ctx, "Success! Data written to: %s", api_path);
        return CLI_EXIT_OK;
    }
    return show_v2(ctx, api_path, r->json, data, NULL);
}

static int kv_data_call(struct cli_ctx *ctx, const char *what, const struct cli_req *rq,
                        const char *api_path)
{
    struct cli_resp resp = {0};
    int rc;

    if ((rc = cli_api(ctx, what, rq, &resp)) == CLI_EXIT_OK)
        rc = show_written(ctx, api_path, &resp);
    cli_resp_free(&resp);
    return rc;
}

/* ---- get ---------------------------------------------------------------------------------- */

static int get_v2(struct cli_ctx *ctx, const struct kv_path *kp, int64_t version)
{
    char api[KV_PATH_MAX * 2 + 16], ver[24];
    json_t *q = NULL, *data, *inner, *meta;
    struct cli_req rq = {.method = CLI_GET, .path = api};
    struct cli_resp resp = {0};
    int rc;

    cli_kv_api_path(kp, "data", false, api, sizeof(api));
    if (version > 0) {
        snprintf(ver, sizeof(ver), "%lld", (long long)version);
        q = json_pack("{s:s}", "version", ver);
        rq.query = q;
    }
    if ((rc = cli_api_send(ctx, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    data = cli_data_obj(&resp);
    meta = data ? json_object_get(data, "metadata") : NULL;
    inner = data ? json_object_get(data, "data") : NULL;
    if (resp.status == 404 && json_is_object(meta) && !json_is_object(inner)) {
        /* A deleted or destroyed version: the server still describes it. */
        if (!ctx->cfg.out.field)
            (void)show_v2(ctx, api, resp.json, meta, NULL);
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "version %lld of %s%s is %s",
                      (long long)json_integer_value(json_object_get(meta, "version")), kp->mount,
                      kp->rel,
                      json_is_true(json_object_get(meta, "destroyed")) ? "destroyed" : "deleted");
    } else if (resp.status == 404) {
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no value found at %s", api);
    } else if (resp.status != 200) {
        rc = cli_api_fail(ctx, "reading the secret", &rq, &resp);
    } else if (!json_is_object(inner)) {
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no value found at %s", api);
    } else {
        rc = show_v2(ctx, api, resp.json, meta, inner);
    }
out:
    json_decref(q);
    cli_resp_free(&resp);
    return rc;
}

static int get_v1(struct cli_ctx *ctx, const struct kv_path *kp)
{
    char api[KV_PATH_MAX * 2];
    struct cli_req rq = {.method = CLI_GET, .path = api};
    struct cli_resp resp = {0};
    int rc;

    cli_kv_api_path(kp, "", false, api, sizeof(api));
    if ((rc = cli_api_send(ctx, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (resp.status == 404)
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no value found at %s", api);
    else if (resp.status != 200 || !cli_data_obj(&resp))
        rc = cli_api_fail(ctx, "reading the secret", &rq, &resp);
    else
        rc = cli_show_response(ctx, resp.json);
out:
    cli_resp_free(&resp);
    return rc;
}

static int kv_get(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL;
    int64_t version = 0;
    const struct cli_flag flags[] = {
        MOUNT_FLAG(&mount),
        {"version", CLI_FLAG_INT, &version, NULL, "N", "read version N (KV v2)"},
    };
    struct kv_path kp;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 2, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if (version < 0)
        return cli_usage_error(ctx, "-version must be positive");
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) != CLI_CONTINUE)
        return rc;
    if (kp.version == 1 && version)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "-version needs a KV version 2 mount");
    return kp.version == 2 ? get_v2(ctx, &kp, version) : get_v1(ctx, &kp);
}

/* ---- put / patch ------------------------------------------------------------------------------ */

/* {"data": data, "options": {"cas": N} or {}}; takes a reference to data. */
static json_t *v2_body(json_t *data, bool cas_set, int64_t cas)
{
    json_t *opts = cas_set ? json_pack("{s:I}", "cas", (json_int_t)cas) : json_object();

    return opts ? json_pack("{s:O, s:o}", "data", data, "options", opts) : NULL;
}

static int read_data_args(struct cli_ctx *ctx, int argc, char **argv, json_t **out)
{
    char err[256] = "out of memory";

    *out = NULL;
    if (argc < 2)
        return cli_usage_error(ctx, "no data given (K=V arguments, or - for a JSON object on "
                                    "stdin)");
    if (cli_args_kv(argc - 1, argv + 1, out, err, sizeof(err)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
    return CLI_CONTINUE;
}

static int kv_put(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL;
    int64_t cas = 0;
    bool cas_set = false;
    const struct cli_flag flags[] = {
        MOUNT_FLAG(&mount),
        {"cas", CLI_FLAG_INT, &cas, &cas_set, "N",
         "check-and-set: write only if the current version is N (0: only if new)"},
    };
    char api[KV_PATH_MAX * 2 + 16];
    struct cli_req rq = {.method = CLI_PUT, .path = api};
    json_t *data = NULL, *body = NULL;
    struct kv_path kp;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 2, &argc, argv, 1, -1)) != CLI_CONTINUE)
        return rc;
    if ((rc = read_data_args(ctx, argc, argv, &data)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) != CLI_CONTINUE)
        goto out;
    if (kp.version == 1 && cas_set) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "-cas needs a KV version 2 mount");
        goto out;
    }
    cli_kv_api_path(&kp, "data", false, api, sizeof(api));
    if (kp.version == 2 && !(body = v2_body(data, cas_set, cas))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    rq.body = kp.version == 2 ? body : data;
    rc = kv_data_call(ctx, "writing the secret", &rq, api);
out:
    cli_json_wipe(data);
    json_decref(body);
    json_decref(data);
    return rc;
}

/* RFC 7396 merge of patch into target (consumed); returns the result (new reference). */
static json_t *merge_patch(json_t *target, const json_t *patch)
{
    const char *k;
    json_t *v;

    if (!json_is_object(patch)) {
        json_decref(target);
        return json_deep_copy(patch);
    }
    if (!json_is_object(target)) {
        json_decref(target);
        target = json_object();
    }
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else {
            json_t *cur = json_incref(json_object_get(target, k));
            json_object_set_new(target, k, merge_patch(cur, v));
        }
    }
    return target;
}

/* Read the current version, merge, write back with cas = that version (or the given -cas). */
static int patch_rw(struct cli_ctx *ctx, const char *api, const json_t *patch, bool cas_set,
                    int64_t cas)
{
    struct cli_req get = {.method = CLI_GET, .path = api};
    struct cli_req put = {.method = CLI_PUT, .path = api};
    struct cli_resp resp = {0};
    json_t *data, *merged = NULL, *body = NULL;
    int rc;

    if ((rc = cli_api(ctx, "reading the secret to patch", &get, &resp)) != CLI_EXIT_OK)
        goto out;
    data = cli_data_obj(&resp);
    if (!data || !json_is_object(json_object_get(data, "data"))) {
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no current version of %s to patch", api);
        goto out;
    }
    if (!cas_set)
        cas = json_integer_value(json_object_get(json_object_get(data, "metadata"), "version"));
    merged = merge_patch(json_deep_copy(json_object_get(data, "data")), patch);
    if (!merged || !(body = v2_body(merged, true, cas))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    put.body = body;
    rc = kv_data_call(ctx, "writing the patched secret", &put, api);
out:
    cli_json_wipe(merged);
    json_decref(merged);
    json_decref(body);
    cli_resp_free(&resp);
    return rc;
}

static int patch_merge(struct cli_ctx *ctx, const char *api, const json_t *body, bool fallback,
                       bool *out_fallback)
{
    struct cli_req rq = {.method = CLI_PATCH,
                         .path = api,
                         .body = body,
                         .content_type = "application/merge-patch+json"};
    struct cli_resp resp = {0};
    int rc;

    *out_fallback = false;
    if ((rc = cli_api_send(ctx, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    /* The vault CLI falls back to read-then-write when PATCH is refused or unknown. */
    if (fallback && (resp.status == 405 || resp.status == 403)) {
        *out_fallback = true;
        goto out;
    }
    if (resp.status < 200 || resp.status > 299)
        rc = cli_api_fail(ctx, "patching the secret", &rq, &resp);
    else
        rc = show_written(ctx, api, &resp);
out:
    cli_resp_free(&resp);
    return rc;
}

static int kv_patch(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL, *method = NULL;
    int64_t cas = 0;
    bool cas_set = false, fallback;
    const struct cli_flag flags[] = {
        MOUNT_FLAG(&mount),
        {"cas", CLI_FLAG_INT, &cas, &cas_set, "N", "check-and-set version"},
        {"method", CLI_FLAG_STR, &method, NULL, "M",
         "patch (HTTP PATCH only) or rw (read, merge, write); default: PATCH, rw if refused"},
    };
    char api[KV_PATH_MAX * 2 + 16];
    json_t *data = NULL, *body = NULL;
    struct kv_path kp;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 3, &argc, argv, 1, -1)) != CLI_CONTINUE)
        return rc;
    if (method && strcmp(method, "patch") != 0 && strcmp(method, "rw") != 0)
        return cli_usage_error(ctx, "-method must be patch or rw");
    if ((rc = read_data_args(ctx, argc, argv, &data)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) != CLI_CONTINUE)
        goto out;
    if ((rc = cli_kv_need_v2(ctx, &kp, "kv patch")) != CLI_CONTINUE)
        goto out;
    cli_kv_api_path(&kp, "data", false, api, sizeof(api));
    if (method && strcmp(method, "rw") == 0) {
        rc = patch_rw(ctx, api, data, cas_set, cas);
        goto out;
    }
    if (!(body = v2_body(data, cas_set, cas))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    rc = patch_merge(ctx, api, body, !method, &fallback);
    if (rc == CLI_EXIT_OK && fallback)
        rc = patch_rw(ctx, api, data, cas_set, cas);
out:
    cli_json_wipe(data);
    json_decref(body);
    json_decref(data);
    return rc;
}

/* ---- delete / undelete / destroy ---------------------------------------------------------- */

/* -versions=1,2 into ["1","2"] (*out owned), checked before any request. */
static int versions_parse(struct cli_ctx *ctx, const char *versions, json_t **out)
{
    if (cli_args_versions(versions, out) != TR_OK)
        return cli_usage_error(ctx, "-versions needs version numbers such as 1,2");
    return CLI_CONTINUE;
}

/* PUT <mount><prefix>/<rel> {"versions": list}; list is consumed. */
static int versions_call(struct cli_ctx *ctx, const struct kv_path *kp, const char *prefix,
                         json_t *list)
{
    char api[KV_PATH_MAX * 2 + 16], what[64];
    struct cli_req rq = {.method = CLI_PUT, .path = api};
    struct cli_resp resp = {0};
    json_t *body;
    int rc;

    if (!(body = json_pack("{s:o}", "versions", list)))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    cli_kv_api_path(kp, prefix, false, api, sizeof(api));
    rq.body = body;
    snprintf(what, sizeof(what), "%s versions", !strcmp(prefix, "delete") ? "deleting" : prefix);
    if ((rc = cli_api(ctx, what, &rq, &resp)) == CLI_EXIT_OK)
        cli_success(ctx, "Success! Data written to: %s", api);
    json_decref(body);
    cli_resp_free(&resp);
    return rc;
}

static int kv_delete(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL, *versions = NULL;
    const struct cli_flag flags[] = {
        MOUNT_FLAG(&mount),
        {"versions", CLI_FLAG_STR, &versions, NULL, "LIST",
         "soft-delete these versions (1,2) instead of the latest (KV v2)"},
    };
    char api[KV_PATH_MAX * 2 + 16];
    struct cli_req rq = {.method = CLI_DELETE, .path = api};
    struct cli_resp resp = {0};
    struct kv_path kp;
    json_t *list = NULL;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 2, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if (versions && (rc = versions_parse(ctx, versions, &list)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) != CLI_CONTINUE)
        goto out;
    if (list) {
        if ((rc = cli_kv_need_v2(ctx, &kp, "-versions")) == CLI_CONTINUE) {
            rc = versions_call(ctx, &kp, "delete", list);
            list = NULL; /* consumed */
        }
        goto out;
    }
    cli_kv_api_path(&kp, "data", false, api, sizeof(api));
    if ((rc = cli_api(ctx, "deleting the secret", &rq, &resp)) == CLI_EXIT_OK)
        cli_success(ctx, "Success! Data deleted (if it existed) at: %s", api);
out:
    json_decref(list);
    cli_resp_free(&resp);
    return rc;
}

static int kv_versions_cmd(struct cli_ctx *ctx, int argc, char **argv, const char *prefix)
{
    const char *mount = NULL, *versions = NULL;
    const struct cli_flag flags[] = {
        MOUNT_FLAG(&mount),
        {"versions", CLI_FLAG_STR, &versions, NULL, "LIST", "versions to act on (1,2); required"},
    };
    struct kv_path kp;
    json_t *list = NULL;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 2, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if (!versions)
        return cli_usage_error(ctx, "-versions is required");
    if ((rc = versions_parse(ctx, versions, &list)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) == CLI_CONTINUE &&
        (rc = cli_kv_need_v2(ctx, &kp, prefix)) == CLI_CONTINUE)
        return versions_call(ctx, &kp, prefix, list);
    json_decref(list);
    return rc;
}

static int kv_undelete(struct cli_ctx *ctx, int argc, char **argv)
{
    return kv_versions_cmd(ctx, argc, argv, "undelete");
}

static int kv_destroy(struct cli_ctx *ctx, int argc, char **argv)
{
    return kv_versions_cmd(ctx, argc, argv, "destroy");
}

/* ---- list --------------------------------------------------------------------------------- */

static int kv_list(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL;
    const struct cli_flag flags[] = {MOUNT_FLAG(&mount)};
    char api[KV_PATH_MAX * 2 + 16];
    struct cli_req rq = {.method = CLI_LIST, .path = api};
    struct cli_resp resp = {0};
    struct kv_path kp;
    json_t *keys;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 1, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) != CLI_CONTINUE)
        return rc;
    cli_kv_api_path(&kp, "metadata", true, api, sizeof(api));
    if ((rc = cli_api_send(ctx, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    keys = cli_data_obj(&resp) ? json_object_get(cli_data_obj(&resp), "keys") : NULL;
    if (resp.status == 404 && !json_is_array(keys)) {
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no entries found at %s", api);
    } else if (resp.status != 200 || !json_is_array(keys)) {
        rc = cli_api_fail(ctx, "listing", &rq, &resp);
    } else if (ctx->cfg.out.format == CLI_FMT_ENV) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "-format=env cannot show a list");
    } else {
        struct cli_section sec = {.obj = keys, .primary = true};
        rc = cli_show(ctx, resp.json, &sec, 1);
    }
out:
    cli_resp_free(&resp);
    return rc;
}

/* ---- rollback ------------------------------------------------------------------------------- */

/* The current version, checking that version `want` exists and is live. */
static int rollback_check(struct cli_ctx *ctx, const struct kv_path *kp, int64_t want,
                          int64_t *out_current)
{
    char api[KV_PATH_MAX * 2 + 16], key[24];
    struct cli_req rq = {.method = CLI_GET, .path = api};
    struct cli_resp resp = {0};
    json_t *data, *ver;
    int rc;

    cli_kv_api_path(kp, "metadata", false, api, sizeof(api));
    if ((rc = cli_api(ctx, "reading metadata", &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    rc = CLI_EXIT_LOCAL;
    data = cli_data_obj(&resp);
    snprintf(key, sizeof(key), "%lld", (long long)want);
    ver = data ? json_object_get(json_object_get(data, "versions"), key) : NULL;
    if (!json_is_object(ver)) {
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "version %s of %s%s does not exist", key, kp->mount,
                      kp->rel);
        goto out;
    }
    if (json_is_true(json_object_get(ver, "destroyed")) ||
        (json_string_value(json_object_get(ver, "deletion_time")) &&
         *json_string_value(json_object_get(ver, "deletion_time")))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "version %s is deleted or destroyed: undelete it first",
                      key);
        goto out;
    }
    *out_current = json_integer_value(json_object_get(data, "current_version"));
    rc = CLI_EXIT_OK;
out:
    cli_resp_free(&resp);
    return rc;
}

static int kv_rollback(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL;
    int64_t version = 0, current = 0;
    const struct cli_flag flags[] = {
        MOUNT_FLAG(&mount),
        {"version", CLI_FLAG_INT, &version, NULL, "N", "the version to restore (required)"},
    };
    char api[KV_PATH_MAX * 2 + 16], ver[24];
    struct cli_req get = {.method = CLI_GET, .path = api}, put = {.method = CLI_PUT, .path = api};
    struct cli_resp resp = {0};
    json_t *q = NULL, *old, *body = NULL;
    struct kv_path kp;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 2, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if (version <= 0)
        return cli_usage_error(ctx, "-version=N (N >= 1) is required");
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_need_v2(ctx, &kp, "kv rollback")) != CLI_CONTINUE)
        return rc;
    if ((rc = rollback_check(ctx, &kp, version, &current)) != CLI_EXIT_OK)
        return rc;
    cli_kv_api_path(&kp, "data", false, api, sizeof(api));
    snprintf(ver, sizeof(ver), "%lld", (long long)version);
    get.query = q = json_pack("{s:s}", "version", ver);
    if ((rc = cli_api(ctx, "reading the version to restore", &get, &resp)) != CLI_EXIT_OK)
        goto out;
    old = cli_data_obj(&resp) ? json_object_get(cli_data_obj(&resp), "data") : NULL;
    if (!json_is_object(old) || !(body = v2_body(old, true, current))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "version %s has no data to restore", ver);
        goto out;
    }
    put.body = body;
    rc = kv_data_call(ctx, "writing the restored version", &put, api);
out:
    json_decref(q);
    json_decref(body);
    cli_resp_free(&resp);
    return rc;
}

#define KV_DATA_HELP                                                                               \
    "Data: K=V (literal), K=@FILE (file contents), K=- (stdin), K alone (prompted without\n"       \
    "echo on a terminal), - (a JSON object on stdin), @FILE (a JSON object from FILE)."

const struct cli_cmd cli_kv_cmds[] = {
    {"get", "PATH", "read a secret (-version=N for an older version)", NULL, kv_get, NULL},
    {"put", "PATH K=V...", "write a secret (replaces all its data)", KV_DATA_HELP, kv_put, NULL},
    {"patch", "PATH K=V...", "update some keys of a secret (KV v2)", KV_DATA_HELP, kv_patch, NULL},
    {"delete", "PATH", "soft-delete the latest version (or -versions=...)", NULL, kv_delete, NULL},
    {"undelete", "PATH", "restore soft-deleted versions (-versions=...)", NULL, kv_undelete, NULL},
    {"destroy", "PATH", "permanently destroy versions (-versions=...)", NULL, kv_destroy, NULL},
    {"list", "PATH", "list the keys under a path", NULL, kv_list, NULL},
    {"metadata", "", "metadata commands: get, put, delete", NULL, NULL, cli_kv_metadata_cmds},
    {"rollback", "PATH", "write an older version again as the newest (-version=N)", NULL,
     kv_rollback, NULL},
    {0},
};
