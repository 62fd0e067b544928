/*
 * config - connection and output settings from flags, the environment and defaults.
 *
 * Precedence: flag > TRESOR_* > VAULT_* > default; an empty variable counts as unset. The token
 * comes from -token-file, else TRESOR_TOKEN, else VAULT_TOKEN, else the token helper file
 * (~/.tresor-token, see tokfile.h); it is loaded on first use and wiped by cli_config_fini.
 * Usage: cli_config_init; cli_flags_parse with cfg->flags; cli_config_resolve; ...;
 * cli_config_token when a request needs it; cli_config_fini.
 * Thread-safety: none. Strings are borrowed from argv or the environment (process lifetime),
 * except the token.
 */
#ifndef CLI_CONFIG_H
#define CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/tr_err.h"
#include "flags.h"
#include "output.h"

#define CLI_DEFAULT_ADDR    "https://127.0.0.1:8200"
#define CLI_DEFAULT_TIMEOUT 60
#define CLI_CONFIG_NFLAGS   10

struct cli_config {
    /* Raw flag values, NULL when not given (filled by cli_flags_parse through flags[]). */
    struct {
        const char *addr, *cacert, *capath, *client_cert, *client_key, *server_name;
        const char *skip_verify, *format, *field, *token_file;
    } flag;
    struct cli_flag flags[CLI_CONFIG_NFLAGS]; /* the global flags every command accepts */

    /* Resolved by cli_config_resolve. */
    const char *addr;
    const char *cacert, *capath, *client_cert, *client_key, *server_name;
    bool skip_verify;
    int timeout_secs;
    struct cli_output_opts out;

    /* Loaded by cli_config_token; owned secret (cli_secret_free). */
    char *token;
    size_t token_len;
    bool token_loaded;
    const char *token_src; /* static text naming the source, for warnings */
};

/* cli_config_init - zero cfg and point cfg->flags at cfg->flag. cfg must not move afterwards. */
void cli_config_init(struct cli_config *cfg);

/*
 * cli_config_resolve - apply the environment and defaults under the flags and validate:
 * booleans strictly (TRESOR_SKIP_VERIFY=yes is an error), the format name, the timeout, and that
 * client cert and key come together. err (errlen bytes) names the offending setting.
 * Errors: TR_E_CONFIG.
 */
TR_MUST_CHECK int cli_config_resolve(struct cli_config *cfg, char *err, size_t errlen);

/*
 * cli_config_token - the token to send, loading it on the first call. *out is borrowed from cfg
 * (valid until cli_config_fini) and NULL when no token is configured.
 * Errors: TR_E_IO, TR_E_INVAL (empty -token-file), TR_E_NOMEM; err says which source failed.
 */
TR_MUST_CHECK int cli_config_token(struct cli_config *cfg, const char **out, char *err,
                                   size_t errlen);

/* cli_config_token_source - where the token came from ("TRESOR_TOKEN", "token file", ...) or
 * NULL when none was loaded. Used for warnings; never the token itself. */
const char *cli_config_token_source(const struct cli_config *cfg);

/* cli_config_env - TRESOR_<name> if set and non-empty, else VAULT_<name>, else NULL. Borrowed. */
const char *cli_config_env(const char *name);

/* cli_config_fini - wipe and free the token. NULL-safe; cfg may be re-initialised after. */
void cli_config_fini(struct cli_config *cfg);

#endif
