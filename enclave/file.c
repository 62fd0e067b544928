/* Small file helpers for the core's own blobs (an outcall listed in enclave.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/tr_log.h"
#include "provider_int.h"

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return errno == ENOSPC || errno == EDQUOT ? TR_E_NOSPACE : TR_E_IO;
        p += n;
        len -= (size_t)n;
    }
    return TR_OK;
}

static int fsync_dir_of(const char *path)
{
    char dir[ENC_PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s", path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return TR_E_IO;
    int rc = fsync(fd) == 0 ? TR_OK : TR_E_IO;
    close(fd);
    return rc;
}

/* temp + fsync + rename + fsync(dir): after a crash the file is either the old or the new
 * version, never a torn mix. */
int enc_file_write_atomic(const char *path, const uint8_t *data, size_t len)
{
    char tmp[ENC_PATH_MAX + 16];
    int fd = -1, rc = TR_E_IO;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return TR_E_INVAL;
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto out;
    if ((rc = write_all(fd, data, len)) != TR_OK)
        goto out;
    rc = TR_E_IO;
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0)
        goto out;
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0)
        goto out;
    rc = fsync_dir_of(path);
out:
    if (fd >= 0)
        close(fd);
    if (rc != TR_OK) {
        tr_log_error("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

int enc_file_read(const char *path, size_t max, struct tr_buf *out)
{
    uint8_t chunk[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int rc = TR_E_IO;

    if (fd < 0)
        return errno == ENOENT ? TR_E_NOTFOUND : TR_E_IO;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        if (out->len + (size_t)n > max) {
            rc = TR_E_TOO_LARGE;
            goto out;
        }
        if ((rc = tr_buf_put(out, chunk, (size_t)n)) != TR_OK)
            goto out;
        rc = TR_E_IO;
    }
    rc = TR_OK;
out:
    close(fd);
    return rc;
}

int enc_file_read_key(const char *path, uint8_t *out, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    size_t got = 0;
    uint8_t extra;
    int rc = TR_E_INVAL;

    if (fd < 0)
        return errno == ENOENT ? TR_E_NOTFOUND : TR_E_IO;
    while (got < len) {
        ssize_t n = read(fd, out + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out;
        got += (size_t)n;
    }
    if (read(fd, &extra, 1) != 0)
        goto out;
    rc = TR_OK;
out:
    close(fd);
    if (rc != TR_OK)
        memset(out, 0, len);
    return rc;
}
