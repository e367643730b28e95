#include "PolyKernels.h"
#include "gemm.h"
#include "half.h"
#include <stdint.h>
#include <string.h>

// Prefill products on q8 weights with exact f32 math: out[T, rows] = x[T, K] · wᵀ where w is
// the dequantised matrix (scale · value per block of 32, exact in f32: an 11-bit f16
// mantissa times a 7-bit integer). The activations stay f32 (quantising them too, as decode
// does, broke the q8 accuracy bounds at prefill). The blocking is gemm.c's; packing a K
// block of NR weight rows dequantises them into an f32 panel wp[k][NR], so the micro-kernels
// are plain f32 ones and no f32 copy of the matrix is ever written (dequantise-then-sgemm
// wrote and re-read 512-row panels, and its speed hung on which CPUs the OpenBLAS build knew).

#define QB PK_Q8_BLOCK
#ifndef Q8_KC
#define Q8_KC 256 // columns per K block, a multiple of 32: a 32-row f32 panel is 32 KiB (L1 is 48)
#endif
#ifndef Q8_NC
#define Q8_NC 128 // weight rows packed per K block (128 KiB, L2); a multiple of every NR
#endif

typedef struct { const int8_t *q; const uint16_t *scales; } q8_weights;

/// wp[k · NR + j] = row `row + j`'s column k0 + k dequantised, for rows from j0 and columns
/// from `from` (the AVX packings transpose the rest); zero past n rows. kc never passes K.
static void pack_q8_from(float *wp, const q8_weights *w, size_t K, size_t row, size_t n, size_t k0, size_t kc,
                         size_t NR, size_t j0, size_t from) {
    size_t nb = (K + QB - 1) / QB;
    for (size_t j = j0; j < NR; j++) {
        if (j >= n) {
            for (size_t k = from; k < kc; k++) wp[k * NR + j] = 0;
            continue;
        }
        const int8_t *q = w->q + (row + j) * K + k0;
        const uint16_t *s = w->scales + (row + j) * nb;
        for (size_t k = from; k < kc;) { // one q8 block (or the part of it in range) at a time
            size_t end = ((k0 + k) / QB + 1) * QB - k0;
            float d = pk_f16_widen(s[(k0 + k) / QB]);
            for (end = end < kc ? end : kc; k < end; k++) wp[k * NR + j] = d * (float)q[k];
        }
    }
}

static void pack_q8(void *wp, const void *w, size_t K, size_t row, size_t n, size_t k0, size_t kc, size_t NR) {
    pack_q8_from(wp, w, K, row, n, k0, kc, NR, 0, 0);
}

#define MR_P 4
#define NR_P 16
static void kernel_portable(float *c, size_t ldc, const float *xp, const void *wpv, size_t kc,
                            size_t mr, size_t nr, int accumulate) {
    const float *wp = wpv;
    float acc[MR_P][NR_P] = {{0}};
    for (size_t k = 0; k < kc; k++)
        for (int t = 0; t < MR_P; t++)
            for (int j = 0; j < NR_P; j++) acc[t][j] += xp[k * MR_P + t] * wp[k * NR_P + j];
    pk_store_tile(c, ldc, &acc[0][0], NR_P, mr, nr, accumulate);
}

#ifdef PK_GEMM_SIMD
// ---- AVX-512: 12 tokens × 32 rows, 24 zmm accumulators ------------------------------------
#define MR_512 12
#define NR_512 32

PK_T512 static void kernel512(float *c, size_t ldc, const float *xp, const void *wpv, size_t kc,
                              size_t mr, size_t nr, int accumulate) {
    const float *wp = wpv;
    __m512 acc[MR_512][2];
    for (int t = 0; t < MR_512; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    for (size_t k = 0; k < kc; k++) {
        __m512 w0 = _mm512_load_ps(wp + k * NR_512), w1 = _mm512_load_ps(wp + k * NR_512 + 16);
        const float *xk = xp + k * MR_512;
        for (int t = 0; t < MR_512; t++) {
            __m512 b = _mm512_set1_ps(xk[t]);
            acc[t][0] = _mm512_fmadd_ps(b, w0, acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(b, w1, acc[t][1]);
        }
    }
    pk_store_tile512(c, ldc, (const __m512(*)[2])acc, mr, nr, accumulate);
}

/// 16 int8 values times their block's scale.
PK_T512 static inline __m512i dequant16(const int8_t *q, float d) {
    __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)));
    return _mm512_castps_si512(_mm512_mul_ps(v, _mm512_set1_ps(d)));
}

/// pack_q8 for NR = 32: groups of 16 rows dequantised 16 columns at a time into registers and
/// transposed there (pk_transpose16_store), the group's scales widened together once per q8
/// block (a scalar widening per row and 16 columns cost ~5% at 128 tokens). Rows
/// outside whole groups and columns past the last whole 16 go through pack_q8_from.
PK_T512 static void pack_q8_512(void *wpv, const void *weights, size_t K, size_t row, size_t n, size_t k0,
                                size_t kc, size_t NR) {
    const q8_weights *w = weights;
    size_t nb = (K + QB - 1) / QB, whole = kc / 16 * 16, groups = n / 16 > 2 ? 2 : n / 16;
    (void)NR;
    for (size_t g = 0; g < groups; g++) {
        const int8_t *q = w->q + (row + 16 * g) * K + k0;
        const uint16_t *s = w->scales + (row + 16 * g) * nb + k0 / QB; // k0 is a multiple of QB
        float d[16];
        for (size_t b = 0; b < whole; b += 16) {
            if (b % QB == 0) { // a new q8 block: its 16 scales widened at once
                uint16_t h[16];
                for (int i = 0; i < 16; i++) h[i] = s[(size_t)i * nb + b / QB];
                _mm512_storeu_ps(d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h)));
            }
            __m512i r[16];
            for (int i = 0; i < 16; i++) r[i] = dequant16(q + (size_t)i * K + b, d[i]);
            pk_transpose16_store((uint32_t *)wpv + b * NR_512 + 16 * g, r, NR_512);
        }
    }
    if (groups == 0) whole = 0;
    pack_q8_from(wpv, w, K, row, n, k0, kc, NR_512, 0, whole);             // columns past the blocks
    if (groups < 2) pack_q8_from(wpv, w, K, row, n, k0, kc, NR_512, 16 * groups, 0); // rows outside the groups
}

// ---- AVX2 + FMA: 6 tokens × 16 rows, 12 accumulators + 2 weights + 1 broadcast in 16 ymm ---
#define MR_256 6
#define NR_256 16

PK_T256 static void kernel256(float *c, size_t ldc, const float *xp, const void *wpv, size_t kc,
                              size_t mr, size_t nr, int accumulate) {
    const float *wp = wpv;
    __m256 acc[MR_256][2];
    for (int t = 0; t < MR_256; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (size_t k = 0; k < kc; k++) {
        __m256 w0 = _mm256_load_ps(wp + k * NR_256), w1 = _mm256_load_ps(wp + k * NR_256 + 8);
        const float *xk = xp + k * MR_256;
        for (int t = 0; t < MR_256; t++) {
            __m256 b = _mm256_broadcast_ss(xk + t);
            acc[t][0] = _mm256_fmadd_ps(b, w0, acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(b, w1, acc[t][1]);
        }
    }
    pk_store_tile256(c, ldc, (const __m256(*)[2])acc, MR_256, mr, nr, accumulate);
}

/// pack_q8 for NR = 16: 8 × 8 blocks dequantised and transposed in ymm registers (the AVX2
/// family needs F16C too, pk_isa_best).
__attribute__((target("avx2,fma,f16c"))) static void pack_q8_256(void *wpv, const void *weights, size_t K, size_t row, size_t n, size_t k0,
                                size_t kc, size_t NR) {
    const q8_weights *w = weights;
    float *wp = wpv;
    size_t nb = (K + QB - 1) / QB, whole = kc / 8 * 8, groups = n / 8 > 2 ? 2 : n / 8;
    (void)NR;
    for (size_t g = 0; g < groups; g++) {
        const int8_t *q = w->q + (row + 8 * g) * K + k0;
        const uint16_t *s = w->scales + (row + 8 * g) * nb + k0 / QB;
        float d[8];
        for (size_t b = 0; b < whole; b += 8) {
            if (b % QB == 0) {
                uint16_t h[8];
                for (int i = 0; i < 8; i++) h[i] = s[(size_t)i * nb + b / QB];
                _mm256_storeu_ps(d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)));
            }
            __m256 r[8], t[8], u[8];
            for (int i = 0; i < 8; i++) {
                __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + (size_t)i * K + b)));
                r[i] = _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(d[i]));
            }
            for (int i = 0; i < 4; i++) {
                t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            // u[4i + m], 128-bit half H: rows 4i..4i+3 at column 4H + m
            for (int i = 0; i < 2; i++) {
                u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
                u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
                u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
                u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
            }
            float *o = wp + b * NR_256 + 8 * g;
            for (int m = 0; m < 4; m++) {
                _mm256_store_ps(o + (size_t)m * NR_256, _mm256_permute2f128_ps(u[m], u[4 + m], 0x20));
                _mm256_store_ps(o + (size_t)(4 + m) * NR_256, _mm256_permute2f128_ps(u[m], u[4 + m], 0x31));
            }
        }
    }
    if (groups == 0) whole = 0;
    pack_q8_from(wp, w, K, row, n, k0, kc, NR_256, 0, whole);
    if (groups < 2) pack_q8_from(wp, w, K, row, n, k0, kc, NR_256, 8 * groups, 0);
}
#endif

int pk_gemm_q8_isa(int isa, float *out, size_t ldo, const float *x, const int8_t *q, const uint16_t *scales,
                   size_t T, size_t rows, size_t K) {
    if (isa > pk_isa_best()) isa = pk_isa_best();
    pk_gemm_format f = {MR_P, NR_P, 1, Q8_KC, Q8_NC, kernel_portable, pack_q8};
#ifdef PK_GEMM_SIMD
    if (isa == PK_ISA_AVX512) f = (pk_gemm_format){MR_512, NR_512, 1, Q8_KC, Q8_NC, kernel512, pack_q8_512, pk_gemm_pack_x512};
    else if (isa == PK_ISA_AVX2) f = (pk_gemm_format){MR_256, NR_256, 1, Q8_KC, Q8_NC, kernel256, pack_q8_256};
#endif
    q8_weights w = {q, scales};
    return pk_gemm_blocked(&f, out, ldo, x, &w, T, rows, K);
}
