import Model
import PolyKernels
import TestSupport
import XCTest

/// elementwise.c (residual adds and the MoE combination) against Double.
final class ElementwiseKernelTests: XCTestCase {
    /// One rounding of the sum: ≤ u·|a + b|.
    func testAddRoundsTheSumOnce() {
        var rng = SplitMix64(seed: 61)
        for n in [1, 3, 7, 33, 129] {
            let a = rng.floats(n, in: -4...4), b = rng.floats(n, in: -4...4)
            let expected = (0..<n).map { Double(a[$0]) + Double(b[$0]) }
            var out = [Float](repeating: .nan, count: n)
            pk_add(&out, a, b, n)
            assertWithin(out, expected, bounds: expected.map { unitRoundoff * abs($0) }, "n=\(n)")
        }
    }

    /// out += s·x: the product and the sum round once each (once when fused): ≤ 2u·(|out| + |s·x|).
    func testScaleAddAccumulatesIntoOut() {
        var rng = SplitMix64(seed: 62)
        for n in [1, 3, 7, 33, 129] {
            let start = rng.floats(n, in: -4...4), x = rng.floats(n, in: -4...4), s = rng.floats(1, in: -1...1)[0]
            let expected = (0..<n).map { Double(start[$0]) + Double(s) * Double(x[$0]) }
            let bounds = (0..<n).map { 2 * unitRoundoff * (abs(Double(start[$0])) + abs(Double(s) * Double(x[$0]))) }
            var out = start
            pk_scale_add(&out, x, s, n)
            assertWithin(out, expected, bounds: bounds, "n=\(n)")
        }
    }
}
