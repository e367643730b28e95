import Checkpoint
import Foundation
import TestSupport
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

    /// tools/fuzz/config's find: sizes whose tensor table overflowed Int when counted (a
    /// trap in `parameterCount`) or could not be listed (a billion layers) are refused.
    func testSizesPastAnyCheckpointAreRefused() throws {
        var f = base
        f["hidden_size"] = 1 << 40
        f["num_attention_heads"] = 1 << 20
        assertInvalid(f, mentions: "parameters, more than")
        f = base
        f["vocab_size"] = 1 << 62
        assertInvalid(f, mentions: "parameters, more than")
        f = base
        f["num_hidden_layers"] = 1_000_000_000
        assertInvalid(f, mentions: "more than the 1024")
        // tools/fuzz/config's timeout: a table of 100,671 layers took over 10 s to list.
        f["num_hidden_layers"] = 100_671
        assertInvalid(f, mentions: "num_hidden_layers 100671")
        f = base
        f["num_hidden_layers"] = 64
        f["num_experts"] = 1025
        assertInvalid(f, mentions: "64 layers × 1025 experts")
        f = base
        f["num_experts"] = 1 << 20
        assertInvalid(f, mentions: "layers × 1048576 experts")
        // DeepSeek-V3's 61 layers × 256 experts still loads.
        f = base
        f["num_hidden_layers"] = 61
        f["num_experts"] = 256
        XCTAssertNoThrow(try decode(f))
        // A real large shape still loads: Llama 3.1 405B's.
        f = base
        for (k, v) in [("hidden_size", 16384), ("intermediate_size", 53248), ("num_hidden_layers", 126),
                       ("num_attention_heads", 128), ("num_key_value_heads", 8), ("vocab_size", 128_256)] { f[k] = v }
        XCTAssertNoThrow(try decode(f))
    }

    func testNotJSON() {
        XCTAssertThrowsError(try ModelConfig.decode(Data("{not json".utf8))) { error in
            XCTAssertTrue("\(error)".contains("JSON"), "\(error)")
        }
    }

    private func text(_ json: String) throws -> ModelConfig { try ModelConfig.decode(Data(json.utf8)) }

    /// transformers 5 writes the Llama 3 scaling into `rope_parameters` (no rope_scaling, no
    /// rope_theta, `dtype` instead of torch_dtype): the same scaling as the rope_scaling copy.
    func testRopeParametersCarryTheScaling() throws {
        let v5 = try ModelConfig.load(path: fixtureFolder("llama3-rope-parameters") + "/config.json")
        let v4 = try ModelConfig.load(path: fixtureModel("llama3-rope-scaling") + "/config.json")
        XCTAssertEqual(v5.ropeScaling?.ropeType, "llama3")
        XCTAssertEqual(v5.ropeScaling?.factor, 8)
        XCTAssertEqual(v5.ropeScaling?.originalMaxPositionEmbeddings, 32)
        XCTAssertEqual(v5.ropeScaling, v4.ropeScaling)
        XCTAssertEqual(v5.ropeTheta, 500000)
        XCTAssertEqual(v5.torchDtype, "float32")
    }

    /// A rope_type RoPE does not implement is refused by name from either key (rope_parameters
    /// yarn used to be accepted silently).
    func testUnimplementedRopeTypesAreRefusedFromEitherKey() throws {
        for (folder, type) in [("rope-yarn-parameters", "yarn"), ("rope-dynamic-parameters", "dynamic")] {
            XCTAssertThrowsError(try CheckpointFolder(path: fixtureFolder(folder), requireWeights: false)) { error in
                XCTAssertTrue("\(error)".contains("rope_parameters rope_type '\(type)' is not supported"), "\(error)")
            }
        }
        let v4 = try String(contentsOfFile: fixtureModel("llama3-rope-scaling") + "/config.json", encoding: .utf8)
        for (from, to) in [(#""rope_type": "llama3""#, #""rope_type": "yarn""#), (#""rope_type": "llama3""#, #""type": "dynamic""#),
                           (#""rope_type": "llama3""#, #""rope_type": "longrope""#)] {
            XCTAssertThrowsError(try text(v4.replacingOccurrences(of: from, with: to))) { error in
                let type = to.split(separator: "\"")[2]
                XCTAssertTrue("\(error)".contains("rope_scaling rope_type '\(type)' is not supported"), "\(error)")
            }
        }
        var f = base
        f["rope_parameters"] = ["rope_theta": 10000.0]  // no rope_type: the default
        XCTAssertNil(try decode(f).ropeScaling)
    }

    /// transformers ≥ 4.56 writes `dtype`; older files `torch_dtype`.
    func testDtypeKey() throws {
        var f = base
        f["dtype"] = "float32"
        XCTAssertEqual(try decode(f).torchDtype, "float32")
        f["torch_dtype"] = "bfloat16"
        XCTAssertEqual(try decode(f).torchDtype, "float32")
        f["dtype"] = nil
        XCTAssertEqual(try decode(f).torchDtype, "bfloat16")
    }

    /// config.json is read by the JSON module: an integer past 64 bits in a field nobody reads
    /// loads; in a field that must be an Int it is refused at that field, as is 2.5 (Foundation
    /// said "not valid JSON" for both). Syntax errors carry jansson's position.
    func testHugeAndFractionalNumbers() throws {
        let head = #"{"model_type": "polyllama", "hidden_act": "polynorm", "hidden_size": 64, "intermediate_size": 96, "#
            + #""num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100"#
        XCTAssertEqual(try text(head + #", "model_max_length": 1000000000000000019884624838656}"#).vocabSize, 100)
        XCTAssertThrowsError(try text(head + #", "max_position_embeddings": 1000000000000000019884624838656}"#)) { error in
            XCTAssertTrue("\(error)".contains("field 'max_position_embeddings': 1e30 does not fit in Int"), "\(error)")
        }
        XCTAssertThrowsError(try text(head + #", "num_key_value_heads": 2.5}"#)) { error in
            XCTAssertTrue("\(error)".contains("field 'num_key_value_heads': 2.5 is not an integer"), "\(error)")
        }
        XCTAssertThrowsError(try text(head + #", "rope_scaling": {"rope_type": "linear", "factor": 2, "original_max_position_embeddings": 1e99}}"#)) { error in
            XCTAssertTrue("\(error)".contains("rope_scaling.original_max_position_embeddings"), "\(error)")
        }
        XCTAssertThrowsError(try text(head + ",\n}")) { error in
            XCTAssertTrue("\(error)".contains("invalid JSON at line 2"), "\(error)")
            XCTAssertFalse("\(error)".contains("not valid JSON"), "the reason names JSON once: \(error)")
        }
    }
}
