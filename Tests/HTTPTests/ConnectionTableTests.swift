import Foundation
import HTTP
import XCTest

/// Idle, trickling and too many clients against the connection rules, over loopback sockets.
final class ConnectionTableTests: XCTestCase {
    /// /health answers; /block holds its connection until `release` opens.
    private func blockingServer(_ release: DispatchSemaphore, configure: (inout HTTPServerConfiguration) -> Void)
        throws -> HTTPServer {
        try makeServer(configure: configure) { request in
            switch request.path {
            case "/health": return HTTPResponse(text: "ok")
            case "/block":
                _ = release.wait(timeout: .now() + 10)
                return HTTPResponse(text: "released")
            default: return routingHandler(request)
            }
        }
    }

    /// Polls `condition` every 10 ms for at most 10 s.
    private func waitUntil(_ condition: () -> Bool) {
        for _ in 0..<1000 where !condition() { Thread.sleep(forTimeInterval: 0.01) }
    }

    func testThousandIdleConnectionsDoNotLockOthersOut() throws {
        let server = try makeServer(configure: { $0.maxConnections = 32; $0.overflowConnections = 16 })
        var idle: [TestConnection] = []
        for i in 0..<1000 {
            let client = try TestConnection(port: server.port, timeout: 5)
            if i % 2 == 1 { try? client.send("GET /hel") }  // half of them start a request line
            idle.append(client)
        }
        // Let the server take in the backlog; a waiting loop, not a timing assertion.
        var last = -1
        for _ in 0..<100 {
            let stats = server.connectionStats
            let seen = stats.open + stats.closedToMakeRoom
            if seen == last { break }
            last = seen
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertLessThanOrEqual(server.connectionStats.open, 32 + 16)
        XCTAssertGreaterThan(server.connectionStats.closedToMakeRoom, 0)
        for _ in 0..<20 {
            let response = try TestConnection(port: server.port, timeout: 5).request("GET", "/hello")
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.text, "hello")
        }
        idle.forEach { $0.close() }
    }

    func testBeyondTheLimitRequestsGet503AndHealthIsStillServed() throws {
        let release = DispatchSemaphore(value: 0)
        let server = try blockingServer(release) { $0.maxConnections = 2 }
        let busy = try (0..<2).map { _ in try TestConnection(port: server.port) }
        for client in busy { try client.sendRequest("GET", "/block") }
        waitUntil { server.activeRequests == 2 }
        // Busy connections are never closed to make room: the third gets a 503 at once.
        let third = try TestConnection(port: server.port).request("GET", "/hello")
        XCTAssertEqual(third.status, 503)
        XCTAssertEqual(third.header("Connection")?.lowercased(), "close")
        let health = try TestConnection(port: server.port).request("GET", "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.text, "ok")
        release.signal()
        release.signal()
        for client in busy { XCTAssertEqual(try client.readResponse().text, "released") }
        // Until MHD has finished with them, answered connections still count as busy.
        busy.forEach { $0.close() }
        waitUntil { server.connectionStats.open == 0 }
        XCTAssertEqual(try TestConnection(port: server.port).request("GET", "/hello").status, 200)
    }

    func testOverloadedResponseIsTheConfiguredOne() throws {
        let release = DispatchSemaphore(value: 0)
        let server = try blockingServer(release) {
            $0.maxConnections = 1
            $0.overloadedResponse = { HTTPResponse(status: 503, text: "{\"error\":1}", contentType: "application/json") }
        }
        let busy = try TestConnection(port: server.port)
        try busy.sendRequest("GET", "/block")
        waitUntil { server.activeRequests == 1 }
        let refused = try TestConnection(port: server.port).request("GET", "/hello")
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.header("Content-Type"), "application/json")
        XCTAssertEqual(refused.text, "{\"error\":1}")
        release.signal()
        XCTAssertEqual(try busy.readResponse().status, 200)
    }

    /// The fault drill: a body sent one byte per 100 ms. Within the request timeout it is
    /// served; past it the connection is closed, though every byte came well inside MHD's
    /// per-byte idle timeout.
    func testBodyTrickledOneBytePer100msIsServedWithinTheRequestTimeout() throws {
        let server = try makeServer(configure: { $0.requestTimeoutSeconds = 5 })
        let client = try TestConnection(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        for byte in Array("abcde".utf8) {
            Thread.sleep(forTimeInterval: 0.1)
            try client.send([byte])
        }
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "abcde")
    }

    func testBodyTrickledPastTheRequestTimeoutIsCutOff() throws {
        let server = try makeServer(configure: { $0.requestTimeoutSeconds = 0.5; $0.idleTimeoutSeconds = 60 })
        try assertTrickleIsCutOff(server, head: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
                                  trickle: [UInt8](repeating: 0x61, count: 100))
    }

    func testHeadersTrickledPastTheRequestTimeoutAreCutOff() throws {
        let server = try makeServer(configure: { $0.requestTimeoutSeconds = 0.5; $0.idleTimeoutSeconds = 60 })
        try assertTrickleIsCutOff(server, head: "GET /hello HTTP/1.1\r\n",
                                  trickle: Array(String(repeating: "X-Slow: 1\r\n", count: 10).utf8))
    }

    private func assertTrickleIsCutOff(_ server: HTTPServer, head: String, trickle: [UInt8],
                                       file: StaticString = #filePath, line: UInt = #line) throws {
        let client = try TestConnection(port: server.port)
        try client.send(head)
        let sent = Shared(0)
        let writer = Background {
            // 10 s of bytes at most; the server should cut it off after about 0.5 s.
            for byte in trickle {
                Thread.sleep(forTimeInterval: 0.1)
                guard (try? client.send([byte])) != nil else { return }
                sent.update { $0 += 1 }
            }
        }
        // End of file (or a reset) before the request could complete: no answer comes.
        let rest = try? client.readToEnd()
        XCTAssertEqual(rest ?? [], [], file: file, line: line)
        XCTAssertLessThan(sent.current, trickle.count, "the whole trickle got through", file: file, line: line)
        client.shutdownWrite()
        XCTAssertTrue(writer.join(timeout: 15), file: file, line: line)
        XCTAssertGreaterThanOrEqual(server.connectionStats.closedForRequestTimeout, 1, file: file, line: line)
        XCTAssertEqual(try TestConnection(port: server.port).request("GET", "/hello").status, 200, file: file, line: line)
    }
}
