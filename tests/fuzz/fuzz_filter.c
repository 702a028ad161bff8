/* fuzz_filter.c - libFuzzer target for the broker's SQL92 filter parser and evaluator:
 * the first half of the input is the expression, the second a properties string. */
#include "broker/filter.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t half = size / 2;
    char *expr = malloc(half + 1);
    if (!expr) return 0;
    memcpy(expr, data, half);
    expr[half] = 0;
    char err[256];
    bk_filter *f = bk_filter_parse(expr, err, sizeof err);
    if (f) {
        (void)bk_filter_match(f, (const char *)data + half, size - half);
        bk_filter_free(f);
    }
    free(expr);
    return 0;
}
