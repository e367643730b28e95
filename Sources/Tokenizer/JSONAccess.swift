import Foundation

/// Typed access to parsed JSON values, with errors that name the missing field.
enum JSONAccess {
    static func parse(_ data: Data, what: String) throws -> OrderedJSONObject {
        let any: Any
        do {
            any = try JSONParser.parse(data)
        } catch let error as TokenizerError {
            throw TokenizerError.malformedJSON("\(what): \(error)")
        }
        guard let object = any as? OrderedJSONObject else {
            throw TokenizerError.malformedJSON("\(what): top level is not an object")
        }
        return object
    }

    static func isNull(_ value: Any?) -> Bool {
        value == nil || value is NSNull
    }

    static func int(_ value: Any?) -> Int? {
        switch value {
        case let v as Int: return v
        // Integral, finite and well inside Int's range: Int(Double) traps otherwise.
        case let v as Double where v == v.rounded() && abs(v) < 9e15: return Int(v)
        case let v as NSNumber: return v.intValue
        default: return nil
        }
    }

    static func bool(_ value: Any?) -> Bool? {
        switch value {
        case let v as Bool: return v
        case let v as NSNumber: return v.boolValue
        default: return nil
        }
    }
}

extension OrderedJSONObject {
    func string(_ key: String, in component: String) throws -> String {
        guard let v = self[key] as? String else { throw TokenizerError.missingField(field: key, component: component) }
        return v
    }

    func int(_ key: String, in component: String) throws -> Int {
        guard let v = JSONAccess.int(self[key]) else { throw TokenizerError.missingField(field: key, component: component) }
        return v
    }

    func bool(_ key: String, default value: Bool) -> Bool {
        JSONAccess.bool(self[key]) ?? value
    }

    func object(_ key: String, in component: String) throws -> OrderedJSONObject {
        guard let v = self[key] as? OrderedJSONObject else { throw TokenizerError.missingField(field: key, component: component) }
        return v
    }

    func array(_ key: String, in component: String) throws -> [Any] {
        guard let v = self[key] as? [Any] else { throw TokenizerError.missingField(field: key, component: component) }
        return v
    }

    /// The `"type"` discriminator every pipeline component carries.
    func typeName(in component: String) throws -> String {
        try string("type", in: component)
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
