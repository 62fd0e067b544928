/*
 * api_int.h - internals shared by the api/ files. Not for other folders.
 */
#ifndef API_INT_H
#define API_INT_H

#include <jansson.h>

#include "api.h"
#include "../enclave/enclave.h"

#define API_PATH_MAX 4096

struct api {
    struct api_opts opts;
};

/* One request on its way through the pipeline. */
struct api_call {
    struct api *api;
    const struct api_req *req;
    enum api_method method;
    char *path;    /* decoded logical path after "/v1/" (owned) */
    json_t *query; /* decoded query parameters: name -> string (owned) */
    api_done_fn done;
    void *done_arg;
};

/* Response builders: each completes the call (calls done exactly once). */
void api_reply_json(struct api_call *c, int status, json_t *body);     /* steals body */
void api_reply_error(struct api_call *c, int status, const char *msg); /* msg may be NULL */
void api_reply_status(struct api_call *c, int status);

/* api_body_object - the request body as a JSON object (empty body: {}), *out owned by the
 * caller. On failure the call has been answered (400/413) and false is returned. */
bool api_body_object(struct api_call *c, json_t **out);
/* api_json_wipe_string - zero a jansson string's bytes in place (shares, tokens). */
void api_json_wipe_string(json_t *v);

/* sys handlers (raw endpoints) */
void api_sys_health(struct api_call *c);
void api_sys_seal_status(struct api_call *c);
void api_sys_leader(struct api_call *c);
void api_sys_unseal(struct api_call *c);

/* api_core_after_unseal - the trusted core just unsealed: open storage (which may seal again
 * with a rollback/tamper reason). Safe to call when already open. */
void api_core_after_unseal(struct api *api);
/* api_sys_seal_status_json - the seal-status object (new reference; NULL on OOM). */
json_t *api_sys_seal_status_json(const struct api *api);

#endif
