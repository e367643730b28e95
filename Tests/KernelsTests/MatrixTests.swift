@testable import Kernels
import Model
import TestSupport
import XCTest

/// x [tokens, cols] · wᵀ ([rows, cols]) accumulated in double precision.
func naiveProduct(_ x: [Float], _ w: [Float], tokens: Int, rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: 0, count: tokens * rows)
    for t in 0..<tokens {
        for r in 0..<rows {
            var s = 0.0
            for c in 0..<cols { s += Double(x[t * cols + c]) * Double(w[r * cols + c]) }
            out[t * rows + r] = Float(s)
        }
    }
    return out
}

final class MatrixTests: XCTestCase {
    /// y = x · Wᵀ against a naive double-precision loop, for every dtype and for the
    /// one-token, register-tiled (with row and token tails) and panel + sgemm paths.
    func testApplyMatchesNaiveProduct() {
        var rng = SplitMix64(seed: 1)
        for (rows, cols) in [(37, 53), (300, 129), (1100, 96)] {
            let w = (0..<rows * cols).map { _ in Float.random(in: -1...1, using: &rng) }
            for dtype in [DType.f32, .bf16, .f16] {
                let tensor = Tensor(w, shape: [rows, cols]).converted(to: dtype)
                let exact = tensor.floats() // the weights as stored
                let matrix = Matrix(tensor)
                for tokens in [1, 3, Matrix.panelThreshold, 21] {
                    let x = (0..<tokens * cols).map { _ in Float.random(in: -1...1, using: &rng) }
                    let expected = naiveProduct(x, exact, tokens: tokens, rows: rows, cols: cols)
                    let out = FloatBuffer(count: tokens * rows)
                    x.withUnsafeBufferPointer { matrix.apply($0.baseAddress!, tokens: tokens, into: out.pointer, options: ComputeOptions()) }
                    assertClose(out.array, expected, tolerance: 1e-4, "\(dtype) \(rows)×\(cols) T=\(tokens)")
                }
            }
        }
    }

    func testCopyRowConvertsOneRow() {
        let w: [Float] = [1, 2, 3, 4, 5, 6]
        let m = Matrix(Tensor(w, shape: [2, 3]).converted(to: .bf16))
        let out = FloatBuffer(count: 3)
        m.copyRow(1, into: out.pointer)
        XCTAssertEqual(out.array, [4, 5, 6])
    }
}

/// The opt-in AVX512-BF16 path: exact products of the bf16-rounded activations and weights.
final class BF16DotProductTests: XCTestCase {
    /// The rounded activations' rows start on cache lines an odd number of lines apart, so
    /// no two of a tile's rows share an L1 set; a padded row holds all its columns.
    func testActivationStrideIsAnOddNumberOfCacheLines() {
        for cols in [1, 31, 32, 33, 2048, 2080, 4096, 8256] + Array(1...300) {
            let stride = Matrix.bf16DotStride(cols: cols)
            XCTAssertGreaterThanOrEqual(stride, cols)
            XCTAssertLessThan(stride, cols + 64, "cols \(cols)")
            XCTAssertEqual(stride % 32, 0, "cols \(cols)")
            XCTAssertEqual(stride / 32 % 2, 1, "cols \(cols)")
        }
        XCTAssertEqual(Matrix.bf16DotStride(cols: 2048), 2080)
    }

    func testMatchesNaiveProductOfRoundedInputs() throws {
        try XCTSkipUnless(ComputeOptions.cpuHasBF16Dot, "this CPU has no AVX512-BF16 instructions")
        let options = ComputeOptions(bf16DotProducts: true)
        var rng = SplitMix64(seed: 2)
        for (rows, cols, tokens) in [(64, 32, 40), (130, 98, 41), (77, 500, 45), (300, 256, 64)] {
            XCTAssertGreaterThanOrEqual(tokens, Matrix.panelThreshold, "below the threshold the exact kernel runs")
            let w = Tensor((0..<rows * cols).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [rows, cols]).converted(to: .bf16)
            let x = (0..<tokens * cols).map { _ in Float.random(in: -1...1, using: &rng) }
            let xr = Tensor(x, shape: [tokens, cols]).converted(to: .bf16).floats(), wr = w.floats()
            let expected = naiveProduct(xr, wr, tokens: tokens, rows: rows, cols: cols)
            let out = FloatBuffer(count: tokens * rows)
            x.withUnsafeBufferPointer { Matrix(w).apply($0.baseAddress!, tokens: tokens, into: out.pointer, options: options) }
            assertClose(out.array, expected, tolerance: 1e-3, "\(rows)×\(cols) T=\(tokens)")
        }
    }

    /// Rows the kernel refuses (pk_gemm_bf16dot returns -1: no packing buffer) go through the
    /// exact panels, so every output is written and is the unrounded product. Runs on any CPU.
    func testRefusedRowsFallBackToExactPanels() {
        var rng = SplitMix64(seed: 3)
        let (rows, cols, tokens) = (130, 34, 41)
        let w = Tensor(rng.floats(rows * cols, in: -1...1), shape: [rows, cols]).converted(to: .bf16)
        let x = rng.floats(tokens * cols, in: -1...1)
        let out = FloatBuffer(count: tokens * rows)
        out.fill(.nan)
        x.withUnsafeBufferPointer {
            Matrix(w).bf16Dot($0.baseAddress!, T: tokens, out: out.pointer, ldo: rows, threads: 4, kernel: { _, _, _, _, _, _, _, _ in -1 })
        }
        // 1e-4, as the exact paths above; rounding x to bf16 would be off by about 1e-2.
        assertClose(out.array, naiveProduct(x, w.floats(), tokens: tokens, rows: rows, cols: cols), tolerance: 1e-4)
    }
}
