/* tpm_sim - swtpm processes and a corrupting relay for the unit tests (tpm_sim.h). */
#include "tpm_sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SWTPM_WAIT_MS 5000
#define RELAY_BUF     8192
#define RELAY_CONNS   64 /* at once; the TCTI connects anew for every command */

/* ---- sockets -------------------------------------------------------------------------------- */

/* A loopback socket bound to port (listening) or connected to it; -1 on failure. */
static int loop_socket(int port, bool listen_on)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0)
        return -1;
    rc = listen_on ? bind(s, (struct sockaddr *)&a, sizeof(a))
                   : connect(s, (struct sockaddr *)&a, sizeof(a));
    if (rc == 0 && listen_on && port != 0)
        rc = listen(s, 16);
    if (rc != 0) {
        close(s);
        return -1;
    }
    return s;
}

int tt_free_port_pair(void)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_in a;
        socklen_t alen = sizeof(a);
        int s1 = loop_socket(0, true), s2 = -1, port = -1;

        if (s1 >= 0 && getsockname(s1, (struct sockaddr *)&a, &alen) == 0)
            port = ntohs(a.sin_port);
        if (port > 0 && port < 65535)
            s2 = loop_socket(port + 1, true);
        if (s1 >= 0)
            close(s1);
        if (s2 >= 0) {
            close(s2);
            return port;
        }
    }
    return -1;
}

/* ---- swtpm ---------------------------------------------------------------------------------- */

bool tt_swtpm_installed(void)
{
    const char *p = getenv("PATH");
    char cand[4200];

    while (p && *p) {
        const char *end = strchr(p, ':');
        int n = end ? (int)(end - p) : (int)strlen(p);

        snprintf(cand, sizeof(cand), "%.*s/swtpm", n, p);
        if (n > 0 && access(cand, X_OK) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static void swtpm_exec(const struct tt_swtpm *t)
{
    char server[96], ctrl[96], state[200], log[200];
    int devnull = open("/dev/null", O_RDWR);

    prctl(PR_SET_PDEATHSIG, SIGKILL); /* the emulator must not outlive a crashed test run */
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
    }
    snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", t->port);
    snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", t->port + 1);
    snprintf(state, sizeof(state), "dir=%s", t->dir);
    snprintf(log, sizeof(log), "file=%s/swtpm.log,level=1", t->dir);
    execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl, "--flags",
           "not-need-init,startup-clear", "--tpmstate", state, "--log", log, (char *)NULL);
    _exit(127);
}

static bool swtpm_wait_ready(struct tt_swtpm *t)
{
    for (int ms = 0; ms < SWTPM_WAIT_MS; ms += 5) {
        int s;

        if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
            t->pid = -1; /* exited: port taken or bad arguments */
            return false;
        }
        if ((s = loop_socket(t->port, false)) >= 0) {
            close(s);
            return true;
        }
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    return false;
}

void tt_swtpm_stop(struct tt_swtpm *t, int sig)
{
    if (t->pid <= 0)
        return;
    kill(t->pid, sig);
    waitpid(t->pid, NULL, 0);
    t->pid = -1;
}

int tt_swtpm_start(struct tt_swtpm *t)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if ((t->port = tt_free_port_pair()) < 0)
            return -1;
        t->pid = fork();
        if (t->pid < 0)
            return -1;
        if (t->pid == 0)
            swtpm_exec(t);
        if (swtpm_wait_ready(t)) {
            snprintf(t->tcti, sizeof(t->tcti), "swtpm:host=127.0.0.1,port=%d", t->port);
            return 0;
        }
        tt_swtpm_stop(t, SIGKILL);
    }
    return -1;
}

/* ---- the relay ------------------------------------------------------------------------------ */

/* One relayed connection. Its thread shuts the sockets down when it ends, but they belong to
 * the relay: they are closed only after the thread is joined, so no fd number is reused while
 * another thread may still hold it. */
struct relay_conn {
    struct tt_relay *r;
    int cfd, sfd;
    bool ctrl, used;
    atomic_bool ended;
    pthread_t th;
};

struct tt_relay {
    int lfd[2]; /* listening: command, control */
    int port;   /* the first of our pair */
    int target; /* swtpm's first port */
    int stop[2];
    pthread_t th;
    bool started;
    struct relay_conn conn[RELAY_CONNS]; /* the accept thread's; tt_relay_stop's after the join */
    pthread_mutex_t mu;                  /* the flip rule */
    uint32_t cc[2];
    size_t at;
    int count;
    atomic_int flipped;
};

static bool io_full(int fd, uint8_t *b, size_t n, bool wr)
{
    while (n > 0) {
        ssize_t k = wr ? write(fd, b, n) : read(fd, b, n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        b += k;
        n -= (size_t)k;
    }
    return true;
}

/* One framed TPM message (10-byte header with its total size) from fd into b. */
static bool tpm_msg_read(int fd, uint8_t *b, size_t cap, size_t *len)
{
    uint32_t n;

    if (!io_full(fd, b, 10, false))
        return false;
    n = ((uint32_t)b[2] << 24) | ((uint32_t)b[3] << 16) | ((uint32_t)b[4] << 8) | b[5];
    if (n < 10 || n > cap)
        return false;
    *len = n;
    return io_full(fd, b + 10, n - 10, false);
}

/* Apply the flip rule to the answer to command cc. */
static void relay_tamper(struct tt_relay *r, uint32_t cc, uint8_t *rsp, size_t len)
{
    pthread_mutex_lock(&r->mu);
    if (cc != 0 && (cc == r->cc[0] || cc == r->cc[1]) && r->count != 0) {
        size_t at = r->at == TT_FLIP_LAST ? len - 1 : r->at;
        if (at < len) {
            rsp[at] ^= 0x01;
            if (r->count > 0)
                r->count--;
            atomic_fetch_add(&r->flipped, 1);
        }
    }
    pthread_mutex_unlock(&r->mu);
}

static void *relay_conn_main(void *arg)
{
    struct relay_conn *c = arg;
    uint8_t cmd[RELAY_BUF], rsp[RELAY_BUF];
    size_t clen, rlen;

    if (c->ctrl) { /* control channel: plain relay both ways */
        struct pollfd p[2] = {{.fd = c->cfd, .events = POLLIN}, {.fd = c->sfd, .events = POLLIN}};

        while (poll(p, 2, -1) > 0) {
            int from = (p[0].revents & (POLLIN | POLLHUP)) ? 0 : 1;
            ssize_t k = read(p[from].fd, cmd, sizeof(cmd));

            if (k <= 0 || !io_full(p[1 - from].fd, cmd, (size_t)k, true))
                break;
        }
    } else {
        while (tpm_msg_read(c->cfd, cmd, sizeof(cmd), &clen)) {
            uint32_t cc = ((uint32_t)cmd[6] << 24) | ((uint32_t)cmd[7] << 16) |
                          ((uint32_t)cmd[8] << 8) | cmd[9];

            if (!io_full(c->sfd, cmd, clen, true) || !tpm_msg_read(c->sfd, rsp, sizeof(rsp), &rlen))
                break;
            relay_tamper(c->r, cc, rsp, rlen);
            if (!io_full(c->cfd, rsp, rlen, true))
                break;
        }
    }
    /* swtpm serves one connection at a time and the client waits for EOF: hang up both ends */
    shutdown(c->cfd, SHUT_RDWR);
    shutdown(c->sfd, SHUT_RDWR);
    atomic_store(&c->ended, true);
    return NULL;
}

static void relay_conn_reap(struct relay_conn *c)
{
    pthread_join(c->th, NULL);
    close(c->cfd);
    close(c->sfd);
    c->used = false;
}

/* A slot for a new connection: a free one, or one whose relay ended (reaped here). */
static struct relay_conn *relay_slot(struct tt_relay *r)
{
    for (size_t k = 0; k < RELAY_CONNS; k++) {
        if (r->conn[k].used && atomic_load(&r->conn[k].ended))
            relay_conn_reap(&r->conn[k]);
        if (!r->conn[k].used)
            return &r->conn[k];
    }
    return NULL;
}

static void *relay_main(void *arg)
{
    struct tt_relay *r = arg;
    struct pollfd p[3] = {{.fd = r->lfd[0], .events = POLLIN},
                          {.fd = r->lfd[1], .events = POLLIN},
                          {.fd = r->stop[0], .events = POLLIN}};

    while (poll(p, 3, -1) > 0 && !p[2].revents) {
        for (int i = 0; i < 2; i++) {
            struct relay_conn *c;
            int cfd;

            if (!(p[i].revents & POLLIN) || (cfd = accept(r->lfd[i], NULL, NULL)) < 0)
                continue;
            if (!(c = relay_slot(r))) { /* refused: the test sees a TPM error */
                close(cfd);
                continue;
            }
            *c = (struct relay_conn){
                .r = r, .cfd = cfd, .sfd = loop_socket(r->target + i, false), .ctrl = i == 1};
            if (c->sfd < 0 || pthread_create(&c->th, NULL, relay_conn_main, c) != 0) {
                close(cfd);
                if (c->sfd >= 0)
                    close(c->sfd);
                continue;
            }
            c->used = true;
        }
    }
    return NULL;
}

int tt_relay_start(int target, struct tt_relay **out)
{
    struct tt_relay *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (!r)
        return -1;
    r->lfd[0] = r->lfd[1] = r->stop[0] = r->stop[1] = -1;
    r->target = target;
    pthread_mutex_init(&r->mu, NULL);
    for (int attempt = 0; attempt < 16 && r->lfd[1] < 0; attempt++) {
        if (r->lfd[0] >= 0)
            close(r->lfd[0]);
        r->lfd[0] = -1;
        if ((r->port = tt_free_port_pair()) < 0)
            break;
        r->lfd[0] = loop_socket(r->port, true);
        r->lfd[1] = r->lfd[0] >= 0 ? loop_socket(r->port + 1, true) : -1;
    }
    if (r->lfd[1] < 0 || pipe(r->stop) != 0 || pthread_create(&r->th, NULL, relay_main, r) != 0) {
        tt_relay_stop(r);
        return -1;
    }
    r->started = true;
    *out = r;
    return 0;
}

void tt_relay_stop(struct tt_relay *r)
{
    if (!r)
        return;
    if (r->started) {
        (void)!write(r->stop[1], "x", 1);
        pthread_join(r->th, NULL);
    }
    for (size_t i = 0; i < RELAY_CONNS; i++) {
        if (r->conn[i].used) { /* wakes a relay blocked in read() or poll() */
            shutdown(r->conn[i].cfd, SHUT_RDWR);
            shutdown(r->conn[i].sfd, SHUT_RDWR);
        }
    }
    for (size_t i = 0; i < RELAY_CONNS; i++) {
        if (r->conn[i].used)
            relay_conn_reap(&r->conn[i]);
    }
    for (int i = 0; i < 2; i++) {
        if (r->lfd[i] >= 0)
            close(r->lfd[i]);
        if (r->stop[i] >= 0)
            close(r->stop[i]);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int tt_relay_port(const struct tt_relay *r)
{
    return r->port;
}

void tt_relay_flip(struct tt_relay *r, uint32_t cc1, uint32_t cc2, size_t at, int count)
{
    pthread_mutex_lock(&r->mu);
    r->cc[0] = cc1;
    r->cc[1] = cc2;
    r->at = at;
    r->count = count;
    pthread_mutex_unlock(&r->mu);
}

int tt_relay_flipped(const struct tt_relay *r)
{
    return atomic_load(&r->flipped);
}
