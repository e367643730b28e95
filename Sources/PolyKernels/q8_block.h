// One block of activations quantised for vpdpbusd, shared by matmul_q8.c's row kernels and
// matmul_q8_lanes.c's token-lane kernel so both multiply the same integers.
#pragma once
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#include <stdint.h>

/// 32 activations at x (lanes outside the masks m0 (0–15), m1 (16–31) read as 0) to u8
/// q + 128 in out[0 … 31], q = x / d rounded to nearest even (vcvtps2dq, as nearbyintf in
/// the default rounding mode) and clamped to ±127; returns d = amax / 127.
static inline __attribute__((always_inline, target("avx2,fma,f16c,avx512f,avx512bw,avx512vl"))) float
pk_q8_block_u8(const float *x, __mmask16 m0, __mmask16 m1, uint8_t *out) {
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), offset = _mm512_set1_epi32(128);
    __m512 v0 = _mm512_maskz_loadu_ps(m0, x), v1 = _mm512_maskz_loadu_ps(m1, x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
    __m512 scale = _mm512_set1_ps(id);
    __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, scale)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, scale));
    q0 = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q0, lo), hi), offset);
    q1 = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q1, lo), hi), offset);
    _mm_storeu_si128((__m128i *)out, _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(out + 16), _mm512_cvtepi32_epi8(q1));
    return d;
}
#endif
