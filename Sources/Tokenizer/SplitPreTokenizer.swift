import JSON

/// HF `SplitDelimiterBehavior`: what happens to the matched delimiter.
enum SplitBehavior: String {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// HF `Split` with a literal pattern, or with the GPT-2 regex (recognised verbatim and run
/// through the hand-written splitter). Any other regex is rejected at load time.
struct SplitPreTokenizer: PreTokenizer {
    enum Pattern { case literal([UInt32]), gpt2 }
    let pattern: Pattern
    let behavior: SplitBehavior
    let invert: Bool

    init(_ json: JSONObject) throws {
        let p = try json.object("pattern", in: "Split")
        if let literal = p["String"]?.stringValue {
            let scalars = literal.scalarValues
            if scalars.isEmpty { throw TokenizerError.invalidValue("Split with an empty pattern") }
            pattern = .literal(scalars)
        } else if let regex = p["Regex"]?.stringValue {
            guard regex == ByteLevel.gpt2Pattern else {
                throw TokenizerError.unsupported(component: "Split pattern", type: "Regex \(regex)")
            }
            pattern = .gpt2
        } else {
            throw TokenizerError.missingField(field: "pattern.String", component: "Split")
        }
        let behaviorName = try json.string("behavior", in: "Split")
        guard let b = SplitBehavior(rawValue: behaviorName) else {
            throw TokenizerError.unsupported(component: "Split behavior", type: behaviorName)
        }
        behavior = b
        invert = json.bool("invert", default: false)
    }

    func preTokenize(_ piece: NormalizedText, into out: inout [NormalizedText]) {
        var found: [Range<Int>] = []
        switch pattern {
        case .gpt2:
            ByteLevel.split(piece.scalars, into: &found)
        case .literal(let pat):
            let s = piece.scalars
            var i = 0
            while i + pat.count <= s.count {
                if s[i] == pat[0] && s[i..<(i + pat.count)].elementsEqual(pat) {
                    found.append(i..<(i + pat.count)); i += pat.count
                } else {
                    i += 1
                }
            }
        }
        var matches: [(Range<Int>, Bool)] = []
        var last = 0
        for r in found {
            if last < r.lowerBound { matches.append((last..<r.lowerBound, false)) }
            matches.append((r, true))
            last = r.upperBound
        }
        if last < piece.count { matches.append((last..<piece.count, false)) }
        if invert { matches = matches.map { ($0.0, !$0.1) } }
        applySplit(piece, matches: matches, behavior: behavior, into: &out)
    }
}

/// HF `NormalizedString::split`: `matches` covers the piece in order, flagged match / not;
/// the behavior decides how delimiters attach; empty results are dropped.
func applySplit(_ piece: NormalizedText, matches: [(Range<Int>, Bool)], behavior: SplitBehavior,
                into out: inout [NormalizedText]) {
    var kept: [Range<Int>] = []
    switch behavior {
    case .removed:
        kept = matches.filter { !$0.1 }.map(\.0)
    case .isolated:
        kept = matches.map(\.0)
    case .mergedWithPrevious:
        var previousMatch = false
        for (r, isMatch) in matches {
            if isMatch && !previousMatch, let last = kept.last {
                kept[kept.count - 1] = last.lowerBound..<r.upperBound
            } else {
                kept.append(r)
            }
            previousMatch = isMatch
        }
    case .mergedWithNext:
        var previousMatch = false
        var reversed: [Range<Int>] = []
        for (r, isMatch) in matches.reversed() {
            if isMatch && !previousMatch, let last = reversed.last {
                reversed[reversed.count - 1] = r.lowerBound..<last.upperBound
            } else {
                reversed.append(r)
            }
            previousMatch = isMatch
        }
        kept = reversed.reversed()
    case .contiguous:
        var previousMatch = false
        for (r, isMatch) in matches {
            if isMatch == previousMatch, let last = kept.last {
                kept[kept.count - 1] = last.lowerBound..<r.upperBound
            } else {
                kept.append(r)
            }
            previousMatch = isMatch
        }
    }
    if kept.count == 1 && kept[0] == 0..<piece.count {
        if !piece.isEmpty { out.append(piece) }
        return
    }
    for r in kept where !r.isEmpty { out.append(piece.slice(r)) }
}
