/* The route tables of path help (api_help_int.h): what each backend Tresor serves says of its
 * routes. Descriptions follow docs/api.md and docs/auth.md; keep them in step with the handlers. */
#include "api_help_int.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- parameters several routes share --------------------------------------------------- */

#define F_END                                                                                      \
    {                                                                                              \
        NULL, NULL, NULL                                                                           \
    }

static const struct help_field f_name_only[] = {
    {"name", "string", "Name of the entry (the last segment of the path)."}, F_END};

/* ---- sys/ ------------------------------------------------------------------------------- */

static const struct help_field f_sys_mount[] = {
    {"config", "map", "Mount configuration: default_lease_ttl, max_lease_ttl, description, ..."},
    {"description", "string", "User-friendly description for this mount."},
    {"options", "keypair", "Options of the backend; for kv, \"version\" is \"1\" or \"2\"."},
    {"path", "string", "The path of the mount (in the URL)."},
    {"type", "string", "The type of the backend: kv, kv-v1, kv-v2 or transit."},
    F_END};

static const struct help_field f_sys_tune[] = {
    {"allowed_response_headers", "comma-string slice", "Stored and shown only."},
    {"audit_non_hmac_request_keys", "comma-string slice", "Stored and shown only."},
    {"audit_non_hmac_response_keys", "comma-string slice", "Stored and shown only."},
    {"default_lease_ttl", "string", "The default lease TTL, or \"system\"."},
    {"description", "string", "User-friendly description for this mount."},
    {"listing_visibility", "string", "\"\", \"hidden\" or \"unauth\"."},
    {"max_lease_ttl", "string", "The max lease TTL, or \"system\"; at most 768h."},
    {"options", "keypair", "Backend options, merged; an empty value deletes a key."},
    {"path", "string", "The path of the mount (in the URL)."},
    {"token_type", "string", "Auth mounts: \"default-service\" or \"service\"."},
    F_END};

static const struct help_field f_sys_auth[] = {
    {"config", "map", "Mount configuration: default_lease_ttl, max_lease_ttl, token_type, ..."},
    {"description", "string", "User-friendly description for this auth method."},
    {"path", "string", "The path to mount the auth method at (in the URL)."},
    {"type", "string", "The type of the auth method: approle, cert or kubernetes."},
    F_END};

static const struct help_field f_sys_policy[] = {
    {"name", "string", "The name of the policy (in the URL); stored lower-cased."},
    {"policy", "string", "The policy text, HCL or JSON, or that text in base64."},
    {"rules", "string", "Legacy name of policy (sys/policy only; deprecated)."},
    F_END};

static const struct help_field f_sys_caps[] = {
    {"accessor", "string", "capabilities-accessor: the accessor of the token to check."},
    {"path", "comma-string slice", "Deprecated name of paths."},
    {"paths", "comma-string slice", "The paths to report the capabilities on."},
    {"token", "string", "capabilities: the token to check."},
    F_END};

static const struct help_field f_sys_lease[] = {
    {"increment", "duration (sec)", "renew: the requested extension."},
    {"lease_id", "string", "The lease ID (in the body, or in the URL)."},
    {"prefix", "string", "revoke-prefix, revoke-force, lookup/: the prefix (in the URL)."},
    F_END};

static const struct help_route sys_routes[] = {
    {{"mounts"},
     "^mounts$",
     API_HELP_GET,
     "List the mounted secrets engines.",
     NULL,
     "Lists every secret mount with its type, description, accessor, uuid, config and options, "
     "in \"data\" and at the top level. Built in: sys/ and auth/token/ are not secret mounts."},
    {{"mounts/*/tune"},
     "^mounts/(?P<path>.+?)/tune$",
     API_HELP_GET | API_HELP_PUT,
     "Tune a mount's configuration.",
     f_sys_tune,
     "Reads the effective settings of a secret mount (or of an auth mount as mounts/auth/<path>, "
     "which needs no sudo) or changes them; a tune answers 204."},
    {{"mounts/*"},
     "^mounts/(?P<path>.+?)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Mount a new secrets engine, read one or unmount it.",
     f_sys_mount,
     "PUT enables a kv (version 1 or 2) or transit engine at the path (409 when it overlaps an "
     "existing mount); GET reads the mount; DELETE disables it and deletes all its data."},
    {{"internal/ui/mounts", "internal/ui/mounts/*"},
     "^internal/ui/mounts(?:/(?P<path>.+))?$",
     API_HELP_GET,
     "The mounts a token can see; the CLI's KV preflight.",
     NULL,
     "Without a path: the secret and auth mounts the token can reach. With a path: the mount "
     "holding it (path and options.version), which the vault CLI reads before a kv command."},
    {{"auth"},
     "^auth$",
     API_HELP_GET,
     "List the enabled auth methods.",
     NULL,
     "Lists token/ and every enabled auth method, in \"data\" and at the top level."},
    {{"auth/*/tune"},
     "^auth/(?P<path>.+?)/tune$",
     API_HELP_GET | API_HELP_PUT,
     "Tune an auth method's configuration (sudo).",
     f_sys_tune,
     "Reads or changes the TTLs, description, listing visibility and token type of an auth "
     "mount."},
    {{"auth/*"},
     "^auth/(?P<path>.+?)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Enable, read or disable an auth method (sudo).",
     f_sys_auth,
     "Disabling an auth method revokes every token issued through it, with their children, and "
     "deletes its roles, certificates and secret IDs."},
    {{"policies/acl", "policies/acl/"},
     "^policies/acl/?$",
     API_HELP_LIST,
     "List the ACL policies.",
     NULL,
     "Lists the names of the stored ACL policies."},
    {{"policies/acl/*"},
     "^policies/acl/(?P<name>.+)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Read, write or delete an ACL policy.",
     f_sys_policy,
     "\"root\" and \"default\" are reserved: root cannot be written, default cannot be "
     "deleted."},
    {{"policy", "policy/"},
     "^policy/?$",
     API_HELP_GET,
     "List the policies (legacy form).",
     NULL,
     "The legacy form of policies/acl: lists the policy names in \"policies\" and \"keys\"."},
    {{"policy/*"},
     "^policy/(?P<name>.+)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Read, write or delete a policy (legacy form).",
     f_sys_policy,
     "The legacy form of policies/acl/<name>; a read answers the text as \"rules\"."},
    {{"capabilities", "capabilities-self", "capabilities-accessor"},
     "^capabilities(-self|-accessor)?$",
     API_HELP_PUT,
     "The capabilities a token has on paths.",
     f_sys_caps,
     "capabilities-self reports the caller's own token; capabilities needs update on its path and "
     "a token, capabilities-accessor an accessor. The answer maps each path to its capabilities."},
    {{"key-status"},
     "^key-status$",
     API_HELP_GET,
     "The term of the record keyring.",
     NULL,
     "Reports the current term of the record keyring."},
    {{"rotate"},
     "^rotate$",
     API_HELP_PUT,
     "Rotate the record key (sudo).",
     NULL,
     "Adds a new record key for new writes; records written under older keys stay readable."},
    {{"metrics"},
     "^metrics$",
     API_HELP_GET,
     "Server metrics in Prometheus text format.",
     (const struct help_field[]){{"format", "string", "Empty or \"prometheus\"."}, F_END},
     "Store counters, key term, the API cache and, with an audit device, audit metrics."},
    {{"storage/backup"},
     "^storage/backup$",
     API_HELP_PUT,
     "A consistent snapshot of the store (sudo).",
     NULL,
     "Streams a snapshot of the encrypted store as application/octet-stream."},
    {{"storage/recover"},
     "^storage/recover$",
     API_HELP_PUT,
     "Re-anchor storage after a rollback or tamper verdict.",
     (const struct help_field[]){{"key", "string", "One recovery (or unseal) share."}, F_END},
     "Takes one share per request, without a token; at the threshold the on-disk state is "
     "anchored again."},
    {{"seal"},
     "^seal$",
     API_HELP_PUT,
     "Seal the server (sudo).",
     NULL,
     "Waits for requests in flight, closes the store and wipes the keys from memory."},
    {{"unseal"},
     "^unseal$",
     API_HELP_PUT,
     "Submit an unseal share.",
     (const struct help_field[]){{"key", "string", "One unseal share, hex or base64."},
                                 {"reset", "bool", "Discard the shares submitted so far."},
                                 F_END},
     "Without a token; the share that completes the threshold unseals the server and opens the "
     "store."},
    {{"seal-status"},
     "^seal-status$",
     API_HELP_GET,
     "The seal status.",
     NULL,
     "Without a token: sealed, initialized, threshold, progress, type and the seal reason."},
    {{"init"},
     "^init$",
     API_HELP_GET | API_HELP_PUT,
     "Initialize the server.",
     (const struct help_field[]){
         {"recovery_shares", "int", "Auto-unseal seals: the number of recovery shares."},
         {"recovery_threshold", "int", "Auto-unseal seals: shares needed to recover."},
         {"secret_shares", "int", "Shamir seal: the number of unseal shares."},
         {"secret_threshold", "int", "Shamir seal: shares needed to unseal."},
         F_END},
     "GET tells whether the server is initialized; PUT initializes it and answers the shares and "
     "the root token, once."},
    {{"health"},
     "^health$",
     API_HELP_GET | API_HELP_HEAD,
     "The health of the node.",
     NULL,
     "Without a token; the status code tells the state and the query codes (activecode, "
     "sealedcode, uninitcode, standbyok, ...) change it."},
    {{"leader"},
     "^leader$",
     API_HELP_GET,
     "The leader of the cluster (a single node).",
     NULL,
     "A Tresor node is never part of an HA cluster: ha_enabled is false."},
    {{"audit"},
     "^audit$",
     API_HELP_GET,
     "List the audit devices (sudo).",
     NULL,
     "The device of tresord's configuration file (audit.path), if any."},
    {{"audit/*"},
     "^audit/(?P<path>.+)$",
     API_HELP_PUT | API_HELP_DELETE,
     "Enable or disable an audit device (sudo).",
     NULL,
     "Audit devices come from tresord's configuration file: enabling one here, or disabling the "
     "configured one, is refused (403)."},
    {{"audit-hash/*"},
     "^audit-hash/(?P<path>.+)$",
     API_HELP_PUT,
     "The hash an input has in the audit log.",
     (const struct help_field[]){{"input", "string", "The text to hash."}, F_END},
     "Answers the keyed hash the audit device writes for input, to search the log."},
    {{"step-down"},
     "^step-down$",
     API_HELP_PUT,
     "Step down from active duty (a no-op).",
     NULL,
     "A single node has no standby to hand over to: 204 (needs update and sudo)."},
    {{"leases/renew", "leases/renew/*", "renew", "renew/*"},
     "^(leases/)?renew(/(?P<url_lease_id>.+))?$",
     API_HELP_PUT,
     "Renew a lease.",
     f_sys_lease,
     "Tresor issues no leases, so every lease is unknown: 400 lease not found."},
    {{"leases/revoke", "leases/revoke/*", "revoke", "revoke/*"},
     "^(leases/)?revoke(/(?P<url_lease_id>.+))?$",
     API_HELP_PUT,
     "Revoke a lease.",
     f_sys_lease,
     "Tresor issues no leases: revoking one succeeds with 204, as Vault for an unknown lease."},
    {{"leases/revoke-prefix/*", "revoke-prefix/*", "leases/revoke-force/*", "revoke-force/*"},
     "^(leases/)?revoke-(prefix|force)/(?P<prefix>.+)$",
     API_HELP_PUT,
     "Revoke every lease under a prefix (sudo).",
     f_sys_lease,
     "No lease exists under any prefix: 204. Under auth/ the answer is 400: tokens have no "
     "leases, revoke them through auth/token/."},
    {{"leases/lookup"},
     "^leases/lookup$",
     API_HELP_PUT,
     "Look a lease up.",
     f_sys_lease,
     "Every lease is unknown: 400 invalid lease."},
    {{"leases/lookup/*"},
     "^leases/lookup/(?P<prefix>.+)$",
     API_HELP_LIST,
     "List the leases under a prefix (sudo).",
     f_sys_lease,
     "There are none: 404."},
};

const struct help_backend api_help_sys = {
    "The system backend is built in and cannot be remounted or unmounted. It holds the paths "
    "that configure Tresor itself (mounts, auth methods, policies, audit) and perform core "
    "operations (init, unseal, seal, key rotation).",
    sys_routes, N(sys_routes)};

/* ---- auth/token/ ------------------------------------------------------------------------ */

static const struct help_field f_tok_create[] = {
    {"display_name", "string", "Name shown for the token (token-<display_name>)."},
    {"explicit_max_ttl", "duration (sec)", "A hard cap on the token's lifetime."},
    {"meta", "map", "Metadata (string values) kept with the token."},
    {"no_default_policy", "bool", "Do not add the default policy."},
    {"no_parent", "bool", "Make an orphan (needs sudo or root)."},
    {"num_uses", "int", "The number of uses of the token (0: unlimited)."},
    {"period", "duration (sec)", "Make a periodic token renewable by this period."},
    {"policies", "slice", "The token's policies, a subset of the caller's."},
    {"renewable", "bool", "Whether the token can be renewed (default true)."},
    {"role_name", "string", "create/<role_name>: the token role to apply (in the URL)."},
    {"ttl", "duration (sec)", "The token's TTL (or lease); default: the mount's."},
    {"type", "string", "\"service\" (or empty); batch tokens are not supported."},
    F_END};

static const struct help_field f_tok_token[] = {{"token", "string", "The token to act on."}, F_END};
static const struct help_field f_tok_acc[] = {
    {"accessor", "string", "The accessor of the token to act on."}, F_END};
static const struct help_field f_tok_target[] = {
    {"accessor", "string", "The accessor of the token (the -accessor form)."},
    {"token", "string", "The token (the form without a suffix)."},
    F_END};
static const struct help_field f_tok_renew[] = {
    {"accessor", "string", "renew-accessor: the accessor of the token."},
    {"increment", "duration (sec)", "The extension asked for; default: the creation TTL."},
    {"token", "string", "renew: the token."},
    F_END};

static const struct help_field f_tok_role[] = {
    {"allowed_policies", "comma-string slice", "Policies tokens of the role may have."},
    {"allowed_policies_glob", "comma-string slice", "The same, as globs."},
    {"disallowed_policies", "comma-string slice", "Policies tokens of the role may not have."},
    {"disallowed_policies_glob", "comma-string slice", "The same, as globs."},
    {"orphan", "bool", "Tokens of the role are orphans."},
    {"path_suffix", "string", "Appended to the tokens' creation path."},
    {"renewable", "bool", "Tokens of the role are renewable (default true)."},
    {"role_name", "string", "The name of the role (in the URL)."},
    {"token_bound_cidrs", "comma-string slice", "Tokens work only from these CIDR blocks."},
    {"token_explicit_max_ttl", "duration (sec)", "A hard cap on the tokens' lifetime."},
    {"token_period", "duration (sec)", "Makes the tokens periodic."},
    F_END};

static const struct help_route token_routes[] = {
    {{"create", "create-orphan", "create/+"},
     "^create(-orphan|/(?P<role_name>\\w(([\\w-.]+)?\\w)?))?$",
     API_HELP_PUT,
     "Create a token.",
     f_tok_create,
     "Creates a child of the caller's token (create-orphan and no_parent: an orphan), with at "
     "most the caller's policies unless the caller is root; create/<role> applies a token "
     "role. The answer carries the token in auth.client_token."},
    {{"lookup-self"},
     "^lookup-self$",
     API_HELP_GET | API_HELP_PUT,
     "Look up the caller's token.",
     NULL,
     "Answers the properties of the token of the request: policies, TTL, uses, metadata."},
    {{"lookup"},
     "^lookup$",
     API_HELP_PUT,
     "Look a token up.",
     f_tok_token,
     "Answers the properties of the token given in the body."},
    {{"lookup-accessor"},
     "^lookup-accessor$",
     API_HELP_PUT,
     "Look a token up by accessor.",
     f_tok_acc,
     "Answers the properties of the token of the accessor, without its ID."},
    {{"renew-self", "renew", "renew-accessor"},
     "^renew(-self|-accessor)?$",
     API_HELP_PUT,
     "Renew a token.",
     f_tok_renew,
     "Extends the token's lease by increment, never past its max TTL; renew-self renews the "
     "caller's token."},
    {{"revoke-self", "revoke", "revoke-accessor"},
     "^revoke(-self|-accessor)?$",
     API_HELP_PUT,
     "Revoke a token and its children.",
     f_tok_target,
     "Revokes the token (revoke-self: the caller's) and every token created under it."},
    {{"revoke-orphan"},
     "^revoke-orphan$",
     API_HELP_PUT,
     "Revoke a token, leaving its children as orphans (sudo).",
     f_tok_token,
     "The children of the token survive as orphans."},
    {{"roles", "roles/"},
     "^roles/?$",
     API_HELP_LIST,
     "List the token roles.",
     NULL,
     "Lists the names of the token roles."},
    {{"roles/+"},
     "^roles/(?P<role_name>\\w(([\\w-.]+)?\\w)?)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Read, write or delete a token role.",
     f_tok_role,
     "A role constrains the tokens created with create/<role_name>."},
    {{"accessors", "accessors/"},
     "^accessors/?$",
     API_HELP_LIST,
     "List the accessors of all tokens (sudo).",
     NULL,
     "Lists every token's accessor, never a token."},
};

const struct help_backend api_help_token = {
    "The token store: it creates, looks up, renews and revokes tokens, and manages token roles. "
    "It is built in at auth/token/ and cannot be disabled.",
    token_routes, N(token_routes)};

/* ---- KV ----------------------------------------------------------------------------------- */

static const struct help_field f_kv_path[] = {{"path", "string", "Location of the secret."}, F_END};
static const struct help_field f_kv_versions[] = {
    {"path", "string", "Location of the secret."},
    {"versions", "comma-int slice", "The versions to act on."},
    F_END};

static const struct help_route kv1_routes[] = {
    {{"*"},
     ".*",
     API_HELP_GET | API_HELP_LIST | API_HELP_PUT | API_HELP_DELETE,
     "Pass-through secret storage to the storage backend, allowing you to read/write arbitrary "
     "data into secret storage.",
     (const struct help_field[]){{"lease", "string", "Lease time for this key when read. Ex: 1h"},
                                 {"path", "string", "Location of the secret."},
                                 F_END},
     "The pass-through backend reads and writes arbitrary data as JSON objects, encrypted at "
     "rest. A read answers the object the last write stored; LIST lists the keys under a "
     "prefix; DELETE removes the key. There are no versions: a write replaces the value."},
};

const struct help_backend api_help_kv1 = {
    "The kv (version 1) backend stores arbitrary secrets, one JSON object per key, without "
    "versions.",
    kv1_routes, N(kv1_routes)};

static const struct help_route kv2_routes[] = {
    {{"config"},
     "^config$",
     API_HELP_GET | API_HELP_PUT,
     "Configures settings for the KV store.",
     (const struct help_field[]){
         {"cas_required", "bool", "If true, every write must carry the cas option."},
         {"delete_version_after", "duration (sec)",
          "Versions are deleted this long after they were written (0: never)."},
         {"max_versions", "int", "The number of versions to keep for each key (0: 10)."},
         F_END},
     "The settings of the mount; a key's own metadata may refine them."},
    {{"data/*"},
     "^data/(?P<path>.*)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_PATCH | API_HELP_DELETE,
     "Write, Patch, Read, and Delete data in the Key-Value Store.",
     (const struct help_field[]){
         {"data", "map", "The contents of the data map will be stored and returned on read."},
         {"options", "map",
          "Options for writing a KV entry. Set the \"cas\" value to use a Check-And-Set "
          "operation: 0 writes only if the key does not exist, a version writes only if it is "
          "the current one."},
         {"path", "string", "Location of the secret."},
         {"version", "int",
          "If provided during a read, the value at the version number will be "
          "returned."},
         F_END},
     "This path takes a key name and based on the operation stores, retrieves, patches or "
     "deletes versions of the data. A write creates a new version; DELETE soft-deletes the "
     "latest version (undelete can restore it)."},
    {{"metadata/", "metadata/*"},
     "^metadata/(?P<path>.*)$",
     API_HELP_GET | API_HELP_LIST | API_HELP_PUT | API_HELP_PATCH | API_HELP_DELETE,
     "Configures settings for the KV store's keys and lists them.",
     (const struct help_field[]){
         {"cas_required", "bool", "If true, writes of the key must carry the cas option."},
         {"custom_metadata", "map", "User metadata, string values (at most 64 keys)."},
         {"delete_version_after", "duration (sec)",
          "Versions of the key are deleted this long after they were written."},
         {"max_versions", "int", "The number of versions to keep for the key."},
         {"path", "string", "Location of the secret."},
         F_END},
     "Reads and writes the metadata of a key (its settings and the state of every version) "
     "and lists keys. DELETE removes the key: every version and its metadata."},
    {{"delete/*"},
     "^delete/(?P<path>.*)$",
     API_HELP_PUT,
     "Marks one or more versions as deleted in the KV store.",
     f_kv_versions,
     "Soft-deletes the given versions: their data stays stored and undelete can restore it."},
    {{"undelete/*"},
     "^undelete/(?P<path>.*)$",
     API_HELP_PUT,
     "Undeletes one or more versions from the KV store.",
     f_kv_versions,
     "Restores soft-deleted versions."},
    {{"destroy/*"},
     "^destroy/(?P<path>.*)$",
     API_HELP_PUT,
     "Permanently removes one or more versions in the KV store.",
     f_kv_versions,
     "Deletes the data of the given versions for good; their metadata stays."},
    {{"subkeys/*"},
     "^subkeys/(?P<path>.*)$",
     API_HELP_GET,
     "Read the structure of a secret entry from the Key-Value store with the values removed.",
     (const struct help_field[]){
         {"depth", "int", "How deep to descend into nested objects (0: no limit)."},
         {"path", "string", "Location of the secret."},
         {"version", "int", "The version to read (default: the latest)."},
         F_END},
     "Answers the keys of the secret, nested as stored, with every value replaced by null."},
    {{"*"},
     ".*",
     API_HELP_GET | API_HELP_LIST | API_HELP_PUT | API_HELP_PATCH | API_HELP_DELETE,
     "Invalid path for a versioned K/V secrets engine.",
     f_kv_path,
     "This mount is a versioned K/V secrets engine: secrets live under data/, their metadata "
     "under metadata/. Every request on this path answers 404 with a warning. If using the "
     "vault CLI, use 'vault kv get|put|patch|list|delete'."},
};

const struct help_backend api_help_kv2 = {
    "The kv (version 2) backend stores arbitrary secrets, versioned: each write keeps a new "
    "version, older ones can be read, deleted, undeleted or destroyed.",
    kv2_routes, N(kv2_routes)};

/* ---- transit ------------------------------------------------------------------------------ */

static const struct help_field f_tr_crypt[] = {
    {"associated_data", "string", "Base64 associated data (AEAD), authenticated not encrypted."},
    {"batch_input", "slice", "A list of items, each with the fields of a single request."},
    {"ciphertext", "string", "decrypt, rewrap: the ciphertext (vault:v<N>:...)."},
    {"context", "string", "Base64 context for key derivation (derived keys)."},
    {"key_version", "int", "The key version to use (default: the latest)."},
    {"name", "string", "Name of the key (in the URL)."},
    {"partial_failure_response_code", "int", "Status when only some batch items failed."},
    {"plaintext", "string", "encrypt: base64 plaintext."},
    {"type", "string", "encrypt: the type of a key the request creates."},
    F_END};

static const struct help_field f_tr_sig[] = {
    {"algorithm", "string", "hmac: the hash (sha2-256 default, sha2-224/384/512, sha3-*)."},
    {"batch_input", "slice", "A list of items, each with the fields of a single request."},
    {"context", "string", "Base64 context for key derivation (derived keys)."},
    {"hash_algorithm", "string", "sign, verify: the hash (as algorithm)."},
    {"hmac", "string", "verify: the HMAC to check instead of a signature."},
    {"input", "string", "The base64 input."},
    {"key_version", "int", "The key version to use (default: the latest)."},
    {"marshaling_algorithm", "string", "ECDSA signatures: \"asn1\" (default) or \"jws\"."},
    {"name", "string", "Name of the key (in the URL)."},
    {"prehashed", "bool", "ECDSA: the input is already a hash."},
    {"signature", "string", "verify: the signature (vault:v<N>:...)."},
    {"urlalgorithm", "string", "The hash, given in the URL."},
    F_END};

static const struct help_field f_tr_key[] = {
    {"allow_plaintext_backup", "bool", "Only false: keys never leave the core."},
    {"auto_rotate_period", "duration (sec)", "Rotate the key this often (0, or at least 1h)."},
    {"context", "string", "GET of a derived ed25519 key: the base64 context."},
    {"derived", "bool", "Derive a key per context."},
    {"exportable", "bool", "Only false: keys never leave the core."},
    {"key_size", "int", "hmac keys: 32."},
    {"name", "string", "Name of the key (in the URL)."},
    {"type", "string",
     "aes256-gcm96 (default), aes128-gcm96, chacha20-poly1305, xchacha20-poly1305, ed25519, "
     "ecdsa-p256 or hmac."},
    F_END};

static const struct help_route transit_routes[] = {
    {{"keys", "keys/"},
     "^keys/?$",
     API_HELP_LIST,
     "Managed named encryption keys.",
     NULL,
     "Lists the names of the keys."},
    {{"keys/+"},
     "^keys/(?P<name>\\w(([\\w-.@]+)?\\w)?)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Managed named encryption keys.",
     f_tr_key,
     "PUT creates a key; GET reads its settings and versions (public keys only, never key "
     "material); DELETE deletes it when deletion_allowed is set."},
    {{"keys/+/config"},
     "^keys/(?P<name>\\w(([\\w-.@]+)?\\w)?)/config$",
     API_HELP_PUT,
     "Configure a named encryption key.",
     (const struct help_field[]){
         {"auto_rotate_period", "duration (sec)", "Rotate the key this often (0: never)."},
         {"deletion_allowed", "bool", "Whether the key may be deleted."},
         {"min_decryption_version", "int", "Older versions no longer decrypt or verify."},
         {"min_encryption_version", "int", "New output uses at least this version."},
         {"name", "string", "Name of the key (in the URL)."},
         F_END},
     "Changes the version bounds and settings of the key."},
    {{"keys/+/rotate"},
     "^keys/(?P<name>\\w(([\\w-.@]+)?\\w)?)/rotate$",
     API_HELP_PUT,
     "Rotate named encryption key.",
     f_name_only,
     "Adds a new version of the key, used for new output from then on."},
    {{"keys/+/trim"},
     "^keys/(?P<name>\\w(([\\w-.@]+)?\\w)?)/trim$",
     API_HELP_PUT,
     "Trim key versions of a named key.",
     (const struct help_field[]){
         {"min_available_version", "int", "Versions below this one are deleted for good."},
         {"name", "string", "Name of the key (in the URL)."},
         F_END},
     "Deletes old key versions; what they protected can no longer be decrypted."},
    {{"encrypt/+"},
     "^encrypt/(?P<name>\\w(([\\w-.@]+)?\\w)?)$",
     API_HELP_PUT,
     "Encrypt a plaintext value or a batch of plaintext blocks using a named key.",
     f_tr_crypt,
     "Answers the ciphertext; an absent key is created when the token may create it."},
    {{"decrypt/+"},
     "^decrypt/(?P<name>\\w(([\\w-.@]+)?\\w)?)$",
     API_HELP_PUT,
     "Decrypt a ciphertext value using a named key.",
     f_tr_crypt,
     "Answers the base64 plaintext; a tampered ciphertext is 400."},
    {{"rewrap/+"},
     "^rewrap/(?P<name>\\w(([\\w-.@]+)?\\w)?)$",
     API_HELP_PUT,
     "Rewrap ciphertext.",
     f_tr_crypt,
     "Decrypts and encrypts again under the latest (or given) key version, inside the core."},
    {{"datakey/+/+"},
     "^datakey/(?P<plaintext>\\w+)/(?P<name>\\w(([\\w-.@]+)?\\w)?)$",
     API_HELP_PUT,
     "Generate a data key.",
     (const struct help_field[]){
         {"associated_data", "string", "Base64 associated data (AEAD)."},
         {"bits", "int", "128, 256 (default) or 512."},
         {"context", "string", "Base64 context for key derivation (derived keys)."},
         {"key_version", "int", "The key version to use (default: the latest)."},
         {"name", "string", "Name of the key (in the URL)."},
         {"plaintext", "string", "\"plaintext\" or \"wrapped\" (in the URL)."},
         F_END},
     "Makes a random data key and answers it encrypted under the named key (and, for "
     "plaintext, also in the clear)."},
    {{"hmac/+", "hmac/+/+"},
     "^hmac/(?P<name>\\w(([\\w-.@]+)?\\w)?)(/(?P<urlalgorithm>.+))?$",
     API_HELP_PUT,
     "Generate an HMAC for input data using the named key.",
     f_tr_sig,
     "Answers hmac, vault:v<N>:<base64>, under the key version's HMAC key."},
    {{"sign/+", "sign/+/+"},
     "^sign/(?P<name>\\w(([\\w-.@]+)?\\w)?)(/(?P<urlalgorithm>.+))?$",
     API_HELP_PUT,
     "Generate a signature for input data using the named key.",
     f_tr_sig,
     "Signs with an ed25519 or ecdsa-p256 key; answers signature, vault:v<N>:..."},
    {{"verify/+", "verify/+/+"},
     "^verify/(?P<name>\\w(([\\w-.@]+)?\\w)?)(/(?P<urlalgorithm>.+))?$",
     API_HELP_PUT,
     "Verify a signature or HMAC for input data created using the named key.",
     f_tr_sig,
     "Answers valid: true or false."},
    {{"random", "random/+", "random/+/+"},
     "^random(/(?P<source>\\w+))?(/(?P<urlbytes>\\d+))?$",
     API_HELP_PUT,
     "Generate random bytes.",
     (const struct help_field[]){
         {"bytes", "int", "The number of bytes (default 32, at most 131072)."},
         {"format", "string", "\"base64\" (default) or \"hex\"."},
         {"source", "string", "\"platform\" (default), \"seal\" or \"all\"."},
         F_END},
     "Answers random_bytes."},
    {{"hash", "hash/+"},
     "^hash(/(?P<urlalgorithm>.+))?$",
     API_HELP_PUT,
     "Generate a hash sum for input data.",
     (const struct help_field[]){
         {"algorithm", "string", "sha2-256 (default), sha2-224/384/512, sha3-224/256/384/512."},
         {"format", "string", "\"hex\" (default) or \"base64\"."},
         {"input", "string", "The base64 input."},
         F_END},
     "Answers sum; no key is involved."},
    {{"export/+/+", "export/+/+/*"},
     "^export/(?P<type>\\w(([\\w-.]+)?\\w)?)/(?P<name>\\w(([\\w-.]+)?\\w)?)(/(?P<version>.+))?$",
     API_HELP_GET,
     "Export named encryption or signing key.",
     (const struct help_field[]){
         {"name", "string", "Name of the key (in the URL)."},
         {"type", "string", "public-key; private key material is never exportable."},
         {"version", "string", "\"latest\", <n> or v<n> (default: every version)."},
         F_END},
     "Answers public keys only: no key is exportable, so every private export type is 400."},
};

const struct help_backend api_help_transit = {
    "The transit backend handles cryptographic functions on data in transit: encryption, "
    "signing, HMAC, data keys and random bytes. Keys never leave the trusted core.",
    transit_routes, N(transit_routes)};

/* ---- auth methods --------------------------------------------------------------------------- */

static const struct help_field f_ar_role[] = {
    {"bind_secret_id", "bool", "Logins need a secret ID (default true)."},
    {"role_id", "string", "A custom role ID, at creation."},
    {"role_name", "string", "Name of the role (in the URL)."},
    {"secret_id_bound_cidrs", "comma-string slice", "Logins only from these CIDR blocks."},
    {"secret_id_num_uses", "int", "Uses of each secret ID (0: unlimited)."},
    {"secret_id_ttl", "duration (sec)", "Lifetime of each secret ID (0: unlimited)."},
    {"token_policies", "comma-string slice",
     "Policies of the issued tokens, and token_ttl, "
     "token_max_ttl, token_explicit_max_ttl, "
     "token_bound_cidrs as for every role."},
    F_END};

static const struct help_field f_ar_sid[] = {
    {"cidr_list", "comma-string slice", "Logins with the secret ID only from these blocks."},
    {"metadata", "string", "Metadata (an object or its JSON text) kept with the secret ID."},
    {"num_uses", "int", "Uses of the secret ID (0: the role's)."},
    {"role_name", "string", "Name of the role (in the URL)."},
    {"secret_id", "string", "custom-secret-id: the secret ID to use."},
    {"token_bound_cidrs", "comma-string slice", "Tokens of its logins only from these blocks."},
    {"ttl", "duration (sec)", "Lifetime of the secret ID (0: the role's)."},
    F_END};

static const struct help_field f_ar_sid_one[] = {
    {"role_name", "string", "Name of the role (in the URL)."},
    {"secret_id", "string", "The secret ID."},
    F_END};
static const struct help_field f_ar_acc_one[] = {
    {"role_name", "string", "Name of the role (in the URL)."},
    {"secret_id_accessor", "string", "The accessor of the secret ID."},
    F_END};

static const struct help_route approle_routes[] = {
    {{"login"},
     "^login$",
     API_HELP_PUT,
     "Issue a token based on the credentials supplied.",
     (const struct help_field[]){{"role_id", "string", "Unique identifier of the Role."},
                                 {"secret_id", "string", "SecretID belong to the App role."},
                                 F_END},
     "Needs no token. A role ID with a valid secret ID of its role gets a token with the role's "
     "token settings."},
    {{"role", "role/"},
     "^role/?$",
     API_HELP_LIST,
     "Lists all the roles registered with the "
     "backend.",
     NULL,
     "Lists the role names."},
    {{"role/+"},
     "^role/(?P<role_name>\\w(([\\w-.]+)?\\w)?)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Register an role with the backend.",
     f_ar_role,
     "Creates, updates (fields absent keep their value), reads or deletes a role."},
    {{"role/+/role-id"},
     "^role/(?P<role_name>\\w(([\\w-.]+)?\\w)?)/role-id$",
     API_HELP_GET | API_HELP_PUT,
     "Returns the 'role_id' of the role.",
     (const struct help_field[]){{"role_id", "string", "A custom role ID, unused by other roles."},
                                 {"role_name", "string", "Name of the role (in the URL)."},
                                 F_END},
     "Reads or sets the role ID logins present."},
    {{"role/+/secret-id", "role/+/secret-id/"},
     "^role/(?P<role_name>\\w(([\\w-.]+)?\\w)?)/secret-id/?$",
     API_HELP_PUT | API_HELP_LIST,
     "Generate a SecretID against this role.",
     f_ar_sid,
     "PUT makes a new secret ID and answers it with its accessor, once; LIST lists the "
     "accessors of the role's secret IDs."},
    {{"role/+/custom-secret-id"},
     "^role/(?P<role_name>\\w(([\\w-.]+)?\\w)?)/custom-secret-id$",
     API_HELP_PUT,
     "Assign a SecretID of choice against the role.",
     f_ar_sid,
     "Registers a secret ID the caller chose."},
    {{"role/+/secret-id/lookup"},
     "^role/(?P<role_name>\\w(([\\w-.]+)?\\w)?)/secret-id/lookup/?$",
     API_HELP_PUT,
     "Read the properties of an issued secret ID.",
     f_ar_sid_one,
     "Answers the secret ID's properties, never the ID itself."},
    {{"role/+/secret-id/destroy"},
     "^role/(?P<role_name>\\w(([\\w-.]+)?\\w)?)/secret-id/destroy/?$",
     API_HELP_PUT | API_HELP_DELETE,
     "Invalidate an issued secret ID.",
     f_ar_sid_one,
     "Deletes the secret ID."},
    {{"role/+/secret-id-accessor/lookup"},
     "^role/(?P<role_name>\\w(([\\w-.]+)?\\w)?)/secret-id-accessor/lookup/?$",
     API_HELP_PUT,
     "Read the properties of an issued secret ID, by its accessor.",
     f_ar_acc_one,
     "As secret-id/lookup, by accessor."},
    {{"role/+/secret-id-accessor/destroy"},
     "^role/(?P<role_name>\\w(([\\w-.]+)?\\w)?)/secret-id-accessor/destroy/?$",
     API_HELP_PUT | API_HELP_DELETE,
     "Invalidate an issued secret ID, by its accessor.",
     f_ar_acc_one,
     "As secret-id/destroy, by accessor."},
};

const struct help_backend api_help_approle = {
    "Any registered Role can authenticate itself with Tresor. The credentials depend on the "
    "constraints set on the Role: a role ID and, by default, a secret ID.",
    approle_routes, N(approle_routes)};

static const struct help_field f_cert_role[] = {
    {"allowed_common_names", "comma-string slice", "Globs the leaf's common name must match."},
    {"allowed_dns_sans", "comma-string slice", "Globs the leaf's DNS SANs must match."},
    {"allowed_email_sans", "comma-string slice", "Globs the leaf's email SANs must match."},
    {"allowed_uri_sans", "comma-string slice", "Globs the leaf's URI SANs must match."},
    {"certificate", "string", "The trusted certificate (PEM): a CA, an intermediate or a leaf."},
    {"display_name", "string", "The display name of the issued tokens."},
    {"name", "string", "Name of the certificate role (in the URL)."},
    {"token_policies", "comma-string slice",
     "Policies of the issued tokens, and the other "
     "token_* settings as for every role."},
    F_END};

static const struct help_route cert_routes[] = {
    {{"login"},
     "^login$",
     API_HELP_PUT,
     "Log in with the TLS client certificate.",
     (const struct help_field[]){{"name", "string", "Restrict matching to this certificate role."},
                                 F_END},
     "Needs no token: the certificate of the TLS connection is matched against the roles, in "
     "name order; the first that trusts it issues the token."},
    {{"certs", "certs/"},
     "^certs/?$",
     API_HELP_LIST,
     "List the certificate roles.",
     NULL,
     "Lists the role names."},
    {{"certs/+"},
     "^certs/(?P<name>\\w(([\\w-.]+)?\\w)?)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Manage trusted certificates used for "
     "authentication.",
     f_cert_role,
     "Creates, reads or deletes a certificate role."},
    {{"crls", "crls/"}, "^crls/?$", API_HELP_LIST, "List the CRLs.", NULL, "Lists the CRL names."},
    {{"crls/+"},
     "^crls/(?P<name>\\w(([\\w-.]+)?\\w)?)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Manage Certificate Revocation Lists.",
     (const struct help_field[]){{"crl", "string", "The CRL, PEM."},
                                 {"name", "string", "Name of the CRL (in the URL)."},
                                 F_END},
     "A read answers the revoked serial numbers."},
};

const struct help_backend api_help_cert = {
    "The \"cert\" credential provider allows authentication using TLS client certificates "
    "signed by a trusted certificate.",
    cert_routes, N(cert_routes)};

static const struct help_route k8s_routes[] = {
    {{"login"},
     "^login$",
     API_HELP_PUT,
     "Authenticates Kubernetes service accounts with Tresor.",
     (const struct help_field[]){
         {"jwt", "string", "A signed JWT for authenticating a service account."},
         {"role", "string", "Name of the role against which the login is being attempted."},
         F_END},
     "Needs no token. The JWT is checked against the configured public keys or by a "
     "TokenReview, and its service account against the role's bound names and namespaces."},
    {{"config"},
     "^config$",
     API_HELP_GET | API_HELP_PUT,
     "Configures the JWT Public Key and Kubernetes API information.",
     (const struct help_field[]){
         {"disable_local_ca_jwt", "bool", "Do not read the pod's own CA and JWT."},
         {"issuer", "string", "The expected iss claim."},
         {"kubernetes_ca_cert", "string", "PEM CA certificate of the API server."},
         {"kubernetes_host", "string", "https:// address of the API server."},
         {"pem_keys", "comma-string slice", "PEM public keys that sign service account JWTs."},
         {"token_reviewer_jwt", "string", "The JWT for TokenReview calls (never read back)."},
         F_END},
     "A read shows token_reviewer_jwt_set instead of the reviewer JWT."},
    {{"role", "role/"},
     "^role/?$",
     API_HELP_LIST,
     "Lists all the roles registered with the "
     "backend.",
     NULL,
     "Lists the role names."},
    {{"role/+"},
     "^role/(?P<name>\\w(([\\w-.]+)?\\w)?)$",
     API_HELP_GET | API_HELP_PUT | API_HELP_DELETE,
     "Register an role with the backend.",
     (const struct help_field[]){
         {"audience", "string", "The audience the JWT must carry."},
         {"bound_service_account_names", "comma-string slice", "Globs of service account names."},
         {"bound_service_account_namespaces", "comma-string slice", "Globs of namespaces."},
         {"name", "string", "Name of the role (in the URL)."},
         {"token_policies", "comma-string slice",
          "Policies of the issued tokens, and the other "
          "token_* settings as for every role."},
         F_END},
     "Creates, reads or deletes a role."},
};

const struct help_backend api_help_k8s = {
    "The Kubernetes Auth Backend allows authentication for Kubernetes service accounts.",
    k8s_routes, N(k8s_routes)};
