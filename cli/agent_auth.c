#include "agent_auth.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "input.h"

/* Tokens, role ids and JWTs are small: anything bigger in their files is a mistake. */
#define AUTH_FILE_MAX (64u * 1024u)

struct agent_auth {
    struct cli_ctx *ctx;            /* borrowed */
    const struct agent_config *cfg; /* borrowed */
    bool owned;                     /* ctx's token came from our login */
    bool suspect;                   /* the server refused a request: log in again */
    bool renewable;                 /* of the owned token */
    int64_t ttl;                    /* seconds, as of since_ms; 0 = never expires */
    int64_t since_ms;               /* CLOCK_MONOTONIC of the login or last renewal */
};

int agent_auth_new(struct cli_ctx *ctx, const struct agent_config *cfg, struct agent_auth **out)
{
    struct agent_auth *a = calloc(1, sizeof(*a));

    *out = NULL;
    if (!a)
        return TR_E_NOMEM;
    a->ctx = ctx;
    a->cfg = cfg;
    if (cfg->auth != AGENT_AUTH_NONE) {
        cli_config_fini(&ctx->cfg);
        ctx->cfg.token_loaded = true; /* a NULL token: never fall back to TRESOR_TOKEN & co */
        ctx->cfg.token_src = "agent auth";
    }
    *out = a;
    return TR_OK;
}

void agent_auth_free(struct agent_auth *a)
{
    free(a);
}

bool agent_auth_owns_token(const struct agent_auth *a)
{
    return a->owned && a->ctx->cfg.token;
}

/* Hand tok (len bytes, owned, may be NULL) to ctx as the token to send. */
static void token_set(struct agent_auth *a, char *tok, size_t len, bool owned)
{
    struct cli_config *c = &a->ctx->cfg;

    cli_secret_free(c->token, c->token_len);
    c->token = tok;
    c->token_len = tok ? len : 0;
    c->token_loaded = true;
    a->owned = tok && owned;
}

/* A file holding one credential, trimmed of surrounding blanks and newlines, in a fresh
 * wiped-on-free buffer. label names it in messages. */
static int read_cred(struct agent_auth *a, const char *path, const char *label, char **out,
                     size_t *out_len)
{
    int rc = cli_input_cred(path, AUTH_FILE_MAX, out, out_len);

    if (rc == TR_E_INVAL || rc == TR_E_TOO_LARGE)
        return cli_fail(a->ctx, CLI_EXIT_LOCAL, "the %s file %s holds no usable value", label,
                        path);
    if (rc != TR_OK)
        return cli_fail(a->ctx, CLI_EXIT_LOCAL, "cannot read the %s file %s: %s", label, path,
                        tr_strerror(rc));
    return CLI_EXIT_OK;
}

/* The login body for the configured method; *out owned (wipe, then decref). */
static int login_body(struct agent_auth *a, json_t **out)
{
    const struct agent_config *cfg = a->cfg;
    char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    int rc;

    *out = NULL;
    if (cfg->auth == AGENT_AUTH_APPROLE) {
        if ((rc = read_cred(a, cfg->role_id_file, "role_id", &x, &xl)) != CLI_EXIT_OK)
            goto out;
        if (cfg->secret_id_file &&
            (rc = read_cred(a, cfg->secret_id_file, "secret_id", &y, &yl)) != CLI_EXIT_OK)
            goto out;
        *out = y ? json_pack("{s:s, s:s}", "role_id", x, "secret_id", y)
                 : json_pack("{s:s}", "role_id", x);
    } else {
        if ((rc = read_cred(a, cfg->k8s_token_file, "service account token", &x, &xl)) !=
            CLI_EXIT_OK)
            goto out;
        *out = json_pack("{s:s, s:s}", "role", cfg->k8s_role, "jwt", x);
    }
    rc = *out ? CLI_EXIT_OK : cli_fail(a->ctx, CLI_EXIT_LOCAL, "out of memory");
out:
    cli_secret_free(x, xl);
    cli_secret_free(y, yl);
    return rc;
}

/* PUT auth/token/revoke-self with tok (borrowed). */
static int revoke_token(struct agent_auth *a, const char *tok)
{
    struct cli_req rq = {.method = CLI_PUT, .path = "auth/token/revoke-self", .token = tok};
    struct cli_resp resp = {0};
    int rc = cli_api(a->ctx, "revoking the agent's token", &rq, &resp);

    cli_resp_free(&resp);
    return rc;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Remember the lease of the token just obtained or renewed (the "auth" block of the answer). */
static void lease_note(struct agent_auth *a, const json_t *auth)
{
    a->ttl = json_integer_value(json_object_get(auth, "lease_duration"));
    a->renewable = json_is_true(json_object_get(auth, "renewable"));
    a->since_ms = now_ms();
}

/* POST the login (no token sent); on success *out_tok (wiped-on-free) and the lease are set. */
static int login_call(struct agent_auth *a, const json_t *body, char **out_tok, size_t *out_len)
{
    struct cli_resp resp = {0};
    const char *t = NULL;
    int rc;

    *out_tok = NULL;
    if ((rc = cli_api_login(a->ctx, a->cfg->mount, body, &resp, &t)) != CLI_EXIT_OK)
        goto out;
    if (cli_secret_strdup(t, strlen(t), out_tok) != TR_OK) {
        rc = cli_fail(a->ctx, CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    *out_len = strlen(t);
    lease_note(a, json_object_get(resp.json, "auth"));
    rc = CLI_EXIT_OK;
out:
    cli_resp_free(&resp);
    return rc;
}

/* Log in; the new token replaces the old one, which is revoked when it was ours. */
static int login(struct agent_auth *a)
{
    struct cli_config *c = &a->ctx->cfg;
    char *old = c->token, *tok = NULL;
    size_t old_len = c->token_len, len = 0;
    bool old_owned = a->owned;
    json_t *body = NULL;
    int rc;

    if ((rc = login_body(a, &body)) != CLI_EXIT_OK)
        goto out;
    if ((rc = login_call(a, body, &tok, &len)) != CLI_EXIT_OK)
        goto out;
    c->token = NULL; /* old stays ours until it is revoked below */
    token_set(a, tok, len, true);
    a->suspect = false;
    fprintf(stderr, "%s: logged in at auth/%s (token TTL %llds%s)\n", a->ctx->name, a->cfg->mount,
            (long long)a->ttl, a->renewable ? ", renewable" : "");
    if (old && old_owned && revoke_token(a, old) == CLI_EXIT_OK)
        fprintf(stderr, "%s: revoked the previous login token\n", a->ctx->name);
    cli_secret_free(old, old_len);
out:
    cli_json_wipe(body);
    json_decref(body);
    return rc;
}

/* PUT renew-self; false when it failed (not fatal: the caller logs in again). */
static bool renew(struct agent_auth *a)
{
    struct cli_req rq = {.method = CLI_PUT, .path = "auth/token/renew-self"};
    struct cli_resp resp = {0};
    const json_t *auth = NULL;
    bool ok = false;

    if (cli_api(a->ctx, "renewing the agent's token", &rq, &resp) == CLI_EXIT_OK) {
        auth = resp.json ? json_object_get(resp.json, "auth") : NULL;
        if ((ok = json_is_object(auth)))
            lease_note(a, auth);
    }
    cli_resp_free(&resp);
    return ok;
}

/* The login token must outlive the next pass; renew it after two thirds of its TTL. */
static int ensure_login(struct agent_auth *a, int64_t horizon)
{
    int64_t age, left;

    if (!a->ctx->cfg.token || a->suspect)
        return login(a);
    if (a->ttl <= 0)
        return CLI_EXIT_OK; /* never expires */
    age = (now_ms() - a->since_ms) / 1000;
    left = a->ttl - age;
    if (left > horizon && age * 3 < a->ttl * 2)
        return CLI_EXIT_OK;
    if (a->renewable && renew(a) && a->ttl > horizon)
        return CLI_EXIT_OK;
    return login(a);
}

void agent_auth_suspect(struct agent_auth *a)
{
    if (a->owned)
        a->suspect = true;
}

int agent_auth_ensure(struct agent_auth *a, int64_t horizon_secs)
{
    char *tok = NULL;
    size_t len = 0;
    int rc;

    switch (a->cfg->auth) {
    case AGENT_AUTH_NONE:
        return CLI_EXIT_OK;
    case AGENT_AUTH_TOKEN_FILE:
        if ((rc = read_cred(a, a->cfg->token_file, "token", &tok, &len)) != CLI_EXIT_OK)
            return rc;
        token_set(a, tok, len, false);
        return CLI_EXIT_OK;
    case AGENT_AUTH_APPROLE:
    case AGENT_AUTH_K8S:
        break;
    }
    return ensure_login(a, horizon_secs);
}

int agent_auth_revoke(struct agent_auth *a)
{
    int rc = CLI_EXIT_OK;

    if (agent_auth_owns_token(a) && (rc = revoke_token(a, a->ctx->cfg.token)) == CLI_EXIT_OK)
        fprintf(stderr, "%s: revoked the login token\n", a->ctx->name);
    if (a->cfg->auth != AGENT_AUTH_NONE)
        token_set(a, NULL, 0, false);
    return rc;
}
