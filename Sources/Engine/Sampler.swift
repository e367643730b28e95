import Foundation
import Model

/// Picks the next token from a logits row: logit bias, penalties, then temperature, then
/// the top-k / top-p / min-p cuts, then a draw from the sequence's own seeded generator
/// (vLLM's order).
public struct Sampler: Sendable {
    public let params: SamplingParams
    private var rng: SplitMix64

    public init(params: SamplingParams, fallbackSeed: UInt64) {
        self.params = params
        rng = SplitMix64(seed: params.seed ?? fallbackSeed)
    }

    /// `prompt` and `output` are the tokens seen so far (for the penalties).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, prompt: [Int], output: [Int]) -> Int {
        var x = Array(logits)
        for (token, bias) in params.logitBias where token < x.count { x[token] += bias }
        applyPenalties(&x, prompt: prompt, output: output)
        if params.isGreedy { return x.withUnsafeBufferPointer { argmax($0) } }

        let t = params.temperature
        let maxLogit = x.max() ?? 0
        // Tokens more than 30·T below the best have probability < e⁻³⁰ ≈ 1e-13 of it: all of
        // them together weigh less than 1e-8 even for 100k vocabularies, so they are left out.
        let floor = maxLogit - 30 * t
        var candidates: [(token: Int, p: Double)] = []
        for (i, v) in x.enumerated() where v >= floor { candidates.append((i, Double(expf((v - maxLogit) / t)))) }
        // Only top-k and top-p need the candidates in order (best first; ties: lower id);
        // plain and min-p sampling draw from them as they are.
        if (params.topK > 0 && params.topK < candidates.count) || params.topP < 1 {
            candidates.sort { $0.p != $1.p ? $0.p > $1.p : $0.token < $1.token }
        }
        if params.topK > 0 && params.topK < candidates.count { candidates.removeSubrange(params.topK...) }
        var total = candidates.reduce(0) { $0 + $1.p }
        if params.topP < 1 {
            var kept = 0, mass = 0.0
            for c in candidates {
                kept += 1
                mass += c.p
                if mass >= Double(params.topP) * total { break }
            }
            candidates.removeSubrange(kept...)
            total = candidates.reduce(0) { $0 + $1.p }
        }
        if params.minP > 0 {
            // The best candidate has p = 1 (its logit is the maximum).
            candidates.removeAll { $0.p < Double(params.minP) }
            total = candidates.reduce(0) { $0 + $1.p }
        }
        var r = Double(rng.next() >> 11) / Double(1 << 53) * total
        for c in candidates {
            r -= c.p
            if r < 0 { return c.token }
        }
        return candidates.last!.token
    }

    private func applyPenalties(_ x: inout [Float], prompt: [Int], output: [Int]) {
        if params.repetitionPenalty != 1 {
            for token in Set(prompt).union(output) where token < x.count {
                x[token] = x[token] > 0 ? x[token] / params.repetitionPenalty : x[token] * params.repetitionPenalty
            }
        }
        if params.frequencyPenalty != 0 || params.presencePenalty != 0 {
            var counts: [Int: Int] = [:]
            for token in output { counts[token, default: 0] += 1 }
            for (token, n) in counts where token < x.count {
                x[token] -= params.frequencyPenalty * Float(n) + params.presencePenalty
            }
        }
    }
}
