import Foundation

/// A thread that runs `tick` every `interval` seconds until `stop()`: the disconnect
/// ticker (a suspended connection is invisible to MHD, so parked streams are nudged to look
/// for a client that left) and the connection table's reaper.
final class PeriodicTask: @unchecked Sendable {
    private let condition = NSCondition()
    private var running = true
    private let finished = DispatchSemaphore(value: 0)

    init(interval: Double, tick: @escaping @Sendable () -> Void) {
        Thread.detachNewThread { [self] in
            while true {
                condition.lock()
                if running { _ = condition.wait(until: Date(timeIntervalSinceNow: interval)) }
                let keepGoing = running
                condition.unlock()
                guard keepGoing else { break }
                tick()
            }
            finished.signal()
        }
    }

    /// Returns once the thread has run its last tick; idempotent.
    func stop() {
        condition.lock()
        let wasRunning = running
        running = false
        condition.broadcast()
        condition.unlock()
        if wasRunning { finished.wait() }
    }
}
