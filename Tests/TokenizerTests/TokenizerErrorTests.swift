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

    /// A tokenizer.json that exists but cannot be read is not "not found": the reason is the
    /// system's (a directory in its place here).
    func testUnreadableFileSaysWhy() throws {
        let dir = NSTemporaryDirectory() + "tok-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/tokenizer.json", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try Tokenizer(path: dir)) { error in
            XCTAssertEqual(error as? TokenizerError, .unreadable(path: dir + "/tokenizer.json", reason: "it is a directory"))
            XCTAssertFalse("\(error)".contains("not found"), "\(error)")
        }
    }

    /// A tokenizer.json of mode 000 says "permission denied". Root reads any file, so the
    /// open runs with this thread's filesystem uid set to nobody's (setfsuid drops the
    /// override capabilities for this thread only; glibc has it, Swift's Glibc does not
    /// declare it). Run as another user, the mode alone refuses the read.
    func testPermissionDeniedSaysSo() throws {
        let dir = NSTemporaryDirectory() + "tok-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/tokenizer.json"
        try Data(#"{"model": {"type": "BPE", "vocab": {}, "merges": []}}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(chmod(dir, 0o755), 0)
        XCTAssertEqual(chmod(path, 0), 0)
        typealias SetFSUID = @convention(c) (UInt32) -> Int32
        let setfsuid = unsafeBitCast(try XCTUnwrap(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setfsuid")), to: SetFSUID.self)
        let previous = setfsuid(65534)
        defer { _ = setfsuid(UInt32(previous)) }
        XCTAssertThrowsError(try Tokenizer(path: dir)) { error in
            XCTAssertEqual("\(error)", "cannot read tokenizer file \(path): permission denied")
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

extension TokenizerErrorTests {
    /// Random byte edits of a small tokenizer.json using most component types: loading either
    /// succeeds or throws, and a loaded tokenizer encodes and decodes without trapping.
    func testMutatedFilesNeverTrap() {
        let doc = #"""
        {"version":"1.0","added_tokens":[{"id":5,"content":"<s>","special":true,"normalized":false,"lstrip":false,"rstrip":true,"single_word":false}],
         "normalizer":{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
         "pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true}]},
         "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"pair":[],"special_tokens":{"<s>":{"id":"<s>","ids":[5],"tokens":["<s>"]}}},
         "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":1}]},
         "model":{"type":"BPE","unk_token":"<unk>","fuse_unk":true,"byte_fallback":true,"vocab":{"<unk>":0,"▁":1,"a":2,"b":3,"▁a":4,"<0x41>":6,"ab":7},"merges":["▁ a",["a","b"]]}}
        """#
        let original = Array(doc.utf8)
        var rng = SplitMix64(seed: 42)
        var loaded = 0
        for _ in 0..<2000 {
            var bytes = original
            for _ in 0..<Int(rng.next() % 3 + 1) {
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: i)
                default:
                    let syntax = Array("{}[],:\"0-e\\".utf8)
                    bytes.insert(syntax[Int(rng.next() % UInt64(syntax.count))], at: i)
                }
            }
            guard let tok = try? Tokenizer(tokenizerJSON: Data(bytes)) else { continue }
            loaded += 1
            let ids = tok.encode("ab a\u{301}b A 12 <s> 😀") + [-1, 3, 99, 5]
            _ = tok.decode(ids, skipSpecialTokens: true)
            var stream = tok.streamingDecoder()
            for id in ids { _ = stream.step(id) }
            _ = stream.finish()
        }
        XCTAssertGreaterThan(loaded, 0); print("[mutations] loaded \(loaded)")
    }
}

/// Deterministic generator so failures reproduce.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
