import CZlib
import Foundation

/// The one place polycom talks to zlib: gzip files (`.jsonl.gz`) to bytes.
enum Gzip {
    /// gzip files start with these two bytes.
    static func isCompressed(_ data: Data) -> Bool { data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B }

    /// Inflates every gzip member of `data` (concatenated members, as `cat a.gz b.gz`, are
    /// one stream to gunzip too).
    static func decompress(_ data: Data) throws -> Data {
        var out = Data()
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header, not a raw zlib one.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw GzipError("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let base = input.bindMemory(to: Bytef.self).baseAddress else { return }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(input.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { buf -> Int32 in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = uInt(buf.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                out.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                switch status {
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return }
                    guard inflateReset(&stream) == Z_OK else { throw GzipError("zlib could not restart") }
                case Z_OK:
                    if stream.avail_in == 0 && stream.avail_out > 0 { throw GzipError("the file ends in the middle of the compressed data") }
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw GzipError("corrupt gzip data (\(reason))")
                }
            }
        }
        return out
    }
}

struct GzipError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
