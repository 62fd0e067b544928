/* The request pipeline (vault-api.md §1.9): sanity, raw sys endpoints, sealed, token, existence
 * check, ACL, route; with listener.telemetry.unauthenticated_metrics_access, GET sys/metrics
 * leaves it right after sanity (metrics_unauthenticated). */
#include "api_int.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"
#include "api_help.h"
#include "api_token_role.h"

int api_new(const struct api_opts *opts, struct api **out)
{
    struct api *api = calloc(1, sizeof(*api));

    *out = NULL;
    if (!api)
        return TR_E_NOMEM;
    api->opts = *opts;
    if (api_cache_new(API_CACHE_SLOTS, API_CACHE_BUDGET, &api->cache) != TR_OK) {
        free(api);
        return TR_E_NOMEM;
    }
    pthread_mutex_init(&api->lock, NULL);
    pthread_mutex_init(&api->reload_mu, NULL);
    pthread_cond_init(&api->idle, NULL);
    if (opts->audit_path) {
        int rc = api_audit_open(opts->audit_path, &api->audit);
        if (rc != TR_OK) {
            tr_log_error("cannot open the audit file %s: %s", opts->audit_path, tr_strerror(rc));
            api_cache_free(api->cache);
            free(api);
            return rc;
        }
        struct api_anchor_cfg ac = {
            .interval_ms = opts->audit_anchor_interval_ms ? opts->audit_anchor_interval_ms : 1000,
            .rotate_bytes = opts->audit_rotate_bytes,
            .rotate_keep = opts->audit_rotate_keep,
            .max_lag_ms = opts->audit_anchor_max_lag_ms,
        };
        if ((rc = api_anchor_start(api, &ac, &api->anchor)) != TR_OK) {
            api_audit_close(api->audit);
            api_cache_free(api->cache);
            free(api);
            return rc;
        }
    }
    if (api_pool_start() != TR_OK) {
        api_anchor_stop(api->anchor);
        api_audit_close(api->audit);
        api_cache_free(api->cache);
        free(api);
        return TR_E_NOMEM;
    }
    *out = api;
    return TR_OK;
}

void api_free(struct api *api)
{
    if (!api)
        return;
    api_pool_stop(); /* queued handlers finish first: they hold store references */
    api_core_seal(api, ENC_REASON_NONE); /* anchors the audit head a last time */
    api_anchor_stop(api->anchor);
    api_audit_close(api->audit);
    api_cache_free(api->cache);
    pthread_mutex_destroy(&api->lock);
    pthread_mutex_destroy(&api->reload_mu);
    pthread_cond_destroy(&api->idle);
    free(api);
}

void api_audit_rotate_request(struct api *api)
{
    if (api)
        api_anchor_rotate_request(api->anchor);
}

void api_resp_free(struct api_resp *resp)
{
    if (!resp)
        return;
    if (resp->body) /* answers carry secret values and tokens */
        sodium_memzero(resp->body, resp->body_len);
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

/* Decode the path after /v1/ and refuse anything that could mean a different path to another
 * component: '.' and '..' segments (raw or percent-encoded), NUL and other control bytes. A
 * path that is not UTF-8 is refused too (*why says which): it could never be named in a JSON
 * answer or an audit line, and an audited server would answer 503 for the client's mistake. */
static int path_canonical(const char *raw, char **out, const char **why)
{
    size_t n = 0;
    char *p = NULL;
    int rc = TR_E_INVAL;

    *out = NULL;
    *why = "relative paths not supported";
    if (strlen(raw) > API_PATH_MAX)
        return TR_E_TOO_LARGE;
    if (!(p = evhttp_uridecode(raw, 0, &n)))
        return TR_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            goto out;
    if (!tr_utf8_valid(p, n)) {
        *why = "invalid path: not UTF-8";
        goto out;
    }
    size_t w = 0; /* collapse "//" silently, as hvac and Vault's router do */
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
    struct evkeyvalq kv = {NULL, &kv.tqh_first};
    json_t *o = json_object();

    *out = NULL;
    if (!o)
        return TR_E_NOMEM;
    if (q && evhttp_parse_query_str(q, &kv) != 0) {
        json_decref(o);
        return TR_E_INVAL;
    }
    /* A name or value that is not UTF-8 fails here (jansson refuses it) rather than vanish. */
    for (struct evkeyval *e = kv.tqh_first; e; e = e->next.tqe_next) {
        if (json_object_set_new(o, e->key, json_string(e->value)) != 0) {
            evhttp_clear_headers(&kv);
            json_decref(o);
            return TR_E_INVAL;
        }
    }
    evhttp_clear_headers(&kv);
    *out = o;
    return TR_OK;
}

/* Raw sys endpoints are answered before the seal and token checks. */
static bool route_raw_sys(struct api_call *c)
{
    static const struct {
        const char *path;
        void (*fn)(struct api_call *);
    } raw[] = {{"sys/health", api_sys_health}, {"sys/seal-status", api_sys_seal_status},
               {"sys/leader", api_sys_leader}, {"sys/unseal", api_sys_unseal},
               {"sys/init", api_sys_init},     {"sys/storage/recover", api_sys_storage_recover}};

    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        if (strcmp(c->path, raw[i].path) == 0) {
            raw[i].fn(c);
            return true;
        }
    }
    return false;
}

/* listener.telemetry.unauthenticated_metrics_access, as Vault's handleMetricsUnauthenticated
 * (http/sys_metrics.go), which the listener routes /v1/sys/metrics to in front of the core's
 * request path: a monitoring system scrapes without a token, so no token (one sent, valid or
 * not, is ignored), ACL check or audit entry, and GET only (405 for the rest, HEAD too). It
 * must answer when an operator needs it most: while sealed (with what is known then: the store's
 * lines need an open store, taken here by reference so a seal waits for this answer) and while
 * the audit device refuses lines (a full disk, audit.anchor_max_lag_ms holding), which would
 * turn an audited read into a 503. The front end's caps and deadlines still apply. */
static void metrics_unauthenticated(struct api_call *c)
{
    if (c->req->method != API_GET) {
        api_reply_error(c, 405, NULL);
        return;
    }
    c->store = api_core_store_ref(c->api); /* NULL while sealed; released with the answer */
    api_sys_metrics(c);
}

/* LIST arrives as the verb or as GET ?list=<bool> (the Go client always uses the latter). */
static int resolve_list(struct api_call *c)
{
    const char *l = tr_json_get_str(c->query, "list");
    bool b = false;

    if (c->method == API_GET && l) {
        if (!tr_parse_bool(l, &b))
            return TR_E_INVAL;
        if (b)
            c->method = API_LIST;
    }
    json_object_del(c->query, "list");
    if (c->method == API_LIST && c->path[0] && c->path[strlen(c->path) - 1] != '/') {
        size_t n = strlen(c->path);
        char *p = realloc(c->path, n + 2);
        if (!p)
            return TR_E_NOMEM;
        p[n] = '/';
        p[n + 1] = '\0';
        c->path = p;
    }
    return TR_OK;
}

static bool is_sudo_path(const char *p)
{
    /* Vault's root paths (logical_system.go PathsSpecial.Root); sys/step-down is checked for
     * sudo by Vault's core itself (an HA node; api_sys_node.c) */
    static const char *const exact[] = {
        "sys/audit",       "sys/rotate",          "sys/remount",        "sys/raw",
        "sys/config/cors", "sys/storage/recover", "sys/storage/backup", "sys/step-down"};
    static const char *const prefix[] = {"sys/audit/",
                                         "sys/auth/",
                                         "sys/raw/",
                                         "sys/config/auditing/",
                                         "sys/leases/revoke-prefix/",
                                         "sys/leases/revoke-force/",
                                         "sys/leases/lookup/",
                                         "sys/revoke-prefix/",
                                         "sys/revoke-force/",
                                         "auth/token/revoke-orphan/",
                                         "auth/token/accessors"};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strcmp(p, exact[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
        if (strncmp(p, prefix[i], strlen(prefix[i])) == 0)
            return true;
    return false;
}

static enum api_acl_op method_op(struct api_call *c, bool kv_target)
{
    switch (c->method) {
    case API_GET:
        return API_ACL_OP_READ;
    case API_LIST:
        return API_ACL_OP_LIST;
    case API_DELETE:
        return API_ACL_OP_DELETE;
    case API_PATCH:
        return API_ACL_OP_PATCH;
    default:
        /* the existence check turns a write into create or update (vault-api.md trap 19) */
        if (kv_target)
            return api_kv_existence(c) ? API_ACL_OP_UPDATE : API_ACL_OP_CREATE;
        if (c->mount.kind == API_MOUNT_TRANSIT && c->rel)
            return api_transit_existence(c) ? API_ACL_OP_UPDATE : API_ACL_OP_CREATE;
        if (!strncmp(c->path, "auth/token/roles/", 17)) /* Vault checks a role's existence */
            return api_token_role_exists(c) ? API_ACL_OP_UPDATE : API_ACL_OP_CREATE;
        return API_ACL_OP_UPDATE;
    }
}

static bool has_upper(const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return true;
    return false;
}

/* Vault stores policy and AppRole role names folded (api_int.h) and checks the ACL on the path
 * as sent, so a deny on sys/policies/acl/admin or on auth/approle/role/admin/+ beside a broader
 * allow is passed with ADMIN. Tresor checks both paths (acl_allows, and sys/capabilities* in
 * api_caps.c): the ACL decides on the path storage uses, as docs/threat-model.md promises. */
char *api_acl_folded_path(struct api_call *c, const char *path)
{
    static const char *const pol[] = {"sys/policy/", "sys/policies/acl/"};
    char name[API_POLICY_NAME_MAX + 1], *out = NULL;
    const char *type = NULL, *rest = NULL;

    while (*path == '/') /* as the ACL reads a path */
        path++;
    for (size_t i = 0; i < sizeof(pol) / sizeof(pol[0]); i++) {
        size_t n = strlen(pol[i]);
        if (strncmp(path, pol[i], n) != 0 || !path[n])
            continue;
        /* an invalid name gets the handler's 400; nothing to fold then */
        if (api_policy_name_normalize(path + n, name, sizeof(name)) != TR_OK ||
            !strcmp(name, path + n))
            return NULL;
        return asprintf(&out, "%s%s", pol[i], name) < 0 ? NULL : out;
    }
    /* auth/<approle mount>/role/<name>[/...]: only the name segment is folded */
    if (strncmp(path, "auth/", 5) != 0 || !strstr(path, "/role/") ||
        api_auth_mount_type(c, path, &type, &rest) != TR_OK || strcmp(type, "approle") != 0 ||
        strncmp(rest, "role/", 5) != 0 || !has_upper(rest + 5, strcspn(rest + 5, "/")))
        return NULL;
    if (!(out = strdup(path)))
        return NULL;
    for (char *q = out + (rest + 5 - path); *q && *q != '/'; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
    return out;
}

/* The ACL decision on c->path and, when a handler folds a name in it, on the folded path too:
 * both must allow c->op. */
static bool acl_allows(struct api_call *c)
{
    bool ok = api_acl_allows_op(c->acl, c->path, c->op, is_sudo_path(c->path));
    char *folded = ok ? api_acl_folded_path(c, c->path) : NULL;

    if (folded)
        ok = api_acl_allows_op(c->acl, folded, c->op, is_sudo_path(folded));
    free(folded);
    return ok;
}

/* Mount, existence check, ACL, handler (the token is authenticated). */
static void route_authorized(struct api_call *c)
{
    bool is_sys = strncmp(c->path, "sys/", 4) == 0;
    bool is_token = strncmp(c->path, "auth/token/", 11) == 0;
    bool mounted = !is_sys && !is_token && api_mount_find(c->api, c->path, &c->mount);
    /* the CLI's KV preflight checks access to the mount itself (vault-api.md §2.8) */
    bool preflight = strncmp(c->path, "sys/internal/ui/mounts", 22) == 0 &&
                     (c->path[22] == '\0' || c->path[22] == '/');
    int rc;

    if (c->help) { /* help is always allowed (Vault acl.go): no ACL, and no handler runs */
        api_help_handle(c);
        return;
    }
    if ((rc = api_acl_for_call(c)) != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    c->mount_type = is_sys ? "system" : is_token ? "token" : mounted ? c->mount.type : "";
    if (mounted)
        c->rel = c->path + strlen(c->mount.path) - (strlen(c->path) < strlen(c->mount.path));
    c->op = method_op(c, mounted && c->mount.kind != API_MOUNT_TRANSIT);
    if (!preflight && !acl_allows(c)) {
        api_reply_error(c, 403, "permission denied");
        return;
    }
    if (is_sys)
        api_sys_handle(c);
    else if (is_token)
        api_token_handle(c);
    else if (mounted && (c->mount.kind == API_MOUNT_KV1 || c->mount.kind == API_MOUNT_KV2))
        api_kv_handle(c);
    else if (mounted && c->mount.kind == API_MOUNT_TRANSIT)
        api_transit_handle(c);
    else if (!strncmp(c->path, "auth/", 5))
        api_auth_handle(c);
    else {
        char msg[API_PATH_MAX + 64];
        snprintf(msg, sizeof(msg), "no handler for route \"%s\". route entry not found.", c->path);
        api_reply_error(c, 404, msg);
    }
}

/* Pool thread: spend one of a limited-use token's uses before serving the request. */
static void route_after_use(struct api_call *c)
{
    int rc = api_token_spend_use(c);
    if (rc == TR_E_DENIED)
        api_reply_error(c, 403, "permission denied");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        route_authorized(c);
}

static void route_logical(struct api_call *c)
{
    int rc;

    if (!api_audit_request(c))
        return;
    if (api_auth_is_login(c)) { /* auth/<mount path>/login[/...]: no token (§1.9 step 4) */
        c->mount_type = "auth";
        if (c->help) /* help of a login path needs no token either, as Vault */
            api_help_handle(c);
        else
            api_auth_login(c);
        return;
    }
    if (!c->req->token || !*c->req->token) {
        api_reply_error(c, 403, "permission denied");
        return;
    }
    if ((rc = api_token_authenticate(c, c->req->token)) != TR_OK) {
        if (rc == TR_E_DENIED)
            api_reply_error(c, 403, "permission denied");
        else
            api_reply_err(c, rc);
        return;
    }
    if (api_token_has_uses(c->token))
        api_defer(c, route_after_use);
    else
        route_authorized(c);
}

/* A version 4 UUID for the request id, from a per-thread block of system randomness: one
 * getrandom per 32 requests instead of one each. Request ids are public (every answer carries
 * one), so holding the next ones in ordinary memory is harmless; anything secret that is shaped
 * like a UUID (approle secret ids) keeps using api_uuid. */
static void request_id_new(char out[API_REQ_ID_LEN])
{
    static _Thread_local uint8_t pool[512];
    static _Thread_local size_t used = sizeof(pool);
    static const char hex[] = "0123456789abcdef";
    uint8_t *u;
    size_t o = 0;

    if (used + 16 > sizeof(pool)) {
        randombytes_buf(pool, sizeof(pool));
        used = 0;
    }
    u = pool + used;
    used += 16;
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
    out[o] = '\0';
}

/* Response wrapping is not implemented (vault-api.md §8). A client that asks for it expects
 * only wrap_info back, so it is refused rather than answered with the unwrapped secret, which
 * the client might log or hand on. A TTL of 0 asks for no wrapping. true when answered. */
static bool wrap_refused(struct api_call *c)
{
    const char *h = c->req->wrap_ttl, *err = NULL;
    int64_t ttl = 0;

    if (!h || !*h)
        return false;
    if (*h == '-')
        err = "requested wrap ttl cannot be negative";
    else if (!tr_parse_duration(h, &ttl))
        err = "error parsing X-Vault-Wrap-TTL header: invalid duration";
    else if (ttl > 0)
        err = "response wrapping is not supported";
    if (err)
        api_reply_error(c, 400, err);
    return err != NULL;
}

void api_handle(struct api *api, const struct api_req *req, api_done_fn done, void *arg)
{
    struct api_call *c = calloc(1, sizeof(*c));
    const char *why = NULL;
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
    request_id_new(c->request_id);
    if (strncmp(req->uri_path, "/v1/", 4) != 0) {
        api_reply_error(c, 404, NULL);
        return;
    }
    if ((rc = path_canonical(req->uri_path + 4, &c->path, &why)) != TR_OK) {
        api_reply_error(c, rc == TR_E_NOMEM ? 500 : 400, rc == TR_E_NOMEM ? "internal error" : why);
        return;
    }
    if ((rc = query_parse(req->query, &c->query)) != TR_OK) {
        api_reply_error(c, rc == TR_E_NOMEM ? 500 : 400,
                        rc == TR_E_NOMEM ? "internal error" : "invalid query string");
        return;
    }
    /* before ?list and ?help are read, as Vault's handler, which reads only ?format */
    if (api->opts.unauthenticated_metrics_access && strcmp(c->path, "sys/metrics") == 0) {
        metrics_unauthenticated(c);
        return;
    }
    if (resolve_list(c) != TR_OK) {
        api_reply_error(c, 400, NULL);
        return;
    }
    c->help = api_help_wanted(c->query);
    if (req->method == API_OTHER || req->method == API_OPTIONS) {
        api_reply_error(c, 405, NULL);
        return;
    }
    /* help of a raw sys endpoint goes through the seal and token checks, as in Vault */
    if ((!c->help && route_raw_sys(c)) || wrap_refused(c))
        return;
    if (!(c->store = api_core_store_ref(api))) {
        api_reply_error(c, 503, "Vault is sealed");
        return;
    }
    route_logical(c);
}
