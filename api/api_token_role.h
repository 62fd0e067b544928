/*
 * api_token_role.h - token roles (vault-api.md §4.6): auth/token/roles[/<name>] CRUD and the
 * constraints a role puts on auth/token/create/<name>. Internal to api/ (api_token*.c, api.c).
 *
 * Storage: table API_T_TOKROLES maps the role name (as given: Vault does not fold its case) to
 * the JSON record {name, allowed_policies, disallowed_policies, allowed_policies_glob,
 * disallowed_policies_glob, orphan, renewable, path_suffix, token_period, period,
 * token_explicit_max_ttl, explicit_max_ttl, token_bound_cidrs, bound_cidrs, token_num_uses,
 * token_no_default_policy, token_type}. "period", "explicit_max_ttl" and "bound_cidrs" keep
 * what was sent under Vault's deprecated names, only so a read shows them back; the token_*
 * fields are what token creation applies.
 *
 * Threads: api_token_role_handle answers reads on the calling thread and defers writes to the
 * pool; the other functions are blocking-free (one store read) and may run anywhere.
 * Never knows: tokens (it sees policy names and settings only).
 */
#ifndef API_TOKEN_ROLE_H
#define API_TOKEN_ROLE_H

#include <stdbool.h>
#include <stddef.h>

#include "api_int.h"

#define API_T_TOKROLES          "tokroles" /* role name -> JSON role record */
#define API_TOKEN_ROLE_NAME_MAX 128
#define API_TOKEN_ROLE_ERR_MAX  1024 /* buffer for the errors below that name policies */

/* api_token_role_handle - auth/token/roles (LIST) and auth/token/roles/<name> (GET, PUT/POST,
 * DELETE); op is the path after "auth/token/" (borrowed from c->path). Answers the call. */
void api_token_role_handle(struct api_call *c, const char *op);

/* api_token_role_exists - the existence check of a write to auth/token/roles/<name> (vault-api.md
 * §1.9 step 6): true when c->path names a stored role. false for anything else. */
bool api_token_role_exists(struct api_call *c);

/* api_token_role_load - the role of "auth/token/create/<name>": name is the part after
 * "create/". Out: *out, the record (owned by the caller). Errors: TR_E_INVAL (name outside
 * Vault's role name pattern: Vault has no such path and answers 404 "unsupported path"),
 * TR_E_NOTFOUND (no such role, or a name too long for any role), as api_get_json. */
TR_MUST_CHECK int api_token_role_load(struct api_call *c, const char *name, json_t **out);

/* api_token_role_constrains - the role restricts policies itself (allowed or disallowed lists,
 * plain or glob), so a token's policies need not be a subset of its parent's. */
bool api_token_role_constrains(const json_t *role);

/*
 * api_token_role_policies - Vault's policy rules for a role that constrains them.
 * In:  role; asked, the normalised policy names the request asked for (may be empty); nodef,
 *      the request's no_default_policy; parent, the caller's policies (used when the role has
 *      no allowed list and nothing was asked).
 * Out: *out, the token's policies (new array, owned), "default" added as Vault does; NULL on
 *      failure with err (errcap bytes, >= API_TOKEN_ROLE_ERR_MAX recommended) set to Vault's
 *      message ("token policies (...) must be subset of the role's allowed policies (...) or
 *      glob policies (...)" / "token policy \"x\" is disallowed by this role").
 * Errors: TR_E_INVAL (message in err), TR_E_NOMEM.
 */
TR_MUST_CHECK int api_token_role_policies(const json_t *role, const json_t *asked, bool nodef,
                                          const json_t *parent, json_t **out, char *err,
                                          size_t errcap);

#endif
