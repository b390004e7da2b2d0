// CRC32C with the SSE4.2 crc32 instruction where the CPU has it, else a table-driven fallback.
#include "corral_shims.h"
#include <pthread.h>
#include <string.h>

// Built once, on first use, by whichever thread gets there first (pthread_once: no race).
static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) { c = table[0][c & 0xff] ^ (c >> 8); table[k][n] = c; }
    }
}

static uint32_t crc_soft(uint32_t crc, const unsigned char *p, size_t n) {
    pthread_once(&table_once, build_table);
    while (n >= 8) {
        uint64_t w; memcpy(&w, p, 8);
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8; n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw_serial(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) { uint64_t w; memcpy(&w, p, 8); c = __builtin_ia32_crc32di(c, w); p += 8; n -= 8; }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

// The crc32 instruction takes 3 cycles but can start one per cycle: three independent streams of
// STRIDE bytes run about three times faster than one chain (a 4 KiB payload is one round). The
// streams' registers are then joined: the register after A||B is A's register carried over |B|
// zero bytes, XOR B's register from zero. Carrying over STRIDE zero bytes is linear in the
// register, so it is four table lookups (shift_table, built once from the serial code).
#define STRIDE 1344
static uint32_t shift_table[4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2")))
static void build_shift_table(void) {
    static const unsigned char zeros[STRIDE];
    for (int byte = 0; byte < 4; byte++)
        for (uint32_t value = 0; value < 256; value++)
            shift_table[byte][value] = crc_hw_serial(value << (8 * byte), zeros, STRIDE);
}

static inline uint32_t shift_stride(uint32_t c) {
    return shift_table[0][c & 0xff] ^ shift_table[1][(c >> 8) & 0xff] ^ shift_table[2][(c >> 16) & 0xff] ^ shift_table[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t n) {
    if (n >= 3 * STRIDE) pthread_once(&shift_once, build_shift_table);
    while (n >= 3 * STRIDE) {
        uint64_t a = crc, b = 0, c = 0;
        for (size_t i = 0; i < STRIDE; i += 8) {
            uint64_t wa, wb, wc;
            memcpy(&wa, p + i, 8); memcpy(&wb, p + STRIDE + i, 8); memcpy(&wc, p + 2 * STRIDE + i, 8);
            a = __builtin_ia32_crc32di(a, wa); b = __builtin_ia32_crc32di(b, wb); c = __builtin_ia32_crc32di(c, wc);
        }
        crc = shift_stride(shift_stride((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
        p += 3 * STRIDE; n -= 3 * STRIDE;
    }
    return crc_hw_serial(crc, p, n);
}
#endif

uint32_t corral_crc32c(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc_hw(crc, p, length);
#endif
    return ~crc_soft(crc, p, length);
}

uint32_t corral_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    return ~crc_soft(~crc, (const unsigned char *)data, length);
}
