import Engine
import Foundation

/// Scores against running `polycom serve` instances: documents go out in requests of
/// whole documents, each server takes the next request as soon as it answered the last,
/// so faster servers do more. A server that fails (down, cut off, 5xx) is named in the
/// log and left out; its request goes back to the others.
public final class ServerPool: Scorer {
    /// Pairs per request: the server queues every pair of a request at once, and one that
    /// waits beyond its queue limit is refused (429). Raise with the server's limit.
    public static let maxPairsPerRequest = 200

    let clients: [LoglikelihoodClient]
    let log: @Sendable (String) -> Void
    /// Pairs per request (tests lower it to spread a few documents over many requests).
    var maxPairs = ServerPool.maxPairsPerRequest
    /// Called before a server's `attempt`-th request (0-based; tests stop servers from here).
    var beforeRequest: (@Sendable (_ server: Int, _ attempt: Int) -> Void)?

    public init(urls: [String], timeout: TimeInterval = 600, log: @escaping @Sendable (String) -> Void) {
        clients = urls.map { LoglikelihoodClient(url: $0, timeout: timeout) }
        self.log = log
    }

    public var computedTokens: Int? { nil }

    /// Consecutive units with at most `maxPairs` pairs (a bigger unit alone).
    static func requests(_ units: [[ScoringPair]], maxPairs: Int) -> [Range<Int>] {
        var out: [Range<Int>] = [], start = 0, pairs = 0
        for (i, u) in units.enumerated() {
            if i > start && pairs + u.count > maxPairs {
                out.append(start..<i)
                start = i
                pairs = 0
            }
            pairs += u.count
        }
        if start < units.count { out.append(start..<units.count) }
        return out
    }

    public func score(_ units: [[ScoringPair]], shouldStop: @escaping @Sendable () -> Bool,
                      onUnit: @escaping (Int, [ScoredContinuation]) throws -> Void) throws -> Bool {
        let state = PoolState(requests: Self.requests(units, maxPairs: maxPairs), servers: clients.count)
        for (s, client) in clients.enumerated() {
            let t = Thread { [self] in self.work(server: s, client: client, units: units, state: state, onUnit: onUnit) }
            t.name = "polycom-eval-\(s)"
            t.start()
        }
        return try state.wait(shouldStop: shouldStop)
    }

    private func work(server s: Int, client: LoglikelihoodClient, units: [[ScoringPair]], state: PoolState,
                      onUnit: @escaping (Int, [ScoredContinuation]) throws -> Void) {
        var busyWait = 0.05, attempt = 0
        while let r = state.take() {
            let pairs = units[r].flatMap { $0 }
            beforeRequest?(s, attempt)
            attempt += 1
            do {
                let results = try client.score(pairs)
                busyWait = 0.05
                var offset = 0
                state.deliver {
                    for u in r {
                        try onUnit(u, Array(results[offset..<(offset + units[u].count)]))
                        offset += units[u].count
                    }
                }
            } catch LoglikelihoodClient.Failure.busy {
                state.giveBack(r)
                Thread.sleep(forTimeInterval: busyWait)
                busyWait = min(busyWait * 2, 2)
            } catch LoglikelihoodClient.Failure.failed(let reason) {
                state.giveBack(r)
                log("server \(client.base) failed (\(reason)); its documents go to the other servers")
                state.serverFailed("\(client.base): \(reason)")
                return
            } catch LoglikelihoodClient.Failure.refused(let reason) {
                state.fail(EvaluationError.serverRefused(server: client.base, message: reason))
                return
            } catch {
                state.fail(error)
                return
            }
        }
    }
}

/// Requests waiting, in flight and done; servers alive; the first fatal error.
private final class PoolState: @unchecked Sendable {
    private let condition = NSCondition()
    private var waiting: [Range<Int>]
    private var inFlight = 0
    private var alive: Int
    private var failures: [String] = []
    private var error: Error?
    private var stopped = false

    init(requests: [Range<Int>], servers: Int) {
        waiting = requests
        alive = servers
    }

    /// The next request for a worker; nil when nothing is left or the run ended.
    func take() -> Range<Int>? {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped, error == nil, !waiting.isEmpty else { return nil }
        inFlight += 1
        return waiting.removeFirst()
    }

    func giveBack(_ r: Range<Int>) {
        condition.withLock {
            inFlight -= 1
            waiting.insert(r, at: 0)
            condition.broadcast()
        }
    }

    /// Reports a request's units, unless the run was stopped meanwhile (its results are
    /// then dropped: the caller has moved on).
    func deliver(_ report: () throws -> Void) {
        condition.lock()
        defer { condition.broadcast(); condition.unlock() }
        inFlight -= 1
        guard !stopped, error == nil else { return }
        do { try report() } catch { self.error = error }
    }

    func serverFailed(_ reason: String) {
        condition.withLock {
            alive -= 1
            failures.append(reason)
            condition.broadcast()
        }
    }

    func fail(_ e: Error) {
        condition.withLock {
            inFlight -= 1
            if error == nil { error = e }
            condition.broadcast()
        }
    }

    /// Blocks until every request is answered (true), `shouldStop` (false), or the run
    /// cannot go on (throws).
    func wait(shouldStop: () -> Bool) throws -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let error { stopped = true; throw error }
            if waiting.isEmpty && inFlight == 0 { return true }
            if alive == 0 { stopped = true; throw EvaluationError.serversFailed(failures) }
            if shouldStop() { stopped = true; return false }
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
        }
    }
}
