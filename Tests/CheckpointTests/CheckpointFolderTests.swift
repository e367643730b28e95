import Checkpoint
import Foundation
import Kernels
import Model
import TestSupport
import XCTest

final class CheckpointFolderTests: XCTestCase {


    func testMissingTensorsAreAllNamed() throws {
        let dir = try editedFixture("polynorm-f32") { t in
            t["model.layers.0.mlp.up_proj.weight"] = nil
            t["model.norm.weight"] = nil
        }
        assertLoadFails(dir, mentions: ["missing (2)", "model.layers.0.mlp.up_proj.weight", "model.norm.weight"])
    }

    func testWrongShapeAndUnexpectedTensorInOneError() throws {
        let dir = try editedFixture("polynorm-f32") { t in
            t["model.layers.1.self_attn.k_proj.weight"] = Tensor([Float](repeating: 0, count: 64 * 3), shape: [3, 64])
            t["model.layers.0.extra.weight"] = Tensor([1], shape: [1])
        }
        assertLoadFails(dir, mentions: ["wrong shape (1)", "model.layers.1.self_attn.k_proj.weight is [3, 64]",
                                         "unexpected (1): model.layers.0.extra.weight"])
    }

    func testRotaryBuffersAreIgnored() throws {
        let dir = try editedFixture("polynorm-f32") { t in
            t["model.layers.0.self_attn.rotary_emb.inv_freq"] = Tensor([1, 2], shape: [2])
        }
        XCTAssertNoThrow(try Architectures.load(path: dir))
    }

    func testMissingConfigAndWeights() throws {
        let dir = temporaryDirectory()
        XCTAssertThrowsError(try CheckpointFolder(path: dir)) { XCTAssertTrue("\($0)".contains("config.json"), "\($0)") }
        try FileManager.default.copyItem(atPath: fixtureModel("polynorm-f32") + "/config.json", toPath: dir + "/config.json")
        XCTAssertThrowsError(try CheckpointFolder(path: dir)) { XCTAssertTrue("\($0)".contains("no model.safetensors"), "\($0)") }
        XCTAssertNoThrow(try CheckpointFolder(path: dir, requireWeights: false))
    }

    /// `--model /nonexistent` used to say "not a directory".
    func testMissingFolderSaysItDoesNotExist() throws {
        XCTAssertThrowsError(try CheckpointFolder(path: "/nonexistent")) { error in
            XCTAssertEqual("\(error)", "/nonexistent: does not exist")
        }
        XCTAssertThrowsError(try CheckpointFolder(path: fixtureModel("polynorm-f32") + "/config.json")) { error in
            XCTAssertTrue("\(error)".contains("not a directory"), "\(error)")
        }
    }

    func testShardIndexProblems() throws {
        let dir = try copyOfFixture("polynorm-bf16-sharded")
        let shards = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".safetensors") }.sorted()
        try FileManager.default.removeItem(atPath: dir + "/" + shards[1])
        XCTAssertThrowsError(try CheckpointFolder(path: dir)) {
            XCTAssertTrue("\($0)".contains("shard '\(shards[1])' does not exist"), "\($0)")
        }
    }

    /// The same weights under Megatron-LM names, with Q, K and V fused and interleaved per
    /// head group, must give the PyTorch reference logits.
    func testMegatronNamesWithFusedQKV() throws {
        let dir = try editedFixture("llama-swiglu-gqa") { t in
            let config = try! ModelConfig.load(path: fixtureModel("llama-swiglu-gqa") + "/config.json")
            let hd = config.headDim, groups = config.numKeyValueHeads, perGroup = config.numAttentionHeads / groups
            let D = config.hiddenSize
            for i in 0..<config.numHiddenLayers {
                let p = "model.layers.\(i)."
                let q = t.removeValue(forKey: p + "self_attn.q_proj.weight")!.floats()
                let k = t.removeValue(forKey: p + "self_attn.k_proj.weight")!.floats()
                let v = t.removeValue(forKey: p + "self_attn.v_proj.weight")!.floats()
                var fused: [Float] = []
                for g in 0..<groups {
                    fused += q[(g * perGroup * hd * D)..<((g + 1) * perGroup * hd * D)]
                    fused += k[(g * hd * D)..<((g + 1) * hd * D)]
                    fused += v[(g * hd * D)..<((g + 1) * hd * D)]
                }
                let m = "model.language_model.encoder.layers.\(i)."
                t[m + "self_attention.query_key_value.weight"] = Tensor(fused, shape: [fused.count / D, D])
                t[m + "self_attention.dense.weight"] = t.removeValue(forKey: p + "self_attn.o_proj.weight")
                t[m + "input_layernorm.weight"] = t.removeValue(forKey: p + "input_layernorm.weight")
            }
            t["model.language_model.embedding.word_embeddings.weight"] = t.removeValue(forKey: "model.embed_tokens.weight")
            t["model.language_model.output_layer.weight"] = t.removeValue(forKey: "lm_head.weight")
        }
        let model = try Architectures.load(path: dir)
        let ref = try reference("llama-swiglu-gqa")
        let logits = try model.logits(for: try ref.tensor("tokens_7").ints())
        assertClose(logits.buffer.array, try ref.tensor("logits_7").floats(), tolerance: 1e-4)
    }
}
