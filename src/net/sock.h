/* sock.h - TCP socket helpers: listen, accept, non-blocking connect, options, and
 * "host:port" parsing/formatting. Errors go into a caller buffer (no globals).
 * IPv4 only for now (the stored-record layout we write carries IPv4 hosts). */
#ifndef KITE_NET_SOCK_H
#define KITE_NET_SOCK_H

#include <netinet/in.h>
#include <stddef.h>

/* Parses "a.b.c.d:port" (host names are resolved with getaddrinfo, IPv4). */
int kite_sock_parse_addr(const char *s, struct sockaddr_in *out, char *err, size_t errlen);
void kite_sock_format_addr(const struct sockaddr_in *a, char *out, size_t outlen);
/* Listening socket, non-blocking, SO_REUSEADDR, backlog 1024. host NULL = 0.0.0.0.
 * port 0 picks a free port; the chosen port is written to *bound_port when not NULL. */
int kite_sock_listen(const char *host, int port, int *bound_port, char *err, size_t errlen);
/* Accepts one connection (non-blocking, TCP_NODELAY). Returns fd, -1 when none is
 * pending (EAGAIN), -2 on other errors. */
int kite_sock_accept(int lfd, struct sockaddr_in *peer);
/* Starts a non-blocking connect; returns fd (connection may still be in progress). */
int kite_sock_connect(const struct sockaddr_in *a, char *err, size_t errlen);
/* Blocking connect with a timeout (tools and tests). */
int kite_sock_connect_blocking(const char *addr, int timeout_ms, char *err, size_t errlen);
void kite_sock_nodelay(int fd);
int kite_sock_is_loopback(const struct sockaddr_in *a);

#endif
