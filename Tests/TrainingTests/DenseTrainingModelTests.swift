import Checkpoint
import Kernels
import Model
import TestSupport
@testable import Training
import XCTest

/// Gradients of whole models against PyTorch autograd (tools/reference/make_training_fixtures.py).
final class DenseTrainingModelTests: XCTestCase {
    static let models = ["polynorm-f32", "polyrelu-tied", "llama-swiglu-gqa"]

    func testEveryGradientTensorMatchesPyTorch() throws {
        for name in Self.models {
            try checkGradients(name, recompute: false)
        }
    }

    func testRecomputationGivesTheSameGradients() throws {
        try checkGradients("polynorm-f32", recompute: true)
    }

    func checkGradients(_ name: String, recompute: Bool) throws {
        let ref = try reference("training-" + name)
        let tokens = try ref.tensor("grad_tokens"), targets = try ref.tensor("grad_targets").ints()
        let (B, T) = (tokens.shape[0], tokens.shape[1])
        let model = try DenseTrainingModel.load(path: fixtureModel(name), seqLen: T, maxSequences: B, recompute: recompute)
        let count = targets.filter { $0 != -100 }.count
        model.store.zeroGrads()
        let loss = try model.accumulateGradients(tokens: tokens.ints().map(Int32.init), targets: targets.map(Int32.init),
                                                 lossScale: 1 / Float(count))
        let refLoss = try ref.tensor("grad_loss").floats()[0]
        XCTAssertEqual(Float(loss) / Float(count), refLoss, accuracy: 1e-5 * refLoss, name)
        var checked = 0
        for slot in model.store.slots {
            let expected = try ref.tensor("grad." + slot.name).floats()
            let got = model.store.tensor(slot.name, in: model.store.grads).floats()
            let scale = expected.map { abs($0) }.max()!
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
        let model = try DenseTrainingModel.load(path: fixtureModel("polynorm-f32"), seqLen: 7, maxSequences: 1)
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
