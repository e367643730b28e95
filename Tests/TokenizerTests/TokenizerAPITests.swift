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
