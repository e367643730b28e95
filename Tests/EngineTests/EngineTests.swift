import Checkpoint
import Engine
import Foundation
import Model
import TestSupport
import XCTest

final class EngineTests: XCTestCase {
    var model: DecoderModel!
    var engine: Engine!

    override func setUpWithError() throws {
        model = try Architectures.load(path: fixtureModel("polynorm-f32"))
        var options = EngineOptions()
        options.maxBatchTokens = 16 // forces chunked prefill on the 40-token prompts
        engine = Engine(model: model, options: options)
        engine.start()
    }

    override func tearDown() { engine.shutdown() }

    /// Drains a handle until it finishes.
    func collect(_ h: SequenceHandle) -> (tokens: [Int], prompt: [TokenLogprob], logprobs: [TokenLogprob], reason: FinishReason?) {
        var tokens: [Int] = [], prompt: [TokenLogprob] = [], lps: [TokenLogprob] = []
        while let e = h.next(timeout: 30) {
            switch e {
            case .token(let t, let lp): tokens.append(t); if let lp { lps.append(lp) }
            case .promptLogprobs(let r): prompt = r
            case .finished(let reason): return (tokens, prompt, lps, reason)
            case .failed(let m): XCTFail(m); return (tokens, prompt, lps, nil)
            }
        }
        XCTFail("timed out")
        return (tokens, prompt, lps, nil)
    }

    func greedy(_ maxTokens: Int) -> SamplingParams {
        var p = SamplingParams()
        p.temperature = 0
        p.maxTokens = maxTokens
        p.ignoreEOS = true
        return p
    }

    func testGreedyMatchesReferenceWhileOthersRun() throws {
        let ref = try reference("polynorm-f32")
        let expected = try ref.tensor("greedy_tokens").ints()
        let others = try (0..<3).map { i in
            try engine.submit(GenerationRequest(prompt: Array(try ref.tensor("tokens_40").ints()[(i * 5)..<(i * 5 + 12)]), params: greedy(20)))
        }
        let h = try engine.submit(GenerationRequest(prompt: try ref.tensor("greedy_prompt").ints(), params: greedy(expected.count)))
        let r = collect(h)
        XCTAssertEqual(r.tokens, expected)
        XCTAssertEqual(r.reason, .length)
        for o in others { XCTAssertEqual(collect(o).tokens.count, 20) }
        XCTAssertEqual(engine.snapshot().running, 0)
    }

    /// Prompt log-probs (echo) equal log-softmax of the PyTorch reference logits.
    func testPromptLogprobsMatchReference() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_40").ints()
        let logits = try ref.tensor("logits_40").floats()
        var params = greedy(0)
        params.maxTokens = 0
        let h = try engine.submit(GenerationRequest(prompt: tokens, params: params, promptLogprobsFrom: 1, promptTopK: 3))
        let r = collect(h)
        XCTAssertEqual(r.reason, .length)
        XCTAssertEqual(r.prompt.count, tokens.count - 1)
        for (i, record) in r.prompt.enumerated() {
            let row = Array(logits[(i * 320)..<((i + 1) * 320)])
            let m = row.max()!
            let lse = m + Float(log(row.reduce(0.0) { $0 + exp(Double($1 - m)) }))
            XCTAssertEqual(record.token, tokens[i + 1])
            XCTAssertEqual(record.logprob, row[tokens[i + 1]] - lse, accuracy: 1e-4)
            XCTAssertEqual(record.top.count, 3)
            XCTAssertEqual(record.top[0].token, row.indices.max { row[$0] < row[$1] })
        }
    }

    /// Four continuations of one context: the context is computed once, and every score
    /// still equals the reference.
    func testSharedPrefixIsReusedAndScoresStayExact() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_40").ints()
        let logits = try ref.tensor("logits_40").floats()
        let context = Array(tokens[0..<30])
        var params = greedy(0)
        params.maxTokens = 0
        let before = engine.snapshot().prefixHits
        var handles: [SequenceHandle] = []
        for ending in 0..<4 {
            // Ending 0 is the reference's own continuation; the others differ.
            var cont = Array(tokens[30..<36])
            if ending > 0 { cont[0] = (cont[0] + ending) % 320 }
            handles.append(try engine.submit(GenerationRequest(prompt: context + cont, params: params, promptLogprobsFrom: 30)))
        }
        let results = handles.map { collect($0) }
        XCTAssertGreaterThanOrEqual(engine.snapshot().prefixHits - before, 3)
        let scored = results[0].prompt
        XCTAssertEqual(scored.count, 6)
        for (i, record) in scored.enumerated() {
            let p = 29 + i
            let row = Array(logits[(p * 320)..<((p + 1) * 320)])
            let m = row.max()!
            let lse = m + Float(log(row.reduce(0.0) { $0 + exp(Double($1 - m)) }))
            XCTAssertEqual(record.logprob, row[tokens[p + 1]] - lse, accuracy: 1e-4)
        }
        // An ending's first token is scored from the context alone: same distribution.
        for r in results.dropFirst() {
            XCTAssertEqual(r.prompt.count, 6)
            XCTAssertEqual(r.prompt[0].top[0].token, scored[0].top[0].token)
        }
    }

    func testSeededSamplingIsReproducibleWhateverElseRuns() throws {
        var params = SamplingParams()
        params.temperature = 0.9
        params.topP = 0.95
        params.seed = 1234
        params.maxTokens = 15
        params.ignoreEOS = true
        let prompt = [5, 17, 42, 99]
        let alone = collect(try engine.submit(GenerationRequest(prompt: prompt, params: params))).tokens
        let noise = try (0..<3).map { _ in try engine.submit(GenerationRequest(prompt: [1, 2, 3, 4, 5, 6], params: greedy(25))) }
        let together = collect(try engine.submit(GenerationRequest(prompt: prompt, params: params))).tokens
        noise.forEach { _ = collect($0) }
        XCTAssertEqual(alone, together)
        XCTAssertEqual(alone.count, 15)
        params.seed = 99
        XCTAssertNotEqual(collect(try engine.submit(GenerationRequest(prompt: prompt, params: params))).tokens, alone)
    }

    func testCancellationFreesTheSequence() throws {
        let h = try engine.submit(GenerationRequest(prompt: [1, 2, 3], params: greedy(100_000)))
        guard case .token = h.next(timeout: 10) else { return XCTFail("no first token") }
        h.cancel()
        var reason: FinishReason?
        while let e = h.next(timeout: 10) { if case .finished(let r) = e { reason = r; break } }
        XCTAssertEqual(reason, .cancelled)
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(engine.snapshot().running, 0)
    }

    func testStopsAtContextLengthAndRejectsBadPrompts() throws {
        let limit = model.config.maxPositionEmbeddings
        let r = collect(try engine.submit(GenerationRequest(prompt: Array(repeating: 7, count: limit - 3), params: greedy(50))))
        XCTAssertEqual(r.tokens.count, 3)
        XCTAssertEqual(r.reason, .length)
        XCTAssertThrowsError(try engine.submit(GenerationRequest(prompt: Array(repeating: 7, count: limit + 1), params: greedy(1)))) {
            XCTAssertTrue("\($0)".contains("maximum context length"), "\($0)")
        }
        XCTAssertThrowsError(try engine.submit(GenerationRequest(prompt: [1, 999], params: greedy(1))))
        XCTAssertThrowsError(try engine.submit(GenerationRequest(prompt: [], params: greedy(1))))
    }

    func testStopTokenIds() throws {
        let ref = try reference("polynorm-f32")
        let expected = try ref.tensor("greedy_tokens").ints()
        var params = greedy(12)
        params.stopTokenIds = [expected[3]]
        let r = collect(try engine.submit(GenerationRequest(prompt: try ref.tensor("greedy_prompt").ints(), params: params)))
        XCTAssertEqual(r.tokens, Array(expected[0...3]))
        XCTAssertEqual(r.reason, .stop)
    }
}

/// The KV-cache budget: requests wait for memory in order; one that can never fit is refused.
final class KVBudgetTests: XCTestCase {
    func testSequencesWaitForMemoryAndOversizeIsRefused() throws {
        let model = try Architectures.load(path: fixtureModel("polynorm-f32"))
        let perPosition = 2 * model.config.numHiddenLayers * model.config.kvDim * 4
        var options = EngineOptions()
        options.kvCacheBytes = 40 * perPosition // room for one 8 + 30 sequence, not two
        let engine = Engine(model: model, options: options)
        engine.start()
        defer { engine.shutdown() }
        var params = SamplingParams()
        params.temperature = 0
        params.maxTokens = 30
        params.ignoreEOS = true
        XCTAssertThrowsError(try engine.submit(GenerationRequest(prompt: Array(repeating: 3, count: 20), params: params))) {
            XCTAssertTrue("\($0)".contains("KV cache"), "\($0)")
        }
        // Both on one queue: with memory for one, every event of the first comes before any of
        // the second (without the budget they would be batched and interleave).
        let events = EventQueue()
        let a = try engine.submit(GenerationRequest(prompt: [1, 2, 3, 4, 5, 6, 7, 8], params: params), events: events)
        let b = try engine.submit(GenerationRequest(prompt: [8, 7, 6, 5, 4, 3, 2, 1], params: params), events: events)
        var order: [Int] = [], tokens = [a.id: 0, b.id: 0], finished = 0
        while finished < 2, let (id, event) = events.next(timeout: 30) {
            order.append(id)
            if case .token = event { tokens[id, default: 0] += 1 }
            if case .finished = event { finished += 1 }
        }
        XCTAssertEqual(tokens[a.id], 30)
        XCTAssertEqual(tokens[b.id], 30)
        XCTAssertEqual(order, Array(repeating: a.id, count: 31) + Array(repeating: b.id, count: 31))
    }
}

extension EngineTests {
    /// The sequences of one request are queued together or not at all.
    func testSubmissionOfSeveralSequencesIsAllOrNone() throws {
        var options = EngineOptions()
        options.maxQueue = 3
        let idle = Engine(model: model, options: options) // not started: nothing leaves the queue
        let request = GenerationRequest(prompt: [1, 2, 3], params: greedy(2))
        XCTAssertEqual(try idle.submit([request, request]).count, 2)
        XCTAssertThrowsError(try idle.submit([request, request])) { XCTAssertEqual($0 as? EngineError, .queueFull(2)) }
        XCTAssertEqual(idle.snapshot().waiting, 2)
        XCTAssertEqual(try idle.submit([request]).count, 1)
        XCTAssertThrowsError(try idle.submit(Array(repeating: request, count: 4))) { error in
            XCTAssertTrue("\(error)".contains("exceed the queue's 3"), "\(error)")
        }
    }

    /// A too-small KV budget is reported in exact units.
    func testKVBudgetErrorUsesExactUnits() throws {
        var options = EngineOptions()
        options.kvCacheBytes = 10_000
        let small = Engine(model: model, options: options)
        var params = SamplingParams()
        params.maxTokens = 20
        XCTAssertThrowsError(try small.submit(GenerationRequest(prompt: [1, 2, 3], params: params))) { error in
            XCTAssertTrue("\(error)".contains("\(ByteCount(23 * small.bytesPerPosition))"), "\(error)")
            XCTAssertTrue("\(error)".contains("10,000 bytes"), "\(error)")
            XCTAssertTrue("\(error)".contains("23 positions"), "\(error)")
        }
    }
}

/// Counts what the engine thread reports (`computed`: prompt positions the sequences ran).
final class CountingObserver: EngineObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var counts = (started: 0, tokens: 0, finished: 0, computed: 0)
    func sequenceStarted(promptTokens: Int, reusedTokens: Int, computedTokens: Int) {
        lock.withLock { counts.started += 1; counts.computed += computedTokens }
    }
    func tokenGenerated(interTokenSeconds: Double?, timeToFirstTokenSeconds: Double?) { lock.withLock { counts.tokens += 1 } }
    func sequenceFinished(_ reason: FinishReason) { lock.withLock { counts.finished += 1 } }
    var snapshot: (started: Int, tokens: Int, finished: Int, computed: Int) { lock.withLock { counts } }
}

extension EngineTests {
    /// The observer may be replaced from another thread while the engine thread reports to
    /// it (an evaluation's scorer takes it over): every event reaches one of them, none is
    /// lost. The unguarded weak property was a data race `make test-tsan` reported.
    func testObserverCanBeReplacedWhileSequencesRun() throws {
        let observers = [CountingObserver(), CountingObserver()]
        engine.observer = observers[0]
        let handles = try (0..<4).map { i in
            try engine.submit(GenerationRequest(prompt: [1 + i, 2, 3, 4], params: greedy(20)))
        }
        let done = DispatchSemaphore(value: 0)
        let swapper = Thread { [engine] in
            var i = 0
            while done.wait(timeout: .now()) == .timedOut {
                i += 1
                engine!.observer = observers[i % 2]
                usleep(50)  // leaves the engine thread the core on a 2-core machine
            }
        }
        swapper.start()
        for h in handles { XCTAssertEqual(collect(h).tokens.count, 20) }
        done.signal()
        let totals = observers.map(\.snapshot)
        XCTAssertEqual(totals.map(\.started).reduce(0, +), 4)
        XCTAssertEqual(totals.map(\.tokens).reduce(0, +), 80)
        XCTAssertEqual(totals.map(\.finished).reduce(0, +), 4)
    }
}

extension EngineTests {
    /// A shut-down engine is freed with its model and caches once its owner lets go; it used
    /// to keep its Thread, whose closure kept the engine: a cycle LeakSanitizer reported.
    func testShutDownEngineIsFreed() throws {
        weak var released: Engine?
        do {
            let local = Engine(model: model)
            released = local
            local.start()
            XCTAssertEqual(collect(try local.submit(GenerationRequest(prompt: [1, 2, 3], params: greedy(3)))).tokens.count, 3)
            local.shutdown()
        }
        // The thread drops its closure (and the engine) just after the loop returns.
        let deadline = Date(timeIntervalSinceNow: 30)
        while released != nil, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertNil(released, "the engine outlived shutdown() and its last reference")
    }
}
