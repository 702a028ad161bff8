/* fuzz_msgprops.c - libFuzzer target for message properties (codec/msgprops): iterate,
 * look up, scan and copy an arbitrary properties string; what the iterator returns,
 * written back with kite_msgprop_append, must read back as the same properties. */
#include "base/buf.h"
#include "codec/msgprops.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *props = (const char *)data;
    static const char *const names[] = { "KEYS", "TAGS", "UNIQ_KEY", "DELAY", "" };
    const char *vals[5];
    size_t vlens[5];
    kite_msgprop_scan(props, size, names, 5, vals, vlens);
    for (int i = 0; i < 5; i++) {
        size_t vl = 0;
        const char *v = kite_msgprop_get(props, size, names[i], &vl);
        if ((v == NULL) != (vals[i] == NULL)) abort();
        if (v && (vl != vlens[i] || memcmp(v, vals[i], vl) != 0)) abort();
        if (v && (v < props || v + vl > props + size)) abort();
    }
    kite_buf re = KITE_BUF_INIT;
    size_t pos = 0, n = 0;
    const char *name, *value;
    size_t nl, vl;
    while (kite_msgprop_next(props, size, &pos, &name, &nl, &value, &vl)) {
        if (name < props || name + nl > props + size || value < props || value + vl > props + size)
            abort();
        char nm[256];
        if (nl >= sizeof nm) continue;
        memcpy(nm, name, nl);
        nm[nl] = 0;
        if (kite_msgprop_append(&re, nm, value, vl) == 0) n++;
    }
    size_t pos2 = 0, n2 = 0;
    while (kite_msgprop_next(re.data, re.len, &pos2, &name, &nl, &value, &vl)) n2++;
    if (n2 != n) abort();
    kite_buf cp = KITE_BUF_INIT;
    static const char *const drop[] = { "TAGS", "KEYS", NULL };
    kite_msgprop_copy_without(props, size, drop, &cp);
    if (kite_msgprop_get(cp.data, cp.len, "TAGS", NULL)) abort();
    kite_buf_free(&cp);
    kite_buf_free(&re);
    return 0;
}
