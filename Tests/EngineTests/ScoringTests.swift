import Engine
import Foundation
import Model
import TestSupport
import XCTest

/// Engine.score against log-softmax of the PyTorch reference logits, on an engine whose
/// queue holds one request and runs two sequences.
final class ScoringTests: XCTestCase {
    var engine: Engine!

    override func setUpWithError() throws {
        var options = EngineOptions()
        options.maxQueue = 1
        options.maxSequences = 2
        options.maxBatchTokens = 16
        engine = Engine(model: try Architectures.load(path: fixtureModel("polynorm-f32")), options: options)
        engine.start()
    }

    override func tearDown() { engine.shutdown() }

    /// 190 pairs (every cut of the reference's 40 tokens, five times over) through a queue
    /// of one: each score is the sum of the reference's log-probs of its continuation.
    func testScoresEqualTheReferenceWhateverTheQueueLimit() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_40").ints()
        let logits = try ref.tensor("logits_40").floats()
        func logprob(_ p: Int) -> (Double, Bool) { // of tokens[p] after tokens[..<p]
            let row = logits[((p - 1) * 320)..<(p * 320)].map(Double.init)
            let m = row.max()!
            let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            return (row[tokens[p]] - lse, row.indices.max { row[$0] < row[$1] } == tokens[p])
        }
        var pairs: [ScoringPair] = [], expected: [(Double, Bool, Int)] = []
        for _ in 0..<5 {
            for cut in 1..<39 {
                let end = min(cut + 3, 40)
                pairs.append(ScoringPair(context: Array(tokens[..<cut]), continuation: Array(tokens[cut..<end])))
                let each = (cut..<end).map(logprob)
                expected.append((each.reduce(0) { $0 + $1.0 }, each.allSatisfy(\.1), end - cut))
            }
        }
        let scores = try engine.score(pairs)
        XCTAssertEqual(scores.count, pairs.count)
        for (i, (s, e)) in zip(scores, expected).enumerated() {
            XCTAssertEqual(s.logprob, e.0, accuracy: 1e-4, "pair \(i)")
            XCTAssertEqual(s.isGreedy, e.1, "pair \(i)")
            XCTAssertEqual(s.tokenCount, e.2, "pair \(i)")
        }
        XCTAssertEqual(engine.snapshot().waiting, 0)
    }

    /// A bad pair is refused before any pair runs, naming its index.
    func testBadPairIsRefusedUpFront() throws {
        var pairs = Array(repeating: ScoringPair(context: [1, 2, 3], continuation: [4]), count: 50)
        pairs[37] = ScoringPair(context: [1, 2], continuation: [320])
        XCTAssertThrowsError(try engine.score(pairs)) { error in
            XCTAssertTrue("\(error)".contains("pair 37"), "\(error)")
        }
        XCTAssertEqual(engine.snapshot().prefixHits, 0)
        pairs[37] = ScoringPair(context: [], continuation: [4])
        XCTAssertThrowsError(try engine.score(pairs)) { XCTAssertTrue("\($0)".contains("context is empty"), "\($0)") }
    }

    /// A too-small KV budget is reported in exact units.
    func testKVBudgetErrorUsesExactUnits() throws {
        var options = EngineOptions()
        options.kvCacheBytes = 10_000
        let small = Engine(model: engine.model, options: options)
        var params = SamplingParams()
        params.maxTokens = 20
        XCTAssertThrowsError(try small.submit(GenerationRequest(prompt: [1, 2, 3], params: params))) { error in
            let perPosition = small.bytesPerPosition
            XCTAssertTrue("\(error)".contains("\(ByteCount(23 * perPosition))"), "\(error)")
            XCTAssertTrue("\(error)".contains("10,000 bytes"), "\(error)")
            XCTAssertTrue("\(error)".contains("23 positions"), "\(error)")
        }
    }
}
