// The floor of a 4 KiB QD1 write on this machine for two shapes, with nothing but poll, read,
// write and pwrite in C (docs/benchmarks.md, "QD1 floor"):
//   direct: a client sends a write to one server, which pwrites it and answers (nbdkit's shape);
//   relay:  the server pwrites it locally, forwards it to two replica processes that pwrite and
//           answer, and answers the client once both did (Corral's 3-replica shape).
// Whatever a real server adds comes on top of these, so relay/direct bounds the ratio any
// 3-replica design with replicas in their own processes can reach here.
//   qd1_floor direct|relay WRITES DIR PORT
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MESSAGE = 4096, ANSWER = 16, SLOTS = 4096 };

static void transfer(int fd, char *bytes, int count, int reading) {
    for (int done = 0; done < count;) {
        int n = reading ? (int)read(fd, bytes + done, count - done) : (int)write(fd, bytes + done, count - done);
        if (n <= 0) exit(n == 0 ? 0 : 1);
        done += n;
    }
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
    return address;
}

static int nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int accept_one(int port) {
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = loopback(port);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 1)) { perror("bind"); exit(1); }
    int connection = accept(listener, 0, 0);
    close(listener);
    return nodelay(connection);
}

static int dial(int port) {
    struct sockaddr_in address = loopback(port);
    for (int attempt = 0; attempt < 5000; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&address, sizeof address) == 0) return nodelay(fd);
        close(fd);
        usleep(1000);  // the peer process is still starting; bounded by the attempt count
    }
    fprintf(stderr, "nothing listens on port %d\n", port);
    exit(1);
}

static int open_image(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0) { perror(path); exit(1); }
    return fd;
}

// Waits in poll like an event loop, then reads a whole message, pwrites it, answers.
static void replica(int port, const char *dir, const char *name) {
    int connection = accept_one(port), image = open_image(dir, name);
    char message[MESSAGE];
    struct pollfd readable = {connection, POLLIN, 0};
    for (long slot = 0;; slot++) {
        if (poll(&readable, 1, -1) < 0) exit(1);
        transfer(connection, message, MESSAGE, 1);
        if (pwrite(image, message, MESSAGE, (slot % SLOTS) * MESSAGE) != MESSAGE) exit(1);
        transfer(connection, message, ANSWER, 0);
    }
}

static void relay(int port, const char *dir) {
    int connection = accept_one(port), first = dial(port + 1), second = dial(port + 2), image = open_image(dir, "engine.img");
    char message[MESSAGE], answer[ANSWER];
    struct pollfd client = {connection, POLLIN, 0}, replicas[2] = {{first, POLLIN, 0}, {second, POLLIN, 0}};
    for (long slot = 0;; slot++) {
        if (poll(&client, 1, -1) < 0) exit(1);
        transfer(connection, message, MESSAGE, 1);
        transfer(first, message, MESSAGE, 0);
        transfer(second, message, MESSAGE, 0);
        if (pwrite(image, message, MESSAGE, (slot % SLOTS) * MESSAGE) != MESSAGE) exit(1);
        for (int answered = 0; answered < 2;) {
            if (poll(replicas, 2, -1) < 0) exit(1);
            for (int i = 0; i < 2; i++) {
                if (replicas[i].revents & POLLIN) { transfer(replicas[i].fd, answer, ANSWER, 1); answered++; }
            }
        }
        transfer(connection, answer, ANSWER, 0);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: qd1_floor direct|relay WRITES DIR PORT\n"); return 2; }
    int relayed = strcmp(argv[1], "relay") == 0, writes = atoi(argv[2]), port = atoi(argv[4]);
    const char *dir = argv[3];
    if (relayed) {
        if (fork() == 0) replica(port + 1, dir, "replica1.img");
        if (fork() == 0) replica(port + 2, dir, "replica2.img");
        if (fork() == 0) relay(port, dir);
    } else if (fork() == 0) {
        replica(port, dir, "engine.img");
    }
    int server = dial(port);
    char message[MESSAGE], answer[ANSWER];
    memset(message, 0x5a, sizeof message);
    for (int i = 0; i < writes / 10; i++) { transfer(server, message, MESSAGE, 0); transfer(server, answer, ANSWER, 1); }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < writes; i++) { transfer(server, message, MESSAGE, 0); transfer(server, answer, ANSWER, 1); }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double micros = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / 1e3 / writes;
    printf("%s %.1f\n", argv[1], micros);
    close(server);
    while (wait(0) > 0) {}
    return 0;
}
