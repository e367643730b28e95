import Checkpoint
import Kernels
import Model
import TestSupport
import XCTest

/// --weights q8 on every fixture against PyTorch/transformers' f32 reference logits (issue
/// 13's bounds): top-1 agreement ≥ 99% of positions and max |Δ log-prob| ≤ 0.15.
final class Q8ModelTests: XCTestCase {
    static let fixtures = DenseModelTests.fixtures.map(\.name) + MoEModelTests.fixtures

    func logSoftmax(_ row: ArraySlice<Float>) -> [Double] {
        let m = Double(row.max()!), s = log(row.reduce(0.0) { $0 + exp(Double($1) - m) })
        return row.map { Double($0) - m - s }
    }

    /// Positions where a layer routes a token to another set of experts than the reference
    /// (the fixtures' random routers have gaps down to 0.002 in probability, which q8's
    /// rounding of the layers before crosses): they are counted, not bounded.
    func reroutedPositions(_ model: DecoderModel, _ ref: SafeTensorsFile, length: Int) throws -> Set<Int> {
        guard let stats = model.routerStats else { return [] }
        let topk = try ref.tensor("topk_\(length)"), k = topk.shape[2], all = topk.ints()
        var out: Set<Int> = []
        for layer in 0..<model.config.numHiddenLayers {
            let experts = try XCTUnwrap(stats.lastRouting(layer: layer)).experts
            for t in 0..<length {
                let base = (layer * length + t) * k
                if Set(experts[t * k..<(t + 1) * k]) != Set(all[base..<base + k]) { out.insert(t) }
            }
        }
        return out
    }

    func testQ8LogitsAgreeWithReference() throws {
        var positions = 0, agreeing = 0, rerouted = 0, worst = 0.0, worstAt = ""
        for name in Self.fixtures {
            let model = try Architectures.load(path: fixtureModel(name), options: ComputeOptions(weights: .q8))
            XCTAssertTrue(model.layers[0].attention.q.isQ8, name)
            let ref = try reference(name), V = model.config.vocabSize
            var differs = false
            for length in [1, 7, 40] {
                let got = try model.logits(for: try ref.tensor("tokens_\(length)").ints()).buffer.array
                let expected = try ref.tensor("logits_\(length)").floats()
                let skip = try reroutedPositions(model, ref, length: length)
                rerouted += skip.count
                for t in 0..<length where !skip.contains(t) {
                    let g = got[t * V..<(t + 1) * V], e = expected[t * V..<(t + 1) * V]
                    positions += 1
                    if g.firstIndex(of: g.max()!) == e.firstIndex(of: e.max()!) { agreeing += 1 }
                    let d = zip(logSoftmax(g), logSoftmax(e)).map { abs($0 - $1) }.max()!
                    if d > worst { (worst, worstAt) = (d, "\(name) length \(length) position \(t)") }
                    differs = differs || d > 1e-4
                }
            }
            XCTAssertTrue(differs, "\(name): q8 rounding should show")
        }
        print("q8: top-1 \(agreeing)/\(positions), max |Δ logprob| \(worst) at \(worstAt); \(rerouted) MoE positions rerouted")
        XCTAssertGreaterThanOrEqual(Double(agreeing) / Double(positions), 0.99, "\(agreeing) of \(positions) positions agree")
        XCTAssertLessThanOrEqual(worst, 0.15, "at \(worstAt)")
        XCTAssertLessThanOrEqual(rerouted, 4, "q8 reroutes more than the fixtures' near-ties")
    }

    /// Decode through the KV cache (integer kernels) gives the full pass's logits (the same
    /// kernels up to 39 tokens) closely, and the model reports q8's bytes per token.
    func testQ8IncrementalDecodeAndBytes() throws {
        let name = "polynorm-bf16-sharded"
        let model = try Architectures.load(path: fixtureModel(name), options: ComputeOptions(weights: .q8))
        let bf16 = try Architectures.load(path: fixtureModel(name))
        // Matrices: 1 byte + 2/32 for scales instead of 2 bytes per weight.
        let ratio = Double(model.bytesReadPerToken) / Double(bf16.bytesReadPerToken)
        XCTAssertEqual(ratio, 17.0 / 32.0, accuracy: 0.02)
        let tokens = try reference(name).tensor("tokens_40").ints()
        let full = try model.logits(for: Array(tokens[0..<20]))
        let cache = model.makeCache()
        _ = try model.forward([SequenceChunk(cache: cache, tokens: Array(tokens[0..<5]))])
        for t in 5..<20 {
            let step = try model.forward([SequenceChunk(cache: cache, tokens: [tokens[t]])], logits: .last)
            assertClose(step.array(0), full.array(t), tolerance: 1e-4, "decode \(t)")
        }
    }
}
