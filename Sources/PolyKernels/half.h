// Widening of the two 16-bit float formats, shared by the conversion and matmul kernels so
// each is written once. Both are exact: every bf16 and f16 value is an f32 value.
#ifndef PK_HALF_H
#define PK_HALF_H

#include <stdint.h>
#include <string.h>

/// bf16 is the top half of an f32.
static inline __attribute__((always_inline)) float pk_bf16_widen(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// IEEE half: rebias the exponent; subnormal halves are normal f32s, so renormalise them.
static inline float pk_f16_widen(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            exp = 127 - 15 + 1;
            while ((mant & 0x400) == 0) { mant <<= 1; exp--; }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#endif
