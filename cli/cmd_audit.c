/*
 * cmd_audit - `audit verify FILE [FILE...]`: check an audit log's hash chain offline, across the
 * files of a rotation series given oldest first (audit_verify.h).
 */

#include "../common/tr_audit.h"
#include "audit_verify.h"
#include "commands.h"

static int report_ok(const struct cli_audit_report *rep, const char *first)
{
    if (rep->entries)
        printf("OK: %llu audit entries verified (seq %llu..%llu) in %zu file(s), hash chain "
               "intact\n",
               (unsigned long long)rep->entries, (unsigned long long)rep->first_seq,
               (unsigned long long)rep->last_seq, rep->files_ok);
    else
        printf("OK: 0 audit entries verified in %zu file(s), hash chain intact\n", rep->files_ok);
    if (rep->continues) {
        printf("note: %s continues ", first);
        tr_audit_print_name(stdout, rep->prev_file);
        printf(" (line %llu); verify it together with that file to check the link\n",
               (unsigned long long)rep->prev_seq);
    }
    return CLI_EXIT_OK;
}

static int report_broken(struct cli_ctx *ctx, const struct cli_audit_report *rep, char **argv)
{
    if (rep->bad_line == 0 && rep->bad_file > 0)
        return cli_fail(ctx, CLI_EXIT_SERVER,
                        "%s: hash chain broken between it and %s (%s); %llu entries before it "
                        "verified",
                        argv[rep->bad_file], argv[rep->bad_file - 1], rep->reason,
                        (unsigned long long)rep->entries);
    return cli_fail(ctx, CLI_EXIT_SERVER,
                    "%s: hash chain broken at line %llu (%s); %llu entries before it verified",
                    argv[rep->bad_file], (unsigned long long)rep->bad_line, rep->reason,
                    (unsigned long long)rep->entries);
}

static int audit_verify(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_audit_report rep;
    int rc;

    if ((rc = cli_cmd_parse_offline(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc < 1)
        return cli_usage_error(ctx, "expected at least one FILE");
    switch ((rc = cli_audit_verify_files((const char *const *)argv, (size_t)argc, &rep))) {
    case TR_OK:
        return report_ok(&rep, argv[0]);
    case TR_E_TAMPER:
        return report_broken(ctx, &rep, argv);
    case TR_E_IO:
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s: %s", argv[rep.bad_file],
                        rep.reason[0] ? rep.reason : tr_strerror(rc));
    default:
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s", tr_strerror(rc));
    }
}

const struct cli_cmd cli_audit_cmds[] = {
    {"verify", "FILE [FILE...]", "verify the hash chain of JSON-lines audit files (offline)",
     "Checks every line's hash, the link to the previous line and the sequence numbers (format:\n"
     "common/tr_audit.h). A rotated log is a series of files, each new one starting with a\n"
     "rotation marker that links to the last line of the file before it: give them oldest\n"
     "first (e.g. `tresor audit verify audit.log.1234 audit.log`) to check those links as well.\n"
     "A file starting with a marker verified on its own is reported as a continuation.\n"
     "Exit codes: 0 chain intact, 2 chain broken (the first bad line or link is reported), 1 a\n"
     "file cannot be read. Lines cut from the end cannot be detected: compare the last seq with\n"
     "an external record.",
     audit_verify, NULL},
    {0},
};
