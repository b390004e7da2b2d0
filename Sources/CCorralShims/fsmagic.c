// statfs(2)'s f_type, which Glibc's Swift module does not expose: which file system a replica
// directory is on (CorralStore's FileSystemRule names it).
#include "corral_shims.h"
#include <errno.h>
#if defined(__linux__)
#include <sys/vfs.h>
#endif

int corral_fs_magic(const char *path, uint64_t *magic) {
#if defined(__linux__)
    struct statfs info;
    if (statfs(path, &info) != 0) return -1;
    *magic = (uint64_t)(uint32_t)info.f_type;
    return 0;
#else
    (void)path; (void)magic;
    errno = ENOSYS;
    return -1;
#endif
}
