/*
 * cmd_kv_meta - `kv metadata get|put|delete` on KV v2 mounts (<mount>metadata/<path>).
 */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cmd_kv_int.h"
#include "commands.h"

static int version_cmp(const void *a, const void *b)
{
    long long x = strtoll(*(const char *const *)a, NULL, 10);
    long long y = strtoll(*(const char *const *)b, NULL, 10);
    return (x > y) - (x < y);
}

/* Metadata without `versions`, then one section per version in numeric order. */
static int show_metadata(struct cli_ctx *ctx, const char *api, const json_t *raw, json_t *data)
{
    json_t *top = json_deep_copy(data), *versions = json_object_get(data, "versions"), *v;
    size_t n = json_object_size(versions), i = 0;
    struct cli_section *secs = calloc(n + 2, sizeof(*secs));
    const char **keys = calloc(n + 1, sizeof(*keys));
    char(*titles)[40] = calloc(n + 1, sizeof(*titles));
    json_t *path = json_string(api);
    const char *k;
    int rc;

    if (!top || !secs || !keys || !titles || !path) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    json_object_del(top, "versions");
    json_object_foreach(versions, k, v)
    {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), version_cmp);
    secs[0] = (struct cli_section){.title = "Metadata Path", .obj = path};
    secs[1] =
        (struct cli_section){.title = "Metadata", .obj = top, .sorted = true, .primary = true};
    for (i = 0; i < n; i++) {
        snprintf(titles[i], sizeof(titles[i]), "Version %.24s", keys[i]);
        secs[i + 2] = (struct cli_section){
            .title = titles[i], .obj = json_object_get(versions, keys[i]), .sorted = true};
    }
    rc = cli_show(ctx, raw, secs, n + 2);
out:
    json_decref(top);
    json_decref(path);
    free(secs);
    free(keys);
    free(titles);
    return rc;
}

static int meta_get(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL;
    const struct cli_flag flags[] = {MOUNT_FLAG(&mount)};
    char api[KV_PATH_MAX * 2 + 16];
    struct cli_req rq = {.method = CLI_GET, .path = api};
    struct cli_resp resp = {0};
    struct kv_path kp;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 1, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_need_v2(ctx, &kp, "kv metadata")) != CLI_CONTINUE)
        return rc;
    cli_kv_api_path(&kp, "metadata", false, api, sizeof(api));
    if ((rc = cli_api_send(ctx, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (resp.status == 404)
        rc = cli_fail(ctx, CLI_EXIT_NOTFOUND, "no metadata found at %s", api);
    else if (resp.status != 200 || !cli_data_obj(&resp))
        rc = cli_api_fail(ctx, "reading metadata", &rq, &resp);
    else
        rc = show_metadata(ctx, api, resp.json, cli_data_obj(&resp));
out:
    cli_resp_free(&resp);
    return rc;
}

struct meta_opts {
    int64_t max_versions;
    bool max_set, cas_required, cas_set;
    const char *delete_after;
    json_t *custom;
};

static json_t *meta_body(const struct meta_opts *o, char *err, size_t errlen)
{
    json_t *b = json_object(), *custom = NULL, *v;
    const char *val;
    size_t i, klen;
    char key[256];

    if (!b)
        return NULL;
    if (o->max_set)
        json_object_set_new(b, "max_versions", json_integer(o->max_versions));
    if (o->cas_set)
        json_object_set_new(b, "cas_required", json_boolean(o->cas_required));
    if (o->delete_after)
        json_object_set_new(b, "delete_version_after", json_string(o->delete_after));
    json_array_foreach(o->custom, i, v)
    {
        if (!custom && !(custom = json_object()))
            goto bad;
        if (cli_args_split(json_string_value(v), &klen, &val) != TR_OK || klen >= sizeof(key)) {
            snprintf(err, errlen, "-custom-metadata needs KEY=VALUE");
            goto bad;
        }
        memcpy(key, json_string_value(v), klen);
        key[klen] = '\0';
        json_object_set_new(custom, key, json_string(val));
    }
    if (custom)
        json_object_set_new(b, "custom_metadata", custom);
    return b;
bad:
    json_decref(custom);
    json_decref(b);
    return NULL;
}

static int meta_put(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL;
    struct meta_opts o = {0};
    const struct cli_flag flags[] = {
        MOUNT_FLAG(&mount),
        {"max-versions", CLI_FLAG_INT, &o.max_versions, &o.max_set, "N", "versions to keep"},
        {"cas-required", CLI_FLAG_BOOL, &o.cas_required, &o.cas_set, NULL,
         "require -cas on every write"},
        {"delete-version-after", CLI_FLAG_DUR, &o.delete_after, NULL, "DUR",
         "soft-delete versions this long after they are written"},
        {"custom-metadata", CLI_FLAG_LIST, &o.custom, NULL, "K=V", "custom metadata (repeatable)"},
    };
    char api[KV_PATH_MAX * 2 + 16], err[128] = "out of memory";
    struct cli_req rq = {.method = CLI_PUT, .path = api};
    struct cli_resp resp = {0};
    json_t *body = NULL;
    struct kv_path kp;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 5, &argc, argv, 1, 1)) != CLI_CONTINUE)
        goto out;
    if (!(body = meta_body(&o, err, sizeof(err)))) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
        goto out;
    }
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) != CLI_CONTINUE)
        goto out;
    if ((rc = cli_kv_need_v2(ctx, &kp, "kv metadata")) != CLI_CONTINUE)
        goto out;
    cli_kv_api_path(&kp, "metadata", false, api, sizeof(api));
    rq.body = body;
    if ((rc = cli_api(ctx, "writing metadata", &rq, &resp)) == CLI_EXIT_OK)
        cli_success(ctx, "Success! Data written to: %s", api);
out:
    json_decref(body);
    json_decref(o.custom);
    cli_resp_free(&resp);
    return rc;
}

static int meta_delete(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *mount = NULL;
    const struct cli_flag flags[] = {MOUNT_FLAG(&mount)};
    char api[KV_PATH_MAX * 2 + 16];
    struct cli_req rq = {.method = CLI_DELETE, .path = api};
    struct cli_resp resp = {0};
    struct kv_path kp;
    int rc;

    if ((rc = cli_kv_parse(ctx, flags, 1, &argc, argv, 1, 1)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_resolve(ctx, mount, argv[0], &kp)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_kv_need_v2(ctx, &kp, "kv metadata")) != CLI_CONTINUE)
        return rc;
    cli_kv_api_path(&kp, "metadata", false, api, sizeof(api));
    if ((rc = cli_api(ctx, "deleting metadata", &rq, &resp)) == CLI_EXIT_OK)
        cli_success(ctx, "Success! Data deleted (if it existed) at: %s", api);
    cli_resp_free(&resp);
    return rc;
}

const struct cli_cmd cli_kv_metadata_cmds[] = {
    {"get", "PATH", "show a secret's metadata and versions", NULL, meta_get, NULL},
    {"put", "PATH", "set max-versions, cas-required, delete-version-after, custom metadata",
     "Only the options given are sent.", meta_put, NULL},
    {"delete", "PATH", "delete all versions and the metadata of a secret", NULL, meta_delete, NULL},
    {0},
};
