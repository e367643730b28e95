import JSON

/// One entry of tokenizer.json `added_tokens`.
struct AddedToken {
    var id: Int32
    let content: [UInt32]
    let special: Bool
    let normalized: Bool
    let lstrip: Bool
    let rstrip: Bool
    let singleWord: Bool

    init(id: Int32, content: [UInt32], special: Bool, normalized: Bool,
         lstrip: Bool = false, rstrip: Bool = false, singleWord: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.normalized = normalized
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.singleWord = singleWord
    }

    init(_ json: JSONObject) throws {
        let component = "added_tokens entry"
        let rawId = try json.int("id", in: component)
        guard rawId >= 0 && rawId < BPEModel.maxId else { throw TokenizerError.invalidValue("added token id \(rawId)") }
        id = Int32(rawId)
        content = try json.string("content", in: component).scalarValues
        if content.isEmpty { throw TokenizerError.invalidValue("added token \(rawId) has empty content") }
        special = json.bool("special", default: false)
        // HF's default: special tokens are matched on raw text, others after normalization.
        normalized = json.bool("normalized", default: !special)
        lstrip = json.bool("lstrip", default: false)
        rstrip = json.bool("rstrip", default: false)
        singleWord = json.bool("single_word", default: false)
    }
}

/// Splits text on added tokens the way HF's AddedVocabulary does: leftmost-longest matching,
/// done twice — on the raw input for `normalized: false` tokens, then on each normalized
/// segment for `normalized: true` tokens (whose patterns are themselves normalized).
struct AddedTokenMatcher {
    /// Candidates sharing a first scalar, longest first, so the first hit is the longest.
    private struct Group {
        var candidates: [(pattern: [UInt32], token: Int)] = []
        /// Second scalars of the candidates; lets most positions be rejected in one compare
        /// (OLMo's space-run tokens would otherwise be tried at every space).
        var seconds: [UInt32] = []
        var hasSingleScalar = false
    }
    private var groups: [Group] = []
    /// Group index by first scalar (-1 = none) for the BMP; a dictionary above it.
    private var bmpGroup = [Int32](repeating: -1, count: 0x10000)
    private var astralGroup: [UInt32: Int32] = [:]
    private let tokens: [AddedToken]

    init(tokens: [AddedToken], patterns: [(pattern: [UInt32], token: Int)]) {
        self.tokens = tokens
        for p in patterns where !p.pattern.isEmpty {
            let first = p.pattern[0]
            var index = first < 0x10000 ? Int(bmpGroup[Int(first)]) : Int(astralGroup[first] ?? -1)
            if index < 0 {
                index = groups.count
                groups.append(Group())
                if first < 0x10000 { bmpGroup[Int(first)] = Int32(index) } else { astralGroup[first] = Int32(index) }
            }
            groups[index].candidates.append(p)
            if p.pattern.count == 1 {
                groups[index].hasSingleScalar = true
            } else if !groups[index].seconds.contains(p.pattern[1]) {
                groups[index].seconds.append(p.pattern[1])
            }
        }
        for i in groups.indices {
            groups[i].candidates.sort { $0.pattern.count > $1.pattern.count }
        }
    }

    var isEmpty: Bool { groups.isEmpty }

    @inline(__always)
    private func group(_ v: UInt32) -> Int {
        v < 0x10000 ? Int(bmpGroup[Int(v)]) : Int(astralGroup[v] ?? -1)
    }

    /// Covers `s` with (range, added-token id or nil) segments, in order. Empty input gives [].
    func split(_ s: [UInt32]) -> [(Range<Int>, Int32?)] {
        let n = s.count
        if n == 0 { return [] }
        if groups.isEmpty { return [(0..<n, nil)] }
        var out: [(Range<Int>, Int32?)] = []
        var startOffset = 0
        var i = 0
        while i < n {
            let g = group(s[i])
            if g < 0 { i += 1; continue }
            let entry = groups[g]
            if !entry.hasSingleScalar && (i + 1 >= n || !entry.seconds.contains(s[i + 1])) { i += 1; continue }
            guard let hit = entry.candidates.first(where: { i + $0.pattern.count <= n && s[i..<(i + $0.pattern.count)].elementsEqual($0.pattern) })
            else { i += 1; continue }
            let token = tokens[hit.token]
            var start = i, stop = i + hit.pattern.count
            i = stop  // the automaton resumes after the match itself, even when rstrip extends it
            if token.singleWord {
                let startSpace = start == 0 || !isWordScalar(s[start - 1])
                let stopSpace = stop == n || !isWordScalar(s[stop])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var newStart = start
                while newStart > 0 && isWhiteSpace(s[newStart - 1]) { newStart -= 1 }
                start = max(newStart, startOffset)
            }
            if token.rstrip {
                while stop < n && isWhiteSpace(s[stop]) { stop += 1 }
            }
            if startOffset < start { out.append((startOffset..<start, nil)) }
            out.append((start..<stop, token.id))
            startOffset = stop
        }
        if startOffset < n { out.append((startOffset..<n, nil)) }
        return out
    }
}

/// Rust regex `\w` (Unicode): alphabetic, marks, decimal digits, connector punctuation, join controls.
func isWordScalar(_ v: UInt32) -> Bool {
    if v < 0x80 {
        return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
    }
    guard let scalar = Unicode.Scalar(v) else { return false }
    let p = scalar.properties
    if p.isAlphabetic || p.isJoinControl { return true }
    switch p.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
    default: return false
    }
}
