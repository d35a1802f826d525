/*
 * fsutil — see fsutil.h.
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int lca_fsutil_write_atomic(const char *path, const void *buf, size_t len, enum lca_err_class cls,
                            const char *code, struct lca_err *err)
{
    char tmp[4200];
    int fd;
    ssize_t w = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        return lca_err_set(err, cls, code, "write %s: path too long", path);
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
        return lca_err_set(err, cls, code, "open %s: %s", tmp, strerror(errno));
    }
    while (len > 0 && (w = write(fd, buf, len)) > 0) {
        buf = (const uint8_t *)buf + w;
        len -= (size_t)w;
    }
    if (len > 0 || fsync(fd) != 0) { /* len > 0: write failed (or wrote nothing) */
        (void)lca_err_set(err, cls, code, "write %s: %s", path, strerror(errno));
        (void)close(fd);
        unlink(tmp);
        return LCA_FAIL;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        (void)lca_err_set(err, cls, code, "write %s: %s", path, strerror(errno));
        unlink(tmp);
        return LCA_FAIL;
    }
    return LCA_OK;
}
