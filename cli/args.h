/*
 * args - turning KEY=VALUE arguments into a JSON request object, as the vault CLI does.
 *
 *   KEY=VALUE   the literal string VALUE ("\@x" and "\-" escape a leading @ or a lone -)
 *   KEY=@FILE   the contents of FILE
 *   KEY=-       all of stdin
 *   KEY         no "=": the value is prompted for without echo when stdin is a terminal;
 *               otherwise an error (secrets never have to be typed on the command line)
 *   -           a JSON object read from stdin, merged in
 *   @FILE       a JSON object read from FILE, merged in
 * A key given twice collects its values in an array. Stdin can be read only once.
 * Values are secrets: the buffers that held them are wiped; the JSON holds its own copy, which
 * the caller should cli_json_wipe before json_decref.
 * Verbs: cli_args_kv, cli_args_versions, cli_args_split.
 * Thread-safety: none. Knows nothing about HTTP.
 */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include <jansson.h>
#include <stddef.h>

#include "../common/tr_err.h"

/*
 * cli_args_kv - parse argv[0..argc) as above into a new object *out (owned; json_decref).
 * err (errlen bytes) names the offending argument's key, never its value.
 * Errors: TR_E_INVAL (malformed argument, empty key, bad JSON, not UTF-8, missing value with no
 * terminal), TR_E_NOTFOUND (@FILE missing), TR_E_IO, TR_E_STATE (stdin used twice),
 * TR_E_TOO_LARGE, TR_E_NOMEM.
 */
TR_MUST_CHECK int cli_args_kv(int argc, char **argv, json_t **out, char *err, size_t errlen);

/*
 * cli_args_versions - "1,2, 3" into ["1","2","3"] (strings: what the vault CLI sends).
 * Out: *out owned. Errors: TR_E_INVAL (empty, or an item that is not a positive whole number),
 * TR_E_NOMEM.
 */
TR_MUST_CHECK int cli_args_versions(const char *s, json_t **out);

/*
 * cli_args_split - split "k=v" at the first '=' into a borrowed key span and value pointer.
 * Errors: TR_E_INVAL (no '=' or empty key).
 */
TR_MUST_CHECK int cli_args_split(const char *arg, size_t *out_klen, const char **out_val);

#endif
