import Foundation
import JSON

/// A decoder turns token strings back into text. Like HF's `decode_chain`, each step maps the
/// list of token strings to a new list; the final list is concatenated. Tokens are handled as
/// unicode scalars so a "▁" followed by a combining mark is still found.
protocol Decoder: Sendable {
    func decodeChain(_ tokens: [[UInt32]]) -> [[UInt32]]
}

enum DecoderType: String {
    case byteLevel = "ByteLevel", metaspace = "Metaspace", replace = "Replace"
    case byteFallback = "ByteFallback", fuse = "Fuse", strip = "Strip", sequence = "Sequence"
}

func makeDecoder(_ json: JSONObject) throws -> Decoder {
    let typeName = try json.typeName(in: "decoder")
    guard let type = DecoderType(rawValue: typeName) else {
        throw TokenizerError.unsupported(component: "decoder", type: typeName)
    }
    switch type {
    case .byteLevel:
        return ByteLevelDecoder()
    case .metaspace:
        let pre = try MetaspacePreTokenizer(json)
        return MetaspaceDecoder(replacement: pre.replacement, stripFirst: pre.scheme != .never)
    case .replace:
        let p = try json.object("pattern", in: "Replace decoder")
        guard let literal = p["String"]?.stringValue else {
            throw TokenizerError.unsupported(component: "Replace decoder pattern", type: p["Regex"] != nil ? "Regex" : "unknown")
        }
        if literal.isEmpty { throw TokenizerError.invalidValue("Replace decoder with an empty pattern") }
        return ReplaceDecoder(pattern: literal.scalarValues, content: try json.string("content", in: "Replace decoder").scalarValues)
    case .byteFallback:
        return ByteFallbackDecoder()
    case .fuse:
        return FuseDecoder()
    case .strip:
        let content = try json.string("content", in: "Strip decoder").scalarValues
        guard content.count == 1 else { throw TokenizerError.invalidValue("Strip decoder content must be one character") }
        return StripDecoder(content: content[0], start: max(0, try json.int("start", in: "Strip decoder")),
                            stop: max(0, try json.int("stop", in: "Strip decoder")))
    case .sequence:
        return SequenceDecoder(steps: try json.objects("decoders", in: "Sequence decoder").map(makeDecoder))
    }
}

struct SequenceDecoder: Decoder {
    let steps: [Decoder]
    func decodeChain(_ tokens: [[UInt32]]) -> [[UInt32]] {
        steps.reduce(tokens) { $1.decodeChain($0) }
    }
}

/// Byte stand-ins back to bytes, then UTF-8 with U+FFFD for invalid sequences (Rust's
/// `from_utf8_lossy` and Swift's decoder both replace maximal invalid subparts). A token with
/// a scalar outside the byte alphabet (an added token such as "  ") contributes its own UTF-8.
struct ByteLevelDecoder: Decoder {
    func decodeChain(_ tokens: [[UInt32]]) -> [[UInt32]] {
        let bytes = Self.bytes(tokens)
        return [String(decoding: bytes, as: UTF8.self).scalarValues]
    }

    static func bytes(_ tokens: [[UInt32]]) -> [UInt8] {
        var bytes: [UInt8] = []
        let table = ByteLevel.scalarToByte
        for token in tokens {
            let mapped = token.allSatisfy { $0 < UInt32(table.count) && table[Int($0)] >= 0 }
            if mapped {
                for v in token { bytes.append(UInt8(table[Int(v)])) }
            } else {
                for v in token { appendUTF8(v, to: &bytes) }
            }
        }
        return bytes
    }
}

/// HF drops every replacement scalar of the first token (the prepended space) unless the
/// scheme is "never", and turns the others into spaces.
struct MetaspaceDecoder: Decoder {
    let replacement: UInt32
    let stripFirst: Bool
    func decodeChain(_ tokens: [[UInt32]]) -> [[UInt32]] {
        tokens.enumerated().map { i, token in
            token.compactMap { v in v == replacement ? ((i == 0 && stripFirst) ? nil : 0x20) : v }
        }
    }
}

struct ReplaceDecoder: Decoder {
    let pattern: [UInt32]
    let content: [UInt32]
    func decodeChain(_ tokens: [[UInt32]]) -> [[UInt32]] {
        tokens.map { token in
            let text = NormalizedText(scalars: token, align: [Alignment](repeating: Alignment(start: 0, end: 0), count: token.count))
            return replaceAll(text, pattern: pattern, content: content).scalars
        }
    }
}

/// "<0xAB>" tokens become bytes; a run of them becomes its UTF-8 text, or one U+FFFD per byte
/// when the run is not valid UTF-8 (HF's rule).
struct ByteFallbackDecoder: Decoder {
    func decodeChain(_ tokens: [[UInt32]]) -> [[UInt32]] {
        var out: [[UInt32]] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let s = String(validating: pending, as: UTF8.self) {
                out.append(s.scalarValues)
            } else {
                for _ in pending { out.append([0xFFFD]) }
            }
            pending.removeAll()
        }
        for token in tokens {
            if let byte = Self.byteValue(token) {
                pending.append(byte)
            } else {
                flush()
                out.append(token)
            }
        }
        flush()
        return out
    }

    static func byteValue(_ t: [UInt32]) -> UInt8? {
        guard t.count == 6, t[0] == 0x3C, t[1] == 0x30, t[2] == 0x78, t[5] == 0x3E,
              let hi = hexValue(t[3]), let lo = hexValue(t[4]) else { return nil }
        return hi << 4 | lo
    }

    private static func hexValue(_ v: UInt32) -> UInt8? {
        switch v {
        case 0x30...0x39: return UInt8(v - 0x30)
        case 0x41...0x46: return UInt8(v - 0x41 + 10)
        case 0x61...0x66: return UInt8(v - 0x61 + 10)
        default: return nil
        }
    }
}

struct FuseDecoder: Decoder {
    func decodeChain(_ tokens: [[UInt32]]) -> [[UInt32]] {
        [Array(tokens.joined())]
    }
}

/// Removes up to `start` leading and `stop` trailing `content` scalars from each token.
struct StripDecoder: Decoder {
    let content: UInt32
    let start: Int
    let stop: Int
    func decodeChain(_ tokens: [[UInt32]]) -> [[UInt32]] {
        tokens.map { token in
            var lo = 0
            while lo < min(start, token.count) && token[lo] == content { lo += 1 }
            var hi = token.count
            var removed = 0
            while removed < stop && hi > lo && token[hi - 1] == content { hi -= 1; removed += 1 }
            return Array(token[lo..<hi])
        }
    }
}
