import Foundation
import JSON

/// One token produced by the model, with its original char-offset range.
struct RawToken {
    var id: Int32
    var start: Int32
    var end: Int32
    /// For added tokens: leading / trailing white space of the matched text (which includes
    /// what lstrip / rstrip swallowed). HF's ByteLevel offset trimming looks at that text, not
    /// at the token's content. -1 for model tokens, whose vocabulary string is the text.
    var leadingSpaces: Int16 = -1
    var trailingSpaces: Int16 = -1
}

/// HF `BPE` model. Merging follows HF's `Word::merge_all` exactly (min-heap on (rank, position),
/// stale entries detected by comparing the merged id), because a different but "equivalent"
/// merge order can yield different ids.
final class BPEModel: @unchecked Sendable {
    let tokenToIdMap: [[UInt32]: Int32]
    let idToTokenMap: [Int32: [UInt32]]
    private let smallCharIds: [Int32]          // single-scalar tokens in the BMP, -1 = none
    private let charIds: [UInt32: Int32]       // single-scalar tokens above the BMP
    private let merges: MergeTable
    private let byteFallbackIds: [Int32]?      // "<0xAB>" ids when byte_fallback and all 256 exist
    private let byteFallback: Bool
    private let unkId: Int32?
    private let fuseUnk: Bool
    private let ignoreMerges: Bool
    private let prefix: [UInt32]?
    private let suffix: [UInt32]?
    private let cache = WordCache()
    /// Scalar bigrams occurring inside some vocabulary token; nil when words must not be cut.
    private let innerBigrams: MergeTable?
    /// Words at least this long are cut at boundaries no token can span (see `tokenize`).
    private static let splitThreshold = 24
    /// Largest id accepted (16M; real vocabularies stay below 300k).
    static let maxId = 1 << 24

    init(_ json: JSONObject) throws {
        let vocabObject = try json.object("vocab", in: "BPE model")
        var vocab: [[UInt32]: Int32] = [:]
        vocab.reserveCapacity(vocabObject.count)
        var reverse: [Int32: [UInt32]] = [:]
        reverse.reserveCapacity(vocabObject.count)
        for (token, value) in vocabObject.entries {
            // Ids index dense tables (vocabSize entries), so absurd ids are refused.
            guard let id = value.intValue, id >= 0, id < BPEModel.maxId else {
                throw TokenizerError.invalidValue("BPE vocab entry '\(token)' has no valid id")
            }
            let key = token.scalarValues
            vocab[key] = Int32(id)
            reverse[Int32(id)] = key
        }
        tokenToIdMap = vocab
        idToTokenMap = reverse

        var small = [Int32](repeating: -1, count: 0x10000)
        var chars: [UInt32: Int32] = [:]
        for (key, id) in vocab where key.count == 1 {
            if key[0] < 0x10000 { small[Int(key[0])] = id } else { chars[key[0]] = id }
        }
        smallCharIds = small
        charIds = chars

        prefix = json["continuing_subword_prefix"]?.stringValue.map(\.scalarValues).flatMap { $0.isEmpty ? nil : $0 }
        suffix = json["end_of_word_suffix"]?.stringValue.map(\.scalarValues).flatMap { $0.isEmpty ? nil : $0 }
        byteFallback = json.bool("byte_fallback", default: false)
        fuseUnk = json.bool("fuse_unk", default: false)
        ignoreMerges = json.bool("ignore_merges", default: false)
        // Dropout makes encoding random (a training-time option); 0 is the same as none.
        let dropout = json["dropout"]?.doubleValue
        if let dropout, dropout != 0 {
            throw TokenizerError.unsupported(component: "BPE option", type: "dropout")
        }
        // HF loads an unk_token missing from the model vocabulary and only fails when an
        // unknown character shows up; encoding cannot fail here, so such characters are
        // dropped, as they are when there is no unk_token at all.
        unkId = json["unk_token"]?.stringValue.flatMap { vocab[$0.scalarValues] }
        if byteFallback {
            var ids = [Int32](repeating: -1, count: 256)
            for b in 0..<256 {
                ids[b] = vocab[String(format: "<0x%02X>", b).scalarValues] ?? -1
            }
            byteFallbackIds = ids
        } else {
            byteFallbackIds = nil
        }

        let mergeList = try json.array("merges", in: "BPE model")
        var table = MergeTable(capacity: mergeList.count)
        let prefixLength = prefix?.count ?? 0
        for (rank, entry) in mergeList.enumerated() {
            let a: [UInt32], b: [UInt32]
            if let line = entry.stringValue {
                let scalars = line.scalarValues
                guard let space = scalars.firstIndex(of: 0x20), !scalars[(space + 1)...].contains(0x20) else {
                    throw TokenizerError.invalidValue("BPE merge '\(line)' is not two space-separated tokens")
                }
                a = Array(scalars[..<space]); b = Array(scalars[(space + 1)...])
            } else if let pair = entry.arrayValue, pair.count == 2, let l = pair[0].stringValue, let r = pair[1].stringValue {
                a = l.scalarValues; b = r.scalarValues
            } else {
                throw TokenizerError.invalidValue("BPE merge #\(rank) is neither \"a b\" nor [\"a\", \"b\"]")
            }
            let mergedToken = a + b.dropFirst(min(prefixLength, b.count))
            guard let aId = vocab[a], let bId = vocab[b], let mergedId = vocab[mergedToken] else {
                throw TokenizerError.invalidValue("BPE merge #\(rank) uses a token missing from the vocabulary")
            }
            table.insert(left: aId, right: bId, rank: Int32(rank), merged: mergedId)
        }
        merges = table

        // Cutting a word where no vocabulary token contains the two scalars on either side is
        // exact: every symbol BPE can build is a vocabulary token, so none spans the cut, and
        // merges on either side never interact (HF's heap order only interleaves them). This
        // turns a SentencePiece-style text, which has no pre-tokenizer and is one long "word",
        // into cacheable pieces. Not done where the word as a whole matters (ignore_merges,
        // subword prefix/suffix) or where unknown characters would fuse across the cut.
        let fusesUnknowns = fuseUnk && unkId != nil && !(byteFallbackIds?.allSatisfy { $0 >= 0 } ?? false)
        if ignoreMerges || prefix != nil || suffix != nil || fusesUnknowns {
            innerBigrams = nil
        } else {
            var bigrams = MergeTable(capacity: 1 << 16)
            var seen = Set<UInt64>()
            for key in vocab.keys where key.count > 1 {
                for i in 1..<key.count {
                    let pair = UInt64(key[i - 1]) << 32 | UInt64(key[i])
                    if seen.insert(pair).inserted {
                        bigrams.insert(left: Int32(bitPattern: key[i - 1]), right: Int32(bitPattern: key[i]), rank: 0, merged: 0)
                    }
                }
            }
            innerBigrams = bigrams
        }
    }

    /// Tokenizes one pre-token, appending ids with original offsets.
    func tokenize(_ piece: NormalizedText, into tokens: inout [RawToken]) {
        let word = piece.scalars
        if word.isEmpty { return }
        guard word.count >= Self.splitThreshold, let bigrams = innerBigrams else {
            tokenize(piece, 0..<word.count, word: word, into: &tokens)
            return
        }
        var start = 0
        var scratch: [UInt32] = []  // one buffer for all pieces: cache hits then allocate nothing
        scratch.reserveCapacity(64)
        for i in 1..<word.count {
            let left = word[i - 1], right = word[i]
            // Both sides must be plain vocabulary characters: byte-fallback and unk symbols do
            // not spell their text, so the bigram test says nothing about them.
            if bigrams.lookup(Int32(bitPattern: left), Int32(bitPattern: right)) == nil && charId(left) >= 0 && charId(right) >= 0 {
                scratch.removeAll(keepingCapacity: true)
                scratch.append(contentsOf: word[start..<i])
                tokenize(piece, start..<i, word: scratch, into: &tokens)
                start = i
            }
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: word[start...])
        tokenize(piece, start..<word.count, word: scratch, into: &tokens)
    }

    /// Tokenizes `word` (= `piece.scalars[range]`) through the word cache.
    private func tokenize(_ piece: NormalizedText, _ range: Range<Int>, word: [UInt32], into tokens: inout [RawToken]) {
        let base = range.lowerBound
        let cacheable = word.count < WordCache.maxWordLength
        if cacheable, let packed = cache.get(word) {
            for p in packed {
                let start = base + Int(UInt16(truncatingIfNeeded: p >> 16)), end = base + Int(UInt16(truncatingIfNeeded: p))
                tokens.append(RawToken(id: Int32(truncatingIfNeeded: p >> 32), start: piece.align[start].start, end: piece.align[end - 1].end))
            }
            return
        }
        let symbols = mergeWord(word)
        var packed: [UInt64] = []
        if cacheable { packed.reserveCapacity(symbols.count) }
        for s in symbols {
            if cacheable { packed.append(UInt64(UInt32(bitPattern: s.id)) << 32 | UInt64(UInt16(s.start)) << 16 | UInt64(UInt16(s.end))) }
            tokens.append(RawToken(id: s.id, start: piece.align[base + Int(s.start)].start, end: piece.align[base + Int(s.end) - 1].end))
        }
        if cacheable { cache.set(word, packed) }
    }

    private struct Symbol {
        var id: Int32
        var prev: Int32
        var next: Int32
        var start: Int32   // scalar range within the word; start == -1 marks a merged-away symbol
        var end: Int32
    }

    @inline(__always)
    private func charId(_ v: UInt32) -> Int32 {
        v < 0x10000 ? smallCharIds[Int(v)] : (charIds[v] ?? -1)
    }

    private func lookupPiece(_ v: UInt32, isFirst: Bool, isLast: Bool) -> Int32 {
        if prefix == nil && suffix == nil { return charId(v) }
        var key: [UInt32] = []
        if !isFirst, let p = prefix { key += p }
        key.append(v)
        if isLast, let s = suffix { key += s }
        return key.count == 1 ? charId(v) : (tokenToIdMap[key] ?? -1)
    }

    /// HF `BPE::merge_word` + `Word::merge_all`.
    private func mergeWord(_ word: [UInt32]) -> [Symbol] {
        if ignoreMerges, let id = tokenToIdMap[word] {
            return [Symbol(id: id, prev: -1, next: -1, start: 0, end: Int32(word.count))]
        }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(word.count)
        func add(_ id: Int32, _ start: Int, _ end: Int) {
            let index = Int32(symbols.count)
            symbols.append(Symbol(id: id, prev: index - 1, next: index + 1, start: Int32(start), end: Int32(end)))
        }
        var pendingUnk: (start: Int, end: Int)? = nil
        var bytes: [UInt8] = []
        for (i, v) in word.enumerated() {
            let id = lookupPiece(v, isFirst: i == 0, isLast: i == word.count - 1)
            if id >= 0 {
                if let u = pendingUnk, let unk = unkId { add(unk, u.start, u.end); pendingUnk = nil }
                add(id, i, i + 1)
                continue
            }
            if let fallback = byteFallbackIds {
                // HF encodes the piece including any subword prefix/suffix it looked up.
                bytes.removeAll(keepingCapacity: true)
                if i != 0, let p = prefix { p.forEach { appendUTF8($0, to: &bytes) } }
                appendUTF8(v, to: &bytes)
                if i == word.count - 1, let s = suffix { s.forEach { appendUTF8($0, to: &bytes) } }
                if bytes.allSatisfy({ fallback[Int($0)] >= 0 }) {
                    for b in bytes { add(fallback[Int(b)], i, i + 1) }
                    continue
                }
            }
            guard let unk = unkId else { continue }  // HF drops characters it cannot represent
            if let u = pendingUnk {
                if fuseUnk {
                    pendingUnk = (u.start, i + 1)
                } else {
                    add(unk, u.start, u.end)
                    pendingUnk = (i, i + 1)
                }
            } else {
                pendingUnk = (i, i + 1)
            }
        }
        if let u = pendingUnk, let unk = unkId { add(unk, u.start, u.end) }
        if symbols.isEmpty { return [] }
        symbols[symbols.count - 1].next = -1

        var heap = MergeHeap()
        for i in 0..<(symbols.count - 1) {
            if let m = merges.lookup(symbols[i].id, symbols[i + 1].id) {
                heap.push(rank: m.rank, pos: Int32(i), merged: m.merged)
            }
        }
        while let top = heap.pop() {
            let pos = Int(top.pos)
            if symbols[pos].start < 0 { continue }
            let nextIndex = symbols[pos].next
            if nextIndex < 0 { continue }
            let right = symbols[Int(nextIndex)]
            // Stale entry check, as HF does it: the pair now at `pos` must merge to the same id.
            guard let current = merges.lookup(symbols[pos].id, right.id), current.merged == top.merged else { continue }
            symbols[pos].id = top.merged
            symbols[pos].end = right.end
            symbols[pos].next = right.next
            symbols[Int(nextIndex)].start = -1
            if right.next >= 0 { symbols[Int(right.next)].prev = Int32(pos) }
            let prev = symbols[pos].prev
            if prev >= 0, let m = merges.lookup(symbols[Int(prev)].id, top.merged) {
                heap.push(rank: m.rank, pos: prev, merged: m.merged)
            }
            let next = symbols[pos].next
            if next >= 0, let m = merges.lookup(top.merged, symbols[Int(next)].id) {
                heap.push(rank: m.rank, pos: Int32(pos), merged: m.merged)
            }
        }
        return symbols.filter { $0.start >= 0 }
    }
}
