import Engine
import XCTest

final class SamplerTests: XCTestCase {
    let logits: [Float] = [1.0, 3.0, 2.9, -1.0, 0.5]

    func sample(_ configure: (inout SamplingParams) -> Void, prompt: [Int] = [], output: [Int] = [], seed: UInt64 = 1) -> Int {
        var p = SamplingParams()
        configure(&p)
        var s = Sampler(params: p, fallbackSeed: seed)
        return logits.withUnsafeBufferPointer { s.sample($0, prompt: prompt, output: output) }
    }

    func testGreedyAndCutsThatLeaveOneCandidate() {
        XCTAssertEqual(sample { $0.temperature = 0 }, 1)
        for seed in 0..<20 as Range<UInt64> {
            XCTAssertEqual(sample({ $0.topK = 1 }, seed: seed), 1)
            XCTAssertEqual(sample({ $0.topP = 0.01 }, seed: seed), 1)
            XCTAssertEqual(sample({ $0.minP = 0.99 }, seed: seed), 1)
        }
    }

    func testTopKTwoNeverPicksOthers() {
        let picks = Set((0..<200 as Range<UInt64>).map { seed in sample({ $0.topK = 2; $0.temperature = 5 }, seed: seed) })
        XCTAssertEqual(picks, [1, 2])
    }

    /// exp(3)/exp(2.9) ≈ 1.105: with 4000 draws token 1 is picked 52.5 % of the two.
    func testSamplingFollowsTheDistribution() {
        var count1 = 0
        for seed in 0..<4000 as Range<UInt64> where sample({ $0.topK = 2 }, seed: seed) == 1 { count1 += 1 }
        XCTAssertEqual(Double(count1) / 4000, exp(3.0) / (exp(3.0) + exp(2.9)), accuracy: 0.03)
    }

    func testPenalties() {
        // Repetition penalty 2 halves token 1's logit (3 → 1.5): token 2 wins.
        XCTAssertEqual(sample({ $0.temperature = 0; $0.repetitionPenalty = 2 }, prompt: [1]), 2)
        // Presence 0.2 on token 1: 2.8 < 2.9.
        XCTAssertEqual(sample({ $0.temperature = 0; $0.presencePenalty = 0.2 }, output: [1]), 2)
        // Frequency 0.06 × 2 occurrences = 0.12: 2.88 < 2.9; once: 2.94 > 2.9.
        XCTAssertEqual(sample({ $0.temperature = 0; $0.frequencyPenalty = 0.06 }, output: [1, 1]), 2)
        XCTAssertEqual(sample({ $0.temperature = 0; $0.frequencyPenalty = 0.06 }, output: [1]), 1)
    }
}

extension SamplerTests {
    /// OpenAI's logit_bias: added to the logits before the penalties and the draw.
    func testLogitBias() {
        // -100 bans the best token (3 → -97): greedy takes 2.9; +0.2 on token 2 lifts it to 3.1.
        XCTAssertEqual(sample { $0.temperature = 0; $0.logitBias = [1: -100] }, 2)
        XCTAssertEqual(sample { $0.temperature = 0; $0.logitBias = [2: 0.2] }, 2)
        XCTAssertEqual(sample { $0.temperature = 0; $0.logitBias = [2: 0.05] }, 1)
        // Banned at temperature 1 over many draws; +100 forces token 3 (-1 + 100).
        for seed in 0..<200 as Range<UInt64> {
            XCTAssertNotEqual(sample({ $0.logitBias = [1: -100, 2: -100] }, seed: seed), 1)
            XCTAssertNotEqual(sample({ $0.logitBias = [1: -100, 2: -100] }, seed: seed), 2)
            XCTAssertEqual(sample({ $0.logitBias = [3: 100] }, seed: seed), 3)
        }
        // Before the penalties: the bias makes token 2 (2.9 + 1 = 3.9) best, a repetition
        // penalty of 2 on it then halves the biased logit (1.95 < 3).
        XCTAssertEqual(sample({ $0.temperature = 0; $0.logitBias = [2: 1]; $0.repetitionPenalty = 2 }, prompt: [2]), 1)
        // Ids past the row are ignored, not a crash (the server refuses them first).
        XCTAssertEqual(sample { $0.temperature = 0; $0.logitBias = [99: 100] }, 1)
    }
}
