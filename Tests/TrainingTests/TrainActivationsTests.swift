import Foundation
import PolyKernels
import XCTest

/// Backward of the MLP activations against finite differences of naive double loops.
final class TrainActivationsTests: XCTestCase {
    static func act(_ v: Double, _ code: pk_gate_activation) -> Double {
        switch code {
        case .PK_GATE_SILU: return v / (1 + exp(-v))
        case .PK_GATE_GELU: return 0.5 * v * (1 + erf(v / 2.0.squareRoot()))
        case .PK_GATE_RELU: return max(v, 0)
        default: return 0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
        }
    }

    static let codes: [pk_gate_activation] = [.PK_GATE_SILU, .PK_GATE_GELU, .PK_GATE_RELU, .PK_GATE_GELU_TANH]

    /// Values kept away from relu's kink so central differences are exact there.
    let x = randomValues(24, seed: 11, scale: 3).map { abs($0) < 0.05 ? $0 + 0.1 : $0 }
    let g = randomValues(24, seed: 12)

    func testPlainActivationBackwardMatchesFiniteDifferences() {
        for code in Self.codes {
            var dx = [Float](repeating: 0, count: x.count)
            pk_activation_backward(&dx, floats(g), floats(x), x.count, code)
            let fd = numericalGradient({ v in dot(v.map { Self.act($0, code) }, self.g) }, at: x)
            assertGradient(dx, fd, "activation \(code)")
        }
    }

    func testGatedBackwardMatchesFiniteDifferencesAndForwardMatchesNaiveLoop() {
        let up = randomValues(24, seed: 13, scale: 2)
        for code in Self.codes {
            var out = [Float](repeating: 0, count: x.count)
            pk_gated(&out, floats(x), floats(up), x.count, code)
            assertGradient(out, zip(x, up).map { Self.act($0, code) * $1 }, tolerance: 1e-5, "gated forward \(code)")
            var dgate = [Float](repeating: 0, count: x.count), dup = [Float](repeating: 0, count: x.count)
            pk_gated_backward(&dgate, &dup, floats(g), floats(x), floats(up), x.count, code)
            let f = { (gate: [Double], u: [Double]) in dot(zip(gate, u).map { Self.act($0, code) * $1 }, self.g) }
            assertGradient(dgate, numericalGradient({ f($0, up) }, at: x), "dgate \(code)")
            assertGradient(dup, numericalGradient({ f(self.x, $0) }, at: up), "dup \(code)")
        }
    }

    func testPolyReLUBackwardMatchesFiniteDifferences() {
        let c = [0.6, -0.4, 0.9, 0.1]
        func naive(_ v: [Double], _ c: [Double]) -> [Double] {
            v.map { let r = max($0, 0); return c[0] * r * r * r + c[1] * r * r + c[2] * r + c[3] }
        }
        var out = [Float](repeating: 0, count: x.count)
        pk_polyrelu(&out, floats(x), x.count, 0.6, -0.4, 0.9, 0.1)
        assertGradient(out, naive(x, c), tolerance: 1e-5, "forward")
        var dx = [Float](repeating: 0, count: x.count), dcoef: [Float] = [0, 0, 0, 0]
        pk_polyrelu_backward(&dx, &dcoef, floats(g), floats(x), x.count, 0.6, -0.4, 0.9)
        assertGradient(dx, numericalGradient({ dot(naive($0, c), self.g) }, at: x), "dx")
        assertGradient(dcoef, numericalGradient({ dot(naive(self.x, $0), self.g) }, at: c), "dcoef")
    }
}
