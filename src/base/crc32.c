/* crc32.c - CRC-32 via zlib (identical to java.util.zip.CRC32) and the 31-bit mask. */
#include "base/crc32.h"
#include <zlib.h>

uint32_t kite_crc32(const void *data, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *p = data;
    while (len > 0) { /* zlib takes uInt lengths; feed in chunks below 4 GiB */
        uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

uint32_t kite_crc32_masked(const void *data, size_t len)
{
    return kite_crc32(data, len) & 0x7FFFFFFFu;
}
