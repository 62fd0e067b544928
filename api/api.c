#include "api_int.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"

int api_new(const struct api_opts *opts, struct api **out)
{
    struct api *api = calloc(1, sizeof(*api));

    *out = NULL;
    if (!api)
        return TR_E_NOMEM;
    api->opts = *opts;
    *out = api;
    return TR_OK;
}

void api_free(struct api *api)
{
    free(api);
}

void api_resp_free(struct api_resp *resp)
{
    if (!resp)
        return;
    free(resp->body);
    free(resp);
}

enum api_method api_method_parse(const char *name)
{
    static const struct {
        const char *name;
        enum api_method m;
    } map[] = {{"GET", API_GET},     {"HEAD", API_HEAD},      {"PUT", API_PUT},
               {"POST", API_PUT},    {"DELETE", API_DELETE},  {"LIST", API_LIST},
               {"PATCH", API_PATCH}, {"OPTIONS", API_OPTIONS}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(name, map[i].name) == 0)
            return map[i].m;
    return API_OTHER;
}

static void call_finish(struct api_call *c, struct api_resp *resp)
{
    if (c->req->method == API_HEAD)
        resp->body_suppressed = true;
    c->done(c->done_arg, resp);
    free(c->path);
    json_decref(c->query);
    free(c);
}

void api_reply_json(struct api_call *c, int status, json_t *body)
{
    struct api_resp *resp = calloc(1, sizeof(*resp));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (!resp || (body && !text)) {
        /* Out of memory while answering: the server turns a NULL body into a bare 500. */
        free(text);
        if (resp) {
            resp->status = 500;
            resp->content_type = "application/json";
            call_finish(c, resp);
            return;
        }
        c->done(c->done_arg, NULL);
        free(c->path);
        json_decref(c->query);
        free(c);
        return;
    }
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = text;
    resp->body_len = text ? strlen(text) : 0;
    call_finish(c, resp);
}

void api_reply_error(struct api_call *c, int status, const char *msg)
{
    json_t *errs = json_array();
    if (errs && msg)
        json_array_append_new(errs, json_string(msg));
    api_reply_json(c, status, json_pack("{s:o}", "errors", errs ? errs : json_array()));
}

void api_reply_status(struct api_call *c, int status)
{
    api_reply_json(c, status, NULL);
}

/* Decode the path after /v1/ and refuse anything that could mean a different path to another
 * component: '.' and '..' segments (raw or percent-encoded), NUL and other control bytes. */
static int path_canonical(const char *raw, char **out)
{
    size_t n = 0;
    char *p = NULL;
    int rc = TR_E_INVAL;

    *out = NULL;
    if (strlen(raw) > API_PATH_MAX)
        return TR_E_TOO_LARGE;
    if (!(p = evhttp_uridecode(raw, 0, &n)))
        return TR_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            goto out;
    /* collapse "//" silently, like hvac and Vault's router do */
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (!(p[i] == '/' && w > 0 && p[w - 1] == '/'))
            p[w++] = p[i];
    p[w] = '\0';
    for (char *seg = p; seg && *seg;) {
        char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            goto out;
        seg = slash ? slash + 1 : NULL;
    }
    *out = p;
    p = NULL;
    rc = TR_OK;
out:
    free(p);
    return rc;
}

static int query_parse(const char *q, json_t **out)
{
    struct evkeyvalq kv;
    json_t *o = json_object();

    *out = NULL;
    if (!o)
        return TR_E_NOMEM;
    kv.tqh_first = NULL;
    kv.tqh_last = &kv.tqh_first;
    if (q && evhttp_parse_query_str(q, &kv) != 0) {
        json_decref(o);
        return TR_E_INVAL;
    }
    for (struct evkeyval *e = kv.tqh_first; e; e = e->next.tqe_next)
        json_object_set_new(o, e->key, json_string(e->value));
    evhttp_clear_headers(&kv);
    *out = o;
    return TR_OK;
}

/* Raw sys endpoints are answered before the seal and token checks (vault-api.md §1.9). */
static bool route_raw_sys(struct api_call *c)
{
    if (strcmp(c->path, "sys/health") == 0) {
        api_sys_health(c);
        return true;
    }
    if (strcmp(c->path, "sys/seal-status") == 0) {
        api_sys_seal_status(c);
        return true;
    }
    if (strcmp(c->path, "sys/unseal") == 0) {
        api_sys_unseal(c);
        return true;
    }
    if (strcmp(c->path, "sys/leader") == 0) {
        api_sys_leader(c);
        return true;
    }
    return false;
}

void api_handle(struct api *api, const struct api_req *req, api_done_fn done, void *arg)
{
    struct api_call *c = calloc(1, sizeof(*c));
    int rc;

    if (!c) {
        done(arg, NULL);
        return;
    }
    c->api = api;
    c->req = req;
    c->method = req->method;
    c->done = done;
    c->done_arg = arg;
    if (strncmp(req->uri_path, "/v1/", 4) != 0) {
        api_reply_error(c, 404, NULL);
        return;
    }
    if ((rc = path_canonical(req->uri_path + 4, &c->path)) != TR_OK) {
        api_reply_error(c, rc == TR_E_NOMEM ? 500 : 400,
                        rc == TR_E_NOMEM ? "internal error" : "relative paths not supported");
        return;
    }
    if (query_parse(req->query, &c->query) != TR_OK) {
        api_reply_error(c, 400, "invalid query string");
        return;
    }
    if (req->method == API_OTHER || req->method == API_OPTIONS) {
        api_reply_error(c, 405, NULL);
        return;
    }
    if (route_raw_sys(c))
        return;
    /* Nothing else exists yet: the store is not initialised. */
    api_reply_error(c, 503, "Vault is sealed");
}

bool api_body_object(struct api_call *c, json_t **out)
{
    const struct api_req *r = c->req;
    char err[160];
    size_t i = 0;

    *out = NULL;
    while (i < r->body_len &&
           (r->body[i] == ' ' || r->body[i] == '\t' || r->body[i] == '\r' || r->body[i] == '\n'))
        i++;
    if (i == r->body_len) {
        *out = json_object();
        return *out != NULL;
    }
    /* curl -d sends form encoding; Vault still reads a body that starts like JSON as JSON. */
    bool form = r->content_type &&
                strncmp(r->content_type, "application/x-www-form-urlencoded", 33) == 0 &&
                r->body[i] != '{' && r->body[i] != '[';
    if (form) {
        char *text = strndup((const char *)r->body, r->body_len);
        int rc = text ? query_parse(text, out) : TR_E_NOMEM;
        free(text);
        if (rc != TR_OK)
            api_reply_error(c, 400, "failed to parse form body");
        return rc == TR_OK;
    }
    int rc = tr_json_parse((const char *)r->body, r->body_len, NULL, out, err, sizeof(err));
    if (rc == TR_OK && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        snprintf(err, sizeof(err), "request body must be a JSON object");
        rc = TR_E_INVAL;
    }
    if (rc != TR_OK)
        api_reply_error(c, rc == TR_E_TOO_LARGE ? 413 : 400, err);
    return rc == TR_OK;
}

void api_json_wipe_string(json_t *v)
{
    if (json_is_string(v)) {
        /* jansson owns the bytes; clearing them in place keeps a share or token from lingering
         * in freed heap. The length is unchanged so jansson's bookkeeping stays valid. */
        char *p = (char *)json_string_value(v);
        sodium_memzero(p, json_string_length(v));
    }
}
