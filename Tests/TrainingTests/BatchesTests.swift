@testable import Training
import XCTest

final class BatchesTests: XCTestCase {
    /// Micro-batch g of step s holds positions (s·G + g)·B … +B−1 modulo the example count.
    func testFileOrderFollowsTheRecipe() {
        let order = BatchOrder(examples: 5, batchSize: 2, gradAccum: 3, shuffle: false, seed: 0)
        XCTAssertEqual(order.indices(step: 0, micro: 0), [0, 1])
        XCTAssertEqual(order.indices(step: 0, micro: 2), [4, 0])
        XCTAssertEqual(order.indices(step: 1, micro: 1), [3, 4])  // positions 8, 9
        XCTAssertEqual(order.steps(epochs: 2), 2)
    }

    func testShuffledOrderIsASeededPermutationPerEpoch() {
        let a = BatchOrder(examples: 10, batchSize: 5, gradAccum: 1, shuffle: true, seed: 3)
        let epoch0 = a.indices(step: 0, micro: 0) + a.indices(step: 1, micro: 0)
        let epoch1 = a.indices(step: 2, micro: 0) + a.indices(step: 3, micro: 0)
        XCTAssertEqual(epoch0.sorted(), Array(0..<10))
        XCTAssertEqual(epoch1.sorted(), Array(0..<10))
        XCTAssertNotEqual(epoch0, epoch1)
        XCTAssertNotEqual(epoch0, Array(0..<10))
        let same = BatchOrder(examples: 10, batchSize: 5, gradAccum: 1, shuffle: true, seed: 3)
        XCTAssertEqual(same.indices(step: 3, micro: 0), a.indices(step: 3, micro: 0))
        XCTAssertNotEqual(BatchOrder(examples: 10, batchSize: 10, gradAccum: 1, shuffle: true, seed: 4).indices(step: 0, micro: 0), epoch0)
    }
}
