import Model

/// KV caches of recent prompts, so a prompt that shares a prefix with one seen before
/// (the endings of one HellaSwag item, a few-shot preamble) computes only what is new.
/// Prompt log-probs computed with the prompt are kept too, so echo requests can reuse it.
final class PrefixCache {
    struct Entry {
        let tokens: [Int]
        let cache: KVCache
        /// Per prompt position, the log-prob record when it was computed; one past `tokens` too
        /// for a prompt that stopped one short (its last record is valid for a prompt with
        /// the same token there, and reusing it spares computing that position again).
        let logprobs: [TokenLogprob?]
        /// Log-softmax over the vocabulary at the position after `tokens`, when kept: the
        /// record of whichever token a longer prompt has there.
        let next: [Float]?
        var lastUse: Int

        /// Bytes of the entry itself; its cache's storage is counted apart (`storageReaders`).
        var bytes: Int { (next?.count ?? 0) * MemoryLayout<Float>.stride }

        /// The record of `token` at position `j` with `topK` alternatives, if kept.
        func record(at j: Int, token: Int, topK: Int) -> TokenLogprob? {
            if j == tokens.count, let next { return Logprobs.entry(logprobs: next, token: token, k: topK) }
            guard j < logprobs.count, let r = logprobs[j], r.token == token, r.top.count >= max(topK, 1) else { return nil }
            return TokenLogprob(token: r.token, logprob: r.logprob, top: Array(r.top.prefix(max(topK, 1))))
        }
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
    /// Threads a hit's copies run on (`KVCache.sharingPrefix`): the model's, idle between steps.
    let copyThreads: Int
    private(set) var hits = 0
    private(set) var reusedTokens = 0

    init(maxBytes: Int, maxEntries: Int = 256, copyThreads: Int = 1) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
        self.copyThreads = copyThreads
    }

    /// Bytes the entries hold, kept up to date rather than summed: a scoring batch leaves
    /// thousands of entries, and every insert checks the budget. Entries share KV storage
    /// (the endings of one context read the context's), so each storage counts once, for as
    /// long as an entry reads it.
    private(set) var bytes = 0
    private var storageReaders: [ObjectIdentifier: Int] = [:]

    private func count(_ entry: Entry, _ sign: Int) {
        bytes += sign * entry.bytes
        for storage in entry.cache.storages {
            let id = storage.id, readers = storageReaders[id, default: 0] + sign
            if readers == 0 || (sign > 0 && readers == 1) { bytes += sign * storage.bytes }
            storageReaders[id] = readers == 0 ? nil : readers
        }
    }

    /// Keeps `cache`'s first `tokens.count` positions: read from the sequence's cache while it
    /// still runs (`KVCache.sharingPrefix`), or the cache itself (`handOver`) once it has
    /// finished. `next`: the log-softmax after the last of `tokens` (see `Entry.next`).
    func insert(tokens: [Int], cache: KVCache, logprobs: [TokenLogprob?], next: [Float]? = nil, handOver: Bool = false) {
        guard maxBytes > 0, tokens.count > 1, tokens.count <= cache.count else { return }
        clock += 1
        entries.removeAll { e in
            guard e.tokens == tokens else { return false }
            count(e, -1)
            return true
        }
        let kept: KVCache
        if handOver {
            cache.truncate(to: tokens.count)
            kept = cache
        } else {
            kept = cache.sharingPrefix(tokens.count, threads: copyThreads)
        }
        let entry = Entry(tokens: tokens, cache: kept, logprobs: logprobs, next: next, lastUse: clock)
        entries.append(entry)
        count(entry, 1)
        while bytes > maxBytes || entries.count > maxEntries, let oldest = entries.indices.min(by: { entries[$0].lastUse < entries[$1].lastUse }) {
            count(entries[oldest], -1)
            entries.remove(at: oldest)
        }
    }

    /// The best reusable prefix for `prompt`. The last prompt token is never taken: its
    /// logits start the generation (or, for a prompt that generates nothing, nothing needs it).
    /// The hit's cache reads the entry's positions (`KVCache.sharingPrefix`) and has room for
    /// `capacity` positions (the sequence's own).
    func lookup(_ prompt: [Int], logprobsFrom: Int?, topK: Int, capacity: Int = 0) -> Hit? {
        var best: (index: Int, reused: Int)?
        for (i, e) in entries.enumerated() {
            let common = Self.commonPrefix(e.tokens, prompt)
            var reused = min(common, prompt.count - 1)
            if let from = logprobsFrom {
                // Positions from `from` on need records; a record at position j is valid
                // while tokens 0..<j match (j <= common), and the record at `common` comes
                // from the entry's next-token log-probs when it kept them.
                var q = from
                while q <= common, q < prompt.count, e.record(at: q, token: prompt[q], topK: topK) != nil { q += 1 }
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
            records = (from...reused).map { j in e.record(at: j, token: prompt[j], topK: topK)! }
        }
        return Hit(cache: e.cache.sharingPrefix(reused, capacity: capacity, threads: copyThreads), reused: reused, logprobs: records)
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
