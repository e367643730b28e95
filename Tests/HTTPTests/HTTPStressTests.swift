import Foundation
import HTTP
import XCTest

/// Well-behaved, rude and broken clients at once. Bounded: a healthy server finishes in
/// well under a second; a stuck connection shows up as a client timeout.
final class HTTPStressTests: XCTestCase {
    func testMixedHostileTrafficThreadPerConnection() throws {
        try runMixedTraffic(.threadPerConnection)
    }

    func testMixedHostileTrafficThreadPool() throws {
        try runMixedTraffic(.pool(threads: 3))
    }

    private func runMixedTraffic(_ threading: HTTPThreading) throws {
        let server = try makeServer(configure: { $0.threading = threading; $0.maxBodyBytes = 100_000 },
                                    handler: { request in
            guard request.path == "/stream" else { return routingHandler(request) }
            let stream = HTTPStream()
            Thread.detachNewThread {
                for i in 0..<50 {
                    guard stream.writeEvent(data: "\(i)") else { return }
                    if i % 10 == 0 { Thread.sleep(forTimeInterval: 0.001) }
                }
                stream.finish()
            }
            return .serverSentEvents(stream)
        })
        let port = server.port
        let failures = Shared<[String]>([])
        let workers = (0..<16).map { worker in
            Background {
                for i in 0..<24 {
                    let kind = (worker + i) % 6
                    do {
                        let client = try TestConnection(port: port, timeout: 10)
                        switch kind {
                        case 0:  // a whole stream
                            let body = try client.request("GET", "/stream").text
                            if !body.hasSuffix("data: 49\n\n") { throw TestConnection.Failure(description: "short stream") }
                        case 1:  // leave mid-stream
                            try client.sendRequest("GET", "/stream")
                            _ = try client.readHead()
                            client.close()
                        case 2:  // garbage, half-close, expect the server to hang up
                            try? client.send([UInt8](repeating: UInt8(truncatingIfNeeded: worker * 31 + i), count: 300))
                            client.shutdownWrite()
                            _ = try client.readToEnd()
                        case 3:  // oversize body
                            try? client.sendRequest("POST", "/echo", body: [UInt8](repeating: 1, count: 200_000))
                            _ = try? client.readResponse()
                        case 4:  // ordinary echo
                            let payload = Array("\(worker) \(i)".utf8)
                            if try client.request("POST", "/echo", body: payload).body != payload {
                                throw TestConnection.Failure(description: "echo mismatch")
                            }
                        default:  // half a request, then gone
                            try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n")
                            client.close()
                        }
                    } catch {
                        failures.update { $0.append("worker \(worker) kind \(kind): \(error)") }
                    }
                }
            }
        }
        for worker in workers { XCTAssertTrue(worker.join(timeout: 60), "a client hung") }
        XCTAssertEqual(failures.current, [])
        XCTAssertEqual(try TestConnection(port: port).request("GET", "/hello").text, "hello")
        server.stop(grace: 5)
    }
}
