#include "PolyKernels.h"
#include "claim.h"
#include <stdlib.h>
#include <string.h>

// Decode products with intrinsics: bf16 / f16 weight rows widened in registers, f32 FMAs.
// 1 to 3 tokens: four column chunks of one row in flight. Decode is memory-bound only if
// widening costs fewer cycles than the bytes take to arrive: the auto-vectorised C of
// matmul.c (kept as the reference and the portable family) was compute-bound on some CPUs;
// here widening is 2 integer ops per 32 bf16 weights. One row at a time reads a matrix as
// one sequential stream, which the hardware prefetcher follows best (4 interleaved rows
// measured 40% slower), except rows too long for L1 to hold the activations (LONG_ROW).
// More tokens (batched decode): row × token tiles, below.
//
// bf16 → f32 without shuffles: a 32-bit lane holds the pair (w[2i], w[2i+1]); shifting it
// left by 16 gives w[2i] as an f32, masking off its low half gives w[2i+1]. The activations
// are permuted once per call to match: per chunk of 2·L columns, the L even columns then
// the L odd ones, zero-padded to a whole chunk so the tail needs no special case.
// f16 widens with vcvtph2ps in column order, so its activations are only zero-padded.

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PK_SIMD 1
#endif

#define PK_INLINE static inline __attribute__((always_inline))
#define SIMD_MAX_T 3

int pk_isa_best(void) {
    int level = pk_cpu_vector_level();
#ifdef PK_SIMD
    if (level >= 3) return PK_ISA_AVX512;
    if (level >= 2 && __builtin_cpu_supports("f16c")) return PK_ISA_AVX2;
#endif
    (void)level;
    return PK_ISA_PORTABLE;
}

/// xp[t][Cp]: x laid out as the kernel's lanes read it; `chunk` columns per vector pair.
static void layout_x(float *xp, const float *x, size_t T, size_t C, size_t Cp, size_t chunk, int pairs) {
    size_t half = chunk / 2;
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * C;
        float *o = xp + t * Cp;
        memset(o, 0, Cp * sizeof(float));
        if (!pairs) { memcpy(o, xr, C * sizeof(float)); continue; }
        for (size_t c = 0; c < C; c++) {
            size_t base = c / chunk * chunk, j = c - base;
            o[base + (j & 1) * half + j / 2] = xr[c];
        }
    }
}

#ifdef PK_SIMD
// ---- AVX-512: 32 weights (one cache line of bf16) per row and step -----------------------
#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c")))
// No software prefetch on one row's stream: the hardware prefetchers follow it, and on an AMD
// EPYC (Zen 4) prefetch instructions halved the rate (one core, 2048-column rows from memory:
// 11–12 GB/s with prefetcht0 4 KiB ahead, as with prefetcht1/t2/nta or one line in four, and
// 23–27 GB/s without, at the read probe's rate; 4–6% faster with them on the machines before).
//
// Rows of more than LONG_ROW columns (an MLP's down projection): the activations outgrow L1
// (8256 columns: 33 KB) and come from L2 on every row, two vector loads per weight line, which
// held one core to 9–13 GB/s where a 16 KB slice of x reached 24. LONG_GROUP rows side by side
// share each activation load: 2 rows 14–15, 4 rows 15–18, 8 rows 18–20 GB/s. The same holds
// for 2 and 3 tokens once their activations pass 16 KB (tokens × columns > LONG_ROW): 2 tokens
// on 8256 columns 10 → 19 GB/s, 3 tokens on 2048 columns 12.5 → 15–16, on 8256 8 → 17.
#define LONG_ROW 4096
#define LONG_GROUP 8
#define LONG_GROUP256 4

/// A row's 32 weights from w, n ≤ 32 of them valid (the rest read as zero).
PK_INLINE T512 __m512i load32(const uint16_t *w, size_t n) {
    return n >= 32 ? _mm512_loadu_si512(w) : _mm512_maskz_loadu_epi16((__mmask32)((1ull << n) - 1), w);
}

/// Two f32 vectors of a row's 32 weights starting at column i, n ≤ 32 of them valid.
PK_INLINE T512 void widen512(const uint16_t *w, size_t n, int bf16, __m512 *lo, __m512 *hi) {
    __m512i v = load32(w, n);
    if (bf16) {
        *lo = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        *hi = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
    } else {
        *lo = _mm512_cvtph_ps(_mm512_castsi512_si256(v));
        *hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1));
    }
}

/// One row with 4 column chunks in flight: few tokens give too few independent FMA chains
/// to hide their latency, and one row at a time reads the matrix as one sequential stream,
/// which the hardware prefetcher follows best.
PK_INLINE T512 void row512(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                           size_t C, int NT, int bf16) {
    __m512 acc[4][SIMD_MAX_T];
    for (int u = 0; u < 4; u++)
        for (int t = 0; t < NT; t++) acc[u][t] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 128 <= C; i += 128) {
        for (int u = 0; u < 4; u++) {
            __m512 lo, hi;
            widen512(w + i + 32 * u, 32, bf16, &lo, &hi);
            for (int t = 0; t < NT; t++) {
                acc[u][t] = _mm512_fmadd_ps(lo, _mm512_load_ps(xp + t * Cp + i + 32 * u), acc[u][t]);
                acc[u][t] = _mm512_fmadd_ps(hi, _mm512_load_ps(xp + t * Cp + i + 32 * u + 16), acc[u][t]);
            }
        }
    }
    for (; i < C; i += 32) {
        __m512 lo, hi;
        widen512(w + i, C - i, bf16, &lo, &hi);
        for (int t = 0; t < NT; t++) {
            acc[0][t] = _mm512_fmadd_ps(lo, _mm512_load_ps(xp + t * Cp + i), acc[0][t]);
            acc[0][t] = _mm512_fmadd_ps(hi, _mm512_load_ps(xp + t * Cp + i + 16), acc[0][t]);
        }
    }
    for (int t = 0; t < NT; t++)
        out[t * ldo] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0][t], acc[1][t]),
                                                          _mm512_add_ps(acc[2][t], acc[3][t])));
}

/// 1 to 3 tokens (NT) against nr long rows side by side (nr and NT constants at each call):
/// every activation load serves all nr rows; one sum per row and token, each in the same
/// order whatever nr, so a row's result does not depend on which group it fell in.
PK_INLINE T512 void long_rows_nt512(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w, size_t C,
                                    int nr, int NT, int bf16) {
    __m512 acc[LONG_GROUP][SIMD_MAX_T];
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    for (size_t i = 0; i < C; i += 32) {
        __m512 x0[SIMD_MAX_T], x1[SIMD_MAX_T];
        for (int t = 0; t < NT; t++) {
            x0[t] = _mm512_load_ps(xp + t * Cp + i);
            x1[t] = _mm512_load_ps(xp + t * Cp + i + 16);
        }
        for (int r = 0; r < nr; r++) {
            __m512 lo, hi;
            widen512(w + r * C + i, C - i, bf16, &lo, &hi);
            for (int t = 0; t < NT; t++) acc[r][t] = _mm512_fmadd_ps(hi, x1[t], _mm512_fmadd_ps(lo, x0[t], acc[r][t]));
        }
    }
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < NT; t++) out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/// Rows of 1 or 2 tokens 8 at a time (up to 16 sums), of 3 tokens 6 at a time (18 sums).
T512 static void long_rows_tokens512(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                                     size_t rows, size_t C, int NT, int bf16) {
    size_t r = 0, group = NT < 3 ? LONG_GROUP : 6;
#define LONG_NT(nr, nt) (bf16 ? long_rows_nt512(out + r, ldo, xp, Cp, w + r * C, C, nr, nt, 1) \
                              : long_rows_nt512(out + r, ldo, xp, Cp, w + r * C, C, nr, nt, 0))
    for (; r + group <= rows; r += group) {
        if (NT == 1) LONG_NT(LONG_GROUP, 1);
        else if (NT == 2) LONG_NT(LONG_GROUP, 2);
        else LONG_NT(6, 3);
    }
    for (; r < rows; r++) {
        if (NT == 1) LONG_NT(1, 1);
        else if (NT == 2) LONG_NT(1, 2);
        else LONG_NT(1, 3);
    }
#undef LONG_NT
}

T512 static void rows512(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                         size_t rows, size_t C, int NT, int bf16) {
    if ((size_t)NT * C > LONG_ROW) {
        long_rows_tokens512(out, ldo, xp, Cp, w, rows, C, NT, bf16);
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * C;
        switch (NT * 2 + bf16) { // constants, so each loop unrolls into registers
        case 7: row512(out + r, ldo, xp, Cp, wr, C, 3, 1); break;
        case 6: row512(out + r, ldo, xp, Cp, wr, C, 3, 0); break;
        case 5: row512(out + r, ldo, xp, Cp, wr, C, 2, 1); break;
        case 4: row512(out + r, ldo, xp, Cp, wr, C, 2, 0); break;
        case 3: row512(out + r, ldo, xp, Cp, wr, C, 1, 1); break;
        default: row512(out + r, ldo, xp, Cp, wr, C, 1, 0); break;
        }
    }
}

// ---- AVX2 + F16C: the same with 16 weights per row and step ------------------------------
#define T256 __attribute__((target("avx2,fma,f16c")))

PK_INLINE T256 void widen256(const uint16_t *w, size_t n, int bf16, __m256 *lo, __m256 *hi) {
    __m256i v;
    if (n >= 16) {
        v = _mm256_loadu_si256((const __m256i *)w);
    } else {
        uint16_t tail[16] = {0};
        memcpy(tail, w, n * sizeof(uint16_t));
        v = _mm256_loadu_si256((const __m256i *)tail);
    }
    if (bf16) {
        *lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        *hi = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u)));
    } else {
        *lo = _mm256_cvtph_ps(_mm256_castsi256_si128(v));
        *hi = _mm256_cvtph_ps(_mm256_extracti128_si256(v, 1));
    }
}

PK_INLINE T256 float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

PK_INLINE T256 void row256(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                           size_t C, int NT, int bf16) {
    __m256 acc[4][SIMD_MAX_T];
    for (int u = 0; u < 4; u++)
        for (int t = 0; t < NT; t++) acc[u][t] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= C; i += 64) {
        for (int u = 0; u < 4; u++) {
            __m256 lo, hi;
            widen256(w + i + 16 * u, 16, bf16, &lo, &hi);
            for (int t = 0; t < NT; t++) {
                acc[u][t] = _mm256_fmadd_ps(lo, _mm256_load_ps(xp + t * Cp + i + 16 * u), acc[u][t]);
                acc[u][t] = _mm256_fmadd_ps(hi, _mm256_load_ps(xp + t * Cp + i + 16 * u + 8), acc[u][t]);
            }
        }
    }
    for (; i < C; i += 16) {
        __m256 lo, hi;
        widen256(w + i, C - i, bf16, &lo, &hi);
        for (int t = 0; t < NT; t++) {
            acc[0][t] = _mm256_fmadd_ps(lo, _mm256_load_ps(xp + t * Cp + i), acc[0][t]);
            acc[0][t] = _mm256_fmadd_ps(hi, _mm256_load_ps(xp + t * Cp + i + 8), acc[0][t]);
        }
    }
    for (int t = 0; t < NT; t++)
        out[t * ldo] = hsum256(_mm256_add_ps(_mm256_add_ps(acc[0][t], acc[1][t]), _mm256_add_ps(acc[2][t], acc[3][t])));
}

/// One token against nr long rows (long_rows_nt512 on AVX2): 4 rows, two 16-column chunks each
/// (8 sums, 2 activation and 2 weight vectors in 16 ymm).
PK_INLINE T256 void long_rows256(float *out, const float *xp, const uint16_t *w, size_t C, int nr, int bf16) {
    __m256 acc[LONG_GROUP256][2];
    for (int r = 0; r < nr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= C; i += 32) {
        for (int u = 0; u < 2; u++) {
            __m256 x0 = _mm256_load_ps(xp + i + 16 * u), x1 = _mm256_load_ps(xp + i + 16 * u + 8);
            for (int r = 0; r < nr; r++) {
                __m256 lo, hi;
                widen256(w + r * C + i + 16 * u, 16, bf16, &lo, &hi);
                acc[r][u] = _mm256_fmadd_ps(hi, x1, _mm256_fmadd_ps(lo, x0, acc[r][u]));
            }
        }
    }
    for (; i < C; i += 16) {
        __m256 x0 = _mm256_load_ps(xp + i), x1 = _mm256_load_ps(xp + i + 8);
        for (int r = 0; r < nr; r++) {
            __m256 lo, hi;
            widen256(w + r * C + i, C - i, bf16, &lo, &hi);
            acc[r][0] = _mm256_fmadd_ps(hi, x1, _mm256_fmadd_ps(lo, x0, acc[r][0]));
        }
    }
    for (int r = 0; r < nr; r++) out[r] = hsum256(_mm256_add_ps(acc[r][0], acc[r][1]));
}

T256 static void rows256(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                         size_t rows, size_t C, int NT, int bf16) {
    if (NT == 1 && C > LONG_ROW) {
        size_t r = 0;
        for (; r + LONG_GROUP256 <= rows; r += LONG_GROUP256) {
            if (bf16) long_rows256(out + r, xp, w + r * C, C, LONG_GROUP256, 1);
            else long_rows256(out + r, xp, w + r * C, C, LONG_GROUP256, 0);
        }
        for (; r < rows; r++) {
            if (bf16) long_rows256(out + r, xp, w + r * C, C, 1, 1);
            else long_rows256(out + r, xp, w + r * C, C, 1, 0);
        }
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * C;
        switch (NT * 2 + bf16) {
        case 7: row256(out + r, ldo, xp, Cp, wr, C, 3, 1); break;
        case 6: row256(out + r, ldo, xp, Cp, wr, C, 3, 0); break;
        case 5: row256(out + r, ldo, xp, Cp, wr, C, 2, 1); break;
        case 4: row256(out + r, ldo, xp, Cp, wr, C, 2, 0); break;
        case 3: row256(out + r, ldo, xp, Cp, wr, C, 1, 1); break;
        default: row256(out + r, ldo, xp, Cp, wr, C, 1, 0); break;
        }
    }
}

// ---- Batched decode (more than SIMD_MAX_T tokens) ---------------------------------------
// A tile of BR rows × BT tokens keeps BR·BT accumulators in registers: each widened weight
// vector meets BT tokens and each activation vector BR rows, so FMAs outnumber loads and
// widening ops several times over, where the 4×4 tiles of matmul.c were compute-bound. No
// packing: rows are read where they lie, and a row group meets every token group while it is
// in L1/L2. Every pass prefetches the next row group, so memory keeps streaming while later
// token groups reuse cached rows (prefetching ahead in the same rows left it idle then: 8
// tokens measured 1.2× slower).
// Token groups are balanced (10 tokens: 4 + 3 + 3, not 4 + 4 + 2).
// 6 rows × 4 tokens, each row's 32 weights widened one 16-lane half at a time (6 weight
// vectors + 24 sums + 1 activation vector = 31 registers; both halves of 6 rows would not fit):
// each activation load serves 6 rows. Beyond 4 tokens the activations (8 tokens: 64 KiB at
// 2048 columns) no longer stay in L1 and come from L2 on every pass. One core, 8 tokens, a
// 2048 × 2048 bf16 matrix from memory, 6 alternated runs: 99–104 GFLOP/s with 4 × 6 tiles
// (both halves of 4 rows at once, 4 rows per activation load), 122–130 with these; both cores
// at once 98–105 against 116–127 each.
#define BR512 6
#define BT512 4

/// The low (half 0) or high (half 1) vector of widen512; the second half's load finds the
/// line in L1.
PK_INLINE T512 __m512 widen512_half(const uint16_t *w, size_t n, int bf16, int half) {
    __m512i v = load32(w, n);
    if (bf16) return _mm512_castsi512_ps(half ? _mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)) : _mm512_slli_epi32(v, 16));
    return _mm512_cvtph_ps(half ? _mm512_extracti64x4_epi64(v, 1) : _mm512_castsi512_si256(v));
}

PK_INLINE T512 void tile512(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                            const uint16_t *next, int next_rows, size_t C, int NR, int NT, int bf16) {
    __m512 acc[BR512][BT512];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    for (size_t i = 0; i < C; i += 32) {
        for (int r = 0; r < NR; r++)
            if (r < next_rows) _mm_prefetch((const char *)(next + r * C + i), _MM_HINT_T0);
        for (int half = 0; half < 2; half++) {
            __m512 wv[BR512];
            for (int r = 0; r < NR; r++) wv[r] = widen512_half(w + r * C + i, C - i, bf16, half);
            for (int t = 0; t < NT; t++) {
                __m512 xv = _mm512_load_ps(xp + t * Cp + i + 16 * half);
                for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

// ---- AVX2: 2 rows × 4 tokens, 8 of the 16 ymm registers as accumulators -----------------
#define BR256 2
#define BT256 4

PK_INLINE T256 void tile256(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                            const uint16_t *next, int next_rows, size_t C, int NR, int NT, int bf16) {
    __m256 acc[BR256][BT256];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
    for (size_t i = 0; i < C; i += 16) {
        __m256 lo[BR256], hi[BR256];
        for (int r = 0; r < NR; r++) {
            if (r < next_rows) _mm_prefetch((const char *)(next + r * C + i), _MM_HINT_T0);
            widen256(w + r * C + i, C - i, bf16, &lo[r], &hi[r]);
        }
        for (int t = 0; t < NT; t++) {
            __m256 xl = _mm256_load_ps(xp + t * Cp + i), xh = _mm256_load_ps(xp + t * Cp + i + 8);
            for (int r = 0; r < NR; r++) acc[r][t] = _mm256_fmadd_ps(hi[r], xh, _mm256_fmadd_ps(lo[r], xl, acc[r][t]));
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) out[t * ldo + r] = hsum256(acc[r][t]);
}

// Constant NR, NT and bf16 per call, so each tile's loops unroll into registers.
#define TILE_CASE(f, nr, nt) \
    case (nr) * 16 + (nt): if (bf16) f(out, ldo, xp, Cp, w, next, next_rows, C, nr, nt, 1); \
        else f(out, ldo, xp, Cp, w, next, next_rows, C, nr, nt, 0); break;
#define TILE_ROW(f, nr) TILE_CASE(f, nr, 1) TILE_CASE(f, nr, 2) TILE_CASE(f, nr, 3) TILE_CASE(f, nr, 4)

T512 static void dispatch512(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                             const uint16_t *next, int next_rows, size_t C, int nr, int nt, int bf16) {
    switch (nr * 16 + nt) {
        TILE_ROW(tile512, 1) TILE_ROW(tile512, 2) TILE_ROW(tile512, 3) TILE_ROW(tile512, 4) TILE_ROW(tile512, 5) TILE_ROW(tile512, 6)
    }
}

T256 static void dispatch256(float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                             const uint16_t *next, int next_rows, size_t C, int nr, int nt, int bf16) {
    switch (nr * 16 + nt) { TILE_ROW(tile256, 1) TILE_ROW(tile256, 2) }
}

static void batch_rows(int isa, float *out, size_t ldo, const float *xp, size_t Cp, const uint16_t *w,
                       size_t T, size_t rows, size_t C, int bf16) {
    size_t BR = isa == PK_ISA_AVX512 ? BR512 : BR256, BT = isa == PK_ISA_AVX512 ? BT512 : BT256;
    size_t groups = (T + BT - 1) / BT;
    for (size_t r = 0; r < rows; r += BR) {
        int nr = (int)(rows - r < BR ? rows - r : BR);
        size_t left = rows - r - (size_t)nr;
        int next_rows = (int)(left < BR ? left : BR);
        const uint16_t *wr = w + r * C, *next = next_rows ? wr + (size_t)nr * C : wr;
        for (size_t g = 0, t0 = 0; g < groups; g++) {
            size_t nt = T / groups + (g < T % groups);
            float *o = out + t0 * ldo + r;
            if (isa == PK_ISA_AVX512) dispatch512(o, ldo, xp + t0 * Cp, Cp, wr, next, next_rows, C, nr, (int)nt, bf16);
            else dispatch256(o, ldo, xp + t0 * Cp, Cp, wr, next, next_rows, C, nr, (int)nt, bf16);
            t0 += nt;
        }
    }
}

/// Rows claimed from *next until none are left (see pk_matmul_bf16_claim);
/// the activations are laid out once per call. Returns -1 (nothing claimed) when their
/// buffer cannot be allocated.
static int run_simd(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                    size_t T, size_t rows, size_t C, int bf16, size_t chunk, size_t *next) {
    size_t lanes = isa == PK_ISA_AVX512 ? 32 : 16;
    size_t Cp = (C + lanes - 1) / lanes * lanes;
    float *xp = aligned_alloc(64, (T * Cp * sizeof(float) + 63) / 64 * 64);
    if (!xp) return -1;
    layout_x(xp, x, T, C, Cp, lanes, bf16);
    for (;;) {
        size_t r0, n = pk_claim_rows(next, rows, chunk, &r0);
        if (n == 0) break;
        float *o = out + r0;
        const uint16_t *wr = w + r0 * C;
        if (T > SIMD_MAX_T) batch_rows(isa, o, ldo, xp, Cp, wr, T, n, C, bf16);
        else if (isa == PK_ISA_AVX512) rows512(o, ldo, xp, Cp, wr, n, C, (int)T, bf16);
        else rows256(o, ldo, xp, Cp, wr, n, C, (int)T, bf16);
    }
    free(xp);
    return 0;
}
#endif

static void run_portable(float *out, size_t ldo, const float *x, const uint16_t *w,
                         size_t T, size_t rows, size_t C, int bf16, size_t chunk, size_t *next) {
    for (;;) {
        size_t r0, n = pk_claim_rows(next, rows, chunk, &r0);
        if (n == 0) break;
        if (bf16) pk_matmul_bf16_portable(out + r0, ldo, x, w + r0 * C, T, n, C);
        else pk_matmul_f16_portable(out + r0, ldo, x, w + r0 * C, T, n, C);
    }
}

static void run_claim(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                      size_t T, size_t rows, size_t C, int bf16, size_t chunk, size_t *next) {
    int best = pk_isa_best();
    if (isa > best) isa = best;
    if (chunk == 0) chunk = rows ? rows : 1;
#ifdef PK_SIMD
    if (isa >= PK_ISA_AVX2 && T >= 1 && C > 0 && run_simd(isa, out, ldo, x, w, T, rows, C, bf16, chunk, next) == 0) return;
#endif
    run_portable(out, ldo, x, w, T, rows, C, bf16, chunk, next);
}

void pk_matmul_bf16_claim(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                          size_t T, size_t rows, size_t C, size_t chunk, size_t *next) {
    run_claim(isa, out, ldo, x, w, T, rows, C, 1, chunk, next);
}

void pk_matmul_f16_claim(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                         size_t T, size_t rows, size_t C, size_t chunk, size_t *next) {
    run_claim(isa, out, ldo, x, w, T, rows, C, 0, chunk, next);
}

void pk_matmul_bf16_isa(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                        size_t T, size_t rows, size_t C) {
    size_t next = 0;
    run_claim(isa, out, ldo, x, w, T, rows, C, 1, rows, &next);
}

void pk_matmul_f16_isa(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                       size_t T, size_t rows, size_t C) {
    size_t next = 0;
    run_claim(isa, out, ldo, x, w, T, rows, C, 0, rows, &next);
}

void pk_matmul_bf16(float *out, size_t ldo, const float *x, const uint16_t *w,
                    size_t T, size_t rows, size_t C) {
    pk_matmul_bf16_isa(PK_ISA_AVX512, out, ldo, x, w, T, rows, C);
}

void pk_matmul_f16(float *out, size_t ldo, const float *x, const uint16_t *w,
                   size_t T, size_t rows, size_t C) {
    pk_matmul_f16_isa(PK_ISA_AVX512, out, ldo, x, w, T, rows, C);
}
