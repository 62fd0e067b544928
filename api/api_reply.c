/* Responses: the Vault envelope, raw bodies, errors and the one tr_err -> status table. */
#include "api_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/tr_json.h"

static void call_free(struct api_call *c)
{
    if (c->store)
        api_core_store_unref(c->api, c->store);
    api_token_free(c->token);
    api_acl_free(c->acl);
    api_audit_req_free(c->audit_req);
    free(c->path);
    json_decref(c->query);
    api_json_wipe_tree(c->body); /* secret values, tokens, shares, plaintexts */
    json_decref(c->body);
    free(c);
}

/* An answer held back until its response line is durable (api_audit_line_queue). */
struct held {
    api_done_fn done;
    void *done_arg;
    struct api_resp *resp; /* NULL: the server answers a bare 500 */
};

/* The fail-closed answer when the response's line could not be made durable: the same 503 an
 * audit write failure gives (audit_response). NULL (a bare 500) if even that cannot be built. */
static struct api_resp *resp_audit_unavailable(bool head)
{
    static const char text[] = "{\"errors\":[\"audit log unavailable\"]}";
    struct api_resp *resp = calloc(1, sizeof(*resp));

    if (!resp || !(resp->body = malloc(sizeof(text)))) {
        free(resp);
        return NULL;
    }
    memcpy(resp->body, text, sizeof(text));
    resp->status = 503;
    resp->content_type = "application/json";
    resp->body_len = sizeof(text) - 1;
    resp->body_suppressed = head;
    return resp;
}

/* The answer to send once the audit device decided on its line: resp itself, or the 503. */
static struct api_resp *resp_after_audit(struct api_resp *resp, int rc)
{
    if (rc == TR_OK)
        return resp;
    bool head = resp && resp->body_suppressed;
    api_resp_free(resp); /* the answer that must not leave unaudited (wiped) */
    return resp_audit_unavailable(head);
}

/* Runs in the device's sync thread, or in the replying thread when the verdict was known. */
static void held_release(void *arg, int rc)
{
    struct held *h = arg;

    h->done(h->done_arg, resp_after_audit(h->resp, rc));
    free(h);
}

/* Complete the call. line: the response's audit line, NULL when there is none. */
static void call_finish(struct api_call *c, struct api_resp *resp, struct api_audit_line *line)
{
    struct api_audit *audit = c->api->audit;
    struct held *h = NULL;
    uint64_t seq = 0;

    if (resp && c->req->method == API_HEAD)
        resp->body_suppressed = true;
    api_done_fn done = c->done;
    void *arg = c->done_arg;
    /* Release the store reference before the answer leaves: a sys/seal waiting for idle must
     * not wait for the network (nor for the audit sync). But only once the line is written or
     * queued: that seal then finds it and anchors it (api_anchor_flush). */
    if (!line) {
        call_free(c);
        done(arg, resp);
        return;
    }
    if (!(h = malloc(sizeof(*h)))) {
        /* No memory to hold it: write and wait here rather than let it leave unaudited (rare). */
        int rc = api_audit_line_write(audit, line, &seq);
        call_free(c);
        done(arg, resp_after_audit(resp, rc == TR_OK ? api_audit_wait(audit, seq) : rc));
        return;
    }
    *h = (struct held){.done = done, .done_arg = arg, .resp = resp};
    /* The event-loop thread goes on serving: the sync thread writes the line with the others
     * queued meanwhile, syncs them, and then answers. */
    api_audit_line_queue(audit, line, held_release, h);
    call_free(c);
}

static const char *const op_names[] = {"read", "list", "create", "update", "patch", "delete"};

static const char *audit_operation(const struct api_call *c)
{
    /* before the existence check the operation is known from the method only */
    return c->help                   ? "help" /* as Vault's logical.HelpOperation */
           : c->method == API_LIST   ? "list"
           : c->method == API_GET    ? "read"
           : c->method == API_DELETE ? "delete"
           : c->method == API_PATCH  ? "patch"
           : c->acl                  ? op_names[c->op]
                                     : "update";
}

static json_t *audit_request_json(const struct api_call *c)
{
    json_t *r =
        json_pack("{s:s, s:s, s:s, s:s}", "id", c->request_id, "operation", audit_operation(c),
                  "path", c->path, "remote_address", c->req->remote_ip ? c->req->remote_ip : "");
    if (r && c->req->token)
        json_object_set_new(r, "client_token", json_string(c->req->token));
    if (r && c->body)
        json_object_set(r, "data", c->body);
    return r;
}

bool api_audit_request(struct api_call *c)
{
    json_t *body = NULL, *req;
    int rc;

    if (!c->api->audit)
        return true;
    if (!api_body_object(c, &body))
        return false; /* answered (400/413); no entry is written */
    /* MAC'd once here; the response line embeds the same copy. */
    req = audit_request_json(c);
    rc = req ? api_audit_req_new(req, &c->audit_req) : TR_E_NOMEM;
    if (req)
        api_json_wipe_string(json_object_get(req, "client_token")); /* our copy of the token */
    json_decref(req);
    /* Written now, before the handler runs (so a request that crashes or hangs the server
     * still leaves its line), durable later, without blocking this (event-loop) thread: the
     * response line is made durable before the answer leaves, which covers the request line
     * too, and any work that changes storage runs on a pool thread that first waits for it
     * (api_audit_request_wait), so no change is made for a request whose line could be lost. */
    if (rc == TR_OK)
        rc = api_audit_req_log(c->api->audit, c->audit_req, &c->audit_seq);
    if (rc != TR_OK) {
        /* fail closed: a request that cannot be audited is not served */
        api_reply_error(c, 503, "audit log unavailable");
        return false;
    }
    c->audited = true;
    return true;
}

bool api_audit_request_wait(struct api_call *c)
{
    if (!c->api->audit || !c->audit_seq || api_audit_wait(c->api->audit, c->audit_seq) == TR_OK)
        return true;
    api_reply_error(c, 503, "audit log unavailable");
    return false;
}

/* Make the response entry's line (written when the answer is handed over: call_finish); *out is
 * NULL when there is none. On failure the answer becomes 503 (fail closed). */
static void audit_response(struct api_call *c, int *status, json_t **body,
                           struct api_audit_line **out)
{
    const char *op = audit_operation(c);
    int rc = TR_E_NOMEM;

    *out = NULL;
    if (!c->api->audit || !c->audited)
        return;
    json_t *resp = json_pack("{s:i}", "status", *status);
    if (resp && *body) {
        json_t *d = json_object_get(*body, "data"), *a = json_object_get(*body, "auth");
        json_t *errs = json_object_get(*body, "errors");
        if (d)
            json_object_set(resp, "data", d);
        if (a && !json_is_null(a))
            json_object_set(resp, "auth", a);
        if (errs)
            json_object_set(resp, "errors", errs);
    }
    /* The request line named a PUT/POST "update" before the ACL step knew whether it creates. */
    if (resp && strcmp(op, "update") != 0 && c->method != API_GET && c->method != API_LIST &&
        c->method != API_DELETE && c->method != API_PATCH)
        rc = api_audit_req_set(c->audit_req, "operation", json_string(op));
    else if (resp)
        rc = TR_OK;
    if (rc == TR_OK)
        rc = api_audit_resp_prepare(c->api->audit, c->audit_req, resp, out);
    json_decref(resp);
    if (rc != TR_OK) {
        json_decref(*body);
        *body = json_pack("{s:[s]}", "errors", "audit log unavailable");
        *status = 503;
    }
}

bool api_audit_response_early(struct api_call *c, int status)
{
    struct api_audit_line *line = NULL;
    json_t *body = NULL;
    uint64_t seq = 0;
    int st = status;

    audit_response(c, &st, &body, &line);
    json_decref(body);
    c->audited = false; /* written: the final reply must not log it again */
    /* Durable before the caller acts (sys/seal: a rare operator call, so it may block). */
    if (st != status)
        return false;
    return !line || (api_audit_line_write(c->api->audit, line, &seq) == TR_OK &&
                     api_audit_wait(c->api->audit, seq) == TR_OK);
}

void api_reply_json(struct api_call *c, int status, json_t *body)
{
    struct api_audit_line *line = NULL;

    audit_response(c, &status, &body, &line);
    struct api_resp *resp = calloc(1, sizeof(*resp));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (!resp || (body && !text)) {
        free(text);
        free(resp);
        call_finish(c, NULL, line); /* the server answers a bare 500 */
        return;
    }
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = text;
    resp->body_len = text ? strlen(text) : 0;
    call_finish(c, resp, line);
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

void api_reply_envelope(struct api_call *c, int status, json_t *data, json_t *auth,
                        json_t *warnings)
{
    json_t *o = json_pack("{s:s, s:s, s:b, s:i, s:o, s:n, s:o, s:o, s:s}", "request_id",
                          c->request_id, "lease_id", "", "renewable", 0, "lease_duration", 0,
                          "data", data ? data : json_null(), "wrap_info", "warnings",
                          warnings ? warnings : json_null(), "auth", auth ? auth : json_null(),
                          "mount_type", c->mount_type ? c->mount_type : "");
    api_reply_json(c, status, o);
}

void api_reply_data(struct api_call *c, int status, json_t *data)
{
    api_reply_envelope(c, status, data, NULL, NULL);
}

void api_reply_keys(struct api_call *c, json_t *keys)
{
    if (!json_array_size(keys)) {
        json_decref(keys);
        api_reply_error(c, 404, NULL);
        return;
    }
    api_reply_data(c, 200, json_pack("{s:o}", "keys", keys));
}

void api_reply_data_top(struct api_call *c, json_t *data)
{
    json_t *o =
        json_pack("{s:s, s:s, s:b, s:i, s:O, s:n, s:n, s:n, s:s}", "request_id", c->request_id,
                  "lease_id", "", "renewable", 0, "lease_duration", 0, "data", data, "wrap_info",
                  "warnings", "auth", "mount_type", c->mount_type ? c->mount_type : "system");
    const char *k;
    json_t *v;

    /* node-vault reads sys/mounts and friends from the top level (vault-api.md §1.6) */
    if (o) {
        json_object_foreach(data, k, v)
        {
            if (!json_object_get(o, k))
                json_object_set(o, k, v);
        }
    }
    json_decref(data);
    api_reply_json(c, 200, o);
}

int api_err_status(int rc)
{
    switch (rc) {
    case TR_OK:
        return 200;
    case TR_E_INVAL:
    case TR_E_CAS:
    case TR_E_AUTH:
    case TR_E_EXISTS:
        return 400;
    case TR_E_DENIED:
        return 403;
    case TR_E_NOTFOUND:
        return 404;
    case TR_E_UNSUPPORTED:
        return 405;
    case TR_E_TOO_LARGE:
        return 413;
    case TR_E_LIMIT:
        return 429;
    case TR_E_SEALED:
    case TR_E_ROLLBACK:
    case TR_E_TAMPER:
    case TR_E_COUNTER:
    case TR_E_NOSPACE:
    case TR_E_IO:
    case TR_E_BUSY:
        return 503;
    default:
        return 500;
    }
}

void api_reply_err(struct api_call *c, int rc)
{
    if (rc == TR_E_NOTFOUND)
        api_reply_error(c, 404, NULL);
    else if (rc == TR_E_SEALED)
        api_reply_error(c, 503, "Vault is sealed");
    else
        api_reply_error(c, api_err_status(rc), tr_strerror(rc));
}

int64_t api_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void api_time_rfc3339(int64_t unix_ns, char *out, size_t cap)
{
    time_t sec = (time_t)(unix_ns / 1000000000LL);
    long ns = (long)(unix_ns % 1000000000LL);
    struct tm tm;
    char frac[16] = "";

    gmtime_r(&sec, &tm);
    if (ns) {
        snprintf(frac, sizeof(frac), ".%09ld", ns);
        size_t n = strlen(frac);
        while (n > 1 && frac[n - 1] == '0') /* Go's RFC3339Nano trims trailing zeros */
            frac[--n] = '\0';
    }
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void api_uuid(char out[37])
{
    uint8_t u[16];
    randombytes_buf(u, sizeof(u));
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

bool api_body_object(struct api_call *c, json_t **out)
{
    const struct api_req *r = c->req;
    char err[160];
    size_t i = 0;

    *out = NULL;
    if (c->body) {
        *out = c->body;
        return true;
    }
    while (i < r->body_len &&
           (r->body[i] == ' ' || r->body[i] == '\t' || r->body[i] == '\r' || r->body[i] == '\n'))
        i++;
    if (i == r->body_len || c->method == API_GET || c->method == API_HEAD ||
        c->method == API_LIST) {
        /* GET bodies are ignored (hvac sends one with health) */
        c->body = json_object();
        *out = c->body;
        return c->body != NULL;
    }
    int rc = tr_json_parse((const char *)r->body, r->body_len, NULL, &c->body, err, sizeof(err));
    if (rc == TR_OK && !json_is_object(c->body)) {
        json_decref(c->body);
        c->body = NULL;
        snprintf(err, sizeof(err), "request body must be a JSON object");
        rc = TR_E_INVAL;
    }
    if (rc != TR_OK) {
        api_reply_error(c, rc == TR_E_TOO_LARGE ? 413 : 400, err);
        return false;
    }
    *out = c->body;
    return true;
}

void api_json_wipe_tree(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_string(v))
        api_json_wipe_string(v);
    else if (json_is_object(v))
        json_object_foreach(v, k, x) api_json_wipe_tree(x);
    else if (json_is_array(v))
        json_array_foreach(v, i, x) api_json_wipe_tree(x);
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

int api_get_json(struct api_call *c, const char *table, const char *key, json_t **out,
                 uint64_t *out_version)
{
    struct enc_secret *val = NULL;
    json_error_t jerr;
    int rc;

    *out = NULL;
    if (!c->store)
        return TR_E_SEALED;
    rc = store_get(c->store, table, (const uint8_t *)key, strlen(key), &val, out_version);
    if (rc != TR_OK)
        return rc;
    *out = json_loadb((const char *)enc_secret_data(val), enc_secret_len(val), 0, &jerr);
    enc_secret_free(val);
    return *out ? TR_OK : TR_E_INTERNAL;
}

void api_reply_text(struct api_call *c, int status, const char *ctype, const char *body, size_t len)
{
    struct api_audit_line *line = NULL;
    json_t *none = NULL;
    audit_response(c, &status, &none, &line);
    if (none) { /* the audit write failed: answer its 503 instead */
        api_reply_json(c, status, none);
        return;
    }
    struct api_resp *resp = calloc(1, sizeof(*resp));
    char *copy = malloc(len ? len : 1);

    if (!resp || !copy) {
        free(resp);
        free(copy);
        call_finish(c, NULL, line);
        return;
    }
    memcpy(copy, body, len);
    resp->status = status;
    resp->content_type = ctype;
    resp->body = copy;
    resp->body_len = len;
    call_finish(c, resp, line);
}
