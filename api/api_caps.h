/*
 * api_caps.h - sys/capabilities-self, sys/capabilities and sys/capabilities-accessor
 * (vault-api.md §2.11): what a token may do on each of some paths, from its compiled ACL, as
 * the pipeline would authorise it.
 */
#ifndef API_CAPS_H
#define API_CAPS_H

#include <stdbool.h>

struct api_call;

/* api_caps_is_path - whether p (a logical path) is one of the capabilities endpoints. */
bool api_caps_is_path(const char *p);

/*
 * api_caps_handle - answer a PUT on one of them. The caller's own access was checked by the
 * pipeline (update on the path); -self answers for the caller's ACL, sys/capabilities for the
 * token in the body ("token"), -accessor for the token of "accessor" (unknown: 400 "invalid
 * accessor"); an unknown, expired or revoked token: 400 "invalid token". Paths come from
 * "paths", else the deprecated "path" (a list or a comma-separated string).
 */
void api_caps_handle(struct api_call *c);

#endif
