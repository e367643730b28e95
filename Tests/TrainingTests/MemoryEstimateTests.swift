import Checkpoint
import Kernels
import Model
import TestSupport
@testable import Training
import XCTest

/// The printed estimate's weights, gradients and optimizer parts are what the stores hold.
final class MemoryEstimateTests: XCTestCase {
    func testEstimateCountsKeptDTypesAndTrainableStateOnly() throws {
        let folder = try CheckpointFolder(path: fixtureModel("polynorm-bf16-sharded"))
        let c = folder.config, specs = try Architectures.of(c).weights(c), bound = try folder.bind(specs)
        let stored = bound.mapValues(\.dtype), all = Set(specs.map(\.name))
        func estimate(frozen: Set<String>, lora: LoRAConfig? = nil) throws -> MemoryEstimate {
            try MemoryEstimate(config: c, specs: specs, stored: stored, frozen: frozen, checkpointBytes: 0, seqLen: 8, batchSize: 1,
                               recompute: false, lora: lora)
        }
        for frozen in [Set<String>(), Set(all.filter { $0.hasPrefix("model.layers.1.") || $0.hasPrefix("lm_head") })] {
            let store = try ParameterStore(specs, values: bound, frozen: frozen), e = try estimate(frozen: frozen)
            XCTAssertEqual(e.weights, store.weightBytes)
            XCTAssertEqual(e.gradients, 4 * store.trainableCount)
            XCTAssertEqual(e.optimizer, 8 * store.trainableCount)
        }
        let lora = LoRAConfig(rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"])
        let base = try ParameterStore(specs, values: bound, frozen: all)
        let adapters = try LoRAAdapters(config: lora, baseSpecs: specs, rows: 8, seed: 0)
        let e = try estimate(frozen: [], lora: lora)
        XCTAssertEqual(e.weights, base.weightBytes + adapters.store.weightBytes)
        XCTAssertEqual(e.gradients, 4 * adapters.store.trainableCount)
        XCTAssertEqual(e.optimizer, 8 * adapters.store.trainableCount)
        XCTAssertLessThan(base.weightBytes, 4 * base.parameterCount * 6 / 10, "the bf16 matrices are held in 2 bytes")
    }
}
