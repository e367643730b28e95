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

        let most = groups.map(\.count).max() ?? 0
        let F = experts.first?.up.rows ?? 0
        let work = pass.work, options = pass.options
        let xs = work.buffer(.expertIn, most * D), hidden = work.buffer(.up, most * F)
        let gated = work.buffer(.gate, experts.first?.gate == nil ? 0 : most * F), ys = work.buffer(.expertOut, most * D)
        // Expert order then token order, as transformers' index_add_, so sums round alike.
        for (e, group) in groups.enumerated() where !group.isEmpty {
            let n = group.count, expert = experts[e]
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
            expert.down.apply(hidden, tokens: n, into: ys, options: options)
            for (i, r) in group.enumerated() { pk_scale_add(out + r.token * D, ys + i * D, r.weight, D) }
        }
    }
}
