import JSON

/// What a body may hold, checked on its census before it is parsed (a parsed body takes
/// some 30 times its size: an 8 MB body of tiny values would cost 250 MB to look at).
struct BodyLimits {
    /// Most values one field may hold (nested, at any depth), by name.
    var fields: [String: Int] = [:]
    /// The same for every field not in `fields`: ignored fields stay small.
    var otherFields = 4096
    var fieldCount = 256
    /// The endpoint's own checks (prompts, items), with messages that name its limits.
    var check: (JSONCensus) throws -> Void = { _ in }
}

/// Typed access to the fields of a JSON request body; wrong types and out-of-range
/// values become 400s naming the field.
struct RequestFields {
    let object: JSONObject

    init(_ body: [UInt8], limits: BodyLimits = BodyLimits()) throws {
        guard !body.isEmpty else { throw APIError.badRequest("the request body is empty; expected a JSON object") }
        let census = JSONCensus(body)
        guard census.isObject else { throw APIError.badRequest("the request body must be a JSON object") }
        if census.fieldCount > limits.fieldCount {
            throw APIError.badRequest("the body has \(census.fieldCount) fields; at most \(limits.fieldCount) are accepted")
        }
        try limits.check(census)
        for (name, count) in census.fields {
            let most = limits.fields[name] ?? limits.otherFields
            if count.values > most {
                throw APIError.badRequest("'\(name)' holds \(count.values) JSON values; this endpoint accepts at most \(most) in it",
                                          param: name)
            }
        }
        if census.otherFields.values > limits.otherFields * max(census.fieldCount - census.fields.count, 0) {
            throw APIError.badRequest("the body's fields hold \(census.otherFields.values) JSON values, more than this endpoint accepts")
        }
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
