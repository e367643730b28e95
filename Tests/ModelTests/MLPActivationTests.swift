import Kernels
@testable import Model
import XCTest

final class MLPActivationTests: XCTestCase {
    /// Rows enough to be split over two threads: every row is PolyNorm's formula
    /// w0·norm(x³) + w1·norm(x²) + w2·norm(x) + b, evaluated here in double precision.
    func testPolyNormOnRowsSplitOverThreadsIsTheFormula() {
        let rows = 300, width = 1000, w: [Float] = [0.4, -0.7, 1.3], b: Float = 0.05
        let activation = MLPActivation(kind: .polynorm, weight: Tensor(w, shape: [3]), bias: Tensor([b], shape: [1]))
        var rng = SplitMix64(seed: 7)
        var x = (0..<rows * width).map { _ in Float(Double(rng.next() % 20_000) / 10_000 - 1) * 3 }
        let input = x
        x.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, rows: rows, width: width, threads: 2) }
        var worst = 0.0
        for r in 0..<rows {
            let row = input[(r * width)..<((r + 1) * width)].map(Double.init)
            func norm(_ u: [Double]) -> [Double] {
                let s = 1 / (u.reduce(0) { $0 + $1 * $1 } / Double(width) + Double(MLPActivation.polyNormEps)).squareRoot()
                return u.map { $0 * s }
            }
            let n1 = norm(row), n2 = norm(row.map { $0 * $0 }), n3 = norm(row.map { $0 * $0 * $0 })
            for i in 0..<width {
                let want = Double(w[0]) * n3[i] + Double(w[1]) * n2[i] + Double(w[2]) * n1[i] + Double(b)
                worst = max(worst, abs(Double(x[r * width + i]) - want))
            }
        }
        XCTAssertLessThan(worst, 1e-4)
    }
}
