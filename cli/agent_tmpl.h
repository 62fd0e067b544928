/*
 * agent_tmpl - the agent's template language: literal text plus exactly one action form,
 *
 *     {{ secret "PATH" "FIELD" }}
 *
 * which stands for field FIELD of the KV secret at PATH. Blanks (spaces, tabs) around the words
 * are free; the two arguments are double-quoted strings without escapes, control bytes or
 * quotes. Anything else between {{ and }} (other functions, pipes, variables, trim markers
 * {{- -}}, a missing }}) is refused when the template is parsed, with the line and column.
 * This is deliberately not Go's text/template: a tiny scanner has no surprises.
 *
 * Verbs: agent_tmpl_parse (or agent_tmpl_new_field), agent_tmpl_render, agent_tmpl_free.
 * A parsed template holds only configuration (paths, field names, literal text), never secret
 * values; the rendered output is a secret and is returned in a wiped-on-free buffer.
 * Thread-safety: a template is immutable after parsing. Knows nothing about HTTP.
 */
#ifndef CLI_AGENT_TMPL_H
#define CLI_AGENT_TMPL_H

#include <jansson.h>
#include <stddef.h>

#include "../common/tr_err.h"

/* Largest template text, and the longest PATH or FIELD argument. */
#define AGENT_TMPL_MAX     (1024u * 1024u)
#define AGENT_TMPL_ARG_MAX 1024u

struct agent_tmpl;

/*
 * agent_tmpl_parse - scan len bytes of text into *out (owned; agent_tmpl_free).
 * err (errlen bytes) receives "line L, column C: <reason>" on failure; it quotes at most the
 * function name, never the template's literal text.
 * Errors: TR_E_INVAL (bad action syntax), TR_E_TOO_LARGE (over AGENT_TMPL_MAX or an argument
 * over AGENT_TMPL_ARG_MAX), TR_E_NOMEM.
 */
TR_MUST_CHECK int agent_tmpl_parse(const char *text, size_t len, struct agent_tmpl **out, char *err,
                                   size_t errlen);

/*
 * agent_tmpl_new_field - a template that is exactly one secret field (no literal text): the
 * `secret:` + `field:` form of the configuration. path and field are copied.
 * Errors: TR_E_INVAL (empty or over AGENT_TMPL_ARG_MAX), TR_E_NOMEM.
 */
TR_MUST_CHECK int agent_tmpl_new_field(const char *path, const char *field,
                                       struct agent_tmpl **out);

/* agent_tmpl_free - release t. NULL-safe. */
void agent_tmpl_free(struct agent_tmpl *t);

/*
 * agent_tmpl_lookup_fn - the caller's resolver: set *out to the value of field of the secret at
 * path (borrowed; must stay valid until agent_tmpl_render returns) and return 0, or return a
 * non-zero code of the caller's choosing, which agent_tmpl_render hands back unchanged.
 */
typedef int (*agent_tmpl_lookup_fn)(void *arg, const char *path, const char *field,
                                    const json_t **out);

/*
 * agent_tmpl_render - the text with every action replaced by its value: JSON strings as their
 * bytes, other JSON values as compact JSON (null as an empty string).
 * Out: *out (owned; cli_secret_free(*out, *out_len)), NUL-terminated; NULL on failure.
 * Returns 0, TR_E_NOMEM, TR_E_TOO_LARGE (output over 64 MiB), or the lookup's non-zero code.
 */
TR_MUST_CHECK int agent_tmpl_render(const struct agent_tmpl *t, agent_tmpl_lookup_fn fn, void *arg,
                                    char **out, size_t *out_len);

#endif
