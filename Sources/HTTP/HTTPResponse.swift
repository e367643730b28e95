/// What a handler returns: a status, headers, and either the whole body or a stream.
public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Sent with chunked transfer encoding as the producer writes into the stream.
        case stream(HTTPStream)
    }

    public var status: Int
    public var headers: HTTPHeaders
    public var body: Body
    /// Called once when this response has been sent in full or the request was abandoned:
    /// the hook for per-request metrics (status, latency, how it ended).
    public var onComplete: (@Sendable (HTTPCompletion) -> Void)?

    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = .bytes(body)
    }

    /// A UTF-8 text body; sets Content-Type unless `headers` already has one.
    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), text: String,
                contentType: String = "text/plain; charset=utf-8") {
        self.init(status: status, headers: headers, body: Array(text.utf8))
        if !self.headers.contains("Content-Type") { self.headers.add("Content-Type", contentType) }
    }

    /// A streamed body, e.g. Server-Sent Events: the handler returns this at once and
    /// another thread writes into `stream` until it calls `finish()`.
    public static func stream(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(),
                              _ stream: HTTPStream) -> HTTPResponse {
        var response = HTTPResponse(status: status, headers: headers)
        response.body = .stream(stream)
        return response
    }

    /// The SSE preset: `text/event-stream`, no caching, no proxy buffering.
    public static func serverSentEvents(_ stream: HTTPStream,
                                        headers extra: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var headers = extra
        if !headers.contains("Content-Type") { headers.add("Content-Type", "text/event-stream") }
        if !headers.contains("Cache-Control") { headers.add("Cache-Control", "no-cache") }
        if !headers.contains("X-Accel-Buffering") { headers.add("X-Accel-Buffering", "no") }
        return .stream(headers: headers, stream)
    }
}
