import Kernels
import PolyKernels

/// One expert: PolyCom's plain MLP down(act(up(x))) or the gated down(act(gate(x)) · up(x)).
public struct Expert: Sendable {
    /// [F, D]
    public let up: Matrix
    /// [D, F]
    public let down: Matrix
    /// [F, D], gated experts only.
    public let gate: Matrix?

    public init(up: Matrix, down: Matrix, gate: Matrix?) {
        (self.up, self.down, self.gate) = (up, down, gate)
    }
}

/// OLMoE sparse block: out = Σ_k weight_k · expert_k(x) over each token's routed experts.
///
/// Tokens are grouped by expert so each expert runs one GEMM over all its tokens (weights
/// read once per pass, not once per token); in decode only the k chosen experts' weights
/// are touched. Weights stay in their stored dtype (bf16 experts are never widened whole).
public struct MixtureOfExperts: FeedForward {
    public let router: Router
    public let experts: [Expert]
    /// Shared by all experts of the layer (PolyNorm: one learned polynomial per layer).
    public let activation: MLPActivation
    public let layer: Int
    public let stats: RouterStats?

    public init(router: Router, experts: [Expert], activation: MLPActivation, layer: Int, stats: RouterStats?) {
        precondition(router.experts == experts.count, "router has \(router.experts) outputs for \(experts.count) experts")
        (self.router, self.experts, self.activation, self.layer, self.stats) = (router, experts, activation, layer, stats)
    }

    public func parameters(_ prefix: String) -> [Parameter] {
        var out = [Parameter(prefix + "gate.weight", router.gate)]
        for (e, expert) in experts.enumerated() {
            let x = prefix + "experts.\(e)."
            out += [Parameter(x + "up_proj.weight", expert.up, access: .routed),
                    Parameter(x + "down_proj.weight", expert.down, access: .routed)]
            if let gate = expert.gate { out.append(Parameter(x + "gate_proj.weight", gate, access: .routed)) }
        }
        return out + activation.parameters(prefix)
    }

    public func forward(_ x: UnsafePointer<Float>, tokens N: Int, pass: ForwardPass, out: UnsafeMutablePointer<Float>) {
        let D = router.gate.cols
        let routing = router.route(x, tokens: N, pass: pass)
        stats?.record(layer: layer, routing)
        let groups = routing.grouped(experts: experts.count)
        out.update(repeating: 0, count: N * D)

        let active = groups.indices.filter { !groups[$0].isEmpty }
        let most = groups.map(\.count).max() ?? 0
        let F = experts.first?.up.rows ?? 0, gatedF = experts.first?.gate == nil ? 0 : F
        let work = pass.work, options = pass.options
        // Small groups (decode, short prompts) run on our own kernels, whose rows split over
        // cores with a fork and join per product: there, whole experts on separate cores
        // join once per layer instead. Large groups keep sgemm (its own threads) one expert
        // at a time; an observer sees the experts in order.
        let workers = pass.observer == nil && most < Matrix.panelThreshold ? min(options.threads, active.count) : 1
        // Each worker's gathered inputs and hidden rows; every expert's outputs kept until
        // they are summed.
        var offsets = [Int](repeating: 0, count: experts.count), total = 0
        for e in active { (offsets[e], total) = (total, total + groups[e].count) }
        let xs = work.buffer(.expertIn, workers * most * D), hidden = work.buffer(.up, workers * most * F)
        let gated = work.buffer(.gate, workers * most * gatedF), ys = work.buffer(.expertOut, total * D)
        let run = { (worker: Int, e: Int, options: ComputeOptions) in
            self.expert(e, group: groups[e], x: x, xs: xs + worker * most * D, hidden: hidden + worker * most * F,
                        gated: gated + worker * most * gatedF, out: ys + offsets[e] * D, pass: pass, options: options)
        }
        if workers > 1 {
            let single = { var o = options; o.threads = 1; return o }()
            WorkerPool.shared(threads: workers).run(parts: workers) { w in
                for i in stride(from: w, to: active.count, by: workers) { run(w, active[i], single) }
            }
        } else {
            for e in active { run(0, e, options) }
        }
        // Expert order then token order, as transformers' index_add_, so sums round alike
        // however the experts were spread over cores.
        for e in active {
            for (i, r) in groups[e].enumerated() { pk_scale_add(out + r.token * D, ys + (offsets[e] + i) * D, r.weight, D) }
        }
    }

    /// Expert e on its tokens: out[n, D] = expert(x[group's tokens]), through the caller's
    /// buffers xs [n, D], hidden and gated [n, F].
    private func expert(_ e: Int, group: [(token: Int, weight: Float)], x: UnsafePointer<Float>,
                        xs: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>, gated: UnsafeMutablePointer<Float>,
                        out: UnsafeMutablePointer<Float>, pass: ForwardPass, options: ComputeOptions) {
        let n = group.count, expert = experts[e], D = router.gate.cols, F = expert.up.rows
        for (i, r) in group.enumerated() { (xs + i * D).update(from: x + r.token * D, count: D) }
        expert.up.apply(xs, tokens: n, into: hidden, options: options)
        pass.observeLayer("mlp.experts.\(e).up", hidden, [n, F])
        if let gate = expert.gate {
            gate.apply(xs, tokens: n, into: gated, options: options)
            pass.observeLayer("mlp.experts.\(e).gate", gated, [n, F])
            activation.applyGated(gate: gated, up: hidden, count: n * F)
        } else {
            activation.apply(hidden, rows: n, width: F)
        }
        pass.observeLayer("mlp.experts.\(e).act", hidden, [n, F])
        expert.down.apply(hidden, tokens: n, into: out, options: options)
    }
}
