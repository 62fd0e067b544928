/*
 * agent_kv - reading fields of KV secrets for `tresor agent` and `tresor run`.
 *
 * A path is resolved the way `kv get` does it (cmd_kv_int.h: the preflight GET
 * sys/internal/ui/mounts/<path> gives the mount and its version; a 404 means KV v1 with the path
 * as given), then read: KV v2 from <mount>data/<rel>, KV v1 from <mount><rel>. In API form (the
 * agent's templates, written like consul-template's `secret "secret/data/db"`) a v2 path may
 * already carry its "data/" segment; without it, it is added. The plain form (`tresor run`'s
 * tresor://MOUNT/PATH#FIELD) always adds it, as `kv get` does.
 *
 * A cache holds each secret read once per render pass, so a template naming ten fields of one
 * secret costs one read. Values live in the cache only until agent_kv_free, which wipes them.
 * Errors are printed (through cli_fail / cli_api_fail, prefixed with the caller's label) and
 * returned as exit codes; never a value. Usage: agent_kv_new; agent_kv_field...; agent_kv_free.
 * Thread-safety: none.
 */
#ifndef CLI_AGENT_KV_H
#define CLI_AGENT_KV_H

#include <jansson.h>
#include <stdbool.h>

#include "cmd.h"

struct agent_kv;

/*
 * agent_kv_new - an empty cache reading through ctx (borrowed; its configured token is sent).
 * api_form: accept a v2 path that already names data/ (see above).
 * Errors: TR_E_NOMEM.
 */
TR_MUST_CHECK int agent_kv_new(struct cli_ctx *ctx, bool api_form, struct agent_kv **out);

/* agent_kv_free - wipe every cached value and release kv. NULL-safe. */
void agent_kv_free(struct agent_kv *kv);

/*
 * agent_kv_field - field of the secret at path, reading it on first use.
 * who names the reference in messages ("$DB_PASSWORD", "templates[0] (/secrets/db.env)").
 * Out: *out borrowed from the cache, valid until agent_kv_free; NULL on failure.
 * Returns CLI_EXIT_OK, CLI_EXIT_NOTFOUND (no such secret, its version is deleted or destroyed,
 * or no such field), CLI_EXIT_SERVER (any other server error, 403 included) or CLI_EXIT_LOCAL
 * (connection, TLS, bad path); the reason has been printed to stderr.
 */
int agent_kv_field(struct agent_kv *kv, const char *who, const char *path, const char *field,
                   const json_t **out);

#endif
