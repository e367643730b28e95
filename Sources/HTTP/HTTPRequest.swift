import Foundation

/// One decoded query parameter. `value` is nil for a bare `?flag`, "" for `?flag=`.
public struct HTTPQueryItem: Sendable, Equatable {
    public var name: String
    public var value: String?
    public init(name: String, value: String?) {
        self.name = name
        self.value = value
    }
}

/// A complete request, body included, as handed to the handler.
///
/// Strings that arrived as bytes (path, query, headers) are decoded as UTF-8 with invalid
/// sequences replaced by U+FFFD: garbage from a client must never become a crash.
public struct HTTPRequest: Sendable {
    public var method: String
    /// Percent-decoded path without the query string.
    public var path: String
    /// "HTTP/1.1", "HTTP/1.0".
    public var version: String
    /// Percent- and plus-decoded, in arrival order.
    public var queryItems: [HTTPQueryItem]
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The client's "address:port" ("[v6]:port" for IPv6), for logs; nil if unknown.
    public var remoteAddress: String?
    /// Set by the server; nil for requests built by hand (which are never disconnected).
    var connectionProbe: ConnectionProbe?

    public init(method: String, path: String, version: String = "HTTP/1.1",
                queryItems: [HTTPQueryItem] = [], headers: HTTPHeaders = HTTPHeaders(),
                body: [UInt8] = [], remoteAddress: String? = nil) {
        self.method = method
        self.path = path
        self.version = version
        self.queryItems = queryItems
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// The first value of query parameter `name` ("" for a bare `?name`), or nil when absent.
    public func query(_ name: String) -> String? {
        queryItems.first { $0.name == name }.map { $0.value ?? "" }
    }

    /// True once the client has closed or reset its connection. A long non-streaming handler
    /// (a whole completion) polls it to abandon work nobody will read. Answers only while
    /// the handler runs; afterwards it is always false.
    public var isClientDisconnected: Bool { connectionProbe?.peerHasClosed ?? false }

    /// The body as UTF-8, invalid sequences replaced.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Looks at a connection's socket on behalf of a handler. The descriptor belongs to MHD and
/// may be reused once the handler returns, so the probe goes dark at that point.
final class ConnectionProbe: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var active = true

    init(fd: Int32) { self.fd = fd }

    var peerHasClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return active && Socket.peerHasClosed(fd)
    }

    func deactivate() {
        lock.lock()
        active = false
        lock.unlock()
    }
}
