/* props.h - Java .properties reader and typed configuration tables.
 *
 * Owns: parsing broker.conf / namesrv.conf text (Java Properties syntax: '#' and '!'
 * comments, key/value separated by '=', ':' or whitespace, surrounding blanks trimmed,
 * backslash line continuation, \t \n \r \f \\ and \uXXXX escapes, later duplicates win),
 * and applying key=value pairs to a C struct through a table of kite_prop_def
 * (name, type, offset, default). Unknown keys are warned about (log channel "config"),
 * malformed values are errors naming the key and the value.
 * Not owned: which keys exist - each daemon owns its table.
 * Threads: plain data; no globals. */
#ifndef KITE_BASE_PROPS_H
#define KITE_BASE_PROPS_H

#include "base/buf.h"
#include <stddef.h>
#include <stdint.h>

typedef struct kite_props {
    size_t count, cap;
    char **keys;     /* owned, NUL-terminated */
    char **values;   /* owned, NUL-terminated */
} kite_props;

void kite_props_init(kite_props *p);
void kite_props_free(kite_props *p);
/* Parses text and adds/overwrites entries. Returns 0 (the syntax cannot fail). */
int kite_props_parse(kite_props *p, const char *text, size_t len);
/* Reads and parses a file. Returns 0, or a kite_status (KITE_ENOTFOUND: no such file) with
 * a message in err. */
int kite_props_load_file(kite_props *p, const char *path, char *err, size_t errlen);
const char *kite_props_get(const kite_props *p, const char *key);
void kite_props_set(kite_props *p, const char *key, const char *value);

/* KITE_PROP_NONE: a key accepted for compatibility that sets nothing (offset unused);
 * it prints as its default. */
typedef enum { KITE_PROP_STR, KITE_PROP_INT, KITE_PROP_LONG, KITE_PROP_BOOL, KITE_PROP_NONE } kite_prop_type;

typedef struct kite_prop_def {
    const char *key;       /* Java key name, e.g. "listenPort" */
    kite_prop_type type;   /* STR: char* (owned by the struct, strdup'd); INT: int32_t; LONG: int64_t; BOOL: int */
    size_t offset;         /* offsetof(config struct, field) */
    const char *dflt;      /* default as text (NULL = empty string / 0 / false) */
    const char *help;      /* one line for docs and -h */
} kite_prop_def;           /* a table ends with an entry whose key is NULL */

/* Sets every field to its default. */
void kite_config_defaults(const kite_prop_def *defs, void *cfg);
/* Frees STR fields. */
void kite_config_free(const kite_prop_def *defs, void *cfg);
/* Sets one key. Returns 0; 1 when the key is unknown (nothing set; not an error);
 * KITE_EINVAL when the value is malformed (message in err: "listenPort: 'abc' is not an
 * integer"). Booleans accept
 * true/false (any case); integers accept decimal with an optional sign, range-checked. */
int kite_config_set(const kite_prop_def *defs, void *cfg, const char *key, const char *value,
                    char *err, size_t errlen);
/* Applies every entry of p: unknown keys are logged as warnings (and skipped), the first
 * malformed value makes it return KITE_EINVAL with the message in err. */
int kite_config_apply(const kite_prop_def *defs, void *cfg, const kite_props *p, char *err, size_t errlen);
/* Appends "key=value\n" for every key of the table, in table order (for -p and
 * GET_*_CONFIG bodies). */
void kite_config_print(const kite_prop_def *defs, const void *cfg, kite_buf *out);
/* Text of one key's current value into out; KITE_ENOTFOUND if the key is unknown. */
int kite_config_get(const kite_prop_def *defs, const void *cfg, const char *key, kite_buf *out);

#endif
