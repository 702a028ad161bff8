/* golden.h - loads golden cases from tests/golden (annotated hex, see its README). */
#ifndef KITE_TESTS_GOLDEN_H
#define KITE_TESTS_GOLDEN_H
#include "base/buf.h"
/* Loads tests/golden/<name> into out (annotated format for .frame/.raw, verbatim
 * otherwise). Returns 0, or -1 when missing/malformed. Uses $KITE_SRC. */
int kt_golden_load(const char *name, kite_buf *out);
#endif
