import JSON

/// Typed access to the fields of a JSON request body; wrong types and out-of-range
/// values become 400s naming the field.
struct RequestFields {
    let object: JSONObject

    init(_ body: [UInt8]) throws {
        guard !body.isEmpty else { throw APIError.badRequest("the request body is empty; expected a JSON object") }
        let value: JSONValue
        do { value = try JSONValue.parse(body) } catch { throw APIError.badRequest("invalid JSON: \(error)") }
        guard case .object(let o) = value else { throw APIError.badRequest("the request body must be a JSON object") }
        object = o
    }

    subscript(name: String) -> JSONValue? {
        guard let v = object[name], !v.isNull else { return nil }
        return v
    }

    func bool(_ name: String, default value: Bool) throws -> Bool {
        guard let v = self[name] else { return value }
        guard let b = v.boolValue else { throw APIError.badRequest("'\(name)' must be a boolean", param: name) }
        return b
    }

    func int(_ name: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let v = self[name] else { return nil }
        guard let i = v.intValue else { throw APIError.badRequest("'\(name)' must be an integer", param: name) }
        if let range, !range.contains(i) {
            throw APIError.badRequest("'\(name)' must be in \(range.lowerBound)...\(range.upperBound), got \(i)", param: name)
        }
        return i
    }

    func number(_ name: String, in range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let v = self[name] else { return nil }
        guard let d = v.doubleValue, d.isFinite else { throw APIError.badRequest("'\(name)' must be a number", param: name) }
        if let range, !range.contains(d) {
            throw APIError.badRequest("'\(name)' must be in \(range.lowerBound)...\(range.upperBound), got \(d)", param: name)
        }
        return d
    }

    func string(_ name: String) throws -> String? {
        guard let v = self[name] else { return nil }
        guard let s = v.stringValue else { throw APIError.badRequest("'\(name)' must be a string", param: name) }
        return s
    }

    /// A string or a list of strings.
    func strings(_ name: String) throws -> [String] {
        guard let v = self[name] else { return [] }
        if let s = v.stringValue { return [s] }
        guard let list = v.arrayValue, let strings = Optional(list.compactMap(\.stringValue)), strings.count == list.count else {
            throw APIError.badRequest("'\(name)' must be a string or a list of strings", param: name)
        }
        return strings
    }

    /// A list of integers.
    func ints(_ name: String) throws -> [Int]? {
        guard let v = self[name] else { return nil }
        guard let list = v.arrayValue else { throw APIError.badRequest("'\(name)' must be a list of integers", param: name) }
        return try list.map {
            guard let i = $0.intValue else { throw APIError.badRequest("'\(name)' must be a list of integers", param: name) }
            return i
        }
    }
}
