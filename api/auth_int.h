/*
 * auth_int.h - internals shared by the auth method files: api_auth.c (auth mount table,
 * sys/auth, dispatch, shared helpers), auth_approle.c, auth_cert.c, auth_k8s.c (the methods),
 * auth_jwt.c (JWS), auth_http.c (HTTPS client for TokenReview) and auth_match.c (globs, CIDRs),
 * plus the token side of auth mounts (api_token.c: tokens bound to the mount that issued them).
 * Not for other folders; tests/unit/test_auth.c calls the pure functions.
 *
 * Storage: table AUTH_T_MOUNTS maps "<path>/" (one or more segments) -> {type, uuid, accessor,
 * description[, disabling]}; every method keeps its records in table AUTH_T_DATA under
 * "<mount uuid>/<kind>/...". Table AUTH_T_TOKENS holds "<mount uuid>" while the mount is live
 * (written with the mount record, deleted when its disable starts) and "<mount uuid>/<token
 * hash>" for every token bound to the mount (written and deleted with the token).
 *
 * Disabling a mount (Vault revokes the mount's tokens, docs/auth.md): one write marks the
 * record "disabling" and deletes the live key, so from then on no login through it starts and
 * no token bound to it authenticates (api_token_authenticate checks the live key on every use:
 * fail closed, also for a token written by a login that raced the disable); then its tokens
 * and their children are revoked page by page, its records purged, the record deleted. A crash
 * half way leaves a "disabling" record, which api_auth_resume finishes at the next unseal; until
 * then the mount is absent to every request.
 *
 * Threads: every handler below runs on an api pool thread (api_defer), so it may block on
 * store writes and, for the Kubernetes TokenReview, on the network. The pure functions
 * (globs, CIDRs, JWTs, certificates) are reentrant.
 *
 * Never knows: sockets of the server, raw tokens it mints (api_token_issue does), and it never
 * stores a role ID or secret ID: only keyed hashes (enc_mac ENC_MAC_TOKEN with a domain label).
 */
#ifndef AUTH_INT_H
#define AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_int.h"

#define AUTH_T_MOUNTS "authmounts" /* "<path>/" -> JSON {type, uuid, accessor, ...} */
#define AUTH_T_DATA   "authdata"   /* "<mount uuid>/<kind>/<name>..." -> JSON */
#define AUTH_T_TOKENS "authtok"    /* "<uuid>" -> "" while live; "<uuid>/<token hash>" -> "" */

#define AUTH_NAME_MAX     128          /* role, cert and CRL names */
#define AUTH_KEY_MAX      400          /* storage keys built by auth_key */
#define AUTH_MAC_HEX      65           /* hex keyed hash + NUL */
#define AUTH_SECRET_MAX   256          /* role_id / secret_id bytes */
#define AUTH_JWT_MAX      16384        /* JWT bytes */
#define AUTH_PEM_MAX      (64 * 1024)  /* certificate, CRL and key PEM text */
#define AUTH_LIST_MAX     64           /* entries of a glob, CIDR or PEM list */
#define AUTH_DEFAULT_MAX  (768 * 3600) /* Vault's system max TTL for login tokens */
#define AUTH_HTTP_TIMEOUT 10           /* seconds for one TokenReview exchange */

#define AUTH_MOUNT_PATH_MAX 64 /* bytes of a mount path without its final '/' */

struct auth_mount {
    char path[80]; /* "approle/", "kubernetes/cluster-a/": auth_mount_path_ok plus '/' */
    char type[16]; /* "approle", "cert", "kubernetes" */
    char uuid[37];
    char accessor[40];
    bool disabling; /* a disable is under way: the mount is absent to requests */
};

/* ---- method entry points (pool threads; each answers the call exactly once) -------------- */
/* *_login - auth/<mount>/login with c->body parsed; no token was checked. */
void auth_approle_login(struct api_call *c, const struct auth_mount *m);
void auth_cert_login(struct api_call *c, const struct auth_mount *m);
void auth_k8s_login(struct api_call *c, const struct auth_mount *m);
/* What a login token's auth method says when the token is renewed (Vault's pathLoginRenew):
 * the limits of the role it logged in through, as the role is now, or why it may not renew. */
struct auth_renewal {
    int64_t ttl, max_ttl, period;  /* the role's token_ttl, token_max_ttl, token_period; 0: unset */
    int status;                    /* a refusal's HTTP status (Vault's); 0: none */
    char msg[AUTH_NAME_MAX + 128]; /* a refusal's error text (Vault's; names a role at most) */
};
/* *_renew - the renewal of login token entry e (issued through m, whose role the method names
 * in e's meta). Out: *out (limits, or the refusal). Errors: TR_E_NOTFOUND (e names no role:
 * a token from before roles were followed, renewed as it was created), TR_E_DENIED (refused:
 * out->status, out->msg), as store_get. */
TR_MUST_CHECK int auth_approle_renew(struct api_call *c, const struct auth_mount *m,
                                     const json_t *e, struct auth_renewal *out);
TR_MUST_CHECK int auth_cert_renew(struct api_call *c, const struct auth_mount *m, const json_t *e,
                                  struct auth_renewal *out);
TR_MUST_CHECK int auth_k8s_renew(struct api_call *c, const struct auth_mount *m, const json_t *e,
                                 struct auth_renewal *out);
/* *_handle - other paths; rel is the path after "auth/<mount>/" (borrowed from c->path). */
void auth_approle_handle(struct api_call *c, const struct auth_mount *m, const char *rel);
void auth_cert_handle(struct api_call *c, const struct auth_mount *m, const char *rel);
void auth_k8s_handle(struct api_call *c, const struct auth_mount *m, const char *rel);

/* auth_mount_path_ok - the n bytes at s name an auth mount: 1..AUTH_MOUNT_PATH_MAX bytes,
 * segments of [A-Za-z0-9_-] joined by single '/' ("approle", "kubernetes/cluster-a"). Mount
 * paths never nest (one is never a prefix of another, as Vault), so a request path has at most
 * one mount whose path prefixes it. */
bool auth_mount_path_ok(const char *s, size_t n);

/* ---- storage helpers (api_auth.c) --------------------------------------------------------- */
/* auth_key - "<uuid>/<kind>/<name>" into out (cap bytes); name may be "" (a prefix).
 * false when it does not fit AUTH_KEY_MAX. */
bool auth_key(char *out, size_t cap, const struct auth_mount *m, const char *kind,
              const char *name);
/* auth_get - JSON record of AUTH_T_DATA (owned by the caller). Errors: as api_get_json. */
TR_MUST_CHECK int auth_get(struct api_call *c, const char *key, json_t **out, uint64_t *out_ver);

/* A small atomic write: up to AUTH_BATCH_MAX ops, keys and serialised values copied in. */
#define AUTH_BATCH_MAX 4
struct auth_batch {
    struct store_op ops[AUTH_BATCH_MAX];
    char keys[AUTH_BATCH_MAX][AUTH_KEY_MAX];
    char *texts[AUTH_BATCH_MAX];
    size_t n;
    bool failed; /* an add did not fit or ran out of memory */
};
void auth_batch_put(struct auth_batch *b, const char *key, const json_t *val, uint64_t expect);
void auth_batch_del(struct auth_batch *b, const char *key, uint64_t expect);
/* auth_batch_commit - apply all ops atomically (blocking: pool threads) and release the batch
 * (serialised values are wiped: they may hold a reviewer JWT). *out_failed_op (may be NULL)
 * names the op whose precondition failed on TR_E_CAS. Errors: as store_write, TR_E_NOMEM. */
TR_MUST_CHECK int auth_batch_commit(struct api_call *c, struct auth_batch *b,
                                    size_t *out_failed_op);
/* auth_purge - delete every AUTH_T_DATA key starting with prefix, in bounded batches. */
TR_MUST_CHECK int auth_purge(struct store *st, const char *prefix);
/* auth_reply_list - answer a LIST with the names under prefix (404 when none, trap 3). */
void auth_reply_list(struct api_call *c, const char *prefix);

/* auth_mac_hex - hex(enc_mac(ENC_MAC_TOKEN, parts[0] \0 parts[1] \0 ...)): the lookup key of a
 * role ID or secret ID. parts[0] is a domain label so these never collide with token hashes.
 * The joined input (it holds the secret) lives on the stack and is wiped.
 * Errors: TR_E_TOO_LARGE (parts longer than AUTH_SECRET_MAX + 200 in all), TR_E_SEALED. */
TR_MUST_CHECK int auth_mac_hex(const char *const *parts, size_t n, char out[AUTH_MAC_HEX]);

/* ---- request helpers (api_auth.c) --------------------------------------------------------- */
/* auth_name_ok - a role/cert/CRL name: 1..AUTH_NAME_MAX of [A-Za-z0-9_.-], not "." or "..". */
bool auth_name_ok(const char *s);
/* auth_split - "name/rest" of rel: name copied into out (cap bytes), *out_rest after the '/' or
 * "" (borrowed from rel). false when the name is not auth_name_ok. */
bool auth_split(const char *rel, char *out, size_t cap, const char **out_rest);
/* auth_str_list - a JSON array of strings or a comma-separated string (vault-api.md §1.3),
 * trimmed, empty items dropped; lower-cased when lower. New array (owned); NULL when v has
 * another type or more than AUTH_LIST_MAX items. */
json_t *auth_str_list(const json_t *v, bool lower);
/* auth_field_list - body[key] through auth_str_list into role[key] when present. false and
 * *err set when present but invalid. */
bool auth_field_list(json_t *role, const json_t *body, const char *key, const char **err);

/* Token settings every role shares (Vault's tokenutil): token_policies (or policies),
 * token_ttl (ttl), token_max_ttl (max_ttl), token_explicit_max_ttl, token_period (period),
 * token_bound_cidrs; token_num_uses, token_type and token_no_default_policy are accepted only at
 * their defaults (tokens from logins do not support them yet). Present fields are merged into
 * role.
 * Errors: TR_E_INVAL with *err a fixed message. */
TR_MUST_CHECK int auth_token_fields_set(json_t *role, const json_t *body, const char **err);
/* auth_renewal_role - the limits of role (its token_ttl, token_max_ttl, token_period) into out. */
void auth_renewal_role(const json_t *role, struct auth_renewal *out);
/* auth_renewal_refuse - a refusal with status and the text of fmt into out; TR_E_DENIED. */
TR_MUST_CHECK int auth_renewal_refuse(struct auth_renewal *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* auth_renew_limits - the renewal of the login token entry e by the auth method that issued it
 * (the live mount of e's creation path "auth/<mount path>/login" with e's auth_mount uuid), as
 * the *_renew callbacks. Errors: TR_E_NOTFOUND (not a login token, or its mount or role is not
 * recorded: renew it as created), TR_E_DENIED (refused: out->status, out->msg), as store_get. */
TR_MUST_CHECK int auth_renew_limits(struct api_call *c, const json_t *e, struct auth_renewal *out);
/* auth_token_fields_out - add the token_* fields of role to data (read responses). */
void auth_token_fields_out(const json_t *role, json_t *data);
/* What a successful login grants (auth_issue); every pointer borrowed. */
struct auth_grant {
    const json_t *role;       /* token settings: token_policies, token_ttl, ... */
    const json_t *cidrs;      /* the token's bound CIDRs; NULL: the role's token_bound_cidrs */
    bool cidrs_at_login;      /* refuse the login itself from outside them (cert, kubernetes) */
    const char *display_name; /* "" allowed */
    const json_t *meta;       /* object of strings or NULL */
};
/* auth_issue - mint the login token of g for mount m (policies, TTLs, bound to m and to the
 * CIDRs, which every later use of the token is checked against) and answer the call with the
 * auth envelope; 403 when cidrs_at_login and the caller is outside them. */
void auth_issue(struct api_call *c, const struct auth_mount *m, const struct auth_grant *g);

/* ---- tokens of auth mounts (api_token.c) ------------------------------------------------- */
/* What a login grants, as the token store sees it; every pointer borrowed. */
struct api_token_grant {
    const json_t *policies; /* array of names */
    /* the role's token_ttl, token_max_ttl, token_explicit_max_ttl, token_period (seconds; 0 =
     * unset), applied with the login mount's TTLs as Vault's CalculateTTL */
    int64_t ttl, max_ttl, explicit_max_ttl, period;
    const char *display_name;
    const json_t *meta;        /* object of strings or NULL */
    const char *mount_uuid;    /* the issuing auth mount: the token dies with it */
    const json_t *bound_cidrs; /* array or NULL: the token works only from these blocks */
};
/* api_token_issue - mint a token for a successful login through c->path (pool thread) and
 * answer the call with the auth envelope (and Vault's warnings when a TTL was capped); 403 when
 * the mount started disabling meanwhile (the token is revoked). Its explicit_max_ttl is the
 * role's token_explicit_max_ttl: the role's max applies at each renewal (auth_renew_limits). */
void api_token_issue(struct api_call *c, const struct api_token_grant *g);
/* api_token_revoke_mount - revoke one page of the tokens bound to the auth mount uuid, with
 * their descendants, children before parents (blocking). *out_n: index entries handled, 0 when
 * none are left. Errors: as store_write/store_list. */
TR_MUST_CHECK int api_token_revoke_mount(struct store *st, const char *uuid, size_t *out_n);
/* api_token_bind_legacy - bind tokens minted by logins before tokens recorded their mount:
 * path "auth/<name>/login" gets mounts[name] (object name -> uuid of the live mounts); a token
 * whose mount is gone is revoked. Idempotent (blocking, before serving). Errors: as store_*. */
TR_MUST_CHECK int api_token_bind_legacy(struct store *st, const json_t *mounts);

/* ---- pure matching (auth_match.c) ------------------------------------------------------- */
/* auth_glob_match - pattern with '*' (any run of bytes, also empty) against s. */
bool auth_glob_match(const char *pattern, const char *s, bool nocase);
/* auth_globs_match - s matches any pattern of the array (false for an empty array). */
bool auth_globs_match(const json_t *patterns, const char *s, bool nocase);
/* auth_cidr_valid - "a.b.c.d[/n]" or an IPv6 address with optional "/n". */
bool auth_cidr_valid(const char *cidr);
/* auth_cidr_contains - ip (IPv4, IPv6, or IPv4-mapped IPv6) lies in cidr. false on junk. */
bool auth_cidr_contains(const char *cidr, const char *ip);
/* auth_cidrs_valid - every string of the array is auth_cidr_valid. */
bool auth_cidrs_valid(const json_t *cidrs);
/* auth_cidrs_allow - true when cidrs is absent/empty or ip lies in one of them. */
bool auth_cidrs_allow(const json_t *cidrs, const char *ip);
/* auth_cidr_within - every address of block inner lies in block outer (false on junk or when
 * the families differ). */
bool auth_cidr_within(const char *inner, const char *outer);
/* auth_cidrs_subset - every block of inner lies within a block of outer; true when either list
 * is absent or empty (Vault: a secret ID may narrow the role's list, never widen it). */
bool auth_cidrs_subset(const json_t *inner, const json_t *outer);

/* ---- TLS certificates (auth_cert.c) ------------------------------------------------------- */
/*
 * auth_cert_check - does the client certificate satisfy a cert role?
 * In:  der/der_len, the leaf (DER) the TLS layer verified against the listener's client CA;
 *      role, the stored cert role (certificate PEM, allowed_common_names, allowed_dns_sans,
 *      allowed_email_sans, allowed_uri_sans); crls, array of PEM CRL strings of the mount (may
 *      be NULL). The leaf must chain to role.certificate (X509_verify_cert, purpose sslclient,
 *      current time, partial chains allowed so an intermediate may be trusted); a trusted
 *      certificate that is not a CA only matches itself. A CRL whose issuer is the leaf's issuer
 *      turns on X509_V_FLAG_CRL_CHECK (expired CRL: refused).
 * Out: *out_meta (owned) {common_name, serial_number, subject_key_id, authority_key_id,
 *      cert_sha256, spki_sha256}; NULL on failure.
 * Errors: TR_E_AUTH (no match, whatever the reason), TR_E_INVAL (der unparsable), TR_E_NOMEM.
 */
TR_MUST_CHECK int auth_cert_check(const uint8_t *der, size_t der_len, const json_t *role,
                                  const json_t *crls, json_t **out_meta);
/* auth_pem_certs_valid - text holds 1..AUTH_LIST_MAX PEM certificates and nothing else. */
bool auth_pem_certs_valid(const char *text);

/* ---- JWT (auth_jwt.c) --------------------------------------------------------------------- */
struct auth_jwt {
    json_t *header;      /* owned */
    json_t *claims;      /* owned */
    char *signing_input; /* "b64(header).b64(payload)" (owned) */
    size_t signing_len;
    uint8_t sig[512]; /* decoded signature */
    size_t sig_len;
};
/* auth_jwt_parse - split and decode a compact JWS (base64url without padding, JSON objects,
 * no duplicate keys). Out: *out (auth_jwt_free). Errors: TR_E_INVAL, TR_E_TOO_LARGE, NOMEM. */
TR_MUST_CHECK int auth_jwt_parse(const char *jwt, struct auth_jwt **out);
void auth_jwt_free(struct auth_jwt *j);
/* auth_jwt_verify - the signature verifies under one of pem_keys (array of PEM public keys):
 * alg RS256 with an RSA key >= 2048 bits or ES256 with a P-256 key; any other alg (none, HS*)
 * and a "crit" header are refused. Errors: TR_E_AUTH. */
TR_MUST_CHECK int auth_jwt_verify(const struct auth_jwt *j, const json_t *pem_keys);
/* auth_jwt_check_time - exp (required unless !require_exp), nbf and iat against now with
 * leeway seconds. Errors: TR_E_AUTH with *err set. */
TR_MUST_CHECK int auth_jwt_check_time(const json_t *claims, int64_t now, int64_t leeway,
                                      bool require_exp, const char **err);
/* auth_jwt_has_aud - claim aud (string or array) contains aud. */
bool auth_jwt_has_aud(const json_t *claims, const char *aud);
/* auth_pem_pubkeys_valid - every string of keys is a PEM public key usable by auth_jwt_verify. */
bool auth_pem_pubkeys_valid(const json_t *keys);

/* ---- Kubernetes identities (auth_k8s.c) --------------------------------------------------- */
struct auth_k8s_sa {
    char ns[254];   /* namespace (DNS label, <= 63 in practice) */
    char name[254]; /* service account name */
    char uid[64];   /* "" when unknown */
};
/* auth_k8s_sa_from_claims - the service account of a verified token: sub must be
 * "system:serviceaccount:<ns>:<name>" and agree with the kubernetes.io claims (projected
 * tokens: kubernetes.io.namespace / serviceaccount.name; legacy tokens:
 * kubernetes.io/serviceaccount/namespace and .../service-account.name). Errors: TR_E_AUTH. */
TR_MUST_CHECK int auth_k8s_sa_from_claims(const json_t *claims, struct auth_k8s_sa *out);
/* auth_k8s_sa_from_username - "system:serviceaccount:<ns>:<name>". Errors: TR_E_AUTH. */
TR_MUST_CHECK int auth_k8s_sa_from_username(const char *username, struct auth_k8s_sa *out);

/* ---- HTTPS client (auth_http.c) ----------------------------------------------------------- */
#define AUTH_HTTP_BODY_MAX (1024 * 1024)
/*
 * auth_https_post - POST a JSON body to url (https only) and wait for the answer. Blocking:
 * pool threads only (a private event_base). The server certificate must chain to ca_pem (PEM
 * certificates; NULL = the system store) and match the URL's host name or IP address.
 * In: bearer (may be NULL) sent as "Authorization: Bearer"; body/body_len (borrowed, not
 * copied into libevent's buffers); timeout_s for connect and exchange.
 * Out: *out_status, *out_body (owned, NUL-terminated, <= AUTH_HTTP_BODY_MAX).
 * Errors: TR_E_INVAL (url), TR_E_TLS (CA text), TR_E_IO (connection, TLS verification, HTTP),
 * TR_E_NOMEM.
 */
TR_MUST_CHECK int auth_https_post(const char *url, const char *ca_pem, const char *bearer,
                                  const char *body, size_t body_len, int timeout_s, int *out_status,
                                  char **out_body);

#endif
