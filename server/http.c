#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/tr_log.h"
#include "http_int.h"

/* libevent 2.1 gives every method it does not know this type (and keeps no name: http_conn.c
 * reads the token off the wire). Admitted, so that LIST reaches us and the rest get our 405. */
#define HTTP_REQ_UNKNOWN 0x8000

#define RL_CAPACITY_SPARE 4096 /* limiter entries beyond one per possible connection */
#define FD_RESERVE        64   /* descriptors for listeners, LMDB, logs, TPM */
#define LOG_PATH_MAX      200
#define INPUT_SLACK       65536 /* pipelined bytes beyond one request's head and body */

struct pending {
    struct worker *w;
    struct evhttp_request *req;
    struct api_req areq;
    char *uri_path, *query, *token, *ctype, *ns, *wrap;
    uint8_t *body;
    uint8_t *peer_der; /* OPENSSL_malloc'd */
    char remote[INET6_ADDRSTRLEN];
    const char *method; /* static */
    uint64_t t0_ms;
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
    free(p->wrap);
    if (p->body) /* request bodies carry secret values and shares */
        OPENSSL_cleanse(p->body, p->areq.body_len);
    free(p->body);
    OPENSSL_free(p->peer_der);
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
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
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

/* Copy src into out (outlen bytes, always terminated): printable ASCII stays, '"' and '\\' get
 * a backslash, every other byte becomes \u00XX. The result is a valid JSON string body and a single
 * unambiguous log token; input that does not fit ends in "...". */
static void esc_copy(char *out, size_t outlen, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (; *src; src++) {
        unsigned char ch = (unsigned char)*src;
        bool quote = ch == '"' || ch == '\\';
        bool plain = ch >= 0x20 && ch < 0x7f && !quote;
        size_t need = plain ? 1 : quote ? 2 : 6;
        if (o + need + 4 > outlen) {
            if (o + 4 <= outlen) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (plain) {
            out[o++] = (char)ch;
        } else if (quote) {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[ch >> 4];
            out[o + 5] = hex[ch & 15];
            o += 6;
        }
    }
    out[o] = '\0';
}

/* The path as api/ routes it: percent-decoded, every run of '/' collapsed to one. Decoded NUL
 * bytes become '?' (api/ refuses control bytes; here they must not hide what follows). NULL when
 * out of memory. */
static char *path_norm(const char *raw)
{
    size_t n = 0, w = 0;
    char *p = evhttp_uridecode(raw, 0, &n);

    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(p[i] == '/' && w > 0 && p[w - 1] == '/'))
            p[w++] = p[i] ? p[i] : '?';
    p[w] = '\0';
    return p;
}

/* Where the token starts in a normalised auth/token/<op>/<token> path (legacy endpoints carry
 * it there), wherever those segments stand and in any case; NULL when there is none. */
static const char *token_tail(const char *norm)
{
    static const char tok[] = "auth/token/";

    for (const char *s = norm; *s; s++) {
        if ((s != norm && s[-1] != '/') || strncasecmp(s, tok, sizeof(tok) - 1) != 0)
            continue;
        const char *slash = strchr(s + sizeof(tok) - 1, '/');
        return slash && slash[1] ? slash + 1 : NULL;
    }
    return NULL;
}

/* The raw path, unless it carries a token once decoded and collapsed ("auth//%74oken/lookup/x"
 * routes as "auth/token/lookup/x"): then the normalised path up to the token. */
static void log_path(char *out, size_t outlen, const char *path)
{
    char tmp[LOG_PATH_MAX];
    char *norm = path ? path_norm(path) : NULL;
    const char *tail = norm ? token_tail(norm) : NULL;

    if (!path || !norm) {
        snprintf(out, outlen, "-"); /* out of memory: nothing unchecked goes to the log */
    } else {
        if (tail) {
            snprintf(tmp, sizeof(tmp), "%.*s<redacted>", (int)(tail - norm), norm);
            path = tmp;
        }
        esc_copy(out, outlen, path);
    }
    free(norm);
}

static void access_log(const struct pending *p, int status)
{
    char path[LOG_PATH_MAX];

    if (!tr_log_enabled(TR_LOG_DEBUG))
        return;
    log_path(path, sizeof(path), p->uri_path);
    tr_log_debug("%s %s %d %llums %s", p->method ? p->method : "-", path, status,
                 (unsigned long long)(srv_now_ms() - p->t0_ms), p->remote[0] ? p->remote : "-");
}

static void send_reply(struct pending *p)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(p->req);
    struct evbuffer *out = evhttp_request_get_output_buffer(p->req);
    struct api_resp *r = p->resp;
    int status = r ? r->status : 500;
    /* Looked up before sending: a detached request is freed by evhttp_send_reply. */
    struct srv_conn *c = srv_conn_of_req(p->req);
    char num[24];

    evhttp_add_header(hdr, "Cache-Control", "no-store");
    evhttp_add_header(hdr, "Content-Type",
                      r && r->content_type ? r->content_type : "application/json");
    if (p->ns)
        evhttp_add_header(hdr, "X-Vault-Namespace", p->ns);
    if (r && r->retry_after > 0) {
        snprintf(num, sizeof(num), "%d", r->retry_after);
        evhttp_add_header(hdr, "Retry-After", num);
    }
    /* while draining, keep-alive clients learn to reconnect (to the next instance) */
    if (p->close_after || p->w->stopped_accepting)
        evhttp_add_header(hdr, "Connection", "close");
    if (r && r->body && !r->body_suppressed)
        evbuffer_add(out, r->body, r->body_len);
    else if (!r)
        evbuffer_add_printf(out, "{\"errors\":[\"internal error\"]}");
    /* libevent 2.1 frames no answer to a CONNECT (it expects a tunnel): say where it ends */
    if (evhttp_request_get_command(p->req) == EVHTTP_REQ_CONNECT) {
        snprintf(num, sizeof(num), "%zu", evbuffer_get_length(out));
        evhttp_add_header(hdr, "Content-Length", num);
    }
    /* Safe even when the client has gone: libevent then just frees the request. */
    evhttp_send_reply(p->req, status, status_reason(status), NULL);
    if (c)
        srv_conn_idle(c); /* evhttp_send_reply only queues: the connection still exists */
    access_log(p, status);
    p->w->inflight--;
    pending_free(p);
}

/* The message of an error libevent answers itself (see evhttp_send_error below). */
static const char *libevent_error_msg(const struct evhttp_request *req, int status)
{
    switch (status) {
    case 400:
        return "malformed HTTP request";
    case 413: /* libevent gives a corrupt chunk the code of an oversized one */
        return req->chunked ? "malformed or too large chunked request body"
                            : "http: request body too large";
    case 417:
        return "expectation failed";
    case 501:
        return "method not implemented";
    default:
        return "internal error";
    }
}

/*
 * libevent 2.1 answers by itself what it cannot parse: a malformed request line, header field,
 * Content-Length or chunk (400), a request head over max_header_bytes (400), a body over
 * max_request_bytes (413), an Expect other than 100-continue (417). It does so through its
 * exported evhttp_send_error, whose page is HTML and which offers no hook. Those calls go
 * through libevent's PLT, so this definition in the executable takes their place (ELF symbol
 * interposition: libevent is a shared library here) and clients get Vault's error envelope.
 * tests/integration/test_http_errors.sh checks that they still do.
 */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    struct evbuffer *body = evhttp_request_get_output_buffer(req);
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t port = 0;

    evhttp_clear_headers(hdr);
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    evhttp_add_header(hdr, "Content-Type", "application/json");
    /* what follows a request libevent could not parse cannot be framed: close, as libevent does */
    evhttp_add_header(hdr, "Connection", "close");
    evbuffer_drain(body, evbuffer_get_length(body));
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        evbuffer_add_printf(body, "{\"errors\":[\"%s\"]}", libevent_error_msg(req, error));
    /* A request line that did not parse left no version; libevent's own page says 1.1 too. */
    if (req->major != 1 || (req->minor != 0 && req->minor != 1)) {
        req->major = 1;
        req->minor = 1;
    }
    if (conn && tr_log_enabled(TR_LOG_DEBUG)) {
        evhttp_connection_get_peer(conn, &peer, &port);
        tr_log_debug("- - %d 0ms %s (answered by libevent)", error, peer ? peer : "-");
    }
    evhttp_send_reply(req, error, reason ? reason : status_reason(error), NULL);
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

/* The api/ verb of a request and its name for the log. TRACE, CONNECT and every method libevent
 * does not know but LIST map to API_OTHER, which the front end answers with 405. */
static enum api_method req_method(struct evhttp_request *req, const struct srv_conn *c,
                                  const char **out_name)
{
    static const struct {
        int cmd;
        enum api_method m;
        const char *name;
    } map[] = {
        {EVHTTP_REQ_GET, API_GET, "GET"},
        {EVHTTP_REQ_HEAD, API_HEAD, "HEAD"},
        {EVHTTP_REQ_POST, API_PUT, "POST"},
        {EVHTTP_REQ_PUT, API_PUT, "PUT"},
        {EVHTTP_REQ_DELETE, API_DELETE, "DELETE"},
        {EVHTTP_REQ_PATCH, API_PATCH, "PATCH"},
        {EVHTTP_REQ_OPTIONS, API_OPTIONS, "OPTIONS"},
        {EVHTTP_REQ_TRACE, API_OTHER, "TRACE"},
        {EVHTTP_REQ_CONNECT, API_OTHER, "CONNECT"},
    };
    int cmd = (int)evhttp_request_get_command(req);

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].cmd == cmd) {
            *out_name = map[i].name;
            return map[i].m;
        }
    }
    /* libevent 2.1 gives every other method one code: the token read off the wire tells LIST
     * (method names are case-sensitive, as in Vault) from the rest */
    if (cmd == HTTP_REQ_UNKNOWN && c && strcmp(srv_conn_method(c), "LIST") == 0) {
        *out_name = "LIST";
        return API_LIST;
    }
    *out_name = "OTHER";
    return API_OTHER;
}

/* What logging and the pre-api checks need: method, raw path, client address, framing. */
static int pending_fill_head(struct pending *p, struct evhttp_request *req,
                             const struct srv_conn *c)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *cl = evhttp_find_header(in, "Content-Length");
    char *peer = NULL;
    ev_uint16_t port = 0;

    p->areq.method = req_method(req, c, &p->method);
    /* libevent 2.1 reads no body for HEAD, TRACE and methods it does not know (LIST among
     * them): bytes a client sent anyway would be parsed as the next request, so such a
     * connection is closed after the answer. */
    if (!evbuffer_get_length(evhttp_request_get_input_buffer(req)) &&
        ((cl && strcmp(cl, "0") != 0) || evhttp_find_header(in, "Transfer-Encoding")))
        p->close_after = true;
    p->uri_path = dup_or_null(evhttp_uri_get_path(uri) ? evhttp_uri_get_path(uri) : "/");
    if (conn)
        evhttp_connection_get_peer(conn, &peer, &port);
    snprintf(p->remote, sizeof(p->remote), "%s", peer ? peer : "");
    return p->uri_path ? TR_OK : TR_E_NOMEM;
}

/* The verified client certificate, when the listener asked for one and the client sent it. */
static int pending_fill_cert(struct pending *p, struct srv_conn *c)
{
    SSL *ssl = c ? srv_conn_ssl(c) : NULL;
    X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    unsigned char *der = NULL;
    int n;

    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
        return TR_OK;
    if ((n = i2d_X509(cert, &der)) <= 0)
        return TR_E_NOMEM;
    p->peer_der = der;
    p->areq.peer_cert_der = der;
    p->areq.peer_cert_der_len = (size_t)n;
    return TR_OK;
}

static int pending_fill(struct pending *p, struct evhttp_request *req, struct srv_conn *c)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(body);

    p->query = dup_or_null(evhttp_uri_get_query(uri));
    p->token = dup_or_null(req_token(in));
    p->ctype = dup_or_null(evhttp_find_header(in, "Content-Type"));
    p->ns = dup_or_null(evhttp_find_header(in, "X-Vault-Namespace"));
    p->wrap = dup_or_null(evhttp_find_header(in, "X-Vault-Wrap-TTL"));
    if (pending_fill_cert(p, c) != TR_OK)
        return TR_E_NOMEM;
    if (blen) {
        if (!(p->body = malloc(blen)))
            return TR_E_NOMEM;
        evbuffer_remove(body, p->body, blen);
    }
    p->areq.uri_path = p->uri_path;
    p->areq.query = p->query;
    p->areq.token = p->token;
    p->areq.content_type = p->ctype;
    p->areq.ns = p->ns;
    p->areq.wrap_ttl = p->wrap;
    p->areq.body = p->body;
    p->areq.body_len = blen;
    p->areq.remote_ip = p->remote;
    return TR_OK;
}

/* The limiter class of a raw request path, or -1. Matched on the path as api/ will see it
 * (path_norm), so "%6cogin" cannot dodge the login bucket. sys/storage/recover takes the same
 * unauthenticated key shares as sys/unseal, so it shares the unseal bucket. */
static int path_rl_class(const char *raw)
{
    char *norm;
    const char *p;
    int cls = -1;

    if (strncmp(raw, "/v1/", 4) != 0 || !(norm = path_norm(raw + 4)))
        return -1;
    for (p = norm; *p == '/'; p++)
        ;
    if (strcmp(p, "sys/unseal") == 0 || strcmp(p, "sys/unseal/") == 0 ||
        strcmp(p, "sys/storage/recover") == 0 || strcmp(p, "sys/storage/recover/") == 0) {
        cls = SRV_RL_UNSEAL;
    } else if (strncmp(p, "auth/", 5) == 0) {
        /* auth/<mount...>/login...: any segment after the first that starts with "login" */
        const char *seg = strchr(p + 5, '/');
        for (; seg && cls < 0; seg = strchr(seg + 1, '/'))
            if (strncmp(seg + 1, "login", 5) == 0)
                cls = SRV_RL_LOGIN;
    }
    free(norm);
    return cls;
}

/* A JSON error answered by the front end itself: {"errors":["msg"]}, or {"errors":[]} for a
 * NULL msg. NULL when out of memory. */
static struct api_resp *resp_error(const struct pending *p, int status, const char *msg,
                                   int retry_after)
{
    struct api_resp *r = calloc(1, sizeof(*r));
    char esc[1024];
    size_t cap;

    if (!r)
        return NULL;
    esc_copy(esc, sizeof(esc), msg ? msg : "");
    cap = strlen(esc) + 32;
    if (!(r->body = malloc(cap))) {
        free(r);
        return NULL;
    }
    if (msg)
        r->body_len = (size_t)snprintf(r->body, cap, "{\"errors\":[\"%s\"]}", esc);
    else
        r->body_len = (size_t)snprintf(r->body, cap, "{\"errors\":[]}");
    r->status = status;
    r->content_type = "application/json";
    r->retry_after = retry_after;
    r->body_suppressed = p->areq.method == API_HEAD;
    return r;
}

static size_t header_count(struct evhttp_request *req)
{
    const struct evkeyval *e = evhttp_request_get_input_headers(req)->tqh_first;
    size_t n = 0;

    for (; e; e = e->next.tqe_next)
        n++;
    return n;
}

/* RFC 9110 5.6.2: a field name is a token. */
static bool field_name_ok(const char *k)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (!*k)
        return false;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              strchr(extra, *k)))
            return false;
    return true;
}

/*
 * Framing that libevent 2.1 accepts but another HTTP parser could read differently, so a proxy
 * in front of Tresor and Tresor would disagree on where a request ends or where it goes
 * (request smuggling): libevent frames the body by the first of several Content-Length fields,
 * takes "+2" as 2, keeps "Content-Length :" as another field (no body), reads a
 * Transfer-Encoding other than chunked as none and takes any number of Host fields. Such a
 * request is refused and its connection closed, as Go's server (Vault's) refuses them (libevent
 * itself refuses chunked with a Content-Length, and two Transfer-Encoding fields). Returns the
 * status (0: fine) and *msg.
 */
static int framing_error(struct evhttp_request *req, const char **msg)
{
    const struct evkeyval *e = evhttp_request_get_input_headers(req)->tqh_first;
    const char *cl = NULL;
    size_t hosts = 0;

    for (; e; e = e->next.tqe_next) {
        if (!field_name_ok(e->key)) {
            *msg = "malformed HTTP request: invalid header field name";
            return 400;
        }
        if (!strcasecmp(e->key, "Host")) {
            hosts++;
        } else if (!strcasecmp(e->key, "Transfer-Encoding")) {
            if (strcasecmp(e->value, "chunked") != 0) {
                *msg = "unsupported transfer encoding";
                return 501;
            }
        } else if (!strcasecmp(e->key, "Content-Length")) {
            if (!*e->value || strspn(e->value, "0123456789") != strlen(e->value)) {
                *msg = "bad Content-Length";
                return 400;
            }
            if (cl && strcmp(cl, e->value) != 0) {
                *msg = "http: message cannot contain multiple Content-Length headers";
                return 400;
            }
            cl = e->value;
        }
    }
    /* RFC 9112 3.2: exactly one Host in HTTP/1.1 (a proxy may route by another one) */
    if (hosts > 1 || (hosts == 0 && req->minor == 1)) {
        *msg = hosts ? "too many Host headers" : "missing required Host header";
        return 400;
    }
    return 0;
}

/* What must never reach api/: oversized request heads and clients over their rate. Returns
 * true when it answered (p->resp set, or NULL for 500 when out of memory). */
static bool precheck(struct pending *p, struct srv_conn *c)
{
    const char *uri = evhttp_request_get_uri(p->req);
    struct srv_rl_key key;
    const char *fmsg = NULL;
    char msg[512];
    int cls, retry = 0, status;

    /* libevent 2.1 takes any "HTTP/%d.%d" with a major of at most 1 and echoes it in the status
     * line ("HTTP/0.9 200 OK", "HTTP/1.-1 ..."). A later 1.x is read as 1.1 (RFC 9112 2.3); the
     * rest is no HTTP we speak. */
    if (p->req->major == 1 && p->req->minor > 1)
        p->req->minor = 1;
    if (p->req->major != 1 || p->req->minor < 0) {
        p->req->major = 1;
        p->req->minor = 1;
        p->close_after = true;
        p->resp = resp_error(p, 400, "malformed HTTP request", 0);
        return true;
    }
    if ((status = framing_error(p->req, &fmsg)) != 0) {
        p->close_after = true; /* where the next request starts is in doubt */
        p->resp = resp_error(p, status, fmsg, 0);
        return true;
    }
    /* Draining (SIGTERM): answers already under way finish, nothing new reaches api/. A request
     * that reached api/ now would also outlive the worker that must answer it. */
    if (p->w->stopped_accepting) {
        p->close_after = true;
        p->resp = resp_error(p, 503, "server is shutting down", 0);
        return true;
    }
    if (uri && strlen(uri) > SRV_HTTP_URI_MAX) {
        p->close_after = true;
        p->resp = resp_error(p, 414, "request URI too long", 0);
        return true;
    }
    if (header_count(p->req) > SRV_HTTP_HEADERS_MAX) {
        p->close_after = true;
        p->resp = resp_error(p, 431, "too many request header fields", 0);
        return true;
    }
    if (p->areq.method == API_OTHER) {
        p->resp = resp_error(p, 405, NULL, 0); /* Vault's answer: {"errors":[]} */
        return true;
    }
    if ((cls = path_rl_class(p->uri_path)) < 0 || !c || !srv_conn_key(c, &key))
        return false;
    if (srv_rl_take(p->w->h->rl, &key, (enum srv_rl_class)cls, srv_now_ms(), &retry) == TR_OK)
        return false;
    snprintf(msg, sizeof(msg), "request path \"%.256s\": rate limit quota exceeded",
             p->uri_path + 4); /* path_rl_class matched "/v1/" */
    p->resp = resp_error(p, 429, msg, retry);
    return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct worker *w = arg;
    struct srv_conn *c = srv_conn_of_req(req);
    struct pending *p = calloc(1, sizeof(*p));

    if (c)
        srv_conn_busy(c);
    if (!p) {
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    p->w = w;
    p->req = req;
    p->t0_ms = srv_now_ms();
    w->inflight++;
    if (pending_fill_head(p, req, c) != TR_OK || precheck(p, c) ||
        pending_fill(p, req, c) != TR_OK) {
        send_reply(p); /* precheck's answer, else p->resp is NULL: 500 */
        return;
    }
    api_handle(w->h->api, &p->areq, on_api_done, p);
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    struct worker *w = arg;
    struct srv_http *h = w->h;
    struct srv_conn *c;
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
    if (!(c = srv_conn_new(w, ssl))) {
        /* Same reason: an unaccounted connection would escape every limit, and a small
         * allocation only fails when the process is out of memory. */
        tr_log_error("cannot allocate connection state; exiting rather than serving unlimited");
        abort();
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        tr_log_error("cannot allocate a TLS connection; exiting rather than serving plaintext");
        abort(); /* same reason as above */
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    srv_conn_attach(c, bev);
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
    /* A listener paused by the connection cap may leave the base with nothing registered;
     * the loop must keep waiting for cap_ev and wake. Stopping always goes through loopexit or
     * loopbreak (on_wake, on_drain_tick). */
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
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
        /* accepted sockets inherit it: an answer over one TLS record is several writes, and
         * without it the last one meets Nagle and the client's delayed ACK (a 40 ms floor) */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
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

/* Each request switches its connection between reading and writing several times (evhttp
 * turns reading off when a request is complete, writing on for the answer, reading back on to
 * notice a close, writing off once sent). With the changelist epoll sees only the net change
 * of each loop turn instead of one epoll_ctl per switch. Its one hazard, descriptors cloned
 * with dup(), does not arise: every socket here comes from accept() or socket(). */
static struct event_base *worker_base_new(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

static int worker_init(struct worker *w, struct srv_http *h, evutil_socket_t fd)
{
    w->h = h;
    w->fd = fd;
    pthread_mutex_init(&w->lock, NULL);
    if (!(w->base = worker_base_new()) || !(w->http = evhttp_new(w->base)) ||
        !(w->wake = event_new(w->base, -1, EV_PERSIST, on_wake, w)) ||
        !(w->cap_ev = event_new(w->base, -1, 0, srv_conn_cap_cb, w)))
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

static bool opts_valid(const struct srv_http_opts *o)
{
    return o->workers >= 1 && o->max_connections >= 1 && o->max_connections_per_ip >= 1 &&
           o->max_connections <= SRV_RL_CAPACITY_MAX - RL_CAPACITY_SPARE &&
           o->max_connections_per_ip <= UINT32_MAX && o->idle_timeout_s >= 1 &&
           o->header_timeout_s >= 1 && o->request_timeout_s >= 1;
}

/* Every connection is a descriptor: make room for the cap (raising the soft limit towards the
 * hard one), or say that accept() will fail first. */
static void fd_limit_check(size_t max_connections, int workers)
{
    rlim_t need = (rlim_t)max_connections + (rlim_t)workers + FD_RESERVE;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        tr_log_warn("RLIMIT_NOFILE %llu is below listener.max_connections + %d: accept may fail "
                    "before the connection limit applies",
                    (unsigned long long)rl.rlim_cur, workers + FD_RESERVE);
}

static int limits_init(struct srv_http *h, char *err, size_t errlen)
{
    const struct srv_http_opts *o = &h->opts;
    struct srv_rl_opts ro = {
        .capacity = o->max_connections + RL_CAPACITY_SPARE,
        .rates = {[SRV_RL_LOGIN] = o->login_rate, [SRV_RL_UNSEAL] = o->unseal_rate},
        .max_conns_per_key = (uint32_t)o->max_connections_per_ip,
    };
    int rc;

    if (srv_conn_setup() != TR_OK)
        return TR_E_NOMEM;
    if ((rc = srv_rl_new(&ro, &h->rl)) != TR_OK) {
        snprintf(err, errlen, "invalid listener rate limits");
        return rc == TR_E_INVAL ? TR_E_CONFIG : rc;
    }
    fd_limit_check(o->max_connections, o->workers);
    h->input_max = o->max_body + o->max_headers + INPUT_SLACK;
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
    if (!opts_valid(opts)) {
        snprintf(err, errlen, "invalid listener limits");
        rc = TR_E_CONFIG;
        goto out;
    }
    if (parse_address(opts->address, &ss, &salen) != TR_OK) {
        snprintf(err, errlen, "invalid listener address: %s", opts->address);
        rc = TR_E_CONFIG;
        goto out;
    }
    if ((rc = limits_init(h, err, errlen)) != TR_OK)
        goto out;
    rc = TR_E_NOMEM;
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
            if (!h->w[i].bound) {
                close(fd);
                h->w[i].fd = -1; /* srv_http_free would close it again */
            }
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
    bool abandoned = false;

    if (!h)
        return;
    /* From here connection frees (run by event_base_free) must not wake other workers. */
    atomic_store(&h->closing, true);
    for (int i = 0; i < h->nw; i++) {
        struct worker *w = &h->w[i];
        if (w->abandoned) {
            abandoned = true;
            continue; /* in-flight requests still point into it; the process is exiting */
        }
        srv_conn_teardown(w);
        if (w->http)
            evhttp_free(w->http);
        else if (w->fd >= 0)
            close(w->fd);
        if (w->wake)
            event_free(w->wake);
        if (w->drain_tick)
            event_free(w->drain_tick);
        if (w->cap_ev)
            event_free(w->cap_ev);
        if (w->base)
            event_base_free(w->base); /* runs libevent's pending frees: our conns go here */
        pthread_mutex_destroy(&w->lock);
    }
    if (abandoned) {
        /* A late answer (a pool job, an audit sync released by api_free) still marshals to
         * its worker through h->w: keep it all; the process is exiting. */
        tr_log_warn("leaving %d worker(s) with requests in flight allocated at exit", h->nw);
        return;
    }
    srv_rl_free(h->rl);
    free(h->w);
    pthread_mutex_destroy(&h->ctx_lock);
    free(h);
}
