#include "PolyKernels.h"
#include "half.h"
#include "clones.h"

// The portable decode kernels: plain C the compiler vectorises, compiled for AVX-512, AVX2
// and plain x86-64 (target_clones, clones.h). They are what runs on CPUs without AVX2 and the
// reference the intrinsics kernels (matmul_simd.c) are tested against. Each weight row is
// read once per call whatever T is.
#define PK_INLINE static inline __attribute__((always_inline))

// 64 independent accumulators: four AVX-512 (eight AVX2) vectors in flight, so the
// loop waits on memory, not on the latency of one FMA chain.
#define PK_LANES 64
// f16 rows are widened in blocks that stay in L1 (the widening is too branchy to do in
// registers), then each block is dotted with every token.
#define PK_BLOCK 512

PK_INLINE float reduce(float *acc) {
    for (int w = PK_LANES / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0];
}

PK_INLINE float dot_f32(const float *a, const float *b, size_t n) {
    float acc[PK_LANES] = {0};
    size_t i = 0;
    for (; i + PK_LANES <= n; i += PK_LANES) {
        for (int k = 0; k < PK_LANES; k++) acc[k] += a[i + k] * b[i + k];
    }
    float s = reduce(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/// One bf16 row · one f32 vector, widening in registers (decode's case: no buffer).
PK_INLINE float dot_bf16(const uint16_t *w, const float *x, size_t n) {
    float acc[PK_LANES] = {0};
    size_t i = 0;
    for (; i + PK_LANES <= n; i += PK_LANES) {
        for (int k = 0; k < PK_LANES; k++) acc[k] += pk_bf16_widen(w[i + k]) * x[i + k];
    }
    float s = reduce(acc);
    for (; i < n; i++) s += pk_bf16_widen(w[i]) * x[i];
    return s;
}

/// A 4-row × 4-token tile: each widened weight vector meets four tokens and each token
/// vector four rows in registers, so the loop runs on FMAs rather than on loads.
PK_INLINE void tile4x4_bf16(float *out, size_t ldo, const float *x, const uint16_t *w, size_t C) {
    float acc[4][4][16] = {{{0}}};
    size_t i = 0;
    for (; i + 16 <= C; i += 16) {
        float wf[4][16];
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < 16; k++) wf[r][k] = pk_bf16_widen(w[r * C + i + k]);
        for (int t = 0; t < 4; t++)
            for (int r = 0; r < 4; r++)
                for (int k = 0; k < 16; k++) acc[t][r][k] += wf[r][k] * x[t * C + i + k];
    }
    for (int t = 0; t < 4; t++)
        for (int r = 0; r < 4; r++) {
            float s = 0.0f;
            for (int k = 0; k < 16; k++) s += acc[t][r][k];
            for (size_t j = i; j < C; j++) s += pk_bf16_widen(w[r * C + j]) * x[t * C + j];
            out[t * ldo + r] = s;
        }
}

PK_CLONES
void pk_matmul_bf16_portable(float *out, size_t ldo, const float *x, const uint16_t *w,
                             size_t T, size_t rows, size_t C) {
    size_t r = 0;
    if (T >= 4) {
        for (; r + 4 <= rows; r += 4) {
            size_t t = 0;
            for (; t + 4 <= T; t += 4) tile4x4_bf16(out + t * ldo + r, ldo, x + t * C, w + r * C, C);
            for (; t < T; t++)
                for (size_t q = r; q < r + 4; q++) out[t * ldo + q] = dot_bf16(w + q * C, x + t * C, C);
        }
    }
    for (; r < rows; r++)
        for (size_t t = 0; t < T; t++) out[t * ldo + r] = dot_bf16(w + r * C, x + t * C, C);
}

PK_CLONES
void pk_matmul_f16_portable(float *out, size_t ldo, const float *x, const uint16_t *w,
                            size_t T, size_t rows, size_t C) {
    float buf[PK_BLOCK] __attribute__((aligned(64)));
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * C;
        for (size_t t = 0; t < T; t++) out[t * ldo + r] = 0.0f;
        for (size_t c0 = 0; c0 < C; c0 += PK_BLOCK) {
            size_t len = C - c0 < PK_BLOCK ? C - c0 : PK_BLOCK;
            for (size_t i = 0; i < len; i++) buf[i] = pk_f16_widen(wr[c0 + i]);
            for (size_t t = 0; t < T; t++) out[t * ldo + r] += dot_f32(buf, x + t * C + c0, len);
        }
    }
}
