#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return TR_E_IO;
        p += n;
        len -= (size_t)n;
    }
    return TR_OK;
}

/* Make the rename durable. A failure here is not worth failing the write for. */
static void sync_dir(const char *path)
{
    char copy[4096];
    int fd;

    snprintf(copy, sizeof(copy), "%s", path);
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Put the finished temp file in place: rename, or link (which fails if path exists). */
static int install(const char *tmp, const char *path, bool no_clobber)
{
    if (!no_clobber)
        return rename(tmp, path) == 0 ? TR_OK : TR_E_IO;
    if (link(tmp, path) != 0)
        return errno == EEXIST ? TR_E_EXISTS : TR_E_IO;
    unlink(tmp);
    return TR_OK;
}

int cli_fs_write_atomic(const char *path, const void *data, size_t len, bool no_clobber)
{
    char tmp[4096];
    int fd = -1, rc = TR_E_IO;
    int n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);

    if (n < 0 || (size_t)n >= sizeof(tmp))
        return TR_E_TOO_LARGE;
    /* mkstemp creates the file 0600 with O_EXCL: nobody else can open it before it is ours. */
    if ((fd = mkstemp(tmp)) < 0)
        return TR_E_IO;
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0)
        goto out;
    if ((rc = write_all(fd, data, len)) != TR_OK)
        goto out;
    rc = TR_E_IO;
    if (fsync(fd) != 0)
        goto out;
    n = close(fd);
    fd = -1;
    if (n != 0)
        goto out;
    if ((rc = install(tmp, path, no_clobber)) != TR_OK)
        goto out;
    tmp[0] = '\0'; /* installed: nothing left to unlink */
    sync_dir(path);
    rc = TR_OK;
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    return rc;
}
