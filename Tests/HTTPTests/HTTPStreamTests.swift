import Foundation
import HTTP
import XCTest

final class HTTPStreamTests: XCTestCase {
    /// A handler that streams `events` SSE frames from its own producer thread, pausing
    /// `pause` seconds between them, and publishes each stream it makes.
    private func sseHandler(events: Int, pause: Double = 0.01, finish: Bool = true,
                            streams: Shared<[HTTPStream]>) -> HTTPHandler {
        return { _ in
            let stream = HTTPStream()
            streams.update { $0.append(stream) }
            Thread.detachNewThread {
                for i in 0..<events {
                    guard stream.writeEvent(data: "token \(i)") else { return }
                    Thread.sleep(forTimeInterval: pause)
                }
                if finish { stream.finish() }
            }
            return .serverSentEvents(stream)
        }
    }

    private func expectedFrames(_ count: Int) -> String {
        (0..<count).map { "data: token \($0)\n\n" }.joined()
    }

    func testStreamedEventsReassemble() throws {
        let streams = Shared<[HTTPStream]>([])
        let server = try makeServer(handler: sseHandler(events: 20, streams: streams))
        let client = try TestConnection(port: server.port)
        let response = try client.request("POST", "/v1/completions")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Transfer-Encoding")?.lowercased(), "chunked")
        XCTAssertEqual(response.header("Content-Type"), "text/event-stream")
        XCTAssertEqual(response.text, expectedFrames(20))
        XCTAssertEqual(streams.current.first?.isCancelled, false)

        // The connection survives the stream and serves the next request.
        let again = try client.request("POST", "/v1/completions")
        XCTAssertEqual(again.text, expectedFrames(20))
    }

    func testEventsArriveAsTheyAreWritten() throws {
        // The producer waits for the client to have seen event 0 before writing event 1:
        // if the server buffered the stream, this would deadlock (bounded by the gate timeout).
        let gate = DispatchSemaphore(value: 0)
        let server = try makeServer(handler: { _ in
            let stream = HTTPStream()
            Thread.detachNewThread {
                stream.writeEvent(data: "first")
                let released = gate.wait(timeout: .now() + 10) == .success
                stream.writeEvent(data: released ? "second" : "gate timed out")
                stream.finish()
            }
            return .serverSentEvents(stream)
        })
        let client = try TestConnection(port: server.port)
        try client.sendRequest("GET", "/stream")
        XCTAssertEqual(try client.readHead().status, 200)
        XCTAssertEqual(try client.readChunk().map { String(decoding: $0, as: UTF8.self) }, "data: first\n\n")
        gate.signal()
        var rest = ""
        while let chunk = try client.readChunk() { rest += String(decoding: chunk, as: UTF8.self) }
        XCTAssertEqual(rest, "data: second\n\n")
    }

    func testClientDisconnectCancelsStream() throws {
        let streams = Shared<[HTTPStream]>([])
        let records = Shared<[HTTPCompletion]>([])
        // One event, then the producer idles: only the disconnect check can notice the client left.
        let server = try makeServer(onComplete: { r in records.update { $0.append(r) } },
                                    handler: sseHandler(events: 1, finish: false, streams: streams))
        let client = try TestConnection(port: server.port)
        try client.sendRequest("GET", "/stream")
        XCTAssertEqual(try client.readHead().status, 200)
        XCTAssertNotNil(try client.readChunk())
        client.close()

        let stream = try XCTUnwrap(streams.current.first)
        let notified = Shared<HTTPStream.CancelReason?>(nil)
        stream.onCancel { reason in notified.update { $0 = reason } }
        XCTAssertTrue(stream.waitUntilCancelled(timeout: 10))
        XCTAssertEqual(stream.cancelReason, .clientDisconnected)
        XCTAssertEqual(notified.wait { $0 != nil }, .clientDisconnected)
        XCTAssertFalse(stream.write("after the client left"))
        XCTAssertEqual(records.wait { !$0.isEmpty }.first?.termination, .clientDisconnected)
        // Observers run just before the request leaves the registry: allow a moment.
        let deadline = Date(timeIntervalSinceNow: 10)
        while server.activeRequests != 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(server.activeRequests, 0)
    }

    func testClientDisconnectWhileProducerKeepsWriting() throws {
        let streams = Shared<[HTTPStream]>([])
        let server = try makeServer(handler: sseHandler(events: 100_000, pause: 0.001, streams: streams))
        let client = try TestConnection(port: server.port)
        try client.sendRequest("GET", "/stream")
        XCTAssertEqual(try client.readHead().status, 200)
        XCTAssertNotNil(try client.readChunk())
        client.close()
        let stream = try XCTUnwrap(streams.current.first)
        XCTAssertTrue(stream.waitUntilCancelled(timeout: 10))
    }

    func testProducerAbortDropsConnection() throws {
        let server = try makeServer(handler: { _ in
            let stream = HTTPStream()
            Thread.detachNewThread {
                stream.write("partial")
                Thread.sleep(forTimeInterval: 0.05)
                stream.abort()
            }
            return .stream(stream)
        })
        let client = try TestConnection(port: server.port)
        try client.sendRequest("GET", "/")
        XCTAssertEqual(try client.readHead().status, 200)
        XCTAssertEqual(try client.readChunk(), Array("partial".utf8))
        // No terminating zero chunk: the response must not look complete.
        XCTAssertThrowsError(try client.readChunk())
    }

    func testGracefulStopFinishesInFlightStream() throws {
        let streams = Shared<[HTTPStream]>([])
        let server = try makeServer(handler: sseHandler(events: 10, pause: 0.05, streams: streams))
        let port = server.port
        let client = try TestConnection(port: port)
        try client.sendRequest("GET", "/stream")
        XCTAssertEqual(try client.readHead().status, 200)

        let stopping = Background { server.stop(grace: 20) }
        var body = ""
        while let chunk = try client.readChunk() { body += String(decoding: chunk, as: UTF8.self) }
        XCTAssertEqual(body, expectedFrames(10))
        XCTAssertTrue(stopping.join())
        XCTAssertEqual(streams.current.first?.isCancelled, false)
        XCTAssertThrowsError(try TestConnection(port: port), "still accepting after stop")
    }

    func testStopCancelsStreamsThatOutliveGrace() throws {
        let streams = Shared<[HTTPStream]>([])
        let server = try makeServer(handler: sseHandler(events: 1, finish: false, streams: streams))
        let client = try TestConnection(port: server.port)
        try client.sendRequest("GET", "/stream")
        XCTAssertEqual(try client.readHead().status, 200)
        XCTAssertNotNil(try client.readChunk())

        server.stop(grace: 0.2)
        XCTAssertEqual(streams.current.first?.cancelReason, .serverShutdown)
        XCTAssertThrowsError(try client.readChunk())
    }

    func testDeinitClosesPromptlyWithOpenStream() throws {
        let streams = Shared<[HTTPStream]>([])
        var server: HTTPServer? = try makeServer(handler: sseHandler(events: 1, finish: false, streams: streams))
        let client = try TestConnection(port: server!.port)
        try client.sendRequest("GET", "/stream")
        XCTAssertNotNil(try client.readHead())
        server = nil
        XCTAssertEqual(streams.current.first?.isCancelled, true)
    }

    func testStreamFramesMultilineEvents() {
        let stream = HTTPStream()
        XCTAssertTrue(stream.writeEvent(data: "a\nb", event: "delta"))
        stream.finish()
        XCTAssertFalse(stream.write("late"))
        XCTAssertFalse(stream.isCancelled)
    }
}

/// The same streaming guarantees on MHD's shared event-loop threads.
final class HTTPStreamPoolTests: XCTestCase {
    func testStreamAndDisconnectOnThreadPool() throws {
        let streams = Shared<[HTTPStream]>([])
        let server = try makeServer(configure: { $0.threading = .pool(threads: 2) }, handler: { request in
            if request.path == "/hello" { return HTTPResponse(text: "hello") }
            let stream = HTTPStream()
            streams.update { $0.append(stream) }
            Thread.detachNewThread {
                for i in 0..<5 { stream.writeEvent(data: "\(i)") }
                if streams.current.count == 1 { stream.finish() }  // the second stream never ends
            }
            return .serverSentEvents(stream)
        })
        let first = try TestConnection(port: server.port)
        XCTAssertEqual(try first.request("GET", "/a").text, (0..<5).map { "data: \($0)\n\n" }.joined())

        let second = try TestConnection(port: server.port)
        try second.sendRequest("GET", "/b")
        XCTAssertEqual(try second.readHead().status, 200)
        XCTAssertNotNil(try second.readChunk())
        second.close()
        let stream = try XCTUnwrap(streams.wait { $0.count == 2 }.last)
        XCTAssertTrue(stream.waitUntilCancelled(timeout: 10))
        XCTAssertEqual(try first.request("GET", "/hello").status, 200)
    }
}

extension HTTPStreamPoolTests {
    /// With one pool thread, a stream waiting for its producer must not hold that thread:
    /// another client is served meanwhile, and the stream still completes afterwards.
    func testWaitingStreamDoesNotStallThePool() throws {
        let gate = DispatchSemaphore(value: 0)
        let server = try makeServer(configure: { $0.threading = .pool(threads: 1) }, handler: { request in
            if request.path == "/hello" { return HTTPResponse(text: "hello") }
            let stream = HTTPStream()
            Thread.detachNewThread {
                stream.writeEvent(data: "first")
                _ = gate.wait(timeout: .now() + 20)
                stream.writeEvent(data: "second")
                stream.finish()
            }
            return .serverSentEvents(stream)
        })
        let streaming = try TestConnection(port: server.port)
        try streaming.sendRequest("GET", "/stream")
        XCTAssertEqual(try streaming.readHead().status, 200)
        XCTAssertNotNil(try streaming.readChunk())

        for _ in 0..<3 {
            XCTAssertEqual(try TestConnection(port: server.port, timeout: 5).request("GET", "/hello").text, "hello")
        }
        gate.signal()
        XCTAssertEqual(try streaming.readChunk().map { String(decoding: $0, as: UTF8.self) }, "data: second\n\n")
        XCTAssertNil(try streaming.readChunk())
    }

    func testStopWithParkedStreams() throws {
        let streams = Shared<[HTTPStream]>([])
        let server = try makeServer(configure: { $0.threading = .pool(threads: 2) }, handler: { _ in
            let stream = HTTPStream()
            streams.update { $0.append(stream) }
            stream.writeEvent(data: "only")
            return .serverSentEvents(stream)
        })
        let clients = try (0..<4).map { _ in try TestConnection(port: server.port) }
        for client in clients {
            try client.sendRequest("GET", "/stream")
            XCTAssertEqual(try client.readHead().status, 200)
            XCTAssertNotNil(try client.readChunk())
        }
        server.stop(grace: 0.2)
        XCTAssertEqual(streams.current.map(\.cancelReason), Array(repeating: .serverShutdown, count: 4))
    }
}

/// Streams against MHD's idle timeout and older clients.
final class HTTPStreamTimeoutTests: XCTestCase {
    /// A pause between tokens longer than the idle timeout (a long prompt, a busy batch)
    /// must not cut the stream; the idle timeout applies again once it ends.
    func testPauseLongerThanIdleTimeoutKeepsStream() throws {
        for threading in [HTTPThreading.threadPerConnection, .pool(threads: 2)] {
            let server = try makeServer(configure: { $0.idleTimeoutSeconds = 1; $0.threading = threading },
                                        handler: { _ in
                let stream = HTTPStream()
                Thread.detachNewThread {
                    stream.writeEvent(data: "a")
                    Thread.sleep(forTimeInterval: 2.2)
                    stream.writeEvent(data: "b")
                    stream.finish()
                }
                return .serverSentEvents(stream)
            })
            let client = try TestConnection(port: server.port)
            XCTAssertEqual(try client.request("GET", "/").text, "data: a\n\ndata: b\n\n", "\(threading)")
            XCTAssertEqual(try client.readToEnd(), [], "idle keep-alive not closed (\(threading))")
        }
    }

    func testHTTP10ClientGetsCloseDelimitedStream() throws {
        let server = try makeServer(handler: { _ in
            let stream = HTTPStream()
            Thread.detachNewThread {
                stream.writeEvent(data: "a")
                stream.writeEvent(data: "b")
                stream.finish()
            }
            return .serverSentEvents(stream)
        })
        let client = try TestConnection(port: server.port)
        try client.send("GET / HTTP/1.0\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertNil(response.header("Transfer-Encoding"))
        XCTAssertEqual(response.text, "data: a\n\ndata: b\n\n")
    }
}

extension HTTPStreamPoolTests {
    func testGracefulStopOnThreadPoolFinishesInterleavedStreams() throws {
        let server = try makeServer(configure: { $0.threading = .pool(threads: 1) }, handler: { request in
            let stream = HTTPStream()
            Thread.detachNewThread {
                for i in 0..<8 {
                    stream.writeEvent(data: "\(request.path) \(i)")
                    Thread.sleep(forTimeInterval: 0.03)
                }
                stream.finish()
            }
            return .serverSentEvents(stream)
        })
        let clients = try ["/a", "/b", "/c"].map { path -> (String, TestConnection) in
            let client = try TestConnection(port: server.port)
            try client.sendRequest("GET", path)
            XCTAssertEqual(try client.readHead().status, 200)
            return (path, client)
        }
        let stopping = Background { server.stop(grace: 20) }
        for (path, client) in clients {
            var body = ""
            while let chunk = try client.readChunk() { body += String(decoding: chunk, as: UTF8.self) }
            XCTAssertEqual(body, (0..<8).map { "data: \(path) \($0)\n\n" }.joined())
        }
        XCTAssertTrue(stopping.join())
    }
}
