import Foundation
import CMicroHTTPD

/// Everything that can go wrong starting or driving the server, with enough context to act on.
public enum HTTPServerError: Error, Equatable, CustomStringConvertible {
    /// The host is neither an IPv4 nor an IPv6 literal (names are not resolved on purpose:
    /// a server should bind exactly what it was told).
    case invalidHost(String)
    case invalidConfiguration(String)
    /// `MHD_start_daemon` returned NULL; `errno` usually says why (EADDRINUSE, EACCES).
    case startFailed(host: String, port: UInt16, errno: Int32)
    /// An MHD call that reports success as `MHD_YES` said `MHD_NO`.
    case mhdCallFailed(String)

    public var description: String {
        switch self {
        case .invalidHost(let host):
            return "invalid host '\(host)': expected an IPv4 or IPv6 address literal"
        case .invalidConfiguration(let why):
            return "invalid HTTP server configuration: \(why)"
        case .startFailed(let host, let port, let code):
            return "cannot listen on \(host):\(port): \(String(cString: strerror(code))) (errno \(code))"
        case .mhdCallFailed(let call):
            return "\(call) failed"
        }
    }
}

/// The one place MHD results are checked, so every failure names the call that failed.
@inline(__always)
func mhdCheck(_ result: MHD_Result, _ call: @autoclosure () -> String) throws {
    if result != .YES { throw HTTPServerError.mhdCallFailed(call()) }
}

/// Same check for calls that hand back a pointer (NULL means failure).
@inline(__always)
func mhdCheck<T>(_ pointer: T?, _ call: @autoclosure () -> String) throws -> T {
    guard let pointer else { throw HTTPServerError.mhdCallFailed(call()) }
    return pointer
}

extension MHD_Result {
    init(_ ok: Bool) { self = ok ? .YES : .NO }
}
