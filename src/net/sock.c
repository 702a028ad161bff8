/* sock.c - TCP socket helpers (see sock.h). errno is converted to a kite_status here,
 * where the system calls are made; the system's text goes into the caller's buffer. */
#include "net/sock.h"
#include "base/err.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int kite_sock_parse_addr(const char *s, struct sockaddr_in *out, char *err, size_t errlen)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1]) {
        snprintf(err, errlen, "address '%s' is not host:port", s);
        return KITE_EINVAL;
    }
    char host[256];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host) {
        snprintf(err, errlen, "host name too long in '%s'", s);
        return KITE_EINVAL;
    }
    memcpy(host, s, hl);
    host[hl] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535) {
        snprintf(err, errlen, "bad port in '%s'", s);
        return KITE_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &out->sin_addr) == 1) return 0;
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return KITE_ENOTFOUND;
    }
    out->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

void kite_sock_format_addr(const struct sockaddr_in *a, char *out, size_t outlen)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
}

void kite_sock_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int kite_sock_listen(const char *host, int port, int *bound_port, char *err, size_t errlen)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (host && *host) {
        if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
            snprintf(err, errlen, "bad listen address '%s'", host);
            return KITE_EINVAL;
        }
    } else {
        a.sin_addr.s_addr = htonl(INADDR_ANY);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return kite_status_from_errno(errno);
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        snprintf(err, errlen, "bind %s:%d: %s", host ? host : "0.0.0.0", port, strerror(e));
        close(fd);
        return kite_status_from_errno(e);
    }
    if (listen(fd, 1024) != 0) {
        int e = errno;
        snprintf(err, errlen, "listen: %s", strerror(e));
        close(fd);
        return kite_status_from_errno(e);
    }
    if (bound_port) {
        socklen_t l = sizeof a;
        getsockname(fd, (struct sockaddr *)&a, &l);
        *bound_port = ntohs(a.sin_port);
    }
    return fd;
}

int kite_sock_accept(int lfd, struct sockaddr_in *peer)
{
    socklen_t l = sizeof *peer;
    int fd = accept4(lfd, (struct sockaddr *)peer, &l, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return errno == EINTR ? KITE_EAGAIN : kite_status_from_errno(errno);
    kite_sock_nodelay(fd);
    return fd;
}

int kite_sock_connect(const struct sockaddr_in *a, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return kite_status_from_errno(errno);
    }
    kite_sock_nodelay(fd);
    if (connect(fd, (const struct sockaddr *)a, sizeof *a) != 0 && errno != EINPROGRESS) {
        int e = errno;
        char s[64];
        kite_sock_format_addr(a, s, sizeof s);
        snprintf(err, errlen, "connect %s: %s", s, strerror(e));
        close(fd);
        return kite_status_from_errno(e);
    }
    return fd;
}

int kite_sock_connect_blocking(const char *addr, int timeout_ms, char *err, size_t errlen)
{
    struct sockaddr_in a;
    int rc = kite_sock_parse_addr(addr, &a, err, errlen);
    if (rc != 0) return rc;
    int fd = kite_sock_connect(&a, err, errlen);
    if (fd < 0) return fd;
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int r = poll(&p, 1, timeout_ms);
    int soerr = 0;
    socklen_t l = sizeof soerr;
    if (r <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) != 0 || soerr != 0) {
        int e = r == 0 ? ETIMEDOUT : soerr ? soerr : errno;
        snprintf(err, errlen, "connect %s: %s", addr, r == 0 ? "timed out" : strerror(e));
        close(fd);
        return kite_status_from_errno(e);
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int kite_sock_is_loopback(const struct sockaddr_in *a)
{
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
}

int kite_sock_reserve_fds(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)n > rl.rlim_cur)
        n = (long)rl.rlim_cur;
    if (n > KITE_SOCK_FDTABLE_MAX) n = KITE_SOCK_FDTABLE_MAX;
    if (n < 2) return 0;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, (int)(n - 1)); /* the lowest free one >= n - 1 */
    close(fd);
    if (hi < 0) return 0;
    close(hi);
    return (int)n;
}
