#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/tr_log.h"

/* libevent 2.1 gives every method it does not know this type and no way to read its name; we
 * admit it and treat it as Vault's LIST verb (docs/api.md lists the deviation). */
#define HTTP_REQ_UNKNOWN 0x8000

struct pending;

struct worker {
    struct srv_http *h;
    pthread_t tid;
    bool started;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    evutil_socket_t fd;
    struct event *wake;
    struct event *drain_tick;
    pthread_mutex_t lock; /* guards the queue and stopping */
    struct pending *q_head, *q_tail;
    bool stopping;
    bool stopped_accepting;
    bool abandoned; /* drain deadline passed with requests in flight */
    int inflight;   /* worker thread only */
    struct timespec drain_deadline;
};

struct srv_http {
    struct srv_http_opts opts;
    struct api *api;
    pthread_mutex_t ctx_lock;
    SSL_CTX *ctx;
    struct worker *w;
    int nw;
    int port;
};

struct pending {
    struct worker *w;
    struct evhttp_request *req;
    struct api_req areq;
    char *uri_path, *query, *token, *ctype, *ns;
    uint8_t *body;
    char remote[INET6_ADDRSTRLEN];
    bool close_after;
    struct api_resp *resp;
    struct pending *next;
};

static void pending_free(struct pending *p)
{
    if (!p)
        return;
    free(p->uri_path);
    free(p->query);
    if (p->token) {
        /* a raw token is a secret: do not leave it in freed heap */
        OPENSSL_cleanse(p->token, strlen(p->token));
        free(p->token);
    }
    free(p->ctype);
    free(p->ns);
    free(p->body);
    api_resp_free(p->resp);
    free(p);
}

static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Request Entity Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static void send_reply(struct pending *p)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(p->req);
    struct evbuffer *buf = evbuffer_new();
    struct api_resp *r = p->resp;
    int status = r ? r->status : 500;
    char num[16];

    evhttp_add_header(hdr, "Cache-Control", "no-store");
    evhttp_add_header(hdr, "Content-Type",
                      r && r->content_type ? r->content_type : "application/json");
    if (p->ns)
        evhttp_add_header(hdr, "X-Vault-Namespace", p->ns);
    if (r && r->retry_after > 0) {
        snprintf(num, sizeof(num), "%d", r->retry_after);
        evhttp_add_header(hdr, "Retry-After", num);
    }
    if (p->close_after)
        evhttp_add_header(hdr, "Connection", "close");
    if (buf && r && r->body && !r->body_suppressed)
        evbuffer_add(buf, r->body, r->body_len);
    else if (buf && !r)
        evbuffer_add_printf(buf, "{\"errors\":[\"internal error\"]}");
    /* Safe even when the client has gone: libevent then just frees the request. */
    evhttp_send_reply(p->req, status, status_reason(status), buf);
    if (buf)
        evbuffer_free(buf);
    p->w->inflight--;
    pending_free(p);
}

static void on_api_done(void *arg, struct api_resp *resp)
{
    struct pending *p = arg;
    struct worker *w = p->w;

    p->resp = resp;
    if (pthread_equal(pthread_self(), w->tid)) {
        send_reply(p);
        return;
    }
    pthread_mutex_lock(&w->lock);
    p->next = NULL;
    if (w->q_tail)
        w->q_tail->next = p;
    else
        w->q_head = p;
    w->q_tail = p;
    pthread_mutex_unlock(&w->lock);
    event_active(w->wake, EV_READ, 0);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static const char *req_token(struct evkeyvalq *in)
{
    const char *t = evhttp_find_header(in, "X-Vault-Token");
    if (t)
        return t;
    const char *auth = evhttp_find_header(in, "Authorization");
    if (auth && strncmp(auth, "Bearer ", 7) == 0)
        return auth + 7;
    return NULL;
}

static enum api_method req_method(struct evhttp_request *req)
{
    switch ((int)evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return API_GET;
    case EVHTTP_REQ_HEAD:
        return API_HEAD;
    case EVHTTP_REQ_POST:
    case EVHTTP_REQ_PUT:
        return API_PUT;
    case EVHTTP_REQ_DELETE:
        return API_DELETE;
    case EVHTTP_REQ_PATCH:
        return API_PATCH;
    case EVHTTP_REQ_OPTIONS:
        return API_OPTIONS;
    case HTTP_REQ_UNKNOWN:
        return API_LIST;
    default:
        return API_OTHER;
    }
}

static int pending_fill(struct pending *p, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(body);
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t port = 0;

    p->areq.method = req_method(req);
    p->uri_path = dup_or_null(evhttp_uri_get_path(uri) ? evhttp_uri_get_path(uri) : "/");
    p->query = dup_or_null(evhttp_uri_get_query(uri));
    p->token = dup_or_null(req_token(in));
    p->ctype = dup_or_null(evhttp_find_header(in, "Content-Type"));
    p->ns = dup_or_null(evhttp_find_header(in, "X-Vault-Namespace"));
    if (!p->uri_path)
        return TR_E_NOMEM;
    if (blen) {
        if (!(p->body = malloc(blen)))
            return TR_E_NOMEM;
        evbuffer_remove(body, p->body, blen);
    }
    /* libevent 2.1 reads no body for GET/DELETE/LIST: bytes a client sent anyway would be parsed
     * as the next request, so such a connection is closed after the answer. */
    const char *cl = evhttp_find_header(in, "Content-Length");
    if (!blen && ((cl && strcmp(cl, "0") != 0) || evhttp_find_header(in, "Transfer-Encoding")))
        p->close_after = true;
    if (conn)
        evhttp_connection_get_peer(conn, &peer, &port);
    snprintf(p->remote, sizeof(p->remote), "%s", peer ? peer : "");
    p->areq.uri_path = p->uri_path;
    p->areq.query = p->query;
    p->areq.token = p->token;
    p->areq.content_type = p->ctype;
    p->areq.ns = p->ns;
    p->areq.body = p->body;
    p->areq.body_len = blen;
    p->areq.remote_ip = p->remote;
    return TR_OK;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct worker *w = arg;
    struct pending *p = calloc(1, sizeof(*p));

    if (!p) {
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    p->w = w;
    p->req = req;
    w->inflight++;
    if (pending_fill(p, req) != TR_OK) {
        p->resp = NULL;
        send_reply(p);
        return;
    }
    api_handle(w->h->api, &p->areq, on_api_done, p);
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    struct worker *w = arg;
    struct srv_http *h = w->h;
    SSL *ssl;

    pthread_mutex_lock(&h->ctx_lock);
    ssl = SSL_new(h->ctx);
    pthread_mutex_unlock(&h->ctx_lock);
    if (!ssl) {
        /* Returning NULL here makes libevent 2.1 fall back to a plaintext connection on the TLS
         * port. Serving secrets without TLS is worse than dying, and SSL_new only fails when the
         * process is out of memory. */
        tr_log_error("cannot allocate a TLS session; exiting rather than serving plaintext");
        abort();
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        tr_log_error("cannot allocate a TLS connection; exiting rather than serving plaintext");
        abort(); /* same reason as above */
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct timespec now;

    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (w->inflight == 0) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    if (now.tv_sec > w->drain_deadline.tv_sec ||
        (now.tv_sec == w->drain_deadline.tv_sec && now.tv_nsec >= w->drain_deadline.tv_nsec)) {
        tr_log_warn("drain deadline passed with %d request(s) in flight", w->inflight);
        w->abandoned = true;
        event_base_loopbreak(w->base);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct pending *p;
    bool stopping;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&w->lock);
    p = w->q_head;
    w->q_head = w->q_tail = NULL;
    stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    while (p) {
        struct pending *next = p->next;
        send_reply(p);
        p = next;
    }
    if (stopping && !w->stopped_accepting) {
        struct timeval tick = {0, 20000};
        w->stopped_accepting = true;
        evhttp_del_accept_socket(w->http, w->bound); /* closes the listening socket */
        w->bound = NULL;
        w->fd = -1;
        w->drain_tick = event_new(w->base, -1, EV_PERSIST, on_drain_tick, w);
        if (!w->drain_tick) {
            event_base_loopexit(w->base, NULL);
            return;
        }
        event_add(w->drain_tick, &tick);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

static int listen_socket(const struct sockaddr *sa, int salen, evutil_socket_t *out)
{
    int one = 1;
    evutil_socket_t fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return TR_E_IO;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, sa, (socklen_t)salen) != 0 || listen(fd, 1024) != 0) {
        close(fd);
        return TR_E_IO;
    }
    *out = fd;
    return TR_OK;
}

static int sock_port(evutil_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static int worker_init(struct worker *w, struct srv_http *h, evutil_socket_t fd)
{
    w->h = h;
    w->fd = fd;
    pthread_mutex_init(&w->lock, NULL);
    if (!(w->base = event_base_new()) || !(w->http = evhttp_new(w->base)) ||
        !(w->wake = event_new(w->base, -1, EV_PERSIST, on_wake, w)))
        return TR_E_NOMEM;
    event_add(w->wake, NULL);
    evhttp_set_allowed_methods(w->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
                                   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | HTTP_REQ_UNKNOWN);
    evhttp_set_max_body_size(w->http, h->opts.max_body);
    evhttp_set_max_headers_size(w->http, h->opts.max_headers);
    evhttp_set_timeout(w->http, h->opts.idle_timeout_s);
    evhttp_set_bevcb(w->http, on_new_conn, w);
    evhttp_set_gencb(w->http, on_request, w);
    if (!(w->bound = evhttp_accept_socket_with_handle(w->http, fd)))
        return TR_E_IO;
    return TR_OK;
}

/* evutil refuses port 0, which tests use to let the kernel pick a free port. */
static int parse_address(const char *addr, struct sockaddr_storage *ss, int *salen)
{
    char tmp[300];
    size_t n = strlen(addr);

    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)ss, salen) == 0)
        return TR_OK;
    if (n < 2 || n >= sizeof(tmp) || strcmp(addr + n - 2, ":0") != 0)
        return TR_E_CONFIG;
    snprintf(tmp, sizeof(tmp), "%.*s:1", (int)(n - 2), addr);
    if (evutil_parse_sockaddr_port(tmp, (struct sockaddr *)ss, salen) != 0)
        return TR_E_CONFIG;
    set_port(ss, 0);
    return TR_OK;
}

int srv_http_start(const struct srv_http_opts *opts, SSL_CTX *ctx, struct api *api,
                   struct srv_http **out, char *err, size_t errlen)
{
    struct srv_http *h = calloc(1, sizeof(*h));
    struct sockaddr_storage ss;
    int salen = sizeof(ss);
    int rc = TR_E_NOMEM;

    *out = NULL;
    if (!h)
        return TR_E_NOMEM;
    h->opts = *opts;
    h->api = api;
    h->ctx = ctx;
    pthread_mutex_init(&h->ctx_lock, NULL);
    if (parse_address(opts->address, &ss, &salen) != TR_OK) {
        snprintf(err, errlen, "invalid listener address: %s", opts->address);
        rc = TR_E_CONFIG;
        goto out;
    }
    if (!(h->w = calloc((size_t)opts->workers, sizeof(*h->w))))
        goto out;
    h->nw = opts->workers;
    for (int i = 0; i < h->nw; i++) {
        evutil_socket_t fd = -1;
        h->w[i].fd = -1;
        if (listen_socket((struct sockaddr *)&ss, salen, &fd) != TR_OK) {
            snprintf(err, errlen, "cannot listen on %s: %s", opts->address, strerror(errno));
            rc = TR_E_IO;
            goto out;
        }
        if (i == 0) {
            h->port = sock_port(fd);
            set_port(&ss, h->port); /* port 0: the others join the port the first one got */
        }
        if ((rc = worker_init(&h->w[i], h, fd)) != TR_OK) {
            close(fd);
            snprintf(err, errlen, "cannot start HTTP worker");
            goto out;
        }
    }
    for (int i = 0; i < h->nw; i++) {
        if (pthread_create(&h->w[i].tid, NULL, worker_main, &h->w[i]) != 0) {
            snprintf(err, errlen, "cannot start worker threads");
            rc = TR_E_NOMEM;
            goto out;
        }
        h->w[i].started = true;
    }
    *out = h;
    h = NULL;
    rc = TR_OK;
out:
    if (h) {
        srv_http_stop(h, 0);
        srv_http_free(h);
    }
    return rc;
}

int srv_http_port(const struct srv_http *h)
{
    return h->port;
}

void srv_http_reload_tls(struct srv_http *h, SSL_CTX *ctx)
{
    pthread_mutex_lock(&h->ctx_lock);
    h->ctx = ctx;
    pthread_mutex_unlock(&h->ctx_lock);
}

void srv_http_stop(struct srv_http *h, int drain_ms)
{
    struct timespec now;

    if (!h)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    for (int i = 0; i < h->nw; i++) {
        struct worker *w = &h->w[i];
        if (!w->started)
            continue;
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        w->drain_deadline.tv_sec = now.tv_sec + drain_ms / 1000;
        w->drain_deadline.tv_nsec = now.tv_nsec + (long)(drain_ms % 1000) * 1000000L;
        if (w->drain_deadline.tv_nsec >= 1000000000L) {
            w->drain_deadline.tv_sec++;
            w->drain_deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_unlock(&w->lock);
        event_active(w->wake, EV_READ, 0);
    }
    for (int i = 0; i < h->nw; i++) {
        if (h->w[i].started) {
            pthread_join(h->w[i].tid, NULL);
            h->w[i].started = false;
        }
    }
}

void srv_http_free(struct srv_http *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->nw; i++) {
        struct worker *w = &h->w[i];
        if (w->abandoned)
            continue; /* in-flight requests still point into it; the process is exiting */
        if (w->http)
            evhttp_free(w->http);
        else if (w->fd >= 0)
            close(w->fd);
        if (w->wake)
            event_free(w->wake);
        if (w->drain_tick)
            event_free(w->drain_tick);
        if (w->base)
            event_base_free(w->base);
        pthread_mutex_destroy(&w->lock);
    }
    free(h->w);
    pthread_mutex_destroy(&h->ctx_lock);
    free(h);
}
