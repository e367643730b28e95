import JSON

/// Post-processors run after the model: add special tokens (TemplateProcessing) or fix offsets
/// (ByteLevel). Ids of special tokens added here get the empty offset (0, 0), as in HF.
protocol PostProcessor: Sendable {
    func process(_ tokens: [RawToken], addSpecialTokens: Bool) -> [RawToken]
}

enum PostProcessorType: String {
    case templateProcessing = "TemplateProcessing", byteLevel = "ByteLevel", sequence = "Sequence"
}

/// `tokenString` gives a token's scalars by id; ByteLevel needs it to know how many space
/// stand-ins each token starts and ends with.
func makePostProcessor(_ json: JSONObject, vocabSize: Int, tokenString: (Int32) -> [UInt32]?) throws -> PostProcessor {
    let typeName = try json.typeName(in: "post_processor")
    guard let type = PostProcessorType(rawValue: typeName) else {
        throw TokenizerError.unsupported(component: "post_processor", type: typeName)
    }
    switch type {
    case .templateProcessing:
        return try TemplateProcessing(json)
    case .byteLevel:
        return ByteLevelPostProcessor(trimOffsets: json.bool("trim_offsets", default: true),
                                      addPrefixSpace: json.bool("add_prefix_space", default: true),
                                      vocabSize: vocabSize, tokenString: tokenString)
    case .sequence:
        return SequencePostProcessor(steps: try json.objects("processors", in: "Sequence post_processor").map {
            try makePostProcessor($0, vocabSize: vocabSize, tokenString: tokenString)
        })
    }
}

struct SequencePostProcessor: PostProcessor {
    let steps: [PostProcessor]
    func process(_ tokens: [RawToken], addSpecialTokens: Bool) -> [RawToken] {
        steps.reduce(tokens) { $1.process($0, addSpecialTokens: addSpecialTokens) }
    }
}

/// Single-sequence template, e.g. `<s> $A` for Llama. Pair templates are parsed but unused:
/// the runtime only ever encodes one sequence.
struct TemplateProcessing: PostProcessor {
    enum Piece { case special([Int32]), sequence }
    let single: [Piece]

    init(single: [Piece]) { self.single = single }

    init(_ json: JSONObject) throws {
        let component = "TemplateProcessing"
        var specialIds: [String: [Int32]] = [:]
        let specials = try json.object("special_tokens", in: component)
        for (name, value) in specials.entries {
            guard let ids = value["ids"]?.arrayValue else {
                throw TokenizerError.missingField(field: "special_tokens.\(name).ids", component: component)
            }
            specialIds[name] = try ids.map {
                guard let id = $0.intValue, id >= 0, id < BPEModel.maxId else {
                    throw TokenizerError.invalidValue("special token id in \(name)")
                }
                return Int32(id)
            }
        }
        single = try json.objects("single", in: "template piece").map { object in
            if let special = object["SpecialToken"]?.objectValue {
                let name = try special.string("id", in: component)
                guard let ids = specialIds[name] else {
                    throw TokenizerError.invalidValue("template uses special token '\(name)' missing from special_tokens")
                }
                return .special(ids)
            }
            if object["Sequence"]?.objectValue != nil { return .sequence }
            throw TokenizerError.malformedJSON("template piece is neither SpecialToken nor Sequence")
        }
    }

    func process(_ tokens: [RawToken], addSpecialTokens: Bool) -> [RawToken] {
        guard addSpecialTokens else { return tokens }
        var out: [RawToken] = []
        out.reserveCapacity(tokens.count + 2)
        for piece in single {
            switch piece {
            case .special(let ids): out.append(contentsOf: ids.map { RawToken(id: $0, start: 0, end: 0) })
            case .sequence: out.append(contentsOf: tokens)
            }
        }
        return out
    }
}

/// Ids pass through; with trim_offsets, leading/trailing spaces ("Ġ" or real white space in
/// added tokens) are cut from each token's offsets, exactly as HF's `process_offsets`.
struct ByteLevelPostProcessor: PostProcessor {
    let trimOffsets: Bool
    let addPrefixSpace: Bool
    /// Per id: leading space count << 16 | trailing space count.
    private let spaces: [UInt32]

    init(trimOffsets: Bool, addPrefixSpace: Bool, vocabSize: Int, tokenString: (Int32) -> [UInt32]?) {
        self.trimOffsets = trimOffsets
        self.addPrefixSpace = addPrefixSpace
        var table = [UInt32](repeating: 0, count: trimOffsets ? vocabSize : 0)
        for id in 0..<table.count {
            guard let s = tokenString(Int32(id)) else { continue }
            let (leading, trailing) = Self.spaceCounts(s[...])
            table[id] = UInt32(min(leading, 0xFFFF)) << 16 | UInt32(min(trailing, 0xFFFF))
        }
        spaces = table
    }

    /// Leading and trailing "Ġ" / white-space scalars of a token's text.
    static func spaceCounts(_ s: ArraySlice<UInt32>) -> (Int, Int) {
        let isSpace = { (v: UInt32) in v == ByteLevel.spaceScalar || isWhiteSpace(v) }
        return (s.prefix(while: isSpace).count, s.reversed().prefix(while: isSpace).count)
    }

    func process(_ tokens: [RawToken], addSpecialTokens: Bool) -> [RawToken] {
        guard trimOffsets else { return tokens }
        var out = tokens
        for i in out.indices {
            var leading: Int32, trailing: Int32
            if out[i].leadingSpaces >= 0 {
                leading = Int32(out[i].leadingSpaces)
                trailing = Int32(out[i].trailingSpaces)
            } else {
                let id = Int(out[i].id)
                guard id < spaces.count, spaces[id] != 0 else { continue }
                leading = Int32(spaces[id] >> 16)
                trailing = Int32(spaces[id] & 0xFFFF)
            }
            if leading == 0 && trailing == 0 { continue }
            if leading > 0 {
                let isFirst = i == 0 || out[i].start == 0
                if isFirst && addPrefixSpace && leading == 1 { leading = 0 }
                out[i].start = min(out[i].start + leading, out[i].end)
            }
            if trailing > 0 && out[i].end >= trailing {
                out[i].end = max(out[i].end - trailing, out[i].start)
            }
        }
        return out
    }
}
