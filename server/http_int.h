/*
 * http_int - internals shared by http.c (workers, requests, answers) and http_conn.c (the
 * connection guard: counting, caps, deadlines). Nothing outside those two files includes it.
 *
 * Every TLS connection owns one struct srv_conn, hung on its SSL object as ex_data: the SSL is
 * freed exactly when libevent frees the connection (whatever the reason), and the ex_data free
 * callback is our close hook. A srv_conn is touched only from its worker's thread, except
 * during srv_http_free when the workers have stopped.
 */
#ifndef SRV_HTTP_INT_H
#define SRV_HTTP_INT_H

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "http.h"
#include "ratelimit.h"

struct pending;
struct srv_conn;

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
    struct event *cap_ev; /* re-checks the connection cap on this worker's thread */
    pthread_mutex_t lock; /* guards the queue and stopping */
    struct pending *q_head, *q_tail;
    bool stopping;
    bool stopped_accepting;
    bool abandoned;         /* drain deadline passed with requests in flight */
    bool accept_paused;     /* worker thread only: listener disabled by the cap */
    int inflight;           /* worker thread only */
    struct srv_conn *conns; /* worker thread only: live connections */
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
    struct srv_rl *rl;
    size_t input_max;    /* unparsed request bytes a connection may buffer (see http_conn.c) */
    atomic_size_t live;  /* connections whose SSL object still exists, all workers */
    atomic_bool closing; /* srv_http_free has begun: no more cross-worker wake-ups */
};

/* srv_conn_setup - register the SSL ex_data slot (once per process). Errors: TR_E_NOMEM. */
TR_MUST_CHECK int srv_conn_setup(void);

/* srv_conn_new - account a just-accepted connection on w and hang its state on ssl. Called from
 * the evhttp bufferevent callback, on w's thread, inside w's listener callback. Returns NULL
 * only when out of memory. */
struct srv_conn *srv_conn_new(struct worker *w, SSL *ssl);

/* srv_conn_attach - bev (owning ssl) now exists: watch its input and start the deadlines. */
void srv_conn_attach(struct srv_conn *c, struct bufferevent *bev);

/* srv_conn_of_req - the connection a request arrived on; NULL once libevent has detached the
 * request (client gone). Valid until control returns to the event loop. */
struct srv_conn *srv_conn_of_req(struct evhttp_request *req);

/* srv_conn_ssl - the connection's TLS session (borrowed, same lifetime as c). */
SSL *srv_conn_ssl(const struct srv_conn *c);

/* srv_conn_key - the rate-limit key of the client; false until the peer address is known. */
bool srv_conn_key(const struct srv_conn *c, struct srv_rl_key *out);

/* srv_conn_busy - a whole request arrived and is being answered: no deadline while api/ works.
 * srv_conn_idle - its answer is queued (evhttp_send_reply): gather it into one TLS record, have
 * it written in this loop turn rather than after the next epoll_wait, and start the keep-alive
 * deadline. */
void srv_conn_busy(struct srv_conn *c);
void srv_conn_idle(struct srv_conn *c);

/* srv_conn_method - the method token of the request last passed to srv_conn_busy, as the client
 * sent it ("" when unknown or longer than 15 bytes); libevent 2.1 does not keep the name of a
 * method it does not know. Borrowed, valid until the next srv_conn_busy on c. */
const char *srv_conn_method(const struct srv_conn *c);

/* srv_conn_cap_cb - the cap_ev callback: pause or resume this worker's listener. */
void srv_conn_cap_cb(evutil_socket_t fd, short what, void *arg);

/* srv_conn_teardown - before evhttp_free on a stopped worker: stop every deadline timer so the
 * frees that follow never touch an event queued in the dying base. */
void srv_conn_teardown(struct worker *w);

/* srv_now_ms - monotonic milliseconds. */
uint64_t srv_now_ms(void);

#endif
