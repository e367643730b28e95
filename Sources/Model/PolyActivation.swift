import Checkpoint
import Kernels
import PolyKernels

/// The MLP activation of one layer: the PolyCom polynomials with their learned
/// coefficients, or a fixed function. Applied in place to rows of width F.
public struct MLPActivation: Sendable {
    public let kind: Activation
    /// PolyCom coefficients (w0 multiplies the cubic term) and bias.
    public let w0: Float, w1: Float, w2: Float, b: Float
    /// PolyNorm's norm has no learned scale and a fixed epsilon.
    public static let polyNormEps: Float = 1e-6

    public init(kind: Activation, weight: [Float] = [], bias: [Float] = []) {
        self.kind = kind
        if kind.isPolynomial {
            precondition(weight.count == 3 && bias.count == 1)
            (w0, w1, w2, b) = (weight[0], weight[1], weight[2], bias[0])
        } else {
            (w0, w1, w2, b) = (0, 0, 0, 0)
        }
    }

    /// x [rows, width] → act(x), in place.
    public func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let n = rows * width
        switch kind {
        case .polynorm: pk_polynorm(x, x, rows, width, w0, w1, w2, b, MLPActivation.polyNormEps)
        case .polyrelu: pk_polyrelu(x, x, n, w0, w1, w2, b)
        case .relu: pk_relu(x, x, n)
        case .gelu: pk_gelu(x, x, n)
        case .geluTanh, .geluNew: pk_gelu_tanh(x, x, n)
        case .silu: pk_silu(x, x, n)
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
