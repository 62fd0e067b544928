/*
 * api_help_int.h - the route tables of path help: one per backend Tresor serves (api_help_text.c),
 * rendered by api_help.c. Internal to those two files. Constant data: thread-safe.
 *
 * A table mirrors what the backend's handler routes (api_sys.c, api_token.c, api_kv.c,
 * api_transit.c, auth_approle.c, auth_cert.c, auth_k8s.c): a route added there needs its entry
 * here, or its help is 404 "unsupported path".
 */
#ifndef API_HELP_INT_H
#define API_HELP_INT_H

#include <stddef.h>

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

extern const struct help_backend api_help_sys;     /* sys/ */
extern const struct help_backend api_help_token;   /* auth/token/ */
extern const struct help_backend api_help_kv1;     /* kv version 1 mounts */
extern const struct help_backend api_help_kv2;     /* kv version 2 mounts */
extern const struct help_backend api_help_transit; /* transit mounts */
extern const struct help_backend api_help_approle; /* auth methods, by type */
extern const struct help_backend api_help_cert;
extern const struct help_backend api_help_k8s;

#endif
