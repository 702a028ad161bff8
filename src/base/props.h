/* props.h - Java .properties reader and typed configuration tables.
 *
 * Owns: parsing broker.conf / namesrv.conf text (Java Properties syntax: '#' and '!'
 * comments, key/value separated by '=', ':' or whitespace, surrounding blanks trimmed,
 * backslash line continuation, \t \n \r \f \\ and \uXXXX escapes, later duplicates win),
 * and applying key=value pairs to a C struct through a table of kite_prop_def
 * (name, type, offset, default). Unknown keys and keys accepted but not implemented are
 * warned about (log channel "config"); malformed values, and values of keys this build
 * refuses (see kite_prop_type), are errors naming the key and the value.
 * Not owned: which keys exist - each daemon owns its table.
 * Threads: plain data; no globals. */
#ifndef KITE_BASE_PROPS_H
#define KITE_BASE_PROPS_H

#include "base/buf.h"
#include <stddef.h>
#include <stdint.h>

typedef struct kite_props {
    size_t count, cap;
    char **keys;   /* owned, NUL-terminated */
    char **values; /* owned, NUL-terminated */
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

/* How a key's value is taken. STR/INT/LONG/BOOL: implemented, stored in the field at
 * offset and in force. The two others have no field (offset unused):
 *  KITE_PROP_IGNORED  accepted for compatibility, not implemented: any value is accepted
 *                     and has no effect; kite_config_apply warns naming the key.
 *  KITE_PROP_REFUSED  not implemented, and ignoring it could lose data or let people in:
 *                     only dflt (what this build does) is accepted, compared ignoring case
 *                     and surrounding blanks; any other value is an error naming the key.
 * For both, help says why the key is not implemented ("no ACL in this build"). */
typedef enum {
    KITE_PROP_STR,
    KITE_PROP_INT,
    KITE_PROP_LONG,
    KITE_PROP_BOOL,
    KITE_PROP_IGNORED,
    KITE_PROP_REFUSED
} kite_prop_type;

typedef struct kite_prop_def {
    const char *key; /* Java key name, e.g. "listenPort" */
    /* STR: char* (owned by the struct, strdup'd); INT: int32_t; LONG: int64_t; BOOL: int */
    kite_prop_type type;
    size_t offset;    /* offsetof(config struct, field); STR/INT/LONG/BOOL only */
    const char *dflt; /* default as text (NULL = empty string / 0 / false) */
    const char *help; /* one line for docs and -h; IGNORED/REFUSED: why it has no effect */
} kite_prop_def;      /* a table ends with an entry whose key is NULL */

/* Table entries for keys a daemon does not implement: REFUSED when ignoring them could lose
 * data or let people in (only the value `only` is accepted), IGNORED (warned) otherwise. */
#define KITE_PROP_REFUSE(k, only, why)     \
    {                                      \
        k, KITE_PROP_REFUSED, 0, only, why \
    }
#define KITE_PROP_IGNORE(k, why)           \
    {                                      \
        k, KITE_PROP_IGNORED, 0, NULL, why \
    }

/* Sets every field to its default. */
void kite_config_defaults(const kite_prop_def *defs, void *cfg);
/* Frees STR fields. */
void kite_config_free(const kite_prop_def *defs, void *cfg);
/* Sets one key. Returns 0 when set; 2 for an IGNORED key (nothing set); 1 when the key is
 * unknown (nothing set); KITE_EINVAL when the value is malformed or REFUSED (message in err:
 * "listenPort: 'abc' is not an integer", "aclEnable=true is not supported yet (no ACL in
 * this build); remove the key or set it to false"). Booleans accept true/false (any
 * case); integers accept decimal with an optional sign, range-checked. */
int kite_config_set(const kite_prop_def *defs, void *cfg, const char *key, const char *value,
                    char *err, size_t errlen);
/* Applies every entry of p: unknown and IGNORED keys are logged as warnings naming the key
 * (and skipped), the first malformed or refused value makes it return KITE_EINVAL with the
 * message in err. */
int kite_config_apply(const kite_prop_def *defs, void *cfg, const kite_props *p, char *err,
                      size_t errlen);
/* What is in force, as properties text (for -p and GET_*_CONFIG bodies): "key=value\n" for
 * every implemented key in table order; then, under a comment line, "key=value" for each
 * REFUSED key with the only value this build accepts; then, as comment lines
 * ("#key: why"), the IGNORED keys. A properties reader sees only the keys in force. */
void kite_config_print(const kite_prop_def *defs, const void *cfg, kite_buf *out);
/* Text of one key's value in force into out; KITE_ENOTFOUND if the key is unknown or
 * IGNORED. */
int kite_config_get(const kite_prop_def *defs, const void *cfg, const char *key, kite_buf *out);

#endif
