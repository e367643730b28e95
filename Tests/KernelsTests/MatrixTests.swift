import Kernels
import TestSupport
import XCTest

final class MatrixTests: XCTestCase {
    /// y = x · Wᵀ against a naive double-precision loop, for every dtype and for both the
    /// few-token (row streaming) and many-token (panel + sgemm) paths.
    func testApplyMatchesNaiveProduct() {
        var rng = SystemRandomNumberGenerator()
        for (rows, cols) in [(37, 53), (300, 129), (1100, 96)] {
            let w = (0..<rows * cols).map { _ in Float.random(in: -1...1, using: &rng) }
            for dtype in [DType.f32, .bf16, .f16] {
                let tensor = Tensor(w, shape: [rows, cols]).converted(to: dtype)
                let exact = tensor.floats() // the weights as stored
                let matrix = Matrix(tensor)
                for tokens in [1, 3, Matrix.panelThreshold, 21] {
                    let x = (0..<tokens * cols).map { _ in Float.random(in: -1...1, using: &rng) }
                    var expected = [Float](repeating: 0, count: tokens * rows)
                    for t in 0..<tokens {
                        for r in 0..<rows {
                            var s = 0.0
                            for c in 0..<cols { s += Double(x[t * cols + c]) * Double(exact[r * cols + c]) }
                            expected[t * rows + r] = Float(s)
                        }
                    }
                    let out = FloatBuffer(count: tokens * rows)
                    x.withUnsafeBufferPointer { matrix.apply($0.baseAddress!, tokens: tokens, into: out.pointer) }
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
