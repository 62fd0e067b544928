/*
 * audit_verify - offline verification of hash-chained JSON-lines audit files, as written by the
 * server's file audit device: one file, or a rotation series given oldest first.
 *
 * The line format and chain rules live in common/tr_audit.h (shared with the writer); this module
 * is the CLI's seam onto it, so `tresor audit verify` (cmd_audit.c) maps one small result struct
 * to output and exit codes and never depends on the format's details.
 * What the chain proves: no line was edited, inserted, removed or reordered, the last line is not
 * torn, and each file of a series continues the one before it exactly as it was at rotation (its
 * first line, a rotation marker, names the rotated file and links to its last line and size).
 * A file that starts with a marker and is verified without its predecessor is reported as a
 * continuation whose link was not checked. It cannot show that whole lines (or the newest files)
 * were cut from the end: compare the last seq with an external record.
 * Thread-safety: reentrant. Knows nothing about HTTP; the files are only read.
 */
#ifndef CLI_AUDIT_VERIFY_H
#define CLI_AUDIT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tr_err.h"

#define CLI_AUDIT_NAME_MAX 255 /* bytes of a rotated file's base name */

/* The outcome. On a broken link, bad_file is the later file of the two and bad_line 0. */
struct cli_audit_report {
    size_t files_ok;    /* files fully verified (all of them on success) */
    size_t bad_file;    /* 0-based index of the file that failed (TR_E_TAMPER, TR_E_IO) */
    uint64_t entries;   /* lines verified before stopping (all of them on success) */
    uint64_t bad_line;  /* 1-based line of bad_file; 0: intact, broken link or I/O error */
    uint64_t first_seq; /* seq range verified; 0..0 when no line */
    uint64_t last_seq;
    bool continues;    /* the first file continues an earlier one, which was not checked */
    uint64_t prev_seq; /* continues: that file's last seq ... */
    char prev_file[CLI_AUDIT_NAME_MAX + 1]; /* ... and base name, as the marker records them */
    char reason[160]; /* why it failed, or the I/O problem; never file content */
};

/*
 * cli_audit_verify_files - verify the chain across the n files at paths, oldest first.
 * In:  paths, n >= 1 borrowed paths.
 * Out: *out always initialised; meaningful on TR_OK, TR_E_TAMPER and TR_E_IO (see the struct).
 * Errors: TR_E_TAMPER (a bad line or a broken link between files: see out->bad_file,
 *      out->bad_line and out->reason), TR_E_IO (cannot open or read out->bad_file; reason says
 *      which), TR_E_INVAL, TR_E_NOMEM, TR_E_INTERNAL.
 */
TR_MUST_CHECK int cli_audit_verify_files(const char *const *paths, size_t n,
                                         struct cli_audit_report *out);

#endif
