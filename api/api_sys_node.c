/* sys/ endpoints answered from this node's fixed setup (api_sys_node.h): the audit device table
 * and audit-hash, step-down, and the lease endpoints of a server that issues no leases. */
#include "api_sys_node.h"

#include <stdio.h>
#include <string.h>

#include "../common/tr_json.h"
#include "api_int.h"
#include "audit.h"

/* Where the configured file device shows: the path `vault audit enable file` gives it. */
#define AUDIT_DEV "file/"

/* Why sys/audit/<p> changes nothing: a path set through the API was a write primitive in Vault
 * (CVE-2025-6000); here the device, its path and mode come from the configuration only. */
#define AUDIT_STATIC "audit devices are set in tresord's configuration file (audit.path); "

/* The part of p after base: "" when p is base, "/..." when p is under it, NULL otherwise. */
static const char *after(const char *p, const char *base)
{
    size_t n = strlen(base);

    if (strncmp(p, base, n) != 0 || (p[n] != '\0' && p[n] != '/'))
        return NULL;
    return p + n;
}

enum lease_op { LEASE_RENEW, LEASE_REVOKE, LEASE_PREFIX, LEASE_LOOKUP };

/* Vault's lease paths and the legacy forms it keeps (logical_system_paths.go, leasePaths). */
static const struct {
    const char *base;
    enum lease_op op;
} lease_paths[] = {
    {"sys/leases/renew", LEASE_RENEW},          {"sys/renew", LEASE_RENEW},
    {"sys/leases/revoke", LEASE_REVOKE},        {"sys/revoke", LEASE_REVOKE},
    {"sys/leases/revoke-prefix", LEASE_PREFIX}, {"sys/revoke-prefix", LEASE_PREFIX},
    {"sys/leases/revoke-force", LEASE_PREFIX},  {"sys/revoke-force", LEASE_PREFIX},
    {"sys/leases/lookup", LEASE_LOOKUP},
};

bool api_sys_node_is_path(const char *p)
{
    const char *h = after(p, "sys/audit-hash");

    if (after(p, "sys/audit") || (h && h[0] == '/' && h[1]) || !strcmp(p, "sys/step-down"))
        return true;
    for (size_t i = 0; i < sizeof(lease_paths) / sizeof(lease_paths[0]); i++)
        if (after(p, lease_paths[i].base))
            return true;
    return false;
}

/* name (a device path from the URL, may lack its '/') as Vault keys devices: with a '/'. */
static void dev_name(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);

    snprintf(out, cap, "%s%s", name, n && name[n - 1] == '/' ? "" : "/");
}

static bool is_configured_dev(const struct api_call *c, const char *dev)
{
    return c->api->opts.audit_path && !strcmp(dev, AUDIT_DEV);
}

/* GET sys/audit: Vault's handleAuditTable shape for the one device there can be. */
static void audit_list(struct api_call *c)
{
    json_t *data = json_object();
    const char *path = c->api->opts.audit_path;

    if (data && path &&
        json_object_set_new(data, AUDIT_DEV,
                            json_pack("{s:s, s:s, s:s, s:{s:s}, s:b}", "type", "file", "path",
                                      AUDIT_DEV, "description", "", "options", "file_path", path,
                                      "local", 0)) != 0) {
        json_decref(data);
        data = NULL;
    }
    if (!data)
        api_reply_err(c, TR_E_NOMEM);
    else
        api_reply_data_top(c, data);
}

static void audit_devices(struct api_call *c, const char *rest)
{
    char dev[API_PATH_MAX + 2];

    if (!*rest) {
        if (c->method == API_GET)
            audit_list(c);
        else
            api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (c->method != API_PUT && c->method != API_DELETE) {
        api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (!rest[1]) {
        api_reply_error(c, 400, "audit device path must be specified");
        return;
    }
    dev_name(rest + 1, dev, sizeof(dev));
    /* 403 even for root: an API-set audit path is a write primitive (CVE-2025-6000), so the
     * device is static configuration, never the caller's to change (security.md #22) */
    if (c->method == API_PUT)
        api_reply_error(c, 403, AUDIT_STATIC "enabling them through the API is not supported");
    else if (is_configured_dev(c, dev))
        api_reply_error(c, 403, AUDIT_STATIC "disabling them through the API is not supported");
    else
        api_reply_status(c, 204); /* Vault: disabling a path with no device succeeds */
}

/* PUT sys/audit-hash/<p>: the text "input" has in the device's lines (api_audit_hash), so an
 * operator can find the entries about a known value. The MAC key never leaves the core. */
static void audit_hash(struct api_call *c, const char *name)
{
    char dev[API_PATH_MAX + 2], mac[API_AUDIT_HMAC_STR];
    const char *in = tr_json_get_str(c->body, "input");
    int rc;

    if (c->method != API_PUT) {
        api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (!in || !*in) {
        api_reply_error(c, 400, "the \"input\" parameter is empty");
        return;
    }
    dev_name(name, dev, sizeof(dev));
    if (!is_configured_dev(c, dev)) {
        char msg[sizeof(dev) + 32];
        snprintf(msg, sizeof(msg), "unknown audit backend \"%s\"", dev);
        api_reply_error(c, 400, msg);
        return;
    }
    if ((rc = api_audit_hash(in, strlen(in), mac)) != TR_OK) {
        api_reply_err(c, rc);
        return;
    }
    json_t *d = json_pack("{s:s}", "hash", mac);
    if (!d)
        api_reply_err(c, TR_E_NOMEM);
    else
        api_reply_data_top(c, d); /* Vault injects sys/audit-hash/ answers too */
}

/* The lease id of a renew or revoke: the body's lease_id, else the rest of the URL. */
static const char *lease_id(const struct api_call *c, const char *rest)
{
    const char *id = tr_json_get_str(c->body, "lease_id");

    if (id && *id)
        return id;
    return rest[0] == '/' ? rest + 1 : "";
}

static void lease_prefix(struct api_call *c, const char *rest)
{
    char pre[API_PATH_MAX + 2];

    if (rest[0] != '/' || !rest[1]) {
        api_reply_error(c, 404, "unsupported path"); /* Vault's path needs a prefix */
        return;
    }
    dev_name(rest + 1, pre, sizeof(pre));
    /* Under auth/ Vault revokes the tokens issued there. Tresor's tokens are no leases: a 204
     * would tell an operator revoking them (an incident, say) that it was done. */
    if (!strncmp(pre, "auth/", 5))
        api_reply_error(c, 400,
                        "Tresor's tokens have no leases: revoke them with auth/token/revoke, "
                        "auth/token/revoke-accessor or by disabling their auth method");
    else
        api_reply_status(c, 204); /* no lease exists under any prefix */
}

static void leases(struct api_call *c, enum lease_op op, const char *rest)
{
    if (op == LEASE_LOOKUP && rest[0] == '/') { /* LIST sys/leases/lookup/<prefix>/ */
        if (c->method == API_LIST)
            api_reply_error(c, 404, NULL); /* an empty list, as Vault answers it */
        else
            api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (c->method != API_PUT) {
        api_reply_error(c, 405, "unsupported operation");
        return;
    }
    if (op == LEASE_PREFIX) {
        lease_prefix(c, rest);
        return;
    }
    const char *id = op == LEASE_LOOKUP ? tr_json_get_str(c->body, "lease_id") : lease_id(c, rest);
    if (!id || !*id)
        api_reply_error(c, 400, "lease_id must be specified");
    else if (op == LEASE_RENEW)
        api_reply_error(c, 400, "lease not found");
    else if (op == LEASE_LOOKUP)
        api_reply_error(c, 400, "invalid lease");
    else
        api_reply_status(c, 204); /* Vault: revoking an unknown lease succeeds */
}

void api_sys_node_handle(struct api_call *c)
{
    const char *p = c->path, *rest;
    json_t *b;

    if (!api_body_object(c, &b))
        return;
    if ((rest = after(p, "sys/audit"))) {
        audit_devices(c, rest);
        return;
    }
    if ((rest = after(p, "sys/audit-hash"))) {
        audit_hash(c, rest + 1); /* api_sys_node_is_path: "/<name>" */
        return;
    }
    if (!strcmp(p, "sys/step-down")) {
        /* Vault without HA answers 204 before looking at anything; the pipeline has checked the
         * token and sudo as an HA Vault does, so a policy that works there works here. */
        if (c->method == API_PUT)
            api_reply_status(c, 204);
        else
            api_reply_error(c, 405, "unsupported operation");
        return;
    }
    for (size_t i = 0; i < sizeof(lease_paths) / sizeof(lease_paths[0]); i++) {
        if ((rest = after(p, lease_paths[i].base))) {
            leases(c, lease_paths[i].op, rest);
            return;
        }
    }
    api_reply_error(c, 404, "unsupported path"); /* not reached: api_sys_node_is_path */
}
