import Kernels
import TestSupport
import XCTest

/// Thread counts are per call: any count gives the same products.
final class ComputeOptionsTests: XCTestCase {
    func testThreadCountDoesNotChangeProducts() {
        var rng = SystemRandomNumberGenerator()
        let (rows, cols, tokens) = (1030, 96, 3) // large enough to be split across workers
        let w = Tensor((0..<rows * cols).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [rows, cols]).converted(to: .bf16)
        let x = (0..<tokens * cols).map { _ in Float.random(in: -1...1, using: &rng) }
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
