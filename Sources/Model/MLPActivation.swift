import Checkpoint
import Kernels
import PolyKernels

/// The MLP activation of one layer: the PolyCom polynomials with their learned
/// coefficients, or a fixed function. Applied in place to rows of width F.
public struct MLPActivation: Sendable {
    public let kind: Activation
    /// PolyCom coefficients [3] (w0 multiplies the cubic term) and bias [1], F32; nil for
    /// fixed functions. Read at every call, so the values in the tensor are the ones used.
    public let weight: Tensor?, bias: Tensor?
    /// PolyNorm's norm has no learned scale and a fixed epsilon.
    public static let polyNormEps: Float = 1e-6

    public init(kind: Activation, weight: Tensor? = nil, bias: Tensor? = nil) {
        precondition(kind.isPolynomial == (weight != nil && bias != nil), "\(kind) needs coefficients exactly when polynomial")
        precondition(weight.map { $0.dtype == .f32 && $0.count == 3 } ?? true, "activation weight must be F32 [3]")
        precondition(bias.map { $0.dtype == .f32 && $0.count == 1 } ?? true, "activation bias must be F32 [1]")
        (self.kind, self.weight, self.bias) = (kind, weight, bias)
    }

    /// `act_fn.weight` / `act_fn.bias` under `prefix` (e.g. `model.layers.3.mlp.`).
    func parameters(_ prefix: String) -> [Parameter] {
        guard let weight, let bias else { return [] }
        return [Parameter(prefix + "act_fn.weight", weight), Parameter(prefix + "act_fn.bias", bias)]
    }

    /// x [rows, width] → act(x), in place, rows split over `threads` when they are many.
    public func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, threads: Int = 1) {
        let kind = kind, x = UnsafeSendable(x)
        let w = weight.map { $0.f32 }.map { ($0[0], $0[1], $0[2]) }, b = bias?.f32[0] ?? 0
        WorkerPool.forEachRowBlock(rows: rows, width: width, threads: threads) { block in
            let p = x.pointer + block.lowerBound * width, n = block.count * width
            switch kind {
            case .polynorm: pk_polynorm(p, p, block.count, width, w!.0, w!.1, w!.2, b, MLPActivation.polyNormEps)
            case .polyrelu: pk_polyrelu(p, p, n, w!.0, w!.1, w!.2, b)
            case .relu: pk_relu(p, p, n)
            case .gelu: pk_gelu(p, p, n)
            case .geluTanh, .geluNew: pk_gelu_tanh(p, p, n)
            case .silu: pk_silu(p, p, n)
            }
        }
    }

    /// Gated MLP: up ← act(gate) · up, in place on `up`.
    public func applyGated(gate: UnsafePointer<Float>, up: UnsafeMutablePointer<Float>, count: Int) {
        let act: pk_gate_activation
        switch kind {
        case .silu: act = .PK_GATE_SILU
        case .gelu: act = .PK_GATE_GELU
        case .relu: act = .PK_GATE_RELU
        case .geluTanh, .geluNew: act = .PK_GATE_GELU_TANH
        case .polynorm, .polyrelu: preconditionFailure("PolyCom activations are not gated")
        }
        pk_gated(up, gate, up, count, act)
    }
}
