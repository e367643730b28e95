import Foundation

/// A thread that nudges parked streams at a fixed interval. A suspended connection is
/// invisible to MHD, so without this a client that leaves while its stream waits for the
/// producer would go unnoticed until the producer's next write.
final class DisconnectTicker: @unchecked Sendable {
    private let condition = NSCondition()
    private var running = true
    private let finished = DispatchSemaphore(value: 0)

    init(interval: Double, streams: @escaping @Sendable () -> [HTTPStream]) {
        Thread.detachNewThread { [self] in
            while true {
                condition.lock()
                if running { _ = condition.wait(until: Date(timeIntervalSinceNow: interval)) }
                let keepGoing = running
                condition.unlock()
                guard keepGoing else { break }
                for stream in streams() { stream.nudge() }
            }
            finished.signal()
        }
    }

    /// Returns once the thread has made its last nudge.
    func stop() {
        condition.lock()
        let wasRunning = running
        running = false
        condition.broadcast()
        condition.unlock()
        if wasRunning { finished.wait() }
    }
}
