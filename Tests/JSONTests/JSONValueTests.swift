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

    /// transformers' `save_pretrained` writes `"model_max_length": 1000000000000000019884624838656`
    /// (int(1e30)) into tokenizer_config.json when no length is set; jansson alone refuses it.
    /// Integers beyond 64 bits load as reals, every other number keeps its type, and strings
    /// holding such digits are left alone.
    func testIntegersBeyond64BitsLoadAsReals() throws {
        let text = #"{"model_max_length": 1000000000000000019884624838656, "n": 9223372036854775807, "#
            + #""neg": -9223372036854775809, "s": "12345678901234567890123", "r": 1.5e300, "list": [3, 100000000000000000000]}"#
        let v = try JSONValue.parse(text)
        XCTAssertEqual(v["model_max_length"]?.doubleValue, 1e30)
        XCTAssertNil(v["model_max_length"]?.intValue, "too big for Int")
        XCTAssertEqual(v["n"], .int(Int.max))
        XCTAssertEqual(v["neg"]?.doubleValue, -9223372036854775809.0)
        XCTAssertEqual(v["s"], "12345678901234567890123")
        XCTAssertEqual(v["r"], .double(1.5e300))
        XCTAssertEqual(v["list"], [3, .double(1e20)])
    }

    /// The second pass keeps the original positions: a later syntax error is still reported
    /// where it is, with jansson's own message once.
    func testErrorAfterAHugeIntegerKeepsItsPosition() {
        XCTAssertThrowsError(try JSONValue.parse("{\"a\": 123456789012345678901234,\n \"b\" }")) { error in
            guard let e = error as? JSONParseError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.line, 2)
            XCTAssertEqual(e.column, 6)
            XCTAssertFalse(e.message.contains("too big"), e.message)
        }
        XCTAssertThrowsError(try JSONValue.parse("[1\(String(repeating: "0", count: 400))]")) { error in
            XCTAssertTrue("\(error)".contains("overflow"), "\(error)")
        }
    }
}
