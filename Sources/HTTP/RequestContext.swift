import Foundation

/// MHD's per-request slot (`*con_cls`): born when the headers are parsed, retained by MHD
/// through `Unmanaged`, released in the request-completed callback.
final class RequestContext {
    let method: String
    let path: String
    let version: String
    let started = ContinuousClock.now

    var body: [UInt8] = []
    /// Set once the body passed the limit: the rest is counted and dropped, never stored.
    var bodyOverLimit = false
    var discardedBytes = 0

    /// Set once a response is queued.
    var status: Int?
    var bytesBodyCount = 0
    var streamSource: StreamSource?
    var onComplete: (@Sendable (HTTPCompletion) -> Void)?

    init(method: String, path: String, version: String) {
        self.method = method
        self.path = path
        self.version = version
    }

    func completion(_ termination: HTTPTermination) -> HTTPCompletion {
        let sent: Int
        if let source = streamSource {
            sent = source.bytesSent
        } else {
            sent = termination == .completed ? bytesBodyCount : 0
        }
        return HTTPCompletion(method: method, path: path, status: status, termination: termination,
                              duration: ContinuousClock.now - started, bodyBytesSent: sent)
    }
}
