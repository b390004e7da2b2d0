#ifndef CORRAL_SHIMS_H
#define CORRAL_SHIMS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// fallocate(PUNCH_HOLE|KEEP_SIZE): deallocates a byte range. Returns 0 or -1 with errno set.
int corral_punch_hole(int fd, int64_t offset, int64_t length);

/// CRC32C (Castagnoli), as used by iSCSI and ext4. `crc` is the running value, 0 to start.
uint32_t corral_crc32c(uint32_t crc, const void *data, size_t length);
/// The same without the CPU's crc32 instruction (the reference the tests compare against).
uint32_t corral_crc32c_portable(uint32_t crc, const void *data, size_t length);



/// FIEMAP: fills up to `max` (offset, length) pairs of allocated extents at or after `start`.
/// Returns the number filled (0 = none left) or -1 with errno set; `*last` is 1 when the final
/// extent of the file was returned.
int corral_fiemap(int fd, uint64_t start, uint64_t *pairs, uint32_t max, int *last);

/// preadv2(RWF_NOWAIT): bytes read from the page cache (fewer than asked when only part is
/// cached), or -1 with errno EAGAIN (would wait for the disk) or EOPNOTSUPP (tmpfs, older kernels).
long corral_pread_nowait(int fd, void *buffer, size_t length, int64_t offset);

// The file-system magic number (statfs f_type) of the file system `path` is on; -1 with errno.
int corral_fs_magic(const char *path, uint64_t *magic);

/// LZ4 frames through the system liblz4 (loaded at first use). Returns 0 when it is missing.
int corral_lz4_available(void);
size_t corral_lz4_bound(size_t length);
/// Bytes written, or -1 on error.
long corral_lz4_compress(const void *source, size_t length, void *destination, size_t capacity);
/// Bytes produced; -1 for a damaged or truncated frame, -2 when the output does not fit.
long corral_lz4_decompress(const void *source, size_t length, void *destination, size_t capacity);

/// SHA-512 of `length` bytes into `digest` through the system libcrypto (loaded at first use).
/// Returns 0, writing nothing, when the library is missing.
int corral_sha512(const void *data, size_t length, unsigned char digest[64]);

/// A streaming SHA-512 through the system's libcrypto; init answers 0 when it is not there.
typedef struct { _Alignas(16) unsigned char opaque[512]; } corral_sha512_context;
int corral_sha512_init(corral_sha512_context *context);
void corral_sha512_update(corral_sha512_context *context, const void *data, size_t length);
void corral_sha512_final(corral_sha512_context *context, unsigned char digest[64]);
/// accept(2) whose descriptor closes on exec.
int corral_accept_cloexec(int fd);

/// A minimal io_uring that reads (uring.c). `create` returns NULL with errno set where the kernel
/// refuses (ENOSYS, EPERM under seccomp); the ring's eventfd is readable when completions wait.
struct corral_uring;
struct corral_uring *corral_uring_create(unsigned entries);
int corral_uring_eventfd(const struct corral_uring *ring);
/// How many reads may be queued before a submit.
unsigned corral_uring_capacity(const struct corral_uring *ring);
/// Queues a pread; 0, or -EBUSY when the submission queue is full.
int corral_uring_queue_read(struct corral_uring *ring, int fd, void *buffer, unsigned length, int64_t offset, uint64_t tag);
/// Hands what was queued to the kernel: the number taken, or -errno.
int corral_uring_submit(struct corral_uring *ring);
/// Up to `max` completions: each read's tag and result (bytes read, or -errno).
int corral_uring_reap(struct corral_uring *ring, uint64_t *tags, int32_t *results, int max);
/// Unmaps and closes the ring, not its eventfd. Only with nothing in flight.
void corral_uring_destroy(struct corral_uring *ring);
#endif
