/*
 * audit_verify - offline verification of a hash-chained JSON-lines audit file, as written by the
 * server's file audit device.
 *
 * The line format and chain rules live in common/tr_audit.h (shared with the writer); this module
 * is the CLI's seam onto it, so `tresor audit verify` (cmd_audit.c) maps one small result struct
 * to output and exit codes and never depends on the format's details.
 * What the chain proves: no line was edited, inserted, removed or reordered, and the last line is
 * not torn. It cannot show that whole lines were cut from the end: compare the last seq with an
 * external record.
 * Thread-safety: reentrant. Knows nothing about HTTP; the file is only read.
 */
#ifndef CLI_AUDIT_VERIFY_H
#define CLI_AUDIT_VERIFY_H

#include <stdint.h>

#include "../common/tr_err.h"

struct cli_audit_report {
    uint64_t entries;  /* lines verified before stopping (all of them on success) */
    uint64_t bad_line; /* 1-based line of the first failure; 0 when the chain is intact */
    char reason[160];  /* why bad_line failed, or the I/O problem; never file content */
};

/*
 * cli_audit_verify_file - verify the chain in the file at path.
 * Out: *out always initialised; entries/bad_line meaningful on TR_OK and TR_E_TAMPER.
 * Errors: TR_E_TAMPER (a bad line: see out->bad_line and out->reason), TR_E_IO (cannot open or
 * read; reason says which), TR_E_INVAL, TR_E_NOMEM.
 */
TR_MUST_CHECK int cli_audit_verify_file(const char *path, struct cli_audit_report *out);

#endif
