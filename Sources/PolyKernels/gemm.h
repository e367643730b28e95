// The blocked, packed prefill GEMM shared by the weight formats (gemm.c drives it;
// gemm_bf16.c and gemm_q8.c bring their packing and micro-kernels):
// out[T, rows] = x[T, K] · w[rows, K]ᵀ with f32 activations and f32 math.
#ifndef PK_GEMM_H
#define PK_GEMM_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PK_GEMM_SIMD 1
#define PK_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define PK_T256 __attribute__((target("avx2,fma")))
#endif

/// c[mr, nr] (row stride ldc) = (or += with `accumulate`) the MR × NR tile of products of
/// the packed activations xp (MR tokens per column, step · steps columns) and the packed
/// weights wp (NR rows per step, `steps` steps); mr ≤ MR, nr ≤ NR clip the stores.
typedef void (*pk_gemm_kernel)(float *c, size_t ldc, const float *xp, const void *wp, size_t steps,
                               size_t mr, size_t nr, int accumulate);

/// Packs NR weight rows from `row` (n of them real, the rest zero) for the steps from k0
/// (`steps` of them, zero past K) at wp, laid out as the kernel reads them.
typedef void (*pk_gemm_pack)(void *wp, const void *weights, size_t K, size_t row, size_t n, size_t k0,
                             size_t steps, size_t NR);

/// Packs x[T, K]'s MR tokens from t0 and n columns from c0 as xp[k · MR + t], zero past T or K.
typedef void (*pk_gemm_pack_x)(float *xp, const float *x, size_t T, size_t K, size_t t0, size_t c0, size_t n,
                               size_t MR);

/// One weight format on one kernel family.
typedef struct {
    size_t MR, NR;        // the micro-kernel's tile: tokens × weight rows
    size_t step;          // columns per packed 4-byte weight lane: 2 for bf16 pairs, 1 for f32
    size_t KC;            // steps per K block
    size_t NC;            // weight rows packed per K block, a multiple of NR
    pk_gemm_kernel kernel;
    pk_gemm_pack pack;
    pk_gemm_pack_x pack_x; // NULL: the portable copy
} pk_gemm_format;

/// Returns 0, or -1 with out untouched when the packing buffers cannot be allocated.
int pk_gemm_blocked(const pk_gemm_format *f, float *out, size_t ldo, const float *x, const void *weights,
                    size_t T, size_t rows, size_t K);

/// Stores the clipped mr × nr corner of an MR × NR tile of sums (row stride NR) into c,
/// added to what c holds with `accumulate`.
static inline __attribute__((always_inline)) void pk_store_tile(float *c, size_t ldc, const float *tile, size_t NR,
                                                                 size_t mr, size_t nr, int accumulate) {
    for (size_t t = 0; t < mr; t++)
        for (size_t j = 0; j < nr; j++) c[t * ldc + j] = accumulate ? c[t * ldc + j] + tile[t * NR + j] : tile[t * NR + j];
}

#ifdef PK_GEMM_SIMD
/// The AVX-512 pk_gemm_pack_x (gemm.c), for MR ≤ 16.
void pk_gemm_pack_x512(float *xp, const float *x, size_t T, size_t K, size_t t0, size_t c0, size_t n, size_t MR);

/// [Σa, Σb, Σc, Σd] of four 16-lane vectors: the reduction of the inner-product kernels' tiles
/// (gemm_bf16dot.c, attention_gemm.c), which keep 16 partial sums per output.
static inline __attribute__((always_inline, target("avx512f"))) __m128 pk_sum4_512(__m512 a, __m512 b, __m512 c, __m512 d) {
    // Per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3], then [Σa, Σb, Σc, Σd] of that lane.
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512 s = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/// The same for the AVX-512 kernels' 32-row tiles, two vectors of sums per token, with masks.
static inline __attribute__((always_inline)) PK_T512 void pk_store_tile512(float *c, size_t ldc, const __m512 acc[][2],
                                                                            size_t mr, size_t nr, int accumulate) {
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffffu : (1u << nr) - 1u);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffffu : nr <= 16 ? 0u : (1u << (nr - 16)) - 1u);
    for (size_t t = 0; t < mr; t++) {
        float *ct = c + t * ldc;
        __m512 a0 = acc[t][0], a1 = acc[t][1];
        if (accumulate) {
            a0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ct), a0);
            a1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ct + 16), a1);
        }
        _mm512_mask_storeu_ps(ct, m0, a0);
        _mm512_mask_storeu_ps(ct + 16, m1, a1);
    }
}

/// The same for the AVX2 kernels' 16-row tiles of MR tokens (two vectors of sums per token),
/// through a tile in memory (AVX2 has no masked stores of single floats).
static inline __attribute__((always_inline)) PK_T256 void pk_store_tile256(float *c, size_t ldc, const __m256 acc[][2],
                                                                            size_t MR, size_t mr, size_t nr, int accumulate) {
    float tile[MR * 16];
    for (size_t t = 0; t < MR; t++) {
        _mm256_storeu_ps(tile + t * 16, acc[t][0]);
        _mm256_storeu_ps(tile + t * 16 + 8, acc[t][1]);
    }
    pk_store_tile(c, ldc, tile, 16, mr, nr, accumulate);
}

/// c[m] = lane m of every r[i] (c[m] lane i = r[i] lane m): the 16 × 16 transpose of 32-bit
/// lanes in registers, 64 unpacks and shuffles against a load and a store per lane for a
/// scalar copy.
static inline __attribute__((always_inline)) PK_T512 void pk_transpose16(__m512i c[16], const __m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    // u[4i + m], 128-bit lane L: rows 4i..4i+3 at step 4L + m
    for (int i = 0; i < 4; i++) {
        u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int m = 0; m < 4; m++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x88), v1 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xdd);
        __m512i w0 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x88), w1 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xdd);
        c[m] = _mm512_shuffle_i32x4(v0, w0, 0x88);
        c[4 + m] = _mm512_shuffle_i32x4(v1, w1, 0x88);
        c[8 + m] = _mm512_shuffle_i32x4(v0, w0, 0xdd);
        c[12 + m] = _mm512_shuffle_i32x4(v1, w1, 0xdd);
    }
}

/// Stores the 16 × 16 transpose of 32-bit lanes r[i][m] (row i, step m) as o[m · NR + i],
/// NR a multiple of 16 and o 64-byte aligned.
static inline __attribute__((always_inline)) PK_T512 void pk_transpose16_store(uint32_t *o, const __m512i r[16],
                                                                                size_t NR) {
    __m512i c[16];
    pk_transpose16(c, r);
    for (int m = 0; m < 16; m++) _mm512_store_si512(o + (size_t)m * NR, c[m]);
}
#endif

#endif
