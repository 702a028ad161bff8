/* fuzz_frame.c - libFuzzer target for the server's decode entry point: frame
 * delimiting (kite_frame_peek) and command decoding (kite_cmd_decode) with both header
 * serialisations. A decoded command is re-encoded and decoded again; the second decode
 * must succeed and agree on code, opaque, flag, extFields count and body. Seeds:
 * tests/fuzz/corpus/fuzz_frame (made from tests/golden). */
#include "proto/cmd.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        size_t flen;
        char err[256];
        int r = kite_frame_peek(data + pos, size - pos, 1u << 20, &flen, err, sizeof err);
        if (r <= 0) {
            /* Not a whole frame: decode what is there anyway (truncation paths). */
            kite_cmd c;
            if (kite_cmd_decode(&c, data + pos, size - pos, 1u << 20, err, sizeof err) == 0)
                abort();
            break;
        }
        kite_cmd c;
        if (kite_cmd_decode(&c, data + pos, flen, 1u << 20, err, sizeof err) == 0) {
            kite_buf b = KITE_BUF_INIT;
            kite_cmd_encode(&c, &b);
            kite_cmd d;
            if (kite_cmd_decode(&d, (const uint8_t *)b.data, b.len, 1u << 24, err, sizeof err) != 0)
                abort();
            if (d.code != c.code || d.opaque != c.opaque || d.flag != c.flag ||
                d.body_len != c.body_len)
                abort();
            if (c.body_len && memcmp(c.body, d.body, c.body_len) != 0) abort();
            for (size_t i = 0; i < c.n_ext; i++) (void)kite_cmd_ext(&d, c.ext[i].key);
            kite_cmd_free(&d);
            kite_cmd_free(&c);
            kite_buf_free(&b);
        }
        pos += flen;
    }
    return 0;
}
