import Foundation

/// Every open connection and where it is in its request, so that idle and trickling
/// clients cannot lock everyone else out.
///
/// The rules:
/// - A connection must deliver a whole request (headers and body) within
///   `requestTimeoutSeconds` of opening or of its previous response finishing. MHD's own
///   timeout restarts at every byte, so a client sending one byte every few seconds would
///   otherwise hold its connection (and, per connection, a thread) for ever.
/// - Beyond `maxConnections` open connections, a new one closes the oldest connection that
///   is waiting for a request (never one whose request is being handled or answered).
/// - If none can be closed, requests beyond the limit are answered 503 at once
///   (`HTTPServerConfiguration.overloadedResponse`) instead of being reset; paths in
///   `alwaysServedPaths` (/health) are still served. Only past
///   `maxConnections + overflowConnections` is a new client closed unanswered, by the relay,
///   which asks `reserve(limit:)` before it hands MHD a connection.
///
/// Connections are closed from here with `shutdown(2)` on a `dup` of their socket: MHD's
/// thread then sees end of file and closes as for any client, and the duplicate keeps the
/// descriptor number ours, so a socket number MHD reuses can never be hit by mistake.
final class ConnectionTable: @unchecked Sendable {
    private enum Phase {
        /// Waiting for (the rest of) a request's headers or body.
        case awaiting
        /// The handler runs or the response is being sent: never closed from here.
        case handling
    }

    private struct Entry {
        let fd: Int32
        var phase: Phase
        var since: ContinuousClock.Instant
        var closing = false
    }

    private let maxConnections: Int
    private let timeout: Duration
    private let reapInterval: Double
    private let log: (@Sendable (String) -> Void)?
    private let condition = NSCondition()
    private var entries: [OpaquePointer: Entry] = [:]
    private var reaper: PeriodicTask?
    private var closedForTimeout = 0
    private var closedForRoom = 0
    /// Connections handed to MHD that it has not reported open yet (it adds them on its own
    /// thread), by when: a reservation MHD never honours lapses instead of holding a place.
    private var reservations: [ContinuousClock.Instant] = []

    init(maxConnections: Int, requestTimeoutSeconds: Double, log: (@Sendable (String) -> Void)?) {
        self.maxConnections = maxConnections
        timeout = .milliseconds(Int64(requestTimeoutSeconds * 1000))
        reapInterval = min(1.0, max(0.05, requestTimeoutSeconds / 4))
        self.log = log
    }

    /// Open connections not already being closed from here.
    var liveCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return entries.values.count(where: { !$0.closing })
    }

    /// (closed for taking too long to send a request, closed to make room), for tests and logs.
    var closedCounts: (timeout: Int, room: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (closedForTimeout, closedForRoom)
    }

    /// The relay is about to hand MHD a connection: true, and a place held for it, while
    /// MHD has fewer than `limit` (open, being closed, or on their way in).
    func reserve(limit: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let now = ContinuousClock.now
        reservations.removeAll { now - $0 > .seconds(5) }
        guard entries.count + reservations.count < limit else { return false }
        reservations.append(now)
        return true
    }

    /// MHD refused the connection a place was reserved for.
    func cancelReservation() {
        condition.lock()
        if !reservations.isEmpty { reservations.removeFirst() }
        condition.unlock()
    }

    // MARK: - MHD callbacks

    func opened(_ connection: OpaquePointer, fd: Int32) {
        let copy = fd >= 0 ? dup(fd) : -1
        condition.lock()
        defer { condition.unlock() }
        if !reservations.isEmpty { reservations.removeFirst() }
        entries[connection] = Entry(fd: copy, phase: .awaiting, since: .now)
        guard entries.values.count(where: { !$0.closing }) > maxConnections else { return }
        // Make room: the connection that has waited longest for a request goes.
        let oldest = entries.filter { $0.key != connection && !$0.value.closing && $0.value.phase == .awaiting && $0.value.fd >= 0 }
            .min { $0.value.since < $1.value.since }
        if let oldest {
            close(oldest.key)
            closedForRoom += 1
        }
    }

    func closed(_ connection: OpaquePointer) {
        condition.lock()
        let entry = entries.removeValue(forKey: connection)
        condition.unlock()
        if let entry, entry.fd >= 0 { Socket.close(entry.fd) }
    }

    /// The headers are in and the handler is about to see the request (or a refusal is queued).
    func handling(_ connection: OpaquePointer) {
        update(connection) { $0.phase = .handling }
    }

    /// A response finished; the next request's clock starts now.
    func requestFinished(_ connection: OpaquePointer) {
        update(connection) {
            $0.phase = .awaiting
            $0.since = .now
        }
    }

    private func update(_ connection: OpaquePointer, _ change: (inout Entry) -> Void) {
        condition.lock()
        if var entry = entries[connection] {
            change(&entry)
            entries[connection] = entry
        }
        condition.unlock()
    }

    /// Caller holds the lock.
    private func close(_ connection: OpaquePointer) {
        guard var entry = entries[connection], entry.fd >= 0 else { return }
        entry.closing = true
        entries[connection] = entry
        _ = shutdown(entry.fd, Int32(SHUT_RDWR))
    }

    // MARK: - The reaper thread

    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard reaper == nil else { return }
        reaper = PeriodicTask(interval: reapInterval) { [self] in reap() }
    }

    /// Returns once the reaper has stopped; idempotent.
    func stop() {
        condition.lock()
        let task = reaper
        reaper = nil
        condition.unlock()
        task?.stop()
    }

    private func reap() {
        condition.lock()
        let now = ContinuousClock.now
        var reaped = 0
        for (connection, entry) in entries
        where !entry.closing && entry.phase == .awaiting && now - entry.since > timeout {
            close(connection)
            reaped += 1
        }
        closedForTimeout += reaped
        condition.unlock()
        if reaped > 0 { log?("polycom HTTP: closed \(reaped) connection(s) that sent no complete request in time") }
    }
}
