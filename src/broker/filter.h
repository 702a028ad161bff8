/* filter.h - SQL92 property filters (expressionType SQL92, enablePropertyFilter=true):
 * a small expression language over message properties, as RocketMQ defines it:
 *   comparisons  a = 'x'  a <> 1  a > 1.5  a >= b  a < 3  a <= 3
 *   ranges       a BETWEEN 1 AND 5   a NOT BETWEEN 1 AND 5
 *   sets         a IN ('x', 'y')     a NOT IN (1, 2)
 *   nulls        a IS NULL           a IS NOT NULL
 *   strings      a CONTAINS 'x'  a STARTSWITH 'x'  a ENDSWITH 'x'  (and NOT forms)
 *   logic        AND, OR, NOT, parentheses, TRUE, FALSE
 * Identifiers name properties ([A-Za-z_$][A-Za-z0-9_$.]*); literals are 'strings'
 * (with '' for a quote), integers, decimals, TRUE/FALSE. A comparison involving a
 * missing property is "unknown", which filters the message out (SQL three-valued
 * logic). Numbers compare numerically when both sides read as numbers.
 * Owns: parsing into a tree and evaluation. Thread-safe after parsing (read-only). */
#ifndef KITE_BROKER_FILTER_H
#define KITE_BROKER_FILTER_H
#include <stddef.h>

typedef struct bk_filter bk_filter;

/* NULL with a message in err when the expression does not parse. */
bk_filter *bk_filter_parse(const char *expr, char *err, size_t errlen);
void bk_filter_free(bk_filter *f);
/* 1 when the message (its properties string, name 0x01 value 0x02 ...) matches. */
int bk_filter_match(const bk_filter *f, const char *props, size_t props_len);

#endif
