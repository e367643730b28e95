import Foundation
import HTTP
import XCTest

/// Hostile and broken clients: none of them may take the server down, and it must keep
/// answering well-behaved clients afterwards.
final class HTTPRobustnessTests: XCTestCase {
    private let tenMB = 10 << 20

    private func assertStillServing(_ server: HTTPServer, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let response = try TestConnection(port: server.port).request("GET", "/hello")
            XCTAssertEqual(response.text, "hello", file: file, line: line)
        } catch {
            XCTFail("server stopped answering: \(error)", file: file, line: line)
        }
    }

    func testOversizeBodyGets413BeforeItIsSent() throws {
        let server = try makeServer(configure: { $0.maxBodyBytes = 1 << 20 })
        let client = try TestConnection(port: server.port)
        // Announce 10 MB but send none of it: the answer must not wait for the body.
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(tenMB)\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.header("Connection")?.lowercased(), "close")
        assertStillServing(server)
    }

    func testOversizeBodySentInFullDoesNotHurt() throws {
        let server = try makeServer(configure: { $0.maxBodyBytes = 1 << 20 })
        let client = try TestConnection(port: server.port)
        let body = [UInt8](repeating: 0x41, count: tenMB)
        let writer = Background {
            // The server may close mid-body; a failed send is expected.
            try? client.sendRequest("POST", "/echo", body: body)
        }
        // Either the 413 arrives, or the kernel reset the connection after the server closed
        // with unread bytes; both are fine, a 200 or a hang is not.
        if let response = try? client.readResponse() {
            XCTAssertEqual(response.status, 413)
        }
        client.shutdownWrite()
        XCTAssertTrue(writer.join(timeout: 30))
        assertStillServing(server)
    }

    func testOversizeChunkedBodyIsRefused() throws {
        let server = try makeServer(configure: { $0.maxBodyBytes = 1 << 20 })
        let client = try TestConnection(port: server.port)
        let writer = Background {
            try? client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = Array("10000\r\n".utf8) + [UInt8](repeating: 0x42, count: 0x10000) + Array("\r\n".utf8)
            for _ in 0..<(160) { // 10 MB
                if (try? client.send(chunk)) == nil { return }
            }
            try? client.send("0\r\n\r\n")
        }
        // Chunked bodies can only be judged as they arrive, and MHD cannot answer mid-body:
        // the rest is dropped unread-into-memory and the 413 follows the last chunk.
        XCTAssertEqual(try client.readResponse().status, 413)
        XCTAssertTrue(writer.join(timeout: 30))
        client.close()
        assertStillServing(server)
    }

    func testBodyJustUnderLimitIsAccepted() throws {
        let server = try makeServer(configure: { $0.maxBodyBytes = 1 << 20 })
        let body = [UInt8](repeating: 7, count: 1 << 20)
        let response = try TestConnection(port: server.port).request("POST", "/echo", body: body)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body.count, body.count)
    }

    func testGarbageBytesGetAnErrorOrAClose() throws {
        let server = try makeServer()
        let garbage: [[UInt8]] = [
            Array("\u{0}\u{1}\u{2}NOT HTTP AT ALL\r\n\r\n".utf8),
            [0xFF, 0xFE, 0x00, 0x80, 0x0D, 0x0A, 0x0D, 0x0A],
            Array("GET\r\n\r\n".utf8),
            Array("GET / HTTP/9.9\r\nHost: x\r\n\r\n".utf8),
            Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".utf8),
            Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".utf8),
            Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n\r\n".utf8),
            Array("GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n".utf8),
        ]
        for bytes in garbage {
            let client = try TestConnection(port: server.port, timeout: 10)
            try? client.send(bytes)
            client.shutdownWrite()
            if let response = try? client.readResponse() {
                XCTAssertTrue(response.status >= 400 || response.status == 404, "\(bytes): \(response.status)")
            }
        }
        assertStillServing(server)
    }

    func testNonUTF8PathReachesHandlerRepaired() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        try client.send(Array("GET /path".utf8) + [0xFF, 0xC3] + Array("?x=%FF HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let response = try client.readResponse()
        // Either MHD refuses the raw bytes or the handler sees them replaced by U+FFFD.
        if response.status == 200 {
            XCTAssertEqual(response.text, "/path\u{FFFD}\u{FFFD}")
        } else {
            XCTAssertEqual(response.status / 100, 4)
        }
        assertStillServing(server)
    }

    func testHugeHeadersAreRefused() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        let filler = String(repeating: "a", count: 256 << 10)
        try? client.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: \(filler)\r\n\r\n")
        if let response = try? client.readResponse() {
            XCTAssertEqual(response.status / 100, 4)
        }
        assertStillServing(server)
    }

    func testHalfClosedConnectionStillGetsItsAnswerOrACleanClose() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        client.shutdownWrite()
        if let response = try? client.readResponse() {
            XCTAssertEqual(response.text, "hello")
        }
        assertStillServing(server)
    }

    func testAbandonedConnectionsAreHarmless() throws {
        let records = Shared<[HTTPCompletion]>([])
        let server = try makeServer(onComplete: { r in records.update { $0.append(r) } })
        // Connect and vanish; stop halfway through headers; stop halfway through a body.
        try TestConnection(port: server.port).close()
        let partialHead = try TestConnection(port: server.port)
        try partialHead.send("GET /hello HTTP/1.1\r\nHos")
        partialHead.close()
        let partialBody = try TestConnection(port: server.port)
        try partialBody.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly some")
        partialBody.close()
        assertStillServing(server)
        // The abandoned body is reported as a disconnect, not a completion.
        let seen = records.wait { $0.contains { $0.path == "/echo" } }
        XCTAssertEqual(seen.first { $0.path == "/echo" }?.termination, .clientDisconnected)
    }

    func testIdleConnectionTimesOut() throws {
        let server = try makeServer(configure: { $0.idleTimeoutSeconds = 1 })
        let client = try TestConnection(port: server.port)
        XCTAssertEqual(try client.request("GET", "/hello").text, "hello")
        // The server closes the idle keep-alive connection; EOF rather than the 15 s client timeout.
        XCTAssertEqual(try client.readToEnd(), [])
    }
}

extension HTTPRobustnessTests {
    /// curl sends `Expect: 100-continue` before large bodies: an oversize one must be refused
    /// instead of invited, an acceptable one invited and then answered.
    func testExpectContinue() throws {
        let server = try makeServer(configure: { $0.maxBodyBytes = 1 << 20 })
        let refused = try TestConnection(port: server.port)
        try refused.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: \(tenMB)\r\n\r\n")
        XCTAssertEqual(try refused.readResponse().status, 413)

        let invited = try TestConnection(port: server.port)
        try invited.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        XCTAssertEqual(try invited.readHead().status, 100)
        try invited.send("hello")
        XCTAssertEqual(try invited.readResponse().text, "hello")
    }
}

extension HTTPRobustnessTests {
    func testCustomBodyTooLargeResponse() throws {
        let server = try makeServer(configure: {
            $0.maxBodyBytes = 10
            $0.bodyTooLargeResponse = { limit in
                HTTPResponse(status: 413, headers: ["Content-Type": "application/json"],
                             body: Array("{\"error\":{\"message\":\"max \(limit) bytes\"}}".utf8))
            }
        })
        let declared = try TestConnection(port: server.port).request("POST", "/echo", body: Array("0123456789ABC".utf8))
        XCTAssertEqual(declared.status, 413)
        XCTAssertEqual(declared.header("Content-Type"), "application/json")
        XCTAssertEqual(declared.text, "{\"error\":{\"message\":\"max 10 bytes\"}}")

        let chunked = try TestConnection(port: server.port)
        try chunked.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n0123456789ABC\r\n0\r\n\r\n")
        XCTAssertEqual(try chunked.readResponse().text, "{\"error\":{\"message\":\"max 10 bytes\"}}")
    }
}
