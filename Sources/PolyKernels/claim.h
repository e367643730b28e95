#pragma once
#include <stddef.h>

/// The next rows of a product shared by threads through the counter *next (pk_*_claim): a
/// quarter of the rows left, in whole 4-row groups, and at least `chunk`. The first claims
/// are long sequential streams (each start of a new stream reads a few KiB before the
/// hardware and software prefetchers run ahead again; fixed 128 KiB chunks made the fastest
/// bf16 decode step ~5% slower than fixed halves), the last ones small enough to even out
/// the threads' finishing times. Returns how many rows were taken (0: none left), the first
/// in *r0.
static inline size_t pk_claim_rows(size_t *next, size_t rows, size_t chunk, size_t *r0) {
    size_t start = __atomic_load_n(next, __ATOMIC_RELAXED);
    for (;;) {
        if (start >= rows) return 0;
        size_t left = rows - start, n = left / 16 * 4;
        if (n < chunk) n = chunk;
        if (n > left) n = left;
        if (__atomic_compare_exchange_n(next, &start, start + n, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            *r0 = start;
            return n;
        }
    }
}
