import Checkpoint
import Foundation
import Kernels
import Model
import TestSupport
import XCTest

/// The OLMoE fixtures against transformers' OlmoeForCausalLM: logits, routing, greedy tokens.
final class MoEModelTests: XCTestCase {
    static let fixtures = ["olmoe-polynorm-e8k2", "olmoe-polynorm-e6k3-fused", "olmoe-swiglu-e8k2", "olmoe-swiglu-e6k3-fused"]

    func testLogitsAndTopKMatchReference() throws {
        for name in Self.fixtures {
            let model = try Architectures.load(path: fixtureModel(name))
            let stats = try XCTUnwrap(model.routerStats, name)
            let ref = try reference(name)
            for length in [1, 7, 40] {
                let tokens = try ref.tensor("tokens_\(length)").ints()
                let logits = try model.logits(for: tokens)
                let expected = try ref.tensor("logits_\(length)").floats()
                print("\(name) length \(length): max |Δ| = \(maxAbsDiff(logits.buffer.array, expected))")
                assertClose(logits.buffer.array, expected, tolerance: 1e-4, "\(name) length \(length)")

                // [layers, L, k] in torch.topk order; the fixtures have no near-ties.
                let topk = try ref.tensor("topk_\(length)")
                let k = topk.shape[2], all = topk.ints()
                for layer in 0..<model.config.numHiddenLayers {
                    let routing = try XCTUnwrap(stats.lastRouting(layer: layer))
                    XCTAssertEqual(routing.topK, k)
                    XCTAssertEqual(routing.experts, Array(all[(layer * length * k)..<((layer + 1) * length * k)]),
                                   "\(name) length \(length) layer \(layer) top-k")
                }
            }
        }
    }

    /// Prefill runs the grouped experts, decode only the chosen ones.
    func testIncrementalDecodeMatchesFullPass() throws {
        for name in Self.fixtures { try ModelChecks.incrementalDecodeMatchesFullPass(name) }
    }

    func testGreedyContinuationMatchesReference() throws {
        for name in Self.fixtures { try ModelChecks.greedyMatchesReference(name) }
    }

    /// Routing is per token: sequences batched together route as they do alone.
    func testBatchedSequencesMatchSeparateRuns() throws {
        try ModelChecks.batchedMatchesSeparate("olmoe-swiglu-e6k3-fused")
    }

    /// One-token decode reads only the chosen experts: every expert PyTorch did not pick
    /// for the token is filled with NaN and the logits still match.
    func testDecodeTouchesOnlyChosenExperts() throws {
        let name = "olmoe-swiglu-e8k2"
        let ref = try reference(name)
        let topk = try ref.tensor("topk_1").ints(), k = try ref.tensor("topk_1").shape[2]
        let dir = try editedFixture(name) { t in
            for layer in 0..<2 {
                let used = Set(topk[(layer * k)..<((layer + 1) * k)])
                for e in 0..<8 where !used.contains(e) {
                    for m in ["gate", "up", "down"] {
                        let key = "model.layers.\(layer).mlp.experts.\(e).\(m)_proj.weight"
                        t[key] = Tensor([Float](repeating: .nan, count: t[key]!.count), shape: t[key]!.shape)
                    }
                }
            }
        }
        let model = try Architectures.load(path: dir)
        let logits = try model.logits(for: try ref.tensor("tokens_1").ints())
        assertClose(logits.buffer.array, try ref.tensor("logits_1").floats(), tolerance: 1e-4, "unused experts poisoned")
    }

    /// Experts of small groups run on separate cores (each expert on one): with 1, 2 and 3
    /// threads (3: more workers than some layers' chosen experts, uneven shares) the logits
    /// match transformers', and the sums are bit for bit those of one core (expert order
    /// is kept), in prefill and in decode. An observer sees every expert in order.
    func testExpertsOnSeveralCoresMatchReferenceAndOneCore() throws {
        for name in ["olmoe-polynorm-e8k2", "olmoe-swiglu-e6k3-fused"] {
            let ref = try reference(name)
            let tokens = try ref.tensor("tokens_40").ints(), expected = try ref.tensor("logits_40").floats()
            var runs: [[Float]] = []
            for threads in [1, 2, 3] {
                let model = try Architectures.load(path: fixtureModel(name), options: ComputeOptions(threads: threads))
                let full = try model.logits(for: tokens).buffer.array
                assertClose(full, expected, tolerance: 1e-4, "\(name) threads \(threads)")
                let cache = model.makeCache()
                _ = try model.forward([SequenceChunk(cache: cache, tokens: Array(tokens[0..<39]))])
                let step = try model.forward([SequenceChunk(cache: cache, tokens: [tokens[39]])], logits: .last)
                runs.append(full + step.array(0))
            }
            XCTAssertEqual(runs[1], runs[0], "\(name): 2 threads")
            XCTAssertEqual(runs[2], runs[0], "\(name): 3 threads")
        }
        let model = try Architectures.load(path: fixtureModel("olmoe-polynorm-e8k2"), options: ComputeOptions(threads: 2))
        var seen: [String] = []
        _ = try model.logits(for: [1, 2, 3]) { name, _, _ in if name.contains("experts") && name.hasSuffix(".up") { seen.append(name) } }
        let routing = try XCTUnwrap(model.routerStats?.lastRouting(layer: 0))
        let chosen = Set(routing.experts).sorted()
        XCTAssertEqual(seen.filter { $0.hasPrefix("layers.0.") }, chosen.map { "layers.0.mlp.experts.\($0).up" })
    }

    /// Exact ties (identical router rows) go to the lower expert index, deterministically.
    func testRouterBreaksTiesTowardLowerIndex() {
        let D = 4
        var rows: [Float] = []
        for e in 0..<5 { rows += (0..<D).map { e == 1 || e == 3 || e == 4 ? Float($0) : -Float($0) } }
        let router = Router(gate: Matrix(Tensor(rows, shape: [5, D])), topK: 2, normalizeTopK: true)
        let routing = router.route([1, 1, 1, 1], tokens: 1)
        XCTAssertEqual(routing.experts, [1, 3])
        XCTAssertEqual(routing.weights, [0.5, 0.5])
    }

    /// Cumulative counts equal the histogram of PyTorch's choices; reset clears them.
    func testRouterStatsCountTokensPerExpert() throws {
        let name = "olmoe-polynorm-e8k2"
        let model = try Architectures.load(path: fixtureModel(name))
        let stats = try XCTUnwrap(model.routerStats)
        let ref = try reference(name)
        var expected = [[Int]](repeating: [Int](repeating: 0, count: stats.experts), count: stats.layers)
        for length in [7, 40] {
            _ = try model.logits(for: try ref.tensor("tokens_\(length)").ints())
            let topk = try ref.tensor("topk_\(length)").ints(), perLayer = topk.count / stats.layers
            for (i, e) in topk.enumerated() { expected[i / perLayer][e] += 1 }
        }
        let snapshot = stats.snapshot()
        XCTAssertEqual(snapshot.tokensPerExpert, expected)
        XCTAssertEqual(snapshot.tokens(layer: 1, topK: 2), 47)
        stats.reset()
        XCTAssertEqual(stats.snapshot().tokensPerExpert.flatMap { $0 }.reduce(0, +), 0)
        XCTAssertNil(stats.lastRouting(layer: 0))
    }

    /// Every weight stored as BF16: experts stay BF16 in memory and run through both the
    /// grouped path (40 tokens) and decode. Reference: PyTorch on the same bf16-rounded
    /// weights (tools/reference/make_moe_bf16_reference.py); the rounding itself moves the
    /// logits by up to 0.037 from the f32 reference.
    func testBF16ExpertsGroupedAndDecode() throws {
        for name in ["olmoe-polynorm-e8k2", "olmoe-swiglu-e6k3-fused"] {
            let dir = try copyOfFixture(name)
            let tensors = try SafeTensorsFile(path: dir + "/model.safetensors").tensors()
            try SafeTensorsWriter.write(tensors.mapValues { $0.converted(to: .bf16) }, to: dir + "/model.safetensors")
            let model = try Architectures.load(path: dir)
            let moe = try XCTUnwrap(model.layers[0].feedForward as? MixtureOfExperts)
            XCTAssertEqual(moe.experts[0].up.tensor.dtype, .bf16)
            XCTAssertEqual(moe.experts[0].down.tensor.dtype, .bf16)
            XCTAssertEqual(moe.router.gate.tensor.dtype, .bf16)

            let ref = try reference(name + "-bf16")
            let tokens = try ref.tensor("tokens_40").ints(), expected = try ref.tensor("logits_40").floats()
            let V = model.vocabSize
            let full = try model.logits(for: tokens)
            print("\(name) bf16 weights, length 40: max |Δ| = \(maxAbsDiff(full.buffer.array, expected)) "
                  + "(vs f32 reference \(maxAbsDiff(full.buffer.array, try reference(name).tensor("logits_40").floats())))")
            assertClose(full.buffer.array, expected, tolerance: 1e-4, "\(name) bf16 grouped")
            let topk = try ref.tensor("topk_40").ints(), perLayer = topk.count / model.config.numHiddenLayers
            for layer in 0..<model.config.numHiddenLayers {
                XCTAssertEqual(model.routerStats?.lastRouting(layer: layer)?.experts,
                               Array(topk[(layer * perLayer)..<((layer + 1) * perLayer)]), "\(name) bf16 top-k layer \(layer)")
            }
            let cache = model.makeCache()
            _ = try model.forward([SequenceChunk(cache: cache, tokens: Array(tokens[0..<20]))])
            for t in 20..<tokens.count {
                let step = try model.forward([SequenceChunk(cache: cache, tokens: [tokens[t]])], logits: .last)
                assertClose(step.array(0), Array(expected[(t * V)..<((t + 1) * V)]), tolerance: 1e-4, "\(name) bf16 decode \(t)")
            }
        }
    }

    // MARK: Refused checkpoints



    func testTopKLargerThanExpertsIsRefused() throws {
        let dir = try copyOfFixture("olmoe-polynorm-e8k2")
        let path = dir + "/config.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "\"num_experts_per_tok\": 2", with: "\"num_experts_per_tok\": 9")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        assertLoadFails(dir, mentions: ["num_experts_per_tok (9) is larger than num_experts (8)"])
    }

    /// Fused SwiGLU experts under a PolyNorm config: the gate_up tensors do not fit.
    func testExpertLayoutNotMatchingActivationIsNamed() throws {
        let dir = try copyOfFixture("olmoe-swiglu-e6k3-fused")
        let path = dir + "/config.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "\"hidden_act\": \"silu\"", with: "\"hidden_act\": \"polynorm\"")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        assertLoadFails(dir, mentions: ["model.layers.0.mlp.experts.0.up_proj.weight", "model.layers.1.mlp.act_fn.weight",
                                         "unexpected (2): model.layers.0.mlp.experts.gate_up_proj, model.layers.1.mlp.experts.gate_up_proj"])
    }

    func testMissingExpertTensorsAreNamed() throws {
        let dir = try editedFixture("olmoe-swiglu-e8k2") { t in
            t["model.layers.1.mlp.experts.7.gate_proj.weight"] = nil
            t["model.layers.0.mlp.experts.3.down_proj.weight"] = nil
        }
        assertLoadFails(dir, mentions: ["missing (2)", "model.layers.1.mlp.experts.7.gate_proj.weight",
                                         "model.layers.0.mlp.experts.3.down_proj.weight"])
    }

    func testMismatchedExpertShapesAreNamed() throws {
        let perExpert = try editedFixture("olmoe-polynorm-e8k2") { t in
            t["model.layers.0.mlp.experts.5.up_proj.weight"] = Tensor([Float](repeating: 0, count: 47 * 64), shape: [47, 64])
            t["model.layers.1.mlp.gate.weight"] = Tensor([Float](repeating: 0, count: 7 * 64), shape: [7, 64])
        }
        assertLoadFails(perExpert, mentions: ["wrong shape (2)", "model.layers.0.mlp.experts.5.up_proj.weight is [47, 64], expected [48, 64]",
                                               "model.layers.1.mlp.gate.weight is [7, 64], expected [8, 64]"])

        // A fused tensor with one expert too few is named as stored, not as its split parts.
        let fused = try editedFixture("olmoe-swiglu-e6k3-fused") { t in
            t["model.layers.1.mlp.experts.gate_up_proj"] = Tensor([Float](repeating: 0, count: 5 * 64 * 64), shape: [5, 64, 64])
        }
        assertLoadFails(fused, mentions: ["model.layers.1.mlp.experts.gate_up_proj is [5, 64, 64], expected [6, 64, 64]"])
    }
}
