import Engine
import Foundation
import Model
import TestSupport
import XCTest

/// `Engine.loglikelihood` against log-softmax of the PyTorch reference logits.
final class EngineLoglikelihoodTests: XCTestCase {
    var engine: Engine!

    override func setUpWithError() throws {
        var options = EngineOptions()
        // Tiny limits: prompts are prefilled in chunks, the queue fills, pairs wait their turn.
        options.maxBatchTokens = 16
        options.maxSequences = 2
        options.maxQueue = 2
        engine = Engine(model: try Architectures.load(path: fixtureModel("polynorm-f32")), options: options)
        engine.start()
    }

    override func tearDown() { engine.shutdown() }

    /// Σ log_softmax(logits[p - 1])[tokens[p]] over the continuation, in double precision.
    func expected(_ tokens: [Int], _ logits: [Float], from k: Int, to end: Int) -> Double {
        (k..<end).reduce(0.0) { sum, p in
            let row = logits[((p - 1) * 320)..<(p * 320)].map(Double.init)
            let m = row.max()!
            return sum + row[tokens[p]] - (m + log(row.reduce(0) { $0 + exp($1 - m) }))
        }
    }

    func testScoresEqualTheReferenceAndSharedContextsAreReused() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_40").ints(), logits = try ref.tensor("logits_40").floats()
        // Prefixes of the reference sequence, so every position's logits are the reference's:
        // three continuations of one 20-token context, two of a 5-token one, a 1-token context.
        let spans = [(20, 25), (20, 30), (20, 40), (5, 40), (5, 6), (1, 10)]
        let pairs = spans.map { ScoringPair(context: Array(tokens[0..<$0.0]), continuation: Array(tokens[$0.0..<$0.1])) }
        let reused = engine.snapshot().prefixReusedTokens
        let results = try engine.loglikelihood(pairs)
        for ((k, end), r) in zip(spans, results) {
            XCTAssertEqual(r.logprob, expected(tokens, logits, from: k, to: end), accuracy: 1e-4, "\(k)..<\(end)")
            XCTAssertEqual(r.numTokens, end - k)
            XCTAssertFalse(r.isGreedy, "random tokens are not all the argmax")
        }
        XCTAssertGreaterThanOrEqual(engine.snapshot().prefixReusedTokens - reused, 2 * 19, "the 20-token context ran once")
    }

    /// Without `cachesContinuations` the shared context's keys and values stay in the prefix
    /// cache and the continuations' do not; a lone pair's prompt stays (nothing else holds it).
    func testOnlySharedContextsStayInThePrefixCacheWhenAsked() throws {
        let model = try Architectures.load(path: fixtureModel("polynorm-f32"))
        let fresh = Engine(model: model, options: EngineOptions())
        fresh.start()
        defer { fresh.shutdown() }
        let tokens = try reference("polynorm-f32").tensor("tokens_40").ints()
        let context = Array(tokens[0..<20])
        // Positions the prefix cache has room for, which the engine thread counts after the
        // step that finished the last pair.
        func cachedPositions(_ expected: Int) -> Int {
            let deadline = Date().addingTimeInterval(10)
            var positions = 0
            repeat {
                positions = fresh.snapshot().kvCacheBytes / model.config.kvCacheBytesPerPosition
                if positions == expected { break }
                Thread.sleep(forTimeInterval: 0.001)
            } while Date() < deadline
            return positions
        }
        let shared = [5, 10, 20].map { ScoringPair(context: context, continuation: Array(tokens[20..<(20 + $0)])) }
        _ = try fresh.loglikelihood(shared, cachesContinuations: false) { _, _ in }
        XCTAssertEqual(cachedPositions(20), 20, "the context alone")
        _ = try fresh.loglikelihood([ScoringPair(context: Array(tokens[1..<9]), continuation: Array(tokens[9..<15]))],
                                    cachesContinuations: false) { _, _ in }
        XCTAssertEqual(cachedPositions(34), 20 + 14, "and the lone pair's (room for its whole prompt)")
        _ = try fresh.loglikelihood(shared)
        // By default the continuations stay too, each holding only what it adds to the shared
        // context (the context's storage counts once): the context runs again, reading its
        // first 19 positions from its entry and computing the 20th (1), and each continuation
        // reads those 19 and holds a copy of the 20th beside its own tokens.
        let kept = 34 + 1 + [5, 10, 20].reduce(0) { $0 + 1 + $1 }
        XCTAssertEqual(cachedPositions(kept), kept, "by default the continuations stay too")
    }

    func testGreedyContinuationIsGreedy() throws {
        let ref = try reference("polynorm-f32")
        let prompt = try ref.tensor("greedy_prompt").ints(), greedy = try ref.tensor("greedy_tokens").ints()
        var wrong = greedy
        wrong[5] = (wrong[5] + 1) % 320
        let r = try engine.loglikelihood([ScoringPair(context: prompt, continuation: greedy),
                                          ScoringPair(context: prompt, continuation: wrong)])
        XCTAssertTrue(r[0].isGreedy)
        XCTAssertFalse(r[1].isGreedy)
        XCTAssertGreaterThan(r[0].logprob, r[1].logprob)
    }

    /// Stopping cancels what is in flight; the engine is left idle and keeps working.
    func testStopCancelsTheRest() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_40").ints()
        let pairs = (1..<30).map { ScoringPair(context: Array(tokens[0..<$0]), continuation: Array(tokens[$0..<40])) }
        var reported = 0
        let finished = try engine.loglikelihood(pairs, shouldStop: { reported >= 2 }) { _, _ in reported += 1 }
        XCTAssertFalse(finished)
        XCTAssertLessThan(reported, pairs.count)
        let deadline = Date(timeIntervalSinceNow: 10)
        while Date() < deadline, engine.snapshot().running + engine.snapshot().waiting > 0 { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(engine.snapshot().running + engine.snapshot().waiting, 0)
        XCTAssertEqual(try engine.loglikelihood([pairs[0]]).count, 1)
    }

    func testRefusedPairNamesItsIndex() {
        let pairs = [ScoringPair(context: [1], continuation: [2]), ScoringPair(context: [1], continuation: [999])]
        XCTAssertThrowsError(try engine.loglikelihood(pairs)) {
            guard case .rejected(1, let reason) = $0 as? LoglikelihoodError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("999"), reason)
        }
    }
}

extension EngineLoglikelihoodTests {
    /// 190 pairs (every cut of the reference's 40 tokens, five times over) through a queue
    /// of two: each score is the sum of the reference's log-probs of its continuation.
    func testListsLongerThanTheQueueEqualTheReference() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_40").ints(), logits = try ref.tensor("logits_40").floats()
        var pairs: [ScoringPair] = [], spans: [(Int, Int)] = []
        for _ in 0..<5 {
            for cut in 1..<39 {
                let end = min(cut + 3, 40)
                pairs.append(ScoringPair(context: Array(tokens[..<cut]), continuation: Array(tokens[cut..<end])))
                spans.append((cut, end))
            }
        }
        let results = try engine.loglikelihood(pairs)
        XCTAssertEqual(results.count, pairs.count)
        for (i, (r, (k, end))) in zip(results, spans).enumerated() {
            XCTAssertEqual(r.logprob, expected(tokens, logits, from: k, to: end), accuracy: 1e-4, "pair \(i)")
            XCTAssertEqual(r.numTokens, end - k)
        }
        XCTAssertEqual(engine.snapshot().waiting, 0)
    }

    /// While a long list is scored, another client's request still finds room in the queue
    /// of two (the list's sequences are not counted against it).
    func testOtherRequestsFindRoomDuringAList() throws {
        let pairs = (0..<2000).map { ScoringPair(context: [1, 5 + $0 % 300, 7], continuation: [9, 11]) }
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [engine] in
            _ = try? engine!.loglikelihood(pairs)
            done.signal()
        }
        while engine.snapshot().running == 0 { Thread.sleep(forTimeInterval: 0.001) }
        var params = SamplingParams()
        params.maxTokens = 3
        params.ignoreEOS = true
        for _ in 0..<3 {
            let h = try engine.submit(GenerationRequest(prompt: [1, 2, 3], params: params))
            var tokens = 0
            while let e = h.next(timeout: 30) {
                if case .token = e { tokens += 1 }
                if case .finished = e { break }
            }
            XCTAssertEqual(tokens, 3)
        }
        done.wait()
    }

    /// A bad pair anywhere is refused before any pair runs.
    func testBadPairIsRefusedBeforeAnyRuns() {
        var pairs = Array(repeating: ScoringPair(context: [1, 2, 3], continuation: [4]), count: 50)
        pairs[37] = ScoringPair(context: [1, 2], continuation: [320])
        XCTAssertThrowsError(try engine.loglikelihood(pairs)) {
            guard case .rejected(37, let reason) = $0 as? LoglikelihoodError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("320"), reason)
        }
        XCTAssertEqual(engine.snapshot().prefixHits, 0, "no pair ran")
        pairs[37] = ScoringPair(context: Array(repeating: 1, count: 200), continuation: [4])
        XCTAssertThrowsError(try engine.loglikelihood(pairs)) {
            XCTAssertEqual($0 as? LoglikelihoodError, .tooLong(index: 37, tokens: 201, limit: 128))
        }
    }
}

extension EngineLoglikelihoodTests {
    /// Endings of one context: the context runs once, each ending's first token is scored
    /// from the log-probs kept after the context, and no ending runs its own last token (as
    /// lm-eval runs `(context + continuation)[:-1]`): 20 + 4 × 4 positions for four 5-token
    /// endings, none for a 1-token one. Every first-token score is the reference's
    /// log_softmax(logits[19]) at that token; the reference's own ending scores as a whole.
    func testEndingsTakeTheirFirstTokenFromTheContextAndSkipTheirLast() throws {
        var options = EngineOptions()
        options.maxBatchTokens = 64
        let engine = Engine(model: self.engine.model, options: options)
        let counter = CountingObserver()
        engine.observer = counter
        engine.start()
        defer { engine.shutdown() }
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_40").ints(), logits = try ref.tensor("logits_40").floats()
        let context = Array(tokens[0..<20])
        var pairs = (0..<4).map { e in
            ScoringPair(context: context, continuation: [(tokens[20] + 37 * e) % 320] + tokens[21..<25])
        }
        pairs.append(ScoringPair(context: context, continuation: [(tokens[20] + 200) % 320]))
        let results = try engine.loglikelihood(pairs)
        XCTAssertEqual(counter.snapshot.computed, 20 + 4 * 4)
        XCTAssertEqual(results[0].logprob, expected(tokens, logits, from: 20, to: 25), accuracy: 1e-4)
        var withFirst = tokens
        withFirst[20] = pairs[4].continuation[0]
        XCTAssertEqual(results[4].logprob, expected(withFirst, logits, from: 20, to: 21), accuracy: 1e-4)
        XCTAssertEqual(results[4].numTokens, 1)
        // Endings 1–3 differ from the reference after their first token: check that token
        // alone, as the difference from the same ending scored without it.
        for e in 1..<4 {
            let rest = try engine.loglikelihood([ScoringPair(context: context + [pairs[e].continuation[0]],
                                                             continuation: Array(tokens[21..<25]))])[0]
            withFirst[20] = pairs[e].continuation[0]
            XCTAssertEqual(results[e].logprob - rest.logprob, expected(withFirst, logits, from: 20, to: 21), accuracy: 1e-4, "ending \(e)")
        }
    }

    /// An echo-style request (nothing generated) computes all but its last position, and
    /// reports the same records as the reference.
    func testAPromptThatGeneratesNothingSkipsItsLastPosition() throws {
        let counter = CountingObserver()
        engine.observer = counter
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_40").ints(), logits = try ref.tensor("logits_40").floats()
        var params = SamplingParams()
        params.maxTokens = 0
        let h = try engine.submit(GenerationRequest(prompt: Array(tokens[0..<30]), params: params, promptLogprobsFrom: 1))
        var records: [TokenLogprob] = []
        while let e = h.next(timeout: 30) {
            if case .promptLogprobs(let r) = e { records = r }
            if case .finished = e { break }
        }
        XCTAssertEqual(counter.snapshot.computed, 29)
        XCTAssertEqual(records.count, 29)
        XCTAssertEqual(records.reduce(0.0) { $0 + Double($1.logprob) }, expected(tokens, logits, from: 1, to: 30), accuracy: 1e-4)
    }
}

extension EngineLoglikelihoodTests {
    /// The same pairs scored again take everything from the prefix cache and give the same
    /// numbers bit for bit, endings of every length (the playground's browser test caught a
    /// second run recomputing each ending's last position through decode's kernels: 2e-8 off).
    func testScoringTheSamePairsAgainGivesTheSameNumbers() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_40").ints()
        let context = Array(tokens[0..<12])
        let pairs = [1, 2, 5, 9].map { n in ScoringPair(context: context, continuation: Array(tokens[12..<(12 + n)])) }
            + [ScoringPair(context: Array(tokens[0..<3]), continuation: Array(tokens[3..<8]))]
        let counter = CountingObserver()
        engine.observer = counter
        let first = try engine.loglikelihood(pairs)
        let computed = counter.snapshot.computed
        XCTAssertEqual(try engine.loglikelihood(pairs), first)
        XCTAssertEqual(counter.snapshot.computed, computed + 1, "only the context's last position runs again")
    }
}
