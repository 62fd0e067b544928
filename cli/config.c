#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tr_json.h"
#include "input.h"
#include "tokfile.h"

const char *cli_config_env(const char *name)
{
    char var[64];
    const char *v;

    snprintf(var, sizeof(var), "TRESOR_%s", name);
    if ((v = getenv(var)) && *v)
        return v;
    snprintf(var, sizeof(var), "VAULT_%s", name);
    if ((v = getenv(var)) && *v)
        return v;
    return NULL;
}

void cli_config_init(struct cli_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    const struct cli_flag f[CLI_CONFIG_NFLAGS] = {
        {"address", CLI_FLAG_STR, &cfg->flag.addr, NULL, "URL",
         "server address (env TRESOR_ADDR; default " CLI_DEFAULT_ADDR ")"},
        {"ca-cert", CLI_FLAG_STR, &cfg->flag.cacert, NULL, "FILE",
         "PEM CA certificate(s) to verify the server (env TRESOR_CACERT)"},
        {"ca-path", CLI_FLAG_STR, &cfg->flag.capath, NULL, "DIR",
         "directory of PEM CA certificates (env TRESOR_CAPATH)"},
        {"client-cert", CLI_FLAG_STR, &cfg->flag.client_cert, NULL, "FILE",
         "PEM client certificate for TLS auth (env TRESOR_CLIENT_CERT)"},
        {"client-key", CLI_FLAG_STR, &cfg->flag.client_key, NULL, "FILE",
         "PEM private key for -client-cert (env TRESOR_CLIENT_KEY)"},
        {"tls-server-name", CLI_FLAG_STR, &cfg->flag.server_name, NULL, "NAME",
         "name (or IP) to send as SNI and to verify (env TRESOR_TLS_SERVER_NAME)"},
        {"tls-skip-verify", CLI_FLAG_OPTSTR, &cfg->flag.skip_verify, NULL, "BOOL",
         "do not verify the server certificate: insecure (env TRESOR_SKIP_VERIFY)"},
        {"format", CLI_FLAG_STR, &cfg->flag.format, NULL, "FMT",
         "output format: table, json, yaml or env (env TRESOR_FORMAT)"},
        {"field", CLI_FLAG_STR, &cfg->flag.field, NULL, "NAME",
         "print only this field's raw value, without a trailing newline"},
        {"token-file", CLI_FLAG_STR, &cfg->flag.token_file, NULL, "FILE",
         "read the token from FILE (- for stdin) instead of TRESOR_TOKEN"},
    };
    memcpy(cfg->flags, f, sizeof(f));
}

static const char *pick(const char *flag, const char *env_name, const char *def)
{
    const char *v;

    if (flag)
        return flag;
    if ((v = cli_config_env(env_name)))
        return v;
    return def;
}

static int resolve_skip_verify(struct cli_config *cfg, char *err, size_t errlen)
{
    const char *v = cfg->flag.skip_verify;
    const char *what = "-tls-skip-verify";

    cfg->skip_verify = false;
    if (v && *v == '\0') { /* bare -tls-skip-verify */
        cfg->skip_verify = true;
        return TR_OK;
    }
    if (!v) {
        v = cli_config_env("SKIP_VERIFY");
        what = getenv("TRESOR_SKIP_VERIFY") && *getenv("TRESOR_SKIP_VERIFY") ? "TRESOR_SKIP_VERIFY"
                                                                             : "VAULT_SKIP_VERIFY";
    }
    if (v && !cli_parse_bool(v, &cfg->skip_verify)) {
        snprintf(err, errlen, "invalid boolean in %s (use true or false, 1 or 0)", what);
        return TR_E_CONFIG;
    }
    return TR_OK;
}

int cli_config_resolve(struct cli_config *cfg, char *err, size_t errlen)
{
    const char *fmt, *t;
    int64_t secs;
    int rc;

    cfg->addr = pick(cfg->flag.addr, "ADDR", CLI_DEFAULT_ADDR);
    cfg->cacert = pick(cfg->flag.cacert, "CACERT", NULL);
    cfg->capath = pick(cfg->flag.capath, "CAPATH", NULL);
    cfg->client_cert = pick(cfg->flag.client_cert, "CLIENT_CERT", NULL);
    cfg->client_key = pick(cfg->flag.client_key, "CLIENT_KEY", NULL);
    cfg->server_name = pick(cfg->flag.server_name, "TLS_SERVER_NAME", NULL);
    cfg->out.field = cfg->flag.field;
    if ((rc = resolve_skip_verify(cfg, err, errlen)) != TR_OK)
        return rc;
    fmt = pick(cfg->flag.format, "FORMAT", "table");
    if (!cli_format_parse(fmt, &cfg->out.format)) {
        snprintf(err, errlen, "unknown output format \"%.32s\" (use table, json, yaml or env)",
                 fmt);
        return TR_E_CONFIG;
    }
    if (!cfg->client_cert != !cfg->client_key) {
        snprintf(err, errlen, "a client certificate and its key must be given together");
        return TR_E_CONFIG;
    }
    cfg->timeout_secs = CLI_DEFAULT_TIMEOUT;
    if ((t = cli_config_env("CLIENT_TIMEOUT"))) {
        if (!tr_parse_duration(t, &secs) || secs <= 0 || secs > 86400) {
            snprintf(err, errlen, "invalid TRESOR_CLIENT_TIMEOUT (seconds or a duration: 30s)");
            return TR_E_CONFIG;
        }
        cfg->timeout_secs = (int)secs;
    }
    return TR_OK;
}

/* Tokens piped in or kept in files usually end with a newline: trim blanks at both ends. */
static int token_set_trimmed(struct cli_config *cfg, const char *s, size_t len)
{
    while (len &&
           (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        len--;
    }
    if (len == 0)
        return TR_E_INVAL;
    cli_secret_free(cfg->token, cfg->token_len);
    cfg->token = NULL;
    if (cli_secret_strdup(s, len, &cfg->token) != TR_OK)
        return TR_E_NOMEM;
    cfg->token_len = len;
    return TR_OK;
}

static int token_from_file(struct cli_config *cfg, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if ((rc = cli_input_file(cfg->flag.token_file, &buf, &len)) != TR_OK) {
        snprintf(err, errlen, "cannot read -token-file: %s", tr_strerror(rc));
        return rc;
    }
    if ((rc = token_set_trimmed(cfg, buf, len)) != TR_OK)
        snprintf(err, errlen, "-token-file holds no token");
    cli_secret_free(buf, len);
    cfg->token_src = "-token-file";
    return rc;
}

int cli_config_token(struct cli_config *cfg, const char **out, char *err, size_t errlen)
{
    const char *env;
    char *buf = NULL;
    size_t len = 0;
    int rc = TR_OK;

    *out = NULL;
    if (cfg->token_loaded) {
        *out = cfg->token;
        return TR_OK;
    }
    if (cfg->flag.token_file) {
        rc = token_from_file(cfg, err, errlen);
    } else if ((env = cli_config_env("TOKEN"))) {
        cfg->token_src =
            getenv("TRESOR_TOKEN") && *getenv("TRESOR_TOKEN") ? "TRESOR_TOKEN" : "VAULT_TOKEN";
        if ((rc = token_set_trimmed(cfg, env, strlen(env))) == TR_E_INVAL)
            rc = TR_OK; /* all blanks: same as unset */
    } else if ((rc = cli_tokfile_read(&buf, &len)) == TR_OK) {
        cfg->token_src = "token file";
        if ((rc = token_set_trimmed(cfg, buf, len)) == TR_E_INVAL)
            rc = TR_OK;
        cli_secret_free(buf, len);
    } else if (rc == TR_E_NOTFOUND) {
        rc = TR_OK;
    } else {
        snprintf(err, errlen, "cannot read the token file: %s", tr_strerror(rc));
    }
    if (rc != TR_OK)
        return rc;
    cfg->token_loaded = true;
    *out = cfg->token;
    return TR_OK;
}

const char *cli_config_token_source(const struct cli_config *cfg)
{
    return cfg->token ? cfg->token_src : NULL;
}

void cli_config_fini(struct cli_config *cfg)
{
    if (!cfg)
        return;
    cli_secret_free(cfg->token, cfg->token_len);
    cfg->token = NULL;
    cfg->token_len = 0;
    cfg->token_loaded = false;
}
