/* fuzz_bodies.c - libFuzzer target for the name server's body decoders: route,
 * cluster info, data version and RegisterBrokerBody (JSON and compressed). The first
 * byte picks the decoder; decoded routes are re-encoded in both key styles and must
 * decode again. */
#include "proto/bodies.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    char err[256];
    switch (data[0] % 5) {
    case 0: {
        kite_route_data r;
        if (kite_route_decode(&r, p, n, err, sizeof err) == 0) {
            for (int std = 0; std < 2; std++) {
                kite_buf b = KITE_BUF_INIT;
                kite_route_encode(&r, std, &b);
                kite_route_data r2;
                if (kite_route_decode(&r2, b.data, b.len, err, sizeof err) != 0) abort();
                if (r2.n_queues != r.n_queues || r2.n_brokers != r.n_brokers) abort();
                kite_route_free(&r2);
                kite_buf_free(&b);
            }
            kite_route_free(&r);
        }
        break;
    }
    case 1: {
        kite_cluster_info c;
        if (kite_cluster_decode(&c, p, n, err, sizeof err) == 0) kite_cluster_free(&c);
        break;
    }
    case 2: {
        kite_data_version dv;
        (void)kite_data_version_decode(&dv, p, n);
        break;
    }
    default: {
        kite_register_body b;
        if (kite_register_body_decode(&b, (const uint8_t *)p, n, data[0] % 5 == 4, 1 << 20, err,
                                      sizeof err) == 0)
            kite_register_body_free(&b);
        break;
    }
    }
    return 0;
}
