import CJansson

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON text that could not be parsed, with jansson's position and reason.
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let line: Int
    public let column: Int
    public let position: Int
    public var description: String { "invalid JSON at line \(line), column \(column): \(message)" }
}

/// The one place polycom talks to jansson: bytes → JSONValue and JSONValue → bytes.
extension JSONValue {
    /// Parses UTF-8 JSON text. Duplicate object keys are rejected by default (a safetensors
    /// header with two entries of one name must not silently keep the last); with
    /// `rejectDuplicates: false` the last one wins, as in serde (tokenizer.json).
    public static func parse(_ bytes: UnsafeRawBufferPointer, rejectDuplicates: Bool = true) throws -> JSONValue {
        var error = json_error_t()
        let flags = (rejectDuplicates ? JSON_REJECT_DUPLICATES : 0) | JSON_DECODE_ANY | JSON_ALLOW_NUL
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count > 0 else {
            throw JSONParseError(message: "empty input", line: 1, column: 0, position: 0)
        }
        guard let root = json_loadb(base, bytes.count, Int(flags), &error) else {
            let text = withUnsafeBytes(of: &error.text) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw JSONParseError(message: text, line: Int(error.line), column: Int(error.column),
                                 position: Int(error.position))
        }
        defer { json_decref(root) }
        return JSONValue(jansson: root)
    }

    public static func parse(_ bytes: [UInt8], rejectDuplicates: Bool = true) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, rejectDuplicates: rejectDuplicates) }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    private init(jansson node: UnsafeMutablePointer<json_t>) {
        switch node.pointee.type {
        case JSON_OBJECT:
            var object = JSONObject()
            var iter = json_object_iter(node)
            while let it = iter {
                let key = String(cString: json_object_iter_key(it))
                if let child = json_object_iter_value(it) { object[key] = JSONValue(jansson: child) }
                iter = json_object_iter_next(node, it)
            }
            self = .object(object)
        case JSON_ARRAY:
            let n = json_array_size(node)
            self = .array((0..<n).map { JSONValue(jansson: json_array_get(node, $0)) })
        case JSON_STRING:
            let length = json_string_length(node)
            let chars = json_string_value(node)!
            self = .string(String(decoding: UnsafeRawBufferPointer(start: chars, count: length), as: UTF8.self))
        case JSON_INTEGER:
            self = .int(Int(json_integer_value(node)))
        case JSON_REAL:
            self = .double(json_real_value(node))
        case JSON_TRUE:
            self = .bool(true)
        case JSON_FALSE:
            self = .bool(false)
        default:
            self = .null
        }
    }

    /// Compact UTF-8 JSON text. Non-finite numbers, which JSON cannot carry, become null.
    public func serialized(pretty: Bool = false) -> String {
        let node = makeJansson()
        defer { json_decref(node) }
        var flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER
        flags |= pretty ? 2 /* JSON_INDENT(2) */ : JSON_COMPACT
        guard let text = json_dumps(node, Int(flags)) else { return "null" }
        defer { free(text) }
        return String(cString: text)
    }

    private func makeJansson() -> UnsafeMutablePointer<json_t> {
        switch self {
        case .null: return json_null()
        case .bool(let b): return b ? json_true() : json_false()
        case .int(let i): return json_integer(json_int_t(i))
        case .double(let d): return d.isFinite ? json_real(d) : json_null()
        case .string(let s):
            var s = s
            return s.withUTF8 { buf in
                guard let base = buf.baseAddress, buf.count > 0 else { return json_string("") }
                return json_stringn_nocheck(UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), buf.count)
                    ?? json_null()
            }
        case .array(let items):
            let node = json_array()!
            for item in items { json_array_append_new(node, item.makeJansson()) }
            return node
        case .object(let object):
            let node = json_object()!
            for (key, value) in object.entries {
                var key = key
                // jansson copies the key; the empty key still needs a valid pointer.
                key.withCString { chars in
                    _ = json_object_setn_new_nocheck(node, chars, key.utf8.count, value.makeJansson())
                }
            }
            return node
        }
    }
}
