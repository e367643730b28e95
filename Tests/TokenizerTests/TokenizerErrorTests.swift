import Foundation
import XCTest
@testable import Tokenizer

/// Unsupported components and malformed files must throw, naming the problem; never trap.
final class TokenizerErrorTests: XCTestCase {
    /// A minimal valid byte-level-free BPE tokenizer.json with one component replaced.
    private func json(replacing key: String? = nil, with value: String = "null") -> Data {
        var fields = [
            "model": #"{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}"#,
            "normalizer": "null", "pre_tokenizer": "null", "post_processor": "null", "decoder": "null",
            "added_tokens": "[]",
        ]
        if let key { fields[key] = value }
        let body = fields.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
        return Data("{\(body)}".utf8)
    }

    private func assertThrows(_ data: Data, _ expected: (TokenizerError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try Tokenizer(tokenizerJSON: data)
            XCTFail("no error thrown", file: file, line: line)
        } catch let error as TokenizerError {
            XCTAssertTrue(expected(error), "unexpected error: \(error)", file: file, line: line)
        } catch {
            XCTFail("not a TokenizerError: \(error)", file: file, line: line)
        }
    }

    func testMinimalTokenizerWorks() throws {
        let tok = try Tokenizer(tokenizerJSON: json())
        XCTAssertEqual(tok.encode("abba"), [2, 1, 0])
        XCTAssertEqual(tok.vocabSize, 3)
    }

    func testUnsupportedComponentsNameTheirType() {
        let cases: [(String, String, String, String)] = [
            ("normalizer", #"{"type":"Precompiled","precompiled_charsmap":""}"#, "normalizer", "Precompiled"),
            ("normalizer", #"{"type":"BertNormalizer"}"#, "normalizer", "BertNormalizer"),
            ("pre_tokenizer", #"{"type":"BertPreTokenizer"}"#, "pre_tokenizer", "BertPreTokenizer"),
            ("pre_tokenizer", #"{"type":"Sequence","pretokenizers":[{"type":"Punctuation"}]}"#, "pre_tokenizer", "Punctuation"),
            ("post_processor", #"{"type":"RobertaProcessing"}"#, "post_processor", "RobertaProcessing"),
            ("decoder", #"{"type":"WordPiece"}"#, "decoder", "WordPiece"),
            ("model", #"{"type":"WordPiece","vocab":{}}"#, "model", "WordPiece"),
            ("model", #"{"type":"Unigram","vocab":[]}"#, "model", "Unigram"),
            ("normalizer", #"{"type":"Replace","pattern":{"Regex":"\\s+"},"content":" "}"#, "Replace pattern", "Regex"),
        ]
        for (key, value, component, type) in cases {
            assertThrows(json(replacing: key, with: value)) {
                if case .unsupported(let c, let t) = $0 { return c == component && t == type }
                return false
            }
            // The message names the type, for the user.
            do { _ = try Tokenizer(tokenizerJSON: json(replacing: key, with: value)) } catch {
                XCTAssertTrue("\(error)".contains(type), "\(error)")
            }
        }
        // A Split regex other than GPT-2's needs a regex engine: refused, pattern named.
        assertThrows(json(replacing: "pre_tokenizer", with: #"{"type":"Split","pattern":{"Regex":"\\d+"},"behavior":"Isolated","invert":false}"#)) {
            if case .unsupported(let c, let t) = $0 { return c == "Split pattern" && t.contains("\\d+") }
            return false
        }
    }

    func testMalformedFilesThrow() {
        let malformed: [String] = [
            "", "{", "[]", "null", "{\"model\": ", "{\"model\": {}}", #"{"model": {"type":"BPE"}}"#,
            #"{"model":{"type":"BPE","vocab":{"a":"x"},"merges":[]}}"#,
            #"{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]}}"#,
            #"{"model":{"type":"BPE","vocab":{"a":0},"merges":["a"]}}"#,
            #"{"model":{"type":"BPE","vocab":{"a":0},"merges":[3]}}"#,
            #"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"added_tokens":[{"content":"x"}]}"#,
            #"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"normalizer":{"kind":"NFC"}}"#,
            #"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":5}"#,
            String(repeating: "[", count: 100_000),
            "{\"model\": \"\\ud800\" ,}",
        ]
        for text in malformed {
            assertThrows(Data(text.utf8)) { _ in true }
        }
        assertThrows(Data([0xFF, 0xFE, 0x00])) { _ in true }
    }

    func testMissingFileThrows() {
        XCTAssertThrowsError(try Tokenizer(path: "/nonexistent/tokenizer.json")) { error in
            XCTAssertEqual(error as? TokenizerError, .fileNotFound("/nonexistent/tokenizer.json"))
        }
    }
}

extension TokenizerErrorTests {
    /// Numbers that do not fit the id types must be refused, not trap on conversion.
    func testOutOfRangeNumbersThrow() {
        let cases = [
            #"{"model":{"type":"BPE","vocab":{"a":1e999},"merges":[]}}"#,
            #"{"model":{"type":"BPE","vocab":{"a":99999999999999999999},"merges":[]}}"#,
            #"{"model":{"type":"BPE","vocab":{"a":-1},"merges":[]}}"#,
            #"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"added_tokens":[{"id":1e300,"content":"x"}]}"#,
            #"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"post_processor":{"type":"TemplateProcessing","single":[],"special_tokens":{"x":{"id":"x","ids":[4294967296],"tokens":["x"]}}}}"#,
        ]
        for text in cases {
            XCTAssertThrowsError(try Tokenizer(tokenizerJSON: Data(text.utf8)), text)
        }
    }
}
