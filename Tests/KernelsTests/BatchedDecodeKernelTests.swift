@testable import Kernels
import Model
import PolyKernels
import TestSupport
import XCTest

/// matmul_simd.c's batched-decode tiles (more than 3 tokens: 6 rows × 4 tokens on AVX-512,
/// 2 × 4 on AVX2; the portable family runs matmul.c's 4 × 4 tiles), each family, against
/// `naiveProduct` of the widened weights within checkProduct's summation-order bound.
extension MatmulKernelTests {
    /// Every token count from 4 to 39 (every balanced split into 4-token groups and their
    /// short last groups), row counts around the 6- and 2-row tiles, C odd, below one
    /// 32-column chunk, not a multiple of it (a masked last chunk) and past the prefetch
    /// distance, into a strided output.
    func testBatchedDecodeTilesMatchNaiveProduct() {
        var rng = SplitMix64(seed: 57)
        for family in families {
            for T in 4...39 {
                for (rows, C) in [(9, 161), (5, 33), (3, 64), (6, 1), (2, 31), (7, 1100), (13, 70), (4, 40)] where T * rows * C <= 200_000 || T % 7 == 4 {
                    let w = bf16(rows * C, &rng), x = rng.floats(T * C, in: -1...1)
                    checkProduct(x, widened(w), tokens: T, rows: rows, cols: C, ldo: rows + 3,
                                 "bf16 \(family) T=\(T) rows=\(rows) C=\(C)") {
                        pk_matmul_bf16_isa(family.rawValue, $0, rows + 3, x, w, T, rows, C)
                    }
                }
            }
        }
    }

    /// The same tiles on f16 weights (vcvtph2ps in column order instead of the bf16 pairs).
    func testBatchedDecodeTilesOnF16MatchNaiveProduct() {
        var rng = SplitMix64(seed: 58)
        for family in families {
            for T in [4, 6, 7, 8, 13, 25, 39] {
                for (rows, C) in [(9, 161), (5, 47), (1, 1)] {
                    let w = rng.floats(rows * C, in: -1...1).map { Float16($0).bitPattern }
                    let x = rng.floats(T * C, in: -1...1)
                    checkProduct(x, w.map { Float(Float16(bitPattern: $0)) }, tokens: T, rows: rows, cols: C, ldo: rows + 1,
                                 "f16 \(family) T=\(T) rows=\(rows) C=\(C)") {
                        pk_matmul_f16_isa(family.rawValue, $0, rows + 1, x, w, T, rows, C)
                    }
                }
            }
        }
    }

    /// Weights starting mid-line (one bf16 in) and activations one float off alignment.
    func testBatchedDecodeTilesAcceptUnalignedInputs() {
        var rng = SplitMix64(seed: 59)
        let (C, rows) = (161, 5)
        for family in families {
            for T in [4, 8, 13] {
                let w = bf16(rows * C + 1, &rng), x = rng.floats(T * C + 1, in: -1...1)
                checkProduct(Array(x[1...]), widened(Array(w[1...])), tokens: T, rows: rows, cols: C, ldo: rows,
                             "bf16 \(family) unaligned T=\(T)") { out in
                    x.withUnsafeBufferPointer { xs in
                        w.withUnsafeBufferPointer { pk_matmul_bf16_isa(family.rawValue, out, rows, xs.baseAddress! + 1, $0.baseAddress! + 1, T, rows, C) }
                    }
                }
            }
        }
    }

    /// Decode batches through Matrix.apply (below panelThreshold), rows split across threads,
    /// on a decode-sized row length.
    func testBatchedDecodeThroughMatrixMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 60)
        let (rows, K) = (70, 2048)
        let w = bf16(rows * K, &rng)
        let matrix = Matrix(w.withUnsafeBytes { Tensor(dtype: .bf16, shape: [rows, K], copying: $0) })
        for family in families {
            for T in [4, 8, Matrix.panelThreshold - 1] {
                let x = rng.floats(T * K, in: -1...1)
                checkProduct(x, widened(w), tokens: T, rows: rows, cols: K, ldo: rows + 2, "Matrix \(family) T=\(T)") { out in
                    x.withUnsafeBufferPointer {
                        matrix.apply($0.baseAddress!, tokens: T, into: out, ldo: rows + 2,
                                     options: ComputeOptions(threads: 2, kernels: family))
                    }
                }
            }
        }
    }
}
