/*
 * fsutil - durable, private file writes for the CLI (the token helper file, backups).
 *
 * cli_fs_write_atomic writes to a private temp file next to the target (mkstemp: O_EXCL, 0600),
 * fsyncs it, renames it over the target and fsyncs the directory, so readers see the old file or
 * the new one and never a partial write. The data is not wiped here: callers own it.
 * Thread-safety: reentrant. Knows nothing about HTTP.
 */
#ifndef CLI_FSUTIL_H
#define CLI_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/tr_err.h"

/*
 * cli_fs_write_atomic - replace path with len bytes of data, mode 0600.
 * With no_clobber, an existing path is refused (checked just before the rename, then link()
 * is used so a racing creator still wins).
 * Errors: TR_E_EXISTS (no_clobber and path exists), TR_E_TOO_LARGE (path too long), TR_E_IO.
 */
TR_MUST_CHECK int cli_fs_write_atomic(const char *path, const void *data, size_t len,
                                      bool no_clobber);

#endif
