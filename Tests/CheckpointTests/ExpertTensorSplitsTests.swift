import Checkpoint
import Foundation
import Kernels
import Model
import TestSupport
import XCTest

/// Fused and OLMo-native expert layouts resolve to the canonical per-expert tensors.
final class ExpertTensorSplitsTests: XCTestCase {
    /// Splitting [E, F, D] / [E, 2F, D] / [E, D, F] copies nothing: each expert is a view
    /// on the mapped file.
    func testFusedExpertsAreViewsOnTheFusedTensor() throws {
        for name in ["olmoe-polynorm-e6k3-fused", "olmoe-swiglu-e6k3-fused"] {
            let folder = try CheckpointFolder(path: fixtureModel(name))
            let c = folder.config
            let bound = try folder.bind(OLMoE.weights(c))
            let (F, D) = (c.intermediateSize, c.hiddenSize)
            let p = "model.layers.1.mlp.experts."
            let down = try folder.tensor(p + "down_proj")
            for e in 0..<c.numExperts! {
                let t = try XCTUnwrap(bound[p + "\(e).down_proj.weight"])
                XCTAssertEqual(t.shape, [D, F])
                XCTAssertTrue(t.storage === down.storage)
                XCTAssertEqual(t.bytes.baseAddress, down.bytes.baseAddress! + e * D * F * 4)
            }
            if OLMoE.isGated(c) {
                let gateUp = try folder.tensor(p + "gate_up_proj")
                let gate = try XCTUnwrap(bound[p + "2.gate_proj.weight"]), up = try XCTUnwrap(bound[p + "2.up_proj.weight"])
                XCTAssertEqual(gate.bytes.baseAddress, gateUp.bytes.baseAddress! + 2 * 2 * F * D * 4)
                XCTAssertEqual(up.bytes.baseAddress, gateUp.bytes.baseAddress! + (2 * 2 * F + F) * D * 4)
            } else {
                let up = try folder.tensor(p + "up_proj")
                XCTAssertEqual(bound[p + "4.up_proj.weight"]?.bytes.baseAddress, up.bytes.baseAddress! + 4 * F * D * 4)
            }
        }
    }

    /// Rewrites a per-expert fixture into OLMo's own names: fused att_proj, router.layer,
    /// megablocks w1 / v1 / w2 [E*F, D] with w2 holding each down_proj transposed.
    private func olmoNative(_ name: String) throws -> String {
        let dir = try copyOfFixture(name)
        let c = try ModelConfig.load(path: dir + "/config.json")
        var t = try SafeTensorsFile(path: dir + "/model.safetensors").tensors()
        let (E, F, D) = (c.numExperts!, c.intermediateSize, c.hiddenSize)
        func take(_ n: String) -> Tensor { t.removeValue(forKey: n)! }
        func stack(_ parts: [Tensor]) -> Tensor {
            let values = parts.flatMap { $0.floats() }
            return Tensor(values, shape: [values.count / parts[0].shape[1], parts[0].shape[1]])
        }
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i).", o = "transformer.blocks.\(i)."
            t[o + "att_proj.weight"] = stack(["q", "k", "v"].map { take(p + "self_attn.\($0)_proj.weight") })
            t[o + "attn_out.weight"] = take(p + "self_attn.o_proj.weight")
            t[o + "q_norm.weight"] = take(p + "self_attn.q_norm.weight")
            t[o + "k_norm.weight"] = take(p + "self_attn.k_norm.weight")
            t[o + "attn_norm.weight"] = take(p + "input_layernorm.weight")
            t[o + "ff_norm.weight"] = take(p + "post_attention_layernorm.weight")
            t[o + "ffn.router.layer.weight"] = take(p + "mlp.gate.weight")
            let x = (0..<E).map { p + "mlp.experts.\($0)." }
            if OLMoE.isGated(c) {
                t[o + "ffn.experts.mlp.w1"] = stack(x.map { take($0 + "gate_proj.weight") })
                t[o + "ffn.experts.mlp.v1"] = stack(x.map { take($0 + "up_proj.weight") })
            } else {
                t[o + "ffn.experts.mlp.w1"] = stack(x.map { take($0 + "up_proj.weight") })
                t[o + "act.weight"] = take(p + "mlp.act_fn.weight")
                t[o + "act.bias"] = take(p + "mlp.act_fn.bias")
            }
            // down_proj [D, F] stored transposed as [F, D] blocks.
            let downs = x.map { take($0 + "down_proj.weight").floats() }
            t[o + "ffn.experts.mlp.w2"] = Tensor(downs.flatMap { d in (0..<(F * D)).map { d[($0 % D) * F + $0 / D] } },
                                                  shape: [E * F, D])
        }
        t["transformer.wte.weight"] = take("model.embed_tokens.weight")
        t["transformer.ln_f.weight"] = take("model.norm.weight")
        t["transformer.ff_out.weight"] = take("lm_head.weight")
        XCTAssertFalse(t.keys.contains { $0.hasPrefix("model.") }, "\(t.keys.sorted())")
        try SafeTensorsWriter.write(t, to: dir + "/model.safetensors")
        return dir
    }

    func testOLMoNativeNamesGiveReferenceLogits() throws {
        for name in ["olmoe-swiglu-e8k2", "olmoe-polynorm-e8k2"] {
            let model = try Architectures.load(path: try olmoNative(name))
            let ref = try reference(name)
            for length in [7, 40] {
                let logits = try model.logits(for: try ref.tensor("tokens_\(length)").ints())
                assertClose(logits.buffer.array, try ref.tensor("logits_\(length)").floats(), tolerance: 1e-4,
                            "\(name) OLMo names, length \(length)")
            }
        }
    }

    func testMisshapedMegablocksTensorIsNamed() throws {
        let dir = try olmoNative("olmoe-swiglu-e8k2")
        var t = try SafeTensorsFile(path: dir + "/model.safetensors").tensors()
        t["transformer.blocks.1.ffn.experts.mlp.w2"] = Tensor([Float](repeating: 0, count: 7 * 32 * 64), shape: [7 * 32, 64])
        try SafeTensorsWriter.write(t, to: dir + "/model.safetensors")
        XCTAssertThrowsError(try Architectures.load(path: dir)) {
            XCTAssertTrue("\($0)".contains("transformer.blocks.1.ffn.experts.mlp.w2 is [224, 64], expected [256, 64]"), "\($0)")
        }
    }
}
