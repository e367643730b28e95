import Foundation
import JSON
import XCTest
@testable import Tokenizer

final class JSONParserTests: XCTestCase {
    private func parse(_ text: String) throws -> Any { try JSONParser.parse(Data(text.utf8)) }

    func testValues() throws {
        let object = try XCTUnwrap(try parse(#" {"a": [1, -2, 3.5, 1e3, true, false, null], "b": {"c": "d"}} "#) as? OrderedJSONObject)
        let a = try XCTUnwrap(object["a"] as? [Any])
        XCTAssertEqual(a[0] as? Int, 1)
        XCTAssertEqual(a[1] as? Int, -2)
        XCTAssertEqual(a[2] as? Double, 3.5)
        XCTAssertEqual(a[3] as? Double, 1000)
        XCTAssertEqual(a[4] as? Bool, true)
        XCTAssertEqual(a[5] as? Bool, false)
        XCTAssertTrue(a[6] is NSNull)
        XCTAssertEqual((object["b"] as? OrderedJSONObject)?["c"] as? String, "d")
    }

    /// Keys stay distinct by scalars and in file order; Foundation would merge canonically
    /// equivalent keys in a [String: Any] and strip a leading U+FEFF.
    func testKeysAreExactAndOrdered() throws {
        let object = try XCTUnwrap(try parse("{\"\u{E9}\": 1, \"e\u{301}\": 2, \"\u{FEFF}\": 3}") as? OrderedJSONObject)
        XCTAssertEqual(object.pairs.map { $0.key.unicodeScalars.map(\.value) }, [[0xE9], [0x65, 0x301], [0xFEFF]])
        XCTAssertEqual(object.pairs.map { $0.value as? Int }, [1, 2, 3])
    }

    func testEscapes() throws {
        let s = try XCTUnwrap(try parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00x""#) as? String)
        XCTAssertEqual(Array(s.unicodeScalars.map(\.value)),
                       [0x61, 0x22, 0x62, 0x5C, 0x63, 0x2F, 0x64, 0x0A, 0x09, 0xE9, 0x1F600, 0x78])
    }

    func testErrors() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"unterminated", "01x", "tru", "\"\u{1}\"", "1 2", "[\"\\q\"]", "-"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
    }

    func testQuoteRoundTrips() throws {
        let original = "quote \" backslash \\ newline \n tab \t nul \u{0} bom \u{FEFF} emoji 😀"
        let quoted = JSONValue.string(original).serialized()
        XCTAssertTrue(scalarsEqual(try XCTUnwrap(try parse(quoted) as? String), original))
    }

    /// A byte order mark before the document is tolerated; a repeated key keeps the last
    /// value, as serde does for tokenizer.json.
    func testLeadingBOMAndRepeatedKeys() throws {
        let object = try XCTUnwrap(try JSONParser.parse(Data([0xEF, 0xBB, 0xBF] + Array(#"{"a": 1, "a": 2}"#.utf8))) as? OrderedJSONObject)
        XCTAssertEqual(object["a"] as? Int, 2)
    }
}
