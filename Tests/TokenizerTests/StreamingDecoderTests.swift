import Foundation
import XCTest
@testable import Tokenizer

/// Step-by-step outputs against HF `tokenizers.decoders.DecodeStream`.
final class StreamingDecoderTests: XCTestCase {
    func testStepsMatchHFDecodeStream() throws {
        let rows = try Fixtures.jsonLines("expected-stream.jsonl")
        XCTAssertGreaterThan(rows.count, 1000)
        let tokenizers = ["olmo": TokenizerFixtureTests.olmo, "llama": TokenizerFixtureTests.llama,
                          "llama-nonlegacy": TokenizerFixtureTests.llamaNonLegacy]
        var failures = 0
        for row in rows {
            let name = row["tokenizer"]!.stringValue!
            let skip = row["skip"]!.boolValue!
            let ids = Fixtures.ints(row["ids"])
            let want = row["steps"]!.arrayValue!.map(\.stringValue)
            var stream = tokenizers[name]!.streamingDecoder(skipSpecialTokens: skip)
            let got = ids.map { stream.step($0) }
            let same = got.count == want.count && zip(got, want).allSatisfy { g, w in
                switch (g, w) {
                case (nil, nil): return true
                case let (g?, w?): return scalarsEqual(g, w)
                default: return false
                }
            }
            if !same {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(name) skip=\(skip) ids \(ids.prefix(20)): got \(got.map { $0.map(describe) }) want \(want.map { $0.map(describe) })")
                }
            }
        }
        print("[stream] \(rows.count) sequences, \(failures) mismatching")
    }

    /// The concatenated stream plus `finish()` is the full decode, and no emitted piece ends in
    /// half a character (every piece is valid text without a trailing U+FFFD unless the full
    /// decode has one there).
    func testStreamConcatenatesToFullDecode() {
        let tok = TokenizerFixtureTests.olmo
        for text in ["héllo 😀👍🏽 日本語", "👨‍👩‍👧‍👦 family", "\u{FFFD} literal", "plain ascii text"] {
            let ids = tok.encode(text)
            var stream = tok.streamingDecoder()
            var pieces: [String] = ids.compactMap { stream.step($0) }
            if let tail = stream.finish() { pieces.append(tail) }
            XCTAssertTrue(scalarsEqual(pieces.joined(), tok.decode(ids)), describe(text))
            for piece in pieces.dropLast() { XCTAssertNotEqual(piece.unicodeScalars.last, "\u{FFFD}") }
        }
    }

    /// An incomplete UTF-8 sequence is held back and only released by `finish()`.
    func testIncompleteCharacterIsHeldBack() {
        let tok = TokenizerFixtureTests.llama
        // "<0xE6>" "<0x97>" are the first two bytes of 日 (E6 97 A5): nothing can be emitted yet.
        let first = tok.tokenToId("<0xE6>")!, second = tok.tokenToId("<0x97>")!, third = tok.tokenToId("<0xA5>")!
        var stream = tok.streamingDecoder()
        XCTAssertNil(stream.step(first))
        XCTAssertNil(stream.step(second))
        XCTAssertEqual(stream.step(third), "日")
        XCTAssertNil(stream.finish())
        XCTAssertNil(stream.step(first))
        XCTAssertEqual(stream.finish(), "\u{FFFD}")
    }
}
