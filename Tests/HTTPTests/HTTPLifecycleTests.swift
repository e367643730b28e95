import Foundation
import HTTP
import XCTest

/// Ownership across the C boundary: every object MHD was handed is released again.
final class HTTPLifecycleTests: XCTestCase {
    private final class Sentinel: @unchecked Sendable {}

    /// Weak references to objects whose only owners live inside the server.
    private final class WeakSet: @unchecked Sendable {
        private let lock = NSLock()
        private var refs: [() -> AnyObject?] = []
        func add(_ object: AnyObject) {
            lock.lock()
            refs.append { [weak object] in object }
            lock.unlock()
        }
        var alive: Int {
            lock.lock()
            defer { lock.unlock() }
            return refs.filter { $0() != nil }.count
        }
        var count: Int {
            lock.lock()
            defer { lock.unlock() }
            return refs.count
        }
    }

    private func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: 10)
        while !condition() {
            if Date() > deadline { return false }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return true
    }

    func testRequestsAndStreamsAreReleased() throws {
        let tracked = WeakSet()
        let server = try makeServer(handler: { request in
            // The sentinel is owned only by the completion closure, which only the request
            // context holds: it dies exactly when MHD hands the context back.
            let sentinel = Sentinel()
            tracked.add(sentinel)
            let done: @Sendable (HTTPCompletion) -> Void = { _ in _ = sentinel }
            if request.path == "/stream" {
                let stream = HTTPStream()
                tracked.add(stream)
                stream.write("x")
                stream.finish()
                var response = HTTPResponse.stream(stream)
                response.onComplete = done
                return response
            }
            var response = HTTPResponse(text: "ok")
            response.onComplete = done
            return response
        })
        let client = try TestConnection(port: server.port)
        for i in 0..<50 {
            XCTAssertEqual(try client.request("GET", i % 2 == 0 ? "/stream" : "/plain").status, 200)
        }
        XCTAssertEqual(tracked.count, 75)
        XCTAssertTrue(eventually { tracked.alive == 0 }, "\(tracked.alive) objects never released")
    }

    func testStoppedServerReleasesItsHandler() throws {
        let sentinel = WeakSet()
        var server: HTTPServer? = try {
            let owned = Sentinel()
            sentinel.add(owned)
            return try makeServer(handler: { _ in
                _ = owned
                return HTTPResponse(text: "ok")
            })
        }()
        XCTAssertEqual(try TestConnection(port: server!.port).request("GET", "/").status, 200)
        server?.stop()
        XCTAssertEqual(sentinel.alive, 1, "the HTTPServer object still owns its handler")
        server = nil
        XCTAssertEqual(sentinel.alive, 0)
    }

    func testHeadOfAStreamCancelsTheProducer() throws {
        let streams = Shared<[HTTPStream]>([])
        let server = try makeServer(handler: { _ in
            let stream = HTTPStream()
            streams.update { $0.append(stream) }
            stream.write("never read")
            return .serverSentEvents(stream)
        })
        let client = try TestConnection(port: server.port)
        try client.sendRequest("HEAD", "/")
        XCTAssertEqual(try client.readHead().status, 200)
        let stream = try XCTUnwrap(streams.wait { !$0.isEmpty }.first)
        XCTAssertTrue(stream.waitUntilCancelled(timeout: 10))
    }

    func testFramingHeadersFromHandlersAreIgnored() throws {
        let server = try makeServer(handler: { _ in
            HTTPResponse(headers: ["Content-Length": "999", "Transfer-Encoding": "identity",
                                   "Connection": "keep-alive", "X-Kept": "yes"],
                         body: Array("abc".utf8))
        })
        let client = try TestConnection(port: server.port)
        let response = try client.request("GET", "/")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Length"), "3")
        XCTAssertEqual(response.header("X-Kept"), "yes")
        XCTAssertEqual(response.text, "abc")
        XCTAssertEqual(try client.request("GET", "/").text, "abc")
    }

    func testHandlerMayAskToCloseTheConnection() throws {
        let server = try makeServer(handler: { _ in
            HTTPResponse(headers: ["Connection": "close"], body: Array("bye".utf8))
        })
        let client = try TestConnection(port: server.port)
        XCTAssertEqual(try client.request("GET", "/").text, "bye")
        XCTAssertEqual(try client.readToEnd(), [])
    }
}
