import Foundation

/// The router losses of one micro-batch over the router logits of all its layers,
/// concatenated (rows r = L·N, [L·N, E]), p = softmax(logits) in f32:
/// - load balancing, as transformers' `load_balancing_loss_func`: E · Σ_{j<k} Σ_e f[j,e] · P[e],
///   f[j,e] the fraction of rows whose j-th choice is e (no gradient), P[e] the mean of p[:, e];
/// - z-loss (ST-MoE): the mean over rows of logsumexp(logits_r)².
/// The forward records each layer; the backward adds each layer's share of the gradient.
/// Also counts tokens per expert per layer for the run's metrics.
final class RouterLosses {
    let layers: Int, experts: Int, topK: Int
    /// Coefficients of the two losses in the objective (0 switches one off).
    var auxCoefficient: Float
    var zCoefficient: Float

    private var rows = 0
    private var choices: [Double]     // [K, E] rows whose j-th choice is e
    private var probabilitySum: [Double] // [E]
    private var zSum = 0.0
    /// [L, E] tokens routed to each expert since the last `takeCounts()`.
    private var counts: [Int]

    init(layers: Int, experts: Int, topK: Int, aux: Float, z: Float) {
        (self.layers, self.experts, self.topK, auxCoefficient, zCoefficient) = (layers, experts, topK, aux, z)
        choices = [Double](repeating: 0, count: topK * experts)
        probabilitySum = [Double](repeating: 0, count: experts)
        counts = [Int](repeating: 0, count: layers * experts)
    }

    /// Starts a micro-batch.
    func reset() {
        rows = 0
        zSum = 0
        for i in choices.indices { choices[i] = 0 }
        for i in probabilitySum.indices { probabilitySum[i] = 0 }
    }

    /// One layer's routing of N tokens (after its forward).
    func record(layer l: Int, _ a: SparseActivations, N: Int) {
        let E = experts, K = topK
        rows += N
        for t in 0..<N {
            for j in 0..<K {
                let e = a.chosen[t * K + j]
                choices[j * E + e] += 1
                counts[l * E + e] += 1
            }
            for e in 0..<E { probabilitySum[e] += Double(a.probs[t * E + e]) }
            let lse = Self.logSumExp(a.logits.pointer + t * E, E)
            zSum += lse * lse
        }
    }

    var loadBalancing: Double {
        guard rows > 0 else { return 0 }
        let R = Double(rows)
        var sum = 0.0
        for j in 0..<topK { for e in 0..<experts { sum += choices[j * experts + e] / R * probabilitySum[e] / R } }
        return Double(experts) * sum
    }

    var zLoss: Double { rows > 0 ? zSum / Double(rows) : 0 }

    /// aux·lb + z·z-loss of the micro-batch: what it adds to the objective.
    var weighted: Double { Double(auxCoefficient) * loadBalancing + Double(zCoefficient) * zLoss }

    /// dprobs[N, E] += ∂(scale · aux · lb)/∂p for one layer's rows: E · Σ_j count[j, e] / R².
    func addProbabilityGradient(_ dprobs: UnsafeMutablePointer<Float>, N: Int, scale: Float) {
        guard auxCoefficient != 0, rows > 0 else { return }
        let R = Double(rows), E = experts
        let c = Double(scale * auxCoefficient) * Double(E) / (R * R)
        let perExpert = (0..<E).map { e in Float(c * (0..<topK).reduce(0.0) { $0 + choices[$1 * E + e] }) }
        for t in 0..<N { for e in 0..<E { dprobs[t * E + e] += perExpert[e] } }
    }

    /// dlogits[N, E] += ∂(scale · z · z-loss)/∂logits for one layer's rows: 2 · lse_r · p[r, e] / R.
    func addLogitGradient(_ dlogits: UnsafeMutablePointer<Float>, _ a: SparseActivations, N: Int, scale: Float) {
        guard zCoefficient != 0, rows > 0 else { return }
        let E = experts, c = Double(scale * zCoefficient) * 2 / Double(rows)
        for t in 0..<N {
            let lse = Self.logSumExp(a.logits.pointer + t * E, E)
            for e in 0..<E { dlogits[t * E + e] += Float(c * lse) * a.probs[t * E + e] }
        }
    }

    /// Tokens per expert per layer since the last call ([layer][expert]); resets them.
    func takeCounts() -> [[Int]] {
        defer { for i in counts.indices { counts[i] = 0 } }
        return (0..<layers).map { Array(counts[($0 * experts)..<(($0 + 1) * experts)]) }
    }

    static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var m = -Double.infinity
        for i in 0..<n { m = max(m, Double(x[i])) }
        var s = 0.0
        for i in 0..<n { s += Foundation.exp(Double(x[i]) - m) }
        return m + Foundation.log(s)
    }
}
