import Checkpoint
import Kernels
import Model
import TestSupport
@testable import Training
import XCTest

/// Frozen tensors (--freeze, a LoRA base) hold no gradient or AdamW moments, frozen bf16
/// matrices stay bf16, and the trainable tensors' gradients are still PyTorch's.
final class ParameterStoreTests: XCTestCase {
    /// The first layer, the embedding and the LM head frozen.
    func frozenNames(_ specs: [WeightSpec]) -> Set<String> {
        Set(specs.map(\.name).filter { $0.hasPrefix("model.layers.0.") || $0 == "model.embed_tokens.weight" || $0 == "lm_head.weight" })
    }

    func model(_ name: String, frozen: (([WeightSpec]) -> Set<String>)?, T: Int, B: Int) throws -> DecoderTrainingModel {
        let folder = try CheckpointFolder(path: fixtureModel(name))
        let specs = try Architectures.of(folder.config).weights(folder.config)
        let store = try ParameterStore(specs, values: try folder.bind(specs), frozen: frozen?(specs) ?? [])
        return try DecoderTrainingModel(config: folder.config, store: store, seqLen: T, maxSequences: B)
    }

    func gradients(_ m: DecoderTrainingModel, _ tokens: [Int32], _ targets: [Int32]) throws -> Double {
        m.store.zeroGrads()
        let count = targets.filter { $0 != -100 }.count
        return try m.accumulateGradients(tokens: tokens, targets: targets, lossScale: 1 / Float(count), routerScale: 1).ce / Double(count)
    }

    func testFrozenTensorsHaveNoStateAndTheOthersGetPyTorchsGradients() throws {
        let ref = try reference("training-polynorm-f32")
        let tokens = try ref.tensor("grad_tokens"), targets = try ref.tensor("grad_targets").ints().map(Int32.init)
        let m = try model("polynorm-f32", frozen: frozenNames, T: tokens.shape[1], B: tokens.shape[0])
        let store = m.store, frozen = frozenNames(store.slots.map { WeightSpec($0.name, $0.shape) })
        let trainable = store.slots.filter { !frozen.contains($0.name) }
        XCTAssertFalse(frozen.isEmpty)
        XCTAssertEqual(store.trainableCount, trainable.reduce(0) { $0 + $1.count })
        // Each tensor's state starts on a 16-float boundary: nothing beyond the trainable ones.
        XCTAssertEqual(store.grads.count, trainable.reduce(0) { $0 + ($1.count + 15) / 16 * 16 })
        XCTAssertEqual(store.m.count, store.grads.count)
        XCTAssertEqual(store.v.count, store.grads.count)
        for name in frozen { XCTAssertNil(store.grad(name), name) }

        let loss = try gradients(m, tokens.ints().map(Int32.init), targets)
        let refLoss = try ref.tensor("grad_loss").bytes.bindMemory(to: Double.self)[0]
        XCTAssertEqual(loss, refLoss, accuracy: 1e-5 * refLoss)
        for slot in trainable {
            let expected = try ref.tensor("grad." + slot.name).floats(), scale = expected.map { abs($0) }.max()!
            let d = maxAbsDiff(store.tensor(slot.name, in: store.grads).floats(), expected)
            XCTAssert(d <= 1e-3 * scale, "\(slot.name): max |Δ| \(d) vs max |ref| \(scale)")
        }
        XCTAssertEqual(Set(store.tensors(in: store.grads).keys), Set(trainable.map(\.name)))

        // An AdamW step moves the trainable tensors only.
        let before = store.tensors().mapValues { $0.floats() }
        AdamW().step(store, lr: 1e-2, t: 1)
        for slot in store.slots {
            let after = store.tensor(slot.name).floats()
            if frozen.contains(slot.name) { XCTAssertEqual(after, before[slot.name], slot.name) }
            else { XCTAssertNotEqual(after, before[slot.name], slot.name) }
        }
    }

    /// Frozen matrices of a bf16 checkpoint stay bf16 (norms become f32), and the products
    /// through them give the gradients the all-f32 model (bf16 widened at load) gives.
    func testFrozenBF16MatricesStayBF16WithTheSameGradients() throws {
        let ref = try reference("lora-polynorm-bf16-all")
        let tokens = try ref.tensor("grad_tokens").ints().map(Int32.init), targets = try ref.tensor("grad_targets").ints().map(Int32.init)
        let frozenModel = try model("polynorm-bf16-sharded", frozen: frozenNames, T: 16, B: 2)
        let full = try model("polynorm-bf16-sharded", frozen: nil, T: 16, B: 2)
        for slot in frozenModel.store.slots {
            let kept = slot.shape.count == 2 && !slot.trainable
            XCTAssertEqual(slot.dtype, kept ? .bf16 : .f32, slot.name)
            XCTAssertEqual(frozenModel.store.tensor(slot.name).floats(), full.store.tensor(slot.name).floats(), "\(slot.name): same values")
        }
        XCTAssertEqual(full.store.slots.filter { $0.dtype != .f32 }.count, 0, "trainable tensors are f32")
        let count = frozenModel.store.slots.filter { $0.dtype == .bf16 }.reduce(0) { $0 + $1.count }
        XCTAssertEqual(frozenModel.store.weightBytes, full.store.weightBytes - 2 * count)
        let a = try gradients(frozenModel, tokens, targets), b = try gradients(full, tokens, targets)
        XCTAssertEqual(a, b, accuracy: 1e-6 * b)
        for slot in frozenModel.store.slots where slot.trainable {
            let expected = full.store.tensor(slot.name, in: full.store.grads).floats(), scale = expected.map { abs($0) }.max()!
            let d = maxAbsDiff(frozenModel.store.tensor(slot.name, in: frozenModel.store.grads).floats(), expected)
            XCTAssert(d <= 1e-5 * scale, "\(slot.name): max |Δ| \(d) vs max |ref| \(scale)")
        }
    }
}
