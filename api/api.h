/*
 * api - Vault-compatible request handling. Knows nothing about sockets or TLS.
 *
 * The server turns each HTTP request into a struct api_req and calls api_handle(); the answer
 * arrives through the done callback as a struct api_resp, either before api_handle returns or
 * later from another thread (storage writes complete on the writer thread). The server must keep
 * the request's strings alive until done is called and must marshal the response back to its
 * own event loop.
 * Thread-safety: api_handle may be called concurrently from several worker threads.
 */
#ifndef API_H
#define API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tr_err.h"

enum api_method {
    API_GET,
    API_HEAD,
    API_PUT, /* POST and PUT are the same operation */
    API_DELETE,
    API_LIST,
    API_PATCH,
    API_OPTIONS,
    API_OTHER,
};

struct api_req {
    enum api_method method;
    const char *uri_path;     /* raw (still percent-encoded) path, e.g. "/v1/sys/health" */
    const char *query;        /* raw query string without '?', or NULL */
    const char *token;        /* X-Vault-Token, else the Bearer token, else NULL */
    const char *content_type; /* or NULL */
    const char *ns;           /* X-Vault-Namespace as sent, or NULL */
    const char *wrap_ttl;     /* X-Vault-Wrap-TTL as sent, or NULL */
    const uint8_t *body;
    size_t body_len;
    const char *remote_ip;
    const uint8_t *peer_cert_der; /* verified TLS client certificate (leaf, DER), or NULL */
    size_t peer_cert_der_len;
};

struct api_resp {
    int status;
    const char *content_type; /* static string */
    char *body;               /* owned (malloc), may be NULL */
    size_t body_len;
    int retry_after;      /* seconds for a Retry-After header, 0 = none */
    bool body_suppressed; /* HEAD: send status and headers only */
};

typedef void (*api_done_fn)(void *arg, struct api_resp *resp);

struct api;

struct api_opts {
    const char *version;    /* reported as "version" */
    const char *build_date; /* RFC 3339 */
    const char *data_dir;   /* storage path (borrowed for the api's lifetime) */
    uint32_t counter_min_interval_ms;
    uint32_t scrub_interval_ms;
    bool dev;                          /* -dev: mount secret/ (KV v2) at first start */
    const char *audit_path;            /* file audit device, or NULL (static config only) */
    uint32_t audit_anchor_interval_ms; /* how often the audit head is anchored (0: 1000) */
    uint64_t audit_rotate_bytes;       /* rotate the audit file at this size (0: only on request) */
    uint32_t audit_rotate_keep;        /* rotated audit files kept (0: all) */
    uint32_t audit_anchor_max_lag_ms;  /* refuse audited requests after this long without an
                                        * anchoring (0: never) */
    /* listener.telemetry.unauthenticated_metrics_access: GET /v1/sys/metrics is answered before
     * the pipeline (no token, ACL or audit entry; sealed too), as Vault's listener option */
    bool unauthenticated_metrics_access;
};

/* api_new - create the handler set; opens the audit file when configured.
 * Errors: TR_E_NOMEM, and api_audit_open's errors (TR_E_DENIED, TR_E_IO, TR_E_TAMPER). */
TR_MUST_CHECK int api_new(const struct api_opts *opts, struct api **out);
void api_free(struct api *api);

/*
 * api_start - bring the core up at server start: with an auto-unseal seal unseal and open
 * storage; in dev mode initialise a fresh core first (one share) and return the new root token
 * in *out_root_token (owned: wipe and free) and the share in *out_share_hex (owned, same).
 * Errors: as the core's unseal and store_open; the server keeps serving sys/ endpoints (sealed)
 * after an error so an operator can see the reason.
 */
TR_MUST_CHECK int api_start(struct api *api, char **out_root_token, char **out_share_hex);

/* api_handle - answer req; done(arg, resp) is called exactly once with a response owned by the
 * callee (release it with api_resp_free). */
void api_handle(struct api *api, const struct api_req *req, api_done_fn done, void *arg);

/* api_audit_rotate_request - ask for the audit file to be rotated soon (SIGHUP); never blocks.
 * Logged: done, nothing to rotate, or why not. Nothing happens without an audit device. */
void api_audit_rotate_request(struct api *api);

/* api_method_parse - map an HTTP method name ("GET", "LIST", ...) to an api_method. */
enum api_method api_method_parse(const char *name);

void api_resp_free(struct api_resp *resp);

#endif
