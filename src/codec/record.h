/* record.h - the stored message record (commit log, pull bodies) and Java String.hashCode
 * for tags.
 *
 * Owns: the byte layout of one stored record (table below; also docs/store-format.md and
 * docs/wire.md §9.1), its exact validation, the masked body CRC, and the Java tag hash over UTF-16 code units.
 * Does not own: where records live (src/store), message ids (msgid), compression, the
 * properties string inside a record (codec/msgprops.h, included here for its users).
 * Threads: pure functions over caller memory; reentrant.
 *
 * Record layout, V1 magic, IPv4 hosts (big-endian; offsets shift by 12 for each IPv6
 * host, and by 1 after BODY for V2):
 *
 *   off size field
 *     0   4  TOTALSIZE         whole record length, this field included
 *     4   4  MAGICCODE         0xDAA320A7 V1 | 0xDAA320AB V2 | 0xCBD43194 blank filler
 *     8   4  BODYCRC           CRC-32(body) & 0x7FFFFFFF
 *    12   4  QUEUEID
 *    16   4  FLAG
 *    20   8  QUEUEOFFSET
 *    28   8  PHYSICALOFFSET    commit-log offset of byte 0 of this record
 *    36   4  SYSFLAG           0x10 born host IPv6, 0x20 store host IPv6, 0xC tx type
 *    40   8  BORNTIMESTAMP
 *    48   8  BORNHOST          4-byte IPv4 + 4-byte port (IPv6: 16 + 4)
 *    56   8  STORETIMESTAMP
 *    64   8  STOREHOST         4-byte IPv4 + 4-byte port (IPv6: 16 + 4)
 *    72   4  RECONSUMETIMES
 *    76   8  PREPAREDTXOFFSET
 *    84   4  BODYLENGTH n
 *    88   n  BODY
 *  88+n   1  TOPICLENGTH t     (V2: 2 bytes)
 *         t  TOPIC
 *         2  PROPERTIESLENGTH p (signed 16-bit, 0..32767)
 *         p  PROPERTIES
 *   total = 91 + n + t + p for V1/IPv4/IPv4.
 *
 * A blank filler is only 8 meaningful bytes: TOTALSIZE (= rest of the file) + magic. */
#ifndef KITE_CODEC_RECORD_H
#define KITE_CODEC_RECORD_H

#include "codec/msgprops.h"
#include <stddef.h>
#include <stdint.h>

#define KITE_REC_MAGIC_V1     0xDAA320A7u
#define KITE_REC_MAGIC_V2     0xDAA320ABu
#define KITE_REC_MAGIC_BLANK  0xCBD43194u
#define KITE_REC_FIXED_V1     91u /* overhead of a V1 IPv4/IPv4 record */
#define KITE_REC_BLANK_MIN    8u  /* a blank filler needs at least this much room */
#define KITE_REC_MAX_TOPIC_V1 127u
#define KITE_REC_MAX_PROPS    32767u

#define KITE_SYSFLAG_COMPRESSED   0x001
#define KITE_SYSFLAG_MULTI_TAGS   0x002
#define KITE_SYSFLAG_TX_MASK      0x00C
#define KITE_SYSFLAG_TX_NOT       0x000
#define KITE_SYSFLAG_TX_PREPARED  0x004
#define KITE_SYSFLAG_TX_COMMIT    0x008
#define KITE_SYSFLAG_TX_ROLLBACK  0x00C
#define KITE_SYSFLAG_BORNHOST_V6  0x010
#define KITE_SYSFLAG_STOREHOST_V6 0x020

/* Field offsets of a V1 record with an IPv4 born host (store code writes only these). */
enum {
    KITE_REC_OFF_TOTALSIZE = 0,
    KITE_REC_OFF_MAGIC = 4,
    KITE_REC_OFF_BODYCRC = 8,
    KITE_REC_OFF_QUEUEID = 12,
    KITE_REC_OFF_FLAG = 16,
    KITE_REC_OFF_QUEUEOFFSET = 20,
    KITE_REC_OFF_PHYSOFFSET = 28,
    KITE_REC_OFF_SYSFLAG = 36,
    KITE_REC_OFF_BORNTS = 40,
    KITE_REC_OFF_BORNHOST = 48,
    KITE_REC_OFF_STORETS = 56,
    KITE_REC_OFF_STOREHOST = 64,
};

/* A decoded record: pointers borrow from the decoded bytes (valid as long as they are). */
typedef struct kite_record {
    uint32_t total_size;
    uint32_t magic;
    uint32_t body_crc;
    int32_t queue_id;
    int32_t flag;
    int64_t queue_offset;
    int64_t phys_offset;
    int32_t sysflag;
    int64_t born_ts;
    uint8_t born_addr[16]; /* IPv4 in the first 4 bytes unless KITE_SYSFLAG_BORNHOST_V6 */
    int32_t born_port;
    int64_t store_ts;
    uint8_t store_addr[16];
    int32_t store_port;
    int32_t reconsume_times;
    int64_t prepared_tx_offset;
    const uint8_t *body;
    uint32_t body_len;
    const char *topic;
    uint32_t topic_len;
    const char *props;
    uint32_t props_len;
} kite_record;

/* Size of the encoded record; 0 when a length cannot be encoded (topic > 127 for V1 or
 * > 32767 for V2, props > 32767, total > INT32_MAX). */
size_t kite_record_size(uint32_t magic, int32_t sysflag, size_t body_len, size_t topic_len,
                        size_t props_len);

/* Encodes r into dst (cap bytes). r->total_size and r->body_crc are ignored: TOTALSIZE
 * is computed and BODYCRC is computed from the body. Returns the record length, or 0 when
 * it does not fit or a length is out of range. */
size_t kite_record_encode(const kite_record *r, uint8_t *dst, size_t cap);

/* Decode flags. */
enum { KITE_REC_CHECK_CRC = 1 };

/* Decodes and validates the record at p (avail readable bytes): magic V1/V2, TOTALSIZE
 * within [fixed, avail], every length adding up to TOTALSIZE exactly, topic non-empty
 * without NUL or '/', props length 0..32767, and the body CRC when KITE_REC_CHECK_CRC.
 * Returns the record length (> 0), or KITE_ECORRUPT with a reason in *why (static text),
 * or KITE_EAGAIN when fewer than 8 bytes / TOTALSIZE bytes are available for an
 * otherwise plausible record. A blank filler is reported as KITE_ENOTFOUND with
 * out->magic and out->total_size set. */
int kite_record_decode(const uint8_t *p, size_t avail, kite_record *out, int flags,
                       const char **why);

/* Writes a blank filler (TOTALSIZE = len, blank magic) into the first 8 bytes of dst. */
void kite_record_write_blank(uint8_t *dst, uint32_t len);

/* Java String.hashCode() of UTF-8 text, computed over its UTF-16 code units (surrogate
 * pairs for code points above U+FFFF; invalid UTF-8 bytes count as U+FFFD). */
int32_t kite_java_hash(const char *utf8, size_t len);
/* Consume-queue tag code: Java hash of the TAGS property sign-extended, 0 when absent. */
int64_t kite_tag_code(const char *props, size_t props_len);

#endif
