import Foundation
import HTTP
import XCTest

/// A `Content-Length` MHD would refuse with its own HTML page is answered with the
/// configured JSON error instead, wherever the request sits on its connection, and the
/// connection is closed after it. Raw sockets, so the bytes on the wire are what is checked.
final class FramingRelayTests: XCTestCase {
    /// Each bad value and the status it must get: unparsable or past 2^64 - 1 is a 400,
    /// a length that parses but exceeds the body limit the usual 413.
    private let cases: [(fields: [String], status: Int)] = [
        (["Content-Length: -1"], 400),
        (["Content-Length: 99999999999999999999"], 400),     // 20 digits, past UInt64
        (["Content-Length: 10000000000000000000"], 413),     // 20 digits, fits UInt64
        (["Content-Length: 18446744073709551615"], 413),     // UInt64.max
        (["Content-Length: abc"], 400),
        (["Content-Length: 12abc"], 400),
        (["Content-Length: +5"], 400),
        (["Content-Length:"], 400),
        (["Content-Length: 5", "Content-Length: 6"], 400),
    ]

    private func makeJSONServer(threading: HTTPThreading = .threadPerConnection) throws -> HTTPServer {
        try makeServer(configure: {
            $0.threading = threading
            $0.maxBodyBytes = 1 << 20
            $0.malformedRequestResponse = { Self.envelope(400, $0) }
            $0.bodyTooLargeResponse = { Self.envelope(413, "over \($0) bytes") }
        })
    }

    private static func envelope(_ status: Int, _ message: String) -> HTTPResponse {
        let body = try! JSONSerialization.data(withJSONObject: ["error": ["message": message, "code": status]])
        return HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: Array(body))
    }

    private func badRequest(_ fields: [String]) -> String {
        // Body bytes follow the head: whatever they are, they must not be read as a request.
        "POST /echo HTTP/1.1\r\nHost: x\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\nGET /hello HTTP/1.1\r\n\r\n"
    }

    private let good = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping"

    /// The whole rest of the connection: one JSON error, then the server's close.
    private func assertJSONErrorThenClose(_ client: TestConnection, status: Int, _ what: String,
                                          file: StaticString = #filePath, line: UInt = #line) {
        do {
            let rest = try client.readToEnd()
            let text = String(decoding: rest, as: UTF8.self)
            XCTAssertFalse(text.lowercased().contains("<html"), "\(what): \(text)", file: file, line: line)
            guard let split = text.range(of: "\r\n\r\n") else {
                return XCTFail("\(what): no response head in '\(text)'", file: file, line: line)
            }
            let head = text[..<split.lowerBound].split(separator: "\r\n")
            XCTAssertEqual(head.first?.split(separator: " ").dropFirst().first.map(String.init), String(status),
                           "\(what): \(text)", file: file, line: line)
            func header(_ name: String) -> String? {
                head.dropFirst().first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
                    .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
            }
            XCTAssertEqual(header("Content-Type"), "application/json", what, file: file, line: line)
            XCTAssertEqual(header("Connection")?.lowercased(), "close", what, file: file, line: line)
            let body = Data(text[split.upperBound...].utf8)
            XCTAssertEqual(header("Content-Length"), String(body.count), "\(what): one response only", file: file, line: line)
            let json = try JSONSerialization.jsonObject(with: body) as? [String: Any]
            let error = json?["error"] as? [String: Any]
            XCTAssertEqual(error?["code"] as? Int, status, "\(what): \(text)", file: file, line: line)
            XCTAssertNotNil(error?["message"] as? String, what, file: file, line: line)
        } catch {
            XCTFail("\(what): \(error)", file: file, line: line)
        }
    }

    private func assertGoodAnswer(_ client: TestConnection, _ what: String,
                                  file: StaticString = #filePath, line: UInt = #line) {
        do {
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200, what, file: file, line: line)
            XCTAssertEqual(response.text, "ping", what, file: file, line: line)
        } catch {
            XCTFail("\(what): \(error)", file: file, line: line)
        }
    }

    func testBadLengthAsFirstRequestGetsJSONAndClose() throws {
        let server = try makeJSONServer()
        for (fields, status) in cases {
            let client = try TestConnection(port: server.port)
            try client.send(badRequest(fields))
            assertJSONErrorThenClose(client, status: status, "first: \(fields)")
        }
        XCTAssertEqual(try TestConnection(port: server.port).request("GET", "/hello").text, "hello")
    }

    func testBadLengthAfterAKeepAliveRequestGetsJSONAndClose() throws {
        let server = try makeJSONServer()
        for (fields, status) in cases {
            let client = try TestConnection(port: server.port)
            try client.send(good)
            assertGoodAnswer(client, "keep-alive: \(fields)")
            try client.send(badRequest(fields))
            assertJSONErrorThenClose(client, status: status, "keep-alive: \(fields)")
        }
    }

    func testBadLengthPipelinedAfterAGoodRequestGetsJSONAndClose() throws {
        for threading in [HTTPThreading.threadPerConnection, .pool(threads: 2)] {
            let server = try makeJSONServer(threading: threading)
            for (fields, status) in cases {
                let client = try TestConnection(port: server.port)
                try client.send(good + badRequest(fields))
                assertGoodAnswer(client, "pipelined \(threading): \(fields)")
                assertJSONErrorThenClose(client, status: status, "pipelined \(threading): \(fields)")
            }
        }
    }

    /// The relay follows chunked bodies too: the request after one is still checked.
    func testBadLengthPipelinedAfterAChunkedRequestGetsJSONAndClose() throws {
        let server = try makeJSONServer()
        let client = try TestConnection(port: server.port)
        let chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "2;ext=1\r\npi\r\n2\r\nng\r\n0\r\nX-Trailer: t\r\n\r\n"
        try client.send(chunked + badRequest(["Content-Length: -1"]))
        assertGoodAnswer(client, "after chunked")
        assertJSONErrorThenClose(client, status: 400, "after chunked")
    }

    /// Only the relay may mark a request: a client's copy of the marker never reaches the
    /// handler and refuses nothing.
    func testClientSentMarkerHasNoEffect() throws {
        let server = try makeJSONServer()
        let client = try TestConnection(port: server.port)
        for value in ["malformed-length", "length-too-large", "anything"] {
            let response = try client.request("GET", "/header?name=X-Polycom-Framing-Fault",
                                              headers: [("X-Polycom-Framing-Fault", value), ("x-polycom-framing-fault", value)])
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.text, "<absent>")
        }
        let echoed = try client.request("POST", "/echo", headers: [("X-Polycom-Framing-Fault", "malformed-length")],
                                        body: Array("ping".utf8))
        XCTAssertEqual(echoed.text, "ping")
    }

    /// MHD takes its socketpair end for TCP and would log a failed TCP_CORK / TCP_NODELAY
    /// around every response; those lines are dropped, MHD's others still come through.
    func testSocketOptionNoiseIsNotLogged() throws {
        let lines = Shared<[String]>([])
        let server = try makeServer(configure: { $0.log = { line in lines.update { $0.append(line) } } })
        let client = try TestConnection(port: server.port)
        for _ in 0..<3 { XCTAssertEqual(try client.request("GET", "/hello").text, "hello") }
        let garbage = try TestConnection(port: server.port)
        try garbage.send("GET / HTTP/1.1\r\nNo colon here\r\n\r\n")
        _ = try? garbage.readToEnd()
        let logged = lines.wait { !$0.isEmpty }
        XCTAssertFalse(logged.isEmpty, "MHD's complaint about the garbage should be logged")
        for line in logged {
            XCTAssertFalse(line.contains("TCP_CORK") || line.contains("TCP_NODELAY") || line.contains("push the data"), line)
        }
    }

    /// Graceful stop closes the relay's listening socket at once: connection attempts fail
    /// while a request still runs, and that request is still answered.
    func testStopRefusesNewConnectionsWhileARequestFinishes() throws {
        let release = DispatchSemaphore(value: 0)
        let server = try makeServer { request in
            if request.path == "/block" { release.wait() }
            return HTTPResponse(text: "done")
        }
        let port = server.port
        let busy = try TestConnection(port: port)
        try busy.sendRequest("GET", "/block")
        for _ in 0..<1000 where server.activeRequests != 1 { Thread.sleep(forTimeInterval: 0.01) }
        let stopping = Background { server.stop(grace: 20) }
        var refused = false
        for _ in 0..<500 where !refused {
            if (try? TestConnection(port: port, timeout: 1)) == nil { refused = true } else { Thread.sleep(forTimeInterval: 0.01) }
        }
        XCTAssertTrue(refused, "still accepting while stopping")
        XCTAssertEqual(server.activeRequests, 1)
        release.signal()
        let answer = try busy.readResponse()
        XCTAssertEqual(answer.text, "done")
        XCTAssertEqual(answer.header("Connection")?.lowercased(), "close")
        XCTAssertTrue(stopping.join())
    }

    /// A body that looks like a bad request is a body: forwarded whole, not judged.
    func testBodyThatLooksLikeABadRequestIsEchoedWhole() throws {
        let server = try makeJSONServer()
        let client = try TestConnection(port: server.port)
        let inner = Array("GET /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n".utf8)
        for _ in 0..<3 {
            let response = try client.request("POST", "/echo", body: inner)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.body, inner)
        }
    }
}
