import Checkpoint
import Kernels
import Model
import TestSupport
import XCTest

/// `DecoderModel.parameters()`: every weight under its checkpoint name, the values the
/// checkpoint holds, the memory the model computes with.
final class ParametersTests: XCTestCase {
    static let fixtures = DenseModelTests.fixtures.map(\.name) + MoEModelTests.fixtures

    func testParametersAreTheArchitectureTableWithTheCheckpointValues() throws {
        for name in Self.fixtures {
            let folder = try CheckpointFolder(path: fixtureModel(name))
            let c = folder.config
            let arch = try Architectures.of(c)
            let specs = arch.weights(c)
            let bound = try folder.bind(specs, optional: c.tieWordEmbeddings ? ["lm_head.weight"] : [])
            let model = try arch.build(c, bound, options: ComputeOptions())
            let params = model.parameters()
            XCTAssertEqual(params.map(\.name), specs.map(\.name), name)
            XCTAssertEqual(params.map(\.tensor.shape), specs.map(\.shape), name)
            for p in params {
                let stored = try XCTUnwrap(bound[p.name])
                XCTAssertEqual(p.tensor.floats(), stored.floats(), "\(name) \(p.name)")
                if p.tensor.shape.count == 2 {
                    XCTAssertEqual(p.tensor.dtype, stored.dtype, "\(name) \(p.name): matrices keep their dtype")
                    XCTAssertEqual(p.tensor.bytes.baseAddress, stored.bytes.baseAddress, "\(name) \(p.name): a view, not a copy")
                } else {
                    XCTAssertEqual(p.tensor.dtype, .f32, "\(name) \(p.name): norms and coefficients are F32")
                }
            }
            XCTAssertEqual(model.parameterCount, arch.parameterCount(c), name)
            XCTAssertEqual(model.parameterCount.total, specs.reduce(0) { $0 + $1.count }, name)
        }
    }

    /// A model built from owned F32 copies of its parameters (what a trainer keeps) computes
    /// with exactly that memory: poisoning one PolyCom coefficient through parameters()
    /// poisons the logits, restoring it restores them.
    func testParametersAreWhatTheModelReads() throws {
        let name = "polyrelu-tied"
        let loaded = try Architectures.load(path: fixtureModel(name))
        var copies: [String: Tensor] = [:]
        for p in loaded.parameters() { copies[p.name] = Tensor(p.tensor.floats(), shape: p.tensor.shape) }
        let model = try Architectures.of(loaded.config).build(loaded.config, copies, options: ComputeOptions())
        let tokens = try reference(name).tensor("tokens_7").ints()
        let before = try model.logits(for: tokens).buffer.array
        assertClose(before, try reference(name).tensor("logits_7").floats(), tolerance: 1e-4)
        let coefficients = try XCTUnwrap(model.parameters().first { $0.name == "model.layers.1.mlp.act_fn.bias" }).tensor
        XCTAssertEqual(coefficients.bytes.baseAddress, copies["model.layers.1.mlp.act_fn.bias"]?.bytes.baseAddress)
        let bias = UnsafeMutablePointer(mutating: coefficients.f32)
        let saved = bias[0]
        bias[0] = .nan
        XCTAssertTrue(try model.logits(for: tokens).buffer.array.allSatisfy(\.isNaN))
        bias[0] = saved
        XCTAssertEqual(try model.logits(for: tokens).buffer.array, before)
    }

    /// Counted by hand from the configs: polynorm-f32 (D 64, F 176, 3 layers, V 320, untied)
    /// and olmoe-swiglu-e6k3-fused (D 64, F 32, 2 layers, 6 experts top-3, KV 2 heads of 16).
    func testCountsAndBytesReadPerToken() throws {
        let dense = try Architectures.load(path: fixtureModel("polynorm-f32"))
        let layer = 2 * 64 + 4 * 64 * 64 + 2 * 176 * 64 + 4
        let total = 320 * 64 + 3 * layer + 64 + 320 * 64
        XCTAssertEqual(dense.parameterCount, ParameterCount(total: total, active: total))
        XCTAssertEqual(dense.bytesReadPerToken, (total - 320 * 64) * 4, "everything but the embedding table")

        let moe = try Architectures.load(path: fixtureModel("olmoe-swiglu-e6k3-fused"))
        let expert = 3 * 32 * 64
        let shared = 2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 64 + 32 + 6 * 64
        let moeTotal = 2 * 320 * 64 + 64 + 2 * (shared + 6 * expert)
        XCTAssertEqual(moe.parameterCount, ParameterCount(total: moeTotal, active: moeTotal - 2 * 3 * expert))
        XCTAssertEqual(moe.parameterCount.total, 140544) // what `polycom inspect` reports (CLITests)
        XCTAssertEqual(moe.bytesReadPerToken, (moeTotal - 320 * 64 - 2 * 3 * expert) * 4)
    }

    /// f32 weights reach OpenBLAS (sgemm; q8 leaves an f32 embedding table as stored); bf16
    /// and q8 weights never, whichever kernels (our GEMM), so the eval command may leave
    /// OpenBLAS to attention's small products alone.
    func testWhichWeightProductsUseBLAS() throws {
        XCTAssertTrue(try Architectures.load(path: fixtureModel("polynorm-f32")).weightProductsUseBLAS)
        XCTAssertTrue(try Architectures.load(path: fixtureModel("polynorm-f32"), options: ComputeOptions(weights: .q8)).weightProductsUseBLAS)
        for kernels in KernelFamily.allCases where kernels.rawValue <= KernelFamily.best.rawValue {
            let bf16 = try Architectures.load(path: fixtureModel("polynorm-f32"), options: ComputeOptions(kernels: kernels, weights: .bf16))
            XCTAssertFalse(bf16.weightProductsUseBLAS, "\(kernels)")
        }
        let q8 = try Architectures.load(path: fixtureModel("polynorm-bf16-sharded"), options: ComputeOptions(kernels: .portable, weights: .q8))
        XCTAssertFalse(q8.weightProductsUseBLAS)
    }
}
