import Model

/// KV caches of recent prompts, so a prompt that shares a prefix with one seen before
/// (the endings of one HellaSwag item, a few-shot preamble) computes only what is new.
/// Prompt log-probs computed with the prompt are kept too, so echo requests can reuse it.
final class PrefixCache {
    struct Entry {
        let tokens: [Int]
        let cache: KVCache
        /// Per prompt position, the log-prob record when it was computed.
        let logprobs: [TokenLogprob?]
        var lastUse: Int
    }

    struct Hit {
        let cache: KVCache
        /// Positions taken from the cache (the new sequence computes from here).
        let reused: Int
        /// Prompt log-prob records for positions [from, reused] taken from the cache.
        let logprobs: [TokenLogprob]
    }

    private var entries: [Entry] = []
    private var clock = 0
    let maxBytes: Int
    /// Entries kept at most: lookups and inserts scan them all, and a scoring batch of
    /// tiny pairs would otherwise leave tens of thousands of them within the byte budget.
    let maxEntries: Int
    private(set) var hits = 0
    private(set) var reusedTokens = 0

    init(maxBytes: Int, maxEntries: Int = 256) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
    }

    /// Bytes the entries hold, kept up to date rather than summed: a scoring batch leaves
    /// thousands of entries, and every insert checks the budget.
    private(set) var bytes = 0

    /// Keeps `cache`'s first `tokens.count` positions: a copy while the sequence still runs,
    /// or the cache itself (`handOver`) once it has finished.
    func insert(tokens: [Int], cache: KVCache, logprobs: [TokenLogprob?], handOver: Bool = false) {
        guard maxBytes > 0, tokens.count > 1, tokens.count <= cache.count else { return }
        clock += 1
        entries.removeAll { e in
            guard e.tokens == tokens else { return false }
            bytes -= e.cache.bytes
            return true
        }
        let kept: KVCache
        if handOver {
            cache.truncate(to: tokens.count)
            kept = cache
        } else {
            kept = cache.copyPrefix(tokens.count)
        }
        entries.append(Entry(tokens: tokens, cache: kept, logprobs: logprobs, lastUse: clock))
        bytes += kept.bytes
        while bytes > maxBytes || entries.count > maxEntries, let oldest = entries.indices.min(by: { entries[$0].lastUse < entries[$1].lastUse }) {
            bytes -= entries[oldest].cache.bytes
            entries.remove(at: oldest)
        }
    }

    /// The best reusable prefix for `prompt`. At least the last prompt token is always
    /// recomputed: its logits start the generation.
    func lookup(_ prompt: [Int], logprobsFrom: Int?, topK: Int) -> Hit? {
        var best: (index: Int, reused: Int)?
        for (i, e) in entries.enumerated() {
            let common = Self.commonPrefix(e.tokens, prompt)
            var reused = min(common, prompt.count - 1)
            if let from = logprobsFrom {
                // Positions from `from` on need records; a record at position j is valid
                // while tokens 0...j match, which holds for j < common.
                var q = from
                while q < min(common, e.logprobs.count), let r = e.logprobs[q], r.top.count >= max(topK, 1) { q += 1 }
                reused = min(reused, q - 1)
            }
            if reused > 0 && reused > (best?.reused ?? 0) { best = (i, reused) }
        }
        guard let (index, reused) = best else { return nil }
        clock += 1
        entries[index].lastUse = clock
        hits += 1
        reusedTokens += reused
        let e = entries[index]
        var records: [TokenLogprob] = []
        if let from = logprobsFrom, from <= reused {
            records = (from...reused).map { j in
                let r = e.logprobs[j]!
                return TokenLogprob(token: r.token, logprob: r.logprob, top: Array(r.top.prefix(max(topK, 1))))
            }
        }
        return Hit(cache: e.cache.copyPrefix(reused), reused: reused, logprobs: records)
    }

    /// Length of the longest common prefix of two token lists.
    /// An index loop: `lookup` runs it against every entry for every admitted sequence.
    static func commonPrefix(_ a: [Int], _ b: [Int]) -> Int {
        let n = min(a.count, b.count)
        var i = 0
        while i < n && a[i] == b[i] { i += 1 }
        return i
    }

    /// `prompt` would take most of itself from `other`'s cache entry: worth waiting for
    /// `other`'s prefill rather than computing the same positions alongside it.
    static func worthWaiting(_ prompt: [Int], for other: [Int]) -> Bool {
        commonPrefix(prompt, other) >= max(8, prompt.count / 2)
    }
}
