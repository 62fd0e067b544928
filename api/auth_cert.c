/* TLS certificate auth (vault-api.md §5.2). Records in table authdata under "<mount uuid>/":
 *   certs/<name> -> {certificate (PEM CA or leaf), allowed_common_names, allowed_dns_sans,
 *                    allowed_email_sans, allowed_uri_sans, display_name, token_*}
 *   crls/<name>  -> {crl (PEM)}
 *
 * Login takes the client certificate the TLS layer verified against the listener's client CA
 * (c->req->peer_cert_der) and verifies it again, against each cert role's own trust anchor,
 * with OpenSSL's X509_verify_cert: purpose sslclient, validity period at the current time,
 * revocation when the mount holds a CRL of the leaf's issuer. A trusted certificate that is not
 * a CA matches only itself. The identity put into the token is the whole certificate (SHA-256
 * of the DER and of the public key), never the common name alone. */
#include "auth_int.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"

static const char ERR_NO_CERT[] = "client certificate must be supplied";
static const char ERR_INVALID[] = "invalid certificate or no client certificate supplied";

static const char *const constraint_keys[] = {"allowed_common_names", "allowed_dns_sans",
                                              "allowed_email_sans", "allowed_uri_sans"};

/* ---- certificates -------------------------------------------------------------------------- */

static STACK_OF(X509) * pem_certs_load(const char *text)
{
    BIO *bio = text && strlen(text) <= AUTH_PEM_MAX ? BIO_new_mem_buf(text, -1) : NULL;
    STACK_OF(X509) *sk = bio ? sk_X509_new_null() : NULL;
    X509 *x;

    while (sk && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (sk_X509_num(sk) >= AUTH_LIST_MAX || !sk_X509_push(sk, x)) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            sk = NULL;
        }
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    BIO_free(bio);
    if (sk && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

bool auth_pem_certs_valid(const char *text)
{
    STACK_OF(X509) *sk = pem_certs_load(text);
    sk_X509_pop_free(sk, X509_free);
    return sk != NULL;
}

static X509_CRL *pem_crl_load(const char *text)
{
    BIO *bio = text && strlen(text) <= AUTH_PEM_MAX ? BIO_new_mem_buf(text, -1) : NULL;
    X509_CRL *crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;

    ERR_clear_error();
    BIO_free(bio);
    return crl;
}

/* The trust store of one role: its certificates, and the mount's CRLs issued for the leaf's
 * issuer (*out_crl set when there is one, so the caller turns on CRL checking). */
static X509_STORE *role_store(const STACK_OF(X509) * trusted, const json_t *crls, const X509 *leaf,
                              bool *out_crl)
{
    X509_STORE *st = X509_STORE_new();
    size_t i;
    json_t *p;

    *out_crl = false;
    for (int k = 0; st && k < sk_X509_num(trusted); k++)
        if (X509_STORE_add_cert(st, sk_X509_value(trusted, k)) != 1)
            ERR_clear_error(); /* a duplicate in the PEM bundle */
    json_array_foreach(crls, i, p)
    {
        X509_CRL *crl = st ? pem_crl_load(json_string_value(p)) : NULL;
        if (crl && X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(leaf)) == 0) {
            if (X509_STORE_add_crl(st, crl) == 1)
                *out_crl = true;
            ERR_clear_error();
        }
        X509_CRL_free(crl);
    }
    return st;
}

/* X509_verify_cert with purpose sslclient at the current time. A one-element chain means the
 * leaf itself is a trusted certificate (partial chains allowed); a longer chain must end in a
 * CA, so a trusted leaf never vouches for certificates it signed. */
static bool chain_ok(X509 *leaf, const STACK_OF(X509) * trusted, const json_t *crls)
{
    bool has_crl = false, ok = false;
    X509_STORE *st = role_store(trusted, crls, leaf, &has_crl);
    X509_STORE_CTX *ctx = st ? X509_STORE_CTX_new() : NULL;

    if (!ctx || X509_STORE_CTX_init(ctx, st, leaf, NULL) != 1 ||
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1)
        goto out;
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
                                X509_V_FLAG_PARTIAL_CHAIN | (has_crl ? X509_V_FLAG_CRL_CHECK : 0));
    if (X509_verify_cert(ctx) != 1) {
        tr_log_debug("client certificate not accepted by a role: %s",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    int n = sk_X509_num(chain);
    ok = n == 1 || (n > 1 && X509_check_ca(sk_X509_value(chain, n - 1)) != 0);
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    return ok;
}

/* ---- name constraints ---------------------------------------------------------------------- */

/* An ASN.1 string as C text; false when it holds a NUL (a classic name-smuggling trick). */
static bool asn1_text(const ASN1_STRING *s, char *out, size_t cap)
{
    unsigned char *u = NULL;
    int len = ASN1_STRING_to_UTF8(&u, s);
    bool ok = len >= 0 && (size_t)len < cap && memchr(u, '\0', (size_t)len) == NULL;

    if (ok) {
        memcpy(out, u, (size_t)len);
        out[len] = '\0';
    }
    OPENSSL_free(u);
    return ok;
}

/* First common name into out ("" when none); with pats, true when any CN matches one. */
static bool cn_matches(X509 *x, const json_t *pats, char *out, size_t cap)
{
    X509_NAME *n = X509_get_subject_name(x);
    bool any = !json_array_size(pats);
    int i = -1;

    out[0] = '\0';
    while ((i = X509_NAME_get_index_by_NID(n, NID_commonName, i)) >= 0) {
        char buf[1024];
        if (!asn1_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)), buf, sizeof(buf)))
            return false;
        if (!out[0])
            snprintf(out, cap, "%s", buf);
        if (!any && auth_globs_match(pats, buf, false))
            any = true;
    }
    return any;
}

static bool san_matches(X509 *x, int type, const json_t *pats, bool nocase)
{
    GENERAL_NAMES *gens;
    bool ok = false;

    if (!json_array_size(pats))
        return true;
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; !ok && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char buf[2048];
        if (g->type == type && asn1_text(g->d.ia5, buf, sizeof(buf)))
            ok = auth_globs_match(pats, buf, nocase);
    }
    GENERAL_NAMES_free(gens);
    return ok;
}

/* ---- identity ------------------------------------------------------------------------------ */

static void colon_hex(const ASN1_OCTET_STRING *s, char *out, size_t cap)
{
    const unsigned char *d = s ? ASN1_STRING_get0_data(s) : NULL;
    int n = s ? ASN1_STRING_length(s) : 0;
    size_t w = 0;

    out[0] = '\0';
    for (int i = 0; d && i < n && w + 4 < cap; i++)
        w += (size_t)snprintf(out + w, cap - w, "%s%02x", i ? ":" : "", d[i]);
}

static bool sha256_hex(const uint8_t *p, size_t len, char out[65])
{
    uint8_t md[32];
    unsigned mdlen = 0;

    if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return false;
    sodium_bin2hex(out, 65, md, sizeof(md));
    return true;
}

static json_t *identity_meta(X509 *leaf, const uint8_t *der, size_t der_len, const char *cn)
{
    char skid[200], akid[200], fp[65], spki_fp[65];
    unsigned char *spki = NULL;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    char *serial = bn ? BN_bn2dec(bn) : NULL;
    int spki_len = i2d_PUBKEY(X509_get0_pubkey(leaf), &spki);
    json_t *meta = NULL;

    colon_hex(X509_get0_subject_key_id(leaf), skid, sizeof(skid));
    colon_hex(X509_get0_authority_key_id(leaf), akid, sizeof(akid));
    if (serial && spki_len > 0 && sha256_hex(der, der_len, fp) &&
        sha256_hex(spki, (size_t)spki_len, spki_fp))
        meta = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "common_name", cn, "serial_number",
                         serial, "subject_key_id", skid, "authority_key_id", akid, "cert_sha256",
                         fp, "spki_sha256", spki_fp);
    OPENSSL_free(serial);
    OPENSSL_free(spki);
    BN_free(bn);
    return meta;
}

int auth_cert_check(const uint8_t *der, size_t der_len, const json_t *role, const json_t *crls,
                    json_t **out_meta)
{
    const unsigned char *p = der;
    X509 *leaf =
        der && der_len && der_len < AUTH_PEM_MAX ? d2i_X509(NULL, &p, (long)der_len) : NULL;
    STACK_OF(X509) *trusted = NULL;
    char cn[1024] = "";
    int rc = TR_E_INVAL;

    *out_meta = NULL;
    if (!leaf || p != der + der_len)
        goto out;
    rc = TR_E_AUTH;
    if (!(trusted = pem_certs_load(tr_json_get_str(role, "certificate"))) ||
        !chain_ok(leaf, trusted, crls))
        goto out;
    if (!cn_matches(leaf, json_object_get(role, constraint_keys[0]), cn, sizeof(cn)) ||
        !san_matches(leaf, GEN_DNS, json_object_get(role, constraint_keys[1]), true) ||
        !san_matches(leaf, GEN_EMAIL, json_object_get(role, constraint_keys[2]), true) ||
        !san_matches(leaf, GEN_URI, json_object_get(role, constraint_keys[3]), false))
        goto out;
    rc = (*out_meta = identity_meta(leaf, der, der_len, cn)) ? TR_OK : TR_E_NOMEM;
out:
    ERR_clear_error();
    sk_X509_pop_free(trusted, X509_free);
    X509_free(leaf);
    return rc;
}

/* ---- cert roles ---------------------------------------------------------------------------- */

static int cert_apply(json_t *role, const json_t *b, const char **err)
{
    const char *pem = tr_json_get_str(b, "certificate");
    const char *dn = tr_json_get_str(b, "display_name");

    if (pem && !auth_pem_certs_valid(pem)) {
        *err = "failed to parse certificate: expected PEM certificates";
        return TR_E_INVAL;
    }
    if (pem)
        json_object_set_new(role, "certificate", json_string(pem));
    if (!tr_json_get_str(role, "certificate")) {
        *err = "missing certificate";
        return TR_E_INVAL;
    }
    if (dn && strlen(dn) > AUTH_NAME_MAX) {
        *err = "display_name too long";
        return TR_E_INVAL;
    }
    if (dn)
        json_object_set_new(role, "display_name", json_string(dn));
    for (size_t i = 0; i < 4; i++)
        if (!auth_field_list(role, b, constraint_keys[i], err))
            return TR_E_INVAL;
    return auth_token_fields_set(role, b, err);
}

static void cert_write(struct api_call *c, const char *key)
{
    const char *err = NULL;
    json_t *role = NULL;
    uint64_t ver = STORE_VERSION_ABSENT;
    int rc = auth_get(c, key, &role, &ver);

    if (rc == TR_E_NOTFOUND) {
        ver = STORE_VERSION_ABSENT;
        rc = (role = json_object()) ? TR_OK : TR_E_NOMEM;
    }
    if (rc == TR_OK)
        rc = cert_apply(role, c->body, &err);
    if (rc == TR_OK)
        rc = api_put_json(c, AUTH_T_DATA, key, role, ver);
    json_decref(role);
    if (rc == TR_E_INVAL)
        api_reply_error(c, 400, err ? err : "invalid request");
    else if (rc == TR_E_CAS)
        api_reply_error(c, 400, "concurrent update, try again");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}

static void cert_read(struct api_call *c, const char *key)
{
    json_t *role = NULL, *d = NULL;
    int rc = auth_get(c, key, &role, NULL);

    if (rc != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    const char *dn = tr_json_get_str(role, "display_name");
    d = json_pack("{s:s, s:s}", "certificate", tr_json_get_str(role, "certificate"), "display_name",
                  dn ? dn : "");
    for (size_t i = 0; d && i < 4; i++) {
        json_t *l = json_object_get(role, constraint_keys[i]);
        json_object_set_new(d, constraint_keys[i], json_is_array(l) ? json_copy(l) : json_array());
    }
    if (d)
        auth_token_fields_out(role, d);
    json_decref(role);
    api_reply_data(c, 200, d);
}

static void record_delete(struct api_call *c, const char *key)
{
    int rc = store_del(c->store, AUTH_T_DATA, (const uint8_t *)key, strlen(key), STORE_VERSION_ANY);
    if (rc == TR_OK || rc == TR_E_NOTFOUND)
        api_reply_status(c, 204);
    else
        api_reply_err(c, rc);
}

/* ---- CRLs ---------------------------------------------------------------------------------- */

static void crl_write(struct api_call *c, const char *key)
{
    const char *pem = tr_json_get_str(c->body, "crl");
    X509_CRL *crl = pem_crl_load(pem);
    json_t *o = crl ? json_pack("{s:s}", "crl", pem) : NULL;
    int rc = !crl ? TR_E_INVAL
             : o  ? api_put_json(c, AUTH_T_DATA, key, o, STORE_VERSION_ANY)
                  : TR_E_NOMEM;

    X509_CRL_free(crl);
    json_decref(o);
    if (rc == TR_E_INVAL)
        api_reply_error(c, 400, "failed to parse CRL: expected one PEM X509 CRL in \"crl\"");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}

/* Vault answers a CRL read with the revoked serial numbers. */
static void crl_read(struct api_call *c, const char *key)
{
    json_t *o = NULL, *serials = json_object();
    int rc = auth_get(c, key, &o, NULL);
    X509_CRL *crl = rc == TR_OK ? pem_crl_load(tr_json_get_str(o, "crl")) : NULL;
    STACK_OF(X509_REVOKED) *rev = crl ? X509_CRL_get_REVOKED(crl) : NULL;

    for (int i = 0; i < sk_X509_REVOKED_num(rev); i++) {
        BIGNUM *bn =
            ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i)), NULL);
        char *dec = bn ? BN_bn2dec(bn) : NULL;
        if (dec)
            json_object_set_new(serials, dec, json_object());
        OPENSSL_free(dec);
        BN_free(bn);
    }
    X509_CRL_free(crl);
    json_decref(o);
    if (rc != TR_OK) {
        json_decref(serials);
        api_reply_err(c, rc);
        return;
    }
    api_reply_data(c, 200, json_pack("{s:o}", "serials", serials));
}

/* ---- login --------------------------------------------------------------------------------- */

static json_t *crls_load(struct api_call *c, const struct auth_mount *m)
{
    char prefix[AUTH_KEY_MAX];
    struct store_list *l = NULL;
    json_t *out = json_array();

    if (!out || !auth_key(prefix, sizeof(prefix), m, "crls", ""))
        return out;
    struct store_list_opts lo = {.prefix = (const uint8_t *)prefix, .prefix_len = strlen(prefix)};
    if (store_list(c->store, AUTH_T_DATA, &lo, &l) != TR_OK)
        return out;
    for (size_t i = 0; i < l->n; i++) {
        char key[AUTH_KEY_MAX];
        json_t *o = NULL;
        snprintf(key, sizeof(key), "%.*s", (int)l->e[i].key_len, (const char *)l->e[i].key);
        if (auth_get(c, key, &o, NULL) == TR_OK && tr_json_get_str(o, "crl"))
            json_array_append(out, json_object_get(o, "crl"));
        json_decref(o);
    }
    store_list_free(l);
    return out;
}

/* Try one cert role: TR_OK and the token issued, or TR_E_AUTH. */
static int login_try(struct api_call *c, const struct auth_mount *m, const char *name,
                     const json_t *crls)
{
    char key[AUTH_KEY_MAX];
    json_t *role = NULL, *meta = NULL;
    int rc = auth_key(key, sizeof(key), m, "certs", name) ? auth_get(c, key, &role, NULL)
                                                          : TR_E_NOTFOUND;

    if (rc == TR_OK)
        rc = auth_cert_check(c->req->peer_cert_der, c->req->peer_cert_der_len, role, crls, &meta);
    if (rc == TR_OK) {
        const char *dn = tr_json_get_str(role, "display_name");
        json_object_set_new(meta, "cert_name", json_string(name));
        tr_log_info("cert login on auth/%s with role %s", m->path, name);
        /* Vault's cert method checks token_bound_cidrs at login too */
        struct auth_grant g = {.role = role,
                               .cidrs_at_login = true,
                               .display_name = dn && *dn ? dn : name,
                               .meta = meta};
        auth_issue(c, m, &g);
    }
    json_decref(meta);
    json_decref(role);
    return rc == TR_OK ? TR_OK : rc == TR_E_AUTH || rc == TR_E_NOTFOUND ? TR_E_AUTH : rc;
}

static int login_any(struct api_call *c, const struct auth_mount *m, const json_t *crls)
{
    char prefix[AUTH_KEY_MAX];
    struct store_list *l = NULL;
    int rc = TR_E_AUTH;

    if (!auth_key(prefix, sizeof(prefix), m, "certs", ""))
        return TR_E_INTERNAL;
    size_t n = strlen(prefix);
    struct store_list_opts lo = {.prefix = (const uint8_t *)prefix, .prefix_len = n, .fold = true};
    if ((rc = store_list(c->store, AUTH_T_DATA, &lo, &l)) != TR_OK)
        return rc;
    rc = TR_E_AUTH;
    for (size_t i = 0; rc == TR_E_AUTH && i < l->n; i++) {
        char name[AUTH_NAME_MAX + 1];
        snprintf(name, sizeof(name), "%.*s", (int)(l->e[i].key_len - n),
                 (const char *)l->e[i].key + n);
        if (auth_name_ok(name))
            rc = login_try(c, m, name, crls);
    }
    store_list_free(l);
    return rc;
}

void auth_cert_login(struct api_call *c, const struct auth_mount *m)
{
    const char *name = tr_json_get_str(c->body, "name");
    json_t *crls;
    int rc;

    if (!c->req->peer_cert_der || !c->req->peer_cert_der_len) {
        api_reply_error(c, 400, ERR_NO_CERT);
        return;
    }
    crls = crls_load(c, m);
    if (name && *name)
        rc = auth_name_ok(name) ? login_try(c, m, name, crls) : TR_E_AUTH;
    else
        rc = login_any(c, m, crls);
    json_decref(crls);
    if (rc == TR_E_AUTH) {
        tr_log_info("cert login refused on auth/%s", m->path);
        api_reply_error(c, 400, ERR_INVALID);
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    }
}

/* ---- renewal -------------------------------------------------------------------------------- */

/* Every name of a but "default" is in b (Vault's EquivalentPolicies leaves "default" out). */
static bool policies_within(const json_t *a, const json_t *b)
{
    size_t i, j;
    json_t *x, *y;

    json_array_foreach(a, i, x)
    {
        bool found = !strcmp(json_string_value(x), "default");
        json_array_foreach(b, j, y) found = found || json_equal(x, y);
        if (!found)
            return false;
    }
    return true;
}

/* The meta value k of the certificate verified now (now) differs from the login's (then). */
static bool meta_differs(const json_t *now, const json_t *then, const char *k)
{
    const char *a = tr_json_get_str(now, k), *b = tr_json_get_str(then, k);
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* Vault's cert pathLoginRenew (with its default binding): the renewal itself must present a
 * client certificate that the cert role named at login (meta cert_name) still accepts, with the
 * mount's CRLs, and that has the login certificate's subject and authority key IDs; the role's
 * policies must be those of the token; then the role's limits as they are now. A renewal by
 * accessor or by another token's holder therefore needs that certificate too, as in Vault. */
int auth_cert_renew(struct api_call *c, const struct auth_mount *m, const json_t *e,
                    struct auth_renewal *out)
{
    const json_t *then = json_object_get(e, "meta");
    const char *name = tr_json_get_str(then, "cert_name");
    char key[AUTH_KEY_MAX];
    json_t *role = NULL, *crls = NULL, *now = NULL;
    int rc = TR_E_NOTFOUND;

    if (!name)
        return TR_E_NOTFOUND;
    if (!c->req->peer_cert_der || !c->req->peer_cert_der_len)
        return auth_renewal_refuse(out, 400, "%s", ERR_NO_CERT);
    if (auth_name_ok(name) && auth_key(key, sizeof(key), m, "certs", name))
        rc = auth_get(c, key, &role, NULL);
    if (rc == TR_OK && !(crls = crls_load(c, m)))
        rc = TR_E_NOMEM;
    if (rc == TR_OK)
        rc = auth_cert_check(c->req->peer_cert_der, c->req->peer_cert_der_len, role, crls, &now);
    if (rc == TR_E_NOTFOUND || rc == TR_E_AUTH || rc == TR_E_INVAL)
        rc = auth_renewal_refuse(out, 400, "%s", ERR_INVALID);
    else if (rc == TR_OK && meta_differs(now, then, "subject_key_id"))
        rc = auth_renewal_refuse(out, 500,
                                 "failed to renew entry: client identity during renewal not "
                                 "matching client identity used during login");
    else if (rc == TR_OK && meta_differs(now, then, "authority_key_id"))
        rc = auth_renewal_refuse(out, 500,
                                 "failed to renew entry: client authority identity during "
                                 "renewal not matching client identity used during login");
    else if (rc == TR_OK) {
        const json_t *want = json_object_get(role, "token_policies"),
                     *has = json_object_get(e, "policies");
        if (!policies_within(want, has) || !policies_within(has, want))
            rc = auth_renewal_refuse(out, 500,
                                     "failed to renew entry: policies have changed, not renewing");
        else
            auth_renewal_role(role, out);
    }
    json_decref(now);
    json_decref(crls);
    json_decref(role);
    return rc;
}

/* ---- routing ------------------------------------------------------------------------------- */

void auth_cert_handle(struct api_call *c, const struct auth_mount *m, const char *rel)
{
    char name[AUTH_NAME_MAX + 1], key[AUTH_KEY_MAX];
    bool certs = !strncmp(rel, "certs", 5), crls = !strncmp(rel, "crls", 4);
    const char *kind = certs ? "certs" : "crls", *rest = rel + (certs ? 5 : 4), *sub = "";

    if ((!certs && !crls) || (*rest && *rest != '/')) { /* a table route this lacks */
        api_reply_error(c, 404, "unsupported path");
        return;
    }
    if (!*rest || !strcmp(rest, "/")) {
        if (c->method == API_LIST && auth_key(key, sizeof(key), m, kind, ""))
            auth_reply_list(c, key);
        else
            api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (!auth_split(rest + 1, name, sizeof(name), &sub) || *sub ||
        !auth_key(key, sizeof(key), m, kind, name)) {
        api_reply_error(c, 404, *sub ? "unsupported path" : NULL);
        return;
    }
    if (c->method == API_GET)
        certs ? cert_read(c, key) : crl_read(c, key);
    else if (c->method == API_PUT)
        certs ? cert_write(c, key) : crl_write(c, key);
    else if (c->method == API_DELETE)
        record_delete(c, key);
    else
        api_reply_error(c, 405, "unsupported operation");
}
