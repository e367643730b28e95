import Foundation
import Kernels
import Model
import PolyKernels
import TestSupport
import XCTest

/// attention.c against naive loops in Double: RoPE and one decode query per head.
final class AttentionKernelTests: XCTestCase {
    let u = unitRoundoff

    /// rotate_half on x[T, heads, hd] with row stride ldx: the padding past heads·hd stays.
    /// Each output is a · c ± b · s: two products and one sum, ≤ 2u·(|a·c| + |b·s|), +1u slack.
    func testRoPEMatchesRotateHalf() {
        var rng = SplitMix64(seed: 41)
        let T = 5, heads = 3
        for hd in [2, 6, 10, 34] {
            let half = hd / 2, ldx = heads * hd + 3
            let x = rng.floats(T * ldx, in: -2...2)
            let angles = rng.floats(T * half, in: -30...30)
            let cos = angles.map { Foundation.cos($0) }, sin = angles.map { Foundation.sin($0) }
            var expected = x.map(Double.init), bounds = [Double](repeating: 0, count: x.count)
            for t in 0..<T {
                for h in 0..<heads {
                    for j in 0..<half {
                        let i1 = t * ldx + h * hd + j, i2 = i1 + half
                        let (a, b) = (Double(x[i1]), Double(x[i2]))
                        let (c, s) = (Double(cos[t * half + j]), Double(sin[t * half + j]))
                        expected[i1] = a * c - b * s
                        expected[i2] = b * c + a * s
                        bounds[i1] = 3 * u * (abs(a * c) + abs(b * s))
                        bounds[i2] = 3 * u * (abs(b * c) + abs(a * s))
                    }
                }
            }
            var out = x
            pk_rope(&out, ldx, cos, sin, T, heads, hd)
            assertWithin(out, expected, bounds: bounds, "hd=\(hd)")
        }
    }

    /// softmax(q · kᵀ · scale) · v over L cached rows `ld` floats apart, on the portable C and
    /// (where the CPU has it) the AVX-512 kernel: head sizes around its 16-lane vectors and
    /// 128-lane passes, key counts around its 8-key tiles; nothing written past out or scores.
    /// The same keys and values split into two runs (a shared prefix and a cache's own,
    /// `pk_attend_runs_isa`) at the first, middle and last position keep the bound.
    ///
    /// Bound: each score is a dot product of hd terms (γ_hd · Σ|q·k| · scale) times scale (1u);
    /// an error δ in the scores moves p_j by at most δ_j + max δ relative; the softmax itself
    /// is (2·spread + L + 6)u (SoftmaxKernelTests); the output sums L products p·v (γ_L).
    func testAttendOneMatchesNaiveAttention() {
        var rng = SplitMix64(seed: 42)
        let families = [KernelFamily.portable] + (KernelFamily.best == .avx512 ? [.avx512] : [])
        for family in families {
            for hd in [1, 5, 16, 33, 47, 128, 129, 200] {  // whole 16-lane blocks, tails, and both
                for L in [1, 3, 7, 8, 9, 33, 129] {
                    let ld = 2 * hd + 1, scale = 1 / Float(hd).squareRoot()
                    let q = rng.floats(hd, in: -3...3)
                    let k = rng.floats(L * ld, in: -3...3), v = rng.floats(L * ld, in: -1...1)
                    var s = [Double](), ds = [Double]()
                    for j in 0..<L {
                        var dot = 0.0, mag = 0.0
                        for i in 0..<hd {
                            dot += Double(q[i]) * Double(k[j * ld + i])
                            mag += abs(Double(q[i]) * Double(k[j * ld + i]))
                        }
                        s.append(dot * Double(scale))
                        ds.append(gamma(hd) * mag * Double(scale) + u * abs(dot * Double(scale)))
                    }
                    let m = s.max()!, e = s.map { exp($0 - m) }, sum = e.reduce(0, +)
                    let p = e.map { $0 / sum }
                    let spread = m - s.min()!, dmax = ds.max()!
                    var expected = [Double](repeating: 0, count: hd), bounds = [Double](repeating: 0, count: hd)
                    for j in 0..<L {
                        let relative = ds[j] + dmax + (2 * spread + Double(L) + 6) * u + gamma(L)
                        for i in 0..<hd {
                            expected[i] += p[j] * Double(v[j * ld + i])
                            bounds[i] += p[j] * abs(Double(v[j * ld + i])) * relative
                        }
                    }
                    let pad = 17
                    var out = [Float](repeating: .nan, count: hd + pad), scores = [Float](repeating: .nan, count: L + pad)
                    pk_attend_one_isa(family.rawValue, &out, q, k, v, ld, L, hd, scale, &scores)
                    assertWithin(Array(out[0..<hd]), expected, bounds: bounds, "\(family) hd=\(hd) L=\(L)")
                    XCTAssertTrue(out[hd...].allSatisfy(\.isNaN) && scores[L...].allSatisfy(\.isNaN), "\(family) hd=\(hd) L=\(L): written past the end")
                    for split in Set([1, L / 2, L - 1]) where split > 0 && split < L {
                        // The runs in separate arrays, as two caches' storage.
                        let k0 = Array(k[0..<split * ld]), v0 = Array(v[0..<split * ld])
                        let k1 = Array(k[(split * ld)...]), v1 = Array(v[(split * ld)...])
                        out = [Float](repeating: .nan, count: hd + pad)
                        scores = [Float](repeating: .nan, count: L + pad)
                        pk_attend_runs_isa(family.rawValue, &out, q, k0, v0, split, k1, v1, L - split, ld, hd, scale, &scores)
                        let where_ = "\(family) hd=\(hd) L=\(L) split at \(split)"
                        assertWithin(Array(out[0..<hd]), expected, bounds: bounds, where_)
                        XCTAssertTrue(out[hd...].allSatisfy(\.isNaN) && scores[L...].allSatisfy(\.isNaN), "\(where_): written past the end")
                    }
                }
            }
        }
    }
}
