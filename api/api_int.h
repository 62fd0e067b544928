/*
 * api_int.h - internals shared by the api/ files. Not for other folders.
 *
 * A request becomes a struct api_call that walks the pipeline of vault-api.md §1.9 in api.c:
 * sanity -> raw sys endpoints -> sealed check -> token -> existence check -> ACL -> handler
 * (path help, api_help.h: every step up to the token, then the help instead of ACL and handler;
 * with api_opts.unauthenticated_metrics_access, GET sys/metrics right after sanity: api.c).
 * Handlers answer with one of the api_reply_* calls, exactly once, from any thread (storage
 * writes complete on the writer thread). A call holds a reference on the open store from the
 * token step until it is answered, so sealing waits for in-flight requests.
 */
#ifndef API_INT_H
#define API_INT_H

#include <jansson.h>
#include <pthread.h>

#include "../enclave/enclave.h"
#include "../storage/store.h"
#include "api.h"
#include "api_cache.h"
#include "audit.h"
#include "audit_anchor.h"
#include "policy.h"

#define API_PATH_MAX 4096
/* Secret mounts an enable may create (api_mount_create refuses more): every request scans the
 * table for its longest prefix. A store holding more (enabled before the check existed) still
 * loads them all. */
#define API_MOUNTS_MAX 256
#define API_REQ_ID_LEN 37
/* The cache of parsed documents: slots, and a budget of estimated bytes (a few MiB hold the
 * tokens and metadata of tens of thousands of keys; larger working sets just miss more). */
#define API_CACHE_SLOTS  16384
#define API_CACHE_BUDGET (32u << 20)

/* Storage tables used by the API layer. */
#define API_T_MOUNTS   "mounts"    /* mount path -> JSON record (api_mount_cfg.h) */
#define API_T_POLICIES "policies"  /* normalised name -> policy text */
#define API_T_TOKENS   "tokens"    /* hex(enc_mac(TOKEN, token)) -> JSON token entry */
#define API_T_ACCESSOR "accessors" /* accessor -> hex token hash */
#define API_T_CHILDREN "children"  /* parent hash "/" child hash -> "" */
#define API_T_KVMETA   "kvmeta"    /* mount uuid "/" path -> JSON KV metadata */
#define API_T_KVDATA   "kvdata"    /* mount uuid "/" path "@" version -> JSON secret */
#define API_T_SYS      "sys"       /* misc: "cluster" -> JSON {name, id} */
#define API_T_TRANSIT  "transit"   /* mount uuid "/" key name -> JSON transit key record */

enum api_mount_kind { API_MOUNT_KV1, API_MOUNT_KV2, API_MOUNT_TRANSIT };

struct api_mount {
    char path[256]; /* "secret/" (always ends in '/') */
    char type[16];  /* "kv", "transit" */
    char uuid[37];
    enum api_mount_kind kind;
    json_t *config; /* mount options/config (owned): kv v2 max_versions, cas_required, ... */
    char description[256];
};

struct api_token; /* api_token.c */

struct api {
    struct api_opts opts;
    /* One api_mounts_reload at a time, its store read and its swap together: two interleaved
     * reloads (an enable beside a disable or a tune) could otherwise publish the older table. */
    pthread_mutex_t reload_mu;
    pthread_mutex_t lock;     /* guards everything below */
    pthread_cond_t idle;      /* signalled when refs drops to 0 and when a transition ends */
    struct store *store;      /* NULL while sealed */
    unsigned refs;            /* calls holding the store */
    bool closing;             /* the published store is being closed: new calls see "sealed" */
    bool transition;          /* a store open, seal or recovery runs (api_core.c: one at a time) */
    struct api_mount *mounts; /* nmounts entries (heap), NULL while sealed */
    size_t nmounts;
    char cluster_name[64];
    char cluster_id[37];
    struct api_audit *audit;   /* NULL when no audit device is configured */
    struct api_anchor *anchor; /* keeps audit's head in the store; NULL without audit */
    /* Parsed token entries, KV v2 metadata and compiled ACLs of the open store (api_cache.h):
     * cleared whenever the store closes or a new one opens. */
    struct api_cache *cache;
};

/* One request on its way through the pipeline. */
struct api_call {
    struct api *api;
    const struct api_req *req;
    enum api_method method;
    char *path;    /* decoded logical path after "/v1/" (owned); LIST gets a trailing '/' */
    json_t *query; /* decoded query parameters: name -> string (owned) */
    json_t *body;  /* request data (owned; NULL until parsed) */
    api_done_fn done;
    void *done_arg;
    char request_id[API_REQ_ID_LEN];
    struct store *store;     /* referenced store (NULL when not held) */
    struct api_token *token; /* the caller's token (a reference), NULL for unauthenticated paths */
    struct api_acl *acl;     /* compiled ACL of the token (a reference) */
    struct api_mount mount;  /* copy of the matched mount (config borrowed: ref held) */
    const char *rel;         /* path relative to the mount (points into path) */
    enum api_acl_op op;
    const char *mount_type; /* "system", "token", "kv", "transit" for the envelope */
    bool help;              /* path help (?help=..., api_help.h) instead of the route's answer */
    bool audited;           /* the request entry was made: the response must be written too */
    uint64_t audit_seq;     /* its audit line (0: none): durable before deferred work runs */
    struct api_audit_req *audit_req; /* the request MAC'd once for both lines (owned) */
};

/* api_audit_request - write the request entry (before the handler runs). false: the call has
 * been answered with 503 (fail closed). */
bool api_audit_request(struct api_call *c);
/* api_audit_request_wait - block until the request entry is durable (pool threads only: every
 * job waits for it before changing anything). false: the call has been answered with 503. */
bool api_audit_request_wait(struct api_call *c);
/* api_audit_response_early - write the response entry now and wait until it is durable (sys/seal:
 * once sealed the core can no longer HMAC it). false when the audit write or sync failed. */
bool api_audit_response_early(struct api_call *c, int status);

/* ---- replies (each completes the call exactly once) ------------------------------------- */
void api_reply_json(struct api_call *c, int status, json_t *body);     /* raw body, steals it */
void api_reply_error(struct api_call *c, int status, const char *msg); /* msg may be NULL */
void api_reply_status(struct api_call *c, int status);                 /* 204 etc., no body */
/* api_reply_text - a non-JSON body (copied) with a static content type. */
void api_reply_text(struct api_call *c, int status, const char *ctype, const char *body,
                    size_t len);
/* api_reply_data - the Vault envelope with data (stolen; may be NULL) and status. */
void api_reply_data(struct api_call *c, int status, json_t *data);
/* api_reply_keys - a LIST answer {"keys": keys} (stolen, an array); an empty LIST is a 404 with
 * no body, as Vault (trap 3). */
void api_reply_keys(struct api_call *c, json_t *keys);
/* api_reply_envelope - the envelope with data, auth and warnings (each stolen, may be NULL). */
void api_reply_envelope(struct api_call *c, int status, json_t *data, json_t *auth,
                        json_t *warnings);
/* api_reply_data_top - envelope and every data key copied to the top level (sys/mounts...). */
void api_reply_data_top(struct api_call *c, json_t *data);
/* api_reply_err - map a tr_err to Vault's status and message (the one mapping table). */
void api_reply_err(struct api_call *c, int rc);
int api_err_status(int rc);

/* api_body_object - the request body as a JSON object (empty body: {}), kept in c->body
 * (borrowed by the caller). On failure the call has been answered (400/413) and false returned. */
bool api_body_object(struct api_call *c, json_t **out);
/* api_json_wipe_string - zero a jansson string's bytes in place (shares, tokens). */
void api_json_wipe_string(json_t *v);
/* api_json_wipe_tree - api_json_wipe_string on every string below v (the request body when a
 * call ends; its strings must not be shared with anything that lives on). */
void api_json_wipe_tree(json_t *v);
/* api_time_rfc3339 - UTC RFC 3339 with nanoseconds trimmed like Go's RFC3339Nano. */
void api_time_rfc3339(int64_t unix_ns, char *out, size_t cap);
int64_t api_now_ns(void);
/* api_uuid - a random version 4 UUID string. */
void api_uuid(char out[37]);

/* ---- store access ------------------------------------------------------------------------ */
/* api_store_get/put: thin wrappers on the call's referenced store. */
TR_MUST_CHECK int api_get_json(struct api_call *c, const char *table, const char *key, json_t **out,
                               uint64_t *out_version);

/* ---- sys (raw and logical) --------------------------------------------------------------- */
void api_sys_health(struct api_call *c);
void api_sys_seal_status(struct api_call *c);
void api_sys_leader(struct api_call *c);
void api_sys_unseal(struct api_call *c);
void api_sys_init(struct api_call *c);
void api_sys_storage_recover(struct api_call *c);
/* api_sys_metrics - sys/metrics as Prometheus text; c->store may be NULL (sealed, reached only
 * through api.c's unauthenticated path): then the store's lines are left out. */
void api_sys_metrics(struct api_call *c);
/* api_sys_handle - logical sys/ paths (seal, mounts, policies, capabilities, rotate, ...). */
void api_sys_handle(struct api_call *c);
json_t *api_sys_seal_status_json(struct api *api);

/* ---- thread pool for handlers that write (api_pool.c) ---------------------------------- */
/* api_defer - run fn(c) on a pool thread, where blocking store_write calls are allowed. */
void api_defer(struct api_call *c, void (*fn)(struct api_call *));
TR_MUST_CHECK int api_pool_start(void);
void api_pool_stop(void);
/* api_put_json / api_del - blocking single-op writes (pool threads only). */
TR_MUST_CHECK int api_put_json(struct api_call *c, const char *table, const char *key, json_t *val,
                               uint64_t expect_version);

/* ---- core lifecycle (api_core.c) -------------------------------------------------------- */
/* The transitions (api_core_after_unseal, api_core_seal, api_core_recover) run one at a time,
 * each whole: one that comes while another runs waits for it, so the store is never opened twice
 * in the process nor re-anchored while open. They block for store commits, and a seal or a
 * recovery waits for every in-flight call: never call one while holding a store reference. */
/* api_core_recover - after enc_recovery_submit authorised: close the store, re-anchor storage,
 * open it and adopt the audit file as it is (api_anchor_verify). Errors: TR_E_SEALED (the core
 * was sealed before this got its turn), store_recover_reanchor's, as api_core_after_unseal. */
int api_core_recover(struct api *api);
/* api_mount_create - store a new mount (json text of {type, options, description}) and reload
 * the table. The caller serialises creations. Errors: TR_E_EXISTS (path in use), TR_E_LIMIT
 * (API_MOUNTS_MAX mounts already), TR_E_INVAL. */
TR_MUST_CHECK int api_mount_create(struct api *api, struct store *st, const char *path,
                                   const char *json_text);
/* api_core_after_unseal - the core just unsealed: open storage, load the mount table and check
 * the audit file against the anchored head. A rollback/tamper verdict (the store's, or an audit
 * file without its anchored line) seals the core again with its reason. allow_create only right
 * after init. A store already open (a request that completed the same unseal opened it) is kept,
 * unless it refuses writes (the core was sealed behind it, or a commit was not anchored): it is
 * then closed and opened again, i.e. verified. Errors: TR_E_SEALED (the core was sealed again
 * before this got its turn), as store_open and api_anchor_verify. */
int api_core_after_unseal(struct api *api, bool allow_create);
/* api_core_seal - stop new calls, wait for in-flight ones, anchor the audit head, close storage,
 * then (reason not ENC_REASON_NONE) seal the core. */
void api_core_seal(struct api *api, enum enc_reason reason);
/* api_core_store_ref - take a reference on the open store (NULL when sealed). */
struct store *api_core_store_ref(struct api *api);
void api_core_store_unref(struct api *api, struct store *st);
/* api_mount_find - longest-prefix match of path in the mount table; copies it into *out. */
bool api_mount_find(struct api *api, const char *path, struct api_mount *out);
/* api_mounts_reload - rebuild the in-memory mount table from storage. */
int api_mounts_reload(struct api *api, struct store *st);
/* api_mount_ttls - the effective default and max lease TTL (seconds) of the mount at mount_path,
 * exactly as Vault names it ("secret/", "auth/approle/", "auth/token/"): the values tuned on it
 * (sys/mounts/<p>/tune, sys/auth/<p>/tune), else the system's 768h (api_mount_cfg.h). Secret
 * mounts come from the in-memory table (no store read); auth mounts and auth/token/ from the
 * call's store (one read). Out: written only on success. Errors: TR_E_NOTFOUND (no such mount),
 * as api_get_json. (api_mount_tune.c) */
TR_MUST_CHECK int api_mount_ttls(struct api_call *c, const char *mount_path, int64_t *out_def,
                                 int64_t *out_max);

/* ---- tokens (api_token.c) --------------------------------------------------------------- */
/* api_token_authenticate - look up the raw token (its parsed entry comes from the cache while
 * the index holds the same version; limited-use tokens always from the store) and check expiry,
 * its bound CIDRs against the caller's address and that its auth mount is live; sets c->token.
 * Errors: TR_E_DENIED (unknown, expired, outside its CIDRs, mount disabled), TR_E_SEALED,
 * TR_E_IO, TR_E_TAMPER. */
TR_MUST_CHECK int api_token_authenticate(struct api_call *c, const char *raw);
void api_token_free(struct api_token *t);
/* api_token_lookup - the token a call asks about rather than authenticates with (sys/capabilities,
 * sys/capabilities-accessor): by the raw token raw, else by accessor; a reference in *out while
 * it could authenticate (not expired, its auth mount and ancestors live). Bound CIDRs are not
 * checked (no request comes from it, as Vault) and no use is spent. Errors: TR_E_NOTFOUND (no
 * such accessor), TR_E_DENIED (unknown or dead token), TR_E_SEALED, TR_E_IO, TR_E_TAMPER. */
TR_MUST_CHECK int api_token_lookup(struct api_call *c, const char *raw, const char *accessor,
                                   struct api_token **out);
/* api_token_has_uses - the token is limited-use (num_uses > 0). */
bool api_token_has_uses(const struct api_token *t);
/* api_token_spend_use - spend one use (pool thread; check-and-set). TR_E_DENIED on a race. */
TR_MUST_CHECK int api_token_spend_use(struct api_call *c);
/* api_token_policies - the token's policy names (borrowed JSON array, possibly shared with other
 * threads: read it only, copy what you keep). */
const json_t *api_token_policies(const struct api_token *t);
/* api_token_create_root - make a root token, *out_raw owned (wipe + free). Blocking. */
TR_MUST_CHECK int api_token_create_root(struct store *st, char **out_raw);
void api_token_handle(struct api_call *c); /* auth/token/... */
/* api_acl_for_call - the compiled ACL of c->token into c->acl (shared, immutable): from the cache
 * while every policy record still has the version it was compiled from, else loaded from
 * storage and compiled. */
TR_MUST_CHECK int api_acl_for_call(struct api_call *c);

/* api_policy_store_default - write the built-in default policy text if absent. Blocking. */
TR_MUST_CHECK int api_policy_store_default(struct store *st);

/* ---- KV (api_kv.c) ---------------------------------------------------------------------- */
/* api_kv_existence - whether the target exists, for create/update (vault-api.md §1.9). */
bool api_kv_existence(struct api_call *c);
void api_kv_handle(struct api_call *c);

/* ---- transit (api_transit*.c) ----------------------------------------------------------- */
void api_transit_handle(struct api_call *c);
/* api_transit_existence - for create/update (vault-api.md trap 19): false only for
 * encrypt/<key> of an absent key (Vault's upsert), true for every other transit path. */
bool api_transit_existence(struct api_call *c);

/* ---- auth methods (api_auth.c) ---------------------------------------------------------- */
/* api_auth_is_login - c->path is auth/<mount path>/login[/...] of an enabled auth mount (one
 * store lookup per "login" segment; c->store referenced): answered without a token. */
bool api_auth_is_login(struct api_call *c);
/* api_auth_login - auth/<mount>/login[/...]: no token; issues one (c->store referenced). */
void api_auth_login(struct api_call *c);
/* api_auth_handle - other auth/<mount>/... paths (roles, config), token and ACL checked. */
void api_auth_handle(struct api_call *c);
/* api_auth_mount_type - the method type ("approle", "cert", "kubernetes"; static) of the live
 * auth mount serving path ("auth/<mount path>[/<rest>]", c->path or another) and the rest
 * (borrowed from path), for path help and the ACL; one store read per segment, as a request
 * there. Out: written only on success.
 * Errors: TR_E_NOTFOUND (no such mount, or one being disabled), as api_get_json. */
TR_MUST_CHECK int api_auth_mount_type(struct api_call *c, const char *path, const char **out_type,
                                      const char **out_rest);
/* api_acl_folded_path - path as the handler that serves it stores it, when that handler folds a
 * name in it (policy names trimmed and lower-cased, AppRole role names lower-cased), else NULL.
 * The ACL must allow both (api.c, api_caps.c). Malloc'd; NULL on OOM too. */
char *api_acl_folded_path(struct api_call *c, const char *path);
/* api_sys_auth - sys/auth[/<path>]: list, enable, disable auth methods. */
void api_sys_auth(struct api_call *c);
/* api_auth_resume - at unseal, before the store serves (blocking): finish auth mount disables a
 * crash interrupted and bind tokens of older versions to their mount (auth_int.h). Errors: as
 * store_write; the caller logs them and serves anyway (those mounts' tokens stay refused). */
TR_MUST_CHECK int api_auth_resume(struct store *st);

#endif
