/*
 * api_help.h - Vault's path help (vault-api.md §1.2, §6.2): a request whose query has a non-empty
 * "help" parameter (GET /v1/<path>?help=1, node-vault help(), vault path-help) is answered with a
 * description of the route that would serve <path>, not with what the route serves. Internal to
 * api/ (api.c hooks it into the pipeline).
 *
 * Verbs: api_help_wanted decides once per request (api_handle); the pipeline then skips the raw
 * sys endpoints, authenticates as for any request (a login path needs no token, as Vault) and,
 * instead of the ACL check and the handler, calls api_help_handle. Help is always allowed (Vault
 * acl.go): a token whose policies deny the path still gets it. The answer is 200 with a raw body
 * {"help": "<text>", "see_also": null}; a path no mount serves is 404 ("no handler for route"), a
 * path inside a mount that no route of it matches 404 "unsupported path".
 *
 * The same route tables decide, for requests without help, whether a path inside a mount has a
 * route at all (api_help_route_check): the token store, transit and the auth methods answer a
 * path none of their routes matches with Vault's 404 "unsupported path" before their handler
 * routes it, so help and requests cannot disagree on which paths exist. KV keeps its own answers
 * (every path is a KV path; KV v2's catch-all answers Vault's warning) and sys/ routes itself.
 *
 * Thread-safety: reentrant (the route tables are constant); it may run on the event loop or on a
 * pool thread (limited-use tokens spend a use first).
 * Never knows: stored data. It reads the mount tables only (secret mounts in memory, auth mounts
 * from the store) and never a secret, key, policy or token record, so no text it writes can
 * carry one; the only request data it echoes is the path.
 */
#ifndef API_HELP_H
#define API_HELP_H

#include <jansson.h>
#include <stdbool.h>

struct api_call;

/* A backend's route table (api_help_int.h; constant, never freed). */
struct help_backend;
extern const struct help_backend api_help_token;   /* auth/token/ */
extern const struct help_backend api_help_transit; /* transit mounts */
extern const struct help_backend api_help_approle; /* auth methods, by type */
extern const struct help_backend api_help_cert;
extern const struct help_backend api_help_k8s;

/* api_help_wanted - query (decoded parameters, borrowed) asks for help: "help" is present and
 * not empty. Any value counts, "0" and "false" too: Vault tests the parameter for emptiness
 * only (http/help.go). */
bool api_help_wanted(const json_t *query);

/* api_help_handle - answer c (authenticated, or a login path) with the help of c->path. Reads
 * the auth mount table through c->store (referenced) for auth/<mount>/ paths. Answers exactly
 * once: 200 help, 404 as above, or the mapped error of a store read. */
void api_help_handle(struct api_call *c);

/* api_help_route_check - the gate before a backend's handler, as Vault's framework routes: true
 * when rel (the path relative to a mount of backend b, borrowed; "" for the mount's root, which
 * is no route) matches one of b's routes, and the handler is to answer c; else c has been
 * answered 404 "unsupported path" (Vault's logical.ErrUnsupportedPath) and the caller must not
 * answer it. */
bool api_help_route_check(struct api_call *c, const struct help_backend *b, const char *rel);

#endif
