import Checkpoint
import Kernels
import Model
import TestSupport
import XCTest

/// What an observer records: every named intermediate, copied, in order.
final class Recorder {
    private(set) var names: [String] = []
    private(set) var values: [String: [Float]] = [:]
    private(set) var shapes: [String: [Int]] = [:]

    var observer: ActivationObserver {
        { [self] name, pointer, shape in
            XCTAssertNil(values[name], "\(name) named twice")
            names.append(name)
            shapes[name] = shape
            values[name] = Array(UnsafeBufferPointer(start: pointer, count: shape.reduce(1, *)))
        }
    }

    func callAsFunction(_ name: String) throws -> [Float] { try XCTUnwrap(values[name], "\(name) was not observed") }
}

/// Every layer's output against transformers' hidden states, so a mismatch names its layer.
final class HiddenStateTests: XCTestCase {
    /// All fixtures (dense and MoE), each layer within 1e-4: the math is f32 for bf16 weights
    /// too (polynorm-bf16-sharded's logits bound is 1e-3, its layers measured under 1e-5).
    static let fixtures = (DenseModelTests.fixtures.map(\.name) + MoEModelTests.fixtures).map { ($0, Float(1e-4)) }

    /// reference/<name>.hidden.safetensors (tools/reference/make_hidden_states.py):
    /// `hidden_L` [n+1, L, D] is transformers' output_hidden_states — embeddings, layers
    /// 0..n-2, then the FINAL NORM of layer n-1 — and `last_layer_L` [L, D] layer n-1's output.
    func testEveryLayerMatchesTransformers() throws {
        XCTAssertEqual(Self.fixtures.count, 11)
        for (name, tolerance) in Self.fixtures {
            let model = try Architectures.load(path: fixtureModel(name))
            let ref = try reference(name), hidden = try reference(name + ".hidden")
            let n = model.config.numHiddenLayers, D = model.config.hiddenSize
            for length in [7, 40] {
                let states = try hidden.tensor("hidden_\(length)")
                XCTAssertEqual(states.shape, [n + 1, length, D])
                let all = states.floats(), size = length * D
                func entry(_ i: Int) -> [Float] { Array(all[(i * size)..<((i + 1) * size)]) }
                let record = Recorder()
                _ = try model.logits(for: try ref.tensor("tokens_\(length)").ints(), observer: record.observer)
                var worst: Float = 0
                func check(_ observed: String, _ expected: [Float]) throws {
                    let got = try record(observed)
                    worst = max(worst, maxAbsDiff(got, expected))
                    assertClose(got, expected, tolerance: tolerance, "\(name) length \(length) \(observed)")
                }
                try check("embed", entry(0))
                for i in 0..<(n - 1) { try check("layers.\(i).out", entry(i + 1)) }
                try check("layers.\(n - 1).out", try hidden.tensor("last_layer_\(length)").floats())
                try check("final_norm", entry(n))
                print("\(name) length \(length): worst layer max |Δ| = \(worst)")
            }
        }
    }

    /// The documented names in order, with their shapes: a gated dense model and a mixture.
    func testNamesAndShapes() throws {
        let dense = try Architectures.load(path: fixtureModel("llama-swiglu-gqa")) // D 64, F 128, 4 / 2 heads of 16
        let record = Recorder()
        _ = try dense.forward([SequenceChunk(cache: dense.makeCache(), tokens: [3, 1, 4, 1, 5])], logits: .last,
                              observer: record.observer)
        var expected = ["embed"]
        for i in 0..<2 {
            expected += ["attn_norm", "attn.q", "attn.k", "attn.v", "attn.context", "attn_out", "attn_residual", "mlp_norm",
                         "mlp.up", "mlp.gate", "mlp.act", "mlp_out", "out"].map { "layers.\(i).\($0)" }
        }
        XCTAssertEqual(record.names, expected + ["final_norm", "logits"])
        XCTAssertEqual(record.shapes["layers.1.attn.q"], [5, 64])
        XCTAssertEqual(record.shapes["layers.1.attn.k"], [5, 32])
        XCTAssertEqual(record.shapes["layers.0.mlp.act"], [5, 128])
        XCTAssertEqual(record.shapes["layers.1.attn.context"], [5, 64])
        for (name, width) in [("attn_out", 64), ("attn_residual", 64), ("mlp.act", 128), ("out", 64)] {
            XCTAssertEqual(record.shapes["layers.1.\(name)"], [1, width], "past the last layer's attention, only the rows that get logits")
        }
        XCTAssertEqual(record.shapes["final_norm"], [1, 64], "only the rows that get logits")
        XCTAssertEqual(record.shapes["logits"], [1, 320])

        let moe = try Architectures.load(path: fixtureModel("olmoe-polynorm-e8k2")) // 8 experts, top-2, F 48
        let tokens = try reference("olmoe-polynorm-e8k2").tensor("tokens_7").ints()
        let seen = Recorder()
        _ = try moe.logits(for: tokens, observer: seen.observer)
        let routing = try XCTUnwrap(moe.routerStats?.lastRouting(layer: 1))
        var perExpert = [Int](repeating: 0, count: 8)
        for e in routing.experts { perExpert[e] += 1 }
        var layer1 = ["attn_norm", "attn.q", "attn.k", "attn.v", "attn.context", "attn_out", "attn_residual", "mlp_norm",
                      "mlp.router"]
        for e in 0..<8 where perExpert[e] > 0 { layer1 += ["mlp.experts.\(e).up", "mlp.experts.\(e).act"] }
        layer1 += ["mlp_out", "out"]
        XCTAssertEqual(seen.names.filter { $0.hasPrefix("layers.1.") }, layer1.map { "layers.1.\($0)" })
        XCTAssertEqual(seen.shapes["layers.1.mlp.router"], [7, 8])
        for e in 0..<8 where perExpert[e] > 0 { XCTAssertEqual(seen.shapes["layers.1.mlp.experts.\(e).act"], [perExpert[e], 48]) }
    }

    /// The named values are the ones the pass computes with, checked with naive loops.
    func testIntermediatesAgreeWithEachOther() throws {
        let model = try Architectures.load(path: fixtureModel("llama-swiglu-gqa"))
        let tokens = try reference("llama-swiglu-gqa").tensor("tokens_7").ints()
        let r = Recorder()
        let logits = try model.logits(for: tokens, observer: r.observer)
        let D = 64, F = 128, eps = model.config.rmsNormEps
        let scale = try XCTUnwrap(model.parameters().first { $0.name == "model.layers.1.input_layernorm.weight" }).tensor.floats()
        let x = try r("layers.0.out"), normed = try r("layers.1.attn_norm")
        for t in 0..<7 {
            let row = x[(t * D)..<((t + 1) * D)]
            let inv = 1 / (row.reduce(0) { $0 + Double($1) * Double($1) } / Double(D) + Double(eps)).squareRoot()
            for j in 0..<D { XCTAssertEqual(normed[t * D + j], Float(Double(row[row.startIndex + j]) * inv) * scale[j], accuracy: 1e-5) }
        }
        let gate = try r("layers.0.mlp.gate"), up = try r("layers.0.mlp.up"), act = try r("layers.0.mlp.act")
        for i in 0..<(7 * F) {
            let g = Double(gate[i])
            XCTAssertEqual(act[i], Float(g / (1 + exp(-g)) * Double(up[i])), accuracy: 1e-5)
        }
        let residual = try r("layers.1.attn_residual"), mlpOut = try r("layers.1.mlp_out"), out = try r("layers.1.out")
        for i in 0..<(7 * D) { XCTAssertEqual(out[i], residual[i] + mlpOut[i]) }
        XCTAssertEqual(try r("logits"), logits.buffer.array)
        XCTAssertEqual(try model.logits(for: tokens).buffer.array, logits.buffer.array, "observing changes nothing")
    }
}
