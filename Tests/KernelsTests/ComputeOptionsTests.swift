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
    }
}
