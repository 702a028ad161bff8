/* fuzz_json.c - libFuzzer target for src/base/json.c: any input must parse or fail
 * cleanly; an accepted document, written back with kite_jw_node, must parse again and
 * reach a fixed point (the second and third writes are identical), in both writer
 * modes. Seeds: tests/fuzz/corpus/fuzz_json/. */
#include "base/json.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Writes the root of doc into out (reset first). */
static void write_doc(const kite_json_doc *doc, kite_buf *out, int flags)
{
    kite_jw w;
    kite_buf_reset(out);
    kite_jw_init(&w, out, flags);
    kite_jw_node(&w, kite_json_root(doc));
    if (w.error || w.depth != 0) abort();
}

static void check_mode(const kite_json_doc *doc, int flags)
{
    kite_buf a = KITE_BUF_INIT, b = KITE_BUF_INIT;
    char err[128];
    write_doc(doc, &a, flags); /* second form */
    kite_json_doc *d2 = kite_json_parse(a.data, a.len, err, sizeof err);
    if (!d2) abort();         /* our own output must parse */
    write_doc(d2, &b, flags); /* third form */
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
    kite_json_doc_free(d2);
    kite_buf_free(&a);
    kite_buf_free(&b);
}

/* Touches the accessors on every node (they must not crash on any shape). */
static void walk(const kite_json *n)
{
    int64_t v;
    int b;
    kite_buf t = KITE_BUF_INIT;
    (void)kite_json_int64(n, &v);
    (void)kite_json_bool(n, &b);
    (void)kite_json_scalar_text(n, &t);
    kite_buf_free(&t);
    if (n->type == KJ_ARRAY) {
        for (size_t i = 0; i < n->count; i++) walk(kite_json_at(n, i));
    } else if (n->type == KJ_OBJECT) {
        for (size_t i = 0; i < n->count; i++) {
            const kite_json *k = n->members[i].key;
            if (k->type == KJ_STRING && i < 64) (void)kite_json_get(n, k->text); /* O(n) each */
            walk(k);
            walk(n->members[i].value);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    kite_json_doc *doc = kite_json_parse((const char *)data, size, err, sizeof err);
    if (!doc) {
        if (strncmp(err, "offset ", 7) != 0) abort();
        return 0;
    }
    walk(kite_json_root(doc));
    check_mode(doc, 0);
    check_mode(doc, KITE_JW_ASCII);
    kite_json_doc_free(doc);
    return 0;
}
