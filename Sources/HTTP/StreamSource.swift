import CMicroHTTPD
import Foundation

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
        // Parking needs MHD_ALLOW_SUSPEND_RESUME (pool mode only). Once closing, the daemon
        // is about to be joined and must not find suspended connections: block instead.
        // (A stream that parked just before is in the registry and gets resumed by its
        // cancellation; one that checks after sees `isClosing`.)
        if core.parksStreams, !core.isClosing {
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
