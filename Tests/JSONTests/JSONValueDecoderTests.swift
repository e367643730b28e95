import JSON
import XCTest

final class JSONValueDecoderTests: XCTestCase {
    struct Inner: Decodable, Equatable { var x: Float; var tags: [String] }
    struct Outer: Decodable, Equatable {
        var n: Int
        var small: UInt8?
        var ratio: Double
        var flag: Bool
        var inner: Inner
        var grid: [[Int]]
        var missing: String?
        var nothing: Int?
    }

    private func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONValueDecoder().decode(type, from: JSONValue.parse(text))
    }

    func testDecodesNestedValues() throws {
        let v = try decode(Outer.self, #"{"n": 3.0, "small": 255, "ratio": 2, "flag": true, "inner": {"x": 0.5, "tags": ["a", "b"]}, "#
                           + #""grid": [[1], [2, 3]], "nothing": null, "ignored": 1000000000000000019884624838656}"#)
        XCTAssertEqual(v, Outer(n: 3, small: 255, ratio: 2, flag: true, inner: Inner(x: 0.5, tags: ["a", "b"]),
                                grid: [[1], [2, 3]], missing: nil, nothing: nil))
    }

    /// Errors say where: the coding path reaches the offending value.
    func testErrorsCarryThePath() {
        func assertError(_ text: String, path: [String], mentions phrase: String, line: UInt = #line) {
            XCTAssertThrowsError(try decode(Outer.self, text), line: line) { error in
                let context: DecodingError.Context?
                switch error as? DecodingError {
                case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?, .dataCorrupted(let c)?: context = c
                case .keyNotFound(let key, let c)?: context = .init(codingPath: c.codingPath + [key], debugDescription: c.debugDescription)
                default: context = nil
                }
                XCTAssertEqual(context?.codingPath.map(\.stringValue), path, "\(error)", line: line)
                XCTAssertTrue(context?.debugDescription.contains(phrase) ?? false, "\(error)", line: line)
            }
        }
        let rest = #""ratio": 1, "flag": false, "inner": {"x": 1, "tags": []}, "grid": []"#
        assertError(#"{"n": 1e30, "# + rest + "}", path: ["n"], mentions: "does not fit in Int")
        assertError(#"{"n": 1, "small": 256, "# + rest + "}", path: ["small"], mentions: "does not fit in UInt8")
        assertError(#"{"n": 2.5, "# + rest + "}", path: ["n"], mentions: "is not an integer")
        assertError(#"{"n": "1", "# + rest + "}", path: ["n"], mentions: "found string")
        assertError(#"{"n": 1, "ratio": 1, "flag": false, "inner": {"x": 1e300, "tags": []}, "grid": []}"#, path: ["inner", "x"], mentions: "Float")
        assertError(#"{"n": 1, "ratio": 1, "flag": false, "inner": {"x": 1, "tags": [1]}, "grid": []}"#, path: ["inner", "tags", "0"], mentions: "found integer")
        assertError(#"{"n": 1, "ratio": 1, "flag": false, "inner": {"x": 1}, "grid": []}"#, path: ["inner", "tags"], mentions: "tags")
        assertError(#"{"n": null, "# + rest + "}", path: ["n"], mentions: "null")
    }
}
