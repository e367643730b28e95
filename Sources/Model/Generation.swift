import Foundation
import Kernels

/// First index of the largest value (ties → lowest index, as torch.argmax).
public func argmax(_ values: UnsafeBufferPointer<Float>) -> Int {
    var best = 0
    for i in 1..<values.count where values[i] > values[best] { best = i }
    return best
}

/// A small, fast, seedable generator (Steele et al.); the same seed gives the same stream.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension DecoderModel {
    /// Continues `prompt` through the KV cache: one prefill pass, then one pass per token.
    /// `pick` chooses each token from its logits (greedy: `argmax`). Stops after
    /// `maxTokens` or at an id of `eosTokenIds` (default: the config's; see `stopTokenIds`),
    /// unless `ignoreEOS`.
    public func generate(prompt: [Int], maxTokens: Int, ignoreEOS: Bool = false, eosTokenIds: Set<Int>? = nil,
                         pick: (UnsafeBufferPointer<Float>) -> Int = argmax,
                         onToken: (Int) -> Void = { _ in }) throws -> [Int] {
        guard maxTokens > 0 else { return [] }
        let eos = eosTokenIds ?? Set(config.eosTokenIds)
        let cache = makeCache(capacity: prompt.count + maxTokens)
        var logits = try forward([SequenceChunk(cache: cache, tokens: prompt)], logits: .last)
        var out: [Int] = []
        while true {
            let token = pick(logits.row(0))
            out.append(token)
            onToken(token)
            if out.count >= maxTokens || (!ignoreEOS && eos.contains(token)) { break }
            logits = try forward([SequenceChunk(cache: cache, tokens: [token])], logits: .last)
        }
        return out
    }
}
