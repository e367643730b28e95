import Foundation
import Model
import PolyKernels
import TestSupport
import XCTest

/// softmax.c against naive loops in Double, on odd widths.
final class SoftmaxKernelTests: XCTestCase {
    let u = unitRoundoff

    /// Softmax of x[0..<n] in Double with its f32 error bound: x − max rounds (u·spread,
    /// relative in exp), expf 2u, the sum of n positive terms (n − 1)u plus its terms'
    /// errors, then 1/sum and the product 1u each: (2·spread + n + 5)u relative, +1u slack.
    func naiveSoftmax(_ x: ArraySlice<Float>) -> (p: [Double], bounds: [Double]) {
        let xd = x.map(Double.init), m = xd.max()!
        let e = xd.map { exp($0 - m) }, sum = e.reduce(0, +)
        let spread = m - xd.min()!
        let p = e.map { $0 / sum }
        return (p, p.map { (2 * spread + Double(x.count) + 6) * unitRoundoff * $0 })
    }

    func testSoftmaxOfEachRow() {
        var rng = SplitMix64(seed: 31)
        let rows = 3
        for n in [1, 3, 7, 33, 129] {
            let x = rng.floats(rows * n, in: -8...8)
            var expected = [Double](), bounds = [Double]()
            for r in 0..<rows {
                let (p, b) = naiveSoftmax(x[r * n..<(r + 1) * n])
                expected += p
                bounds += b
            }
            var out = x
            pk_softmax(&out, rows, n)
            assertWithin(out, expected, bounds: bounds, "n=\(n)")
        }
    }

    /// Each row over its own prefix; the entries past it become exactly 0.
    func testCausalSoftmaxUsesEachRowsPrefix() {
        var rng = SplitMix64(seed: 32)
        let ld = 13, valid = [1, 4, 7, 13, 10]
        let x = rng.floats(valid.count * ld, in: -8...8)
        var expected = [Double](), bounds = [Double]()
        for (r, n) in valid.enumerated() {
            let (p, b) = naiveSoftmax(x[r * ld..<r * ld + n])
            expected += p + [Double](repeating: 0, count: ld - n)
            bounds += b + [Double](repeating: 0, count: ld - n)
        }
        var out = x
        pk_softmax_causal(&out, ld, valid, valid.count)
        assertWithin(out, expected, bounds: bounds)
    }

    /// x − logsumexp(x): the f32 shift by the max is off by u·spread, which the (double) sum and
    /// its log carry over; then log's cast to f32, adding the max and subtracting from x each
    /// round once: |Δ| ≤ u·(spread + |log sum| + |lse| + |out|), +1u of |out| slack.
    func testLogSoftmaxMatchesNaiveLoop() {
        var rng = SplitMix64(seed: 33)
        for n in [1, 3, 7, 33, 129, 32003] {
            let x = rng.floats(n, in: -20...20), xd = x.map(Double.init), m = xd.max()!
            let logSum = log(xd.reduce(0) { $0 + exp($1 - m) }), lse = m + logSum
            let expected = xd.map { $0 - lse }
            let spread = m - xd.min()!
            let bounds = expected.map { u * (spread + abs(logSum) + abs(lse) + 2 * abs($0)) }
            var out = x
            pk_log_softmax(&out, n)
            assertWithin(out, expected, bounds: bounds, "n=\(n)")
        }
    }
}
