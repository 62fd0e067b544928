#include "audit_verify.h"

#include <string.h>

#include "../common/tr_audit.h"

_Static_assert(CLI_AUDIT_NAME_MAX == TR_AUDIT_ROT_FILE_MAX, "rotated file name bound");
_Static_assert(sizeof(((struct cli_audit_report *)0)->reason) ==
                   sizeof(((struct tr_audit_report *)0)->reason),
               "reason size");

int cli_audit_verify_files(const char *const *paths, size_t n, struct cli_audit_report *out)
{
    struct tr_audit_report rep;
    int rc = tr_audit_verify_files(paths, n, &rep);

    memset(out, 0, sizeof(*out));
    out->files_ok = rep.files_ok;
    out->bad_file = rep.bad_file;
    out->entries = rep.entries;
    out->bad_line = rep.bad_line;
    out->first_seq = rep.first_seq;
    out->last_seq = rep.last_seq;
    out->continues = rep.continues;
    if (rep.continues) {
        out->prev_seq = rep.first.rot_seq;
        memcpy(out->prev_file, rep.first.rot_file, sizeof(out->prev_file));
    }
    memcpy(out->reason, rep.reason, sizeof(out->reason));
    return rc;
}
