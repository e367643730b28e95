import Foundation
import JSON

/// A JSON object that keeps its members in file order with their keys exactly as written.
/// Both matter for tokenizer.json: Swift `String` keys compare by canonical equivalence (so
/// a `[String: Any]` vocabulary could merge "é" with "e\u{301}"), and Foundation's parser drops
/// a leading U+FEFF from strings, which is a real SentencePiece vocabulary entry.
struct OrderedJSONObject {
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

/// tokenizer.json as the Any tree the pipeline stages read: objects as `OrderedJSONObject` (file
/// order, exact keys), arrays as [Any], integral numbers as Int, others as Double, null as
/// NSNull. Parsing is jansson's (the JSON module); duplicate keys: the last one wins, as serde.
enum JSONParser {
    static func parse(_ data: Data) throws -> Any {
        var bytes = [UInt8](data)
        // A UTF-8 byte order mark before the document is tolerated (not inside strings).
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        do {
            return tree(try JSONValue.parse(bytes, rejectDuplicates: false))
        } catch let error as JSONParseError {
            throw TokenizerError.malformedJSON("\(error.message) at byte \(error.position)")
        }
    }

    private static func tree(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .array(let items): return items.map(tree)
        case .object(let object):
            var out = OrderedJSONObject()
            for (key, v) in object.entries { out.append(key, tree(v)) }
            return out
        }
    }
}
