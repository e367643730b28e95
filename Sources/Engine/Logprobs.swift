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
        guard let source = row.baseAddress, row.count > 0 else { return [] }
        // memcpy, not Array(row): unspecialised in debug builds, that copy costs as much
        // as the softmax.
        return [Float](unsafeUninitializedCapacity: row.count) { out, n in
            memcpy(out.baseAddress!, source, row.count * MemoryLayout<Float>.stride)
            pk_log_softmax(out.baseAddress!, row.count)
            n = row.count
        }
    }

    /// `entry(logprobs: logSoftmax(row), token:, k:)`, the same floats; for k = 1 (scoring)
    /// without building the log-softmaxed row, which nothing else reads.
    public static func entry(row: UnsafeBufferPointer<Float>, token: Int, k: Int) -> TokenLogprob {
        guard k <= 1, let x = row.baseAddress, token >= 0, token < row.count else {
            return entry(logprobs: logSoftmax(row), token: token, k: k)
        }
        var logprob: Float = 0, best = 0, bestLogprob: Float = 0
        pk_log_softmax_top1(x, row.count, token, &logprob, &best, &bestLogprob)
        return TokenLogprob(token: token, logprob: logprob, top: [(best, bestLogprob)])
    }

    /// Chosen token's log-prob plus the `k` best (at least 1, to know the greedy token).
    /// The chosen token's entry in `top`, when there, is the same float as `logprob`.
    public static func entry(logprobs: [Float], token: Int, k: Int) -> TokenLogprob {
        TokenLogprob(token: token, logprob: logprobs[token], top: top(logprobs, k: max(k, 1)))
    }

    /// Through a raw buffer and with a plain argmax for k = 1: this runs over the whole
    /// vocabulary for every scored token, and debug builds (the tests) are slow otherwise.
    static func top(_ values: [Float], k: Int) -> [(token: Int, logprob: Float)] {
        values.withUnsafeBufferPointer { v in
            guard v.count > 0 else { return [] }
            if k == 1 {
                var best = 0, bestValue = v[0]
                for i in 1..<v.count where v[i] > bestValue {
                    best = i
                    bestValue = v[i]
                }
                return [(best, bestValue)]
            }
            var best: [(token: Int, logprob: Float)] = []
            best.reserveCapacity(k + 1)
            for i in 0..<v.count {
                let x = v[i]
                if best.count == k, !(x > best[k - 1].logprob) { continue }
                var pos = best.count
                while pos > 0 && x > best[pos - 1].logprob { pos -= 1 }
                best.insert((i, x), at: pos)
                if best.count > k { best.removeLast() }
            }
            return best
        }
    }
}
