@testable import Model
import XCTest

final class KVCacheTests: XCTestCase {
    /// A copied prefix holds the source's first positions of every layer's keys and values,
    /// on one thread and split over several (a copy large enough to be split: 3 layers of
    /// 90 positions × 512 floats, twice).
    func testCopyPrefixHoldsEveryLayersKeysAndValuesOnAnyThreadCount() {
        let (layers, width, positions, kept) = (3, 512, 100, 90)
        let source = KVCache(layers: layers, width: width, capacity: positions)
        func key(_ l: Int, _ i: Int) -> Float { Float(l * 1_000_000 + i) }
        func value(_ l: Int, _ i: Int) -> Float { -Float(l * 1_000_000 + i) - 0.5 }
        for l in 0..<layers {
            for i in 0..<positions * width {
                source.keys(layer: l)[i] = key(l, i)
                source.values(layer: l)[i] = value(l, i)
            }
        }
        source.count = positions
        for threads in [1, 2, 4] {
            let copy = source.copyPrefix(kept, capacity: 120, threads: threads)
            XCTAssertEqual(copy.count, kept)
            XCTAssertEqual(copy.capacity, 120)
            for l in 0..<layers {
                let keys = UnsafeBufferPointer(start: copy.keys(layer: l), count: kept * width)
                let values = UnsafeBufferPointer(start: copy.values(layer: l), count: kept * width)
                XCTAssertEqual(Array(keys), (0..<kept * width).map { key(l, $0) }, "layer \(l) keys, \(threads) threads")
                XCTAssertEqual(Array(values), (0..<kept * width).map { value(l, $0) }, "layer \(l) values, \(threads) threads")
            }
        }
    }
}
