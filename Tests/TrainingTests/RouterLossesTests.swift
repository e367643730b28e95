import Foundation
@testable import Training
import XCTest

/// The router losses against naive loops, and their logit gradient against central differences.
final class RouterLossesTests: XCTestCase {
    let E = 6, K = 2, N = 5, layers = 2

    func softmax(_ row: ArraySlice<Double>) -> [Double] {
        let m = row.max()!, e = row.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Top-k per row (distinct random logits: no ties).
    func choices(_ logits: [Double]) -> [[Int]] {
        (0..<(logits.count / E)).map { r in Array((0..<E).sorted { logits[r * E + $0] > logits[r * E + $1] }.prefix(K)) }
    }

    /// aux · E Σ_j Σ_e f[j,e] P[e] + z · mean lse², rows of all layers, choices held fixed.
    func naive(_ logits: [Double], chosen: [[Int]], aux: Double, z: Double) -> (lb: Double, z: Double, total: Double) {
        let R = logits.count / E
        var f = [Double](repeating: 0, count: K * E), P = [Double](repeating: 0, count: E), zs = 0.0
        for r in 0..<R {
            let row = logits[(r * E)..<((r + 1) * E)], p = softmax(row)
            for (j, e) in chosen[r].enumerated() { f[j * E + e] += 1 / Double(R) }
            for e in 0..<E { P[e] += p[e] / Double(R) }
            let m = row.max()!, lse = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
            zs += lse * lse / Double(R)
        }
        var lb = 0.0
        for j in 0..<K { for e in 0..<E { lb += f[j * E + e] * P[e] } }
        lb *= Double(E)
        return (lb, zs, aux * lb + z * zs)
    }

    func testLossesAndLogitGradientMatchNaiveLoopsAndFiniteDifferences() throws {
        let logits = randomValues(layers * N * E, seed: 11, scale: 2)
        let chosen = choices(logits)
        let (aux, z): (Float, Float) = (0.3, 0.05)
        let losses = RouterLosses(layers: layers, experts: E, topK: K, aux: aux, z: z)
        losses.reset()
        var saved: [SparseActivations] = []
        for l in 0..<layers {
            let a = SparseActivations(SparseShape(E: E, K: K), N: N, D: 1, F: 1, gated: false)
            for t in 0..<N {
                let row = logits[((l * N + t) * E)..<((l * N + t + 1) * E)], p = softmax(row)
                for e in 0..<E { a.logits[t * E + e] = Float(row[row.startIndex + e]); a.probs[t * E + e] = Float(p[e]) }
            }
            a.chosen = (0..<N).flatMap { chosen[l * N + $0] }
            losses.record(layer: l, a, N: N)
            saved.append(a)
        }
        let ref = naive(logits, chosen: chosen, aux: Double(aux), z: Double(z))
        XCTAssertEqual(losses.loadBalancing, ref.lb, accuracy: 1e-6 * ref.lb)
        XCTAssertEqual(losses.zLoss, ref.z, accuracy: 1e-6 * ref.z)
        XCTAssertEqual(losses.weighted, ref.total, accuracy: 1e-6 * ref.total)
        XCTAssertEqual(losses.takeCounts().map { $0.reduce(0, +) }, [N * K, N * K])

        // Gradient with respect to each layer's logits: probabilities' part through the
        // softmax, then the z-loss part, scaled by 0.5 (a micro-batch weight).
        let scale: Float = 0.5
        var got: [Float] = []
        for a in saved {
            var dp = [Float](repeating: 0, count: N * E)
            losses.addProbabilityGradient(&dp, N: N, scale: scale)
            for t in 0..<N {
                var inner: Float = 0
                for e in 0..<E { inner += dp[t * E + e] * a.probs[t * E + e] }
                for e in 0..<E { dp[t * E + e] = a.probs[t * E + e] * (dp[t * E + e] - inner) }
            }
            losses.addLogitGradient(&dp, a, N: N, scale: scale)
            got += dp
        }
        let numeric = numericalGradient({ x in Double(scale) * self.naive(x, chosen: chosen, aux: Double(aux), z: Double(z)).total },
                                        at: logits)
        assertGradient(got, numeric, "router-loss logit gradient")
    }
}
