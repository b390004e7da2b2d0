// accept4(2) with SOCK_CLOEXEC, which Glibc's Swift module does not expose: a connection's
// descriptor is never inherited by a process Corral starts (SocketAcceptor).
#define _GNU_SOURCE
#include <sys/socket.h>
#include "corral_shims.h"

int corral_accept_cloexec(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}
