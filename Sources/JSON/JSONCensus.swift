/// How many values each top-level field of a JSON object holds, counted in one pass over
/// the bytes without building anything.
///
/// A parsed document costs far more memory than its text: `[1],` is four bytes of text
/// and about 125 bytes once parsed (a jansson node, then a Swift value), so an 8 MB body
/// of one-token prompts grows a server by 400 MB before any field is looked at. A server
/// counts first and refuses bodies whose fields hold more than it would ever accept.
///
/// The scan is lenient: it does not validate (the parser that runs afterwards does), and
/// on malformed text it reports what it counted up to there, which still bounds what a
/// parser would build.
public struct JSONCensus: Sendable {
    public struct Count: Sendable, Equatable {
        /// Direct children of the field's array or object (0 for a scalar).
        public var elements = 0
        /// Values nested in the field at any depth (not counting the field's own value).
        public var values = 0
        public init(elements: Int = 0, values: Int = 0) {
            self.elements = elements
            self.values = values
        }
    }

    /// The text starts with `{` (after white space).
    public private(set) var isObject = false
    /// Counts by field name, for the first `maxNamedFields` distinct names.
    public private(set) var fields: [String: Count] = [:]
    /// The fields past the first `maxNamedFields` names, counted together.
    public private(set) var otherFields = Count()
    /// Top-level fields (a name given twice counts twice).
    public private(set) var fieldCount = 0

    public subscript(name: String) -> Count { fields[name] ?? Count() }

    public init(_ bytes: [UInt8], maxNamedFields: Int = 64) {
        self.init()
        bytes.withUnsafeBufferPointer { scan($0, maxNamedFields: maxNamedFields) }
    }

    private init() {}

    private mutating func scan(_ b: UnsafeBufferPointer<UInt8>, maxNamedFields: Int) {
        let n = b.count
        var i = 0
        while i < n && Self.isSpace(b[i]) { i += 1 }
        guard i < n, b[i] == UInt8(ascii: "{") else { return }
        isObject = true
        i += 1
        var depth = 1
        // The field being scanned: its name (nil past maxNamedFields) and its running count,
        // kept in locals and added to `fields` when the next field starts.
        var name: String?
        var count = Count()
        var counting = false
        func flush() {
            guard counting else { return }
            if let name { fields[name, default: Count()].add(count) } else { otherFields.add(count) }
            count = Count()
        }
        func value(at depth: Int) {
            guard depth >= 2 else { return }
            count.values += 1
            if depth == 2 { count.elements += 1 }
        }
        while i < n {
            let c = b[i]
            switch c {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: ","), UInt8(ascii: ":"):
                i += 1
            case UInt8(ascii: "\""):
                let start = i + 1
                var j = start, escaped = false
                while j < n && b[j] != UInt8(ascii: "\"") {
                    if b[j] == UInt8(ascii: "\\") { escaped = true; j += 1 }
                    j += 1
                }
                let end = min(j, n)
                i = end + 1
                var k = i
                while k < n && Self.isSpace(b[k]) { k += 1 }
                if k < n && b[k] == UInt8(ascii: ":") {
                    // A name; at depth 1 it starts a new top-level field.
                    if depth == 1 {
                        flush()
                        fieldCount += 1
                        counting = true
                        let key = Self.decodeName(UnsafeBufferPointer(rebasing: b[start..<end]), escaped: escaped)
                        name = fields[key] != nil || fields.count < maxNamedFields ? key : nil
                    }
                    i = k + 1
                } else {
                    value(at: depth)
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                value(at: depth)
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                i += 1
                if depth <= 0 { i = n }
            default:
                // A number or a literal (or garbage): one value up to the next delimiter.
                value(at: depth)
                while i < n && !Self.isDelimiter(b[i]) { i += 1 }
            }
        }
        flush()
    }

    private static func isSpace(_ c: UInt8) -> Bool {
        c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r")
    }

    private static func isDelimiter(_ c: UInt8) -> Bool {
        isSpace(c) || c == UInt8(ascii: ",") || c == UInt8(ascii: ":") || c == UInt8(ascii: "\"")
            || c == UInt8(ascii: "{") || c == UInt8(ascii: "}") || c == UInt8(ascii: "[") || c == UInt8(ascii: "]")
    }

    /// A field name as the parser will read it: escapes (`"pr\u006fmpt"`) must not hide a
    /// field from the count.
    private static func decodeName(_ raw: UnsafeBufferPointer<UInt8>, escaped: Bool) -> String {
        guard escaped else { return String(decoding: raw, as: UTF8.self) }
        let quoted = [UInt8(ascii: "\"")] + Array(raw) + [UInt8(ascii: "\"")]
        return (try? JSONValue.parse(quoted))?.stringValue ?? String(decoding: raw, as: UTF8.self)
    }
}

extension JSONCensus.Count {
    mutating func add(_ other: JSONCensus.Count) {
        elements += other.elements
        values += other.values
    }
}
