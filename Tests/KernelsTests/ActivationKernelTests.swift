import Foundation
import Model
import PolyKernels
import TestSupport
import XCTest

/// activations.c against naive loops in Double, in place as the MLP calls them.
final class ActivationKernelTests: XCTestCase {
    let widths = [1, 3, 7, 33, 129]
    let u = unitRoundoff

    /// The kernel applied in place to a copy of x.
    func inPlace(_ x: [Float], _ kernel: (UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
        var out = x
        out.withUnsafeMutableBufferPointer { kernel($0.baseAddress!, $0.count) }
        return out
    }

    /// Random values in [-6, 6] with zero and both signs of tiny values among them.
    func inputs(_ n: Int, _ rng: inout SplitMix64) -> [Float] {
        var x = rng.floats(n, in: -6...6)
        for (i, v) in [Float(0), -1e-30, 1e-30].enumerated() where i < n { x[i] = v }
        return x
    }

    static func gelu(_ v: Double) -> Double { 0.5 * v * (1 + erf(v / 2.0.squareRoot())) }
    static func geluTanh(_ v: Double) -> Double {
        0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
    }
    static func silu(_ v: Double) -> Double { v / (1 + exp(-v)) }

    // Error bounds of each f32 activation, first order in u:
    // gelu: the argument v/√2 (constant and product) 2u, damped by erf's slope to under 1u;
    //   erff's 1 ulp ≤ 1u; 1 + erf rounds at most 2u; times 0.5·v and its rounding: ≤ 3u·|v|.
    // gelu_tanh: the argument (four roundings, no cancellation) 6u, damped by tanh's slope
    //   sech²(y)·|y| ≤ 0.45 to 2.7u; tanhf's 2 ulp ≤ 2u; 1 + tanh 2u; times 0.5·v: ≤ 4.5u·|v|.
    // silu: expf's 1 ulp ≤ 2u relative, 1 + e then ≤ 3u, the division 1u: ≤ 4u·|silu(v)|.
    // The bounds below add 1u for the second-order terms.
    let activations: [(String, (Double) -> Double, (Double) -> Double)] = [
        ("gelu", gelu, { 4 * unitRoundoff * abs($0) }),
        ("gelu_tanh", geluTanh, { 5 * unitRoundoff * abs($0) }),
        ("silu", silu, { 5 * unitRoundoff * abs(silu($0)) }),
        ("relu", { max($0, 0) }, { _ in 0 }),
    ]

    func testPointwiseActivationsMatchNaiveLoops() {
        var rng = SplitMix64(seed: 21)
        let kernels: [String: (UnsafeMutablePointer<Float>, Int) -> Void] = [
            "gelu": { pk_gelu($0, $0, $1) }, "gelu_tanh": { pk_gelu_tanh($0, $0, $1) },
            "silu": { pk_silu($0, $0, $1) }, "relu": { pk_relu($0, $0, $1) },
        ]
        for n in widths {
            let x = inputs(n, &rng), xd = x.map(Double.init)
            for (name, f, bound) in activations {
                assertWithin(inPlace(x, kernels[name]!), xd.map(f), bounds: xd.map(bound), "\(name) n=\(n)")
            }
        }
    }

    /// act(gate) · up for every pk_gate_activation: the activation's bound times |up|, plus
    /// the product's rounding.
    func testGatedActivationsMatchNaiveLoops() {
        var rng = SplitMix64(seed: 22)
        let kinds: [String: pk_gate_activation] = ["silu": .PK_GATE_SILU, "gelu": .PK_GATE_GELU,
                                                   "relu": .PK_GATE_RELU, "gelu_tanh": .PK_GATE_GELU_TANH]
        for n in widths {
            let gate = inputs(n, &rng), up = rng.floats(n, in: -2...2)
            for (name, f, bound) in activations {
                let expected = (0..<n).map { f(Double(gate[$0])) * Double(up[$0]) }
                let bounds = (0..<n).map { bound(Double(gate[$0])) * abs(Double(up[$0])) + unitRoundoff * abs(expected[$0]) }
                let out = inPlace(up) { pk_gated($0, gate, $0, $1, kinds[name]!) }
                assertWithin(out, expected, bounds: bounds, "gated \(name) n=\(n)")
            }
        }
    }

    /// w0·relu(x)³ + w1·relu(x)² + w2·relu(x) + b: the powers round up to 2u and each term's
    /// product 1u (3u per term); three additions add 3u of the terms' absolute sum.
    func testPolyReLUMatchesNaiveLoop() {
        var rng = SplitMix64(seed: 23)
        for n in widths {
            let x = inputs(n, &rng), c = rng.floats(4, in: -1...1)
            var expected = [Double](), bounds = [Double]()
            for v in x.map({ max(Double($0), 0) }) {
                let terms = [Double(c[0]) * v * v * v, Double(c[1]) * v * v, Double(c[2]) * v, Double(c[3])]
                expected.append(terms.reduce(0, +))
                bounds.append(6 * u * terms.reduce(0) { $0 + abs($1) })
            }
            let out = inPlace(x) { pk_polyrelu($0, $0, $1, c[0], c[1], c[2], c[3]) }
            assertWithin(out, expected, bounds: bounds, "n=\(n)")
        }
    }
}
