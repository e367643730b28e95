import CMicroHTTPD
import Foundation

/// Called once per complete request on an MHD thread; may block (e.g. on model output).
public typealias HTTPHandler = @Sendable (HTTPRequest) -> HTTPResponse

/// The state MHD's callbacks reach through their `cls` pointer: configuration, handler,
/// and the registry of in-flight requests that graceful shutdown waits on.
final class ServerCore: @unchecked Sendable {
    let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let observer: (@Sendable (HTTPCompletion) -> Void)?

    /// Pool threads are shared, so a stream waiting for its producer suspends its
    /// connection instead of holding the thread.
    let parksStreams: Bool
    /// Open connections, their request clocks and the connection limit.
    let connections: ConnectionTable

    private let state = NSCondition()
    private var ticker: PeriodicTask?
    /// In-flight requests and the stream each is sending, if any. Guarded by `state`:
    /// `stop()` reads it from another thread, so the contexts themselves are not shared.
    private var inFlight: [ObjectIdentifier: HTTPStream?] = [:]
    private var draining = false
    private var closing = false

    init(configuration: HTTPServerConfiguration, handler: @escaping HTTPHandler,
         observer: (@Sendable (HTTPCompletion) -> Void)?) {
        self.configuration = configuration
        self.handler = handler
        self.observer = observer
        if case .pool = configuration.threading { parksStreams = true } else { parksStreams = false }
        connections = ConnectionTable(maxConnections: configuration.maxConnections,
                                      requestTimeoutSeconds: configuration.requestTimeoutSeconds,
                                      log: configuration.log)
    }

    // MARK: - Request lifecycle (MHD threads)

    func access(connection: OpaquePointer, url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?,
                version: UnsafePointer<CChar>?, uploadData: UnsafePointer<CChar>?,
                uploadDataSize: UnsafeMutablePointer<Int>,
                requestSlot: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> MHD_Result {
        guard let raw = requestSlot.pointee else {
            // First call: headers are in, no body yet.
            let context = RequestContext(method: Self.text(method), path: Self.text(url),
                                         version: Self.text(version))
            requestSlot.pointee = Unmanaged.passRetained(context).toOpaque()
            register(context)
            if let fault = Self.framingFault(connection) { return respond(context, connection, refusal(fault)) }
            if connections.liveCount > configuration.maxConnections,
               !configuration.alwaysServedPaths.contains(context.path) {
                return respond(context, connection, overloaded())
            }
            if let declared = Self.contentLength(connection) {
                // Refuse before reading a byte of it; MHD closes the connection after.
                if declared > UInt64(configuration.maxBodyBytes) { return respond(context, connection, tooLarge()) }
                // One buffer of the declared size: growing by doubling would, at the last
                // copy, hold 1.5 times the body (pages are touched only as bytes arrive,
                // so a client that declares and never sends costs nothing resident).
                context.body.reserveCapacity(Int(declared))
            }
            return .YES
        }
        let context = Unmanaged<RequestContext>.fromOpaque(raw).takeUnretainedValue()

        let count = uploadDataSize.pointee
        if count > 0 {
            uploadDataSize.pointee = 0
            return accept(body: UnsafeRawBufferPointer(start: uploadData, count: count),
                          into: context, connection)
        }
        guard context.status == nil else { return .YES }
        if context.bodyOverLimit { return respond(context, connection, tooLarge()) }

        var request = HTTPRequest(
            method: context.method, path: context.path, version: context.version,
            queryItems: PairCollector.collect(connection, kind: .GET_ARGUMENT_KIND)
                .map { HTTPQueryItem(name: $0.name, value: $0.value) },
            headers: HTTPHeaders(PairCollector.collect(connection, kind: .HEADER_KIND)
                .map { ($0.name, $0.value ?? "") }),
            body: context.body,
            remoteAddress: Socket.describe(polycom_mhd_client_address(connection)))
        context.body = []
        let probe = ConnectionProbe(fd: polycom_mhd_connection_fd(connection))
        request.connectionProbe = probe
        connections.handling(connection)
        let response = handler(request)
        probe.deactivate()
        return respond(context, connection, response)
    }

    /// Bodies without a Content-Length (chunked) can only be judged as they arrive.
    private func accept(body chunk: UnsafeRawBufferPointer, into context: RequestContext,
                        _ connection: OpaquePointer) -> MHD_Result {
        if context.status == nil, !context.bodyOverLimit,
           context.body.count + chunk.count <= configuration.maxBodyBytes {
            context.body.append(contentsOf: chunk)
            return .YES
        }
        // MHD 0.9.75 refuses to queue a response mid-body, so the 413 waits for the end;
        // meanwhile the bytes are counted and dropped, never stored.
        if !context.bodyOverLimit {
            context.bodyOverLimit = true
            context.body = []
        }
        context.discardedBytes += chunk.count
        // Dropping bytes still costs a thread and bandwidth: a client that keeps sending
        // long past the limit is cut off without an answer.
        let patience = max(4 * configuration.maxBodyBytes, 64 << 20)
        return MHD_Result(context.discardedBytes <= patience)
    }

    private func respond(_ context: RequestContext, _ connection: OpaquePointer,
                         _ response: HTTPResponse) -> MHD_Result {
        connections.handling(connection)
        let closeAfter = isDraining
        do {
            try MHDResponse.queue(response, on: connection, context: context, core: self,
                                  closeAfter: closeAfter)
            if let stream = context.streamSource?.stream { attach(stream, to: context) }
            return .YES
        } catch {
            configuration.log?("polycom HTTP: \(context.method) \(context.path): \(error)")
            if case .stream(let stream) = response.body { stream.cancel(.aborted) }
            do {
                try MHDResponse.queue(.plain(500, "internal error: invalid response"), on: connection,
                                      context: context, core: self, closeAfter: true)
                return .YES
            } catch {
                return .NO  // MHD drops the connection.
            }
        }
    }

    func completed(_ context: RequestContext, code: MHD_RequestTerminationCode) {
        var termination = Self.termination(code)
        if let stream = context.streamSource?.stream {
            switch stream.cancelReason {
            case .aborted?: termination = .error
            case .clientDisconnected?: termination = .clientDisconnected
            default: break
            }
            // Whatever the reason (client gone, shutdown, a HEAD request that sent no body),
            // nobody reads this stream any more: tell the producer to stop.
            if termination != .completed || !stream.isDrained {
                stream.cancel(termination == .serverShutdown ? .serverShutdown : .clientDisconnected)
            }
        }
        let record = context.completion(termination)
        context.onComplete?(record)
        observer?(record)
        unregister(context)
    }

    // MARK: - Shutdown support (caller's thread)

    var isDraining: Bool {
        state.lock()
        defer { state.unlock() }
        return draining
    }

    var inFlightCount: Int {
        state.lock()
        defer { state.unlock() }
        return inFlight.count
    }

    func beginDraining() {
        state.lock()
        draining = true
        state.unlock()
    }

    /// Past the grace period: the daemon is about to be stopped.
    var isClosing: Bool {
        state.lock()
        defer { state.unlock() }
        return closing
    }

    func beginClosing() {
        state.lock()
        draining = true
        closing = true
        state.unlock()
    }

    /// True if every in-flight request finished before `deadline`.
    func waitForIdle(until deadline: Date) -> Bool {
        state.lock()
        defer { state.unlock() }
        while !inFlight.isEmpty {
            if !state.wait(until: deadline) { return inFlight.isEmpty }
        }
        return true
    }

    /// MHD cannot see a suspended connection's socket, so parked streams are resumed every
    /// `disconnectPollSeconds` to look for themselves (and park again if the client is there).
    func startDisconnectTicker() {
        guard parksStreams else { return }
        ticker = PeriodicTask(interval: configuration.disconnectPollSeconds) { [weak self] in
            for stream in self?.openStreams() ?? [] { stream.nudge() }
        }
    }

    /// Returns once no more resumes can come from the ticker (the daemon is about to go).
    func stopDisconnectTicker() {
        ticker?.stop()
        ticker = nil
    }

    private func openStreams() -> [HTTPStream] {
        state.lock()
        defer { state.unlock() }
        return inFlight.values.compactMap { $0 }
    }

    /// Unblocks MHD threads parked in stream readers so the daemon can join them.
    func cancelAllStreams() {
        for stream in openStreams() { stream.cancel(.serverShutdown) }
    }

    private func register(_ context: RequestContext) {
        state.lock()
        inFlight[ObjectIdentifier(context)] = .some(nil)
        state.unlock()
    }

    private func attach(_ stream: HTTPStream, to context: RequestContext) {
        state.lock()
        inFlight[ObjectIdentifier(context)] = .some(stream)
        state.unlock()
    }

    private func unregister(_ context: RequestContext) {
        state.lock()
        inFlight.removeValue(forKey: ObjectIdentifier(context))
        state.broadcast()
        state.unlock()
    }

    // MARK: - Helpers

    private func tooLarge() -> HTTPResponse {
        configuration.bodyTooLargeResponse?(configuration.maxBodyBytes)
            ?? .plain(413, "request body exceeds \(configuration.maxBodyBytes) bytes")
    }

    /// The relay cut the client off after this request (`RequestFraming`): the answer is
    /// the last thing on the connection.
    private func refusal(_ fault: RequestFraming.Fault) -> HTTPResponse {
        var response: HTTPResponse
        switch fault {
        case .malformedLength:
            response = badRequest("the Content-Length header is not a decimal number of bytes that fits 64 bits")
        case .conflictingLengths:
            response = badRequest("the request has several Content-Length headers with different values")
        }
        response.headers.add("Connection", "close")
        return response
    }

    private func badRequest(_ message: String) -> HTTPResponse {
        configuration.malformedRequestResponse?(message) ?? .plain(400, message)
    }

    /// Closes the connection after answering: it is one too many.
    private func overloaded() -> HTTPResponse {
        var response = configuration.overloadedResponse?()
            ?? .plain(503, "the server has \(configuration.maxConnections) connections open; retry later")
        response.headers.add("Connection", "close")
        return response
    }

    private static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
    }

    /// Only the relay can set the marker: it removes every copy a client sends.
    private static func framingFault(_ connection: OpaquePointer) -> RequestFraming.Fault? {
        guard let value = MHD_lookup_connection_value(connection, .HEADER_KIND, RequestFraming.marker) else {
            return nil
        }
        // An unknown value cannot come from the relay; refusing it is the safe reading.
        return RequestFraming.Fault(rawValue: String(cString: value)) ?? .malformedLength
    }

    private static func contentLength(_ connection: OpaquePointer) -> UInt64? {
        guard let value = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length") else {
            return nil
        }
        return UInt64(String(cString: value).trimmingCharacters(in: .whitespaces))
    }

    private static func termination(_ code: MHD_RequestTerminationCode) -> HTTPTermination {
        switch code {
        case .REQUEST_TERMINATED_COMPLETED_OK: return .completed
        case .REQUEST_TERMINATED_TIMEOUT_REACHED: return .timedOut
        case .REQUEST_TERMINATED_DAEMON_SHUTDOWN: return .serverShutdown
        case .REQUEST_TERMINATED_READ_ERROR, .REQUEST_TERMINATED_CLIENT_ABORT: return .clientDisconnected
        case .REQUEST_TERMINATED_WITH_ERROR: return .error
        @unknown default: return .error
        }
    }
}
