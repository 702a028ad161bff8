/* crc32.h - CRC-32 as java.util.zip.CRC32 computes it (zlib), plus RocketMQ's mask.
 * Owns nothing but the two helpers; thread-safe. */
#ifndef KITE_BASE_CRC32_H
#define KITE_BASE_CRC32_H
#include <stddef.h>
#include <stdint.h>

/* Plain IEEE CRC-32 of len bytes (0 for an empty buffer). */
uint32_t kite_crc32(const void *data, size_t len);
/* RocketMQ's body / registration CRC: kite_crc32() & 0x7FFFFFFF. */
uint32_t kite_crc32_masked(const void *data, size_t len);

#endif
