/// How MHD schedules connections onto threads.
public enum HTTPThreading: Sendable, Equatable {
    /// One thread per open connection. Handlers and stream producers may block for as long as
    /// they like without stalling anyone else; `maxConnections` bounds the thread count.
    /// The right mode for an inference server, whose handlers wait on model output.
    case threadPerConnection
    /// A fixed number of event-loop threads shared by all connections. Cheaper per idle
    /// connection, but a handler or stream that blocks stalls every connection on its thread.
    case pool(threads: Int)
}

public struct HTTPServerConfiguration: Sendable {
    /// An IPv4 or IPv6 address literal; names are not resolved.
    public var host: String = "127.0.0.1"
    /// 0 asks the kernel for a free port; `HTTPServer.port` reports the one bound.
    public var port: UInt16 = 0
    public var threading: HTTPThreading = .threadPerConnection
    /// Open connections beyond this first close the oldest connection still waiting for a
    /// request; if none is, requests get `overloadedResponse` (503). See `ConnectionTable`.
    public var maxConnections: Int = 256
    /// Connections still accepted past `maxConnections`, to answer them 503 rather than
    /// reset them; beyond both a new one is closed at once.
    public var overflowConnections: Int = 64
    /// A whole request (headers and body) must arrive within this many seconds of the
    /// connection opening or of its previous response finishing, or the connection is
    /// closed: total time, so a client trickling a byte at a time cannot hold it open.
    public var requestTimeoutSeconds: Double = 30
    /// Served even beyond `maxConnections` (a load balancer's probe must not see 503s
    /// because clients hog the server).
    public var alwaysServedPaths: Set<String> = ["/health"]
    /// The answer beyond `maxConnections`; nil: a plain-text 503.
    public var overloadedResponse: (@Sendable () -> HTTPResponse)? = nil
    /// Larger request bodies are answered with 413 and never buffered.
    public var maxBodyBytes: Int = 16 << 20
    /// Request line plus headers must fit here; MHD answers larger ones itself (431/414).
    public var maxHeaderBytes: Int = 64 << 10
    /// An idle connection (keep-alive, or a client that stalls mid-request) is closed after this.
    /// It does not limit a handler or a stream that is busy producing.
    public var idleTimeoutSeconds: Int = 60
    /// How long `stop()` waits for in-flight requests before cancelling their streams.
    public var shutdownGraceSeconds: Double = 10
    /// How often a stream waiting for its producer checks whether the client went away.
    public var disconnectPollSeconds: Double = 0.1
    /// Receives MHD's own diagnostics (malformed requests, socket errors). nil: silent.
    public var log: (@Sendable (String) -> Void)? = nil
    /// The 413 answer for a body over `maxBodyBytes` (given that limit), so an API can send
    /// its own error format; nil: a plain-text 413.
    public var bodyTooLargeResponse: (@Sendable (Int) -> HTTPResponse)? = nil
    /// The 400 answer for a request whose framing cannot be trusted (a `Content-Length`
    /// that is no 64-bit decimal, or several that differ), given what is wrong; nil: plain
    /// text. The connection is closed after it.
    public var malformedRequestResponse: (@Sendable (String) -> HTTPResponse)? = nil

    public init() {}

    public init(host: String = "127.0.0.1", port: UInt16 = 0,
                threading: HTTPThreading = .threadPerConnection) {
        self.host = host
        self.port = port
        self.threading = threading
    }

    func validate() throws {
        func bad(_ why: String) -> HTTPServerError { .invalidConfiguration(why) }
        if case .pool(let threads) = threading, threads < 1 { throw bad("pool needs at least 1 thread") }
        if maxConnections < 1 { throw bad("maxConnections must be positive") }
        if overflowConnections < 0 { throw bad("overflowConnections must not be negative") }
        if !(requestTimeoutSeconds > 0) { throw bad("requestTimeoutSeconds must be positive") }
        if maxBodyBytes < 0 { throw bad("maxBodyBytes must not be negative") }
        if maxHeaderBytes < 4096 { throw bad("maxHeaderBytes below 4096 cannot hold ordinary requests") }
        if idleTimeoutSeconds < 0 { throw bad("idleTimeoutSeconds must not be negative") }
        if shutdownGraceSeconds < 0 { throw bad("shutdownGraceSeconds must not be negative") }
        if !(disconnectPollSeconds > 0) { throw bad("disconnectPollSeconds must be positive") }
    }
}
