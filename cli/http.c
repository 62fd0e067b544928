#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "../common/tr_json.h"

#define CLI_USER_AGENT "tresor-cli/0.1.0"

struct cli_http {
    const struct cli_config *cfg; /* borrowed */
    struct event_base *base;
    SSL_CTX *ctx;
    char host[256];        /* as connected to; IPv6 without brackets */
    char host_hdr[300];    /* Host header: [v6]:port or name:port */
    char verify_name[256]; /* what the certificate must name */
    bool verify_ip;        /* verify_name is an IP literal */
    int port;
};

/* One request in flight: what the callbacks report back to cli_http_request. */
struct xfer {
    struct event_base *base;
    struct cli_resp *resp;
    int rc;
    int req_err; /* enum evhttp_request_error, or -1 */
    bool done;
};

const char *cli_method_name(enum cli_method m)
{
    static const char *const names[] = {"GET", "PUT", "POST", "DELETE", "PATCH", "LIST", "HEAD"};
    return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

static void openssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "unknown error");
    ERR_clear_error();
}

static bool is_ip_literal(const char *s)
{
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

/* https://HOST[:PORT][/]; IPv6 hosts in brackets. Plain http would send tokens in clear. */
static int parse_addr(struct cli_http *h, const char *addr, char *err, size_t errlen)
{
    const char *p = addr, *end;
    int64_t port = 443;

    if (strncasecmp(p, "https://", 8) != 0) {
        snprintf(err, errlen,
                 "address \"%.200s\" must start with https:// (plain HTTP is not "
                 "supported: it would send tokens in clear)",
                 addr);
        return TR_E_CONFIG;
    }
    p += 8;
    if (*p == '[') {
        if (!(end = strchr(++p, ']')))
            goto bad;
    } else {
        end = p + strcspn(p, ":/?#");
    }
    if (end == p || (size_t)(end - p) >= sizeof(h->host))
        goto bad;
    memcpy(h->host, p, (size_t)(end - p));
    h->host[end - p] = '\0';
    p = end + (*end == ']');
    if (*p == ':') {
        char num[8];
        size_t n = strcspn(++p, "/?#");
        if (n == 0 || n >= sizeof(num))
            goto bad;
        memcpy(num, p, n);
        num[n] = '\0';
        if (!tr_parse_int64(num, &port) || port < 1 || port > 65535)
            goto bad;
        p += n;
    }
    if (*p && strcmp(p, "/") != 0)
        goto bad;
    h->port = (int)port;
    snprintf(h->host_hdr, sizeof(h->host_hdr), strchr(h->host, ':') ? "[%s]:%d" : "%s:%d", h->host,
             h->port);
    return TR_OK;
bad:
    snprintf(err, errlen, "invalid address \"%.200s\" (expected https://HOST[:PORT])", addr);
    return TR_E_CONFIG;
}

/* Like the vault CLI's CAPATH: every certificate file in the directory, no c_rehash needed.
 * Files that hold no certificate are skipped; skipping only makes verification stricter. */
static int load_capath(SSL_CTX *ctx, const char *dir, char *err, size_t errlen)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    DIR *d = opendir(dir);
    struct dirent *de;
    int loaded = 0;

    if (!d) {
        snprintf(err, errlen, "cannot open CA directory %.200s", dir);
        return TR_E_CONFIG;
    }
    while ((de = readdir(d))) {
        char path[4096];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (X509_STORE_load_file(store, path) == 1)
            loaded++;
        ERR_clear_error();
    }
    closedir(d);
    if (loaded == 0) {
        snprintf(err, errlen, "no CA certificate found in %.200s", dir);
        return TR_E_CONFIG;
    }
    return TR_OK;
}

static int tls_load(SSL_CTX *ctx, const struct cli_config *cfg, char *err, size_t errlen)
{
    char why[256];
    int rc;

    if (cfg->cacert && SSL_CTX_load_verify_file(ctx, cfg->cacert) != 1) {
        openssl_reason(why, sizeof(why));
        snprintf(err, errlen, "cannot load CA certificate %.200s: %s", cfg->cacert, why);
        return TR_E_CONFIG;
    }
    if (cfg->capath && (rc = load_capath(ctx, cfg->capath, err, errlen)) != TR_OK)
        return rc;
    if (!cfg->cacert && !cfg->capath && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errlen, "cannot load the system CA store");
        return TR_E_TLS;
    }
    if (cfg->client_cert &&
        (SSL_CTX_use_certificate_chain_file(ctx, cfg->client_cert) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, cfg->client_key, SSL_FILETYPE_PEM) != 1 ||
         SSL_CTX_check_private_key(ctx) != 1)) {
        openssl_reason(why, sizeof(why));
        snprintf(err, errlen, "cannot load client certificate/key: %s", why);
        return TR_E_CONFIG;
    }
    return TR_OK;
}

int cli_http_new(const struct cli_config *cfg, struct cli_http **out, char *err, size_t errlen)
{
    struct cli_http *h = calloc(1, sizeof(*h));
    int rc = TR_E_NOMEM;

    *out = NULL;
    if (!h)
        goto out;
    h->cfg = cfg;
    if ((rc = parse_addr(h, cfg->addr, err, errlen)) != TR_OK)
        goto out;
    snprintf(h->verify_name, sizeof(h->verify_name), "%s",
             cfg->server_name ? cfg->server_name : h->host);
    h->verify_ip = is_ip_literal(h->verify_name);
    rc = TR_E_TLS;
    if (!(h->base = event_base_new()) || !(h->ctx = SSL_CTX_new(TLS_client_method()))) {
        snprintf(err, errlen, "cannot set up the TLS client");
        goto out;
    }
    if (SSL_CTX_set_min_proto_version(h->ctx, TLS1_2_VERSION) != 1)
        goto out;
    SSL_CTX_set_options(h->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(h->ctx, cfg->skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if ((rc = tls_load(h->ctx, cfg, err, errlen)) != TR_OK)
        goto out;
    *out = h;
    h = NULL;
    rc = TR_OK;
out:
    cli_http_free(h);
    return rc;
}

void cli_http_free(struct cli_http *h)
{
    if (!h)
        return;
    SSL_CTX_free(h->ctx);
    if (h->base)
        event_base_free(h->base);
    free(h);
}

void cli_http_url(const struct cli_http *h, const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "https://%s/v1/%s", h->host_hdr, path);
}

/* ---- JSON and responses ----------------------------------------------------------------- */

void cli_json_wipe(json_t *v)
{
    const char *k;
    json_t *m;
    size_t i;

    if (json_is_string(v)) {
        OPENSSL_cleanse((char *)(uintptr_t)json_string_value(v), json_string_length(v));
    } else if (json_is_object(v)) {
        json_object_foreach(v, k, m)
        {
            cli_json_wipe(m);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, m)
        {
            cli_json_wipe(m);
        }
    }
}

void cli_resp_free(struct cli_resp *r)
{
    if (!r)
        return;
    cli_json_wipe(r->json);
    json_decref(r->json);
    if (r->body) {
        OPENSSL_cleanse(r->body, r->body_len);
        free(r->body);
    }
    memset(r, 0, sizeof(*r));
}

static void resp_parse_json(struct cli_resp *r)
{
    static const struct tr_json_limits lim = {TR_JSON_DEPTH_DEFAULT, 4000000};
    char why[128];
    size_t i = 0;

    while (i < r->body_len && isspace((unsigned char)r->body[i]))
        i++;
    if (i == r->body_len || (r->body[i] != '{' && r->body[i] != '['))
        return;
    if (tr_json_parse(r->body, r->body_len, &lim, &r->json, why, sizeof(why)) != TR_OK)
        r->json = NULL;
}

static int resp_collect(struct evhttp_request *req, struct cli_resp *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t len = evbuffer_get_length(in);
    unsigned char *p;

    r->status = evhttp_request_get_response_code(req);
    r->is_json_type = ct && strncasecmp(ct, "application/json", 16) == 0;
    if (len == 0)
        return TR_OK;
    if (len > CLI_HTTP_BODY_MAX)
        return TR_E_TOO_LARGE;
    if (!(p = evbuffer_pullup(in, -1)) || !(r->body = malloc(len + 1)))
        return TR_E_NOMEM;
    memcpy(r->body, p, len);
    r->body[len] = '\0';
    r->body_len = len;
    /* Wipe libevent's (now contiguous) copy: the body may be a secret. */
    OPENSSL_cleanse(p, len);
    evbuffer_drain(in, len);
    resp_parse_json(r);
    return TR_OK;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    struct xfer *x = arg;

    if (!req || evhttp_request_get_response_code(req) == 0) {
        x->rc = TR_E_IO;
    } else {
        x->rc = resp_collect(req, x->resp);
    }
    x->done = true;
    event_base_loopexit(x->base, NULL);
}

static void on_error(enum evhttp_request_error e, void *arg)
{
    struct xfer *x = arg;
    x->req_err = (int)e;
}

/* ---- request ---------------------------------------------------------------------------- */

static int uri_add_encoded(struct evbuffer *b, const char *s, bool keep_slash)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int rc =
            isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')
                ? evbuffer_add(b, s, 1)
                : evbuffer_add_printf(b, "%%%02X", c);
        if (rc < 0)
            return TR_E_NOMEM;
    }
    return TR_OK;
}

static int uri_add_query(struct evbuffer *b, const json_t *query, bool list)
{
    char sep = '?';
    const char *k;
    json_t *v, *item;
    size_t i;

    json_object_foreach((json_t *)query, k, v)
    {
        for (i = 0; i < (json_is_array(v) ? json_array_size(v) : 1); i++) {
            item = json_is_array(v) ? json_array_get(v, i) : v;
            if (!json_is_string(item))
                return TR_E_INVAL;
            if (evbuffer_add(b, &sep, 1) < 0 || uri_add_encoded(b, k, false) != TR_OK ||
                evbuffer_add(b, "=", 1) < 0 ||
                uri_add_encoded(b, json_string_value(item), false) != TR_OK)
                return TR_E_NOMEM;
            sep = '&';
        }
    }
    if (list && evbuffer_add_printf(b, "%clist=true", sep) < 0)
        return TR_E_NOMEM;
    return TR_OK;
}

static int build_uri(const struct cli_req *rq, char **out)
{
    struct evbuffer *b = evbuffer_new();
    const char *path = rq->path;
    size_t len;
    int rc = TR_E_NOMEM;

    *out = NULL;
    if (!b)
        return TR_E_NOMEM;
    while (*path == '/')
        path++;
    if (evbuffer_add(b, "/v1/", 4) < 0 || (rc = uri_add_encoded(b, path, true)) != TR_OK)
        goto out;
    if ((rc = uri_add_query(b, rq->query, rq->method == CLI_LIST)) != TR_OK)
        goto out;
    len = evbuffer_get_length(b);
    rc = TR_E_NOMEM;
    if (!(*out = malloc(len + 1)))
        goto out;
    evbuffer_remove(b, *out, len);
    (*out)[len] = '\0';
    rc = TR_OK;
out:
    evbuffer_free(b);
    return rc;
}

static SSL *ssl_new(const struct cli_http *h)
{
    SSL *ssl = SSL_new(h->ctx);
    X509_VERIFY_PARAM *param;

    if (!ssl)
        return NULL;
    if (!h->verify_ip && SSL_set_tlsext_host_name(ssl, h->verify_name) != 1)
        goto bad;
    if (h->cfg->skip_verify)
        return ssl;
    /* Name checks are part of chain verification: a failure aborts the handshake. */
    param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (h->verify_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, h->verify_name) != 1
                     : SSL_set1_host(ssl, h->verify_name) != 1)
        goto bad;
    return ssl;
bad:
    SSL_free(ssl);
    return NULL;
}

static int req_add_body(struct evhttp_request *req, const struct cli_req *rq)
{
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
    char *s = json_dumps(rq->body, JSON_COMPACT | JSON_ENCODE_ANY);
    char clen[32];
    size_t len;
    int rc = TR_E_NOMEM;

    if (!s)
        return TR_E_NOMEM;
    len = strlen(s);
    snprintf(clen, sizeof(clen), "%zu", len);
    if (evbuffer_add(evhttp_request_get_output_buffer(req), s, len) == 0 &&
        evhttp_add_header(hd, "Content-Type",
                          rq->content_type ? rq->content_type : "application/json") == 0 &&
        evhttp_add_header(hd, "Content-Length", clen) == 0)
        rc = TR_OK;
    OPENSSL_cleanse(s, len);
    free(s);
    return rc;
}

static int req_headers(const struct cli_http *h, struct evhttp_request *req,
                       const struct cli_req *rq)
{
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);

    if (evhttp_add_header(hd, "Host", h->host_hdr) != 0 ||
        evhttp_add_header(hd, "User-Agent", CLI_USER_AGENT) != 0 ||
        evhttp_add_header(hd, "X-Vault-Request", "true") != 0 ||
        evhttp_add_header(hd, "Connection", "close") != 0)
        return TR_E_NOMEM;
    /* evhttp refuses header values with CR/LF, so a bad token cannot inject headers. */
    if (rq->token && evhttp_add_header(hd, "X-Vault-Token", rq->token) != 0)
        return TR_E_INVAL;
    if (rq->body)
        return req_add_body(req, rq);
    if (rq->method == CLI_PUT || rq->method == CLI_POST || rq->method == CLI_PATCH)
        return evhttp_add_header(hd, "Content-Length", "0") == 0 ? TR_OK : TR_E_NOMEM;
    return TR_OK;
}

static enum evhttp_cmd_type evhttp_method(enum cli_method m)
{
    switch (m) {
    case CLI_PUT:
        return EVHTTP_REQ_PUT;
    case CLI_POST:
        return EVHTTP_REQ_POST;
    case CLI_DELETE:
        return EVHTTP_REQ_DELETE;
    case CLI_PATCH:
        return EVHTTP_REQ_PATCH;
    case CLI_HEAD:
        return EVHTTP_REQ_HEAD;
    case CLI_GET:
    case CLI_LIST:
        break;
    }
    return EVHTTP_REQ_GET;
}

/* One plain TCP connect to one address, bounded by a short timeout; 0 or the errno. */
static int probe_one(const struct evutil_addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t len = sizeof(err);

    if (fd < 0)
        return errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            err = poll(&pfd, 1, 3000) == 1 ? 0 : ETIMEDOUT;
            if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
    }
    close(fd);
    return err;
}

/* evhttp hides the socket error of a failed connect (errno is stale by the time we hear of
 * it), so find out directly: resolve, then try a bare TCP connect. Returns 0 when the server
 * accepts connections (the failure came later), -1 when the name does not resolve, else the
 * errno of the first address. */
static int connect_probe(const struct cli_http *h)
{
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct evutil_addrinfo *ai = NULL, *p;
    char port[8];
    int err = -1;

    snprintf(port, sizeof(port), "%d", h->port);
    if (evutil_getaddrinfo(h->host, port, &hints, &ai) != 0)
        return -1;
    for (p = ai; p; p = p->ai_next) {
        int e = probe_one(p);
        if (e == 0 || err == -1)
            err = e;
        if (e == 0)
            break;
    }
    evutil_freeaddrinfo(ai);
    return err;
}

/* Say why no answer came: certificate first (most useful), then TLS, then the socket. */
static int xfer_explain(const struct cli_http *h, const struct xfer *x, struct bufferevent *bev,
                        char *err, size_t errlen)
{
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e, last = 0;
    int probe;

    /* libevent also files bare SSL_get_error codes (SSL_ERROR_SYSCALL = 5) here when the
     * socket failed: those carry no library and say nothing beyond the socket error. */
    while (bev && (e = bufferevent_get_openssl_error(bev)))
        if (ERR_GET_LIB(e) != 0)
            last = e;
    if (vr != X509_V_OK) {
        snprintf(err, errlen, "TLS certificate verification failed for %s: %s", h->verify_name,
                 X509_verify_cert_error_string(vr));
        return TR_E_TLS;
    }
    if (last) {
        char why[256];
        ERR_error_string_n(last, why, sizeof(why));
        snprintf(err, errlen, "TLS handshake with %s failed: %s", h->host_hdr, why);
        return TR_E_TLS;
    }
    if (x->req_err == EVREQ_HTTP_TIMEOUT) {
        snprintf(err, errlen, "no answer from %s within %d s", h->host_hdr, h->cfg->timeout_secs);
        return TR_E_IO;
    }
    if (x->req_err == EVREQ_HTTP_DATA_TOO_LONG || x->rc == TR_E_TOO_LARGE) {
        snprintf(err, errlen, "the response from %s is too large", h->host_hdr);
        return TR_E_TOO_LARGE;
    }
    if (x->rc == TR_E_NOMEM) {
        snprintf(err, errlen, "out of memory");
        return TR_E_NOMEM;
    }
    probe = connect_probe(h);
    if (probe == -1)
        snprintf(err, errlen, "cannot resolve the server name %s", h->host);
    else if (probe != 0)
        snprintf(err, errlen, "cannot connect to %s: %s", h->host_hdr, strerror(probe));
    else
        snprintf(err, errlen, "%s closed the connection without an answer (is it a TLS server?)",
                 h->host_hdr);
    return TR_E_IO;
}

static struct evhttp_connection *conn_open(struct cli_http *h, struct bufferevent **out_bev)
{
    SSL *ssl = ssl_new(h);
    struct bufferevent *bev;
    struct evhttp_connection *evcon;

    *out_bev = NULL;
    if (!ssl)
        return NULL;
    /* On success the bufferevent owns ssl (BEV_OPT_CLOSE_ON_FREE frees it with the bev). */
    bev = bufferevent_openssl_socket_new(h->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                         BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev)
        return NULL;
    /* Servers may close without close_notify after a complete, length-delimited answer. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    evcon = evhttp_connection_base_bufferevent_new(h->base, NULL, bev, h->host,
                                                   (unsigned short)h->port);
    if (!evcon) {
        bufferevent_free(bev);
        return NULL;
    }
    evhttp_connection_set_timeout(evcon, h->cfg->timeout_secs);
    evhttp_connection_set_max_body_size(evcon, CLI_HTTP_BODY_MAX);
    evhttp_connection_set_max_headers_size(evcon, CLI_HTTP_HEADERS_MAX);
    evhttp_connection_set_retries(evcon, 0);
    *out_bev = bev;
    return evcon;
}

int cli_http_request(struct cli_http *h, const struct cli_req *rq, struct cli_resp *out, char *err,
                     size_t errlen)
{
    struct xfer x = {.base = h->base, .resp = out, .rc = TR_E_IO, .req_err = -1};
    struct evhttp_connection *evcon = NULL;
    struct evhttp_request *req = NULL;
    struct bufferevent *bev = NULL;
    char *uri = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = build_uri(rq, &uri)) != TR_OK) {
        snprintf(err, errlen, "cannot encode the request path");
        goto out;
    }
    rc = TR_E_TLS;
    if (!(evcon = conn_open(h, &bev))) {
        snprintf(err, errlen, "cannot set up a TLS connection");
        goto out;
    }
    rc = TR_E_NOMEM;
    if (!(req = evhttp_request_new(on_done, &x)))
        goto out;
    evhttp_request_set_error_cb(req, on_error);
    if ((rc = req_headers(h, req, rq)) != TR_OK) {
        snprintf(err, errlen,
                 rc == TR_E_INVAL ? "the token contains invalid characters" : "out of memory");
        evhttp_request_free(req);
        goto out;
    }
    /* The connection owns req from here, success or failure. */
    if (evhttp_make_request(evcon, req, evhttp_method(rq->method), uri) != 0) {
        rc = TR_E_IO;
        snprintf(err, errlen, "cannot send the request to %s", h->host_hdr);
        goto out;
    }
    event_base_dispatch(h->base);
    if (!x.done || x.rc != TR_OK) {
        rc = xfer_explain(h, &x, bev, err, errlen);
        cli_resp_free(out);
        goto out;
    }
    rc = TR_OK;
out:
    if (evcon)
        evhttp_connection_free(evcon);
    free(uri);
    return rc;
}
