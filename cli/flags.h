/*
 * flags - command-line flag tables and their parser, in the style of the vault CLI.
 *
 * A flag is written -name, --name, -name=value or -name value (the last form only for flags that
 * take a value; booleans are -name or -name=BOOL, BOOL parsed strictly by cli_parse_bool). Flags
 * may appear anywhere among the positional arguments; "--" ends flag parsing and a lone "-" is a
 * positional argument (it means stdin to the commands).
 * Verbs: cli_flags_parse, cli_flags_usage, cli_parse_bool.
 * Thread-safety: none needed (pure functions over the caller's tables).
 */
#ifndef CLI_FLAGS_H
#define CLI_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../common/tr_err.h"

enum cli_flag_type {
    CLI_FLAG_BOOL,   /* dest: bool *;          -x or -x=BOOL */
    CLI_FLAG_STR,    /* dest: const char **;   borrowed from argv */
    CLI_FLAG_OPTSTR, /* dest: const char **;   -x alone stores "", -x=V stores V (never -x V) */
    CLI_FLAG_INT,    /* dest: int64_t *;       whole decimal number */
    CLI_FLAG_DUR,    /* dest: const char **;   checked as seconds or a Go duration ("1h30m") */
    CLI_FLAG_LIST,   /* dest: json_t **;       repeatable; appended to a JSON array the caller
                      *                        owns (json_decref), created on first use */
};

struct cli_flag {
    const char *name; /* without dashes */
    enum cli_flag_type type;
    void *dest;
    bool *set;           /* optional: set to true when the flag is given */
    const char *metavar; /* shown in help: "N", "PATH" */
    const char *help;
};

struct cli_flagset {
    const struct cli_flag *v;
    size_t n;
};

/*
 * cli_flags_parse - consume the flags of every set from argv[0..*argc), moving the positional
 * arguments to the front in order and setting *argc to their count. argv's pointer array is
 * rewritten; the strings stay borrowed. -h, -help and --help set *out_help and stop.
 * err (errlen bytes) receives a one-line reason on failure.
 * Errors: TR_E_INVAL (unknown flag, missing or malformed value), TR_E_NOMEM.
 */
TR_MUST_CHECK int cli_flags_parse(const struct cli_flagset *sets, size_t nsets, int *argc,
                                  char **argv, bool *out_help, char *err, size_t errlen);

/* cli_flags_usage - print one help line per flag to fp. */
void cli_flags_usage(FILE *fp, const struct cli_flag *v, size_t n);

/* cli_parse_bool - strict boolean: 1 t T TRUE true True / 0 f F FALSE false False (Go's
 * ParseBool). Returns false and leaves *out untouched for anything else. */
bool cli_parse_bool(const char *s, bool *out);

#endif
