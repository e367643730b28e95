import Foundation
import JSON
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
    static func jsonLines(_ file: String) throws -> [JSONObject] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        return try data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map { line in
            try JSONAccess.parse(Data(line), what: file)
        }
    }

    /// A whole fixture file as a JSON value (any top level).
    static func json(_ file: String) throws -> JSONValue {
        try JSONValue.parse([UInt8](Data(contentsOf: directory.appendingPathComponent(file))), rejectDuplicates: false)
    }

    /// tokenizer.json of a fixture tokenizer; "llama-nonlegacy" is llama plus its stored patch
    /// (the two conversions differ only in normalizer and pre_tokenizer).
    static func document(_ name: String) throws -> JSONObject {
        if name == "llama-nonlegacy" {
            let patch = try XCTUnwrap(try json("llama-nonlegacy.patch.json").objectValue)
            return try apply(patch, to: document(XCTUnwrap(patch["base"]?.stringValue)))
        }
        let data = try Data(contentsOf: tokenizerDirectory(name).appendingPathComponent("tokenizer.json"))
        return try JSONAccess.parse(data, what: name)
    }

    /// The patch format of tools/reference/make_tokenizer_fixtures.py: "set" replaces top-level
    /// keys, "model_set" keys of "model", "added_tokens_append" extends "added_tokens".
    static func apply(_ patch: JSONObject, to base: JSONObject) throws -> JSONObject {
        var json = base
        for (k, v) in patch["set"]?.objectValue?.entries ?? [] { json[k] = v }
        if let modelSet = patch["model_set"]?.objectValue {
            var model = try XCTUnwrap(json["model"]?.objectValue)
            for (k, v) in modelSet.entries { model[k] = v }
            json["model"] = .object(model)
        }
        if let extra = patch["added_tokens_append"]?.arrayValue {
            json["added_tokens"] = .array((json["added_tokens"]?.arrayValue ?? []) + extra)
        }
        return json
    }

    /// A fixture tokenizer from its tokenizer.json alone, as HF `Tokenizer.from_file` reads it.
    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(json: document(name), config: TokenizerConfig())
    }

    static let corpus: [String] = {
        // Force-try is fine in tests: a missing fixture must fail loudly.
        try! jsonLines("corpus.jsonl").map { $0["text"]!.stringValue! }
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
            let ids = ints(row["ids"])
            let decode = row["decode"]?.stringValue ?? text
            return Expected(
                ids: ids,
                idsSpecial: row["ids_special"].map(ints) ?? ids,
                offsets: row["offsets"]?.arrayValue.map { $0.map { let p = ints($0); return TokenOffset(start: p[0], end: p[1]) } },
                decode: decode,
                decodeSpecial: row["decode_special"]?.stringValue ?? decode,
                decodeSkip: row["decode_skip"]?.stringValue ?? decode)
        }
    }

    /// A JSON list of integers (a missing value is the empty list).
    static func ints(_ value: JSONValue?) -> [Int] { (value?.arrayValue ?? []).map { $0.intValue! } }
}

/// Scalar-exact comparison: Swift `==` on String is canonical equivalence, which would let an
/// NFC/NFD difference pass.
func scalarsEqual(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.elementsEqual(b.unicodeScalars)
}

func describe(_ s: String) -> String {
    s.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? String($0) : String(format: "\\u{%X}", $0.value) }.joined()
}
