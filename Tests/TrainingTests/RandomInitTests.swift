import Checkpoint
import Foundation
import Kernels
import Model
import TestSupport
@testable import Training
import XCTest

/// transformers' from-scratch init, checked by the statistics a normal(0, σ) sample must show
/// (bounds of 6 standard errors, so a correct sampler fails about once in 10⁸ runs).
final class RandomInitTests: XCTestCase {
    let demo = repositoryRoot + "/Models/polynorm-demo"

    func initial(range: Double = 0.02, seed: UInt64 = 7) throws -> (ModelConfig, [String: Tensor]) {
        let c = try CheckpointFolder(path: demo, requireWeights: false).config
        let arch = try Architectures.of(c)
        return (c, RandomInit.tensors(config: c, specs: arch.weights(c), range: range, seed: seed))
    }

    func assertNormal(_ v: [Float], std sigma: Double, _ name: String) {
        let n = Double(v.count)
        let mean = v.reduce(0.0) { $0 + Double($1) } / n
        let std = (v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n).squareRoot()
        XCTAssertLessThan(abs(mean), 6 * sigma / n.squareRoot(), "\(name) mean")
        XCTAssertEqual(std, sigma, accuracy: 6 * sigma / (2 * n).squareRoot(), "\(name) std")
        // The shape, not only two moments: P(|x| < σ) = 0.6827 and P(|x| < 2σ) = 0.9545.
        for (k, p) in [(1.0, 0.682_689), (2.0, 0.954_500)] {
            let inside = Double(v.filter { abs(Double($0)) < k * sigma }.count) / n
            XCTAssertEqual(inside, p, accuracy: 6 * (p * (1 - p) / n).squareRoot(), "\(name) within \(k)σ")
        }
    }

    func testTensorsFollowTransformersInit() throws {
        let (c, tensors) = try initial()
        XCTAssertEqual(Set(tensors.keys), Set(try Architectures.of(c).weights(c).map(\.name)))
        for (name, t) in tensors {
            let v = t.floats()
            if name.hasSuffix("act_fn.weight") {
                XCTAssertEqual(v, [1 / 3, 1 / 3, 1 / 3] as [Float], name)
            } else if name.hasSuffix("act_fn.bias") {
                XCTAssertEqual(v, [0], name)
            } else if name.contains("norm") {
                XCTAssertEqual(t.shape.count, 1, name)
                XCTAssertTrue(v.allSatisfy { $0 == 1 }, name)
            } else if name == "model.embed_tokens.weight" {
                let h = c.hiddenSize, pad = c.padTokenId!
                XCTAssertTrue(v[pad * h..<(pad + 1) * h].allSatisfy { $0 == 0 }, "the padding row is zero, as nn.Embedding(padding_idx)")
                assertNormal(Array(v[..<(pad * h)] + v[((pad + 1) * h)...]), std: 0.02, name)
            } else {
                XCTAssertEqual(t.shape.count, 2, name)
                assertNormal(v, std: 0.02, name)
            }
        }
    }

    func testInitializerRangeSetsTheStd() throws {
        let (_, tensors) = try initial(range: 0.05)
        assertNormal(tensors["model.layers.0.mlp.down_proj.weight"]!.floats(), std: 0.05, "down_proj at range 0.05")
    }

    func testSeedDecidesTheTensors() throws {
        let a = try initial(seed: 7).1, b = try initial(seed: 7).1, other = try initial(seed: 8).1
        for name in a.keys { XCTAssertEqual(a[name]!.floats(), b[name]!.floats(), name) }
        let q = "model.layers.0.self_attn.q_proj.weight"
        XCTAssertNotEqual(a[q]!.floats(), other[q]!.floats())
        // Tensors are not one stream in turn: q and k of one layer are not shifted copies.
        XCTAssertNotEqual(Array(a[q]!.floats().prefix(8)), Array(a["model.layers.0.self_attn.k_proj.weight"]!.floats().prefix(8)))
    }
}
