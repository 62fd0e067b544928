/*
 * cmd_audit - `audit verify FILE`: check an audit log's hash chain offline (audit_verify.h).
 */
#include "audit_verify.h"
#include "commands.h"

static int audit_verify(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_audit_report rep;
    int rc;

    if ((rc = cli_cmd_parse_offline(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 1)
        return cli_usage_error(ctx, "expected exactly one FILE");
    switch ((rc = cli_audit_verify_file(argv[0], &rep))) {
    case TR_OK:
        printf("OK: %llu audit entries verified, hash chain intact\n",
               (unsigned long long)rep.entries);
        return CLI_EXIT_OK;
    case TR_E_TAMPER:
        return cli_fail(ctx, CLI_EXIT_SERVER,
                        "%s: hash chain broken at line %llu (%s); %llu "
                        "entries before it verified",
                        argv[0], (unsigned long long)rep.bad_line, rep.reason,
                        (unsigned long long)rep.entries);
    default:
        return cli_fail(ctx, CLI_EXIT_LOCAL, "%s: %s", argv[0],
                        rep.reason[0] ? rep.reason : tr_strerror(rc));
    }
}

const struct cli_cmd cli_audit_cmds[] = {
    {"verify", "FILE", "verify the hash chain of a JSON-lines audit file (offline)",
     "Checks every line's hash, the link to the previous line and the sequence numbers (format:\n"
     "common/tr_audit.h). Exit codes: 0 chain intact, 2 chain broken (the first bad line is\n"
     "reported), 1 the file cannot be read. Lines cut from the end cannot be detected: compare\n"
     "the last seq with an external record.",
     audit_verify, NULL},
    {0},
};
