import Foundation
import PolyKernels
@testable import Training
import XCTest

/// Cross-entropy with an ignore index, and the sgemm-based linear backward.
final class CrossEntropyTests: XCTestCase {
    func naiveLoss(_ logits: [Double], _ targets: [Int32], V: Int) -> Double {
        var total = 0.0
        for (r, t) in targets.enumerated() where t != -100 {
            let row = logits[r * V..<(r + 1) * V]
            let m = row.max()!
            total += m + log(row.reduce(0) { $0 + exp($1 - m) }) - logits[r * V + Int(t)]
        }
        return total
    }

    func testLossAndGradientMatchANaiveLoopAndFiniteDifferencesAndSkipIgnoredRows() {
        let V = 7, targets: [Int32] = [3, -100, 0, 6]
        let logits = randomValues(targets.count * V, seed: 41, scale: 4)
        var losses = [Float](repeating: 5, count: targets.count)
        let sum = pk_cross_entropy_forward(&losses, floats(logits), targets, targets.count, V)
        XCTAssertEqual(sum, naiveLoss(logits, targets, V: V), accuracy: 1e-5)
        XCTAssertEqual(losses[1], 0)
        var d = floats(logits)
        let again = pk_cross_entropy_backward(&d, d, targets, targets.count, V, 0.25)
        XCTAssertEqual(again, sum, accuracy: 1e-6)
        let fd = numericalGradient({ 0.25 * self.naiveLoss($0, targets, V: V) }, at: logits)
        assertGradient(d, fd, "dlogits")
        XCTAssertEqual(Array(d[V..<2 * V]), Array(repeating: 0, count: V), "an ignored row gets no gradient")
    }

    func testLinearBackwardMatchesFiniteDifferences() {
        let (N, I, O) = (3, 5, 4)
        let x = randomValues(N * I, seed: 51), w = randomValues(O * I, seed: 52), g = randomValues(N * O, seed: 53)
        func naive(_ x: [Double], _ w: [Double]) -> [Double] {
            (0..<(N * O)).map { i in (0..<I).reduce(0) { $0 + x[i / O * I + $1] * w[i % O * I + $1] } }
        }
        var y = [Float](repeating: 0, count: N * O)
        Linear.forward(&y, floats(x), floats(w), N: N, I: I, O: O)
        assertGradient(y, naive(x, w), tolerance: 1e-6, "forward")
        var dx = [Float](repeating: 1, count: N * I), dw = [Float](repeating: 1, count: O * I)
        Linear.backward(dx: &dx, dw: &dw, floats(g), floats(x), floats(w), N: N, I: I, O: O, accumulate: true)
        assertGradient(dx.map { $0 - 1 }, numericalGradient({ dot(naive($0, w), g) }, at: x), "dx")
        assertGradient(dw.map { $0 - 1 }, numericalGradient({ dot(naive(x, $0), g) }, at: w), "dw")
    }
}
