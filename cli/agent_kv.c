#include "agent_kv.h"

#include <stdlib.h>
#include <string.h>

#include "cmd_kv_int.h"

/* One secret as read: the whole answer is kept (owned) so its strings can be wiped at the end. */
struct kv_entry {
    char *path;
    json_t *root;   /* the parsed answer, owned; NULL when the read failed */
    json_t *fields; /* borrowed from root: the secret's key/value object */
    int rc;         /* exit code of the read */
};

struct agent_kv {
    struct cli_ctx *ctx;
    bool api_form;
    struct kv_entry *v;
    size_t n, cap;
};

int agent_kv_new(struct cli_ctx *ctx, bool api_form, struct agent_kv **out)
{
    struct agent_kv *kv = calloc(1, sizeof(*kv));

    *out = NULL;
    if (!kv)
        return TR_E_NOMEM;
    kv->ctx = ctx;
    kv->api_form = api_form;
    *out = kv;
    return TR_OK;
}

void agent_kv_free(struct agent_kv *kv)
{
    if (!kv)
        return;
    for (size_t i = 0; i < kv->n; i++) {
        cli_json_wipe(kv->v[i].root);
        json_decref(kv->v[i].root);
        free(kv->v[i].path);
    }
    free(kv->v);
    free(kv);
}

/* The read path for a resolved kp: <mount>data/<rel> (v2) or <mount><rel> (v1). */
static void read_path(const struct agent_kv *kv, struct kv_path *kp, char *buf, size_t len)
{
    if (kp->version == 2 && kv->api_form && strncmp(kp->rel, "data/", 5) == 0)
        memmove(kp->rel, kp->rel + 5, strlen(kp->rel + 5) + 1);
    cli_kv_api_path(kp, "data", false, buf, len);
}

/* A 404 answer: a deleted or destroyed v2 version still describes itself. */
static int read_404(struct cli_ctx *ctx, const char *who, const char *api, const struct cli_resp *r)
{
    json_t *data = cli_data_obj(r);
    json_t *meta = data ? json_object_get(data, "metadata") : NULL;

    if (json_is_object(meta))
        return cli_fail(ctx, CLI_EXIT_NOTFOUND, "%s: the current version of %s is %s", who, api,
                        json_is_true(json_object_get(meta, "destroyed")) ? "destroyed" : "deleted");
    return cli_fail(ctx, CLI_EXIT_NOTFOUND, "%s: no secret at %s", who, api);
}

/* Read e->path into e (root, fields, rc). */
static int kv_read(struct agent_kv *kv, const char *who, struct kv_entry *e)
{
    char api[KV_PATH_MAX * 2 + 16], what[KV_PATH_MAX * 2 + 160];
    struct cli_req rq = {.method = CLI_GET, .path = api};
    struct cli_resp resp = {0};
    struct kv_path kp;
    json_t *data, *fields;
    int rc;

    if ((rc = cli_kv_resolve(kv->ctx, NULL, e->path, &kp)) != CLI_CONTINUE)
        return cli_fail(kv->ctx, rc, "%s: cannot find the KV mount of %s", who, e->path);
    read_path(kv, &kp, api, sizeof(api));
    if ((rc = cli_api_send(kv->ctx, &rq, &resp)) != CLI_EXIT_OK)
        goto out;
    if (resp.status == 404) {
        rc = read_404(kv->ctx, who, api, &resp);
        goto out;
    }
    if (resp.status != 200) {
        snprintf(what, sizeof(what), "reading %s for %s", api, who);
        rc = cli_api_fail(kv->ctx, what, &rq, &resp);
        goto out;
    }
    data = cli_data_obj(&resp);
    fields = kp.version == 2 && data ? json_object_get(data, "data") : data;
    if (!json_is_object(fields)) {
        rc = cli_fail(kv->ctx, CLI_EXIT_NOTFOUND, "%s: no secret data at %s", who, api);
        goto out;
    }
    e->root = resp.json; /* kept: wiped by agent_kv_free */
    e->fields = fields;
    resp.json = NULL;
    rc = CLI_EXIT_OK;
out:
    cli_resp_free(&resp);
    return rc;
}

/* The cache entry for path, reading it on first use. */
static int kv_entry_get(struct agent_kv *kv, const char *who, const char *path,
                        struct kv_entry **out, bool *out_fresh)
{
    struct kv_entry *nv, *e;
    size_t ncap;

    *out = NULL;
    *out_fresh = false;
    for (size_t i = 0; i < kv->n; i++) {
        if (strcmp(kv->v[i].path, path) == 0) {
            *out = &kv->v[i];
            return TR_OK;
        }
    }
    *out_fresh = true;
    if (kv->n == kv->cap) {
        ncap = kv->cap ? kv->cap * 2 : 8;
        if (ncap > SIZE_MAX / sizeof(*nv) || !(nv = realloc(kv->v, ncap * sizeof(*nv))))
            return TR_E_NOMEM;
        kv->v = nv; /* entries hold pointers into json, never into this array: realloc is safe */
        kv->cap = ncap;
    }
    e = &kv->v[kv->n];
    memset(e, 0, sizeof(*e));
    if (!(e->path = strdup(path)))
        return TR_E_NOMEM;
    kv->n++;
    e->rc = kv_read(kv, who, e);
    *out = e;
    return TR_OK;
}

int agent_kv_field(struct agent_kv *kv, const char *who, const char *path, const char *field,
                   const json_t **out)
{
    struct kv_entry *e;
    bool fresh;
    json_t *v;

    *out = NULL;
    if (kv_entry_get(kv, who, path, &e, &fresh) != TR_OK)
        return cli_fail(kv->ctx, CLI_EXIT_LOCAL, "out of memory");
    if (e->rc != CLI_EXIT_OK && !fresh) /* the first reference printed why */
        return cli_fail(kv->ctx, e->rc, "%s: %s could not be read (see above)", who, path);
    if (e->rc != CLI_EXIT_OK)
        return e->rc;
    if (!(v = json_object_get(e->fields, field)))
        return cli_fail(kv->ctx, CLI_EXIT_NOTFOUND, "%s: the secret %s has no field \"%s\"", who,
                        path, field);
    *out = v;
    return CLI_EXIT_OK;
}
