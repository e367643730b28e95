import CMicroHTTPD
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

/// The bridge between an `HTTPStream` and MHD's content-reader callback; MHD owns one
/// retain of it from response creation until its free callback.
final class StreamSource {
    let stream: HTTPStream
    private let connection: OpaquePointer
    private let fd: Int32
    private let core: ServerCore
    private let lock = NSLock()
    private var sent = 0

    init(stream: HTTPStream, connection: OpaquePointer, core: ServerCore) {
        self.stream = stream
        self.connection = connection
        self.fd = polycom_mhd_connection_fd(connection)
        self.core = core
    }

    var bytesSent: Int {
        lock.lock()
        defer { lock.unlock() }
        return sent
    }

    /// MHD's `ssize_t` protocol: a byte count, -1 end of stream, -2 drop the connection.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let fd = self.fd
        let waiting: HTTPStream.Waiting
        // Parking needs MHD_ALLOW_SUSPEND_RESUME (pool mode only). While draining, stop()
        // is about to join the daemon, which must not find suspended connections: block.
        if core.parksStreams, !core.isDraining {
            let connection = self.connection
            waiting = .park(suspend: { MHD_suspend_connection(connection) },
                            resume: { MHD_resume_connection(connection) })
        } else {
            waiting = .block(pollInterval: core.configuration.disconnectPollSeconds)
        }
        switch stream.read(into: buffer, waiting: waiting, peerClosed: { Socket.peerHasClosed(fd) }) {
        case .bytes(let n):
            lock.lock()
            sent += n
            lock.unlock()
            return n
        case .endOfStream:
            if !core.parksStreams {
                // Back to the idle timeout for the keep-alive wait (this also restarts its clock).
                _ = polycom_mhd_set_connection_timeout(connection, UInt32(core.configuration.idleTimeoutSeconds))
            }
            return -1  // MHD_CONTENT_READER_END_OF_STREAM
        case .abort:
            return -2  // MHD_CONTENT_READER_END_WITH_ERROR
        case .parked:
            return 0  // MHD calls again once the connection is resumed
        }
    }
}
