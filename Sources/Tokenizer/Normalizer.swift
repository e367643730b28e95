import Foundation
import JSON

/// A normalizer rewrites text before pre-tokenization while keeping each scalar's alignment
/// to the original, so offsets survive normalization.
protocol Normalizer: Sendable {
    func normalize(_ text: inout NormalizedText)
}

/// tokenizer.json `normalizer.type` values we implement.
enum NormalizerType: String {
    case nfc = "NFC", nfkc = "NFKC", nfd = "NFD", nfkd = "NFKD"
    case prepend = "Prepend", replace = "Replace", sequence = "Sequence"
    case lowercase = "Lowercase", strip = "Strip"
}

func makeNormalizer(_ json: JSONObject) throws -> Normalizer {
    let typeName = try json.typeName(in: "normalizer")
    guard let type = NormalizerType(rawValue: typeName) else {
        throw TokenizerError.unsupported(component: "normalizer", type: typeName)
    }
    switch type {
    case .nfc: return UnicodeNormalizer(form: .nfc)
    case .nfkc: return UnicodeNormalizer(form: .nfkc)
    case .nfd: return UnicodeNormalizer(form: .nfd)
    case .nfkd: return UnicodeNormalizer(form: .nfkd)
    case .prepend:
        return PrependNormalizer(prefix: try json.string("prepend", in: "Prepend normalizer").scalarValues)
    case .replace:
        return try ReplaceNormalizer(json)
    case .lowercase:
        return LowercaseNormalizer()
    case .strip:
        return StripNormalizer(left: json.bool("strip_left", default: true), right: json.bool("strip_right", default: true))
    case .sequence:
        return SequenceNormalizer(steps: try json.objects("normalizers", in: "Sequence normalizer").map(makeNormalizer))
    }
}

struct SequenceNormalizer: Normalizer {
    let steps: [Normalizer]
    func normalize(_ text: inout NormalizedText) {
        for step in steps { step.normalize(&text) }
    }
}

/// HF Prepend: only non-empty text gets the prefix, so empty segments stay empty.
struct PrependNormalizer: Normalizer {
    let prefix: [UInt32]
    func normalize(_ text: inout NormalizedText) {
        if !text.isEmpty { text.prepend(prefix) }
    }
}

/// HF Replace with a literal pattern. Regex patterns need a regex engine we do not have, so
/// they are rejected at load time rather than approximated.
struct ReplaceNormalizer: Normalizer {
    let pattern: [UInt32]
    let content: [UInt32]

    init(_ json: JSONObject) throws {
        let patternObject = try json.object("pattern", in: "Replace")
        if let literal = patternObject["String"]?.stringValue {
            pattern = literal.scalarValues
        } else if patternObject["Regex"] != nil {
            throw TokenizerError.unsupported(component: "Replace pattern", type: "Regex")
        } else {
            throw TokenizerError.missingField(field: "pattern.String", component: "Replace")
        }
        if pattern.isEmpty { throw TokenizerError.invalidValue("Replace with an empty pattern") }
        content = try json.string("content", in: "Replace").scalarValues
    }

    func normalize(_ text: inout NormalizedText) {
        text = replaceAll(text, pattern: pattern, content: content)
    }
}

/// Literal search-and-replace over scalars. As in HF's `NormalizedString::replace`, the matched
/// scalars are removed and the content inserted after them, so every inserted scalar takes the
/// alignment of the last matched one ("\r\n" -> "\n" maps to the original "\n").
func replaceAll(_ text: NormalizedText, pattern: [UInt32], content: [UInt32]) -> NormalizedText {
    let s = text.scalars
    let n = s.count, m = pattern.count
    guard n >= m, s.contains(pattern[0]) else { return text }
    if m == 1 && content.count == 1 {
        // The Llama case (" " -> "▁"): alignment is untouched.
        var out = text
        let p = pattern[0], c = content[0]
        for i in 0..<n where s[i] == p { out.scalars[i] = c }
        return out
    }
    var scalars: [UInt32] = []
    var align: [Alignment] = []
    scalars.reserveCapacity(n)
    align.reserveCapacity(n)
    var i = 0
    while i < n {
        if i + m <= n && s[i] == pattern[0] && s[i..<(i + m)].elementsEqual(pattern) {
            let covered = text.align[i + m - 1]
            scalars.append(contentsOf: content)
            align.append(contentsOf: repeatElement(covered, count: content.count))
            i += m
        } else {
            scalars.append(s[i])
            align.append(text.align[i])
            i += 1
        }
    }
    return NormalizedText(scalars: scalars, align: align)
}

struct LowercaseNormalizer: Normalizer {
    func normalize(_ text: inout NormalizedText) {
        var scalars: [UInt32] = []
        var align: [Alignment] = []
        scalars.reserveCapacity(text.count)
        align.reserveCapacity(text.count)
        for (i, v) in text.scalars.enumerated() {
            if v < 0x80 {
                scalars.append(v >= 0x41 && v <= 0x5A ? v + 0x20 : v)
                align.append(text.align[i])
            } else if let scalar = Unicode.Scalar(v) {
                for lower in scalar.properties.lowercaseMapping.unicodeScalars {
                    scalars.append(lower.value)
                    align.append(text.align[i])
                }
            }
        }
        text = NormalizedText(scalars: scalars, align: align)
    }
}

struct StripNormalizer: Normalizer {
    let left: Bool
    let right: Bool
    func normalize(_ text: inout NormalizedText) {
        var lo = 0, hi = text.count
        if left { while lo < hi && isWhiteSpace(text.scalars[lo]) { lo += 1 } }
        if right { while hi > lo && isWhiteSpace(text.scalars[hi - 1]) { hi -= 1 } }
        if lo != 0 || hi != text.count { text = text.slice(lo..<hi) }
    }
}

/// Unicode White_Space, which is what both Rust's `char::is_whitespace` and Oniguruma's `\s`
/// (the regex engine HF tokenizers uses) test.
@inline(__always)
func isWhiteSpace(_ v: UInt32) -> Bool {
    if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
    switch v {
    case 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
    default: return false
    }
}
