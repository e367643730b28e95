import Kernels
import Model
import TestSupport
import XCTest

/// Thread counts are per call: any count gives the same products.
final class ComputeOptionsTests: XCTestCase {
    func testThreadCountDoesNotChangeProducts() {
        var rng = SplitMix64(seed: 11)
        let (rows, cols, tokens) = (1030, 96, 3) // large enough to be split across workers
        let w = Tensor(rng.floats(rows * cols, in: -1...1), shape: [rows, cols]).converted(to: .bf16)
        let x = rng.floats(tokens * cols, in: -1...1)
        let expected = naiveProduct(x, w.floats(), tokens: tokens, rows: rows, cols: cols)
        for threads in [1, 2, 3, 8] {
            let out = FloatBuffer(count: tokens * rows)
            x.withUnsafeBufferPointer { Matrix(w).apply($0.baseAddress!, tokens: tokens, into: out.pointer, options: ComputeOptions(threads: threads)) }
            assertClose(out.array, expected, tolerance: 1e-4, "threads \(threads)")
        }
    }

    func testAtLeastOneThread() {
        XCTAssertEqual(ComputeOptions(threads: 0).threads, 1)
        XCTAssertEqual(ComputeOptions().threads, ComputeOptions.cores)
        XCTAssertFalse(ComputeOptions().bf16DotProducts)
        XCTAssertEqual(ComputeOptions().kernels, KernelFamily.best)
    }

    /// A forced family reaches the kernels: the AVX2 and portable paths through Matrix.apply
    /// give the naive product on any CPU (decode-sized token counts, rows split over threads).
    func testForcedKernelFamilyGivesTheSameProducts() {
        var rng = SplitMix64(seed: 12)
        let (rows, cols) = (1030, 161)
        for dtype in [DType.bf16, .f16] {
            let w = Tensor(rng.floats(rows * cols, in: -1...1), shape: [rows, cols]).converted(to: dtype)
            for tokens in [1, 2, 3, 8] {
                let x = rng.floats(tokens * cols, in: -1...1)
                let expected = naiveProduct(x, w.floats(), tokens: tokens, rows: rows, cols: cols)
                for family in KernelFamily.allCases {
                    let out = FloatBuffer(count: tokens * rows)
                    x.withUnsafeBufferPointer {
                        Matrix(w).apply($0.baseAddress!, tokens: tokens, into: out.pointer, options: ComputeOptions(threads: 2, kernels: family))
                    }
                    assertClose(out.array, expected, tolerance: 1e-4, "\(dtype) \(family) T=\(tokens)")
                }
            }
        }
        XCTAssertEqual(KernelFamily(name: "AVX2"), .avx2)
        XCTAssertEqual(KernelFamily(name: "auto"), .best)
        XCTAssertNil(KernelFamily(name: "sse"))
    }
}
