import Foundation
import HTTP
import XCTest

final class HTTPServerTests: XCTestCase {
    func testBindsAnEphemeralPort() throws {
        let server = try makeServer()
        XCTAssertNotEqual(server.port, 0)
    }

    func testRoutesByMethodAndPath() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)

        let hello = try client.request("GET", "/hello")
        XCTAssertEqual(hello.status, 200)
        XCTAssertEqual(hello.text, "hello")
        XCTAssertEqual(hello.header("content-type"), "text/plain; charset=utf-8")

        XCTAssertEqual(try client.request("POST", "/hello").status, 405)
        let missing = try client.request("GET", "/nope")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.text, "no route for /nope")
    }

    func testEchoesBinaryBody() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        // Every byte value, including NUL and invalid UTF-8, repeated past one socket read.
        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let response = try client.request("POST", "/echo", body: body)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, body)
    }

    func testEchoesEmptyBody() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        let response = try client.request("POST", "/echo")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, [])
        XCTAssertEqual(response.header("Content-Length"), "0")
    }

    func testDecodesQueryParameters() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        let response = try client.request("GET", "/query?a=1&b=hello%20world&c=x+y&flag&empty=&u=%C3%A9")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text.split(separator: "\n", omittingEmptySubsequences: false),
                       ["a=1", "b=hello world", "c=x y", "flag=<nil>", "empty=", "u=é"])
    }

    func testDecodesPercentEscapesInPath() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        XCTAssertEqual(try client.request("GET", "/pa%74h").text, "/path")
    }

    func testLooksUpHeadersCaseInsensitively() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        for name in ["X-Custom-Thing", "x-custom-thing", "X-CUSTOM-THING"] {
            let response = try client.request("GET", "/header?name=\(name)",
                                              headers: [("x-CuStOm-ThInG", "value 42")])
            XCTAssertEqual(response.text, "value 42", name)
        }
        XCTAssertEqual(try client.request("GET", "/header?name=X-Absent").text, "<absent>")
    }

    func testKeepsConnectionAlive() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        let first = try client.request("GET", "/hello")
        let second = try client.request("POST", "/echo", body: Array("again".utf8))
        XCTAssertEqual(first.text, "hello")
        XCTAssertEqual(second.text, "again")
        XCTAssertNotEqual(first.header("Connection")?.lowercased(), "close")
    }

    func testPipelinedRequestsOnOneConnection() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /path HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "hello")
        XCTAssertEqual(try client.readResponse().text, "/path")
    }

    func testManyConcurrentClientsThreadPerConnection() throws {
        try runConcurrentClients(threading: .threadPerConnection)
    }

    func testManyConcurrentClientsThreadPool() throws {
        try runConcurrentClients(threading: .pool(threads: 4))
    }

    private func runConcurrentClients(threading: HTTPThreading) throws {
        let server = try makeServer(configure: { $0.threading = threading })
        let port = server.port
        let failures = Shared<[String]>([])
        let clients = (0..<32).map { worker in
            Background {
                do {
                    // Even workers reuse one connection, odd ones open one per request.
                    var connection = try TestConnection(port: port)
                    for i in 0..<20 {
                        if worker % 2 == 1 && i > 0 { connection = try TestConnection(port: port) }
                        let payload = Array("worker \(worker) request \(i)".utf8)
                        let response = try connection.request("POST", "/echo", body: payload)
                        if response.status != 200 || response.body != payload {
                            failures.update { $0.append("worker \(worker) #\(i): \(response.status)") }
                        }
                    }
                } catch {
                    failures.update { $0.append("worker \(worker): \(error)") }
                }
            }
        }
        for client in clients { XCTAssertTrue(client.join(timeout: 60), "a client hung") }
        XCTAssertEqual(failures.current, [])
    }

    func testReportsCompletionWithStatus() throws {
        let records = Shared<[HTTPCompletion]>([])
        let server = try makeServer(onComplete: { record in records.update { $0.append(record) } })
        let client = try TestConnection(port: server.port)
        _ = try client.request("GET", "/hello")
        _ = try client.request("GET", "/missing")
        let seen = records.wait { $0.count >= 2 }
        XCTAssertEqual(seen.map(\.status), [200, 404])
        XCTAssertEqual(seen.map(\.path), ["/hello", "/missing"])
        XCTAssertEqual(seen.map(\.termination), [.completed, .completed])
        XCTAssertEqual(seen.first?.bodyBytesSent, 5)
    }

    func testPerResponseCompletionCallback() throws {
        let records = Shared<[HTTPCompletion]>([])
        let server = try makeServer(handler: { request in
            var response = HTTPResponse(status: 201, text: "made")
            response.onComplete = { record in records.update { $0.append(record) } }
            return response
        })
        let client = try TestConnection(port: server.port)
        XCTAssertEqual(try client.request("PUT", "/thing").status, 201)
        let seen = records.wait { !$0.isEmpty }
        XCTAssertEqual(seen.first?.status, 201)
        XCTAssertEqual(seen.first?.method, "PUT")
    }

    func testInvalidHeaderInResponseBecomes500() throws {
        let server = try makeServer(handler: { _ in
            HTTPResponse(headers: ["X-Bad": "line\r\nInjected: yes"], body: Array("x".utf8))
        })
        let client = try TestConnection(port: server.port)
        let response = try client.request("GET", "/")
        XCTAssertEqual(response.status, 500)
        XCTAssertNil(response.header("Injected"))
    }

    func testRejectsBadConfiguration() {
        var bad = HTTPServerConfiguration()
        bad.host = "not an address"
        XCTAssertThrowsError(try HTTPServer(configuration: bad, handler: routingHandler)) {
            XCTAssertEqual($0 as? HTTPServerError, .invalidHost("not an address"))
        }
        var pool = HTTPServerConfiguration()
        pool.threading = .pool(threads: 0)
        XCTAssertThrowsError(try HTTPServer(configuration: pool, handler: routingHandler))
    }

    func testPortInUseThrows() throws {
        let first = try makeServer()
        XCTAssertThrowsError(try makeServer(configure: { $0.port = first.port })) { error in
            guard case .startFailed(_, let port, _)? = error as? HTTPServerError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(port, first.port)
        }
    }

    func testListensOnIPv6Loopback() throws {
        let server = try makeServer(configure: { $0.host = "::1" })
        XCTAssertNotEqual(server.port, 0)
    }
}

extension HTTPServerTests {
    func testHandlerCanSeeTheClientLeave() throws {
        let seen = Shared<[Bool]>([])
        let server = try makeServer(handler: { request in
            let deadline = Date(timeIntervalSinceNow: 10)
            while !request.isClientDisconnected, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
            seen.update { $0.append(request.isClientDisconnected) }
            return HTTPResponse(text: "too late")
        })
        let client = try TestConnection(port: server.port)
        try client.sendRequest("POST", "/v1/completions", body: Array("{}".utf8))
        client.close()
        XCTAssertEqual(seen.wait(timeout: 15) { !$0.isEmpty }, [true])
        XCTAssertFalse(HTTPRequest(method: "GET", path: "/").isClientDisconnected)
        // A client that is still there, even one that pipelined its next request, is not gone.
        let plain = try makeServer()
        let present = try TestConnection(port: plain.port)
        try present.send("GET /connected HTTP/1.1\r\nHost: x\r\n\r\nGET /connected HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try present.readResponse().text, "here")
        XCTAssertEqual(try present.readResponse().text, "here")
    }
}

extension HTTPServerTests {
    func testReportsRemoteAddress() throws {
        let server = try makeServer()
        let client = try TestConnection(port: server.port)
        let text = try client.request("GET", "/remote").text
        XCTAssertTrue(text.hasPrefix("127.0.0.1:"), text)
        XCTAssertNotNil(UInt16(text.dropFirst("127.0.0.1:".count)), text)
    }
}
