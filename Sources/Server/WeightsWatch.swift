import Checkpoint
import Foundation

/// Watches the weight files a model was loaded from. Checked before every request (a `stat`
/// per file), so a file truncated, overwritten in place or replaced is noticed by the next
/// request, logged once, and reported on /health. Once changed it stays changed: answers
/// given since may already have mixed old and new weights, and only a restart reloads.
final class WeightsWatch: @unchecked Sendable {
    let loading: WeightLoading
    private let snapshots: [FileSnapshot]
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var found: String?

    init(_ snapshots: [FileSnapshot], loading: WeightLoading, log: @escaping @Sendable (String) -> Void) {
        self.snapshots = snapshots
        self.loading = loading
        self.log = log
    }

    /// The first change seen, or nil while every file is as loaded.
    func change() -> String? {
        if let found = lock.withLock({ found }) { return found }
        guard let change = snapshots.lazy.compactMap({ $0.change() }).first else { return nil }
        let first: Bool = lock.withLock {
            defer { if found == nil { found = change } }
            return found == nil
        }
        if first {
            log(loading == .mapped
                ? "error: \(change) since it was loaded; the weights are memory-mapped, so requests are refused until a restart (--no-mmap copies them instead)"
                : "warning: \(change) since it was loaded; still serving the copy loaded at start (--no-mmap)")
        }
        return lock.withLock { found }
    }

    /// Mapped weights that changed can fault (SIGBUS) or silently differ: no more work.
    func refusal() -> APIError? {
        guard loading == .mapped, let change = change() else { return nil }
        return .unavailable("the model's weights changed on disk since they were loaded: \(change); restart the server")
    }
}
