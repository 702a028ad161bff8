/* main.c - kite-bench: load generator on libkite, modelled on RocketMQ's benchmark tools
 * (org.apache.rocketmq.example.benchmark.Producer): fixed-size messages to one topic,
 * a progress line every second and a summary at the end (one JSON line with --json).
 *
 *   kite-bench produce -n <namesrv> -t <topic> [-s <size>] [-c <concurrency>] [-d <seconds>]
 *                      [-m <messages>] [--sync|--async] [--rate <msgs/s>] [--json] [-g <group>]
 *   kite-bench consume -n <namesrv> -t <topic> [-g <group>] [-d <seconds>] [-c <threads>]
 *                      [-b <consume batch>] [-p <pull batch>] [-m <messages>] [--from first|last]
 *                      [--orderly] [--broadcast] [--json]
 *   (produce and consume also take --tls, --tls-ca <pem>, --tls-cert <pem>, --tls-key <pem>,
 *    --tls-no-verify)
 *     both: [--ak <accessKey> --sk <secretKey>] sign every request as that plain-ACL account
 *   kite-bench startup -a <ip:port> [-T <ms>] [-w <idle ms>] [-o <log>] [--json] -- <command...>
 *
 * Owns: argument parsing, usage and the choice of mode. The modes live in produce.c
 * (closed-loop and fixed-rate sending), consume.c (push consumer, drain) and startup.c
 * (time to accept connections); latencies go into the log-linear histogram of hist.c,
 * which reports p50/p90/p99/p99.9/max in every mode. Uses only the public API of
 * include/kite/ (no store, no internals). The run record lives in main()'s frame.
 * Exit code: 0 ok, 1 failures occurred (or -m not reached), 2 usage or start error. */
#include "bench.h"
#include "consume.h"
#include "produce.h"
#include "startup.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(
        stderr,
        "usage: kite-bench produce -n <namesrv> -t <topic> [-s <size=1024>] [-c <concurrency=64>]\n"
        "                          [-d <seconds=10>] [-m <messages>] [--sync|--async] [--rate <msgs/s>]\n"
        "                          [--json] [-g <group>]\n"
        "  --async (default): one thread, <concurrency> sends in flight\n"
        "  --sync:            <concurrency> threads, each waiting for its answer\n"
        "  --rate N:          open loop: message i is due at i/N s; latency counts from the due time\n"
        "                     (--async: -c defaults to 1000 in flight)\n"
        "       kite-bench consume -n <namesrv> -t <topic> [-g <group=kite_bench_consumer>] [-d <seconds=10>]\n"
        "                          [-c <threads=20>] [-b <consume batch=1>] [-p <pull batch=32>]\n"
        "                          [-m <messages>] [--from first|last] [--orderly] [--broadcast] [--json]\n"
        "  prints consume TPS and end-to-end latency (now - born timestamp) every second;\n"
        "  both modes: --ak <accessKey> --sk <secretKey> sign requests as that plain-ACL account\n"
        "  -m N stops after N messages and reports the drain time from the first to the last\n"
        "  (-d is then an upper bound, default 300)\n"
        "       kite-bench startup -a <ip:port> [-T <timeout ms=10000>] [-w <idle ms=0>] [-o <log>] [--json]\n"
        "                          -- <command> [args...]\n"
        "  time from fork/exec to the first accepted connect(), memory after the idle wait; then stops it\n"
        "  TLS (produce, consume): --tls (system CAs) | --tls-ca <pem>, [--tls-cert <pem> --tls-key <pem>],\n"
        "                          --tls-no-verify (encrypt without checking the server's certificate)\n");
}

static int parse(kite_bench *b, int argc, char **argv)
{
    if (argc < 2) return -1;
    if (strcmp(argv[1], "consume") == 0)
        b->consume = 1;
    else if (strcmp(argv[1], "produce") != 0)
        return -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--sync"))
            b->sync = 1;
        else if (!strcmp(a, "--async"))
            b->sync = 0;
        else if (!strcmp(a, "--json"))
            b->json = 1;
        else if (!strcmp(a, "--orderly") && b->consume)
            b->orderly = 1;
        else if (!strcmp(a, "--broadcast") && b->consume)
            b->broadcast = 1;
        else if (!strcmp(a, "--tls"))
            b->tls.enable = 1;
        else if (!strcmp(a, "--tls-no-verify"))
            b->tls.enable = 1, b->tls.verify_server = 0;
        else if (!v)
            return -1;
        else if (!strcmp(a, "-n"))
            b->ns = v, i++;
        else if (!strcmp(a, "-t"))
            b->topic = v, i++;
        else if (!strcmp(a, "-g"))
            b->group = v, i++;
        else if (!strcmp(a, "-s"))
            b->size = (size_t)atol(v), i++;
        else if (!strcmp(a, "-c"))
            b->concurrency = atoi(v), b->concurrency_given = 1, i++;
        else if (!strcmp(a, "-d"))
            b->seconds = atoi(v), b->seconds_given = 1, i++;
        else if (!strcmp(a, "-m"))
            b->limit = atoll(v), i++;
        else if (!strcmp(a, "-b"))
            b->batch = atoi(v), i++;
        else if (!strcmp(a, "-p"))
            b->pull_batch = atoi(v), i++;
        else if (!strcmp(a, "--from"))
            b->from_first = !strcmp(v, "first"), i++;
        else if (!strcmp(a, "--tls-ca"))
            b->tls.enable = 1, b->tls.ca_file = v, i++;
        else if (!strcmp(a, "--tls-cert"))
            b->tls.cert_file = v, i++;
        else if (!strcmp(a, "--tls-key"))
            b->tls.key_file = v, i++;
        else if (!strcmp(a, "--ak"))
            b->access_key = v, i++;
        else if (!strcmp(a, "--sk"))
            b->secret_key = v, i++;
        else if (!strcmp(a, "--rate") && !b->consume)
            b->rate = atof(v), i++;
        else
            return -1;
    }
    if (!b->concurrency_given) b->concurrency = b->consume ? 20 : 64;
    if (!b->seconds_given) b->seconds = b->consume && b->limit > 0 ? 300 : 10;
    if (!b->ns || !b->topic || b->size == 0 || b->concurrency <= 0 || b->seconds <= 0 ||
        b->limit < 0 || b->rate < 0 || !b->access_key != !b->secret_key)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "startup")) return kite_bench_run_startup(argc - 1, argv + 1);
    static kite_bench b; /* holds two histograms (~64 KiB); static rather than on the stack */
    b.size = 1024;
    b.group = "kite_bench_producer";
    b.tls.verify_server = 1;
    if (parse(&b, argc, argv) != 0) {
        usage();
        return 2;
    }
    if (b.consume) {
        if (!strcmp(b.group, "kite_bench_producer")) b.group = "kite_bench_consumer";
        return kite_bench_run_consume(&b);
    }
    return kite_bench_run_produce(&b);
}
