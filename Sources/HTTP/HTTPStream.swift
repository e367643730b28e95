import Foundation

/// A one-way channel from a producer thread (e.g. the engine emitting tokens) to a streamed
/// response. The producer writes and finally calls `finish()`; the server pulls chunks out
/// as the socket drains. The producer learns through `isCancelled` / `onCancel` that nobody
/// is listening any more (client gone, server stopping) so it can stop generating.
///
/// Writes never block: the buffer is unbounded, which suits token streams (tiny, paced by
/// the model) but not bulk data a slow client could let pile up. One stream feeds one
/// response.
public final class HTTPStream: @unchecked Sendable {
    public enum CancelReason: Sendable, Equatable {
        case clientDisconnected
        case serverShutdown
        /// The producer called `abort()`.
        case aborted
    }

    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var readOffset = 0
    private var finished = false
    private var reason: CancelReason?
    private var cancelHandlers: [@Sendable (CancelReason) -> Void] = []
    /// Set while the reader's connection is suspended in MHD waiting for us; whoever changes
    /// the stream's state takes it and calls it (outside the lock) to resume the connection.
    private var wake: (() -> Void)?

    public init() {}

    /// Appends bytes for the client. Returns false (and drops them) once the stream is
    /// cancelled or finished, so a producer loop can use it as its continue condition.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        condition.lock()
        guard reason == nil, !finished else {
            condition.unlock()
            return false
        }
        // Drop what the reader consumed before growing, so a long stream stays small.
        if readOffset > 0, readOffset * 2 >= pending.count {
            pending.removeFirst(readOffset)
            readOffset = 0
        }
        pending.append(contentsOf: bytes)
        condition.broadcast()
        let resume = bytes.isEmpty ? nil : wake
        if resume != nil { wake = nil }
        condition.unlock()
        resume?()
        return true
    }

    @discardableResult
    public func write(_ text: String) -> Bool { write(Array(text.utf8)) }

    /// Writes one Server-Sent Event; multi-line data becomes several `data:` lines, as the
    /// SSE grammar requires.
    @discardableResult
    public func writeEvent(data: String, event: String? = nil) -> Bool {
        var frame = ""
        if let event { frame += "event: \(event)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            frame += "data: \(line)\n"
        }
        return write(frame + "\n")
    }

    /// The normal end: the client receives everything written so far, then end-of-stream.
    public func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        let resume = wake
        wake = nil
        condition.unlock()
        resume?()
    }

    /// The producer failed: the connection is dropped so the client sees a truncated
    /// response, never a clean end it could mistake for a complete one.
    public func abort() { cancel(.aborted) }

    public var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return reason != nil
    }

    public var cancelReason: CancelReason? {
        condition.lock()
        defer { condition.unlock() }
        return reason
    }

    /// Runs `handler` once when the stream is cancelled, on the thread that cancels it (an
    /// MHD thread: keep it short). Runs at once if the stream is already cancelled.
    public func onCancel(_ handler: @escaping @Sendable (CancelReason) -> Void) {
        condition.lock()
        if let reason {
            condition.unlock()
            handler(reason)
            return
        }
        cancelHandlers.append(handler)
        condition.unlock()
    }

    /// Blocks until cancelled or `timeout` elapses; true if cancelled.
    public func waitUntilCancelled(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while reason == nil {
            if !condition.wait(until: deadline) { break }
        }
        return reason != nil
    }

    // MARK: - Server side

    enum ReadResult: Equatable {
        case bytes(Int)
        case endOfStream
        case abort
        /// Nothing yet; the connection was suspended and will be resumed on the next change.
        case parked
    }

    /// How the reader waits when the producer is behind.
    enum Waiting {
        /// Park this thread on the condition; right when the thread is the connection's own.
        case block(pollInterval: Double)
        /// Suspend the connection and free the thread; right for shared event-loop threads.
        /// `suspend` runs under the stream's lock, so no `resume` can overtake it.
        case park(suspend: () -> Void, resume: () -> Void)
    }

    /// Returns the next bytes, the end, or a cancellation. When the producer is behind it
    /// either blocks, asking `peerClosed` every `pollInterval` seconds (MHD cannot notice a
    /// vanished client while its thread is held here), or parks the connection.
    func read(into buffer: UnsafeMutableRawBufferPointer, waiting: Waiting,
              peerClosed: () -> Bool) -> ReadResult {
        var checkedPeer = false
        condition.lock()
        while true {
            if reason != nil {
                condition.unlock()
                return .abort
            }
            let available = pending.count - readOffset
            if available > 0 {
                let n = min(available, buffer.count)
                pending.withUnsafeBytes { source in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[readOffset..<readOffset + n]))
                }
                readOffset += n
                if readOffset == pending.count {
                    pending.removeAll(keepingCapacity: true)
                    readOffset = 0
                }
                condition.unlock()
                return .bytes(n)
            }
            if finished {
                condition.unlock()
                return .endOfStream
            }
            switch waiting {
            case .block(let pollInterval):
                if !condition.wait(until: Date(timeIntervalSinceNow: pollInterval)) {
                    condition.unlock()
                    if peerClosed() {
                        cancel(.clientDisconnected)
                        return .abort
                    }
                    condition.lock()
                }
            case .park(let suspend, let resume):
                // Each park is preceded by one look at the socket: a suspended connection is
                // invisible to MHD, so this (driven by `nudge`) is how a departure is noticed.
                if !checkedPeer {
                    checkedPeer = true
                    condition.unlock()
                    if peerClosed() {
                        cancel(.clientDisconnected)
                        return .abort
                    }
                    condition.lock()
                    continue
                }
                suspend()
                wake = resume
                condition.unlock()
                return .parked
            }
        }
    }

    /// Resumes a parked reader so it looks at its socket again.
    func nudge() {
        condition.lock()
        let resume = wake
        wake = nil
        condition.unlock()
        resume?()
    }

    /// First reason wins; handlers run outside the lock so they may touch the stream.
    func cancel(_ why: CancelReason) {
        condition.lock()
        guard reason == nil else {
            condition.unlock()
            return
        }
        reason = why
        let handlers = cancelHandlers
        cancelHandlers = []
        let resume = wake
        wake = nil
        condition.broadcast()
        condition.unlock()
        resume?()
        for handler in handlers { handler(why) }
    }

    /// True once the producer finished and the reader took every byte.
    var isDrained: Bool {
        condition.lock()
        defer { condition.unlock() }
        return finished && pending.count == readOffset
    }
}
