import PolyKernels
@testable import Training
import XCTest

/// RoPE, causal softmax and grouped-query attention: forward against naive loops, backward
/// against finite differences of them.
final class CausalAttentionTests: XCTestCase {
    func naiveRoPE(_ x: [Double], cos c: [Double], sin s: [Double], T: Int, heads: Int, hd: Int) -> [Double] {
        var y = x
        let half = hd / 2
        for t in 0..<T {
            for h in 0..<heads {
                for j in 0..<half {
                    let i = t * heads * hd + h * hd + j
                    let x1 = x[i], x2 = x[i + half], cj = c[t * half + j], sj = s[t * half + j]
                    y[i] = x1 * cj - x2 * sj
                    y[i + half] = x2 * cj + x1 * sj
                }
            }
        }
        return y
    }

    func testRoPEBackwardMatchesFiniteDifferences() {
        let (T, heads, hd) = (3, 2, 4)
        let angles = (0..<(T * hd / 2)).map { Double($0 / (hd / 2)) * 0.7 + Double($0 % (hd / 2)) * 0.3 }
        let c = angles.map { cos($0) }, s = angles.map { sin($0) }
        let x = randomValues(T * heads * hd, seed: 21), g = randomValues(x.count, seed: 22)
        var dx = floats(g)
        pk_rope_backward(&dx, heads * hd, floats(c), floats(s), T, heads, hd)
        let fd = numericalGradient({ dot(self.naiveRoPE($0, cos: c, sin: s, T: T, heads: heads, hd: hd), g) }, at: x)
        assertGradient(dx, fd, "drope")
    }

    func testSoftmaxBackwardMatchesFiniteDifferences() {
        let T = 4, scale = 0.5
        let scores = randomValues(T * T, seed: 23, scale: 2), g = randomValues(T * T, seed: 24)
        func naive(_ s: [Double]) -> [Double] {
            var p = [Double](repeating: 0, count: T * T)
            for r in 0..<T {
                let m = (0...r).map { s[r * T + $0] * scale }.max()!
                let e = (0...r).map { exp(s[r * T + $0] * scale - m) }, z = e.reduce(0, +)
                for i in 0...r { p[r * T + i] = e[i] / z }
            }
            return p
        }
        var probs = floats(scores.map { $0 * scale })
        pk_softmax_causal(&probs, T, (0..<T).map { $0 + 1 }, T)
        assertGradient(probs, naive(scores), tolerance: 1e-6, "softmax forward")
        var ds = [Float](repeating: 9, count: T * T)
        pk_softmax_causal_backward(&ds, probs, floats(g), T, T, Float(scale))
        assertGradient(ds, numericalGradient({ dot(naive($0), g) }, at: scores), "dscores")
    }

    /// context[b, t, h] = Σ_{u ≤ t} softmax_u(q·k / √hd) v, head h reading KV head h / group.
    func naiveAttention(q: [Double], k: [Double], v: [Double], B: Int, T: Int, H: Int, KV: Int, hd: Int) -> [Double] {
        var out = [Double](repeating: 0, count: B * T * H * hd)
        for b in 0..<B {
            for h in 0..<H {
                let g = h / (H / KV)
                for t in 0..<T {
                    let qi = (b * T + t) * H * hd + h * hd
                    var s = (0...t).map { u -> Double in
                        let ki = (b * T + u) * KV * hd + g * hd
                        return (0..<hd).reduce(0) { $0 + q[qi + $1] * k[ki + $1] } / Double(hd).squareRoot()
                    }
                    let m = s.max()!
                    s = s.map { exp($0 - m) }
                    let z = s.reduce(0, +)
                    for u in 0...t {
                        let vi = (b * T + u) * KV * hd + g * hd
                        for i in 0..<hd { out[qi + i] += s[u] / z * v[vi + i] }
                    }
                }
            }
        }
        return out
    }

    func testGroupedCausalAttentionForwardAndBackward() {
        let (B, T, H, KV, hd) = (2, 5, 4, 2, 4)
        let attention = CausalAttention(heads: H, kvHeads: KV, headDim: hd)
        let q = randomValues(B * T * H * hd, seed: 31), k = randomValues(B * T * KV * hd, seed: 32)
        let v = randomValues(B * T * KV * hd, seed: 33), g = randomValues(q.count, seed: 34)
        var context = [Float](repeating: 0, count: q.count), probs = [Float](repeating: 0, count: B * H * T * T)
        let (qf, kf, vf) = (floats(q), floats(k), floats(v))
        attention.forward(context: &context, probs: &probs, q: qf, k: kf, v: vf, B: B, T: T)
        assertGradient(context, naiveAttention(q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd), tolerance: 1e-5, "forward")

        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 7, count: k.count)
        var dv = [Float](repeating: 7, count: v.count), scratch = [Float](repeating: 0, count: 2 * T * T)
        attention.backward(dq: &dq, dk: &dk, dv: &dv, dcontext: floats(g), probs: probs, q: qf, k: kf, v: vf,
                           B: B, T: T, scratch: &scratch)
        let f = { (q: [Double], k: [Double], v: [Double]) in
            dot(self.naiveAttention(q: q, k: k, v: v, B: B, T: T, H: H, KV: KV, hd: hd), g)
        }
        assertGradient(dq, numericalGradient({ f($0, k, v) }, at: q), "dq")
        assertGradient(dk, numericalGradient({ f(q, $0, v) }, at: k), "dk")
        assertGradient(dv, numericalGradient({ f(q, k, $0) }, at: v), "dv")
    }
}
