import Checkpoint
import Kernels
import Model
import TestSupport
@testable import Training
import XCTest

/// Gradients of whole models against PyTorch autograd (tools/reference/make_training_fixtures.py).
final class DecoderTrainingModelTests: XCTestCase {
    static let models = ["polynorm-f32", "polyrelu-tied", "llama-swiglu-gqa"]
    /// PolyNorm experts (per-expert layout, aux + z losses on), SwiGLU experts (fused
    /// layout, norm_topk_prob, GQA, router losses at their defaults) and clip_qkv (losses off).
    static let moeModels = ["olmoe-polynorm-e8k2", "olmoe-swiglu-e6k3-fused", "olmoe-swiglu-e8k2"]

    func testEveryGradientTensorMatchesPyTorch() throws {
        for name in Self.models {
            try checkGradients(name, recompute: false)
        }
    }

    func testEveryMoEGradientTensorMatchesPyTorch() throws {
        for name in Self.moeModels {
            try checkGradients(name, recompute: false)
        }
    }

    func testRecomputationGivesTheSameGradients() throws {
        try checkGradients("polynorm-f32", recompute: true)
        try checkGradients("olmoe-polynorm-e8k2", recompute: true)
    }

    /// The router-loss coefficients the fixture used (steps_recipe ends with aux, z), or the
    /// defaults for dense fixtures.
    static func routerCoefficients(_ ref: SafeTensorsFile) throws -> (Float, Float) {
        let r = try ref.tensor("steps_recipe").bytes.bindMemory(to: Double.self).map { $0 }
        return r.count >= 13 ? (Float(r[11]), Float(r[12])) : (0.01, 0.001)
    }

    func checkGradients(_ name: String, recompute: Bool) throws {
        let ref = try reference("training-" + name)
        let tokens = try ref.tensor("grad_tokens"), targets = try ref.tensor("grad_targets").ints()
        let (B, T) = (tokens.shape[0], tokens.shape[1])
        let (aux, z) = try Self.routerCoefficients(ref)
        let model = try DecoderTrainingModel.load(path: fixtureModel(name), seqLen: T, maxSequences: B, recompute: recompute,
                                                  routerAux: aux, routerZ: z)
        let count = targets.filter { $0 != -100 }.count
        model.store.zeroGrads()
        let pass = try model.accumulateGradients(tokens: tokens.ints().map(Int32.init), targets: targets.map(Int32.init),
                                                 lossScale: 1 / Float(count), routerScale: 1)
        let refLoss = try ref.tensor("grad_loss").bytes.bindMemory(to: Double.self).map { $0 }
        XCTAssertEqual(pass.ce / Double(count), refLoss[0], accuracy: 1e-5 * refLoss[0], name)
        if refLoss.count == 3 {
            XCTAssertEqual(pass.aux, refLoss[1], accuracy: 1e-5 * refLoss[1], "\(name) load-balancing loss")
            XCTAssertEqual(pass.z, refLoss[2], accuracy: 1e-5 * refLoss[2], "\(name) z-loss")
        }
        var checked = 0
        for slot in model.store.slots {
            let expected = try ref.tensor("grad." + slot.name).floats()
            let got = model.store.tensor(slot.name, in: model.store.grads).floats()
            // An expert no token reached has a zero reference gradient: ours must be zero too.
            let scale = max(expected.map { abs($0) }.max()!, Float.leastNormalMagnitude)
            let d = maxAbsDiff(got, expected)
            XCTAssert(d <= 1e-3 * scale, "\(name) \(slot.name): max |Δ| \(d) vs max |ref| \(scale)")
            checked += 1
        }
        XCTAssertEqual(checked, ref.names.filter { $0.hasPrefix("grad.") }.count, "\(name): every reference gradient compared")
    }

    /// The inference model built over the trainer's f32 tensors reads every weight in place
    /// (its parameters are views on the store) and gives the training forward's logits.
    func testInferenceModelReadsTheTrainedWeightsInPlace() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_7").ints()
        let model = try DecoderTrainingModel.load(path: fixtureModel("polynorm-f32"), seqLen: 7, maxSequences: 1)
        _ = try model.loss(tokens: tokens.map(Int32.init), targets: Array(repeating: -100, count: 7))
        assertClose(model.logits.array, try ref.tensor("logits_7").floats(), tolerance: 1e-4, "training forward vs transformers")
        let inference = try Architectures.of(model.config).build(model.config, model.store.tensors(), options: ComputeOptions())
        let parameters = inference.parameters()
        XCTAssertEqual(Set(parameters.map(\.name)), Set(model.store.names))
        for p in parameters {
            XCTAssertEqual(p.tensor.bytes.baseAddress, UnsafeRawPointer(model.store.param(p.name)), "\(p.name) is a copy")
        }
        assertClose(try inference.logits(for: tokens).buffer.array, model.logits.array, tolerance: 1e-5)
    }
}
