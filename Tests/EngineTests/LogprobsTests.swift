import Engine
import Model
import TestSupport
import XCTest

/// The scoring path (`Logprobs.entry(row:)`, k = 1, no log-softmaxed row built) against the
/// full one (`entry(logprobs: logSoftmax(row))`), on a model's logits and on rows with ties.
final class LogprobsTests: XCTestCase {
    func assertSameEntries(_ row: [Float], _ message: String) {
        row.withUnsafeBufferPointer { r in
            let full = Logprobs.logSoftmax(r)
            for token in Set([0, 1, row.count / 2, row.count - 1]) where token < row.count {
                for k in [0, 1, 3] {
                    let fast = Logprobs.entry(row: r, token: token, k: k)
                    XCTAssertEqual(fast, Logprobs.entry(logprobs: full, token: token, k: k), "\(message) token \(token) k \(k)")
                }
            }
        }
    }

    func testScoringEntriesEqualTheFullLogSoftmaxs() throws {
        let model = try Architectures.load(path: fixtureModel("polynorm-f32"))
        let logits = try model.logits(for: [1, 5, 9, 200, 7, 7, 31, 64])
        for r in 0..<logits.rows { assertSameEntries(logits.array(r), "model row \(r)") }
        // Greedy ties: the lowest id wins on both paths.
        assertSameEntries((0..<model.vocabSize).map { Float($0 % 5) }, "ties")
        assertSameEntries([3, 3], "two equal")
    }
}
