import Checkpoint
import Foundation
import XCTest

final class ModelConfigTests: XCTestCase {
    private let base: [String: Any] = [
        "model_type": "polyllama", "hidden_act": "polynorm", "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100, "unknown_field": [1, 2],
    ]

    private func decode(_ fields: [String: Any]) throws -> ModelConfig {
        try ModelConfig.decode(try JSONSerialization.data(withJSONObject: fields))
    }

    private func assertInvalid(_ fields: [String: Any], mentions phrase: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(fields), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(phrase), "'\(error)' does not mention '\(phrase)'", file: file, line: line)
        }
    }

    func testDefaultsAndUnknownFieldsIgnored() throws {
        let c = try decode(base)
        XCTAssertEqual(c.numKeyValueHeads, 4)
        XCTAssertEqual(c.headDim, 16)
        XCTAssertEqual(c.ropeTheta, 10000)
        XCTAssertFalse(c.tieWordEmbeddings)
        XCTAssertEqual(c.modelType, "polyllama")
    }

    func testRopeThetaFromRopeParametersAndEOSList() throws {
        var f = base
        f["rope_parameters"] = ["rope_theta": 500000.0, "rope_type": "default"]
        f["eos_token_id"] = [2, 7]
        f["model_type"] = "llama"
        f["hidden_act"] = "silu"
        let c = try decode(f)
        XCTAssertEqual(c.ropeTheta, 500000)
        XCTAssertEqual(c.eosTokenIds, [2, 7])
    }

    func testMissingRequiredField() {
        var f = base
        f["hidden_size"] = nil
        assertInvalid(f, mentions: "missing required field 'hidden_size'")
    }

    /// Which model types exist is the Model module's registry (ArchitectureTests); here
    /// any string passes.
    func testUnknownActivationIsRefusedModelTypeIsKept() throws {
        var f = base
        f["hidden_act"] = "swish9"
        assertInvalid(f, mentions: "unknown hidden_act")
        f = base
        f["model_type"] = "gpt2"
        XCTAssertEqual(try decode(f).modelType, "gpt2")
    }

    func testWrongTypesAndValues() {
        var f = base
        f["num_hidden_layers"] = "two"
        assertInvalid(f, mentions: "'num_hidden_layers' has the wrong type")
        f = base
        f["num_key_value_heads"] = 3
        assertInvalid(f, mentions: "not a multiple")
        f = base
        f["vocab_size"] = 0
        assertInvalid(f, mentions: "vocab_size must be positive")
    }

    func testNotJSON() {
        XCTAssertThrowsError(try ModelConfig.decode(Data("{not json".utf8))) { error in
            XCTAssertTrue("\(error)".contains("JSON"), "\(error)")
        }
    }
}
