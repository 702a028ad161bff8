/* json.h - tolerant JSON reader (a small DOM) and a compact writer with a Java mode.
 *
 * Why hand-written: Java RocketMQ (fastjson) writes maps with bare integer keys
 * ({0:"a"}) and with objects as keys ({{"topic":"T","queueId":0}:5}); no JSON library
 * in Debian parses those. See docs/DESIGN.md, "Why some things are hand-written".
 *
 * Reader: kite_json_parse() builds an immutable tree owned by a kite_json_doc (one
 * arena; kite_json_doc_free() releases every node). Accepted beyond RFC 8259:
 *   - object keys that are bare numbers (-12, 3), bare identifiers ([A-Za-z_$][A-Za-z0-9_$]*),
 *     single-quoted strings, or whole objects/arrays (fastjson object keys);
 *   - single-quoted string values, a trailing comma before } or ];
 *   - surrounding whitespace.
 * Numbers keep their source text (64-bit integers never lose precision). Strings are
 * decoded to UTF-8 (\uXXXX, surrogate pairs; a lone surrogate becomes U+FFFD) and are
 * NUL-terminated; they may contain NUL bytes (len is authoritative). Nesting deeper
 * than KITE_JSON_MAX_DEPTH is rejected (bounded stack on hostile input).
 *
 * Writer: kite_jw appends compact JSON (no spaces, ever) to a kite_buf and inserts
 * commas itself. Strings escape ", \, and bytes < 0x20 (\b \f \n \r \t short forms,
 * \u00XX otherwise); with KITE_JW_ASCII, non-ASCII is written as \uXXXX (UTF-16).
 * Map keys can be written quoted, bare (fastjson numeric keys) or as objects.
 *
 * Threads: a doc or writer belongs to one thread; parsing is reentrant. */
#ifndef KITE_BASE_JSON_H
#define KITE_BASE_JSON_H

#include "base/buf.h"
#include <stddef.h>
#include <stdint.h>

#define KITE_JSON_MAX_DEPTH 64

typedef enum { KJ_NULL = 0, KJ_BOOL, KJ_NUMBER, KJ_STRING, KJ_ARRAY, KJ_OBJECT } kite_json_type;

typedef struct kite_json kite_json;
typedef struct kite_json_doc kite_json_doc;

typedef struct kite_json_member {
    kite_json *
        key; /* KJ_STRING (quoted or bare identifier), KJ_NUMBER (bare), KJ_OBJECT/KJ_ARRAY (fastjson) */
    kite_json *value;
} kite_json_member;

struct kite_json {
    kite_json_type type;
    unsigned char bare; /* key only: written without quotes in the source */
    int boolean;        /* KJ_BOOL */
    const char *text;   /* KJ_STRING: decoded bytes; KJ_NUMBER: source text. NUL-terminated */
    size_t len;         /* length of text */
    size_t count;       /* KJ_ARRAY: items; KJ_OBJECT: members */
    kite_json **items;  /* KJ_ARRAY */
    kite_json_member *members; /* KJ_OBJECT, in source order */
};

/* Parses len bytes. On failure returns NULL and writes "offset N: reason" into err. */
kite_json_doc *kite_json_parse(const char *text, size_t len, char *err, size_t errlen);
void kite_json_doc_free(kite_json_doc *doc);
const kite_json *kite_json_root(const kite_json_doc *doc);

/* Member of an object by key text (string keys and bare keys compare by their text;
 * object keys never match). The LAST duplicate wins, as in Java. NULL if absent or
 * obj is not an object. */
const kite_json *kite_json_get(const kite_json *obj, const char *key);
/* Array item i, or NULL. */
const kite_json *kite_json_at(const kite_json *arr, size_t i);

/* Typed accessors; return 0 on success, KITE_EINVAL when the value does not convert.
 * int64: integer numbers, or strings holding a decimal integer (fastjson accepts both).
 * bool:  true/false, the strings "true"/"false", numbers 0/1.
 * str:   strings only; *len may be NULL. */
int kite_json_int64(const kite_json *v, int64_t *out);
int kite_json_int32(const kite_json *v, int32_t *out);
int kite_json_bool(const kite_json *v, int *out);
const char *kite_json_str(const kite_json *v, size_t *len);
/* Convenience: field of obj as int64/int32/bool/str with a default when absent or invalid. */
int64_t kite_json_get_int64(const kite_json *obj, const char *key, int64_t dflt);
int32_t kite_json_get_int32(const kite_json *obj, const char *key, int32_t dflt);
int kite_json_get_bool(const kite_json *obj, const char *key, int dflt);
const char *kite_json_get_str(const kite_json *obj, const char *key, const char *dflt);
/* Appends the text form of a scalar to out: strings as-is, numbers as source text,
 * booleans as "true"/"false", null as "" (how extFields values are normalised).
 * Returns KITE_EINVAL (appending nothing) for arrays and objects. */
int kite_json_scalar_text(const kite_json *v, kite_buf *out);

/* ---- writer ---- */
enum { KITE_JW_ASCII = 1 };

typedef struct kite_jw {
    kite_buf *out;
    int flags;
    int depth;
    int error; /* set on misuse (e.g. depth overflow) */
    unsigned char
        count[KITE_JSON_MAX_DEPTH]; /* 0 = nothing written at this level yet, 1 = need comma */
    unsigned char is_obj[KITE_JSON_MAX_DEPTH];
    unsigned char after_key[KITE_JSON_MAX_DEPTH]; /* a key was written, the value comes next */
    unsigned char key_obj[KITE_JSON_MAX_DEPTH];   /* this container is an object used as a key */
} kite_jw;

void kite_jw_init(kite_jw *w, kite_buf *out, int flags);
void kite_jw_obj_begin(kite_jw *w);
void kite_jw_obj_end(kite_jw *w);
void kite_jw_arr_begin(kite_jw *w);
void kite_jw_arr_end(kite_jw *w);
/* Keys (inside an object, before each value). */
void kite_jw_key(kite_jw *w, const char *k);
void kite_jw_key_n(kite_jw *w, const char *k, size_t n);
void kite_jw_key_int(kite_jw *w, int64_t k, int quoted); /* quoted=0: fastjson bare key */
/* An object used as a key: kite_jw_key_obj_begin(), its members, kite_jw_key_obj_end(),
 * then the value. */
void kite_jw_key_obj_begin(kite_jw *w);
void kite_jw_key_obj_end(kite_jw *w);
/* Values. */
void kite_jw_str(kite_jw *w, const char *s);
void kite_jw_str_n(kite_jw *w, const char *s, size_t n);
void kite_jw_int(kite_jw *w, int64_t v);
void kite_jw_double(
    kite_jw *w, double v); /* shortest form that round-trips; no exponent for normal magnitudes */
void kite_jw_bool(kite_jw *w, int v);
void kite_jw_null(kite_jw *w);
void kite_jw_raw(kite_jw *w, const char *json, size_t n); /* pre-encoded JSON value */
/* A member with a string value, and one whose number is written as a string (Java
 * Properties and the stats tables carry numbers that way). */
void kite_jw_kv(kite_jw *w, const char *k, const char *v);
void kite_jw_kv_numstr(kite_jw *w, const char *k, int64_t v);
/* Writes a parsed node back: numbers as their source text, keys in their source style
 * (bare keys stay bare, object keys stay objects). Compact input round-trips byte for byte. */
void kite_jw_node(kite_jw *w, const kite_json *node);
/* Appends s as a quoted JSON string (no comma handling) - for hand-built text. */
void kite_json_quote(kite_buf *out, const char *s, size_t n, int flags);

#endif
