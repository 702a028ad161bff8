/* kt.h - helpers for integration tests: free loopback ports, starting and stopping
 * daemons by PID, scratch directories, and a raw blocking remoting client that sends
 * hand-written JSON headers (so tests never depend on our own encoder for requests).
 * Everything is bounded in time; nothing talks to addresses other than loopback ones and
 * those of network namespaces the test created (it/netns_common.h). */
#ifndef KITE_TESTS_KT_H
#define KITE_TESTS_KT_H

#include "proto/cmd.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Deadline for an event a test waits for (a delivery, a rebalance, an expiry). Generous on
 * purpose: tests assert that it happens and in which order, never how fast (a loaded
 * machine stretches every delay); speed is measured by the benchmarks. */
#define KT_DEADLINE_MS 30000

/* Exit code of a test program that could not run (some of) its tests on this machine (no
 * root, no tmpfs...): ctest reports it as Skipped (SKIP_RETURN_CODE in tests/CMakeLists.txt),
 * never as Passed. */
#define KT_SKIP_EXIT 77
/* Records that the running test is skipped and prints "SKIPPED: <why>" on stderr; a
 * cmocka test then calls skip(). */
void kt_skipped(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* main's exit code from cmocka_run_group_tests' failure count: 1 on failures, else
 * KT_SKIP_EXIT when a test was skipped, else 0. */
int kt_exit_code(int failed);

typedef struct kt_daemon {
    pid_t pid;
    char host[32];
    int port;
    char dir[512];  /* scratch directory of this daemon */
    char conf[600]; /* its config file */
    char log[600];  /* its stderr/stdout */
} kt_daemon;

/* A loopback address 127.0.0.x chosen at random (x in 2..250) - spreads parallel tests. */
void kt_random_host(char *out, size_t len);
/* Two different random loopback hosts (as kt_random_host). */
void kt_random_host_pair(char *a, char *b, size_t len);
/* A TCP port that was free on host a moment ago. */
int kt_free_port(const char *host);
/* New empty directory under $KITE_TMP (or /tmp) named after tag. */
void kt_mkdtemp(const char *tag, char *out, size_t len);
/* Writes text to path; aborts the test on failure. */
void kt_write_file(const char *path, const char *text);
/* Starts bin (a file name under $KITE_BIN) with "-c conf", output to log. */
pid_t kt_spawn(const char *bin, const char *conf, const char *log);
/* Waits until host:port accepts connections; 0 ok, -1 timeout or the process died. */
int kt_wait_port(const char *host, int port, pid_t pid, int timeout_ms);
/* SIGTERM, wait up to timeout_ms, then SIGKILL. Returns the exit status (or -1 if killed). */
int kt_stop(pid_t pid, int timeout_ms);
/* Starts kite-namesrv with extra config lines on d->host (a random loopback host when empty)
 * and d->port (a free port when unset). Reuses d->dir, d->host and d->port when already set
 * (a restart with the same KV file at the same address). 0 or -1. */
int kt_namesrv_start(kt_daemon *d, const char *extra_conf);

/* Starts kite-broker on a random loopback host and free port with its store under
 * d->dir (kept when already set, so a restart reuses the store). namesrv may be NULL.
 * Small commit-log files (4 MiB) unless extra_conf says otherwise. 0 or -1. */
int kt_broker_start(kt_daemon *d, const char *namesrv, const char *extra_conf);
/* SIGKILL and reap (crash tests). */
void kt_kill9(pid_t pid);

/* Raw client. */
int kt_connect(const char *host, int port);
/* Sends one JSON-header frame. */
int kt_send_json(int fd, const char *header_json, const void *body, size_t body_len);
/* Sends raw bytes. */
int kt_send_raw(int fd, const void *p, size_t n);
/* Reads one frame and decodes it into out (caller frees with kite_cmd_free).
 * 0 ok, -1 error/timeout, -2 the peer closed the connection. */
int kt_read_frame(int fd, kite_cmd *out, int timeout_ms);
/* Send + read the reply. */
int kt_call(int fd, const char *header_json, const void *body, size_t body_len, kite_cmd *resp);
/* Waits until the name server d answers a route for topic (code 0); 0, or -1 at timeout. */
int kt_wait_route(const kt_daemon *d, const char *topic, int timeout_ms);
/* 1 when the peer has closed the connection within timeout_ms. */
int kt_peer_closed(int fd, int timeout_ms);
/* Waits up to timeout_ms for the peer to close. 1 = closed (EOF or reset) without
 * sending a single byte, 0 = still open at the deadline, -1 = the peer sent data. */
int kt_closed_silently(int fd, int timeout_ms);
/* Reads one whole frame as raw bytes (length word included) into a malloc'd buffer.
 * 0 ok, -1 error/timeout, -2 the peer closed the connection. */
int kt_read_raw_frame(int fd, uint8_t **frame, size_t *len, int timeout_ms);
/* Prints the last max_bytes of a daemon's log to stderr (for a failing test's output). */
void kt_dump_log(const char *path, long max_bytes);
/* CPU time (user + system) process pid has used so far, in clock ticks; -1 if unknown. */
long kt_proc_cpu_ticks(pid_t pid);
/* Runs the shell command made from fmt; its status (0 = success), printed when not 0. */
int kt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 when the openssl command is installed; else 0, after kt_skipped says so. */
int kt_have_openssl(void);
/* Test certificates made with the openssl command in dir: ca.pem/.key; server.pem/.key
 * signed by it with the subjectAltName san (e.g. "IP:127.0.0.5,IP:127.0.0.6"); client.pem/
 * .key signed by it; other_ca.pem/.key and other_client.pem/.key signed by that other CA.
 * 0, or -1 when a command failed. */
int kt_make_certs(const char *dir, const char *san);
/* Monotonic clock in milliseconds. */
long long kt_now_ms(void);
/* Body as a NUL-terminated string (copy owned by the caller's static buffer, test use). */
const char *kt_body(const kite_cmd *c);

#endif
