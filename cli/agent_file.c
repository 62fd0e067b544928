#include "agent_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define PATH_BUF 4096

/* Read exactly len bytes, and check that nothing follows. */
static bool read_exact(int fd, char *buf, size_t len)
{
    size_t got = 0;
    char extra;
    ssize_t n;

    while (got < len) {
        n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    do {
        n = read(fd, &extra, 1);
    } while (n < 0 && errno == EINTR);
    return n == 0;
}

bool agent_file_same(const char *path, const char *data, size_t len, mode_t perms)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    bool same = false;

    if (fd < 0)
        return false;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != perms ||
        st.st_size < 0 || (unsigned long long)st.st_size != (unsigned long long)len)
        goto out;
    if (!(buf = malloc(len + 1)))
        goto out;
    same = read_exact(fd, buf, len) && CRYPTO_memcmp(buf, data, len) == 0;
out:
    if (buf) {
        OPENSSL_cleanse(buf, len + 1);
        free(buf);
    }
    close(fd);
    return same;
}

static int write_all(int fd, const char *p, size_t len)
{
    ssize_t n;

    while (len) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return TR_E_IO;
        p += n;
        len -= (size_t)n;
    }
    return TR_OK;
}

/* Make the rename durable; a failure here is not worth failing the write for. */
static void sync_dir(const char *path)
{
    char copy[PATH_BUF];
    int fd;

    snprintf(copy, sizeof(copy), "%s", path);
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static int io_fail(char *err, size_t errlen, const char *step, const char *path)
{
    snprintf(err, errlen, "cannot %s %s: %s", step, path, strerror(errno));
    return TR_E_IO;
}

int agent_file_write(const char *path, const char *data, size_t len, mode_t perms, char *err,
                     size_t errlen)
{
    char tmp[PATH_BUF];
    int fd = -1, rc = TR_E_IO;
    int n = snprintf(tmp, sizeof(tmp), "%s.tresor-XXXXXX", path);

    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        snprintf(err, errlen, "the path %.200s is too long", path);
        return TR_E_TOO_LARGE;
    }
    /* mkstemp creates the file 0600 with O_EXCL; its final mode is set before any byte lands. */
    if ((fd = mkstemp(tmp)) < 0) {
        tmp[0] = '\0';
        rc = io_fail(err, errlen, "create a temporary file next to", path);
        goto out;
    }
    if (fchmod(fd, perms) != 0) {
        rc = io_fail(err, errlen, "set the mode of", tmp);
        goto out;
    }
    if (write_all(fd, data, len) != TR_OK || fsync(fd) != 0) {
        rc = io_fail(err, errlen, "write", tmp);
        goto out;
    }
    n = close(fd);
    fd = -1;
    if (n != 0) {
        rc = io_fail(err, errlen, "write", tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = io_fail(err, errlen, "rename the temporary file to", path);
        goto out;
    }
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
