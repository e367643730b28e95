import Foundation
import Kernels
import Model

/// Settings of the scheduler.
public struct EngineOptions: Sendable {
    /// Tokens per forward pass: decode tokens of every running sequence plus chunks of
    /// prompts being prefilled.
    public var maxBatchTokens = 512
    /// Sequences running at once; more wait in the queue.
    public var maxSequences = 32
    /// Requests waiting beyond this are refused (HTTP 429).
    public var maxQueue = 256
    /// Memory for the prefix cache.
    public var prefixCacheBytes = 512 << 20
    /// Memory the running sequences' KV caches may take (each reserves prompt + max_tokens
    /// positions when admitted); nil: a quarter of physical memory. A request that alone
    /// needs more is refused; others wait until enough is free.
    public var kvCacheBytes: Int?
    public init() {}
}

/// Counters and latency observations, delivered from the engine thread.
public protocol EngineObserver: AnyObject, Sendable {
    /// `computedTokens`: the prompt positions this sequence will run (not reused, and not
    /// the last one of a prompt that generates nothing).
    func sequenceStarted(promptTokens: Int, reusedTokens: Int, computedTokens: Int)
    func tokenGenerated(interTokenSeconds: Double?, timeToFirstTokenSeconds: Double?)
    func sequenceFinished(_ reason: FinishReason)
}

public enum EngineError: Error, CustomStringConvertible, Equatable {
    case queueFull(Int)
    case promptTooLong(tokens: Int, limit: Int)
    case invalidRequest(String)
    case stopped

    public var description: String {
        switch self {
        case .queueFull(let n): return "the server is busy: \(n) requests are already waiting"
        case .promptTooLong(let t, let limit):
            return "this model's maximum context length is \(limit) tokens, but the prompt has \(t) tokens"
        case .invalidRequest(let m): return m
        case .stopped: return "the engine is shutting down"
        }
    }
}

/// Runs sequences on a model with continuous batching: every step puts the next token of
/// each running sequence and chunks of new prompts into one forward pass, so concurrent
/// requests share each pass over the weights. One engine thread owns the model.
public final class Engine: @unchecked Sendable {
    public let model: DecoderModel
    public let options: EngineOptions
    public let eosTokenIds: Set<Int>
    public var maxModelLength: Int { model.config.maxPositionEmbeddings }
    /// Memory the running sequences' KV caches may take (`EngineOptions.kvCacheBytes`).
    public let kvBudget: Int
    /// KV-cache bytes of one position (keys and values of every layer, fp32).
    public let bytesPerPosition: Int
    /// Set from any thread (an evaluation's scorer takes it over while the engine runs), read
    /// by the engine thread at every event: a weak reference is not atomic, so it sits behind
    /// its own lock (ThreadSanitizer found the unguarded one racing).
    public var observer: EngineObserver? {
        get { observerLock.withLock { observerStorage } }
        set { observerLock.withLock { observerStorage = newValue } }
    }
    private weak var observerStorage: EngineObserver?
    private let observerLock = NSLock()
    /// Asked after every forward pass: a message means the pass read weights that are gone
    /// (a mapped file truncated underneath, whose lost pages read as zeros), so the pass's
    /// sequences fail with it instead of answering from garbage. It must stay cheap.
    private let weightsFault: (@Sendable () -> String?)?

    private let condition = NSCondition()
    private var queue: [EngineSequence] = []
    private var running: [EngineSequence] = []
    private var nextId = 0
    private var stopping = false
    /// Not the Thread itself: it holds its closure, which holds the engine, and an engine
    /// holding it back was a cycle that outlived `shutdown()` (LeakSanitizer's report).
    private var started = false
    private let prefixCache: PrefixCache
    private var seedCounter: UInt64 = 0x5EED
    /// The last pass's logits, written over by the next (engine thread only).
    private var logitsBuffer: FloatBuffer?
    /// Signalled once when the engine thread returns.
    private let exited = DispatchSemaphore(value: 0)

    public init(model: DecoderModel, options: EngineOptions = EngineOptions(), eosTokenIds: Set<Int>? = nil,
                weightsFault: (@Sendable () -> String?)? = nil) {
        self.model = model
        self.weightsFault = weightsFault
        self.options = options
        self.eosTokenIds = eosTokenIds ?? Set(model.config.eosTokenIds)
        prefixCache = PrefixCache(maxBytes: options.prefixCacheBytes, copyThreads: model.options.threads)
        kvBudget = options.kvCacheBytes ?? Int(ProcessInfo.processInfo.physicalMemory / 4)
        bytesPerPosition = model.config.kvCacheBytesPerPosition
    }

    /// Starts the engine thread. The thread keeps the engine alive until `shutdown()`.
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !started else { return }
        let t = Thread { self.loop() }
        t.name = "polycom-engine"
        t.stackSize = 8 << 20
        started = true
        t.start()
    }

    /// Queues a request; events arrive on the returned handle, or on `events` when given
    /// (tagged with the handle's id).
    public func submit(_ request: GenerationRequest, events: EventQueue? = nil) throws -> SequenceHandle {
        try submit([request], events: events)[0]
    }

    /// Queues the sequences of one client request together: all of them, or none when the
    /// queue cannot take them all (`queueFull`), so a refused request leaves nothing behind.
    public func submit(_ requests: [GenerationRequest], events: EventQueue? = nil) throws -> [SequenceHandle] {
        guard requests.count <= options.maxQueue else {
            throw EngineError.invalidRequest("\(requests.count) sequences in one request exceed the queue's \(options.maxQueue)")
        }
        return try enqueue(requests, events: events, countsAgainstQueue: true)
    }

    /// `countsAgainstQueue: false` is for the items of a batch fed in a few at a time
    /// (`loglikelihood`): the batch as a whole was admitted once, its items must not fill the queue
    /// that other clients' requests are counted against.
    func enqueue(_ requests: [GenerationRequest], events: EventQueue?, countsAgainstQueue: Bool) throws -> [SequenceHandle] {
        for r in requests { try validate(r) }
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw EngineError.stopped }
        if countsAgainstQueue {
            let waiting = queue.reduce(0) { $0 + ($1.countsAgainstQueue ? 1 : 0) }
            guard waiting + requests.count <= options.maxQueue else { throw EngineError.queueFull(waiting) }
        }
        var handles: [SequenceHandle] = []
        for request in requests {
            nextId += 1
            seedCounter = seedCounter &* 6364136223846793005 &+ 1442695040888963407
            let handle = SequenceHandle(id: nextId, queue: events)
            queue.append(EngineSequence(handle: handle, request: request, fallbackSeed: seedCounter,
                                        countsAgainstQueue: countsAgainstQueue))
            handles.append(handle)
        }
        condition.signal()
        return handles
    }

    func validate(_ request: GenerationRequest) throws {
        guard !request.prompt.isEmpty else { throw EngineError.invalidRequest("the prompt is empty") }
        if let bad = request.prompt.first(where: { $0 < 0 || $0 >= model.vocabSize }) {
            throw EngineError.invalidRequest("token id \(bad) is outside the vocabulary (0..<\(model.vocabSize))")
        }
        guard request.prompt.count <= maxModelLength else {
            throw EngineError.promptTooLong(tokens: request.prompt.count, limit: maxModelLength)
        }
        let need = positions(request) * bytesPerPosition
        guard need <= kvBudget else {
            throw EngineError.invalidRequest("the request needs \(ByteCount(need)) of KV cache for \(positions(request)) positions "
                                             + "(prompt + max_tokens), more than the budget of \(ByteCount(kvBudget)), "
                                             + "which holds \(kvBudget / bytesPerPosition) positions")
        }
    }

    /// Stops taking requests, cancels what is queued or running and waits for the thread.
    public func shutdown() {
        condition.lock()
        stopping = true
        let wasStarted = started
        condition.broadcast()
        condition.unlock()
        if wasStarted { exited.wait(); exited.signal() }
    }

    /// Sequences running / waiting, and KV-cache bytes held (for /metrics).
    public func snapshot() -> (running: Int, waiting: Int, kvCacheBytes: Int, prefixHits: Int, prefixReusedTokens: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (runningCount, queue.count, kvBytes, prefixCache.hits, prefixCache.reusedTokens)
    }

    // Updated by the engine thread under the lock, for snapshot().
    private var runningCount = 0
    private var kvBytes = 0

    // MARK: engine thread

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && running.isEmpty && !stopping { condition.wait() }
            if stopping {
                let all = queue + running
                queue.removeAll()
                condition.unlock()
                for s in all { s.handle.push(.finished(.cancelled)) }
                running.removeAll()
                condition.lock()
                runningCount = 0
                condition.unlock()
                exited.signal()
                return
            }
            admit()
            condition.unlock()
            step()
            condition.lock()
            runningCount = running.count
            kvBytes = running.reduce(0) { $0 + ($1.cache?.bytes ?? 0) } + prefixCache.bytes
            condition.unlock()
        }
    }

    /// Moves queued sequences into the running set (lock held). A sequence whose prompt
    /// shares most of its prefix with one still being prefilled waits for it, so it can
    /// reuse that prefix from the cache instead of computing it again.
    private func admit() {
        var index = 0
        var reserved = running.reduce(0) { $0 + positions($1.request) } * bytesPerPosition
        while running.count < options.maxSequences && index < queue.count {
            let s = queue[index]
            let need = positions(s.request) * bytesPerPosition
            // First come, first served: nobody overtakes a request waiting for memory.
            if reserved + need > kvBudget && !running.isEmpty { break }
            let sibling = running.contains { r in
                r.isPrefilling && PrefixCache.worthWaiting(s.prompt, for: r.prompt)
            }
            if sibling { index += 1; continue }
            queue.remove(at: index)
            reserved += need
            if let hit = prefixCache.lookup(s.prompt, logprobsFrom: s.request.promptLogprobsFrom, topK: s.request.promptTopK,
                                            capacity: positions(s.request)) {
                s.cache = hit.cache
                s.prefilled = hit.reused
                s.promptRecords = hit.logprobs
                if let from = s.request.promptLogprobsFrom {
                    for (i, r) in hit.logprobs.enumerated() { s.positionRecords[from + i] = r }
                }
            } else {
                s.cache = model.makeCache(capacity: positions(s.request))
            }
            observer?.sequenceStarted(promptTokens: s.prompt.count, reusedTokens: s.prefilled,
                                      computedTokens: max(0, s.prefillEnd - s.prefilled))
            running.append(s)
        }
    }

    /// A queued sequence is waiting to reuse `s`'s prompt (see `admit`).
    private func hasWaitingSibling(of s: EngineSequence) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return queue.contains { PrefixCache.worthWaiting($0.prompt, for: s.prompt) }
    }

    /// Positions a sequence may fill: its prompt and all it may generate.
    private func positions(_ r: GenerationRequest) -> Int {
        min(r.prompt.count + max(r.params.maxTokens, 0), maxModelLength)
    }

    private func finish(_ s: EngineSequence, _ reason: FinishReason) {
        condition.lock()
        running.removeAll { $0 === s }
        runningCount = running.count
        condition.unlock()
        if reason != .cancelled, s.request.entersPrefixCache, let cache = s.cache {
            // Prompt and generated tokens whose keys and values are in the cache (the last
            // sampled token never ran, nor the last token of a prompt that generates nothing).
            let tokens = Array((s.prompt + s.output).prefix(cache.count))
            prefixCache.insert(tokens: tokens, cache: cache, logprobs: s.positionRecords,
                               next: tokens.count == s.prompt.count ? s.nextTokenLogprobs : nil, handOver: true)
        }
        s.cache = nil
        observer?.sequenceFinished(reason)
        s.handle.push(.finished(reason))
    }

    /// The prompt's positions are computed: its records go out, and a prompt that
    /// generates nothing is done.
    private func promptDone(_ s: EngineSequence) {
        if s.request.promptLogprobsFrom != nil { s.handle.push(.promptLogprobs(s.promptRecords)) }
        if s.request.params.maxTokens <= 0 { finish(s, .length) }
    }

    private func step() {
        for s in running where s.handle.isCancelled { finish(s, .cancelled) }
        // Admitted with every position it computes taken from the prefix cache.
        for s in running where !s.isPrefilling && s.request.params.maxTokens <= 0 { promptDone(s) }
        guard !running.isEmpty else { return }

        // Decode tokens first (one each), then prompt chunks in arrival order.
        var budget = options.maxBatchTokens
        var plan: [(seq: EngineSequence, chunk: SequenceChunk, start: Int)] = []
        for s in running where !s.isPrefilling {
            guard let token = s.pending else { continue }
            plan.append((s, SequenceChunk(cache: s.cache!, tokens: [token]), s.cache!.count))
            budget -= 1
        }
        for s in running where s.isPrefilling && budget > 0 {
            let n = min(s.prefillEnd - s.prefilled, budget)
            let start = s.prefilled
            let chunk = SequenceChunk(cache: s.cache!, tokens: Array(s.prompt[start..<(start + n)]),
                                      allLogits: s.needsPromptLogits(start: start, end: start + n))
            plan.append((s, chunk, start))
            budget -= n
        }
        guard !plan.isEmpty else { return }

        let logits: Logits
        do {
            logits = try model.forward(plan.map(\.chunk), logits: .last, reuse: logitsBuffer)
            logitsBuffer = logits.buffer
            if let fault = weightsFault?() { throw WeightsFault(message: fault) }
        } catch {
            for (s, _, _) in plan {
                condition.lock()
                running.removeAll { $0 === s }
                condition.unlock()
                s.handle.push(.failed("\(error)"))
            }
            return
        }

        var row = 0
        for (s, chunk, start) in plan {
            let rows = chunk.allLogits ? chunk.tokens.count : 1
            defer { row += rows }
            if s.isPrefilling {
                if chunk.allLogits { recordPromptLogprobs(s, logits: logits, firstRow: row, start: start, count: chunk.tokens.count) }
                s.prefilled += chunk.tokens.count
                if s.isPrefilling { continue }
                let generates = s.request.params.maxTokens > 0
                let sibling = hasWaitingSibling(of: s)
                if s.prefillEnd == s.prompt.count && (sibling || !generates) {
                    s.nextTokenLogprobs = Logprobs.logSoftmax(logits.row(row + rows - 1))
                }
                // A sibling waiting for this prompt gets its positions now (read from this
                // sequence's cache, which only appends past them); otherwise (and always for a
                // prompt that ends here) the cache is handed to the prefix cache when the
                // sequence finishes.
                if sibling && generates {
                    prefixCache.insert(tokens: s.prompt, cache: s.cache!, logprobs: s.positionRecords,
                                       next: s.nextTokenLogprobs)
                }
                promptDone(s)
                if !generates { continue }
            } else {
                s.pending = nil
            }
            emitNextToken(s, logits: logits.row(row + rows - 1))
        }
    }

    private struct WeightsFault: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Logits at prompt position p score prompt token p + 1.
    private func recordPromptLogprobs(_ s: EngineSequence, logits: Logits, firstRow: Int, start: Int, count: Int) {
        guard let from = s.request.promptLogprobsFrom else { return }
        for i in 0..<count {
            let target = start + i + 1
            guard target < s.prompt.count, target >= from else { continue }
            let record = Logprobs.entry(row: logits.row(firstRow + i), token: s.prompt[target], k: s.request.promptTopK)
            s.promptRecords.append(record)
            s.positionRecords[target] = record
        }
    }

    private func emitNextToken(_ s: EngineSequence, logits row: UnsafeBufferPointer<Float>) {
        let params = s.request.params
        let token = s.sampler.sample(row, prompt: s.prompt, output: s.output)
        var record: TokenLogprob?
        if let k = params.logprobs {
            record = Logprobs.entry(row: row, token: token, k: k)
        }
        s.output.append(token)
        let now = Date()
        observer?.tokenGenerated(interTokenSeconds: s.lastTokenTime.map { now.timeIntervalSince($0) },
                                 timeToFirstTokenSeconds: s.lastTokenTime == nil ? now.timeIntervalSince(s.arrival) : nil)
        s.lastTokenTime = now
        s.handle.push(.token(token, record))
        if (!params.ignoreEOS && eosTokenIds.contains(token)) || params.stopTokenIds.contains(token) {
            finish(s, .stop)
        } else if s.output.count >= params.maxTokens || s.prompt.count + s.output.count >= maxModelLength {
            finish(s, .length)
        } else {
            s.pending = token
        }
    }
}
