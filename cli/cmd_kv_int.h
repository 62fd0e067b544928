/*
 * cmd_kv_int - what cmd_kv.c and cmd_kv_meta.c share: resolving a user's PATH to a KV mount,
 * version and relative path (the vault CLI's preflight), and building API paths from it.
 * Internal to the kv commands; nothing else includes this.
 */
#ifndef CLI_CMD_KV_INT_H
#define CLI_CMD_KV_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "cmd.h"

#define KV_PATH_MAX 1024

struct kv_path {
    char mount[KV_PATH_MAX]; /* "secret/"; "" when the server gave no mount (v1 fallback) */
    char rel[KV_PATH_MAX];   /* path inside the mount, no leading or trailing '/' */
    int version;             /* 1 or 2 */
};

/* The -mount flag every kv command takes; dest is a const char **. */
#define MOUNT_FLAG(dest)                                                                           \
    {                                                                                              \
        "mount", CLI_FLAG_STR, (dest), NULL, "MOUNT",                                              \
            "the KV mount (then PATH is relative to it), instead of its first path segment"        \
    }

/*
 * cli_kv_parse - parse flags (the command's and the global ones) and check the positional count:
 * PATH first, at least min and, when max >= 0, at most max arguments in all.
 * Returns CLI_CONTINUE or an exit code (printed). Sends nothing.
 */
int cli_kv_parse(struct cli_ctx *ctx, const struct cli_flag *flags, size_t n, int *argc,
                 char **argv, int min, int max);

/*
 * cli_kv_resolve - run GET sys/internal/ui/mounts/<path> (on -mount's value when given) and fill
 * *kp: the mount from data.path, version 2 when data.options.version is the string "2". A 404
 * (a server without the preflight) means KV v1 with the path as given.
 * Returns CLI_CONTINUE or an exit code (printed).
 */
int cli_kv_resolve(struct cli_ctx *ctx, const char *mount_flag, const char *arg,
                   struct kv_path *kp);

/* cli_kv_api_path - "<mount><prefix>/<rel>" for v2 ("data", "metadata", ...), "<mount><rel>" for
 * v1; dir appends '/' (for LIST). Truncates at len. */
void cli_kv_api_path(const struct kv_path *kp, const char *prefix, bool dir, char *buf, size_t len);

/* cli_kv_need_v2 - CLI_CONTINUE for a v2 mount, else prints that what needs v2 and returns 1. */
int cli_kv_need_v2(struct cli_ctx *ctx, const struct kv_path *kp, const char *what);

/* The `kv metadata` group (cmd_kv_meta.c). */
extern const struct cli_cmd cli_kv_metadata_cmds[];

#endif
