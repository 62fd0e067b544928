/*
 * tresord - the Tresor server: parse flags and config, harden the process, start the TLS HTTP
 * workers and wait for signals (SIGTERM/SIGINT drain and exit 0, SIGHUP reloads certificates and
 * rotates the audit log).
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../api/api.h"
#include "../common/tr_audit.h"
#include "../common/tr_log.h"
#include "../enclave/enclave.h"
#include "config.h"
#include "http.h"
#include "tls.h"

#define TRESOR_VERSION    "1.15.0+tresor.0.1.0"
#define TRESOR_BUILD_DATE "2026-11-23T00:00:00Z"
#define EXIT_USAGE        2
#define DRAIN_MS          10000

struct srv {
    struct srv_config *cfg;
    SSL_CTX *ctx;
    struct api *api;
    struct srv_http *http;
    struct event_base *base;
};

static int ensure_private_dir(const char *path);

/* Exit 0 when the chain holds across the n files (a rotation series, oldest first), 1 with the
 * first bad file and line otherwise. */
static int audit_verify(const char *const *paths, size_t n)
{
    struct tr_audit_report rep;
    int rc = tr_audit_verify_files(paths, n, &rep);

    if (rc == TR_OK) {
        printf("%zu file(s), %llu line(s) (seq %llu..%llu), hash chain intact\n", n,
               (unsigned long long)rep.entries, (unsigned long long)rep.first_seq,
               (unsigned long long)rep.last_seq);
        if (rep.continues) { /* the name comes from the file: escaped */
            printf("note: %s continues ", paths[0]);
            tr_audit_print_name(stdout, rep.first.rot_file);
            printf(" (line %llu): its link to that file was not checked\n",
                   (unsigned long long)rep.first.rot_seq);
        }
        return 0;
    }
    if (rc == TR_E_TAMPER || rc == TR_E_IO) {
        if (rep.bad_line)
            fprintf(stderr, "%s:%llu: %s\n", paths[rep.bad_file], (unsigned long long)rep.bad_line,
                    rep.reason);
        else
            fprintf(stderr, "%s: %s\n", paths[rep.bad_file],
                    rep.reason[0] ? rep.reason : tr_strerror(rc));
    } else {
        fprintf(stderr, "tresord: audit verify: %s\n", tr_strerror(rc));
    }
    return 1;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: tresord -config FILE     run with a YAML config file (alias -c)\n"
                "       tresord -dev [-dev-dir DIR] [-dev-listen ADDR]\n"
                "                                run the embedded dev server (dev seal, data in\n"
                "                                ./tresor-data, self-signed TLS, 127.0.0.1:8200)\n"
                "       tresord -audit-verify FILE...  check an audit log's hash chain\n"
                "                                (rotated files oldest first, the current last)\n"
                "       tresord -version\n");
}

/* libsodium ignores mlock failures; say so when key pages may end up in swap. (Core dumps and
 * ptrace are switched off by enc_init, which owns the key material.) */
static void check_memlock(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < 1024 * 1024)
        tr_log_warn("RLIMIT_MEMLOCK is %lu bytes: key memory may not stay locked",
                    (unsigned long)rl.rlim_cur);
}

static int start_enclave(const struct srv_config *cfg)
{
    struct enc_config ecfg;
    int rc;

    if ((rc = ensure_private_dir(cfg->storage_path)) != TR_OK)
        return rc;
    if ((rc = srv_config_enclave(cfg, &ecfg)) != TR_OK) {
        tr_log_error("a configured path is too long");
        return rc;
    }
    if ((rc = enc_init(&ecfg)) != TR_OK)
        tr_log_error("cannot start the trusted core: %s", tr_strerror(rc));
    return rc;
}

static int apply_log_config(const struct srv_config *cfg)
{
    enum tr_log_level lvl;

    if (!tr_log_parse_level(cfg->log_level, &lvl))
        return TR_E_CONFIG;
    tr_log_set_level(lvl);
    tr_log_set_format(strcmp(cfg->log_format, "json") == 0 ? TR_LOG_JSON : TR_LOG_TEXT);
    return TR_OK;
}

/* The data dir holds the LMDB file and seal blobs: 0700 whatever the umask or its old mode. */
static int ensure_private_dir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        tr_log_error("cannot create %s: %s", path, strerror(errno));
        return TR_E_IO;
    }
    if (chmod(path, 0700) != 0) {
        tr_log_error("cannot set mode 0700 on %s: %s", path, strerror(errno));
        return TR_E_IO;
    }
    return TR_OK;
}

static int dev_prepare(const struct srv_config *cfg)
{
    char tls_dir[4096];
    int rc;

    if ((rc = ensure_private_dir(cfg->storage_path)) != TR_OK)
        return rc;
    snprintf(tls_dir, sizeof(tls_dir), "%s/tls", cfg->storage_path);
    return srv_tls_dev_certs(tls_dir);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct srv *s = arg;

    (void)what;
    tr_log_info("signal %d: draining and stopping", (int)sig);
    event_base_loopexit(s->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct srv *s = arg;
    char err[512];
    SSL_CTX *ctx = NULL;

    (void)sig;
    (void)what;
    if (s->cfg->audit_path) { /* like Vault's SIGHUP for its file device, done by the server */
        tr_log_info("SIGHUP: audit log rotation requested");
        api_audit_rotate_request(s->api);
    }
    if (srv_tls_ctx_new(s->cfg->tls_cert_file, s->cfg->tls_key_file, s->cfg->tls_client_ca_file,
                        s->cfg->tls_profile, &ctx, err, sizeof(err)) != TR_OK) {
        tr_log_error("SIGHUP: certificate reload failed, keeping the old ones: %s", err);
        return;
    }
    srv_http_reload_tls(s->http, ctx);
    SSL_CTX_free(s->ctx); /* live sessions hold their own reference */
    s->ctx = ctx;
    tr_log_info("SIGHUP: TLS certificates reloaded");
}

static int run_server(struct srv *s)
{
    struct api_opts aopts = {.version = TRESOR_VERSION,
                             .build_date = TRESOR_BUILD_DATE,
                             .data_dir = s->cfg->storage_path,
                             .counter_min_interval_ms = (uint32_t)s->cfg->counter_min_interval_ms,
                             .scrub_interval_ms = (uint32_t)s->cfg->scrub_interval_s * 1000u,
                             .dev = s->cfg->dev_mode,
                             .audit_path = s->cfg->audit_path,
                             .audit_anchor_interval_ms = (uint32_t)s->cfg->audit_anchor_interval_ms,
                             .audit_rotate_bytes = (uint64_t)s->cfg->audit_rotate_bytes,
                             .audit_rotate_keep = (uint32_t)s->cfg->audit_rotate_keep,
                             .audit_anchor_max_lag_ms = (uint32_t)s->cfg->audit_anchor_max_lag_ms,
                             .unauthenticated_metrics_access =
                                 s->cfg->unauthenticated_metrics_access};
    char *root = NULL, *share = NULL;
    struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    char err[512];
    int rc;

    if ((rc = srv_tls_ctx_new(s->cfg->tls_cert_file, s->cfg->tls_key_file,
                              s->cfg->tls_client_ca_file, s->cfg->tls_profile, &s->ctx, err,
                              sizeof(err))) != TR_OK) {
        tr_log_error("%s", err);
        return rc;
    }
    if ((rc = api_new(&aopts, &s->api)) != TR_OK)
        return rc;
    /* A failure here leaves the server up but sealed, with the reason in sys/seal-status. */
    if ((rc = api_start(s->api, &root, &share)) != TR_OK)
        tr_log_error("the store is not serving: %s", tr_strerror(rc));
    if (root) {
        /* printed once, to the operator's terminal: -dev only */
        printf("  Unseal/recovery key: %s\n  Root Token: %s\n", share ? share : "", root);
        fflush(stdout);
        sodium_memzero(root, strlen(root));
        free(root);
    }
    if (share) {
        sodium_memzero(share, strlen(share));
        free(share);
    }
    struct srv_http_opts hopts = {
        .address = s->cfg->listen_address,
        .workers = s->cfg->workers > 0 ? (int)s->cfg->workers : (int)(ncpu > 0 ? ncpu : 1),
        .max_body = (size_t)s->cfg->max_request_bytes,
        .max_headers = (size_t)s->cfg->max_header_bytes,
        .idle_timeout_s = (int)s->cfg->idle_timeout_s,
        .header_timeout_s = (int)s->cfg->header_timeout_s,
        .request_timeout_s = (int)s->cfg->request_timeout_s,
        .max_connections = (size_t)s->cfg->max_connections,
        .max_connections_per_ip = (size_t)s->cfg->max_connections_per_ip,
        .login_rate = {(uint32_t)s->cfg->login_rate_per_s, (uint32_t)s->cfg->login_burst},
        .unseal_rate = {(uint32_t)s->cfg->unseal_rate_per_s, (uint32_t)s->cfg->unseal_burst},
    };
    if (!(s->base = event_base_new()))
        return TR_E_NOMEM;
    if ((rc = srv_http_start(&hopts, s->ctx, s->api, &s->http, err, sizeof(err))) != TR_OK) {
        tr_log_error("%s", err);
        return rc;
    }
    ev_term = evsignal_new(s->base, SIGTERM, on_stop_signal, s);
    ev_int = evsignal_new(s->base, SIGINT, on_stop_signal, s);
    ev_hup = evsignal_new(s->base, SIGHUP, on_hup, s);
    if (!ev_term || !ev_int || !ev_hup) {
        rc = TR_E_NOMEM;
        goto out;
    }
    evsignal_add(ev_term, NULL);
    evsignal_add(ev_int, NULL);
    evsignal_add(ev_hup, NULL);
    tr_log_info("listening on https://%s (port %d, %d workers)", s->cfg->listen_address,
                srv_http_port(s->http), hopts.workers);
    event_base_dispatch(s->base);
    srv_http_stop(s->http, DRAIN_MS);
    tr_log_info("stopped");
    rc = TR_OK;
out:
    if (ev_term)
        event_free(ev_term);
    if (ev_int)
        event_free(ev_int);
    if (ev_hup)
        event_free(ev_hup);
    return rc;
}

static void srv_cleanup(struct srv *s)
{
    srv_http_free(s->http);
    api_free(s->api);
    SSL_CTX_free(s->ctx);
    if (s->base)
        event_base_free(s->base);
    srv_config_free(s->cfg);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *dev_dir = "tresor-data", *dev_listen = "127.0.0.1:8200";
    bool dev = false;
    struct srv s = {0};
    char err[512];
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if ((!strcmp(a, "-config") || !strcmp(a, "--config") || !strcmp(a, "-c")) && has_val)
            config = argv[++i];
        else if (!strcmp(a, "-dev") || !strcmp(a, "--dev"))
            dev = true;
        else if (!strcmp(a, "-dev-dir") && has_val)
            dev_dir = argv[++i];
        else if (!strcmp(a, "-dev-listen") && has_val)
            dev_listen = argv[++i];
        else if (!strcmp(a, "-audit-verify") && has_val) /* every argument after it is a file */
            return audit_verify((const char *const *)argv + i + 1, (size_t)(argc - i - 1));
        else if (!strcmp(a, "-version") || !strcmp(a, "--version")) {
            printf("tresord %s\n", TRESOR_VERSION);
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "-help") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "tresord: unknown or incomplete argument: %s\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (dev == (config != NULL)) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* tpm2-tss reads TSS2_LOG when a context is made: quiet unless the operator set it, and
     * set before any thread exists (setenv is not thread-safe) */
    setenv("TSS2_LOG", "all+none", 0);
    check_memlock();
    signal(SIGPIPE, SIG_IGN);
    /* SIGHUP (reload: certificates, audit rotation) is handled only while the event loop runs;
     * before that (the store opening) and after (the last anchoring, the store closing) its
     * default action would kill the server mid-way. libevent puts this back when it stops. */
    signal(SIGHUP, SIG_IGN);
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "tresord: cannot enable libevent threading\n");
        return 1;
    }
    if (config) {
        if ((rc = srv_config_load(config, &s.cfg, err, sizeof(err))) != TR_OK) {
            fprintf(stderr, "tresord: %s\n", err);
            return EXIT_USAGE;
        }
    } else if (srv_config_dev(dev_dir, dev_listen, &s.cfg) != TR_OK) {
        fprintf(stderr, "tresord: out of memory\n");
        return 1;
    }
    if (apply_log_config(s.cfg) != TR_OK) {
        srv_config_free(s.cfg);
        return EXIT_USAGE;
    }
    if (dev) {
        tr_log_warn("DEV MODE: insecure dev seal and self-signed TLS; never use in production");
        if (dev_prepare(s.cfg) != TR_OK) {
            srv_cleanup(&s);
            return 1;
        }
        printf("Tresor dev server\n  address: https://%s\n  CA cert: %s/tls/ca.crt\n",
               s.cfg->listen_address, s.cfg->storage_path);
        fflush(stdout);
    }
    if (start_enclave(s.cfg) != TR_OK) {
        srv_cleanup(&s);
        return 1;
    }
    rc = run_server(&s);
    srv_cleanup(&s);
    enc_fini();
    return rc == TR_OK ? 0 : 1;
}
