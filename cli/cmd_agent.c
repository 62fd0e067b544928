/*
 * cmd_agent - `tresor agent -config FILE [-once]`: render KV secrets into files and keep them
 * current, for applications that read secrets from files (docs/cli.md, "tresor agent").
 *
 * One render pass: make the token usable (agent_auth), render every template through a fresh
 * per-pass cache of secrets (agent_kv, wiped at the end of the pass), and for each template
 * whose output differs from the file on disk (content or mode), replace the file atomically
 * (agent_file) and then run its command and/or signal its process. The first complete pass
 * writes the readiness file. -once stops after one pass, with its exit code; otherwise passes
 * repeat every refresh_interval (sooner after SIGHUP, with a growing delay after failures) until
 * SIGTERM or SIGINT, which revoke a login token, remove the readiness file and exit 0.
 * Those three signals stay blocked and are taken with sigtimedwait between passes and while a
 * command runs, so a request is never cut in half; children get a clean signal state.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/tr_json.h"
#include "agent_auth.h"
#include "agent_config.h"
#include "agent_file.h"
#include "agent_kv.h"
#include "commands.h"
#include "input.h"

#define AGENT_CMD_TIMEOUT_MS 30000 /* a change command that runs longer is killed */
#define AGENT_TTL_SLACK      15    /* seconds a token must outlive the next pass by */
#define AGENT_READY_MODE     0644  /* the readiness file holds no secret */

struct agent {
    struct cli_ctx *ctx;
    const struct agent_config *cfg;
    struct agent_auth *auth;
    sigset_t sigs; /* SIGTERM, SIGINT, SIGHUP: blocked while the agent runs */
    bool once;
    bool stop; /* SIGTERM or SIGINT seen */
    bool hup;  /* SIGHUP seen: render now */
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to ms for one of our signals and note it. */
static void wait_signal(struct agent *a, int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    int sig = sigtimedwait(&a->sigs, NULL, &ts);

    if (sig == SIGTERM || sig == SIGINT)
        a->stop = true;
    else if (sig == SIGHUP)
        a->hup = true;
}

/* Sleep secs, or less if a signal asks to stop or to render now. */
static void agent_sleep(struct agent *a, int64_t secs)
{
    int64_t end = now_ms() + secs * 1000, left;

    a->hup = false;
    while (!a->stop && !a->hup && (left = end - now_ms()) > 0)
        wait_signal(a, left);
}

/* ---- after a change: command and signal ------------------------------------------------------ */

static void child_exec(char *const *argv) __attribute__((noreturn));

/* In the forked child: undo what the agent changed for itself, then exec. */
static void child_exec(char *const *argv)
{
    sigset_t none;
    int fd;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
        dup2(fd, STDIN_FILENO);
        if (fd != STDIN_FILENO)
            close(fd);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "tresor agent: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int run_command(struct agent *a, char *const *argv, const char *who)
{
    int64_t deadline = now_ms() + AGENT_CMD_TIMEOUT_MS;
    pid_t pid, r;
    int st = 0;

    fflush(NULL);
    if ((pid = fork()) < 0)
        return cli_fail(a->ctx, CLI_EXIT_LOCAL, "%s: cannot start the command: %s", who,
                        strerror(errno));
    if (pid == 0)
        child_exec(argv);
    for (;;) {
        r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return cli_fail(a->ctx, CLI_EXIT_LOCAL, "%s: lost the command: %s", who,
                            strerror(errno));
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            return cli_fail(a->ctx, CLI_EXIT_LOCAL,
                            "%s: the command did not finish within %d s "
                            "and was killed",
                            who, AGENT_CMD_TIMEOUT_MS / 1000);
        }
        wait_signal(a, 50);
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        fprintf(stderr, "%s: %s: ran the command\n", a->ctx->name, who);
        return CLI_EXIT_OK;
    }
    if (WIFEXITED(st))
        return cli_fail(a->ctx, CLI_EXIT_LOCAL, "%s: the command exited with status %d", who,
                        WEXITSTATUS(st));
    return cli_fail(a->ctx, CLI_EXIT_LOCAL, "%s: the command was killed by signal %d", who,
                    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int send_signal(struct agent *a, const struct agent_template *t, const char *who)
{
    char *buf = NULL, num[24];
    size_t len = 0, n;
    int64_t pid = 0;
    int rc;

    if ((rc = cli_input_file(t->pid_file, &buf, &len)) != TR_OK)
        return cli_fail(a->ctx, CLI_EXIT_LOCAL, "%s: cannot read the pid file %s: %s", who,
                        t->pid_file, tr_strerror(rc));
    n = strcspn(buf, " \t\r\n");
    if (n > 0 && n < sizeof(num)) {
        memcpy(num, buf, n);
        num[n] = '\0';
    }
    cli_secret_free(buf, len);
    /* 0 and negative values would signal process groups: only one process is meant. */
    if (n == 0 || n >= sizeof(num) || !tr_parse_int64(num, &pid) || pid < 1 || pid > INT32_MAX)
        return cli_fail(a->ctx, CLI_EXIT_LOCAL, "%s: the pid file %s holds no process id", who,
                        t->pid_file);
    if (kill((pid_t)pid, t->signal) != 0)
        return cli_fail(a->ctx, CLI_EXIT_LOCAL, "%s: cannot signal process %lld: %s", who,
                        (long long)pid, strerror(errno));
    fprintf(stderr, "%s: %s: sent signal %d to process %lld\n", a->ctx->name, who, t->signal,
            (long long)pid);
    return CLI_EXIT_OK;
}

static int after_change(struct agent *a, const struct agent_template *t, const char *who)
{
    int rc = CLI_EXIT_OK, rc2 = CLI_EXIT_OK;

    if (t->command)
        rc = run_command(a, t->command, who);
    if (t->signal)
        rc2 = send_signal(a, t, who);
    return rc != CLI_EXIT_OK ? rc : rc2;
}

/* ---- one pass ------------------------------------------------------------------------------ */

struct lookup {
    struct agent_kv *kv;
    const char *who;
};

static int lookup_field(void *arg, const char *path, const char *field, const json_t **out)
{
    struct lookup *lk = arg;

    return agent_kv_field(lk->kv, lk->who, path, field, out);
}

/* Render template i; write it when it differs from the file. *out_changed tells whether it did. */
static int render_write(struct agent *a, struct agent_kv *kv, size_t i, const char *who,
                        bool *out_changed)
{
    const struct agent_template *t = &a->cfg->templates[i];
    struct lookup lk = {.kv = kv, .who = who};
    char *out = NULL, err[512];
    size_t len = 0;
    int rc;

    *out_changed = false;
    rc = agent_tmpl_render(t->tmpl, lookup_field, &lk, &out, &len);
    if (rc < 0)
        rc = cli_fail(a->ctx, CLI_EXIT_LOCAL, "%s: cannot render: %s", who, tr_strerror(rc));
    if (rc != CLI_EXIT_OK || agent_file_same(t->destination, out, len, t->perms))
        goto out;
    if (agent_file_write(t->destination, out, len, t->perms, err, sizeof(err)) != TR_OK) {
        rc = cli_fail(a->ctx, CLI_EXIT_LOCAL, "%s: %s", who, err);
        goto out;
    }
    fprintf(stderr, "%s: %s: wrote the file (mode %04o)\n", a->ctx->name, who, (unsigned)t->perms);
    *out_changed = true;
out:
    cli_secret_free(out, len);
    return rc;
}

static int agent_pass(struct agent *a)
{
    bool changed[AGENT_TEMPLATES_MAX] = {false};
    struct agent_kv *kv = NULL;
    char who[600];
    int rc, first = CLI_EXIT_OK;

    if ((rc = agent_auth_ensure(a->auth, a->cfg->refresh_secs + AGENT_TTL_SLACK)) != CLI_EXIT_OK)
        return rc;
    if (agent_kv_new(a->ctx, true, &kv) != TR_OK)
        return cli_fail(a->ctx, CLI_EXIT_LOCAL, "out of memory");
    for (size_t i = 0; i < a->cfg->ntemplates; i++) {
        snprintf(who, sizeof(who), "templates[%zu] (%.512s)", i, a->cfg->templates[i].destination);
        if ((rc = render_write(a, kv, i, who, &changed[i])) != CLI_EXIT_OK && first == CLI_EXIT_OK)
            first = rc;
    }
    /* Every file is written: wipe the values before running anything. */
    agent_kv_free(kv);
    for (size_t i = 0; i < a->cfg->ntemplates; i++) {
        if (!changed[i])
            continue;
        snprintf(who, sizeof(who), "templates[%zu] (%.512s)", i, a->cfg->templates[i].destination);
        if ((rc = after_change(a, &a->cfg->templates[i], who)) != CLI_EXIT_OK &&
            first == CLI_EXIT_OK)
            first = rc;
    }
    return first;
}

/* ---- the loop ------------------------------------------------------------------------------ */

static int ready_write(struct agent *a)
{
    char err[512];

    if (!a->cfg->readiness_file)
        return CLI_EXIT_OK;
    if (agent_file_write(a->cfg->readiness_file, "ready\n", 6, AGENT_READY_MODE, err,
                         sizeof(err)) != TR_OK)
        return cli_fail(a->ctx, CLI_EXIT_LOCAL, "readiness file: %s", err);
    return CLI_EXIT_OK;
}

static void ready_remove(struct agent *a)
{
    if (a->cfg->readiness_file && unlink(a->cfg->readiness_file) != 0 && errno != ENOENT)
        fprintf(stderr, "%s: cannot remove the readiness file %s: %s\n", a->ctx->name,
                a->cfg->readiness_file, strerror(errno));
}

/* After n failed passes in a row: 2, 4, 8 ... 64 s, never longer than the refresh interval. */
static int64_t retry_secs(const struct agent *a, int n)
{
    int64_t s = (int64_t)1 << (n < 6 ? n : 6);

    return s < a->cfg->refresh_secs ? s : a->cfg->refresh_secs;
}

static int agent_run(struct agent *a)
{
    sigset_t old;
    bool ready = false;
    int rc, fails = 0;

    sigemptyset(&a->sigs);
    sigaddset(&a->sigs, SIGTERM);
    sigaddset(&a->sigs, SIGINT);
    sigaddset(&a->sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &a->sigs, &old);
    ready_remove(a); /* a stale file from an earlier run must not claim readiness */
    for (;;) {
        rc = agent_pass(a);
        if (rc == CLI_EXIT_OK && !ready && (rc = ready_write(a)) == CLI_EXIT_OK) {
            ready = true;
            fprintf(stderr, "%s: all %zu templates rendered\n", a->ctx->name, a->cfg->ntemplates);
        }
        if (a->once || a->stop)
            break;
        fails = rc == CLI_EXIT_OK ? 0 : fails + 1;
        if (rc == CLI_EXIT_SERVER)
            agent_auth_suspect(a->auth);
        agent_sleep(a, fails ? retry_secs(a, fails) : a->cfg->refresh_secs);
        if (a->stop)
            break;
    }
    if (agent_auth_revoke(a->auth) != CLI_EXIT_OK)
        fprintf(stderr, "%s: warning: the login token was not revoked (it lives until its TTL)\n",
                a->ctx->name);
    if (!a->once) {
        ready_remove(a);
        fprintf(stderr, "%s: stopped\n", a->ctx->name);
    }
    /* A SIGTERM that came during -once's pass has done its job (the pass ended): take it, so
     * unblocking does not kill us before the exit code is returned. */
    while (sigtimedwait(&a->sigs, NULL, &(struct timespec){0, 0}) > 0)
        ;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return a->once ? rc : CLI_EXIT_OK;
}

int cli_cmd_agent(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *config = NULL;
    bool once = false;
    const struct cli_flag flags[] = {
        {"config", CLI_FLAG_STR, &config, NULL, "FILE",
         "the agent's YAML configuration (required)"},
        {"once", CLI_FLAG_BOOL, &once, NULL, NULL,
         "render every template once and exit (init containers, Jobs)"},
    };
    struct agent a = {.ctx = ctx};
    struct agent_config *cfg = NULL;
    char err[512];
    int rc;

    if ((rc = cli_cmd_parse(ctx, flags, 2, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc > 0)
        return cli_usage_error(ctx, "unexpected argument \"%.64s\"", argv[0]);
    if (!config)
        return cli_usage_error(ctx, "-config FILE is required");
    if (agent_config_load(config, &cfg, err, sizeof(err)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
    /* Flags win over the file, the file over the environment. */
    if (!ctx->cfg.flag.addr && cfg->address)
        ctx->cfg.addr = cfg->address;
    if (!ctx->cfg.flag.cacert && cfg->ca_cert)
        ctx->cfg.cacert = cfg->ca_cert;
    /* Check the address and TLS settings now, not on the first pass. */
    if (cli_http_new(&ctx->cfg, &ctx->http, err, sizeof(err)) != TR_OK) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "%s", err);
        goto out;
    }
    if (agent_auth_new(ctx, cfg, &a.auth) != TR_OK) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    a.cfg = cfg;
    a.once = once;
    rc = agent_run(&a);
out:
    agent_auth_free(a.auth);
    cli_http_free(ctx->http); /* it was set up from cfg's strings */
    ctx->http = NULL;
    ctx->cfg.addr = ctx->cfg.cacert = NULL;
    agent_config_free(cfg);
    return rc;
}
