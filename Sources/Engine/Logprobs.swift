import Foundation
import PolyKernels

/// The log-probability of one chosen token and the top alternatives at its position.
public struct TokenLogprob: Sendable, Equatable {
    public let token: Int
    public let logprob: Float
    /// The `k` most likely tokens, best first (ties: lower id first).
    public let top: [(token: Int, logprob: Float)]
    /// The chosen token was the most likely one.
    public var isGreedy: Bool { top.first.map { $0.token == token } ?? false }

    public static func == (a: TokenLogprob, b: TokenLogprob) -> Bool {
        a.token == b.token && a.logprob == b.logprob && a.top.elementsEqual(b.top, by: { $0 == $1 })
    }
}

/// Log-softmax of logits rows and the top-k extraction on them.
public enum Logprobs {
    /// log_softmax(row) into a new array.
    public static func logSoftmax(_ row: UnsafeBufferPointer<Float>) -> [Float] {
        var out = Array(row)
        out.withUnsafeMutableBufferPointer { pk_log_softmax($0.baseAddress!, $0.count) }
        return out
    }

    /// Chosen token's log-prob plus the `k` best (at least 1, to know the greedy token).
    /// The chosen token's entry in `top`, when there, is the same float as `logprob`.
    public static func entry(logprobs: [Float], token: Int, k: Int) -> TokenLogprob {
        TokenLogprob(token: token, logprob: logprobs[token], top: top(logprobs, k: max(k, 1)))
    }

    static func top(_ values: [Float], k: Int) -> [(token: Int, logprob: Float)] {
        var best: [(token: Int, logprob: Float)] = []
        best.reserveCapacity(k + 1)
        for (i, v) in values.enumerated() {
            if best.count == k, let last = best.last, !(v > last.logprob) { continue }
            var pos = best.count
            while pos > 0 && v > best[pos - 1].logprob { pos -= 1 }
            best.insert((i, v), at: pos)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
