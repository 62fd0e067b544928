/*
 * agent_auth - the token `tresor agent` renders with: where it comes from, keeping it valid,
 * and revoking it.
 *
 *   token_file   read (and trimmed) before every render pass, so a rotated file is picked up;
 *                the agent does not own this token and never renews or revokes it.
 *   approle      POST auth/<mount>/login {role_id, secret_id} (both read from files each time)
 *   kubernetes   POST auth/<mount>/login {role, jwt} (the service account token file is read
 *                each time: projected tokens rotate)
 *   (no auth)    the CLI's usual token (-token-file, TRESOR_TOKEN, ~/.tresor-token); not owned.
 * A login token's lease (from the login answer) is tracked locally: when it would expire before
 * the next pass, or has used two thirds of its TTL, it is renewed (PUT auth/token/renew-self),
 * and replaced by a new login when it cannot be renewed far enough. After a pass the server
 * refused (agent_auth_suspect: a revoked token, a changed role...) the next pass logs in again.
 * No per-pass lookup-self, so roles without the default policy work. A replaced login token is
 * revoked (best effort). On shutdown
 * agent_auth_revoke revokes the token only if the agent obtained it by login (Vault Agent
 * revokes its auto-auth token the same way); tokens it was given are left alone.
 *
 * The token lives in ctx->cfg.token (a wiped-on-free buffer), so every cli_api* call sends it;
 * the files' contents and login bodies are wiped after use. Nothing here prints a token.
 * Usage: agent_auth_new; agent_auth_ensure before each pass; agent_auth_revoke; agent_auth_free.
 * Thread-safety: none.
 */
#ifndef CLI_AGENT_AUTH_H
#define CLI_AGENT_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "agent_config.h"
#include "cmd.h"

struct agent_auth;

/*
 * agent_auth_new - auth state for cfg (borrowed, like ctx, for the life of the state).
 * For a configured method, ctx's token is cleared so no other token is ever sent.
 * Errors: TR_E_NOMEM.
 */
TR_MUST_CHECK int agent_auth_new(struct cli_ctx *ctx, const struct agent_config *cfg,
                                 struct agent_auth **out);

/* agent_auth_free - release the state (does not revoke; ctx keeps wiping its token). NULL-safe. */
void agent_auth_free(struct agent_auth *a);

/*
 * agent_auth_ensure - make ctx's token usable for at least horizon_secs: (re)read the token
 * file, or log in / renew / log in again as described above.
 * Returns CLI_EXIT_OK or the exit code of what failed (printed): CLI_EXIT_LOCAL (a file cannot
 * be read, connection failure), CLI_EXIT_SERVER (login refused, ...), CLI_EXIT_NOTFOUND.
 */
int agent_auth_ensure(struct agent_auth *a, int64_t horizon_secs);

/* agent_auth_suspect - the server refused part of a pass: when the token is ours, the next
 * agent_auth_ensure logs in again (and revokes this token). No effect on tokens we were given. */
void agent_auth_suspect(struct agent_auth *a);

/* agent_auth_owns_token - true when the current token came from a login by this agent. */
bool agent_auth_owns_token(const struct agent_auth *a);

/*
 * agent_auth_revoke - PUT auth/token/revoke-self when the agent owns its token, then forget the
 * token either way. Returns CLI_EXIT_OK (also when there was nothing to revoke) or the failure's
 * exit code (printed).
 */
int agent_auth_revoke(struct agent_auth *a);

#endif
