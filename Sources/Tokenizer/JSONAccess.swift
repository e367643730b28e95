import Foundation
import JSON

/// tokenizer.json and its companion files as the JSON module's values. Objects keep file
/// order and compare keys by exact scalars (a vocabulary may hold both "é" and "e\u{301}"),
/// and jansson keeps a leading U+FEFF in strings (a real SentencePiece vocabulary entry).
enum JSONAccess {
    /// Parses a file that must hold an object. Repeated keys: the last one wins, as in serde.
    static func parse(_ data: Data, what: String) throws -> JSONObject {
        var bytes = [UInt8](data)
        // A UTF-8 byte order mark before the document is tolerated (not inside strings).
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes, rejectDuplicates: false)
        } catch let error as JSONParseError {
            throw TokenizerError.malformedJSON("\(what): \(error.message) at byte \(error.position)")
        }
        guard case .object(let object) = value else {
            throw TokenizerError.malformedJSON("\(what): top level is not an object")
        }
        return object
    }
}

/// Typed access to the fields of a pipeline component, with errors that name the field.
extension JSONObject {
    func string(_ key: String, in component: String) throws -> String {
        guard let v = self[key]?.stringValue else { throw TokenizerError.missingField(field: key, component: component) }
        return v
    }

    func int(_ key: String, in component: String) throws -> Int {
        guard let v = self[key]?.intValue else { throw TokenizerError.missingField(field: key, component: component) }
        return v
    }

    func bool(_ key: String, default value: Bool) -> Bool {
        self[key]?.boolValue ?? value
    }

    func object(_ key: String, in component: String) throws -> JSONObject {
        guard let v = self[key]?.objectValue else { throw TokenizerError.missingField(field: key, component: component) }
        return v
    }

    func array(_ key: String, in component: String) throws -> [JSONValue] {
        guard let v = self[key]?.arrayValue else { throw TokenizerError.missingField(field: key, component: component) }
        return v
    }

    /// The `"type"` discriminator every pipeline component carries.
    func typeName(in component: String) throws -> String {
        try string("type", in: component)
    }

    /// Each entry of the array `key` as an object (`component` names them in errors).
    func objects(_ key: String, in component: String) throws -> [JSONObject] {
        try array(key, in: component).map { item in
            guard let object = item.objectValue else { throw TokenizerError.malformedJSON("\(component) entry is not an object") }
            return object
        }
    }
}

extension String {
    /// Unicode scalar values, the unit every stage works in: Swift String comparison is
    /// canonical-equivalence based, which would merge distinct vocabulary entries such as
    /// "é" (U+00E9) and "e\u{301}".
    var scalarValues: [UInt32] { unicodeScalars.map(\.value) }

    init(scalarValues: some Sequence<UInt32>) {
        var view = String.UnicodeScalarView()
        for v in scalarValues { view.append(Unicode.Scalar(v) ?? "\u{FFFD}") }
        self = String(view)
    }
}
