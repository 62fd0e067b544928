/*
 * policy - Vault ACL policies: parsing (HCL subset and JSON), policy names, and evaluation.
 *
 * Verbs and call order:
 *   api_policy_parse() (or api_policy_new_root/api_policy_new_default) gives an immutable
 *   struct api_policy; api_acl_new() compiles the policies of one token into an immutable
 *   struct api_acl (it copies what it needs, so the policies may be freed right after);
 *   api_acl_allows_op()/api_acl_capabilities() answer requests; *_free() release.
 *
 * Language accepted (vault-api.md §6.1). The text is JSON when its first non-blank byte is '{'
 * (as Vault's HCL library decides), HCL otherwise. HCL subset: comments (#, //, block comments),
 * `key = value`, blocks `path "pattern" { ... }` (repeatable), strings with Go escapes
 * (\n \t \" \\ \xHH \uXXXX \UXXXXXXXX ...) but no "${" (Vault's scanner lets a '"' inside
 * "${...}" continue the string, so the two would read other rules), numbers, true/false, lists
 * (trailing comma allowed) and objects. Top-level keys: `name` (ignored, the name comes from
 * the caller) and `path`.
 * Per-path keys:
 *   capabilities   list of: create read update delete list patch sudo deny subscribe recover
 *   policy         legacy shorthand: read = read+list; write = create+read+update+delete+list
 *                  (no patch, as Vault); sudo = write+sudo; deny = deny. At most once per
 *                  block: Vault keeps only the last one, a union would grant more.
 *   comment        accepted and ignored
 *   allowed_parameters, denied_parameters, required_parameters, min_wrapping_ttl,
 *   max_wrapping_ttl, mfa_methods, control_group
 *                  parsed (their syntax must be valid) and then REJECTED with an error: Tresor
 *                  does not enforce them, and silently ignoring a restriction would widen access.
 * `deny` in a rule replaces every other capability of that rule. Rules with the same pattern
 * (in one policy or across policies) are merged: capabilities unioned, deny wins; so are
 * repeated `capabilities` keys inside one block.
 *
 * Patterns: one leading '/' is stripped. A final '*' is a prefix glob. A segment that is exactly
 * "+" matches one whole segment. `+*` is invalid. Deliberate divergences from Vault, which would
 * take these literally: a '*' anywhere but last, and identity templates ("{{"), are rejected.
 *
 * Matching (vault-api.md §6.3, Vault's vault/acl.go): an exact rule wins outright; otherwise
 * the single best non-exact rule wins by, in order: later first '+'/'*' position; not ending in
 * '*'; fewer '+' segments; longer pattern; lexicographically larger. Only that rule's
 * capabilities apply (no union across different patterns); deny in it means no access; no
 * matching rule means no access. LIST also honours an exact rule without the trailing '/', and
 * tries the non-exact rules on the path without its trailing '/' first (Vault PR #23874,
 * backported to 1.13.x-1.15.x in late 2023) -- except that a deny rule matching the listing
 * path with its '/' wins over that (GHSA-xp3c-3jw3-4vcr: a list grant on the glob "a/" must
 * not list what a deny on the glob "a/private/" hides; as OpenBao 2.6).
 *
 * Limits: text <= API_POLICY_TEXT_MAX bytes, nesting <= API_POLICY_DEPTH_MAX, at most
 * API_POLICY_NODES_MAX values, patterns <= API_POLICY_PATTERN_MAX bytes, valid UTF-8.
 * Errors carry a message in the caller's err buffer, e.g. `policy line 3: path "secret/x":
 * unknown capability "reed"`; JSON input has no line numbers ("policy: ..."). Messages quote
 * policy text (patterns, key names) but never anything else; the text is not secret.
 *
 * Thread-safety: parsed policies and compiled ACLs are immutable; any number of threads may use
 * one concurrently. No global state.
 * Must never know: HTTP, sockets, storage. Mapping a tr_err to a status code is api.c's job.
 */
#ifndef API_POLICY_H
#define API_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/tr_err.h"

#define API_POLICY_TEXT_MAX    (1024u * 1024u) /* bytes of policy text */
#define API_POLICY_DEPTH_MAX   32              /* nested lists/objects */
#define API_POLICY_NODES_MAX   65536           /* values in one policy */
#define API_POLICY_PATTERN_MAX 4096            /* bytes of one path pattern */
#define API_POLICY_NAME_MAX    128             /* bytes of a normalised name */
#define API_POLICY_ERR_MIN     640             /* err buffers of this size hold any message */

/* Capability bits. API_CAP_DENY and API_CAP_ROOT are flags that only appear in results. */
#define API_CAP_CREATE    0x0001u
#define API_CAP_READ      0x0002u
#define API_CAP_UPDATE    0x0004u
#define API_CAP_DELETE    0x0008u
#define API_CAP_LIST      0x0010u
#define API_CAP_PATCH     0x0020u
#define API_CAP_SUDO      0x0040u
#define API_CAP_SUBSCRIBE 0x0080u /* accepted for Vault compatibility; no Tresor op needs it */
#define API_CAP_RECOVER   0x0100u /* accepted for Vault compatibility; no Tresor op needs it */
#define API_CAP_DENY      0x0200u /* the winning rule denies: no grant bit is ever set with it */
#define API_CAP_ROOT      0x0400u /* the ACL is the root policy: every grant bit is set too */
#define API_CAP_GRANTS    0x01ffu /* every grant bit (create ... recover) */

/* Request operations for the capability check (vault-api.md §6.2). PUT/POST is CREATE when an
 * existence check found nothing, UPDATE otherwise or when the endpoint has no existence check;
 * renew/revoke/rollback are UPDATE. Help requests are always allowed and never reach here. */
enum api_acl_op {
    API_ACL_OP_READ,
    API_ACL_OP_LIST,
    API_ACL_OP_CREATE,
    API_ACL_OP_UPDATE,
    API_ACL_OP_PATCH,
    API_ACL_OP_DELETE,
};

struct api_policy;
struct api_acl;

/* ---- Policies -------------------------------------------------------------------------- */

/*
 * api_policy_parse - parse one policy.
 * In:  name (borrowed, NUL-terminated; normalised as api_policy_name_normalize does);
 *      text/len (borrowed; need not be NUL-terminated; <= API_POLICY_TEXT_MAX).
 * Out: *out, owned by the caller (api_policy_free); NULL on failure. err (errlen bytes, may be
 *      NULL/0) receives a NUL-terminated message on failure (API_POLICY_ERR_MIN is plenty).
 * Errors: TR_E_INVAL (bad name, the reserved name "root", empty or blank text, syntax, unknown
 *         key or capability, bad pattern, unsupported key), TR_E_TOO_LARGE (a limit above),
 *         TR_E_NOMEM.
 * The policy keeps a copy of the text exactly as given (see api_policy_text).
 */
TR_MUST_CHECK int api_policy_parse(const char *name, const char *text, size_t len,
                                   struct api_policy **out, char *err, size_t errlen);

/* api_policy_new_root - the built-in "root" policy (every capability on every path, no text).
 * Out: *out owned by the caller. Errors: TR_E_NOMEM. */
TR_MUST_CHECK int api_policy_new_root(struct api_policy **out);

/* api_policy_new_default - the built-in "default" policy, parsed from api_policy_default_text.
 * Out: *out owned by the caller. Errors: TR_E_NOMEM. */
TR_MUST_CHECK int api_policy_new_default(struct api_policy **out);

/* api_policy_default_text - the shipped text of the "default" policy (static, never NULL). It is
 * Vault's default minus identity templates, Enterprise control groups and OIDC. */
const char *api_policy_default_text(void);

/* api_policy_free - release pol. NULL-safe. */
void api_policy_free(struct api_policy *pol);

/* api_policy_name - the normalised name; valid while pol lives. */
const char *api_policy_name(const struct api_policy *pol);

/* api_policy_text - the text as given to api_policy_parse (NUL-terminated; "" for root); valid
 * while pol lives. out_len may be NULL. This is what GET sys/policies/acl/<name> returns. */
const char *api_policy_text(const struct api_policy *pol, size_t *out_len);

/* api_policy_is_root - true for the policy made by api_policy_new_root. */
bool api_policy_is_root(const struct api_policy *pol);

/* api_policy_rule_count / api_policy_rule_get - the merged rules, sorted by pattern bytes.
 * *out_pattern is the normalised pattern (leading '/' stripped, final '*' kept), valid while pol
 * lives; *out_caps the rule's bits (API_CAP_DENY alone for a deny rule).
 * Errors: TR_E_NOTFOUND (i out of range). */
size_t api_policy_rule_count(const struct api_policy *pol);
TR_MUST_CHECK int api_policy_rule_get(const struct api_policy *pol, size_t i,
                                      const char **out_pattern, unsigned *out_caps);

/* ---- Names ----------------------------------------------------------------------------- */

/*
 * api_policy_name_normalize - trim ASCII white space and lower-case ASCII letters, then check.
 * A valid result is 1..API_POLICY_NAME_MAX bytes of [a-z0-9_.-/], where '/' only separates
 * non-empty segments that are not "." or ".." (no leading, trailing or doubled '/').
 * In:  in (borrowed, NUL-terminated). Out: out (cap bytes), written only on success.
 * Errors: TR_E_INVAL (NULL, empty after trimming, bad character or segment),
 *         TR_E_TOO_LARGE (longer than API_POLICY_NAME_MAX, or cap too small).
 * Callers compare in and out to tell whether the name was converted (Vault warns then).
 */
TR_MUST_CHECK int api_policy_name_normalize(const char *in, char *out, size_t cap);

/* api_policy_name_is_root / _is_default - whether in normalises to "root" / "default"
 * (so " ROOT", "Root\n" are root). False for invalid names. */
bool api_policy_name_is_root(const char *in);
bool api_policy_name_is_default(const char *in);

/*
 * api_policy_name_check_write / _check_delete - normalise in (as above) and refuse reserved
 * names: writes to "root" and "response-wrapping"; deletes of those and of "default".
 * Out: out (cap bytes) as api_policy_name_normalize; err gets Vault's sentence
 *      (`cannot update "root" policy`, `cannot delete default policy`, ...) or the reason.
 * Errors: as api_policy_name_normalize, and TR_E_INVAL for a reserved name.
 */
TR_MUST_CHECK int api_policy_name_check_write(const char *in, char *out, size_t cap, char *err,
                                              size_t errlen);
TR_MUST_CHECK int api_policy_name_check_delete(const char *in, char *out, size_t cap, char *err,
                                               size_t errlen);

/* ---- Capabilities ---------------------------------------------------------------------- */

/* api_policy_cap_parse - "read" -> API_CAP_READ, "deny" -> API_CAP_DENY, ... (exact, lower
 * case). Errors: TR_E_INVAL for anything else ("root" included). */
TR_MUST_CHECK int api_policy_cap_parse(const char *name, unsigned *out);

/* api_policy_cap_names - the names for a result of api_acl_capabilities, as
 * sys/capabilities-self lists them: ["root"] for API_CAP_ROOT, ["deny"] for a deny or for no
 * grant at all, else the granted names sorted. Writes up to n static strings into out and
 * returns how many there are (at most 9). */
size_t api_policy_cap_names(unsigned caps, const char **out, size_t n);

/* api_acl_op_caps - the capability an operation needs (READ -> API_CAP_READ, ...). */
unsigned api_acl_op_caps(enum api_acl_op op);

/* ---- ACLs ------------------------------------------------------------------------------ */

/*
 * api_acl_new - compile the policies of one token.
 * In:  pols[0..n) borrowed; NULL entries are skipped (a deleted policy still named on a token
 *      acts as empty). A root policy among them makes the ACL root (Vault refuses root mixed
 *      with others; root already grants everything, so Tresor accepts it).
 * Out: *out owned by the caller (api_acl_free); independent of pols afterwards.
 * Errors: TR_E_INVAL (pols NULL with n > 0), TR_E_NOMEM.
 */
TR_MUST_CHECK int api_acl_new(struct api_policy *const *pols, size_t n, struct api_acl **out);

/* api_acl_ref - take another reference on acl (thread-safe); each is dropped by api_acl_free.
 * A compiled ACL is immutable, so holders on several threads may share it. */
void api_acl_ref(struct api_acl *acl);

/* api_acl_free - drop a reference; the last one releases acl. NULL-safe, thread-safe. */
void api_acl_free(struct api_acl *acl);

/* api_acl_is_root - whether the ACL came from the root policy. */
bool api_acl_is_root(const struct api_acl *acl);

/*
 * api_acl_capabilities - the winning rule's capabilities for a logical path (no "/v1/"; leading
 * '/' ignored), evaluated as Vault's sys/capabilities does (with the LIST fallbacks).
 * Returns grant bits; API_CAP_DENY alone if the winning rule denies; 0 if no rule matches or
 * the rule grants nothing; API_CAP_GRANTS|API_CAP_ROOT for root. NULL acl/path -> 0.
 */
unsigned api_acl_capabilities(const struct api_acl *acl, const char *path);

/*
 * api_acl_allows_op - the authorisation decision for one request.
 * In:  path, the logical path; for API_ACL_OP_LIST a missing trailing '/' is added.
 *      sudo_required: the path is root-protected (vault-api.md §1.9), so sudo is needed too.
 * Returns true only if the winning rule grants api_acl_op_caps(op) (and sudo when required)
 * and does not deny, or the ACL is root. NULL acl/path, or a path over API_POLICY_PATTERN_MAX
 * bytes -> false.
 */
bool api_acl_allows_op(const struct api_acl *acl, const char *path, enum api_acl_op op,
                       bool sudo_required);

/* api_acl_allows - like api_acl_allows_op for a non-LIST request needing every bit of needed
 * (grant bits only). needed == 0 -> false. */
bool api_acl_allows(const struct api_acl *acl, const char *path, unsigned needed);

/*
 * api_acl_has_mount_access - Vault's mount visibility check, used by
 * GET sys/internal/ui/mounts/<path> (the CLI's KV preflight), which needs no rule of its own:
 * true if the ACL is root, or the mount path itself has a non-deny grant, or any non-deny rule
 * granting something lies under the mount. mount_path like "secret/" (a missing trailing '/' is
 * added). NULL or overlong -> false.
 */
bool api_acl_has_mount_access(const struct api_acl *acl, const char *mount_path);

#endif
