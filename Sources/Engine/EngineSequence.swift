import Foundation
import Model

/// The engine's state for one sequence (owned by the engine thread).
final class EngineSequence {
    let handle: SequenceHandle
    let request: GenerationRequest
    /// Counted against `EngineOptions.maxQueue` while it waits.
    let countsAgainstQueue: Bool
    var sampler: Sampler
    var cache: KVCache?
    /// Prompt tokens already in the cache.
    var prefilled = 0
    var output: [Int] = []
    /// Sampled but not yet run through the model.
    var pending: Int?
    var promptRecords: [TokenLogprob] = []
    /// Per prompt position, kept for the prefix cache.
    var positionRecords: [TokenLogprob?]
    let arrival: Date
    var lastTokenTime: Date?

    init(handle: SequenceHandle, request: GenerationRequest, fallbackSeed: UInt64, countsAgainstQueue: Bool = true) {
        self.handle = handle
        self.request = request
        self.countsAgainstQueue = countsAgainstQueue
        sampler = Sampler(params: request.params, fallbackSeed: fallbackSeed)
        positionRecords = Array(repeating: nil, count: request.prompt.count)
        arrival = Date()
    }

    var prompt: [Int] { request.prompt }
    /// Prompt positions to compute: all of them, or all but the last for a prompt that
    /// generates nothing (see `GenerationRequest.keepsNextTokenLogprobs`).
    var prefillEnd: Int {
        request.params.maxTokens <= 0 && !request.keepsNextTokenLogprobs ? prompt.count - 1 : prompt.count
    }
    var isPrefilling: Bool { prefilled < prefillEnd }
    /// Log-softmax of the logits after the whole prompt, when they were computed and a
    /// prefix-cache entry of exactly the prompt will keep them.
    var nextTokenLogprobs: [Float]?

    /// Does a chunk covering prompt positions [start, end) need all its logits?
    func needsPromptLogits(start: Int, end: Int) -> Bool {
        guard let from = request.promptLogprobsFrom else { return false }
        // Logits at position p give the record of token p + 1.
        return end >= from && start + 1 < prompt.count
    }
}
