import Foundation

/// How a request ended, from MHD's termination code.
public enum HTTPTermination: Sendable, Equatable {
    /// The whole response was handed to the kernel.
    case completed
    /// The client closed or reset the connection before the response was sent.
    case clientDisconnected
    /// The connection sat idle past `idleTimeoutSeconds`.
    case timedOut
    /// The server stopped while the request was in flight.
    case serverShutdown
    /// A socket error, or a stream whose producer aborted it.
    case error
}

/// The record of one finished request, for metrics and access logs.
public struct HTTPCompletion: Sendable {
    public var method: String
    public var path: String
    /// The status that was queued; nil when the request ended before any response.
    public var status: Int?
    public var termination: HTTPTermination
    /// From the moment the request headers were parsed to termination.
    public var duration: Duration
    /// Body bytes handed to MHD (the full body for byte responses that completed).
    public var bodyBytesSent: Int
}
