import Checkpoint
import Kernels
import Model
import TestSupport
import XCTest

/// The dense fixtures against PyTorch/transformers reference logits and greedy tokens.
final class DenseModelTests: XCTestCase {
    static let fixtures: [(name: String, tolerance: Float)] = [
        ("polynorm-f32", 1e-4), ("polynorm-bf16-sharded", 1e-3), ("polyrelu-tied", 1e-4), ("llama-swiglu-gqa", 1e-4),
    ]

    func testLogitsMatchReference() throws {
        for (name, tolerance) in Self.fixtures {
            let model = try Architectures.load(path: fixtureModel(name))
            let ref = try reference(name)
            for length in [1, 7, 40] {
                let tokens = try ref.tensor("tokens_\(length)").ints()
                XCTAssertEqual(tokens.count, length)
                let logits = try model.logits(for: tokens)
                assertClose(logits.buffer.array, try ref.tensor("logits_\(length)").floats(), tolerance: tolerance,
                            "\(name) length \(length)")
            }
        }
    }

    /// Prefill part of the sequence, then decode the rest one token at a time through the
    /// KV cache: every position's logits equal the full pass's.
    func testIncrementalDecodeMatchesFullPass() throws {
        for (name, _) in Self.fixtures {
            let model = try Architectures.load(path: fixtureModel(name))
            let tokens = try reference(name).tensor("tokens_40").ints()
            let full = try model.logits(for: tokens)
            let cache = model.makeCache(capacity: 4) // forces the cache to grow
            let prefill = try model.forward([SequenceChunk(cache: cache, tokens: Array(tokens[0..<13]))], logits: .all)
            for t in 0..<13 { assertClose(prefill.array(t), full.array(t), tolerance: 1e-5, "\(name) prefill \(t)") }
            for t in 13..<tokens.count {
                let step = try model.forward([SequenceChunk(cache: cache, tokens: [tokens[t]])], logits: .last)
                assertClose(step.array(0), full.array(t), tolerance: 1e-5, "\(name) decode \(t)")
            }
            XCTAssertEqual(cache.count, tokens.count)
        }
    }

    func testGreedyContinuationMatchesReference() throws {
        for (name, _) in Self.fixtures {
            let model = try Architectures.load(path: fixtureModel(name))
            let ref = try reference(name)
            let expected = try ref.tensor("greedy_tokens").ints()
            let got = try model.generate(prompt: try ref.tensor("greedy_prompt").ints(), maxTokens: expected.count)
            XCTAssertEqual(got, expected, name)
        }
    }

    /// Sequences of different lengths in one batch give what they give alone.
    func testBatchedSequencesMatchSeparateRuns() throws {
        let model = try Architectures.load(path: fixtureModel("llama-swiglu-gqa"))
        let tokens = try reference("llama-swiglu-gqa").tensor("tokens_40").ints()
        let a = Array(tokens[0..<9]), b = Array(tokens[9..<30])
        let (ca, cb) = (model.makeCache(), model.makeCache())
        _ = try model.forward([SequenceChunk(cache: ca, tokens: Array(a[0..<5]))])
        let batched = try model.forward([SequenceChunk(cache: ca, tokens: Array(a[5...])), SequenceChunk(cache: cb, tokens: b)],
                                        logits: .last)
        assertClose(batched.array(0), try model.logits(for: a).array(a.count - 1), tolerance: 1e-5)
        assertClose(batched.array(1), try model.logits(for: b).array(b.count - 1), tolerance: 1e-5)
    }

    func testRejectsOutOfVocabularyTokens() throws {
        let model = try Architectures.load(path: fixtureModel("polynorm-f32"))
        XCTAssertThrowsError(try model.logits(for: [1, 320])) { XCTAssertTrue("\($0)".contains("outside the vocabulary"), "\($0)") }
        XCTAssertThrowsError(try model.logits(for: []))
    }
}
