/* A minimal blocking HTTPS client for the Kubernetes TokenReview call: libevent's evhttp over
 * bufferevent_openssl on a private event_base, so all HTTP framing is libevent's. The server
 * certificate is verified (chain to the configured CA, host name or IP address), TLS 1.2 at
 * least. Runs on an api pool thread; each call owns everything it creates. */
#include "auth_int.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_log.h"

struct http_target {
    char host[256]; /* without IPv6 brackets */
    char path[1280];
    int port;
    bool is_ip;
};

struct http_result {
    struct event_base *base;
    struct bufferevent *bev;
    int rc;
    int status;
    char *body;
};

static int target_parse(const char *url, struct http_target *t)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL, *path = u ? evhttp_uri_get_path(u) : NULL;
    int rc = TR_E_INVAL;
    uint8_t a[16];

    memset(t, 0, sizeof(*t));
    if (!scheme || strcmp(scheme, "https") != 0 || !host || !*host || evhttp_uri_get_userinfo(u))
        goto out;
    size_t n = strlen(host);
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n >= sizeof(t->host) || snprintf(t->path, sizeof(t->path), "%s",
                                         path && *path ? path : "/") >= (int)sizeof(t->path))
        goto out;
    memcpy(t->host, host, n);
    t->host[n] = '\0';
    t->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 443;
    t->is_ip = inet_pton(AF_INET, t->host, a) == 1 || inet_pton(AF_INET6, t->host, a) == 1;
    rc = TR_OK;
out:
    if (u)
        evhttp_uri_free(u);
    return rc;
}

static SSL_CTX *client_ctx(const char *ca_pem)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    BIO *bio = NULL;
    X509 *x;
    int n = 0;

    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        goto fail;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!ca_pem || !*ca_pem) {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1)
            goto fail;
        return ctx;
    }
    if (!(bio = BIO_new_mem_buf(ca_pem, -1)))
        goto fail;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    if (n > 0)
        return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* One connection's SSL: SNI and certificate name check for the target. */
static SSL *client_ssl(SSL_CTX *ctx, const struct http_target *t)
{
    SSL *ssl = SSL_new(ctx);
    X509_VERIFY_PARAM *p = ssl ? SSL_get0_param(ssl) : NULL;

    if (!ssl)
        return NULL;
    X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if ((t->is_ip ? X509_VERIFY_PARAM_set1_ip_asc(p, t->host)
                  : X509_VERIFY_PARAM_set1_host(p, t->host, 0)) != 1 ||
        (!t->is_ip && SSL_set_tlsext_host_name(ssl, t->host) != 1)) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    struct http_result *r = arg;
    struct evbuffer *in = req ? evhttp_request_get_input_buffer(req) : NULL;
    size_t n = in ? evbuffer_get_length(in) : 0;

    r->status = req ? evhttp_request_get_response_code(req) : 0;
    if (r->status <= 0 || n > AUTH_HTTP_BODY_MAX) {
        unsigned long e = r->bev ? bufferevent_get_openssl_error(r->bev) : 0;
        tr_log_warn("HTTPS request failed: %s", e ? ERR_reason_error_string(e) : "no answer");
        r->rc = TR_E_IO;
    } else if (!(r->body = malloc(n + 1))) {
        r->rc = TR_E_NOMEM;
    } else {
        evbuffer_remove(in, r->body, n);
        r->body[n] = '\0';
        r->rc = TR_OK;
    }
    event_base_loopbreak(r->base);
}

static int request_send(struct evhttp_connection *conn, struct http_result *r,
                        const struct http_target *t, const char *bearer, const char *body,
                        size_t body_len)
{
    struct evhttp_request *req = evhttp_request_new(on_done, r);
    struct evkeyvalq *h = req ? evhttp_request_get_output_headers(req) : NULL;
    char host[300], auth[AUTH_JWT_MAX + 16];

    if (!req)
        return TR_E_NOMEM;
    snprintf(host, sizeof(host), t->is_ip && strchr(t->host, ':') ? "[%s]:%d" : "%s:%d", t->host,
             t->port);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Accept", "application/json");
    evhttp_add_header(h, "User-Agent", "tresor");
    evhttp_add_header(h, "Connection", "close");
    if (bearer && *bearer) {
        snprintf(auth, sizeof(auth), "Bearer %s", bearer);
        evhttp_add_header(h, "Authorization", auth);
        sodium_memzero(auth, sizeof(auth));
    }
    /* by reference: the JWT in the body is not copied into libevent's buffers */
    evbuffer_add_reference(evhttp_request_get_output_buffer(req), body, body_len, NULL, NULL);
    if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, t->path) != 0)
        return TR_E_IO; /* libevent freed req */
    return TR_OK;
}

static int exchange(struct event_base *base, SSL *ssl, const struct http_target *t,
                    const char *bearer, const char *body, size_t body_len, int timeout_s,
                    struct http_result *r)
{
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    struct evhttp_connection *conn = NULL;
    struct timeval deadline = {timeout_s + 2, 0};
    int rc = TR_E_NOMEM;

    if (!bev) {
        SSL_free(ssl);
        return TR_E_NOMEM;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    if (!(conn = evhttp_connection_base_bufferevent_new(base, NULL, bev, t->host,
                                                        (unsigned short)t->port))) {
        bufferevent_free(bev); /* frees ssl too */
        return TR_E_NOMEM;
    }
    evhttp_connection_set_timeout(conn, timeout_s);
    evhttp_connection_set_retries(conn, 0);
    evhttp_connection_set_max_body_size(conn, AUTH_HTTP_BODY_MAX);
    evhttp_connection_set_max_headers_size(conn, 64 * 1024);
    r->base = base;
    r->bev = bev;
    r->rc = TR_E_IO; /* stays so when the deadline ends the loop first */
    if ((rc = request_send(conn, r, t, bearer, body, body_len)) == TR_OK) {
        event_base_loopexit(base, &deadline);
        event_base_dispatch(base);
        rc = r->rc;
    }
    r->bev = NULL;
    evhttp_connection_free(conn); /* frees the bufferevent and with it the SSL */
    return rc;
}

int auth_https_post(const char *url, const char *ca_pem, const char *bearer, const char *body,
                    size_t body_len, int timeout_s, int *out_status, char **out_body)
{
    struct http_target t;
    struct http_result r = {0};
    struct event_base *base = NULL;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    int rc;

    *out_status = 0;
    *out_body = NULL;
    if ((rc = target_parse(url, &t)) != TR_OK)
        return rc;
    if (!(ctx = client_ctx(ca_pem)))
        return TR_E_TLS;
    rc = TR_E_NOMEM;
    if (!(base = event_base_new()) || !(ssl = client_ssl(ctx, &t)))
        goto out;
    rc = exchange(base, ssl, &t, bearer, body, body_len, timeout_s, &r);
    if (rc == TR_OK) {
        *out_status = r.status;
        *out_body = r.body;
        r.body = NULL;
    }
out:
    free(r.body);
    if (base)
        event_base_free(base);
    SSL_CTX_free(ctx);
    return rc;
}
