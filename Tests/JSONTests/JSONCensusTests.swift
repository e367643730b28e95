import JSON
import XCTest

/// The byte-level census against counts taken from the parsed tree.
final class JSONCensusTests: XCTestCase {
    /// Values nested in `v` at any depth, and its direct children, from the parsed value.
    private func treeCount(_ v: JSONValue) -> JSONCensus.Count {
        func nested(_ v: JSONValue) -> Int {
            switch v {
            case .array(let a): return a.reduce(a.count) { $0 + nested($1) }
            case .object(let o): return o.entries.reduce(o.entries.count) { $0 + nested($1.value) }
            default: return 0
            }
        }
        let elements = v.arrayValue?.count ?? v.objectValue?.entries.count ?? 0
        return JSONCensus.Count(elements: elements, values: nested(v))
    }

    func testCountsEqualThoseOfTheParsedTree() throws {
        let documents = [
            #"{"prompt": [[1, 2, 3], [4], []], "n": 2, "stop": ["a:b", "\"]"], "x": {"k": [1, {"q": null}]}}"#,
            #"{"prompt": "text with , : [ ] { } inside", "logit_bias": {"50256": -100, "13": 5.5e-1}}"#,
            #"{"requests": [{"context": "a", "continuation": " b"}, {"context": [1, 2], "continuation": [3]}]}"#,
            "{ \"a\" :\n[ true ,false, null , -1.5E+3 ] , \"b\":{}}",
            #"{}"#,
        ]
        for text in documents {
            let parsed = try XCTUnwrap(JSONValue.parse(text).objectValue)
            let census = JSONCensus(Array(text.utf8))
            XCTAssertTrue(census.isObject)
            XCTAssertEqual(census.fieldCount, parsed.entries.count, text)
            for (name, value) in parsed.entries {
                XCTAssertEqual(census[name], treeCount(value), "\(name) in \(text)")
            }
            XCTAssertEqual(census.fields.count, parsed.entries.count, text)
        }
    }

    /// A name written with escapes is the name the parser reads.
    func testEscapedNamesAreDecoded() {
        let census = JSONCensus(Array(#"{"pr\u006fmpt": [[1], [2]], "a\"b": [1]}"#.utf8))
        XCTAssertEqual(census["prompt"], JSONCensus.Count(elements: 2, values: 4))
        XCTAssertEqual(census["a\"b"], JSONCensus.Count(elements: 1, values: 1))
    }

    /// Names past the named limit are counted together; non-objects are not objects.
    func testOtherFieldsAndNonObjects() {
        let text = "{" + (0..<10).map { "\"f\($0)\": [1, 2]" }.joined(separator: ", ") + "}"
        let census = JSONCensus(Array(text.utf8), maxNamedFields: 4)
        XCTAssertEqual(census.fields.count, 4)
        XCTAssertEqual(census.fieldCount, 10)
        XCTAssertEqual(census.otherFields, JSONCensus.Count(elements: 12, values: 12))
        XCTAssertFalse(JSONCensus(Array("  [1, 2]".utf8)).isObject)
        XCTAssertFalse(JSONCensus([]).isObject)
    }

    /// Truncated text still reports what it held up to the cut.
    func testTruncatedTextCountsWhatItHolds() {
        let text = #"{"prompt": ["# + Array(repeating: "[1]", count: 1000).joined(separator: ",")
        XCTAssertEqual(JSONCensus(Array(text.utf8))["prompt"], JSONCensus.Count(elements: 1000, values: 2000))
        XCTAssertEqual(JSONCensus(Array(#"{"a": "unterminated \"#.utf8))["a"], JSONCensus.Count())
    }
}
