/// The Protocol Buffers wire format, as far as a SentencePiece `tokenizer.model` needs it:
/// a message is a run of (field number, wire type) keys each followed by a varint, a fixed
/// 32/64-bit value or a length-delimited byte string (strings, bytes and sub-messages).
/// Unknown fields are skipped by their wire type, so newer SentencePiece files still read.
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)

        /// UTF-8 text of a length-delimited field (invalid sequences become U+FFFD).
        var string: String? { if case .bytes(let b) = self { return String(decoding: b, as: UTF8.self) }; return nil }
        var message: ProtobufReader? { if case .bytes(let b) = self { return ProtobufReader(b) }; return nil }
        /// A `float` field: fixed32 holding IEEE-754 bits.
        var float: Float? { if case .fixed32(let v) = self { return Float(bitPattern: v) }; return nil }
        var bool: Bool? { if case .varint(let v) = self { return v != 0 }; return nil }
        /// `int32` and enum fields: negative values are sign-extended to 64 bits on the wire.
        var int32: Int32? { if case .varint(let v) = self { return Int32(truncatingIfNeeded: v) }; return nil }
    }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    /// The next field, or nil at the end of the message.
    mutating func next() throws -> (field: Int, value: Value)? {
        guard position < bytes.endIndex else { return nil }
        let at = position - bytes.startIndex
        let key = try varint()
        let field = Int(key >> 3)
        guard field > 0 else { throw Malformed(description: "field number 0 at byte \(at)") }
        switch key & 7 {
        case 0:
            return (field, .varint(try varint()))
        case 1:
            return (field, .fixed64(try fixed(8)))
        case 2:
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - position) else {
                throw Malformed(description: "field \(field) at byte \(at) runs past the end")
            }
            let start = position
            position += Int(length)
            return (field, .bytes(bytes[start..<position]))
        case 5:
            return (field, .fixed32(UInt32(try fixed(4))))
        default:
            // Groups (3, 4) are deprecated and absent from SentencePiece models; 6 and 7 do not exist.
            throw Malformed(description: "unsupported wire type \(key & 7) for field \(field) at byte \(at)")
        }
    }

    private mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.endIndex && shift < 64 {
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw Malformed(description: "truncated or overlong varint at byte \(position - bytes.startIndex)")
    }

    /// A little-endian fixed-width value of `count` bytes.
    private mutating func fixed(_ count: Int) throws -> UInt64 {
        guard bytes.endIndex - position >= count else {
            throw Malformed(description: "truncated fixed\(count * 8) value at byte \(position - bytes.startIndex)")
        }
        var result: UInt64 = 0
        for i in 0..<count { result |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += count
        return result
    }
}
