import Foundation
import Model
import PolyKernels
import TestSupport
import XCTest

/// attention_gemm.c against naive loops in Double: every output within the summation bound
/// (n + 2)·u·Σ|terms|, and nothing written past each row's width in the strided outputs.
final class AttentionGemmKernelTests: XCTestCase {
    let u = unitRoundoff
    let sentinel: Float = 12345

    /// Query rows around the 6-row tiles, keys around the 4-key tiles, head dimensions with and
    /// without a partial 16-lane vector, every operand strided.
    func testScoresMatchNaiveProduct() throws {
        var rng = SplitMix64(seed: 71)
        for hd in [16, 24, 64, 100, 128] {
            for (rows, keys) in [(1, 1), (5, 3), (6, 4), (7, 9), (13, 37), (20, 100)] {
                let ldq = hd + 5, ldk = 3 * hd + 1, lds = keys + 2, scale: Float = 0.09
                let q = rng.floats(rows * ldq, in: -2...2), k = rng.floats(keys * ldk, in: -2...2)
                var s = [Float](repeating: sentinel, count: rows * lds)
                guard pk_attn_scores(&s, lds, q, ldq, k, ldk, rows, keys, hd, scale) == 0 else {
                    throw XCTSkip("this CPU has no AVX-512: prefill attention keeps OpenBLAS")
                }
                for i in 0..<rows {
                    for j in 0..<keys {
                        let terms = (0..<hd).map { Double(q[i * ldq + $0]) * Double(k[j * ldk + $0]) * Double(scale) }
                        let want = terms.reduce(0, +), bound = Double(hd + 2) * u * terms.reduce(0) { $0 + abs($1) } + 1e-30
                        XCTAssertLessThanOrEqual(abs(Double(s[i * lds + j]) - want), bound, "hd \(hd) \(rows)×\(keys) [\(i), \(j)]")
                    }
                    for j in keys..<lds { XCTAssertEqual(s[i * lds + j], sentinel, "padding [\(i), \(j)]") }
                }
            }
        }
    }

    func testContextMatchesNaiveProduct() throws {
        var rng = SplitMix64(seed: 72)
        for hd in [16, 24, 64, 100, 128] {
            for (rows, keys) in [(1, 1), (5, 3), (6, 4), (7, 9), (13, 37), (20, 100), (3, 300)] {
                let ldp = keys + 3, ldv = 2 * hd + 7, ldo = hd + 4
                let p = rng.floats(rows * ldp, in: 0...1), v = rng.floats(keys * ldv, in: -2...2)
                // Written, then added to what is there (the second run of a shared prefix's keys).
                let start = rng.floats(rows * ldo, in: -1...1)
                for accumulate in [false, true] {
                    var out = accumulate ? start : [Float](repeating: sentinel, count: rows * ldo)
                    if accumulate { for i in 0..<rows { for d in hd..<ldo { out[i * ldo + d] = sentinel } } }
                    guard pk_attn_context(&out, ldo, p, ldp, v, ldv, rows, keys, hd, accumulate ? 1 : 0) == 0 else {
                        throw XCTSkip("this CPU has no AVX-512: prefill attention keeps OpenBLAS")
                    }
                    for i in 0..<rows {
                        for d in 0..<hd {
                            let terms = (0..<keys).map { Double(p[i * ldp + $0]) * Double(v[$0 * ldv + d]) }
                                + (accumulate ? [Double(start[i * ldo + d])] : [])
                            let want = terms.reduce(0, +), bound = Double(keys + 3) * u * terms.reduce(0) { $0 + abs($1) } + 1e-30
                            XCTAssertLessThanOrEqual(abs(Double(out[i * ldo + d]) - want), bound,
                                                     "hd \(hd) \(rows)×\(keys) [\(i), \(d)] accumulate \(accumulate)")
                        }
                        for d in hd..<ldo { XCTAssertEqual(out[i * ldo + d], sentinel, "padding [\(i), \(d)]") }
                    }
                }
            }
        }
    }
}
