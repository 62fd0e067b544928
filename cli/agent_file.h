/*
 * agent_file - the agent's rendered files: compare with what is on disk, replace atomically.
 *
 * agent_file_write creates a temp file next to the destination (mkstemp: O_EXCL, private),
 * sets its mode with fchmod before writing a byte, writes, fsyncs, renames it over the
 * destination and fsyncs the directory: readers see the old file or the new one, never a partial
 * one, and never a moment where the secret is readable with a looser mode. rename replaces a
 * symlink at the destination instead of following it.
 * agent_file_same reads the destination (O_NOFOLLOW, bounded by the expected length) into a
 * wiped buffer and compares it in constant time, so the agent rewrites a file (and runs its
 * command) only when the content or the mode differ, also after a restart.
 * The data is not wiped here: callers own it.
 * Thread-safety: reentrant. Knows nothing about HTTP or templates.
 */
#ifndef CLI_AGENT_FILE_H
#define CLI_AGENT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../common/tr_err.h"

/* agent_file_same - true when path is a regular file (not a symlink) with exactly mode perms
 * and exactly these len bytes. Any error reading it counts as "different". */
bool agent_file_same(const char *path, const char *data, size_t len, mode_t perms);

/*
 * agent_file_write - replace path with len bytes of data, mode perms (umask does not apply).
 * err (errlen bytes) gets the failing step and strerror on failure.
 * Errors: TR_E_TOO_LARGE (path too long), TR_E_IO.
 */
TR_MUST_CHECK int agent_file_write(const char *path, const char *data, size_t len, mode_t perms,
                                   char *err, size_t errlen);

#endif
