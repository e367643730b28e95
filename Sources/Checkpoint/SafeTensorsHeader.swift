import JSON
import Kernels
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The parsed and validated header of a safetensors file.
///
/// The checks follow the reference implementation: the header fits the 100 MB limit and
/// the file, is a UTF-8 JSON object without duplicate names, and the tensors' byte ranges
/// tile the data section exactly — starting at 0, no gaps, no overlaps, each range as long
/// as its shape and dtype say, and the last one ending at the end of the file.
public struct SafeTensorsHeader: Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range within the data section (after the header).
        public let range: Range<Int>
    }

    public static let maxHeaderBytes = 100_000_000

    public let entries: [String: Entry]
    public let metadata: [String: String]
    /// Offset of the data section from the start of the file.
    public let dataOffset: Int

    /// Validates `file` (the whole file's bytes); `path` only names it in errors.
    public init(file: UnsafeRawBufferPointer, path: String) throws {
        func fail(_ reason: String) -> CheckpointError { .invalidSafeTensors(path: path, reason: reason) }
        guard file.count >= 8 else { throw fail("file is \(file.count) bytes, too short for the 8-byte header length") }
        let headerLength = file.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw fail("header length \(headerLength) exceeds the \(Self.maxHeaderBytes)-byte limit")
        }
        let n = Int(headerLength)
        guard 8 + n <= file.count else {
            throw fail("header length \(n) is longer than the file (\(file.count) bytes): file truncated?")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<(8 + n)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw fail("header is not valid UTF-8") }
        guard headerBytes.first == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
        let json: JSONValue
        do { json = try JSONValue.parse(headerBytes) } catch { throw fail("header: \(error)") }
        guard case .object(let object) = json else { throw fail("header is not a JSON object") }

        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object.entries {
            if name == "__metadata__" {
                guard case .object(let meta) = value else { throw fail("__metadata__ is not an object") }
                for (k, v) in meta.entries {
                    guard let s = v.stringValue else { throw fail("__metadata__.\(k) is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let dtypeName = value["dtype"]?.stringValue else { throw fail("tensor '\(name)' has no dtype") }
            guard let dtype = DType(rawValue: dtypeName) else { throw fail("tensor '\(name)' has unknown dtype \(dtypeName)") }
            guard let shapeValues = value["shape"]?.arrayValue else { throw fail("tensor '\(name)' has no shape") }
            let shape = try shapeValues.map { v -> Int in
                guard let d = v.intValue, d >= 0 else { throw fail("tensor '\(name)' has an invalid shape \(shapeValues.map { $0.serialized() })") }
                return d
            }
            guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
                  let begin = offsets[0].intValue, let end = offsets[1].intValue, begin >= 0, end >= 0
            else { throw fail("tensor '\(name)' has invalid data_offsets") }
            guard end >= begin else { throw fail("tensor '\(name)' ends (\(end)) before it begins (\(begin))") }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, range: begin..<end)
        }

        var expected = 0
        for entry in entries.values.sorted(by: { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }) {
            if entry.range.lowerBound < expected {
                throw fail("tensor '\(entry.name)' at bytes \(entry.range) overlaps the previous tensor (ends at \(expected))")
            }
            if entry.range.lowerBound > expected {
                throw fail("gap before tensor '\(entry.name)': data starts at \(entry.range.lowerBound), expected \(expected)")
            }
            var elements = 1
            for d in entry.shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("tensor '\(entry.name)' shape \(entry.shape) overflows") }
                elements = p
            }
            let (size, overflow) = elements.multipliedReportingOverflow(by: entry.dtype.byteSize)
            guard !overflow else { throw fail("tensor '\(entry.name)' shape \(entry.shape) overflows") }
            guard size == entry.range.count else {
                throw fail("tensor '\(entry.name)' is \(entry.dtype.rawValue) \(entry.shape) = \(size) bytes but its data_offsets span \(entry.range.count) bytes")
            }
            expected = entry.range.upperBound
        }
        let dataLength = file.count - 8 - n
        guard expected == dataLength else {
            throw fail(expected < dataLength
                ? "\(dataLength - expected) bytes after the last tensor are not described by the header"
                : "tensor data needs \(expected) bytes but the file holds \(dataLength): file truncated?")
        }
        self.entries = entries
        self.metadata = metadata
        self.dataOffset = 8 + n
    }

    /// Where the tensor data of the file at `path` would start, read from its first 8 bytes
    /// alone (nil when they cannot be read). A hint for laying out a copy: the header is
    /// checked, against the bytes actually loaded, by `init(file:path:)`.
    static func dataOffset(ofFileAt path: String) -> Int? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var n: UInt64 = 0
        guard pread(fd, &n, 8, 0) == 8 else { return nil }
        let length = UInt64(littleEndian: n)
        return length <= UInt64(Self.maxHeaderBytes) ? 8 + Int(length) : nil
    }
}
