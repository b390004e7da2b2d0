// preadv2(2) with RWF_NOWAIT, which Glibc's Swift module does not expose: a read that answers from
// the page cache or fails with EAGAIN instead of waiting for the disk (CorralStore's PosixFile).
#define _GNU_SOURCE
#include <errno.h>
#include <sys/uio.h>
#include "corral_shims.h"

long corral_pread_nowait(int fd, void *buffer, size_t length, int64_t offset) {
#if defined(__linux__) && defined(RWF_NOWAIT)
    struct iovec vector = { buffer, length };
    return (long)preadv2(fd, &vector, 1, (off_t)offset, RWF_NOWAIT);
#else
    (void)fd; (void)buffer; (void)length; (void)offset;
    errno = EOPNOTSUPP;
    return -1;
#endif
}
