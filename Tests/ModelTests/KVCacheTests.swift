@testable import Model
import XCTest

final class KVCacheTests: XCTestCase {
    private func key(_ l: Int, _ p: Int, _ i: Int) -> Float { Float(l * 1_000_000 + p * 1000 + i) }
    private func value(_ l: Int, _ p: Int, _ i: Int) -> Float { -Float(l * 1_000_000 + p * 1000 + i) - 0.5 }

    /// Appends positions count ..< count + n with the test's pattern (`tag` shifts it so
    /// different writers are told apart), as the model appends: reserve, write, count.
    private func append(_ cache: KVCache, _ n: Int, tag: Int = 0) {
        cache.reserve(cache.count + n)
        for l in 0..<cache.layers {
            for p in cache.count..<cache.count + n {
                for i in 0..<cache.width {
                    cache.keys(layer: l, position: p)[i] = key(l, p + tag, i)
                    cache.values(layer: l, position: p)[i] = value(l, p + tag, i)
                }
            }
        }
        cache.count += n
    }

    /// Every layer's keys and values at positions `range` are the pattern's (shifted by `tag`).
    private func assertHolds(_ cache: KVCache, _ range: Range<Int>, tag: Int = 0, _ message: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        for l in 0..<cache.layers {
            for p in range {
                let keys = Array(UnsafeBufferPointer(start: cache.keys(layer: l, position: p), count: cache.width))
                let values = Array(UnsafeBufferPointer(start: cache.values(layer: l, position: p), count: cache.width))
                guard keys == (0..<cache.width).map({ key(l, p + tag, $0) }),
                      values == (0..<cache.width).map({ value(l, p + tag, $0) }) else {
                    return XCTFail("\(message): layer \(l) position \(p)", file: file, line: line)
                }
            }
        }
    }

    /// A cache sharing another's first positions reads them without a copy of its own (its
    /// bytes are only what it adds), and neither cache's later appends reach the other.
    func testSharedPrefixIsReadNotCopiedAndAppendsStayApart() {
        let source = KVCache(layers: 3, width: 8, capacity: 50)
        append(source, 50)
        let shared = source.sharingPrefix(30, capacity: 40)
        XCTAssertEqual(shared.count, 30)
        XCTAssertEqual(shared.sharedCount, 30)
        XCTAssertEqual(shared.capacity, 40)
        XCTAssertEqual(shared.bytes, 10 * KVCache.bytesPerPosition(layers: 3, width: 8))
        assertHolds(shared, 0..<30, "shared positions")
        append(shared, 25, tag: 7) // past its capacity: its own storage grows, the prefix stays shared
        append(source, 40)         // the source grows its storage too
        assertHolds(shared, 0..<30, "shared positions after both grew")
        assertHolds(shared, 30..<55, tag: 7, "the sharer's own positions")
        assertHolds(source, 0..<90, "the source")
    }

    /// Sharing from a cache that itself shares a prefix: within that prefix the same storage
    /// is read again; past it the cache's own positions are copied (on 1, 2 and 4 threads, a
    /// copy large enough to be split), so no cache reads more than two runs.
    func testSharingFromASharerReadsTheFirstPrefixAndCopiesTheRest() {
        let (layers, width) = (3, 512)
        let root = KVCache(layers: layers, width: width, capacity: 40)
        append(root, 40)
        let middle = root.sharingPrefix(20)
        append(middle, 100, tag: 3)
        for threads in [1, 2, 4] {
            let within = middle.sharingPrefix(15, threads: threads)
            XCTAssertEqual(within.sharedCount, 15)
            assertHolds(within, 0..<15, "within the first prefix, \(threads) threads")
            let past = middle.sharingPrefix(110, capacity: 130, threads: threads)
            XCTAssertEqual(past.sharedCount, 20)
            XCTAssertEqual(past.count, 110)
            XCTAssertEqual(past.capacity, 130)
            assertHolds(past, 0..<20, "the root's positions, \(threads) threads")
            assertHolds(past, 20..<110, tag: 3, "middle's own positions, \(threads) threads")
        }
    }

    /// Truncating a cache whose positions another cache reads, then appending, leaves the
    /// reader's positions as they were (the truncated cache writes into storage of its own).
    func testTruncatingBelowSharedPositionsLeavesReadersIntact() {
        let source = KVCache(layers: 2, width: 4, capacity: 32)
        append(source, 32)
        let reader = source.sharingPrefix(24)
        source.truncate(to: 10)
        append(source, 20, tag: 5)
        assertHolds(reader, 0..<24, "the reader")
        assertHolds(source, 0..<10, "the kept positions")
        assertHolds(source, 10..<30, tag: 5, "the rewritten positions")

        // The same below a shared prefix of the cache's own.
        let sharer = source.sharingPrefix(8)
        append(sharer, 6, tag: 9)
        let second = sharer.sharingPrefix(12)
        sharer.truncate(to: 4)
        append(sharer, 10, tag: 11)
        assertHolds(second, 0..<8, "second's shared positions")
        assertHolds(second, 8..<12, tag: 9, "second's copied positions")
        assertHolds(sharer, 0..<4, "the sharer's kept positions")
        assertHolds(sharer, 4..<14, tag: 11, "the sharer's rewritten positions")
        assertHolds(source, 0..<10, "the source")
    }
}
