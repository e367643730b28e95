import JSON
import XCTest

final class JSONValueTests: XCTestCase {
    func testParsesAllTypes() throws {
        let v = try JSONValue.parse(#"{"a": 1, "b": [true, null, 2.5, "x\u00e9"], "c": {"d": -3}}"#)
        XCTAssertEqual(v["a"]?.intValue, 1)
        XCTAssertEqual(v["b"]?[0]?.boolValue, true)
        XCTAssertEqual(v["b"]?[1], .null)
        XCTAssertEqual(v["b"]?[2]?.doubleValue, 2.5)
        XCTAssertEqual(v["b"]?[3]?.stringValue, "xé")
        XCTAssertEqual(v["c"]?["d"]?.intValue, -3)
        XCTAssertEqual(v["c"]?.objectValue?.keys, ["d"])
    }

    func testRejectsDuplicateKeys() {
        XCTAssertThrowsError(try JSONValue.parse(#"{"a": 1, "a": 2}"#)) { error in
            XCTAssertTrue("\(error)".contains("duplicate"), "\(error)")
        }
    }

    func testReportsPosition() {
        XCTAssertThrowsError(try JSONValue.parse("{\"a\": 1,\n \"b\" }")) { error in
            guard let e = error as? JSONParseError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.line, 2)
        }
        XCTAssertThrowsError(try JSONValue.parse(""))
        XCTAssertThrowsError(try JSONValue.parse([0xff, 0xfe]))
    }

    func testSerialisationKeepsOrderAndRoundTrips() throws {
        let v: JSONValue = ["z": 1, "a": [1.5, "two", nil, false], "m": ["k": "v\"q"]]
        let text = v.serialized()
        XCTAssertEqual(text, #"{"z":1,"a":[1.5,"two",null,false],"m":{"k":"v\"q"}}"#)
        XCTAssertEqual(try JSONValue.parse(text), v)
    }

    /// JSON has no NaN or Infinity; they must never reach a client as invalid JSON.
    func testNonFiniteNumbersBecomeNull() {
        let v: JSONValue = [.double(.nan), .double(.infinity), .double(-1.25)]
        XCTAssertEqual(v.serialized(), "[null,null,-1.25]")
    }

    func testEmbeddedNulAndEmptyStrings() throws {
        let v: JSONValue = ["": "", "ab": "c\u{0}d"]
        XCTAssertEqual(try JSONValue.parse(v.serialized()), v)
    }

    /// NFC "é" and NFD "e + ◌́" are different JSON keys (both occur in tokenizer vocabularies).
    func testCanonicallyEquivalentKeysStayDistinct() throws {
        let v = try JSONValue.parse("{\"\u{E9}\": 1, \"e\u{301}\": 2}")
        XCTAssertEqual(v.objectValue?.count, 2)
        XCTAssertEqual(v["\u{E9}"]?.intValue, 1)
        XCTAssertEqual(v["e\u{301}"]?.intValue, 2)
    }
}
