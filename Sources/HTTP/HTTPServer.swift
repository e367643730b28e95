import CMicroHTTPD
import Foundation

/// Counters of the connection rules, for metrics and tests.
public struct HTTPConnectionStats: Sendable, Equatable {
    public var open: Int
    /// Sent no complete request within `requestTimeoutSeconds`.
    public var closedForRequestTimeout: Int
    /// Waited longest for a request when a connection past `maxConnections` arrived.
    public var closedToMakeRoom: Int
}

/// An HTTP/1.1 server on libmicrohttpd. It listens from `init` until `stop()` / `close()`
/// (or deinit). Keep-alive is on; accepted sockets get TCP_NODELAY. Clients reach MHD
/// through `FramingRelay`, which accepts them and checks each request's framing first.
///
///     let server = try HTTPServer { request in
///         HTTPResponse(text: "hello \(request.path)")
///     }
///     print(server.port)
///
/// The handler runs once per complete request (body included) on an MHD thread and may
/// block. To stream, return a stream at once and feed it from another thread:
///
///     let stream = HTTPStream()
///     let job = engine.submit(prompt) { token in stream.writeEvent(data: token) }
///     stream.onCancel { _ in job.cancel() }      // client gone or server stopping
///     ...                                        // engine calls stream.finish() at the end
///     return .serverSentEvents(stream)
///
/// Threading: `.threadPerConnection` (default) gives every connection its own thread, so
/// handlers and streams block freely. `.pool(threads:)` shares a few threads; a waiting
/// stream then suspends its connection instead of holding a thread, but a blocking handler
/// still stalls its thread's other connections.
///
/// Never fatal on input: a `Content-Length` that is no 64-bit decimal (or several that
/// differ) gets `malformedRequestResponse` (400) and the connection closed, other malformed
/// requests MHD's 4xx, oversize bodies 413, a handler response MHD rejects becomes a 500,
/// and invalid UTF-8 is repaired, not trapped on.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    /// The bound port (the kernel's choice when `configuration.port` was 0).
    public let port: UInt16

    private let core: ServerCore
    private let relay: FramingRelay
    private let lock = NSLock()
    private var daemon: OpaquePointer?

    /// Starts listening. `onComplete` sees every request's completion record (for metrics);
    /// it runs on MHD threads, so it must be quick and thread-safe.
    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                onComplete: (@Sendable (HTTPCompletion) -> Void)? = nil,
                handler: @escaping HTTPHandler) throws {
        try configuration.validate()
        self.configuration = configuration
        let core = ServerCore(configuration: configuration, handler: handler, observer: onComplete)
        self.core = core
        // MHD holds this retain for the daemon's whole life; `close()` gives it back.
        let cls = Unmanaged.passRetained(core).toOpaque()
        var listener: Int32 = -1
        do {
            // Clients connect to the relay's socket, never to MHD (see `FramingRelay`).
            listener = try Socket.withAddress(host: configuration.host, port: configuration.port) { address, isIPv6 in
                try Socket.listen(on: address, isIPv6: isIPv6, host: configuration.host, port: configuration.port)
            }
            guard let started = Self.startDaemon(configuration, cls: cls) else {
                throw HTTPServerError.startFailed(host: configuration.host, port: configuration.port, errno: errno)
            }
            daemon = started
            port = Socket.boundPort(listener)
            do {
                relay = try FramingRelay(listener: listener, daemon: started, maxHeaderBytes: configuration.maxHeaderBytes,
                                         connections: core.connections,
                                         connectionLimit: configuration.maxConnections + configuration.overflowConnections,
                                         log: configuration.log, host: configuration.host, port: configuration.port)
            } catch {
                MHD_stop_daemon(started)
                throw error
            }
        } catch {
            Socket.close(listener)
            Unmanaged<ServerCore>.fromOpaque(cls).release()
            throw error
        }
        core.startDisconnectTicker()
        core.connections.start()
    }

    deinit { close() }

    /// Requests received and not yet finished (includes streams still being sent).
    public var activeRequests: Int { core.inFlightCount }

    /// Open connections and how many were closed by the connection rules (`ConnectionTable`).
    public var connectionStats: HTTPConnectionStats {
        let closed = core.connections.closedCounts
        return HTTPConnectionStats(open: core.connections.liveCount, closedForRequestTimeout: closed.timeout,
                                   closedToMakeRoom: closed.room)
    }

    /// Graceful stop: stop accepting connections at once, let in-flight requests finish
    /// (responses sent from now on carry `Connection: close`), and after `grace` seconds
    /// (default `shutdownGraceSeconds`) cancel the streams still open. Returns when the
    /// daemon is gone; of concurrent callers, the shortest grace wins.
    ///
    /// A handler that never returns still blocks this (MHD joins its threads), and so does
    /// calling it from a handler or an `onComplete` callback: stop from another thread.
    public func stop(grace: Double? = nil) {
        lock.lock()
        guard let daemon else {
            lock.unlock()
            return
        }
        if !core.isDraining {
            core.beginDraining()
            // New connection attempts fail fast instead of waiting in an unserved backlog.
            relay.stopAccepting()
        }
        lock.unlock()

        let deadline = Date(timeIntervalSinceNow: grace ?? configuration.shutdownGraceSeconds)
        _ = core.waitForIdle(until: deadline)
        close()
    }

    /// Immediate stop: cancel every open stream, close every connection, join MHD's threads.
    /// Idempotent; the same caveats about blocked handlers as `stop()`.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        guard let daemon else { return }
        self.daemon = nil
        // Order matters: no new parking, no more resumes from the ticker, then every parked
        // connection resumed by its stream's cancellation — MHD_stop_daemon must not find
        // a suspended connection.
        core.beginClosing()
        core.stopDisconnectTicker()
        core.connections.stop()
        core.cancelAllStreams()
        // No connection may be added while MHD stops; the relay forwards what MHD still
        // sends until then, and closes the clients once MHD has closed its ends.
        relay.stopAccepting()
        MHD_stop_daemon(daemon)
        relay.stop()
        // No callback can run after MHD_stop_daemon returns: the daemon's retain can go.
        Unmanaged.passUnretained(core).release()
    }

    private static func startDaemon(_ configuration: HTTPServerConfiguration,
                                    cls: UnsafeMutableRawPointer) -> OpaquePointer? {
        // The relay accepts and hands connections over with MHD_add_connection, which needs
        // MHD_USE_ITC to wake MHD's threads for them.
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_ITC.rawValue | MHD_USE_NO_LISTEN_SOCKET.rawValue
        if configuration.log != nil { flags |= MHD_USE_ERROR_LOG.rawValue }

        var options: [MHD_OptionItem] = []
        func option(_ kind: MHD_OPTION, _ value: Int, _ pointer: UnsafeMutableRawPointer? = nil) {
            options.append(MHD_OptionItem(option: kind, value: value, ptr_value: pointer))
        }
        func function<F>(_ f: F) -> Int { unsafeBitCast(f, to: Int.self) }

        // MHD wants the logger first, or it reports earlier option errors its own way.
        if configuration.log != nil { option(.EXTERNAL_LOGGER, function(loggerThunk), cls) }
        switch configuration.threading {
        case .threadPerConnection:
            // poll(), not select(): select cannot watch descriptors past FD_SETSIZE.
            flags |= MHD_USE_THREAD_PER_CONNECTION.rawValue | MHD_USE_POLL.rawValue
        case .pool(let threads):
            // poll(), not epoll: with MHD 0.9.75's epoll a client that sends a partial
            // request line and half-closes is never reaped, and connections pile up
            // (reproduced by testMixedHostileTrafficThreadPool).
            flags |= MHD_USE_POLL.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
            if threads > 1 { option(.THREAD_POOL_SIZE, threads) }
        }
        // The relay enforces the limit itself (closing past it, as MHD did); MHD's own is
        // only a backstop it never reaches.
        option(.CONNECTION_LIMIT, configuration.maxConnections + configuration.overflowConnections + 16)
        option(.CONNECTION_MEMORY_LIMIT, configuration.maxHeaderBytes)
        option(.CONNECTION_TIMEOUT, configuration.idleTimeoutSeconds)
        option(.NOTIFY_COMPLETED, function(requestCompletedThunk), cls)
        option(.NOTIFY_CONNECTION, function(notifyConnectionThunk), cls)
        option(.END, 0)

        return options.withUnsafeMutableBufferPointer { array in
            // MHD_start_daemon is variadic; its `_va` twin takes the options as an array.
            withVaList([MHD_OPTION.ARRAY.rawValue, array.baseAddress!, MHD_OPTION.END.rawValue]) { arguments in
                MHD_start_daemon_va(flags, 0, nil, nil, accessHandlerThunk, cls, arguments)
            }
        }
    }
}
