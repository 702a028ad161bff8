/* fault.h - the producer's broker fault table: a broker group whose send failed is avoided
 * for a while (a simple form of Java's sendLatencyFaultEnable; docs/wire.md §12.3).
 *
 * Owns: broker name -> "avoid until" (monotonic ms). A failed attempt (connection refused
 * or closed, no answer in time, a retryable broker code) sets it to now + avoid_ms; a
 * successful answer from the broker clears it. Queue choice (producer.c) skips avoided
 * brokers while another broker of the route is usable, and falls back to them otherwise.
 * Unlike Java, answer latency is not measured: only failures count.
 * Threads: every call is safe from any thread (one mutex). */
#ifndef KITE_CLIENT_FAULT_H
#define KITE_CLIENT_FAULT_H

#include <stdint.h>

typedef struct kite_fault kite_fault;

/* avoid_ms <= 0: the table is off (nothing is ever avoided). */
kite_fault *kite_fault_new(int64_t avoid_ms);
void kite_fault_free(kite_fault *f);
/* A send to broker failed at now_ms. Returns 1 when the broker was not avoided before
 * (the caller logs the change), else 0. */
int kite_fault_failed(kite_fault *f, const char *broker, int64_t now_ms);
/* The broker answered a send: usable again at once. */
void kite_fault_ok(kite_fault *f, const char *broker);
/* 1 while broker is avoided at now_ms. */
int kite_fault_avoided(kite_fault *f, const char *broker, int64_t now_ms);

#endif
