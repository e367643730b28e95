/// `Decodable` types from a `JSONValue`, so Codable configs are read by the same parser as
/// everything else (jansson: integers past 64 bits load, errors carry line and column) and a
/// number that does not fit its field is reported at that field. (Foundation's JSONDecoder on
/// Linux reports `"hidden_size": 2.5` or an int(1e30) in an Int field as "not valid JSON",
/// without a path.)
public struct JSONValueDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try T(from: ValueDecoder(value: value, codingPath: []))
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ index: Int) { intValue = index; stringValue = String(index) }
    init?(intValue: Int) { self.init(intValue) }
    init?(stringValue: String) { return nil }
}

private func mismatch<T>(_ type: T.Type, _ value: JSONValue, _ path: [CodingKey], _ why: String? = nil) -> DecodingError {
    .typeMismatch(type, .init(codingPath: path, debugDescription: why ?? "expected \(type), found \(value.typeName)"))
}

/// One value as a Swift scalar: integers must be integral and fit the type, reals accept integers.
private func scalar<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ path: [CodingKey]) throws -> T {
    if value.isNull { throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "found null")) }
    func integer<I: FixedWidthInteger>(_: I.Type) throws -> I {
        switch value {
        case .int(let i):
            if let v = I(exactly: i) { return v }
        case .double(let d):
            if let v = I(exactly: d) { return v }
        default:
            throw mismatch(type, value, path)
        }
        let why = value.doubleValue.map { $0.rounded() == $0 } == false ? "is not an integer" : "does not fit in \(I.self)"
        throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "\(value.serialized()) \(why)"))
    }
    let result: Any
    switch type {
    case is Bool.Type: guard let b = value.boolValue else { throw mismatch(type, value, path) }; result = b
    case is String.Type: guard let s = value.stringValue else { throw mismatch(type, value, path) }; result = s
    case is Double.Type: guard let d = value.doubleValue else { throw mismatch(type, value, path) }; result = d
    case is Float.Type:
        guard let d = value.doubleValue else { throw mismatch(type, value, path) }
        guard Float(d).isFinite else {
            throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "\(value.serialized()) does not fit in Float"))
        }
        result = Float(d)
    case is Int.Type: result = try integer(Int.self)
    case is Int8.Type: result = try integer(Int8.self)
    case is Int16.Type: result = try integer(Int16.self)
    case is Int32.Type: result = try integer(Int32.self)
    case is Int64.Type: result = try integer(Int64.self)
    case is UInt.Type: result = try integer(UInt.self)
    case is UInt8.Type: result = try integer(UInt8.self)
    case is UInt16.Type: result = try integer(UInt16.self)
    case is UInt32.Type: result = try integer(UInt32.self)
    case is UInt64.Type: result = try integer(UInt64.self)
    default: return try T(from: ValueDecoder(value: value, codingPath: path))
    }
    return result as! T
}

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard let object = value.objectValue else { throw mismatch([String: JSONValue].self, value, codingPath, "expected an object, found \(value.typeName)") }
        return KeyedDecodingContainer(KeyedContainer<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard let items = value.arrayValue else { throw mismatch([JSONValue].self, value, codingPath, "expected an array, found \(value.typeName)") }
        return UnkeyedContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer {
        SingleValue(value: value, codingPath: codingPath)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: JSONObject
    let codingPath: [CodingKey]
    var allKeys: [Key] { object.keys.compactMap(Key.init(stringValue:)) }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func value(_ key: Key) throws -> JSONValue {
        guard let v = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no '\(key.stringValue)'"))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key).isNull }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try scalar(type, value(key), codingPath + [key]) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: value(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try ValueDecoder(value: value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder { ValueDecoder(value: .object(object), codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> Decoder { ValueDecoder(value: try value(key), codingPath: codingPath + [key]) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [CodingKey]
    var currentIndex = 0
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [JSONValue], codingPath: [CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    private mutating func next<T>(_ type: T.Type) throws -> (JSONValue, [CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "the array has only \(items.count) items"))
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next(type)
        return try scalar(type, value, path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try next([String: JSONValue].self)
        return try ValueDecoder(value: value, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let (value, path) = try next([JSONValue].self)
        return try ValueDecoder(value: value, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> Decoder {
        let (value, path) = try next(JSONValue.self)
        return ValueDecoder(value: value, codingPath: path)
    }
}

private struct SingleValue: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [CodingKey]
    func decodeNil() -> Bool { value.isNull }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try scalar(type, value, codingPath) }
}
