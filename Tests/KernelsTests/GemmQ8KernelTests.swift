@testable import Kernels
import Model
import PolyKernels
import TestSupport
import XCTest

/// gemm_q8.c (and through it gemm.c's blocking), each family, against `naiveProduct` (Double
/// sums) of the weights dequantised here in Swift, within the summation-order bound of the
/// other matrix kernels (checkProduct, MatmulKernelTests).
extension MatmulKernelTests {
    /// Random q8 weights: values in −127…127, f16 scales per 32-column block from 0.02 down to
    /// subnormal halves (a fifth of them, which the SIMD packings widen with vcvtph2ps).
    func q8Weights(rows: Int, cols K: Int, _ rng: inout SplitMix64) -> (q: [Int8], scales: [UInt16], dequantised: [Float]) {
        let nb = (K + 31) / 32
        let q = (0..<rows * K).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) }
        let scales = rng.floats(rows * nb, in: 0...1).map { Float16(0.02 * $0 * $0 * $0 * $0).bitPattern }
        let dequantised = (0..<rows * K).map { i in Float(Float16(bitPattern: scales[i / K * nb + i % K / 32])) * Float(q[i]) }
        return (q, scales, dequantised)
    }

    /// K around the 32-column q8 blocks, 16-column transposes and the 256-column K block (300:
    /// two blocks); rows around the 16/32-row tiles, the 16-row transposed groups and the
    /// 128-row packed block; tokens in whole and partial 12-, 6- and 4-token tiles; out strided.
    func testQ8GemmMatchesNaiveProductOfDequantisedWeights() {
        var rng = SplitMix64(seed: 91)
        for family in families {
            for K in [1, 2, 7, 31, 32, 33, 64, 130, 300] {
                for rows in [1, 3, 17, 31, 33, 64, 65, 300] {
                    let w = q8Weights(rows: rows, cols: K, &rng)
                    for T in [1, 5, 12, 13, 25] {
                        let x = rng.floats(T * K, in: -1...1)
                        checkProduct(x, w.dequantised, tokens: T, rows: rows, cols: K, ldo: rows + 3,
                                     "q8 gemm \(family) K=\(K) rows=\(rows) T=\(T)") {
                            XCTAssertEqual(pk_gemm_q8_isa(family.rawValue, $0, rows + 3, x, w.q, w.scales, T, rows, K), 0)
                        }
                    }
                }
            }
        }
    }

    /// Over the 512-token packing block, K over three K blocks with a short last q8 block.
    func testQ8GemmAcrossTokenAndKBlocksMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 92)
        let (rows, K, T) = (35, 531, 517)
        let w = q8Weights(rows: rows, cols: K, &rng), x = rng.floats(T * K, in: -1...1)
        for family in families {
            checkProduct(x, w.dequantised, tokens: T, rows: rows, cols: K, ldo: rows + 1, "q8 gemm \(family) T=\(T)") {
                XCTAssertEqual(pk_gemm_q8_isa(family.rawValue, $0, rows + 1, x, w.q, w.scales, T, rows, K), 0)
            }
        }
    }

    func q8Matrix(_ w: (q: [Int8], scales: [UInt16], dequantised: [Float]), rows: Int, cols K: Int) -> Matrix {
        Matrix(q8: w.q.withUnsafeBytes { Tensor(dtype: .i8, shape: [rows, K], copying: $0) },
               scales: w.scales.withUnsafeBytes { Tensor(dtype: .f16, shape: Matrix.q8ScaleShape([rows, K]), copying: $0) })
    }

    /// Prefill on q8 weights (Matrix.apply at panelThreshold tokens and more) runs the GEMM of
    /// the forced family, rows split across threads, into a strided output.
    func testQ8PrefillThroughMatrixMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 93)
        let (rows, K) = (200, 300)
        let w = q8Weights(rows: rows, cols: K, &rng), matrix = q8Matrix(w, rows: rows, cols: K)
        for family in families {
            for T in [Matrix.panelThreshold, 77] {
                let x = rng.floats(T * K, in: -1...1)
                checkProduct(x, w.dequantised, tokens: T, rows: rows, cols: K, ldo: rows + 5, "q8 Matrix \(family) T=\(T)") { out in
                    x.withUnsafeBufferPointer {
                        matrix.apply($0.baseAddress!, tokens: T, into: out, ldo: rows + 5,
                                     options: ComputeOptions(threads: 3, kernels: family))
                    }
                }
            }
        }
    }

    /// Shares the q8 GEMM refuses (no packing buffers) are computed by the dequantised panels.
    func testRefusedQ8GemmSharesFallBackToPanels() {
        var rng = SplitMix64(seed: 94)
        let (rows, K, T) = (130, 70, 41)
        let w = q8Weights(rows: rows, cols: K, &rng), x = rng.floats(T * K, in: -1...1)
        let matrix = q8Matrix(w, rows: rows, cols: K)
        checkProduct(x, w.dequantised, tokens: T, rows: rows, cols: K, ldo: rows + 2, "refused q8") { out in
            x.withUnsafeBufferPointer {
                matrix.gemmQ8($0.baseAddress!, T: T, out: out, ldo: rows + 2, threads: 2, kernels: .best,
                              kernel: { _, _, _, _, _, _, _, _, _ in -1 })
            }
        }
    }
}
