import Foundation
import PolyKernels

/// Threads that run the parts of a split product (pool.c). Between runs they spin for a few
/// tenths of a millisecond before sleeping, so a decode step's ~30 products, each split over the cores,
/// start on all of them at once: a libdispatch worker woke tens of microseconds late (now and
/// then much later) while the caller read alone, and batch-1 decode measured 2–3% slower
/// with it (alternate steps of one run, 4-layer 1B-shaped bf16 model, 2 cores). Every split
/// of a forward pass (products, attention heads, experts) goes through it: a pool worker still
/// spinning while libdispatch's ran the next product would hold a core that product needed.
///
/// One pool per thread count for the whole process, as the cores are: created on first use,
/// never destroyed. A run asked for while the pool is busy (a part that splits work of its
/// own, or two models computing at once) runs its parts on its caller, one after another.
public final class WorkerPool: @unchecked Sendable {
    private let pool: OpaquePointer?
    /// Threads a run is spread over: the caller and the workers that started.
    public let threads: Int

    init(threads: Int) {
        pool = threads > 1 ? pk_pool_create(Int32(threads - 1)) : nil
        self.threads = 1 + Int(pk_pool_workers(pool))
    }

    deinit { pk_pool_destroy(pool) }

    /// body(part) for every part in 0 ..< parts; returns when all are done. Parts go to
    /// whichever thread is free, so they should be about equal or take work from a shared counter.
    public func run(parts: Int, _ body: @Sendable (Int) -> Void) {
        guard parts > 0 else { return }
        withoutActuallyEscaping(body) { body in
            var box = body
            withUnsafeMutablePointer(to: &box) { ctx in
                pk_pool_run(pool, Int32(clamping: parts), { ctx, part in
                    ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(part))
                }, ctx)
            }
        }
    }

    /// body(item, worker) for every item in 0 ..< items, on at most `threads` threads that each
    /// take the next item from a shared counter when done with one, so items of unequal cost
    /// balance themselves within one run. `worker` (0 ..< threads) is the taking thread's own
    /// index, for scratch memory of its own.
    public func run(items: Int, threads: Int, _ body: @Sendable (_ item: Int, _ worker: Int) -> Void) {
        guard items > 0 else { return }
        let next = UnsafeMutablePointer<CLong>.allocate(capacity: 1)
        next.initialize(to: 0)
        defer { next.deallocate() }
        let counter = UnsafeMutableSendablePointer(next)
        run(parts: max(1, min(threads, self.threads, items))) { worker in
            while case let item = Int(pk_claim_next(counter.pointer)), item < items { body(item, worker) }
        }
    }

    /// body(rowRange) over `rows` rows of `width` elements, one block per thread when the rows
    /// hold enough elements to pay for the split (row-wise work: norms, activations, conversions).
    public static func forEachRowBlock(rows: Int, width: Int, threads: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let parts = min(rows, Matrix.workers(for: rows * width, threads: threads))
        guard parts > 1 else { return body(0..<rows) }
        let size = (rows + parts - 1) / parts
        shared(threads: parts).run(parts: parts) { part in
            let r0 = part * size
            if r0 < rows { body(r0..<min(rows, r0 + size)) }
        }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var pools: [Int: WorkerPool] = [:]

    /// The process's pool of `threads` threads (the caller included).
    public static func shared(threads: Int) -> WorkerPool {
        lock.withLock {
            if let p = pools[threads] { return p }
            let p = WorkerPool(threads: threads)
            pools[threads] = p
            return p
        }
    }
}
