import Foundation
import XCTest
@testable import Tokenizer

/// Vocabulary and special-token properties, against the values in the model cards / design doc.
final class TokenizerAPITests: XCTestCase {
    func testOLMoFolder() throws {
        let tok = try Tokenizer(path: Fixtures.tokenizerDirectory("olmo").path)
        XCTAssertEqual(tok.vocabSize, 50280)
        XCTAssertEqual(tok.eosTokenId, 50279)
        XCTAssertEqual(tok.padTokenId, 1)
        XCTAssertNil(tok.bosTokenId)
        XCTAssertEqual(tok.tokenToId("<|endoftext|>"), 50279)
        XCTAssertEqual(tok.idToToken(50279), "<|endoftext|>")
        XCTAssertEqual(tok.tokenToId("Ġthe"), 253)
        XCTAssertTrue(tok.isSpecialToken(50279))
        XCTAssertFalse(tok.isSpecialToken(253))
        XCTAssertNil(tok.idToToken(-1))
        XCTAssertNil(tok.idToToken(1_000_000))
    }

    func testLlamaFolderAndFilePath() throws {
        for path in [Fixtures.tokenizerDirectory("llama").path,
                     Fixtures.tokenizerDirectory("llama").appendingPathComponent("tokenizer.json").path] {
            let tok = try Tokenizer(path: path)
            XCTAssertEqual(tok.vocabSize, 32000)
            XCTAssertEqual(tok.bosTokenId, 1)
            XCTAssertEqual(tok.eosTokenId, 2)
            XCTAssertEqual(tok.unkTokenId, 0)
            XCTAssertNil(tok.padTokenId)
            XCTAssertEqual(tok.idToToken(13), "<0x0A>")
            XCTAssertEqual(tok.encode("").first, 1)  // BOS from the template
            XCTAssertEqual(tok.encode("", addSpecialTokens: false), [])
        }
    }

    /// transformers' `save_pretrained` writes `"model_max_length": int(1e30)` (no limit) into
    /// tokenizer_config.json; a tokenizer.json folder with that file loads, unlimited.
    func testTransformersDefaultTokenizerConfigLoads() throws {
        let dir = NSTemporaryDirectory() + "tok-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (source, file) in [("llama", "tokenizer.json"), ("llama-spm", "tokenizer_config.json"), ("llama-spm", "special_tokens_map.json")] {
            try FileManager.default.copyItem(atPath: Fixtures.tokenizerDirectory(source).appendingPathComponent(file).path,
                                             toPath: dir + "/" + file)
        }
        let config = try String(contentsOfFile: dir + "/tokenizer_config.json", encoding: .utf8)
        XCTAssertTrue(config.contains(#""model_max_length": 1000000000000000019884624838656"#))
        let tok = try Tokenizer(path: dir)
        XCTAssertNil(tok.modelMaxLength, "unlimited")
        XCTAssertEqual(tok.encode("Hello world"), [1, 22557, 1526])
        XCTAssertNil(tok.padToken)

        try Data(#"{"model_max_length": 2048, "pad_token": null}"#.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
        XCTAssertEqual(try Tokenizer(path: dir).modelMaxLength, 2048)
    }

    /// transformers reads special_tokens_map.json only for configs without added_tokens_decoder,
    /// and then lets it override the config; `null` means no such token. (The expected tokens
    /// are what transformers 4.57.6's PreTrainedTokenizerFast and LlamaTokenizerFast report for
    /// these two folders.)
    func testSpecialTokensMapPrecedence() throws {
        let dir = NSTemporaryDirectory() + "tok-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Fixtures.tokenizerDirectory("llama").appendingPathComponent("tokenizer.json").path,
                                         toPath: dir + "/tokenizer.json")
        func load(config: String, map: String) throws -> Tokenizer {
            try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
            try Data(map.utf8).write(to: URL(fileURLWithPath: dir + "/special_tokens_map.json"))
            return try Tokenizer(path: dir)
        }
        let legacy = try load(config: #"{"pad_token": null, "eos_token": "</s>"}"#, map: #"{"pad_token": "<unk>", "eos_token": {"content": "<s>"}}"#)
        XCTAssertEqual(legacy.padToken, "<unk>")
        XCTAssertEqual(legacy.eosToken, "<s>")
        let modern = try load(config: #"{"pad_token": null, "eos_token": "</s>", "added_tokens_decoder": {}}"#, map: #"{"pad_token": "<unk>"}"#)
        XCTAssertNil(modern.padToken)
        XCTAssertNil(modern.padTokenId)
        XCTAssertEqual(modern.eosToken, "</s>")
    }

    /// Offsets are unicode-scalar offsets (Python str indices), not UTF-8 bytes.
    func testOffsetsAreScalarIndices() {
        let tok = TokenizerFixtureTests.olmo
        let enc = tok.encodeWithOffsets("日本 go", addSpecialTokens: false)
        XCTAssertEqual(enc.offsets.last, TokenOffset(start: 3, end: 5))
    }

    /// Unknown ids are skipped by decode, as HF does, instead of trapping.
    func testDecodeSkipsUnknownIds() {
        let tok = TokenizerFixtureTests.olmo
        XCTAssertEqual(tok.decode([-5, 12092, 99_999_999]), "Hello")
    }

    func testConcurrentEncodingIsConsistent() {
        let tok = TokenizerFixtureTests.llama
        let texts = Array(Fixtures.corpus.prefix(400))
        let expected = texts.map { tok.encode($0) }
        var results = [[[Int]]](repeating: [], count: 4)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            let out = texts.map { tok.encode($0) }
            lock.lock(); results[worker] = out; lock.unlock()
        }
        for r in results { XCTAssertEqual(r, expected) }
    }
}
