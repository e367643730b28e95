import Checkpoint
import Foundation
import TestSupport
import XCTest

final class GenerationConfigTests: XCTestCase {
    /// The fixture's generation_config.json (written by transformers' GenerationConfig) adds
    /// id 201 to config.json's EOS 2; the stop set is the union with the tokenizer's EOS.
    func testEOSUnion() throws {
        let folder = fixtureFolder("llama-generation-eos")
        let generation = try XCTUnwrap(try GenerationConfig.load(folder: folder))
        XCTAssertEqual(generation.eosTokenIds, [2, 201])
        let config = try ModelConfig.load(path: folder + "/config.json")
        XCTAssertEqual(config.eosTokenIds, [2])
        XCTAssertEqual(stopTokenIds(config: config, generationConfig: generation, tokenizerEOS: 7), [2, 201, 7])
        XCTAssertEqual(stopTokenIds(config: config, generationConfig: nil, tokenizerEOS: nil), [2])
        XCTAssertNil(try GenerationConfig.load(folder: fixtureModel("llama-swiglu-gqa")))
    }

    func testForms() throws {
        XCTAssertEqual(try GenerationConfig.decode(Array(#"{"eos_token_id": 5}"#.utf8)).eosTokenIds, [5])
        XCTAssertEqual(try GenerationConfig.decode(Array(#"{"eos_token_id": null, "max_length": 1000000000000000019884624838656}"#.utf8)).eosTokenIds, [])
        XCTAssertEqual(try GenerationConfig.decode(Array(#"{"temperature": 0.6}"#.utf8)).eosTokenIds, [])
        for bad in [#"{"eos_token_id": "x"}"#, #"{"eos_token_id": [1, "x"]}"#, #"{"eos_token_id": -1}"#, "[1]", "{"] {
            XCTAssertThrowsError(try GenerationConfig.decode(Array(bad.utf8)), bad) { error in
                XCTAssertTrue("\(error)".contains("generation_config.json"), "\(error)")
            }
        }
    }
}
