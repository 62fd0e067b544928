#include "audit_verify.h"

#include <string.h>

#include "../common/tr_audit.h"

int cli_audit_verify_file(const char *path, struct cli_audit_report *out)
{
    memset(out, 0, sizeof(*out));
    return tr_audit_verify_file(path, &out->entries, &out->bad_line, out->reason,
                                sizeof(out->reason));
}
