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

/* api_help_wanted - query (decoded parameters, borrowed) asks for help: "help" is present and
 * not empty. Any value counts, "0" and "false" too: Vault tests the parameter for emptiness
 * only (http/help.go). */
bool api_help_wanted(const json_t *query);

/* api_help_handle - answer c (authenticated, or a login path) with the help of c->path. Reads
 * the auth mount table through c->store (referenced) for auth/<mount>/ paths. Answers exactly
 * once: 200 help, 404 as above, or the mapped error of a store read. */
void api_help_handle(struct api_call *c);

#endif
