/// A JSON document as a Swift value. Objects keep their key order so that what polycom
/// writes reads in the order it was built.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    public var isNull: Bool { self == .null }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o }; return nil }

    /// Integers, and reals that hold an exact integer (as `2.0`).
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int(d)
        default: return nil
        }
    }

    /// Any number as Double.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// A short name of the JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// An ordered JSON object with keyed lookup. Keys compare by their exact scalars: Swift's
/// `String ==` treats "é" and "e\u{301}" as equal, JSON (and a tokenizer vocabulary) does not.
public struct JSONObject: Sendable, Equatable {
    public private(set) var entries: [(key: String, value: JSONValue)] = []
    private var index: [ExactKey: Int] = [:]

    struct ExactKey: Hashable, Sendable {
        let key: String
        init(_ key: String) { self.key = key }
        static func == (a: ExactKey, b: ExactKey) -> Bool { a.key.unicodeScalars.elementsEqual(b.key.unicodeScalars) }
        func hash(into hasher: inout Hasher) { for s in key.unicodeScalars { hasher.combine(s.value) } }
    }

    public init() {}

    public init(_ entries: [(String, JSONValue)]) {
        for (k, v) in entries { self[k] = v }
    }

    public subscript(key: String) -> JSONValue? {
        get { index[ExactKey(key)].map { entries[$0].value } }
        set {
            if let i = index[ExactKey(key)] {
                if let v = newValue {
                    entries[i].value = v
                } else {
                    entries.remove(at: i)
                    index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { (ExactKey($1.key), $0) })
                }
            } else if let v = newValue {
                index[ExactKey(key)] = entries.count
                entries.append((key, v))
            }
        }
    }

    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.entries.count == b.entries.count && a.entries.allSatisfy { b[$0.key] == $0.value }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }
}
