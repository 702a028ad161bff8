/* bench_namesrv.c - micro-benchmark (not a test): GET_ROUTEINFO_BY_TOPIC requests per
 * second against a real kite-namesrv over loopback.
 *
 * usage: bench_namesrv [-c conns] [-d depth] [-t seconds] [-r runs] [-a host:port]
 * Without -a it starts $KITE_BIN/kite-namesrv (or ./build/bin) on a free port, registers
 * one broker with the topic, and stops the daemon by PID at the end. Each connection
 * keeps `depth` requests in flight (pipelined); one thread drives all connections
 * with epoll. Prints one line per run and the median. */
#include "base/buf.h"
#include "base/time.h"
#include "kt.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <fcntl.h>

typedef struct bconn {
    int fd;
    char rbuf[1 << 16];
    size_t rlen;
} bconn;

static const char *REQ =
    "{\"code\":105,\"extFields\":{\"topic\":\"BenchTopic\"},\"flag\":0,\"language\":\"JAVA\",\"opaque\":1,"
    "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":479}";

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double run_once(const char *host, int port, int nconn, int depth, double secs)
{
    size_t h = strlen(REQ);
    char frame[512];
    kite_wr_be32(frame, (uint32_t)(4 + h));
    kite_wr_be32(frame + 4, (uint32_t)h);
    memcpy(frame + 8, REQ, h);
    size_t flen = 8 + h;
    char *burst = malloc(flen * (size_t)depth);
    for (int i = 0; i < depth; i++) memcpy(burst + flen * (size_t)i, frame, flen);

    int ep = epoll_create1(0);
    bconn *cs = calloc((size_t)nconn, sizeof *cs);
    for (int i = 0; i < nconn; i++) {
        cs[i].fd = kt_connect(host, port);
        if (cs[i].fd < 0) {
            fprintf(stderr, "connect failed\n");
            exit(1);
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        if (write(cs[i].fd, burst, flen * (size_t)depth) != (ssize_t)(flen * (size_t)depth))
            exit(1);
    }
    long done = 0;
    int64_t t0 = kite_mono_ns(), end = t0 + (int64_t)(secs * 1e9);
    struct epoll_event evs[64];
    while (kite_mono_ns() < end) {
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            bconn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
            if (r <= 0) {
                fprintf(stderr, "connection lost\n");
                exit(1);
            }
            c->rlen += (size_t)r;
            size_t pos = 0;
            int got = 0;
            while (c->rlen - pos >= 4) {
                uint32_t len = kite_rd_be32(c->rbuf + pos);
                if (c->rlen - pos < len + 4) break;
                pos += len + 4;
                got++;
            }
            memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
            c->rlen -= pos;
            done += got;
            if (got && write(c->fd, burst, flen * (size_t)got) != (ssize_t)(flen * (size_t)got))
                exit(1);
        }
    }
    double el = (double)(kite_mono_ns() - t0) / 1e9;
    for (int i = 0; i < nconn; i++) close(cs[i].fd);
    close(ep);
    free(cs);
    free(burst);
    return (double)done / el;
}

int main(int argc, char **argv)
{
    int nconn = 1, depth = 32, runs = 5;
    double secs = 3;
    const char *addr = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-c"))
            nconn = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-d"))
            depth = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t"))
            secs = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-a"))
            addr = argv[i + 1];
    }
    kt_daemon d;
    memset(&d, 0, sizeof d);
    char host[64];
    int port;
    if (addr) {
        sscanf(addr, "%63[^:]:%d", host, &port);
    } else {
        if (!getenv("KITE_BIN")) setenv("KITE_BIN", "./build/bin", 0);
        if (kt_namesrv_start(&d, "logLevel=warn") != 0) return 1;
        snprintf(host, sizeof host, "%s", d.host);
        port = d.port;
    }
    /* One broker serving the topic. */
    int fd = kt_connect(host, port);
    const char *body =
        "{\"filterServerList\":[],\"topicConfigSerializeWrapper\":{\"dataVersion\":{\"counter\":1,"
        "\"timestamp\":1},\"topicConfigTable\":{\"BenchTopic\":{\"perm\":6,\"readQueueNums\":8,"
        "\"topicName\":\"BenchTopic\",\"writeQueueNums\":8}}}}";
    kite_cmd resp;
    if (kt_call(
            fd,
            "{\"code\":103,\"extFields\":{\"brokerName\":\"bench-a\",\"brokerAddr\":\"127.0.0.1:10911\","
            "\"clusterName\":\"DefaultCluster\",\"haServerAddr\":\"127.0.0.1:10912\",\"brokerId\":\"0\"},"
            "\"flag\":0,\"language\":\"JAVA\",\"opaque\":1,\"version\":409}",
            body, strlen(body), &resp) != 0 ||
        resp.code != 0) {
        fprintf(stderr, "registration failed\n");
        return 1;
    }
    kite_cmd_free(&resp);
    double *res = calloc((size_t)runs, sizeof *res);
    for (int r = 0; r < runs; r++) {
        res[r] = run_once(host, port, nconn, depth, secs);
        printf("run %d: %.0f requests/s (%d connection(s), %d in flight each)\n", r + 1, res[r],
               nconn, depth);
        fflush(stdout);
    }
    qsort(res, (size_t)runs, sizeof *res, cmp_d);
    printf(
        "median: %.0f requests/s GET_ROUTEINFO_BY_TOPIC, %d connection(s) x %d pipelined, %d runs of %.1fs\n",
        res[runs / 2], nconn, depth, runs, secs);
    close(fd);
    if (!addr) kt_stop(d.pid, 3000);
    free(res);
    return 0;
}
