/* msgprops.h - the message properties string of the remoting protocol: the one reader
 * and the one writer.
 *
 * Owns: the syntax "name 0x01 value 0x02 name 0x01 value 0x02 ..." that a message's
 * properties take in send requests, in stored records and in pull answers (the Java
 * client's format). Reading follows Java's rules: pieces without 0x01, with an empty name
 * or an empty value are ignored, the last duplicate wins, and the trailing 0x02 may be
 * missing. Writing always ends a property with 0x02.
 * Not to be confused with base/props.h, the reader of .properties configuration files.
 * Does not own: which property names exist or what they mean (the broker and libkite), the
 * 32767-byte limit on a stored string (codec/record.h, KITE_REC_MAX_PROPS).
 * Threads: pure functions over caller memory; reentrant. */
#ifndef KITE_CODEC_MSGPROPS_H
#define KITE_CODEC_MSGPROPS_H

#include "base/buf.h"
#include <stddef.h>

#define KITE_MSGPROP_NAME_END  '\001' /* ends a name */
#define KITE_MSGPROP_VALUE_END '\002' /* ends a value (optional after the last one) */

/* Iterates the properties of props (len bytes) that Java keeps: start with *pos = 0; each
 * call returns 1 with the next name and value (pointers into props, not NUL-terminated)
 * and advances *pos, or 0 at the end. */
int kite_msgprop_next(const char *props, size_t len, size_t *pos, const char **name, size_t *nlen,
                      const char **value, size_t *vlen);
/* Value of property name in props (len bytes). Returns a pointer into props and the length
 * in *vlen (may be NULL), or NULL when absent. */
const char *kite_msgprop_get(const char *props, size_t len, const char *name, size_t *vlen);
/* One pass for several names: vals[i] / vlens[i] receive the value of the last
 * occurrence of names[i] (NULL / 0 when absent), with the rules of kite_msgprop_get. */
void kite_msgprop_scan(const char *props, size_t len, const char *const *names, size_t n,
                       const char **vals, size_t *vlens);

/* Appends "name 0x01 value 0x02" to out, which holds a properties string and nothing else.
 * When out does not end with 0x02 (a string copied from a sender that left the last
 * separator out), 0x02 is added first, so the new name cannot become part of the last
 * value. Returns KITE_OK, or KITE_EINVAL with nothing appended when name is empty or name
 * or value holds 0x01 or 0x02. */
int kite_msgprop_append(kite_buf *out, const char *name, const char *value, size_t vlen);
/* The same for a NUL-terminated value, and for a decimal number. */
int kite_msgprop_append_str(kite_buf *out, const char *name, const char *value);
int kite_msgprop_append_i64(kite_buf *out, const char *name, long long value);
/* Appends to out (a properties string, as above) every piece of props (len bytes) whose
 * name is not one of drop (a NULL-terminated list), byte for byte, each ending with 0x02
 * (also the last one when props left it out). Empty pieces are dropped. */
void kite_msgprop_copy_without(const char *props, size_t len, const char *const *drop,
                               kite_buf *out);

#endif
