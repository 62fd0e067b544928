#include "tokfile.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "input.h"

#define TOKFILE_MAX (64u * 1024u)

int cli_tokfile_path(char *buf, size_t len)
{
    const char *home = getenv("HOME");
    struct passwd *pw;
    int n;

    if (!home || !*home) {
        pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || !*home)
        return TR_E_CONFIG;
    n = snprintf(buf, len, "%s/%s", home, CLI_TOKFILE_NAME);
    return n > 0 && (size_t)n < len ? TR_OK : TR_E_TOO_LARGE;
}

int cli_tokfile_read(char **out, size_t *out_len)
{
    char path[4096];
    struct stat st;
    int rc;

    *out = NULL;
    *out_len = 0;
    if ((rc = cli_tokfile_path(path, sizeof(path))) != TR_OK)
        return rc;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? TR_E_NOTFOUND : TR_E_IO;
    if (st.st_size > (off_t)TOKFILE_MAX)
        return TR_E_TOO_LARGE;
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        fprintf(stderr, "tresor: warning: %s is accessible by other users (chmod 600 it)\n", path);
    return cli_input_file(path, out, out_len);
}

int cli_tokfile_write(const char *tok, size_t len)
{
    char path[4096];
    int rc;

    if (len > TOKFILE_MAX)
        return TR_E_TOO_LARGE;
    if ((rc = cli_tokfile_path(path, sizeof(path))) != TR_OK)
        return rc;
    return cli_fs_write_atomic(path, tok, len, false);
}

int cli_tokfile_erase(void)
{
    char path[4096];
    int rc;

    if ((rc = cli_tokfile_path(path, sizeof(path))) != TR_OK)
        return rc;
    if (unlink(path) != 0 && errno != ENOENT)
        return TR_E_IO;
    return TR_OK;
}
