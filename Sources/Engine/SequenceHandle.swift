import Foundation

/// What a running sequence tells its client, in order.
public enum SequenceEvent: Sendable {
    /// Log-probs of prompt tokens from `GenerationRequest.promptLogprobsFrom` to the end.
    case promptLogprobs([TokenLogprob])
    /// A generated token, with its log-prob when asked for.
    case token(Int, TokenLogprob?)
    case finished(FinishReason)
    case failed(String)
}

/// A request to the engine: prompt tokens and how to continue them.
public struct GenerationRequest: Sendable {
    public var prompt: [Int]
    public var params: SamplingParams
    /// Report log-probs of prompt tokens from this position on (echo: 1; scoring: the
    /// context length); nil for none.
    public var promptLogprobsFrom: Int?
    /// Alternatives per prompt position (0: only the chosen token and the greedy one).
    public var promptTopK: Int = 0
    /// With `maxTokens` 0: still run the last prompt token and keep the log-probs of every
    /// possible next token with the prompt's prefix-cache entry, so that prompts extending
    /// this one (the choices of a scored context) take their first token's record from there.
    /// Otherwise a prompt that generates nothing stops one token short: the last token's
    /// logits would score the token after the prompt, which nobody asked for.
    public var keepsNextTokenLogprobs = false
    /// False: the keys and values are dropped when the sequence finishes instead of entering
    /// the prefix cache (a scored continuation, which no later prompt extends: keeping it
    /// would only push out entries that are reused, and each kept cache is fresh memory).
    public var entersPrefixCache = true

    public init(prompt: [Int], params: SamplingParams, promptLogprobsFrom: Int? = nil, promptTopK: Int = 0,
                keepsNextTokenLogprobs: Bool = false, entersPrefixCache: Bool = true) {
        self.prompt = prompt
        self.params = params
        self.promptLogprobsFrom = promptLogprobsFrom
        self.promptTopK = promptTopK
        self.keepsNextTokenLogprobs = keepsNextTokenLogprobs
        self.entersPrefixCache = entersPrefixCache
    }
}

/// One queue for the events of several sequences (the choices of one request), so a
/// single thread can serve them all in arrival order.
public final class EventQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var events: [(sequence: Int, event: SequenceEvent)] = []

    public init() {}

    /// The next event of any sequence on this queue; nil when `timeout` passes first.
    public func next(timeout: TimeInterval = .infinity) -> (sequence: Int, event: SequenceEvent)? {
        condition.lock()
        defer { condition.unlock() }
        // Linux Foundation traps on wait(until: .distantFuture): an endless wait is wait().
        let deadline = timeout.isFinite ? Date(timeIntervalSinceNow: timeout) : nil
        while events.isEmpty {
            if let deadline {
                if !condition.wait(until: deadline) { return nil }
            } else {
                condition.wait()
            }
        }
        return events.removeFirst()
    }

    func push(_ sequence: Int, _ event: SequenceEvent) {
        condition.lock()
        events.append((sequence, event))
        condition.signal()
        condition.unlock()
    }
}

/// The client's side of a sequence: its events (on its own queue, or tagged with its id
/// on a queue shared with other sequences) and a cancel switch. Safe from any thread.
public final class SequenceHandle: @unchecked Sendable {
    public let id: Int
    private let queue: EventQueue
    private let lock = NSLock()
    private var cancelled = false

    init(id: Int, queue: EventQueue?) {
        self.id = id
        self.queue = queue ?? EventQueue()
    }

    /// The next event, waiting for it; nil when `timeout` passes first. (For handles
    /// submitted without a shared `EventQueue`.)
    public func next(timeout: TimeInterval = .infinity) -> SequenceEvent? {
        queue.next(timeout: timeout)?.event
    }

    /// Asks the engine to drop the sequence at its next step (client went away, or a
    /// stop string matched). A `.finished(.cancelled)` event follows unless it had ended.
    public func cancel() { lock.withLock { cancelled = true } }

    public var isCancelled: Bool { lock.withLock { cancelled } }

    func push(_ event: SequenceEvent) { queue.push(id, event) }
}
