/* Transit export/ (vault-api.md §7): GET export/<type>/<name>[/<version>] answered as Vault's
 * path_export.go answers a key that is not exportable, which every Tresor key is (key material
 * never leaves the core, enclave.h). public-key hands out what keys/<name> already publishes,
 * taken from the same stored text; encryption-key, signing-key and hmac-key are refused. */
#include "api_transit_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../common/tr_json.h"

#define TYPE_ECHO_MAX 200 /* bytes of an unknown export type quoted back */

enum export_kind { EX_PRIVATE, EX_PUBLIC, EX_CHAIN, EX_CMAC };

static const struct {
    const char *name;
    enum export_kind kind;
} kinds[] = {{"encryption-key", EX_PRIVATE},  {"signing-key", EX_PRIVATE},
             {"hmac-key", EX_PRIVATE},        {"public-key", EX_PUBLIC},
             {"certificate-chain", EX_CHAIN}, {"cmac-key", EX_CMAC}};

/* export/<type>/<name>[/<version>]: pointers into c->rel. */
struct export_path {
    const char *type;
    size_t type_len;
    char name[TK_NAME_MAX + 1];
    const char *version; /* NULL: every version; may hold '/' (Vault's pattern is ".+") */
};

/* Vault's GenericNameRegex \w(([\w-.@]+)?\w)?: what its router matches for type and name. */
static bool generic_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_';
        if (!word && ((ch != '-' && ch != '.' && ch != '@') || i == 0 || i == n - 1))
            return false;
    }
    return n > 0;
}

/* false: no route matches (Vault's 404). */
static bool export_parse(const char *rel, struct export_path *out)
{
    const char *p = rel + strlen("export");
    size_t n;

    if (*p++ != '/')
        return false;
    n = strcspn(p, "/");
    if (!generic_name(p, n) || p[n] != '/')
        return false;
    out->type = p;
    out->type_len = n;
    p += n + 1;
    n = strcspn(p, "/");
    if (!generic_name(p, n) || n > TK_NAME_MAX) /* a longer name cannot be a key */
        return false;
    memcpy(out->name, p, n);
    out->name[n] = '\0';
    p += n;
    out->version = NULL;
    if (*p == '/') {
        if (p[1] == '\0')
            return false;
        out->version = p + 1;
    }
    return true;
}

/* The export type, or false after answering 400 as Vault (before the key is looked up). */
static bool export_kind(struct api_call *c, const struct export_path *ep, enum export_kind *out)
{
    char msg[TYPE_ECHO_MAX + 32];

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strlen(kinds[i].name) == ep->type_len &&
            !strncmp(ep->type, kinds[i].name, ep->type_len)) {
            *out = kinds[i].kind;
            if (*out != EX_CMAC)
                return true;
            /* Vault's community edition answers this for every key, existing or not */
            api_reply_error(c, 400,
                            "CMAC operations are only available in enterprise versions "
                            "of Vault");
            return false;
        }
    }
    /* generic_name let only ASCII through: the cut cannot split a character */
    int n = (int)(ep->type_len > TYPE_ECHO_MAX ? TYPE_ECHO_MAX : ep->type_len);
    snprintf(msg, sizeof(msg), "invalid export type: %.*s", n, ep->type);
    api_reply_error(c, 400, msg);
    return false;
}

/* Vault: "latest", else an optional "v" and a decimal integer (Go's strconv.Atoi, which takes
 * a sign but no blanks). */
static bool version_parse(const struct tk *k, const char *s, int64_t *v)
{
    if (!strcmp(s, "latest")) {
        *v = k->latest;
        return true;
    }
    if (*s == 'v')
        s++;
    if (!((*s >= '0' && *s <= '9') || *s == '+' || *s == '-'))
        return false;
    return tr_parse_int64(s, v);
}

/* The versions to export, [*lo, *hi]: the one asked for, else every version Vault keeps in a
 * key's working set (min_decryption_version to latest). false after answering 400. */
static bool export_range(struct api_call *c, const struct tk *k, const char *version, int64_t *lo,
                         int64_t *hi)
{
    int64_t v = 0;

    if (!version) {
        *lo = k->min_dec > 1 ? k->min_dec : 1;
        *hi = k->latest;
        return true;
    }
    if (!version_parse(k, version, &v)) {
        api_reply_error(c, 400, "invalid key version");
        return false;
    }
    if (v < k->min_dec || v < 1) {
        api_reply_error(c, 400, "version for export is below minimum decryption version");
        return false;
    }
    if (v > k->latest || !tk_version(k, v)) {
        api_reply_error(c, 400, "version does not exist or cannot be found");
        return false;
    }
    *lo = *hi = v;
    return true;
}

/* {"<version>": public key} for [lo, hi], each as keys/<name> publishes it but with the
 * surrounding white space cut, as Vault's export does (its PEM has no final newline). A derived
 * key's entry is "": its public keys depend on a context (keys/<name>?context=). NULL: no memory. */
static json_t *export_pubkeys(const struct tk *k, int64_t lo, int64_t hi)
{
    json_t *keys = json_object();

    for (int64_t v = lo; keys && v <= hi; v++) {
        const json_t *e = tk_version(k, v);
        const char *pub = tk_version_pubkey(e);
        size_t n = pub ? strlen(pub) : 0;
        char vs[24];

        if (!e)
            continue;
        while (n > 0 && (pub[n - 1] == '\n' || pub[n - 1] == ' ' || pub[n - 1] == '\r'))
            n--;
        snprintf(vs, sizeof(vs), "%" PRId64, v);
        if (json_object_set_new(keys, vs, json_stringn(pub ? pub : "", n)) != 0) {
            json_decref(keys);
            keys = NULL;
        }
    }
    return keys;
}

/* Key found, versions valid: Vault's answer per export type and key type. */
static void export_reply(struct api_call *c, const struct tk *k, enum export_kind kind, int64_t lo,
                         int64_t hi)
{
    char msg[TK_ERR_MAX];
    json_t *keys, *data;

    /* Vault fails these while encoding, with a plain error: 500 */
    if (kind == EX_CHAIN) {
        api_reply_error(c, 500, "selected key version does not have a certificate chain imported");
        return;
    }
    if (!k->type->signing) {
        snprintf(msg, sizeof(msg), "unknown key type %s for export type public-key", k->type->name);
        api_reply_error(c, 500, msg);
        return;
    }
    keys = export_pubkeys(k, lo, hi);
    data = keys ? json_pack("{s:s, s:s, s:o}", "name", k->name, "type", k->type->name, "keys", keys)
                : NULL;
    if (!data)
        api_reply_err(c, TR_E_NOMEM);
    else
        api_reply_data(c, 200, data);
}

void tk_export(struct api_call *c)
{
    struct export_path ep;
    enum export_kind kind = EX_PRIVATE;
    int64_t lo = 0, hi = 0;
    struct tk k;
    int rc;

    if (!export_parse(c->rel, &ep)) {
        api_reply_error(c, 404, "unsupported path");
        return;
    }
    if (c->method != API_GET) {
        api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (!export_kind(c, &ep, &kind))
        return;
    if ((rc = tk_load(c, ep.name, &k)) != TR_OK) {
        api_reply_err(c, rc == TR_E_INVAL ? TR_E_NOTFOUND : rc); /* Vault: no such key, 404 */
        return;
    }
    if (kind == EX_PRIVATE)
        api_reply_error(c, 400, "private key material is not exportable");
    else if (kind == EX_CHAIN && !k.type->signing)
        api_reply_error(c, 400,
                        "certificate chain not supported for keys that do not support "
                        "signing");
    else if (export_range(c, &k, ep.version, &lo, &hi))
        export_reply(c, &k, kind, lo, hi);
    tk_free(&k);
}
