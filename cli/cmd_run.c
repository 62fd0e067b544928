/*
 * cmd_run - `tresor run [-env-file FILE] -- CMD [ARGS...]`: exec CMD with every environment
 * variable whose value is a reference tresor://MOUNT/PATH#FIELD replaced by that secret field
 * (docs/cli.md, "tresor run").
 *
 * The child's environment is ours, then the -env-file's KEY=VALUE lines (which win), with the
 * references resolved through agent_kv (the `kv get` preflight, so KV v1 and v2 both work; each
 * secret read once). Every reference is resolved before anything runs: one that cannot be is an
 * error naming the variable (exit 3 not found, 2 server error, 1 local), and CMD never starts.
 * Values go only into the new environment handed to execvpe; they are never printed. The token
 * and the HTTP client are released before the exec; if the exec fails, the environment strings
 * are wiped (exit 127 command not found, 126 not executable, like env(1)).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_kv.h"
#include "commands.h"
#include "input.h"

#define RUN_SCHEME     "tresor://"
#define RUN_EXIT_NOCMD 127
#define RUN_EXIT_NOEXE 126

extern char **environ;

/* The child's environment: v[0..n) then NULL. Owned strings (from the env file or resolved) are
 * wiped when freed; len[i] is SIZE_MAX for strings borrowed from environ. */
struct envv {
    char **v;
    size_t *len;
    size_t n, cap;
};

static void envv_free(struct envv *e)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->len[i] != SIZE_MAX)
            cli_secret_free(e->v[i], e->len[i]);
    free(e->v);
    free(e->len);
    memset(e, 0, sizeof(*e));
}

static int envv_grow(struct envv *e)
{
    size_t ncap = e->cap ? e->cap * 2 : 64;
    char **nv;
    size_t *nl;

    if (ncap > SIZE_MAX / sizeof(*nv) - 1)
        return TR_E_NOMEM;
    /* Only pointers and lengths move here; the strings they point to stay where they are. */
    if (!(nv = realloc(e->v, (ncap + 1) * sizeof(*nv))))
        return TR_E_NOMEM;
    e->v = nv;
    if (!(nl = realloc(e->len, ncap * sizeof(*nl))))
        return TR_E_NOMEM;
    e->len = nl;
    e->cap = ncap;
    return TR_OK;
}

/* Index of NAME (nlen bytes) in e, or e->n. */
static size_t envv_find(const struct envv *e, const char *name, size_t nlen)
{
    size_t i;

    for (i = 0; i < e->n; i++)
        if (strncmp(e->v[i], name, nlen) == 0 && e->v[i][nlen] == '=')
            break;
    return i;
}

/* Put the entry s (slen bytes, "NAME=VALUE", owned unless slen is SIZE_MAX) at index i (e->n:
 * append). On failure an owned s is wiped and freed. */
static int envv_put(struct envv *e, size_t i, char *s, size_t slen)
{
    if (i == e->n && e->n == e->cap && envv_grow(e) != TR_OK) {
        if (slen != SIZE_MAX)
            cli_secret_free(s, slen);
        return TR_E_NOMEM;
    }
    if (i < e->n && e->len[i] != SIZE_MAX)
        cli_secret_free(e->v[i], e->len[i]);
    e->v[i] = s;
    e->len[i] = slen;
    if (i == e->n)
        e->n++;
    e->v[e->n] = NULL;
    return TR_OK;
}

/* Set NAME=VALUE as a new owned string, replacing an entry of the same name. */
static int envv_set(struct envv *e, const char *name, size_t nlen, const char *val, size_t vlen)
{
    char *s;

    if (vlen > SIZE_MAX - nlen - 2 || !(s = malloc(nlen + vlen + 2)))
        return TR_E_NOMEM;
    memcpy(s, name, nlen);
    s[nlen] = '=';
    memcpy(s + nlen + 1, val, vlen);
    s[nlen + 1 + vlen] = '\0';
    return envv_put(e, envv_find(e, name, nlen), s, nlen + 1 + vlen);
}

static int envv_from_environ(struct envv *e)
{
    int rc;

    if ((rc = envv_grow(e)) != TR_OK)
        return rc;
    e->v[0] = NULL;
    for (char **p = environ; p && *p; p++)
        if (strchr(*p, '=') && (rc = envv_put(e, e->n, *p, SIZE_MAX)) != TR_OK)
            return rc;
    return TR_OK;
}

/* ---- -env-file ------------------------------------------------------------------------------ */

static bool is_env_name(const char *s, size_t n)
{
    if (n == 0 || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* One line of the env file (without its newline). Messages never quote the line: it may hold a
 * secret. */
static int env_line(struct cli_ctx *ctx, struct envv *e, const char *file, size_t lineno,
                    const char *p, size_t n)
{
    const char *eq;
    size_t k;

    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    if (n && p[n - 1] == '\r')
        n--;
    if (n == 0 || *p == '#')
        return CLI_EXIT_OK;
    if (n > 7 && strncmp(p, "export ", 7) == 0) {
        p += 7;
        n -= 7;
    }
    if (!(eq = memchr(p, '=', n)) || !is_env_name(p, (size_t)(eq - p)))
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s:%zu: expected NAME=VALUE", file, lineno);
    k = (size_t)(eq - p);
    eq++;
    n -= k + 1;
    if (n >= 2 && (eq[0] == '"' || eq[0] == '\'') && eq[n - 1] == eq[0]) {
        eq++;
        n -= 2;
    }
    if (envv_set(e, p, k, eq, n) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    return CLI_EXIT_OK;
}

static int env_file(struct cli_ctx *ctx, struct envv *e, const char *file)
{
    char *buf = NULL, *p, *nl;
    size_t len = 0, lineno = 0;
    int rc;

    if ((rc = cli_input_file(file, &buf, &len)) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "cannot read -env-file %s: %s", file, tr_strerror(rc));
    rc = CLI_EXIT_OK;
    if (memchr(buf, '\0', len))
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "%s: the file contains NUL bytes", file);
    for (p = buf; rc == CLI_EXIT_OK && p < buf + len; p = nl + 1) {
        if (!(nl = memchr(p, '\n', (size_t)(buf + len - p))))
            nl = buf + len;
        rc = env_line(ctx, e, file, ++lineno, p, (size_t)(nl - p));
    }
    cli_secret_free(buf, len);
    return rc;
}

/* ---- references ----------------------------------------------------------------------------- */

/* The value of one reference as text: strings as they are, null as "", other JSON compact.
 * *out owned (cli_secret_free). Errors: TR_E_NOMEM. */
static int value_text(const json_t *v, char **out, size_t *out_len)
{
    char *dump = NULL;
    const char *s = "";
    size_t n = 0;
    int rc;

    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if (!json_is_null(v)) {
        if (!(dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
            return TR_E_NOMEM;
        s = dump;
        n = strlen(dump);
    }
    if ((rc = cli_secret_strdup(s, n, out)) == TR_OK)
        *out_len = n;
    if (dump)
        cli_secret_free(dump, strlen(dump));
    return rc;
}

/* Resolve entry i of e in place when its value is a reference; returns an exit code. */
static int resolve_one(struct cli_ctx *ctx, struct agent_kv *kv, struct envv *e, size_t i)
{
    char path[1024], field[256], who[160], *val = NULL;
    const char *s = e->v[i], *eq = strchr(s, '='), *ref, *hash;
    size_t nlen = (size_t)(eq - s), vlen = 0, plen;
    const json_t *v;
    int rc;

    ref = eq + 1;
    if (strncmp(ref, RUN_SCHEME, strlen(RUN_SCHEME)) != 0)
        return CLI_EXIT_OK;
    ref += strlen(RUN_SCHEME);
    snprintf(who, sizeof(who), "$%.*s", (int)(nlen < 128 ? nlen : 128), s);
    hash = strrchr(ref, '#');
    plen = hash ? (size_t)(hash - ref) : 0;
    if (!hash || plen == 0 || plen >= sizeof(path) || !hash[1] ||
        strlen(hash + 1) >= sizeof(field) || !memchr(ref, '/', plen) || ref[0] == '/')
        return cli_fail(ctx, CLI_EXIT_LOCAL,
                        "%s: malformed reference (expected " RUN_SCHEME "MOUNT/PATH#FIELD)", who);
    memcpy(path, ref, plen);
    path[plen] = '\0';
    snprintf(field, sizeof(field), "%s", hash + 1);
    if ((rc = agent_kv_field(kv, who, path, field, &v)) != CLI_EXIT_OK)
        return rc;
    if (value_text(v, &val, &vlen) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    if (memchr(val, '\0', vlen))
        rc = cli_fail(ctx, CLI_EXIT_LOCAL,
                      "%s: the value contains a NUL byte and cannot go into the environment", who);
    else if (envv_set(e, s, nlen, val, vlen) != TR_OK)
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    cli_secret_free(val, vlen);
    return rc;
}

/* Resolve every reference, reporting each failure; returns the first failure's exit code. */
static int resolve_all(struct cli_ctx *ctx, struct envv *e)
{
    struct agent_kv *kv = NULL;
    int rc, first = CLI_EXIT_OK;

    if (agent_kv_new(ctx, false, &kv) != TR_OK)
        return cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
    for (size_t i = 0; i < e->n; i++)
        if ((rc = resolve_one(ctx, kv, e, i)) != CLI_EXIT_OK && first == CLI_EXIT_OK)
            first = rc;
    agent_kv_free(kv);
    return first;
}

/* ---- the command ----------------------------------------------------------------------------- */

/* Split argv at "--": flags before it, CMD after. Without "--" every positional is CMD. */
static int run_args(struct cli_ctx *ctx, const struct cli_flag *flags, size_t nflags, int *argc,
                    char **argv, char ***out_cmd)
{
    int i, n, rc;

    for (i = 0; i < *argc && strcmp(argv[i], "--") != 0; i++)
        ;
    n = i;
    if ((rc = cli_cmd_parse(ctx, flags, nflags, &n, argv)) != CLI_CONTINUE)
        return rc;
    if (i < *argc) {
        if (n > 0)
            return cli_usage_error(ctx, "unexpected argument \"%.64s\" before --", argv[0]);
        *out_cmd = argv + i + 1;
        *argc -= i + 1;
    } else {
        *out_cmd = argv;
        *argc = n;
    }
    if (*argc < 1)
        return cli_usage_error(ctx, "missing CMD (tresor run [-env-file FILE] -- CMD [ARGS...])");
    return CLI_CONTINUE;
}

int cli_cmd_run(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *envfile = NULL;
    const struct cli_flag flags[] = {
        {"env-file", CLI_FLAG_STR, &envfile, NULL, "FILE",
         "also pass FILE's NAME=VALUE lines (they win over the environment)"},
    };
    struct envv e = {0};
    char **cmd = NULL;
    int rc, err;

    if ((rc = run_args(ctx, flags, 1, &argc, argv, &cmd)) != CLI_CONTINUE)
        return rc;
    if (envv_from_environ(&e) != TR_OK) {
        rc = cli_fail(ctx, CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    if (envfile && (rc = env_file(ctx, &e, envfile)) != CLI_EXIT_OK)
        goto out;
    if ((rc = resolve_all(ctx, &e)) != CLI_EXIT_OK)
        goto out;
    /* The child needs neither our token nor our connection. */
    cli_ctx_fini(ctx);
    fflush(NULL);
    signal(SIGPIPE, SIG_DFL); /* main ignores it; an ignored signal would survive the exec */
    execvpe(cmd[0], cmd, e.v);
    err = errno;
    signal(SIGPIPE, SIG_IGN);
    rc = cli_fail(ctx, err == ENOENT ? RUN_EXIT_NOCMD : RUN_EXIT_NOEXE, "cannot run %.200s: %s",
                  cmd[0], strerror(err));
out:
    envv_free(&e);
    return rc;
}
