#include "PolyKernels.h"
#include "gemm.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Prefill products on bf16 weights with exact f32 math: out[T, rows] = x[T, K] · wᵀ, the
// weights widened on the fly, so no f32 copy of the matrix is ever written (convert-then-
// sgemm wrote and re-read one, and its speed hung on which CPUs the OpenBLAS build knew).
// The blocking is gemm.c's; this file packs the weights and multiplies the tiles.
//
// The weights are packed NR rows at a time, kept bf16 as pairs (a step of two columns):
// lane j of wp[k2] holds (w[j][2k2], w[j][2k2+1]), which widens without shuffles (shift
// left 16 = the even column as an f32, mask the low half = the odd one), the trick of
// matmul_simd.c. A micro-kernel per column broadcasts one activation per token against the
// NR widened weights. An odd K is padded to a whole pair. The portable family runs the same
// packing with plain loops (the compiler vectorises them), so forced-portable tests check
// the blocking logic too.

#define KC2 128 // column pairs per K block: a 32-row weight panel is 16 KiB (L1)
#define NC 256  // weight rows packed per K block (128 KiB, L2); a multiple of every NR

/// Pairs from k0 with both columns inside K, at most kc2.
static size_t whole_pairs(size_t K, size_t k0, size_t kc2) {
    size_t whole = K / 2 > k0 ? K / 2 - k0 : 0;
    return whole < kc2 ? whole : kc2;
}

/// wp[k2 · NR + j] = the column pair k0 + k2 of row j as one 32-bit lane; zero past n rows or K.
/// Rows from j0 and pairs from `from` only (pack_w512 transposes the rest).
static void pack_w_from(uint32_t *wp, const uint16_t *w, size_t K, size_t n, size_t k0, size_t kc2, size_t NR,
                        size_t j0, size_t from) {
    size_t whole = whole_pairs(K, k0, kc2);
    for (size_t j = j0; j < NR; j++) {
        if (j >= n) {
            for (size_t k2 = from; k2 < kc2; k2++) wp[k2 * NR + j] = 0;
            continue;
        }
        const uint16_t *src = w + j * K + 2 * k0;
        for (size_t k2 = from; k2 < whole; k2++) {
            uint32_t pair;
            memcpy(&pair, src + 2 * k2, 4);
            wp[k2 * NR + j] = pair;
        }
        for (size_t k2 = whole > from ? whole : from; k2 < kc2; k2++) // the last, half-filled pair of an odd K
            wp[k2 * NR + j] = 2 * (k0 + k2) < K ? src[2 * k2] : 0;
    }
}

static void pack_w(void *wp, const void *w, size_t K, size_t row, size_t n, size_t k0, size_t kc2, size_t NR) {
    pack_w_from(wp, (const uint16_t *)w + row * K, K, n, k0, kc2, NR, 0, 0);
}

static inline float even_col(uint32_t pair) { uint32_t b = pair << 16; float f; memcpy(&f, &b, 4); return f; }
static inline float odd_col(uint32_t pair) { uint32_t b = pair & 0xffff0000u; float f; memcpy(&f, &b, 4); return f; }

#define MR_P 4
#define NR_P 16
static void kernel_portable(float *c, size_t ldc, const float *xp, const void *wpv, size_t kc2,
                            size_t mr, size_t nr, int accumulate) {
    const uint32_t *wp = wpv;
    float acc[MR_P][NR_P] = {{0}};
    for (size_t k2 = 0; k2 < kc2; k2++) {
        float e[NR_P], o[NR_P];
        for (int j = 0; j < NR_P; j++) { e[j] = even_col(wp[k2 * NR_P + j]); o[j] = odd_col(wp[k2 * NR_P + j]); }
        const float *xe = xp + 2 * k2 * MR_P, *xo = xe + MR_P;
        for (int t = 0; t < MR_P; t++)
            for (int j = 0; j < NR_P; j++) acc[t][j] = (acc[t][j] + xe[t] * e[j]) + xo[t] * o[j];
    }
    pk_store_tile(c, ldc, &acc[0][0], NR_P, mr, nr, accumulate);
}

#ifdef PK_GEMM_SIMD
// ---- AVX-512: 12 tokens × 32 rows, 24 zmm accumulators ------------------------------------
#define MR_512 12
#define NR_512 32
#define T512 PK_T512

T512 static void kernel512(float *c, size_t ldc, const float *xp, const void *wpv, size_t kc2,
                           size_t mr, size_t nr, int accumulate) {
    const uint32_t *wp = wpv;
    __m512 acc[MR_512][2];
    for (int t = 0; t < MR_512; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    for (size_t k2 = 0; k2 < kc2; k2++) {
        __m512i v0 = _mm512_load_si512(wp + k2 * NR_512), v1 = _mm512_load_si512(wp + k2 * NR_512 + 16);
        __m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), e1 = _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16));
        __m512 o0 = _mm512_castsi512_ps(_mm512_and_si512(v0, high)), o1 = _mm512_castsi512_ps(_mm512_and_si512(v1, high));
        const float *xe = xp + 2 * k2 * MR_512, *xo = xe + MR_512;
        for (int t = 0; t < MR_512; t++) {
            __m512 b = _mm512_set1_ps(xe[t]);
            acc[t][0] = _mm512_fmadd_ps(b, e0, acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(b, e1, acc[t][1]);
            b = _mm512_set1_ps(xo[t]);
            acc[t][0] = _mm512_fmadd_ps(b, o0, acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(b, o1, acc[t][1]);
        }
    }
    pk_store_tile512(c, ldc, (const __m512(*)[2])acc, mr, nr, accumulate);
}

/// pack_w for NR = 32 with 16 × 16 blocks of pairs transposed in registers: a scalar copy
/// is a load and a store per pair against the 16 zmm FMAs the pair feeds at 128 tokens, a
/// share that grows as tokens shrink. Groups of 16 rows not all inside n, and pairs past the
/// last whole block, go through pack_w_from.
T512 static void pack_w512(void *wpv, const void *weights, size_t K, size_t row, size_t n, size_t k0, size_t kc2,
                           size_t NR) {
    uint32_t *wp = wpv;
    const uint16_t *w = (const uint16_t *)weights + row * K;
    (void)NR;
    size_t blocks = whole_pairs(K, k0, kc2) / 16 * 16, groups = n / 16 > 2 ? 2 : n / 16;
    for (size_t g = 0; g < groups; g++) {
        for (size_t b = 0; b < blocks; b += 16) {
            __m512i r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(w + (16 * g + (size_t)i) * K + 2 * (k0 + b));
            pk_transpose16_store(wp + b * NR_512 + 16 * g, r, NR_512);
        }
    }
    if (groups == 0) blocks = 0;
    pack_w_from(wp, w, K, n, k0, kc2, NR_512, 0, blocks);             // pairs past the blocks
    if (groups < 2) pack_w_from(wp, w, K, n, k0, kc2, NR_512, 16 * groups, 0); // rows outside the groups
}

// ---- AVX2 + FMA: 6 tokens × 16 rows; no broadcast operands, so the even and odd columns
// take turns in 2 weight registers to leave 12 accumulators + 1 broadcast in 16 ymm --------
#define MR_256 6
#define NR_256 16
#define T256 PK_T256

T256 static void kernel256(float *c, size_t ldc, const float *xp, const void *wpv, size_t kc2,
                           size_t mr, size_t nr, int accumulate) {
    const uint32_t *wp = wpv;
    __m256 acc[MR_256][2];
    for (int t = 0; t < MR_256; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    for (size_t k2 = 0; k2 < kc2; k2++) {
        const __m256i *p = (const __m256i *)(wp + k2 * NR_256);
        const float *xe = xp + 2 * k2 * MR_256, *xo = xe + MR_256;
        __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_load_si256(p), 16));
        __m256 w1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_load_si256(p + 1), 16));
        for (int t = 0; t < MR_256; t++) {
            __m256 b = _mm256_broadcast_ss(xe + t);
            acc[t][0] = _mm256_fmadd_ps(b, w0, acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(b, w1, acc[t][1]);
        }
        w0 = _mm256_castsi256_ps(_mm256_and_si256(_mm256_load_si256(p), high));
        w1 = _mm256_castsi256_ps(_mm256_and_si256(_mm256_load_si256(p + 1), high));
        for (int t = 0; t < MR_256; t++) {
            __m256 b = _mm256_broadcast_ss(xo + t);
            acc[t][0] = _mm256_fmadd_ps(b, w0, acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(b, w1, acc[t][1]);
        }
    }
    pk_store_tile256(c, ldc, (const __m256(*)[2])acc, MR_256, mr, nr, accumulate);
}
#endif

int pk_gemm_bf16_isa(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                     size_t T, size_t rows, size_t K) {
    if (isa > pk_isa_best()) isa = pk_isa_best();
    pk_gemm_format f = {MR_P, NR_P, 2, KC2, NC, kernel_portable, pack_w};
#ifdef PK_GEMM_SIMD
    if (isa == PK_ISA_AVX512) f = (pk_gemm_format){MR_512, NR_512, 2, KC2, NC, kernel512, pack_w512, pk_gemm_pack_x512};
    else if (isa == PK_ISA_AVX2) f = (pk_gemm_format){MR_256, NR_256, 2, KC2, NC, kernel256, pack_w};
#endif
    return pk_gemm_blocked(&f, out, ldo, x, w, T, rows, K);
}
