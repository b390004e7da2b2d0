// fallocate is a GNU extension that Swift's Glibc module does not export.
#define _GNU_SOURCE
#include <fcntl.h>
#include "corral_shims.h"

int corral_punch_hole(int fd, int64_t offset, int64_t length) {
#if defined(__linux__)
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
#else
    (void)fd; (void)offset; (void)length;
    return -1;
#endif
}
