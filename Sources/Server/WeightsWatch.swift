import Checkpoint
import Foundation

/// Watches the weight files a model was loaded from. Checked before every request (a `stat`
/// per file), so a file truncated, overwritten in place or replaced is noticed by the next
/// request, logged once, and reported on /health. A file truncated while a request runs
/// is noticed by the engine after that forward pass (`readFault()`, counted by
/// `MappedFaultGuard`). Once changed it stays changed: answers given since may already
/// have mixed old and new weights, and only a restart reloads.
final class WeightsWatch: @unchecked Sendable {
    let loading: WeightLoading
    private let files: [Watched]
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var found: String?

    /// Weak: a model that converted its weights at load drops the mapping, which then
    /// cannot fault, and holding it would keep the file's pages mapped for nothing.
    private struct Watched {
        let snapshot: FileSnapshot
        weak var mapping: MappedFile?
    }

    init(_ files: [SafeTensorsFile], loading: WeightLoading, log: @escaping @Sendable (String) -> Void) {
        self.files = files.map { Watched(snapshot: $0.snapshot, mapping: $0.mapping) }
        self.loading = loading
        self.log = log
    }

    /// The first change seen, or nil while every file is as loaded.
    func change() -> String? {
        if let found = lock.withLock({ found }) { return found }
        guard let change = files.lazy.compactMap({ $0.snapshot.change() ?? Self.faultDescription($0) }).first else { return nil }
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

    /// Mapped weights that changed can fault or silently differ: no more work.
    func refusal() -> APIError? {
        guard loading == .mapped, let change = change() else { return nil }
        return .unavailable("the model's weights changed on disk since they were loaded: \(change); restart the server")
    }

    /// After each forward pass (atomic loads; a `stat` only once a fault was counted): why
    /// the pass read zeros instead of weights, or nil when it read none of a lost page.
    func readFault() -> String? {
        guard files.contains(where: { ($0.mapping?.readFaults ?? 0) > 0 }) else { return nil }
        return refusal()?.message
    }

    /// A fault with the file looking as loaded: truncated and grown back before the stat.
    private static func faultDescription(_ file: Watched) -> String? {
        guard let faults = file.mapping?.readFaults, faults > 0 else { return nil }
        return "\(file.snapshot.path) lost pages while they were being read (the file was truncated)"
    }
}
