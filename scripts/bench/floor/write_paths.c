// One 4 KiB buffered write at a time (QD1) to a file, two ways: pwrite on the calling thread (how
// a Corral replica writes, on its event loop), and through an io_uring whose completion raises an
// eventfd waited for with epoll (how its cold reads go, DiskRing). Prints the mean latency of each
// in microseconds, how many ring writes completed within their submit (the rest went to the
// kernel's io-wq threads), and whether pwritev2(RWF_NOWAIT) is supported on the file.
//   write_paths FILE WRITES
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void fail(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s FILE WRITES\n", argv[0]); return 2; }
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) fail("open");
    long blocks = lseek(fd, 0, SEEK_END) / 4096;
    int writes = atoi(argv[2]);
    if (blocks <= 0 || writes <= 0) { fprintf(stderr, "the file must hold a block, and WRITES be positive\n"); return 2; }
    char *buffer = aligned_alloc(4096, 4096);
    memset(buffer, 7, 4096);
    srand(1);

    double start = now_us();
    for (int i = 0; i < writes; i++)
        if (pwrite(fd, buffer, 4096, (rand() % blocks) * 4096L) != 4096) fail("pwrite");
    double inline_us = (now_us() - start) / writes;

    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    int ring = syscall(__NR_io_uring_setup, 8, &params);
    if (ring < 0) fail("io_uring_setup");
    char *sq = mmap(0, params.sq_off.array + params.sq_entries * 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
    char *cq = mmap(0, params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(0, params.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) fail("mmap");
    int event = eventfd(0, EFD_NONBLOCK);
    if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_EVENTFD, &event, 1) < 0) fail("io_uring_register");
    int poll = epoll_create1(0);
    struct epoll_event watch = { .events = EPOLLIN, .data.fd = event };
    if (epoll_ctl(poll, EPOLL_CTL_ADD, event, &watch) < 0) fail("epoll_ctl");
    unsigned *sq_tail = (unsigned *)(sq + params.sq_off.tail), *sq_mask = (unsigned *)(sq + params.sq_off.ring_mask);
    unsigned *sq_array = (unsigned *)(sq + params.sq_off.array);
    unsigned *cq_head = (unsigned *)(cq + params.cq_off.head), *cq_tail = (unsigned *)(cq + params.cq_off.tail);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
    unsigned *cq_mask = (unsigned *)(cq + params.cq_off.ring_mask);

    int within_submit = 0;
    start = now_us();
    for (int i = 0; i < writes; i++) {
        unsigned tail = *sq_tail, index = tail & *sq_mask;
        struct io_uring_sqe *entry = &sqes[index];
        memset(entry, 0, sizeof *entry);
        entry->opcode = IORING_OP_WRITE;
        entry->fd = fd;
        entry->addr = (uintptr_t)buffer;
        entry->len = 4096;
        entry->off = (rand() % blocks) * 4096L;
        sq_array[index] = index;
        __atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);
        if (syscall(__NR_io_uring_enter, ring, 1, 0, 0, NULL, 0) != 1) fail("io_uring_enter");
        if (__atomic_load_n(cq_tail, __ATOMIC_ACQUIRE) != *cq_head) within_submit++;
        for (;;) {
            unsigned head = *cq_head;
            if (__atomic_load_n(cq_tail, __ATOMIC_ACQUIRE) != head) {
                if (cqes[head & *cq_mask].res != 4096) { errno = -cqes[head & *cq_mask].res; fail("ring write"); }
                __atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
                break;
            }
            struct epoll_event ready;
            if (epoll_wait(poll, &ready, 1, -1) > 0) { uint64_t count; (void)!read(event, &count, 8); }
        }
    }
    double ring_us = (now_us() - start) / writes;

    struct iovec vector = { buffer, 4096 };
    ssize_t nowait = pwritev2(fd, &vector, 1, 0, RWF_NOWAIT);
    const char *nowait_text = nowait == 4096 ? "supported" : errno == EOPNOTSUPP ? "EOPNOTSUPP" : errno == EAGAIN ? "EAGAIN" : strerror(errno);
    printf("pwrite %.2f ring %.2f within_submit %d/%d rwf_nowait %s\n", inline_us, ring_us, within_submit, writes, nowait_text);
    return 0;
}
