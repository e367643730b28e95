#include "PolyKernels.h"
#include "half.h"
#include "clones.h"
#include <string.h>
#include <math.h>

PK_CLONES
void pk_bf16_to_f32(float *out, const uint16_t *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = pk_bf16_widen(in[i]);
}

void pk_f16_to_f32(float *out, const uint16_t *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = pk_f16_widen(in[i]);
}

void pk_f32_to_bf16(uint16_t *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &in[i], 4);
        if ((bits & 0x7fffffffu) > 0x7f800000u) { // NaN: keep it quiet
            out[i] = (uint16_t)((bits >> 16) | 0x40);
            continue;
        }
        uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
        out[i] = (uint16_t)((bits + rounding) >> 16);
    }
}

void pk_f32_to_f16(uint16_t *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, &in[i], 4);
        uint32_t sign = (x >> 16) & 0x8000;
        uint32_t absx = x & 0x7fffffffu;
        uint16_t h;
        if (absx > 0x7f800000u) {
            h = (uint16_t)(sign | 0x7e00);
        } else if (absx >= 0x477ff000u) { // rounds to >= 65520: infinity
            h = (uint16_t)(sign | 0x7c00);
        } else if (absx < 0x38800000u) { // subnormal or zero in half
            float f;
            uint32_t a = absx;
            memcpy(&f, &a, 4);
            // scale into the subnormal range and round to nearest even
            float scaled = f * 16777216.0f; // 2^24
            uint32_t m = (uint32_t)nearbyintf(scaled);
            h = (uint16_t)(sign | m);
        } else {
            uint32_t e = ((absx >> 23) - 127 + 15);
            uint32_t mant = absx & 0x7fffff;
            uint32_t hm = mant >> 13;
            uint32_t rem = mant & 0x1fff;
            uint32_t v = (e << 10) | hm;
            if (rem > 0x1000 || (rem == 0x1000 && (hm & 1))) v += 1;
            h = (uint16_t)(sign | v);
        }
        out[i] = h;
    }
}
