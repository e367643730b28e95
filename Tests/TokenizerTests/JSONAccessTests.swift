import Foundation
import JSON
import XCTest
@testable import Tokenizer

/// tokenizer.json and its companion files are read through the JSON module; what the
/// tokenizer needs on top of it: exact keys in file order, a tolerated BOM, serde's "last
/// repeated key wins", and errors that say once what is wrong.
final class JSONAccessTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONObject { try JSONAccess.parse(Data(text.utf8), what: "test.json") }

    func testValues() throws {
        let object = try parse(#" {"a": [1, -2, 3.5, 1e3, true, false, null], "b": {"c": "d"}} "#)
        XCTAssertEqual(object["a"], [1, -2, 3.5, 1000.0, true, false, nil])
        XCTAssertEqual(try object.object("b", in: "test").string("c", in: "test"), "d")
        XCTAssertThrowsError(try object.string("a", in: "test")) { error in
            XCTAssertEqual(error as? TokenizerError, .missingField(field: "a", component: "test"))
        }
    }

    /// Keys stay distinct by scalars and in file order; Foundation would merge canonically
    /// equivalent keys in a [String: Any] and strip a leading U+FEFF.
    func testKeysAreExactAndOrdered() throws {
        let object = try parse("{\"\u{E9}\": 1, \"e\u{301}\": 2, \"\u{FEFF}\": 3}")
        XCTAssertEqual(object.entries.map { $0.key.unicodeScalars.map(\.value) }, [[0xE9], [0x65, 0x301], [0xFEFF]])
        XCTAssertEqual(object.entries.map(\.value), [1, 2, 3])
    }

    func testEscapes() throws {
        let s = try XCTUnwrap(try parse(#"{"s": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00x"}"#)["s"]?.stringValue)
        XCTAssertEqual(Array(s.unicodeScalars.map(\.value)),
                       [0x61, 0x22, 0x62, 0x5C, 0x63, 0x2F, 0x64, 0x0A, 0x09, 0xE9, 0x1F600, 0x78])
    }

    func testErrors() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"unterminated", "01x", "tru", "\"\u{1}\"", "1 2", "[\"\\q\"]", "-", "[1]"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
    }

    /// The message names the file and jansson's reason once ("malformed tokenizer JSON:
    /// test.json: malformed tokenizer JSON: ..." repeated its own prefix).
    func testErrorMessageSaysItOnce() {
        XCTAssertThrowsError(try parse(#"{"a": 1,}"#)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("malformed tokenizer JSON: test.json: "), text)
            XCTAssertEqual(text.components(separatedBy: "malformed").count, 2, text)
        }
    }

    /// A byte order mark before the document is tolerated; a repeated key keeps the last
    /// value, as serde does for tokenizer.json.
    func testLeadingBOMAndRepeatedKeys() throws {
        let object = try JSONAccess.parse(Data([0xEF, 0xBB, 0xBF] + Array(#"{"a": 1, "a": 2}"#.utf8)), what: "bom.json")
        XCTAssertEqual(object["a"], 2)
    }
}
