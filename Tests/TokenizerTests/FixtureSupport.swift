import Foundation
import XCTest
@testable import Tokenizer

/// Fixtures written by tools/reference/make_tokenizer_fixtures.py from HF `tokenizers`.
enum Fixtures {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // TokenizerTests
        .deletingLastPathComponent()   // Tests
        .appendingPathComponent("Fixtures/tokenizers")

    static func tokenizerDirectory(_ name: String) -> URL {
        directory.appendingPathComponent(name)
    }

    /// Parsed with the module's own parser: Foundation's drops a leading U+FEFF from strings.
    static func jsonLines(_ file: String) throws -> [OrderedJSONObject] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        return try data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map { line in
            guard let object = try JSONParser.parse(Data(line)) as? OrderedJSONObject else {
                throw TokenizerError.malformedJSON("fixture line")
            }
            return object
        }
    }

    /// tokenizer.json of a fixture tokenizer; "llama-nonlegacy" is llama plus its stored patch
    /// (the two conversions differ only in normalizer and pre_tokenizer).
    static func document(_ name: String) throws -> OrderedJSONObject {
        if name == "llama-nonlegacy" {
            let data = try Data(contentsOf: directory.appendingPathComponent("llama-nonlegacy.patch.json"))
            let patch = try XCTUnwrap(try JSONParser.parse(data) as? OrderedJSONObject)
            return try apply(patch, to: document(patch["base"] as! String))
        }
        let data = try Data(contentsOf: tokenizerDirectory(name).appendingPathComponent("tokenizer.json"))
        return try JSONAccess.parse(data, what: name)
    }

    /// The patch format of tools/reference/make_tokenizer_fixtures.py: "set" replaces top-level
    /// keys, "model_set" keys of "model", "added_tokens_append" extends "added_tokens".
    static func apply(_ patch: OrderedJSONObject, to base: OrderedJSONObject) throws -> OrderedJSONObject {
        var json = base
        if let set = patch["set"] as? OrderedJSONObject {
            for (k, v) in set.pairs { json.set(k, v) }
        }
        if let modelSet = patch["model_set"] as? OrderedJSONObject {
            var model = try XCTUnwrap(json["model"] as? OrderedJSONObject)
            for (k, v) in modelSet.pairs { model.set(k, v) }
            json.set("model", model)
        }
        if let extra = patch["added_tokens_append"] as? [Any] {
            json.set("added_tokens", (json["added_tokens"] as? [Any] ?? []) + extra)
        }
        return json
    }

    /// A fixture tokenizer from its tokenizer.json alone, as HF `Tokenizer.from_file` reads it.
    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(json: document(name), config: TokenizerConfig())
    }

    static let corpus: [String] = {
        // Force-try is fine in tests: a missing fixture must fail loudly.
        try! jsonLines("corpus.jsonl").map { $0["text"] as! String }
    }()

    /// One expected row per corpus line.
    struct Expected {
        let ids: [Int]
        let idsSpecial: [Int]
        let offsets: [TokenOffset]?
        let decode: String
        let decodeSpecial: String
        let decodeSkip: String
    }

    static func expected(_ name: String) throws -> [Expected] {
        let rows = try jsonLines("expected-\(name).jsonl")
        XCTAssertEqual(rows.count, corpus.count, "fixture row count for \(name)")
        return zip(rows, corpus).map { row, text in
            let ids = intArray(row["ids"])
            let decode = row["decode"] as? String ?? text
            return Expected(
                ids: ids,
                idsSpecial: row["ids_special"].map(intArray) ?? ids,
                offsets: (row["offsets"] as? [[Any]]).map { $0.map { TokenOffset(start: int($0[0]), end: int($0[1])) } },
                decode: decode,
                decodeSpecial: row["decode_special"] as? String ?? decode,
                decodeSkip: row["decode_skip"] as? String ?? decode)
        }
    }

    private static func int(_ any: Any) -> Int { JSONAccess.int(any)! }
    private static func intArray(_ any: Any?) -> [Int] { ints(any) }
    static func ints(_ any: Any?) -> [Int] { (any as? [Any] ?? []).map(int) }
}

/// Scalar-exact comparison: Swift `==` on String is canonical equivalence, which would let an
/// NFC/NFD difference pass.
func scalarsEqual(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.elementsEqual(b.unicodeScalars)
}

func describe(_ s: String) -> String {
    s.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? String($0) : String(format: "\\u{%X}", $0.value) }.joined()
}
