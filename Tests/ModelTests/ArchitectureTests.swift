import Checkpoint
import Foundation
import Kernels
import Model
import TestSupport
import XCTest

/// The registry: model types, their config checks and gating.
final class ArchitectureTests: XCTestCase {
    private let base: [String: Any] = [
        "model_type": "polyllama", "hidden_act": "polynorm", "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100,
    ]

    private func config(_ edits: [String: Any?]) throws -> ModelConfig {
        var f = base
        for (k, v) in edits { f[k] = v }
        return try ModelConfig.decode(try JSONSerialization.data(withJSONObject: f))
    }

    private func assertRefused(_ edits: [String: Any?], mentions phrase: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let c = try config(edits)
        XCTAssertThrowsError(try Architectures.of(c), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(phrase), "'\(error)' does not mention '\(phrase)'", file: file, line: line)
        }
    }

    func testRegistryListsTheThreeModelTypes() {
        XCTAssertEqual(Architectures.modelTypes, ["polyllama", "llama", "olmoe"])
    }

    func testUnknownModelTypeNamesTheSupportedOnes() throws {
        try assertRefused(["model_type": "gpt2"], mentions: "unknown model_type 'gpt2' (supported: polyllama, llama, olmoe)")
        let dir = try copyOfFixture("polynorm-f32")
        let path = dir + "/config.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "\"model_type\": \"polyllama\"", with: "\"model_type\": \"mamba\"")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        assertLoadFails(dir, mentions: [path + ": unknown model_type 'mamba'"])
    }

    func testMoEConfigChecks() throws {
        try assertRefused(["model_type": "olmoe"], mentions: "num_experts")
        try assertRefused(["model_type": "olmoe", "num_experts": 4, "num_experts_per_tok": 8], mentions: "larger than num_experts")
        try assertRefused(["model_type": "olmoe", "num_experts": 4, "num_experts_per_tok": 2, "hidden_act": "polyrelu"],
                          mentions: "polyrelu experts")
        XCTAssertNoThrow(try Architectures.of(try config(["model_type": "olmoe", "num_experts": 4, "num_experts_per_tok": 2])))
    }

    func testGating() throws {
        let cases: [(String, String, Bool)] = [
            ("polyllama", "polynorm", false), ("polyllama", "relu", false), ("llama", "silu", true), ("llama", "gelu", true),
            ("llama", "polynorm", false), ("olmoe", "silu", true), ("olmoe", "polynorm", false),
        ]
        for (type, act, gated) in cases {
            let c = try config(["model_type": type, "hidden_act": act, "num_experts": 4, "num_experts_per_tok": 2])
            XCTAssertEqual(try Architectures.of(c).isGated(c), gated, "\(type) / \(act)")
            XCTAssertEqual(try Architectures.of(c).weights(c).contains { $0.name.hasSuffix("gate_proj.weight") }, gated)
        }
    }
}
