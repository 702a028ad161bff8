/* crc.c - the store's body CRC: the same CRC-32 as zlib / java.util.zip.CRC32 (and so as
 * kite_crc32), computed with carry-less multiplication (PCLMULQDQ) where the CPU has it.
 *
 * Why: the put path and crash recovery compute a CRC of every body; zlib 1.2.13's crc32
 * runs at about 1.5 GB/s on 1 KiB bodies here, which alone was half of the per-put budget
 * (docs/store-format.md, "Performance"). Folding 64 bytes per step with PCLMULQDQ runs
 * several times faster.
 * How: the buffer is folded, 16 bytes at a time, into one 128-bit remainder that has the
 * same CRC as the data it replaced (each fold multiplies by x^D mod P, D = the distance
 * folded); the last 16-byte remainder and the tail (< 16 bytes) then go through a plain
 * byte-wise table CRC. Fold constants are computed at start-up from the polynomial.
 * Threads: kite_store_crc32 is thread-safe (constants are set once, under pthread_once).
 * Owns nothing else. Tested against kite_crc32 (zlib) in tests/unit/test_store.c. */
#include "store/store_int.h"
#include "base/crc32.h"
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KITE_CRC_CLMUL 1
#include <immintrin.h>
#endif

static uint32_t table[256];
static uint64_t k512[2], k128[2]; /* {low-qword constant, high-qword constant} */
static int use_clmul;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* x^n mod P, P = x^32 + 0x04C11DB7 (normal bit order: bit d = coefficient of x^d). */
static uint32_t xpow_mod(unsigned n)
{
    uint64_t r = 1;
    for (unsigned i = 0; i < n; i++) {
        r <<= 1;
        if (r & 0x100000000ULL) r ^= 0x104C11DB7ULL;
    }
    return (uint32_t)r;
}

static uint32_t reflect32(uint32_t v)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i++)
        if (v & (1u << i)) r |= 1u << (31 - i);
    return r;
}

/* Fold constant for multiplying by x^n, in the reflected 33-bit form PCLMULQDQ needs. */
static uint64_t fold_const(unsigned n) { return (uint64_t)reflect32(xpow_mod(n)) << 1; }

static void init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        table[i] = c;
    }
    /* Folding a 128-bit block forward by D bits: its low qword (the earlier bytes) is
     * multiplied by x^(D+32) mod P, its high qword by x^(D-32) mod P. */
    k512[0] = fold_const(512 + 32);
    k512[1] = fold_const(512 - 32);
    k128[0] = fold_const(128 + 32);
    k128[1] = fold_const(128 - 32);
#ifdef KITE_CRC_CLMUL
    __builtin_cpu_init();
    use_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

/* The raw register (no pre/post inversion) after feeding len bytes. */
static uint32_t raw_bytes(uint32_t c, const uint8_t *p, size_t len)
{
    while (len--) c = table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c;
}

#ifdef KITE_CRC_CLMUL
__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* len >= 64. c is the raw register before the data. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t raw_clmul(uint32_t c, const uint8_t *p,
                                                                   size_t len)
{
    __m128i K512 = _mm_set_epi64x((long long)k512[1], (long long)k512[0]);
    __m128i K128 = _mm_set_epi64x((long long)k128[1], (long long)k128[0]);
    __m128i x0 = _mm_loadu_si128((const __m128i *)p);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)c)); /* the register joins the first bytes */
    p += 64;
    len -= 64;
    while (len >= 64) {
        x0 = _mm_xor_si128(fold(x0, K512), _mm_loadu_si128((const __m128i *)p));
        x1 = _mm_xor_si128(fold(x1, K512), _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = _mm_xor_si128(fold(x2, K512), _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = _mm_xor_si128(fold(x3, K512), _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        len -= 64;
    }
    __m128i x = _mm_xor_si128(fold(x0, K128), x1);
    x = _mm_xor_si128(fold(x, K128), x2);
    x = _mm_xor_si128(fold(x, K128), x3);
    while (len >= 16) {
        x = _mm_xor_si128(fold(x, K128), _mm_loadu_si128((const __m128i *)p));
        p += 16;
        len -= 16;
    }
    uint8_t rem[16];
    _mm_storeu_si128((__m128i *)rem, x);
    return raw_bytes(raw_bytes(0, rem, 16), p, len);
}
#endif

uint32_t kite_store_crc32(const void *data, size_t len)
{
    pthread_once(&once, init);
#ifdef KITE_CRC_CLMUL
    if (use_clmul && len >= 64) return ~raw_clmul(0xFFFFFFFFu, data, len);
#endif
    if (len >= 256) return kite_crc32(data, len); /* zlib's braided loop beats the table */
    return ~raw_bytes(0xFFFFFFFFu, data, len);
}

uint32_t kite_store_crc32_masked(const void *data, size_t len)
{
    return kite_store_crc32(data, len) & 0x7FFFFFFFu;
}
