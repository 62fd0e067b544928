/*
 * fuzz_http - the network-facing front end end to end: the real server (server/http.c,
 * http_conn.c: libevent's evhttp over bufferevent_openssl, our caps, deadlines, prechecks and
 * error envelope) in front of api/ over a real store, reached through a real TLS connection.
 * Once per process the daemon's `-dev` path runs in a scratch directory (srv_config_dev, dev
 * certificates, devkey seal, api_start initialising and unsealing with KV v2 at secret/, one
 * root token), listening on 127.0.0.1:0 with one worker, a 64 KiB body limit and 1-2 s deadlines.
 * Input: the raw byte stream of one client connection (request lines, headers, bodies,
 * pipelining; "@TOKEN@" in an X-Vault-Token or Authorization line becomes the root token). The
 * harness writes it over TLS, sends close_notify once the server has been quiet for 5 ms and
 * reads until the server closes (about 200 inputs a second).
 * Invariants: the answers are a sequence of well-framed HTTP/1.x responses; each status is one
 * the docs list (sys/health's configurable codes aside) and never 500; every final answer carries
 * Cache-Control: no-store and a Content-Type, and a body that parses as JSON when it says
 * application/json (only the two documented raw endpoints answer anything else, with 200); the
 * root token appears in an answer only when the input asked an auth/token endpoint (lookup-self
 * returns it, as in Vault); every input's handshake succeeds; the server survives and answers
 * GET /v1/sys/health with 200 on a fresh connection every HEALTH_EVERY inputs and at exit, and
 * then holds no connection any more (none leaked).
 * FUZZ_HTTP_TRACE=1 prints what the server answered to each input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../api/api.h"
#include "../server/config.h"
#include "../server/http.h"
#include "../server/http_int.h" /* the live connection count */
#include "../server/tls.h"
#include "util.h"

#define IN_MAX       (80u * 1024) /* a bit over max_body: the 413 path stays reachable */
#define ANSWER_MAX   (4u * 1024 * 1024)
#define READ_MS      3000 /* the server's own deadlines are 1-2 s: past this it hangs */
#define HEALTH_EVERY 64
#define QUIET_MS     5 /* see exchange() */
#define PLACEHOLDER  "@TOKEN@"

static struct srv_config *cfg;
static SSL_CTX *srv_ctx, *cli_ctx;
static struct api *api;
static struct srv_http *http;
static int port;
static char root[128];
static unsigned long inputs;
static bool trace;

static void teardown(void)
{
    if (http) {
        srv_http_stop(http, 2000);
        srv_http_free(http);
    }
    api_free(api);
    SSL_CTX_free(srv_ctx);
    SSL_CTX_free(cli_ctx);
    srv_config_free(cfg);
    enc_fini();
    sodium_memzero(root, sizeof(root));
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz: %s\n", what);
    exit(2);
}

/* What main.c does for `tresord -dev`, with short limits so a stalled input ends quickly. */
static void setup(void)
{
    static char dir[256], tls_dir[300], ca[320];
    static struct api_opts ao = {.version = "fuzz", .build_date = "2024-01-01T00:00:00Z"};
    struct enc_config ecfg;
    char *tok = NULL, *share = NULL, err[512];

    fuzz_init();
    signal(SIGPIPE, SIG_IGN); /* a write to a connection the server closed is ordinary here */
    if (evthread_use_pthreads() != 0)
        die("evthread_use_pthreads");
    snprintf(dir, sizeof(dir), "%s/srv", fuzz_scratch());
    snprintf(tls_dir, sizeof(tls_dir), "%s/tls", dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", tls_dir);
    if (srv_config_dev(dir, "127.0.0.1:0", &cfg) != TR_OK || mkdir(dir, 0700) != 0 ||
        srv_tls_dev_certs(tls_dir) != TR_OK || srv_config_enclave(cfg, &ecfg) != TR_OK ||
        enc_init(&ecfg) != TR_OK)
        die("cannot prepare the dev core");
    if (srv_tls_ctx_new(cfg->tls_cert_file, cfg->tls_key_file, NULL, cfg->tls_profile, &srv_ctx,
                        err, sizeof(err)) != TR_OK)
        die(err);
    ao.data_dir = cfg->storage_path;
    ao.dev = true;
    if (api_new(&ao, &api) != TR_OK || api_start(api, &tok, &share) != TR_OK || !tok ||
        strlen(tok) >= sizeof(root) || strncmp(tok, "hvs.", 4) != 0)
        die("api_start did not initialise the dev core");
    memcpy(root, tok, strlen(tok) + 1);
    sodium_memzero(tok, strlen(tok));
    free(tok);
    if (share)
        sodium_memzero(share, strlen(share));
    free(share);

    struct srv_http_opts ho = {
        .address = "127.0.0.1:0",
        .workers = 1,
        .max_body = 64 * 1024,
        .max_headers = 8 * 1024,
        .idle_timeout_s = 1,
        .header_timeout_s = 1,
        .request_timeout_s = 2,
        .max_connections = 64,
        .max_connections_per_ip = 64,
        .login_rate = {(uint32_t)cfg->login_rate_per_s, (uint32_t)cfg->login_burst},
        .unseal_rate = {(uint32_t)cfg->unseal_rate_per_s, (uint32_t)cfg->unseal_burst},
    };
    if (srv_http_start(&ho, srv_ctx, api, &http, err, sizeof(err)) != TR_OK)
        die(err);
    port = srv_http_port(http);
    /* The client trusts the dev CA only, as `tresor` would with -ca-cert. */
    if (!(cli_ctx = SSL_CTX_new(TLS_client_method())) ||
        SSL_CTX_load_verify_locations(cli_ctx, ca, NULL) != 1)
        die("client TLS context");
    SSL_CTX_set_verify(cli_ctx, SSL_VERIFY_PEER, NULL);
    atexit(teardown); /* after fuzz_init's: runs first, before the scratch dir goes */
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Whether a blocking SSL call that returned r should be made again (a timeout or a signal). */
static bool is_retry(SSL *ssl, int r)
{
    int e = SSL_get_error(ssl, r);

    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
           (e == SSL_ERROR_SYSCALL && errno == EINTR);
}

/* One TLS connection: send req, read the answers, close our side (close_notify) once the server
 * has been quiet for QUIET_MS, and read until the server closes. Returns true when the answer
 * ended with the server's clean close, false on the client deadline or a reset.
 * Why not close at once: libevent 2.1 frees a connection whose EOF it reads, and the 400/413/417
 * it answers itself to a request it could not parse is still queued at that moment (lost). An
 * answer from api/ is not affected (evhttp stops reading while api/ works), so a slow write
 * that outlasts QUIET_MS still arrives. */
static bool exchange(const char *req, size_t len, struct fuzz_str *ans)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {1, 0};
    uint64_t deadline = now_ms() + READ_MS;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    SSL *ssl = NULL;
    bool closed = false, shut = false;
    char tmp[16384];

    FUZZ_CHECK(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    /* libFuzzer's SIGALRM (its -timeout clock) interrupts blocking calls: EINTR means again */
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc != 0 && errno == EINTR) { /* the connection goes on: wait for it */
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        while (poll(&pfd, 1, READ_MS) < 0 && errno == EINTR)
            ;
        rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0 ? 0 : -1;
    }
    FUZZ_CHECK(rc == 0); /* the server still listens */
    FUZZ_CHECK((ssl = SSL_new(cli_ctx)) != NULL);
    SSL_set_fd(ssl, fd);
    while ((rc = SSL_connect(ssl)) != 1 && is_retry(ssl, rc) && now_ms() < deadline)
        ;
    if (rc != 1) { /* the handshake precedes any fuzzed byte */
        fprintf(stderr, "fuzz: TLS handshake failed (errno %d, %lu live connections): ", errno,
                (unsigned long)atomic_load(&http->live));
        ERR_print_errors_fp(stderr);
        FUZZ_CHECK(!"the server completes a fresh client's handshake");
    }
    for (size_t off = 0; off < len && now_ms() < deadline;) {
        size_t n = len - off < sizeof(tmp) ? len - off : sizeof(tmp);
        int w = SSL_write(ssl, req + off, (int)n);
        if (w > 0)
            off += (size_t)w;
        else if (!is_retry(ssl, w))
            break; /* the server answered and closed before reading everything: fine */
    }
    /* Reading without blocking: a session ticket alone must not hold SSL_read for SO_RCVTIMEO. */
    FUZZ_CHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
    while (ans->len < ANSWER_MAX) {
        uint64_t now = now_ms();
        if (now >= deadline)
            break;
        errno = 0;
        int r = SSL_read(ssl, tmp, sizeof(tmp));
        if (r > 0) {
            fuzz_str_add(ans, tmp, (size_t)r);
            continue;
        }
        if (!is_retry(ssl, r)) {
            /* close_notify or a bare EOF (a socket shut down at a deadline). A reset is not a
             * clean end: a server that closes with our bytes unread makes the kernel send RST,
             * which may discard the end of its answer in flight (no lingering close in libevent) */
            closed = errno != ECONNRESET;
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int wait = shut ? (int)(deadline - now) : QUIET_MS;
        if (poll(&pfd, 1, wait) == 0 && !shut) {
            (void)SSL_shutdown(ssl); /* TLS 1.3 keeps our read side open */
            shut = true;
        }
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return closed;
}

/* The input with "@TOKEN@" replaced by the root token in token header lines only, so the token
 * never reaches a path, a body or another header the server might store or echo. */
static void build_request(const uint8_t *data, size_t size, struct fuzz_str *out)
{
    const char *p = (const char *)data, *end = p + size;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl + 1 : end;
        bool tok_line = (le - p > 14 && !strncasecmp(p, "x-vault-token:", 14)) ||
                        (le - p > 14 && !strncasecmp(p, "authorization:", 14));
        const char *s = p;
        while (tok_line && s < le) {
            const char *hit = memmem(s, (size_t)(le - s), PLACEHOLDER, sizeof(PLACEHOLDER) - 1);
            if (!hit)
                break;
            fuzz_str_add(out, s, (size_t)(hit - s));
            fuzz_str_add(out, root, strlen(root));
            s = hit + sizeof(PLACEHOLDER) - 1;
        }
        fuzz_str_add(out, s, (size_t)(le - s));
        p = le;
    }
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The input as the router may see it: %XX decoded once, runs of '/' collapsed. */
static char *decoded(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    size_t w = 0;

    FUZZ_CHECK(o != NULL);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (!(c == '/' && w > 0 && o[w - 1] == '/'))
            o[w++] = c;
    }
    o[w] = '\0';
    return o;
}

struct answer {
    int status;
    const char *ctype, *cache; /* header values (into the answer buffer), or NULL */
    size_t ctype_len, cache_len;
    const char *body;
    size_t body_len;
    char *dechunked; /* owned, when the body came chunked */
};

/* The value of header name in [h, e), or NULL. */
static const char *header(const char *h, const char *e, const char *name, size_t *out_len)
{
    size_t nl = strlen(name);

    while (h < e) {
        const char *le = memmem(h, (size_t)(e - h), "\r\n", 2);
        if (!le)
            le = e;
        if ((size_t)(le - h) > nl && h[nl] == ':' && !strncasecmp(h, name, nl)) {
            const char *v = h + nl + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            *out_len = (size_t)(le - v);
            return v;
        }
        h = le + 2;
    }
    return NULL;
}

/* Parse one response at *pp (of left bytes); on success advance *pp. A response that is cut is
 * accepted only when the client gave up first (!closed): the server must not close mid-answer. */
static bool parse_answer(const char **pp, size_t *left, bool closed, struct answer *a)
{
    const char *p = *pp, *end = p + *left, *eoh, *v;
    size_t vlen, hl;

    memset(a, 0, sizeof(*a));
    FUZZ_CHECK(*left >= 13 || !closed);
    if (*left < 13)
        return false;
    /* the request's version: HTTP/1.0 clients get 1.0 answers */
    FUZZ_CHECK(!memcmp(p, "HTTP/1.1 ", 9) || !memcmp(p, "HTTP/1.0 ", 9));
    FUZZ_CHECK(p[9] >= '1' && p[9] <= '9' && p[10] >= '0' && p[10] <= '9' && p[11] >= '0' &&
               p[11] <= '9' && p[12] == ' ');
    a->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    eoh = memmem(p, *left, "\r\n\r\n", 4);
    FUZZ_CHECK(eoh != NULL || !closed);
    if (!eoh)
        return false;
    hl = (size_t)(eoh - p) + 4;
    a->ctype = header(p, eoh + 2, "Content-Type", &a->ctype_len);
    a->cache = header(p, eoh + 2, "Cache-Control", &a->cache_len);
    p += hl;
    if ((v = header(*pp, eoh + 2, "Content-Length", &vlen))) {
        char num[24];
        snprintf(num, sizeof(num), "%.*s", (int)(vlen < 20 ? vlen : 20), v);
        size_t n = strtoull(num, NULL, 10);
        FUZZ_CHECK(n <= (size_t)(end - p) || !closed);
        if (n > (size_t)(end - p))
            return false;
        a->body = p;
        a->body_len = n;
        p += n;
    } else if ((v = header(*pp, eoh + 2, "Transfer-Encoding", &vlen))) {
        struct fuzz_str b = {0};
        FUZZ_CHECK(vlen == 7 && !strncasecmp(v, "chunked", 7));
        for (;;) {
            char *stop;
            const char *le = memmem(p, (size_t)(end - p), "\r\n", 2);
            FUZZ_CHECK(le || !closed);
            if (!le)
                goto cut;
            size_t n = strtoull(p, &stop, 16), avail = (size_t)(end - le) - 2;
            FUZZ_CHECK(stop != p);
            p = le + 2;
            FUZZ_CHECK(n + 2 <= avail || !closed);
            if (n + 2 > avail)
                goto cut;
            FUZZ_CHECK(!memcmp(p + n, "\r\n", 2));
            if (n == 0) {
                p += 2;
                break;
            }
            fuzz_str_add(&b, p, n);
            p += n + 2;
        }
        a->dechunked = b.p;
        a->body = b.p;
        a->body_len = b.len;
        goto done;
    cut:
        free(b.p);
        return false;
    } else if (a->status >= 200 && a->status != 204 && a->status != 304 && p < end &&
               (end - p < 5 || memcmp(p, "HTTP/", 5) != 0)) {
        /* no length: an HTTP/1.0 answer delimited by the close (a HEAD answer has no body) */
        a->body = p;
        a->body_len = (size_t)(end - p);
        p = end;
    }
done:
    *left -= (size_t)(p - *pp);
    *pp = p;
    return true;
}

static bool is_allowed(int status)
{
    static const int ok[] = {100, 200, 204, 400, 403, 404, 405, 409, 413,
                             414, 415, 417, 429, 431, 501, 502, 503};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (ok[i] == status)
            return true;
    return false;
}

/* sys/health answers any code from 100 to 999 a query asks for, with its own bare body. */
static bool is_health_body(const json_t *j)
{
    return json_is_object(j) && json_object_get(j, "initialized") &&
           json_object_get(j, "server_time_utc") && json_object_get(j, "replication_dr_mode");
}

/* Whether the root token is in [p, p + n). Compared with sodium_memcmp, which libFuzzer does not
 * watch: a memmem on the token would hand it to the fuzzer (its memmem hook feeds a dictionary),
 * and an input that sends the token back in a path gets it echoed in an error. Only the public
 * "hvs." prefix goes through memmem. */
static bool has_root(const char *p, size_t n)
{
    size_t tl = strlen(root);

    for (const char *q = p, *end = p + n; (q = memmem(q, (size_t)(end - q), "hvs.", 4)); q++)
        if ((size_t)(end - q) >= tl && sodium_memcmp(q, root, tl) == 0)
            return true;
    return false;
}

static void check_answer(const struct answer *a, const char *req_dec, bool token_asked)
{
    json_t *j = NULL;

    FUZZ_CHECK(a->status != 500); /* a healthy server: bad input is the client's error */
    if (a->status < 200) {
        FUZZ_CHECK(a->status == 100 && a->body_len == 0);
        return;
    }
    FUZZ_CHECK(a->cache && a->cache_len == 8 && !memcmp(a->cache, "no-store", 8));
    FUZZ_CHECK(a->ctype != NULL);
    if (a->ctype_len == 16 && !memcmp(a->ctype, "application/json", 16)) {
        if (a->body_len) {
            j = json_loadb(a->body, a->body_len, 0, NULL);
            FUZZ_CHECK(j != NULL);
        }
    } else {
        /* sys/metrics?format=prometheus and the raw snapshot: 200 only */
        FUZZ_CHECK(a->status == 200);
        FUZZ_CHECK((a->ctype_len == 24 && !memcmp(a->ctype, "application/octet-stream", 24)) ||
                   (a->ctype_len >= 10 && !memcmp(a->ctype, "text/plain", 10)));
    }
    if (!is_allowed(a->status))
        FUZZ_CHECK(is_health_body(j) || (!a->body_len && strstr(req_dec, "code=")));
    if (!token_asked && a->body_len)
        FUZZ_CHECK(!has_root(a->body, a->body_len));
    json_decref(j);
}

static void health_check(void)
{
    static const char req[] = "GET /v1/sys/health HTTP/1.1\r\nHost: fuzz\r\n\r\n";
    struct fuzz_str ans = {0};
    struct answer a;
    const char *p;
    size_t left;
    json_t *j;

    fuzz_str_add(&ans, "", 0);
    FUZZ_CHECK(exchange(req, sizeof(req) - 1, &ans)); /* still alive, still closing */
    p = ans.p;
    left = ans.len;
    FUZZ_CHECK(parse_answer(&p, &left, true, &a) && a.status == 200 && left == 0);
    j = json_loadb(a.body, a.body_len, 0, NULL);
    FUZZ_CHECK(j && json_is_false(json_object_get(j, "sealed")));
    json_decref(j);
    free(a.dechunked);
    free(ans.p);
    /* Every connection so far has ended on our side: the server must have let go of them all
     * (a leaked one would hold a cap slot for ever). It frees them on its own thread, just
     * after the close we saw, hence the grace period. */
    for (int i = 0; i < 100 && atomic_load(&http->live) != 0; i++)
        usleep(10 * 1000);
    FUZZ_CHECK(atomic_load(&http->live) == 0);
}

static void health_at_exit(void)
{
    if (http)
        health_check();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_str req = {0}, ans = {0};
    const char *p;
    size_t left;
    char *dec;
    bool closed, token_asked;

    if (size > IN_MAX)
        return 0;
    if (!http) {
        setup();
        atexit(health_at_exit); /* runs before teardown */
        trace = getenv("FUZZ_HTTP_TRACE") != NULL;
    }
    fuzz_str_add(&req, "", 0);
    fuzz_str_add(&ans, "", 0);
    build_request(data, size, &req);
    dec = decoded(req.p, req.len);
    /* lookup-self returns the caller's token (Vault does too); other token endpoints may be
     * asked about it: no invariant on them */
    token_asked = strstr(dec, "auth/token") != NULL;
    closed = exchange(req.p, req.len, &ans);
    if (trace) /* FUZZ_HTTP_TRACE=1: show what the server answered (reproducing a finding) */
        fprintf(stderr, "--- %zu bytes in, %zu out, %s:\n%s\n---\n", req.len, ans.len,
                closed ? "closed by the server" : "client deadline", ans.p);
    p = ans.p;
    left = ans.len;
    while (left) {
        struct answer a;
        if (!parse_answer(&p, &left, closed, &a))
            break;
        check_answer(&a, dec, token_asked);
        free(a.dechunked);
    }
    if (++inputs % HEALTH_EVERY == 0)
        health_check();
    free(dec);
    free(req.p);
    free(ans.p);
    return 0;
}
