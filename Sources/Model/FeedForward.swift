import Kernels

/// The per-token block after attention: a dense MLP or a mixture of experts.
public protocol FeedForward: Sendable {
    /// out[N, D] = FFN(x[N, D]).
    func forward(_ x: UnsafePointer<Float>, tokens: Int, pass: ForwardPass, out: UnsafeMutablePointer<Float>)
    /// Weights under `prefix` (`model.layers.{i}.mlp.`), checkpoint names.
    func parameters(_ prefix: String) -> [Parameter]
}

/// PolyCom's plain MLP down(act(up(x))), or the gated down(act(gate(x)) · up(x)).
public struct DenseMLP: FeedForward {
    public let up: Matrix
    public let down: Matrix
    public let gate: Matrix?
    public let activation: MLPActivation

    public init(up: Matrix, down: Matrix, gate: Matrix?, activation: MLPActivation) {
        (self.up, self.down, self.gate, self.activation) = (up, down, gate, activation)
    }

    public func parameters(_ prefix: String) -> [Parameter] {
        var out = [Parameter(prefix + "up_proj.weight", up), Parameter(prefix + "down_proj.weight", down)]
        if let gate { out.append(Parameter(prefix + "gate_proj.weight", gate)) }
        return out + activation.parameters(prefix)
    }

    public func forward(_ x: UnsafePointer<Float>, tokens N: Int, pass: ForwardPass, out: UnsafeMutablePointer<Float>) {
        let F = up.rows
        let hidden = pass.work.buffer(.up, N * F)
        if let gate {
            let g = pass.work.buffer(.gate, N * F)
            Matrix.apply([(up, hidden), (gate, g)], to: x, tokens: N, options: pass.options)
            pass.observeLayer("mlp.up", hidden, [N, F])
            pass.observeLayer("mlp.gate", g, [N, F])
            activation.applyGated(gate: g, up: hidden, count: N * F)
        } else {
            up.apply(x, tokens: N, into: hidden, options: pass.options)
            pass.observeLayer("mlp.up", hidden, [N, F])
            activation.apply(hidden, rows: N, width: F, threads: pass.options.threads)
        }
        pass.observeLayer("mlp.act", hidden, [N, F])
        down.apply(hidden, tokens: N, into: out, options: pass.options)
    }
}
