// FIEMAP returns many extents per call, where SEEK_DATA/SEEK_HOLE costs two syscalls per extent:
// opening a chain with a million extents takes one pass instead of two million syscalls.
#include "corral_shims.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#endif

int corral_fiemap(int fd, uint64_t start, uint64_t *pairs, uint32_t max, int *last) {
#if defined(__linux__)
    size_t size = sizeof(struct fiemap) + (size_t)max * sizeof(struct fiemap_extent);
    struct fiemap *map = calloc(1, size);
    if (!map) { errno = ENOMEM; return -1; }
    map->fm_start = start;
    map->fm_length = ~0ULL - start;
    map->fm_flags = 0;
    map->fm_extent_count = max;
    if (ioctl(fd, FS_IOC_FIEMAP, map) != 0) { int e = errno; free(map); errno = e; return -1; }
    *last = 0;
    uint32_t n = map->fm_mapped_extents;
    for (uint32_t i = 0; i < n; i++) {
        pairs[2 * i] = map->fm_extents[i].fe_logical;
        pairs[2 * i + 1] = map->fm_extents[i].fe_length;
        if (map->fm_extents[i].fe_flags & FIEMAP_EXTENT_LAST) *last = 1;
    }
    if (n == 0) *last = 1;
    free(map);
    return (int)n;
#else
    (void)fd; (void)start; (void)pairs; (void)max; (void)last;
    errno = ENOTSUP;
    return -1;
#endif
}
