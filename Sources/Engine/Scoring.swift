import Foundation

/// A continuation to score after its context (lm-evaluation-harness's loglikelihood
/// request), as token ids.
public struct ScoringPair: Sendable, Equatable {
    public var context: [Int]
    public var continuation: [Int]
    public init(context: [Int], continuation: [Int]) {
        self.context = context
        self.continuation = continuation
    }
}

/// log P(continuation | context), and whether greedy decoding would have produced it.
public struct ContinuationScore: Sendable, Equatable {
    /// Sum of the continuation tokens' log-probs (natural log; -infinity is possible).
    public let logprob: Double
    /// Every continuation token was the most likely one at its position.
    public let isGreedy: Bool
    public let tokenCount: Int
}

extension Engine {
    /// Scores any number of pairs and returns their scores in order. The batch enters the
    /// queue as one request (it is refused with `queueFull` only when its first pair finds
    /// the queue full); its pairs then go in a window of twice `maxSequences` at a time,
    /// uncounted, each finished pair making room for the next. So a batch of 100,000 never
    /// fills the queue, the running set stays full, and a request of another client that
    /// arrives meanwhile waits behind one window, not behind the whole batch.
    ///
    /// Pairs that share a context compute it once when they are close in the list (the
    /// prefix cache; lm-eval sends a question's endings together).
    ///
    /// `isCancelled` is polled while waiting (a client that hung up); the pairs in the
    /// engine are then cancelled and `EngineError.cancelled` thrown.
    public func score(_ pairs: [ScoringPair], eventTimeout: TimeInterval = 600,
                      isCancelled: () -> Bool = { false }) throws -> [ContinuationScore] {
        var params = SamplingParams()
        params.maxTokens = 0
        params.temperature = 0
        // Every pair is checked before the first runs: a bad pair at the end of a long
        // batch must not cost the work of all those before it.
        let requests = try pairs.enumerated().map { i, p -> GenerationRequest in
            guard !p.context.isEmpty else { throw EngineError.invalidRequest("pair \(i): the context is empty") }
            guard !p.continuation.isEmpty else { throw EngineError.invalidRequest("pair \(i): the continuation is empty") }
            let r = GenerationRequest(prompt: p.context + p.continuation, params: params,
                                      promptLogprobsFrom: p.context.count, promptTopK: 1)
            do { try validate(r) } catch { throw EngineError.invalidRequest("pair \(i): \(error)") }
            return r
        }
        let events = EventQueue()
        let window = 2 * options.maxSequences
        var scores = [ContinuationScore?](repeating: nil, count: pairs.count)
        var open: [Int: (index: Int, handle: SequenceHandle)] = [:]
        defer { for o in open.values { o.handle.cancel() } }
        var next = 0, done = 0, idle: TimeInterval = 0
        while done < pairs.count {
            if next < pairs.count && open.count < window {
                // The first pair stands for the batch in the queue count; the rest are not counted.
                let n = next == 0 ? 1 : min(window - open.count, pairs.count - next)
                let handles = try enqueue(Array(requests[next..<(next + n)]), events: events, countsAgainstQueue: next == 0)
                for (k, h) in handles.enumerated() { open[h.id] = (next + k, h) }
                next += n
                continue
            }
            guard let (id, event) = events.next(timeout: 1) else {
                if isCancelled() { throw EngineError.cancelled }
                idle += 1
                if idle >= eventTimeout { throw EngineError.failed("scoring timed out: no pair finished in \(Int(eventTimeout)) s") }
                continue
            }
            idle = 0
            guard let o = open[id] else { continue }
            switch event {
            case .promptLogprobs(let records):
                guard records.count == pairs[o.index].continuation.count else { continue }
                scores[o.index] = ContinuationScore(logprob: records.reduce(0.0) { $0 + Double($1.logprob) },
                                                    isGreedy: records.allSatisfy(\.isGreedy), tokenCount: records.count)
            case .token:
                continue
            case .finished(let reason):
                open[id] = nil
                guard scores[o.index] != nil else {
                    throw reason == .cancelled ? EngineError.stopped : EngineError.failed("scoring of pair \(o.index) was interrupted")
                }
                done += 1
                if done % 64 == 0 && isCancelled() { throw EngineError.cancelled }
            case .failed(let message):
                open[id] = nil
                throw EngineError.failed(message)
            }
        }
        return scores.map { $0! }
    }
}
