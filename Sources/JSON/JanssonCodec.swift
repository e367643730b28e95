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

    init(message: String, line: Int, column: Int, position: Int) {
        self.message = message
        self.line = line
        self.column = column
        self.position = position
    }

    init(jansson error: json_error_t) {
        var error = error
        let text = withUnsafeBytes(of: &error.text) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        self.init(message: text, line: Int(error.line), column: Int(error.column), position: Int(error.position))
    }
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
        if let root = json_loadb(base, bytes.count, Int(flags), &error) {
            defer { json_decref(root) }
            return JSONValue(jansson: root)
        }
        let failure = JSONParseError(jansson: error)
        // jansson refuses integers beyond 64 bits ("too big integer"); transformers writes one
        // into most tokenizer_config.json files (model_max_length 1e30 means "unlimited").
        // Such integers are read as reals instead, in a second pass that only runs then.
        guard failure.message.contains("too big"), let widened = widenHugeIntegers(bytes) else { throw failure }
        return try widened.withUnsafeBytes { raw in
            guard let root = json_loadb(raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count, Int(flags), &error) else {
                throw JSONParseError(jansson: error)
            }
            defer { json_decref(root) }
            return JSONValue(jansson: root)
        }
    }

    /// The text with every integer literal that does not fit in Int64 rewritten as a real of
    /// the same length (its last two digits become "e2": a relative change below 1e-16, within
    /// a double's rounding), so error positions stay those of the original text. nil when
    /// there is no such literal.
    static func widenHugeIntegers(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), minus = UInt8(ascii: "-")
        let realMarks: Set<UInt8> = [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")]
        var out = [UInt8](bytes)
        var changed = false
        var i = 0
        while i < out.count {
            if out[i] == quote {  // skip the string, escapes included
                i += 1
                while i < out.count && out[i] != quote { i += out[i] == backslash ? 2 : 1 }
                i += 1
            } else if out[i] == minus || isDigit(out[i]) {
                let start = i
                while i < out.count && (isDigit(out[i]) || out[i] == minus || out[i] == UInt8(ascii: "+") || realMarks.contains(out[i])) {
                    i += 1
                }
                let token = out[start..<i]
                let digits = token.filter(isDigit).count
                if digits >= 19 && !token.contains(where: realMarks.contains)
                    && Int64(String(decoding: token, as: UTF8.self)) == nil {
                    out[i - 2] = UInt8(ascii: "e")
                    out[i - 1] = UInt8(ascii: "2")
                    changed = true
                }
            } else {
                i += 1
            }
        }
        return changed ? out : nil
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
