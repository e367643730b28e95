import Foundation

/// The log-likelihood of one continuation: the sum of its tokens' log-probs, whether every
/// token was the model's greedy choice, and how many tokens it has.
public struct ScoredContinuation: Sendable, Equatable {
    public let logprob: Double
    public let isGreedy: Bool
    public let numTokens: Int
    public init(logprob: Double, isGreedy: Bool, numTokens: Int) {
        self.logprob = logprob
        self.isGreedy = isGreedy
        self.numTokens = numTokens
    }

    /// Sums prompt records; a sum of -inf (a log-prob that underflowed) is held at
    /// -9999 per token so that it stays a number in JSON and still ranks last.
    init(records: [TokenLogprob]) {
        let sum = records.reduce(0.0) { $0 + Double($1.logprob) }
        logprob = max(sum, -9999 * Double(max(records.count, 1)))
        isGreedy = records.allSatisfy(\.isGreedy)
        numTokens = records.count
    }
}

extension Engine {
    /// Scores every pair (see `loglikelihood(_:maxInFlight:shouldStop:onResult:)`) and
    /// returns the results in the order of `pairs`.
    public func loglikelihood(_ pairs: [ScoringPair]) throws -> [ScoredContinuation] {
        var results = [ScoredContinuation?](repeating: nil, count: pairs.count)
        _ = try loglikelihood(pairs) { i, r in results[i] = r }
        return results.map { $0! }
    }

    /// Scores pairs through the scheduler, reporting each result (`onResult(index, result)`,
    /// on the calling thread, in completion order). Pairs in a row that share a context
    /// compute it once: the context runs first on its own (one logits row), and each
    /// continuation then takes it from the prefix cache, with the log-probs after it that
    /// score the continuation's first token, and computes only its own tokens but the last
    /// (as lm-eval, which runs `(context + continuation)[:-1]`). With `cachesContinuations`
    /// false such continuations do not enter the prefix cache, only their context does: a
    /// batch evaluation scores each pair once, and kept continuations would push out the
    /// contexts later prompts share, each one fresh memory (page faults were ~9% of a
    /// scoring run's time). A server keeps them, so a client scoring the same pairs again
    /// gets everything from the cache and the same numbers bit for bit.
    ///
    /// Lists of any length: the list enters the queue as one request (its first sequence
    /// is counted against `maxQueue`: with `waitForRoom` it waits while the queue is full,
    /// otherwise it is refused with `EngineError.queueFull` as any request); the rest go in
    /// uncounted, at most `maxInFlight` sequences at a time (default: eight per running
    /// slot, as continuations of one context take turns), each finished one making room
    /// for the next. So a batch of 100,000 never fills the queue for other clients, and a
    /// request that arrives meanwhile waits behind one window, not the whole batch.
    ///
    /// Every pair is checked before the first runs (a bad pair at the end must not cost
    /// the work before it). Returns false when `shouldStop` turned true first (what was in
    /// flight is cancelled and not reported).
    @discardableResult
    public func loglikelihood(_ pairs: [ScoringPair], maxInFlight: Int? = nil, waitForRoom: Bool = true,
                              cachesContinuations: Bool = true, shouldStop: () -> Bool = { false },
                              onResult: (Int, ScoredContinuation) throws -> Void) throws -> Bool {
        let window = max(2, maxInFlight ?? 8 * options.maxSequences)
        let events = EventQueue()
        // Handle id → pair index (nil: a context-only sequence).
        var inFlight: [Int: (pair: Int?, handle: SequenceHandle)] = [:]
        var records: [Int: [TokenLogprob]] = [:]
        var params = SamplingParams()
        params.maxTokens = 0
        params.temperature = 0
        for (i, p) in pairs.enumerated() {
            guard !p.context.isEmpty else { throw LoglikelihoodError.emptyContext(index: i) }
            guard !p.continuation.isEmpty else { throw LoglikelihoodError.emptyContinuation(index: i) }
            do {
                try validate(GenerationRequest(prompt: p.context + p.continuation, params: params))
            } catch EngineError.promptTooLong(let tokens, let limit) {
                throw LoglikelihoodError.tooLong(index: i, tokens: tokens, limit: limit)
            } catch {
                throw LoglikelihoodError.rejected(index: i, reason: "\(error)")
            }
        }
        var submitted = 0

        func cancelAll() { for (_, f) in inFlight { f.handle.cancel() } }

        /// Handles one event; false when there was none within the poll interval.
        func drainOne() throws -> Bool {
            guard let (id, event) = events.next(timeout: 0.1) else { return false }
            guard let entry = inFlight[id] else { return true }
            switch event {
            case .promptLogprobs(let r): records[id] = r
            case .token: break
            case .failed(let message):
                cancelAll()
                throw LoglikelihoodError.interrupted(index: entry.pair ?? 0, reason: message)
            case .finished(let reason):
                inFlight[id] = nil
                guard let index = entry.pair else { break }
                let r = records.removeValue(forKey: id) ?? []
                guard reason != .cancelled, r.count == pairs[index].continuation.count else {
                    cancelAll()
                    throw LoglikelihoodError.interrupted(index: index, reason: reason == .cancelled ? "the engine stopped" : "incomplete")
                }
                try onResult(index, ScoredContinuation(records: r))
            }
            return true
        }

        func submit(_ request: GenerationRequest, pair: Int?, index: Int) throws {
            while true {
                do {
                    let h = try enqueue([request], events: events, countsAgainstQueue: submitted == 0)[0]
                    submitted += 1
                    inFlight[h.id] = (pair, h)
                    return
                } catch EngineError.queueFull where waitForRoom || submitted > 0 {
                    // Others' requests filled the queue before ours entered it: wait for them.
                    if !(try drainOne()) && inFlight.isEmpty { Thread.sleep(forTimeInterval: 0.01) }
                } catch EngineError.promptTooLong(let tokens, let limit) {
                    throw LoglikelihoodError.tooLong(index: index, tokens: tokens, limit: limit)
                } catch EngineError.invalidRequest(let message) {
                    throw LoglikelihoodError.rejected(index: index, reason: message)
                }
            }
        }

        var next = 0
        do {
            while next < pairs.count || !inFlight.isEmpty {
                if shouldStop() { cancelAll(); return false }
                if next < pairs.count {
                    var end = next + 1
                    while end < pairs.count && pairs[end].context == pairs[next].context { end += 1 }
                    let group = next..<end
                    let shared = sharesContext(pairs, group)
                    if inFlight.count + group.count + (shared ? 1 : 0) <= window || inFlight.isEmpty {
                        if shared {
                            try submit(GenerationRequest(prompt: pairs[next].context, params: params, keepsNextTokenLogprobs: true),
                                       pair: nil, index: next)
                        }
                        for i in group {
                            let p = pairs[i]
                            try submit(GenerationRequest(prompt: p.context + p.continuation, params: params,
                                                         promptLogprobsFrom: p.context.count, promptTopK: 1,
                                                         entersPrefixCache: cachesContinuations || !shared), pair: i, index: i)
                        }
                        next = end
                        continue
                    }
                }
                _ = try drainOne()
            }
        } catch {
            cancelAll()
            throw error
        }
        return true
    }

    /// Running the context alone first pays when several continuations follow it and each
    /// of them waits for it (the scheduler's rule for reusing a prefix being computed).
    private func sharesContext(_ pairs: [ScoringPair], _ group: Range<Int>) -> Bool {
        let context = pairs[group.lowerBound].context
        return group.count > 1 && context.count > 1
            && group.allSatisfy { PrefixCache.worthWaiting(pairs[$0].context + pairs[$0].continuation, for: context) }
    }
}
