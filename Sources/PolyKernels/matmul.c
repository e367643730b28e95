#include "PolyKernels.h"

// Weight rows are converted to f32 in blocks that stay in L1, then dotted with every
// token: the weights are streamed from memory once per call whatever T is.
#define PK_BLOCK 512

static inline float dot_f32(const float *a, const float *b, size_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    }
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

typedef void (*convert_fn)(float *, const uint16_t *, size_t);

static void matmul_u16(float *out, size_t ldo, const float *x, const uint16_t *w,
                       size_t T, size_t rows, size_t C, convert_fn convert) {
    float buf[PK_BLOCK];
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * C;
        for (size_t t = 0; t < T; t++) out[t * ldo + r] = 0.0f;
        for (size_t c0 = 0; c0 < C; c0 += PK_BLOCK) {
            size_t len = C - c0 < PK_BLOCK ? C - c0 : PK_BLOCK;
            convert(buf, wr + c0, len);
            for (size_t t = 0; t < T; t++) {
                out[t * ldo + r] += dot_f32(buf, x + t * C + c0, len);
            }
        }
    }
}

void pk_matmul_bf16(float *out, size_t ldo, const float *x, const uint16_t *w,
                    size_t T, size_t rows, size_t C) {
    matmul_u16(out, ldo, x, w, T, rows, C, pk_bf16_to_f32);
}

void pk_matmul_f16(float *out, size_t ldo, const float *x, const uint16_t *w,
                   size_t T, size_t rows, size_t C) {
    matmul_u16(out, ldo, x, w, T, rows, C, pk_f16_to_f32);
}
