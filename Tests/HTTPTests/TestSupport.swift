import Foundation
import HTTP
import XCTest

/// The handler most tests run against: a tiny route table by method and path.
@Sendable func routingHandler(_ request: HTTPRequest) -> HTTPResponse {
    switch (request.method, request.path) {
    case ("GET", "/hello"):
        return HTTPResponse(text: "hello")
    case ("POST", "/echo"):
        return HTTPResponse(headers: ["Content-Type": "application/octet-stream"], body: request.body)
    case ("GET", "/query"):
        let lines = request.queryItems.map { "\($0.name)=\($0.value ?? "<nil>")" }
        return HTTPResponse(text: lines.joined(separator: "\n"))
    case ("GET", "/header"):
        let name = request.query("name") ?? ""
        return HTTPResponse(text: request.headers[name] ?? "<absent>")
    case ("GET", "/remote"):
        return HTTPResponse(text: request.remoteAddress ?? "<unknown>")
    case ("GET", "/connected"):
        return HTTPResponse(text: request.isClientDisconnected ? "gone" : "here")
    case ("GET", "/path"):
        return HTTPResponse(text: request.path)
    case (_, "/hello"), (_, "/echo"):
        return HTTPResponse(status: 405, text: "method not allowed")
    default:
        return HTTPResponse(status: 404, text: "no route for \(request.path)")
    }
}

func makeServer(configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                onComplete: (@Sendable (HTTPCompletion) -> Void)? = nil,
                handler: @escaping HTTPHandler = routingHandler) throws -> HTTPServer {
    var configuration = HTTPServerConfiguration()
    configure(&configuration)
    return try HTTPServer(configuration: configuration, onComplete: onComplete, handler: handler)
}

/// A thread-safe box for values handed from MHD threads to the test thread.
final class Shared<Value>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func update(_ change: (inout Value) -> Void) {
        condition.lock()
        change(&value)
        condition.broadcast()
        condition.unlock()
    }

    var current: Value {
        condition.lock()
        defer { condition.unlock() }
        return value
    }

    /// Waits (bounded) until `predicate` holds; returns the value either way.
    @discardableResult
    func wait(timeout: Double = 10, until predicate: (Value) -> Bool) -> Value {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while !predicate(value), condition.wait(until: deadline) {}
        return value
    }
}

/// Runs `body` on a background thread; `join` waits for it (bounded).
final class Background: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Void) {
        let done = self.done
        Thread.detachNewThread {
            body()
            done.signal()
        }
    }

    func join(timeout: Double = 20) -> Bool {
        done.wait(timeout: .now() + timeout) == .success
    }
}
