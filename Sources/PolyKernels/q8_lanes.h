// q8 decode batches with the tokens in vector lanes (matmul_q8_lanes.c), for matmul_q8.c.
#pragma once
#include <stddef.h>
#include <stdint.h>

/// From this many tokens a batch goes through the token-lane kernel (below it the row
/// kernels, whose cost grows with the tokens while this one's is that of 8).
enum { PK_Q8_LANES_MIN = 4 };

/// Rows taken from `next` (as pk_matmul_q8_claim) through the token-lane VNNI kernel.
/// Needs AVX512-VNNI, C a multiple of 32 and `sums` (pk_q8_block_sums). Returns 0, or -1
/// having taken no rows when its activations' buffer cannot be allocated.
int pk_q8_lanes_claim(float *out, size_t ldo, const float *x, const int8_t *q, const uint16_t *scales,
                      const int16_t *sums, size_t T, size_t rows, size_t C, size_t chunk, size_t *next);
