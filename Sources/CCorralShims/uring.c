// A minimal io_uring for reads that miss the page cache (CorralRuntime's DiskRing): the event loop
// queues preads, and the kernel reads while the loop serves other requests; completions raise an
// eventfd the loop watches. Raw system calls, so that the build needs no liburing.
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include "corral_shims.h"

#if defined(__linux__) && __has_include(<linux/io_uring.h>) && defined(__NR_io_uring_setup)
#include <linux/io_uring.h>

struct corral_uring {
    int fd;
    int eventfd;
    void *sq_map, *cq_map;
    size_t sq_map_size, cq_map_size;
    struct io_uring_sqe *sqes;
    size_t sqes_size;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
    unsigned sq_entries;
    unsigned queued;  // SQEs filled since the last submit
};

static void unmap(struct corral_uring *ring) {
    if (ring->sqes && ring->sqes != MAP_FAILED) munmap(ring->sqes, ring->sqes_size);
    if (ring->cq_map && ring->cq_map != MAP_FAILED && ring->cq_map != ring->sq_map) munmap(ring->cq_map, ring->cq_map_size);
    if (ring->sq_map && ring->sq_map != MAP_FAILED) munmap(ring->sq_map, ring->sq_map_size);
}

struct corral_uring *corral_uring_create(unsigned entries) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_CLAMP;
    struct corral_uring *ring = calloc(1, sizeof *ring);
    if (!ring) return NULL;
    ring->fd = (int)syscall(__NR_io_uring_setup, entries, &params);
    if (ring->fd < 0) { int saved = errno; free(ring); errno = saved; return NULL; }
    ring->eventfd = -1;
    ring->sq_map_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    ring->cq_map_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
    int single = (params.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single && ring->cq_map_size > ring->sq_map_size) ring->sq_map_size = ring->cq_map_size;
    ring->sq_map = mmap(NULL, ring->sq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQ_RING);
    if (ring->sq_map == MAP_FAILED) goto fail;
    ring->cq_map = single ? ring->sq_map
        : mmap(NULL, ring->cq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_CQ_RING);
    if (ring->cq_map == MAP_FAILED) goto fail;
    ring->sqes_size = params.sq_entries * sizeof(struct io_uring_sqe);
    ring->sqes = mmap(NULL, ring->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQES);
    if (ring->sqes == MAP_FAILED) goto fail;
    char *sq = ring->sq_map, *cq = ring->cq_map;
    ring->sq_head = (unsigned *)(sq + params.sq_off.head);
    ring->sq_tail = (unsigned *)(sq + params.sq_off.tail);
    ring->sq_mask = (unsigned *)(sq + params.sq_off.ring_mask);
    ring->sq_array = (unsigned *)(sq + params.sq_off.array);
    ring->cq_head = (unsigned *)(cq + params.cq_off.head);
    ring->cq_tail = (unsigned *)(cq + params.cq_off.tail);
    ring->cq_mask = (unsigned *)(cq + params.cq_off.ring_mask);
    ring->cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
    ring->sq_entries = params.sq_entries;
    ring->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ring->eventfd < 0) goto fail;
    if (syscall(__NR_io_uring_register, ring->fd, IORING_REGISTER_EVENTFD, &ring->eventfd, 1) < 0) goto fail;
    return ring;
fail:;
    int saved = errno;
    unmap(ring);
    if (ring->eventfd >= 0) close(ring->eventfd);
    close(ring->fd);
    free(ring);
    errno = saved;
    return NULL;
}

int corral_uring_eventfd(const struct corral_uring *ring) { return ring->eventfd; }

unsigned corral_uring_capacity(const struct corral_uring *ring) { return ring->sq_entries; }

int corral_uring_queue_read(struct corral_uring *ring, int fd, void *buffer, unsigned length, int64_t offset, uint64_t tag) {
    unsigned tail = *ring->sq_tail;
    unsigned head = __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
    if (tail - head >= ring->sq_entries) return -EBUSY;
    unsigned index = tail & *ring->sq_mask;
    struct io_uring_sqe *sqe = &ring->sqes[index];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_READ;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buffer;
    sqe->len = length;
    sqe->off = (uint64_t)offset;
    sqe->user_data = tag;
    ring->sq_array[index] = index;
    __atomic_store_n(ring->sq_tail, tail + 1, __ATOMIC_RELEASE);
    ring->queued += 1;
    return 0;
}

int corral_uring_submit(struct corral_uring *ring) {
    int submitted = 0;
    while (ring->queued > 0) {
        int n = (int)syscall(__NR_io_uring_enter, ring->fd, ring->queued, 0, 0, NULL, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        // Taking none of what is queued is the kernel short of something: the caller tries again.
        if (n == 0) return -EAGAIN;
        ring->queued -= (unsigned)n;
        submitted += n;
    }
    return submitted;
}

int corral_uring_reap(struct corral_uring *ring, uint64_t *tags, int32_t *results, int max) {
    unsigned head = *ring->cq_head;
    unsigned tail = __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE);
    int count = 0;
    while (head != tail && count < max) {
        struct io_uring_cqe *cqe = &ring->cqes[head & *ring->cq_mask];
        tags[count] = cqe->user_data;
        results[count] = cqe->res;
        count += 1;
        head += 1;
    }
    __atomic_store_n(ring->cq_head, head, __ATOMIC_RELEASE);
    return count;
}

void corral_uring_destroy(struct corral_uring *ring) {
    unmap(ring);
    close(ring->fd);  // after the eventfd is the caller's to close: NIO owns it once watched
    free(ring);
}

#else

struct corral_uring *corral_uring_create(unsigned entries) { (void)entries; errno = ENOSYS; return NULL; }
int corral_uring_eventfd(const struct corral_uring *ring) { (void)ring; return -1; }
unsigned corral_uring_capacity(const struct corral_uring *ring) { (void)ring; return 0; }
int corral_uring_queue_read(struct corral_uring *ring, int fd, void *buffer, unsigned length, int64_t offset, uint64_t tag) {
    (void)ring; (void)fd; (void)buffer; (void)length; (void)offset; (void)tag; return -ENOSYS;
}
int corral_uring_submit(struct corral_uring *ring) { (void)ring; return -ENOSYS; }
int corral_uring_reap(struct corral_uring *ring, uint64_t *tags, int32_t *results, int max) {
    (void)ring; (void)tags; (void)results; (void)max; return 0;
}
void corral_uring_destroy(struct corral_uring *ring) { (void)ring; }

#endif
