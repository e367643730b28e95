import Checkpoint
import Foundation
import TestSupport
@testable import Training
import XCTest

/// LoRA adapters against Hugging Face PEFT (tools/reference/make_lora_fixtures.py): adapters
/// PEFT trained and saved, their gradients and ten steps continuing them.
final class LoRATests: XCTestCase {
    /// The third case's base is a bf16 checkpoint: it stays bf16 (the fixture's PyTorch
    /// model holds the same values upcast to f32).
    static let cases = [("polynorm-qv", "polynorm-f32"), ("swiglu-all", "llama-swiglu-gqa"), ("polynorm-bf16-all", "polynorm-bf16-sharded")]

    func adapterFolder(_ name: String) -> String { fixturesDirectory + "/adapters/" + name }

    func load(_ name: String, _ base: String, seqLen: Int, sequences: Int) throws -> DecoderTrainingModel {
        let folder = adapterFolder(name)
        return try DecoderTrainingModel.load(path: fixtureModel(base), seqLen: seqLen, maxSequences: sequences,
                                             lora: try LoRAConfig(adapterFolder: folder), adapter: folder)
    }

    func testAdapterGradientsMatchPEFT() throws {
        for (name, base) in Self.cases {
            let ref = try reference("lora-" + name)
            let tokens = try ref.tensor("grad_tokens"), targets = try ref.tensor("grad_targets").ints()
            let model = try load(name, base, seqLen: tokens.shape[1], sequences: tokens.shape[0])
            XCTAssertEqual(Set(model.store.names), Set(ref.names.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) }),
                           "\(name): the trainable tensors are the adapter's, under PEFT's names")
            XCTAssertEqual(model.base.trainableCount, 0, "\(name): base weights frozen")
            XCTAssertEqual(model.base.grads.count + model.base.m.count + model.base.v.count, 0, "\(name): no state for the frozen base")
            let stored = try CheckpointFolder(path: fixtureModel(base)).bind(model.base.slots.map { WeightSpec($0.name, $0.shape) })
            for slot in model.base.slots {
                let keeps = slot.shape.count == 2 && stored[slot.name]!.dtype == .bf16
                XCTAssertEqual(slot.dtype, keeps ? .bf16 : .f32, "\(name) \(slot.name): bf16 matrices stay bf16, the rest is f32")
            }
            let count = targets.filter { $0 != -100 }.count
            model.store.zeroGrads()
            let pass = try model.accumulateGradients(tokens: tokens.ints().map(Int32.init), targets: targets.map(Int32.init),
                                                     lossScale: 1 / Float(count), routerScale: 1)
            let refLoss = try ref.tensor("grad_loss").floats()[0]
            XCTAssertEqual(Float(pass.ce) / Float(count), refLoss, accuracy: 1e-5 * refLoss, name)
            for slot in model.store.slots {
                let expected = try ref.tensor("grad." + slot.name).floats()
                let got = model.store.tensor(slot.name, in: model.store.grads).floats()
                let scale = expected.map { abs($0) }.max()!
                XCTAssertGreaterThan(scale, 0, "\(name) \(slot.name): the fixture's gradient is not zero")
                let d = maxAbsDiff(got, expected)
                XCTAssert(d <= 1e-3 * scale, "\(name) \(slot.name): max |Δ| \(d) vs max |ref| \(scale)")
            }
        }
    }

    /// PEFT LoRA on q_proj, v_proj and the experts' up_proj / down_proj of a PolyNorm MoE
    /// (tools/reference/make_moe_lora_fixtures.py): the objective with the router losses and
    /// every adapter gradient, the frozen router's gradient path included.
    func testExpertAdapterGradientsMatchPEFT() throws {
        let ref = try reference("lora-moe-experts"), folder = adapterFolder("moe-experts")
        let tokens = try ref.tensor("grad_tokens"), targets = try ref.tensor("grad_targets").ints()
        let coef = try ref.tensor("grad_router").bytes.bindMemory(to: Double.self).map { $0 }
        let model = try DecoderTrainingModel.load(path: fixtureModel("olmoe-polynorm-e8k2"), seqLen: tokens.shape[1],
                                                  maxSequences: tokens.shape[0], routerAux: Float(coef[0]), routerZ: Float(coef[1]),
                                                  lora: try LoRAConfig(adapterFolder: folder), adapter: folder)
        let expected = Set(ref.names.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) })
        XCTAssertEqual(Set(model.store.names), expected)
        XCTAssertEqual(model.store.names.filter { $0.contains(".mlp.experts.") }.count, 64, "up and down of 8 experts in 2 layers, A and B")
        let count = targets.filter { $0 != -100 }.count
        model.store.zeroGrads()
        let pass = try model.accumulateGradients(tokens: tokens.ints().map(Int32.init), targets: targets.map(Int32.init),
                                                 lossScale: 1 / Float(count), routerScale: 1)
        let refLoss = try ref.tensor("grad_loss").bytes.bindMemory(to: Double.self).map { $0 }
        XCTAssertEqual(pass.ce / Double(count), refLoss[0], accuracy: 1e-4 * refLoss[0], "cross-entropy")
        XCTAssertEqual(pass.aux, refLoss[1], accuracy: 1e-4 * refLoss[1], "load-balancing loss")
        XCTAssertEqual(pass.z, refLoss[2], accuracy: 1e-4 * refLoss[2], "z-loss")
        for slot in model.store.slots {
            let want = try ref.tensor("grad." + slot.name).floats(), scale = want.map { abs($0) }.max()!
            XCTAssertGreaterThan(scale, 0, "\(slot.name): the fixture's gradient is not zero")
            let d = maxAbsDiff(model.store.tensor(slot.name, in: model.store.grads).floats(), want)
            XCTAssert(d <= 1e-3 * scale, "\(slot.name): max |Δ| \(d) vs max |ref| \(scale)")
        }
    }

    /// A PEFT adapter trained in PyTorch continues in polycom with PyTorch's losses, and the
    /// merged weights are W + (α/r)·B·A of the trained A and B.
    func testTenStepsContinuingAPEFTAdapterMatchPEFT() throws {
        for (name, base) in Self.cases {
            let ref = try reference("lora-" + name)
            let blocks = try ref.tensor("steps_blocks")
            let T = blocks.shape[1], ids = blocks.ints()
            let examples = stride(from: 0, to: ids.count, by: T).map { start -> Example in
                let toks = ids[start..<start + T].map(Int32.init)
                return Example(tokens: toks, targets: Array(toks.dropFirst()) + [-100])
            }
            let rr = try ref.tensor("steps_recipe").bytes.bindMemory(to: Double.self).map { $0 }
            let recipe = TrainingRecipe(
                schedule: LearningRateSchedule(peak: rr[0], warmupSteps: Int(rr[1]), totalSteps: Int(rr[2]), minRatio: rr[3]),
                optimizer: AdamW(beta1: rr[5], beta2: rr[6], eps: rr[7], weightDecay: rr[4]),
                clip: rr[8], batchSize: Int(rr[9]), gradAccum: Int(rr[10]), shuffle: false, seed: 0)
            let model = try load(name, base, seqLen: T, sequences: recipe.batchSize)
            let trainer = try Trainer(model: model, recipe: recipe, examples: examples)
            let losses = try ref.tensor("steps_loss").bytes.bindMemory(to: Double.self).map { $0 }
            let norms = try ref.tensor("steps_grad_norm").bytes.bindMemory(to: Double.self).map { $0 }
            for s in 0..<losses.count {
                let result = try trainer.step()
                XCTAssertEqual(result.loss, losses[s], accuracy: 1e-4 * losses[s], "\(name) step \(s + 1) loss")
                XCTAssertEqual(result.gradNorm, norms[s], accuracy: 1e-4 * norms[s], "\(name) step \(s + 1) grad_norm")
            }
            for slot in model.store.slots {
                let expected = try ref.tensor("trained." + slot.name).floats()
                let d = maxAbsDiff(model.store.tensor(slot.name).floats(), expected)
                XCTAssert(d <= 1e-3 * expected.map { abs($0) }.max()!, "\(name) trained \(slot.name): max |Δ| \(d)")
            }
            try checkMerged(model, name)
        }
    }

    /// merged = W + s · B A by a naive loop over the trained tensors.
    func checkMerged(_ model: DecoderTrainingModel, _ name: String) throws {
        let lora = try XCTUnwrap(model.lora), merged = lora.merged(into: model.base), r = lora.config.rank
        let s = lora.config.scaling
        XCTAssertEqual(Set(merged.keys), Set(model.base.names))
        var adapted = 0
        for baseName in model.base.names {
            let w = model.base.tensor(baseName).floats(), m = try XCTUnwrap(merged[baseName]).floats()
            guard model.store.slot(LoRAAdapters.aName(baseName)) != nil else {
                XCTAssertEqual(m, w, "\(name) \(baseName) unadapted")
                continue
            }
            adapted += 1
            let a = model.store.tensor(LoRAAdapters.aName(baseName)).floats(), b = model.store.tensor(LoRAAdapters.bName(baseName)).floats()
            let I = a.count / r, O = b.count / r
            var expected = w
            for o in 0..<O { for i in 0..<I { var sum: Float = 0; for k in 0..<r { sum += b[o * r + k] * a[k * I + i] }; expected[o * I + i] += s * sum } }
            let d = maxAbsDiff(m, expected)
            XCTAssert(d <= 1e-6 * max(1, expected.map { abs($0) }.max()!), "\(name) merged \(baseName): max |Δ| \(d)")
        }
        XCTAssertEqual(adapted, model.store.slots.count / 2)
    }

    /// A new adapter as PEFT makes one: B zero, A ~ U(±1/√in) (Kaiming-uniform, a = √5), seeded.
    func testNewAdapterIsInitialisedAsPEFT() throws {
        func make(_ seed: UInt64) throws -> DecoderTrainingModel {
            try DecoderTrainingModel.load(path: fixtureModel("polynorm-f32"), seqLen: 4, maxSequences: 1,
                                          lora: LoRAConfig(rank: 8, alpha: 16), seed: seed)
        }
        let model = try make(1), again = try make(1), other = try make(2)
        XCTAssertEqual(model.store.params.array, again.store.params.array, "same seed, same adapter")
        XCTAssertNotEqual(model.store.params.array, other.store.params.array)
        let names = model.store.names
        XCTAssertTrue(names.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"))
        XCTAssertTrue(names.contains("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"))
        XCTAssertFalse(names.contains { $0.contains("k_proj") }, "PEFT's default targets are q_proj and v_proj")
        for slot in model.store.slots {
            let v = model.store.tensor(slot.name).floats()
            if slot.name.hasSuffix("lora_B.weight") { XCTAssertTrue(v.allSatisfy { $0 == 0 }, slot.name); continue }
            let bound = 1 / Float(slot.shape[1]).squareRoot()
            XCTAssertTrue(v.allSatisfy { abs($0) <= bound }, slot.name)
            let std = (v.reduce(0) { $0 + $1 * $1 } / Float(v.count)).squareRoot()
            XCTAssertEqual(std, bound / Float(3).squareRoot(), accuracy: 0.1 * bound, "\(slot.name): uniform spread")
        }
        XCTAssertThrowsError(try DecoderTrainingModel.load(path: fixtureModel("polynorm-f32"), seqLen: 4, maxSequences: 1,
                                                           lora: LoRAConfig(rank: 2, alpha: 4, targets: ["gate_proj"]))) {
            XCTAssertTrue("\($0)".contains("gate_proj"), "\($0)")
        }
    }

    /// What polycom writes reads back as the same adapter (config and tensors).
    func testWrittenAdapterReadsBack() throws {
        let model = try load("swiglu-all", "llama-swiglu-gqa", seqLen: 4, sequences: 1)
        let dir = temporaryDirectory() + "/adapter"
        try model.lora!.write(to: dir, baseModel: "base")
        let config = try LoRAConfig(adapterFolder: dir)
        XCTAssertEqual(config, LoRAConfig(rank: 3, alpha: 12, targets: model.lora!.config.targets.sorted(), dropout: 0))
        let file = try SafeTensorsFile(path: dir + "/adapter_model.safetensors")
        for slot in model.store.slots {
            XCTAssertEqual(try file.tensor(slot.name).floats(), model.store.tensor(slot.name).floats(), slot.name)
        }
    }

    /// Dropout: seeded masks, the same mask for a recomputed layer (so --recompute changes
    /// nothing), none at evaluation (the loss equals the dropout-free model's).
    func testDropoutIsSeededReusedByRecomputationAndOffAtEvaluation() throws {
        let ref = try reference("lora-swiglu-all")
        let tokens = try ref.tensor("grad_tokens").ints().map(Int32.init), targets = try ref.tensor("grad_targets").ints().map(Int32.init)
        let folder = adapterFolder("swiglu-all")
        func model(dropout: Double, recompute: Bool) throws -> DecoderTrainingModel {
            var config = try LoRAConfig(adapterFolder: folder)
            config.dropout = dropout
            return try DecoderTrainingModel.load(path: fixtureModel("llama-swiglu-gqa"), seqLen: 16, maxSequences: 2,
                                                 recompute: recompute, lora: config, adapter: folder, seed: 5)
        }
        func grads(_ m: DecoderTrainingModel) throws -> (Double, [Float]) {
            m.store.zeroGrads()
            let pass = try m.accumulateGradients(tokens: tokens, targets: targets, lossScale: 1, routerScale: 1)
            return (pass.ce, m.store.grads.array)
        }
        let plain = try model(dropout: 0, recompute: false), dropped = try model(dropout: 0.3, recompute: false)
        let (ce0, g0) = try grads(plain), (ce1, g1) = try grads(dropped)
        XCTAssertNotEqual(ce0, ce1, "dropout changes the training loss")
        let (ce2, g2) = try grads(try model(dropout: 0.3, recompute: true))
        XCTAssertEqual(ce1, ce2)
        XCTAssertEqual(maxAbsDiff(g1, g2), 0, accuracy: 1e-6 * (g1.map { abs($0) }.max()!), "recomputed layers reuse the masks")
        XCTAssertNotEqual(g0, g1)
        let eval0 = try plain.loss(tokens: tokens, targets: targets), eval1 = try dropped.loss(tokens: tokens, targets: targets)
        XCTAssertEqual(eval0, eval1, accuracy: 1e-9 * eval0, "no dropout at evaluation")
    }
}
