/*
 * input - reading secrets and data from the terminal, stdin and files.
 *
 * Everything read here may be a secret (an unseal share, a token, a secret value), so buffers
 * are plain heap memory that is wiped before it is freed: grown by allocate-copy-wipe-free, never
 * realloc, and released only with cli_secret_free. Every returned buffer is NUL-terminated and
 * its allocation is exactly len + 1 bytes.
 * Verbs: cli_input_is_tty, cli_input_prompt, cli_input_stdin, cli_input_line, cli_input_file,
 * cli_input_cred, cli_secret_free. Stdin can be consumed once per process; a second read fails.
 * Thread-safety: none (the CLI is single-threaded); the prompt changes terminal state.
 * Never knows about HTTP or JSON.
 */
#ifndef CLI_INPUT_H
#define CLI_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/tr_err.h"

/* Largest input read from stdin or a file, and the longest line accepted at a prompt. */
#define CLI_INPUT_MAX  (32u * 1024u * 1024u)
#define CLI_PROMPT_MAX 4096u

/* cli_input_is_tty - true when stdin is a terminal (prompting is possible). */
bool cli_input_is_tty(void);

/*
 * cli_input_prompt - print prompt to stderr and read one line from the terminal on stdin with
 * echo switched off; the trailing newline is dropped. The terminal is restored on every path,
 * including SIGINT/SIGTERM/SIGHUP during the read.
 * Out: *out (owned, free with cli_secret_free(*out, *out_len)) and *out_len.
 * Errors: TR_E_STATE (stdin is not a terminal), TR_E_IO (read failed or EOF before any byte),
 * TR_E_TOO_LARGE (line longer than CLI_PROMPT_MAX), TR_E_NOMEM.
 */
TR_MUST_CHECK int cli_input_prompt(const char *prompt, char **out, size_t *out_len);

/*
 * cli_input_stdin - read all of stdin (bytes kept as they are, no trimming).
 * Out: as cli_input_prompt. Errors: TR_E_STATE (stdin already consumed), TR_E_IO, TR_E_TOO_LARGE
 * (more than CLI_INPUT_MAX bytes), TR_E_NOMEM.
 */
TR_MUST_CHECK int cli_input_stdin(char **out, size_t *out_len);

/*
 * cli_input_line - read all of stdin and strip trailing CR/LF and blanks: for tokens and unseal
 * shares piped in with echo. Errors: as cli_input_stdin, plus TR_E_INVAL when nothing is left.
 */
TR_MUST_CHECK int cli_input_line(char **out, size_t *out_len);

/*
 * cli_input_file - read a whole file; path "-" reads stdin (cli_input_stdin).
 * Errors: TR_E_NOTFOUND (no such file), TR_E_IO, TR_E_TOO_LARGE, TR_E_NOMEM, TR_E_STATE.
 */
TR_MUST_CHECK int cli_input_file(const char *path, char **out, size_t *out_len);

/*
 * cli_input_cred - one credential (a token, a secret ID, a JWT) from a file, or from stdin when
 * path is "-": surrounding blanks and newlines are trimmed, and the rest must be non-empty, hold
 * no NUL byte and be at most max bytes long.
 * Out: as cli_input_prompt. Errors: as cli_input_file, plus TR_E_INVAL (nothing usable) and
 * TR_E_TOO_LARGE (over max).
 */
TR_MUST_CHECK int cli_input_cred(const char *path, size_t max, char **out, size_t *out_len);

/* cli_secret_free - wipe len + 1 bytes at p and free it. NULL-safe. */
void cli_secret_free(char *p, size_t len);

/* cli_secret_strdup - copy s into a new wiped-on-free buffer (len + 1 bytes).
 * Errors: TR_E_NOMEM. */
TR_MUST_CHECK int cli_secret_strdup(const char *s, size_t len, char **out);

#endif
