import Checkpoint
import Kernels
import Model
import TestSupport
import XCTest

/// The dense fixtures against PyTorch/transformers reference logits and greedy tokens.
final class DenseModelTests: XCTestCase {
    static let fixtures: [(name: String, tolerance: Float)] = [
        ("polynorm-f32", 1e-4), ("polynorm-bf16-sharded", 1e-3), ("polyrelu-tied", 1e-4), ("llama-swiglu-gqa", 1e-4),
        ("llama3-rope-scaling", 1e-4), ("plain-relu", 1e-4), ("plain-gelu", 1e-4),
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

    /// A transformers-5 config.json (Llama 3 scaling in `rope_parameters`, no rope_scaling) on
    /// the llama3-rope-scaling weights gives that fixture's reference logits (transformers 5
    /// reproduces them exactly from this folder; without the scaling they are ~1 off).
    func testRopeParametersFolderMatchesReference() throws {
        let model = try Architectures.load(path: fixtureFolder("llama3-rope-parameters"))
        let ref = try reference("llama3-rope-scaling")
        for length in [1, 7, 40] {
            let logits = try model.logits(for: try ref.tensor("tokens_\(length)").ints())
            assertClose(logits.buffer.array, try ref.tensor("logits_\(length)").floats(), tolerance: 1e-4, "length \(length)")
        }
        try ModelChecks.greedyMatchesReference("llama3-rope-scaling", model: model)
    }

    func testIncrementalDecodeMatchesFullPass() throws {
        for (name, _) in Self.fixtures { try ModelChecks.incrementalDecodeMatchesFullPass(name) }
    }

    func testGreedyContinuationMatchesReference() throws {
        for (name, _) in Self.fixtures { try ModelChecks.greedyMatchesReference(name) }
    }

    func testBatchedSequencesMatchSeparateRuns() throws {
        try ModelChecks.batchedMatchesSeparate("llama-swiglu-gqa")
    }

    /// A step of chunks big enough that attention's (chunk, head) items are spread over the
    /// threads (the fixtures' own prompts are below the size that pays for a split), with a
    /// decode chunk among prefill chunks, one of them continuing a cache: every row's logits
    /// equal its sequence's run alone. bf16 weights, so attention runs on polycom's kernels
    /// (exact products: under --bf16-prefill a product's kernel depends on the step's token
    /// count, `ComputeOptions.bf16DotProducts`).
    func testAStepOfLargeChunksSplitOverThreadsMatchesSeparateRuns() throws {
        var rng = SplitMix64(seed: 41)
        let tokens = { (n: Int) in (0..<n).map { _ in Int(rng.next() % 320) } }
        let a = tokens(128), b = tokens(100), c = tokens(12), d = tokens(51)
        let model = try Architectures.load(path: fixtureModel("polynorm-bf16-sharded"))
        let (ca, cb, cc, cd) = (model.makeCache(), model.makeCache(), model.makeCache(), model.makeCache())
        _ = try model.forward([SequenceChunk(cache: ca, tokens: Array(a[0..<28]))])
        _ = try model.forward([SequenceChunk(cache: cd, tokens: Array(d[0..<50]))])
        // 14 more chunks make the step's keys and values (1,613 × 96 floats) large enough to
        // be copied into their caches on both threads.
        let more = (0..<14).map { _ in tokens(100) }, moreCaches = more.map { _ in model.makeCache() }
        let step = try model.forward([SequenceChunk(cache: ca, tokens: Array(a[28...]), allLogits: true),
                                      SequenceChunk(cache: cb, tokens: b, allLogits: true),
                                      SequenceChunk(cache: cd, tokens: [d[50]]), SequenceChunk(cache: cc, tokens: c)]
                                         + zip(moreCaches, more).map { SequenceChunk(cache: $0, tokens: $1) },
                                     logits: .last)
        XCTAssertEqual(step.rows, 100 + 100 + 1 + 1 + more.count)
        for (i, m) in more.enumerated() {
            assertClose(step.array(202 + i), try model.logits(for: m).array(99), tolerance: 1e-5, "chunk \(4 + i)'s last row")
        }
        let aloneA = try model.logits(for: a), aloneB = try model.logits(for: b)
        for i in 0..<100 { assertClose(step.array(i), aloneA.array(28 + i), tolerance: 1e-5, "a row \(28 + i)") }
        for i in 0..<100 { assertClose(step.array(100 + i), aloneB.array(i), tolerance: 1e-5, "b row \(i)") }
        assertClose(step.array(200), try model.logits(for: d).array(50), tolerance: 1e-5, "d's decode step")
        assertClose(step.array(201), try model.logits(for: c).array(11), tolerance: 1e-5, "c's last row")
        XCTAssertEqual([ca.count, cb.count, cc.count, cd.count], [128, 100, 12, 51])
    }

    /// Sequences reading a shared prefix (`KVCache.sharingPrefix`: an ending reading its
    /// context, a decode step after it, a reader of a reader, all while the context's own cache
    /// grows in the same step) give every row the logits of their sequence run alone: on
    /// polycom's attention kernels (bf16 weights), OpenBLAS's (f32 weights, and the portable
    /// family, whose decode runs the portable C).
    func testSequencesReadingASharedPrefixMatchSeparateRuns() throws {
        var rng = SplitMix64(seed: 43)
        let tokens = { (n: Int) in (0..<n).map { _ in Int(rng.next() % 320) } }
        let context = tokens(60), e1 = tokens(30), e2 = tokens(12), more = tokens(5), next = tokens(1)
        for (name, kernels) in [("polynorm-bf16-sharded", KernelFamily.best), ("polynorm-f32", .best), ("polynorm-bf16-sharded", .portable)] {
            let model = try Architectures.load(path: fixtureModel(name), options: ComputeOptions(kernels: kernels))
            let root = model.makeCache(capacity: 60)
            _ = try model.forward([SequenceChunk(cache: root, tokens: context)])
            let first = root.sharingPrefix(40), decode = root.sharingPrefix(60)
            let step1 = try model.forward([SequenceChunk(cache: first, tokens: e1, allLogits: true),
                                           SequenceChunk(cache: decode, tokens: next),
                                           SequenceChunk(cache: root, tokens: more, allLogits: true)])
            XCTAssertEqual(step1.rows, 36)
            // `first` holds 40 shared positions and 30 of its own: a reader of 55 of them copies 15.
            let second = first.sharingPrefix(55)
            XCTAssertEqual(second.sharedCount, 40)
            let step2 = try model.forward([SequenceChunk(cache: second, tokens: e2, allLogits: true)])
            let at = "\(name), \(kernels)"
            let aloneFirst = try model.logits(for: Array(context[0..<40]) + e1)
            for i in 0..<30 { assertClose(step1.array(i), aloneFirst.array(40 + i), tolerance: 1e-5, "\(at): first, row \(40 + i)") }
            assertClose(step1.array(30), try model.logits(for: context + next).array(60), tolerance: 1e-5, "\(at): the decode step")
            let aloneRoot = try model.logits(for: context + more)
            for i in 0..<5 { assertClose(step1.array(31 + i), aloneRoot.array(60 + i), tolerance: 1e-5, "\(at): root, row \(60 + i)") }
            let aloneSecond = try model.logits(for: Array((Array(context[0..<40]) + e1)[0..<55]) + e2)
            for i in 0..<12 { assertClose(step2.array(i), aloneSecond.array(55 + i), tolerance: 1e-5, "\(at): second, row \(55 + i)") }
        }
    }

    func testRejectsOutOfVocabularyTokens() throws {
        let model = try Architectures.load(path: fixtureModel("polynorm-f32"))
        XCTAssertThrowsError(try model.logits(for: [1, 320])) { XCTAssertTrue("\($0)".contains("outside the vocabulary"), "\($0)") }
        XCTAssertThrowsError(try model.logits(for: []))
    }
}

/// With --bf16-prefill the bf16 fixture stays close to PyTorch's f32 logits (activations are
/// rounded to bf16 in every product, so not to 1e-3) and greedy decoding is unchanged.
final class BF16PrefillTests: XCTestCase {
    func testBF16FixtureWithBF16DotProducts() throws {
        try XCTSkipUnless(ComputeOptions.cpuHasBF16Dot, "this CPU has no AVX512-BF16 instructions")
        let name = "polynorm-bf16-sharded"
        let model = try Architectures.load(path: fixtureModel(name), options: ComputeOptions(bf16DotProducts: true))
        let exact = try Architectures.load(path: fixtureModel(name))
        let ref = try reference(name)
        let tokens = try ref.tensor("tokens_40").ints(), expected = try ref.tensor("logits_40").floats()
        // The two models' options are their own: interleaved, each keeps its path.
        for _ in 0..<2 {
            let d = maxAbsDiff(try model.logits(for: tokens).buffer.array, expected)
            XCTAssertLessThan(d, 0.05)
            XCTAssertGreaterThan(d, 1e-3, "the bf16 path was not taken")
            assertClose(try exact.logits(for: tokens).buffer.array, expected, tolerance: 1e-3, "the exact model")
        }
        try ModelChecks.greedyMatchesReference(name, model: model)
    }
}

/// F16 checkpoints: the f32 fixture stored as F16 stays within F16 rounding of the reference.
final class F16CheckpointTests: XCTestCase {
    func testF16CopyOfFixture() throws {
        let dir = try editedFixture("polynorm-f32") { t in
            for (name, tensor) in t { t[name] = tensor.converted(to: .f16) }
        }
        XCTAssertEqual(try CheckpointFolder(path: dir).tensor("model.embed_tokens.weight").dtype, .f16)
        let model = try Architectures.load(path: dir)
        let ref = try reference("polynorm-f32")
        for length in [1, 7, 40] {
            let logits = try model.logits(for: try ref.tensor("tokens_\(length)").ints())
            let d = maxAbsDiff(logits.buffer.array, try ref.tensor("logits_\(length)").floats())
            XCTAssertLessThan(d, 2e-2, "length \(length)")
            XCTAssertGreaterThan(d, 0, "f16 rounding should show")
        }
    }
}
