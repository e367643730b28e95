#include "PolyKernels.h"
#include "half.h"
#include "claim.h"
#include "q8_block.h"
#include "q8_lanes.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// int8 weights (q8, as llama.cpp's Q8_0): each row of w[rows, C] in blocks of 32 columns
// (the last one may be shorter), each block 32 int8 values in [-127, 127] and one f16
// scale d, so w ≈ d · q. Decode quantises the activations the same way per block (f32
// scales) and takes integer dot products per block: Σ_b dw_b · da_b · Σ_i qw_i · qa_i.
// vpdpbusd (VNNI) and vpmaddubsw (AVX2) multiply u8 by s8. VNNI adds 128 to the activations
// (u8 1…255) and starts each sum at −128 · Σ qw, computed once per weight block; AVX2 uses
// the sign trick, |qa| (u8) · (qw with qa's sign) (s8) = qa · qw, as its 16-bit pair sums
// of (qa + 128) · qw could saturate, those of |qa| · qw (≤ 2 · 127²) cannot. -128 never
// occurs, so negating a value cannot overflow.
//
// Decode batches (several tokens, one weight matrix) go through small-M tiles: each weight
// block is loaded once and dotted against up to TILE_MAX tokens' activations, so a batch
// reads the weights once per step, not once per token.

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

void pk_q8_block_sums(int16_t *sums, const int8_t *q, size_t rows, size_t C) {
    size_t nb = blocks(C);
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < nb; b++) {
            size_t c0 = b * QB, n = C - c0 < QB ? C - c0 : QB;
            int32_t sum = 0;
            for (size_t i = 0; i < n; i++) sum += q[r * C + c0 + i];
            sums[r * nb + b] = (int16_t)sum;
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
/// (signed), ua = |qa| (AVX2's unsigned operand) and da per block for the portable and AVX2
/// kernels; for VNNI's, ob = qa + 128 and dx (each block's da in 8 lanes) padded to whole
/// pairs of blocks (one 64-byte vector), in rows of `pairs` · 64 bytes and · 16 floats.
typedef struct { int8_t *qa; uint8_t *ua; uint8_t *ob; float *da; float *dx; size_t nb, pairs; } act_q8;

static void free_acts(act_q8 *a) { free(a->qa); free(a->ua); free(a->ob); free(a->da); free(a->dx); }

static size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

static int quantize_acts(act_q8 *a, const float *x, size_t T, size_t C) {
    size_t Cp = a->nb * QB, bytes = round64(T * Cp);
    a->qa = aligned_alloc(64, bytes);
    a->ua = aligned_alloc(64, bytes);
    a->da = malloc(T * a->nb * sizeof(float) + 1);
    if (!a->qa || !a->ua || !a->da) return -1;
    for (size_t t = 0; t < T; t++)
        for (size_t b = 0; b < a->nb; b++) {
            size_t c0 = b * QB, n = C - c0 < QB ? C - c0 : QB;
            const float *xb = x + t * C + c0;
            float amax = 0.0f;
            for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(xb[i]));
            float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
            a->da[t * a->nb + b] = d;
            size_t o = t * Cp + c0;
            for (size_t i = 0; i < QB; i++) {
                float v = i < n ? nearbyintf(xb[i] * id) : 0.0f;
                int8_t s = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
                a->qa[o + i] = s;
                a->ua[o + i] = (uint8_t)(s < 0 ? -s : s);
            }
        }
    return 0;
}

#define TILE_MAX 8

/// One weight row against tokens t0 ..< t0 + M: plain integer loops per block, each block's
/// dot products for all M tokens while it is in hand.
static void tile_portable(float *out, size_t ldo, const act_q8 *a, const int8_t *w, const uint16_t *ws,
                          size_t t0, int M, size_t C) {
    size_t nb = a->nb, Cp = nb * QB;
    float s[TILE_MAX] = {0};
    for (size_t b = 0; b < nb; b++) {
        size_t c0 = b * QB, n = C - c0 < QB ? C - c0 : QB;
        float dw = pk_f16_widen(ws[b]);
        for (int t = 0; t < M; t++) {
            const int8_t *qa = a->qa + (t0 + t) * Cp + c0;
            int32_t dot = 0;
            for (size_t i = 0; i < n; i++) dot += (int32_t)w[c0 + i] * qa[i];
            s[t] += dw * a->da[(t0 + t) * nb + b] * (float)dot;
        }
    }
    for (int t = 0; t < M; t++) out[(t0 + t) * ldo] = s[t];
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PK_Q8_SIMD 1
#define TQ_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TQ_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
// AVX2 has 16 vector registers: two accumulators per token leave room for 4 tokens.
#define TILE_AVX2 4

/// One row's last block when it is shorter than 32: read only its bytes.
PK_INLINE TQ_AVX2 __m256i load_block(const int8_t *w, size_t n) {
    if (n == QB) return _mm256_loadu_si256((const __m256i *)w);
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

/// A block's f16 scale in all 8 lanes. Through vmovd, which zeroes the rest of the register:
/// _cvtsh_ss's vpinsrw merges into whatever register the compiler picks, and when that was
/// the previous block's product the loop became one dependency chain (measured 13 GB/s
/// instead of 30 on one core).
PK_INLINE TQ_AVX2 __m256 scale_vec(uint16_t h) {
    return _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/// u8 · s8 pairs to s16 (cannot saturate with |qa|, see the top), then pairs of s16 to s32.
PK_INLINE TQ_AVX2 __m256i dot_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/// Block b of the weight row (w, its 32 int8 values; s, its scale as a vector) into each
/// token's accumulator. Two accumulators (blocks alternate) so one token has two FMA chains.
PK_INLINE TQ_AVX2 void block_avx2(__m256 *acc, const act_q8 *a, size_t t0, int M, size_t b, __m256i w, __m256 s) {
    size_t nb = a->nb, Cp = nb * QB;
    for (int t = 0; t < M; t++) {
        size_t o = (t0 + t) * Cp + b * QB;
        __m256i p = dot_avx2(_mm256_load_si256((const __m256i *)(a->ua + o)),
                             _mm256_sign_epi8(w, _mm256_load_si256((const __m256i *)(a->qa + o))));
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(p), s), _mm256_set1_ps(a->da[(t0 + t) * nb + b]), acc[t]);
    }
}

// One tile body for both families; only the block step differs. Blocks in pairs, each with
// its own accumulators; the row's prefetch runs 1 KiB ahead.
#define Q8_TILE(NAME, TARGET, BLOCK)                                                                      \
    PK_INLINE TARGET void NAME(float *out, size_t ldo, const act_q8 *a, const int8_t *w, const uint16_t *ws, \
                               size_t t0, int M, size_t C) {                                             \
        size_t nb = a->nb, full = C / QB, b = 0;                                                          \
        __m256 acc0[TILE_MAX], acc1[TILE_MAX];                                                            \
        for (int t = 0; t < M; t++) acc0[t] = acc1[t] = _mm256_setzero_ps();                              \
        for (; b + 2 <= full; b += 2) {                                                                   \
            _mm_prefetch((const char *)(w + b * QB + 1024), _MM_HINT_T0);                                 \
            BLOCK(acc0, a, t0, M, b, _mm256_loadu_si256((const __m256i *)(w + b * QB)), scale_vec(ws[b])); \
            BLOCK(acc1, a, t0, M, b + 1, _mm256_loadu_si256((const __m256i *)(w + b * QB + QB)),        \
                  scale_vec(ws[b + 1]));                                                  \
        }                                                                                                 \
        for (; b < nb; b++)                                                                               \
            BLOCK(acc0, a, t0, M, b, load_block(w + b * QB, C - b * QB < QB ? C - b * QB : QB), scale_vec(ws[b])); \
        for (int t = 0; t < M; t++) out[(t0 + t) * ldo] = hsum8(_mm256_add_ps(acc0[t], acc1[t]));        \
    }

Q8_TILE(tile_avx2, TQ_AVX2, block_avx2)

// VNNI on 512-bit vectors: one vector is a pair of blocks, so each vpdpbusd, conversion and
// FMA serves two blocks (the integer sums are ~4 vector operations per token and vector, and
// a batch of 8 was bound by them, not by reading the weights). Two weight rows per pass share
// each activation load; measured on one core with rows streamed from memory, they won at
// every token count (8 tokens on 8256 columns 2.7 ms against 5.6 with one row; 1 token 1.0
// against 1.1).

// Measured on one core (Zen 5, rows streamed from memory): 4 KiB ahead beat 1 and 2 KiB by
// 1.3–1.5× at 8 tokens.
#define VNNI_PREFETCH 4096
#define SCALE_PREFETCH 1024 // scales (f16), 2 KiB

/// Activations for VNNI (see act_q8), with the same rounding as quantize_acts: the padding
/// lanes are zeros (ob 128, da 0).
TQ_VNNI static void quantize_acts_vnni(act_q8 *a, const float *x, size_t T, size_t C) {
    size_t P = a->pairs;
    for (size_t t = 0; t < T; t++)
        for (size_t b = 0; b < 2 * P; b++) {
            size_t c0 = b * QB, n = c0 < C ? (C - c0 < QB ? C - c0 : QB) : 0;
            __mmask16 m0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
            __mmask16 m1 = n >= 32 ? 0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
            float d = pk_q8_block_u8(x + t * C + c0, m0, m1, a->ob + t * P * 64 + c0);
            _mm256_store_ps(a->dx + t * P * 16 + b * 8, _mm256_set1_ps(d));
        }
}

/// A row's scales for block pair p: ws[2p] in lanes 0–7, ws[2p + 1] in 8–15 (0 past the last block).
PK_INLINE TQ_VNNI __m512 pair_scales(const uint16_t *ws, size_t p, size_t nb) {
    uint32_t two = ws[2 * p] | (2 * p + 1 < nb ? (uint32_t)ws[2 * p + 1] << 16 : 0);
    __m512 s = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)two)));
    return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), s);
}

/// Pair p of R rows (their 64 weight bytes in w) into each token's accumulators. Σ (qa + 128) · qw
/// starting from −128 · Σ qw (per 4-byte lane, as vpdpbusd sums) is Σ qa · qw.
PK_INLINE TQ_VNNI void pair_vnni(__m512 (*acc)[TILE_MAX], const act_q8 *a, size_t t0, int M, int R, size_t p,
                                 const __m512i *w, const __m512 *s) {
    size_t P = a->pairs;
    __m512i start[2];
    for (int r = 0; r < R; r++)
        start[r] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), w[r]));
    for (int t = 0; t < M; t++) {
        __m512i ob = _mm512_load_si512((const void *)(a->ob + (t0 + t) * P * 64 + p * 64));
        __m512 da = _mm512_load_ps(a->dx + (t0 + t) * P * 16 + p * 16);
        for (int r = 0; r < R; r++)
            acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start[r], ob, w[r])),
                                        _mm512_mul_ps(s[r], da), acc[r][t]);
    }
}

/// R (1 or 2) rows from w (row stride C, scales ws with stride nb) against tokens t0 ..< t0 + M.
PK_INLINE TQ_VNNI void tile_vnni(float *out, size_t ldo, const act_q8 *a, const int8_t *w, const uint16_t *ws,
                                 size_t t0, int M, int R, size_t C) {
    size_t nb = a->nb, full = C / 64, p = 0;
    __m512 acc[2][TILE_MAX];
    __m512i wv[2];
    __m512 sv[2];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < M; t++) acc[r][t] = _mm512_setzero_ps();
    // Each row's prefetch runs VNNI_PREFETCH bytes ahead along the rows this tile's row
    // position reads next (r, r + R, r + 2R, ...), not into the row after it, which the
    // tile's other row has read already.
    size_t pf_col = VNNI_PREFETCH % C;
    const int8_t *pf = w + VNNI_PREFETCH / C * R * C;
    for (; p < full; p++) {
        for (int r = 0; r < R; r++) _mm_prefetch((const char *)(pf + r * C + pf_col), _MM_HINT_T0);
        // The rows' scales, a stream of their own (4 bytes per 64 weight bytes), 2 KiB ahead
        // once per 64-byte line of them: 1 token, 2 threads, a 4-layer 1B-shaped model's matrices
        // (285 MB) from memory, 6 alternated runs: 17.2 → 18.4 GB/s (medians); one thread 17.7 → 18.2.
        if (p % 16 == 0)
            for (int r = 0; r < R; r++) _mm_prefetch((const char *)(ws + r * nb + 2 * p + SCALE_PREFETCH), _MM_HINT_T0);
        pf_col += 64;
        if (pf_col >= C) { pf_col -= C; pf += R * C; }
        for (int r = 0; r < R; r++) {
            wv[r] = _mm512_loadu_si512((const void *)(w + r * C + p * 64));
            sv[r] = pair_scales(ws + r * nb, p, nb);
        }
        pair_vnni(acc, a, t0, M, R, p, wv, sv);
    }
    if (p < a->pairs) { // the last pair, shorter than 64 columns: read only its bytes
        __mmask64 m = ((__mmask64)1 << (C - p * 64)) - 1;
        for (int r = 0; r < R; r++) {
            wv[r] = _mm512_maskz_loadu_epi8(m, w + r * C + p * 64);
            sv[r] = pair_scales(ws + r * nb, p, nb);
        }
        pair_vnni(acc, a, t0, M, R, p, wv, sv);
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < M; t++) out[(t0 + t) * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

#define VNNI_CASE(M, R) case M: tile_vnni(out + r, ldo, a, q + r * C, scales + r * a->nb, t0, M, R, C); break;
#define VNNI_TILES(R)                                                                                     \
    switch (T - t0 < TILE_MAX ? T - t0 : TILE_MAX) {                                                      \
        VNNI_CASE(1, R) VNNI_CASE(2, R) VNNI_CASE(3, R) VNNI_CASE(4, R)                                   \
        VNNI_CASE(5, R) VNNI_CASE(6, R) VNNI_CASE(7, R) default: tile_vnni(out + r, ldo, a, q + r * C, scales + r * a->nb, t0, 8, R, C); \
    }

/// Tokens in tiles of up to 8; constant M and R unroll the tile. From 3 tokens on, rows in
/// pairs (a last odd one alone), as each activation load then serves two rows; 1 or 2 tokens
/// read one row at a time, a single sequential stream: two rows' streams at once reached
/// 69–80% of the read loop's bandwidth against one row's 88–97% (2 threads, a 4-layer
/// 1B-shaped model's matrices, alternated runs), while from 3 tokens on pairs won (75–80%
/// against 58–65%).
TQ_VNNI static void rows_vnni(float *out, size_t ldo, const act_q8 *a, const int8_t *q, const uint16_t *scales,
                              size_t T, size_t rows, size_t C) {
    size_t step = T <= 2 ? 1 : 2;
    for (size_t r = 0; r < rows; r += step)
        for (size_t t0 = 0; t0 < T; t0 += TILE_MAX) {
            if (step == 2 && r + 1 < rows) { VNNI_TILES(2) } else { VNNI_TILES(1) }
        }
}
#endif

// Each row against the tokens in tiles of up to TMAX; the switch hands the tile a constant
// M, so its loops over tokens unroll into registers.
#define TILE_CASE(FN, M) case M: FN(out + r, ldo, a, w, ws, t0, M, C); break;
#define Q8_ROWS(NAME, TARGET, FN, TMAX)                                                                   \
    TARGET static void NAME(float *out, size_t ldo, const act_q8 *a, const int8_t *q, const uint16_t *scales, \
                            size_t T, size_t rows, size_t C) {                                           \
        for (size_t r = 0; r < rows; r++) {                                                               \
            const int8_t *w = q + r * C;                                                                  \
            const uint16_t *ws = scales + r * a->nb;                                                      \
            for (size_t t0 = 0; t0 < T; t0 += TMAX) {                                                     \
                switch (T - t0 < TMAX ? T - t0 : TMAX) {                                                  \
                    TILE_CASE(FN, 1) TILE_CASE(FN, 2) TILE_CASE(FN, 3) TILE_CASE(FN, 4)                   \
                    TILE_CASE(FN, 5) TILE_CASE(FN, 6) TILE_CASE(FN, 7) default: FN(out + r, ldo, a, w, ws, t0, 8, C); \
                }                                                                                         \
            }                                                                                             \
        }                                                                                                 \
    }

Q8_ROWS(rows_portable, , tile_portable, TILE_MAX)
#ifdef PK_Q8_SIMD
Q8_ROWS(rows_avx2, TQ_AVX2, tile_avx2, TILE_AVX2)
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

/// Rows r0 ..< r0 + n through a family's row loop (the activations quantised already).
static void rows_family(int family, float *out, size_t ldo, const act_q8 *a, const int8_t *q, const uint16_t *scales,
                        size_t T, size_t r0, size_t n, size_t C) {
    out += r0;
    q += r0 * C;
    scales += r0 * a->nb;
#ifdef PK_Q8_SIMD
    if (family == PK_ISA_AVX512) { rows_vnni(out, ldo, a, q, scales, T, n, C); return; }
    if (family == PK_ISA_AVX2) { rows_avx2(out, ldo, a, q, scales, T, n, C); return; }
#endif
    rows_portable(out, ldo, a, q, scales, T, n, C);
}

int pk_matmul_q8_claim(int isa, float *out, size_t ldo, const float *x, const int8_t *q, const uint16_t *scales,
                       const int16_t *sums, size_t T, size_t rows, size_t C, size_t chunk, size_t *next) {
    if (T == 0 || rows == 0) return 0;
    if (chunk == 0) chunk = rows;
    act_q8 a = {0};
    a.nb = blocks(C);
    a.pairs = (a.nb + 1) / 2;
    int family = pk_q8_isa(isa), rc = 0;
#ifdef PK_Q8_SIMD
    if (family == PK_ISA_AVX512 && sums && C % QB == 0 && T >= PK_Q8_LANES_MIN)
        return pk_q8_lanes_claim(out, ldo, x, q, scales, sums, T, rows, C, chunk, next);
    if (family == PK_ISA_AVX512) {
        a.ob = aligned_alloc(64, T * a.pairs * 64);
        a.dx = aligned_alloc(64, T * a.pairs * 64);
        if (!a.ob || !a.dx) rc = -1;
        else quantize_acts_vnni(&a, x, T, C);
    } else
#endif
    if (quantize_acts(&a, x, T, C) != 0) rc = -1;
    // Activations are quantised before the first claim, so a thread that could not
    // allocate them has taken no rows.
    while (rc == 0) {
        size_t r0, n = pk_claim_rows(next, rows, chunk, &r0);
        if (n == 0) break;
        rows_family(family, out, ldo, &a, q, scales, T, r0, n, C);
    }
    free_acts(&a);
    return rc;
}

int pk_matmul_q8_isa(int isa, float *out, size_t ldo, const float *x, const int8_t *q, const uint16_t *scales,
                     const int16_t *sums, size_t T, size_t rows, size_t C) {
    size_t next = 0;
    return pk_matmul_q8_claim(isa, out, ldo, x, q, scales, sums, T, rows, C, rows, &next);
}
