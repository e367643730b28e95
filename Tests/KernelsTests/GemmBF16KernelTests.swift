@testable import Kernels
import Model
import PolyKernels
import TestSupport
import XCTest

/// gemm_bf16.c, each family, against `naiveProduct` of the widened weights, within the same
/// summation-order bound as the other matrix kernels (checkProduct, MatmulKernelTests).
extension MatmulKernelTests {
    /// Every token count up to 40 (whole and partial 12-, 6- and 4-token tiles), row counts
    /// around the 16/32-row tiles, K odd (a half-filled last pair) and not a multiple of the
    /// 256-column block; then rows past the 256-row packed block, K over several blocks, and
    /// one whole and one partial 16-row group around the AVX-512 packing's 16 × 16 transposes.
    /// The activations' 16-column transposes (pk_gemm_pack_x512) leave K blocks' last 1 (257),
    /// 15 (31) and 8 (600) columns, and a partial tile's missing tokens, to the scalar copy.
    func testBF16GemmMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 61)
        for family in families {
            for T in 1...40 {
                for (rows, K) in [(33, 257), (16, 31), (70, 1)] {
                    let w = bf16(rows * K, &rng), x = rng.floats(T * K, in: -1...1)
                    checkProduct(x, widened(w), tokens: T, rows: rows, cols: K, ldo: rows + 3,
                                 "gemm \(family) T=\(T) rows=\(rows) K=\(K)") {
                        XCTAssertEqual(pk_gemm_bf16_isa(family.rawValue, $0, rows + 3, x, w, T, rows, K), 0)
                    }
                }
            }
            for (T, rows, K) in [(41, 300, 600), (13, 513, 1025), (64, 32, 512), (25, 289, 255), (20, 17, 515)] {
                let w = bf16(rows * K, &rng), x = rng.floats(T * K, in: -1...1)
                checkProduct(x, widened(w), tokens: T, rows: rows, cols: K, ldo: rows,
                             "gemm \(family) T=\(T) rows=\(rows) K=\(K)") {
                    XCTAssertEqual(pk_gemm_bf16_isa(family.rawValue, $0, rows, x, w, T, rows, K), 0)
                }
            }
        }
    }

    /// Token counts around the 512-token packing block (516 with 12- and 6-token tiles) and
    /// over two of them: each block packs its own tokens over all K blocks (K = 259 is two,
    /// the last a half-filled pair) and writes its own output rows of a strided output.
    func testBF16GemmAcrossTokenBlocksMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 64)
        let (rows, K) = (35, 259)
        let w = bf16(rows * K, &rng)
        for family in families {
            for T in [511, 513, 517, 1033] {
                let x = rng.floats(T * K, in: -1...1)
                checkProduct(x, widened(w), tokens: T, rows: rows, cols: K, ldo: rows + 3,
                             "gemm \(family) T=\(T) rows=\(rows) K=\(K)") {
                    XCTAssertEqual(pk_gemm_bf16_isa(family.rawValue, $0, rows + 3, x, w, T, rows, K), 0)
                }
            }
        }
    }

    /// Prefill on bf16 weights (Matrix.apply at panelThreshold tokens and more) runs the GEMM
    /// of the forced family, rows split across threads, into a strided output.
    func testBF16PrefillThroughMatrixMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 62)
        let (rows, K) = (200, 300)
        let w = bf16(rows * K, &rng)
        let matrix = Matrix(w.withUnsafeBytes { Tensor(dtype: .bf16, shape: [rows, K], copying: $0) })
        for family in families {
            for T in [Matrix.panelThreshold, 77] {
                let x = rng.floats(T * K, in: -1...1)
                checkProduct(x, widened(w), tokens: T, rows: rows, cols: K, ldo: rows + 5, "Matrix \(family) T=\(T)") { out in
                    x.withUnsafeBufferPointer {
                        matrix.apply($0.baseAddress!, tokens: T, into: out, ldo: rows + 5,
                                     options: ComputeOptions(threads: 3, kernels: family))
                    }
                }
            }
        }
    }

    /// A share the GEMM refuses (no packing buffers) is computed by the f32 panels instead.
    func testRefusedGemmSharesFallBackToPanels() {
        var rng = SplitMix64(seed: 63)
        let (rows, K, T) = (130, 34, 41)
        let w = bf16(rows * K, &rng), x = rng.floats(T * K, in: -1...1)
        let matrix = Matrix(w.withUnsafeBytes { Tensor(dtype: .bf16, shape: [rows, K], copying: $0) })
        checkProduct(x, widened(w), tokens: T, rows: rows, cols: K, ldo: rows, "refused") { out in
            x.withUnsafeBufferPointer {
                matrix.gemmBF16($0.baseAddress!, T: T, out: out, ldo: rows, threads: 2, kernels: .best,
                                kernel: { _, _, _, _, _, _, _, _ in -1 })
            }
        }
    }
}
