import Foundation

/// A JSON object that keeps its members in file order with their keys exactly as written.
/// Both matter for tokenizer.json: Swift `String` keys compare by canonical equivalence (so
/// a `[String: Any]` vocabulary could merge "é" with "e\u{301}"), and Foundation's parser drops
/// a leading U+FEFF from strings, which is a real SentencePiece vocabulary entry.
struct JSONObject {
    private(set) var pairs: [(key: String, value: Any)] = []
    private var index: [String: Int] = [:]
    private static let indexedLimit = 64

    init() {}

    init(_ pairs: [(key: String, value: Any)]) {
        for (k, v) in pairs { append(k, v) }
    }

    mutating func append(_ key: String, _ value: Any) {
        pairs.append((key, value))
        // Lookups only ever use short ASCII field names; big objects (vocabularies) are
        // read through `pairs`, so they skip the index.
        if pairs.count <= Self.indexedLimit {
            index[key] = pairs.count - 1  // duplicate keys: the last one wins, as in serde
        } else if pairs.count == Self.indexedLimit + 1 {
            index = [:]
        }
    }

    var count: Int { pairs.count }

    /// Replaces the value of `key` (appending it when absent).
    mutating func set(_ key: String, _ value: Any) {
        if let i = pairs.lastIndex(where: { $0.key == key }) {
            pairs[i].value = value
        } else {
            append(key, value)
        }
    }

    subscript(key: String) -> Any? {
        if pairs.count <= Self.indexedLimit { return index[key].map { pairs[$0].value } }
        return pairs.last { $0.key == key }?.value
    }
}

/// A small strict JSON parser over UTF-8 bytes (RFC 8259). Numbers become Int when integral
/// and in range, else Double; null becomes NSNull. Never traps on bad input.
struct JSONParser {
    private let bytes: [UInt8]
    private var i = 0
    private var depth = 0
    private static let maxDepth = 512

    static func parse(_ data: Data) throws -> Any {
        var parser = JSONParser(bytes: [UInt8](data))
        parser.skipWhitespace()
        // A UTF-8 byte order mark before the document is tolerated (not inside strings).
        if parser.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.i = 3 }
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.i == parser.bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func error(_ what: String) -> TokenizerError {
        .malformedJSON("\(what) at byte \(i)")
    }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func parseValue() throws -> Any {
        skipWhitespace()
        guard i < bytes.count else { throw error("unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return try parseString()
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        case UInt8(ascii: "n"): try literal("null"); return NSNull()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    private mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, bytes[i..<(i + w.count)].elementsEqual(w) else { throw error("invalid literal") }
        i += w.count
    }

    private mutating func enter() throws {
        depth += 1
        if depth > Self.maxDepth { throw error("nesting too deep") }
    }

    private mutating func parseObject() throws -> JSONObject {
        try enter(); defer { depth -= 1 }
        i += 1
        var object = JSONObject()
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return object }
        while true {
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected object key") }
            let key = try parseString()
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
            i += 1
            object.append(key, try parseValue())
            skipWhitespace()
            guard i < bytes.count else { throw error("unterminated object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return object }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func parseArray() throws -> [Any] {
        try enter(); defer { depth -= 1 }
        i += 1
        var array: [Any] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return array }
        while true {
            array.append(try parseValue())
            skipWhitespace()
            guard i < bytes.count else { throw error("unterminated array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return array }
            throw error("expected ',' or ']'")
        }
    }

    private mutating func parseString() throws -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") {
            if bytes[i] < 0x20 { throw error("control character in string") }
            i += 1
        }
        guard i < bytes.count else { throw error("unterminated string") }
        if bytes[i] == UInt8(ascii: "\"") {
            let s = String(decoding: bytes[start..<i], as: UTF8.self)
            i += 1
            return s
        }
        var out = Array(bytes[start..<i])
        while true {
            guard i < bytes.count else { throw error("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; break }
            if b < 0x20 { throw error("control character in string") }
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw error("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if (0xD800..<0xDC00).contains(v), i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    let save = i
                    i += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        i = save
                    }
                }
                // Lone surrogates cannot be represented in a Swift String.
                if (0xD800..<0xE000).contains(v) { v = 0xFFFD }
                appendUTF8(v, to: &out)
            default:
                throw error("invalid escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private mutating func parseNumber() throws -> Any {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        var integral = true
        func digits() -> Int {
            let s = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            return i - s
        }
        guard digits() > 0 else { throw error("invalid number") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integral = false; i += 1
            guard digits() > 0 else { throw error("invalid number") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            integral = false; i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw error("invalid number") }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral, let v = Int(text) { return v }
        guard let d = Double(text) else { throw error("invalid number") }
        return d
    }
}

/// The parser for callers outside the module (the CLI's JSON lines), with objects as
/// `[String: Any]` dictionaries. Unlike JSONSerialization it keeps a leading U+FEFF in strings.
public enum TokenizerJSON {
    public static func parse(_ data: Data) throws -> Any {
        bridge(try JSONParser.parse(data))
    }

    private static func bridge(_ value: Any) -> Any {
        switch value {
        case let object as JSONObject:
            var dict: [String: Any] = [:]
            for (k, v) in object.pairs { dict[k] = bridge(v) }
            return dict
        case let array as [Any]:
            return array.map(bridge)
        default:
            return value
        }
    }

    /// `s` as a JSON string literal: quotes, backslashes and control characters escaped,
    /// everything else written as UTF-8.
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.unicodeScalars.reserveCapacity(s.unicodeScalars.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return out
    }
}
