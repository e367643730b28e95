import CMicroHTTPD
import Foundation

/// Accepts the server's connections and stands between each client and MHD, so that MHD
/// never sees a request whose `Content-Length` it would refuse with its own HTML page
/// (libmicrohttpd 0.9.75 answers those before any callback of ours runs).
///
/// Each client gets a `socketpair`; MHD is handed one end with the client's real address
/// (`MHD_add_connection`), so logs, `remoteAddress` and the connection rules work as if it
/// had accepted the client itself. One thread polls every descriptor and copies bytes
/// both ways: client to MHD through `RequestFraming`, which rewrites a bad head, and MHD
/// to client unchanged. Each direction holds at most about `bufferBytes` (plus one held
/// head) before it stops reading its source, so a slow reader slows its writer down
/// instead of growing memory.
///
/// Closing travels both ways: a client's end of file becomes a shutdown of MHD's read side
/// (so MHD, and a stream's disconnect probe, see the client go), and when MHD closes its
/// end (after a response with `Connection: close`, a timeout from `ConnectionTable`, or at
/// shutdown) the client gets what was still buffered and is then closed.
final class FramingRelay: @unchecked Sendable {
    /// Per direction, per connection.
    static let bufferBytes = 64 << 10

    private let daemon: OpaquePointer
    private let listener: Int32
    private let maxHeaderBytes: Int
    /// Says whether MHD has room for one more connection (and holds it).
    private let connections: ConnectionTable
    /// Past this many MHD connections a new client is closed at once.
    private let connectionLimit: Int
    private let log: (@Sendable (String) -> Void)?
    /// Wakes the thread for a command.
    private let wake: (read: Int32, write: Int32)
    private let finished = DispatchSemaphore(value: 0)

    private let commands = NSCondition()
    private var acceptWanted = true
    private var listenerClosed = false
    private var stopWanted = false

    // The relay thread's own.
    private var links: [Link] = []
    private var acceptPausedUntil: ContinuousClock.Instant?

    /// Starts relaying; `listener` (non-blocking, listening) is the relay's from now on.
    init(listener: Int32, daemon: OpaquePointer, maxHeaderBytes: Int,
         connections: ConnectionTable, connectionLimit: Int,
         log: (@Sendable (String) -> Void)?, host: String, port: UInt16) throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw HTTPServerError.startFailed(host: host, port: port, errno: errno) }
        for end in ends { Socket.setNonBlocking(end) }
        self.listener = listener
        self.daemon = daemon
        self.maxHeaderBytes = maxHeaderBytes
        self.connections = connections
        self.connectionLimit = connectionLimit
        self.log = log
        wake = (ends[0], ends[1])
        Thread.detachNewThread { [self] in run() }
    }

    deinit {
        Socket.close(wake.read)
        Socket.close(wake.write)
    }

    /// Closes the listening socket before returning: new connection attempts are refused
    /// at once. Open connections go on. Idempotent.
    func stopAccepting() {
        commands.lock()
        defer { commands.unlock() }
        acceptWanted = false
        poke()
        while !listenerClosed { commands.wait() }
    }

    /// Closes every connection still open and returns once the thread is gone. For after
    /// `MHD_stop_daemon`, when MHD has closed its ends; idempotent.
    func stop() {
        commands.lock()
        let first = !stopWanted
        stopWanted = true
        acceptWanted = false
        commands.unlock()
        guard first else { return }
        poke()
        finished.wait()
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    // MARK: - The relay thread

    private func run() {
        var fds: [pollfd] = []
        var scratch = [UInt8](repeating: 0, count: Self.bufferBytes)
        while true {
            commands.lock()
            let stopping = stopWanted
            let accepting = acceptWanted
            if !accepting && !listenerClosed {
                Socket.close(listener)
                listenerClosed = true
                commands.broadcast()
            }
            commands.unlock()
            if stopping { break }

            let paused = acceptPausedUntil.map { ContinuousClock.now < $0 } ?? false
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: accepting && !paused ? listener : -1, events: Int16(POLLIN), revents: 0))
            for link in links {
                fds.append(pollfd(fd: link.client, events: link.clientEvents, revents: 0))
                // A negative descriptor is skipped by poll: MHD's end is done with.
                fds.append(pollfd(fd: link.serverEOF ? -1 : link.server, events: link.serverEvents, revents: 0))
            }
            let ready = poll(&fds, nfds_t(fds.count), paused ? 100 : -1)
            if ready < 0 {
                if errno != EINTR { log?("polycom HTTP: relay poll failed: errno \(errno)") }
                continue
            }
            if fds[0].revents != 0 { drainWake() }
            let count = links.count
            scratch.withUnsafeMutableBytes { buffer in
                for index in 0..<count {
                    service(links[index], client: fds[2 + 2 * index].revents,
                            server: fds[3 + 2 * index].revents, scratch: buffer)
                }
            }
            links.removeAll { $0.isClosed }
            if fds[1].revents != 0 { acceptAll() }
        }
        for link in links { link.close() }
        links = []
        commands.lock()
        if !listenerClosed {
            Socket.close(listener)
            listenerClosed = true
            commands.broadcast()
        }
        commands.unlock()
        finished.signal()
    }

    private func drainWake() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while read(wake.read, &bytes, bytes.count) > 0 {}
    }

    private func acceptAll() {
        while true {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(listener, $0, &length)
                }
            }
            guard client >= 0 else {
                let code = errno
                switch code {
                case EINTR, ECONNABORTED:
                    continue
                case EAGAIN, EWOULDBLOCK:
                    return
                default:
                    // Out of descriptors or memory: the listener stays readable, so waiting
                    // a moment beats spinning on it.
                    pauseAccepting(code)
                    return
                }
            }
            guard connections.reserve(limit: connectionLimit) else {
                // MHD is never asked past its limit: 0.9.75's refusal of an added connection
                // can deadlock its thread-per-connection listener (seen with 1000 clients).
                Socket.close(client)
                continue
            }
            Socket.setNonBlocking(client)
            Socket.setNoDelay(client)
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                             0, &pair) == 0 else {
                connections.cancelReservation()
                pauseAccepting(errno)
                Socket.close(client)
                return
            }
            let added = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    MHD_add_connection(daemon, pair[1], $0, length)
                }
            }
            guard added == .YES else {
                // MHD closed its end (out of memory, say).
                connections.cancelReservation()
                Socket.close(pair[0])
                Socket.close(client)
                continue
            }
            links.append(Link(client: client, server: pair[0], framing: RequestFraming(maxHeaderBytes: maxHeaderBytes)))
        }
    }

    private func pauseAccepting(_ code: Int32) {
        log?("polycom HTTP: accepting a connection failed: \(String(cString: strerror(code))); pausing 100 ms")
        acceptPausedUntil = .now + .milliseconds(100)
    }

    private func service(_ link: Link, client: Int16, server: Int16, scratch: UnsafeMutableRawBufferPointer) {
        // A reset client (POLLERR) or one whose both directions are gone (POLLHUP) is beyond
        // answering; closing MHD's end tells MHD (its next read sees the end, a write fails).
        if client & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
            link.close()
            return
        }
        if client & Int16(POLLIN) != 0 {
            let n = recv(link.client, scratch.baseAddress, scratch.count, 0)
            if n > 0 {
                link.received(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            } else if n == 0 {
                link.clientFinished()
            } else if !Self.wouldBlock(errno) {
                link.close()
                return
            }
        }
        // Writes are tried as soon as there is something to write, not one poll later: a
        // token reaches the client in the same round it left MHD.
        if !link.up.isEmpty, !link.serverGone, !link.up.flush(to: link.server) {
            // MHD closed its end: what the client sends from now on goes nowhere.
            link.serverGone = true
            link.up.clear()
        }
        if server & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            // Once MHD hung up, read to the end whatever the buffer's size: poll would
            // otherwise report the hangup again and again while the client is slow.
            let toEnd = server & Int16(POLLHUP | POLLERR) != 0
            repeat {
                let n = recv(link.server, scratch.baseAddress, scratch.count, 0)
                if n > 0 {
                    link.down.append(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
                } else {
                    if n == 0 || !Self.wouldBlock(errno) { link.serverEOF = true }
                    break
                }
            } while toEnd
        }
        if !link.down.isEmpty, !link.down.flush(to: link.client) {
            link.close()
            return
        }
        link.settle()
    }

    /// MHD believes its socketpair end is TCP (it was given the client's IP address), so it
    /// tries TCP_CORK / TCP_NODELAY around every response and logs each refusal; a Unix
    /// socket has no Nagle delay to undo, so these lines say nothing.
    static func isSocketOptionNoise(_ line: String) -> Bool {
        line.hasPrefix("Setting TCP_CORK option") || line.hasPrefix("Setting TCP_NODELAY option")
            || line.hasPrefix("Failed to push the data from buffers to the network")
    }

    static func wouldBlock(_ code: Int32) -> Bool {
        code == EAGAIN || code == EWOULDBLOCK || code == EINTR
    }
}

/// One client and its socketpair end, on the relay thread only.
private final class Link {
    let client: Int32
    let server: Int32
    var framing: RequestFraming
    /// Client to MHD, already through `framing`.
    var up = RelayBuffer()
    /// MHD to client.
    var down = RelayBuffer()
    /// The client sent its end of file.
    var clientEOF = false
    /// MHD's read side was shut after the client's last byte.
    var serverShut = false
    /// MHD closed its end: flush `down`, then close the client.
    var serverEOF = false
    /// Writing to MHD failed: the client's bytes are dropped.
    var serverGone = false
    private(set) var isClosed = false

    init(client: Int32, server: Int32, framing: RequestFraming) {
        self.client = client
        self.server = server
        self.framing = framing
    }

    var clientEvents: Int16 {
        var events: Int16 = 0
        let discarding = framing.isRefused || serverGone
        if !clientEOF && (discarding || up.count < FramingRelay.bufferBytes) { events |= Int16(POLLIN) }
        if !down.isEmpty { events |= Int16(POLLOUT) }
        return events
    }

    var serverEvents: Int16 {
        var events: Int16 = 0
        if down.count < FramingRelay.bufferBytes { events |= Int16(POLLIN) }
        if !up.isEmpty && !serverGone { events |= Int16(POLLOUT) }
        return events
    }

    func received(_ bytes: UnsafeRawBufferPointer) {
        guard !serverGone else { return }
        framing.consume(bytes, into: &up.bytes)
    }

    func clientFinished() {
        clientEOF = true
        if !serverGone { framing.finish(into: &up.bytes) }
    }

    /// Passes the client's end of file on once everything before it is with MHD, and
    /// closes both sides once MHD is done and the client has what MHD sent.
    func settle() {
        // A refused request's answer is on its way and MHD closes after it: an end of file
        // now could make MHD drop the answer.
        if clientEOF && up.isEmpty && !serverShut && !serverEOF && !framing.isRefused {
            _ = shutdown(server, Int32(SHUT_WR))
            serverShut = true
        }
        if serverEOF && down.isEmpty { close() }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        // Unread bytes at close make the kernel send a reset, which can destroy the answer
        // before the client reads it: read what is there first.
        var sink = [UInt8](repeating: 0, count: 4096)
        var rounds = 0
        while rounds < 16, recv(client, &sink, sink.count, Int32(MSG_DONTWAIT)) > 0 { rounds += 1 }
        Socket.close(client)
        Socket.close(server)
    }
}

/// Bytes waiting to be written to one side.
private struct RelayBuffer {
    var bytes: [UInt8] = []
    private var start = 0

    var count: Int { bytes.count - start }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: chunk)
    }

    mutating func clear() {
        bytes.removeAll(keepingCapacity: true)
        start = 0
    }

    /// Writes what the socket takes now; false when the socket is closed or broken.
    mutating func flush(to fd: Int32) -> Bool {
        while start < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + start, raw.count - start, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                guard FramingRelay.wouldBlock(errno) else { return false }
                // Keep the written part from piling up in front while the reader is slow.
                if start >= FramingRelay.bufferBytes {
                    bytes.removeFirst(start)
                    start = 0
                }
                return true
            }
            start += n
        }
        clear()
        return true
    }
}
