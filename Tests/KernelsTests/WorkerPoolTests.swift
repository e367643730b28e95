import Foundation
import XCTest
@testable import Kernels

final class WorkerPoolTests: XCTestCase {
    /// Each part's own slot counts how often it ran (slots are disjoint, so no atomics).
    private final class Slots: @unchecked Sendable {
        let p: UnsafeMutablePointer<Int>
        let count: Int
        init(_ count: Int) { self.count = count; p = .allocate(capacity: count); p.initialize(repeating: 0, count: count) }
        deinit { p.deallocate() }
        var values: [Int] { Array(UnsafeBufferPointer(start: p, count: count)) }
        /// Slots whose count is not `n` (a short list to print when some are wrong).
        func wrong(_ n: Int) -> [Int: Int] { Dictionary(uniqueKeysWithValues: (0..<count).filter { p[$0] != n }.prefix(8).map { ($0, p[$0]) }) }
    }

    func testEveryPartRunsExactlyOnceForAnyCountOfPartsAndThreads() {
        for threads in 1...4 {
            let pool = WorkerPool(threads: threads)
            XCTAssertEqual(pool.threads, threads)
            for parts in [1, 2, 3, 5, 16, 17, 40, 1000] {
                let slots = Slots(parts)
                pool.run(parts: parts) { slots.p[$0] += 1 }
                XCTAssertEqual(slots.wrong(1), [:], "\(threads) threads, \(parts) parts: part → times run")
            }
            pool.run(parts: 0) { _ in XCTFail("no part to run") }
        }
    }

    /// Items taken from a shared counter: each runs once, on a worker index below the threads
    /// asked for, whatever the items cost; with 2 threads, items of very unequal cost still
    /// end up on both.
    func testItemsRunOnceEachOnWorkersBelowTheThreadCount() {
        for threads in 1...3 {
            let pool = WorkerPool(threads: 3)
            for items in [1, 2, 7, 100] {
                let slots = Slots(items), workers = Slots(items)
                pool.run(items: items, threads: threads) { item, worker in
                    slots.p[item] += 1
                    workers.p[item] = worker
                    if item == 0 { usleep(2000) } // one long item: the others go to the other threads
                }
                XCTAssertEqual(slots.wrong(1), [:], "\(threads) threads, \(items) items")
                XCTAssertTrue(workers.values.allSatisfy { $0 >= 0 && $0 < threads }, "\(workers.values)")
            }
        }
        let pool = WorkerPool(threads: 2), workers = Slots(64)
        pool.run(items: 64, threads: 2) { item, worker in
            workers.p[item] = worker
            usleep(item == 0 ? 20_000 : 200)
        }
        XCTAssertEqual(Set(workers.values), [0, 1], "a 20 ms item and 63 of 0.2 ms all ran on one thread")
    }

    /// Back-to-back runs, as decode's products: none loses a part, none runs a part twice or
    /// late (into the next run), and the caller sees every part's writes when run returns.
    func testManyRunsInARowLoseNoPartAndTheCallerSeesTheirWrites() {
        let pool = WorkerPool(threads: 2), slots = Slots(3)
        for run in 1...20_000 {
            pool.run(parts: 3) { slots.p[$0] = run }
            if slots.values != [run, run, run] { XCTFail("run \(run): \(slots.values)"); return }
        }
    }

    /// Workers that slept between runs (longer than they spin) wake for the next one and
    /// take parts of it, rather than leaving every part to the caller.
    func testWorkersWakeAfterSleepingAndTakeParts() {
        let pool = WorkerPool(threads: 2)
        var sawWorker = false
        for _ in 0..<5 where !sawWorker {
            Thread.sleep(forTimeInterval: 0.02)
            let caller = pthread_self(), slots = Slots(64), ran = Slots(64)
            pool.run(parts: 64) { part in
                let t0 = DispatchTime.now().uptimeNanoseconds
                while DispatchTime.now().uptimeNanoseconds - t0 < 200_000 {} // 0.2 ms of work
                slots.p[part] += 1
                ran.p[part] = pthread_equal(pthread_self(), caller) != 0 ? 0 : 1
            }
            XCTAssertEqual(slots.wrong(1), [:])
            sawWorker = ran.values.contains(1)
        }
        XCTAssertTrue(sawWorker, "no part ran on a worker in 5 runs of 64 × 0.2 ms")
    }

    /// A part that splits work of its own on the same pool, and two threads running at once,
    /// get every part done (the busy pool runs the second run on its caller).
    func testNestedAndConcurrentRunsCompleteEveryPart() {
        let pool = WorkerPool(threads: 2)
        let inner = Slots(8 * 5)
        pool.run(parts: 8) { outer in pool.run(parts: 5) { inner.p[outer * 5 + $0] += 1 } }
        XCTAssertEqual(inner.wrong(1), [:])

        let a = Slots(4), b = Slots(4), group = DispatchGroup()
        for slots in [a, b] {
            DispatchQueue.global().async(group: group) {
                for _ in 0..<2000 { pool.run(parts: 4) { slots.p[$0] += 1 } }
            }
        }
        group.wait()
        XCTAssertEqual(a.wrong(2000), [:])
        XCTAssertEqual(b.wrong(2000), [:])
    }

    func testSharedPoolsAreOnePerThreadCount() {
        XCTAssertTrue(WorkerPool.shared(threads: 2) === WorkerPool.shared(threads: 2))
        XCTAssertFalse(WorkerPool.shared(threads: 2) === WorkerPool.shared(threads: 3))
        XCTAssertEqual(WorkerPool.shared(threads: 3).threads, 3)
        XCTAssertEqual(WorkerPool.shared(threads: 1).threads, 1)
    }

    /// Row blocks cover every row once, in contiguous ranges; small work stays on the caller,
    /// large work is split over the threads asked for.
    func testRowBlocksCoverEveryRowOnceAndSplitOnlyLargeWork() {
        final class Blocks: @unchecked Sendable {
            let lock = NSLock()
            var ranges: [Range<Int>] = []
        }
        for (rows, width, threads, split) in [(7, 100, 2, false), (512, 8256, 2, true), (3, 1 << 20, 4, true), (1, 1 << 20, 2, false),
                                              (1000, 4096, 1, false), (0, 10, 2, false)] {
            let slots = Slots(max(rows, 1)), blocks = Blocks()
            WorkerPool.forEachRowBlock(rows: rows, width: width, threads: threads) { block in
                for r in block { slots.p[r] += 1 }
                blocks.lock.withLock { blocks.ranges.append(block) }
            }
            if rows > 0 { XCTAssertEqual(slots.wrong(1), [:], "\(rows) rows: row → times visited") }
            XCTAssertEqual(blocks.ranges.count > 1, split, "\(rows) × \(width) on \(threads) threads: \(blocks.ranges)")
            XCTAssertLessThanOrEqual(blocks.ranges.count, max(1, threads))
        }
    }
}
