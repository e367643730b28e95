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

    /// pk_log_softmax_top1 gives what pk_log_softmax leaves at the token and at the first
    /// maximum of the log-softmaxed row, bit for bit: rows with ties (the first of equals
    /// wins), -inf entries, logits that x − lse rounds to one log-prob, and a NaN row (all
    /// NaN, best 0).
    func testTop1IsTheFullLogSoftmaxsEntry() {
        var rng = SplitMix64(seed: 34)
        var rows: [[Float]] = [1, 2, 15, 16, 17, 100, 4096].map { rng.floats($0, in: -12...12) }
        rows.append((0..<300).map { Float($0 % 7) })                       // ties, first of equals
        // Logits within 1e-8 of each other: x − lse rounds them all to one log-prob, so the
        // first entry is the greedy one, not the largest logit (index 2).
        rows.append([2e-9, 1e-9, 5e-9, 3e-9] + [Float](repeating: 0, count: 20))
        rows.append([-.infinity, 2, -.infinity, 2, 1])
        rows.append([1, .nan, 3, 3])
        for (r, x) in rows.enumerated() {
            var full = x
            pk_log_softmax(&full, full.count)
            let first = full.indices.reduce(0) { full[$1] > full[$0] ? $1 : $0 }
            for token in Set([0, x.count / 2, x.count - 1]) {
                var lp: Float = 0, best = 0, bestLp: Float = 0
                pk_log_softmax_top1(x, x.count, token, &lp, &best, &bestLp)
                XCTAssertEqual(lp.bitPattern, full[token].bitPattern, "row \(r) token \(token)")
                XCTAssertEqual(best, first, "row \(r)")
                XCTAssertEqual(bestLp.bitPattern, full[first].bitPattern, "row \(r)")
            }
        }
    }
}
