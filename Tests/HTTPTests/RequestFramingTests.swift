@testable import HTTP
import XCTest

/// The head scanner on its own: what it forwards for a byte stream, fed whole and fed one
/// byte at a time (the relay sees whatever split the network makes). Expected outputs are
/// written out by hand.
final class RequestFramingTests: XCTestCase {
    private func run(_ input: String, split: Int? = nil, finish: Bool = false) -> (output: String, refused: Bool) {
        var framing = RequestFraming(maxHeaderBytes: 4096)
        var output: [UInt8] = []
        let bytes = Array(input.utf8)
        let step = split ?? max(bytes.count, 1)
        var start = 0
        while start < bytes.count {
            let piece = Array(bytes[start..<min(start + step, bytes.count)])
            piece.withUnsafeBytes { framing.consume($0, into: &output) }
            start += step
        }
        if finish { framing.finish(into: &output) }
        return (String(decoding: output, as: UTF8.self), framing.isRefused)
    }

    /// Same answer for every way of splitting the input.
    private func assertForwards(_ input: String, _ expected: String, refused: Bool = false,
                                file: StaticString = #filePath, line: UInt = #line) {
        for split in [nil, 1, 2, 7] {
            let result = run(input, split: split)
            XCTAssertEqual(result.output, expected, "split \(split ?? 0)", file: file, line: line)
            XCTAssertEqual(result.refused, refused, "split \(split ?? 0)", file: file, line: line)
        }
    }

    func testGoodRequestsPassUnchanged() {
        let requests = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
            + "POST /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
            + "GET /c HTTP/1.0\n\n"
        assertForwards(requests, requests)
    }

    func testBadLengthIsReplacedMarkedAndTheRestDropped() {
        let expected = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nX-Polycom-Framing-Fault: malformed-length\r\n\r\n"
        for value in ["-1", "99999999999999999999", "abc", "12abc", "+5", "", "5 6", "0x10"] {
            assertForwards("POST /a HTTP/1.1\r\nContent-Length: \(value)\r\nHost: x\r\n\r\nbodyGET / HTTP/1.1\r\n\r\n",
                           expected, refused: true)
        }
    }

    func testConflictingLengthsAreRefusedAndEqualOnesCollapse() {
        assertForwards("POST /a HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n12345",
                       "POST /a HTTP/1.1\r\nContent-Length: 0\r\nX-Polycom-Framing-Fault: conflicting-lengths\r\n\r\n",
                       refused: true)
        // Equal repeats and surrounding whitespace become one canonical field; the body follows.
        assertForwards("POST /a HTTP/1.1\r\nContent-Length: 3 \r\nContent-Length:\t3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n",
                       "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n")
    }

    /// Lengths that fit 64 bits pass, however large: the body limit (413) is ServerCore's.
    func testLargestLengthsPass() {
        for value in ["18446744073709551615", "10000000000000000000"] {
            let fits = "POST /a HTTP/1.1\r\nContent-Length: \(value)\r\n\r\nGET / HTTP/1.1\r\n\r\n"
            assertForwards(fits, fits)
        }
        // Leading zeros are a plain decimal too; forwarded canonical.
        assertForwards("POST /a HTTP/1.1\r\nContent-Length: 0007\r\n\r\n1234567",
                       "POST /a HTTP/1.1\r\nContent-Length: 7\r\n\r\n1234567")
    }

    func testBadLengthInASecondRequestRefusesOnlyFromThere() {
        assertForwards("POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nokPOST /b HTTP/1.1\r\nContent-Length: -1\r\n\r\nxx",
                       "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
                       + "POST /b HTTP/1.1\r\nContent-Length: 0\r\nX-Polycom-Framing-Fault: malformed-length\r\n\r\n",
                       refused: true)
    }

    func testClientMarkerIsAlwaysRemovedWithItsFoldedLines() {
        assertForwards("GET / HTTP/1.1\r\nX-Polycom-Framing-Fault: malformed-length\r\n more\r\nHost: x\r\n"
                       + "x-polycom-framing-fault: y\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                       "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    }

    func testFoldedLengthIsJudgedWhole() {
        assertForwards("POST / HTTP/1.1\r\nContent-Length: 5\r\n 6\r\n\r\n",
                       "POST / HTTP/1.1\r\nContent-Length: 0\r\nX-Polycom-Framing-Fault: malformed-length\r\n\r\n",
                       refused: true)
    }

    func testChunkedBodyIsFollowedToTheNextRequest() {
        let chunked = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "4;name=value\r\nGET \r\nA\r\n/ HTTP/1.1\n0\r\nTrailer: x\r\n\r\n"
        assertForwards(chunked + "POST /b HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                       chunked + "POST /b HTTP/1.1\r\nContent-Length: 0\r\nX-Polycom-Framing-Fault: malformed-length\r\n\r\n",
                       refused: true)
    }

    func testBrokenChunkFramingIsLeftToMHD() {
        let input = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nPOST /b HTTP/1.1\r\nContent-Length: -1\r\n\r\n"
        assertForwards(input, input)
    }

    func testOtherTransferCodingsAreLeftToMHD() {
        let input = "POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: -1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: -1\r\n\r\n"
        assertForwards(input, input)
    }

    func testLineEndingsAsMHDSplitsThem() {
        // Bare LF and a lone CR end lines; empty lines before the request line are skipped.
        assertForwards("\r\n\nPOST /a HTTP/1.1\nContent-Length: 2\rHost: x\n\nokGET / HTTP/1.1\r\n\r\n",
                       "\r\n\nPOST /a HTTP/1.1\nContent-Length: 2\rHost: x\n\nokGET / HTTP/1.1\r\n\r\n")
        assertForwards("POST /a HTTP/1.1\nContent-Length: -1\n\n",
                       "POST /a HTTP/1.1\nContent-Length: 0\r\nX-Polycom-Framing-Fault: malformed-length\r\n\n", refused: true)
    }

    func testOversizedHeadIsForwardedAsItIs() {
        let head = "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 5000) + "\r\nContent-Length: -1\r\n\r\n"
        assertForwards(head, head)
    }

    func testPartialHeadIsForwardedWhenTheClientCloses() {
        XCTAssertEqual(run("GET /hello HTTP/1.1\r\nHos").output, "")
        XCTAssertEqual(run("GET /hello HTTP/1.1\r\nHos", finish: true).output, "GET /hello HTTP/1.1\r\nHos")
    }
}
