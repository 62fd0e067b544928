/*
 * The connection guard: live-connection caps, per-client caps and absolute deadlines.
 *
 * libevent 2.1's evhttp has no connection limit, no close hook for server connections and only
 * inactivity timeouts (reset by every byte, so a client trickling one byte a second holds a
 * connection forever). We hang a struct srv_conn on each SSL object as ex_data; its free
 * callback runs when libevent frees the connection, whatever the path. To close a connection we
 * never free libevent objects ourselves: we shut the socket down, libevent then sees EOF (or a
 * failed write), frees the connection by its own path, and the SSL free releases our state. The
 * descriptor cannot have been reused meanwhile: libevent closes it in the same destructor that
 * frees the SSL, which also frees (and so stops) our timer.
 */
#include "http_int.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/tr_log.h"

#define CAP_WARN_EVERY_MS 10000
#define METHOD_MAX        16    /* bytes of a request line kept to read its method token */
#define TLS_RECORD_MAX    16384 /* plaintext bytes in one TLS record */

enum conn_state {
    CONN_READING, /* TLS handshake, request line, headers */
    CONN_BODY,    /* headers complete, body still arriving */
    CONN_BUSY,    /* whole request delivered; api/ is answering */
    CONN_IDLE,    /* answer queued; keep-alive until the next request's first byte */
    CONN_CLOSING, /* shut down by us; libevent will free it */
};

struct srv_conn {
    struct worker *w;
    SSL *ssl;
    struct bufferevent *bev;
    struct event *timer; /* first run: peer checks; then the current deadline */
    struct evbuffer_cb_entry *in_cb;
    struct srv_conn *prev, *next; /* w->conns */
    enum conn_state state;
    bool inited;
    bool has_key;
    bool ip_counted;
    bool method_want;            /* the next request's line starts at offset 0 of the input */
    unsigned lf_run;             /* consecutive line ends seen while looking for the header end */
    char method[METHOD_MAX];     /* method token of the request being read ("" if unknown) */
    char req_method[METHOD_MAX]; /* ... and of the request last handed to srv_conn_busy */
    uint64_t t_start_ms;         /* accept, first byte of the request, or the answer (idle) */
    struct srv_rl_key key;
    char remote[INET6_ADDRSTRLEN];
};

static int conn_idx = -1;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t cap_warned_ms;

uint64_t srv_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- listener pause/resume ---------------------------------------------------------------- */

/* evhttp creates its listeners without LEV_OPT_THREADSAFE: only the owning thread may touch
 * them, so other workers are asked through their cap_ev. */
static void cap_apply(struct worker *w)
{
    struct srv_http *h = w->h;
    bool full = atomic_load(&h->live) >= h->opts.max_connections;
    struct evconnlistener *l;

    if (!w->bound || w->stopped_accepting || full == w->accept_paused)
        return;
    if (!(l = evhttp_bound_socket_get_listener(w->bound)))
        return;
    if (full)
        evconnlistener_disable(l);
    else
        evconnlistener_enable(l);
    w->accept_paused = full;
    tr_log_debug("worker %d: accepting %s (%zu live)", (int)(w - h->w), full ? "paused" : "resumed",
                 (size_t)atomic_load(&h->live));
}

static void cap_wake_others(struct srv_http *h, const struct worker *self)
{
    if (atomic_load(&h->closing))
        return; /* other workers' events may already be freed */
    for (int i = 0; i < h->nw; i++)
        if (&h->w[i] != self && h->w[i].cap_ev)
            event_active(h->w[i].cap_ev, EV_READ, 0);
}

static void cap_warn(size_t live)
{
    uint64_t now = srv_now_ms(), last = atomic_load(&cap_warned_ms);

    if (last && now - last < CAP_WARN_EVERY_MS)
        return;
    if (atomic_compare_exchange_strong(&cap_warned_ms, &last, now))
        tr_log_warn("%zu live connections: at the limit, new clients wait in the backlog", live);
}

void srv_conn_cap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cap_apply(arg);
}

/* ---- deadlines ---------------------------------------------------------------------------- */

static void conn_kill(struct srv_conn *c, const char *why)
{
    int fd = SSL_get_fd(c->ssl);

    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_CLOSING;
    event_del(c->timer);
    tr_log_debug("closing connection from %s: %s", c->remote[0] ? c->remote : "?", why);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

static void conn_arm(struct srv_conn *c)
{
    const struct srv_http_opts *o = &c->w->h->opts;
    uint64_t limit_s, due, now = srv_now_ms();
    struct timeval tv;

    switch (c->state) {
    case CONN_READING:
        limit_s = (uint64_t)(o->header_timeout_s < o->request_timeout_s ? o->header_timeout_s
                                                                        : o->request_timeout_s);
        break;
    case CONN_BODY:
        limit_s = (uint64_t)o->request_timeout_s;
        break;
    case CONN_IDLE:
        limit_s = (uint64_t)o->idle_timeout_s;
        break;
    default:
        event_del(c->timer);
        return;
    }
    due = c->t_start_ms + limit_s * 1000u;
    due = due > now ? due - now : 0;
    tv.tv_sec = (time_t)(due / 1000u);
    tv.tv_usec = (suseconds_t)(due % 1000u) * 1000;
    event_add(c->timer, &tv);
}

static void addr_str(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    const void *a = ss->ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

    if (!inet_ntop(ss->ss_family, a, out, (socklen_t)outlen))
        snprintf(out, outlen, "?");
}

/* First run, right after libevent gave the connection its socket: per-client checks. */
static void conn_init(struct srv_conn *c)
{
    struct srv_http *h = c->w->h;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd = SSL_get_fd(c->ssl);

    c->inited = true;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0 ||
        srv_rl_key_from_addr((struct sockaddr *)&ss, len, &c->key) != TR_OK) {
        conn_kill(c, "no peer address");
        return;
    }
    c->has_key = true;
    addr_str(&ss, c->remote, sizeof(c->remote));
    /* Workers race between noticing the cap and pausing: refuse the few that slip past. */
    if (atomic_load(&h->live) > h->opts.max_connections) {
        conn_kill(c, "connection limit reached");
        return;
    }
    if (srv_rl_conn_add(h->rl, &c->key) != TR_OK) {
        conn_kill(c, "per-client connection limit reached");
        return;
    }
    c->ip_counted = true;
    conn_arm(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv_conn *c = arg;

    (void)fd;
    (void)what;
    if (!c->inited) {
        conn_init(c);
        return;
    }
    switch (c->state) {
    case CONN_READING:
        conn_kill(c, "handshake/header deadline passed");
        break;
    case CONN_BODY:
        conn_kill(c, "request deadline passed");
        break;
    case CONN_IDLE:
        conn_kill(c, "keep-alive deadline passed");
        break;
    default:
        break;
    }
}

/* Advance the header-end search over bytes [off, end of buf): an empty line ends the headers
 * (evhttp accepts LF or CRLF line ends, so CR is ignored). Copies out in small steps rather
 * than peeking, because a buffer may hold empty chains that would stall a peek loop. */
static bool scan_eoh(struct srv_conn *c, struct evbuffer *buf, size_t off)
{
    size_t len = evbuffer_get_length(buf);
    unsigned char tmp[512];
    struct evbuffer_ptr pos;

    if (off >= len || evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET) != 0)
        return false;
    while (off < len) {
        size_t want = len - off < sizeof(tmp) ? len - off : sizeof(tmp);
        ev_ssize_t n = evbuffer_copyout_from(buf, &pos, tmp, want);
        if (n <= 0)
            return false;
        for (ev_ssize_t j = 0; j < n; j++) {
            if (tmp[j] == '\n') {
                if (++c->lf_run >= 2)
                    return true;
            } else if (tmp[j] != '\r') {
                c->lf_run = 0;
            }
        }
        off += (size_t)n;
        if (off < len && evbuffer_ptr_set(buf, &pos, (size_t)n, EVBUFFER_PTR_ADD) != 0)
            return false;
    }
    return false;
}

/* libevent 2.1 keeps no trace of a method it does not know (every one gets the same code), so
 * the token is read here, from the request line as it arrives: evhttp removes nothing from the
 * input before the whole line is there, and the line starts at offset 0 of the input whenever
 * method_want is set (a new connection, or the previous request consumed whole). */
static void scan_method(struct srv_conn *c, struct evbuffer *buf)
{
    char tmp[METHOD_MAX];
    ev_ssize_t n = evbuffer_copyout(buf, tmp, sizeof(tmp));
    const char *sp;

    if (n <= 0)
        return;
    sp = memchr(tmp, ' ', (size_t)n);
    if (!sp && (size_t)n < sizeof(tmp))
        return; /* the token may still be growing */
    c->method_want = false;
    c->method[0] = '\0'; /* a token of METHOD_MAX bytes or more is no method we serve */
    if (sp) {
        memcpy(c->method, tmp, (size_t)(sp - tmp));
        c->method[sp - tmp] = '\0';
    }
}

/* Decrypted bytes entering the connection: starts a keep-alive request's clock and notices when
 * its headers are complete, so a slow body is judged by the request deadline only. */
static void conn_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct srv_conn *c = arg;
    size_t len = evbuffer_get_length(buf);

    if (info->n_added == 0)
        return;
    /* evhttp drains nothing it cannot parse yet. Its own caps stop an endless request line or
     * header block, but not a chunk-size line that never ends: those bytes would pile up here
     * until the request deadline. A legitimate request never leaves more than a head, a
     * Content-Length body (held whole until complete) and a little pipelined input. */
    if (len > c->w->h->input_max) {
        conn_kill(c, "unparsed request input over the size limits");
        return;
    }
    if (c->method_want)
        scan_method(c, buf);
    if (c->state == CONN_IDLE) {
        /* evhttp consumed the previous request whole: the buffer starts at a line start */
        c->state = CONN_READING;
        c->t_start_ms = srv_now_ms();
        c->lf_run = 1;
        if (scan_eoh(c, buf, 0))
            c->state = CONN_BODY;
        conn_arm(c);
    } else if (c->state == CONN_READING) {
        if (scan_eoh(c, buf, info->n_added < len ? len - info->n_added : 0)) {
            c->state = CONN_BODY;
            conn_arm(c);
        }
    }
}

/* ---- lifetime ----------------------------------------------------------------------------- */

static void conn_release(struct srv_conn *c)
{
    struct worker *w = c->w;
    struct srv_http *h = w->h;

    /* We run inside libevent's bufferevent destructor: the input buffer still exists. */
    if (c->in_cb && c->bev)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
    event_free(c->timer);
    if (c->ip_counted)
        srv_rl_conn_del(h->rl, &c->key);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    if (atomic_fetch_sub(&h->live, 1) == h->opts.max_connections) {
        if (!atomic_load(&h->closing) && w->cap_ev)
            event_active(w->cap_ev, EV_READ, 0);
        cap_wake_others(h, w);
    }
}

static void conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (ptr)
        conn_release(ptr);
}

static void conn_register(void)
{
    conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_ex_free);
}

int srv_conn_setup(void)
{
    pthread_once(&conn_once, conn_register);
    return conn_idx < 0 ? TR_E_NOMEM : TR_OK;
}

struct srv_conn *srv_conn_new(struct worker *w, SSL *ssl)
{
    struct srv_http *h = w->h;
    struct srv_conn *c = calloc(1, sizeof(*c));
    size_t live;

    if (!c)
        return NULL;
    c->w = w;
    c->ssl = ssl;
    c->state = CONN_READING;
    c->method_want = true;
    c->t_start_ms = srv_now_ms();
    if (!(c->timer = evtimer_new(w->base, conn_timer_cb, c)) ||
        !SSL_set_ex_data(ssl, conn_idx, c)) {
        if (c->timer)
            event_free(c->timer);
        free(c);
        return NULL;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    live = atomic_fetch_add(&h->live, 1) + 1;
    if (live >= h->opts.max_connections) {
        cap_apply(w); /* inside our own listener's callback, which allows disabling it */
        cap_wake_others(h, w);
        cap_warn(live);
    }
    return c;
}

void srv_conn_attach(struct srv_conn *c, struct bufferevent *bev)
{
    c->bev = bev;
    /* Without the watcher (out of memory) the header deadline also covers the body. */
    c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), conn_input_cb, c);
    /* The socket is attached after this callback returns: check the peer on the next turn. */
    event_active(c->timer, EV_TIMEOUT, 0);
}

struct srv_conn *srv_conn_of_req(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

    return ssl ? SSL_get_ex_data(ssl, conn_idx) : NULL;
}

SSL *srv_conn_ssl(const struct srv_conn *c)
{
    return c->ssl;
}

bool srv_conn_key(const struct srv_conn *c, struct srv_rl_key *out)
{
    if (!c->has_key)
        return false;
    *out = c->key;
    return true;
}

void srv_conn_busy(struct srv_conn *c)
{
    /* A request without a watched line (no input watcher: out of memory) has no known token. */
    if (c->method_want)
        c->req_method[0] = '\0';
    else
        memcpy(c->req_method, c->method, sizeof(c->req_method));
    /* What evhttp left in the input (a pipelined request) is the start of the next one. */
    c->method_want = true;
    if (c->bev)
        scan_method(c, bufferevent_get_input(c->bev));
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_BUSY;
    c->lf_run = 0;
    event_del(c->timer);
}

const char *srv_conn_method(const struct srv_conn *c)
{
    return c->req_method;
}

void srv_conn_idle(struct srv_conn *c)
{
    struct evbuffer *out = c->bev ? bufferevent_get_output(c->bev) : NULL;
    size_t len = out ? evbuffer_get_length(out) : 0;

    /* evhttp queued the status line and headers in one chain and the body in another, and
     * bufferevent_openssl turns every chain into its own TLS record and write(2), so its own
     * TCP segment. Made contiguous (nothing is written before we return), an answer up to the
     * record size leaves in one record, one write and one segment. */
    if (len > 1)
        (void)evbuffer_pullup(out, (ev_ssize_t)(len < TLS_RECORD_MAX ? len : TLS_RECORD_MAX));
    /* bufferevent_openssl writes only when epoll reports the socket writable, a loop turn and
     * two epoll changes later. A fresh answer nearly always fits the socket buffer: run the
     * pending write now (this turn); if the socket is full, it waits for epoll as before. */
    if (len && SSL_get_fd(c->ssl) >= 0)
        event_base_active_by_fd(c->w->base, SSL_get_fd(c->ssl), EV_WRITE);
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_IDLE;
    c->t_start_ms = srv_now_ms();
    conn_arm(c);
}

void srv_conn_teardown(struct worker *w)
{
    for (struct srv_conn *c = w->conns; c; c = c->next)
        event_del(c->timer);
}
