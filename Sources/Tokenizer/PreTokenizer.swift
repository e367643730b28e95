import JSON

/// A pre-tokenizer cuts normalized text into the "words" the model tokenizes independently
/// (and may rewrite them, as ByteLevel and Metaspace do).
protocol PreTokenizer: Sendable {
    func preTokenize(_ piece: NormalizedText, into out: inout [NormalizedText])
}

extension PreTokenizer {
    func preTokenize(_ pieces: [NormalizedText]) -> [NormalizedText] {
        var out: [NormalizedText] = []
        out.reserveCapacity(pieces.count * 4)
        for piece in pieces { preTokenize(piece, into: &out) }
        return out
    }
}

/// tokenizer.json `pre_tokenizer.type` values we implement.
enum PreTokenizerType: String {
    case byteLevel = "ByteLevel", metaspace = "Metaspace", split = "Split", digits = "Digits"
    case whitespaceSplit = "WhitespaceSplit", sequence = "Sequence"
}

func makePreTokenizer(_ json: JSONObject) throws -> PreTokenizer {
    let typeName = try json.typeName(in: "pre_tokenizer")
    guard let type = PreTokenizerType(rawValue: typeName) else {
        throw TokenizerError.unsupported(component: "pre_tokenizer", type: typeName)
    }
    switch type {
    case .byteLevel:
        return ByteLevelPreTokenizer(addPrefixSpace: json.bool("add_prefix_space", default: true),
                                     useRegex: json.bool("use_regex", default: true))
    case .metaspace:
        return try MetaspacePreTokenizer(json)
    case .split:
        return try SplitPreTokenizer(json)
    case .digits:
        return DigitsPreTokenizer(individualDigits: json.bool("individual_digits", default: false))
    case .whitespaceSplit:
        return PredicateSplitPreTokenizer(behavior: .removed, isDelimiter: { isWhiteSpace($0) })
    case .sequence:
        return SequencePreTokenizer(steps: try json.objects("pretokenizers", in: "Sequence pre_tokenizer").map(makePreTokenizer))
    }
}

struct SequencePreTokenizer: PreTokenizer {
    let steps: [PreTokenizer]
    func preTokenize(_ piece: NormalizedText, into out: inout [NormalizedText]) {
        var pieces = [piece]
        for step in steps { pieces = step.preTokenize(pieces) }
        out.append(contentsOf: pieces)
    }
}

/// GPT-2 byte-level: optional leading space, the GPT-2 regex split, then every UTF-8 byte
/// replaced by its stand-in scalar (aligned to the character it came from).
struct ByteLevelPreTokenizer: PreTokenizer {
    let addPrefixSpace: Bool
    let useRegex: Bool

    func preTokenize(_ piece: NormalizedText, into out: inout [NormalizedText]) {
        forEachWord(piece) { out.append($0) }
    }

    /// Calls `body` with each byte-level word. The word handed over lives in one reused
    /// buffer, so the usual case (the model finds the word in its cache) allocates nothing;
    /// this is the encode hot path for GPT-2 style tokenizers.
    func forEachWord(_ piece: NormalizedText, _ body: (NormalizedText) -> Void) {
        var text = piece
        if text.isEmpty { return }
        if addPrefixSpace && text.scalars[0] != 0x20 { text.prepend([0x20]) }
        var word = NormalizedText(scalars: [], align: [])
        word.scalars.reserveCapacity(64)
        word.align.reserveCapacity(64)
        if useRegex {
            var ranges: [Range<Int>] = []
            ByteLevel.split(text.scalars, into: &ranges)
            for r in ranges {
                Self.toBytes(text, r, into: &word)
                body(word)
            }
        } else {
            Self.toBytes(text, 0..<text.count, into: &word)
            body(word)
        }
    }

    static func toBytes(_ text: NormalizedText, _ range: Range<Int>, into word: inout NormalizedText) {
        word.scalars.removeAll(keepingCapacity: true)
        word.align.removeAll(keepingCapacity: true)
        var bytes: [UInt8] = []
        ByteLevel.byteToScalar.withUnsafeBufferPointer { table in
            for i in range {
                let v = text.scalars[i]
                if v < 0x80 {
                    word.scalars.append(table[Int(v)])
                    word.align.append(text.align[i])
                } else {
                    bytes.removeAll(keepingCapacity: true)
                    appendUTF8(v, to: &bytes)
                    for b in bytes {
                        word.scalars.append(table[Int(b)])
                        word.align.append(text.align[i])
                    }
                }
            }
        }
    }
}

/// SentencePiece-style spaces: " " becomes the replacement ("▁"), optionally prepended.
struct MetaspacePreTokenizer: PreTokenizer {
    enum PrependScheme: String { case first, always, never }
    let replacement: UInt32
    let scheme: PrependScheme
    let split: Bool

    init(_ json: JSONObject) throws {
        let rep = try json.string("replacement", in: "Metaspace").scalarValues
        guard rep.count == 1 else { throw TokenizerError.invalidValue("Metaspace replacement must be one character") }
        replacement = rep[0]
        if let schemeName = json["prepend_scheme"]?.stringValue {
            guard let s = PrependScheme(rawValue: schemeName) else {
                throw TokenizerError.unsupported(component: "Metaspace prepend_scheme", type: schemeName)
            }
            scheme = s
        } else {
            // Files written before prepend_scheme existed carry add_prefix_space instead.
            scheme = json.bool("add_prefix_space", default: true) ? .always : .never
        }
        split = json.bool("split", default: true)
    }

    func preTokenize(_ piece: NormalizedText, into out: inout [NormalizedText]) {
        var text = piece
        if text.isEmpty { return }
        for i in 0..<text.count where text.scalars[i] == 0x20 { text.scalars[i] = replacement }
        let starts = text.scalars[0] == replacement
        // HF's "first" means: this piece starts at offset 0 of the original input.
        if !starts && (scheme == .always || (scheme == .first && text.originalStart == 0)) {
            text.prepend([replacement])
        }
        if split {
            let r = replacement
            PredicateSplitPreTokenizer(behavior: .mergedWithNext, isDelimiter: { $0 == r })
                .preTokenize(text, into: &out)
        } else {
            out.append(text)
        }
    }
}

struct DigitsPreTokenizer: PreTokenizer {
    let individualDigits: Bool
    func preTokenize(_ piece: NormalizedText, into out: inout [NormalizedText]) {
        // HF tests Rust's `char::is_numeric` (categories Nd, Nl, No), so "①" and "١" count.
        PredicateSplitPreTokenizer(behavior: individualDigits ? .isolated : .contiguous,
                                   isDelimiter: { ByteLevel.charClass($0) == .number })
            .preTokenize(piece, into: &out)
    }
}

/// Splits where single scalars satisfy a predicate (each such scalar is one match, as for
/// HF's char-predicate patterns).
struct PredicateSplitPreTokenizer: PreTokenizer {
    let behavior: SplitBehavior
    let isDelimiter: @Sendable (UInt32) -> Bool

    func preTokenize(_ piece: NormalizedText, into out: inout [NormalizedText]) {
        var matches: [(Range<Int>, Bool)] = []
        var last = 0
        for (i, v) in piece.scalars.enumerated() where isDelimiter(v) {
            if last < i { matches.append((last..<i, false)) }
            matches.append((i..<(i + 1), true))
            last = i + 1
        }
        if last < piece.count { matches.append((last..<piece.count, false)) }
        applySplit(piece, matches: matches, behavior: behavior, into: &out)
    }
}
