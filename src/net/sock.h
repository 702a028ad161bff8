/* sock.h - TCP socket helpers: listen, accept, non-blocking connect, options, and
 * "host:port" parsing/formatting. Calls that fail return a negative kite_status (errno
 * converted here) and, where they take one, put the system's text into a caller buffer.
 * IPv4 only for now (the stored-record layout we write carries IPv4 hosts). */
#ifndef KITE_NET_SOCK_H
#define KITE_NET_SOCK_H

#include <netinet/in.h>
#include <stddef.h>

/* Parses "a.b.c.d:port" (host names are resolved with getaddrinfo, IPv4). 0, KITE_EINVAL
 * for a malformed address, KITE_ENOTFOUND when the name does not resolve. */
int kite_sock_parse_addr(const char *s, struct sockaddr_in *out, char *err, size_t errlen);
void kite_sock_format_addr(const struct sockaddr_in *a, char *out, size_t outlen);
/* Listening socket, non-blocking, SO_REUSEADDR, backlog 1024. host NULL = 0.0.0.0.
 * port 0 picks a free port; the chosen port is written to *bound_port when not NULL.
 * Returns the fd or a kite_status. */
int kite_sock_listen(const char *host, int port, int *bound_port, char *err, size_t errlen);
/* Accepts one connection (non-blocking, TCP_NODELAY). Returns fd, KITE_EAGAIN when none
 * is pending, another kite_status on other errors (errno left set). */
int kite_sock_accept(int lfd, struct sockaddr_in *peer);
/* Starts a non-blocking connect; returns fd (connection may still be in progress) or a
 * kite_status. */
int kite_sock_connect(const struct sockaddr_in *a, char *err, size_t errlen);
/* Blocking connect with a timeout (tools and tests): fd, or a kite_status (KITE_ETIMEDOUT,
 * KITE_ECLOSED when refused, ...). */
int kite_sock_connect_blocking(const char *addr, int timeout_ms, char *err, size_t errlen);
void kite_sock_nodelay(int fd);
int kite_sock_is_loopback(const struct sockaddr_in *a);
/* Grows this process's descriptor table now so that it holds descriptors below n (at most
 * RLIMIT_NOFILE's soft limit and KITE_SOCK_FDTABLE_MAX). In a multithreaded process the
 * kernel waits for an RCU grace period every time the table grows (it doubles), and under
 * load a grace period can take tens of ms: an event loop accepting a burst of connections
 * would stall that long at each doubling. Call it before starting any thread (then no
 * wait). The table never shrinks. Returns the number of descriptors the table now holds
 * at least, or 0. */
#define KITE_SOCK_FDTABLE_MAX 65536
int kite_sock_reserve_fds(long n);

#endif
