/*
 * tokfile - the token helper: the login token kept in ~/.tresor-token.
 *
 * The file holds the raw token and nothing else, mode 0600. Writes are atomic: a private temp
 * file in the same directory, fsync, rename over the old file, fsync of the directory; a crash
 * leaves the old token or the new one, never a mix. $HOME names the directory (the password
 * database when HOME is unset).
 * Verbs: cli_tokfile_path, cli_tokfile_read, cli_tokfile_write, cli_tokfile_erase.
 * Thread-safety: none. Knows nothing about HTTP.
 */
#ifndef CLI_TOKFILE_H
#define CLI_TOKFILE_H

#include <stddef.h>

#include "../common/tr_err.h"

#define CLI_TOKFILE_NAME ".tresor-token"

/* cli_tokfile_path - the helper file's path into buf (len bytes).
 * Errors: TR_E_CONFIG (no home directory), TR_E_TOO_LARGE (path does not fit). */
TR_MUST_CHECK int cli_tokfile_path(char *buf, size_t len);

/*
 * cli_tokfile_read - the stored token. *out is owned (cli_secret_free(*out, *out_len)).
 * Warns on stderr when the file is readable by group or others.
 * Errors: TR_E_NOTFOUND (no file), TR_E_IO, TR_E_TOO_LARGE (over 64 KiB), TR_E_NOMEM, TR_E_CONFIG.
 */
TR_MUST_CHECK int cli_tokfile_read(char **out, size_t *out_len);

/* cli_tokfile_write - replace the stored token atomically with tok (len bytes), mode 0600.
 * Errors: TR_E_IO, TR_E_CONFIG, TR_E_TOO_LARGE. */
TR_MUST_CHECK int cli_tokfile_write(const char *tok, size_t len);

/* cli_tokfile_erase - remove the stored token; absent is success. Errors: TR_E_IO, TR_E_CONFIG. */
TR_MUST_CHECK int cli_tokfile_erase(void);

#endif
