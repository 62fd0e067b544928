/*
 * output - printing results as a table, JSON, YAML (libyaml's emitter) or env assignments, and
 * -field extraction.
 *
 * A command hands cli_output two things: raw, the server's response (printed whole by
 * -format=json and -format=yaml), and a list of sections, the human view (printed by
 * -format=table, searched by -field, and, for primary sections, printed by -format=env).
 * Table output escapes control bytes so a server cannot drive the terminal; -field prints the
 * value verbatim (for scripts) with no trailing newline.
 * Thread-safety: none needed. Knows nothing about HTTP.
 */
#ifndef CLI_OUTPUT_H
#define CLI_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/tr_err.h"

enum cli_format {
    CLI_FMT_TABLE = 0,
    CLI_FMT_JSON,
    CLI_FMT_YAML,
    CLI_FMT_ENV,
};

/* cli_format_parse - "table" | "json" | "yaml" | "env" (case-sensitive); false on anything else. */
bool cli_format_parse(const char *s, enum cli_format *out);

struct cli_section {
    const char *title; /* heading ("Metadata"), NULL for none */
    const json_t *obj; /* borrowed: an object (Key/Value rows), an array (one item per line under
                        * "Keys") or a string (printed verbatim) */
    bool primary;      /* searched first by -field; the only sections -format=env prints */
    bool sorted;       /* sort keys (server data); otherwise insertion order (our labels) */
    const char *const *columns; /* for an object of objects: columns to print, NULL-terminated;
                                 * the first column shows each member's key */
};

struct cli_output_opts {
    enum cli_format format;
    const char *field; /* -field=NAME or NULL */
};

/*
 * cli_output - print raw and/or the sections according to opts.
 * raw and every section are borrowed. raw may be NULL (nothing to print for json/yaml).
 * Returns TR_OK, TR_E_NOTFOUND when -field names nothing (a message is printed), TR_E_INVAL when
 * -format=env meets something that is not key/value data, TR_E_IO on an emitter failure.
 */
TR_MUST_CHECK int cli_output(const struct cli_output_opts *opts, const json_t *raw,
                             const struct cli_section *secs, size_t n);

/* cli_output_json - pretty JSON (2-space indent, keys in server order) and a newline. */
void cli_output_json(FILE *fp, const json_t *v);

/* cli_output_yaml - one YAML document for v. Errors: TR_E_IO, TR_E_NOMEM. */
TR_MUST_CHECK int cli_output_yaml(FILE *fp, const json_t *v);

/* cli_print_safe - write len bytes of s, showing control bytes (other than \n and \t) as \xNN. */
void cli_print_safe(FILE *fp, const char *s, size_t len);

/* cli_value_text - a JSON value as the table shows it: strings raw, null "n/a", others as
 * compact JSON. Returns a malloc'd string (free; wipe first if it may hold a secret) or NULL. */
char *cli_value_text(const json_t *v);

/* cli_fmt_duration - seconds as "768h", "1h30m", "45s"; 0 as "∞" (never expires). */
void cli_fmt_duration(int64_t secs, char *buf, size_t len);

#endif
