import Foundation

/// A one-way channel from a producer thread (e.g. the engine emitting tokens) to a streamed
/// response. The producer writes and finally calls `finish()`; the server pulls chunks out
/// as the socket drains. The producer learns through `isCancelled` / `onCancel` that nobody
/// is listening any more (client gone, server stopping) so it can stop generating.
///
/// Writes never block: the buffer is unbounded, which suits token streams (tiny, paced by
/// the model) but not bulk data a slow client could let pile up.
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

    public init() {}

    /// Appends bytes for the client. Returns false (and drops them) once the stream is
    /// cancelled or finished, so a producer loop can use it as its continue condition.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard reason == nil, !finished else { return false }
        guard !bytes.isEmpty else { return true }
        // Drop what the reader consumed before growing, so a long stream stays small.
        if readOffset > 0, readOffset * 2 >= pending.count {
            pending.removeFirst(readOffset)
            readOffset = 0
        }
        pending.append(contentsOf: bytes)
        condition.broadcast()
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
        condition.unlock()
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
    }

    /// Blocks until there are bytes, the end, or a cancellation. While waiting it asks
    /// `peerClosed` every `pollInterval` seconds, because MHD cannot notice a vanished
    /// client while its thread is parked here.
    func read(into buffer: UnsafeMutableRawBufferPointer, pollInterval: Double,
              peerClosed: () -> Bool) -> ReadResult {
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
            if !condition.wait(until: Date(timeIntervalSinceNow: pollInterval)) {
                condition.unlock()
                if peerClosed() {
                    cancel(.clientDisconnected)
                    return .abort
                }
                condition.lock()
            }
        }
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
        condition.broadcast()
        condition.unlock()
        for handler in handlers { handler(why) }
    }

    /// True once the producer finished and the reader took every byte.
    var isDrained: Bool {
        condition.lock()
        defer { condition.unlock() }
        return finished && pending.count == readOffset
    }
}
