/*
 * api_sys_node.h - the sys/ endpoints whose Vault answer follows from what one Tresor node is:
 * its audit device comes from the configuration file (sys/audit, sys/audit/<p>,
 * sys/audit-hash/<p>, vault-api.md §2.12), it is never part of an HA cluster (sys/step-down) and
 * it issues no leases (sys/leases/..., the legacy sys/renew, sys/revoke, sys/revoke-prefix,
 * sys/revoke-force; §2.15). Internal to api/ (api_sys.c routes here).
 */
#ifndef API_SYS_NODE_H
#define API_SYS_NODE_H

#include <stdbool.h>

struct api_call;

/* api_sys_node_is_path - whether p (a logical path) is one of the endpoints above. */
bool api_sys_node_is_path(const char *p);

/*
 * api_sys_node_handle - answer c, whose path passed api_sys_node_is_path; the pipeline checked
 * the caller's ACL (with sudo where Vault needs it: sys/audit, sys/audit/<p>, sys/step-down,
 * the revoke-prefix and revoke-force forms, LIST sys/leases/lookup/<p>). Nothing here writes
 * to storage:
 *   GET sys/audit: Vault's device table, {"file/": {...}} for the configured file device or
 *     {} without one, in data and at the top level;
 *   PUT sys/audit/<p>: 400 (devices come from the configuration file only); DELETE: 400 for
 *     the configured device, 204 for any other path (as Vault for a path with no device);
 *   PUT sys/audit-hash/<p>: {"hash": the MAC "input" has in the audit log};
 *   PUT sys/step-down: 204, a no-op (as Vault on a node without HA);
 *   renew: 400 "lease not found"; revoke: 204 (as Vault for an unknown lease); lookup: 400
 *     "invalid lease"; LIST lookup: 404; revoke-prefix/-force: 204, except under auth/,
 *     which would mean tokens in Vault: 400 rather than a success that revoked nothing.
 * Other methods: 405.
 */
void api_sys_node_handle(struct api_call *c);

#endif
