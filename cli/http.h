/*
 * http - the CLI's HTTPS client for the Vault-compatible API (libevent's evhttp over a
 * bufferevent_openssl; evhttp parses the responses).
 *
 * TLS: 1.2 or newer; the server certificate is verified against -ca-cert / -ca-path or the system
 * store, and the certificate's name is always checked (SSL_set1_host for names,
 * X509_VERIFY_PARAM_set1_ip_asc for IP literals) against -tls-server-name or the address's host,
 * unless verification is explicitly skipped. Optional client certificate.
 * Each request uses a fresh connection ("Connection: close"): a CLI makes a handful of calls,
 * and it keeps the retry logic out of the picture.
 * Requests carry X-Vault-Request: true and, when given, X-Vault-Token. LIST is sent as
 * GET ?list=true, as the Go client does.
 * Secret hygiene: the body we serialise and the response body we copy out are wiped before they
 * are freed, and so is the response JSON (cli_resp_free). libevent's and OpenSSL's own buffers
 * (and the token header's copy inside libevent) are freed without wiping: see docs/cli.md.
 * Usage: cli_http_new; cli_http_request ...; cli_http_free.
 * Thread-safety: one thread per cli_http. Knows nothing about commands or output formats.
 */
#ifndef CLI_HTTP_H
#define CLI_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/tr_err.h"
#include "config.h"

/* Caps on what the server may send us. */
#define CLI_HTTP_BODY_MAX    (64u * 1024u * 1024u)
#define CLI_HTTP_HEADERS_MAX (64u * 1024u)

enum cli_method { CLI_GET, CLI_PUT, CLI_POST, CLI_DELETE, CLI_PATCH, CLI_LIST, CLI_HEAD };

struct cli_http;

struct cli_req {
    enum cli_method method;
    const char *path;         /* logical path after /v1/, not encoded ("secret/data/a b") */
    const json_t *query;      /* object of strings (or arrays of strings), or NULL */
    const json_t *body;       /* sent as JSON when non-NULL */
    const char *token;        /* X-Vault-Token value or NULL; borrowed */
    const char *content_type; /* NULL means application/json */
    bool no_token;            /* send no token at all, even one configured (logins) */
};

struct cli_resp {
    int status;   /* HTTP status code */
    json_t *json; /* parsed body, NULL when empty or not JSON; owned */
    char *body;   /* raw body, NUL-terminated, owned; NULL when empty */
    size_t body_len;
    bool is_json_type; /* Content-Type was application/json */
};

/*
 * cli_http_new - parse cfg->addr (https://HOST[:PORT], default port 443) and build the TLS
 * context. cfg is borrowed for the life of the client. err (errlen bytes) explains a failure.
 * Errors: TR_E_CONFIG (bad address, unreadable CA/cert/key), TR_E_TLS, TR_E_NOMEM.
 */
TR_MUST_CHECK int cli_http_new(const struct cli_config *cfg, struct cli_http **out, char *err,
                               size_t errlen);

/* cli_http_free - release the client. NULL-safe. */
void cli_http_free(struct cli_http *h);

/*
 * cli_http_request - send req and wait for the answer (or the timeout).
 * Out: *out filled on TR_OK whatever the HTTP status; zeroed on failure. Free with
 * cli_resp_free.
 * Errors: TR_E_IO (connection failed, closed early or timed out), TR_E_TLS (handshake or
 * certificate verification failed), TR_E_TOO_LARGE (response over the caps), TR_E_NOMEM,
 * TR_E_INVAL (path or query cannot be encoded). err holds the reason, with OpenSSL's detail.
 */
TR_MUST_CHECK int cli_http_request(struct cli_http *h, const struct cli_req *req,
                                   struct cli_resp *out, char *err, size_t errlen);

/* cli_http_url - "https://host:port/v1/<path>" for messages, into buf (len bytes). */
void cli_http_url(const struct cli_http *h, const char *path, char *buf, size_t len);

/* cli_resp_free - wipe and free the body and JSON; the struct may be reused. NULL-safe. */
void cli_resp_free(struct cli_resp *r);

/* cli_json_wipe - overwrite every string value inside v with zeros, in place (object keys are
 * left alone: they name fields, and jansson hashes them); call just before json_decref on values
 * that held secrets. NULL-safe. */
void cli_json_wipe(json_t *v);

/* cli_method_name - "GET", "PUT", ...; LIST is reported as "LIST". */
const char *cli_method_name(enum cli_method m);

#endif
