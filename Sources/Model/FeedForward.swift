import Kernels

/// The per-token block after attention: a dense MLP or a mixture of experts.
public protocol FeedForward: Sendable {
    /// out[N, D] = FFN(x[N, D]).
    func forward(_ x: UnsafePointer<Float>, tokens: Int, out: UnsafeMutablePointer<Float>)
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

    public func forward(_ x: UnsafePointer<Float>, tokens N: Int, out: UnsafeMutablePointer<Float>) {
        let F = up.rows
        let hidden = FloatBuffer(count: N * F)
        up.apply(x, tokens: N, into: hidden.pointer)
        if let gate {
            let g = FloatBuffer(count: N * F)
            gate.apply(x, tokens: N, into: g.pointer)
            activation.applyGated(gate: g.pointer, up: hidden.pointer, count: N * F)
        } else {
            activation.apply(hidden.pointer, rows: N, width: F)
        }
        down.apply(hidden.pointer, tokens: N, into: out)
    }
}
