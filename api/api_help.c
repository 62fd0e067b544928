/* Path help (api_help.h): find the backend and route of a path and render their description in
 * the layout of Vault's framework (sdk/framework/path.go pathHelpTemplate, backend.go
 * rootHelpTemplate), which `vault path-help` prints as it comes; and the same route lookup as
 * the gate of requests (api_help_route_check), Vault's framework refusing a path no route
 * matches. */
#include "api_help.h"

#include <stdio.h>
#include <string.h>

#include "../common/tr_buf.h"
#include "../common/tr_json.h"
#include "api_help_int.h"
#include "api_int.h"

bool api_help_wanted(const json_t *query)
{
    const char *v = tr_json_get_str(query, "help");

    return v && *v;
}

/* pat (api_help_int.h: literals, '+' one segment, '*' one or more bytes) matches all of s. */
static bool glob_match(const char *pat, const char *s)
{
    for (;;) {
        if (*pat == '\0')
            return *s == '\0';
        if (*pat == '*') {
            /* one '*' per pattern: at most strlen(s) tries of the short rest */
            if (*s == '\0')
                return false;
            for (s++;; s++) {
                if (glob_match(pat + 1, s))
                    return true;
                if (*s == '\0')
                    return false;
            }
        }
        if (*pat == '+') {
            size_t n = strcspn(s, "/");
            if (n == 0)
                return false;
            pat++;
            s += n;
            continue;
        }
        if (*pat != *s)
            return false;
        pat++;
        s++;
    }
}

static const struct help_route *route_find(const struct help_backend *b, const char *rel)
{
    for (size_t i = 0; i < b->nroutes; i++)
        for (size_t j = 0; j < API_HELP_MATCH_MAX && b->routes[i].match[j]; j++)
            if (glob_match(b->routes[i].match[j], rel))
                return &b->routes[i];
    return NULL;
}

/* The help text under construction; the first failed append is remembered (sticky). */
struct text {
    struct tr_buf b; /* no secret ever enters it: constant text and the request path */
    bool failed;
};

static void text_put(struct text *t, const char *s)
{
    if (!t->failed && tr_buf_put(&t->b, s, strlen(s)) != TR_OK)
        t->failed = true;
}

/* s with every line indented by n spaces (n <= 8). */
static void text_put_indented(struct text *t, const char *s, size_t n)
{
    static const char pad[] = "        ";

    for (const char *nl; *s; s = nl ? nl + 1 : s + strlen(s)) {
        nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) + 1 : strlen(s);
        if (len > 1 && !t->failed && tr_buf_put(&t->b, pad + (sizeof(pad) - 1 - n), n) != TR_OK)
            t->failed = true;
        if (!t->failed && tr_buf_put(&t->b, s, len) != TR_OK)
            t->failed = true;
    }
}

static void text_put_ops(struct text *t, unsigned ops)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{API_HELP_GET, "GET (read)"},
                 {API_HELP_HEAD, "HEAD"},
                 {API_HELP_LIST, "LIST (or GET with ?list=true)"},
                 {API_HELP_PUT, "PUT/POST (create, update)"},
                 {API_HELP_PATCH, "PATCH (Content-Type: application/merge-patch+json)"},
                 {API_HELP_DELETE, "DELETE"}};
    const char *sep = "    ";

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (ops & names[i].bit) {
            text_put(t, sep);
            text_put(t, names[i].name);
            sep = "\n    ";
        }
    }
}

/* The path is the client's own; the text must be valid UTF-8 to be a JSON string. */
static bool is_utf8(const char *s)
{
    json_t *j = json_string(s);
    bool ok = j != NULL;

    json_decref(j);
    return ok;
}

static void render_route(struct text *t, const char *rel, const struct help_route *r)
{
    text_put(t, "Request:        ");
    text_put(t, is_utf8(rel) ? rel : "(a path that is not valid UTF-8)");
    text_put(t, "\nMatching Route: ");
    text_put(t, r->route);
    text_put(t, "\n\n");
    text_put(t, r->synopsis);
    text_put(t, "\n\n## OPERATIONS\n\n");
    text_put_ops(t, r->ops);
    text_put(t, "\n");
    if (r->fields) {
        text_put(t, "\n## PARAMETERS\n");
        for (const struct help_field *f = r->fields; f->name; f++) {
            text_put(t, "\n    ");
            text_put(t, f->name);
            text_put(t, " (");
            text_put(t, f->type);
            text_put(t, ")\n\n");
            text_put_indented(t, f->desc, 8);
            text_put(t, "\n");
        }
    }
    text_put(t, "\n## DESCRIPTION\n\n");
    text_put(t, r->description);
    text_put(t, "\n");
}

/* The help of a mount's root: the backend and the routes it has (Vault's rootHelpTemplate). */
static void render_root(struct text *t, const struct help_backend *b)
{
    text_put(t, "## DESCRIPTION\n\n");
    text_put(t, b->help);
    text_put(t, "\n\n## PATHS\n\n"
                "The following paths are supported by this backend. To view help for\n"
                "any of the paths below, use the help command with any route matching\n"
                "the path pattern. Note that depending on the policy of your auth token,\n"
                "you may or may not be able to access certain paths.\n\n");
    for (size_t i = 0; i < b->nroutes; i++) {
        text_put(t, "    ");
        text_put(t, b->routes[i].route);
        text_put(t, "\n        ");
        text_put(t, b->routes[i].synopsis);
        text_put(t, "\n\n");
    }
}

static void reply_unsupported(struct api_call *c)
{
    api_reply_error(c, 404, "unsupported path"); /* Vault's logical.ErrUnsupportedPath */
}

bool api_help_route_check(struct api_call *c, const struct help_backend *b, const char *rel)
{
    if (route_find(b, rel))
        return true;
    reply_unsupported(c);
    return false;
}

static void reply_no_route(struct api_call *c)
{
    char msg[API_PATH_MAX + 64];

    snprintf(msg, sizeof(msg), "no handler for route \"%s\". route entry not found.", c->path);
    api_reply_error(c, 404, msg);
}

static const struct help_backend *auth_backend(const char *type)
{
    return !strcmp(type, "approle")      ? &api_help_approle
           : !strcmp(type, "cert")       ? &api_help_cert
           : !strcmp(type, "kubernetes") ? &api_help_k8s
                                         : NULL;
}

/* The backend serving c->path and the path relative to its mount (borrowed from c->path).
 * Errors: TR_E_NOTFOUND (no mount serves it), as api_auth_mount_type. */
static int backend_of(struct api_call *c, const struct help_backend **out, const char **out_rel)
{
    const char *p = c->path, *type = NULL;
    struct api_mount m;
    int rc;

    if (!strcmp(p, "sys") || !strncmp(p, "sys/", 4)) {
        *out = &api_help_sys;
        *out_rel = p[3] ? p + 4 : "";
    } else if (!strcmp(p, "auth/token") || !strncmp(p, "auth/token/", 11)) {
        *out = &api_help_token;
        *out_rel = p[10] ? p + 11 : "";
    } else if (!strncmp(p, "auth/", 5)) {
        if ((rc = api_auth_mount_type(c, c->path, &type, out_rel)) != TR_OK)
            return rc;
        if (!(*out = auth_backend(type)))
            return TR_E_NOTFOUND;
    } else if (api_mount_find(c->api, p, &m)) {
        /* "secret" (no slash) names the mount's root, as for every other request */
        size_t n = strlen(m.path);
        *out = m.kind == API_MOUNT_KV2   ? &api_help_kv2
               : m.kind == API_MOUNT_KV1 ? &api_help_kv1
                                         : &api_help_transit;
        *out_rel = strlen(p) < n ? "" : p + n;
    } else {
        return TR_E_NOTFOUND;
    }
    return TR_OK;
}

void api_help_handle(struct api_call *c)
{
    const struct help_backend *b = NULL;
    const struct help_route *r = NULL;
    const char *rel = "";
    struct text t = {TR_BUF_INIT, false};
    json_t *body = NULL;
    int rc = backend_of(c, &b, &rel);

    if (rc == TR_E_NOTFOUND) {
        reply_no_route(c);
        return;
    }
    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    if (*rel && !(r = route_find(b, rel))) {
        reply_unsupported(c);
        return;
    }
    if (r)
        render_route(&t, rel, r);
    else
        render_root(&t, b);
    if (!t.failed)
        body = json_pack("{s:s%, s:n}", "help", (const char *)t.b.data, t.b.len, "see_also");
    tr_buf_free(&t.b);
    if (!body)
        api_reply_err(c, TR_E_NOMEM);
    else
        api_reply_json(c, 200, body); /* raw, as Vault's respondOk(resp.Data) */
}
