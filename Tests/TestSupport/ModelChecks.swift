import Checkpoint
import Model
import XCTest

/// Checks every architecture's tests run on their fixtures, written once.
public enum ModelChecks {
    /// Prefill 13 tokens, then decode the rest one at a time through the KV cache (which
    /// starts too small, so it grows): every position's logits equal the full pass's.
    public static func incrementalDecodeMatchesFullPass(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try Architectures.load(path: fixtureModel(name))
        let tokens = try reference(name).tensor("tokens_40").ints()
        let full = try model.logits(for: tokens)
        let cache = model.makeCache(capacity: 4)
        let prefill = try model.forward([SequenceChunk(cache: cache, tokens: Array(tokens[0..<13]))], logits: .all)
        for t in 0..<13 { assertClose(prefill.array(t), full.array(t), tolerance: 1e-5, "\(name) prefill \(t)", file: file, line: line) }
        for t in 13..<tokens.count {
            let step = try model.forward([SequenceChunk(cache: cache, tokens: [tokens[t]])], logits: .last)
            assertClose(step.array(0), full.array(t), tolerance: 1e-5, "\(name) decode \(t)", file: file, line: line)
        }
        XCTAssertEqual(cache.count, tokens.count, file: file, line: line)
    }

    /// Greedy decoding through the KV cache gives the reference's tokens (on `model` when
    /// given, else the fixture loaded with default options).
    public static func greedyMatchesReference(_ name: String, model: DecoderModel? = nil,
                                              file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try model ?? Architectures.load(path: fixtureModel(name))
        let ref = try reference(name)
        let expected = try ref.tensor("greedy_tokens").ints()
        let cache = model.makeCache()
        var logits = try model.forward([SequenceChunk(cache: cache, tokens: try ref.tensor("greedy_prompt").ints())])
        var got: [Int] = []
        while got.count < expected.count {
            got.append(argmax(logits.row(0)))
            logits = try model.forward([SequenceChunk(cache: cache, tokens: [got.last!])])
        }
        XCTAssertEqual(got, expected, name, file: file, line: line)
    }

    /// Sequences of different lengths batched together give what they give alone, with a
    /// chunk that asks for all its logits between two that ask for their last: the last
    /// layer then runs on those rows alone, and every token's keys and values still reach the
    /// caches (a decode step after the batch attends to all of them).
    public static func batchedMatchesSeparate(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try Architectures.load(path: fixtureModel(name))
        let tokens = try reference(name).tensor("tokens_40").ints()
        let a = Array(tokens[0..<9]), b = Array(tokens[9..<30]), c = Array(tokens[30..<36])
        let (ca, cb, cc) = (model.makeCache(), model.makeCache(), model.makeCache())
        _ = try model.forward([SequenceChunk(cache: ca, tokens: Array(a[0..<5]))])
        let batched = try model.forward([SequenceChunk(cache: ca, tokens: Array(a[5...])),
                                         SequenceChunk(cache: cc, tokens: c, allLogits: true), SequenceChunk(cache: cb, tokens: b)],
                                        logits: .last)
        XCTAssertEqual(batched.rows, 1 + c.count + 1, file: file, line: line)
        assertClose(batched.array(0), try model.logits(for: a).array(a.count - 1), tolerance: 1e-5, file: file, line: line)
        let alone = try model.logits(for: c)
        for i in 0..<c.count { assertClose(batched.array(1 + i), alone.array(i), tolerance: 1e-5, "row \(i) of c", file: file, line: line) }
        assertClose(batched.array(1 + c.count), try model.logits(for: b).array(b.count - 1), tolerance: 1e-5, file: file, line: line)
        let next = tokens[36]
        let step = try model.forward([SequenceChunk(cache: cb, tokens: [next]), SequenceChunk(cache: ca, tokens: [next])])
        assertClose(step.array(0), try model.logits(for: b + [next]).array(b.count), tolerance: 1e-5, "b's next step", file: file, line: line)
        assertClose(step.array(1), try model.logits(for: a + [next]).array(a.count), tolerance: 1e-5, "a's next step", file: file, line: line)
    }
}

/// Asserts that loading `dir` fails with an error mentioning every phrase.
public func assertLoadFails(_ dir: String, mentions phrases: [String], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try Architectures.load(path: dir), file: file, line: line) { error in
        for p in phrases {
            XCTAssertTrue("\(error)".contains(p), "'\(error)' does not mention '\(p)'", file: file, line: line)
        }
    }
}
