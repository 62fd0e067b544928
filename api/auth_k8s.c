/* Kubernetes auth (Vault's kubernetes method). Records in table authdata under "<mount uuid>/":
 *   config/      -> {kubernetes_host, kubernetes_ca_cert, token_reviewer_jwt, pem_keys, issuer,
 *                    disable_local_ca_jwt}
 *   role/<name>  -> {bound_service_account_names, bound_service_account_namespaces, audience,
 *                    token_*}
 *
 * A login presents a service-account JWT. With pem_keys configured the JWT is verified here
 * (RS256/ES256 signature, exp/nbf/iat, iss when configured, aud against the role's audience,
 * sub and the kubernetes.io claims); otherwise the API server is asked with a TokenReview over
 * TLS verified against kubernetes_ca_cert, and its answer (authenticated, username, audiences)
 * is the identity. Either way the namespace and name must match the role's bindings. The JWTs
 * are never logged; the reviewer JWT is never returned by a read. */
#include "auth_int.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"

#define K8S_SA_DIR     "/var/run/secrets/kubernetes.io/serviceaccount/"
#define K8S_SA_PREFIX  "system:serviceaccount:"
#define K8S_LEEWAY     60 /* seconds of clock skew allowed on nbf/iat/exp */
#define K8S_LEGACY_ISS "kubernetes/serviceaccount"
#define K8S_HOST_MAX   1024

/* ---- identities ---------------------------------------------------------------------------- */

/* Namespaces and service-account names are DNS subdomains: [a-z0-9.-], at most 253. */
static bool dns_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '.'))
            return false;
    return true;
}

int auth_k8s_sa_from_username(const char *u, struct auth_k8s_sa *out)
{
    size_t plen = strlen(K8S_SA_PREFIX);
    const char *rest = u && !strncmp(u, K8S_SA_PREFIX, plen) ? u + plen : NULL;
    const char *colon = rest ? strchr(rest, ':') : NULL;

    memset(out, 0, sizeof(*out));
    if (!colon || !dns_name_ok(rest, (size_t)(colon - rest)) ||
        !dns_name_ok(colon + 1, strlen(colon + 1)))
        return TR_E_AUTH;
    snprintf(out->ns, sizeof(out->ns), "%.*s", (int)(colon - rest), rest);
    snprintf(out->name, sizeof(out->name), "%s", colon + 1);
    return TR_OK;
}

int auth_k8s_sa_from_claims(const json_t *claims, struct auth_k8s_sa *out)
{
    const json_t *k = json_object_get(claims, "kubernetes.io");
    const json_t *sa = json_object_get(k, "serviceaccount");
    const char *ns, *name, *uid;

    if (auth_k8s_sa_from_username(tr_json_get_str(claims, "sub"), out) != TR_OK)
        return TR_E_AUTH;
    if (json_is_object(k)) { /* projected (bound) token */
        ns = tr_json_get_str(k, "namespace");
        name = tr_json_get_str(sa, "name");
        uid = tr_json_get_str(sa, "uid");
    } else { /* legacy secret-based token */
        ns = tr_json_get_str(claims, "kubernetes.io/serviceaccount/namespace");
        name = tr_json_get_str(claims, "kubernetes.io/serviceaccount/service-account.name");
        uid = tr_json_get_str(claims, "kubernetes.io/serviceaccount/service-account.uid");
    }
    if (!ns || !name || strcmp(ns, out->ns) != 0 || strcmp(name, out->name) != 0) {
        memset(out, 0, sizeof(*out));
        return TR_E_AUTH;
    }
    snprintf(out->uid, sizeof(out->uid), "%s", uid && strlen(uid) < sizeof(out->uid) ? uid : "");
    return TR_OK;
}

/* ---- config -------------------------------------------------------------------------------- */

static int config_strings(json_t *cfg, const json_t *b, const char **err)
{
    const char *host = tr_json_get_str(b, "kubernetes_host");
    const char *ca = tr_json_get_str(b, "kubernetes_ca_cert");
    const char *rev = tr_json_get_str(b, "token_reviewer_jwt");
    const char *iss = tr_json_get_str(b, "issuer");

    if (host && (strncmp(host, "https://", 8) != 0 || strlen(host) > K8S_HOST_MAX)) {
        *err = "kubernetes_host must be an https:// URL";
        return TR_E_INVAL;
    }
    if (ca && *ca && !auth_pem_certs_valid(ca)) {
        *err = "kubernetes_ca_cert must hold PEM certificates";
        return TR_E_INVAL;
    }
    if ((rev && strlen(rev) > AUTH_JWT_MAX) || (iss && strlen(iss) > K8S_HOST_MAX)) {
        *err = "token_reviewer_jwt or issuer too long";
        return TR_E_INVAL;
    }
    const char *keys[] = {"kubernetes_host", "kubernetes_ca_cert", "token_reviewer_jwt", "issuer"};
    const char *vals[] = {host, ca, rev, iss};
    for (size_t i = 0; i < 4; i++)
        if (vals[i])
            json_object_set_new(cfg, keys[i], json_string(vals[i]));
    return TR_OK;
}

static int config_apply(json_t *cfg, const json_t *b, const char **err)
{
    json_t *pk = json_object_get(b, "pem_keys");
    bool dl = json_is_true(json_object_get(cfg, "disable_local_ca_jwt")), bad = false;
    int rc = config_strings(cfg, b, err);

    if (rc != TR_OK)
        return rc;
    if (pk && !json_is_null(pk)) {
        json_t *l = auth_str_list(pk, false);
        if (!l || !auth_pem_pubkeys_valid(l)) {
            json_decref(l);
            *err = "pem_keys must be PEM public keys (RSA >= 2048 bits or EC P-256)";
            return TR_E_INVAL;
        }
        json_object_set_new(cfg, "pem_keys", l);
    }
    tr_json_get_bool(b, "disable_local_ca_jwt", &dl, &bad);
    if (bad) {
        *err = "Field validation failed: disable_local_ca_jwt";
        return TR_E_INVAL;
    }
    json_object_set_new(cfg, "disable_local_ca_jwt", json_boolean(dl));
    const char *host = tr_json_get_str(cfg, "kubernetes_host");
    if ((!host || !*host) && !json_array_size(json_object_get(cfg, "pem_keys"))) {
        *err = "kubernetes_host is required (or pem_keys for local verification)";
        return TR_E_INVAL;
    }
    return TR_OK;
}

static void reply_write(struct api_call *c, int rc, const char *err)
{
    if (rc == TR_E_INVAL)
        api_reply_error(c, 400, err ? err : "invalid request");
    else if (rc == TR_E_CAS)
        api_reply_error(c, 400, "concurrent update, try again");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}

/* Create or update the record at key with apply (fields absent from the body are kept). */
static void record_write(struct api_call *c, const char *key,
                         int (*apply)(json_t *, const json_t *, const char **))
{
    const char *err = NULL;
    json_t *o = NULL;
    uint64_t ver = STORE_VERSION_ABSENT;
    int rc = auth_get(c, key, &o, &ver);

    if (rc == TR_E_NOTFOUND) {
        ver = STORE_VERSION_ABSENT;
        rc = (o = json_object()) ? TR_OK : TR_E_NOMEM;
    }
    if (rc == TR_OK)
        rc = apply(o, c->body, &err);
    if (rc == TR_OK)
        rc = api_put_json(c, AUTH_T_DATA, key, o, ver);
    if (o)
        api_json_wipe_string(json_object_get(o, "token_reviewer_jwt"));
    json_decref(o);
    reply_write(c, rc, err);
}

static json_t *str_or_empty(const json_t *o, const char *k)
{
    const char *s = tr_json_get_str(o, k);
    return json_string(s ? s : "");
}

static void config_read(struct api_call *c, const char *key)
{
    json_t *cfg = NULL, *pk;
    int rc = auth_get(c, key, &cfg, NULL);

    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    pk = json_object_get(cfg, "pem_keys");
    const char *rev = tr_json_get_str(cfg, "token_reviewer_jwt");
    const char *iss = tr_json_get_str(cfg, "issuer");
    json_t *d = json_pack("{s:o, s:o, s:o, s:o, s:b, s:b, s:b}", "kubernetes_host",
                          str_or_empty(cfg, "kubernetes_host"), "kubernetes_ca_cert",
                          str_or_empty(cfg, "kubernetes_ca_cert"), "pem_keys",
                          json_is_array(pk) ? json_deep_copy(pk) : json_array(), "issuer",
                          str_or_empty(cfg, "issuer"), "disable_iss_validation", !iss || !*iss,
                          "disable_local_ca_jwt",
                          json_is_true(json_object_get(cfg, "disable_local_ca_jwt")),
                          "token_reviewer_jwt_set", rev && *rev);
    api_json_wipe_string(json_object_get(cfg, "token_reviewer_jwt"));
    json_decref(cfg);
    api_reply_data(c, 200, d);
}

/* ---- roles --------------------------------------------------------------------------------- */

static int role_apply(json_t *role, const json_t *b, const char **err)
{
    const char *aud = tr_json_get_str(b, "audience");

    if (!auth_field_list(role, b, "bound_service_account_names", err) ||
        !auth_field_list(role, b, "bound_service_account_namespaces", err))
        return TR_E_INVAL;
    if (!json_array_size(json_object_get(role, "bound_service_account_names")) ||
        !json_array_size(json_object_get(role, "bound_service_account_namespaces"))) {
        *err = "bound_service_account_names and bound_service_account_namespaces are required";
        return TR_E_INVAL;
    }
    if (aud && strlen(aud) > K8S_HOST_MAX) {
        *err = "audience too long";
        return TR_E_INVAL;
    }
    if (aud)
        json_object_set_new(role, "audience", json_string(aud));
    return auth_token_fields_set(role, b, err);
}

static void role_read(struct api_call *c, const char *key)
{
    json_t *role = NULL, *d;
    int rc = auth_get(c, key, &role, NULL);

    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    d = json_pack("{s:O, s:O, s:o}", "bound_service_account_names",
                  json_object_get(role, "bound_service_account_names"),
                  "bound_service_account_namespaces",
                  json_object_get(role, "bound_service_account_namespaces"), "audience",
                  str_or_empty(role, "audience"));
    if (d)
        auth_token_fields_out(role, d);
    json_decref(role);
    api_reply_data(c, 200, d);
}

/* ---- login: local verification ------------------------------------------------------------- */

static int verify_local(const json_t *cfg, const json_t *role, const char *jwt,
                        struct auth_k8s_sa *sa, const char **why)
{
    struct auth_jwt *j = NULL;
    const char *iss = tr_json_get_str(cfg, "issuer"), *aud = tr_json_get_str(role, "audience");
    int rc = TR_E_AUTH;

    *why = "invalid JWT";
    if (auth_jwt_parse(jwt, &j) != TR_OK)
        goto out;
    *why = "JWT signature verification failed";
    if (auth_jwt_verify(j, json_object_get(cfg, "pem_keys")) != TR_OK)
        goto out;
    const char *tiss = tr_json_get_str(j->claims, "iss");
    /* legacy secret-based tokens carry no exp; every other token must */
    bool legacy = tiss && !strcmp(tiss, K8S_LEGACY_ISS);
    if (auth_jwt_check_time(j->claims, (int64_t)time(NULL), K8S_LEEWAY, !legacy, why) != TR_OK)
        goto out;
    *why = "invalid issuer (iss) claim";
    if (iss && *iss && (!tiss || strcmp(tiss, iss) != 0))
        goto out;
    *why = "invalid audience (aud) claim";
    if (aud && *aud && !auth_jwt_has_aud(j->claims, aud))
        goto out;
    *why = "JWT is not a Kubernetes service account token";
    if (auth_k8s_sa_from_claims(j->claims, sa) != TR_OK)
        goto out;
    rc = TR_OK;
out:
    auth_jwt_free(j);
    return rc;
}

/* ---- login: TokenReview -------------------------------------------------------------------- */

/* A small file of the pod's service-account mount, trailing whitespace trimmed; NULL if none. */
static char *file_read(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    char *buf = NULL;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 && (size_t)sb.st_size <= max &&
        (buf = calloc(1, (size_t)sb.st_size + 1))) {
        ssize_t n = read(fd, buf, (size_t)sb.st_size);
        if (n != sb.st_size) {
            sodium_memzero(buf, (size_t)sb.st_size);
            free(buf);
            buf = NULL;
        }
        for (size_t l = buf ? (size_t)n : 0; l && (buf[l - 1] == '\n' || buf[l - 1] == ' ');)
            buf[--l] = '\0';
    }
    close(fd);
    return buf;
}

static char *str_dup_or_file(const json_t *cfg, const char *key, bool local, const char *file,
                             size_t max)
{
    const char *s = tr_json_get_str(cfg, key);

    if (s && *s)
        return strdup(s);
    return local ? file_read(file, max) : NULL;
}

static void secret_free(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

/* The TokenReview request body; the caller wipes and frees the text (it holds the JWT). */
static char *review_body(const char *jwt, const char *aud)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "authentication.k8s.io/v1", "kind",
                          "TokenReview", "spec", "token", jwt);
    char *text = NULL;

    if (o && aud && *aud)
        json_object_set_new(json_object_get(o, "spec"), "audiences", json_pack("[s]", aud));
    if (o)
        text = json_dumps(o, JSON_COMPACT);
    api_json_wipe_string(json_object_get(json_object_get(o, "spec"), "token"));
    json_decref(o);
    return text;
}

/* POST the review. Vault's rule for the bearer: the configured reviewer JWT, else the pod's
 * own service-account token, else the client's JWT (then the client's account needs the
 * system:auth-delegator role). */
static int review_post(const json_t *cfg, const char *jwt, const char *aud, int *status,
                       char **resp)
{
    bool local = !json_is_true(json_object_get(cfg, "disable_local_ca_jwt"));
    const char *host = tr_json_get_str(cfg, "kubernetes_host");
    char url[K8S_HOST_MAX + 64];
    char *bearer =
        str_dup_or_file(cfg, "token_reviewer_jwt", local, K8S_SA_DIR "token", AUTH_JWT_MAX);
    char *ca = str_dup_or_file(cfg, "kubernetes_ca_cert", local, K8S_SA_DIR "ca.crt", AUTH_PEM_MAX);
    char *body = review_body(jwt, aud);
    int rc = TR_E_NOMEM;

    size_t hl = host ? strlen(host) : 0;
    while (hl && host[hl - 1] == '/')
        hl--;
    snprintf(url, sizeof(url), "%.*s/apis/authentication.k8s.io/v1/tokenreviews", (int)hl,
             host ? host : "");
    if (body)
        rc = auth_https_post(url, ca, bearer ? bearer : jwt, body, strlen(body), AUTH_HTTP_TIMEOUT,
                             status, resp);
    secret_free(body);
    secret_free(bearer);
    free(ca);
    return rc;
}

static int review_parse(const char *resp, const char *aud, struct auth_k8s_sa *sa, const char **why)
{
    json_t *o = NULL;
    char err[80];
    int rc = TR_E_AUTH;

    *why = "TokenReview answer is malformed";
    if (tr_json_parse(resp, strlen(resp), NULL, &o, err, sizeof(err)) != TR_OK)
        goto out;
    const json_t *st = json_object_get(o, "status"), *user = json_object_get(st, "user");
    *why = "lookup failed: service account unauthorized; this could mean it has been deleted or "
           "recreated with a new token";
    if (!json_is_true(json_object_get(st, "authenticated")))
        goto out;
    *why = "TokenReview did not name a service account";
    if (auth_k8s_sa_from_username(tr_json_get_str(user, "username"), sa) != TR_OK)
        goto out;
    const char *uid = tr_json_get_str(user, "uid");
    snprintf(sa->uid, sizeof(sa->uid), "%s", uid && strlen(uid) < sizeof(sa->uid) ? uid : "");
    json_t *auds = json_pack("{s:O}", "aud", json_object_get(st, "audiences"));
    bool aud_ok = !aud || !*aud || auth_jwt_has_aud(auds, aud);
    json_decref(auds);
    *why = "invalid audience (aud) claim";
    if (aud_ok)
        rc = TR_OK;
out:
    json_decref(o);
    return rc;
}

static int verify_review(const json_t *cfg, const json_t *role, const char *jwt,
                         struct auth_k8s_sa *sa, const char **why)
{
    const char *aud = tr_json_get_str(role, "audience");
    char *resp = NULL;
    int status = 0;
    int rc = review_post(cfg, jwt, aud, &status, &resp);

    if (rc == TR_OK && status != 200 && status != 201) {
        /* 401/403: the reviewer JWT is invalid or lacks system:auth-delegator */
        tr_log_warn("TokenReview answered HTTP %d", status);
        rc = TR_E_IO;
    }
    if (rc != TR_OK) {
        *why = "TokenReview request to the Kubernetes API failed";
        free(resp);
        return rc == TR_E_NOMEM ? rc : TR_E_IO;
    }
    rc = review_parse(resp, aud, sa, why);
    free(resp);
    return rc;
}

/* ---- login --------------------------------------------------------------------------------- */

static const char *bindings_check(const json_t *role, const struct auth_k8s_sa *sa)
{
    if (!auth_globs_match(json_object_get(role, "bound_service_account_namespaces"), sa->ns, false))
        return "namespace not authorized";
    if (!auth_globs_match(json_object_get(role, "bound_service_account_names"), sa->name, false))
        return "service account name not authorized";
    return NULL;
}

static void login_issue(struct api_call *c, const struct auth_mount *m, const char *rname,
                        const json_t *role, const struct auth_k8s_sa *sa)
{
    char display[600];
    json_t *meta = json_pack("{s:s, s:s, s:s, s:s, s:s}", "role", rname, "service_account_name",
                             sa->name, "service_account_namespace", sa->ns, "service_account_uid",
                             sa->uid, "service_account_secret_name", "");

    snprintf(display, sizeof(display), "kubernetes-%s-%s", sa->ns, sa->name);
    /* Vault's kubernetes method checks token_bound_cidrs at login too */
    struct auth_grant g = {
        .role = role, .cidrs_at_login = true, .display_name = display, .meta = meta};
    auth_issue(c, m, &g);
    json_decref(meta);
}

static int login_load(struct api_call *c, const struct auth_mount *m, const char *rname,
                      json_t **cfg, json_t **role)
{
    char key[AUTH_KEY_MAX];
    int rc;

    if (!auth_key(key, sizeof(key), m, "config", "") || (rc = auth_get(c, key, cfg, NULL)) != TR_OK)
        return TR_E_STATE;
    if (!auth_name_ok(rname) || !auth_key(key, sizeof(key), m, "role", rname))
        return TR_E_NOTFOUND;
    return auth_get(c, key, role, NULL);
}

void auth_k8s_login(struct api_call *c, const struct auth_mount *m)
{
    const char *rname = tr_json_get_str(c->body, "role"), *jwt = tr_json_get_str(c->body, "jwt");
    const char *why = NULL;
    json_t *cfg = NULL, *role = NULL;
    struct auth_k8s_sa sa;
    int rc;

    if (!rname || !*rname || !jwt || !*jwt || strlen(jwt) > AUTH_JWT_MAX) {
        api_reply_error(c, 400, !rname || !*rname ? "missing role" : "missing or oversized jwt");
        return;
    }
    rc = login_load(c, m, rname, &cfg, &role);
    if (rc == TR_OK)
        rc = json_array_size(json_object_get(cfg, "pem_keys"))
                 ? verify_local(cfg, role, jwt, &sa, &why)
                 : verify_review(cfg, role, jwt, &sa, &why);
    if (rc == TR_OK && (why = bindings_check(role, &sa)) != NULL)
        rc = TR_E_AUTH;
    if (rc == TR_OK) {
        tr_log_info("kubernetes login on auth/%s: role %s, %s/%s", m->path, rname, sa.ns, sa.name);
        login_issue(c, m, rname, role, &sa);
    } else if (rc == TR_E_STATE) {
        api_reply_error(c, 400, "could not load backend configuration");
    } else if (rc == TR_E_NOTFOUND) {
        api_reply_error(c, 400, "invalid role name");
    } else if (rc == TR_E_AUTH) {
        tr_log_info("kubernetes login refused on auth/%s: %s", m->path, why);
        api_reply_error(c, 403, why);
    } else if (rc == TR_E_IO) {
        api_reply_error(c, 502, why);
    } else {
        api_reply_err(c, rc);
    }
    api_json_wipe_string(json_object_get(cfg, "token_reviewer_jwt"));
    json_decref(cfg);
    json_decref(role);
}

/* Vault's kubernetes pathLoginRenew: the role named at login (meta role) as it is now, or the
 * renewal fails once it is gone. The service account is not reviewed again (nor by Vault). */
int auth_k8s_renew(struct api_call *c, const struct auth_mount *m, const json_t *e,
                   struct auth_renewal *out)
{
    const char *name = tr_json_get_str(json_object_get(e, "meta"), "role");
    char key[AUTH_KEY_MAX];
    json_t *role = NULL;
    int rc = TR_E_NOTFOUND;

    if (!name)
        return TR_E_NOTFOUND;
    if (auth_name_ok(name) && auth_key(key, sizeof(key), m, "role", name))
        rc = auth_get(c, key, &role, NULL);
    if (rc == TR_E_NOTFOUND)
        return auth_renewal_refuse(out, 500,
                                   "failed to renew entry: role %.*s does not exist during renewal",
                                   AUTH_NAME_MAX, name);
    if (rc == TR_OK)
        auth_renewal_role(role, out);
    json_decref(role);
    return rc;
}

/* ---- routing ------------------------------------------------------------------------------- */

static void record_delete(struct api_call *c, const char *key)
{
    int rc = store_del(c->store, AUTH_T_DATA, (const uint8_t *)key, strlen(key), STORE_VERSION_ANY);
    if (rc == TR_OK || rc == TR_E_NOTFOUND)
        api_reply_status(c, 204);
    else
        api_reply_err(c, rc);
}

static void role_route(struct api_call *c, const struct auth_mount *m, const char *rest)
{
    char name[AUTH_NAME_MAX + 1], key[AUTH_KEY_MAX];
    const char *sub = "";

    if (!*rest || !strcmp(rest, "/")) {
        if (c->method == API_LIST && auth_key(key, sizeof(key), m, "role", ""))
            auth_reply_list(c, key);
        else
            api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (!auth_split(rest + 1, name, sizeof(name), &sub) || *sub ||
        !auth_key(key, sizeof(key), m, "role", name)) {
        api_reply_error(c, 404, *sub ? "unsupported path" : NULL);
        return;
    }
    if (c->method == API_GET)
        role_read(c, key);
    else if (c->method == API_PUT)
        record_write(c, key, role_apply);
    else if (c->method == API_DELETE)
        record_delete(c, key);
    else
        api_reply_error(c, 405, "unsupported operation");
}

void auth_k8s_handle(struct api_call *c, const struct auth_mount *m, const char *rel)
{
    char key[AUTH_KEY_MAX];

    if (!strcmp(rel, "config")) {
        if (!auth_key(key, sizeof(key), m, "config", ""))
            api_reply_err(c, TR_E_INTERNAL);
        else if (c->method == API_GET)
            config_read(c, key);
        else if (c->method == API_PUT)
            record_write(c, key, config_apply);
        else
            api_reply_error(c, 405, "unsupported operation");
    } else if (!strncmp(rel, "role", 4) && (rel[4] == '\0' || rel[4] == '/')) {
        role_route(c, m, rel + 4);
    } else { /* a route of the table (api_help_text.c) this lacks */
        api_reply_error(c, 404, "unsupported path");
    }
}
