#include "PolyKernels.h"
#include "half.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// int8 weights (q8, as llama.cpp's Q8_0): each row of w[rows, C] in blocks of 32 columns
// (the last one may be shorter), each block 32 int8 values in [-127, 127] and one f16
// scale d, so w ≈ d · q. Decode quantises the activations the same way per block (f32
// scales) and takes integer dot products per block: Σ_b dw_b · da_b · Σ_i qw_i · qa_i.
// The AVX paths use the sign trick: |qa| (u8) · (qw with qa's sign) (s8) = qa · qw, which
// is what vpdpbusd (VNNI) and vpmaddubsw (AVX2) multiply. -128 never occurs, so negating
// a value and the 16-bit pair sums of vpmaddubsw (≤ 2 · 127²) cannot overflow.

#define QB PK_Q8_BLOCK
#define PK_INLINE static inline __attribute__((always_inline))

static size_t blocks(size_t C) { return (C + QB - 1) / QB; }

static float f16_scale(float d, uint16_t *stored) {
    pk_f32_to_f16(stored, &d, 1);
    return pk_f16_widen(*stored);
}

void pk_quantize_q8(int8_t *q, uint16_t *scales, const float *x, size_t rows, size_t C) {
    size_t nb = blocks(C);
    for (size_t r = 0; r < rows; r++) {
        for (size_t b = 0; b < nb; b++) {
            size_t c0 = b * QB, n = C - c0 < QB ? C - c0 : QB;
            const float *xb = x + r * C + c0;
            float amax = 0.0f;
            for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(xb[i]));
            // The stored (rounded) scale is the one values are divided by, so w ≈ d · q holds
            // for the d the kernels read.
            float d = f16_scale(amax / 127.0f, scales + r * nb + b);
            float id = d > 0.0f ? 1.0f / d : 0.0f;
            for (size_t i = 0; i < n; i++) {
                float v = nearbyintf(xb[i] * id);
                q[r * C + c0 + i] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
            }
        }
    }
}

void pk_dequantize_q8(float *out, const int8_t *q, const uint16_t *scales, size_t rows, size_t C) {
    size_t nb = blocks(C);
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < nb; b++) {
            float d = pk_f16_widen(scales[r * nb + b]);
            size_t c0 = b * QB, n = C - c0 < QB ? C - c0 : QB;
            for (size_t i = 0; i < n; i++) out[r * C + c0 + i] = d * (float)q[r * C + c0 + i];
        }
}

/// Activations of T tokens quantised per block, padded with zeros to whole blocks: qa
/// (signed), ua = |qa| (the unsigned operand), da per block.
typedef struct { int8_t *qa; uint8_t *ua; float *da; size_t nb; } act_q8;

static int quantize_acts(act_q8 *a, const float *x, size_t T, size_t C) {
    a->nb = blocks(C);
    size_t Cp = a->nb * QB;
    a->qa = aligned_alloc(64, (T * Cp + 63) / 64 * 64);
    a->ua = aligned_alloc(64, (T * Cp + 63) / 64 * 64);
    a->da = malloc(T * a->nb * sizeof(float) + 1);
    if (!a->qa || !a->ua || !a->da) { free(a->qa); free(a->ua); free(a->da); return -1; }
    for (size_t t = 0; t < T; t++)
        for (size_t b = 0; b < a->nb; b++) {
            size_t c0 = b * QB, n = C - c0 < QB ? C - c0 : QB;
            const float *xb = x + t * C + c0;
            float amax = 0.0f;
            for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(xb[i]));
            float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
            a->da[t * a->nb + b] = d;
            int8_t *qb = a->qa + t * Cp + c0;
            uint8_t *ub = a->ua + t * Cp + c0;
            for (size_t i = 0; i < QB; i++) {
                float v = i < n ? nearbyintf(xb[i] * id) : 0.0f;
                int8_t s = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
                qb[i] = s;
                ub[i] = (uint8_t)(s < 0 ? -s : s);
            }
        }
    return 0;
}

static void free_acts(act_q8 *a) { free(a->qa); free(a->ua); free(a->da); }

/// The reference: plain integer loops per block.
static void rows_portable(float *out, size_t ldo, const act_q8 *a, const int8_t *q, const uint16_t *scales,
                          size_t T, size_t rows, size_t C) {
    size_t nb = a->nb, Cp = nb * QB;
    for (size_t r = 0; r < rows; r++)
        for (size_t t = 0; t < T; t++) {
            float s = 0.0f;
            for (size_t b = 0; b < nb; b++) {
                size_t c0 = b * QB, n = C - c0 < QB ? C - c0 : QB;
                int32_t dot = 0;
                for (size_t i = 0; i < n; i++) dot += (int32_t)q[r * C + c0 + i] * a->qa[t * Cp + c0 + i];
                s += pk_f16_widen(scales[r * nb + b]) * a->da[t * nb + b] * (float)dot;
            }
            out[t * ldo + r] = s;
        }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PK_Q8_SIMD 1
#define TQ_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TQ_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/// One row's last block when it is shorter than 32: read only its bytes.
PK_INLINE TQ_AVX2 __m256i load_tail(const int8_t *w, size_t n) {
    int8_t tail[QB] = {0};
    memcpy(tail, w, n);
    return _mm256_loadu_si256((const __m256i *)tail);
}

PK_INLINE TQ_AVX2 float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// One kernel body for both families; only the 32-byte integer dot product differs.
#define Q8_ROWS(NAME, TARGET, DOT)                                                                        \
    TARGET static void NAME(float *out, size_t ldo, const act_q8 *a, const int8_t *q,                     \
                            const uint16_t *scales, size_t T, size_t rows, size_t C) {                    \
        size_t nb = a->nb, Cp = nb * QB, full = C / QB;                                                   \
        for (size_t r = 0; r < rows; r++) {                                                               \
            const int8_t *w = q + r * C;                                                                  \
            const uint16_t *ws = scales + r * nb;                                                         \
            for (size_t t = 0; t < T; t++) {                                                              \
                const int8_t *qa = a->qa + t * Cp;                                                        \
                const uint8_t *ua = a->ua + t * Cp;                                                       \
                const float *da = a->da + t * nb;                                                         \
                __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                            \
                size_t b = 0;                                                                             \
                for (; b + 2 <= full; b += 2) {                                                           \
                    if (t == 0) _mm_prefetch((const char *)(w + b * QB + 1024), _MM_HINT_T0);             \
                    __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + b * QB));                       \
                    __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + b * QB + QB));                  \
                    __m256i p0 = DOT(_mm256_load_si256((const __m256i *)(ua + b * QB)),                  \
                                     _mm256_sign_epi8(w0, _mm256_load_si256((const __m256i *)(qa + b * QB)))); \
                    __m256i p1 = DOT(_mm256_load_si256((const __m256i *)(ua + b * QB + QB)),             \
                                     _mm256_sign_epi8(w1, _mm256_load_si256((const __m256i *)(qa + b * QB + QB)))); \
                    acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(_cvtsh_ss(ws[b]) * da[b]), acc0); \
                    acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(_cvtsh_ss(ws[b + 1]) * da[b + 1]), acc1); \
                }                                                                                         \
                for (; b < nb; b++) {                                                                     \
                    size_t n = C - b * QB < QB ? C - b * QB : QB;                                         \
                    __m256i w0 = n == QB ? _mm256_loadu_si256((const __m256i *)(w + b * QB)) : load_tail(w + b * QB, n); \
                    __m256i p0 = DOT(_mm256_load_si256((const __m256i *)(ua + b * QB)),                  \
                                     _mm256_sign_epi8(w0, _mm256_load_si256((const __m256i *)(qa + b * QB)))); \
                    acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(_cvtsh_ss(ws[b]) * da[b]), acc0); \
                }                                                                                         \
                out[t * ldo + r] = hsum8(_mm256_add_ps(acc0, acc1));                                      \
            }                                                                                             \
        }                                                                                                 \
    }

/// u8 · s8 pairs to s16 (cannot saturate here, see the top), then pairs of s16 to s32.
PK_INLINE TQ_AVX2 __m256i dot_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
PK_INLINE TQ_VNNI __m256i dot_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

Q8_ROWS(rows_avx2, TQ_AVX2, dot_avx2)
Q8_ROWS(rows_vnni, TQ_VNNI, dot_vnni)
#endif

int pk_q8_isa(int isa) {
    int best = pk_isa_best();
    if (isa > best) isa = best;
#ifdef PK_Q8_SIMD
    if (isa >= PK_ISA_AVX512 && __builtin_cpu_supports("avx512vnni")) return PK_ISA_AVX512;
    if (isa >= PK_ISA_AVX2) return PK_ISA_AVX2;
#endif
    return PK_ISA_PORTABLE;
}

int pk_matmul_q8_isa(int isa, float *out, size_t ldo, const float *x, const int8_t *q, const uint16_t *scales,
                     size_t T, size_t rows, size_t C) {
    if (T == 0 || rows == 0) return 0;
    act_q8 a;
    if (quantize_acts(&a, x, T, C) != 0) return -1;
    switch (pk_q8_isa(isa)) {
#ifdef PK_Q8_SIMD
    case PK_ISA_AVX512: rows_vnni(out, ldo, &a, q, scales, T, rows, C); break;
    case PK_ISA_AVX2: rows_avx2(out, ldo, &a, q, scales, T, rows, C); break;
#endif
    default: rows_portable(out, ldo, &a, q, scales, T, rows, C); break;
    }
    free_acts(&a);
    return 0;
}
