import Checkpoint
import Model
import PolyKernels

/// The MLP activation in training form: forward keeps what backward reads (the
/// pre-activation and PolyNorm's inverse norms), backward beside it. PolyCom
/// coefficients come as [w0, w1, w2, b] and their gradient as four floats.
struct FeedForwardActivation {
    let kind: Activation
    let gated: Bool

    static let polyNormEps = MLPActivation.polyNormEps

    /// The fixed activations' kernel code (PolyCom ones have their own kernels).
    var code: pk_gate_activation {
        switch kind {
        case .silu: return .PK_GATE_SILU
        case .gelu: return .PK_GATE_GELU
        case .relu: return .PK_GATE_RELU
        case .geluTanh, .geluNew, .polynorm, .polyrelu: return .PK_GATE_GELU_TANH
        }
    }

    /// Plain: out = act(up). Gated: out = act(gate) · up. up, gate, out [N, F]; inv [N, 3].
    func forward(out: UnsafeMutablePointer<Float>, inv: UnsafeMutablePointer<Float>?, up: UnsafePointer<Float>,
                 gate: UnsafePointer<Float>?, coef: [Float], N: Int, F: Int) {
        let n = N * F
        if gated { pk_gated(out, gate!, up, n, code); return }
        switch kind {
        case .polynorm: pk_polynorm_forward(out, inv!, up, N, F, coef[0], coef[1], coef[2], coef[3], Self.polyNormEps)
        case .polyrelu: pk_polyrelu(out, up, n, coef[0], coef[1], coef[2], coef[3])
        case .relu: pk_relu(out, up, n)
        case .gelu: pk_gelu(out, up, n)
        case .geluTanh, .geluNew: pk_gelu_tanh(out, up, n)
        case .silu: pk_silu(out, up, n)
        }
    }

    /// dup (and dgate when gated) overwritten from dout; dcoef[4] += coefficient gradients.
    func backward(dup: UnsafeMutablePointer<Float>, dgate: UnsafeMutablePointer<Float>?, dcoef: UnsafeMutablePointer<Float>?,
                  dout: UnsafePointer<Float>, up: UnsafePointer<Float>, gate: UnsafePointer<Float>?,
                  inv: UnsafePointer<Float>?, coef: [Float], N: Int, F: Int) {
        let n = N * F
        if gated { pk_gated_backward(dgate!, dup, dout, gate!, up, n, code); return }
        switch kind {
        case .polynorm: pk_polynorm_backward(dup, dcoef!, dout, up, inv!, N, F, coef[0], coef[1], coef[2])
        case .polyrelu: pk_polyrelu_backward(dup, dcoef!, dout, up, n, coef[0], coef[1], coef[2])
        default: pk_activation_backward(dup, dout, up, n, code)
        }
    }
}
