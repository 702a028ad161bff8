/* message.h - library-internal view of kite_message (include/kite/message.h): the
 * properties string encoder and the id slot the producer fills.
 *
 * Owns: the struct layout of kite_message. Not owned: validation of sends (producer.c).
 * Threads: as the public object - one thread at a time. */
#ifndef KITE_CLIENT_MESSAGE_H
#define KITE_CLIENT_MESSAGE_H

#include "base/buf.h"
#include "codec/record.h"
#include "kite/message.h"
#include <stdint.h>

typedef struct kite_prop {
    char *name;
    char *value;
} kite_prop;

struct kite_message {
    char *topic;
    int32_t flag;
    kite_prop *props; /* insertion order; names unique */
    size_t n_props, cap_props;
    const uint8_t *body; /* body_own or a borrowed pointer */
    size_t body_len;
    uint8_t *body_own;
    int uniq_by_app; /* UNIQ_KEY was set by the application: keep it */
};

/* Appends the properties string (name 0x01 value 0x02 ..., docs/wire.md §9.3) to out.
 * Returns KITE_OK or KITE_ETOOBIG when it would exceed KITE_REC_MAX_PROPS (the stored
 * length is a signed 16-bit value, docs/wire.md §9.3). */
int kite_msg_encode_props(const kite_message *m, kite_buf *out);
/* Sets UNIQ_KEY on behalf of the library (keeps uniq_by_app as it is). */
int kite_msg_set_uniq(kite_message *m, const char *id);

#endif
