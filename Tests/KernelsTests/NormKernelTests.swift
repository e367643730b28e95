import Model
import PolyKernels
import TestSupport
import XCTest

/// norm.c and PolyNorm against naive loops in Double, on odd widths and several rows.
final class NormKernelTests: XCTestCase {
    let widths = [1, 3, 7, 33, 129], rows = 3
    let u = unitRoundoff

    /// 1 / √(mean(x²) + eps) of each row, in Double.
    func inverseNorms(_ x: [Double], rows: Int, eps: Float) -> [Double] {
        let n = x.count / rows
        return (0..<rows).map { r in
            1 / (x[r * n..<(r + 1) * n].reduce(0) { $0 + $1 * $1 } / Double(n) + Double(eps)).squareRoot()
        }
    }

    func testRMSNormMatchesNaiveLoop() {
        var rng = SplitMix64(seed: 11)
        let eps: Float = 1e-5
        for n in widths {
            let x = rng.floats(rows * n, in: -2...2), weight = rng.floats(n, in: -2...2)
            let inv = inverseNorms(x.map(Double.init), rows: rows, eps: eps)
            for scaled in [true, false] {
                let expected = (0..<rows * n).map { i in
                    Double(x[i]) * inv[i / n] * (scaled ? Double(weight[i % n]) : 1)
                }
                // The inverse norm: the f32 mean square, + eps, sqrtf and 1/ each round once
                // (the square root halves its input's 2u): 3u. Then · x and · weight: 5u.
                let bounds = expected.map { 6 * u * abs($0) }
                var out = [Float](repeating: .nan, count: rows * n)
                if scaled { pk_rmsnorm(&out, x, weight, rows, n, eps) } else { pk_rmsnorm(&out, x, nil, rows, n, eps) }
                assertWithin(out, expected, bounds: bounds, "n=\(n) weight=\(scaled)")
                // In place, as attention's QK-norm calls it.
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { p in
                    if scaled { pk_rmsnorm(p.baseAddress!, p.baseAddress!, weight, rows, n, eps) } else {
                        pk_rmsnorm(p.baseAddress!, p.baseAddress!, nil, rows, n, eps)
                    }
                }
                XCTAssertEqual(inPlace, out, "in place n=\(n)")
            }
        }
    }

    /// w0·norm(x³) + w1·norm(x²) + w2·norm(x) + b, in place as the MLP calls it.
    func testPolyNormMatchesNaiveLoop() {
        var rng = SplitMix64(seed: 12)
        let eps: Float = 1e-6
        for n in widths {
            let x = rng.floats(rows * n, in: -3...3)
            let c = rng.floats(4, in: -1...1)
            let xd = x.map(Double.init)
            let inv1 = inverseNorms(xd, rows: rows, eps: eps)
            let inv2 = inverseNorms(xd.map { $0 * $0 }, rows: rows, eps: eps)
            let inv3 = inverseNorms(xd.map { $0 * $0 * $0 }, rows: rows, eps: eps)
            var expected = [Double](), bounds = [Double]()
            for i in 0..<rows * n {
                let v = xd[i], r = i / n
                let terms = [Double(c[0]) * inv3[r] * v * v * v, Double(c[1]) * inv2[r] * v * v,
                             Double(c[2]) * inv1[r] * v, Double(c[3])]
                expected.append(terms.reduce(0, +))
                // Each inverse norm 3u, its product with the coefficient 1u, the powers of x
                // up to 2u and the term's product 1u: at most 7u per term; three additions
                // add 3u of the terms' absolute sum.
                bounds.append(10 * u * terms.reduce(0) { $0 + abs($1) })
            }
            var out = x
            out.withUnsafeMutableBufferPointer {
                pk_polynorm($0.baseAddress!, $0.baseAddress!, rows, n, c[0], c[1], c[2], c[3], eps)
            }
            assertWithin(out, expected, bounds: bounds, "n=\(n)")
        }
    }
}
