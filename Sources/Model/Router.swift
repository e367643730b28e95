import Kernels
import PolyKernels

/// OLMoE token choice: router logits = gate · x, softmax in fp32 over all experts, the
/// k most probable experts (renormalised to sum 1 only when `norm_topk_prob`).
public struct Router: Sendable {
    /// [E, D]
    public let gate: Matrix
    public let topK: Int
    public let normalizeTopK: Bool
    public var experts: Int { gate.rows }

    public init(gate: Matrix, topK: Int, normalizeTopK: Bool) {
        precondition(topK > 0 && topK <= gate.rows, "top-k \(topK) of \(gate.rows) experts")
        (self.gate, self.topK, self.normalizeTopK) = (gate, topK, normalizeTopK)
    }

    /// The routing of x[N, D].
    public func route(_ x: UnsafePointer<Float>, tokens N: Int, options: ComputeOptions = ComputeOptions()) -> Routing {
        let probs = FloatBuffer(count: N * experts)
        return route(x, tokens: N, probs: probs.pointer, options: options)
    }

    /// The routing of x[N, D] inside a forward pass: probabilities in the workspace, named
    /// `layers.{i}.mlp.router`.
    func route(_ x: UnsafePointer<Float>, tokens N: Int, pass: ForwardPass) -> Routing {
        let probs = pass.work.buffer(.router, N * experts)
        let routing = route(x, tokens: N, probs: probs, options: pass.options)
        pass.observeLayer("mlp.router", probs, [N, experts])
        return routing
    }

    /// probs[N, E] ← softmax(gate · x) per token, then each token's top k.
    private func route(_ x: UnsafePointer<Float>, tokens N: Int, probs: UnsafeMutablePointer<Float>, options: ComputeOptions) -> Routing {
        let E = experts, K = topK
        gate.apply(x, tokens: N, into: probs, options: options)
        pk_softmax(probs, N, E)
        var chosen = [Int](repeating: 0, count: N * K), weights = [Float](repeating: 0, count: N * K)
        let taken = UnsafeMutablePointer<Bool>.allocate(capacity: E)
        defer { taken.deallocate() }
        for t in 0..<N {
            let p = probs + t * E
            // torch.topk leaves the order of exactly equal probabilities unspecified (on CPU
            // its selection may even skip the lowest tied index); strict `>` makes ours
            // deterministic: the lower expert index wins a tie.
            taken.initialize(repeating: false, count: E)
            for j in 0..<K {
                var best = -1
                for e in 0..<E where !taken[e] && (best < 0 || p[e] > p[best]) { best = e }
                taken[best] = true
                chosen[t * K + j] = best
                weights[t * K + j] = p[best]
            }
            if normalizeTopK {
                var sum: Float = 0
                for j in 0..<K { sum += weights[t * K + j] }
                for j in 0..<K { weights[t * K + j] /= sum }
            }
        }
        return Routing(tokens: N, topK: K, experts: chosen, weights: weights)
    }
}

/// The experts chosen for each of N tokens, most probable first, with their weights.
public struct Routing: Sendable {
    public let tokens: Int
    public let topK: Int
    /// [N, K] expert indices.
    public let experts: [Int]
    /// [N, K] combination weights.
    public let weights: [Float]

    /// Token rows routed to each expert, in token order, with their weights: what one
    /// grouped GEMM per expert needs.
    public func grouped(experts E: Int) -> [[(token: Int, weight: Float)]] {
        var groups = [[(token: Int, weight: Float)]](repeating: [], count: E)
        for t in 0..<tokens {
            for j in 0..<topK { groups[experts[t * topK + j]].append((t, weights[t * topK + j])) }
        }
        return groups
    }
}
