import Kernels
import PolyKernels

/// One expert's matrices: up [F, D], down [D, F], gate [F, D] (gated experts).
struct ExpertParams {
    let up: Param, down: Param, gate: Param?
}

/// What a sparse block's forward keeps for its backward. Rows of the expert buffers are
/// packed in expert order, then token order (as the inference block and transformers'
/// index_add_ run them), so each expert's rows are contiguous.
final class SparseActivations {
    let logits: FloatBuffer     // [N, E] router logits
    let probs: FloatBuffer      // [N, E] softmax in f32
    var weights: [Float]        // [N, K] combination weights (renormalised when norm_topk_prob)
    var chosen: [Int]           // [N, K] experts, most probable first
    var rowSlot: [Int]          // [N·K] the slot t·K + j each packed row serves
    var expertStart: [Int]      // [E + 1] first packed row of each expert
    let up: FloatBuffer         // [N·K, F]
    let gate: FloatBuffer?      // [N·K, F]
    let act: FloatBuffer        // [N·K, F] down_proj input
    let inv: FloatBuffer        // [N·K, 3] PolyNorm's inverse norms
    let out: FloatBuffer        // [N·K, D] expert outputs before weighting

    init(_ s: SparseShape, N: Int, D: Int, F: Int, gated: Bool) {
        let R = N * s.K
        logits = FloatBuffer(count: N * s.E); probs = FloatBuffer(count: N * s.E)
        weights = []; chosen = []; rowSlot = []; expertStart = []
        up = FloatBuffer(count: R * F); gate = gated ? FloatBuffer(count: R * F) : nil
        act = FloatBuffer(count: R * F); inv = FloatBuffer(count: R * 3); out = FloatBuffer(count: R * D)
    }

    static func floats(_ s: SparseShape, N: Int, D: Int, F: Int, gated: Bool) -> Int {
        2 * N * s.E + N * s.K * ((gated ? 3 : 2) * F + 3 + D + 2)
    }
}

/// The backward's scratch of a sparse block, shared by the layers.
final class SparseScratch {
    let xs: FloatBuffer         // [N·K, D] gathered expert inputs
    let dy: FloatBuffer         // [N·K, D] gradient of the expert outputs
    let dAct: FloatBuffer, dUp: FloatBuffer, dGate: FloatBuffer? // [N·K, F]
    let dxs: FloatBuffer        // [N·K, D]
    let dprobs: FloatBuffer     // [N, E], then the router logits' gradient

    init(_ s: SparseShape, N: Int, D: Int, F: Int, gated: Bool) {
        let R = N * s.K
        xs = FloatBuffer(count: R * D); dy = FloatBuffer(count: R * D)
        dAct = FloatBuffer(count: R * F); dUp = FloatBuffer(count: R * F); dGate = gated ? FloatBuffer(count: R * F) : nil
        dxs = FloatBuffer(count: R * D); dprobs = FloatBuffer(count: N * s.E)
    }

    static func floats(_ s: SparseShape, N: Int, D: Int, F: Int, gated: Bool) -> Int {
        N * s.K * (3 * D + (gated ? 3 : 2) * F) + N * s.E
    }
}

/// Experts per layer and experts per token.
struct SparseShape {
    let E: Int, K: Int
}

/// OLMoE's routed block in training form: router = gate · x, softmax in f32, the top k
/// (renormalised when `normalizeTopK`), out = Σ_k weight_k · expert_k(x). Gradients reach
/// the router through the chosen weights (and the router losses), never through the
/// choice itself; an expert's weights get gradient only from the rows routed to it.
struct SparseBlock {
    let router: Param           // [E, D]
    let experts: [ExpertParams]
    let topK: Int
    let normalizeTopK: Bool
    let D: Int, F: Int

    var E: Int { experts.count }

    /// out[N, D] (overwritten) from x[N, D]; `coef` is the shared PolyNorm's [w0, w1, w2, b].
    func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, saved a: SparseActivations, scratch: SparseScratch,
                 activation: FeedForwardActivation, coef: [Float], N: Int) {
        let K = topK
        router.forward(a.logits.pointer, x, N: N, I: D, O: E)
        a.probs.pointer.update(from: a.logits.pointer, count: N * E)
        pk_softmax(a.probs.pointer, N, E)
        route(a, N: N)
        out.update(repeating: 0, count: N * D)
        let xs = scratch.xs.pointer
        for e in 0..<E {
            let start = a.expertStart[e], n = a.expertStart[e + 1] - start
            guard n > 0 else { continue }
            for i in 0..<n { (xs + i * D).update(from: x + (a.rowSlot[start + i] / K) * D, count: D) }
            let up = a.up.pointer + start * F, gate = a.gate.map { $0.pointer + start * F }, act = a.act.pointer + start * F
            experts[e].up.forward(up, xs, N: n, I: D, O: F)
            if let gate, let g = experts[e].gate { g.forward(gate, xs, N: n, I: D, O: F) }
            activation.forward(out: act, inv: a.inv.pointer + start * 3, up: up, gate: gate, coef: coef, N: n, F: F)
            let y = a.out.pointer + start * D
            experts[e].down.forward(y, act, N: n, I: F, O: D)
            for i in 0..<n {
                let slot = a.rowSlot[start + i]
                pk_scale_add(out + (slot / K) * D, y + i * D, a.weights[slot], D)
            }
        }
    }

    /// The inference router's top-k (strict `>`: the lower index wins a tie), then the
    /// packing of rows by expert.
    private func route(_ a: SparseActivations, N: Int) {
        let K = topK
        a.chosen = [Int](repeating: 0, count: N * K)
        a.weights = [Float](repeating: 0, count: N * K)
        var taken = [Bool](repeating: false, count: E), counts = [Int](repeating: 0, count: E)
        for t in 0..<N {
            let p = a.probs.pointer + t * E
            for e in 0..<E { taken[e] = false }
            for j in 0..<K {
                var best = -1
                for e in 0..<E where !taken[e] && (best < 0 || p[e] > p[best]) { best = e }
                taken[best] = true
                a.chosen[t * K + j] = best
                a.weights[t * K + j] = p[best]
                counts[best] += 1
            }
            if normalizeTopK {
                var sum: Float = 0
                for j in 0..<K { sum += a.weights[t * K + j] }
                for j in 0..<K { a.weights[t * K + j] /= sum }
            }
        }
        a.expertStart = [0]
        for e in 0..<E { a.expertStart.append(a.expertStart[e] + counts[e]) }
        var next = Array(a.expertStart.dropLast())
        a.rowSlot = [Int](repeating: 0, count: N * K)
        for slot in 0..<(N * K) {
            let e = a.chosen[slot]
            a.rowSlot[next[e]] = slot
            next[e] += 1
        }
    }

    /// dx[N, D] += ∂/∂x from dout[N, D]; parameter gradients accumulated. On entry
    /// scratch.dprobs holds the router losses' gradient with respect to the probabilities
    /// (zeros without them); `dlogitsExtra` adds directly to the logits' gradient.
    func backward(dx: UnsafeMutablePointer<Float>, dcoef: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
                  x: UnsafePointer<Float>, saved a: SparseActivations, scratch s: SparseScratch,
                  activation: FeedForwardActivation, coef: [Float], N: Int, dlogitsExtra: (UnsafeMutablePointer<Float>) -> Void) {
        let K = topK
        var dweights = [Float](repeating: 0, count: N * K)
        let xs = s.xs.pointer, dy = s.dy.pointer, dxs = s.dxs.pointer
        for e in 0..<E {
            let start = a.expertStart[e], n = a.expertStart[e + 1] - start
            guard n > 0 else { continue }
            let y = a.out.pointer + start * D
            for i in 0..<n {
                let slot = a.rowSlot[start + i], g = dout + (slot / K) * D
                var dot: Float = 0
                for d in 0..<D { dot += g[d] * y[i * D + d] }
                dweights[slot] = dot
                for d in 0..<D { dy[i * D + d] = a.weights[slot] * g[d] }
            }
            for i in 0..<n { (xs + i * D).update(from: x + (a.rowSlot[start + i] / K) * D, count: D) }
            let up = a.up.pointer + start * F, gate = a.gate.map { $0.pointer + start * F }, act = a.act.pointer + start * F
            let w = experts[e]
            w.down.backward(dx: s.dAct.pointer, dy, act, N: n, I: F, O: D)
            activation.backward(dup: s.dUp.pointer, dgate: s.dGate?.pointer, dcoef: dcoef, dout: s.dAct.pointer, up: up, gate: gate,
                                inv: a.inv.pointer + start * 3, coef: coef, N: n, F: F)
            w.up.backward(dx: dxs, s.dUp.pointer, xs, N: n, I: D, O: F)
            if let g = w.gate {
                g.backward(dx: dxs, s.dGate!.pointer, xs, N: n, I: D, O: F, accumulate: true)
            }
            for i in 0..<n { pk_scale_add(dx + (a.rowSlot[start + i] / K) * D, dxs + i * D, 1, D) }
        }

        // Chosen weights → probabilities: with renormalisation w_j = p_j / S (S the chosen
        // probabilities' sum), ∂L/∂p_j = (∂L/∂w_j − Σ_i ∂L/∂w_i · w_i) / S.
        let dp = s.dprobs.pointer
        for t in 0..<N {
            let row = t * K
            if normalizeTopK {
                var sum: Float = 0, inner: Float = 0
                for j in 0..<K { sum += a.probs[t * E + a.chosen[row + j]]; inner += dweights[row + j] * a.weights[row + j] }
                for j in 0..<K { dp[t * E + a.chosen[row + j]] += (dweights[row + j] - inner) / sum }
            } else {
                for j in 0..<K { dp[t * E + a.chosen[row + j]] += dweights[row + j] }
            }
            // softmax: ∂L/∂z_e = p_e (∂L/∂p_e − Σ_i ∂L/∂p_i p_i), in place.
            let p = a.probs.pointer + t * E, d = dp + t * E
            var dot: Float = 0
            for e in 0..<E { dot += d[e] * p[e] }
            for e in 0..<E { d[e] = p[e] * (d[e] - dot) }
        }
        dlogitsExtra(dp)
        router.backward(dx: dx, dp, x, N: N, I: D, O: E, accumulate: true)
    }
}
