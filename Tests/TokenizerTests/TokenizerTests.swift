import Foundation
import XCTest
@testable import Tokenizer

/// Every corpus text, every tokenizer: ids (with and without special tokens), offsets for the
/// byte-level tokenizer, and decode results, all compared with what HF `tokenizers` produced.
final class TokenizerFixtureTests: XCTestCase {
    // tokenizer.json alone, as HF `Tokenizer.from_file` reads it (the config files next to it
    // switch on transformers' behaviour, covered by ComponentVariantTests).
    static let olmo = try! Fixtures.tokenizer("olmo")
    static let llama = try! Fixtures.tokenizer("llama")
    static let llamaNonLegacy = try! Fixtures.tokenizer("llama-nonlegacy")

    static func compare(_ name: String, _ tokenizer: Tokenizer, checkOffsets: Bool) throws {
        let expected = try Fixtures.expected(name)
        let corpus = Fixtures.corpus
        XCTAssertGreaterThanOrEqual(corpus.count, 2000)
        var idMismatches = 0, specialMismatches = 0, offsetMismatches = 0, decodeMismatches = 0
        let offsetRows = expected.filter { $0.offsets != nil }.count
        var roundTrips = 0
        var reported = 0
        func report(_ what: String, _ i: Int, _ detail: String) {
            if reported < 15 { XCTFail("\(name) \(what) #\(i) \"\(describe(String(corpus[i].prefix(80))))\": \(detail)") }
            reported += 1
        }
        for (i, (text, want)) in zip(corpus, expected).enumerated() {
            let plain = tokenizer.encodeWithOffsets(text, addSpecialTokens: false)
            if plain.ids != want.ids {
                idMismatches += 1
                report("ids", i, "got \(plain.ids.prefix(40)) want \(want.ids.prefix(40))")
            }
            let special = tokenizer.encode(text, addSpecialTokens: true)
            if special != want.idsSpecial {
                specialMismatches += 1
                report("ids_special", i, "got \(special.prefix(40)) want \(want.idsSpecial.prefix(40))")
            }
            if let offsets = want.offsets, plain.offsets != offsets {
                offsetMismatches += 1
                report("offsets", i, "got \(plain.offsets.prefix(30)) want \(offsets.prefix(30))")
            }
            let checks = [
                (tokenizer.decode(want.ids, skipSpecialTokens: false), want.decode, "decode"),
                (tokenizer.decode(want.idsSpecial, skipSpecialTokens: false), want.decodeSpecial, "decode_special"),
                (tokenizer.decode(want.idsSpecial, skipSpecialTokens: true), want.decodeSkip, "decode_skip"),
            ]
            for (got, wanted, what) in checks where !scalarsEqual(got, wanted) {
                decodeMismatches += 1
                report(what, i, "got \"\(describe(got))\" want \"\(describe(wanted))\"")
            }
            // Where HF round-trips the text, our own encode -> decode must too.
            if scalarsEqual(want.decode, text) {
                roundTrips += 1
                let back = tokenizer.decode(plain.ids)
                if !scalarsEqual(back, text) { report("round trip", i, "got \"\(describe(back))\"") }
            }
        }
        print("[\(name)] \(corpus.count) texts: id mismatches \(idMismatches), with-special mismatches \(specialMismatches), " +
              "offset mismatches \(offsetMismatches) of \(offsetRows), decode mismatches \(decodeMismatches), " +
              "round trips \(roundTrips) (where HF round-trips)")
        if checkOffsets { XCTAssertEqual(offsetRows, corpus.count, "offsets recorded for every text") }
    }

    func testOLMoByteLevelMatchesHF() throws {
        try Self.compare("olmo", Self.olmo, checkOffsets: true)
    }

    func testLlamaLegacyMatchesHF() throws {
        try Self.compare("llama", Self.llama, checkOffsets: false)
    }

    func testLlamaNonLegacyMatchesHF() throws {
        try Self.compare("llama-nonlegacy", Self.llamaNonLegacy, checkOffsets: false)
    }
}
