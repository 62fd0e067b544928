/*
 * http - the TLS HTTP front end: worker threads, each with its own event base, evhttp instance
 * and SO_REUSEPORT listening socket; requests are handed to api/ and answers marshalled back to
 * the worker that owns the connection.
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

struct srv_http;

struct srv_http_opts {
    const char *address; /* "host:port"; port 0 picks a free one (see srv_http_port) */
    int workers;         /* >= 1 */
    size_t max_body;
    size_t max_headers;
    int idle_timeout_s;
};

/*
 * srv_http_start - bind, then start the workers. ctx is borrowed and must outlive the server or
 * be replaced with srv_http_reload_tls; api is borrowed.
 * Errors: TR_E_CONFIG (bad address; err says which), TR_E_IO (bind failed; err names the
 * address), TR_E_NOMEM.
 */
TR_MUST_CHECK int srv_http_start(const struct srv_http_opts *opts, SSL_CTX *ctx, struct api *api,
                                 struct srv_http **out, char *err, size_t errlen);

/* srv_http_port - the bound TCP port (useful when the address asked for port 0). */
int srv_http_port(const struct srv_http *h);

/* srv_http_reload_tls - new connections use ctx from now on (borrowed; the old one may be freed
 * once this returns, SSL objects hold their own reference). */
void srv_http_reload_tls(struct srv_http *h, SSL_CTX *ctx);

/* srv_http_stop - stop accepting, let in-flight requests finish (up to drain_ms), stop workers. */
void srv_http_stop(struct srv_http *h, int drain_ms);

void srv_http_free(struct srv_http *h);

#endif
