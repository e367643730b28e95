import HTTP
import XCTest

final class HTTPHeadersTests: XCTestCase {
    func testLookupIgnoresASCIICase() {
        let headers: HTTPHeaders = ["Content-Type": "text/plain", "X-Request-ID": "42"]
        XCTAssertEqual(headers["content-type"], "text/plain")
        XCTAssertEqual(headers["X-REQUEST-ID"], "42")
        XCTAssertNil(headers["Content-Length"])
        XCTAssertTrue(headers.contains("x-request-id"))
    }

    func testRepeatedFieldsKeepOrder() {
        var headers = HTTPHeaders()
        headers.add("Set-Cookie", "a=1")
        headers.add("set-cookie", "b=2")
        XCTAssertEqual(headers["SET-COOKIE"], "a=1")
        XCTAssertEqual(headers.values(for: "Set-Cookie"), ["a=1", "b=2"])
        headers.set("Set-Cookie", "c=3")
        XCTAssertEqual(headers.values(for: "set-cookie"), ["c=3"])
        headers.remove("SET-cookie")
        XCTAssertEqual(headers.count, 0)
    }

    func testNonASCIINamesCompareExactly() {
        let headers: HTTPHeaders = ["X-Ä": "1"]
        XCTAssertEqual(headers["X-Ä"], "1")
        XCTAssertNil(headers["x-ä"])  // folding is ASCII-only, as for tokens
        XCTAssertNil(headers["X-A"])
    }

    func testQueryLookup() {
        let request = HTTPRequest(method: "GET", path: "/", queryItems: [
            HTTPQueryItem(name: "a", value: "1"), HTTPQueryItem(name: "flag", value: nil),
            HTTPQueryItem(name: "a", value: "2"),
        ])
        XCTAssertEqual(request.query("a"), "1")
        XCTAssertEqual(request.query("flag"), "")
        XCTAssertNil(request.query("missing"))
    }
}
