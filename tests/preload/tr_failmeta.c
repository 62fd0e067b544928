/*
 * tr_failmeta.c - an LD_PRELOAD shim for tests/integration/test_store_panic.sh: while the file
 * named by TR_FAILMETA_FLAG exists, a pwrite of less than one page to a file named data.mdb fails
 * with EIO. LMDB writes data pages whole and its meta page as a short pwrite (the changed tail of
 * MDB_meta), so this fails exactly the meta write of a commit whose pages were written and
 * synced: the case after which LMDB refuses every further transaction (MDB_PANIC).
 * Test-only; never linked into tresord.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off);

static int armed(int fd, size_t n)
{
    const char *flag = getenv("TR_FAILMETA_FLAG");
    char link[64], path[PATH_MAX];
    ssize_t len;

    if (n >= 4096 || !flag || access(flag, F_OK) != 0)
        return 0;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    if ((len = readlink(link, path, sizeof(path) - 1)) <= 0)
        return 0;
    path[len] = '\0';
    return len >= 9 && strcmp(path + len - 9, "/data.mdb") == 0;
}

static ssize_t call(const char *name, int fd, const void *buf, size_t n, off_t off)
{
    pwrite_fn real = (pwrite_fn)dlsym(RTLD_NEXT, name);

    if (armed(fd, n)) {
        errno = EIO;
        return -1;
    }
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, buf, n, off);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return call("pwrite", fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return call("pwrite64", fd, buf, n, off);
}
