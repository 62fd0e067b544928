/*
 * http - the TLS HTTP front end: worker threads, each with its own event base, evhttp instance
 * and SO_REUSEPORT listening socket; requests are handed to api/ and answers marshalled back to
 * the worker that owns the connection.
 *
 * Hostile clients are contained here, before api/ sees anything (docs/configuration.md):
 * - at most max_connections live connections across all workers: above it every worker stops
 *   accepting (new clients wait in the kernel backlog) until one closes; at most
 *   max_connections_per_ip per client (IPv4 address or IPv6 /64), the excess is closed at once;
 * - absolute deadlines, not inactivity timers: TLS handshake plus request headers within
 *   header_timeout_s of the connection (or of the first byte of a keep-alive request), the whole
 *   request within request_timeout_s, and a keep-alive connection closed idle_timeout_s after
 *   its last answer; a connection past its deadline is shut down and libevent frees it;
 * - a request URI over SRV_HTTP_URI_MAX bytes gets 414, more than SRV_HTTP_HEADERS_MAX header
 *   fields 431, a method Vault does not serve 405, an HTTP version other than 1.x 400 (a later
 *   1.x is served as 1.1), framing another parser could read differently (two different
 *   Content-Lengths, one that is not all digits, a field name that is not a token, no or two
 *   Host fields: 400; a Transfer-Encoding other than chunked: 501) with the connection closed;
 *   what libevent refuses itself (malformed request, head over max_headers: 400; body over
 *   max_body: 413) gets the same JSON envelope; a connection holding
 *   more unparsed input than max_body + max_headers + 64 KiB (a chunk-size line without end,
 *   which libevent buffers whole) is closed;
 * - per-client token buckets for login and unseal (and storage recovery) paths: 429 with
 *   Retry-After when empty;
 * - while draining (srv_http_stop) a new request gets 503 and every answer closes its connection.
 * api/ receives the verified client certificate (DER) when the listener asks for one.
 * At debug level each answer is logged with method, escaped path, status, duration and client
 * address; never a token, query string or body.
 *
 * Order: srv_http_start → (srv_http_reload_tls)* → srv_http_stop → srv_http_free.
 * Thread-safety: start/stop/free from the main thread only; reload from the main thread.
 */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "../api/api.h"
#include "../common/tr_err.h"
#include "ratelimit.h"

#define SRV_HTTP_URI_MAX     8192 /* request-target bytes */
#define SRV_HTTP_HEADERS_MAX 64   /* header fields per request */

struct srv_http;

struct srv_http_opts {
    const char *address; /* "host:port"; port 0 picks a free one (see srv_http_port) */
    int workers;         /* >= 1 */
    size_t max_body;
    size_t max_headers;
    int idle_timeout_s;    /* keep-alive: close this long after the last answer */
    int header_timeout_s;  /* handshake + headers, absolute */
    int request_timeout_s; /* whole request, absolute */
    size_t max_connections;
    size_t max_connections_per_ip;
    struct srv_rl_rate login_rate;  /* per client, /v1/auth/<mount>/login... */
    struct srv_rl_rate unseal_rate; /* per client, /v1/sys/unseal and /v1/sys/storage/recover */
};

/*
 * srv_http_start - bind, then start the workers. ctx is borrowed and must outlive the server or
 * be replaced with srv_http_reload_tls; api is borrowed.
 * Errors: TR_E_CONFIG (bad address or limit; err says which), TR_E_IO (bind failed; err names
 * the address), TR_E_NOMEM.
 */
TR_MUST_CHECK int srv_http_start(const struct srv_http_opts *opts, SSL_CTX *ctx, struct api *api,
                                 struct srv_http **out, char *err, size_t errlen);

/* srv_http_port - the bound TCP port (useful when the address asked for port 0). */
int srv_http_port(const struct srv_http *h);

/* srv_http_reload_tls - new connections use ctx from now on (borrowed; the old one may be freed
 * once this returns, SSL objects hold their own reference). */
void srv_http_reload_tls(struct srv_http *h, SSL_CTX *ctx);

/* srv_http_stop - stop accepting, let in-flight requests finish (up to drain_ms), refuse new ones
 * on open connections (503), stop workers. */
void srv_http_stop(struct srv_http *h, int drain_ms);

void srv_http_free(struct srv_http *h);

#endif
