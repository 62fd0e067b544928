/*
 * api_help_int.h - the route tables of path help: one per backend Tresor serves (api_help_text.c),
 * rendered by api_help.c. Internal to those two files (and tests/unit/test_api_routes.c, which
 * walks them). Constant data: thread-safe.
 *
 * A table lists what the backend's handler routes (api_sys.c, api_token.c, api_kv.c,
 * api_transit.c, auth_approle.c, auth_cert.c, auth_k8s.c). For the token store, transit and the
 * auth methods it is also the gate of their requests (api_help_route_check): a route added to a
 * handler needs its entry here, or requests for it are 404 "unsupported path" like its help.
 * test_api_routes sends every route of every table, with each operation it lists, to its
 * handler, so a table and its handler cannot drift apart unnoticed.
 */
#ifndef API_HELP_INT_H
#define API_HELP_INT_H

#include <stddef.h>

#include "api_help.h"

/* The operations a route answers, shown in its help. */
enum {
    API_HELP_GET = 1u << 0,
    API_HELP_LIST = 1u << 1,
    API_HELP_PUT = 1u << 2, /* PUT and POST: create or update */
    API_HELP_PATCH = 1u << 3,
    API_HELP_DELETE = 1u << 4,
    API_HELP_HEAD = 1u << 5,
};

/* One parameter of a route: name, Vault's type name ("string", "int", "duration (sec)"...). */
struct help_field {
    const char *name;
    const char *type;
    const char *desc;
};

#define API_HELP_MATCH_MAX 4

/* One route of a backend, as a Vault framework.Path describes itself. */
struct help_route {
    /* Paths relative to the mount that the route serves (unused slots NULL): literal bytes, '+'
     * for one non-empty segment, '*' for one or more bytes of anything (at most one '*'). */
    const char *match[API_HELP_MATCH_MAX];
    const char *route; /* shown as "Matching Route", in Vault's regexp style */
    unsigned ops;      /* API_HELP_* */
    const char *synopsis;
    const struct help_field *fields; /* sorted by name, ended by a NULL name; NULL: none */
    const char *description;
};

/* A backend: its routes are tried in order, the first match wins. */
struct help_backend {
    const char *help; /* the backend's own description (help of the mount's root) */
    const struct help_route *routes;
    size_t nroutes;
};

/* and api_help_token, api_help_transit, api_help_approle, api_help_cert, api_help_k8s
 * (api_help.h) */
extern const struct help_backend api_help_sys; /* sys/ */
extern const struct help_backend api_help_kv1; /* kv version 1 mounts */
extern const struct help_backend api_help_kv2; /* kv version 2 mounts */

#endif
