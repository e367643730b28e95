#include "PolyKernels.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Prefill products on bf16 weights with exact f32 math: out[T, rows] = x[T, K] · wᵀ, the
// weights widened on the fly, so no f32 copy of the matrix is ever written (convert-then-
// sgemm wrote and re-read one, and its speed hung on which CPUs the OpenBLAS build knew).
//
// Blocked GEMM: K in blocks of 2·KC2 columns. Up to MB tokens are packed at once over all of
// K, MR tokens interleaved per column (xp[k][t]); then for each NC-row weight block the K
// blocks run one after another, so that block's outputs (MB × NC floats) stay in cache
// while they accumulate, instead of every output streaming through memory once per K block
// (10-20% of the time at 512 tokens). The weights are packed NR rows at a time, kept
// bf16 as pairs: lane j of wp[k2] holds (w[j][2k2], w[j][2k2+1]), which widens without
// shuffles (shift left 16 = the even column as an f32, mask the low half = the odd one),
// the trick of matmul_simd.c. A micro-kernel keeps an MR × NR tile of outputs in registers
// and per column broadcasts one activation per token against the NR widened weights. Each
// output sums its columns in order within a block, blocks one after another, so the
// result is f32 math on the widened weights up to that summation order.
//
// Tokens and rows are padded with zeros to whole tiles (stores are clipped), an odd K to a
// whole pair. The portable family runs the same packing with plain loops (the compiler
// vectorises them), so forced-portable tests check the blocking logic too.

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PK_GEMM_SIMD 1
#endif

#define KC2 128 // column pairs per K block: a 32-row weight panel is 16 KiB (L1)
#define NC 256  // weight rows packed per K block (128 KiB, L2); a multiple of every NR
#define MB 512  // tokens packed at once (rounded up to whole tiles): ≈ 2 KiB × K of x per thread

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

static void pack_w(uint32_t *wp, const uint16_t *w, size_t K, size_t n, size_t k0, size_t kc2, size_t NR) {
    pack_w_from(wp, w, K, n, k0, kc2, NR, 0, 0);
}

/// xp[k · MR + t] for the MR tokens from t0 and the 2·kc2 columns from 2·k0; zero padded.
/// The tokens and columns that exist are copied without a test per element, the padding
/// zeroed after: with the test inside the one loop, packing was a tenth of a scoring run's
/// CPU time on a 256-wide model (each worker packs all of x for its share of the rows).
static void pack_x(float *xp, const float *x, size_t T, size_t K, size_t t0, size_t k0, size_t kc2, size_t MR) {
    size_t c0 = 2 * k0, n = 2 * kc2;
    size_t live = T > t0 ? (T - t0 < MR ? T - t0 : MR) : 0;
    size_t valid = K > c0 ? (K - c0 < n ? K - c0 : n) : 0;
    for (size_t t = 0; t < live; t++) {
        const float *xr = x + (t0 + t) * K + c0;
        for (size_t k = 0; k < valid; k++) xp[k * MR + t] = xr[k];
        for (size_t k = valid; k < n; k++) xp[k * MR + t] = 0;
    }
    for (size_t t = live; t < MR; t++)
        for (size_t k = 0; k < n; k++) xp[k * MR + t] = 0;
}

static inline float even_col(uint32_t pair) { uint32_t b = pair << 16; float f; memcpy(&f, &b, 4); return f; }
static inline float odd_col(uint32_t pair) { uint32_t b = pair & 0xffff0000u; float f; memcpy(&f, &b, 4); return f; }

#define MR_P 4
#define NR_P 16
static void kernel_portable(float *c, size_t ldc, const float *xp, const uint32_t *wp, size_t kc2,
                            size_t mr, size_t nr, int accumulate) {
    float acc[MR_P][NR_P] = {{0}};
    for (size_t k2 = 0; k2 < kc2; k2++) {
        float e[NR_P], o[NR_P];
        for (int j = 0; j < NR_P; j++) { e[j] = even_col(wp[k2 * NR_P + j]); o[j] = odd_col(wp[k2 * NR_P + j]); }
        const float *xe = xp + 2 * k2 * MR_P, *xo = xe + MR_P;
        for (int t = 0; t < MR_P; t++)
            for (int j = 0; j < NR_P; j++) acc[t][j] = (acc[t][j] + xe[t] * e[j]) + xo[t] * o[j];
    }
    for (size_t t = 0; t < mr; t++)
        for (size_t j = 0; j < nr; j++) c[t * ldc + j] = accumulate ? c[t * ldc + j] + acc[t][j] : acc[t][j];
}

#ifdef PK_GEMM_SIMD
// ---- AVX-512: 12 tokens × 32 rows, 24 zmm accumulators ------------------------------------
#define MR_512 12
#define NR_512 32
#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

T512 static void kernel512(float *c, size_t ldc, const float *xp, const uint32_t *wp, size_t kc2,
                           size_t mr, size_t nr, int accumulate) {
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

/// pack_w for NR = 32 with 16 × 16 blocks of pairs transposed in registers: a scalar copy
/// is a load and a store per pair against the 16 zmm FMAs the pair feeds at 128 tokens, a
/// share that grows as tokens shrink. Groups of 16 rows not all inside n, and pairs past the
/// last whole block, go through pack_w_from.
T512 static void pack_w512(uint32_t *wp, const uint16_t *w, size_t K, size_t n, size_t k0, size_t kc2) {
    size_t blocks = whole_pairs(K, k0, kc2) / 16 * 16, groups = n / 16 > 2 ? 2 : n / 16;
    for (size_t g = 0; g < groups; g++) {
        for (size_t b = 0; b < blocks; b += 16) {
            __m512i r[16], t[16], u[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(w + (16 * g + (size_t)i) * K + 2 * (k0 + b));
            for (int i = 0; i < 8; i++) {
                t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
            }
            // u[4i + m], 128-bit lane L: rows 4i..4i+3 at pair 4L + m
            for (int i = 0; i < 4; i++) {
                u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
                u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
                u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
                u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
            }
            uint32_t *o = wp + b * NR_512 + 16 * g;
            for (int m = 0; m < 4; m++) {
                __m512i v0 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x88), v1 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xdd);
                __m512i w0 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x88), w1 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xdd);
                _mm512_store_si512(o + (size_t)m * NR_512, _mm512_shuffle_i32x4(v0, w0, 0x88));
                _mm512_store_si512(o + (size_t)(4 + m) * NR_512, _mm512_shuffle_i32x4(v1, w1, 0x88));
                _mm512_store_si512(o + (size_t)(8 + m) * NR_512, _mm512_shuffle_i32x4(v0, w0, 0xdd));
                _mm512_store_si512(o + (size_t)(12 + m) * NR_512, _mm512_shuffle_i32x4(v1, w1, 0xdd));
            }
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
#define T256 __attribute__((target("avx2,fma")))

T256 static void kernel256(float *c, size_t ldc, const float *xp, const uint32_t *wp, size_t kc2,
                           size_t mr, size_t nr, int accumulate) {
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
    float tile[MR_256][NR_256];
    for (int t = 0; t < MR_256; t++) { _mm256_storeu_ps(tile[t], acc[t][0]); _mm256_storeu_ps(tile[t] + 8, acc[t][1]); }
    for (size_t t = 0; t < mr; t++)
        for (size_t j = 0; j < nr; j++) c[t * ldc + j] = accumulate ? c[t * ldc + j] + tile[t][j] : tile[t][j];
}
#endif

typedef void (*micro_kernel)(float *, size_t, const float *, const uint32_t *, size_t, size_t, size_t, int);

int pk_gemm_bf16_isa(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                     size_t T, size_t rows, size_t K) {
    if (T == 0 || rows == 0) return 0;
    if (isa > pk_isa_best()) isa = pk_isa_best();
    size_t MR = MR_P, NR = NR_P;
    micro_kernel kernel = kernel_portable;
#ifdef PK_GEMM_SIMD
    if (isa == PK_ISA_AVX512) { MR = MR_512; NR = NR_512; kernel = kernel512; }
    else if (isa == PK_ISA_AVX2) { MR = MR_256; NR = NR_256; kernel = kernel256; }
#endif
    if (K == 0) {
        for (size_t t = 0; t < T; t++) memset(out + t * ldo, 0, rows * sizeof(float));
        return 0;
    }
    size_t K2 = (K + 1) / 2, blocks = (K2 + KC2 - 1) / KC2, mb = (MB + MR - 1) / MR * MR;
    size_t stride = (T < mb ? (T + MR - 1) / MR * MR : mb) * 2 * KC2; // floats per packed K block of x
    if (blocks > SIZE_MAX / (stride * sizeof(float))) return -1;
    float *xp = aligned_alloc(64, blocks * stride * sizeof(float));
    uint32_t *wp = aligned_alloc(64, KC2 * NC * sizeof(uint32_t));
    if (!xp || !wp) { free(xp); free(wp); return -1; }
    for (size_t m0 = 0; m0 < T; m0 += mb) {
        size_t mt = T - m0 < mb ? T - m0 : mb, tiles = (mt + MR - 1) / MR;
        for (size_t k0 = 0; k0 < K2; k0 += KC2) {
            size_t kc2 = K2 - k0 < KC2 ? K2 - k0 : KC2;
            for (size_t i = 0; i < tiles; i++)
                pack_x(xp + k0 / KC2 * stride + i * MR * 2 * kc2, x + m0 * K, mt, K, i * MR, k0, kc2, MR);
        }
        for (size_t nc0 = 0; nc0 < rows; nc0 += NC) {
            size_t ncn = rows - nc0 < NC ? rows - nc0 : NC;
            for (size_t k0 = 0; k0 < K2; k0 += KC2) {
                size_t kc2 = K2 - k0 < KC2 ? K2 - k0 : KC2;
                for (size_t n0 = 0; n0 < ncn; n0 += NR) {
                    size_t nr = ncn - n0 < NR ? ncn - n0 : NR;
#ifdef PK_GEMM_SIMD
                    if (kernel == kernel512) { pack_w512(wp + n0 * kc2, w + (nc0 + n0) * K, K, nr, k0, kc2); continue; }
#endif
                    pack_w(wp + n0 * kc2, w + (nc0 + n0) * K, K, nr, k0, kc2, NR);
                }
                const float *xb = xp + k0 / KC2 * stride;
                for (size_t i = 0; i < tiles; i++) { // one token tile stays in L1 across the panels
                    size_t t0 = i * MR, mr = mt - t0 < MR ? mt - t0 : MR;
                    for (size_t n0 = 0; n0 < ncn; n0 += NR)
                        kernel(out + (m0 + t0) * ldo + nc0 + n0, ldo, xb + i * MR * 2 * kc2, wp + n0 * kc2, kc2, mr,
                               ncn - n0 < NR ? ncn - n0 : NR, k0 > 0);
                }
            }
        }
    }
    free(xp);
    free(wp);
    return 0;
}
