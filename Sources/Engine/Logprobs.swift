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
    /// The copy is one memcpy: `Array(row)` copies element by element in a debug build,
    /// which for a 32k-entry row per scored position costs more than the softmax.
    public static func logSoftmax(_ row: UnsafeBufferPointer<Float>) -> [Float] {
        Array(unsafeUninitializedCapacity: row.count) { out, initialized in
            if let source = row.baseAddress, let target = out.baseAddress {
                target.initialize(from: source, count: row.count)
                pk_log_softmax(target, row.count)
            }
            initialized = row.count
        }
    }

    /// Chosen token's log-prob plus the `k` best (at least 1, to know the greedy token).
    /// The chosen token's entry in `top`, when there, is the same float as `logprob`.
    public static func entry(logprobs: [Float], token: Int, k: Int) -> TokenLogprob {
        TokenLogprob(token: token, logprob: logprobs[token], top: top(logprobs, k: max(k, 1)))
    }

    /// One pass over the row, comparing each value with a local floor: this runs over the
    /// whole vocabulary for every scored position, and array accesses in the hot loop
    /// (or a generic `enumerated()`) cost ~3 ms per 32k-entry row in a debug build.
    static func top(_ values: [Float], k: Int) -> [(token: Int, logprob: Float)] {
        var best: [(token: Int, logprob: Float)] = []
        best.reserveCapacity(k + 1)
        values.withUnsafeBufferPointer { v in
            var floor = -Float.infinity, full = false
            for i in 0..<v.count {
                let x = v[i]
                if full && !(x > floor) { continue }
                var pos = best.count
                while pos > 0 && x > best[pos - 1].logprob { pos -= 1 }
                best.insert((i, x), at: pos)
                if best.count > k { best.removeLast() }
                full = best.count == k
                if full { floor = best[k - 1].logprob }
            }
        }
        return best
    }
}
