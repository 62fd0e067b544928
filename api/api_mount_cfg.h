/*
 * api_mount_cfg.h - the settings Vault lets an operator give a mount (vault-api.md §2.7, §2.9):
 * "config" and "options" at enable (POST sys/mounts/<p>, sys/auth/<p>) and through tuning
 * (sys/mounts/<p>/tune, sys/auth/<p>/tune, sys/mounts/auth/<p>/tune), how the mount tables and
 * tune reads show them, and the effective lease TTLs that KV v1 reads and logins honour.
 * Internal to api/ (api_sys.c, api_auth.c, api_mount_tune.c, api_kv.c).
 *
 * Stored in the mount's record (a secret mount's API_T_MOUNTS record, an auth mount's
 * AUTH_T_MOUNTS record, API_MOUNT_TOKEN_KEY in API_T_SYS for the built-in auth/token/):
 *   "description": string,
 *   "config": {default_lease_ttl, max_lease_ttl (seconds; 0 or absent = the system's),
 *              force_no_cache, listing_visibility ("hidden"|"unauth"), audit_non_hmac_request_keys,
 *              audit_non_hmac_response_keys, passthrough_request_headers,
 *              allowed_response_headers (arrays of strings), token_type (auth mounts)},
 *   "options": {string: string} (KV: "version"),
 *   "accessor": string (secret mounts: Vault's "<type>_<8 hex>", set at enable).
 * Only what was set is stored; a record written before these existed has no "config" and reads
 * as untuned, and a secret mount's record without "accessor" shows one derived from its uuid
 * (api_mount_accessor).
 *
 * The functions here are pure (JSON in, JSON out; no storage, no locks) and reentrant; the
 * handlers that load, CAS-store and answer live in api_mount_tune.c.
 */
#ifndef API_MOUNT_CFG_H
#define API_MOUNT_CFG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_int.h"

/* Vault's system default and maximum lease TTL (768h), which Tresor does not let a mount exceed:
 * tokens (api_token.c) never outlive the system maximum, so a larger mount value would be a
 * promise nothing keeps. */
#define API_SYS_DEFAULT_TTL (768 * 3600)
#define API_SYS_MAX_TTL     (768 * 3600)
#define API_MOUNT_DESC_MAX  1024             /* bytes of a mount's description */
#define API_MOUNT_ERR_MAX   256              /* buffer for the messages below */
#define API_MOUNT_TOKEN_KEY "authtune/token" /* API_T_SYS: the tuning of auth/token/ */

/* What a setting applies to: secret mounts and auth mounts take different keys (token_type),
 * and KV alone has versions. */
struct api_mount_kind_info {
    bool auth;        /* an auth mount (sys/auth) */
    const char *type; /* "kv", "transit", "approle", "cert", "kubernetes", "token" */
};

/*
 * api_mount_ttl_parse - one lease TTL as Vault takes it: absent, null or "" (not given:
 * *out_set false), "system" (0: the system's value), whole seconds (a non-negative integer or
 * numeric string) or a Go duration string ("1h30m", "90s").
 * Out: *out (seconds) and *out_set, written only on success.
 * Errors: TR_E_INVAL (another JSON type, negative, fractional, junk, overflow).
 */
TR_MUST_CHECK int api_mount_ttl_parse(const json_t *v, int64_t *out, bool *out_set);

/*
 * api_mount_cfg_enable - the "config" to store for a new mount, from the enable body's "config"
 * (borrowed; NULL or null: none). Vault's checks and messages: a TTL that does not parse
 * ("unable to parse default TTL of <v>: ..."), default above max ("given default lease TTL
 * greater than given max lease TTL"), default above the system max; Tresor also refuses a max
 * above the system max. listing_visibility must be "", "hidden" or "unauth"; token_type is read
 * for auth mounts only (service kinds; batch tokens are not supported).
 * Out: *out_config (owned; an object, possibly empty). On failure NULL and err (cap bytes) says
 * why. Errors: TR_E_INVAL, TR_E_UNSUPPORTED (a value Tresor cannot honour), TR_E_NOMEM.
 */
TR_MUST_CHECK int api_mount_cfg_enable(const json_t *config, const struct api_mount_kind_info *k,
                                       json_t **out_config, char *err, size_t cap);

/*
 * api_mount_opts_parse - the "options" of an enable body (borrowed; NULL or null: none) as a
 * string map: string and integer values (integers as decimal), at most 16 keys of 1..64 bytes,
 * values up to 256 bytes; "version" is copied like any other key (the caller judges it).
 * Out: *out (owned object). Errors: TR_E_INVAL with err set, TR_E_NOMEM.
 */
TR_MUST_CHECK int api_mount_opts_parse(const json_t *options, json_t **out, char *err, size_t cap);

/*
 * api_mount_cfg_tune - apply a tune body (borrowed) to rec, a mount record (modified in place;
 * on failure it may be partly modified: the caller drops it). Keys as Vault's tune: the two
 * TTLs ("" keeps, "system" resets), description, audit_non_hmac_request_keys,
 * audit_non_hmac_response_keys, listing_visibility, passthrough_request_headers,
 * allowed_response_headers, token_type (auth mounts, not token/), options (merged; an empty
 * value deletes a key). force_no_cache is ignored, as Vault's tune ignores it. KV version: the
 * same version is a no-op, 2 -> 1 is refused as Vault ("cannot downgrade mount from version 2"),
 * 1 -> 2 (an upgrade of the stored data) is refused with TR_E_UNSUPPORTED; a version on a
 * non-KV mount is refused.
 * Errors: TR_E_INVAL (Vault's 400s) or TR_E_UNSUPPORTED, with err (cap bytes) set; TR_E_NOMEM.
 */
TR_MUST_CHECK int api_mount_cfg_tune(json_t *rec, const json_t *body,
                                     const struct api_mount_kind_info *k, char *err, size_t cap);

/* api_mount_cfg_list_json - the "config" object a mount table shows for rec (borrowed; NULL:
 * untuned): stored TTLs (0 when untuned, as Vault), force_no_cache, the stored lists and
 * listing_visibility when set, token_type for auth mounts. New object (owned), NULL on OOM. */
json_t *api_mount_cfg_list_json(const json_t *rec, bool auth);

/* api_mount_cfg_options_json - rec's options (a copy, owned), or JSON null when it has none. */
json_t *api_mount_cfg_options_json(const json_t *rec);

/* api_mount_cfg_tune_json - what GET .../tune answers for rec (borrowed; NULL: untuned): the
 * effective TTLs (the system's when untuned), description, force_no_cache, token_type (auth),
 * the set lists and listing_visibility, options when it has any. New object, NULL on OOM. */
json_t *api_mount_cfg_tune_json(const json_t *rec, bool auth);

#define API_MOUNT_ACCESSOR_MAX 32 /* buffer for a secret mount's accessor */

/*
 * api_mount_accessor - the accessor the mount tables show for a secret mount, Vault's
 * "<type>_<8 hex>" (kv_1f2e3d4c): the one rec (borrowed; NULL: none) stores, set at enable
 * (api_core.c: "<type>_" + the first 8 hex digits of the mount's uuid), else, for a mount
 * enabled before accessors were stored, the same derivation from type and uuid, so it never
 * changes across restarts. Out: out (cap bytes, API_MOUNT_ACCESSOR_MAX is enough).
 */
void api_mount_accessor(const json_t *rec, const char *type, const char *uuid, char *out,
                        size_t cap);

/* api_mount_cfg_ttls - the effective default and max lease TTL of rec (NULL: untuned): the
 * stored value, else the system's. */
void api_mount_cfg_ttls(const json_t *rec, int64_t *out_def, int64_t *out_max);

/* ---- handlers (api_mount_tune.c) --------------------------------------------------------- */

/*
 * api_mount_tune - GET or POST of a tune endpoint: c->path is "sys/mounts/<p>/tune" (<p> a
 * secret mount, or "auth/<name>" for an auth mount, as Vault keeps for old clients) or
 * "sys/auth/<name>/tune". GET answers on the calling thread with the effective settings; POST
 * defers to the pool (the audit line is durable before anything changes), loads the record,
 * applies api_mount_cfg_tune and stores it with a check-and-set on its version (retried on a
 * concurrent change; a mount disabled meanwhile is not recreated), then answers 204.
 * sys/, cubbyhole/, identity/, audit/: 400 "cannot tune"; no such mount: 400 as Vault; other
 * methods: 405. Answers the call.
 */
void api_mount_tune(struct api_call *c);

/* api_mount_is_tune_path - p (a logical path after "sys/mounts/" or "sys/auth/") ends in "/tune"
 * after at least one byte. */
bool api_mount_is_tune_path(const char *p);

/* api_mount_record_copy - a deep copy of the in-memory record of the secret mount at exactly
 * path (owned by the caller), NULL when there is none. Takes api->lock. */
json_t *api_mount_record_copy(struct api *api, const char *path);

#endif
